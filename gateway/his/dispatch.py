"""The infno table: which handler serves which transaction, and the context a handler gets.

A handler is `async def handler(call: Call) -> dict` (the `output` of a success envelope). It
validates `call.input` (raising envelope.FieldError), builds the proto request with
`call.caller`, calls a service with `timeout=call.timeout_s`, and translates the reply. gRPC
errors are NOT caught in handlers: the HIS endpoint maps them in one place (errors.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.his.envelope import Envelope
from gateway.his.security import Guard, Principal
from medsettle.common.v1 import common_pb2
from services.common.clock import Clock


@dataclass(frozen=True, slots=True)
class Stubs:
    eligibility: Any
    filing: Any
    settlement: Any


@dataclass(slots=True)
class Call:
    env: Envelope
    principal: Principal
    stubs: Stubs
    guard: Guard
    timeout_s: float
    clock: Clock

    @property
    def input(self) -> dict:
        return self.env.input

    @property
    def caller(self) -> common_pb2.Caller:
        # The authenticated hospital, not whatever the envelope claims (they are checked equal).
        return common_pb2.Caller(fixmedins_code=self.principal.code, msgid=self.env.msgid,
                                 infno=self.env.infno, opter=self.env.opter)


Handler = Callable[[Call], Awaitable[dict]]
HANDLERS: dict[str, Handler] = {}
NAMES: dict[str, str] = {}


def transaction(infno: str, name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if infno in HANDLERS:
            raise RuntimeError(f"infno {infno} registered twice")
        HANDLERS[infno] = fn
        NAMES[infno] = name
        return fn
    return register


def table() -> dict[str, Handler]:
    """The full table (importing the handler modules registers them)."""
    from gateway.his.handlers import fees, filing, person, recon, settle, signin, visits  # noqa: F401

    return HANDLERS
