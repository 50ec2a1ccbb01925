"""`medsettle up`: the whole suite as separate processes on one machine.

Resolves PostgreSQL and Redis (external via DATABASE_URL / REDIS_URL, embedded otherwise),
applies migrations, then starts eligibility, filing, settlement and the gateway, each its own
process with its own composition root, and waits for the gateway's /healthz (200 only when all
three services are SERVING). Ctrl-C / SIGTERM is forwarded so in-flight requests finish and
every process closes its pools and channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from services.common import db, embedded, ports
from services.common.config import Settings

PROCESSES = (
    ("eligibility", "services.eligibility.main"),
    ("filing", "services.filing.main"),
    ("settlement", "services.settlement.main"),
    ("gateway", "gateway.main"),
)


def die_with_parent():
    """A preexec hook that makes a child get SIGTERM when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so a launcher killed with -9, or a test run cut off by a timeout, leaves no
    orphan holding the suite's ports. Only from the main thread: the signal follows the forking
    *thread*, and a worker thread's end would stop a healthy child. None elsewhere."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG

    return hook


@dataclass
class Suite:
    settings: Settings
    database_url: str
    redis_url: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: str | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                    "PYTHONUNBUFFERED": "1"})
        env.update(extra or {})
        return env

    def listen_ports(self) -> list[tuple[str, int, str, str]]:
        """(host, port, process, variable) of every port a child of this suite listens on."""
        s = self.settings
        return [(s.grpc_host, s.eligibility_port, "eligibility", "ELIGIBILITY_PORT"),
                (s.grpc_host, s.filing_port, "filing", "FILING_PORT"),
                (s.grpc_host, s.settlement_port, "settlement", "SETTLEMENT_PORT"),
                (s.gateway_host, s.gateway_port, "gateway", "GATEWAY_PORT")] + [
                (s.metrics_host, s.metrics_port(name), name, f"{name.upper()}_METRICS_PORT")
                for name, _module in PROCESSES if s.metrics_port(name)]

    def metrics_urls(self) -> dict[str, str]:
        """process -> the URL of its Prometheus metrics (processes with a metrics port)."""
        s = self.settings
        return {name: f"http://{s.metrics_host}:{s.metrics_port(name)}/metrics" for name, _module in PROCESSES
                if s.metrics_port(name)}

    def check_ports(self) -> None:
        """Every port free before anything starts: the health check and the demo must only ever
        reach this suite's own children, never a server someone else left running (PortTaken).
        With MEDSETTLE_REUSE_PORT=1 sharing a port is the point, so it is not checked."""
        if self.settings.reuse_port:
            return
        for host, port, name, var in self.listen_ports():
            ports.check_free(host, port, f"the {name} service", hint=var)

    def start(self, extra_env: dict[str, str] | None = None, log_dir: str | None = None) -> None:
        self.check_ports()
        self.extra_env, self.log_dir = dict(extra_env or {}), log_dir
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
        for name, _module in PROCESSES:
            self.spawn(name)

    def spawn(self, name: str) -> subprocess.Popen:
        """Start (or start again, after it died) one process of the suite with the environment and
        log directory `start` was given; the chaos harness restarts a killed process this way."""
        module = dict(PROCESSES)[name]
        env = self.env(self.extra_env)
        # Own session: a terminal's Ctrl-C reaches only the launcher, which forwards one SIGTERM
        # to each process in order (a second signal would cut a graceful shutdown short).
        # The log file is closed here once the child has its own copy of the descriptor.
        log_dir = self.log_dir
        with open(os.path.join(log_dir, f"{name}.log"), "ab") if log_dir else contextlib.nullcontext() as out:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out, stderr=out,
                                                start_new_session=True, preexec_fn=die_with_parent())
        return self.procs[name]

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {p.returncode} during start-up")
            self._check_own_listeners()
            try:
                with urllib.request.urlopen(self.gateway_url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception as e:  # noqa: BLE001 - not up yet, however it fails
                last = str(e)
            time.sleep(0.2)
        raise RuntimeError(f"the suite did not become healthy within {timeout_s}s: {last}")

    def _check_own_listeners(self) -> None:
        """A port that is listening must be held by our child (when /proc says who holds it): a
        stranger that took a port between check_ports and the child's bind is never adopted."""
        if self.settings.reuse_port:
            return
        for _host, port, name, var in self.listen_ports():
            pid = ports.listener_pid(port)
            child = self.procs.get(name)
            if pid is not None and child is not None and pid != child.pid:
                raise ports.PortTaken(port, f"the {name} service", ports.holder(port), var)

    def stop(self, timeout_s: float = 20.0) -> dict[str, int | None]:
        # The gateway first, so no new request reaches a service that is going away.
        order = ["gateway", "settlement", "filing", "eligibility"]
        codes: dict[str, int | None] = {}
        for name in order:
            p = self.procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if p:
                codes[name] = p.returncode
        return codes


def prepare(settings: Settings) -> Suite:
    """Servers resolved (embedded started when needed) and migrated."""
    endpoints = embedded.resolve(settings)
    asyncio.run(db.migrate(endpoints.database_url))
    return Suite(settings, endpoints.database_url, endpoints.redis_url)


def run_until_signal(suite: Suite) -> int:
    stop = {"flag": False}

    def handler(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        while not stop["flag"]:
            for name, p in suite.procs.items():
                if p.poll() is not None:
                    print(f"{name} exited with code {p.returncode}; stopping the suite", file=sys.stderr)
                    stop["flag"] = True
                    break
            time.sleep(0.3)
    finally:
        codes = suite.stop()
        print("stopped: " + ", ".join(f"{k}={v}" for k, v in codes.items()))
    return 0
