"""The settlement rules engine (docs/RULES.md §5): plain data in, plain data out.

No I/O, no asyncio, no protobuf, no clock, no float. Money is integer fen, ratios Decimal,
every ratio step rounded half-up to the fen.
"""

from .items import split_items
from .money import fen_to_yuan, round_half_up, yuan_to_fen
from .outcomes import InvariantViolated, Outcome, SettlementRefused
from .rules import line_for, region_class
from .settle import check_identities, reverse, settle

__all__ = [
    "InvariantViolated", "Outcome", "SettlementRefused", "check_identities", "fen_to_yuan",
    "line_for", "region_class", "reverse", "round_half_up", "settle", "split_items",
    "yuan_to_fen",
]
