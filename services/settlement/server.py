"""gRPC servicer: a thin translator over SettlementService (service.py).

Each RPC hands its request to the service layer and returns its reply; refusals are `Refusal`
exceptions that the RefusalInterceptor (services/common/grpcutil.py) turns into gRPC errors
with the outcome and field in trailing metadata.
"""

from __future__ import annotations

from grpc import aio

from medsettle.settlement.v1 import settlement_pb2 as pb
from medsettle.settlement.v1 import settlement_pb2_grpc
from services.settlement.service import SettlementService

SERVICE_FULL_NAME = pb.DESCRIPTOR.services_by_name["SettlementService"].full_name


class SettlementServicer(settlement_pb2_grpc.SettlementServiceServicer):
    def __init__(self, service: SettlementService) -> None:
        self.s = service

    async def Register(self, request, context):
        return await self.s.register(request)

    async def CancelVisit(self, request, context):
        return await self.s.cancel_visit(request)

    async def RecordDiagnosis(self, request, context):
        return await self.s.record_diagnosis(request)

    async def Discharge(self, request, context):
        return await self.s.discharge(request)

    async def UndoDischarge(self, request, context):
        return await self.s.undo_discharge(request)

    async def UploadFees(self, request, context):
        return await self.s.upload_fees(request)

    async def CancelFees(self, request, context):
        return await self.s.cancel_fees(request)

    async def PreSettle(self, request, context):
        return await self.s.pre_settle(request)

    async def Settle(self, request, context):
        return await self.s.settle(request)

    async def CancelSettlement(self, request, context):
        return await self.s.cancel_settlement(request)

    async def Reverse(self, request, context):
        return await self.s.reverse(request)

    async def GetSettlement(self, request, context):
        return await self.s.get_settlement(request)

    async def GetAccumulators(self, request, context):
        return await self.s.get_accumulators(request)

    async def ReconcileTotals(self, request, context):
        return await self.s.reconcile_totals(request)

    async def ReconcileDetail(self, request, context):
        return await self.s.reconcile_detail(request)

    async def ApplyClearing(self, request, context):
        return await self.s.apply_clearing(request)

    async def RunClearing(self, request, context):
        return await self.s.run_clearing(request)


def register(server: aio.Server, service: SettlementService) -> None:
    settlement_pb2_grpc.add_SettlementServiceServicer_to_server(SettlementServicer(service), server)
