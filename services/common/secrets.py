"""Per-installation secrets: the e-voucher signing key, the session key, the optional admin bootstrap token.

A secret is taken from the environment when one is given there (through Settings: EVOUCHER_SECRET,
MEDSETTLE_ADMIN_TOKEN, SESSION_SECRET), else generated once per installation on first start and
kept under the data directory (`<MEDSETTLE_DATA_DIR>/secrets/<name>`, mode 0600; the folder
0700). Several processes starting at once agree: the file is created with O_EXCL and whoever
loses the race reads the winner's value.

No secret has a public default. A value known to be public (the development defaults of earlier
versions, or anything shorter than MIN_LENGTH) is refused at start-up with a message saying what
to do, unless MEDSETTLE_DEV_MODE=1 says this is a developer's machine.
"""

from __future__ import annotations

import logging
import os
import secrets as _random
from pathlib import Path

log = logging.getLogger(__name__)

MIN_LENGTH = 32
# Values that were once shipped as defaults, or that people type: never accepted outside dev mode.
KNOWN_PUBLIC = frozenset({
    "dev-evoucher-secret-change-me-32b", "dev-admin-token-change-me", "change-me", "changeme", "secret",
    "test-admin-token",
})


class SecretRefused(RuntimeError):
    """A configured secret is a known public value or too short (the process refuses to start)."""


def check(name: str, env_name: str, value: str, *, dev_mode: bool) -> str:
    """The configured value if it may be used; else SecretRefused naming the variable."""
    weak = value in KNOWN_PUBLIC or len(value) < MIN_LENGTH
    if weak and not dev_mode:
        reason = "a publicly known default" if value in KNOWN_PUBLIC else f"shorter than {MIN_LENGTH} characters"
        raise SecretRefused(
            f"{env_name} is {reason}; refusing to start. Unset it (a key is then generated for this installation "
            f"under the data directory) or set a random value of at least {MIN_LENGTH} characters, e.g. "
            f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`. MEDSETTLE_DEV_MODE=1 allows it on "
            f"a developer's machine.")
    if weak:
        log.warning("secret %s: %s is weak, accepted because MEDSETTLE_DEV_MODE=1", name, env_name)
    return value


def installation_secret(data_dir: Path, name: str, env_name: str, configured: str | None, *,
                        dev_mode: bool = False) -> str:
    """The secret `name`: the configured value (checked), else this installation's own."""
    if configured:
        return check(name, env_name, configured, dev_mode=dev_mode)
    folder = Path(data_dir) / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = _read(path)
    else:
        value = _random.token_urlsafe(32)
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")
        log.info("secret %s generated for this installation at %s (mode 0600)", name, path)
    return value


def _read(path: Path) -> str:
    # A racing creator may not have written yet: wait briefly for the value.
    import time

    for _ in range(50):
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise SecretRefused(f"{path} is empty; delete it to have a new secret generated")


# Settings field -> (file name under secrets/, environment variable)
SECRETS = {
    "evoucher_secret": ("evoucher-key", "EVOUCHER_SECRET"),
    "session_secret": ("session-key", "SESSION_SECRET"),
    "admin_token": ("admin-token", "MEDSETTLE_ADMIN_TOKEN"),
}


# Secrets that are only checked when configured, never generated: MEDSETTLE_ADMIN_TOKEN is an
# optional bootstrap token (the admin API takes per-account tokens, gateway/console/).
OPTIONAL = frozenset({"admin_token"})


def resolved(settings, *fields: str):
    """`settings` with the named secrets filled in (configured and checked, or this installation's;
    an OPTIONAL one that is not configured stays None)."""
    import dataclasses

    values: dict[str, str | None] = {}
    for field in fields:
        name, env_name = SECRETS[field]
        configured = getattr(settings, field)
        if field in OPTIONAL and not configured:
            values[field] = None
            continue
        values[field] = installation_secret(settings.data_dir, name, env_name, configured, dev_mode=settings.dev_mode)
    return dataclasses.replace(settings, **values)
