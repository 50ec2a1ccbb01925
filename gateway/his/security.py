"""Who is calling, and may they: gateway authentication (two profiles), timestamp window, single-use
nonce, sign-in, rate limit.

- Two authentication profiles, chosen per hospital by its reference data (`interface.auth`,
  services/refdata/records.HospitalInterface). Both use the hospital's paasid as the access key
  and its secret as the key, and both compare in constant time (hmac.compare_digest):
  - `tif`: headers x-tif-paasid, x-tif-timestamp (Unix seconds), x-tif-nonce (single use) and
    x-tif-signature = hex SHA-256 of `timestamp + secret + nonce + timestamp` (any hex case);
  - `api_hmac_sha1`: headers _api_access_key (= paasid), _api_name, _api_version,
    _api_timestamp (Unix MILLIseconds) and _api_signature = Base64(HMAC-SHA1(secret,
    "_api_access_key=…&_api_name=…&_api_timestamp=…&_api_version=…")), window 30 minutes by
    default. It signs no body and carries no nonce: replays are bounded by the window and by
    msgid idempotency, which is why a hospital must opt in to it.
  Header names are case-insensitive; an authentication header repeated with two different values
  is refused (which one would be checked, and which one would a proxy have logged?). Headers of
  both profiles on one request are refused too.
- Order of the checks: header shapes -> the paasid's hospital -> the signature -> the hospital
  allows this profile -> the timestamp window. An unknown paasid and a wrong signature get the
  same answer, and everything after them is only ever said to a caller who holds the secret.
- The paasid is bound to one hospital (reference data): the envelope's fixmedins_code must be
  that hospital, and that code — never the envelope's claim — goes to the services as
  Caller.fixmedins_code, where per-hospital ownership of visits and settlements is enforced.
- Nonce (tif only): `SET gw:nonce:<paasid>:<nonce> NX EX 2*window` — a nonce seen within the
  window is a replay.
- Sign-in (9001): `sign_no` stored as `gw:sign:<code>:<sign_no>` for `SIGN_TTL_S`; a hospital may
  hold several (one per HIS terminal); 9002 deletes one. A sign_no that is sent must be live; an
  empty one (absent, "", "null") passes unless the hospital's `interface.sign_in` is "required".
- Rate limit: a fixed one-second window per hospital in Redis (`INCR gw:rl:<code>:<second>`).
  Redis rather than an in-process bucket because gateways scale out (SO_REUSEPORT, pods): the
  limit must hold per hospital across all of them. It costs nothing extra: nonce, sign-in and
  rate counter go to Redis in ONE round trip per request, as one server-side script (EVALSHA:
  one command to encode and one reply to parse instead of a four-command pipeline, which was
  ~20% of the gateway's time in the profile). The script goes over one pipelined connection
  (services/common/fastredis.py), not redis-py: under a CPU-time profile redis-py's pool
  checkout/release, command packing, wait_for task and parser were ~40% of a cached 1101's
  gateway time. Its errors are raised as redis-py's (RedisError: the endpoint answers
  GATEWAY_UNAVAILABLE).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from redis import exceptions as redis_errors

from services.common import config
from services.common.clock import BEIJING
from services.common.fastredis import PipelinedRedis, RedisReplyError
from services.common.telemetry import tracer
from services.refdata.records import DEFAULT_INTERFACE, HospitalInterface

SIGN_TTL_S = 24 * 3600
AUTH_TIF = "tif"
AUTH_API = "api_hmac_sha1"
API_WINDOW_S = 30 * 60  # the api_hmac_sha1 profile's default window, ± seconds
HEADER_PAASID = "x-tif-paasid"
HEADER_TIMESTAMP = "x-tif-timestamp"
HEADER_NONCE = "x-tif-nonce"
HEADER_SIGNATURE = "x-tif-signature"
TIF_HEADERS = (HEADER_PAASID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
API_ACCESS_KEY = "_api_access_key"
API_NAME = "_api_name"
API_VERSION = "_api_version"
API_TIMESTAMP = "_api_timestamp"
API_SIGNATURE = "_api_signature"
API_HEADERS = (API_ACCESS_KEY, API_NAME, API_VERSION, API_TIMESTAMP, API_SIGNATURE)
_AUTH_HEADERS = frozenset(TIF_HEADERS + API_HEADERS)
# Transactions that need no sign_no in the envelope: 9001 issues one, 9002 names the one it ends.
SESSIONLESS_INFNOS = frozenset({"9001", "9002"})
_BAD_SIGNATURE = "签名校验失败 (signature check failed: unknown paasid or wrong secret)"


class SecurityRefusal(Exception):
    """A request that may not proceed. On the HIS paths every refusal is an HTTP 200 failure
    envelope (what HIS clients can read); `status` is kept for callers that map it elsewhere."""

    def __init__(self, outcome: str, message: str, status: int = 200, field: str | None = None):
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.status = status
        self.field = field


class _Credentials(Protocol):
    code: str
    secret: str


class _Cache(Protocol):
    def hospital_by_paasid(self, paasid: str) -> Any: ...
    def credentials(self, code: str) -> _Credentials | None: ...


def tif_signature(timestamp: str, secret: str, nonce: str) -> str:
    return hashlib.sha256((timestamp + secret + nonce + timestamp).encode("utf-8")).hexdigest()


def tif_headers(paasid: str, secret: str, *, now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The four headers a HIS sends (used by hisclient and tests)."""
    ts = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    return {HEADER_PAASID: paasid, HEADER_TIMESTAMP: ts, HEADER_NONCE: nonce,
            HEADER_SIGNATURE: tif_signature(ts, secret, nonce)}


def api_signing_text(access_key: str, name: str, timestamp: str, version: str) -> str:
    """The four signed headers as key=value pairs joined by '&', keys in lexicographic order."""
    return f"{API_ACCESS_KEY}={access_key}&{API_NAME}={name}&{API_TIMESTAMP}={timestamp}&{API_VERSION}={version}"


def api_signature_digest(secret: str, access_key: str, name: str, timestamp: str, version: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), api_signing_text(access_key, name, timestamp, version).encode("utf-8"),
                    hashlib.sha1).digest()


def api_signature(secret: str, access_key: str, name: str, timestamp: str, version: str) -> str:
    """Base64(HMAC-SHA1(secret, signing text)): the `_api_signature` header."""
    return base64.b64encode(api_signature_digest(secret, access_key, name, timestamp, version)).decode("ascii")


def api_headers(access_key: str, secret: str, *, name: str = "callService", version: str = "1.0.0",
                now_ms: int | None = None) -> dict[str, str]:
    """The five headers of the api_hmac_sha1 profile (used by hisclient and tests)."""
    ts = str(int(time.time() * 1000) if now_ms is None else now_ms)
    return {API_ACCESS_KEY: access_key, API_NAME: name, API_VERSION: version, API_TIMESTAMP: ts,
            API_SIGNATURE: api_signature(secret, access_key, name, ts, version)}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the hospital its paasid is bound to, the profile it signed with,
    the timestamp window that applied (0: the guard's default) and the hospital's interface block.
    `nonce` is '' under api_hmac_sha1 (the profile has none)."""
    paasid: str
    code: str
    admdvs: str
    nonce: str
    profile: str = AUTH_TIF
    window_s: int = 0
    interface: HospitalInterface = DEFAULT_INTERFACE


def _auth_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The authentication headers by lower-case name. Every (name, value) pair is looked at, so a
    header sent twice (a multidict, or two spellings of one name) is seen twice: with two different
    values it is refused."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key not in _AUTH_HEADERS:
            continue
        prior = found.get(key)
        if prior is not None and prior != value:
            raise SecurityRefusal("AUTH_HEADER_REPEATED", f"请求头 {key} 出现多次且取值不同, 只能发送一次 (header {key} "
                                                          f"was sent more than once with different values: send it once)",
                                  field=key)
        found[key] = value
    return found


def _header(found: Mapping[str, str], name: str, max_len: int) -> str:
    v = found.get(name)
    if not v:
        raise SecurityRefusal("AUTH_MISSING", f"缺少请求头 {name} (missing header {name})", field=name)
    if len(v) > max_len or not v.isascii() or not v.isprintable():
        raise SecurityRefusal("AUTH_MALFORMED", f"请求头 {name} 格式不符 (malformed header {name})", field=name)
    return v


def _allowed(interface: HospitalInterface, profile: str, field: str) -> None:
    if profile not in interface.auth:
        allowed = ", ".join(interface.auth)
        raise SecurityRefusal("AUTH_PROFILE_NOT_ALLOWED",
                              f"该机构未开通 {profile} 认证方式, 可用: {allowed} (this hospital's interface profile does "
                              f"not accept {profile} authentication; it accepts: {allowed})", field=field)


def _hospital(cache: _Cache, paasid: str) -> tuple[Any, _Credentials]:
    hospital = cache.hospital_by_paasid(paasid)
    creds = cache.credentials(hospital.code) if hospital is not None else None
    if hospital is None or creds is None:
        # Same words as a bad signature: do not tell a prober which paasids exist.
        raise SecurityRefusal("BAD_SIGNATURE", _BAD_SIGNATURE)
    return hospital, creds


def authenticate(headers: Mapping[str, str], cache: _Cache, *, window_s: int,
                 now: Callable[[], float] = time.time, api_window_s: int = API_WINDOW_S) -> Principal:
    """Either profile's checks; no I/O. `window_s`: the TIF window, `api_window_s` the
    api_hmac_sha1 one, unless the hospital's interface block sets its own. Raises SecurityRefusal."""
    found = _auth_headers(headers)
    tif = any(h in found for h in TIF_HEADERS)
    api = any(h in found for h in API_HEADERS)
    if tif and api:
        raise SecurityRefusal("AUTH_AMBIGUOUS", "请求同时带有 TIF (x-tif-*) 与 _api_* 两种认证头, 只能用一种 (the request "
                                                "carries the headers of two authentication profiles, x-tif-* and _api_*: "
                                                "use one)")
    if api:
        return _authenticate_api(found, cache, window_s=api_window_s, now=now)
    if not tif:
        raise SecurityRefusal("AUTH_MISSING", "缺少认证请求头: TIF (x-tif-paasid, x-tif-timestamp, x-tif-nonce, "
                                              "x-tif-signature) 或 _api_* (_api_access_key, _api_name, _api_version, "
                                              "_api_timestamp, _api_signature) (missing authentication headers: those "
                                              "of the tif or of the api_hmac_sha1 profile)", field="(headers)")
    return _authenticate_tif(found, cache, window_s=window_s, now=now)


def _authenticate_tif(found: Mapping[str, str], cache: _Cache, *, window_s: int, now: Callable[[], float]) -> Principal:
    paasid = _header(found, HEADER_PAASID, 64)
    ts = _header(found, HEADER_TIMESTAMP, 20)
    nonce = _header(found, HEADER_NONCE, 64)
    signature = _header(found, HEADER_SIGNATURE, 128)
    if not ts.isdigit():
        raise SecurityRefusal("AUTH_MALFORMED", "x-tif-timestamp 应为 Unix 秒 (must be Unix seconds)",
                              field=HEADER_TIMESTAMP)
    hospital, creds = _hospital(cache, paasid)
    expected = tif_signature(ts, creds.secret, nonce)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise SecurityRefusal("BAD_SIGNATURE", _BAD_SIGNATURE)
    interface = getattr(creds, "interface", DEFAULT_INTERFACE)
    _allowed(interface, AUTH_TIF, HEADER_PAASID)
    window = interface.tif_window_s or window_s
    skew = abs(now() - int(ts))
    if skew > window:
        raise SecurityRefusal("STALE_TIMESTAMP",
                              f"时间戳超出允许范围 ±{window}s, 请校准时钟 (x-tif-timestamp is {int(skew)}s away from "
                              f"the gateway's clock; the window is ±{window}s — synchronize the HIS clock)",
                              field=HEADER_TIMESTAMP)
    return Principal(paasid=paasid, code=hospital.code, admdvs=hospital.admdvs, nonce=nonce, profile=AUTH_TIF,
                     window_s=window, interface=interface)


def _b64decode(text: str) -> bytes | None:
    """A Base64 signature as bytes: the standard alphabet or the URL-safe one, padded or not."""
    t = text.strip().replace("-", "+").replace("_", "/")
    t += "=" * (-len(t) % 4)
    try:
        return base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        return None


def _authenticate_api(found: Mapping[str, str], cache: _Cache, *, window_s: int, now: Callable[[], float]) -> Principal:
    access_key = _header(found, API_ACCESS_KEY, 100)
    name = _header(found, API_NAME, 100)
    version = _header(found, API_VERSION, 100)
    ts = _header(found, API_TIMESTAMP, 20)
    signature = _header(found, API_SIGNATURE, 300)
    if not ts.isdigit():
        raise SecurityRefusal("AUTH_MALFORMED", "_api_timestamp 应为 13 位毫秒时间戳 (must be Unix milliseconds, "
                                                "13 digits)", field=API_TIMESTAMP)
    given = _b64decode(signature)
    if given is None:
        raise SecurityRefusal("AUTH_MALFORMED", "_api_signature 应为 Base64 (must be Base64 of the HMAC-SHA1)",
                              field=API_SIGNATURE)
    hospital, creds = _hospital(cache, access_key)
    expected = api_signature_digest(creds.secret, access_key, name, ts, version)
    if not hmac.compare_digest(expected, given):
        raise SecurityRefusal("BAD_SIGNATURE", _BAD_SIGNATURE)
    interface = getattr(creds, "interface", DEFAULT_INTERFACE)
    _allowed(interface, AUTH_API, API_ACCESS_KEY)
    window = interface.api_window_s or window_s
    skew = abs(now() * 1000 - int(ts)) / 1000
    if skew > window:
        hint = " — 这像是秒而不是毫秒 (this looks like seconds, not milliseconds)" if len(ts) <= 11 else ""
        raise SecurityRefusal("STALE_TIMESTAMP",
                              f"时间戳超出允许范围 ±{window}s, 请校准时钟 (_api_timestamp is {int(skew)}s away from "
                              f"the gateway's clock; the window is ±{window}s — synchronize the HIS clock){hint}",
                              field=API_TIMESTAMP)
    return Principal(paasid=access_key, code=hospital.code, admdvs=hospital.admdvs, nonce="", profile=AUTH_API,
                     window_s=window, interface=interface)


# KEYS: nonce, sign-in, rate counter of this second; ARGV: nonce TTL, 1 to claim the nonce (0: the
# profile has none). Returns {fresh nonce 0/1, signed in 0/1, requests this second}. The rate
# counter lives 2 s from its first increment.
ADMIT_SCRIPT = """
local fresh = 1
if ARGV[2] == '1' and not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then fresh = 0 end
local signed = redis.call('EXISTS', KEYS[2])
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('EXPIRE', KEYS[3], 2) end
return {fresh, signed, count}
"""
ADMIT_SHA = hashlib.sha1(ADMIT_SCRIPT.encode()).hexdigest()
# The guard script's timeout is the Redis client's socket timeout: the gateway's is
# Settings.gateway_redis_timeout_s (GATEWAY_REDIS_TIMEOUT_S); this default is for a client without one.
REDIS_TIMEOUT_S: float = config.default("GATEWAY_REDIS_TIMEOUT_S")
_NOT_SIGNED_IN = ("未签到或签到编号 sign_no 无效/已过期/已签退, 请先调用 9001 签到 (sign_no is missing, unknown, "
                  "expired or signed out: sign in with 9001 first)")


def redis_client_options(timeout_s: float) -> dict[str, Any]:
    """How the gateway's redis-py client is built (gateway/main.py): its socket and connect
    timeouts, and one retry on a lost connection, so that the first command after Redis restarts
    (9001's SET, 9002's DEL) reconnects instead of failing with GATEWAY_UNAVAILABLE."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
            "retry": Retry(NoBackoff(), 1), "retry_on_error": [redis_errors.ConnectionError]}


class Guard:
    """The Redis-backed checks: nonce, sign-in, rate limit (one round trip), and 9001/9002."""

    def __init__(self, redis, *, window_s: int, rate_limit_per_s: int, clock: Callable[[], float] = time.time):
        self._redis = redis
        self._nonce_ttl_s = max(2 * window_s, 1)  # a replay is caught anywhere in the ± window
        self._rate = rate_limit_per_s
        self._clock = clock
        # No I/O here: the script is sent by EVALSHA, and loaded on the first NOSCRIPT.
        self._admit = redis.register_script(ADMIT_SCRIPT)
        # The per-request script over one pipelined connection to the same server (connected on
        # first use); None for a client it cannot mirror (TLS...): then redis-py's script above.
        self._fast = PipelinedRedis.like(redis)
        kw = getattr(getattr(redis, "connection_pool", None), "connection_kwargs", {}) or {}
        self._timeout_s = kw.get("socket_timeout") or REDIS_TIMEOUT_S

    def close(self) -> None:
        """Close the guard's own connection (the redis client passed in is the caller's to close)."""
        if self._fast is not None:
            self._fast.close()

    async def _run_admit(self, keys: list[str], args: list[int]) -> list:
        if self._fast is None:
            return await self._admit(keys=keys, args=args)
        if trace.get_current_span().is_recording():  # the span TracedRedis would have made
            with tracer().start_as_current_span("redis EVALSHA", kind=SpanKind.CLIENT,
                                                attributes={"db.system": "redis", "db.operation": "EVALSHA"}):
                return await self._fast_admit(keys, args)
        return await self._fast_admit(keys, args)

    async def _fast_admit(self, keys: list[str], args: list[int]) -> list:
        assert self._fast is not None  # _run_admit calls this only with the fast connection
        try:
            async with asyncio.timeout(self._timeout_s):
                try:
                    return await self._fast.evalsha(ADMIT_SHA, ADMIT_SCRIPT, 3, *keys, *args)
                except ConnectionError:
                    # The connection died under us (Redis restarted): reconnect and send once more,
                    # so the first request after Redis is back is answered. Safe: SET NX claims a
                    # nonce at most once, so a script that did run before the loss makes the retry
                    # a refused replay (NONCE_REUSED), never a second acceptance.
                    self._fast.close()
                    return await self._fast.evalsha(ADMIT_SHA, ADMIT_SCRIPT, 3, *keys, *args)
        except RedisReplyError as exc:
            raise redis_errors.ResponseError(str(exc)) from None
        except TimeoutError:
            raise redis_errors.TimeoutError("Timeout reading from Redis (guard script)") from None
        except OSError as exc:  # cannot connect, connection lost
            raise redis_errors.ConnectionError(str(exc)) from exc

    async def admit(self, principal: Principal, *, infno: str, sign_no: str) -> None:
        """`sign_no`: the envelope's, '' when it was empty, absent or a "null" placeholder."""
        second = int(self._clock())
        code = principal.code
        ttl = max(2 * principal.window_s, 1) if principal.window_s else self._nonce_ttl_s
        fresh_nonce, signed_in, count = await self._run_admit(
            [f"gw:nonce:{principal.paasid}:{principal.nonce or '-'}", f"gw:sign:{code}:{sign_no or '-'}",
             f"gw:rl:{code}:{second}"], [ttl, 1 if principal.nonce else 0])
        if not fresh_nonce:
            raise SecurityRefusal("NONCE_REUSED", "x-tif-nonce 已使用过 (this nonce was already used: send a new random "
                                                  "nonce with every request)", field=HEADER_NONCE)
        if self._rate > 0 and int(count) > self._rate:
            raise SecurityRefusal("RATE_LIMITED", f"请求过于频繁, 每秒上限 {self._rate} 笔 (rate limit of {self._rate} "
                                                  f"requests per second for this hospital exceeded; retry shortly)")
        if infno in SESSIONLESS_INFNOS:
            return
        if sign_no and not signed_in:
            raise SecurityRefusal("NOT_SIGNED_IN", _NOT_SIGNED_IN, field="sign_no")
        if not sign_no and principal.interface.sign_in == "required":
            raise SecurityRefusal("NOT_SIGNED_IN", "本机构须先签到: sign_no 必填, 请先调用 9001 签到 (this hospital's "
                                                   "interface profile requires sign-in: sign in with 9001 and send its "
                                                   "sign_no)", field="sign_no")

    async def sign_in(self, principal: Principal, opter_no: str) -> tuple[str, str]:
        """Issue a sign_no for this hospital: (sign_no, sign_time)."""
        now = dt.datetime.fromtimestamp(self._clock(), BEIJING)
        sign_no = now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)
        await self._redis.set(f"gw:sign:{principal.code}:{sign_no}", opter_no or "-", ex=SIGN_TTL_S)
        return sign_no, now.strftime("%Y-%m-%d %H:%M:%S")

    async def sign_out(self, principal: Principal, sign_no: str, *, field: str = "sign_no") -> str:
        """End one of this hospital's sign-ins (9002): its sign_time. A sign_no that is not live
        for this hospital (unknown, expired, already signed out, another hospital's) is refused."""
        removed = await self._redis.delete(f"gw:sign:{principal.code}:{sign_no}")
        if not removed:
            raise SecurityRefusal("NOT_SIGNED_IN", "签到编号 sign_no 未签到、已过期或已签退 (this sign_no is not signed "
                                                   "in for this hospital: unknown, expired or already signed out)",
                                  field=field)
        return dt.datetime.fromtimestamp(self._clock(), BEIJING).strftime("%Y-%m-%d %H:%M:%S")
