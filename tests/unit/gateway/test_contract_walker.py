"""gateway/his/contract.problems: a whole output passes; each kind of shortfall (a missing node,
the wrong kind, a missing field, a string where a number belongs, a bad date or datetime, null) is
reported at its path; our own extra keys are allowed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gateway.his import contract
from gateway.his.contract import load_spec, output_nodes, problems
from gateway.his.jsonnum import dumps, yuan

SAMPLE = {"C": "x", "D": "2026-01-05", "DT": "2026-01-05 10:00:00", "DIGITS": "1", "LIST": [], "MAP": {}, "OBJ": {}}


def _row(node: dict, i: int = 0) -> dict:
    return {name: (yuan(1234 + i) if f["type"] == "N" else SAMPLE.get(f["type"], "")) for name, f in node["fields"].items()}


def whole(nodes: dict) -> dict:
    """A whole output for a spec node map: one row per list, nested nodes filled too."""
    def fill(name: str) -> dict | list:
        node = nodes[name]
        row = _row(node)
        for child, spec in nodes.items():
            if spec.get("parent") == name:
                row[child] = fill(child)
        return row if node["kind"] == "obj" else [row] if node["kind"] == "list" else {}
    out = {name: fill(name) for name, node in nodes.items() if not node.get("parent") and name != "$"}
    return fill("$") if "$" in nodes else out


@pytest.fixture
def good() -> dict:
    return whole(output_nodes("2207"))


def test_a_whole_output_passes(good):
    assert problems(good, output_nodes("2207")) == []


@pytest.mark.parametrize("infno", sorted(load_spec()["transactions"]))
def test_a_whole_output_of_every_transaction_passes(infno):
    nodes = output_nodes(infno)
    assert problems(whole(nodes), nodes) == []


def test_it_passes_as_parsed_back_from_the_wire(good):
    parsed = json.loads(dumps(good), parse_float=Decimal)
    assert problems(parsed, output_nodes("2207")) == []
    assert problems(json.loads(dumps(good)), output_nodes("2207")) == []  # floats are numbers too


def test_a_missing_node(good):
    del good["setldetail"]
    assert problems(good, output_nodes("2207")) == ["setldetail: missing node (list)"]


def test_the_wrong_kind_of_node(good):
    good["setlinfo"] = [good["setlinfo"]]
    good["setldetail"] = good["setldetail"][0]
    assert problems(good, output_nodes("2207")) == [
        "setlinfo: must be a JSON object (obj), got an array",
        "setldetail: must be a JSON array (list), got an object",
    ]


def test_an_empty_list_is_whole_and_a_row_must_be_an_object(good):
    good["setldetail"] = []
    assert problems(good, output_nodes("2207")) == []
    good["setldetail"] = ["310100"]
    assert problems(good, output_nodes("2207")) == ["setldetail[0]: must be a JSON object, got the string '310100'"]


def test_a_missing_field_in_an_object_and_in_a_row(good):
    del good["setlinfo"]["medins_setl_id"]
    good["setldetail"].append(dict(good["setldetail"][0]))
    del good["setldetail"][1]["fund_payamt"]
    assert problems(good, output_nodes("2207")) == [
        "setlinfo.medins_setl_id: missing field (C 30)",
        "setldetail[1].fund_payamt: missing field (N 16,2)",
    ]


def test_a_string_where_a_number_belongs(good):
    good["setlinfo"]["medfee_sumamt"] = "123.40"
    good["setlinfo"]["age"] = True
    good["setlinfo"]["balc"] = None
    good["setldetail"][0]["fund_payamt"] = float("nan")
    assert problems(good, output_nodes("2207")) == [
        "setlinfo.age: must be a JSON number (N 4,1), got true",
        "setlinfo.medfee_sumamt: must be a JSON number (N 16,2), got the string '123.40'",
        "setlinfo.balc: must be a JSON number (N 16,2), got null",
        "setldetail[0].fund_payamt: must be a JSON number (N 16,2), got float nan",
    ]


@pytest.mark.parametrize("value", [0, 12, 123.4, Decimal("123.40"), Decimal("-0.50")])
def test_numbers_of_every_json_kind_pass(good, value):
    good["setlinfo"]["medfee_sumamt"] = value
    assert problems(good, output_nodes("2207")) == []


@pytest.mark.parametrize("value", ["2026-01-05T10:00:00", "2026-01-05", "2026/01/05 10:00:00", "2026-1-5 10:00:00",
                                   "2026-02-30 10:00:00", "2026-01-05 24:00:00", "20260105100000"])
def test_a_bad_datetime(good, value):
    good["setlinfo"]["setl_time"] = value
    assert problems(good, output_nodes("2207")) == [
        f"setlinfo.setl_time: must be a datetime yyyy-MM-dd HH:mm:ss or \"\" (DT), got the string {value!r}"]


@pytest.mark.parametrize("value,ok", [("", True), ("2026-01-05", True), ("2026-01-05 00:00:00", False),
                                      ("2026-13-01", False), (20260105, False)])
def test_dates(good, value, ok):
    good["setlinfo"]["brdy"] = value
    assert (problems(good, output_nodes("2207")) == []) is ok


def test_an_empty_datetime_and_a_string_field_typed_as_a_number(good):
    good["setlinfo"]["setl_time"] = ""
    assert problems(good, output_nodes("2207")) == []
    good["setlinfo"]["psn_no"] = 123
    assert problems(good, output_nodes("2207")) == ["setlinfo.psn_no: must be a JSON string (C 30), got int 123"]


def test_extra_keys_are_ours_and_allowed(good):
    good["setlinfo"]["region_class"] = "cross-province"
    good["setldetail"][0]["explain"] = {"why": "..."}
    good["our_extra_node"] = [1, 2]
    assert problems(good, output_nodes("2207")) == []


def test_nonempty_reports_a_required_string_left_empty(good):
    good["setlinfo"]["psn_no"] = ""
    good["setlinfo"]["clr_optins"] = ""  # optional
    assert problems(good, output_nodes("2207")) == []
    assert problems(good, output_nodes("2207"), nonempty=True) == ["setlinfo.psn_no: must not be empty (R = Y)"]


def test_the_output_must_hold_nodes():
    assert problems([], output_nodes("2207")) == ["output: must be a JSON object holding the nodes, got an array"]
    assert problems({}, output_nodes("2202")) == []  # output: none


def test_rows_directly_under_output():
    nodes = output_nodes("1312")
    assert problems([], nodes) == []
    assert problems({}, nodes) == ["output: must be a JSON array (list), got an object"]
    row = whole(nodes)[0]
    del row["hilist_code"]
    assert problems([row], nodes) == ["output[0].hilist_code: missing field (C 30)"]


def test_nested_nodes_inside_rows():
    nodes = output_nodes("3101")
    out = whole(nodes)
    assert problems(out, nodes) == []
    out["result"][0]["judge_result_detail_dtos"] = {}
    assert problems(out, nodes) == ["result[0].judge_result_detail_dtos: must be a JSON array (list), got an object"]
    out["result"][0]["judge_result_detail_dtos"] = [{"jrd_id": "1"}]
    assert problems(out, nodes)[0] == "result[0].judge_result_detail_dtos[0].patn_id: missing field (C 50)"
    del out["result"][0]["judge_result_detail_dtos"]
    assert problems(out, nodes) == ["result[0].judge_result_detail_dtos: missing node (LIST)"]


def test_the_spec_is_read_once_and_holds_only_types_the_walker_knows():
    assert load_spec() is load_spec()
    seen = set()
    spec = load_spec()
    for tx in spec["transactions"].values():
        for node in [*tx["input"].values(), *tx["output"].values()]:
            seen |= {f["type"] for f in node["fields"].values()}
    assert seen <= contract.TYPES
