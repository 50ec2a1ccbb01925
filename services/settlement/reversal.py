"""Undoing what was done: 2208/2305 cancel a settlement, 2601 reverses a transaction by its msgid.

A settlement is never deleted: its cancellation books a reversal (冲销), a new settlement row
with negated amounts that points at the original (services.engine.reverse on the original's
stored result), gives its accumulator deltas back, releases its fees and reopens the visit.

2601 undoes a journaled call by what the journal says it did: UNDO maps each Effect to its undo
handler; an effect that is not in it (a diagnosis, a clearing application) cannot be reversed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from services.common.grpcutil import invalid, not_found, refused
from services.common.journal import Journal, JournalRequest, Replayed, require_key
from services.engine import SettlementRefused
from services.engine import reverse as engine_reverse
from services.settlement import checks
from services.settlement.domain import (
    CST,
    Effect,
    FeeLine,
    JournalNote,
    ReversalOrder,
    ReversalReply,
    SettlementCancellation,
    SettlementReply,
    Transaction,
    Visit,
    account_balance,
    amounts_of,
    new_id,
    parse_time,
)
from services.settlement.ports import Now
from services.settlement.repository import SettlementRepository
from services.settlement.settle import count_booked


class Reversals:
    def __init__(self, journal: Journal[SettlementRepository], clock: Now) -> None:
        self.journal = journal
        self.clock = clock

    async def cancel_settlement(self, request: JournalRequest, c: SettlementCancellation) -> SettlementReply | Replayed:
        """2208/2305: book the reversal of a settlement in force."""
        require_key(request)

        async def work(repo: SettlementRepository):
            reply = await self.reverse_settlement(repo, request.hospital, request.msgid, c.setl_id, c.mdtrt_id,
                                                  c.psn_no)
            s = reply.settlement
            return reply, JournalNote(setl_id=s.setl_id, mdtrt_id=s.mdtrt_id, undo={"original": c.setl_id})

        out = await self.journal.run(request, Effect.CANCEL_SETTLEMENT, work)
        if isinstance(out, SettlementReply):
            count_booked("reversal", out)
        return out

    async def reverse(self, request: JournalRequest, r: ReversalOrder) -> ReversalReply | Replayed:
        """2601: undo the transaction sent with omsgid, by what it did."""
        require_key(request)
        if not r.omsgid:
            raise invalid("FIELD_REQUIRED", "缺少原报文 ID omsgid。 / omsgid is required.", "omsgid")

        async def work(repo: SettlementRepository):
            orig = await repo.journal_entry(request.hospital, r.omsgid, for_update=True)
            if orig is None:
                raise not_found("ORIGINAL_NOT_FOUND", f"本机构没有报文 ID 为 {r.omsgid} 的交易。 / No transaction "
                                f"with msgid {r.omsgid} from this hospital.", "omsgid")
            if r.oinfno and r.oinfno != orig.infno:
                raise invalid("OINFNO_MISMATCH", f"原交易 {r.omsgid} 的交易编号是 {orig.infno}，不是 {r.oinfno}。"
                              f" / The original transaction was {orig.infno}, not {r.oinfno}.", "oinfno")
            if r.psn_no and orig.psn_no and r.psn_no != orig.psn_no:
                raise invalid("PSN_MISMATCH", "人员编号与原交易不符。 / psn_no does not match the original.", "psn_no")
            if orig.reversed_by:
                raise refused("ALREADY_REVERSED", f"原交易 {r.omsgid} 已被 {orig.reversed_by} 冲正。 / Already "
                              "reversed.", "omsgid")
            undo = UNDO.get(orig.effect)
            if undo is None:
                raise refused("NOT_REVERSIBLE", f"交易 {orig.infno} 不能通过 2601 冲正。 / Transaction "
                              f"{orig.infno} cannot be reversed with 2601.", "oinfno")
            text, settlement = await undo(self, repo, orig, request.hospital, request.msgid)
            await repo.mark_reversed(request.hospital, r.omsgid, request.msgid)
            reply = ReversalReply(oinfno=orig.infno, omsgid=r.omsgid, result=text, settlement=settlement)
            return reply, JournalNote(mdtrt_id=orig.mdtrt_id,
                                      setl_id=settlement.settlement.setl_id if settlement is not None else "")

        out = await self.journal.run(request, Effect.REVERSE, work)
        if isinstance(out, ReversalReply) and out.settlement is not None:
            count_booked("reversal", out.settlement)
        return out

    async def reverse_settlement(self, repo: SettlementRepository, code: str, msgid: str, setl_id: str,
                                 mdtrt_id: str = "", psn_no: str = "") -> SettlementReply:
        """Book the reversal of `setl_id` inside the caller's transaction."""
        orig = await repo.settlement(setl_id)
        if orig is None or orig.fixmedins_code != code:  # another hospital's: as an unknown id
            raise checks.settlement_not_found(setl_id)
        if mdtrt_id and orig.mdtrt_id != mdtrt_id:
            raise invalid("MDTRT_MISMATCH", f"就诊 {mdtrt_id} 与结算 {setl_id} 不符。 / mdtrt_id does not match the "
                          "settlement.", "mdtrt_id")
        if psn_no and orig.psn_no != psn_no:
            raise invalid("PSN_MISMATCH", f"人员编号与结算 {setl_id} 不符。 / psn_no does not match the settlement.",
                          "psn_no")
        if orig.status == "reversal":
            raise refused("REVERSAL_OF_REVERSAL", f"{setl_id} 本身是冲销记录，不能再次冲销。 / {setl_id} is itself a "
                          "reversal and cannot be reversed.", "setl_id")
        # The reversal carries its original's setlym; when a clearing run has frozen that month,
        # the booking's trigger (migration 0010) puts it into the next open month, carried over.
        if not await repo.cancel_original(setl_id):
            raise refused("ALREADY_CANCELLED", f"结算 {setl_id} 已撤销。 / Settlement {setl_id} is already cancelled.",
                          "setl_id")
        acc = await repo.lock_accumulators(orig.psn_no, orig.insutype, orig.year)
        # Admissions are counted, not settlements: read under the accumulator lock (a settlement
        # of this admission books under it too) whether another settlement of it stays in force.
        remains = (await repo.admission_so_far(orig.mdtrt_id)).settlements > 0 if orig.clr_type == "21" else False
        try:
            rev = engine_reverse(orig.result, admission_remains=remains)
        except SettlementRefused as e:
            raise checks.engine_refusal(e) from None
        data = dict(acc.data)
        for key, delta in rev.deltas.items():
            data[key] = int(data.get(key, 0)) + delta
        after = dataclasses.replace(acc, data=data)
        await repo.write_accumulators(orig.psn_no, orig.insutype, orig.year, after)
        now = self.clock()
        s = dataclasses.replace(
            orig, **amounts_of(rev), setl_id=new_id("R", now), status="reversal", reverses_setl_id=setl_id,
            setl_time=now, setl_date=now.astimezone(CST).date(), deltas=dict(rev.deltas), caps=dict(rev.caps),
            result=rev, msgid=msgid, fixmedins_code=code, carried_from=None,
            balc_fen=account_balance(data, acc.caps, None) if "acct:used" in acc.caps else orig.balc_fen)
        reply = SettlementReply.of(s)
        # The original's own ledger rows negated (whatever rule booked them), each transfer still
        # summing to zero.
        entries = [dataclasses.replace(e, amount_fen=-e.amount_fen) for e in await repo.ledger_of(setl_id)]
        await repo.insert_settlement(s, reply.funds, entries)
        await repo.release_fees(setl_id, orig.mdtrt_id)
        await repo.unsettle_visit(orig.mdtrt_id)
        return reply


# ----------------------------------------------------------------------------- 2601: Effect -> undo

Undone = tuple[str, SettlementReply | None]  # what was undone (text), and the reversal booked if any
Undo = Callable[[Reversals, SettlementRepository, Transaction, str, str], Awaitable[Undone]]
VisitUndo = Callable[[SettlementRepository, Visit, Mapping[str, Any]], Awaitable[str]]


async def _undo_settlement(rv: Reversals, repo: SettlementRepository, orig: Transaction, code: str,
                           msgid: str) -> Undone:
    reply = await rv.reverse_settlement(repo, code, msgid, orig.setl_id)
    return f"已冲销结算 {orig.setl_id} (settlement reversed)", reply


async def _refuse_reversal_of_reversal(rv: Reversals, repo: SettlementRepository, orig: Transaction, code: str,
                                       msgid: str) -> Undone:
    raise refused("REVERSAL_OF_REVERSAL", f"原交易 {orig.msgid} ({orig.infno}) 本身是撤销/冲正，不能再"
                  "冲正。 / The original is itself a cancellation or reversal and cannot be reversed.", "omsgid")


def _on_visit(handler: VisitUndo) -> Undo:
    """An undo of a call on a visit: the visit locked and checked to be the caller's first."""

    async def undo(rv: Reversals, repo: SettlementRepository, orig: Transaction, code: str, msgid: str) -> Undone:
        v = checks.own_visit(await repo.visit(orig.mdtrt_id, for_update=True), code, orig.mdtrt_id)
        return await handler(repo, v, orig.undo), None

    return undo


@_on_visit
async def _undo_registration(repo: SettlementRepository, v: Visit, undo: Mapping[str, Any]) -> str:
    if v.status == "settled":
        raise refused("VISIT_SETTLED", "就诊已结算，请先撤销结算。 / The visit is settled; cancel the "
                      "settlement first.", "omsgid")
    await checks.refuse_if_interim_settled(repo, v, "omsgid")
    await repo.update_visit(dataclasses.replace(v, status="cancelled"))
    return f"已撤销登记 {v.mdtrt_id} (registration cancelled)"


@_on_visit
async def _undo_visit_cancellation(repo: SettlementRepository, v: Visit, undo: Mapping[str, Any]) -> str:
    if v.status != "cancelled":
        raise refused("NOT_CANCELLED", "就诊当前不是撤销状态。 / The visit is not cancelled.", "omsgid")
    await repo.update_visit(dataclasses.replace(v, status=undo.get("status", "open")))
    return f"已恢复就诊 {v.mdtrt_id} (visit restored)"


@_on_visit
async def _undo_discharge(repo: SettlementRepository, v: Visit, undo: Mapping[str, Any]) -> str:
    if v.status != "discharged":
        raise refused("NOT_DISCHARGED", "就诊当前不是出院状态（已结算的请先撤销结算）。 / The visit is not "
                      "discharged.", "omsgid")
    await repo.update_visit(dataclasses.replace(v, status="open", endtime=None, dscg_way=""))
    return f"已撤销出院 {v.mdtrt_id} (discharge undone)"


@_on_visit
async def _redo_discharge(repo: SettlementRepository, v: Visit, undo: Mapping[str, Any]) -> str:
    """2601 of a 2405: the discharge comes back as it was."""
    if v.status != "open" or not undo.get("endtime"):
        raise refused("NOT_OPEN", "就诊当前不能恢复出院。 / The discharge cannot be restored.", "omsgid")
    await repo.update_visit(dataclasses.replace(v, status="discharged", endtime=parse_time(undo["endtime"], "endtime"),
                                                dscg_way=undo.get("dscg_way", "")))
    return f"已恢复出院 {v.mdtrt_id} (discharge restored)"


@_on_visit
async def _undo_fee_upload(repo: SettlementRepository, v: Visit, undo: Mapping[str, Any]) -> str:
    """Delete the lines uploaded and put back the ones they replaced."""
    fees = {f.feedetl_sn: f for f in await repo.fees_of_visit(v.mdtrt_id)}
    sns = [sn for sn in undo.get("sns", []) if sn in fees]
    if any(fees[sn].setl_id for sn in sns):
        raise refused("FEE_SETTLED", "这些费用已结算，请先撤销结算。 / These fees are settled; cancel the "
                      "settlement first.", "omsgid")
    await repo.delete_fees(v.mdtrt_id, sns)
    await repo.upsert_fees(FeeLine.from_undo_json(f) for f in undo.get("replaced", []))
    return f"已删除上传的 {len(sns)} 条费用明细 (fee upload undone)"


@_on_visit
async def _undo_fee_cancellation(repo: SettlementRepository, v: Visit, undo: Mapping[str, Any]) -> str:
    """Put back the lines removed (those not uploaded again since)."""
    fees = {f.feedetl_sn for f in await repo.fees_of_visit(v.mdtrt_id)}
    lines = [FeeLine.from_undo_json(f) for f in undo.get("removed", []) if f["feedetl_sn"] not in fees]
    checks.require_open(v, allow_discharged=True)
    await repo.upsert_fees(lines)
    return f"已恢复 {len(lines)} 条费用明细 (fee cancellation undone)"


# Keyed by Effect, a str Enum: looked up by the effect value a journal row stores (Transaction.effect).
UNDO: Mapping[str, Undo] = {
    Effect.SETTLE: _undo_settlement,
    Effect.CANCEL_SETTLEMENT: _refuse_reversal_of_reversal,
    Effect.REVERSE: _refuse_reversal_of_reversal,
    Effect.REGISTER: _undo_registration,
    Effect.CANCEL_VISIT: _undo_visit_cancellation,
    Effect.DISCHARGE: _undo_discharge,
    Effect.UNDO_DISCHARGE: _redo_discharge,
    Effect.UPLOAD_FEES: _undo_fee_upload,
    Effect.CANCEL_FEES: _undo_fee_cancellation,
}
