"""Loading reference data into a real PostgreSQL and reading it back through the cache.

The database is shared by the whole suite, so tests that change data use their own pool codes
(T + a unique id) and admdvs codes under 99xxxx, which no real pool uses.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random

import asyncpg
import pytest

from infra.reference.make_demo import document_for_today
from services.common.ids import make_certno
from services.refdata.cache import ReferenceCache
from services.refdata.cli import demo_document, load_file
from services.refdata.schema import ReferenceError, parse_document, read_document
from services.refdata.store import load_document
from tests.dates import THIS_YEAR

pytestmark = pytest.mark.integration


def demo_reference_only():
    return dataclasses.replace(demo_document(), persons=())


def small_doc(uid: str) -> dict:
    """A self-contained document with its own pool, hospital and policy."""
    code = "T" + uid.upper()[:8]
    admdvs = f"99{random.randrange(10_000):04d}"
    demo = document_for_today()
    policy = copy.deepcopy(next(p for p in demo["policies"]
                                if p["pool"] == "330600" and p["insutype"] == "390" and p["year"] == THIS_YEAR))
    policy["pool"] = code
    return {
        "format": "medsettle.reference/v1",
        "pools": [{"code": code, "name": f"测试统筹区{uid}", "insutypes": ["390"], "admdvs": [admdvs]}],
        "hospitals": [{"code": f"H{admdvs}{random.randrange(100_000):05d}", "name": "测试医院", "admdvs": admdvs,
                       "level": 2, "cross_province": False, "paasid": f"test-{uid}", "secret": "s" * 40}],
        "catalogues": [{"pool": code, "items": demo["catalogues"][0]["items"][:5]}],
        "policies": [policy],
    }


async def test_loading_the_demo_twice_changes_nothing_the_second_time(db_pool):
    doc = demo_reference_only()
    await load_document(db_pool, doc)
    again = await load_document(db_pool, doc)
    assert again.changed == 0, again.render()
    assert again.counts["policies"].unchanged == len(doc.policies)
    assert again.counts["hospitals"].unchanged == len(doc.hospitals)
    assert again.counts["catalogue_items"].unchanged == sum(len(c.items) for c in doc.catalogues)


async def test_a_new_document_is_inserted_then_unchanged(db_pool, uid):
    doc = parse_document(small_doc(uid))
    first = await load_document(db_pool, doc)
    assert (first.counts["pools"].inserted, first.counts["hospitals"].inserted) == (1, 1)
    assert first.counts["catalogue_items"].inserted == 5
    assert first.counts["policies"].inserted == 1
    assert first.new_policy_versions == [(doc.pools[0].code, "390", THIS_YEAR, 1)]
    second = await load_document(db_pool, doc)
    assert second.changed == 0


async def test_a_changed_policy_becomes_version_2_and_a_changed_hospital_is_updated(db_pool, uid):
    data = small_doc(uid)
    await load_document(db_pool, parse_document(data))
    data["policies"][0]["lines"]["inpatient"]["ratio"]["3"] = "0.72"
    data["hospitals"][0]["level"] = 3
    report = await load_document(db_pool, parse_document(data))
    code = data["pools"][0]["code"]
    assert report.counts["policies"].updated == 1 and report.new_policy_versions == [(code, "390", THIS_YEAR, 2)]
    assert report.counts["hospitals"].updated == 1
    assert report.counts["catalogue_items"].unchanged == 5
    rows = await db_pool.fetch("SELECT version, body_text FROM reference.policies WHERE pool = $1 ORDER BY version", code)
    assert [r["version"] for r in rows] == [1, 2]
    assert json.loads(rows[1]["body_text"])["lines"]["inpatient"]["ratio"]["3"] == "0.72"
    # Reformatting alone ("0.720" is the same number) is not a new version.
    data["policies"][0]["lines"]["inpatient"]["ratio"]["3"] = "0.720"
    assert (await load_document(db_pool, parse_document(data))).changed == 0


async def test_a_document_with_one_bad_field_applies_nothing(db_pool, database_url, uid, tmp_path, capsys):
    data = small_doc(uid)
    data["policies"][0]["lines"]["inpatient"]["ratio"]["3"] = 0.7
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ReferenceError) as info:
        read_document(path)
    assert info.value.errors == [
        'policies[0].lines.inpatient.ratio.3: expected a decimal string like "0.70", got 0.7']
    assert await load_file(database_url, path) == 2
    assert "policies[0].lines.inpatient.ratio.3" in capsys.readouterr().err
    assert await db_pool.fetchval("SELECT count(*) FROM reference.pools WHERE code = $1", data["pools"][0]["code"]) == 0


async def test_a_database_error_midway_rolls_back_everything(db_pool, uid):
    clash = small_doc(uid)
    await load_document(db_pool, parse_document(clash))
    data = small_doc(uid[::-1])
    data["hospitals"][0]["paasid"] = clash["hospitals"][0]["paasid"]  # unique in the table, not in this document
    with pytest.raises(asyncpg.UniqueViolationError):
        await load_document(db_pool, parse_document(data))
    code = data["pools"][0]["code"]
    assert await db_pool.fetchval("SELECT count(*) FROM reference.pools WHERE code = $1", code) == 0
    assert await db_pool.fetchval("SELECT count(*) FROM reference.policies WHERE pool = $1", code) == 0


async def test_the_cache_reads_back_equal_engine_objects(db_pool):
    doc = demo_reference_only()
    await load_document(db_pool, doc)
    cache = await ReferenceCache.load(db_pool)
    for pool in doc.pools:
        assert cache.pool(pool.code) == pool
        for a in pool.admdvs:
            for t in pool.insutypes:
                assert cache.pool_for_admdvs(a, t) == pool
    assert cache.pool_for_admdvs("650102", "390").code == "650000"
    assert cache.pool_for_admdvs("650102", "310").code == "650100"
    assert cache.pool_for_admdvs("310101", "390") is None
    for h, c in zip(doc.hospitals, doc.credentials, strict=True):
        assert cache.hospital(h.code) == h
        assert cache.hospital_by_paasid(c.paasid) == h
        assert cache.credentials(h.code) == c
    for cat in doc.catalogues:
        stored = cache.catalogue(cat.pool)
        for code, item in cat.items.items():
            assert stored.items[code] == item
    for p in doc.policies:
        cached = cache.policy(p.pool, p.insutype, p.year)
        assert cached.version >= 1
        assert cached == dataclasses.replace(p, version=cached.version)
        assert cache.policy_version(p.pool, p.insutype, p.year, cached.version) == cached
    assert cache.province_of()["43CZT"] == "43"


async def test_the_cache_follows_notifications(db_pool, uid):
    data = small_doc(uid)
    cache = await ReferenceCache.load(db_pool)
    await cache.listen(db_pool)
    try:
        code = data["pools"][0]["code"]
        assert cache.pool(code) is None
        before = cache.reloads
        await load_document(db_pool, parse_document(data))
        await cache.wait_reloaded(before)
        assert cache.pool(code) is not None and cache.policy(code, "390", THIS_YEAR).version == 1
        data["policies"][0]["waiting_days"] = 30
        before = cache.reloads
        await load_document(db_pool, parse_document(data))
        await cache.wait_reloaded(before)
        assert cache.policy(code, "390", THIS_YEAR).version == 2
        assert cache.policy(code, "390", THIS_YEAR).waiting_days == 30
        assert cache.policy_version(code, "390", THIS_YEAR, 1).waiting_days == 90
    finally:
        await cache.close()


async def test_loading_the_demo_with_persons_twice_changes_nothing(db_pool):
    doc = demo_document()
    await load_document(db_pool, doc)
    again = await load_document(db_pool, doc)
    assert again.changed == 0, again.render()


async def test_load_file_prints_the_report(database_url, uid, tmp_path, capsys):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(small_doc(uid), ensure_ascii=False), encoding="utf-8")
    assert await load_file(database_url, path) == 0
    assert await load_file(database_url, path) == 0
    out = capsys.readouterr().out
    assert "policies" in out and out.rstrip().endswith("0 changed: already up to date")


def _person(psn_no: str, pool: str) -> dict:
    birth = f"{1950 + random.randrange(50)}{random.randrange(1, 13):02d}{random.randrange(1, 29):02d}"
    certno = make_certno(f"9{random.randrange(100_000):05d}{birth}{random.randrange(100):02d}1")
    return {"psn_no": psn_no, "certno": certno, "name": "测试人", "gender": "1",
            "birthdate": f"{birth[:4]}-{birth[4:6]}-{birth[6:]}",
            "enrollments": [{"pool": pool, "insutype": "390", "year": THIS_YEAR, "psn_type": "resident",
                             "benefit_start": f"{THIS_YEAR}-01-01", "benefit_end": f"{THIS_YEAR}-12-31",
                             "status": "active"}],
            "filings": [{"type": "temporary", "destination": "45", "begin": f"{THIS_YEAR}-03-01",
                         "end": f"{THIS_YEAR}-12-31"}]}


def _row(out: str, kind: str) -> list[int]:
    """inserted, updated, unchanged, deleted of one kind in the CLI's report."""
    line = next(x for x in out.splitlines() if x.split()[:1] == [kind])
    return [int(n) for n in line.split()[1:]]


async def test_a_first_load_reports_created_then_unchanged_then_updated(database_url, uid, tmp_path, capsys):
    """Issue #17: a first load reported every person and filing as "updated"."""
    data = small_doc(uid)
    pool = data["pools"][0]["code"]
    data["persons"] = [_person(f"PC{uid}A", pool), _person(f"PC{uid}B", pool)]
    path = tmp_path / "persons.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert await load_file(database_url, path) == 0
    out = capsys.readouterr().out
    assert _row(out, "persons") == [2, 0, 0, 0], out  # before: [0, 2, 0, 0]
    assert _row(out, "filings") == [2, 0, 0, 0], out
    assert _row(out, "pools") == [1, 0, 0, 0] and _row(out, "policies") == [1, 0, 0, 0], out
    assert await load_file(database_url, path) == 0
    out = capsys.readouterr().out
    assert _row(out, "persons") == [0, 0, 2, 0] and _row(out, "filings") == [0, 0, 2, 0], out
    data["persons"][1]["name"] = "改名"
    data["persons"][1]["filings"] = []
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert await load_file(database_url, path) == 0
    out = capsys.readouterr().out
    assert _row(out, "persons") == [0, 1, 1, 0], out
    assert _row(out, "filings") == [0, 1, 1, 0], out  # B's filing revoked: updated


# ----------------------------------------------------------------------------- references to stored data (issue #17)


def _write(tmp_path, name: str, data: dict):
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


async def test_a_document_changing_one_policy_need_not_redeclare_its_stored_pool(db_pool, database_url, uid, tmp_path,
                                                                                 capsys):
    data = small_doc(uid)
    await load_document(db_pool, parse_document(data))
    code = data["pools"][0]["code"]
    policy = copy.deepcopy(data["policies"][0])
    policy["waiting_days"] = 45
    path = _write(tmp_path, "policy.json", {"format": data["format"], "policies": [policy]})
    assert await load_file(database_url, path) == 0, capsys.readouterr().err  # before: exit 2, pool not defined
    out = capsys.readouterr().out
    assert _row(out, "policies") == [0, 1, 0, 0] and _row(out, "pools") == [0, 0, 0, 0], out
    rows = await db_pool.fetch("SELECT version FROM reference.policies WHERE pool = $1 ORDER BY version", code)
    assert [r["version"] for r in rows] == [1, 2]
    admdvs = await db_pool.fetch("SELECT admdvs FROM reference.pool_admdvs WHERE pool = $1", code)
    assert [r["admdvs"] for r in admdvs] == data["pools"][0]["admdvs"], "the pool is untouched"
    # the same through the API the admin endpoint uses
    policy["waiting_days"] = 60
    report = await load_document(db_pool, parse_document({"format": data["format"], "policies": [policy]},
                                                         stored=None))
    assert report.new_policy_versions == [(code, "390", THIS_YEAR, 3)]


async def test_references_neither_in_the_document_nor_stored_are_path_errors_and_nothing_is_applied(
        db_pool, database_url, uid, tmp_path, capsys):
    stored = small_doc(uid)
    await load_document(db_pool, parse_document(stored))
    code, hospital = stored["pools"][0]["code"], stored["hospitals"][0]["code"]
    fresh = small_doc(uid[::-1])  # a new pool and hospital of its own, which must not be applied either
    bad = copy.deepcopy(fresh)
    bad["catalogues"].append({"pool": "NOPOOL" + uid[:4].upper(), "items": stored["catalogues"][0]["items"][:1]})
    policy = copy.deepcopy(stored["policies"][0])
    policy["insutype"] = "310"  # the stored pool carries 390 only
    policy.pop("critical_illness", None)
    bad["policies"].append(policy)
    person = _person(f"PX{uid}", code)
    person["chronic"] = [{"code": "M03900", "begin": f"{THIS_YEAR}-01-01", "end": None, "hospital": "H99999999999"},
                         {"code": "M03900", "begin": f"{THIS_YEAR}-01-01", "end": None, "hospital": hospital}]
    bad["persons"] = [person]
    assert await load_file(database_url, _write(tmp_path, "bad.json", bad)) == 2
    err = capsys.readouterr().err
    assert "3 error(s), nothing loaded" in err, err
    assert f'catalogues[1].pool: pool "NOPOOL{uid[:4].upper()}" is not defined in pools, nor in the stored' in err
    assert f"policies[1].insutype: the stored pool {code} does not carry insutype 310" in err
    assert 'persons[0].chronic[0].hospital: hospital "H99999999999" is not defined in hospitals, nor in the stored' \
        in err
    assert "chronic[1]" not in err, "a stored hospital is a valid reference"
    for table, key in (("pools", "code"), ("hospitals", "code")):
        n = await db_pool.fetchval(f"SELECT count(*) FROM reference.{table} WHERE {key} = $1",
                                   fresh[table][0]["code"])
        assert n == 0, f"nothing applied: {table}"
    assert await db_pool.fetchval("SELECT count(*) FROM eligibility.persons WHERE psn_no = $1", person["psn_no"]) == 0


async def test_an_admdvs_held_by_a_stored_pool_is_refused_and_a_stored_pool_silences_the_warning(db_pool, uid):
    stored = small_doc(uid)
    await load_document(db_pool, parse_document(stored))
    admdvs = stored["pools"][0]["admdvs"][0]
    clash = small_doc(uid[::-1])
    clash["pools"][0]["admdvs"] = [admdvs]
    with pytest.raises(ReferenceError) as info:  # before: loaded, the admdvs in two pools for 390
        await load_document(db_pool, parse_document(clash))
    assert info.value.errors == [f"pools[0].admdvs: admdvs {admdvs} is already in the stored pool "
                                 f"{stored['pools'][0]['code']} for insutype 390: redeclare "
                                 f"{stored['pools'][0]['code']} without it in the same document"]
    assert await db_pool.fetchval("SELECT count(*) FROM reference.pools WHERE code = $1", clash["pools"][0]["code"]) == 0
    # Moving it is fine when the document redeclares the stored pool without it.
    moved = copy.deepcopy(stored["pools"][0])
    moved["admdvs"] = [f"9{int(admdvs[1:]) ^ 1:05d}"]
    clash["pools"].append(moved)
    clash["catalogues"], clash["policies"], clash["hospitals"] = [], [], []
    await load_document(db_pool, parse_document(clash))
    # A hospital-only document: its admdvs is held by a stored pool, so no warning (before: one).
    hospital = copy.deepcopy(stored["hospitals"][0])
    hospital.update(admdvs=admdvs, name="改名医院")
    report = await load_document(db_pool, parse_document({"format": stored["format"], "hospitals": [hospital]},
                                                         stored=None))
    assert report.warnings == [] and report.counts["hospitals"].updated == 1
    hospital.update(admdvs="890000")  # 89xxxx: no pool, real or test, holds it
    report = await load_document(db_pool, parse_document({"format": stored["format"], "hospitals": [hospital]},
                                                         stored=None))
    assert any("no pool holds admdvs" in w for w in report.warnings), report.warnings
