"""The live feed of HIS transactions the console shows: one entry per call answered under /fsi
(time, infno, hospital, msgid, outcome, duration, trace id; never a certificate number, a name or
an amount), appended to the Redis stream `console:his` (capped at FEED_MAX entries, about the
last FEED_MAX calls) after the reply has been built, in the background and batched (every call of
the last FLUSH_S in one pipelined round trip): the HIS's answer never waits for it, and a Redis
outage only leaves a gap in the feed.

`call_service` (gateway/his/endpoint.py) notes what it learnt on the request (`note`); the
middleware here adds the outcome from the reply envelope.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web
from opentelemetry import trace

log = logging.getLogger("gateway.console")

STREAM = "console:his"
FEED_MAX = 20_000
SCAN_CHUNK = 2_000
_NOTE = "his.note"
_PENDING: set[asyncio.Task] = set()
PENDING_MAX = 2_000


def note(request: web.Request, **values: str) -> None:
    """What the HIS endpoint knows so far (hospital, infno, msgid)."""
    request.setdefault(_NOTE, {}).update(values)


RECON_INFNOS = frozenset({"3201", "3202", "3203"})


def result_of(infno: str, output: Any) -> dict[str, str]:
    """What the feed keeps of a reconciliation reply (3201/3202/3203): `result` (agree | disagree)
    and a short `message` with the differences; {} for any other transaction (nothing computed)."""
    if infno not in RECON_INFNOS or not isinstance(output, dict):
        return {}
    try:
        if infno == "3201":
            st, plat = output.get("stmtinfo", {}), output.get("platform", {})
            return {"result": "agree" if st.get("stmt_rslt") == "0" else "disagree",
                    "message": f"platform: count {plat.get('setl_cnt')}, total {plat.get('medfee_sumamt')}, fund "
                               f"{plat.get('fund_pay_sumamt')}, account {plat.get('acct_pay')} · "
                               f"{st.get('stmt_rslt_dscr', '')}"[:400]}
        if infno == "3202":
            bad = [r for r in output.get("result", []) if r.get("stmt_rslt") != "0"]
            return {"result": "disagree" if bad else "agree",
                    "message": (f"agreed {output.get('agreed')}, disagreed {output.get('disagreed')}"
                                + "".join(f"; {r.get('setl_id')}: {r.get('stmt_rslt')} {r.get('memo', '')}"
                                          for r in bad[:5]))[:400]}
        r = output.get("result", {})
        return {"result": "agree" if r.get("status") == "accepted" else "disagree",
                "message": f"{r.get('status', '')}: {r.get('memo', '')}"[:400]}
    except (AttributeError, TypeError):
        return {}


def _outcome(resp: web.StreamResponse) -> tuple[str, str]:
    body = getattr(resp, "body", None)
    if not isinstance(body, (bytes, bytearray)):
        return "OK", ""
    head = bytes(body[:16]).replace(b" ", b"")
    if head.startswith(b'{"infcode":0'):
        return "OK", ""
    try:
        doc = json.loads(body)
    except ValueError:
        return "FAILED", ""
    output = doc.get("output") if isinstance(doc, dict) else None
    outcome = output.get("outcome") if isinstance(output, dict) else None
    return str(outcome or "FAILED"), str(doc.get("err_msg", ""))[:200] if isinstance(doc, dict) else ""


@web.middleware
async def middleware(request: web.Request, handler):
    if not request.path.startswith("/fsi"):
        return await handler(request)
    started = time.perf_counter()
    resp = await handler(request)
    try:
        from gateway.deps import RUNTIME

        rt = request.app[RUNTIME]
        if rt.deps is None or len(_PENDING) >= PENDING_MAX or len(_BUFFER) >= PENDING_MAX:
            return resp
        outcome, message = _outcome(resp)
        ctx = trace.get_current_span().get_span_context()
        n = request.get(_NOTE, {})
        now = rt.clock.naive_now()
        entry = {"at": now.strftime("%Y-%m-%d %H:%M:%S"), "date": now.strftime("%Y-%m-%d"),
                 "hospital": n.get("hospital", ""), "infno": n.get("infno", ""), "msgid": n.get("msgid", ""),
                 "outcome": outcome, "message": message or n.get("message", ""), "result": n.get("result", ""),
                 "ms": f"{(time.perf_counter() - started) * 1000:.1f}",
                 "trace_id": format(ctx.trace_id, "032x") if ctx.is_valid else "",
                 "client": request.remote or ""}
        _BUFFER.append(entry)
        if len(_BUFFER) == 1:  # the first of a batch: flush shortly, in one pipeline
            asyncio.get_running_loop().call_later(FLUSH_S, _flush_soon, rt.deps.redis)
    except Exception:  # noqa: BLE001 - the feed never changes the HIS's answer
        log.debug("console feed: not recorded", exc_info=True)
    return resp


FLUSH_S = 0.05
_BUFFER: list[dict[str, str]] = []


def _flush_soon(redis: Any) -> None:
    batch = _BUFFER[:PENDING_MAX]
    _BUFFER.clear()
    if batch:
        task = asyncio.get_running_loop().create_task(_append(redis, batch))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)


async def _append(redis: Any, batch: list[dict[str, str]]) -> None:
    """One round trip for every call answered in the last FLUSH_S."""
    try:
        pipe = redis.pipeline(transaction=False)
        for entry in batch:
            pipe.xadd(STREAM, entry, maxlen=FEED_MAX, approximate=True)
        await pipe.execute()
    except Exception:  # noqa: BLE001 - a gap in the feed, not an error of the HIS call
        log.debug("console feed: Redis unavailable", exc_info=True)


async def drain() -> None:
    if _PENDING:
        await asyncio.gather(*list(_PENDING), return_exceptions=True)


def _decode(fields: dict) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()}


async def recent(redis: Any, *, hospital: str = "", date: str = "", refused_only: bool = False,
                 limit: int = 100) -> list[dict[str, str]]:
    """The newest entries matching the filters (looking through at most FEED_MAX entries)."""
    out: list[dict[str, str]] = []
    top = "+"
    seen = 0
    try:
        while len(out) < limit and seen < FEED_MAX:
            chunk = await redis.xrevrange(STREAM, max=top, min="-", count=SCAN_CHUNK)
            if not chunk:
                break
            for _entry_id, fields in chunk:
                e = _decode(fields)
                if ((not hospital or e.get("hospital") == hospital) and (not date or e.get("date") == date)
                        and (not refused_only or e.get("outcome") != "OK")):
                    out.append(e)
                    if len(out) >= limit:
                        break
            seen += len(chunk)
            last = chunk[-1][0]
            last = last.decode() if isinstance(last, bytes) else last
            top = "(" + last
            if len(chunk) < SCAN_CHUNK:
                break
    except Exception:  # noqa: BLE001 - the page says the feed is empty rather than failing
        log.warning("console feed: Redis unavailable")
    return out


async def of_visit(redis: Any, hospital: str, msgids: list[str]) -> dict[str, dict[str, str]]:
    """msgid -> its feed entry (trace id, outcome, duration) for those of `hospital` still in the feed."""
    wanted = set(msgids)
    found: dict[str, dict[str, str]] = {}
    for e in await recent(redis, hospital=hospital, limit=FEED_MAX):
        if e.get("msgid") in wanted and e["msgid"] not in found:
            found[e["msgid"]] = e
            if len(found) == len(wanted):
                break
    return found
