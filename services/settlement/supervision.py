"""Fund supervision before and during the event (docs/SUPERVISION.md): the glue between the
settlement use cases and the pure rules (services/supervision/rules.py).

- `rules_for` picks the insured pool's rules of the visit's year (reference data, versioned);
- `read_history` reads what the rules need from settlement's own tables, in one round trip,
  before any booking transaction (and only when a rule needs it);
- `check` evaluates, logs and counts a rule that fails, and applies the pool's `on_error`
  (`settle`: go on without it; `refuse`: SUPERVISION_UNAVAILABLE);
- `apply` turns findings into what happens: a blocked item becomes self-pay (Bill.own_pay), a
  blocked visit is refused with SUPERVISION_BLOCKED and the rule's code and message.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.common.grpcutil import Refusal, refused
from services.engine.model import FeeItem
from services.settlement.domain import Visit
from services.settlement.supervision_repository import read_history
from services.supervision.model import (
    AFTER_KINDS,
    BLOCK,
    EMPTY_HISTORY,
    BillItem,
    Encounter,
    Evaluation,
    Finding,
    History,
    Patient,
    RuleSet,
)
from services.supervision.rules import evaluate

log = logging.getLogger(__name__)

FLAGGED, SELF_PAY, REFUSED = "flagged", "self_pay", "refused"


def action_of(f: Finding) -> str:
    if f.severity != BLOCK:
        return FLAGGED
    return SELF_PAY if f.feedetl_sn else REFUSED


@dataclass(frozen=True, slots=True)
class Checked:
    evaluation: Evaluation
    own_pay: Mapping[str, str]  # feedetl_sn -> why (Bill.own_pay)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.evaluation.findings


NO_FINDINGS = Checked(Evaluation(()), {})


def lookback(rules: RuleSet) -> int:
    """Days of history the rules can look at (at least two: a day's other visits, a stay open)."""
    days = 2
    for r in rules.rules:
        days = max(days, (r.supply_days or 0) + 1, (r.days or 0) + 1)
    return days


def history_codes(rules: RuleSet) -> tuple[str, ...] | None:
    """The item codes whose past quantities the rules read; None: every code."""
    codes: set[str] = set()
    for r in rules.rules:
        if r.kind == "duplicate" and not r.items:
            return None
        if r.kind == "duplicate" or (r.kind == "quantity" and (r.per_day is not None or r.supply_days is not None)):
            codes |= r.items
    return tuple(sorted(codes))


def needs_history(rules: RuleSet, codes: Sequence[str], visit_rules: bool = True) -> bool:
    if visit_rules and rules.visit_rules:
        return True
    if rules.all_items:
        return True
    wanted = history_codes(rules)
    return wanted is None or any(c in wanted for c in codes)


def bill_items(fees: Sequence[FeeItem], times: Sequence[str], default: dt.date) -> tuple[BillItem, ...]:
    out = []
    for i, f in enumerate(fees):
        day = _day(times[i]) if i < len(times) else None
        out.append(BillItem(f.feedetl_sn, f.list_code, f.cnt, f.amount_fen, day or default, f.name))
    return tuple(out)


def _day(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def encounter_of(v: Visit, diagnoses: Sequence[str] = ()) -> Encounter:
    dx = tuple(d for d in diagnoses if d) or ((v.dise_codg,) if v.dise_codg else ())
    return Encounter(v.mdtrt_id, v.fixmedins_code, v.kind, v.begntime.date(),
                     v.endtime.date() if v.endtime is not None and v.kind == "inpatient" else None, dx)


class Supervisor:
    """One per settlement process: the rules from the reference cache, failures counted."""

    def __init__(self, refs) -> None:
        self.refs = refs
        self.failures: Counter[str] = Counter()  # rule code -> evaluations that raised
        self.evaluations = 0

    def rules_for(self, pool: str, year: int) -> RuleSet:
        get = getattr(self.refs, "supervision", None)
        return get(pool, year) if get is not None else RuleSet.of(pool, year, ())

    async def history(self, db, rules: RuleSet, psn_no: str, mdtrt_id: str, day: dt.date, codes: Sequence[str],
                      visit_rules: bool = True) -> tuple[History, dt.date | None]:
        if not rules.rules or not needs_history(rules, codes, visit_rules):
            return EMPTY_HISTORY, None
        return await read_history(db, psn_no, mdtrt_id, day - dt.timedelta(days=lookback(rules)), history_codes(rules))

    def check(self, rules: RuleSet, patient: Patient, encounter: Encounter, items: tuple[BillItem, ...],
              history: History, *, visit_rules: bool = True, stage: str = "3102") -> Checked:
        if not rules.rules or all(r.kind in AFTER_KINDS for r in rules.rules):
            return NO_FINDINGS
        self.evaluations += 1
        ev = evaluate(rules, patient, encounter, items, history, visit_rules=visit_rules)
        for code, why in ev.failed:
            self.failures[code] += 1
            log.warning("supervision rule failed to evaluate", extra={
                "rule_code": code, "error": why, "pool": rules.pool, "year": rules.year, "stage": stage,
                "mdtrt_id": encounter.mdtrt_id, "failures": self.failures[code], "on_error": rules.on_error})
        if ev.failed and rules.on_error == "refuse":
            raise Refusal("SUPERVISION_UNAVAILABLE",
                          f"基金监管规则 {', '.join(c for c, _ in ev.failed)} 无法执行，参保地设置为不执行规则不结算，"
                          "请稍后重试或联系医保经办机构。 / A fund-supervision rule could not be evaluated and the "
                          "pool refuses to settle without it; retry later or contact the bureau.")
        own_pay = {f.feedetl_sn: f"{f.rule_code} {f.rule_name or f.kind}：{f.message}" for f in ev.findings
                   if f.severity == BLOCK and f.feedetl_sn}
        return Checked(ev, own_pay)

    @staticmethod
    def refuse_if_blocked(checked: Checked) -> None:
        f = checked.evaluation.blocking_visit
        if f is not None:
            raise refused("SUPERVISION_BLOCKED", f"基金监管规则 {f.rule_code}（{f.rule_name or f.kind}）拒绝结算："
                          f"{f.message} / Refused by fund-supervision rule {f.rule_code}.", "mdtrt_id")
