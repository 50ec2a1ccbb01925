"""The eligibility service over gRPC, as the filing service uses it (domain.Eligibility).

The only code of the filing service that knows eligibility's protobuf. A refusal of eligibility
(e.g. PERSON_NOT_FOUND) is passed on unchanged; anything else (down, deadline) becomes
ELIGIBILITY_UNAVAILABLE, and the filing transaction is not completed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import grpc

from medsettle.eligibility.v1 import eligibility_pb2
from services.common.grpcutil import Refusal, is_refusal, refusal_from_rpc_error
from services.filing.domain import Eligibility

log = logging.getLogger(__name__)


class EligibilityClient(Eligibility):
    """Over an EligibilityServiceStub on a traced channel."""

    def __init__(self, stub: Any, deadline_s: float = 5.0) -> None:
        self._stub = stub
        self._deadline_s = deadline_s

    async def _call(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub, method)(request, timeout=self._deadline_s)
        except grpc.RpcError as err:
            if not is_refusal(err.code()):
                log.warning("eligibility %s failed: %s %s", method, err.code().name, err.details())
                raise Refusal("ELIGIBILITY_UNAVAILABLE",
                              "参保资格服务暂不可用，本次备案交易未完成；请稍后重试（HIS 交易用同一 msgid）。 / The "
                              "eligibility service is unavailable and this filing transaction was not completed; retry "
                              "later (a HIS transaction with the same msgid).") from None
            raise refusal_from_rpc_error(err) from None

    async def insured_pool(self, psn_no: str, insutype: str, on_date: dt.date) -> str:
        snap = await self._call("GetSnapshot", eligibility_pb2.GetSnapshotRequest(
            psn_no=psn_no, insutype=insutype, on_date=on_date.isoformat()))
        return snap.insured_pool

    async def psn_type(self, psn_no: str, insutype: str, on_date: dt.date) -> str:
        """employee | retired | resident, of the enrollment on that date."""
        snap = await self._call("GetSnapshot", eligibility_pb2.GetSnapshotRequest(
            psn_no=psn_no, insutype=insutype, on_date=on_date.isoformat()))
        return snap.psn_type

    async def grant_chronic(self, psn_no: str, code: str, begin: dt.date, end: dt.date | None, hospital: str) -> str:
        q = await self._call("GrantChronic", eligibility_pb2.GrantChronicRequest(
            psn_no=psn_no, code=code, begin=begin.isoformat(), end=end.isoformat() if end else "", hospital=hospital))
        return q.qualification_id

    async def revoke_chronic(self, psn_no: str, code: str, end: dt.date) -> None:
        await self._call("RevokeChronic", eligibility_pb2.RevokeChronicRequest(psn_no=psn_no, code=code,
                                                                               end=end.isoformat()))

    async def invalidate_person(self, psn_no: str) -> None:
        await self._call("InvalidatePerson", eligibility_pb2.InvalidatePersonRequest(psn_no=psn_no))
