"""The NHSA code dictionaries as JSON (gateway/his/spec/nhsa_codes.json, from infra/nhsa/make_codes.py):
current against NHSA_CODES.md where that document is present, the generator's reading of the
document's grammar on a small document of its own, and spot checks of the committed JSON, which the
repository uses on its own (nothing reads ../shared at run time)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.his.contract import load_spec
from gateway.his.handlers.queries import CODES_PATH, OWN_TYPES, load_codes
from infra.nhsa import make_codes

SOURCE = Path(os.environ.get("NHSA_CODES_MD", str(make_codes.DEFAULT_SOURCE)))


# ----------------------------------------------------------------------------- current

def test_committed_json_is_what_the_generator_makes_of_the_document():
    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} is not here (set NHSA_CODES_MD to it): the committed {CODES_PATH.name} cannot be "
                    "re-derived in this checkout; the spot checks below still test it")
    text = SOURCE.read_text(encoding="utf-8")
    expected = make_codes.generate(text)
    assert CODES_PATH.read_text(encoding="utf-8") == expected, (
        f"{CODES_PATH} is stale: run .venv/bin/python infra/nhsa/make_codes.py {SOURCE}")
    assert make_codes.generate(text) == expected  # deterministic
    assert load_codes()["source"]["sha256"] == make_codes.build(text)["source"]["sha256"]


def test_check_mode_says_stale(tmp_path, capsys):
    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} is not here (set NHSA_CODES_MD to it)")
    out = tmp_path / "codes.json"
    out.write_text("{}\n", encoding="utf-8")
    assert make_codes.main([str(SOURCE), "--out", str(out), "--check"]) == 1
    assert make_codes.main([str(SOURCE), "--out", str(out)]) == 0
    assert make_codes.main([str(SOURCE), "--out", str(out), "--check"]) == 0
    assert out.read_text(encoding="utf-8") == CODES_PATH.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- the grammar

SMALL = """# codes

Source: a test.

## 1. Core dictionaries

**gend** 性别 (2):
`1` 男 · `2` 女

**clr_type** 清算类别 (1) — first list:
`11` 门诊

Also under clr_type, a second table:

**clr_type** 清算类别 (2) — second list:
`310111` 职工省内门诊 · `390111` 居民省内门诊

## 4. Not in the document

Prose here.

- **setl_type** 结算类别 (2305 output): no table.
- **psn_type_lv**: see disa_lv.
"""


def test_the_grammar_of_a_small_document():
    spec = make_codes.build(SMALL, resolutions=False)
    assert spec["dictionaries"]["gend"] == [{"value": "1", "label": "男"}, {"value": "2", "label": "女"}]
    assert spec["dictionaries"]["clr_type"] == [{"value": "11", "label": "门诊", "table": 1},
                                                {"value": "310111", "label": "职工省内门诊", "table": 2},
                                                {"value": "390111", "label": "居民省内门诊", "table": 2}]
    tables = spec["about"]["clr_type"]["tables"]
    assert [t["count"] for t in tables] == [1, 2] and tables[1]["intro"] == "Also under clr_type, a second table:"
    assert spec["about"]["gend"] == {"name_zh": "性别", "section": 1, "tables": [{"count": 2, "note": "", "intro": ""}]}
    assert spec["not_in_document"] == {"setl_type": {"heading": "结算类别 (2305 output)", "text": "no table."},
                                       "psn_type_lv": {"heading": "", "text": "see disa_lv."}}
    assert make_codes.render(spec) == make_codes.render(make_codes.build(SMALL, resolutions=False))


@pytest.mark.parametrize("change,words", [
    (("`1` 男 · `2` 女", "`1` 男"), "declares 2 codes, its line holds 1"),
    (("`1` 男 · `2` 女", "`1` 男 ·· `2` 女"), "cannot read the entries"),
    (("`1` 男 · `2` 女\n", ""), "has no entries line"),
    (("Prose here.", "`9` stray"), "neither a .*bullet nor prose"),
    (("**gend** 性别 (2):", "**gend**: 性别"), "neither a table heading nor prose"),
    (("- **psn_type_lv**", "- **gend**"), "section 4 lists dictionaries that have a table"),
    (("**clr_type** 清算类别 (2)", "**clr_type** 其他 (2)"), "appears again with another name"),
])
def test_a_document_it_cannot_read_stops_the_generator(change, words):
    with pytest.raises(make_codes.CodesError, match=words):
        make_codes.build(SMALL.replace(*change), resolutions=False)


def test_a_resolution_stops_when_the_document_no_longer_says_what_it_resolved():
    with pytest.raises(make_codes.CodesError, match="resolution no longer applies"):
        make_codes.build(SMALL)  # no dept, no naty...


# ----------------------------------------------------------------------------- spot checks

def _values(name: str) -> list[str]:
    return [e["value"] for e in load_codes()["dictionaries"][name]]


def test_the_committed_dictionaries():
    codes = load_codes()
    d = codes["dictionaries"]
    assert len(d) == 82 and sum(map(len, d.values())) == 1068
    assert d["psn_type"][0] == {"value": "11", "label": "在职"} and len(d["psn_type"]) == 30
    assert _values("mdtrt_cert_type") == ["01", "02", "03"] and _values("chrgitm_lv") == ["01", "02", "03"]
    assert _values("vali_flag") == ["0", "1"] and len(d["med_chrgitm_type"]) == 14
    assert len(d["clr_type"]) == 57 + 12 and {e["table"] for e in d["clr_type"]} == {1, 2}
    assert _values("clr_type").count("310412") == 2
    # every table holds the count its heading declares
    for name, about in codes["about"].items():
        assert len(d[name]) == sum(t["count"] for t in about["tables"]), name
    assert {"value": "A32.01", "label": "X线诊断专业", "parent": "A32"} in d["dept"]
    assert {"value": "A04.01.01", "label": "肝脏移植项目", "parent": "A04.01"} in d["dept"]
    assert all("parent" not in e for name, es in d.items() if name != "dept" for e in es)
    assert codes["about"]["TRUM_FLAG"]["section"] == 3 and _values("TRUM_FLAG") == ["0", "1"]
    assert "hilist_use_type" in codes["not_in_document"] and "admdvs" in codes["not_in_document"]
    assert all(" " not in v and v for name in d for v in _values(name))


def test_every_dictionary_the_field_reference_names_is_here_or_listed_as_missing():
    codes = load_codes()
    known = set(codes["dictionaries"]) | set(codes["not_in_document"])
    spec = load_spec()
    named = set()
    trees = [tx[side] for tx in spec["transactions"].values() for side in ("input", "output")]
    trees += [{"request": spec["envelope"]["request"]}, spec["blocks"]]
    for nodes in trees:
        for node in nodes.values():
            named |= {fs["dict"] for fs in node.get("fields", {}).values() if fs.get("dict")}
    assert len(named) > 40
    assert sorted(named - known) == []
    assert not set(OWN_TYPES) & set(codes["dictionaries"])  # ours do not shadow a national one
    assert set(OWN_TYPES) <= set(codes["not_in_document"]) | {"poolarea_no"}


def test_the_json_is_plain_and_its_codes_are_strings():
    raw = json.loads(CODES_PATH.read_text(encoding="utf-8"))
    for es in raw["dictionaries"].values():
        for e in es:
            assert isinstance(e["value"], str) and isinstance(e["label"], str) and e["label"]
