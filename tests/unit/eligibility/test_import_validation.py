"""The bulk import's fast line check (`_fast_line`, on the file's bytes) must agree with the
detailed one (`validate_row`, on decoded fields): it may pass a line on to validate_row, but never
accept a row validate_row rejects, and when it accepts, it stages the same values."""

from __future__ import annotations

import csv
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.ids import make_certno
from services.eligibility.import_reader import _fast_dates, _fast_line, _fast_stage, stage_line, validate_row

POOLS = {"330600": frozenset({"310", "390"}), "650000": frozenset({"390"})}
GOOD = ["330600123456789012", make_certno("33060219800229123"), "张三", "1", "1980-02-29", "330600", "310", "2026",
        "employee", "2026-01-01", "2026-12-31", "active"]
# Values each field may be swapped for: valid ones, near misses, and junk.
ALTERNATIVES = [
    ["A1", "x" * 31, "", "ab-c", "Ａ1", " 33 "],
    [make_certno("33060219800229122"), GOOD[1][:17] + "Y", GOOD[1][:17] + "x", GOOD[1][:-1], "３" * 18,
     make_certno("33060219800228123"), make_certno("33060219800229124")[:17] + "0"],
    ["", " ", "李", "李 四", "\u3000李", "李\u3000", "李\x00四", "\x00", "Anna-Lena O'Neil", "李\t", "李\udcff"],
    ["2", "0", "", "11"],
    ["1980-02-30", "19800229", "1980-W09-5", "1980-2-29", "2080-02-29", ""],
    ["650000", "999999", ""],
    ["390", "320", "", "３１０"],
    ["2000", "2100", "1999", "2101", "２０２６", "26", "abcd"],
    ["retired", "resident", "", "Employee"],
    ["2026-12-31", "2027-01-01", "2026-13-01", "2026-W01-1", ""],
    ["2025-12-31", "2026-06-30", "bad", ""],
    ["paused", "lapsed", "terminated", "Active", ""],
]


POOLS_B = {k.encode(): frozenset(v.encode() for v in vs) for k, vs in POOLS.items()}


def line(row: list[str], eol: str = "\n") -> bytes:
    return (",".join(row) + eol).encode("utf-8", "surrogateescape")


def _fast_row(n: int, raw: bytes) -> list[str] | None:
    """The values the fast path stages for this line (its COPY csv input, read back), or None."""
    if _fast_line(raw, POOLS_B, _fast_dates()) is None:
        return None
    return next(csv.reader([_fast_stage(n, raw).decode()]))


def _detailed(n: int, row: list[str]) -> tuple[list[str] | None, list]:
    """validate_row, with the values it stages read back from stage_line's COPY csv input."""
    rec, errors = validate_row(n, row, POOLS)
    return (None if rec is None else next(csv.reader([stage_line(rec)]))), errors


def test_a_good_row_takes_the_fast_path_with_the_same_record():
    for eol in ("\n", "\r\n", ""):
        fast = _fast_row(7, line(GOOD, eol))
        assert fast is not None and fast == ["7", *GOOD]
        assert _detailed(7, list(GOOD)) == (fast, [])


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 10)), max_size=3), st.booleans(), st.integers(0, 3))
def test_fast_path_never_accepts_what_the_detailed_check_rejects(changes, pad, drop):
    row = list(GOOD)
    for field, pick in changes:
        alts = ALTERNATIVES[field]
        row[field] = alts[pick % len(alts)]
    if pad:
        row = [f" {c} " for c in row]
    if drop == 3:
        row = row[:-1]
    fast = _fast_row(9, line(row))
    detailed, errors = _detailed(9, row)
    if fast is not None:
        assert errors == [] and detailed == fast


def test_random_generated_rows_agree():
    rng = random.Random(5)
    for _ in range(2_000):
        row = list(GOOD)
        row[1] = make_certno(f"330602{1940 + rng.randrange(80)}0{rng.randrange(1, 10)}1{rng.randrange(10)}"
                             f"{rng.randrange(100):02d}{rng.randrange(10)}")
        row[4] = f"{row[1][6:10]}-{row[1][10:12]}-{row[1][12:14]}"
        row[3] = "1" if int(row[1][16]) % 2 else "2"
        fast = _fast_row(2, line(row))
        assert fast is not None and _detailed(2, row) == (fast, [])


def test_bytes_that_are_not_utf8_are_reported_with_their_field():
    row = list(GOOD)
    row[2] = "张\udcff"  # what errors="surrogateescape" makes of the byte 0xFF
    assert _fast_row(3, line(row)) is None
    assert validate_row(3, row, POOLS) == (None, [(3, "name", "not valid UTF-8: '张\\xff'")])
