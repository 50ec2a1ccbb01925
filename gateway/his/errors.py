"""Every failure the HIS can see, mapped in ONE place to (outcome, field, message, retriable).

The outcome's kind comes from the catalogue (services/common/outcomes.py). Refusals (invalid,
refused, not found, forbidden, conflict) carry the service's clerk-readable message and the
outcome/field trailing metadata (`grpcutil.outcome_of`). Transient clashes (retry) say to send
the same msgid again; outages (unavailable, internal) are retriable too: the transaction's
outcome is unknown to the hospital, so the message says how to find out (5203) or undo it
(2601) — never a stack trace. On HIS paths every one is an HTTP 200 failure envelope unless
the transport itself failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from services.common.grpcutil import STATUS_KIND, outcome_of
from services.common.outcomes import CATALOGUE, RETRIABLE_KINDS, Kind

RETRY_HINT = ("医保服务暂不可用或超时, 本笔交易结果未知: 请稍后重试, 或用 5203 查询结算结果, 或用 2601 按原报文ID冲正 "
              "(the insurance service is unavailable or timed out and the outcome of this transaction is unknown: "
              "retry later, query the settlement with 5203, or reverse it by its msgid with 2601)")

# The gateway could not check the request (Redis unreachable) before sending it anywhere: nothing
# was done, so the same request (same msgid, new nonce) is safe to send again.
NOT_PROCESSED_HINT = ("网关暂不可用 (会话/防重放存储无法访问), 本笔交易未被受理、未做任何处理: 请稍后用同一 msgid 重发 "
                      "(the gateway cannot reach its session and nonce store: this transaction was NOT processed and "
                      "nothing was recorded; send it again later, with the same msgid and a new nonce)")


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
    details = (err.details() if callable(getattr(err, "details", None)) else "") or code.name
    kind = CATALOGUE.kind_of(outcome or "", STATUS_KIND.get(code, Kind.INTERNAL))
    if kind not in RETRIABLE_KINDS:
        return Failure(outcome=outcome or code.name, message=details, field=field)
    if kind is Kind.RETRY:  # a clash that clears by itself: the same msgid again
        return Failure(outcome=outcome or "BUSY", message=f"{details} — {RETRY_HINT}", retriable=True)
    name = {grpc.StatusCode.DEADLINE_EXCEEDED: "TIMEOUT", grpc.StatusCode.INTERNAL: "INTERNAL",
            grpc.StatusCode.UNKNOWN: "INTERNAL"}.get(code, "SERVICE_UNAVAILABLE")
    return Failure(outcome=name, message=RETRY_HINT, retriable=True)
