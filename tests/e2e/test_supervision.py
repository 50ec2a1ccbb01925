"""Fund supervision through the HIS interface (docs/SUPERVISION.md, the demo rules of
infra/reference/make_demo.py): 3101 before, 3102 during, findings on 2204 and 2207, a blocked
item settled as self-pay as the explanation says, a blocked visit refused with the rule's code,
and the reviewers' alerts over REST."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from decimal import Decimal

import pytest

from gateway.console.accounts import Actor, Console
from gateway.console.repository import ConsoleRepository
from gateway.his.contract import load_spec, problems
from services.common.clock import Clock
from services.common.ids import make_certno
from tests.e2e.conftest import now_text, this_year
from tests.e2e.demo import document

pytestmark = pytest.mark.e2e

SX3, SX2 = "H33060200001", "H33060200002"
PSA, CONSULT, NIFE = "002503000010000", "001102000010000", "XC08CAA015A001010104563"
KW = {"insuplc_admdvs": "330600"}


def ok(reply: dict) -> dict:
    assert reply["infcode"] == 0, reply["err_msg"]
    return reply["output"]


def fee(sn: str, mdtrt_id: str, psn_no: str, code: str, pric: str, cnt: str = "1") -> dict:
    amount = (Decimal(pric) * Decimal(cnt)).quantize(Decimal("0.01"))
    return {"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "B1", "fee_ocur_time": now_text(-1),
            "med_list_codg": code, "medins_list_codg": "HOSP-" + code[:8], "det_item_fee_sumamt": str(amount),
            "cnt": cnt, "pric": pric}


def _certno(gender: str) -> tuple[str, str]:
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=random.randrange(18_000))
    digit = random.choice("13579" if gender == "1" else "02468")
    return make_certno(f"330602{birth:%Y%m%d}{random.randrange(100):02d}{digit}"), birth.isoformat()


async def new_person(admin, gender: str) -> tuple[str, str]:
    """(psn_no, certno) of a new 390 resident of 330600 of this gender, for this test only."""
    psn_no = "T" + "".join(random.choice("0123456789") for _ in range(17))
    certno, birth = _certno(gender)
    for year in (this_year() - 1, this_year()):
        body = {"psn_no": psn_no, "pool": "330600", "insutype": "390", "year": year, "psn_type": "resident",
                "benefit_start": f"{year}-01-01", "benefit_end": f"{year}-12-31", "status": "active",
                "certno": certno, "name": "监管" + psn_no[-4:], "gender": gender, "birthdate": birth}
        async with admin.post("/api/v1/admin/enrollments", json=body) as r:
            assert r.status in (200, 201), await r.text()
    return psn_no, certno


async def register(his, psn_no: str, certno: str) -> str:
    return ok(await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                               "ipt_otp_no": "MZ" + his.last_msgid[-10:], "mdtrt_cert_type": "02",
                                               "mdtrt_cert_no": certno}}, **KW))["data"]["mdtrt_id"]


def settle_data(psn_no: str, certno: str, mdtrt_id: str, total: str) -> dict:
    return {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "med_type": "11",
                     "medfee_sumamt": total, "psn_setlway": "01", "acct_used_flag": "0", "mdtrt_cert_type": "02",
                     "mdtrt_cert_no": certno}}


def audit_input(psn_no: str, mdtrt_id: str, orders: list[dict], gend: str = "2") -> dict:
    return {"data": {"trig_scen": "1", "patient_dtos": [{
        "patn_id": psn_no, "patn_name": "x", "gend": gend, "brdy": "1980-01-01", "poolarea": "330600",
        "curr_mdtrt_id": mdtrt_id, "fsi_encounter_dtos": [{
            "mdtrt_id": mdtrt_id, "medins_id": SX3, "medins_name": "绍兴市人民医院", "medins_admdvs": "330602",
            "medins_type": "1", "medins_lv": "11", "adm_date": now_text(-1), "dscg_date": now_text(-1),
            "dscg_main_dise_codg": "I10", "dscg_main_dise_name": "高血压", "med_mdtrt_type": "1", "med_type": "11",
            "insutype": "390", "fsi_diagnose_dtos": [], "fsi_order_dtos": orders}]}]}}


def order(rx_id: str, code: str, cnt: str, sumamt: str) -> dict:
    return {"rx_id": rx_id, "rxno": rx_id, "long_drord_flag": "0", "hilist_type": "0", "chrg_type": "14",
            "drord_bhvr": "0", "hilist_code": code, "hilist_name": code, "hilist_lv": "01", "hilist_pric": sumamt,
            "hosplist_code": code, "hosplist_name": code, "cnt": cnt, "pric": sumamt, "sumamt": sumamt,
            "ownpay_amt": "0", "selfpay_amt": "0", "spec": "", "spec_unt": "", "drord_begn_date": now_text(-1),
            "drord_dept_codg": "A01", "drord_dept_name": "内科", "drord_dr_codg": "D1", "drord_dr_name": "医生",
            "drord_dr_profttl": "234", "curr_drord_flag": "1"}


async def test_3101_before_names_the_rule_per_item_in_the_spec_shape(his_factory, admin):
    his = await his_factory(SX3)
    psn_no, _ = await new_person(admin, "2")
    out = ok(await his.call("3101", audit_input(psn_no, "NEW-VISIT", [
        order("RX1", PSA, "1", "80.00"), order("RX2", NIFE, "10", "5.00"), order("RX3", CONSULT, "1", "20.00")])))
    assert problems(out, load_spec()["transactions"]["3101"]["output"]) == []
    got = {(r["rule_id"], r["feedetl_sn"]): r for r in out["result"]}
    assert set(got) == {("330600-SEX-01", "RX1"), ("330600-QTY-01", "RX2")}
    sex = got[("330600-SEX-01", "RX1")]
    assert sex["sev_deg"] == "1" and sex["action"] == "self_pay" and sex["vola_amt"] == Decimal("80.00")
    assert "限男性" in sex["vola_cont"] and sex["judge_result_detail_dtos"][0]["rx_id"] == "RX1"
    assert sex["vola_bhvr_type"] == "2" and sex["patn_id"] == psn_no
    # a man may have the PSA test: nothing found for it
    man, _ = await new_person(admin, "1")
    out = ok(await his.call("3101", audit_input(man, "NEW-VISIT", [order("RX1", PSA, "1", "80.00")], gend="1")))
    assert out["result"] == []


async def test_a_blocked_item_is_self_pay_at_settlement_and_the_explanation_says_which_rule(his_factory, admin):
    his = await his_factory(SX3)
    psn_no, certno = await new_person(admin, "2")
    mdtrt_id = await register(his, psn_no, certno)
    up = ok(await his.call("2204", {"feedetail": [fee("F1", mdtrt_id, psn_no, CONSULT, "20.00"),
                                                  fee("F2", mdtrt_id, psn_no, PSA, "80.00")]}, **KW))
    memo = {r["feedetl_sn"]: r["memo"] for r in up["result"]}
    assert "330600-SEX-01" in memo["F2"] and memo["F1"] == ""
    assert [(r["rule_id"], r["feedetl_sn"], r["action"]) for r in up["supervision"]] == [
        ("330600-SEX-01", "F2", "self_pay")]
    # 3102 on the registered visit: the same item finding, from the uploaded fees
    during = ok(await his.call("3102", audit_input(psn_no, mdtrt_id, [])))
    assert [(r["rule_id"], r["feedetl_sn"]) for r in during["result"]] == [("330600-SEX-01", "F2")]
    pre = ok(await his.call("2206", settle_data(psn_no, certno, mdtrt_id, "100.00"), **KW))
    setl = ok(await his.call("2207", settle_data(psn_no, certno, mdtrt_id, "100.00"), **KW))
    for out in (pre, setl):
        s = out["setlinfo"]
        assert s["fulamt_ownpay_amt"] == Decimal("80.00") and s["inscp_scp_amt"] == Decimal("20.00")
        assert [(r["rule_id"], r["action"]) for r in out["supervision"]] == [("330600-SEX-01", "self_pay")]
        step = next(e for e in out["explanation"] if e["code"] == "supervision")
        assert "330600-SEX-01" in step["text"] and "80.00" in step["text"] and "F2" in step["text"]
    # the same bill for a man: the PSA test is in policy (class 甲), nothing self-pay
    man, man_cert = await new_person(admin, "1")
    m_id = await register(his, man, man_cert)
    up = ok(await his.call("2204", {"feedetail": [fee("F1", m_id, man, CONSULT, "20.00"),
                                                  fee("F2", m_id, man, PSA, "80.00")]}, **KW))
    assert "supervision" not in up
    s = ok(await his.call("2207", settle_data(man, man_cert, m_id, "100.00"), **KW))
    assert s["setlinfo"]["fulamt_ownpay_amt"] == Decimal("0.00") and "supervision" not in s


async def test_a_settlement_after_the_registered_death_is_refused_with_the_rules_code(his_factory, admin):
    his = await his_factory(SX3)
    certno, birth = _certno("1")
    psn_no = "T" + "".join(random.choice("0123456789") for _ in range(17))
    year = this_year()
    doc = {"format": "medsettle.reference/v1",
           "pools": [p for p in document()["pools"] if p["code"] == "330600"],
           "persons": [{"psn_no": psn_no, "certno": certno, "name": "亡故" + psn_no[-4:], "gender": "1",
                        "birthdate": birth,
                        "death_date": (dt.date.fromisoformat(now_text(-1)[:10]) - dt.timedelta(days=3)).isoformat(),
                        "enrollments": [{"pool": "330600", "insutype": "390", "year": y, "psn_type": "resident",
                                         "benefit_start": f"{y}-01-01", "benefit_end": f"{y}-12-31",
                                         "status": "active"} for y in (year - 1, year)]}]}
    async with admin.post("/api/v1/admin/reference", json=doc) as r:
        assert r.status == 200, await r.text()
    mdtrt_id = await register(his, psn_no, certno)
    ok(await his.call("2204", {"feedetail": [fee("F1", mdtrt_id, psn_no, CONSULT, "20.00")]}, **KW))
    during = ok(await his.call("3102", audit_input(psn_no, mdtrt_id, [], gend="1")))
    assert [(r["rule_id"], r["action"], r["vola_bhvr_type"]) for r in during["result"]] == [
        ("330600-DEATH-01", "refused", "1")]
    reply = await his.call("2207", settle_data(psn_no, certno, mdtrt_id, "20.00"), **KW)
    assert reply["infcode"] != 0 and "330600-DEATH-01" in reply["err_msg"] and "死亡" in reply["err_msg"]
    q = await his.call("5203", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "setl_id": ""}})
    assert q["infcode"] != 0  # nothing was booked


PARA = "XN02BEA001A001010100678"


async def test_after_the_event_alerts_and_their_review(his_factory, admin, db_pool, suite):
    from services.refdata.cache import ReferenceCache
    from services.settlement.supervise import supervise

    his = await his_factory(SX3)
    psn_no, certno = await new_person(admin, "1")
    mdtrt_id = await register(his, psn_no, certno)
    ok(await his.call("2204", {"feedetail": [fee("F1", mdtrt_id, psn_no, CONSULT, "20.00"),
                                             fee("F2", mdtrt_id, psn_no, PARA, "0.50", "40")]}, **KW))
    setl = ok(await his.call("2207", settle_data(psn_no, certno, mdtrt_id, "40.00"), **KW))
    assert [(r["rule_id"], r["action"]) for r in setl["supervision"]] == [("330600-QTY-02", "flagged")]
    assert setl["setlinfo"]["fulamt_ownpay_amt"] == Decimal("0.00")  # a warning changes no money
    # the death is registered with the bureau after the settlement (a day before the visit)
    visit_day = dt.date.fromisoformat(now_text(-1)[:10])
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        base = (await r.json())["baseinfo"]
    year = this_year()
    doc = {"format": "medsettle.reference/v1", "pools": [p for p in document()["pools"] if p["code"] == "330600"],
           "persons": [{"psn_no": psn_no, "certno": certno, "name": base["psn_name"], "gender": "1",
                        "birthdate": base["brdy"], "death_date": (visit_day - dt.timedelta(days=1)).isoformat(),
                        "enrollments": [{"pool": "330600", "insutype": "390", "year": y, "psn_type": "resident",
                                         "benefit_start": f"{y}-01-01", "benefit_end": f"{y}-12-31",
                                         "status": "active"} for y in (year - 1, year)]}]}
    async with admin.post("/api/v1/admin/reference", json=doc) as r:
        assert r.status == 200, await r.text()
    refs = await ReferenceCache.load(db_pool)
    since = visit_day - dt.timedelta(days=1)
    first = await supervise(db_pool, refs, since, visit_day + dt.timedelta(days=1))
    mine = sorted(a.pattern for a in first.alerts if a.psn_no == psn_no)
    assert mine == ["after_death", "finding:quantity"]
    again = await supervise(db_pool, refs, since, visit_day + dt.timedelta(days=1))
    assert again.new == 0  # dedup keys: a re-run adds nothing

    async with admin.get("/api/v1/admin/alerts", params={"psn_no": psn_no, "status": "open"}) as r:
        assert r.status == 200
        alerts = {a["pattern"]: a for a in (await r.json())["alerts"]}
    assert set(alerts) == {"after_death", "finding:quantity"}
    death = alerts["after_death"]
    assert death["rule_code"] == "330600-DEATH-01" and death["setl_ids"] == [setl["setlinfo"]["setl_id"]]
    assert death["evidence"]["death_date"] == (visit_day - dt.timedelta(days=1)).isoformat()
    assert death["amount"] == str(setl["setlinfo"]["fund_pay_sumamt"])
    url = f"/api/v1/admin/alerts/{death['alert_id']}/review"
    console = Console(repo=ConsoleRepository(db_pool), clock=Clock())
    auditor, auditor_name = await _api(suite, console, "auditor")
    reviewer, who = await _api(suite, console, "reviewer")
    second, second_name = await _api(suite, console, "reviewer")
    try:
        async with auditor.get("/api/v1/admin/alerts", params={"psn_no": psn_no}) as r:
            assert r.status == 200 and len((await r.json())["alerts"]) == 2  # reading: every role
        async with auditor.post(url, json={"status": "confirmed", "note": "x"}) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "FORBIDDEN_ROLE"  # deciding: reviewer
        async with reviewer.post(url, json={"status": "confirmed"}) as r:
            assert r.status == 400 and (await r.json())["error"]["field"] == "note"
        async with reviewer.post(url, json={"status": "closed", "note": "x"}) as r:
            assert r.status == 400 and (await r.json())["error"]["field"] == "status"
        # the reviewer is the token's account, whatever the body says
        async with reviewer.post(url, json={"status": "confirmed", "reviewer": "someone else",
                                            "note": "死亡后冒用，追回基金"}) as r:
            assert r.status == 200, await r.text()
            done = await r.json()
        assert (done["status"], done["reviewer"], done["note"]) == ("confirmed", who, "死亡后冒用，追回基金")
        assert done["reviewed_at"]
        async with second.post(url, json={"status": "dismissed", "note": "改判"}) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "ALERT_ALREADY_REVIEWED"
    finally:
        for s in (auditor, reviewer, second):
            await s.close()
    # every decision asked for is in the console's audit log, refused ones too
    log = await console.repo.audit_log(action="alert.review")
    mine = [(e.actor, e.outcome, e.detail.get("decision"), e.detail.get("status")) for e in log
            if e.target == death["alert_id"]]
    assert sorted(mine) == sorted([(who, "refused", "confirmed", 400), (who, "refused", "closed", 400),
                                   (who, "ok", "confirmed", 200),
                                   (second_name, "refused", "dismissed", 409)])
    assert "forbidden" in {e.action for e in await console.repo.audit_log(actor=auditor_name)}
    async with admin.get(f"/api/v1/admin/alerts/{death['alert_id']}") as r:
        assert (await r.json())["status"] == "confirmed"
    async with admin.get("/api/v1/admin/alerts/ALNOSUCH") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "ALERT_NOT_FOUND"
    async with admin.get("/api/v1/admin/alerts", headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401
    rows = await db_pool.fetch("SELECT who, from_status, to_status FROM supervision.alert_events WHERE alert_id = $1",
                               death["alert_id"])
    assert [tuple(r) for r in rows] == [(who, "open", "confirmed")]


async def _api(suite, console, role: str):
    """An aiohttp session carrying the API token of a new operator account of `role`, and its name."""
    import aiohttp

    name = f"{role[:3]}{secrets.token_hex(4)}"
    await console.create_operator(Actor("admin", "admin", "cli"), name, role, f"Test {role}",
                                  "pw-" + secrets.token_urlsafe(12))
    token = await console.create_token(Actor(name, role, "cli"), "test")
    return aiohttp.ClientSession(base_url=suite.gateway_url, headers={"Authorization": f"Bearer {token}"}), name
