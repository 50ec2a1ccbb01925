"""Every tuning knob of every process, read from the environment in one place.

Defaults are documented in README.md; docker-compose.yml sets the same names.
Nothing here is a region's number: those are reference data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"environment variable {name}={raw!r} is not an integer") from None


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    redis_url: str | None
    data_dir: Path
    eligibility_addr: str
    filing_addr: str
    settlement_addr: str
    eligibility_port: int
    filing_port: int
    settlement_port: int
    gateway_host: str
    gateway_port: int
    embedded_redis_port: int
    admin_token: str
    db_pool_min: int
    db_pool_max: int
    grpc_deadline_s: float
    eligibility_cache_ttl_s: int
    evoucher_ttl_s: int
    evoucher_secret: str
    tif_window_s: int
    rate_limit_per_s: int
    shutdown_grace_s: float
    reuse_port: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """From the process environment, or from `environ` (e.g. `{**os.environ, **overrides}`)."""
        environ = os.environ if environ is None else environ
        env = environ.get
        elig_port = _int(environ, "ELIGIBILITY_PORT", 50051)
        filing_port = _int(environ, "FILING_PORT", 50052)
        setl_port = _int(environ, "SETTLEMENT_PORT", 50053)
        return cls(
            database_url=env("DATABASE_URL") or None,
            redis_url=env("REDIS_URL") or None,
            data_dir=Path(env("MEDSETTLE_DATA_DIR") or REPO_ROOT / ".data"),
            eligibility_addr=env("ELIGIBILITY_ADDR") or f"127.0.0.1:{elig_port}",
            filing_addr=env("FILING_ADDR") or f"127.0.0.1:{filing_port}",
            settlement_addr=env("SETTLEMENT_ADDR") or f"127.0.0.1:{setl_port}",
            eligibility_port=elig_port,
            filing_port=filing_port,
            settlement_port=setl_port,
            gateway_host=env("GATEWAY_HOST") or "127.0.0.1",
            gateway_port=_int(environ, "GATEWAY_PORT", 8080),
            embedded_redis_port=_int(environ, "MEDSETTLE_REDIS_PORT", 6390),
            admin_token=env("MEDSETTLE_ADMIN_TOKEN") or "dev-admin-token-change-me",
            db_pool_min=_int(environ, "DB_POOL_MIN", 2),
            db_pool_max=_int(environ, "DB_POOL_MAX", 10),
            grpc_deadline_s=float(env("GRPC_DEADLINE_S") or 5.0),
            eligibility_cache_ttl_s=_int(environ, "ELIGIBILITY_CACHE_TTL_S", 300),
            evoucher_ttl_s=_int(environ, "EVOUCHER_TTL_S", 90),
            evoucher_secret=env("EVOUCHER_SECRET") or "dev-evoucher-secret-change-me-32b",
            tif_window_s=_int(environ, "TIF_WINDOW_S", 300),
            rate_limit_per_s=_int(environ, "RATE_LIMIT_PER_S", 2000),
            shutdown_grace_s=float(env("SHUTDOWN_GRACE_S") or 10.0),
            # SO_REUSEPORT lets several processes of one service share a port (scale out on one
            # host); off by default so a second suite on the same ports fails instead of sharing.
            reuse_port=(env("MEDSETTLE_REUSE_PORT") or "0") == "1",
        )
