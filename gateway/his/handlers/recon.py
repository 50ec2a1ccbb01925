"""Reconciliation and clearing: 3201 totals, 3202 detail, 3203 clearing application."""

from __future__ import annotations

import re

from gateway.his import envelope as f
from gateway.his.convert import AmountError, proto_to_his, yuan_to_fen
from gateway.his.dispatch import Call, transaction
from medsettle.settlement.v1 import settlement_pb2 as pb

CLR_TYPES = ("11", "21", "41")
SETLYM_RE = re.compile(r"^20[0-9]{2}(0[1-9]|1[0-2])$")


def _period(d: dict, p: str, begin_key: str, end_key: str) -> tuple[str, str]:
    begin, end = f.date(d, begin_key, p), f.date(d, end_key, p)
    if end < begin:
        raise f.FieldError(f"{p}.{end_key}", f"结束日期早于开始日期 ({end_key} is before {begin_key})")
    return begin, end


def _signed_money(r: dict, key: str, p: str) -> int:
    """Detail rows of reversed settlements carry negated amounts."""
    v = r.get(key)
    if v is None or v == "":
        raise f.FieldError(f"{p}.{key}", "必填金额 (required amount)")
    try:
        return yuan_to_fen(v, allow_negative=True)
    except AmountError as e:
        raise f.FieldError(f"{p}.{key}", str(e)) from None


@transaction("3201", "医药机构费用结算对总账 totals reconciliation")
async def reconcile_totals(call: Call) -> dict:
    d, p = f.data_of(call.input)
    begin, end = _period(d, p, "stmt_begndate", "stmt_enddate")
    req = pb.ReconcileTotalsRequest(
        caller=call.caller, insutype=f.insutype(d, p), clr_type=f.text(d, "clr_type", p, max_len=2, choices=CLR_TYPES),
        setl_optins=f.text(d, "setl_optins", p, required=False, max_len=30), stmt_begndate=begin, stmt_enddate=end,
        medfee_sumamt_fen=_signed_money(d, "medfee_sumamt", p), fund_pay_sumamt_fen=_signed_money(d, "fund_pay_sumamt", p),
        acct_pay_fen=_signed_money(d, "acct_pay", p), fixmedins_setl_cnt=f.integer(d, "fixmedins_setl_cnt", p))
    reply = await call.stubs.settlement.ReconcileTotals(req, timeout=call.timeout_s)
    out = proto_to_his(reply, exact=True)
    return {"stmtinfo": {"setl_optins": reply.setl_optins, "stmt_rslt": reply.stmt_rslt,
                         "stmt_rslt_dscr": reply.stmt_rslt_dscr},
            "platform": {k: out[k] for k in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "setl_cnt")}}


@transaction("3202", "医药机构费用结算对明细账 detail reconciliation")
async def reconcile_detail(call: Call) -> dict:
    d, p = f.data_of(call.input)
    begin, end = _period(d, p, "stmt_begndate", "stmt_enddate")
    # The real platform passes a file (9101/9102); here the rows come as a JSON list.
    if "detail" in call.input:
        rows, rp = f.lst(call.input, "detail", "input", max_items=20000, min_items=0), "input.detail"
    else:
        rows, rp = f.lst(d, "detail", p, max_items=20000, min_items=0), f"{p}.detail"
    detail = []
    for i, r in enumerate(rows):
        q = f"{rp}[{i}]"
        detail.append(pb.DetailRow(
            setl_id=f.ident(r, "setl_id", q), mdtrt_id=f.ident(r, "mdtrt_id", q, required=False),
            psn_no=f.psn_no(r, q, required=False), medfee_sumamt_fen=_signed_money(r, "medfee_sumamt", q),
            fund_pay_sumamt_fen=_signed_money(r, "fund_pay_sumamt", q), acct_pay_fen=_signed_money(r, "acct_pay", q),
            refd_setl_flag=f.text(r, "refd_setl_flag", q, required=False, max_len=1, choices=("0", "1")) or "0"))
    req = pb.ReconcileDetailRequest(
        caller=call.caller, stmt_begndate=begin, stmt_enddate=end, insutype=f.insutype(d, p, required=False),
        clr_type=f.text(d, "clr_type", p, required=False, max_len=2, choices=CLR_TYPES), rows=detail)
    reply = await call.stubs.settlement.ReconcileDetail(req, timeout=call.timeout_s)
    # The platform's answer is a file (fileinfo, fetched with 9102); here the rows come back inline
    # under result, and fileinfo names no file.
    return {"fileinfo": {"file_qury_no": "", "filename": "", "dld_endtime": ""},
            "result": [{"setl_id": r.setl_id, "stmt_rslt": r.stmt_rslt, "memo": r.memo} for r in reply.results],
            "agreed": reply.agreed, "disagreed": reply.disagreed}


@transaction("3203", "清算申请 clearing application")
async def apply_clearing(call: Call) -> dict:
    d, p = f.data_of(call.input)
    begin, end = _period(d, p, "begndate", "enddate")
    medfee = _signed_money(d, "medfee_sumamt", p)
    if d.get("med_sumfee") not in (None, ""):
        _signed_money(d, "med_sumfee", p)
    req = pb.ApplyClearingRequest(
        caller=call.caller, clr_type=f.text(d, "clr_type", p, max_len=2, choices=CLR_TYPES),
        clr_way=f.text(d, "clr_way", p, required=False, max_len=6),
        setlym=f.text(d, "setlym", p, max_len=6, min_len=6, pattern=SETLYM_RE, what="yyyyMM"),
        psntime=f.integer(d, "psntime", p), medfee_sumamt_fen=medfee,
        fund_appy_sum_fen=_signed_money(d, "fund_appy_sum", p), cash_payamt_fen=_signed_money(d, "cash_payamt", p),
        acct_pay_fen=_signed_money(d, "acct_pay", p), begndate=begin, enddate=end)
    reply = await call.stubs.settlement.ApplyClearing(req, timeout=call.timeout_s)
    out = proto_to_his(reply, exact=True)
    del out["replayed"]  # the 3203 output carries no replayed flag (only the settlement outputs do)
    return {"result": out}
