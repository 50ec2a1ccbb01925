"""Storage of the settlement service (schema `settlement`, infra/migrations/settlement/).

Named queries at the top, small functions below. Every function takes a connection so the
service layer decides where the transaction boundaries are; none opens its own transaction.
Conflicts that the service must react to are raised as the exceptions right below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from services.settlement.ledger import LedgerEntry


class MsgidTaken(Exception):
    """The (hospital, msgid) was claimed by another transaction that committed first."""


class StaleAccumulators(Exception):
    """The accumulator row changed since it was read (a concurrent settlement of this person)."""


class StaleVisit(Exception):
    """The visit or its fee list changed since it was read."""


# ----------------------------------------------------------------------------- named queries

Q_TRANSACTION = """
SELECT fixmedins_code, msgid, infno, digest, reply, psn_no, mdtrt_id, setl_id, effect, undo, reversed_by
FROM settlement.transactions WHERE fixmedins_code = $1 AND msgid = $2
"""

Q_CLAIM = """
INSERT INTO settlement.transactions (fixmedins_code, msgid, infno, digest, reply, psn_no, mdtrt_id, setl_id, effect, undo)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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

# Everything the settle path reads, in one round trip before BEGIN: the journal row of this
# msgid (a retry is answered from it), the visit, its unsettled fees and the accumulator row.
Q_SETTLE_STATE = """
SELECT t.digest AS txn_digest, t.reply AS txn_reply,
       v.mdtrt_id, v.fixmedins_code, v.psn_no, v.insutype, v.insured_pool, v.kind, v.med_type,
       v.begntime, v.endtime, v.status, v.dise_codg, v.emergency, v.fees_version,
       a.data AS acc_data, a.caps AS acc_caps, a.version AS acc_version,
       (SELECT json_agg(json_build_object(
                 'sn', f.feedetl_sn, 'code', f.med_list_codg, 'cnt', f.cnt::text, 'pric', f.pric_fen,
                 'amt', f.det_item_fee_sumamt_fen, 'name', f.name) ORDER BY f.seq, f.feedetl_sn)
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
# if new, which the conditional upsert below then accepts), then lock it for this transaction.
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

# The optimistic booking in ONE round trip (infra/migrations/settlement/0002_book_settlement.sql):
# claim, version-checked accumulators, visit, settlement, fund lines, ledger, fees. Called in
# autocommit, so the call is one implicit transaction. SQLSTATEs it raises for the service to retry:
Q_BOOK_SETTLEMENT = "SELECT * FROM settlement.book_settlement(" + ", ".join(f"${i}" for i in range(1, 20)) + ")"
SQLSTATE_STALE_ACCUMULATORS = "MS001"
SQLSTATE_STALE_VISIT = "MS002"

Q_VISIT_SETTLE = """
UPDATE settlement.visits SET status = $2, updated_at = now()
WHERE mdtrt_id = $1 AND status IN ('open', 'discharged') AND fees_version = $3
"""

Q_FEES_TAKE = """
UPDATE settlement.fee_details SET setl_id = $2
WHERE mdtrt_id = $1 AND setl_id IS NULL AND feedetl_sn = any($3::text[])
"""

Q_FEES_RELEASE = "UPDATE settlement.fee_details SET setl_id = NULL WHERE setl_id = $1"

Q_VISIT_UNSETTLE = """
UPDATE settlement.visits
SET status = CASE WHEN kind = 'inpatient' AND endtime IS NOT NULL THEN 'discharged' ELSE 'open' END,
    updated_at = now()
WHERE mdtrt_id = $1 AND status = 'settled'
"""

SETTLEMENT_COLUMNS = (
    "setl_id", "mdtrt_id", "psn_no", "psn_name", "psn_type", "insutype", "year", "fixmedins_code",
    "insured_pool", "treatment_pool", "med_type", "line", "region_class", "filing_group", "ratio",
    "clr_type", "clr_way", "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
    "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay",
    "maf_pay", "oth_pay", "fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay",
    "hosp_part_amt", "balc_fen", "status", "reverses_setl_id", "setl_time", "setlym", "setl_date",
    "deltas", "caps", "result", "msgid",
)
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

Q_SETTLEMENT = "SELECT * FROM settlement.settlements WHERE setl_id = $1"
Q_SETTLEMENT_OF_VISIT = """
SELECT * FROM settlement.settlements WHERE mdtrt_id = $1 AND status <> 'reversal'
ORDER BY setl_time DESC, setl_id DESC LIMIT 1
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

Q_MONTH_CLEARED = "SELECT run_id FROM settlement.clearing_runs WHERE setlym = $1"

Q_VISIT = "SELECT * FROM settlement.visits WHERE mdtrt_id = $1"
Q_VISIT_FOR_UPDATE = "SELECT * FROM settlement.visits WHERE mdtrt_id = $1 FOR UPDATE"

Q_INSERT_VISIT = """
INSERT INTO settlement.visits (mdtrt_id, fixmedins_code, psn_no, insutype, insured_pool, kind, med_type, begntime,
    status, ipt_otp_no, dise_codg, dise_name, dept_code, dept_name, atddr_no, dr_name, mdtrt_cert_type,
    mdtrt_cert_no, emergency)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
RETURNING *
"""

Q_UPDATE_VISIT = """
UPDATE settlement.visits SET status = $2, med_type = $3, begntime = $4, endtime = $5, dise_codg = $6,
    dise_name = $7, emergency = $8, dscg_way = $9, updated_at = now()
WHERE mdtrt_id = $1 RETURNING *
"""

Q_BUMP_FEES_VERSION = "UPDATE settlement.visits SET fees_version = fees_version + 1, updated_at = now() WHERE mdtrt_id = $1"

FEE_COLUMNS = (
    "mdtrt_id", "feedetl_sn", "chrg_bchno", "fee_ocur_time", "med_list_codg", "medins_list_codg", "name",
    "cnt", "pric_fen", "det_item_fee_sumamt_fen", "chrgitm_lv", "selfpay_prop", "pric_uplmt_amt_fen",
    "fulamt_ownpay_fen", "overlmt_fen", "preselfpay_fen", "inscp_fen", "seq",
)
_FEE_TYPES = ("text", "text", "text", "text", "text", "text", "text", "numeric", "bigint", "bigint", "text",
              "numeric", "bigint", "bigint", "bigint", "bigint", "bigint", "integer")
Q_UPSERT_FEES = (
    f"INSERT INTO settlement.fee_details ({', '.join(FEE_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_FEE_TYPES)) + ") "
    + "ON CONFLICT (mdtrt_id, feedetl_sn) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in FEE_COLUMNS[2:]) + ", uploaded_at = now() "
    + "WHERE settlement.fee_details.setl_id IS NULL"
)
Q_FEES_OF_VISIT = """
SELECT mdtrt_id, feedetl_sn, chrg_bchno, fee_ocur_time, med_list_codg, medins_list_codg, name, cnt::text AS cnt,
       pric_fen, det_item_fee_sumamt_fen, chrgitm_lv, selfpay_prop::text AS selfpay_prop, pric_uplmt_amt_fen,
       fulamt_ownpay_fen, overlmt_fen, preselfpay_fen, inscp_fen, seq, setl_id
FROM settlement.fee_details WHERE mdtrt_id = $1 ORDER BY seq, feedetl_sn
"""
Q_DELETE_FEES = """
DELETE FROM settlement.fee_details WHERE mdtrt_id = $1 AND setl_id IS NULL AND feedetl_sn = any($2::text[])
"""
Q_MAX_SEQ = "SELECT coalesce(max(seq), 0) FROM settlement.fee_details WHERE mdtrt_id = $1"


# ----------------------------------------------------------------------------- pool

async def keep_session(conn) -> None:
    """The pool's release hook for this process (main.py): nothing to undo. asyncpg has already
    rolled back any open transaction; the settlement code leaves no session state on a pooled
    connection (advisory locks are transaction-scoped, no SET, no cursors WITH HOLD; LISTEN only
    on the reference cache's own held connection), so asyncpg's default reset (advisory unlock,
    CLOSE ALL, UNLISTEN, RESET ALL) would be one more round trip per release for nothing: two
    per 2207 (the state read and the booking each take a connection once)."""


# ----------------------------------------------------------------------------- journal

async def get_transaction(conn, code: str, msgid: str) -> asyncpg.Record | None:
    return await conn.fetchrow(Q_TRANSACTION, code, msgid)


async def claim(conn, *, code: str, msgid: str, infno: str, digest: bytes, reply: bytes = b"",
                psn_no: str = "", mdtrt_id: str = "", setl_id: str = "", effect: str = "",
                undo: dict | None = None) -> None:
    """Claim the msgid inside the caller's transaction; MsgidTaken if it is already taken.
    A concurrent claim of the same msgid waits here until the other transaction ends."""
    got = await conn.fetchval(Q_CLAIM, code, msgid, infno, digest, reply, psn_no, mdtrt_id, setl_id,
                              effect, undo or {})
    if got is None:
        raise MsgidTaken()


async def set_reply(conn, *, code: str, msgid: str, reply: bytes, setl_id: str = "", mdtrt_id: str = "",
                    undo: dict | None = None) -> None:
    await conn.execute(Q_SET_REPLY, code, msgid, reply, setl_id, mdtrt_id, undo or {})


async def mark_reversed(conn, code: str, msgid: str, by_msgid: str) -> bool:
    return (await conn.execute(Q_MARK_REVERSED, code, msgid, by_msgid)) == "UPDATE 1"


# ----------------------------------------------------------------------------- settle path

async def settle_state(conn, mdtrt_id: str, code: str, msgid: str) -> asyncpg.Record:
    return await conn.fetchrow(Q_SETTLE_STATE, mdtrt_id, code, msgid)


async def read_accumulators(conn, psn_no: str, insutype: str, year: int) -> tuple[dict, dict, int]:
    row = await conn.fetchrow(Q_ACCUMULATORS, psn_no, insutype, year)
    if row is None:
        return {}, {}, 0
    return dict(row["data"]), dict(row["caps"]), row["version"]


async def lock_accumulators(conn, psn_no: str, insutype: str, year: int) -> tuple[dict, dict, int]:
    await conn.execute(Q_ACCUMULATORS_ENSURE, psn_no, insutype, year)
    row = await conn.fetchrow(Q_ACCUMULATORS_LOCK, psn_no, insutype, year)
    return dict(row["data"]), dict(row["caps"]), row["version"]


async def write_accumulators(conn, psn_no: str, insutype: str, year: int, data: dict, caps: dict,
                             read_version: int) -> None:
    got = await conn.fetchval(Q_ACCUMULATORS_WRITE, psn_no, insutype, year, data, caps, read_version)
    if got is None:
        raise StaleAccumulators()


async def mark_visit_settled(conn, mdtrt_id: str, status: str, fees_version: int) -> None:
    if await conn.execute(Q_VISIT_SETTLE, mdtrt_id, status, fees_version) != "UPDATE 1":
        raise StaleVisit()


async def take_fees(conn, mdtrt_id: str, setl_id: str, sns: Sequence[str]) -> None:
    if await conn.execute(Q_FEES_TAKE, mdtrt_id, setl_id, list(sns)) != f"UPDATE {len(sns)}":
        raise StaleVisit()


async def insert_settlement(conn, row: dict[str, Any], funds: Sequence[dict[str, Any]],
                            entries: Sequence[LedgerEntry]) -> None:
    await conn.execute(Q_INSERT_SETTLEMENT, *(row[c] for c in SETTLEMENT_COLUMNS))
    if funds:
        await conn.execute(
            Q_INSERT_FUNDS, row["setl_id"], list(range(len(funds))),
            [f["fund_pay_type"] for f in funds], [f["fund_pay_type_name"] for f in funds],
            [f["inscp_scp_amt_fen"] for f in funds], [f["crt_payb_lmt_amt_fen"] for f in funds],
            [f["fund_payamt_fen"] for f in funds], [f["setl_proc_info"] for f in funds])
    if entries:
        await conn.execute(
            Q_INSERT_LEDGER, row["setl_id"], row["insured_pool"], row["treatment_pool"], row["setlym"],
            [e.entry_no for e in entries], [e.transfer_no for e in entries], [e.leg for e in entries],
            [e.account for e in entries], [e.fund_pay_type for e in entries], [e.amount_fen for e in entries])


async def book_settlement(conn, *, code: str, msgid: str, infno: str, digest: bytes, reply: bytes,
                          psn_no: str, mdtrt_id: str, setl_id: str, insutype: str, year: int, acc_data: dict,
                          acc_caps: dict, acc_version: int, visit_status: str, fees_version: int,
                          fee_sns: Sequence[str], row: dict[str, Any], funds: Sequence[dict[str, Any]],
                          entries: Sequence[LedgerEntry]) -> dict[str, Any] | None:
    """Book a computed settlement in one call (conn may be the pool: autocommit). None when booked;
    the stored journal row (msgid, infno, digest, reply) when the msgid was already taken.
    StaleAccumulators / StaleVisit when what the engine computed on changed meanwhile."""
    settlement_json = {c: row[c] for c in SETTLEMENT_COLUMNS}
    settlement_json["setl_time"] = row["setl_time"].isoformat()
    settlement_json["setl_date"] = row["setl_date"].isoformat()
    funds_json = [dict(f, line_no=i) for i, f in enumerate(funds)]
    ledger_json = [{"entry_no": e.entry_no, "transfer_no": e.transfer_no, "leg": e.leg, "account": e.account,
                    "fund_pay_type": e.fund_pay_type, "amount_fen": e.amount_fen} for e in entries]
    try:
        got = await conn.fetchrow(Q_BOOK_SETTLEMENT, code, msgid, infno, digest, reply, psn_no, mdtrt_id, setl_id,
                                  insutype, year, acc_data, acc_caps, acc_version, visit_status, fees_version,
                                  list(fee_sns), settlement_json, funds_json, ledger_json)
    except asyncpg.PostgresError as e:
        state = getattr(e, "sqlstate", None)
        if state == SQLSTATE_STALE_ACCUMULATORS:
            raise StaleAccumulators() from None
        if state == SQLSTATE_STALE_VISIT:
            raise StaleVisit() from None
        raise
    if got["r_booked"]:
        return None
    return {"msgid": got["r_msgid"], "infno": got["r_infno"], "digest": got["r_digest"], "reply": got["r_reply"]}


async def settlement(conn, setl_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(Q_SETTLEMENT, setl_id)


async def settlement_of_visit(conn, mdtrt_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(Q_SETTLEMENT_OF_VISIT, mdtrt_id)


async def settlement_funds(conn, setl_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(Q_SETTLEMENT_FUNDS, setl_id)


async def active_settlement_of_visit(conn, mdtrt_id: str) -> str | None:
    """The setl_id of a settlement of the visit that is not cancelled, if any."""
    return await conn.fetchval(Q_VISIT_HAS_SETTLEMENT, mdtrt_id)


async def cancel_original(conn, setl_id: str) -> bool:
    return await conn.execute(Q_CANCEL_ORIGINAL, setl_id) == "UPDATE 1"


async def release_fees(conn, setl_id: str) -> None:
    await conn.execute(Q_FEES_RELEASE, setl_id)


async def unsettle_visit(conn, mdtrt_id: str) -> None:
    await conn.execute(Q_VISIT_UNSETTLE, mdtrt_id)


async def month_cleared(conn, setlym: str) -> str | None:
    return await conn.fetchval(Q_MONTH_CLEARED, setlym)


# ----------------------------------------------------------------------------- visits and fees

async def visit(conn, mdtrt_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(Q_VISIT_FOR_UPDATE if for_update else Q_VISIT, mdtrt_id)


async def insert_visit(conn, v: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        Q_INSERT_VISIT, v["mdtrt_id"], v["fixmedins_code"], v["psn_no"], v["insutype"], v["insured_pool"],
        v["kind"], v["med_type"], v["begntime"], v["ipt_otp_no"], v["dise_codg"], v["dise_name"],
        v["dept_code"], v["dept_name"], v["atddr_no"], v["dr_name"], v["mdtrt_cert_type"],
        v["mdtrt_cert_no"], v["emergency"])


async def update_visit(conn, mdtrt_id: str, **f: Any) -> asyncpg.Record:
    return await conn.fetchrow(
        Q_UPDATE_VISIT, mdtrt_id, f["status"], f["med_type"], f["begntime"], f["endtime"], f["dise_codg"],
        f["dise_name"], f["emergency"], f["dscg_way"])


async def fees_of_visit(conn, mdtrt_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q_FEES_OF_VISIT, mdtrt_id)]


async def next_fee_seq(conn, mdtrt_id: str) -> int:
    return int(await conn.fetchval(Q_MAX_SEQ, mdtrt_id)) + 1


async def upsert_fees(conn, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    await conn.execute(Q_UPSERT_FEES, *([r[c] for r in rows] for c in FEE_COLUMNS))
    await conn.execute(Q_BUMP_FEES_VERSION, rows[0]["mdtrt_id"])


async def delete_fees(conn, mdtrt_id: str, sns: Sequence[str]) -> int:
    status = await conn.execute(Q_DELETE_FEES, mdtrt_id, list(sns))
    await conn.execute(Q_BUMP_FEES_VERSION, mdtrt_id)
    return int(status.split()[-1])
