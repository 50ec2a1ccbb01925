"""A hospital's `interface` block (docs/REFERENCE_DATA.md §4): parsed, canonical, defaulted, and
every bad value refused by its path; the demo hospitals carry blocks that exercise both profiles."""

from __future__ import annotations

import copy

import pytest

from services.refdata.records import DEFAULT_INTERFACE, HospitalInterface
from services.refdata.schema import ReferenceError, parse_document

DOC = {
    "format": "medsettle.reference/v1",
    "hospitals": [{"code": "H33060200001", "name": "绍兴市人民医院", "admdvs": "330602", "level": 3,
                   "cross_province": True, "paasid": "his-sx-001", "secret": "x" * 32}],
}


def with_interface(block) -> dict:
    d = copy.deepcopy(DOC)
    d["hospitals"][0]["interface"] = block
    return d


def interface_of(block) -> HospitalInterface:
    return parse_document(with_interface(block)).credentials[0].interface


def errors_of(block) -> list[str]:
    with pytest.raises(ReferenceError) as e:
        parse_document(with_interface(block))
    return e.value.errors


def test_no_block_null_or_empty_means_the_defaults():
    assert parse_document(DOC).credentials[0].interface is DEFAULT_INTERFACE
    assert interface_of(None) is DEFAULT_INTERFACE
    assert interface_of({}) == DEFAULT_INTERFACE
    assert HospitalInterface(auth=("tif",), msgid="lenient", sign_in="optional") == DEFAULT_INTERFACE


def test_a_full_block():
    i = interface_of({"auth": ["api_hmac_sha1", "tif"], "msgid": "strict", "sign_in": "required",
                      "window_s": {"tif": 120, "api_hmac_sha1": 900}})
    assert i == HospitalInterface(auth=("tif", "api_hmac_sha1"), msgid="strict", sign_in="required",
                                  tif_window_s=120, api_window_s=900)
    # the profiles are stored in one canonical order, whatever order the document lists them in
    assert interface_of({"auth": ["tif", "api_hmac_sha1"]}).auth == ("tif", "api_hmac_sha1")
    assert interface_of({"auth": ["api_hmac_sha1"]}) == HospitalInterface(auth=("api_hmac_sha1",))


@pytest.mark.parametrize("block,path,fragment", [
    ({"auth": []}, "hospitals[0].interface.auth", "at least one"),
    ({"auth": "tif"}, "hospitals[0].interface.auth", "expected a list"),
    ({"auth": ["tif", "hmac"]}, "hospitals[0].interface.auth[1]", "expected one of tif, api_hmac_sha1"),
    ({"auth": ["tif", "tif"]}, "hospitals[0].interface.auth[1]", "duplicate"),
    ({"msgid": "loose"}, "hospitals[0].interface.msgid", "expected one of lenient, strict"),
    ({"sign_in": True}, "hospitals[0].interface.sign_in", "expected one of optional, required"),
    ({"window": 300}, "hospitals[0].interface.window", "unknown key"),
    ({"window_s": 300}, "hospitals[0].interface.window_s", "expected an object"),
    ({"window_s": {"tif": 0}}, "hospitals[0].interface.window_s.tif", "[1, 3600]"),
    ({"window_s": {"tif": "300"}}, "hospitals[0].interface.window_s.tif", "integer"),
    ({"window_s": {"api_hmac_sha1": 7200}, "auth": ["api_hmac_sha1"]},
     "hospitals[0].interface.window_s.api_hmac_sha1", "[1, 3600]"),
    ({"window_s": {"api_hmac_sha1": 600}}, "hospitals[0].interface.window_s.api_hmac_sha1", "does not allow"),
    ({"window_s": {"nhsa": 600}}, "hospitals[0].interface.window_s.nhsa", "unknown key"),
    ("tif", "hospitals[0].interface", "expected an object"),
])
def test_bad_blocks_name_the_path(block, path, fragment):
    errs = errors_of(block)
    assert any(e.startswith(path + ":") and fragment in e for e in errs), errs


def test_every_error_of_a_block_comes_at_once():
    errs = errors_of({"auth": ["x"], "msgid": "y", "sign_in": "z", "extra": 1})
    assert [e.split(":")[0] for e in errs] == ["hospitals[0].interface.extra", "hospitals[0].interface.auth[0]",
                                               "hospitals[0].interface.msgid", "hospitals[0].interface.sign_in"]


def test_the_demo_hospitals_exercise_both_profiles():
    from infra.reference.make_demo import document_for_today

    doc = parse_document(document_for_today())
    by_code = {c.code: c.interface for c in doc.credentials}
    assert by_code["H33060200001"] == HospitalInterface(auth=("tif",), msgid="strict", sign_in="required")
    assert by_code["H33060200002"] == HospitalInterface(auth=("tif", "api_hmac_sha1"), tif_window_s=300,
                                                        api_window_s=1800)
    assert {p for i in by_code.values() for p in i.auth} == {"tif", "api_hmac_sha1"}
    assert sum(i is DEFAULT_INTERFACE for i in by_code.values()) == len(by_code) - 3
