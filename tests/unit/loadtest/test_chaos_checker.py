"""The chaos harness's checker (loadtest/chaos.judge) on synthetic client records: it must name a
loss, a double booking, a settlement stored with other amounts and a retry answered differently,
and pass a clean record set — else `make chaos` could not fail when exactly-once broke."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from loadtest.chaos import Attempt, Call, Stored, VisitRow, judge


def _output(setl_id: str, *, replayed: bool = False, medfee: str = "100.00", fund: str = "60.00",
            cash: str = "40.00") -> dict:
    return {"setlinfo": {"setl_id": setl_id, "medfee_sumamt": Decimal(medfee), "fund_pay_sumamt": Decimal(fund),
                         "psn_cash_pay": Decimal(cash), "hifp_pay": Decimal(fund)},
            "setldetail": [], "explanation": [], "replayed": replayed}


def _settled(n: int, *, retried: bool = True) -> tuple[Call, Stored]:
    """A 2207 answered after one connection error, replayed once by the checker, and its row."""
    code, msgid, mdtrt, setl = "H33060200001", f"H3306020000120261205000000{n:04d}", f"M{n}", f"S{n}"
    c = Call("2207", code, msgid, "w", mdtrt_id=mdtrt)
    if retried:
        c.attempts.append(Attempt(0.0, error="ClientConnectorError: refused"))
    c.attempts.append(Attempt(1.0, http=200, infcode=0, output=_output(setl)))
    c.replays.append(Attempt(2.0, http=200, infcode=0, output=_output(setl, replayed=True)))
    return c, Stored(code, msgid, setl, mdtrt, 10_000, 6_000, 4_000)


def _records(n: int = 3) -> tuple[list[Call], list[Stored]]:
    calls, rows = zip(*(_settled(i) for i in range(n)), strict=True)
    return list(calls), list(rows)


def test_a_clean_record_set_passes():
    calls, rows = _records()
    v = judge(calls, rows)
    assert (v.acked, v.stored_once, v.lost, v.doubled, v.replay_mismatch) == (3, 3, 0, 0, 0)
    assert v.replays_identical == 3 and v.retries == 3 and not v.broken


def test_an_injected_double_booking_is_flagged():
    calls, rows = _records()
    # the same visit booked again under another msgid (a retry that was not recognised as one)
    rows.append(Stored(rows[1].code, "H33060200001202612050000009999", "S-again", rows[1].mdtrt_id, 10_000, 6_000,
                       4_000))
    v = judge(calls, rows)
    assert v.doubled == 1 and v.broken
    assert any("DOUBLE visit M1" in s for s in v.samples)


def test_two_rows_for_one_msgid_are_a_double_booking():
    calls, rows = _records()
    rows.append(dataclasses.replace(rows[0], setl_id="S0-twin"))
    v = judge(calls, rows)
    assert v.doubled == 1 and v.broken


def test_an_acknowledged_settlement_missing_from_the_database_is_a_loss():
    calls, rows = _records()
    v = judge(calls, rows[1:])
    assert v.lost == 1 and v.broken
    assert any(s.startswith("LOST 2207") for s in v.samples)


def test_a_settlement_stored_with_other_amounts_is_flagged():
    calls, rows = _records()
    rows[2] = Stored(rows[2].code, rows[2].msgid, rows[2].setl_id, rows[2].mdtrt_id, 10_000, 5_000, 5_000)
    v = judge(calls, rows)
    assert v.stored_differently == 1 and v.broken


def test_a_retry_answered_with_another_reply_is_flagged():
    calls, rows = _records()
    calls[0].replays[0] = Attempt(2.0, http=200, infcode=0, output=_output("S0", replayed=True, fund="50.00",
                                                                          cash="50.00"))
    v = judge(calls, rows)
    assert v.replay_mismatch == 1 and v.broken
    assert any("setlinfo.fund_pay_sumamt" in s for s in v.samples)


def test_a_retry_refused_is_not_the_stored_reply():
    calls, rows = _records()
    calls[1].replays[0] = Attempt(2.0, http=200, infcode=-1, outcome="MSGID_CONFLICT", error="same msgid")
    v = judge(calls, rows)
    assert v.replay_mismatch == 1 and v.broken


def test_only_the_replayed_flag_may_differ_between_tries():
    calls, rows = _records(1)
    calls[0].attempts.append(Attempt(1.5, http=200, infcode=0, output=_output("S0", replayed=True)))
    v = judge(calls, rows)
    assert v.replays_identical == 2 and not v.broken
    assert v.first_answers == 1


def test_an_unanswered_settlement_that_was_stored_is_counted_not_lost():
    code, msgid = "H33060200001", "H33060200001202612050000000042"
    c = Call("2207", code, msgid, "w", mdtrt_id="M42", attempts=[Attempt(0.0, error="timeout")])
    v = judge([c], [Stored(code, msgid, "S42", "M42", 1, 1, 0)])
    assert (v.acked, v.unanswered, v.unacked_stored, v.lost) == (0, 1, 1, 0) and not v.broken


def test_http_5xx_and_final_refusals_are_counted():
    c = Call("2201", "H1", "m1", "w", attempts=[Attempt(0.0, http=502, error="bad gateway"),
                                                 Attempt(1.0, http=200, infcode=-1, outcome="INVALID_INPUT")])
    v = judge([c], [])
    assert v.http_5xx == 1 and v.refused == {"2201 INVALID_INPUT": 1} and v.retries == 1


def test_a_registration_booked_twice_under_one_his_number_is_flagged():
    env = {"input": {"data": {"psn_no": "P1", "ipt_otp_no": "MZ7"}}}
    c = Call("2201", "H1", "m-reg", "w", env=env,
             attempts=[Attempt(0.0, error="reset"), Attempt(1.0, http=200, infcode=0, output={"data": {"mdtrt_id": "V2"}})])
    once = judge([c], [], [VisitRow("H1", "P1", "MZ7", "V2")])
    assert once.registered_twice == 0 and not once.broken
    # the first send was booked too, and its retry was not recognised as the same msgid
    twice = judge([c], [], [VisitRow("H1", "P1", "MZ7", "V1"), VisitRow("H1", "P1", "MZ7", "V2")])
    assert twice.registered_twice == 1 and twice.broken


def test_a_fee_upload_resent_with_another_reply_is_flagged():
    c = Call("2204", "H1", "m-fee", "w", attempts=[Attempt(0.0, http=200, infcode=0, output={"result": [1, 2]})],
             replays=[Attempt(1.0, http=200, infcode=0, output={"result": [1]})])
    v = judge([c], [])
    assert v.replay_mismatch == 1 and v.broken
