"""The patient portal's session API as mobile payment's pay page uses it (gateway/portal/sessions.py):
who is signed in, the CSRF check of a form, and rendering a page with the session's CSRF token.
The pay page's templates (gateway/mobilepay/templates/) are on the portal's template path
(gateway/portal/app.py setup)."""

from __future__ import annotations

from pathlib import Path

from gateway.portal.sessions import CSRF_FIELD, check_csrf, login_required, render, signed_in_psn_no

TEMPLATES_DIR = Path(__file__).parent / "templates"

__all__ = ["CSRF_FIELD", "TEMPLATES_DIR", "check_csrf", "login_required", "render", "signed_in_psn_no"]
