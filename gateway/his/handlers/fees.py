"""Fee details: 2204/2301 upload (per-item split back), 2205/2302 cancel."""

from __future__ import annotations

from gateway.his import envelope as f
from gateway.his.convert import proto_to_his
from gateway.his.dispatch import Call, transaction
from medsettle.settlement.v1 import settlement_pb2 as pb


async def _upload(call: Call) -> dict:
    rows = f.lst(call.input, "feedetail", "input", max_items=2000)
    items = []
    mdtrt_id = psn_no = ""
    seen: set[str] = set()
    for i, r in enumerate(rows):
        p = f"input.feedetail[{i}]"
        sn = f.ident(r, "feedetl_sn", p)
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
    reply = await call.stubs.settlement.UploadFees(
        pb.UploadFeesRequest(caller=call.caller, mdtrt_id=mdtrt_id, psn_no=psn_no, feedetail=items),
        timeout=call.timeout_s)
    return _fees_output(reply)


async def _cancel(call: Call) -> dict:
    d, p = f.data_of(call.input)
    # 2302 names the item ("0000": every unsettled item); 2205 may name the charge batch instead.
    sn = f.ident(d, "feedetl_sn", p, required=call.env.infno == "2302")
    bchno = f.ident(d, "chrg_bchno", p, required=not sn)
    req = pb.CancelFeesRequest(caller=call.caller, mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p),
                               feedetl_sn=sn, chrg_bchno=bchno)
    reply = await call.stubs.settlement.CancelFees(req, timeout=call.timeout_s)
    return _fees_output(reply)


def _fees_output(reply: pb.UploadFeesResponse) -> dict:
    out = proto_to_his(reply)
    del out["replayed"]  # the fee outputs carry no replayed flag (only the settlement outputs do)
    return out


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
