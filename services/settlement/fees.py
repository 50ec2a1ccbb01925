"""Fee details (费用明细): 2204/2301 upload, split by the treatment place's catalogue at upload
(services.engine.split_items), and 2205/2302 cancellation. Journaled; the journal keeps the
lines an upload replaced and the lines a cancellation removed, for 2601 to put back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from services.common.grpcutil import invalid, not_found, refused
from services.common.journal import Journal, JournalRequest, Replayed
from services.engine import SettlementRefused, split_items
from services.engine.model import FeeItem
from services.settlement import checks
from services.settlement.audits import Audits
from services.settlement.domain import Effect, FeeCancellation, FeeLine, FeeUpload, JournalNote
from services.settlement.ports import Reference
from services.settlement.repository import SettlementRepository
from services.supervision.model import Finding


@dataclass(frozen=True, slots=True)
class UploadedFees:
    """An upload's lines and what the 3101 item rules found on the visit's unsettled fees."""

    lines: tuple[FeeLine, ...]
    findings: tuple[tuple[Finding, str], ...] = ()


class Fees:
    def __init__(self, journal: Journal[SettlementRepository], refs: Reference, audits: Audits | None = None) -> None:
        self.journal = journal
        self.refs = refs
        self.audits = audits

    async def upload_fees(self, request: JournalRequest, up: FeeUpload) -> tuple[FeeLine, ...] | UploadedFees | Replayed:
        """The lines as stored, with their catalogue split, in the order sent, and (3101) the
        findings of the item rules on the visit's unsettled fees, checked after the upload
        committed (a replayed upload answers the stored lines only: 3101 gives the findings any time)."""
        out = await self._upload(request, up)
        if isinstance(out, Replayed) or self.audits is None:
            return out
        findings = await self.audits.check_upload(up.mdtrt_id)
        return UploadedFees(out, findings) if findings else out

    async def _upload(self, request: JournalRequest, up: FeeUpload) -> tuple[FeeLine, ...] | Replayed:
        if not up.feedetail:
            raise invalid("FIELD_REQUIRED", "费用明细 feedetail 为空。 / feedetail is empty.", "feedetail")
        items, seen = [], set()
        for i, f in enumerate(up.feedetail):
            if not f.feedetl_sn:
                raise invalid("FIELD_REQUIRED", f"第 {i + 1} 条费用明细缺少 feedetl_sn。 / feedetl_sn is required.",
                              f"feedetail[{i}].feedetl_sn")
            if f.feedetl_sn in seen:
                raise invalid("DUPLICATE_FEE", f"费用明细流水号 {f.feedetl_sn} 重复。 / Duplicate feedetl_sn.",
                              f"feedetail[{i}].feedetl_sn")
            seen.add(f.feedetl_sn)
            if not f.med_list_codg:
                raise invalid("FIELD_REQUIRED", f"费用明细 {f.feedetl_sn} 缺少医保目录编码 med_list_codg。 / "
                              "med_list_codg is required.", f"feedetail[{i}].med_list_codg")
            try:
                cnt = Decimal(f.cnt)
            except InvalidOperation:
                raise invalid("BAD_NUMBER", f"费用明细 {f.feedetl_sn} 数量 cnt {f.cnt!r} 不是数字。 / cnt is not a "
                              "number.", f"feedetail[{i}].cnt") from None
            items.append(FeeItem(f.feedetl_sn, f.med_list_codg, cnt, f.pric_fen, f.det_item_fee_sumamt_fen, f.name))
        hospital = checks.hospital(self.refs, request.hospital)

        async def work(repo: SettlementRepository):
            v = checks.own_visit(await repo.visit(up.mdtrt_id, for_update=True), request.hospital, up.mdtrt_id,
                                 up.psn_no)
            checks.require_open(v, allow_discharged=v.kind == "inpatient")
            _, catalogue = checks.catalogue_for(self.refs, hospital, v.insutype)
            try:
                split = split_items(tuple(items), catalogue)
            except SettlementRefused as e:
                raise checks.engine_refusal(e) from None
            existing = {f.feedetl_sn: f for f in await repo.fees_of_visit(v.mdtrt_id)}
            for i, f in enumerate(up.feedetail):
                old = existing.get(f.feedetl_sn)
                if old is not None and old.setl_id is not None:
                    raise refused("FEE_SETTLED", f"费用明细 {f.feedetl_sn} 已结算，不能重复上传。 / Fee "
                                  f"{f.feedetl_sn} is already settled.", f"feedetail[{i}].feedetl_sn")
            seq = await repo.next_fee_seq(v.mdtrt_id)
            lines = tuple(FeeLine(
                mdtrt_id=v.mdtrt_id, feedetl_sn=f.feedetl_sn, chrg_bchno=f.chrg_bchno, fee_ocur_time=f.fee_ocur_time,
                med_list_codg=f.med_list_codg, medins_list_codg=f.medins_list_codg, name=f.name, cnt=s.cnt,
                pric_fen=s.pric_fen, det_item_fee_sumamt_fen=s.amount_fen, chrgitm_lv=s.chrgitm_lv,
                selfpay_prop=s.selfpay_prop, pric_uplmt_amt_fen=s.price_cap_fen, fulamt_ownpay_fen=s.fulamt_ownpay_fen,
                overlmt_fen=s.overlmt_fen, preselfpay_fen=s.preselfpay_fen, inscp_fen=s.inscp_fen, seq=seq + k)
                for k, (f, s) in enumerate(zip(up.feedetail, split, strict=True)))
            await repo.upsert_fees(lines)
            replaced = [existing[f.feedetl_sn].undo_json() for f in lines if f.feedetl_sn in existing]
            return lines, JournalNote(mdtrt_id=v.mdtrt_id,
                                      undo={"sns": [f.feedetl_sn for f in lines], "replaced": replaced})

        return await self.journal.run(request, Effect.UPLOAD_FEES, work)

    async def cancel_fees(self, request: JournalRequest, c: FeeCancellation) -> tuple[FeeLine, ...] | Replayed:
        """The lines removed."""

        async def work(repo: SettlementRepository):
            v = checks.own_visit(await repo.visit(c.mdtrt_id, for_update=True), request.hospital, c.mdtrt_id, c.psn_no)
            fees = await repo.fees_of_visit(v.mdtrt_id)
            if c.feedetl_sn in ("", "0000"):
                chosen = tuple(f for f in fees if f.setl_id is None and (not c.chrg_bchno or f.chrg_bchno == c.chrg_bchno))
            else:
                chosen = tuple(f for f in fees if f.feedetl_sn == c.feedetl_sn)
                if not chosen:
                    raise not_found("FEE_NOT_FOUND", f"费用明细 {c.feedetl_sn} 不存在。 / Fee {c.feedetl_sn} not "
                                    "found.", "feedetl_sn")
                if chosen[0].setl_id is not None:
                    raise refused("FEE_SETTLED", f"费用明细 {c.feedetl_sn} 已结算，请先撤销结算 (2208/2305)。 / The "
                                  "fee is settled; cancel the settlement first.", "feedetl_sn")
            await repo.delete_fees(v.mdtrt_id, [f.feedetl_sn for f in chosen])
            return chosen, JournalNote(mdtrt_id=v.mdtrt_id, undo={"removed": [f.undo_json() for f in chosen]})

        return await self.journal.run(request, Effect.CANCEL_FEES, work)
