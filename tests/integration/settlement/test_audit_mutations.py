"""One mutation test per auditor check (services/settlement/audit.py, `medsettle audit`).

For each of the auditor's twelve checks: settle something real through the servicer (and cancel
it, or clear its month, where the check needs that), see the auditor pass on the whole database,
then corrupt the database so that exactly that invariant breaks, run the auditor and require it
to name that check, and the corrupted rows, and nothing else. The corruption happens inside one
transaction on one connection of our own, the auditor runs on that same connection (`audit(conn)`
takes one), and the transaction is rolled back: the shared test database is never changed, and
the auditor passes again afterwards.

The auditor has no scope (it reads every row of every table), so the corrupted rows are always
in scope; it also means the database must be clean before each mutation, which is asserted.

Where the check cannot be isolated, or the database itself forbids the corruption:

- "ledger sums to zero overall" cannot fire alone: every ledger entry belongs to a settlement
  (setl_id NOT NULL, foreign key), so an unbalanced ledger always has an unbalanced settlement,
  and "ledger sums to zero per settlement" fires with it. The test requires exactly those two.
  (The reverse is isolable and tested: two settlements off by +1 and −1.)
- "no cap exceeded" is also a CHECK (accumulators_within_caps, the same `within_caps` rule): no
  row can exceed its cap while the constraint exists. The test drops the constraint inside the
  transaction (transactional DDL, rolled back with the rest), then lowers a recorded cap.
- "one settlement per (hospital, msgid)" is also a UNIQUE constraint (settlements_msgid): dropped
  inside the transaction, then a second settlement given the first one's msgid.
- "settlement identities" are four CHECKs (settlements_parts/_split/_funds/_person): each of the
  four identities is tested on its own, its CHECK dropped inside the transaction, one column moved.
- "every reversal negates a cancelled original" has four ways to fail; "original missing" is
  forbidden by the self-referencing foreign key (dropped inside the transaction for that case);
  the other three (original not cancelled, original itself a reversal, amounts do not negate) are
  plain updates.

Dropping a constraint locks its table (ACCESS EXCLUSIVE) until the rollback, a few milliseconds;
nothing else runs meanwhile, and a lock_timeout makes a wait fail instead of hang.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import pytest

from medsettle.settlement.v1 import settlement_pb2 as pb
from services.settlement.audit import CHECKS, audit

from .helpers import caller, fee, free_month, open_visit, settle_request
from .reference import H_A3, H_B3, POOL_A, POOL_B

pytestmark = pytest.mark.integration

# The checks, by the names the auditor prints (spelt out here: a renamed check fails these tests).
LEDGER_OVERALL = "ledger sums to zero overall"
LEDGER_PER_SETTLEMENT = "ledger sums to zero per settlement"
LEDGER_MATCHES = "ledger matches the settlement's fund and account payments"
ACCUMULATORS = "accumulators equal the sum of their settlements' deltas"
CAPS = "no cap exceeded"
ONE_PER_MSGID = "one settlement per (hospital, msgid)"
JOURNAL = "every journaled settlement exists"
OUTPATIENT_ONE = "an outpatient visit has at most one settlement in force"
IDENTITIES = "settlement identities"
REVERSALS = "every reversal negates a cancelled original"
CANCELLED = "every cancelled settlement has its reversal"
CLEARING = "clearing runs tie to the ledger"


# ----------------------------------------------------------------------------- clean situations

class Env:
    """Settles through the real servicer (stub) for persons of the stand-in upstream."""

    def __init__(self, stub, upstream, clock, db_pool, uid: str) -> None:
        self.stub, self.upstream, self.clock, self.db_pool, self.uid = stub, upstream, clock, db_pool, uid
        self._n = itertools.count()

    def person(self, pool: str = POOL_A, *, filed: bool = False) -> str:
        psn = self.upstream.person(f"PM{self.uid}{next(self._n)}", pool=pool)
        if filed:
            self.upstream.file(psn, "long_term")
        return psn

    async def settle(self, *, hospital: str = H_A3, psn: str | None = None, outpatient: bool = False,
                     bill: int = 500_000) -> pb.SetlInfo:
        psn = psn or self.person()
        if outpatient:
            bill = 10_000
            v = await open_visit(self.stub, hospital=hospital, psn_no=psn, kind="outpatient", med_type="11",
                                 fees=[fee("1", "DRUG", "4", 2_500)])
        else:
            v = await open_visit(self.stub, hospital=hospital, psn_no=psn, fees=[fee("1", "DIAL", "1", bill)])
        s = (await self.stub.Settle(settle_request(hospital, v, bill))).setlinfo
        assert outpatient or s.fund_pay_sumamt_fen > 0, s   # an admission has fund lines in the ledger
        return s

    async def cancel(self, s: pb.SetlInfo, *, hospital: str = H_A3) -> tuple[pb.SetlInfo, str]:
        """2208 of `s`: (the reversal, the cancel's msgid)."""
        c = caller(hospital, "2305")
        r = (await self.stub.CancelSettlement(pb.CancelSettlementRequest(caller=c, setl_id=s.setl_id))).setlinfo
        assert r.reverses_setl_id == s.setl_id
        return r, c.msgid


@asynccontextmanager
async def corrupting(database_url: str):
    """A connection inside a transaction: clean on entry, rolled back (and clean again) on exit."""
    conn = await asyncpg.connect(database_url)
    try:
        tx = conn.transaction(isolation="repeatable_read")
        await tx.start()
        try:
            await conn.execute("SET LOCAL lock_timeout = '10s'")
            before = await audit(conn)
            assert before == [], "the shared test database is not clean:\n" + "\n".join(map(str, before))
            yield conn
        finally:
            await tx.rollback()
        after = await audit(conn)
        assert after == [], "the rollback did not undo the corruption:\n" + "\n".join(map(str, after))
    finally:
        await conn.close()


async def execute1(conn, sql: str, *args) -> None:
    """Run an UPDATE/DELETE that must touch exactly one row."""
    status = await conn.execute(sql, *args)
    assert status.split()[-1] == "1", (status, sql, args)


async def drop_constraint(conn, table: str, name: str) -> None:
    """Drop a constraint inside the caller's transaction (rolled back with it)."""
    assert await conn.fetchval("SELECT count(*) FROM pg_constraint WHERE conname = $1 AND conrelid = $2::regclass",
                               name, table) == 1, (table, name)
    await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


# ----------------------------------------------------------------------------- the mutations

@dataclass(frozen=True)
class Mutation:
    """`build` settles a clean situation through the servicer and returns what `corrupt` needs;
    `corrupt` breaks the database on the given connection and returns the violations the auditor
    must report, as {(check, row): detail}."""
    check: str
    case: str
    build: Callable[[Env], Awaitable[dict]]
    corrupt: Callable[[asyncpg.Connection, dict], Awaitable[dict[tuple[str, str], str]]]
    also: frozenset[str] = field(default_factory=frozenset)  # other checks that must fire too

    @property
    def id(self) -> str:
        return f"{self.check} / {self.case}" if self.case else self.check


MUTATIONS: list[Mutation] = []


def mutation(check: str, case: str = "", *, build: Callable[[Env], Awaitable[dict]], also: tuple[str, ...] = ()):
    def register(corrupt):
        MUTATIONS.append(Mutation(check, case, build, corrupt, frozenset(also)))
        return corrupt
    return register


async def one_settlement(env: Env) -> dict:
    return {"s": await env.settle()}


async def two_settlements(env: Env) -> dict:
    return {"s1": await env.settle(), "s2": await env.settle()}


async def settled_and_cancelled(env: Env) -> dict:
    s = await env.settle()
    r, cancel_msgid = await env.cancel(s)
    return {"s": s, "r": r, "cancel_msgid": cancel_msgid}


async def two_settled_and_cancelled(env: Env) -> dict:
    return {"a": await settled_and_cancelled(env), "b": await settled_and_cancelled(env)}


async def two_outpatient_settlements(env: Env) -> dict:
    psn = env.person()
    return {"s1": await env.settle(psn=psn, outpatient=True), "s2": await env.settle(psn=psn, outpatient=True)}


async def cleared_month(env: Env) -> dict:
    """A month of our own: one pool-A person settled at a pool-B hospital (the fund advanced by pool
    B), the month ended and cleared."""
    month = await free_month(env.db_pool)
    env.clock.set(month)
    s = await env.settle(hospital=H_B3, psn=env.person(POOL_A, filed=True))
    env.clock.set(month + dt.timedelta(days=40))
    ym = f"{month:%Y%m}"
    run = await env.stub.RunClearing(pb.RunClearingRequest(setlym=ym))
    assert [(st.insured_pool, st.treatment_pool, st.fund_fen) for st in run.statements] == [
        (POOL_A, POOL_B, s.fund_pay_sumamt_fen)]
    return {"s": s, "ym": ym}


async def receivable_entry(conn, setl_id: str) -> int:
    return await conn.fetchval("SELECT min(entry_no) FROM settlement.ledger_entries "
                               "WHERE setl_id = $1 AND account LIKE 'receivable:%'", setl_id)


async def shift_entry(conn, setl_id: str, entry_no: int, by: int) -> None:
    await execute1(conn, "UPDATE settlement.ledger_entries SET amount_fen = amount_fen + $3 "
                         "WHERE setl_id = $1 AND entry_no = $2", setl_id, entry_no, by)


async def accumulator_key(conn, psn_no: str, *, capped: bool) -> tuple[str, str]:
    """('psn/insutype/year', key) of a positive accumulator of the person (one with a cap if asked)."""
    row = await conn.fetchrow(
        "SELECT ac.psn_no || '/' || ac.insutype || '/' || ac.year AS who, k.key FROM settlement.accumulators ac,"
        " jsonb_each_text(ac.data) k WHERE ac.psn_no = $1 AND k.value::bigint > 0"
        " AND (NOT $2 OR ac.caps ? k.key) ORDER BY k.key LIMIT 1", psn_no, capped)
    assert row is not None, (psn_no, capped)
    return row["who"], row["key"]


@mutation(LEDGER_OVERALL, "one receivable entry off by one", build=one_settlement, also=(LEDGER_PER_SETTLEMENT,))
async def _(conn, x):
    s = x["s"].setl_id
    await shift_entry(conn, s, await receivable_entry(conn, s), +1)
    return {(LEDGER_OVERALL, "ledger"): "1", (LEDGER_PER_SETTLEMENT, s): "entries sum to 1"}


@mutation(LEDGER_PER_SETTLEMENT, "+1 on one settlement, -1 on another", build=two_settlements)
async def _(conn, x):
    s1, s2 = x["s1"].setl_id, x["s2"].setl_id
    await shift_entry(conn, s1, await receivable_entry(conn, s1), +1)
    await shift_entry(conn, s2, await receivable_entry(conn, s2), -1)
    return {(LEDGER_PER_SETTLEMENT, s1): "entries sum to 1", (LEDGER_PER_SETTLEMENT, s2): "entries sum to -1"}


@mutation(LEDGER_MATCHES, "a balanced transfer moved off the fund amount", build=one_settlement)
async def _(conn, x):
    s = x["s"]
    fund_entry, transfer = await conn.fetchrow(
        "SELECT entry_no, transfer_no FROM settlement.ledger_entries WHERE setl_id = $1 AND account LIKE 'fund:%' "
        "ORDER BY entry_no LIMIT 1", s.setl_id)
    other = await conn.fetchval("SELECT entry_no FROM settlement.ledger_entries WHERE setl_id = $1 "
                                "AND transfer_no = $2 AND entry_no <> $3", s.setl_id, transfer, fund_entry)
    await shift_entry(conn, s.setl_id, fund_entry, +1)   # both legs of the transfer: the ledger stays balanced
    await shift_entry(conn, s.setl_id, other, -1)
    paid = s.fund_pay_sumamt_fen + s.acct_pay_fen
    return {(LEDGER_MATCHES, s.setl_id): f"fund+acct {paid} but ledger debits {paid + 1}"}


@mutation(ACCUMULATORS, "an accumulator one fen short", build=one_settlement)
async def _(conn, x):
    psn = x["s"].psn_no
    who, key = await accumulator_key(conn, psn, capped=False)
    before = await conn.fetchval("SELECT (data ->> $2)::bigint FROM settlement.accumulators WHERE psn_no = $1", psn, key)
    await execute1(conn, "UPDATE settlement.accumulators SET data = jsonb_set(data, ARRAY[$2], to_jsonb($3::bigint)) "
                         "WHERE psn_no = $1", psn, key, before - 1)
    return {(ACCUMULATORS, f"{who} {key}"): f"accumulator {before - 1} but settlements sum to {before}"}


@mutation(CAPS, "a recorded cap below its accumulator (CHECK accumulators_within_caps dropped)", build=one_settlement)
async def _(conn, x):
    psn = x["s"].psn_no
    who, key = await accumulator_key(conn, psn, capped=True)
    amount = await conn.fetchval("SELECT (data ->> $2)::bigint FROM settlement.accumulators WHERE psn_no = $1",
                                 psn, key)
    await drop_constraint(conn, "settlement.accumulators", "accumulators_within_caps")
    await execute1(conn, "UPDATE settlement.accumulators SET caps = jsonb_set(caps, ARRAY[$2], to_jsonb($3::bigint)) "
                         "WHERE psn_no = $1", psn, key, amount - 1)
    return {(CAPS, f"{who} {key}"): f"{amount} > cap {amount - 1}"}


@mutation(ONE_PER_MSGID, "two settlements under one msgid (UNIQUE settlements_msgid dropped)", build=two_settlements)
async def _(conn, x):
    s1, s2 = x["s1"], x["s2"]
    await drop_constraint(conn, "settlement.settlements", "settlements_msgid")
    await execute1(conn, "UPDATE settlement.settlements SET msgid = $2 WHERE setl_id = $1", s2.setl_id, s1.msgid)
    return {(ONE_PER_MSGID, f"{H_A3}/{s1.msgid}"): "2 settlements"}


async def journal_points_nowhere(conn, msgid: str, effect: str) -> dict:
    row = await conn.fetchrow("SELECT setl_id, length(reply) AS n FROM settlement.transactions "
                              "WHERE fixmedins_code = $1 AND msgid = $2 AND effect = $3", H_A3, msgid, effect)
    assert row is not None and row["n"] > 0 and row["setl_id"], row
    missing = "S" + row["setl_id"] + "GONE"
    await execute1(conn, "UPDATE settlement.transactions SET setl_id = $3 WHERE fixmedins_code = $1 AND msgid = $2",
                   H_A3, msgid, missing)
    return {(JOURNAL, f"{H_A3}/{msgid}"): f"journal names missing settlement {missing}"}


@mutation(JOURNAL, "a settle's journal row names a missing settlement", build=one_settlement)
async def _(conn, x):
    return await journal_points_nowhere(conn, x["s"].msgid, "settle")


@mutation(JOURNAL, "a cancel's journal row names a missing settlement", build=settled_and_cancelled)
async def _(conn, x):
    return await journal_points_nowhere(conn, x["cancel_msgid"], "cancel_settlement")


@mutation(OUTPATIENT_ONE, "two settlements in force on one outpatient visit", build=two_outpatient_settlements)
async def _(conn, x):
    s1, s2 = x["s1"], x["s2"]
    assert await conn.fetchval("SELECT count(*) FROM settlement.settlements WHERE setl_id = any($1::text[]) "
                               "AND clr_type = '11' AND status = 'settled'", [s1.setl_id, s2.setl_id]) == 2
    await execute1(conn, "UPDATE settlement.settlements SET mdtrt_id = $2 WHERE setl_id = $1", s2.setl_id, s1.mdtrt_id)
    return {(OUTPATIENT_ONE, s1.mdtrt_id): "2 settlements in force"}


# Each identity alone: the CHECK that also enforces it, and a column only that identity reads.
IDENTITY_CASES = [
    ("settlements_parts", "inscp_scp_amt", "medfee <> four parts"),
    ("settlements_split", "hosp_part_amt", "medfee <> fund + psn_part + hosp_part"),
    ("settlements_funds", "oth_pay", "fund_pay_sumamt <> sum of funds"),
    ("settlements_person", "psn_cash_pay", "psn_part <> acct + cash"),
]


def _identity_mutation(constraint: str, column: str, detail: str) -> None:
    @mutation(IDENTITIES, f"{detail} (CHECK {constraint} dropped)", build=one_settlement)
    async def _(conn, x):
        s = x["s"].setl_id
        await drop_constraint(conn, "settlement.settlements", constraint)
        await execute1(conn, f"UPDATE settlement.settlements SET {column} = {column} + 1 WHERE setl_id = $1", s)
        return {(IDENTITIES, s): detail}


for _case in IDENTITY_CASES:
    _identity_mutation(*_case)


@mutation(REVERSALS, "amounts do not negate the original", build=settled_and_cancelled)
async def _(conn, x):
    s, r = x["s"], x["r"]
    # One fen less medical fee on the reversal, taken from a part and the hospital's share: every
    # identity of the row still holds, and neither the funds nor the account move.
    await execute1(conn, "UPDATE settlement.settlements SET medfee_sumamt = medfee_sumamt - 1, "
                         "inscp_scp_amt = inscp_scp_amt - 1, hosp_part_amt = hosp_part_amt - 1 WHERE setl_id = $1",
                   r.setl_id)
    return {(REVERSALS, r.setl_id): f"amounts do not negate {s.setl_id}"}


@mutation(REVERSALS, "the original is not cancelled", build=settled_and_cancelled)
async def _(conn, x):
    s, r = x["s"], x["r"]
    await execute1(conn, "UPDATE settlement.settlements SET status = 'settled' WHERE setl_id = $1", s.setl_id)
    return {(REVERSALS, r.setl_id): f"original {s.setl_id} is settled"}


@mutation(REVERSALS, "the original is itself a reversal", build=two_settled_and_cancelled)
async def _(conn, x):
    a, b = x["a"], x["b"]
    # b's reversal now reverses a's reversal; b's original is put back in force, so that nothing
    # but the reversal check has a reason to complain.
    await execute1(conn, "UPDATE settlement.settlements SET reverses_setl_id = $2 WHERE setl_id = $1",
                   b["r"].setl_id, a["r"].setl_id)
    await execute1(conn, "UPDATE settlement.settlements SET status = 'settled' WHERE setl_id = $1", b["s"].setl_id)
    return {(REVERSALS, b["r"].setl_id): f"reverses a reversal {a['r'].setl_id}"}


@mutation(REVERSALS, "the original is missing (foreign key dropped)", build=settled_and_cancelled)
async def _(conn, x):
    s, r = x["s"], x["r"]
    fk = await conn.fetchval(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'settlement.settlements'::regclass AND contype = 'f' "
        "AND confrelid = 'settlement.settlements'::regclass")
    await drop_constraint(conn, "settlement.settlements", fk)
    missing = "S" + s.setl_id + "GONE"
    await execute1(conn, "UPDATE settlement.settlements SET reverses_setl_id = $2 WHERE setl_id = $1", r.setl_id, missing)
    await execute1(conn, "UPDATE settlement.settlements SET status = 'settled' WHERE setl_id = $1", s.setl_id)
    return {(REVERSALS, r.setl_id): f"original {missing} missing"}


@mutation(CANCELLED, "a settlement marked cancelled without a reversal", build=one_settlement)
async def _(conn, x):
    s = x["s"].setl_id
    await execute1(conn, "UPDATE settlement.settlements SET status = 'cancelled' WHERE setl_id = $1", s)
    return {(CANCELLED, s): "cancelled without a reversal"}


@mutation(CLEARING, "a statement's amount altered", build=cleared_month)
async def _(conn, x):
    fund = x["s"].fund_pay_sumamt_fen
    await execute1(conn, "UPDATE settlement.clearing_statements SET fund_fen = fund_fen + 1 WHERE setlym = $1", x["ym"])
    return {(CLEARING, f"{x['ym']} {POOL_A}->{POOL_B}"): f"statement {fund + 1} but ledger {fund}"}


@mutation(CLEARING, "a statement missing", build=cleared_month)
async def _(conn, x):
    fund = x["s"].fund_pay_sumamt_fen
    await execute1(conn, "DELETE FROM settlement.clearing_statements WHERE setlym = $1", x["ym"])
    return {(CLEARING, f"{x['ym']} {POOL_A}->{POOL_B}"): f"statement 0 but ledger {fund}"}


# ----------------------------------------------------------------------------- the tests

def test_every_check_of_the_auditor_has_a_mutation():
    names = [name for name, _ in CHECKS]
    assert len(names) == 12 == len(set(names))
    assert {m.check for m in MUTATIONS} == set(names)


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.id for m in MUTATIONS])
async def test_the_auditor_names_the_corrupted_invariant(m: Mutation, stub, upstream, clock, db_pool, database_url,
                                                         uid):
    x = await m.build(Env(stub, upstream, clock, db_pool, uid))
    async with corrupting(database_url) as conn:
        expected = await m.corrupt(conn, x)
        found = await audit(conn)
    report = "\n".join(map(str, found)) or "(nothing)"
    assert {v.check for v in found} == {m.check} | m.also, report
    assert {(v.check, v.row): v.detail for v in found} == expected, report
    assert len(found) == len(expected), report
