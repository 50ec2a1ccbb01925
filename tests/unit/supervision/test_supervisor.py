"""services/settlement/supervision.py: a rule that fails is logged and counted; the pool's
on_error decides whether the settlement goes on without it or is refused; blocks turn into
self-pay items or a SUPERVISION_BLOCKED refusal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from services.common.grpcutil import Refusal
from services.settlement.supervision import Supervisor, history_codes, lookback
from services.supervision.model import BillItem, Encounter, History, Patient, Rule, RuleSet

D = dt.date(2031, 5, 6)
BAD = BillItem("1", "X1", "oops", 100, D)  # type: ignore[arg-type]  # a quantity that is no number
GOOD = BillItem("2", "PSA", Decimal(1), 8000, D)
ENC = Encounter("M1", "H1", "outpatient", D, None)
WOMAN = Patient("P", "2", dt.date(1980, 1, 1))
QTY = Rule("Q-1", "quantity", "block", "too many", items=frozenset({"X1"}), per_day=Decimal(1))
SEX = Rule("S-1", "gender", "block", "men only", items=frozenset({"PSA"}), gender="1")
DEATH = Rule("D-1", "after_death", "block", "deceased")


def test_a_failing_rule_is_counted_and_settles_without_it_by_default(caplog):
    sup = Supervisor(refs=None)
    checked = sup.check(RuleSet.of("P", D.year, (QTY, SEX)), WOMAN, ENC, (BAD, GOOD), History())
    assert sup.failures["Q-1"] == 1 and "supervision rule failed" in caplog.text
    assert checked.own_pay.keys() == {"2"} and "S-1" in checked.own_pay["2"]


def test_a_pool_that_says_refuse_refuses_when_a_rule_fails():
    sup = Supervisor(refs=None)
    with pytest.raises(Refusal) as info:
        sup.check(RuleSet.of("P", D.year, (QTY, SEX), on_error="refuse"), WOMAN, ENC, (BAD, GOOD), History())
    assert info.value.outcome == "SUPERVISION_UNAVAILABLE" and "Q-1" in info.value.message


def test_a_blocking_visit_rule_refuses_with_its_code():
    sup = Supervisor(refs=None)
    dead = Patient("P", "2", dt.date(1950, 1, 1), death_date=D - dt.timedelta(days=2))
    checked = sup.check(RuleSet.of("P", D.year, (DEATH,)), dead, ENC, (GOOD,), History())
    with pytest.raises(Refusal) as info:
        sup.refuse_if_blocked(checked)
    assert info.value.outcome == "SUPERVISION_BLOCKED" and "D-1" in info.value.message


def test_history_window_and_codes():
    rs = RuleSet.of("P", D.year, (QTY, SEX, Rule("R", "readmission", "warn", "m", days=15),
                                  Rule("Q2", "quantity", "warn", "m", items=frozenset({"Y"}), supply_days=84,
                                       daily_dose=Decimal(2))))
    assert lookback(rs) == 85 and history_codes(rs) == ("X1", "Y")
    assert history_codes(RuleSet.of("P", D.year, (Rule("U", "duplicate", "warn", "m"),))) is None
