"""The settlement engine's plain data: reference data, the person, the bill, the result.

Pure: no I/O, no asyncio, no protobuf, no clock. Money is integer fen everywhere; ratios are
Decimal. Everything that varies by region and year (ratios, caps, deductibles, catalogues,
filing adjustments) arrives here as data, never as a constant.

This module is the contract between the reference-data loader (which builds Policy, Catalogue,
Pool and Hospital from the JSON of docs/REFERENCE_DATA.md), the services (which build PersonSnapshot
and Accumulators from storage) and the engine (which computes SettlementResult).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from decimal import Decimal
from typing import Any, TypeVar, cast

Fen = int

# ----------------------------------------------------------------------------- reference data


@dataclass(frozen=True, slots=True)
class Pool:
    """A pool (统筹区): a set of admdvs codes sharing one policy per insurance type."""

    code: str  # "330600", "650000", "43CZT"
    name: str
    insutypes: tuple[str, ...]
    admdvs: frozenset[str]

    def holds(self, admdvs: str) -> bool:
        return admdvs in self.admdvs


@dataclass(frozen=True, slots=True)
class Hospital:
    code: str  # fixmedins_code, 12 chars
    name: str
    admdvs: str
    level: int  # 1, 2, 3
    cross_province: bool


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    code: str
    name: str
    kind: str  # drug | service | material
    cls: str  # chrgitm_lv: "01" 甲, "02" 乙, "03" 丙
    selfpay_prop: Decimal = Decimal("0")  # 乙 pre-self-pay ratio
    price_cap_fen: Fen | None = None  # unit price cap (最高限价)


@dataclass(frozen=True, slots=True)
class Catalogue:
    pool: str
    items: Mapping[str, CatalogueItem]


@dataclass(frozen=True, slots=True)
class LinePolicy:
    """One benefit line of a policy: "inpatient", "outpatient", "chronic:M07803", "day_surgery"...

    Inpatient-style lines carry a per-admission `deductible` keyed "1"/"2"/"3"/"out_of_province";
    outpatient-style lines an `annual_deductible_fen`. Caps: `annual_cap_fen` (this line alone),
    `monthly_cap_fen` (per calendar month, dialysis-style), `cap_group` (shared annual cap named
    in Policy.cap_groups). When several apply, the smallest amount left binds.
    """

    name: str
    ratio: Mapping[int, Decimal]  # by hospital level
    deductible_fen: Mapping[str, Fen] | None = None
    repeat_factor: Decimal | None = None
    annual_deductible_fen: Fen | None = None
    annual_cap_fen: Fen | None = None
    monthly_cap_fen: Fen | None = None
    cap_group: str | None = None


@dataclass(frozen=True, slots=True)
class Band:
    upto_fen: Fen | None  # bound on the cumulative excess over the threshold; None = no bound
    ratio: Decimal


@dataclass(frozen=True, slots=True)
class Tilt:
    groups: tuple[str, ...]
    threshold_factor: Decimal
    ratio_bonus: Decimal
    cap_fen: Fen | None  # None: the cap is removed for tilted groups


@dataclass(frozen=True, slots=True)
class CriticalIllness:
    threshold_fen: Fen
    bands: tuple[Band, ...]
    annual_cap_fen: Fen | None
    tilt: Tilt | None = None


@dataclass(frozen=True, slots=True)
class RatioCap:
    """Large-amount subsidy (310) and civil-servant subsidy: a ratio and an annual cap."""

    ratio: Decimal
    annual_cap_fen: Fen | None


@dataclass(frozen=True, slots=True)
class AssistanceRule:
    group: str  # identity type: tekun, dibao, ...
    annual_deductible_fen: Fen
    ratio: Decimal
    annual_cap_fen: Fen | None


@dataclass(frozen=True, slots=True)
class SupplementaryPlan:
    code: str
    fund_pay_type: str  # 370100 reports in hifes_pay, anything else in oth_pay
    base: str  # "inscp_personal" | "all_personal"
    annual_deductible_fen: Fen
    ratio: Decimal
    annual_cap_fen: Fen | None


@dataclass(frozen=True, slots=True)
class Policy:
    """The insured pool's policy for one insurance type and year (参保地政策)."""

    pool: str
    insutype: str  # "310" | "390"
    year: int
    version: int
    waiting_days: int
    intra_province_requires_filing: bool
    lines: Mapping[str, LinePolicy]
    cap_groups: Mapping[str, Fen]
    retired_bonus: Decimal
    cross_region: Mapping[str, Decimal]  # long_term, referral, emergency, temporary, intra_province
    large_amount: RatioCap | None = None
    civil_servant: RatioCap | None = None
    critical_illness: CriticalIllness | None = None
    assistance: tuple[AssistanceRule, ...] = ()  # in the policy's order: first held applies
    supplementary: tuple[SupplementaryPlan, ...] = ()
    min_temporary_filing_days: int = 180  # temporary/referral filings last at least this long


# ----------------------------------------------------------------------------- the person


@dataclass(frozen=True, slots=True)
class Identity:
    type: str  # tekun, dibao, dibao_edge, fanpin, orphan, disabled_1_2 ...
    begin: dt.date
    end: dt.date | None

    def holds_on(self, day: dt.date) -> bool:
        return self.begin <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class ChronicQualification:
    code: str  # M03900 ...
    begin: dt.date
    end: dt.date | None
    hospital: str | None = None

    def holds_on(self, day: dt.date) -> bool:
        return self.begin <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class PersonSnapshot:
    """What the eligibility service knows of a person for one visit date and insurance type:
    the enrollment already chosen (earliest valid one when duplicated)."""

    psn_no: str
    name: str
    insutype: str
    psn_type: str  # employee | retired | resident
    insured_pool: str  # pool code of the chosen enrollment
    identities: tuple[Identity, ...] = ()
    chronic: tuple[ChronicQualification, ...] = ()
    account_balance_fen: Fen = 0  # the year's personal account credit (employees)
    cvlserv: bool = False


# ----------------------------------------------------------------------------- accumulators
#
# Accumulators are a flat mapping key -> fen (or a count) per person, insurance type and year.
# Keys (the engine produces and reads exactly these):
#   dedc:<line>                 annual deductible paid on an outpatient/chronic line
#   admissions:inpatient        admissions this year with a settlement in force (a count: +1 by
#                               the first settlement of an admission, -1 by the reversal that
#                               leaves it none; an interim settlement's admission counts once)
#   fund:line:<line>            basic fund paid on a line with its own annual cap
#   fund:group:<group>          basic fund paid on a cap group
#   fund:month:<line>:<YYYY-MM> basic fund paid on a monthly-capped line in that month
#   ci:base                     year-to-date in-policy personal burden (critical-illness base B)
#   ci:paid                     critical illness paid
#   ob:paid                     large-amount subsidy paid
#   cvl:paid                    civil-servant subsidy paid
#   supp:<code>:dedc / supp:<code>:paid
#   maf:<group>:dedc / maf:<group>:paid
#   acct:used                   personal account used this year (cap = account balance)
# Each settlement yields `deltas` for these keys and `caps` (the bound each key must never
# exceed after the update), so storage can apply them with conditional updates.

Accumulators = Mapping[str, int]


# ----------------------------------------------------------------------------- the bill


@dataclass(frozen=True, slots=True)
class FeeItem:
    feedetl_sn: str
    list_code: str  # med_list_codg, the catalogue code
    cnt: Decimal
    pric_fen: Fen
    amount_fen: Fen  # det_item_fee_sumamt; must equal round_half_up(cnt * pric_fen)
    name: str = ""


@dataclass(frozen=True, slots=True)
class Bill:
    med_type: str  # "11", "13", "14", "21".."24", "28"
    visit_date: dt.date
    hospital: Hospital
    items: tuple[FeeItem, ...]
    disease_code: str | None = None  # required for med_type 14 (the chronic disease)
    emergency: bool = False
    acct_used_flag: bool = False
    # feedetl_sn -> why: items a fund-supervision rule blocked (services/supervision): the patient
    # pays all of each (全自费), whatever the catalogue says; the explanation names the reason.
    own_pay: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdmissionSoFar:
    """What the settlements in force of the admission being settled have already done (DOMAIN.md
    §5 precise points: one deductible per admission). An interim settlement (中途结算) leaves the
    admission open; a later settlement of the same admission sees it here. The caller reads it
    from storage: the settlements of this visit that are not cancelled."""

    settlements: int = 0  # settlements of this admission in force (0: this is its first)
    deductible_fen: Fen = 0  # the per-admission deductible they charged (act_pay_dedc)


NO_EARLIER_SETTLEMENT = AdmissionSoFar()


@dataclass(frozen=True, slots=True)
class SettlementContext:
    """Everything the engine needs besides the bill, already looked up by the caller."""

    person: PersonSnapshot
    insured_pool: Pool
    treatment_pool: Pool | None  # the pool holding the hospital's admdvs; None if none does
    policy: Policy  # insured pool, insutype, visit year
    catalogue: Catalogue  # treatment place's catalogue for the person's insutype
    filing_group: str | None  # long_term | referral | temporary from an active filing, else None
    accumulators: Accumulators
    province_of: Mapping[str, str] = field(default_factory=dict)  # pool code -> 2-digit province
    admission: AdmissionSoFar = NO_EARLIER_SETTLEMENT  # inpatient-style lines: this admission so far


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True, slots=True)
class ItemResult:
    feedetl_sn: str
    list_code: str
    amount_fen: Fen
    cnt: Decimal
    pric_fen: Fen
    price_cap_fen: Fen | None
    selfpay_prop: Decimal
    fulamt_ownpay_fen: Fen
    overlmt_fen: Fen
    preselfpay_fen: Fen
    inscp_fen: Fen
    chrgitm_lv: str  # "01"/"02"/"03"; "03" also for items not in the catalogue
    in_catalogue: bool


@dataclass(frozen=True, slots=True)
class FundLine:
    """One row of setldetail."""

    fund_pay_type: str
    name: str
    inscp_fen: Fen  # the base this fund paid on
    cap_left_fen: Fen | None  # crt_payb_lmt_amt: what was left under the cap before this visit
    amount_fen: Fen
    info: str = ""


def _frozen(name: str) -> Callable[..., None]:
    def refuse(self: object, *value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    return refuse


class ExplainStep:
    """One step of the explanation: `code`, a stable machine label ("items", "deductible",
    "hifp", "hifmi", ...); `label`, in English; `text`, Chinese with the numbers, readable by a
    clerk or a patient.

    Behaves like a frozen dataclass of those three fields (constructor, equality, hash, repr,
    immutability). The engine builds the text lazily: it records a render function and the
    numbers (`ExplainStep.deferred`, or `DeferredStep`), and the text is formatted on the
    first read of `.text`.
    Formatting two dozen yuan amounts costs more than the settlement arithmetic, and a
    settlement that is only stored or checked never needs it. The numbers are immutable
    (int, str, Decimal) and render functions are pure, so the text is the same whenever read.
    """

    # Private slots behind read-only properties: plain slot stores keep construction cheap
    # (this object is built ~9 times per settlement); assigning a field raises like a frozen
    # dataclass does.
    __slots__ = ("_code", "_label", "_text", "_pending")
    __match_args__ = ("code", "label", "text")

    def __init__(self, code: str, label: str, text: str) -> None:
        self._code = code
        self._label = label
        self._text = text
        self._pending = None  # (render, *args) until the text is first read

    @staticmethod
    def deferred(code: str, label: str, render: Callable[..., str],
                 *args: object) -> ExplainStep:
        """A step whose text is `render(*args)`, formatted when first read."""
        return cast(ExplainStep, DeferredStep(code, label, (render, *args)))  # it is one once built

    code = property(lambda self: self._code, _frozen("code"), _frozen("code"))
    label = property(lambda self: self._label, _frozen("label"), _frozen("label"))

    def _get_text(self) -> str:
        # One read of `_pending`, and `_text` stored before `_pending` is cleared: two threads
        # reading the same step at once both get the same text.
        pending = self._pending
        if pending is not None:
            self._text = pending[0](*pending[1:])
            self._pending = None  # formatted once; drop the numbers
        return self._text

    text = property(_get_text, _frozen("text"), _frozen("text"))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self._code == other._code and self._label == other._label
                and self.text == other.text)

    def __hash__(self) -> int:
        return hash((self._code, self._label, self.text))

    def __repr__(self) -> str:
        return f"ExplainStep(code={self._code!r}, label={self._label!r}, text={self.text!r})"

    def __reduce__(self) -> tuple[type[ExplainStep], tuple[str, str, str]]:
        # Pickle and copy as the finished text, never as a render function.
        return (ExplainStep, (self._code, self._label, self.text))


class DeferredStep:
    """DeferredStep(code, label, (render, *args)) builds an ExplainStep whose text is
    render(*args), formatted on first read. The object it returns *is* an ExplainStep: this
    class has the same slots and hands the finished object over to ExplainStep (the same
    device as fast_builder below), which makes it the cheapest way to record a step."""

    __slots__ = ExplainStep.__slots__

    def __init__(self, code: str, label: str, pending: tuple[object, ...]) -> None:
        self._code = code
        self._label = label
        self._text = None
        self._pending = pending
        self.__class__ = ExplainStep  # type: ignore[assignment]  # the same slots: see the class doc


@dataclass(frozen=True, slots=True)
class SettlementResult:
    line: str
    region_class: str  # local | intra_province | inter_province
    filing_group: str | None  # long_term | referral | temporary | emergency | intra_province | None
    ratio: Decimal  # r actually applied (pool_prop_selfpay)
    medfee_sumamt: Fen
    fulamt_ownpay_amt: Fen
    overlmt_selfpay: Fen
    preselfpay_amt: Fen
    inscp_scp_amt: Fen
    act_pay_dedc: Fen
    hifp_pay: Fen
    cvlserv_pay: Fen
    hifes_pay: Fen
    hifmi_pay: Fen
    hifob_pay: Fen
    maf_pay: Fen
    oth_pay: Fen
    fund_pay_sumamt: Fen
    psn_part_amt: Fen
    hosp_part_amt: Fen
    acct_pay: Fen
    psn_cash_pay: Fen
    items: tuple[ItemResult, ...]
    fund_lines: tuple[FundLine, ...]
    deltas: Mapping[str, int]
    caps: Mapping[str, int]
    explanation: tuple[ExplainStep, ...]
    reversal: bool = False  # True for the negated booking of an earlier settlement (冲销)


# ----------------------------------------------------------------------------- building results
#
# A frozen dataclass sets each field in __init__ through object.__setattr__, to get past its
# own "frozen" guard; with 13 fields per item and 28 per settlement that is a large share of a
# settlement's time. fast_builder(cls) makes a constructor with the same signature that sets
# the same slots with plain attribute stores on a mutable twin of the class, then turns the
# finished object into a `cls` (the twin has the identical slot layout, so Python allows the
# __class__ change). The result is an ordinary `cls`: frozen, equal and hashing as one built
# by `cls(...)`. tests/unit/engine/test_fast_paths.py checks this for every class it is used on.


T = TypeVar("T")


def fast_builder(cls: type[T]) -> Callable[..., T]:
    """A constructor for frozen slots dataclass `cls`: call it like `cls` itself."""
    from dataclasses import MISSING, fields

    dc = cast(Any, cls)  # a dataclass: checked just below
    names = tuple(f.name for f in fields(dc))
    if getattr(cls, "__slots__", None) != names or hasattr(cls, "__post_init__"):
        raise TypeError(f"fast_builder needs a slots dataclass without __post_init__: {cls}")
    params, namespace = [], {"_sealed": cls}
    for f in fields(dc):
        if f.default_factory is not MISSING:
            raise TypeError(f"fast_builder does not support default_factory ({cls}.{f.name})")
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    source = (f"def __init__(self, {', '.join(params)}):\n"
              + "".join(f"    self.{name} = {name}\n" for name in names)
              + "    self.__class__ = _sealed\n")
    exec(source, namespace)  # the way dataclasses itself writes __init__
    return type(f"{cls.__name__}Builder", (), {
        "__slots__": names, "__init__": namespace["__init__"], "__module__": cls.__module__,
        "__doc__": f"Builds a frozen {cls.__name__} (see fast_builder)."})
