"""The console's pure parts: the role table, names and passwords, where a sign-in may lead, the
net-position bars, the feed's outcome from a reply envelope."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from gateway.console import accounts as a
from gateway.console.app import _position_bars, safe_next
from gateway.console.feed import _outcome, result_of


def test_roles_and_permissions():
    assert all(a.can(r, "view") for r in a.ROLES)
    assert [r for r in a.ROLES if a.can(r, "act")] == ["admin", "operator"]
    assert [r for r in a.ROLES if a.can(r, "review")] == ["admin", "reviewer"]
    assert [r for r in a.ROLES if a.can(r, "manage")] == ["admin"]
    assert not a.can("auditor", "act") and not a.can("nobody", "view") and not a.can("admin", "no-such")


@pytest.mark.parametrize("name", ["", "a", "Admin!", "1abc", "x" * 40, "a b", "ünï"])
def test_bad_user_names_are_refused_naming_the_field(name):
    with pytest.raises(a.ConsoleRefusal) as e:
        a.clean_username(name)
    assert e.value.field == "username" and e.value.code == "INVALID_USERNAME"


def test_user_names_are_lower_cased_and_roles_checked():
    assert a.clean_username("  Wang.Li ") == "wang.li"
    with pytest.raises(a.ConsoleRefusal) as e:
        a.check_role("root")
    assert e.value.field == "role"


def test_password_rules():
    assert a.password_problem("short").code == "WEAK_PASSWORD"
    assert a.password_problem("x" * 200).code == "WEAK_PASSWORD"
    assert a.password_problem("long-enough-pw", "other-password").code == "PASSWORD_MISMATCH"
    assert a.password_problem("long-enough-pw", "long-enough-pw") is None
    generated = {a.new_password() for _ in range(20)}
    assert len(generated) == 20 and all(len(p) >= 16 for p in generated)


def test_tokens_are_hashed_and_unguessable():
    assert a.token_sha256("mso_x") == a.token_sha256("mso_x") != a.token_sha256("mso_y")
    assert len(a.token_sha256("t")) == 64


@pytest.mark.parametrize("value,expected", [
    ("/console/find?msgid=1", "/console/find?msgid=1"), (None, "/console/"), ("https://evil.example/", "/console/"),
    ("//evil.example/console/", "/console/"), ("/m/", "/console/"), ("/console/login", "/console/"),
    ("/console/\\evil", "/console/")])
def test_after_sign_in_only_a_console_page_of_this_site(value, expected):
    assert safe_next(value) == expected


def test_net_position_bars_scale_to_the_largest_and_point_the_right_way():
    bars = _position_bars([{"pool": "330600", "receivable_fen": 500, "payable_fen": 0, "net_fen": 500},
                           {"pool": "450100", "receivable_fen": 0, "payable_fen": 250, "net_fen": -250},
                           {"pool": "110100", "receivable_fen": 0, "payable_fen": 0, "net_fen": 0}])
    assert bars[0]["pos"] and bars[0]["x"] == 200 and bars[0]["w"] == 190 and bars[0]["net"] == "5.00"
    assert not bars[1]["pos"] and bars[1]["x"] == 200 - 95 and bars[1]["w"] == 95 and bars[1]["net"] == "-2.50"
    assert bars[2]["w"] == 1
    assert _position_bars([]) == []


def test_the_feed_reads_the_outcome_from_the_envelope():
    ok = web.json_response({"infcode": 0, "output": {"big": "x" * 1000}})
    assert _outcome(ok) == ("OK", "")
    refused = web.json_response({"infcode": -1, "err_msg": "签名错误", "output": {"outcome": "BAD_SIGNATURE"}},
                                dumps=lambda o: json.dumps(o, ensure_ascii=False))
    assert _outcome(refused) == ("BAD_SIGNATURE", "签名错误")
    assert _outcome(web.Response(body=b"not json")) == ("FAILED", "")


def test_the_feed_keeps_reconciliation_results_and_differences():
    r = result_of("3201", {"stmtinfo": {"stmt_rslt": "1", "stmt_rslt_dscr": "总额不符"},
                           "platform": {"setl_cnt": 3, "medfee_sumamt": "10.00", "fund_pay_sumamt": "5.00",
                                        "acct_pay": "0.00"}})
    assert r["result"] == "disagree" and "总额不符" in r["message"] and "count 3" in r["message"]
    r = result_of("3202", {"result": [{"setl_id": "S1", "stmt_rslt": "0"}, {"setl_id": "S2", "stmt_rslt": "2",
                                                                           "memo": "missing"}],
                           "agreed": 1, "disagreed": 1})
    assert r["result"] == "disagree" and "S2: 2 missing" in r["message"] and "S1" not in r["message"]
    assert result_of("3203", {"result": {"status": "accepted", "memo": "ok"}})["result"] == "agree"
    assert result_of("2207", {"setlinfo": {}}) == {} and result_of("3201", None) == {}
