"""The settlement rules engine (docs/RULES.md §5): plain data in, plain data out.

No I/O, no asyncio, no protobuf, no clock, no float. Money is integer fen, ratios Decimal,
every ratio step rounded half-up to the fen.
"""

from .items import split_items
from .money import fen_to_yuan, round_half_up, yuan_to_fen
from .outcomes import InvariantViolated, Outcome, SettlementRefused
from .rules import Benefit, benefit_for, line_for, region_class
from .settle import check_identities, funds_of, reverse, settle

__all__ = [
    "Benefit", "InvariantViolated", "Outcome", "SettlementRefused", "benefit_for",
    "check_identities", "fen_to_yuan", "funds_of", "line_for", "region_class", "reverse",
    "round_half_up", "settle", "split_items", "yuan_to_fen",
]
