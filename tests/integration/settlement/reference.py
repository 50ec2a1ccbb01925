"""Reference data of the settlement tests (and of loadtest/bench_settlement.py), importable
without pytest: a document in the shape of REFERENCE_DATA.md, policies as in WORKED_EXAMPLES.md.

Two documents, in fictitious provinces no other test or the demo data uses:
- `reference_document()`: pools 910600 / 920000 / 930100 (provinces 91, 92, 93), for the tests
  whose eligibility and filing answers come from a stand-in server with fixed data;
- `upstream_reference_document()`: pools 940100 / 950100 (provinces 94, 95), for the tests that
  run the real eligibility and filing servicers (persons stored through the eligibility
  repository, filings made through the filing service).
"""

from __future__ import annotations

import copy

from tests.dates import THIS_YEAR

POOL_A, POOL_B, POOL_C = "910600", "920000", "930100"
H_A3 = "H91060200003"   # pool A, level 3
H_A1 = "H91060200001"   # pool A, level 1
H_A_RECON = "H91060200009"  # pool A, level 3, used only by the reconciliation test
H_B3 = "H92010200003"   # pool B, level 3
H_C3 = "H93010200003"   # pool C, level 3

CATALOGUE = [
    {"code": "SURG", "name": "手术", "kind": "service", "class": "02", "selfpay_prop": "0.10"},
    {"code": "BED", "name": "床位费", "kind": "service", "class": "01", "price_cap": "50.00"},
    {"code": "STENT", "name": "进口支架", "kind": "material", "class": "03"},
    {"code": "DIAL", "name": "血液透析", "kind": "service", "class": "01"},
    {"code": "DRUG", "name": "乙类药品", "kind": "drug", "class": "02", "selfpay_prop": "0.05"},
]
CROSS = {"long_term": "0", "referral": "-0.10", "emergency": "-0.10", "temporary": "-0.20", "intra_province": "0"}
INPATIENT = {"deductible": {"1": "300.00", "2": "600.00", "3": "800.00", "out_of_province": "1200.00"},
             "repeat_factor": "0.5", "ratio": {"1": "0.85", "2": "0.80", "3": "0.70"}, "cap_group": "main"}
RESIDENT = {
    "insutype": "390", "year": THIS_YEAR, "waiting_days": 90, "intra_province_requires_filing": False,
    "lines": {"inpatient": INPATIENT,
              "outpatient": {"annual_deductible": "100.00", "ratio": {"1": "0.60", "2": "0.50", "3": "0.40"},
                             "annual_cap": "800.00"},
              "chronic:M07803": {"annual_deductible": "0.00", "ratio": {"1": "0.90", "2": "0.90", "3": "0.90"},
                                 "monthly_cap": "6000.00", "cap_group": "main"}},
    "cap_groups": {"main": "280000.00"}, "retired_bonus": "0.00", "cross_region": CROSS,
    "large_amount": None, "civil_servant": None,
    "critical_illness": {"threshold": "20000.00", "bands": [{"upto": "100000.00", "ratio": "0.60"},
                                                              {"upto": None, "ratio": "0.70"}],
                         "annual_cap": "400000.00",
                         "tilt": {"groups": ["tekun", "dibao"], "threshold_factor": "0.5", "ratio_bonus": "0.05",
                                  "cap": None}},
    "assistance": {"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "50000.00"},
                   "dibao": {"annual_deductible": "300.00", "ratio": "0.70", "annual_cap": "30000.00"}},
    "supplementary": []}
EMPLOYEE = {
    "insutype": "310", "year": THIS_YEAR, "waiting_days": 0, "intra_province_requires_filing": False,
    "lines": {"inpatient": INPATIENT,
              "outpatient": {"annual_deductible": "300.00", "ratio": {"1": "0.75", "2": "0.70", "3": "0.65"},
                             "annual_cap": "5000.00"}},
    "cap_groups": {"main": "50000.00"}, "retired_bonus": "0.05", "cross_region": CROSS,
    "large_amount": {"ratio": "0.80", "annual_cap": "300000.00"}, "civil_servant": None,
    "critical_illness": None, "assistance": {}, "supplementary": []}


def _hospital(code: str, admdvs: str, level: int) -> dict:
    return {"code": code, "name": f"测试医院{code}", "admdvs": admdvs, "level": level, "cross_province": True,
            "paasid": f"test-setl-{code.lower()}", "secret": "test-settlement-secret-0123456789abcdef"}


def reference_document() -> dict:
    policies = []
    for pool in (POOL_A, POOL_B, POOL_C):
        for base in (RESIDENT, EMPLOYEE):
            p = copy.deepcopy(base)
            p["pool"] = pool
            policies.append(p)
    return {
        "format": "medsettle.reference/v1",
        "pools": [
            {"code": POOL_A, "name": "测试甲市", "insutypes": ["310", "390"], "admdvs": ["910600", "910602"]},
            {"code": POOL_B, "name": "测试乙区", "insutypes": ["310", "390"], "admdvs": ["920000", "920102"]},
            {"code": POOL_C, "name": "测试丙市", "insutypes": ["310", "390"], "admdvs": ["930100", "930102"]},
        ],
        "hospitals": [_hospital(H_A3, "910602", 3), _hospital(H_A1, "910602", 1), _hospital(H_A_RECON, "910602", 3),
                      _hospital(H_B3, "920102", 3), _hospital(H_C3, "930102", 3)],
        "catalogues": [{"pool": p, "items": CATALOGUE} for p in (POOL_A, POOL_B, POOL_C)],
        "policies": policies,
    }


# ----------------------------------------------------------------------------- real upstream

POOL_R, POOL_S = "940100", "950100"   # provinces 94 and 95: inter-province to each other
H_R3 = "H94010200003"   # pool R, level 3
H_R1 = "H94010200001"   # pool R, level 1
H_S3 = "H95010200003"   # pool S, level 3


def upstream_reference_document() -> dict:
    policies = []
    for pool in (POOL_R, POOL_S):
        for base in (RESIDENT, EMPLOYEE):
            p = copy.deepcopy(base)
            p["pool"] = pool
            policies.append(p)
    return {
        "format": "medsettle.reference/v1",
        "pools": [
            {"code": POOL_R, "name": "测试丁市", "insutypes": ["310", "390"], "admdvs": ["940100", "940102"]},
            {"code": POOL_S, "name": "测试戊市", "insutypes": ["310", "390"], "admdvs": ["950100", "950102"]},
        ],
        "hospitals": [_hospital(H_R3, "940102", 3), _hospital(H_R1, "940102", 1), _hospital(H_S3, "950102", 3)],
        "catalogues": [{"pool": p, "items": CATALOGUE} for p in (POOL_R, POOL_S)],
        "policies": policies,
    }
