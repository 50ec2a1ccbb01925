"""`make bench`: the suite against its limits, side by side in ONE run on this machine.

    .venv/bin/python -m loadtest.bench [--seconds 10] [--concurrency 32] [--settlements 1500]
                                       [--import-rows 300000] [--no-doc]

1. pgbench (pgserver's bundled binary) runs the raw settlement SQL transaction — update one
   accumulator row, insert one settlement and five lines, synchronous commit — against the same
   PostgreSQL as the suite (scratch database medsettle_bench; loadtest/bench_settlement.py's SQL).
2. A bare aiohttp JSON endpoint (loadtest/bare_server.py, one process) under the same generator.
3. The suite's 1101 person info, cached (every person asked once before the clock starts).
4. The suite's full 2207: visits (2201 + 2204) are created before the timed phase, one per
   person, then only the 2207s are timed.
5. Peak enrollment: the same 2207 phase over as many other prepared visits while
   `medsettle import-enrollments` imports a new population in its own process; settlement
   throughput beside the import against phase 4, and the import's rows per second.
The HTTP load comes from loadtest/loadgen.py: a separate process pinned to the last CPU, sending
pre-signed requests over keep-alive connections; its own CPU use is printed. When `wrk` is
installed it also measures the bare endpoint, as a check on the generator.

Then `medsettle audit` runs, the settlements written are counted against the 2207s answered
(nothing lost or doubled), and the figures with the machine description are written between the
markers of docs/PERFORMANCE.md. Rate limiting is off in this suite (RATE_LIMIT_PER_S=0): the
benchmark measures throughput, not the per-hospital limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest import prepare
from loadtest import scenarios as sc
from loadtest.prepare import BENCH, REPORTS
from services.common.clock import Clock
from services.common.config import REPO_ROOT

DOC = REPO_ROOT / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
BENCH_SEED = 2027
BARE_PORT = 38090


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem_gib = kb / 1024 / 1024
    except (OSError, AttributeError):
        pass
    return {"nproc": os.cpu_count(), "cpu": model or platform.processor(), "memory_gib": round(mem_gib, 1),
            "python": platform.python_version(), "kernel": platform.release(),
            "loadavg_at_start": " ".join(f"{x:.1f}" for x in os.getloadavg())}


# ----------------------------------------------------------------------------- pgbench

def pgbench(dsn: str, seconds: int, clients: int) -> dict:
    from loadtest.bench_settlement import PGBENCH_SCRIPT, prepare_pgbench_database

    bench_dsn, binary = prepare_pgbench_database(dsn)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "settle.sql"
        script.write_text(PGBENCH_SCRIPT)
        out = subprocess.run([str(binary), "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
                              "-f", str(script), "-l", "--log-prefix", str(Path(tmp) / "log"), bench_dsn],
                             capture_output=True, text=True, cwd=tmp)
        if out.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{out.stderr[-2000:]}")
        lat: list[float] = []
        for log in Path(tmp).glob("log*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)  # microseconds -> ms
    lat.sort()
    m = re.search(r"tps = ([0-9.]+)", out.stdout)
    from loadtest.loadgen import percentile

    return {"per_s": float(m.group(1)) if m else 0.0, "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
            "completed": len(lat), "clients": clients, "seconds": seconds}


# ----------------------------------------------------------------------------- HTTP phases

def raw_request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(body)}\r\n\r\n").encode() + body


def generate(requests: list[bytes], port: int, *, seconds: float, concurrency: int, expect: str | None) -> dict:
    """Run loadgen in its own process pinned to the last CPU; return its result."""
    cpu = (os.cpu_count() or 1) - 1
    with tempfile.TemporaryDirectory() as tmp:
        req_file, out_file = Path(tmp) / "requests.pickle", Path(tmp) / "result.json"
        req_file.write_bytes(pickle.dumps(requests))
        cmd = [sys.executable, "-m", "loadtest.loadgen", "--requests", str(req_file), "--port", str(port),
               "--concurrency", str(concurrency), "--duration", str(seconds), "--cpu", str(cpu), "--out", str(out_file)]
        if expect:
            cmd += ["--expect", expect]
        subprocess.run(cmd, check=True, cwd=REPO_ROOT, timeout=seconds + 120)
        return json.loads(out_file.read_text())


def wrk_bare(port: int, seconds: int, concurrency: int) -> dict | None:
    """wrk against the bare endpoint (a C generator) as a check on loadgen, when installed."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "post.lua"
        lua.write_text('wrk.method = "POST"\nwrk.body = \'{"infno":"1101"}\'\n'
                       'wrk.headers["Content-Type"] = "application/json"\n')
        cpu = str((os.cpu_count() or 1) - 1)
        out = subprocess.run(["taskset", "-c", cpu, wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency",
                              "-s", str(lua), f"http://127.0.0.1:{port}/bare"], capture_output=True, text=True)
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out.stdout)
    p50 = re.search(r"50%\s+([0-9.]+)(us|ms|s)", out.stdout)
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out.stdout)

    def ms(match) -> float:
        if not match:
            return 0.0
        v, unit = float(match.group(1)), match.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    return {"per_s": float(m.group(1)) if m else 0.0, "p50_ms": ms(p50), "p99_ms": ms(p99)}


def bare_phase(seconds: float, concurrency: int) -> tuple[dict, dict | None]:
    server = subprocess.Popen([sys.executable, "-m", "loadtest.bare_server", str(BARE_PORT)], cwd=REPO_ROOT)
    try:
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{BARE_PORT}/bare", data=b'{"infno":"x"}',
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the bare aiohttp server did not start") from None
                time.sleep(0.1)
        body = json.dumps({"infno": "1101", "msgid": "H33060200001" + "0" * 18, "input": {"data": {
            "mdtrt_cert_type": "02", "mdtrt_cert_no": "330602196804120112"}}}).encode()
        reqs = [raw_request("/bare", {"Content-Type": "application/json"}, body)] * int(12_000 * seconds)
        result = generate(reqs, BARE_PORT, seconds=seconds, concurrency=concurrency, expect='"infcode": 0')
        check = wrk_bare(BARE_PORT, max(3, int(seconds // 2)), concurrency)
        return result, check
    finally:
        server.terminate()
        server.wait(10)


async def sign_in_all(gateway_url: str, ref: sc.Reference, codes: set[str]) -> dict[str, sc.HisSession]:
    import aiohttp

    sessions: dict[str, sc.HisSession] = {}
    async with aiohttp.ClientSession() as http:
        for code in sorted(codes):
            s = sc.HisSession(ref.hospital(code))
            headers, body, _ = s.request("9001", sc.sign_in_input())
            async with http.post(gateway_url + sc.PATH, data=body, headers=headers) as r:
                reply = await r.json()
            if reply.get("infcode") != 0:
                raise SystemExit(f"9001 sign-in for {code} failed: {reply.get('err_msg')}")
            s.sign_no = reply["output"]["signinoutb"]["sign_no"]
            sessions[code] = s
    return sessions


def person_info_requests(persons: list[sc.Person], ref: sc.Reference, sessions: dict[str, sc.HisSession],
                         n: int) -> list[bytes]:
    import random

    rng = random.Random(1)
    out = []
    for i in range(n):
        p = persons[i % len(persons)]
        s = sessions[ref.local_hospital(p, rng).code]
        headers, body, _ = s.request("1101", sc.person_info_input(p.cert))
        out.append(raw_request(sc.PATH, headers, body))
    return out


async def warm_and_visits(gateway_url: str, ref: sc.Reference, sessions: dict[str, sc.HisSession],
                          warm: list[sc.Person], visit_persons: list[sc.Person], concurrency: int
                          ) -> list[tuple[sc.HisSession, sc.Person, str, int]]:
    """1101 once per warm person (fills the cache); 2201 + 2204 once per visit person."""
    import random

    import aiohttp

    rng = random.Random(2)
    sem = asyncio.Semaphore(concurrency)
    visits: list[tuple[sc.HisSession, sc.Person, str, int]] = []
    failures: list[str] = []

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async def call(s: sc.HisSession, infno: str, input: dict, insuplc: str = "") -> dict | None:
            headers, body, _ = s.request(infno, input, insuplc=insuplc)
            async with http.post(gateway_url + sc.PATH, data=body, headers=headers) as r:
                reply = await r.json()
            if reply.get("infcode") != 0:
                failures.append(f"{infno}: {reply.get('err_msg')}")
                return None
            return reply["output"]

        async def warm_one(p: sc.Person) -> None:
            async with sem:
                await call(sessions[ref.local_hospital(p, rng).code], "1101", sc.person_info_input(p.cert))

        async def visit(p: sc.Person) -> None:
            async with sem:
                s = sessions[ref.local_hospital(p, rng).code]
                insuplc = ref.insuplc(p)
                reg = await call(s, "2201", sc.register_input(p, p.cert, "BM" + str(rng.randrange(10 ** 9))), insuplc)
                if reg is None:
                    return
                mdtrt_id = reg["data"]["mdtrt_id"]
                rows, total = sc.fee_rows(p, mdtrt_id, [(sc.DRUG, 1250, 4), (sc.STENT, 4000, 1)])
                if await call(s, "2204", {"feedetail": rows}, insuplc) is not None:
                    visits.append((s, p, mdtrt_id, total))

        await asyncio.gather(*(warm_one(p) for p in warm))
        await asyncio.gather(*(visit(p) for p in visit_persons))
    if failures:
        print(f"  preparation: {len(failures)} refusals, e.g. {failures[0][:200]}", file=sys.stderr)
    return visits


async def count_settlements(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM settlement.settlements")
    finally:
        await conn.close()


# ----------------------------------------------------------------------------- report

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """user + system CPU seconds of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(ppid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as fh:
                    if int(fh.read().rsplit(b")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def cpu_by_process(suite) -> dict[str, float]:
    """CPU seconds used so far by each suite process, PostgreSQL (postmaster and its backends) and
    Redis: the difference across a phase, divided by its requests, says where each request's CPU
    goes — the machine is shared, so wall-clock shares alone would not."""
    out = {name: _proc_cpu(p.pid) for name, p in suite.procs.items()}
    root = BENCH.data_dir
    try:
        postmaster = int((root / "pg" / "postmaster.pid").read_text().split()[0])
        out["postgres"] = _proc_cpu(postmaster) + sum(_proc_cpu(c) for c in _children(postmaster))
    except (OSError, ValueError, IndexError):
        pass
    needle = f":{BENCH.redis_port}".encode()  # redis-server's title: "redis-server 127.0.0.1:<port>"
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    if b"redis-server" in (cmd := fh.read()) and needle in cmd:
                        out["redis"] = _proc_cpu(int(d))
            except OSError:
                pass
    return out


def postgres_by_role() -> dict[str, float]:
    """CPU seconds so far of the bench's PostgreSQL processes by role: "backends" (client
    connections) and each background process by its title (walwriter, checkpointer, autovacuum
    worker ...), to tell the queries' cost from the server's own housekeeping."""
    out: dict[str, float] = {}
    try:
        postmaster = int((BENCH.data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return out
    for pid in _children(postmaster):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                title = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rest = title.removeprefix("postgres: ")
        role = "backends" if rest.startswith("postgres ") else rest.split(" ", 2)[0] + (
            " " + rest.split(" ", 2)[1] if rest.startswith("autovacuum") and " " in rest else "")
        out[role] = out.get(role, 0.0) + _proc_cpu(pid)
    return out


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each process across a phase."""
    n = max(requests, 1)
    return {k: round((after.get(k, 0.0) - v) * 1000 / n, 2) for k, v in before.items()}


def fmt_cpu(c: dict[str, float]) -> str:
    # Two decimals: changes of a tenth of a millisecond per process are what tuning moves.
    parts = [f"{k} {v:.2f}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]) if v >= 0.005]
    return f"CPU ms per request: {', '.join(parts)}; total {sum(c.values()):.2f}"


def fmt(r: dict) -> str:
    return f"{r['per_s']:>8,.0f}/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms"


def peak_phase(suite, ref: sc.Reference, visits: list, args) -> dict:
    """2207s again, over fresh visits, while `medsettle import-enrollments` imports a new
    population in its own process (as an operator would at the payment deadline): settlement
    throughput beside the import, compared with the 2207 phase alone, and the import's rate."""
    seed = 100 + int(time.time() // 60) % 800  # a population not imported into .data/bench yet
    if (seed % 999 + 1) % 100 == (BENCH_SEED % 999 + 1) % 100:
        seed += 1  # gen-persons keeps populations apart by tag % 100 (the certno sequence digits)
    csv_path = prepare.population(REPORTS / "bench-peak-population.csv", args.import_rows, seed)
    reqs = []
    for s, p, mdtrt_id, total in visits:
        headers, body, _ = s.request("2207", sc.settle_input(p, mdtrt_id, total, p.cert), insuplc=ref.insuplc(p))
        reqs.append(raw_request(sc.PATH, headers, body))
    print(f"[bench] 5/5 2207 over {len(visits):,} more visits while {args.import_rows:,} enrollment rows are "
          "imported ...", flush=True)
    env = dict(os.environ, DATABASE_URL=suite.database_url, REDIS_URL=suite.redis_url)
    before = asyncio.run(count_settlements(suite.database_url))
    t0 = time.perf_counter()
    importer = subprocess.Popen([str(Path(sys.executable).parent / "medsettle"), "import-enrollments", str(csv_path),
                                 "--errors", str(csv_path.with_suffix(".errors.csv")), "--quiet",
                                 *(["--splits", str(args.import_splits)] if args.import_splits else [])],
                                env=env, cwd=REPO_ROOT)
    time.sleep(1.0)  # past start-up and the file's hash: the import is writing when the clock starts
    r = generate(reqs, suite.settings.gateway_port, seconds=120, concurrency=args.concurrency, expect='"infcode":0')
    phase_end = time.perf_counter()
    code = importer.wait(timeout=600)
    import_s = time.perf_counter() - t0
    r["settlements_written"] = asyncio.run(count_settlements(suite.database_url)) - before
    r["import_rows"] = args.import_rows
    r["import_exit"] = code
    r["import_splits"] = args.import_splits
    r["import_rows_per_s"] = args.import_rows / import_s
    r["import_outlasted_phase"] = import_s >= phase_end - t0
    print(f"        2207 beside import {fmt(r)}  errors {r['errors']}; import {args.import_rows:,} rows in "
          f"{import_s:.1f} s = {r['import_rows_per_s']:,.0f} rows/s (exit {code})"
          + ("" if r["import_outlasted_phase"] else "  — the import ENDED BEFORE the 2207 phase: raise --import-rows"),
          flush=True)
    return r


def render(results: dict) -> str:
    m = results["machine"]
    pg, bare, c1101, s2207 = results["pgbench"], results["bare"], results["cached_1101"], results["settle_2207"]
    r_settle = s2207["per_s"] / pg["per_s"] if pg["per_s"] else 0.0
    r_1101 = c1101["per_s"] / bare["per_s"] if bare["per_s"] else 0.0
    ok = lambda b: "reached" if b else "MISSED"  # noqa: E731
    lines = [
        f"Measured {results['at']} (Beijing time) by `make bench` on: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, Linux {m['kernel']}. Everything (PostgreSQL, Redis, four suite processes, the "
        "generator) on this one machine. Load average (1/5/15 min) when the run started: "
        f"{m['loadavg_at_start']}; when it ended: {results.get('loadavg_at_end', '?')} — other work on the machine "
        "lowers every figure below, the ratios less than the absolute numbers.",
        "",
        "| what | throughput | p50 | p99 | notes |",
        "|---|---:|---:|---:|---|",
        f"| pgbench raw settlement SQL | {pg['per_s']:,.0f}/s | {pg['p50_ms']:.1f} ms | {pg['p99_ms']:.1f} ms | "
        f"{pg['clients']} clients, {pg['seconds']} s |",
        f"| bare aiohttp JSON endpoint | {bare['per_s']:,.0f}/s | {bare['p50_ms']:.1f} ms | {bare['p99_ms']:.1f} ms | "
        f"loadgen used {bare['generator_cpu_share']:.0%} of a CPU |",
    ]
    if results.get("bare_wrk"):
        w = results["bare_wrk"]
        lines.append(f"| bare aiohttp, wrk (check) | {w['per_s']:,.0f}/s | {w['p50_ms']:.1f} ms | {w['p99_ms']:.1f} ms | "
                     "wrk pinned to the same CPU |")
    lines += [
        f"| 1101 person info, cached | {c1101['per_s']:,.0f}/s | {c1101['p50_ms']:.1f} ms | {c1101['p99_ms']:.1f} ms | "
        f"{c1101['errors']} errors; loadgen used {c1101['generator_cpu_share']:.0%} of a CPU |",
        f"| 2207 settlement, full path | {s2207['per_s']:,.0f}/s | {s2207['p50_ms']:.1f} ms | {s2207['p99_ms']:.1f} ms | "
        f"{s2207['completed']:,} settlements, {s2207['errors']} errors; loadgen used "
        f"{s2207['generator_cpu_share']:.0%} of a CPU |",
        "",
        f"- 2207 / pgbench = **{r_settle:.2f}** (target ≥ 0.40: {ok(r_settle >= 0.4)}); "
        f"2207 p99 = {s2207['p99_ms']:.0f} ms (target ≤ 100 ms: {ok(s2207['p99_ms'] <= 100)})",
        f"- cached 1101 / bare aiohttp = **{r_1101:.2f}** (target ≥ 0.50: {ok(r_1101 >= 0.5)})",
        f"- settlements written during the 2207 phase: {results['settlements_written']:,} for "
        f"{s2207['completed']:,} answered 2207s; audit exit {results['audit_exit']} "
        f"({'passed' if results['audit_exit'] == 0 else 'FAILED'})",
        f"- concurrency {results['concurrency']} connections; generator pinned to CPU {s2207['cpu']}",
    ]
    peak = results.get("peak")
    if peak:
        ratio = peak["per_s"] / s2207["per_s"] if s2207["per_s"] else 0.0
        lines += [
            f"- 2207 beside a bulk import (`medsettle import-enrollments`, {peak['import_rows']:,} new persons, "
            f"{'default splits' if not peak.get('import_splits') else str(peak['import_splits']) + ' split(s)'}): "
            f"{peak['per_s']:,.0f}/s, p50 {peak['p50_ms']:.1f} ms, p99 {peak['p99_ms']:.1f} ms, "
            f"{peak['errors']} errors, {peak['settlements_written']:,} written for {peak['completed']:,} answered "
            f"= **{ratio:.2f}** × the 2207 phase alone (target ≥ 0.80: {ok(ratio >= 0.8)}); the import "
            f"{peak['import_rows_per_s']:,.0f} rows/s (target ≥ 50,000: {ok(peak['import_rows_per_s'] >= 50_000)})"
            + ("" if peak["import_outlasted_phase"] else "; the import ended before the phase did"),
        ]
    for label, r in (("cached 1101", c1101), ("2207", s2207)):
        if r.get("cpu_ms"):
            lines.append(f"- {label}: {fmt_cpu(r['cpu_ms'])}")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc:
        doc += f"\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each timed phase")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--pgbench-clients", type=int, default=16)
    ap.add_argument("--settlements", type=int, default=1500, help="visits created for the 2207 phase")
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--import-rows", type=int, default=300_000,
                    help="rows of the bulk import run beside a second 2207 phase (0: skip that phase)")
    ap.add_argument("--import-splits", type=int, default=None,
                    help="the import's --splits (default: the importer's own, one connection per core)")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/PERFORMANCE.md")
    args = ap.parse_args(argv)
    REPORTS.mkdir(parents=True, exist_ok=True)
    results: dict = {"at": Clock().naive_now().strftime("%Y-%m-%d %H:%M"), "machine": machine(),
                     "concurrency": args.concurrency}
    print(f"[bench] machine: {results['machine']}", flush=True)
    suite = prepare.start_suite(BENCH, {"RATE_LIMIT_PER_S": "0"}, log_dir=REPORTS / "bench-logs")
    try:
        csv_path = prepare.population(REPORTS / "bench-population.csv", args.persons, BENCH_SEED)
        rc, secs = prepare.import_population(suite.database_url, suite.redis_url, csv_path)
        if rc == 1:
            raise SystemExit("the bench population import failed")
        persons = sc.read_population(csv_path)
        ref = sc.load_reference()
        print(f"[bench] suite up at {suite.gateway_url}; {len(persons):,} insured persons", flush=True)

        print(f"[bench] 1/5 pgbench ({args.seconds:.0f} s) ...", flush=True)
        results["pgbench"] = pgbench(suite.database_url, int(args.seconds), args.pgbench_clients)
        print(f"        pgbench raw SQL   {fmt(results['pgbench'])}", flush=True)

        print(f"[bench] 2/5 bare aiohttp ({args.seconds:.0f} s) ...", flush=True)
        results["bare"], results["bare_wrk"] = bare_phase(args.seconds, args.concurrency)
        print(f"        bare aiohttp      {fmt(results['bare'])}  (generator CPU "
              f"{results['bare']['generator_cpu_share']:.0%})", flush=True)
        if results["bare_wrk"]:
            print(f"        bare aiohttp, wrk {fmt(results['bare_wrk'])}", flush=True)

        warm = persons[:2000]
        visit_persons = persons[2000:2000 + args.settlements]
        codes = {ref.local_hospital(p, __import__("random").Random(0)).code for p in persons[:5000]}
        codes |= {h.code for pool in ref.local.values() for h in pool}
        sessions = asyncio.run(sign_in_all(suite.gateway_url, ref, codes))
        print(f"[bench] preparing: 1101 for {len(warm):,} persons (cache), 2201 + 2204 for {len(visit_persons):,} "
              "visits ...", flush=True)
        t0 = time.perf_counter()
        visits = asyncio.run(warm_and_visits(suite.gateway_url, ref, sessions, warm, visit_persons, args.concurrency))
        visits_peak = []
        if args.import_rows:
            peak_persons = persons[2000 + args.settlements:2000 + 2 * args.settlements]
            visits_peak = asyncio.run(warm_and_visits(suite.gateway_url, ref, sessions, [], peak_persons,
                                                      args.concurrency))
        print(f"        prepared {len(visits) + len(visits_peak):,} visits in {time.perf_counter() - t0:.1f} s",
              flush=True)

        print(f"[bench] 3/5 cached 1101 ({args.seconds:.0f} s) ...", flush=True)
        reqs = person_info_requests(warm, ref, sessions, int(4000 * args.seconds))
        cpu0 = cpu_by_process(suite)
        results["cached_1101"] = generate(reqs, suite.settings.gateway_port, seconds=args.seconds,
                                          concurrency=args.concurrency, expect='"infcode":0')
        results["cached_1101"]["cpu_ms"] = cpu_per_request(cpu0, cpu_by_process(suite),
                                                           results["cached_1101"]["completed"])
        print(f"        cached 1101       {fmt(results['cached_1101'])}  errors {results['cached_1101']['errors']}"
              f"  (generator CPU {results['cached_1101']['generator_cpu_share']:.0%})", flush=True)
        print(f"        {fmt_cpu(results['cached_1101']['cpu_ms'])}", flush=True)

        print(f"[bench] 4/5 2207 over {len(visits):,} prepared visits ...", flush=True)
        reqs = []
        for s, p, mdtrt_id, total in visits:
            headers, body, _ = s.request("2207", sc.settle_input(p, mdtrt_id, total, p.cert), insuplc=ref.insuplc(p))
            reqs.append(raw_request(sc.PATH, headers, body))
        before = asyncio.run(count_settlements(suite.database_url))
        cpu0, pg0 = cpu_by_process(suite), postgres_by_role()
        results["settle_2207"] = generate(reqs, suite.settings.gateway_port, seconds=120,
                                          concurrency=args.concurrency, expect='"infcode":0')
        results["settle_2207"]["cpu_ms"] = cpu_per_request(cpu0, cpu_by_process(suite),
                                                           results["settle_2207"]["completed"])
        pg_roles = cpu_per_request(pg0, postgres_by_role(), results["settle_2207"]["completed"])
        results["settlements_written"] = asyncio.run(count_settlements(suite.database_url)) - before
        r = results["settle_2207"]
        print(f"        2207 settlement   {fmt(r)}  errors {r['errors']}  (generator CPU "
              f"{r['generator_cpu_share']:.0%})", flush=True)
        print(f"        {fmt_cpu(r['cpu_ms'])}", flush=True)
        print(f"        postgres by process: {fmt_cpu(pg_roles)} (processes that ended during the phase "
              "are not counted)", flush=True)
        if r["errors"]:
            print(f"        e.g. {r['sample_error'][:300]}", flush=True)

        if visits_peak:
            results["peak"] = peak_phase(suite, ref, visits_peak, args)

        print("[bench] audit:", flush=True)
        from services.settlement.audit import run_audit

        results["audit_exit"] = asyncio.run(run_audit(suite.database_url))
    finally:
        suite.stop()
    results["loadavg_at_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = render(results)
    print("\n" + text)
    (REPORTS / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    if not args.no_doc:
        write_doc(text)
        print(f"\n[bench] figures written to {DOC.relative_to(REPO_ROOT)}")
    lost_or_doubled = results["settlements_written"] != results["settle_2207"]["completed"] or (
        "peak" in results and results["peak"]["settlements_written"] != results["peak"]["completed"])
    if lost_or_doubled:
        print("[bench] FAILED: settlements written differ from 2207s answered")
    return 1 if results["audit_exit"] != 0 or lost_or_doubled else 0


if __name__ == "__main__":
    sys.exit(main())
