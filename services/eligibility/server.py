"""gRPC servicer of medsettle.eligibility.v1.EligibilityService: proto ↔ domain, nothing else.

The only code of the service that knows protobuf. Validation and rules live in the use cases
(service.py and the modules it names); refusals raised there become gRPC errors with outcome
metadata where the server wraps every method (services/common/server.py, or
services.common.grpcutil.RefusalInterceptor in tests).
"""

from __future__ import annotations

import datetime as dt

from medsettle.common.v1 import common_pb2
from medsettle.eligibility.v1 import eligibility_pb2 as pb
from medsettle.eligibility.v1 import eligibility_pb2_grpc as pb_grpc
from services.common.clock import BEIJING
from services.eligibility.domain import Certificate, ChronicQualification, Enrollment, Identity, PersonView, Snapshot
from services.eligibility.service import EligibilityService

SERVICE_FULL_NAME = "medsettle.eligibility.v1.EligibilityService"


def _d(v: dt.date | None) -> str:
    return v.isoformat() if v is not None else ""


def identity_pb(psn_no: str, i: Identity) -> pb.IdentityInfo:
    return pb.IdentityInfo(psn_no=psn_no, psn_idet_type=i.type, psn_type_lv=i.level, begntime=_d(i.begin),
                           endtime=_d(i.end))


def chronic_pb(psn_no: str, c: ChronicQualification) -> pb.ChronicQualification:
    return pb.ChronicQualification(psn_no=psn_no, code=c.code, begin=_d(c.begin), end=_d(c.end),
                                   hospital=c.hospital or "", qualification_id=str(c.id))


def enrollment_pb(psn_no: str, e: Enrollment) -> pb.Enrollment:
    return pb.Enrollment(psn_no=psn_no, pool=e.pool, insutype=e.insutype, year=e.year, psn_type=e.psn_type,
                         benefit_start=_d(e.benefit_start), benefit_end=_d(e.benefit_end), status=e.status)


def person_info_pb(v: PersonView) -> pb.PersonInfo:
    p = v.person
    return pb.PersonInfo(
        baseinfo=pb.BaseInfo(psn_no=p.psn_no, psn_cert_type="01", certno=p.certno, psn_name=p.name, gend=p.gender,
                             naty="", brdy=_d(p.birthdate), age=v.age),
        insuinfo=[pb.InsuInfo(balc_fen=p.account_balance_fen, insutype=i.enrollment.insutype,
                              psn_type=i.enrollment.psn_type, psn_insu_stas=i.status_code,
                              psn_insu_date=_d(i.enrollment.benefit_start),
                              paus_insu_date=_d(i.enrollment.status_from) if i.enrollment.status != "active" else "",
                              cvlserv_flag="1" if p.cvlserv else "0", insuplc_admdvs=i.insuplc_admdvs,
                              insured_pool=i.enrollment.pool, emp_name="", benefit_end=_d(i.enrollment.benefit_end),
                              duplicate=i.duplicate, used=i.used) for i in v.insu],
        idetinfo=[identity_pb(p.psn_no, i) for i in v.identities],
    )


def snapshot_pb(v: Snapshot) -> pb.Snapshot:
    p, c = v.person, v.choice
    e = c.enrollment or c.nearest
    return pb.Snapshot(
        psn_no=p.psn_no, name=p.name, insutype=v.insutype, eligible=c.eligible,
        ineligible_outcome=c.outcome or "", ineligible_message=c.message,
        psn_type=e.psn_type if e else "", insured_pool=e.pool if e else "", insuplc_admdvs=v.insuplc_admdvs,
        benefit_start=_d(e.benefit_start) if e else "", benefit_end=_d(e.benefit_end) if e else "",
        identities=[identity_pb(p.psn_no, i) for i in v.identities],
        chronic=[chronic_pb(p.psn_no, q) for q in v.chronic],
        account_balance_fen=p.account_balance_fen, cvlserv=p.cvlserv, duplicate_enrollment=c.duplicate,
        certno=p.certno, gend=p.gender, brdy=_d(p.birthdate), status_version=p.status_version,
    )


def _beijing(at: dt.datetime | None) -> str:
    return "" if at is None else at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


REPLY_MEMO_MAX = 20_000  # replies of about 0.5-1 KB each


class EligibilityServicer(pb_grpc.EligibilityServiceServicer):
    def __init__(self, service: EligibilityService):
        self._svc = service
        # Built replies of FindPerson/GetSnapshot, reused while the person cache hands back the
        # SAME Person object (it keeps one per person until that person's entry changes in
        # Redis), for the same date, insutype and reference data. Building the view and the
        # message was ~100-150 µs of a cached call. The value holds the Person itself, so
        # its id() in the key cannot be reused by another object while the entry lives; a hit
        # is checked with `is`. Freshness stays with the cache: a changed person is a new object.
        self._replies: dict[tuple, tuple[object, object]] = {}

    def _remember(self, key: tuple, person, msg) -> None:
        replies = self._replies
        if len(replies) >= REPLY_MEMO_MAX:
            del replies[next(iter(replies))]  # oldest first
        replies[key] = (person, msg)

    async def FindPerson(self, request: pb.FindPersonRequest, context) -> pb.PersonInfo:
        p, day = await self._svc.find_person_data(cert_type=request.mdtrt_cert_type, cert_no=request.mdtrt_cert_no,
                                                  card_sn=request.card_sn, psn_no=request.psn_no,
                                                  on_date=request.on_date, hospital=request.hospital)
        key = ("f", id(p), day, self._svc.reference_version())
        hit = self._replies.get(key)
        if hit is not None and hit[0] is p:
            return hit[1]
        msg = person_info_pb(self._svc.person_view(p, day))
        self._remember(key, p, msg)
        return msg

    async def GetSnapshot(self, request: pb.GetSnapshotRequest, context) -> pb.Snapshot:
        c = request.certificate
        cert = (Certificate(c.mdtrt_cert_type, c.mdtrt_cert_no, c.card_sn, c.hospital, c.visit_key)
                if request.HasField("certificate") and c.mdtrt_cert_type else None)
        p, insutype, day = await self._svc.snapshot_data(psn_no=request.psn_no, insutype=request.insutype,
                                                         on_date=request.on_date, certificate=cert)
        key = ("s", id(p), insutype, day, self._svc.reference_version())
        hit = self._replies.get(key)
        if hit is not None and hit[0] is p:
            return hit[1]
        msg = snapshot_pb(self._svc.snapshot_view(p, insutype, day))
        self._remember(key, p, msg)
        return msg

    async def CheckBenefit(self, request: pb.CheckBenefitRequest, context) -> pb.CheckBenefitResponse:
        out = await self._svc.check_benefit(psn_no=request.psn_no, insutype=request.insutype,
                                            fixmedins_code=request.fixmedins_code, med_type=request.med_type,
                                            begntime=request.begntime, dise_codg=request.dise_codg)
        return pb.CheckBenefitResponse(trtinfo=[
            pb.TrtInfo(fund_pay_type=t.fund_pay_type, trt_enjymnt_flag="1" if t.may_enjoy else "0",
                       begndate=_d(t.begin), enddate=_d(t.end), trt_chk_rslt=t.result) for t in out])

    async def UpsertEnrollment(self, request: pb.UpsertEnrollmentRequest, context) -> pb.Enrollment:
        e = request.enrollment
        saved = await self._svc.upsert_enrollment(
            psn_no=e.psn_no, pool=e.pool, insutype=e.insutype, year=e.year, psn_type=e.psn_type,
            benefit_start=e.benefit_start, benefit_end=e.benefit_end, status=e.status, paid_date=request.paid_date,
            enrollment_kind=request.enrollment_kind, certno=request.certno, name=request.name,
            gender=request.gender, birthdate=request.birthdate)
        return enrollment_pb(e.psn_no, saved)

    async def TerminateEnrollment(self, request: pb.TerminateEnrollmentRequest, context) -> pb.Enrollment:
        saved = await self._svc.terminate_enrollment(psn_no=request.psn_no, pool=request.pool,
                                                     insutype=request.insutype, year=request.year,
                                                     end_date=request.end_date, status=request.status)
        return enrollment_pb(request.psn_no, saved)

    async def SetIdentity(self, request: pb.SetIdentityRequest, context) -> pb.IdentityInfo:
        saved = await self._svc.set_identity(psn_no=request.psn_no, type_=request.type, begin=request.begin,
                                             end=request.end, remove=request.remove)
        return identity_pb(request.psn_no, saved)

    async def GrantChronic(self, request: pb.GrantChronicRequest, context) -> pb.ChronicQualification:
        saved = await self._svc.grant_chronic(psn_no=request.psn_no, code=request.code, begin=request.begin,
                                              end=request.end, hospital=request.hospital)
        return chronic_pb(request.psn_no, saved)

    async def RevokeChronic(self, request: pb.RevokeChronicRequest, context) -> pb.ChronicQualification:
        saved = await self._svc.revoke_chronic(psn_no=request.psn_no, code=request.code, end=request.end)
        return chronic_pb(request.psn_no, saved)

    async def ListChronic(self, request: pb.ListChronicRequest, context) -> pb.ListChronicResponse:
        rows = await self._svc.list_chronic(psn_no=request.psn_no)
        return pb.ListChronicResponse(chronic=[chronic_pb(request.psn_no, c) for c in rows])

    async def InvalidatePerson(self, request: pb.InvalidatePersonRequest, context) -> common_pb2.Empty:
        await self._svc.invalidate_person(psn_no=request.psn_no)
        return common_pb2.Empty()

    async def IssueEvoucher(self, request: pb.IssueEvoucherRequest, context) -> pb.Evoucher:
        ev = await self._svc.issue_evoucher(psn_no=request.psn_no, certno=request.certno)
        expires = dt.datetime.fromtimestamp(ev.expires_at, BEIJING)
        return pb.Evoucher(token=ev.token, expires_at=expires.strftime("%Y-%m-%d %H:%M:%S"), ttl_s=ev.ttl_s)

    async def Presented(self, request: pb.PresentedRequest, context) -> pb.PresentedResponse:
        return pb.PresentedResponse(presented=await self._svc.presented(psn_no=request.psn_no,
                                                                         hospital=request.hospital))
    async def ListImports(self, request: pb.ListImportsRequest, context) -> pb.ListImportsResponse:
        """The console: the bulk enrollment imports and their progress (eligibility.import_status)."""
        rows = await self._svc.repo.imports(min(max(request.limit, 0) or 50, 500))
        return pb.ListImportsResponse(imports=[pb.ImportStatus(
            file_sha256=r[0], path=r[1], splits=r[2], committed_through=r[3], rows_ok=r[4], rows_rejected=r[5],
            started_at=_beijing(r[6]), updated_at=_beijing(r[7]), finished_at=_beijing(r[8])) for r in rows])

    async def VerifyRealName(self, request: pb.VerifyRealNameRequest, context) -> pb.VerifyRealNameResponse:
        found = await self._svc.verify_real_name(certno=request.certno, name=request.name)
        if found is None:
            return pb.VerifyRealNameResponse(matched=False)
        return pb.VerifyRealNameResponse(matched=True, psn_no=found[0], phone=found[1])


def register(server, service: EligibilityService) -> EligibilityServicer:
    servicer = EligibilityServicer(service)
    pb_grpc.add_EligibilityServiceServicer_to_server(servicer, server)
    return servicer
