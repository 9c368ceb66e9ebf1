"""``mvt analyze`` of an adaptive MVT study: the posterior MVT of every image, model-based screening.

An adaptive study (`analysis.adaptive`, README "Adaptive studies") asks each image at the
durations where its MVT was still uncertain, so most (image, duration) cells have few or no
answers and the longest duration is asked mostly of hard images. The fixed design's rules read
such data badly (measured: 0.574 agreement with the true bin against 0.891 for the posterior,
docs/analysis.md "Screening in adaptive studies"). Its analysis is therefore the one that
planned it:

Screening
    `analysis.adaptive.screened_posterior`: a worker is flagged when their correct answers fall
    below what the posterior predicts for their own trials (Poisson-binomial count, normal
    approximation with continuity correction, one-sided ``alpha`` = 0.001); standing flags of
    earlier runs stay. Flagged workers' answers enter no estimate.
Model and prior
    Per image ``P(correct | d) = g + (1 - g - lapse) * Phi((ln d - mu) / sigma)`` on the grid of
    `analysis.adaptive.psychometric_grid` (960 curves), ``g`` the guess rate (1 / answer
    options, or ``--guess-rate``); the prior over the grid learned from every image of the study
    (empirical Bayes by EM, Laird 1978, with 1 % of the uniform prior mixed in).
Estimate and interval
    The MVT is the most probable bin of the image's posterior (``mvt_ms``, probability
    ``p_mvt``); the 95 % credible interval is equal-tailed on the ordered bins, "unrecognised"
    after the longest duration (`analysis.adaptive.BinPosterior.credible_interval`); its
    coverage of the true bin is measured by simulation (docs/analysis.md). An image without a
    usable answer is ``insufficient``.

`analyze_adaptive` computes an `AdaptiveAnalysis`; `write_adaptive_outputs` writes ``mvt.csv``,
``cells.csv``, ``workers.csv``, ``batches.csv`` and ``report.html`` (`analysis.adaptive_report`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from analysis.adaptive import ScreenedPosterior, screened_posterior
from analysis.durations import duration_ms, duration_ms_exact
from analysis.mvt import _masked
from analysis.responses import USABLE_STATUSES
from kernel.errors import NoResponses

CREDIBLE_MASS = 0.95
"""Posterior mass of the reported credible interval."""

ADAPTIVE_MVT_COLUMNS = ["image_id", "label", "mvt_ms", "mvt_frames", "status", "n_responses",
                        "mvt_frames_ci_low", "mvt_frames_ci_high", "mvt_ms_ci_low", "mvt_ms_ci_high",
                        "ci_high_unrecognised", "mvt_ms_exact", "p_mvt", "ci_mass", "entropy_bits", "finished",
                        "batches", "answers_by_batch"]
"""The first columns of an adaptive study's ``mvt.csv`` (then ``p_mvt_f<frames>`` per duration and
``p_unrecognised``, the posterior of every bin). The names shared with the fixed design's
``mvt.csv`` mean the same; the interval is the posterior's (``ci_mass`` of it), not a bootstrap.
``batches``: the batches whose links showed the image; ``answers_by_batch``: the answers kept per
batch, in the same order."""

ADAPTIVE_WORKER_COLUMNS = ["worker_id", "flagged", "reason", "flag_model", "flag_stored", "model_n", "model_k",
                           "model_expected", "model_z", "n_responses", "n_used", "n_assignments",
                           "n_complete_assignments", "complete_assignment_ids"]
"""Columns of an adaptive study's ``workers.csv``: the model-based test's counts (``model_n``
usable trials, ``model_k`` right, ``model_expected`` the posterior's expectation, ``model_z``)."""

BATCH_COLUMNS = ["batch", "n_links", "n_images", "n_trials", "n_responses", "n_used"]
"""Columns of ``batches.csv``: per batch its links, the images and trials they show, the responses
recorded on them and the answers kept (usable, worker not flagged). ``mvt next-batch --from``
reads it to refuse planning twice from the same answers."""


@dataclass(frozen=True)
class AdaptiveAnalysis:
    """Everything ``mvt analyze`` reports of an adaptive study (module docstring).

    Attributes
    ----------
    mvt, cells, workers, batches : pandas.DataFrame
        ``mvt.csv`` (`ADAPTIVE_MVT_COLUMNS`), ``cells.csv`` (per image and duration: ``image_id,
        label, frames, duration_ms, n, k, p, predicted_p``, kept answers and the posterior
        predictive), ``workers.csv`` (`ADAPTIVE_WORKER_COLUMNS`), ``batches.csv`` (`BATCH_COLUMNS`).
    screened : ScreenedPosterior
    responses : pandas.DataFrame
        Every response given.
    guess_source, source : str
        Where the guess rate and the responses came from.
    experiments : tuple of str
    alpha : float
        The screening's false-alarm rate.
    fps : float
        Frames per second of the videos.
    """

    mvt: pd.DataFrame
    cells: pd.DataFrame
    workers: pd.DataFrame
    batches: pd.DataFrame
    screened: ScreenedPosterior
    responses: pd.DataFrame
    guess_source: str
    source: str = ""
    experiments: tuple[str, ...] = ()
    alpha: float = 0.001
    fps: float = 60

    def status_counts(self) -> dict[str, int]:
        """Images per status (``ok``, ``unrecognised``, ``insufficient``)."""
        counts = self.mvt["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in ("ok", "unrecognised", "insufficient")}

    def summary_line(self) -> str:
        """The first line ``mvt analyze`` prints."""
        c = self.status_counts()
        w = self.workers
        return (f"{len(self.responses)} responses, {int(self.screened.usable['kept'].sum())} used; {len(w)} workers, "
                f"{int(w['flagged'].sum())} flagged (model-based screening); {len(self.mvt)} images: {c['ok']} with "
                f"an MVT, {c['unrecognised']} unrecognised, {c['insufficient']} insufficient (adaptive study: the "
                f"most probable MVT of each image's posterior, {CREDIBLE_MASS:.0%} credible intervals)")


def link_batches(design: dict) -> dict[str, int]:
    """Link id → batch of an adaptive ``design.json`` (links without ``batch`` are batch 1)."""
    return {link["link_id"]: int(link.get("batch", 1)) for link in design.get("links", [])}


def _design_images(design: dict) -> tuple[list[str], dict[str, str], dict[str, list[int]]]:
    """The design's images (sorted), their labels and the batches whose links show each."""
    labels: dict[str, str] = {}
    batches: dict[str, set[int]] = {}
    for link in design.get("links", []):
        for trials in link.get("lists", []):
            for t in trials:
                labels.setdefault(str(t["image_id"]), str(t.get("label", "")))
                batches.setdefault(str(t["image_id"]), set()).add(int(link.get("batch", 1)))
    ids = sorted(labels)
    return ids, labels, {i: sorted(batches[i]) for i in ids}


def _worker_table(responses: pd.DataFrame, screened: ScreenedPosterior, alpha: float,
                  standing: dict[str, str]) -> pd.DataFrame:
    s = screened.screening
    z_limit = float(special.ndtri(alpha))
    model = pd.DataFrame({"worker_id": screened.worker_ids, "flag_model": s.flagged, "model_n": s.n,
                          "model_k": s.k, "model_expected": s.expected.round(2), "model_z": s.z.round(2)})
    everyone = sorted(set(responses["worker_id"].astype(str)) | set(standing))
    out = pd.DataFrame({"worker_id": everyone}).merge(model, on="worker_id", how="left")
    out["flag_model"] = out["flag_model"].fillna(False).astype(bool)
    out["flag_stored"] = out["worker_id"].isin(set(standing))
    out["flagged"] = out["flag_model"] | out["flag_stored"]
    reasons = []
    for row in out.itertuples(index=False):
        words = []
        if row.flag_model:
            words.append(f"right on {int(row.model_k)} of {int(row.model_n)} trials where the model expects "
                         f"{row.model_expected:.1f} (z = {row.model_z:.2f} < {z_limit:.2f}, one-sided alpha {alpha:g})")
        if row.flag_stored:
            words.append(standing[row.worker_id])
        reasons.append("; ".join(words))
    out["reason"] = reasons
    by_worker = responses.assign(worker_id=responses["worker_id"].astype(str)).groupby("worker_id")
    kept = screened.usable[screened.usable["kept"]].assign(worker_id=lambda d: d["worker_id"].astype(str))
    out["n_responses"] = out["worker_id"].map(by_worker.size()).fillna(0).astype(np.int64)
    out["n_used"] = out["worker_id"].map(kept.groupby("worker_id").size()).fillna(0).astype(np.int64)
    out["n_assignments"] = out["worker_id"].map(by_worker["assignment_id"].nunique()).fillna(0).astype(np.int64)
    complete = responses[responses["assignment_status"].isin(USABLE_STATUSES)].assign(
        worker_id=lambda d: d["worker_id"].astype(str)).groupby("worker_id")["assignment_id"]
    ids = complete.agg(lambda a: " ".join(sorted(set(map(str, a)))))
    out["n_complete_assignments"] = out["worker_id"].map(complete.nunique()).fillna(0).astype(np.int64)
    out["complete_assignment_ids"] = out["worker_id"].map(ids).fillna("")
    for col in ("model_n", "model_k"):
        out[col] = out[col].astype("Int64")
    return out[ADAPTIVE_WORKER_COLUMNS]


def _batch_table(responses: pd.DataFrame, screened: ScreenedPosterior, design: dict) -> pd.DataFrame:
    batch_of = link_batches(design)
    rows = []
    for b in sorted(set(batch_of.values())):
        links = [link for link in design["links"] if int(link.get("batch", 1)) == b]
        names = {link["link_id"] for link in links}
        images = {str(t["image_id"]) for link in links for trials in link["lists"] for t in trials}
        kept = screened.usable
        rows.append({"batch": b, "n_links": len(links), "n_images": len(images),
                     "n_trials": sum(len(trials) for link in links for trials in link["lists"]),
                     "n_responses": int(responses["link_id"].astype(str).isin(names).sum()),
                     "n_used": int((kept["link_id"].astype(str).isin(names) & kept["kept"]).sum())})
    return pd.DataFrame(rows, columns=BATCH_COLUMNS)


def analyze_adaptive(responses: pd.DataFrame, design: dict, *, theta: float = 0.5, inclusive: bool = False,
                     guess_rate: float | None = None, alpha: float = 0.001, standing_flags: dict[str, str] | None = None,
                     source: str = "", experiments: tuple[str, ...] = ()) -> AdaptiveAnalysis:
    """Analyse an adaptive study's responses (module docstring).

    Parameters
    ----------
    responses : pandas.DataFrame
        Prepared responses (`analysis.responses`) of every batch, with ``link_id``.
    design : dict
        The study's ``design.json``: ``frame_counts``, ``classes``, ``fps`` and ``links`` with
        their ``batch`` and lists (images, labels).
    theta, inclusive : optional
        Recognised means proportion correct ``> theta`` (``>=`` with `inclusive`).
    guess_rate : float, optional
        The model's guess rate; default ``1 / len(classes)`` (every trial shows every class).
    alpha : float, optional
        The screening's one-sided false-alarm rate per worker, default 0.001.
    standing_flags : dict, optional
        Worker id → reason of flags stored by earlier analyses; those workers stay flagged.
    source : str, optional
        Where the responses came from, for the report.
    experiments : tuple of str, optional

    Returns
    -------
    AdaptiveAnalysis

    Raises
    ------
    NoResponses
        If there are no responses.
    """
    if len(responses) == 0:
        raise NoResponses("there are no responses to analyse; run the experiment (or pass a non-empty --responses CSV)")
    standing = dict(standing_flags or {})
    frame_counts = sorted(int(f) for f in design["frame_counts"])
    fps = float(design.get("fps", 60))
    n_options = len(design.get("classes", [])) or None
    if guess_rate is not None:
        guess, guess_source = guess_rate, f"guess rate {guess_rate:g} (--guess-rate)"
    elif n_options:
        guess, guess_source = 1.0 / n_options, f"guess rate 1/{n_options} (answer options shown per trial)"
    else:
        raise NoResponses("the design names no answer options (classes); give --guess-rate")
    image_ids, labels, shown_in = _design_images(design)
    screened = screened_posterior(responses, image_ids, frame_counts, guess=guess, fps=fps, theta=theta,
                                  inclusive=inclusive, alpha=alpha, standing=standing)
    post = screened.posterior
    d = len(frame_counts)
    grid = np.asarray(frame_counts, dtype=np.int64)
    best = post.map_bin
    low, high = post.credible_interval(CREDIBLE_MASS)
    none = post.n_answers == 0
    status = np.where(none, "insufficient", np.where(best < d, "ok", "unrecognised"))

    def frames_at(index, keep):
        return _masked(grid[np.minimum(index, d - 1)], keep, "Int64")

    def ms_at(index, keep):
        return _masked(duration_ms(grid[np.minimum(index, d - 1)], fps), keep, "Int64")

    ok = status == "ok"
    interval = ~none
    batch_of = link_batches(design)
    kept = screened.usable[screened.usable["kept"]]
    per_batch = (kept.assign(batch=kept["link_id"].astype(str).map(batch_of).fillna(0).astype(int))
                 .groupby(["image_id", "batch"]).size())
    answers = [" ".join(str(int(per_batch.get((i, b), 0))) for b in shown_in[i]) for i in image_ids]
    table = pd.DataFrame({
        "image_id": image_ids, "label": [labels[i] for i in image_ids], "mvt_ms": ms_at(best, ok),
        "mvt_frames": frames_at(best, ok), "status": status, "n_responses": post.n_answers,
        "mvt_frames_ci_low": frames_at(low, interval & (low < d)),
        "mvt_frames_ci_high": frames_at(high, interval & (high < d)),
        "mvt_ms_ci_low": ms_at(low, interval & (low < d)), "mvt_ms_ci_high": ms_at(high, interval & (high < d)),
        "ci_high_unrecognised": interval & (high == d),
        "mvt_ms_exact": _masked(duration_ms_exact(grid[np.minimum(best, d - 1)], fps).round(4), ok, "Float64"),
        "p_mvt": post.map_probability.round(4), "ci_mass": CREDIBLE_MASS, "entropy_bits": post.entropy_bits.round(4),
        "finished": post.finished, "batches": [" ".join(map(str, shown_in[i])) for i in image_ids],
        "answers_by_batch": answers,
    })
    for j, f in enumerate(grid):
        table[f"p_mvt_f{f}"] = post.bins[:, j].round(4)
    table["p_unrecognised"] = post.bins[:, d].round(4)
    predicted = post.weights @ screened.grid.p
    ii, jj = np.meshgrid(np.arange(len(image_ids)), np.arange(d), indexing="ij")
    n, k = screened.n.ravel(), screened.k.ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    cells = pd.DataFrame({"image_id": np.asarray(image_ids, dtype=object)[ii.ravel()],
                          "label": [labels[image_ids[i]] for i in ii.ravel()], "frames": grid[jj.ravel()],
                          "duration_ms": duration_ms(grid[jj.ravel()], fps), "n": n, "k": k, "p": p,
                          "predicted_p": predicted.ravel().round(4)})
    return AdaptiveAnalysis(mvt=table, cells=cells, workers=_worker_table(responses, screened, alpha, standing),
                            batches=_batch_table(responses, screened, design), screened=screened,
                            responses=responses, guess_source=guess_source, source=source,
                            experiments=tuple(experiments), alpha=alpha, fps=fps)


ADAPTIVE_OUTPUT_FILES = ("mvt.csv", "cells.csv", "workers.csv", "batches.csv", "report.html")
"""What `write_adaptive_outputs` writes."""


def write_adaptive_outputs(analysis: AdaptiveAnalysis, out_dir: Path | str) -> dict[str, Path]:
    """Write `ADAPTIVE_OUTPUT_FILES` into `out_dir` (CSV cells neutralised, `kernel.csvsafe`); name → path."""
    from analysis.adaptive_report import write_adaptive_report
    from analysis.analyze import _write_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ADAPTIVE_OUTPUT_FILES}
    _write_csv(analysis.mvt, paths["mvt.csv"])
    _write_csv(analysis.cells, paths["cells.csv"])
    _write_csv(analysis.workers, paths["workers.csv"])
    _write_csv(analysis.batches, paths["batches.csv"])
    write_adaptive_report(analysis, paths["report.html"])
    return paths


def _study_design(request) -> dict:
    """The one adaptive study's ``design.json`` of `request` (from its links, or ``--design EXP_DIR``)."""
    import json

    from kernel.errors import BadExperiment, ExperimentChoice

    if request.design_dir is not None:
        path = Path(request.design_dir) / "design.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BadExperiment(f"--design {request.design_dir}: cannot read {path} ({exc})") from None
    names = sorted({d.get("experiment_id", "?") for d in request.designs.values()})
    if len(names) != 1:
        raise ExperimentChoice(f"adaptive studies are analysed one at a time (each has its own images and prior); "
                               f"the chosen experiments are {', '.join(names) or 'none'}: name one with --experiment")
    return next(iter(request.designs.values()))


def run_adaptive(request) -> list[str]:
    """``mvt analyze`` for an adaptive MVT study (the adaptive kind's analysis, module docstring).

    Options of the fixed design's rules (``--rule``, ``--bootstrap``, ``--control-threshold``,
    ``--min-r``, ``--by``, ``--metadata``) do not apply and are named in a line when given.
    """
    from analysis.commands import act_on_flags, mvt_responses

    o = request.options
    design = _study_design(request)
    lines: list[str] = []
    table, chosen = mvt_responses(request, lines)
    ignored = [name for name, given in (("--by", o.get("by")), ("--metadata", o.get("metadata")),
                                        ("--rule", o.get("rule", "stable") != "stable"), ("--draws", o.get("draws")))
               if given]
    if ignored:
        lines.append(f"{', '.join(ignored)} do(es) not apply to an adaptive study (its MVT is the posterior's)")
    common = dict(theta=o.get("theta", 0.5), inclusive=o.get("inclusive", False), guess_rate=o.get("guess_rate"))
    if request.responses is not None:
        result = analyze_adaptive(table, design, source=str(request.responses), experiments=chosen, **common)
        paths = write_adaptive_outputs(result, request.out)
        flag_line = None
    else:
        from analysis.flags import keep_flags, stored_reasons
        from kernel.flags import stored_flags

        r = request.r
        result = analyze_adaptive(table, design, source="redis", experiments=tuple(request.experiments),
                                  standing_flags=stored_reasons(stored_flags(r)), **common)
        flag_line = keep_flags(r, result.workers, rules={"flag_model": "model"},
                               numbers=["model_n", "model_k", "model_expected", "model_z"],
                               experiments=request.experiments)
        flagged = result.workers[result.workers["flagged"]]
        assignments = " ".join(flagged["complete_assignment_ids"]).split()
        paths = write_adaptive_outputs(result, request.out)
        act_on_flags(request, assignments, flagged["worker_id"].tolist(), lines)
    lines.insert(0, result.summary_line())
    if result.experiments:
        lines.insert(0, f"experiment(s): {', '.join(result.experiments)}")
    lines.append("wrote " + ", ".join(str(p) for p in paths.values()))
    if flag_line:
        lines.append(flag_line)
    return lines
