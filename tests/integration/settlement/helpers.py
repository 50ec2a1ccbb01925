"""Request builders and small helpers of the settlement integration tests (not fixtures)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

import grpc

from medsettle.common.v1 import common_pb2
from medsettle.settlement.v1 import settlement_pb2 as pb
from services.common.clock import Clock as BeijingClock
from services.common.grpcutil import outcome_of
from services.engine import round_half_up
from services.settlement.domain import CST
from tests.dates import THIS_YEAR, day


class Clock:
    """The service's clock: real time unless a test pins it (clearing months, statement dates)."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)

    def set(self, day: dt.date, hour: int = 10) -> None:
        self.fixed = dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST)


_seq = itertools.count(1)


def msgid(code: str) -> str:
    """A fresh 30-character msgid: hospital(12) + time(14) + 4 random-ish digits."""
    return f"{code}{BeijingClock().naive_now():%Y%m%d%H%M%S}{random.randrange(10**4):04d}{next(_seq)}"


def caller(code: str, infno: str, mid: str | None = None) -> common_pb2.Caller:
    return common_pb2.Caller(fixmedins_code=code, msgid=mid or msgid(code), infno=infno, opter="test")


def fee(sn: str, code: str, cnt: str, pric_fen: int, amount_fen: int | None = None) -> pb.FeeDetail:
    amt = amount_fen if amount_fen is not None else round_half_up(Decimal(cnt) * pric_fen)
    return pb.FeeDetail(feedetl_sn=sn, med_list_codg=code, cnt=cnt, pric_fen=pric_fen, det_item_fee_sumamt_fen=amt,
                        name=code)


async def open_visit(stub, *, hospital: str, psn_no: str, insutype: str = "390", kind: str = "inpatient",
                     med_type: str = "21", begntime: str = day("05-10 09:00:00"), fees=(), discharge: bool = True,
                     dise_codg: str = "", endtime: str = "") -> pb.Visit:
    """Register (2201/2401), upload fees (2204/2301) and, for an admission, discharge (2402)
    (by default five days after admission)."""
    endtime = endtime or f"{dt.datetime.fromisoformat(begntime) + dt.timedelta(days=5):%Y-%m-%d %H:%M:%S}"
    v = await stub.Register(pb.RegisterRequest(
        caller=caller(hospital, "2401" if kind == "inpatient" else "2201"), psn_no=psn_no, insutype=insutype,
        kind=kind, med_type=med_type, begntime=begntime, dise_codg=dise_codg))
    if fees:
        await stub.UploadFees(pb.UploadFeesRequest(caller=caller(hospital, "2301" if kind == "inpatient" else "2204"),
                                                   mdtrt_id=v.mdtrt_id, psn_no=psn_no, feedetail=list(fees)))
    if kind == "inpatient" and discharge:
        v = await stub.Discharge(pb.DischargeRequest(caller=caller(hospital, "2402"), mdtrt_id=v.mdtrt_id,
                                                     psn_no=psn_no, endtime=endtime))
    return v


def settle_request(hospital: str, visit: pb.Visit, medfee_fen: int, *, mid: str | None = None, acct: bool = False,
                   infno: str | None = None) -> pb.SettleRequest:
    return pb.SettleRequest(caller=caller(hospital, infno or ("2304" if visit.kind == "inpatient" else "2207"), mid),
                            mdtrt_id=visit.mdtrt_id, psn_no=visit.psn_no, insutype=visit.insutype,
                            medfee_sumamt_fen=medfee_fen, acct_used_flag=acct)


def outcome(err: grpc.RpcError) -> tuple[str | None, str | None]:
    return outcome_of(err)


async def accumulators(stub, psn_no: str, insutype: str = "390", year: int = THIS_YEAR) -> tuple[dict, pb.AccumulatorsResponse]:
    """5206: {key: amount} and the whole reply."""
    resp = await stub.GetAccumulators(pb.GetAccumulatorsRequest(psn_no=psn_no, insutype=insutype, year=year))
    return {a.key: a.amount for a in resp.accumulators}, resp


async def free_month(db_pool, months: int = 1) -> dt.date:
    """A past month (day 10) no settlement or clearing run has used, so this test owns it; with
    months=2 the month after it is unused too (a late booking goes there once the first is cleared)."""
    rng = random.Random()
    async with db_pool.acquire() as conn:
        while True:
            day = dt.date(rng.randrange(1100, 1999), rng.randrange(1, 12), 10)
            yms = [f"{day.year}{day.month + i:02d}" for i in range(months)]
            used = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM settlement.settlements WHERE setlym = any($1::text[]))"
                " OR EXISTS (SELECT 1 FROM settlement.clearing_runs WHERE setlym = any($1::text[]))", yms)
            if not used:
                return day
