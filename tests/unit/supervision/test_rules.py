"""The pure supervision evaluator (services/supervision/rules.py): each rule kind on hand-made
bills, and properties over generated bills (hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from infra.reference.make_demo import document
from services.refdata.schema import parse_document
from services.supervision.model import (
    BillItem,
    Encounter,
    History,
    PastItem,
    PastVisit,
    Patient,
    Rule,
    RuleSet,
)
from services.supervision.rules import evaluate

D = dt.date(2030, 3, 10)
H1, H2, H3, H4 = "H33060200001", "H33060200002", "H33060200003", "H33060300001"
NIFE, PARA, PSA, TCT, INSULIN, CONSULT, BED = ("XC08CAA015A001010104563", "XN02BEA001A001010100678", "002503000010000",
                                               "002504000010000", "XA10AEA010B002010100123", "001102000010000",
                                               "001104000010000")
RULES = next(r for r in parse_document(document(D.year)).supervision if r.pool == "330600" and r.year == D.year)
MAN = Patient("P1", "1", dt.date(1960, 5, 1))
WOMAN = Patient("P2", "2", dt.date(1990, 5, 1))


def item(sn, code, cnt="1", day=D, fen=100):
    return BillItem(sn, code, Decimal(cnt), fen, day)


def out(mdtrt="M1", hospital=H1, day=D, dx=()):
    return Encounter(mdtrt, hospital, "outpatient", day, None, tuple(dx))


def codes(ev):
    return sorted((f.rule_code.split("-", 1)[1], f.feedetl_sn, f.severity) for f in ev.findings)


def test_a_clean_bill_has_no_findings():
    ev = evaluate(RULES, MAN, out(), (item("1", CONSULT), item("2", NIFE, "2"), item("3", BED)), History())
    assert ev.findings == () and ev.failed == ()


def test_quantity_per_day_and_days_of_supply_block_the_item():
    ev = evaluate(RULES, MAN, out(), (item("1", NIFE, "6"),), History())
    assert codes(ev) == [("QTY-01", "1", "block")]
    assert ev.findings[0].evidence["quantity"] == "6" and "每日不超过 4 片" in ev.findings[0].message
    # 12 weeks at 2 a day is 168: a refill of 100 on top of 100 two weeks ago is too much
    hist = History(items=(PastItem("M0", H2, NIFE, Decimal(100), D - dt.timedelta(days=14)),))
    ev = evaluate(RULES, MAN, out(), (item("1", NIFE, "4", fen=400), item("2", NIFE, "96", D + dt.timedelta(1))), hist)
    assert ("QTY-01", "2", "block") in codes(ev)
    assert evaluate(RULES, MAN, out(), (item("1", NIFE, "60"),), History()).findings[0].evidence.get("days_supplied") \
        is None  # 60 in one day is the per-day rule's
    assert evaluate(RULES, MAN, out(), (item("1", PARA, "31"),), History()).findings[0].severity == "warn"


def test_gender_age_and_diagnosis():
    assert codes(evaluate(RULES, WOMAN, out(), (item("1", PSA), item("2", TCT)), History())) == [("SEX-01", "1", "block")]
    assert codes(evaluate(RULES, MAN, out(), (item("1", PSA), item("2", TCT)), History())) == [("SEX-02", "2", "block")]
    assert codes(evaluate(RULES, Patient("P3"), out(), (item("1", PSA),), History())) == []  # gender unknown: no claim
    assert codes(evaluate(RULES, MAN, out(), (item("1", INSULIN),), History())) == [("DX-01", "1", "block")]
    assert codes(evaluate(RULES, MAN, out(dx=("E11.900",)), (item("1", INSULIN),), History())) == []
    young = Patient("P4", "1", dt.date(D.year - 20, 1, 1))
    assert codes(evaluate(RULES, young, out(), (item("1", "C14010101001001000004"),), History())) == [
        ("AGE-01", "1", "warn")]


def test_duplicate_same_day_same_hospital():
    ev = evaluate(RULES, MAN, out(), (item("1", CONSULT), item("2", CONSULT)), History())
    assert codes(ev) == [("DUP-01", "2", "warn")]
    hist = History(items=(PastItem("M0", H1, CONSULT, Decimal(1), D),))
    assert codes(evaluate(RULES, MAN, out(), (item("1", CONSULT),), hist)) == [("DUP-01", "1", "warn")]
    other = History(items=(PastItem("M0", H2, CONSULT, Decimal(1), D),))  # another hospital: not a duplicate
    assert codes(evaluate(RULES, MAN, out(), (item("1", CONSULT),), other)) == []


def test_visit_rules():
    stay = PastVisit("A1", H2, "inpatient", D - dt.timedelta(3), None, settled=False)
    ev = evaluate(RULES, MAN, out(), (item("1", CONSULT),), History(visits=(stay,)))
    assert codes(ev) == [("OVL-01", "", "warn")] and ev.findings[0].evidence["other"] == "A1"
    adm = Encounter("A2", H1, "inpatient", D, D + dt.timedelta(5))
    prev = PastVisit("A0", H1, "inpatient", D - dt.timedelta(20), D - dt.timedelta(6))
    assert codes(evaluate(RULES, MAN, adm, (item("1", BED),), History(visits=(prev,)))) == [("READM-01", "", "warn")]
    far = PastVisit("A0", H1, "inpatient", D - dt.timedelta(40), D - dt.timedelta(16))
    assert codes(evaluate(RULES, MAN, adm, (item("1", BED),), History(visits=(far,)))) == []
    three = tuple(PastVisit(f"O{i}", h, "outpatient", D, None) for i, h in enumerate((H2, H3, H4)))
    assert codes(evaluate(RULES, MAN, out(), (item("1", PARA),), History(visits=three))) == [("HOSP-01", "", "warn")]
    assert codes(evaluate(RULES, MAN, out(), (item("1", PARA),), History(visits=three[:2]))) == []
    dead = Patient("P5", "1", dt.date(1950, 1, 1), death_date=D - dt.timedelta(1))
    ev = evaluate(RULES, dead, out(), (item("1", PARA),), History())
    assert codes(ev) == [("DEATH-01", "", "block")] and ev.blocking_visit is not None
    assert evaluate(RULES, dead, out(), (item("1", PARA),), History(), visit_rules=False).findings == ()


def test_a_rule_that_raises_is_reported_and_the_others_still_run():
    broken = Rule("X-1", "quantity", "block", "m", items=frozenset({PARA}), per_day=Decimal(1),
                  supply_days=5, daily_dose=Decimal(1))
    rs = RuleSet.of("330600", D.year, (broken, *RULES.rules))
    bad = BillItem("1", PARA, "not a decimal", 100, D)  # type: ignore[arg-type]
    ev = evaluate(rs, MAN, out(), (bad, item("2", PSA)), History())
    assert [c for c, _ in ev.failed] == ["X-1", "330600-QTY-02"]
    assert codes(evaluate(rs, WOMAN, out(), (bad, item("2", PSA)), History())) == [("SEX-01", "2", "block")]


# ----------------------------------------------------------------------------- properties

CODES = sorted({c for r in RULES.rules for c in r.items} | {BED, "XC10AAA089A001010104327"})
days = st.integers(0, 30).map(lambda n: D - dt.timedelta(days=n))
items_st = st.lists(st.tuples(st.sampled_from(CODES), st.integers(1, 200), days), min_size=1, max_size=30).map(
    lambda xs: tuple(BillItem(str(i), c, Decimal(n), n * 10, d) for i, (c, n, d) in enumerate(xs)))
patients = st.builds(Patient, st.just("P"), st.sampled_from(["", "1", "2"]),
                     st.one_of(st.none(), st.dates(dt.date(1920, 1, 1), D)),
                     st.one_of(st.none(), st.dates(D - dt.timedelta(60), D + dt.timedelta(60))))
visits = st.lists(st.builds(PastVisit, st.text("ABC", min_size=1, max_size=3), st.sampled_from([H1, H2, H3, H4]),
                            st.sampled_from(["outpatient", "inpatient"]), days,
                            st.one_of(st.none(), days), st.booleans()), max_size=8)


@settings(max_examples=300, deadline=None)
@given(items_st, patients, visits, st.sampled_from(["outpatient", "inpatient"]))
def test_properties(items, patient, past, kind):
    enc = Encounter("M1", H1, kind, D - dt.timedelta(30), None if kind == "outpatient" else D, ("I10",))
    hist = History(visits=tuple(past))
    ev = evaluate(RULES, patient, enc, items, hist)
    assert ev.failed == ()
    sns = {it.feedetl_sn: it for it in items}
    for f in ev.findings:
        rule = RULES.rule(f.rule_code)
        assert rule is not None and f.severity == rule.severity and f.message.startswith(rule.message)
        if f.feedetl_sn:  # an item finding names an item of this bill that the rule covers, with its amount
            assert f.feedetl_sn in sns and (not rule.items or sns[f.feedetl_sn].code in rule.items)
            assert f.amount_fen == sns[f.feedetl_sn].amount_fen
        else:
            assert f.amount_fen == sum(it.amount_fen for it in items)
    # deterministic, and the order of the bill does not change which items are found
    assert evaluate(RULES, patient, enc, items, hist) == ev
    again = evaluate(RULES, patient, enc, tuple(reversed(items)), hist)
    assert {(f.rule_code, f.feedetl_sn) for f in again.findings if f.kind not in ("duplicate", "quantity")} == \
        {(f.rule_code, f.feedetl_sn) for f in ev.findings if f.kind not in ("duplicate", "quantity")}
    assert {f.rule_code for f in again.findings} == {f.rule_code for f in ev.findings}
    # items only: a subset of the findings, none on the visit
    only = evaluate(RULES, patient, enc, items, hist, visit_rules=False)
    assert all(f in ev.findings and f.feedetl_sn for f in only.findings)
    # no rules, no findings
    assert evaluate(RuleSet.of("X", D.year, ()), patient, enc, items, hist).findings == ()


@settings(max_examples=200, deadline=None)
@given(items_st)
def test_more_of_an_item_never_clears_a_quantity_finding(items):
    ev = evaluate(RULES, MAN, out(), items, History())
    doubled = tuple(BillItem(it.feedetl_sn, it.code, it.cnt * 2, it.amount_fen * 2, it.day) for it in items)
    more = evaluate(RULES, MAN, out(), doubled, History())
    q = {f.feedetl_sn for f in ev.findings if f.kind == "quantity"}
    assert q <= {f.feedetl_sn for f in more.findings if f.kind == "quantity"}
