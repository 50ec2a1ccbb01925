"""Validation of reference documents: every error names its path, all errors come together."""

import copy
import json
from decimal import Decimal

import pytest

from services.engine.model import AssistanceRule, Band, Policy
from services.refdata.cli import demo_document
from services.refdata.schema import (
    ReferenceDocument,
    ReferenceError,
    loads,
    parse_document,
    parse_policy,
    policy_body_text,
    policy_to_json,
)
from tests.dates import THIS_YEAR, date, day

BASE = {
    "format": "medsettle.reference/v1",
    "pools": [
        {"code": "330600", "name": "绍兴市", "insutypes": ["310", "390"], "admdvs": ["330600", "330602"]},
    ],
    "hospitals": [
        {"code": "H33060200001", "name": "绍兴市人民医院", "admdvs": "330602", "level": 3,
         "cross_province": True, "paasid": "his-sx-001", "secret": "x" * 32},
    ],
    "catalogues": [
        {"pool": "330600", "items": [
            {"code": "XA10BAA001A001010101445", "name": "二甲双胍片", "kind": "drug", "class": "02",
             "selfpay_prop": "0.05", "price_cap": "0.50"},
            {"code": "001102000010000", "name": "普通门诊诊查费", "kind": "service", "class": "01"},
        ]},
    ],
    "policies": [
        {"pool": "330600", "insutype": "390", "year": THIS_YEAR, "waiting_days": 90,
         "intra_province_requires_filing": False,
         "lines": {
             "inpatient": {"deductible": {"1": "200.00", "2": "500.00", "3": "800.00", "out_of_province": "2500.00"},
                           "repeat_factor": "0.5", "ratio": {"1": "0.85", "2": "0.80", "3": "0.70"},
                           "cap_group": "main"},
             "outpatient": {"annual_deductible": "100.00", "ratio": {"1": "0.60", "2": "0.50", "3": "0.40"},
                            "annual_cap": "800.00"},
             "chronic:M07803": {"annual_deductible": "0.00", "ratio": {"1": "0.90", "2": "0.90", "3": "0.90"},
                                "monthly_cap": "6000.00", "cap_group": "main"},
         },
         "cap_groups": {"main": "280000.00"},
         "retired_bonus": "0.05",
         "cross_region": {"long_term": "0", "referral": "-0.10", "emergency": "-0.10", "temporary": "-0.20",
                          "intra_province": "0"},
         "large_amount": None, "civil_servant": None,
         "critical_illness": {"threshold": "20000.00",
                              "bands": [{"upto": "100000.00", "ratio": "0.60"}, {"upto": None, "ratio": "0.70"}],
                              "annual_cap": "400000.00",
                              "tilt": {"groups": ["tekun", "dibao"], "threshold_factor": "0.5",
                                       "ratio_bonus": "0.05", "cap": None}},
         "assistance": {"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "50000.00"},
                        "dibao": {"annual_deductible": "300.00", "ratio": "0.70", "annual_cap": "30000.00"}},
         "supplementary": []},
    ],
    "persons": [
        {"psn_no": "330600000000000001", "certno": "330602199001011231", "name": "张三", "gender": "1",
         "birthdate": "1990-01-01",
         "enrollments": [{"pool": "330600", "insutype": "390", "year": THIS_YEAR, "psn_type": "resident",
                          "benefit_start": day("01-01"), "benefit_end": day("12-31"), "status": "active"}],
         "identities": [{"type": "dibao", "begin": day("01-01"), "end": day("12-31")}],
         "chronic": [{"code": "M07803", "begin": day("01-01"), "end": day("12-31"), "hospital": "H33060200001"}],
         "filings": [{"type": "long_term_residence", "destination": "65", "begin": day("01-10"), "end": None}],
         "account_balance": "0.00", "social_card": None, "cvlserv": False},
    ],
}


def doc(**changes):
    d = copy.deepcopy(BASE)
    return d


def errors_of(data) -> list[str]:
    with pytest.raises(ReferenceError) as info:
        parse_document(data)
    return info.value.errors


def test_base_document_parses_into_engine_types():
    parsed = parse_document(copy.deepcopy(BASE))
    assert isinstance(parsed, ReferenceDocument)
    assert parsed.warnings == ()
    pool = parsed.pools[0]
    assert pool.admdvs == frozenset({"330600", "330602"}) and pool.insutypes == ("310", "390")
    h = parsed.hospitals[0]
    assert (h.code, h.level, h.cross_province) == ("H33060200001", 3, True)
    assert parsed.credentials[0].paasid == "his-sx-001"
    item = parsed.catalogues[0].items["XA10BAA001A001010101445"]
    assert item.cls == "02" and item.selfpay_prop == Decimal("0.05") and item.price_cap_fen == 50
    assert parsed.catalogues[0].items["001102000010000"].price_cap_fen is None
    p = parsed.policies[0]
    assert isinstance(p, Policy) and p.version == 0 and p.min_temporary_filing_days == 180
    inp = p.lines["inpatient"]
    assert inp.deductible_fen == {"1": 20000, "2": 50000, "3": 80000, "out_of_province": 250000}
    assert inp.ratio == {1: Decimal("0.85"), 2: Decimal("0.80"), 3: Decimal("0.70")}
    assert inp.repeat_factor == Decimal("0.5") and inp.cap_group == "main"
    assert p.lines["chronic:M07803"].monthly_cap_fen == 600000
    assert p.cap_groups == {"main": 28000000}
    assert p.cross_region["temporary"] == Decimal("-0.20")
    assert p.critical_illness.bands == (Band(10000000, Decimal("0.60")), Band(None, Decimal("0.70")))
    assert p.critical_illness.tilt.cap_fen is None
    assert p.assistance == (AssistanceRule("tekun", 0, Decimal("1.00"), 5000000),
                            AssistanceRule("dibao", 30000, Decimal("0.70"), 3000000))
    person = parsed.persons[0]
    assert person.filings[0].end is None and person.chronic[0].hospital == "H33060200001"
    assert person.enrollments[0].benefit_start.isoformat() == day("01-01")


def test_the_spec_example_error_message():
    d = copy.deepcopy(BASE)
    d["policies"][0]["lines"]["inpatient"]["ratio"]["3"] = 0.7
    assert errors_of(d) == ['policies[0].lines.inpatient.ratio.3: expected a decimal string like "0.70", got 0.7']


def test_all_errors_are_collected_with_their_paths():
    d = copy.deepcopy(BASE)
    d["pools"][0]["colour"] = "red"
    d["hospitals"][0]["level"] = 4
    d["hospitals"][0]["secret"] = "short"
    d["catalogues"][0]["items"][1]["class"] = "04"
    d["catalogues"][0]["items"][0]["price_cap"] = "0.505"
    d["policies"][0]["cap_groups"] = {"main": 280000}
    d["policies"][0]["lines"]["chronic:M07803"]["cap_group"] = "dialysis"
    d["policies"][0]["lines"]["emergency"] = {"annual_deductible": "0.00", "ratio": {"1": "1", "2": "1", "3": "1"}}
    d["persons"][0]["birthdate"] = "1990-02-30"
    d["persons"][0]["enrollments"][0]["psn_type"] = "pensioner"
    errors = errors_of(d)
    paths = [e.split(": ", 1)[0] for e in errors]
    assert paths == [
        "pools[0].colour",
        "hospitals[0].level",
        "hospitals[0].secret",
        "catalogues[0].items[0].price_cap",
        "catalogues[0].items[1].class",
        "policies[0].cap_groups.main",
        "policies[0].lines.chronic:M07803.cap_group",
        "policies[0].lines.emergency",
        "persons[0].birthdate",
        "persons[0].enrollments[0].psn_type",
    ], errors


@pytest.mark.parametrize("mutate, path, fragment", [
    (lambda d: d.update(format="v2"), "format", "medsettle.reference/v1"),
    (lambda d: d.update(extra=1), "extra", "unknown key"),
    (lambda d: d["pools"][0].pop("name"), "pools[0].name", "missing required key"),
    (lambda d: d["pools"][0]["insutypes"].append("320"), "pools[0].insutypes[2]", "expected one of 310, 390"),
    (lambda d: d["pools"][0]["admdvs"].append("3306"), "pools[0].admdvs[2]", "6-digit"),
    (lambda d: d["pools"].append({"code": "330601", "name": "x", "insutypes": ["390"], "admdvs": ["330602"]}),
     "pools[1].admdvs", "already in pool 330600"),
    (lambda d: d["hospitals"][0].update(code="X123"), "hospitals[0].code", "12-character"),
    (lambda d: d["hospitals"][0].update(cross_province="yes"), "hospitals[0].cross_province", "true or false"),
    (lambda d: d["hospitals"].append(dict(d["hospitals"][0], code="H33060200002")), "hospitals[1]", "duplicate paasid"),
    (lambda d: d["catalogues"][0].update(pool="999999"), "catalogues[0].pool", "not defined in pools"),
    (lambda d: d["catalogues"][0]["items"][1].update(selfpay_prop="0.10"), "catalogues[0].items[1].selfpay_prop",
     "only class 02"),
    (lambda d: d["catalogues"][0]["items"].append(dict(d["catalogues"][0]["items"][0])), "catalogues[0].items[2]",
     "duplicate item code"),
    (lambda d: d["catalogues"][0]["items"][0].update(selfpay_prop="1.5"), "catalogues[0].items[0].selfpay_prop",
     "ratio in [0, 1]"),
    (lambda d: d["policies"][0].update(pool="999999"), "policies[0].pool", "not defined in pools"),
    (lambda d: d["policies"][0].update(year=str(THIS_YEAR)), "policies[0].year", "integer"),
    (lambda d: d["policies"][0].update(version=1), "policies[0].version", "unknown key"),
    (lambda d: d["policies"][0].update(large_amount={"ratio": "0.80", "annual_cap": "300000.00"}),
     "policies[0].large_amount", "310"),
    (lambda d: d["policies"][0]["lines"]["inpatient"]["deductible"].pop("out_of_province"),
     "policies[0].lines.inpatient.deductible.out_of_province", "missing"),
    (lambda d: d["policies"][0]["lines"].update({"chronic:hypertension": {}}),
     "policies[0].lines.chronic:hypertension", "unknown line name"),
    (lambda d: d["policies"][0]["lines"]["outpatient"].pop("annual_deductible"),
     "policies[0].lines.outpatient.annual_deductible", "needs an annual_deductible"),
    (lambda d: d["policies"][0]["cross_region"].update(referral="-1.5"), "policies[0].cross_region.referral",
     "[-1, 1]"),
    (lambda d: d["policies"][0]["cross_region"].update(long_term="-0.1"), None, None),  # negative is fine here
    (lambda d: d["policies"][0].update(retired_bonus="-0.05"), "policies[0].retired_bonus", "[0, 1]"),
    (lambda d: d["policies"][0]["critical_illness"]["bands"].reverse(), "policies[0].critical_illness.bands[0].upto",
     "only the last band"),
    (lambda d: d["policies"][0]["critical_illness"]["tilt"]["groups"].append("vip"),
     "policies[0].critical_illness.tilt.groups[2]", "expected one of"),
    (lambda d: d["policies"][0]["assistance"].update(vip={}), "policies[0].assistance.vip", "expected one of"),
    (lambda d: d["policies"][0].update(supplementary=[{"code": "hmb", "fund_pay_type": "390300", "base": "all",
                                                       "annual_deductible": "0", "ratio": "0.5", "annual_cap": None}]),
     "policies[0].supplementary[0].base", "inscp_personal"),
    (lambda d: d["policies"].append(copy.deepcopy(d["policies"][0])), "policies[1]", "duplicate policy"),
    (lambda d: d["persons"][0].update(certno="330602199001011232"), "persons[0].certno", "GB 11643"),
    (lambda d: d["persons"][0].update(gender="2"), "persons[0].certno", "sex digit"),
    (lambda d: d["persons"][0].update(birthdate="1990-01-02"), "persons[0].certno", "birth date"),
    (lambda d: d["persons"][0]["enrollments"][0].update(status="dead"), "persons[0].enrollments[0].status",
     "active, paused, lapsed, terminated"),
    (lambda d: d["persons"][0]["enrollments"][0].update(benefit_end=day("12-31", -1)),
     "persons[0].enrollments[0].benefit_end", "before benefit_start"),
    (lambda d: d["persons"][0]["enrollments"][0].update(psn_type="employee"),
     "persons[0].enrollments[0].psn_type", "310"),
    (lambda d: d["persons"][0]["enrollments"].append(copy.deepcopy(d["persons"][0]["enrollments"][0])),
     "persons[0].enrollments[1]", "duplicate enrollment"),
    (lambda d: d["persons"][0]["filings"][0].update(end=day("12-31")), "persons[0].filings[0].end", "long-term"),
    (lambda d: d["persons"][0]["filings"][0].update(type="emergency"), "persons[0].filings[0].type", "no filing record"),
    (lambda d: d["persons"][0]["filings"][0].update(type="referral"), "persons[0].filings[0].end", "temporary"),
    (lambda d: d["persons"][0]["filings"][0].update(destination="6"), "persons[0].filings[0].destination", "province"),
    (lambda d: d["persons"][0]["identities"][0].update(type="rich"), "persons[0].identities[0].type", "expected one of"),
    (lambda d: d["persons"][0]["chronic"][0].update(hospital="H99999900001"), "persons[0].chronic[0].hospital",
     "not defined in hospitals"),
    (lambda d: d["persons"][0].update(account_balance=12.5), "persons[0].account_balance", "yuan amount"),
    (lambda d: d["persons"][0].update(cvlserv=True), "persons[0].cvlserv", "310"),
    (lambda d: d["persons"].append(dict(copy.deepcopy(d["persons"][0]), psn_no="2")), "persons[1]", "duplicate certno"),
])
def test_each_kind_of_error_names_its_path(mutate, path, fragment):
    d = copy.deepcopy(BASE)
    mutate(d)
    if path is None:
        parse_document(d)
        return
    errors = errors_of(d)
    assert any(e.startswith(path + ": ") and fragment in e for e in errors), errors


def test_a_non_object_document():
    assert errors_of([1]) == ["(document): expected an object, got [1]"]


def test_hospital_outside_every_pool_is_a_warning():
    d = copy.deepcopy(BASE)
    d["hospitals"].append(dict(d["hospitals"][0], code="H31010100001", admdvs="310101", paasid="his-sh-001"))
    parsed = parse_document(d)
    assert any(w.startswith("hospitals[1].admdvs: no pool holds admdvs 310101") for w in parsed.warnings)


def test_duplicate_json_keys_are_errors():
    text = json.dumps(BASE).replace('"waiting_days": 90', '"waiting_days": 90, "waiting_days": 30')
    with pytest.raises(ReferenceError) as info:
        parse_document(loads(text))
    assert "policies[0].waiting_days: key appears more than once" in info.value.errors


@pytest.mark.parametrize("text, fen", [
    ("0", 0), ("0.00", 0), ("0.5", 50), ("0.05", 5), ("800.00", 80000), ("800", 80000), ("1234567.89", 123456789),
    ("99999999999999.99", 9999999999999999), ("0.10", 10), ("19.9", 1990),
])
def test_money_is_exact_fen(text, fen):
    d = copy.deepcopy(BASE)
    d["persons"][0]["account_balance"] = text
    assert parse_document(d).persons[0].account_balance_fen == fen


@pytest.mark.parametrize("bad", ["0.001", "-1.00", "1,000.00", "1e3", " 1.00", "01.00", "", ".5", "5.", 5, 5.0, None, "NaN"])
def test_bad_money_is_refused(bad):
    d = copy.deepcopy(BASE)
    d["persons"][0]["account_balance"] = bad
    errors = errors_of(d)
    assert errors == [f'persons[0].account_balance: expected a yuan amount string like "800.00" (at most 2 decimals), '
                      f'got {json.dumps(bad)}']


@pytest.mark.parametrize("text", ["0", "1", "0.7", "0.70", "0.333333", "1.00", "0.0001"])
def test_ratios_are_exact_decimals(text):
    d = copy.deepcopy(BASE)
    d["policies"][0]["lines"]["outpatient"]["ratio"]["1"] = text
    assert parse_document(d).policies[0].lines["outpatient"].ratio[1] == Decimal(text)


@pytest.mark.parametrize("bad", ["1.01", "-0.01", "70%", "0,7", "1e-1", 1, True])
def test_bad_ratios_are_refused(bad):
    d = copy.deepcopy(BASE)
    d["policies"][0]["lines"]["outpatient"]["ratio"]["1"] = bad
    (error,) = errors_of(d)
    assert error.startswith("policies[0].lines.outpatient.ratio.1: expected a")


def test_optional_policy_keys():
    d = copy.deepcopy(BASE)
    p = d["policies"][0]
    for k in ("intra_province_requires_filing", "large_amount", "civil_servant", "assistance", "supplementary"):
        p.pop(k)
    p["min_temporary_filing_days"] = 90
    policy = parse_document(d).policies[0]
    assert policy.min_temporary_filing_days == 90 and policy.assistance == () and not policy.intra_province_requires_filing


def test_assistance_keeps_document_order():
    d = copy.deepcopy(BASE)
    a = d["policies"][0]["assistance"]
    d["policies"][0]["assistance"] = {"dibao": a["dibao"], "tekun": a["tekun"]}
    policy = parse_document(d).policies[0]
    assert [r.group for r in policy.assistance] == ["dibao", "tekun"]
    # ...and the canonical body keeps it too
    assert [r.group for r in parse_policy(loads(policy_body_text(policy))).assistance] == ["dibao", "tekun"]


def test_policy_round_trips_through_canonical_json():
    policy = parse_document(copy.deepcopy(BASE)).policies[0]
    again = parse_policy(loads(policy_body_text(policy)), version=3)
    assert again == Policy(**{**{f: getattr(policy, f) for f in Policy.__slots__}, "version": 3})


def test_canonical_json_ignores_formatting_but_not_values():
    d1 = copy.deepcopy(BASE)
    d2 = copy.deepcopy(BASE)
    d2["policies"][0]["lines"]["inpatient"]["ratio"]["1"] = "0.850"  # same value, other spelling
    d2["policies"][0]["cross_region"]["long_term"] = "0.00"
    t1 = policy_body_text(parse_document(d1).policies[0])
    assert t1 == policy_body_text(parse_document(d2).policies[0])
    d2["policies"][0]["lines"]["inpatient"]["ratio"]["1"] = "0.86"
    assert t1 != policy_body_text(parse_document(d2).policies[0])
    assert policy_to_json(parse_document(d1).policies[0])["lines"]["inpatient"]["repeat_factor"] == "0.50"


def test_demo_document_validates_without_warnings():
    parsed = demo_document()
    assert parsed.warnings == ()
    assert {p.code for p in parsed.pools} == {"330600", "650000", "650100", "43CZT", "450100", "150500"}
    assert len(parsed.persons) >= 20
    assert all(len(c.items) >= 30 for c in parsed.catalogues)
    assert {c.pool for c in parsed.catalogues} == {p.code for p in parsed.pools}
    assert len({c.paasid for c in parsed.credentials}) == len(parsed.hospitals)
    assert all(len(c.secret) >= 32 for c in parsed.credentials)
    assert {h.level for h in parsed.hospitals} == {1, 2, 3}
    for pool in parsed.pools:
        for t in pool.insutypes:
            assert any(p.pool == pool.code and p.insutype == t and p.year == THIS_YEAR for p in parsed.policies)
    for p in parsed.policies:
        for code in ("M03900", "M01600", "M00503", "M07803", "M07804", "M08300"):
            assert f"chronic:{code}" in p.lines
        assert {"inpatient", "outpatient"} <= set(p.lines)
    assert any(p.supplementary for p in parsed.policies)
    assert any(p.civil_servant for p in parsed.policies)


def test_demo_330600_policies_are_the_worked_examples():
    parsed = demo_document()
    pol = {(p.pool, p.insutype): p for p in parsed.policies if p.year == THIS_YEAR}
    r = pol[("330600", "390")]
    inp = r.lines["inpatient"]
    assert inp.deductible_fen == {"1": 30000, "2": 60000, "3": 80000, "out_of_province": 120000}
    assert inp.repeat_factor == Decimal("0.5")
    assert inp.ratio == {1: Decimal("0.85"), 2: Decimal("0.80"), 3: Decimal("0.70")}
    assert r.cap_groups == {"main": 28000000}
    m = r.lines["chronic:M07803"]
    assert (m.ratio[3], m.monthly_cap_fen, m.cap_group, m.annual_deductible_fen) == (Decimal("0.90"), 600000, "main", 0)
    assert r.cross_region == {"long_term": 0, "referral": Decimal("-0.10"), "emergency": Decimal("-0.10"),
                              "temporary": Decimal("-0.20"), "intra_province": 0}
    ci = r.critical_illness
    assert ci.threshold_fen == 2000000 and ci.annual_cap_fen == 40000000
    assert ci.bands == (Band(10000000, Decimal("0.60")), Band(None, Decimal("0.70")))
    assert ci.tilt.groups == ("tekun", "dibao") and ci.tilt.threshold_factor == Decimal("0.5")
    assert ci.tilt.ratio_bonus == Decimal("0.05") and ci.tilt.cap_fen is None
    assert r.assistance == (AssistanceRule("tekun", 0, Decimal("1.00"), 5000000),
                            AssistanceRule("dibao", 30000, Decimal("0.70"), 3000000))
    assert r.supplementary == () and r.large_amount is None
    e = pol[("330600", "310")]
    assert e.lines["inpatient"] == inp
    out = e.lines["outpatient"]
    assert (out.annual_deductible_fen, out.annual_cap_fen) == (30000, 500000)
    assert out.ratio == {1: Decimal("0.75"), 2: Decimal("0.70"), 3: Decimal("0.65")}
    assert e.cap_groups == {"main": 5000000} and e.retired_bonus == Decimal("0.05")
    assert e.large_amount.ratio == Decimal("0.80") and e.large_amount.annual_cap_fen == 30000000
    assert e.supplementary == () and e.civil_servant is None
    # the worked-example items, same in 330600 and 650000
    for pool in ("330600", "650000"):
        items = next(c for c in parsed.catalogues if c.pool == pool).items
        assert items["003307020030000"].cls == "02" and items["003307020030000"].selfpay_prop == Decimal("0.10")
        assert items["001104000010000"].cls == "01" and items["001104000010000"].price_cap_fen == 5000
        assert items["C03010101001001123456"].cls == "03"
        assert items["003105000010000"].cls == "01" and items["003105000010000"].price_cap_fen is None
        assert items["XC10AAA089A001010104327"].selfpay_prop == Decimal("0.05")
        assert items["XC10AAA089A001010104327"].price_cap_fen is None


def test_demo_persons_cover_the_rules():
    parsed = demo_document()
    people = {p.psn_no: p for p in parsed.persons}
    dialysis = people["330600000000000006"]
    assert dialysis.filings[0].type == "long_term_residence" and dialysis.filings[0].end is None
    assert dialysis.chronic[0].code == "M07803"
    assert people["330600000000000004"].account_balance_fen > 0
    assert any(e.psn_type == "retired" for p in parsed.persons for e in p.enrollments)
    assert any(e.status == "lapsed" for p in parsed.persons for e in p.enrollments)
    assert any(p.cvlserv for p in parsed.persons)
    dup = [e for e in people["330600000000000010"].enrollments if e.year == THIS_YEAR]
    assert len({(e.insutype, e.year) for e in dup}) == 1 and len({e.pool for e in dup}) == 2
    assert len({e.benefit_start for e in dup}) == 2
    assert any(e.benefit_start > date(7, 1) for p in parsed.persons for e in p.enrollments if e.year == THIS_YEAR)
    idents = {i.type for p in parsed.persons for i in p.identities}
    assert {"tekun", "dibao"} <= idents
    assert {f.type for p in parsed.persons for f in p.filings} >= {"long_term_residence", "referral"}
