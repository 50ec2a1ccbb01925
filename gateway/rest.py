"""REST API under /api/v1 (JSON). Errors are `{"error": {"code", "message", "field"}}` with a 4xx
status (503 when a service is unavailable). Every amount is a yuan string with two decimals
("525.00"), never integer fen; counts and years are JSON integers (docs/REST_API.md).

Everything here needs `Authorization: Bearer <API token>`: a token of an operator account
(gateway/console/, docs/CONSOLE.md; created in the console or with `medsettle operator token`),
whose role is checked per endpoint — reading (persons, filings, accumulators, settlements) for
every role, changing (reference loads, enrollments, identities, chronic qualifications,
clearing runs) for `operator` and `admin` only. Every change is recorded in the audit log with
the account, its outcome and what it named. MEDSETTLE_ADMIN_TOKEN, when set, is registered as a
token of the `admin` account at start-up (a bootstrap for automation). What a patient does for themselves (e-vouchers, online
filing) is behind the patient's session under /m/ (gateway/portal/, docs/PORTAL.md): there is no
public endpoint that acts for a person named in the request.
"""

from __future__ import annotations

import json
import logging
import re

import grpc
from aiohttp import web

from gateway.console.accounts import PERMISSIONS, Actor, can
from gateway.deps import RUNTIME, runtime
from gateway.his import envelope as f
from gateway.his.convert import fen_to_yuan, proto_to_his
from gateway.his.endpoint import parse_json
from gateway.his.errors import RETRY_HINT
from medsettle.eligibility.v1 import eligibility_pb2 as epb
from medsettle.filing.v1 import filing_pb2 as fpb
from medsettle.settlement.v1 import settlement_pb2 as spb
from services.common.grpcutil import STATUS_KIND, outcome_of
from services.common.outcomes import CATALOGUE, RETRIABLE_KINDS, Kind
from services.refdata.schema import IDENTITY_TYPES

log = logging.getLogger("gateway.rest")

PREFIX = "/api/v1"
SETLYM_RE = re.compile(r"^20[0-9]{2}(0[1-9]|1[0-2])$")

# The one table from an outcome's kind (services/common/outcomes.py) to a REST status code.
KIND_HTTP_STATUS: dict[Kind, int] = {
    Kind.INVALID: 400, Kind.REFUSED: 409, Kind.NOT_FOUND: 404, Kind.FORBIDDEN: 403, Kind.CONFLICT: 409,
    Kind.RETRY: 503, Kind.UNAVAILABLE: 503, Kind.INTERNAL: 503,
}


def error(status: int, code: str, message: str, field: str | None = None, **extra) -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field, **extra}}
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


class RestError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra):
        super().__init__(message)
        self.response = error(status, code, message, field, **extra)


async def _operator(request: web.Request, permission: str) -> Actor:
    """The operator whose API token the request carries, with `permission` (401 / 403 otherwise)."""
    _, deps, _ = runtime(request)
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.startswith("Bearer ") else ""
    console = deps.extra.get("console")
    owner = await console.token_owner(token) if console is not None and token else None
    if owner is None:
        raise RestError(401, "UNAUTHORIZED", "需要操作员的 API 令牌 (send Authorization: Bearer <API token of an "
                        "operator account>; create one in the console, /console/account)")
    if not can(owner.role, permission):
        if permission != "view" and console is not None:
            await console.record(Actor(owner.username, owner.role, "api", request.remote or ""), "forbidden",
                                 f"{request.method} {request.path[:100]}", outcome="refused",
                                 detail={"permission": permission})
        raise RestError(403, "FORBIDDEN_ROLE", f"角色 {owner.role} 无权执行此操作 (role {owner.role} may not do this: "
                        f"it needs one of {', '.join(sorted(PERMISSIONS[permission]))})")
    return Actor(owner.username, owner.role, "api", request.remote or "")


# The audit action of each changing endpoint (the handler's name).
AUDITED = {"load_reference": "reference.load", "run_clearing": "clearing.run", "upsert_enrollment": "enrollment.upsert",
           "set_identity": "identity.set", "grant_chronic": "chronic.grant", "review_alert": "alert.review"}
OPERATOR = web.RequestKey("operator", Actor)  # the Actor whose token the request carries


async def _body(request: web.Request) -> dict:
    if request.content_type != "application/json":
        raise RestError(415, "BAD_CONTENT_TYPE", "Content-Type must be application/json")
    try:
        data = parse_json(await request.read())
    except f.FieldError as e:
        raise RestError(400, e.outcome, e.message, e.field) from None
    if not isinstance(data, dict):
        raise RestError(400, "BAD_JSON", "the body must be a JSON object")
    return data


def endpoint(admin: bool = False, body: bool = False, permission: str = "view"):
    """Wraps a handler: the operator's token and role (`permission`, accounts.PERMISSIONS), JSON
    body, field errors and gRPC errors to REST errors; a changing endpoint (AUDITED) is recorded in
    the audit log with its outcome."""
    def wrap(fn):
        audited = AUDITED.get(fn.__name__)

        async def handler(request: web.Request) -> web.Response:
            actor: Actor | None = None
            b: dict = {}
            try:
                if admin:
                    actor = await _operator(request, permission)
                    request[OPERATOR] = actor
                args = [b := await _body(request)] if body else []
                settings, deps, _ = runtime(request)
                result = await fn(request, deps, settings.grpc_deadline_s, *args)
                response = result if isinstance(result, web.Response) else web.json_response(
                    result, dumps=_dumps, status=201 if request.method == "POST" else 200)
            except RestError as e:
                response = e.response
            except f.FieldError as e:
                response = error(400, e.outcome, e.message, e.field)
            except grpc.RpcError as e:
                outcome, field = outcome_of(e)
                kind = CATALOGUE.kind_of(outcome or "", STATUS_KIND.get(e.code(), Kind.UNAVAILABLE))
                if kind in RETRIABLE_KINDS:
                    response = error(503, "SERVICE_UNAVAILABLE" if kind is not Kind.RETRY else outcome or "BUSY",
                                     RETRY_HINT if kind is not Kind.RETRY else e.details() or RETRY_HINT)
                else:
                    response = error(KIND_HTTP_STATUS[kind], outcome or e.code().name, e.details() or e.code().name,
                                     field)
            if audited and actor is not None:
                await _audit(request, actor, audited, b, response)
            return response
        handler.__name__ = fn.__name__
        return handler
    return wrap


async def _audit(request: web.Request, actor: Actor, action: str, body: dict, response: web.Response) -> None:
    """One audit row: who, what (the person, month or load named), the HTTP status and outcome."""
    deps = request.app[RUNTIME].deps
    console = deps.extra.get("console") if deps is not None else None
    if console is None:
        return
    target = str(body.get("psn_no") or body.get("setlym") or "")[:40] if isinstance(body, dict) else ""
    if action == "alert.review":
        target = request.match_info.get("alert_id", "")[:40]
    code = ""
    if response.status >= 400 and isinstance(response.body, bytes):
        try:
            code = str(json.loads(response.body)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            code = ""
    detail: dict = {"status": response.status, **({"code": code} if code else {})}
    if action == "reference.load" and response.status < 400 and isinstance(response.body, bytes):
        detail["changed"] = json.loads(response.body).get("changed")
    if action == "alert.review" and isinstance(body, dict):  # the decision asked for and its reason
        detail.update(decision=str(body.get("status") or "")[:10], note=str(body.get("note") or "")[:200])
    try:
        await console.record(actor, action, target, outcome="ok" if response.status < 400 else "refused", detail=detail)
    except Exception:  # noqa: BLE001 - the change is made; a missing audit row is logged loudly
        log.exception("audit: not recorded", extra={"action": action, "actor": actor.username})


# ----------------------------------------------------------------------------- admin

@endpoint(admin=True)
async def get_person(request, deps, timeout):
    psn_no = f.psn_no({"psn_no": request.match_info["psn_no"]}, "")
    reply = await deps.stubs.eligibility.FindPerson(epb.FindPersonRequest(psn_no=psn_no), timeout=timeout)
    return proto_to_his(reply)


@endpoint(admin=True)
async def list_filings(request, deps, timeout):
    psn_no = f.psn_no({"psn_no": request.match_info["psn_no"]}, "")
    reply = await deps.stubs.filing.ListFilings(
        fpb.ListFilingsRequest(psn_no=psn_no, include_inactive=request.query.get("all") == "1"), timeout=timeout)
    return proto_to_his(reply)


@endpoint(admin=True)
async def get_accumulators(request, deps, timeout):
    q = dict(request.query)
    psn_no = f.psn_no({"psn_no": request.match_info["psn_no"]}, "")
    req = spb.GetAccumulatorsRequest(psn_no=psn_no, insutype=f.insutype(q, "", required=False),
                                     year=f.integer(q, "year", "", lo=2000, hi=2100))
    reply = await deps.stubs.settlement.GetAccumulators(req, timeout=timeout)
    return accumulators_json(reply)


COUNT_PREFIX = "admissions"  # accumulator keys that count (admissions:*), not money


def accumulators_json(reply: spb.AccumulatorsResponse) -> dict:
    """The REST form of GetAccumulators: every amount a yuan string as everywhere in /api/v1
    (`amount`, `cap`: null when there is none; `account_balance`), and a counting accumulator
    (admissions:*) under fields of its own as JSON integers (`count`, `count_cap`), so no field
    ever holds fen or changes its type."""
    rows = []
    for a in reply.accumulators:
        if a.key.startswith(COUNT_PREFIX):
            rows.append({"key": a.key, "unit": "count", "count": a.amount, "count_cap": None if a.cap < 0 else a.cap})
        else:
            rows.append({"key": a.key, "unit": "yuan", "amount": fen_to_yuan(a.amount),
                         "cap": None if a.cap < 0 else fen_to_yuan(a.cap)})
    return {"psn_no": reply.psn_no, "insutype": reply.insutype, "year": reply.year,
            "account_balance": fen_to_yuan(reply.account_balance_fen), "accumulators": rows}


@endpoint(admin=True)
async def get_settlement(request, deps, timeout):
    setl_id = f.ident({"setl_id": request.match_info["setl_id"]}, "setl_id", "")
    reply = await deps.stubs.settlement.GetSettlement(spb.GetSettlementRequest(setl_id=setl_id), timeout=timeout)
    return proto_to_his(reply)


@endpoint(admin=True, permission="act")
async def load_reference(request, deps, timeout):
    """Load a reference document (docs/REFERENCE_DATA.md): all of it or, on any error, nothing."""
    from services.refdata.schema import ReferenceError, loads, parse_document
    from services.refdata.store import PersonsStoreUnavailable, invalidate_loaded_persons, load_document

    if request.content_type != "application/json":
        raise RestError(415, "BAD_CONTENT_TYPE", "Content-Type must be application/json")
    if deps.db_pool is None:
        raise RestError(503, "NO_DATABASE", "this gateway has no database pool for reference loads")
    try:
        data = loads((await request.read()).decode("utf-8"))  # the reference parser's own JSON reading
    except (ValueError, RecursionError) as e:
        raise RestError(400, "BAD_JSON", f"the body is not valid JSON: {str(e)[:100]}") from None
    try:
        # stored=None: references to what is already stored are checked by load_document, under its lock
        doc = parse_document(data, stored=None)
        report = await load_document(deps.db_pool, doc)
    except ReferenceError as e:
        raise RestError(400, "INVALID_REFERENCE", f"{len(e.errors)} error(s) in the reference document; nothing "
                        "was loaded", e.errors[0].split(":", 1)[0] if e.errors else None, errors=e.errors) from None
    except PersonsStoreUnavailable as e:
        raise RestError(503, "PERSONS_STORE_UNAVAILABLE", str(e)) from None
    # Acknowledge only once no eligibility read can return a person's old status.
    await invalidate_loaded_persons(deps.redis, doc)
    return web.json_response({"report": report.as_dict(), "changed": report.changed}, dumps=_dumps)


@endpoint(admin=True, body=True, permission="act")
async def run_clearing(request, deps, timeout, b):
    setlym = f.text(b, "setlym", "", max_len=6, min_len=6, pattern=SETLYM_RE, what="yyyyMM")
    # A month's clearing reads every settlement of the month: give it more than a counter call.
    reply = await deps.stubs.settlement.RunClearing(spb.RunClearingRequest(setlym=setlym), timeout=max(timeout, 60.0))
    return proto_to_his(reply)


@endpoint(admin=True, body=True, permission="act")
async def upsert_enrollment(request, deps, timeout, b):
    e = epb.Enrollment(psn_no=f.psn_no(b, ""), pool=f.text(b, "pool", "", max_len=20),
                       insutype=f.insutype(b, ""), year=f.integer(b, "year", "", lo=2000, hi=2100),
                       psn_type=f.text(b, "psn_type", "", max_len=10, choices=("employee", "retired", "resident")),
                       benefit_start=f.date(b, "benefit_start", "", required=False),
                       benefit_end=f.date(b, "benefit_end", "", required=False),
                       status=f.text(b, "status", "", required=False, max_len=12,
                                     choices=("active", "paused", "lapsed", "terminated")) or "active")
    certno = f.text(b, "certno", "", required=False, max_len=18, min_len=18)
    if certno and not f.valid_certno(certno):
        raise f.FieldError("certno", "身份证号无效 (not a valid resident ID number: GB 11643 check digit)")
    req = epb.UpsertEnrollmentRequest(
        enrollment=e, paid_date=f.date(b, "paid_date", "", required=False),
        enrollment_kind=f.text(b, "enrollment_kind", "", required=False, max_len=12,
                               choices=("in_period", "newborn", "low_income", "switcher", "other")),
        certno=certno, name=f.text(b, "name", "", required=False, max_len=50),
        gender=f.text(b, "gender", "", required=False, max_len=1, choices=("1", "2")),
        birthdate=f.date(b, "birthdate", "", required=False))
    return proto_to_his(await deps.stubs.eligibility.UpsertEnrollment(req, timeout=timeout))


@endpoint(admin=True, body=True, permission="act")
async def set_identity(request, deps, timeout, b):
    req = epb.SetIdentityRequest(psn_no=f.psn_no(b, ""), type=f.text(b, "type", "", max_len=30, choices=IDENTITY_TYPES),
                                 begin=f.date(b, "begin", "", required=False), end=f.date(b, "end", "", required=False),
                                 remove=f.flag(b, "remove", ""))
    return proto_to_his(await deps.stubs.eligibility.SetIdentity(req, timeout=timeout))


@endpoint(admin=True, body=True, permission="act")
async def grant_chronic(request, deps, timeout, b):
    req = epb.GrantChronicRequest(psn_no=f.psn_no(b, ""), code=f.text(b, "code", "", max_len=6, min_len=6),
                                  begin=f.date(b, "begin", ""), end=f.date(b, "end", "", required=False),
                                  hospital=f.text(b, "hospital", "", required=False, max_len=12))
    return proto_to_his(await deps.stubs.eligibility.GrantChronic(req, timeout=timeout))


# ----------------------------------------------------------------------------- supervision alerts (console)
# Reading: every role. A decision (confirm/dismiss) needs the `review` permission (reviewer or
# admin); the reviewer recorded is the account whose token made it, and every decision asked for,
# made or refused, is in the console's audit log (action alert.review).


def _alert(a: spb.Alert) -> dict:
    out = proto_to_his(a)
    out["evidence"] = json.loads(out.pop("evidence_json") or "{}")
    return out


@endpoint(admin=True)
async def list_alerts(request, deps, timeout):
    q = dict(request.query)
    req = spb.ListAlertsRequest(
        status=f.text(q, "status", "", required=False, max_len=10, choices=("open", "confirmed", "dismissed")),
        pattern=f.text(q, "pattern", "", required=False, max_len=40),
        psn_no=f.psn_no(q, "", required=False),
        fixmedins_code=f.text(q, "fixmedins_code", "", required=False, max_len=12),
        limit=f.integer(q, "limit", "", required=False, lo=1, hi=1000) if q.get("limit") else 0)
    reply = await deps.stubs.settlement.ListAlerts(req, timeout=timeout)
    return web.json_response({"alerts": [_alert(a) for a in reply.alerts]}, dumps=_dumps)


@endpoint(admin=True)
async def get_alert(request, deps, timeout):
    alert_id = f.ident({"alert_id": request.match_info["alert_id"]}, "alert_id", "", max_len=40)
    reply = await deps.stubs.settlement.GetAlert(spb.GetAlertRequest(alert_id=alert_id), timeout=timeout)
    return web.json_response(_alert(reply), dumps=_dumps)


@endpoint(admin=True, body=True, permission="review")
async def review_alert(request, deps, timeout, b):
    """open -> confirmed | dismissed, by the reviewer whose token this is, with why (required)."""
    alert_id = f.ident({"alert_id": request.match_info["alert_id"]}, "alert_id", "", max_len=40)
    req = spb.ReviewAlertRequest(
        alert_id=alert_id, status=f.text(b, "status", "", max_len=10, choices=("confirmed", "dismissed")),
        reviewer=request[OPERATOR].username, note=f.text(b, "note", "", max_len=2000))
    reply = await deps.stubs.settlement.ReviewAlert(req, timeout=timeout)
    return web.json_response(_alert(reply), dumps=_dumps)


async def openapi_json(request: web.Request) -> web.Response:
    from gateway.openapi import document

    return web.json_response(document())


def routes() -> list[web.RouteDef]:
    return [
        web.get(f"{PREFIX}/openapi.json", openapi_json),
        web.get(f"{PREFIX}/persons/{{psn_no}}", get_person),
        web.get(f"{PREFIX}/persons/{{psn_no}}/filings", list_filings),
        web.get(f"{PREFIX}/persons/{{psn_no}}/accumulators", get_accumulators),
        web.get(f"{PREFIX}/settlements/{{setl_id}}", get_settlement),
        web.post(f"{PREFIX}/admin/reference", load_reference),
        web.post(f"{PREFIX}/admin/clearing-runs", run_clearing),
        web.post(f"{PREFIX}/admin/enrollments", upsert_enrollment),
        web.post(f"{PREFIX}/admin/identities", set_identity),
        web.post(f"{PREFIX}/admin/chronic", grant_chronic),
        web.get(f"{PREFIX}/admin/alerts", list_alerts),
        web.get(f"{PREFIX}/admin/alerts/{{alert_id}}", get_alert),
        web.post(f"{PREFIX}/admin/alerts/{{alert_id}}/review", review_alert),
    ]
