"""Streaming bulk enrollment import (millions of rows at the centralized payment deadline).

    medsettle import-enrollments FILE.csv [--errors REPORT.csv] [--splits N] [--quiet]

CSV columns (REFERENCE_DATA.md), header required:
    psn_no,certno,name,gender,birthdate,pool,insutype,year,psn_type,benefit_start,benefit_end,status
UTF-8 (a leading BOM is skipped; bytes that are not UTF-8 reject their row), lines ending with
LF or CRLF, fields quoted as the csv module does when they need it.

How it works
- A process of its own (services/eligibility/import_reader.py) reads the file in batches
  (default 20,000 rows), one batch ahead of PostgreSQL. Each row is validated on its own (line
  number, field, reason); bad rows are rejected, good rows go on. A good, plainly written line
  is checked on its bytes by one regular expression and a few comparisons and staged as it is.
- Each batch is divided into splits by a hash of psn_no (default 2: one PostgreSQL backend per
  core), applied side by side over one connection each; every row of one person goes through
  the same split, in file order. A split is COPY'd (csv) into a temporary staging table, then
  (the statements are import_repository.py's):
  - while every batch of the split has been new persons only, persons and enrollments are
    inserted as they are (Q_STAGE_INSERT_NEW); the first batch a unique index refuses is rolled
    back to a savepoint and the split upserts from then on;
  - the upsert (Q_STAGE_UPSERT_ONCE, or Q_STAGE_UPSERT when a psn_no comes twice) looks up each
    person and enrollment once and writes only what differs: re-importing a file changes nothing.
  A certno that belongs to another stored person rejects its row (persons_certno_key refuses the
  batch, and the split is done again looking the certnos up first); within a batch, the first row
  that claims a certno keeps it.
- A split's rejected rows (eligibility.import_errors) and its progress (the batch's last line,
  eligibility.import_split_progress, keyed by the file's SHA-256 and the split) commit in the
  same transaction as its rows: after a crash, running the same command again re-reads from the
  smallest committed line, skips per split what that split already committed, applies nothing
  twice and reports every bad row exactly once. The number of splits is fixed by the first run
  of a file. `eligibility.import_status` shows each file's progress.
- After each split commits, the cache entries of every stored person whose rows it changed are
  invalidated in Redis (one Lua call per 5,000 persons), while the next batch is applied; new
  persons have no entry (an unknown person is never cached). If Redis cannot be reached, a
  NOTIFY eligibility_changed "*" tells the eligibility service to invalidate everyone instead.
- A progress line goes to stderr per batch; the error report CSV (line,field,reason) is written
  at the end from the database.

Exit code: 0 every row imported; 2 done, some rows rejected (see the error report); 1 the file
could not be imported (missing, wrong header, database error).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import multiprocessing
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import asyncpg

from services.eligibility.cache import invalidate_persons
from services.eligibility.import_reader import Batch, ImportFailed, Part, file_sha256, read_batches
from services.eligibility.import_repository import ImportRepository

log = logging.getLogger(__name__)

DEFAULT_BATCH = 20_000
DEFAULT_SPLITS = 2  # connections side by side; PostgreSQL gets a core each on a 2-core machine
MAX_SPLITS = 64
APPLICATION_NAME = "medsettle-import-enrollments"  # pg_stat_activity; the bench finds its backend by it


class _Reader:
    """The reader process (import_reader.read_batches) and the importer's end of its pipe."""

    def __init__(self, path: Path, pools: dict[str, frozenset[str]], *, batch_size: int, after: list[int]):
        ctx = multiprocessing.get_context("spawn")  # not fork: this process has threads and sockets
        self._pipe, theirs = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=read_batches, args=(theirs, str(path), pools, batch_size, after),
                                 name="medsettle-import-reader", daemon=True)
        self._proc.start()
        theirs.close()

    def next_batch(self) -> Batch | None:
        """The next batch, None at the end of the file (blocks: call it in a thread)."""
        try:
            kind, value = self._pipe.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            raise ImportFailed(f"the reader process ended unexpectedly (exit code {self._proc.exitcode})") from None
        if kind == "batch":
            return value
        if kind == "end":
            return None
        raise ImportFailed(value if kind == "failed" else f"reading the file failed: {value}")

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(10)

    def close(self) -> None:
        self._pipe.close()


class SimulatedCrash(RuntimeError):
    """Raised by the test hook `crash_in_batch`: the process dies in the middle of a batch."""


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
    return await _import_file(dsn, path, redis_url=redis_url, errors_path=errors_path, progress=progress,
                              batch_size=batch_size, splits=splits, crash_in_batch=crash_in_batch)


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
    reader: _Reader | None = None
    pending: asyncio.Future | None = None
    previous: Sequence[asyncio.Future[bool]] = []  # the last batch's cache invalidations
    repo = ImportRepository(conns[0])
    try:
        pools = await repo.pools()
        start = await repo.start(sha, str(path), splits or DEFAULT_SPLITS)
        n_splits = start.splits
        after = [r.last_line for r in start.split_progress]
        ok_total = sum(r.rows_ok for r in start.split_progress)
        bad_total = sum(r.rows_rejected for r in start.split_progress)
        if start.finished:
            say(f"import-enrollments: {path} (sha256 {sha[:12]}) was already imported: "
                f"{ok_total} rows ok, {bad_total} rejected; nothing to do")
            return await _finish(repo, sha, report, bad_total, say)
        if max(after) > 1:
            say(f"import-enrollments: resuming {path} after line {min(after)} "
                f"({ok_total} rows ok, {bad_total} rejected so far)")
        reader = _Reader(path, pools, batch_size=batch_size, after=after)
        pending = asyncio.ensure_future(asyncio.to_thread(reader.next_batch))
        more = await asyncio.gather(*(asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
                                      for _ in range(n_splits - 1)), return_exceptions=True)
        conns += [c for c in more if isinstance(c, asyncpg.Connection)]  # closed in `finally` either way
        for c in more:
            if isinstance(c, BaseException):
                raise c
        repos = [ImportRepository(c) for c in conns]
        await asyncio.gather(*(r.create_stage() for r in repos))
        states = [SplitState() for _ in repos]
        t0 = time.perf_counter()
        done_rows = 0
        n = 0
        while True:
            batch = await pending
            if batch is None:
                break
            # The reader process reads the next batch while PostgreSQL applies this one.
            pending = asyncio.ensure_future(asyncio.to_thread(reader.next_batch))
            n += 1
            crash = n_splits - 1 if crash_in_batch == n else None
            results = await asyncio.gather(
                *(_apply_split(repos[k], sha, k, part, batch.last_line, states[k], crash=(crash == k))
                  for k, part in enumerate(batch.parts)),
                return_exceptions=True)
            # Invalidate what committed while the next batch is applied (and before a failure is
            # reported); what the previous batch's invalidation could not reach, the service drops.
            invalidating = [asyncio.ensure_future(_invalidate(redis, r[2], say)) for r in results
                            if not isinstance(r, BaseException) and r[2]]
            await _invalidated(repo, previous)
            previous = invalidating
            for r in results:  # every split that could commit has committed
                if isinstance(r, BaseException):
                    raise r
            # No exception is left among the results: the loop above raised the first one.
            applied = cast("list[tuple[int, int, list[str], int]]", results)
            ok_total += sum(r[0] for r in applied)
            bad_total += sum(r[1] for r in applied)
            changed = sum(len(r[2]) for r in applied)
            added = sum(r[3] for r in applied)
            done_rows += batch.seen
            rate = done_rows / max(1e-9, time.perf_counter() - t0)
            say(f"import-enrollments: line {batch.last_line}: {ok_total} ok, {bad_total} rejected, "
                f"{added} new and {changed} changed persons in this batch, {rate:,.0f} rows/s")
        await _invalidated(repo, previous)
        previous = []
        await repo.finish(sha)
        elapsed = time.perf_counter() - t0
        say(f"import-enrollments: done: {ok_total} rows ok, {bad_total} rejected, {done_rows} rows read in this run "
            f"in {elapsed:.1f} s ({done_rows / max(1e-9, elapsed):,.0f} rows/s, {n_splits} splits)")
        return await _finish(repo, sha, report, bad_total, say)
    except ImportFailed as exc:
        print(f"import-enrollments: {path}: {exc}", file=sys.stderr)
        return 1
    except (asyncpg.PostgresError, OSError) as exc:
        print(f"import-enrollments: {path}: failed: {exc}; run the same command again to resume", file=sys.stderr)
        return 1
    finally:
        if previous:  # committed rows: invalidate them whatever went wrong after
            await asyncio.gather(_invalidated(repo, previous), return_exceptions=True)
        if reader is not None:  # stopping it ends the thread that waits for its next batch
            await asyncio.to_thread(reader.stop)
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
        if reader is not None:
            reader.close()
        if redis is not None:
            await redis.aclose()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


@dataclass
class SplitState:
    """What one split has learnt about the file so far."""
    all_new: bool = True  # every batch so far was only new persons (Q_STAGE_INSERT_NEW went through)


async def _apply_split(repo: ImportRepository, sha: str, split: int, part: Part, last_line: int,
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
            return await _apply_split_once(repo, sha, split, part, last_line, state, look_first=look_first,
                                           crash=crash)
        except asyncpg.UniqueViolationError as exc:
            if attempt == _ATTEMPTS:
                raise
            log.info("import split %d, batch ending on line %d: %s; again, looking up certnos first (%d)",
                     split, last_line, exc.constraint_name, attempt)
            look_first = True
    raise AssertionError("unreachable")


_ATTEMPTS = 3


async def _apply_split_once(repo: ImportRepository, sha: str, split: int, part: Part, last_line: int,
                            state: SplitState, *, look_first: bool, crash: bool) -> tuple[int, int, list[str], int]:
    errors = list(part.errors)
    async with repo.transaction():
        await repo.begin_split()  # (import_repository.Q_SPLIT_SETTINGS: why that is safe)
        ok = part.staged
        changed: list[str] = []
        new_persons = 0
        if part.staged:
            await repo.stage(part.payload)
            taken = await repo.certnos_taken() if look_first else ()
            if taken:
                await repo.drop_staged([t.line for t in taken])
                for t in taken:
                    errors.append((t.line, "certno", f"certno already belongs to psn_no {t.owner}"))
                ok -= len(taken)
            inserted = False
            if state.all_new and not part.repeats and not look_first:
                try:
                    await repo.insert_new()  # a savepoint: a refusal keeps the stage
                    inserted, new_persons = True, ok
                except asyncpg.UniqueViolationError as exc:
                    state.all_new = False  # for the rest of the file: most likely renewals or a mix
                    log.info("import split %d, batch ending on line %d: not only new persons (%s); upserting "
                             "from here on", split, last_line, exc.constraint_name)
            if not inserted:
                new_persons, changed = await repo.upsert(repeats=part.repeats)
        if errors:
            await repo.record_errors(sha, errors)
        bad_lines = len({line for line, _, _ in errors})
        await repo.record_split_progress(sha, split, last_line, ok, bad_lines)
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
        except Exception as exc:  # noqa: BLE001 - Redis down: fall back to invalidating everything
            say(f"import-enrollments: redis unreachable ({exc!r}); asking the eligibility service to invalidate all")
    return False


async def _invalidated(repo: ImportRepository, tasks: Sequence[asyncio.Future[bool]]) -> None:
    """Wait for invalidations; if any could not reach Redis, NOTIFY eligibility_changed "*"."""
    if tasks and not all(await asyncio.gather(*tasks)):
        await repo.notify_everyone()


async def _finish(repo: ImportRepository, sha: str, report: Path, bad_total: int, say) -> int:
    if bad_total == 0:
        return 0
    rows = await repo.errors(sha)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("line", "field", "reason"))
    w.writerows(rows)
    await asyncio.to_thread(report.write_text, buf.getvalue(), encoding="utf-8")
    say(f"import-enrollments: {bad_total} rows rejected; error report: {report}")
    return 2
