"""Settlement: 2206/2207/2208 outpatient, 2303/2304/2305 inpatient, 2601 reversal, 5203 query,
5206 year-to-date accumulators."""

from __future__ import annotations

import re

from gateway.his import envelope as f
from gateway.his.convert import fen_to_yuan, proto_to_his
from gateway.his.dispatch import Call, transaction
from medsettle.filing.v1 import filing_pb2 as fpb
from medsettle.settlement.v1 import settlement_pb2 as pb

# 2601 of a filing transaction is the filing service's; everything else is the settlement's.
FILING_INFNOS = ("2501", "2503")
SPLIT_FIELDS = (("fulamt_ownpay_amt", "fulamt_ownpay_amt_fen"), ("overlmt_selfpay", "overlmt_selfpay_fen"),
                ("preselfpay_amt", "preselfpay_amt_fen"), ("inscp_scp_amt", "inscp_scp_amt_fen"))


def settlement_output(reply: pb.SettleResponse) -> dict:
    out = proto_to_his(reply)
    return {"setlinfo": out["setlinfo"] or {}, "setldetail": out["setldetail"],
            "explanation": out["explanation"], "replayed": out["replayed"]}


def _settle_request(call: Call, *, inpatient: bool, final: bool) -> pb.SettleRequest:
    d, p = f.data_of(call.input)
    ctype, cno, _ = f.certificate(d, p)
    req = pb.SettleRequest(
        caller=call.caller, mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p), insutype=f.insutype(d, p),
        med_type=f.med_type(d, p, required=not inpatient,
                            choices=f.INPATIENT_MED_TYPES if inpatient else ("11", "12", "13", "14")),
        medfee_sumamt_fen=f.money(d, "medfee_sumamt", p), acct_used_flag=f.flag(d, "acct_used_flag", p),
        mdtrt_cert_type=ctype, mdtrt_cert_no=cno,
        psn_setlway=f.text(d, "psn_setlway", p, max_len=2, choices=("01", "02")),
        chrg_bchno=f.ident(d, "chrg_bchno", p, required=False),
        invono=f.text(d, "invono", p, required=False, max_len=30),
        mid_setl_flag=f.flag(d, "mid_setl_flag", p) if inpatient else False)
    if final:
        # The HIS may state its own split; then it must be complete (and the service checks it matches).
        given = {k: f.money(d, k, p, required=False) for k, _ in SPLIT_FIELDS}
        if any(v is not None for v in given.values()):
            for k, attr in SPLIT_FIELDS:
                if given[k] is None:
                    raise f.FieldError(f"{p}.{k}", "费用分割须四项齐全: fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, "
                                                   "inscp_scp_amt (the declared split needs all four amounts)")
                setattr(req, attr, given[k])
            req.has_declared_split = True
    return req


@transaction("2206", "门诊预结算 outpatient pre-settlement")
async def outpatient_presettle(call: Call) -> dict:
    req = _settle_request(call, inpatient=False, final=False)
    return settlement_output(await call.stubs.settlement.PreSettle(req, timeout=call.timeout_s))


@transaction("2207", "门诊结算 outpatient settlement")
async def outpatient_settle(call: Call) -> dict:
    req = _settle_request(call, inpatient=False, final=True)
    return settlement_output(await call.stubs.settlement.Settle(req, timeout=call.timeout_s))


@transaction("2303", "住院预结算 inpatient pre-settlement")
async def inpatient_presettle(call: Call) -> dict:
    req = _settle_request(call, inpatient=True, final=False)
    return settlement_output(await call.stubs.settlement.PreSettle(req, timeout=call.timeout_s))


@transaction("2304", "住院结算 inpatient settlement")
async def inpatient_settle(call: Call) -> dict:
    req = _settle_request(call, inpatient=True, final=True)
    return settlement_output(await call.stubs.settlement.Settle(req, timeout=call.timeout_s))


async def _cancel(call: Call) -> dict:
    d, p = f.data_of(call.input)
    req = pb.CancelSettlementRequest(caller=call.caller, setl_id=f.ident(d, "setl_id", p),
                                     mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p))
    return settlement_output(await call.stubs.settlement.CancelSettlement(req, timeout=call.timeout_s))


@transaction("2208", "门诊结算撤销 cancel outpatient settlement")
async def outpatient_cancel(call: Call) -> dict:
    return await _cancel(call)


@transaction("2305", "住院结算撤销 cancel inpatient settlement")
async def inpatient_cancel(call: Call) -> dict:
    return await _cancel(call)


@transaction("2601", "冲正交易 reversal")
async def reversal(call: Call) -> dict:
    # NHSA sends {"data": {...}}; the spec's short form puts the fields in input itself.
    d, p = (f.data_of(call.input) if isinstance(call.input.get("data"), dict) else (call.input, "input"))
    psn_no = f.psn_no(d, p)
    omsgid = f.text(d, "omsgid", p, max_len=30)
    f.check_msgid(omsgid, call.principal.code, path=f"{p}.omsgid")
    oinfno = f.text(d, "oinfno", p, max_len=4, min_len=4, pattern=f.INFNO_RE, what="4 digits")
    if oinfno == "2601":
        raise f.FieldError(f"{p}.oinfno", "冲正交易不能再冲正 (a reversal cannot be reversed)", outcome="NOT_REVERSIBLE")
    if oinfno in FILING_INFNOS:
        reply = await call.stubs.filing.ReverseByMsgid(
            fpb.ReverseByMsgidRequest(caller=call.caller, psn_no=psn_no, omsgid=omsgid, oinfno=oinfno),
            timeout=call.timeout_s)
        return {"data": {"oinfno": oinfno, "omsgid": omsgid, "result": f"filing {reply.filing_id} {reply.status}",
                         "trt_dcla_detl_sn": reply.filing_id, "status": reply.status}}
    reply = await call.stubs.settlement.Reverse(
        pb.ReverseRequest(caller=call.caller, psn_no=psn_no, omsgid=omsgid, oinfno=oinfno), timeout=call.timeout_s)
    out: dict = {"data": {"oinfno": reply.oinfno or oinfno, "omsgid": reply.omsgid or omsgid, "result": reply.result}}
    if reply.HasField("settlement"):
        out.update(settlement_output(reply.settlement))
    return out


@transaction("5203", "结算信息查询 settlement query")
async def settlement_query(call: Call) -> dict:
    d, p = f.data_of(call.input)
    req = pb.GetSettlementRequest(fixmedins_code=call.principal.code, setl_id=f.ident(d, "setl_id", p, required=False),
                                  mdtrt_id=f.ident(d, "mdtrt_id", p, required=False), psn_no=f.psn_no(d, p))
    if not req.setl_id and not req.mdtrt_id:
        raise f.FieldError(f"{p}.setl_id", "须提供 setl_id 或 mdtrt_id (give setl_id or mdtrt_id)")
    return settlement_output(await call.stubs.settlement.GetSettlement(req, timeout=call.timeout_s))


@transaction("5206", "人员累计信息查询 year-to-date accumulators")
async def accumulators(call: Call) -> dict:
    d, p = f.data_of(call.input)
    psn_no = f.psn_no(d, p)
    insutype = f.insutype(d, p, required=False)
    cum_ym = f.text(d, "cum_ym", p, required=False, max_len=6, min_len=4, pattern=re.compile(r"^20[0-9]{2}([01][0-9])?$"),
                    what="yyyy or yyyyMM")
    year = int(cum_ym[:4]) if cum_ym else call.clock.today().year
    reply = await call.stubs.settlement.GetAccumulators(
        pb.GetAccumulatorsRequest(psn_no=psn_no, insutype=insutype, year=year), timeout=call.timeout_s)
    rows = []
    for a in reply.accumulators:
        count = a.key.startswith("admissions")  # counts, not fen
        rows.append({"cum_type_code": a.key, "cum": str(a.amount) if count else fen_to_yuan(a.amount),
                     "cap": "" if a.cap < 0 else (str(a.cap) if count else fen_to_yuan(a.cap))})
    return {"psn_no": reply.psn_no or psn_no, "insutype": reply.insutype, "year": reply.year or year,
            "balc": fen_to_yuan(reply.account_balance_fen), "cuminfo": rows}
