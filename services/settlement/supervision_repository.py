"""All SQL of fund supervision (schema `supervision`, owned by settlement; docs/SUPERVISION.md):
the person history the rules read (from settlement's own visits and fees), the findings of
committed settlements, the death registry, and the reviewers' alerts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from services.supervision.model import Finding, History, PastItem, PastVisit

# The person's visits that can matter on `since`..: begun since, ended since, or an admission
# still open; with each visit's items of the codes the rules look at (NULL: every code).
Q_HISTORY = """
SELECT d.death_date,
       (SELECT json_agg(json_build_array(
                 v.mdtrt_id, v.fixmedins_code, v.kind, v.begntime::date::text, v.endtime::date::text, v.status,
                 (SELECT json_agg(json_build_array(f.med_list_codg, f.cnt::text, f.fee_ocur_time))
                  FROM settlement.fee_details f
                  WHERE f.mdtrt_id = v.mdtrt_id AND ($4::text[] IS NULL OR f.med_list_codg = ANY($4::text[])))))
        FROM settlement.visits v
        WHERE v.psn_no = $1 AND v.mdtrt_id <> $2 AND v.status <> 'cancelled'
          AND (v.begntime >= $3 OR v.endtime >= $3 OR (v.kind = 'inpatient' AND v.endtime IS NULL))) AS visits
FROM (SELECT 1) AS one
LEFT JOIN supervision.person_deaths d ON d.psn_no = $1
"""

Q_STORE_DEATH = """
INSERT INTO supervision.person_deaths (psn_no, death_date) VALUES ($1, $2)
ON CONFLICT (psn_no) DO UPDATE SET death_date = excluded.death_date, updated_at = now()
WHERE supervision.person_deaths.death_date <> excluded.death_date
"""
Q_DROP_DEATHS = "DELETE FROM supervision.person_deaths WHERE psn_no = ANY($1::text[])"

Q_RECORD_FINDINGS = """
INSERT INTO supervision.findings (setl_id, mdtrt_id, psn_no, fixmedins_code, insured_pool, rule_code, rule_name,
                                  kind, severity, action, feedetl_sn, amount_fen, message, evidence)
SELECT $1, $2, $3, $4, $5, f->>'rule_code', f->>'rule_name', f->>'kind', f->>'severity', f->>'action',
       f->>'feedetl_sn', (f->>'amount_fen')::bigint, f->>'message', f->'evidence'
FROM jsonb_array_elements($6::text::jsonb) AS f
ON CONFLICT DO NOTHING
"""

ALERT_COLUMNS = ("alert_id", "pattern", "rule_code", "severity", "status", "psn_no", "fixmedins_code", "insured_pool",
                 "setl_ids", "summary", "evidence", "amount_fen", "reviewer", "note", "created_at", "reviewed_at")
_ALERT_SELECT = f"SELECT {', '.join(ALERT_COLUMNS)} FROM supervision.alerts"

Q_INSERT_ALERT = """
INSERT INTO supervision.alerts (alert_id, pattern, rule_code, severity, psn_no, fixmedins_code, insured_pool, setl_ids,
                                summary, evidence, amount_fen, dedup_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9, $10::text::jsonb, $11, $12)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING alert_id
"""

Q_REVIEW = """
WITH old AS (SELECT status FROM supervision.alerts WHERE alert_id = $1 FOR UPDATE),
upd AS (UPDATE supervision.alerts SET status = $2, reviewer = $3, note = $4, reviewed_at = now()
        WHERE alert_id = $1 AND status = 'open' RETURNING alert_id),
ev AS (INSERT INTO supervision.alert_events (alert_id, who, from_status, to_status, note)
       SELECT $1, $3, 'open', $2, $4 FROM upd)
SELECT (SELECT status FROM old) AS old_status, (SELECT count(*) FROM upd) AS updated
"""

# The committed settlements of a window with their visit, for the after-the-fact analysis.
Q_SETTLED = """
SELECT s.setl_id, s.mdtrt_id, s.psn_no, s.fixmedins_code, s.insured_pool, s.treatment_pool, s.medfee_sumamt,
       s.fund_pay_sumamt, s.setl_date, v.kind, v.begntime::date AS begin, v.endtime::date AS end, v.dise_codg,
       d.death_date,
       (SELECT array_agg(DISTINCT f.med_list_codg) FROM settlement.fee_details f WHERE f.setl_id = s.setl_id) AS codes
FROM settlement.settlements s
JOIN settlement.visits v ON v.mdtrt_id = s.mdtrt_id
LEFT JOIN supervision.person_deaths d ON d.psn_no = s.psn_no
WHERE s.status = 'settled' AND s.setl_date >= $1 AND s.setl_date <= $2
ORDER BY s.psn_no, v.begntime, s.setl_id
"""

Q_FINDINGS_SINCE = """
SELECT f.setl_id, f.psn_no, f.fixmedins_code, f.insured_pool, f.rule_code, f.rule_name, f.kind, f.severity, f.action,
       f.feedetl_sn, f.amount_fen, f.message, f.evidence
FROM supervision.findings f
JOIN settlement.settlements s ON s.setl_id = f.setl_id AND s.status = 'settled'
WHERE s.setl_date >= $1 AND s.setl_date <= $2
"""


def _day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


async def read_history(db: Any, psn_no: str, mdtrt_id: str, since: dt.date,
                       codes: Sequence[str] | None) -> tuple[History, dt.date | None]:
    """(the person's recent visits and items, their registered death date) in one round trip."""
    r = await db.fetchrow(Q_HISTORY, psn_no, mdtrt_id, dt.datetime.combine(since, dt.time()),
                          None if codes is None else list(codes))
    visits, items = [], []
    for mdtrt, hospital, kind, begin, end, status, fees in r["visits"] or ():
        b = dt.date.fromisoformat(begin)
        e = _day(end)
        visits.append(PastVisit(mdtrt, hospital, kind, b, e, status == "settled"))
        for code, cnt, when in fees or ():
            items.append(PastItem(mdtrt, hospital, code, Decimal(cnt), _day(when) or b))
    return History(tuple(visits), tuple(items)), r["death_date"]


async def store_deaths(conn: asyncpg.Connection, rows: Sequence[tuple[str, dt.date | None]]) -> None:
    """The reference loader's death dates: set for those given, removed for persons listed without."""
    given = [(p, d) for p, d in rows if d is not None]
    if given:
        await conn.executemany(Q_STORE_DEATH, given)
    gone = [p for p, d in rows if d is None]
    if gone:
        await conn.execute(Q_DROP_DEATHS, gone)


def finding_rows(findings: Iterable[tuple[Finding, str]]) -> str:
    return json.dumps([dict(f.as_json(), action=action) for f, action in findings], ensure_ascii=False)


async def record_findings(db: Any, *, setl_id: str, mdtrt_id: str, psn_no: str, hospital: str, insured_pool: str,
                          findings: Sequence[tuple[Finding, str]]) -> None:
    await db.execute(Q_RECORD_FINDINGS, setl_id, mdtrt_id, psn_no, hospital, insured_pool, finding_rows(findings))


@dataclass(frozen=True, slots=True)
class NewAlert:
    alert_id: str
    pattern: str
    rule_code: str
    severity: str
    psn_no: str
    fixmedins_code: str
    insured_pool: str
    setl_ids: tuple[str, ...]
    summary: str
    evidence: dict
    amount_fen: int
    dedup_key: str


class SupervisionRepository:
    def __init__(self, db: Any) -> None:
        self._db = db  # an asyncpg pool or connection

    async def settled(self, since: dt.date, until: dt.date) -> list[asyncpg.Record]:
        return await self._db.fetch(Q_SETTLED, since, until)

    async def findings(self, since: dt.date, until: dt.date) -> list[asyncpg.Record]:
        return await self._db.fetch(Q_FINDINGS_SINCE, since, until)

    async def insert_alerts(self, alerts: Sequence[NewAlert]) -> int:
        n = 0
        for a in alerts:
            got = await self._db.fetchval(Q_INSERT_ALERT, a.alert_id, a.pattern, a.rule_code, a.severity, a.psn_no,
                                          a.fixmedins_code, a.insured_pool, list(a.setl_ids), a.summary,
                                          json.dumps(a.evidence, ensure_ascii=False), a.amount_fen, a.dedup_key)
            n += got is not None
        return n

    async def record_run(self, since: dt.date, until: dt.date, settlements: int, new: int) -> None:
        await self._db.execute("INSERT INTO supervision.runs (since, until, settlements, alerts_new) "
                               "VALUES ($1, $2, $3, $4)", since, until, settlements, new)

    async def list_alerts(self, *, status: str = "", pattern: str = "", psn_no: str = "", hospital: str = "",
                          limit: int = 100) -> list[asyncpg.Record]:
        return await self._db.fetch(
            f"{_ALERT_SELECT} WHERE ($1 = '' OR status = $1) AND ($2 = '' OR pattern = $2) AND ($3 = '' OR psn_no = $3)"
            " AND ($4 = '' OR fixmedins_code = $4) ORDER BY created_at DESC, alert_id LIMIT $5",
            status, pattern, psn_no, hospital, limit)

    async def get_alert(self, alert_id: str) -> asyncpg.Record | None:
        return await self._db.fetchrow(f"{_ALERT_SELECT} WHERE alert_id = $1", alert_id)

    async def review(self, alert_id: str, status: str, reviewer: str, note: str) -> tuple[str | None, bool]:
        """(the status before, whether this call moved it)."""
        r = await self._db.fetchrow(Q_REVIEW, alert_id, status, reviewer, note)
        return r["old_status"], bool(r["updated"])
