"""Eligibility benchmark: bulk import rows/s, then cached GetSnapshot lookups/s and p99 through
gRPC against a real eligibility process, and the server's cache hit ratio.

    .venv/bin/python -m loadtest.bench_eligibility [--rows 200000] [--lookups 20000]
                                                    [--concurrency 64] [--persons 2000]

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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def own_generator(path: Path, rows: int, seed: int) -> None:
    from services.common.ids import make_certno
    from services.eligibility.bulk_import import COLUMNS

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
                        "390" if resident else "310", "2026", "resident" if resident else "employee",
                        "2026-01-01", "2026-12-31", "active"])


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


def make_csv(path: Path, rows: int, seed: int, dsn: str) -> str:
    try:
        from services.refdata.cli import gen_persons, load_file

        demo = REPO_ROOT / "infra" / "reference" / "demo.json"
        if demo.exists() and asyncio.run(load_file(dsn, str(demo))) == 0:
            gen_persons(rows, path, seed=seed)
            return "services.refdata.cli.gen_persons (demo pools)"
    except Exception as exc:  # not available yet: use our own
        print(f"(gen_persons unavailable: {exc!r}; using the bench's own generator)", file=sys.stderr)
    own_generator(path, rows, seed)
    return "loadtest.bench_eligibility.own_generator"


async def bench_import(dsn: str, redis_url: str, path: Path) -> tuple[float, int]:
    from services.eligibility.bulk_import import import_file

    t0 = time.perf_counter()
    code = await import_file(dsn, path, redis_url=redis_url, errors_path=path.with_suffix(".errors.csv"),
                             progress=False)
    return time.perf_counter() - t0, code


async def bench_lookups(addr: str, psn_insutypes: list[tuple[str, str]], lookups: int, concurrency: int):
    from grpc import aio

    from medsettle.eligibility.v1 import eligibility_pb2 as pb
    from medsettle.eligibility.v1 import eligibility_pb2_grpc as pb_grpc

    channel = aio.insecure_channel(addr)
    stub = pb_grpc.EligibilityServiceStub(channel)
    await channel.channel_ready()
    reqs = [pb.GetSnapshotRequest(psn_no=p, insutype=t, on_date="2026-05-01") for p, t in psn_insutypes]
    for r in reqs:  # warm the cache: one miss per person
        await stub.GetSnapshot(r)
    latencies: list[float] = []
    counter = iter(range(lookups))
    ineligible = 0

    async def worker():
        nonlocal ineligible
        for i in counter:
            t = time.perf_counter()
            s = await stub.GetSnapshot(reqs[i % len(reqs)])
            latencies.append(time.perf_counter() - t)
            ineligible += not s.eligible

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    await channel.close()
    latencies.sort()
    return lookups / elapsed, latencies[int(0.99 * (len(latencies) - 1))], latencies[len(latencies) // 2], ineligible


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--persons", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 997 + 1)
    args = ap.parse_args()

    from services.common import embedded

    ep = embedded.resolve(Settings.from_env())
    asyncio.run(prepare(ep.database_url))
    work = Path(tempfile.mkdtemp(prefix="bench-elig-"))
    csv_path = work / "enrollments.csv"
    source = make_csv(csv_path, args.rows, args.seed, ep.database_url)
    size_mb = csv_path.stat().st_size / 1e6

    elapsed, code = asyncio.run(bench_import(ep.database_url, ep.redis_url, csv_path))
    print(f"bulk import: {args.rows:,} rows ({size_mb:.1f} MB, from {source}) in {elapsed:.2f} s = "
          f"{args.rows / elapsed:,.0f} rows/s (exit code {code}; 2 cores shared with PostgreSQL)")

    with open(csv_path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        people = [(row[0], row[6]) for _, row in zip(range(args.persons), r)]

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=ep.database_url, REDIS_URL=ep.redis_url, ELIGIBILITY_PORT=str(port),
               OTEL_TRACES_EXPORTER="none", LOG_LEVEL="INFO")
    env.pop("MEDSETTLE_TRACE_FILE", None)
    log_path = work / "eligibility.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.eligibility.main"], env=env, cwd=REPO_ROOT,
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
        rate, p99, p50, ineligible = asyncio.run(
            bench_lookups(f"127.0.0.1:{port}", people, args.lookups, args.concurrency))
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
    print(f"GetSnapshot via gRPC (cached, {len(people)} persons, concurrency {args.concurrency}): "
          f"{rate:,.0f} lookups/s, p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms ({ineligible} ineligible answers)")
    if metrics:
        print(f"server cache: hit ratio {metrics.get('hit_ratio')}, hits {metrics.get('hits')}, "
              f"misses {metrics.get('misses')}, db reads {metrics.get('db_reads')}, "
              f"fallbacks to PostgreSQL {metrics.get('fallbacks')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
