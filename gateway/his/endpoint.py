"""`POST /fsi/api/rsfComIfsService/callService` (and per-transaction aliases): one HIS transaction.

Order of checks: TIF signature and timestamp (no I/O) -> body is JSON -> envelope -> the envelope's
hospital is the authenticated one -> nonce, sign-in and rate limit (one Redis round trip) ->
the transaction's handler. Whatever fails becomes a failure envelope here; transport and
authentication problems get a 4xx status, a transaction the platform refuses gets HTTP 200 with
infcode -1 (what HIS integrations expect from the national platform).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal

import grpc
from aiohttp import web
from opentelemetry import trace
from redis.exceptions import RedisError

from gateway.deps import RUNTIME, runtime
from gateway.his import errors
from gateway.his.dispatch import Call
from gateway.his.envelope import FieldError, parse_envelope, peek_infno
from gateway.his.handlers import HANDLERS  # the infno table, listed there
from gateway.his.response import envelope
from gateway.his.security import SecurityRefusal, authenticate
from services.common.clock import Clock
from services.common.telemetry import mask

log = logging.getLogger("gateway.his")

CALL_SERVICE_PATH = "/fsi/api/rsfComIfsService/callService"
# Per-transaction paths some provinces publish, served by the same code.
ALIASES = {
    "/fsi/api/outpatientSettleService/saveSettletmentV2": "2207",
    "/fsi/api/outpatientSettleService/preSettletmentA": "2206",
}


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def parse_json(raw: bytes):
    """JSON with numbers as Decimal (never float) and NaN/Infinity refused."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FieldError("(body)", "请求体应为 UTF-8 编码的 JSON (the body must be UTF-8 JSON)", outcome="BAD_JSON") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise FieldError("(body)", f"请求体不是合法 JSON (the body is not valid JSON: {str(e)[:80]})",
                         outcome="BAD_JSON") from None


def failure_response(*, outcome: str, message: str, clock: Clock, field: str | None = None, status: int = 200,
                     admdvs: str = "000000", received_at: dt.datetime | None = None,
                     retriable: bool = False) -> web.Response:
    f = errors.Failure(outcome=outcome, message=message, field=field, retriable=retriable, http_status=status)
    return _failure(f, admdvs, received_at or clock.naive_now(), clock)


def _failure(f: errors.Failure, admdvs: str, received_at: dt.datetime, clock: Clock) -> web.Response:
    span = trace.get_current_span()
    span.set_attribute("his.outcome", f.outcome)
    if f.field:
        span.set_attribute("his.field", f.field)
    body = envelope(ok=False, output=f.output(), admdvs=admdvs, received_at=received_at,
                    responded_at=clock.naive_now(), err_msg=f.err_msg())
    return web.json_response(body, status=f.http_status, dumps=_dumps)


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


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


async def call_service(request: web.Request, forced_infno: str | None = None) -> web.Response:
    clock = request.app[RUNTIME].clock
    received_at = clock.naive_now()
    settings, deps, guard = runtime(request)
    span = trace.get_current_span()
    admdvs = "000000"
    infno = forced_infno or ""
    try:
        principal = authenticate(request.headers, deps.cache, window_s=settings.tif_window_s)
        admdvs = principal.admdvs
        span.set_attribute("his.fixmedins_code", principal.code)
        ctype = request.content_type
        if ctype not in ("application/json", "text/json"):
            raise SecurityRefusal("BAD_CONTENT_TYPE", f"Content-Type 应为 application/json (Content-Type must be "
                                                      f"application/json, got {ctype[:40]!r})", status=415)
        body = parse_json(await request.read())
        if forced_infno and isinstance(body, dict):
            if body.get("infno") in (None, ""):
                body["infno"] = forced_infno
            elif body.get("infno") != forced_infno:
                raise FieldError("infno", f"此地址只受理 {forced_infno} 交易 (this path serves {forced_infno} only)")
        infno = peek_infno(body) or infno
        span.set_attribute("his.infno", infno)
        env = parse_envelope(body, known_infnos=HANDLERS)
        if isinstance(env.input, dict):
            _annotate(span, env.input, env.infno)
        span.set_attribute("his.msgid", env.msgid)
        if env.fixmedins_code != principal.code:
            raise SecurityRefusal("HOSPITAL_MISMATCH", "fixmedins_code 与认证的机构不符: 一个 paasid 只能代表一家机构 "
                                                       "(fixmedins_code is not the hospital this paasid is bound to)",
                                  status=403, field="fixmedins_code")
        await guard.admit(principal, infno=env.infno, sign_no=env.sign_no)
        handler = HANDLERS[env.infno]
        output = await handler(Call(env=env, principal=principal, stubs=deps.stubs, guard=guard,
                                    timeout_s=settings.grpc_deadline_s, clock=clock))
        span.set_attribute("his.outcome", "OK")
        return web.json_response(envelope(ok=True, output=output, admdvs=admdvs, received_at=received_at,
                                          responded_at=clock.naive_now()), dumps=_dumps)
    except SecurityRefusal as e:
        log.info("refused", extra={"infno": infno, "outcome": e.outcome})
        return _failure(errors.Failure(outcome=e.outcome, message=e.message, field=e.field, http_status=e.status),
                        admdvs, received_at, clock)
    except FieldError as e:
        status = 400 if e.outcome == "BAD_JSON" else 200
        return _failure(errors.Failure(outcome=e.outcome, message=e.message, field=e.field, http_status=status),
                        admdvs, received_at, clock)
    except grpc.RpcError as e:
        f = errors.from_rpc_error(e)
        if f.retriable:
            log.warning("service call failed", extra={"infno": infno, "outcome": f.outcome,
                                                      "grpc_code": str(getattr(e, "code", lambda: "")())})
        return _failure(f, admdvs, received_at, clock)
    except RedisError:
        log.exception("redis unavailable")
        return _failure(errors.Failure(outcome="GATEWAY_UNAVAILABLE", message=errors.RETRY_HINT, retriable=True,
                                       http_status=503), admdvs, received_at, clock)


def routes() -> list[web.RouteDef]:
    async def main_path(request: web.Request) -> web.Response:
        return await call_service(request)

    out = [web.post(CALL_SERVICE_PATH, main_path)]
    for path, infno in ALIASES.items():
        async def alias(request: web.Request, _infno: str = infno) -> web.Response:
            return await call_service(request, forced_infno=_infno)
        out.append(web.post(path, alias))
    return out
