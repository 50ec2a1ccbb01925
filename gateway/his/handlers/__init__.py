"""HIS transaction handlers, one module per family, and THE infno table: `HANDLERS` below lists
every transaction the gateway serves and the function that serves it. Nothing registers itself
on import; `@dispatch.transaction(infno, name)` only labels a handler, and the table is checked
against those labels when it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.his.dispatch import Handler, LabelledHandler
from gateway.his.handlers import fees, filing, mobile, person, queries, recon, session, settle, supervision, visits

_TABLE: dict[str, LabelledHandler] = {
    # the HIS terminal's session
    "9001": session.sign_in,
    "9002": session.sign_out,
    # person and benefits
    "1101": person.person_info,
    "2001": person.benefit_check,
    # outpatient visits
    "2201": visits.register_outpatient,
    "2202": visits.cancel_outpatient,
    "2203": visits.diagnosis,
    "2204": fees.outpatient_fees,
    "2205": fees.cancel_outpatient_fees,
    "2206": settle.outpatient_presettle,
    "2207": settle.outpatient_settle,
    "2208": settle.outpatient_cancel,
    # inpatient stays
    "2401": visits.admission,
    "2404": visits.cancel_admission,
    "2301": fees.inpatient_fees,
    "2302": fees.cancel_inpatient_fees,
    "2402": visits.discharge,
    "2405": visits.undo_discharge,
    "2303": settle.inpatient_presettle,
    "2304": settle.inpatient_settle,
    "2305": settle.inpatient_cancel,
    # filings
    "2501": filing.referral,
    "2502": filing.cancel_referral,
    "2503": filing.chronic_filing,
    "2504": filing.cancel_chronic,
    "5301": filing.chronic_query,
    # reversal and queries
    "2601": settle.reversal,
    "5203": settle.settlement_query,
    "5206": settle.accumulators,
    # dictionaries and the catalogue (reference data)
    "1901": queries.dictionary_query,
    "1312": queries.catalogue_query,
    # fund supervision (docs/SUPERVISION.md): rule audit before and during the event
    "3101": supervision.audit_before,
    "3102": supervision.audit_during,
    # reconciliation and clearing
    "3201": recon.reconcile_totals,
    "3202": recon.reconcile_detail,
    "3203": recon.apply_clearing,
    # mobile payment (scan-to-pay, docs/MOBILE_PAYMENT.md)
    "6201": mobile.upload_order,
    "6202": mobile.place_payment,
    "6203": mobile.refund_order,
    "6301": mobile.query_order,
    "6401": mobile.cancel_order,
}

for _infno, _handler in _TABLE.items():
    if getattr(_handler, "infno", None) != _infno:
        raise RuntimeError(f"HIS table: {_infno} -> {_handler.__qualname__}, which is labelled "
                           f"{getattr(_handler, 'infno', None)!r}")

HANDLERS: Mapping[str, Handler] = MappingProxyType(_TABLE)
NAMES: Mapping[str, str] = MappingProxyType({infno: h.transaction_name for infno, h in _TABLE.items()})
