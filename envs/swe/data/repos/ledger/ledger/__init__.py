"""Bank accounts kept in integer cents."""

from ledger.accounts import Account, InsufficientFunds, Ledger
from ledger.money import format_cents, parse_amount

__all__ = ["Account", "InsufficientFunds", "Ledger", "format_cents", "parse_amount"]
