"""Every environment variable every process reads, in one declarative table (`VARS`).

`Settings.from_env` is built from the table, and so is README.md's settings table (between
`<!-- settings:begin -->` and `<!-- settings:end -->`; `python -m services.common.config --write`
regenerates it, `--check` fails when it is stale, and tests/unit/test_settings_table.py runs the
check). Nothing else in services/ or gateway/ reads os.environ; the standard OTEL_* variables are
OpenTelemetry's own (services/common/telemetry.py). docker-compose.yml sets the same names.
Nothing here is a region's number: those are reference data.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
TABLE_BEGIN, TABLE_END = "<!-- settings:begin -->", "<!-- settings:end -->"


# ----------------------------------------------------------------------------- parsers
# (variable name, raw non-empty value) -> value. An unset or empty variable takes the default.

def _str(name: str, raw: str) -> str:
    return raw


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"environment variable {name}={raw!r} is not an integer") from None


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"environment variable {name}={raw!r} is not a number") from None


def _flag(name: str, raw: str) -> bool:
    return raw == "1"


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in logging.getLevelNamesMapping():
        raise SystemExit(f"environment variable {name}={raw!r} is not a log level (DEBUG, INFO, WARNING, ERROR)")
    return level


@dataclass(frozen=True, slots=True)
class Var:
    """One environment variable: the Settings field it fills, its default, its parser, one line of doc."""
    name: str
    field: str
    default: Any  # used when unset or empty; a callable gets the fields read so far (table order)
    parse: Callable[[str, str], Any]
    doc: str
    shown: str | None = None  # the default as README shows it, when it is computed


def _addr(port_field: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda read: f"127.0.0.1:{read[port_field]}"


VARS: tuple[Var, ...] = (
    # Servers
    Var("DATABASE_URL", "database_url", None, _str,
        "PostgreSQL DSN; unset: the embedded server under `MEDSETTLE_DATA_DIR` (started when needed)", "embedded"),
    Var("REDIS_URL", "redis_url", None, _str,
        "Redis URL; unset: the embedded server on `MEDSETTLE_REDIS_PORT` (started when needed)", "embedded"),
    Var("MEDSETTLE_DATA_DIR", "data_dir", REPO_ROOT / ".data", _path,
        "where the embedded PostgreSQL and Redis keep their data", "`.data` in the checkout"),
    Var("MEDSETTLE_REDIS_PORT", "embedded_redis_port", 6390, _int, "TCP port of the embedded Redis"),
    # Listening and addresses
    Var("ELIGIBILITY_PORT", "eligibility_port", 50051, _int, "gRPC port of the eligibility service"),
    Var("FILING_PORT", "filing_port", 50052, _int, "gRPC port of the filing service"),
    Var("SETTLEMENT_PORT", "settlement_port", 50053, _int, "gRPC port of the settlement service"),
    Var("ELIGIBILITY_ADDR", "eligibility_addr", _addr("eligibility_port"), _str,
        "where clients (filing, settlement, gateway) reach eligibility", "`127.0.0.1:$ELIGIBILITY_PORT`"),
    Var("FILING_ADDR", "filing_addr", _addr("filing_port"), _str,
        "where clients (eligibility's 2001, settlement, gateway) reach filing", "`127.0.0.1:$FILING_PORT`"),
    Var("SETTLEMENT_ADDR", "settlement_addr", _addr("settlement_port"), _str,
        "where the gateway reaches settlement", "`127.0.0.1:$SETTLEMENT_PORT`"),
    Var("GRPC_HOST", "grpc_host", "127.0.0.1", _str,
        "interface the three gRPC services listen on (`0.0.0.0` in containers)"),
    Var("GATEWAY_HOST", "gateway_host", "127.0.0.1", _str, "interface the gateway's HTTP server listens on"),
    Var("GATEWAY_PORT", "gateway_port", 8080, _int, "HTTP port of the gateway (HIS interface, REST API)"),
    Var("METRICS_HOST", "metrics_host", "127.0.0.1", _str,
        "interface every process serves its Prometheus metrics on (`GET /metrics`; `0.0.0.0` in containers)"),
    Var("GATEWAY_METRICS_PORT", "gateway_metrics_port", 9180, _int,
        "Prometheus metrics port of the gateway (0: none; docs/OPERATIONS.md lists the metrics)"),
    Var("ELIGIBILITY_METRICS_PORT", "eligibility_metrics_port", 9181, _int,
        "Prometheus metrics port of the eligibility service (0: none)"),
    Var("FILING_METRICS_PORT", "filing_metrics_port", 9182, _int, "Prometheus metrics port of the filing service (0: none)"),
    Var("SETTLEMENT_METRICS_PORT", "settlement_metrics_port", 9183, _int,
        "Prometheus metrics port of the settlement service (0: none)"),
    Var("MEDSETTLE_REUSE_PORT", "reuse_port", False, _flag,
        "`1`: SO_REUSEPORT, several processes of one service share its port; otherwise a busy port fails"),
    # Pools, deadlines, timeouts
    Var("DB_POOL_MIN", "db_pool_min", 2, _int, "PostgreSQL connections each gRPC service keeps open (the gateway: 1)"),
    Var("DB_POOL_MAX", "db_pool_max", 10, _int,
        "PostgreSQL connections per gRPC service at most (the gateway: this, clamped to 2..4)"),
    Var("GRPC_DEADLINE_S", "grpc_deadline_s", 5.0, _float, "deadline of each gRPC call between processes, seconds"),
    Var("SHUTDOWN_GRACE_S", "shutdown_grace_s", 10.0, _float,
        "on SIGTERM/SIGINT, how long in-flight calls and requests get to finish, seconds"),
    Var("ELIGIBILITY_REDIS_TIMEOUT_S", "eligibility_redis_timeout_s", 0.25, _float,
        "eligibility's timeout of each Redis operation, connect and pool wait, seconds (fail fast: PostgreSQL answers)"),
    Var("GATEWAY_REDIS_TIMEOUT_S", "gateway_redis_timeout_s", 5.0, _float,
        "the gateway's Redis socket and connect timeout (nonce, sign-in, rate limit), seconds"),
    Var("ELIGIBILITY_CACHE_TTL_S", "eligibility_cache_ttl_s", 300, _int, "lifetime of a cached insured status, seconds"),
    # Security
    Var("MEDSETTLE_ADMIN_TOKEN", "admin_token", None, _str,
        "optional bootstrap token of the admin REST API: when set, the gateway registers it at start-up as an API "
        "token of the `admin` operator (replacing the one set before; audited as any token). Unset (the default): "
        "no shared token, each operator creates their own in the console (docs/CONSOLE.md)"),
    Var("EVOUCHER_TTL_S", "evoucher_ttl_s", 90, _int, "lifetime of an e-voucher (scan-to-pay code), seconds"),
    Var("EVOUCHER_SECRET", "evoucher_secret", None, _str,
        "HMAC key signing e-vouchers (eligibility); unset: generated per installation, "
        "`$MEDSETTLE_DATA_DIR/secrets/evoucher-key` (0600). Every eligibility replica needs the same one"),
    Var("SESSION_SECRET", "session_secret", None, _str,
        "key of the gateway's session cookies and CSRF tokens; unset: generated per installation, "
        "`$MEDSETTLE_DATA_DIR/secrets/session-key` (0600)"),
    Var("MEDSETTLE_DEV_MODE", "dev_mode", False, _flag,
        "`1`: a developer's machine; a weak or publicly known secret is then accepted with a warning "
        "instead of refused at start-up"),
    # The patient pages (/m/, gateway/portal/)
    Var("PORTAL_SMS_SENDER", "portal_sms_sender", "dev", _str,
        "how the patient sign-up/login code is sent: `dev` (logged and appended to "
        "`$MEDSETTLE_DATA_DIR/sms-outbox.jsonl`) or `module:attribute` of an operator's sender (gateway/portal/sms.py)"),
    Var("PORTAL_COOKIE_SECURE", "portal_cookie_secure", False, _flag,
        "`1`: the session cookies of the patient pages and the console are `Secure` (the gateway is behind TLS)"),
    Var("PORTAL_SESSION_TTL_S", "portal_session_ttl_s", 1800, _int,
        "idle lifetime of a patient session (/m/), seconds"),
    Var("PORTAL_CODE_TTL_S", "portal_code_ttl_s", 300, _int, "lifetime of a one-time SMS code, seconds"),
    Var("PORTAL_MAX_ATTEMPTS", "portal_max_attempts", 5, _int,
        "wrong codes or passwords for one certificate number before it is locked out"),
    Var("PORTAL_LOCKOUT_S", "portal_lockout_s", 900, _int,
        "how long a certificate number stays locked out after too many wrong codes or passwords, seconds"),
    Var("PORTAL_CODES_PER_CLIENT", "portal_codes_per_client", 30, _int,
        "one-time codes one client address may ask for per 10 minutes, and half the sign-in attempts (0: no "
        "per-address limits; the load test's and the e2e tests' suites sign many patients up from 127.0.0.1)"),
    # The operator console (/console/, gateway/console/)
    Var("CONSOLE_SESSION_TTL_S", "console_session_ttl_s", 1800, _int,
        "idle lifetime of an operator's console session (/console/), seconds"),
    Var("CONSOLE_MAX_ATTEMPTS", "console_max_attempts", 5, _int,
        "wrong passwords for one operator name before it is locked out (0: never)"),
    Var("CONSOLE_LOCKOUT_S", "console_lockout_s", 900, _int,
        "how long an operator name stays locked out after too many wrong passwords, seconds"),
    # Mobile payment (docs/MOBILE_PAYMENT.md)
    Var("PAYMENT_PROVIDER", "payment_provider", "simulated", _str,
        "who takes the patient's cash part of a mobile-payment order; built in: `simulated` (by the order's "
        "total: .01 declines, .02 times out then succeeds, .03 times out then declines)"),
    Var("GATEWAY_PUBLIC_URL", "gateway_public_url", lambda read: f"http://{read['gateway_host']}:{read['gateway_port']}",
        _str, "the gateway's URL as the patient's phone reaches it (6201's cashierUrl is `<this>/m/orders/<payOrdId>`)",
        shown="`http://$GATEWAY_HOST:$GATEWAY_PORT`"),
    Var("TIF_WINDOW_S", "tif_window_s", 300, _int, "accepted clock skew of a HIS request's TIF timestamp, ± seconds"),
    Var("RATE_LIMIT_PER_S", "rate_limit_per_s", 2000, _int, "HIS requests per second per hospital (0: no limit)"),
    # Logs and traces
    Var("LOG_LEVEL", "log_level", "INFO", _log_level, "level of every process's JSON logs"),
    Var("MEDSETTLE_TRACE_FILE", "trace_file", None, _str,
        "also write finished spans to this file as JSON lines (records every span; the trace test reads it)"),
)


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
    admin_token: str | None
    db_pool_min: int
    db_pool_max: int
    grpc_deadline_s: float
    eligibility_cache_ttl_s: int
    evoucher_ttl_s: int
    evoucher_secret: str | None
    session_secret: str | None
    dev_mode: bool
    portal_sms_sender: str
    portal_cookie_secure: bool
    portal_session_ttl_s: int
    portal_code_ttl_s: int
    portal_max_attempts: int
    portal_lockout_s: int
    portal_codes_per_client: int
    console_session_ttl_s: int
    console_max_attempts: int
    console_lockout_s: int
    tif_window_s: int
    payment_provider: str
    gateway_public_url: str
    rate_limit_per_s: int
    shutdown_grace_s: float
    reuse_port: bool
    grpc_host: str
    eligibility_redis_timeout_s: float
    gateway_redis_timeout_s: float
    log_level: str
    trace_file: str | None
    metrics_host: str
    gateway_metrics_port: int
    eligibility_metrics_port: int
    filing_metrics_port: int
    settlement_metrics_port: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """From the process environment, or from `environ` (e.g. `{**os.environ, **overrides}`)."""
        environ = os.environ if environ is None else environ
        read: dict[str, Any] = {}
        for var in VARS:
            raw = environ.get(var.name)
            if raw is None or raw == "":
                read[var.field] = var.default(read) if callable(var.default) else var.default
            else:
                read[var.field] = var.parse(var.name, raw)
        return cls(**read)

    def metrics_port(self, process: str) -> int:
        """The metrics port of `process` (gateway, eligibility, filing, settlement); 0: none."""
        port = getattr(self, f"{process}_metrics_port", 0)
        return port if isinstance(port, int) else 0


if {f.name for f in fields(Settings)} != {v.field for v in VARS} or len(VARS) != len(fields(Settings)):
    raise RuntimeError("services/common/config.py: Settings fields and VARS disagree")


def default(name: str) -> Any:
    """The default of one variable (for code that needs it without a Settings, e.g. a test helper)."""
    for var in VARS:
        if var.name == name:
            return var.default
    raise KeyError(name)


# ----------------------------------------------------------------------------- README table

def _shown(var: Var) -> str:
    if var.shown is not None:
        return var.shown
    value = var.default
    if isinstance(value, bool):
        return f"`{int(value)}`"
    if value is None:
        return "unset"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def markdown_table() -> str:
    """README.md's settings table, generated from VARS."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {_shown(v)} | {v.doc} |" for v in VARS]
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    """`text` (README.md) with the generated table between the markers."""
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise ValueError(f"README.md has no {TABLE_BEGIN} ... {TABLE_END} section")
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_BEGIN}\n{markdown_table()}\n{TABLE_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """`python -m services.common.config [--table | --check | --write]`: print the settings table
    (default), check README.md's copy (exit 1 when stale), or rewrite it."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m services.common.config", description=main.__doc__)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--table", action="store_true", help="print the Markdown table (the default)")
    group.add_argument("--check", action="store_true", help="exit 1 when README.md's table differs")
    group.add_argument("--write", action="store_true", help="rewrite README.md's table")
    args = ap.parse_args(argv)
    if not (args.check or args.write):
        print(markdown_table())
        return 0
    text = README.read_text(encoding="utf-8")
    wanted = readme_with_table(text)
    if args.write:
        if wanted != text:
            README.write_text(wanted, encoding="utf-8")
        return 0
    if wanted != text:
        print("README.md's settings table is stale: python -m services.common.config --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
