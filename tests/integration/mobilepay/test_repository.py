"""Pay orders against real PostgreSQL (gateway/mobilepay/repository.py): one row per 6201, state
changes conditional so concurrent pay attempts claim an order once, the table's CHECKs, and the
simulated provider's book (one charge per key however many ask at once)."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from gateway.mobilepay.orders import PAYABLE_STATES, Split, State, pay_ord_id, token_hash
from gateway.mobilepay.provider import SimulatedProvider
from gateway.mobilepay.repository import NewOrder, OrderRepository
from services.common.clock import Clock

pytestmark = pytest.mark.integration

NOW = Clock().now()


def _order(uid: str, **kw) -> NewOrder:
    oid = pay_ord_id("H33060200001", "MSG" + uid)
    base = dict(pay_ord_id=oid, fixmedins_code="H33060200001", msgid="MSG" + uid, request_digest="d",
                pay_token_hash=token_hash("t"), psn_no="P" + uid, mdtrt_id="V" + uid, insutype="390", med_type="11",
                med_org_ord="ORD", chrg_bchno="B1", acct_used_flag=False, psn_setlway="01", cert_type="01",
                cert_no="tok", split=Split(medfee=35000, fund=21000, acct=0, cash=14000),
                fulamt_ownpay_fen=0, overlmt_selfpay_fen=0, preselfpay_fen=0, inscp_scp_fen=35000,
                presettle={"medfee_fen": 35000})
    base.update(kw)
    return NewOrder(**base)


async def test_one_order_per_6201_and_concurrent_claims_win_once(db_pool, uid):
    repo = OrderRepository(db_pool)
    order = _order(uid)
    assert await repo.insert(order, NOW) is True
    assert await repo.insert(order, NOW) is False  # a retried 6201
    got = await repo.get(order.pay_ord_id)
    assert got is not None and got.state_ is State.PAYABLE and got.split.cash == 14000
    assert got.presettle == {"medfee_fen": 35000} and got.attempt == 0

    claims = await asyncio.gather(*(repo.move(order.pay_ord_id, PAYABLE_STATES, State.PAYING, NOW)
                                    for _ in range(20)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].attempt == 1
    # the next moves need the state they expect
    assert await repo.move(order.pay_ord_id, {State.PAYABLE}, State.CANCELLED, NOW) is None
    assert await repo.move(order.pay_ord_id, {State.PAYING}, State.CHARGED, NOW, charge_ref="C1") is not None
    paid = await asyncio.gather(*(repo.move(order.pay_ord_id, {State.CHARGED}, State.PAID, NOW, setl_id="S1")
                                  for _ in range(10)))
    assert sum(p is not None for p in paid) == 1
    final = await repo.get(order.pay_ord_id)
    assert final.state == "paid" and final.setl_id == "S1" and final.charge_ref == "C1" and final.paid_at


async def test_table_checks_refuse_an_inconsistent_order(db_pool, uid):
    repo = OrderRepository(db_pool)
    o = _order(uid)
    await repo.insert(o, NOW)
    with pytest.raises(asyncpg.CheckViolationError):  # paid without a settlement id
        await repo.move(o.pay_ord_id, {State.PAYABLE}, State.PAID, NOW)
    with pytest.raises(asyncpg.CheckViolationError):
        await db_pool.execute("UPDATE portal.pay_orders SET state = 'lost' WHERE pay_ord_id = $1", o.pay_ord_id)
    assert (await repo.get(o.pay_ord_id)).state == "payable"


async def test_simulated_provider_book_charges_once_per_key(db_pool, uid):
    repo = OrderRepository(db_pool)
    p = SimulatedProvider(repo, Clock.fixed(dt.datetime(2027, 1, 5, 10, 0)))
    key = f"M{uid}.1"
    results = await asyncio.gather(*(p.charge(key, 14000, order_total_fen=35000, description="")
                                     for _ in range(10)))
    assert {r.status for r in results} == {"succeeded"}
    rows = await db_pool.fetch("SELECT amount_fen, refunded_fen FROM portal.sim_charges WHERE idem_key = $1", key)
    assert [tuple(r) for r in rows] == [(14000, 0)]
    assert await p.refund(key, 14000) == await p.refund(key, 14000)
    assert await db_pool.fetchval("SELECT refunded_fen FROM portal.sim_charges WHERE idem_key = $1", key) == 14000
