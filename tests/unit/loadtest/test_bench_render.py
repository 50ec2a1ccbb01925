"""`make bench` writes its verdicts from the figures it measured: each target line says reached or
MISSED by the ratio computed from the phases, including the peak-enrollment phase."""

from __future__ import annotations

from loadtest.bench import render

MACHINE = {"nproc": 2, "cpu": "AMD EPYC", "memory_gib": 23.5, "python": "3.11.7", "kernel": "6",
           "loadavg_at_start": "0.1 0.2 0.3"}


def phase(per_s, p99=50.0, **extra):
    return {"per_s": per_s, "p50_ms": p99 / 2, "p99_ms": p99, "errors": 0, "completed": 1500,
            "generator_cpu_share": 0.05, "cpu": 1, **extra}


def results(*, pg=1000.0, bare=2000.0, c1101=900.0, s2207=400.0, p99=90.0, peak=None):
    r = {"at": "2026-11-22 23:00", "machine": MACHINE, "concurrency": 32,
         "pgbench": phase(pg, clients=16, seconds=10), "bare": phase(bare), "cached_1101": phase(c1101),
         "settle_2207": phase(s2207, p99), "settlements_written": 1500, "audit_exit": 0}
    if peak is not None:
        r["peak"] = peak
    return r


def test_targets_reached_when_the_ratios_are_met():
    text = render(results())
    assert "2207 / pgbench = **0.40** (target ≥ 0.40: reached)" in text
    assert "p99 = 90 ms (target ≤ 100 ms: reached)" in text
    assert "cached 1101 / bare aiohttp = **0.45** (target ≥ 0.50: MISSED)" in text
    assert "beside a bulk import" not in text


def test_peak_phase_ratio_against_the_2207_phase_alone():
    peak = phase(300.0, settlements_written=1500, import_rows=300_000, import_rows_per_s=51_000.0,
                 import_outlasted_phase=True, import_splits=None)
    text = render(results(s2207=400.0, peak=peak))
    assert "**0.75** × the 2207 phase alone (target ≥ 0.80: MISSED)" in text
    assert "the import 51,000 rows/s (target ≥ 50,000: reached)" in text
    assert "default splits" in text and "ended before" not in text
    peak.update(per_s=360.0, import_outlasted_phase=False, import_splits=1)
    text = render(results(s2207=400.0, peak=peak))
    assert "**0.90** × the 2207 phase alone (target ≥ 0.80: reached)" in text
    assert "1 split(s)" in text and "the import ended before the phase did" in text
