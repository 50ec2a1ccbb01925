"""ReverseByMsgid (2601): undo what an earlier 2501 or 2503 of the same hospital did, found by
its msgid — the 2501's filing is revoked, the 2503's chronic filing and qualification ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.filing import unit_of_work as uow
from services.filing.chronic import end_chronic
from services.filing.domain import ACTIVE, REASON_REVERSED, REVOKED, Caller, FilingRefused, Reversal
from services.filing.repository import FilingRepository
from services.filing.rules import required

if TYPE_CHECKING:
    from services.filing.service import FilingService


async def reverse_by_msgid(svc: FilingService, caller: Caller, psn_no: str, omsgid: str, oinfno: str = "") -> Reversal:
    required(caller.fixmedins_code, "fixmedins_code", "医院编码")
    required(omsgid, "omsgid", "原报文 ID")
    today = svc.today()
    fp = uow.fingerprint("reverse", psn_no=psn_no, omsgid=omsgid, oinfno=oinfno)

    async def work(repo: FilingRepository) -> tuple[Reversal, str]:
        original = await repo.message(caller.fixmedins_code, omsgid, for_update=True)
        if original is None or (psn_no and original.psn_no and original.psn_no != psn_no):
            raise FilingRefused("not_found", "ORIGINAL_NOT_FOUND",
                                f"本院没有报文 ID omsgid {omsgid} 的备案交易。 / No filing transaction with msgid "
                                f"{omsgid} from this hospital.", "omsgid")
        if oinfno and original.infno and oinfno != original.infno:
            raise FilingRefused("invalid", "OINFNO_MISMATCH",
                                f"原交易 {omsgid} 是 {original.infno}，不是 oinfno {oinfno}。 / The original "
                                f"transaction is {original.infno}, not {oinfno}.", "oinfno")
        if original.kind == "reverse":
            raise FilingRefused("refused", "REVERSAL_OF_REVERSAL",
                                "冲正交易不能再冲正。 / A reversal cannot itself be reversed.", "omsgid")
        if original.reversed_by:
            raise FilingRefused("refused", "ALREADY_REVERSED",
                                f"原交易 {omsgid} 已被 {original.reversed_by} 冲正。 / Transaction {omsgid} was "
                                f"already reversed by {original.reversed_by}.", "omsgid")
        if original.kind == "create":
            assert original.filing_id is not None  # a completed 2501 names the filing it created
            filing = await repo.filing(original.filing_id, for_update=True)
            assert filing is not None  # filings are never deleted
            if filing.status != ACTIVE:
                raise FilingRefused(
                    "refused", "FILING_NOT_ACTIVE",
                    f"原交易建立的备案 {filing.filing_id} 已{'撤销' if filing.status == REVOKED else '变更'}，无法冲正；"
                    "如需撤销当前备案请发送 2502。 / The filing this transaction created is already "
                    f"{filing.status}; revoke the current filing with 2502 instead.", "omsgid")
            await repo.set_status(filing.filing_id, REVOKED, REASON_REVERSED)
            reply = Reversal(filing.filing_id, REVOKED, filing.psn_no)
        elif original.kind == "chronic_file":
            assert original.filing_id is not None  # a completed 2503 names the chronic filing it created
            chronic = await repo.chronic_for_update(original.filing_id)
            assert chronic is not None  # chronic filings are never deleted
            ended = await end_chronic(svc, repo, chronic, today, "reversed")
            reply = Reversal(ended.filing_id, ended.status, ended.psn_no)
        else:
            raise FilingRefused("refused", "NOT_REVERSIBLE",
                                f"原交易 {omsgid}（{original.infno or original.kind}）不能冲正，只有 2501 和 2503 "
                                "可按 msgid 冲正；请重新办理备案。 / Only 2501 and 2503 filings can be reversed by "
                                "msgid; file again instead.", "omsgid")
        await repo.mark_reversed(caller.fixmedins_code, omsgid, caller.msgid or "-")
        return reply, reply.filing_id

    result = await uow.once(svc, caller, "reverse", psn_no, fp, work, uow.reversal_to_json, uow.reversal_from_json)
    await uow.notify_eligibility(svc, result.psn_no)
    return result
