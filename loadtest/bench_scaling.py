"""The 2207 phase of `make bench` with 1, 2, 4 … N processes per service (issue #18).

Not a test. Run (the bench's ports and data, `.data/bench`; not beside `make bench`):

    .venv/bin/python -m loadtest.bench_scaling [--steps 1,2,4] [--generator-cpus 1]
                                               [--settlements 1000] [--concurrency 32]

The bench suite starts with MEDSETTLE_REUSE_PORT=1. For each step n, n−1 more processes of
every service (eligibility, filing, settlement, gateway) are started beside the first ones on
the same ports (SO_REUSEPORT: the kernel spreads connections over the listeners); the suite,
PostgreSQL and Redis are pinned to the CPUs the generator does not use, and the generator
(loadtest/loadgen.py, pre-signed requests) runs on its own last CPU(s). `--settlements` fresh
visits (2201 + 2204, one per person, not timed) are made per step, then only their 2207s are
timed. Printed per step: settlements/s, p50/p99, errors, and the CPU per settlement of every
process kind (user + system from /proc, summed over its processes), so a bigger machine is
measured with one command. At the end: the scaling per step, and what the per-settlement CPU
predicts for a machine of 16 cores.

Balancing note: gRPC keeps one HTTP/2 connection per channel, so with SO_REUSEPORT each
gateway process talks to ONE settlement process (picked by the kernel's hash when it connects);
more gateway processes are what spreads the load over the services (as more pods behind a
headless Service would, with per-request balancing, on Kubernetes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

from loadtest import bench, prepare
from loadtest import scenarios as sc
from loadtest.prepare import BENCH, REPORTS
from services.launcher import PROCESSES


def _pin(pid: int, cpus: set[int]) -> None:
    with contextlib.suppress(OSError):  # gone, or not ours to pin
        os.sched_setaffinity(pid, cpus)


def _pin_servers(suite, extra: dict[str, list[subprocess.Popen]], cpus: set[int]) -> None:
    """Every suite process, PostgreSQL (postmaster first: new backends inherit it) and Redis."""
    for p in list(suite.procs.values()) + [p for ps in extra.values() for p in ps]:
        _pin(p.pid, cpus)
    try:
        postmaster = int((BENCH.data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        _pin(postmaster, cpus)
        for c in bench._children(postmaster):
            _pin(c, cpus)
    except (OSError, ValueError, IndexError):
        pass
    pid_file = BENCH.data_dir / "redis" / "redis.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        _pin(int(pid_file.read_text().split()[0]), cpus)


def _cpu(suite, extra: dict[str, list[subprocess.Popen]]) -> dict[str, float]:
    out = bench.cpu_by_process(suite)  # the first process of each service, postgres, redis
    for name, ps in extra.items():
        out[name] = out.get(name, 0.0) + sum(bench._proc_cpu(p.pid) for p in ps)
    return out


def _start_extra(suite, n: int, extra: dict[str, list[subprocess.Popen]], env_extra: dict[str, str]) -> None:
    """Up to n processes of every service (the first ones are the suite's own)."""
    env = suite.env(prepare.BENCH.env(**env_extra))
    log_dir = REPORTS / "bench-logs"
    for name, module in PROCESSES:
        while 1 + len(extra.setdefault(name, [])) < n:
            with open(log_dir / f"{name}-{len(extra[name]) + 2}.log", "ab") as out:
                extra[name].append(subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out,
                                                    stderr=out, start_new_session=True))
    time.sleep(3.0)  # gRPC servers and the gateway bind and connect (health is the first process's)
    for name, ps in extra.items():
        for p in ps:
            if p.poll() is not None:
                raise SystemExit(f"an extra {name} process exited with code {p.returncode} (see {log_dir})")


def _stop_extra(extra: dict[str, list[subprocess.Popen]]) -> None:
    for name in ("gateway", "settlement", "filing", "eligibility"):
        for p in extra.get(name, []):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in extra.get(name, []):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ncpu = os.cpu_count() or 1
    ap.add_argument("--steps", default=None, help="processes per service, comma-separated (default 1,2,4 … up "
                                                   "to the CPUs left to the suite)")
    ap.add_argument("--generator-cpus", type=int, default=1 if ncpu <= 8 else 2)
    ap.add_argument("--settlements", type=int, default=1000, help="2207s per step")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--persons", type=int, default=20_000)
    args = ap.parse_args(argv)
    gen_cpus = set(range(max(1, ncpu - args.generator_cpus), ncpu)) if ncpu > 1 else {0}
    suite_cpus = set(range(ncpu)) - gen_cpus or {0}
    if args.steps:
        steps = [int(x) for x in args.steps.split(",")]
    else:
        steps, n = [], 1
        while n <= max(1, len(suite_cpus)):
            steps.append(n)
            n *= 2
    env_extra = {"RATE_LIMIT_PER_S": "0", "MEDSETTLE_REUSE_PORT": "1"}
    print(f"[scaling] {ncpu} CPUs: suite, PostgreSQL and Redis on {sorted(suite_cpus)}, generator on "
          f"{sorted(gen_cpus)}; steps {steps} processes per service", flush=True)
    REPORTS.mkdir(parents=True, exist_ok=True)
    suite = prepare.start_suite(BENCH, env_extra, log_dir=REPORTS / "bench-logs")
    extra: dict[str, list[subprocess.Popen]] = {}
    rows = []
    try:
        csv_path = prepare.population(REPORTS / "bench-population.csv", args.persons, bench.BENCH_SEED)
        rc, _ = prepare.import_population(suite.database_url, suite.redis_url, csv_path)
        if rc == 1:
            raise SystemExit("the bench population import failed")
        persons = sc.read_population(csv_path)
        ref = sc.load_reference()
        codes = {ref.local_hospital(p, __import__("random").Random(0)).code for p in persons[:5000]}
        codes |= {h.code for pool in ref.local.values() for h in pool}
        sessions = asyncio.run(bench.sign_in_all(suite.gateway_url, ref, codes))
        if (len(steps) * args.settlements) > len(persons) - 2000:
            raise SystemExit("not enough persons for one visit each: lower --settlements or raise --persons")
        for i, n in enumerate(steps):
            _start_extra(suite, n, extra, env_extra)
            _pin_servers(suite, extra, suite_cpus)
            chunk = persons[2000 + i * args.settlements:2000 + (i + 1) * args.settlements]
            visits = asyncio.run(bench.warm_and_visits(suite.gateway_url, ref, sessions, [], chunk,
                                                       args.concurrency))
            reqs = []
            for s, p, mdtrt_id, total in visits:
                headers, body, _ = s.request("2207", sc.settle_input(p, mdtrt_id, total, p.cert),
                                             insuplc=ref.insuplc(p))
                reqs.append(bench.raw_request(sc.PATH, headers, body))
            _pin_servers(suite, extra, suite_cpus)  # backends started for the preparation
            cpu0 = _cpu(suite, extra)
            r = bench.generate(reqs, suite.settings.gateway_port, seconds=120, concurrency=args.concurrency,
                               expect='"infcode":0')
            cpu = bench.cpu_per_request(cpu0, _cpu(suite, extra), r["completed"])
            total = sum(cpu.values())
            rows.append((n, r["per_s"], total))
            print(f"[scaling] {n} per service: 2207 {bench.fmt(r)}  errors {r['errors']}  "
                  f"(generator CPU {r['generator_cpu_share']:.0%})", flush=True)
            print(f"          {bench.fmt_cpu(cpu)}", flush=True)
    finally:
        _stop_extra(extra)
        suite.stop()
    if rows:
        base = rows[0][1] or 1.0
        print("\n| processes per service | 2207/s | × one | CPU ms per settlement |")
        print("|---:|---:|---:|---:|")
        for n, rate, total in rows:
            print(f"| {n} | {rate:,.0f} | {rate / base:.2f} | {total:.2f} |")
        best = min(t for _, _, t in rows)
        usable = 16 - max(1, 16 // 8)
        print(f"\nOn 16 cores ({usable} for the suite, PostgreSQL and Redis, {16 - usable} for the generator), at "
              f"{best:.2f} ms of CPU per settlement: at most ~{usable * 1000 / best:,.0f} settlements/s if every "
              "process scaled linearly; PostgreSQL (one server, WAL flush per commit) and the per-connection "
              "gRPC balancing are what would bend that line first.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
