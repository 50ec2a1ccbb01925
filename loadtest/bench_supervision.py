"""Pure supervision-rule throughput: evaluations per second on one core for 5-, 50- and
500-item bills against the demo pool's 14 rules (every kind), with a realistic history (six
recent visits, forty past items). Target (issue #19): ≥ 20,000 five-item bills per second.

Not a test. Run: .venv/bin/python loadtest/bench_supervision.py [seconds_per_size]
Half of each bill's items are items some rule covers (quantity, diagnosis, duplicate,
gender), so the evaluator does real work; the others are plain catalogue items.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from infra.reference.make_demo import document  # noqa: E402
from services.common.clock import Clock  # noqa: E402
from services.refdata.schema import parse_document  # noqa: E402
from services.supervision.model import BillItem, Encounter, History, PastItem, PastVisit, Patient  # noqa: E402
from services.supervision.rules import evaluate  # noqa: E402

TODAY = Clock().today()
RULES = next(r for r in parse_document(document(TODAY.year)).supervision if r.pool == "330600" and r.year == TODAY.year)
COVERED = ["XC08CAA015A001010104563", "XN02BEA001A001010100678", "001102000010000", "XA10AEA010B002010100123",
           "002501000010000", "002503000010000"]
PLAIN = ["001104000010000", "XC10AAA089A001010104327", "003105000010000", "001107000010000", "XJ01DDA046B001010100234"]
H = ("H33060200001", "H33060200002", "H33060200003")


def bill(n: int) -> tuple[BillItem, ...]:
    out = []
    for i in range(n):
        code = COVERED[i % len(COVERED)] if i % 2 == 0 else PLAIN[i % len(PLAIN)]
        out.append(BillItem(str(i), code, Decimal(1 + i % 3), 1000 + i, TODAY - dt.timedelta(days=i % 3)))
    return tuple(out)


HISTORY = History(
    visits=tuple(PastVisit(f"V{i}", H[i % 3], "inpatient" if i == 5 else "outpatient", TODAY - dt.timedelta(days=3 * i + 1),
                           TODAY - dt.timedelta(days=3 * i - 3) if i == 5 else None) for i in range(6)),
    items=tuple(PastItem(f"V{i % 6}", H[i % 3], (COVERED + PLAIN)[i % 11], Decimal(2), TODAY - dt.timedelta(days=i))
                for i in range(40)))
PATIENT = Patient("330600000000000001", "1", dt.date(TODAY.year - 60, 3, 1))


def run(n_items: int, seconds: float) -> tuple[float, int]:
    items = bill(n_items)
    enc = Encounter("M1", H[0], "outpatient", TODAY, None, ("I10",))
    findings = len(evaluate(RULES, PATIENT, enc, items, HISTORY).findings)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            evaluate(RULES, PATIENT, enc, items, HISTORY)
        count += 200
    return count / (time.perf_counter() - start), findings


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(f"supervision rules: {len(RULES.rules)} rules, history {len(HISTORY.visits)} visits / "
          f"{len(HISTORY.items)} items, one core")
    for n in (5, 50, 500):
        rate, findings = run(n, seconds)
        print(f"{n:>4}-item bills: {rate:>10,.0f} evaluations/s  ({findings} findings per bill)")


if __name__ == "__main__":
    main()
