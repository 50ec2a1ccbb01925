"""The settlement service's eligibility client: GetSnapshot over gRPC with a deadline, answered
as domain types (ports.EligibilityService). A downstream refusal is passed on unchanged; an
outage becomes a clean, retriable DOWNSTREAM_UNAVAILABLE with a clerk-readable message."""

from __future__ import annotations

import datetime as dt

import grpc
from grpc import aio

from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc
from services.common.grpcutil import Refusal, is_refusal, refusal_from_rpc_error
from services.engine.model import ChronicQualification, Identity, PersonSnapshot
from services.settlement.domain import CertificateClaim, Eligibility


def downstream_refusal(err: grpc.RpcError, what: str) -> Refusal:
    """A failed call to a service settlement depends on (also used by filing_client)."""
    if is_refusal(err.code()):
        return refusal_from_rpc_error(err)
    return Refusal("DOWNSTREAM_UNAVAILABLE",
                   f"{what}暂不可用，请稍后重试 (2207 可用同一 msgid 重发)。 / The {what} service is "
                   f"unavailable ({err.code().name}); retry later with the same msgid.")


def _date(text: str) -> dt.date | None:
    text = (text or "").strip()
    return dt.date.fromisoformat(text[:10]) if text else None


def person_from_snapshot(s: eligibility_pb2.Snapshot) -> PersonSnapshot:
    return PersonSnapshot(
        psn_no=s.psn_no, name=s.name, insutype=s.insutype, psn_type=s.psn_type, insured_pool=s.insured_pool,
        identities=tuple(Identity(i.psn_idet_type, begin, _date(i.endtime))
                         for i in s.identities if (begin := _date(i.begntime)) is not None),
        chronic=tuple(ChronicQualification(c.code, start, _date(c.end), c.hospital or None)
                      for c in s.chronic if (start := _date(c.begin)) is not None),
        account_balance_fen=s.account_balance_fen, cvlserv=s.cvlserv,
    )


def eligibility_from_snapshot(s: eligibility_pb2.Snapshot) -> Eligibility:
    return Eligibility(eligible=s.eligible, person=person_from_snapshot(s), ineligible_outcome=s.ineligible_outcome,
                       ineligible_message=s.ineligible_message, status_version=s.status_version, certno=s.certno,
                       gender=s.gend, birthdate=s.brdy)


class EligibilityClient:
    """ports.EligibilityService over the eligibility service's gRPC API."""

    def __init__(self, channel: aio.Channel, deadline_s: float) -> None:
        self._stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        self._deadline_s = deadline_s

    async def snapshot(self, psn_no: str, insutype: str, on_date: dt.date,
                       certificate: CertificateClaim | None = None) -> Eligibility:
        req = eligibility_pb2.GetSnapshotRequest(psn_no=psn_no, insutype=insutype, on_date=on_date.isoformat())
        if certificate is not None and certificate.cert_type:
            req.certificate.CopyFrom(eligibility_pb2.Certificate(
                mdtrt_cert_type=certificate.cert_type, mdtrt_cert_no=certificate.cert_no,
                card_sn=certificate.card_sn, hospital=certificate.hospital, visit_key=certificate.visit_key))
        try:
            snap = await self._stub.GetSnapshot(req, timeout=self._deadline_s)
        except grpc.RpcError as err:
            raise downstream_refusal(err, "参保资格服务 (eligibility)") from None
        return eligibility_from_snapshot(snap)

    async def presented(self, psn_no: str, hospital: str) -> bool:
        try:
            reply = await self._stub.Presented(eligibility_pb2.PresentedRequest(psn_no=psn_no, hospital=hospital),
                                               timeout=self._deadline_s)
        except grpc.RpcError as err:
            raise downstream_refusal(err, "参保资格服务 (eligibility)") from None
        return reply.presented
