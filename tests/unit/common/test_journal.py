"""The exactly-once journal (services/common/journal.py) over an in-memory store.

The store stands in for a service's journal table: a claim inside a transaction reserves the
(hospital, msgid) until the transaction ends, a concurrent claim of it waits for that end (as
PostgreSQL's INSERT ... ON CONFLICT DO NOTHING waits on the other transaction's row), and only a
committed transaction's rows are seen by others."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum
from typing import Any

import pytest

from services.common.journal import (
    Journal,
    JournalEffect,
    JournalEntry,
    JournalRequest,
    MsgidTaken,
    Replayed,
)
from services.common.outcomes import Refusal


class Effect(str, Enum):
    OPEN = "open"
    CANCEL = "cancel"

    @property
    def infno(self) -> str:
        return {"open": "2401", "cancel": "2404"}[self.value]


@dataclasses.dataclass
class Entry:
    msgid: str
    infno: str
    digest: bytes
    effect: str
    reply: bytes = b""
    note: Any = None


class Table:
    """The journal table: committed rows, and the keys claimed by transactions still open."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Entry] = {}
        self.claimed: dict[tuple[str, str], asyncio.Event] = {}


class Store:
    """A JournalStore over the table: one per connection, at most one transaction at a time."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.pending: dict[tuple[str, str], Entry] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.pending = {}
        try:
            yield
            self.table.rows.update(self.pending)  # commit
        finally:
            for key in self.pending:
                self.table.claimed.pop(key).set()  # the waiting claims go on
            self.pending = None

    async def journal_entry(self, hospital: str, msgid: str) -> JournalEntry | None:
        return self.table.rows.get((hospital, msgid))

    async def claim(self, request: JournalRequest, effect: JournalEffect) -> None:
        assert self.pending is not None, "a claim is made inside a transaction"
        key = (request.hospital, request.msgid)
        while key in self.table.claimed:
            await self.table.claimed[key].wait()
        if key in self.table.rows:
            raise MsgidTaken()
        self.table.claimed[key] = asyncio.Event()
        self.pending[key] = Entry(request.msgid, request.infno_for(effect), request.digest, effect.value)

    async def complete(self, request: JournalRequest, reply: bytes, note: Any) -> None:
        assert self.pending is not None
        entry = self.pending[(request.hospital, request.msgid)]
        entry.reply, entry.note = reply, note


@pytest.fixture
def table() -> Table:
    return Table()


@pytest.fixture
def journal(table: Table) -> Journal[Store]:
    @asynccontextmanager
    async def connect() -> AsyncIterator[Store]:
        yield Store(table)

    return Journal(connect)


def request(body: str = "visit V1", *, hospital: str = "H1", msgid: str = "M1", infno: str = "") -> JournalRequest:
    return JournalRequest(hospital=hospital, msgid=msgid, infno=infno, digest=body.encode(),
                          encode=lambda reply: f"<{reply}>".encode())


class Work:
    """A journaled call's work: counts its runs; `gate` holds it until set; `fail` makes it raise."""

    def __init__(self, reply: str = "done", *, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        self.reply, self.gate, self.fail, self.runs = reply, gate, fail, 0
        self.started = asyncio.Event()

    async def __call__(self, store: Store) -> tuple[str, str]:
        self.runs += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("the work failed")
        return self.reply, f"note of {self.reply}"


async def test_a_first_call_runs_its_work_and_stores_the_encoded_reply_with_its_note(journal, table):
    work = Work()
    assert await journal.run(request(), Effect.OPEN, work) == "done"  # the reply itself, not Replayed
    assert work.runs == 1
    stored = table.rows["H1", "M1"]
    assert (stored.effect, stored.digest, stored.reply, stored.note) == ("open", b"visit V1", b"<done>",
                                                                         "note of done")
    assert stored.infno == "2401"  # the caller named none: the effect's
    assert not table.claimed


async def test_the_callers_infno_is_journaled_when_it_names_one(journal, table):
    await journal.run(request(infno="2499"), Effect.OPEN, Work())
    assert table.rows["H1", "M1"].infno == "2499"


async def test_a_retry_replays_the_stored_reply_without_running_the_work_again(journal):
    await journal.run(request(), Effect.OPEN, Work())
    again = Work("done twice")
    assert await journal.run(request(), Effect.OPEN, again) == Replayed(b"<done>")
    assert again.runs == 0


async def test_the_same_msgid_and_digest_for_another_effect_is_a_conflict(journal):
    await journal.run(request(), Effect.OPEN, Work())
    other = Work()
    with pytest.raises(Refusal) as e:
        await journal.run(request(), Effect.CANCEL, other)  # the same bytes, another effect
    assert (e.value.outcome, e.value.field) == ("MSGID_CONFLICT", "msgid")
    assert other.runs == 0


async def test_the_same_msgid_and_effect_with_another_digest_is_a_conflict(journal, table):
    await journal.run(request(), Effect.OPEN, Work())
    other = Work()
    with pytest.raises(Refusal) as e:
        await journal.run(request("visit V2"), Effect.OPEN, other)
    assert (e.value.outcome, e.value.field) == ("MSGID_CONFLICT", "msgid")
    assert other.runs == 0
    assert table.rows["H1", "M1"].reply == b"<done>"  # the first call's row is untouched


async def test_the_key_is_a_hospital_and_a_msgid(journal, table):
    for req, field in ((request(hospital=""), "fixmedins_code"), (request(msgid=""), "msgid")):
        with pytest.raises(Refusal) as e:
            await journal.run(req, Effect.OPEN, Work())
        assert (e.value.outcome, e.value.field) == ("FIELD_REQUIRED", field)
    assert not table.rows


async def test_msgids_are_per_hospital(journal):
    await journal.run(request(hospital="H1"), Effect.OPEN, Work())
    assert await journal.run(request("other", hospital="H2"), Effect.CANCEL, Work("other")) == "other"


async def test_a_service_names_its_own_key_check_and_conflict(table):
    @asynccontextmanager
    async def connect() -> AsyncIterator[Store]:
        yield Store(table)

    def conflict(stored: JournalEntry) -> Refusal:
        return Refusal("MSGID_CONFLICT", f"msgid {stored.msgid} was used for {stored.infno or stored.effect}",
                       "msgid")

    journal = Journal(connect, require=lambda req: None, conflict=conflict)
    assert await journal.run(request(hospital=""), Effect.OPEN, Work()) == "done"  # no hospital needed
    with pytest.raises(Refusal) as e:
        await journal.run(request("another body", hospital=""), Effect.OPEN, Work())
    assert str(e.value) == "msgid M1 was used for 2401"
    with pytest.raises(Refusal) as e:
        await journal.replay_stored(request(hospital=""), Effect.CANCEL)
    assert str(e.value) == "msgid M1 was used for 2401"


async def test_failed_work_leaves_no_claim_and_the_retry_runs(journal, table):
    with pytest.raises(RuntimeError):
        await journal.run(request(), Effect.OPEN, Work(fail=True))
    assert not table.rows and not table.claimed
    assert await journal.run(request(), Effect.OPEN, Work("second try")) == "second try"


async def test_a_concurrent_duplicate_waits_for_the_claim_then_replays(journal):
    gate = asyncio.Event()
    first, second = Work(gate=gate), Work("never")
    running = asyncio.create_task(journal.run(request(), Effect.OPEN, first))
    await first.started.wait()  # the first holds the claim, its transaction open
    duplicate = asyncio.create_task(journal.run(request(), Effect.OPEN, second))
    await asyncio.sleep(0.01)
    assert not duplicate.done()  # waiting on the claim
    gate.set()
    assert await running == "done"
    assert await duplicate == Replayed(b"<done>")
    assert (first.runs, second.runs) == (1, 0)


async def test_a_concurrent_different_request_under_the_msgid_waits_then_conflicts(journal):
    gate = asyncio.Event()
    first, second = Work(gate=gate), Work()
    running = asyncio.create_task(journal.run(request(), Effect.OPEN, first))
    await first.started.wait()
    duplicate = asyncio.create_task(journal.run(request(), Effect.CANCEL, second))
    await asyncio.sleep(0.01)
    gate.set()
    assert await running == "done"
    with pytest.raises(Refusal) as e:
        await duplicate
    assert e.value.outcome == "MSGID_CONFLICT"
    assert second.runs == 0


async def test_a_concurrent_duplicate_claims_the_msgid_when_the_first_rolls_back(journal, table):
    gate = asyncio.Event()
    first, second = Work(gate=gate, fail=True), Work("second")
    running = asyncio.create_task(journal.run(request(), Effect.OPEN, first))
    await first.started.wait()
    duplicate = asyncio.create_task(journal.run(request(), Effect.OPEN, second))
    await asyncio.sleep(0.01)
    gate.set()
    with pytest.raises(RuntimeError):
        await running
    assert await duplicate == "second"  # nothing was stored: the duplicate did the work
    assert table.rows["H1", "M1"].reply == b"<second>"


async def test_replay_stored_reads_back_a_taken_msgid(journal):
    await journal.run(request(), Effect.OPEN, Work())
    assert await journal.replay_stored(request(), Effect.OPEN) == Replayed(b"<done>")
    with pytest.raises(Refusal) as e:
        await journal.replay_stored(request("visit V2"), Effect.OPEN)
    assert e.value.outcome == "MSGID_CONFLICT"
