"""Prometheus metrics of every process, served on a port of its own (`*_METRICS_PORT`).

What a request costs: one counter increment and one histogram observation on a label child
looked up in a small dict (`_Children`), no lock taken beyond prometheus-client's own. Everything
that is a state rather than an event — pool sizes, channels in flight, the eligibility cache's
counters, bulk-import totals — is read only when Prometheus scrapes, by `_Sources` (a collector)
and the scrape hooks (`on_scrape`, awaited by the /metrics handler before it renders). Nothing
runs when nobody scrapes.

Labels are bounded by construction: an infno the gateway does not serve is `other`; an outcome
the catalogue (services/common/outcomes.py) does not name is `OTHER`; gRPC methods are those
registered; fund types are the national dictionary's codes the engine emits. Latency histograms
carry the outcome's class (`ok`, `refused`, `error`), not the outcome itself, so that their
bucket series stay few; the exact outcome is on the request counters.

The metric names and what each says: docs/OPERATIONS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.outcomes import CATALOGUE, RETRIABLE_KINDS

log = logging.getLogger(__name__)

# seconds: a cached 1101 takes ~1 ms, a 2207 a few ms, a deadline is 5 s
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


OK = "OK"  # what a transaction or call that was answered normally counts as (not a catalogued refusal)
CANCELLED = "CANCELLED"  # the caller went away before the answer: no outcome was sent


def result_of(outcome: str) -> str:
    """The class of an outcome: `ok`, `refused` (an answer: the caller's input or a rule) or `error`
    (retriable: a clash, an outage, a bug)."""
    if outcome == OK:
        return "ok"
    return "error" if CATALOGUE.kind_of(outcome) in RETRIABLE_KINDS else "refused"


def bounded_outcome(outcome: str) -> str:
    return outcome if outcome == OK or outcome in CATALOGUE else "OTHER"


class _Children:
    """label values -> the metric's child, remembered (prometheus-client's `labels()` validates and
    locks on every call)."""

    __slots__ = ("_metric", "_children")

    def __init__(self, metric: Any):
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


# ----------------------------------------------------------------------------- HIS transactions (gateway)

HIS_REQUESTS = Counter("medsettle_his_requests", "HIS transactions answered by the gateway, by infno and outcome",
                       ("infno", "outcome"))
HIS_DURATION = Histogram("medsettle_his_request_duration_seconds",
                         "time from the HIS request's arrival to its reply, by infno and outcome class",
                         ("infno", "result"), buckets=LATENCY_BUCKETS)
_his_requests = _Children(HIS_REQUESTS)
_his_duration = _Children(HIS_DURATION)
_KNOWN_INFNOS: frozenset[str] = frozenset()


def known_infnos(infnos: Iterable[str]) -> None:
    """The transactions the gateway serves (its handler table); any other infno is counted as `other`."""
    global _KNOWN_INFNOS
    _KNOWN_INFNOS = frozenset(infnos)


def his_transaction(infno: str, outcome: str, seconds: float) -> None:
    infno = infno if infno in _KNOWN_INFNOS else "other"
    _his_requests(infno, bounded_outcome(outcome)).inc()
    _his_duration(infno, result_of(outcome)).observe(seconds)


# ----------------------------------------------------------------------------- gRPC calls served

GRPC_CALLS = Counter("medsettle_grpc_server_calls", "gRPC calls served, by method and outcome", ("method", "outcome"))
GRPC_DURATION = Histogram("medsettle_grpc_server_duration_seconds", "time to serve a gRPC call, by method and outcome class",
                          ("method", "result"), buckets=LATENCY_BUCKETS)
_grpc_calls = _Children(GRPC_CALLS)
_grpc_duration = _Children(GRPC_DURATION)


def grpc_call(method: str, outcome: str, seconds: float) -> None:
    _grpc_calls(method, bounded_outcome(outcome)).inc()
    _grpc_duration(method, result_of(outcome)).observe(seconds)


# ----------------------------------------------------------------------------- settlements (settlement)

SETTLEMENTS = Counter("medsettle_settlements", "settlements booked (a replayed msgid is not counted again), and "
                      "reversals (kind=reversal), by clearing type (11 outpatient, 21 inpatient)", ("kind", "clr_type"))
FUND_AMOUNT = Counter("medsettle_settlement_fund_amount_fen",
                      "fen paid by each fund on booked settlements (kind=settle) and given back by reversals "
                      "(kind=reversal), by fund_pay_type", ("kind", "fund_pay_type"))
FUND_PAYMENTS = Counter("medsettle_settlement_fund_payments", "fund lines booked, by kind and fund_pay_type",
                        ("kind", "fund_pay_type"))
PATIENT_AMOUNT = Counter("medsettle_settlement_patient_amount_fen",
                         "fen the patient paid: part=account (personal account) or cash, by kind", ("kind", "part"))
_settlements = _Children(SETTLEMENTS)
_fund_amount = _Children(FUND_AMOUNT)
_fund_payments = _Children(FUND_PAYMENTS)
_patient_amount = _Children(PATIENT_AMOUNT)


def settlement_booked(kind: str, clr_type: str, funds: Iterable[tuple[str, int]], account_fen: int,
                      cash_fen: int) -> None:
    """One settlement newly booked (kind `settle`) or reversed (kind `reversal`, amounts as
    positive fen given back). `funds`: (fund_pay_type, fen) of each fund line."""
    _settlements(kind, clr_type or "other").inc()
    for fund_type, fen in funds:
        _fund_payments(kind, fund_type).inc()
        if fen:
            _fund_amount(kind, fund_type).inc(abs(fen))
    if account_fen:
        _patient_amount(kind, "account").inc(abs(account_fen))
    if cash_fen:
        _patient_amount(kind, "cash").inc(abs(cash_fen))


# ----------------------------------------------------------------------------- supervision

SUPERVISION_FINDINGS = Counter("medsettle_supervision_findings",
                               "findings of the supervision rules, by rule and severity", ("rule", "severity"))
_findings = _Children(SUPERVISION_FINDINGS)


def supervision_finding(rule: str, severity: str) -> None:
    """For the supervision rules: one finding raised."""
    _findings(rule, severity).inc()


# ----------------------------------------------------------------------------- states, read at scrape time

class _Sources(Collector):
    """Pools, channels and caches opened by this process, each read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.pools: dict[str, Any] = {}      # name -> asyncpg.Pool
        self.channels: dict[str, Any] = {}   # target name -> telemetry.TracedChannel
        self.caches: dict[str, Any] = {}     # name -> object with a `stats` dict of counters
        self.import_rows: dict[str, int] | None = None  # filled by a scrape hook of the eligibility process

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unchecked collector: its families depend on what is open

    def collect(self) -> Iterator[Metric]:
        yield from self._pools()
        yield from self._channels()
        yield from self._caches()
        if self.import_rows is not None:
            rows = CounterMetricFamily("medsettle_import_rows", "bulk enrollment import rows committed, by result "
                                       "(ok, rejected), over every file (the import status view)", labels=("result",))
            for result in ("ok", "rejected"):
                rows.add_metric([result], self.import_rows.get(result, 0))
            yield rows
            running = GaugeMetricFamily("medsettle_import_files_running", "bulk import files started and not finished")
            running.add_metric([], self.import_rows.get("running", 0))
            yield running

    def _pools(self) -> Iterator[Metric]:
        if not self.pools:
            return
        size = GaugeMetricFamily("medsettle_db_pool_connections", "PostgreSQL connections open in the pool",
                                 labels=("pool",))
        in_use = GaugeMetricFamily("medsettle_db_pool_in_use", "PostgreSQL connections of the pool lent out now",
                                   labels=("pool",))
        maximum = GaugeMetricFamily("medsettle_db_pool_max", "most connections the pool may open", labels=("pool",))
        for name, pool in list(self.pools.items()):
            with contextlib.suppress(Exception):  # a pool closing while scraped
                opened, idle = pool.get_size(), pool.get_idle_size()
                size.add_metric([name], opened)
                in_use.add_metric([name], opened - idle)
                maximum.add_metric([name], pool.get_max_size())
        yield from (size, in_use, maximum)

    def _channels(self) -> Iterator[Metric]:
        if not self.channels:
            return
        in_flight = GaugeMetricFamily("medsettle_grpc_client_in_flight", "gRPC calls in flight on the channel now",
                                      labels=("target",))
        peak = GaugeMetricFamily("medsettle_grpc_client_in_flight_peak",
                                 "most gRPC calls in flight at once on the channel since the previous scrape",
                                 labels=("target",))
        calls = CounterMetricFamily("medsettle_grpc_client_calls", "gRPC calls made on the channel, by result "
                                    "(ok, refused, error)", labels=("target", "result"))
        ready = GaugeMetricFamily("medsettle_grpc_client_ready", "1 when the channel's connectivity state is READY",
                                  labels=("target",))
        for name, ch in list(self.channels.items()):
            st = ch.stats
            in_flight.add_metric([name], st.in_flight)
            peak.add_metric([name], st.take_peak())
            for result in ("ok", "refused", "error"):
                calls.add_metric([name, result], getattr(st, result))
            ready.add_metric([name], 1 if ch.is_ready() else 0)
        yield from (in_flight, peak, calls, ready)

    def _caches(self) -> Iterator[Metric]:
        for name, cache in list(self.caches.items()):
            stats = dict(cache.stats)
            hits = CounterMetricFamily("medsettle_cache_requests", "cache lookups, by cache and result (hit, miss)",
                                       labels=("cache", "result"))
            hits.add_metric([name, "hit"], stats.get("hits", 0))
            hits.add_metric([name, "miss"], stats.get("misses", 0))
            yield hits
            events = CounterMetricFamily("medsettle_cache_events", "every counter of the cache (fills, fallbacks to "
                                         "PostgreSQL, Redis errors, invalidations, alias lookups ...)",
                                         labels=("cache", "event"))
            for key, value in sorted(stats.items()):
                events.add_metric([name, key], value)
            yield events


SOURCES = _Sources()
REGISTRY.register(SOURCES)

ScrapeHook = Callable[[], Awaitable[None]]
_HOOKS: list[ScrapeHook] = []
HOOK_TIMEOUT_S = 2.0


def watch_pool(name: str, pool: Any) -> Callable[[], None]:
    """Report `pool`'s saturation under `name`; returns the function that stops it."""
    SOURCES.pools[name] = pool
    return lambda: SOURCES.pools.pop(name, None) if SOURCES.pools.get(name) is pool else None


def watch_channel(name: str, channel: Any) -> Callable[[], None]:
    SOURCES.channels[name] = channel
    return lambda: SOURCES.channels.pop(name, None) if SOURCES.channels.get(name) is channel else None


def watch_cache(name: str, cache: Any) -> Callable[[], None]:
    SOURCES.caches[name] = cache
    return lambda: SOURCES.caches.pop(name, None) if SOURCES.caches.get(name) is cache else None


def on_scrape(hook: ScrapeHook) -> Callable[[], None]:
    """`hook()` is awaited before each scrape is rendered (e.g. one SQL read); returns the remover."""
    _HOOKS.append(hook)
    return lambda: _HOOKS.remove(hook) if hook in _HOOKS else None


async def render() -> bytes:
    """The exposition text: scrape hooks first (each bounded by HOOK_TIMEOUT_S; a failing one is
    logged and its metrics keep their last values), then every collector."""
    for hook in list(_HOOKS):
        try:
            await asyncio.wait_for(hook(), HOOK_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a metric source failing must not fail the scrape
            log.warning("metrics source failed", extra={"error": f"{type(e).__name__}: {str(e)[:200]}"})
    return generate_latest(REGISTRY)


async def serve(host: str, port: int, process: str):
    """GET /metrics on host:port (an aiohttp runner on this process's event loop, so collectors
    read pools and caches on the loop that owns them). Returns the runner; `await runner.cleanup()`
    stops it. A busy port ends the process naming it."""
    from aiohttp import web

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=await render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        raise SystemExit(f"{process}: cannot serve metrics on {host}:{port}: {e.strerror or e} — choose another port "
                         f"with {process.upper()}_METRICS_PORT (0: no metrics)") from None
    log.info("serving metrics", extra={"service_name": process, "port": port})
    return runner
