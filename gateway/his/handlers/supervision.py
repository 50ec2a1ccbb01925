"""Fund supervision on the HIS interface (docs/SUPERVISION.md): 3101 明细审核事前分析 and 3102
明细审核事中分析 on request, and the findings rows every 2204/2301 upload (3101) and every
2206/2207/2303/2304 (3102) carry under `output.supervision`.

A finding is written as the spec's violation row (`result[]`: rule_id, rule_name, vola_cont,
vola_amt, sev_deg, vola_bhvr_type, judge_result_detail_dtos …) plus our own three keys:
`severity` (warn | block), `action` (flagged | self_pay | refused: what it does at settlement)
and `feedetl_sn` (the item; "" for the whole visit).
"""

from __future__ import annotations

import json

from gateway.his import envelope as f
from gateway.his.dispatch import Call, transaction
from gateway.his.jsonnum import yuan
from medsettle.settlement.v1 import settlement_pb2 as pb

# sev_deg: 1 明确违规 · 2 高度可疑 · 3 轻度可疑; vola_bhvr_type: 1 就诊类 · 2 项目类 (NHSA_CODES.md)
SEV_DEG = {"block": "1", "warn": "2"}


def judge_rows(findings, psn_no: str, mdtrt_id: str) -> list[dict]:
    """The spec's 3101/3102 `result` rows of some pb.Finding."""
    rows = []
    for i, x in enumerate(findings):
        item = bool(x.feedetl_sn)
        jr_id = f"{mdtrt_id}-{x.rule_code}-{x.feedetl_sn or 'V'}"
        rows.append({
            "jr_id": jr_id[:50], "rule_id": x.rule_code, "rule_name": x.rule_name or x.kind,
            "vola_cont": x.message[:500], "patn_id": psn_no, "mdtrt_id": mdtrt_id,
            "judge_result_detail_dtos": [{"jrd_id": f"{jr_id[:46]}-{i:03d}"[:50], "patn_id": psn_no,
                                          "mdtrt_id": mdtrt_id, "rx_id": x.feedetl_sn, "vola_item_type": "1",
                                          "vola_amt": yuan(x.amount_fen)}],
            "vola_amt": yuan(x.amount_fen), "vola_amt_stas": "1", "sev_deg": SEV_DEG.get(x.severity, "2"),
            "vola_evid": json.dumps(dict(sorted(x.evidence.items())), ensure_ascii=False)[:500],
            "vola_bhvr_type": "2" if item else "1", "task_id": "",
            "severity": x.severity, "action": x.action, "feedetl_sn": x.feedetl_sn,
        })
    return rows


def _orders(enc: dict, p: str) -> list[pb.AuditItem]:
    items = []
    for i, o in enumerate(f.lst(enc, "fsi_order_dtos", p, required=False, max_items=2000)):
        q = f"{p}.fsi_order_dtos[{i}]"
        items.append(pb.AuditItem(
            rx_id=f.text(o, "rx_id", q, max_len=50), med_list_codg=f.text(o, "hilist_code", q, max_len=50),
            cnt=f.quantity(o, "cnt", q), amount_fen=f.money(o, "sumamt", q) or 0,
            day=f.timestamp(o, "drord_begn_date", q, required=False)[:10]))
    return items


def _diagnoses(enc: dict, p: str) -> list[str]:
    main = f.text(enc, "dscg_main_dise_codg", p, required=False, max_len=20)
    out = [main] if main else []
    for i, d in enumerate(f.lst(enc, "fsi_diagnose_dtos", p, required=False, max_items=100)):
        code = f.text(d, "dise_codg", f"{p}.fsi_diagnose_dtos[{i}]", max_len=30)
        if code not in out:
            out.append(code)
    return out


async def _audit(call: Call, stage: str) -> dict:
    d, p = f.data_of(call.input)
    rows: list[dict] = []
    for i, patient in enumerate(f.lst(d, "patient_dtos", p, max_items=50)):
        pp = f"{p}.patient_dtos[{i}]"
        psn_no = f.text(patient, "patn_id", pp, max_len=50)
        current = f.text(patient, "curr_mdtrt_id", pp, required=False, max_len=50)
        gend = f.text(patient, "gend", pp, required=False, max_len=3)
        brdy = f.date(patient, "brdy", pp, required=False)
        encounters = f.lst(patient, "fsi_encounter_dtos", pp, max_items=50)
        chosen = [(j, e) for j, e in enumerate(encounters) if isinstance(e, dict) and e.get("mdtrt_id") == current]
        for j, enc in chosen or list(enumerate(encounters))[:1]:
            ep = f"{pp}.fsi_encounter_dtos[{j}]"
            mdtrt_id = f.text(enc, "mdtrt_id", ep, max_len=50)
            med_type = f.text(enc, "med_type", ep, required=False, max_len=6)
            req = pb.AuditRequest(
                caller=call.caller, stage=stage, psn_no=psn_no, mdtrt_id=mdtrt_id, items=_orders(enc, ep),
                diagnoses=_diagnoses(enc, ep), gend=gend, brdy=brdy,
                insutype=f.text(enc, "insutype", ep, required=False, max_len=3, choices=("310", "390")),
                begin=f.timestamp(enc, "adm_date", ep, required=False)[:10],
                kind="inpatient" if med_type.startswith("2") else "outpatient")
            reply = await call.stubs.settlement.Audit(req, timeout=call.timeout_s)
            rows.extend(judge_rows(reply.findings, psn_no, mdtrt_id))
    return {"result": rows}


@transaction("3101", "明细审核事前分析服务 pre-event rule audit")
async def audit_before(call: Call) -> dict:
    return await _audit(call, "3101")


@transaction("3102", "明细审核事中分析服务 in-event rule audit")
async def audit_during(call: Call) -> dict:
    return await _audit(call, "3102")
