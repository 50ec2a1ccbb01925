"""Fee details: 2204/2301 upload (per-item split back), 2205/2302 cancel."""

from __future__ import annotations

from gateway.his import envelope as f
from gateway.his.convert import number, proto_to_his
from gateway.his.dispatch import Call, transaction
from gateway.his.handlers.queries import _med_chrgitm_type as med_chrgitm_type
from gateway.his.handlers.queries import treatment_pools
from gateway.his.handlers.supervision import judge_rows
from medsettle.settlement.v1 import settlement_pb2 as pb


async def _upload(call: Call) -> dict:
    rows = f.lst(call.input, "feedetail", "input", max_items=2000)
    mdtrt_id, psn_no, items = parse_fee_rows(rows, "input.feedetail")
    reply = await call.stubs.settlement.UploadFees(
        pb.UploadFeesRequest(caller=call.caller, mdtrt_id=mdtrt_id, psn_no=psn_no, feedetail=items),
        timeout=call.timeout_s)
    return _fees_output(reply, call)


def parse_fee_rows(rows: list[dict], prefix: str) -> tuple[str, str, list[pb.FeeDetail]]:
    """(mdtrt_id, psn_no, items) of an upload's fee rows (2204/2301 feedetail; 6201's feedetailList
    after its camelCase keys are read as these), every field checked; FieldError names `prefix[i].key`."""
    items = []
    mdtrt_id = psn_no = ""
    seen: set[str] = set()
    for i, r in enumerate(rows):
        p = f"{prefix}[{i}]"
        sn = f.fee_sn(r, p)
        if sn in seen:
            raise f.FieldError(f"{p}.feedetl_sn", f"明细流水号重复 (duplicate feedetl_sn {sn!r} in this upload)")
        seen.add(sn)
        row_mdtrt, row_psn = f.ident(r, "mdtrt_id", p), f.psn_no(r, p)
        if i == 0:
            mdtrt_id, psn_no = row_mdtrt, row_psn
        elif (row_mdtrt, row_psn) != (mdtrt_id, psn_no):
            raise f.FieldError(f"{p}.mdtrt_id", "一次上传只能属于同一就诊 (all items of one upload must share the first "
                                                "item's mdtrt_id and psn_no)")
        amount = f.money(r, "det_item_fee_sumamt", p)
        pric = f.money(r, "pric", p)
        cnt = f.quantity(r, "cnt", p)
        for k, n in (("bilg_dept_codg", 30), ("bilg_dr_codg", 30), ("hosp_appr_flag", 3), ("med_type", 6)):
            f.text(r, k, p, required=False, max_len=n)
        items.append(pb.FeeDetail(
            feedetl_sn=sn, chrg_bchno=f.ident(r, "chrg_bchno", p, required=False),
            fee_ocur_time=f.timestamp(r, "fee_ocur_time", p),
            med_list_codg=f.text(r, "med_list_codg", p, max_len=50),
            medins_list_codg=f.text(r, "medins_list_codg", p, required=False, max_len=150),
            det_item_fee_sumamt_fen=amount, cnt=cnt, pric_fen=pric,
            name=f.text(r, "medins_list_name", p, required=False, max_len=200)))
    return mdtrt_id, psn_no, items


async def _cancel(call: Call) -> dict:
    d, p = f.data_of(call.input)
    # 2302 names the item ("0000": every unsettled item); 2205 may name the charge batch instead.
    sn = f.fee_sn(d, p, required=call.env.infno == "2302")
    bchno = f.ident(d, "chrg_bchno", p, required=not sn)
    req = pb.CancelFeesRequest(caller=call.caller, mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p),
                               feedetl_sn=sn, chrg_bchno=bchno)
    reply = await call.stubs.settlement.CancelFees(req, timeout=call.timeout_s)
    return _fees_output(reply, call)


_NO_FLAGS = ("bas_medn_flag", "hi_nego_drug_flag", "chld_medc_flag", "list_sp_item_flag", "lmt_used_flag",
             "drt_reim_flag")


def _fees_output(reply: pb.UploadFeesResponse, call: Call) -> dict:
    """result[] as the spec writes it: money exact Decimal yuan, cnt and selfpay_prop Decimals of
    their own digits, med_chrgitm_type from the catalogue item (or the national code's shape), the
    flags the reference data does not hold "0"."""
    out = proto_to_his(reply, exact=True)
    del out["replayed"]  # the fee outputs carry no replayed flag (only the settlement outputs do)
    del out["findings"]  # written as the 3101 rows under `supervision`, and per item in memo
    items = _catalogue_items(call)
    said: dict[str, list[str]] = {}
    for x in reply.findings:
        if x.feedetl_sn:
            said.setdefault(x.feedetl_sn, []).append(f"[{x.rule_code} {x.severity}] {x.message}")
    for row in out["result"]:
        row["cnt"] = number(row["cnt"])
        row["selfpay_prop"] = number(row["selfpay_prop"])
        item = next((c.get(row["med_list_codg"]) for c in items if row["med_list_codg"] in c), None)
        row["med_chrgitm_type"] = med_chrgitm_type(item) if item is not None else _type_by_code(row["med_list_codg"])
        for k in _NO_FLAGS:
            row[k] = "0"
        row["memo"] = "；".join(said.get(row["feedetl_sn"], ()))[:500]
        row["exp_content"] = ""
    if reply.findings:
        out["supervision"] = judge_rows(reply.findings, _psn_of(call), _mdtrt_of(call))
    return out


def _first_row(call: Call) -> dict:
    rows = call.input.get("feedetail") if isinstance(call.input, dict) else None
    return rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}


def _psn_of(call: Call) -> str:
    return str(_first_row(call).get("psn_no") or "")


def _mdtrt_of(call: Call) -> str:
    return str(_first_row(call).get("mdtrt_id") or "")


def _catalogue_items(call: Call) -> list:
    """The item maps of the hospital's treatment pools' catalogues (none without reference data)."""
    ref = call.reference
    hospital = ref.hospital(call.principal.code) if ref is not None else None
    if hospital is None:
        return []
    return [c.items for pool in treatment_pools(ref, hospital) if (c := ref.catalogue(pool.code)) is not None]


def _type_by_code(code: str) -> str:
    """医疗收费项目类别 of an item outside the catalogue, by the shape of its national code: a drug
    (X 西药 09, Z 中成药 11, T 中药饮片 10), a material (C 08), else 14 其他费."""
    return {"X": "09", "Z": "11", "T": "10", "C": "08"}.get(code[:1], "14")


@transaction("2204", "门诊费用明细上传 outpatient fee details")
async def outpatient_fees(call: Call) -> dict:
    return await _upload(call)


@transaction("2301", "住院费用明细上传 inpatient fee details")
async def inpatient_fees(call: Call) -> dict:
    return await _upload(call)


@transaction("2205", "门诊费用明细撤销 cancel outpatient fees")
async def cancel_outpatient_fees(call: Call) -> dict:
    return await _cancel(call)


@transaction("2302", "住院费用明细撤销 cancel inpatient fees")
async def cancel_inpatient_fees(call: Call) -> dict:
    return await _cancel(call)
