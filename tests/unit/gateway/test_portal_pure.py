"""The patient pages' pure parts: one-time codes and their hashes, the rate-limit and lock-out
arithmetic (a fake clock: times are arguments), the signed session cookie and CSRF token."""

from __future__ import annotations

import pytest

from gateway.portal import codes
from gateway.portal.ratelimit import Limit, lockout_after
from gateway.portal.sessions import csrf_for, new_sid, safe_next, sign_cookie, verify_cookie

SECRET = "k" * 43


def test_codes_are_six_random_digits():
    got = {codes.new_code() for _ in range(300)}
    assert all(len(c) == 6 and c.isdigit() for c in got)
    assert len(got) > 290  # random, not a counter or a constant


def test_a_code_checks_only_for_its_subject_before_it_expires():
    subj = codes.subject(SECRET, "330602196804120112")
    state = codes.CodeState(codes.code_hash(SECRET, subj, "123456"), "P1", "signup", expires_at=1000.0)
    assert state.check(SECRET, subj, "123456", now=999.0) == "ok"
    assert state.check(SECRET, subj, "123457", now=999.0) == "wrong"
    assert state.check(SECRET, subj, "12345", now=999.0) == "wrong"
    assert state.check(SECRET, codes.subject(SECRET, "33060219610903022X"), "123456", now=999.0) == "wrong"
    assert state.check("other-key" * 5, subj, "123456", now=999.0) == "wrong"
    assert state.check(SECRET, subj, "123456", now=1000.0) == "expired"


def test_a_pretended_code_matches_nothing():
    # Details that matched nobody store a state too (same answer for everyone): no code opens it.
    subj = codes.subject(SECRET, "330602196804120112")
    state = codes.CodeState(codes.unguessable_hash(), "", "signup", expires_at=1000.0)
    assert all(state.check(SECRET, subj, f"{n:06d}", now=0.0) == "wrong" for n in range(0, 1_000_000, 997))


def test_the_subject_key_hides_the_id_number_and_needs_the_key():
    a = codes.subject(SECRET, "330602196804120112")
    assert "330602" not in a and len(a) == 32
    assert a == codes.subject(SECRET, "330602196804120112") != codes.subject("x" * 43, "330602196804120112")
    assert codes.subject(SECRET, "33060219610903022x") == codes.subject(SECRET, "33060219610903022X")


@pytest.mark.parametrize("pw, again, problem", [
    ("short", None, "WEAK_PASSWORD"), ("longenough", "longenougH", "PASSWORD_MISMATCH"),
    ("longenough", "longenough", None), ("x" * 129, None, "WEAK_PASSWORD"),
])
def test_password_rules(pw, again, problem):
    assert codes.password_problem(pw, again) == problem


def test_fixed_window_arithmetic_with_a_fake_clock():
    lim = Limit("code", 3, 600)
    assert lim.window(1200.0) == lim.window(1799.9) == 2 and lim.window(1800.0) == 3
    assert [lim.allows(n) for n in (1, 3, 4)] == [True, True, False]
    assert lim.retry_after(1200.0) == 600 and lim.retry_after(1799.5) == 1 and lim.retry_after(1500.0) == 300


def test_lockout_after_the_maximum_of_failures():
    assert [lockout_after(n, 5) for n in (1, 4, 5, 6)] == [False, False, True, True]
    assert not lockout_after(100, 0)  # 0: no lock-out


def test_session_cookie_is_signed_and_a_forged_one_is_refused():
    sid = new_sid()
    value = sign_cookie(SECRET, sid)
    assert verify_cookie(SECRET, value) == sid
    assert verify_cookie("y" * 43, value) is None                      # another installation's key
    assert verify_cookie(SECRET, new_sid() + value[43:]) is None       # another id under this MAC
    assert verify_cookie(SECRET, value[:-1] + ("A" if value[-1] != "A" else "B")) is None
    for junk in (None, "", "abc", "a.b.c", sid):
        assert verify_cookie(SECRET, junk) is None


def test_csrf_token_is_per_session():
    a, b = new_sid(), new_sid()
    assert csrf_for(SECRET, a) == csrf_for(SECRET, a) != csrf_for(SECRET, b)
    assert csrf_for(SECRET, a) != csrf_for("z" * 43, a)


@pytest.mark.parametrize("value, expected", [
    ("/m/evoucher", "/m/evoucher"), ("https://evil.example/", "/m/"), ("//evil.example/m/", "/m/"),
    ("/api/v1/x", "/m/"), (None, "/m/"), ("/m/\\evil", "/m/"),
])
def test_only_a_local_m_path_is_a_next(value, expected):
    assert safe_next(value) == expected


def _request(headers: dict[str, str]):
    import dataclasses

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from gateway.deps import SETTINGS
    from services.common.config import Settings

    app = web.Application()
    app[SETTINGS] = dataclasses.replace(Settings.from_env({}), session_secret=SECRET)
    return make_mocked_request("POST", "/m/filings", headers={"Host": "127.0.0.1:8080", **headers}, app=app)


def test_check_csrf_needs_the_sessions_token_and_this_site():
    from gateway.portal.sessions import COOKIE, CsrfRefused, check_csrf

    sid = new_sid()
    cookie = {"Cookie": f"{COOKIE}={sign_cookie(SECRET, sid)}"}
    good = csrf_for(SECRET, sid)
    check_csrf(_request(cookie), {"csrf": good})                                       # a form
    check_csrf(_request({**cookie, "X-CSRF-Token": good}), None)                       # the JSON API
    check_csrf(_request({**cookie, "Origin": "http://127.0.0.1:8080"}), {"csrf": good})
    refused = [
        (cookie, {}), (cookie, {"csrf": "x"}), (cookie, {"csrf": csrf_for(SECRET, new_sid())}),
        ({}, {"csrf": good}),                                                          # no cookie
        ({"Cookie": f"{COOKIE}={sid}.forged"}, {"csrf": good}),
        ({**cookie, "Origin": "https://evil.example"}, {"csrf": good}),
        ({**cookie, "Origin": "null"}, {"csrf": good}),
        ({**cookie, "Sec-Fetch-Site": "cross-site"}, {"csrf": good}),
    ]
    for headers, form in refused:
        with pytest.raises(CsrfRefused):
            check_csrf(_request(headers), form)
