"""Gateway authentication, both profiles (gateway/his/security.py): known signature vectors
(computed independently with openssl), constant-time comparison, header names in any case, the
refusal of an auth header repeated with two values, per-hospital profiles and windows, and the
Guard's sign-in rules (optional / required, 9001 / 9002) against a fake Redis."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from multidict import CIMultiDict

from gateway.his import security
from gateway.his.security import (
    API_WINDOW_S,
    Guard,
    Principal,
    SecurityRefusal,
    api_headers,
    api_signature,
    api_signing_text,
    authenticate,
    tif_headers,
    tif_signature,
)
from gateway.hisclient import api_headers as client_api_headers
from gateway.hisclient import tif_headers as client_tif_headers
from services.refdata.records import HospitalInterface

CODE, PAASID = "H33060200002", "his-sx-002"
SECRET = "demo-0123456789abcdef0123456789abcdef01234567"
NOW_S = 1_700_000_000
NOW_MS = NOW_S * 1000 + 123
BOTH = HospitalInterface(auth=("tif", "api_hmac_sha1"))


class _Hospital:
    code, admdvs = CODE, "330602"


class _Creds:
    def __init__(self, interface: HospitalInterface):
        self.code, self.secret, self.interface = CODE, SECRET, interface


class Cache:
    def __init__(self, interface: HospitalInterface = BOTH):
        self.creds = _Creds(interface)

    def hospital_by_paasid(self, paasid):
        return _Hospital() if paasid == PAASID else None

    def credentials(self, code):
        return self.creds if code == CODE else None


def auth(headers, interface: HospitalInterface = BOTH, *, now: float = NOW_S, **kw) -> Principal:
    return authenticate(headers, Cache(interface), window_s=300, now=lambda: now, **kw)


def refused(headers, interface: HospitalInterface = BOTH, **kw) -> SecurityRefusal:
    with pytest.raises(SecurityRefusal) as e:
        auth(headers, interface, **kw)
    return e.value


def api(**kw) -> dict[str, str]:
    return api_headers(PAASID, SECRET, now_ms=NOW_MS, **kw)


# ----------------------------------------------------------------------------- known vectors

def test_api_hmac_sha1_known_vectors():
    # printf '%s' "<text>" | openssl dgst -sha1 -hmac "<secret>" -binary | base64
    assert api_signing_text("AK", "1101", "1700000000000", "1.0.0") == \
        "_api_access_key=AK&_api_name=1101&_api_timestamp=1700000000000&_api_version=1.0.0"
    assert api_signature("SK", "AK", "1101", "1700000000000", "1.0.0") == "b0QXtQYjBkK0ICH00O38VcDdo4U="
    assert api_signature(SECRET, PAASID, "callService", str(NOW_MS), "1.0.0") == "LDL3JiLB+Du2x5taVRopjwH1zuA="
    # the client's own implementation agrees (gateway/hisclient.py signs without the server's code)
    assert client_api_headers(PAASID, SECRET, timestamp_ms=NOW_MS) == api()


def test_tif_known_vector():
    # printf '%s' "<ts><secret><nonce><ts>" | openssl dgst -sha256
    assert tif_signature("1700000000", SECRET, "n-001") == \
        "068ddcfe37fc5119a4d5d7265c76ca0c720d1436fb692ad2e29db476a6afbafd"
    assert client_tif_headers(PAASID, SECRET, timestamp=NOW_S, nonce="n-001") == \
        tif_headers(PAASID, SECRET, now=NOW_S, nonce="n-001")


# ----------------------------------------------------------------------------- accepted

def test_api_profile_authenticates_without_a_nonce():
    p = auth(api(), now=NOW_MS / 1000)
    assert (p.code, p.admdvs, p.profile, p.nonce, p.window_s) == (CODE, "330602", "api_hmac_sha1", "", API_WINDOW_S)


def test_tif_profile_authenticates_with_its_nonce():
    p = auth(tif_headers(PAASID, SECRET, now=NOW_S, nonce="n-1"))
    assert (p.profile, p.nonce, p.window_s) == ("tif", "n-1", 300)


def test_header_names_are_case_insensitive_for_both_profiles():
    upper = {k.upper(): v for k, v in api().items()}
    assert auth(upper).profile == "api_hmac_sha1"
    mixed = {k.title(): v for k, v in tif_headers(PAASID, SECRET, now=NOW_S).items()}
    assert auth(mixed).profile == "tif"
    # and an aiohttp request's headers: a case-insensitive multidict
    assert auth(CIMultiDict({k.upper(): v for k, v in api().items()})).profile == "api_hmac_sha1"


def test_tif_signature_in_upper_case_hex_is_accepted():
    h = tif_headers(PAASID, SECRET, now=NOW_S)
    h["x-tif-signature"] = h["x-tif-signature"].upper()
    assert auth(h).profile == "tif"


def test_api_signature_url_safe_or_unpadded_base64_is_accepted():
    h = api()
    h["_api_signature"] = h["_api_signature"].rstrip("=").replace("+", "-").replace("/", "_")
    assert auth(h).profile == "api_hmac_sha1"


def test_the_same_header_twice_with_the_same_value_is_accepted():
    h = CIMultiDict(api())
    h.add("_api_version", "1.0.0")
    assert auth(h).profile == "api_hmac_sha1"


# ----------------------------------------------------------------------------- constant time

def test_both_profiles_compare_signatures_with_hmac_compare_digest(monkeypatch):
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    auth(tif_headers(PAASID, SECRET, now=NOW_S))
    auth(api())
    assert seen == [(bytes, bytes), (bytes, bytes)]
    bad = api()
    bad["_api_signature"] = api_signature("wrong-secret", PAASID, "callService", str(NOW_MS), "1.0.0")
    assert refused(bad).outcome == "BAD_SIGNATURE"
    assert len(seen) == 3  # a wrong signature is found by the same constant-time comparison


# ----------------------------------------------------------------------------- refused

@pytest.mark.parametrize("profile", ["tif", "api"])
def test_an_auth_header_repeated_with_two_values_is_refused(profile):
    h = CIMultiDict(api() if profile == "api" else tif_headers(PAASID, SECRET, now=NOW_S))
    name = "_api_signature" if profile == "api" else "x-tif-signature"
    h.add(name.upper(), "AAAA")
    e = refused(h)
    assert (e.outcome, e.field) == ("AUTH_HEADER_REPEATED", name)
    # two spellings of one name in a plain mapping are the same header sent twice
    d = dict(tif_headers(PAASID, SECRET, now=NOW_S))
    d["X-TIF-NONCE"] = "other"
    assert refused(d).outcome == "AUTH_HEADER_REPEATED"


@pytest.mark.parametrize("mutate,outcome,field", [
    (lambda h: h.update({"_api_signature": "A" * 28}), "BAD_SIGNATURE", None),
    (lambda h: h.update({"_api_access_key": "his-unknown"}), "BAD_SIGNATURE", None),
    (lambda h: h.update({"_api_name": "1101"}), "BAD_SIGNATURE", None),        # the name is signed
    (lambda h: h.update({"_api_version": "2.0.0"}), "BAD_SIGNATURE", None),    # the version is signed
    (lambda h: h.update({"_api_timestamp": str(NOW_MS + 1)}), "BAD_SIGNATURE", None),
    (lambda h: h.pop("_api_version"), "AUTH_MISSING", "_api_version"),
    (lambda h: h.update({"_api_timestamp": "17e11"}), "AUTH_MALFORMED", "_api_timestamp"),
    (lambda h: h.update({"_api_signature": "not base64!"}), "AUTH_MALFORMED", "_api_signature"),
    (lambda h: h.update({"_api_name": "x" * 101}), "AUTH_MALFORMED", "_api_name"),
    (lambda h: h.update({"_api_name": "名称"}), "AUTH_MALFORMED", "_api_name"),
    (lambda h: h.update({"x-tif-nonce": "n"}), "AUTH_AMBIGUOUS", None),
])
def test_api_profile_refusals(mutate, outcome, field):
    h = api()
    mutate(h)
    e = refused(h, now=NOW_MS / 1000)
    assert (e.outcome, e.field) == (outcome, field)


def test_no_authentication_headers_at_all():
    e = refused({"Content-Type": "text/plain"})
    assert e.outcome == "AUTH_MISSING" and "x-tif-paasid" in e.message and "_api_access_key" in e.message


def test_api_timestamp_is_milliseconds_with_a_30_minute_window():
    assert auth(api(), now=NOW_MS / 1000 + API_WINDOW_S).profile == "api_hmac_sha1"
    e = refused(api(), now=NOW_MS / 1000 + API_WINDOW_S + 1)
    assert (e.outcome, e.field) == ("STALE_TIMESTAMP", "_api_timestamp") and "1800" in e.message
    assert refused(api(), now=NOW_MS / 1000 - API_WINDOW_S - 1).outcome == "STALE_TIMESTAMP"
    # seconds where milliseconds belong: stale, and the message says why
    seconds = api_headers(PAASID, SECRET, now_ms=NOW_S)
    e = refused(seconds, now=NOW_S)
    assert e.outcome == "STALE_TIMESTAMP" and "seconds, not milliseconds" in e.message


def test_a_hospital_allows_only_its_profiles_and_says_so_only_to_a_holder_of_the_secret():
    tif_only, api_only = HospitalInterface(auth=("tif",)), HospitalInterface(auth=("api_hmac_sha1",))
    e = refused(api(), tif_only, now=NOW_MS / 1000)
    assert (e.outcome, e.field) == ("AUTH_PROFILE_NOT_ALLOWED", "_api_access_key") and "accepts: tif" in e.message
    e = refused(tif_headers(PAASID, SECRET, now=NOW_S), api_only)
    assert e.outcome == "AUTH_PROFILE_NOT_ALLOWED" and "accepts: api_hmac_sha1" in e.message
    # a wrong secret under a profile the hospital does not allow: the same answer as any bad signature
    bad = api()
    bad["_api_signature"] = api_signature("wrong-secret", PAASID, "callService", str(NOW_MS), "1.0.0")
    assert refused(bad, tif_only).outcome == "BAD_SIGNATURE"


def test_per_hospital_windows():
    narrow = HospitalInterface(auth=("tif", "api_hmac_sha1"), tif_window_s=60, api_window_s=120)
    assert auth(tif_headers(PAASID, SECRET, now=NOW_S - 60), narrow).window_s == 60
    assert refused(tif_headers(PAASID, SECRET, now=NOW_S - 61), narrow).outcome == "STALE_TIMESTAMP"
    assert auth(api(), narrow, now=NOW_MS / 1000 + 120).window_s == 120
    assert refused(api(), narrow, now=NOW_MS / 1000 + 121).outcome == "STALE_TIMESTAMP"


def test_a_stale_request_with_a_bad_signature_is_a_bad_signature():
    # The window is checked after the signature: a prober cannot tell a known paasid by its clock.
    h = tif_headers(PAASID, SECRET, now=NOW_S - 10_000)
    h["x-tif-signature"] = hashlib.sha256(b"x").hexdigest()
    assert refused(h).outcome == "BAD_SIGNATURE"


# ----------------------------------------------------------------------------- the guard

class FakeRedis:
    """The guard script's semantics over dicts (no server): nonce SET NX, sign-in EXISTS, INCR."""

    def __init__(self):
        self.keys: dict[str, str] = {}

    def register_script(self, script):
        assert "ARGV[2] == '1'" in script

        async def run(keys, args):
            nonce, sign, counter = keys
            fresh = 1
            if str(args[1]) == "1":
                fresh = 0 if nonce in self.keys else 1
                self.keys.setdefault(nonce, "1")
            count = int(self.keys.get(counter, "0")) + 1
            self.keys[counter] = str(count)
            return [fresh, 1 if sign in self.keys else 0, count]
        return run

    async def set(self, key, value, ex=None):
        self.keys[key] = value

    async def delete(self, key):
        return 1 if self.keys.pop(key, None) is not None else 0


def principal(sign_in: str = "optional", nonce: str = "") -> Principal:
    return Principal(PAASID, CODE, "330602", nonce, profile="tif" if nonce else "api_hmac_sha1", window_s=300,
                     interface=HospitalInterface(auth=("tif", "api_hmac_sha1"), sign_in=sign_in))


async def test_guard_sign_in_optional_required_and_9002():
    redis = FakeRedis()
    g = Guard(redis, window_s=300, rate_limit_per_s=0, clock=lambda: NOW_S)
    optional, required = principal("optional"), principal("required")
    await g.admit(optional, infno="1101", sign_no="")            # optional: no sign_no is fine
    with pytest.raises(SecurityRefusal) as e:
        await g.admit(required, infno="1101", sign_no="")
    assert (e.value.outcome, e.value.field) == ("NOT_SIGNED_IN", "sign_no") and "requires sign-in" in e.value.message
    for p in (optional, required):                               # a sign_no that is sent must be live
        with pytest.raises(SecurityRefusal) as e:
            await g.admit(p, infno="1101", sign_no="20231115063320deadbeefdeadbeef")
        assert e.value.outcome == "NOT_SIGNED_IN"
    sign_no, sign_time = await g.sign_in(required, "op001")
    assert len(sign_no) == 30 and sign_time == "2023-11-15 06:13:20"   # Beijing time
    await g.admit(required, infno="2207", sign_no=sign_no)
    await g.admit(required, infno="9001", sign_no="")            # 9001 and 9002 need none in the envelope
    await g.admit(required, infno="9002", sign_no="")
    assert await g.sign_out(required, sign_no) == sign_time
    with pytest.raises(SecurityRefusal) as e:                    # signed out: dead, and a second 9002 is refused
        await g.admit(required, infno="2207", sign_no=sign_no)
    assert e.value.outcome == "NOT_SIGNED_IN"
    with pytest.raises(SecurityRefusal) as e:
        await g.sign_out(required, sign_no, field="input.signOut.sign_no")
    assert e.value.field == "input.signOut.sign_no"


async def test_guard_claims_a_nonce_only_under_tif():
    redis = FakeRedis()
    g = Guard(redis, window_s=300, rate_limit_per_s=0, clock=lambda: NOW_S)
    tif = principal(nonce="n-1")
    await g.admit(tif, infno="9001", sign_no="")
    with pytest.raises(SecurityRefusal) as e:
        await g.admit(tif, infno="9001", sign_no="")
    assert e.value.outcome == "NONCE_REUSED"
    api_p = principal()
    await g.admit(api_p, infno="9001", sign_no="")
    await g.admit(api_p, infno="9001", sign_no="")               # no nonce: the window and msgids bound replays
    assert not any(k.startswith(f"gw:nonce:{PAASID}:-") for k in redis.keys)


async def test_guard_rate_limit_is_a_retriable_refusal():
    g = Guard(FakeRedis(), window_s=300, rate_limit_per_s=1, clock=lambda: NOW_S)
    await g.admit(principal(), infno="9001", sign_no="")
    with pytest.raises(SecurityRefusal) as e:
        await g.admit(principal(), infno="9001", sign_no="")
    assert e.value.outcome == "RATE_LIMITED"
