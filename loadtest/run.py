"""`make loadtest`: the Locust scenarios against a suite of their own, bounded, then the auditor.

    .venv/bin/python -m loadtest.run [--users 20] [--spawn-rate 5] [--run-time 60s]
                                     [--persons 100000] [--peak-persons 100000] [--no-peak]

1. The suite starts on loopback ports of its own (loadtest/prepare.py: .data/loadtest, gateway
   127.0.0.1:28080), the demo reference data is loaded, a population of --persons is generated
   (`medsettle gen-persons`) and bulk-imported (a no-op when the same file was imported before).
2. A pool of out-of-province chronic patients is made through the real APIs: a chronic
   qualification M07803 (admin REST) and a long-term residence filing to 65, filed online by
   each patient on the patient pages (loadtest/patients.py: phone on file, /m/ sign-up with the
   code from the dev SMS outbox). One patient per Locust user is signed up the same way for the
   e-voucher scenario (d), which asks POST /m/api/evoucher in the patient's session.
3. Locust runs headless against http://127.0.0.1 only, rate-controlled (every user paces itself
   with constant_throughput) and bounded by --run-time; CSV and HTML reports go to
   loadtest/reports/. One third into the run a second population (--peak-persons, a new seed each
   run) is bulk-imported while the settlements go on: the import's rows/s and the settlement
   throughput during vs outside the import are printed.
4. `medsettle audit` (run_audit) checks every invariant. The exit code is non-zero when the audit
   fails, when any consistency check failed (a settlement that used a stale enrollment status),
   or when more than --max-failure-ratio of the requests failed. The suite is stopped in every case.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from loadtest import prepare
from loadtest.prepare import ADMIN_TOKEN, LOADTEST, REPORTS
from services.common.clock import Clock
from services.common.config import REPO_ROOT

BASE_SEED = 2026
CHRONIC_HOSPITAL = "H33060200001"  # the qualification's certifying hospital (demo data)


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


async def make_chronic_pool(gateway_url: str, database_url: str, persons_csv: Path, count: int) -> list[dict]:
    """Shaoxing residents from the population given M07803 and a long-term filing to Xinjiang."""
    import aiohttp

    from loadtest import scenarios as sc

    candidates = [p for p in sc.read_population(persons_csv, limit=20_000) if p.pool == "330600" and p.insutype == "390"]
    chosen = candidates[:count]
    pool: list[dict] = []
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(base_url=gateway_url) as http:
        for p in chosen:
            async with http.post("/api/v1/admin/chronic", headers=headers, json={
                    "psn_no": p.psn_no, "code": "M07803", "begin": f"{p.year}-01-01", "end": f"{p.year}-12-31",
                    "hospital": CHRONIC_HOSPITAL}) as r:
                if r.status not in (200, 201, 409):
                    print(f"chronic pool: {p.psn_no}: qualification refused: HTTP {r.status} {await r.text()}",
                          file=sys.stderr)
                    continue
            pool.append(p.__dict__)
    # The long-term filing to Xinjiang is the patient's own, online (/m/, loadtest/patients.py).
    from loadtest.patients import make_patients

    filed = set(await make_patients(gateway_url, database_url, LOADTEST.data_dir, persons_csv,
                                    [d["psn_no"] for d in pool], filing={
                                        "insutype": "390", "type": "long_term_residence", "destination": "65",
                                        "begin": f"{chosen[0].year}-01-01" if chosen else ""}))
    return [d for d in pool if d["psn_no"] in filed]


async def make_evoucher_patients(gateway_url: str, database_url: str, persons_csv: Path, count: int,
                                 taken: set[str]) -> list[dict]:
    """Persons of the population (one per Locust user) signed up on the patient pages, for the
    e-voucher scenario (d): it asks /m/api/evoucher as the signed-in patient."""
    from loadtest import scenarios as sc
    from loadtest.patients import make_patients

    candidates = [p for p in sc.read_population(persons_csv, limit=20_000)[1000:] if p.psn_no not in taken]
    chosen = candidates[:max(1, count)]
    done = set(await make_patients(gateway_url, database_url, LOADTEST.data_dir, persons_csv,
                                   [p.psn_no for p in chosen]))
    return [p.__dict__ for p in chosen if p.psn_no in done]


def rates_from_history(history_csv: Path, names: tuple[str, ...], window: tuple[float, float] | None
                       ) -> dict[str, float]:
    """Requests/s of `names` (summed) inside and outside the window, from Locust's full history."""
    rows: dict[str, list[tuple[float, int]]] = {}
    with open(history_csv, newline="") as f:
        for r in csv.DictReader(f):
            if r["Name"] in names:
                rows.setdefault(r["Name"], []).append((float(r["Timestamp"]), int(r["Total Request Count"])))

    def count_between(a: float, b: float) -> float:
        total = 0.0
        for series in rows.values():
            before = max((c for t, c in series if t <= a), default=0)
            upto = max((c for t, c in series if t <= b), default=0)
            total += upto - before
        return total

    stamps = sorted(t for series in rows.values() for t, _ in series)
    if not stamps:
        return {}
    t_first, t_last = stamps[0], stamps[-1]
    out = {"overall": count_between(t_first, t_last) / max(1.0, t_last - t_first)}
    if window:
        a, b = window
        if b - a >= 2:
            out["during_import"] = count_between(a, b) / (b - a)
        outside = (count_between(t_first, a) + count_between(b, t_last))
        span = max(1.0, (a - t_first) + (t_last - b))
        out["outside_import"] = outside / span
    return out


def locust_totals(stats_csv: Path) -> tuple[int, int, dict[str, int]]:
    """(requests, failures, failures of each consistency check) from the stats CSV."""
    total = fails = 0
    consistency: dict[str, int] = {}
    with open(stats_csv, newline="") as f:
        for r in csv.DictReader(f):
            if r["Name"] == "Aggregated":
                total, fails = int(r["Request Count"]), int(r["Failure Count"])
            elif r["Name"].startswith("consistency:"):
                consistency[r["Name"]] = int(r["Failure Count"])
    return total, fails, consistency


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--spawn-rate", type=float, default=5)
    ap.add_argument("--run-time", default="60s")
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--peak-persons", type=int, default=100_000)
    ap.add_argument("--no-peak", action="store_true", help="skip the bulk import during the run")
    ap.add_argument("--chronic-persons", type=int, default=40)
    ap.add_argument("--max-failure-ratio", type=float, default=0.01)
    args = ap.parse_args(argv)
    run_s = _seconds(args.run_time)
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = Clock().naive_now().strftime("%Y%m%d-%H%M%S")  # Beijing time, like every time the suite shows

    print(f"[loadtest] starting the suite on 127.0.0.1:{LOADTEST.gateway_port} (data {LOADTEST.data_dir})", flush=True)
    suite = prepare.start_suite(LOADTEST, log_dir=REPORTS / "logs")
    code = 1
    try:
        base = prepare.population(REPORTS / "population.csv", args.persons, BASE_SEED)
        rc, secs = prepare.import_population(suite.database_url, suite.redis_url, base)
        print(f"[loadtest] population: {args.persons:,} persons in {base.name}; bulk import exit {rc} in {secs:.1f} s",
              flush=True)
        if rc == 1:
            raise SystemExit("the population import failed")
        chronic = asyncio.run(make_chronic_pool(suite.gateway_url, suite.database_url, base, args.chronic_persons))
        chronic_file = REPORTS / "chronic_pool.json"
        chronic_file.write_text(json.dumps(chronic, ensure_ascii=False))
        print(f"[loadtest] chronic out-of-province pool: {len(chronic)} persons", flush=True)
        patients = asyncio.run(make_evoucher_patients(suite.gateway_url, suite.database_url, base, args.users,
                                                      {d["psn_no"] for d in chronic}))
        patients_file = REPORTS / "patients.json"
        patients_file.write_text(json.dumps(patients, ensure_ascii=False))
        print(f"[loadtest] e-voucher patients signed up on /m/: {len(patients)}", flush=True)

        peak: dict = {}
        peak_thread = None
        if not args.no_peak and args.peak_persons > 0:
            # A new seed per run (tags 100..899; the base population's tag is 2026 % 999 + 1 = 29),
            # so the import really writes rows every time.
            seed = 100 + int(time.time() // 60) % 800
            if (seed % 999 + 1) % 100 == (2026 % 999 + 1) % 100:
                seed += 1  # gen-persons keeps populations apart by tag % 100 (the certno sequence digits)
            peak_csv = prepare.population(REPORTS / "population-peak.csv", args.peak_persons, seed)

            def run_peak() -> None:
                time.sleep(max(5.0, run_s / 3))
                peak["start"] = time.time()
                rc2, secs2 = prepare.import_population(suite.database_url, suite.redis_url, peak_csv)
                peak.update(end=time.time(), exit=rc2, seconds=secs2, rows=prepare.csv_rows(peak_csv))

            peak_thread = threading.Thread(target=run_peak, daemon=True)

        env = dict(os.environ, LOADTEST_POPULATION=str(base), LOADTEST_CHRONIC_POOL=str(chronic_file),
                   LOADTEST_PATIENTS=str(patients_file),
                   LOADTEST_ADMIN_TOKEN=ADMIN_TOKEN,
                   LOADTEST_SETTLEMENT_ADDR=f"127.0.0.1:{LOADTEST.settlement_port}",
                   LOADTEST_ELIGIBILITY_ADDR=f"127.0.0.1:{LOADTEST.eligibility_port}")
        prefix = REPORTS / "locust"
        cmd = [str(Path(sys.executable).parent / "locust"), "-f", str(REPO_ROOT / "loadtest" / "locustfile.py"),
               "--headless", "-H", f"http://127.0.0.1:{LOADTEST.gateway_port}", "-u", str(args.users),
               "-r", str(args.spawn_rate), "--run-time", args.run_time, "--stop-timeout", "10",
               "--csv", str(prefix), "--csv-full-history", "--html", str(REPORTS / "locust.html"), "--only-summary",
               "--loglevel", "WARNING"]
        print(f"[loadtest] locust: {args.users} users, spawn {args.spawn_rate}/s, {args.run_time} against "
              f"http://127.0.0.1:{LOADTEST.gateway_port}", flush=True)
        if peak_thread:
            peak_thread.start()
        proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, timeout=run_s + 180)
        if peak_thread:
            peak_thread.join(timeout=600)
        total, fails, consistency = locust_totals(Path(f"{prefix}_stats.csv"))
        settle_names = ("2207 settle", "2207 chronic settle", "2207 e-voucher settle", "2304 settle", "Settle")
        window = (peak["start"], peak["end"]) if "end" in peak else None
        rates = rates_from_history(Path(f"{prefix}_stats_history.csv"), settle_names, window)
        summary = {"at": stamp, "users": args.users, "run_time": args.run_time, "requests": total, "failures": fails,
                   "consistency_failures": consistency, "settlements_per_s": rates, "peak_import": peak,
                   "locust_exit": proc.returncode}
        print(f"[loadtest] {total:,} requests, {fails:,} failed ({fails / max(1, total):.2%}); "
              f"settlements/s {json.dumps({k: round(v, 1) for k, v in rates.items()})}")
        if peak.get("rows"):
            rps = peak["rows"] / max(1e-9, peak["seconds"])
            summary["peak_import"]["rows_per_s"] = rps
            slowdown = 1 - rates["during_import"] / rates["outside_import"] \
                if rates.get("during_import") and rates.get("outside_import") else None
            summary["settlement_slowdown_during_import"] = slowdown
            print(f"[loadtest] peak enrollment: {peak['rows']:,} rows imported in {peak['seconds']:.1f} s = "
                  f"{rps:,.0f} rows/s (exit {peak['exit']}: 2 means some rows were rejected, see "
                  f"{peak_csv.with_suffix('.errors.csv').name}; target >= 50,000/s); "
                  + (f"settlements/s during the import were {slowdown:.0%} lower than outside it (target: at most "
                     f"20% lower)" if slowdown is not None else "settlements/s during the import: not measurable "
                     "(the import took under 2 s)"))
        violations = sum(consistency.values())
        print(f"[loadtest] consistency checks: {violations} stale decisions "
              f"({', '.join(f'{k}={v}' for k, v in consistency.items()) or 'no checks ran'})")
        print("[loadtest] audit:", flush=True)
        audit_rc = asyncio.run(_audit(suite.database_url))
        summary["audit_exit"] = audit_rc
        (REPORTS / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        print(f"[loadtest] reports: {REPORTS}/locust.html, locust_*.csv, summary.json")
        code = 0
        if audit_rc != 0:
            print("[loadtest] FAILED: the audit found violations")
            code = 1
        if violations:
            print("[loadtest] FAILED: a settlement used an enrollment status older than a committed change")
            code = 1
        if total == 0 or fails / total > args.max_failure_ratio:
            print(f"[loadtest] FAILED: failure ratio above {args.max_failure_ratio:.1%} (see locust_failures.csv)")
            code = 1
    finally:
        codes = suite.stop()
        print("[loadtest] suite stopped: " + ", ".join(f"{k}={v}" for k, v in codes.items()), flush=True)
    return code


async def _audit(dsn: str) -> int:
    from services.settlement.audit import run_audit

    return await run_audit(dsn)


if __name__ == "__main__":
    sys.exit(main())
