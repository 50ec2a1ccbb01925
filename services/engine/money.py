"""Money: integer fen inside, yuan strings with two decimals at the edge.

Every multiplication by a ratio is rounded half-up to the fen at the step where it happens
(DOMAIN.md §5), so two careful implementations agree to the fen. No float ever touches money.
"""

from __future__ import annotations

import re
from functools import lru_cache
from decimal import ROUND_HALF_UP, Decimal

Fen = int

_ONE = Decimal(1)
_YUAN = re.compile(r"^(-?)(\d+)(?:\.(\d{1,2}))?$")


def round_half_up(amount: Decimal) -> int:
    """Round a Decimal amount of fen to a whole fen, halves away from zero (四舍五入)."""
    return int(amount.quantize(_ONE, rounding=ROUND_HALF_UP))


def apply_ratio(amount_fen: Fen, ratio: Decimal) -> Fen:
    """amount × ratio, rounded half-up to the fen: the one way a ratio meets money."""
    return int((ratio * amount_fen).quantize(_ONE, rounding=ROUND_HALF_UP))


def yuan_to_fen(text: str) -> Fen:
    """"800.00" -> 80000, exactly. More than two decimals is an error, never silently rounded."""
    match = _YUAN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a yuan amount with at most two decimals: {text!r}")
    sign, whole, cents = match.groups()
    fen = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
    return -fen if sign else fen


def fen_to_yuan(fen: Fen) -> str:
    """80000 -> "800.00"; -1 -> "-0.01"."""
    if fen >= 0:
        return "%d.%02d" % divmod(fen, 100)
    return "-%d.%02d" % divmod(-fen, 100)


@lru_cache(maxsize=4096)  # a policy has few distinct ratios; explanations reuse them
def percent(ratio: Decimal) -> str:
    """Decimal("0.70") -> "70%", Decimal("0.055") -> "5.5%" (for explanations only)."""
    text = format((ratio * 100).normalize(), "f")
    return f"{text}%"
