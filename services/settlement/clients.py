"""The names services/settlement/main.py imports from here, until it imports eligibility_client
and filing_client directly (then this module goes)."""

from services.settlement.eligibility_client import EligibilityClient
from services.settlement.filing_client import FilingClient

__all__ = ["EligibilityClient", "FilingClient"]
