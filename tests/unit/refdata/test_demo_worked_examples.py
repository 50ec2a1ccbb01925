"""The worked examples (docs/RULES.md (worked examples)), replayed on the demo data through the engine."""

import itertools
from decimal import Decimal

import pytest

from services.engine.model import Bill, FeeItem, PersonSnapshot, SettlementContext
from services.refdata.cli import demo_document
from tests.dates import THIS_YEAR, date, month

settle = pytest.importorskip("services.engine.settle").settle

DOC = demo_document()
POOLS = {p.code: p for p in DOC.pools}
HOSP = {h.code: h for h in DOC.hospitals}
CATS = {c.pool: c for c in DOC.catalogues}
POL = {(p.pool, p.insutype): p for p in DOC.policies if p.year == THIS_YEAR}
CODE = {"SURG": "003307020030000", "BED": "001104000010000", "STENT": "C03010101001001123456",
        "DIAL": "003105000010000", "DRUG": "XC10AAA089A001010104327"}
HSX3, HSX1, HXJ3 = HOSP["H33060200001"], HOSP["H33060200003"], HOSP["H65010200001"]
DAY = date(6, 15)


def fen(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


_ITEM_NO = itertools.count(1)  # fee item numbers, unique across the module


def item(alias, cnt, price):
    n = next(_ITEM_NO)
    amount = int((Decimal(cnt) * fen(price)).to_integral_value())
    return FeeItem(str(n), CODE[alias], Decimal(cnt), fen(price), amount)


def person(psn_no, insutype):
    p = next(p for p in DOC.persons if p.psn_no == psn_no)
    e = next(e for e in p.enrollments if e.insutype == insutype and e.year == THIS_YEAR)
    return PersonSnapshot(p.psn_no, p.name, insutype, e.psn_type, e.pool, p.identities, p.chronic,
                          p.account_balance_fen, p.cvlserv)


def ctx(psn, hospital, filing=None, acc=None):
    insured = POOLS[psn.insured_pool]
    treatment = next((p for p in DOC.pools if hospital.admdvs in p.admdvs and psn.insutype in p.insutypes), None)
    return SettlementContext(psn, insured, treatment, POL[(insured.code, psn.insutype)],
                             CATS[treatment.code], filing, dict(acc or {}))


def test_a_dibao_resident():
    r = settle(Bill("21", DAY, HSX3, (item("SURG", "1", "60000.00"), item("BED", "10", "65.00"),
                                      item("STENT", "1", "9000.00"))),
               ctx(person("330600000000000002", "390"), HSX3))
    assert (r.hifp_pay, r.hifmi_pay, r.maf_pay, r.psn_cash_pay) == (
        fen("37590.00"), fen("4491.50"), fen("8482.95"), fen("19085.55"))


def test_b_retiree():
    r = settle(Bill("21", DAY, HSX3, (item("SURG", "1", "40000.00"),), acct_used_flag=True),
               ctx(person("330600000000000005", "310"), HSX3,
                   acc={"admissions:inpatient": 1, "fund:group:main": fen("35000.00")}))
    assert (r.hifp_pay, r.hifob_pay, r.acct_pay, r.psn_cash_pay) == (
        fen("15000.00"), fen("12480.00"), fen("1200.00"), fen("11320.00"))


def test_c_long_term_dialysis_in_xinjiang():
    paid = fen("4860.00")
    r = settle(Bill("14", date(5, 20), HXJ3, (item("DIAL", "6", "450.00"),), disease_code="M07803"),
               ctx(person("330600000000000006", "390"), HXJ3, filing="long_term",
                   acc={f"fund:month:chronic:M07803:{month(5)}": paid, "fund:group:main": paid}))
    assert r.region_class == "inter_province"
    assert (r.hifp_pay, r.psn_cash_pay) == (fen("1140.00"), fen("1560.00"))


def test_d_employee_outpatient():
    r = settle(Bill("11", DAY, HSX1, (item("DRUG", "28", "12.50"), item("STENT", "1", "40.00")),
                    acct_used_flag=True),
               ctx(person("330600000000000011", "310"), HSX1, acc={"dedc:outpatient": fen("200.00")}))
    assert (r.act_pay_dedc, r.hifp_pay, r.acct_pay, r.psn_cash_pay) == (
        fen("100.00"), fen("174.38"), fen("50.00"), fen("165.62"))
