"""The gateway app over real HTTP, real Redis and the real reference cache (PostgreSQL), with gRPC
channels to a port where nothing listens: everything the gateway decides by itself (security,
envelope, errors, health) and how it reports a service outage."""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import replace

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from grpc_health.v1 import health_pb2_grpc

from gateway.app import init_app
from gateway.deps import Deps
from gateway.his.dispatch import Stubs
from medsettle.eligibility.v1 import eligibility_pb2_grpc
from medsettle.filing.v1 import filing_pb2_grpc
from medsettle.settlement.v1 import settlement_pb2_grpc
from services.common.config import Settings
from services.common.telemetry import traced_channel, traced_redis
from tests.dates import THIS_YEAR, day
from tests.e2e.demo import client_for

pytestmark = pytest.mark.integration

SX = "H33060200001"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def _start(settings, db_pool, redis_url):
    from services.refdata.cache import ReferenceCache

    cache = await ReferenceCache.load(db_pool)
    redis = traced_redis(redis_url)
    addr = f"127.0.0.1:{_closed_port()}"
    channels = {n: traced_channel(addr) for n in ("eligibility", "filing", "settlement")}
    deps = Deps(cache=cache, redis=redis, db_pool=db_pool,
                stubs=Stubs(eligibility=eligibility_pb2_grpc.EligibilityServiceStub(channels["eligibility"]),
                            filing=filing_pb2_grpc.FilingServiceStub(channels["filing"]),
                            settlement=settlement_pb2_grpc.SettlementServiceStub(channels["settlement"])),
                health={n: health_pb2_grpc.HealthStub(c) for n, c in channels.items()})
    server = TestServer(init_app(settings, deps))
    await server.start_server()

    async def stop():
        await server.close()
        for c in channels.values():
            await c.close()
        await redis.aclose()
    return f"http://{server.host}:{server.port}", stop


ADMIN_TOKEN = secrets.token_urlsafe(32)


@pytest_asyncio.fixture(scope="module")
async def gw(db_pool, redis_url, demo_loaded):
    # The bootstrap token (MEDSETTLE_ADMIN_TOKEN) is registered as an API token of the console's
    # `admin` when the app starts (gateway/console/); the console needs the session key.
    settings = replace(Settings.from_env(), grpc_deadline_s=1.0, rate_limit_per_s=1000, admin_token=ADMIN_TOKEN,
                       session_secret=secrets.token_urlsafe(32))
    url, stop = await _start(settings, db_pool, redis_url)
    yield url
    await stop()


@pytest_asyncio.fixture
async def his(gw):
    async with client_for(gw, SX) as c:
        yield c


async def test_healthz_names_every_service_that_is_not_serving(his):
    async with his._session.get(his.base_url + "/healthz") as r:
        body = await r.json()
        assert r.status == 503
    assert body["not_serving"] == ["eligibility", "filing", "settlement"]


async def test_sign_in_then_an_outage_is_a_retriable_envelope(his):
    sign_no = await his.sign_in()
    assert len(sign_no) >= 20
    reply = await his.call("5203", {"data": {"psn_no": "330600000000000001", "setl_id": "S1"}},
                           insuplc_admdvs="330600")
    assert his.last_status == 200
    assert reply["infcode"] == -1
    assert reply["output"]["retriable"] is True
    assert "5203" in reply["err_msg"] and "2601" in reply["err_msg"]
    assert len(reply["inf_refmsgid"]) == 30 and reply["inf_refmsgid"].startswith("330602")


async def test_missing_or_unknown_sign_no_is_refused(his):
    for sign_no in ("", f"{THIS_YEAR}0101000000deadbeef"):
        reply = await his.call("5203", {"data": {"psn_no": "330600000000000001", "setl_id": "S1"}},
                               insuplc_admdvs="330600", sign_no=sign_no)
        assert reply["infcode"] == -1
        assert reply["output"]["field"] == "sign_no"
        assert "9001" in reply["err_msg"]


async def test_a_sign_no_is_bound_to_its_hospital(gw, his):
    await his.sign_in()
    async with client_for(gw, "H33060200002") as other:
        reply = await other.call("5203", {"data": {"psn_no": "330600000000000001", "setl_id": "S1"}},
                                 insuplc_admdvs="330600", sign_no=his.sign_no)
    assert reply["output"]["outcome"] == "NOT_SIGNED_IN"


async def test_bad_signature_stale_timestamp_reused_nonce(his):
    env = his.envelope("9001", {"signIn": {"opter_no": "op001"}})
    bad = his.headers()
    bad["x-tif-signature"] = "0" * 64
    status, body = await his.post("/fsi/api/rsfComIfsService/callService", env, bad)
    assert status == 200 and body["infcode"] == -1 and body["output"]["outcome"] == "BAD_SIGNATURE"

    import time
    stale = his.headers(timestamp=int(time.time()) - 1000)
    status, body = await his.post("/fsi/api/rsfComIfsService/callService", env, stale)
    assert status == 200 and body["output"]["outcome"] == "STALE_TIMESTAMP"

    h = his.headers()
    status, body = await his.post("/fsi/api/rsfComIfsService/callService", env, h)
    assert status == 200 and body["infcode"] == 0
    status, body = await his.post("/fsi/api/rsfComIfsService/callService",
                                  his.envelope("9001", {"signIn": {"opter_no": "op001"}}), h)
    assert status == 200 and body["output"]["outcome"] == "NONCE_REUSED"


async def test_envelope_of_another_hospital_is_forbidden(his):
    other = "H33060200002"
    env = his.envelope("9001", {"signIn": {"opter_no": "op001"}}, fixmedins_code=other,
                       msgid=other + f"{THIS_YEAR}0601101500" + "0001")
    status, body = await his.post("/fsi/api/rsfComIfsService/callService", env)
    assert status == 200 and body["output"]["outcome"] == "HOSPITAL_MISMATCH"
    assert body["output"]["field"] == "fixmedins_code"


async def test_validation_errors_name_the_field_and_never_reach_a_service(his):
    await his.sign_in()
    reply = await his.call("2207", {"data": {"psn_no": "330600000000000001", "mdtrt_id": "M1", "insutype": "390",
                                             "med_type": "11", "medfee_sumamt": "12.345", "psn_setlway": "01",
                                             "mdtrt_cert_type": "02", "mdtrt_cert_no": "330602196804120112"}},
                           insuplc_admdvs="330600")
    assert reply["infcode"] == -1 and reply["output"]["retriable"] is False
    assert reply["output"]["field"] == "input.data.medfee_sumamt"
    assert "two decimals" in reply["err_msg"]


async def test_transport_failures_are_envelopes(his):
    path = "/fsi/api/rsfComIfsService/callService"
    status, body = await his.post(path, b"{not json")
    assert status == 200 and body["infcode"] == -1 and body["output"]["outcome"] == "BAD_JSON"
    h = his.headers()
    h["Content-Type"] = "text/html"  # JSON is read whatever the label
    status, body = await his.post(path, his.envelope("9001", {"signIn": {"opter_no": "x"}}), h)
    assert status == 200 and body["infcode"] == 0, body["err_msg"]
    status, body = await his.post(path, b"{" + b" " * (5 * 1024 * 1024) + b"}")
    assert status == 200 and body["infcode"] == -1 and body["output"]["outcome"] == "BODY_TOO_LARGE"
    status, body = await his.post("/fsi/api/nothingHere", his.envelope("9001", {}))
    assert status == 200 and body["infcode"] == -1 and body["err_msg"]
    status, body = await his.post(path, his.envelope("7777", {}))
    assert status == 200 and body["output"]["outcome"] == "UNKNOWN_INFNO"
    async with his._session.get(his.base_url + path) as r:
        assert r.status == 200 and (await r.json())["infcode"] == -1


async def test_alias_path_serves_2207_only(his):
    await his.sign_in()
    env = his.envelope("2206", {"data": {}}, insuplc_admdvs="330600")
    status, body = await his.post("/fsi/api/outpatientSettleService/saveSettletmentV2", env)
    assert body["output"]["field"] == "infno"
    env.pop("infno")
    status, body = await his.post("/fsi/api/outpatientSettleService/saveSettletmentV2", env)
    assert body["output"]["field"].startswith("input.data")  # it reached the 2207 handler's validation


async def test_rate_limit_per_hospital(db_pool, redis_url, demo_loaded):
    settings = replace(Settings.from_env(), rate_limit_per_s=2)
    # A Redis database of its own: the per-second counter of H15052500002 must not be shared with
    # whatever else in the test session calls as that hospital within the same second.
    url, stop = await _start(settings, db_pool, redis_url.rsplit("/", 1)[0] + "/7")
    try:
        async with client_for(url, "H15052500002") as c:
            replies = await asyncio.gather(*(c.call("9001", {"signIn": {"opter_no": "op"}}) for _ in range(6)))
        outcomes = [r["output"].get("outcome") if r["infcode"] else "OK" for r in replies]
        assert outcomes.count("RATE_LIMITED") >= 2, outcomes
        assert "OK" in outcomes
    finally:
        await stop()


async def test_rest_admin_needs_the_token_and_openapi_is_served(gw, his):
    s = his._session
    async with s.get(gw + "/api/v1/settlements/S1") as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "UNAUTHORIZED"
    async with s.get(gw + "/api/v1/openapi.json") as r:
        doc = await r.json()
        assert r.status == 200 and "/api/v1/admin/reference" in doc["paths"]
    async with s.post(gw + "/api/v1/admin/reference", json={"format": "medsettle.reference/v1", "pools": [{}]},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
        body = await r.json()
        assert r.status == 400 and body["error"]["code"] == "INVALID_REFERENCE"
        assert any(e.startswith("pools[0]") for e in body["error"]["errors"])
    # No public endpoint acts for a person named in the request any more (issue #16): e-vouchers
    # and online filings are behind the patient's session under /m/ (tests/e2e/test_portal.py).
    for path, body in (("/api/v1/filings", {"psn_no": "330600000000000008", "insutype": "390", "type": "temporary",
                                            "destination": "45", "begin": day("06-01")}),
                       ("/api/v1/evouchers", {"psn_no": "330600000000000001", "certno": "330602196804120112"})):
        async with s.post(gw + path, json=body) as r:
            assert r.status == 404 and "error" in await r.json(), path
    assert "/api/v1/filings" not in doc["paths"] and "/api/v1/evouchers" not in doc["paths"]
    async with s.get(gw + "/api/v1/nothing") as r:
        assert r.status == 404 and "error" in await r.json()


async def test_redis_down_says_the_transaction_was_not_processed(db_pool, demo_loaded):
    """Issue #17: with Redis unreachable the request never leaves the gateway, so the reply must not
    claim its outcome is unknown (no "query with 5203 / reverse with 2601"), and it is retriable."""
    settings = replace(Settings.from_env(), grpc_deadline_s=1.0, gateway_redis_timeout_s=0.5)
    url, stop = await _start(settings, db_pool, f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        async with client_for(url, SX) as c:
            reply = await c.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330602196804120112"}},
                                 sign_no="20260101000000deadbeefdeadbeef")
        assert c.last_status == 200 and reply["infcode"] == -1, reply
        assert reply["output"] == {"outcome": "GATEWAY_UNAVAILABLE", "retriable": True}, reply
        assert "NOT processed" in reply["err_msg"] and "unknown" not in reply["err_msg"], reply["err_msg"]
        assert "5203" not in reply["err_msg"] and "2601" not in reply["err_msg"]
    finally:
        await stop()
