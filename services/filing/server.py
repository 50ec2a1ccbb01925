"""gRPC servicer of medsettle.filing.v1.FilingService: translates wire ↔ domain, nothing else.

The only code of the service that knows its protobuf. Refusals (domain.FilingRefused, a
services.common.outcomes.Refusal) become gRPC errors with the outcome and field in trailing
metadata where the server wraps every method (services/common/server.py, or
services.common.grpcutil.RefusalInterceptor in tests).
"""

from __future__ import annotations

from medsettle.filing.v1 import filing_pb2, filing_pb2_grpc
from services.common.clock import BEIJING
from services.filing.domain import Caller, ChronicFiling, Filing, FilingSpec
from services.filing.service import FilingService

SERVICE_FULL_NAME = "medsettle.filing.v1.FilingService"


def _caller(c) -> Caller:
    return Caller(fixmedins_code=c.fixmedins_code, msgid=c.msgid, infno=c.infno, opter=c.opter)


def _d(value) -> str:
    return "" if value is None else value.isoformat()


def filing_to_pb(f: Filing) -> filing_pb2.Filing:
    return filing_pb2.Filing(
        filing_id=f.filing_id, psn_no=f.psn_no, insutype=f.insutype, type=f.type, group=f.group,
        destination=f.destination, begin=_d(f.begin), end=_d(f.end), status=f.status,
        created_at=f.created_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if f.created_at else "",
        source=f.source, fixmedins_code=f.fixmedins_code, diag_code=f.diag_code, diag_name=f.diag_name,
        insured_pool=f.insured_pool)


def chronic_to_pb(c: ChronicFiling) -> filing_pb2.ChronicFiling:
    return filing_pb2.ChronicFiling(
        filing_id=c.filing_id, psn_no=c.psn_no, insutype=c.insutype, opsp_dise_code=c.opsp_dise_code,
        opsp_dise_name=c.opsp_dise_name, ide_fixmedins_no=c.ide_fixmedins_no, begndate=_d(c.begndate),
        enddate=_d(c.enddate), status=c.status)


class FilingServicer(filing_pb2_grpc.FilingServiceServicer):
    def __init__(self, service: FilingService) -> None:
        self._svc = service

    async def CreateFiling(self, request, context):
        f = request.filing
        spec = FilingSpec(psn_no=f.psn_no, insutype=f.insutype, type=f.type, destination=f.destination,
                          begin=f.begin, end=f.end, insured_pool=f.insured_pool, diag_code=f.diag_code,
                          diag_name=f.diag_name)
        return filing_to_pb(await self._svc.create_filing(_caller(request.caller), spec, request.today))

    async def RevokeFiling(self, request, context):
        return filing_to_pb(await self._svc.revoke_filing(_caller(request.caller), request.filing_id,
                                                          request.psn_no))

    async def ChangeFiling(self, request, context):
        return filing_to_pb(await self._svc.change_filing(
            _caller(request.caller), request.filing_id, request.destination, request.begin, request.end,
            request.today))

    async def ListFilings(self, request, context):
        filings = await self._svc.list_filings(request.psn_no, request.include_inactive)
        return filing_pb2.ListFilingsResponse(filings=[filing_to_pb(f) for f in filings])

    async def ResolveFiling(self, request, context):
        r = await self._svc.resolve_filing(request.psn_no, request.insutype, request.insured_pool,
                                           request.hospital_admdvs, request.visit_date, request.emergency)
        return filing_pb2.ResolveFilingResponse(region_class=r.region_class, filed=r.filed,
                                                filing_group=r.filing_group, filing_id=r.filing_id,
                                                message=r.message)

    async def FileChronic(self, request, context):
        return chronic_to_pb(await self._svc.file_chronic(
            _caller(request.caller), request.psn_no, request.insutype, request.opsp_dise_code,
            request.opsp_dise_name, request.ide_fixmedins_no, request.begndate, request.enddate))

    async def CancelChronic(self, request, context):
        return chronic_to_pb(await self._svc.cancel_chronic(
            _caller(request.caller), request.psn_no, request.filing_id, request.opsp_dise_code))

    async def QueryChronic(self, request, context):
        filings = await self._svc.query_chronic(request.psn_no, request.insutype)
        return filing_pb2.QueryChronicResponse(filings=[chronic_to_pb(c) for c in filings])

    async def ReverseByMsgid(self, request, context):
        r = await self._svc.reverse_by_msgid(_caller(request.caller), request.psn_no, request.omsgid,
                                             request.oinfno)
        return filing_pb2.ReverseByMsgidResponse(filing_id=r.filing_id, status=r.status)


def register(server, service: FilingService) -> None:
    filing_pb2_grpc.add_FilingServiceServicer_to_server(FilingServicer(service), server)
