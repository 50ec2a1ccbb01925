"""Bulk enrollment import: bad rows rejected with line/field/reason and good rows committed;
a crash in the middle, then the same command resumes without duplicates; re-importing the
same file changes nothing; the cache of every touched person is invalidated."""

from __future__ import annotations

import csv
import datetime as dt

import pytest

from services.eligibility.bulk_import import SimulatedCrash, import_file
from services.eligibility.import_reader import COLUMNS, split_of
from tests.dates import THIS_YEAR, day

from .conftest import POOL_A, POOL_B, new_certno

pytestmark = pytest.mark.integration


def good_row(psn_no, pool=POOL_A, status="active"):
    certno, birth = new_certno("1")
    return [psn_no, certno, "批量" + psn_no[-3:], "1", birth.isoformat(), pool, "390", str(THIS_YEAR), "resident",
            day("01-01"), day("12-31"), status]


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("splits", [1, 2])
async def test_bad_rows_crash_and_resume_without_duplicates(tmp_path, database_url, redis_url, db_pool, service, uid,
                                                            splits):
    for attempt in range(50):  # psn_nos such that, with 2 splits, batch 3 really is divided between them
        tag = f"{uid}S{splits}{attempt}"
        if splits == 1 or 0 < sum(split_of(f"BI{tag}{i:03d}", 2) for i in range(20, 30)) < 10:
            break
    uid = tag
    rows, bad_lines = [], {}
    for i in range(60):
        r = good_row(f"BI{uid}{i:03d}", pool=POOL_B if i % 7 == 0 else POOL_A)
        line = i + 2  # header is line 1
        if i == 5:
            r[1] = r[1][:17] + ("0" if r[1][17] != "0" else "1")
            bad_lines[line] = "certno"
        elif i == 17:
            r[5] = "NOPOOL"
            bad_lines[line] = "pool"
        elif i == 33:
            r[9] = day("02-30")
            bad_lines[line] = "benefit_start"
        elif i == 41:
            r[8] = "employee"
            bad_lines[line] = "psn_type"
        elif i == 52:
            r = r[:5]
            bad_lines[line] = "*"
        rows.append(r)
    path = tmp_path / "enrollments.csv"
    write_csv(path, rows)
    errors = tmp_path / "errors.csv"

    # Cache one person who will be changed by the import, to check invalidation.
    first = rows[0][0]
    async with db_pool.acquire() as conn:
        await conn.execute("INSERT INTO eligibility.persons (psn_no, certno, name, gender, birthdate) "
                           "VALUES ($1, $2, $3, $4, $5)", first, rows[0][1], rows[0][2], "1",
                           dt.date.fromisoformat(rows[0][4]))
    assert (await service.snapshot(psn_no=first, insutype="390", on_date=day("05-01"))).choice.outcome == "NOT_ENROLLED"

    with pytest.raises(SimulatedCrash):
        await import_file(database_url, path, redis_url=redis_url, errors_path=errors, progress=False,
                          batch_size=10, splits=splits, crash_in_batch=3)
    async with db_pool.acquire() as conn:
        progress = await conn.fetchrow("SELECT splits, committed_through, rows_ok, rows_rejected, finished_at FROM "
                                       "eligibility.import_status WHERE path = $1", str(path))
        per_split = await conn.fetch("SELECT s.split, s.last_line, s.rows_ok + s.rows_rejected AS n "
                                     "FROM eligibility.import_split_progress s JOIN eligibility.import_progress p "
                                     "USING (file_sha256) WHERE p.path = $1 ORDER BY split", str(path))
    # Batches 1-2 committed; in batch 3 the last split crashed, the others committed their part.
    assert progress["splits"] == splits and progress["finished_at"] is None
    assert progress["committed_through"] == 21
    assert [r["last_line"] for r in per_split] == [31] * (splits - 1) + [21]
    in_batch3_committed = sum(1 for i in range(20, 30) if split_of(rows[i][0], splits) != splits - 1)
    assert progress["rows_ok"] + progress["rows_rejected"] == 20 + in_batch3_committed

    # Invalidated after the batch that changed it committed:
    assert (await service.snapshot(psn_no=first, insutype="390", on_date=day("05-01"))).choice.eligible

    # Resumed with another number of splits asked for: the file keeps the one it started with.
    assert await import_file(database_url, path, redis_url=redis_url, errors_path=errors, progress=False,
                             batch_size=10, splits=3 - splits) == 2
    async with db_pool.acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM eligibility.enrollments WHERE psn_no LIKE $1", f"BI{uid}%")
        p = await conn.fetchrow("SELECT splits, rows_ok, rows_rejected, finished_at FROM eligibility.import_status "
                                "WHERE path = $1", str(path))
    assert p["splits"] == splits
    assert n == 60 - len(bad_lines)
    assert (p["rows_ok"], p["rows_rejected"]) == (60 - len(bad_lines), len(bad_lines)) and p["finished_at"]
    report = read_csv(errors)
    assert {int(r["line"]): r["field"] for r in report} == bad_lines  # each bad row exactly once
    assert all(r["reason"] for r in report)

    # The same file again: already imported, nothing changes.
    assert await import_file(database_url, path, redis_url=redis_url, errors_path=errors, progress=False) == 2


async def test_reimport_changes_only_what_differs_and_rejects_a_taken_certno(tmp_path, database_url, redis_url,
                                                                             db_pool, uid):
    rows = [good_row(f"BJ{uid}{i:02d}") for i in range(5)]
    path1 = tmp_path / "a.csv"
    write_csv(path1, rows)
    assert await import_file(database_url, path1, redis_url=redis_url, progress=False) == 0
    rows2 = [list(r) for r in rows]
    rows2[1][11] = "lapsed"  # one enrollment changes
    rows2[2][1], rows2[2][4] = rows[3][1], rows[3][4]  # certno of another stored person: rejected
    path2 = tmp_path / "b.csv"
    write_csv(path2, rows2)
    assert await import_file(database_url, path2, redis_url=redis_url, errors_path=tmp_path / "e.csv",
                             progress=False) == 2
    async with db_pool.acquire() as conn:
        statuses = dict(await conn.fetch("SELECT psn_no, status FROM eligibility.enrollments WHERE psn_no LIKE $1",
                                         f"BJ{uid}%"))
        certno2 = await conn.fetchval("SELECT certno FROM eligibility.persons WHERE psn_no = $1", rows[2][0])
    assert statuses[rows[1][0]] == "lapsed" and certno2 == rows[2][1]
    assert "already belongs" in (tmp_path / "e.csv").read_text(encoding="utf-8")


async def test_wrong_header_fails_clearly(tmp_path, database_url, redis_url, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("psn_no,certno\nx,y\n", encoding="utf-8")
    assert await import_file(database_url, path, redis_url=redis_url, progress=False) == 1
    assert "expected the header" in capsys.readouterr().err
