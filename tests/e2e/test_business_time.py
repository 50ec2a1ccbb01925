"""Business time is Beijing time whatever the host's zone (docs/RULES.md §9), on any date.

The suite's processes run with a host zone five hours west of UTC (tests/conftest.py sets TZ for
them), thirteen hours from Beijing: any time read from the host's zone shows up here. `make
e2e-faked` runs these tests again on a January day and on New Year's Eve in UTC (1 January in
Beijing)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import time
from decimal import Decimal

import pytest

from services.common.clock import BEIJING
from tests.conftest import HOST_TZ
from tests.e2e.conftest import fresh_person, now_text
from tests.e2e.test_his_flows import SX3, assert_identities, fee, ok

pytestmark = pytest.mark.e2e

CONSULT = "001102000010000"  # 普通门诊诊查费, 甲 (class 01): all in-policy


def beijing_now() -> dt.datetime:
    """Beijing wall-clock time from the epoch alone (not from any zone setting of this process)."""
    return dt.datetime.fromtimestamp(time.time(), BEIJING).replace(tzinfo=None)


def _close_to_now(text: str, fmt: str, before: dt.datetime, after: dt.datetime, what: str) -> None:
    at = dt.datetime.strptime(text, fmt)
    slack = dt.timedelta(seconds=2)
    assert before.replace(microsecond=0) - slack <= at <= after + slack, f"{what} {text} is not Beijing time " \
                                                                         f"({before:%Y-%m-%d %H:%M:%S} .. {after:%H:%M:%S})"


async def test_envelope_times_and_ids_are_beijing_time_on_a_host_in_another_zone(suite, his_factory, admin):
    assert suite.host_tz == HOST_TZ  # the suite's processes run in a zone thirteen hours from Beijing
    his = await his_factory(SX3, sign_in=False)
    before = beijing_now()
    reply = await his.call("9001", {"signIn": {"opter_no": "op001", "mac": "00-00-00-00-00-00", "ip": "127.0.0.1"}})
    after = beijing_now()
    out = ok(reply)["signinoutb"]
    _close_to_now(out["sign_time"], "%Y-%m-%d %H:%M:%S", before, after, "sign_time")
    _close_to_now(out["sign_no"][:14], "%Y%m%d%H%M%S", before, after, "sign_no")
    for key in ("refmsg_time", "respond_time"):
        _close_to_now(reply[key][:14], "%Y%m%d%H%M%S", before, after, key)
    _close_to_now(reply["inf_refmsgid"][6:20], "%Y%m%d%H%M%S", before, after, "inf_refmsgid")
    his.sign_no = out["sign_no"]

    # A failure envelope too (a refusal built on another path).
    refused = await his.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "not-a-certno"}})
    assert refused["infcode"] == -1
    _close_to_now(refused["respond_time"][:14], "%Y%m%d%H%M%S", before, beijing_now(), "respond_time of a failure")

    # A settlement: setl_time and the ids that carry a date.
    psn_no = await fresh_person(admin)
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": (await r.json())["baseinfo"]["certno"]}
    kw = {"insuplc_admdvs": "330600"}
    mdtrt_id = ok(await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                                   "ipt_otp_no": "MZ" + his.last_msgid[-10:], **cert}},
                                 **kw))["data"]["mdtrt_id"]
    ok(await his.call("2204", {"feedetail": [fee("B1", mdtrt_id, psn_no, CONSULT, "20.00", "1", now_text(-1))]}, **kw))
    s = ok(await his.call("2207", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390",
                                            "med_type": "11", "medfee_sumamt": "20.00", "psn_setlway": "01",
                                            "acct_used_flag": "0", **cert}}, **kw))["setlinfo"]
    after = beijing_now()
    _close_to_now(s["setl_time"], "%Y-%m-%d %H:%M:%S", before, after, "setl_time")
    _close_to_now(s["setl_id"][1:15], "%Y%m%d%H%M%S", before, after, "setl_id")
    _close_to_now(mdtrt_id[1:15], "%Y%m%d%H%M%S", before, after, "mdtrt_id")


async def _outpatient(his, psn_no: str, cert: dict, begntime: str, amount: str) -> dict:
    kw = {"insuplc_admdvs": "330600"}
    mdtrt_id = ok(await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": begntime,
                                                   "ipt_otp_no": "MZ" + his.last_msgid[-10:], **cert}},
                                 **kw))["data"]["mdtrt_id"]
    ok(await his.call("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "11",
                                             "begntime": begntime, "dise_codg": "J06.900"}}, **kw))
    ok(await his.call("2204", {"feedetail": [fee("N1", mdtrt_id, psn_no, CONSULT, amount, "1", begntime)]}, **kw))
    s = ok(await his.call("2207", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390",
                                            "med_type": "11", "medfee_sumamt": amount, "psn_setlway": "01",
                                            "acct_used_flag": "0", **cert}}, **kw))["setlinfo"]
    assert_identities(s)
    return s


async def _accumulated(his, psn_no: str, year: int) -> dict[str, str]:
    out = ok(await his.call("5206", {"data": {"psn_no": psn_no, "insutype": "390", "cum_ym": str(year)}},
                            insuplc_admdvs="330600"))
    assert out["year"] == year
    return {r["cum_type_code"]: r["cum"] for r in out["cuminfo"]}


async def test_a_visit_begun_last_year_settles_in_last_years_year_and_the_deductible_starts_again(
        his_factory, admin):
    """Shaoxing residents' outpatient line (demo policy 330600/390): deductible 100.00 a year,
    ratio 0.40 at a level-3 hospital. A visit registered at 23:00 on 31 December of last year
    and settled today is last year's: its deductible does not count for this year."""
    his = await his_factory(SX3)
    psn_no = await fresh_person(admin)  # enrolled last year and this year, nothing accumulated
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": (await r.json())["baseinfo"]["certno"]}
    this_year = int(now_text()[:4])
    last_year = this_year - 1

    eve = await _outpatient(his, psn_no, cert, f"{last_year}-12-31 23:00:00", "250.00")
    assert (eve["act_pay_dedc"], eve["hifp_pay"]) == (Decimal("100.00"), Decimal("60.00"))  # (250 - 100) x 0.40
    assert eve["setl_time"][:10] == now_text()[:10]  # settled today, booked for the visit's year
    new_year = await _outpatient(his, psn_no, cert, now_text(-0.5), "250.00")
    assert (new_year["act_pay_dedc"], new_year["hifp_pay"]) == (Decimal("100.00"), Decimal("60.00")), \
        "the deductible paid on 31 December does not count this year"
    again = await _outpatient(his, psn_no, cert, now_text(-0.25), "250.00")
    assert (again["act_pay_dedc"], again["hifp_pay"]) == (Decimal("0.00"), Decimal("100.00")), \
        "within one year it does count"

    last, this = await _accumulated(his, psn_no, last_year), await _accumulated(his, psn_no, this_year)
    paid_last = {k: Decimal(v) for k, v in last.items() if Decimal(v)}
    paid_this = {k: Decimal(v) for k, v in this.items() if Decimal(v)}
    assert set(paid_last) and set(paid_last) == set(paid_this), (last, this)
    # Last year holds the one visit of 31 December, this year the two of this year.
    assert all(paid_this[k] >= paid_last[k] for k in paid_last)
    assert sum(paid_this.values()) > sum(paid_last.values())


async def test_december_is_cleared_from_the_first_of_january_but_not_before(admin):
    """The clearing refuses a month that has not ended in Beijing and takes the month just ended."""
    today = dt.date.fromisoformat(now_text()[:10])
    this_month, last_month = today.strftime("%Y%m"), (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y%m")
    async with admin.post("/api/v1/admin/clearing-runs", json={"setlym": this_month}) as r:
        body = await r.json()
        assert r.status == 409 and body["error"]["code"] == "MONTH_NOT_ENDED", body
    async with admin.post("/api/v1/admin/clearing-runs", json={"setlym": last_month}) as r:
        assert r.status == 201, await r.text()


_IDS = re.compile(r"setl_id \S+|\b[A-Z]?\d{14}[0-9a-f]{6,}\b")


async def test_make_run_demo_shows_the_same_figures_on_every_run(suite):
    """`make run` plays gateway/demo.py; played twice in a row it prints the same split tables."""
    from gateway import demo

    async def run_once() -> str:
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, play_captured)

    def play_captured() -> str:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            demo.play(suite.gateway_url)
        return buf.getvalue()

    first, second = await run_once(), await run_once()
    assert "REFUSED" not in first, first
    # The dialysis visit (worked example C): 2700.00 x 0.90 under the monthly cap, every time.
    assert re.search(r"统筹基金 basic pooled fund\s+2430\.00", first), first
    tables = [[_IDS.sub("<id>", line) for line in text.splitlines()] for text in (first, second)]
    assert tables[0] == tables[1]
