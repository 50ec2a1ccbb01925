"""Pay orders, pure: the states and their transitions, the ordStas code each state shows, the
amounts of an order (integer fen) and the ids derived from it. No I/O, no clock.

States (docs/MOBILE_PAYMENT.md):

    payable ──claim──> paying ──charge ok──> charged ──Settle ok──> paid ──refund──> refunding ──> refunded
       │  ^              │  └─timeout─> pay_pending ─(provider status)─> charged | failed
       │  └── retry ── failed <─declined─┘            charged ──Settle refused (cash refunded)──> failed
       └─6401─> cancelled    (failed ─6401─> cancelled too)
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum


class State(str, Enum):
    PAYABLE = "payable"          # presettled, waiting for the patient's confirmation
    PAYING = "paying"            # one pay attempt holds it: the charge is in flight
    PAY_PENDING = "pay_pending"  # the provider timed out: the charge's outcome is unknown until asked
    CHARGED = "charged"          # the cash part is taken, the settlement not booked yet
    PAID = "paid"                # settled and charged: done
    FAILED = "failed"            # declined, or the settlement was refused (cash refunded): payable again
    REFUNDING = "refunding"      # a refund holds it: settlement cancelled and/or cash refund in flight
    REFUNDED = "refunded"        # settlement reversed and cash refunded
    CANCELLED = "cancelled"      # 6401: never paid, withdrawn


# The moves a use case may ask for; anything else is refused before any write.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PAYABLE: frozenset({State.PAYING, State.CANCELLED}),
    State.FAILED: frozenset({State.PAYING, State.CANCELLED}),
    State.PAYING: frozenset({State.CHARGED, State.PAY_PENDING, State.FAILED, State.PAID}),
    State.PAY_PENDING: frozenset({State.CHARGED, State.FAILED}),
    State.CHARGED: frozenset({State.PAID, State.FAILED}),
    State.PAID: frozenset({State.REFUNDING}),
    State.REFUNDING: frozenset({State.REFUNDED}),
    State.REFUNDED: frozenset(),
    State.CANCELLED: frozenset(),
}

# ordStas of the Hunan dictionary ([H], /work/shared/NHSA_MOBILE.md §2) each state is shown as.
ORD_STAS: dict[State, str] = {
    State.PAYABLE: "1",      # 预结算完成
    State.PAYING: "2",       # 结算中
    State.PAY_PENDING: "2",  # 结算中
    State.CHARGED: "3",      # 自费完成 (the settlement follows)
    State.PAID: "6",         # 结算完成
    State.FAILED: "15",      # 结算失败
    State.REFUNDING: "2",    # 结算中 (the refund is under way)
    State.REFUNDED: "7",     # 已退款
    State.CANCELLED: "12",   # 已撤销
}

PAYABLE_STATES = frozenset({State.PAYABLE, State.FAILED})
UNRESOLVED_STATES = frozenset({State.PAYING, State.PAY_PENDING, State.CHARGED})


def can_move(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def ord_stas(state: State) -> str:
    return ORD_STAS[state]


@dataclass(frozen=True, slots=True)
class Split:
    """Who pays what of one order, in fen, from the pre-settlement: the funds, the personal
    account, the patient's cash, and the hospital's part (negotiated write-off, normally 0)."""
    medfee: int
    fund: int
    acct: int
    cash: int
    hosp_part: int = 0

    def __post_init__(self) -> None:
        for name in ("medfee", "cash", "acct", "hosp_part"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative: {getattr(self, name)}")
        if self.medfee != self.fund + self.acct + self.cash + self.hosp_part:
            raise ValueError(f"the split does not add up: {self.medfee} != {self.fund} + {self.acct} + {self.cash} "
                             f"+ {self.hosp_part}")

    @property
    def own_pay(self) -> int:
        """ownPayAmt: what the patient pays out of pocket (the provider charges exactly this)."""
        return self.cash

    @property
    def patient_total(self) -> int:
        """The patient's share, personal account included (psn_part_amt)."""
        return self.acct + self.cash


def refund_matches(split: Split, *, totl_fen: int, cash_fen: int, acct_fen: int | None,
                   fund_fen: int | None) -> str | None:
    """The field of a refund request (6203, refdType ALL) that disagrees with the order, or None.
    A full refund names the original total and cash part; the account and fund parts may be left out."""
    if totl_fen != split.medfee:
        return "totlRefdAmt"
    if cash_fen != split.cash:
        return "cashRefdAmt"
    if acct_fen is not None and acct_fen != split.acct:
        return "psnAcctRefdAmt"
    if fund_fen is not None and fund_fen != split.fund:
        return "fundRefdAmt"
    return None


def pay_ord_id(fixmedins_code: str, msgid: str) -> str:
    """The order id of the 6201 (hospital, msgid): the same for a retried 6201, so every call it makes
    (Register, UploadFees) replays from the services' journals. 27 characters, so the derived msgids
    below stay within the 30 of a msgid."""
    return "M" + hashlib.sha256(f"{fixmedins_code}|{msgid}".encode()).hexdigest()[:26].upper()


def derived_msgid(kind: str, order_id: str) -> str:
    """The msgid of a call the order makes on the settlement service: R register, U upload fees,
    P pre-settle, PAY settle, REF cancel the settlement. Exactly once per order and kind."""
    if kind not in ("R", "U", "P", "PAY", "REF"):
        raise ValueError(kind)
    out = kind + order_id
    if len(out) > 30:
        raise ValueError(f"derived msgid too long: {out}")
    return out


def pay_token(secret: str, order_id: str) -> str:
    """payToken: an HMAC of the order id under the gateway's secret, so a retried 6201 can return it
    again; only its sha256 is stored (`token_hash`)."""
    return hmac.new(secret.encode(), f"paytoken|{order_id}".encode(), hashlib.sha256).hexdigest()[:40]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(given: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(given), stored_hash)


def simulated_outcome(medfee_fen: int) -> str:
    """The built-in simulated provider's rule, by the order's total (medfeeSumamt) fen digits:
    x.01 declined, x.02 times out and then turns out succeeded, x.03 times out and then turns out
    declined; anything else succeeds at once."""
    return {1: "declined", 2: "timeout_succeeded", 3: "timeout_declined"}.get(medfee_fen % 100, "succeeded")
