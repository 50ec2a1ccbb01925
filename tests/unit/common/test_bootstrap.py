"""services/common/bootstrap.py: one exit stack per process, closed in reverse order; a real
process built with it serves until SIGTERM, lets the in-flight call finish, closes what it
opened after that, and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import grpc
import pytest

from services.common import bootstrap
from services.common.clock import Clock
from services.common.config import REPO_ROOT, Settings


async def test_resources_close_in_reverse_order_and_tasks_are_cancelled():
    closed: list[str] = []

    async def forever():
        try:
            await asyncio.sleep(3600)
        finally:
            closed.append("task")

    clock = Clock.fixed(Clock().naive_now())
    async with bootstrap.opened("probe", Settings.from_env({}), clock) as proc:
        assert proc.clock is clock and proc.name == "probe"
        proc.stack.callback(closed.append, "first")
        proc.background(forever(), name="forever")
        proc.stack.callback(closed.append, "last")
        await asyncio.sleep(0)
    assert closed == ["last", "task", "first"]


async def test_a_failure_while_building_closes_what_was_opened():
    closed: list[str] = []
    with pytest.raises(RuntimeError, match="no cache"):
        async with bootstrap.opened("probe", Settings.from_env({})) as proc:
            proc.stack.callback(closed.append, "pool")
            raise RuntimeError("no cache")
    assert closed == ["pool"]


def test_given_urls_are_used_as_they_are():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r:1/0"})
    proc = bootstrap.Process("probe", settings, contextlib.AsyncExitStack())
    assert (proc.database_url, proc.redis_url) == ("postgresql://db/x", "redis://r:1/0")  # nothing embedded started


PROBE = r'''
import asyncio, sys
import grpc
from services.common import bootstrap

async def slow(request, context):
    print("in-flight", flush=True)
    await asyncio.sleep(1.0)
    return b"done"

async def compose(proc):
    async def close(what):
        print("closed " + what, flush=True)
    proc.stack.push_async_callback(close, "pool")
    proc.stack.push_async_callback(close, "channel")
    handler = grpc.method_handlers_generic_handler(
        "medsettle.probe.v1.Probe", {"Slow": grpc.unary_unary_rpc_method_handler(slow)})
    await proc.serve_grpc("medsettle.probe.v1.Probe", int(sys.argv[1]),
                          lambda server: server.add_generic_rpc_handlers((handler,)))

bootstrap.run("probe", compose)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path, predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and predicate(path.read_text()):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out; output so far:\n{path.read_text() if path.exists() else ''}")


def test_sigterm_lets_the_in_flight_call_finish_then_closes_in_reverse_and_exits_0(tmp_path):
    port = _free_port()
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MEDSETTLE_TRACE"))}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "protos")]), GRPC_HOST="127.0.0.1",
               SHUTDOWN_GRACE_S="5", LOG_LEVEL="INFO")
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, str(script), str(port)], stdout=o, stderr=e, env=env,
                                cwd=str(REPO_ROOT))
    try:
        _wait_for(err, lambda t: '"serving"' in t)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/medsettle.probe.v1.Probe/Slow").future(b"", timeout=10)
            _wait_for(out, lambda t: "in-flight" in t)
            proc.send_signal(signal.SIGTERM)
            assert call.result() == b"done"  # the call in flight when SIGTERM came finished
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.read_text().splitlines() == ["in-flight", "closed channel", "closed pool"]
    events = [json.loads(line)["msg"] for line in err.read_text().splitlines() if line.startswith("{")]
    # the in-flight call's own line (services/common/server.py `observed`) comes when it ends
    assert events == ["serving", "shutting down", "grpc call", "stopped"], err.read_text()
