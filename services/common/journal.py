"""The exactly-once journal: one row per (hospital, msgid) of every mutating call.

A call claims its (hospital, msgid) in the same transaction as its effect and stores its reply
there. A retry carrying the same effect and the same request digest gets that stored reply back,
marked as replayed (`Replayed`: the edge that encoded the reply decodes it and sets `replayed`);
the same msgid with another effect or another body is refused with MSGID_CONFLICT. Both must
match: two request types (CancelVisit and UndoDischarge, say) can serialize to the same bytes.
A concurrent duplicate waits on the claim, then replays the reply of the one that committed.

The class knows no table: its store (the service's repository over one connection) implements
JournalStore for its own journal table. Settlement and filing share it: settlement over its
transactions table (services/settlement/repository.py), filing over its message table (its
`kind` as the effect, its fingerprint as the digest; services/filing/repository.py). Digest and
reply are opaque here: the reply is stored as the edge encoded it (`JournalRequest.encode`) and
handed back as it was stored, so the use cases never see the wire format. A service may name
its own key check (`require`) and its own MSGID_CONFLICT refusal (`conflict`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from services.common.outcomes import Refusal


class MsgidTaken(Exception):
    """The (hospital, msgid) was claimed by another transaction that committed first."""


class JournalEffect(Protocol):
    """What a journaled call did (an Enum of str values, such as domain.Effect)."""

    @property
    def value(self) -> str: ...

    @property
    def infno(self) -> str:
        """The infno journaled when the caller names none."""
        ...


@dataclass(frozen=True, slots=True)
class JournalRequest:
    """What the journal needs of one mutating request, from the edge that received it: the key
    (hospital, msgid), the infno, the digest of the whole request (caller included: a retry
    must carry the same content to get the stored reply) and how the edge stores its reply."""

    hospital: str
    msgid: str
    infno: str
    digest: bytes
    encode: Callable[[Any], bytes]

    def infno_for(self, effect: JournalEffect) -> str:
        return self.infno or effect.infno


@dataclass(frozen=True, slots=True)
class Replayed:
    """The stored reply of an earlier identical request, as the edge encoded it."""

    reply: bytes


class JournalEntry(Protocol):
    """A journal row, as far as the journal itself reads it."""

    @property
    def msgid(self) -> str: ...

    @property
    def infno(self) -> str: ...

    @property
    def digest(self) -> bytes: ...

    @property
    def effect(self) -> str: ...

    @property
    def reply(self) -> bytes: ...


N = TypeVar("N", contravariant=True)


class JournalStore(Protocol[N]):
    """A service's journal table over one connection. N: what the service notes beside the reply."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def journal_entry(self, hospital: str, msgid: str) -> JournalEntry | None: ...

    async def claim(self, request: JournalRequest, effect: JournalEffect) -> None:
        """Claim inside the current transaction; MsgidTaken if taken. A concurrent claim of the
        same msgid waits here until the other transaction ends."""
        ...

    async def complete(self, request: JournalRequest, reply: bytes, note: N) -> None: ...


S = TypeVar("S", bound=JournalStore)
R = TypeVar("R")


def require_key(request: JournalRequest) -> None:
    """A mutating call names its hospital and its msgid (the idempotency key)."""
    if not request.hospital:
        raise Refusal("FIELD_REQUIRED", "缺少定点医药机构编号 fixmedins_code。 / fixmedins_code is required.",
                      "fixmedins_code")
    if not request.msgid:
        raise Refusal("FIELD_REQUIRED", "缺少报文 ID msgid（幂等键）。 / msgid (the idempotency key) is required.",
                      "msgid")


def msgid_conflict(stored: JournalEntry) -> Refusal:
    """The refusal of a msgid already used for another request (another effect or body)."""
    return Refusal(
        "MSGID_CONFLICT",
        f"同一 msgid {stored.msgid} 请求内容不同：该报文 ID 已用于交易 {stored.infno}，请使用新的 msgid。"
        " / Same msgid, different body: this msgid was already used for another request; "
        "send a new msgid.", "msgid")


def replay(stored: JournalEntry, request: JournalRequest, effect: JournalEffect,
           conflict: Callable[[JournalEntry], Refusal] = msgid_conflict) -> Replayed:
    """The stored reply of a retried request; a conflict when the msgid was used for another."""
    if stored.digest != request.digest or stored.effect != effect.value:
        raise conflict(stored)
    return Replayed(stored.reply)


class Journal(Generic[S]):
    """Runs journaled work: `connect()` opens a store over one pooled connection. `require`
    checks the key before anything is read (default: hospital and msgid); `conflict` builds the
    MSGID_CONFLICT refusal (default: msgid_conflict)."""

    def __init__(self, connect: Callable[[], AbstractAsyncContextManager[S]], *,
                 require: Callable[[JournalRequest], None] = require_key,
                 conflict: Callable[[JournalEntry], Refusal] = msgid_conflict) -> None:
        self._connect = connect
        self._require = require
        self._conflict = conflict

    async def run(self, request: JournalRequest, effect: JournalEffect,
                  work: Callable[[S], Awaitable[tuple[R, Any]]]) -> R | Replayed:
        """Run `work(store)` in one transaction together with the msgid claim and store its reply.
        work returns (reply, the note the store keeps beside it)."""
        self._require(request)
        async with self._connect() as store:
            stored = await store.journal_entry(request.hospital, request.msgid)
            if stored is not None:
                return replay(stored, request, effect, self._conflict)
            try:
                async with store.transaction():
                    # Claim first: a concurrent duplicate waits here, then replays our reply.
                    await store.claim(request, effect)
                    reply, note = await work(store)
                    await store.complete(request, request.encode(reply), note)
                return reply
            except MsgidTaken:
                stored = await store.journal_entry(request.hospital, request.msgid)
                assert stored is not None  # MsgidTaken: the claim that beat ours committed its row
                return replay(stored, request, effect, self._conflict)

    async def replay_stored(self, request: JournalRequest, effect: JournalEffect) -> Replayed:
        """The msgid was taken (by a booking that committed first): read its whole row back and
        replay it, or refuse a different request under the same msgid."""
        async with self._connect() as store:
            stored = await store.journal_entry(request.hospital, request.msgid)
        assert stored is not None  # called when the msgid was taken: its row committed
        return replay(stored, request, effect, self._conflict)
