"""Inputs every platform command shares: money amounts and files of ids.

Errors are `kernel.errors.PlatformBadInput` (``MTurkBadInput`` and ``ProlificBadInput`` are its
kinds), so one message serves both platforms: MTurk pays in US dollars, Prolific in the
workspace's currency.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

from kernel.errors import PlatformBadInput


MAX_AMOUNT = Decimal("100000")
"""The largest amount a command takes (a reward or bonus above it is a typo, not a payment)."""


def parse_amount(text: str, what: str) -> Decimal:
    """An amount of money such as ``"0.50"``: from 0 to `MAX_AMOUNT`, at most two decimals (cents or pence)."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise PlatformBadInput(f"{what} ({text!r}) must be an amount such as 0.50") from None
    # Range first: quantize itself fails on values beyond the context's precision (1e30).
    if not (value.is_finite() and 0 <= value <= MAX_AMOUNT and value == value.quantize(Decimal("0.01"))):
        raise PlatformBadInput(f"{what} ({text!r}) must be a non-negative amount with at most two "
                               f"decimals, such as 0.50, and at most {MAX_AMOUNT}")
    return abs(value.quantize(Decimal("0.01")))  # abs: "-0" is 0.00, not -0.00


def read_column(path: Path, column: str) -> list[str]:
    """The non-empty values of ``column`` in a CSV file."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise PlatformBadInput(f"{path} has no {column} column (columns: {reader.fieldnames})")
        return [row[column].strip() for row in reader if row[column] and row[column].strip()]


def read_ids(path: Path, column: str) -> list[str]:
    """Ids from a file: one per line, or a CSV column ``column`` (e.g. MTurk's batch results)."""
    text = Path(path).read_text()
    first = text.splitlines()[0] if text.strip() else ""
    if "," in first or first.strip().strip('"') == column:
        return read_column(Path(path), column)
    return [line.strip() for line in text.splitlines() if line.strip()]
