"""The `supervision` section of a reference document (docs/REFERENCE_DATA.md §10): every rule
kind parses, every bad field is named by its path, the canonical JSON round-trips."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from infra.reference.make_demo import document
from services.refdata.schema import (
    ReferenceError,
    loads,
    parse_document,
    parse_supervision,
    supervision_body_text,
)
from services.supervision.model import RULE_KINDS

YEAR = 2030  # any year: the demo document is built for it


def _doc() -> dict:
    return copy.deepcopy(document(YEAR))


def _errors(data: dict) -> list[str]:
    with pytest.raises(ReferenceError) as info:
        parse_document(data)
    return info.value.errors


def test_the_demo_rules_cover_every_kind_for_every_pool_and_year():
    doc = parse_document(_doc())
    pools = {p.code for p in doc.pools}
    assert {(r.pool, r.year) for r in doc.supervision} == {(p, YEAR + d) for p in pools for d in (-1, 0, 1)}
    for rs in doc.supervision:
        assert {r.kind for r in rs.rules} == set(RULE_KINDS)
        assert all(r.code.startswith(rs.pool + "-") and r.message for r in rs.rules)
    sx = next(r for r in doc.supervision if r.pool == "330600" and r.year == YEAR)
    qty = sx.rule("330600-QTY-01")
    assert qty is not None and qty.per_day == Decimal(4) and qty.supply_days == 84 and qty.severity == "block"


def test_canonical_json_round_trips_and_ignores_formatting():
    rs = parse_document(_doc()).supervision[0]
    text = supervision_body_text(rs)
    again = parse_supervision(loads(text))
    assert again == rs and supervision_body_text(again) == text
    data = _doc()
    data["supervision"][0]["rules"][0]["per_day"] = "4.0"
    assert supervision_body_text(parse_document(data).supervision[0]) == text


@pytest.mark.parametrize("change, expected", [
    (lambda r: r[0].update(severity="stop"), 'supervision[0].rules[0].severity: expected one of warn, block, got "stop"'),
    (lambda r: r[0].update(per_day=4), 'supervision[0].rules[0].per_day: expected a positive decimal string'),
    (lambda r: r[0].update(colour="red"), "supervision[0].rules[0].colour: unknown key"),
    (lambda r: r[0].pop("daily_dose"), "supervision[0].rules[0].daily_dose: supply_days and daily_dose go together"),
    (lambda r: r[2].update(gender="M"), 'supervision[0].rules[2].gender: expected one of 1, 2, got "M"'),
    (lambda r: r[4].update(max_age=10, min_age=40), "supervision[0].rules[4].max_age: max_age 10 is below min_age 40"),
    (lambda r: r[5].update(diagnoses=[]), "supervision[0].rules[5].diagnoses: expected at least one diagnosis"),
    (lambda r: r[5].update(diagnoses=["e11"]), "supervision[0].rules[5].diagnoses[0]: expected an ICD-10 code prefix"),
    (lambda r: r[9].update(days=0), "supervision[0].rules[9].days: expected an integer in [1, 366], got 0"),
    (lambda r: r[12].update(severity="block"), "supervision[0].rules[12].severity: a peer_outlier rule is evaluated "
                                                "after the event only"),
    (lambda r: r[13].pop("item"), "supervision[0].rules[13].item: metric item_share needs the item"),
    (lambda r: r[1].update(code=r[0]["code"]), "supervision[0].rules[1]: duplicate rule code"),
    (lambda r: r[0].update(kind="vibes"), "supervision[0].rules[0].kind: expected one of quantity"),
])
def test_a_bad_rule_is_named_by_its_path_and_nothing_parses(change, expected):
    data = _doc()
    change(data["supervision"][0]["rules"])
    errors = _errors(data)
    assert any(e.startswith(expected) for e in errors), errors


def test_entry_level_errors():
    data = _doc()
    data["supervision"][1]["on_error"] = "ignore"
    data["supervision"].append(copy.deepcopy(data["supervision"][2]))
    errors = _errors(data)
    assert 'supervision[1].on_error: expected one of settle, refuse, got "ignore"' in errors
    assert any(e.startswith(f"supervision[{len(data['supervision']) - 1}]: duplicate supervision entry") for e in errors)


def test_a_pool_neither_listed_nor_stored_is_named():
    # A pool the document does not list is looked up in the stored reference data (#17); with
    # nothing stored it is an error naming the entry's path.
    data = _doc()
    data["supervision"][0]["pool"] = "999999"
    errors = _errors(data)
    assert any(e.startswith('supervision[0].pool: pool "999999" is not defined in pools, nor in the stored')
               for e in errors), errors
