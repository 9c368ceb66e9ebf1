"""The responses table: read from a CSV (``mvt export``) or from Redis, typed and annotated.

`prepare_responses` returns one row per response with the docs/interfaces.md columns typed
(``frames`` int, ``duration_ms`` float, ``correct`` bool, ``presented_frames`` nullable int)
plus two columns analysis relies on:

``timing_ok`` (nullable bool)
    as recorded by the server when present; otherwise ``presented_frames == frames`` where
    the browser measured presented frames, missing where it did not.
``assignment_status``
    ``complete``, ``in_progress``, ``replaced`` or ``expired`` as recorded by the server
    (``mvt export`` writes it). Where a CSV lacks the column, or a row's cell is empty, the
    status is ``unknown``: such responses are **kept** like complete ones (`USABLE_STATUSES`) and
    `status_note` gives the line ``mvt analyze`` prints about them. (Before, a CSV with 35 empty
    cells had every status guessed from trial counts and 1,869 responses of shorter assignments
    dropped without a word.)

Columns of a responses CSV (``mvt export``; docs/analysis.md "Inputs"): required
`REQUIRED_COLUMNS` (a missing one is refused by name); optional ``assignment_status``,
``timing_ok``, ``experiment``, ``hidden_during_video``, ``blurred_during_video``,
``dropped_frames`` and any other column (kept, e.g. for ``--by``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from kernel.csvsafe import may_hold_quoted_cells, restore_frame
from kernel.errors import ResponsesInvalid

REQUIRED_COLUMNS = ("link_id", "assignment_id", "worker_id", "hit_id", "trial", "image_id", "label",
                    "frames", "duration_ms", "response", "correct", "response_time_ms",
                    "presented_frames", "submitted_at")
"""Columns every responses table must have (docs/interfaces.md)."""

TEXT_COLUMNS = ("link_id", "assignment_id", "worker_id", "hit_id", "image_id", "label", "response", "submitted_at",
                "assignment_status", "timing_source", "video_id", "frame_log", "experiment", "comment", "tab_id")

STATUSES = ("complete", "in_progress", "replaced", "expired", "unknown")
USABLE_STATUSES = ("complete", "unknown")
"""Statuses whose responses feed the estimates: complete assignments, and those whose status is not known."""
FPS = 60

_TRUE = {"true", "1", "yes", "t", "y", "1.0"}
_FALSE = {"false", "0", "no", "f", "n", "0.0"}


def _to_bool(series: pd.Series, column: str) -> pd.Series:
    """Nullable booleans from bools, 0/1 or true/false strings; empty or None means missing."""
    if series.dtype == bool:
        return series.astype("boolean")
    # Map the few distinct values, not every row: fast on a million responses.
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = []
    for value in uniques:
        text = str(value).strip().lower() if not isinstance(value, (bool, np.bool_)) else str(bool(value)).lower()
        if text in _TRUE:
            mapped.append(True)
        elif text in _FALSE:
            mapped.append(False)
        elif text in ("", "none", "nan", "<na>"):
            mapped.append(pd.NA)
        else:
            raise ResponsesInvalid(f"column {column!r} has {value!r}; expected true/false or 1/0")
    lookup = pd.array(mapped + [pd.NA], dtype="boolean")
    return pd.Series(lookup[codes], index=series.index)


def _to_int(series: pd.Series, column: str, *, nullable: bool) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    unread = values.isna()
    if unread.any():
        text = series[unread].astype("string").str.strip()
        bad = text.notna() & (text != "")
        if bad.any():
            raise ResponsesInvalid(f"column {column!r} has {series[unread][bad].iloc[0]!r}; expected a whole number")
    if not nullable and unread.any():
        raise ResponsesInvalid(f"column {column!r} has an empty value; every response needs one")
    known = values[~unread]
    if (known != known.round()).any():
        raise ResponsesInvalid(f"column {column!r} has a fractional value; expected whole numbers")
    return values.astype("Int64") if nullable else values.astype(np.int64)


def prepare_responses(raw: pd.DataFrame, *, fps: int = FPS) -> pd.DataFrame:
    """Type and annotate a raw responses table (see the module docstring).

    Parameters
    ----------
    raw : pandas.DataFrame
        Responses as read from a CSV (strings) or built from Redis rows.
    fps : int, optional
        Frame rate used to fill ``duration_ms`` where it is empty, default 60.

    Returns
    -------
    pandas.DataFrame
        A new table; the input is not modified.

    Raises
    ------
    ResponsesInvalid
        If a required column is missing or a value cannot be read.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ResponsesInvalid(f"the responses table lacks column(s) {', '.join(missing)}; "
                               f"expected at least {','.join(REQUIRED_COLUMNS)}")
    df = raw.copy()
    for col in ("link_id", "assignment_id", "worker_id", "hit_id", "image_id", "label", "response"):
        df[col] = df[col].fillna("").astype(str)
    df["trial"] = _to_int(df["trial"], "trial", nullable=False)
    df["frames"] = _to_int(df["frames"], "frames", nullable=False)
    if (df["frames"] <= 0).any():
        raise ResponsesInvalid(f"column 'frames' has {int(df['frames'].min())}; expected positive frame counts")
    duration = pd.to_numeric(df["duration_ms"], errors="coerce")
    df["duration_ms"] = duration.fillna(df["frames"] * 1000.0 / fps).astype(float)
    correct = _to_bool(df["correct"], "correct")
    if correct.isna().any():
        raise ResponsesInvalid("column 'correct' has an empty value; every response must be marked true or false")
    df["correct"] = correct.astype(bool)
    df["presented_frames"] = _to_int(df["presented_frames"], "presented_frames", nullable=True)
    df["response_time_ms"] = pd.to_numeric(df["response_time_ms"], errors="coerce")

    measured = df["presented_frames"].astype("Float64") == df["frames"].astype("Float64")
    if "timing_ok" in df.columns:
        recorded = _to_bool(df["timing_ok"], "timing_ok")
        df["timing_ok"] = recorded.fillna(measured)
    else:
        df["timing_ok"] = measured.astype("boolean")
    for col in ("hidden_during_video", "blurred_during_video"):
        if col in df.columns:
            df[col] = _to_bool(df[col], col)
    if "dropped_frames" in df.columns:
        df["dropped_frames"] = pd.to_numeric(df["dropped_frames"], errors="coerce")

    if "assignment_status" in df.columns:
        # each distinct status read once (stripped; empty or missing: unknown), not a million cells
        codes, uniques = pd.factorize(df["assignment_status"], use_na_sentinel=True)
        names = np.array([str(v).strip() or "unknown" for v in uniques] + ["unknown"], dtype=object)
        bad = sorted(set(names) - set(STATUSES))
        if bad:
            raise ResponsesInvalid(f"column 'assignment_status' has {bad[0]!r}; expected one of {', '.join(STATUSES)}")
        df["assignment_status"] = pd.Series(names[codes], index=df.index, dtype="str")
    else:
        df["assignment_status"] = "unknown"
    return df.reset_index(drop=True)


def status_note(responses: pd.DataFrame) -> str:
    """The line saying how many responses have no recorded assignment status (kept as ``unknown``), or "".

    Examples
    --------
    >>> status_note(pd.DataFrame({"assignment_id": ["A", "A", "B"], "assignment_status": ["unknown"] * 2 + ["complete"]}))
    "assignment_status missing for 2 response(s) of 1 assignment(s): kept as 'unknown' (used like complete ones; mvt export writes the column)"
    """
    unknown = responses["assignment_status"] == "unknown"
    if not unknown.any():
        return ""
    return (f"assignment_status missing for {int(unknown.sum())} response(s) of "
            f"{responses.loc[unknown, 'assignment_id'].nunique()} assignment(s): kept as 'unknown' (used like "
            f"complete ones; mvt export writes the column)")


def infer_assignment_status(df: pd.DataFrame) -> pd.Series:
    """``complete`` for assignments that answered as many distinct trials as their link's
    fullest assignment, else ``in_progress`` (for CSVs that do not say)."""
    answered = df.groupby("assignment_id")["trial"].transform("nunique")
    fullest = answered.groupby(df["link_id"]).transform("max")
    return pd.Series(np.where(answered >= fullest, "complete", "in_progress"), index=df.index, dtype=object)


def read_responses_csv(path: Path | str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and prepare a responses CSV written by ``mvt export``.

    Parameters
    ----------
    path : path-like
        The CSV.
    columns : iterable of str, optional
        Read only these columns (those the file has) besides `REQUIRED_COLUMNS`; default every
        column. An export has over 50 columns, most of them per-trial records no analysis reads
        (frame logs, viewport sizes): skipping them makes reading a million responses ~2.5x cheaper.

    Raises
    ------
    ResponsesInvalid
        If the file is missing, empty, or not a responses table.
    """
    path = Path(path)
    if not path.is_file():
        raise ResponsesInvalid(f"responses file {str(path)!r} does not exist")
    wanted = None if columns is None else set(REQUIRED_COLUMNS).union(columns)
    try:
        # Ids and labels stay text ("NA" is a fine class name); numbers are parsed by the C reader.
        raw = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS}, keep_default_na=False, na_values=[""],
                          usecols=None if wanted is None else wanted.__contains__)
    except pd.errors.EmptyDataError:
        raise ResponsesInvalid(f"responses file {str(path)!r} is empty; expected a header row "
                               f"{','.join(REQUIRED_COLUMNS)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ResponsesInvalid(f"responses file {str(path)!r} is not a readable CSV ({exc})") from None
    return prepare_responses(restore_frame(raw, TEXT_COLUMNS) if may_hold_quoted_cells(path) else raw)


def responses_from_rows(rows: Iterable[dict]) -> pd.DataFrame:
    """Prepare a responses table from dicts such as ``kernel.export.iter_response_rows`` yields."""
    rows = list(rows)
    if not rows:
        return prepare_responses(pd.DataFrame({c: pd.Series(dtype=object) for c in REQUIRED_COLUMNS}))
    raw = pd.DataFrame.from_records(rows)
    for col in raw.columns:
        if raw[col].dtype == object:
            raw[col] = raw[col].where(raw[col].notna(), "")
    return prepare_responses(raw)


def read_responses_redis(r, experiments=None) -> pd.DataFrame:
    """Every recorded response in Redis (``kernel.export.iter_response_rows``), of `experiments`
    (ids) when given, prepared."""
    from kernel.export import iter_response_rows

    return responses_from_rows(iter_response_rows(r, experiments))
