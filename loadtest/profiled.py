"""Run a suite module with cProfile switched on and off by signals, so a profile covers one
phase of a benchmark only (loadtest/profile.py --phase 2207), not start-up or preparation.

    python -m loadtest.profiled OUT.prof MODULE

SIGUSR1 starts collecting, SIGUSR2 stops and writes OUT.prof; the module runs as __main__.
The profiler hooks the main thread, where the asyncio loop (and grpc.aio, asyncpg) runs.

LOADTEST_PROFILE_TIMER=cpu times entries by the thread's CPU time instead of wall time. With the
default wall clock a socket send() that wakes the peer process on the same core is charged the
time the kernel spends running the peer (the sender is preempted inside the call), so sends and
grpc.aio's _invoke look far more expensive than they are; CPU time says what the process spends.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
import time


def main() -> None:
    out, module = sys.argv[1], sys.argv[2]
    cpu = os.environ.get("LOADTEST_PROFILE_TIMER", "") == "cpu"
    prof = cProfile.Profile(time.thread_time) if cpu else cProfile.Profile()

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
