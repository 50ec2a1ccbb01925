"""All SQL of mobile payment (schema `portal`, the gateway's own): pay orders and the simulated
provider's book. Every state change is conditional on the state it expects, so two concurrent
attempts cannot both move an order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gateway.mobilepay.orders import Split, State

_COLUMNS = ("pay_ord_id, fixmedins_code, msgid, request_digest, pay_token_hash, psn_no, mdtrt_id, insutype, "
            "med_type, med_org_ord, chrg_bchno, acct_used_flag, psn_setlway, cert_type, cert_no, medfee_fen, "
            "fund_fen, acct_fen, cash_fen, hosp_part_fen, fulamt_ownpay_fen, overlmt_selfpay_fen, preselfpay_fen, "
            "inscp_scp_fen, presettle, state, attempt, message, setl_id, charge_ref, refund_setl_id, refund_ref, app_refd_sn, "
            "created_at, updated_at, paid_at, refunded_at")

_INSERT = """
INSERT INTO portal.pay_orders (pay_ord_id, fixmedins_code, msgid, request_digest, pay_token_hash, psn_no, mdtrt_id,
    insutype, med_type, med_org_ord, chrg_bchno, acct_used_flag, psn_setlway, cert_type, cert_no, medfee_fen, fund_fen,
    acct_fen, cash_fen, hosp_part_fen, fulamt_ownpay_fen, overlmt_selfpay_fen, preselfpay_fen, inscp_scp_fen,
    presettle, state, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
        $24, $25, 'payable', $26, $26)
ON CONFLICT DO NOTHING
RETURNING pay_ord_id
"""
_BY_ID = f"SELECT {_COLUMNS} FROM portal.pay_orders WHERE pay_ord_id = $1"
_BY_MSGID = f"SELECT {_COLUMNS} FROM portal.pay_orders WHERE fixmedins_code = $1 AND msgid = $2"
_MOVE = f"""
UPDATE portal.pay_orders SET state = $3, message = $4, updated_at = $5,
    attempt = attempt + CASE WHEN $3 = 'paying' THEN 1 ELSE 0 END,
    setl_id = coalesce($6, setl_id), charge_ref = coalesce($7, charge_ref),
    refund_setl_id = coalesce($8, refund_setl_id), refund_ref = coalesce($9, refund_ref),
    app_refd_sn = coalesce($10, app_refd_sn),
    paid_at = CASE WHEN $3 = 'paid' THEN $5 ELSE paid_at END,
    refunded_at = CASE WHEN $3 = 'refunded' THEN $5 ELSE refunded_at END
WHERE pay_ord_id = $1 AND state = any($2::text[])
RETURNING {_COLUMNS}
"""
_SET_REFUND_SETL = "UPDATE portal.pay_orders SET refund_setl_id = $2, updated_at = $3 WHERE pay_ord_id = $1 " \
                   "AND state = 'refunding'"

_SIM_CHARGE = """
INSERT INTO portal.sim_charges (idem_key, amount_fen, outcome, reference, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (idem_key) DO UPDATE SET idem_key = excluded.idem_key
RETURNING outcome, reference
"""
_SIM_STATUS = "SELECT outcome, reference FROM portal.sim_charges WHERE idem_key = $1"
_SIM_REFUND = """
UPDATE portal.sim_charges SET refunded_fen = $2, refund_ref = coalesce(refund_ref, $3)
WHERE idem_key = $1 AND outcome = 'succeeded' AND $2 <= amount_fen
RETURNING refund_ref
"""


@dataclass(frozen=True, slots=True)
class NewOrder:
    pay_ord_id: str
    fixmedins_code: str
    msgid: str
    request_digest: str
    pay_token_hash: str
    psn_no: str
    mdtrt_id: str
    insutype: str
    med_type: str
    med_org_ord: str
    chrg_bchno: str
    acct_used_flag: bool
    psn_setlway: str
    cert_type: str
    cert_no: str
    split: Split
    fulamt_ownpay_fen: int
    overlmt_selfpay_fen: int
    preselfpay_fen: int
    inscp_scp_fen: int
    presettle: dict


@dataclass(frozen=True, slots=True)
class Order:
    """One stored pay order."""
    row: Any

    def __getattr__(self, name: str) -> Any:
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def state_(self) -> State:
        return State(self.row["state"])

    @property
    def split(self) -> Split:
        r = self.row
        return Split(medfee=r["medfee_fen"], fund=r["fund_fen"], acct=r["acct_fen"], cash=r["cash_fen"],
                     hosp_part=r["hosp_part_fen"])


class OrderRepository:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def insert(self, o: NewOrder, now: dt.datetime) -> bool:
        """True if inserted; False if the order (or its 6201 msgid) exists already."""
        s = o.split
        got = await self.pool.fetchval(
            _INSERT, o.pay_ord_id, o.fixmedins_code, o.msgid, o.request_digest, o.pay_token_hash, o.psn_no, o.mdtrt_id,
            o.insutype, o.med_type, o.med_org_ord, o.chrg_bchno, o.acct_used_flag, o.psn_setlway, o.cert_type,
            o.cert_no, s.medfee, s.fund, s.acct, s.cash, s.hosp_part, o.fulamt_ownpay_fen, o.overlmt_selfpay_fen,
            o.preselfpay_fen, o.inscp_scp_fen, o.presettle, now)
        return got is not None

    async def get(self, pay_ord_id: str) -> Order | None:
        row = await self.pool.fetchrow(_BY_ID, pay_ord_id)
        return Order(row) if row is not None else None

    async def by_msgid(self, fixmedins_code: str, msgid: str) -> Order | None:
        row = await self.pool.fetchrow(_BY_MSGID, fixmedins_code, msgid)
        return Order(row) if row is not None else None

    async def move(self, pay_ord_id: str, expected: frozenset[State] | set[State], target: State, now: dt.datetime, *,
                   message: str = "", setl_id: str | None = None, charge_ref: str | None = None,
                   refund_setl_id: str | None = None, refund_ref: str | None = None,
                   app_refd_sn: str | None = None) -> Order | None:
        """The order moved to `target` if it was in one of `expected`; None if it was not (someone else
        moved it first)."""
        row = await self.pool.fetchrow(_MOVE, pay_ord_id, sorted(s.value for s in expected), target.value, message,
                                       now, setl_id, charge_ref, refund_setl_id, refund_ref, app_refd_sn)
        return Order(row) if row is not None else None

    async def record_refund_settlement(self, pay_ord_id: str, refund_setl_id: str, now: dt.datetime) -> None:
        await self.pool.execute(_SET_REFUND_SETL, pay_ord_id, refund_setl_id, now)

    # --- the simulated provider's book (provider.SimStore) ----------------------------------------

    async def sim_charge(self, key: str, amount_fen: int, outcome: str, reference: str,
                         now: dt.datetime) -> tuple[str, str]:
        row = await self.pool.fetchrow(_SIM_CHARGE, key, amount_fen, outcome, reference, now)
        return row["outcome"], row["reference"]

    async def sim_status(self, key: str) -> tuple[str, str] | None:
        row = await self.pool.fetchrow(_SIM_STATUS, key)
        return (row["outcome"], row["reference"]) if row is not None else None

    async def sim_refund(self, key: str, amount_fen: int, reference: str) -> str | None:
        return await self.pool.fetchval(_SIM_REFUND, key, amount_fen, reference)
