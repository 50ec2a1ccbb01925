"""Storage of the bulk enrollment import (bulk_import.py): the named queries of its staging
table, its upserts and its progress, over one of the importer's own connections each.

Each split of a batch is one transaction on its connection (`transaction()`, opened by the
importer): stage the split's rows (COPY), reject certnos held by another person, write persons
and enrollments, record rejected rows and the split's progress. The statements are written for
speed (docs/PERFORMANCE.md): the comments say why each is shaped as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.eligibility.import_reader import COLUMNS
from services.eligibility.repository import NOTIFY_CHANNEL

STAGE_TABLE = "elig_stage"
STAGE_COLUMNS = ("line",) + COLUMNS

Q_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS elig_stage (
    line bigint NOT NULL, psn_no text COLLATE "C" NOT NULL, certno text COLLATE "C" NOT NULL, name text NOT NULL,
    gender text NOT NULL, birthdate date NOT NULL, pool text COLLATE "C" NOT NULL, insutype text COLLATE "C" NOT NULL,
    year integer NOT NULL, psn_type text NOT NULL, benefit_start date NOT NULL, benefit_end date NOT NULL, status text NOT NULL
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
# The writes, from `c` (staged persons; same: NULL new, true unchanged, false changed) and `e`
# (staged enrollments, likewise; existed: their person was stored before).
_STAGE_WRITES = """
p_new AS (
  INSERT INTO eligibility.persons (psn_no, certno, name, gender, birthdate)
  SELECT psn_no, certno, name, gender, birthdate FROM c WHERE same IS NULL
), p_changed AS (
  INSERT INTO eligibility.persons AS t (psn_no, certno, name, gender, birthdate)
  SELECT psn_no, certno, name, gender, birthdate FROM c WHERE NOT same
  ON CONFLICT (psn_no) DO UPDATE SET certno = excluded.certno, name = excluded.name, gender = excluded.gender,
         birthdate = excluded.birthdate, updated_at = now()
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
)"""
# Is the stored enrollment the staged one (s)? NULL: there is none.
_ENROLLMENT_SAME = """(SELECT (x.psn_type, x.benefit_start, x.benefit_end, x.status, x.status_from)
                 IS NOT DISTINCT FROM (s.psn_type, s.benefit_start, s.benefit_end, s.status, NULL::date)
            FROM eligibility.enrollments x
           WHERE x.psn_no = s.psn_no AND x.pool = s.pool AND x.insutype = s.insutype AND x.year = s.year)"""
# Is the stored person the staged one (s)? NULL: there is none.
_PERSON_SAME = """(SELECT (p.certno, p.name, p.gender, p.birthdate) = (s.certno, s.name, s.gender, s.birthdate)
            FROM eligibility.persons p WHERE p.psn_no = s.psn_no)"""
Q_STAGE_UPSERT = f"""
WITH c AS MATERIALIZED (
  SELECT s.psn_no, s.certno, s.name, s.gender, s.birthdate, {_PERSON_SAME} AS same
    FROM (SELECT DISTINCT ON (psn_no) psn_no, certno, name, gender, birthdate FROM elig_stage
           ORDER BY psn_no, line DESC) s
), e AS MATERIALIZED (
  SELECT s.*, c.same IS NOT NULL AS existed, CASE WHEN c.same IS NOT NULL THEN {_ENROLLMENT_SAME} END AS same
    FROM (SELECT DISTINCT ON (psn_no, pool, insutype, year) psn_no, pool, insutype, year, psn_type, benefit_start,
                 benefit_end, status FROM elig_stage ORDER BY psn_no, pool, insutype, year, line DESC) s
    JOIN c USING (psn_no)
), {_STAGE_WRITES}
SELECT NULL::text AS psn_no, count(*) AS new_persons FROM c WHERE same IS NULL
UNION ALL
(SELECT psn_no, NULL::bigint FROM c WHERE NOT same
 UNION
 SELECT psn_no, NULL::bigint FROM e WHERE e.same IS NOT TRUE AND e.existed)
"""
# The same when no psn_no comes twice in the split (the usual file: one row per person): no
# DISTINCT ON sorts, and each staged row is a person and its enrollment at once (`e` is a view
# of `c`).
Q_STAGE_UPSERT_ONCE = f"""
WITH c AS MATERIALIZED (
  SELECT s.*, CASE WHEN s.same IS NOT NULL THEN {_ENROLLMENT_SAME} END AS e_same
    FROM (SELECT s.*, {_PERSON_SAME} AS same FROM elig_stage s OFFSET 0) s
), e AS NOT MATERIALIZED (
  SELECT psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end, status, e_same AS same FROM c
), {_STAGE_WRITES}
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
Q_POOLS = "SELECT code, insutypes FROM reference.pools"
# Not waiting for the WAL flush is safe here: a batch lost in a PostgreSQL crash is lost together
# with its progress row, so the resumed import simply applies it again. The upsert finds or
# inserts every person in the statement that writes their enrollments, so the enrollments' person
# check would only repeat its look-ups (migration 0005).
Q_SPLIT_SETTINGS = ("SET LOCAL synchronous_commit = off; "
                    "SET LOCAL medsettle.enrollment_persons = 'found_in_statement'")
Q_NOTIFY_EVERYONE = "SELECT pg_notify($1, '*')"
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
UPDATE eligibility.import_split_progress SET last_line = greatest(last_line, $3), rows_ok = rows_ok + $4,
       rows_rejected = rows_rejected + $5, updated_at = now() WHERE file_sha256 = $1 AND split = $2
"""
Q_PROGRESS_DONE = "UPDATE eligibility.import_progress SET finished_at = now(), updated_at = now() WHERE file_sha256 = $1"
Q_ERRORS = "SELECT line, field, reason FROM eligibility.import_errors WHERE file_sha256 = $1 ORDER BY line, field"


@dataclass(frozen=True, slots=True)
class SplitProgress:
    split: int
    last_line: int  # every row of the split up to this line has committed
    rows_ok: int
    rows_rejected: int


@dataclass(frozen=True, slots=True)
class ImportProgress:
    splits: int  # fixed by the first run of a file
    finished: bool
    split_progress: tuple[SplitProgress, ...]


@dataclass(frozen=True, slots=True)
class CertnoTaken:
    line: int
    certno: str
    owner: str  # the psn_no that holds the certno


class ImportRepository:
    """The import's reads and writes over one connection."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    def transaction(self):
        return self.conn.transaction()

    # ------------------------------------------------------------------------- the file

    async def pools(self) -> dict[str, frozenset[str]]:
        """Pool code -> the insurance types it carries (what a row is checked against)."""
        return {r["code"]: frozenset(r["insutypes"]) for r in await self.conn.fetch(Q_POOLS)}

    async def start(self, sha: str, path: str, splits: int) -> ImportProgress:
        """Register the file (or find it registered) and its splits, in one transaction."""
        async with self.conn.transaction():
            start = await self.conn.fetchrow(Q_PROGRESS_START, sha, path, splits)
            await self.conn.execute(Q_SPLITS_START, sha, start["splits"])
            done = await self.conn.fetch(Q_SPLITS, sha)
        return ImportProgress(start["splits"], start["finished_at"] is not None, tuple(
            SplitProgress(r["split"], r["last_line"], r["rows_ok"], r["rows_rejected"]) for r in done))

    async def finish(self, sha: str) -> None:
        await self.conn.execute(Q_PROGRESS_DONE, sha)

    async def errors(self, sha: str) -> list[tuple[int, str, str]]:
        """(line, field, reason) of every rejected row of the file, in line order."""
        return [(r["line"], r["field"], r["reason"]) for r in await self.conn.fetch(Q_ERRORS, sha)]

    async def notify_everyone(self) -> None:
        """Ask the eligibility service to drop every cached person (NOTIFY eligibility_changed "*")."""
        await self.conn.execute(Q_NOTIFY_EVERYONE, NOTIFY_CHANNEL)

    # ------------------------------------------------------------------------- one split of a batch

    async def create_stage(self) -> None:
        await self.conn.execute(Q_CREATE_STAGE)

    async def begin_split(self) -> None:
        """The first statement of a split's transaction."""
        await self.conn.execute(Q_SPLIT_SETTINGS)

    async def stage(self, payload: bytes) -> None:
        """COPY the split's rows (csv lines of STAGE_COLUMNS: import_reader made them) into the stage."""
        await self.conn.copy_to_table(STAGE_TABLE, source=_source(payload), columns=STAGE_COLUMNS, format="csv")

    async def certnos_taken(self) -> list[CertnoTaken]:
        return [CertnoTaken(r["line"], r["certno"], r["psn_no"]) for r in await self.conn.fetch(Q_STAGE_CERTNO_TAKEN)]

    async def drop_staged(self, lines: Sequence[int]) -> None:
        await self.conn.execute(Q_STAGE_DROP, list(lines))

    async def insert_new(self) -> None:
        """Insert the staged rows as new persons and their first enrollments, in a savepoint: if a
        unique index refuses (a row is not new), UniqueViolationError is raised and the stage is
        kept for the upsert."""
        async with self.conn.transaction():
            await self.conn.execute(Q_STAGE_INSERT_NEW)

    async def upsert(self, *, repeats: bool) -> tuple[int, list[str]]:
        """Write the staged rows that differ from what is stored: (new persons, stored persons
        changed). `repeats`: a psn_no comes on more than one staged row."""
        written = await self.conn.fetch(Q_STAGE_UPSERT if repeats else Q_STAGE_UPSERT_ONCE)
        new_persons = sum(r["new_persons"] for r in written if r["psn_no"] is None)
        return new_persons, [r["psn_no"] for r in written if r["psn_no"] is not None]

    async def record_errors(self, sha: str, errors: Sequence[tuple[int, str, str]]) -> None:
        """The rejected rows (line, field, reason) of the split."""
        await self.conn.copy_records_to_table("import_errors", schema_name="eligibility",
                                              records=[(sha, line, f, reason) for line, f, reason in errors],
                                              columns=("file_sha256", "line", "field", "reason"))

    async def record_split_progress(self, sha: str, split: int, last_line: int, ok: int, rejected: int) -> None:
        await self.conn.execute(Q_PROGRESS_SPLIT, sha, split, last_line, ok, rejected)


async def _source(payload: bytes):
    yield payload
