"""What `make loadtest` and `make bench` share: a suite of their own on loopback ports, its own
embedded data directory, the demo reference data and a synthetic population bulk-imported.

The suite runs on ports and a data directory that the tests and `medsettle up` do not use, so a
load run never touches a developer's data or a test session's servers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from services.common.config import REPO_ROOT

REPORTS = REPO_ROOT / "loadtest" / "reports"
# The load suite's admin token: random per harness run (a known or short value refuses to start,
# services/common/secrets.py); run.py hands it to Locust as LOADTEST_ADMIN_TOKEN.
ADMIN_TOKEN = secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Profile:
    """Ports and data directory of one harness (the load test and the benchmark differ)."""
    data_dir: Path
    redis_port: int
    eligibility_port: int
    filing_port: int
    settlement_port: int
    gateway_port: int

    def env(self, **extra: str) -> dict[str, str]:
        env = {"MEDSETTLE_DATA_DIR": str(self.data_dir), "MEDSETTLE_REDIS_PORT": str(self.redis_port),
               "ELIGIBILITY_PORT": str(self.eligibility_port), "FILING_PORT": str(self.filing_port),
               "SETTLEMENT_PORT": str(self.settlement_port), "GATEWAY_PORT": str(self.gateway_port),
               "GATEWAY_HOST": "127.0.0.1", "MEDSETTLE_ADMIN_TOKEN": ADMIN_TOKEN,
               # metrics beside the gRPC ports (e.g. 52061..52064), never the defaults of `medsettle up`
               "GATEWAY_METRICS_PORT": str(self.eligibility_port + 10),
               "ELIGIBILITY_METRICS_PORT": str(self.eligibility_port + 11),
               "FILING_METRICS_PORT": str(self.eligibility_port + 12),
               "SETTLEMENT_METRICS_PORT": str(self.eligibility_port + 13),
               # the load test signs its patients up (/m/) from one address
               "PORTAL_CODES_PER_CLIENT": "0"}
        env.update(extra)
        return env


LOADTEST = Profile(REPO_ROOT / ".data" / "loadtest", 6393, 52051, 52052, 52053, 28080)
# MEDSETTLE_BENCH_PORT_OFFSET moves the bench's ports (e.g. 1000: Redis 7394, gRPC 54051-3, gateway
# 39080) so two clones can benchmark on one machine without taking each other's ports.
_BENCH_OFFSET = int(os.environ.get("MEDSETTLE_BENCH_PORT_OFFSET", "0") or 0)
BENCH = Profile(REPO_ROOT / ".data" / "bench", 6394 + _BENCH_OFFSET, 53051 + _BENCH_OFFSET, 53052 + _BENCH_OFFSET,
                53053 + _BENCH_OFFSET, 38080 + _BENCH_OFFSET)


def start_suite(profile: Profile, extra_env: dict[str, str] | None = None, *, log_dir: Path):
    """Migrated, demo data loaded, every process started and healthy; returns the launcher's Suite."""
    from services import launcher
    from services.common.config import Settings
    from services.refdata.cli import DEMO, load_file

    env = profile.env(**(extra_env or {}))
    settings = Settings.from_env({**os.environ, **env})
    suite = launcher.prepare(settings)
    with open(os.devnull, "w") as quiet:
        if asyncio.run(load_file(suite.database_url, DEMO, out=quiet)) != 0:
            raise SystemExit("loading the demo reference data failed")
    log_dir.mkdir(parents=True, exist_ok=True)
    suite.start(extra_env=env, log_dir=str(log_dir))
    try:
        suite.wait_healthy(120)
    except Exception:
        suite.stop()
        raise
    return suite


def population(path: Path, count: int, seed: int, year: int | None = None) -> Path:
    """gen-persons output for `year` (default: this year in Beijing), written once per (count,
    seed, year): the file is deterministic, and a file of an earlier year is written again."""
    from services.common.clock import Clock
    from services.refdata.cli import gen_persons

    year = year or Clock().today().year
    done, key = path.with_suffix(".done"), f"{count}:{seed}:{year}"
    if not path.exists() or path.stat().st_size == 0 or not done.exists() or done.read_text() != key:
        gen_persons(count, path, seed=seed, year=year)
        done.write_text(key)
    return path


def import_population(dsn: str, redis_url: str, path: Path) -> tuple[int, float]:
    """Bulk import (resumable, a file already imported is a no-op); returns (exit code, seconds)."""
    from services.eligibility.bulk_import import import_file

    t0 = time.perf_counter()
    code = asyncio.run(import_file(dsn, path, redis_url=redis_url, errors_path=path.with_suffix(".errors.csv"),
                                   progress=False))
    return code, time.perf_counter() - t0


def csv_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return max(0, sum(1 for _ in f) - 1)
