"""The patient portal's session API as mobile payment's pages use it: `signed_in_psn_no(request)`,
`check_csrf(request, form)`, `render(request, template, context)` (gateway/portal/sessions.py, being
built beside this work).

When gateway/portal is present, its functions are used. Until then a STAND-IN with the same names
keeps the pages working and testable: an HMAC-signed cookie `m_session` = `<psn_no>.<expires>.<sig>`
under the gateway's session secret (nothing here signs anyone in: the stand-in only reads such a
cookie), and a CSRF token derived from the session. Merging the portal replaces it (delete the
fallback branch below).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gateway.deps import RUNTIME, SETTINGS

TEMPLATES = Path(__file__).parent / "templates"
COOKIE = "m_session"


@functools.cache
def _env() -> jinja2.Environment:
    """The pages' template environment, built on first use (nothing at import)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)


try:  # the real portal, once merged
    from gateway.portal.sessions import (  # noqa: F401
        check_csrf,
        render,
        signed_in_psn_no,
    )
    REAL_PORTAL = True
except ImportError:
    REAL_PORTAL = False

    def _secret(request: web.Request) -> bytes:
        secret = request.app[SETTINGS].session_secret
        if not secret:
            raise web.HTTPServiceUnavailable(reason="no session secret")
        return secret.encode()

    def session_cookie(secret: str, psn_no: str, expires: int) -> str:
        """The stand-in's cookie value (tests mint one with the installation's session key)."""
        sig = hmac.new(secret.encode(), f"m|{psn_no}|{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{psn_no}.{expires}.{sig}"

    async def signed_in_psn_no(request: web.Request) -> str | None:
        raw = request.cookies.get(COOKIE, "")
        parts = raw.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        psn_no, expires, sig = parts
        want = hmac.new(_secret(request), f"m|{psn_no}|{expires}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, want) or int(expires) < request.app[RUNTIME].clock.timestamp():
            return None
        return psn_no

    def _csrf(request: web.Request) -> str:
        return hmac.new(_secret(request), f"csrf|{request.cookies.get(COOKIE, '')}".encode(),
                        hashlib.sha256).hexdigest()

    def check_csrf(request: web.Request, form: Any) -> None:
        given = str(form.get("csrf_token", ""))
        if not given or not hmac.compare_digest(given, _csrf(request)):
            raise web.HTTPForbidden(reason="CSRF token missing or wrong")

    def render(request: web.Request, template: str, context: dict, *,
               status: int = 200) -> web.Response:
        html = _env().get_template(template).render(**context, csrf_token=_csrf(request))
        return web.Response(text=html, content_type="text/html", status=status,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})
