"""The NHSA field reference as JSON (gateway/his/spec/nhsa_fields.json, from
infra/nhsa/make_fields.py): current against NHSA_FIELDS.md where that document is present, the
generator's reading of the document's grammar on a small document of its own, and spot checks of
the committed JSON, which the repository uses on its own (nothing reads ../shared at run time)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.his.contract import SPEC_PATH, load_spec
from infra.nhsa import make_fields

SOURCE = Path(os.environ.get("NHSA_FIELDS_MD", str(make_fields.DEFAULT_SOURCE)))


def _fields(code: str, direction: str, node: str) -> dict:
    return load_spec()["transactions"][code][direction][node]["fields"]


# ----------------------------------------------------------------------------- current

def test_committed_json_is_what_the_generator_makes_of_the_document():
    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} is not here (set NHSA_FIELDS_MD to it): the committed {SPEC_PATH.name} cannot be "
                    "re-derived in this checkout; the spot checks below still test it")
    text = SOURCE.read_text(encoding="utf-8")
    expected = make_fields.generate(text)
    assert SPEC_PATH.read_text(encoding="utf-8") == expected, (
        f"{SPEC_PATH} is stale: run .venv/bin/python infra/nhsa/make_fields.py {SOURCE}")
    assert make_fields.generate(text) == expected  # deterministic


# ----------------------------------------------------------------------------- spot checks

def test_2207_setlinfo_carries_the_identification_and_fund_fields():
    node = load_spec()["transactions"]["2207"]["output"]["setlinfo"]
    assert node["kind"] == "obj" and node["exp_content"] is True
    for name in ("medins_setl_id", "psn_cert_type", "certno", "gend", "naty", "brdy", "age", "acct_mulaid_pay",
                 "hifdm_pay", "exp_content"):
        assert name in node["fields"], name
    f = node["fields"]
    assert f["medins_setl_id"] == {**f["medins_setl_id"], "type": "C", "len": "30", "required": True}
    assert (f["medfee_sumamt"]["type"], f["medfee_sumamt"]["len"]) == ("N", "16,2")
    assert (f["age"]["type"], f["age"]["len"], f["pool_prop_selfpay"]["len"]) == ("N", "4,1", "5,4")
    assert f["setl_time"]["type"] == "DT" and f["brdy"]["type"] == "D"
    assert f["psn_type"]["dict"] == "psn_type" and f["exp_content"]["required"] is False
    assert load_spec()["transactions"]["2207"]["output"]["setldetail"]["kind"] == "list"


def test_5203_setlinfo_is_setlinfo_with_its_differences():
    out = load_spec()["transactions"]["5203"]["output"]
    assert set(out) == {"setlinfo", "setldetail"}
    f = out["setlinfo"]["fields"]
    for name in ("psn_pay", "cash_payamt", "fixmedins_name", "begndate", "enddate", "medins_setl_id", "acct_mulaid_pay"):
        assert name in f, name
    for name in ("psn_part_amt", "psn_cash_pay", "hosp_part_amt", "hifdm_pay", "exp_content"):  # "without"
        assert name not in f, name
    assert out["setlinfo"]["exp_content"] is False
    assert f["gend"]["required"] and f["insutype"]["required"] and f["act_pay_dedc"]["required"]  # "changed"
    assert (f["psn_pay"]["type"], f["begndate"]["type"]) == ("N", "D")


def test_2204_result_is_the_fee_split_list():
    node = load_spec()["transactions"]["2204"]["output"]["result"]
    assert node["kind"] == "list" and node["ref"] == "FEERESULT"
    assert {"med_chrgitm_type", "lmt_used_flag", "feedetl_sn", "exp_content"} <= set(node["fields"])
    assert node["fields"]["lmt_used_flag"]["required"] is True
    detlcut = _fields("2101", "output", "detlcutinfo")  # FEERESULT without lmt_used_flag, exp_content; + hosp_part_amt
    assert "lmt_used_flag" not in detlcut and "exp_content" not in detlcut and "hosp_part_amt" in detlcut


def test_1101_node_kinds():
    out = load_spec()["transactions"]["1101"]["output"]
    assert {name: node["kind"] for name, node in out.items()} == {"baseinfo": "obj", "insuinfo": "list",
                                                                  "idetinfo": "list"}
    assert out["baseinfo"]["exp_content"] and "exp_content" in out["baseinfo"]["fields"]
    assert out["idetinfo"]["fields"]["psn_idet_type"]["dict"] == "psn_idet_type"


def test_references_and_cert_are_resolved():
    t = load_spec()["transactions"]
    data_2207 = t["2207"]["input"]["data"]["fields"]  # = 2206 data (CERT + table) without psn_type, psn_name; + extras
    assert "psn_no" in data_2207 and "mdtrt_cert_no" in data_2207 and "invono" in data_2207
    assert "psn_type" not in data_2207 and "psn_name" not in data_2207
    assert "setl_id" not in t["2206"]["output"]["setlinfo"]["fields"]
    assert t["2304"]["input"]["data"]["fields"]["acct_used_flag"]["required"] is True
    assert t["2303"]["input"]["data"]["fields"]["acct_used_flag"]["required"] is False
    assert t["2401"]["input"]["mdtrtinfo"]["fields"]["mdtrt_cert_no"]["required"] is False
    assert "mdtrt_id" not in t["2401"]["input"]["diseinfo"]["fields"]  # = 2403 diseinfo (defined later) without it
    assert t["2102"]["input"]["durg_trac_info"]["parent"] == "drugdetail"
    assert t["2102"]["input"]["drugdetail"]["fields"]["durg_trac_info"]["type"] == "LIST"


def test_the_ambiguities_are_resolved_and_noted():
    t = load_spec()["transactions"]
    f2208 = t["2208"]["output"]["setlinfo"]["fields"]
    assert "psn_cash_pay" in f2208 and "pdn_cash_pay" not in f2208 and t["2208"]["notes"]
    assert f2208["age"]["len"] == "" and f2208["psn_no"]["required"] is False
    assert t["2305"]["output"]["setlinfo"]["fields"]["hifdm_pay"]["type"] == "N" and t["2305"]["notes"]
    assert t["9001"]["output"]["signinoutb"]["fields"]["sign_time"]["type"] == "DT"
    assert t["1312"]["output"]["$"]["kind"] == "list" and "rid" in t["1312"]["output"]["$"]["fields"]
    env = load_spec()["envelope"]
    assert env["request"]["fields"]["opter_type"]["type"] == "C" and env["notes"]
    assert env["response"]["fields"]["infcode"]["type"] == "N"


def test_every_transaction_the_gateway_serves_from_the_document_is_there():
    served = {"9001", "1101", "2001", "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208", "2401", "2404",
              "2301", "2302", "2402", "2405", "2303", "2304", "2305", "2501", "2502", "2503", "2504", "5301", "2601",
              "5203", "5206", "3201", "3202"}  # 3203 (clearing) is not in this edition's document
    assert served <= set(load_spec()["transactions"])


def test_the_spec_is_well_formed():
    spec = load_spec()
    nodes = [spec["envelope"]["request"], spec["envelope"]["response"], *spec["blocks"].values()]
    for tx in spec["transactions"].values():
        nodes += [*tx["input"].values(), *tx["output"].values()]
        if tx["output_none"]:
            assert tx["output"] == {}
    for node in nodes:
        assert node["kind"] in ("obj", "list", "map", "group")
        assert node["exp_content"] == ("exp_content" in node["fields"])
        for name, f in node["fields"].items():
            assert set(f) == {"type", "len", "required", "dict", "dict_doc", "name_zh", "note"}, name
            assert f["type"] in spec["legend"]["type"] or f["type"] == "", name
            assert isinstance(f["required"], bool)
            if f["type"] == "N":
                assert f["len"] == "" or f["len"].replace(",", "").isdigit(), name


# ----------------------------------------------------------------------------- the grammar, on a document of its own

MINI = """# mini

**Legend.** `+ exp_content` = the node also carries exp_content 字段扩展 (C 4000, optional; a JSON object).

## 1. Request envelope

|field|名称|T|len|R|note|
|-|-|-|-|-|-|
|infno|交易编号|C|4|Y|code|

## 2. Response envelope

|field|名称|T|len|R|note|
|-|-|-|-|-|-|
|infcode|交易状态码|N|4|Y||

- Empty values: 0 and "".

## 3. Gateway

|header|名称|T|len|R|value|
|-|-|-|-|-|-|
|_api_name|接口名|C|100|Y|name|

## 4. Shared output blocks

**SETLINFO** is the block (obj).

+ exp_content

field|名称|T|len|R|dict|note
-|-|-|-|-|-|-
a|甲|C|30|Y||
b|乙|N|16,2|Y||
c|丙|N|16,2|||
d|丁|C|6||✓|

**CERT** is the group.

field|名称|T|len|R|dict|note
-|-|-|-|-|-|-
psn_no|人员编号|C|30|Y||
certno|证件号码|C|20|Y|(psn_cert_type)|

## 7001 one

Output: none.

**in `data`** (obj)

+ **CERT** — without certno

field|名称|T|len|R|dict|note
-|-|-|-|-|-|-
x|戊|DT||Y||

## 7002 two

**in `data`** (obj)
= **7001 data** — changed: x: R optional; extra fields:

field|名称|T|len|R|dict|note
-|-|-|-|-|-|-
rows|行|||||

**in `rows`** (list)

field|名称|T|len|R|dict|note
-|-|-|-|-|-|-
n|数|N|4|||

**out `setlinfo`** (obj)
= **SETLINFO** — without a, exp_content — changed: b: R optional; c: type C, len 10, R=Y; d: a note; extra fields:

field|名称|T|len|R|dict|note
-|-|-|-|-|-|-
e|己|D||Y|x_dict†|
"""


def test_the_grammar_of_references_without_changed_and_extras():
    spec = make_fields.build(MINI, resolutions=False)
    assert set(spec["transactions"]) == {"7001", "7002"} and spec["transactions"]["7001"]["output_none"]
    assert list(spec["transactions"]["7001"]["input"]["data"]["fields"]) == ["psn_no", "x"]
    data = spec["transactions"]["7002"]["input"]["data"]
    assert list(data["fields"]) == ["psn_no", "x", "rows"] and data["fields"]["x"]["required"] is False
    assert data["fields"]["rows"]["type"] == "LIST" and spec["transactions"]["7002"]["input"]["rows"]["parent"] == "data"
    assert spec["transactions"]["7001"]["input"]["data"]["fields"]["x"]["required"] is True  # the base is untouched
    setl = spec["transactions"]["7002"]["output"]["setlinfo"]
    assert setl["exp_content"] is False and list(setl["fields"]) == ["b", "c", "d", "e"]
    assert setl["fields"]["b"]["required"] is False
    assert {k: setl["fields"]["c"][k] for k in ("type", "len", "required")} == {"type": "C", "len": "10", "required": True}
    assert setl["fields"]["d"]["note"] == "a note" and setl["fields"]["d"]["dict"] == "d"
    assert (setl["fields"]["e"]["dict"], setl["fields"]["e"]["dict_doc"]) == ("x_dict", "x_dict†")
    block = spec["blocks"]["SETLINFO"]
    assert block["exp_content"] and list(block["fields"]) == ["a", "b", "c", "d", "exp_content"]
    assert spec["blocks"]["CERT"]["fields"]["certno"]["dict"] == "psn_cert_type"
    assert spec["envelope"]["encoding_rules"] == ['Empty values: 0 and "".']


@pytest.mark.parametrize("change,message", [
    ("= **SETLINFO** — without zz", "without zz"),
    ("= **SETLINFO** — changed: zz: R optional", "changed zz"),
    ("= **9999 data**", "does not define"),
    ("= **SETLINFO** — sideways: a", "cannot read"),
])
def test_a_difference_the_generator_cannot_apply_stops_it(change, message):
    text = MINI.replace("= **SETLINFO** — without a, exp_content — changed: b: R optional; c: type C, len 10, R=Y; "
                        "d: a note; extra fields:", change + "; extra fields:")
    with pytest.raises(make_fields.SpecError, match=message):
        make_fields.build(text, resolutions=False)


def test_the_cli_writes_and_checks(tmp_path, monkeypatch):
    source = tmp_path / "NHSA_FIELDS.md"
    source.write_text(MINI, encoding="utf-8")
    out = tmp_path / "spec" / "nhsa_fields.json"
    with pytest.raises(make_fields.SpecError, match="resolution"):  # MINI lacks the wording the resolutions check
        make_fields.main([str(source), "--out", str(out)])
    real_build = make_fields.build
    monkeypatch.setattr(make_fields, "build", lambda text: real_build(text, resolutions=False))
    assert make_fields.main([str(source), "--out", str(out), "--check"]) == 1 and not out.exists()
    assert make_fields.main([str(source), "--out", str(out)]) == 0
    assert make_fields.main([str(source), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace('"N"', '"C"'), encoding="utf-8")
    assert make_fields.main([str(source), "--out", str(out), "--check"]) == 1
