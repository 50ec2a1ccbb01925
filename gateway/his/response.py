"""The NHSA response envelope. Every time in it is Beijing wall-clock time (docs/RULES.md §9): the
endpoint reads both instants from the process's one business clock and passes them in."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from typing import Any

from services.common.clock import BEIJING

_serial = itertools.count(1)
_PID = os.getpid() % 1000


def _beijing(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is None else t.astimezone(BEIJING).replace(tzinfo=None)


def _ms(t: dt.datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S") + f"{t.microsecond // 1000:03d}"


def refmsgid(admdvs: str, at: dt.datetime) -> str:
    """receiver admdvs(6) + yyyyMMddHHmmss(14) + serial(10). The serial is this process's counter
    behind a 3-digit process tag, so several gateway processes never hand out the same id."""
    adm = admdvs if len(admdvs) == 6 and admdvs.isdigit() else "000000"
    serial = f"{_PID:03d}{next(_serial) % 10**7:07d}"
    return adm + at.strftime("%Y%m%d%H%M%S") + serial


def envelope(*, ok: bool, output: Any, admdvs: str, received_at: dt.datetime, responded_at: dt.datetime,
             err_msg: str = "", warn_msg: str = "") -> dict[str, Any]:
    """received_at / responded_at: Beijing wall-clock times (naive, or aware and then converted)."""
    received_at, now = _beijing(received_at), _beijing(responded_at)
    return {
        "infcode": 0 if ok else -1,
        "inf_refmsgid": refmsgid(admdvs, received_at),
        "refmsg_time": _ms(received_at),
        "respond_time": _ms(now),
        "err_msg": err_msg,
        "warn_msg": warn_msg,
        "output": output if output is not None else {},
    }
