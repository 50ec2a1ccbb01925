"""A cheap HTTP/1.1 load generator for the benchmark: its own process, pinned to one core, sending
pre-built requests over keep-alive connections with a raw asyncio protocol (no client library
work per request: the requests are signed and serialised before the clock starts).

    python -m loadtest.loadgen --requests FILE.pickle --port 8080 --concurrency 32 --duration 10 \
        [--cpu 1] --out result.json

FILE.pickle holds a list of complete request byte strings; each is sent at most once (a signed
HIS request carries a single-use nonce). The run ends at --duration or when the requests run
out. Result: completed, errors, seconds, latencies (percentiles) and the generator's own CPU use
(user+system seconds / wall seconds), so its cost can be reported next to the figures.
A reply counts as an error unless it is HTTP 200 and, when --expect is given, contains it.
Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import resource
import time


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send, wait for one complete response (Content-Length), repeat."""

    def __init__(self, run: _Run):
        self.run = run
        self.buf = bytearray()
        self.need = -1
        self.t0 = 0.0
        self.done: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, req: bytes) -> asyncio.Future:
        self.buf.clear()
        self.need = -1
        self.done = asyncio.get_running_loop().create_future()
        self.t0 = time.perf_counter()
        self.transport.write(req)
        return self.done

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            i = head.find(b"content-length:")
            length = int(head[i + 15:head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None]) if i >= 0 else 0
            self.need = end + 4 + length
        if len(self.buf) >= self.need and self.done and not self.done.done():
            self.done.set_result((time.perf_counter() - self.t0, bytes(self.buf[:self.need])))

    def connection_lost(self, exc) -> None:
        if self.done and not self.done.done():
            self.done.set_exception(ConnectionError(str(exc or "closed")))


class _Run:
    def __init__(self, requests: list[bytes], deadline: float, expect: bytes | None):
        self.requests = requests
        self.next = 0
        self.deadline = deadline
        self.expect = expect
        self.latencies: list[float] = []
        self.errors = 0
        self.sample_error = ""

    def take(self) -> bytes | None:
        if self.next >= len(self.requests) or time.perf_counter() >= self.deadline:
            return None
        r = self.requests[self.next]
        self.next += 1
        return r


async def _worker(run: _Run, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(lambda: _Conn(run), host, port)
    try:
        while (req := run.take()) is not None:
            try:
                latency, reply = await conn.send(req)
            except ConnectionError as e:
                run.errors += 1
                run.sample_error = str(e)
                transport, conn = await loop.create_connection(lambda: _Conn(run), host, port)
                continue
            ok = reply.startswith(b"HTTP/1.1 200") and (run.expect is None or run.expect in reply)
            if ok:
                run.latencies.append(latency)
            else:
                run.errors += 1
                run.sample_error = reply[:600].decode("utf-8", "replace")
    finally:
        transport.close()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def _load_requests(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return pickle.load(f)


async def _main(args) -> dict:
    requests = await asyncio.to_thread(_load_requests, args.requests)
    run = _Run(requests, 0.0, args.expect.encode() if args.expect else None)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    run.deadline = t0 + args.duration
    await asyncio.gather(*(_worker(run, args.host, args.port) for _ in range(args.concurrency)))
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    lat = sorted(run.latencies)
    return {"completed": len(lat), "errors": run.errors, "sample_error": run.sample_error, "seconds": wall,
            "per_s": len(lat) / wall if wall else 0.0, "p50_ms": percentile(lat, 0.50) * 1000,
            "p99_ms": percentile(lat, 0.99) * 1000, "max_ms": (lat[-1] * 1000) if lat else 0.0,
            "exhausted": run.next >= len(requests), "generator_cpu_s": cpu,
            "generator_cpu_share": cpu / wall if wall else 0.0, "cpu": args.cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    ap.add_argument("--expect", default=None, help="a reply must contain this text to count as a success")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not (args.host.startswith("127.") or args.host in ("localhost", "::1")):
        raise SystemExit("loadgen sends only to loopback addresses")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    result = asyncio.run(_main(args))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
