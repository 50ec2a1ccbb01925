"""HIS transactions end to end over HTTP against the whole suite (real processes, demo data)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.e2e.conftest import fresh_person, now_text
from tests.e2e.demo import person

pytestmark = pytest.mark.e2e

SX3 = "H33060200001"          # 绍兴市人民医院, level 3, 330602
XJ3 = "H65010200001"          # 新疆医科大学第一附属医院, level 3, 650102
BED, STENT, DIAL, DRUG = "001104000010000", "C03010101001001123456", "003105000010000", "XC10AAA089A001010104327"


def ok(reply: dict) -> dict:
    assert reply["infcode"] == 0, reply["err_msg"]
    return reply["output"]


def y(s: str) -> Decimal:
    return Decimal(s)


def assert_identities(s: dict) -> None:
    assert y(s["medfee_sumamt"]) == y(s["fulamt_ownpay_amt"]) + y(s["overlmt_selfpay"]) + y(s["preselfpay_amt"]) \
        + y(s["inscp_scp_amt"])
    assert y(s["medfee_sumamt"]) == y(s["fund_pay_sumamt"]) + y(s["psn_part_amt"]) + y(s["hosp_part_amt"])
    assert y(s["psn_part_amt"]) == y(s["acct_pay"]) + y(s["psn_cash_pay"])
    funds = ("hifp_pay", "cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay")
    assert y(s["fund_pay_sumamt"]) == sum(y(s[k]) for k in funds)


def fee(sn: str, mdtrt_id: str, psn_no: str, code: str, pric: str, cnt: str, when: str) -> dict:
    amount = (Decimal(pric) * Decimal(cnt)).quantize(Decimal("0.01"))
    return {"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "B" + sn, "fee_ocur_time": when,
            "med_list_codg": code, "medins_list_codg": "HOSP-" + code[:8], "det_item_fee_sumamt": str(amount),
            "cnt": cnt, "pric": pric}


async def test_outpatient_flow_1101_to_2208(his_factory):
    his = await his_factory(SX3)
    p = person("330600000000000004")  # employee with a personal account
    psn_no, certno = p["psn_no"], p["certno"]
    info = ok(await his.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno,
                                               "begntime": now_text()}}))
    assert info["baseinfo"]["psn_no"] == psn_no and info["baseinfo"]["certno"] == certno
    ins = {i["insutype"]: i for i in info["insuinfo"]}
    assert "310" in ins and Decimal(ins["310"]["balc"]) >= 0
    kw = {"insuplc_admdvs": "330600"}
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}
    reg = ok(await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "310", "begntime": now_text(-1),
                                              "ipt_otp_no": "MZ" + his.last_msgid[-10:], "dept_code": "A01",
                                              "dept_name": "内科", **cert}}, **kw))["data"]
    mdtrt_id = reg["mdtrt_id"]
    assert mdtrt_id and reg["psn_no"] == psn_no
    ok(await his.call("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "11",
                                             "begntime": now_text(-1), "dise_codg": "J06.900", "dise_name": "上感"},
                               "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J06.900",
                                             "diag_name": "急性上呼吸道感染"}]}, **kw))
    fees = ok(await his.call("2204", {"feedetail": [
        fee("F1", mdtrt_id, psn_no, DRUG, "12.50", "28", now_text(-1)),
        fee("F2", mdtrt_id, psn_no, STENT, "40.00", "1", now_text(-1))]}, **kw))
    by_sn = {r["feedetl_sn"]: r for r in fees["result"]}
    assert by_sn["F1"]["preselfpay_amt"] == Decimal("17.50") and by_sn["F1"]["inscp_scp_amt"] == Decimal("332.50")
    assert by_sn["F2"]["fulamt_ownpay_amt"] == Decimal("40.00") and by_sn["F2"]["chrgitm_lv"] == "03"
    data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "310", "med_type": "11", "medfee_sumamt": "390.00",
            "psn_setlway": "01", "acct_used_flag": "1", "chrg_bchno": "B1", **cert}
    pre = ok(await his.call("2206", {"data": data}, **kw))
    assert_identities(pre["setlinfo"])
    settle_input = {"data": {**data, "fulamt_ownpay_amt": "40.00", "overlmt_selfpay": "0.00",
                             "preselfpay_amt": "17.50", "inscp_scp_amt": "332.50", "invono": "INV1"}}
    setl = ok(await his.call("2207", settle_input, **kw))
    s = setl["setlinfo"]
    assert_identities(s)
    assert s["setl_id"] and s["medfee_sumamt"] == Decimal("390.00") and s["mdtrt_id"] == mdtrt_id
    for k in ("hifp_pay", "act_pay_dedc", "psn_part_amt"):
        assert s[k] == pre["setlinfo"][k], k  # pre-settlement said what settlement did
    assert {d["fund_pay_type"] for d in setl["setldetail"]} >= {"310100"}
    msgid_2207 = his.last_msgid
    # a retried 2207 (same msgid, same body) returns the stored settlement, never a second one
    again = ok(await his.call("2207", settle_input, msgid=msgid_2207, **kw))
    assert again["setlinfo"]["setl_id"] == s["setl_id"] and again["replayed"] is True
    # the same msgid with a different body is refused, naming the msgid
    conflict = await his.call("2207", {"data": {**data, "invono": "INV2"}}, msgid=msgid_2207, **kw)
    assert conflict["infcode"] == -1 and conflict["output"]["field"] == "msgid"
    q = ok(await his.call("5203", {"data": {"psn_no": psn_no, "setl_id": s["setl_id"], "mdtrt_id": mdtrt_id}}, **kw))
    assert q["setlinfo"]["setl_id"] == s["setl_id"] and q["setlinfo"]["hifp_pay"] == s["hifp_pay"]
    cancel = ok(await his.call("2208", {"data": {"setl_id": s["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no}}, **kw))
    c = cancel["setlinfo"]
    assert c["medfee_sumamt"] == Decimal("-390.00") and y(c["hifp_pay"]) == -y(s["hifp_pay"])
    assert y(c["acct_pay"]) == -y(s["acct_pay"])
    # cancelling twice is refused, clearly
    twice = await his.call("2208", {"data": {"setl_id": s["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no}}, **kw)
    assert twice["infcode"] == -1 and twice["err_msg"]


async def test_inpatient_stay_worked_check(his_factory, admin):
    """docs/RULES.md §5 worked check: resident, city level-3, deductible 800, ratio 70%: in-policy 17,500.00 of a
    20,000.00 bill -> act_pay_dedc 800.00, hifp_pay 11,690.00, patient 8,310.00."""
    his = await his_factory(SX3)
    psn_no = await fresh_person(admin)
    kw = {"insuplc_admdvs": "330600"}
    adm = ok(await his.call("2401", {"mdtrtinfo": {
        "psn_no": psn_no, "insutype": "390", "begntime": now_text(-50), "mdtrt_cert_type": "02",
        "mdtrt_cert_no": (await _certno(admin, psn_no)), "med_type": "21", "ipt_no": "ZY" + his.last_msgid[-10:],
        "atddr_no": "D001", "chfpdr_name": "医生", "adm_dept_codg": "A03", "adm_dept_name": "心内科", "adm_bed": "12",
        "dise_codg": "I21.000"}, "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "I21.000",
                                              "diag_name": "急性心肌梗死"}]}, **kw))["result"]
    mdtrt_id = adm["mdtrt_id"]
    day1 = ok(await his.call("2301", {"feedetail": [fee("D1-1", mdtrt_id, psn_no, BED, "50.00", "175", now_text(-40)),
                                                    fee("D1-2", mdtrt_id, psn_no, STENT, "2500.00", "1", now_text(-40))]},
                             **kw))
    assert len(day1["result"]) == 2
    ok(await his.call("2301", {"feedetail": [fee("D2-1", mdtrt_id, psn_no, BED, "50.00", "175", now_text(-20))]}, **kw))
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": await _certno(admin, psn_no)}
    data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "medfee_sumamt": "20000.00",
            "psn_setlway": "01", "acct_used_flag": "0", "mid_setl_flag": "0", **cert}
    # Pre-settlement before discharge (docs/RULES.md §4 order): it computes and writes nothing that moves money.
    pre = ok(await his.call("2303", {"data": data}, **kw))["setlinfo"]
    # Settlement itself needs the discharge first (or an interim mid_setl_flag).
    early = await his.call("2304", {"data": data}, **kw)
    assert early["infcode"] == -1 and "2402" in early["err_msg"]
    ok(await his.call("2402", {"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "insutype": "390",
                                            "endtime": now_text(-1), "dise_codg": "I21.000", "dscg_way": "1"}}, **kw))
    s = ok(await his.call("2304", {"data": data}, **kw))["setlinfo"]
    assert_identities(s)
    assert (s["medfee_sumamt"], s["inscp_scp_amt"], s["fulamt_ownpay_amt"]) == (y("20000.00"), y("17500.00"),
                                                                                y("2500.00"))
    assert (s["act_pay_dedc"], s["hifp_pay"], s["psn_part_amt"]) == (y("800.00"), y("11690.00"), y("8310.00"))
    assert pre["hifp_pay"] == s["hifp_pay"]
    assert s["clr_type"] == "21"


async def _certno(admin, psn_no: str) -> str:
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        assert r.status == 200, await r.text()
        return (await r.json())["baseinfo"]["certno"]


async def test_out_of_province_dialysis_for_a_long_term_filer_then_2601_reversal(his_factory):
    """Worked example C's person at HXJ3 this month: long-term filing, r = 0.90, no deductible."""
    his = await his_factory(XJ3)
    p = person("330600000000000006")
    psn_no, certno = p["psn_no"], p["certno"]
    kw = {"insuplc_admdvs": "330600"}
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}
    mdtrt_id = ok(await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-2),
                                                   "ipt_otp_no": "MZ" + his.last_msgid[-10:], **cert}},
                                 **kw))["data"]["mdtrt_id"]
    ok(await his.call("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "14",
                                             "dise_codg": "M07803", "dise_name": "尿毒症透析"}}, **kw))
    ok(await his.call("2204", {"feedetail": [fee("X1", mdtrt_id, psn_no, DIAL, "450.00", "6", now_text(-2))]}, **kw))
    data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "med_type": "14", "medfee_sumamt": "2700.00",
            "psn_setlway": "01", "acct_used_flag": "0", **cert}
    s = ok(await his.call("2207", {"data": data}, **kw))["setlinfo"]
    msgid = his.last_msgid
    assert_identities(s)
    assert s["region_class"] == "inter_province" and s["filing_group"] == "long_term"
    assert s["inscp_scp_amt"] == Decimal("2700.00") and s["act_pay_dedc"] == Decimal("0.00")
    assert s["hifp_pay"] == Decimal("2430.00"), "2700.00 x 0.90 under a fresh monthly cap of 6000.00"
    rev = ok(await his.call("2601", {"data": {"psn_no": psn_no, "omsgid": msgid, "oinfno": "2207"}}, **kw))
    assert rev["data"]["omsgid"] == msgid
    assert rev["setlinfo"]["hifp_pay"] == Decimal("-2430.00")
    again = await his.call("2601", {"data": {"psn_no": psn_no, "omsgid": msgid, "oinfno": "2207"}}, **kw)
    assert again["infcode"] == -1 or again["output"]["data"]["omsgid"] == msgid  # refused or the stored reply


async def test_referral_filing_2501_then_2601_and_online_filing(his_factory, admin, suite):
    his = await his_factory(SX3)
    psn_no = await fresh_person(admin)
    kw = {"insuplc_admdvs": "330600"}
    today = dt.date.fromisoformat(now_text()[:10])
    out = ok(await his.call("2501", {"refmedin": {
        "psn_no": psn_no, "insutype": "390", "diag_code": "C34.900", "diag_name": "肺癌", "reflin_medins_no":
        "H43010200001", "mdtrtarea_admdvs": "430100", "refl_type": "1", "refl_date": today.isoformat(),
        "begndate": today.isoformat(), "enddate": (today + dt.timedelta(days=180)).isoformat()}}, **kw))
    filing_id = out["result"]["trt_dcla_detl_sn"]
    assert filing_id
    msgid = his.last_msgid
    rev = ok(await his.call("2601", {"data": {"psn_no": psn_no, "omsgid": msgid, "oinfno": "2501"}}, **kw))
    assert rev["data"]["trt_dcla_detl_sn"] == filing_id
    async with admin.get(f"/api/v1/persons/{psn_no}/filings?all=1") as r:
        filings = (await r.json())["filings"]
    assert [f["status"] for f in filings if f["filing_id"] == filing_id] != ["active"]

    # The public online-filing endpoint is gone (issue #16): anyone could file for anyone. Online
    # filing is the signed-in patient's, under /m/ (tests/e2e/test_portal.py); nothing is written here.
    import aiohttp
    async with aiohttp.ClientSession(base_url=suite.gateway_url) as anon:
        async with anon.post("/api/v1/filings", json={"psn_no": psn_no, "insutype": "390", "type": "temporary",
                                                      "destination": "45", "begin": today.isoformat(),
                                                      "end": (today + dt.timedelta(days=179)).isoformat()}) as r:
            assert r.status == 404, await r.text()
    async with admin.get(f"/api/v1/persons/{psn_no}/filings?all=1") as r:
        assert [f for f in (await r.json())["filings"] if f["source"] == "online"] == []


async def test_reconciliation_3201_3202_and_clearing(his_factory, admin):
    his = await his_factory("H33060200003")
    today = now_text()[:10]
    base = {"insutype": "310", "clr_type": "11", "setl_optins": "330600", "stmt_begndate": today,
            "stmt_enddate": today}
    first = ok(await his.call("3201", {"data": {**base, "medfee_sumamt": "0.01", "fund_pay_sumamt": "0.00",
                                                "acct_pay": "0.00", "fixmedins_setl_cnt": "999999"}}))
    assert first["stmtinfo"]["stmt_rslt"] == "1" and first["stmtinfo"]["stmt_rslt_dscr"]
    plat = first["platform"]
    agree = ok(await his.call("3201", {"data": {**base, "medfee_sumamt": plat["medfee_sumamt"],
                                                "fund_pay_sumamt": plat["fund_pay_sumamt"],
                                                "acct_pay": plat["acct_pay"],
                                                "fixmedins_setl_cnt": str(plat["setl_cnt"])}}))
    assert agree["stmtinfo"]["stmt_rslt"] == "0", agree
    detail = ok(await his.call("3202", {"data": {"stmt_begndate": today, "stmt_enddate": today}, "detail": [
        {"setl_id": "NO-SUCH-SETTLEMENT", "mdtrt_id": "M0", "psn_no": "330600000000000011", "medfee_sumamt": "10.00",
         "fund_pay_sumamt": "5.00", "acct_pay": "0.00", "refd_setl_flag": "0"}]}))
    row = [r for r in detail["result"] if r["setl_id"] == "NO-SUCH-SETTLEMENT"][0]
    assert row["stmt_rslt"] == "2" and detail["disagreed"] >= 1
    first_of_month = dt.date.fromisoformat(today).replace(day=1)
    month = (first_of_month - dt.timedelta(days=1)).strftime("%Y%m")  # a month that has ended
    async with admin.post("/api/v1/admin/clearing-runs", json={"setlym": month}) as r:
        run = await r.json()
        assert r.status == 201, run
    async with admin.post("/api/v1/admin/clearing-runs", json={"setlym": month}) as r:
        again = await r.json()
    assert again["run_id"] == run["run_id"] and again["replayed"] is True
    for pos in run["positions"]:
        assert y(pos["net"]) == y(pos["receivable"]) - y(pos["payable"])
    async with admin.post("/api/v1/admin/clearing-runs", json={"setlym": f"{month[:4]}-{month[4:]}"}) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "setlym"


async def test_2001_applies_the_settlement_rules_filing_and_line_funds(his_factory):
    """DOMAIN.md §6a over HTTP, on the demo data: the eligibility process asks the filing process
    about a cross-region visit, as settlement does. Before: 2001 said 390100 "may receive benefits"
    for 周晓燕's unfiled admission in Nanning (2207 refuses it NOT_FILED) and listed critical
    illness (390200) for an ordinary outpatient visit."""
    nanning = await his_factory("H45010300001")
    walker = person("330600000000000008")  # Shaoxing resident in Nanning, no filing

    async def trt(his, psn_no: str, med_type: str) -> list[tuple[str, str, str]]:
        out = ok(await his.call("2001", {"data": {"psn_no": psn_no, "insutype": "390", "med_type": med_type,
                                                   "begntime": now_text()}}))
        return [(r["fund_pay_type"], r["trt_enjymnt_flag"], r["trt_chk_rslt"]) for r in out["trtinfo"]]

    rows = await trt(nanning, walker["psn_no"], "21")
    assert [(code, flag) for code, flag, _ in rows] == [("390100", "0")], rows
    assert "NOT_FILED" in rows[0][2] and "2501" in rows[0][2]
    rows = await trt(nanning, walker["psn_no"], "13")  # emergency rescue is deemed filed; outpatient line
    assert [(code, flag) for code, flag, _ in rows] == [("390100", "1")], rows
    shaoxing = await his_factory(SX3)
    local = person("330600000000000001")
    assert [(c, f) for c, f, _ in await trt(shaoxing, local["psn_no"], "11")] == [("390100", "1")]
    assert [(c, f) for c, f, _ in await trt(shaoxing, local["psn_no"], "21")] == [("390100", "1"), ("390200", "1")]
