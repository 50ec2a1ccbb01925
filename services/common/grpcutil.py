"""gRPC conventions shared by every service and client.

Refusals travel as gRPC errors: the status code says what kind (INVALID_ARGUMENT for a caller's
malformed input, FAILED_PRECONDITION for a rule that says no, NOT_FOUND, ALREADY_EXISTS,
PERMISSION_DENIED), trailing metadata names the outcome and the offending field, and the details
string is the clerk-readable message. `Refusal` is the one exception servicers raise;
`with_refusals` (applied to every method by telemetry.InstrumentedServer, or as the
RefusalInterceptor in tests) turns it into that error, so servicers stay thin translators.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

log = logging.getLogger(__name__)

OUTCOME_KEY = "medsettle-outcome"
FIELD_KEY = "medsettle-field"


class Refusal(Exception):
    """A named outcome that ends a call with a clear message (never a stack trace)."""

    def __init__(self, code: grpc.StatusCode, outcome: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.outcome = outcome
        self.message = message
        self.field = field


def invalid(outcome: str, message: str, field: str | None = None) -> Refusal:
    return Refusal(grpc.StatusCode.INVALID_ARGUMENT, outcome, message, field)


def refused(outcome: str, message: str, field: str | None = None) -> Refusal:
    return Refusal(grpc.StatusCode.FAILED_PRECONDITION, outcome, message, field)


def not_found(outcome: str, message: str, field: str | None = None) -> Refusal:
    return Refusal(grpc.StatusCode.NOT_FOUND, outcome, message, field)


def forbidden(outcome: str, message: str, field: str | None = None) -> Refusal:
    return Refusal(grpc.StatusCode.PERMISSION_DENIED, outcome, message, field)


def conflict(outcome: str, message: str, field: str | None = None) -> Refusal:
    return Refusal(grpc.StatusCode.ALREADY_EXISTS, outcome, message, field)


async def abort(context: aio.ServicerContext, refusal: Refusal) -> None:
    md = [(OUTCOME_KEY, refusal.outcome)]
    if refusal.field:
        md.append((FIELD_KEY, refusal.field))
    context.set_trailing_metadata(tuple(md))
    await context.abort(refusal.code, refusal.message)


def with_refusals(inner: Callable[[Any, aio.ServicerContext], Awaitable[Any]], method: str):
    """A unary handler that turns Refusal into a gRPC error with outcome metadata, and anything
    unexpected into a logged, clean INTERNAL error (never a stack trace to the caller)."""

    async def wrapped(request: Any, context: aio.ServicerContext):
        try:
            return await inner(request, context)
        except Refusal as r:
            await abort(context, r)
        except (aio.AbortError, grpc.RpcError, asyncio.CancelledError):
            raise
        except Exception:  # a bug or an outage: the caller gets a retriable, clean error
            log.exception("unhandled error in %s", method)
            context.set_trailing_metadata(((OUTCOME_KEY, "INTERNAL"),))
            await context.abort(grpc.StatusCode.INTERNAL,
                                "内部错误, 请稍后重试或用 5203 查询结果 (internal error; retry, or query with 5203)")

    return wrapped


class RefusalInterceptor(aio.ServerInterceptor):
    """The refusal mapping as an interceptor, for servers built without InstrumentedServer (tests)."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            with_refusals(handler.unary_unary, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def outcome_of(err: grpc.RpcError) -> tuple[str | None, str | None]:
    """(outcome, field) from a failed call's trailing metadata."""
    outcome = field = None
    try:
        md = err.trailing_metadata() or ()
    except Exception:  # noqa: BLE001 - an error without readable metadata carries no outcome
        md = ()
    for key, value in md:
        if key == OUTCOME_KEY:
            outcome = value
        elif key == FIELD_KEY:
            field = value
    return outcome, field


def refusal_from_rpc_error(err: grpc.RpcError) -> Refusal:
    """Re-raise a downstream service's refusal unchanged (e.g. eligibility's NOT_ELIGIBLE from settlement)."""
    outcome, field = outcome_of(err)
    return Refusal(err.code(), outcome or err.code().name, err.details() or "", field)


CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
)


def channel(addr: str) -> aio.Channel:
    """One long-lived channel per target per process (built by the composition root)."""
    return aio.insecure_channel(addr, options=CHANNEL_OPTIONS)


Handler = Callable[..., Awaitable[Any]]
