"""CSV cells a spreadsheet cannot run: the one rule every CSV the project writes goes through.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula (or
becomes one) when Excel, LibreOffice or Google Sheets opens the file; a class folder named
``=HYPERLINK(...)`` would otherwise reach an analyst's spreadsheet as a live formula. As OWASP
recommends (https://owasp.org/www-community/attacks/CSV_Injection), such a cell is written with a
single quote in front, which spreadsheets show as text and do not evaluate.

The rule, for every cell of every column:

- numbers are left as they are: a Python ``int``/``float``, or a text that is a plain decimal
  number (``-1.5``, ``+3``, ``1e-05``), is read by spreadsheets as a number, never as a formula,
  and analysis keeps reading it as a number; ``-2+3`` is not a plain number and is quoted;
- text whose first character is one of the six above is prefixed with ``'``;
- so that reading back is exact, text that already starts with quotes followed by one of the six
  (``'=x``) gets one more quote too; `restore` removes exactly one.
"""

from __future__ import annotations

import re

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet cell a formula (OWASP's list)."""

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _needs_quote(text: str) -> bool:
    return text.lstrip("'").startswith(TRIGGERS) and not _NUMBER.fullmatch(text)


def safe_cell(value):
    """``value`` as a CSV cell that no spreadsheet evaluates; non-text values are returned unchanged.

    >>> [safe_cell(v) for v in ("=1+2", "@SUM(A1)", "-2+3", "-1.5", "cat", -1.5, "'=x")]
    ["'=1+2", "'@SUM(A1)", "'-2+3", '-1.5', 'cat', -1.5, "''=x"]
    """
    if isinstance(value, str) and _needs_quote(value):
        return "'" + value
    return value


def safe_row(values) -> list:
    """`safe_cell` applied to every value of a row (for ``csv.writer.writerow``)."""
    return [safe_cell(v) for v in values]


def safe_frame(df):
    """A copy of the pandas DataFrame ``df`` with `safe_cell` applied to its text columns and header."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    out = df.copy()
    for col in out.columns:
        if not (is_numeric_dtype(out[col]) or is_bool_dtype(out[col])):
            out[col] = out[col].astype(object).map(safe_cell)
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def restore(value):
    """The text `safe_cell` was given: one leading quote removed where `safe_cell` added it.

    >>> [restore(v) for v in ("'=1+2", "''=x", "'quoted", "cat")]
    ['=1+2', "'=x", "'quoted", 'cat']
    """
    if isinstance(value, str) and value.startswith("'") and _needs_quote(value[1:]):
        return value[1:]
    return value


def restore_frame(df, columns):
    """``df`` with `restore` applied, in place, to each of ``columns`` that it has; returns ``df``."""
    for col in columns:
        if col in df.columns:
            df[col] = df[col].map(restore)
    return df
