"""The engine's fast paths give exactly what the plain code gives.

- times_half_up / apply_ratio (integer arithmetic when provably exact) against the Decimal
  expression they replace, over generated amounts and factors, including trailing zeros,
  positive exponents, negative values, huge coefficients and amounts past the bound;
- fast_builder against the dataclass constructor;
- ExplainStep with a deferred text against one built with the text.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.engine import reverse, settle
from services.engine.model import (
    DeferredStep,
    ExplainStep,
    FundLine,
    ItemResult,
    SettlementResult,
    fast_builder,
)
from services.engine.money import apply_ratio, times_half_up

from .fixtures import CAT_SX, POLICY_EMPLOYEE, bill, context, employee, item

_ONE = D(1)


def _decimal_way(amount: int, factor: D):
    """The expression the fast path replaces, or the exception it raises."""
    try:
        return int((factor * amount).quantize(_ONE, rounding=ROUND_HALF_UP))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return type(exc)


def _fast_way(amount: int, factor: D):
    try:
        return times_half_up(amount, factor)
    except Exception as exc:  # noqa: BLE001
        return type(exc)


amounts = st.one_of(
    st.integers(-10**7, 10**7),
    st.integers(-10**30, 10**30),
    st.sampled_from([0, 1, -1, 5, -5, 10**27, -10**27, 10**28, 10**28 - 1]),
)
# Factors written in every way a Decimal can be: ratios with trailing zeros ("0.70"),
# quantities ("2", "0.5", "1E+3"), negatives, long coefficients.
factors = st.one_of(
    st.builds(lambda n, e: D(n).scaleb(e), st.integers(-10**6, 10**6), st.integers(-8, 4)),
    st.builds(lambda n, e: D(n).scaleb(e), st.integers(-10**30, 10**30), st.integers(-40, 3)),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-100, max_value=100),
    st.sampled_from([D("0.70"), D("0.7"), D("0.700000000000000000000000000000"), D("-0"),
                     D("0.5"), D("2.5"), D("1E+3"), D("1.00005"), D("0.055"), D("1"),
                     D("NaN"), D("sNaN"), D("Infinity"), D("-Infinity")]),
)


@settings(max_examples=3000, deadline=None)
@given(amounts, factors)
def test_times_half_up_equals_the_decimal_expression(amount, factor):
    assert _fast_way(amount, factor) == _decimal_way(amount, factor)
    # The cache must not let one spelling of a value serve another with a different bound.
    assert _fast_way(amount, D(str(factor)) if factor.is_finite() else factor) \
        == _decimal_way(amount, factor)


@pytest.mark.parametrize("amount", [0, 1, 5, 15, 25, 35, -5, -15, 1234567, -1234567])
@pytest.mark.parametrize("ratio", ["0.1", "0.5", "0.70", "0.05", "0.055", "-0.10", "1.5"])
def test_ties_round_away_from_zero_like_decimal(amount, ratio):
    assert apply_ratio(amount, D(ratio)) == _decimal_way(amount, D(ratio))


def test_non_decimal_factors_are_not_taken_for_equal_decimals():
    times_half_up(100, D("0.5"))  # caches 0.5
    with pytest.raises(AttributeError):
        times_half_up(100, 0.5)  # a float has no quantize, as before
    times_half_up(100, D(2))
    with pytest.raises(AttributeError):
        times_half_up(100, 2)


def _all_fields(cls):
    return [f.name for f in dataclasses.fields(cls)]


def test_fast_builder_builds_the_same_frozen_objects():
    args = ("1", "EXAM", 100, D("2"), 50, None, D(0), 0, 0, 0, 100, "01", True)
    built, plain = fast_builder(ItemResult)(*args), ItemResult(*args)
    assert type(built) is ItemResult and built == plain and hash(built) == hash(plain)
    assert repr(built) == repr(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.amount_fen = 1  # type: ignore[misc]
    line = fast_builder(FundLine)("310100", "统筹", 1, None, 2)  # default info=""
    assert line == FundLine("310100", "统筹", 1, None, 2) and line.info == ""
    assert pickle.loads(pickle.dumps(built)) == plain and copy.deepcopy(line) == line
    kwargs = {name: index for index, name in enumerate(_all_fields(SettlementResult))}
    assert fast_builder(SettlementResult)(**kwargs) == SettlementResult(**kwargs)


def test_deferred_step_equals_a_step_built_with_its_text():
    calls = []

    def render(amount: int, ratio: D) -> str:
        calls.append(1)
        return f"{amount} × {ratio}"

    eager = ExplainStep("hifp", "Basic pooled fund", "100 × 0.70")
    lazy = ExplainStep.deferred("hifp", "Basic pooled fund", render, 100, D("0.70"))
    also = DeferredStep("hifp", "Basic pooled fund", (render, 100, D("0.70")))
    assert type(lazy) is ExplainStep and type(also) is ExplainStep
    assert lazy == eager == also and hash(lazy) == hash(eager)
    assert repr(lazy) == repr(eager) == ("ExplainStep(code='hifp', label='Basic pooled fund', "
                                         "text='100 × 0.70')")
    assert lazy.text == lazy.text == "100 × 0.70"
    assert (lazy.code, lazy.label) == ("hifp", "Basic pooled fund")
    assert len(calls) == 2  # once for `lazy`, once for `also`: formatted once each
    assert pickle.loads(pickle.dumps(also)) == eager and copy.copy(eager) == eager
    assert lazy != ExplainStep("hifp", "Basic pooled fund", "other")
    for field in ("code", "label", "text"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(lazy, field, "x")


def test_explanation_reads_the_same_as_written_out():
    ctx = context(employee("retired", balance="500.00"), POLICY_EMPLOYEE, catalogue=CAT_SX)
    result = settle(bill([item("SURG", "1", "20000.00"), item("BED", "3", "60.00"),
                          item("DRUG", "2.5", "13.33")], acct_used_flag=True), ctx)
    for one in (result, reverse(result)):
        written = tuple(ExplainStep(s.code, s.label, s.text) for s in one.explanation)
        assert one.explanation == written
        assert dataclasses.replace(one, explanation=written) == one
        assert all(isinstance(s.text, str) and s.text for s in one.explanation)
