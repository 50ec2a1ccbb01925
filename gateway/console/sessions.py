"""Sessions and CSRF of the operator console — the patient pages' scheme (gateway/portal/sessions.py:
signed random id in a cookie, the session in Redis, CSRF = HMAC of the id) with its own cookie,
path and keys:

    cookie `msc_sid` (HttpOnly, SameSite=Strict, Path=/console/, Secure with PORTAL_COOKIE_SECURE=1)
    Redis  `console:sess:<id>` -> {"username", "role"}, idle TTL CONSOLE_SESSION_TTL_S

Signing in always starts a new id; a forged cookie is discarded before Redis is asked. The role
is read again from the database on every page (`current`), so a changed role or a disabled
account takes effect at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.deps import RUNTIME, SETTINGS
from gateway.portal import sessions as portal_sessions
from gateway.portal.sessions import CsrfRefused, csrf_for, new_sid, sign_cookie, verify_cookie

COOKIE = "msc_sid"
PATH = "/console/"
_SID = "console.sid"
_SET = "console.set"
_CLEAR = "console.clear"
_CACHE = "console.session"

__all__ = ["COOKIE", "CsrfRefused", "check_csrf", "csrf_token", "session", "sign_in", "sign_out"]


def _secret(request: web.Request) -> str:
    secret = request.app[SETTINGS].session_secret
    if not secret:
        raise web.HTTPServiceUnavailable(reason="the session key is not set")
    return secret


def _redis(request: web.Request):
    deps = request.app[RUNTIME].deps
    if deps is None:
        raise web.HTTPServiceUnavailable(reason="gateway is starting or stopping")
    return deps.redis


def _key(sid: str) -> str:
    return f"console:sess:{sid}"


def sid(request: web.Request) -> str:
    have = request.get(_SID)
    if have:
        return str(have)
    found = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    if found is None:
        found = new_sid()
        request[_SET] = found
    request[_SID] = found
    return found


def csrf_token(request: web.Request) -> str:
    return csrf_for(_secret(request), sid(request))


def check_csrf(request: web.Request, form: Mapping[str, Any] | None) -> None:
    """The portal's check (token, Origin, Sec-Fetch-Site) on the console's cookie."""
    portal_sessions.check_csrf(request, form, cookie=COOKIE)


async def session(request: web.Request) -> dict | None:
    """{"username", "role"} of the signed-in operator (idle TTL renewed), else None."""
    if _CACHE in request:
        cached: dict | None = request[_CACHE]
        return cached
    found = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    data = None
    if found is not None and request.get(_SID, found) == found:
        redis = _redis(request)
        raw = await redis.get(_key(found))
        if raw is not None:
            data = json.loads(raw)
            await redis.expire(_key(found), request.app[SETTINGS].console_session_ttl_s)
    request[_CACHE] = data
    return data


async def sign_in(request: web.Request, username: str, role: str) -> None:
    redis = _redis(request)
    old = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    if old:
        await redis.delete(_key(old))
    fresh = new_sid()
    data = {"username": username, "role": role}
    await redis.set(_key(fresh), json.dumps(data), ex=request.app[SETTINGS].console_session_ttl_s)
    request[_SID] = fresh
    request[_SET] = fresh
    request[_CACHE] = data


async def sign_out(request: web.Request) -> None:
    old = verify_cookie(_secret(request), request.cookies.get(COOKIE))
    if old:
        await _redis(request).delete(_key(old))
    request[_CACHE] = None
    request[_SID] = None
    request.pop(_SET, None)
    request[_CLEAR] = True


def _cookie(value: str, max_age: int, secure: bool) -> str:
    # SameSite=Strict: an operator's session never rides along on a link from another site.
    return portal_sessions._cookie(value, max_age, secure, name=COOKIE, path=PATH).replace(
        "SameSite=Lax", "SameSite=Strict")


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith(PATH) and request.path != PATH.rstrip("/"):
        return
    settings = request.app[SETTINGS]
    if request.get(_CLEAR):
        response.headers.add("Set-Cookie", _cookie("", 0, settings.portal_cookie_secure))
    elif request.get(_SET) and settings.session_secret:
        response.headers.add("Set-Cookie", _cookie(sign_cookie(settings.session_secret, request[_SET]),
                                                   settings.console_session_ttl_s, settings.portal_cookie_secure))
    portal_sessions.page_headers(response)
