"""Redis cache of persons for the eligibility service: correct to the second, never an outage.

What is cached: one entry per person holding everything needed to answer any date and
insurance type (domain.Person: person row, enrollments, identities, chronic qualifications).
Choosing the enrollment for a date is a pure function over it (rules.py), so one entry serves
every (insutype, date) and one invalidation covers them all.

Keys
- `elig:p:{psn_no}`   the entry: JSON {"e": epoch, "v": version, "d": Person}, TTL ttl_s
- `elig:v:{psn_no}`   the person's version, a new random token at every invalidation (long TTL)
- `elig:epoch`        a global epoch, INCR'd to invalidate everyone (reference loads of many
                      persons, recovery after an outage during which invalidations were lost)
- `elig:lock:{psn_no}` a short fill lock across processes
- `elig:a:{kind}:{value}` an alias → psn_no hint (kind "c": ID number / certno, "s": social
                      security card), TTL ttl_s; also remembered in-process
- `elig:ev:{nonce}`   an e-voucher once scanned: "hospital|psn_no|visit_key" (visit_key empty until
                      the first registration or settlement binds it; `claim_evoucher`, `use_evoucher`)
- `elig:presented:{hospital}:{psn_no}` the person showed a certificate to the hospital at 1101
                      (5206 is answered to it; `mark_presented`, `was_presented`)

This module is the only code that knows these keys (tests/unit/test_schema_ownership.py): every
other writer — the bulk import, the reference loader's caller — invalidates through
`invalidate_persons` / `invalidate_everyone`.

Aliases (FindPerson by ID number or social card): the alias is a HINT, never trusted alone. The
person it names is read through the version-checked entry above, and the hint is used only if
that current entry still carries the same certno / social card. Both columns are UNIQUE, so if
the person's current (committed, not invalidated) row holds the value, nobody else can hold it;
a write that moves the value to someone else changes the old holder's row, which bumps the old
holder's version, so a stale hint fails the check and the lookup goes to PostgreSQL. Hence
aliases need no invalidation of their own. Misses are never cached (an unknown certno is looked
up in PostgreSQL every time), so a person created later is found at once.

Read: MGET epoch, version, entry in one round trip; a hit needs the entry's (e, v) to equal the
current ones. The decoded entry is remembered in-process per person together with the exact
bytes it came from, so a hit whose bytes are unchanged costs no JSON decoding; freshness is
still decided only by what Redis returned. Miss: fill. A fill remembers the (e, v) it read
BEFORE reading PostgreSQL and writes the entry with a Lua script only if (e, v) are still the same. A writer commits and THEN
bumps the version, so a reader that read old rows before the commit finds the version changed
and its entry is dropped ("reader fills with old data after the writer invalidated" cannot
happen), and every read that starts after the writer's reply sees the new version, misses, and
reads the committed rows.

Stampede: concurrent misses in one process share one fill (single flight keyed by
(psn_no, epoch, version), so a read that starts after an invalidation never joins a fill begun
before it); across processes a `SET NX PX` lock lets one process read PostgreSQL while the
others poll the cache briefly, then read PostgreSQL themselves if the holder is slow.

Redis down or slow: every Redis call has a short timeout; on failure the cache answers from
PostgreSQL (counted in `fallbacks`), skips Redis for `retry_after_s`, then tries again. An
invalidation that could not reach Redis is remembered; before the cache is used again those
persons' versions are bumped (or the epoch, if too many), so an entry written before the
outage is never served after a write made during it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg

from services.common.fastredis import PipelinedRedis
from services.eligibility.domain import ChronicQualification, Enrollment, Identity, Person
from services.eligibility.repository import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

EPOCH_KEY = "elig:epoch"
_PENDING_MAX = 50_000  # more lost invalidations than this: bump the epoch instead

# SET the entry only if the epoch and the person's version are still those read before the fill.
_FILL_LUA = """
local e = redis.call('GET', KEYS[1]) or '0'
local v = redis.call('GET', KEYS[2]) or '0'
if e == ARGV[1] and v == ARGV[2] then
  redis.call('SET', KEYS[3], ARGV[3], 'EX', tonumber(ARGV[4]))
  return 1
end
return 0
"""
# Release the fill lock only if we still hold it.
_UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def entry_key(psn_no: str) -> str:
    return f"elig:p:{psn_no}"


def version_key(psn_no: str) -> str:
    return f"elig:v:{psn_no}"


def lock_key(psn_no: str) -> str:
    return f"elig:lock:{psn_no}"


def alias_key(kind: str, value: str) -> str:
    return f"elig:a:{kind}:{value}"


def evoucher_key(nonce: str) -> str:
    return f"elig:ev:{nonce}"


async def claim_evoucher(redis, nonce: str, ttl_s: int, *, timeout_s: float, hospital: str = "",
                         psn_no: str = "") -> bool:
    """Record an e-voucher's nonce as scanned by `hospital` for `psn_no` (no visit yet); False if
    it already was. Raises when Redis cannot be reached (the caller refuses the token: a replay
    could not be told apart)."""
    value = f"{hospital}|{psn_no}|"
    return bool(await asyncio.wait_for(redis.set(evoucher_key(nonce), value, nx=True, ex=ttl_s), timeout_s))


# KEYS[1] the token's record; ARGV hospital, psn_no, visit_key, ttl_s, may_create ("1": the token
# is not expired, so a first use may create the record — first use = scan).
# Answers "ok", "bound" (the visit key was set now), "expired" (no record and may not create),
# "hospital:<H>" (scanned at another hospital) or "visit" (bound to another visit).
_USE_EVOUCHER_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then
  if ARGV[5] ~= '1' then return 'expired' end
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3], 'EX', tonumber(ARGV[4]))
  return 'bound'
end
local h, k = '', ''
local i = string.find(v, '|', 1, true)
local j = i and string.find(v, '|', i + 1, true)
if j then  -- (a record of the single-use era, "1", is a scan by an unknown hospital)
  h = string.sub(v, 1, i - 1)
  k = string.sub(v, j + 1)
end
if h ~= '' and h ~= ARGV[1] then return 'hospital:' .. h end
if k == '' then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3], 'KEEPTTL')
  return 'bound'
end
if k == ARGV[3] then return 'ok' end
return 'visit'
"""


async def use_evoucher(redis, nonce: str, *, hospital: str, psn_no: str, visit_key: str, ttl_s: int,
                       may_create: bool, timeout_s: float) -> str:
    """Bind (atomically) a scanned e-voucher to a visit of `hospital`, or check it is bound to this
    one; see _USE_EVOUCHER_LUA for the answers. Raises when Redis cannot be reached."""
    out = await asyncio.wait_for(redis.eval(_USE_EVOUCHER_LUA, 1, evoucher_key(nonce), hospital, psn_no, visit_key,
                                            str(ttl_s), "1" if may_create else "0"), timeout_s)
    return out.decode() if isinstance(out, bytes) else str(out)


def presented_key(hospital: str, psn_no: str) -> str:
    return f"elig:presented:{hospital}:{psn_no}"


async def mark_presented(redis, hospital: str, psn_no: str, ttl_s: int, *, timeout_s: float) -> None:
    await asyncio.wait_for(redis.set(presented_key(hospital, psn_no), "1", ex=ttl_s), timeout_s)


async def was_presented(redis, hospital: str, psn_no: str, *, timeout_s: float) -> bool:
    return bool(await asyncio.wait_for(redis.exists(presented_key(hospital, psn_no)), timeout_s))


# ----------------------------------------------------------------------------- the entry's JSON
# (dates as ISO strings; compact keys are not worth the obscurity)


def _iso(x: dt.date | None) -> str | None:
    return x.isoformat() if x is not None else None


def _date(v) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(v)


def _day(v) -> dt.date:
    """_date of a date the schema holds NOT NULL (birthdate, benefit_start/end, begin dates)."""
    d = _date(v)
    assert d is not None  # encoded from a Person, whose field is a date
    return d


def person_to_json(p: Person) -> dict[str, Any]:
    d = _iso
    return {
        "psn_no": p.psn_no, "certno": p.certno, "name": p.name, "gender": p.gender,
        "birthdate": d(p.birthdate), "social_card": p.social_card, "card_sn": p.card_sn,
        "cvlserv": p.cvlserv, "account_balance_fen": p.account_balance_fen,
        "enrollments": [[e.pool, e.insutype, e.year, e.psn_type, d(e.benefit_start), d(e.benefit_end),
                         e.status, d(e.status_from)] for e in p.enrollments],
        "identities": [[i.type, d(i.begin), d(i.end), i.level, i.source] for i in p.identities],
        "chronic": [[c.id, c.code, d(c.begin), d(c.end), c.hospital, c.source] for c in p.chronic],
        "sv": p.status_version,
    }


def person_from_json(o: dict[str, Any]) -> Person:
    return Person(
        psn_no=o["psn_no"], certno=o["certno"], name=o["name"], gender=o["gender"],
        birthdate=_day(o["birthdate"]), social_card=o.get("social_card"), card_sn=o.get("card_sn"),
        cvlserv=bool(o["cvlserv"]), account_balance_fen=int(o["account_balance_fen"]),
        enrollments=tuple(Enrollment(e[0], e[1], int(e[2]), e[3], _day(e[4]), _day(e[5]), e[6], _date(e[7]))
                          for e in o.get("enrollments") or ()),
        identities=tuple(Identity(i[0], _day(i[1]), _date(i[2]), i[3] or "", i[4])
                         for i in o.get("identities") or ()),
        chronic=tuple(ChronicQualification(int(c[0]), c[1], _day(c[2]), _date(c[3]), c[4], c[5])
                      for c in o.get("chronic") or ()),
        status_version=int(o["sv"]),
    )


def _untraced(redis):
    """A plain redis.asyncio client sharing `redis`'s connection pool (same limits, timeouts and
    retry, which live on the pool's connections); `redis` itself when it is something else."""
    import redis.asyncio as aredis

    if isinstance(redis, aredis.Redis) and type(redis) is not aredis.Redis:
        return aredis.Redis(connection_pool=redis.connection_pool)
    return redis


def _opt(v) -> str | None:
    return None if v is None else (v.decode() if isinstance(v, bytes) else str(v))


def _s(v) -> str:
    if v is None:
        return "0"
    return v.decode() if isinstance(v, bytes) else str(v)


# Invalidate many persons with one command: per person, give the version a new value (with its
# TTL) and drop the entry. Building ~3 commands per person in a client pipeline cost about a second
# per 20,000 persons in redis-py; one script call per chunk costs almost nothing, and passing the
# chunk as one comma-joined argument spares redis-py encoding every psn_no as its own argument
# (~2 µs a person in a bulk import). psn_no is letters and digits only (a CHECK on persons).
# The new version is a random token of the call, not an INCR: a version only has to differ from
# every value it had before (fills and hits compare it for equality), and one SET ... EX does what
# INCR + EXPIRE did — Redis spent ~6 µs a person on the three commands, a share of a bulk import.
# (The keys are built inside the script: fine for one Redis, not for Redis Cluster.)
_INVALIDATE_LUA = """
local ttl = tonumber(ARGV[1])
local token = ARGV[3]
local n = 0
for p in string.gmatch(ARGV[2], '[^,]+') do
  redis.call('SET', 'elig:v:' .. p, token, 'EX', ttl)
  redis.call('DEL', 'elig:p:' .. p)
  n = n + 1
end
return n
"""


async def invalidate_persons(redis, psn_nos: Iterable[str], *, version_ttl_s: int = 86_400,
                             chunk: int = 5_000) -> int:
    """Give each person a new version and drop their entry. Raises on Redis errors.

    For writers outside the service (bulk import, the reference loader's caller): call it after
    the transaction that changed these persons has committed."""
    psn_nos = list(psn_nos)
    n = 0
    for i in range(0, len(psn_nos), chunk):
        token = "t" + os.urandom(12).hex()  # never a value any version had before
        n += int(await redis.eval(_INVALIDATE_LUA, 0, version_ttl_s, ",".join(psn_nos[i:i + chunk]), token))
    return n


async def invalidate_everyone(redis) -> None:
    await redis.incr(EPOCH_KEY)


class PersonCache:
    """Person entries in Redis over a loader that reads PostgreSQL (`load(psn_no)`)."""

    def __init__(self, redis, load: Callable[[str], Awaitable[Person | None]], *, ttl_s: int,
                 op_timeout_s: float = 0.25, retry_after_s: float = 1.0, lock_ms: int = 2_000,
                 lock_wait_s: float = 0.5, version_ttl_s: int | None = None,
                 memo_size: int = 10_000) -> None:
        self._redis = redis
        # The hot reads (MGET of an entry, GET of an alias) go through one pipelined connection
        # of our own (fastredis.py: redis-py's client cost more CPU per read than the rest of a
        # cached lookup), or an untraced redis-py client over the same pool if that cannot
        # reach the same server.
        self._read_redis = PipelinedRedis.like(redis) or _untraced(redis)
        self._memo: OrderedDict[str, tuple[bytes, str, str, Person]] = OrderedDict()
        self._memo_max = memo_size
        self._aliases: OrderedDict[str, str] = OrderedDict()  # alias key -> psn_no (hints, see module doc)
        self._load = load
        self.ttl_s = max(1, int(ttl_s))
        self._timeout = op_timeout_s
        self._retry_after = retry_after_s
        self._lock_ms = lock_ms
        self._lock_wait = lock_wait_s
        # Versions must outlive any entry and any fill in progress by far.
        self._version_ttl = version_ttl_s or max(86_400, 10 * self.ttl_s)
        self._inflight: dict[tuple[str, str, str], asyncio.Future[Person | None]] = {}
        self._down_until = 0.0
        self._down = False
        self._pending: set[str] = set()
        self._pending_all = False
        self._token = os.urandom(8).hex()
        self.stats = {"hits": 0, "misses": 0, "fills": 0, "fills_dropped_stale": 0, "db_reads": 0,
                      "fallbacks": 0, "redis_errors": 0, "lock_waits": 0, "invalidations": 0,
                      "alias_hits": 0, "alias_db_reads": 0, "alias_stale": 0}

    # ------------------------------------------------------------------------- reads

    async def get(self, psn_no: str) -> Person | None:
        if not await self._redis_ready():
            self.stats["fallbacks"] += 1
            return await self._db(psn_no)
        try:
            epoch, ver, raw = await self._read(psn_no)
        except Exception as exc:  # noqa: BLE001 - Redis down: answer from PostgreSQL
            self._failed(exc)
            self.stats["fallbacks"] += 1
            return await self._db(psn_no)
        epoch, ver = _s(epoch), _s(ver)
        hit = self._decode_memo(psn_no, raw, epoch, ver)
        if hit is not None:
            self.stats["hits"] += 1
            return hit
        self.stats["misses"] += 1
        key = (psn_no, epoch, ver)
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._fill(psn_no, epoch, ver))
            self._inflight[key] = fut

            def forget(_f: asyncio.Future[Person | None], k: tuple[str, str, str] = key) -> None:
                self._inflight.pop(k, None)

            fut.add_done_callback(forget)
        return await asyncio.shield(fut)

    async def get_by_alias(self, kind: str, value: str, lookup: Callable[[str], Awaitable[str | None]],
                           holds: Callable[[Person], bool]) -> Person | None:
        """The person holding `value` (an ID number when kind is "c", a social card when "s"), or
        None. `lookup` finds the psn_no in PostgreSQL; `holds(person)` says whether a person's
        current entry carries `value`. A cached alias is used only when `holds` confirms it on
        the version-checked entry (module doc: why that is never stale)."""
        key = alias_key(kind, value)
        psn_no = self._aliases.get(key)
        if psn_no is None and not self._down:
            try:
                async with asyncio.timeout(self._timeout):
                    psn_no = _opt(await self._read_redis.get(key))
            except Exception as exc:  # noqa: BLE001 - Redis down: find the alias in PostgreSQL
                self._failed(exc)
        if psn_no is not None:
            p = await self.get(psn_no)
            if p is not None and holds(p):
                self.stats["alias_hits"] += 1
                self._aliases[key] = psn_no
                self._aliases.move_to_end(key)
                if len(self._aliases) > self._memo_max:
                    self._aliases.popitem(last=False)
                return p
            self.stats["alias_stale"] += 1
            self._aliases.pop(key, None)
        self.stats["alias_db_reads"] += 1
        psn_no = await lookup(value)
        if psn_no is None:
            return None  # misses are not cached: a person created later must be found at once
        p = await self.get(psn_no)
        if p is None or not holds(p):
            # The value moved between the two reads: answer from PostgreSQL alone, remember nothing.
            psn_no = await lookup(value)
            return None if psn_no is None else await self._db(psn_no)
        self._aliases[key] = psn_no
        if len(self._aliases) > self._memo_max:
            self._aliases.popitem(last=False)
        if not self._down:
            try:
                await self._call(self._redis.set(key, psn_no, ex=self.ttl_s))
            except Exception as exc:  # noqa: BLE001 - Redis down: the alias is just not cached
                self._failed(exc)
        return p

    def close(self) -> None:
        """Close the hot-read connection (the redis client passed in is the caller's to close)."""
        if isinstance(self._read_redis, PipelinedRedis):
            self._read_redis.close()

    async def _read(self, psn_no: str):
        # The hot path: one MGET through the pipelined reader, untraced. A span per cache
        # hit cost about as much CPU as the Redis call itself; fills, locks and invalidations
        # are still traced. (Batching concurrent hits into one MGET was tried: gRPC hands each
        # call to the loop in its own turn, so batches held one person and only added overhead.)
        async with asyncio.timeout(self._timeout):
            return await self._read_redis.mget(EPOCH_KEY, version_key(psn_no), entry_key(psn_no))

    def _decode_memo(self, psn_no: str, raw, epoch: str, ver: str) -> Person | None:
        """The entry if it is current (its (e, v) equal the ones read with it). Bytes equal to
        those decoded last time for this person are not decoded again. Redis stays the only
        judge of freshness: the memo is consulted with the bytes Redis just returned, never
        instead of them, so it cannot outlive an invalidation or a Redis restart."""
        if raw is None:
            return None
        memo = self._memo.get(psn_no)
        if memo is not None and memo[0] == raw:
            self._memo.move_to_end(psn_no)
            _, e, v, data = memo
        else:
            o = json.loads(raw)
            if "sv" not in o["d"]:
                return None  # written before the status version existed (migration 0020): a miss
            e, v = o.get("e"), o.get("v")
            data = person_from_json(o["d"])
            self._memo[psn_no] = (raw, e, v, data)
            if len(self._memo) > self._memo_max:
                self._memo.popitem(last=False)
        if e != epoch or v != ver:
            return None
        return data

    async def _fill(self, psn_no: str, epoch: str, ver: str) -> Person | None:
        lk = lock_key(psn_no)
        try:
            got = await self._call(self._redis.set(lk, self._token, nx=True, px=self._lock_ms))
        except Exception as exc:  # noqa: BLE001 - Redis down: read PostgreSQL without the lock
            self._failed(exc)
            return await self._db(psn_no)
        if not got:
            # Another process is reading this person: wait for its entry rather than read too.
            self.stats["lock_waits"] += 1
            deadline = time.monotonic() + self._lock_wait
            while time.monotonic() < deadline:
                await asyncio.sleep(0.005)
                try:
                    e2, v2, raw = await self._call(self._redis.mget(EPOCH_KEY, version_key(psn_no), entry_key(psn_no)))
                except Exception as exc:  # noqa: BLE001 - Redis down: read PostgreSQL ourselves
                    self._failed(exc)
                    return await self._db(psn_no)
                found = self._decode_memo(psn_no, raw, _s(e2), _s(v2))
                if found is not None:
                    return found
                if (_s(e2), _s(v2)) != (epoch, ver):
                    break  # invalidated meanwhile: the holder's entry will be dropped; read ourselves
            data = await self._db(psn_no)
            await self._store(psn_no, epoch, ver, data)
            return data
        try:
            data = await self._db(psn_no)
            await self._store(psn_no, epoch, ver, data)
            return data
        finally:
            try:
                await self._call(self._redis.eval(_UNLOCK_LUA, 1, lk, self._token))
            except Exception as exc:  # noqa: BLE001 - the lock expires by itself
                self._failed(exc)

    async def _store(self, psn_no: str, epoch: str, ver: str, data: Person | None) -> None:
        if data is None:
            return  # unknown persons are not cached: creating one must be visible at once
        blob = json.dumps({"e": epoch, "v": ver, "d": person_to_json(data)}, ensure_ascii=False, separators=(",", ":"))
        try:
            stored = await self._call(self._redis.eval(_FILL_LUA, 3, EPOCH_KEY, version_key(psn_no), entry_key(psn_no),
                                                       epoch, ver, blob, self.ttl_s))
        except Exception as exc:  # noqa: BLE001 - Redis down: the entry is just not cached
            self._failed(exc)
            return
        if int(stored):
            self.stats["fills"] += 1
        else:
            self.stats["fills_dropped_stale"] += 1

    async def _db(self, psn_no: str) -> Person | None:
        self.stats["db_reads"] += 1
        return await self._load(psn_no)

    # ------------------------------------------------------------------------- invalidation

    async def invalidate(self, psn_nos: Iterable[str]) -> None:
        """Call after the write that changed these persons has committed, before replying."""
        psn_nos = list(psn_nos)
        if not psn_nos:
            return
        self.stats["invalidations"] += len(psn_nos)
        try:
            if not self._down:
                await self._call(invalidate_persons(self._redis, psn_nos, version_ttl_s=self._version_ttl))
                return
        except Exception as exc:  # noqa: BLE001 - Redis down: remembered until it is back
            self._failed(exc)
        self._remember(psn_nos)

    async def invalidate_all(self) -> None:
        try:
            if not self._down:
                await self._call(invalidate_everyone(self._redis))
                return
        except Exception as exc:  # noqa: BLE001 - Redis down: remembered until it is back
            self._failed(exc)
        self._pending_all = True

    def _remember(self, psn_nos: list[str]) -> None:
        # Redis is unreachable: the cache is not used until these are applied (_redis_ready).
        self._pending.update(psn_nos)
        if len(self._pending) > _PENDING_MAX:
            self._pending.clear()
            self._pending_all = True

    # ------------------------------------------------------------------------- Redis health

    async def _call(self, aw):
        # asyncio.timeout, not wait_for: wait_for wraps every Redis call in a new task.
        async with asyncio.timeout(self._timeout):
            return await aw

    def _failed(self, exc: BaseException) -> None:
        self.stats["redis_errors"] += 1
        self._down_until = time.monotonic() + self._retry_after
        if not self._down:
            self._down = True
            log.warning("redis unavailable: answering eligibility from PostgreSQL",
                        extra={"error": repr(exc), **self.stats})

    async def _redis_ready(self) -> bool:
        if not self._down:
            return True
        if time.monotonic() < self._down_until:
            return False
        # Try again: first apply the invalidations the outage swallowed.
        pending, everyone = list(self._pending), self._pending_all
        try:
            if everyone:
                await self._call(invalidate_everyone(self._redis))
            elif pending:
                await self._call(invalidate_persons(self._redis, pending, version_ttl_s=self._version_ttl))
            else:
                await self._call(self._redis.ping())
        except Exception as exc:  # noqa: BLE001 - Redis still down: stay on PostgreSQL
            self.stats["redis_errors"] += 1
            self._down_until = time.monotonic() + self._retry_after
            log.debug("redis still unavailable: %r", exc)
            return False
        self._pending.difference_update(pending)
        if everyone:
            self._pending_all = False
        self._down = False
        log.info("redis is back: eligibility caching resumed", extra=dict(self.stats))
        return True

    # ------------------------------------------------------------------------- metrics

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = dict(self.stats)
        looked = self.stats["hits"] + self.stats["misses"]
        out["hit_ratio"] = round(self.stats["hits"] / looked, 4) if looked else 0.0
        out["redis_up"] = 0 if self._down else 1
        return out

    def log_metrics(self) -> None:
        log.info("eligibility cache", extra=self.metrics())


class ChangeListener:
    """LISTEN eligibility_changed (sent by upsert_persons inside the reference loader's
    transaction, delivered on commit) and invalidate the persons named; "*" → everyone.
    If the listening connection is lost, notifications may have been missed: after
    re-listening, everyone is invalidated."""

    def __init__(self, pool: asyncpg.Pool, cache: PersonCache, *, check_every_s: float = 1.0):
        self._pool = pool
        self._cache = cache
        self._check_every = check_every_s
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.received = 0

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _listen(self) -> None:
        self._conn = await self._pool.acquire()
        await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)

    def _on_notify(self, conn, pid, channel, payload: str) -> None:
        self.received += 1
        if payload == "*":
            t = asyncio.get_running_loop().create_task(self._cache.invalidate_all())
        else:
            t = asyncio.get_running_loop().create_task(self._cache.invalidate([p for p in payload.split(",") if p]))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._check_every)
            conn = self._conn
            if conn is not None and not conn.is_closed():
                continue
            try:
                if conn is not None:
                    await self._pool.release(conn)
                self._conn = None
                await self._listen()
                await self._cache.invalidate_all()
                log.warning("eligibility_changed listener reconnected: invalidated every cached person")
            except Exception:
                log.exception("eligibility_changed listener: reconnect failed, retrying")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for t in list(self._tasks):
            await asyncio.gather(t, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # best-effort cleanup: the connection may be gone
                await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            await self._pool.release(conn)
