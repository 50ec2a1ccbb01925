"""Every failure the HIS can see, mapped in ONE place to (outcome, field, message, retriable).

Refusals from the services (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS,
PERMISSION_DENIED) carry the service's clerk-readable message and the outcome/field trailing
metadata (`grpcutil.outcome_of`). Outages (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL and the
rest) are retriable: the transaction's outcome is unknown to the hospital, so the message says
how to find out (5203) or undo it (2601) — never a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from services.common.grpcutil import outcome_of

REFUSAL_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.OUT_OF_RANGE,
}

RETRY_HINT = ("医保服务暂不可用或超时, 本笔交易结果未知: 请稍后重试, 或用 5203 查询结算结果, 或用 2601 按原报文ID冲正 "
              "(the insurance service is unavailable or timed out and the outcome of this transaction is unknown: "
              "retry later, query the settlement with 5203, or reverse it by its msgid with 2601)")


@dataclass(frozen=True, slots=True)
class Failure:
    outcome: str
    message: str
    field: str | None = None
    retriable: bool = False
    http_status: int = 200

    def err_msg(self) -> str:
        where = f" (字段 field: {self.field})" if self.field else ""
        return f"[{self.outcome}] {self.message}{where}"

    def output(self) -> dict:
        out: dict = {"outcome": self.outcome, "retriable": self.retriable}
        if self.field:
            out["field"] = self.field
        return out


def from_rpc_error(err: grpc.RpcError) -> Failure:
    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    outcome, field = outcome_of(err)
    if code in REFUSAL_CODES:
        details = (err.details() if callable(getattr(err, "details", None)) else "") or code.name
        return Failure(outcome=outcome or code.name, message=details, field=field)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Failure(outcome=outcome or "BUSY", message="医保服务繁忙, 请稍后重试 (the service is busy; retry shortly) — "
                       + RETRY_HINT, retriable=True)
    kind = {grpc.StatusCode.UNAVAILABLE: "SERVICE_UNAVAILABLE",
            grpc.StatusCode.DEADLINE_EXCEEDED: "TIMEOUT"}.get(code, "INTERNAL")
    return Failure(outcome=kind, message=RETRY_HINT, retriable=True)
