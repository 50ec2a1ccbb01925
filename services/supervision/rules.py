"""Fund-supervision rules, evaluated: bill + the person's history + the pool's rules -> findings.

Pure (DOMAIN.md §10, DESIGN.md): plain data in, plain data out; no I/O, no clock — the visit's
dates come in the data. Used before the event (3101, and on every 2204/2301 upload), during it
(3102, at 2206/2207 and 2303/2304) and by the after-the-fact batch (services/supervision/after.py
re-runs the visit rules over committed settlements).

A rule that raises while it is evaluated does not stop the others: it is reported in
`Evaluation.failed`, and the caller logs and counts it and applies the pool's `on_error`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from services.supervision.model import (
    BLOCK,
    Encounter,
    Evaluation,
    Finding,
    History,
    Patient,
    Rule,
    RuleSet,
)

_ZERO = Decimal(0)


def evaluate(rules: RuleSet, patient: Patient, encounter: Encounter, items: tuple, history: History,
             *, visit_rules: bool = True) -> Evaluation:
    """Every finding of `rules` on this bill. `items` are model.BillItem. `visit_rules=False`
    checks the items only (3101 on an upload: the visit-level rules belong to 3102)."""
    findings: list[Finding] = []
    failed: list[tuple[str, str]] = []
    by_item = rules.by_item
    general = rules.all_items
    # Which rules apply to this bill's items (each evaluated once over all its items).
    applicable: dict[str, Rule] = {}
    if by_item:
        for it in items:
            rs = by_item.get(it.code)
            if rs is not None:
                for r in rs:
                    applicable[r.code] = r
    for r in general:
        applicable[r.code] = r
    for r in applicable.values():
        try:
            _ITEM_CHECKS[r.kind](r, patient, encounter, items, history, findings)
        except Exception as e:  # noqa: BLE001 - reported to the caller, who logs, counts and decides
            failed.append((r.code, f"{type(e).__name__}: {e}"))
    if visit_rules:
        for r in rules.visit_rules:
            try:
                _VISIT_CHECKS[r.kind](r, patient, encounter, items, history, findings)
            except Exception as e:  # noqa: BLE001
                failed.append((r.code, f"{type(e).__name__}: {e}"))
    return Evaluation(tuple(findings), tuple(failed))


# ----------------------------------------------------------------------------- item rules


def _mine(rule: Rule, items: Iterable) -> list:
    codes = rule.items
    return [it for it in items if it.code in codes] if codes else list(items)


def _item_finding(rule: Rule, it, why: str, **evidence: str) -> Finding:
    ev = {"item": it.code, "why": why}
    ev.update(evidence)
    return Finding(rule.code, rule.kind, rule.severity, f"{rule.message}（{why}）", it.feedetl_sn, it.amount_fen,
                   ev, rule.name)


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f") if d == d.to_integral() else format(d, "f")


def _quantity(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    mine = _mine(rule, items)
    flagged: set[str] = set()
    if rule.per_day is not None:
        per_day: dict[tuple[str, dt.date], Decimal] = {}
        for p in history.items:
            if p.code in rule.items and p.mdtrt_id != enc.mdtrt_id:
                key = (p.code, p.day)
                per_day[key] = per_day.get(key, _ZERO) + p.cnt
        for it in mine:
            key = (it.code, it.day)
            per_day[key] = per_day.get(key, _ZERO) + it.cnt
        for it in mine:
            total = per_day[(it.code, it.day)]
            if total > rule.per_day and it.feedetl_sn not in flagged:
                flagged.add(it.feedetl_sn)
                out.append(_item_finding(rule, it, f"{it.day.isoformat()} 当日数量 {_num(total)} 超过每日上限 "
                                         f"{_num(rule.per_day)}", day=it.day.isoformat(), quantity=_num(total),
                                         limit=_num(rule.per_day)))
    if rule.per_visit is not None:
        per_code: dict[str, Decimal] = {}
        for it in mine:
            per_code[it.code] = per_code.get(it.code, _ZERO) + it.cnt
        for it in mine:
            total = per_code[it.code]
            if total > rule.per_visit and it.feedetl_sn not in flagged:
                flagged.add(it.feedetl_sn)
                out.append(_item_finding(rule, it, f"本次就诊数量 {_num(total)} 超过每次上限 {_num(rule.per_visit)}",
                                         quantity=_num(total), limit=_num(rule.per_visit)))
    if rule.supply_days is not None and rule.daily_dose is not None and rule.daily_dose > 0:
        window = rule.supply_days
        for it in mine:
            if it.feedetl_sn in flagged:
                continue
            since = it.day - dt.timedelta(days=window - 1)
            before = sum((p.cnt for p in history.items
                          if p.code == it.code and p.mdtrt_id != enc.mdtrt_id and since <= p.day <= it.day), _ZERO)
            here = sum((o.cnt for o in mine if o.code == it.code), _ZERO)
            days = (before + here) / rule.daily_dose
            if days > window:
                flagged.add(it.feedetl_sn)
                out.append(_item_finding(rule, it, f"近 {window} 天内开药 {_num(before + here)}（约 "
                                         f"{_num(days.quantize(Decimal(1)))} 天用量）超过 {window} 天",
                                         quantity=_num(before + here), supply_days=str(window),
                                         days_supplied=_num(days.quantize(Decimal(1)))))


def _gender(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    if not patient.gender or rule.gender is None or patient.gender == rule.gender:
        return
    who = {"1": "男性", "2": "女性"}.get(rule.gender, rule.gender)
    for it in _mine(rule, items):
        out.append(_item_finding(rule, it, f"限{who}使用，参保人性别代码 {patient.gender}", gender=patient.gender,
                                 allowed=rule.gender))


def age_on(birthdate: dt.date, day: dt.date) -> int:
    return day.year - birthdate.year - ((day.month, day.day) < (birthdate.month, birthdate.day))


def _age(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    if patient.birthdate is None:
        return
    for it in _mine(rule, items):
        age = age_on(patient.birthdate, it.day)
        if (rule.min_age is not None and age < rule.min_age) or (rule.max_age is not None and age > rule.max_age):
            span = f"{rule.min_age if rule.min_age is not None else 0}–{rule.max_age if rule.max_age is not None else '∞'}"
            out.append(_item_finding(rule, it, f"限 {span} 岁使用，参保人 {age} 岁", age=str(age), allowed=span))


def _diagnosis(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    prefixes = rule.diagnoses
    if any(d.startswith(p) for d in enc.diagnoses for p in prefixes):
        return
    have = "、".join(enc.diagnoses) or "无诊断"
    for it in _mine(rule, items):
        out.append(_item_finding(rule, it, f"限 {'、'.join(prefixes)} 诊断支付，本次诊断 {have}",
                                 diagnoses=",".join(enc.diagnoses), allowed=",".join(prefixes)))


def _duplicate(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    seen: dict[tuple[str, dt.date], str] = {}
    for p in history.items:
        if p.hospital == enc.hospital and p.mdtrt_id != enc.mdtrt_id and (not rule.items or p.code in rule.items):
            seen.setdefault((p.code, p.day), f"就诊 {p.mdtrt_id}")
    for it in _mine(rule, items):
        key = (it.code, it.day)
        first = seen.get(key)
        if first is None:
            seen[key] = f"明细 {it.feedetl_sn}"
        else:
            out.append(_item_finding(rule, it, f"{it.day.isoformat()} 同一项目已由{first}收取", day=it.day.isoformat(),
                                     first=first))


# ----------------------------------------------------------------------------- visit rules


def _visit_finding(rule: Rule, items: tuple, why: str, **evidence: str) -> Finding:
    ev = {"why": why}
    ev.update(evidence)
    return Finding(rule.code, rule.kind, rule.severity, f"{rule.message}（{why}）", "",
                   sum(it.amount_fen for it in items), ev, rule.name)


def _overlap(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    for v in history.visits:
        if v.mdtrt_id == enc.mdtrt_id or v.hospital == enc.hospital and v.kind == enc.kind == "outpatient":
            continue
        if enc.kind == "outpatient":
            if v.kind == "inpatient" and v.hospital != enc.hospital and v.begin < enc.begin and \
                    (v.end is None or enc.begin < v.end):
                out.append(_visit_finding(rule, items, f"{enc.begin.isoformat()} 门诊时参保人正在 {v.hospital} 住院"
                                          f"（就诊 {v.mdtrt_id}，{v.begin.isoformat()} 入院）", other=v.mdtrt_id,
                                          other_hospital=v.hospital))
                return
        elif v.kind == "inpatient":
            end = enc.end or enc.begin
            v_end = v.end or dt.date.max
            if v.begin < end and enc.begin < v_end or v.begin == enc.begin:
                out.append(_visit_finding(rule, items, f"与 {v.hospital} 的住院（就诊 {v.mdtrt_id}，"
                                          f"{v.begin.isoformat()}–{v.end.isoformat() if v.end else '在院'}）时间重叠",
                                          other=v.mdtrt_id, other_hospital=v.hospital))
                return
        elif v.kind == "outpatient" and v.hospital != enc.hospital and enc.begin < v.begin and \
                (enc.end is None or v.begin < enc.end):
            out.append(_visit_finding(rule, items, f"住院期间 {v.begin.isoformat()} 在 {v.hospital} 有门诊结算"
                                      f"（就诊 {v.mdtrt_id}）", other=v.mdtrt_id, other_hospital=v.hospital))
            return


def _readmission(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    if enc.kind != "inpatient" or rule.days is None:
        return
    for v in history.visits:
        if v.kind != "inpatient" or v.mdtrt_id == enc.mdtrt_id or v.end is None or not v.settled:
            continue
        if rule.same_hospital and v.hospital != enc.hospital:
            continue
        gap = (enc.begin - v.end).days
        if 0 <= gap <= rule.days:
            out.append(_visit_finding(rule, items, f"距上次出院（{v.hospital}，就诊 {v.mdtrt_id}，"
                                      f"{v.end.isoformat()}）{gap} 天再次入院，不超过 {rule.days} 天",
                                      other=v.mdtrt_id, gap_days=str(gap), limit=str(rule.days)))
            return


def _hospitals_per_day(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History,
                       out: list) -> None:
    if rule.max_hospitals is None:
        return
    day = enc.begin
    hospitals = {enc.hospital}
    for v in history.visits:
        if v.begin == day and v.kind == "outpatient":
            hospitals.add(v.hospital)
    if len(hospitals) > rule.max_hospitals:
        out.append(_visit_finding(rule, items, f"{day.isoformat()} 当日在 {len(hospitals)} 家机构就诊，超过 "
                                  f"{rule.max_hospitals} 家", day=day.isoformat(), hospitals=",".join(sorted(hospitals)),
                                  count=str(len(hospitals))))


def _after_death(rule: Rule, patient: Patient, enc: Encounter, items: tuple, history: History, out: list) -> None:
    death = patient.death_date
    if death is None:
        return
    last = max([enc.begin, *(it.day for it in items)])
    if last > death:
        out.append(_visit_finding(rule, items, f"参保人已于 {death.isoformat()} 死亡，就诊/费用日期 {last.isoformat()}",
                                  death_date=death.isoformat(), visit_day=last.isoformat()))


_ITEM_CHECKS = {"quantity": _quantity, "gender": _gender, "age": _age, "diagnosis": _diagnosis,
                "duplicate": _duplicate}
_VISIT_CHECKS = {"overlap": _overlap, "readmission": _readmission, "hospitals_per_day": _hospitals_per_day,
                 "after_death": _after_death}


def blocked(evaluation: Evaluation) -> tuple[frozenset[str], Finding | None]:
    """(the items a `block` finding turns self-pay, the first blocking visit finding or None)."""
    return evaluation.blocked_items, evaluation.blocking_visit


__all__ = ["BLOCK", "age_on", "blocked", "evaluate"]
