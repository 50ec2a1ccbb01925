"""`make chaos`: a bounded, seeded fault matrix against a suite of its own on loopback.

    .venv/bin/python -m loadtest.chaos [--seed 17] [--duration 20] [--workers 6] [--faults a,b,...]
        [--down 2] [--storm 200] [--burst 40] [--persons 3000] [--no-doc]
        [--data-dir .data/chaos] [--redis-port 6395] [--grpc-ports 54051,54052,54053] [--gateway-port 48080]

A steady load of full HIS flows — outpatient 1101 -> 2201 -> 2204 -> 2206 -> 2207, inpatient
2401 -> 2301 x 2 -> 2303 -> 2402 -> 2304 (30%) and out-of-province chronic dialysis in Xinjiang
2201 -> 2203 -> 2204 -> 2207 (10%, the filing resolved on its path), signed by gateway/hisclient.py,
each call retried with the SAME msgid (fresh nonce) after a connection error, an HTTP 5xx or a
`retriable` refusal, as docs/HIS_INTEGRATORS.md §6 tells a hospital — runs while the harness, one
window per fault:

  kill -9 and restart of eligibility, filing, settlement and the gateway (one window each),
  Redis stopped and started again, PostgreSQL restarted, every PostgreSQL client backend killed
  (pg_terminate_backend), a duplicate-msgid storm (--storm concurrent copies of one 2207) and a
  same-person-near-cap burst (--burst concurrent 2207s of one person whose outpatient fund line
  is nearly used up).

After each window the load drains (every flow finishes or gives up after 60 s of retries), every
acknowledged settlement is sent once more with its msgid, and the checker (`judge`, pure) compares
the client's records with the database: each acknowledged settlement stored exactly once with
the acknowledged amounts, no visit booked twice, every retry answered with the stored reply
(identical but for `replayed`), no cap exceeded, `medsettle audit` clean; the prober (a 2206 every
0.2 s) gives the time from the fault until the suite answered again. The table of those figures
is printed, written to loadtest/reports/chaos.json and between the markers of docs/RELIABILITY.md;
the exit code is 1 on any loss, double booking, retry answered differently, cap overshoot, audit
violation or a suite that did not answer again.

The suite (prepare.start_suite, the CHAOS profile: .data/chaos, Redis 6395, gRPC 54051-54053,
gateway 48080) has embedded PostgreSQL and Redis of its own, so DATABASE_URL / REDIS_URL must be
unset. Rate limiting is off (RATE_LIMIT_PER_S=0). Not part of `make test`; its smoke version is
tests/e2e/test_chaos_smoke.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway.hisclient import HisClient, fen
from loadtest import scenarios as sc
from loadtest.prepare import REPORTS, Profile
from services.common.config import REPO_ROOT

CHAOS = Profile(REPO_ROOT / ".data" / "chaos", 6395, 54051, 54052, 54053, 48080)
DOC = REPO_ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- chaos:begin -->", "<!-- chaos:end -->"
SETTLING = ("2207", "2304")  # the transactions that book a settlement
# Journaled (once per msgid) calls of the flows: a resend must get the stored reply.
MUTATING = ("2201", "2203", "2204", "2301", "2401", "2402", *SETTLING)
REGISTERING = ("2201", "2401")
RETRY_FOR_S = 60.0
XINJIANG_3 = "H65010200001"  # 新疆医科大学第一附属医院, cross-province for Shaoxing (demo data)
CHRONIC_FILER = "330600000000000006"  # demo person 6: long-term residence filing to 65, dialysis M07803
SERVICES = ("eligibility", "filing", "settlement", "gateway")
FAULTS = ("baseline", *(f"kill-{s}" for s in SERVICES), "redis-restart", "postgres-restart", "postgres-backends",
          "duplicate-storm", "near-cap-burst")


# ----------------------------------------------------------------------------- the client's records

@dataclass
class Attempt:
    """One send of a call: when, how long, and what came back (http 0: no HTTP answer at all)."""
    sent: float
    took: float = 0.0
    http: int = 0
    infcode: int | None = None
    outcome: str = ""
    retriable: bool = False
    output: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.infcode == 0


@dataclass
class Call:
    """One transaction (one msgid) and every send of it; `replays` are the checker's own sends of
    the same envelope after it was answered."""
    infno: str
    code: str
    msgid: str
    window: str
    mdtrt_id: str = ""
    env: dict = field(default_factory=dict, repr=False)
    attempts: list[Attempt] = field(default_factory=list)
    replays: list[Attempt] = field(default_factory=list)

    @property
    def answer(self) -> Attempt | None:
        return next((a for a in self.attempts if a.ok), None)


@dataclass(frozen=True)
class Stored:
    """A settlement row as the database holds it (reversals left out)."""
    code: str
    msgid: str
    setl_id: str
    mdtrt_id: str
    medfee_fen: int
    fund_fen: int
    cash_fen: int


@dataclass(frozen=True)
class VisitRow:
    """A visit as the database holds it: who registered it, under which HIS number."""
    code: str
    psn_no: str
    ipt_otp_no: str
    mdtrt_id: str


@dataclass
class Verdict:
    acked: int = 0
    stored_once: int = 0
    lost: int = 0
    doubled: int = 0
    stored_differently: int = 0
    unacked_stored: int = 0
    unanswered: int = 0
    retries: int = 0
    replays_identical: int = 0
    replay_mismatch: int = 0
    registered_twice: int = 0
    first_answers: int = 0
    http_5xx: int = 0
    refused: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    @property
    def broken(self) -> bool:
        return bool(self.lost or self.doubled or self.stored_differently or self.replay_mismatch
                    or self.registered_twice)

    def note(self, text: str) -> None:
        if len(self.samples) < 8:
            self.samples.append(text)


def comparable(output: Any) -> str:
    """A reply's output as compared between tries: everything but the `replayed` flag."""
    if isinstance(output, dict):
        output = {k: v for k, v in output.items() if k != "replayed"}
    return json.dumps(output, sort_keys=True, default=str, ensure_ascii=False)


def _diff(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k != "replayed" and a.get(k) != b.get(k):
                return _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return path
    return f"{path}: {str(a)[:60]!r} then {str(b)[:60]!r}"


def judge(calls: Iterable[Call], stored: Iterable[Stored], visits: Iterable[VisitRow] = ()) -> Verdict:
    """The checker, pure: the client's records against the settlement rows of those visits and
    the visits registered by the calls' (hospital, psn_no, ipt_otp_no)."""
    calls = list(calls)
    v = Verdict()
    by_key: dict[tuple[str, str], list[Stored]] = defaultdict(list)
    by_visit: dict[str, list[Stored]] = defaultdict(list)
    for s in stored:
        by_key[(s.code, s.msgid)].append(s)
        by_visit[s.mdtrt_id].append(s)
    doubled_visits: set[str] = set()
    for c in calls:
        v.retries += max(0, len(c.attempts) - 1)
        v.http_5xx += sum(1 for a in c.attempts + c.replays if a.http >= 500)
        ans = c.answer
        if ans is None and c.attempts:
            last = c.attempts[-1]
            if last.http == 200 and last.infcode not in (None, 0) and not last.retriable:
                v.refused[f"{c.infno} {last.outcome}"] += 1
        if c.infno not in SETTLING:
            continue
        rows = by_key.get((c.code, c.msgid), [])
        if ans is None:
            v.unanswered += 1
            if rows:
                v.unacked_stored += 1
            continue
        v.acked += 1
        v.first_answers += sum(1 for a in c.attempts if a.ok and not (a.output or {}).get("replayed"))
        info = (ans.output or {}).get("setlinfo") or {}
        if not rows:
            v.lost += 1
            v.note(f"LOST {c.infno} {c.code}/{c.msgid} acknowledged as {info.get('setl_id')}, not in the database")
        elif len(rows) > 1:
            doubled_visits.add(c.mdtrt_id or rows[0].mdtrt_id)
            v.note(f"DOUBLE {c.code}/{c.msgid}: {len(rows)} settlements")
        else:
            r = rows[0]
            want = (str(info.get("setl_id")), fen(info.get("medfee_sumamt", 0)), fen(info.get("fund_pay_sumamt", 0)),
                    fen(info.get("psn_cash_pay", 0)))
            if (r.setl_id, r.medfee_fen, r.fund_fen, r.cash_fen) != want:
                v.stored_differently += 1
                v.note(f"DIFFERENT {c.code}/{c.msgid}: acknowledged {want}, stored "
                       f"{(r.setl_id, r.medfee_fen, r.fund_fen, r.cash_fen)}")
            else:
                v.stored_once += 1
        if c.mdtrt_id and len(by_visit.get(c.mdtrt_id, [])) > 1:
            if c.mdtrt_id not in doubled_visits:
                v.note(f"DOUBLE visit {c.mdtrt_id}: {len(by_visit[c.mdtrt_id])} settlements")
            doubled_visits.add(c.mdtrt_id)
    v.doubled = len(doubled_visits)
    for c in calls:
        _compare_retries(c, v)
    registered: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for vr in visits:
        registered[(vr.code, vr.psn_no, vr.ipt_otp_no)].add(vr.mdtrt_id)
    for key, ids in registered.items():
        if len(ids) > 1:
            v.registered_twice += 1
            v.note(f"REGISTERED TWICE {key[0]} {key[1]} {key[2]}: visits {', '.join(sorted(ids))}")
    return v


def _compare_retries(c: Call, v: Verdict) -> None:
    """Every other answer of one msgid (a retry, the checker's resend) must be the first one."""
    ans = c.answer
    if ans is None:
        return
    base = comparable(ans.output)
    for a in [a for a in c.attempts if a is not ans and a.ok] + c.replays:
        if a.ok and comparable(a.output) == base:
            v.replays_identical += 1
        else:
            v.replay_mismatch += 1
            v.note(f"RETRY {c.infno} {c.code}/{c.msgid} answered differently: "
                   + (_diff(ans.output, a.output) if a.ok else f"[{a.outcome or a.http}] {a.error[:100]}"))


def judge_down_replays(pairs: Iterable[tuple[Call, Attempt]], v: Verdict) -> dict:
    """Answered settlements sent again during a fault: an answer must be the stored reply; "not
    now" (no HTTP answer, a 5xx, a retriable refusal) is allowed, any other refusal is not."""
    out = {"sent": 0, "identical": 0, "different": 0, "unavailable": 0}
    for c, a in pairs:
        out["sent"] += 1
        ans = c.answer
        if a.ok and ans is not None and comparable(a.output) == comparable(ans.output):
            out["identical"] += 1
        elif not a.ok and (a.http == 0 or a.http >= 500 or a.retriable):
            out["unavailable"] += 1
        else:
            out["different"] += 1
            v.note(f"RETRY DURING THE FAULT {c.infno} {c.code}/{c.msgid} answered differently: "
                   + (_diff(ans.output if ans else None, a.output) if a.ok else f"[{a.outcome}] {a.error[:100]}"))
    return out


# ----------------------------------------------------------------------------- the driver

class Driver:
    """Signed HIS clients per hospital on one aiohttp session; every call recorded."""

    def __init__(self, gateway_url: str, ref: sc.Reference, http: aiohttp.ClientSession, *,
                 retry_for_s: float = RETRY_FOR_S):
        self.url = gateway_url
        self.ref = ref
        self.http = http
        self.retry_for_s = retry_for_s
        self.clients: dict[str, HisClient] = {}
        self._signing: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.calls: list[Call] = []
        self.window = ""
        self.flows: Counter = Counter()
        self.sign_ins_lost = 0
        self.flow_errors: Counter = Counter()
        # In every HIS visit number: a seeded run draws the same numbers as the last one did, and
        # the check for a visit registered twice looks visits up by number.
        self.run_tag = secrets.token_hex(3)

    async def client(self, code: str) -> HisClient:
        his = self.clients.get(code)
        if his is not None and his.sign_no:
            return his
        async with self._signing[code]:
            his = self.clients.get(code)
            if his is None:
                h = self.ref.hospital(code)
                his = HisClient(self.url, fixmedins_code=h.code, paasid=h.paasid, secret=h.secret, admdvs=h.admdvs,
                                fixmedins_name=h.name, session=self.http, timeout_s=10)
                self.clients[code] = his
            deadline = time.monotonic() + self.retry_for_s
            while not his.sign_no:
                try:
                    await his.sign_in()
                except (TimeoutError, RuntimeError, aiohttp.ClientError, OSError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.3)
        return his

    async def send(self, his: HisClient, env: dict) -> Attempt:
        a = Attempt(time.monotonic())
        try:
            a.http, body = await his.post(his.path, env)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            a.error = f"{type(e).__name__}: {e}"[:200]
        else:
            if isinstance(body, dict):
                a.infcode = body.get("infcode")
                out = body.get("output")
                if a.infcode == 0:
                    a.output = out
                else:
                    out = out if isinstance(out, dict) else {}
                    a.outcome, a.retriable = str(out.get("outcome", "")), bool(out.get("retriable"))
                    a.error = str(body.get("err_msg", ""))[:300]
            else:
                a.error = str(body)[:200]
        a.took = time.monotonic() - a.sent
        return a

    def new_call(self, his: HisClient, infno: str, input: dict, insuplc: str = "") -> Call:
        env = his.envelope(infno, input, insuplc_admdvs=insuplc)
        data = input.get("data")
        data = data if isinstance(data, dict) else {}
        call = Call(infno, his.fixmedins_code, env["msgid"], self.window, env=env,
                    mdtrt_id=str(data.get("mdtrt_id", "")) if infno in SETTLING else "")
        self.calls.append(call)
        return call

    async def until_answered(self, his: HisClient, call: Call) -> Attempt:
        """Send `call` until it is answered, finally refused, or RETRY_FOR_S has passed."""
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.1
        while True:
            a = await self.send(his, call.env)
            call.attempts.append(a)
            if a.ok:
                return a
            if a.outcome == "NOT_SIGNED_IN":  # a sign-in lost (Redis): counted, signed in again, resent
                self.sign_ins_lost += 1
                his.sign_no = ""
                his = await self.client(call.code)
                call.env["sign_no"] = his.sign_no  # may change between tries (HIS_INTEGRATORS §6)
            elif not (a.http == 0 or a.http >= 500 or a.retriable):
                return a
            if time.monotonic() > deadline:
                return a
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)

    async def transact(self, code: str, infno: str, input: dict, insuplc: str = "") -> dict | None:
        """One transaction, retried as a HIS would; its output, or None when it was not answered."""
        his = await self.client(code)
        call = self.new_call(his, infno, input, insuplc)
        a = await self.until_answered(his, call)
        return a.output if a.ok else None

    # ------------------------------------------------------------------ flows

    async def outpatient(self, p: sc.Person, rng: random.Random, *, items=None, code: str | None = None) -> bool:
        code = code or self.ref.local_hospital(p, rng).code
        insuplc = self.ref.insuplc(p)
        if await self.transact(code, "1101", sc.person_info_input(p.cert)) is None:
            return False
        mdtrt_id, total = await self.register_with_fees(p, rng, code, items=items)
        if not mdtrt_id:
            return False
        acct = p.insutype == "310"
        pre = await self.transact(code, "2206", sc.settle_input(p, mdtrt_id, total, p.cert, acct_used=acct), insuplc)
        if pre is None:
            return False
        out = await self.transact(code, "2207", sc.settle_input(p, mdtrt_id, total, p.cert, acct_used=acct,
                                                                split=sc.split_of(pre["setlinfo"])), insuplc)
        return out is not None

    async def register_with_fees(self, p: sc.Person, rng: random.Random, code: str, *, items=None
                                 ) -> tuple[str, int]:
        """2201 + 2204: (mdtrt_id, total fen), or ("", 0)."""
        insuplc = self.ref.insuplc(p)
        number = f"MZ{self.run_tag}{rng.randrange(10 ** 9)}"
        reg = await self.transact(code, "2201", sc.register_input(p, p.cert, number), insuplc)
        if reg is None:
            return "", 0
        mdtrt_id = reg["data"]["mdtrt_id"]
        rows, total = sc.fee_rows(p, mdtrt_id, items or sc.outpatient_items(rng))
        if await self.transact(code, "2204", {"feedetail": rows}, insuplc) is None:
            return "", 0
        return mdtrt_id, total

    async def inpatient(self, p: sc.Person, rng: random.Random, days: int = 2) -> bool:
        code = self.ref.local_hospital(p, rng).code
        insuplc = self.ref.insuplc(p)
        adm = await self.transact(code, "2401", sc.admission_input(p, p.cert, f"ZY{self.run_tag}{rng.randrange(10 ** 9)}",
                                                                   days_ago=days + 1), insuplc)
        if adm is None:
            return False
        mdtrt_id = adm["result"]["mdtrt_id"]
        total = 0
        for day in range(days):
            items = [(sc.BED, 5000, 1), (sc.DRUG, 1250, rng.randint(1, 10))]
            rows, t = sc.fee_rows(p, mdtrt_id, items, prefix=f"D{day}-", when=sc.now_text(-24 * (days - day)))
            total += t
            if await self.transact(code, "2301", {"feedetail": rows}, insuplc) is None:
                return False
        for infno, input in (
                ("2303", sc.settle_input(p, mdtrt_id, total, p.cert, med_type=None, mid_setl=True)),
                ("2402", sc.discharge_input(p, mdtrt_id)),
                ("2304", sc.settle_input(p, mdtrt_id, total, p.cert, med_type=None, mid_setl=False))):
            if await self.transact(code, infno, input, insuplc) is None:
                return False
        return True

    async def chronic(self, p: sc.Person, rng: random.Random) -> bool:
        """Out-of-province chronic dialysis (M07803) in Xinjiang for a Shaoxing long-term filer:
        the filing service resolves the filing on this path (local visits never ask it)."""
        mdtrt_id, total = await self.chronic_visit(p, rng)
        if not mdtrt_id:
            return False
        return await self.transact(XINJIANG_3, "2207", sc.settle_input(p, mdtrt_id, total, p.cert, med_type="14"),
                                   self.ref.insuplc(p)) is not None

    async def chronic_visit(self, p: sc.Person, rng: random.Random) -> tuple[str, int]:
        """2201 + 2203 (M07803) + 2204 at the Xinjiang hospital: (mdtrt_id, total fen), or ("", 0)."""
        code, insuplc = XINJIANG_3, self.ref.insuplc(p)
        reg = await self.transact(code, "2201", sc.register_input(p, p.cert, f"MZ{self.run_tag}{rng.randrange(10 ** 9)}",
                                                                  med_type="14"), insuplc)
        if reg is None:
            return "", 0
        mdtrt_id = reg["data"]["mdtrt_id"]
        if await self.transact(code, "2203", sc.diagnosis_input(p, mdtrt_id, med_type="14", dise_codg="M07803"),
                               insuplc) is None:
            return "", 0
        rows, total = sc.fee_rows(p, mdtrt_id, [(sc.DIAL, 45_000, rng.randint(1, 3))])
        if await self.transact(code, "2204", {"feedetail": rows}, insuplc) is None:
            return "", 0
        return mdtrt_id, total

    async def worker(self, persons: list[sc.Person], rng: random.Random, stop: asyncio.Event,
                     inpatient_share: float = 0.3, chronic: list[sc.Person] | None = None,
                     chronic_share: float = 0.1) -> None:
        while not stop.is_set():
            p = rng.choice(persons)
            window = self.window
            self.flows[(window, "started")] += 1
            draw = rng.random()
            try:
                if chronic and draw < chronic_share:
                    ok = await self.chronic(rng.choice(chronic), rng)
                else:
                    ok = await (self.inpatient(p, rng) if draw < chronic_share + inpatient_share
                                else self.outpatient(p, rng))
            except Exception as e:  # noqa: BLE001 - a flow that broke off (a sign-in that never came back,
                ok = False          # an answer without the expected field): its calls are recorded
                self.flow_errors[f"{type(e).__name__}: {e}"[:160]] += 1
            self.flows[(window, "completed" if ok else "stopped")] += 1


# ----------------------------------------------------------------------------- the prober

@dataclass(frozen=True)
class Probe:
    person: sc.Person
    code: str
    mdtrt_id: str
    total: int
    med_type: str = "11"


class Prober:
    """Every `every_s`, a 2206 pre-settlement of each prepared visit (a local one: gateway,
    settlement, eligibility, PostgreSQL, Redis; an out-of-province chronic one: filing too), one
    send each, recorded as (sent, done, all answered)."""

    def __init__(self, driver: Driver, probes: list[Probe], every_s: float = 0.2):
        self.driver, self.probes, self.every_s = driver, probes, every_s
        self.results: list[tuple[float, float, bool]] = []
        self._task: asyncio.Task | None = None

    async def _one(self, pr: Probe) -> Attempt:
        p = pr.person
        his = await self.driver.client(pr.code)
        env = his.envelope("2206", sc.settle_input(p, pr.mdtrt_id, pr.total, p.cert, med_type=pr.med_type),
                           insuplc_admdvs=self.driver.ref.insuplc(p))
        return await asyncio.wait_for(self.driver.send(his, env), 3)

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            with contextlib.suppress(RuntimeError, aiohttp.ClientError, TimeoutError, OSError):
                tries = await asyncio.gather(*(self._one(pr) for pr in self.probes))
                self.results.append((t, max(a.sent + a.took for a in tries), all(a.ok for a in tries)))
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def answered_again(self, since: float) -> float | None:
        """Seconds from `since` (the fault) until the end of the first successful probe sent after it."""
        return next((done - since for sent, done, ok in self.results if sent >= since and ok), None)

    def failed_since(self, since: float) -> int:
        return sum(1 for sent, _, ok in self.results if sent >= since and not ok)


# ----------------------------------------------------------------------------- faults

@dataclass
class Context:
    suite: Any
    profile: Profile | None
    driver: Driver
    args: argparse.Namespace
    persons: list[sc.Person]
    fresh: Callable[[str, str, str], Awaitable[sc.Person]]
    chronic: list[sc.Person] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def own(self) -> Profile:
        """The harness's own embedded servers (the Redis and PostgreSQL faults need them)."""
        if self.profile is None:
            raise RuntimeError("this fault restarts the embedded PostgreSQL or Redis: run it with a Profile")
        return self.profile


@dataclass
class Fault:
    """What the harness does: `inject` (returns what it did), then, `down_s` later, `restore`."""
    inject: Callable[[Context], Awaitable[str]]
    restore: Callable[[Context], Awaitable[str]] | None = None
    down_s: Callable[[Context], float] = lambda ctx: ctx.args.down


def kill_fault(name: str) -> Fault:
    async def inject(ctx: Context) -> str:
        p = ctx.suite.procs[name]
        os.kill(p.pid, signal.SIGKILL)
        await asyncio.to_thread(p.wait)
        return f"pid {p.pid} killed (-9)"

    async def restore(ctx: Context) -> str:
        p = await asyncio.to_thread(ctx.suite.spawn, name)
        return f"restarted (pid {p.pid})"

    return Fault(inject, restore)


def _redis_pid(data_dir: Path) -> int:
    return int((data_dir / "redis" / "redis.pid").read_text().strip())


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


async def _captured_request(ctx: Context) -> tuple[str, dict[str, str], dict]:
    """A 1101 sent and answered, kept with its exact headers (nonce) to be replayed later."""
    d = ctx.driver
    code = next(iter(sorted(d.clients)))
    his = await d.client(code)
    p = ctx.persons[0]
    env = his.envelope("1101", sc.person_info_input(p.cert))
    headers = his.headers()
    status, body = await his.post(his.path, env, headers)
    if not (isinstance(body, dict) and body.get("infcode") == 0):
        raise RuntimeError(f"the captured 1101 was not answered: {status} {str(body)[:200]}")
    return code, headers, env


async def redis_stop(ctx: Context) -> str:
    ctx.extra["captured"] = await _captured_request(ctx)
    await asyncio.sleep(1.1)  # past the append-only file's once-a-second fsync
    pid = _redis_pid(ctx.own.data_dir)
    os.kill(pid, signal.SIGTERM)
    await asyncio.to_thread(_wait_gone, pid, 20)
    return f"redis pid {pid} stopped (SIGTERM)"


async def redis_start(ctx: Context) -> str:
    """Started again; then the request captured before the stop is sent again with its old nonce:
    it must be refused (NONCE_REUSED), not accepted."""
    from services.common import embedded

    await asyncio.to_thread(embedded._redis_start, ctx.own.data_dir, ctx.own.redis_port)
    code, headers, env = ctx.extra.pop("captured")
    his = await ctx.driver.client(code)
    outcome = ""
    for _ in range(50):  # the gateway's Redis connection may still be reconnecting
        status, body = await his.post(his.path, env, headers)
        out = body.get("output") if isinstance(body, dict) else None
        outcome = out.get("outcome", "") if isinstance(out, dict) else f"infcode {body.get('infcode')}" \
            if isinstance(body, dict) else f"HTTP {status}"
        if outcome != "GATEWAY_UNAVAILABLE":
            break
        await asyncio.sleep(0.2)
    ctx.extra["nonce_replay"] = outcome
    return f"started again; a request captured before the stop, replayed with its nonce: {outcome or 'ACCEPTED'}"


async def postgres_stop(ctx: Context) -> str:
    from services.common import embedded

    await asyncio.to_thread(embedded._pg_ctl_stop, ctx.own.data_dir / "pg",
                            "pgserver" if os.geteuid() == 0 else None)
    return "pg_ctl stop -m fast"


def _pg_start(data_dir: Path) -> None:
    import pgserver.postgres_server

    from services.common import embedded

    pgserver.postgres_server.PostgresServer._instances.pop((data_dir / "pg").resolve(), None)
    embedded._pg_start(data_dir)


async def postgres_start(ctx: Context) -> str:
    await asyncio.to_thread(_pg_start, ctx.own.data_dir)
    return "started again"


async def postgres_backends(ctx: Context) -> str:
    import asyncpg

    conn = await asyncpg.connect(ctx.suite.database_url)
    try:
        n = await conn.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return f"{n} client backends terminated"


async def duplicate_storm(ctx: Context) -> str:
    """One 2207 prepared, then --storm concurrent copies of it (same msgid and body, each signed
    with its own nonce), each retried as a HIS would."""
    d, rng = ctx.driver, random.Random(ctx.args.seed * 7 + 1)
    p = await ctx.fresh("330600", "390", "resident")
    code = d.ref.local_hospital(p, rng).code
    mdtrt_id, total = await d.register_with_fees(p, rng, code)
    if not mdtrt_id:
        return "could not prepare the visit"
    his = await d.client(code)
    call = d.new_call(his, "2207", sc.settle_input(p, mdtrt_id, total, p.cert), d.ref.insuplc(p))
    await asyncio.gather(*(d.until_answered(his, call) for _ in range(ctx.args.storm)))
    ok = [a for a in call.attempts if a.ok]
    ctx.extra["storm"] = {"copies": ctx.args.storm, "answered": len(ok),
                          "distinct_outputs": len({comparable(a.output) for a in ok}),
                          "booked_answers": sum(1 for a in ok if not a.output.get("replayed"))}
    s = ctx.extra["storm"]
    return (f"{s['copies']} copies of 2207 {call.msgid}: {s['answered']} answered, {s['distinct_outputs']} distinct "
            f"output(s), {s['booked_answers']} not marked replayed")


async def near_cap_burst(ctx: Context) -> str:
    """A fresh employee (310, Shaoxing: outpatient line deductible 300.00, cap 5000.00) spends
    most of the line with visits of 400.00 one after another, then --burst visits settle at once."""
    import asyncpg

    d, rng = ctx.driver, random.Random(ctx.args.seed * 7 + 2)
    p = await ctx.fresh("330600", "310", "employee")
    code = d.ref.local[(p.pool, p.insutype)][0].code
    items = [(sc.DIAL, 40_000, 1)]
    conn = await asyncpg.connect(ctx.suite.database_url)

    async def line() -> tuple[int, int]:
        row = await conn.fetchrow("SELECT data, caps FROM settlement.accumulators WHERE psn_no = $1 "
                                  "AND insutype = $2 AND year = $3", p.psn_no, p.insutype, p.year)
        data, caps = (json.loads(row["data"]), json.loads(row["caps"])) if row else ({}, {})
        key = "fund:line:outpatient"
        return int(data.get(key, 0)), int(caps.get(key, 0))

    try:
        spent, cap, last, pre = 0, 0, 0, 0
        while pre < 30:
            if not await d.outpatient(p, rng, items=items, code=code):
                return "a pre-spending visit failed"
            pre += 1
            before, (spent, cap) = spent, await line()
            last = spent - before
            if cap and cap - spent < 2 * max(last, 1):
                break
        visits = await asyncio.gather(*(d.register_with_fees(p, rng, code, items=items) for _ in range(ctx.args.burst)))
        his = await d.client(code)
        calls = [d.new_call(his, "2207", sc.settle_input(p, m, t, p.cert, acct_used=True), d.ref.insuplc(p))
                 for m, t in visits if m]
        await asyncio.gather(*(d.until_answered(his, c) for c in calls))
        after, cap = await line()
        paid = sum(fen(c.answer.output["setlinfo"]["hifp_pay"]) for c in calls if c.answer)
    finally:
        await conn.close()
    ctx.extra["burst"] = {"visits": len(calls), "answered": sum(1 for c in calls if c.answer), "cap": cap,
                          "before": spent, "after": after, "paid_by_burst": paid,
                          "overshoot": max(0, after - cap), "at_cap": after == cap}
    b = ctx.extra["burst"]
    return (f"{pre} visits spent {sc.yuan(spent)} of the {sc.yuan(cap)} line, then {b['visits']} at once paid "
            f"{sc.yuan(paid)}: line {sc.yuan(after)} ({'exactly at' if b['at_cap'] else 'below' if after < cap else 'OVER'}"
            " the cap)")


async def nothing(ctx: Context) -> str:
    return "no fault"


def fault_of(name: str) -> Fault:
    if name.startswith("kill-"):
        return kill_fault(name[5:])
    instant = lambda ctx: 0.0  # noqa: E731
    return {"baseline": Fault(nothing, None, instant),
            "redis-restart": Fault(redis_stop, redis_start, lambda ctx: max(ctx.args.down, 3.0)),
            "postgres-restart": Fault(postgres_stop, postgres_start),
            "postgres-backends": Fault(postgres_backends, None, instant),
            "duplicate-storm": Fault(duplicate_storm, None, instant),
            "near-cap-burst": Fault(near_cap_burst, None, instant)}[name]


async def replay_while_down(driver: Driver, calls: list[Call], until: float) -> list[tuple[Call, Attempt]]:
    """Settlements answered in earlier windows sent again (same envelope, fresh nonce) while the
    fault lasts, one after another: whatever answers must be the stored reply."""
    out = []
    for c in calls:
        if time.monotonic() >= until:
            break
        his = await driver.client(c.code)
        a = await driver.send(his, c.env)
        out.append((c, a))
        await asyncio.sleep(0.05)
    return out


# ----------------------------------------------------------------------------- database side

async def stored_settlements(dsn: str, calls: list[Call]) -> list[Stored]:
    import asyncpg

    visits = sorted({c.mdtrt_id for c in calls if c.mdtrt_id})
    msgids = sorted({c.msgid for c in calls if c.infno in SETTLING})
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT fixmedins_code, msgid, setl_id, mdtrt_id, medfee_sumamt, fund_pay_sumamt, psn_cash_pay "
            "FROM settlement.settlements WHERE reverses_setl_id IS NULL "
            "AND (mdtrt_id = any($1::text[]) OR msgid = any($2::text[]))", visits, msgids)
    finally:
        await conn.close()
    return [Stored(r["fixmedins_code"], r["msgid"], r["setl_id"], r["mdtrt_id"], r["medfee_sumamt"],
                   r["fund_pay_sumamt"], r["psn_cash_pay"]) for r in rows]


def _registration(c: Call) -> tuple[str, str, str] | None:
    """(hospital, psn_no, HIS number) of a 2201/2401 call."""
    inp = c.env.get("input") or {}
    node = inp.get("data") if c.infno == "2201" else inp.get("mdtrtinfo")
    if not isinstance(node, dict):
        return None
    return c.code, str(node.get("psn_no", "")), str(node.get("ipt_otp_no") or node.get("ipt_no") or "")


async def registered_visits(dsn: str, calls: list[Call]) -> list[VisitRow]:
    """The visits of the persons the window's 2201/2401 calls registered, under those numbers."""
    import asyncpg

    keys = {k for c in calls if c.infno in REGISTERING and (k := _registration(c)) is not None}
    if not keys:
        return []
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT fixmedins_code, psn_no, ipt_otp_no, mdtrt_id FROM settlement.visits "
            "WHERE psn_no = any($1::text[]) AND ipt_otp_no = any($2::text[])",
            sorted({k[1] for k in keys}), sorted({k[2] for k in keys}))
    finally:
        await conn.close()
    return [VisitRow(r["fixmedins_code"], r["psn_no"], r["ipt_otp_no"], r["mdtrt_id"]) for r in rows
            if (r["fixmedins_code"], r["psn_no"], r["ipt_otp_no"]) in keys]


async def audit_violations(dsn: str) -> list[str]:
    import asyncpg

    from services.settlement.audit import audit

    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return [str(v) for v in await audit(conn)]
    finally:
        await conn.close()


async def replay_answered(driver: Driver, calls: list[Call], concurrency: int = 8) -> None:
    """Send every answered settlement once more, same envelope, fresh nonce: a HIS retry; and
    every other answered journaled call that needed a retry, and 40 of those that did not."""
    sem = asyncio.Semaphore(concurrency)

    async def one(c: Call) -> None:
        async with sem:
            his = await driver.client(c.code)
            c.replays.append(await driver.send(his, c.env))

    answered = [c for c in calls if c.answer is not None and c.infno in MUTATING]
    retried = [c for c in answered if c.infno not in SETTLING and len(c.attempts) > 1]
    rest = [c for c in answered if c.infno not in SETTLING and len(c.attempts) == 1]
    sample = random.Random(len(calls)).sample(rest, min(len(rest), 40))
    await asyncio.gather(*(one(c) for c in [c for c in answered if c.infno in SETTLING] + retried + sample))


# ----------------------------------------------------------------------------- one window

async def run_window(ctx: Context, name: str, prober: Prober) -> dict:
    d, args = ctx.driver, ctx.args
    d.window = name
    t0 = time.monotonic()
    stop = asyncio.Event()
    workers = [asyncio.create_task(d.worker(ctx.persons, random.Random(f"{args.seed}:{name}:{i}"), stop,
                                            chronic=ctx.chronic))
               for i in range(args.workers)]
    await asyncio.sleep(min(args.lead, args.duration / 3))
    fault = fault_of(name)
    earlier = [c for c in d.calls if c.infno in SETTLING and c.answer is not None and c.window != name]
    rng = random.Random(f"{args.seed}:{name}")
    sample = rng.sample(earlier, min(len(earlier), 30))
    what = await fault.inject(ctx)
    t_fault = time.monotonic()  # the part is down now (killed and reaped, stopped, backends gone)
    down = fault.down_s(ctx)
    replayed = asyncio.create_task(replay_while_down(d, sample, time.monotonic() + down)) if down else None
    await asyncio.sleep(down)
    if fault.restore is not None:
        what += f", after {down:g} s " + await fault.restore(ctx)
    t_restored = time.monotonic()
    down_replays = await replayed if replayed else []
    # keep the load going for the rest of the window, at least until the suite answers again
    # (ASYNC110: polls the prober's records, there is no event to wait on)
    while time.monotonic() < t0 + args.duration or (prober.answered_again(t_fault) is None  # noqa: ASYNC110
                                                    and time.monotonic() < t_restored + RETRY_FOR_S):
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*workers)
    for pname, proc in ctx.suite.procs.items():
        if proc.poll() is not None:
            what += f"; {pname} EXITED with {proc.returncode}"
    calls = [c for c in d.calls if c.window == name]
    await replay_answered(d, calls)
    verdict = judge(calls, await stored_settlements(ctx.suite.database_url, calls),
                    await registered_visits(ctx.suite.database_url, calls))
    during = judge_down_replays(down_replays, verdict)
    nonce = ctx.extra.pop("nonce_replay", None)
    violations = await audit_violations(ctx.suite.database_url)
    burst = ctx.extra.pop("burst", None) if name == "near-cap-burst" else None
    storm = ctx.extra.pop("storm", None) if name == "duplicate-storm" else None
    overshoot = sum(1 for v in violations if "[no cap exceeded]" in v) + (1 if burst and burst["overshoot"] else 0)
    if storm and storm["booked_answers"] > 1:
        verdict.doubled = max(verdict.doubled, 1)
    again = prober.answered_again(t_fault)
    row = {"fault": name, "what": what, "seconds": round(time.monotonic() - t0, 1),
           "flows_started": d.flows[(name, "started")], "flows_completed": d.flows[(name, "completed")],
           "calls": len(calls), "acked": verdict.acked, "stored_once": verdict.stored_once, "lost": verdict.lost,
           "doubled": verdict.doubled, "registered_twice": verdict.registered_twice,
           "stored_differently": verdict.stored_differently,
           "unacked_stored": verdict.unacked_stored, "unanswered": verdict.unanswered, "retries": verdict.retries,
           "replays_identical": verdict.replays_identical, "replay_mismatch": verdict.replay_mismatch,
           "http_5xx": verdict.http_5xx, "refused": dict(verdict.refused), "cap_overshoot": overshoot,
           "audit_violations": len(violations), "answered_again_s": None if again is None else round(again, 2),
           "failed_probes": prober.failed_since(t_fault), "samples": verdict.samples + violations[:5],
           "sign_ins_lost": d.sign_ins_lost, "flow_errors": dict(d.flow_errors), "down_replays": during}
    d.flow_errors.clear()
    d.sign_ins_lost = 0
    if nonce is not None:
        row["nonce_replay"] = nonce
    if burst:
        row["burst"] = burst
    if storm:
        row["storm"] = storm
    row["ok"] = not (verdict.broken or during["different"] or overshoot or violations or again is None or verdict.http_5xx
                     or row["sign_ins_lost"] or (nonce is not None and nonce != "NONCE_REUSED"))
    return row


# ----------------------------------------------------------------------------- persons

async def enroll_fresh(http: aiohttp.ClientSession, gateway_url: str, admin_token: str, pool: str, insutype: str,
                       psn_type: str, admdvs: str) -> sc.Person:
    """A new insured person (this year, active) through the admin API: its accumulators start at zero."""
    from services.common.ids import make_certno

    psn_no = "K" + "".join(secrets.choice("0123456789") for _ in range(17))
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=secrets.randbelow(15_000))
    certno = make_certno(f"{admdvs}{birth:%Y%m%d}{secrets.randbelow(100):02d}{secrets.choice('13579')}")
    p = sc.Person(psn_no, certno, pool, insutype, psn_type)
    body = {**sc.enrollment_body(p, "active"), "certno": certno, "name": "混沌" + psn_no[-4:], "gender": "1",
            "birthdate": birth.isoformat()}
    async with http.post(gateway_url + "/api/v1/admin/enrollments", json=body,
                         headers={"Authorization": f"Bearer {admin_token}"}) as r:
        if r.status not in (200, 201):
            raise RuntimeError(f"enrolling a fresh person failed: HTTP {r.status} {(await r.text())[:200]}")
    return p


# ----------------------------------------------------------------------------- the run

async def run_matrix(suite, profile: Profile | None, args, persons: list[sc.Person] | None, admin_token: str,
                     faults: list[str]) -> list[dict]:
    """Every window of `faults` in turn; `persons` None: the load runs over a few fresh persons."""
    ref = sc.load_reference()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        driver = Driver(suite.gateway_url, ref, http)

        async def fresh(pool: str, insutype: str, psn_type: str) -> sc.Person:
            admdvs = sorted(ref.pools[pool]["admdvs"])[0]
            return await enroll_fresh(http, suite.gateway_url, admin_token, pool, insutype, psn_type, admdvs)

        if persons is None:
            persons = [await fresh("330600", "390", "resident") for _ in range(8)]
        # The chronic flows settle demo person 6's dialysis (its monthly cap): only in a database
        # of the harness's own, never in one shared with tests that expect that cap fresh.
        d6 = sc.demo_persons()[CHRONIC_FILER]
        chronic = [sc.Person(d6["psn_no"], d6["certno"], "330600", "390", "resident")] \
            if getattr(args, "chronic", True) else []
        ctx = Context(suite, profile, driver, args, persons, fresh, chronic=chronic)
        driver.window = "setup"
        probe_person = await fresh("330600", "390", "resident")
        code = ref.local_hospital(probe_person, random.Random(args.seed)).code
        mdtrt_id, total = await driver.register_with_fees(probe_person, random.Random(args.seed), code)
        if not mdtrt_id:
            raise SystemExit("could not prepare the prober's visit")
        probes = [Probe(probe_person, code, mdtrt_id, total)]
        if chronic:
            chronic_id, chronic_total = await driver.chronic_visit(chronic[0], random.Random(args.seed))
            if not chronic_id:
                raise SystemExit("could not prepare the prober's cross-province visit")
            probes.append(Probe(chronic[0], XINJIANG_3, chronic_id, chronic_total, "14"))
        prober = Prober(driver, probes)
        prober.start()
        rows = []
        try:
            for name in faults:
                print(f"[chaos] {name} ...", flush=True)
                row = await run_window(ctx, name, prober)
                rows.append(row)
                print(f"        {row['what']}", flush=True)
                print("        " + summary_line(row), flush=True)
                for s in row["samples"]:
                    print(f"        ! {s}", flush=True)
        finally:
            await prober.stop()
    return rows


def summary_line(r: dict) -> str:
    again = "—" if r["answered_again_s"] is None else f"{r['answered_again_s']:.1f} s"
    return (f"{r['acked']} settled, {r['stored_once']} stored once, lost {r['lost']}, doubled {r['doubled']}, "
            f"registered twice {r['registered_twice']}, "
            f"retries {r['retries']}, replays identical {r['replays_identical']}/"
            f"{r['replays_identical'] + r['replay_mismatch']}, 5xx {r['http_5xx']}, overshoot {r['cap_overshoot']}, "
            f"audit {r['audit_violations']}, during the fault {_during(r)}, answered again {again} -> "
            f"{'ok' if r['ok'] else 'FAILED'}")


def _during(r: dict) -> str:
    d = r.get("down_replays") or {}
    if not d.get("sent"):
        return "—"
    return f"{d['identical']}/{d['identical'] + d['different']} ({d['unavailable']} not now)"


def render(rows: list[dict], meta: dict) -> str:
    m = meta["machine"]
    lines = [
        f"Run {meta['at']} (Beijing time), `make chaos` seed {meta['seed']}, {meta['duration']:g} s per fault, "
        f"{meta['workers']} concurrent HIS flows (30% inpatient, 10% out-of-province chronic), storm {meta['storm']}, "
        f"burst {meta['burst']}; "
        f"{m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, Linux {m['kernel']}; load "
        f"average at start {m['loadavg_at_start']}. Whole run {meta['total_s']:.0f} s, exit {meta['exit']}.",
        "",
        "| fault | flows done/started | settled (acked) | stored once | lost | doubled | registered twice "
        "| unacked, stored | retries "
        "| retries = stored reply | resent during the fault = stored reply | 5xx | cap overshoot | audit "
        "| answered again |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        again = "—" if r["answered_again_s"] is None else f"{r['answered_again_s']:.1f} s"
        lines.append(
            f"| {r['fault']} | {r['flows_completed']}/{r['flows_started']} | {r['acked']} | {r['stored_once']} | "
            f"{r['lost']} | {r['doubled']} | {r['registered_twice']} | {r['unacked_stored']} | {r['retries']} | "
            f"{r['replays_identical']}/{r['replays_identical'] + r['replay_mismatch']} | {_during(r)} | {r['http_5xx']} | "
            f"{r['cap_overshoot']} | {'clean' if not r['audit_violations'] else r['audit_violations']} | {again} |")
    lines.append("")
    for r in rows:
        lines.append(f"- {r['fault']}: {r['what']}"
                     + (f"; final refusals {r['refused']}" if r["refused"] else "")
                     + (f"; sign-ins lost {r['sign_ins_lost']}" if r["sign_ins_lost"] else "")
                     + (f"; flows broken off {r['flow_errors']}" if r["flow_errors"] else "")
                     + ("" if r["ok"] else " — **FAILED**"))
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN not in doc:
        doc += f"\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")


def profile_of(args) -> Profile:
    e, f, s = (int(x) for x in args.grpc_ports.split(","))
    return Profile(Path(args.data_dir).resolve(), args.redis_port, e, f, s, args.gateway_port)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load per fault window")
    ap.add_argument("--lead", type=float, default=4.0, help="seconds of load before the fault")
    ap.add_argument("--down", type=float, default=2.0, help="seconds a killed or stopped part stays down")
    ap.add_argument("--workers", type=int, default=6, help="concurrent HIS flows")
    ap.add_argument("--storm", type=int, default=200, help="concurrent copies of one 2207")
    ap.add_argument("--burst", type=int, default=40, help="concurrent 2207s of one person near a cap")
    ap.add_argument("--persons", type=int, default=3000, help="synthetic population of the steady load")
    ap.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of: {', '.join(FAULTS)}")
    ap.add_argument("--data-dir", default=str(CHAOS.data_dir))
    ap.add_argument("--redis-port", type=int, default=CHAOS.redis_port)
    ap.add_argument("--grpc-ports", default=f"{CHAOS.eligibility_port},{CHAOS.filing_port},{CHAOS.settlement_port}")
    ap.add_argument("--gateway-port", type=int, default=CHAOS.gateway_port)
    ap.add_argument("--no-chronic", dest="chronic", action="store_false",
                    help="leave out the out-of-province chronic flows (they settle demo person 6)")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite the figures in docs/RELIABILITY.md")
    args = ap.parse_args(argv)
    unknown = [f for f in args.faults.split(",") if f not in FAULTS]
    if unknown:
        ap.error(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    from loadtest import prepare
    from loadtest.bench import machine
    from services.common.clock import Clock

    args = parse_args(argv)
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        raise SystemExit("make chaos restarts its own embedded PostgreSQL and Redis: unset DATABASE_URL and REDIS_URL")
    profile = profile_of(args)
    faults = args.faults.split(",")
    meta = {"at": Clock().naive_now().strftime("%Y-%m-%d %H:%M"), "machine": machine(), "seed": args.seed,
            "duration": args.duration, "workers": args.workers, "storm": args.storm, "burst": args.burst}
    print(f"[chaos] machine: {meta['machine']}", flush=True)
    t0 = time.monotonic()
    REPORTS.mkdir(parents=True, exist_ok=True)
    suite = prepare.start_suite(profile, {"RATE_LIMIT_PER_S": "0"}, log_dir=REPORTS / "chaos-logs")
    try:
        # a population of another size gets another tag: psn_no and certno differ from the last one's
        csv_path = prepare.population(REPORTS / "chaos-population.csv", args.persons,
                                      1700 + (args.seed + args.persons // 100) % 100)
        if prepare.import_population(suite.database_url, suite.redis_url, csv_path)[0] == 1:
            raise SystemExit("the chaos population import failed")
        persons = sc.read_population(csv_path)
        print(f"[chaos] suite up at {suite.gateway_url}; {len(persons):,} insured persons; faults: {', '.join(faults)}",
              flush=True)
        rows = asyncio.run(run_matrix(suite, profile, args, persons, prepare.ADMIN_TOKEN, faults))
    finally:
        suite.stop()
    failed = [r["fault"] for r in rows if not r["ok"]]
    meta["total_s"] = time.monotonic() - t0
    meta["exit"] = 1 if failed else 0
    text = render(rows, meta)
    print("\n" + text)
    (REPORTS / "chaos.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, ensure_ascii=False,
                                                   default=str))
    if not args.no_doc:
        write_doc(text)
        print(f"\n[chaos] figures written to {DOC.relative_to(REPO_ROOT)}")
    if failed:
        print(f"[chaos] FAILED: {', '.join(failed)}")
    return meta["exit"]


if __name__ == "__main__":
    sys.exit(main())
