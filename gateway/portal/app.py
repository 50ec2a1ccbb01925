"""Routes of the patient's phone pages `/m/` and their JSON API `/m/api/` (docs/PORTAL.md).

Handlers are thin: read the form or JSON, check CSRF (every POST), call a use case
(accounts.py) or a service over gRPC with the psn_no of the SESSION (never one from the
request), render. `setup(app)` adds the routes, the Jinja2 templates, the static files, the
cookie hook, and builds the `Portal` when the app starts.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import grpc
import jinja2
import segno
from aiohttp import web

from gateway.deps import RUNTIME, SETTINGS
from gateway.his import envelope as f
from gateway.his.convert import proto_to_his
from gateway.portal import sessions
from gateway.portal.accounts import Portal, PortalRefusal
from gateway.portal.ratelimit import RateLimiter
from gateway.portal.repository import AccountsRepository
from gateway.portal.sessions import CsrfRefused, check_csrf, login_required, render, signed_in_psn_no
from gateway.portal.sms import build_sender
from medsettle.eligibility.v1 import eligibility_pb2 as epb
from medsettle.filing.v1 import filing_pb2 as fpb
from medsettle.settlement.v1 import settlement_pb2 as spb
from services.common.grpcutil import outcome_of

log = logging.getLogger("gateway.portal")

HERE = Path(__file__).parent
class PortalHolder:
    """The app's Portal, set when the app starts (the app itself is frozen by then)."""
    portal: Portal | None = None


PORTAL = web.AppKey("portal", PortalHolder)
DESTINATION_RE = re.compile(r"^[0-9]{2}([0-9]{4})?$")
PENDING_TTL_EXTRA_S = 60

FILING_TYPES = {
    "long_term_residence": "异地长期居住 (long-term residence)",
    "stationed_work": "常驻异地工作 (stationed at work)",
    "retired_relocated": "异地安置退休 (retired, relocated)",
    "temporary": "临时外出就医 (temporary)",
    "referral": "转诊转院 (referral)",
}
INSUTYPES = {"310": "职工基本医疗保险 (employee)", "390": "城乡居民基本医疗保险 (resident)"}
STATUS_LABELS = {"active": "有效 (active)", "revoked": "已撤销 (revoked)", "superseded": "已变更 (superseded)"}
ACCUMULATOR_LABELS = {"deductible": "起付线已付 (deductible paid)", "pool": "统筹基金已付 (pooled fund paid)",
                      "critical": "大病保险 (critical illness)", "large": "大额补助 (large-amount subsidy)",
                      "assistance": "医疗救助 (medical assistance)", "admissions": "住院次数 (admissions)",
                      "outpatient": "门诊 (outpatient)", "chronic": "门诊慢特病 (chronic)"}


def portal_of(request: web.Request) -> Portal:
    holder = request.app.get(PORTAL)
    portal = holder.portal if holder is not None else None
    if portal is None:
        raise web.HTTPServiceUnavailable(reason="the patient pages are starting or stopping")
    return portal


def client_of(request: web.Request) -> str:
    return request.remote or "?"


def _grpc_message(e: grpc.RpcError) -> tuple[str, str, str | None]:
    outcome, field = outcome_of(e)
    if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
                    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        return ("SERVICE_UNAVAILABLE", "医保服务暂不可用, 请稍后再试 (the service is unavailable: try again later)", None)
    return outcome or e.code().name, e.details() or e.code().name, field


def _status_of(e: grpc.RpcError) -> int:
    return {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404,
            grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.ALREADY_EXISTS: 409,
            grpc.StatusCode.FAILED_PRECONDITION: 409}.get(e.code(), 503)


def json_error(status: int, code: str, message: str, field: str | None = None, **extra) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "field": field, **extra}}, status=status,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def forbidden_page(request: web.Request, why: str) -> web.Response:
    log.warning("portal: CSRF refused", extra={"path": request.path[:100], "why": why})
    return await render(request, "error.html", {"title": "请求被拒绝 (request refused)",
                                                "message": "请求来源无法验证, 请从本站页面重新提交。(The request could not "
                                                           "be verified: submit it again from this site's page.)"},
                        status=403)


# ----------------------------------------------------------------------------- people


async def person_info(portal: Portal, psn_no: str) -> Any:
    return await portal.stubs.eligibility.FindPerson(epb.FindPersonRequest(psn_no=psn_no), timeout=portal.deadline)


async def finish_sign_in(request: web.Request, portal: Portal, psn_no: str) -> None:
    try:
        name = (await person_info(portal, psn_no)).baseinfo.psn_name
    except grpc.RpcError:
        name = ""
    await sessions.sign_in(request, psn_no, name)


def _pending_key(sid: str) -> str:
    return f"portal:pending:{sid}"


async def start_code(request: web.Request, certno: str, name: str, purpose: str) -> None:
    portal = portal_of(request)
    subj = await portal.send_code(certno=certno, name=name, purpose=purpose, client=client_of(request))
    await portal.redis.set(_pending_key(sessions.sid(request)),
                           json.dumps({"subj": subj, "certno": certno.strip().upper(), "purpose": purpose}),
                           ex=portal.settings.portal_code_ttl_s + PENDING_TTL_EXTRA_S)


async def pending(request: web.Request) -> dict | None:
    raw = await portal_of(request).redis.get(_pending_key(sessions.sid(request)))
    return None if raw is None else json.loads(raw)


async def finish_code(request: web.Request, code: str, password: str | None, again: str | None) -> str:
    """Verify the pending code (and for a signup the password); bind the account; sign in."""
    portal = portal_of(request)
    p = await pending(request)
    if p is None:
        raise PortalRefusal("CODE_EXPIRED", None, "code")
    if p["purpose"] == "signup":
        portal.check_password_rules(password or "", again)  # before the code is spent
    psn_no = await portal.verify_code(subj=p["subj"], code=code, purpose=p["purpose"], client=client_of(request))
    await portal.bind_account(psn_no=psn_no, certno=p["certno"],
                              password=password if p["purpose"] == "signup" else None, again=again)
    await portal.redis.delete(_pending_key(sessions.sid(request)))
    await finish_sign_in(request, portal, psn_no)
    return psn_no


# ----------------------------------------------------------------------------- pages


async def home(request: web.Request) -> web.Response:
    return await render(request, "home.html", {})


async def signup_page(request: web.Request) -> web.Response:
    return await render(request, "signup.html", {"step": "details", "form": {}})


async def login_page(request: web.Request) -> web.Response:
    mode = "code" if request.query.get("mode") == "code" else "password"
    return await render(request, "login.html", {"mode": mode, "form": {},
                                                "next": sessions.safe_next(request.query.get("next"))})


async def code_post(request: web.Request) -> web.Response:
    """Step 1 of a signup or a code login: certno + name -> a code (if they match)."""
    form = await request.post()
    try:
        check_csrf(request, form)
    except CsrfRefused as e:
        return await forbidden_page(request, e.why)
    purpose = "signup" if request.path.startswith("/m/signup") else "login"
    template = "signup.html" if purpose == "signup" else "login.html"
    ctx: dict[str, Any] = {"step": "details", "mode": "code", "form": {"certno": form.get("certno", ""),
                                                                       "name": form.get("name", "")},
                           "next": sessions.safe_next(str(form.get("next") or ""))}
    try:
        await start_code(request, str(form.get("certno", "")), str(form.get("name", "")), purpose)
    except PortalRefusal as e:
        return await render(request, template, {**ctx, "error": e.message, "error_field": e.field}, status=e.status)
    except grpc.RpcError as e:
        return await render(request, template, {**ctx, "error": _grpc_message(e)[1]}, status=503)
    raise web.HTTPSeeOther(f"/m/verify?next={ctx['next']}")


async def verify_page(request: web.Request) -> web.Response:
    p = await pending(request)
    if p is None:
        raise web.HTTPSeeOther("/m/signup")
    return await render(request, "verify.html", {"purpose": p["purpose"],
                                                 "next": sessions.safe_next(request.query.get("next"))})


async def verify_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        check_csrf(request, form)
    except CsrfRefused as e:
        return await forbidden_page(request, e.why)
    p = await pending(request)
    nxt = sessions.safe_next(str(form.get("next") or ""))
    try:
        await finish_code(request, str(form.get("code", "")), str(form["password"]) if "password" in form else None,
                          str(form["password2"]) if "password2" in form else None)
    except PortalRefusal as e:
        return await render(request, "verify.html", {"purpose": (p or {}).get("purpose", "signup"), "next": nxt,
                                                     "error": e.message, "error_field": e.field}, status=e.status)
    except grpc.RpcError as e:
        return await render(request, "verify.html", {"purpose": (p or {}).get("purpose", "signup"), "next": nxt,
                                                     "error": _grpc_message(e)[1]}, status=503)
    raise web.HTTPSeeOther(nxt)


async def login_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        check_csrf(request, form)
    except CsrfRefused as e:
        return await forbidden_page(request, e.why)
    portal = portal_of(request)
    nxt = sessions.safe_next(str(form.get("next") or ""))
    try:
        psn_no = await portal.password_login(certno=str(form.get("certno", "")), password=str(form.get("password", "")),
                                             client=client_of(request))
    except PortalRefusal as e:
        return await render(request, "login.html", {"mode": "password", "next": nxt, "error": e.message,
                                                    "error_field": e.field,
                                                    "form": {"certno": form.get("certno", "")}}, status=e.status)
    await finish_sign_in(request, portal, psn_no)
    raise web.HTTPSeeOther(nxt)


async def logout_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        check_csrf(request, form)
    except CsrfRefused as e:
        return await forbidden_page(request, e.why)
    await sessions.sign_out(request)
    raise web.HTTPSeeOther("/m/")


def qr_svg(token: str) -> str:
    return segno.make(token, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff")


async def issue(request: web.Request, psn_no: str) -> dict:
    portal = portal_of(request)
    ev = await portal.stubs.eligibility.IssueEvoucher(epb.IssueEvoucherRequest(psn_no=psn_no), timeout=portal.deadline)
    log.info("portal: e-voucher issued", extra={"ttl_s": ev.ttl_s})
    return {"token": ev.token, "expires_at": ev.expires_at, "ttl_s": ev.ttl_s, "mdtrt_cert_type": "01",
            "svg": qr_svg(ev.token)}


@login_required
async def evoucher_page(request: web.Request) -> web.Response:
    psn_no = await signed_in_psn_no(request)
    assert psn_no is not None
    try:
        ev = await issue(request, psn_no)
    except grpc.RpcError as e:
        return await render(request, "error.html", {"title": "电子凭证 (e-voucher)", "message": _grpc_message(e)[1]},
                            status=_status_of(e))
    return await render(request, "evoucher.html", {"ev": ev})


async def _settlements(request: web.Request, psn_no: str, year: int = 0) -> list[dict]:
    portal = portal_of(request)
    reply = await portal.stubs.settlement.ListPersonSettlements(
        spb.ListPersonSettlementsRequest(psn_no=psn_no, year=year, limit=50), timeout=portal.deadline)
    return [proto_to_his(s) for s in reply.settlements]


@login_required
async def settlements_page(request: web.Request) -> web.Response:
    psn_no = await signed_in_psn_no(request)
    assert psn_no is not None
    try:
        items = await _settlements(request, psn_no)
    except grpc.RpcError as e:
        return await render(request, "settlements.html", {"items": [], "error": _grpc_message(e)[1]}, status=503)
    return await render(request, "settlements.html", {"items": items})


@login_required
async def settlement_page(request: web.Request) -> web.Response:
    psn_no = await signed_in_psn_no(request)
    assert psn_no is not None
    setl_id = request.match_info["setl_id"]
    try:
        items = await _settlements(request, psn_no)
    except grpc.RpcError as e:
        return await render(request, "error.html", {"title": "结算 (settlement)", "message": _grpc_message(e)[1]},
                            status=503)
    found = next((s for s in items if s["setlinfo"] and s["setlinfo"]["setl_id"] == setl_id), None)
    if found is None:  # not one of MY settlements: the same answer as one that does not exist
        return await render(request, "error.html", {"title": "结算 (settlement)",
                                                    "message": "未找到该结算 (no such settlement of yours)"}, status=404)
    return await render(request, "settlement.html", {"s": found})


async def _accumulators(request: web.Request, psn_no: str, year: int) -> list[dict]:
    portal = portal_of(request)
    info = await person_info(portal, psn_no)
    out = []
    for insutype in sorted({i.insutype for i in info.insuinfo}):
        reply = await portal.stubs.settlement.GetAccumulators(
            spb.GetAccumulatorsRequest(psn_no=psn_no, insutype=insutype, year=year), timeout=portal.deadline)
        d = proto_to_his(reply)
        d["label"] = INSUTYPES.get(insutype, insutype)
        d["lines"] = [{"key": a.key, "label": ACCUMULATOR_LABELS.get(a.key.split(":")[0], a.key),
                       "count": a.key.startswith("admissions"), "amount": a.amount, "cap": a.cap,
                       "amount_yuan": f"{a.amount // 100}.{a.amount % 100:02d}",
                       "cap_yuan": "" if a.cap < 0 else f"{a.cap // 100}.{a.cap % 100:02d}"}
                      for a in reply.accumulators]
        out.append(d)
    return out


@login_required
async def accumulators_page(request: web.Request) -> web.Response:
    psn_no = await signed_in_psn_no(request)
    assert psn_no is not None
    year = portal_of(request).clock.today().year
    try:
        groups = await _accumulators(request, psn_no, year)
    except grpc.RpcError as e:
        return await render(request, "accumulators.html", {"groups": [], "year": year,
                                                           "error": _grpc_message(e)[1]}, status=503)
    return await render(request, "accumulators.html", {"groups": groups, "year": year})


async def _filings(request: web.Request, psn_no: str) -> list[dict]:
    portal = portal_of(request)
    reply = await portal.stubs.filing.ListFilings(fpb.ListFilingsRequest(psn_no=psn_no, include_inactive=True),
                                                  timeout=portal.deadline)
    return [proto_to_his(x) for x in reply.filings]


def filing_from(data: Any, psn_no: str) -> fpb.Filing:
    """The online filing of `data` (form or JSON) FOR `psn_no` (the session's; never from data)."""
    b = {k: str(data.get(k) or "") for k in ("insutype", "type", "destination", "begin", "end") if data.get(k)}
    begin = f.date(b, "begin", "")
    end = f.date(b, "end", "", required=False)
    if end and end < begin:
        raise f.FieldError("end", "结束日期早于开始日期 (end is before begin)", "END_BEFORE_BEGIN")
    return fpb.Filing(psn_no=psn_no, insutype=f.insutype(b, ""),
                      type=f.text(b, "type", "", max_len=30, choices=tuple(FILING_TYPES)),
                      destination=f.text(b, "destination", "", max_len=6, min_len=2,
                                         pattern=DESTINATION_RE,
                                         what="a province (33) or division (330600) code"),
                      begin=begin, end=end, source="online")


async def _filings_context(request: web.Request, psn_no: str, **extra) -> dict:
    portal = portal_of(request)
    try:
        items = await _filings(request, psn_no)
        info = await person_info(portal, psn_no)
        insutypes = sorted({i.insutype for i in info.insuinfo})
    except grpc.RpcError as e:
        return {"items": [], "insutypes": [], "error": _grpc_message(e)[1], **extra}
    return {"items": items, "insutypes": [(i, INSUTYPES.get(i, i)) for i in insutypes], "types": FILING_TYPES,
            "statuses": STATUS_LABELS, "today": portal.clock.today().isoformat(), **extra}


@login_required
async def filings_page(request: web.Request) -> web.Response:
    psn_no = await signed_in_psn_no(request)
    assert psn_no is not None
    return await render(request, "filings.html", await _filings_context(request, psn_no, form={}))


async def filing_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:  # CSRF first: a cross-site post is refused (403) before anything else is looked at
        check_csrf(request, form)
    except CsrfRefused as e:
        return await forbidden_page(request, e.why)
    psn_no = await signed_in_psn_no(request)
    if psn_no is None:
        raise web.HTTPSeeOther("/m/login?next=/m/filings")
    portal = portal_of(request)
    try:
        filing = filing_from(form, psn_no)
        await portal.stubs.filing.CreateFiling(fpb.CreateFilingRequest(filing=filing), timeout=portal.deadline)
    except f.FieldError as e:
        return await render(request, "filings.html", await _filings_context(
            request, psn_no, form=dict(form), error=e.message, error_field=e.field), status=400)
    except grpc.RpcError as e:
        code, message, field = _grpc_message(e)
        return await render(request, "filings.html", await _filings_context(
            request, psn_no, form=dict(form), error=message, error_field=field, error_code=code), status=_status_of(e))
    log.info("portal: online filing created", extra={"type": filing.type})
    raise web.HTTPSeeOther("/m/filings?done=created")


async def revoke_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:  # CSRF first: a cross-site post is refused (403) before anything else is looked at
        check_csrf(request, form)
    except CsrfRefused as e:
        return await forbidden_page(request, e.why)
    psn_no = await signed_in_psn_no(request)
    if psn_no is None:
        raise web.HTTPSeeOther("/m/login?next=/m/filings")
    portal = portal_of(request)
    try:
        await portal.stubs.filing.RevokeFiling(fpb.RevokeFilingRequest(
            filing_id=request.match_info["filing_id"][:40], psn_no=psn_no), timeout=portal.deadline)
    except grpc.RpcError as e:
        code, message, field = _grpc_message(e)
        return await render(request, "filings.html", await _filings_context(
            request, psn_no, form={}, error=message, error_code=code), status=_status_of(e))
    raise web.HTTPSeeOther("/m/filings?done=revoked")


# ----------------------------------------------------------------------------- JSON API


def api(*, signed_in: bool = True, post: bool = True):
    """JSON endpoint: CSRF (header X-CSRF-Token) on POST, the session's psn_no, errors as
    `{"error": {"code", "message", "field"}}` with a 4xx status."""
    def wrap(fn):
        async def handler(request: web.Request) -> web.Response:
            try:
                body: dict = {}
                if post:
                    check_csrf(request, None)
                    if request.can_read_body:
                        try:
                            body = json.loads(await request.read() or b"{}")
                        except ValueError:
                            return json_error(400, "BAD_JSON", "the body is not valid JSON")
                        if not isinstance(body, dict):
                            return json_error(400, "BAD_JSON", "the body must be a JSON object")
                psn_no = await signed_in_psn_no(request)
                if signed_in and psn_no is None:
                    return json_error(401, "SIGN_IN_REQUIRED", "请先登录 (sign in first)")
                result = await fn(request, psn_no, body)
                return result if isinstance(result, web.Response) else web.json_response(
                    result, dumps=lambda o: json.dumps(o, ensure_ascii=False))
            except CsrfRefused as e:
                log.warning("portal: CSRF refused", extra={"path": request.path[:100], "why": e.why})
                return json_error(403, "CSRF_REFUSED", "请求来源无法验证 (CSRF token missing or wrong)")
            except PortalRefusal as e:
                extra = {"retry_after": e.retry_after} if e.retry_after else {}
                return json_error(e.status, e.code, e.message, e.field, **extra)
            except f.FieldError as e:
                return json_error(400, e.outcome, e.message, e.field)
            except grpc.RpcError as e:
                code, message, field = _grpc_message(e)
                return json_error(_status_of(e), code, message, field)
        handler.__name__ = fn.__name__
        return handler
    return wrap


@api(signed_in=False, post=False)
async def api_session(request, psn_no, body):
    """The CSRF token of this visitor's session (a new session cookie when there was none)."""
    me = await sessions.session(request)
    return {"signed_in": psn_no is not None, "csrf": sessions.csrf_token(request),
            "name": (me or {}).get("name", "") if psn_no else ""}


@api(signed_in=False)
async def api_code(request, psn_no, body):
    purpose = "signup" if request.path.endswith("/signup") else "login"
    await start_code(request, str(body.get("certno", "")), str(body.get("name", "")), purpose)
    return web.json_response({"status": "sent_if_matching", "message": SENT_MESSAGE}, status=202,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


SENT_MESSAGE = ("如果信息与参保登记一致, 验证码已发送至预留手机。(If the details match the insurance record, a code was "
                "sent to the phone on file.)")


@api(signed_in=False)
async def api_verify(request, psn_no, body):
    await finish_code(request, str(body.get("code", "")),
                      str(body["password"]) if "password" in body else None,
                      str(body.get("password2", body["password"])) if "password" in body else None)
    return {"signed_in": True, "csrf": sessions.csrf_token(request)}


@api(signed_in=False)
async def api_login(request, psn_no, body):
    portal = portal_of(request)
    found = await portal.password_login(certno=str(body.get("certno", "")), password=str(body.get("password", "")),
                                        client=client_of(request))
    await finish_sign_in(request, portal, found)
    return {"signed_in": True, "csrf": sessions.csrf_token(request)}


@api(signed_in=False)
async def api_logout(request, psn_no, body):
    await sessions.sign_out(request)
    return {"signed_in": False}


@api()
async def api_evoucher(request, psn_no, body):
    """A fresh e-voucher for the signed-in person (the QR page polls this before expiry)."""
    return await issue(request, psn_no)


@api(post=False)
async def api_settlements(request, psn_no, body):
    year = f.integer(dict(request.query), "year", "", required=False, lo=0, hi=2100) if request.query.get("year") else 0
    return {"settlements": await _settlements(request, psn_no, year)}


@api(post=False)
async def api_accumulators(request, psn_no, body):
    portal = portal_of(request)
    year = portal.clock.today().year
    if request.query.get("year"):
        year = f.integer(dict(request.query), "year", "", lo=2000, hi=2100)
    return {"year": year, "accumulators": [{k: v for k, v in g.items() if k != "lines"} for g in
                                           await _accumulators(request, psn_no, year)]}


@api(post=False)
async def api_filings(request, psn_no, body):
    return {"filings": await _filings(request, psn_no)}


@api()
async def api_create_filing(request, psn_no, body):
    """Online filing FOR THE SIGNED-IN PERSON: a psn_no in the body is refused, not used."""
    if "psn_no" in body:
        return json_error(400, "INVALID_INPUT", "psn_no 不可指定: 只能为本人备案 (no psn_no: you file for yourself only)",
                          "psn_no")
    portal = portal_of(request)
    reply = await portal.stubs.filing.CreateFiling(fpb.CreateFilingRequest(filing=filing_from(body, psn_no)),
                                                   timeout=portal.deadline)
    return web.json_response(proto_to_his(reply), status=201, dumps=lambda o: json.dumps(o, ensure_ascii=False))


@api()
async def api_revoke_filing(request, psn_no, body):
    portal = portal_of(request)
    reply = await portal.stubs.filing.RevokeFiling(fpb.RevokeFilingRequest(
        filing_id=request.match_info["filing_id"][:40], psn_no=psn_no), timeout=portal.deadline)
    return proto_to_his(reply)


# ----------------------------------------------------------------------------- setup


async def to_home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/m/")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/m", to_home),
        web.get("/m/", home),
        web.get("/m/signup", signup_page),
        web.post("/m/signup", code_post),
        web.get("/m/login", login_page),
        web.post("/m/login", login_post),
        web.post("/m/login/code", code_post),
        web.get("/m/verify", verify_page),
        web.post("/m/verify", verify_post),
        web.post("/m/logout", logout_post),
        web.get("/m/evoucher", evoucher_page),
        web.get("/m/settlements", settlements_page),
        web.get("/m/settlements/{setl_id}", settlement_page),
        web.get("/m/accumulators", accumulators_page),
        web.get("/m/filings", filings_page),
        web.post("/m/filings", filing_post),
        web.post("/m/filings/{filing_id}/revoke", revoke_post),
        web.get("/m/api/session", api_session),
        web.post("/m/api/signup", api_code),
        web.post("/m/api/login/code", api_code),
        web.post("/m/api/verify", api_verify),
        web.post("/m/api/login", api_login),
        web.post("/m/api/logout", api_logout),
        web.post("/m/api/evoucher", api_evoucher),
        web.get("/m/api/settlements", api_settlements),
        web.get("/m/api/accumulators", api_accumulators),
        web.get("/m/api/filings", api_filings),
        web.post("/m/api/filings", api_create_filing),
        web.post("/m/api/filings/{filing_id}/revoke", api_revoke_filing),
    ]


def _yuan(value: Any) -> str:
    return f"{value}" if value not in (None, "") else "0.00"


def setup(app: web.Application, template_dirs: tuple[Path, ...] = ()) -> None:
    """Routes, templates, static files, the cookie hook; the Portal is built when the app starts
    (after the gateway's own resources, which it uses) and dropped when it stops. `template_dirs`:
    other /m/ pages' templates (mobile payment's pay page), rendered with the same session."""
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader([str(HERE / "templates"), *map(str, template_dirs)]),
                               autoescape=True)
    env.filters["yuan"] = _yuan
    env.globals["FILING_TYPES"] = FILING_TYPES
    app.router.add_routes(routes())
    app.router.add_static("/m/static/", HERE / "static", name="portal-static")
    app.on_response_prepare.append(sessions.on_response_prepare)
    holder = app[PORTAL] = PortalHolder()

    async def portal_ctx(app: web.Application):
        rt = app[RUNTIME]
        settings = app[SETTINGS]
        deps = rt.deps
        if deps is None or deps.db_pool is None or not settings.session_secret:
            log.warning("portal: not started (needs the database pool and the session key)")
            yield
            return
        portal = Portal(settings=settings, clock=rt.clock, redis=deps.redis, accounts=AccountsRepository(deps.db_pool),
                        limiter=RateLimiter(deps.redis, max_attempts=settings.portal_max_attempts,
                                            lockout_s=settings.portal_lockout_s),
                        sms=build_sender(settings, rt.clock), stubs=deps.stubs)
        holder.portal = portal
        try:
            yield
        finally:
            holder.portal = None
            await portal.drain()

    app.cleanup_ctx.append(portal_ctx)

