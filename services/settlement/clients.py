"""The settlement service's view of eligibility and filing: gRPC stubs with a deadline,
translated into engine types. A downstream refusal is passed on unchanged; an outage becomes a
clean, retriable UNAVAILABLE with a clerk-readable message."""

from __future__ import annotations

import datetime as dt

import grpc
from grpc import aio

from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc
from medsettle.filing.v1 import filing_pb2, filing_pb2_grpc
from services.common.grpcutil import Refusal, is_refusal, refusal_from_rpc_error
from services.engine.model import ChronicQualification, Identity, PersonSnapshot

FILING_GROUPS = frozenset({"long_term", "referral", "temporary"})


def _date(text: str) -> dt.date | None:
    text = (text or "").strip()
    return dt.date.fromisoformat(text[:10]) if text else None


def _downstream(err: grpc.RpcError, what: str) -> Refusal:
    if is_refusal(err.code()):
        return refusal_from_rpc_error(err)
    return Refusal("DOWNSTREAM_UNAVAILABLE",
                   f"{what}暂不可用，请稍后重试 (2207 可用同一 msgid 重发)。 / The {what} service is "
                   f"unavailable ({err.code().name}); retry later with the same msgid.")


class EligibilityClient:
    def __init__(self, channel: aio.Channel, deadline_s: float) -> None:
        self._stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        self._deadline_s = deadline_s

    async def snapshot(self, psn_no: str, insutype: str, on_date: dt.date) -> eligibility_pb2.Snapshot:
        try:
            return await self._stub.GetSnapshot(
                eligibility_pb2.GetSnapshotRequest(psn_no=psn_no, insutype=insutype, on_date=on_date.isoformat()),
                timeout=self._deadline_s)
        except grpc.RpcError as err:
            raise _downstream(err, "参保资格服务 (eligibility)") from None


class FilingClient:
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
            raise _downstream(err, "异地备案服务 (filing)") from None
        if resp.filed and resp.filing_group in FILING_GROUPS:
            return resp.filing_group
        return None


def person_from_snapshot(s: eligibility_pb2.Snapshot) -> PersonSnapshot:
    return PersonSnapshot(
        psn_no=s.psn_no, name=s.name, insutype=s.insutype, psn_type=s.psn_type, insured_pool=s.insured_pool,
        identities=tuple(Identity(i.psn_idet_type, _date(i.begntime), _date(i.endtime))
                         for i in s.identities if _date(i.begntime) is not None),
        chronic=tuple(ChronicQualification(c.code, _date(c.begin), _date(c.end), c.hospital or None)
                      for c in s.chronic if _date(c.begin) is not None),
        account_balance_fen=s.account_balance_fen, cvlserv=s.cvlserv,
    )
