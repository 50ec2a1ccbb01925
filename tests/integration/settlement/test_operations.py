"""The operators' read-only questions (services/settlement/operations.py) on the real PostgreSQL:
bad filters refused naming the field, nothing found said clearly, the lists bounded."""

from __future__ import annotations

import pytest

from services.common.outcomes import Refusal
from services.settlement.operations import Operations, SettlementFilter
from tests.dates import THIS_YEAR as Y


@pytest.fixture
def ops(db_pool):
    return Operations(db_pool)


@pytest.mark.parametrize("q,field", [
    (SettlementFilter(status="paid"), "status"),
    (SettlementFilter(date_from=f"{Y}-1-1"), "date_from"),
    (SettlementFilter(date_from=f"{Y}-02-30"), "date_from"),
    (SettlementFilter(date_from=f"{Y}-03-02", date_to=f"{Y}-03-01"), "date_to"),
    (SettlementFilter(limit=501), "limit"),
    (SettlementFilter(msgid="x" * 61), "msgid"),
])
async def test_bad_filters_are_refused_naming_the_field(ops, q, field):
    with pytest.raises(Refusal) as e:
        await ops.settlements(q)
    assert e.value.field == field


async def test_a_list_is_bounded_and_newest_first(ops, demo_loaded):
    rows = await ops.settlements(SettlementFilter(limit=5))
    assert len(rows) <= 5
    assert [r.setl_time for r in rows] == sorted((r.setl_time for r in rows), reverse=True)


async def test_a_story_needs_what_to_look_for_and_says_what_is_missing(ops):
    for args, field in ((("", "", ""), "msgid"), (("", "M1", ""), "fixmedins_code"),
                        (("H33060200001", "NO-SUCH-MSGID-x", ""), "msgid"), (("", "", "NO-SUCH-SETL"), "setl_id")):
        with pytest.raises(Refusal) as e:
            await ops.story(*args)
        assert e.value.field == field, args


async def test_daily_totals_need_a_bounded_range(ops):
    with pytest.raises(Refusal) as e:
        await ops.daily_totals("", "", f"{Y}-01-01")
    assert e.value.field == "date_from"
    with pytest.raises(Refusal) as e:
        await ops.daily_totals("", f"{Y}-01-01", f"{Y}-06-01")
    assert e.value.field == "date_to" and e.value.outcome == "INVALID_RANGE"
    days, apps = await ops.daily_totals("", f"{Y}-01-01", f"{Y}-01-31")
    assert isinstance(days, list) and isinstance(apps, list)
    with pytest.raises(Refusal):
        await ops.clearing_runs(-1)
    assert len(await ops.clearing_runs(2)) <= 2
