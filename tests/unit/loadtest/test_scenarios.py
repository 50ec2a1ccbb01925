"""The load test's own code: the locustfile imports (in a subprocess: importing Locust
monkey-patches the whole interpreter with gevent, which must not happen inside the test
session) and every scenario builder produces an envelope that the gateway's real parser, TIF
check and transaction handler accept. No timing here: performance is measured by make bench."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
from dataclasses import dataclass

import pytest

from gateway.his import dispatch
from gateway.his.endpoint import parse_json
from gateway.his.envelope import parse_envelope
from gateway.his.security import Principal, authenticate
from loadtest import scenarios as sc
from services.common.clock import Clock
from services.common.config import REPO_ROOT
from services.refdata.cli import gen_persons

# The subprocesses below get a clean environment, except for a faked clock (faketime) the tests
# may run under: the child's "today" must be the parent's, which generated its population.
_FAKED_CLOCK = {k: v for k, v in os.environ.items() if k == "LD_PRELOAD" or k.startswith("FAKETIME")}

REF = sc.load_reference()
HOSPITAL = REF.hospital("H33060200001")
PERSON = sc.Person("330600029000000001", "330602196804120112", "330600", "390", "resident")


class _Sent(Exception):
    """Raised by the recording stub: the handler validated its input and built the request."""


class _Recorder:
    def __init__(self):
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, method):
        def rpc(request, timeout=None):
            self.calls.append((method, request))
            raise _Sent
        return rpc


@dataclass
class _Stubs:
    eligibility: _Recorder
    filing: _Recorder
    settlement: _Recorder


class _Cache:
    """Reference lookups the TIF check needs, answered from the demo document."""

    def hospital_by_paasid(self, paasid):
        return next((h for h in REF.hospitals if h.paasid == paasid), None)

    def credentials(self, code):
        return REF.hospital(code)


async def _accepted(session: sc.HisSession, infno: str, input: dict, insuplc: str = "330600"):
    """Sign, serialise, parse, authenticate and run the real handler up to its gRPC call."""
    headers, body, msgid = session.request(infno, input, insuplc=insuplc)
    principal = authenticate(headers, _Cache(), window_s=300)
    assert principal.code == session.hospital.code
    dispatch.table()
    env = parse_envelope(parse_json(body), known_infnos=dispatch.HANDLERS)
    assert env.infno == infno and env.msgid == msgid and len(msgid) == 30
    stubs = _Stubs(_Recorder(), _Recorder(), _Recorder())
    # The handlers' business clock (Beijing time), where the gateway hands them one.
    clock = {"clock": Clock()} if "clock" in dispatch.Call.__dataclass_fields__ else {}
    call = dispatch.Call(env=env, principal=Principal(principal.paasid, principal.code, principal.admdvs, "n"),
                         stubs=stubs, guard=None, timeout_s=1.0, **clock)
    with pytest.raises(_Sent):
        await dispatch.HANDLERS[infno](call)
    (method, request), = stubs.settlement.calls + stubs.eligibility.calls + stubs.filing.calls
    return method, request


async def test_outpatient_flow_builders_are_accepted_by_the_gateway():
    s = sc.HisSession(HOSPITAL)
    s.sign_no = "20261122000000abcdef"
    rng = random.Random(1)
    method, req = await _accepted(s, "1101", sc.person_info_input(PERSON.cert))
    assert method == "FindPerson" and req.mdtrt_cert_no == PERSON.certno
    method, req = await _accepted(s, "2201", sc.register_input(PERSON, PERSON.cert, "MZ1"))
    assert method == "Register" and req.psn_no == PERSON.psn_no and req.kind == "outpatient"
    rows, total = sc.fee_rows(PERSON, "M1", sc.outpatient_items(rng))
    method, req = await _accepted(s, "2204", {"feedetail": rows})
    assert method == "UploadFees" and sum(f.det_item_fee_sumamt_fen for f in req.feedetail) == total
    method, req = await _accepted(s, "2206", sc.settle_input(PERSON, "M1", total, PERSON.cert))
    assert method == "PreSettle" and req.medfee_sumamt_fen == total
    split = {"fulamt_ownpay_amt": "0.00", "overlmt_selfpay": "0.00", "preselfpay_amt": "1.25",
             "inscp_scp_amt": sc.yuan(total - 125)}
    method, req = await _accepted(s, "2207", sc.settle_input(PERSON, "M1", total, PERSON.cert, split=split))
    assert method == "Settle" and req.has_declared_split and req.inscp_scp_amt_fen == total - 125
    method, req = await _accepted(s, "2208", sc.cancel_input(PERSON, "S1", "M1"))
    assert method == "CancelSettlement" and req.setl_id == "S1"


async def test_chronic_inpatient_and_evoucher_builders_are_accepted_by_the_gateway():
    s = sc.HisSession(REF.hospital("H65010200001"))
    s.sign_no = "x"
    method, req = await _accepted(s, "2201", sc.register_input(PERSON, PERSON.cert, "MZ2", med_type="14"))
    assert req.med_type == "14"
    method, req = await _accepted(s, "2203", sc.diagnosis_input(PERSON, "M2", med_type="14", dise_codg="M07803"))
    assert method == "RecordDiagnosis" and req.dise_codg == "M07803"
    method, req = await _accepted(s, "2401", sc.admission_input(PERSON, PERSON.cert, "ZY1"))
    assert method == "Register" and req.kind == "inpatient" and req.med_type == "21"
    method, req = await _accepted(s, "2303", sc.settle_input(PERSON, "M3", 5000, PERSON.cert, med_type=None,
                                                              mid_setl=True))
    assert method == "PreSettle" and req.mid_setl_flag
    method, req = await _accepted(s, "2402", sc.discharge_input(PERSON, "M3"))
    assert method == "Discharge"
    method, req = await _accepted(s, "2304", sc.settle_input(PERSON, "M3", 5000, PERSON.cert, med_type=None,
                                                              mid_setl=False))
    assert method == "Settle" and not req.mid_setl_flag
    voucher = {"mdtrt_cert_type": "01", "mdtrt_cert_no": "EV1.abc.def"}
    method, req = await _accepted(s, "1101", sc.person_info_input(voucher))
    assert req.mdtrt_cert_type == "01"


def test_each_request_has_a_fresh_msgid_and_nonce():
    s = sc.HisSession(HOSPITAL)
    seen_msgids, seen_nonces = set(), set()
    for _ in range(200):
        headers, _, msgid = s.request("1101", sc.person_info_input(PERSON.cert))
        seen_msgids.add(msgid)
        seen_nonces.add(headers["x-tif-nonce"])
    assert len(seen_msgids) == 200 and len(seen_nonces) == 200


def test_skew_sends_the_hot_share_to_the_hot_persons():
    persons = [sc.Person(f"P{i:05d}", "", "330600", "390", "resident") for i in range(1000)]
    rng = random.Random(7)
    skew = sc.Skew(persons, hot_share=0.5, hot_count=10)
    picks = [skew.pick(rng).psn_no for _ in range(4000)]
    hot = sum(1 for p in picks if p < "P00010")
    assert 1800 < hot < 2200
    assert picks.count("P00000") > picks.count("P00009")  # Zipf: the first is the hottest
    flat = sc.Skew(persons, hot_share=0.0)
    assert sum(1 for _ in range(2000) if flat.pick(rng).psn_no < "P00010") < 60


def test_read_population_keeps_only_persons_insured_today(tmp_path):
    year = Clock().today().year
    path = tmp_path / "p.csv"
    gen_persons(300, path, seed=5, year=year)
    persons = sc.read_population(path, today=dt.date(year, 12, 1))
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    assert 0 < len(persons) < len(rows)
    assert all(p.pool in REF.pools and (p.pool, p.insutype) in REF.local for p in persons)
    assert {p.year for p in persons} == {year}


# Beijing has already reached New Year's Day while the host's clock (UTC here) still says
# 31 December: everything the load test sends and chooses follows Beijing.
NEW_YEAR_IN_BEIJING = dt.datetime(2031, 1, 1, 0, 30)  # = 2030-12-31 16:30 UTC


def test_times_and_today_are_beijing_time_whatever_the_host_zone(monkeypatch, tmp_path):
    monkeypatch.setattr(sc, "CLOCK", Clock.fixed(NEW_YEAR_IN_BEIJING))
    assert sc.now_text() == "2031-01-01 00:30:00" and sc.now_text(-1) == "2030-12-31 23:30:00"
    assert sc.msgid_time() == "20310101003000"
    assert sc.person_info_input(PERSON.cert)["data"]["begntime"] == "2031-01-01 00:30:00"
    assert sc.register_input(PERSON, PERSON.cert, "MZ1")["data"]["begntime"] == "2030-12-31 23:30:00"
    path = tmp_path / "p.csv"
    gen_persons(300, path, seed=5, year=2031)
    persons = sc.read_population(path)  # today = 1 January 2031 in Beijing: benefits from 1 January are open
    assert persons and all(p.benefit_start == "2031-01-01" and p.year == 2031 for p in persons)


def test_the_real_clock_is_beijing_time():
    assert abs(dt.datetime.strptime(sc.now_text(), "%Y-%m-%d %H:%M:%S") - Clock().naive_now()) < dt.timedelta(seconds=5)
    assert abs(dt.datetime.strptime(sc.msgid_time(), "%Y%m%d%H%M%S") - Clock().naive_now()) < dt.timedelta(seconds=5)


def test_a_person_without_dates_is_enrolled_for_this_year_in_beijing(monkeypatch):
    monkeypatch.setattr(sc, "CLOCK", Clock.fixed(NEW_YEAR_IN_BEIJING))
    p = sc.Person("330600029000000001", "330602196804120112", "330600", "390", "resident")
    assert (p.year, p.benefit_start, p.benefit_end) == (2031, "2031-01-01", "2031-12-31")
    body = sc.enrollment_body(p, "lapsed")
    assert (body["year"], body["benefit_start"], body["benefit_end"]) == (2031, "2031-01-01", "2031-12-31")
    given = sc.Person("P1", "", "330600", "390", "resident", "2030-09-01", "2030-12-31", 2030)
    assert (given.year, given.benefit_start, given.benefit_end) == (2030, "2030-09-01", "2030-12-31")
    assert sc.Person(**given.__dict__) == given  # the chronic pool's JSON round trip


def test_population_is_written_again_for_another_year(tmp_path):
    from loadtest import prepare

    path = tmp_path / "population.csv"
    prepare.population(path, 20, 7, year=2030)
    first = path.read_text(encoding="utf-8")
    assert prepare.population(path, 20, 7, year=2030).read_text(encoding="utf-8") == first  # kept
    prepare.population(path, 20, 7, year=2031)
    years = {line.split(",")[7] for line in path.read_text(encoding="utf-8").splitlines()[1:]}
    assert years == {"2031"}
    prepare.population(path, 20, 7)  # default: this year in Beijing
    years = {line.split(",")[7] for line in path.read_text(encoding="utf-8").splitlines()[1:]}
    assert years == {str(Clock().today().year)}


def test_bench_settlement_reference_has_policies_for_the_bench_year():
    from loadtest.bench_settlement import reference_for_year

    doc = {"pools": [], "policies": [{"pool": "A", "insutype": "390", "year": 2026},
                                     {"pool": "A", "insutype": "390", "year": 2025}]}
    assert reference_for_year(doc, 2026) is doc
    moved = reference_for_year(doc, 2031)
    assert moved["policies"] == [{"pool": "A", "insutype": "390", "year": 2031}]
    assert doc["policies"][0]["year"] == 2026  # the settlement tests' own document is left alone


def test_locustfile_imports_and_defines_the_users(tmp_path):
    path = tmp_path / "p.csv"
    gen_persons(200, path, seed=6)
    code = ("import loadtest.locustfile as m; w = m.world(); "
            "print(m.HisUser.__name__, m.GrpcUser.__name__, m.EnrollmentUser.__name__, len(w.general) > 0, "
            "len(w.churn) > 0, len(w.chronic))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={**_FAKED_CLOCK, "PATH": "/usr/bin:/bin", "LOADTEST_POPULATION": str(path),
                              "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-6:] == ["HisUser", "GrpcUser", "EnrollmentUser", "True", "True", "1"]


def test_locustfile_without_a_population_uses_the_demo_persons_of_this_year():
    code = ("import loadtest.locustfile as m; w = m.world(); "
            "print(sorted((p.psn_no, p.year, p.benefit_start) for p in w.general))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={**_FAKED_CLOCK, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    year = Clock().today().year
    assert out.stdout.strip().splitlines()[-1] == str(
        [("330600000000000001", year, f"{year}-01-01"), ("330600000000000004", year, f"{year}-01-01")])
