"""gRPC servicer of the settlement service: the only code here that knows protobuf.

Each RPC translates its request into domain types, calls its use case (through the
SettlementService facade, service.py) and translates the answer back. A mutating call hands the
journal a JournalRequest with the digest of the whole request and this edge's encoder of its
reply: the journal stores the serialized reply, and a retry gets those bytes back (`Replayed`),
decoded here and marked `replayed`. Refusals are `Refusal` exceptions that the RefusalInterceptor
(services/common/grpcutil.py) turns into gRPC errors with the outcome and field.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

from grpc import aio

from medsettle.settlement.v1 import settlement_pb2 as pb
from medsettle.settlement.v1 import settlement_pb2_grpc
from services.common.journal import JournalRequest, Replayed
from services.settlement.alerts import AlertView
from services.settlement.audits import AuditItem, AuditOrder
from services.settlement.domain import (
    CST,
    AccumulatorReport,
    ClearingApplicationOrder,
    ClearingRun,
    DeclaredSplit,
    DetailReport,
    DetailRow,
    DetailStatement,
    Diagnosis,
    DischargeOrder,
    FeeCancellation,
    FeeInput,
    FeeLine,
    FeeUpload,
    Registration,
    ReversalOrder,
    ReversalReply,
    SettlementCancellation,
    SettlementLookup,
    SettlementReply,
    SettleOrder,
    TotalsStatement,
    Visit,
    VisitRef,
    fmt_time,
)
from services.settlement.fees import UploadedFees
from services.settlement.operations import SettlementFilter, beijing
from services.settlement.service import SettlementService

SERVICE_FULL_NAME = pb.DESCRIPTOR.services_by_name["SettlementService"].full_name


def digest_of(request) -> bytes:
    """sha256 of the deterministic serialization of the whole request (caller included): a
    retry must carry the same content to get the stored reply."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


# ----------------------------------------------------------------------------- protobuf -> domain

@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _from(cls: type, msg: Any, **given: Any) -> Any:
    """A domain request from the message's fields of the same names (`given` for the others)."""
    return cls(**{n: getattr(msg, n) for n in _names(cls) if n not in given}, **given)


def _to(cls: type, obj: Any, **given: Any) -> Any:
    """A message from the domain object's fields of the same names (`given` for the others)."""
    source: type = type(obj)
    return cls(**{n: getattr(obj, n) for n in _names(source) if n not in given}, **given)


def _settle_order(r: pb.SettleRequest) -> SettleOrder:
    declared = DeclaredSplit(r.fulamt_ownpay_amt_fen, r.overlmt_selfpay_fen, r.preselfpay_amt_fen,
                             r.inscp_scp_amt_fen) if r.has_declared_split else None
    return SettleOrder(mdtrt_id=r.mdtrt_id, psn_no=r.psn_no, insutype=r.insutype, med_type=r.med_type,
                       medfee_sumamt_fen=r.medfee_sumamt_fen, acct_used_flag=r.acct_used_flag,
                       mid_setl_flag=r.mid_setl_flag, declared=declared, mdtrt_cert_type=r.mdtrt_cert_type,
                       mdtrt_cert_no=r.mdtrt_cert_no, card_sn=r.card_sn, psn_setlway=r.psn_setlway)


# ----------------------------------------------------------------------------- domain -> protobuf

def visit_pb(v: Visit) -> pb.Visit:
    return pb.Visit(
        mdtrt_id=v.mdtrt_id, psn_no=v.psn_no, insutype=v.insutype, fixmedins_code=v.fixmedins_code, kind=v.kind,
        med_type=v.med_type, begntime=fmt_time(v.begntime), endtime=fmt_time(v.endtime), status=v.status,
        ipt_otp_no=v.ipt_otp_no, dise_codg=v.dise_codg, dise_name=v.dise_name, emergency=v.emergency,
        insured_pool=v.insured_pool)


def findings_pb(findings) -> list[pb.Finding]:
    return [pb.Finding(rule_code=f.rule_code, rule_name=f.rule_name, kind=f.kind, severity=f.severity, message=f.message,
                       feedetl_sn=f.feedetl_sn, amount_fen=f.amount_fen, evidence=dict(f.evidence), action=action)
            for f, action in findings]


def fees_pb(out: tuple[FeeLine, ...] | UploadedFees) -> pb.UploadFeesResponse:
    if isinstance(out, UploadedFees):
        reply = fees_pb(out.lines)
        reply.findings.extend(findings_pb(out.findings))
        return reply
    lines = out
    return pb.UploadFeesResponse(result=[pb.FeeResult(
        feedetl_sn=f.feedetl_sn, det_item_fee_sumamt_fen=f.det_item_fee_sumamt_fen, cnt=str(f.cnt),
        pric_fen=f.pric_fen, pric_uplmt_amt_fen=f.pric_uplmt_amt_fen or 0, selfpay_prop=str(f.selfpay_prop),
        fulamt_ownpay_amt_fen=f.fulamt_ownpay_fen, overlmt_amt_fen=f.overlmt_fen, preselfpay_amt_fen=f.preselfpay_fen,
        inscp_scp_amt_fen=f.inscp_fen, chrgitm_lv=f.chrgitm_lv, med_list_codg=f.med_list_codg) for f in lines])


def settlement_pb(reply: SettlementReply) -> pb.SettleResponse:
    s = reply.settlement
    info = pb.SetlInfo(
        mdtrt_id=s.mdtrt_id, setl_id=s.setl_id, psn_no=s.psn_no, psn_name=s.psn_name, insutype=s.insutype,
        psn_type=s.psn_type, setl_time=fmt_time(s.setl_time.astimezone(CST)) if s.setl_id else "",
        med_type=s.med_type, medfee_sumamt_fen=s.medfee_sumamt, fulamt_ownpay_amt_fen=s.fulamt_ownpay_amt,
        overlmt_selfpay_fen=s.overlmt_selfpay, preselfpay_amt_fen=s.preselfpay_amt,
        inscp_scp_amt_fen=s.inscp_scp_amt, act_pay_dedc_fen=s.act_pay_dedc, hifp_pay_fen=s.hifp_pay,
        pool_prop_selfpay=str(s.ratio), cvlserv_pay_fen=s.cvlserv_pay, hifes_pay_fen=s.hifes_pay,
        hifmi_pay_fen=s.hifmi_pay, hifob_pay_fen=s.hifob_pay, maf_pay_fen=s.maf_pay, oth_pay_fen=s.oth_pay,
        fund_pay_sumamt_fen=s.fund_pay_sumamt, psn_part_amt_fen=s.psn_part_amt, acct_pay_fen=s.acct_pay,
        psn_cash_pay_fen=s.psn_cash_pay, hosp_part_amt_fen=s.hosp_part_amt, balc_fen=s.balc_fen,
        clr_optins=s.insured_pool, clr_way=s.clr_way, clr_type=s.clr_type, region_class=s.region_class,
        filing_group=s.filing_group, fixmedins_code=s.fixmedins_code, status=s.status,
        reverses_setl_id=s.reverses_setl_id or "", msgid=s.msgid)
    out = pb.SettleResponse(setlinfo=info)
    if (p := reply.person) is not None:
        out.person.CopyFrom(pb.SettlePerson(certno=p.certno, gend=p.gend, brdy=p.brdy, age=p.age, cvlserv=p.cvlserv))
    for f in reply.funds:
        out.setldetail.add(fund_pay_type=f.fund_pay_type, fund_pay_type_name=f.fund_pay_type_name,
                           inscp_scp_amt_fen=f.inscp_scp_amt_fen, crt_payb_lmt_amt_fen=f.crt_payb_lmt_amt_fen or 0,
                           fund_payamt_fen=f.fund_payamt_fen, setl_proc_info=f.setl_proc_info)
    for e in s.result.explanation:
        out.explanation.add(code=e.code, label=e.label, text=e.text)
    if reply.findings:
        out.findings.extend(findings_pb(reply.findings))
    return out


def alert_pb(a: AlertView) -> pb.Alert:
    return pb.Alert(alert_id=a.alert_id, pattern=a.pattern, rule_code=a.rule_code, severity=a.severity,
                    status=a.status, psn_no=a.psn_no, fixmedins_code=a.fixmedins_code, setl_ids=list(a.setl_ids),
                    summary=a.summary, evidence_json=a.evidence_json, reviewer=a.reviewer, note=a.note,
                    created_at=fmt_time(a.created_at.astimezone(CST)),
                    reviewed_at=fmt_time(a.reviewed_at.astimezone(CST)) if a.reviewed_at else "",
                    amount_fen=a.amount_fen)


def reversal_pb(r: ReversalReply) -> pb.ReverseResponse:
    out = pb.ReverseResponse(oinfno=r.oinfno, omsgid=r.omsgid, result=r.result)
    if r.settlement is not None:
        out.settlement.CopyFrom(settlement_pb(r.settlement))
    return out


def accumulators_pb(r: AccumulatorReport) -> pb.AccumulatorsResponse:
    return pb.AccumulatorsResponse(psn_no=r.psn_no, insutype=r.insutype, year=r.year,
                                   accumulators=[_to(pb.Accumulator, a) for a in r.accumulators],
                                   account_balance_fen=r.account_balance_fen)


def detail_pb(r: DetailReport) -> pb.ReconcileDetailResponse:
    return pb.ReconcileDetailResponse(results=[_to(pb.DetailResult, x) for x in r.results], agreed=r.agreed,
                                      disagreed=r.disagreed)


def clearing_run_pb(run: ClearingRun) -> pb.ClearingRun:
    return pb.ClearingRun(run_id=run.run_id, setlym=run.setlym, replayed=run.replayed,
                          created_at=run.created_at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
                          statements=[_to(pb.ClearingStatement, s) for s in run.statements],
                          positions=[_to(pb.NetPosition, p) for p in run.positions])


# ----------------------------------------------------------------------------- the journal's side of the wire

class _Wire:
    """The encoder one mutating call hands the journal. It keeps the message it built, so the
    reply that was stored goes back without being built twice; a replayed reply is decoded
    from the stored bytes and marked."""

    __slots__ = ("_to_pb", "_reply", "_message")

    def __init__(self, to_pb: Callable[[Any], Any]) -> None:
        self._to_pb = to_pb
        self._reply: Any = None
        self._message: Any = None

    def __call__(self, reply: Any) -> bytes:
        self._reply, self._message = reply, self._to_pb(reply)
        return self._message.SerializeToString()

    def request(self, req: Any) -> JournalRequest:
        c = req.caller
        return JournalRequest(hospital=c.fixmedins_code.strip(), msgid=c.msgid.strip(), infno=c.infno.strip(),
                              digest=digest_of(req), encode=self)

    def answer(self, out: Any, reply_cls: type[Any]) -> Any:  # a generated message class
        if isinstance(out, Replayed):
            msg = reply_cls.FromString(out.reply)
            msg.replayed = True
            if reply_cls is pb.ReverseResponse and msg.HasField("settlement"):
                msg.settlement.replayed = True  # the gateway shows the reversal's settlement
            return msg
        return self._message if out is self._reply else self._to_pb(out)


class SettlementServicer(settlement_pb2_grpc.SettlementServiceServicer):
    def __init__(self, service: SettlementService) -> None:
        self.s = service

    async def Register(self, request, context):
        w = _Wire(visit_pb)
        return w.answer(await self.s.visits.register(w.request(request), _from(Registration, request)), pb.Visit)

    async def CancelVisit(self, request, context):
        w = _Wire(visit_pb)
        return w.answer(await self.s.visits.cancel_visit(w.request(request), _from(VisitRef, request)), pb.Visit)

    async def RecordDiagnosis(self, request, context):
        w = _Wire(visit_pb)
        return w.answer(await self.s.visits.record_diagnosis(w.request(request), _from(Diagnosis, request)), pb.Visit)

    async def Discharge(self, request, context):
        w = _Wire(visit_pb)
        return w.answer(await self.s.visits.discharge(w.request(request), _from(DischargeOrder, request)), pb.Visit)

    async def UndoDischarge(self, request, context):
        w = _Wire(visit_pb)
        return w.answer(await self.s.visits.undo_discharge(w.request(request), _from(VisitRef, request)), pb.Visit)

    async def UploadFees(self, request, context):
        w = _Wire(fees_pb)
        up = _from(FeeUpload, request, feedetail=tuple(_from(FeeInput, f) for f in request.feedetail))
        return w.answer(await self.s.fees.upload_fees(w.request(request), up), pb.UploadFeesResponse)

    async def CancelFees(self, request, context):
        w = _Wire(fees_pb)
        return w.answer(await self.s.fees.cancel_fees(w.request(request), _from(FeeCancellation, request)),
                        pb.UploadFeesResponse)

    async def PreSettle(self, request, context):
        reply = await self.s.settlements.pre_settle(request.caller.fixmedins_code.strip(), request.caller.msgid,
                                                    _settle_order(request))
        return settlement_pb(reply)

    async def Settle(self, request, context):
        w = _Wire(settlement_pb)
        return w.answer(await self.s.settlements.settle(w.request(request), _settle_order(request)), pb.SettleResponse)

    async def CancelSettlement(self, request, context):
        w = _Wire(settlement_pb)
        out = await self.s.reversals.cancel_settlement(w.request(request), _from(SettlementCancellation, request))
        return w.answer(out, pb.SettleResponse)

    async def Reverse(self, request, context):
        w = _Wire(reversal_pb)
        return w.answer(await self.s.reversals.reverse(w.request(request), _from(ReversalOrder, request)),
                        pb.ReverseResponse)

    async def GetSettlement(self, request, context):
        return settlement_pb(await self.s.queries.get_settlement(_from(SettlementLookup, request)))

    async def ListPersonSettlements(self, request, context):
        replies = await self.s.queries.person_settlements(request.psn_no.strip(), request.year, request.limit)
        return pb.ListPersonSettlementsResponse(settlements=[settlement_pb(r) for r in replies])

    async def GetAccumulators(self, request, context):
        return accumulators_pb(await self.s.queries.get_accumulators(request.psn_no, request.insutype, request.year,
                                                                     request.hospital.strip()))

    async def ReconcileTotals(self, request, context):
        report = await self.s.reconciliation.reconcile_totals(request.caller.fixmedins_code.strip(),
                                                              _from(TotalsStatement, request))
        return _to(pb.ReconcileTotalsResponse, report)

    async def ReconcileDetail(self, request, context):
        statement = _from(DetailStatement, request, rows=tuple(_from(DetailRow, r) for r in request.rows))
        return detail_pb(await self.s.reconciliation.reconcile_detail(request.caller.fixmedins_code.strip(), statement))

    async def ApplyClearing(self, request, context):
        w = _Wire(lambda a: _to(pb.ApplyClearingResponse, a))
        return w.answer(await self.s.clearing.apply_clearing(w.request(request), _from(ClearingApplicationOrder, request)),
                        pb.ApplyClearingResponse)

    async def RunClearing(self, request, context):
        return clearing_run_pb(await self.s.clearing.run_clearing(request.setlym))

    async def Audit(self, request, context):
        order = AuditOrder(stage=request.stage.strip(), psn_no=request.psn_no.strip(), mdtrt_id=request.mdtrt_id.strip(),
                           items=tuple(AuditItem(i.rx_id, i.med_list_codg, i.cnt, i.amount_fen, i.day)
                                       for i in request.items),
                           diagnoses=tuple(request.diagnoses), gend=request.gend, brdy=request.brdy,
                           insutype=request.insutype, begin=request.begin, kind=request.kind)
        r = await self.s.audits.audit(request.caller.fixmedins_code.strip(), order)
        return pb.AuditResponse(findings=findings_pb(r.findings), rules_evaluated=r.rules_evaluated,
                                failed_rules=list(r.failed_rules))

    async def ListAlerts(self, request, context):
        alerts = await self.s.alerts.list(status=request.status, pattern=request.pattern, psn_no=request.psn_no,
                                          hospital=request.fixmedins_code, limit=request.limit)
        return pb.ListAlertsResponse(alerts=[alert_pb(a) for a in alerts])

    async def GetAlert(self, request, context):
        return alert_pb(await self.s.alerts.get(request.alert_id.strip()))

    async def ReviewAlert(self, request, context):
        return alert_pb(await self.s.alerts.review(request.alert_id.strip(), request.status.strip(), request.reviewer,
                                                   request.note))


    # ------------------------------------------------------------------------- operators (the console)

    async def ListSettlements(self, request, context):
        rows = await self.s.operations.settlements(_from(SettlementFilter, request))
        return pb.ListSettlementsResponse(settlements=[settlement_pb(SettlementReply(r, ())).setlinfo for r in rows])

    async def GetSettlementStory(self, request, context):
        story = await self.s.operations.story(request.fixmedins_code, request.msgid, request.setl_id)
        out = pb.SettlementStory(settlement=settlement_pb(story.settlement), found_by=story.found_by,
                                 fees=fees_pb(story.fees).result,
                                 ledger=[_to(pb.LedgerLine, x) for x in story.ledger],
                                 journal=[pb.JournalLine(msgid=j.msgid, infno=j.infno, effect=j.effect,
                                                         setl_id=j.setl_id, created_at=beijing(j.created_at),
                                                         reversed_by=j.reversed_by) for j in story.journal])
        if story.reply:
            out.reply.ParseFromString(story.reply)
        if story.visit is not None:
            out.visit.CopyFrom(visit_pb(story.visit))
        if story.reversal is not None:
            out.reversal.CopyFrom(settlement_pb(story.reversal))
        return out

    async def DailyTotals(self, request, context):
        days, apps = await self.s.operations.daily_totals(request.fixmedins_code, request.date_from, request.date_to)
        return pb.DailyTotalsResponse(
            days=[_to(pb.DailyTotal, d, setl_date=d.setl_date.isoformat()) for d in days],
            applications=[_to(pb.ClearingApplicationRow, a, created_at=beijing(a.created_at)) for a in apps])

    async def ListClearingRuns(self, request, context):
        return pb.ListClearingRunsResponse(runs=[clearing_run_pb(r) for r in
                                                 await self.s.operations.clearing_runs(request.limit)])


def register(server: aio.Server, service: SettlementService) -> None:
    settlement_pb2_grpc.add_SettlementServiceServicer_to_server(SettlementServicer(service), server)
