"""Visits (就诊): 2201/2401 registration, 2202/2404 cancellation, 2203 diagnosis, 2402 discharge,
2405 undo of a discharge. Each is journaled (exactly once per msgid) and keeps in the journal
what 2601 needs to undo it (reversal.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from services.common.grpcutil import invalid, refused
from services.common.journal import Journal, JournalRequest, Replayed, require_key
from services.settlement import checks
from services.settlement.codec import snapshot_to_json
from services.settlement.domain import (
    INPATIENT_MED_TYPES,
    CertificateClaim,
    Diagnosis,
    DischargeOrder,
    Effect,
    JournalNote,
    Registration,
    Visit,
    VisitRef,
    fmt_time,
    new_id,
    parse_time,
)
from services.settlement.ports import EligibilityService, Now, Reference
from services.settlement.repository import SettlementRepository

Change = Callable[[Visit], dict]  # the visit's new field values; raises the call's refusals
Guard = Callable[[SettlementRepository, Visit], Awaitable[None]]


class Visits:
    def __init__(self, journal: Journal[SettlementRepository], refs: Reference, eligibility: EligibilityService,
                 clock: Now) -> None:
        self.journal = journal
        self.refs = refs
        self.eligibility = eligibility
        self.clock = clock

    async def register(self, request: JournalRequest, r: Registration) -> Visit | Replayed:
        kind = r.kind or "outpatient"
        if kind not in ("outpatient", "inpatient"):
            raise invalid("BAD_KIND", "kind 应为 outpatient 或 inpatient。 / kind must be outpatient or inpatient.", "kind")
        if not r.psn_no:
            raise invalid("FIELD_REQUIRED", "缺少人员编号 psn_no。 / psn_no is required.", "psn_no")
        if r.insutype not in ("310", "390"):
            raise invalid("BAD_INSUTYPE", f"险种 insutype 应为 310 或 390，收到 {r.insutype!r}。 / insutype must be "
                          "310 or 390.", "insutype")
        if kind == "inpatient" and r.med_type not in INPATIENT_MED_TYPES:
            raise invalid("BAD_MED_TYPE", f"住院登记的医疗类别应为 21–24 或 28，收到 {r.med_type!r}。 / An admission "
                          "needs med_type 21–24 or 28.", "med_type")
        begntime = parse_time(r.begntime, "begntime")
        require_key(request)
        checks.hospital(self.refs, request.hospital)
        cert = CertificateClaim(r.mdtrt_cert_type, r.mdtrt_cert_no, r.card_sn, request.hospital,
                                f"reg:{request.hospital}:{request.msgid}") if r.mdtrt_cert_type else None
        snap = await self.eligibility.snapshot(r.psn_no, r.insutype, begntime.date(), cert)
        checks.require_eligible(snap)
        # Kept with the visit: 2207/2304 settle on it (settle.py), the booking checks its version.
        kept = snapshot_to_json(snap, begntime.date(),
                                (r.mdtrt_cert_type, r.mdtrt_cert_no, r.card_sn) if r.mdtrt_cert_type else None)

        async def work(repo: SettlementRepository):
            v = await repo.insert_visit(Visit(
                mdtrt_id=new_id("M", self.clock()), fixmedins_code=request.hospital, psn_no=r.psn_no,
                insutype=r.insutype, insured_pool=snap.insured_pool, kind=kind, med_type=r.med_type,
                begntime=begntime, endtime=None, status="open", ipt_otp_no=r.ipt_otp_no, dise_codg=r.dise_codg,
                dise_name=r.dise_name, dept_code=r.dept_code, dept_name=r.dept_name, atddr_no=r.atddr_no,
                dr_name=r.dr_name, mdtrt_cert_type=r.mdtrt_cert_type, mdtrt_cert_no=r.mdtrt_cert_no,
                emergency=r.emergency, snapshot=kept))
            return v, JournalNote(mdtrt_id=v.mdtrt_id)

        return await self.journal.run(request, Effect.REGISTER, work)

    async def _change(self, request: JournalRequest, ref: VisitRef | Diagnosis | DischargeOrder, effect: Effect,
                      change: Change, guard: Guard | None = None) -> Visit | Replayed:
        """Lock the visit, apply `change`, write it; the journal keeps what 2601 restores."""

        async def work(repo: SettlementRepository):
            v = checks.own_visit(await repo.visit(ref.mdtrt_id, for_update=True), request.hospital, ref.mdtrt_id,
                                 ref.psn_no)
            undo = {"status": v.status, "endtime": fmt_time(v.endtime), "dscg_way": v.dscg_way}
            fields = change(v)
            if guard is not None:  # checks that need the database, after change()'s own refusals
                await guard(repo, v)
            new = await repo.update_visit(dataclasses.replace(v, **fields))
            return new, JournalNote(mdtrt_id=v.mdtrt_id, undo=undo)

        return await self.journal.run(request, effect, work)

    async def cancel_visit(self, request: JournalRequest, ref: VisitRef) -> Visit | Replayed:
        def change(v: Visit) -> dict:
            if v.status == "settled":
                raise refused("VISIT_SETTLED", f"就诊 {v.mdtrt_id} 已结算，请先撤销结算 (2208/2305) 再撤销登记。 / "
                              "The visit is settled; cancel the settlement first (2208/2305).", "mdtrt_id")
            if v.status == "cancelled":
                raise refused("ALREADY_CANCELLED", f"就诊 {v.mdtrt_id} 已撤销。 / The visit is already cancelled.",
                              "mdtrt_id")
            return {"status": "cancelled"}
        return await self._change(request, ref, Effect.CANCEL_VISIT, change, guard=checks.refuse_if_interim_settled)

    async def record_diagnosis(self, request: JournalRequest, d: Diagnosis) -> Visit | Replayed:
        def change(v: Visit) -> dict:
            checks.require_open(v)
            out = {"dise_codg": d.dise_codg or v.dise_codg, "dise_name": d.dise_name or v.dise_name,
                   "med_type": d.med_type or v.med_type, "emergency": d.emergency or v.emergency}
            if d.begntime:
                out["begntime"] = parse_time(d.begntime, "begntime")
            if v.kind == "outpatient" and out["med_type"] in INPATIENT_MED_TYPES:
                raise invalid("BAD_MED_TYPE", "门诊就诊不能使用住院医疗类别。 / An outpatient visit cannot use an "
                              "inpatient med_type.", "med_type")
            return out
        return await self._change(request, d, Effect.DIAGNOSIS, change)

    async def discharge(self, request: JournalRequest, d: DischargeOrder) -> Visit | Replayed:
        endtime = parse_time(d.endtime, "endtime")

        def change(v: Visit) -> dict:
            if v.kind != "inpatient":
                raise refused("NOT_INPATIENT", "门诊就诊无需办理出院。 / Only an admission can be discharged.", "mdtrt_id")
            if v.status == "discharged":
                raise refused("ALREADY_DISCHARGED", f"就诊 {v.mdtrt_id} 已办理出院。 / Already discharged.", "mdtrt_id")
            checks.require_open(v)
            if endtime < v.begntime:
                raise invalid("BAD_TIME", "出院时间早于入院时间。 / endtime is before the admission.", "endtime")
            return {"status": "discharged", "endtime": endtime, "dise_codg": d.dise_codg or v.dise_codg,
                    "dscg_way": d.dscg_way}
        return await self._change(request, d, Effect.DISCHARGE, change)

    async def undo_discharge(self, request: JournalRequest, ref: VisitRef) -> Visit | Replayed:
        def change(v: Visit) -> dict:
            if v.status != "discharged":
                raise refused("NOT_DISCHARGED", f"就诊 {v.mdtrt_id} 状态为 {v.status}，不能撤销出院"
                              "（已结算的请先撤销结算）。 / The visit is not discharged (cancel its settlement first "
                              "if settled).", "mdtrt_id")
            return {"status": "open", "endtime": None, "dscg_way": ""}
        return await self._change(request, ref, Effect.UNDO_DISCHARGE, change)
