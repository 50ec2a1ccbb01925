"""`medsettle supervise --since YYYY-MM-DD`: the after-the-fact fund-supervision batch
(docs/SUPERVISION.md). Reads the committed settlements of the window (with a look-back for
readmissions and overlapping stays), the findings recorded at settlement and the registered
deaths; the pure analysis (services/supervision/after.py) finds the patterns and the hospital
outliers; new alerts are stored (a re-run adds none: dedup keys). `--every S` repeats it."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

from services.settlement.supervision_repository import NewAlert, SupervisionRepository
from services.supervision.after import Alert, RecordedFinding, Settled, analyse

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 31  # context before `since`: a readmission or an overlapping stay that began earlier


@dataclass(frozen=True, slots=True)
class SuperviseReport:
    since: dt.date
    until: dt.date
    settlements: int
    alerts: tuple[Alert, ...]
    new: int

    def render(self) -> str:
        by = Counter(a.pattern for a in self.alerts)
        lines = [f"supervision {self.since}..{self.until}: {self.settlements} settlements, {len(self.alerts)} alerts "
                 f"({self.new} new)"]
        lines += [f"  {p:<24}{n:>6}" for p, n in sorted(by.items())]
        return "\n".join(lines)


def _settled(r, level_of) -> Settled:
    return Settled(setl_id=r["setl_id"], psn_no=r["psn_no"], hospital=r["fixmedins_code"],
                   insured_pool=r["insured_pool"], treatment_pool=r["treatment_pool"], kind=r["kind"],
                   begin=r["begin"], end=r["end"], setl_date=r["setl_date"], medfee_fen=r["medfee_sumamt"],
                   fund_fen=r["fund_pay_sumamt"], diagnosis=r["dise_codg"] or "", codes=frozenset(r["codes"] or ()),
                   death_date=r["death_date"], level=level_of(r["fixmedins_code"]))


def _finding(r) -> RecordedFinding:
    return RecordedFinding(setl_id=r["setl_id"], psn_no=r["psn_no"], hospital=r["fixmedins_code"],
                           insured_pool=r["insured_pool"], rule_code=r["rule_code"], rule_name=r["rule_name"],
                           kind=r["kind"], severity=r["severity"], action=r["action"], feedetl_sn=r["feedetl_sn"],
                           amount_fen=r["amount_fen"], message=r["message"])


async def supervise(pool, refs, since: dt.date, until: dt.date) -> SuperviseReport:
    repo = SupervisionRepository(pool)

    def level_of(code: str) -> int:
        h = refs.hospital(code)
        return h.level if h is not None else 0

    rows = await repo.settled(since - dt.timedelta(days=LOOKBACK_DAYS), until)
    settled = [_settled(r, level_of) for r in rows]
    findings = [_finding(r) for r in await repo.findings(since, until)]
    alerts = analyse(settled, refs.supervision, since, findings)
    new = await repo.insert_alerts([
        NewAlert(alert_id=a.alert_id, pattern=a.pattern, rule_code=a.rule_code, severity=a.severity, psn_no=a.psn_no,
                 fixmedins_code=a.hospital, insured_pool=a.insured_pool, setl_ids=a.setl_ids, summary=a.summary,
                 evidence=dict(a.evidence), amount_fen=a.amount_fen, dedup_key=a.dedup_key) for a in alerts])
    in_window = sum(1 for s in settled if s.setl_date >= since)
    await repo.record_run(since, until, in_window, new)
    return SuperviseReport(since, until, in_window, tuple(alerts), new)


async def run_supervise_cli(dsn: str, since: str, until: str | None, every_s: float = 0) -> int:
    from services.common.clock import Clock
    from services.common.db import create_pool, migrate
    from services.refdata.cache import ReferenceCache

    try:
        start = dt.date.fromisoformat(since)
        end = dt.date.fromisoformat(until) if until else Clock().today()
    except ValueError as e:
        print(f"medsettle supervise: --since/--until must be YYYY-MM-DD ({e})")
        return 2
    if end < start:
        print("medsettle supervise: --until is before --since")
        return 2
    await migrate(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        refs = await ReferenceCache.load(pool)
        while True:
            report = await supervise(pool, refs, start, end)
            print(report.render(), flush=True)
            if every_s <= 0:
                return 0
            await asyncio.sleep(every_s)
            await refs.reload()
            end = Clock().today() if not until else end
    finally:
        await pool.close()
