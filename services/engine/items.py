"""Step 1: split each fee item by the treatment place's catalogue (就医地目录)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from .model import Catalogue, CatalogueItem, FeeItem, ItemResult, fast_builder
from .money import apply_ratio, fen_to_yuan, round_half_up, times_half_up
from .outcomes import Outcome, SettlementRefused

CLASS_A = "01"  # 甲: fully in policy
CLASS_B = "02"  # 乙: in policy after a pre-self-pay share
CLASS_C = "03"  # 丙: entirely the patient's own

_ZERO = Decimal(0)
_COVERED = frozenset({CLASS_A, CLASS_B})

_ItemResult = fast_builder(ItemResult)  # builds an ItemResult, several times faster


def split_items(items: tuple[FeeItem, ...], catalogue: Catalogue) -> tuple[ItemResult, ...]:
    """Split every item into full own-pay, over-price-cap, pre-self-pay and in-policy parts."""
    return split_with_totals(items, catalogue)[0]


def split_with_totals(items: tuple[FeeItem, ...], catalogue: Catalogue, own_pay: Mapping[str, str] | None = None
                      ) -> tuple[tuple[ItemResult, ...], int, int, int, int]:
    """split_items, plus the visit totals of the four parts (fulamt_ownpay, overlmt_selfpay,
    preselfpay, inscp_scp), summed in the same pass. Items named in `own_pay` (blocked by a
    fund-supervision rule) are the patient's entirely, like an item outside the catalogue."""
    entries = catalogue.items
    results = []
    fulamt = overlmt = preselfpay = inscp = 0
    for index, item in enumerate(items):
        result = _split_one(index, item, entries)
        if own_pay and item.feedetl_sn in own_pay:
            result = _ItemResult(item.feedetl_sn, item.list_code, item.amount_fen, item.cnt, item.pric_fen,
                                 result.price_cap_fen, _ZERO, item.amount_fen, 0, 0, 0, CLASS_C, result.in_catalogue)
        results.append(result)
        fulamt += result.fulamt_ownpay_fen
        overlmt += result.overlmt_fen
        preselfpay += result.preselfpay_fen
        inscp += result.inscp_fen
    return tuple(results), fulamt, overlmt, preselfpay, inscp


def _split_one(index: int, item: FeeItem, entries: Mapping[str, CatalogueItem]) -> ItemResult:
    amount = item.amount_fen
    cnt = item.cnt
    pric = item.pric_fen
    # The hospital's line total must be exactly cnt × pric to the fen, else we refuse the item:
    # a silent correction would make our split disagree with the hospital's invoice.
    if not cnt.is_finite() or cnt < 0 or pric < 0 or amount != times_half_up(pric, cnt):
        _refuse_amount(index, item)
    entry = entries.get(item.list_code)
    if entry is None or entry.cls not in _COVERED:
        # Not in the treatment place's catalogue, or 丙: the patient pays all of it.
        # (ItemResult fields, in order: feedetl_sn, list_code, amount_fen, cnt, pric_fen,
        # price_cap_fen, selfpay_prop, fulamt_ownpay_fen, overlmt_fen, preselfpay_fen,
        # inscp_fen, chrgitm_lv, in_catalogue.)
        return _ItemResult(item.feedetl_sn, item.list_code, amount, cnt, pric,
                           None if entry is None else entry.price_cap_fen, _ZERO,
                           amount, 0, 0, 0, CLASS_C, entry is not None)
    # Above the unit price cap (最高限价) the excess is the patient's, item by item.
    overlmt = 0
    cap = entry.price_cap_fen
    if cap is not None and pric > cap:
        overlmt = min(amount, times_half_up(pric - cap, cnt))
    base = amount - overlmt
    # 乙 items: the patient first pays the catalogue's share of what is left (先行自付).
    if entry.cls == CLASS_B:
        prop = entry.selfpay_prop
        preselfpay = apply_ratio(base, prop)
    else:
        prop = _ZERO
        preselfpay = 0
    return _ItemResult(item.feedetl_sn, item.list_code, amount, cnt, pric, cap, prop,
                       0, overlmt, preselfpay, base - preselfpay, entry.cls, True)


def _refuse_amount(index: int, item: FeeItem) -> None:
    """Say which item is wrong and how, so the clerk can correct that one fee detail."""
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
