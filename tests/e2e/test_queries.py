"""1901 dictionary query and 1312 catalogue query end to end over HTTP against the whole suite (demo
data), their outputs walked against the field reference (gateway/his/contract.py)."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.his.contract import output_nodes, problems
from gateway.his.dispatch import Call
from tests.e2e.conftest import now_text

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif("reference" not in {f.name for f in dataclasses.fields(Call)},
                       reason="gateway/his/dispatch.Call has no `reference` field yet: 1901/1312 read the reference "
                              "cache from call.reference, which gateway/his/endpoint.call_service must pass "
                              "(Call(..., reference=deps.cache))"),
]

SX3 = "H33060200001"  # 绍兴市人民医院, admdvs 330602: pool 330600 for 310 and 390
XJ3 = "H65010200001"  # 新疆医科大学第一附属医院, admdvs 650102: pool 650000 for 390, 650100 for 310
DRUG = "XC10AAA089A001010104327"


def ok(reply: dict):
    assert reply["infcode"] == 0, reply["err_msg"]
    return reply["output"]


def _dict_input(type_: str, **kw) -> dict:
    return {"data": {"type": type_, "parent_value": "", "admdvs": "330602", "date": now_text()[:10], "Vali_Flag": "1",
                     **kw}}


def _cat_input(**kw) -> dict:
    return {"data": {"updt_time": "2000-01-01", "page_num": 1, "page_size": 100, **kw}}


async def test_1901_dictionaries_over_http(his_factory):
    his = await his_factory(SX3)
    spec = output_nodes("1901")
    out = ok(await his.call("1901", _dict_input("psn_type")))
    assert problems(out, spec) == []
    rows = out["list"]
    assert len(rows) == 30 and rows[0] == {"type": "psn_type", "label": "在职", "value": "11", "parentValue": "",
                                           "sort": 1, "valiFlag": "1", "createUser": "", "createDate": "",
                                           "version": 1}
    pools = ok(await his.call("1901", _dict_input("poolarea_no")))
    # The test database holds other tests' pools too: the demo's six are among them.
    assert problems(pools, spec) == [] and {"330600", "650000", "650100", "43CZT", "450100", "150500"} <= {
        r["value"] for r in pools["list"]}
    for type_, parent, n in (("med_chrgitm_type", "", 14), ("dept", "A04.01", 3), ("TRUM_FLAG", "", 2),
                             ("admdvs", "330600", 7)):
        out = ok(await his.call("1901", _dict_input(type_, parent_value=parent)))
        assert problems(out, spec) == [] and len(out["list"]) == n, type_
    assert [r["value"] for r in out["list"]][:2] == ["330600", "330602"] and out["list"][0]["label"] == "绍兴市"
    # the national baseline's spelling of the validity flag is read too; no row we hold is invalid
    assert ok(await his.call("1901", {"data": {**_dict_input("gend")["data"], "Vali_Flag": None,
                                               "vali_flag": "0"}})) == {"list": []}


async def test_1312_catalogue_over_http(his_factory):
    spec = output_nodes("1312")
    xj = await his_factory(XJ3)
    first = ok(await xj.call("1312", _cat_input(page_size=50)))
    second = ok(await xj.call("1312", _cat_input(page_num=2, page_size=50)))
    assert isinstance(first, list) and len(first) == 50 and len(second) == 26
    assert problems(first, spec) == [] and problems(second, spec) == []
    rows = first + second
    assert [(r["hilist_code"], r["poolarea_no"]) for r in rows] == sorted((r["hilist_code"], r["poolarea_no"])
                                                                          for r in rows)
    assert ok(await xj.call("1312", _cat_input(page_num=3, page_size=50))) == []
    drug = ok(await xj.call("1312", _cat_input(hilist_code=DRUG)))
    assert [(r["poolarea_no"], r["insu_admdvs"], r["chrgitm_lv"], r["list_type"]) for r in drug] == [
        ("650000", "650000", "02", "101"), ("650100", "650100", "02", "101")]
    sx = await his_factory(SX3)
    materials = ok(await sx.call("1312", _cat_input(list_type="301", chrgitm_lv="03")))
    assert materials and {(r["list_type"], r["chrgitm_lv"], r["med_chrgitm_type"], r["poolarea_no"])
                          for r in materials} == {("301", "03", "08", "330600")}
    assert problems(materials, spec) == []
    named = ok(await sx.call("1312", _cat_input(hilist_name="他汀", page_size="10")))
    assert [r["hilist_code"] for r in named] == [DRUG]


@pytest.mark.parametrize("infno,inp,field", [
    ("1901", _dict_input("nosuch"), "input.data.type"),
    ("1901", _dict_input("psn_type", admdvs="33060X"), "input.data.admdvs"),
    ("1901", _dict_input("psn_type", Vali_Flag="2"), "input.data.Vali_Flag"),
    ("1901", {"data": "psn_type"}, "input.data"),
    ("1312", _cat_input(page_size=0), "input.data.page_size"),
    ("1312", _cat_input(updt_time=None), "input.data.updt_time"),
    ("1312", _cat_input(med_chrgitm_type="99"), "input.data.med_chrgitm_type"),
    ("1312", _cat_input(chrgitm_lv=2), "input.data.chrgitm_lv"),
])
async def test_malformed_input_is_a_failure_envelope_naming_the_field(his_factory, infno, inp, field):
    his = await his_factory(SX3)
    reply = await his.call(infno, inp)
    assert his.last_status == 200
    assert reply["infcode"] == -1 and reply["output"] == {"outcome": "INVALID_INPUT", "retriable": False,
                                                          "field": field}
    assert field in reply["err_msg"]
