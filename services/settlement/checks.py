"""Identity and state checks the settlement use cases share: the hospital is registered, the
person is eligible, the visit exists and is the caller's (and the person's), it is in a state
that allows the call, the hospital's place has a catalogue; engine refusals keep their outcome."""

from __future__ import annotations

from services.common.grpcutil import Refusal, forbidden, invalid, not_found, refused
from services.engine import SettlementRefused
from services.settlement.domain import Eligibility, Visit
from services.settlement.ports import Reference
from services.settlement.repository import SettlementRepository


def engine_refusal(e: SettlementRefused) -> Refusal:
    return Refusal(e.outcome.value, e.message, e.field)  # the catalogue knows each engine outcome's kind


def hospital(refs: Reference, code: str):
    h = refs.hospital(code)
    if h is None:
        raise forbidden("HOSPITAL_NOT_REGISTERED", f"定点医药机构 {code} 未登记，不能办理结算业务。 / Hospital {code} is "
                        "not a registered designated institution.", "fixmedins_code")
    return h


def require_eligible(snap: Eligibility) -> None:
    if not snap.eligible:
        raise refused(snap.ineligible_outcome or "NOT_ELIGIBLE", snap.ineligible_message or
                      "参保人在就诊日无待遇资格。 / Not eligible on the visit date.", "psn_no")


def catalogue_for(refs: Reference, h, insutype: str):
    """The treatment pool of the hospital's place and its catalogue for the insurance type."""
    tpool = refs.pool_for_admdvs(h.admdvs, insutype)
    catalogue = refs.catalogue(tpool.code) if tpool is not None else None
    if tpool is None or catalogue is None:
        raise refused("NO_TREATMENT_POOL", f"医院所在行政区划 {h.admdvs} 没有险种 {insutype} 的统筹区目录，"
                      "不能直接结算。 / The hospital's admdvs belongs to no pool (catalogue) for this insutype.",
                      "fixmedins_code")
    return tpool, catalogue


def visit_not_found(mdtrt_id: str) -> Refusal:
    """The one answer for a visit the caller cannot see: unknown, or another hospital's (which
    must not learn that it exists)."""
    return not_found("VISIT_NOT_FOUND", f"就诊 {mdtrt_id} 不存在，请核对 mdtrt_id。 / Visit {mdtrt_id} not found.",
                     "mdtrt_id")


def settlement_not_found(key: str, field: str = "setl_id") -> Refusal:
    """The one answer for a settlement the caller cannot see: unknown, or another hospital's."""
    return not_found("SETTLEMENT_NOT_FOUND", f"结算 {key} 不存在。 / Settlement {key} not found.", field)


def own_visit(v: Visit | None, code: str, mdtrt_id: str, psn_no: str = "") -> Visit:
    """The caller's visit; another hospital's is answered exactly as an unknown id."""
    if v is None or v.fixmedins_code != code:
        raise visit_not_found(mdtrt_id)
    if psn_no and v.psn_no != psn_no:
        raise invalid("PSN_MISMATCH", f"人员编号 {psn_no} 与就诊 {mdtrt_id} 的参保人不符。 / psn_no does not "
                      "match the visit's person.", "psn_no")
    return v


SETTLED_WAYS = ("", "01")  # by item; "" is a gRPC caller's default


def settlement_way(psn_setlway: str) -> None:
    """Only settlement by item (01). Fixed-quota settlement (02, 按定额结算) would need quotas that
    no policy defines (DOMAIN.md §5: hosp_part_amt = 0 always): refused by name, not settled by
    item behind the caller's back."""
    if psn_setlway not in SETTLED_WAYS:
        raise refused("SETLWAY_UNSUPPORTED", f"个人结算方式 psn_setlway {psn_setlway!r} 暂不支持: 参保地待遇政策未定义"
                      f"定额标准, 请按项目结算 (01)。 / psn_setlway {psn_setlway!r} is not supported: no pool's policy "
                      "defines fixed quotas; settle by item (01).", "psn_setlway")


def require_open(v: Visit, allow_discharged: bool = False) -> None:
    ok = ("open", "discharged") if allow_discharged else ("open",)
    if v.status not in ok:
        raise refused(f"VISIT_{v.status.upper()}", f"就诊 {v.mdtrt_id} 状态为 {v.status}，不能办理此交易。 / "
                      f"The visit is {v.status}; this transaction is not allowed.", "mdtrt_id")


async def refuse_if_interim_settled(repo: SettlementRepository, v: Visit, field: str = "mdtrt_id") -> None:
    """An admission with an interim settlement is still open but must not be cancelled: the
    settlement would stay booked on a cancelled visit."""
    setl_id = await repo.active_settlement_of_visit(v.mdtrt_id)
    if setl_id is not None:
        raise refused("VISIT_SETTLED", f"就诊 {v.mdtrt_id} 有未撤销的（中途）结算 {setl_id}，请先撤销结算 (2305) "
                      f"再撤销登记。 / The visit has a settlement {setl_id} (interim) that is not cancelled; "
                      "cancel it first (2305).", field)
