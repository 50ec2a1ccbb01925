"""Migration 0003 replaced the row-level enrollments → persons foreign key with statement-level
checks (bulk import speed). The rule itself must still hold in the database."""

from __future__ import annotations

import asyncpg
import pytest

from tests.dates import THIS_YEAR, day
from tests.integration.eligibility.conftest import POOL_A, enrollment, person_record, store_persons

pytestmark = pytest.mark.integration

Q_ENROLL = f"""INSERT INTO eligibility.enrollments (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end,
                                                    status) VALUES ($1, $2, '390', {THIS_YEAR}, 'resident',
                                                    '{day("01-01")}', '{day("12-31")}', 'active')"""


async def test_an_enrollment_for_an_unknown_person_is_refused_as_a_foreign_key_violation(db_pool, elig_reference, uid):
    async with db_pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError) as err:
            await conn.execute(Q_ENROLL, f"NOBODY{uid}", POOL_A)
        assert err.value.constraint_name == "enrollments_psn_no_fkey"
        assert await conn.fetchval("SELECT count(*) FROM eligibility.enrollments WHERE psn_no = $1",
                                   f"NOBODY{uid}") == 0


async def test_moving_an_enrollment_to_an_unknown_person_is_refused(db_pool, elig_reference, uid):
    psn = f"FK{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
    async with db_pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("UPDATE eligibility.enrollments SET psn_no = $2 WHERE psn_no = $1", psn, f"NOBODY{uid}")


async def test_deleting_a_person_deletes_their_enrollments(db_pool, elig_reference, uid):
    psn = f"FD{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM eligibility.persons WHERE psn_no = $1", psn)
        assert await conn.fetchval("SELECT count(*) FROM eligibility.enrollments WHERE psn_no = $1", psn) == 0


async def test_the_bulk_imports_promise_lasts_only_its_own_transaction(db_pool, elig_reference, uid):
    # Migration 0005: a transaction that itself guarantees each enrollment's person (the bulk
    # import's upsert) may skip the check with SET LOCAL; the next transaction of the same
    # session is checked again.
    async with db_pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SET LOCAL medsettle.enrollment_persons = 'found_in_statement'")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(Q_ENROLL, f"NOBODY{uid}", POOL_A)
        async with conn.transaction():
            await conn.execute("SET LOCAL medsettle.enrollment_persons = 'something else'")
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await conn.execute(Q_ENROLL, f"NOBODY{uid}", POOL_A)
