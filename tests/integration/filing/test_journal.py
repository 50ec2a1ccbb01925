"""Filing's HIS messages in the exactly-once journal shared with settlement (services/common/journal.py)
over filing.messages: a msgid names one message of one kind. A true retry gets the stored reply
(and notifies eligibility again); the same msgid for another kind is MSGID_CONFLICT, even when
its stored fingerprint is the very one the retried body has."""

from __future__ import annotations

import grpc
import pytest

from medsettle.filing.v1 import filing_pb2 as pb

from .conftest import load_persons, person
from .test_filing_service import HOSP_SX, caller, create, msgid, refusal

pytestmark = pytest.mark.integration


@pytest.fixture
async def resident(db_pool, uid):
    psn_no = f"FJ{uid}"
    await load_persons(db_pool, [person(psn_no, "330600", "390")])
    return psn_no


async def message_row(db_pool, msg: str):
    return await db_pool.fetchrow("SELECT infno, kind, fingerprint, psn_no, filing_id, reply FROM filing.messages "
                                  "WHERE fixmedins_code = $1 AND msgid = $2", HOSP_SX, msg)


async def test_a_msgid_reused_for_another_kind_is_a_conflict_and_a_true_retry_replays(harness, db_pool, resident,
                                                                                     uid):
    f = await create(harness, resident, msg=msgid(uid, 1))
    revoke = pb.RevokeFilingRequest(caller=caller(msgid(uid, 2), infno="2502"), filing_id=f.filing_id,
                                    psn_no=resident)
    revoked = await harness.filing.RevokeFiling(revoke)
    assert revoked.status == "revoked"
    notified = len(harness.recorder.of("InvalidatePerson", resident))

    # The revoke's msgid for a change of the same filing, and for a 2601 of the same person.
    got = await refusal(harness.filing.ChangeFiling(pb.ChangeFilingRequest(
        caller=caller(msgid(uid, 2), infno="2502"), filing_id=f.filing_id)))
    assert got[:3] == (grpc.StatusCode.ALREADY_EXISTS, "MSGID_CONFLICT", "msgid")
    assert "2502" in got[3]  # names what the msgid was used for
    got = await refusal(harness.filing.ReverseByMsgid(pb.ReverseByMsgidRequest(
        caller=caller(msgid(uid, 2), infno="2601"), psn_no=resident, omsgid=msgid(uid, 1))))
    assert got[:3] == (grpc.StatusCode.ALREADY_EXISTS, "MSGID_CONFLICT", "msgid")
    assert len(harness.recorder.of("InvalidatePerson", resident)) == notified  # a refusal notifies nobody

    # A true retry: the stored reply (not FILING_NOT_ACTIVE), and eligibility is told again.
    assert await harness.filing.RevokeFiling(revoke) == revoked
    assert len(harness.recorder.of("InvalidatePerson", resident)) == notified + 1
    row = await message_row(db_pool, msgid(uid, 2))
    assert (row["kind"], row["infno"], row["psn_no"], row["filing_id"]) == ("revoke", "2502", resident, f.filing_id)


async def test_the_kind_is_compared_as_well_as_the_fingerprint(harness, db_pool, resident, uid):
    m = msgid(uid, 1)
    first = await create(harness, resident, msg=m)
    row = await message_row(db_pool, m)
    # What 2601 reads to find what the message did, and the reply as the domain object's JSON.
    assert (row["kind"], row["infno"], row["psn_no"], row["filing_id"]) == ("create", "2501", resident,
                                                                             first.filing_id)
    assert row["reply"]["filing_id"] == first.filing_id and row["reply"]["status"] == "active"

    # The stored row now says another kind, with the fingerprint the retried body has.
    await db_pool.execute("UPDATE filing.messages SET kind = 'revoke' WHERE fixmedins_code = $1 AND msgid = $2",
                          HOSP_SX, m)
    got = await refusal(create(harness, resident, msg=m))
    assert got[:3] == (grpc.StatusCode.ALREADY_EXISTS, "MSGID_CONFLICT", "msgid")

    # Back to its kind: the row (as any stored before) replays the first reply; no second filing.
    await db_pool.execute("UPDATE filing.messages SET kind = 'create' WHERE fixmedins_code = $1 AND msgid = $2",
                          HOSP_SX, m)
    assert await create(harness, resident, msg=m) == first
    listed = await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=resident, include_inactive=True))
    assert [x.filing_id for x in listed.filings] == [first.filing_id]


async def test_a_filing_without_a_msgid_is_not_journaled(harness, db_pool, resident):
    online = await create(harness, resident)  # no caller: online self-service
    assert online.source == "online"
    assert await db_pool.fetchval("SELECT count(*) FROM filing.messages WHERE filing_id = $1", online.filing_id) == 0
