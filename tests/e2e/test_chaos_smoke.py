"""`make chaos` in small (issue #17): a suite of this test's own (real processes on free ports, the
test database), steady HIS flows while the settlement service is killed with -9 and restarted,
then a storm of concurrent copies of one 2207. The harness's own checker must find every
acknowledged settlement stored exactly once, every retry answered with the stored reply, the
storm booked once, and the audit clean (tests/unit/loadtest/test_chaos_checker.py shows that
checker failing on a double booking)."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from pathlib import Path

import pytest

from loadtest import chaos

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def own_suite(endpoints, tmp_path_factory, suite_admin_token):
    from services import launcher
    from services.common.config import Settings
    from services.refdata.cli import DEMO, load_file

    tmp_path = tmp_path_factory.mktemp("chaos-smoke")
    token = suite_admin_token  # the same as the main suite's: a different one would replace it
    extra = {"ELIGIBILITY_PORT": str(_free_port()), "FILING_PORT": str(_free_port()),
             "SETTLEMENT_PORT": str(_free_port()), "GATEWAY_PORT": str(_free_port()), "GATEWAY_HOST": "127.0.0.1",
             # metrics on free ports too: the defaults (9180..9183) are `medsettle up`'s
             **{f"{p}_METRICS_PORT": str(_free_port()) for p in ("GATEWAY", "ELIGIBILITY", "FILING", "SETTLEMENT")},
             "MEDSETTLE_ADMIN_TOKEN": token, "RATE_LIMIT_PER_S": "0", "PORTAL_CODES_PER_CLIENT": "0"}
    with open(os.devnull, "w") as quiet:
        assert asyncio.run(load_file(endpoints.database_url, DEMO, redis_url=endpoints.redis_url, out=quiet)) == 0
    settings = Settings.from_env({**os.environ, **extra})
    suite = launcher.Suite(settings, endpoints.database_url, endpoints.redis_url)
    suite.start(extra_env=extra, log_dir=str(tmp_path / "logs"))
    try:
        suite.wait_healthy(90)
        suite.admin_token = token
        yield suite
    finally:
        suite.stop()
        for name in chaos.SERVICES:
            log = Path(tmp_path / "logs" / f"{name}.log")
            if log.exists() and "Traceback" in log.read_text(errors="replace"):
                print(f"--- {name} log ---\n{log.read_text(errors='replace')[-3000:]}")


async def test_a_settlement_retried_while_eligibility_is_down_gets_the_stored_reply_or_not_now(own_suite):
    """Found by `make chaos`: a 2207 retried while the eligibility service was down was answered
    with the setlinfo's person fields emptied (age 0, certno "") — not the stored reply that every
    other retry gets. Now such a retry is told to send again (retriable), and then gets it."""
    import aiohttp

    from loadtest import scenarios as sc

    ref = sc.load_reference()
    async with aiohttp.ClientSession() as http:
        d = chaos.Driver(own_suite.gateway_url, ref, http, retry_for_s=20)
        admdvs = sorted(ref.pools["330600"]["admdvs"])[0]
        p = await chaos.enroll_fresh(http, own_suite.gateway_url, own_suite.admin_token, "330600", "390", "resident",
                                     admdvs)
        code = ref.local[("330600", "390")][0].code
        mdtrt_id, total = await d.register_with_fees(p, __import__("random").Random(1), code)
        his = await d.client(code)
        call = d.new_call(his, "2207", sc.settle_input(p, mdtrt_id, total, p.cert), ref.insuplc(p))
        first = await d.until_answered(his, call)
        assert first.ok and first.output["setlinfo"]["certno"] == p.certno, first
        eligibility = own_suite.procs["eligibility"]
        eligibility.kill()
        eligibility.wait()
        try:
            during = await d.send(his, call.env)
        finally:
            own_suite.spawn("eligibility")
        # a replay needs no eligibility (#18: the stored reply carries the person): wait for it to
        # be back before the next test enrolls through it
        await asyncio.to_thread(own_suite.wait_healthy, 60)
        assert not during.ok or chaos.comparable(during.output) == chaos.comparable(first.output), \
            f"answered differently while eligibility was down: {chaos._diff(first.output, during.output)}"
        assert during.ok or during.retriable, during
        after = await d.until_answered(his, call)
        assert after.ok and after.output["replayed"] is True
        assert chaos.comparable(after.output) == chaos.comparable(first.output)


async def test_a_killed_service_and_a_duplicate_storm_lose_and_double_nothing(own_suite):
    # no chronic flows: they would spend demo person 6's monthly dialysis cap in the shared test database
    args = argparse.Namespace(seed=5, duration=5.0, lead=1.5, down=1.0, workers=3, storm=60, burst=10, chronic=False)
    rows = await chaos.run_matrix(own_suite, None, args, None, own_suite.admin_token,
                                  ["baseline", "kill-settlement", "duplicate-storm"])
    _, kill, storm = rows
    for r in rows:
        assert r["ok"], r
        assert (r["lost"], r["doubled"], r["stored_differently"], r["replay_mismatch"], r["audit_violations"]) \
            == (0, 0, 0, 0, 0), r
        assert r["acked"] > 0 and r["stored_once"] == r["acked"], r
        assert r["replays_identical"] >= r["acked"], r
    assert kill["answered_again_s"] is not None and kill["retries"] > 0, kill
    assert storm["storm"] == {"copies": 60, "answered": 60, "distinct_outputs": 1, "booked_answers": 1}, storm
