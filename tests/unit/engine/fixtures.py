"""The reference data of docs/RULES.md (worked examples), built as engine data, plus small builders."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

from services.engine.model import (
    AssistanceRule,
    Band,
    Bill,
    Catalogue,
    CatalogueItem,
    ChronicQualification,
    CriticalIllness,
    FeeItem,
    Hospital,
    Identity,
    LinePolicy,
    PersonSnapshot,
    Policy,
    Pool,
    RatioCap,
    SettlementContext,
    Tilt,
)
from services.engine.money import round_half_up
from services.engine.money import yuan_to_fen as fen

YEAR = 2026
DAY = dt.date(2026, 5, 20)

POOL_SX = Pool("330600", "绍兴市", ("310", "390"), frozenset({"330600", "330602"}))
POOL_XJ = Pool("650000", "新疆", ("390",), frozenset({"650000", "650102"}))
POOL_HZ = Pool("330100", "杭州市", ("310", "390"), frozenset({"330100", "330102"}))
POOL_CZT = Pool("43CZT", "长株潭", ("310", "390"),
                frozenset({"430100", "430102", "430200", "430202", "430300", "430302"}))

HSX3 = Hospital("HSX300000001", "绍兴三级", "330602", 3, True)
HSX1 = Hospital("HSX100000001", "绍兴一级", "330602", 1, True)
HXJ3 = Hospital("HXJ300000001", "乌鲁木齐三级", "650102", 3, True)
HHZ3 = Hospital("HHZ300000001", "杭州三级", "330102", 3, True)

CATALOGUE_ITEMS = {
    "SURG": CatalogueItem("SURG", "手术", "service", "02", D("0.10")),
    "BED": CatalogueItem("BED", "床位", "service", "01", price_cap_fen=fen("50.00")),
    "STENT": CatalogueItem("STENT", "进口支架", "material", "03"),
    "DIAL": CatalogueItem("DIAL", "血透", "service", "01"),
    "DRUG": CatalogueItem("DRUG", "乙类药", "drug", "02", D("0.05")),
    "EXAM": CatalogueItem("EXAM", "检查", "service", "01"),
}
CAT_SX = Catalogue("330600", CATALOGUE_ITEMS)
CAT_XJ = Catalogue("650000", CATALOGUE_ITEMS)

INPATIENT = LinePolicy("inpatient", {1: D("0.85"), 2: D("0.80"), 3: D("0.70")},
                       deductible_fen={"1": fen("300"), "2": fen("600"), "3": fen("800"),
                                       "out_of_province": fen("1200")},
                       repeat_factor=D("0.5"), cap_group="main")
DIALYSIS = LinePolicy("chronic:M07803", {1: D("0.90"), 2: D("0.90"), 3: D("0.90")},
                      annual_deductible_fen=0, monthly_cap_fen=fen("6000"), cap_group="main")
CROSS_REGION = {"long_term": D("0"), "referral": D("-0.10"), "emergency": D("-0.10"),
                "temporary": D("-0.20"), "intra_province": D("-0.05")}

POLICY_RESIDENT = Policy(
    pool="330600", insutype="390", year=YEAR, version=1, waiting_days=90,
    intra_province_requires_filing=False,
    lines={"inpatient": INPATIENT, "chronic:M07803": DIALYSIS},
    cap_groups={"main": fen("280000")}, retired_bonus=D("0"), cross_region=CROSS_REGION,
    critical_illness=CriticalIllness(
        threshold_fen=fen("20000"),
        bands=(Band(fen("100000"), D("0.60")), Band(None, D("0.70"))),
        annual_cap_fen=fen("400000"),
        tilt=Tilt(("tekun", "dibao"), D("0.5"), D("0.05"), None)),
    assistance=(AssistanceRule("tekun", 0, D("1.00"), fen("50000")),
                AssistanceRule("dibao", fen("300"), D("0.70"), fen("30000"))),
)

POLICY_EMPLOYEE = Policy(
    pool="330600", insutype="310", year=YEAR, version=1, waiting_days=0,
    intra_province_requires_filing=False,
    lines={"inpatient": INPATIENT,
           "outpatient": LinePolicy("outpatient", {1: D("0.75"), 2: D("0.70"), 3: D("0.65")},
                                    annual_deductible_fen=fen("300"),
                                    annual_cap_fen=fen("5000"))},
    cap_groups={"main": fen("50000")}, retired_bonus=D("0.05"), cross_region=CROSS_REGION,
    large_amount=RatioCap(D("0.80"), fen("300000")),
)


def item(code: str, cnt: str, price: str, sn: str | None = None) -> FeeItem:
    pric = fen(price)
    count = D(cnt)
    return FeeItem(sn or code, code, count, pric, round_half_up(count * pric), code)


def person(psn_type: str = "resident", insutype: str = "390", *, identities=(), chronic=(),
           balance: str = "0", cvlserv: bool = False, pool: str = "330600") -> PersonSnapshot:
    return PersonSnapshot("P1", "张三", insutype, psn_type, pool, tuple(identities),
                          tuple(chronic), fen(balance), cvlserv)


def resident(**kw) -> PersonSnapshot:
    return person("resident", "390", **kw)


def employee(psn_type: str = "employee", **kw) -> PersonSnapshot:
    return person(psn_type, "310", **kw)


def held(type_: str) -> Identity:
    return Identity(type_, dt.date(2026, 1, 1), dt.date(2026, 12, 31))


def qualified(code: str) -> ChronicQualification:
    return ChronicQualification(code, dt.date(2026, 1, 1), None)


def bill(items, med_type: str = "21", hospital: Hospital = HSX3, **kw) -> Bill:
    return Bill(med_type, kw.pop("visit_date", DAY), hospital, tuple(items), **kw)


def context(psn: PersonSnapshot, policy: Policy, *, acc=None, filing=None,
            catalogue: Catalogue = CAT_SX, pool: Pool = POOL_SX,
            treatment: Pool | None = POOL_SX) -> SettlementContext:
    return SettlementContext(psn, pool, treatment, policy, catalogue, filing, dict(acc or {}))


def with_lines(policy: Policy, **lines: LinePolicy) -> Policy:
    merged = dict(policy.lines)
    merged.update({name.replace("__", ":"): line for name, line in lines.items()})
    return replace(policy, lines=merged)
