"""The bulk import's ways through a batch, against the real database: a new person whose certno
is taken (the import goes without looking first, the index refuses, the split is done again
looking), one psn_no with two certnos in a batch, a person created by another writer while the
import runs, new persons visible at once through the cache, and CSV written with quotes, CRLF,
blank lines and a field spanning lines."""

from __future__ import annotations

import asyncio
import csv
import logging

import pytest

from services.eligibility.bulk_import import APPLICATION_NAME, import_file
from services.eligibility.import_reader import COLUMNS
from tests.dates import NEXT_YEAR, THIS_YEAR, day

from .conftest import POOL_A, new_certno

pytestmark = pytest.mark.integration


def good_row(psn_no, *, year=str(THIS_YEAR), name=None, certno=None):
    if certno is None:
        certno, birth = new_certno("1")
    else:
        birth = f"{certno[6:10]}-{certno[10:12]}-{certno[12:14]}"
    return [psn_no, certno, name or "路径" + psn_no[-3:], "1", str(birth), POOL_A, "390", year, "resident",
            f"{year}-01-01", f"{year}-12-31", "active"]


def write_csv(path, rows, **kw):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, **kw)
        w.writerow(COLUMNS)
        w.writerows(rows)


def report(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(int(r["line"]), r["field"], r["reason"]) for r in csv.DictReader(f)]


async def test_a_new_person_with_a_taken_certno_is_rejected_and_the_rest_lands(tmp_path, database_url, redis_url,
                                                                             db_pool, uid, caplog):
    caplog.set_level(logging.INFO, logger="services.eligibility.bulk_import")
    held = good_row(f"BK{uid}0")
    write_csv(tmp_path / "a.csv", [held])
    assert await import_file(database_url, tmp_path / "a.csv", redis_url=redis_url, progress=False) == 0

    rows = [good_row(f"BK{uid}1", certno=held[1]),        # line 2: new person, certno of BK..0
            good_row(f"BK{uid}2"),                         # line 3: new person
            good_row(f"BK{uid}0", year=str(NEXT_YEAR), certno=held[1])]  # line 4: BK..0 renews (batch 2)
    write_csv(tmp_path / "b.csv", rows)
    # (In one batch, line 2 would keep the certno from line 4: the first line that claims a certno
    # keeps it within a batch, before the database is asked. Hence two batches here.)
    assert await import_file(database_url, tmp_path / "b.csv", redis_url=redis_url, progress=False,
                             errors_path=tmp_path / "e.csv", splits=1, batch_size=2) == 2
    assert report(tmp_path / "e.csv") == [(2, "certno", f"certno already belongs to psn_no BK{uid}0")]
    assert "persons_certno_key; again, looking up certnos first" in caplog.text  # the index refused first
    async with db_pool.acquire() as conn:
        persons = dict(await conn.fetch("SELECT psn_no, certno FROM eligibility.persons WHERE psn_no LIKE $1",
                                        f"BK{uid}%"))
        years = await conn.fetch("SELECT psn_no, year FROM eligibility.enrollments WHERE psn_no LIKE $1 "
                                 "ORDER BY psn_no, year", f"BK{uid}%")
    assert persons == {f"BK{uid}0": held[1], f"BK{uid}2": rows[1][1]}
    assert [(r["psn_no"], r["year"]) for r in years] == [(f"BK{uid}0", THIS_YEAR), (f"BK{uid}0", NEXT_YEAR),
                                                                (f"BK{uid}2", THIS_YEAR)]


async def test_one_person_with_two_certnos_in_a_batch_keeps_the_free_one(tmp_path, database_url, redis_url, db_pool,
                                                                        uid):
    other = good_row(f"BL{uid}9")
    write_csv(tmp_path / "a.csv", [other])
    assert await import_file(database_url, tmp_path / "a.csv", redis_url=redis_url, progress=False) == 0

    free = good_row(f"BL{uid}1")
    taken = good_row(f"BL{uid}1", year=str(NEXT_YEAR), certno=other[1])  # the later row: certno of BL..9
    write_csv(tmp_path / "b.csv", [free, taken])
    assert await import_file(database_url, tmp_path / "b.csv", redis_url=redis_url, progress=False,
                             errors_path=tmp_path / "e.csv", splits=1) == 2
    assert report(tmp_path / "e.csv") == [(3, "certno", f"certno already belongs to psn_no BL{uid}9")]
    async with db_pool.acquire() as conn:
        certno = await conn.fetchval("SELECT certno FROM eligibility.persons WHERE psn_no = $1", f"BL{uid}1")
        years = await conn.fetch("SELECT year FROM eligibility.enrollments WHERE psn_no = $1", f"BL{uid}1")
    assert certno == free[1] and [r["year"] for r in years] == [THIS_YEAR]


async def test_a_person_another_writer_creates_meanwhile_is_updated_not_duplicated(tmp_path, database_url, redis_url,
                                                                                  db_pool, uid):
    rows = [good_row(f"BM{uid}{i}") for i in range(4)]
    write_csv(tmp_path / "a.csv", rows)
    target = rows[2]
    async with db_pool.acquire() as other:
        tx = other.transaction()
        await tx.start()
        # Not committed yet: the import does not see this person, inserts it, and waits for us.
        await other.execute("INSERT INTO eligibility.persons (psn_no, certno, name, gender, birthdate) "
                            "VALUES ($1, $2, '另一个写入者', '1', $3::text::date)", target[0], target[1], target[4])
        task = asyncio.ensure_future(import_file(database_url, tmp_path / "a.csv", redis_url=redis_url,
                                                 progress=False, splits=1))
        for _ in range(200):
            waiting = await db_pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                                             "AND wait_event_type = 'Lock'", APPLICATION_NAME)
            if waiting or task.done():
                break
            await asyncio.sleep(0.05)
        assert waiting == 1, "the import should be waiting for the other writer's person"
        await tx.commit()
    assert await asyncio.wait_for(task, 30) == 0
    async with db_pool.acquire() as conn:
        names = dict(await conn.fetch("SELECT psn_no, name FROM eligibility.persons WHERE psn_no LIKE $1",
                                      f"BM{uid}%"))
        n = await conn.fetchval("SELECT count(*) FROM eligibility.enrollments WHERE psn_no LIKE $1", f"BM{uid}%")
    assert names == {r[0]: r[2] for r in rows}  # the file's name replaced the other writer's
    assert n == 4


async def test_new_persons_are_found_at_once_and_changed_ones_are_fresh(tmp_path, database_url, redis_url, service,
                                                                       uid):
    from services.common.grpcutil import Refusal

    new, old = good_row(f"BN{uid}1"), good_row(f"BN{uid}2")
    write_csv(tmp_path / "a.csv", [old])
    assert await import_file(database_url, tmp_path / "a.csv", redis_url=redis_url, progress=False) == 0
    with pytest.raises(Refusal):  # looked up before it exists (nothing is cached for it)
        await service.snapshot(psn_no=new[0], insutype="390", on_date=day("05-01"))
    assert (await service.snapshot(psn_no=old[0], insutype="390", on_date=day("05-01"))).choice.eligible  # cached

    paused = list(old)
    paused[11] = "paused"
    write_csv(tmp_path / "b.csv", [new, paused])
    assert await import_file(database_url, tmp_path / "b.csv", redis_url=redis_url, progress=False) == 0
    assert (await service.snapshot(psn_no=new[0], insutype="390", on_date=day("05-01"))).choice.eligible
    assert not (await service.snapshot(psn_no=old[0], insutype="390", on_date=day("05-01"))).choice.eligible


async def test_quotes_crlf_blank_lines_and_a_field_spanning_lines(tmp_path, database_url, redis_url, db_pool, uid):
    rows = [good_row(f"BQ{uid}1", name='王, "小二"'),        # line 2
            good_row(f"BQ{uid}2", name="第一行\n第二行"),     # lines 3-4: one record
            good_row(f"BQ{uid}3"),                           # line 5
            [],                                              # line 6: blank
            [f"  BQ{uid}4 ", *good_row("x")[1:]],            # line 7: blanks around psn_no
            good_row(f"BQ{uid}5", year="20X6")]              # line 8: bad year
    write_csv(tmp_path / "a.csv", rows, lineterminator="\r\n")
    assert await import_file(database_url, tmp_path / "a.csv", redis_url=redis_url, progress=False,
                             errors_path=tmp_path / "e.csv") == 2
    assert [(line, field) for line, field, _ in report(tmp_path / "e.csv")] == [
        (8, "benefit_end"), (8, "benefit_start"), (8, "year")]
    async with db_pool.acquire() as conn:
        names = dict(await conn.fetch("SELECT psn_no, name FROM eligibility.persons WHERE psn_no LIKE $1",
                                      f"BQ{uid}%"))
    assert names == {f"BQ{uid}1": '王, "小二"', f"BQ{uid}2": "第一行\n第二行", f"BQ{uid}3": rows[2][2],
                     f"BQ{uid}4": rows[4][2]}


async def test_one_person_on_several_rows_of_a_batch_the_last_row_wins(tmp_path, database_url, redis_url, db_pool,
                                                                       uid):
    # Rows of one person in one batch go through the de-duplicating upsert; a file with one row
    # per person through the one without sorts (Q_STAGE_UPSERT_ONCE, every other test here).
    first = good_row(f"BR{uid}1", name="先")
    rows = [first,                                                        # line 2
            good_row(f"BR{uid}1", year=str(NEXT_YEAR), certno=first[1], name="中"),  # line 3
            [*good_row(f"BR{uid}1", certno=first[1], name="后")[:11], "paused"]]  # line 4: this year again
    write_csv(tmp_path / "a.csv", rows)
    assert await import_file(database_url, tmp_path / "a.csv", redis_url=redis_url, progress=False, splits=1) == 0
    async with db_pool.acquire() as conn:
        name = await conn.fetchval("SELECT name FROM eligibility.persons WHERE psn_no = $1", f"BR{uid}1")
        enr = await conn.fetch("SELECT year, status FROM eligibility.enrollments WHERE psn_no = $1 ORDER BY year",
                               f"BR{uid}1")
    assert name == "后" and [(r["year"], r["status"]) for r in enr] == [(THIS_YEAR, "paused"), (NEXT_YEAR, "active")]


async def test_bytes_that_are_not_utf8_reject_their_row_only(tmp_path, database_url, redis_url, db_pool, uid):
    ok, bad = good_row(f"BU{uid}1"), good_row(f"BU{uid}2")
    path = tmp_path / "a.csv"
    write_csv(path, [ok, bad])
    data = path.read_bytes().replace(bad[2].encode(), b"\xff\xfe" + bad[2].encode()[2:])
    path.write_bytes(data)
    assert await import_file(database_url, path, redis_url=redis_url, progress=False,
                             errors_path=tmp_path / "e.csv") == 2
    [(line, field, reason)] = report(tmp_path / "e.csv")
    assert (line, field) == (3, "name") and reason.startswith("not valid UTF-8: ") and "\\xff\\xfe" in reason
    async with db_pool.acquire() as conn:
        stored = [r[0] for r in await conn.fetch("SELECT psn_no FROM eligibility.persons WHERE psn_no LIKE $1",
                                                 f"BU{uid}%")]
    assert stored == [ok[0]]


async def test_a_file_of_new_persons_is_inserted_as_it_is_and_renewals_are_upserted(tmp_path, database_url, redis_url,
                                                                                   db_pool, uid, caplog):
    caplog.set_level(logging.INFO, logger="services.eligibility.bulk_import")
    rows = [good_row(f"BV{uid}{i:02d}") for i in range(30)]
    write_csv(tmp_path / "new.csv", rows)
    assert await import_file(database_url, tmp_path / "new.csv", redis_url=redis_url, progress=False,
                             batch_size=10) == 0
    assert "not only new persons" not in caplog.text  # every batch went in without look-ups
    renewed = [good_row(r[0], year=str(NEXT_YEAR), certno=r[1], name=r[2]) for r in rows]
    renewed[3][2] = "改名"  # one person's name changes too
    write_csv(tmp_path / "renew.csv", renewed)
    assert await import_file(database_url, tmp_path / "renew.csv", redis_url=redis_url, progress=False,
                             batch_size=10) == 0
    assert "not only new persons (persons_pkey); upserting from here on" in caplog.text
    async with db_pool.acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM eligibility.enrollments WHERE psn_no LIKE $1", f"BV{uid}%")
        name = await conn.fetchval("SELECT name FROM eligibility.persons WHERE psn_no = $1", rows[3][0])
    assert n == 60 and name == "改名"
