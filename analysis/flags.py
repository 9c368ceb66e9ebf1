"""Flags that stay: read the standing flags before screening, store this analysis's flags after.

``mvt analyze`` from Redis (`kernel.flags`): a worker with a standing flag from an earlier run is
flagged again in ``workers.csv`` (``flag_stored`` true, the reason names the run and its time) and
their work enters no estimate, even when this run no longer sees anything to flag (their
assignments were replaced, so no usable trials are left). Flags are only added; ``mvt unflag
WORKER --reason TEXT`` clears one. A responses CSV (``--responses``) reads and stores no flags.
"""

from __future__ import annotations

import math

import pandas as pd

MVT_RULES = {"flag_control": "control", "flag_correlation": "correlation", "flag_chance": "chance"}
MVT_NUMBERS = ["control_accuracy", "control_n", "control_frames", "profile_r", "profile_n_durations", "chance_k",
               "chance_n", "chance_p_value"]
RATING_RULES = {"flag_correlation": "correlation", "flag_outliers": "outliers",
                "flag_mushra_reference": "mushra_reference", "flag_trap": "trap", "flag_gold": "gold",
                "flag_headphones": "headphones"}
RATING_NUMBERS = ["correlation", "n_r_items", "outlier_share", "n_outliers", "hidden_ref_below_share",
                  "anchor_above_share", "n_traps_failed", "n_gold_missed", "n_ratings"]


def stored_reasons(stored: dict[str, dict]) -> dict[str, str]:
    """Worker id → the sentence ``workers.csv`` gives for a standing flag of an earlier run."""
    return {w: f"standing flag from analysis run {f.get('run', '?')} ({f.get('at', '?')}): "
               f"{f.get('reason') or 'no reason recorded'}" for w, f in stored.items()}


def flags_of(workers: pd.DataFrame, rules: dict[str, str], numbers: list[str]) -> dict[str, dict]:
    """The flags this analysis raised by its own rules, worker id → ``{reason, rules, numbers}``.

    A worker flagged only by a standing flag (``flag_stored``) is not in it: their stored record
    stays as it is.
    """
    out = {}
    for row in workers.to_dict("records"):
        fired = [name for col, name in rules.items() if bool(row.get(col, False))]
        if not fired:
            continue
        values = {}
        for col in numbers:
            v = row.get(col)
            if v is not None and not (isinstance(v, float) and math.isnan(v)) and not pd.isna(v):
                values[col] = float(v)
        out[str(row["worker_id"])] = {"reason": row.get("reason", ""), "rules": fired, "numbers": values}
    return out


def keep_flags(r, workers: pd.DataFrame, *, rules: dict[str, str], numbers: list[str], experiments=(),
               source: str = "redis") -> str:
    """Store the flags of this analysis's ``workers`` table and say so.

    ``rules`` maps its flag columns to rule names, ``numbers`` lists the columns kept as the flag's
    numbers (`MVT_RULES`/`MVT_NUMBERS`, `RATING_RULES`/`RATING_NUMBERS`).

    Returns
    -------
    str
        One summary line: flags stored, how many new, how many standing in all, the run id.
    """
    from kernel.flags import record_flags

    update = record_flags(r, flags_of(workers, rules, numbers), experiments=experiments, source=source)
    return (f"flags: {len(update.new) + len(update.again)} raised by this analysis ({len(update.new)} new), "
            f"{len(update.standing)} standing in the store (run {update.run}; mvt unflag WORKER --reason TEXT "
            f"clears one)")
