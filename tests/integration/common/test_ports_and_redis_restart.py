"""Issue #17, faults: the launcher and the embedded Redis never adopt a server that is not theirs
(a port held by a plain socket: exit non-zero naming the port and its holder), and sign-ins and
nonces survive a restart of the embedded Redis (append-only file), the first request after it
answered normally."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest
import redis.asyncio as aredis

from gateway.his.security import Guard, Principal, SecurityRefusal, redis_client_options
from services.common import embedded
from services.common.config import REPO_ROOT
from services.common.ports import PortTaken, check_free, holder

pytestmark = pytest.mark.integration


def _held_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_held_port_names_its_holder():
    with _held_port() as s:
        port = s.getsockname()[1]
        assert holder(port).startswith(f"pid {os.getpid()} (")
        with pytest.raises(PortTaken) as e:
            check_free("127.0.0.1", port, "the gateway", "GATEWAY_PORT")
        assert f"port {port} (the gateway)" in str(e.value) and f"pid {os.getpid()}" in str(e.value)
    check_free("127.0.0.1", port, "the gateway")  # released: free again


def test_the_embedded_redis_never_adopts_a_stranger_on_its_port(tmp_path):
    with _held_port() as s:
        port = s.getsockname()[1]
        with pytest.raises(PortTaken) as e:
            embedded._redis_start(tmp_path, port)
        assert f"port {port}" in str(e.value) and f"pid {os.getpid()}" in str(e.value)


def test_medsettle_up_on_a_held_port_exits_non_zero_naming_port_and_holder(endpoints, tmp_path):
    with _held_port() as s:
        port = s.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": endpoints.database_url, "REDIS_URL": endpoints.redis_url,
               "GATEWAY_PORT": str(port), "ELIGIBILITY_PORT": str(_free_port()), "FILING_PORT": str(_free_port()),
               "SETTLEMENT_PORT": str(_free_port()), "MEDSETTLE_DATA_DIR": str(tmp_path), "MEDSETTLE_DEV_MODE": "1"}
        r = subprocess.run([sys.executable, "-m", "services.cli", "up"], cwd=REPO_ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert f"port {port} (the gateway service) is already in use by pid {os.getpid()}" in r.stderr, r.stderr
    assert "is up" not in r.stdout


def _principal(nonce: str, window_s: int = 300) -> Principal:
    return Principal(paasid="restart-test", code="H99999999999", admdvs="330602", nonce=nonce, window_s=window_s)


async def test_sign_ins_and_nonces_survive_a_redis_restart(tmp_path, uid):
    port = _free_port()
    url = embedded._redis_start(tmp_path, port)
    client = aredis.Redis.from_url(url, **redis_client_options(2))  # as gateway/main.py builds it
    guard = Guard(client, window_s=300, rate_limit_per_s=0)
    try:
        assert await client.config_get("appendonly") == {"appendonly": "yes"}
        sign_no, _ = await guard.sign_in(_principal("-"), "op1")
        await guard.admit(_principal(f"n1-{uid}"), infno="1101", sign_no=sign_no)
        await asyncio.sleep(1.2)  # appendfsync everysec
        embedded.stop(tmp_path)  # SIGTERM to the pid in its pidfile
        for _ in range(200):  # until the port is closed, 10 s at most
            if not embedded._port_open(port):
                break
            await asyncio.sleep(0.05)
        assert not embedded._port_open(port)
        assert embedded._redis_start(tmp_path, port) == url
        # the first request after Redis is back is answered (no GATEWAY_UNAVAILABLE), still signed in
        await guard.admit(_principal(f"n2-{uid}"), infno="1101", sign_no=sign_no)
        # the captured request replayed with its old nonce is still a replay
        with pytest.raises(SecurityRefusal) as e:
            await guard.admit(_principal(f"n1-{uid}"), infno="1101", sign_no=sign_no)
        assert e.value.outcome == "NONCE_REUSED"
        # the nonce is remembered at least as long as the timestamp window accepts its request
        ttl = await client.ttl(f"gw:nonce:restart-test:n1-{uid}")
        assert ttl > 300
        assert await guard.sign_out(_principal("-"), sign_no)
    finally:
        guard.close()
        await client.aclose()
        embedded.stop(tmp_path)
