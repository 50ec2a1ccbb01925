"""Mobile payment, pure: the order state machine, the split arithmetic, derived ids and tokens, the
simulated provider's rule (gateway/mobilepay/orders.py, provider.py)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gateway.mobilepay import orders as o
from gateway.mobilepay.orders import Split, State
from gateway.mobilepay.provider import ProviderTimeout, SimulatedProvider
from services.common.clock import Clock


def test_only_listed_transitions_are_allowed():
    assert o.can_move(State.PAYABLE, State.PAYING) and o.can_move(State.FAILED, State.PAYING)
    assert o.can_move(State.PAYING, State.PAY_PENDING) and o.can_move(State.PAY_PENDING, State.CHARGED)
    assert o.can_move(State.CHARGED, State.PAID) and o.can_move(State.PAID, State.REFUNDING)
    # never paid twice, never refunded unless paid, never cancelled once charged
    assert not o.can_move(State.PAID, State.PAYING)
    assert not o.can_move(State.PAYABLE, State.REFUNDING)
    assert not o.can_move(State.CHARGED, State.CANCELLED) and not o.can_move(State.PAID, State.CANCELLED)
    assert not any(o.can_move(State.REFUNDED, s) for s in State)
    assert not any(o.can_move(State.CANCELLED, s) for s in State)
    assert set(o.TRANSITIONS) == set(State)


def test_every_state_has_an_ord_stas_of_the_dictionary():
    assert {s: o.ord_stas(s) for s in (State.PAYABLE, State.PAID, State.REFUNDED, State.CANCELLED, State.FAILED)} == {
        State.PAYABLE: "1", State.PAID: "6", State.REFUNDED: "7", State.CANCELLED: "12", State.FAILED: "15"}
    assert all(o.ord_stas(s) in {str(i) for i in range(17)} for s in State)


def test_split_must_add_up_in_fen():
    s = Split(medfee=35000, fund=21000, acct=4000, cash=10000)
    assert s.own_pay == 10000 and s.patient_total == 14000
    with pytest.raises(ValueError, match="add up"):
        Split(medfee=35000, fund=21000, acct=4000, cash=9999)
    with pytest.raises(ValueError, match="negative"):
        Split(medfee=100, fund=200, acct=0, cash=-100)


def test_a_full_refund_must_name_the_orders_amounts():
    s = Split(medfee=35000, fund=21000, acct=4000, cash=10000)
    assert o.refund_matches(s, totl_fen=35000, cash_fen=10000, acct_fen=None, fund_fen=None) is None
    assert o.refund_matches(s, totl_fen=35000, cash_fen=10000, acct_fen=4000, fund_fen=21000) is None
    assert o.refund_matches(s, totl_fen=34999, cash_fen=10000, acct_fen=None, fund_fen=None) == "totlRefdAmt"
    assert o.refund_matches(s, totl_fen=35000, cash_fen=1, acct_fen=None, fund_fen=None) == "cashRefdAmt"
    assert o.refund_matches(s, totl_fen=35000, cash_fen=10000, acct_fen=0, fund_fen=None) == "psnAcctRefdAmt"
    assert o.refund_matches(s, totl_fen=35000, cash_fen=10000, acct_fen=None, fund_fen=1) == "fundRefdAmt"


def test_order_id_is_stable_per_6201_and_derived_msgids_fit():
    a = o.pay_ord_id("H33060200001", "H33060200001202612031200000001")
    assert a == o.pay_ord_id("H33060200001", "H33060200001202612031200000001")
    assert a != o.pay_ord_id("H33060200001", "H33060200001202612031200000002")
    assert a != o.pay_ord_id("H65010200001", "H33060200001202612031200000001")
    assert len(a) == 27
    assert all(len(o.derived_msgid(k, a)) <= 30 for k in ("R", "U", "P", "PAY", "REF"))
    assert len({o.derived_msgid(k, a) for k in ("R", "U", "P", "PAY", "REF")}) == 5
    with pytest.raises(ValueError):
        o.derived_msgid("X", a)


def test_pay_token_is_keyed_and_only_its_hash_is_compared():
    t = o.pay_token("k" * 32, "MABC")
    assert t == o.pay_token("k" * 32, "MABC") and t != o.pay_token("j" * 32, "MABC") != o.pay_token("k" * 32, "MABD")
    h = o.token_hash(t)
    assert h != t and o.token_matches(t, h) and not o.token_matches(t[:-1] + "0", h)


def test_simulated_rule_by_the_totals_fen_digits():
    assert o.simulated_outcome(35000) == "succeeded"
    assert o.simulated_outcome(8801) == "declined"
    assert o.simulated_outcome(6602) == "timeout_succeeded"
    assert o.simulated_outcome(6603) == "timeout_declined"
    assert o.simulated_outcome(6611) == "succeeded"


class _Book:
    """An in-memory stand-in for portal.sim_charges (first write wins, as ON CONFLICT there)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    async def sim_charge(self, key, amount_fen, outcome, reference, now):
        row = self.rows.setdefault(key, {"amount": amount_fen, "outcome": outcome, "ref": reference, "refunded": 0})
        return row["outcome"], row["ref"]

    async def sim_status(self, key):
        row = self.rows.get(key)
        return (row["outcome"], row["ref"]) if row else None

    async def sim_refund(self, key, amount_fen, reference):
        row = self.rows.get(key)
        if row is None or row["outcome"] != "succeeded":
            return None
        row["refunded"] = amount_fen
        return reference


def test_simulated_provider_charges_once_per_key_and_resolves_timeouts():
    book = _Book()
    p = SimulatedProvider(book, Clock.fixed(dt.datetime(2027, 1, 5, 10, 0)))

    async def run():
        ok = await p.charge("A.1", 1000, order_total_fen=35000, description="")
        again = await p.charge("A.1", 1000, order_total_fen=35000, description="")
        assert ok.status == again.status == "succeeded" and len(book.rows) == 1
        declined = await p.charge("B.1", 1000, order_total_fen=8801, description="")
        assert declined.status == "declined" and "declined" in declined.message
        with pytest.raises(ProviderTimeout):
            await p.charge("C.1", 1000, order_total_fen=6602, description="")
        assert (await p.status("C.1")).status == "succeeded"
        with pytest.raises(ProviderTimeout):
            await p.charge("D.1", 1000, order_total_fen=6603, description="")
        assert (await p.status("D.1")).status == "declined"
        assert (await p.status("E.1")).status == "none"
        assert await p.refund("A.1", 1000) and book.rows["A.1"]["refunded"] == 1000
        with pytest.raises(LookupError):
            await p.refund("B.1", 1000)  # a declined charge has nothing to refund

    asyncio.run(run())
