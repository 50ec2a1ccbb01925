"""E-voucher tokens: signature, expiry, TTL clamp (single use is tested against real Redis in
tests/integration/eligibility)."""

import pytest

from services.eligibility.tokens import EVOUCHER_EXPIRED, EVOUCHER_MALFORMED, EvoucherRefused, EvoucherSigner, clamp_ttl

SECRET = "unit-test-secret-of-at-least-32-bytes"


def test_ttl_is_clamped_to_60_120_seconds():
    assert clamp_ttl(5) == 60 and clamp_ttl(90) == 90 and clamp_ttl(3600) == 120
    assert EvoucherSigner(SECRET, 1).ttl_s == 60


def test_issue_then_verify_gives_the_person_back():
    s = EvoucherSigner(SECRET, 90)
    ev = s.issue("P123", now=1_000_000)
    assert ev.expires_at == 1_000_090 and ev.ttl_s == 90
    claims = s.verify(ev.token, now=1_000_089)
    assert claims.psn_no == "P123"


def test_expired_token_is_refused_clearly():
    s = EvoucherSigner(SECRET, 60)
    ev = s.issue("P123", now=1_000_000)
    with pytest.raises(EvoucherRefused) as e:
        s.verify(ev.token, now=1_000_060)
    assert e.value.outcome == EVOUCHER_EXPIRED and "expired" in e.value.message


def test_tampered_or_foreign_tokens_are_refused():
    s = EvoucherSigner(SECRET, 60)
    ev = s.issue("P123", now=1_000_000)
    head, payload, mac = ev.token.split(".")
    other = EvoucherSigner(SECRET, 60).issue("P999", now=1_000_000).token.split(".")[1]
    for bad in (f"{head}.{other}.{mac}", ev.token[:-2] + "AA", "hello", "",
                EvoucherSigner("another-secret-of-at-least-32-bytes!", 60).issue("P123", now=1_000_000).token):
        with pytest.raises(EvoucherRefused) as e:
            s.verify(bad, now=1_000_001)
        assert e.value.outcome == EVOUCHER_MALFORMED


def test_two_tokens_for_one_person_differ():
    s = EvoucherSigner(SECRET, 60)
    assert s.issue("P1", now=1).token != s.issue("P1", now=1).token
