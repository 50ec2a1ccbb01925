"""The REST accumulators speak the REST API's one money convention (issue #17): every amount a
yuan string with two decimals, never integer fen beside yuan strings; counts (admissions:*) are
integers under fields of their own. The OpenAPI document says so. Over HTTP against the suite."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.e2e.conftest import beijing_now, this_year
from tests.e2e.test_his_impersonation import KW, H, id_cert, ok, open_visits, person, settle_data

pytestmark = pytest.mark.e2e

YUAN = re.compile(r"^-?[0-9]+\.[0-9]{2}$")


async def test_rest_accumulators_are_yuan_strings_and_counts_are_integers(suite, admin, his_factory):
    his = await his_factory(H)
    b = await person(suite, admin)
    psn, cert = b["psn_no"], id_cert(b)
    out_id, adm_id = await open_visits(his, b)
    ok(await his.call("2207", settle_data(psn, out_id, cert), **KW))
    ok(await his.call("2304", settle_data(psn, adm_id, cert, inpatient=True), **KW))
    cum = {r["cum_type_code"]: r["cum"] for r in ok(await his.call("5206", {"data": {"psn_no": psn}}, **KW))["cuminfo"]}

    async def accumulators(year: int) -> dict:
        async with admin.get(f"/api/v1/persons/{psn}/accumulators", params={"insutype": "390", "year": str(year)}) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    # the admission counts in the year it began (30 h ago: last year on New Year's morning)
    adm_year = (beijing_now() - dt.timedelta(hours=30)).year
    adm_rows = {a["key"]: a for a in (await accumulators(adm_year))["accumulators"]}
    assert adm_rows["admissions:inpatient"] == {"key": "admissions:inpatient", "unit": "count", "count": 1,
                                                 "count_cap": None}
    body = await accumulators(this_year())
    assert YUAN.match(body["account_balance"]) and isinstance(body["year"], int)
    rows = {a["key"]: a for a in body["accumulators"]}
    money = [a for a in rows.values() if a["unit"] == "yuan"]
    assert money, rows
    for a in money:
        assert set(a) == {"key", "unit", "amount", "cap"}, a
        assert isinstance(a["amount"], str) and YUAN.match(a["amount"]), a  # before: integer fen (5000)
        assert a["cap"] is None or (isinstance(a["cap"], str) and YUAN.match(a["cap"])), a
        assert str(cum[a["key"]]) == a["amount"], (a, cum[a["key"]])  # the HIS's 5206 says the same yuan
    assert any(a["amount"] != "0.00" for a in money)

    async with admin.get("/api/v1/openapi.json") as r:
        doc = await r.json()
    op = doc["paths"]["/api/v1/persons/{psn_no}/accumulators"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Accumulators"}
    item = doc["components"]["schemas"]["Accumulator"]["properties"]
    assert item["amount"]["type"] == "string" and item["count"]["type"] == "integer"
    assert "never integer fen" in doc["info"]["description"]
