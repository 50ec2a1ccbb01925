"""Sessions and CSRF of the patient pages — the small stable API other pages (e.g. the mobile
payment page) build on:

    async def signed_in_psn_no(request) -> str | None      # the signed-in person, or None
    @login_required                                          # page handlers: else 303 to /m/login?next=...
    def check_csrf(request, form) -> None                    # every POST; raises CsrfRefused (403)
    async def render(request, template, context, *, status=200) -> web.Response
                                                             # Jinja2 page with `csrf_token`, `signed_in`

A visitor gets a random session id (32 bytes) in the cookie `msm_sid` (HttpOnly, SameSite=Lax,
Path=/m/, `Secure` with PORTAL_COOKIE_SECURE=1), the id followed by its HMAC under
`settings.session_secret`: a forged or altered cookie is discarded before Redis is asked. A
signed-in session is `portal:sess:<id>` in Redis (JSON: psn_no, name), with an idle TTL of
PORTAL_SESSION_TTL_S; signing in always starts a new id (no session fixation). The CSRF token
is HMAC(session key, "csrf:" + id): one per session, in every form (`csrf` field, `render` puts
it in as `csrf_token`) and in `X-CSRF-Token` for the JSON API; `check_csrf` also refuses a
request whose Origin names another site.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web

from gateway.deps import RUNTIME, SETTINGS

COOKIE = "msm_sid"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_SID = "portal.sid"          # request key: this request's session id
_SET_COOKIE = "portal.set"   # request key: the id to (re)send in the cookie
_CLEAR = "portal.clear"      # request key: drop the cookie


class CsrfRefused(web.HTTPForbidden):
    """A POST without the session's CSRF token, or from another site's page: 403, nothing done."""

    def __init__(self, why: str) -> None:
        super().__init__(reason="CSRF_REFUSED")
        self.why = why


def _secret(request: web.Request) -> str:
    secret = request.app[SETTINGS].session_secret
    if not secret:
        raise web.HTTPServiceUnavailable(reason="the session key is not set")
    return secret


def _mac(secret: str, purpose: str, sid: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{sid}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_cookie(secret: str, sid: str) -> str:
    return f"{sid}.{_mac(secret, 'sid', sid)[:32]}"


def verify_cookie(secret: str, value: str | None) -> str | None:
    """The session id of a well-signed cookie value, else None."""
    if not value or value.count(".") != 1:
        return None
    sid, mac = value.split(".")
    if len(sid) != 43 or not hmac.compare_digest(mac, _mac(secret, "sid", sid)[:32]):
        return None
    return sid


def csrf_for(secret: str, sid: str) -> str:
    return _mac(secret, "csrf", sid)


def new_sid() -> str:
    return secrets.token_urlsafe(32)


def sid(request: web.Request) -> str:
    """This request's session id: the cookie's, or a new one sent back with the response."""
    have = request.get(_SID)
    if have:
        return str(have)
    found = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    if found is None:
        found = new_sid()
        request[_SET_COOKIE] = found
    request[_SID] = found
    return found


def _redis(request: web.Request):
    deps = request.app[RUNTIME].deps
    if deps is None:
        raise web.HTTPServiceUnavailable(reason="gateway is starting or stopping")
    return deps.redis


def _key(session_id: str) -> str:
    return f"portal:sess:{session_id}"


async def session(request: web.Request) -> dict | None:
    """The signed-in session's data ({"psn_no", "name"}), its idle TTL renewed; None when not
    signed in. Cached on the request."""
    if "portal.session" in request:
        cached: dict | None = request["portal.session"]
        return cached
    found = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    data = None
    if found is not None and request.get(_SID, found) == found:
        redis = _redis(request)
        raw = await redis.get(_key(found))
        if raw is not None:
            data = json.loads(raw)
            await redis.expire(_key(found), request.app[SETTINGS].portal_session_ttl_s)
    request["portal.session"] = data
    return data


async def signed_in_psn_no(request: web.Request) -> str | None:
    """The psn_no of the signed-in person, or None (no cookie, a forged one, expired, signed out)."""
    data = await session(request)
    return None if data is None else str(data["psn_no"])


async def sign_in(request: web.Request, psn_no: str, name: str = "") -> None:
    """Start a signed-in session under a NEW id (the old one, signed in or not, is dropped)."""
    redis = _redis(request)
    old = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    if old:
        await redis.delete(_key(old))
    fresh = new_sid()
    await redis.set(_key(fresh), json.dumps({"psn_no": psn_no, "name": name}, ensure_ascii=False),
                    ex=request.app[SETTINGS].portal_session_ttl_s)
    request[_SID] = fresh
    request[_SET_COOKIE] = fresh
    request["portal.session"] = {"psn_no": psn_no, "name": name}


async def sign_out(request: web.Request) -> None:
    old = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    if old:
        await _redis(request).delete(_key(old))
    request["portal.session"] = None
    request[_SID] = None
    request.pop(_SET_COOKIE, None)
    request[_CLEAR] = True


def csrf_token(request: web.Request) -> str:
    return csrf_for(_secret(request), sid(request))


def check_csrf(request: web.Request, form: Mapping[str, Any] | None, *, cookie: str = COOKIE) -> None:
    """Refuse (raise CsrfRefused, a 403) unless the request carries this session's CSRF token
    (form field `csrf`, or header X-CSRF-Token) and, when it says where it comes from (Origin,
    Sec-Fetch-Site), comes from this site. Synchronous: call it first in every POST handler.
    `cookie`: the session cookie's name (the console's is another)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        raise CsrfRefused("cross-site Origin")
    if origin == "null" or request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CsrfRefused("cross-site request")
    found = verify_cookie(_secret(request), request.cookies.get(cookie))
    given = (form.get(CSRF_FIELD) if form is not None else None) or request.headers.get(CSRF_HEADER) or ""
    if found is None:
        raise CsrfRefused("no session cookie")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), csrf_for(_secret(request),
                                                                                      found).encode()):
        raise CsrfRefused("missing or wrong CSRF token")


def login_required(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """For page handlers: not signed in -> 303 to /m/login?next=<this path>."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if await signed_in_psn_no(request) is None:
            raise web.HTTPSeeOther(f"/m/login?next={quote(request.path_qs, safe='/')}")
        return await handler(request)
    return wrapped


async def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None, *,
                 status: int = 200) -> web.Response:
    """A page from gateway/portal/templates/ with `csrf_token`, `signed_in` and `me` (the
    session: psn_no, name) added to `context`."""
    me = await session(request)
    ctx = {"csrf_token": csrf_token(request), "signed_in": me is not None, "me": me or {}, **(context or {})}
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: only a path under /m/ on this site."""
    if value and value.startswith("/m/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/m/"


def _cookie(value: str, max_age: int, secure: bool, *, name: str = COOKIE, path: str = "/m/") -> str:
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    m = jar[name]
    m["path"] = path
    m["httponly"] = True
    m["samesite"] = "Lax"
    m["max-age"] = str(max_age)
    if secure:
        m["secure"] = True
    return m.OutputString()


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Sends the session cookie when this request made or changed it; no caching of /m/."""
    if not request.path.startswith("/m/") and request.path != "/m":
        return
    settings = request.app[SETTINGS]
    # The headers are already built when this hook runs: the cookie goes in as a header.
    if request.get(_CLEAR):
        response.headers.add("Set-Cookie", _cookie("", 0, settings.portal_cookie_secure))
    elif request.get(_SET_COOKIE) and settings.session_secret:
        response.headers.add("Set-Cookie", _cookie(sign_cookie(settings.session_secret, request[_SET_COOKIE]),
                                                   settings.portal_session_ttl_s, settings.portal_cookie_secure))
    page_headers(response)


def page_headers(response: web.StreamResponse) -> None:
    """No caching, no framing, a strict CSP (scripts and styles only from this site)."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'")
