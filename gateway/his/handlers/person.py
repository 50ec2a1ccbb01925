"""1101 person info, 2001 benefit check."""

from __future__ import annotations

from gateway.his import envelope as f
from gateway.his.convert import proto_to_his
from gateway.his.dispatch import Call, transaction
from medsettle.eligibility.v1 import eligibility_pb2 as pb


@transaction("1101", "人员信息获取 person info")
async def person_info(call: Call) -> dict:
    d, p = f.data_of(call.input)
    ctype, cno, card_sn = f.certificate(d, p)
    begntime = f.timestamp(d, "begntime", p, required=False)
    f.text(d, "psn_cert_type", p, required=False, max_len=6)
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
                             on_date=begntime[:10]),
        timeout=call.timeout_s)
    return proto_to_his(reply)


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
    reply = await call.stubs.eligibility.CheckBenefit(req, timeout=call.timeout_s)
    return proto_to_his(reply)
