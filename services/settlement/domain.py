"""The settlement service's domain types: what its use cases take, keep and answer with.

Pure: frozen dataclasses and small functions over them; no I/O, no protobuf, no clock (times
come in as arguments). Money is integer fen, ratios and counts Decimal. The rules that compute
a settlement live in services.engine; its types (FeeItem, PersonSnapshot, SettlementResult ...)
are used here as they are.

The names follow the NHSA interface (mdtrt_id, feedetl_sn, setl_id ...), as the tables and the
protos do, so that every layer says the same thing the same way.
"""

from __future__ import annotations

import datetime as dt
import operator
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, TypedDict, cast

from services.common.clock import BEIJING
from services.common.outcomes import Refusal
from services.engine import InvariantViolated
from services.engine.model import NO_EARLIER_SETTLEMENT, AdmissionSoFar, FeeItem, PersonSnapshot, SettlementResult
from services.supervision.model import Finding

# China Standard Time: setl_time, the settlement date and the clearing month are national
# business time, whatever the server's zone.
CST = BEIJING

INPATIENT_MED_TYPES = frozenset({"21", "22", "23", "24", "28"})


class Effect(str, Enum):
    """What a journaled call did: stored with its msgid, it tells a retry from a reuse of the
    msgid and tells 2601 how to undo the call (reversal.UNDO)."""

    REGISTER = "register"
    CANCEL_VISIT = "cancel_visit"
    DIAGNOSIS = "diagnosis"
    DISCHARGE = "discharge"
    UNDO_DISCHARGE = "undo_discharge"
    UPLOAD_FEES = "upload_fees"
    CANCEL_FEES = "cancel_fees"
    SETTLE = "settle"
    CANCEL_SETTLEMENT = "cancel_settlement"
    REVERSE = "reverse"
    APPLY_CLEARING = "apply_clearing"

    @property
    def infno(self) -> str:
        """The infno journaled when the caller does not name one (the gateway always does)."""
        return _DEFAULT_INFNO[self]


_DEFAULT_INFNO = {
    Effect.REGISTER: "2201", Effect.CANCEL_VISIT: "2202", Effect.DIAGNOSIS: "2203", Effect.UPLOAD_FEES: "2204",
    Effect.CANCEL_FEES: "2205", Effect.SETTLE: "2207", Effect.CANCEL_SETTLEMENT: "2208", Effect.DISCHARGE: "2402",
    Effect.UNDO_DISCHARGE: "2405", Effect.REVERSE: "2601", Effect.APPLY_CLEARING: "3203",
}


# ----------------------------------------------------------------------------- text and ids

def parse_time(text: str, field: str) -> dt.datetime:
    """A HIS time ('yyyy-MM-dd HH:mm:ss', or a bare date): naive Beijing wall-clock time."""
    text = (text or "").strip()
    try:
        if len(text) == 10:
            return dt.datetime.fromisoformat(text)
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - naive Beijing wall-clock time (HIS field)
    except ValueError:
        raise Refusal("BAD_TIME", f"{field} 时间格式应为 yyyy-MM-dd HH:mm:ss，收到 {text!r}。 / {field} must be "
                      f"'yyyy-MM-dd HH:mm:ss', got {text!r}.", field) from None


def fmt_time(t: dt.datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def age_on(birthdate: str, day: dt.date) -> int:
    """Whole years on `day` of a YYYY-MM-DD birthdate (0 when none is known)."""
    try:
        b = dt.date.fromisoformat(birthdate[:10])
    except ValueError:
        return 0
    return max(0, day.year - b.year - ((day.month, day.day) < (b.month, b.day)))


def new_id(prefix: str, now: dt.datetime) -> str:
    """M… visit, S… settlement, R… reversal: the Beijing time of `now` and 10 random hex digits."""
    return f"{prefix}{now.astimezone(CST):%Y%m%d%H%M%S}{secrets.token_hex(5)}"


# ----------------------------------------------------------------------------- visits and fees

@dataclass(frozen=True, slots=True)
class Visit:
    """A visit (就诊): an outpatient visit or an admission, as settlement.visits keeps it."""

    mdtrt_id: str
    fixmedins_code: str
    psn_no: str
    insutype: str
    insured_pool: str
    kind: str  # outpatient | inpatient
    med_type: str
    begntime: dt.datetime  # naive Beijing wall-clock time, as the HIS sent it
    endtime: dt.datetime | None
    status: str  # open | discharged | settled | cancelled
    ipt_otp_no: str = ""
    dise_codg: str = ""
    dise_name: str = ""
    dept_code: str = ""
    dept_name: str = ""
    atddr_no: str = ""
    dr_name: str = ""
    mdtrt_cert_type: str = ""
    mdtrt_cert_no: str = ""
    emergency: bool = False
    dscg_way: str = ""
    fees_version: int = 0  # bumped by every fee upload/cancel: a settlement computed on older fees must not book
    # The eligibility snapshot taken at registration, as codec.snapshot_to_json wrote it (None:
    # registered before migration 0020). 2207/2304 settle on it; the booking checks its status version.
    snapshot: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One uploaded fee detail with the treatment place's catalogue split (settlement.fee_details);
    setl_id is the settlement that took it, None while unsettled."""

    mdtrt_id: str
    feedetl_sn: str
    chrg_bchno: str
    fee_ocur_time: str
    med_list_codg: str
    medins_list_codg: str
    name: str
    cnt: Decimal
    pric_fen: int
    det_item_fee_sumamt_fen: int
    chrgitm_lv: str
    selfpay_prop: Decimal
    pric_uplmt_amt_fen: int | None
    fulamt_ownpay_fen: int
    overlmt_fen: int
    preselfpay_fen: int
    inscp_fen: int
    seq: int
    setl_id: str | None = None

    def undo_json(self) -> dict[str, Any]:
        """The line as 2601 keeps it in the journal to put it back (Decimals as text, no setl_id)."""
        return {"mdtrt_id": self.mdtrt_id, "feedetl_sn": self.feedetl_sn, "chrg_bchno": self.chrg_bchno,
                "fee_ocur_time": self.fee_ocur_time, "med_list_codg": self.med_list_codg,
                "medins_list_codg": self.medins_list_codg, "name": self.name, "cnt": str(self.cnt),
                "pric_fen": self.pric_fen, "det_item_fee_sumamt_fen": self.det_item_fee_sumamt_fen,
                "chrgitm_lv": self.chrgitm_lv, "selfpay_prop": str(self.selfpay_prop),
                "pric_uplmt_amt_fen": self.pric_uplmt_amt_fen, "fulamt_ownpay_fen": self.fulamt_ownpay_fen,
                "overlmt_fen": self.overlmt_fen, "preselfpay_fen": self.preselfpay_fen, "inscp_fen": self.inscp_fen,
                "seq": self.seq}

    @classmethod
    def from_undo_json(cls, d: Mapping[str, Any]) -> FeeLine:
        return cls(**{k: v for k, v in d.items() if k != "setl_id"} | {
            "cnt": Decimal(str(d["cnt"])), "selfpay_prop": Decimal(str(d["selfpay_prop"]))})


@dataclass(frozen=True, slots=True)
class FeeInput:
    """One fee detail as the HIS sends it (2204/2301)."""

    feedetl_sn: str
    chrg_bchno: str
    fee_ocur_time: str
    med_list_codg: str
    medins_list_codg: str
    det_item_fee_sumamt_fen: int
    cnt: str  # decimal text, checked by the use case
    pric_fen: int
    name: str


# ----------------------------------------------------------------------------- the journal

@dataclass(frozen=True, slots=True)
class Transaction:
    """One journaled call (settlement.transactions), keyed by (fixmedins_code, msgid)."""

    fixmedins_code: str
    msgid: str
    infno: str
    digest: bytes
    reply: bytes
    psn_no: str
    mdtrt_id: str
    setl_id: str
    effect: str  # an Effect value ('' on rows that name none)
    undo: Mapping[str, Any]
    reversed_by: str | None


@dataclass(frozen=True, slots=True)
class JournalNote:
    """What the journal keeps beside the reply: the visit and settlement a call touched and
    what 2601 needs to undo it."""

    mdtrt_id: str = ""
    setl_id: str = ""
    undo: Mapping[str, Any] | None = None


# ----------------------------------------------------------------------------- accumulators

@dataclass(frozen=True, slots=True)
class AccumulatorRow:
    """A person's accumulators for one insurance type and year: the engine's flat keys, the cap
    recorded for each, and the version they were read at (a write must find it unchanged)."""

    data: Mapping[str, int] = field(default_factory=dict)
    caps: Mapping[str, int] = field(default_factory=dict)
    version: int = 0  # 0: no row yet

    def after(self, r: SettlementResult) -> AccumulatorRow:
        """The row after a settlement, with the engine's caps recorded (same read version).
        Refuses to produce a row that exceeds a cap: the engine should never ask; this is the
        last line of defence."""
        data, caps = apply_deltas(self.data, self.caps, r)
        return AccumulatorRow(data, caps, self.version)

    def account_balance(self, fallback: int | None) -> int:
        return account_balance(self.data, self.caps, fallback)


def apply_deltas(data: Mapping[str, int], caps: Mapping[str, int], r: SettlementResult) -> tuple[dict[str, int], dict[str, int]]:
    """The accumulators after a settlement, with the engine's caps recorded; refuses to produce a
    row that exceeds a cap (the engine should never ask; this is the last line of defence)."""
    new = dict(data)
    for key, delta in r.deltas.items():
        new[key] = int(new.get(key, 0)) + delta
    new_caps = dict(caps)
    new_caps.update(r.caps)
    over = [k for k, cap in r.caps.items() if int(new.get(k, 0)) > cap]
    if over:
        raise InvariantViolated(f"accumulators would exceed their caps: {over}")
    return new, new_caps


def account_balance(data: Mapping[str, int], caps: Mapping[str, int], fallback: int | None) -> int:
    """Personal account left: the year's credit (recorded as the cap of acct:used) minus used."""
    credit = caps.get("acct:used", fallback)
    if credit is None:
        return 0
    return int(credit) - int(data.get("acct:used", 0))


@dataclass(frozen=True, slots=True)
class Accumulator:
    key: str
    amount: int  # fen, or a count for admissions:*
    cap: int  # -1: no cap recorded


@dataclass(frozen=True, slots=True)
class AccumulatorReport:
    """5206: a person's year so far."""

    psn_no: str
    insutype: str
    year: int
    accumulators: tuple[Accumulator, ...]
    account_balance_fen: int = 0


# ----------------------------------------------------------------------------- settlements

@dataclass(frozen=True, slots=True)
class Settlement:
    """One settlement or reversal row (settlement.settlements). Its fields are the table's column
    list: the repository derives every statement and the booking's row from them. (The SQL
    function book_settlement, migration 0002, spells the columns out too; test_booking.py holds
    it to this list.)"""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    psn_name: str
    psn_type: str
    insutype: str
    year: int
    fixmedins_code: str
    insured_pool: str
    treatment_pool: str
    med_type: str
    line: str
    region_class: str
    filing_group: str
    ratio: Decimal
    clr_type: str  # 11 outpatient | 21 inpatient
    clr_way: str
    medfee_sumamt: int
    fulamt_ownpay_amt: int
    overlmt_selfpay: int
    preselfpay_amt: int
    inscp_scp_amt: int
    act_pay_dedc: int
    hifp_pay: int
    cvlserv_pay: int
    hifes_pay: int
    hifmi_pay: int
    hifob_pay: int
    maf_pay: int
    oth_pay: int
    fund_pay_sumamt: int
    psn_part_amt: int
    acct_pay: int
    psn_cash_pay: int
    hosp_part_amt: int
    balc_fen: int  # the account balance after this booking
    status: str  # settled | cancelled | reversal
    reverses_setl_id: str | None
    setl_time: dt.datetime
    setlym: str  # the clearing month; a reversal keeps its original's; a frozen one's next open month (stored)
    setl_date: dt.date
    deltas: Mapping[str, int]  # the accumulator deltas this booking applied
    caps: Mapping[str, int]  # the caps the engine bound them by
    result: SettlementResult  # the engine's whole result (items, fund lines, explanation)
    msgid: str
    # The month this row was meant for when a clearing run had frozen it: written only by the booking's
    # trigger (migration 0010), which then moved setlym to the next open month; None otherwise.
    carried_from: str | None = None


AMOUNT_FIELDS = (
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc",
    "hifp_pay", "cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay", "fund_pay_sumamt",
    "psn_part_amt", "acct_pay", "psn_cash_pay", "hosp_part_amt",
)


_amounts = operator.attrgetter(*AMOUNT_FIELDS)


class SettlementAmounts(TypedDict):
    """amounts_of's keys: AMOUNT_FIELDS, each an int field of Settlement and of SettlementResult."""

    medfee_sumamt: int
    fulamt_ownpay_amt: int
    overlmt_selfpay: int
    preselfpay_amt: int
    inscp_scp_amt: int
    act_pay_dedc: int
    hifp_pay: int
    cvlserv_pay: int
    hifes_pay: int
    hifmi_pay: int
    hifob_pay: int
    maf_pay: int
    oth_pay: int
    fund_pay_sumamt: int
    psn_part_amt: int
    acct_pay: int
    psn_cash_pay: int
    hosp_part_amt: int


def amounts_of(r: SettlementResult) -> SettlementAmounts:
    """The settlement row's amounts, as the engine computed them (same names on both)."""
    # Built from AMOUNT_FIELDS by name; SettlementAmounts spells the same keys out for the type checker.
    return cast(SettlementAmounts, dict(zip(AMOUNT_FIELDS, _amounts(r), strict=True)))


@dataclass(frozen=True, slots=True)
class FundPayment:
    """One setldetail row (settlement.settlement_funds)."""

    fund_pay_type: str
    fund_pay_type_name: str
    inscp_scp_amt_fen: int
    crt_payb_lmt_amt_fen: int | None
    fund_payamt_fen: int
    setl_proc_info: str


def funds_of(r: SettlementResult) -> tuple[FundPayment, ...]:
    return tuple(FundPayment(f.fund_pay_type, f.name, f.inscp_fen, f.cap_left_fen, f.amount_fen, f.info)
                 for f in r.fund_lines)


@dataclass(frozen=True, slots=True)
class ReplyPerson:
    """The setlinfo's person fields, from the snapshot a settlement used (the gateway then need not
    ask eligibility for them)."""

    certno: str
    gend: str
    brdy: str  # YYYY-MM-DD
    age: int  # on the settlement's day (Beijing)
    cvlserv: bool


@dataclass(frozen=True, slots=True)
class SettlementReply:
    """A settlement (or reversal, or pre-settlement: setl_id '') with its fund lines."""

    settlement: Settlement
    funds: tuple[FundPayment, ...]
    person: ReplyPerson | None = None
    # 3102: what the fund-supervision rules found, each with what it did (flagged | self_pay)
    findings: tuple[tuple[Finding, str], ...] = ()

    @classmethod
    def of(cls, s: Settlement, person: ReplyPerson | None = None,
           findings: tuple[tuple[Finding, str], ...] = ()) -> SettlementReply:
        return cls(s, funds_of(s.result), person, findings)


@dataclass(frozen=True, slots=True)
class SettleState:
    """Everything the settle path reads in one round trip before BEGIN: the journal row of the
    msgid (a retry is answered from it), the visit, its unsettled fees, the accumulators and, for
    an admission, what its settlements in force (an interim one) already did."""

    journal: Transaction | None
    visit: Visit | None
    fees: tuple[FeeItem, ...]
    accumulators: AccumulatorRow
    admission: AdmissionSoFar = NO_EARLIER_SETTLEMENT  # an admission's settlements in force so far
    fee_times: tuple[str, ...] = ()  # fee_ocur_time of each fee (the supervision rules' day of an item)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """The eligibility service's answer for a person, an insurance type and a day."""

    eligible: bool
    person: PersonSnapshot
    ineligible_outcome: str = ""
    ineligible_message: str = ""
    status_version: int = 0  # eligibility.status_versions when read: the booking checks it
    certno: str = ""
    gender: str = ""  # "1" | "2" | "" (the supervision rules' gender and age checks too)
    birthdate: str = ""  # YYYY-MM-DD

    def reply_person(self, day: dt.date) -> ReplyPerson:
        return ReplyPerson(self.certno, self.gender, self.birthdate, age_on(self.birthdate, day), self.person.cvlserv)

    @property
    def birth_date(self) -> dt.date | None:
        """The birthdate as a date (None when none is known or it is not YYYY-MM-DD)."""
        try:
            return dt.date.fromisoformat(self.birthdate[:10])
        except ValueError:
            return None

    @property
    def insured_pool(self) -> str:
        return self.person.insured_pool


# ----------------------------------------------------------------------------- requests

@dataclass(frozen=True, slots=True)
class Registration:
    """2201 / 2401."""

    psn_no: str
    insutype: str
    kind: str
    med_type: str
    begntime: str
    mdtrt_cert_type: str = ""
    mdtrt_cert_no: str = ""
    ipt_otp_no: str = ""
    dise_codg: str = ""
    dise_name: str = ""
    dept_code: str = ""
    dept_name: str = ""
    atddr_no: str = ""
    dr_name: str = ""
    emergency: bool = False
    card_sn: str = ""


@dataclass(frozen=True, slots=True)
class CertificateClaim:
    """The certificate a transaction names, to be checked against psn_no by eligibility (DOMAIN.md
    §6a) on the snapshot call; an e-voucher is bound to (hospital, visit_key)."""

    cert_type: str
    cert_no: str
    card_sn: str
    hospital: str
    visit_key: str  # reg:<hospital>:<msgid> for a registration, the mdtrt_id for a settlement


@dataclass(frozen=True, slots=True)
class VisitRef:
    """The visit a call is about (2202/2404 cancel, 2405 undo discharge)."""

    mdtrt_id: str
    psn_no: str = ""


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """2203: what the visit record says; empty fields keep the visit's."""

    mdtrt_id: str
    psn_no: str = ""
    med_type: str = ""
    begntime: str = ""
    dise_codg: str = ""
    dise_name: str = ""
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class DischargeOrder:
    """2402."""

    mdtrt_id: str
    psn_no: str = ""
    endtime: str = ""
    dise_codg: str = ""
    dscg_way: str = ""


@dataclass(frozen=True, slots=True)
class FeeUpload:
    """2204 / 2301."""

    mdtrt_id: str
    psn_no: str
    feedetail: tuple[FeeInput, ...]


@dataclass(frozen=True, slots=True)
class FeeCancellation:
    """2205 / 2302: one fee by its feedetl_sn, or ('' or '0000') every unsettled one, optionally
    of one charge batch."""

    mdtrt_id: str
    psn_no: str = ""
    feedetl_sn: str = ""
    chrg_bchno: str = ""


@dataclass(frozen=True, slots=True)
class DeclaredSplit:
    """The HIS's own split of the bill (2207 may state it): it must match the catalogue's."""

    fulamt_ownpay_amt: int
    overlmt_selfpay: int
    preselfpay_amt: int
    inscp_scp_amt: int


@dataclass(frozen=True, slots=True)
class SettleOrder:
    """2206/2207 outpatient, 2303/2304 inpatient."""

    mdtrt_id: str
    psn_no: str = ""
    insutype: str = ""
    med_type: str = ""
    medfee_sumamt_fen: int = 0  # the HIS's total; must equal the uploaded fees
    acct_used_flag: bool = False
    mid_setl_flag: bool = False
    declared: DeclaredSplit | None = None
    mdtrt_cert_type: str = ""
    mdtrt_cert_no: str = ""
    card_sn: str = ""
    psn_setlway: str = ""  # "01" by item ("" from a gRPC caller that predates the field: the same)


@dataclass(frozen=True, slots=True)
class SettlementCancellation:
    """2208 / 2305."""

    setl_id: str
    mdtrt_id: str = ""
    psn_no: str = ""


@dataclass(frozen=True, slots=True)
class ReversalOrder:
    """2601: undo the transaction sent with omsgid."""

    omsgid: str
    oinfno: str = ""
    psn_no: str = ""


@dataclass(frozen=True, slots=True)
class ReversalReply:
    oinfno: str
    omsgid: str
    result: str  # what was undone
    settlement: SettlementReply | None = None  # set when a settlement was reversed


@dataclass(frozen=True, slots=True)
class SettlementLookup:
    """5203: by setl_id, or the visit's latest settlement in force."""

    fixmedins_code: str = ""
    setl_id: str = ""
    mdtrt_id: str = ""
    psn_no: str = ""


# ----------------------------------------------------------------------------- reconciliation

@dataclass(frozen=True, slots=True)
class TotalsStatement:
    """3201: the hospital's totals for a period (optionally one insutype, clr_type, insured pool)."""

    stmt_begndate: str
    stmt_enddate: str
    insutype: str = ""
    clr_type: str = ""
    setl_optins: str = ""
    medfee_sumamt_fen: int = 0
    fund_pay_sumamt_fen: int = 0
    acct_pay_fen: int = 0
    fixmedins_setl_cnt: int = 0


@dataclass(frozen=True, slots=True)
class PlatformTotals:
    """The platform's own figures: settled minus reversed."""

    setl_cnt: int
    medfee: int
    fund: int
    acct: int


@dataclass(frozen=True, slots=True)
class TotalsReport:
    setl_optins: str
    stmt_rslt: str  # "0" agree, "1" disagree
    stmt_rslt_dscr: str
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    acct_pay_fen: int
    setl_cnt: int


@dataclass(frozen=True, slots=True)
class DetailRow:
    setl_id: str
    mdtrt_id: str = ""
    psn_no: str = ""
    medfee_sumamt_fen: int = 0
    fund_pay_sumamt_fen: int = 0
    acct_pay_fen: int = 0
    refd_setl_flag: str = ""  # "1": a reversed/refunded settlement


@dataclass(frozen=True, slots=True)
class DetailStatement:
    """3202: the hospital's settlements of a period, row by row."""

    stmt_begndate: str
    stmt_enddate: str
    insutype: str = ""
    clr_type: str = ""
    rows: tuple[DetailRow, ...] = ()


@dataclass(frozen=True, slots=True)
class PlatformRow:
    """An original settlement of the period as the platform has it."""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    medfee_sumamt: int
    fund_pay_sumamt: int
    acct_pay: int
    status: str
    setl_date: dt.date


@dataclass(frozen=True, slots=True)
class SettlementWhereabouts:
    """Where a settlement the hospital named is, when it is not in the statement's period."""

    setl_id: str
    fixmedins_code: str
    setl_date: dt.date
    reverses_setl_id: str | None


@dataclass(frozen=True, slots=True)
class DetailResult:
    setl_id: str
    stmt_rslt: str  # "0" agree, "1" mismatch, "2" missing on the platform, "3" missing at the hospital
    memo: str


@dataclass(frozen=True, slots=True)
class DetailReport:
    results: tuple[DetailResult, ...]
    agreed: int
    disagreed: int


# ----------------------------------------------------------------------------- clearing

@dataclass(frozen=True, slots=True)
class ClearingApplicationOrder:
    """3203: a hospital's monthly clearing application."""

    setlym: str
    clr_type: str = ""
    clr_way: str = ""
    psntime: int = 0
    medfee_sumamt_fen: int = 0
    fund_appy_sum_fen: int = 0
    cash_payamt_fen: int = 0
    acct_pay_fen: int = 0
    begndate: str = ""
    enddate: str = ""


@dataclass(frozen=True, slots=True)
class PlatformMonth:
    """The platform's figures of one hospital's month (optionally one clr_type)."""

    psntime: int
    medfee: int
    fund: int
    cash: int
    acct: int


@dataclass(frozen=True, slots=True)
class ClearingApplication:
    clr_appy_evt_id: str
    status: str  # accepted | mismatch
    memo: str
    medfee_sumamt_fen: int
    fund_appy_sum_fen: int
    psntime: int


@dataclass(frozen=True, slots=True)
class ClearingStatement:
    insured_pool: str  # owes
    treatment_pool: str  # is owed (advanced the money)
    settlement_count: int  # settled minus reversed
    fund_fen: int  # fund payments advanced
    acct_fen: int = 0  # personal-account payments made outside the insured pool, advanced (their own line)
    carried_over_count: int = 0  # rows committed after their own month's run, booked into this one
    carried_over_fen: int = 0  # their fund and account payments (included in fund_fen and acct_fen)

    @property
    def owed_fen(self) -> int:
        """What the insured pool owes the treatment pool: fund and account payments."""
        return self.fund_fen + self.acct_fen


@dataclass(frozen=True, slots=True)
class NetPosition:
    pool: str
    receivable_fen: int
    payable_fen: int
    net_fen: int  # receivable - payable


@dataclass(frozen=True, slots=True)
class ClearingRun:
    run_id: str
    setlym: str
    statements: tuple[ClearingStatement, ...]
    positions: tuple[NetPosition, ...]
    created_at: dt.datetime
    replayed: bool = False  # the month's stored run, made earlier
