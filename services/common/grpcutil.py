"""gRPC conventions shared by every service and client.

Refusals travel as gRPC errors the standard way (Google AIP-193): the status code comes from the
outcome's kind in the one catalogue (services/common/outcomes.py) through KIND_STATUS below; the
details carry `google.rpc.ErrorInfo(reason=OUTCOME, domain="medsettle")` and, when a field is
named, `google.rpc.BadRequest.FieldViolation`; the status message is the clerk-readable
message. Trailing metadata also names the outcome and field (`medsettle-outcome`,
`medsettle-field`) for clients that do not decode the details. `Refusal` is the one exception
servicers raise; `with_refusals` (applied to every method by services/common/server.py, or as
the RefusalInterceptor in tests) turns it into that error, so servicers stay thin translators.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc import aio

from services.common.outcomes import Kind, Refusal

log = logging.getLogger(__name__)

OUTCOME_KEY = "medsettle-outcome"
FIELD_KEY = "medsettle-field"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "medsettle"

# The one table from an outcome's kind to its gRPC status code.
KIND_STATUS: dict[Kind, grpc.StatusCode] = {
    Kind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.REFUSED: grpc.StatusCode.FAILED_PRECONDITION,
    Kind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Kind.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    Kind.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    Kind.RETRY: grpc.StatusCode.ABORTED,
    Kind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Kind.INTERNAL: grpc.StatusCode.INTERNAL,
}
STATUS_KIND: dict[grpc.StatusCode, Kind] = {code: kind for kind, code in KIND_STATUS.items()}
STATUS_KIND.update({grpc.StatusCode.OUT_OF_RANGE: Kind.INVALID, grpc.StatusCode.RESOURCE_EXHAUSTED: Kind.RETRY,
                    grpc.StatusCode.DEADLINE_EXCEEDED: Kind.UNAVAILABLE})
# Status codes that are an answer (the caller's input or a rule), not a failure of the service:
# spans stay OK, clients pass them on unchanged.
REFUSAL_STATUS_CODES = frozenset(KIND_STATUS[k] for k in (Kind.INVALID, Kind.REFUSED, Kind.NOT_FOUND,
                                                          Kind.FORBIDDEN, Kind.CONFLICT)) | {grpc.StatusCode.OUT_OF_RANGE}


def is_refusal(code: grpc.StatusCode) -> bool:
    return code in REFUSAL_STATUS_CODES


def status_code_of(refusal: Refusal) -> grpc.StatusCode:
    return KIND_STATUS[refusal.kind]


def _refusal(kind: Kind) -> Callable[..., Refusal]:
    def make(outcome: str, message: str | None = None, field: str | None = None) -> Refusal:
        # The catalogue decides the kind; the helper's name is checked against it by
        # tests/unit/test_outcomes.py, and is the kind only of an outcome not catalogued yet.
        return Refusal(outcome, message, field, fallback=kind)

    make.__name__ = kind.value
    return make


invalid = _refusal(Kind.INVALID)
refused = _refusal(Kind.REFUSED)
not_found = _refusal(Kind.NOT_FOUND)
forbidden = _refusal(Kind.FORBIDDEN)
conflict = _refusal(Kind.CONFLICT)
retry = _refusal(Kind.RETRY)
unavailable = _refusal(Kind.UNAVAILABLE)


def status_details(refusal: Refusal, code: grpc.StatusCode) -> bytes:
    """google.rpc.Status with ErrorInfo (and BadRequest when a field is named), serialized."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=refusal.outcome, domain=ERROR_DOMAIN,
                                          metadata={"kind": refusal.kind.value, **({"field": refusal.field}
                                                                                   if refusal.field else {})}))
    details = [info]
    if refusal.field:
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=refusal.field, description=refusal.message)]))
        details.append(bad)
    return status_pb2.Status(code=getattr(code_pb2, code.name, code_pb2.UNKNOWN), message=refusal.message,
                             details=details).SerializeToString()


async def abort(context: aio.ServicerContext, refusal: Refusal) -> None:
    code = status_code_of(refusal)
    md = [(OUTCOME_KEY, refusal.outcome), (STATUS_DETAILS_KEY, status_details(refusal, code))]
    if refusal.field:
        md.append((FIELD_KEY, refusal.field))
    context.set_trailing_metadata(tuple(md))
    await context.abort(code, refusal.message)


# PostgreSQL unreachable, restarting or gone mid-call: an outage, not a bug.
_DB_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,        # ConnectionDoesNotExistError, ConnectionFailureError, ...
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,                                # refused, reset, unreachable (ConnectionError is one)
    TimeoutError,                           # pool acquire or connect timed out
)


def is_database_outage(exc: BaseException) -> bool:
    """True when `exc` (or what it was raised from) says the database cannot be reached now."""
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 8:
        if isinstance(e, _DB_OUTAGE_TYPES):
            return True
        if isinstance(e, asyncpg.InterfaceError) and ("closed" in str(e) or "connection" in str(e)):
            return True  # "connection is closed", "pool is closed", "connection was closed in the middle"
        e = e.__cause__ or e.__context__
        seen += 1
    return False


class OutageLog:
    """One warning line per outage: the first failure logs, the next ones are counted; the first
    call that succeeds afterwards logs that the database is back (with the count)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.failed = 0

    def failure(self, method: str, exc: BaseException) -> None:
        self.failed += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("database unavailable: answering UNAVAILABLE until it is back",
                        extra={"method": method, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})

    def success(self) -> None:
        if self.since is not None:
            log.warning("database available again", extra={"outage_s": round(time.monotonic() - self.since, 1),
                                                           "calls_refused": self.failed})
            self.since, self.failed = None, 0


# One per process: every method of every servicer shares it (an outage is the process's, not a method's).
_OUTAGES: list[OutageLog] = []


def outage_log() -> OutageLog:
    if not _OUTAGES:
        _OUTAGES.append(OutageLog())
    return _OUTAGES[0]


def with_refusals(inner: Callable[[Any, aio.ServicerContext], Awaitable[Any]], method: str):
    """A unary handler that turns Refusal into a gRPC error with outcome metadata, a database
    outage into a retriable UNAVAILABLE (one warning line per outage, no traceback), and anything
    else unexpected into a logged, clean INTERNAL error (never a stack trace to the caller)."""

    async def wrapped(request: Any, context: aio.ServicerContext):
        try:
            reply = await inner(request, context)
        except Refusal as r:
            await abort(context, r)
        except (aio.AbortError, grpc.RpcError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug or an outage: the caller gets a retriable, clean error
            if is_database_outage(exc):
                outage_log().failure(method, exc)
                await abort(context, Refusal("DATABASE_UNAVAILABLE"))
            log.exception("unhandled error in %s", method)
            await abort(context, Refusal("INTERNAL"))
        else:
            if _OUTAGES and _OUTAGES[0].since is not None:
                _OUTAGES[0].success()
            return reply

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
    """Re-raise a downstream service's refusal unchanged (e.g. eligibility's NOT_ENROLLED from settlement)."""
    outcome, field = outcome_of(err)
    code = err.code()
    return Refusal(outcome or code.name, err.details() or "", field, fallback=STATUS_KIND.get(code, Kind.INTERNAL))


CHANNEL_OPTIONS = (
    # Calls are balanced over every address the target resolves to — in Kubernetes a headless
    # Service, one address per ready pod (infra/k8s) — not all sent to the first one.
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
)


# A server ends each client connection after about five minutes (GOAWAY; in-flight calls get the
# grace to finish), so that clients resolve the target's name again and spread over pods added
# since (a Deployment scaled out by its HPA).
SERVER_OPTIONS = (
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
)


def channel(addr: str) -> aio.Channel:
    """One long-lived channel per target per process (built by the composition root)."""
    return aio.insecure_channel(addr, options=CHANNEL_OPTIONS)


Handler = Callable[..., Awaitable[Any]]
