"""Metrics and logs of a real HIS flow (docs/OPERATIONS.md): every process's Prometheus endpoint
counts what the flow did, and the logs hold one line per HIS transaction and per gRPC call,
carrying the trace id, and never a certificate number or a name."""

from __future__ import annotations

import asyncio
import json
import secrets
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import fresh_person, now_text
from tests.e2e.test_his_flows import DRUG, SX3, fee, ok

pytestmark = pytest.mark.e2e

PATH = "/fsi/api/rsfComIfsService/callService"
PROCESSES = ("gateway", "eligibility", "filing", "settlement")


async def scrape(suite) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """process -> {(sample name, sorted labels): value}."""
    out = {}
    async with aiohttp.ClientSession() as s:
        for name, url in suite.metrics_urls().items():
            async with s.get(url) as r:
                assert r.status == 200, (name, r.status)
                assert r.headers["Content-Type"].startswith("text/plain")
                text = await r.text()
            out[name] = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                         for family in text_string_to_metric_families(text) for sample in family.samples}
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum over every series of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def log_sizes(suite) -> dict[str, int]:
    return {n: (Path(suite.log_dir) / f"{n}.log").stat().st_size for n in PROCESSES}


def log_lines(suite, since: dict[str, int]) -> dict[str, list[dict]]:
    out = {}
    for n in PROCESSES:
        with open(Path(suite.log_dir) / f"{n}.log", "rb") as f:
            f.seek(since[n])
            text = f.read().decode("utf-8")
        out[n] = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return out


def fen(x) -> int:
    return int(Decimal(str(x)) * 100)


async def test_a_his_flow_moves_every_process_metrics_and_logs_one_line_per_transaction(suite, his_factory, admin):
    assert set(suite.metrics_urls()) == set(PROCESSES)
    psn_no = await fresh_person(admin, pool="330600", insutype="390")
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        assert r.status == 200, await r.text()
        base = (await r.json())["baseinfo"]
    certno, psn_name = base["certno"], base["psn_name"]
    assert certno and psn_name
    his = await his_factory(SX3)
    kw = {"insuplc_admdvs": "330600"}
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}

    before, sizes = await scrape(suite), log_sizes(suite)
    sent: list[tuple[str, str]] = []  # (infno, msgid) of every transaction sent

    async def call(infno: str, input: dict, **extra) -> dict:
        reply = await his.call(infno, input, **kw, **extra)
        sent.append((infno, his.last_msgid))
        return reply

    ok(await call("1101", {"data": {**cert, "begntime": now_text()}}))
    mdtrt_id = ok(await call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                               "ipt_otp_no": "MZ" + secrets.token_hex(5), **cert}}))["data"]["mdtrt_id"]
    ok(await call("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "11",
                                         "begntime": now_text(-1), "dise_codg": "J06.900"}}))
    ok(await call("2204", {"feedetail": [fee("F1", mdtrt_id, psn_no, DRUG, "12.50", "80", now_text(-1))]}))
    settle = {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "med_type": "11",
                       "medfee_sumamt": "1000.00", "psn_setlway": "01", "acct_used_flag": "0", **cert}}
    # the 2207 carries a trace of the HIS's own: its log lines in every process carry that trace id
    trace_id = secrets.token_hex(16)
    headers = his.headers()
    headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    env = his.envelope("2207", settle, **kw)
    status, setl = await his.post(PATH, env, headers)
    assert status == 200 and setl["infcode"] == 0, setl
    sent.append(("2207", env["msgid"]))
    replay = await his.send(dict(env))  # the same msgid again: the stored reply, not a second settlement
    assert replay["output"]["setlinfo"]["setl_id"] == setl["output"]["setlinfo"]["setl_id"]
    sent.append(("2207", env["msgid"]))
    funds: dict[str, int] = {}
    for d in setl["output"]["setldetail"]:
        funds[d["fund_pay_type"]] = funds.get(d["fund_pay_type"], 0) + fen(d["fund_payamt"])
    s = setl["output"]["setlinfo"]
    ok(await call("2208", {"data": {"setl_id": s["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no}}))
    ok(await call("5301", {"data": {"psn_no": psn_no}}))  # the person's chronic filings (filing)
    # a refusal: an infno the gateway does not serve
    refused = await call("9999", {"data": {}})
    assert refused["infcode"] == -1

    after = await scrape(suite)
    # --- gateway: requests by infno and outcome, latency histogram, channels, pool
    g0, g1 = before["gateway"], after["gateway"]
    assert value(g1, "medsettle_his_requests_total", infno="2207", outcome="OK") \
        - value(g0, "medsettle_his_requests_total", infno="2207", outcome="OK") == 2
    for infno in ("1101", "2201", "2203", "2204", "2208", "5301"):
        assert value(g1, "medsettle_his_requests_total", infno=infno, outcome="OK") \
            - value(g0, "medsettle_his_requests_total", infno=infno, outcome="OK") == 1, infno
    assert value(g1, "medsettle_his_requests_total", infno="other", outcome="UNKNOWN_INFNO") \
        - value(g0, "medsettle_his_requests_total", infno="other", outcome="UNKNOWN_INFNO") == 1
    assert value(g1, "medsettle_his_request_duration_seconds_count", infno="2207", result="ok") \
        - value(g0, "medsettle_his_request_duration_seconds_count", infno="2207", result="ok") == 2
    assert value(g1, "medsettle_his_request_duration_seconds_sum", infno="2207", result="ok") \
        > value(g0, "medsettle_his_request_duration_seconds_sum", infno="2207", result="ok")
    assert total(g1, "medsettle_grpc_client_calls_total", target="settlement") \
        > total(g0, "medsettle_grpc_client_calls_total", target="settlement")
    assert value(g1, "medsettle_grpc_client_ready", target="settlement") == 1
    assert value(g1, "medsettle_db_pool_max", pool="gateway") >= 2
    # --- settlement: gRPC calls, settlements and amounts by fund type (the replay not counted again)
    s0, s1 = before["settlement"], after["settlement"]
    assert value(s1, "medsettle_grpc_server_calls_total", method="SettlementService/Settle", outcome="OK") \
        - value(s0, "medsettle_grpc_server_calls_total", method="SettlementService/Settle", outcome="OK") == 2
    assert value(s1, "medsettle_settlements_total", kind="settle", clr_type="11") \
        - value(s0, "medsettle_settlements_total", kind="settle", clr_type="11") == 1
    assert value(s1, "medsettle_settlements_total", kind="reversal", clr_type="11") \
        - value(s0, "medsettle_settlements_total", kind="reversal", clr_type="11") == 1
    assert funds and sum(funds.values()) > 0
    for fund_type, amount in funds.items():
        for kind in ("settle", "reversal"):
            assert value(s1, "medsettle_settlement_fund_amount_fen_total", kind=kind, fund_pay_type=fund_type) \
                - value(s0, "medsettle_settlement_fund_amount_fen_total", kind=kind, fund_pay_type=fund_type) \
                == amount, (kind, fund_type)
    assert value(s1, "medsettle_settlement_patient_amount_fen_total", kind="settle", part="cash") \
        - value(s0, "medsettle_settlement_patient_amount_fen_total", kind="settle", part="cash") == fen(s["psn_cash_pay"])
    assert value(s1, "medsettle_grpc_server_duration_seconds_count", method="SettlementService/Settle", result="ok") \
        - value(s0, "medsettle_grpc_server_duration_seconds_count", method="SettlementService/Settle", result="ok") == 2
    assert total(s1, "medsettle_grpc_client_calls_total", target="eligibility") \
        > total(s0, "medsettle_grpc_client_calls_total", target="eligibility")
    assert value(s1, "medsettle_db_pool_connections", pool="settlement") >= 1
    # --- eligibility: snapshots served, the person cache's hits and misses, import totals
    e0, e1 = before["eligibility"], after["eligibility"]
    assert total(e1, "medsettle_grpc_server_calls_total", method="EligibilityService/GetSnapshot") \
        > total(e0, "medsettle_grpc_server_calls_total", method="EligibilityService/GetSnapshot")
    looked = lambda m: total(m, "medsettle_cache_requests_total", cache="eligibility_person")  # noqa: E731
    assert looked(e1) > looked(e0)
    assert value(e1, "medsettle_cache_requests_total", cache="eligibility_person", result="hit") \
        > value(e0, "medsettle_cache_requests_total", cache="eligibility_person", result="hit")
    assert ("medsettle_import_rows_total", (("result", "rejected"),)) in e1
    # --- filing: the 5301 served
    f0, f1 = before["filing"], after["filing"]
    assert total(f1, "medsettle_grpc_server_calls_total", outcome="OK") \
        - total(f0, "medsettle_grpc_server_calls_total", outcome="OK") == 1
    assert value(f1, "medsettle_db_pool_connections", pool="filing") >= 1
    # every process: the standard process collector
    for process in PROCESSES:
        assert value(after[process], "process_cpu_seconds_total") > 0, process

    # --- logs: exactly one line per HIS transaction, with the trace id; one per gRPC call
    lines: dict[str, list[dict]] = {}
    for _ in range(50):  # the processes write their lines as each call ends
        lines = log_lines(suite, sizes)
        if sum(1 for r in lines["gateway"] if r["msg"] == "his transaction") >= len(sent):
            break
        await asyncio.sleep(0.1)
    txns = [r for r in lines["gateway"] if r["msg"] == "his transaction" and r.get("hospital") == SX3]
    assert [(r["infno"], r["msgid"]) for r in txns] == sent
    for r in txns:
        assert r["level"] == "info" and r["service"] == "gateway" and len(r["trace_id"]) == 32
        assert isinstance(r["duration_ms"], (int, float)) and r["duration_ms"] >= 0
    assert {r["outcome"] for r in txns} == {"OK", "UNKNOWN_INFNO"}
    refusal = txns[-1]
    assert refusal["outcome"] == "UNKNOWN_INFNO" and refusal["paasid"] == his.paasid and refusal["client"] == "127.0.0.1"
    assert "paasid" not in txns[0]  # an answered transaction does not repeat who asked
    settled = [r for r in txns if r["infno"] == "2207"]
    assert settled[0]["trace_id"] == trace_id
    # the settlement's gRPC calls in every process it reached carry the same trace id
    settle_calls = [r for r in lines["settlement"] if r["msg"] == "grpc call" and r.get("trace_id") == trace_id]
    assert [(r["method"], r["outcome"], r["hospital"], r["msgid"]) for r in settle_calls] == [
        ("SettlementService/Settle", "OK", SX3, env["msgid"])]
    # a 2207 settles on the registration's snapshot (#18): eligibility logged the registration's
    # GetSnapshot, and no call of the 2207's trace
    assert any(r["msg"] == "grpc call" and r["method"] == "EligibilityService/GetSnapshot" and r["outcome"] == "OK"
               for r in lines["eligibility"])
    assert not [r for r in lines["eligibility"] if r.get("trace_id") == trace_id]
    # volume: the gateway wrote nothing else for these transactions
    assert [r["msg"] for r in lines["gateway"] if r.get("hospital") == SX3 or r.get("trace_id") in
            {t["trace_id"] for t in txns}] == ["his transaction"] * len(sent)
    # no log line of any process holds the person's certificate number or name
    for proc_name, records in lines.items():
        text = json.dumps(records, ensure_ascii=False)
        assert certno not in text, f"{proc_name} logged the certificate number"
        assert psn_name not in text, f"{proc_name} logged the name"


async def test_a_bulk_import_moves_the_import_rows_on_the_eligibility_metrics(suite, tmp_path):
    """The import is a process of its own; eligibility reports what it committed (rows ok and rejected)."""
    import csv
    import io
    import random

    from services.common.ids import make_certno
    from services.eligibility.bulk_import import import_file
    from services.eligibility.import_reader import COLUMNS
    from tests.e2e.conftest import this_year

    year = this_year()
    rows = []
    for i in range(4):
        birth = f"{random.randrange(1950, 2000)}0{random.randrange(1, 10)}1{random.randrange(0, 10)}"
        certno = make_certno(f"330602{birth}{random.randrange(100):02d}{random.choice('13579')}")
        rows.append(["T" + "".join(random.choice("0123456789") for _ in range(17)), certno, "导入" + str(i), "1",
                     f"{birth[:4]}-{birth[4:6]}-{birth[6:]}", "330600", "390", str(year), "resident",
                     f"{year}-01-01", f"{year}-12-31", "active"])
    rows[2][5] = "NOPOOL"  # rejected
    path = tmp_path / "enrollments.csv"
    text = io.StringIO()
    w = csv.writer(text)
    w.writerow(COLUMNS)
    w.writerows(rows)
    path.write_text(text.getvalue(), encoding="utf-8")
    before = (await scrape(suite))["eligibility"]
    assert await import_file(suite.database_url, path, redis_url=suite.redis_url, progress=False,
                             errors_path=tmp_path / "errors.csv") == 2
    after = (await scrape(suite))["eligibility"]
    assert value(after, "medsettle_import_rows_total", result="ok") - value(before, "medsettle_import_rows_total",
                                                                            result="ok") == 3
    assert value(after, "medsettle_import_rows_total", result="rejected") \
        - value(before, "medsettle_import_rows_total", result="rejected") == 1
