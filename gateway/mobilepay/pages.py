"""The patient's pay page (`/m/orders/<payOrdId>`, 6201's cashierUrl): the bill, the fund's share,
the personal account's and the patient's own share (from the stored pre-settlement), a "confirm and
pay" form (POST with CSRF), then the receipt with the split and the setl_id; a failed payment shows
why and may be retried; a refunded or cancelled order says so.

It needs the patient's session (portal_api.signed_in_psn_no) and the order must be that person's:
anyone else's order, or none, is the same "not found" page (nothing revealed). Confirming runs the
same MobilePay.pay as the hospital's 6202: whichever comes first settles, the other replays.
"""

from __future__ import annotations

import contextlib
from urllib.parse import quote

from aiohttp import web

from gateway.deps import RUNTIME
from gateway.his.jsonnum import yuan
from gateway.mobilepay import portal_api
from gateway.mobilepay.orders import PAYABLE_STATES, UNRESOLVED_STATES, ord_stas
from gateway.mobilepay.repository import Order
from gateway.mobilepay.service import MobilePay, OrderRefused


def _service(request: web.Request) -> MobilePay:
    deps = request.app[RUNTIME].deps
    svc = deps.extra.get("mobilepay") if deps is not None else None
    if svc is None:
        raise web.HTTPServiceUnavailable(reason="mobile payment is not available")
    return svc


async def _own_order(request: web.Request) -> tuple[MobilePay, Order] | web.Response:
    psn_no = await portal_api.signed_in_psn_no(request)
    if psn_no is None:  # the cashier link opened on a phone not signed in: sign in, then back here
        raise web.HTTPSeeOther(f"/m/login?next={quote(request.path, safe='/')}")
    svc = _service(request)
    o = await svc.get(request.match_info["pay_ord_id"][:40])
    if o is None or o.psn_no != psn_no:
        return await portal_api.render(request, "mobilepay_missing.html", {}, status=404)
    return svc, o


def _view(o: Order) -> dict:
    s, pre = o.split, o.presettle or {}
    return {"id": o.pay_ord_id, "state": o.state, "ord_stas": ord_stas(o.state_), "message": o.message,
            "medfee": yuan(s.medfee), "fund": yuan(s.fund), "acct": yuan(s.acct), "cash": yuan(s.cash),
            "hosp_part": yuan(s.hosp_part), "setl_id": o.setl_id or "", "refund_setl_id": o.refund_setl_id or "",
            "med_org_ord": o.med_org_ord, "psn_name": pre.get("psn_name", ""),
            "funds": [{"name": f.get("name") or f.get("code"), "amount": yuan(int(f.get("fen", 0)))}
                      for f in pre.get("funds", [])],
            "payable": o.state_ in PAYABLE_STATES, "pending": o.state_ in UNRESOLVED_STATES,
            "paid_at": o.paid_at.strftime("%Y-%m-%d %H:%M:%S") if o.paid_at else ""}


async def order_page(request: web.Request) -> web.Response:
    got = await _own_order(request)
    if isinstance(got, web.Response):
        return got
    svc, o = got
    if o.state_ in UNRESOLVED_STATES:
        o = await svc.resolve(o)  # a pending charge is asked about, a charged order booked
    return await portal_api.render(request, "mobilepay_order.html", {"o": _view(o)})


async def confirm_pay(request: web.Request) -> web.Response:
    got = await _own_order(request)
    if isinstance(got, web.Response):
        return got
    svc, o = got
    portal_api.check_csrf(request, await request.post())  # 403 before anything is read or written
    if o.state_ in PAYABLE_STATES or o.state_ in UNRESOLVED_STATES:
        with contextlib.suppress(OrderRefused):  # the page shows the order as it is
            await svc.pay(o.pay_ord_id)
    raise web.HTTPSeeOther(f"/m/orders/{o.pay_ord_id}")


def routes() -> list[web.RouteDef]:
    return [web.get("/m/orders/{pay_ord_id}", order_page), web.post("/m/orders/{pay_ord_id}/pay", confirm_pay)]
