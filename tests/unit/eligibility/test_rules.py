"""Pure eligibility rules: benefit start per enrollment kind, choosing the enrollment for a date,
duplicates, and the GB 11643 check digit the service validates certificate numbers with."""

import datetime as dt

import pytest

from services.common.ids import make_certno, valid_certno
from services.eligibility import rules
from services.eligibility.cache import person_from_json, person_to_json
from services.eligibility.domain import ChronicQualification, Enrollment, Identity, Person

D = dt.date


def start(kind, paid, waiting=90, year=2026):
    return rules.benefit_start(kind=kind, year=year, paid_date=paid, waiting_days=waiting)


def test_paid_in_centralized_period_starts_on_1_january_whatever_the_kind():
    for kind in rules.ENROLLMENT_KINDS:
        assert start(kind, D(2025, 12, 31)) == D(2026, 1, 1)
        assert start(kind, D(2025, 9, 1)) == D(2026, 1, 1)


def test_newborn_low_income_switcher_start_in_the_month_of_enrollment():
    for kind in ("newborn", "low_income", "switcher"):
        assert start(kind, D(2026, 3, 17)) == D(2026, 3, 1)


def test_others_wait_the_pools_waiting_days():
    assert start("other", D(2026, 3, 17), waiting=90) == D(2026, 6, 15)
    assert start("other", D(2026, 3, 17), waiting=0) == D(2026, 3, 17)
    assert start("other", D(2026, 3, 17), waiting=30) == D(2026, 4, 16)


def test_in_period_claimed_after_the_period_is_refused_naming_paid_date():
    with pytest.raises(rules.RuleError) as e:
        start("in_period", D(2026, 2, 1))
    assert e.value.field == "paid_date"


def test_unknown_kind_is_refused_naming_the_field():
    with pytest.raises(rules.RuleError) as e:
        start("vip", D(2026, 2, 1))
    assert e.value.field == "enrollment_kind"


def test_custom_payment_period_end():
    assert rules.benefit_start(kind="other", year=2026, paid_date=D(2026, 2, 28), waiting_days=90,
                               payment_period_end=D(2026, 2, 28)) == D(2026, 1, 1)


def enr(pool="P1", start=D(2026, 1, 1), end=D(2026, 12, 31), status="active", status_from=None, insutype="390"):
    return Enrollment(pool, insutype, 2026, "resident", start, end, status, status_from)


def test_active_enrollment_holding_the_date_is_chosen():
    c = rules.choose_enrollment([enr()], "390", D(2026, 5, 1))
    assert c.eligible and c.enrollment.pool == "P1" and not c.duplicate and c.outcome is None


def test_duplicates_choose_the_earliest_benefit_start_and_are_flagged():
    later = enr("P2", start=D(2026, 1, 1))
    earlier = enr("P9", start=D(2025, 12, 1) + dt.timedelta(days=31))  # 2026-01-01 too: tie → pool order
    c = rules.choose_enrollment([later, earlier], "390", D(2026, 5, 1))
    assert c.duplicate and c.enrollment.pool == "P2"
    a = enr("PB", start=D(2026, 3, 1))
    b = enr("PA", start=D(2026, 2, 1))
    c = rules.choose_enrollment([a, b], "390", D(2026, 5, 1))
    assert c.duplicate and c.enrollment.pool == "PA"
    # Before the second one starts: only one covers the date, still flagged as a duplicate year.
    c = rules.choose_enrollment([a, b], "390", D(2026, 2, 15))
    assert c.enrollment.pool == "PA" and c.duplicate


def test_not_enrolled_for_the_type_or_year():
    c = rules.choose_enrollment([enr(insutype="310")], "390", D(2026, 5, 1))
    assert c.outcome == rules.NOT_ENROLLED and not c.eligible
    c = rules.choose_enrollment([enr()], "390", D(2027, 5, 1))
    assert c.outcome == rules.NOT_ENROLLED


def test_waiting_period_names_the_start_date():
    c = rules.choose_enrollment([enr(start=D(2026, 6, 15))], "390", D(2026, 6, 14))
    assert c.outcome == rules.WAITING_PERIOD and "2026-06-15" in c.message
    assert rules.choose_enrollment([enr(start=D(2026, 6, 15))], "390", D(2026, 6, 15)).eligible


def test_paused_lapsed_terminated_from_a_date():
    for status, outcome in (("paused", rules.PAUSED), ("lapsed", rules.LAPSED), ("terminated", rules.TERMINATED)):
        e = enr(status=status, status_from=D(2026, 7, 1))
        assert rules.choose_enrollment([e], "390", D(2026, 6, 30)).eligible  # the last day still covered
        c = rules.choose_enrollment([e], "390", D(2026, 7, 1))
        assert c.outcome == outcome and "2026-07-01" in c.message
        # without a date the status holds for the whole range
        assert rules.choose_enrollment([enr(status=status)], "390", D(2026, 2, 1)).outcome == outcome


def test_a_person_round_trips_through_the_cache_entry_json():
    p = Person("P1", make_certno("33060219900101123"), "张三", "1", D(1990, 1, 1), None, None, False, 1234,
                   (enr(status="paused", status_from=D(2026, 7, 1)),),
                   (Identity("dibao", D(2026, 1, 1), None, "", "reference"),),
                   (ChronicQualification(7, "M03900", D(2026, 1, 1), D(2026, 12, 31), "H33060200001", "grant"),))
    assert person_from_json(person_to_json(p)) == p


def test_age_on():
    assert rules.age_on(D(1990, 6, 15), D(2026, 6, 14)) == 35
    assert rules.age_on(D(1990, 6, 15), D(2026, 6, 15)) == 36


@pytest.mark.parametrize("certno,ok", [
    ("11010519491231002X", True),   # the standard's published example
    ("110105194912310021", False),  # wrong check character
    ("11010519491231002x", False),  # lower-case x is not accepted
    ("1101051949123100", False),    # too short
    ("A1010519491231002X", False),
])
def test_gb11643_check_digit(certno, ok):
    assert valid_certno(certno) is ok


def test_make_certno_round_trips():
    for head in ("33060219900101123", "65010220000229456", "43010119851231999"):
        assert valid_certno(make_certno(head))
