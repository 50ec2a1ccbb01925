"""Certificate ↔ person binding (DOMAIN.md §6a): a transaction that names both a certificate
(mdtrt_cert_type + mdtrt_cert_no, and card_sn for a card) and a psn_no must find they are the
same person, else a clear refusal naming the field. Pure: the person and, for an e-voucher, the
token's verified claims come in; nothing here reads Redis or the clock (evouchers.use does the
e-voucher's single-visit binding).

Messages never echo a whole ID number, card number or token (masked).
"""

from __future__ import annotations

from services.common.grpcutil import Refusal, invalid, refused
from services.eligibility.domain import Person

CERT_TYPES = ("01", "02", "03")


def mask(value: str) -> str:
    """What a refusal may show of a certificate number: its first 6 and last 4 characters."""
    value = value or ""
    return value[:6] + "********" + value[-4:] if len(value) > 10 else "*" * len(value)


def cert_type(value: str) -> str:
    if value not in CERT_TYPES:
        raise invalid("INVALID_CERT_TYPE", f"就诊凭证类型无效: {value!r} (mdtrt_cert_type must be 01 e-voucher, "
                                           f"02 ID number or 03 social security card)", "mdtrt_cert_type")
    return value


def require_no(cert_no: str) -> str:
    cert_no = (cert_no or "").strip()
    if not cert_no:
        raise invalid("MISSING_FIELD", "mdtrt_cert_no 必填 (mdtrt_cert_no is required with mdtrt_cert_type)",
                      "mdtrt_cert_no")
    return cert_no


def person_mismatch(psn_no: str, cert_no: str) -> Refusal:
    return refused("CERT_PERSON_MISMATCH", f"就诊凭证 {mask(cert_no)} 不属于人员 {psn_no}, 请核对患者身份 "
                                           f"(mdtrt_cert_no does not belong to psn_no {psn_no})", "mdtrt_cert_no")


def card_sn_mismatch() -> Refusal:
    return refused("CARD_SN_MISMATCH", "社保卡识别码不符, 请核对卡片 (card_sn does not match the card on file; a card "
                                       "needs a card number on file that matches)", "card_sn")


def check_id_or_card(p: Person, cert_type_: str, cert_no: str, card_sn: str) -> None:
    """02: the person's certno is the ID number given; 03: the social card number on file is the
    one given AND the card_sn on file equals card_sn (no card_sn on file → refused)."""
    if cert_type_ == "02":
        if p.certno != cert_no:
            raise person_mismatch(p.psn_no, cert_no)
    elif cert_type_ == "03":
        if p.social_card != cert_no:
            raise person_mismatch(p.psn_no, cert_no)
        card_sn = (card_sn or "").strip()
        if not card_sn:
            raise invalid("MISSING_FIELD", "社保卡需同时提供卡识别码 card_sn (card_sn is required with certificate "
                                           "type 03)", "card_sn")
        if not p.card_sn or p.card_sn != card_sn:
            raise card_sn_mismatch()


def check_token_person(psn_no: str, claims_psn_no: str, token: str) -> None:
    """01: the token was issued for psn_no."""
    if claims_psn_no != psn_no:
        raise refused("EVOUCHER_OTHER_PERSON", f"电子凭证 {mask(token)} 不属于人员 {psn_no}, 请核对患者身份 "
                                               f"(mdtrt_cert_no: the e-voucher belongs to another person, not "
                                               f"psn_no {psn_no})", "mdtrt_cert_no")


def use_refusal(answer: str) -> Refusal | None:
    """The refusal for an answer of cache.use_evoucher, None when the use is allowed."""
    if answer in ("ok", "bound"):
        return None
    if answer == "expired":
        return refused("EVOUCHER_EXPIRED", "电子凭证已过期, 请患者重新出示医保码 (mdtrt_cert_no: e-voucher token "
                                           "expired; ask the patient to show a fresh code)", "mdtrt_cert_no")
    if answer.startswith("hospital:"):
        return refused("EVOUCHER_OTHER_HOSPITAL", "电子凭证已在其他定点医疗机构扫码, 请患者重新出示医保码 "
                                                  "(mdtrt_cert_no: the e-voucher was scanned at another hospital)",
                       "mdtrt_cert_no")
    return refused("EVOUCHER_OTHER_VISIT", "电子凭证已用于另一次就诊, 请患者重新出示医保码 (mdtrt_cert_no: the "
                                           "e-voucher is bound to another visit)", "mdtrt_cert_no")
