"""The demo reference document, built for the business year it is loaded in, and the person
table of infra/reference/README.md.

The demo data is relative to "this year" (DOMAIN §9: nothing may assume one particular year):
`document(year)` holds policies, enrollments, identities and chronic qualifications for last
year, this year and next year, and filings dated relative to this year, so that the suite works
on any date, across New Year included. `medsettle load --demo` loads `document(<Beijing year>)`.

This script keeps the data consistent (valid GB 11643 check digits, the same catalogue items in
every pool, the worked-example policies).
Run: .venv/bin/python -m infra.reference.make_demo [--year Y] [--out FILE]
     (rewrites README.md's person table; with --out, writes the JSON for that year; deterministic)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from services.common.ids import make_certno

HERE = Path(__file__).resolve().parent
# Years are offsets from the year the document is built for: -1 last year, 0 this year, +1 next.
YEARS = (-1, 0, 1)

POOLS = [
    {"code": "330600", "name": "绍兴市", "insutypes": ["310", "390"],
     "admdvs": ["330600", "330602", "330603", "330604", "330624", "330681", "330683"]},
    {"code": "650000", "name": "新疆维吾尔自治区城乡居民医保（自治区级统筹）", "insutypes": ["390"],
     "admdvs": ["650000", "650100", "650102", "650103", "650104", "650105", "650106", "650200", "650202",
                "650203", "650400", "650402", "652300", "652301", "652800", "652801", "653100", "653101"]},
    {"code": "650100", "name": "乌鲁木齐市职工医保", "insutypes": ["310"],
     "admdvs": ["650100", "650102", "650103", "650104"]},
    {"code": "43CZT", "name": "长株潭区域统筹", "insutypes": ["310", "390"],
     "admdvs": ["430100", "430102", "430200", "430202", "430300", "430302"]},
    {"code": "450100", "name": "南宁市", "insutypes": ["310", "390"],
     "admdvs": ["450100", "450102", "450103", "450105", "450107"]},
    {"code": "150500", "name": "通辽市", "insutypes": ["310", "390"],
     "admdvs": ["150500", "150502", "150521", "150522", "150525"]},
]

# (code, name, admdvs, level, cross_province, paasid)
HOSPITALS = [
    ("H33060200001", "绍兴市人民医院", "330602", 3, True, "his-sx-001"),        # HSX3 of the worked examples
    ("H33060200002", "绍兴市中医院", "330602", 3, True, "his-sx-002"),
    ("H33060200003", "越城区城南街道社区卫生服务中心", "330602", 1, True, "his-sx-003"),  # HSX1
    ("H33060300001", "绍兴市柯桥区人民医院", "330603", 2, True, "his-sx-004"),
    ("H33068100001", "诸暨市人民医院", "330681", 2, False, "his-sx-005"),
    ("H65010200001", "新疆医科大学第一附属医院", "650102", 3, True, "his-xj-001"),  # HXJ3
    ("H65010400001", "乌鲁木齐市第一人民医院", "650104", 2, True, "his-xj-002"),
    ("H65010300001", "乌鲁木齐市沙依巴克区社区卫生服务中心", "650103", 1, False, "his-xj-003"),
    ("H65020200001", "克拉玛依市中心医院", "650202", 3, True, "his-xj-004"),
    ("H43010200001", "中南大学湘雅医院", "430102", 3, True, "his-czt-001"),
    ("H43020200001", "株洲市中心医院", "430202", 3, True, "his-czt-002"),
    ("H43030200001", "湘潭市中心医院", "430302", 3, True, "his-czt-003"),
    ("H43010200002", "长沙市芙蓉区社区卫生服务中心", "430102", 1, False, "his-czt-004"),
    ("H45010300001", "广西医科大学第一附属医院", "450103", 3, True, "his-nn-001"),
    ("H45010200001", "南宁市第二人民医院", "450102", 2, True, "his-nn-002"),
    ("H15050200001", "通辽市医院", "150502", 3, True, "his-tl-001"),
    ("H15052500001", "奈曼旗人民医院", "150525", 2, True, "his-tl-002"),
    ("H15052500002", "奈曼旗大沁他拉镇中心卫生院", "150525", 1, False, "his-tl-003"),
]

# Each demo hospital's `interface` block (docs/REFERENCE_DATA.md §4); a hospital not listed has
# none, i.e. the defaults (TIF only, lenient msgid, optional sign-in). Both authentication
# profiles are exercised (tests/e2e/test_his_real_clients.py):
INTERFACES = {
    # HSX3, the worked examples' hospital: today's strict HIS (TIF, 30-character msgid, sign-in).
    "H33060200001": {"auth": ["tif"], "msgid": "strict", "sign_in": "required"},
    # A hospital whose HIS vendors use either profile (an SDK signing _api_* headers, or TIF).
    "H33060200002": {"auth": ["tif", "api_hmac_sha1"], "msgid": "lenient", "sign_in": "optional",
                     "window_s": {"tif": 300, "api_hmac_sha1": 1800}},
    # HXJ3: both profiles, the defaults otherwise.
    "H65010200001": {"auth": ["tif", "api_hmac_sha1"]},
}

# The worked-example items (WORKED_EXAMPLES.md) under realistic codes; same in every pool.
WORKED_ITEMS = {
    "SURG": {"code": "003307020030000", "name": "经皮冠状动脉内支架置入术", "kind": "service", "class": "02",
             "selfpay_prop": "0.10"},
    "BED": {"code": "001104000010000", "name": "床位费（三人间）", "kind": "service", "class": "01",
            "price_cap": "50.00"},
    "STENT": {"code": "C03010101001001123456", "name": "药物洗脱冠脉支架（进口）", "kind": "material", "class": "03"},
    "DIAL": {"code": "003105000010000", "name": "血液透析", "kind": "service", "class": "01"},
    "DRUG": {"code": "XC10AAA089A001010104327", "name": "阿托伐他汀钙片", "kind": "drug", "class": "02",
             "selfpay_prop": "0.05"},
}

OTHER_ITEMS = [
    {"code": "XA10BAA001A001010101445", "name": "二甲双胍片", "kind": "drug", "class": "01", "price_cap": "0.50"},
    {"code": "XC09AAA012A001010100931", "name": "卡托普利片", "kind": "drug", "class": "01"},
    {"code": "XC08CAA015A001010104563", "name": "硝苯地平缓释片", "kind": "drug", "class": "01"},
    {"code": "XC09CAA024A001010101234", "name": "缬沙坦胶囊", "kind": "drug", "class": "02", "selfpay_prop": "0.10"},
    {"code": "XA10AEA010B002010100123", "name": "甘精胰岛素注射液", "kind": "drug", "class": "02", "selfpay_prop": "0.10",
     "price_cap": "180.00"},
    {"code": "XJ01CRA001B001010100876", "name": "阿莫西林克拉维酸钾注射剂", "kind": "drug", "class": "02",
     "selfpay_prop": "0.05"},
    {"code": "XJ01DDA046B001010100234", "name": "头孢曲松钠注射剂", "kind": "drug", "class": "01"},
    {"code": "XL01BCA006B001010102211", "name": "吉西他滨注射剂", "kind": "drug", "class": "02", "selfpay_prop": "0.15"},
    {"code": "XL04ADA001A001010100567", "name": "环孢素软胶囊", "kind": "drug", "class": "02", "selfpay_prop": "0.05"},
    {"code": "XL04AAA006A001010100789", "name": "吗替麦考酚酯片", "kind": "drug", "class": "02", "selfpay_prop": "0.10"},
    {"code": "XB03XAA001B002010100345", "name": "重组人促红素注射液", "kind": "drug", "class": "02", "selfpay_prop": "0.05",
     "price_cap": "120.00"},
    {"code": "XB05DBA001B001010100456", "name": "腹膜透析液", "kind": "drug", "class": "01"},
    {"code": "XN02BEA001A001010100678", "name": "对乙酰氨基酚片", "kind": "drug", "class": "01"},
    {"code": "ZA04BAA0010000000000001", "name": "连花清瘟胶囊", "kind": "drug", "class": "02", "selfpay_prop": "0.10"},
    {"code": "XR05XXX999A001010100000", "name": "进口止咳糖浆（非目录）", "kind": "drug", "class": "03"},
    {"code": "001102000010000", "name": "普通门诊诊查费", "kind": "service", "class": "01"},
    {"code": "001102000020000", "name": "副主任医师门诊诊查费", "kind": "service", "class": "01", "price_cap": "30.00"},
    {"code": "001104000020000", "name": "床位费（单人间）", "kind": "service", "class": "02", "selfpay_prop": "0.30",
     "price_cap": "120.00"},
    {"code": "001107000010000", "name": "Ⅰ级护理", "kind": "service", "class": "01"},
    {"code": "002501000010000", "name": "血常规检查", "kind": "service", "class": "01"},
    {"code": "002703000010000", "name": "CT平扫（64排）", "kind": "service", "class": "02", "selfpay_prop": "0.08"},
    {"code": "002703000070000", "name": "磁共振平扫", "kind": "service", "class": "02", "selfpay_prop": "0.10"},
    {"code": "003105000020000", "name": "血液灌流", "kind": "service", "class": "02", "selfpay_prop": "0.10"},
    {"code": "003105000030000", "name": "腹膜透析换液", "kind": "service", "class": "01"},
    {"code": "003306000010000", "name": "腹腔镜下胆囊切除术（日间手术）", "kind": "service", "class": "02",
     "selfpay_prop": "0.05"},
    {"code": "002402000010000", "name": "调强放射治疗", "kind": "service", "class": "02", "selfpay_prop": "0.10"},
    {"code": "003100000010000", "name": "特需医疗服务费", "kind": "service", "class": "03"},
    {"code": "C01020101001001000001", "name": "一次性使用输液器", "kind": "material", "class": "01", "price_cap": "5.00"},
    {"code": "C02020202002001000002", "name": "血液透析器", "kind": "material", "class": "02", "selfpay_prop": "0.10",
     "price_cap": "150.00"},
    {"code": "C03010101001001000003", "name": "国产冠脉支架（集采）", "kind": "material", "class": "02",
     "selfpay_prop": "0.10", "price_cap": "800.00"},
    {"code": "C14010101001001000004", "name": "人工晶状体（进口）", "kind": "material", "class": "03"},
    # restricted by gender (supervision rules below)
    {"code": "002503000010000", "name": "前列腺特异性抗原测定（PSA）", "kind": "service", "class": "01"},
    {"code": "002504000010000", "name": "宫颈液基细胞学检查（TCT）", "kind": "service", "class": "01"},
]

# Fund-supervision rules (DOMAIN.md §10, docs/REFERENCE_DATA.md §10), the same in every pool and
# year; each rule's code is prefixed with its pool. Items named here are used by no other demo
# flow, so the blocks change only the bills that break them (tests/e2e/test_supervision.py).
SUPERVISION_RULES: list[dict[str, Any]] = [
    {"code": "QTY-01", "kind": "quantity", "severity": "block", "name": "硝苯地平缓释片超量",
     "items": ["XC08CAA015A001010104563"], "per_day": "4", "supply_days": 84, "daily_dose": "2",
     "message": "超量开药：每日不超过 4 片、长期处方不超过 12 周用量，请核减数量后重新上传，否则超量部分自费"},
    {"code": "QTY-02", "kind": "quantity", "severity": "warn", "name": "对乙酰氨基酚单次超量",
     "items": ["XN02BEA001A001010100678"], "per_visit": "30",
     "message": "单次就诊开药超过 30 片，请医生确认用量"},
    {"code": "SEX-01", "kind": "gender", "severity": "block", "name": "限男性项目", "items": ["002503000010000"],
     "gender": "1", "message": "该项目限男性，请核对患者性别或项目编码；不改则按自费结算"},
    {"code": "SEX-02", "kind": "gender", "severity": "block", "name": "限女性项目", "items": ["002504000010000"],
     "gender": "2", "message": "该项目限女性，请核对患者性别或项目编码；不改则按自费结算"},
    {"code": "AGE-01", "kind": "age", "severity": "warn", "name": "人工晶状体年龄", "items": ["C14010101001001000004"],
     "min_age": 40, "message": "40 岁以下使用人工晶状体，请在病历中说明指征"},
    {"code": "DX-01", "kind": "diagnosis", "severity": "block", "name": "胰岛素限糖尿病",
     "items": ["XA10AEA010B002010100123"], "diagnoses": ["E10", "E11", "E13", "E14", "O24"],
     "message": "限糖尿病诊断支付：请用 2203 补录诊断，否则该项目自费"},
    {"code": "DX-02", "kind": "diagnosis", "severity": "block", "name": "促红素限肾性贫血",
     "items": ["XB03XAA001B002010100345"], "diagnoses": ["N18", "D63"],
     "message": "限慢性肾病/肾性贫血诊断支付：请用 2203 补录诊断，否则该项目自费"},
    {"code": "DUP-01", "kind": "duplicate", "severity": "warn", "name": "同日重复收费",
     "items": ["001102000010000", "001102000020000", "002501000010000", "002703000010000", "002703000070000",
               "002503000010000", "002504000010000"],
     "message": "同一项目同日在本院重复收费，请核对是否重复录入并撤销多余明细 (2205)"},
    {"code": "OVL-01", "kind": "overlap", "severity": "warn", "name": "住院期间他院就诊",
     "message": "参保人住院期间在其他机构就诊，请核实身份（是否冒名就医）"},
    {"code": "READM-01", "kind": "readmission", "severity": "warn", "name": "分解住院", "days": 15,
     "same_hospital": True, "message": "出院 15 天内在本院再次入院，请在病历中说明是否分解住院"},
    {"code": "HOSP-01", "kind": "hospitals_per_day", "severity": "warn", "name": "一日多院", "max_hospitals": 3,
     "message": "参保人当日在多家机构就诊，请核验就诊凭证与本人是否一致"},
    {"code": "DEATH-01", "kind": "after_death", "severity": "block", "name": "死亡后结算",
     "message": "参保人已登记死亡，不能结算，请核实身份后联系医保经办机构"},
    {"code": "PEER-01", "kind": "peer_outlier", "severity": "warn", "name": "次均费用异常", "metric": "cost_per_visit",
     "factor": "2.0", "min_visits": 20, "message": "次均费用超过同级同统筹区机构的 2 倍"},
    {"code": "PEER-02", "kind": "peer_outlier", "severity": "warn", "name": "磁共振占比异常", "metric": "item_share",
     "item": "002703000070000", "factor": "3.0", "min_visits": 20,
     "message": "磁共振检查次数占比超过同级同统筹区机构的 3 倍"},
]

CHRONIC_FIVE = ("M03900", "M01600", "M00503", "M07803", "M07804", "M08300")


def ratios(a: str, b: str, c: str) -> dict:
    return {"1": a, "2": b, "3": c}


def chronic_lines(base: dict[str, str], dialysis_monthly_cap: str, group: str = "main") -> dict:
    """The five cross-province outpatient chronic diseases (M07803/M07804 share uraemia rules)."""
    r = base
    return {
        "chronic:M03900": {"annual_deductible": "0.00", "ratio": ratios(r["M03900"], r["M03900"], r["M03900"]),
                           "annual_cap": "3000.00"},
        "chronic:M01600": {"annual_deductible": "0.00", "ratio": ratios(r["M01600"], r["M01600"], r["M01600"]),
                           "annual_cap": "4000.00"},
        "chronic:M00503": {"annual_deductible": "0.00", "ratio": ratios(r["M00503"], r["M00503"], r["M00503"]),
                           "cap_group": group},
        "chronic:M07803": {"annual_deductible": "0.00", "ratio": ratios(r["M07803"], r["M07803"], r["M07803"]),
                           "monthly_cap": dialysis_monthly_cap, "cap_group": group},
        "chronic:M07804": {"annual_deductible": "0.00", "ratio": ratios(r["M07804"], r["M07804"], r["M07804"]),
                           "monthly_cap": dialysis_monthly_cap, "cap_group": group},
        "chronic:M08300": {"annual_deductible": "0.00", "ratio": ratios(r["M08300"], r["M08300"], r["M08300"]),
                           "annual_cap": "30000.00"},
    }


CROSS = {"long_term": "0", "referral": "-0.10", "emergency": "-0.10", "temporary": "-0.20", "intra_province": "0"}


def policy(pool, insutype, *, waiting_days, inpatient, outpatient, chronic, cap_main, retired_bonus="0.00",
           cross=CROSS, large_amount=None, civil_servant=None, critical_illness=None, assistance=None,
           supplementary=(), day_surgery=None, intra_province_requires_filing=False) -> dict:
    lines = {"inpatient": inpatient, "outpatient": outpatient}
    if day_surgery:
        lines["day_surgery"] = day_surgery
    lines.update(chronic)
    return {"pool": pool, "insutype": insutype, "waiting_days": waiting_days,
            "intra_province_requires_filing": intra_province_requires_filing,
            "lines": lines, "cap_groups": {"main": cap_main}, "retired_bonus": retired_bonus,
            "cross_region": dict(cross), "large_amount": large_amount, "civil_servant": civil_servant,
            "critical_illness": critical_illness, "assistance": assistance or {},
            "supplementary": list(supplementary)}


def inpatient(d1, d2, d3, oop, r1, r2, r3, repeat="0.5") -> dict:
    return {"deductible": {"1": d1, "2": d2, "3": d3, "out_of_province": oop}, "repeat_factor": repeat,
            "ratio": ratios(r1, r2, r3), "cap_group": "main"}


def critical(threshold, cap, tilt_groups, low="0.60", high="0.70") -> dict:
    return {"threshold": threshold, "bands": [{"upto": "100000.00", "ratio": low}, {"upto": None, "ratio": high}],
            "annual_cap": cap,
            "tilt": {"groups": list(tilt_groups), "threshold_factor": "0.5", "ratio_bonus": "0.05", "cap": None}}


RESIDENT_CHRONIC = {"M03900": "0.60", "M01600": "0.60", "M00503": "0.70", "M07803": "0.90", "M07804": "0.90",
                    "M08300": "0.70"}
EMPLOYEE_CHRONIC = {"M03900": "0.75", "M01600": "0.75", "M00503": "0.85", "M07803": "0.90", "M07804": "0.90",
                    "M08300": "0.85"}

POLICIES = [
    # 330600: exactly the policies of WORKED_EXAMPLES.md (lines they do not mention are added
    # without touching the examples' numbers).
    policy("330600", "390", waiting_days=90,
           inpatient=inpatient("300.00", "600.00", "800.00", "1200.00", "0.85", "0.80", "0.70"),
           outpatient={"annual_deductible": "100.00", "ratio": ratios("0.60", "0.50", "0.40"), "annual_cap": "800.00"},
           day_surgery={"deductible": {"1": "150.00", "2": "300.00", "3": "400.00", "out_of_province": "600.00"},
                        "ratio": ratios("0.85", "0.80", "0.70"), "cap_group": "main"},
           chronic=chronic_lines(RESIDENT_CHRONIC, "6000.00"), cap_main="280000.00",
           critical_illness=critical("20000.00", "400000.00", ["tekun", "dibao"]),
           assistance={"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "50000.00"},
                       "dibao": {"annual_deductible": "300.00", "ratio": "0.70", "annual_cap": "30000.00"}}),
    policy("330600", "310", waiting_days=0,
           inpatient=inpatient("300.00", "600.00", "800.00", "1200.00", "0.85", "0.80", "0.70"),
           outpatient={"annual_deductible": "300.00", "ratio": ratios("0.75", "0.70", "0.65"), "annual_cap": "5000.00"},
           chronic=chronic_lines(EMPLOYEE_CHRONIC, "6000.00"), cap_main="50000.00", retired_bonus="0.05",
           large_amount={"ratio": "0.80", "annual_cap": "300000.00"}),
    # 650000: Xinjiang resident insurance, pooled at region level (seed 000).
    policy("650000", "390", waiting_days=90,
           inpatient=inpatient("200.00", "500.00", "800.00", "1500.00", "0.85", "0.80", "0.70"),
           outpatient={"annual_deductible": "0.00", "ratio": ratios("0.55", "0.50", "0.45"), "annual_cap": "600.00"},
           chronic=chronic_lines(RESIDENT_CHRONIC, "6000.00"), cap_main="250000.00",
           critical_illness=critical("15000.00", "400000.00", ["tekun", "dibao", "fanpin"]),
           assistance={"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "60000.00"},
                       "dibao": {"annual_deductible": "0.00", "ratio": "0.75", "annual_cap": "40000.00"},
                       "fanpin": {"annual_deductible": "500.00", "ratio": "0.60", "annual_cap": "20000.00"}}),
    # 650100: Urumqi employee insurance.
    policy("650100", "310", waiting_days=0,
           inpatient=inpatient("200.00", "400.00", "600.00", "1000.00", "0.90", "0.88", "0.85"),
           outpatient={"annual_deductible": "200.00", "ratio": ratios("0.70", "0.65", "0.60"), "annual_cap": "3000.00"},
           chronic=chronic_lines(EMPLOYEE_CHRONIC, "7000.00"), cap_main="150000.00", retired_bonus="0.05",
           large_amount={"ratio": "0.85", "annual_cap": "400000.00"},
           civil_servant={"ratio": "0.50", "annual_cap": "20000.00"}),
    # 43CZT: one policy for Changsha, Zhuzhou, Xiangtan (seed 004): same-city settlement, no filing.
    policy("43CZT", "390", waiting_days=90,
           inpatient=inpatient("200.00", "500.00", "900.00", "1500.00", "0.85", "0.75", "0.60"),
           outpatient={"annual_deductible": "50.00", "ratio": ratios("0.60", "0.50", "0.40"), "annual_cap": "500.00"},
           chronic=chronic_lines(RESIDENT_CHRONIC, "5500.00"), cap_main="200000.00",
           critical_illness=critical("15000.00", "400000.00", ["tekun", "dibao", "dibao_edge"]),
           assistance={"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "50000.00"},
                       "dibao": {"annual_deductible": "0.00", "ratio": "0.70", "annual_cap": "30000.00"},
                       "dibao_edge": {"annual_deductible": "1000.00", "ratio": "0.50", "annual_cap": "15000.00"}}),
    policy("43CZT", "310", waiting_days=0,
           inpatient=inpatient("200.00", "400.00", "800.00", "1200.00", "0.90", "0.85", "0.80"),
           outpatient={"annual_deductible": "200.00", "ratio": ratios("0.75", "0.70", "0.65"), "annual_cap": "4000.00"},
           chronic=chronic_lines(EMPLOYEE_CHRONIC, "6500.00"), cap_main="150000.00", retired_bonus="0.05",
           large_amount={"ratio": "0.85", "annual_cap": "400000.00"},
           civil_servant={"ratio": "0.50", "annual_cap": "20000.00"}),
    # 450100: Nanning (seed 002: in-policy inpatient ratio about 70%); the one supplementary plan.
    policy("450100", "390", waiting_days=90, intra_province_requires_filing=True,
           inpatient=inpatient("200.00", "500.00", "800.00", "1500.00", "0.90", "0.80", "0.70"),
           outpatient={"annual_deductible": "0.00", "ratio": ratios("0.60", "0.50", "0.40"), "annual_cap": "600.00"},
           chronic=chronic_lines(RESIDENT_CHRONIC, "6000.00"), cap_main="200000.00",
           cross={**CROSS, "intra_province": "-0.05"},
           critical_illness=critical("16000.00", "400000.00", ["tekun", "dibao", "fanpin"]),
           assistance={"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "50000.00"},
                       "dibao": {"annual_deductible": "0.00", "ratio": "0.70", "annual_cap": "30000.00"},
                       "dibao_edge": {"annual_deductible": "1000.00", "ratio": "0.50", "annual_cap": "10000.00"}},
           supplementary=[{"code": "huiguibao", "fund_pay_type": "390300", "base": "inscp_personal",
                           "annual_deductible": "20000.00", "ratio": "0.60", "annual_cap": "1000000.00"}]),
    policy("450100", "310", waiting_days=0,
           inpatient=inpatient("200.00", "600.00", "900.00", "1200.00", "0.90", "0.88", "0.85"),
           outpatient={"annual_deductible": "300.00", "ratio": ratios("0.70", "0.65", "0.60"), "annual_cap": "3000.00"},
           chronic=chronic_lines(EMPLOYEE_CHRONIC, "6000.00"), cap_main="100000.00", retired_bonus="0.05",
           large_amount={"ratio": "0.90", "annual_cap": "500000.00"},
           supplementary=[{"code": "qiye-buchong", "fund_pay_type": "370100", "base": "inscp_personal",
                           "annual_deductible": "0.00", "ratio": "0.50", "annual_cap": "10000.00"}]),
    # 150500: Tongliao, incl. Naiman banner (seed 003).
    policy("150500", "390", waiting_days=90,
           inpatient=inpatient("200.00", "400.00", "800.00", "1200.00", "0.85", "0.75", "0.65"),
           outpatient={"annual_deductible": "0.00", "ratio": ratios("0.55", "0.50", "0.45"), "annual_cap": "500.00"},
           chronic=chronic_lines(RESIDENT_CHRONIC, "5000.00"), cap_main="150000.00",
           critical_illness=critical("14000.00", "350000.00", ["tekun", "dibao", "fanpin"]),
           assistance={"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": None},
                       "dibao": {"annual_deductible": "0.00", "ratio": "0.70", "annual_cap": "20000.00"},
                       "fanpin": {"annual_deductible": "500.00", "ratio": "0.60", "annual_cap": "15000.00"}}),
    policy("150500", "310", waiting_days=0,
           inpatient=inpatient("300.00", "500.00", "800.00", "1200.00", "0.90", "0.85", "0.80"),
           outpatient={"annual_deductible": "200.00", "ratio": ratios("0.70", "0.65", "0.60"), "annual_cap": "2500.00"},
           chronic=chronic_lines(EMPLOYEE_CHRONIC, "6000.00"), cap_main="120000.00", retired_bonus="0.05",
           large_amount={"ratio": "0.85", "annual_cap": "300000.00"}),
]


def enroll(pool, insutype, psn_type, *, years=YEARS, start=None, status="active") -> list[dict]:
    """One enrollment per year offset; `start` maps an offset to a benefit_start other than 1 January."""
    return [{"pool": pool, "insutype": insutype, "year": f"{{Y{y:+d}}}" if y else "{Y}", "psn_type": psn_type,
             "benefit_start": (start or {}).get(y, year_start(y)), "benefit_end": year_end(y), "status": status}
            for y in years]


def year_start(offset: int) -> str:
    return (f"{{Y{offset:+d}}}" if offset else "{Y}") + "-01-01"


def year_end(offset: int) -> str:
    return (f"{{Y{offset:+d}}}" if offset else "{Y}") + "-12-31"


FIRST_DAY, LAST_DAY = year_start(YEARS[0]), year_end(YEARS[-1])


NO_PHONE = {"330600000000000013"}  # 许文: no phone on file (the patient sign-up cannot reach her)


def demo_phone(psn_no: str) -> str | None:
    """The demo phone on file: 139 + the psn_no's first and last four digits (unique here)."""
    return None if psn_no in NO_PHONE else f"139{psn_no[:4]}{psn_no[-4:]}"


def person(psn_no, admdvs, birth, seq, gender, name, purpose, enrollments, *, identities=(), chronic=(),
           filings=(), balance="0.00", cvlserv=False, demo=None) -> dict:
    # The 17th digit's parity is the sex: odd male ("1"), even female ("2").
    seq = f"{seq:02d}{1 if gender == '1' else 2}"
    certno = make_certno(admdvs + birth.replace("-", "") + seq)
    return {"doc": {"psn_no": psn_no, "certno": certno, "name": name, "gender": gender, "birthdate": birth,
                    "enrollments": [e for group in enrollments for e in group], "identities": list(identities),
                    "chronic": list(chronic), "filings": list(filings), "account_balance": balance,
                    "social_card": f"SC{psn_no}", "cvlserv": cvlserv,
                    **({"phone": demo_phone(psn_no)} if demo_phone(psn_no) else {})},
            "purpose": purpose, "demo": demo}


def ident(t, begin=FIRST_DAY, end=LAST_DAY):
    return {"type": t, "begin": begin, "end": end}


def qual(code, hospital, begin=FIRST_DAY, end=LAST_DAY):
    return {"code": code, "begin": begin, "end": end, "hospital": hospital}


PERSONS = [
    person("330600000000000001", "330602", "1968-04-12", 1, "1", "王建国",
           "Local resident (390, Shaoxing), no identities: inpatient stay at 绍兴市人民医院 (level 3), "
           "the DOMAIN.md §5 worked check.",
           [enroll("330600", "390", "resident")], demo="inpatient"),
    person("330600000000000002", "330602", "1961-09-03", 2, "2", "李秀英",
           "Resident on 低保 (dibao): critical-illness tilt then medical assistance (worked example A).",
           [enroll("330600", "390", "resident")], identities=[ident("dibao")]),
    person("330600000000000003", "330603", "1949-02-17", 3, "2", "张桂兰",
           "Resident 特困 (tekun): tilt and full assistance (ratio 1.00); tekun is listed before dibao.",
           [enroll("330600", "390", "resident")], identities=[ident("tekun", end=None), ident("dibao")]),
    person("330600000000000004", "330602", "1985-06-21", 4, "1", "陈志强",
           "Employee (310) with a personal account of 1500.00: ordinary outpatient visit paid partly from the account.",
           [enroll("330600", "310", "employee")], balance="1500.00", demo="outpatient"),
    person("330600000000000005", "330602", "1958-11-30", 5, "1", "刘振华",
           "Employee retiree (310, retired_bonus +0.05), account 1200.00: second admission, cap group nearly used, "
           "large-amount subsidy (worked example B).",
           [enroll("330600", "310", "retired")], balance="1200.00"),
    person("330600000000000006", "330602", "1957-07-08", 6, "2", "赵玉梅",
           "Shaoxing resident living in Xinjiang: long_term_residence filing to 65 since 10 January last year, "
           "uraemia haemodialysis M07803, dialysis at 新疆医科大学第一附属医院 under the monthly cap (worked example C).",
           [enroll("330600", "390", "resident")], chronic=[qual("M07803", "H33060200001")],
           filings=[{"type": "long_term_residence", "destination": "65", "begin": "{Y-1}-01-10", "end": None}],
           demo="dialysis"),
    person("330600000000000007", "330604", "1972-03-25", 7, "1", "孙海峰",
           "Resident with a referral filing to Changsha (430100) from 1 March to 31 August this year: "
           "referral ratio −0.10 at 湘雅医院.",
           [enroll("330600", "390", "resident")],
           filings=[{"type": "referral", "destination": "430100", "begin": "{Y}-03-01", "end": "{Y}-08-31"}]),
    person("330600000000000008", "330624", "1990-12-01", 8, "2", "周晓燕",
           "Resident travelling to Nanning without any filing: inter-province settlement refused unless emergency (then −0.10), "
           "or after a retro-filing (temporary −0.20).",
           [enroll("330600", "390", "resident")]),
    person("330600000000000009", "330681", "1955-05-16", 9, "1", "吴国平",
           "Resident with the hypertension qualification M03900 (outpatient chronic line, annual cap 3000.00).",
           [enroll("330600", "390", "resident")], chronic=[qual("M03900", "H33060200003")]),
    person("330600000000000010", "330602", "1983-08-09", 10, "2", "郑丽华",
           "Duplicate enrollment (重复参保): 390 in Shaoxing every year and 390 in Nanning from 1 March this year; "
           "settlement must use Shaoxing (earlier benefit_start).",
           [enroll("330600", "390", "resident"), enroll("450100", "390", "resident", years=(0, 1), start={0: "{Y}-03-01"})]),
    person("330600000000000011", "330603", "1979-01-14", 11, "1", "冯伟",
           "Employee (310) with account 50.00, at 越城区城南社区 (level 1): worked example D once 200.00 of this year's "
           "outpatient deductible is paid (the demo data starts every year with nothing paid).",
           [enroll("330600", "310", "employee")], balance="50.00"),
    person("330600000000000012", "330683", "2000-10-10", 12, "1", "何小军",
           "Enrolled mid-year outside the payment period: benefit_start 1 September this year (90-day waiting period), "
           "so no benefits before then this year; enrolled for all of next year.",
           [enroll("330600", "390", "resident", years=(0, 1), start={0: "{Y}-09-01"})]),
    person("330600000000000013", "330602", "1995-04-04", 13, "2", "许文",
           "Lapsed enrollment (status lapsed): not insured, every settlement refused.",
           [enroll("330600", "390", "resident", status="lapsed")]),
    person("330600000000000014", "330602", "1975-02-28", 14, "1", "钱立新",
           "Employee stationed in Hunan: stationed_work filing to 43 (long-term, no ratio cut) — treated at 株洲市中心医院.",
           [enroll("330600", "310", "employee")], balance="800.00",
           filings=[{"type": "stationed_work", "destination": "43", "begin": "{Y-1}-02-01", "end": None}]),
    person("430100000000000001", "430102", "1970-06-06", 1, "1", "黄志明",
           "Civil servant (310, cvlserv true) in the 长株潭 union: "
           "civil-servant subsidy after the basic fund and large-amount subsidy.",
           [enroll("43CZT", "310", "employee")], balance="2000.00", cvlserv=True),
    person("430100000000000002", "430102", "1966-12-12", 2, "2", "罗美玲",
           "长株潭 resident from Changsha treated at 株洲市中心医院 (another union city): local settlement, no filing needed.",
           [enroll("43CZT", "390", "resident")], identities=[ident("dibao_edge")]),
    person("650000000000000001", "650102", "1980-03-15", 1, "2", "古丽娜",
           "Xinjiang resident (region-level pool 650000) monitored against poverty relapse (fanpin): "
           "tilt and assistance in 650000.",
           [enroll("650000", "390", "resident")], identities=[ident("fanpin")]),
    person("650000000000000002", "650202", "1963-09-09", 2, "1", "买买提明",
           "Xinjiang resident in Karamay on peritoneal dialysis M07804, treated in Urumqi: same region-level pool, so local.",
           [enroll("650000", "390", "resident")], chronic=[qual("M07804", "H65020200001")]),
    person("650100000000000001", "650103", "1982-11-11", 1, "1", "艾力江",
           "Urumqi employee (pool 650100, 310 only) with account 600.00; "
           "civil-servant subsidy configured in the pool but he is not one.",
           [enroll("650100", "310", "employee")], balance="600.00"),
    person("450100000000000001", "450103", "1959-01-20", 1, "2", "覃海燕",
           "Nanning resident on dibao_edge with diabetes M01600; "
           "the 惠桂保 supplementary plan (390300) applies after critical illness.",
           [enroll("450100", "390", "resident")], identities=[ident("dibao_edge")],
           chronic=[qual("M01600", "H45010300001")]),
    person("450100000000000002", "450102", "1988-07-07", 2, "1", "韦小宝",
           "Nanning employee with the enterprise supplementary plan (370100, "
           "reported in hifes_pay) and a malignant-tumour qualification M00503.",
           [enroll("450100", "310", "employee")], balance="300.00", chronic=[qual("M00503", "H45010300001")]),
    person("150500000000000001", "150525", "1952-08-18", 1, "1", "包宝音",
           "Naiman banner (150525) resident, 特困 (tekun): tilted critical illness, assistance without a cap (Tongliao pool).",
           [enroll("150500", "390", "resident")], identities=[ident("tekun", end=None)]),
    person("150500000000000002", "150502", "1956-04-30", 2, "2", "白玉兰",
           "Tongliao employee retiree resettled in Nanning: retired_relocated filing to 450100, post-transplant M08300.",
           [enroll("150500", "310", "retired")], balance="900.00", chronic=[qual("M08300", "H15050200001")],
           filings=[{"type": "retired_relocated", "destination": "450100", "begin": "{Y-2}-06-01", "end": None}]),
]


def secret_for(code: str) -> str:
    return "demo-" + hashlib.sha256(f"medsettle-demo-{code}".encode()).hexdigest()[:40]


_YEAR_TOKEN = re.compile(r"\{Y([+-][0-9]+)?\}")


def _dated(value, year: int):
    """Replaces {Y}, {Y-1}, {Y+1} … by the year they stand for; a bare token becomes an int."""
    if isinstance(value, str):
        m = _YEAR_TOKEN.fullmatch(value)
        if m:
            return year + int(m.group(1) or 0)
        return _YEAR_TOKEN.sub(lambda t: str(year + int(t.group(1) or 0)), value)
    if isinstance(value, dict):
        return {k: _dated(v, year) for k, v in value.items()}
    if isinstance(value, list):
        return [_dated(v, year) for v in value]
    return value


def document(year: int) -> dict:
    """The demo reference document for business year `year` (last year, this year, next year)."""
    return _dated(build(), year)


def document_for_today(clock=None) -> dict:
    """The demo document for the current Beijing year (the loader, the demo and the tests use it)."""
    from services.common.clock import Clock

    return document((clock or Clock()).today().year)


def build() -> dict:
    """The document with year tokens ({Y} this year, {Y-1}, {Y+1}); `document(year)` fills them in."""
    items = list(WORKED_ITEMS.values()) + OTHER_ITEMS
    catalogues = []
    for p in POOLS:
        pool_items = [dict(it) for it in items]
        if p["code"] not in ("330600", "650000"):
            # Catalogues differ by place: a few non-worked-example items are set differently.
            for it in pool_items:
                if it["code"] == "002703000010000":
                    it["selfpay_prop"] = "0.10"
                if it["code"] == "XA10BAA001A001010101445":
                    it["price_cap"] = "0.45"
        catalogues.append({"pool": p["code"], "items": pool_items})
    return {
        "format": "medsettle.reference/v1",
        "pools": POOLS,
        "hospitals": [{"code": c, "name": n, "admdvs": a, "level": lv, "cross_province": x, "paasid": pid,
                       "secret": secret_for(c), **({"interface": INTERFACES[c]} if c in INTERFACES else {})}
                      for c, n, a, lv, x, pid in HOSPITALS],
        "catalogues": catalogues,
        "policies": [dict(p, year=f"{{Y{y:+d}}}" if y else "{Y}") for y in YEARS for p in POLICIES],
        "persons": [p["doc"] for p in PERSONS],
        "supervision": [{"pool": p["code"], "year": f"{{Y{y:+d}}}" if y else "{Y}", "on_error": "settle",
                         "rules": [dict(r, code=f"{p['code']}-{r['code']}") for r in SUPERVISION_RULES]}
                        for y in YEARS for p in POOLS],
    }


def readme_table() -> str:
    rows = ["| psn_no | certno | name | demo | what it exercises |", "|---|---|---|---|---|"]
    for p in PERSONS:
        d = p["doc"]
        rows.append(f"| {d['psn_no']} | {d['certno']} | {d['name']} | {p['demo'] or ''} | {p['purpose']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--year", type=int, help="business year of the document (default: this year in Beijing)")
    ap.add_argument("--out", help="also write the document as JSON to this file")
    args = ap.parse_args(argv)
    if args.out:
        doc = document(args.year) if args.year else document_for_today()
        Path(args.out).write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    start, end = "<!-- persons:begin -->", "<!-- persons:end -->"
    if start in text and end in text:
        text = text[: text.index(start) + len(start)] + "\n" + readme_table() + "\n" + text[text.index(end):]
        readme.write_text(text, encoding="utf-8")
    else:
        print(readme_table())


if __name__ == "__main__":
    main()
