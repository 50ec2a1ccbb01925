"""Filings from the reference document (`upsert_filings`, called by the loader in its transaction)."""

from __future__ import annotations

import pytest

from medsettle.filing.v1 import filing_pb2 as pb
from services.filing.reference_load import reference_filing_id
from tests.dates import date, day

from .conftest import load_persons, person

pytestmark = pytest.mark.integration


async def test_demo_filings_are_loaded_and_resolve(harness, demo_loaded):
    # 赵玉梅: Shaoxing resident with a long_term_residence filing to 65 from 10 January last year.
    r = await harness.filing.ResolveFiling(pb.ResolveFilingRequest(
        psn_no="330600000000000006", insutype="390", insured_pool="330600", hospital_admdvs="650102",
        visit_date=day("06-01")))
    assert (r.region_class, r.filed, r.filing_group) == ("inter_province", True, "long_term")
    # 孙海峰: referral to Changsha from 1 March to 31 August this year.
    r = await harness.filing.ResolveFiling(pb.ResolveFilingRequest(
        psn_no="330600000000000007", insutype="390", insured_pool="330600", hospital_admdvs="430102",
        visit_date=day("09-01")))
    assert r.filed is False


async def test_loading_filings_twice_changes_nothing_and_each_insutype_gets_one(harness, db_pool, uid):
    p = person(f"FR{uid}", "330600", "310", filings=[
        {"type": "stationed_work", "destination": "43", "begin": day("02-01"), "end": None},
        {"type": "temporary", "destination": "45", "begin": day("03-01"), "end": day("12-31")},
    ])
    first = await load_persons(db_pool, [p])
    assert (first.counts["filings"].inserted, first.counts["filings"].updated) == (2, 0)  # created, not "updated"
    assert (first.counts["persons"].inserted, first.counts["persons"].updated) == (1, 0)
    again = await load_persons(db_pool, [p])
    assert (again.counts["filings"].inserted, again.counts["filings"].updated) == (0, 0)
    assert again.counts["filings"].unchanged == 2 and again.counts["persons"].unchanged == 1
    listed = (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=p["psn_no"]))).filings
    assert sorted((f.type, f.group, f.insutype, f.insured_pool, f.source) for f in listed) == [
        ("stationed_work", "long_term", "310", "330600", "reference"),
        ("temporary", "temporary", "310", "330600", "reference"),
    ]
    lt = next(f for f in listed if f.group == "long_term")
    assert lt.filing_id == reference_filing_id(p["psn_no"], "310", "stationed_work", "43",
                                               date(2, 1))


async def test_a_filing_dropped_from_the_document_is_revoked_and_comes_back(harness, db_pool, uid):
    keep = {"type": "referral", "destination": "430100", "begin": day("03-01"), "end": day("08-31")}
    drop = {"type": "temporary", "destination": "45", "begin": day("03-01"), "end": day("12-31")}
    p = person(f"FD{uid}", "330600", "390", filings=[keep, drop])
    await load_persons(db_pool, [p])
    p["filings"] = [keep]
    assert (await load_persons(db_pool, [p])).counts["filings"].updated == 1
    everything = (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=p["psn_no"], include_inactive=True))).filings
    assert sorted((f.type, f.status) for f in everything) == [("referral", "active"), ("temporary", "revoked")]
    p["filings"] = [keep, drop]
    assert (await load_persons(db_pool, [p])).counts["filings"].updated == 1
    active = (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=p["psn_no"]))).filings
    assert len(active) == 2


async def test_a_person_revocation_survives_a_reload(harness, db_pool, uid):
    p = person(f"FK{uid}", "330600", "390",
               filings=[{"type": "temporary", "destination": "45", "begin": day("03-01"), "end": day("12-31")}])
    await load_persons(db_pool, [p])
    (f,) = (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=p["psn_no"]))).filings
    await harness.filing.RevokeFiling(pb.RevokeFilingRequest(filing_id=f.filing_id))  # online, by the person
    assert (await load_persons(db_pool, [p])).counts["filings"].updated == 0
    assert not (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=p["psn_no"]))).filings


async def test_reference_long_term_supersedes_an_earlier_one(harness, db_pool, uid):
    a = {"type": "retired_relocated", "destination": "43", "begin": day("01-01"), "end": None}
    b = {"type": "retired_relocated", "destination": "45", "begin": day("04-01"), "end": None}
    p = person(f"FL{uid}", "330600", "310", filings=[a, b], psn_type="retired")
    await load_persons(db_pool, [p])
    assert (await load_persons(db_pool, [p])).counts["filings"].updated == 0
    everything = (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=p["psn_no"], include_inactive=True))).filings
    assert sorted((f.destination, f.status) for f in everything) == [("43", "superseded"), ("45", "active")]
