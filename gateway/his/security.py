"""Who is calling, and may they: TIF signature, timestamp window, single-use nonce, sign-in, rate limit.

- Signature: hex SHA-256 of `timestamp + token + nonce + timestamp`, token = the hospital's secret
  (reference data), compared in constant time.
- The paasid is bound to one hospital (reference data): the envelope's fixmedins_code must be
  that hospital, and that code — never the envelope's claim — goes to the services as
  Caller.fixmedins_code, where per-hospital ownership of visits and settlements is enforced.
- Nonce: `SET gw:nonce:<paasid>:<nonce> NX EX 2*window` — a nonce seen within the window is a replay.
- Sign-in (9001): `sign_no` stored as `gw:sign:<code>:<sign_no>` for `SIGN_TTL_S`; a hospital may
  hold several (one per HIS terminal). Every other transaction must carry a live one.
- Rate limit: a fixed one-second window per hospital in Redis (`INCR gw:rl:<code>:<second>`).
  Redis rather than an in-process bucket because gateways scale out (SO_REUSEPORT, pods): the
  limit must hold per hospital across all of them. It costs nothing extra: nonce, sign-in and
  rate counter go to Redis in ONE round trip per request, as one server-side script (EVALSHA:
  one command to encode and one reply to parse instead of a four-command pipeline, which was
  ~20% of the gateway's time in the profile). The script goes over one pipelined connection
  (services/common/fastredis.py), not redis-py: under a CPU-time profile redis-py's pool
  checkout/release, command packing, wait_for task and parser were ~40% of a cached 1101's
  gateway time. Its errors are raised as redis-py's (RedisError: the endpoint answers 503).
"""

from __future__ import annotations

import asyncio
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

SIGN_TTL_S = 24 * 3600
HEADER_PAASID = "x-tif-paasid"
HEADER_TIMESTAMP = "x-tif-timestamp"
HEADER_NONCE = "x-tif-nonce"
HEADER_SIGNATURE = "x-tif-signature"


class SecurityRefusal(Exception):
    """A request that may not proceed; `status` is the HTTP status of the failure envelope."""

    def __init__(self, outcome: str, message: str, status: int = 401, field: str | None = None):
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


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the hospital its paasid is bound to."""
    paasid: str
    code: str
    admdvs: str
    nonce: str


def _header(headers: Mapping[str, str], name: str, max_len: int) -> str:
    v = headers.get(name)
    if not v:
        raise SecurityRefusal("AUTH_MISSING", f"缺少请求头 {name} (missing header {name})", field=name)
    if len(v) > max_len or not v.isascii() or not v.isprintable():
        raise SecurityRefusal("AUTH_MALFORMED", f"请求头 {name} 格式不符 (malformed header {name})", field=name)
    return v


def authenticate(headers: Mapping[str, str], cache: _Cache, *, window_s: int,
                 now: Callable[[], float] = time.time) -> Principal:
    """Signature and timestamp checks; no I/O. Raises SecurityRefusal."""
    paasid = _header(headers, HEADER_PAASID, 64)
    ts = _header(headers, HEADER_TIMESTAMP, 20)
    nonce = _header(headers, HEADER_NONCE, 64)
    signature = _header(headers, HEADER_SIGNATURE, 128)
    hospital = cache.hospital_by_paasid(paasid)
    creds = cache.credentials(hospital.code) if hospital is not None else None
    if hospital is None or creds is None:
        # Same words as a bad signature: do not tell a prober which paasids exist.
        raise SecurityRefusal("BAD_SIGNATURE", "签名校验失败 (signature check failed: unknown paasid or wrong secret)")
    if not ts.isdigit():
        raise SecurityRefusal("AUTH_MALFORMED", "x-tif-timestamp 应为 Unix 秒 (must be Unix seconds)",
                              field=HEADER_TIMESTAMP)
    skew = abs(now() - int(ts))
    if skew > window_s:
        raise SecurityRefusal("STALE_TIMESTAMP",
                              f"时间戳超出允许范围 ±{window_s}s, 请校准时钟 (x-tif-timestamp is {int(skew)}s away from "
                              f"the gateway's clock; the window is ±{window_s}s — synchronize the HIS clock)",
                              field=HEADER_TIMESTAMP)
    expected = tif_signature(ts, creds.secret, nonce)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise SecurityRefusal("BAD_SIGNATURE", "签名校验失败 (signature check failed: unknown paasid or wrong secret)")
    return Principal(paasid=paasid, code=hospital.code, admdvs=hospital.admdvs, nonce=nonce)


# KEYS: nonce, sign-in, rate counter of this second; ARGV: nonce TTL. Returns {fresh nonce 0/1,
# signed in 0/1, requests this second}. The rate counter lives 2 s from its first increment.
ADMIT_SCRIPT = """
local fresh = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local signed = redis.call('EXISTS', KEYS[2])
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('EXPIRE', KEYS[3], 2) end
if fresh then fresh = 1 else fresh = 0 end
return {fresh, signed, count}
"""
ADMIT_SHA = hashlib.sha1(ADMIT_SCRIPT.encode()).hexdigest()
# The guard script's timeout is the Redis client's socket timeout: the gateway's is
# Settings.gateway_redis_timeout_s (GATEWAY_REDIS_TIMEOUT_S); this default is for a client without one.
REDIS_TIMEOUT_S: float = config.default("GATEWAY_REDIS_TIMEOUT_S")


class Guard:
    """The Redis-backed checks: nonce, sign-in, rate limit (one round trip), and 9001 sign-in."""

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

    async def _run_admit(self, keys: list[str]) -> list:
        if self._fast is None:
            return await self._admit(keys=keys, args=[self._nonce_ttl_s])
        if trace.get_current_span().is_recording():  # the span TracedRedis would have made
            with tracer().start_as_current_span("redis EVALSHA", kind=SpanKind.CLIENT,
                                                attributes={"db.system": "redis", "db.operation": "EVALSHA"}):
                return await self._fast_admit(keys)
        return await self._fast_admit(keys)

    async def _fast_admit(self, keys: list[str]) -> list:
        assert self._fast is not None  # _run_admit calls this only with the fast connection
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._fast.evalsha(ADMIT_SHA, ADMIT_SCRIPT, 3, *keys, self._nonce_ttl_s)
        except RedisReplyError as exc:
            raise redis_errors.ResponseError(str(exc)) from None
        except TimeoutError:
            raise redis_errors.TimeoutError("Timeout reading from Redis (guard script)") from None
        except OSError as exc:  # cannot connect, connection lost
            raise redis_errors.ConnectionError(str(exc)) from exc

    async def admit(self, principal: Principal, *, infno: str, sign_no: str) -> None:
        second = int(self._clock())
        code = principal.code
        fresh_nonce, signed_in, count = await self._run_admit(
            [f"gw:nonce:{principal.paasid}:{principal.nonce}", f"gw:sign:{code}:{sign_no or '-'}",
             f"gw:rl:{code}:{second}"])
        if not fresh_nonce:
            raise SecurityRefusal("NONCE_REUSED", "x-tif-nonce 已使用过 (this nonce was already used: send a new random "
                                                  "nonce with every request)", field=HEADER_NONCE)
        if self._rate > 0 and int(count) > self._rate:
            raise SecurityRefusal("RATE_LIMITED", f"请求过于频繁, 每秒上限 {self._rate} 笔 (rate limit of {self._rate} "
                                                  f"requests per second for this hospital exceeded; retry shortly)",
                                  status=429)
        if infno != "9001" and not signed_in:
            raise SecurityRefusal("NOT_SIGNED_IN", "未签到或签到编号 sign_no 无效/已过期, 请先调用 9001 签到 (sign_no "
                                                   "is missing, unknown or expired: sign in with 9001 first)",
                                  status=200, field="sign_no")

    async def sign_in(self, principal: Principal, opter_no: str) -> tuple[str, str]:
        """Issue a sign_no for this hospital: (sign_no, sign_time)."""
        now = dt.datetime.fromtimestamp(self._clock(), BEIJING)
        sign_no = now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)
        await self._redis.set(f"gw:sign:{principal.code}:{sign_no}", opter_no or "-", ex=SIGN_TTL_S)
        return sign_no, now.strftime("%Y-%m-%d %H:%M:%S")
