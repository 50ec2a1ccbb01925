"""The after-the-fact analysis (services/supervision/after.py) on hand-made settlements."""

from __future__ import annotations

import datetime as dt

from infra.reference.make_demo import document
from services.refdata.schema import parse_document
from services.supervision.after import RecordedFinding, Settled, analyse
from services.supervision.model import RuleSet

D = dt.date(2031, 4, 20)
RULES = {(r.pool, r.year): r for r in parse_document(document(D.year)).supervision}


def rules_for(pool: str, year: int) -> RuleSet:
    return RULES.get((pool, year), RuleSet.of(pool, year, ()))


def s(sid, psn="P1", h="H33060200001", kind="outpatient", begin=D, end=None, fee=10_000, level=3, codes=(),
      death=None) -> Settled:
    return Settled(sid, psn, h, "330600", "330600", kind, begin, end, end or begin, fee, fee // 2,
                   codes=frozenset(codes), death_date=death, level=level)


def patterns(alerts):
    return sorted((a.pattern, a.setl_ids) for a in alerts)


def test_per_person_patterns():
    day = [s(f"S{i}", h=f"H3306020000{i}") for i in range(1, 5)]
    assert patterns(analyse(day, rules_for, D)) == [("many_hospitals", ("S1", "S2", "S3", "S4"))]
    assert analyse(day[:3], rules_for, D) == []  # three hospitals a day is the limit, not above it
    a = s("A", kind="inpatient", begin=D - dt.timedelta(10), end=D - dt.timedelta(5))
    b = s("B", kind="inpatient", begin=D - dt.timedelta(2), end=D + dt.timedelta(3))
    assert patterns(analyse([a, b], rules_for, D - dt.timedelta(10))) == [("readmission", ("A", "B"))]
    c = s("C", h="H33060300001", kind="inpatient", begin=D - dt.timedelta(7), end=D - dt.timedelta(1))
    o = s("O", h="H33060200002", begin=D - dt.timedelta(4))
    got = patterns(analyse([a, c, o], rules_for, D - dt.timedelta(10)))
    assert got == [("overlap", ("A", "C")), ("overlap", ("C", "O"))]
    dead = s("X", death=D - dt.timedelta(1))
    alerts = analyse([dead, s("Y", psn="P2", death=D)], rules_for, D)
    assert patterns(alerts) == [("after_death", ("X",))] and alerts[0].rule_code == "330600-DEATH-01"
    assert analyse([dead], rules_for, D + dt.timedelta(1)) == []  # before the window: context only


def test_peer_outliers_by_level_and_pool():
    rows = [s(f"{h}-{i}", psn=f"{h}{i}", h=h, fee=10_000 + i) for h in ("H33060200001", "H33060200002", "H65010200001")
            for i in range(25)]
    rows += [s(f"PAD-{i}", psn=f"pad{i}", h="H33060300001", fee=30_000) for i in range(25)]
    alerts = [a for a in analyse(rows, rules_for, D) if a.pattern == "peer_outlier"]
    assert [(a.hospital, a.rule_code) for a in alerts] == [("H33060300001", "330600-PEER-01")]
    assert alerts[0].evidence["peers"] == 3
    # another level is another peer group: alone it has no peers
    other = rows[:-25] + [s(f"PAD-{i}", psn=f"pad{i}", h="H33060300001", fee=30_000, level=2) for i in range(25)]
    assert [a for a in analyse(other, rules_for, D) if a.pattern == "peer_outlier"] == []


def test_recorded_findings_become_alerts_once_and_the_dedup_keys_are_stable():
    f = RecordedFinding("S1", "P1", "H33060200001", "330600", "330600-QTY-02", "x", "quantity", "warn", "flagged",
                        "F2", 2000, "m")
    alerts = analyse([s("S1")], rules_for, D, [f])
    assert patterns(alerts) == [("finding:quantity", ("S1",))]
    assert alerts[0].alert_id == analyse([s("S1")], rules_for, D, [f])[0].alert_id
    # a finding of a rule whose pattern the batch raised on the same settlement adds nothing
    dead = s("S1", death=D - dt.timedelta(1))
    g = RecordedFinding("S1", "P1", "H33060200001", "330600", "330600-DEATH-01", "x", "after_death", "warn",
                        "flagged", "", 2000, "m")
    assert patterns(analyse([dead], rules_for, D, [g])) == [("after_death", ("S1",))]
