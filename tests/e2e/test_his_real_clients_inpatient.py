"""Real HIS clients, as they are (docs/HIS_INTERFACE.md §1-§4), run the INPATIENT flow over HTTP.

9001 -> 1101 -> 2401 -> 2301 (two days) -> 2402 -> 2303 -> 2304 -> 5203 -> 2305 -> 9002, for a fresh
resident (accumulators empty) at a demo hospital that allows both profiles (H33060200002), played the
ways real clients send it, four times:

| client | profile        | Content-Type | msgid                   | 9001 input | sign_no sent        |
|--------|----------------|--------------|-------------------------|------------|---------------------|
| A      | api_hmac_sha1  | text/plain   | uuid4().hex[:30]        | signIn{}   | "null"              |
| B      | api_hmac_sha1  | (none)       | a 26-character ULID     | data{}     | the key left out    |
| C      | tif            | text/plain   | an unpadded sequence    | flat       | the live sign_no    |
| D      | tif            | (none)       | uuid4().hex[:30]        | data{}     | "null"              |

Every call: `input` as a JSON string holding the object, `opter_type` the JSON number 1, no
`mdtrtarea_admvs`, the path main + /{infno} (2304 and 2305 leave `infno` out of the envelope: the
path fills it in). Every reply is HTTP 200, every output walks clean against the spec
(contract.problems(out, output_nodes(infno)) == []), and money arrives as JSON numbers with two
decimals, in the bytes. The figures are docs/RULES.md §5's inpatient worked check.

With MEDSETTLE_HIS_TRACE_DIR set, each client's requests and replies are written there as it sent
and received them (`<client>.jsonl`, one exchange a line): the traces of docs/HIS_INTEGRATORS.md.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.his import jsonnum
from gateway.his.contract import output_nodes, problems
from gateway.hisclient import CALL_SERVICE_PATH, HisClient
from services.common.clock import Clock
from tests.e2e.conftest import fresh_person, now_text
from tests.e2e.demo import hospital
from tests.e2e.test_his_flows import BED, STENT, assert_identities, fee

pytestmark = pytest.mark.e2e

BOTH = "H33060200002"    # 绍兴市中医院, level 3, 330602: interface auth [tif, api_hmac_sha1], lenient, optional
TRACE_DIR = os.environ.get("MEDSETTLE_HIS_TRACE_DIR")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MONEY_TOKEN = re.compile(r"-?[0-9]+\.[0-9]{2}")
MONEY = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
         "act_pay_dedc", "hifp_pay", "fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay",
         "hosp_part_amt", "balc", "fund_payamt", "det_item_fee_sumamt", "pric", "psn_pay", "cash_payamt")


def ulid() -> str:
    """A 26-character ULID (48-bit milliseconds + 80 random bits, Crockford base32)."""
    n = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


class RealClient(HisClient):
    """HisClient with a 26-character msgid style and a recorder of what went over the wire."""

    def __init__(self, *a, msgid_maker=None, trace_name: str | None = None, **kw):
        super().__init__(*a, **kw)
        self.msgid_maker = msgid_maker
        self.trace = Path(TRACE_DIR) / f"{trace_name}.jsonl" if TRACE_DIR and trace_name else None
        if self.trace is not None:
            self.trace.parent.mkdir(parents=True, exist_ok=True)
            self.trace.write_text("")

    def new_msgid(self) -> str:
        return self.msgid_maker() if self.msgid_maker else super().new_msgid()

    async def post(self, path, body, headers=None):
        headers = self.headers() if headers is None else headers
        sent = body if isinstance(body, (bytes, str)) else jsonnum.dumps(body)  # the bytes HisClient sends
        status, reply = await super().post(path, sent, headers)
        if self.trace is not None:
            with self.trace.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"captured": Clock().now().strftime("%Y-%m-%d %H:%M:%S"), "path": path,
                                    "headers": dict(headers), "status": status, "body": sent if isinstance(sent, str)
                                    else sent.decode("utf-8", "replace"), "reply": self.last_text},
                                   ensure_ascii=False) + "\n")
        return status, reply


CLIENTS = {
    "A": dict(auth="api_hmac_sha1", content_type="text/plain", msgid_style="uuid", shape="signIn",
              empty_sign_no="null", send_sign_no=False),
    "B": dict(auth="api_hmac_sha1", content_type=None, msgid_maker=ulid, shape="data",
              empty_sign_no=None, send_sign_no=False),
    "C": dict(auth="tif", content_type="text/plain", msgid_style="seq", shape="flat",
              empty_sign_no="null", send_sign_no=True),
    "D": dict(auth="tif", content_type=None, msgid_style="uuid", shape="data",
              empty_sign_no="null", send_sign_no=False),
}
SIGN_OUT_NODE = {"signIn": "signOut", "data": "data"}


def msgid_shape(name: str, msgid: str) -> bool:
    if name in ("A", "D"):
        return re.fullmatch(r"[0-9a-f]{30}", msgid) is not None
    if name == "B":
        return len(msgid) == 26 and set(msgid) <= set(CROCKFORD)
    return msgid.isdigit() and not msgid.startswith("0") and len(msgid) < 30


def walk(his: RealClient, infno: str, reply: dict) -> dict:
    """An accepted reply: HTTP 200, infcode 0, an output whole by the spec, money as numbers."""
    assert his.last_status == 200
    assert reply["infcode"] == 0, (infno, reply["err_msg"])
    out = reply["output"]
    assert problems(out, output_nodes(infno)) == [], infno
    for name in MONEY:
        for token in re.findall(rf'"{name}":(-?[0-9][0-9.eE+-]*|"[^"]*"|null)', his.last_text):
            assert MONEY_TOKEN.fullmatch(token), (infno, name, token)
    return out


async def _certno(admin, psn_no: str) -> str:
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        assert r.status == 200, await r.text()
        return (await r.json())["baseinfo"]["certno"]


def _as_sent(his: RealClient, name: str):
    """call() as this client sends every transaction (the JSON-string input, opter_type 1, no
    mdtrtarea_admvs, main path + /{infno}); `bare=True` also leaves `infno` out of the envelope."""

    async def call(infno: str, input: dict, *, bare: bool = False, **kw) -> dict:
        omit = ("mdtrtarea_admvs", "infno") if bare else ("mdtrtarea_admvs",)
        reply = await his.call(infno, input, path=f"{CALL_SERVICE_PATH}/{infno}", input_as_string=True,
                               opter_type=1, omit=omit, **kw)
        assert msgid_shape(name, his.last_msgid), his.last_msgid
        return reply

    return call


@pytest.mark.parametrize("name", sorted(CLIENTS))
async def test_a_real_client_runs_the_inpatient_flow_unchanged(suite, admin, name):
    opts = dict(CLIENTS[name])
    shape = opts.pop("shape")
    h = hospital(BOTH)
    psn_no = await fresh_person(admin)  # resident 390 of pool 330600, nothing paid yet this year
    certno = await _certno(admin, psn_no)
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}
    async with RealClient(suite.gateway_url, fixmedins_code=h["code"], paasid=h["paasid"], secret=h["secret"],
                          admdvs=h["admdvs"], fixmedins_name=h["name"], trace_name=name, **opts) as his:
        call = _as_sent(his, name)
        node = {"opter_no": his.opter, "mac": "00-00-00-00-00-00", "ip": "127.0.0.1"}
        out = walk(his, "9001", await call("9001", node if shape == "flat" else {shape: node}))
        assert out["signinoutb"] == out["result"] and len(out["signinoutb"]["sign_no"]) == 30
        sign_no = his.sign_no = out["signinoutb"]["sign_no"]

        info = walk(his, "1101", await call("1101", {"data": {**cert, "card_sn": "null", "begntime": now_text()}}))
        assert info["baseinfo"]["psn_no"] == psn_no and info["baseinfo"]["certno"] == certno
        assert {i["insutype"] for i in info["insuinfo"]} == {"390"}

        adm = walk(his, "2401", await call("2401", {"mdtrtinfo": {
            "psn_no": psn_no, "insutype": "390", "begntime": now_text(-50), **cert, "med_type": "21",
            "ipt_no": "ZY" + his.last_msgid[-10:], "atddr_no": "NULL", "adm_dept_codg": "A03",
            "adm_dept_name": "心内科", "adm_bed": "12", "dise_codg": "I21.000"},
            "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "I21.000", "diag_name": "急性心肌梗死"}]}))
        mdtrt_id = adm["result"]["mdtrt_id"]
        assert adm["result"]["psn_no"] == psn_no

        day1 = walk(his, "2301", await call("2301", {"feedetail": [
            fee("D1-1", mdtrt_id, psn_no, BED, "50.00", "175", now_text(-40)),
            fee("D1-2", mdtrt_id, psn_no, STENT, "2500.00", "1", now_text(-40))]}))
        by_sn = {r["feedetl_sn"]: r for r in day1["result"]}
        assert by_sn["D1-1"]["inscp_scp_amt"] == Decimal("8750.00") and by_sn["D1-1"]["cnt"] == 175
        assert by_sn["D1-2"]["fulamt_ownpay_amt"] == Decimal("2500.00")
        assert '"det_item_fee_sumamt":8750.00' in his.last_text and '"pric":2500.00' in his.last_text
        day2 = walk(his, "2301", await call("2301", {"feedetail": [
            fee("D2-1", mdtrt_id, psn_no, BED, "50.00", "175", now_text(-20))]}))
        assert [r["inscp_scp_amt"] for r in day2["result"]] == [Decimal("8750.00")]

        walk(his, "2402", await call("2402", {"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "insutype": "390",
                                                           "endtime": now_text(-1), "dise_codg": "I21.000",
                                                           "dscg_way": "1"}}))

        data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "medfee_sumamt": "20000.00",
                "psn_setlway": "01", "acct_used_flag": "0", "mid_setl_flag": "0", **cert}
        pre = walk(his, "2303", await call("2303", {"data": data}))["setlinfo"]
        assert pre["setl_id"] == "" and pre["medins_setl_id"] == his.last_msgid
        settle_input = {"data": {**data, "fulamt_ownpay_amt": "2500.00", "overlmt_selfpay": "0.00",
                                 "preselfpay_amt": "0.00", "inscp_scp_amt": "17500.00", "invono": "null"}}
        setl = walk(his, "2304", await call("2304", settle_input, bare=True))
        s, msgid_2304, text_2304 = setl["setlinfo"], his.last_msgid, his.last_text
        assert setl["replayed"] is False and s["setl_id"].startswith("S")
        # the lenient msgid is the idempotency key: a retry (re-signed) returns the stored settlement
        again = walk(his, "2304", await call("2304", settle_input, bare=True, msgid=msgid_2304))
        assert again["replayed"] is True and again["setlinfo"]["setl_id"] == s["setl_id"]

        q = walk(his, "5203", await call("5203", {"data": {"psn_no": psn_no, "setl_id": s["setl_id"],
                                                           "mdtrt_id": mdtrt_id}}))["setlinfo"]
        c = walk(his, "2305", await call("2305", {"data": {"setl_id": s["setl_id"], "mdtrt_id": mdtrt_id,
                                                           "psn_no": psn_no}}, bare=True))["setlinfo"]

        out_input = {"sign_no": sign_no, "opter_no": his.opter}
        bye = walk(his, "9002", await call("9002", out_input if shape == "flat" else {SIGN_OUT_NODE[shape]: out_input}))
        assert len(bye["signoutoutb"]["sign_time"]) == 19
        dead = await call("5203", {"data": {"psn_no": psn_no, "setl_id": s["setl_id"]}}, sign_no=sign_no)
        assert his.last_status == 200 and dead["infcode"] == -1
        assert dead["output"] == {"outcome": "NOT_SIGNED_IN", "retriable": False, "field": "sign_no"}, dead

    # docs/RULES.md §5 worked check: resident, city level 3, deductible 800.00, ratio 70%: in-policy
    # 17,500.00 of a 20,000.00 bill (the stent's 2,500.00 is class 丙) -> act_pay_dedc 800.00,
    # hifp_pay (17,500.00 - 800.00) x 0.70 = 11,690.00, the patient 8,310.00 in cash.
    for row in (pre, s, q):
        assert_identities(row)
        assert (row["medfee_sumamt"], row["inscp_scp_amt"], row["fulamt_ownpay_amt"]) == (
            Decimal("20000.00"), Decimal("17500.00"), Decimal("2500.00"))
        assert (row["act_pay_dedc"], row["hifp_pay"], row["fund_pay_sumamt"]) == (
            Decimal("800.00"), Decimal("11690.00"), Decimal("11690.00"))
        assert (row["psn_part_amt"], row["acct_pay"], row["psn_cash_pay"]) == (
            Decimal("8310.00"), Decimal("0.00"), Decimal("8310.00"))
    assert_identities(c)
    for k in ("medfee_sumamt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "fund_pay_sumamt", "psn_part_amt",
              "psn_cash_pay"):
        assert c[k] == -s[k], k
    assert s["clr_type"] == "21" and s["psn_type"] == "1701" and s["certno"] == certno
    assert s["medins_setl_id"] == q["medins_setl_id"] == msgid_2304 and q["setl_id"] == s["setl_id"]
    assert c["setl_id"].startswith("R") and c["reverses_setl_id"] == s["setl_id"]
    assert '"medfee_sumamt":20000.00' in text_2304 and '"hifp_pay":11690.00' in text_2304
    assert all(isinstance(s[k], Decimal) for k in MONEY if k in s)


# ----------------------------------------------------------------------------- still refused, HTTP 200

STRICT = "H33060200001"  # 绍兴市人民医院: auth [tif], msgid strict, sign_in required


def _client(base_url: str, code: str, **kw) -> RealClient:
    h = hospital(code)
    return RealClient(base_url, fixmedins_code=h["code"], paasid=h["paasid"], secret=h["secret"], admdvs=h["admdvs"],
                      fixmedins_name=h["name"], **kw)


async def test_what_a_real_client_still_gets_refused_names_the_field(suite, admin):
    """What the tolerant reading does not stretch to, each an HTTP 200 failure envelope naming the field
    (with MEDSETTLE_HIS_TRACE_DIR set, the err_msgs are written to refusals.jsonl for the docs)."""
    import uuid

    from gateway.hisclient import api_headers

    psn_no = await fresh_person(admin)
    certno = await _certno(admin, psn_no)
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}
    seen: list[dict] = []

    def refused(case: str, his: RealClient, reply: dict, outcome: str, field: str | None) -> None:
        assert his.last_status == 200, case
        assert reply["infcode"] == -1 and reply["output"]["outcome"] == outcome, (case, reply)
        assert reply["output"].get("field") == field, (case, reply)
        assert reply["err_msg"].startswith(f"[{outcome}]") and "Traceback" not in reply["err_msg"], case
        seen.append({"case": case, "outcome": outcome, "field": field, "err_msg": reply["err_msg"]})

    async with _client(suite.gateway_url, BOTH, **{k: v for k, v in CLIENTS["A"].items() if k != "shape"}) as his:
        adm_input = {"mdtrtinfo": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-30), **cert,
                                   "med_type": "21", "ipt_no": "ZY-R" + his.new_msgid()[:8]}}
        reg = await his.call("2401", adm_input)
        assert reg["infcode"] == 0, reg["err_msg"]
        mdtrt_id, msgid_2401 = reg["output"]["result"]["mdtrt_id"], his.last_msgid
        rows = {"feedetail": [fee("R1", mdtrt_id, psn_no, BED, "50.00", "2", now_text(-20))]}
        assert (await his.call("2301", rows))["infcode"] == 0
        data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "medfee_sumamt": "100.00",
                "psn_setlway": "01", "acct_used_flag": "0", **cert}

        refused("opter_type 9", his, await his.call("1101", {"data": cert}, opter_type=9), "INVALID_INPUT",
                "opter_type")
        refused("a whole 36-character UUID as msgid", his, await his.call("1101", {"data": cert},
                                                                         msgid=str(uuid.uuid4())),
                "INVALID_INPUT", "msgid")
        refused("mdtrtarea_admvs of 5 digits", his, await his.call("1101", {"data": cert}, mdtrtarea_admvs="33060"),
                "INVALID_INPUT", "mdtrtarea_admvs")
        refused("a required field sent as \"null\"", his,
                await his.call("2303", {"data": {**data, "psn_no": "null"}}), "INVALID_INPUT", "input.data.psn_no")
        env = his.envelope("1101", {"data": cert})
        env["input"] = '{"data": '
        refused("input a broken JSON string", his, await his.send(env), "INVALID_INPUT", "input")
        refused("a flag as a JSON number", his, await his.call("2303", {"data": {**data, "acct_used_flag": 0}}),
                "INVALID_INPUT", "input.data.acct_used_flag")
        refused("feedetl_sn as the JSON number 0 (a number is taken only as 1..15 digits)", his,
                await his.call("2301", {"feedetail": [{**rows["feedetail"][0], "feedetl_sn": 0}]}),
                "INVALID_INPUT", "input.feedetail[0].feedetl_sn")
        refused("money with three decimals", his,
                await his.call("2303", {"data": {**data, "medfee_sumamt": "100.005"}}), "INVALID_INPUT",
                "input.data.medfee_sumamt")
        mismatch = await his.call("2303", {"data": {**data, "medfee_sumamt": "99.00"}})
        refused("medfee_sumamt not the stay's fees", his, mismatch, "MEDFEE_MISMATCH",
                mismatch["output"].get("field"))
        refused("the msgid of the 2401 again, with another request", his,
                await his.call("2401", {"mdtrtinfo": {**adm_input["mdtrtinfo"], "ipt_no": "ZY-OTHER"}},
                               msgid=msgid_2401), "MSGID_CONFLICT", "msgid")
        refused("a sign_no never issued", his,
                await his.call("1101", {"data": cert}, sign_no=f"{now_text()[:4]}0101000000deadbeefdeadbeef"),
                "NOT_SIGNED_IN", "sign_no")
        seconds = his.headers(timestamp_ms=int(time.time()))
        refused("_api_timestamp in seconds", his, await his.send(his.envelope("1101", {"data": cert}),
                                                                  headers=seconds), "STALE_TIMESTAMP",
                "_api_timestamp")
        wrong = his.headers()
        wrong["_api_signature"] = api_headers(his.paasid, "not-the-secret-" * 3,
                                              timestamp_ms=int(wrong["_api_timestamp"]))["_api_signature"]
        refused("a wrong secret", his, await his.send(his.envelope("1101", {"data": cert}), headers=wrong),
                "BAD_SIGNATURE", None)  # no field: a prober learns nothing
    async with _client(suite.gateway_url, STRICT, auth="api_hmac_sha1") as strict:
        reply = await strict.call("9001", {"signIn": {"opter_no": "op001"}})
        refused("api_hmac_sha1 at a TIF-only hospital", strict, reply, "AUTH_PROFILE_NOT_ALLOWED",
                reply["output"].get("field"))
        assert "accepts: tif" in reply["err_msg"]
    _write_refusals(seen)


def _write_refusals(seen: list[dict]) -> None:
    if TRACE_DIR:
        Path(TRACE_DIR, "refusals.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                             for r in seen), encoding="utf-8")
