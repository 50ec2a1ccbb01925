"""冒名就医 closed (issue #16, DOMAIN.md §6a), end to end over HTTP against the whole suite: every
transaction that names both a certificate and a psn_no (1101, 2201, 2401, 2206, 2207, 2303,
2304) finds they are the same person, else a clear refusal naming the field and writing nothing;
an e-voucher token is scanned once (1101), at one hospital, and bound to that hospital's one
visit; 5206 is answered to a hospital only for a person it treats.

Tokens come from the eligibility service's internal IssueEvoucher (gRPC on the suite's port)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.e2e.conftest import fresh_person, now_text, row_counts

pytestmark = pytest.mark.e2e

H = "H33060200003"       # the hospital the visits are at
OTHER = "H33060200002"   # another hospital of the same city
DRUG = "XC10AAA089A001010104327"
KW = {"insuplc_admdvs": "330600"}


def ok(reply: dict) -> dict:
    assert reply["infcode"] == 0, reply["err_msg"]
    return reply["output"]


def refused(reply: dict, outcome: str, field: str) -> str:
    assert reply["infcode"] != 0, reply
    msg = reply["err_msg"]
    assert f"[{outcome}]" in msg and field in msg, msg
    return msg


async def issue_token(suite, psn_no: str) -> str:
    from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc
    from services.common.grpcutil import channel

    ch = channel(suite.settings.eligibility_addr)
    try:
        ev = await eligibility_pb2_grpc.EligibilityServiceStub(ch).IssueEvoucher(
            eligibility_pb2.IssueEvoucherRequest(psn_no=psn_no), timeout=5)
        return ev.token
    finally:
        await ch.close()


async def person(suite, admin, *, card: bool = True) -> dict:
    """A fresh insured person with (card=True) a social card and its card_sn on file."""
    from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc
    from services.common.grpcutil import channel

    psn_no = await fresh_person(admin)
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        certno = (await r.json())["baseinfo"]["certno"]
    out = {"psn_no": psn_no, "certno": certno, "card": f"C{psn_no[1:]}", "card_sn": f"SN{psn_no[-6:]}"}
    if card:
        conn = await asyncpg.connect(suite.database_url)
        try:
            await conn.execute("UPDATE eligibility.persons SET social_card = $2, card_sn = $3 WHERE psn_no = $1",
                               psn_no, out["card"], out["card_sn"])
        finally:
            await conn.close()
        ch = channel(suite.settings.eligibility_addr)
        try:
            await eligibility_pb2_grpc.EligibilityServiceStub(ch).InvalidatePerson(
                eligibility_pb2.InvalidatePersonRequest(psn_no=psn_no), timeout=5)
        finally:
            await ch.close()
    return out


def id_cert(p: dict) -> dict:
    return {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"]}


def card_cert(p: dict, card_sn: str | None = None) -> dict:
    return {"mdtrt_cert_type": "03", "mdtrt_cert_no": p["card"], "card_sn": card_sn or p["card_sn"]}


def token_cert(token: str) -> dict:
    return {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}


def outpatient(psn_no: str, cert: dict, tag: str) -> dict:
    return {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-2), "ipt_otp_no": "MZ" + tag,
                     "med_type": "11", "dept_code": "A01", "dept_name": "内科", **cert}}


def admission(psn_no: str, cert: dict, tag: str) -> dict:
    return {"mdtrtinfo": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-30), "med_type": "21",
                          "ipt_no": "ZY" + tag, "atddr_no": "D001", "chfpdr_name": "医生", "adm_dept_codg": "A03",
                          "adm_dept_name": "心内科", "adm_bed": "12", "dise_codg": "I21.000", **cert},
            "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "I21.000", "diag_name": "急性心肌梗死"}]}


def fee(sn: str, mdtrt_id: str, psn_no: str) -> dict:
    return {"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "B" + sn,
            "fee_ocur_time": now_text(-1.5), "med_list_codg": DRUG, "medins_list_codg": "HOSP-XC10AAA0",
            "det_item_fee_sumamt": "25.00", "cnt": "2", "pric": "12.50"}


def settle_data(psn_no: str, mdtrt_id: str, cert: dict, *, inpatient: bool = False) -> dict:
    d = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "medfee_sumamt": "25.00", "psn_setlway": "01",
         "acct_used_flag": "0", **cert}
    if inpatient:
        d["mid_setl_flag"] = "0"
    else:
        d["med_type"] = "11"
    return {"data": d}


async def open_visits(his, b: dict) -> tuple[str, str]:
    """B's outpatient visit and admission (discharged) at H, registered with B's ID number, fees uploaded."""
    out = ok(await his.call("2201", outpatient(b["psn_no"], id_cert(b), his.new_msgid()[-10:]), **KW))["data"]
    ok(await his.call("2204", {"feedetail": [fee("O1", out["mdtrt_id"], b["psn_no"])]}, **KW))
    adm = ok(await his.call("2401", admission(b["psn_no"], id_cert(b), his.new_msgid()[-10:]), **KW))["result"]
    ok(await his.call("2301", {"feedetail": [fee("I1", adm["mdtrt_id"], b["psn_no"])]}, **KW))
    ok(await his.call("2402", {"dscginfo": {"mdtrt_id": adm["mdtrt_id"], "psn_no": b["psn_no"], "insutype": "390",
                                            "endtime": now_text(-1), "dise_codg": "I21.000", "dscg_way": "1"}}, **KW))
    return out["mdtrt_id"], adm["mdtrt_id"]


async def test_each_transaction_refuses_another_persons_certificate_and_writes_nothing(suite, admin, his_factory):
    his = await his_factory(H)
    a, b = await person(suite, admin), await person(suite, admin)
    out_id, adm_id = await open_visits(his, b)
    a_token = await issue_token(suite, a["psn_no"])
    wrong = [(id_cert(a), "CERT_PERSON_MISMATCH", "mdtrt_cert_no"),
             (card_cert(a), "CERT_PERSON_MISMATCH", "mdtrt_cert_no"),
             (token_cert(a_token), "EVOUCHER_OTHER_PERSON", "mdtrt_cert_no"),
             (card_cert(b, "WRONG-SN"), "CARD_SN_MISMATCH", "card_sn")]
    before = await row_counts(suite.database_url, H)
    for cert, outcome, field in wrong:
        tag = his.new_msgid()[-10:]
        for infno, body in (("2201", outpatient(b["psn_no"], cert, tag)), ("2401", admission(b["psn_no"], cert, tag)),
                            ("2206", settle_data(b["psn_no"], out_id, cert)),
                            ("2207", settle_data(b["psn_no"], out_id, cert)),
                            ("2303", settle_data(b["psn_no"], adm_id, cert, inpatient=True)),
                            ("2304", settle_data(b["psn_no"], adm_id, cert, inpatient=True))):
            msg = refused(await his.call(infno, body, **KW), outcome, field)
            assert a["certno"] not in msg and a_token not in msg, msg
    assert await row_counts(suite.database_url, H) == before, "a refused request wrote something"
    # A's token was refused before anything recorded it: A can still present it
    info = ok(await his.call("1101", {"data": {**token_cert(a_token), "begntime": now_text()}}))
    assert info["baseinfo"]["psn_no"] == a["psn_no"]
    # B's own certificates are accepted on the same visits
    ok(await his.call("2206", settle_data(b["psn_no"], out_id, card_cert(b)), **KW))
    ok(await his.call("2207", settle_data(b["psn_no"], out_id, id_cert(b)), **KW))
    ok(await his.call("2303", settle_data(b["psn_no"], adm_id, card_cert(b), inpatient=True), **KW))
    ok(await his.call("2304", settle_data(b["psn_no"], adm_id, id_cert(b), inpatient=True), **KW))


async def test_1101_with_psn_no_of_b_and_a_certificate_of_a_is_refused(suite, admin, his_factory):
    his = await his_factory(H)
    a, b = await person(suite, admin), await person(suite, admin)
    refused(await his.call("1101", {"data": {"psn_no": b["psn_no"], **id_cert(a), "begntime": now_text()}}),
            "CERT_PERSON_MISMATCH", "mdtrt_cert_no")
    refused(await his.call("1101", {"data": {"psn_no": b["psn_no"], **token_cert(await issue_token(suite, a["psn_no"])),
                                             "begntime": now_text()}}), "EVOUCHER_OTHER_PERSON", "mdtrt_cert_no")
    info = ok(await his.call("1101", {"data": {"psn_no": b["psn_no"], **id_cert(b), "begntime": now_text()}}))
    assert info["baseinfo"]["psn_no"] == b["psn_no"]


async def test_a_token_is_scanned_once_at_one_hospital_and_bound_to_one_visit(suite, admin, his_factory):
    his, other = await his_factory(H), await his_factory(OTHER)
    a = await person(suite, admin, card=False)
    token = await issue_token(suite, a["psn_no"])
    ok(await his.call("1101", {"data": {**token_cert(token), "begntime": now_text()}}))
    refused(await his.call("1101", {"data": {**token_cert(token), "begntime": now_text()}}),
            "EVOUCHER_USED", "mdtrt_cert_no")  # replayed
    before_other = await row_counts(suite.database_url, OTHER)
    refused(await other.call("2201", outpatient(a["psn_no"], token_cert(token), other.new_msgid()[-10:]), **KW),
            "EVOUCHER_OTHER_HOSPITAL", "mdtrt_cert_no")
    assert await row_counts(suite.database_url, OTHER) == before_other
    # registration with the token; a retry with the same msgid passes and replays the same visit
    env = his.envelope("2201", outpatient(a["psn_no"], token_cert(token), his.new_msgid()[-10:]), **KW)
    first = ok(await his.send(env))["data"]
    again = ok(await his.send(env))["data"]
    assert again["mdtrt_id"] == first["mdtrt_id"]
    visit1 = first["mdtrt_id"]
    # the same token at registration → settlement passes
    ok(await his.call("2204", {"feedetail": [fee("T1", visit1, a["psn_no"])]}, **KW))
    ok(await his.call("2206", settle_data(a["psn_no"], visit1, token_cert(token)), **KW))
    ok(await his.call("2207", settle_data(a["psn_no"], visit1, token_cert(token)), **KW))
    # a second visit (registered with the ID number) cannot use the token bound to visit 1
    visit2 = ok(await his.call("2201", outpatient(a["psn_no"], id_cert(a), his.new_msgid()[-10:]), **KW))["data"]
    ok(await his.call("2204", {"feedetail": [fee("T2", visit2["mdtrt_id"], a["psn_no"])]}, **KW))
    before = await row_counts(suite.database_url, H)
    refused(await his.call("2207", settle_data(a["psn_no"], visit2["mdtrt_id"], token_cert(token)), **KW),
            "EVOUCHER_OTHER_VISIT", "mdtrt_cert_no")
    refused(await his.call("2201", outpatient(a["psn_no"], token_cert(token), his.new_msgid()[-10:]), **KW),
            "EVOUCHER_OTHER_VISIT", "mdtrt_cert_no")
    assert await row_counts(suite.database_url, H) == before


async def test_a_forged_token_is_refused_at_1101_2201_and_2207(suite, admin, his_factory):
    his = await his_factory(H)
    a = await person(suite, admin, card=False)
    token = await issue_token(suite, a["psn_no"])
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    before = await row_counts(suite.database_url, H)
    refused(await his.call("1101", {"data": {**token_cert(forged), "begntime": now_text()}}),
            "EVOUCHER_INVALID", "mdtrt_cert_no")
    refused(await his.call("2201", outpatient(a["psn_no"], token_cert(forged), his.new_msgid()[-10:]), **KW),
            "EVOUCHER_INVALID", "mdtrt_cert_no")
    assert await row_counts(suite.database_url, H) == before


async def test_5206_is_answered_only_for_a_person_the_hospital_treats(suite, admin, his_factory):
    his, other = await his_factory(H), await his_factory(OTHER)
    a, b = await person(suite, admin, card=False), await person(suite, admin, card=False)
    ok(await his.call("2201", outpatient(a["psn_no"], id_cert(a), his.new_msgid()[-10:]), **KW))

    def ask(psn_no: str) -> dict:
        return {"data": {"psn_no": psn_no, "insutype": "390"}}

    assert ok(await his.call("5206", ask(a["psn_no"]), **KW))["psn_no"] == a["psn_no"]  # an open visit here
    not_here = refused(await other.call("5206", ask(a["psn_no"]), **KW), "NOT_TREATED_HERE", "psn_no")
    unknown = refused(await other.call("5206", ask("T99999999999999999"), **KW), "NOT_TREATED_HERE", "psn_no")
    assert not_here == unknown, "the refusal must not tell whether the person exists"
    refused(await his.call("5206", ask(b["psn_no"]), **KW), "NOT_TREATED_HERE", "psn_no")
    # a certificate presented at 1101 lets the hospital ask
    ok(await his.call("1101", {"data": {**id_cert(b), "begntime": now_text()}}))
    assert ok(await his.call("5206", ask(b["psn_no"]), **KW))["psn_no"] == b["psn_no"]
