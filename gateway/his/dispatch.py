"""What a HIS transaction handler is, and the context it gets. The infno table itself is built
explicitly, in one place: gateway/his/handlers/__init__.py (`HANDLERS`).

A handler is `async def handler(call: Call) -> dict` (the `output` of a success envelope). It
validates `call.input` (raising envelope.FieldError), builds the proto request with
`call.caller`, calls a service with `timeout=call.timeout_s`, and translates the reply. gRPC
errors are NOT caught in handlers: the HIS endpoint maps them in one place (errors.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

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
    reference: Any = None  # the gateway's ReferenceCache (Deps.cache), for handlers that answer from it
    mobilepay: Any = None  # gateway/mobilepay/service.MobilePay (Deps.extra["mobilepay"]): 6201..6401

    @property
    def input(self) -> dict:
        return self.env.input

    @property
    def msgid_strict(self) -> bool:
        """The hospital's msgid rule (interface.msgid): for ids the HIS sent earlier, such as 2601's
        omsgid (`envelope.check_msgid(omsgid, code, path, strict=call.msgid_strict)`)."""
        return self.principal.interface.msgid == "strict"

    @property
    def caller(self) -> common_pb2.Caller:
        # The authenticated hospital, not whatever the envelope claims (they are checked equal).
        return common_pb2.Caller(fixmedins_code=self.principal.code, msgid=self.env.msgid,
                                 infno=self.env.infno, opter=self.env.opter)


Handler = Callable[[Call], Awaitable[dict]]


class LabelledHandler(Protocol):
    """A handler as `transaction` leaves it: labelled with its infno and transaction name."""

    infno: str
    transaction_name: str
    __qualname__: str

    def __call__(self, call: Call, /) -> Awaitable[dict]: ...


def transaction(infno: str, name: str) -> Callable[[Handler], LabelledHandler]:
    """Labels a handler with the infno it serves and the transaction's name (`handler.infno`,
    `handler.transaction_name`). It registers nothing: gateway/his/handlers/__init__.py lists the
    table and checks each entry against its label."""
    def label(fn: Handler) -> LabelledHandler:
        labelled = cast(LabelledHandler, fn)  # the same function object: the two attributes are set right here
        labelled.infno = infno
        labelled.transaction_name = name
        return labelled
    return label


def table() -> Mapping[str, Handler]:
    """The infno -> handler table (gateway/his/handlers/__init__.py)."""
    from gateway.his.handlers import HANDLERS

    return HANDLERS


def __getattr__(name: str):
    # `dispatch.HANDLERS` / `dispatch.NAMES` for callers from before the table moved to
    # gateway/his/handlers (tests/unit/loadtest/test_scenarios.py): the same read-only mappings,
    # looked up when asked for (the handler modules import this one, so it cannot import them first).
    if name in ("HANDLERS", "NAMES"):
        from gateway.his import handlers

        return getattr(handlers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
