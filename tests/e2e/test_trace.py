"""One HIS settlement request yields one trace: gateway → settlement (and filing, cross-region),
with database spans, every span parented inside the trace. Eligibility is not on a 2207's path
any more (issue #18): the settlement computes on the snapshot its registration took, and the
gateway takes the setlinfo's person fields from the settlement's reply."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from tests.e2e.conftest import fresh_person, now_text
from tests.e2e.test_his_flows import DRUG, SX3, fee, ok

pytestmark = pytest.mark.e2e

PATH = "/fsi/api/rsfComIfsService/callService"


async def _spans_of(trace_file, trace_id: str, want: set[str]) -> list[dict]:
    spans: list[dict] = []
    for _ in range(100):  # exporters write when a span ends; the reply can arrive first
        spans = [s for s in (json.loads(line) for line in trace_file.read_text().splitlines() if trace_id in line)
                 if s["trace_id"] == trace_id]
        if want <= {s["service"] for s in spans}:
            return spans
        await asyncio.sleep(0.05)
    return spans


async def test_one_settlement_is_one_trace_across_every_hop(suite, his_factory, admin):
    psn_no = await fresh_person(admin, pool="330600", insutype="390")
    his = await his_factory(SX3)
    kw = {"insuplc_admdvs": "330600"}
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": ""}
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        assert r.status == 200, await r.text()
        cert["mdtrt_cert_no"] = (await r.json())["baseinfo"]["certno"]
    mdtrt_id = ok(await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                                   "ipt_otp_no": "MZ" + his.last_msgid[-10:], **cert}},
                                 **kw))["data"]["mdtrt_id"]
    ok(await his.call("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "11",
                                             "begntime": now_text(-1), "dise_codg": "J06.900"}}, **kw))
    ok(await his.call("2204", {"feedetail": [fee("T1", mdtrt_id, psn_no, DRUG, "12.50", "4", now_text(-1))]}, **kw))

    trace_id = secrets.token_hex(16)
    root_span = secrets.token_hex(8)
    headers = his.headers()
    headers["traceparent"] = f"00-{trace_id}-{root_span}-01"
    env = his.envelope("2207", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "med_type": "11",
                                         "medfee_sumamt": "50.00", "psn_setlway": "01", "acct_used_flag": "0",
                                         **cert}}, **kw)
    status, body = await his.post(PATH, env, headers)
    assert status == 200 and body["infcode"] == 0, body

    spans = await _spans_of(suite.trace_file, trace_id, {"gateway", "settlement"})
    by_id = {s["span_id"]: s for s in spans}
    services = {s["service"] for s in spans}
    assert services == {"gateway", "settlement"}, services  # no eligibility hop at 2207

    # Every span's parent is in this trace, except the gateway's server span, whose parent is the HIS's span.
    roots = [s for s in spans if s["parent_id"] not in by_id]
    assert [(r["service"], r["kind"], r["parent_id"]) for r in roots] == [("gateway", "SERVER", root_span)]

    def parent(s: dict) -> dict:
        return by_id[s["parent_id"]]

    # gateway SERVER → gateway CLIENT Settle → settlement SERVER Settle
    settle_server = [s for s in spans if s["service"] == "settlement" and s["kind"] == "SERVER"
                     and s["name"].endswith("/Settle")]
    assert len(settle_server) == 1
    client = parent(settle_server[0])
    assert (client["service"], client["kind"]) == ("gateway", "CLIENT") and client["name"].endswith("/Settle")
    assert parent(client) is roots[0]

    # The settlement's database work is traced under the settlement service's span.
    db_spans = [s for s in spans if s["attributes"].get("db.system") == "postgresql" and s["service"] == "settlement"]
    assert db_spans, "no PostgreSQL span from the settlement service"
    for s in db_spans:
        ancestor = s
        while ancestor["service"] == "settlement" and ancestor["kind"] != "SERVER":
            ancestor = parent(ancestor)
        assert ancestor is settle_server[0]
