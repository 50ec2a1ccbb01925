"""The admin API's reference loads (issue #17) against the running suite: a document may refer to
pools already stored instead of redeclaring them; a reference neither in the document nor stored
is a 400 naming its path with nothing applied; the reply counts created, updated and unchanged."""

from __future__ import annotations

import copy

import pytest

from tests.integration.refdata.test_store import _person, small_doc

pytestmark = pytest.mark.e2e


async def load(admin, doc: dict) -> tuple[int, dict]:
    async with admin.post("/api/v1/admin/reference", json=doc) as r:
        return r.status, await r.json()


async def test_admin_reference_loads_resolve_against_stored_data_and_count_what_they_create(admin, uid):
    data = small_doc(uid)
    code = data["pools"][0]["code"]
    status, body = await load(admin, data)
    assert status == 200, body
    counts = body["report"]["counts"]
    assert counts["pools"]["inserted"] == 1 and counts["policies"]["inserted"] == 1

    # One policy changed, its pool not redeclared (before: 400 "pool ... is not defined in pools").
    policy = copy.deepcopy(data["policies"][0])
    policy["waiting_days"] = 30
    status, body = await load(admin, {"format": data["format"], "policies": [policy]})
    assert status == 200, body
    assert body["report"]["counts"]["policies"] == {"inserted": 0, "updated": 1, "unchanged": 0, "deleted": 0}
    assert body["report"]["new_policy_versions"] == [[code, "390", policy["year"], 2]]

    # Persons enrolled in the stored pool: created, then unchanged (before: "updated" both times… then 0).
    person = _person(f"PE{uid}", code)
    status, body = await load(admin, {"format": data["format"], "persons": [person]})
    assert status == 200, body
    assert body["report"]["counts"]["persons"] == {"inserted": 1, "updated": 0, "unchanged": 0, "deleted": 0}
    assert body["report"]["counts"]["filings"] == {"inserted": 1, "updated": 0, "unchanged": 0, "deleted": 0}
    status, body = await load(admin, {"format": data["format"], "persons": [person]})
    assert body["report"]["counts"]["persons"]["unchanged"] == 1 and body["changed"] == 0

    # A catalogue of a pool nobody has, beside a valid new hospital: 400 naming the path, nothing applied.
    other = small_doc(uid[::-1])
    doc = {"format": data["format"], "hospitals": other["hospitals"],
           "catalogues": [{"pool": "NOPOOL" + uid[:4].upper(), "items": data["catalogues"][0]["items"][:1]}]}
    status, body = await load(admin, doc)
    assert status == 400, body
    err = body["error"]
    assert (err["code"], err["field"]) == ("INVALID_REFERENCE", "catalogues[0].pool"), err
    assert err["errors"] == [f'catalogues[0].pool: pool "NOPOOL{uid[:4].upper()}" is not defined in pools, nor in '
                             "the stored reference data: list the pool in this document or load it first"]
    again = {"format": data["format"], "hospitals": other["hospitals"]}
    status, body = await load(admin, again)
    assert status == 200 and body["report"]["counts"]["hospitals"]["inserted"] == 1, "the refused load applied nothing"
