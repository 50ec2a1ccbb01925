"""Pre-settlement (2206/2303) and settlement (2207/2304): exactly once, no cap exceeded.

Exactly once: the booking claims (fixmedins_code, msgid) in the same transaction as its effect.
A retry with the same request digest gets the stored reply (replayed); the same msgid with a
different body is refused with MSGID_CONFLICT (services/common/journal.py).

No cap exceeded: a settlement reads the person's accumulator row (with its version) before
BEGIN, the engine computes on it, and the booking writes it back only if the version is
unchanged; otherwise nothing is booked, and the service re-reads and recomputes. After a few
conflicts it falls back to locking the row for the transaction and booking on it, so a busy
person still makes progress.

Round trips of a 2207: one read (SettlementRepository.settle_state), the filing call
(cross-region only), and ONE booking call (settlement.book_settlement_checked, migrations 0002
and 0020: status version, claim, version-checked accumulators, visit, settlement, fund lines,
ledger, fees in one implicit transaction). No pooled connection is held across the gRPC hops.
The fallback calls the same function, inside a transaction that first locks the accumulator row.

No eligibility call at 2207/2304 (issue #18): the settlement computes on the eligibility snapshot
the registration took (2201/2401; settlement.visits.snapshot), and the booking checks, inside
its transaction, that the person's status version is still the one that snapshot was read at
(FOR SHARE on the person's row of eligibility's status_versions table, which eligibility bumps
in the same transaction as every change). A stale one (MS003 → StaleStatus) makes the service ask eligibility for a fresh
snapshot and recompute. Eligibility is asked at once when the visit has no usable snapshot: none
kept, its day is no longer the visit's (2203 moved begntime), or the settlement names a
certificate other than the one checked at registration (DOMAIN.md §6a). 2206/2303 (nothing
booked, so nothing to check a version against) still ask eligibility every time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from services.common import metrics
from services.common.grpcutil import Refusal, invalid, refused
from services.common.journal import Journal, JournalRequest, Replayed, replay, require_key
from services.engine import SettlementRefused
from services.engine import settle as engine_settle
from services.engine.model import (
    NO_EARLIER_SETTLEMENT,
    AdmissionSoFar,
    Bill,
    Catalogue,
    PersonSnapshot,
    Policy,
    Pool,
    SettlementContext,
    SettlementResult,
)
from services.settlement import checks
from services.settlement.codec import kept_snapshot
from services.settlement.domain import (
    CST,
    AccumulatorRow,
    CertificateClaim,
    Effect,
    Eligibility,
    ReplyPerson,
    Settlement,
    SettlementReply,
    SettleOrder,
    SettleState,
    Visit,
    amounts_of,
    new_id,
    yuan,
)
from services.settlement.ledger import entries_for
from services.settlement.ports import EligibilityService, FilingService, Now, Reference
from services.settlement.repository import Booking, Contended, SettlementRepository, StaleStatus, connection
from services.settlement.supervision import Supervisor, action_of, bill_items, encounter_of
from services.settlement.supervision_repository import record_findings
from services.supervision.model import Finding, Patient

log = logging.getLogger(__name__)

def count_booked(kind: str, reply: SettlementReply) -> None:
    """The metrics of a settlement booked now (kind `settle`) or of its reversal (`reversal`);
    never of a replay (services/common/metrics.py)."""
    s = reply.settlement
    metrics.settlement_booked(kind, s.clr_type, ((f.fund_pay_type, f.fund_payamt_fen) for f in reply.funds),
                              s.acct_pay, s.psn_cash_pay)


OPTIMISTIC_ATTEMPTS = 3  # then lock the accumulator row (progress under contention)
MAX_ATTEMPTS = 8


async def _ready(value):
    return value  # an awaitable of a value at hand, gathered beside the calls that are made


def certificate_of(order: SettleOrder, v: Visit, hospital: str) -> CertificateClaim | None:
    """The certificate a settlement names, for eligibility to check against the person (DOMAIN.md
    §6a) on a snapshot call (a settlement naming the certificate the registration named computes
    on the registration's snapshot: `kept_snapshot`): None when it names none, or
    when it is the e-voucher the visit was registered with (that token was bound to this visit
    then: the visit row says so)."""
    if not order.mdtrt_cert_type:
        return None
    if order.mdtrt_cert_type == "01" and v.mdtrt_cert_type == "01" and v.mdtrt_cert_no == order.mdtrt_cert_no:
        return None
    return CertificateClaim(order.mdtrt_cert_type, order.mdtrt_cert_no, order.card_sn, hospital, v.mdtrt_id)


class _Taken(Exception):
    """The msgid was claimed first by another request (inside the fallback's transaction)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything a settlement needs that does not depend on the accumulators."""

    visit: Visit
    bill: Bill
    person: PersonSnapshot
    insured_pool: Pool
    treatment_pool: Pool
    policy: Policy
    catalogue: Catalogue
    filing_group: str | None
    province_of: Mapping[str, str]
    fee_sns: tuple[str, ...]
    year: int
    med_type: str
    mid_settle: bool = False  # 中途结算: the admission stays open
    findings: tuple[tuple[Finding, str], ...] = ()  # 3102: the supervision rules' findings and what each did
    snapshot: Eligibility | None = None  # the eligibility answer computed on (its status version is checked)


class Settlements:
    def __init__(self, pool: asyncpg.Pool, journal: Journal[SettlementRepository], refs: Reference,
                 eligibility: EligibilityService, filing: FilingService, clock: Now,
                 supervisor: Supervisor | None = None) -> None:
        self.pool = pool
        self.supervisor = supervisor or Supervisor(refs)
        self.autocommit = SettlementRepository(pool)  # each call one round trip on a connection of its own
        self.journal = journal
        self.refs = refs
        self.eligibility = eligibility
        self.filing = filing
        self.clock = clock

    async def pre_settle(self, hospital: str, msgid: str, order: SettleOrder) -> SettlementReply:
        """2206/2303: the same computation as Settle; writes nothing."""
        if not hospital:
            raise invalid("FIELD_REQUIRED", "缺少 fixmedins_code。 / fixmedins_code is required.", "fixmedins_code")
        state = await self.autocommit.settle_state(order.mdtrt_id, hospital, "")
        prep = await self._prepare(order, state, hospital, presettle=True)
        result = self._compute(prep, state.accumulators.data, state.admission)
        now = self.clock()
        return SettlementReply.of(self._settlement(prep, result, setl_id="", now=now, msgid=msgid,
                                                   code=hospital, accumulators=state.accumulators),
                                  self._reply_person(prep, now), prep.findings)

    async def settle(self, request: JournalRequest, order: SettleOrder) -> SettlementReply | Replayed:
        require_key(request)
        code = request.hospital
        prep: Prepared | None = None
        fresh = False  # True after a stale status version: ask eligibility, not the visit's snapshot
        for attempt in range(MAX_ATTEMPTS):
            # No connection is held across the eligibility/filing hops in _prepare: the read and
            # the booking each take one from the pool for one round trip.
            state = await self.autocommit.settle_state(order.mdtrt_id, code, request.msgid)
            if state.journal is not None:
                return replay(state.journal, request, Effect.SETTLE)
            try:
                if prep is None or state.visit is None or state.visit.fees_version != prep.visit.fees_version:
                    prep = await self._prepare(order, state, code, fresh=fresh)
                else:
                    self._check_visit_state(state.visit, order)
                if attempt < OPTIMISTIC_ATTEMPTS:
                    reply = await self._book(self.autocommit, prep, state.accumulators, state.admission, request)
                else:
                    reply = await self._book_locked(prep, request)
            except Refusal:
                # A refusal computed on the registration's snapshot may be a stale one (a chronic
                # qualification granted, an enrollment renewed since): it is only given on a fresh one.
                if fresh or state.visit is None or not state.visit.snapshot:
                    raise
                fresh, prep = True, None
                continue
            except StaleStatus:
                log.info("settlement retry after an eligibility change", extra={"attempt": attempt + 1})
                fresh, prep = True, None
            except Contended:
                log.info("settlement retry after a concurrent change", extra={"attempt": attempt + 1})
            else:
                # None: the msgid was claimed first by another request; read its whole journal row.
                if reply is None:
                    return await self.journal.replay_stored(request, Effect.SETTLE)
                count_booked("settle", reply)
                if prep.findings:
                    await self._record_findings(reply, prep)
                return reply
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise Refusal("CONCURRENT_UPDATE",
                      "该参保人正在进行其他结算，请稍后用同一 msgid 重试。 / Another settlement of this person is in "
                      "progress; retry with the same msgid.")

    async def _record_findings(self, reply: SettlementReply, prep: Prepared) -> None:
        """After the booking: what the rules found on this settlement, for the reviewers (the
        after-the-fact batch turns them into alerts). A failure here loses no money: logged."""
        s = reply.settlement
        try:
            await record_findings(self.pool, setl_id=s.setl_id, mdtrt_id=s.mdtrt_id, psn_no=s.psn_no,
                                  hospital=s.fixmedins_code, insured_pool=s.insured_pool, findings=prep.findings)
        except (asyncpg.PostgresError, OSError):
            log.exception("supervision findings not recorded", extra={"setl_id": s.setl_id})

    # ------------------------------------------------------------------------- booking

    async def _book(self, repo: SettlementRepository, prep: Prepared, acc: AccumulatorRow, admission: AdmissionSoFar,
                    request: JournalRequest) -> SettlementReply | None:
        """Compute on `acc` and book it with ONE call of settlement.book_settlement (claim +
        version-checked write + visit + rows + fees). None if another request with this msgid
        committed first; Contended if what was computed on changed meanwhile."""
        now = self.clock()
        result = self._compute(prep, acc.data, admission)
        after = acc.after(result)
        s = self._settlement(prep, result, setl_id=new_id("S", now), now=now, msgid=request.msgid,
                             code=request.hospital, accumulators=after)
        reply = SettlementReply.of(s, self._reply_person(prep, now), prep.findings)
        v = prep.visit
        booking = Booking(
            settlement=s, funds=reply.funds,
            entries=tuple(entries_for(result.fund_lines, insured_pool=s.insured_pool, treatment_pool=s.treatment_pool,
                                      hospital=s.fixmedins_code)),
            accumulators=after, visit_status=v.status if prep.mid_settle else "settled", fees_version=v.fees_version,
            fee_sns=prep.fee_sns, status_version=prep.snapshot.status_version if prep.snapshot else 0)
        booked = await repo.book_settlement(request, request.encode(reply), booking)
        return reply if booked else None

    async def _book_locked(self, prep: Prepared, request: JournalRequest) -> SettlementReply | None:
        """The fallback after repeated version conflicts: lock the accumulator row, compute on it
        and book with the same function inside that transaction (the version check cannot fail:
        a busy person still makes progress)."""
        v = prep.visit
        try:
            async with connection(self.pool) as repo, repo.transaction():
                acc = await repo.lock_accumulators(v.psn_no, v.insutype, prep.year)
                # Read under the lock: a reversal of this admission's settlement takes it too.
                admission = await repo.admission_so_far(v.mdtrt_id) if v.kind == "inpatient" else NO_EARLIER_SETTLEMENT
                reply = await self._book(repo, prep, acc, admission, request)
                if reply is None:
                    raise _Taken()  # roll back: keep nothing of ours (the row the lock created)
                return reply
        except _Taken:
            return None

    # ------------------------------------------------------------------------- checks and computation

    def _check_visit_state(self, v: Visit, order: SettleOrder, presettle: bool = False) -> None:
        if v.status == "settled":
            raise refused("ALREADY_SETTLED", f"就诊 {v.mdtrt_id} 已结算；如需重新结算请先撤销 (2208/2305)，查询结果用"
                          " 5203。 / The visit is already settled; cancel it first (2208/2305) or query it (5203).",
                          "mdtrt_id")
        if v.status == "cancelled":
            raise refused("VISIT_CANCELLED", f"就诊 {v.mdtrt_id} 已撤销，不能结算。 / The visit is cancelled.",
                          "mdtrt_id")
        # DOMAIN.md §4: 2303 pre-settles before 2402 discharge; only 2304 needs the discharge.
        if v.kind == "inpatient" and v.status != "discharged" and not order.mid_setl_flag and not presettle:
            raise refused("NOT_DISCHARGED", f"住院就诊 {v.mdtrt_id} 尚未办理出院 (2402)；中途结算请置 mid_setl_flag。"
                          " / The admission is not discharged (2402); set mid_setl_flag for an interim settlement.",
                          "mdtrt_id")

    @staticmethod
    def _reply_person(prep: Prepared, now: dt.datetime) -> ReplyPerson | None:
        return prep.snapshot.reply_person(now.astimezone(CST).date()) if prep.snapshot is not None else None

    async def _prepare(self, order: SettleOrder, state: SettleState, code: str, presettle: bool = False,
                       fresh: bool = False) -> Prepared:
        """Every check and lookup that does not depend on the accumulators, before BEGIN."""
        checks.settlement_way(order.psn_setlway)
        v = checks.own_visit(state.visit, code, order.mdtrt_id, order.psn_no)
        if order.insutype and order.insutype != v.insutype:
            raise invalid("INSUTYPE_MISMATCH", f"险种 {order.insutype} 与登记时的险种 {v.insutype} 不符。 / insutype "
                          "differs from the registration's.", "insutype")
        self._check_visit_state(v, order, presettle)
        hospital = checks.hospital(self.refs, code)
        fees = state.fees
        total = sum(f.amount_fen for f in fees)
        if order.medfee_sumamt_fen != total:
            raise invalid("MEDFEE_MISMATCH", f"医疗费总额 medfee_sumamt {yuan(order.medfee_sumamt_fen)} 元与已上传未结算的"
                          f"费用明细合计 {yuan(total)} 元（{len(fees)} 条）不符，请核对后重新上传或结算。 / "
                          f"medfee_sumamt {yuan(order.medfee_sumamt_fen)} differs from the uploaded fee details "
                          f"({yuan(total)}, {len(fees)} items).", "input.data.medfee_sumamt")
        med_type = order.med_type or v.med_type
        if not med_type:
            raise invalid("FIELD_REQUIRED", "缺少医疗类别 med_type（可在 2203 或结算时填写）。 / med_type is required.",
                          "med_type")
        visit_date = v.begntime.date()
        tpool, catalogue = checks.catalogue_for(self.refs, hospital, v.insutype)
        insured = self.refs.pool(v.insured_pool)
        local = insured is not None and insured.holds(hospital.admdvs)
        # The supervision rules' history (DOMAIN §10): read beside the eligibility call (or, on the
        # registration's kept snapshot, beside the filing call), before BEGIN.
        sup = self.supervisor
        rules = sup.rules_for(v.insured_pool, visit_date.year)
        history_call = sup.history(self.pool, rules, v.psn_no, v.mdtrt_id, visit_date, [f.list_code for f in fees])
        kept = None if presettle or fresh else kept_snapshot(v.snapshot, certificate_of(order, v, code), visit_date)
        snap_call = _ready(kept) if kept is not None else \
            self.eligibility.snapshot(v.psn_no, v.insutype, visit_date, certificate_of(order, v, code))
        group_call = _ready(None) if local else self.filing.filing_group(
            psn_no=v.psn_no, insutype=v.insutype, insured_pool=v.insured_pool,
            hospital_admdvs=hospital.admdvs, visit_date=visit_date, emergency=v.emergency)
        snap, group, (history, death) = await asyncio.gather(snap_call, group_call, history_call)
        checks.require_eligible(snap)
        if snap.insured_pool != v.insured_pool:
            # The enrollment used changed since registration: settle with today's truth.
            insured = self.refs.pool(snap.insured_pool)
            group = None if insured is not None and insured.holds(hospital.admdvs) else \
                await self.filing.filing_group(psn_no=v.psn_no, insutype=v.insutype,
                                               insured_pool=snap.insured_pool, hospital_admdvs=hospital.admdvs,
                                               visit_date=visit_date, emergency=v.emergency)
        if insured is None:
            raise refused("POOL_NOT_CONFIGURED", f"参保地统筹区 {snap.insured_pool} 未配置。 / The insured pool "
                          f"{snap.insured_pool} is not in the reference data.", "psn_no")
        policy = self.refs.policy(insured.code, v.insutype, visit_date.year)
        if policy is None:
            raise refused("NO_POLICY", f"参保地 {insured.code} 没有 {visit_date.year} 年险种 {v.insutype} 的待遇政策。"
                          f" / No {visit_date.year} policy for pool {insured.code}, insutype {v.insutype}.",
                          "insutype")
        if insured.code != v.insured_pool:
            rules = sup.rules_for(insured.code, visit_date.year)
        checked = sup.check(rules, Patient(v.psn_no, snap.gender, snap.birth_date, death), encounter_of(v),
                            bill_items(fees, state.fee_times, visit_date), history, stage="3102")
        sup.refuse_if_blocked(checked)
        bill = Bill(med_type=med_type, visit_date=visit_date, hospital=hospital, items=fees,
                    disease_code=v.dise_codg or None, emergency=v.emergency, acct_used_flag=order.acct_used_flag,
                    own_pay=checked.own_pay)
        prep = Prepared(visit=v, bill=bill, person=snap.person, insured_pool=insured, treatment_pool=tpool,
                        policy=policy, catalogue=catalogue, filing_group=group, province_of=self.refs.province_of(),
                        fee_sns=tuple(f.feedetl_sn for f in fees), year=visit_date.year, med_type=med_type,
                        # mid_setl_flag on a discharged admission settles the stay: it is final.
                        mid_settle=v.kind == "inpatient" and order.mid_setl_flag and v.status != "discharged",
                        findings=tuple((f, action_of(f)) for f in checked.findings),
                        snapshot=snap)
        if order.declared is not None:
            self._check_declared(order, self._compute(prep, state.accumulators.data, state.admission))
        return prep

    @staticmethod
    def _check_declared(order: SettleOrder, result: SettlementResult) -> None:
        d = order.declared
        assert d is not None  # called only when the order declares a split
        for name, theirs, mine in (("fulamt_ownpay_amt", d.fulamt_ownpay_amt, result.fulamt_ownpay_amt),
                                   ("overlmt_selfpay", d.overlmt_selfpay, result.overlmt_selfpay),
                                   ("preselfpay_amt", d.preselfpay_amt, result.preselfpay_amt),
                                   ("inscp_scp_amt", d.inscp_scp_amt, result.inscp_scp_amt)):
            if theirs != mine:
                raise invalid("SPLIT_MISMATCH", f"{name} 申报 {yuan(theirs)} 元，按就医地目录计算为 {yuan(mine)} 元，"
                              "请以 2204 返回的明细为准。 / The declared "
                              f"{name} {yuan(theirs)} differs from the catalogue split {yuan(mine)}.",
                              f"input.data.{name}")

    @staticmethod
    def _compute(prep: Prepared, accumulators, admission: AdmissionSoFar) -> SettlementResult:
        """The engine on the accumulators and on what this admission's settlements in force (an
        interim one) already did: one deductible per admission, admissions counted once."""
        ctx = SettlementContext(person=prep.person, insured_pool=prep.insured_pool, treatment_pool=prep.treatment_pool,
                                policy=prep.policy, catalogue=prep.catalogue, filing_group=prep.filing_group,
                                accumulators=accumulators, province_of=prep.province_of, admission=admission)
        try:
            return engine_settle(prep.bill, ctx)
        except SettlementRefused as e:
            raise checks.engine_refusal(e) from None

    @staticmethod
    def _settlement(prep: Prepared, r: SettlementResult, *, setl_id: str, now: dt.datetime, msgid: str, code: str,
                    accumulators: AccumulatorRow) -> Settlement:
        """The settlement row of a computation; balc_fen from the given accumulators."""
        v = prep.visit
        local = now.astimezone(CST)
        return Settlement(
            setl_id=setl_id, mdtrt_id=v.mdtrt_id, psn_no=v.psn_no, psn_name=prep.person.name,
            psn_type=prep.person.psn_type, insutype=v.insutype, year=prep.year, fixmedins_code=code,
            insured_pool=prep.insured_pool.code, treatment_pool=prep.treatment_pool.code, med_type=prep.med_type,
            line=r.line, region_class=r.region_class, filing_group=r.filing_group or "", ratio=r.ratio,
            clr_type="21" if v.kind == "inpatient" else "11", clr_way="1", **amounts_of(r),
            balc_fen=accumulators.account_balance(prep.person.account_balance_fen), status="settled",
            reverses_setl_id=None, setl_time=now, setlym=f"{local:%Y%m}", setl_date=local.date(),
            deltas=dict(r.deltas), caps=dict(r.caps), result=r, msgid=msgid)

