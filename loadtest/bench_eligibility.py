"""Eligibility benchmark: bulk import rows/s, then cached lookups/s, p99 and server CPU per lookup
through gRPC against a real eligibility process — GetSnapshot by psn_no, then FindPerson by ID
number (mdtrt_cert_type 02) — and the server's cache hit ratio.

    .venv/bin/python -m loadtest.bench_eligibility [--rows 500000] [--splits 1,2] [--lookups 20000] [--phases snapshot,certno]
                                                    [--concurrency 64] [--persons 2000] [--profile PATH]

The import is measured twice per --splits value: a population of new persons, then the same
persons renewed for the next year (the two shapes of the payment-deadline peak). Each import is
`medsettle import-enrollments` in a process of its own, as an operator runs it: rows/s from the
process start to its exit, and by the importer's own count (from its first batch on); CPU µs per
row of the importer process and of its PostgreSQL backends.
Uses DATABASE_URL / REDIS_URL when set, the embedded servers otherwise (like `medsettle`).
The CSV comes from services.refdata.cli.gen_persons (demo pools) when that works, else from a
generator here over a bench pool of its own. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.common.clock import Clock
from services.common.config import REPO_ROOT, Settings

BENCH_POOL = "99BENCH"
BENCH_REFERENCE = {
    "format": "medsettle.reference/v1",
    "pools": [{"code": BENCH_POOL, "name": "基准测试统筹区", "insutypes": ["310", "390"], "admdvs": ["999900"]}],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def own_generator(path: Path, rows: int, seed: int, year: int) -> None:
    from services.common.ids import make_certno
    from services.eligibility.import_reader import COLUMNS

    rng = random.Random(seed)
    tag = f"{seed % 1000:03d}"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(rows):
            birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 25_000))
            gender = rng.choice("12")
            seq = rng.randrange(0, 50) * 2 + (1 if gender == "1" else 0)
            certno = make_certno(f"99{i % 10_000:04d}{birth:%Y%m%d}{(i // 10_000) % 10}{seq:02d}")
            resident = rng.random() < 0.7
            w.writerow([f"9999{tag}{i:011d}", certno, f"基准{i}", gender, birth.isoformat(), BENCH_POOL,
                        "390" if resident else "310", str(year), "resident" if resident else "employee",
                        f"{year}-01-01", f"{year}-12-31", "active"])


async def prepare(dsn: str) -> None:
    from services.common.db import create_pool, migrate
    from services.refdata.schema import parse_document
    from services.refdata.store import load_document

    await migrate(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        await load_document(pool, parse_document(BENCH_REFERENCE))
    finally:
        await pool.close()


def make_csv(path: Path, rows: int, seed: int, dsn: str, year: int) -> str:
    """Enrollments of `year` for `rows` new persons; names the generator used."""
    try:
        from services.refdata.cli import DEMO, gen_persons, load_file

        if asyncio.run(load_file(dsn, DEMO)) == 0:
            gen_persons(rows, path, seed=seed, year=year)
            return "services.refdata.cli.gen_persons (demo pools)"
    except Exception as exc:  # noqa: BLE001 - not available yet: use our own
        print(f"(gen_persons unavailable: {exc!r}; using the bench's own generator)", file=sys.stderr)
    own_generator(path, rows, seed, year)
    return "loadtest.bench_eligibility.own_generator"


def next_year(src: Path, dst: Path) -> int:
    """The same persons renewed for the next year: year + 1, benefit dates a year later."""
    from services.eligibility.import_reader import COLUMNS

    year, start, end = COLUMNS.index("year"), COLUMNS.index("benefit_start"), COLUMNS.index("benefit_end")
    n = 0
    with open(src, newline="", encoding="utf-8") as f, open(dst, "w", newline="", encoding="utf-8") as out:
        r, w = csv.reader(f), csv.writer(out)
        w.writerow(next(r))
        for row in r:
            y = int(row[year]) + 1
            row[year], row[start], row[end] = str(y), f"{y}{row[start][4:]}", f"{y}{row[end][4:]}"
            w.writerow(row)
            n += 1
    return n


def proc_cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process (0 when it is gone). On a machine shared with other
    work, CPU seconds per row / per lookup compare runs fairly where rows/s cannot."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s(data_dir: Path) -> float:
    """CPU seconds of the embedded PostgreSQL under data_dir (postmaster and all its backends,
    including backends that have exited since — the postmaster's reaped-children time; 0 when
    PostgreSQL is external). Other sessions using the same instance count too."""
    try:
        postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of /proc/PID/stat (index 11-14 after the name)
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    total += proc_cpu_s(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return total


async def bench_import(dsn: str, redis_url: str, path: Path, splits: int | None = None
                       ) -> tuple[float, int, float, float, float | None]:
    """Run `medsettle import-enrollments` in its own process, as an operator does. (wall s from
    process start to exit, exit code, importer CPU s, its PostgreSQL backends' CPU s, the
    importer's own rows/s — from its first batch on, without the process start — or None.)"""
    import asyncpg

    from services.eligibility.bulk_import import APPLICATION_NAME

    cpu: dict[int, float] = {}  # backend pid → CPU s (an import uses one connection per split)
    watcher = await asyncpg.connect(dsn)
    cmd = [sys.executable, "-m", "services.cli", "import-enrollments", str(path),
           "--errors", str(path.with_suffix(".errors.csv"))]
    if splits:
        cmd += ["--splits", str(splits)]
    env = dict(os.environ, DATABASE_URL=dsn, REDIS_URL=redis_url)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)

    async def watch():  # the backends' CPU, sampled until the import closes its connections
        while True:
            for pid in await watcher.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                                           APPLICATION_NAME):
                cpu[pid[0]] = max(cpu.get(pid[0], 0.0), proc_cpu_s(pid[0]))
            await asyncio.sleep(0.05)

    task = asyncio.ensure_future(watch())
    try:
        _, err = await proc.communicate()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await watcher.close()
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = re.search(r"\(([0-9,]+) rows/s, \d+ splits\)", err.decode(errors="replace"))
    return (elapsed, proc.returncode, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), sum(cpu.values()),
            float(own.group(1).replace(",", "")) if own else None)


async def bench_lookups(addr: str, people: list[tuple[str, str, str]], lookups: int, concurrency: int,
                        server_pid: int, kind: str = "snapshot", data_dir: Path | None = None,
                        on_date: str | None = None):
    """Cached lookups of one kind: "snapshot" (GetSnapshot by psn_no, as settlement calls it on
    every 2207) or "certno" (FindPerson with mdtrt_cert_type 02, the gateway's 1101 by ID number),
    on `on_date` (default: 1 May of this year in Beijing, inside the population's benefit year)."""
    from grpc import aio

    from medsettle.eligibility.v1 import eligibility_pb2 as pb
    from medsettle.eligibility.v1 import eligibility_pb2_grpc as pb_grpc

    channel = aio.insecure_channel(addr)
    stub = pb_grpc.EligibilityServiceStub(channel)
    await channel.channel_ready()
    on_date = on_date or f"{Clock().today().year}-05-01"
    if kind == "certno":
        call = stub.FindPerson
        reqs = [pb.FindPersonRequest(mdtrt_cert_type="02", mdtrt_cert_no=c, on_date=on_date) for _, _, c in people]
    else:
        call = stub.GetSnapshot
        reqs = [pb.GetSnapshotRequest(psn_no=p, insutype=t, on_date=on_date) for p, t, _ in people]
    for r in reqs:  # warm the cache: one miss per person
        await call(r)
    latencies: list[float] = []
    counter = iter(range(lookups))
    ineligible = 0

    async def worker():
        nonlocal ineligible
        for i in counter:
            t = time.perf_counter()
            s = await call(reqs[i % len(reqs)])
            latencies.append(time.perf_counter() - t)
            ineligible += not (s.eligible if kind == "snapshot" else s.insuinfo)

    pg = (lambda: postgres_cpu_s(data_dir)) if data_dir is not None else (lambda: 0.0)
    s0, c0, g0 = proc_cpu_s(server_pid), os.times(), pg()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    s1, c1, g1 = proc_cpu_s(server_pid), os.times(), pg()
    await channel.close()
    latencies.sort()
    return (lookups / elapsed, latencies[int(0.99 * (len(latencies) - 1))], latencies[len(latencies) // 2], ineligible,
            s1 - s0, (c1.user - c0.user) + (c1.system - c0.system), g1 - g0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--persons", type=int, default=2_000)
    ap.add_argument("--phases", default="snapshot,certno",
                    help="lookup phases, in order: snapshot (GetSnapshot), certno (FindPerson by ID number)")
    ap.add_argument("--profile", metavar="PATH", help="run the eligibility server under cProfile, stats to PATH")
    ap.add_argument("--splits", default="2",
                    help="import connections side by side; a comma list (e.g. 1,2) measures each in turn")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 997 + 1)
    args = ap.parse_args()

    from services.common import embedded

    settings = Settings.from_env()
    ep = embedded.resolve(settings)
    asyncio.run(prepare(ep.database_url))
    work = Path(tempfile.mkdtemp(prefix="bench-elig-"))
    year = Clock().today().year  # the population's benefit year (business time: Beijing)
    imports = {}
    for k, splits in enumerate(int(v) for v in args.splits.split(",")):
        # New enrollees (persons and enrollments all new), then the same persons renewed for the
        # next year (persons unchanged, one new enrollment each) — the two shapes of the peak.
        csv_path = work / f"enrollments-{k}.csv"
        source = make_csv(csv_path, args.rows, args.seed + k, ep.database_url, year)
        renewal = work / f"renewal-{k}.csv"
        renewal_rows = next_year(csv_path, renewal)
        size_mb = csv_path.stat().st_size / 1e6
        for label, path, rows in (("new persons", csv_path, args.rows), ("renewals", renewal, renewal_rows)):
            load_before = os.getloadavg()
            elapsed, code, py_cpu, pg_cpu, own = asyncio.run(bench_import(ep.database_url, ep.redis_url, path, splits))
            imports[(splits, label)] = (rows / elapsed, py_cpu / rows * 1e6, pg_cpu / rows * 1e6)
            print(f"bulk import, {label}, {splits} split(s): {rows:,} rows ({size_mb:.1f} MB, from {source}) in "
                  f"{elapsed:.2f} s = {rows / elapsed:,.0f} rows/s from process start to exit"
                  f"{f', {own:,.0f} rows/s by its own count (from the first batch)' if own else ''} "
                  f"(exit code {code}; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f})",
                  flush=True)
            print(f"  CPU: importer (Python) {py_cpu / rows * 1e6:.1f} µs/row, its PostgreSQL backends "
                  f"{pg_cpu / rows * 1e6:.1f} µs/row (rows/s if the 2 cores did nothing else: "
                  f"{2 * rows / max(py_cpu + pg_cpu, 1e-9):,.0f})", flush=True)
    csv_path = work / "enrollments-0.csv"
    import_rate = imports[next(iter(imports))][0]
    py_cpu, pg_cpu = (imports[next(iter(imports))][1] * args.rows / 1e6, imports[next(iter(imports))][2] * args.rows / 1e6)

    # Look up only persons the import accepted (a generated certno can clash with a person from
    # an earlier run: that row is rightly rejected and its psn_no does not exist).
    rejected: set[int] = set()
    report = csv_path.with_suffix(".errors.csv")
    if report.exists():
        with open(report, newline="", encoding="utf-8") as f:
            rejected = {int(row[0]) for row in list(csv.reader(f))[1:]}
    with open(csv_path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        people = []
        for row in r:
            if r.line_num not in rejected:
                people.append((row[0], row[6], row[1]))
            if len(people) >= args.persons:
                break

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=ep.database_url, REDIS_URL=ep.redis_url, ELIGIBILITY_PORT=str(port),
               OTEL_TRACES_EXPORTER="none", LOG_LEVEL="INFO")
    env.pop("MEDSETTLE_TRACE_FILE", None)
    log_path = work / "eligibility.log"
    with open(log_path, "w") as log:
        prof = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        proc = subprocess.Popen([sys.executable, *prof, "-m", "services.eligibility.main"], env=env, cwd=REPO_ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                print(log_path.read_text()[-3000:])
                return 1
            time.sleep(0.1)
        phases = {}
        for kind in args.phases.split(","):
            load_before = os.getloadavg()
            phases[kind] = (load_before, *asyncio.run(
                bench_lookups(f"127.0.0.1:{port}", people, args.lookups, args.concurrency, proc.pid, kind,
                              None if settings.database_url else settings.data_dir, f"{year}-05-01")),
                os.getloadavg())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    metrics = {}
    for line in log_path.read_text().splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if o.get("msg") == "eligibility cache":
            metrics = o
    names = {"snapshot": "GetSnapshot", "certno": "FindPerson by certno (02)"}
    for kind, (l0, rate, p99, p50, ineligible, server_cpu, client_cpu, pg_s, l1) in phases.items():
        print(f"{names[kind]} via gRPC (cached, {len(people)} persons, concurrency {args.concurrency}): "
              f"{rate:,.0f} lookups/s, p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms ({ineligible} ineligible "
              f"answers; load average 1/5/15 min before {l0[0]:.2f} {l0[1]:.2f} {l0[2]:.2f}, after {l1[0]:.2f})")
        print(f"{names[kind]} CPU: server {server_cpu / args.lookups * 1e6:.0f} µs/lookup "
              f"(= {args.lookups / max(server_cpu, 1e-9):,.0f} lookups/s per core), bench client "
              f"{client_cpu / args.lookups * 1e6:.0f} µs/lookup, PostgreSQL {pg_s / args.lookups * 1e6:.0f} µs/lookup")
    if metrics:
        print(f"server cache: hit ratio {metrics.get('hit_ratio')}, hits {metrics.get('hits')}, "
              f"misses {metrics.get('misses')}, db reads {metrics.get('db_reads')}, "
              f"fallbacks to PostgreSQL {metrics.get('fallbacks')}")
    print("SUMMARY " + json.dumps({"import_rows_per_s": round(import_rate),
                                   **{f"import_{label.replace(' ', '_')}_{sp}splits_rows_per_s": round(v[0])
                                      for (sp, label), v in imports.items()},
                                   "import_us_per_row_py": round(py_cpu / args.rows * 1e6, 1),
                                   "import_us_per_row_pg": round(pg_cpu / args.rows * 1e6, 1),
                                   **{f"{k}_lookups_per_s": round(v[1]) for k, v in phases.items()},
                                   **{f"{k}_server_us_per_lookup": round(v[5] / args.lookups * 1e6)
                                      for k, v in phases.items()},
                                   **{f"{k}_p99_ms": round(v[2] * 1000, 2) for k, v in phases.items()},
                                   "loadavg_1m": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
