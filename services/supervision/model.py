"""Fund-supervision (基金监管) data contract: rules as data, the bill and history they look at,
and the findings they produce. Plain frozen data, no I/O, no clock (DOMAIN.md §10).

A `RuleSet` is the `supervision` entry of one pool and year in the reference data
(docs/REFERENCE_DATA.md §10), versioned like policies. Rule kinds and their parameters:

| kind | level | parameters |
|---|---|---|
| quantity | item | items, per_day, per_visit, supply_days + daily_dose (days of supply over the person's last supply_days days) |
| gender | item | items, gender ("1" male / "2" female: who may be charged the item) |
| age | item | items, min_age, max_age (whole years on the visit day) |
| diagnosis | item | items, diagnoses (code prefixes; 限定支付范围: outside them the item is the patient's) |
| duplicate | item | items (empty: every item): the same item twice the same day at one hospital |
| overlap | visit | an outpatient visit during an admission elsewhere, or two admissions that overlap |
| readmission | visit | days, same_hospital: an admission within N days of a discharge (分解住院) |
| hospitals_per_day | visit | max_hospitals: more than N hospitals in a day |
| after_death | visit | a visit after the person's death date |
| peer_outlier | after only | metric (cost_per_visit / item_share / diagnosis_rate), factor, min_visits, item / diagnosis |

`block` on an item rule makes the item self-pay (the patient's, 全自费); on a visit rule it
refuses the settlement with the rule's code and message. `warn` settles and flags for review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

ITEM_KINDS = ("quantity", "gender", "age", "diagnosis", "duplicate")
VISIT_KINDS = ("overlap", "readmission", "hospitals_per_day", "after_death")
AFTER_KINDS = ("peer_outlier",)
RULE_KINDS = ITEM_KINDS + VISIT_KINDS + AFTER_KINDS
SEVERITIES = ("warn", "block")
ON_ERROR = ("settle", "refuse")  # a rule that fails to evaluate: settle without it, or refuse the settlement
PEER_METRICS = ("cost_per_visit", "item_share", "diagnosis_rate")

WARN = "warn"
BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Rule:
    code: str  # e.g. "SX-QTY-001": what the HIS sees as rule_id
    kind: str
    severity: str  # warn | block
    message: str  # what the clerk or doctor can do about it
    name: str = ""
    items: frozenset[str] = frozenset()  # catalogue codes; empty: every item (duplicate) / not item-level
    per_day: Decimal | None = None
    per_visit: Decimal | None = None
    supply_days: int | None = None
    daily_dose: Decimal | None = None
    gender: str | None = None
    min_age: int | None = None
    max_age: int | None = None
    diagnoses: tuple[str, ...] = ()
    days: int | None = None
    same_hospital: bool = True
    max_hospitals: int | None = None
    metric: str | None = None
    factor: Decimal | None = None
    min_visits: int | None = None
    item: str | None = None  # peer_outlier item_share: the item
    diagnosis: str | None = None  # peer_outlier diagnosis_rate: the diagnosis prefix


@dataclass(frozen=True, slots=True)
class RuleSet:
    pool: str
    year: int
    rules: tuple[Rule, ...]
    on_error: str = "settle"
    version: int = 0  # assigned by the store
    by_item: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict, compare=False)
    all_items: tuple[Rule, ...] = field(default=(), compare=False)  # item rules with no item list
    visit_rules: tuple[Rule, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, pool: str, year: int, rules: tuple[Rule, ...], on_error: str = "settle",
           version: int = 0) -> RuleSet:
        """A rule set with its lookup indexes built (what the evaluator reads)."""
        by_item: dict[str, list[Rule]] = {}
        all_items, visit = [], []
        for r in rules:
            if r.kind in ITEM_KINDS:
                if r.items:
                    for code in sorted(r.items):
                        by_item.setdefault(code, []).append(r)
                else:
                    all_items.append(r)
            elif r.kind in VISIT_KINDS:
                visit.append(r)
        return cls(pool=pool, year=year, rules=rules, on_error=on_error, version=version,
                   by_item=MappingProxyType({k: tuple(v) for k, v in by_item.items()}),
                   all_items=tuple(all_items), visit_rules=tuple(visit))

    def rule(self, code: str) -> Rule | None:
        return next((r for r in self.rules if r.code == code), None)


EMPTY_RULES = RuleSet.of("", 0, ())


# ----------------------------------------------------------------------------- what is looked at


@dataclass(frozen=True, slots=True)
class BillItem:
    feedetl_sn: str
    code: str  # med_list_codg
    cnt: Decimal
    amount_fen: int
    day: dt.date  # the day the fee occurred (fee_ocur_time's date)
    name: str = ""


@dataclass(frozen=True, slots=True)
class Patient:
    psn_no: str
    gender: str = ""  # "1" male, "2" female, "" unknown
    birthdate: dt.date | None = None
    death_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Encounter:
    """The visit being checked."""

    mdtrt_id: str
    hospital: str
    kind: str  # outpatient | inpatient
    begin: dt.date
    end: dt.date | None  # discharge day of an admission; None while open (and for outpatients)
    diagnoses: tuple[str, ...] = ()  # disease codes (main first)


@dataclass(frozen=True, slots=True)
class PastVisit:
    mdtrt_id: str
    hospital: str
    kind: str
    begin: dt.date
    end: dt.date | None
    settled: bool = True


@dataclass(frozen=True, slots=True)
class PastItem:
    mdtrt_id: str
    hospital: str
    code: str
    cnt: Decimal
    day: dt.date


@dataclass(frozen=True, slots=True)
class History:
    """The person's recent record, from what settlement stores (visits of the last N days, their
    items), read before the booking. The visit being checked is not in it."""

    visits: tuple[PastVisit, ...] = ()
    items: tuple[PastItem, ...] = ()


EMPTY_HISTORY = History()


@dataclass(frozen=True, slots=True)
class Finding:
    rule_code: str
    kind: str
    severity: str
    message: str
    feedetl_sn: str = ""  # "" for a finding on the whole visit
    amount_fen: int = 0  # 违规金额: the item's amount (item rules), the bill's (visit rules)
    evidence: Mapping[str, str] = field(default_factory=dict)
    rule_name: str = ""

    def as_json(self) -> dict:
        return {"rule_code": self.rule_code, "kind": self.kind, "severity": self.severity, "message": self.message,
                "feedetl_sn": self.feedetl_sn, "amount_fen": self.amount_fen, "evidence": dict(self.evidence),
                "rule_name": self.rule_name}

    @classmethod
    def from_json(cls, d: Mapping) -> Finding:
        return cls(rule_code=d["rule_code"], kind=d["kind"], severity=d["severity"], message=d["message"],
                   feedetl_sn=d.get("feedetl_sn", ""), amount_fen=int(d.get("amount_fen", 0)),
                   evidence=dict(d.get("evidence", {})), rule_name=d.get("rule_name", ""))


@dataclass(frozen=True, slots=True)
class Evaluation:
    findings: tuple[Finding, ...]
    failed: tuple[tuple[str, str], ...] = ()  # (rule code, error) of rules that could not be evaluated

    @property
    def blocked_items(self) -> frozenset[str]:
        return frozenset(f.feedetl_sn for f in self.findings if f.severity == BLOCK and f.feedetl_sn)

    @property
    def blocking_visit(self) -> Finding | None:
        return next((f for f in self.findings if f.severity == BLOCK and not f.feedetl_sn), None)
