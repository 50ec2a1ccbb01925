"""The load test's own code: the locustfile imports (in a subprocess: importing Locust
monkey-patches the whole interpreter with gevent, which must not happen inside the test
session) and every scenario builder produces an envelope that the gateway's real parser, TIF
check and transaction handler accept. No timing here: performance is measured by make bench."""

from __future__ import annotations

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
from services.common.config import REPO_ROOT
from services.refdata.cli import gen_persons

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
    call = dispatch.Call(env=env, principal=Principal(principal.paasid, principal.code, principal.admdvs, "n"),
                         stubs=stubs, guard=None, timeout_s=1.0)
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
    path = tmp_path / "p.csv"
    gen_persons(300, path, seed=5)
    import datetime as dt

    persons = sc.read_population(path, today=dt.date(2026, 12, 1))
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    assert 0 < len(persons) < len(rows)
    assert all(p.pool in REF.pools and (p.pool, p.insutype) in REF.local for p in persons)


def test_locustfile_imports_and_defines_the_users(tmp_path):
    path = tmp_path / "p.csv"
    gen_persons(200, path, seed=6)
    code = ("import loadtest.locustfile as m; w = m.world(); "
            "print(m.HisUser.__name__, m.GrpcUser.__name__, m.EnrollmentUser.__name__, len(w.general) > 0, "
            "len(w.churn) > 0, len(w.chronic))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "LOADTEST_POPULATION": str(path), "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-6:] == ["HisUser", "GrpcUser", "EnrollmentUser", "True", "True", "1"]
