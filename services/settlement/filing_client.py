"""The settlement service's filing client: ResolveFiling over gRPC with a deadline, answered as
the engine's filing group (ports.FilingService). Refusals pass on unchanged; an outage is a
retriable DOWNSTREAM_UNAVAILABLE."""

from __future__ import annotations

import datetime as dt

import grpc
from grpc import aio

from medsettle.filing.v1 import filing_pb2, filing_pb2_grpc
from services.settlement.eligibility_client import downstream_refusal

FILING_GROUPS = frozenset({"long_term", "referral", "temporary"})


class FilingClient:
    """ports.FilingService over the filing service's gRPC API."""

    def __init__(self, channel: aio.Channel, deadline_s: float) -> None:
        self._stub = filing_pb2_grpc.FilingServiceStub(channel)
        self._deadline_s = deadline_s

    async def filing_group(self, *, psn_no: str, insutype: str, insured_pool: str, hospital_admdvs: str,
                           visit_date: dt.date, emergency: bool) -> str | None:
        """The filing group of an active filing (long_term | referral | temporary), else None:
        the engine itself decides emergency and refuses an unfiled cross-region visit."""
        try:
            resp = await self._stub.ResolveFiling(filing_pb2.ResolveFilingRequest(
                psn_no=psn_no, insutype=insutype, insured_pool=insured_pool, hospital_admdvs=hospital_admdvs,
                visit_date=visit_date.isoformat(), emergency=emergency), timeout=self._deadline_s)
        except grpc.RpcError as err:
            raise downstream_refusal(err, "异地备案服务 (filing)") from None
        if resp.filed and resp.filing_group in FILING_GROUPS:
            return resp.filing_group
        return None
