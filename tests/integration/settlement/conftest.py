"""Fixtures for the settlement service's integration tests: real PostgreSQL, real grpc.aio.

The settlement servicer runs in-process on a real grpc.aio server (with the production
interceptors). Eligibility and filing are answered by a real grpc.aio server in this process
that implements GetSnapshot and ResolveFiling from fixed per-test data (`upstream.person(...)`,
`upstream.file(...)`), so each test states exactly the person it settles for.

Reference data: a small document in the shape of REFERENCE_DATA.md with its own pools in
provinces 91/92/93 (no clash with the demo data), loaded through the real loader and read
through the real ReferenceCache. Policies follow WORKED_EXAMPLES.md.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import random

import grpc
import pytest
import pytest_asyncio
from grpc import aio

from medsettle.common.v1 import common_pb2
from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc
from medsettle.filing.v1 import filing_pb2, filing_pb2_grpc
from medsettle.settlement.v1 import settlement_pb2 as pb
from medsettle.settlement.v1 import settlement_pb2_grpc
from services.common.grpcutil import RefusalInterceptor
from services.settlement.clients import EligibilityClient, FilingClient
from services.settlement.server import register
from services.settlement.service import CST, SettlementService

POOL_A, POOL_B, POOL_C = "910600", "920000", "930100"
H_A3 = "H91060200003"   # pool A, level 3
H_A1 = "H91060200001"   # pool A, level 1
H_A_RECON = "H91060200009"  # pool A, level 3, used only by the reconciliation test
H_B3 = "H92010200003"   # pool B, level 3
H_C3 = "H93010200003"   # pool C, level 3

CATALOGUE = [
    {"code": "SURG", "name": "手术", "kind": "service", "class": "02", "selfpay_prop": "0.10"},
    {"code": "BED", "name": "床位费", "kind": "service", "class": "01", "price_cap": "50.00"},
    {"code": "STENT", "name": "进口支架", "kind": "material", "class": "03"},
    {"code": "DIAL", "name": "血液透析", "kind": "service", "class": "01"},
    {"code": "DRUG", "name": "乙类药品", "kind": "drug", "class": "02", "selfpay_prop": "0.05"},
]
CROSS = {"long_term": "0", "referral": "-0.10", "emergency": "-0.10", "temporary": "-0.20", "intra_province": "0"}
INPATIENT = {"deductible": {"1": "300.00", "2": "600.00", "3": "800.00", "out_of_province": "1200.00"},
             "repeat_factor": "0.5", "ratio": {"1": "0.85", "2": "0.80", "3": "0.70"}, "cap_group": "main"}
RESIDENT = {
    "insutype": "390", "year": 2026, "waiting_days": 90, "intra_province_requires_filing": False,
    "lines": {"inpatient": INPATIENT,
              "outpatient": {"annual_deductible": "100.00", "ratio": {"1": "0.60", "2": "0.50", "3": "0.40"},
                             "annual_cap": "800.00"},
              "chronic:M07803": {"annual_deductible": "0.00", "ratio": {"1": "0.90", "2": "0.90", "3": "0.90"},
                                 "monthly_cap": "6000.00", "cap_group": "main"}},
    "cap_groups": {"main": "280000.00"}, "retired_bonus": "0.00", "cross_region": CROSS,
    "large_amount": None, "civil_servant": None,
    "critical_illness": {"threshold": "20000.00", "bands": [{"upto": "100000.00", "ratio": "0.60"},
                                                              {"upto": None, "ratio": "0.70"}],
                         "annual_cap": "400000.00",
                         "tilt": {"groups": ["tekun", "dibao"], "threshold_factor": "0.5", "ratio_bonus": "0.05",
                                  "cap": None}},
    "assistance": {"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "50000.00"},
                   "dibao": {"annual_deductible": "300.00", "ratio": "0.70", "annual_cap": "30000.00"}},
    "supplementary": []}
EMPLOYEE = {
    "insutype": "310", "year": 2026, "waiting_days": 0, "intra_province_requires_filing": False,
    "lines": {"inpatient": INPATIENT,
              "outpatient": {"annual_deductible": "300.00", "ratio": {"1": "0.75", "2": "0.70", "3": "0.65"},
                             "annual_cap": "5000.00"}},
    "cap_groups": {"main": "50000.00"}, "retired_bonus": "0.05", "cross_region": CROSS,
    "large_amount": {"ratio": "0.80", "annual_cap": "300000.00"}, "civil_servant": None,
    "critical_illness": None, "assistance": {}, "supplementary": []}


def _hospital(code: str, admdvs: str, level: int) -> dict:
    return {"code": code, "name": f"测试医院{code}", "admdvs": admdvs, "level": level, "cross_province": True,
            "paasid": f"test-setl-{code.lower()}", "secret": "test-settlement-secret-0123456789abcdef"}


def reference_document() -> dict:
    policies = []
    for pool in (POOL_A, POOL_B, POOL_C):
        for base in (RESIDENT, EMPLOYEE):
            p = copy.deepcopy(base)
            p["pool"] = pool
            policies.append(p)
    return {
        "format": "medsettle.reference/v1",
        "pools": [
            {"code": POOL_A, "name": "测试甲市", "insutypes": ["310", "390"], "admdvs": ["910600", "910602"]},
            {"code": POOL_B, "name": "测试乙区", "insutypes": ["310", "390"], "admdvs": ["920000", "920102"]},
            {"code": POOL_C, "name": "测试丙市", "insutypes": ["310", "390"], "admdvs": ["930100", "930102"]},
        ],
        "hospitals": [_hospital(H_A3, "910602", 3), _hospital(H_A1, "910602", 1), _hospital(H_A_RECON, "910602", 3),
                      _hospital(H_B3, "920102", 3), _hospital(H_C3, "930102", 3)],
        "catalogues": [{"pool": p, "items": CATALOGUE} for p in (POOL_A, POOL_B, POOL_C)],
        "policies": policies,
    }


# ----------------------------------------------------------------------------- upstream stand-in

class Upstream(eligibility_pb2_grpc.EligibilityServiceServicer, filing_pb2_grpc.FilingServiceServicer):
    """GetSnapshot / ResolveFiling from fixed data that each test registers."""

    def __init__(self) -> None:
        self.persons: dict[tuple[str, str], eligibility_pb2.Snapshot] = {}
        self.filings: dict[str, str] = {}
        self.snapshot_calls = 0

    def person(self, psn_no: str, *, insutype: str = "390", pool: str = POOL_A, psn_type: str = "resident",
               identities: tuple[str, ...] = (), balance_fen: int = 0, name: str = "测试") -> str:
        snap = eligibility_pb2.Snapshot(psn_no=psn_no, name=name, insutype=insutype, eligible=True, psn_type=psn_type,
                                        insured_pool=pool, insuplc_admdvs=pool, benefit_start="2026-01-01",
                                        benefit_end="2026-12-31", account_balance_fen=balance_fen)
        for t in identities:
            snap.identities.add(psn_no=psn_no, psn_idet_type=t, begntime="2026-01-01", endtime="2026-12-31")
        self.persons[(psn_no, insutype)] = snap
        return psn_no

    def file(self, psn_no: str, group: str = "long_term") -> None:
        self.filings[psn_no] = group

    async def GetSnapshot(self, request, context):
        self.snapshot_calls += 1
        snap = self.persons.get((request.psn_no, request.insutype))
        if snap is None:
            return eligibility_pb2.Snapshot(psn_no=request.psn_no, eligible=False, ineligible_outcome="NOT_ENROLLED",
                                            ineligible_message="无参保记录 / not enrolled")
        return snap

    async def ResolveFiling(self, request, context):
        group = self.filings.get(request.psn_no)
        if group is None:
            return filing_pb2.ResolveFilingResponse(filed=False, message="未备案 / not filed")
        return filing_pb2.ResolveFilingResponse(filed=True, filing_group=group, filing_id=f"F{request.psn_no}")


class Clock:
    """The service's clock: real time unless a test pins it (clearing months, statement dates)."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.timezone.utc)

    def set(self, day: dt.date, hour: int = 10) -> None:
        self.fixed = dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST)


@pytest_asyncio.fixture(scope="session")
async def setl_refs(db_pool):
    from services.refdata.cache import ReferenceCache
    from services.refdata.schema import parse_document
    from services.refdata.store import load_document

    await load_document(db_pool, parse_document(reference_document()))
    cache = await ReferenceCache.load(db_pool)
    yield cache
    await cache.close()


@pytest_asyncio.fixture(scope="session")
async def upstream():
    up = Upstream()
    server = aio.server()
    eligibility_pb2_grpc.add_EligibilityServiceServicer_to_server(up, server)
    filing_pb2_grpc.add_FilingServiceServicer_to_server(up, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    up.addr = f"127.0.0.1:{port}"
    yield up
    await server.stop(0)


@pytest_asyncio.fixture(scope="session")
async def settlement_env(db_pool, setl_refs, upstream):
    """(stub, service, clock): the real servicer behind a real grpc.aio server."""
    clock = Clock()
    channel = aio.insecure_channel(upstream.addr)
    service = SettlementService(db_pool, setl_refs, EligibilityClient(channel, 5.0), FilingClient(channel, 5.0),
                                clock=clock)
    server = aio.server(interceptors=[RefusalInterceptor()])
    register(server, service)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = aio.insecure_channel(f"127.0.0.1:{port}")
    stub = settlement_pb2_grpc.SettlementServiceStub(client)
    yield stub, service, clock
    await client.close()
    await server.stop(0)
    await channel.close()


@pytest.fixture
def stub(settlement_env):
    return settlement_env[0]


@pytest.fixture
def clock(settlement_env):
    yield settlement_env[2]
    settlement_env[2].fixed = None


_seq = itertools.count(1)


def msgid(code: str) -> str:
    """A fresh 30-character msgid: hospital(12) + time(14) + 4 random-ish digits."""
    return f"{code}{dt.datetime.now():%Y%m%d%H%M%S}{random.randrange(10**4):04d}{next(_seq)}"


def caller(code: str, infno: str, mid: str | None = None) -> common_pb2.Caller:
    return common_pb2.Caller(fixmedins_code=code, msgid=mid or msgid(code), infno=infno, opter="test")


def fee(sn: str, code: str, cnt: str, pric_fen: int, amount_fen: int | None = None) -> pb.FeeDetail:
    from decimal import Decimal

    from services.engine import round_half_up

    amt = amount_fen if amount_fen is not None else round_half_up(Decimal(cnt) * pric_fen)
    return pb.FeeDetail(feedetl_sn=sn, med_list_codg=code, cnt=cnt, pric_fen=pric_fen, det_item_fee_sumamt_fen=amt,
                        name=code)


async def open_visit(stub, *, hospital: str, psn_no: str, insutype: str = "390", kind: str = "inpatient",
                     med_type: str = "21", begntime: str = "2026-05-10 09:00:00", fees=(), discharge: bool = True,
                     dise_codg: str = "") -> pb.Visit:
    """Register (2201/2401), upload fees (2204/2301) and, for an admission, discharge (2402)."""
    v = await stub.Register(pb.RegisterRequest(
        caller=caller(hospital, "2401" if kind == "inpatient" else "2201"), psn_no=psn_no, insutype=insutype,
        kind=kind, med_type=med_type, begntime=begntime, dise_codg=dise_codg))
    if fees:
        await stub.UploadFees(pb.UploadFeesRequest(caller=caller(hospital, "2301" if kind == "inpatient" else "2204"),
                                                   mdtrt_id=v.mdtrt_id, psn_no=psn_no, feedetail=list(fees)))
    if kind == "inpatient" and discharge:
        v = await stub.Discharge(pb.DischargeRequest(caller=caller(hospital, "2402"), mdtrt_id=v.mdtrt_id,
                                                     psn_no=psn_no, endtime="2026-05-15 10:00:00"))
    return v


def settle_request(hospital: str, visit: pb.Visit, medfee_fen: int, *, mid: str | None = None, acct: bool = False,
                   infno: str | None = None) -> pb.SettleRequest:
    return pb.SettleRequest(caller=caller(hospital, infno or ("2304" if visit.kind == "inpatient" else "2207"), mid),
                            mdtrt_id=visit.mdtrt_id, psn_no=visit.psn_no, insutype=visit.insutype,
                            medfee_sumamt_fen=medfee_fen, acct_used_flag=acct)


def outcome(err: grpc.RpcError) -> tuple[str | None, str | None]:
    from services.common.grpcutil import outcome_of

    return outcome_of(err)
