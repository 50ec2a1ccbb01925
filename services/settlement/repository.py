"""Storage of the settlement service (schema `settlement`, infra/migrations/settlement/): the one
place with SQL, speaking domain types.

`SettlementRepository` wraps one asyncpg connection, or the pool itself for single statements in
autocommit (the settle path's read and its booking: each takes a pooled connection for one round
trip). It opens no transaction of its own: the use cases decide where transactions begin and
end (`transaction()`), and take row locks through it (FOR UPDATE reads, the accumulator lock,
the clearing month's advisory lock). Conflicts the use cases react to are raised as the
exceptions right below.

A settlement is booked by ONE implementation, the SQL function settlement.book_settlement
(migration 0002): the optimistic path calls it in autocommit, the pessimistic fallback calls it
inside a transaction after locking the accumulator row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from decimal import Decimal
from typing import Any

import asyncpg

from services.common.journal import JournalEffect, JournalRequest, MsgidTaken
from services.engine.model import NO_EARLIER_SETTLEMENT, AdmissionSoFar, FeeItem
from services.settlement.codec import result_from_json, result_to_json
from services.settlement.domain import (
    AccumulatorRow,
    ClearingApplicationOrder,
    ClearingRun,
    ClearingStatement,
    Effect,
    FeeLine,
    FundPayment,
    JournalNote,
    NetPosition,
    PlatformMonth,
    PlatformRow,
    PlatformTotals,
    Settlement,
    SettlementWhereabouts,
    SettleState,
    Transaction,
    Visit,
)
from services.settlement.ledger import LedgerEntry

__all__ = ["Contended", "MsgidTaken", "SettlementRepository", "StaleAccumulators", "StaleVisit", "connection",
           "keep_session"]


class Contended(Exception):
    """What a settlement was computed on changed, or its booking lost a race: recompute and retry."""


class StaleAccumulators(Contended):
    """The accumulator row changed since it was read (a concurrent settlement of this person)."""


class StaleVisit(Contended):
    """The visit or its fee list changed since it was read."""


class StaleStatus(Contended):
    """The person's eligibility status changed since the snapshot the settlement computed on
    (its status version is no longer the current one): ask eligibility again."""


class Deadlocked(Contended):
    """PostgreSQL broke a lock cycle by aborting this booking: the pessimistic fallback locks the
    accumulator row before book_settlement claims the msgid, the optimistic path claims first, so
    a copy of the same msgid in flight on the other path can close a cycle (a rare race, after
    deadlock_timeout; the retry then replays the reply of the one that booked)."""


def _columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


SETTLEMENT_COLUMNS = _columns(Settlement)
VISIT_COLUMNS = _columns(Visit)
FEE_COLUMNS = tuple(c for c in _columns(FeeLine) if c != "setl_id")  # what an upload writes
TRANSACTION_COLUMNS = _columns(Transaction)

# ----------------------------------------------------------------------------- named queries

Q_TRANSACTION = f"""
SELECT {', '.join(TRANSACTION_COLUMNS)}
FROM settlement.transactions WHERE fixmedins_code = $1 AND msgid = $2
"""
Q_TRANSACTION_FOR_UPDATE = Q_TRANSACTION.strip() + " FOR UPDATE"

Q_CLAIM = """
INSERT INTO settlement.transactions (fixmedins_code, msgid, infno, digest, reply, effect)
VALUES ($1, $2, $3, $4, ''::bytea, $5)
ON CONFLICT (fixmedins_code, msgid) DO NOTHING
RETURNING 1
"""

Q_SET_REPLY = """
UPDATE settlement.transactions SET reply = $3, setl_id = $4, mdtrt_id = $5, undo = $6
WHERE fixmedins_code = $1 AND msgid = $2
"""

Q_MARK_REVERSED = """
UPDATE settlement.transactions SET reversed_by = $3
WHERE fixmedins_code = $1 AND msgid = $2 AND reversed_by IS NULL
"""

# What an admission's settlements in force (an interim one, 中途结算) already did: how many and
# the deductible they charged (DOMAIN.md §5: one deductible per admission).
_ADMISSION_SO_FAR = """
SELECT count(*) AS n, coalesce(sum(s.act_pay_dedc), 0)::bigint AS dedc
FROM settlement.settlements s WHERE s.mdtrt_id = {visit} AND s.status = 'settled'"""
Q_ADMISSION_SO_FAR = _ADMISSION_SO_FAR.format(visit="$1")

# Everything the settle path reads, in one round trip before BEGIN: the journal row of this
# msgid (a retry is answered from it), the visit, its unsettled fees, the accumulator row and,
# for an admission, what its settlements in force already did.
Q_SETTLE_STATE = f"""
SELECT {', '.join(f't.{c} AS t_{c}' for c in TRANSACTION_COLUMNS)},
       {', '.join(f'v.{c}' for c in VISIT_COLUMNS)},
       a.data AS acc_data, a.caps AS acc_caps, a.version AS acc_version,
       CASE WHEN v.kind = 'inpatient' THEN
            (SELECT ARRAY[so.n, so.dedc] FROM ({_ADMISSION_SO_FAR.format(visit="v.mdtrt_id")}) so) END AS admission,
       (SELECT json_agg(json_build_object(
                 'sn', f.feedetl_sn, 'code', f.med_list_codg, 'cnt', f.cnt::text, 'pric', f.pric_fen,
                 'amt', f.det_item_fee_sumamt_fen, 'name', f.name, 't', f.fee_ocur_time) ORDER BY f.seq, f.feedetl_sn)
        FROM settlement.fee_details f WHERE f.mdtrt_id = v.mdtrt_id AND f.setl_id IS NULL) AS fees
FROM (SELECT 1) AS one
LEFT JOIN settlement.transactions t ON t.fixmedins_code = $2 AND t.msgid = $3
LEFT JOIN settlement.visits v ON v.mdtrt_id = $1
LEFT JOIN settlement.accumulators a
       ON a.psn_no = v.psn_no AND a.insutype = v.insutype AND a.year = extract(year FROM v.begntime)::int
"""

Q_ACCUMULATORS = """
SELECT data, caps, version FROM settlement.accumulators WHERE psn_no = $1 AND insutype = $2 AND year = $3
"""

# The pessimistic fallback after repeated version conflicts: make sure the row exists (version 0
# if new, which the version-checked write then accepts), then lock it for this transaction.
Q_ACCUMULATORS_ENSURE = """
INSERT INTO settlement.accumulators (psn_no, insutype, year, data, caps, version)
VALUES ($1, $2, $3, '{}'::jsonb, '{}'::jsonb, 0) ON CONFLICT DO NOTHING
"""
Q_ACCUMULATORS_LOCK = Q_ACCUMULATORS.strip() + " FOR UPDATE"

# Conditional update: succeeds only if nobody moved the row since we read `version` ($6).
# A missing row was read as version 0 and is inserted as version 1.
Q_ACCUMULATORS_WRITE = """
INSERT INTO settlement.accumulators AS a (psn_no, insutype, year, data, caps, version)
VALUES ($1, $2, $3, $4, $5, 1)
ON CONFLICT (psn_no, insutype, year) DO UPDATE
   SET data = EXCLUDED.data, caps = EXCLUDED.caps, version = a.version + 1, updated_at = now()
   WHERE a.version = $6
RETURNING a.version
"""

# The booking in ONE call (infra/migrations/settlement/0002_book_settlement.sql): claim,
# version-checked accumulators, visit, settlement, fund lines, ledger, fees. In autocommit the call
# is one implicit transaction; inside the fallback's transaction it is part of it. SQLSTATEs that
# mean "recompute and retry" (_contended):
# The call goes through book_settlement_checked (migration 0020): the person's eligibility status
# version ($20) is checked FOR SHARE in the same transaction first (MS003: stale snapshot).
Q_BOOK_SETTLEMENT = ("SELECT r_booked FROM settlement.book_settlement_checked("
                     + ", ".join(f"${i}" for i in range(1, 21)) + ")")
SQLSTATE_STALE_ACCUMULATORS = "MS001"
SQLSTATE_STALE_VISIT = "MS002"
SQLSTATE_STALE_STATUS = "MS003"
SQLSTATE_DEADLOCK = "40P01"


@contextmanager
def _contended() -> Iterator[None]:
    """The SQLSTATEs of a booking that mean "recompute and retry", as Contended."""
    try:
        yield
    except asyncpg.PostgresError as e:
        state = getattr(e, "sqlstate", None)
        if state == SQLSTATE_STALE_ACCUMULATORS:
            raise StaleAccumulators() from None
        if state == SQLSTATE_STALE_VISIT:
            raise StaleVisit() from None
        if state == SQLSTATE_STALE_STATUS:
            raise StaleStatus() from None
        if state == SQLSTATE_DEADLOCK:
            raise Deadlocked() from None
        raise


# By the primary key's visit prefix: no index on setl_id (migration 0021).
Q_FEES_RELEASE = "UPDATE settlement.fee_details SET setl_id = NULL WHERE mdtrt_id = $2 AND setl_id = $1"

Q_VISIT_UNSETTLE = """
UPDATE settlement.visits
SET status = CASE WHEN kind = 'inpatient' AND endtime IS NOT NULL THEN 'discharged' ELSE 'open' END,
    updated_at = now()
WHERE mdtrt_id = $1 AND status = 'settled'
"""

_CASTS = {"ratio": "::numeric"}
Q_INSERT_SETTLEMENT = (
    f"INSERT INTO settlement.settlements ({', '.join(SETTLEMENT_COLUMNS)}) VALUES ("
    + ", ".join(f"${i + 1}{_CASTS.get(c, '')}" for i, c in enumerate(SETTLEMENT_COLUMNS)) + ")"
)

Q_INSERT_FUNDS = """
INSERT INTO settlement.settlement_funds
    (setl_id, line_no, fund_pay_type, fund_pay_type_name, inscp_scp_amt_fen, crt_payb_lmt_amt_fen,
     fund_payamt_fen, setl_proc_info)
SELECT $1, * FROM unnest($2::smallint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[])
"""

Q_INSERT_LEDGER = """
INSERT INTO settlement.ledger_entries
    (setl_id, insured_pool, treatment_pool, setlym, entry_no, transfer_no, leg, account, fund_pay_type, amount_fen)
SELECT $1, $2, $3, $4, * FROM unnest($5::smallint[], $6::smallint[], $7::text[], $8::text[], $9::text[], $10::bigint[])
"""

_SETTLEMENT_SELECT = f"SELECT {', '.join(SETTLEMENT_COLUMNS)} FROM settlement.settlements"
Q_SETTLEMENT = _SETTLEMENT_SELECT + " WHERE setl_id = $1"
Q_SETTLEMENT_OF_VISIT = _SETTLEMENT_SELECT + """
WHERE mdtrt_id = $1 AND status <> 'reversal'
ORDER BY setl_time DESC, setl_id DESC LIMIT 1
"""
# The patient's own settlements (every state: settled, cancelled, reversal), newest first;
# $2 = 0: every business year.
Q_PERSON_SETTLEMENTS = _SETTLEMENT_SELECT + """
WHERE psn_no = $1 AND ($2 = 0 OR year = $2)
ORDER BY setl_time DESC, setl_id DESC LIMIT $3
"""
Q_FUNDS_OF = """
SELECT setl_id, fund_pay_type, fund_pay_type_name, inscp_scp_amt_fen, crt_payb_lmt_amt_fen, fund_payamt_fen,
       setl_proc_info
FROM settlement.settlement_funds WHERE setl_id = any($1::text[]) ORDER BY setl_id, line_no
"""
Q_SETTLEMENT_FUNDS = """
SELECT fund_pay_type, fund_pay_type_name, inscp_scp_amt_fen, crt_payb_lmt_amt_fen, fund_payamt_fen, setl_proc_info
FROM settlement.settlement_funds WHERE setl_id = $1 ORDER BY line_no
"""
# An interim settlement (mid_setl_flag) leaves the admission open: "settled" is not only a visit status.
Q_VISIT_HAS_SETTLEMENT = """
SELECT setl_id FROM settlement.settlements WHERE mdtrt_id = $1 AND status = 'settled' LIMIT 1
"""
Q_CANCEL_ORIGINAL = "UPDATE settlement.settlements SET status = 'cancelled' WHERE setl_id = $1 AND status = 'settled'"

Q_LOCK_MONTH = "SELECT pg_advisory_xact_lock($1)"

_VISIT_SELECT = f"SELECT {', '.join(VISIT_COLUMNS)} FROM settlement.visits WHERE mdtrt_id = $1"
Q_VISIT = _VISIT_SELECT

# 5206: does the hospital treat the person (an open visit, or one begun since $3)?
Q_TREATS = """
SELECT EXISTS (SELECT 1 FROM settlement.visits
               WHERE psn_no = $1 AND fixmedins_code = $2 AND status <> 'cancelled'
                 AND (status IN ('open', 'discharged') OR begntime >= $3))
"""
Q_VISIT_FOR_UPDATE = _VISIT_SELECT + " FOR UPDATE"

Q_INSERT_VISIT = f"""
INSERT INTO settlement.visits (mdtrt_id, fixmedins_code, psn_no, insutype, insured_pool, kind, med_type, begntime,
    status, ipt_otp_no, dise_codg, dise_name, dept_code, dept_name, atddr_no, dr_name, mdtrt_cert_type,
    mdtrt_cert_no, emergency, snapshot)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
RETURNING {', '.join(VISIT_COLUMNS)}
"""

Q_UPDATE_VISIT = f"""
UPDATE settlement.visits SET status = $2, med_type = $3, begntime = $4, endtime = $5, dise_codg = $6,
    dise_name = $7, emergency = $8, dscg_way = $9, updated_at = now()
WHERE mdtrt_id = $1 RETURNING {', '.join(VISIT_COLUMNS)}
"""

Q_BUMP_FEES_VERSION = "UPDATE settlement.visits SET fees_version = fees_version + 1, updated_at = now() WHERE mdtrt_id = $1"

_FEE_TYPES = {"cnt": "numeric", "pric_fen": "bigint", "det_item_fee_sumamt_fen": "bigint", "selfpay_prop": "numeric",
              "pric_uplmt_amt_fen": "bigint", "fulamt_ownpay_fen": "bigint", "overlmt_fen": "bigint",
              "preselfpay_fen": "bigint", "inscp_fen": "bigint", "seq": "integer"}  # the rest: text
Q_UPSERT_FEES = (
    f"INSERT INTO settlement.fee_details ({', '.join(FEE_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{_FEE_TYPES.get(c, 'text')}[]" for i, c in enumerate(FEE_COLUMNS)) + ") "
    + "ON CONFLICT (mdtrt_id, feedetl_sn) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in FEE_COLUMNS[2:]) + ", uploaded_at = now() "
    + "WHERE settlement.fee_details.setl_id IS NULL"
)
Q_FEES_OF_VISIT = f"""
SELECT {', '.join(_columns(FeeLine))}
FROM settlement.fee_details WHERE mdtrt_id = $1 ORDER BY seq, feedetl_sn
"""
Q_DELETE_FEES = """
DELETE FROM settlement.fee_details WHERE mdtrt_id = $1 AND setl_id IS NULL AND feedetl_sn = any($2::text[])
"""
Q_MAX_SEQ = "SELECT coalesce(max(seq), 0) FROM settlement.fee_details WHERE mdtrt_id = $1"

# ----------------------------------------------------------------------------- reconciliation (3201/3202)

Q_TOTALS = """
SELECT count(*) FILTER (WHERE reverses_setl_id IS NULL) - count(*) FILTER (WHERE reverses_setl_id IS NOT NULL) AS setl_cnt,
       coalesce(sum(medfee_sumamt), 0)::bigint AS medfee, coalesce(sum(fund_pay_sumamt), 0)::bigint AS fund,
       coalesce(sum(acct_pay), 0)::bigint AS acct
FROM settlement.settlements
WHERE fixmedins_code = $1 AND setl_date BETWEEN $2 AND $3
  AND ($4 = '' OR insutype = $4) AND ($5 = '' OR clr_type = $5) AND ($6 = '' OR insured_pool = $6)
"""

# Originals only: a cancelled original is reported with its refund flag, as the HIS lists it.
Q_DETAIL = """
SELECT setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt, acct_pay, status, setl_date
FROM settlement.settlements
WHERE fixmedins_code = $1 AND setl_date BETWEEN $2 AND $3 AND reverses_setl_id IS NULL
  AND ($4 = '' OR insutype = $4) AND ($5 = '' OR clr_type = $5)
ORDER BY setl_id
"""
Q_ANYWHERE = ("SELECT setl_id, fixmedins_code, setl_date, reverses_setl_id FROM settlement.settlements "
              "WHERE setl_id = any($1::text[])")

# ----------------------------------------------------------------------------- clearing (3203, monthly run)

# Per pool pair, from the month's advance legs: fund payments and personal-account payments (310200,
# their own line) advanced by the treatment pool; the rows carried over into the month after their
# own month's run (carried_from, migration 0010), counted and summed on a line of their own too.
Q_STATEMENTS_FROM_LEDGER = """
WITH adv AS (
    SELECT setl_id, insured_pool, treatment_pool,
           -coalesce(sum(amount_fen) FILTER (WHERE fund_pay_type <> '310200'), 0) AS fund,
           -coalesce(sum(amount_fen) FILTER (WHERE fund_pay_type = '310200'), 0) AS acct
    FROM settlement.ledger_entries
    WHERE setlym = $1 AND leg = 'advance' AND account LIKE 'clearing:%'
    GROUP BY setl_id, insured_pool, treatment_pool)
SELECT a.insured_pool, a.treatment_pool,
       sum(CASE WHEN s.reverses_setl_id IS NULL THEN 1 ELSE -1 END)::bigint AS settlement_count,
       sum(a.fund)::bigint AS fund_fen, sum(a.acct)::bigint AS acct_fen,
       count(*) FILTER (WHERE s.carried_from IS NOT NULL) AS carried_over_count,
       coalesce(sum(a.fund + a.acct) FILTER (WHERE s.carried_from IS NOT NULL), 0)::bigint AS carried_over_fen
FROM adv a JOIN settlement.settlements s USING (setl_id)
GROUP BY a.insured_pool, a.treatment_pool
ORDER BY a.insured_pool, a.treatment_pool
"""
Q_RUN = "SELECT run_id, setlym, created_at FROM settlement.clearing_runs WHERE setlym = $1"
Q_RUN_STATEMENTS = """
SELECT insured_pool, treatment_pool, settlement_count, fund_fen, acct_fen, carried_over_count, carried_over_fen
FROM settlement.clearing_statements WHERE run_id = $1 ORDER BY insured_pool, treatment_pool
"""
# A settlement's ledger rows, for its reversal to negate exactly (whatever rule booked them).
Q_LEDGER_OF = """
SELECT entry_no, transfer_no, leg, account, fund_pay_type, amount_fen FROM settlement.ledger_entries
WHERE setl_id = $1 ORDER BY entry_no
"""
Q_RUN_POSITIONS = """
SELECT pool, receivable_fen, payable_fen, net_fen FROM settlement.clearing_positions WHERE run_id = $1 ORDER BY pool
"""
Q_INSERT_RUN = """
INSERT INTO settlement.clearing_runs (run_id, setlym, settlement_count, fund_fen, created_at) VALUES ($1, $2, $3, $4, $5)
"""
Q_INSERT_STATEMENTS = """
INSERT INTO settlement.clearing_statements (run_id, setlym, insured_pool, treatment_pool, settlement_count, fund_fen,
                                            acct_fen, carried_over_count, carried_over_fen)
SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
"""
Q_INSERT_POSITIONS = """
INSERT INTO settlement.clearing_positions (run_id, setlym, pool, receivable_fen, payable_fen, net_fen)
SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
"""
Q_HOSPITAL_MONTH = """
SELECT count(*) FILTER (WHERE reverses_setl_id IS NULL) - count(*) FILTER (WHERE reverses_setl_id IS NOT NULL) AS psntime,
       coalesce(sum(medfee_sumamt), 0)::bigint AS medfee, coalesce(sum(fund_pay_sumamt), 0)::bigint AS fund,
       coalesce(sum(psn_cash_pay), 0)::bigint AS cash, coalesce(sum(acct_pay), 0)::bigint AS acct
FROM settlement.settlements WHERE fixmedins_code = $1 AND setlym = $2 AND ($3 = '' OR clr_type = $3)
"""
Q_INSERT_APPLICATION = """
INSERT INTO settlement.clearing_applications (clr_appy_evt_id, fixmedins_code, msgid, setlym, clr_type, clr_way,
    psntime, medfee_sumamt_fen, fund_appy_sum_fen, cash_payamt_fen, acct_pay_fen, begndate, enddate,
    platform_psntime, platform_medfee_fen, platform_fund_fen, status, memo)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
"""


def clearing_lock_key(setlym: str) -> int:
    """One advisory lock per clearing month: every booking takes it shared (the triggers of migration
    0010, which spell out this key), the run exclusive."""
    return 0x636C_0000_0000 + int(setlym)


# ----------------------------------------------------------------------------- pool

async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's release hook for this process (main.py): nothing to undo. asyncpg has already
    rolled back any open transaction; the settlement code leaves no session state on a pooled
    connection (advisory locks are transaction-scoped, no SET, no cursors WITH HOLD; LISTEN only
    on the reference cache's own held connection), so asyncpg's default reset (advisory unlock,
    CLOSE ALL, UNLISTEN, RESET ALL) would be one more round trip per release for nothing: two
    per 2207 (the state read and the booking each take a connection once)."""


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[SettlementRepository]:
    """A repository over one pooled connection, released on exit."""
    async with pool.acquire() as conn:
        yield SettlementRepository(conn)


# ----------------------------------------------------------------------------- rows -> domain

_T_KEYS = tuple(f"t_{c}" for c in TRANSACTION_COLUMNS)  # the journal columns of Q_SETTLE_STATE
_settlement_values = operator.attrgetter(*SETTLEMENT_COLUMNS)


def _visit(r: asyncpg.Record) -> Visit:
    return Visit(*map(r.__getitem__, VISIT_COLUMNS))


def _transaction(r: asyncpg.Record, keys: tuple[str, ...] = TRANSACTION_COLUMNS) -> Transaction:
    t = Transaction(*map(r.__getitem__, keys))
    return dataclasses.replace(t, digest=bytes(t.digest), reply=bytes(t.reply), undo=t.undo or {})


def _settlement(r: asyncpg.Record) -> Settlement:
    values = dict(zip(SETTLEMENT_COLUMNS, r, strict=True))
    values["result"] = result_from_json(values["result"])
    return Settlement(**values)


def _fee(r: asyncpg.Record) -> FeeLine:
    return FeeLine(*r)


def _settlement_params(s: Settlement) -> list[Any]:
    out = list(_settlement_values(s))
    out[SETTLEMENT_COLUMNS.index("result")] = result_to_json(s.result)
    return out


def _settlement_json(s: Settlement) -> dict[str, Any]:
    """The settlement row as book_settlement's jsonb_populate_record reads it."""
    out = dict(zip(SETTLEMENT_COLUMNS, _settlement_values(s), strict=True))
    out.update(ratio=str(s.ratio), setl_time=s.setl_time.isoformat(), setl_date=s.setl_date.isoformat(),
               result=result_to_json(s.result))
    return out


def _fund_json(i: int, f: FundPayment) -> dict[str, Any]:
    return {"line_no": i, "fund_pay_type": f.fund_pay_type, "fund_pay_type_name": f.fund_pay_type_name,
            "inscp_scp_amt_fen": f.inscp_scp_amt_fen, "crt_payb_lmt_amt_fen": f.crt_payb_lmt_amt_fen,
            "fund_payamt_fen": f.fund_payamt_fen, "setl_proc_info": f.setl_proc_info}


def _entry_json(e: LedgerEntry) -> dict[str, Any]:
    return {"entry_no": e.entry_no, "transfer_no": e.transfer_no, "leg": e.leg, "account": e.account,
            "fund_pay_type": e.fund_pay_type, "amount_fen": e.amount_fen}


@dataclasses.dataclass(frozen=True, slots=True)
class Booking:
    """A computed settlement, ready to book: the row, its fund lines and ledger entries, the
    accumulators it leaves (with the version they were read at), the visit status it leaves and
    the visit's fee list it was computed on."""

    settlement: Settlement
    funds: tuple[FundPayment, ...]
    entries: tuple[LedgerEntry, ...]
    accumulators: AccumulatorRow
    visit_status: str
    fees_version: int
    fee_sns: tuple[str, ...]
    status_version: int = 0  # of the eligibility snapshot computed on (checked inside the booking)


class SettlementRepository:
    """The settlement schema over one connection (or the pool: each call its own round trip)."""

    __slots__ = ("_db",)

    def __init__(self, db: asyncpg.Connection | asyncpg.Pool) -> None:
        self._db = db

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        tx: AbstractAsyncContextManager[Any] = self._db.transaction()  # asyncpg is untyped
        return tx

    # ------------------------------------------------------------------------- journal (journal.JournalStore)

    async def journal_entry(self, hospital: str, msgid: str, *, for_update: bool = False) -> Transaction | None:
        r = await self._db.fetchrow(Q_TRANSACTION_FOR_UPDATE if for_update else Q_TRANSACTION, hospital, msgid)
        return None if r is None else _transaction(r)

    async def claim(self, request: JournalRequest, effect: JournalEffect) -> None:
        got = await self._db.fetchval(Q_CLAIM, request.hospital, request.msgid, request.infno_for(effect),
                                      request.digest, effect.value)
        if got is None:
            raise MsgidTaken()

    async def complete(self, request: JournalRequest, reply: bytes, note: JournalNote) -> None:
        await self._db.execute(Q_SET_REPLY, request.hospital, request.msgid, reply, note.setl_id, note.mdtrt_id,
                               dict(note.undo or {}))

    async def mark_reversed(self, hospital: str, msgid: str, by_msgid: str) -> bool:
        status: str = await self._db.execute(Q_MARK_REVERSED, hospital, msgid, by_msgid)
        return status == "UPDATE 1"

    # ------------------------------------------------------------------------- settle path

    async def settle_state(self, mdtrt_id: str, hospital: str, msgid: str) -> SettleState:
        r = await self._db.fetchrow(Q_SETTLE_STATE, mdtrt_id, hospital, msgid)
        fees = tuple(FeeItem(f["sn"], f["code"], Decimal(f["cnt"]), int(f["pric"]), int(f["amt"]), f["name"] or "")
                     for f in r["fees"] or ())
        return SettleState(
            journal=None if r["t_msgid"] is None else _transaction(r, _T_KEYS),
            visit=None if r["mdtrt_id"] is None else _visit(r),
            fees=fees, fee_times=tuple(f.get("t") or "" for f in r["fees"] or ()),
            accumulators=AccumulatorRow(dict(r["acc_data"] or {}), dict(r["acc_caps"] or {}), r["acc_version"] or 0),
            admission=NO_EARLIER_SETTLEMENT if r["admission"] is None else AdmissionSoFar(*r["admission"]))

    async def admission_so_far(self, mdtrt_id: str) -> AdmissionSoFar:
        """The visit's settlements in force: how many, and the deductible they charged."""
        r = await self._db.fetchrow(Q_ADMISSION_SO_FAR, mdtrt_id)
        return AdmissionSoFar(r["n"], r["dedc"])

    async def book_settlement(self, request: JournalRequest, reply: bytes, b: Booking) -> bool:
        """Book a computed settlement in one call of settlement.book_settlement: claim, version-
        checked accumulators, visit, row, fund lines, ledger, fees. False when the msgid was
        already taken (nothing booked); StaleAccumulators / StaleVisit when what the engine
        computed on changed meanwhile; Deadlocked when PostgreSQL aborted it to break a cycle."""
        s = b.settlement
        with _contended():
            booked: bool = await self._db.fetchval(
                Q_BOOK_SETTLEMENT, request.hospital, request.msgid, request.infno_for(Effect.SETTLE), request.digest,
                reply, s.psn_no, s.mdtrt_id, s.setl_id, s.insutype, s.year, b.accumulators.data, b.accumulators.caps,
                b.accumulators.version, b.visit_status, b.fees_version, list(b.fee_sns), _settlement_json(s),
                [_fund_json(i, f) for i, f in enumerate(b.funds)], [_entry_json(e) for e in b.entries],
                b.status_version)
            return booked

    async def read_accumulators(self, psn_no: str, insutype: str, year: int) -> AccumulatorRow:
        r = await self._db.fetchrow(Q_ACCUMULATORS, psn_no, insutype, year)
        if r is None:
            return AccumulatorRow()
        return AccumulatorRow(dict(r["data"]), dict(r["caps"]), r["version"])

    async def lock_accumulators(self, psn_no: str, insutype: str, year: int) -> AccumulatorRow:
        """The accumulator row, created if missing and locked until the transaction ends."""
        with _contended():
            await self._db.execute(Q_ACCUMULATORS_ENSURE, psn_no, insutype, year)
            r = await self._db.fetchrow(Q_ACCUMULATORS_LOCK, psn_no, insutype, year)
        return AccumulatorRow(dict(r["data"]), dict(r["caps"]), r["version"])

    async def write_accumulators(self, psn_no: str, insutype: str, year: int, row: AccumulatorRow) -> None:
        """Write the row if it is still at the version it was read at (row.version)."""
        got = await self._db.fetchval(Q_ACCUMULATORS_WRITE, psn_no, insutype, year, dict(row.data), dict(row.caps),
                                      row.version)
        if got is None:
            raise StaleAccumulators()

    # ------------------------------------------------------------------------- settlements

    async def insert_settlement(self, s: Settlement, funds: Sequence[FundPayment],
                                entries: Sequence[LedgerEntry]) -> None:
        """A reversal's row, fund lines and ledger entries (a settlement is booked by book_settlement)."""
        await self._db.execute(Q_INSERT_SETTLEMENT, *_settlement_params(s))
        if funds:
            await self._db.execute(
                Q_INSERT_FUNDS, s.setl_id, list(range(len(funds))),
                [f.fund_pay_type for f in funds], [f.fund_pay_type_name for f in funds],
                [f.inscp_scp_amt_fen for f in funds], [f.crt_payb_lmt_amt_fen for f in funds],
                [f.fund_payamt_fen for f in funds], [f.setl_proc_info for f in funds])
        if entries:
            await self._db.execute(
                Q_INSERT_LEDGER, s.setl_id, s.insured_pool, s.treatment_pool, s.setlym,
                [e.entry_no for e in entries], [e.transfer_no for e in entries], [e.leg for e in entries],
                [e.account for e in entries], [e.fund_pay_type for e in entries], [e.amount_fen for e in entries])

    async def ledger_of(self, setl_id: str) -> list[LedgerEntry]:
        """A settlement's ledger rows in entry order."""
        return [LedgerEntry(*r) for r in await self._db.fetch(Q_LEDGER_OF, setl_id)]

    async def settlement(self, setl_id: str) -> Settlement | None:
        r = await self._db.fetchrow(Q_SETTLEMENT, setl_id)
        return None if r is None else _settlement(r)

    async def settlement_of_visit(self, mdtrt_id: str) -> Settlement | None:
        """The visit's latest settlement that is not a reversal."""
        r = await self._db.fetchrow(Q_SETTLEMENT_OF_VISIT, mdtrt_id)
        return None if r is None else _settlement(r)

    async def person_settlements(self, psn_no: str, year: int, limit: int) -> list[Settlement]:
        """The person's settlements of business year `year` (0: every year), newest first."""
        return [_settlement(r) for r in await self._db.fetch(Q_PERSON_SETTLEMENTS, psn_no, year, limit)]

    async def funds_of(self, setl_ids: list[str]) -> dict[str, tuple[FundPayment, ...]]:
        """The fund lines of each settlement, in line order."""
        out: dict[str, list[FundPayment]] = {i: [] for i in setl_ids}
        for r in await self._db.fetch(Q_FUNDS_OF, setl_ids):
            out[r["setl_id"]].append(FundPayment(*tuple(r)[1:]))
        return {k: tuple(v) for k, v in out.items()}

    async def settlement_funds(self, setl_id: str) -> tuple[FundPayment, ...]:
        return tuple(FundPayment(*r) for r in await self._db.fetch(Q_SETTLEMENT_FUNDS, setl_id))

    async def active_settlement_of_visit(self, mdtrt_id: str) -> str | None:
        """The setl_id of a settlement of the visit that is not cancelled, if any."""
        setl_id: str | None = await self._db.fetchval(Q_VISIT_HAS_SETTLEMENT, mdtrt_id)
        return setl_id

    async def cancel_original(self, setl_id: str) -> bool:
        """Mark a settlement in force as cancelled (its row is locked until the transaction ends)."""
        status: str = await self._db.execute(Q_CANCEL_ORIGINAL, setl_id)
        return status == "UPDATE 1"

    async def release_fees(self, setl_id: str, mdtrt_id: str) -> None:
        await self._db.execute(Q_FEES_RELEASE, setl_id, mdtrt_id)

    async def unsettle_visit(self, mdtrt_id: str) -> None:
        await self._db.execute(Q_VISIT_UNSETTLE, mdtrt_id)

    # ------------------------------------------------------------------------- visits and fees

    async def treats(self, psn_no: str, hospital: str, since: dt.datetime) -> bool:
        """The hospital has an open visit of the person, or one that began at or after `since`."""
        return bool(await self._db.fetchval(Q_TREATS, psn_no, hospital, since))

    async def visit(self, mdtrt_id: str, *, for_update: bool = False) -> Visit | None:
        r = await self._db.fetchrow(Q_VISIT_FOR_UPDATE if for_update else Q_VISIT, mdtrt_id)
        return None if r is None else _visit(r)

    async def insert_visit(self, v: Visit) -> Visit:
        """A new open visit, as stored."""
        return _visit(await self._db.fetchrow(
            Q_INSERT_VISIT, v.mdtrt_id, v.fixmedins_code, v.psn_no, v.insutype, v.insured_pool, v.kind, v.med_type,
            v.begntime, v.ipt_otp_no, v.dise_codg, v.dise_name, v.dept_code, v.dept_name, v.atddr_no, v.dr_name,
            v.mdtrt_cert_type, v.mdtrt_cert_no, v.emergency, v.snapshot))

    async def update_visit(self, v: Visit) -> Visit:
        """Write what a visit's calls change (status, med_type, times, diagnosis, emergency, discharge way)."""
        return _visit(await self._db.fetchrow(
            Q_UPDATE_VISIT, v.mdtrt_id, v.status, v.med_type, v.begntime, v.endtime, v.dise_codg, v.dise_name,
            v.emergency, v.dscg_way))

    async def fees_of_visit(self, mdtrt_id: str) -> list[FeeLine]:
        return [_fee(r) for r in await self._db.fetch(Q_FEES_OF_VISIT, mdtrt_id)]

    async def next_fee_seq(self, mdtrt_id: str) -> int:
        return int(await self._db.fetchval(Q_MAX_SEQ, mdtrt_id)) + 1

    async def upsert_fees(self, lines: Iterable[FeeLine]) -> None:
        """Insert or replace unsettled fee lines of one visit; bumps the visit's fees_version."""
        lines = list(lines)
        if not lines:
            return
        await self._db.execute(Q_UPSERT_FEES, *([getattr(f, c) for f in lines] for c in FEE_COLUMNS))
        await self._db.execute(Q_BUMP_FEES_VERSION, lines[0].mdtrt_id)

    async def delete_fees(self, mdtrt_id: str, sns: Sequence[str]) -> int:
        """Delete unsettled fee lines; bumps the visit's fees_version."""
        status = await self._db.execute(Q_DELETE_FEES, mdtrt_id, list(sns))
        await self._db.execute(Q_BUMP_FEES_VERSION, mdtrt_id)
        return int(status.split()[-1])

    # ------------------------------------------------------------------------- reconciliation

    async def platform_totals(self, hospital: str, begin: dt.date, end: dt.date, *, insutype: str, clr_type: str,
                              insured_pool: str) -> PlatformTotals:
        return PlatformTotals(*await self._db.fetchrow(Q_TOTALS, hospital, begin, end, insutype, clr_type,
                                                       insured_pool))

    async def platform_rows(self, hospital: str, begin: dt.date, end: dt.date, *, insutype: str,
                            clr_type: str) -> list[PlatformRow]:
        """The hospital's original settlements of the period, by setl_id."""
        return [PlatformRow(*r) for r in await self._db.fetch(Q_DETAIL, hospital, begin, end, insutype, clr_type)]

    async def whereabouts(self, setl_ids: Iterable[str]) -> dict[str, SettlementWhereabouts]:
        rows = await self._db.fetch(Q_ANYWHERE, list(setl_ids))
        return {r["setl_id"]: SettlementWhereabouts(*r) for r in rows}

    # ------------------------------------------------------------------------- clearing

    async def lock_month(self, setlym: str) -> None:
        """Exclusive: waits for the month's bookings in flight (settlements and reversals take it shared in
        the triggers of migration 0010) and for a concurrent run."""
        await self._db.execute(Q_LOCK_MONTH, clearing_lock_key(setlym))

    async def clearing_run(self, setlym: str) -> ClearingRun | None:
        run = await self._db.fetchrow(Q_RUN, setlym)
        if run is None:
            return None
        statements = tuple(ClearingStatement(*r) for r in await self._db.fetch(Q_RUN_STATEMENTS, run["run_id"]))
        positions = tuple(NetPosition(*r) for r in await self._db.fetch(Q_RUN_POSITIONS, run["run_id"]))
        return ClearingRun(run["run_id"], run["setlym"], statements, positions, run["created_at"])

    async def statements_from_ledger(self, setlym: str) -> list[ClearingStatement]:
        """Per (insured pool → treatment pool): the month's advanced fund and account payments, settled minus
        reversed, and what was carried over into the month."""
        return [ClearingStatement(*r) for r in await self._db.fetch(Q_STATEMENTS_FROM_LEDGER, setlym)]

    async def insert_clearing_run(self, run_id: str, setlym: str, statements: Sequence[ClearingStatement],
                                  positions: Sequence[NetPosition], created_at: dt.datetime) -> None:
        await self._db.execute(Q_INSERT_RUN, run_id, setlym, sum(s.settlement_count for s in statements),
                               sum(s.fund_fen for s in statements), created_at)
        if statements:
            await self._db.execute(Q_INSERT_STATEMENTS, run_id, setlym, [s.insured_pool for s in statements],
                                   [s.treatment_pool for s in statements], [s.settlement_count for s in statements],
                                   [s.fund_fen for s in statements], [s.acct_fen for s in statements],
                                   [s.carried_over_count for s in statements],
                                   [s.carried_over_fen for s in statements])
            await self._db.execute(Q_INSERT_POSITIONS, run_id, setlym, [p.pool for p in positions],
                                   [p.receivable_fen for p in positions], [p.payable_fen for p in positions],
                                   [p.net_fen for p in positions])

    async def platform_month(self, hospital: str, setlym: str, clr_type: str) -> PlatformMonth:
        return PlatformMonth(*await self._db.fetchrow(Q_HOSPITAL_MONTH, hospital, setlym, clr_type))

    async def insert_clearing_application(self, evt_id: str, hospital: str, msgid: str, a: ClearingApplicationOrder,
                                          platform: PlatformMonth, status: str, memo: str) -> None:
        await self._db.execute(
            Q_INSERT_APPLICATION, evt_id, hospital, msgid, a.setlym, a.clr_type, a.clr_way, a.psntime,
            a.medfee_sumamt_fen, a.fund_appy_sum_fen, a.cash_payamt_fen, a.acct_pay_fen, a.begndate, a.enddate,
            platform.psntime, platform.medfee, platform.fund, status, memo)


# ----------------------------------------------------------------------------- operators (the console)
# Read-only questions across hospitals (services/settlement/operations.py). Each is one statement.

Q_OP_SETTLEMENTS = _SETTLEMENT_SELECT + """
WHERE ($1 = '' OR fixmedins_code = $1) AND ($2 = '' OR insured_pool = $2) AND ($3 = '' OR status = $3)
  AND ($4::date IS NULL OR setl_date >= $4) AND ($5::date IS NULL OR setl_date <= $5) AND ($6 = '' OR msgid = $6)
ORDER BY setl_time DESC, setl_id DESC LIMIT $7
"""
Q_OP_REVERSAL_OF = _SETTLEMENT_SELECT + " WHERE reverses_setl_id = $1"
Q_OP_JOURNAL_OF_VISIT = f"""
SELECT {', '.join(TRANSACTION_COLUMNS)}, created_at FROM settlement.transactions
WHERE fixmedins_code = $1 AND mdtrt_id = $2 ORDER BY created_at, msgid
"""
Q_OP_JOURNAL_ENTRY = f"""
SELECT {', '.join(TRANSACTION_COLUMNS)}, created_at FROM settlement.transactions
WHERE fixmedins_code = $1 AND msgid = $2
"""
Q_OP_LEDGER = """
SELECT setl_id, entry_no, transfer_no, leg, account, fund_pay_type, amount_fen FROM settlement.ledger_entries
WHERE setl_id = any($1::text[]) ORDER BY setl_id, entry_no
"""
Q_OP_FEES = "SELECT " + ", ".join(_columns(FeeLine)) + " FROM settlement.fee_details WHERE mdtrt_id = $1 ORDER BY seq"
Q_OP_DAILY = """
SELECT fixmedins_code, setl_date, insutype, clr_type,
       (count(*) FILTER (WHERE reverses_setl_id IS NULL) - count(*) FILTER (WHERE reverses_setl_id IS NOT NULL))::bigint,
       count(*) FILTER (WHERE reverses_setl_id IS NOT NULL)::bigint,
       coalesce(sum(medfee_sumamt), 0)::bigint, coalesce(sum(fund_pay_sumamt), 0)::bigint,
       coalesce(sum(acct_pay), 0)::bigint, coalesce(sum(psn_cash_pay), 0)::bigint
FROM settlement.settlements
WHERE ($1 = '' OR fixmedins_code = $1) AND setl_date BETWEEN $2 AND $3
GROUP BY fixmedins_code, setl_date, insutype, clr_type
ORDER BY setl_date DESC, fixmedins_code, insutype, clr_type
"""
Q_OP_APPLICATIONS = """
SELECT clr_appy_evt_id, fixmedins_code, setlym, status, memo, psntime, medfee_sumamt_fen, fund_appy_sum_fen,
       platform_psntime, platform_medfee_fen, platform_fund_fen, created_at
FROM settlement.clearing_applications
WHERE ($1 = '' OR fixmedins_code = $1) AND setlym = any($2::text[])
ORDER BY created_at DESC LIMIT 200
"""
Q_OP_RUN_MONTHS = "SELECT setlym FROM settlement.clearing_runs ORDER BY setlym DESC LIMIT $1"


class OperatorReads:
    """The SQL of the operators' questions (services/settlement/operations.py), on the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._db = pool
        self.repo = SettlementRepository(pool)

    async def settlements(self, hospital: str, pool: str, status: str, begin: dt.date | None, end: dt.date | None,
                          msgid: str, limit: int) -> list[Settlement]:
        rows = await self._db.fetch(Q_OP_SETTLEMENTS, hospital, pool, status, begin, end, msgid, limit)
        return [_settlement(r) for r in rows]

    async def reversal_of(self, setl_id: str) -> Settlement | None:
        r = await self._db.fetchrow(Q_OP_REVERSAL_OF, setl_id)
        return None if r is None else _settlement(r)

    async def journal_entry(self, hospital: str, msgid: str) -> tuple[Transaction, dt.datetime] | None:
        r = await self._db.fetchrow(Q_OP_JOURNAL_ENTRY, hospital, msgid)
        return None if r is None else (_transaction(r), r["created_at"])

    async def journal_of_visit(self, hospital: str, mdtrt_id: str) -> list[tuple[Transaction, dt.datetime]]:
        return [(_transaction(r), r["created_at"]) for r in await self._db.fetch(Q_OP_JOURNAL_OF_VISIT, hospital,
                                                                                  mdtrt_id)]

    async def ledger(self, setl_ids: list[str]) -> list[tuple[str, int, int, str, str, str, int]]:
        return [tuple(r) for r in await self._db.fetch(Q_OP_LEDGER, setl_ids)]

    async def fees(self, mdtrt_id: str) -> list[FeeLine]:
        return [_fee(r) for r in await self._db.fetch(Q_OP_FEES, mdtrt_id)]

    async def daily(self, hospital: str, begin: dt.date, end: dt.date) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self._db.fetch(Q_OP_DAILY, hospital, begin, end)]

    async def applications(self, hospital: str, months: list[str]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self._db.fetch(Q_OP_APPLICATIONS, hospital, months)]

    async def run_months(self, limit: int) -> list[str]:
        return [r["setlym"] for r in await self._db.fetch(Q_OP_RUN_MONTHS, limit)]
