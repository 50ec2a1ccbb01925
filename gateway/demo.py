"""`medsettle demo`: a scripted HIS session against the running suite, printed step by step.

Three demo persons (infra/reference/README.md): an employee's outpatient visit paid partly from
the personal account, a local resident's inpatient stay, and an out-of-province dialysis visit
under a long-term filing. Every call goes through the real gateway (signed, signed in).

The demo data is this year's (infra/reference/make_demo.py), visits are dated from the Beijing
clock, and each settlement is cancelled again at the end of its visit (2208 / 2305, which undo
its accumulators; nothing is deleted), so every run shows the same figures however often the
demo was played before.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from gateway.hisclient import HisClient
from services.common.clock import Clock


def _now(clock: Clock, delta_h: float = 0) -> str:
    return (clock.naive_now() + dt.timedelta(hours=delta_h)).strftime("%Y-%m-%d %H:%M:%S")


def _fee(sn: str, mdtrt_id: str, psn_no: str, code: str, pric: str, cnt: int, when: str) -> dict:
    from decimal import Decimal

    amount = str((Decimal(pric) * cnt).quantize(Decimal("0.01")))
    return {"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no, "fee_ocur_time": when, "med_list_codg": code,
            "det_item_fee_sumamt": amount, "cnt": str(cnt), "pric": pric}


class _Step:
    def __init__(self, his: HisClient, insuplc: str):
        self.his, self.insuplc = his, insuplc

    async def __call__(self, infno: str, label: str, input: dict) -> dict:
        reply = await self.his.call(infno, input, insuplc_admdvs=self.insuplc)
        if reply["infcode"] != 0:
            print(f"  {infno} {label}: REFUSED {reply['err_msg']}")
            raise SystemExit(1)
        print(f"  {infno} {label}: ok")
        return reply["output"]


_ROWS = (
    ("medfee_sumamt", "医疗费总额", "total bill"),
    ("fulamt_ownpay_amt", "全自费", "fully self-paid (丙 / not in catalogue)"),
    ("overlmt_selfpay", "超限价自费", "above the price cap"),
    ("preselfpay_amt", "先行自付", "乙 pre-self-pay"),
    ("inscp_scp_amt", "符合政策范围", "in-policy amount"),
    ("act_pay_dedc", "起付线", "deductible applied"),
    ("hifp_pay", "统筹基金", "basic pooled fund"),
    ("hifmi_pay", "大病保险", "critical illness"),
    ("hifob_pay", "大额补助", "large-amount subsidy"),
    ("cvlserv_pay", "公务员补助", "civil-servant subsidy"),
    ("maf_pay", "医疗救助", "medical assistance"),
    ("hifes_pay", "企业补充", "enterprise supplementary"),
    ("oth_pay", "其他基金", "other funds"),
    ("fund_pay_sumamt", "基金支付合计", "all funds"),
    ("psn_part_amt", "个人负担", "patient's share"),
    ("acct_pay", "个人账户", "  of which personal account"),
    ("psn_cash_pay", "现金支付", "  of which cash"),
)


def _show(title: str, out: dict) -> None:
    s = out["setlinfo"]
    ratio = s.get("medsettle", {}).get("pool_ratio", "")
    print(f"\n      {title}: setl_id {s.get('setl_id') or '(pre-settlement, nothing booked)'}"
          f"  ratio {ratio}  {s.get('region_class', '')} {s.get('filing_group', '')}".rstrip())
    print("      " + "-" * 58)
    for key, zh, en in _ROWS:
        value = s.get(key, 0)  # a JSON number (Decimal: the client reads with parse_float=Decimal)
        if key in ("medfee_sumamt", "inscp_scp_amt", "fund_pay_sumamt", "psn_part_amt") or value not in (0, "", None):
            print(f"      {zh + ' ' + en:<44}{str(value):>14}")
    print("      " + "-" * 58)
    for d in out.get("setldetail", []):
        print(f"      fund {d.get('fund_pay_type')} {d.get('fund_pay_type_name', '')}: {d.get('fund_payamt')}")
    for step in out.get("explanation", [])[:12]:
        text = step.get("text") if isinstance(step, dict) else str(step)
        print(f"      · {text}")


async def _visit(url: str, doc: dict, clock: Clock, *, code: str, psn_no: str, insutype: str, med_type: str, dise: str,
                 items: list[tuple[str, str, int]], acct: str, insuplc: str, title: str) -> None:
    h = next(x for x in doc["hospitals"] if x["code"] == code)
    p = next(x for x in doc["persons"] if x["psn_no"] == psn_no)
    print(f"\n== {title}\n   {p['name']} ({psn_no}) at {h['name']}")
    async with HisClient(url, fixmedins_code=code, paasid=h["paasid"], secret=h["secret"], admdvs=h["admdvs"],
                         fixmedins_name=h["name"], clock=clock) as his:
        await his.sign_in()
        print("  9001 sign-in: ok")
        step = _Step(his, insuplc)
        cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"]}
        await step("1101", "person info", {"data": cert})
        inpatient = med_type.startswith("2")
        if inpatient:
            mdtrt_id = (await step("2401", "admission", {"mdtrtinfo": {
                "psn_no": psn_no, "insutype": insutype, "begntime": _now(clock, -72), "med_type": med_type,
                "ipt_no": "ZY" + his.last_msgid[-8:], "dise_codg": dise, **cert}}))["result"]["mdtrt_id"]
            for day, chunk in enumerate((items[:1], items[1:]), 1):
                await step("2301", f"fee details day {day}", {"feedetail": [
                    _fee(f"D{day}-{i}", mdtrt_id, psn_no, c, pr, n, _now(clock, -72 + 24 * day)) for i, (c, pr, n) in
                    enumerate(chunk)]})
            await step("2402", "discharge", {"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no,
                                                          "endtime": _now(clock, -1), "dise_codg": dise}})
        else:
            mdtrt_id = (await step("2201", "register", {"data": {
                "psn_no": psn_no, "insutype": insutype, "begntime": _now(clock, -1), "ipt_otp_no": "MZ" + his.last_msgid[-8:],
                **cert}}))["data"]["mdtrt_id"]
            await step("2203", "diagnosis", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no,
                                                           "med_type": med_type, "dise_codg": dise}})
            await step("2204", "fee details", {"feedetail": [
                _fee(f"F{i}", mdtrt_id, psn_no, c, pr, n, _now(clock, -1)) for i, (c, pr, n) in enumerate(items)]})
        from decimal import Decimal
        total = sum(Decimal(pr) * n for _, pr, n in items)
        data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": insutype, "medfee_sumamt": f"{total:.2f}",
                "psn_setlway": "01", "acct_used_flag": acct, **cert}
        if not inpatient:
            data["med_type"] = med_type
        pre = await step("2303" if inpatient else "2206", "pre-settlement", {"data": data})
        print(f"      pre-settlement says the funds pay {pre['setlinfo']['fund_pay_sumamt']}")
        setl = await step("2304" if inpatient else "2207", "settlement", {"data": data})
        setl_id = setl["setlinfo"]["setl_id"]
        try:
            _show("settled", setl)
            await step("5203", "settlement query", {"data": {"psn_no": psn_no, "setl_id": setl_id}})
        finally:
            # Undo it (a new reversing record; accumulators back), so the next run shows the same.
            await step("2305" if inpatient else "2208", "cancel settlement (so the demo can be replayed)",
                       {"data": {"psn_no": psn_no, "setl_id": setl_id, "mdtrt_id": mdtrt_id}})


async def _play(url: str, clock: Clock | None = None) -> None:
    from infra.reference.make_demo import document_for_today

    clock = clock or Clock()
    doc = document_for_today(clock)
    await _visit(url, doc, clock, code="H33060200001", psn_no="330600000000000004", insutype="310", med_type="11",
                 dise="J06.900", items=[("XC10AAA089A001010104327", "12.50", 28), ("C03010101001001123456", "40.00", 1)],
                 acct="1", insuplc="330600", title="Outpatient, employee, personal account")
    await _visit(url, doc, clock, code="H33060200001", psn_no="330600000000000001", insutype="390", med_type="21",
                 dise="I21.000", items=[("C03010101001001123456", "2500.00", 1), ("001104000010000", "50.00", 350)],
                 acct="0", insuplc="330600", title="Inpatient stay, local resident")
    await _visit(url, doc, clock, code="H65010200001", psn_no="330600000000000006", insutype="390", med_type="14",
                 dise="M07803", items=[("003105000010000", "450.00", 6)], acct="0", insuplc="330600",
                 title="Out-of-province dialysis, long-term filing, monthly cap")


def play(gateway_url: str, database_url: str | None = None) -> None:
    """Run the scripted demo (database_url is accepted for the CLI's signature; the demo uses HTTP only)."""
    asyncio.run(_play(gateway_url))


if __name__ == "__main__":
    import sys

    play(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
