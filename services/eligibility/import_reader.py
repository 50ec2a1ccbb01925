"""Reading a bulk enrollment CSV: validation of each row, the division of a batch into splits, and
the COPY input for the stage (services/eligibility/bulk_import.py applies it).

Pure Python with no database or network imports, because the importer runs it in a process of
its own (`read_batches`): in a thread, the reader held the GIL whenever the event loop had a
PostgreSQL reply to answer, and sampling pg_stat_activity during an import showed the backends
waiting for the client (idle in transaction, or for COPY data) ~38% of the time.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import gc
import hashlib
import re
import signal
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from services.common.ids import valid_certno

COLUMNS = ("psn_no", "certno", "name", "gender", "birthdate", "pool", "insutype", "year", "psn_type",
           "benefit_start", "benefit_end", "status")

_STATUSES = frozenset(("active", "paused", "lapsed", "terminated"))
_PSN_TYPES = {"310": frozenset(("employee", "retired")), "390": frozenset(("resident",))}


class ImportFailed(RuntimeError):
    """The file cannot be imported (nothing of it is applied in this run)."""


@dataclass
class Part:
    """The rows of one batch that go through one split."""
    rows: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # (line, psn_no, certno) staged
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)  # the rows as COPY csv input (while reading)
    payload: bytes = b""  # ... joined, once the batch is read
    staged: int = 0  # rows in payload (rows is left behind when a batch crosses to the importer)
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
    undecodable = [(line, f, f"not valid UTF-8: {_shown(v)}") for f, v in zip(COLUMNS, fields, strict=True) if _SURROGATE(v)]
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
        self._f = open(path, "rb")  # noqa: SIM115 - held until close(), across batches
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
            part.staged = len(part.rows)
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


def read_batches(pipe, path: str, pools: dict[str, frozenset[str]], batch_size: int, after: list[int]) -> None:
    """The reader process: send ("batch", Batch) for each batch, then ("end", None); or ("failed",
    message) for a file that cannot be read (wrong header), ("error", message) for anything else.
    A send waits while the importer still holds the batch before: the reader stays one batch ahead."""
    # Ctrl-C at the terminal reaches this process too: the importer stops it (_Reader.stop)
    # instead, so that the operator sees the importer's message, not this process's traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A batch keeps ~20,000 small objects alive until it is sent, and the cycle collector's
    # default thresholds made it walk them again and again (~1 µs of ~8 a row).
    gc.set_threshold(100_000, 50, 100)
    try:
        batches = CsvBatches(Path(path), pools, batch_size=batch_size, after=after)
    except ImportFailed as exc:
        pipe.send(("failed", str(exc)))
        return
    except OSError as exc:
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        while (b := batches.next_batch()) is not None:
            for part in b.parts:
                part.rows = []  # the importer needs their number (part.staged), not each one
            pipe.send(("batch", b))
        pipe.send(("end", None))
    except BrokenPipeError:
        pass  # the importer stopped
    except Exception as exc:  # noqa: BLE001 - reported by the importer
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        batches.close()
