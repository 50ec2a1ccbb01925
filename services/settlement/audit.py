"""The auditor (`medsettle audit`): recompute every settlement invariant from the database and
name each row that breaks one. Read-only, one REPEATABLE READ snapshot, so a busy system is
audited as of one instant.

Checks: the ledger sums to zero overall and per settlement, and matches each settlement's fund
and account amounts; every accumulator equals the sum of the deltas of the settlements and
reversals that moved it; no accumulator exceeds its recorded cap; one settlement per
(hospital, msgid) and every journaled settle has its settlement; the three identities of every
settlement; every reversal points to a cancelled original that is not itself a reversal and
negates it exactly, and every cancelled original has its reversal; every clearing run still
ties to the ledger (fund and personal-account lines): nothing was booked into a frozen month.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

CHECKS: tuple[tuple[str, str], ...] = (
    ("ledger sums to zero overall", """
        SELECT 'ledger' AS row, sum(amount_fen) AS detail FROM settlement.ledger_entries HAVING sum(amount_fen) <> 0"""),
    ("ledger sums to zero per settlement", """
        SELECT setl_id AS row, 'entries sum to ' || sum(amount_fen) AS detail
        FROM settlement.ledger_entries GROUP BY setl_id HAVING sum(amount_fen) <> 0"""),
    ("ledger matches the settlement's fund and account payments", """
        SELECT s.setl_id AS row,
               'fund+acct ' || (s.fund_pay_sumamt + s.acct_pay) || ' but ledger debits ' || coalesce(l.paid, 0) AS detail
        FROM settlement.settlements s
        LEFT JOIN (SELECT setl_id, sum(amount_fen) AS paid FROM settlement.ledger_entries
                   WHERE account LIKE 'fund:%' OR account LIKE 'acct:%' GROUP BY setl_id) l USING (setl_id)
        WHERE s.fund_pay_sumamt + s.acct_pay <> coalesce(l.paid, 0)"""),
    ("accumulators equal the sum of their settlements' deltas", """
        WITH d AS (SELECT s.psn_no, s.insutype, s.year, k.key, sum(k.value::bigint) AS total
                   FROM settlement.settlements s, jsonb_each_text(s.deltas) k GROUP BY 1, 2, 3, 4),
             a AS (SELECT ac.psn_no, ac.insutype, ac.year, k.key, k.value::bigint AS amount
                   FROM settlement.accumulators ac, jsonb_each_text(ac.data) k)
        SELECT psn_no || '/' || insutype || '/' || year || ' ' || key AS row,
               'accumulator ' || coalesce(a.amount, 0) || ' but settlements sum to ' || coalesce(d.total, 0) AS detail
        FROM a FULL JOIN d USING (psn_no, insutype, year, key)
        WHERE coalesce(a.amount, 0) <> coalesce(d.total, 0)"""),
    ("no cap exceeded", """
        SELECT ac.psn_no || '/' || ac.insutype || '/' || ac.year || ' ' || c.key AS row,
               coalesce(ac.data ->> c.key, '0') || ' > cap ' || c.value AS detail
        FROM settlement.accumulators ac, jsonb_each_text(ac.caps) c
        WHERE coalesce((ac.data ->> c.key)::bigint, 0) > c.value::bigint"""),
    ("one settlement per (hospital, msgid)", """
        SELECT fixmedins_code || '/' || msgid AS row, count(*) || ' settlements' AS detail
        FROM settlement.settlements GROUP BY fixmedins_code, msgid HAVING count(*) > 1"""),
    ("every journaled settlement exists", """
        SELECT t.fixmedins_code || '/' || t.msgid AS row, 'journal names missing settlement ' || t.setl_id AS detail
        FROM settlement.transactions t
        WHERE t.effect IN ('settle', 'cancel_settlement') AND t.reply <> ''::bytea
          AND NOT EXISTS (SELECT 1 FROM settlement.settlements s WHERE s.setl_id = t.setl_id)"""),
    ("an outpatient visit has at most one settlement in force", """
        SELECT mdtrt_id AS row, count(*) || ' settlements in force' AS detail
        FROM settlement.settlements WHERE status = 'settled' AND clr_type = '11'
        GROUP BY mdtrt_id HAVING count(*) > 1"""),
    ("settlement identities", """
        SELECT setl_id AS row, concat_ws('; ',
            CASE WHEN medfee_sumamt <> fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt
                 THEN 'medfee <> four parts' END,
            CASE WHEN medfee_sumamt <> fund_pay_sumamt + psn_part_amt + hosp_part_amt
                 THEN 'medfee <> fund + psn_part + hosp_part' END,
            CASE WHEN fund_pay_sumamt <> hifp_pay + cvlserv_pay + hifes_pay + hifmi_pay + hifob_pay + maf_pay + oth_pay
                 THEN 'fund_pay_sumamt <> sum of funds' END,
            CASE WHEN psn_part_amt <> acct_pay + psn_cash_pay THEN 'psn_part <> acct + cash' END) AS detail
        FROM settlement.settlements
        WHERE medfee_sumamt <> fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt
           OR medfee_sumamt <> fund_pay_sumamt + psn_part_amt + hosp_part_amt
           OR fund_pay_sumamt <> hifp_pay + cvlserv_pay + hifes_pay + hifmi_pay + hifob_pay + maf_pay + oth_pay
           OR psn_part_amt <> acct_pay + psn_cash_pay"""),
    ("every reversal negates a cancelled original", """
        SELECT r.setl_id AS row, CASE
                 WHEN o.setl_id IS NULL THEN 'original ' || r.reverses_setl_id || ' missing'
                 WHEN o.reverses_setl_id IS NOT NULL THEN 'reverses a reversal ' || o.setl_id
                 WHEN o.status <> 'cancelled' THEN 'original ' || o.setl_id || ' is ' || o.status
                 ELSE 'amounts do not negate ' || o.setl_id END AS detail
        FROM settlement.settlements r LEFT JOIN settlement.settlements o ON o.setl_id = r.reverses_setl_id
        WHERE r.reverses_setl_id IS NOT NULL AND (o.setl_id IS NULL OR o.reverses_setl_id IS NOT NULL
           OR o.status <> 'cancelled' OR r.medfee_sumamt <> -o.medfee_sumamt
           OR r.fund_pay_sumamt <> -o.fund_pay_sumamt OR r.acct_pay <> -o.acct_pay
           OR r.psn_cash_pay <> -o.psn_cash_pay)"""),
    ("every cancelled settlement has its reversal", """
        SELECT o.setl_id AS row, 'cancelled without a reversal' AS detail
        FROM settlement.settlements o
        WHERE o.status = 'cancelled'
          AND NOT EXISTS (SELECT 1 FROM settlement.settlements r WHERE r.reverses_setl_id = o.setl_id)"""),
    ("clearing runs tie to the ledger", """
        WITH l AS (SELECT setlym, insured_pool, treatment_pool,
                          -coalesce(sum(amount_fen) FILTER (WHERE fund_pay_type <> '310200'), 0) AS fund,
                          -coalesce(sum(amount_fen) FILTER (WHERE fund_pay_type = '310200'), 0) AS acct
                   FROM settlement.ledger_entries WHERE leg = 'advance' AND account LIKE 'clearing:%'
                   GROUP BY 1, 2, 3),
             c AS (SELECT cs.setlym, cs.insured_pool, cs.treatment_pool, cs.fund_fen, cs.acct_fen
                   FROM settlement.clearing_statements cs)
        SELECT setlym || ' ' || insured_pool || '->' || treatment_pool AS row,
               CASE WHEN coalesce(c.fund_fen, 0) <> coalesce(l.fund, 0)
                    THEN 'statement ' || coalesce(c.fund_fen, 0) || ' but ledger ' || coalesce(l.fund, 0)
                    ELSE 'statement account ' || coalesce(c.acct_fen, 0) || ' but ledger account '
                         || coalesce(l.acct, 0) END AS detail
        FROM c FULL JOIN l USING (setlym, insured_pool, treatment_pool)
        WHERE setlym IN (SELECT setlym FROM settlement.clearing_runs)
          AND (coalesce(c.fund_fen, 0) <> coalesce(l.fund, 0) OR coalesce(c.acct_fen, 0) <> coalesce(l.acct, 0))"""),
)


@dataclass(frozen=True)
class Violation:
    check: str
    row: str
    detail: str

    def __str__(self) -> str:
        return f"VIOLATION [{self.check}] {self.row}: {self.detail}"


async def audit(conn: asyncpg.Connection) -> list[Violation]:
    """Every violation visible to `conn` (run it inside a transaction to audit one snapshot)."""
    out: list[Violation] = []
    for name, sql in CHECKS:
        for r in await conn.fetch(sql):
            out.append(Violation(name, str(r["row"]), str(r["detail"])))
    return out


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    return dict(await conn.fetchrow(
        "SELECT (SELECT count(*) FROM settlement.settlements) AS settlements,"
        " (SELECT count(*) FROM settlement.settlements WHERE reverses_setl_id IS NOT NULL) AS reversals,"
        " (SELECT count(*) FROM settlement.ledger_entries) AS ledger_entries,"
        " (SELECT count(*) FROM settlement.accumulators) AS accumulator_rows,"
        " (SELECT count(*) FROM settlement.clearing_runs) AS clearing_runs"))


async def run_audit(dsn: str) -> int:
    """`medsettle audit`: print each violating row; exit 1 on any violation, else 0 and a summary."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            violations = await audit(conn)
            summary = await counts(conn)
    finally:
        await conn.close()
    for v in violations:
        print(v)
    if violations:
        print(f"audit FAILED: {len(violations)} violation(s) in {len(CHECKS)} checks")
        return 1
    print(f"audit passed: {len(CHECKS)} checks over {summary['settlements']} settlements "
          f"({summary['reversals']} reversals), {summary['ledger_entries']} ledger entries, "
          f"{summary['accumulator_rows']} accumulator rows, {summary['clearing_runs']} clearing runs")
    return 0
