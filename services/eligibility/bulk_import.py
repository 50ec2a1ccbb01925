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
import codecs
import csv
import datetime as dt
import functools
import gc
import hashlib
import io
import logging
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
# ANALYZEd, which itself cost ~25 µs a row. Read-only: the few rows it finds are then deleted
# from the stage by line (Q_STAGE_DROP).
Q_STAGE_CERTNO_TAKEN = """
SELECT line, certno, owner AS psn_no FROM (
  SELECT s.line, s.psn_no, s.certno, (SELECT p.psn_no FROM eligibility.persons p WHERE p.certno = s.certno) AS owner
    FROM elig_stage s) t
 WHERE owner <> psn_no
"""
Q_STAGE_DROP = "DELETE FROM elig_stage WHERE line = ANY($1::bigint[])"
# One statement: persons then enrollments, writing only rows that differ. Returns the number of
# new persons (the row without a psn_no), and the persons that existed and changed: only those can have a cache
# entry to drop (a person unknown to PostgreSQL is never cached, see cache.py, and persons are
# never deleted). Each staged person is looked up once (persons_pkey): a new one is inserted plainly, a
# changed one goes through ON CONFLICT DO UPDATE, an unchanged one is not touched at all (ON
# CONFLICT would still lock it: a WAL record and a dirtied page per person of a renewal file).
# Enrollments likewise, except that a new person's enrollments are new without looking.
# A concurrent writer that inserts the same person or enrollment between the look-up and the
# insert makes the statement fail with unique_violation; _apply_split then does the split again.
# (The enrollments' person check runs at the end of the statement, after every CTE.)
Q_STAGE_UPSERT = """
WITH c AS MATERIALIZED (
  SELECT s.psn_no, s.certno, s.name, s.gender, s.birthdate,
         (SELECT (p.certno, p.name, p.gender, p.birthdate) = (s.certno, s.name, s.gender, s.birthdate)
            FROM eligibility.persons p WHERE p.psn_no = s.psn_no) AS same   -- NULL: a new person
    FROM (SELECT DISTINCT ON (psn_no) psn_no, certno, name, gender, birthdate FROM elig_stage
           ORDER BY psn_no, line DESC) s
), p_new AS (
  INSERT INTO eligibility.persons (psn_no, certno, name, gender, birthdate)
  SELECT psn_no, certno, name, gender, birthdate FROM c WHERE same IS NULL
), p_changed AS (
  INSERT INTO eligibility.persons AS t (psn_no, certno, name, gender, birthdate)
  SELECT psn_no, certno, name, gender, birthdate FROM c WHERE NOT same
  ON CONFLICT (psn_no) DO UPDATE SET certno = excluded.certno, name = excluded.name, gender = excluded.gender,
         birthdate = excluded.birthdate, updated_at = now()
), e AS MATERIALIZED (
  SELECT s.*, c.same IS NOT NULL AS existed, CASE WHEN c.same IS NOT NULL THEN
         (SELECT (x.psn_type, x.benefit_start, x.benefit_end, x.status, x.status_from)
                 IS NOT DISTINCT FROM (s.psn_type, s.benefit_start, s.benefit_end, s.status, NULL::date)
            FROM eligibility.enrollments x
           WHERE x.psn_no = s.psn_no AND x.pool = s.pool AND x.insutype = s.insutype AND x.year = s.year)
         END AS same                                                                 -- NULL: a new enrollment
    FROM (SELECT DISTINCT ON (psn_no, pool, insutype, year) psn_no, pool, insutype, year, psn_type, benefit_start,
                 benefit_end, status FROM elig_stage ORDER BY psn_no, pool, insutype, year, line DESC) s
    JOIN c USING (psn_no)
), e_new AS (
  INSERT INTO eligibility.enrollments (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status)
  SELECT psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status FROM e WHERE same IS NULL
), e_changed AS (
  INSERT INTO eligibility.enrollments AS t (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end,
                                            status, status_from)
  SELECT psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status, NULL FROM e WHERE NOT same
  ON CONFLICT (psn_no, pool, insutype, year) DO UPDATE SET psn_type = excluded.psn_type,
         benefit_start = excluded.benefit_start, benefit_end = excluded.benefit_end, status = excluded.status,
         status_from = NULL, updated_at = now()
)
SELECT NULL::text AS psn_no, count(*) AS new_persons FROM c WHERE same IS NULL
UNION ALL
(SELECT psn_no, NULL::bigint FROM c WHERE NOT same
 UNION
 SELECT psn_no, NULL::bigint FROM e WHERE e.same IS NOT TRUE AND e.existed)
"""
# The same when no psn_no comes twice in the split (the usual file: one row per person): no
# DISTINCT ON sorts, and each staged row is a person and its enrollment at once.
Q_STAGE_UPSERT_ONCE = """
WITH c AS MATERIALIZED (
  SELECT s.*, CASE WHEN s.same IS NOT NULL THEN
         (SELECT (x.psn_type, x.benefit_start, x.benefit_end, x.status, x.status_from)
                 IS NOT DISTINCT FROM (s.psn_type, s.benefit_start, s.benefit_end, s.status, NULL::date)
            FROM eligibility.enrollments x
           WHERE x.psn_no = s.psn_no AND x.pool = s.pool AND x.insutype = s.insutype AND x.year = s.year)
         END AS e_same                                                               -- NULL: a new enrollment
    FROM (SELECT s.*, (SELECT (p.certno, p.name, p.gender, p.birthdate) = (s.certno, s.name, s.gender, s.birthdate)
                         FROM eligibility.persons p WHERE p.psn_no = s.psn_no) AS same  -- NULL: a new person
            FROM elig_stage s OFFSET 0) s
), p_new AS (
  INSERT INTO eligibility.persons (psn_no, certno, name, gender, birthdate)
  SELECT psn_no, certno, name, gender, birthdate FROM c WHERE same IS NULL
), p_changed AS (
  INSERT INTO eligibility.persons AS t (psn_no, certno, name, gender, birthdate)
  SELECT psn_no, certno, name, gender, birthdate FROM c WHERE NOT same
  ON CONFLICT (psn_no) DO UPDATE SET certno = excluded.certno, name = excluded.name, gender = excluded.gender,
         birthdate = excluded.birthdate, updated_at = now()
), e_new AS (
  INSERT INTO eligibility.enrollments (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status)
  SELECT psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status FROM c WHERE e_same IS NULL
), e_changed AS (
  INSERT INTO eligibility.enrollments AS t (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end,
                                            status, status_from)
  SELECT psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status, NULL FROM c WHERE NOT e_same
  ON CONFLICT (psn_no, pool, insutype, year) DO UPDATE SET psn_type = excluded.psn_type,
         benefit_start = excluded.benefit_start, benefit_end = excluded.benefit_end, status = excluded.status,
         status_from = NULL, updated_at = now()
)
SELECT NULL::text AS psn_no, count(*) AS new_persons FROM c WHERE same IS NULL
UNION ALL
SELECT psn_no, NULL::bigint FROM c WHERE same IS NOT NULL AND (NOT same OR e_same IS NOT TRUE)
"""
# A file of new enrollees (newborns, people insured for the first time): each staged row is a
# new person and their first enrollment, so both are inserted as they are, without looking
# anything up. If any of them is not new (its psn_no, certno or enrollment is already stored),
# a unique index refuses the statement; the split then rolls it back to a savepoint and goes the
# way above (and keeps going that way for the rest of the file). Only for splits where no psn_no
# comes twice.
Q_STAGE_INSERT_NEW = """
WITH p AS (
  INSERT INTO eligibility.persons (psn_no, certno, name, gender, birthdate)
  SELECT psn_no, certno, name, gender, birthdate FROM elig_stage
)
INSERT INTO eligibility.enrollments (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status)
SELECT psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status FROM elig_stage
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
    rows: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # (line, psn_no, certno) staged
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)  # the rows as COPY csv input (while reading)
    payload: bytes = b""  # ... joined, once the batch is read
    repeats: bool = False  # a psn_no comes on more than one of these rows (Q_STAGE_UPSERT, not ..._ONCE)
    certno_varies: bool = False  # ... with two certnos (_apply_split: look first)


@dataclass
class Batch:
    parts: list[Part]
    last_line: int = 0  # every split has read the file up to here
    seen: int = 0  # data rows read in this batch (good + bad)


# ----------------------------------------------------------------------------- validation (pure, per row)

# The fast path below accepts a line only when validate_row would accept its fields (and then
# stages the same values); anything it does not accept (blanks around a field, quotes, any error)
# goes through validate_row for the (line, field, reason) report. Most lines of a real file are
# good, so the detailed checks run only for the few that are not. It works on the file's bytes:
# one regular expression checks the shape of the whole line, the few checks left compare bytes,
# and the line itself, prefixed by its number, is then valid COPY csv input for the stage (no
# quotes, no commas inside a field, nothing to strip) — no field becomes a Python str.
_FAST_LINE = re.compile(
    rb"([0-9A-Za-z]{1,30}),([0-9]{17}[0-9X]),([^,\x00-\x20\x7f\"](?:[^,\x00\"\r\n]*[^,\x00-\x20\x7f\"])?),([12]),"
    rb"([0-9]{4}-[0-9]{2}-[0-9]{2}),([0-9A-Za-z]+),(310|390),(2[0-9]{3}),(employee|retired|resident),"
    rb"([0-9]{4}-[0-9]{2}-[0-9]{2}),([0-9]{4}-[0-9]{2}-[0-9]{2}),(?:active|paused|lapsed|terminated)\r?\n?").fullmatch
# GB 11643 (as services.common.ids): the weights 7, 9, 10, 5, ... 2 of the 17 digits are 2^17 ...
# 2^1 mod 11, and 13 = 2 (mod 11), so the weighted sum is 2 * (the digits read in base 13) mod 11.
_CERTNO_CHECK = b"10X98765432"
_PSN_TYPES_B = {k.encode(): frozenset(v.encode() for v in vs) for k, vs in _PSN_TYPES.items()}
_fromiso = dt.date.fromisoformat
_FAST_YEARS = range(1900, 2101)  # dates the fast path knows by heart (others: validate_row)


@functools.cache
def _fast_dates() -> frozenset[bytes]:
    """Every real day of _FAST_YEARS as b"YYYY-MM-DD" (~73,000; built once, on first use)."""
    day, end, one = dt.date(_FAST_YEARS[0], 1, 1), dt.date(_FAST_YEARS[-1], 12, 31), dt.timedelta(days=1)
    out = []
    while day <= end:
        out.append(day.isoformat().encode())
        day += one
    return frozenset(out)


def _fast_stage(line: int, raw: bytes) -> bytes:
    """A line _fast_line accepted, as the stage's COPY csv input: its number, then the line."""
    return b"%d,%s\n" % (line, raw.rstrip(b"\r\n"))


def _date_ok(s: str) -> bool:
    """YYYY-MM-DD and a real day. (Python also reads other ISO forms of this length, e.g. the week
    date 2026-W01-1, which PostgreSQL would refuse in the middle of a COPY.)"""
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        return False
    try:
        _fromiso(s)
    except ValueError:
        return False
    return True


def _fast_line(raw: bytes, pools: dict[bytes, frozenset[bytes]], dates: frozenset[bytes]):
    """The regex match of a good, plainly written line — its groups are, as bytes, the fields
    validate_row would stage (but the status) — or None: then validate_row decides."""
    m = _FAST_LINE(raw)
    if m is None:
        return None
    psn_no, certno, name, gender, birthdate, pool, insutype, year, psn_type, start, end = m.groups()
    if _CERTNO_CHECK[2 * int(certno[:17], 13) % 11] != certno[17]:
        return None
    if certno[6:14] != birthdate.replace(b"-", b"") or (certno[16] & 1) != (gender == b"1"):
        return None  # (an ASCII digit's code has the digit's parity)
    carried = pools.get(pool)
    if (carried is None or insutype not in carried or psn_type not in _PSN_TYPES_B[insutype] or year > b"2100"
            or birthdate not in dates or start not in dates or end not in dates or start > end):
        return None  # (ISO dates of one shape compare as bytes)
    try:
        text = name.decode()  # UTF-8, and nothing str.strip() would remove at either end
    except UnicodeDecodeError:
        return None
    if text[0].isspace() or text[-1].isspace():
        return None
    return m


_SURROGATE = re.compile("[\ud800-\udfff]").search  # what errors="surrogateescape" made of bytes that are not UTF-8


def _shown(v: str) -> str:
    """A field with undecodable bytes, shown with those bytes as \\xNN escapes."""
    return "'" + v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") + "'"


def validate_row(line: int, row: list[str], pools: dict[str, frozenset[str]]) -> tuple[tuple | None, list[tuple[int, str, str]]]:
    """(staging record, []) for a good row; (None, [(line, field, reason), ...]) for a bad one."""
    errs: list[tuple[int, str, str]] = []
    if len(row) != len(COLUMNS):
        return None, [(line, "*", f"expected {len(COLUMNS)} columns, got {len(row)}")]
    fields = [c.strip() for c in row]
    undecodable = [(line, f, f"not valid UTF-8: {_shown(v)}") for f, v in zip(COLUMNS, fields) if _SURROGATE(v)]
    if undecodable:
        return None, undecodable
    psn_no, certno, name, gender, birthdate, pool, insutype, year, psn_type, start, end, status = fields
    if not psn_no or len(psn_no) > 30 or not psn_no.isascii() or not psn_no.isalnum():
        errs.append((line, "psn_no", f"expected 1-30 letters or digits, got {psn_no!r}"))
    if not valid_certno(certno):
        errs.append((line, "certno", f"not an 18-character ID number with a valid GB 11643 check digit: {certno!r}"))
    if not name:
        errs.append((line, "name", "empty"))
    if gender not in ("1", "2"):
        errs.append((line, "gender", f"expected 1 or 2, got {gender!r}"))
    if "\x00" in name:
        errs.append((line, "name", "contains a NUL character"))
    if not _date_ok(birthdate):
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
    if not (len(year) == 4 and year.isascii() and year.isdigit() and 2000 <= int(year) <= 2100):
        errs.append((line, "year", f"expected a year 2000-2100, got {year!r}"))
    sd, ed = _date_ok(start), _date_ok(end)
    if not sd:
        errs.append((line, "benefit_start", f"expected a date YYYY-MM-DD, got {start!r}"))
    if not ed:
        errs.append((line, "benefit_end", f"expected a date YYYY-MM-DD, got {end!r}"))
    if sd and ed and start > end:
        errs.append((line, "benefit_end", f"benefit_end {end} is before benefit_start {start}"))
    if status not in _STATUSES:
        errs.append((line, "status", f"expected active, paused, lapsed or terminated, got {status!r}"))
    if errs:
        return None, errs
    return (line, psn_no, certno, name, gender, birthdate, pool, insutype, year, psn_type, start, end, status), errs


def split_of(psn_no: str, splits: int) -> int:
    """The split (connection) a row goes to: by its psn_no (the first field, without surrounding
    blanks, as it is stored), so every row of one person goes through one split, in file order,
    and two splits never write one person. Stable across runs and machines (the resume depends
    on it); a malformed row goes by its first field like any other."""
    return zlib.crc32(psn_no.strip().encode("utf-8", "surrogatepass")) % splits if splits > 1 else 0


class CsvBatches:
    """Reads the CSV in batches of rows, each batch divided into `len(after)` splits by psn_no;
    a row is skipped when its split already committed its line (`after[split]`).

    Lines end with LF or CRLF; line numbers count them (a record whose quoted field spans lines
    is numbered by its last line, as the csv module counts). A good, plainly written line goes by
    the fast path (_fast_line); any other is decoded (bytes that are not UTF-8 become lone
    surrogates, and validate_row rejects their field) and split on commas, or read by the csv
    module when it has quotes."""

    def __init__(self, path: Path, pools: dict[str, frozenset[str]], *, batch_size: int, after: list[int]):
        self._f = open(path, "rb")
        self._pools = pools
        self._pools_b = {k.encode(): frozenset(v.encode() for v in vs) for k, vs in pools.items()}
        self._dates = _fast_dates()
        self._batch_size = batch_size
        self._after = after
        self._line = 0
        self.unreadable = ""  # why the csv module could not read the last record, if it could not
        first = self._f.readline()
        if first.startswith(codecs.BOM_UTF8):
            first = first[len(codecs.BOM_UTF8):]
        header = self._fields(first) if first else None
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            self._f.close()
            raise ImportFailed(f"line 1: expected the header {','.join(COLUMNS)}, got {','.join(header or [])!r}")

    def _fields(self, raw: bytes) -> list[str]:
        """The fields of the record that starts with this line (self._line: its last line)."""
        self._line += 1
        self.unreadable = ""
        text = raw.decode("utf-8", "surrogateescape")
        if '"' not in text:
            return text.rstrip("\r\n").split(",")
        used = 0

        def lines():
            nonlocal used
            yield text
            while more := self._f.readline():
                used += 1
                yield more.decode("utf-8", "surrogateescape")

        try:
            row = next(csv.reader(lines()), [])
        except csv.Error as exc:  # e.g. a carriage return alone inside an unquoted field
            self.unreadable = f"not readable as CSV ({exc})"
            row = text.rstrip("\r\n").split(",")
        self._line += used
        return row

    def next_batch(self) -> Batch | None:
        splits = len(self._after)
        b = Batch(parts=[Part() for _ in range(splits)])
        after, pools_b, dates, fast_line, fast_stage = self._after, self._pools_b, self._dates, _fast_line, _fast_stage
        parts = b.parts
        limit, floor, crc32 = self._batch_size, min(after), zlib.crc32
        owner: dict[bytes, tuple[bytes, int]] = {}  # certno -> (psn_no, line) of its first good row in this batch
        certno_of: dict[bytes, bytes] = {}  # psn_no -> its first certno in this batch
        readline = self._f.readline
        line = self._line  # (the loop keeps these in locals: it runs once per row)
        seen = last = 0
        while seen < limit:
            raw = readline()
            if not raw:
                break
            m = fast_line(raw, pools_b, dates)
            if m is not None:
                line += 1
                if line <= floor:
                    continue
                psn_no, certno = m.group(1, 2)
                key = psn_no
            else:
                self._line = line
                row = self._fields(raw)  # may read more lines
                line = self._line
                if line <= floor or not row or (len(row) == 1 and not row[0].strip()):
                    continue  # (a blank line)
                key = row[0].strip().encode("utf-8", "surrogatepass")
            last = line
            s = crc32(key) % splits if splits > 1 else 0  # = split_of
            if line <= after[s]:
                continue
            seen += 1
            part = parts[s]
            if m is not None:
                text = fast_stage(line, raw)
            else:
                if self.unreadable:
                    part.errors.append((line, "*", self.unreadable))
                    self.unreadable = ""
                    continue
                rec, errs = validate_row(line, row, self._pools)
                if rec is None:
                    part.errors.extend(errs)
                    continue
                text = stage_line(rec).encode()
                psn_no, certno = rec[1].encode(), rec[2].encode()
            # One certno, one psn_no within a batch: the first line that claims it keeps it.
            # (Across batches, and against rows a split committed before a crash, the database
            # decides: Q_STAGE_CERTNO_TAKEN.)
            held = owner.get(certno)
            if held is None:
                owner[certno] = (psn_no, line)
            elif held[0] != psn_no:
                part.errors.append((line, "certno", f"certno also given to psn_no {held[0].decode()} on line {held[1]}"))
                continue
            first = certno_of.get(psn_no)
            if first is None:
                certno_of[psn_no] = certno
            else:
                part.repeats = True
                if first != certno:
                    part.certno_varies = True
            part.rows.append((line, psn_no, certno))
            part.lines.append(text)
        self._line = line
        if seen == 0:
            return None
        b.seen, b.last_line = seen, last
        for part in parts:
            part.payload = b"".join(part.lines)
            part.lines = []
        return b

    def close(self) -> None:
        self._f.close()


def stage_line(rec: tuple) -> str:
    """A staging record as one line of COPY ... (FORMAT csv) input for elig_stage. Every field but
    the name is letters, digits and dashes (validated); the name is quoted."""
    name = rec[3].replace('"', '""')
    return f'{rec[0]},{rec[1]},{rec[2]},"{name}",{",".join(rec[4:])}\n'


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
    switch, thresholds = sys.getswitchinterval(), gc.get_threshold()
    # The reader thread holds the GIL for up to the switch interval (5 ms) whenever the event loop
    # wants it back to answer PostgreSQL; with ~7 round trips per split and batch, a shorter one
    # keeps the backends busy (measured: 10-15% more rows/s).
    sys.setswitchinterval(0.0005)
    # A batch keeps ~20,000 record tuples alive until it is applied, and the cycle collector's
    # default thresholds made it walk them again and again (~1 µs of the reader's ~8 µs a row);
    # the import makes no garbage cycles worth collecting that often.
    gc.set_threshold(100_000, 50, 100)
    try:
        return await _import_file(dsn, path, redis_url=redis_url, errors_path=errors_path, progress=progress,
                                  batch_size=batch_size, splits=splits, crash_in_batch=crash_in_batch)
    finally:
        sys.setswitchinterval(switch)
        gc.set_threshold(*thresholds)


async def _import_file(dsn: str, path: str | Path, *, redis_url: str | None, errors_path: str | Path | None,
                       progress: bool, batch_size: int, splits: int | None, crash_in_batch: int | None) -> int:
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
    previous: list[asyncio.Future] = []  # the last batch's cache invalidations
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
        states = [SplitState() for _ in conns]
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
                *(_apply_split(conns[k], sha, k, part, batch.last_line, states[k], crash=(crash == k))
                  for k, part in enumerate(batch.parts)),
                return_exceptions=True)
            # Invalidate what committed while the next batch is applied (and before a failure is
            # reported); what the previous batch's invalidation could not reach, the service drops.
            invalidating = [asyncio.ensure_future(_invalidate(redis, r[2], say)) for r in results
                            if not isinstance(r, BaseException) and r[2]]
            await _invalidated(conn, previous)
            previous = invalidating
            for r in results:  # every split that could commit has committed
                if isinstance(r, BaseException):
                    raise r
            ok_total += sum(r[0] for r in results)
            bad_total += sum(r[1] for r in results)
            changed = sum(len(r[2]) for r in results)
            added = sum(r[3] for r in results)
            done_rows += batch.seen
            rate = done_rows / max(1e-9, time.perf_counter() - t0)
            say(f"import-enrollments: line {batch.last_line}: {ok_total} ok, {bad_total} rejected, "
                f"{added} new and {changed} changed persons in this batch, {rate:,.0f} rows/s")
        await _invalidated(conn, previous)
        previous = []
        await conn.execute(Q_PROGRESS_DONE, sha)
        elapsed = time.perf_counter() - t0
        say(f"import-enrollments: done: {ok_total} rows ok, {bad_total} rejected, {done_rows} rows read in this run "
            f"in {elapsed:.1f} s ({done_rows / max(1e-9, elapsed):,.0f} rows/s, {n_splits} splits)")
        return await _finish(conn, sha, report, bad_total, say)
    except (asyncpg.PostgresError, OSError) as exc:
        print(f"import-enrollments: {path}: failed: {exc}; run the same command again to resume", file=sys.stderr)
        return 1
    finally:
        if previous:  # committed rows: invalidate them whatever went wrong after
            await asyncio.gather(_invalidated(conn, previous), return_exceptions=True)
        if pending is not None:  # the parser thread may still be reading: let it finish first
            await asyncio.gather(pending, return_exceptions=True)
        if batches is not None:
            batches.close()
        if redis is not None:
            await redis.aclose()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


@dataclass
class SplitState:
    """What one split has learnt about the file so far."""
    all_new: bool = True  # every batch so far was only new persons (Q_STAGE_INSERT_NEW went through)


async def _apply_split(conn: asyncpg.Connection, sha: str, split: int, part: Part, last_line: int,
                       state: SplitState, *, crash: bool) -> tuple[int, int, list[str], int]:
    """One split of a batch in one transaction: stage, reject clashes, upsert, errors, the split's
    progress. (ok, rejected, stored persons changed, new persons.)

    A certno that already belongs to another stored person rejects its row. Such rows are rare,
    so the split first goes without looking for them (Q_STAGE_CERTNO_TAKEN is a certno probe per
    row): persons_certno_key then refuses the batch (unique_violation) if one is there, and the
    split is done again with the look-up, which rejects exactly those rows. A split whose rows
    give one psn_no two certnos looks first (only the last row of a person reaches the upsert, so
    the index would not see the other certno). A unique_violation from a concurrent writer that
    created one of these persons or enrollments after the split looked is handled the same way:
    done again, the look-ups see the other write."""
    look_first = part.certno_varies
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return await _apply_split_once(conn, sha, split, part, last_line, state, look_first=look_first,
                                           crash=crash)
        except asyncpg.UniqueViolationError as exc:
            if attempt == _ATTEMPTS:
                raise
            log.info("import split %d, batch ending on line %d: %s; again, looking up certnos first (%d)",
                     split, last_line, exc.constraint_name, attempt)
            look_first = True
    raise AssertionError("unreachable")


_ATTEMPTS = 3


async def _stage_source(payload: bytes):
    yield payload


async def _apply_split_once(conn: asyncpg.Connection, sha: str, split: int, part: Part, last_line: int,
                            state: SplitState, *, look_first: bool, crash: bool) -> tuple[int, int, list[str], int]:
    errors = list(part.errors)
    async with conn.transaction():
        # Not waiting for the WAL flush is safe here: a batch lost in a PostgreSQL crash is lost
        # together with its progress row, so the resumed import simply applies it again.
        # The upsert finds or inserts every person in the statement that writes their
        # enrollments, so the enrollments' person check would only repeat its look-ups
        # (migration 0005).
        await conn.execute("SET LOCAL synchronous_commit = off; "
                           "SET LOCAL medsettle.enrollment_persons = 'found_in_statement'")
        ok = len(part.rows)
        changed: list[str] = []
        new_persons = 0
        if part.rows:
            await conn.copy_to_table("elig_stage", source=_stage_source(part.payload), columns=STAGE_COLUMNS,
                                     format="csv")
            taken = await conn.fetch(Q_STAGE_CERTNO_TAKEN) if look_first else ()
            if taken:
                await conn.execute(Q_STAGE_DROP, [r["line"] for r in taken])
                for r in taken:
                    errors.append((r["line"], "certno", f"certno already belongs to psn_no {r['psn_no']}"))
                ok -= len(taken)
            if state.all_new and not part.repeats and not look_first:
                try:
                    async with conn.transaction():  # a savepoint: a refusal keeps the stage
                        await conn.execute(Q_STAGE_INSERT_NEW)
                    new_persons = ok
                except asyncpg.UniqueViolationError as exc:
                    state.all_new = False  # for the rest of the file: most likely renewals or a mix
                    log.info("import split %d, batch ending on line %d: not only new persons (%s); upserting "
                             "from here on", split, last_line, exc.constraint_name)
            if not new_persons:
                written = await conn.fetch(Q_STAGE_UPSERT if part.repeats else Q_STAGE_UPSERT_ONCE)
                new_persons = sum(r["new_persons"] for r in written if r["psn_no"] is None)
                changed = [r["psn_no"] for r in written if r["psn_no"] is not None]
        if errors:
            await conn.copy_records_to_table("import_errors", schema_name="eligibility",
                                             records=[(sha, line, f, reason) for line, f, reason in errors],
                                             columns=("file_sha256", "line", "field", "reason"))
        bad_lines = len({line for line, _, _ in errors})
        await conn.execute(Q_PROGRESS_SPLIT, sha, split, last_line, ok, bad_lines)
        if crash:
            raise SimulatedCrash(f"simulated crash before committing split {split} of the batch ending on "
                                 f"line {last_line}")
    return ok, bad_lines, changed, new_persons


async def _invalidate(redis, changed: list[str], say) -> bool:
    """Drop the cache entries of persons whose rows committed; False if Redis could not be
    reached (the caller then asks the eligibility service to drop every entry)."""
    if not changed:
        return True
    if redis is not None:
        try:
            await invalidate_persons(redis, changed)
            return True
        except Exception as exc:
            say(f"import-enrollments: redis unreachable ({exc!r}); asking the eligibility service to invalidate all")
    return False


async def _invalidated(conn: asyncpg.Connection, tasks: list[asyncio.Future]) -> None:
    """Wait for invalidations; if any could not reach Redis, NOTIFY eligibility_changed "*"."""
    if tasks and not all(await asyncio.gather(*tasks)):
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
