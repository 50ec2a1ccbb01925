"""Filing rules (DOMAIN.md §3 and §5 "Precise points"): pure, no I/O, no clock.

Which filing types exist and which group each belongs to, what makes a filing valid, when a
long-term filing may change, which filing covers a hospital's division on a visit date, and what
the settlement engine is told (region class, filed, filing group). Dates and the policy's numbers
come in as arguments; nothing here reads a region's number from a constant. The types and
the vocabulary are domain.py's.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Sequence

from services.engine import region_class
from services.engine.model import Pool
from services.filing.domain import (
    ACTIVE,
    EMERGENCY,
    INTER_PROVINCE,
    INTRA_PROVINCE,
    LOCAL,
    LONG_TERM,
    REFERRAL,
    REVOKED,
    SUPERSEDED,
    TEMPORARY,
    Filing,
    FilingRefused,
    Resolution,
)

# ----------------------------------------------------------------------------- vocabulary

FILING_GROUPS: dict[str, str] = {
    "retired_relocated": LONG_TERM,     # 异地安置退休
    "long_term_residence": LONG_TERM,   # 异地长期居住
    "stationed_work": LONG_TERM,        # 常驻异地工作
    "referral": REFERRAL,               # 异地转诊
    "temporary": TEMPORARY,             # 其他临时外出
}
FILING_TYPE_NAMES = {
    "retired_relocated": "异地安置退休", "long_term_residence": "异地长期居住",
    "stationed_work": "常驻异地工作", "referral": "异地转诊", "temporary": "其他临时外出",
}
# Several filings cover the same visit: long-term before referral before temporary.
GROUP_PRECEDENCE = {LONG_TERM: 0, REFERRAL: 1, TEMPORARY: 2}

# Long-term filings may not change within this many months of the filing date (DOMAIN.md §3:
# the national rule for long-term filings, not a regional parameter).
LONG_TERM_NO_CHANGE_MONTHS = 6

_DESTINATION_RE = re.compile(r"^[0-9]{2}(?:[0-9]{4})?$")
_DISEASE_RE = re.compile(r"^M[0-9]{5}$")
INSUTYPES = ("310", "390")


def _invalid(outcome: str, message: str, field: str) -> FilingRefused:
    return FilingRefused("invalid", outcome, message, field)


# ----------------------------------------------------------------------------- destinations


def dest_prefix(destination: str) -> str:
    """The admdvs prefix a destination covers: trailing "00" pairs dropped.

    "33" / "330000" → "33" (the province), "330600" → "3306" (the city), "330602" → itself."""
    if not isinstance(destination, str) or not _DESTINATION_RE.match(destination):
        raise _invalid("BAD_DESTINATION",
                       f"备案就医地 destination {destination!r} 无效：应为 2 位省份代码（如 33）或 6 位行政区划"
                       "代码（如 330000、330600、330602）。 / Bad destination: expected a 2-digit province code "
                       "(33) or a 6-digit division code (330000, 330600, 330602).", "filing.destination")
    prefix = destination
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    if prefix == "00":
        raise _invalid("BAD_DESTINATION",
                       f"备案就医地 destination {destination!r} 不是省份或行政区划。 / Destination "
                       f"{destination!r} names no province or division.", "filing.destination")
    return prefix


def destination_matches(destination: str, admdvs: str) -> bool:
    try:
        return admdvs.startswith(dest_prefix(destination))
    except FilingRefused:
        return False


def covers(filing: Filing, admdvs: str, day: dt.date) -> bool:
    """An active filing whose dates hold `day` and whose destination holds the division `admdvs`."""
    return (filing.status == ACTIVE and filing.begin <= day and (filing.end is None or day <= filing.end)
            and destination_matches(filing.destination, admdvs))


def destination_known(destination: str, known_admdvs: Iterable[str]) -> bool:
    """True when the destination's province is one the reference data knows (a division inside
    it need not be listed: a filing to a whole province or a city not yet loaded is valid)."""
    province = dest_prefix(destination)[:2]
    return any(a.startswith(province) for a in known_admdvs)


def destination_inside_pool(destination: str, pool: Pool) -> bool:
    """True when the destination is the insured pool's own ground: the division itself (padded to
    six digits: 330600 for "330600", 650000 for "65") is one of the pool's divisions. A city in
    its own pool, a union city in 长株潭, the whole region for 新疆's region-level pool 650000:
    the same pool never needs a filing."""
    return pool.holds(dest_prefix(destination).ljust(6, "0"))


# ----------------------------------------------------------------------------- validity


def group_of(filing_type: str) -> str:
    group = FILING_GROUPS.get(filing_type)
    if group is not None:
        return group
    if filing_type == EMERGENCY:
        raise _invalid("EMERGENCY_NEEDS_NO_FILING",
                       "急诊抢救视同已备案，无需办理备案；请按 med_type 13（急诊）结算。 / Emergency rescue is "
                       "deemed filed for the visit and needs no filing; settle with med_type 13.",
                       "filing.type")
    raise _invalid("UNKNOWN_FILING_TYPE",
                   f"备案类型 type {filing_type!r} 无效：应为 retired_relocated（异地安置退休）、long_term_residence"
                   "（异地长期居住）、stationed_work（常驻异地工作）、referral（异地转诊）或 temporary（其他临时"
                   f"外出）。 / Unknown filing type {filing_type!r}: use retired_relocated, long_term_residence, "
                   "stationed_work, referral or temporary.", "filing.type")


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's last day (31 Aug + 6 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_validity(filing_type: str, begin: dt.date, end: dt.date | None, min_temporary_days: int,
                   *, field_prefix: str = "filing.") -> str:
    """The group of a valid filing; refuse a bad date range or a too-short temporary filing.

    Long-term filings are open-ended (valid until revoked). Referral and temporary filings run
    at least the insured pool's `min_temporary_filing_days`, counting both end days."""
    group = group_of(filing_type)
    if group == LONG_TERM:
        if end is not None:
            raise _invalid("LONG_TERM_HAS_END",
                           f"{FILING_TYPE_NAMES[filing_type]}属长期备案，长期有效至撤销，不应填写结束日期 end。 / "
                           f"A {filing_type} filing is long-term (valid until revoked): leave end empty.",
                           field_prefix + "end")
        return group
    if end is None:
        raise _invalid("END_REQUIRED",
                       f"{FILING_TYPE_NAMES[filing_type]}备案须填写结束日期 end。 / A {filing_type} filing needs "
                       "an end date.", field_prefix + "end")
    if end < begin:
        raise _invalid("END_BEFORE_BEGIN",
                       f"备案结束日期 end {end} 早于开始日期 begin {begin}。 / The filing's end {end} is before "
                       f"its begin {begin}.", field_prefix + "end")
    days = (end - begin).days + 1
    if days < min_temporary_days:
        raise _invalid("FILING_TOO_SHORT",
                       f"{FILING_TYPE_NAMES[filing_type]}备案有效期至少 {min_temporary_days} 天（参保地政策），"
                       f"{begin} 至 {end} 只有 {days} 天；请延长结束日期 end。 / A {filing_type} filing must last "
                       f"at least {min_temporary_days} days (insured pool's policy); {begin}..{end} is {days} "
                       "days: extend end.", field_prefix + "end")
    return group


def check_change_allowed(filing: Filing, today: dt.date) -> None:
    """A long-term filing may not change within 6 months of its filing date."""
    if filing.status != ACTIVE:
        raise FilingRefused("refused", "FILING_NOT_ACTIVE",
                            f"备案 {filing.filing_id} 已{_STATUS_NAMES.get(filing.status, filing.status)}，不能变更。 / "
                            f"Filing {filing.filing_id} is {filing.status} and cannot be changed.", "filing_id")
    if filing.group != LONG_TERM:
        return
    filed_on = filing.filed_on or filing.begin
    allowed_from = add_months(filed_on, LONG_TERM_NO_CHANGE_MONTHS)
    if today < allowed_from:
        raise FilingRefused("refused", "CHANGE_TOO_SOON",
                            f"长期备案（{FILING_TYPE_NAMES.get(filing.type, filing.type)}）于 {filed_on} 办理，"
                            f"{LONG_TERM_NO_CHANGE_MONTHS} 个月内不得变更，{allowed_from} 起可变更。 / A long-term "
                            f"filing made on {filed_on} cannot be changed within {LONG_TERM_NO_CHANGE_MONTHS} "
                            f"months; it can be changed from {allowed_from}.", "filing_id")


_STATUS_NAMES = {REVOKED: "撤销", SUPERSEDED: "变更失效"}


def check_owner(caller_code: str, owner_code: str, filing_id: str) -> None:
    """A hospital may touch only the filings it sent; online (no caller code) acts for the person."""
    if caller_code and owner_code != caller_code:
        raise FilingRefused(
            "forbidden", "NOT_YOUR_FILING",
            f"备案 {filing_id} 不是本院（{caller_code}）办理的，不能撤销或变更；请由原备案医院或参保人"
            f"在线办理。 / Filing {filing_id} was not made by hospital {caller_code}: only the filing "
            "hospital or the person online can revoke or change it.", "filing_id")


def check_disease_code(code: str, field: str = "opsp_dise_code") -> None:
    if not isinstance(code, str) or not _DISEASE_RE.match(code):
        raise _invalid("BAD_DISEASE_CODE",
                       f"门慢特病病种编码 {field} {code!r} 无效，应形如 M03900。 / Bad chronic disease code "
                       f"{code!r}: expected a code like M03900.", field)


def check_insutype(insutype: str, field: str = "insutype") -> None:
    if insutype not in INSUTYPES:
        raise _invalid("BAD_INSUTYPE",
                       f"险种类型 {field} {insutype!r} 无效：应为 310（职工基本医疗保险）或 390（城乡居民基本医疗"
                       f"保险）。 / Bad insutype {insutype!r}: use 310 or 390.", field)


# ----------------------------------------------------------------------------- resolution


def choose_filing(filings: Sequence[Filing], admdvs: str, day: dt.date) -> Filing | None:
    """The filing that applies to a visit at `admdvs` on `day`: among the active ones covering
    both, long-term before referral before temporary; ties go to the latest begin, then the
    latest filing (so a deterministic choice, whatever order storage returns)."""
    covering = [f for f in filings if covers(f, admdvs, day)]
    if not covering:
        return None
    return min(covering, key=lambda f: (GROUP_PRECEDENCE[f.group], -f.begin.toordinal(),
                                        _neg_str(f.filing_id)))


def _neg_str(s: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in s)


def not_filed_message(hospital_admdvs: str, visit_date: dt.date, region: str) -> str:
    where = "跨省" if region == INTER_PROVINCE else "省内异地"
    return (f"参保人无覆盖就医地 {hospital_admdvs} 和就医日期 {visit_date} 的有效异地就医备案，不能{where}直接结算。"
            "请由医院发送 2501 转诊备案，或参保人通过国家医保服务平台 APP/微信小程序在线备案；备案可在结算前"
            "补办，补办后重新结算。急诊抢救请按 med_type 13 结算。 / No active cross-region filing covers "
            f"{hospital_admdvs} on {visit_date}: send a 2501 referral filing from the hospital, or file online "
            "in the national medical insurance app; a filing made before settling applies (retro-filing). For "
            "emergency rescue settle with med_type 13.")


def resolve(insured_pool: Pool, hospital_admdvs: str, visit_date: dt.date, filings: Sequence[Filing], *,
            emergency: bool, intra_province_requires_filing: bool) -> Resolution:
    """Region class and filing group for one visit.

    Same pool (a city, a union like 长株潭, a region-level pool like 新疆 650000) → local, no
    filing. An active covering filing always wins (also over emergency, and intra-province it
    carries its group's adjustment). Without one: inter-province (or intra-province where the
    insured pool requires filing) is filed only for an emergency; intra-province otherwise needs
    nothing and gets the pool's intra_province adjustment (group "")."""
    region = region_class(insured_pool, hospital_admdvs)
    if region == LOCAL:
        return Resolution(LOCAL, True, "")
    chosen = choose_filing(filings, hospital_admdvs, visit_date)
    if chosen is not None:
        return Resolution(region, True, chosen.group, chosen.filing_id)
    if region == INTRA_PROVINCE and not intra_province_requires_filing:
        return Resolution(region, True, "")
    if emergency:
        return Resolution(region, True, EMERGENCY)
    return Resolution(region, False, "", "", not_filed_message(hospital_admdvs, visit_date, region))


def parse_date(value: str, field: str) -> dt.date:
    """A "YYYY-MM-DD" date from the wire, or a refusal naming the field."""
    try:
        if isinstance(value, str) and len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise _invalid("BAD_DATE", f"日期 {field} {value!r} 无效，应为 YYYY-MM-DD。 / {field} {value!r} is not a "
                   "date: expected YYYY-MM-DD.", field)


def required(value: str, field: str, what: str) -> str:
    if not value:
        raise _invalid("FIELD_REQUIRED", f"缺少 {field}（{what}）。 / {field} is required.", field)
    return value
