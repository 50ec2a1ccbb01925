"""Locust scenarios for medsettle's real traffic. `make loadtest` (loadtest/run.py) prepares the
suite and the population and runs this file headless; run it by hand only against a suite on
127.0.0.1:

    LOADTEST_POPULATION=loadtest/reports/population.csv .venv/bin/locust -f loadtest/locustfile.py \
        --headless -H http://127.0.0.1:8080 -u 20 -r 5 --run-time 60s

Users
- HisUser (HTTP, signed TIF headers per request, sign-in per hospital) runs, by weight:
  (a) outpatient 1101 -> 2201 -> 2204 -> 2206 -> 2207, a share cancelled with 2208;
  (b) out-of-province chronic disease: a long-term filer with a chronic qualification at a
      Xinjiang hospital, 2201 -> 2203 (med_type 14) -> 2204 -> 2207;
  (c) inpatient: 2401 -> 2301 x days -> 2303 (interim) -> 2402 -> 2304;
  (d) e-voucher scan-to-pay: the user's patient (signed in on the patient pages, /m/api/login)
      asks POST /m/api/evoucher -> 1101 (mdtrt_cert_type 01) -> 2201 -> 2204 -> 2207. run.py signs
      the patients up beforehand (loadtest/patients.py: phone on file, code from the dev outbox).
- GrpcUser: the outpatient flow straight against the settlement service (Register, UploadFees,
  Settle) plus eligibility GetSnapshot, sync stubs under gevent, events fired by hand.
- EnrollmentUser (fixed count): (e) enrollment changes through the admin REST API while the rest
  runs, each checked for staleness: register a visit, lapse the person, 2207 must be refused;
  re-activate, 2207 must settle. A stale answer is a failure named "consistency: ...".

Environment (defaults in brackets):
  LOADTEST_POPULATION        CSV from `medsettle gen-persons` (required; active persons are used)
  LOADTEST_POPULATION_LIMIT  read at most this many persons [0 = all]
  LOADTEST_CHRONIC_POOL      JSON list of chronic long-term filers (run.py writes it) [demo person 6]
  LOADTEST_PATIENTS          JSON list of signed-up patients for (d) (run.py writes it; password
                             loadtest.patients.PASSWORD) [none: (d) is skipped]
  LOADTEST_HOT_SHARE         share of picks that go to the hot persons [0.2]
  LOADTEST_HOT_PERSONS       how many hot persons, Zipf-weighted [50]
  LOADTEST_ZIPF_S            Zipf exponent of the hot set [1.1]
  LOADTEST_W_OUTPATIENT / _W_CHRONIC / _W_INPATIENT / _W_EVOUCHER   scenario weights [10/2/1/3]
  LOADTEST_CANCEL_SHARE      share of outpatient settlements cancelled with 2208 [0.1]
  LOADTEST_INPATIENT_DAYS    2301 uploads per stay [3]
  LOADTEST_FLOWS_PER_USER_S  flows per second per user (constant_throughput) [0.5]
  LOADTEST_HIS_WEIGHT / LOADTEST_GRPC_WEIGHT   user-class weights [8/2]
  LOADTEST_ENROLLMENT_USERS  EnrollmentUser count [1]
  LOADTEST_CHURN_PERSONS     persons reserved for enrollment changes [200]
  LOADTEST_ADMIN_TOKEN       bearer token of the admin API [dev-admin-token-change-me]
  LOADTEST_SETTLEMENT_ADDR / LOADTEST_ELIGIBILITY_ADDR   gRPC targets [127.0.0.1:50053 / :50051]
  LOADTEST_SEED              random seed per user = seed + user number [2026]
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import time
from decimal import Decimal
from pathlib import Path

import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import FastHttpUser, User, constant_throughput, events, task

from loadtest import scenarios as sc

# Sync gRPC blocks in C-core unless told to cooperate with gevent (before any channel exists).
grpc_gevent.init_gevent()

from medsettle.common.v1 import common_pb2  # noqa: E402
from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc  # noqa: E402
from medsettle.settlement.v1 import settlement_pb2, settlement_pb2_grpc  # noqa: E402


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _f(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _i(name: str, default: int) -> int:
    return int(_env(name, str(default)))


W_OUTPATIENT, W_CHRONIC = _i("LOADTEST_W_OUTPATIENT", 10), _i("LOADTEST_W_CHRONIC", 2)
W_INPATIENT, W_EVOUCHER = _i("LOADTEST_W_INPATIENT", 1), _i("LOADTEST_W_EVOUCHER", 3)
CANCEL_SHARE = _f("LOADTEST_CANCEL_SHARE", 0.1)
INPATIENT_DAYS = _i("LOADTEST_INPATIENT_DAYS", 3)
FLOWS_PER_USER_S = _f("LOADTEST_FLOWS_PER_USER_S", 0.5)
ADMIN_TOKEN = _env("LOADTEST_ADMIN_TOKEN", "dev-admin-token-change-me")
SEED = _i("LOADTEST_SEED", 2026)
XINJIANG_3 = "H65010200001"  # cross-province, level 3 (demo data)
_user_numbers = itertools.count()


class World:
    """Population, hospitals and the person pools, read once per Locust process."""

    def __init__(self) -> None:
        self.ref = sc.load_reference()
        path = os.environ.get("LOADTEST_POPULATION")
        demo = sc.demo_persons()
        if path:
            persons = sc.read_population(path, limit=_i("LOADTEST_POPULATION_LIMIT", 0) or None)
        else:  # a hand run without a population: the demo's plain residents/employees, this year's enrollment
            year = sc.CLOCK.today().year
            persons = [sc.Person(p["psn_no"], p["certno"], e["pool"], e["insutype"], e["psn_type"],
                                 e["benefit_start"], e["benefit_end"], int(e["year"]))
                       for p in demo.values() if p["psn_no"] in ("330600000000000001", "330600000000000004")
                       for e in p.get("enrollments", []) if int(e["year"]) == year]
        chronic_path = os.environ.get("LOADTEST_CHRONIC_POOL")
        if chronic_path and Path(chronic_path).exists():
            self.chronic = [sc.Person(**d) for d in json.loads(Path(chronic_path).read_text(encoding="utf-8"))]
        else:
            d = demo["330600000000000006"]
            self.chronic = [sc.Person(d["psn_no"], d["certno"], "330600", "390", "resident")]
        patients_path = os.environ.get("LOADTEST_PATIENTS")
        self.patients = ([sc.Person(**d) for d in json.loads(Path(patients_path).read_text(encoding="utf-8"))]
                         if patients_path and Path(patients_path).exists() else [])
        taken = {p.psn_no for p in self.chronic} | {p.psn_no for p in self.patients}
        persons = [p for p in persons if p.psn_no not in taken]
        churn = min(_i("LOADTEST_CHURN_PERSONS", 200), max(0, len(persons) // 10))
        self.churn = persons[len(persons) - churn:] if churn else []
        self.general = persons[:len(persons) - churn] if churn else persons
        self.skew = sc.Skew(self.general, hot_share=_f("LOADTEST_HOT_SHARE", 0.2),
                            hot_count=_i("LOADTEST_HOT_PERSONS", 50), s=_f("LOADTEST_ZIPF_S", 1.1))
        self.churn_cycle = itertools.cycle(self.churn)


_world: World | None = None


def world() -> World:
    global _world
    if _world is None:
        _world = World()
    return _world


class FlowStopped(Exception):
    """A step failed (already reported to Locust): the rest of this flow is skipped."""


class HisUser(FastHttpUser):
    weight = _i("LOADTEST_HIS_WEIGHT", 8)
    wait_time = constant_throughput(FLOWS_PER_USER_S)

    def on_start(self) -> None:
        self.w = world()
        number = next(_user_numbers)
        self.rng = random.Random(SEED + number)
        self.sessions: dict[str, sc.HisSession] = {}
        self.patient: sc.Person | None = None
        self.csrf = self.portal_cookie = ""
        if self.w.patients:
            self.sign_in_patient(self.w.patients[number % len(self.w.patients)])

    def sign_in_patient(self, p: sc.Person) -> None:
        """The patient pages' password login (the cookie jar keeps the session)."""
        from loadtest.patients import PASSWORD

        with self.client.get("/m/api/session", name="GET /m/api/session", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
                return
            csrf = r.json()["csrf"]
        with self.client.post("/m/api/login", json={"certno": p.certno, "password": PASSWORD},
                              headers={"X-CSRF-Token": csrf}, name="POST /m/api/login", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:160] if r.text else ''}")
                return
            self.csrf = r.json()["csrf"]
            # The session cookie, sent explicitly too: it does not depend on the client's cookie
            # jar accepting a cookie of an IP host (a Cookie header already set is left alone).
            found = re.search(r"msm_sid=([^;]+)", r.headers.get("set-cookie") or "")
            self.portal_cookie = f"msm_sid={found.group(1)}" if found else ""
        self.patient = p

    # ------------------------------------------------------------------ plumbing

    def session(self, code: str) -> sc.HisSession:
        s = self.sessions.get(code)
        if s is None:
            s = sc.HisSession(self.w.ref.hospital(code))
            out = self.his(s, "9001", sc.sign_in_input(), name="9001 sign-in")
            s.sign_no = out["signinoutb"]["sign_no"]
            self.sessions[code] = s
        return s

    def his(self, s: sc.HisSession, infno: str, input: dict, *, insuplc: str = "", name: str | None = None,
            expect_refusal: bool = False) -> dict:
        """One signed HIS call; returns `output`. A refusal is a failure unless expected."""
        headers, body, _ = s.request(infno, input, insuplc=insuplc)
        with self.client.post(sc.PATH, data=body, headers=headers, name=name or infno, catch_response=True) as r:
            try:
                reply = json.loads(r.content, parse_float=Decimal)  # money: exact JSON numbers (390.00)
            except Exception:  # noqa: BLE001 - any unreadable reply is this request's failure
                r.failure(f"HTTP {r.status_code}: not JSON")
                raise FlowStopped from None
            if reply.get("infcode") == 0:
                r.success()
                return reply.get("output") or {}
            if expect_refusal:
                r.success()
                return {"refused": True, **(reply.get("output") or {})}
            outcome = (reply.get("output") or {}).get("outcome", "")
            r.failure(f"[{outcome}] {str(reply.get('err_msg'))[:160]}")
            raise FlowStopped

    def admin_post(self, path: str, body: dict, name: str) -> dict:
        with self.client.post(path, json=body, name=name, catch_response=True,
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
            if r.status_code in (200, 201):
                r.success()
                return r.json()
            r.failure(f"HTTP {r.status_code}: {r.text[:160] if r.text else ''}")
            raise FlowStopped

    def outpatient_visit(self, s: sc.HisSession, p: sc.Person, cert: dict, *, insuplc: str, label: str,
                         med_type: str = "11", dise: str = "", items=None) -> tuple[str, int]:
        reg = self.his(s, "2201", sc.register_input(p, cert, "MZ" + str(self.rng.randrange(10 ** 9)),
                                                    med_type=med_type), insuplc=insuplc, name=f"2201 {label}")
        mdtrt_id = reg["data"]["mdtrt_id"]
        if dise:
            self.his(s, "2203", sc.diagnosis_input(p, mdtrt_id, med_type=med_type, dise_codg=dise), insuplc=insuplc,
                     name=f"2203 {label}")
        rows, total = sc.fee_rows(p, mdtrt_id, items or sc.outpatient_items(self.rng))
        self.his(s, "2204", {"feedetail": rows}, insuplc=insuplc, name=f"2204 {label}")
        return mdtrt_id, total

    # ------------------------------------------------------------------ scenarios

    @task(W_OUTPATIENT)
    def outpatient(self) -> None:
        """(a) 1101 -> 2201 -> 2204 -> 2206 -> 2207 [-> 2208]."""
        try:
            p = self.w.skew.pick(self.rng)
            s = self.session(self.w.ref.local_hospital(p, self.rng).code)
            insuplc = self.w.ref.insuplc(p)
            self.his(s, "1101", sc.person_info_input(p.cert), name="1101 person info")
            mdtrt_id, total = self.outpatient_visit(s, p, p.cert, insuplc=insuplc, label="outpatient")
            acct = p.insutype == "310"
            pre = self.his(s, "2206", sc.settle_input(p, mdtrt_id, total, p.cert, acct_used=acct), insuplc=insuplc,
                           name="2206 pre-settle")
            setl = self.his(s, "2207", sc.settle_input(p, mdtrt_id, total, p.cert, acct_used=acct,
                                                       split=sc.split_of(pre["setlinfo"])),
                            insuplc=insuplc, name="2207 settle")
            if self.rng.random() < CANCEL_SHARE:
                self.his(s, "2208", sc.cancel_input(p, setl["setlinfo"]["setl_id"], mdtrt_id), insuplc=insuplc,
                         name="2208 cancel")
        except FlowStopped:
            pass

    @task(W_CHRONIC)
    def chronic_out_of_province(self) -> None:
        """(b) dialysis M07803 in Xinjiang for a Shaoxing long-term filer with the qualification."""
        try:
            p = self.rng.choice(self.w.chronic)
            s = self.session(XINJIANG_3)
            insuplc = self.w.ref.insuplc(p)
            mdtrt_id, total = self.outpatient_visit(s, p, p.cert, insuplc=insuplc, label="chronic", med_type="14",
                                                    dise="M07803", items=[(sc.DIAL, 45000, self.rng.randint(1, 3))])
            self.his(s, "2207", sc.settle_input(p, mdtrt_id, total, p.cert, med_type="14"), insuplc=insuplc,
                     name="2207 chronic settle")
        except FlowStopped:
            pass

    @task(W_INPATIENT)
    def inpatient(self) -> None:
        """(c) 2401 -> 2301 x days -> 2303 (interim) -> 2402 -> 2304."""
        try:
            p = self.w.skew.pick(self.rng)
            s = self.session(self.w.ref.local_hospital(p, self.rng).code)
            insuplc = self.w.ref.insuplc(p)
            days = max(1, INPATIENT_DAYS)
            adm = self.his(s, "2401", sc.admission_input(p, p.cert, "ZY" + str(self.rng.randrange(10 ** 9)),
                                                         days_ago=days + 1), insuplc=insuplc, name="2401 admission")
            mdtrt_id = adm["result"]["mdtrt_id"]
            total = 0
            for day in range(days):
                items = [(sc.BED, 5000, 1), (sc.DRUG, 1250, self.rng.randint(1, 10))]
                if day == 0 and self.rng.random() < 0.3:
                    items.append((sc.SURG, 800000, 1))
                rows, t = sc.fee_rows(p, mdtrt_id, items, prefix=f"D{day}-", when=sc.now_text(-24 * (days - day)))
                total += t
                self.his(s, "2301", {"feedetail": rows}, insuplc=insuplc, name="2301 daily fees")
            self.his(s, "2303", sc.settle_input(p, mdtrt_id, total, p.cert, med_type=None, mid_setl=True),
                     insuplc=insuplc, name="2303 pre-settle")
            self.his(s, "2402", sc.discharge_input(p, mdtrt_id), insuplc=insuplc, name="2402 discharge")
            self.his(s, "2304", sc.settle_input(p, mdtrt_id, total, p.cert, med_type=None, mid_setl=False),
                     insuplc=insuplc, name="2304 settle")
        except FlowStopped:
            pass

    @task(W_EVOUCHER)
    def evoucher(self) -> None:
        """(d) scan-to-pay: e-voucher -> 1101 (01) -> 2201 -> 2204 -> 2207."""
        p = self.patient
        if p is None:  # no signed-up patient (a hand run without run.py's patients)
            return
        try:
            headers = {"X-CSRF-Token": self.csrf, **({"Cookie": self.portal_cookie} if self.portal_cookie else {})}
            with self.client.post("/m/api/evoucher", json={}, headers=headers,
                                  name="POST /m/api/evoucher", catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"HTTP {r.status_code}: {r.text[:160] if r.text else ''}")
                    return
                token = r.json()["token"]
            cert = {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}
            s = self.session(self.w.ref.local_hospital(p, self.rng).code)
            insuplc = self.w.ref.insuplc(p)
            self.his(s, "1101", sc.person_info_input(cert), name="1101 e-voucher")
            mdtrt_id, total = self.outpatient_visit(s, p, cert, insuplc=insuplc, label="e-voucher")
            self.his(s, "2207", sc.settle_input(p, mdtrt_id, total, cert), insuplc=insuplc, name="2207 e-voucher settle")
        except FlowStopped:
            pass


class EnrollmentUser(FastHttpUser):
    """(e) enrollment changes under load, each followed by a settlement that must see it."""
    fixed_count = _i("LOADTEST_ENROLLMENT_USERS", 1)
    wait_time = constant_throughput(FLOWS_PER_USER_S)

    def on_start(self) -> None:
        # HisUser's, without the patient sign-in (this user needs no patient session; reusing
        # HisUser.on_start made every EnrollmentUser fail at start, so no check ever ran).
        self.w = world()
        self.rng = random.Random(SEED + next(_user_numbers))
        self.sessions: dict[str, sc.HisSession] = {}
        self.patient: sc.Person | None = None
        self.csrf = self.portal_cookie = ""

    session = HisUser.session
    his = HisUser.his
    admin_post = HisUser.admin_post
    outpatient_visit = HisUser.outpatient_visit

    @task
    def lapse_then_settle(self) -> None:
        if not self.w.churn:
            return
        try:
            p = next(self.w.churn_cycle)
            s = self.session(self.w.ref.local_hospital(p, self.rng).code)
            insuplc = self.w.ref.insuplc(p)
            mdtrt_id, total = self.outpatient_visit(s, p, p.cert, insuplc=insuplc, label="churn")
            self.admin_post("/api/v1/admin/enrollments", sc.enrollment_body(p, "lapsed"), "enrollment lapse")
            out = self.his(s, "2207", sc.settle_input(p, mdtrt_id, total, p.cert), insuplc=insuplc,
                           name="2207 after lapse", expect_refusal=True)
            self._check("settled after a committed lapse", not out.get("refused"), p, out)
            self.admin_post("/api/v1/admin/enrollments", sc.enrollment_body(p, "active"), "enrollment re-activate")
            out = self.his(s, "2207", sc.settle_input(p, mdtrt_id, total, p.cert), insuplc=insuplc,
                           name="2207 after re-activation", expect_refusal=True)
            self._check("refused after a committed re-activation", bool(out.get("refused")), p, out)
        except FlowStopped:
            pass

    def _check(self, what: str, violated: bool, p: sc.Person, out: dict) -> None:
        """A stale eligibility decision is reported as a failed request named consistency."""
        exc = AssertionError(f"{what}: {p.psn_no} {out.get('outcome', '')}") if violated else None
        events.request.fire(request_type="CHECK", name=f"consistency: {what}", response_time=0,
                            response_length=0, exception=exc, context={})


class GrpcUser(User):
    """The outpatient flow straight against the services' gRPC APIs (no gateway)."""
    weight = _i("LOADTEST_GRPC_WEIGHT", 2)
    wait_time = constant_throughput(FLOWS_PER_USER_S)
    _msgseq = itertools.count()

    def on_start(self) -> None:
        self.w = world()
        self.rng = random.Random(SEED + 10_000 + next(_user_numbers))
        self.setl_channel = grpc.insecure_channel(_env("LOADTEST_SETTLEMENT_ADDR", "127.0.0.1:50053"))
        self.elig_channel = grpc.insecure_channel(_env("LOADTEST_ELIGIBILITY_ADDR", "127.0.0.1:50051"))
        self.settlement = settlement_pb2_grpc.SettlementServiceStub(self.setl_channel)
        self.eligibility = eligibility_pb2_grpc.EligibilityServiceStub(self.elig_channel)

    def on_stop(self) -> None:
        self.setl_channel.close()
        self.elig_channel.close()

    def rpc(self, name: str, fn, request):
        t0 = time.perf_counter()
        exc = None
        reply = None
        try:
            reply = fn(request, timeout=10)
        except grpc.RpcError as e:
            exc = e
        events.request.fire(request_type="grpc", name=name, response_time=(time.perf_counter() - t0) * 1000,
                            response_length=reply.ByteSize() if reply is not None else 0, exception=exc, context={})
        if exc is not None:
            raise FlowStopped
        return reply

    def caller(self, code: str, infno: str) -> common_pb2.Caller:
        # Same 30-character shape as the HIS's: code + yyyyMMddHHmmss + 4 digits (unique per process).
        msgid = code + sc.msgid_time() + f"{next(self._msgseq) % 10000:04d}"
        return common_pb2.Caller(fixmedins_code=code, msgid=msgid, infno=infno, opter="grpc")

    @task(4)
    def settle_outpatient(self) -> None:
        try:
            p = self.w.skew.pick(self.rng)
            code = self.w.ref.local_hospital(p, self.rng).code
            v = self.rpc("Register", self.settlement.Register, settlement_pb2.RegisterRequest(
                caller=self.caller(code, "2201"), psn_no=p.psn_no, insutype=p.insutype, kind="outpatient",
                med_type="11", begntime=sc.now_text(-1), mdtrt_cert_type="02", mdtrt_cert_no=p.certno,
                ipt_otp_no="G" + str(self.rng.randrange(10 ** 9))))
            items = sc.outpatient_items(self.rng)
            fees = [settlement_pb2.FeeDetail(feedetl_sn=f"G{i}", med_list_codg=c, cnt=str(n), pric_fen=pr,
                                             det_item_fee_sumamt_fen=pr * n, fee_ocur_time=sc.now_text(-1))
                    for i, (c, pr, n) in enumerate(items)]
            self.rpc("UploadFees", self.settlement.UploadFees, settlement_pb2.UploadFeesRequest(
                caller=self.caller(code, "2204"), mdtrt_id=v.mdtrt_id, psn_no=p.psn_no, feedetail=fees))
            self.rpc("Settle", self.settlement.Settle, settlement_pb2.SettleRequest(
                caller=self.caller(code, "2207"), mdtrt_id=v.mdtrt_id, psn_no=p.psn_no, insutype=p.insutype,
                med_type="11", medfee_sumamt_fen=sum(f.det_item_fee_sumamt_fen for f in fees), psn_setlway="01",
                mdtrt_cert_type="02", mdtrt_cert_no=p.certno))
        except FlowStopped:
            pass

    @task(1)
    def snapshot(self) -> None:
        p = self.w.skew.pick(self.rng)
        with contextlib.suppress(FlowStopped):
            self.rpc("GetSnapshot", self.eligibility.GetSnapshot,
                     eligibility_pb2.GetSnapshotRequest(psn_no=p.psn_no, insutype=p.insutype))
