"""After the event (事后, DOMAIN.md §10): patterns over committed settlements, and hospital
outliers against their peers (same pool, level and kind of visit). Pure: plain data in (settlements
with their visits, the rules per pool and year, the findings recorded at settlement), alerts out;
the caller reads and stores.

Per person (with the parameters of the insured pool's rules of that year):
- `many_hospitals` — settlements at more than `max_hospitals` hospitals in one day (hospitals_per_day);
- `overlap` — two admissions whose stays overlap, or an outpatient settlement at another
  hospital during an admission (overlap);
- `readmission` — an admission beginning within `days` of a settled discharge (readmission);
- `after_death` — a settlement for a visit after the registered death (after_death), also when
  the death was registered after the settlement.
Per hospital (peer_outlier rules of the hospital's pool): its cost per visit, share of visits
with an item, or rate of a diagnosis above `factor` × the median of the other hospitals of the
same level and pool that have at least `min_visits` settlements in the window.
Every finding a settlement recorded (3102) becomes an alert too (`finding`).

Each alert carries a dedup key: a second run over the same window raises nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

from services.supervision.model import Rule, RuleSet


@dataclass(frozen=True, slots=True)
class Settled:
    setl_id: str
    psn_no: str
    hospital: str
    insured_pool: str
    treatment_pool: str
    kind: str  # outpatient | inpatient
    begin: dt.date
    end: dt.date | None
    setl_date: dt.date
    medfee_fen: int
    fund_fen: int
    diagnosis: str = ""
    codes: frozenset[str] = frozenset()
    death_date: dt.date | None = None
    level: int = 0  # the hospital's level (1..3), 0 unknown


@dataclass(frozen=True, slots=True)
class RecordedFinding:
    setl_id: str
    psn_no: str
    hospital: str
    insured_pool: str
    rule_code: str
    rule_name: str
    kind: str
    severity: str
    action: str
    feedetl_sn: str
    amount_fen: int
    message: str


@dataclass(frozen=True, slots=True)
class Alert:
    pattern: str
    rule_code: str
    severity: str
    summary: str
    dedup_key: str
    psn_no: str = ""
    hospital: str = ""
    insured_pool: str = ""
    setl_ids: tuple[str, ...] = ()
    amount_fen: int = 0
    evidence: Mapping[str, object] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        return "AL" + hashlib.sha1(self.dedup_key.encode()).hexdigest()[:18].upper()


RulesFor = Callable[[str, int], RuleSet]


def _rule(rules: RuleSet, kind: str) -> Rule | None:
    return next((r for r in rules.rules if r.kind == kind), None)


def _y(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def analyse(settled: Sequence[Settled], rules_for: RulesFor, since: dt.date,
            findings: Iterable[RecordedFinding] = ()) -> list[Alert]:
    """Every alert about settlements of `since` or later (earlier ones are context only)."""
    out: list[Alert] = []
    by_person: dict[str, list[Settled]] = defaultdict(list)
    for s in settled:
        by_person[s.psn_no].append(s)
    for psn, rows in by_person.items():
        rows.sort(key=lambda s: (s.begin, s.setl_id))
        out.extend(_person(psn, rows, rules_for, since))
    out.extend(_peers(settled, rules_for, since))
    # A finding of a rule whose pattern is already raised on that settlement adds nothing.
    covered = {(sid, a.rule_code) for a in out for sid in a.setl_ids}
    for f in findings:
        if (f.setl_id, f.rule_code) in covered:
            continue
        out.append(Alert(
            pattern=f"finding:{f.kind}", rule_code=f.rule_code, severity=f.severity,
            summary=f"{f.rule_code} {f.rule_name}：{f.message}", dedup_key=f"finding:{f.setl_id}:{f.rule_code}:{f.feedetl_sn}",
            psn_no=f.psn_no, hospital=f.hospital, insured_pool=f.insured_pool, setl_ids=(f.setl_id,),
            amount_fen=f.amount_fen,
            evidence={"feedetl_sn": f.feedetl_sn, "action": f.action, "stage": "3102"}))
    return out


def _person(psn: str, rows: list[Settled], rules_for: RulesFor, since: dt.date) -> list[Alert]:
    out: list[Alert] = []
    recent = [s for s in rows if s.setl_date >= since]
    if not recent:
        return out
    rules = {s.setl_id: rules_for(s.insured_pool, s.begin.year) for s in rows}

    # many hospitals a day
    by_day: dict[dt.date, list[Settled]] = defaultdict(list)
    for s in rows:
        if s.kind == "outpatient":
            by_day[s.begin].append(s)
    for day, ss in by_day.items():
        rule = _rule(rules[ss[0].setl_id], "hospitals_per_day")
        hospitals = sorted({s.hospital for s in ss})
        if rule is None or rule.max_hospitals is None or len(hospitals) <= rule.max_hospitals:
            continue
        if not any(s.setl_date >= since for s in ss):
            continue
        out.append(Alert("many_hospitals", rule.code, rule.severity,
                         f"{day.isoformat()} 在 {len(hospitals)} 家机构结算（上限 {rule.max_hospitals}）：{rule.message}",
                         f"hospitals:{psn}:{day.isoformat()}", psn, "", ss[0].insured_pool,
                         tuple(s.setl_id for s in ss), sum(s.fund_fen for s in ss),
                         {"day": day.isoformat(), "hospitals": hospitals}))

    stays = [s for s in rows if s.kind == "inpatient"]
    # overlapping stays, and outpatient settlements during a stay elsewhere
    for i, a in enumerate(stays):
        rule = _rule(rules[a.setl_id], "overlap")
        if rule is None:
            continue
        a_end = a.end or a.begin
        for b in stays[i + 1:]:
            b_end = b.end or b.begin
            if b.begin < a_end and a.begin < b_end and (a.setl_date >= since or b.setl_date >= since):
                out.append(Alert("overlap", rule.code, rule.severity,
                                 f"住院 {a.begin}–{a_end}（{a.hospital}）与 {b.begin}–{b_end}（{b.hospital}）重叠："
                                 f"{rule.message}",
                                 f"overlap:{a.setl_id}:{b.setl_id}", psn, b.hospital, b.insured_pool,
                                 (a.setl_id, b.setl_id), b.fund_fen,
                                 {"first": [a.hospital, a.begin.isoformat(), a_end.isoformat()],
                                  "second": [b.hospital, b.begin.isoformat(), b_end.isoformat()]}))
        for o in rows:
            if o.kind == "outpatient" and o.hospital != a.hospital and a.begin < o.begin < a_end \
                    and (o.setl_date >= since or a.setl_date >= since):
                out.append(Alert("overlap", rule.code, rule.severity,
                                 f"{o.begin} 在 {o.hospital} 门诊结算时正在 {a.hospital} 住院（{a.begin}–{a_end}）："
                                 f"{rule.message}", f"overlap:{a.setl_id}:{o.setl_id}", psn, o.hospital,
                                 o.insured_pool, (a.setl_id, o.setl_id), o.fund_fen,
                                 {"stay": [a.hospital, a.begin.isoformat(), a_end.isoformat()],
                                  "outpatient": [o.hospital, o.begin.isoformat()]}))

    # readmission within N days of a discharge
    for i, b in enumerate(stays):
        rule = _rule(rules[b.setl_id], "readmission")
        if rule is None or rule.days is None or b.setl_date < since:
            continue
        for a in reversed(stays[:i]):
            if a.end is None or (rule.same_hospital and a.hospital != b.hospital):
                continue
            gap = (b.begin - a.end).days
            if 0 <= gap <= rule.days:
                out.append(Alert("readmission", rule.code, rule.severity,
                                 f"{a.end} 出院后 {gap} 天于 {b.begin} 再次入院（{b.hospital}，不超过 {rule.days} 天）："
                                 f"{rule.message}", f"readmission:{a.setl_id}:{b.setl_id}", psn, b.hospital,
                                 b.insured_pool, (a.setl_id, b.setl_id), b.fund_fen,
                                 {"discharge": a.end.isoformat(), "admission": b.begin.isoformat(), "gap_days": gap}))
                break

    # settlement after death
    for s in recent:
        if s.death_date is None or s.begin <= s.death_date:
            continue
        rule = _rule(rules[s.setl_id], "after_death")
        if rule is None:
            continue
        out.append(Alert("after_death", rule.code, rule.severity,
                         f"参保人 {s.death_date} 死亡，{s.begin} 仍在 {s.hospital} 结算 {_y(s.fund_fen)} 元基金：{rule.message}",
                         f"after_death:{s.setl_id}", psn, s.hospital, s.insured_pool, (s.setl_id,), s.fund_fen,
                         {"death_date": s.death_date.isoformat(), "visit": s.begin.isoformat()}))
    return out


def _metric(rule: Rule, rows: Sequence[Settled]) -> Decimal:
    n = len(rows)
    if rule.metric == "cost_per_visit":
        return Decimal(sum(s.medfee_fen for s in rows)) / n
    if rule.metric == "item_share":
        return Decimal(sum(1 for s in rows if rule.item in s.codes)) / n
    prefix = rule.diagnosis or ""
    return Decimal(sum(1 for s in rows if s.diagnosis.startswith(prefix))) / n


def _peers(settled: Sequence[Settled], rules_for: RulesFor, since: dt.date) -> list[Alert]:
    out: list[Alert] = []
    # Peers: the same pool, level and kind of visit (an outpatient bill is not compared with a stay).
    groups: dict[tuple[str, int, int, str], dict[str, list[Settled]]] = defaultdict(lambda: defaultdict(list))
    for s in settled:
        if s.setl_date >= since:
            groups[(s.treatment_pool, s.level, s.setl_date.year, s.kind)][s.hospital].append(s)
    for (pool, level, year, kind), by_hospital in groups.items():
        rules = [r for r in rules_for(pool, year).rules if r.kind == "peer_outlier"]
        for rule in rules:
            least = rule.min_visits or 1
            values = {h: _metric(rule, rows) for h, rows in by_hospital.items() if len(rows) >= least}
            if len(values) < 3:
                continue  # no peer group to speak of
            factor = rule.factor or Decimal(2)
            for h, v in values.items():
                peers = [x for k, x in values.items() if k != h]
                mid = Decimal(median(peers))
                if mid > 0 and v > factor * mid:
                    shown = _y(int(v)) + " 元" if rule.metric == "cost_per_visit" else f"{v:.1%}"
                    peer = _y(int(mid)) + " 元" if rule.metric == "cost_per_visit" else f"{mid:.1%}"
                    rows = by_hospital[h]
                    out.append(Alert("peer_outlier", rule.code, rule.severity,
                                     f"{h}（{level} 级，{pool}，{kind}）{rule.metric} {shown}，同级同统筹区中位数 {peer}："
                                     f"{rule.message}", f"peer:{rule.code}:{h}:{kind}:{since.isoformat()}", "", h, pool,
                                     tuple(s.setl_id for s in rows[:50]), sum(s.fund_fen for s in rows),
                                     {"metric": rule.metric, "value": str(v.quantize(Decimal("0.0001"))),
                                      "peer_median": str(mid.quantize(Decimal("0.0001"))), "factor": str(factor),
                                      "visits": len(rows), "peers": len(peers), "level": level, "kind": kind}))
    return out
