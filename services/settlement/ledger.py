"""Balanced double entry for one settlement or reversal (DOMAIN.md §6 "Ledger").

Pure: fund lines in, ledger rows out. amount_fen > 0 is a debit, < 0 a credit; every transfer
is two rows that sum to zero, so the whole ledger sums to zero by construction (the auditor
checks it anyway).

Local visit: insured pool's fund account → hospital receivable.
Cross-region visit (insured pool ≠ treatment pool): the treatment pool advances the payment,
so each fund line is two transfers: insured fund → treatment pool clearing (leg "advance",
what the monthly clearing bills the insured pool for) and treatment pool clearing → hospital
receivable (leg "pay"). A personal-account payment (310200) made outside the insured pool is
advanced the same way, from the person's account (acct:<insured pool>), and cleared too, on its
own line of the statement (DOMAIN.md §6); at home it goes from the account to the receivable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.engine.model import FundLine

PERSONAL_ACCOUNT = "310200"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    entry_no: int
    transfer_no: int
    leg: str  # advance | pay
    account: str
    fund_pay_type: str
    amount_fen: int


def fund_account(insured_pool: str, fund_pay_type: str) -> str:
    if fund_pay_type == PERSONAL_ACCOUNT:
        return f"acct:{insured_pool}"
    return f"fund:{insured_pool}:{fund_pay_type}"


def entries_for(fund_lines: Iterable[FundLine], *, insured_pool: str, treatment_pool: str,
                hospital: str) -> list[LedgerEntry]:
    out: list[LedgerEntry] = []
    transfer = 0

    def move(leg: str, debit: str, credit: str, fpt: str, amount: int) -> None:
        nonlocal transfer
        out.append(LedgerEntry(len(out), transfer, leg, debit, fpt, amount))
        out.append(LedgerEntry(len(out), transfer, leg, credit, fpt, -amount))
        transfer += 1

    receivable = f"receivable:{hospital}"
    cross = insured_pool != treatment_pool
    for line in fund_lines:
        if line.amount_fen == 0:
            continue
        source = fund_account(insured_pool, line.fund_pay_type)
        if cross:
            clearing = f"clearing:{treatment_pool}"
            move("advance", source, clearing, line.fund_pay_type, line.amount_fen)
            move("pay", clearing, receivable, line.fund_pay_type, line.amount_fen)
        else:
            move("pay", source, receivable, line.fund_pay_type, line.amount_fen)
    return out
