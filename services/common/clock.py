"""The business clock: Beijing time (Asia/Shanghai), whatever the host's zone (docs/RULES.md §9).

Every field, id, date rule and month boundary is in Beijing time. China has kept UTC+8 without
daylight saving since 1991, so a fixed offset is exact and needs no tz database on the host.

Each process's composition root builds ONE `Clock` and hands it (or its bound methods) to what
needs the time; tests pass their own (`Clock.fixed(...)`). Nothing else in
the code base reads the wall clock for business purposes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")


class Clock:
    """Wall-clock time as a source of seconds since the epoch, read in Beijing time."""

    __slots__ = ("_source",)

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source

    @classmethod
    def fixed(cls, at: dt.datetime) -> Clock:
        """A clock that always says `at` (naive values are taken as Beijing time)."""
        ts = as_beijing(at).timestamp()
        return cls(lambda: ts)

    def timestamp(self) -> float:
        return self._source()

    def now(self) -> dt.datetime:
        """Aware datetime in Beijing time."""
        return dt.datetime.fromtimestamp(self._source(), BEIJING)

    def today(self) -> dt.date:
        """The business date in Beijing."""
        return self.now().date()

    def naive_now(self) -> dt.datetime:
        """Beijing wall-clock time without tzinfo: what HIS fields ('yyyy-MM-dd HH:mm:ss') carry."""
        return self.now().replace(tzinfo=None)


def as_beijing(t: dt.datetime) -> dt.datetime:
    """Naive values are Beijing wall-clock time; aware ones are converted."""
    return t.replace(tzinfo=BEIJING) if t.tzinfo is None else t.astimezone(BEIJING)


def system_clock() -> Clock:
    """The clock a composition root builds for a real process."""
    return Clock()
