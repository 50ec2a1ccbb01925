"""Strict validation and parsing of a reference document (`medsettle.reference/v1`).

Pure: a dict from JSON in, a `ReferenceDocument` of engine types out, or one `ReferenceError`
listing every problem found, each naming the path of the bad field
(`policies[0].lines.inpatient.ratio.3: expected a decimal string like "0.70", got 0.7`).

Decisions this module makes (REFERENCE_DATA.md leaves them open):
- A document need not repeat what is stored: a pool a catalogue, policy or enrollment names,
  and a hospital a chronic qualification names, is the document's own or one already in the
  database. `parse_document(data, stored=...)` checks every reference against the document and
  `stored` (a `StoredReference`; the default is an empty database, i.e. a self-contained
  document); with `stored=None` the references the document does not resolve itself are kept in
  `ReferenceDocument.references` and the loader checks them against the database inside its
  transaction (`check_against_stored`, called by `store.load_document`), so a dangling reference
  is a path error there too and nothing is applied. A listed pool's admdvs may not be held by a
  stored pool the document does not redeclare, for the same insurance type.
- A hospital whose admdvs no pool holds is a *warning*, not an error: such hospitals exist
  (not yet pooled, or outside this deployment) and the engine handles them (no treatment pool,
  every item out of catalogue). Warnings are returned in `ReferenceDocument.warnings`.
- An admdvs may belong to at most one pool per insurance type, so the treatment pool is unique.
- Inpatient lines carry `deductible` (all of "1", "2", "3", "out_of_province"); outpatient and
  chronic lines carry `annual_deductible`; day_surgery either one.
- `large_amount` and `civil_servant` only on 310 policies, `critical_illness` only on 390.
- A person's certno must carry a valid GB 11643 check digit and agree with birthdate and gender.
- Policy `version` is not in the JSON: parsed policies carry version 0; the store assigns it.
- A hospital's `interface` block: every key optional; `auth` defaults to TIF only, not to both
  profiles (api_hmac_sha1 signs no body and has no nonce: a hospital opts in), `msgid` to
  lenient, `sign_in` to optional; `window_s` (± seconds per profile, 1..3600) only for a profile
  the hospital allows (records.HospitalInterface).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from services.common.ids import valid_certno
from services.engine.model import (
    AssistanceRule,
    Band,
    Catalogue,
    CatalogueItem,
    ChronicQualification,
    CriticalIllness,
    Hospital,
    Identity,
    LinePolicy,
    Policy,
    Pool,
    RatioCap,
    SupplementaryPlan,
    Tilt,
)
from services.refdata.records import (
    AUTH_PROFILES,
    DEFAULT_INTERFACE,
    MSGID_RULES,
    SIGN_IN_RULES,
    WINDOW_MAX_S,
    EnrollmentRecord,
    FilingRecord,
    HospitalCredentials,
    HospitalInterface,
    PersonRecord,
)
from services.supervision import model as sup

FORMAT = "medsettle.reference/v1"

INSUTYPES = ("310", "390")
PSN_TYPES = ("employee", "retired", "resident")
ENROLLMENT_STATUSES = ("active", "paused", "lapsed", "terminated")
LONG_TERM_FILINGS = ("retired_relocated", "long_term_residence", "stationed_work")
TEMPORARY_FILINGS = ("referral", "temporary")
FILING_TYPES = LONG_TERM_FILINGS + TEMPORARY_FILINGS
IDENTITY_TYPES = ("tekun", "dibao", "dibao_edge", "fanpin", "orphan", "disabled_1_2")
ITEM_KINDS = ("drug", "service", "material")
ITEM_CLASSES = ("01", "02", "03")
SUPPLEMENTARY_BASES = ("inscp_personal", "all_personal")
CROSS_REGION_KEYS = ("long_term", "referral", "emergency", "temporary", "intra_province")
DEDUCTIBLE_KEYS = ("1", "2", "3", "out_of_province")
LEVEL_KEYS = ("1", "2", "3")
SIMPLE_LINES = ("inpatient", "outpatient", "day_surgery")

_MONEY_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$")
_DECIMAL_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ADMDVS_RE = re.compile(r"^[0-9]{6}$")
_POOL_CODE_RE = re.compile(r"^[0-9A-Z]{2,12}$")
_HOSPITAL_CODE_RE = re.compile(r"^H[0-9]{11}$")
_PAASID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DISEASE_RE = re.compile(r"^[A-Z][0-9]{5}$")
_DESTINATION_RE = re.compile(r"^[0-9]{2}([0-9]{4})?$")
_PSN_NO_RE = re.compile(r"^[0-9A-Za-z]{1,30}$")
_PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")
_CODE_RE = re.compile(r"^[0-9A-Za-z._-]{1,64}$")
_FUND_PAY_TYPE_RE = re.compile(r"^[0-9]{6}$")
_MIN_SECRET_LEN = 32


class ReferenceError(Exception):  # noqa: A001 - the name the contract asks for
    """A reference document that does not match; `errors` lists every problem with its path."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        head = "; ".join(self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} error(s) in reference data: {head}{more}")


ReferenceDataError = ReferenceError  # an alias that does not shadow the builtin


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference the document makes to something it does not define itself: `kind` "pool"
    (with the insurance type it needs, or None), "hospital", or "admdvs" (a hospital's place:
    no pool holding it is a warning, not an error)."""
    path: str
    kind: str
    code: str
    insutype: str | None = None


@dataclass(frozen=True, slots=True)
class StoredReference:
    """What the database already holds that a document may refer to: pool code -> its insurance
    types, (admdvs, insutype) -> the pool holding it, and hospital codes."""
    pools: Mapping[str, frozenset[str]] = field(default_factory=dict)
    admdvs: Mapping[tuple[str, str], str] = field(default_factory=dict)
    hospitals: frozenset[str] = frozenset()


NOTHING_STORED = StoredReference()


@dataclass(frozen=True, slots=True)
class ReferenceDocument:
    pools: tuple[Pool, ...] = ()
    hospitals: tuple[Hospital, ...] = ()
    credentials: tuple[HospitalCredentials, ...] = ()
    catalogues: tuple[Catalogue, ...] = ()
    policies: tuple[Policy, ...] = ()  # version 0: assigned by the store
    persons: tuple[PersonRecord, ...] = ()
    supervision: tuple[sup.RuleSet, ...] = ()  # version 0: assigned by the store
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # what the document names but does not define, left for check_against_stored (parse_document
    # with stored=None); empty when the document was checked against a StoredReference already
    references: tuple[Reference, ...] = field(default=(), compare=False)


# ----------------------------------------------------------------------------- primitives


class _Bad:
    """Stands in for a value that failed validation, so parsing can go on and collect more."""

    def __repr__(self) -> str:
        return "<bad>"


BAD: Any = _Bad()


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class _Ctx:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def err(self, path: str, msg: str) -> Any:
        self.errors.append(f"{path or '(document)'}: {msg}")
        return BAD

    def warn(self, path: str, msg: str) -> None:
        self.warnings.append(f"{path}: {msg}")

    # -- shapes

    def obj(self, path: str, v: Any, required: Iterable[str], optional: Iterable[str] = ()) -> dict | None:
        if not isinstance(v, dict):
            self.err(path, f"expected an object, got {_show(v)}")
            return None
        required = tuple(required)
        allowed = set(required) | set(optional)
        for k in v:
            if k not in allowed:
                self.err(_join(path, k), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for k in required:
            if k not in v:
                self.err(_join(path, k), "missing required key")
        for k in getattr(v, "duplicate_keys", ()):
            self.err(_join(path, k), "key appears more than once")
        return v

    def lst(self, path: str, v: Any) -> list:
        if not isinstance(v, list):
            self.err(path, f"expected a list, got {_show(v)}")
            return []
        return v

    # -- scalars

    def string(self, path: str, v: Any, pattern: re.Pattern | None = None, what: str = "") -> Any:
        if not isinstance(v, str):
            return self.err(path, f"expected a string{' ' + what if what else ''}, got {_show(v)}")
        if not v.strip():
            return self.err(path, "expected a non-empty string")
        if pattern is not None and not pattern.match(v):
            return self.err(path, f"expected {what or 'a string matching ' + pattern.pattern}, got {_show(v)}")
        return v

    def enum(self, path: str, v: Any, allowed: Iterable[str]) -> Any:
        allowed = tuple(allowed)
        if not isinstance(v, str) or v not in allowed:
            return self.err(path, f"expected one of {', '.join(allowed)}, got {_show(v)}")
        return v

    def integer(self, path: str, v: Any, lo: int | None = None, hi: int | None = None) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            return self.err(path, f"expected an integer, got {_show(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return self.err(path, f"expected an integer in [{lo}, {hi}], got {v}")
        return v

    def boolean(self, path: str, v: Any) -> Any:
        if not isinstance(v, bool):
            return self.err(path, f"expected true or false, got {_show(v)}")
        return v

    def money(self, path: str, v: Any) -> Any:
        """Yuan string with at most two decimals -> int fen, exactly."""
        if not isinstance(v, str) or not _MONEY_RE.match(v):
            return self.err(path, f'expected a yuan amount string like "800.00" (at most 2 decimals), got {_show(v)}')
        whole, _, frac = v.partition(".")
        return int(whole) * 100 + int((frac + "00")[:2])

    def money_or_null(self, path: str, v: Any) -> Any:
        return None if v is None else self.money(path, v)

    def ratio(self, path: str, v: Any, lo: int = 0, hi: int = 1) -> Any:
        if not isinstance(v, str) or not _DECIMAL_RE.match(v):
            return self.err(path, f'expected a decimal string like "0.70", got {_show(v)}')
        try:
            d = Decimal(v)
        except InvalidOperation:  # pragma: no cover - the regex already excludes it
            return self.err(path, f'expected a decimal string like "0.70", got {_show(v)}')
        if not (lo <= d <= hi):
            return self.err(path, f"expected a ratio in [{lo}, {hi}], got {_show(v)}")
        return d

    def date(self, path: str, v: Any) -> Any:
        if not isinstance(v, str) or not _DATE_RE.match(v):
            return self.err(path, f'expected a date "YYYY-MM-DD", got {_show(v)}')
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            return self.err(path, f"not a calendar date: {_show(v)}")

    def date_or_null(self, path: str, v: Any) -> Any:
        return None if v is None else self.date(path, v)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _ok(*values: Any) -> bool:
    return not any(v is BAD for v in values)


def _range_ok(ctx: _Ctx, path: str, begin: Any, end: Any, begin_key: str, end_key: str) -> None:
    if isinstance(begin, dt.date) and isinstance(end, dt.date) and begin > end:
        ctx.err(_join(path, end_key), f"{end_key} {end.isoformat()} is before {begin_key} {begin.isoformat()}")


def _unique(ctx: _Ctx, path: str, items: Iterable[tuple[int, Any]], what: str) -> None:
    seen: dict[Any, int] = {}
    for i, key in items:
        if key is BAD or key is None:
            continue
        if key in seen:
            ctx.err(f"{path}[{i}]",
                    f"duplicate {what} {_show(key) if isinstance(key, str) else key} (also at {path}[{seen[key]}])")
        else:
            seen[key] = i


# ----------------------------------------------------------------------------- pools, hospitals, catalogues


def _parse_pool(ctx: _Ctx, path: str, v: Any) -> Pool | None:
    o = ctx.obj(path, v, ("code", "name", "insutypes", "admdvs"))
    if o is None:
        return None
    code = ctx.string(_join(path, "code"), o.get("code"), _POOL_CODE_RE, "a pool code like \"330600\" or \"43CZT\"")
    name = ctx.string(_join(path, "name"), o.get("name"))
    insutypes = []
    ipath = _join(path, "insutypes")
    raw = ctx.lst(ipath, o.get("insutypes")) if "insutypes" in o else []
    if "insutypes" in o and isinstance(o.get("insutypes"), list) and not raw:
        ctx.err(ipath, "expected at least one insurance type")
    for i, t in enumerate(raw):
        t = ctx.enum(f"{ipath}[{i}]", t, INSUTYPES)
        if t is not BAD:
            if t in insutypes:
                ctx.err(f"{ipath}[{i}]", f"duplicate insurance type {t}")
            else:
                insutypes.append(t)
    admdvs: list[str] = []
    apath = _join(path, "admdvs")
    raw = ctx.lst(apath, o.get("admdvs")) if "admdvs" in o else []
    if "admdvs" in o and isinstance(o.get("admdvs"), list) and not raw:
        ctx.err(apath, "expected at least one admdvs code")
    for i, a in enumerate(raw):
        a = ctx.string(f"{apath}[{i}]", a, _ADMDVS_RE, "a 6-digit admdvs code")
        if a is not BAD:
            if a in admdvs:
                ctx.err(f"{apath}[{i}]", f"duplicate admdvs {a}")
            else:
                admdvs.append(a)
    return Pool(code=code, name=name, insutypes=tuple(insutypes), admdvs=frozenset(admdvs))


def _parse_interface(ctx: _Ctx, path: str, v: Any) -> HospitalInterface:
    """A hospital's `interface` block; every key optional (an omitted key means its default)."""
    o = ctx.obj(path, v, (), ("auth", "msgid", "sign_in", "window_s"))
    if o is None:
        return DEFAULT_INTERFACE
    auth: tuple[str, ...] = DEFAULT_INTERFACE.auth
    if "auth" in o:
        apath = _join(path, "auth")
        raw = ctx.lst(apath, o["auth"])
        if isinstance(o["auth"], list) and not raw:
            ctx.err(apath, f"expected at least one authentication profile ({', '.join(AUTH_PROFILES)})")
        seen: list[str] = []
        for i, a in enumerate(raw):
            a = ctx.enum(f"{apath}[{i}]", a, AUTH_PROFILES)
            if a is BAD:
                continue
            if a in seen:
                ctx.err(f"{apath}[{i}]", f"duplicate authentication profile {a}")
            else:
                seen.append(a)
        # Canonical order, so that ["api_hmac_sha1", "tif"] and ["tif", "api_hmac_sha1"] store alike.
        auth = tuple(a for a in AUTH_PROFILES if a in seen) or auth
    msgid = ctx.enum(_join(path, "msgid"), o["msgid"], MSGID_RULES) if "msgid" in o else DEFAULT_INTERFACE.msgid
    sign_in = ctx.enum(_join(path, "sign_in"), o["sign_in"], SIGN_IN_RULES) if "sign_in" in o \
        else DEFAULT_INTERFACE.sign_in
    windows: dict[str, int] = {}
    if "window_s" in o:
        wpath = _join(path, "window_s")
        w = ctx.obj(wpath, o["window_s"], (), AUTH_PROFILES) or {}
        for profile in AUTH_PROFILES:
            if profile not in w:
                continue
            n = ctx.integer(_join(wpath, profile), w[profile], 1, WINDOW_MAX_S)
            if n is BAD:
                continue
            if profile not in auth:
                ctx.err(_join(wpath, profile), f"a window for {profile}, which this hospital's auth does not allow "
                                               f"(auth: {', '.join(auth)})")
            windows[profile] = n
    return HospitalInterface(auth=auth, msgid=msgid, sign_in=sign_in, tif_window_s=windows.get("tif"),
                             api_window_s=windows.get("api_hmac_sha1"))


def _parse_hospital(ctx: _Ctx, path: str, v: Any) -> tuple[Hospital, HospitalCredentials] | None:
    o = ctx.obj(path, v, ("code", "name", "admdvs", "level", "cross_province", "paasid", "secret"), ("interface",))
    if o is None:
        return None
    code = ctx.string(_join(path, "code"), o.get("code"), _HOSPITAL_CODE_RE, 'a 12-character code like "H33060200001"')
    name = ctx.string(_join(path, "name"), o.get("name"))
    admdvs = ctx.string(_join(path, "admdvs"), o.get("admdvs"), _ADMDVS_RE, "a 6-digit admdvs code")
    level = ctx.integer(_join(path, "level"), o.get("level"), 1, 3)
    cross = ctx.boolean(_join(path, "cross_province"), o.get("cross_province"))
    paasid = ctx.string(_join(path, "paasid"), o.get("paasid"), _PAASID_RE, "a paasid of letters, digits, '.', '_', '-'")
    secret = o.get("secret")
    if not isinstance(secret, str):
        secret = ctx.err(_join(path, "secret"), f"expected a string, got {_show(secret)}")
    elif len(secret) < _MIN_SECRET_LEN:
        secret = ctx.err(_join(path, "secret"), f"expected at least {_MIN_SECRET_LEN} characters, got {len(secret)}")
    raw_interface = o.get("interface")  # absent or null: the defaults
    interface = DEFAULT_INTERFACE if raw_interface is None else _parse_interface(ctx, _join(path, "interface"),
                                                                                 raw_interface)
    return (Hospital(code=code, name=name, admdvs=admdvs, level=level, cross_province=cross),
            HospitalCredentials(code=code, paasid=paasid, secret=secret, interface=interface))


def _parse_item(ctx: _Ctx, path: str, v: Any) -> CatalogueItem | None:
    o = ctx.obj(path, v, ("code", "name", "kind", "class"), ("selfpay_prop", "price_cap"))
    if o is None:
        return None
    code = ctx.string(_join(path, "code"), o.get("code"), _CODE_RE, "an item code of letters and digits")
    name = ctx.string(_join(path, "name"), o.get("name"))
    kind = ctx.enum(_join(path, "kind"), o.get("kind"), ITEM_KINDS)
    cls = ctx.enum(_join(path, "class"), o.get("class"), ITEM_CLASSES)
    selfpay = Decimal("0")
    if o.get("selfpay_prop") is not None:
        selfpay = ctx.ratio(_join(path, "selfpay_prop"), o["selfpay_prop"])
        if cls in ("01", "03") and selfpay is not BAD and selfpay != 0:
            ctx.err(_join(path, "selfpay_prop"), f"only class 02 (乙) items have a selfpay_prop, this item is class {cls}")
    cap = ctx.money_or_null(_join(path, "price_cap"), o.get("price_cap"))
    return CatalogueItem(code=code, name=name, kind=kind, cls=cls, selfpay_prop=selfpay, price_cap_fen=cap)


def _parse_catalogue(ctx: _Ctx, path: str, v: Any) -> Catalogue | None:
    o = ctx.obj(path, v, ("pool", "items"))
    if o is None:
        return None
    pool = ctx.string(_join(path, "pool"), o.get("pool"), _POOL_CODE_RE, "a pool code")
    items: dict[str, CatalogueItem] = {}
    ipath = _join(path, "items")
    seen: list[tuple[int, Any]] = []
    for i, it in enumerate(ctx.lst(ipath, o.get("items")) if "items" in o else []):
        item = _parse_item(ctx, f"{ipath}[{i}]", it)
        if item is None:
            continue
        seen.append((i, item.code))
        if item.code is not BAD and item.code not in items:
            items[item.code] = item
    _unique(ctx, ipath, seen, "item code")
    return Catalogue(pool=pool, items=items)


# ----------------------------------------------------------------------------- policies


def _line_name_ok(name: str) -> bool:
    if name in SIMPLE_LINES:
        return True
    return name.startswith("chronic:") and bool(_DISEASE_RE.match(name[len("chronic:"):]))


def _parse_levels(ctx: _Ctx, path: str, v: Any) -> dict[int, Decimal]:
    o = ctx.obj(path, v, LEVEL_KEYS)
    if o is None:
        return {}
    return {int(k): ctx.ratio(_join(path, k), o[k]) for k in LEVEL_KEYS if k in o}


def _parse_line(ctx: _Ctx, path: str, name: str, v: Any) -> LinePolicy | None:
    o = ctx.obj(path, v, ("ratio",),
                ("deductible", "annual_deductible", "repeat_factor", "annual_cap", "monthly_cap", "cap_group"))
    if o is None:
        return None
    ratio = _parse_levels(ctx, _join(path, "ratio"), o.get("ratio")) if "ratio" in o else {}
    deductible = None
    if o.get("deductible") is not None:
        dpath = _join(path, "deductible")
        d = ctx.obj(dpath, o["deductible"], DEDUCTIBLE_KEYS)
        deductible = {k: ctx.money(_join(dpath, k), d[k]) for k in DEDUCTIBLE_KEYS if k in d} if d is not None else {}
    annual_deductible = ctx.money_or_null(_join(path, "annual_deductible"), o.get("annual_deductible"))
    if name == "inpatient" and deductible is None:
        ctx.err(_join(path, "deductible"), "the inpatient line needs a per-admission deductible")
    if (name == "outpatient" or name.startswith("chronic:")) and annual_deductible is None:
        ctx.err(_join(path, "annual_deductible"), f"the {name} line needs an annual_deductible")
    if deductible is not None and annual_deductible is not None:
        ctx.err(path, "a line has either deductible (per admission) or annual_deductible, not both")
    if deductible is None and annual_deductible is None and name == "day_surgery":
        ctx.err(path, "the day_surgery line needs deductible or annual_deductible")
    repeat = None
    if o.get("repeat_factor") is not None:
        repeat = ctx.ratio(_join(path, "repeat_factor"), o["repeat_factor"])
        if deductible is None:
            ctx.err(_join(path, "repeat_factor"), "repeat_factor only applies to a per-admission deductible")
    cap_group = None
    if o.get("cap_group") is not None:
        cap_group = ctx.string(_join(path, "cap_group"), o["cap_group"], _CODE_RE, "a cap group name")
    return LinePolicy(
        name=name, ratio=ratio, deductible_fen=deductible, repeat_factor=repeat,
        annual_deductible_fen=annual_deductible,
        annual_cap_fen=ctx.money_or_null(_join(path, "annual_cap"), o.get("annual_cap")),
        monthly_cap_fen=ctx.money_or_null(_join(path, "monthly_cap"), o.get("monthly_cap")),
        cap_group=cap_group,
    )


def _parse_ratio_cap(ctx: _Ctx, path: str, v: Any) -> RatioCap | None:
    if v is None:
        return None
    o = ctx.obj(path, v, ("ratio", "annual_cap"))
    if o is None:
        return None
    return RatioCap(ratio=ctx.ratio(_join(path, "ratio"), o.get("ratio")),
                    annual_cap_fen=ctx.money_or_null(_join(path, "annual_cap"), o.get("annual_cap")))


def _parse_identity_groups(ctx: _Ctx, path: str, v: Any) -> tuple[str, ...]:
    groups: list[str] = []
    for i, g in enumerate(ctx.lst(path, v)):
        g = ctx.enum(f"{path}[{i}]", g, IDENTITY_TYPES)
        if g is not BAD:
            if g in groups:
                ctx.err(f"{path}[{i}]", f"duplicate group {g}")
            groups.append(g)
    return tuple(groups)


def _parse_critical_illness(ctx: _Ctx, path: str, v: Any) -> CriticalIllness | None:
    if v is None:
        return None
    o = ctx.obj(path, v, ("threshold", "bands", "annual_cap"), ("tilt",))
    if o is None:
        return None
    bands: list[Band] = []
    bpath = _join(path, "bands")
    raw = ctx.lst(bpath, o.get("bands")) if "bands" in o else []
    if "bands" in o and isinstance(o.get("bands"), list) and not raw:
        ctx.err(bpath, "expected at least one band")
    prev = None
    for i, b in enumerate(raw):
        p = f"{bpath}[{i}]"
        bo = ctx.obj(p, b, ("upto", "ratio"))
        if bo is None:
            continue
        upto = ctx.money_or_null(_join(p, "upto"), bo.get("upto"))
        if upto is None and i != len(raw) - 1:
            ctx.err(_join(p, "upto"), "only the last band may be unbounded (null)")
        if i == len(raw) - 1 and upto is not None and upto is not BAD:
            ctx.err(_join(p, "upto"), "the last band must be unbounded (null)")
        if isinstance(upto, int) and isinstance(prev, int) and upto <= prev:
            ctx.err(_join(p, "upto"), "band bounds must increase")
        if isinstance(upto, int):
            prev = upto
        bands.append(Band(upto_fen=upto, ratio=ctx.ratio(_join(p, "ratio"), bo.get("ratio"))))
    tilt = None
    if o.get("tilt") is not None:
        tp = _join(path, "tilt")
        to = ctx.obj(tp, o["tilt"], ("groups", "threshold_factor", "ratio_bonus", "cap"))
        if to is not None:
            tilt = Tilt(
                groups=_parse_identity_groups(ctx, _join(tp, "groups"), to.get("groups")) if "groups" in to else (),
                threshold_factor=ctx.ratio(_join(tp, "threshold_factor"), to.get("threshold_factor")),
                ratio_bonus=ctx.ratio(_join(tp, "ratio_bonus"), to.get("ratio_bonus")),
                cap_fen=ctx.money_or_null(_join(tp, "cap"), to.get("cap")),
            )
    return CriticalIllness(
        threshold_fen=ctx.money(_join(path, "threshold"), o.get("threshold")),
        bands=tuple(bands),
        annual_cap_fen=ctx.money_or_null(_join(path, "annual_cap"), o.get("annual_cap")),
        tilt=tilt,
    )


def _parse_assistance(ctx: _Ctx, path: str, v: Any) -> tuple[AssistanceRule, ...]:
    if v is None:
        return ()
    if not isinstance(v, dict):
        ctx.err(path, f"expected an object (group -> rule, in order of precedence), got {_show(v)}")
        return ()
    for k in getattr(v, "duplicate_keys", ()):
        ctx.err(_join(path, k), "key appears more than once")
    rules = []
    for group, rv in v.items():
        p = _join(path, group)
        g = ctx.enum(p, group, IDENTITY_TYPES) if group not in IDENTITY_TYPES else group
        if g is BAD:
            continue
        ro = ctx.obj(p, rv, ("annual_deductible", "ratio", "annual_cap"))
        if ro is None:
            continue
        rules.append(AssistanceRule(
            group=group,
            annual_deductible_fen=ctx.money(_join(p, "annual_deductible"), ro.get("annual_deductible")),
            ratio=ctx.ratio(_join(p, "ratio"), ro.get("ratio")),
            annual_cap_fen=ctx.money_or_null(_join(p, "annual_cap"), ro.get("annual_cap")),
        ))
    return tuple(rules)


def _parse_supplementary(ctx: _Ctx, path: str, v: Any) -> tuple[SupplementaryPlan, ...]:
    if v is None:
        return ()
    plans = []
    codes = []
    for i, pv in enumerate(ctx.lst(path, v)):
        p = f"{path}[{i}]"
        o = ctx.obj(p, pv, ("code", "fund_pay_type", "base", "annual_deductible", "ratio", "annual_cap"))
        if o is None:
            continue
        code = ctx.string(_join(p, "code"), o.get("code"), _CODE_RE, "a plan code")
        codes.append((i, code))
        plans.append(SupplementaryPlan(
            code=code,
            fund_pay_type=ctx.string(_join(p, "fund_pay_type"), o.get("fund_pay_type"), _FUND_PAY_TYPE_RE,
                                     'a 6-digit fund_pay_type like "390300"'),
            base=ctx.enum(_join(p, "base"), o.get("base"), SUPPLEMENTARY_BASES),
            annual_deductible_fen=ctx.money(_join(p, "annual_deductible"), o.get("annual_deductible")),
            ratio=ctx.ratio(_join(p, "ratio"), o.get("ratio")),
            annual_cap_fen=ctx.money_or_null(_join(p, "annual_cap"), o.get("annual_cap")),
        ))
    _unique(ctx, path, codes, "plan code")
    return tuple(plans)


_POLICY_REQUIRED = ("pool", "insutype", "year", "waiting_days", "lines", "cap_groups", "retired_bonus", "cross_region")
_POLICY_OPTIONAL = ("intra_province_requires_filing", "large_amount", "civil_servant", "critical_illness",
                    "assistance", "supplementary", "min_temporary_filing_days")


def _parse_policy(ctx: _Ctx, path: str, v: Any, version: int = 0) -> Policy | None:
    o = ctx.obj(path, v, _POLICY_REQUIRED, _POLICY_OPTIONAL)
    if o is None:
        return None
    pool = ctx.string(_join(path, "pool"), o.get("pool"), _POOL_CODE_RE, "a pool code")
    insutype = ctx.enum(_join(path, "insutype"), o.get("insutype"), INSUTYPES)
    year = ctx.integer(_join(path, "year"), o.get("year"), 2000, 2100)
    waiting = ctx.integer(_join(path, "waiting_days"), o.get("waiting_days"), 0, 366)
    ipr = ctx.boolean(_join(path, "intra_province_requires_filing"), o.get("intra_province_requires_filing", False))
    min_days = ctx.integer(_join(path, "min_temporary_filing_days"), o.get("min_temporary_filing_days", 180), 0, 3660)

    cap_groups: dict[str, int] = {}
    cgpath = _join(path, "cap_groups")
    if "cap_groups" in o:
        cg = o["cap_groups"]
        if not isinstance(cg, dict):
            ctx.err(cgpath, f"expected an object (group name -> annual cap), got {_show(cg)}")
        else:
            for k in getattr(cg, "duplicate_keys", ()):
                ctx.err(_join(cgpath, k), "key appears more than once")
            for k, amount in cg.items():
                if not _CODE_RE.match(k):
                    ctx.err(_join(cgpath, k), "expected a cap group name of letters, digits, '.', '_', '-'")
                cap_groups[k] = ctx.money(_join(cgpath, k), amount)

    lines: dict[str, LinePolicy] = {}
    lpath = _join(path, "lines")
    if "lines" in o:
        lv = o["lines"]
        if not isinstance(lv, dict):
            ctx.err(lpath, f"expected an object (line name -> line policy), got {_show(lv)}")
        elif not lv:
            ctx.err(lpath, "expected at least one line")
        else:
            for k in getattr(lv, "duplicate_keys", ()):
                ctx.err(_join(lpath, k), "key appears more than once")
            for name, body in lv.items():
                p = _join(lpath, name)
                if not _line_name_ok(name):
                    ctx.err(p, "unknown line name "
                               "(expected inpatient, outpatient, day_surgery or chronic:<code> like chronic:M03900)")
                    continue
                line = _parse_line(ctx, p, name, body)
                if line is None:
                    continue
                if isinstance(line.cap_group, str) and "cap_groups" in o and line.cap_group not in cap_groups:
                    ctx.err(_join(p, "cap_group"), f"cap group {_show(line.cap_group)} is not defined in cap_groups")
                lines[name] = line

    cross: dict[str, Decimal] = {}
    crpath = _join(path, "cross_region")
    if "cross_region" in o:
        co = ctx.obj(crpath, o["cross_region"], CROSS_REGION_KEYS)
        if co is not None:
            cross = {k: ctx.ratio(_join(crpath, k), co[k], -1, 1) for k in CROSS_REGION_KEYS if k in co}

    large = _parse_ratio_cap(ctx, _join(path, "large_amount"), o.get("large_amount"))
    cvl = _parse_ratio_cap(ctx, _join(path, "civil_servant"), o.get("civil_servant"))
    ci = _parse_critical_illness(ctx, _join(path, "critical_illness"), o.get("critical_illness"))
    if insutype == "390":
        if large is not None:
            ctx.err(_join(path, "large_amount"), "the large-amount subsidy applies to employee insurance (310) only; use null")
        if cvl is not None:
            ctx.err(_join(path, "civil_servant"), "the civil-servant subsidy applies to employee insurance (310) only; use null")
    if insutype == "310" and ci is not None:
        ctx.err(_join(path, "critical_illness"), "critical illness applies to resident insurance (390) only; use null")

    return Policy(
        pool=pool, insutype=insutype, year=year, version=version, waiting_days=waiting,
        intra_province_requires_filing=ipr, lines=lines, cap_groups=cap_groups,
        retired_bonus=ctx.ratio(_join(path, "retired_bonus"), o.get("retired_bonus")),
        cross_region=cross, large_amount=large, civil_servant=cvl, critical_illness=ci,
        assistance=_parse_assistance(ctx, _join(path, "assistance"), o.get("assistance")),
        supplementary=_parse_supplementary(ctx, _join(path, "supplementary"), o.get("supplementary")),
        min_temporary_filing_days=min_days,
    )


# ----------------------------------------------------------------------------- persons


def _parse_person(ctx: _Ctx, path: str, v: Any) -> PersonRecord | None:
    o = ctx.obj(path, v, ("psn_no", "certno", "name", "gender", "birthdate", "enrollments"),
                ("identities", "chronic", "filings", "account_balance", "social_card", "cvlserv", "phone",
                 "death_date"))
    if o is None:
        return None
    psn_no = ctx.string(_join(path, "psn_no"), o.get("psn_no"), _PSN_NO_RE, "a psn_no of letters and digits")
    certno = o.get("certno")
    if not valid_certno(certno):
        certno = ctx.err(_join(path, "certno"),
                         f"expected an 18-character identity number with a valid GB 11643 check digit, got {_show(certno)}")
    name = ctx.string(_join(path, "name"), o.get("name"))
    gender = ctx.enum(_join(path, "gender"), o.get("gender"), ("1", "2"))
    birthdate = ctx.date(_join(path, "birthdate"), o.get("birthdate"))
    if isinstance(certno, str) and isinstance(birthdate, dt.date) and certno[6:14] != birthdate.strftime("%Y%m%d"):
        ctx.err(_join(path, "certno"),
                f"the birth date in certno ({certno[6:14]}) does not match birthdate {birthdate.isoformat()}")
    if isinstance(certno, str) and isinstance(gender, str) and (int(certno[16]) % 2 == 1) != (gender == "1"):
        ctx.err(_join(path, "certno"),
                f"the sex digit in certno ({certno[16]}) does not match gender {gender} (odd = 1 male, even = 2 female)")

    enrollments = []
    epath = _join(path, "enrollments")
    keys: list[tuple[int, Any]] = []
    for i, ev in enumerate(ctx.lst(epath, o.get("enrollments")) if "enrollments" in o else []):
        p = f"{epath}[{i}]"
        eo = ctx.obj(p, ev, ("pool", "insutype", "year", "psn_type", "benefit_start", "benefit_end", "status"))
        if eo is None:
            continue
        e = EnrollmentRecord(
            pool=ctx.string(_join(p, "pool"), eo.get("pool"), _POOL_CODE_RE, "a pool code"),
            insutype=ctx.enum(_join(p, "insutype"), eo.get("insutype"), INSUTYPES),
            year=ctx.integer(_join(p, "year"), eo.get("year"), 2000, 2100),
            psn_type=ctx.enum(_join(p, "psn_type"), eo.get("psn_type"), PSN_TYPES),
            benefit_start=ctx.date(_join(p, "benefit_start"), eo.get("benefit_start")),
            benefit_end=ctx.date(_join(p, "benefit_end"), eo.get("benefit_end")),
            status=ctx.enum(_join(p, "status"), eo.get("status"), ENROLLMENT_STATUSES),
        )
        _range_ok(ctx, p, e.benefit_start, e.benefit_end, "benefit_start", "benefit_end")
        if e.insutype == "390" and e.psn_type in ("employee", "retired"):
            ctx.err(_join(p, "psn_type"), f"psn_type {e.psn_type} belongs to employee insurance (310), not 390")
        if e.insutype == "310" and e.psn_type == "resident":
            ctx.err(_join(p, "psn_type"), "psn_type resident belongs to resident insurance (390), not 310")
        if _ok(e.pool, e.insutype, e.year):
            keys.append((i, (e.pool, e.insutype, e.year)))
        enrollments.append(e)
    _unique(ctx, epath, keys, "enrollment (pool, insutype, year)")

    identities = []
    ipath = _join(path, "identities")
    for i, iv in enumerate(ctx.lst(ipath, o.get("identities") or [])):
        p = f"{ipath}[{i}]"
        io = ctx.obj(p, iv, ("type", "begin", "end"))
        if io is None:
            continue
        ident = Identity(type=ctx.enum(_join(p, "type"), io.get("type"), IDENTITY_TYPES),
                         begin=ctx.date(_join(p, "begin"), io.get("begin")),
                         end=ctx.date_or_null(_join(p, "end"), io.get("end")))
        _range_ok(ctx, p, ident.begin, ident.end, "begin", "end")
        identities.append(ident)

    chronic = []
    cpath = _join(path, "chronic")
    for i, cv in enumerate(ctx.lst(cpath, o.get("chronic") or [])):
        p = f"{cpath}[{i}]"
        co = ctx.obj(p, cv, ("code", "begin", "end"), ("hospital",))
        if co is None:
            continue
        hosp = None
        if co.get("hospital") is not None:
            hosp = ctx.string(_join(p, "hospital"), co["hospital"], _HOSPITAL_CODE_RE, "a hospital code")
        q = ChronicQualification(
            code=ctx.string(_join(p, "code"), co.get("code"), _DISEASE_RE, 'a disease code like "M03900"'),
            begin=ctx.date(_join(p, "begin"), co.get("begin")),
            end=ctx.date_or_null(_join(p, "end"), co.get("end")),
            hospital=hosp,
        )
        _range_ok(ctx, p, q.begin, q.end, "begin", "end")
        chronic.append(q)

    filings = []
    fpath = _join(path, "filings")
    for i, fv in enumerate(ctx.lst(fpath, o.get("filings") or [])):
        p = f"{fpath}[{i}]"
        fo = ctx.obj(p, fv, ("type", "destination", "begin", "end"))
        if fo is None:
            continue
        ftype = fo.get("type")
        if ftype == "emergency":
            ftype = ctx.err(_join(p, "type"), "emergency visits are deemed filed for that visit; they need no filing record")
        else:
            ftype = ctx.enum(_join(p, "type"), ftype, FILING_TYPES)
        f = FilingRecord(
            type=ftype,
            destination=ctx.string(_join(p, "destination"), fo.get("destination"), _DESTINATION_RE,
                                   'a province or division code like "33", "330000" or "330602"'),
            begin=ctx.date(_join(p, "begin"), fo.get("begin")),
            end=ctx.date_or_null(_join(p, "end"), fo.get("end")),
        )
        if f.type in LONG_TERM_FILINGS and f.end is not None:
            ctx.err(_join(p, "end"), f"a {f.type} filing is long-term: end must be null (valid until revoked)")
        if f.type in TEMPORARY_FILINGS and f.end is None and "end" in fo:
            ctx.err(_join(p, "end"), f"a {f.type} filing is temporary: end is required")
        _range_ok(ctx, p, f.begin, f.end, "begin", "end")
        filings.append(f)

    cvlserv = ctx.boolean(_join(path, "cvlserv"), o.get("cvlserv", False))
    if cvlserv is True and enrollments and not any(e.insutype == "310" for e in enrollments):
        ctx.err(_join(path, "cvlserv"), "the civil-servant subsidy needs an employee (310) enrollment")
    social = o.get("social_card")
    if social is not None:
        social = ctx.string(_join(path, "social_card"), social)
    phone = o.get("phone")
    if phone is not None:
        phone = ctx.string(_join(path, "phone"), phone, _PHONE_RE, "a mainland mobile number of 11 digits (1xxxxxxxxxx)")
    death = ctx.date_or_null(_join(path, "death_date"), o.get("death_date"))
    if isinstance(death, dt.date) and isinstance(birthdate, dt.date) and death < birthdate:
        death = ctx.err(_join(path, "death_date"), f"death_date {death.isoformat()} is before birthdate")
    return PersonRecord(
        psn_no=psn_no, certno=certno or "",  # None only beside an error: the document is then refused
        name=name, gender=gender, birthdate=birthdate,
        enrollments=tuple(enrollments), identities=tuple(identities), chronic=tuple(chronic),
        filings=tuple(filings),
        account_balance_fen=ctx.money(_join(path, "account_balance"), o.get("account_balance", "0.00")),
        social_card=social, cvlserv=cvlserv, phone=phone, death_date=death,
    )


# ----------------------------------------------------------------------------- the document


def _each(ctx: _Ctx, o: dict, key: str, parse: Callable[[_Ctx, str, Any], Any]) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    if key not in o:
        return out
    for i, v in enumerate(ctx.lst(key, o[key])):
        r = parse(ctx, f"{key}[{i}]", v)
        if r is not None:
            out.append((i, r))
    return out


def parse_document(data: Any, *, stored: StoredReference | None = NOTHING_STORED) -> ReferenceDocument:
    """Validate and parse a whole reference document; raise ReferenceError with every problem.

    Its references are checked against the document and `stored` (by default nothing: the
    document must then be self-contained); `stored=None` leaves those it does not resolve itself
    in `references`, for the loader to check against the database in its transaction."""
    ctx = _Ctx()
    o = ctx.obj("", data, ("format",), ("pools", "hospitals", "catalogues", "policies", "persons", "supervision"))
    if o is None:
        raise ReferenceError(ctx.errors)
    if "format" in o and o["format"] != FORMAT:
        ctx.err("format", f"expected {_show(FORMAT)}, got {_show(o['format'])}")

    pools = _each(ctx, o, "pools", _parse_pool)
    hospitals = _each(ctx, o, "hospitals", _parse_hospital)
    catalogues = _each(ctx, o, "catalogues", _parse_catalogue)
    policies = _each(ctx, o, "policies", _parse_policy)
    persons = _each(ctx, o, "persons", _parse_person)
    supervision = _each(ctx, o, "supervision", _parse_supervision)

    # -- uniqueness
    _unique(ctx, "pools", [(i, p.code) for i, p in pools], "pool code")
    _unique(ctx, "hospitals", [(i, h.code) for i, (h, _) in hospitals], "hospital code")
    _unique(ctx, "hospitals", [(i, c.paasid) for i, (_, c) in hospitals], "paasid")
    _unique(ctx, "catalogues", [(i, c.pool) for i, c in catalogues], "catalogue for pool")
    _unique(ctx, "policies", [(i, (p.pool, p.insutype, p.year)) if _ok(p.pool, p.insutype, p.year) else (i, None)
                              for i, p in policies], "policy (pool, insutype, year)")
    _unique(ctx, "persons", [(i, p.psn_no) for i, p in persons], "psn_no")
    _unique(ctx, "supervision", [(i, (r.pool, r.year)) if _ok(r.pool, r.year) else (i, None) for i, r in supervision],
            "supervision entry (pool, year)")
    _unique(ctx, "persons", [(i, p.certno) for i, p in persons], "certno")

    # -- an admdvs belongs to at most one pool per insurance type
    owner: dict[tuple[str, str], str] = {}
    for i, p in pools:
        for a in sorted(p.admdvs):
            for t in p.insutypes:
                prev = owner.get((a, t))
                if prev is not None and prev != p.code and p.code is not BAD:
                    ctx.err(f"pools[{i}].admdvs", f"admdvs {a} is already in pool {prev} for insutype {t}")
                elif p.code is not BAD:
                    owner[(a, t)] = p.code
    pool_by_code = {p.code: p for _, p in pools if p.code is not BAD}
    all_admdvs = {a for p in pool_by_code.values() for a in p.admdvs}
    hospital_codes = {h.code for _, (h, _) in hospitals if h.code is not BAD}

    # -- references: what the document defines itself is checked here; the rest is a Reference,
    # resolved against the stored data (now, or by the loader in its transaction)
    refs: list[Reference] = []

    def pool_ref(path: str, code: Any, insutype: Any) -> None:
        if not isinstance(code, str):
            return
        t = insutype if isinstance(insutype, str) else None
        pool = pool_by_code.get(code)
        if pool is None:
            refs.append(Reference(_join(path, "pool"), "pool", code, t))
        elif t is not None and t not in pool.insutypes:
            ctx.err(_join(path, "insutype"), f"pool {code} does not carry insutype {t}")

    for i, (h, _) in hospitals:
        if isinstance(h.admdvs, str) and h.admdvs not in all_admdvs:
            refs.append(Reference(f"hospitals[{i}].admdvs", "admdvs", h.admdvs))
        if isinstance(h.code, str) and isinstance(h.admdvs, str) and h.code[1:7] != h.admdvs:
            ctx.warn(f"hospitals[{i}].code", f"code {h.code} does not start with H + its admdvs {h.admdvs}")
    for i, c in catalogues:
        pool_ref(f"catalogues[{i}]", c.pool, None)
    for i, p in policies:
        pool_ref(f"policies[{i}]", p.pool, p.insutype)
    for i, rs in supervision:
        pool_ref(f"supervision[{i}]", rs.pool, None)
    for i, person in persons:
        for j, e in enumerate(person.enrollments):
            pool_ref(f"persons[{i}].enrollments[{j}]", e.pool, e.insutype)
        for j, q in enumerate(person.chronic):
            if isinstance(q.hospital, str) and q.hospital not in hospital_codes:
                refs.append(Reference(f"persons[{i}].chronic[{j}].hospital", "hospital", q.hospital))

    if ctx.errors:
        raise ReferenceError(ctx.errors)
    doc = ReferenceDocument(
        pools=tuple(p for _, p in pools),
        hospitals=tuple(h for _, (h, _) in hospitals),
        credentials=tuple(c for _, (_, c) in hospitals),
        catalogues=tuple(c for _, c in catalogues),
        policies=tuple(p for _, p in policies),
        persons=tuple(p for _, p in persons),
        supervision=tuple(r for _, r in supervision),
        warnings=tuple(ctx.warnings),
        references=tuple(refs),
    )
    return doc if stored is None else check_against_stored(doc, stored)


def check_against_stored(doc: ReferenceDocument, stored: StoredReference) -> ReferenceDocument:
    """The document's references resolved against what is stored (pure): a pool or hospital that
    is neither in the document nor stored, a stored pool that does not carry the insurance type
    named, or a listed pool's admdvs that a stored pool not redeclared holds for the same
    insurance type is an error naming its path (ReferenceError, every one listed). Returns the
    document with its warnings completed (no pool, stored or listed, holds a hospital's admdvs)
    and no references left."""
    errors: list[str] = []
    warnings = list(doc.warnings)
    stored_admdvs = {a for a, _ in stored.admdvs}
    for r in doc.references:
        if r.kind == "pool":
            carried = stored.pools.get(r.code)
            if carried is None:
                errors.append(f"{r.path}: pool {_show(r.code)} is not defined in pools, nor in the stored reference "
                              "data: list the pool in this document or load it first")
            elif r.insutype is not None and r.insutype not in carried:
                errors.append(f"{r.path.rsplit('.', 1)[0]}.insutype: the stored pool {r.code} does not carry "
                              f"insutype {r.insutype} (it carries {', '.join(sorted(carried)) or 'none'})")
        elif r.kind == "hospital":
            if r.code not in stored.hospitals:
                errors.append(f"{r.path}: hospital {_show(r.code)} is not defined in hospitals, nor in the stored "
                              "reference data")
        elif r.kind == "admdvs" and r.code not in stored_admdvs:
            warnings.append(f"{r.path}: no pool holds admdvs {r.code}: the hospital has no treatment pool")
    listed = {p.code for p in doc.pools}
    for i, p in enumerate(doc.pools):
        for a in sorted(p.admdvs):
            for t in p.insutypes:
                holder = stored.admdvs.get((a, t))
                if holder is not None and holder != p.code and holder not in listed:
                    errors.append(f"pools[{i}].admdvs: admdvs {a} is already in the stored pool {holder} for insutype "
                                  f"{t}: redeclare {holder} without it in the same document")
    if errors:
        raise ReferenceError(errors)
    return dataclasses.replace(doc, warnings=tuple(warnings), references=())


def parse_policy(data: Any, version: int = 0, path: str = "policy") -> Policy:
    """Parse one policy object (as stored in reference.policies.body) into an engine Policy."""
    ctx = _Ctx()
    policy = _parse_policy(ctx, path, data, version)
    if ctx.errors or policy is None:
        raise ReferenceError(ctx.errors or [f"{path}: not a policy"])
    return policy


# ----------------------------------------------------------------------------- JSON in and out


class _JsonObject(dict):
    """A JSON object that remembers keys it saw twice (json.loads keeps only the last)."""

    __slots__ = ("duplicate_keys",)
    duplicate_keys: tuple[str, ...]


def _pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    dupes = []
    for k, v in pairs:
        if k in obj:
            dupes.append(k)
        obj[k] = v
    obj.duplicate_keys = tuple(dupes)
    return obj


def loads(text: str) -> Any:
    """json.loads that keeps key order and reports duplicate keys to the validator."""
    return json.loads(text, object_pairs_hook=_pairs)


def read_document(path: str | Path, *, stored: StoredReference | None = NOTHING_STORED) -> ReferenceDocument:
    """Read and parse a reference file (`stored` as for parse_document); a file that is not JSON is
    a ReferenceError too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReferenceError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceError([f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from exc
    return parse_document(data, stored=stored)


def money_str(fen: int | None) -> str | None:
    if fen is None:
        return None
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def ratio_str(d: Decimal) -> str:
    """Canonical ratio text: at least two decimals, no trailing zeros beyond ("0.7" -> "0.70")."""
    text = format(d.normalize(), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if whole == "-0":
        whole = "0" if not frac else "-0"
    return f"{whole}.{frac.ljust(2, '0')}"


def _line_json(line: LinePolicy) -> dict:
    out: dict[str, Any] = {}
    if line.deductible_fen is not None:
        out["deductible"] = {k: money_str(line.deductible_fen[k]) for k in DEDUCTIBLE_KEYS if k in line.deductible_fen}
    if line.annual_deductible_fen is not None:
        out["annual_deductible"] = money_str(line.annual_deductible_fen)
    if line.repeat_factor is not None:
        out["repeat_factor"] = ratio_str(line.repeat_factor)
    out["ratio"] = {str(k): ratio_str(line.ratio[k]) for k in sorted(line.ratio)}
    if line.annual_cap_fen is not None:
        out["annual_cap"] = money_str(line.annual_cap_fen)
    if line.monthly_cap_fen is not None:
        out["monthly_cap"] = money_str(line.monthly_cap_fen)
    if line.cap_group is not None:
        out["cap_group"] = line.cap_group
    return out


def _ratio_cap_json(rc: RatioCap | None) -> dict | None:
    if rc is None:
        return None
    return {"ratio": ratio_str(rc.ratio), "annual_cap": money_str(rc.annual_cap_fen)}


def policy_to_json(p: Policy) -> dict:
    """The canonical JSON of a policy (without version): equal policies give equal JSON, so the
    store can tell a changed policy from a reformatted one."""
    ci: dict[str, Any] | None = None
    if p.critical_illness is not None:
        c = p.critical_illness
        ci = {
            "threshold": money_str(c.threshold_fen),
            "bands": [{"upto": money_str(b.upto_fen), "ratio": ratio_str(b.ratio)} for b in c.bands],
            "annual_cap": money_str(c.annual_cap_fen),
        }
        if c.tilt is not None:
            ci["tilt"] = {"groups": list(c.tilt.groups), "threshold_factor": ratio_str(c.tilt.threshold_factor),
                          "ratio_bonus": ratio_str(c.tilt.ratio_bonus), "cap": money_str(c.tilt.cap_fen)}
    return {
        "pool": p.pool,
        "insutype": p.insutype,
        "year": p.year,
        "waiting_days": p.waiting_days,
        "intra_province_requires_filing": p.intra_province_requires_filing,
        "min_temporary_filing_days": p.min_temporary_filing_days,
        "lines": {name: _line_json(line) for name, line in sorted(p.lines.items())},
        "cap_groups": {k: money_str(v) for k, v in sorted(p.cap_groups.items())},
        "retired_bonus": ratio_str(p.retired_bonus),
        "cross_region": {k: ratio_str(p.cross_region[k]) for k in CROSS_REGION_KEYS if k in p.cross_region},
        "large_amount": _ratio_cap_json(p.large_amount),
        "civil_servant": _ratio_cap_json(p.civil_servant),
        "critical_illness": ci,
        # order matters (first held applies): a JSON object keeps it when text is stored
        "assistance": {r.group: {"annual_deductible": money_str(r.annual_deductible_fen), "ratio": ratio_str(r.ratio),
                                 "annual_cap": money_str(r.annual_cap_fen)} for r in p.assistance},
        "supplementary": [{"code": s.code, "fund_pay_type": s.fund_pay_type, "base": s.base,
                           "annual_deductible": money_str(s.annual_deductible_fen), "ratio": ratio_str(s.ratio),
                           "annual_cap": money_str(s.annual_cap_fen)} for s in p.supplementary],
    }


def policy_body_text(p: Policy) -> str:
    """The canonical policy JSON as text (stable key order, assistance order preserved)."""
    return json.dumps(policy_to_json(p), ensure_ascii=False, separators=(",", ":"))


# ----------------------------------------------------------------------------- supervision (DOMAIN.md §10)

_RULE_CODE_RE = re.compile(r"^[0-9A-Za-z_-]{1,30}$")
_DIAG_PREFIX_RE = re.compile(r"^[A-Z][0-9A-Z.]{0,9}$")
_RULE_COMMON = ("code", "kind", "severity", "message")
_RULE_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind -> (required parameters, optional parameters)
    "quantity": (("items",), ("per_day", "per_visit", "supply_days", "daily_dose")),
    "gender": (("items", "gender"), ()),
    "age": (("items",), ("min_age", "max_age")),
    "diagnosis": (("items", "diagnoses"), ()),
    "duplicate": ((), ("items",)),
    "overlap": ((), ()),
    "readmission": (("days",), ("same_hospital",)),
    "hospitals_per_day": (("max_hospitals",), ()),
    "after_death": ((), ()),
    "peer_outlier": (("metric", "factor"), ("min_visits", "item", "diagnosis")),
}


def _quantity_str(ctx: _Ctx, path: str, v: Any) -> Any:
    if not isinstance(v, str) or not _DECIMAL_RE.match(v) or v.startswith("-"):
        return ctx.err(path, f'expected a positive decimal string like "3" or "0.5", got {_show(v)}')
    d = Decimal(v)
    if d <= 0:
        return ctx.err(path, f"expected a quantity above 0, got {_show(v)}")
    return d


def _parse_rule(ctx: _Ctx, path: str, v: Any) -> Any:
    if not isinstance(v, dict):
        ctx.err(path, f"expected an object, got {_show(v)}")
        return None
    kind = ctx.enum(_join(path, "kind"), v.get("kind"), sup.RULE_KINDS) if "kind" in v else BAD  # obj() says missing
    required, optional = _RULE_PARAMS.get(kind, ((), ())) if isinstance(kind, str) else ((), ())
    o = ctx.obj(path, v, _RULE_COMMON + required, ("name",) + optional if kind is not BAD else
                tuple({k for r, op in _RULE_PARAMS.values() for k in r + op}) + ("name",))
    if o is None:
        return None
    code = ctx.string(_join(path, "code"), o.get("code"), _RULE_CODE_RE, "a rule code of letters, digits, '-', '_' (≤ 30)")
    severity = ctx.enum(_join(path, "severity"), o.get("severity"), sup.SEVERITIES)
    message = ctx.string(_join(path, "message"), o.get("message"), what="the message a clerk can act on")
    if isinstance(message, str) and len(message) > 200:
        message = ctx.err(_join(path, "message"), "at most 200 characters")
    name = ctx.string(_join(path, "name"), o["name"]) if "name" in o else ""
    kw: dict[str, Any] = {}
    if "items" in o:
        p = _join(path, "items")
        codes = ctx.lst(p, o["items"])
        if "items" in required and isinstance(o["items"], list) and not codes:
            ctx.err(p, "expected at least one catalogue item code")
        kw["items"] = frozenset(ctx.string(f"{p}[{i}]", c, _CODE_RE, "an item code") for i, c in enumerate(codes))
    for k in ("per_day", "per_visit", "daily_dose"):
        if k in o:
            kw[k] = _quantity_str(ctx, _join(path, k), o[k])
    for k, lo, hi in (("supply_days", 1, 366), ("min_age", 0, 150), ("max_age", 0, 150), ("days", 1, 366),
                      ("max_hospitals", 1, 50), ("min_visits", 1, 1_000_000)):
        if k in o:
            kw[k] = ctx.integer(_join(path, k), o[k], lo, hi)
    if "gender" in o:
        kw["gender"] = ctx.enum(_join(path, "gender"), o["gender"], ("1", "2"))
    if "same_hospital" in o:
        kw["same_hospital"] = ctx.boolean(_join(path, "same_hospital"), o["same_hospital"])
    if "diagnoses" in o:
        p = _join(path, "diagnoses")
        ds = ctx.lst(p, o["diagnoses"])
        if isinstance(o["diagnoses"], list) and not ds:
            ctx.err(p, "expected at least one diagnosis code prefix")
        kw["diagnoses"] = tuple(ctx.string(f"{p}[{i}]", d, _DIAG_PREFIX_RE, 'an ICD-10 code prefix like "E11" or "N18.5"')
                                for i, d in enumerate(ds))
    if "metric" in o:
        kw["metric"] = ctx.enum(_join(path, "metric"), o["metric"], sup.PEER_METRICS)
    if "factor" in o:
        f = ctx.ratio(_join(path, "factor"), o["factor"], 1, 100)
        kw["factor"] = f
    if "item" in o:
        kw["item"] = ctx.string(_join(path, "item"), o["item"], _CODE_RE, "an item code")
    if "diagnosis" in o:
        kw["diagnosis"] = ctx.string(_join(path, "diagnosis"), o["diagnosis"], _DIAG_PREFIX_RE, "an ICD-10 code prefix")
    # what each kind needs to mean something
    if kind == "quantity" and not ({"per_day", "per_visit", "supply_days"} & set(o)):
        ctx.err(path, "a quantity rule needs per_day, per_visit or supply_days + daily_dose")
    if kind == "quantity" and ("supply_days" in o) != ("daily_dose" in o):
        ctx.err(_join(path, "supply_days" if "daily_dose" in o else "daily_dose"),
                "supply_days and daily_dose go together (days of supply = quantity / daily_dose)")
    if kind == "age" and not ({"min_age", "max_age"} & set(o)):
        ctx.err(path, "an age rule needs min_age or max_age")
    if isinstance(kw.get("min_age"), int) and isinstance(kw.get("max_age"), int) and kw["min_age"] > kw["max_age"]:
        ctx.err(_join(path, "max_age"), f"max_age {kw['max_age']} is below min_age {kw['min_age']}")
    if kind == "peer_outlier":
        metric = kw.get("metric")
        if metric == "item_share" and "item" not in o:
            ctx.err(_join(path, "item"), "metric item_share needs the item")
        if metric == "diagnosis_rate" and "diagnosis" not in o:
            ctx.err(_join(path, "diagnosis"), "metric diagnosis_rate needs the diagnosis")
        if severity == "block":
            ctx.err(_join(path, "severity"), "a peer_outlier rule is evaluated after the event only: use warn")
    return sup.Rule(code=code, kind=kind, severity=severity, message=message, name=name, **kw)


def _parse_supervision(ctx: _Ctx, path: str, v: Any, version: int = 0) -> Any:
    o = ctx.obj(path, v, ("pool", "year", "rules"), ("on_error",))
    if o is None:
        return None
    pool = ctx.string(_join(path, "pool"), o.get("pool"), _POOL_CODE_RE, "a pool code")
    year = ctx.integer(_join(path, "year"), o.get("year"), 2000, 2100)
    on_error = ctx.enum(_join(path, "on_error"), o.get("on_error", "settle"), sup.ON_ERROR)
    rules = []
    rpath = _join(path, "rules")
    for i, r in enumerate(ctx.lst(rpath, o.get("rules", []))):
        rule = _parse_rule(ctx, f"{rpath}[{i}]", r)
        if rule is not None:
            rules.append((i, rule))
    _unique(ctx, rpath, [(i, r.code) for i, r in rules], "rule code")
    return sup.RuleSet.of(pool, year, tuple(r for _, r in rules), on_error, version)


def parse_supervision(data: Any, version: int = 0, path: str = "supervision") -> sup.RuleSet:
    """Parse one supervision entry (as stored in reference.supervision_rules.body_text)."""
    ctx = _Ctx()
    rs = _parse_supervision(ctx, path, data, version)
    if ctx.errors or rs is None:
        raise ReferenceError(ctx.errors or [f"{path}: not a supervision entry"])
    return rs


def _decimal_str(d: Decimal) -> str:
    return format(d.normalize(), "f")


def supervision_to_json(rs: sup.RuleSet) -> dict:
    """The canonical JSON of a rule set (without version): rule order kept, keys sorted."""
    rules = []
    for r in rs.rules:
        out: dict[str, Any] = {"code": r.code, "kind": r.kind, "severity": r.severity, "message": r.message}
        if r.name:
            out["name"] = r.name
        if r.items:
            out["items"] = sorted(r.items)
        for k in ("per_day", "per_visit", "daily_dose"):
            val = getattr(r, k)
            if val is not None:
                out[k] = _decimal_str(val)
        for k in ("supply_days", "min_age", "max_age", "days", "max_hospitals", "min_visits", "gender", "metric",
                  "item", "diagnosis"):
            val = getattr(r, k)
            if val is not None:
                out[k] = val
        if r.diagnoses:
            out["diagnoses"] = list(r.diagnoses)
        if r.kind == "readmission":
            out["same_hospital"] = r.same_hospital
        if r.factor is not None:
            out["factor"] = ratio_str(r.factor)
        rules.append(dict(sorted(out.items())))
    return {"pool": rs.pool, "year": rs.year, "on_error": rs.on_error, "rules": rules}


def supervision_body_text(rs: sup.RuleSet) -> str:
    return json.dumps(supervision_to_json(rs), ensure_ascii=False, separators=(",", ":"))
