"""Routes of the operator console `/console/` (docs/CONSOLE.md), server-rendered (aiohttp-jinja2).

Handlers are thin: check CSRF first on every POST, then the signed-in operator and the role the
page needs (`page` / `action`), read the form, call a use case (accounts.py) or a service over
gRPC, render. Not signed in: 303 to the login page. A role without the permission: a 403 page.
Bad input: the form again with the message and the field, nothing written. A service that does
not answer: a 503 page saying so. Never a stack trace.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import grpc
import jinja2
from aiohttp import web

from gateway.console import feed
from gateway.console import sessions as cs
from gateway.console.accounts import (
    ADMIN,
    BOOTSTRAP_TOKEN_NAME,
    PERMISSIONS,
    ROLE_LABELS,
    ROLES,
    Actor,
    Console,
    ConsoleRefusal,
    can,
)
from gateway.console.repository import ConsoleRepository
from gateway.deps import RUNTIME, SETTINGS
from gateway.his.convert import fen_to_yuan, proto_to_his
from gateway.portal.ratelimit import RateLimiter
from medsettle.eligibility.v1 import eligibility_pb2 as epb
from medsettle.settlement.v1 import settlement_pb2 as spb
from services.common.grpcutil import outcome_of

log = logging.getLogger("gateway.console")

HERE = Path(__file__).parent
JINJA = web.AppKey("console_jinja2", jinja2.Environment)  # the console's own template environment
PREFIX = "/console/"
SETLYM_RE = re.compile(r"^20[0-9]{2}(0[1-9]|1[0-2])$")
CODE_RE = re.compile(r"^[0-9A-Za-z]{0,30}$")
STATUS_LABELS = {"settled": "已结算 (settled)", "cancelled": "已撤销 (cancelled)", "reversal": "冲销 (reversal)"}


class ConsoleHolder:
    console: Console | None = None


CONSOLE = web.AppKey("console", ConsoleHolder)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def console_of(request: web.Request) -> Console:
    holder = request.app.get(CONSOLE)
    console = holder.console if holder is not None else None
    if console is None:
        raise web.HTTPServiceUnavailable(reason="the console is starting or stopping")
    return console


def stubs(request: web.Request):
    deps = request.app[RUNTIME].deps
    if deps is None:
        raise web.HTTPServiceUnavailable(reason="gateway is starting or stopping")
    return deps.stubs


def deadline(request: web.Request) -> float:
    return request.app[SETTINGS].grpc_deadline_s


def me(request: web.Request) -> Actor:
    actor: Actor = request["console.me"]
    return actor


def client_of(request: web.Request) -> str:
    return request.remote or "?"


async def render(request: web.Request, template: str, context: dict[str, Any] | None = None, *,
                 status: int = 200) -> web.Response:
    actor = request.get("console.me")
    ctx = {"csrf_token": cs.csrf_token(request), "me": actor, "can": (lambda p: actor is not None and can(actor.role, p)),
           "role_labels": ROLE_LABELS, "path": request.path, **(context or {})}
    return aiohttp_jinja2.render_template(template, request, ctx, status=status, app_key=JINJA)


async def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return await render(request, "error.html", {"title": title, "message": message, "status": status}, status=status)


async def forbidden(request: web.Request, why: str = "") -> web.Response:
    actor = request.get("console.me")
    log.warning("console: forbidden", extra={"path": request.path[:100], "why": why,
                                             "actor": actor.username if actor else "-"})
    if why.startswith("csrf"):
        return await error_page(request, 403, "请求被拒绝 (request refused)",
                                "请求来源无法验证, 请从控制台页面重新提交。(The request could not be verified: submit it "
                                "again from the console's page.)")
    return await error_page(request, 403, "无权访问 (forbidden)",
                            f"您的角色 {ROLE_LABELS.get(actor.role, actor.role) if actor else ''} 不能执行此操作。"
                            "(Your role may not do this.)")


def grpc_failure(e: grpc.RpcError) -> tuple[int, str, str | None]:
    """(status, message, field) of a service's refusal."""
    outcome, field = outcome_of(e)
    code = e.code()
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED):
        status = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.PERMISSION_DENIED: 403}.get(code, 400)
        return status, e.details() or outcome or code.name, field
    return 503, "服务暂不可用, 请稍后再试 (a service is unavailable: try again later)", None


async def _signed_in(request: web.Request) -> Actor | None:
    data = await cs.session(request)
    if data is None:
        return None
    op = await console_of(request).repo.operator(str(data["username"]))
    if op is None or op.disabled:
        await cs.sign_out(request)
        return None
    actor = Actor(op.username, op.role, "console", client_of(request))  # the role as it is now
    request["console.me"] = actor
    return actor


def page(permission: str = "view") -> Callable[[Handler], Handler]:
    """GET pages: signed in (else 303 to the login page) with `permission` (else a 403 page)."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            actor = await _signed_in(request)
            if actor is None:
                raise web.HTTPSeeOther(f"/console/login?next={quote(request.path_qs, safe='/')}")
            if not can(actor.role, permission):
                return await forbidden(request, f"role {actor.role} lacks {permission}")
            return await handler(request)
        return wrapped
    return wrap


def action(permission: str) -> Callable[[Callable[[web.Request, Any], Awaitable[web.StreamResponse]]], Handler]:
    """POST handlers: CSRF first (a 403 page, nothing read or written), then signed in and
    `permission`; the handler gets the form."""
    def wrap(handler):
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            form = await request.post()
            try:
                cs.check_csrf(request, form)
            except cs.CsrfRefused as e:
                await _signed_in(request)
                return await forbidden(request, f"csrf: {e.why}")
            actor = await _signed_in(request)
            if actor is None:
                raise web.HTTPSeeOther("/console/login")
            if not can(actor.role, permission):
                await console_of(request).record(actor, "forbidden", request.path[:100], outcome="refused",
                                                 detail={"permission": permission})
                return await forbidden(request, f"role {actor.role} lacks {permission}")
            return await handler(request, form)
        return wrapped
    return wrap


def safe_next(value: str | None) -> str:
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value \
            and not value.startswith("/console/login"):
        return value
    return PREFIX


def today(request: web.Request) -> dt.date:
    return request.app[RUNTIME].clock.today()


def _yuan(fen: Any) -> str:
    try:
        return fen_to_yuan(int(fen))
    except (TypeError, ValueError):
        return str(fen)


# ----------------------------------------------------------------------------- sign-in

async def login_page(request: web.Request) -> web.Response:
    if await _signed_in(request) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return await render(request, "login.html", {"next": safe_next(request.query.get("next")), "form": {}})


async def login_post(request: web.Request) -> web.Response:
    form = await request.post()
    nxt = safe_next(str(form.get("next") or ""))
    try:
        cs.check_csrf(request, form)
    except cs.CsrfRefused as e:
        return await forbidden(request, f"csrf: {e.why}")
    username = str(form.get("username", ""))[:64]
    try:
        op = await console_of(request).login(username, str(form.get("password", ""))[:256], client_of(request))
    except ConsoleRefusal as e:
        return await render(request, "login.html", {"next": nxt, "form": {"username": username}, "error": e.message,
                                                    "error_field": e.field, "error_code": e.code}, status=e.status)
    await cs.sign_in(request, op.username, op.role)
    raise web.HTTPSeeOther(nxt)


async def logout_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        cs.check_csrf(request, form)
    except cs.CsrfRefused as e:
        return await forbidden(request, f"csrf: {e.why}")
    actor = await _signed_in(request)
    if actor is not None:
        await console_of(request).record(actor, "logout", actor.username)
    await cs.sign_out(request)
    raise web.HTTPSeeOther("/console/login")


# ----------------------------------------------------------------------------- settlements

def _filters(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """The list's filters from the query (today by default), and the problems found (field -> message)."""
    q = request.query
    f = {"hospital": q.get("hospital", "").strip(), "pool": q.get("pool", "").strip(),
         "outcome": q.get("outcome", "").strip(), "date": q.get("date", "").strip()}
    if "date" not in q:
        f["date"] = today(request).isoformat()
    problems = {}
    for name in ("hospital", "pool"):
        if not CODE_RE.match(f[name]):
            problems[name] = f"{name}: 只能是字母和数字, 最多 30 位 (letters and digits, at most 30)"
    if f["outcome"] and f["outcome"] not in (*STATUS_LABELS, "refused"):
        problems["outcome"] = "outcome: settled | cancelled | reversal | refused"
    if f["date"]:
        try:
            dt.date.fromisoformat(f["date"])
            if len(f["date"]) != 10:
                raise ValueError
        except ValueError:
            problems["date"] = "日期应为 yyyy-MM-dd (the date must be yyyy-MM-dd)"
    return f, problems


@page()
async def home(request: web.Request) -> web.Response:
    """Live settlements and refusals, filtered by hospital, pool, outcome and date."""
    f, problems = _filters(request)
    ctx: dict[str, Any] = {"f": f, "statuses": STATUS_LABELS, "items": [], "refusals": [], "problems": problems}
    if problems:
        return await render(request, "home.html", {**ctx, "error": "; ".join(problems.values())}, status=400)
    if f["outcome"] != "refused":
        try:
            reply = await stubs(request).settlement.ListSettlements(spb.ListSettlementsRequest(
                fixmedins_code=f["hospital"], insured_pool=f["pool"], status=f["outcome"], date_from=f["date"],
                date_to=f["date"], limit=100), timeout=deadline(request))
            ctx["items"] = [proto_to_his(s) for s in reply.settlements]
        except grpc.RpcError as e:
            status, message, field = grpc_failure(e)
            return await render(request, "home.html", {**ctx, "error": message, "error_field": field}, status=status)
    if not f["outcome"] or f["outcome"] == "refused":
        deps = request.app[RUNTIME].deps
        ctx["refusals"] = await feed.recent(deps.redis, hospital=f["hospital"], date=f["date"], refused_only=True,
                                            limit=100) if deps else []
    ctx["live"] = request.query.get("live") == "1"
    return await render(request, "home.html", ctx)


@page()
async def find(request: web.Request) -> web.Response:
    """Find a settlement by the HIS's msgid (any transaction of its visit) or by setl_id."""
    hospital = request.query.get("hospital", "").strip()
    msgid = request.query.get("msgid", "").strip()
    setl_id = request.query.get("setl_id", "").strip()
    form = {"hospital": hospital, "msgid": msgid, "setl_id": setl_id}
    if not (msgid or setl_id):
        return await render(request, "find.html", {"form": form})
    problems = []
    if not CODE_RE.match(hospital):
        problems.append(("hospital", "机构编码只能是字母和数字 (the hospital code is letters and digits)"))
    if msgid and not hospital:
        problems.append(("hospital", "按报文 ID 查询需要机构编码 (give the hospital code with the msgid)"))
    if len(msgid) > 60 or len(setl_id) > 60:
        problems.append(("msgid", "最多 60 位 (at most 60 characters)"))
    if problems:
        return await render(request, "find.html", {"form": form, "error": "; ".join(m for _, m in problems),
                                                   "error_field": problems[0][0]}, status=400)
    try:
        story = await stubs(request).settlement.GetSettlementStory(spb.GetSettlementStoryRequest(
            fixmedins_code=hospital, msgid=msgid, setl_id=setl_id), timeout=deadline(request))
    except grpc.RpcError as e:
        status, message, field = grpc_failure(e)
        return await render(request, "find.html", {"form": form, "error": message, "error_field": field},
                            status=status)
    info = story.settlement.setlinfo
    deps = request.app[RUNTIME].deps
    traces = await feed.of_visit(deps.redis, info.fixmedins_code, [j.msgid for j in story.journal]) if deps else {}
    ctx = {"form": form, "s": proto_to_his(story.settlement), "reply": proto_to_his(story.reply),
           "reply_json": json.dumps(proto_to_his(story.reply), ensure_ascii=False, indent=1),
           "visit": proto_to_his(story.visit), "fees": [proto_to_his(x) for x in story.fees],
           "ledger": [{**proto_to_his(x), "amount_fen": x.amount_fen} for x in story.ledger],
           "journal": [{**proto_to_his(j), "trace": traces.get(j.msgid, {})} for j in story.journal],
           "reversal": proto_to_his(story.reversal) if story.HasField("reversal") else None,
           "found_by": story.found_by, "statuses": STATUS_LABELS}
    return await render(request, "story.html", ctx)


# ----------------------------------------------------------------------------- reconciliation

def _date_arg(request: web.Request, name: str, default: dt.date) -> tuple[str, str | None]:
    text = request.query.get(name, "").strip() or default.isoformat()
    try:
        if len(text) != 10:
            raise ValueError(text)
        dt.date.fromisoformat(text)
    except ValueError:
        return text, f"{name}: 日期应为 yyyy-MM-dd (the date must be yyyy-MM-dd)"
    return text, None


@page()
async def reconciliation(request: web.Request) -> web.Response:
    """Per hospital and day: what 3201 counts on the platform's side (settled minus reversed), the
    3201/3202 calls the hospitals made (from the live feed, with their outcomes) and their 3203
    monthly applications with the differences."""
    hospital = request.query.get("hospital", "").strip()
    day = today(request)
    date_from, bad_from = _date_arg(request, "date_from", day - dt.timedelta(days=6))
    date_to, bad_to = _date_arg(request, "date_to", day)
    form = {"hospital": hospital, "date_from": date_from, "date_to": date_to}
    ctx: dict[str, Any] = {"form": form, "days": [], "applications": [], "calls": []}
    problem = bad_from or bad_to or (None if CODE_RE.match(hospital) else "hospital: 字母和数字 (letters and digits)")
    if problem:
        return await render(request, "reconciliation.html", {**ctx, "error": problem,
                                                             "error_field": problem.split(":")[0]}, status=400)
    try:
        reply = await stubs(request).settlement.DailyTotals(spb.DailyTotalsRequest(
            fixmedins_code=hospital, date_from=date_from, date_to=date_to), timeout=deadline(request))
    except grpc.RpcError as e:
        status, message, field = grpc_failure(e)
        return await render(request, "reconciliation.html", {**ctx, "error": message, "error_field": field},
                            status=status)
    ctx["days"] = [proto_to_his(d) for d in reply.days]
    ctx["applications"] = [{**proto_to_his(a), "diff_medfee": _yuan(a.medfee_sumamt_fen - a.platform_medfee_fen),
                            "diff_fund": _yuan(a.fund_appy_sum_fen - a.platform_fund_fen),
                            "diff_psntime": a.psntime - a.platform_psntime} for a in reply.applications]
    deps = request.app[RUNTIME].deps
    if deps is not None:
        calls = await feed.recent(deps.redis, hospital=hospital, limit=2000)
        ctx["calls"] = [c for c in calls if c.get("infno") in ("3201", "3202", "3203")
                        and date_from <= c.get("date", "") <= date_to][:100]
    return await render(request, "reconciliation.html", ctx)


# ----------------------------------------------------------------------------- clearing

def _position_bars(positions: list[dict]) -> list[dict]:
    """Net positions as bars (SVG coordinates): receivable to the right, payable to the left."""
    top = max([abs(int(p["net_fen"])) for p in positions] or [1]) or 1
    out = []
    for p in positions:
        net = int(p["net_fen"])
        width = round(190 * abs(net) / top)
        out.append({**p, "x": 200 if net >= 0 else 200 - width, "w": max(width, 1), "pos": net >= 0,
                    "net": _yuan(net), "receivable": _yuan(p["receivable_fen"]), "payable": _yuan(p["payable_fen"])})
    return out


async def _runs(request: web.Request) -> list[dict]:
    reply = await stubs(request).settlement.ListClearingRuns(spb.ListClearingRunsRequest(limit=24),
                                                             timeout=deadline(request))
    out = []
    for run in reply.runs:
        positions = [{"pool": p.pool, "receivable_fen": p.receivable_fen, "payable_fen": p.payable_fen,
                      "net_fen": p.net_fen} for p in run.positions]
        out.append({"run_id": run.run_id, "setlym": run.setlym, "created_at": run.created_at,
                    "statements": [{"insured_pool": x.insured_pool, "treatment_pool": x.treatment_pool,
                                    "settlement_count": x.settlement_count, "fund": _yuan(x.fund_fen)}
                                   for x in run.statements],
                    "positions": _position_bars(positions),
                    "total": _yuan(sum(x.fund_fen for x in run.statements)),
                    "count": sum(x.settlement_count for x in run.statements)})
    return out


def _last_month(request: web.Request) -> str:
    first = today(request).replace(day=1)
    prev = first - dt.timedelta(days=1)
    return f"{prev.year}{prev.month:02d}"


@page()
async def clearing(request: web.Request) -> web.Response:
    """The monthly clearing runs: statements (who owes whom) and the net position of each pool."""
    done = request.query.get("done")
    ctx: dict[str, Any] = {"runs": [], "form": {"setlym": _last_month(request)},
                           "notice": {"run": "清算已完成 (the clearing ran)",
                                      "again": "该月已清算, 显示原结果 (that month was cleared before: its run)"}.get(
                               done or "")}
    try:
        ctx["runs"] = await _runs(request)
    except grpc.RpcError as e:
        status, message, _ = grpc_failure(e)
        return await render(request, "clearing.html", {**ctx, "error": message}, status=status)
    wanted = request.query.get("setlym", "")
    ctx["shown"] = next((r for r in ctx["runs"] if r["setlym"] == wanted), ctx["runs"][0] if ctx["runs"] else None)
    return await render(request, "clearing.html", ctx)


@action("act")
async def clearing_post(request: web.Request, form) -> web.StreamResponse:
    """Run the clearing of a month that has ended (audited)."""
    setlym = str(form.get("setlym", "")).strip()
    c = console_of(request)
    if not SETLYM_RE.match(setlym):
        return await _clearing_again(request, setlym, "清算月份应为 yyyyMM (the month must be yyyyMM, e.g. "
                                     f"{_last_month(request)})", 400)
    try:
        run = await stubs(request).settlement.RunClearing(spb.RunClearingRequest(setlym=setlym),
                                                          timeout=max(deadline(request), 60.0))
    except grpc.RpcError as e:
        status, message, _ = grpc_failure(e)
        await c.record(me(request), "clearing.run", setlym, outcome="refused", detail={"message": message[:200]})
        return await _clearing_again(request, setlym, message, status)
    await c.record(me(request), "clearing.run", setlym, detail={"run_id": run.run_id, "replayed": run.replayed})
    raise web.HTTPSeeOther(f"/console/clearing?setlym={setlym}&done={'again' if run.replayed else 'run'}")


async def _clearing_again(request: web.Request, setlym: str, message: str, status: int) -> web.Response:
    ctx: dict[str, Any] = {"runs": [], "form": {"setlym": setlym}, "error": message, "error_field": "setlym"}
    try:
        ctx["runs"] = await _runs(request)
        ctx["shown"] = ctx["runs"][0] if ctx["runs"] else None
    except grpc.RpcError:
        pass
    return await render(request, "clearing.html", ctx, status=status)


# ----------------------------------------------------------------------------- supervision alerts

ALERT_STATUSES = ("open", "confirmed", "dismissed")
ALERT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _alert_row(a: spb.Alert) -> dict[str, Any]:
    out = proto_to_his(a)
    try:
        out["evidence"] = json.loads(a.evidence_json or "{}")
    except ValueError:
        out["evidence"] = {}
    out["amount"] = _yuan(a.amount_fen)
    return out


async def _alerts_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    q = request.query
    form = {"status": q.get("status", "open") if q.get("status", "open") in (*ALERT_STATUSES, "") else "open",
            "pattern": q.get("pattern", "").strip()[:40], "psn_no": q.get("psn_no", "").strip()[:30]}
    ctx: dict[str, Any] = {"alerts": [], "form": form, "statuses": ALERT_STATUSES, **extra}
    try:
        reply = await stubs(request).settlement.ListAlerts(
            spb.ListAlertsRequest(status=form["status"], pattern=form["pattern"], psn_no=form["psn_no"], limit=200),
            timeout=deadline(request))
    except grpc.RpcError as e:
        code, message, _ = grpc_failure(e)
        return await render(request, "alerts.html", {**ctx, "error": ctx.get("error") or message},
                            status=max(status, code))
    ctx["alerts"] = [_alert_row(a) for a in reply.alerts]
    return await render(request, "alerts.html", ctx, status=status)


@page()
async def alerts(request: web.Request) -> web.Response:
    """Fund-supervision alerts (docs/SUPERVISION.md) with their evidence; open ones can be decided
    by a reviewer (or admin) here."""
    done = request.query.get("done", "")
    notice = {"confirmed": "已确认违规 (the alert is confirmed)", "dismissed": "已排除 (the alert is dismissed)"}.get(done)
    return await _alerts_page(request, notice=notice)


@action("review")
async def alert_review(request: web.Request, form) -> web.StreamResponse:
    """open -> confirmed | dismissed, with a note; the reviewer is the signed-in account (audited
    as alert.review, like the REST decision)."""
    alert_id = request.match_info["alert_id"]
    decision = str(form.get("decision", "")).strip()
    note = str(form.get("note", "")).strip()
    c = console_of(request)
    target = alert_id[:40]
    detail = {"decision": decision[:10], "note": note[:200]}
    if not ALERT_ID_RE.match(alert_id):
        problem: tuple[str, str | None] | None = ("预警编号无效 (not an alert id)", "alert_id")
    elif decision not in ("confirmed", "dismissed"):
        problem = ("请选择确认或排除 (choose confirm or dismiss)", "decision")
    elif not note:
        problem = ("复核须填写意见 (a decision needs a note)", "note")
    elif len(note) > 2000:
        problem = ("意见至多 2000 字 (a note has at most 2000 characters)", "note")
    else:
        problem = None
    if problem is not None:
        await c.record(me(request), "alert.review", target, outcome="refused", detail={**detail, "status": 400})
        return await _alerts_page(request, status=400, error=problem[0], error_field=problem[1], failed=alert_id,
                                  note=note)
    try:
        await stubs(request).settlement.ReviewAlert(
            spb.ReviewAlertRequest(alert_id=alert_id, status=decision, reviewer=me(request).username, note=note),
            timeout=deadline(request))
    except grpc.RpcError as e:
        status, message, field = grpc_failure(e)
        await c.record(me(request), "alert.review", target, outcome="refused", detail={**detail, "status": status})
        return await _alerts_page(request, status=status, error=message, error_field=field, failed=alert_id, note=note)
    await c.record(me(request), "alert.review", target, detail={**detail, "status": 200})
    kept = {k: request.query[k] for k in ("pattern", "psn_no") if request.query.get(k)}
    raise web.HTTPSeeOther(f"/console/alerts?{urlencode({'status': 'open', **kept, 'done': decision})}")


# ----------------------------------------------------------------------------- imports, reference, audit

@page()
async def imports(request: web.Request) -> web.Response:
    try:
        reply = await stubs(request).eligibility.ListImports(epb.ListImportsRequest(limit=50), timeout=deadline(request))
    except grpc.RpcError as e:
        status, message, _ = grpc_failure(e)
        return await render(request, "imports.html", {"items": [], "error": message}, status=status)
    return await render(request, "imports.html", {"items": [proto_to_his(i) for i in reply.imports]})


@page()
async def reference(request: web.Request) -> web.Response:
    repo = console_of(request).repo
    loads = await repo.reference_loads(30)
    done = request.query.get("done")
    return await render(request, "reference.html", {
        "notice": None if done is None else ("已加载, 有变更 (loaded: something changed)" if done == "True"
                                             else "已加载, 无变更 (loaded: already up to date)"),
        "counts": await repo.reference_counts(), "policies": await repo.policy_versions(),
        "loads": [{"id": i, "at": at.astimezone(_cst()).strftime("%Y-%m-%d %H:%M:%S"), "report": rep}
                  for i, at, rep in loads],
        "hospitals": await repo.hospitals(), "pools": await repo.pools()})


@action("act")
async def reference_post(request: web.Request, form) -> web.StreamResponse:
    """Load a reference document pasted or uploaded in the console: all of it, or nothing (audited)."""
    from services.refdata.schema import ReferenceError, loads, parse_document
    from services.refdata.store import PersonsStoreUnavailable, invalidate_loaded_persons, load_document

    c, actor = console_of(request), me(request)
    upload = form.get("file")
    text = upload.file.read().decode("utf-8", "replace") if hasattr(upload, "file") else str(form.get("document", ""))

    async def again(message: str, status: int, errors: list[str] | None = None) -> web.Response:
        await c.record(actor, "reference.load", "console", outcome="refused", detail={"message": message[:200]})
        repo = c.repo
        return await render(request, "reference.html", {
            "counts": await repo.reference_counts(), "policies": await repo.policy_versions(), "loads": [],
            "hospitals": await repo.hospitals(), "pools": await repo.pools(), "error": message,
            "error_field": "document", "errors": (errors or [])[:50]}, status=status)

    if not text.strip():
        return await again("请粘贴或上传参考数据 JSON (paste or upload a reference document, docs/REFERENCE_DATA.md)", 400)
    try:
        doc = parse_document(loads(text))
    except ReferenceError as e:
        return await again(f"参考数据有 {len(e.errors)} 处错误, 未加载任何内容 ({len(e.errors)} error(s): nothing was "
                           "loaded)", 400, list(e.errors))
    except (ValueError, RecursionError) as e:
        return await again(f"不是有效的 JSON, 未加载 (not valid JSON, nothing loaded): {str(e)[:100]}", 400)
    deps = request.app[RUNTIME].deps
    if deps is None or deps.db_pool is None:
        return await again("数据库不可用 (no database)", 503)
    try:
        report = await load_document(deps.db_pool, doc)
    except PersonsStoreUnavailable as e:
        return await again(str(e), 503)
    await invalidate_loaded_persons(deps.redis, doc)
    await c.record(actor, "reference.load", "console", detail={"changed": report.changed})
    raise web.HTTPSeeOther(f"/console/reference?done={report.changed}")


def _cst() -> dt.tzinfo:
    from services.common.clock import BEIJING

    return BEIJING


@page()
async def audit(request: web.Request) -> web.Response:
    actor = request.query.get("actor", "").strip()[:32]
    act = request.query.get("action", "").strip()[:40]
    try:
        before = int(request.query.get("before", "0") or 0)
    except ValueError:
        before = 0
    entries = await console_of(request).repo.audit_log(actor=actor, action=act, before_id=max(before, 0), limit=100)
    return await render(request, "audit.html", {
        "form": {"actor": actor, "action": act},
        "entries": [dataclasses.asdict(e) for e in entries],
        "tz": _cst(), "older": entries[-1].id if len(entries) == 100 else 0})


# ----------------------------------------------------------------------------- operators (admin)

async def _operators_page(request: web.Request, **extra: Any) -> web.Response:
    ops = await console_of(request).repo.operators()
    status = int(extra.pop("status", 200))
    return await render(request, "operators.html", {"operators": ops, "form": extra.pop("form", {}), "tz": _cst(),
                                                    **extra}, status=status)


@page("manage")
async def operators(request: web.Request) -> web.Response:
    return await _operators_page(request)


@action("manage")
async def operator_create(request: web.Request, form) -> web.StreamResponse:
    f = {k: str(form.get(k, "")).strip() for k in ("username", "role", "display_name")}
    try:
        password = await console_of(request).create_operator(me(request), f["username"], f["role"], f["display_name"])
    except ConsoleRefusal as e:
        return await _operators_page(request, form=f, error=e.message, error_field=e.field, error_code=e.code,
                                     status=e.status)
    return await _operators_page(request, secret={"what": f"{f['username'].lower()} 的初始密码 (initial password)",
                                                  "value": password}, status=201)


@action("manage")
async def operator_update(request: web.Request, form) -> web.StreamResponse:
    name = request.match_info["username"]
    c = console_of(request)
    try:
        if form.get("do") == "reset":
            password = await c.reset_password(me(request), name)
            return await _operators_page(request, secret={"what": f"{name} 的新密码 (new password)", "value": password})
        await c.set_role(me(request), name, str(form.get("role", "")), form.get("disabled") == "1")
    except ConsoleRefusal as e:
        return await _operators_page(request, error=e.message, error_field=e.field, error_code=e.code,
                                     status=e.status)
    raise web.HTTPSeeOther("/console/operators")


# ----------------------------------------------------------------------------- my account: password, API tokens

async def _account_page(request: web.Request, **extra: Any) -> web.Response:
    status = int(extra.pop("status", 200))
    tokens = await console_of(request).tokens_of(me(request).username)
    return await render(request, "account.html", {"tokens": tokens, "tz": _cst(), **extra}, status=status)


@page()
async def account(request: web.Request) -> web.Response:
    return await _account_page(request)


@action("view")
async def token_create(request: web.Request, form) -> web.StreamResponse:
    try:
        token = await console_of(request).create_token(me(request), str(form.get("name", "")))
    except ConsoleRefusal as e:
        return await _account_page(request, error=e.message, error_field=e.field, status=e.status)
    return await _account_page(request, secret={"what": "API 令牌 (API token; send it as Authorization: Bearer ...)",
                                                "value": token}, status=201)


@action("view")
async def token_revoke(request: web.Request, form) -> web.StreamResponse:
    try:
        await console_of(request).revoke_token(me(request), request.match_info["token_id"])
    except ConsoleRefusal as e:
        return await _account_page(request, error=e.message, error_field=e.field, status=e.status)
    raise web.HTTPSeeOther("/console/account")


@action("view")
async def password_post(request: web.Request, form) -> web.StreamResponse:
    try:
        await console_of(request).change_password(me(request), str(form.get("old_password", "")),
                                                  str(form.get("password", "")), str(form.get("password2", "")))
    except ConsoleRefusal as e:
        return await _account_page(request, error=e.message, error_field=e.field, status=e.status)
    return await _account_page(request, notice="密码已更改 (password changed)")


# ----------------------------------------------------------------------------- setup

async def to_home(request: web.Request) -> web.Response:
    raise web.HTTPFound(PREFIX)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/console", to_home),
        web.get("/console/", home),
        web.get("/console/login", login_page),
        web.post("/console/login", login_post),
        web.post("/console/logout", logout_post),
        web.get("/console/find", find),
        web.get("/console/reconciliation", reconciliation),
        web.get("/console/clearing", clearing),
        web.post("/console/clearing", clearing_post),
        web.get("/console/imports", imports),
        web.get("/console/reference", reference),
        web.post("/console/reference", reference_post),
        web.get("/console/audit", audit),
        web.get("/console/alerts", alerts),
        web.post("/console/alerts/{alert_id}", alert_review),
        web.get("/console/operators", operators),
        web.post("/console/operators", operator_create),
        web.post("/console/operators/{username}", operator_update),
        web.get("/console/account", account),
        web.post("/console/account/password", password_post),
        web.post("/console/account/tokens", token_create),
        web.post("/console/account/tokens/{token_id}/revoke", token_revoke),
    ]


async def bootstrap(console: Console, admin_token: str | None) -> None:
    """On start: the bootstrap `admin` when there is none (its password printed once, on stderr:
    `medsettle up` / `demo` create it before and print it themselves), and MEDSETTLE_ADMIN_TOKEN,
    when set, registered as the admin's bootstrap API token (replacing the one set before)."""
    import sys

    try:
        password = await console.ensure_admin(via="start")
        if password:
            print(f"console: the bootstrap operator 'admin' was created; its password (shown once): {password}\n"
                  f"  forgotten: medsettle operator reset-password admin", file=sys.stderr, flush=True)
        if admin_token:
            await console.register_token(Actor(ADMIN, "admin", "start"), ADMIN, BOOTSTRAP_TOKEN_NAME, admin_token)
    except Exception:  # noqa: BLE001 - the HIS interface serves regardless; the console says why
        log.exception("console: bootstrap of the admin account failed")


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                               app_key=JINJA)
    env.filters["yuan"] = _yuan
    env.filters["qs"] = lambda d: urlencode({k: v for k, v in d.items() if v})
    env.globals.update(ROLES=ROLES, PERMISSIONS=PERMISSIONS)
    app.router.add_routes(routes())
    app.router.add_static("/console/static/", HERE / "static", name="console-static")
    app.on_response_prepare.append(cs.on_response_prepare)
    holder = app[CONSOLE] = ConsoleHolder()

    async def console_ctx(app: web.Application):
        rt = app[RUNTIME]
        settings = app[SETTINGS]
        deps = rt.deps
        if deps is None or deps.db_pool is None or not settings.session_secret:
            log.warning("console: not started (needs the database pool and the session key)")
            yield
            return
        holder.console = Console(repo=ConsoleRepository(deps.db_pool), clock=rt.clock,
                                 limiter=RateLimiter(deps.redis, max_attempts=settings.console_max_attempts,
                                                     lockout_s=settings.console_lockout_s, prefix="console"))
        deps.extra["console"] = holder.console
        await bootstrap(holder.console, settings.admin_token)
        try:
            yield
        finally:
            holder.console = None

    app.cleanup_ctx.append(console_ctx)
