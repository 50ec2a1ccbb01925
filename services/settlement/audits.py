"""3101 (before the event) and 3102 (during it) on request, and the 3101 check every 2204/2301
upload gets (docs/SUPERVISION.md). Reads only: the visit, its fees and the person's history
from settlement's tables, the person's gender and birth date from eligibility; writes nothing.

3101 checks the item rules; 3102 the item and the visit rules, as a settlement would. Each
finding carries what it would do at settlement: flagged (warn), self_pay (a blocked item) or
refused (a blocked visit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import asyncpg

from services.common.grpcutil import invalid
from services.settlement import checks
from services.settlement.domain import FeeLine, Visit
from services.settlement.ports import EligibilityService, Now
from services.settlement.repository import SettlementRepository
from services.settlement.supervision import Supervisor, action_of, encounter_of
from services.supervision.model import BillItem, Encounter, Finding, Patient, RuleSet

STAGES = ("3101", "3102")


@dataclass(frozen=True, slots=True)
class AuditItem:
    rx_id: str
    med_list_codg: str
    cnt: str
    amount_fen: int
    day: str = ""


@dataclass(frozen=True, slots=True)
class AuditOrder:
    stage: str
    psn_no: str
    mdtrt_id: str = ""
    items: tuple[AuditItem, ...] = ()
    diagnoses: tuple[str, ...] = ()
    gend: str = ""
    brdy: str = ""
    insutype: str = ""
    begin: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class AuditResult:
    findings: tuple[tuple[Finding, str], ...]
    rules_evaluated: int
    failed_rules: tuple[str, ...] = ()


def _date(text: str, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise invalid("BAD_DATE", f"{field} {text!r} 不是日期 yyyy-MM-dd。 / {field} is not a date.", field) from None


def _fee_items(fees: Sequence[FeeLine], default: dt.date) -> tuple[BillItem, ...]:
    out = []
    for f in fees:
        try:
            day = dt.date.fromisoformat(f.fee_ocur_time[:10]) if f.fee_ocur_time else default
        except ValueError:
            day = default
        out.append(BillItem(f.feedetl_sn, f.med_list_codg, f.cnt, f.det_item_fee_sumamt_fen, day, f.name))
    return tuple(out)


def _needs_person(rules: RuleSet, codes: Sequence[str], stage: str) -> bool:
    if stage == "3102" and any(r.kind == "after_death" for r in rules.visit_rules):
        return True
    return any(r.kind in ("gender", "age") for c in codes for r in rules.by_item.get(c, ()))


class Audits:
    def __init__(self, pool: asyncpg.Pool, refs, eligibility: EligibilityService, supervisor: Supervisor,
                 clock: Now) -> None:
        self.pool = pool
        self.repo = SettlementRepository(pool)
        self.refs = refs
        self.eligibility = eligibility
        self.supervisor = supervisor
        self.clock = clock

    async def audit(self, hospital: str, order: AuditOrder) -> AuditResult:
        if order.stage not in STAGES:
            raise invalid("INVALID_INPUT", f"stage {order.stage!r} 应为 3101 或 3102。 / stage must be 3101 or 3102.",
                          "stage")
        if not order.psn_no:
            raise invalid("FIELD_REQUIRED", "缺少参保人标识 patn_id。 / patn_id is required.", "patn_id")
        checks.hospital(self.refs, hospital)
        v: Visit | None = None
        if order.mdtrt_id:
            v = await self.repo.visit(order.mdtrt_id)
            if v is not None:
                v = checks.own_visit(v, hospital, order.mdtrt_id, order.psn_no)
        today = self.clock().date()
        if v is not None:
            encounter = encounter_of(v, order.diagnoses)
            insutype, day, insured_pool = v.insutype, v.begntime.date(), v.insured_pool
        else:
            insutype = order.insutype or "310"
            day = _date(order.begin, "adm_date") or today
            kind = order.kind or "outpatient"
            encounter = Encounter(order.mdtrt_id or "(new)", hospital, kind, day, None,
                                  tuple(d for d in order.diagnoses if d))
            insured_pool = ""
        if order.items:
            items = []
            for i, it in enumerate(order.items):
                try:
                    cnt = Decimal(it.cnt)
                except InvalidOperation:
                    raise invalid("BAD_NUMBER", f"第 {i + 1} 条医嘱数量 cnt {it.cnt!r} 不是数字。 / cnt is not a number.",
                                  f"fsi_order_dtos[{i}].cnt") from None
                items.append(BillItem(it.rx_id, it.med_list_codg, cnt, it.amount_fen,
                                      _date(it.day, f"fsi_order_dtos[{i}].drord_begn_date") or day))
            bill = tuple(items)
        elif v is not None:
            bill = _fee_items([f for f in await self.repo.fees_of_visit(v.mdtrt_id) if f.setl_id is None], day)
        else:
            bill = ()
        # The person's gender, birth date and (for a visit not registered yet) insured pool.
        snap = await self.eligibility.snapshot(order.psn_no, insutype, day)
        insured_pool = insured_pool or snap.insured_pool
        rules = self.supervisor.rules_for(insured_pool, day.year)
        history, death = await self.supervisor.history(self.pool, rules, order.psn_no, encounter.mdtrt_id, day,
                                                       [b.code for b in bill], visit_rules=order.stage == "3102")
        patient = Patient(order.psn_no, snap.gender or order.gend, snap.birth_date or _date(order.brdy, "brdy"), death)
        checked = self.supervisor.check(rules, patient, encounter, bill, history, visit_rules=order.stage == "3102",
                                        stage=order.stage)
        return AuditResult(tuple((f, action_of(f)) for f in checked.findings), len(rules.rules),
                           tuple(c for c, _ in checked.evaluation.failed))

    async def check_upload(self, mdtrt_id: str) -> tuple[tuple[Finding, str], ...]:
        """3101 on a 2204/2301 upload: the item rules over the visit's unsettled fees."""
        v = await self.repo.visit(mdtrt_id)
        if v is None:
            return ()
        day = v.begntime.date()
        rules = self.supervisor.rules_for(v.insured_pool, day.year)
        if not rules.rules:
            return ()
        bill = _fee_items([f for f in await self.repo.fees_of_visit(mdtrt_id) if f.setl_id is None], day)
        codes = [b.code for b in bill]
        if not any(c in rules.by_item for c in codes) and not rules.all_items:
            return ()
        gender, birthdate = "", None
        if _needs_person(rules, codes, "3101"):
            snap = await self.eligibility.snapshot(v.psn_no, v.insutype, day)
            gender, birthdate = snap.gender, snap.birth_date
        history, death = await self.supervisor.history(self.pool, rules, v.psn_no, v.mdtrt_id, day, codes,
                                                       visit_rules=False)
        checked = self.supervisor.check(rules, Patient(v.psn_no, gender, birthdate, death), encounter_of(v), bill,
                                        history, visit_rules=False, stage="3101")
        return tuple((f, action_of(f)) for f in checked.findings)
