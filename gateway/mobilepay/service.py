"""Mobile-payment use cases: create an order (6201), pay it (6202 or the patient's confirm on the
phone), resolve an unfinished one (6301, the page), refund (6203), cancel (6401).

Exactly once: the settlement is booked by the settlement service's Settle with msgid
`PAY<payOrdId>` (its journal makes a retry a replay) and the declared split of the stored
pre-settlement; the order's state changes are conditional (repository.move). The cash part is
charged before the settlement is booked, under the key `<payOrdId>.<attempt>`: a declined charge
books nothing, a charge whose answer timed out leaves the order `pay_pending` until the provider
says what happened, a settlement refused after a charge refunds the charge.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.his import errors
from gateway.mobilepay.orders import PAYABLE_STATES, State, derived_msgid
from gateway.mobilepay.provider import PaymentProvider, ProviderTimeout
from gateway.mobilepay.repository import NewOrder, Order, OrderRepository
from medsettle.common.v1 import common_pb2
from medsettle.settlement.v1 import settlement_pb2 as pb
from services.common.clock import Clock

log = logging.getLogger("gateway.mobilepay")

PAY_OPTER = "mobilepay"
STUCK_PAYING_S = 60  # a `paying` order older than this lost its attempt (a crash): ask the provider


class OrderRefused(Exception):
    """A use case's refusal: outcome (catalogued), field, message."""

    def __init__(self, outcome: str, field: str, message: str) -> None:
        super().__init__(message)
        self.outcome, self.field, self.message = outcome, field, message


@dataclass
class MobilePay:
    repo: OrderRepository
    provider: PaymentProvider
    settlement: Any          # the settlement service's gRPC stub
    clock: Clock
    secret: str              # the payToken HMAC key (the gateway's session secret)
    timeout_s: float = 5.0
    public_url: str = ""     # GATEWAY_PUBLIC_URL: where the patient's phone reaches the gateway

    def cashier_url(self, pay_ord_id: str) -> str:
        """cashierUrl of 6201: the patient's pay page."""
        return f"{self.public_url.rstrip('/')}/m/orders/{pay_ord_id}"

    # --- reads ------------------------------------------------------------------------------

    async def get(self, pay_ord_id: str) -> Order | None:
        return await self.repo.get(pay_ord_id)

    async def insert(self, order: NewOrder) -> bool:
        return await self.repo.insert(order, self.clock.now())

    # --- pay --------------------------------------------------------------------------------

    @staticmethod
    def charge_key(o: Order) -> str:
        return f"{o.pay_ord_id}.{o.attempt}"

    async def pay(self, pay_ord_id: str) -> Order:
        """Pays the order once: a second call (double click, 6202 after the phone's confirm, two at
        once) finds it moving or done and only resolves it."""
        o = await self._must(pay_ord_id)
        if o.state_ in PAYABLE_STATES:
            claimed = await self.repo.move(o.pay_ord_id, PAYABLE_STATES, State.PAYING, self.clock.now(),
                                           message="支付处理中 / the payment is being processed")
            if claimed is None:  # someone else claimed it first
                return await self.resolve(await self._must(pay_ord_id))
            return await self._charge(claimed)
        return await self.resolve(o)

    async def _charge(self, o: Order) -> Order:
        split = o.split
        if split.cash == 0:  # nothing to charge: the funds and the account pay everything
            moved = await self.repo.move(o.pay_ord_id, {State.PAYING}, State.CHARGED, self.clock.now(), charge_ref="")
            return await self._settle(moved) if moved is not None else await self._must(o.pay_ord_id)
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await self.provider.charge(self.charge_key(o), split.cash, order_total_fen=split.medfee,
                                                    description=f"医保移动支付 {o.med_org_ord}")
        except (ProviderTimeout, TimeoutError):
            return await self._pending(o)
        except Exception:  # noqa: BLE001 — the provider failed: the charge's outcome is unknown
            log.exception("payment provider failed", extra={"pay_ord_id": o.pay_ord_id})
            return await self._pending(o)
        return await self._after_charge(o, {State.PAYING}, result.status, result.reference, result.message)

    async def _pending(self, o: Order) -> Order:
        moved = await self.repo.move(o.pay_ord_id, {State.PAYING}, State.PAY_PENDING, self.clock.now(),
                                     message="支付结果待确认, 请稍后查询 / the payment's outcome is not known yet: "
                                             "query again shortly")
        return moved or await self._must(o.pay_ord_id)

    async def _after_charge(self, o: Order, expected: set[State], status: str, reference: str, message: str) -> Order:
        now = self.clock.now()
        if status == "succeeded":
            moved = await self.repo.move(o.pay_ord_id, expected, State.CHARGED, now, charge_ref=reference,
                                         message="自费部分已支付, 医保结算中 / cash paid, settling")
            return await self._settle(moved) if moved is not None else await self._must(o.pay_ord_id)
        if status in ("declined", "none"):
            why = message or "未扣款 / no charge was made"
            moved = await self.repo.move(o.pay_ord_id, expected, State.FAILED, now,
                                         message=f"支付失败, 可重试: {why} / the payment failed and may be retried")
            return moved or await self._must(o.pay_ord_id)
        return o  # still unknown

    async def resolve(self, o: Order) -> Order:
        """Finishes what an earlier attempt left: asks the provider about a pending charge, books the
        settlement of a charged order. Anything else is returned as it is."""
        state = o.state_
        if state is State.PAYING:
            age = (self.clock.now() - o.updated_at).total_seconds()
            if age < STUCK_PAYING_S:
                return o  # another attempt is under way right now
            state = State.PAY_PENDING
        if state is State.PAY_PENDING:
            try:
                result = await self.provider.status(self.charge_key(o))
            except Exception:  # noqa: BLE001 — still unknown; the next query asks again
                log.exception("payment provider status failed", extra={"pay_ord_id": o.pay_ord_id})
                return o
            return await self._after_charge(o, {State.PAY_PENDING, State.PAYING}, result.status, result.reference,
                                            result.message)
        if state is State.CHARGED:
            return await self._settle(o)
        return o

    def _settle_request(self, o: Order, kind: str) -> pb.SettleRequest:
        return pb.SettleRequest(
            caller=common_pb2.Caller(fixmedins_code=o.fixmedins_code, msgid=derived_msgid(kind, o.pay_ord_id),
                                     infno="6202", opter=PAY_OPTER),
            mdtrt_id=o.mdtrt_id, psn_no=o.psn_no, insutype=o.insutype, med_type=o.med_type,
            medfee_sumamt_fen=o.medfee_fen, acct_used_flag=o.acct_used_flag, mdtrt_cert_type=o.cert_type,
            mdtrt_cert_no=o.cert_no, psn_setlway=o.psn_setlway, chrg_bchno=o.chrg_bchno,
            has_declared_split=True, fulamt_ownpay_amt_fen=o.fulamt_ownpay_fen,
            overlmt_selfpay_fen=o.overlmt_selfpay_fen, preselfpay_amt_fen=o.preselfpay_fen,
            inscp_scp_amt_fen=o.inscp_scp_fen)

    async def _settle(self, o: Order) -> Order:
        try:
            reply = await self.settlement.Settle(self._settle_request(o, "PAY"), timeout=self.timeout_s)
        except grpc.RpcError as e:
            failure = errors.from_rpc_error(e)
            if failure.retriable:  # outcome unknown: stays charged; the next query books it (same msgid)
                log.warning("settle for a pay order failed", extra={"pay_ord_id": o.pay_ord_id,
                                                                      "outcome": failure.outcome})
                return o
            return await self._refund_failed_settlement(o, failure.err_msg())
        s = reply.setlinfo
        if (s.fund_pay_sumamt_fen, s.acct_pay_fen, s.psn_cash_pay_fen) != (o.fund_fen, o.acct_fen, o.cash_fen):
            # has_declared_split makes the service refuse a differing result; this is the belt to its braces.
            log.error("settlement differs from the order's split", extra={"pay_ord_id": o.pay_ord_id})
        moved = await self.repo.move(o.pay_ord_id, {State.CHARGED}, State.PAID, self.clock.now(), setl_id=s.setl_id,
                                     message="支付完成 / paid")
        return moved or await self._must(o.pay_ord_id)

    async def _refund_failed_settlement(self, o: Order, why: str) -> Order:
        ref = ""
        if o.cash_fen > 0:
            try:
                ref = await self.provider.refund(self.charge_key(o), o.cash_fen)
            except Exception:  # noqa: BLE001 — stays charged: the next query tries the refund again
                log.exception("refund after a refused settlement failed", extra={"pay_ord_id": o.pay_ord_id})
                return o
        moved = await self.repo.move(
            o.pay_ord_id, {State.CHARGED}, State.FAILED, self.clock.now(), refund_ref=ref or None,
            message=f"医保结算被拒绝, 已退回自费款: {why} / the settlement was refused and the cash part refunded; "
                    "the hospital may cancel (6401) and upload again (6201)")
        return moved or await self._must(o.pay_ord_id)

    # --- refund (6203) and cancel (6401) ----------------------------------------------------------

    async def refund(self, o: Order, app_refd_sn: str, opter: str) -> Order:
        if o.state_ is State.REFUNDED:
            return o
        if o.state_ is State.PAID:
            moved = await self.repo.move(o.pay_ord_id, {State.PAID}, State.REFUNDING, self.clock.now(),
                                         app_refd_sn=app_refd_sn, message="退款处理中 / refund in progress")
            o = moved or await self._must(o.pay_ord_id)
        if o.state_ is State.REFUNDED:
            return o
        if o.state_ is not State.REFUNDING:
            raise OrderRefused("ORDER_NOT_REFUNDABLE", "payOrdId",
                               f"订单状态为 {o.state}, 只能退已支付完成的订单 (the order is {o.state}: only a paid order "
                               "can be refunded)")
        # Reverse the settlement (a reversal record, never a delete); a retry replays (same msgid).
        cancel = await self.settlement.CancelSettlement(pb.CancelSettlementRequest(
            caller=common_pb2.Caller(fixmedins_code=o.fixmedins_code, msgid=derived_msgid("REF", o.pay_ord_id),
                                     infno="6203", opter=PAY_OPTER),
            setl_id=o.setl_id, mdtrt_id=o.mdtrt_id, psn_no=o.psn_no), timeout=self.timeout_s)
        reversal_id = cancel.setlinfo.setl_id
        await self.repo.record_refund_settlement(o.pay_ord_id, reversal_id, self.clock.now())
        ref = await self.provider.refund(self.charge_key(o), o.cash_fen) if o.cash_fen > 0 else ""
        moved = await self.repo.move(o.pay_ord_id, {State.REFUNDING}, State.REFUNDED, self.clock.now(),
                                     refund_setl_id=reversal_id, refund_ref=ref,
                                     message="已退款: 医保结算已冲销, 自费款已退回 / refunded: the settlement was reversed "
                                             "and the cash part returned")
        return moved or await self._must(o.pay_ord_id)

    async def cancel(self, o: Order) -> Order:
        if o.state_ is State.CANCELLED:
            return o
        if o.state_ not in PAYABLE_STATES:
            raise OrderRefused("ORDER_NOT_CANCELLABLE", "payOrdId",
                               f"订单状态为 {o.state}, 只能撤销未支付的订单; 已支付的请用 6203 退费 (the order is "
                               f"{o.state}: only an unpaid order can be cancelled; refund a paid one with 6203)")
        moved = await self.repo.move(o.pay_ord_id, PAYABLE_STATES, State.CANCELLED, self.clock.now(),
                                     message="订单已撤销 / the order was cancelled")
        if moved is None:
            raise OrderRefused("ORDER_NOT_CANCELLABLE", "payOrdId",
                               "订单正在支付, 不能撤销 (the order is being paid right now and cannot be cancelled)")
        return moved

    async def _must(self, pay_ord_id: str) -> Order:
        o = await self.repo.get(pay_ord_id)
        if o is None:
            raise OrderRefused("PAY_ORDER_NOT_FOUND", "payOrdId", f"无此支付订单 {pay_ord_id} (no such pay order)")
        return o
