"""Streaming bulk enrollment import (millions of rows at the centralized payment deadline).

    medsettle import-enrollments FILE.csv [--errors REPORT.csv] [--splits N] [--quiet]

CSV columns (REFERENCE_DATA.md), header required:
    psn_no,certno,name,gender,birthdate,pool,insutype,year,psn_type,benefit_start,benefit_end,status

How it works
- The file is read as a stream in batches (default 20,000 rows). Each row is validated on its
  own (line number, field, reason); bad rows are rejected, good rows go on. While PostgreSQL
  applies one batch, a thread parses the next.
- Each batch is divided into splits by a hash of psn_no (default 2: one PostgreSQL backend per
  core), applied side by side over one connection each; every row of one person goes through
  the same split, in file order. A split is COPY'd into a temporary staging table, then upserted
  into eligibility.persons and eligibility.enrollments with one statement that writes only rows
  that differ (re-importing a file changes nothing). Rows whose certno belongs to another person
  are rejected there; within a batch, the first row that claims a certno keeps it.
- A split's rejected rows (eligibility.import_errors) and its progress (the batch's last line,
  eligibility.import_split_progress, keyed by the file's SHA-256 and the split) commit in the
  same transaction as its rows: after a crash, running the same command again re-reads from the
  smallest committed line, skips per split what that split already committed, applies nothing
  twice and reports every bad row exactly once. The number of splits is fixed by the first run
  of a file. `eligibility.import_status` shows each file's progress.
- After each split commits, the cache entries of every person whose rows it changed are
  invalidated in Redis (one Lua call per 5,000 persons). If Redis cannot be reached, a NOTIFY
  eligibility_changed "*" tells the eligibility service to invalidate everyone instead.
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
import zlib
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
DEFAULT_SPLITS = 2  # connections side by side; PostgreSQL gets a core each on a 2-core machine
MAX_SPLITS = 64
APPLICATION_NAME = "medsettle-import-enrollments"  # pg_stat_activity; the bench finds its backend by it
_STATUSES = frozenset(("active", "paused", "lapsed", "terminated"))
_PSN_TYPES = {"310": frozenset(("employee", "retired")), "390": frozenset(("resident",))}

Q_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS elig_stage (
    line bigint NOT NULL, psn_no text COLLATE "C" NOT NULL, certno text COLLATE "C" NOT NULL, name text NOT NULL, gender text NOT NULL,
    birthdate date NOT NULL, pool text COLLATE "C" NOT NULL, insutype text COLLATE "C" NOT NULL, year integer NOT NULL,
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
INSERT INTO eligibility.import_progress (file_sha256, path, splits) VALUES ($1, $2, $3)
ON CONFLICT (file_sha256) DO UPDATE SET path = excluded.path
RETURNING splits, finished_at
"""
Q_SPLITS_START = """
INSERT INTO eligibility.import_split_progress (file_sha256, split) SELECT $1, generate_series(0, $2 - 1)
ON CONFLICT DO NOTHING
"""
Q_SPLITS = """
SELECT split, last_line, rows_ok, rows_rejected FROM eligibility.import_split_progress
 WHERE file_sha256 = $1 ORDER BY split
"""
Q_PROGRESS_SPLIT = """
UPDATE eligibility.import_split_progress SET last_line = greatest(last_line, $3), rows_ok = rows_ok + $4, rows_rejected = rows_rejected + $5,
       updated_at = now() WHERE file_sha256 = $1 AND split = $2
"""
Q_PROGRESS_DONE = "UPDATE eligibility.import_progress SET finished_at = now(), updated_at = now() WHERE file_sha256 = $1"
Q_ERRORS = "SELECT line, field, reason FROM eligibility.import_errors WHERE file_sha256 = $1 ORDER BY line, field"


class SimulatedCrash(RuntimeError):
    """Raised by the test hook `crash_in_batch`: the process dies in the middle of a batch."""


class ImportFailed(RuntimeError):
    pass


@dataclass
class Part:
    """The rows of one batch that go through one split."""
    rows: list[tuple] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass
class Batch:
    parts: list[Part]
    last_line: int = 0  # every split has read the file up to here
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


def split_of(psn_no: str, splits: int) -> int:
    """The split (connection) a row goes to: by its psn_no (the first field, without surrounding
    blanks, as it is stored), so every row of one person goes through one split, in file order,
    and two splits never write one person. Stable across runs and machines (the resume depends
    on it); a malformed row goes by its first field like any other."""
    return zlib.crc32(psn_no.strip().encode("utf-8", "surrogatepass")) % splits if splits > 1 else 0


class CsvBatches:
    """Reads the CSV in batches of rows, each batch divided into `len(after)` splits by psn_no;
    a row is skipped when its split already committed its line (`after[split]`)."""

    def __init__(self, path: Path, pools: dict[str, frozenset[str]], *, batch_size: int, after: list[int]):
        self._f = open(path, newline="", encoding="utf-8-sig")
        self._reader = csv.reader(self._f)
        self._pools = pools
        self._batch_size = batch_size
        self._after = after
        header = next(self._reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            self._f.close()
            raise ImportFailed(f"line 1: expected the header {','.join(COLUMNS)}, got {','.join(header or [])!r}")

    def next_batch(self) -> Batch | None:
        splits = len(self._after)
        b = Batch(parts=[Part() for _ in range(splits)])
        reader, after, pools, good_row, parts = self._reader, self._after, self._pools, _good_row, b.parts
        floor = min(after)
        crc32 = zlib.crc32
        for row in reader:
            line = reader.line_num
            if line <= floor or not row or (len(row) == 1 and not row[0].strip()):
                continue
            b.last_line = line
            s = crc32(row[0].strip().encode("utf-8", "surrogatepass")) % splits if splits > 1 else 0  # = split_of
            if line <= after[s]:
                continue
            part = parts[s]
            rec = good_row(line, row, pools)
            errs = ()
            if rec is None:
                rec, errs = validate_row(line, row, pools)
            b.seen += 1
            if rec is None:
                part.errors.extend(errs)
            else:
                part.rows.append(rec)
            if b.seen >= self._batch_size:
                break
        if b.seen == 0:
            return None
        _reject_certno_clashes(b)
        return b

    def close(self) -> None:
        self._f.close()


def _reject_certno_clashes(b: Batch) -> None:
    """Within a batch, one certno must belong to one psn_no (the first row claiming it wins).
    (Across batches, and against rows a split committed before a crash, the database decides:
    Q_STAGE_CERTNO_TAKEN.)"""
    # in file order across the splits; a rejected row is reported by the split it belongs to
    recs = sorted(((r[0], i, r) for i, p in enumerate(b.parts) for r in p.rows), key=operator.itemgetter(0))
    owner: dict[str, tuple[str, int]] = {}
    dropped: set[int] = set()
    for line, i, rec in recs:
        psn_no, certno = rec[1], rec[2]
        held = owner.get(certno)
        if held is not None and held[0] != psn_no:
            dropped.add(line)
            b.parts[i].errors.append((line, "certno", f"certno also given to psn_no {held[0]} on line {held[1]}"))
            continue
        owner.setdefault(certno, (psn_no, line))
    if dropped:
        for p in b.parts:
            p.rows = [r for r in p.rows if r[0] not in dropped]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- the import


async def import_file(dsn: str, path: str | Path, *, redis_url: str | None, errors_path: str | Path | None = None,
                      progress: bool = True, batch_size: int = DEFAULT_BATCH, splits: int | None = None,
                      crash_in_batch: int | None = None) -> int:
    """Import one CSV file; return the exit code (0 ok, 2 some rows rejected, 1 failed).

    `splits`: connections applying each batch side by side (default DEFAULT_SPLITS, one per
    core); a file whose import already started keeps the number it started with.
    `crash_in_batch` (tests only): raise SimulatedCrash inside the last split's transaction of
    that batch (1-based, counted in this run), after its rows were upserted and before it
    commits — the other splits of that batch commit."""
    path = Path(path)
    report = Path(errors_path) if errors_path else path.with_name(path.name + ".errors.csv")
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    if not path.is_file():
        print(f"import-enrollments: no such file: {path}", file=sys.stderr)
        return 1
    if splits is not None and not 1 <= splits <= MAX_SPLITS:
        print(f"import-enrollments: splits must be 1-{MAX_SPLITS}, got {splits}", file=sys.stderr)
        return 1
    sha = await asyncio.to_thread(file_sha256, path)
    conns: list[asyncpg.Connection] = [
        await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})]
    redis = None
    if redis_url:
        import redis.asyncio as aredis

        redis = aredis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    batches: CsvBatches | None = None
    pending: asyncio.Future | None = None
    conn = conns[0]
    try:
        pools = {r["code"]: frozenset(r["insutypes"]) for r in await conn.fetch("SELECT code, insutypes FROM reference.pools")}
        async with conn.transaction():
            start = await conn.fetchrow(Q_PROGRESS_START, sha, str(path), splits or DEFAULT_SPLITS)
            n_splits = start["splits"]
            await conn.execute(Q_SPLITS_START, sha, n_splits)
            done = await conn.fetch(Q_SPLITS, sha)
        after = [r["last_line"] for r in done]
        ok_total = sum(r["rows_ok"] for r in done)
        bad_total = sum(r["rows_rejected"] for r in done)
        if start["finished_at"] is not None:
            say(f"import-enrollments: {path} (sha256 {sha[:12]}) was already imported: "
                f"{ok_total} rows ok, {bad_total} rejected; nothing to do")
            return await _finish(conn, sha, report, bad_total, say)
        if max(after) > 1:
            say(f"import-enrollments: resuming {path} after line {min(after)} "
                f"({ok_total} rows ok, {bad_total} rejected so far)")
        try:
            batches = await asyncio.to_thread(CsvBatches, path, pools, batch_size=batch_size, after=after)
        except ImportFailed as exc:
            print(f"import-enrollments: {path}: {exc}", file=sys.stderr)
            return 1
        more = await asyncio.gather(*(asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
                                      for _ in range(n_splits - 1)), return_exceptions=True)
        conns += [c for c in more if isinstance(c, asyncpg.Connection)]  # closed in `finally` either way
        for c in more:
            if isinstance(c, BaseException):
                raise c
        await asyncio.gather(*(c.execute(Q_CREATE_STAGE) for c in conns))
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
            crash = n_splits - 1 if crash_in_batch == n else None
            results = await asyncio.gather(
                *(_apply_split(conns[k], sha, k, part, batch.last_line, redis, say, crash=(crash == k))
                  for k, part in enumerate(batch.parts)),
                return_exceptions=True)
            for r in results:  # every split that could commit has committed (and invalidated)
                if isinstance(r, BaseException):
                    raise r
            ok_total += sum(r[0] for r in results)
            bad_total += sum(r[1] for r in results)
            changed = sum(r[2] for r in results)
            done_rows += batch.seen
            rate = done_rows / max(1e-9, time.perf_counter() - t0)
            say(f"import-enrollments: line {batch.last_line}: {ok_total} ok, {bad_total} rejected, "
                f"{changed} persons changed in this batch, {rate:,.0f} rows/s")
        await conn.execute(Q_PROGRESS_DONE, sha)
        elapsed = time.perf_counter() - t0
        say(f"import-enrollments: done: {ok_total} rows ok, {bad_total} rejected, {done_rows} rows read in this run "
            f"in {elapsed:.1f} s ({done_rows / max(1e-9, elapsed):,.0f} rows/s, {n_splits} splits)")
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
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


async def _apply_split(conn: asyncpg.Connection, sha: str, split: int, part: Part, last_line: int, redis, say, *,
                       crash: bool) -> tuple[int, int, int]:
    """One split of a batch in one transaction: stage, reject clashes, upsert, errors, the split's
    progress; then invalidate the cache entries of the persons it changed. (ok, rejected, changed)."""
    errors = list(part.errors)
    async with conn.transaction():
        # Not waiting for the WAL flush is safe here: a batch lost in a PostgreSQL crash is lost
        # together with its progress row, so the resumed import simply applies it again.
        await conn.execute("SET LOCAL synchronous_commit = off")
        ok = len(part.rows)
        changed: list[str] = []
        if part.rows:
            await conn.copy_records_to_table("elig_stage", records=part.rows, columns=STAGE_COLUMNS)
            for r in await conn.fetch(Q_STAGE_CERTNO_TAKEN):
                errors.append((r["line"], "certno", f"certno already belongs to psn_no {r['psn_no']}"))
                ok -= 1
            changed = [r["psn_no"] for r in await conn.fetch(Q_STAGE_UPSERT)]
        if errors:
            await conn.copy_records_to_table("import_errors", schema_name="eligibility",
                                             records=[(sha, line, f, reason) for line, f, reason in errors],
                                             columns=("file_sha256", "line", "field", "reason"))
        bad_lines = len({line for line, _, _ in errors})
        await conn.execute(Q_PROGRESS_SPLIT, sha, split, last_line, ok, bad_lines)
        if crash:
            raise SimulatedCrash(f"simulated crash before committing split {split} of the batch ending on "
                                 f"line {last_line}")
    await _invalidate(conn, redis, changed, say)
    return ok, bad_lines, len(changed)


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
