"""Money: integer fen inside, yuan strings with two decimals at the edge.

Every multiplication by a ratio is rounded half-up to the fen at the step where it happens
(docs/RULES.md §5), so two careful implementations agree to the fen. No float ever touches money.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

Fen = int

_ONE = Decimal(1)
_YUAN = re.compile(r"^(-?)(\d+)(?:\.(\d{1,2}))?$")


def round_half_up(amount: Decimal) -> int:
    """Round a Decimal amount of fen to a whole fen, halves away from zero (四舍五入)."""
    return int(amount.quantize(_ONE, rounding=ROUND_HALF_UP))


def times_half_up(amount_fen: Fen, factor: Decimal) -> Fen:
    """round_half_up(factor × amount_fen): a ratio or a quantity times whole fen, rounded
    half-up to the fen. Same result as the Decimal expression, computed with integers when
    that is provably identical (see _exact)."""
    # The factors are few (a policy's ratios, common quantities): look them up, not recompute.
    try:
        exact = _EXACT[factor] if factor.__class__ is Decimal else _exact(factor)
    except (KeyError, TypeError):  # not seen yet; or a signalling NaN, which cannot be hashed
        exact = _exact(factor)
    if exact is not None:
        numerator, denominator, bound = exact
        if -bound <= amount_fen <= bound:
            product = amount_fen * numerator
            if denominator == 1:
                return product
            # Half-up in Decimal's sense: ties go away from zero, on either sign.
            whole, rest = divmod(abs(product), denominator)
            if rest * 2 >= denominator:
                whole += 1
            return whole if product >= 0 else -whole
    return int((factor * amount_fen).quantize(_ONE, rounding=ROUND_HALF_UP))


# apply_ratio(amount_fen, ratio): amount × ratio, rounded half-up to the fen, the one way a
# ratio meets money. The same function as times_half_up, under the name the rules read best by.
apply_ratio = times_half_up


# ---------------------------------------------------------------- the integer fast path
#
# A finite Decimal is exactly numerator / denominator. In the default decimal context (28
# digits, which the engine runs in) `(factor * n).quantize(1, ROUND_HALF_UP)` is exact
# arithmetic followed by one half-up rounding, *provided* neither step runs out of digits:
#   - the product is exact when its value has at most 28 significant digits, and
#   - quantize needs the rounded whole number to have at most 28 digits.
# Let M = the factor's coefficient without trailing zeros, times 10**exponent when the
# exponent is positive (M is a property of the value, so Decimal("0.7") and Decimal("0.70")
# share it). Then |n| × M < 10**28 guarantees both, and the integer formula
# round_half_up(n × numerator / denominator) is the same number. Outside the bound (amounts
# beyond 10**20 yuan) the Decimal expression runs as before, with its own errors.
# tests/unit/engine/test_fast_paths.py checks this equality over generated values.

_DIGITS_LIMIT = 10 ** 28
_EXACT: dict[Decimal, tuple[int, int, int]] = {}  # factor -> (numerator, denominator, bound)
_EXACT_MAX = 4096  # ratios of a few policies and the quantities seen on bills


def _exact(factor: Decimal) -> tuple[int, int, int] | None:
    """(numerator, denominator, bound) for a finite Decimal, or None (not a Decimal, NaN,
    infinity): there is no fast path for those and the Decimal expression decides."""
    # Only a Decimal: an int or float equal to a cached Decimal must not borrow its entry.
    # is_finite() first: a signalling NaN cannot even be hashed.
    if factor.__class__ is not Decimal or not factor.is_finite():
        return None
    numerator, denominator = factor.as_integer_ratio()
    if denominator == 1:
        magnitude = abs(numerator)
    else:
        # denominator is 2**a × 5**b; the shortest decimal form has max(a, b) places.
        places = 0
        while (10 ** places) % denominator:
            places += 1
        magnitude = abs(numerator) * (10 ** places // denominator)
    bound = (_DIGITS_LIMIT - 1) // magnitude if magnitude else _DIGITS_LIMIT
    if len(_EXACT) >= _EXACT_MAX:
        _EXACT.clear()
    entry = _EXACT[factor] = (numerator, denominator, bound)
    return entry


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
        yuan, cents = divmod(fen, 100)
        return f"{yuan}.{cents:02d}"
    yuan, cents = divmod(-fen, 100)
    return f"-{yuan}.{cents:02d}"


@lru_cache(maxsize=4096)  # a policy has few distinct ratios; explanations reuse them
def percent(ratio: Decimal) -> str:
    """Decimal("0.70") -> "70%", Decimal("0.055") -> "5.5%" (for explanations only)."""
    text = format((ratio * 100).normalize(), "f")
    return f"{text}%"
