"""services/common/metrics.py and the gRPC call wrapper (services/common/server.py `observed`):
bounded labels, outcome classes, one log line per call, the states read at scrape time."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.common import metrics
from services.common.outcomes import Refusal
from services.common.server import observed
from services.common.telemetry import ChannelStats


def _samples() -> dict:
    text = asyncio.run(metrics.render()).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_outcome_classes_and_bounded_labels():
    assert metrics.result_of("OK") == "ok"
    assert metrics.result_of("NOT_ENROLLED") == "refused"
    assert metrics.result_of("SERVICE_UNAVAILABLE") == "error" and metrics.result_of("DATABASE_UNAVAILABLE") == "error"
    assert metrics.result_of("NO_SUCH_THING_EVER") == "error"  # unknown: counted as a failure, not hidden
    assert metrics.bounded_outcome("NOT_ENROLLED") == "NOT_ENROLLED"
    assert metrics.bounded_outcome("x" * 40) == "OTHER"
    metrics.known_infnos(["1101", "2207"])
    before = _samples()
    metrics.his_transaction("2207", "OK", 0.004)
    metrics.his_transaction("<script>", "WHATEVER_A_CLIENT_SENT", 0.001)
    after = _samples()
    assert _value(after, "medsettle_his_requests_total", infno="2207", outcome="OK") \
        - _value(before, "medsettle_his_requests_total", infno="2207", outcome="OK") == 1
    assert _value(after, "medsettle_his_requests_total", infno="other", outcome="OTHER") \
        - _value(before, "medsettle_his_requests_total", infno="other", outcome="OTHER") == 1
    assert not any(n.startswith("medsettle_his") and ("infno", "<script>") in ls for n, ls in after)
    assert _value(after, "medsettle_his_request_duration_seconds_bucket", infno="2207", result="ok", le="0.005") \
        - _value(before, "medsettle_his_request_duration_seconds_bucket", infno="2207", result="ok", le="0.005") == 1


def test_states_are_read_when_scraped_and_forgotten_when_closed():
    class Pool:
        size = 3

        def get_size(self):
            return self.size

        def get_idle_size(self):
            return 1

        def get_max_size(self):
            return 10

    class Channel:
        def __init__(self):
            self.stats = ChannelStats()

        def is_ready(self):
            return False

    pool, channel = Pool(), Channel()
    stop_pool, stop_channel = metrics.watch_pool("probe", pool), metrics.watch_channel("probe-target", channel)
    try:
        channel.stats.in_flight, channel.stats.peak, channel.stats.error = 2, 7, 4
        s = _samples()
        assert _value(s, "medsettle_db_pool_in_use", pool="probe") == 2
        assert _value(s, "medsettle_db_pool_max", pool="probe") == 10
        assert _value(s, "medsettle_grpc_client_in_flight_peak", target="probe-target") == 7
        assert _value(s, "medsettle_grpc_client_calls_total", target="probe-target", result="error") == 4
        assert _value(s, "medsettle_grpc_client_ready", target="probe-target") == 0
        # the peak is since the previous scrape: it falls back to what is in flight now
        assert _value(_samples(), "medsettle_grpc_client_in_flight_peak", target="probe-target") == 2
        pool.size = 5
        assert _value(_samples(), "medsettle_db_pool_in_use", pool="probe") == 4
    finally:
        stop_pool()
        stop_channel()
    assert ("medsettle_db_pool_in_use", (("pool", "probe"),)) not in _samples()


def test_a_failing_scrape_hook_does_not_fail_the_scrape(caplog):
    async def broken() -> None:
        raise asyncpg.PostgresConnectionError("down")

    remove = metrics.on_scrape(broken)
    try:
        with caplog.at_level(logging.WARNING):
            assert b"medsettle_his_requests" in asyncio.run(metrics.render())
        assert any(r.getMessage() == "metrics source failed" for r in caplog.records)
    finally:
        remove()


class _Context:
    def invocation_metadata(self):
        return ()


class _Request:
    class caller:  # noqa: N801 - stands for the Caller message
        fixmedins_code, msgid, infno = "H1", "M1", "2207"


@pytest.mark.parametrize("raised,outcome,level", [
    (None, "OK", logging.INFO),
    (Refusal("NOT_ENROLLED"), "NOT_ENROLLED", logging.INFO),
    (asyncpg.PostgresConnectionError("gone"), "DATABASE_UNAVAILABLE", logging.WARNING),
    (ZeroDivisionError(), "INTERNAL", logging.WARNING),
])
def test_each_grpc_call_is_one_line_and_counted_with_its_outcome(raised, outcome, level, caplog):
    async def behaviour(request, context):
        if raised is not None:
            raise raised
        return "reply"

    wrapped = observed(behaviour, "/medsettle.probe.v1.ProbeService/Do")
    before = _value(_samples(), "medsettle_grpc_server_calls_total", method="ProbeService/Do",
                    outcome=metrics.bounded_outcome(outcome))
    with caplog.at_level(logging.INFO, logger="medsettle.calls"):
        if raised is None:
            assert asyncio.run(wrapped(_Request(), _Context())) == "reply"
        else:
            with pytest.raises(type(raised)):
                asyncio.run(wrapped(_Request(), _Context()))
    lines = [r for r in caplog.records if r.name == "medsettle.calls"]
    assert len(lines) == 1
    r = lines[0]
    assert (r.levelno, r.getMessage(), r.method, r.outcome) == (level, "grpc call", "ProbeService/Do", outcome)
    assert (r.hospital, r.msgid, r.infno) == ("H1", "M1", "2207") and r.duration_ms >= 0
    after = _value(_samples(), "medsettle_grpc_server_calls_total", method="ProbeService/Do",
                   outcome=metrics.bounded_outcome(outcome))
    assert after - before == 1
