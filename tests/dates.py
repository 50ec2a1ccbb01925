"""Dates for tests, relative to this year in Beijing (docs/RULES.md §9: nothing assumes one year).

The demo document (infra/reference/make_demo.py) holds last year, this year and next year for the
Beijing year it is built in; tests that read it, or that meet the real clock, take their dates
from here so that they pass on any date, across New Year included. Tests that inject their own
'today' derive it from THIS_YEAR as well, keeping the month and day they always used.

THIS_YEAR is read once, at import: a test run that straddles Beijing midnight on 31 December
still sees one year throughout.
"""

from __future__ import annotations

import datetime as dt

from services.common.clock import Clock

THIS_YEAR: int = Clock().today().year
LAST_YEAR: int = THIS_YEAR - 1
NEXT_YEAR: int = THIS_YEAR + 1


def year(offset: int = 0) -> int:
    """THIS_YEAR + offset."""
    return THIS_YEAR + offset


def day(md: str, offset: int = 0) -> str:
    """'MM-DD' (or 'MM-DD HH:MM:SS') of this year (+ offset) as an ISO string: day('05-01') -> f'{THIS_YEAR}-05-01'."""
    return f"{THIS_YEAR + offset}-{md}"


def date(m: int, d: int, offset: int = 0) -> dt.date:
    """dt.date of month m, day d of this year (+ offset)."""
    return dt.date(THIS_YEAR + offset, m, d)


def month(m: int, offset: int = 0) -> str:
    """'YYYY-MM' of month m of this year (+ offset)."""
    return f"{THIS_YEAR + offset}-{m:02d}"


def ym(m: int, offset: int = 0) -> str:
    """'YYYYMM' of month m of this year (+ offset), as clearing months are written."""
    return f"{THIS_YEAR + offset}{m:02d}"
