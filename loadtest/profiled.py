"""Run a suite module with cProfile switched on and off by signals, so a profile covers one
phase of a benchmark only (loadtest/profile.py --phase 2207), not start-up or preparation.

    python -m loadtest.profiled OUT.prof MODULE

SIGUSR1 starts collecting, SIGUSR2 stops and writes OUT.prof; the module runs as __main__.
The profiler hooks the main thread, where the asyncio loop (and grpc.aio, asyncpg) runs.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys


def main() -> None:
    out, module = sys.argv[1], sys.argv[2]
    prof = cProfile.Profile()

    def start(signum, frame) -> None:
        prof.enable()

    def stop(signum, frame) -> None:
        prof.disable()
        prof.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
