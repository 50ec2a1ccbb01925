"""What the load test sends, as plain data: hospitals, the synthetic population, hot-person skew,
and the HIS envelopes of each scenario. No Locust and no I/O here, so the unit tests can check
that every builder produces an envelope the gateway's own parser accepts.

Signing and envelopes are gateway.hisclient's (the same code a HIS integration would use): a
`HisSession` holds one hospital's credentials and sign_no, and `request(infno, input)` returns
the TIF headers (fresh nonce, signature) and the JSON body with a fresh 30-character msgid.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from gateway.hisclient import CALL_SERVICE_PATH, HisClient, yuan
from services.common.clock import Clock

# Business time is Beijing time whatever the host's zone: every date and HIS time field sent,
# and "today" when choosing who is insured.
CLOCK = Clock()
PATH = CALL_SERVICE_PATH

# Catalogue items present in every demo pool (infra/reference/README.md).
SURG, BED, STENT, DIAL, DRUG = ("003307020030000", "001104000010000", "C03010101001001123456", "003105000010000",
                                "XC10AAA089A001010104327")
# (code, price fen) of what an ordinary outpatient visit may carry.
OUTPATIENT_ITEMS = ((DRUG, 1250), (STENT, 4000), (SURG, 8000))


@dataclass(frozen=True)
class Hospital:
    code: str
    name: str
    admdvs: str
    paasid: str
    secret: str
    cross_province: bool


@dataclass(frozen=True)
class Person:
    """One insured person's enrollment. Left out, the year is this year in Beijing and the benefit
    period that whole year."""
    psn_no: str
    certno: str
    pool: str
    insutype: str
    psn_type: str
    benefit_start: str = ""
    benefit_end: str = ""
    year: int = 0

    def __post_init__(self) -> None:
        year = self.year or CLOCK.today().year
        object.__setattr__(self, "year", year)
        if not self.benefit_start:
            object.__setattr__(self, "benefit_start", f"{year}-01-01")
        if not self.benefit_end:
            object.__setattr__(self, "benefit_end", f"{year}-12-31")

    @property
    def cert(self) -> dict:
        return {"mdtrt_cert_type": "02", "mdtrt_cert_no": self.certno}


@dataclass
class Reference:
    """The demo document's hospitals and which pool/insutype each may settle locally."""
    hospitals: list[Hospital]
    pools: dict[str, dict]
    # (pool, insutype) -> hospitals inside that pool
    local: dict[tuple[str, str], list[Hospital]] = field(default_factory=dict)

    def hospital(self, code: str) -> Hospital:
        return next(h for h in self.hospitals if h.code == code)

    def insuplc(self, person: Person) -> str:
        """The insured place's admdvs sent in the envelope: the pool's first division."""
        return sorted(self.pools[person.pool]["admdvs"])[0]

    def local_hospital(self, person: Person, rng: random.Random) -> Hospital:
        return rng.choice(self.local[(person.pool, person.insutype)])


def _demo_document(path: Path | None) -> dict:
    if path is None:
        from infra.reference.make_demo import document_for_today

        return document_for_today()
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_reference(path: Path | None = None) -> Reference:
    doc = _demo_document(path)
    hospitals = [Hospital(h["code"], h["name"], h["admdvs"], h["paasid"], h["secret"], bool(h.get("cross_province")))
                 for h in doc["hospitals"]]
    pools = {p["code"]: p for p in doc["pools"]}
    ref = Reference(hospitals, pools)
    for p in doc["pools"]:
        inside = [h for h in hospitals if h.admdvs in set(p["admdvs"])]
        for t in p["insutypes"]:
            ref.local[(p["code"], t)] = inside
    return ref


def demo_persons(path: Path | None = None) -> dict[str, dict]:
    doc = _demo_document(path)
    return {p["psn_no"]: p for p in doc["persons"]}


def read_population(path: str | Path, *, limit: int | None = None, today: dt.date | None = None) -> list[Person]:
    """Persons of a `medsettle gen-persons` CSV who are insured today in Beijing (active, benefit
    period open)."""
    today_s = (today or CLOCK.today()).isoformat()
    out: list[Person] = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] != "active" or not (row["benefit_start"] <= today_s <= row["benefit_end"]):
                continue
            out.append(Person(row["psn_no"], row["certno"], row["pool"], row["insutype"], row["psn_type"],
                              row["benefit_start"], row["benefit_end"], int(row["year"])))
            if limit and len(out) >= limit:
                break
    return out


class Skew:
    """Hot-person skew: `hot_share` of picks go to `hot_count` persons with Zipf(s) weights (the
    first is hottest); the rest are uniform over everyone else. hot_share 0 disables it."""

    def __init__(self, persons: Sequence[Person], *, hot_share: float = 0.0, hot_count: int = 50, s: float = 1.1):
        if not persons:
            raise ValueError("no persons to pick from")
        self.persons = persons
        self.hot_share = max(0.0, min(1.0, hot_share))
        self.hot_count = max(1, min(hot_count, len(persons)))
        self._cum = list(accumulate(1.0 / (i + 1) ** s for i in range(self.hot_count)))

    def pick(self, rng: random.Random) -> Person:
        if self.hot_share and rng.random() < self.hot_share:
            i = bisect_left(self._cum, rng.random() * self._cum[-1])
            return self.persons[min(i, self.hot_count - 1)]
        lo = self.hot_count if self.hot_share and len(self.persons) > self.hot_count else 0
        return self.persons[rng.randrange(lo, len(self.persons))]


# ----------------------------------------------------------------------------- envelopes

class HisSession:
    """One hospital's HIS terminal: signs every request, numbers every msgid (hisclient's code)."""

    def __init__(self, hospital: Hospital):
        self.hospital = hospital
        # No session is opened: only the envelope and header builders are used (sync callers).
        self._client = HisClient("http://127.0.0.1", fixmedins_code=hospital.code, paasid=hospital.paasid,
                                 secret=hospital.secret, admdvs=hospital.admdvs, fixmedins_name=hospital.name)

    @property
    def sign_no(self) -> str:
        return self._client.sign_no

    @sign_no.setter
    def sign_no(self, value: str) -> None:
        self._client.sign_no = value

    def envelope(self, infno: str, input: dict, *, insuplc: str = "", msgid: str | None = None) -> dict:
        return self._client.envelope(infno, input, insuplc_admdvs=insuplc, msgid=msgid)

    def request(self, infno: str, input: dict, *, insuplc: str = "", msgid: str | None = None
                ) -> tuple[dict[str, str], bytes, str]:
        """(headers, body, msgid) of one signed call."""
        env = self.envelope(infno, input, insuplc=insuplc, msgid=msgid)
        return self._client.headers(), json.dumps(env, ensure_ascii=False).encode("utf-8"), env["msgid"]


def now_text(delta_h: float = 0.0) -> str:
    """Beijing wall-clock time `delta_h` hours from now, as HIS time fields carry it."""
    return (CLOCK.naive_now() + dt.timedelta(hours=delta_h)).strftime("%Y-%m-%d %H:%M:%S")


def msgid_time() -> str:
    """The yyyyMMddHHmmss of a msgid, in Beijing time (as an HIS dates its ids)."""
    return CLOCK.naive_now().strftime("%Y%m%d%H%M%S")


def sign_in_input() -> dict:
    return {"signIn": {"opter_no": "op001", "mac": "00-00-00-00-00-00", "ip": "127.0.0.1"}}


def person_info_input(cert: dict) -> dict:
    return {"data": {**cert, "begntime": now_text()}}


def register_input(p: Person, cert: dict, ipt_otp_no: str, *, med_type: str = "11") -> dict:
    return {"data": {"psn_no": p.psn_no, "insutype": p.insutype, "begntime": now_text(-1), "ipt_otp_no": ipt_otp_no,
                     "med_type": med_type, "dept_code": "A01", "dept_name": "内科", **cert}}


def diagnosis_input(p: Person, mdtrt_id: str, *, med_type: str, dise_codg: str, dise_name: str = "") -> dict:
    return {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": p.psn_no, "med_type": med_type, "dise_codg": dise_codg,
                          "dise_name": dise_name or dise_codg}}


def fee_rows(p: Person, mdtrt_id: str, items: Iterable[tuple[str, int, int]], *, prefix: str = "F",
             when: str | None = None) -> tuple[list[dict], int]:
    """feedetail rows for (code, price fen, count) items, and their total in fen."""
    when = when or now_text(-1)
    rows, total = [], 0
    for i, (code, price_fen, cnt) in enumerate(items):
        amount = price_fen * cnt
        total += amount
        rows.append({"feedetl_sn": f"{prefix}{i}", "mdtrt_id": mdtrt_id, "psn_no": p.psn_no, "chrg_bchno": prefix,
                     "fee_ocur_time": when, "med_list_codg": code, "det_item_fee_sumamt": yuan(amount),
                     "cnt": str(cnt), "pric": yuan(price_fen)})
    return rows, total


def outpatient_items(rng: random.Random) -> list[tuple[str, int, int]]:
    items = [(DRUG, 1250, rng.randint(1, 30))]
    if rng.random() < 0.3:
        items.append((STENT, 4000, 1))
    if rng.random() < 0.1:
        items.append((SURG, 8000, 1))
    return items


def settle_input(p: Person, mdtrt_id: str, total_fen: int, cert: dict, *, med_type: str | None = "11",
                 acct_used: bool = False, split: dict | None = None, mid_setl: bool | None = None) -> dict:
    """2206/2207 (med_type given) or 2303/2304 (med_type None) data; `split` = the four declared amounts."""
    data = {"psn_no": p.psn_no, "mdtrt_id": mdtrt_id, "insutype": p.insutype, "medfee_sumamt": yuan(total_fen),
            "psn_setlway": "01", "acct_used_flag": "1" if acct_used else "0", **cert}
    if med_type is not None:
        data["med_type"] = med_type
    if mid_setl is not None:
        data["mid_setl_flag"] = "1" if mid_setl else "0"
    if split:
        data.update({k: split[k] for k in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")})
    return {"data": data}


def cancel_input(p: Person, setl_id: str, mdtrt_id: str) -> dict:
    return {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": p.psn_no}}


def admission_input(p: Person, cert: dict, ipt_no: str, *, dise_codg: str = "I21.000", days_ago: int = 3) -> dict:
    return {"mdtrtinfo": {"psn_no": p.psn_no, "insutype": p.insutype, "begntime": now_text(-24 * days_ago),
                          "med_type": "21", "ipt_no": ipt_no, "adm_dept_codg": "A03", "adm_dept_name": "心内科",
                          "dise_codg": dise_codg, **cert},
            "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": dise_codg, "diag_name": dise_codg}]}


def discharge_input(p: Person, mdtrt_id: str, *, dise_codg: str = "I21.000") -> dict:
    return {"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": p.psn_no, "insutype": p.insutype, "endtime": now_text(-1),
                         "dise_codg": dise_codg, "dscg_way": "1"}}


def enrollment_body(p: Person, status: str) -> dict:
    """The admin REST body that sets one enrollment's status (POST /api/v1/admin/enrollments)."""
    return {"psn_no": p.psn_no, "pool": p.pool, "insutype": p.insutype, "year": p.year, "psn_type": p.psn_type,
            "benefit_start": p.benefit_start, "benefit_end": p.benefit_end, "status": status}


def split_of(setlinfo: dict) -> dict:
    """The pre-settlement's split for 2207, as yuan strings: the output's amounts are JSON numbers
    (read as Decimal, parse_float=Decimal), str() keeps their two decimals."""
    return {k: str(setlinfo[k]) for k in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")}
