"""The reviewers' alerts of fund supervision (docs/SUPERVISION.md): list, read, and the review
workflow open → confirmed | dismissed, with the reviewer's name and note (the trail is kept in
supervision.alert_events). The alerts themselves are raised by the batch (supervise.py)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from services.common.grpcutil import invalid, not_found, refused
from services.settlement.supervision_repository import ALERT_COLUMNS, SupervisionRepository

STATUSES = ("open", "confirmed", "dismissed")
REVIEWED = ("confirmed", "dismissed")


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: str
    pattern: str
    rule_code: str
    severity: str
    status: str
    psn_no: str
    fixmedins_code: str
    insured_pool: str
    setl_ids: tuple[str, ...]
    summary: str
    evidence_json: str
    amount_fen: int
    reviewer: str
    note: str
    created_at: dt.datetime
    reviewed_at: dt.datetime | None


def _view(r) -> AlertView:
    d = dict(zip(ALERT_COLUMNS, r, strict=True))
    ev = d.pop("evidence")
    return AlertView(**{**d, "setl_ids": tuple(d["setl_ids"] or ()),
                        "evidence_json": json.dumps(ev, ensure_ascii=False, sort_keys=True)})


class Alerts:
    def __init__(self, pool) -> None:
        self.repo = SupervisionRepository(pool)

    async def list(self, *, status: str = "", pattern: str = "", psn_no: str = "", hospital: str = "",
                   limit: int = 0) -> list[AlertView]:
        if status and status not in STATUSES:
            raise invalid("INVALID_INPUT", f"status {status!r} 应为 open、confirmed 或 dismissed。 / status must be open, "
                          "confirmed or dismissed.", "status")
        if limit < 0 or limit > 1000:
            raise invalid("INVALID_LIMIT", "limit 应在 1..1000。 / limit must be 1..1000.", "limit")
        rows = await self.repo.list_alerts(status=status, pattern=pattern, psn_no=psn_no, hospital=hospital,
                                           limit=limit or 100)
        return [_view(r) for r in rows]

    async def get(self, alert_id: str) -> AlertView:
        r = await self.repo.get_alert(alert_id)
        if r is None:
            raise not_found("ALERT_NOT_FOUND", f"监管预警 {alert_id} 不存在。 / Alert {alert_id} not found.", "alert_id")
        return _view(r)

    async def review(self, alert_id: str, status: str, reviewer: str, note: str) -> AlertView:
        if status not in REVIEWED:
            raise invalid("INVALID_INPUT", f"status {status!r} 应为 confirmed 或 dismissed。 / status must be confirmed "
                          "or dismissed.", "status")
        if not reviewer.strip():
            raise invalid("FIELD_REQUIRED", "缺少复核人 reviewer。 / reviewer is required.", "reviewer")
        if not note.strip():
            raise invalid("FIELD_REQUIRED", "复核须填写意见 note。 / A review needs a note.", "note")
        if len(note) > 2000 or len(reviewer) > 100:
            raise invalid("INVALID_INPUT", "note 至多 2000 字、reviewer 至多 100 字。 / note ≤ 2000, reviewer ≤ 100 "
                          "characters.", "note" if len(note) > 2000 else "reviewer")
        old, moved = await self.repo.review(alert_id, status, reviewer.strip(), note.strip())
        if old is None:
            raise not_found("ALERT_NOT_FOUND", f"监管预警 {alert_id} 不存在。 / Alert {alert_id} not found.", "alert_id")
        if not moved:
            raise refused("ALERT_ALREADY_REVIEWED", f"监管预警 {alert_id} 已复核为 {old}，不能再变更。 / The alert is "
                          f"already {old}.", "alert_id")
        return await self.get(alert_id)
