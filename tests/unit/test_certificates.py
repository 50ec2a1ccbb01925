"""Certificate ↔ person binding, the pure parts (DOMAIN.md §6a): eligibility's checks of an ID
number, a card with its card_sn and a token's person, the answers of the e-voucher binding
script, and which certificate a settlement forwards on its snapshot call."""

from __future__ import annotations

import datetime as dt

import pytest

from services.common.grpcutil import Refusal
from services.eligibility import certificates
from services.eligibility.domain import Person
from services.settlement.domain import SettleOrder, Visit
from services.settlement.settle import certificate_of

CERTNO = "330602199001011234"


def person(card_sn: str | None = "SN1", social_card: str | None = "CARD1") -> Person:
    return Person(psn_no="P1", certno=CERTNO, name="甲", gender="1", birthdate=dt.date(1990, 1, 1),
                  social_card=social_card, card_sn=card_sn, cvlserv=False, account_balance_fen=0)


def refusal(fn, *args) -> Refusal:
    with pytest.raises(Refusal) as e:
        fn(*args)
    return e.value


def test_the_persons_own_id_number_and_card_pass():
    certificates.check_id_or_card(person(), "02", CERTNO, "")
    certificates.check_id_or_card(person(), "03", "CARD1", "SN1")


def test_another_id_number_is_refused_masked():
    r = refusal(certificates.check_id_or_card, person(), "02", "330602199202025678", "")
    assert (r.outcome, r.field) == ("CERT_PERSON_MISMATCH", "mdtrt_cert_no")
    assert "330602199202025678" not in r.message and "330602********5678" in r.message


@pytest.mark.parametrize("p,card,card_sn,outcome,field", [
    (person(), "CARD2", "SN1", "CERT_PERSON_MISMATCH", "mdtrt_cert_no"),   # another card
    (person(), "CARD1", "SN2", "CARD_SN_MISMATCH", "card_sn"),              # wrong card_sn
    (person(card_sn=None), "CARD1", "SN1", "CARD_SN_MISMATCH", "card_sn"),  # no card_sn on file
    (person(), "CARD1", "", "MISSING_FIELD", "card_sn"),
    (person(social_card=None), "CARD1", "SN1", "CERT_PERSON_MISMATCH", "mdtrt_cert_no"),
])
def test_a_card_must_be_the_persons_with_the_card_sn_on_file(p, card, card_sn, outcome, field):
    r = refusal(certificates.check_id_or_card, p, "03", card, card_sn)
    assert (r.outcome, r.field) == (outcome, field)


def test_a_token_of_another_person_is_refused_without_echoing_it():
    token = "EV1.cGF5bG9hZA.bWFjbWFjbWFj"
    certificates.check_token_person("P1", "P1", token)
    r = refusal(certificates.check_token_person, "P1", "P2", token)
    assert (r.outcome, r.field) == ("EVOUCHER_OTHER_PERSON", "mdtrt_cert_no") and token not in r.message


@pytest.mark.parametrize("answer,outcome", [
    ("ok", None), ("bound", None), ("expired", "EVOUCHER_EXPIRED"),
    ("hospital:H33060200001", "EVOUCHER_OTHER_HOSPITAL"), ("visit", "EVOUCHER_OTHER_VISIT"),
])
def test_binding_answers(answer, outcome):
    r = certificates.use_refusal(answer)
    assert (r.outcome if r else None) == outcome
    assert r is None or ("H33060200001" not in r.message and r.field == "mdtrt_cert_no")


def test_an_unknown_certificate_type_is_refused():
    assert refusal(certificates.cert_type, "04").outcome == "INVALID_CERT_TYPE"


def visit(cert_type: str = "", cert_no: str = "") -> Visit:
    return Visit(mdtrt_id="M1", fixmedins_code="H1", psn_no="P1", insutype="390", insured_pool="330600",
                 kind="outpatient", med_type="11", begntime=dt.datetime(2026, 5, 1, 9), endtime=None,
                 status="open", mdtrt_cert_type=cert_type, mdtrt_cert_no=cert_no)


def test_a_settlement_forwards_its_certificate_for_the_visit():
    assert certificate_of(SettleOrder(mdtrt_id="M1"), visit(), "H1") is None
    c = certificate_of(SettleOrder(mdtrt_id="M1", mdtrt_cert_type="03", mdtrt_cert_no="C", card_sn="S"), visit(), "H1")
    assert c is not None and (c.cert_type, c.cert_no, c.card_sn, c.hospital, c.visit_key) == ("03", "C", "S", "H1", "M1")
    # the e-voucher the visit was registered with: already bound to it
    assert certificate_of(SettleOrder(mdtrt_id="M1", mdtrt_cert_type="01", mdtrt_cert_no="T"),
                          visit("01", "T"), "H1") is None
    other = certificate_of(SettleOrder(mdtrt_id="M1", mdtrt_cert_type="01", mdtrt_cert_no="T2"), visit("01", "T"), "H1")
    assert other is not None and other.visit_key == "M1"
