"""Pure-engine throughput: settlements per second on one core for 5-, 50- and 500-item bills.

Not a test. Run: .venv/bin/python loadtest/bench_engine.py [seconds_per_size]
The bill is an employee inpatient stay with a cap group, large-amount subsidy, civil-servant
subsidy, one supplementary plan and the personal account, so every fund step runs.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from decimal import Decimal as D

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from services.common.clock import Clock  # noqa: E402
from services.engine import settle  # noqa: E402
from services.engine.model import (  # noqa: E402
    Bill,
    Catalogue,
    CatalogueItem,
    FeeItem,
    Hospital,
    LinePolicy,
    PersonSnapshot,
    Policy,
    Pool,
    RatioCap,
    SettlementContext,
    SupplementaryPlan,
)
from services.engine.money import round_half_up  # noqa: E402

YEAR = Clock().today().year  # the policy's and the bill's year: this year in Beijing

POOL = Pool("330600", "绍兴市", ("310",), frozenset({"330600", "330602"}))
HOSPITAL = Hospital("H33060200001", "绍兴市人民医院", "330602", 3, True)
CLASSES = ("01", "02", "03")
CATALOGUE = Catalogue("330600", {
    f"ITEM{n:04d}": CatalogueItem(f"ITEM{n:04d}", f"项目{n}", "drug", CLASSES[n % 3],
                                  D("0.10") if n % 3 == 1 else D(0),
                                  5_000 if n % 7 == 0 else None)
    for n in range(1000)})
POLICY = Policy(
    pool="330600", insutype="310", year=YEAR, version=1, waiting_days=0,
    intra_province_requires_filing=False,
    lines={"inpatient": LinePolicy("inpatient", {1: D("0.85"), 2: D("0.80"), 3: D("0.70")},
                                   deductible_fen={"1": 30_000, "2": 60_000, "3": 80_000},
                                   repeat_factor=D("0.5"), cap_group="main")},
    cap_groups={"main": 5_000_000}, retired_bonus=D("0.05"),
    cross_region={"long_term": D(0), "referral": D("-0.10"), "emergency": D("-0.10"),
                  "temporary": D("-0.20"), "intra_province": D(0)},
    large_amount=RatioCap(D("0.80"), 30_000_000), civil_servant=RatioCap(D("0.5"), 2_000_000),
    supplementary=(SupplementaryPlan("huimin", "390300", "inscp_personal", 0, D("0.5"),
                                     1_000_000),))
PERSON = PersonSnapshot("330600000000000001", "张三", "310", "retired", "330600",
                        account_balance_fen=120_000, cvlserv=True)
CONTEXT = SettlementContext(PERSON, POOL, POOL, POLICY, CATALOGUE, None,
                            {"admissions:inpatient": 1, "fund:group:main": 4_000_000})


def make_bill(n_items: int) -> Bill:
    items = []
    for n in range(n_items):
        cnt = D(n % 5 + 1)
        price = 1_000 + (n * 7919) % 20_000
        items.append(FeeItem(f"{n:06d}", f"ITEM{(n * 31) % 1000:04d}", cnt, price,
                             round_half_up(cnt * price)))
    return Bill("21", dt.date(YEAR, 5, 20), HOSPITAL, tuple(items), acct_used_flag=True)


def settle_and_read(bill: Bill, context: SettlementContext) -> None:
    """A settlement whose explanation is also read, as the HIS response does: the engine
    formats explanation texts only when they are read, so this is the cost a caller sees."""
    for step in settle(bill, context).explanation:
        _ = step.text


def rate(n_items: int, seconds: float, run=settle) -> float:
    bill = make_bill(n_items)
    run(bill, CONTEXT)  # warm up
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(50):
            run(bill, CONTEXT)
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def machine_speed() -> str:
    """A yardstick to compare figures across machines: one Decimal multiply-and-round to the
    fen (the engine's basic step) and one empty Python function call, in ns."""
    import timeit
    from decimal import ROUND_HALF_UP

    ratio, one = D("0.70"), D(1)
    decimal_ns = min(timeit.repeat(lambda: (ratio * 12345).quantize(one, ROUND_HALF_UP),
                                   number=100_000, repeat=3)) / 100_000 * 1e9
    call_ns = min(timeit.repeat(lambda: None, number=100_000, repeat=3)) / 100_000 * 1e9
    return f"machine: Decimal ratio step {decimal_ns:.0f} ns, empty call {call_ns:.0f} ns"


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(machine_speed())
    for n_items in (5, 50, 500):
        per_second = rate(n_items, seconds)
        print(f"{n_items:4d}-item bills: {per_second:10,.0f} settlements/s "
              f"({1e6 / per_second:8.1f} µs each, one core)")
    per_second = rate(5, seconds, settle_and_read)
    print(f"   5-item bills, explanation read: {per_second:10,.0f} settlements/s "
          f"({1e6 / per_second:8.1f} µs each, one core)")


if __name__ == "__main__":
    main()
