"""Streaming bulk enrollment import (millions of rows at the centralized payment deadline).

    medsettle import-enrollments FILE.csv [--errors REPORT.csv] [--quiet]

CSV columns (REFERENCE_DATA.md), header required:
    psn_no,certno,name,gender,birthdate,pool,insutype,year,psn_type,benefit_start,benefit_end,status

How it works
- The file is read as a stream in batches (default 20,000 rows). Each row is validated on its
  own (line number, field, reason); bad rows are rejected, good rows go on. While PostgreSQL
  applies one batch, a thread parses the next.
- A batch is COPY'd into a temporary staging table, then upserted into eligibility.persons and
  eligibility.enrollments with one statement that writes only rows that differ (re-importing a
  file changes nothing). Rows whose certno belongs to another person are rejected there.
- The batch's rejected rows (eligibility.import_errors) and the last line it covers
  (eligibility.import_progress, keyed by the file's SHA-256) commit in the same transaction as
  its rows: after a crash, running the same command again resumes after the last committed
  line, applies nothing twice and reports every bad row exactly once.
- After each commit, the cache entries of every person whose rows changed are invalidated in
  Redis (one Lua call per 5,000 persons). If Redis cannot be reached, a NOTIFY eligibility_changed "*" tells the
  eligibility service to invalidate everyone instead.
- A progress line goes to stderr per batch; the error report CSV (line,field,reason) is written
  at the end from the database.

Exit code: 0 every row imported; 2 done, some rows rejected (see the error report); 1 the file
could not be imported (missing, wrong header, database error).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import logging
import operator
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from services.common.ids import valid_certno
from services.eligibility.cache import invalidate_persons
from services.eligibility.repository import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

COLUMNS = ("psn_no", "certno", "name", "gender", "birthdate", "pool", "insutype", "year", "psn_type",
           "benefit_start", "benefit_end", "status")
STAGE_COLUMNS = ("line",) + COLUMNS
DEFAULT_BATCH = 20_000
APPLICATION_NAME = "medsettle-import-enrollments"  # pg_stat_activity; the bench finds its backend by it
_STATUSES = frozenset(("active", "paused", "lapsed", "terminated"))
_PSN_TYPES = {"310": frozenset(("employee", "retired")), "390": frozenset(("resident",))}

Q_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS elig_stage (
    line bigint NOT NULL, psn_no text NOT NULL, certno text NOT NULL, name text NOT NULL, gender text NOT NULL,
    birthdate date NOT NULL, pool text NOT NULL, insutype text NOT NULL, year integer NOT NULL,
    psn_type text NOT NULL, benefit_start date NOT NULL, benefit_end date NOT NULL, status text NOT NULL
) ON COMMIT DELETE ROWS
"""
# A certno held by a different person already stored: that row is rejected, not applied.
# Written as a correlated scalar subquery so that it is always one persons_certno_key probe per
# staged row: as a join, the planner hash-joined a sequential scan of every stored person (over a
# second per batch at 1.4 million persons, growing with the table) unless the staging table was
# ANALYZEd, which itself cost ~25 µs a row.
Q_STAGE_CERTNO_TAKEN = """
WITH taken AS (
  SELECT s.line, s.psn_no,
         (SELECT p.psn_no FROM eligibility.persons p WHERE p.certno = s.certno) AS owner
    FROM elig_stage s
)
DELETE FROM elig_stage s USING taken t
 WHERE s.line = t.line AND t.owner IS NOT NULL AND t.owner <> t.psn_no
RETURNING s.line, s.certno, t.owner AS psn_no
"""
# One statement: persons then enrollments, only rows that differ; returns the persons changed.
# (The enrollments' FK to persons is checked at the end of the statement, after both CTEs.)
Q_STAGE_UPSERT = """
WITH p AS (
  INSERT INTO eligibility.persons AS t (psn_no, certno, name, gender, birthdate)
  SELECT DISTINCT ON (psn_no) psn_no, certno, name, gender, birthdate FROM elig_stage ORDER BY psn_no, line DESC
  ON CONFLICT (psn_no) DO UPDATE SET certno = excluded.certno, name = excluded.name, gender = excluded.gender,
         birthdate = excluded.birthdate, updated_at = now()
   WHERE (t.certno, t.name, t.gender, t.birthdate)
         IS DISTINCT FROM (excluded.certno, excluded.name, excluded.gender, excluded.birthdate)
  RETURNING t.psn_no
), e AS (
  INSERT INTO eligibility.enrollments AS t (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end,
                                            status, status_from)
  SELECT DISTINCT ON (psn_no, pool, insutype, year) psn_no, pool, insutype, year, psn_type, benefit_start,
         benefit_end, status, NULL::date
    FROM elig_stage ORDER BY psn_no, pool, insutype, year, line DESC
  ON CONFLICT (psn_no, pool, insutype, year) DO UPDATE SET psn_type = excluded.psn_type,
         benefit_start = excluded.benefit_start, benefit_end = excluded.benefit_end, status = excluded.status,
         status_from = NULL, updated_at = now()
   WHERE (t.psn_type, t.benefit_start, t.benefit_end, t.status, t.status_from)
         IS DISTINCT FROM (excluded.psn_type, excluded.benefit_start, excluded.benefit_end, excluded.status, NULL::date)
  RETURNING t.psn_no
)
SELECT psn_no FROM p UNION SELECT psn_no FROM e
"""
Q_PROGRESS_START = """
INSERT INTO eligibility.import_progress (file_sha256, path) VALUES ($1, $2)
ON CONFLICT (file_sha256) DO UPDATE SET path = excluded.path
RETURNING last_line, rows_ok, rows_rejected, finished_at
"""
Q_PROGRESS_BATCH = """
UPDATE eligibility.import_progress SET last_line = $2, rows_ok = rows_ok + $3, rows_rejected = rows_rejected + $4,
       updated_at = now() WHERE file_sha256 = $1
"""
Q_PROGRESS_DONE = "UPDATE eligibility.import_progress SET finished_at = now() WHERE file_sha256 = $1"
Q_ERRORS = "SELECT line, field, reason FROM eligibility.import_errors WHERE file_sha256 = $1 ORDER BY line, field"


class SimulatedCrash(RuntimeError):
    """Raised by the test hook `crash_in_batch`: the process dies in the middle of a batch."""


class ImportFailed(RuntimeError):
    pass


@dataclass
class Batch:
    rows: list[tuple] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    last_line: int = 0
    seen: int = 0  # data rows read in this batch (good + bad)


# ----------------------------------------------------------------------------- validation (pure, per row)

# The fast path below accepts a row only when validate_row would accept it, and returns the same
# record; anything it does not accept goes through validate_row for the (line, field, reason)
# report. Most rows of a real file are good, so the detailed checks run only for the few bad ones.
_PSN_NO_OK = re.compile(r"[0-9A-Za-z]{1,30}").fullmatch
_CERTNO_SHAPE = re.compile(r"[0-9]{17}[0-9X]").fullmatch
_CERTNO_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643 (as services.common.ids)
_CERTNO_BIAS = 48 * sum(_CERTNO_WEIGHTS)  # the digits are summed as their ASCII codes
_CERTNO_CHECK = "10X98765432"
_date = dt.date.fromisoformat


def _good_row(line: int, row: list[str], pools: dict[str, frozenset[str]]) -> tuple | None:
    if len(row) != 12:
        return None
    psn_no, certno, name, gender, birthdate, pool, insutype, year, psn_type, start, end, status = [c.strip() for c in row]
    if (not name or status not in _STATUSES or gender not in ("1", "2") or _PSN_NO_OK(psn_no) is None
            or _CERTNO_SHAPE(certno) is None or len(birthdate) != 10 or len(start) != 10 or len(end) != 10):
        return None
    if _CERTNO_CHECK[(sum(map(operator.mul, _CERTNO_WEIGHTS, certno[:17].encode())) - _CERTNO_BIAS) % 11] != certno[17]:
        return None
    if certno[6:14] != birthdate.replace("-", "") or (ord(certno[16]) % 2 == 1) != (gender == "1"):
        return None  # (ord of an ASCII digit has the digit's parity)
    carried = pools.get(pool)
    types = _PSN_TYPES.get(insutype)
    if carried is None or types is None or insutype not in carried or psn_type not in types:
        return None
    if not (len(year) == 4 and year.isdigit()):
        return None
    y = int(year)
    if not (2000 <= y <= 2100):
        return None
    try:
        bd, sd, ed = _date(birthdate), _date(start), _date(end)
    except ValueError:
        return None
    if sd > ed:
        return None
    return (line, psn_no, certno, name, gender, bd, pool, insutype, y, psn_type, sd, ed, status)



def validate_row(line: int, row: list[str], pools: dict[str, frozenset[str]]) -> tuple[tuple | None, list[tuple[int, str, str]]]:
    """(staging record, []) for a good row; (None, [(line, field, reason), ...]) for a bad one."""
    errs: list[tuple[int, str, str]] = []
    if len(row) != len(COLUMNS):
        return None, [(line, "*", f"expected {len(COLUMNS)} columns, got {len(row)}")]
    psn_no, certno, name, gender, birthdate, pool, insutype, year, psn_type, start, end, status = (c.strip() for c in row)
    if not psn_no or len(psn_no) > 30 or not psn_no.isascii() or not psn_no.isalnum():
        errs.append((line, "psn_no", f"expected 1-30 letters or digits, got {psn_no!r}"))
    if not valid_certno(certno):
        errs.append((line, "certno", f"not an 18-character ID number with a valid GB 11643 check digit: {certno!r}"))
    if not name:
        errs.append((line, "name", "empty"))
    if gender not in ("1", "2"):
        errs.append((line, "gender", f"expected 1 or 2, got {gender!r}"))
    bd = sd = ed = None
    try:
        bd = dt.date.fromisoformat(birthdate) if len(birthdate) == 10 else None
    except ValueError:
        pass
    if bd is None:
        errs.append((line, "birthdate", f"expected a date YYYY-MM-DD, got {birthdate!r}"))
    elif valid_certno(certno) and certno[6:14] != birthdate.replace("-", ""):
        errs.append((line, "certno", f"the birth date in certno ({certno[6:14]}) does not match birthdate {birthdate}"))
    if len(certno) == 18 and certno[16].isdigit() and gender in ("1", "2") and (int(certno[16]) % 2 == 1) != (gender == "1"):
        errs.append((line, "gender", f"the sex digit in certno ({certno[16]}) does not match gender {gender}"))
    carried = pools.get(pool)
    if carried is None:
        errs.append((line, "pool", f"unknown pool {pool!r}"))
    elif insutype in _PSN_TYPES and insutype not in carried:
        errs.append((line, "insutype", f"pool {pool} does not carry insutype {insutype}"))
    if insutype not in _PSN_TYPES:
        errs.append((line, "insutype", f"expected 310 or 390, got {insutype!r}"))
    elif psn_type not in _PSN_TYPES[insutype]:
        errs.append((line, "psn_type", f"psn_type {psn_type!r} does not belong to insutype {insutype} "
                                       f"(310: employee|retired, 390: resident)"))
    y = int(year) if year.isdigit() and len(year) == 4 else None
    if y is None or not (2000 <= y <= 2100):
        errs.append((line, "year", f"expected a year 2000-2100, got {year!r}"))
    try:
        sd = dt.date.fromisoformat(start) if len(start) == 10 else None
    except ValueError:
        pass
    if sd is None:
        errs.append((line, "benefit_start", f"expected a date YYYY-MM-DD, got {start!r}"))
    try:
        ed = dt.date.fromisoformat(end) if len(end) == 10 else None
    except ValueError:
        pass
    if ed is None:
        errs.append((line, "benefit_end", f"expected a date YYYY-MM-DD, got {end!r}"))
    if sd is not None and ed is not None and sd > ed:
        errs.append((line, "benefit_end", f"benefit_end {end} is before benefit_start {start}"))
    if status not in _STATUSES:
        errs.append((line, "status", f"expected active, paused, lapsed or terminated, got {status!r}"))
    if errs:
        return None, errs
    return (line, psn_no, certno, name, gender, bd, pool, insutype, y, psn_type, sd, ed, status), errs


class CsvBatches:
    """Reads the CSV in batches, skipping lines up to `after_line` (already committed)."""

    def __init__(self, path: Path, pools: dict[str, frozenset[str]], *, batch_size: int, after_line: int):
        self._f = open(path, newline="", encoding="utf-8-sig")
        self._reader = csv.reader(self._f)
        self._pools = pools
        self._batch_size = batch_size
        self._after = after_line
        header = next(self._reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            self._f.close()
            raise ImportFailed(f"line 1: expected the header {','.join(COLUMNS)}, got {','.join(header or [])!r}")

    def next_batch(self) -> Batch | None:
        b = Batch()
        reader, after, pools, good_row = self._reader, self._after, self._pools, _good_row
        for row in reader:
            line = reader.line_num
            if line <= after or not row or (len(row) == 1 and not row[0].strip()):
                continue
            rec = good_row(line, row, pools)
            errs = ()
            if rec is None:
                rec, errs = validate_row(line, row, pools)
            b.seen += 1
            if rec is None:
                b.errors.extend(errs)
            else:
                b.rows.append(rec)
            b.last_line = line
            if b.seen >= self._batch_size:
                break
        if b.seen == 0:
            return None
        _reject_certno_clashes(b)
        return b

    def close(self) -> None:
        self._f.close()


def _reject_certno_clashes(b: Batch) -> None:
    """Within a batch, one certno must belong to one psn_no (the first row claiming it wins)."""
    owner: dict[str, tuple[str, int]] = {}
    keep = []
    for rec in b.rows:
        line, psn_no, certno = rec[0], rec[1], rec[2]
        held = owner.get(certno)
        if held is not None and held[0] != psn_no:
            b.errors.append((line, "certno", f"certno also given to psn_no {held[0]} on line {held[1]}"))
            continue
        owner.setdefault(certno, (psn_no, line))
        keep.append(rec)
    b.rows = keep


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- the import


async def import_file(dsn: str, path: str | Path, *, redis_url: str | None, errors_path: str | Path | None = None,
                      progress: bool = True, batch_size: int = DEFAULT_BATCH,
                      crash_in_batch: int | None = None) -> int:
    """Import one CSV file; return the exit code (0 ok, 2 some rows rejected, 1 failed).

    `crash_in_batch` (tests only): raise SimulatedCrash inside the transaction of that batch
    (1-based, counted in this run), after its rows were upserted and before it commits."""
    path = Path(path)
    report = Path(errors_path) if errors_path else path.with_name(path.name + ".errors.csv")
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    if not path.is_file():
        print(f"import-enrollments: no such file: {path}", file=sys.stderr)
        return 1
    sha = await asyncio.to_thread(file_sha256, path)
    conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
    redis = None
    if redis_url:
        import redis.asyncio as aredis

        redis = aredis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    batches: CsvBatches | None = None
    pending: asyncio.Future | None = None
    try:
        pools = {r["code"]: frozenset(r["insutypes"]) for r in await conn.fetch("SELECT code, insutypes FROM reference.pools")}
        start = await conn.fetchrow(Q_PROGRESS_START, sha, str(path))
        ok_total, bad_total = start["rows_ok"], start["rows_rejected"]
        if start["finished_at"] is not None:
            say(f"import-enrollments: {path} (sha256 {sha[:12]}) was already imported: "
                f"{ok_total} rows ok, {bad_total} rejected; nothing to do")
            return await _finish(conn, sha, report, bad_total, say)
        if start["last_line"] > 1:
            say(f"import-enrollments: resuming {path} after line {start['last_line']} "
                f"({ok_total} rows ok, {bad_total} rejected so far)")
        try:
            batches = await asyncio.to_thread(CsvBatches, path, pools, batch_size=batch_size,
                                              after_line=start["last_line"])
        except ImportFailed as exc:
            print(f"import-enrollments: {path}: {exc}", file=sys.stderr)
            return 1
        await conn.execute(Q_CREATE_STAGE)
        t0 = time.perf_counter()
        done_rows = 0
        n = 0
        pending = asyncio.ensure_future(asyncio.to_thread(batches.next_batch))
        while True:
            batch = await pending
            if batch is None:
                break
            # Parse the next batch in a thread while PostgreSQL applies this one.
            pending = asyncio.ensure_future(asyncio.to_thread(batches.next_batch))
            n += 1
            changed, ok, bad = await _apply(conn, sha, batch, crash=(crash_in_batch == n))
            ok_total += ok
            bad_total += bad
            done_rows += batch.seen
            await _invalidate(conn, redis, changed, say)
            rate = done_rows / max(1e-9, time.perf_counter() - t0)
            say(f"import-enrollments: line {batch.last_line}: {ok_total} ok, {bad_total} rejected, "
                f"{len(changed)} persons changed in this batch, {rate:,.0f} rows/s")
        await conn.execute(Q_PROGRESS_DONE, sha)
        elapsed = time.perf_counter() - t0
        say(f"import-enrollments: done: {ok_total} rows ok, {bad_total} rejected, {done_rows} rows read in this run "
            f"in {elapsed:.1f} s ({done_rows / max(1e-9, elapsed):,.0f} rows/s)")
        return await _finish(conn, sha, report, bad_total, say)
    except (asyncpg.PostgresError, OSError) as exc:
        print(f"import-enrollments: {path}: failed: {exc}; run the same command again to resume", file=sys.stderr)
        return 1
    finally:
        if pending is not None:  # the parser thread may still be reading: let it finish first
            await asyncio.gather(pending, return_exceptions=True)
        if batches is not None:
            batches.close()
        if redis is not None:
            await redis.aclose()
        await conn.close()


async def _apply(conn: asyncpg.Connection, sha: str, batch: Batch, *, crash: bool) -> tuple[list[str], int, int]:
    """One batch in one transaction: stage, reject clashes, upsert, errors, progress."""
    errors = list(batch.errors)
    async with conn.transaction():
        # Not waiting for the WAL flush is safe here: a batch lost in a PostgreSQL crash is lost
        # together with its progress row, so the resumed import simply applies it again.
        await conn.execute("SET LOCAL synchronous_commit = off")
        ok = len(batch.rows)
        changed: list[str] = []
        if batch.rows:
            await conn.copy_records_to_table("elig_stage", records=batch.rows, columns=STAGE_COLUMNS)
            for r in await conn.fetch(Q_STAGE_CERTNO_TAKEN):
                errors.append((r["line"], "certno", f"certno already belongs to psn_no {r['psn_no']}"))
                ok -= 1
            changed = [r["psn_no"] for r in await conn.fetch(Q_STAGE_UPSERT)]
        if errors:
            await conn.copy_records_to_table("import_errors", schema_name="eligibility",
                                             records=[(sha, line, f, reason) for line, f, reason in errors],
                                             columns=("file_sha256", "line", "field", "reason"))
        bad_lines = len({line for line, _, _ in errors})
        await conn.execute(Q_PROGRESS_BATCH, sha, batch.last_line, ok, bad_lines)
        if crash:
            raise SimulatedCrash(f"simulated crash before committing the batch ending on line {batch.last_line}")
    return changed, ok, bad_lines


async def _invalidate(conn: asyncpg.Connection, redis, changed: list[str], say) -> None:
    if not changed:
        return
    if redis is not None:
        try:
            await invalidate_persons(redis, changed)
            return
        except Exception as exc:  # the service will drop every entry instead
            say(f"import-enrollments: redis unreachable ({exc!r}); asking the eligibility service to invalidate all")
    await conn.execute("SELECT pg_notify($1, '*')", NOTIFY_CHANNEL)


async def _finish(conn: asyncpg.Connection, sha: str, report: Path, bad_total: int, say) -> int:
    if bad_total == 0:
        return 0
    rows = await conn.fetch(Q_ERRORS, sha)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("line", "field", "reason"))
    w.writerows((r["line"], r["field"], r["reason"]) for r in rows)
    report.write_text(buf.getvalue(), encoding="utf-8")
    say(f"import-enrollments: {bad_total} rows rejected; error report: {report}")
    return 2
