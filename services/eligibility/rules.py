"""Eligibility rules (DOMAIN.md §2): pure functions over plain data. No I/O, no clock.

- `benefit_start`: when benefits begin for an enrollment, from the pool's enrollment rules and
  the policy's `waiting_days` (data, passed in);
- `choose_enrollment`: which enrollment a settlement on a date uses (active, benefit range
  holds the date; duplicates → the earliest benefit_start, flagged), or the named reason why
  there is none;
- `age_on`, `insu_status`: what 1101 shows of a person on a date.
The types they work on are domain.py's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from services.common.ids import valid_certno  # noqa: F401  (re-exported: the check digit lives there)
from services.eligibility.domain import Choice, Enrollment, Person
from services.engine import model as engine_model

ENROLLMENT_KINDS = ("in_period", "newborn", "low_income", "switcher", "other")
NO_WAITING_KINDS = ("newborn", "low_income", "switcher")
STATUSES = ("active", "paused", "lapsed", "terminated")
PSN_TYPES = ("employee", "retired", "resident")
INSUTYPES = ("310", "390")

# Named outcomes of a date on which the person may not receive benefits.
NOT_ENROLLED = "NOT_ENROLLED"
WAITING_PERIOD = "WAITING_PERIOD"
LAPSED = "LAPSED"
PAUSED = "PAUSED"
TERMINATED = "TERMINATED"


class RuleError(ValueError):
    """A caller's input the rules cannot apply to; names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# ----------------------------------------------------------------------------- benefit start


def benefit_start(*, kind: str, year: int, paid_date: dt.date, waiting_days: int,
                  payment_period_end: dt.date | None = None) -> dt.date:
    """First day of benefits for an enrollment in `year` whose contribution was paid on `paid_date`.

    - paid within the centralized payment period (by `payment_period_end`, default 31 December
      of the year before) → 1 January of the covered year, whatever the kind;
    - newborn / low-income / switcher from employee insurance → the first day of the month of
      enrollment (no waiting period, seed 002);
    - anyone else → paid_date + the pool's waiting_days.
    Never before 1 January of the covered year (paying early does not start benefits early).
    """
    if kind not in ENROLLMENT_KINDS:
        raise RuleError("enrollment_kind",
                        f"参保类别无效 (enrollment_kind must be one of {', '.join(ENROLLMENT_KINDS)}; got {kind!r})")
    if waiting_days < 0:
        raise RuleError("waiting_days", f"waiting_days must be >= 0, got {waiting_days}")
    year_start = dt.date(year, 1, 1)
    period_end = payment_period_end or dt.date(year - 1, 12, 31)
    if paid_date <= period_end:
        return year_start
    if kind == "in_period":
        raise RuleError("paid_date", f"缴费日期 {paid_date.isoformat()} 已过集中缴费期 (截至 {period_end.isoformat()}), "
                                     f"参保类别不能为 in_period (the contribution was paid after the centralized payment "
                                     f"period ended on {period_end.isoformat()}; use enrollment_kind other, newborn, "
                                     f"low_income or switcher)")
    start = paid_date.replace(day=1) if kind in NO_WAITING_KINDS else paid_date + dt.timedelta(days=waiting_days)
    return max(start, year_start)


# ----------------------------------------------------------------------------- choosing the enrollment


def _order(e: Enrollment) -> tuple[dt.date, str]:
    return (e.benefit_start, e.pool)


def duplicates(enrollments: Iterable[Enrollment], insutype: str, year: int) -> list[Enrollment]:
    """Active enrollments for (insutype, year) when there are two or more (重复参保), else []."""
    same = [e for e in enrollments if e.insutype == insutype and e.year == year and e.status == "active"]
    return sorted(same, key=_order) if len(same) > 1 else []


def choose_enrollment(enrollments: Iterable[Enrollment], insutype: str, day: dt.date) -> Choice:
    rows = [e for e in enrollments if e.insutype == insutype]
    dup = bool(duplicates(rows, insutype, day.year))
    covering = sorted((e for e in rows if e.active_on(day)), key=_order)
    if covering:
        # DOMAIN.md precise points: with duplicates, the one with the earliest benefit_start.
        return Choice(enrollment=covering[0], duplicate=dup or len(covering) > 1)

    this_year = sorted((e for e in rows if e.year == day.year or e.benefit_start <= day <= e.benefit_end), key=_order)
    d = day.isoformat()
    if not this_year:
        return Choice(None, dup, NOT_ENROLLED,
                      f"未参保: {day.year} 年无 {insutype} 险种参保记录 "
                      f"(not enrolled in insurance type {insutype} for {day.year})")
    in_range = [e for e in this_year if e.benefit_start <= day <= e.benefit_end]
    if in_range:  # the range holds the date but the status does not allow benefits
        e = in_range[0]
        since = e.status_from.isoformat() if e.status_from else e.benefit_start.isoformat()
        if e.status == "paused":
            return Choice(None, dup, PAUSED, f"参保暂停: 自 {since} 起暂停参保, {d} 不能享受待遇 "
                                             f"(insurance paused since {since}; no benefits on {d})", e)
        if e.status == "terminated":
            return Choice(None, dup, TERMINATED, f"参保已终止: 自 {since} 起终止 "
                                                 f"(insurance terminated since {since}; no benefits on {d})", e)
        return Choice(None, dup, LAPSED, f"参保已中断: 自 {since} 起断缴 "
                                         f"(insurance lapsed since {since}; no benefits on {d})", e)
    waiting = [e for e in this_year if e.status == "active" and e.benefit_start > day]
    if waiting:
        e = waiting[0]
        s = e.benefit_start.isoformat()
        return Choice(None, dup, WAITING_PERIOD, f"待遇等待期: 待遇自 {s} 起享受, {d} 尚在等待期 "
                                                 f"(waiting period: benefits start on {s}; {d} is before that)", e)
    e = max(this_year, key=lambda x: x.benefit_end)
    end = e.benefit_end.isoformat()
    return Choice(None, dup, LAPSED, f"待遇已到期: 参保待遇截至 {end} (benefits ended on {end}; no benefits on {d})", e)


# ----------------------------------------------------------------------------- derived views


def age_on(birthdate: dt.date, day: dt.date) -> int:
    return day.year - birthdate.year - ((day.month, day.day) < (birthdate.month, birthdate.day))


def insu_status(e: Enrollment, day: dt.date) -> str:
    """psn_insu_stas: "1" active, "2" paused, "4" terminated/lapsed (on `day`)."""
    if e.active_on(day) or (e.status == "active" and day < e.benefit_start):
        return "1"
    if e.status == "paused":
        return "2"
    return "4" if e.status != "active" or day > e.benefit_end else "1"


def engine_snapshot(p: Person, choice: Choice, insutype: str, day: dt.date) -> engine_model.PersonSnapshot | None:
    """The engine's PersonSnapshot for an eligible choice (identities/chronic as stored)."""
    e = choice.enrollment
    if e is None:
        return None
    return engine_model.PersonSnapshot(
        psn_no=p.psn_no, name=p.name, insutype=insutype, psn_type=e.psn_type, insured_pool=e.pool,
        identities=tuple(engine_model.Identity(i.type, i.begin, i.end) for i in p.identities),
        chronic=tuple(engine_model.ChronicQualification(c.code, c.begin, c.end, c.hospital) for c in p.chronic),
        account_balance_fen=p.account_balance_fen, cvlserv=p.cvlserv,
    )
