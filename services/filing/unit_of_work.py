"""The filing use cases' unit of work: one transaction per HIS message, at most once per
(fixmedins_code, msgid), and the eligibility notification after it commits.

HIS operations carry a Caller (fixmedins_code, msgid) and run in the exactly-once journal the
settlement service uses too (services.common.journal.Journal), over filing.messages
(FilingRepository is its store): the message row is claimed first in the transaction that does
the work, so a retry of the same kind with the same body gets the stored reply, another kind
or a different body under the same msgid is refused (MSGID_CONFLICT), and a 2601 reversal finds
what the original message did (its kind, filing_id and psn_no). Stored replies
(filing.messages.reply) are the domain objects as JSON, so a replay returns exactly what the
first call returned. A call without a msgid (online self-service) is not journaled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any

from services.common.grpcutil import Refusal
from services.common.journal import Journal, JournalEntry, JournalRequest, Replayed
from services.filing import repository
from services.filing.domain import Caller, ChronicFiling, Filing, FilingRefused, Reversal
from services.filing.repository import FilingRepository, MessageNote, digest_of

if TYPE_CHECKING:
    from services.filing.service import FilingService

Work = Callable[[FilingRepository], Awaitable[tuple[Any, str]]]  # -> (reply, filing_id)


class MessageKind(str, Enum):
    """What a HIS message did (filing.messages.kind): the journal's effect."""

    CREATE = "create"
    REVOKE = "revoke"
    CHANGE = "change"
    CHRONIC_FILE = "chronic_file"
    CHRONIC_CANCEL = "chronic_cancel"
    REVERSE = "reverse"

    @property
    def infno(self) -> str:
        """The infno stored when the caller names none: none (the message keeps the caller's)."""
        return ""


def _conflict(stored: JournalEntry) -> FilingRefused:
    return FilingRefused(
        "conflict", "MSGID_CONFLICT",
        f"报文 ID msgid {stored.msgid} 已用于另一笔内容不同的交易（{stored.infno or stored.effect}）；"
        "新交易请使用新的 msgid。 / msgid already used for a different transaction; send a "
        "new transaction with a new msgid.", "msgid")


def _keyed(request: JournalRequest) -> None:
    """once() journals only calls with a msgid; their fixmedins_code may be empty (online)."""


def journal(svc: FilingService) -> Journal[FilingRepository]:
    """The exactly-once journal over the service's pool and filing.messages."""
    return Journal(partial(repository.connection, svc.pool), require=_keyed, conflict=_conflict)


async def once(svc: FilingService, caller: Caller, kind: str, psn_no: str, fingerprint: str, work: Work,
               encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> Any:
    """Run `work` in one transaction, at most once per (fixmedins_code, msgid)."""
    if not caller.msgid:
        async with repository.connection(svc.pool) as repo, repo.transaction():
            result, _ = await work(repo)
        return result

    async def journaled(repo: FilingRepository) -> tuple[Any, MessageNote]:
        result, filing_id = await work(repo)
        return result, MessageNote(filing_id, psn_no)

    request = JournalRequest(hospital=caller.fixmedins_code, msgid=caller.msgid, infno=caller.infno,
                             digest=digest_of(fingerprint),
                             encode=lambda reply: json.dumps(encode(reply), ensure_ascii=False).encode())
    result = await journal(svc).run(request, MessageKind(kind), journaled)
    if isinstance(result, Replayed):
        return decode(json.loads(result.reply))
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
