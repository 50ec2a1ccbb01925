"""Issue #17, bad input: lone surrogates, amount and number formats, psn_cert_type (pure parsing)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.his import envelope as f
from gateway.his.convert import AmountError, decimal_text, yuan_to_fen


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"infno": "2201", "input": {"data": {"ipt_otp_no": "\\ud800"}}}', "input.data.ipt_otp_no"),
    (b'{"input": {"feedetail": [{"a": "ok"}, {"memo": "x\\uDFFFy"}]}}', "input.feedetail[1].memo"),
    (b'{"name": "\\udbff"}', "name"),
    (b'{"\\ud800": 1}', "\ud800"),
])
def test_a_lone_surrogate_is_refused_naming_its_field(raw, field):
    with pytest.raises(f.FieldError) as e:
        f.parse_json(raw)
    assert e.value.outcome == "INVALID_INPUT"
    assert e.value.field == field and "surrogate" in e.value.message


def test_a_lone_surrogate_in_input_sent_as_a_json_string_is_named_under_input():
    with pytest.raises(f.FieldError) as e:
        f.parse_json('{"data": {"psn_name": "\\ud800"}}', field="input", outcome="INVALID_INPUT")
    assert e.value.field == "input.data.psn_name"


def test_a_valid_surrogate_pair_and_plain_text_pass():
    assert f.parse_json(b'{"e": "\\ud83d\\ude00", "n": "\\\\ud800"}') == {"e": "\U0001F600", "n": "\\ud800"}


@pytest.mark.parametrize("bad", ["１２.００", "１２", "1E2", "1e2", "12.", ".5", "+1", "1 2", "0x10", "١٢", "1_000"])
def test_amounts_accept_only_digits_with_one_dot(bad):
    with pytest.raises(AmountError):
        yuan_to_fen(bad)


def test_an_amount_as_a_json_number_with_an_exponent_is_refused():
    with pytest.raises(AmountError):
        yuan_to_fen(Decimal("1E+2"))
    with pytest.raises(f.FieldError) as e:
        f.money(f.parse_json(b'{"amt": 1E2}'), "amt", "input.data")
    assert e.value.field == "input.data.amt"


@pytest.mark.parametrize(("good", "fen"), [("12.50", 1250), ("12.5", 1250), ("12", 1200), (" 7.01 ", 701),
                                           (Decimal("390.00"), 39000), (100, 10000)])
def test_amounts_in_the_allowed_forms_still_parse(good, fen):
    assert yuan_to_fen(good) == fen


def test_a_minus_sign_only_where_negatives_are_allowed():
    assert yuan_to_fen("-1.05", allow_negative=True) == -105
    with pytest.raises(AmountError):
        yuan_to_fen("-1.05")


@pytest.mark.parametrize("bad", ["２", "1E2", "2.", "+2", Decimal("1E+1")])
def test_quantities_accept_only_digits_with_one_dot(bad):
    with pytest.raises(AmountError):
        decimal_text(bad)
    assert decimal_text("2.5") == "2.5"


@pytest.mark.parametrize("bad", ["１２", "1E2", "12.0", " 12", "+12"])
def test_integers_and_fee_serial_numbers_take_ascii_digits_only(bad):
    with pytest.raises(f.FieldError):
        f.integer({"n": bad}, "n", "input")
    if bad in ("１２", "+12"):  # feedetl_sn may be any id of letters, digits and _.:- (1E2 is one)
        with pytest.raises(f.FieldError):
            f.fee_sn({"feedetl_sn": bad}, "input.feedetail[0]")


def test_psn_cert_type_must_be_a_national_code():
    assert f.psn_cert_type({"psn_cert_type": "01"}, "input.data") == "01"
    assert f.psn_cert_type({"psn_cert_type": "990102"}, "input.data") == "990102"
    assert f.psn_cert_type({}, "input.data") == ""
    for bad in ("00", "18", "ID", "０１"):
        with pytest.raises(f.FieldError) as e:
            f.psn_cert_type({"psn_cert_type": bad}, "input.data")
        assert e.value.field == "input.data.psn_cert_type"


@pytest.mark.parametrize("bad", ["33060", "3306020", "３３０６０２", "33060a", "330602\n"])
def test_admdvs_is_six_ascii_digits(bad):
    with pytest.raises(f.FieldError) as e:
        f.admdvs({"insuplc_admdvs": bad}, "insuplc_admdvs", "")
    assert e.value.field == "insuplc_admdvs"


@pytest.mark.parametrize("key,bad", [("psn_cert_type", "77"), ("psn_cert_type", "０１"), ("insuplc_admdvs", "33060"),
                                     ("mdtrtarea_admvs", "３３０６００"), ("mdtrtarea_admdvs", "33060A"),
                                     ("insu_admdvs", "3306000"), ("medins_admdvs", "abcdef")])
def test_person_and_place_checks_each_field_a_block_carries(key, bad):
    """Issue #17: the psn_cert_type and admdvs fields of 2001/2201/2206/2207/2303/2304/2401 blocks."""
    f.person_and_place({"psn_cert_type": "01", "insuplc_admdvs": "330600", "mdtrtarea_admvs": ""}, "input.data")
    with pytest.raises(f.FieldError) as e:
        f.person_and_place({"psn_cert_type": "01", key: bad}, "input.data")
    assert e.value.field == f"input.data.{key}" and e.value.outcome == "INVALID_INPUT"
    with pytest.raises(f.FieldError) as e:
        f.person_and_place({"cert_type": "77"}, "input.mdtrtinfo", cert_type_key="cert_type")
    assert e.value.field == "input.mdtrtinfo.cert_type"
