"""In-process cache of the reference data, reloaded on `NOTIFY reference_changed`.

Every lookup on the settlement path is a dict lookup on an immutable snapshot; a reload builds
a whole new snapshot and swaps it in with one assignment, so readers never see half a reload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg

from services.engine.model import Catalogue, CatalogueItem, Hospital, Policy, Pool
from services.refdata.records import DEFAULT_INTERFACE, HospitalCredentials, HospitalInterface
from services.refdata.schema import loads, parse_policy, parse_supervision
from services.refdata.store import NOTIFY_CHANNEL
from services.supervision.model import EMPTY_RULES, RuleSet

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    pools: Mapping[str, Pool] = field(default_factory=dict)
    pool_by_admdvs: Mapping[tuple[str, str], Pool] = field(default_factory=dict)  # (admdvs, insutype)
    hospitals: Mapping[str, Hospital] = field(default_factory=dict)
    credentials: Mapping[str, HospitalCredentials] = field(default_factory=dict)  # by hospital code
    by_paasid: Mapping[str, str] = field(default_factory=dict)  # paasid -> hospital code
    catalogues: Mapping[str, Catalogue] = field(default_factory=dict)
    policies: Mapping[tuple[str, str, int, int], Policy] = field(default_factory=dict)  # + version
    policy_effective: Mapping[tuple[str, str, int, int], dt.datetime] = field(default_factory=dict)
    latest: Mapping[tuple[str, str, int], Policy] = field(default_factory=dict)
    supervision: Mapping[tuple[str, int], RuleSet] = field(default_factory=dict)  # latest version per (pool, year)


async def _read_snapshot(conn: asyncpg.Connection) -> _Snapshot:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        pool_rows = await conn.fetch("SELECT code, name, insutypes FROM reference.pools")
        admdvs_rows = await conn.fetch("SELECT pool, admdvs FROM reference.pool_admdvs")
        hospital_rows = await conn.fetch(
            "SELECT code, name, admdvs, level, cross_province, paasid, secret, auth, msgid_rule, sign_in, "
            "tif_window_s, api_window_s FROM reference.hospitals")
        item_rows = await conn.fetch(
            "SELECT pool, code, name, kind, cls, selfpay_prop, price_cap_fen FROM reference.catalogue_items")
        policy_rows = await conn.fetch(
            "SELECT pool, insutype, year, version, effective_from, body_text FROM reference.policies "
            "ORDER BY pool, insutype, year, version")
        supervision_rows = await conn.fetch(
            "SELECT pool, year, version, body_text FROM reference.supervision_rules ORDER BY pool, year, version")

    admdvs: dict[str, set[str]] = {}
    for r in admdvs_rows:
        admdvs.setdefault(r["pool"], set()).add(r["admdvs"])
    pools = {r["code"]: Pool(code=r["code"], name=r["name"], insutypes=tuple(r["insutypes"]),
                             admdvs=frozenset(admdvs.get(r["code"], ()))) for r in pool_rows}
    pool_by_admdvs = {(a, t): p for p in pools.values() for a in p.admdvs for t in p.insutypes}

    hospitals, credentials, by_paasid = {}, {}, {}
    for r in hospital_rows:
        hospitals[r["code"]] = Hospital(code=r["code"], name=r["name"], admdvs=r["admdvs"], level=r["level"],
                                        cross_province=r["cross_province"])
        credentials[r["code"]] = HospitalCredentials(code=r["code"], paasid=r["paasid"], secret=r["secret"],
                                                     interface=_interface(r))
        by_paasid[r["paasid"]] = r["code"]

    items: dict[str, dict[str, CatalogueItem]] = {code: {} for code in pools}
    for r in item_rows:
        items.setdefault(r["pool"], {})[r["code"]] = CatalogueItem(
            code=r["code"], name=r["name"], kind=r["kind"], cls=r["cls"],
            selfpay_prop=Decimal(r["selfpay_prop"]), price_cap_fen=r["price_cap_fen"])
    catalogues = {pool: Catalogue(pool=pool, items=its) for pool, its in items.items()}

    policies, effective, latest = {}, {}, {}
    for r in policy_rows:
        key = (r["pool"], r["insutype"], r["year"])
        policy = parse_policy(loads(r["body_text"]), version=r["version"],
                              path=f"reference.policies[{key[0]}/{key[1]}/{key[2]} v{r['version']}]")
        policies[(*key, r["version"])] = policy
        effective[(*key, r["version"])] = r["effective_from"]
        latest[key] = policy  # rows come in version order: the last one wins
    supervision = {(r["pool"], r["year"]): parse_supervision(
        loads(r["body_text"]), version=r["version"],
        path=f"reference.supervision_rules[{r['pool']}/{r['year']} v{r['version']}]") for r in supervision_rows}
    return _Snapshot(pools=pools, pool_by_admdvs=pool_by_admdvs, hospitals=hospitals, credentials=credentials,
                     by_paasid=by_paasid, catalogues=catalogues, policies=policies, policy_effective=effective,
                     latest=latest, supervision=supervision)


def _interface(r: asyncpg.Record) -> HospitalInterface:
    """The stored interface columns; the one shared default object when they are the defaults."""
    found = HospitalInterface(auth=tuple(r["auth"]), msgid=r["msgid_rule"], sign_in=r["sign_in"],
                              tif_window_s=r["tif_window_s"], api_window_s=r["api_window_s"])
    return DEFAULT_INTERFACE if found == DEFAULT_INTERFACE else found


class ReferenceCache:
    """Reference data in memory. Build with `await ReferenceCache.load(pool)`; call
    `await cache.listen(pool)` to follow changes, `await cache.close()` on shutdown."""

    def __init__(self, snapshot: _Snapshot | None = None) -> None:
        self._snap = snapshot or _Snapshot()
        self._pool: asyncpg.Pool | None = None
        self._listen_conn: asyncpg.Connection | None = None
        self._reload_task: asyncio.Task | None = None
        self._dirty = False
        self.reloads = 0  # how many reloads ran (for tests and metrics)

    @classmethod
    async def load(cls, pool: asyncpg.Pool) -> ReferenceCache:
        cache = cls()
        cache._pool = pool
        await cache.reload()
        return cache

    async def reload(self) -> None:
        pool = self._pool
        if pool is None:
            raise RuntimeError("ReferenceCache.reload needs a pool: build it with ReferenceCache.load(pool)")
        async with pool.acquire() as conn:
            self._snap = await _read_snapshot(conn)
        self.reloads += 1

    async def listen(self, pool: asyncpg.Pool | None = None) -> None:
        """Reload whenever a load commits (NOTIFY reference_changed). Holds one connection."""
        if pool is not None:
            self._pool = pool
        if self._listen_conn is not None:
            return
        assert self._pool is not None, "listen() needs the pool it reloads from"
        self._listen_conn = await self._pool.acquire()
        await self._listen_conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        await self.reload()  # a load that committed between load() and LISTEN is not missed

    def _on_notify(self, conn, pid, channel, payload) -> None:  # asyncpg listener signature
        self._dirty = True
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.get_running_loop().create_task(self._reload_while_dirty())

    async def _reload_while_dirty(self) -> None:
        # Notifications that arrive during a reload coalesce into one more reload.
        while self._dirty:
            self._dirty = False
            try:
                await self.reload()
            except Exception:  # keep serving the previous snapshot; the next notify retries
                log.exception("reference cache reload failed")
                return

    async def wait_reloaded(self, after: int, timeout_s: float = 5.0) -> None:
        """Wait until more than `after` reloads have run (tests and admin tools)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.reloads <= after:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("reference cache did not reload")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_task.cancel()
        conn, self._listen_conn = self._listen_conn, None
        if conn is not None:
            try:
                await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            finally:
                if self._pool is not None:
                    await self._pool.release(conn)

    # ------------------------------------------------------------------------- lookups

    def pool(self, code: str) -> Pool | None:
        return self._snap.pools.get(code)

    def pools(self) -> Mapping[str, Pool]:
        return self._snap.pools

    def pool_for_admdvs(self, admdvs: str, insutype: str) -> Pool | None:
        """The treatment pool: the pool holding `admdvs` for that insurance type."""
        return self._snap.pool_by_admdvs.get((admdvs, insutype))

    def hospital(self, code: str) -> Hospital | None:
        return self._snap.hospitals.get(code)

    def hospital_by_paasid(self, paasid: str) -> Hospital | None:
        code = self._snap.by_paasid.get(paasid)
        return None if code is None else self._snap.hospitals.get(code)

    def credentials(self, code: str) -> HospitalCredentials | None:
        """paasid, secret and the `interface` block (auth profiles, msgid rule, sign-in, windows)."""
        return self._snap.credentials.get(code)

    def interface(self, code: str) -> HospitalInterface | None:
        """How this hospital's HIS may talk to the gateway (None: no such hospital)."""
        c = self._snap.credentials.get(code)
        return None if c is None else c.interface

    def catalogue(self, pool: str) -> Catalogue | None:
        return self._snap.catalogues.get(pool)

    def policy(self, pool: str, insutype: str, year: int) -> Policy | None:
        """The latest version of the policy."""
        return self._snap.latest.get((pool, insutype, year))

    def policy_version(self, pool: str, insutype: str, year: int, version: int) -> Policy | None:
        return self._snap.policies.get((pool, insutype, year, version))

    def policy_at(self, pool: str, insutype: str, year: int, at: dt.datetime) -> Policy | None:
        """The version in force at `at` (the latest whose effective_from <= at)."""
        found = None
        snap = self._snap
        version = 1
        while (key := (pool, insutype, year, version)) in snap.policies:
            if snap.policy_effective[key] <= at:
                found = snap.policies[key]
            version += 1
        return found

    def supervision(self, pool: str, year: int) -> RuleSet:
        """The latest fund-supervision rules of the pool and year (none configured: no rules)."""
        return self._snap.supervision.get((pool, year), EMPTY_RULES)

    def province_of(self) -> Mapping[str, str]:
        """Pool code -> 2-digit province code (from its admdvs), for SettlementContext."""
        out = {}
        for code, p in self._snap.pools.items():
            provinces = {a[:2] for a in p.admdvs}
            if len(provinces) == 1:
                out[code] = provinces.pop()
        return out

