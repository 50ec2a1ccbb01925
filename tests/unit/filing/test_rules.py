"""Filing rules (pure): groups, validity, the 6-month rule, destination matching, precedence,
region class for city, province-level, union and region-level pools."""

from __future__ import annotations

import datetime as dt

import pytest

from services.engine.model import Pool
from services.filing import rules
from services.filing.domain import Filing, FilingRefused

D = dt.date

SHAOXING = Pool("330600", "绍兴市", ("310", "390"), frozenset({"330600", "330602", "330603", "330681"}))
HANGZHOU = Pool("330100", "杭州市", ("310", "390"), frozenset({"330100", "330102", "330106"}))
CZT = Pool("43CZT", "长株潭", ("310", "390"), frozenset({"430100", "430102", "430200", "430202", "430300", "430302"}))
XINJIANG = Pool("650000", "新疆区级统筹", ("390",), frozenset({"650000", "650100", "650102", "650200", "650202"}))
URUMQI = Pool("650100", "乌鲁木齐市", ("310",), frozenset({"650100", "650102"}))


def filing(fid="F1", group="temporary", type_=None, destination="33", begin=D(2026, 1, 1), end=D(2026, 12, 31),
           status="active", filed_on=None) -> Filing:
    type_ = type_ or {"temporary": "temporary", "referral": "referral", "long_term": "retired_relocated"}[group]
    return Filing(filing_id=fid, psn_no="P1", insutype="390", insured_pool="650000", type=type_, group=group,
                  destination=destination, begin=begin, end=None if group == "long_term" else end,
                  status=status, source="his", filed_on=filed_on or begin)


# ----------------------------------------------------------------------------- groups


@pytest.mark.parametrize("type_, group", [
    ("retired_relocated", "long_term"), ("long_term_residence", "long_term"), ("stationed_work", "long_term"),
    ("referral", "referral"), ("temporary", "temporary"),
])
def test_each_filing_type_maps_to_its_group(type_, group):
    assert rules.group_of(type_) == group


def test_unknown_type_is_refused_naming_the_field():
    with pytest.raises(FilingRefused) as e:
        rules.group_of("holiday")
    assert (e.value.kind, e.value.outcome, e.value.field) == ("invalid", "UNKNOWN_FILING_TYPE", "filing.type")
    assert "备案类型" in e.value.message and "Unknown filing type" in e.value.message


def test_emergency_needs_no_filing_record():
    with pytest.raises(FilingRefused) as e:
        rules.group_of("emergency")
    assert e.value.outcome == "EMERGENCY_NEEDS_NO_FILING"


# ----------------------------------------------------------------------------- destinations


@pytest.mark.parametrize("destination, prefix", [
    ("33", "33"), ("330000", "33"), ("330600", "3306"), ("330602", "330602"), ("650000", "65"), ("430200", "4302"),
])
def test_destination_prefix_drops_trailing_zero_pairs(destination, prefix):
    assert rules.dest_prefix(destination) == prefix


@pytest.mark.parametrize("bad", ["", "3", "330", "3306", "33060a", "000000", "00", "3306021"])
def test_bad_destination_is_refused(bad):
    with pytest.raises(FilingRefused) as e:
        rules.dest_prefix(bad)
    assert (e.value.outcome, e.value.field) == ("BAD_DESTINATION", "filing.destination")


@pytest.mark.parametrize("destination, admdvs, matches", [
    ("33", "330602", True), ("330000", "330106", True), ("33", "320102", False),
    ("330600", "330602", True), ("330600", "330681", True), ("330600", "330106", False),
    ("330602", "330602", True), ("330602", "330603", False),
    ("430200", "430202", True), ("430200", "430102", False),
])
def test_destination_matches_province_city_and_division(destination, admdvs, matches):
    assert rules.destination_matches(destination, admdvs) is matches


def test_destination_inside_own_pool_is_detected():
    assert rules.destination_inside_pool("330602", SHAOXING)
    assert rules.destination_inside_pool("330600", SHAOXING)
    assert not rules.destination_inside_pool("33", SHAOXING)  # the whole province reaches beyond 绍兴
    assert not rules.destination_inside_pool("330100", SHAOXING)
    assert rules.destination_inside_pool("430200", CZT)  # 株洲 is 长株潭's own
    assert not rules.destination_inside_pool("43", CZT)
    assert rules.destination_inside_pool("65", XINJIANG)  # region-level pool: all of 65 is its own
    assert rules.destination_inside_pool("650000", XINJIANG)
    assert not rules.destination_inside_pool("650200", URUMQI)  # 克拉玛依 is outside 乌鲁木齐's pool
    assert not rules.destination_inside_pool("65", URUMQI)


def test_destination_known_by_province():
    known = SHAOXING.admdvs | XINJIANG.admdvs
    assert rules.destination_known("33", known) and rules.destination_known("330100", known)
    assert rules.destination_known("652900", known)
    assert not rules.destination_known("44", known)


# ----------------------------------------------------------------------------- validity


def test_long_term_is_open_ended():
    assert rules.check_validity("retired_relocated", D(2026, 1, 1), None, 180) == "long_term"
    with pytest.raises(FilingRefused) as e:
        rules.check_validity("stationed_work", D(2026, 1, 1), D(2027, 1, 1), 180)
    assert (e.value.outcome, e.value.field) == ("LONG_TERM_HAS_END", "filing.end")


def test_temporary_needs_at_least_the_pools_minimum_counting_both_ends():
    # 2026-03-01..2026-08-27 is 180 days inclusive: exactly the minimum.
    assert rules.check_validity("temporary", D(2026, 3, 1), D(2026, 8, 27), 180) == "temporary"
    with pytest.raises(FilingRefused) as e:
        rules.check_validity("temporary", D(2026, 3, 1), D(2026, 8, 26), 180)
    assert (e.value.outcome, e.value.field) == ("FILING_TOO_SHORT", "filing.end")
    assert "180" in e.value.message and "179" in e.value.message
    # The minimum is the pool's data: a pool allowing 90 days accepts the same filing.
    assert rules.check_validity("referral", D(2026, 3, 1), D(2026, 5, 29), 90) == "referral"


def test_end_before_begin_and_missing_end_are_refused():
    with pytest.raises(FilingRefused) as e:
        rules.check_validity("referral", D(2026, 3, 1), D(2026, 2, 1), 180)
    assert e.value.outcome == "END_BEFORE_BEGIN"
    with pytest.raises(FilingRefused) as e:
        rules.check_validity("referral", D(2026, 3, 1), None, 180)
    assert e.value.outcome == "END_REQUIRED"


def test_add_months_clamps_to_month_end():
    assert rules.add_months(D(2026, 8, 31), 6) == D(2027, 2, 28)
    assert rules.add_months(D(2026, 1, 15), 6) == D(2026, 7, 15)
    assert rules.add_months(D(2027, 8, 31), 6) == D(2028, 2, 29)


def test_long_term_cannot_change_within_six_months():
    f = filing(group="long_term", filed_on=D(2026, 1, 15))
    with pytest.raises(FilingRefused) as e:
        rules.check_change_allowed(f, D(2026, 7, 14))
    assert (e.value.outcome, e.value.kind) == ("CHANGE_TOO_SOON", "refused")
    assert "2026-07-15" in e.value.message
    rules.check_change_allowed(f, D(2026, 7, 15))  # exactly six months later: allowed


def test_temporary_filing_may_change_any_time_but_not_when_inactive():
    rules.check_change_allowed(filing(group="temporary", filed_on=D(2026, 1, 1)), D(2026, 1, 2))
    with pytest.raises(FilingRefused) as e:
        rules.check_change_allowed(filing(status="revoked"), D(2026, 6, 1))
    assert e.value.outcome == "FILING_NOT_ACTIVE"


# ----------------------------------------------------------------------------- precedence and resolution


def test_several_matching_filings_long_term_before_referral_before_temporary():
    t = filing("T", "temporary", destination="33")
    r = filing("R", "referral", destination="330600")
    lt = filing("L", "long_term", destination="330602")
    assert rules.choose_filing([t, r, lt], "330602", D(2026, 5, 1)).filing_id == "L"
    assert rules.choose_filing([t, r], "330602", D(2026, 5, 1)).filing_id == "R"
    assert rules.choose_filing([t, r, lt], "330603", D(2026, 5, 1)).filing_id == "R"  # L covers 330602 only
    assert rules.choose_filing([t, r, lt], "330106", D(2026, 5, 1)).filing_id == "T"


def test_filing_outside_its_dates_or_inactive_does_not_cover():
    f = filing("T", "temporary", begin=D(2026, 3, 1), end=D(2026, 8, 31))
    assert rules.choose_filing([f], "330602", D(2026, 2, 28)) is None
    assert rules.choose_filing([f], "330602", D(2026, 9, 1)) is None
    assert rules.choose_filing([f], "330602", D(2026, 8, 31)) is f
    assert rules.choose_filing([filing(status="revoked")], "330602", D(2026, 5, 1)) is None


def resolve(pool, admdvs, filings=(), emergency=False, intra=False):
    return rules.resolve(pool, admdvs, D(2026, 5, 1), list(filings), emergency=emergency,
                         intra_province_requires_filing=intra)


def test_same_pool_never_needs_a_filing_city_union_and_region_level():
    assert resolve(SHAOXING, "330602") == rules.Resolution("local", True, "")
    assert resolve(CZT, "430202").region_class == "local"  # 长株潭: 株洲 is the same pool as 长沙
    assert resolve(CZT, "430302").filed
    assert resolve(XINJIANG, "650202").region_class == "local"  # region-level pool: 克拉玛依 is local


def test_inter_province_without_filing_is_not_filed_and_says_how_to_file():
    r = resolve(SHAOXING, "430102")
    assert (r.region_class, r.filed, r.filing_group) == ("inter_province", False, "")
    assert "2501" in r.message and "APP" in r.message and "online" in r.message


def test_inter_province_with_matching_filing():
    r = resolve(SHAOXING, "430202", [filing("R", "referral", destination="430200")])
    assert (r.region_class, r.filed, r.filing_group, r.filing_id) == ("inter_province", True, "referral", "R")
    # A filing for 长沙 does not cover 株洲 even though they are one pool there: destinations are divisions.
    assert not resolve(SHAOXING, "430202", [filing("R", "referral", destination="430100")]).filed


def test_emergency_counts_as_filed_but_an_active_filing_takes_precedence():
    assert resolve(SHAOXING, "430102", emergency=True) == rules.Resolution("inter_province", True, "emergency")
    r = resolve(SHAOXING, "430102", [filing("T", "temporary", destination="43")], emergency=True)
    assert (r.filing_group, r.filing_id) == ("temporary", "T")


def test_intra_province_needs_a_filing_only_when_the_policy_says_so():
    assert resolve(URUMQI, "650202") == rules.Resolution("intra_province", True, "")
    r = resolve(URUMQI, "650202", intra=True)
    assert (r.region_class, r.filed) == ("intra_province", False)
    assert resolve(URUMQI, "650202", intra=True, emergency=True).filing_group == "emergency"
    r = resolve(URUMQI, "650202", [filing("L", "long_term", destination="650200")], intra=True)
    assert (r.filed, r.filing_group) == (True, "long_term")
    # Without the requirement a matching filing still carries its group (the engine uses it).
    assert resolve(URUMQI, "650202", [filing("L", "long_term", destination="65")]).filing_group == "long_term"


def test_parse_date_names_the_field():
    assert rules.parse_date("2026-05-01", "visit_date") == D(2026, 5, 1)
    with pytest.raises(FilingRefused) as e:
        rules.parse_date("2026-13-01", "visit_date")
    assert (e.value.outcome, e.value.field) == ("BAD_DATE", "visit_date")
