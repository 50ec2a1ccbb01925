"""The patient accounts against real parts: eligibility's VerifyRealName over gRPC (the filing
tests' harness: real eligibility server, real PostgreSQL), the accounts repository (portal
schema), codes, lock-out and rate limits in the real Redis, the dev SMS outbox on disk. The clock
is a settable fake, so expiry is tested without waiting."""

from __future__ import annotations

import dataclasses
import random
import types

import pytest
import pytest_asyncio

from gateway.portal import codes
from gateway.portal.accounts import Portal, PortalRefusal
from gateway.portal.ratelimit import RateLimiter
from gateway.portal.repository import AccountsRepository
from gateway.portal.sms import DevSmsSender, read_outbox
from medsettle.eligibility.v1 import eligibility_pb2 as epb
from services.common.clock import Clock
from services.common.config import Settings
from services.common.ids import make_certno
from services.common.telemetry import traced_redis
from tests.integration.filing.conftest import harness, load_persons, person  # noqa: F401 - the fixture

T0 = 1_900_000_000.0
UNKNOWN = make_certno(f"110101{random.randrange(1950, 2000)}0307{random.randrange(100, 999)}")  # valid, nobody's


def _phone() -> str:
    return "13" + "".join(random.choice("0123456789") for _ in range(9))


async def _patient(db_pool, uid: str, *, phone: str | None = "auto", name: str = "测试人") -> dict:
    p = person(f"PA{uid}{random.randrange(1000)}", "330600", "390")
    p["name"] = name
    if phone:
        p["phone"] = _phone() if phone == "auto" else phone
    await load_persons(db_pool, [p])
    return p


class FakeTime:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest_asyncio.fixture
async def portal(db_pool, redis_url, harness, tmp_path):  # noqa: F811 - the harness fixture
    settings = dataclasses.replace(Settings.from_env(), session_secret="s" * 43, portal_code_ttl_s=300,
                                   portal_max_attempts=3, portal_lockout_s=900, data_dir=tmp_path)
    now = FakeTime()
    clock = Clock(now)
    redis = traced_redis(redis_url)
    p = Portal(settings=settings, clock=clock, redis=redis, accounts=AccountsRepository(db_pool),
               limiter=RateLimiter(redis, max_attempts=3, lockout_s=900),
               sms=DevSmsSender(tmp_path / "sms-outbox.jsonl", clock),
               stubs=types.SimpleNamespace(eligibility=harness.eligibility))
    p.now = now  # type: ignore[attr-defined]
    p.outbox = tmp_path / "sms-outbox.jsonl"  # type: ignore[attr-defined]
    p.client = f"10.{random.randrange(255)}.{random.randrange(255)}.{random.randrange(255)}"  # type: ignore
    yield p
    await redis.aclose()


async def _code(portal, phone: str) -> str:
    await portal.drain()
    sent = [m for m in read_outbox(portal.outbox) if m["phone"] == phone]
    assert sent, "no code in the outbox"
    return str(sent[-1]["code"])


async def _accounts(db_pool, psn_no: str) -> int:
    return await db_pool.fetchval("SELECT count(*) FROM portal.accounts WHERE psn_no = $1", psn_no)


async def test_verify_real_name_matches_only_certno_name_and_a_phone(harness, db_pool, uid):  # noqa: F811
    p = await _patient(db_pool, uid)
    nophone = await _patient(db_pool, uid + "n", phone=None)
    ok = await harness.eligibility.VerifyRealName(epb.VerifyRealNameRequest(certno=p["certno"], name="测试人"))
    assert (ok.matched, ok.psn_no, ok.phone) == (True, p["psn_no"], p["phone"])
    for certno, name in ((p["certno"], "别人"), (nophone["certno"], "测试人"), (UNKNOWN, "测试人"),
                         ("not-a-number", "测试人")):
        no = await harness.eligibility.VerifyRealName(epb.VerifyRealNameRequest(certno=certno, name=name))
        assert no == epb.VerifyRealNameResponse(matched=False)  # nothing else filled, whatever the reason


async def test_signup_code_binds_the_account_once(portal, db_pool, uid):
    p = await _patient(db_pool, uid)
    subj = await portal.send_code(certno=p["certno"], name="测试人", purpose="signup", client=portal.client)
    code = await _code(portal, p["phone"])
    assert await portal.verify_code(subj=subj, code=code, purpose="signup", client=portal.client) == p["psn_no"]
    await portal.bind_account(psn_no=p["psn_no"], certno=p["certno"], password="correct horse", again="correct horse")
    assert await _accounts(db_pool, p["psn_no"]) == 1
    row = await db_pool.fetchrow("SELECT password_hash FROM portal.accounts WHERE psn_no = $1", p["psn_no"])
    assert row["password_hash"].startswith("$argon2id$") and "correct horse" not in row["password_hash"]
    with pytest.raises(PortalRefusal) as e:  # spent
        await portal.verify_code(subj=subj, code=code, purpose="signup", client=portal.client)
    assert e.value.code == "CODE_EXPIRED"
    assert await portal.password_login(certno=p["certno"], password="correct horse", client=portal.client) == p["psn_no"]


async def test_an_expired_code_is_refused_and_nothing_is_written(portal, db_pool, uid):
    p = await _patient(db_pool, uid)
    subj = await portal.send_code(certno=p["certno"], name="测试人", purpose="signup", client=portal.client)
    code = await _code(portal, p["phone"])
    portal.now.t += portal.settings.portal_code_ttl_s  # exactly the TTL later: expired
    with pytest.raises(PortalRefusal) as e:
        await portal.verify_code(subj=subj, code=code, purpose="signup", client=portal.client)
    assert (e.value.code, e.value.field) == ("CODE_EXPIRED", "code")
    assert await _accounts(db_pool, p["psn_no"]) == 0


async def test_wrong_codes_lock_the_number_out_even_for_the_right_code(portal, db_pool, uid):
    p = await _patient(db_pool, uid)
    subj = await portal.send_code(certno=p["certno"], name="测试人", purpose="signup", client=portal.client)
    code = await _code(portal, p["phone"])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    got = []
    for _ in range(3):
        with pytest.raises(PortalRefusal) as e:
            await portal.verify_code(subj=subj, code=wrong, purpose="signup", client=portal.client)
        got.append(e.value.code)
    assert got == ["CODE_WRONG", "CODE_WRONG", "LOCKED_OUT"]
    with pytest.raises(PortalRefusal) as e:
        await portal.verify_code(subj=subj, code=code, purpose="signup", client=portal.client)
    assert e.value.code == "LOCKED_OUT" and e.value.status == 429
    with pytest.raises(PortalRefusal) as e:  # a password sign-in of the same number too
        await portal.password_login(certno=p["certno"], password="whatever1", client=portal.client)
    assert e.value.code == "LOCKED_OUT"
    assert await _accounts(db_pool, p["psn_no"]) == 0


async def test_unknown_person_wrong_name_no_phone_get_the_same_answer_and_no_sms(portal, db_pool, uid):
    p = await _patient(db_pool, uid)
    nophone = await _patient(db_pool, uid + "n", phone=None)
    before = len(read_outbox(portal.outbox))
    for certno, name in ((p["certno"], "别人"), (nophone["certno"], "测试人"), (UNKNOWN, "王五")):
        subj = await portal.send_code(certno=certno, name=name, purpose="signup", client=portal.client)
        assert subj == codes.subject(portal.secret, certno)  # the same kind of answer as a match
        raw = await portal.redis.get(f"portal:code:{subj}")
        assert raw is not None  # a state is stored as for a match, so the next step looks the same
        with pytest.raises(PortalRefusal) as e:
            await portal.verify_code(subj=subj, code="000000", purpose="signup", client=portal.client)
        assert e.value.code == "CODE_WRONG"
    await portal.drain()
    assert len(read_outbox(portal.outbox)) == before


async def test_too_many_codes_for_one_number_are_refused(portal, db_pool, uid):
    p = await _patient(db_pool, uid)
    for _ in range(3):
        await portal.send_code(certno=p["certno"], name="测试人", purpose="signup", client=portal.client)
    with pytest.raises(PortalRefusal) as e:
        await portal.send_code(certno=p["certno"], name="测试人", purpose="signup", client=portal.client)
    assert e.value.code == "TOO_MANY_CODES" and e.value.retry_after
    portal.now.t += 600  # the next window
    await portal.send_code(certno=p["certno"], name="测试人", purpose="signup", client=portal.client)


async def test_password_login_refuses_unknown_and_wrong_alike(portal, db_pool, uid):
    p = await _patient(db_pool, uid)
    await portal.bind_account(psn_no=p["psn_no"], certno=p["certno"], password="s3cret-pass", again=None)
    outcomes = []
    for certno, pw in ((p["certno"], "wrong-pass"), (UNKNOWN, "s3cret-pass")):
        with pytest.raises(PortalRefusal) as e:
            await portal.password_login(certno=certno, password=pw, client=portal.client)
        outcomes.append((e.value.code, e.value.message))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "LOGIN_FAILED"
    with pytest.raises(PortalRefusal) as e:
        await portal.bind_account(psn_no=p["psn_no"], certno=p["certno"], password="short", again=None)
    assert e.value.code == "WEAK_PASSWORD"


async def test_too_many_codes_from_one_address_are_refused_whoever_is_named(portal, db_pool, uid):
    portal.settings = dataclasses.replace(portal.settings, portal_codes_per_client=2)
    a, b, c = [await _patient(db_pool, uid + x) for x in "abc"]
    await portal.send_code(certno=a["certno"], name="测试人", purpose="signup", client=portal.client)
    await portal.send_code(certno=b["certno"], name="测试人", purpose="signup", client=portal.client)
    with pytest.raises(PortalRefusal) as e:
        await portal.send_code(certno=c["certno"], name="测试人", purpose="signup", client=portal.client)
    assert e.value.code == "TOO_MANY_CODES" and e.value.status == 429
    await portal.send_code(certno=c["certno"], name="测试人", purpose="signup", client=portal.client + "9")
