"""Fund supervision measured honestly (issue #19): seeded synthetic traffic with known fraud
patterns injected, run through the real HIS interface of a suite of its own, then the
after-the-fact batch; prints recall and precision per pattern and the false-alarm rate on the
clean settlements.

Not a test. Run: .venv/bin/python -m loadtest.bench_fraud [--seed N] [--clean N] [--cases N] [--keep]
Its suite: gateway 127.0.0.1:54650, gRPC 54651-54653, Redis 7060, data under .data/bench-fraud
(wiped first unless --keep). Targets: recall >= 95% per pattern, false alarms <= 1% of clean
settlements. Figures: docs/SUPERVISION.md.

Patterns (each case is one person, or one hospital for padding):
- impersonation: one certificate settled at 4 hospitals in one day (rule hospitals_per_day);
- duplicate: the same examination charged twice on one bill (duplicate);
- split_admission: discharged, then admitted again at the same hospital 4 days later (readmission);
- quantity: nifedipine 10 tablets in a day, or paracetamol 60 on one visit (quantity);
- gender: the male-only PSA test billed to a woman, or the female-only TCT to a man (gender);
- post_death: a settlement after the person's death; half of the deaths are registered before the
  visit (the settlement is refused), half after it (the batch finds it);
- padding: one level-2 hospital whose every bill carries extra examinations (peer outlier).
Clean traffic: outpatient visits at one or two hospitals a day with ordinary items, and single
inpatient stays, over residents of both genders.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from loadtest.prepare import ADMIN_TOKEN, Profile  # noqa: E402
from services.common.config import REPO_ROOT  # noqa: E402

FRAUD = Profile(REPO_ROOT / ".data" / "bench-fraud", 7060, 54651, 54652, 54653, 54650)
POOL = "330600"
CONSULT, BLOOD, CT, MRI = "001102000010000", "002501000010000", "002703000010000", "002703000070000"
NIFE, PARA, METF, ATOR, AMOX = ("XC08CAA015A001010104563", "XN02BEA001A001010100678", "XA10BAA001A001010101445",
                                "XC10AAA089A001010104327", "XJ01DDA046B001010100234")
PSA, TCT, BED, NURSE = "002503000010000", "002504000010000", "001104000010000", "001107000010000"
PRICE = {CONSULT: "20.00", BLOOD: "25.00", CT: "180.00", MRI: "600.00", NIFE: "1.20", PARA: "0.30", METF: "0.40",
         ATOR: "3.50", AMOX: "12.00", PSA: "80.00", TCT: "120.00", BED: "50.00", NURSE: "30.00"}
PATTERNS = ("impersonation", "duplicate", "split_admission", "quantity", "gender", "post_death", "padding")
# which alert patterns (services/supervision/after.py) each injected pattern is detected as
DETECTED_AS = {
    "impersonation": ("many_hospitals", "finding:hospitals_per_day"),
    "duplicate": ("finding:duplicate",),
    "split_admission": ("readmission", "finding:readmission"),
    "quantity": ("finding:quantity",),
    "gender": ("finding:gender",),
    "post_death": ("after_death", "finding:after_death"),
    "padding": ("peer_outlier",),
}
EXTRA_HOSPITALS = 8  # level-2 hospitals of 330600 added beside the demo's, so every level has peers


def secret_of(code: str) -> str:
    return "fraud-" + hashlib.sha256(code.encode()).hexdigest()[:40]


@dataclass
class Person:
    psn_no: str
    certno: str
    gender: str
    birth: str
    death: str | None = None  # registered before the traffic
    late_death: str | None = None  # registered after it


@dataclass
class Case:
    pattern: str
    psn_no: str = ""
    hospital: str = ""
    setl_ids: list[str] = field(default_factory=list)
    refused_by: str = ""  # the rule code of a refusal (a blocked post-death settlement)


def _certno(rng: random.Random, gender: str) -> tuple[str, str]:
    from services.common.ids import make_certno

    birth = dt.date(1945, 1, 1) + dt.timedelta(days=rng.randrange(24_000))
    digit = rng.choice("13579" if gender == "1" else "02468")
    return make_certno(f"330602{birth:%Y%m%d}{rng.randrange(100):02d}{digit}"), birth.isoformat()


def make_people(rng: random.Random, n: int, tag: str) -> list[Person]:
    out = []
    for i in range(n):
        g = rng.choice("12")
        certno, birth = _certno(rng, g)
        out.append(Person(f"F{tag}{i:06d}{rng.randrange(10**9):09d}"[:18], certno, g, birth))
    return out


def reference_doc(people: list[Person], hospitals: list[dict], year: int, *, late: bool = False) -> dict:
    from infra.reference.make_demo import document

    pools = [p for p in document(year)["pools"] if p["code"] == POOL]
    persons = []
    for p in people:
        death = p.late_death if late else p.death
        rec = {"psn_no": p.psn_no, "certno": p.certno, "name": "模拟" + p.psn_no[-4:], "gender": p.gender,
               "birthdate": p.birth,
               "enrollments": [{"pool": POOL, "insutype": "390", "year": y, "psn_type": "resident",
                                "benefit_start": f"{y}-01-01", "benefit_end": f"{y}-12-31", "status": "active"}
                               for y in (year - 1, year)]}
        if death:
            rec["death_date"] = death
        persons.append(rec)
    doc: dict = {"format": "medsettle.reference/v1", "pools": pools, "persons": persons}
    if hospitals:
        doc["hospitals"] = hospitals
    return doc


# ----------------------------------------------------------------------------- the HIS side


def ok(reply: dict) -> dict:
    if reply.get("infcode") != 0:
        raise RuntimeError(reply.get("err_msg"))
    return reply["output"]


class His:
    def __init__(self, clients: dict, today: dt.datetime) -> None:
        self.clients = clients
        self.now = today  # naive Beijing wall-clock
        self.seq = 0

    def t(self, days: float = 0, hours: float = 0) -> str:
        return (self.now + dt.timedelta(days=days, hours=hours)).strftime("%Y-%m-%d %H:%M:%S")

    def fee(self, sn: str, mdtrt_id: str, psn: str, code: str, cnt: int, when: str) -> dict:
        amount = (Decimal(PRICE[code]) * cnt).quantize(Decimal("0.01"))
        return {"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn, "chrg_bchno": "B1", "fee_ocur_time": when,
                "med_list_codg": code, "medins_list_codg": "H-" + code[:8], "det_item_fee_sumamt": str(amount),
                "cnt": str(cnt), "pric": PRICE[code]}

    async def outpatient(self, hospital: str, p: Person, items: list[tuple[str, int]], hours_ago: float = 1) -> dict:
        """2201, 2204, 2207; the 2207 reply's output (raises on a refusal)."""
        his = self.clients[hospital]
        cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno}
        when = self.t(hours=-hours_ago)
        self.seq += 1
        reg = ok(await his.call("2201", {"data": {"psn_no": p.psn_no, "insutype": "390", "begntime": when,
                                                  "ipt_otp_no": f"MZ{self.seq:010d}", **cert}},
                                insuplc_admdvs=POOL))
        mdtrt_id = reg["data"]["mdtrt_id"]
        rows = [self.fee(f"F{i + 1}", mdtrt_id, p.psn_no, c, n, when) for i, (c, n) in enumerate(items)]
        ok(await his.call("2204", {"feedetail": rows}, insuplc_admdvs=POOL))
        total = sum(Decimal(r["det_item_fee_sumamt"]) for r in rows)
        return ok(await his.call("2207", {"data": {"psn_no": p.psn_no, "mdtrt_id": mdtrt_id, "insutype": "390",
                                                   "med_type": "11", "medfee_sumamt": str(total), "psn_setlway": "01",
                                                   "acct_used_flag": "0", **cert}}, insuplc_admdvs=POOL))

    async def admission(self, hospital: str, p: Person, begin_days: float, end_days: float) -> dict:
        his = self.clients[hospital]
        cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno}
        self.seq += 1
        adm = ok(await his.call("2401", {"mdtrtinfo": {
            "psn_no": p.psn_no, "insutype": "390", "begntime": self.t(begin_days), "med_type": "21",
            "ipt_no": f"ZY{self.seq:010d}", "atddr_no": "D001", "chfpdr_name": "医生", "adm_dept_codg": "A03",
            "adm_dept_name": "内科", "adm_bed": "1", "dise_codg": "J18.900", **cert},
            "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J18.900", "diag_name": "肺炎"}]},
            insuplc_admdvs=POOL))
        mdtrt_id = adm["result"]["mdtrt_id"]
        days = max(1, int(end_days - begin_days))
        rows = []
        for d in range(days):
            when = self.t(begin_days + d, 2)
            rows += [self.fee(f"D{d}B", mdtrt_id, p.psn_no, BED, 1, when),
                     self.fee(f"D{d}N", mdtrt_id, p.psn_no, NURSE, 1, when),
                     self.fee(f"D{d}A", mdtrt_id, p.psn_no, AMOX, 2, when)]
        ok(await his.call("2301", {"feedetail": rows}, insuplc_admdvs=POOL))
        ok(await his.call("2402", {"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": p.psn_no, "insutype": "390",
                                                "endtime": self.t(end_days), "dise_codg": "J18.900",
                                                "dscg_way": "1"}}, insuplc_admdvs=POOL))
        total = sum(Decimal(r["det_item_fee_sumamt"]) for r in rows)
        return ok(await his.call("2304", {"data": {"psn_no": p.psn_no, "mdtrt_id": mdtrt_id, "insutype": "390",
                                                   "medfee_sumamt": str(total), "psn_setlway": "01",
                                                   "acct_used_flag": "0", "mid_setl_flag": "0", **cert}},
                                 insuplc_admdvs=POOL))


def clean_items(rng: random.Random, p: Person) -> list[tuple[str, int]]:
    items = [(CONSULT, 1)]
    for code, n in rng.sample([(BLOOD, 1), (NIFE, 2), (METF, 30), (ATOR, 14), (AMOX, 1), (PARA, 10), (CT, 1)],
                              rng.randint(1, 3)):
        items.append((code, n))
    if rng.random() < 0.1:
        items.append((PSA if p.gender == "1" else TCT, 1))  # the right gender: no finding
    return items


# ----------------------------------------------------------------------------- the run


async def traffic(args, suite_url: str, hospitals: dict[str, dict], today: dt.datetime) -> dict:
    from gateway.hisclient import HisClient

    rng = random.Random(args.seed)
    codes = sorted(hospitals)
    padder = sorted(h for h, v in hospitals.items() if v["level"] == 2 and h.startswith("H3306021"))[0]
    honest = [h for h in codes if h != padder]
    clean = make_people(rng, args.clean, "C")
    stays = make_people(rng, max(10, args.clean // 10), "I")
    injected = {pat: make_people(rng, args.cases, pat[:1].upper() + str(i)) for i, pat in enumerate(PATTERNS)
                if pat != "padding"}
    for i, p in enumerate(injected["post_death"]):
        death = (today.date() - dt.timedelta(days=2)).isoformat()
        if i % 2 == 0:
            p.death = death
        else:
            p.late_death = death
    padding_people = make_people(rng, 30, "P")
    everyone = clean + stays + padding_people + [p for ps in injected.values() for p in ps]

    async with _admin(suite_url) as admin:
        extra = [{"code": h, "name": v["name"], "admdvs": v["admdvs"], "level": v["level"], "cross_province": False,
                  "paasid": v["paasid"], "secret": v["secret"]} for h, v in hospitals.items() if v.get("extra")]
        async with admin.post("/api/v1/admin/reference", json=reference_doc(everyone, extra, today.year)) as r:
            assert r.status == 200, await r.text()

    clients = {}
    for h, v in hospitals.items():
        c = HisClient(suite_url, fixmedins_code=h, paasid=v["paasid"], secret=v["secret"], admdvs=v["admdvs"],
                      fixmedins_name=v["name"])
        await c.__aenter__()
        await c.sign_in()
        clients[h] = c
    his = His(clients, today)
    sem = asyncio.Semaphore(args.concurrency)
    clean_setl: list[str] = []
    cases: list[Case] = []
    errors: list[str] = []

    async def guarded(coro):
        async with sem:
            try:
                await coro
            except Exception as e:  # noqa: BLE001 - counted and shown: a harness error is not a detection
                errors.append(f"{type(e).__name__}: {e}"[:200])

    async def clean_person(p: Person, r: random.Random):
        hs = r.sample(honest, 2 if r.random() < 0.2 else 1)
        for k, h in enumerate(hs):
            out = await his.outpatient(h, p, clean_items(r, p), hours_ago=1 + 2 * k)
            clean_setl.append(out["setlinfo"]["setl_id"])

    async def clean_stay(p: Person, r: random.Random):
        out = await his.admission(r.choice(honest), p, -r.randint(5, 20), -r.randint(1, 3))
        clean_setl.append(out["setlinfo"]["setl_id"])

    async def padded(p: Person, r: random.Random):
        items = clean_items(r, p)
        have = {c for c, _ in items}
        items += [(c, 1) for c in (MRI, CT, BLOOD) if c not in have]  # padded, but charged once each
        await his.outpatient(padder, p, items)

    async def case(pat: str, p: Person, r: random.Random):
        c = Case(pat, p.psn_no)
        cases.append(c)
        if pat == "impersonation":
            for k, h in enumerate(r.sample(honest, 4)):
                out = await his.outpatient(h, p, [(CONSULT, 1), (AMOX, 1)], hours_ago=1 + k)
                c.setl_ids.append(out["setlinfo"]["setl_id"])
        elif pat == "duplicate":
            code = r.choice([CT, BLOOD, CONSULT])
            out = await his.outpatient(r.choice(honest), p, [(CONSULT, 1), (code, 1), (code, 1)]
                                       if code != CONSULT else [(CONSULT, 1), (CONSULT, 1), (PARA, 10)])
            c.setl_ids.append(out["setlinfo"]["setl_id"])
        elif pat == "split_admission":
            h = r.choice(honest)
            first = await his.admission(h, p, -14, -8)
            second = await his.admission(h, p, -4, -1)
            c.setl_ids += [first["setlinfo"]["setl_id"], second["setlinfo"]["setl_id"]]
        elif pat == "quantity":
            items = [(CONSULT, 1), (NIFE, 10)] if r.random() < 0.5 else [(CONSULT, 1), (PARA, 60)]
            out = await his.outpatient(r.choice(honest), p, items)
            c.setl_ids.append(out["setlinfo"]["setl_id"])
        elif pat == "gender":
            out = await his.outpatient(r.choice(honest), p, [(CONSULT, 1), (TCT if p.gender == "1" else PSA, 1)])
            c.setl_ids.append(out["setlinfo"]["setl_id"])
        elif pat == "post_death":
            try:
                out = await his.outpatient(r.choice(honest), p, [(CONSULT, 1), (AMOX, 1)])
                c.setl_ids.append(out["setlinfo"]["setl_id"])
            except RuntimeError as e:
                if "DEATH-01" not in str(e):
                    raise
                c.refused_by = f"{POOL}-DEATH-01"

    t0 = time.perf_counter()
    jobs = [clean_person(p, random.Random(rng.random())) for p in clean]
    jobs += [clean_stay(p, random.Random(rng.random())) for p in stays]
    jobs += [padded(p, random.Random(rng.random())) for p in padding_people]
    jobs += [case(pat, p, random.Random(rng.random())) for pat, ps in injected.items() for p in ps]
    rng.shuffle(jobs)
    await asyncio.gather(*(guarded(j) for j in jobs))
    seconds = time.perf_counter() - t0
    cases.append(Case("padding", hospital=padder))
    for c in clients.values():
        await c.close()

    # deaths registered after the visits (the realistic order), then the batch
    late = [p for p in injected["post_death"] if p.late_death]
    async with _admin(suite_url) as admin:
        async with admin.post("/api/v1/admin/reference", json=reference_doc(late, [], today.year, late=True)) as r:
            assert r.status == 200, await r.text()
    return {"cases": cases, "clean_setl": clean_setl, "errors": errors, "seconds": seconds, "calls": his.seq}


def _admin(url: str):
    import aiohttp

    return aiohttp.ClientSession(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


async def batch_and_score(dsn: str, suite_url: str, run: dict, today: dt.date) -> dict:
    from services.common.db import create_pool
    from services.refdata.cache import ReferenceCache
    from services.settlement.supervise import supervise

    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        refs = await ReferenceCache.load(pool)
        t0 = time.perf_counter()
        report = await supervise(pool, refs, today - dt.timedelta(days=30), today)
        batch_s = time.perf_counter() - t0
    finally:
        await pool.close()
    alerts = []
    async with _admin(suite_url) as admin:
        async with admin.get("/api/v1/admin/alerts", params={"limit": "1000", "status": "open"}) as r:
            assert r.status == 200, await r.text()
            alerts = (await r.json())["alerts"]
    cases: list[Case] = run["cases"]
    per: dict[str, dict] = {}
    matched_alerts: set[str] = set()
    for pat in PATTERNS:
        mine = [c for c in cases if c.pattern == pat]
        kinds = DETECTED_AS[pat]
        found = 0
        for c in mine:
            hits = [a for a in alerts if a["pattern"] in kinds and _matches(a, c)]
            matched_alerts.update(a["alert_id"] for a in hits)
            found += bool(hits or c.refused_by)
        of_kind = [a for a in alerts if a["pattern"] in kinds]
        true = [a for a in of_kind if any(_matches(a, c) for c in mine)]
        per[pat] = {"cases": len(mine), "detected": found, "recall": found / len(mine) if mine else 0.0,
                    "alerts": len(of_kind), "precision": len(true) / len(of_kind) if of_kind else 1.0,
                    "refused": sum(1 for c in mine if c.refused_by)}
    clean = set(run["clean_setl"])
    flagged = {s for a in alerts for s in a["setl_ids"] if s in clean}
    return {"per": per, "clean": len(clean), "false_alarms": len(flagged), "alerts": len(alerts),
            "batch_s": batch_s, "batch_settlements": report.settlements,
            "unmatched": sorted({a["pattern"] for a in alerts if a["alert_id"] not in matched_alerts})}


def _matches(alert: dict, c: Case) -> bool:
    if c.pattern == "padding":
        return alert["fixmedins_code"] == c.hospital
    return alert["psn_no"] == c.psn_no or bool(set(alert["setl_ids"]) & set(c.setl_ids))


def hospitals_of(year: int) -> dict[str, dict]:
    from infra.reference.make_demo import document

    out = {h["code"]: dict(h) for h in document(year)["hospitals"] if h["admdvs"].startswith("3306")}
    for i in range(1, EXTRA_HOSPITALS + 1):
        code = f"H3306021{i:04d}"
        out[code] = {"code": code, "name": f"模拟二级医院{i}", "admdvs": "330602", "level": 2, "paasid": f"fraud-{i:03d}",
                     "secret": secret_of(code), "extra": True}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--clean", type=int, default=600, help="clean outpatient persons")
    ap.add_argument("--cases", type=int, default=20, help="injected cases per person pattern")
    ap.add_argument("--concurrency", type=int, default=12)
    ap.add_argument("--keep", action="store_true", help="keep .data/bench-fraud (default: start from an empty one)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)

    from loadtest.prepare import start_suite
    from services.common import embedded
    from services.common.clock import Clock

    if not args.keep:
        embedded.wipe(FRAUD.data_dir)
    clock = Clock()
    now = clock.naive_now()
    suite = start_suite(FRAUD, {"RATE_LIMIT_PER_S": "0"}, log_dir=FRAUD.data_dir / "logs")
    try:
        url = f"http://127.0.0.1:{FRAUD.gateway_port}"
        run = asyncio.run(traffic(args, url, hospitals_of(now.year), now))
        score = asyncio.run(batch_and_score(suite.database_url, url, run, now.date()))
    finally:
        suite.stop()
        embedded.stop(FRAUD.data_dir)
    print(f"fund supervision, injected fraud (seed {args.seed}): {len(run['clean_setl'])} clean settlements, "
          f"{sum(1 for c in run['cases'])} injected cases, {run['calls']} visits through the HIS interface in "
          f"{run['seconds']:.1f} s; harness errors {len(run['errors'])}")
    for e in run["errors"][:5]:
        print("  error:", e)
    print(f"{'pattern':<17}{'cases':>6}{'found':>7}{'recall':>8}{'alerts':>8}{'precision':>10}{'refused':>9}")
    worst = 1.0
    for pat, x in score["per"].items():
        worst = min(worst, x["recall"])
        print(f"{pat:<17}{x['cases']:>6}{x['detected']:>7}{x['recall']:>8.1%}{x['alerts']:>8}{x['precision']:>10.1%}"
              f"{x['refused']:>9}")
    rate = score["false_alarms"] / score["clean"] if score["clean"] else 0.0
    print(f"false alarms: {score['false_alarms']} of {score['clean']} clean settlements ({rate:.2%}); "
          f"{score['alerts']} alerts in all; batch {score['batch_s']:.2f} s over {score['batch_settlements']} "
          f"settlements; alert patterns matching no case: {score['unmatched'] or 'none'}")
    ok_ = worst >= 0.95 and rate <= 0.01 and not run["errors"]
    print("targets (recall >= 95% every pattern, false alarms <= 1%):", "MET" if ok_ else "NOT MET")
    if args.json:
        Path(args.json).write_text(json.dumps({"score": score, "errors": run["errors"], "seconds": run["seconds"]},
                                              indent=2, ensure_ascii=False, default=str))
    return 0 if ok_ else 1


if __name__ == "__main__":
    sys.exit(main())
