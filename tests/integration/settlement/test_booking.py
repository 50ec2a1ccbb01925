"""One booking implementation: the optimistic path and the pessimistic fallback both book through
the SQL function settlement.book_settlement (the fallback inside a transaction that first locks
the accumulator row), and the settlement row's column list lives once (domain.Settlement)."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest

from services.settlement import settle as settle_module
from services.settlement.domain import FeeLine, Settlement, Transaction, Visit
from services.settlement.repository import SETTLEMENT_COLUMNS, SettlementRepository

from .helpers import accumulators, fee, open_visit, settle_request
from .reference import H_A1, H_A3

pytestmark = pytest.mark.integration


@pytest.fixture
def bookings(monkeypatch):
    """Every call of book_settlement and lock_accumulators, in order, with whether it ran inside a
    transaction."""
    calls: list[tuple[str, bool]] = []
    book, lock = SettlementRepository.book_settlement, SettlementRepository.lock_accumulators

    async def spy_book(self, *args, **kw):
        calls.append(("book", self._db.is_in_transaction() if hasattr(self._db, "is_in_transaction") else False))
        return await book(self, *args, **kw)

    async def spy_lock(self, *args, **kw):
        calls.append(("lock", self._db.is_in_transaction()))
        return await lock(self, *args, **kw)

    monkeypatch.setattr(SettlementRepository, "book_settlement", spy_book)
    monkeypatch.setattr(SettlementRepository, "lock_accumulators", spy_lock)
    return calls


async def test_the_optimistic_booking_is_one_function_call_in_autocommit(stub, upstream, uid, bookings):
    psn = upstream.person(f"PB{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 500_000)])
    r = await stub.Settle(settle_request(H_A3, v, 500_000))
    assert r.setlinfo.hifp_pay_fen == 294_000 and not r.replayed
    assert bookings == [("book", False)]


async def test_the_fallback_locks_the_accumulators_then_books_with_the_same_function(stub, upstream, uid, db_pool,
                                                                                    bookings, monkeypatch):
    monkeypatch.setattr(settle_module, "OPTIMISTIC_ATTEMPTS", 0)
    psn = upstream.person(f"PL{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 500_000)])
    req = settle_request(H_A3, v, 500_000)
    r = await stub.Settle(req)
    assert (r.setlinfo.act_pay_dedc_fen, r.setlinfo.hifp_pay_fen, r.setlinfo.status) == (80_000, 294_000, "settled")
    assert bookings == [("lock", True), ("book", True)]
    again = await stub.Settle(req)
    assert again.replayed and again.setlinfo == r.setlinfo
    acc, _ = await accumulators(stub, psn)
    assert acc["fund:group:main"] == 294_000
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT version FROM settlement.accumulators WHERE psn_no = $1", psn) == 1
        fees = await conn.fetch("SELECT setl_id FROM settlement.fee_details WHERE mdtrt_id = $1", v.mdtrt_id)
        journal = await conn.fetchrow("SELECT effect, setl_id, mdtrt_id, psn_no, length(reply) AS n "
                                      "FROM settlement.transactions WHERE fixmedins_code = $1 AND msgid = $2",
                                      H_A3, req.caller.msgid)
    assert [f["setl_id"] for f in fees] == [r.setlinfo.setl_id]
    assert (journal["effect"], journal["setl_id"], journal["mdtrt_id"], journal["psn_no"]) == \
        ("settle", r.setlinfo.setl_id, v.mdtrt_id, psn) and journal["n"] > 0


async def test_retries_racing_the_fallback_settle_each_msgid_once(stub, upstream, uid, db_pool, monkeypatch):
    """Employee outpatient line, cap 5000.00: ten visits of one person, each 2207 sent three times
    at once, with the fallback after one optimistic attempt. Each msgid books once, its copies get
    its reply, and the accumulators are exactly the sum of the ten bookings."""
    monkeypatch.setattr(settle_module, "OPTIMISTIC_ATTEMPTS", 1)
    psn = upstream.person(f"PT{uid}", insutype="310", psn_type="employee")
    visits = await asyncio.gather(*(open_visit(stub, hospital=H_A1, psn_no=psn, insutype="310", kind="outpatient",
                                               med_type="11", fees=[fee("1", "DIAL", "1", 40_000)]) for _ in range(10)))
    requests = [settle_request(H_A1, v, 40_000) for v in visits]
    replies = await asyncio.gather(*(stub.Settle(req) for req in requests for _ in range(3)))
    for i in range(10):
        copies = replies[3 * i:3 * i + 3]
        assert len({c.setlinfo.setl_id for c in copies}) == 1
        assert sum(1 for c in copies if not c.replayed) == 1
    acc, _ = await accumulators(stub, psn, "310")
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT deltas FROM settlement.settlements WHERE psn_no = $1", psn)
        version = await conn.fetchval("SELECT version FROM settlement.accumulators WHERE psn_no = $1", psn)
    assert len(rows) == 10 and version == 10
    summed: dict[str, int] = {}
    for row in rows:
        for key, delta in row["deltas"].items():
            summed[key] = summed.get(key, 0) + delta
    assert acc == summed
    assert acc["dedc:outpatient"] == 30_000


async def test_the_domain_types_are_the_tables_column_lists(db_pool):
    async with db_pool.acquire() as conn:
        async def columns(table: str) -> set[str]:
            return {r["column_name"] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'settlement' "
                "AND table_name = $1", table)}

        assert {f.name for f in dataclasses.fields(Settlement)} == await columns("settlements")
        assert {f.name for f in dataclasses.fields(Visit)} == await columns("visits") - {"created_at", "updated_at"}
        assert {f.name for f in dataclasses.fields(FeeLine)} == await columns("fee_details") - {"uploaded_at"}
        assert {f.name for f in dataclasses.fields(Transaction)} == await columns("transactions") - {"created_at"}
        body = await conn.fetchval("SELECT pg_get_functiondef('settlement.book_settlement'::regproc)")
    # The SQL function's own copy of the list (migration 0002) names the same columns, but for
    # carried_from, which only the booking trigger writes (migration 0010).
    listed = re.search(r"INSERT INTO settlement\.settlements \((.*?)\)", body, re.S).group(1)
    assert [c.strip() for c in listed.split(",")] == [c for c in SETTLEMENT_COLUMNS if c != "carried_from"]
