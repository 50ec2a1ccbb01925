"""PostgreSQL's CPU per settlement booking, the booking function alone (issue #18, lever 2).

Not a test. Run after `make bench` (it needs the bench's embedded PostgreSQL, with its suite
stopped, and one settlement booked there):

    .venv/bin/python -m loadtest.bench_booking [--bookings 4000] [--clients 4]
        [--plan-cache-mode auto|force_generic_plan] [--toast-tuple-target 2032|8160]

1. The bench database (`.data/bench`, database `postgres`) is cloned into a scratch database
   `medsettle_bookbench` (dropped again at the end), so nothing is written where the auditor looks.
2. The latest 2207 settlement there is the template: its settlement row, fund lines, ledger
   entries, journal reply, visit and fees. `--bookings` copies of its visit and fees (open,
   unsettled) and of the person's status-version row are made, each for a person of its own.
3. pgbench (pgserver's) calls settlement.book_settlement_checked once per copy, with the
   template's arguments and the copy's ids, over `--clients` connections (prepared protocol),
   and the CPU time of the postmaster and all its backends is read from /proc around it.

Printed: bookings per second and PostgreSQL CPU µs per booking. The options set the wrapper's
plan_cache_mode and the settlements table's toast_tuple_target in the clone before the run, so
one command compares the settings of migration 0021 with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from loadtest.prepare import BENCH  # noqa: E402

SCRATCH = "medsettle_bookbench"
WRAPPER = ("settlement.book_settlement_checked(text, text, text, bytea, bytea, text, text, text, text, integer, "
           "jsonb, jsonb, bigint, text, integer, text[], jsonb, jsonb, jsonb, bigint)")

SCRIPT = r"""
SELECT nextval('bookbench_seq') AS n \gset
SELECT b.r_booked FROM bookbench_tpl t, settlement.book_settlement_checked(
    t.code, 'BB' || :n, t.infno, t.digest, t.reply, 'BBP' || :n, 'BBM' || :n, 'BBS' || :n, t.insutype, t.year,
    t.acc_data, t.acc_caps, 0, 'settled', t.fees_version, t.fee_sns,
    t.sett || jsonb_build_object('setl_id', 'BBS' || :n, 'mdtrt_id', 'BBM' || :n, 'psn_no', 'BBP' || :n,
                                 'msgid', 'BB' || :n),
    t.funds, t.ledger, 1) b;
"""

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            f = fh.read().rsplit(b")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster and every process it started (backends, writers), including
    those already gone (cutime/cstime of the postmaster)."""
    total = _cpu(postmaster)
    try:
        with open(f"/proc/{postmaster}/stat", "rb") as fh:
            f = fh.read().rsplit(b")", 1)[1].split()
        total += (int(f[13]) + int(f[14])) / _TICK  # children reaped
    except (OSError, IndexError, ValueError):
        pass
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as fh:
                    if int(fh.read().rsplit(b")", 1)[1].split()[1]) == postmaster:
                        total += _cpu(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return total


class BackendSampler:
    """The CPU of pgbench's backends (children of the postmaster serving SCRATCH, autovacuum
    excluded), sampled every 20 ms while they live: a backend's last sample is its total to
    within one interval. Autovacuum of the fresh clone and the checkpointer are left out."""

    def __init__(self, postmaster: int) -> None:
        self.postmaster, self.seen, self.stop = postmaster, {}, False

    def run(self) -> None:
        needle = f" {SCRATCH} ".encode()
        while not self.stop:
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open(f"/proc/{d}/cmdline", "rb") as fh:
                        cmd = fh.read()
                    if needle not in cmd + b" " or b"autovacuum" in cmd:
                        continue
                    with open(f"/proc/{d}/stat", "rb") as fh:
                        f = fh.read().rsplit(b")", 1)[1].split()
                    if int(f[1]) == self.postmaster:
                        self.seen[int(d)] = (int(f[11]) + int(f[12])) / _TICK
                except (OSError, IndexError, ValueError):
                    pass
            time.sleep(0.02)


async def _prepare(host: str, n: int, plan_cache_mode: str, toast_target: int | None) -> None:
    import asyncpg

    admin = await asyncpg.connect(host=host, user="postgres", database="template1")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        # FILE_COPY: the default WAL_LOG strategy would write the whole clone into the WAL, which
        # the WAL writer and checkpointer would then be busy with during the timed run.
        await admin.execute(f"CREATE DATABASE {SCRATCH} TEMPLATE postgres STRATEGY = FILE_COPY")
    finally:
        await admin.close()
    conn = await asyncpg.connect(host=host, user="postgres", database=SCRATCH)
    try:
        s = await conn.fetchrow("SELECT * FROM settlement.settlements WHERE status = 'settled' "
                                "AND reverses_setl_id IS NULL ORDER BY setl_time DESC LIMIT 1")
        if s is None:
            raise SystemExit("no settlement in the bench database: run `make bench` first")
        await conn.execute("""
            CREATE TABLE bookbench_tpl AS
            SELECT s.fixmedins_code AS code, t.infno, t.digest, t.reply, s.insutype, s.year,
                   coalesce(a.data, '{}'::jsonb) AS acc_data, coalesce(a.caps, '{}'::jsonb) AS acc_caps,
                   v.fees_version,
                   (SELECT array_agg(feedetl_sn) FROM settlement.fee_details f WHERE f.setl_id = s.setl_id) AS fee_sns,
                   to_jsonb(s) AS sett,
                   (SELECT jsonb_agg(to_jsonb(f) - 'setl_id') FROM settlement.settlement_funds f
                     WHERE f.setl_id = s.setl_id) AS funds,
                   (SELECT jsonb_agg(to_jsonb(e) - 'setl_id' - 'insured_pool' - 'treatment_pool' - 'setlym')
                      FROM settlement.ledger_entries e WHERE e.setl_id = s.setl_id) AS ledger
              FROM settlement.settlements s
              JOIN settlement.transactions t ON t.fixmedins_code = s.fixmedins_code AND t.msgid = s.msgid
              JOIN settlement.visits v ON v.mdtrt_id = s.mdtrt_id
              LEFT JOIN settlement.accumulators a ON a.psn_no = s.psn_no AND a.insutype = s.insutype
                                                 AND a.year = s.year
             WHERE s.setl_id = $1""", s["setl_id"])
        await conn.execute("""
            CREATE TEMP TABLE g AS SELECT generate_series(1, $1::int) AS n;
            INSERT INTO settlement.visits
            SELECT (jsonb_populate_record(NULL::settlement.visits,
                        to_jsonb(v) || jsonb_build_object('mdtrt_id', 'BBM' || g.n, 'psn_no', 'BBP' || g.n,
                                                          'status', 'open'))).*
              FROM settlement.visits v, g WHERE v.mdtrt_id = $2;
            INSERT INTO settlement.fee_details
            SELECT (jsonb_populate_record(NULL::settlement.fee_details,
                        to_jsonb(f) || jsonb_build_object('mdtrt_id', 'BBM' || g.n, 'setl_id', NULL))).*
              FROM settlement.fee_details f, g WHERE f.setl_id = $3;
            INSERT INTO eligibility.status_versions SELECT 'BBP' || n, 1 FROM g;
            CREATE SEQUENCE bookbench_seq;
            """.replace("$1::int", str(int(n))).replace("$2", "'" + s["mdtrt_id"] + "'")
                           .replace("$3", "'" + s["setl_id"] + "'"))
        await conn.execute(f"ALTER FUNCTION {WRAPPER} SET plan_cache_mode = {plan_cache_mode}")
        if toast_target is not None:
            await conn.execute(f"ALTER TABLE settlement.settlements SET (toast_tuple_target = {int(toast_target)})")
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")
        print(f"[bench_booking] template {s['setl_id']} ({len(json.dumps(dict(s), default=str)):,} chars), "
              f"{n:,} visits to book; plan_cache_mode {plan_cache_mode}, "
              f"toast_tuple_target {toast_target or 'as migrated'}")
    finally:
        await conn.close()


async def _drop(host: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(host=host, user="postgres", database="template1")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
    finally:
        await admin.close()


def main() -> None:
    import pgserver

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bookings", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--plan-cache-mode", default="force_generic_plan", choices=("auto", "force_generic_plan"))
    ap.add_argument("--toast-tuple-target", type=int, default=None)
    args = ap.parse_args()
    pg_dir = BENCH.data_dir / "pg"
    try:
        postmaster = int((pg_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        raise SystemExit(f"no PostgreSQL running in {pg_dir}: run `make bench` first") from None
    host = str(pg_dir)
    asyncio.run(_prepare(host, args.bookings, args.plan_cache_mode, args.toast_tuple_target))
    binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "booking.sql"
            script.write_text(SCRIPT)
            per_client = args.bookings // args.clients
            sampler = BackendSampler(postmaster)
            watcher = threading.Thread(target=sampler.run, daemon=True)
            watcher.start()
            cpu0, t0 = postgres_cpu(postmaster), time.perf_counter()
            out = subprocess.run([str(binary), "-n", "-M", "prepared", "-c", str(args.clients), "-j",
                                  str(min(args.clients, 2)), "-t", str(per_client), "-f", str(script),
                                  "-h", host, "-U", "postgres", SCRATCH], capture_output=True, text=True)
            wall, cpu = time.perf_counter() - t0, postgres_cpu(postmaster) - cpu0
            sampler.stop = True
            watcher.join()
        if out.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{out.stderr[-2000:]}")
        failed = [ln for ln in out.stdout.splitlines() if "failed" in ln and not ln.strip().endswith(" 0 (0.000%)")]
        done = per_client * args.clients
        backends = sum(sampler.seen.values())
        print(f"[bench_booking] {done:,} bookings in {wall:.1f} s: {done / wall:,.0f}/s; PostgreSQL CPU per booking: "
              f"{backends * 1e6 / done:,.0f} µs in the {len(sampler.seen)} backends, {cpu * 1e6 / done:,.0f} µs "
              f"with every PostgreSQL process (autovacuum, writers){'; ' + '; '.join(failed) if failed else ''}")
    finally:
        asyncio.run(_drop(host))


if __name__ == "__main__":
    main()
