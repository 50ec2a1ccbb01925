"""Mobile payment (医保移动支付, scan-to-pay): 6201 fee upload → pay order, 6202 place the payment,
6203 refund, 6301 query the order's result, 6401 cancel an unpaid order. camelCase keys as the
Hunan spec ([H], /work/shared/NHSA_MOBILE.md); amounts exact JSON numbers; docs/MOBILE_PAYMENT.md
says where we follow [H] and where we chose our own shape.

The use cases are gateway/mobilepay/service.py; these handlers only read the fields, call them and
shape the output. Every refusal is a FieldError naming the field (an HTTP 200 failure envelope).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import grpc

from gateway.his import envelope as f
from gateway.his import errors
from gateway.his.dispatch import Call, transaction
from gateway.his.handlers.fees import parse_fee_rows
from gateway.his.jsonnum import yuan
from gateway.mobilepay.orders import (
    Split,
    derived_msgid,
    ord_stas,
    pay_ord_id,
    pay_token,
    refund_matches,
    token_hash,
    token_matches,
)
from gateway.mobilepay.repository import NewOrder, Order
from gateway.mobilepay.service import MobilePay, OrderRefused
from medsettle.common.v1 import common_pb2
from medsettle.settlement.v1 import settlement_pb2 as pb
from services.common.clock import BEIJING as _BEIJING
from services.common.grpcutil import outcome_of

FEE_TYPES = ("01", "02", "03", "04", "05", "06", "07", "08", "09")
REFD_TYPES = ("ALL", "CASH", "HI")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_SNAKE = re.compile(r"_([a-z0-9])")


def snake(key: str) -> str:
    """detItemFeeSumamt -> det_item_fee_sumamt (the 2204 names of 6201's feedetailList keys)."""
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), key)


def camel(key: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


def _service(call: Call) -> MobilePay:
    if call.mobilepay is None:
        raise RuntimeError("mobile payment is not configured in this gateway")
    return call.mobilepay


def _org(call: Call, d: dict, p: str, *, required: bool = True) -> None:
    org = f.text(d, "orgCodg", p, required=required, max_len=40)
    if org and org != call.principal.code:
        raise f.FieldError(f"{p}.orgCodg", f"orgCodg {org!r} 不是本机构 (is not the authenticated hospital "
                                           f"{call.principal.code})", outcome="HOSPITAL_MISMATCH")


def _digest(node: Any) -> str:
    return hashlib.sha256(json.dumps(node, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def order_output(o: Order, call: Call | None = None) -> dict:
    """6202/6301's output: ordStas and the four amounts ([H]), our own details under extData."""
    s = o.split
    hospital = call.reference.hospital(o.fixmedins_code) if call is not None and call.reference else None
    return {"payOrdId": o.pay_ord_id, "ordStas": ord_stas(o.state_), "medOrgOrd": o.med_org_ord,
            "orgCodg": o.fixmedins_code, "orgName": hospital.name if hospital else "", "setlType": "ALL",
            "feeSumamt": yuan(s.medfee), "ownPayAmt": yuan(s.cash),
            "psnAcctPay": yuan(s.acct), "fundPay": yuan(s.fund),
            "traceTime": (o.paid_at or o.updated_at).astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "extData": {"state": o.state, "message": o.message, "setlId": o.setl_id or "", "mdtrtId": o.mdtrt_id,
                        "psnNo": o.psn_no, "refundSetlId": o.refund_setl_id or ""}}


async def _named(rpc: Any, p: str) -> Any:
    """A settlement call of 6201: a refusal naming a 2xxx field (psn_no) names 6201's (input.data.psnNo)."""
    try:
        return await rpc
    except grpc.RpcError as e:
        outcome, field = outcome_of(e)
        failure = errors.from_rpc_error(e)
        if failure.retriable or not field:
            raise
        raise f.FieldError(f"{p}.{camel(field)}", failure.message, outcome=failure.outcome) from None


def _refused(e: OrderRefused, p: str) -> f.FieldError:
    return f.FieldError(f"{p}.{e.field}", e.message, outcome=e.outcome)


async def _order_of(call: Call, d: dict, p: str, *, token: bool) -> Order:
    """The order named by payOrdId, if it is this hospital's (another's is 'not found': nothing is
    revealed) and, when `token`, the payToken is its own."""
    oid = f.text(d, "payOrdId", p, max_len=40)
    tok = f.text(d, "payToken", p, max_len=64) if token else ""
    o = await _service(call).get(oid)
    if o is None or o.fixmedins_code != call.principal.code:
        raise f.FieldError(f"{p}.payOrdId", f"无此支付订单 {oid!r} (no such pay order at this hospital)",
                           outcome="PAY_ORDER_NOT_FOUND")
    if token and not token_matches(tok, o.pay_token_hash):
        raise f.FieldError(f"{p}.payToken", "payToken 与 6201 返回的不符 (payToken is not the one 6201 returned)",
                           outcome="PAY_TOKEN_MISMATCH")
    return o


# ----------------------------------------------------------------------------- 6201

def _fee_rows(d: dict, p: str, mdtrt_id: str, psn_no: str) -> tuple[str, list[pb.FeeDetail]]:
    rows = f.lst(d, "feedetailList", p, max_items=2000)
    read = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise f.FieldError(f"{p}.feedetailList[{i}]", "应为 JSON 对象 (must be a JSON object)")
        row = {snake(k): v for k, v in r.items()}
        row.setdefault("mdtrt_id", mdtrt_id or "TO-REGISTER")  # empty mdtrtId: the visit is registered below
        row.setdefault("psn_no", psn_no)
        if row.get("psn_no") != psn_no:
            raise f.FieldError(f"{p}.feedetailList[{i}].psnNo", "明细的 psnNo 须与订单 psnNo 相同 (each item's psnNo "
                                                                 "must be the order's psnNo)")
        if mdtrt_id and row.get("mdtrt_id") != mdtrt_id:
            raise f.FieldError(f"{p}.feedetailList[{i}].mdtrtId", "明细的 mdtrtId 须与订单 mdtrtId 相同 (each item's "
                                                                   "mdtrtId must be the order's mdtrtId)")
        read.append(row)
    try:
        _, _, items = parse_fee_rows(read, f"{p}.feedetailList")
    except f.FieldError as e:
        head, _, last = e.field.rpartition(".")
        e.field = f"{head}.{camel(last)}"
        raise
    return mdtrt_id, items


@transaction("6201", "费用明细上传 mobile-payment order (fee upload)")
async def upload_order(call: Call) -> dict:
    svc = _service(call)
    d, p = f.data_of(call.input)
    _org(call, d, p)
    psn_no = f.text(d, "psnNo", p, max_len=30, pattern=f.PSN_NO_RE, what="letters and digits")
    insutype = f.text(d, "insutype", p, max_len=6, choices=f.INSUTYPES)
    med_org_ord = f.text(d, "medOrgOrd", p, max_len=40)
    begntime = f.timestamp(d, "begntime", p)
    f.text(d, "idNo", p, max_len=30)
    f.text(d, "userName", p, max_len=50)
    f.psn_cert_type(d, p, required=True, key="idType")  # idType uses psn_cert_type (NHSA_MOBILE)
    ec_token = f.text(d, "ecToken", p, max_len=600)
    ipt_otp_no = f.text(d, "iptOtpNo", p, max_len=30, pattern=f.IDENT_RE, what="letters, digits, _.:-")
    dept_name = f.text(d, "deptName", p, max_len=100)
    dept_code = f.text(d, "deptCode", p, required=False, max_len=30)
    f.text(d, "caty", p, max_len=30)
    mdtrt_id = f.text(d, "mdtrtId", p, required=False, max_len=30, pattern=f.IDENT_RE, what="letters, digits, _.:-")
    med_type = f.text(d, "medType", p, max_len=6, choices=("11", "12", "13", "14"))
    f.text(d, "feeType", p, max_len=2, choices=FEE_TYPES)
    medfee = f.money(d, "medfeeSumamt", p)
    assert medfee is not None
    acct_used = f.flag(d, "acctUsedFlag", p, required=True)
    setlway = f.psn_setlway(d, "psnSetlway", p)
    chrg_bchno = f.text(d, "chrgBchno", p, max_len=30, pattern=f.IDENT_RE, what="letters, digits, _.:-")
    f.text(d, "diseCodg", p, max_len=30)
    f.obj(d, "extData", p)
    f.lst(d, "diseinfoList", p, max_items=100)
    _, items = _fee_rows(d, p, mdtrt_id, psn_no)

    oid = pay_ord_id(call.principal.code, call.env.msgid)
    digest = _digest(d)
    token = pay_token(svc.secret, oid)
    existing = await svc.get(oid)
    if existing is not None:
        if existing.request_digest != digest:
            raise f.FieldError("msgid", "同一 msgid 请求内容不同, 请使用新的 msgid (same msgid, different 6201: send a new "
                                        "msgid)", outcome="MSGID_CONFLICT")
        return _created(svc, existing.pay_ord_id, token, existing.split, existing.mdtrt_id, replayed=True)

    def caller(kind: str) -> common_pb2.Caller:
        return common_pb2.Caller(fixmedins_code=call.principal.code, msgid=derived_msgid(kind, oid), infno="6201",
                                 opter=call.env.opter)

    st = call.stubs.settlement
    if not mdtrt_id:  # [H]: an empty mdtrtId has the platform register the visit itself
        visit = await _named(st.Register(pb.RegisterRequest(
            caller=caller("R"), psn_no=psn_no, insutype=insutype, kind="outpatient", med_type=med_type,
            begntime=begntime, mdtrt_cert_type="01", mdtrt_cert_no=ec_token, ipt_otp_no=ipt_otp_no,
            dept_code=dept_code, dept_name=dept_name, emergency=med_type == "13"), timeout=call.timeout_s), p)
        mdtrt_id = visit.mdtrt_id
    await _named(st.UploadFees(pb.UploadFeesRequest(caller=caller("U"), mdtrt_id=mdtrt_id, psn_no=psn_no,
                                                    feedetail=items), timeout=call.timeout_s), p)
    pre = await _named(st.PreSettle(pb.SettleRequest(
        caller=caller("P"), mdtrt_id=mdtrt_id, psn_no=psn_no, insutype=insutype, med_type=med_type,
        medfee_sumamt_fen=medfee, acct_used_flag=acct_used, mdtrt_cert_type="01", mdtrt_cert_no=ec_token,
        psn_setlway=setlway, chrg_bchno=chrg_bchno), timeout=call.timeout_s), p)
    s = pre.setlinfo
    split = Split(medfee=s.medfee_sumamt_fen, fund=s.fund_pay_sumamt_fen, acct=s.acct_pay_fen, cash=s.psn_cash_pay_fen,
                  hosp_part=s.hosp_part_amt_fen)
    presettle = {"psn_name": s.psn_name, "psn_type": s.psn_type, "insutype": s.insutype, "med_type": s.med_type,
                 "medfee_fen": s.medfee_sumamt_fen, "fund_fen": s.fund_pay_sumamt_fen, "acct_fen": s.acct_pay_fen,
                 "cash_fen": s.psn_cash_pay_fen, "hosp_part_fen": s.hosp_part_amt_fen, "hifp_fen": s.hifp_pay_fen,
                 "dedc_fen": s.act_pay_dedc_fen, "balc_fen": s.balc_fen,
                 "funds": [{"code": x.fund_pay_type, "name": x.fund_pay_type_name, "fen": x.fund_payamt_fen}
                           for x in pre.setldetail],
                 "explanation": [{"label": e.label, "text": e.text} for e in pre.explanation]}
    await svc.insert(NewOrder(
        pay_ord_id=oid, fixmedins_code=call.principal.code, msgid=call.env.msgid, request_digest=digest,
        pay_token_hash=token_hash(token), psn_no=psn_no, mdtrt_id=mdtrt_id, insutype=insutype, med_type=med_type,
        med_org_ord=med_org_ord, chrg_bchno=chrg_bchno, acct_used_flag=acct_used, psn_setlway=setlway,
        cert_type="01", cert_no=ec_token, split=split, fulamt_ownpay_fen=s.fulamt_ownpay_amt_fen,
        overlmt_selfpay_fen=s.overlmt_selfpay_fen, preselfpay_fen=s.preselfpay_amt_fen,
        inscp_scp_fen=s.inscp_scp_amt_fen, presettle=presettle))
    return _created(svc, oid, token, split, mdtrt_id, replayed=False)


def _created(svc: MobilePay, oid: str, token: str, split: Split, mdtrt_id: str, *, replayed: bool) -> dict:
    return {"payOrdId": oid, "payToken": token, "cashierUrl": svc.cashier_url(oid),
            "extData": {"mdtrtId": mdtrt_id, "ordStas": "1", "feeSumamt": yuan(split.medfee),
                        "fundPay": yuan(split.fund), "psnAcctPay": yuan(split.acct), "ownPayAmt": yuan(split.cash),
                        "replayed": replayed}}


# ----------------------------------------------------------------------------- 6202 / 6301

@transaction("6202", "支付下单 place the mobile payment")
async def place_payment(call: Call) -> dict:
    d, p = f.data_of(call.input)
    _org(call, d, p)
    o = await _order_of(call, d, p, token=True)
    mdtrt_id = f.text(d, "mdtrtId", p, max_len=30)
    if mdtrt_id != o.mdtrt_id:
        raise f.FieldError(f"{p}.mdtrtId", f"mdtrtId 不是该订单的就诊 (is not this order's visit {o.mdtrt_id})",
                           outcome="PAY_ORDER_MISMATCH")
    f.text(d, "orgBizSer", p, max_len=40)
    for k in ("payAuthNo", "ecAuthCode", "ecChnlAppId", "ecChnlUserId", "chrgBchno"):
        f.text(d, k, p, required=False, max_len=64)
    f.obj(d, "extData", p, required=False)
    try:
        o = await _service(call).pay(o.pay_ord_id)
    except OrderRefused as e:
        raise _refused(e, p) from None
    return order_output(o, call)


@transaction("6301", "医保订单结算结果查询 query the mobile-payment order")
async def query_order(call: Call) -> dict:
    d, p = f.data_of(call.input)
    _org(call, d, p)
    o = await _order_of(call, d, p, token=True)
    for k, n in (("idNo", 30), ("userName", 50)):
        f.text(d, k, p, required=False, max_len=n)
    f.psn_cert_type(d, p, key="idType")
    o = await _service(call).resolve(o)  # a pending charge is asked about, a charged order booked
    return order_output(o, call)


# ----------------------------------------------------------------------------- 6203 / 6401

@transaction("6203", "医保退费 refund the mobile-payment order")
async def refund_order(call: Call) -> dict:
    d, p = f.data_of(call.input)
    o = await _order_of(call, d, p, token=False)
    app_refd_sn = f.text(d, "appRefdSn", p, max_len=40, pattern=f.IDENT_RE, what="letters, digits, _.:-")
    f.text(d, "appRefdTime", p, max_len=14, min_len=14, pattern=f.COMPACT_TIME_RE, what="yyyyMMddHHmmss")
    totl = f.money(d, "totlRefdAmt", p)
    cash = f.money(d, "cashRefdAmt", p)
    acct = f.money(d, "psnAcctRefdAmt", p, required=False)
    fund = f.money(d, "fundRefdAmt", p, required=False)
    f.text(d, "ecToken", p, max_len=600)
    refd_type = f.text(d, "refdType", p, max_len=4, choices=REFD_TYPES)
    if refd_type != "ALL":
        raise f.FieldError(f"{p}.refdType", f"暂只支持全额退费 ALL, 不支持 {refd_type} (only a full refund, refdType ALL, "
                                            "is supported: the settlement and the cash part are refunded together)",
                           outcome="REFUND_TYPE_UNSUPPORTED")
    assert totl is not None and cash is not None
    wrong = refund_matches(o.split, totl_fen=totl, cash_fen=cash, acct_fen=acct, fund_fen=fund)
    if wrong is not None:
        raise f.FieldError(f"{p}.{wrong}", "退费金额须与订单一致 (a full refund must name the order's amounts: total "
                                           f"{yuan(o.split.medfee)}, cash {yuan(o.split.cash)}, account "
                                           f"{yuan(o.split.acct)}, fund {yuan(o.split.fund)})",
                           outcome="REFUND_AMOUNT_MISMATCH")
    if o.app_refd_sn and o.app_refd_sn != app_refd_sn:
        raise f.FieldError(f"{p}.appRefdSn", f"该订单已由退费流水 {o.app_refd_sn} 退费 (already refunded under another "
                                             "appRefdSn)", outcome="ORDER_NOT_REFUNDABLE")
    try:
        o = await _service(call).refund(o, app_refd_sn, call.env.opter)
    except OrderRefused as e:
        raise _refused(e, p) from None
    when = (o.refunded_at or o.updated_at).astimezone(_BEIJING)
    return {"refdSn": o.refund_ref or o.refund_setl_id or "", "hiFefdSn": o.refund_setl_id or "",
            "hiTrnsDate": when.strftime("%Y%m%d"), "hiTrnsTime": when.strftime("%H%M%S"),
            "refStatus": "SUCC" if o.state == "refunded" else "EXP",
            "extData": {"state": o.state, "message": o.message, "payOrdId": o.pay_ord_id,
                        "totlRefdAmt": yuan(o.split.medfee), "cashRefdAmt": yuan(o.split.cash)}}


@transaction("6401", "费用明细上传撤销 cancel the unpaid mobile-payment order")
async def cancel_order(call: Call) -> dict:
    d, p = f.data_of(call.input)
    _org(call, d, p)
    o = await _order_of(call, d, p, token=True)
    for k, n in (("idNo", 30), ("userName", 50)):
        f.text(d, k, p, required=False, max_len=n)
    f.psn_cert_type(d, p, key="idType")
    try:
        o = await _service(call).cancel(o)
    except OrderRefused as e:
        raise _refused(e, p) from None
    return {"success": True, "extData": {"state": o.state, "ordStas": ord_stas(o.state_)}}

