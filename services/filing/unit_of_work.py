"""The filing use cases' unit of work: one transaction per HIS message, at most once per
(fixmedins_code, msgid), and the eligibility notification after it commits.

HIS operations carry a Caller (fixmedins_code, msgid): the message row is claimed first in the
transaction that does the work, so a retry with the same body gets the stored reply, a
different body under the same msgid is refused (MSGID_CONFLICT), and a 2601 reversal finds what
the original message did. Stored replies (filing.messages.reply) are the domain objects as
JSON, so a replay returns exactly what the first call returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from services.common.grpcutil import Refusal
from services.filing.domain import Caller, ChronicFiling, Filing, FilingRefused, Reversal
from services.filing.repository import FilingRepository

if TYPE_CHECKING:
    from services.filing.service import FilingService

Work = Callable[[FilingRepository], Awaitable[tuple[Any, str]]]  # -> (reply, filing_id)


async def once(svc: FilingService, caller: Caller, kind: str, psn_no: str, fingerprint: str, work: Work,
               encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> Any:
    """Run `work` in one transaction, at most once per (fixmedins_code, msgid)."""
    async with svc.pool.acquire() as conn:
        async with conn.transaction():
            repo = FilingRepository(conn)
            if caller.msgid:
                claimed = await repo.claim_message(caller.fixmedins_code, caller.msgid, caller.infno, kind,
                                                   fingerprint, psn_no)
                if not claimed:
                    prior = await repo.message(caller.fixmedins_code, caller.msgid)
                    assert prior is not None  # not claimed: the row exists (the claim waited for its commit)
                    if prior.kind != kind or prior.fingerprint != fingerprint:
                        raise FilingRefused(
                            "conflict", "MSGID_CONFLICT",
                            f"报文 ID msgid {caller.msgid} 已用于另一笔内容不同的交易（{prior.infno or prior.kind}）；"
                            "新交易请使用新的 msgid。 / msgid already used for a different transaction; send a "
                            "new transaction with a new msgid.", "msgid")
                    return decode(prior.reply)
            result, filing_id = await work(repo)
            if caller.msgid:
                await repo.complete_message(caller.fixmedins_code, caller.msgid, filing_id,
                                            json.dumps(encode(result), ensure_ascii=False))
    return result


async def notify_eligibility(svc: FilingService, psn_no: str) -> None:
    """Before acknowledging a change: the eligibility service drops its cached snapshots.

    Runs after the commit (so no snapshot is rebuilt from the state before it). If it fails,
    the caller gets an error, and its retry with the same msgid replays the stored reply and
    invalidates again."""
    try:
        await svc.eligibility.invalidate_person(psn_no)
    except Refusal:
        raise Refusal("ELIGIBILITY_UNAVAILABLE",
                      "备案已保存，但通知参保资格服务失败；请稍后用同一 msgid 重试以确认。 / The filing was saved "
                      "but the eligibility service could not be notified; retry with the same msgid to "
                      "confirm.") from None


# ----------------------------------------------------------------------------- fingerprints and ids


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def fingerprint(kind: str, **fields: Any) -> str:
    """What a message asked for: the same msgid with a different fingerprint is MSGID_CONFLICT."""
    body = json.dumps({"kind": kind, **{k: _jsonable(v) for k, v in fields.items()}}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def new_filing_id(today: dt.date) -> str:
    return f"F{today:%Y%m%d}{uuid.uuid4().hex[:15].upper()}"


def new_chronic_id(today: dt.date) -> str:
    return f"C{today:%Y%m%d}{uuid.uuid4().hex[:15].upper()}"


# ----------------------------------------------------------------------------- reply codecs


def filing_to_json(f: Filing) -> dict[str, Any]:
    return {k: _jsonable(getattr(f, k)) for k in Filing.__slots__}


def filing_from_json(d: dict[str, Any]) -> Filing:
    def date(v):
        return None if v is None else dt.date.fromisoformat(v)

    def stamp(v):
        return None if v is None else dt.datetime.fromisoformat(v)

    return Filing(**{**d, "begin": date(d["begin"]), "end": date(d["end"]), "filed_on": date(d["filed_on"]),
                     "created_at": stamp(d["created_at"]), "revoked_at": stamp(d["revoked_at"])})


def chronic_to_json(c: ChronicFiling) -> dict[str, Any]:
    return {k: _jsonable(getattr(c, k)) for k in ChronicFiling.__slots__}


def chronic_from_json(d: dict[str, Any]) -> ChronicFiling:
    return ChronicFiling(**{**d, "begndate": dt.date.fromisoformat(d["begndate"]),
                            "enddate": None if d["enddate"] is None else dt.date.fromisoformat(d["enddate"])})


def reversal_to_json(r: Reversal) -> dict[str, Any]:
    return {"filing_id": r.filing_id, "status": r.status, "psn_no": r.psn_no}


def reversal_from_json(d: dict[str, Any]) -> Reversal:
    return Reversal(d["filing_id"], d["status"], d.get("psn_no", ""))
