"""Settlement throughput through gRPC, side by side with pgbench on the same PostgreSQL.

Not a test. Run: .venv/bin/python loadtest/bench_settlement.py [--seconds 10] [--clients 32]

1. A child process serves the real settlement servicer (service layer, repository, engine,
   real PostgreSQL) on a real grpc.aio server, with a stand-in eligibility/filing server in the
   same child answering GetSnapshot/ResolveFiling from fixed data (the benchmark measures the
   settlement service, not eligibility's Redis). Reference data: the settlement tests' document
   (pools in provinces 91/92/93), loaded through the real loader, with policies for this year in
   Beijing (the visits begin on 1 June of this year).
2. The parent registers one visit per unique person and uploads its fees (not timed), then
   `--clients` concurrent gRPC clients call Settle once per visit; it prints settlements/s and
   latency percentiles. Unique persons: no contention on one accumulator row.
3. pgbench (pgserver's bundled binary) runs the equivalent raw SQL transaction — update one
   accumulator row, insert one settlement and five lines, synchronous commit — against the same
   server, in a scratch database `medsettle_bench` (never in the settlement schema, so the
   auditor stays clean), and the ratio is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PGBENCH_SETUP = """
DROP TABLE IF EXISTS acc, setl, setl_line;
CREATE TABLE acc (id int PRIMARY KEY, data jsonb NOT NULL, version bigint NOT NULL);
CREATE TABLE setl (id bigserial PRIMARY KEY, acc_id int NOT NULL, medfee bigint, fund bigint, cash bigint,
                   result jsonb, created_at timestamptz DEFAULT now());
CREATE TABLE setl_line (setl_id bigint NOT NULL, line_no int NOT NULL, account text, amount bigint,
                        PRIMARY KEY (setl_id, line_no));
INSERT INTO acc SELECT g, '{"fund_group_main": 0}'::jsonb, 0 FROM generate_series(1, 100000) g;
"""

PGBENCH_SCRIPT = r"""
\set id random(1, 100000)
BEGIN;
UPDATE acc SET data = jsonb_set(data, '{fund_group_main}', to_jsonb((data->>'fund_group_main')::bigint + 100)),
              version = version + 1 WHERE id = :id;
INSERT INTO setl (acc_id, medfee, fund, cash, result) VALUES (:id, 1000, 700, 300, '{"line": "inpatient"}')
    RETURNING id \gset
INSERT INTO setl_line VALUES (:id, 1, 'fund', 700), (:id, 2, 'receivable', -700), (:id, 3, 'fund', 0), (:id, 4, 'acct', 0),
                             (:id, 5, 'receivable', 0);
END;
"""


def _child(dsn: str, port_file: str) -> None:
    """Serve the settlement servicer plus a stand-in upstream; write the ports; run forever."""
    from grpc import aio

    from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc
    from medsettle.filing.v1 import filing_pb2, filing_pb2_grpc
    from services.common.db import create_pool
    from services.common.grpcutil import RefusalInterceptor
    from services.refdata.cache import ReferenceCache
    from services.settlement.eligibility_client import EligibilityClient
    from services.settlement.filing_client import FilingClient
    from services.settlement.server import register
    from services.settlement.service import SettlementService

    class Upstream(eligibility_pb2_grpc.EligibilityServiceServicer, filing_pb2_grpc.FilingServiceServicer):
        async def GetSnapshot(self, request, context):
            return eligibility_pb2.Snapshot(psn_no=request.psn_no, name="压测", insutype=request.insutype, eligible=True,
                                            psn_type="resident", insured_pool="910600", insuplc_admdvs="910600")

        async def ResolveFiling(self, request, context):
            return filing_pb2.ResolveFilingResponse(filed=True, filing_group="long_term")

    async def main() -> None:
        up_server = aio.server()
        up = Upstream()
        eligibility_pb2_grpc.add_EligibilityServiceServicer_to_server(up, up_server)
        filing_pb2_grpc.add_FilingServiceServicer_to_server(up, up_server)
        up_port = up_server.add_insecure_port("127.0.0.1:0")
        await up_server.start()
        pool = await create_pool(dsn, min_size=4, max_size=16)
        refs = await ReferenceCache.load(pool)
        channel = aio.insecure_channel(f"127.0.0.1:{up_port}")
        service = SettlementService(pool, refs, EligibilityClient(channel, 5.0), FilingClient(channel, 5.0))
        server = aio.server(interceptors=[RefusalInterceptor()])
        register(server, service)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await asyncio.to_thread(Path(port_file).write_text, str(port))
        await server.wait_for_termination()

    asyncio.run(main())


def reference_for_year(doc: dict, year: int) -> dict:
    """`doc` with policies for `year`: as they are when it has some, else its latest year's
    policies restated for `year` (the settlement service picks the policy of the visit's year)."""
    years = {int(p["year"]) for p in doc["policies"]}
    if year in years or not years:
        return doc
    latest = max(years)
    return {**doc, "policies": [dict(p, year=year) for p in doc["policies"] if int(p["year"]) == latest]}


async def _grpc_bench(port: int, n: int, clients: int, year: int) -> tuple[float, list[float]]:
    from grpc import aio

    from medsettle.common.v1 import common_pb2
    from medsettle.settlement.v1 import settlement_pb2 as pb
    from medsettle.settlement.v1 import settlement_pb2_grpc

    hospital = "H91060200003"
    run = uuid.uuid4().hex[:8]
    channel = aio.insecure_channel(f"127.0.0.1:{port}")
    stub = settlement_pb2_grpc.SettlementServiceStub(channel)

    def caller(infno: str, i: int, step: str) -> common_pb2.Caller:
        return common_pb2.Caller(fixmedins_code=hospital, msgid=f"{hospital}{run}{step}{i:08d}", infno=infno)

    fees = [pb.FeeDetail(feedetl_sn="1", med_list_codg="SURG", cnt="1", pric_fen=1_000_000, det_item_fee_sumamt_fen=1_000_000),
            pb.FeeDetail(feedetl_sn="2", med_list_codg="BED", cnt="5", pric_fen=6_000, det_item_fee_sumamt_fen=30_000),
            pb.FeeDetail(feedetl_sn="3", med_list_codg="DRUG", cnt="10", pric_fen=1_250, det_item_fee_sumamt_fen=12_500),
            pb.FeeDetail(feedetl_sn="4", med_list_codg="STENT", cnt="1", pric_fen=50_000, det_item_fee_sumamt_fen=50_000)]
    medfee = sum(f.det_item_fee_sumamt_fen for f in fees)
    visits: list[tuple[str, str]] = []
    sem = asyncio.Semaphore(clients)

    async def prepare(i: int) -> None:
        async with sem:
            psn = f"B{run}{i:08d}"
            v = await stub.Register(pb.RegisterRequest(caller=caller("2201", i, "R"), psn_no=psn, insutype="390",
                                                       kind="outpatient", med_type="11", begntime=f"{year}-06-01 09:00:00"))
            await stub.UploadFees(pb.UploadFeesRequest(caller=caller("2204", i, "F"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                                       feedetail=fees))
            visits.append((v.mdtrt_id, psn))

    await asyncio.gather(*(prepare(i) for i in range(n)))
    latencies: list[float] = []
    queue = list(enumerate(visits))

    async def worker() -> None:
        while queue:
            i, (mdtrt_id, psn) = queue.pop()
            t0 = time.perf_counter()
            await stub.Settle(pb.SettleRequest(caller=caller("2207", i, "S"), mdtrt_id=mdtrt_id, psn_no=psn,
                                               insutype="390", medfee_sumamt_fen=medfee))
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    await channel.close()
    return elapsed, sorted(latencies)


def prepare_pgbench_database(dsn: str) -> tuple[str, Path]:
    """A database of its own for pgbench's raw settlement transaction on the same server; returns its
    DSN and the pgbench binary bundled with pgserver."""
    import asyncpg
    import pgserver

    async def setup() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'medsettle_bench'"):
                await conn.execute("CREATE DATABASE medsettle_bench")
        finally:
            await conn.close()
        bench_dsn = re.sub(r"/postgres(\?|$)", r"/medsettle_bench\1", dsn, count=1)
        conn = await asyncpg.connect(bench_dsn)
        try:
            await conn.execute(PGBENCH_SETUP)
        finally:
            await conn.close()
        return bench_dsn

    return asyncio.run(setup()), Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"


def _pgbench(dsn: str, seconds: int, clients: int) -> float:
    bench_dsn, binary = prepare_pgbench_database(dsn)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(PGBENCH_SCRIPT)
        script = f.name
    try:
        out = subprocess.run([str(binary), "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
                              "-f", script, bench_dsn], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{out.stderr[-2000:]}")
        out = out.stdout
    finally:
        os.unlink(script)
    m = re.search(r"tps = ([0-9.]+)", out)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settlements", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    ap.add_argument("--pgbench-clients", type=int, default=16)
    args = ap.parse_args()

    from services.common import db, embedded
    from services.common.clock import Clock
    from services.common.config import Settings
    from services.common.db import create_pool

    year = Clock().today().year  # business time: Beijing
    dsn = embedded.resolve(Settings.from_env()).database_url
    asyncio.run(db.migrate(dsn))

    async def load_reference() -> None:
        from services.refdata.schema import parse_document
        from services.refdata.store import load_document
        from tests.integration.settlement.reference import reference_document

        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            await load_document(pool, parse_document(reference_for_year(reference_document(), year)))
        finally:
            await pool.close()

    asyncio.run(load_reference())
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        child = subprocess.Popen([sys.executable, __file__, "--child", dsn, port_file])
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(port_file) or not Path(port_file).read_text():
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the settlement server did not start")
                time.sleep(0.1)
            port = int(Path(port_file).read_text())
            elapsed, lat = asyncio.run(_grpc_bench(port, args.settlements, args.clients, year))
        finally:
            child.terminate()
            child.wait(10)
    grpc_rate = len(lat) / elapsed
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    tps = _pgbench(dsn, args.pgbench_seconds, args.pgbench_clients)
    print(f"gRPC Settle     : {len(lat)} settlements in {elapsed:.2f} s = {grpc_rate:,.0f} settlements/s "
          f"({args.clients} clients); latency p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms, max {lat[-1] * 1000:.1f} ms")
    print(f"pgbench raw SQL : {tps:,.0f} transactions/s ({args.pgbench_clients} clients, {args.pgbench_seconds} s; "
          "update one accumulator row + one settlement + five lines)")
    print(f"ratio           : the service reaches {grpc_rate / tps:.1%} of the raw SQL transaction rate" if tps else
          "ratio           : pgbench reported no tps")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
