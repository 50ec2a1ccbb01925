"""The engine's SettlementResult as JSON (stored in settlements.result) and back; the eligibility
snapshot a visit keeps from its registration (settlement.visits.snapshot) and back.

A reversal is computed by `services.engine.reverse` on the original's stored result, so the
round trip must be exact: Decimals travel as strings, money as integers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from services.engine.model import (
    ChronicQualification,
    ExplainStep,
    FundLine,
    Identity,
    ItemResult,
    PersonSnapshot,
    SettlementResult,
)
from services.settlement.domain import Eligibility

_SCALARS = (
    "line", "region_class", "filing_group", "medfee_sumamt", "fulamt_ownpay_amt",
    "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay",
    "cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay",
    "fund_pay_sumamt", "psn_part_amt", "hosp_part_amt", "acct_pay", "psn_cash_pay", "reversal",
)


def result_to_json(r: SettlementResult) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(r, k) for k in _SCALARS}
    out["ratio"] = str(r.ratio)
    out["items"] = [{
        "feedetl_sn": i.feedetl_sn, "list_code": i.list_code, "amount_fen": i.amount_fen,
        "cnt": str(i.cnt), "pric_fen": i.pric_fen, "price_cap_fen": i.price_cap_fen,
        "selfpay_prop": str(i.selfpay_prop), "fulamt_ownpay_fen": i.fulamt_ownpay_fen,
        "overlmt_fen": i.overlmt_fen, "preselfpay_fen": i.preselfpay_fen,
        "inscp_fen": i.inscp_fen, "chrgitm_lv": i.chrgitm_lv, "in_catalogue": i.in_catalogue,
    } for i in r.items]
    out["fund_lines"] = [{
        "fund_pay_type": f.fund_pay_type, "name": f.name, "inscp_fen": f.inscp_fen,
        "cap_left_fen": f.cap_left_fen, "amount_fen": f.amount_fen, "info": f.info,
    } for f in r.fund_lines]
    out["deltas"] = dict(r.deltas)
    out["caps"] = dict(r.caps)
    out["explanation"] = [{"code": e.code, "label": e.label, "text": e.text} for e in r.explanation]
    return out


def result_from_json(d: dict[str, Any]) -> SettlementResult:
    kw = {k: d[k] for k in _SCALARS}
    return SettlementResult(
        **kw,
        ratio=Decimal(d["ratio"]),
        items=tuple(ItemResult(
            feedetl_sn=i["feedetl_sn"], list_code=i["list_code"], amount_fen=i["amount_fen"],
            cnt=Decimal(i["cnt"]), pric_fen=i["pric_fen"], price_cap_fen=i["price_cap_fen"],
            selfpay_prop=Decimal(i["selfpay_prop"]), fulamt_ownpay_fen=i["fulamt_ownpay_fen"],
            overlmt_fen=i["overlmt_fen"], preselfpay_fen=i["preselfpay_fen"],
            inscp_fen=i["inscp_fen"], chrgitm_lv=i["chrgitm_lv"], in_catalogue=i["in_catalogue"],
        ) for i in d["items"]),
        fund_lines=tuple(FundLine(f["fund_pay_type"], f["name"], f["inscp_fen"], f["cap_left_fen"],
                                  f["amount_fen"], f.get("info", "")) for f in d["fund_lines"]),
        deltas={k: int(v) for k, v in d["deltas"].items()},
        caps={k: int(v) for k, v in d["caps"].items()},
        explanation=tuple(ExplainStep(e["code"], e["label"], e["text"]) for e in d["explanation"]),
    )


# ----------------------------------------------------------------------------- the visit's snapshot

def snapshot_to_json(e: Eligibility, on_date: dt.date, certificate: tuple[str, str, str] | None) -> dict[str, Any]:
    """The eligibility answer a registration got, as settlement.visits.snapshot keeps it: with
    the day it is for, the certificate eligibility checked on that call (type, number, card_sn;
    None: none) and the status version it was read at (migration 0020)."""
    p = e.person
    return {
        "d": on_date.isoformat(), "sv": e.status_version, "cert": list(certificate) if certificate else None,
        "eligible": e.eligible, "outcome": e.ineligible_outcome, "message": e.ineligible_message,
        "certno": e.certno, "gend": e.gender, "brdy": e.birthdate,
        "psn_no": p.psn_no, "name": p.name, "insutype": p.insutype, "psn_type": p.psn_type,
        "insured_pool": p.insured_pool, "balance": p.account_balance_fen, "cvlserv": p.cvlserv,
        "identities": [[i.type, i.begin.isoformat(), i.end.isoformat() if i.end else None] for i in p.identities],
        "chronic": [[c.code, c.begin.isoformat(), c.end.isoformat() if c.end else None, c.hospital]
                    for c in p.chronic],
    }


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def snapshot_from_json(d: dict[str, Any]) -> Eligibility:
    person = PersonSnapshot(
        psn_no=d["psn_no"], name=d["name"], insutype=d["insutype"], psn_type=d["psn_type"],
        insured_pool=d["insured_pool"], account_balance_fen=int(d["balance"]), cvlserv=bool(d["cvlserv"]),
        identities=tuple(Identity(i[0], dt.date.fromisoformat(i[1]), _day(i[2])) for i in d["identities"]),
        chronic=tuple(ChronicQualification(c[0], dt.date.fromisoformat(c[1]), _day(c[2]), c[3]) for c in d["chronic"]))
    return Eligibility(eligible=bool(d["eligible"]), person=person, ineligible_outcome=d["outcome"],
                       ineligible_message=d["message"], status_version=int(d["sv"]), certno=d["certno"],
                       gender=d["gend"], birthdate=d["brdy"])


def kept_snapshot(kept: dict[str, Any] | None, claim: Any, visit_date: dt.date) -> Eligibility | None:
    """The registration's snapshot, if a settlement of `visit_date` presenting `claim` (a
    CertificateClaim, or None when it names none) may compute on it (services/settlement/settle.py's
    module doc): taken on the visit's day, for the same certificate eligibility checked then."""
    if not kept or kept.get("d") != visit_date.isoformat():
        return None
    if claim is not None and [claim.cert_type, claim.cert_no, claim.card_sn] != kept.get("cert"):
        return None  # another certificate than the one eligibility checked: eligibility checks it
    return snapshot_from_json(kept)
