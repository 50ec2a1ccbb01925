"""How the bulk import reader divides a file between splits: every row of one person goes to one
split, in file order; on resume each split skips exactly the lines it already committed; a
certno claimed by two persons in one batch stays with the first line, whichever split each is in."""

from __future__ import annotations

import csv

import pytest

from services.common.ids import make_certno
from services.eligibility.import_reader import COLUMNS, CsvBatches, split_of

POOLS = {"330600": frozenset({"310", "390"})}


def row(psn_no: str, seq: int, year: str = "2026") -> list[str]:
    return [psn_no, make_certno(f"33060219800229{seq:02d}1"), "张三", "1", "1980-02-29", "330600", "390", year,
            "resident", f"{year}-01-01", f"{year}-12-31", "active"]


def write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)


def read_all(path, after, batch_size=1000):
    b = CsvBatches(path, POOLS, batch_size=batch_size, after=after)
    try:
        batches = []
        while (batch := b.next_batch()) is not None:
            batches.append(batch)
        return batches
    finally:
        b.close()


def test_split_of_is_stable_and_spreads_persons():
    assert split_of("330600000000000001", 1) == 0
    # Pinned values: a resumed import (another process, another release) must route every row
    # exactly as the run that committed it did — no per-process hash seed, no changed function.
    assert [split_of(f"3306000000000000{i:02d}", 2) for i in range(1, 9)] == [1, 1, 1, 0, 0, 0, 0, 1]
    assert [split_of(f"33060000000000000{i}", 3) for i in range(1, 4)] == [0, 1, 2]
    assert split_of(" P1 ", 2) == split_of("P1", 2)
    counts = [0, 0]
    for i in range(1000):
        counts[split_of(f"330600{i:012d}", 2)] += 1
    assert min(counts) > 400


@pytest.mark.parametrize("splits", [1, 2, 3])
def test_rows_of_one_person_stay_in_one_split_in_file_order(tmp_path, splits):
    rows = [row(f"P{i % 7}", i % 7, year=str(2020 + i // 7)) for i in range(35)]
    write(tmp_path / "a.csv", rows)
    [batch] = read_all(tmp_path / "a.csv", [1] * splits)
    assert batch.seen == 35 and batch.last_line == 36
    seen = {}
    for k, part in enumerate(batch.parts):
        assert not part.errors
        for rec in part.rows:  # (line, psn_no, certno), as bytes
            assert split_of(rec[1].decode(), splits) == k
            assert seen.setdefault(rec[1], k) == k
        lines = [rec[0] for rec in part.rows]
        assert lines == sorted(lines)
    assert sum(len(p.rows) for p in batch.parts) == 35


def test_a_person_written_with_blanks_around_psn_no_stays_in_its_split(tmp_path):
    # The stored psn_no is stripped: " P1 " and "P1" are one person and must not be written by
    # two connections at once.
    names = [f"P{i}" for i in range(40)]
    rows = [row(n, i % 50) for i, n in enumerate(names)] + [row(f"  {n} ", i % 50, year="2027")
                                                             for i, n in enumerate(names)]
    write(tmp_path / "a.csv", rows)
    [batch] = read_all(tmp_path / "a.csv", [1, 1])
    for k, part in enumerate(batch.parts):
        for rec in part.rows:
            assert split_of(rec[1].decode(), 2) == k
    assert sum(len(p.rows) for p in batch.parts) == 80


def test_resume_skips_per_split_what_that_split_committed(tmp_path):
    rows = [row(f"R{i}", i % 50) for i in range(40)]
    write(tmp_path / "a.csv", rows)
    after = [31, 11]  # split 0 committed through line 31, split 1 through line 11
    batches = read_all(tmp_path / "a.csv", after, batch_size=8)
    got = {rec[0]: k for b in batches for k, p in enumerate(b.parts) for rec in p.rows}
    expected = {i + 2: split_of(f"R{i}", 2) for i in range(40)}
    expected = {line: k for line, k in expected.items() if line > after[k]}
    assert got == expected
    assert batches[-1].last_line == 41
    # A batch's last line counts the lines it skipped too: it never moves backwards, and every
    # split may record it as read (progress uses greatest(), so split 0 stays at 31 meanwhile).
    ends = [b.last_line for b in batches]
    assert ends == sorted(ends) and all(b.last_line >= max((r[0] for p in b.parts for r in p.rows), default=0)
                                        for b in batches)
    small = read_all(tmp_path / "a.csv", after, batch_size=1)
    assert small[0].last_line >= 12 and sum(len(p.rows) for p in small[0].parts) == 1


def test_a_certno_claimed_twice_in_a_batch_stays_with_the_first_line(tmp_path):
    # Two persons in different splits with one certno: the later line is rejected, in its own split.
    a = next(f"A{i}" for i in range(100) if split_of(f"A{i}", 2) == 1)
    b = next(f"B{i}" for i in range(100) if split_of(f"B{i}", 2) == 0)
    rows = [row(a, 1), row(b, 1), row(b, 1)]
    write(tmp_path / "a.csv", rows)
    [batch] = read_all(tmp_path / "a.csv", [1, 1])
    assert [rec[0] for rec in batch.parts[1].rows] == [2]
    assert batch.parts[0].rows == []
    assert [(line, field) for line, field, _ in batch.parts[0].errors] == [(3, "certno"), (4, "certno")]
    assert all(f"psn_no {a} on line 2" in reason for _, _, reason in batch.parts[0].errors)
