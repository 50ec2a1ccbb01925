"""Filing: 2501/2502 referral filing, 2503/2504 chronic-disease filing, 5301 chronic filing query."""

from __future__ import annotations

import re

from gateway.his import envelope as f
from gateway.his.dispatch import Call, transaction
from medsettle.filing.v1 import filing_pb2 as pb

OPSP_CODE_RE = re.compile(r"^M[0-9]{5}$")


@transaction("2501", "转院备案 referral filing")
async def referral(call: Call) -> dict:
    r = f.obj(call.input, "refmedin", "input")
    p = "input.refmedin"
    begin = f.date(r, "begndate", p)
    end = f.date(r, "enddate", p)
    if end < begin:
        raise f.FieldError(f"{p}.enddate", "结束日期早于开始日期 (enddate is before begndate)")
    for k, n in (("refl_type", 6), ("reflin_medins_no", 30), ("reflin_medins_name", 200), ("refl_rea", 500),
                 ("refl_opnn", 500), ("hosp_agre_refl_flag", 1), ("allo_flag", 1), ("tel", 30), ("addr", 200)):
        f.text(r, k, p, required=False, max_len=n)
    f.date(r, "refl_date", p, required=False)
    filing = pb.Filing(
        psn_no=f.psn_no(r, p), insutype=f.insutype(r, p), type="referral",
        destination=f.admdvs(r, "mdtrtarea_admdvs", p), begin=begin, end=end, source="his",
        fixmedins_code=call.principal.code, diag_code=f.text(r, "diag_code", p, max_len=30),
        diag_name=f.text(r, "diag_name", p, required=False, max_len=300))
    reply = await call.stubs.filing.CreateFiling(pb.CreateFilingRequest(caller=call.caller, filing=filing),
                                                 timeout=call.timeout_s)
    return {"result": {"trt_dcla_detl_sn": reply.filing_id, "status": reply.status,
                       "begndate": reply.begin, "enddate": reply.end}}


@transaction("2502", "转院备案撤销 cancel referral filing")
async def cancel_referral(call: Call) -> dict:
    d, p = f.data_of(call.input)
    f.text(d, "memo", p, required=False, max_len=500)
    reply = await call.stubs.filing.RevokeFiling(
        pb.RevokeFilingRequest(caller=call.caller, filing_id=f.ident(d, "trt_dcla_detl_sn", p), psn_no=f.psn_no(d, p)),
        timeout=call.timeout_s)
    return {"result": {"trt_dcla_detl_sn": reply.filing_id, "status": reply.status}}


def _chronic_fields(d: dict, p: str) -> dict:
    return {"opsp_dise_code": f.text(d, "opsp_dise_code", p, max_len=6, min_len=6, pattern=OPSP_CODE_RE,
                                     what="M + 5 digits, e.g. M07803"),
            "opsp_dise_name": f.text(d, "opsp_dise_name", p, required=False, max_len=300)}


@transaction("2503", "人员慢特病备案 chronic-disease filing")
async def chronic_filing(call: Call) -> dict:
    d, p = f.data_of(call.input)
    begin = f.date(d, "begndate", p)
    end = f.date(d, "enddate", p, required=False)
    if end and end < begin:
        raise f.FieldError(f"{p}.enddate", "结束日期早于开始日期 (enddate is before begndate)")
    req = pb.FileChronicRequest(
        caller=call.caller, psn_no=f.psn_no(d, p), insutype=f.insutype(d, p), **_chronic_fields(d, p),
        ide_fixmedins_no=f.text(d, "ide_fixmedins_no", p, required=False, max_len=30) or call.principal.code,
        begndate=begin, enddate=end)
    reply = await call.stubs.filing.FileChronic(req, timeout=call.timeout_s)
    return {"result": {"trt_dcla_detl_sn": reply.filing_id, "status": reply.status, "exp_content": ""}}


@transaction("2504", "人员慢特病备案撤销 cancel chronic-disease filing")
async def cancel_chronic(call: Call) -> dict:
    d, p = f.data_of(call.input)
    filing_id = f.ident(d, "trt_dcla_detl_sn", p, required=False)
    code = f.text(d, "opsp_dise_code", p, required=not filing_id, max_len=6, min_len=6, pattern=OPSP_CODE_RE,
                  what="M + 5 digits")
    reply = await call.stubs.filing.CancelChronic(
        pb.CancelChronicRequest(caller=call.caller, psn_no=f.psn_no(d, p), filing_id=filing_id, opsp_dise_code=code),
        timeout=call.timeout_s)
    return {"result": {"trt_dcla_detl_sn": reply.filing_id, "status": reply.status}}


@transaction("5301", "人员慢特病备案查询 chronic filing query")
async def chronic_query(call: Call) -> dict:
    d, p = f.data_of(call.input)
    reply = await call.stubs.filing.QueryChronic(
        pb.QueryChronicRequest(psn_no=f.psn_no(d, p), insutype=f.insutype(d, p, required=False)),
        timeout=call.timeout_s)
    return {"feedetail": [{"trt_dcla_detl_sn": c.filing_id, "opsp_dise_code": c.opsp_dise_code,
                           "opsp_dise_name": c.opsp_dise_name, "ide_fixmedins_no": c.ide_fixmedins_no,
                           "begndate": c.begndate, "enddate": c.enddate, "status": c.status,
                           "insutype": c.insutype} for c in reply.filings]}
