"""Step 1: split each fee item by the treatment place's catalogue (就医地目录)."""

from __future__ import annotations

from decimal import Decimal

from .model import Catalogue, FeeItem, ItemResult
from .money import apply_ratio, fen_to_yuan, round_half_up
from .outcomes import Outcome, SettlementRefused

CLASS_A = "01"  # 甲: fully in policy
CLASS_B = "02"  # 乙: in policy after a pre-self-pay share
CLASS_C = "03"  # 丙: entirely the patient's own

_ZERO = Decimal(0)


def split_items(items: tuple[FeeItem, ...], catalogue: Catalogue) -> tuple[ItemResult, ...]:
    """Split every item into full own-pay, over-price-cap, pre-self-pay and in-policy parts."""
    return tuple(_split_one(index, item, catalogue) for index, item in enumerate(items))


def _split_one(index: int, item: FeeItem, catalogue: Catalogue) -> ItemResult:
    _check_amount(index, item)
    amount = item.amount_fen
    entry = catalogue.items.get(item.list_code)
    cls = entry.cls if entry is not None else CLASS_C
    if entry is None or cls not in (CLASS_A, CLASS_B):
        # Not in the treatment place's catalogue, or 丙: the patient pays all of it.
        return ItemResult(
            feedetl_sn=item.feedetl_sn, list_code=item.list_code, amount_fen=amount,
            cnt=item.cnt, pric_fen=item.pric_fen,
            price_cap_fen=entry.price_cap_fen if entry is not None else None,
            selfpay_prop=_ZERO, fulamt_ownpay_fen=amount, overlmt_fen=0, preselfpay_fen=0,
            inscp_fen=0, chrgitm_lv=CLASS_C, in_catalogue=entry is not None,
        )
    # Above the unit price cap (最高限价) the excess is the patient's, item by item.
    overlmt = 0
    cap = entry.price_cap_fen
    if cap is not None and item.pric_fen > cap:
        overlmt = min(amount, round_half_up((item.pric_fen - cap) * item.cnt))
    base = amount - overlmt
    # 乙 items: the patient first pays the catalogue's share of what is left (先行自付).
    preselfpay = apply_ratio(base, entry.selfpay_prop) if cls == CLASS_B else 0
    return ItemResult(
        feedetl_sn=item.feedetl_sn, list_code=item.list_code, amount_fen=amount,
        cnt=item.cnt, pric_fen=item.pric_fen, price_cap_fen=cap,
        selfpay_prop=entry.selfpay_prop if cls == CLASS_B else _ZERO,
        fulamt_ownpay_fen=0, overlmt_fen=overlmt, preselfpay_fen=preselfpay,
        inscp_fen=base - preselfpay, chrgitm_lv=cls, in_catalogue=True,
    )


def _check_amount(index: int, item: FeeItem) -> None:
    """The hospital's line total must be exactly cnt × pric to the fen, else we refuse the item:
    a silent correction would make our split disagree with the hospital's invoice."""
    if not item.cnt.is_finite() or item.cnt < 0 or item.pric_fen < 0:
        raise SettlementRefused(
            Outcome.INVALID_ITEM,
            f"费用明细 {item.feedetl_sn}（{item.list_code}）数量或单价无效：数量 {item.cnt}，"
            f"单价 {fen_to_yuan(item.pric_fen)} 元，请更正后重新上传 (2204/2301)。 / "
            f"Fee item {item.feedetl_sn} ({item.list_code}) has an invalid quantity or price; "
            "correct it and upload the fee details again.",
            f"feedetail[{index}].cnt",
        )
    expected = round_half_up(item.cnt * item.pric_fen)
    if item.amount_fen != expected:
        raise SettlementRefused(
            Outcome.AMOUNT_MISMATCH,
            f"费用明细 {item.feedetl_sn}（{item.list_code} {item.name}）金额 "
            f"{fen_to_yuan(item.amount_fen)} 元不等于 数量 {item.cnt} × 单价 "
            f"{fen_to_yuan(item.pric_fen)} 元 = {fen_to_yuan(expected)} 元，请更正后重新上传。 / "
            f"Fee item {item.feedetl_sn} ({item.list_code}): det_item_fee_sumamt "
            f"{fen_to_yuan(item.amount_fen)} is not cnt × pric = {fen_to_yuan(expected)}; "
            "correct the fee detail and upload it again.",
            f"feedetail[{index}].det_item_fee_sumamt",
        )
