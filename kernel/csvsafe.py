r"""CSV cells a spreadsheet cannot run: the one rule every CSV the project writes goes through.

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
- text whose first visible character is one of them, or its full-width or small form (``＝``
  ``＋`` ``－`` ``＠``, ``﹦`` …: anything NFKC folds to one of the four), after leading whitespace
  (spaces, newlines, no-break spaces) and invisible format characters (zero-width space and
  joiners, word joiner, byte-order mark, bidi marks: Unicode category Cf), is prefixed too:
  importers that trim cells (Google Sheets, LibreOffice's "trim spaces") or fold widths would
  otherwise find the formula;
- so that reading back is exact, text that already starts with quotes followed by one of the six
  (``'=x``) gets one more quote too; `restore` removes exactly one.

Every writer goes through `writer` (rows) or `write_frame` (pandas tables): they also quote each
field holding a carriage return, a newline or a double quote. Python's csv module with
``lineterminator="\n"`` leaves a bare ``\r`` unquoted, and spreadsheets and csv readers then split
the row there (a hostile debrief comment ``"ok\r=HYPERLINK(…)"`` became a second row whose
first cell was a live formula). Both keep ``\n`` line ends.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet cell a formula (OWASP's list)."""

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


FORMULA_STARTS = ("=", "+", "-", "@")
"""Characters that start a formula when they are the first visible one, in any width (NFKC)."""


def _invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Cf"


def _needs_quote(text: str) -> bool:
    first = text[:1]
    if first.isascii() and first.isalnum():
        return False  # most cells (ids, words, numbers): none of the rules below can apply; skip them
    if _NUMBER.fullmatch(text):
        return False
    head = text.lstrip("'")
    if head.startswith(TRIGGERS):
        return True
    i = 0
    while i < len(head) and _invisible(head[i]):
        i += 1
    return i < len(head) and unicodedata.normalize("NFKC", head[i])[:1] in FORMULA_STARTS


def safe_cell(value):
    r"""``value`` as a CSV cell that no spreadsheet evaluates; non-text values are returned unchanged.

    >>> [safe_cell(v) for v in ("=1+2", "@SUM(A1)", "-2+3", "-1.5", "cat", -1.5, "'=x", " =1", "\u200b@x", "＝1")]
    ["'=1+2", "'@SUM(A1)", "'-2+3", '-1.5', 'cat', -1.5, "''=x", "' =1", "'\u200b@x", "'＝1"]
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
            out[col] = _map_distinct(out[col].astype(object), safe_cell)
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
            df[col] = _restored(df[col])
    return df


def may_hold_quoted_cells(path) -> bool:
    """False when the CSV file at ``path`` holds no ``'`` at all, so `restore` would change no cell
    and a reader can skip it: one byte search (memchr speed) per 16 MB block, far cheaper than
    testing a million cells per column."""
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            if b"'" in block:
                return True
    return False


def _restored(series):
    """``series.map(restore)``, with `restore` run only on the cells that start with a quote (the
    only ones it can change), found by one vectorised test."""
    import pandas as pd

    if not isinstance(series.dtype, pd.StringDtype):  # what read_csv(dtype=str) gives; others keep map's dtype
        return series.map(restore)
    quoted = series.str.startswith("'").fillna(False).to_numpy(dtype=bool)
    if not quoted.any():
        return series
    out = series.copy()
    out[quoted] = series[quoted].map(restore)
    return out


def _map_distinct(series, fn):
    """``series.map(fn)`` for a ``fn`` that returns most values unchanged: `fn` runs once per
    distinct value (a million-row column holds few), and only the cells it changes are replaced.

    Same values as ``series.map(fn)``; the series itself is returned when nothing changes.
    """
    import numpy as np
    import pandas as pd

    text = isinstance(series.dtype, pd.StringDtype)
    if series.dtype != object and not text:
        return series.map(fn)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    uniques = list(uniques)
    fixed = [fn(v) for v in uniques]
    changed = [i for i, (a, b) in enumerate(zip(uniques, fixed)) if a != b or type(a) is not type(b)]
    if not changed:
        return series
    values = series.to_numpy(dtype=object, copy=True)
    hit = np.isin(codes, changed)
    values[hit] = np.asarray(fixed, dtype=object)[codes[hit]]
    return pd.Series(values, index=series.index, name=series.name, dtype=series.dtype)


class _Writer:
    """A csv writer whose rows go through `safe_row` and whose fields with CR, LF or quotes are quoted."""

    def __init__(self, out):
        self._out = out
        self._buf = io.StringIO()
        # csv quotes a field holding any character of the line terminator: with the default "\r\n"
        # that is every field with a CR or a LF; the row's own "\r\n" is then made "\n".
        self._csv = csv.writer(self._buf)

    def writerow(self, values) -> None:
        """Write one row of ``values`` (made safe by `safe_row`)."""
        self._buf.seek(0)
        self._buf.truncate()
        self._csv.writerow(safe_row(values))
        self._out.write(self._buf.getvalue()[:-2] + "\n")

    def writerows(self, rows) -> None:
        """`writerow` for each of ``rows``."""
        for row in rows:
            self.writerow(row)


def writer(out) -> _Writer:
    r"""A CSV writer on the text stream ``out`` (opened with ``newline=""``) for every CSV the project
    writes: cells through `safe_cell`, fields with ``\r``, ``\n`` or ``"`` quoted, rows ended by ``\n``.

    >>> buf = io.StringIO(); writer(buf).writerow(["ok\r=1", "-1.5", " @x"]); buf.getvalue()
    '"ok\r=1",-1.5,\' @x\n'
    """
    return _Writer(out)


def _lf_rows(text: str) -> str:
    r"""CSV ``text`` whose rows end in ``\r\n`` with every ``\r\n`` outside quoted fields made ``\n``."""
    # Between the i-th and (i+1)-th double quote a field is quoted for odd i (an escaped quote ""
    # closes and reopens, leaving an empty part): the even parts are outside quotes.
    parts = text.split('"')
    parts[::2] = [part.replace("\r\n", "\n") for part in parts[::2]]
    return '"'.join(parts)


def _format_floats(df, float_format: str, na_rep: str):
    """``df`` with each float64 column as the text ``to_csv(float_format=...)`` writes for it
    (``float_format % value``, `na_rep` for NaN), each distinct value formatted once.

    pandas formats every cell through a Python closure (~2 µs a cell); a million-cell table of
    analysis results holds far fewer distinct values (proportions of small counts, durations).
    Values are told apart by their bits, so ``-0.0`` stays ``-0`` and ``0.0`` ``0``."""
    import numpy as np
    import pandas as pd

    floats = [i for i, dtype in enumerate(df.dtypes) if dtype == np.float64]
    if not floats:
        return df
    out = df.copy(deep=False)
    for i in floats:
        values = out.iloc[:, i].to_numpy()
        codes, uniques = pd.factorize(values.view(np.int64))
        text = np.array([float_format % v for v in uniques.view(np.float64)], dtype=object)[codes]
        text[np.isnan(values)] = na_rep
        out.isetitem(i, text)
    return out


def write_frame(df, path, **to_csv) -> None:
    """Write the pandas DataFrame ``df`` through `safe_frame` to ``path`` as `writer` would (no index).

    ``to_csv`` are further arguments for ``DataFrame.to_csv`` (e.g. ``float_format``). The file is
    written under a temporary name beside ``path``, then renamed over it.
    """
    from pathlib import Path

    path = Path(path)
    safe = safe_frame(df)
    if isinstance(to_csv.get("float_format"), str):
        safe = _format_floats(safe, to_csv["float_format"], to_csv.get("na_rep", ""))
    text = safe.to_csv(None, index=False, lineterminator="\r\n", **to_csv)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(_lf_rows(text))
    tmp.replace(path)
