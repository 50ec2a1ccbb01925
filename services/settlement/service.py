"""The settlement service: its use cases over one pool, one journal, the reference data, the
eligibility and filing clients and the business clock (built once by the composition root,
main.py; the servicer in server.py calls them).

| use case | module | HIS transactions |
|---|---|---|
| visits | visits.py | 2201/2401 register, 2202/2404 cancel, 2203 diagnosis, 2402 discharge, 2405 undo |
| fees | fees.py | 2204/2301 upload, 2205/2302 cancel |
| settlements | settle.py | 2206/2303 pre-settle, 2207/2304 settle (exactly once, no cap exceeded) |
| reversals | reversal.py | 2208/2305 cancel a settlement, 2601 undo by msgid (Effect -> undo handler) |
| queries | queries.py | 5203 settlement, 5206 accumulators |
| reconciliation | reconciliation.py | 3201 totals, 3202 detail |
| clearing | clearing.py | 3203 clearing application, the monthly clearing run |
| audits | audits.py, supervision.py | 3101/3102 on request, 3101 on every upload, 3102 inside settle.py |
| alerts | alerts.py (raised by supervise.py) | the reviewers' console (REST /api/v1/admin/alerts) |

Types in domain.py, SQL in repository.py, the exactly-once journal in services/common/journal.py, double entry
in ledger.py, the rules in services.engine.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

import asyncpg

from services.common.clock import Clock
from services.common.journal import Journal
from services.settlement import repository
from services.settlement.alerts import Alerts
from services.settlement.audits import Audits
from services.settlement.clearing import Clearing
from services.settlement.fees import Fees
from services.settlement.operations import Operations
from services.settlement.ports import EligibilityService, FilingService, Now, Reference
from services.settlement.queries import Queries
from services.settlement.reconciliation import Reconciliation
from services.settlement.reversal import Reversals
from services.settlement.settle import Settlements
from services.settlement.supervision import Supervisor
from services.settlement.visits import Visits


def utcnow() -> dt.datetime:
    """The instant for a service built without a clock (the composition root passes one)."""
    return Clock().now()


class SettlementService:
    def __init__(self, pool: asyncpg.Pool, refs: Reference, eligibility: EligibilityService, filing: FilingService,
                 clock: Now = utcnow) -> None:
        journal = Journal(partial(repository.connection, pool))
        self.supervisor = Supervisor(refs)
        self.audits = Audits(pool, refs, eligibility, self.supervisor, clock)
        self.alerts = Alerts(pool)
        self.visits = Visits(journal, refs, eligibility, clock)
        self.fees = Fees(journal, refs, self.audits)
        self.settlements = Settlements(pool, journal, refs, eligibility, filing, clock, self.supervisor)
        self.reversals = Reversals(journal, clock)
        self.queries = Queries(pool, eligibility, clock)
        self.reconciliation = Reconciliation(pool, refs)
        self.clearing = Clearing(pool, journal, refs, clock)
        self.operations = Operations(pool)
