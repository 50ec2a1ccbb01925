"""1101 person info, 2001 benefit check."""

from __future__ import annotations

from gateway.his import envelope as f
from gateway.his.convert import PSN_IDET_TYPE, PSN_TYPE, code_of, proto_to_his
from gateway.his.dispatch import Call, transaction
from medsettle.eligibility.v1 import eligibility_pb2 as epb
from medsettle.eligibility.v1 import eligibility_pb2 as pb


@transaction("1101", "人员信息获取 person info")
async def person_info(call: Call) -> dict:
    d, p = f.data_of(call.input)
    ctype, cno, card_sn = f.certificate(d, p)
    begntime = f.timestamp(d, "begntime", p, required=False)
    f.person_and_place(d, p)
    certno = f.text(d, "certno", p, required=False, max_len=50)
    f.text(d, "psn_name", p, required=False, max_len=50)
    psn_no = f.psn_no(d, p, required=False)
    if not ctype and not psn_no:
        raise f.FieldError(f"{p}.mdtrt_cert_type", "必填: 01 电子凭证 / 02 身份证 / 03 社保卡 (required: 01 e-voucher, "
                                                    "02 ID number, 03 social-security card)")
    if ctype == "02" and certno and certno != cno:
        raise f.FieldError(f"{p}.certno", "与 mdtrt_cert_no 不一致 (differs from mdtrt_cert_no)")
    reply = await call.stubs.eligibility.FindPerson(
        pb.FindPersonRequest(mdtrt_cert_type=ctype, mdtrt_cert_no=cno, card_sn=card_sn, psn_no=psn_no,
                             on_date=begntime[:10], hospital=call.principal.code),
        timeout=call.timeout_s)
    return person_output(reply)


def person_output(reply: epb.PersonInfo) -> dict:
    """baseinfo / insuinfo / idetinfo as the spec writes them: balc an exact JSON number, psn_type
    and psn_idet_type national codes (our words under each row's `medsettle`), the identity's
    dates as date-times (begntime 00:00:00, endtime 23:59:59)."""
    out = proto_to_his(reply, exact=True)
    base = out["baseinfo"] or {}
    if base:
        base["exp_content"] = ""
    for row in out["insuinfo"]:
        word = row["psn_type"]
        row["psn_type"] = code_of(PSN_TYPE, word)
        row["medsettle"] = {"psn_type": word}
    for row in out["idetinfo"]:
        word = row["psn_idet_type"]
        row["psn_idet_type"] = code_of(PSN_IDET_TYPE, word, "60")
        row["begntime"] = _at(row["begntime"], "00:00:00")
        row["endtime"] = _at(row["endtime"], "23:59:59")
        row["memo"] = ""
        row["medsettle"] = {"psn_idet_type": word}
    return {"baseinfo": base, "insuinfo": out["insuinfo"], "idetinfo": out["idetinfo"]}


def _at(day: str, clock: str) -> str:
    return f"{day[:10]} {clock}" if len(day) == 10 else day


@transaction("2001", "人员待遇享受检查 benefit check")
async def benefit_check(call: Call) -> dict:
    d, p = f.data_of(call.input)
    req = pb.CheckBenefitRequest(
        psn_no=f.psn_no(d, p), insutype=f.insutype(d, p),
        fixmedins_code=f.text(d, "fixmedins_code", p, required=False, max_len=12, min_len=12,
                              pattern=f.FIXMEDINS_RE) or call.principal.code,
        med_type=f.med_type(d, p), begntime=f.timestamp(d, "begntime", p),
        endtime=f.timestamp(d, "endtime", p, required=False),
        dise_codg=f.text(d, "dise_codg", p, required=False, max_len=30))
    f.text(d, "dise_name", p, required=False, max_len=300)
    f.person_and_place(d, p)
    reply = await call.stubs.eligibility.CheckBenefit(req, timeout=call.timeout_s)
    out = proto_to_his(reply, exact=True)
    for row in out["trtinfo"]:
        row.update(psn_no=req.psn_no, trt_chk_type="01", exp_content="")
    return out
