"""Named outcomes of a settlement the engine refuses, each with a message a clerk can act on.

The gateway maps an Outcome to an HIS failure envelope (infcode -1, err_msg = message); the
gRPC services map it to a status code in one place. Nothing here does I/O.
"""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    EMPTY_BILL = "EMPTY_BILL"  # no fee items to settle
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # det_item_fee_sumamt != cnt × pric
    INVALID_ITEM = "INVALID_ITEM"  # negative or non-finite quantity or price
    NOT_ELIGIBLE = "NOT_ELIGIBLE"  # the person's enrollment does not match the policy
    POLICY_YEAR_MISMATCH = "POLICY_YEAR_MISMATCH"  # policy of another year than the visit
    MED_TYPE_UNKNOWN = "MED_TYPE_UNKNOWN"  # med_type the engine does not settle
    DISEASE_CODE_MISSING = "DISEASE_CODE_MISSING"  # med_type 14 without a disease code
    LINE_NOT_COVERED = "LINE_NOT_COVERED"  # the insured pool's policy has no such line/level
    NO_CHRONIC_QUALIFICATION = "NO_CHRONIC_QUALIFICATION"  # no 门慢 qualification that day
    DISEASE_NOT_CROSS_PROVINCE = "DISEASE_NOT_CROSS_PROVINCE"  # not one of the five diseases
    HOSPITAL_NOT_CROSS_PROVINCE = "HOSPITAL_NOT_CROSS_PROVINCE"  # hospital not connected
    NOT_FILED = "NOT_FILED"  # cross-region visit needing a filing, none active
    REVERSAL_OF_REVERSAL = "REVERSAL_OF_REVERSAL"  # a reversal cannot itself be reversed


class SettlementRefused(Exception):
    """The engine will not settle this bill. `message` is Chinese then English and tells the
    hospital clerk what to do; `field` points at the offending input field when there is one."""

    def __init__(self, outcome: Outcome, message: str, field: str | None = None) -> None:
        super().__init__(f"{outcome.value}: {message}")
        self.outcome = outcome
        self.message = message
        self.field = field


class InvariantViolated(AssertionError):
    """An internal error: a computed result broke one of the settlement identities.

    Never a refusal the hospital can fix; it means the engine (or its input data) is wrong and
    the settlement must not be stored."""
