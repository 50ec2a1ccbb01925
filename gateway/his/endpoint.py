"""The HIS paths: `POST /fsi/api/rsfComIfsService/callService`, the same path followed by
`/{infno}`, and per-transaction aliases. One HIS transaction per request.

Order of checks: authentication (either profile the hospital allows, no I/O) -> the body is JSON,
whatever its Content-Type -> the envelope, read loosely with the hospital's msgid rule -> the
envelope's hospital is the authenticated one -> nonce, sign-in and rate limit (one Redis round
trip) -> the transaction's handler. Whatever fails becomes a failure envelope here, and on the HIS
paths every failure is HTTP 200 with infcode -1 and an err_msg naming the field: most HIS HTTP
libraries throw on a 4xx/5xx and the message would be lost (gateway/app.py does the same for
404/405/413/500 under /fsi). Nothing is written for a refused request: every check that can refuse
runs before the handler, and handlers validate their whole input before they call a service.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

import grpc
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from redis.exceptions import RedisError

from gateway.console import feed
from gateway.deps import RUNTIME, runtime
from gateway.his import errors, jsonnum
from gateway.his.dispatch import Call
from gateway.his.envelope import INFNO_RE, EnvelopeRules, FieldError, parse_envelope, parse_json, peek_infno
from gateway.his.handlers import HANDLERS  # the infno table, listed there
from gateway.his.response import envelope
from gateway.his.security import Principal, SecurityRefusal, authenticate
from services.common import metrics
from services.common.clock import Clock
from services.common.outcomes import CATALOGUE, Kind
from services.common.telemetry import mask

__all__ = ["ALIASES", "CALL_SERVICE_PATH", "call_service", "failure_response", "parse_json", "routes"]

txn_log = logging.getLogger("gateway.his.transactions")  # one line per HIS transaction
metrics.known_infnos(HANDLERS)  # any other infno is counted as "other"

CALL_SERVICE_PATH = "/fsi/api/rsfComIfsService/callService"
# Per-transaction paths some provinces publish, served by the same code.
ALIASES = {
    "/fsi/api/outpatientSettleService/saveSettletmentV2": "2207",
    "/fsi/api/outpatientSettleService/preSettletmentA": "2206",
}
_OUTAGE_KINDS = frozenset({Kind.UNAVAILABLE, Kind.INTERNAL})


def failure_response(*, outcome: str, message: str, clock: Clock, field: str | None = None,
                     admdvs: str = "000000", received_at: dt.datetime | None = None,
                     retriable: bool | None = None) -> web.Response:
    """A failure envelope, HTTP 200 (what the HIS paths always answer). `retriable` defaults to
    the outcome's kind in the catalogue."""
    return _failure(_failure_of(outcome, message, field, retriable), admdvs, received_at or clock.naive_now(), clock)


def _failure_of(outcome: str, message: str, field: str | None = None, retriable: bool | None = None) -> errors.Failure:
    d = CATALOGUE.get(outcome)
    if retriable is None:
        retriable = d.retriable if d is not None else False
    return errors.Failure(outcome=outcome, message=message, field=field, retriable=retriable)


def _failure(f: errors.Failure, admdvs: str, received_at: dt.datetime, clock: Clock) -> web.Response:
    span = trace.get_current_span()
    span.set_attribute("his.outcome", f.outcome)
    if f.field:
        span.set_attribute("his.field", f.field)
    if f.retriable and CATALOGUE.kind_of(f.outcome) in _OUTAGE_KINDS:
        span.set_status(Status(StatusCode.ERROR, f.outcome))  # HTTP 200 no longer says it
    body = envelope(ok=False, output=f.output(), admdvs=admdvs, received_at=received_at,
                    responded_at=clock.naive_now(), err_msg=f.err_msg())
    return web.json_response(body, status=200, dumps=_dumps)


def _dumps(obj) -> str:
    """Compact UTF-8 JSON; each Decimal of an output (数值型: money from integer fen, ratios,
    counts) written as an exact JSON number with its own digits (390.00), never through float."""
    return jsonnum.dumps(obj)


def _annotate(span, env_input: dict, infno: str) -> None:
    """Span attributes that help find a transaction, with certificate numbers and names masked."""
    data = env_input.get("data") if isinstance(env_input.get("data"), dict) else env_input
    for key in ("mdtrt_cert_no", "certno", "psn_name"):
        v = data.get(key) if isinstance(data, dict) else None
        if isinstance(v, str) and v:
            span.set_attribute(f"his.{key}", mask(v))
    psn = data.get("psn_no") if isinstance(data, dict) else None
    if isinstance(psn, str):
        span.set_attribute("his.psn_no", psn[:30])


def _rules(principal: Principal) -> EnvelopeRules:
    return EnvelopeRules.for_hospital(msgid=principal.interface.msgid, admdvs=principal.admdvs)


def _force_infno(body, infno: str, where: str) -> None:
    """A path that names its transaction: a missing or empty infno is filled in, another is refused."""
    if not isinstance(body, dict):
        return
    sent = body.get("infno")
    if sent in (None, "", "null", "NULL"):
        body["infno"] = infno
    elif sent != infno:
        raise FieldError("infno", f"此地址只受理 {infno} 交易, 报文为 {str(sent)[:8]} ({where} serves {infno} only, "
                                  f"the envelope's infno is {str(sent)[:8]!r})")


class _Txn:
    """What the transaction's log line and metrics say, filled in as the request is read."""

    __slots__ = ("infno", "hospital", "msgid", "paasid", "outcome", "field", "error")

    def __init__(self, infno: str):
        self.infno = infno
        self.hospital = self.msgid = self.paasid = self.field = self.error = ""
        self.outcome = metrics.OK


async def call_service(request: web.Request, forced_infno: str | None = None) -> web.Response:
    """One HIS transaction; whatever its fate, one JSON log line (`his transaction`: infno,
    hospital, msgid, outcome, duration_ms; the trace id is the formatter's; a refusal adds the
    paasid and the client's address) and the transaction's metrics. INFO, WARNING when retriable
    (an outage: the outcome is unknown to the hospital). No certificate number or name is logged."""
    t0 = time.perf_counter()
    txn = _Txn(forced_infno or "")
    try:
        return await _call_service(request, forced_infno, txn)
    except BaseException as e:  # the middleware answers it (a bug, a cancelled request)
        txn.outcome = metrics.CANCELLED if isinstance(e, asyncio.CancelledError) else "INTERNAL"
        raise
    finally:
        seconds = time.perf_counter() - t0
        metrics.his_transaction(txn.infno, txn.outcome, seconds)
        error = metrics.result_of(txn.outcome) == "error"
        level = logging.WARNING if error else logging.INFO
        if txn_log.isEnabledFor(level):
            extra: dict[str, object] = {"infno": txn.infno[:8], "hospital": txn.hospital, "msgid": txn.msgid,
                                        "outcome": txn.outcome, "duration_ms": round(seconds * 1000, 2)}
            if txn.field:
                extra["field"] = txn.field[:64]
            if txn.outcome != metrics.OK and not error:
                extra["paasid"] = txn.paasid or request.headers.get("x-tif-paasid", "")[:64]
                extra["client"] = request.remote or ""
            if txn.error:
                extra["error"] = txn.error
            txn_log.log(level, "his transaction", extra=extra)


async def _call_service(request: web.Request, forced_infno: str | None, txn: _Txn) -> web.Response:
    clock = request.app[RUNTIME].clock
    received_at = clock.naive_now()
    settings, deps, guard = runtime(request)
    span = trace.get_current_span()
    admdvs = "000000"
    infno = forced_infno or ""
    stage = "admit"  # until the handler runs, no request has left the gateway
    try:
        principal = authenticate(request.headers, deps.cache, window_s=settings.tif_window_s)
        txn.paasid, txn.hospital = principal.paasid, principal.code
        admdvs = principal.admdvs
        feed.note(request, hospital=principal.code)
        span.set_attribute("his.fixmedins_code", principal.code)
        span.set_attribute("his.auth", principal.profile)
        body = parse_json(await request.read())
        path_infno = request.match_info.get("infno")
        if path_infno is not None:
            if not INFNO_RE.match(path_infno):
                raise FieldError("infno", f"地址末段应为交易编号 (the path must end with a 4-digit transaction code, "
                                          f"got {path_infno[:16]!r})", outcome="UNKNOWN_INFNO")
            _force_infno(body, path_infno, f"{CALL_SERVICE_PATH}/{path_infno}")
        elif forced_infno:
            _force_infno(body, forced_infno, "this path")
        infno = peek_infno(body) or infno
        txn.infno = infno
        if isinstance(body, dict) and isinstance(body.get("msgid"), str):
            txn.msgid = body["msgid"][:40]
        span.set_attribute("his.infno", infno)
        env = parse_envelope(body, known_infnos=HANDLERS, rules=_rules(principal))
        if isinstance(env.input, dict):
            _annotate(span, env.input, env.infno)
        span.set_attribute("his.msgid", env.msgid)
        txn.msgid = env.msgid
        feed.note(request, infno=env.infno, msgid=env.msgid[:60])
        if env.fixmedins_code != principal.code:
            raise SecurityRefusal("HOSPITAL_MISMATCH", "fixmedins_code 与认证的机构不符: 一个 paasid 只能代表一家机构 "
                                                       "(fixmedins_code is not the hospital this paasid is bound to)",
                                  field="fixmedins_code")
        await guard.admit(principal, infno=env.infno, sign_no=env.sign_no)
        stage = "handler"
        handler = HANDLERS[env.infno]
        output = await handler(Call(env=env, principal=principal, stubs=deps.stubs, guard=guard,
                                    timeout_s=settings.grpc_deadline_s, clock=clock, reference=deps.cache,
                                    mobilepay=deps.extra.get("mobilepay")))
        span.set_attribute("his.outcome", "OK")
        if env.infno in feed.RECON_INFNOS:  # the console shows reconciliation results and differences
            feed.note(request, **feed.result_of(env.infno, output))
        return web.json_response(envelope(ok=True, output=output, admdvs=admdvs, received_at=received_at,
                                          responded_at=clock.naive_now()), dumps=_dumps)
    except SecurityRefusal as e:
        txn.outcome, txn.field = e.outcome, e.field or ""
        return _failure(_failure_of(e.outcome, e.message, e.field), admdvs, received_at, clock)
    except FieldError as e:
        txn.outcome, txn.field = e.outcome, e.field or ""
        return _failure(_failure_of(e.outcome, e.message, e.field, retriable=False), admdvs, received_at, clock)
    except grpc.RpcError as e:
        f = errors.from_rpc_error(e)
        txn.outcome, txn.field = f.outcome, f.field or ""
        if f.retriable:
            txn.error = f"grpc {getattr(e, 'code', lambda: '')()}"
        return _failure(f, admdvs, received_at, clock)
    except RedisError as e:
        # Before the handler ran, nothing left the gateway: the transaction was not processed, and
        # the reply says so (not RETRY_HINT's "outcome unknown"). One line (the transaction's), no traceback.
        txn.outcome = "GATEWAY_UNAVAILABLE"
        txn.error = f"redis ({stage}) {type(e).__name__}: {str(e)[:200]}"
        message = errors.NOT_PROCESSED_HINT if stage == "admit" else errors.RETRY_HINT
        return _failure(errors.Failure(outcome="GATEWAY_UNAVAILABLE", message=message, retriable=True),
                        admdvs, received_at, clock)


def routes() -> list[web.RouteDef]:
    """The main path, the main path + `/{infno}` (clients that append the transaction code) and
    the aliases. Other methods and paths under /fsi are failure envelopes too (gateway/app.py)."""
    async def main_path(request: web.Request) -> web.Response:
        return await call_service(request)

    out = [web.post(CALL_SERVICE_PATH, main_path), web.post(CALL_SERVICE_PATH + "/{infno}", main_path)]
    for path, infno in ALIASES.items():
        async def alias(request: web.Request, _infno: str = infno) -> web.Response:
            return await call_service(request, forced_infno=_infno)
        out.append(web.post(path, alias))
    return out
