"""Settlement: 2206/2207/2208 outpatient, 2303/2304/2305 inpatient, 2601 reversal, 5203 query,
5206 year-to-date accumulators."""

from __future__ import annotations

import asyncio
import logging
import re
from decimal import Decimal

import grpc

from gateway.his import envelope as f
from gateway.his.convert import HOSP_LV, PAY_LOC, PSN_TYPE, code_of, number, proto_to_his
from gateway.his.dispatch import Call, transaction
from gateway.his.errors import from_rpc_error
from gateway.his.handlers.supervision import judge_rows
from gateway.his.jsonnum import yuan
from medsettle.eligibility.v1 import eligibility_pb2 as epb
from medsettle.filing.v1 import filing_pb2 as fpb
from medsettle.settlement.v1 import settlement_pb2 as pb

# 2601 of a filing transaction is the filing service's; everything else is the settlement's.
FILING_INFNOS = ("2501", "2503")
log = logging.getLogger("gateway.his")
SPLIT_FIELDS = (("fulamt_ownpay_amt", "fulamt_ownpay_amt_fen"), ("overlmt_selfpay", "overlmt_selfpay_fen"),
                ("preselfpay_amt", "preselfpay_amt_fen"), ("inscp_scp_amt", "inscp_scp_amt_fen"))


# The setlinfo of every settlement transaction (2206/2207/2208, 2303/2304/2305, 5203, 2601's):
# the union of their spec fields (each transaction's extra ones are allowed extras elsewhere).
_ZERO_MONEY = ("acct_mulaid_pay", "hifdm_pay", "crt_dedc", "pref_fund_pay")


async def person_of(call: Call, psn_no: str) -> epb.PersonInfo | None:
    """The person's 1101 record for the setlinfo's person fields (psn_cert_type, certno, gend,
    naty, brdy, age, cvlserv_flag, emp_name), asked for beside the settlement call.

    When the eligibility service cannot answer now (down, timed out: a retriable outcome) the
    transaction fails as retriable — the settlement may be booked, and the same msgid again gets
    the stored reply with these fields. Answering with them emptied would give one retry a reply
    other than the stored one every other retry gets (issue #17, found by `make chaos`). A refusal
    that does not pass (the person unknown to eligibility) leaves them empty, on every try alike."""
    try:
        return await call.stubs.eligibility.FindPerson(epb.FindPersonRequest(psn_no=psn_no), timeout=call.timeout_s)
    except grpc.RpcError as e:
        if from_rpc_error(e).retriable:
            raise
        log.warning("person lookup for setlinfo refused", extra={"infno": call.env.infno})
        return None


def _person_fields(person: epb.PersonInfo | None, insutype: str) -> dict:
    """The setlinfo's person fields from the person's 1101 record (the spec's empty values without one)."""
    base = person.baseinfo if person is not None and person.HasField("baseinfo") else None
    insu = next((i for i in person.insuinfo if i.insutype == insutype), None) if person is not None else None
    return {"psn_cert_type": base.psn_cert_type if base else "", "certno": base.certno if base else "",
            "gend": base.gend if base else "", "naty": base.naty if base else "", "brdy": base.brdy if base else "",
            "age": base.age if base else 0, "cvlserv_flag": insu.cvlserv_flag if insu else "0",
            "emp_name": insu.emp_name if insu else ""}


def _reply_person_fields(p: pb.SettlePerson) -> dict:
    """The same fields from the snapshot the settlement computed on (SettleResponse.person): what
    eligibility's 1101 record says of them (psn_cert_type 01 ID card; naty and emp_name unknown)."""
    return {"psn_cert_type": "01", "certno": p.certno, "gend": p.gend, "naty": "", "brdy": p.brdy, "age": p.age,
            "cvlserv_flag": "1" if p.cvlserv else "0", "emp_name": ""}


def settlement_output(reply: pb.SettleResponse, call: Call | None = None, person: epb.PersonInfo | None = None,
                      *, mdtrt_cert_type: str = "", mdtrt_cert_no: str = "", invono: str = "") -> dict:
    """setlinfo / setldetail as the spec writes them: money as exact Decimal yuan, codes from the
    national dictionaries; our explanation and `replayed` under their own keys, our words under
    setlinfo.medsettle. The person fields: from the reply when it carries them, else `person`."""
    out = proto_to_his(reply, exact=True)
    info = out["setlinfo"] or {}
    raw = reply.setlinfo
    if info:
        who: epb.PersonInfo | None | dict = _reply_person_fields(reply.person) if reply.HasField("person") else person
        info = _setlinfo(info, raw, call, who, mdtrt_cert_type=mdtrt_cert_type, mdtrt_cert_no=mdtrt_cert_no,
                         invono=invono)
    result = {"setlinfo": info, "setldetail": out["setldetail"], "explanation": out["explanation"],
              "replayed": out["replayed"]}
    if reply.findings:  # 3102: what the fund-supervision rules found (docs/SUPERVISION.md)
        result["supervision"] = judge_rows(reply.findings, raw.psn_no, raw.mdtrt_id)
    return result


def _setlinfo(info: dict, raw: pb.SetlInfo, call: Call | None, person: epb.PersonInfo | None | dict, *,
              mdtrt_cert_type: str, mdtrt_cert_no: str, invono: str) -> dict:
    ratio = info.pop("pool_prop_selfpay")
    word = info["psn_type"]
    info["psn_type"] = code_of(PSN_TYPE, word)
    setl_time = info["setl_time"] or (call.clock.naive_now().strftime("%Y-%m-%d %H:%M:%S") if call else "")
    info["setl_time"] = setl_time
    # 统筹比例自付: the in-policy amount above the deductible that the pool fund did not pay.
    info["pool_prop_selfpay"] = yuan(raw.inscp_scp_amt_fen - raw.act_pay_dedc_fen - raw.hifp_pay_fen)
    info.update(person if isinstance(person, dict) else _person_fields(person, raw.insutype))
    info.update(
        mdtrt_cert_type=mdtrt_cert_type, mdtrt_cert_no=mdtrt_cert_no,
        medins_setl_id=raw.msgid or (call.env.msgid if call else ""), exp_content="",
        psn_pay=info["psn_part_amt"], cash_payamt=info["psn_cash_pay"],
        refd_setl_flag="1" if raw.medfee_sumamt_fen < 0 or raw.status in ("cancelled", "reversal") else "0",
        insu_optins=raw.clr_optins, insu_admdvs=raw.clr_optins, psn_insu_rlts_id="", setl_type="",
        flxempe_flag="0", nwb_flag="0", pay_loc=code_of(PAY_LOC, raw.region_class, "2"),
        year=setl_time[:4], begndate="", enddate="", dise_codg="", dise_name="", invono=invono,
        opter_id="", opter_name="", opt_time=setl_time,
        medsettle={"psn_type": word, "pool_ratio": number(ratio)})
    for k in _ZERO_MONEY:
        info[k] = yuan(0)
    hospital = call.reference.hospital(raw.fixmedins_code) if call is not None and call.reference else None
    info.update(fixmedins_name=hospital.name if hospital else "",
                hosp_lv=HOSP_LV.get(hospital.level, "11") if hospital else "",
                fixmedins_poolarea=hospital.admdvs[:4] + "00" if hospital else "",
                lmtpric_hosp_lv=str(min(hospital.level, 3)) if hospital else "",
                dedc_hosp_lv=str(min(hospital.level, 3)) if hospital else "")
    return info


async def _with_person(call: Call, psn_no: str, rpc) -> tuple[pb.SettleResponse, epb.PersonInfo | None]:
    """The settlement call and the person lookup side by side (no added latency)."""
    person_task = asyncio.ensure_future(person_of(call, psn_no))
    try:
        reply = await rpc
    except BaseException:
        person_task.cancel()
        raise
    return reply, await person_task


def _settle_request(call: Call, *, inpatient: bool, final: bool) -> pb.SettleRequest:
    d, p = f.data_of(call.input)
    ctype, cno, card_sn = f.certificate(d, p)
    f.person_and_place(d, p)
    req = pb.SettleRequest(
        caller=call.caller, mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p), insutype=f.insutype(d, p),
        med_type=f.med_type(d, p, required=not inpatient,
                            choices=f.INPATIENT_MED_TYPES if inpatient else ("11", "12", "13", "14")),
        medfee_sumamt_fen=f.money(d, "medfee_sumamt", p), acct_used_flag=f.flag(d, "acct_used_flag", p),
        mdtrt_cert_type=ctype, mdtrt_cert_no=cno, card_sn=card_sn,
        psn_setlway=f.psn_setlway(d, "psn_setlway", p),
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
    return await _settle(call, inpatient=False, final=False)


@transaction("2207", "门诊结算 outpatient settlement")
async def outpatient_settle(call: Call) -> dict:
    return await _settle(call, inpatient=False, final=True)


@transaction("2303", "住院预结算 inpatient pre-settlement")
async def inpatient_presettle(call: Call) -> dict:
    return await _settle(call, inpatient=True, final=False)


@transaction("2304", "住院结算 inpatient settlement")
async def inpatient_settle(call: Call) -> dict:
    return await _settle(call, inpatient=True, final=True)


async def _settle(call: Call, *, inpatient: bool, final: bool) -> dict:
    req = _settle_request(call, inpatient=inpatient, final=final)
    rpc = (call.stubs.settlement.Settle if final else call.stubs.settlement.PreSettle)(req, timeout=call.timeout_s)
    reply = await rpc
    # The settlement service answers the person fields from its snapshot; only a reply without
    # them (stored by an earlier version, replayed) needs the 1101 record.
    person = None if reply.HasField("person") else await person_of(call, req.psn_no)
    return settlement_output(reply, call, person, mdtrt_cert_type=req.mdtrt_cert_type,
                             mdtrt_cert_no=req.mdtrt_cert_no, invono=req.invono)


async def _cancel(call: Call) -> dict:
    d, p = f.data_of(call.input)
    req = pb.CancelSettlementRequest(caller=call.caller, setl_id=f.ident(d, "setl_id", p),
                                     mdtrt_id=f.ident(d, "mdtrt_id", p), psn_no=f.psn_no(d, p))
    reply, person = await _with_person(call, req.psn_no,
                                       call.stubs.settlement.CancelSettlement(req, timeout=call.timeout_s))
    return settlement_output(reply, call, person)


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
    f.check_msgid(omsgid, call.principal.code, path=f"{p}.omsgid", strict=call.msgid_strict)
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
        out.update(settlement_output(reply.settlement, call, await person_of(call, psn_no)))
    return out


@transaction("5203", "结算信息查询 settlement query")
async def settlement_query(call: Call) -> dict:
    d, p = f.data_of(call.input)
    req = pb.GetSettlementRequest(fixmedins_code=call.principal.code, setl_id=f.ident(d, "setl_id", p, required=False),
                                  mdtrt_id=f.ident(d, "mdtrt_id", p, required=False), psn_no=f.psn_no(d, p))
    if not req.setl_id and not req.mdtrt_id:
        raise f.FieldError(f"{p}.setl_id", "须提供 setl_id 或 mdtrt_id (give setl_id or mdtrt_id)")
    reply, person = await _with_person(call, req.psn_no, call.stubs.settlement.GetSettlement(req, timeout=call.timeout_s))
    return settlement_output(reply, call, person)


@transaction("5206", "人员累计信息查询 year-to-date accumulators")
async def accumulators(call: Call) -> dict:
    d, p = f.data_of(call.input)
    psn_no = f.psn_no(d, p)
    insutype = f.insutype(d, p, required=False)
    cum_ym = f.text(d, "cum_ym", p, required=False, max_len=6, min_len=4, pattern=re.compile(r"^20[0-9]{2}([01][0-9])?$"),
                    what="yyyy or yyyyMM")
    year = int(cum_ym[:4]) if cum_ym else call.clock.today().year
    reply = await call.stubs.settlement.GetAccumulators(
        pb.GetAccumulatorsRequest(psn_no=psn_no, insutype=insutype, year=year, hospital=call.principal.code),
        timeout=call.timeout_s)
    rows = []
    for a in reply.accumulators:
        count = a.key.startswith("admissions")  # counts, not fen
        rows.append({"insutype": reply.insutype or insutype, "year": str(reply.year or year), "cum_ym": cum_ym,
                     "cum_type_code": a.key, "cum": Decimal(a.amount) if count else yuan(a.amount),
                     "cap": "" if a.cap < 0 else (Decimal(a.cap) if count else yuan(a.cap))})
    return {"psn_no": reply.psn_no or psn_no, "insutype": reply.insutype, "year": reply.year or year,
            "balc": yuan(reply.account_balance_fen), "cuminfo": rows}
