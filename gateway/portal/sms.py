"""Sending the one-time code: a `SmsSender` Protocol an operator implements for their SMS
gateway, chosen by `PORTAL_SMS_SENDER` (`dev`, or `package.module:attribute` naming a class or
factory called with the Settings and returning a sender).

`DevSmsSender` logs that a code was sent (to the phone's last four digits only) and appends
`{"at", "phone", "code", "purpose"}` to `<data_dir>/sms-outbox.jsonl`: the developer reads the code
there (and `make run` says so); the e2e tests and the load test read it the same way. It is the
only place a code is ever written: never log one elsewhere.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from pathlib import Path
from typing import Protocol

from services.common.config import Settings

log = logging.getLogger("gateway.portal.sms")

OUTBOX = "sms-outbox.jsonl"


class SmsSender(Protocol):
    async def send_code(self, phone: str, code: str, *, purpose: str) -> None:
        """Deliver `code` to `phone` (11 digits). `purpose`: "signup" or "login". Raise on failure."""


def tail(phone: str) -> str:
    return phone[-4:]


class DevSmsSender:
    """The developer's sender: the outbox file, never a real SMS."""

    def __init__(self, outbox: Path, clock) -> None:
        self.outbox = outbox
        self._clock = clock

    async def send_code(self, phone: str, code: str, *, purpose: str) -> None:
        line = json.dumps({"at": self._clock.now().isoformat(timespec="seconds"), "phone": phone, "code": code,
                           "purpose": purpose}, ensure_ascii=False)
        await asyncio.to_thread(self._append, line)
        log.info("dev SMS: code written to the outbox", extra={"phone_tail": tail(phone), "purpose": purpose,
                                                               "outbox": str(self.outbox)})

    def _append(self, line: str) -> None:
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def build_sender(settings: Settings, clock) -> SmsSender:
    spec = settings.portal_sms_sender or "dev"
    if spec == "dev":
        return DevSmsSender(Path(settings.data_dir) / OUTBOX, clock)
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"PORTAL_SMS_SENDER: expected 'dev' or 'package.module:attribute', got {spec!r}")
    factory = getattr(importlib.import_module(module), attr)
    sender: SmsSender = factory(settings)
    return sender


def read_outbox(path: Path) -> list[dict]:
    """Every message in a dev outbox (tests, the load test)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
