"""The payment provider that takes the patient's cash part, behind a Protocol, and the built-in
simulated one (PAYMENT_PROVIDER=simulated).

Every call names the order's idempotency key (`PAY<payOrdId>`): a second charge with the same key
is the first one again (never a second debit), and `status(key)` tells what became of a charge
whose answer was lost (a timeout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from gateway.mobilepay.orders import simulated_outcome
from services.common.clock import Clock

ChargeStatus = Literal["succeeded", "declined", "unknown", "none"]


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus     # unknown: timed out, ask status(key) later; none: no charge with this key
    reference: str = ""
    message: str = ""


class ProviderTimeout(Exception):
    """The provider did not answer in time: the charge may or may not have happened."""


class PaymentProvider(Protocol):
    async def charge(self, key: str, amount_fen: int, *, order_total_fen: int, description: str) -> ChargeResult: ...

    async def status(self, key: str) -> ChargeResult: ...

    async def refund(self, key: str, amount_fen: int) -> str:
        """Refunds `amount_fen` of the charge `key` (idempotent); returns the refund reference."""
        ...


class SimStore(Protocol):
    async def sim_charge(self, key: str, amount_fen: int, outcome: str, reference: str, now) -> tuple[str, str]: ...

    async def sim_status(self, key: str) -> tuple[str, str] | None: ...

    async def sim_refund(self, key: str, amount_fen: int, reference: str) -> str | None: ...


DECLINE_MESSAGE = "支付被拒绝 (模拟支付: 金额分位为 01) / the payment was declined (simulated provider: total ends in .01)"


class SimulatedProvider:
    """Keeps its book in portal.sim_charges (gateway/mobilepay/repository.py), as a real provider keeps
    its own. The outcome is chosen by the order's total (orders.simulated_outcome): .01 declines, .02
    times out and then turns out succeeded, .03 times out and then turns out declined, else succeeds."""

    def __init__(self, store: SimStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def charge(self, key: str, amount_fen: int, *, order_total_fen: int, description: str) -> ChargeResult:
        rule = simulated_outcome(order_total_fen)
        outcome = "declined" if rule in ("declined", "timeout_declined") else "succeeded"
        # The provider's book is written first (first write wins: a repeat of the key is the same charge).
        stored, ref = await self.store.sim_charge(key, amount_fen, outcome, "SIM" + key, self.clock.now())
        if rule.startswith("timeout"):
            raise ProviderTimeout(f"simulated provider timeout for {key}")
        if stored == "declined":
            return ChargeResult("declined", ref, DECLINE_MESSAGE)
        return ChargeResult("succeeded", ref)

    async def status(self, key: str) -> ChargeResult:
        row = await self.store.sim_status(key)
        if row is None:
            return ChargeResult("none")
        outcome, ref = row
        if outcome == "declined":
            return ChargeResult("declined", ref, DECLINE_MESSAGE)
        return ChargeResult("succeeded", ref)

    async def refund(self, key: str, amount_fen: int) -> str:
        ref = await self.store.sim_refund(key, amount_fen, "SIMR" + key)
        if ref is None:
            raise LookupError(f"no succeeded charge {key} to refund")
        return ref


def build_provider(name: str, store: SimStore, clock: Clock) -> PaymentProvider:
    """The provider PAYMENT_PROVIDER names (only `simulated` is built in)."""
    if name == "simulated":
        return SimulatedProvider(store, clock)
    raise ValueError(f"PAYMENT_PROVIDER={name!r}: unknown provider (built in: simulated)")
