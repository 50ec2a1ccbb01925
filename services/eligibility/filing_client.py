"""The eligibility service's filing client, for the 2001 benefit check (DOMAIN.md §6a: the same
filing rule as settlement): ResolveFiling over gRPC with a deadline, answered as the engine's
filing group (domain.FilingResolver). A refusal passes on unchanged; an outage is a retriable
DOWNSTREAM_UNAVAILABLE. The filing service's ResolveFiling reads only its own tables (it never
calls eligibility back)."""

from __future__ import annotations

import datetime as dt

import grpc
from grpc import aio

from medsettle.filing.v1 import filing_pb2, filing_pb2_grpc
from services.common.grpcutil import Refusal, is_refusal, refusal_from_rpc_error

FILING_GROUPS = frozenset({"long_term", "referral", "temporary"})


class FilingClient:
    """domain.FilingResolver over the filing service's gRPC API."""

    def __init__(self, channel: aio.Channel, deadline_s: float) -> None:
        self._stub = filing_pb2_grpc.FilingServiceStub(channel)
        self._deadline_s = deadline_s

    async def filing_group(self, *, psn_no: str, insutype: str, insured_pool: str, hospital_admdvs: str,
                           visit_date: dt.date, emergency: bool) -> str | None:
        """The group of the active filing covering the visit (long_term | referral | temporary),
        else None: the engine decides emergency itself and refuses an unfiled cross-region visit."""
        try:
            resp = await self._stub.ResolveFiling(filing_pb2.ResolveFilingRequest(
                psn_no=psn_no, insutype=insutype, insured_pool=insured_pool, hospital_admdvs=hospital_admdvs,
                visit_date=visit_date.isoformat(), emergency=emergency), timeout=self._deadline_s)
        except grpc.RpcError as err:
            if is_refusal(err.code()):
                raise refusal_from_rpc_error(err) from None
            raise Refusal("DOWNSTREAM_UNAVAILABLE", "异地备案服务 (filing) 暂不可用，请稍后重试。 / The filing service "
                          f"is unavailable ({err.code().name}); retry later.") from None
        return resp.filing_group if resp.filed and resp.filing_group in FILING_GROUPS else None
