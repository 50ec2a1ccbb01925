"""Profile the hot paths: the bench suite with the gateway, eligibility and settlement processes
each under cProfile, a bounded cached-1101 phase and a 2207 phase (visits prepared first), then
the top entries of each process by own time and by cumulative time.

    .venv/bin/python -m loadtest.profile [--seconds 8] [--settlements 800] [--top 25] [--phase 2207]

--phase 1101 or 2207 profiles that timed phase only (the processes run under loadtest.profiled,
the profiler is switched on by SIGUSR1 when the phase starts and off by SIGUSR2 when it ends), and
prints CPU ms per request of every process for it: what one request costs, where.

Profiles are written to loadtest/reports/profile-<process>.prof (open with `python -m pstats`).
cProfile slows Python code down (roughly 1.5-2x), so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import pstats
import random
import signal
import subprocess
import sys
import time

from loadtest import bench, prepare
from loadtest import scenarios as sc
from loadtest.prepare import BENCH, REPORTS

PROFILED = {"gateway": "gateway.main", "eligibility": "services.eligibility.main",
            "settlement": "services.settlement.main"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--settlements", type=int, default=800)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--only", default="", help="comma-separated processes to profile (default: all three)")
    ap.add_argument("--phase", choices=("", "1101", "2207"), default="",
                    help="profile only this timed phase (default: the whole run)")
    ap.add_argument("--timer", choices=("wall", "cpu"), default="wall",
                    help="with --phase: time entries by wall clock (default) or by the thread's CPU time "
                         "(a send that wakes the peer is not charged the peer's run time)")
    args = ap.parse_args(argv)
    wanted = [p for p in (args.only.split(",") if args.only else PROFILED) if p]
    REPORTS.mkdir(parents=True, exist_ok=True)
    extra = {"RATE_LIMIT_PER_S": "0"}
    suite = prepare.start_suite(BENCH, extra, log_dir=REPORTS / "profile-logs")
    env = suite.env(BENCH.env(**extra))
    if args.timer == "cpu":
        env = {**env, "LOADTEST_PROFILE_TIMER": "cpu"}
    try:
        # Swap each profiled process for the same module under cProfile (same env, same ports).
        for name in wanted:
            p = suite.procs[name]
            p.send_signal(signal.SIGTERM)
            p.wait(30)
            prof = str(REPORTS / f"profile-{name}.prof")
            cmd = (["-m", "loadtest.profiled", prof, PROFILED[name]] if args.phase else
                   ["-m", "cProfile", "-o", prof, "-m", PROFILED[name]])
            with open(REPORTS / "profile-logs" / f"{name}.log", "ab") as out:  # the child keeps its own copy
                suite.procs[name] = subprocess.Popen([sys.executable, *cmd], env=env, stdout=out, stderr=out)
        suite.wait_healthy(120)
        time.sleep(1.0)
        csv_path = prepare.population(REPORTS / "bench-population.csv", 20_000, bench.BENCH_SEED)
        prepare.import_population(suite.database_url, suite.redis_url, csv_path)
        persons = sc.read_population(csv_path)
        ref = sc.load_reference()
        codes = {h.code for pool in ref.local.values() for h in pool}
        sessions = asyncio.run(bench.sign_in_all(suite.gateway_url, ref, codes))
        offset = 2000 + random.Random().randrange(0, 10_000)  # fresh persons for the visits of this run
        warm, visit_persons = persons[:2000], persons[offset:offset + args.settlements]
        visits = asyncio.run(bench.warm_and_visits(suite.gateway_url, ref, sessions, warm, visit_persons,
                                                   args.concurrency))
        def phase(which: str, run):
            if args.phase != which:
                return run()
            for name in wanted:
                suite.procs[name].send_signal(signal.SIGUSR1)
            cpu0 = bench.cpu_by_process(suite)
            result = run()
            cpu = bench.cpu_per_request(cpu0, bench.cpu_by_process(suite), result["completed"])
            for name in wanted:
                suite.procs[name].send_signal(signal.SIGUSR2)
            time.sleep(2.0)  # let them write their profiles
            print(f"{which} phase: {bench.fmt_cpu(cpu)} (profiled processes run slower)")
            return result

        r1101 = phase("1101", lambda: bench.generate(
            bench.person_info_requests(warm, ref, sessions, int(3000 * args.seconds)), suite.settings.gateway_port,
            seconds=args.seconds, concurrency=args.concurrency, expect='"infcode":0'))
        reqs = []
        for s, p, mdtrt_id, total in visits:
            headers, body, _ = s.request("2207", sc.settle_input(p, mdtrt_id, total, p.cert), insuplc=ref.insuplc(p))
            reqs.append(bench.raw_request(sc.PATH, headers, body))
        r2207 = phase("2207", lambda: bench.generate(reqs, suite.settings.gateway_port, seconds=120,
                                                     concurrency=args.concurrency, expect='"infcode":0'))
        print(f"under cProfile: cached 1101 {bench.fmt(r1101)}; 2207 {bench.fmt(r2207)} ({r2207['errors']} errors)")
    finally:
        suite.stop(60)
    for name in wanted:
        path = REPORTS / f"profile-{name}.prof"
        if not path.exists():
            print(f"--- {name}: no profile written")
            continue
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(str(path), stream=buf).strip_dirs().sort_stats(key).print_stats(args.top)
            text = buf.getvalue()
            print(f"\n--- {name} by {key} ---\n" + text[text.find("ncalls"):])
    return 0


if __name__ == "__main__":
    sys.exit(main())
