"""Visits: 2201/2202 outpatient register/cancel, 2203 diagnosis, 2401/2404 admission/cancel,
2402/2405 discharge/undo."""

from __future__ import annotations

from gateway.his import envelope as f
from gateway.his.dispatch import Call, transaction
from medsettle.settlement.v1 import settlement_pb2 as pb


def _diseinfo(call: Call, required: bool = False) -> list[dict]:
    rows = f.lst(call.input, "diseinfo", "input", required=required, max_items=100)
    for i, r in enumerate(rows):
        p = f"input.diseinfo[{i}]"
        f.text(r, "diag_type", p, required=False, max_len=3)
        f.text(r, "diag_srt_no", p, required=False, max_len=3)
        f.text(r, "diag_code", p, required=False, max_len=30)
        f.text(r, "diag_name", p, required=False, max_len=300)
    return rows


def _main_diag(rows: list[dict]) -> tuple[str, str]:
    """The main diagnosis (diag_srt_no 1, else the first) when the visit record names none."""
    for r in sorted(rows, key=lambda r: str(r.get("diag_srt_no") or "9")):
        if r.get("diag_code"):
            return str(r.get("diag_code")), str(r.get("diag_name") or "")
    return "", ""


@transaction("2201", "门诊挂号 outpatient registration")
async def register_outpatient(call: Call) -> dict:
    d, p = f.data_of(call.input)
    ctype, cno, card_sn = f.certificate(d, p)
    f.person_and_place(d, p)
    med_type = f.med_type(d, p, required=False, choices=("11", "12", "13", "14"))
    req = pb.RegisterRequest(
        caller=call.caller, psn_no=f.psn_no(d, p), insutype=f.insutype(d, p), kind="outpatient",
        med_type=med_type, begntime=f.timestamp(d, "begntime", p), mdtrt_cert_type=ctype, mdtrt_cert_no=cno, card_sn=card_sn,
        ipt_otp_no=f.ident(d, "ipt_otp_no", p), atddr_no=f.text(d, "atddr_no", p, required=False, max_len=30),
        dr_name=f.text(d, "dr_name", p, required=False, max_len=50),
        dept_code=f.text(d, "dept_code", p, required=False, max_len=30),
        dept_name=f.text(d, "dept_name", p, required=False, max_len=100),
        emergency=med_type == "13" or f.flag(d, "emg_flag", p))
    f.text(d, "caty", p, required=False, max_len=30)
    visit = await call.stubs.settlement.Register(req, timeout=call.timeout_s)
    return {"data": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "ipt_otp_no": visit.ipt_otp_no,
                     "exp_content": ""}}


@transaction("2202", "门诊挂号撤销 cancel registration")
async def cancel_outpatient(call: Call) -> dict:
    return await _cancel_visit(call)


@transaction("2404", "入院办理撤销 cancel admission")
async def cancel_admission(call: Call) -> dict:
    return await _cancel_visit(call)


async def _cancel_visit(call: Call) -> dict:
    d, p = f.data_of(call.input)
    req = pb.CancelVisitRequest(caller=call.caller, mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p))
    f.text(d, "ipt_otp_no", p, required=False, max_len=30)
    visit = await call.stubs.settlement.CancelVisit(req, timeout=call.timeout_s)
    return {"data": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "status": visit.status}}


@transaction("2203", "门诊就诊信息上传 visit and diagnosis")
async def diagnosis(call: Call) -> dict:
    m = f.obj(call.input, "mdtrtinfo", "input")
    p = "input.mdtrtinfo"
    rows = _diseinfo(call)
    med_type = f.med_type(m, p, choices=("11", "12", "13", "14"))
    dise_codg = f.text(m, "dise_codg", p, required=False, max_len=30)
    dise_name = f.text(m, "dise_name", p, required=False, max_len=300)
    if not dise_codg:
        dise_codg, dise_name = _main_diag(rows)
    if med_type == "14" and not dise_codg:
        raise f.FieldError(f"{p}.dise_codg", "慢特病门诊须填病种编码, 如 M07803 (a chronic/special-disease visit (14) "
                                             "needs the disease code, e.g. M07803)")
    f.text(m, "main_cond_dscr", p, required=False, max_len=1000)
    req = pb.RecordDiagnosisRequest(
        caller=call.caller, mdtrt_id=f.ident(m, "mdtrt_id", p), psn_no=f.psn_no(m, p), med_type=med_type,
        begntime=f.timestamp(m, "begntime", p, required=False), dise_codg=dise_codg, dise_name=dise_name,
        emergency=med_type == "13" or f.flag(m, "emg_flag", p))
    visit = await call.stubs.settlement.RecordDiagnosis(req, timeout=call.timeout_s)
    return {"data": {"mdtrt_id": visit.mdtrt_id, "med_type": visit.med_type, "status": visit.status}}


@transaction("2401", "入院办理 admission")
async def admission(call: Call) -> dict:
    m = f.obj(call.input, "mdtrtinfo", "input")
    p = "input.mdtrtinfo"
    rows = _diseinfo(call)
    ctype, cno, card_sn = f.certificate(m, p)
    f.person_and_place(m, p, cert_type_key="cert_type")  # 2401 names psn_cert_type cert_type
    med_type = f.med_type(m, p, choices=f.INPATIENT_MED_TYPES)
    dise_codg = f.text(m, "dise_codg", p, required=False, max_len=30) or \
        f.text(m, "dscg_maindiag_code", p, required=False, max_len=30)
    dise_name = f.text(m, "dscg_maindiag_name", p, required=False, max_len=300)
    if not dise_codg:
        dise_codg, dise_name = _main_diag(rows)
    for k, n in (("medrcdno", 30), ("chfpdr_name", 50), ("adm_diag_dscr", 300), ("adm_bed", 30)):
        f.text(m, k, p, required=False, max_len=n)
    req = pb.RegisterRequest(
        caller=call.caller, psn_no=f.psn_no(m, p), insutype=f.insutype(m, p), kind="inpatient",
        med_type=med_type, begntime=f.timestamp(m, "begntime", p), mdtrt_cert_type=ctype, mdtrt_cert_no=cno, card_sn=card_sn,
        ipt_otp_no=f.ident(m, "ipt_no", p), dise_codg=dise_codg, dise_name=dise_name,
        dept_code=f.text(m, "adm_dept_codg", p, required=False, max_len=30),
        dept_name=f.text(m, "adm_dept_name", p, required=False, max_len=100),
        atddr_no=f.text(m, "atddr_no", p, required=False, max_len=30),
        emergency=med_type == "24" or f.flag(m, "emg_flag", p))
    visit = await call.stubs.settlement.Register(req, timeout=call.timeout_s)
    return {"result": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "ipt_otp_no": visit.ipt_otp_no,
                       "exp_content": ""}}


@transaction("2402", "出院办理 discharge")
async def discharge(call: Call) -> dict:
    d = f.obj(call.input, "dscginfo", "input")
    p = "input.dscginfo"
    rows = _diseinfo(call)
    f.insutype(d, p, required=False)
    for k, n in (("dscg_dept_codg", 30), ("dscg_dept_name", 100)):
        f.text(d, k, p, required=False, max_len=n)
    dise_codg = f.text(d, "dise_codg", p, required=False, max_len=30) or _main_diag(rows)[0]
    req = pb.DischargeRequest(caller=call.caller, mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p),
                              endtime=f.timestamp(d, "endtime", p), dise_codg=dise_codg,
                              dscg_way=f.text(d, "dscg_way", p, required=False, max_len=6))
    visit = await call.stubs.settlement.Discharge(req, timeout=call.timeout_s)
    return {"data": {"mdtrt_id": visit.mdtrt_id, "status": visit.status, "endtime": visit.endtime}}


@transaction("2405", "出院撤销 undo discharge")
async def undo_discharge(call: Call) -> dict:
    d, p = f.data_of(call.input)
    req = pb.CancelVisitRequest(caller=call.caller, mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p))
    visit = await call.stubs.settlement.UndoDischarge(req, timeout=call.timeout_s)
    return {"data": {"mdtrt_id": visit.mdtrt_id, "status": visit.status}}
