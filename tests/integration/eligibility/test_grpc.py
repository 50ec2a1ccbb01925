"""The servicer through a real grpc.aio server on a free port (with the RefusalInterceptor the
production server uses): field errors are INVALID_ARGUMENT naming the field, e-vouchers
resolve once, expired ones are refused, snapshots and 2001 checks have their wire shape."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from grpc import aio

from medsettle.eligibility.v1 import eligibility_pb2 as pb
from medsettle.eligibility.v1 import eligibility_pb2_grpc as pb_grpc
from services.common.grpcutil import RefusalInterceptor, outcome_of
from services.eligibility.server import register
from tests.dates import THIS_YEAR, date, day

from .conftest import POOL_A, enrollment, make_service, person_record, store_persons

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def grpc_env(db_pool, redis, elig_reference):
    service = make_service(db_pool, redis, elig_reference)
    server = aio.server(interceptors=[RefusalInterceptor()])
    register(server, service)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = aio.insecure_channel(f"127.0.0.1:{port}")
    yield service, pb_grpc.EligibilityServiceStub(channel)
    await channel.close()
    await server.stop(0)


async def refused(call):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    outcome, field = outcome_of(e.value)
    return e.value.code(), outcome, field, e.value.details()


async def test_find_person_and_snapshot_over_grpc(grpc_env, db_pool, uid):
    service, stub = grpc_env
    psn = f"G{uid}"
    rec = person_record(psn, enrollments=[enrollment(), enrollment(insutype="310", start=date(3, 1))],
                        balance_fen=12345)
    await store_persons(db_pool, [rec])
    info = await stub.FindPerson(pb.FindPersonRequest(mdtrt_cert_type="02", mdtrt_cert_no=rec.certno,
                                                      on_date=day("05-01")))
    assert info.baseinfo.psn_no == psn and info.baseinfo.certno == rec.certno and info.baseinfo.age > 0
    assert sorted((i.insutype, i.psn_insu_stas, i.insuplc_admdvs, i.used) for i in info.insuinfo) == [
        ("310", "1", "990100", True), ("390", "1", "990100", True)]
    assert all(i.balc_fen == 12345 for i in info.insuinfo)

    snap = await stub.GetSnapshot(pb.GetSnapshotRequest(psn_no=psn, insutype="390", on_date=day("05-01")))
    assert snap.eligible and snap.insured_pool == POOL_A and snap.psn_type == "resident"
    assert snap.benefit_start == day("01-01") and snap.certno == rec.certno
    snap = await stub.GetSnapshot(pb.GetSnapshotRequest(psn_no=psn, insutype="310", on_date=day("02-01")))
    assert not snap.eligible and snap.ineligible_outcome == "WAITING_PERIOD" and day("03-01") in snap.ineligible_message

    code, outcome, field, details = await refused(stub.FindPerson(pb.FindPersonRequest(
        mdtrt_cert_type="02", mdtrt_cert_no=rec.certno[:17] + ("1" if rec.certno[17] == "0" else "0"))))
    assert (code, outcome, field) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CERTNO", "mdtrt_cert_no")
    assert "check digit" in details
    code, outcome, field, _ = await refused(stub.FindPerson(pb.FindPersonRequest(mdtrt_cert_type="07")))
    assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "mdtrt_cert_type")
    code, _, field, _ = await refused(stub.GetSnapshot(pb.GetSnapshotRequest(psn_no=psn, insutype="3X0")))
    assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "insutype")
    code, outcome, _, _ = await refused(stub.GetSnapshot(pb.GetSnapshotRequest(psn_no=f"NONE{uid}", insutype="390")))
    assert (code, outcome) == (grpc.StatusCode.NOT_FOUND, "PERSON_NOT_FOUND")


async def test_evoucher_resolves_once_then_is_refused(grpc_env, db_pool, uid):
    service, stub = grpc_env
    psn = f"E{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
    ev = await stub.IssueEvoucher(pb.IssueEvoucherRequest(psn_no=psn))
    assert 60 <= ev.ttl_s <= 120 and ev.expires_at
    info = await stub.FindPerson(pb.FindPersonRequest(mdtrt_cert_type="01", mdtrt_cert_no=ev.token))
    assert info.baseinfo.psn_no == psn
    code, outcome, field, details = await refused(stub.FindPerson(pb.FindPersonRequest(
        mdtrt_cert_type="01", mdtrt_cert_no=ev.token)))
    assert (code, outcome, field) == (grpc.StatusCode.FAILED_PRECONDITION, "EVOUCHER_USED", "mdtrt_cert_no")
    assert "电子凭证已使用" in details and "already used" in details

    # Expired: the service's clock moves past the token's expiry.
    ev = await stub.IssueEvoucher(pb.IssueEvoucherRequest(psn_no=psn))
    real_clock = service.clock
    service.clock = lambda: real_clock() + ev.ttl_s + 1
    try:
        code, outcome, _, details = await refused(stub.FindPerson(pb.FindPersonRequest(
            mdtrt_cert_type="01", mdtrt_cert_no=ev.token)))
    finally:
        service.clock = real_clock
    assert (code, outcome) == (grpc.StatusCode.FAILED_PRECONDITION, "EVOUCHER_EXPIRED") and "expired" in details
    code, outcome, _, _ = await refused(stub.FindPerson(pb.FindPersonRequest(mdtrt_cert_type="01",
                                                                              mdtrt_cert_no="EV1.forged.token")))
    assert (code, outcome) == (grpc.StatusCode.INVALID_ARGUMENT, "EVOUCHER_INVALID")


async def test_writes_and_benefit_check_over_grpc(grpc_env, db_pool, uid):
    service, stub = grpc_env
    psn = f"H{uid}"
    from .conftest import new_certno

    certno, birth = new_certno("2")
    e = await stub.UpsertEnrollment(pb.UpsertEnrollmentRequest(
        enrollment=pb.Enrollment(psn_no=psn, pool=POOL_A, insutype="390", year=THIS_YEAR, psn_type="resident"),
        paid_date=day("03-10"), enrollment_kind="newborn", certno=certno, name="新生儿", gender="2",
        birthdate=birth.isoformat()))
    assert (e.benefit_start, e.benefit_end, e.status) == (day("03-01"), day("12-31"), "active")
    r = await stub.CheckBenefit(pb.CheckBenefitRequest(psn_no=psn, insutype="390", fixmedins_code="H99010100001",
                                                       med_type="11", begntime=day("03-05 10:00:00")))
    assert [(t.fund_pay_type, t.trt_enjymnt_flag) for t in r.trtinfo] == [("390100", "1")]
    await stub.SetIdentity(pb.SetIdentityRequest(psn_no=psn, type="tekun", begin=day("01-01")))
    r = await stub.CheckBenefit(pb.CheckBenefitRequest(psn_no=psn, insutype="390", fixmedins_code="H99010100001",
                                                       med_type="11", begntime=day("03-05")))
    assert ("610100", "1") in [(t.fund_pay_type, t.trt_enjymnt_flag) for t in r.trtinfo]
    q = await stub.GrantChronic(pb.GrantChronicRequest(psn_no=psn, code="M01600", begin=day("03-01")))
    listed = await stub.ListChronic(pb.ListChronicRequest(psn_no=psn))
    assert [c.qualification_id for c in listed.chronic] == [q.qualification_id]
    t = await stub.TerminateEnrollment(pb.TerminateEnrollmentRequest(psn_no=psn, pool=POOL_A, insutype="390",
                                                                     year=THIS_YEAR, end_date=day("06-30"), status="paused"))
    assert t.status == "paused"
    s = await stub.GetSnapshot(pb.GetSnapshotRequest(psn_no=psn, insutype="390", on_date=day("07-01")))
    assert (s.eligible, s.ineligible_outcome) == (False, "PAUSED")
    await stub.InvalidatePerson(pb.InvalidatePersonRequest(psn_no=psn))
    code, _, field, _ = await refused(stub.GrantChronic(pb.GrantChronicRequest(psn_no=psn, code="hypertension")))
    assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "code")
    code, _, field, _ = await refused(stub.CheckBenefit(pb.CheckBenefitRequest(
        psn_no=psn, insutype="390", fixmedins_code="H99010100001", med_type="14", begntime=day("03-05"))))
    assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "dise_codg")


async def test_a_reused_reply_never_outlives_a_committed_write_and_follows_the_date(grpc_env, db_pool, uid):
    """FindPerson/GetSnapshot reuse the reply built for the same cached person, date and
    insutype: a write that commits (and invalidates) must show in the very next reply, and a
    reply must follow the date asked about."""
    service, stub = grpc_env
    psn = f"W{uid}"
    rec = person_record(psn, enrollments=[enrollment()])
    await store_persons(db_pool, [rec])
    snap_req = pb.GetSnapshotRequest(psn_no=psn, insutype="390", on_date=day("05-01"))
    find_req = pb.FindPersonRequest(mdtrt_cert_type="02", mdtrt_cert_no=rec.certno, on_date=day("05-01"))
    for _ in range(3):
        assert (await stub.GetSnapshot(snap_req)).eligible
        assert [i.psn_insu_stas for i in (await stub.FindPerson(find_req)).insuinfo] == ["1"]
    assert not (await stub.GetSnapshot(pb.GetSnapshotRequest(psn_no=psn, insutype="390",
                                                             on_date=day("05-01", 1)))).eligible
    for status, eligible, stas in (("paused", False, "2"), ("active", True, "1"), ("lapsed", False, "4")):
        if status == "active":
            await stub.UpsertEnrollment(pb.UpsertEnrollmentRequest(enrollment=pb.Enrollment(
                psn_no=psn, pool=POOL_A, insutype="390", year=THIS_YEAR, psn_type="resident", benefit_start=day("01-01"),
                benefit_end=day("12-31"), status="active")))
        else:
            await stub.TerminateEnrollment(pb.TerminateEnrollmentRequest(
                psn_no=psn, pool=POOL_A, insutype="390", year=THIS_YEAR, end_date=day("04-30"), status=status))
        snap = await stub.GetSnapshot(snap_req)
        assert snap.eligible is eligible, status
        assert [i.psn_insu_stas for i in (await stub.FindPerson(find_req)).insuinfo] == [stas], status
        if not eligible:
            assert snap.ineligible_outcome == status.upper()
