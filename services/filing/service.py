"""The filing service layer: each use case in one transaction, over the repositories and rules.

HIS operations carry a Caller (fixmedins_code, msgid): the message row is claimed first in the
transaction that does the work, so a retry with the same body gets the stored reply, a
different body under the same msgid is refused (MSGID_CONFLICT), and a 2601 reversal finds what
the original message did. Chronic filings create / end the eligibility service's qualification
BEFORE the transaction commits (an eligibility refusal leaves nothing stored); every change
invalidates the person's cached eligibility snapshot before the reply goes back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import grpc

from medsettle.eligibility.v1 import eligibility_pb2
from services.common.clock import BEIJING, Clock
from services.common.grpcutil import Refusal, is_refusal, refusal_from_rpc_error
from services.engine.model import Policy, Pool
from services.filing import repository as repo
from services.filing.rules import (
    ACTIVE,
    LONG_TERM,
    REVOKED,
    SUPERSEDED,
    ChronicFiling,
    Filing,
    FilingRefused,
    Resolution,
    check_change_allowed,
    check_disease_code,
    check_insutype,
    check_validity,
    dest_prefix,
    destination_inside_pool,
    destination_known,
    group_of,
    parse_date,
    required,
    resolve,
)

log = logging.getLogger(__name__)

CHINA = BEIJING


def china_today() -> dt.date:
    """The business date: settlements and filings are dated in China time, whatever the host's zone."""
    return Clock().today()


# ----------------------------------------------------------------------------- ports


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a HIS transaction; empty fixmedins_code for online self-service filing."""

    fixmedins_code: str = ""
    msgid: str = ""
    infno: str = ""
    opter: str = ""


class ReferenceData(Protocol):
    """What the filing rules need of the reference cache (services.refdata.cache.ReferenceCache)."""

    def pool(self, code: str) -> Pool | None: ...
    def pools(self) -> Any: ...
    def policy(self, pool: str, insutype: str, year: int) -> Policy | None: ...


class Eligibility(Protocol):
    """The eligibility service as the filing service uses it (EligibilityClient over gRPC)."""

    async def insured_pool(self, psn_no: str, insutype: str, on_date: dt.date) -> str: ...
    async def grant_chronic(self, psn_no: str, code: str, begin: dt.date, end: dt.date | None,
                            hospital: str) -> str: ...
    async def revoke_chronic(self, psn_no: str, code: str, end: dt.date) -> None: ...
    async def invalidate_person(self, psn_no: str) -> None: ...


# ----------------------------------------------------------------------------- reply codecs
#
# Stored replies (filing.messages.reply) are the domain objects as JSON, so a replay returns
# exactly what the first call returned.


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _filing_to_json(f: Filing) -> dict[str, Any]:
    return {k: _jsonable(getattr(f, k)) for k in Filing.__slots__}


def _filing_from_json(d: dict[str, Any]) -> Filing:
    def date(v):
        return None if v is None else dt.date.fromisoformat(v)

    def stamp(v):
        return None if v is None else dt.datetime.fromisoformat(v)

    return Filing(**{**d, "begin": date(d["begin"]), "end": date(d["end"]), "filed_on": date(d["filed_on"]),
                     "created_at": stamp(d["created_at"]), "revoked_at": stamp(d["revoked_at"])})


def _chronic_to_json(c: ChronicFiling) -> dict[str, Any]:
    return {k: _jsonable(getattr(c, k)) for k in ChronicFiling.__slots__}


def _chronic_from_json(d: dict[str, Any]) -> ChronicFiling:
    return ChronicFiling(**{**d, "begndate": dt.date.fromisoformat(d["begndate"]),
                            "enddate": None if d["enddate"] is None else dt.date.fromisoformat(d["enddate"])})


@dataclass(frozen=True, slots=True)
class Reversal:
    filing_id: str
    status: str  # revoked (a 2501 undone) | cancelled (a 2503 undone)
    psn_no: str = ""


def _fingerprint(kind: str, **fields: Any) -> str:
    body = json.dumps({"kind": kind, **{k: _jsonable(v) for k, v in fields.items()}}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def new_filing_id(today: dt.date) -> str:
    return f"F{today:%Y%m%d}{uuid.uuid4().hex[:15].upper()}"


def new_chronic_id(today: dt.date) -> str:
    return f"C{today:%Y%m%d}{uuid.uuid4().hex[:15].upper()}"


# ----------------------------------------------------------------------------- the service


@dataclass(frozen=True, slots=True)
class FilingSpec:
    """A new filing as a caller asks for it (CreateFiling / 2501 / online)."""

    psn_no: str
    insutype: str
    type: str
    destination: str
    begin: str
    end: str = ""
    insured_pool: str = ""
    diag_code: str = ""
    diag_name: str = ""


class FilingService:
    def __init__(self, pool: asyncpg.Pool, reference: ReferenceData, eligibility: Eligibility, *,
                 clock: Callable[[], dt.date] = china_today) -> None:
        self._pool = pool
        self._ref = reference
        self._elig = eligibility
        self._today = clock
        self._filings = repo.FilingRepository()
        self._chronic = repo.ChronicRepository()
        self._messages = repo.MessageRepository()

    # ------------------------------------------------------------------ idempotent unit of work

    async def _once(self, caller: Caller, kind: str, psn_no: str, fingerprint: str,
                    work: Callable[[asyncpg.Connection], Awaitable[tuple[Any, str]]],
                    encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> Any:
        """Run `work` in one transaction, at most once per (fixmedins_code, msgid)."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                if caller.msgid:
                    claimed = await self._messages.claim(conn, caller.fixmedins_code, caller.msgid, caller.infno,
                                                         kind, fingerprint, psn_no)
                    if not claimed:
                        prior = await self._messages.get(conn, caller.fixmedins_code, caller.msgid)
                        if prior["kind"] != kind or prior["fingerprint"] != fingerprint:
                            raise FilingRefused(
                                "conflict", "MSGID_CONFLICT",
                                f"报文 ID msgid {caller.msgid} 已用于另一笔内容不同的交易（{prior['infno'] or prior['kind']}）；"
                                "新交易请使用新的 msgid。 / msgid already used for a different transaction; send a "
                                "new transaction with a new msgid.", "msgid")
                        return decode(prior["reply"])
                result, filing_id = await work(conn)
                if caller.msgid:
                    await self._messages.complete(conn, caller.fixmedins_code, caller.msgid, filing_id,
                                                  json.dumps(encode(result), ensure_ascii=False))
        return result

    async def _invalidate(self, psn_no: str) -> None:
        """Before acknowledging a change: the eligibility service drops its cached snapshots.

        Runs after the commit (so no snapshot is rebuilt from the state before it). If it fails,
        the caller gets an error, and its retry with the same msgid replays the stored reply and
        invalidates again."""
        try:
            await self._elig.invalidate_person(psn_no)
        except Refusal:
            raise Refusal("ELIGIBILITY_UNAVAILABLE",
                          "备案已保存，但通知参保资格服务失败；请稍后用同一 msgid 重试以确认。 / The filing was saved "
                          "but the eligibility service could not be notified; retry with the same msgid to "
                          "confirm.") from None

    # ------------------------------------------------------------------ helpers

    def _policy_for(self, insured_pool: str, insutype: str, *years: int) -> Policy:
        for year in years:
            policy = self._ref.policy(insured_pool, insutype, year)
            if policy is not None:
                return policy
        raise FilingRefused(
            "refused", "POLICY_MISSING",
            f"参保地 {insured_pool} 险种 {insutype} 没有 {years[0]} 年的医保政策，无法判断备案有效期。 / The insured "
            f"pool {insured_pool} has no {years[0]} policy for insutype {insutype}.", "filing.insured_pool")

    def _known_admdvs(self) -> set[str]:
        return {a for p in self._ref.pools().values() for a in p.admdvs}

    def _check_destination(self, destination: str, insured_pool: Pool, field: str = "filing.destination") -> None:
        dest_prefix(destination)
        known = self._known_admdvs()
        if not destination_known(destination, known):
            raise FilingRefused(
                "invalid", "BAD_DESTINATION",
                f"备案就医地 {field} {destination} 不在任何已知的省份。 / Destination {destination} is in no "
                "known province.", field)
        if destination_inside_pool(destination, insured_pool):
            raise FilingRefused(
                "invalid", "BAD_DESTINATION",
                f"备案就医地 {destination} 在参保人的统筹区 {insured_pool.code}（{insured_pool.name}）内，统筹区内就医无需"
                f"备案。 / Destination {destination} lies inside the insured pool {insured_pool.code}: no filing "
                "is needed there.", field)

    async def _resolve_insured_pool(self, psn_no: str, insutype: str, given: str, on_date: dt.date) -> Pool:
        code = given or await self._elig.insured_pool(psn_no, insutype, on_date)
        pool = self._ref.pool(code) if code else None
        if pool is None:
            if given:
                raise FilingRefused("invalid", "UNKNOWN_POOL",
                                    f"参保地统筹区 insured_pool {given} 不存在。 / Unknown insured pool {given}.",
                                    "filing.insured_pool")
            raise FilingRefused("refused", "NOT_ENROLLED",
                                f"参保人 {psn_no} 在 {on_date} 没有险种 {insutype} 的参保记录，不能办理异地备案。 / "
                                f"Person {psn_no} has no {insutype} enrollment on {on_date}.", "filing.psn_no")
        return pool

    @staticmethod
    def _not_found(filing_id: str, field: str = "filing_id") -> FilingRefused:
        return FilingRefused("not_found", "UNKNOWN_FILING",
                             f"备案 {field} {filing_id} 不存在（或不属于该参保人）。 / No filing {filing_id} for this "
                             "person.", field)

    @staticmethod
    def _check_owner(caller: Caller, owner_code: str, filing_id: str) -> None:
        # A hospital may touch only the filings it sent; online (empty caller) acts for the person.
        if caller.fixmedins_code and owner_code != caller.fixmedins_code:
            raise FilingRefused(
                "forbidden", "NOT_YOUR_FILING",
                f"备案 {filing_id} 不是本院（{caller.fixmedins_code}）办理的，不能撤销或变更；请由原备案医院或参保人"
                f"在线办理。 / Filing {filing_id} was not made by hospital {caller.fixmedins_code}: only the filing "
                "hospital or the person online can revoke or change it.", "filing_id")

    # ------------------------------------------------------------------ CreateFiling (2501, online)

    async def create_filing(self, caller: Caller, spec: FilingSpec, today: str = "") -> Filing:
        filed_on = parse_date(today, "today") if today else self._today()
        psn_no = required(spec.psn_no, "filing.psn_no", "人员编号 psn_no")
        check_insutype(spec.insutype, "filing.insutype")
        begin = parse_date(required(spec.begin, "filing.begin", "开始日期"), "filing.begin")
        end = parse_date(spec.end, "filing.end") if spec.end else None
        group_of(spec.type)  # an unknown type is named before anything is looked up
        dest_prefix(spec.destination)
        insured = await self._resolve_insured_pool(psn_no, spec.insutype, spec.insured_pool, max(begin, filed_on))
        policy = self._policy_for(insured.code, spec.insutype, begin.year, filed_on.year)
        group = check_validity(spec.type, begin, end, policy.min_temporary_filing_days)
        self._check_destination(spec.destination, insured)
        source = "his" if caller.fixmedins_code else "online"
        fp = _fingerprint("create", **{k: getattr(spec, k) for k in FilingSpec.__slots__}, today=today)

        async def work(conn: asyncpg.Connection) -> tuple[Filing, str]:
            if group == LONG_TERM:
                existing = await self._filings.active_long_term(conn, psn_no, spec.insutype)
                if existing is not None:
                    raise self._second_long_term(existing)
            filing = Filing(
                filing_id=new_filing_id(filed_on), psn_no=psn_no, insutype=spec.insutype,
                insured_pool=insured.code, type=spec.type, group=group, destination=spec.destination,
                begin=begin, end=end, status=ACTIVE, source=source, fixmedins_code=caller.fixmedins_code,
                diag_code=spec.diag_code, diag_name=spec.diag_name, msgid=caller.msgid, filed_on=filed_on)
            try:
                async with conn.transaction():  # a savepoint: after a violation we still ask who won
                    stored = await self._filings.insert(conn, filing)
            except asyncpg.UniqueViolationError as exc:
                # Two creates raced past the check above; the partial unique index decided.
                if exc.constraint_name == "filings_one_active_long_term":
                    existing = await self._filings.active_long_term(conn, psn_no, spec.insutype)
                    raise self._second_long_term(existing) from None
                raise
            return stored, stored.filing_id

        result = await self._once(caller, "create", psn_no, fp, work, _filing_to_json, _filing_from_json)
        await self._invalidate(psn_no)
        return result

    @staticmethod
    def _second_long_term(existing: Filing | None) -> FilingRefused:
        fid = existing.filing_id if existing else "?"
        dest = existing.destination if existing else "?"
        return FilingRefused(
            "conflict", "LONG_TERM_EXISTS",
            f"参保人已有有效的长期异地备案 {fid}（就医地 {dest}），同一险种只能有一个长期备案；请变更（满 6 个月后）"
            f"或先撤销原备案。 / The person already has an active long-term filing {fid} (destination {dest}); "
            "only one is allowed per insurance type: change it (after 6 months) or revoke it first.",
            "filing.type")

    # ------------------------------------------------------------------ RevokeFiling (2502)

    async def revoke_filing(self, caller: Caller, filing_id: str, psn_no: str = "") -> Filing:
        required(filing_id, "filing_id", "备案流水号 trt_dcla_detl_sn")
        fp = _fingerprint("revoke", filing_id=filing_id, psn_no=psn_no)

        async def work(conn: asyncpg.Connection) -> tuple[Filing, str]:
            filing = await self._filings.get(conn, filing_id, for_update=True)
            if filing is None or (psn_no and filing.psn_no != psn_no):
                raise self._not_found(filing_id)
            self._check_owner(caller, filing.fixmedins_code, filing_id)
            if filing.status != ACTIVE:
                raise FilingRefused(
                    "refused", "FILING_NOT_ACTIVE",
                    f"备案 {filing_id} 已{'撤销' if filing.status == REVOKED else '变更失效'}，无需再撤销。 / Filing "
                    f"{filing_id} is already {filing.status}.", "filing_id")
            revoked = await self._filings.set_status(conn, filing_id, REVOKED, repo.REASON_REVOKED)
            return revoked, filing_id

        result = await self._once(caller, "revoke", psn_no, fp, work, _filing_to_json, _filing_from_json)
        await self._invalidate(result.psn_no)
        return result

    # ------------------------------------------------------------------ ChangeFiling

    async def change_filing(self, caller: Caller, filing_id: str, destination: str = "", begin: str = "",
                            end: str = "", today: str = "") -> Filing:
        required(filing_id, "filing_id", "备案流水号")
        now = parse_date(today, "today") if today else self._today()
        new_begin = parse_date(begin, "begin") if begin else None
        new_end = parse_date(end, "end") if end else None
        if destination:
            dest_prefix(destination)
        fp = _fingerprint("change", filing_id=filing_id, destination=destination, begin=begin, end=end, today=today)

        async def work(conn: asyncpg.Connection) -> tuple[Filing, str]:
            old = await self._filings.get(conn, filing_id, for_update=True)
            if old is None:
                raise self._not_found(filing_id)
            self._check_owner(caller, old.fixmedins_code, filing_id)
            check_change_allowed(old, now)
            b = new_begin or old.begin
            e = new_end if new_end is not None else old.end
            dest = destination or old.destination
            insured = self._ref.pool(old.insured_pool)
            if insured is None:
                raise FilingRefused("refused", "POOL_NOT_CONFIGURED", f"参保地统筹区 {old.insured_pool} 已不存在。 / The "
                                    f"insured pool {old.insured_pool} no longer exists.", "filing_id")
            policy = self._policy_for(old.insured_pool, old.insutype, b.year, now.year)
            group = check_validity(old.type, b, e, policy.min_temporary_filing_days, field_prefix="")
            self._check_destination(dest, insured, "destination")
            await self._filings.set_status(conn, filing_id, SUPERSEDED, repo.REASON_CHANGED)
            new = await self._filings.insert(conn, Filing(
                filing_id=new_filing_id(now), psn_no=old.psn_no, insutype=old.insutype,
                insured_pool=old.insured_pool, type=old.type, group=group, destination=dest, begin=b, end=e,
                status=ACTIVE, source="his" if caller.fixmedins_code else "online",
                fixmedins_code=caller.fixmedins_code or old.fixmedins_code, diag_code=old.diag_code,
                diag_name=old.diag_name, msgid=caller.msgid, filed_on=now), changed_from=filing_id)
            await self._filings.set_status(conn, filing_id, SUPERSEDED, repo.REASON_CHANGED, new.filing_id)
            return new, new.filing_id

        result = await self._once(caller, "change", "", fp, work, _filing_to_json, _filing_from_json)
        await self._invalidate(result.psn_no)
        return result

    # ------------------------------------------------------------------ ListFilings

    async def list_filings(self, psn_no: str, include_inactive: bool = False) -> list[Filing]:
        required(psn_no, "psn_no", "人员编号")
        async with self._pool.acquire() as conn:
            return await self._filings.list_for_person(conn, psn_no, include_inactive=include_inactive)

    # ------------------------------------------------------------------ ResolveFiling (hot path)

    async def resolve_filing(self, psn_no: str, insutype: str, insured_pool: str, hospital_admdvs: str,
                             visit_date: str, emergency: bool = False) -> Resolution:
        required(psn_no, "psn_no", "人员编号")
        required(insutype, "insutype", "险种类型")
        day = parse_date(visit_date, "visit_date")
        if len(hospital_admdvs) != 6 or not hospital_admdvs.isdigit():
            raise FilingRefused("invalid", "BAD_ADMDVS", f"就医地行政区划 hospital_admdvs {hospital_admdvs!r} 应为 6 位"
                                "数字。 / hospital_admdvs must be 6 digits.", "hospital_admdvs")
        pool = self._ref.pool(insured_pool)
        if pool is None:
            raise FilingRefused("invalid", "UNKNOWN_POOL", f"参保地统筹区 insured_pool {insured_pool!r} 不存在。 / "
                                f"Unknown insured pool {insured_pool!r}.", "insured_pool")
        policy = self._ref.policy(insured_pool, insutype, day.year)
        requires_intra = bool(policy and policy.intra_province_requires_filing)
        if pool.holds(hospital_admdvs):  # same pool: no filing, no query
            return resolve(pool, hospital_admdvs, day, (), emergency=emergency,
                           intra_province_requires_filing=requires_intra)
        # One indexed query (filings_active_by_person); a filing committed before this call is
        # seen, which is what makes retro-filing before settlement work.
        async with self._pool.acquire() as conn:
            filings = await self._filings.active_covering(conn, psn_no, insutype, day)
        return resolve(pool, hospital_admdvs, day, filings, emergency=emergency,
                       intra_province_requires_filing=requires_intra)

    # ------------------------------------------------------------------ FileChronic (2503)

    async def file_chronic(self, caller: Caller, psn_no: str, insutype: str, code: str, name: str = "",
                           ide_fixmedins_no: str = "", begndate: str = "", enddate: str = "") -> ChronicFiling:
        required(psn_no, "psn_no", "人员编号")
        check_insutype(insutype)
        check_disease_code(code)
        today = self._today()
        begin = parse_date(begndate, "begndate") if begndate else today
        end = parse_date(enddate, "enddate") if enddate else None
        if end is not None and end < begin:
            raise FilingRefused("invalid", "END_BEFORE_BEGIN", f"结束日期 enddate {end} 早于开始日期 begndate {begin}。 / "
                                f"enddate {end} is before begndate {begin}.", "enddate")
        hospital = ide_fixmedins_no or caller.fixmedins_code
        fp = _fingerprint("chronic_file", psn_no=psn_no, insutype=insutype, code=code, name=name,
                          ide_fixmedins_no=ide_fixmedins_no, begndate=begndate, enddate=enddate)

        async def work(conn: asyncpg.Connection) -> tuple[ChronicFiling, str]:
            existing = await self._chronic.active_one(conn, psn_no, insutype, code)
            if existing is not None:
                raise self._chronic_exists(existing)
            # The row first (its unique index settles a race without granting twice), then the
            # qualification at eligibility before we commit: if eligibility refuses, the
            # transaction rolls back and nothing is stored.
            try:
                async with conn.transaction():  # a savepoint: after a violation we still ask who won
                    stored = await self._chronic.insert(conn, ChronicFiling(
                        filing_id=new_chronic_id(today), psn_no=psn_no, insutype=insutype, opsp_dise_code=code,
                        opsp_dise_name=name, ide_fixmedins_no=hospital, begndate=begin, enddate=end,
                        status=ACTIVE, fixmedins_code=caller.fixmedins_code, msgid=caller.msgid))
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "chronic_one_active":
                    raise self._chronic_exists(await self._chronic.active_one(conn, psn_no, insutype, code)) from None
                raise
            qualification_id = await self._elig.grant_chronic(psn_no, code, begin, end, hospital)
            stored = await self._chronic.set_qualification(conn, stored.filing_id, qualification_id)
            return stored, stored.filing_id

        result = await self._once(caller, "chronic_file", psn_no, fp, work, _chronic_to_json, _chronic_from_json)
        await self._invalidate(psn_no)
        return result

    @staticmethod
    def _chronic_exists(existing: ChronicFiling | None) -> FilingRefused:
        fid = existing.filing_id if existing else "?"
        return FilingRefused(
            "conflict", "CHRONIC_ALREADY_FILED",
            f"参保人已有该病种的有效门慢特病备案 {fid}，无需重复备案。 / The person already has an active chronic "
            f"filing {fid} for this disease.", "opsp_dise_code")

    # ------------------------------------------------------------------ CancelChronic (2504)

    async def cancel_chronic(self, caller: Caller, psn_no: str, filing_id: str = "", code: str = "") -> ChronicFiling:
        if not filing_id and not code:
            raise FilingRefused("invalid", "FIELD_REQUIRED", "撤销门慢特病备案须填写备案号 filing_id 或病种编码 "
                                "opsp_dise_code。 / Give filing_id or opsp_dise_code.", "filing_id")
        if code:
            check_disease_code(code)
        today = self._today()
        fp = _fingerprint("chronic_cancel", psn_no=psn_no, filing_id=filing_id, code=code)

        async def work(conn: asyncpg.Connection) -> tuple[ChronicFiling, str]:
            if filing_id:
                chronic = await self._chronic.get_for_update(conn, filing_id)
                if chronic is None or (psn_no and chronic.psn_no != psn_no) or (code and chronic.opsp_dise_code != code):
                    raise FilingRefused("not_found", "UNKNOWN_FILING", f"门慢特病备案 filing_id {filing_id} 不存在（或不属"
                                        f"于该参保人）。 / No chronic filing {filing_id} for this person.", "filing_id")
            else:
                required(psn_no, "psn_no", "人员编号")
                found = await self._chronic.active_by_code(conn, psn_no, code)
                if not found:
                    raise FilingRefused("not_found", "UNKNOWN_FILING", f"参保人 {psn_no} 没有病种 {code} 的有效门慢特病"
                                        f"备案。 / No active chronic filing for {code}.", "opsp_dise_code")
                if len(found) > 1:
                    raise FilingRefused("invalid", "AMBIGUOUS_FILING", f"病种 {code} 有 {len(found)} 条有效备案（不同险种），"
                                        "请填写备案号 filing_id。 / Several active filings for this disease: give "
                                        "filing_id.", "filing_id")
                chronic = found[0]
            self._check_owner(caller, chronic.fixmedins_code, chronic.filing_id)
            return await self._end_chronic(conn, chronic, today, "cancelled"), chronic.filing_id

        result = await self._once(caller, "chronic_cancel", psn_no, fp, work, _chronic_to_json, _chronic_from_json)
        await self._invalidate(result.psn_no)
        return result

    async def _end_chronic(self, conn: asyncpg.Connection, chronic: ChronicFiling, today: dt.date,
                           reason: str) -> ChronicFiling:
        if chronic.status != ACTIVE:
            raise FilingRefused("refused", "FILING_NOT_ACTIVE", f"门慢特病备案 {chronic.filing_id} 已撤销。 / Chronic "
                                f"filing {chronic.filing_id} is already cancelled.", "filing_id")
        # The qualification ends yesterday: from today the disease no longer settles as 14.
        end = today - dt.timedelta(days=1)
        await self._elig.revoke_chronic(chronic.psn_no, chronic.opsp_dise_code, end)
        stored_end = end if end >= chronic.begndate else chronic.begndate
        return await self._chronic.cancel(conn, chronic.filing_id, stored_end, reason)

    # ------------------------------------------------------------------ QueryChronic (5301)

    async def query_chronic(self, psn_no: str, insutype: str = "") -> list[ChronicFiling]:
        required(psn_no, "psn_no", "人员编号")
        if insutype:
            check_insutype(insutype)
        async with self._pool.acquire() as conn:
            return await self._chronic.list_active(conn, psn_no, insutype)

    # ------------------------------------------------------------------ ReverseByMsgid (2601)

    async def reverse_by_msgid(self, caller: Caller, psn_no: str, omsgid: str, oinfno: str = "") -> Reversal:
        required(caller.fixmedins_code, "fixmedins_code", "医院编码")
        required(omsgid, "omsgid", "原报文 ID")
        today = self._today()
        fp = _fingerprint("reverse", psn_no=psn_no, omsgid=omsgid, oinfno=oinfno)

        async def work(conn: asyncpg.Connection) -> tuple[Reversal, str]:
            original = await self._messages.get(conn, caller.fixmedins_code, omsgid, for_update=True)
            if original is None or (psn_no and original["psn_no"] and original["psn_no"] != psn_no):
                raise FilingRefused("not_found", "ORIGINAL_NOT_FOUND",
                                    f"本院没有报文 ID omsgid {omsgid} 的备案交易。 / No filing transaction with msgid "
                                    f"{omsgid} from this hospital.", "omsgid")
            if oinfno and original["infno"] and oinfno != original["infno"]:
                raise FilingRefused("invalid", "OINFNO_MISMATCH",
                                    f"原交易 {omsgid} 是 {original['infno']}，不是 oinfno {oinfno}。 / The original "
                                    f"transaction is {original['infno']}, not {oinfno}.", "oinfno")
            if original["kind"] == "reverse":
                raise FilingRefused("refused", "REVERSAL_OF_REVERSAL",
                                    "冲正交易不能再冲正。 / A reversal cannot itself be reversed.", "omsgid")
            if original["reversed_by"]:
                raise FilingRefused("refused", "ALREADY_REVERSED",
                                    f"原交易 {omsgid} 已被 {original['reversed_by']} 冲正。 / Transaction {omsgid} was "
                                    f"already reversed by {original['reversed_by']}.", "omsgid")
            if original["kind"] == "create":
                filing = await self._filings.get(conn, original["filing_id"], for_update=True)
                if filing.status != ACTIVE:
                    raise FilingRefused(
                        "refused", "FILING_NOT_ACTIVE",
                        f"原交易建立的备案 {filing.filing_id} 已{'撤销' if filing.status == REVOKED else '变更'}，无法冲正；"
                        "如需撤销当前备案请发送 2502。 / The filing this transaction created is already "
                        f"{filing.status}; revoke the current filing with 2502 instead.", "omsgid")
                await self._filings.set_status(conn, filing.filing_id, REVOKED, repo.REASON_REVERSED)
                reply = Reversal(filing.filing_id, REVOKED, filing.psn_no)
            elif original["kind"] == "chronic_file":
                chronic = await self._chronic.get_for_update(conn, original["filing_id"])
                ended = await self._end_chronic(conn, chronic, today, "reversed")
                reply = Reversal(ended.filing_id, ended.status, ended.psn_no)
            else:
                raise FilingRefused("refused", "NOT_REVERSIBLE",
                                    f"原交易 {omsgid}（{original['infno'] or original['kind']}）不能冲正，只有 2501 和 2503 "
                                    "可按 msgid 冲正；请重新办理备案。 / Only 2501 and 2503 filings can be reversed by "
                                    "msgid; file again instead.", "omsgid")
            await self._messages.mark_reversed(conn, caller.fixmedins_code, omsgid, caller.msgid or "-")
            return reply, reply.filing_id

        result = await self._once(caller, "reverse", psn_no, fp, work,
                                  lambda r: {"filing_id": r.filing_id, "status": r.status, "psn_no": r.psn_no},
                                  lambda d: Reversal(d["filing_id"], d["status"], d.get("psn_no", "")))
        await self._invalidate(result.psn_no)
        return result


# ----------------------------------------------------------------------------- eligibility client


class EligibilityClient:
    """The eligibility service over gRPC (an EligibilityServiceStub on a traced channel)."""

    def __init__(self, stub: Any, deadline_s: float = 5.0) -> None:
        self._stub = stub
        self._deadline_s = deadline_s

    async def _call(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub, method)(request, timeout=self._deadline_s)
        except grpc.RpcError as err:
            if not is_refusal(err.code()):
                log.warning("eligibility %s failed: %s %s", method, err.code().name, err.details())
                raise Refusal("ELIGIBILITY_UNAVAILABLE",
                              "参保资格服务暂不可用，本次备案交易未完成；请稍后重试（HIS 交易用同一 msgid）。 / The "
                              "eligibility service is unavailable and this filing transaction was not completed; retry "
                              "later (a HIS transaction with the same msgid).") from None
            raise refusal_from_rpc_error(err) from None

    async def insured_pool(self, psn_no: str, insutype: str, on_date: dt.date) -> str:
        snap = await self._call("GetSnapshot", eligibility_pb2.GetSnapshotRequest(
            psn_no=psn_no, insutype=insutype, on_date=on_date.isoformat()))
        return snap.insured_pool

    async def grant_chronic(self, psn_no: str, code: str, begin: dt.date, end: dt.date | None, hospital: str) -> str:
        q = await self._call("GrantChronic", eligibility_pb2.GrantChronicRequest(
            psn_no=psn_no, code=code, begin=begin.isoformat(), end=end.isoformat() if end else "", hospital=hospital))
        return q.qualification_id

    async def revoke_chronic(self, psn_no: str, code: str, end: dt.date) -> None:
        await self._call("RevokeChronic", eligibility_pb2.RevokeChronicRequest(psn_no=psn_no, code=code,
                                                                               end=end.isoformat()))

    async def invalidate_person(self, psn_no: str) -> None:
        await self._call("InvalidatePerson", eligibility_pb2.InvalidatePersonRequest(psn_no=psn_no))
