"""The settlement service layer: visits, fees, exactly-once settlement and reversal.

The gRPC servicer (server.py) hands requests here; the proto messages are this layer's DTOs
(the journal stores the serialized reply a retry gets back). Rules live in services.engine,
SQL in repository.py, double entry in ledger.py.

Exactly once: every mutating call claims (fixmedins_code, msgid) in the same transaction as its
effect. A retry with the same request digest gets the stored reply (replayed=true); the same
msgid with a different body is refused with MSGID_CONFLICT.

No cap exceeded: a settlement reads the person's accumulator row (with its version) before
BEGIN, the engine computes on it, and the transaction writes it back only if the version is
unchanged; otherwise it rolls back, re-reads and recomputes. After a few conflicts it falls back
to locking the row for the transaction, so a busy person still makes progress.

Round trips of a 2207: one read (repository.settle_state), the eligibility (and, cross-region,
filing) call, and ONE booking call (settlement.book_settlement, migration 0002: claim, version-
checked accumulators, visit, settlement, fund lines, ledger, fees in one implicit transaction).
No pooled connection is held across the gRPC hops.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from medsettle.settlement.v1 import settlement_pb2 as pb
from services.common.clock import BEIJING, Clock
from services.common.grpcutil import Refusal, conflict, forbidden, invalid, not_found, refused
from services.engine import InvariantViolated, SettlementRefused, split_items
from services.engine import reverse as engine_reverse
from services.engine import settle as engine_settle
from services.engine.model import Bill, FeeItem, SettlementContext, SettlementResult
from services.settlement import clearing, reconciliation
from services.settlement import repository as repo
from services.settlement.clearing import clearing_lock_key
from services.settlement.clients import EligibilityClient, FilingClient, person_from_snapshot
from services.settlement.codec import result_from_json, result_to_json
from services.settlement.ledger import entries_for

log = logging.getLogger(__name__)

# China Standard Time: setl_time, the settlement date and the clearing month are national
# business time, whatever the server's zone.
CST = BEIJING

OPTIMISTIC_ATTEMPTS = 3  # then lock the accumulator row (progress under contention)
MAX_ATTEMPTS = 8

INPATIENT_MED_TYPES = frozenset({"21", "22", "23", "24", "28"})

# infno of each effect when the caller does not name it (the gateway always does).
DEFAULT_INFNO = {"register": "2201", "cancel_visit": "2202", "diagnosis": "2203", "upload_fees": "2204",
                 "cancel_fees": "2205", "settle": "2207", "cancel_settlement": "2208", "discharge": "2402",
                 "undo_discharge": "2405", "reverse": "2601", "apply_clearing": "3203"}


def utcnow() -> dt.datetime:
    """The instant for a service built without a clock (the composition root passes one)."""
    return Clock().now()


def digest_of(request) -> bytes:
    """sha256 of the deterministic serialization of the whole request (caller included): a
    retry must carry the same content to get the stored reply."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


def new_id(prefix: str, now: dt.datetime) -> str:
    return f"{prefix}{now.astimezone(CST):%Y%m%d%H%M%S}{secrets.token_hex(5)}"


def parse_time(text: str, field: str) -> dt.datetime:
    text = (text or "").strip()
    try:
        if len(text) == 10:
            return dt.datetime.fromisoformat(text)
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - naive Beijing wall-clock time (HIS field)
    except ValueError:
        raise invalid("BAD_TIME", f"{field} 时间格式应为 yyyy-MM-dd HH:mm:ss，收到 {text!r}。 / {field} must be "
                      f"'yyyy-MM-dd HH:mm:ss', got {text!r}.", field) from None


def fmt_time(t: dt.datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def _refusal_from_engine(e: SettlementRefused) -> Refusal:
    return Refusal(e.outcome.value, e.message, e.field)  # the catalogue knows each engine outcome's kind


@dataclass
class _Prepared:
    """Everything a settlement needs that does not depend on the accumulators."""

    visit: Any
    bill: Bill
    person: Any
    insured_pool: Any
    treatment_pool: Any
    policy: Any
    catalogue: Any
    filing_group: str | None
    province_of: Any
    fee_sns: list[str]
    year: int
    med_type: str
    mid_settle: bool = False  # 中途结算: the admission stays open


class SettlementService:
    def __init__(self, pool: asyncpg.Pool, refs, eligibility: EligibilityClient, filing: FilingClient,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.pool = pool
        self.refs = refs
        self.eligibility = eligibility
        self.filing = filing
        self.clock = clock

    # ------------------------------------------------------------------------- journal helpers

    @staticmethod
    def _caller(caller, effect: str) -> tuple[str, str, str]:
        code, msgid = caller.fixmedins_code.strip(), caller.msgid.strip()
        if not code:
            raise invalid("FIELD_REQUIRED", "缺少定点医药机构编号 fixmedins_code。 / fixmedins_code is required.",
                          "fixmedins_code")
        if not msgid:
            raise invalid("FIELD_REQUIRED", "缺少报文 ID msgid（幂等键）。 / msgid (the idempotency key) is required.",
                          "msgid")
        return code, msgid, caller.infno.strip() or DEFAULT_INFNO[effect]

    @staticmethod
    def _replay(stored, digest: bytes, reply_cls, effect: str):
        """The stored reply of a retried request; a conflict when the msgid was used for another
        request. Both the effect and the digest must match: two request types (CancelVisit and
        UndoDischarge, say) can serialize to the same bytes."""
        if bytes(stored["digest"]) != digest or stored["effect"] != effect:
            raise conflict(
                "MSGID_CONFLICT",
                f"同一 msgid {stored['msgid']} 请求内容不同：该报文 ID 已用于交易 {stored['infno']}，请使用新的 msgid。"
                " / Same msgid, different body: this msgid was already used for another request; "
                "send a new msgid.", "msgid")
        reply = reply_cls.FromString(bytes(stored["reply"]))
        reply.replayed = True  # every mutating reply says so (settlement.proto)
        if reply_cls is pb.ReverseResponse and reply.HasField("settlement"):
            reply.settlement.replayed = True  # the gateway shows the reversal's settlement
        return reply

    async def _journaled(self, caller, request, effect: str, reply_cls,
                         work: Callable[[asyncpg.Connection, str], Awaitable[tuple[Any, dict]]]):
        """Run `work(conn, msgid)` in one transaction together with the msgid claim; store its reply.
        work returns (reply, journal fields: psn_no, mdtrt_id, setl_id, undo)."""
        code, msgid, infno = self._caller(caller, effect)
        digest = digest_of(request)
        async with self.pool.acquire() as conn:
            stored = await repo.get_transaction(conn, code, msgid)
            if stored is not None:
                return self._replay(stored, digest, reply_cls, effect)
            try:
                async with conn.transaction():
                    # Claim first: a concurrent duplicate waits here, then replays our reply.
                    await repo.claim(conn, code=code, msgid=msgid, infno=infno, digest=digest, effect=effect)
                    reply, meta = await work(conn, msgid)
                    await repo.set_reply(conn, code=code, msgid=msgid, reply=reply.SerializeToString(),
                                         setl_id=meta.get("setl_id", ""), mdtrt_id=meta.get("mdtrt_id", ""),
                                         undo=meta.get("undo"))
                return reply
            except repo.MsgidTaken:
                stored = await repo.get_transaction(conn, code, msgid)
                return self._replay(stored, digest, reply_cls, effect)

    def _hospital(self, code: str):
        h = self.refs.hospital(code)
        if h is None:
            raise forbidden("HOSPITAL_NOT_REGISTERED", f"定点医药机构 {code} 未登记，不能办理结算业务。 / Hospital {code} is "
                            "not a registered designated institution.", "fixmedins_code")
        return h

    @staticmethod
    def _own_visit(v, code: str, mdtrt_id: str, psn_no: str = ""):
        if v is None:
            raise not_found("VISIT_NOT_FOUND", f"就诊 {mdtrt_id} 不存在，请核对 mdtrt_id。 / Visit {mdtrt_id} not found.",
                            "mdtrt_id")
        if v["fixmedins_code"] != code:
            raise forbidden("OTHER_HOSPITAL", f"就诊 {mdtrt_id} 不属于本机构 {code}，不能操作。 / Visit {mdtrt_id} "
                            "belongs to another hospital.", "mdtrt_id")
        if psn_no and v["psn_no"] != psn_no:
            raise invalid("PSN_MISMATCH", f"人员编号 {psn_no} 与就诊 {mdtrt_id} 的参保人不符。 / psn_no does not "
                          "match the visit's person.", "psn_no")
        return v

    # ------------------------------------------------------------------------- visits

    @staticmethod
    def visit_reply(v) -> pb.Visit:
        return pb.Visit(
            mdtrt_id=v["mdtrt_id"], psn_no=v["psn_no"], insutype=v["insutype"], fixmedins_code=v["fixmedins_code"],
            kind=v["kind"], med_type=v["med_type"], begntime=fmt_time(v["begntime"]), endtime=fmt_time(v["endtime"]),
            status=v["status"], ipt_otp_no=v["ipt_otp_no"], dise_codg=v["dise_codg"], dise_name=v["dise_name"],
            emergency=v["emergency"], insured_pool=v["insured_pool"])

    async def register(self, req: pb.RegisterRequest) -> pb.Visit:
        code = req.caller.fixmedins_code.strip()
        kind = req.kind or "outpatient"
        if kind not in ("outpatient", "inpatient"):
            raise invalid("BAD_KIND", "kind 应为 outpatient 或 inpatient。 / kind must be outpatient or inpatient.", "kind")
        if not req.psn_no:
            raise invalid("FIELD_REQUIRED", "缺少人员编号 psn_no。 / psn_no is required.", "psn_no")
        if req.insutype not in ("310", "390"):
            raise invalid("BAD_INSUTYPE", f"险种 insutype 应为 310 或 390，收到 {req.insutype!r}。 / insutype must be "
                          "310 or 390.", "insutype")
        if kind == "inpatient" and req.med_type not in INPATIENT_MED_TYPES:
            raise invalid("BAD_MED_TYPE", f"住院登记的医疗类别应为 21–24 或 28，收到 {req.med_type!r}。 / An admission "
                          "needs med_type 21–24 or 28.", "med_type")
        begntime = parse_time(req.begntime, "begntime")
        self._caller(req.caller, "register")
        self._hospital(code)
        snap = await self.eligibility.snapshot(req.psn_no, req.insutype, begntime.date())
        if not snap.eligible:
            raise refused(snap.ineligible_outcome or "NOT_ELIGIBLE", snap.ineligible_message or
                          "参保人在就诊日无待遇资格。 / Not eligible on the visit date.", "psn_no")

        async def work(conn, msgid):
            v = await repo.insert_visit(conn, dict(
                mdtrt_id=new_id("M", self.clock()), fixmedins_code=code, psn_no=req.psn_no, insutype=req.insutype,
                insured_pool=snap.insured_pool, kind=kind, med_type=req.med_type, begntime=begntime,
                ipt_otp_no=req.ipt_otp_no, dise_codg=req.dise_codg, dise_name=req.dise_name, dept_code=req.dept_code,
                dept_name=req.dept_name, atddr_no=req.atddr_no, dr_name=req.dr_name,
                mdtrt_cert_type=req.mdtrt_cert_type, mdtrt_cert_no=req.mdtrt_cert_no, emergency=req.emergency))
            return self.visit_reply(v), {"mdtrt_id": v["mdtrt_id"]}

        return await self._journaled(req.caller, req, "register", pb.Visit, work)

    async def _change_visit(self, req, effect: str, change: Callable[[Any], dict],
                            guard: Callable[[Any, Any], Awaitable[None]] | None = None) -> pb.Visit:
        code = req.caller.fixmedins_code.strip()

        async def work(conn, msgid):
            v = self._own_visit(await repo.visit(conn, req.mdtrt_id, for_update=True), code, req.mdtrt_id, req.psn_no)
            fields = {k: v[k] for k in ("status", "med_type", "begntime", "endtime", "dise_codg", "dise_name",
                                        "emergency", "dscg_way")}
            undo = {"status": v["status"], "endtime": fmt_time(v["endtime"]), "dscg_way": v["dscg_way"]}
            fields.update(change(v))
            if guard is not None:  # checks that need the database, after change()'s own refusals
                await guard(conn, v)
            new = await repo.update_visit(conn, req.mdtrt_id, **fields)
            return self.visit_reply(new), {"mdtrt_id": v["mdtrt_id"], "undo": undo}

        return await self._journaled(req.caller, req, effect, pb.Visit, work)

    async def cancel_visit(self, req: pb.CancelVisitRequest) -> pb.Visit:
        def change(v):
            if v["status"] == "settled":
                raise refused("VISIT_SETTLED", f"就诊 {v['mdtrt_id']} 已结算，请先撤销结算 (2208/2305) 再撤销登记。 / "
                              "The visit is settled; cancel the settlement first (2208/2305).", "mdtrt_id")
            if v["status"] == "cancelled":
                raise refused("ALREADY_CANCELLED", f"就诊 {v['mdtrt_id']} 已撤销。 / The visit is already cancelled.",
                              "mdtrt_id")
            return {"status": "cancelled"}
        return await self._change_visit(req, "cancel_visit", change, guard=self._refuse_if_interim_settled)

    @staticmethod
    async def _refuse_if_interim_settled(conn, v, field: str = "mdtrt_id") -> None:
        """An admission with an interim settlement is still open but must not be cancelled: the
        settlement would stay booked on a cancelled visit."""
        setl_id = await repo.active_settlement_of_visit(conn, v["mdtrt_id"])
        if setl_id is not None:
            raise refused("VISIT_SETTLED", f"就诊 {v['mdtrt_id']} 有未撤销的（中途）结算 {setl_id}，请先撤销结算 (2305) "
                          f"再撤销登记。 / The visit has a settlement {setl_id} (interim) that is not cancelled; "
                          "cancel it first (2305).", field)

    async def record_diagnosis(self, req: pb.RecordDiagnosisRequest) -> pb.Visit:
        def change(v):
            self._require_open(v)
            out = {"dise_codg": req.dise_codg or v["dise_codg"], "dise_name": req.dise_name or v["dise_name"],
                   "med_type": req.med_type or v["med_type"], "emergency": req.emergency or v["emergency"]}
            if req.begntime:
                out["begntime"] = parse_time(req.begntime, "begntime")
            if v["kind"] == "outpatient" and out["med_type"] in INPATIENT_MED_TYPES:
                raise invalid("BAD_MED_TYPE", "门诊就诊不能使用住院医疗类别。 / An outpatient visit cannot use an "
                              "inpatient med_type.", "med_type")
            return out
        return await self._change_visit(req, "diagnosis", change)

    @staticmethod
    def _require_open(v, allow_discharged: bool = False):
        ok = ("open", "discharged") if allow_discharged else ("open",)
        if v["status"] not in ok:
            raise refused(f"VISIT_{v['status'].upper()}", f"就诊 {v['mdtrt_id']} 状态为 {v['status']}，不能办理此交易。 / "
                          f"The visit is {v['status']}; this transaction is not allowed.", "mdtrt_id")

    async def discharge(self, req: pb.DischargeRequest) -> pb.Visit:
        endtime = parse_time(req.endtime, "endtime")

        def change(v):
            if v["kind"] != "inpatient":
                raise refused("NOT_INPATIENT", "门诊就诊无需办理出院。 / Only an admission can be discharged.", "mdtrt_id")
            if v["status"] == "discharged":
                raise refused("ALREADY_DISCHARGED", f"就诊 {v['mdtrt_id']} 已办理出院。 / Already discharged.", "mdtrt_id")
            self._require_open(v)
            if endtime < v["begntime"]:
                raise invalid("BAD_TIME", "出院时间早于入院时间。 / endtime is before the admission.", "endtime")
            return {"status": "discharged", "endtime": endtime, "dise_codg": req.dise_codg or v["dise_codg"],
                    "dscg_way": req.dscg_way}
        return await self._change_visit(req, "discharge", change)

    async def undo_discharge(self, req: pb.CancelVisitRequest) -> pb.Visit:
        def change(v):
            if v["status"] != "discharged":
                raise refused("NOT_DISCHARGED", f"就诊 {v['mdtrt_id']} 状态为 {v['status']}，不能撤销出院"
                              "（已结算的请先撤销结算）。 / The visit is not discharged (cancel its settlement first "
                              "if settled).", "mdtrt_id")
            return {"status": "open", "endtime": None, "dscg_way": ""}
        return await self._change_visit(req, "undo_discharge", change)

    # ------------------------------------------------------------------------- fees

    @staticmethod
    def fee_result(r) -> pb.FeeResult:
        return pb.FeeResult(
            feedetl_sn=r["feedetl_sn"], det_item_fee_sumamt_fen=r["det_item_fee_sumamt_fen"], cnt=str(r["cnt"]),
            pric_fen=r["pric_fen"], pric_uplmt_amt_fen=r["pric_uplmt_amt_fen"] or 0,
            selfpay_prop=str(r["selfpay_prop"]), fulamt_ownpay_amt_fen=r["fulamt_ownpay_fen"],
            overlmt_amt_fen=r["overlmt_fen"], preselfpay_amt_fen=r["preselfpay_fen"], inscp_scp_amt_fen=r["inscp_fen"],
            chrgitm_lv=r["chrgitm_lv"], med_list_codg=r["med_list_codg"])

    def _catalogue_for(self, hospital, insutype: str):
        tpool = self.refs.pool_for_admdvs(hospital.admdvs, insutype)
        catalogue = self.refs.catalogue(tpool.code) if tpool is not None else None
        if tpool is None or catalogue is None:
            raise refused("NO_TREATMENT_POOL", f"医院所在行政区划 {hospital.admdvs} 没有险种 {insutype} 的统筹区目录，"
                          "不能直接结算。 / The hospital's admdvs belongs to no pool (catalogue) for this insutype.",
                          "fixmedins_code")
        return tpool, catalogue

    async def upload_fees(self, req: pb.UploadFeesRequest) -> pb.UploadFeesResponse:
        code = req.caller.fixmedins_code.strip()
        if not req.feedetail:
            raise invalid("FIELD_REQUIRED", "费用明细 feedetail 为空。 / feedetail is empty.", "feedetail")
        items, seen = [], set()
        for i, f in enumerate(req.feedetail):
            if not f.feedetl_sn:
                raise invalid("FIELD_REQUIRED", f"第 {i + 1} 条费用明细缺少 feedetl_sn。 / feedetl_sn is required.",
                              f"feedetail[{i}].feedetl_sn")
            if f.feedetl_sn in seen:
                raise invalid("DUPLICATE_FEE", f"费用明细流水号 {f.feedetl_sn} 重复。 / Duplicate feedetl_sn.",
                              f"feedetail[{i}].feedetl_sn")
            seen.add(f.feedetl_sn)
            if not f.med_list_codg:
                raise invalid("FIELD_REQUIRED", f"费用明细 {f.feedetl_sn} 缺少医保目录编码 med_list_codg。 / "
                              "med_list_codg is required.", f"feedetail[{i}].med_list_codg")
            try:
                cnt = Decimal(f.cnt)
            except InvalidOperation:
                raise invalid("BAD_NUMBER", f"费用明细 {f.feedetl_sn} 数量 cnt {f.cnt!r} 不是数字。 / cnt is not a "
                              "number.", f"feedetail[{i}].cnt") from None
            items.append(FeeItem(f.feedetl_sn, f.med_list_codg, cnt, f.pric_fen, f.det_item_fee_sumamt_fen, f.name))
        hospital = self._hospital(code)

        async def work(conn, msgid):
            v = self._own_visit(await repo.visit(conn, req.mdtrt_id, for_update=True), code, req.mdtrt_id, req.psn_no)
            self._require_open(v, allow_discharged=v["kind"] == "inpatient")
            _, catalogue = self._catalogue_for(hospital, v["insutype"])
            try:
                split = split_items(tuple(items), catalogue)
            except SettlementRefused as e:
                raise _refusal_from_engine(e) from None
            existing = {r["feedetl_sn"]: r for r in await repo.fees_of_visit(conn, v["mdtrt_id"])}
            for i, f in enumerate(req.feedetail):
                old = existing.get(f.feedetl_sn)
                if old is not None and old["setl_id"] is not None:
                    raise refused("FEE_SETTLED", f"费用明细 {f.feedetl_sn} 已结算，不能重复上传。 / Fee "
                                  f"{f.feedetl_sn} is already settled.", f"feedetail[{i}].feedetl_sn")
            seq = await repo.next_fee_seq(conn, v["mdtrt_id"])
            rows = []
            for k, (f, s) in enumerate(zip(req.feedetail, split, strict=True)):
                rows.append(dict(
                    mdtrt_id=v["mdtrt_id"], feedetl_sn=f.feedetl_sn, chrg_bchno=f.chrg_bchno,
                    fee_ocur_time=f.fee_ocur_time, med_list_codg=f.med_list_codg,
                    medins_list_codg=f.medins_list_codg, name=f.name, cnt=s.cnt, pric_fen=s.pric_fen,
                    det_item_fee_sumamt_fen=s.amount_fen, chrgitm_lv=s.chrgitm_lv, selfpay_prop=s.selfpay_prop,
                    pric_uplmt_amt_fen=s.price_cap_fen, fulamt_ownpay_fen=s.fulamt_ownpay_fen,
                    overlmt_fen=s.overlmt_fen, preselfpay_fen=s.preselfpay_fen, inscp_fen=s.inscp_fen, seq=seq + k))
            await repo.upsert_fees(conn, rows)
            replaced = [_fee_json(existing[r["feedetl_sn"]]) for r in rows if r["feedetl_sn"] in existing]
            reply = pb.UploadFeesResponse(result=[self.fee_result(r) for r in rows])
            return reply, {"mdtrt_id": v["mdtrt_id"],
                           "undo": {"sns": [r["feedetl_sn"] for r in rows], "replaced": replaced}}

        return await self._journaled(req.caller, req, "upload_fees", pb.UploadFeesResponse, work)

    async def cancel_fees(self, req: pb.CancelFeesRequest) -> pb.UploadFeesResponse:
        code = req.caller.fixmedins_code.strip()

        async def work(conn, msgid):
            v = self._own_visit(await repo.visit(conn, req.mdtrt_id, for_update=True), code, req.mdtrt_id, req.psn_no)
            fees = await repo.fees_of_visit(conn, v["mdtrt_id"])
            if req.feedetl_sn in ("", "0000"):
                chosen = [f for f in fees if f["setl_id"] is None
                          and (not req.chrg_bchno or f["chrg_bchno"] == req.chrg_bchno)]
            else:
                chosen = [f for f in fees if f["feedetl_sn"] == req.feedetl_sn]
                if not chosen:
                    raise not_found("FEE_NOT_FOUND", f"费用明细 {req.feedetl_sn} 不存在。 / Fee {req.feedetl_sn} not "
                                    "found.", "feedetl_sn")
                if chosen[0]["setl_id"] is not None:
                    raise refused("FEE_SETTLED", f"费用明细 {req.feedetl_sn} 已结算，请先撤销结算 (2208/2305)。 / The "
                                  "fee is settled; cancel the settlement first.", "feedetl_sn")
            await repo.delete_fees(conn, v["mdtrt_id"], [f["feedetl_sn"] for f in chosen])
            reply = pb.UploadFeesResponse(result=[self.fee_result(f) for f in chosen])
            return reply, {"mdtrt_id": v["mdtrt_id"], "undo": {"removed": [_fee_json(f) for f in chosen]}}

        return await self._journaled(req.caller, req, "cancel_fees", pb.UploadFeesResponse, work)

    # ------------------------------------------------------------------------- settle

    async def pre_settle(self, req: pb.SettleRequest) -> pb.SettleResponse:
        """2206/2303: the same computation as Settle; writes nothing."""
        code = req.caller.fixmedins_code.strip()
        if not code:
            raise invalid("FIELD_REQUIRED", "缺少 fixmedins_code。 / fixmedins_code is required.", "fixmedins_code")
        async with self.pool.acquire() as conn:
            state = await repo.settle_state(conn, req.mdtrt_id, code, "")
        prep = await self._prepare(req, state, code, presettle=True)
        result = self._compute(prep, dict(state["acc_data"] or {}))
        row = self._settlement_row(prep, result, setl_id="", now=self.clock(), msgid=req.caller.msgid, code=code,
                                   acc_caps=dict(state["acc_caps"] or {}), acc_data=dict(state["acc_data"] or {}))
        return self.settle_reply(row, result)

    async def settle(self, req: pb.SettleRequest) -> pb.SettleResponse:
        code, msgid, infno = self._caller(req.caller, "settle")
        digest = digest_of(req)
        prep: _Prepared | None = None
        for attempt in range(MAX_ATTEMPTS):
            # No connection is held across the eligibility/filing hops in _prepare: the read and
            # the booking each take one from the pool for one round trip.
            state = await repo.settle_state(self.pool, req.mdtrt_id, code, msgid)
            if state["txn_digest"] is not None:
                return self._replay(await repo.get_transaction(self.pool, code, msgid), digest, pb.SettleResponse,
                                    "settle")
            if prep is None or state["fees_version"] != prep.visit["fees_version"]:
                prep = await self._prepare(req, state, code)
            else:
                self._check_visit_state(state, req)
            try:
                if attempt < OPTIMISTIC_ATTEMPTS:
                    return await self._book(prep, state, code, msgid, infno, digest)
                async with self.pool.acquire() as conn:
                    return await self._book_locked(conn, prep, code, msgid, infno, digest)
            except repo.MsgidTaken:
                return self._replay(await repo.get_transaction(self.pool, code, msgid), digest, pb.SettleResponse,
                                    "settle")
            except (repo.StaleAccumulators, repo.StaleVisit):
                log.info("settlement retry after a concurrent change", extra={"attempt": attempt + 1})
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise Refusal("CONCURRENT_UPDATE",
                      "该参保人正在进行其他结算，请稍后用同一 msgid 重试。 / Another settlement of this person is in "
                      "progress; retry with the same msgid.")

    def _booking(self, prep: _Prepared, code: str, msgid: str, data: dict, caps: dict):
        """Compute on the given accumulators: (setl_id, result, new data, new caps, row, reply)."""
        now = self.clock()
        setl_id = new_id("S", now)
        result = self._compute(prep, data)
        new_data, new_caps = apply_deltas(data, caps, result)
        row = self._settlement_row(prep, result, setl_id=setl_id, now=now, msgid=msgid, code=code,
                                   acc_caps=new_caps, acc_data=new_data)
        return setl_id, result, new_data, new_caps, row, self.settle_reply(row, result)

    async def _book(self, prep: _Prepared, state, code, msgid, infno, digest) -> pb.SettleResponse:
        """The optimistic booking: compute on the accumulators read before, then ONE call to
        settlement.book_settlement (claim + version-checked write + visit + rows + fees, in one
        implicit transaction). MsgidTaken if another request with this msgid committed first."""
        v = prep.visit
        data, caps = dict(state["acc_data"] or {}), dict(state["acc_caps"] or {})
        setl_id, result, new_data, new_caps, row, reply = self._booking(prep, code, msgid, data, caps)
        funds, entries = self._lines(row, result)
        taken = await repo.book_settlement(
            self.pool, code=code, msgid=msgid, infno=infno, digest=digest, reply=reply.SerializeToString(),
            psn_no=v["psn_no"], mdtrt_id=v["mdtrt_id"], setl_id=setl_id, insutype=v["insutype"], year=prep.year,
            acc_data=new_data, acc_caps=new_caps, acc_version=state["acc_version"] or 0,
            visit_status=v["status"] if prep.mid_settle else "settled", fees_version=v["fees_version"],
            fee_sns=prep.fee_sns, row=row, funds=funds, entries=entries)
        if taken is not None:  # the msgid was claimed first by another request: read its whole journal row
            return self._replay(await repo.get_transaction(self.pool, code, msgid), digest, pb.SettleResponse,
                                "settle")
        return reply

    async def _book_locked(self, conn, prep: _Prepared, code, msgid, infno, digest) -> pb.SettleResponse:
        """The fallback after repeated version conflicts: claim, lock the accumulator row, compute
        on it and write, statement by statement in one transaction (a busy person still makes
        progress)."""
        v = prep.visit
        key = (v["psn_no"], v["insutype"], prep.year)
        async with conn.transaction():
            await repo.claim(conn, code=code, msgid=msgid, infno=infno, digest=digest, psn_no=v["psn_no"],
                             mdtrt_id=v["mdtrt_id"], setl_id="", effect="settle")
            data, caps, version = await repo.lock_accumulators(conn, *key)
            setl_id, result, new_data, new_caps, row, reply = self._booking(prep, code, msgid, data, caps)
            await repo.set_reply(conn, code=code, msgid=msgid, reply=reply.SerializeToString(), setl_id=setl_id,
                                 mdtrt_id=v["mdtrt_id"])
            await repo.write_accumulators(conn, *key, new_data, new_caps, version)
            await repo.mark_visit_settled(conn, v["mdtrt_id"], v["status"] if prep.mid_settle else "settled",
                                          v["fees_version"])
            funds, entries = self._lines(row, result)
            await repo.insert_settlement(conn, row, funds, entries)
            await repo.take_fees(conn, v["mdtrt_id"], setl_id, prep.fee_sns)
        return reply

    def _check_visit_state(self, state, req, presettle: bool = False) -> None:
        v = state
        if v["status"] == "settled":
            raise refused("ALREADY_SETTLED", f"就诊 {v['mdtrt_id']} 已结算；如需重新结算请先撤销 (2208/2305)，查询结果用"
                          " 5203。 / The visit is already settled; cancel it first (2208/2305) or query it (5203).",
                          "mdtrt_id")
        if v["status"] == "cancelled":
            raise refused("VISIT_CANCELLED", f"就诊 {v['mdtrt_id']} 已撤销，不能结算。 / The visit is cancelled.",
                          "mdtrt_id")
        # DOMAIN.md §4: 2303 pre-settles before 2402 discharge; only 2304 needs the discharge.
        if v["kind"] == "inpatient" and v["status"] != "discharged" and not req.mid_setl_flag and not presettle:
            raise refused("NOT_DISCHARGED", f"住院就诊 {v['mdtrt_id']} 尚未办理出院 (2402)；中途结算请置 mid_setl_flag。"
                          " / The admission is not discharged (2402); set mid_setl_flag for an interim settlement.",
                          "mdtrt_id")

    async def _prepare(self, req: pb.SettleRequest, state, code: str, presettle: bool = False) -> _Prepared:
        """Every check and lookup that does not depend on the accumulators, before BEGIN."""
        if state is None or state["mdtrt_id"] is None:
            raise not_found("VISIT_NOT_FOUND", f"就诊 {req.mdtrt_id} 不存在，请核对 mdtrt_id。 / Visit {req.mdtrt_id} "
                            "not found.", "mdtrt_id")
        v = self._own_visit(state, code, req.mdtrt_id, req.psn_no)
        if req.insutype and req.insutype != v["insutype"]:
            raise invalid("INSUTYPE_MISMATCH", f"险种 {req.insutype} 与登记时的险种 {v['insutype']} 不符。 / insutype "
                          "differs from the registration's.", "insutype")
        self._check_visit_state(state, req, presettle)
        hospital = self._hospital(code)
        fees = state["fees"] or []
        total = sum(int(f["amt"]) for f in fees)
        if req.medfee_sumamt_fen != total:
            raise invalid("MEDFEE_MISMATCH", f"医疗费总额 medfee_sumamt {yuan(req.medfee_sumamt_fen)} 元与已上传未结算的"
                          f"费用明细合计 {yuan(total)} 元（{len(fees)} 条）不符，请核对后重新上传或结算。 / "
                          f"medfee_sumamt {yuan(req.medfee_sumamt_fen)} differs from the uploaded fee details "
                          f"({yuan(total)}, {len(fees)} items).", "input.data.medfee_sumamt")
        med_type = req.med_type or v["med_type"]
        if not med_type:
            raise invalid("FIELD_REQUIRED", "缺少医疗类别 med_type（可在 2203 或结算时填写）。 / med_type is required.",
                          "med_type")
        visit_date = v["begntime"].date()
        tpool, catalogue = self._catalogue_for(hospital, v["insutype"])
        insured = self.refs.pool(v["insured_pool"])
        local = insured is not None and insured.holds(hospital.admdvs)
        snap_call = self.eligibility.snapshot(v["psn_no"], v["insutype"], visit_date)
        if local:
            snap, group = await snap_call, None
        else:
            snap, group = await asyncio.gather(snap_call, self.filing.filing_group(
                psn_no=v["psn_no"], insutype=v["insutype"], insured_pool=v["insured_pool"],
                hospital_admdvs=hospital.admdvs, visit_date=visit_date, emergency=v["emergency"]))
        if not snap.eligible:
            raise refused(snap.ineligible_outcome or "NOT_ELIGIBLE", snap.ineligible_message or
                          "参保人在就诊日无待遇资格。 / Not eligible on the visit date.", "psn_no")
        if snap.insured_pool != v["insured_pool"]:
            # The enrollment used changed since registration: settle with today's truth.
            insured = self.refs.pool(snap.insured_pool)
            group = None if insured is not None and insured.holds(hospital.admdvs) else \
                await self.filing.filing_group(psn_no=v["psn_no"], insutype=v["insutype"],
                                               insured_pool=snap.insured_pool, hospital_admdvs=hospital.admdvs,
                                               visit_date=visit_date, emergency=v["emergency"])
        if insured is None:
            raise refused("POOL_NOT_CONFIGURED", f"参保地统筹区 {snap.insured_pool} 未配置。 / The insured pool "
                          f"{snap.insured_pool} is not in the reference data.", "psn_no")
        policy = self.refs.policy(insured.code, v["insutype"], visit_date.year)
        if policy is None:
            raise refused("NO_POLICY", f"参保地 {insured.code} 没有 {visit_date.year} 年险种 {v['insutype']} 的待遇政策。"
                          f" / No {visit_date.year} policy for pool {insured.code}, insutype {v['insutype']}.",
                          "insutype")
        items = tuple(FeeItem(f["sn"], f["code"], Decimal(f["cnt"]), int(f["pric"]), int(f["amt"]), f["name"] or "")
                      for f in fees)
        bill = Bill(med_type=med_type, visit_date=visit_date, hospital=hospital, items=items,
                    disease_code=v["dise_codg"] or None, emergency=v["emergency"],
                    acct_used_flag=req.acct_used_flag)
        prep = _Prepared(visit=dict(v), bill=bill, person=person_from_snapshot(snap), insured_pool=insured,
                         treatment_pool=tpool, policy=policy, catalogue=catalogue, filing_group=group,
                         province_of=self.refs.province_of(), fee_sns=[f["sn"] for f in fees],
                         year=visit_date.year, med_type=med_type,
                         # mid_setl_flag on a discharged admission settles the stay: it is final.
                         mid_settle=v["kind"] == "inpatient" and req.mid_setl_flag and v["status"] != "discharged")
        if req.has_declared_split:
            self._check_declared(req, self._compute(prep, dict(state["acc_data"] or {})))
        return prep

    @staticmethod
    def _check_declared(req, result: SettlementResult) -> None:
        for name, mine in (("fulamt_ownpay_amt", result.fulamt_ownpay_amt), ("overlmt_selfpay", result.overlmt_selfpay),
                           ("preselfpay_amt", result.preselfpay_amt), ("inscp_scp_amt", result.inscp_scp_amt)):
            theirs = getattr(req, f"{name}_fen")
            if theirs != mine:
                raise invalid("SPLIT_MISMATCH", f"{name} 申报 {yuan(theirs)} 元，按就医地目录计算为 {yuan(mine)} 元，"
                              "请以 2204 返回的明细为准。 / The declared "
                              f"{name} {yuan(theirs)} differs from the catalogue split {yuan(mine)}.",
                              f"input.data.{name}")

    @staticmethod
    def _compute(prep: _Prepared, accumulators: dict) -> SettlementResult:
        ctx = SettlementContext(person=prep.person, insured_pool=prep.insured_pool, treatment_pool=prep.treatment_pool,
                                policy=prep.policy, catalogue=prep.catalogue, filing_group=prep.filing_group,
                                accumulators=accumulators, province_of=prep.province_of)
        try:
            return engine_settle(prep.bill, ctx)
        except SettlementRefused as e:
            raise _refusal_from_engine(e) from None

    @staticmethod
    def _settlement_row(prep: _Prepared, r: SettlementResult, *, setl_id: str, now: dt.datetime, msgid: str,
                        code: str, acc_caps: dict, acc_data: dict) -> dict[str, Any]:
        v = prep.visit
        local = now.astimezone(CST)
        return dict(
            setl_id=setl_id, mdtrt_id=v["mdtrt_id"], psn_no=v["psn_no"], psn_name=prep.person.name,
            psn_type=prep.person.psn_type, insutype=v["insutype"], year=prep.year, fixmedins_code=code,
            insured_pool=prep.insured_pool.code, treatment_pool=prep.treatment_pool.code, med_type=prep.med_type,
            line=r.line, region_class=r.region_class, filing_group=r.filing_group or "", ratio=str(r.ratio),
            clr_type="21" if v["kind"] == "inpatient" else "11", clr_way="1",
            **_amounts(r), balc_fen=account_balance(acc_data, acc_caps, prep.person.account_balance_fen),
            status="settled", reverses_setl_id=None, setl_time=now, setlym=f"{local:%Y%m}", setl_date=local.date(),
            deltas=dict(r.deltas), caps=dict(r.caps), result=result_to_json(r), msgid=msgid)

    @staticmethod
    def _lines(row: dict, r: SettlementResult):
        funds = [dict(fund_pay_type=f.fund_pay_type, fund_pay_type_name=f.name, inscp_scp_amt_fen=f.inscp_fen,
                      crt_payb_lmt_amt_fen=f.cap_left_fen, fund_payamt_fen=f.amount_fen, setl_proc_info=f.info)
                 for f in r.fund_lines]
        entries = entries_for(r.fund_lines, insured_pool=row["insured_pool"], treatment_pool=row["treatment_pool"],
                              hospital=row["fixmedins_code"])
        return funds, entries

    @staticmethod
    def settle_reply(row, r: SettlementResult | None = None, funds=None) -> pb.SettleResponse:
        info = pb.SetlInfo(
            mdtrt_id=row["mdtrt_id"], setl_id=row["setl_id"], psn_no=row["psn_no"], psn_name=row["psn_name"],
            insutype=row["insutype"], psn_type=row["psn_type"],
            setl_time=fmt_time(row["setl_time"].astimezone(CST)) if row["setl_id"] else "",
            med_type=row["med_type"], medfee_sumamt_fen=row["medfee_sumamt"],
            fulamt_ownpay_amt_fen=row["fulamt_ownpay_amt"], overlmt_selfpay_fen=row["overlmt_selfpay"],
            preselfpay_amt_fen=row["preselfpay_amt"], inscp_scp_amt_fen=row["inscp_scp_amt"],
            act_pay_dedc_fen=row["act_pay_dedc"], hifp_pay_fen=row["hifp_pay"], pool_prop_selfpay=str(row["ratio"]),
            cvlserv_pay_fen=row["cvlserv_pay"], hifes_pay_fen=row["hifes_pay"], hifmi_pay_fen=row["hifmi_pay"],
            hifob_pay_fen=row["hifob_pay"], maf_pay_fen=row["maf_pay"], oth_pay_fen=row["oth_pay"],
            fund_pay_sumamt_fen=row["fund_pay_sumamt"], psn_part_amt_fen=row["psn_part_amt"],
            acct_pay_fen=row["acct_pay"], psn_cash_pay_fen=row["psn_cash_pay"], hosp_part_amt_fen=row["hosp_part_amt"],
            balc_fen=row["balc_fen"], clr_optins=row["insured_pool"], clr_way=row["clr_way"],
            clr_type=row["clr_type"], region_class=row["region_class"], filing_group=row["filing_group"],
            fixmedins_code=row["fixmedins_code"], status=row["status"],
            reverses_setl_id=row["reverses_setl_id"] or "", msgid=row["msgid"])
        if r is None:
            r = result_from_json(row["result"])
        out = pb.SettleResponse(setlinfo=info)
        if funds is None:
            for f in r.fund_lines:
                out.setldetail.add(fund_pay_type=f.fund_pay_type, fund_pay_type_name=f.name,
                                   inscp_scp_amt_fen=f.inscp_fen, crt_payb_lmt_amt_fen=f.cap_left_fen or 0,
                                   fund_payamt_fen=f.amount_fen, setl_proc_info=f.info)
        else:
            for f in funds:
                out.setldetail.add(fund_pay_type=f["fund_pay_type"], fund_pay_type_name=f["fund_pay_type_name"],
                                   inscp_scp_amt_fen=f["inscp_scp_amt_fen"],
                                   crt_payb_lmt_amt_fen=f["crt_payb_lmt_amt_fen"] or 0,
                                   fund_payamt_fen=f["fund_payamt_fen"], setl_proc_info=f["setl_proc_info"])
        for e in r.explanation:
            out.explanation.add(code=e.code, label=e.label, text=e.text)
        return out

    # ------------------------------------------------------------------------- cancel / reverse

    async def cancel_settlement(self, req: pb.CancelSettlementRequest) -> pb.SettleResponse:
        code = req.caller.fixmedins_code.strip()
        self._caller(req.caller, "cancel_settlement")

        async def work(conn, msgid):
            reply = await self._reverse_settlement(conn, code, msgid, req.setl_id, req.mdtrt_id, req.psn_no)
            return reply, {"setl_id": reply.setlinfo.setl_id, "mdtrt_id": reply.setlinfo.mdtrt_id,
                           "undo": {"original": req.setl_id}}

        return await self._journaled(req.caller, req, "cancel_settlement", pb.SettleResponse, work)

    async def _reverse_settlement(self, conn, code: str, msgid: str, setl_id: str, mdtrt_id: str = "",
                                  psn_no: str = "") -> pb.SettleResponse:
        """Book the reversal of `setl_id` inside the caller's transaction."""
        orig = await repo.settlement(conn, setl_id)
        if orig is None:
            raise not_found("SETTLEMENT_NOT_FOUND", f"结算 {setl_id} 不存在。 / Settlement {setl_id} not found.", "setl_id")
        if orig["fixmedins_code"] != code:
            raise forbidden("OTHER_HOSPITAL", f"结算 {setl_id} 不是本机构 {code} 办理的，不能撤销。 / Settlement "
                            f"{setl_id} belongs to another hospital.", "setl_id")
        if mdtrt_id and orig["mdtrt_id"] != mdtrt_id:
            raise invalid("MDTRT_MISMATCH", f"就诊 {mdtrt_id} 与结算 {setl_id} 不符。 / mdtrt_id does not match the "
                          "settlement.", "mdtrt_id")
        if psn_no and orig["psn_no"] != psn_no:
            raise invalid("PSN_MISMATCH", f"人员编号与结算 {setl_id} 不符。 / psn_no does not match the settlement.",
                          "psn_no")
        if orig["status"] == "reversal":
            raise refused("REVERSAL_OF_REVERSAL", f"{setl_id} 本身是冲销记录，不能再次冲销。 / {setl_id} is itself a "
                          "reversal and cannot be reversed.", "setl_id")
        # Serialize with the month's clearing run: either we commit first (the run includes
        # us) or we see the run and refuse.
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", clearing_lock_key(orig["setlym"]))
        if await repo.month_cleared(conn, orig["setlym"]):
            raise refused("MONTH_CLEARED", f"结算 {setl_id} 所属月份 {orig['setlym']} 已清算，不能撤销；请走退费或"
                          f"下月调整。 / The month {orig['setlym']} of this settlement has been cleared; it can no "
                          "longer be cancelled.", "setl_id")
        if not await repo.cancel_original(conn, setl_id):
            raise refused("ALREADY_CANCELLED", f"结算 {setl_id} 已撤销。 / Settlement {setl_id} is already cancelled.",
                          "setl_id")
        original = result_from_json(orig["result"])
        try:
            rev = engine_reverse(original)
        except SettlementRefused as e:
            raise _refusal_from_engine(e) from None
        data, caps, version = await repo.lock_accumulators(conn, orig["psn_no"], orig["insutype"], orig["year"])
        for key, delta in rev.deltas.items():
            data[key] = int(data.get(key, 0)) + delta
        await repo.write_accumulators(conn, orig["psn_no"], orig["insutype"], orig["year"], data, caps, version)
        now = self.clock()
        local = now.astimezone(CST)
        row = {c: orig[c] for c in repo.SETTLEMENT_COLUMNS}
        row.update(_amounts(rev), setl_id=new_id("R", now), status="reversal", reverses_setl_id=setl_id,
                   setl_time=now, setl_date=local.date(), setlym=orig["setlym"], ratio=str(orig["ratio"]),
                   deltas=dict(rev.deltas), caps=dict(rev.caps), result=result_to_json(rev), msgid=msgid,
                   balc_fen=account_balance(data, caps, None) if "acct:used" in caps else orig["balc_fen"],
                   fixmedins_code=code)
        funds, entries = self._lines(row, rev)
        await repo.insert_settlement(conn, row, funds, entries)
        await repo.release_fees(conn, setl_id)
        await repo.unsettle_visit(conn, orig["mdtrt_id"])
        return self.settle_reply(row, rev)

    async def reverse(self, req: pb.ReverseRequest) -> pb.ReverseResponse:
        """2601: undo the transaction sent with omsgid, by what it did."""
        code = req.caller.fixmedins_code.strip()
        self._caller(req.caller, "reverse")
        if not req.omsgid:
            raise invalid("FIELD_REQUIRED", "缺少原报文 ID omsgid。 / omsgid is required.", "omsgid")

        async def work(conn, msgid):
            orig = await conn.fetchrow(repo.Q_TRANSACTION + " FOR UPDATE", code, req.omsgid)
            if orig is None:
                raise not_found("ORIGINAL_NOT_FOUND", f"本机构没有报文 ID 为 {req.omsgid} 的交易。 / No transaction "
                                f"with msgid {req.omsgid} from this hospital.", "omsgid")
            if req.oinfno and req.oinfno != orig["infno"]:
                raise invalid("OINFNO_MISMATCH", f"原交易 {req.omsgid} 的交易编号是 {orig['infno']}，不是 {req.oinfno}。"
                              f" / The original transaction was {orig['infno']}, not {req.oinfno}.", "oinfno")
            if req.psn_no and orig["psn_no"] and req.psn_no != orig["psn_no"]:
                raise invalid("PSN_MISMATCH", "人员编号与原交易不符。 / psn_no does not match the original.", "psn_no")
            if orig["reversed_by"]:
                raise refused("ALREADY_REVERSED", f"原交易 {req.omsgid} 已被 {orig['reversed_by']} 冲正。 / Already "
                              "reversed.", "omsgid")
            effect, undo = orig["effect"], orig["undo"] or {}
            out = pb.ReverseResponse(oinfno=orig["infno"], omsgid=req.omsgid)
            meta: dict = {"mdtrt_id": orig["mdtrt_id"]}
            if effect == "settle":
                out.settlement.CopyFrom(await self._reverse_settlement(conn, code, msgid, orig["setl_id"]))
                out.result = f"已冲销结算 {orig['setl_id']} (settlement reversed)"
                meta["setl_id"] = out.settlement.setlinfo.setl_id
            elif effect in ("cancel_settlement", "reverse"):
                raise refused("REVERSAL_OF_REVERSAL", f"原交易 {req.omsgid} ({orig['infno']}) 本身是撤销/冲正，不能再"
                              "冲正。 / The original is itself a cancellation or reversal and cannot be reversed.",
                              "omsgid")
            elif effect in ("register", "cancel_visit", "discharge", "undo_discharge", "upload_fees", "cancel_fees"):
                out.result = await self._undo_visit_effect(conn, code, orig, effect, undo)
            else:
                raise refused("NOT_REVERSIBLE", f"交易 {orig['infno']} 不能通过 2601 冲正。 / Transaction "
                              f"{orig['infno']} cannot be reversed with 2601.", "oinfno")
            await repo.mark_reversed(conn, code, req.omsgid, msgid)
            return out, meta

        return await self._journaled(req.caller, req, "reverse", pb.ReverseResponse, work)

    async def _undo_visit_effect(self, conn, code, orig, effect: str, undo: dict) -> str:
        v = self._own_visit(await repo.visit(conn, orig["mdtrt_id"], for_update=True), code, orig["mdtrt_id"])
        fields = {k: v[k] for k in ("status", "med_type", "begntime", "endtime", "dise_codg", "dise_name",
                                    "emergency", "dscg_way")}
        if effect == "register":
            if v["status"] == "settled":
                raise refused("VISIT_SETTLED", "就诊已结算，请先撤销结算。 / The visit is settled; cancel the "
                              "settlement first.", "omsgid")
            await self._refuse_if_interim_settled(conn, v, "omsgid")
            fields["status"] = "cancelled"
            text = f"已撤销登记 {v['mdtrt_id']} (registration cancelled)"
        elif effect == "cancel_visit":
            if v["status"] != "cancelled":
                raise refused("NOT_CANCELLED", "就诊当前不是撤销状态。 / The visit is not cancelled.", "omsgid")
            fields["status"] = undo.get("status", "open")
            text = f"已恢复就诊 {v['mdtrt_id']} (visit restored)"
        elif effect == "discharge":
            if v["status"] != "discharged":
                raise refused("NOT_DISCHARGED", "就诊当前不是出院状态（已结算的请先撤销结算）。 / The visit is not "
                              "discharged.", "omsgid")
            fields.update(status="open", endtime=None, dscg_way="")
            text = f"已撤销出院 {v['mdtrt_id']} (discharge undone)"
        elif effect == "undo_discharge":
            if v["status"] != "open" or not undo.get("endtime"):
                raise refused("NOT_OPEN", "就诊当前不能恢复出院。 / The discharge cannot be restored.", "omsgid")
            fields.update(status="discharged", endtime=parse_time(undo["endtime"], "endtime"),
                          dscg_way=undo.get("dscg_way", ""))
            text = f"已恢复出院 {v['mdtrt_id']} (discharge restored)"
        elif effect == "upload_fees":
            fees = {f["feedetl_sn"]: f for f in await repo.fees_of_visit(conn, v["mdtrt_id"])}
            sns = [sn for sn in undo.get("sns", []) if sn in fees]
            if any(fees[sn]["setl_id"] for sn in sns):
                raise refused("FEE_SETTLED", "这些费用已结算，请先撤销结算。 / These fees are settled; cancel the "
                              "settlement first.", "omsgid")
            await repo.delete_fees(conn, v["mdtrt_id"], sns)
            await repo.upsert_fees(conn, [_fee_row(f) for f in undo.get("replaced", [])])
            return f"已删除上传的 {len(sns)} 条费用明细 (fee upload undone)"
        else:  # cancel_fees
            fees = {f["feedetl_sn"] for f in await repo.fees_of_visit(conn, v["mdtrt_id"])}
            rows = [_fee_row(f) for f in undo.get("removed", []) if f["feedetl_sn"] not in fees]
            self._require_open(v, allow_discharged=True)
            await repo.upsert_fees(conn, rows)
            return f"已恢复 {len(rows)} 条费用明细 (fee cancellation undone)"
        await repo.update_visit(conn, v["mdtrt_id"], **fields)
        return text

    # ------------------------------------------------------------------------- queries

    async def get_settlement(self, req: pb.GetSettlementRequest) -> pb.SettleResponse:
        async with self.pool.acquire() as conn:
            if req.setl_id:
                row = await repo.settlement(conn, req.setl_id)
            elif req.mdtrt_id:
                row = await repo.settlement_of_visit(conn, req.mdtrt_id)
            else:
                raise invalid("FIELD_REQUIRED", "请提供 setl_id 或 mdtrt_id。 / setl_id or mdtrt_id is required.",
                              "setl_id")
            if row is None:
                raise not_found("SETTLEMENT_NOT_FOUND", f"结算 {req.setl_id or req.mdtrt_id} 不存在。 / Settlement not "
                                "found.", "setl_id" if req.setl_id else "mdtrt_id")
            if req.fixmedins_code and row["fixmedins_code"] != req.fixmedins_code:
                raise forbidden("OTHER_HOSPITAL", "该结算不是本机构办理的，不能查询。 / The settlement belongs to "
                                "another hospital.", "setl_id")
            if req.psn_no and row["psn_no"] != req.psn_no:
                raise invalid("PSN_MISMATCH", "人员编号与结算不符。 / psn_no does not match the settlement.", "psn_no")
            funds = await repo.settlement_funds(conn, row["setl_id"])
        return self.settle_reply(row, funds=funds)

    async def get_accumulators(self, req: pb.GetAccumulatorsRequest) -> pb.AccumulatorsResponse:
        if not req.psn_no:
            raise invalid("FIELD_REQUIRED", "缺少人员编号 psn_no。 / psn_no is required.", "psn_no")
        year = req.year or self.clock().astimezone(CST).year
        insutype = req.insutype or "390"
        async with self.pool.acquire() as conn:
            data, caps, _ = await repo.read_accumulators(conn, req.psn_no, insutype, year)
        out = pb.AccumulatorsResponse(psn_no=req.psn_no, insutype=insutype, year=year)
        for key in sorted(data):
            out.accumulators.add(key=key, amount=int(data[key]), cap=int(caps[key]) if key in caps else -1)
        if "acct:used" in caps:
            out.account_balance_fen = account_balance(data, caps, None)
        elif insutype == "310":
            try:
                on = dt.date(year, 12, 31) if year != self.clock().astimezone(CST).year else self.clock().astimezone(CST).date()
                snap = await self.eligibility.snapshot(req.psn_no, insutype, on)
                out.account_balance_fen = snap.account_balance_fen - int(data.get("acct:used", 0))
            except Refusal:
                pass  # no enrollment that day: the balance is unknown, reported as 0
        return out


    # ------------------------------------------------------------------------- reconciliation, clearing

    async def reconcile_totals(self, req: pb.ReconcileTotalsRequest) -> pb.ReconcileTotalsResponse:
        code = req.caller.fixmedins_code.strip()
        self._hospital(code)
        async with self.pool.acquire() as conn:
            return await reconciliation.reconcile_totals(conn, code, req)

    async def reconcile_detail(self, req: pb.ReconcileDetailRequest) -> pb.ReconcileDetailResponse:
        code = req.caller.fixmedins_code.strip()
        self._hospital(code)
        async with self.pool.acquire() as conn:
            return await reconciliation.reconcile_detail(conn, code, req)

    async def apply_clearing(self, req: pb.ApplyClearingRequest) -> pb.ApplyClearingResponse:
        code = req.caller.fixmedins_code.strip()
        self._hospital(code)
        clearing.check_month(req.setlym)

        async def work(conn, msgid):
            return await clearing.apply_clearing(conn, code, msgid, req), {}

        return await self._journaled(req.caller, req, "apply_clearing", pb.ApplyClearingResponse, work)

    async def run_clearing(self, req: pb.RunClearingRequest) -> pb.ClearingRun:
        return await clearing.run_clearing(self.pool, req.setlym, self.clock())


# ----------------------------------------------------------------------------- helpers

def apply_deltas(data: dict, caps: dict, r: SettlementResult) -> tuple[dict, dict]:
    """The accumulators after a settlement, with the engine's caps recorded; refuses to produce a
    row that exceeds a cap (the engine should never ask; this is the last line of defence)."""
    new = dict(data)
    for key, delta in r.deltas.items():
        new[key] = int(new.get(key, 0)) + delta
    new_caps = dict(caps)
    new_caps.update(r.caps)
    over = [k for k, cap in r.caps.items() if int(new.get(k, 0)) > cap]
    if over:
        raise InvariantViolated(f"accumulators would exceed their caps: {over}")
    return new, new_caps


def account_balance(data: dict, caps: dict, fallback: int | None) -> int:
    """Personal account left: the year's credit (recorded as the cap of acct:used) minus used."""
    credit = caps.get("acct:used", fallback)
    if credit is None:
        return 0
    return int(credit) - int(data.get("acct:used", 0))


def _amounts(r: SettlementResult) -> dict[str, int]:
    return dict(
        medfee_sumamt=r.medfee_sumamt, fulamt_ownpay_amt=r.fulamt_ownpay_amt, overlmt_selfpay=r.overlmt_selfpay,
        preselfpay_amt=r.preselfpay_amt, inscp_scp_amt=r.inscp_scp_amt, act_pay_dedc=r.act_pay_dedc,
        hifp_pay=r.hifp_pay, cvlserv_pay=r.cvlserv_pay, hifes_pay=r.hifes_pay, hifmi_pay=r.hifmi_pay,
        hifob_pay=r.hifob_pay, maf_pay=r.maf_pay, oth_pay=r.oth_pay, fund_pay_sumamt=r.fund_pay_sumamt,
        psn_part_amt=r.psn_part_amt, acct_pay=r.acct_pay, psn_cash_pay=r.psn_cash_pay, hosp_part_amt=r.hosp_part_amt)


def _fee_json(f) -> dict:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in dict(f).items() if k != "setl_id"}


def _fee_row(f: dict) -> dict:
    row = dict(f)
    row["cnt"] = Decimal(str(row["cnt"]))
    row["selfpay_prop"] = Decimal(str(row["selfpay_prop"]))
    return row
