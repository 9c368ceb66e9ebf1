"""The rating study kind: ACR, DCR/DSIS and MUSHRA opinion scores of audio, images or video.

Build: `stimuli.ratings_build` (``mvt build-ratings``). Load: each trial's hidden record is
``[null, 0, sample_id, media_id, 0]`` (no correct answer, no frames); the options are the
scale's points (``"1"``..``"5"``, or ``"0"``..``"100"`` for MUSHRA), so ``record.lua`` refuses
anything else. Trials: the sample's URL, its media type, its scale and labels, its screen
(trials of one screen are shown together), and the reference's URL where the design shows one.
Analysis: `analysis.ratings`.

A list item (what the store keeps per trial, and all the server gives back to `trials`) is
``"<scale>~<screen>~<media_id>.<ext>[~<reference_id>.<ext>][~a=<score>]"``: opaque ids only.
The reference shown labelled and the hidden reference of MUSHRA have different ids. ``a=`` marks
a trapping trial (the worker is asked to choose that score; its hidden record holds it as the
correct option, so ``correct`` says whether they did). A gold trial (`stimuli.ratings_gold`) has
no marker: its item is a sample's; only its hidden record differs, with sample id ``gold/<name>``
and the known score as the correct option (``correct`` is exact agreement; `analysis.ratings`
applies the tolerance).

Export (`RatingsKind.export_columns`): a rating's own columns, named as crowdMOS and MUSHRA analysts
name them: ``sample_id`` (``<source>/<algorithm>``, ``trap/<score>`` or ``gold/<name>``), ``source``,
``algorithm``, ``trial_type`` (``sample``, ``trap``, ``gold``), ``reference`` (the labelled reference
shown with it, ``<source>/REF``), ``design``, ``rating_scale`` (``acr``, ``dcr``, ``mushra``), ``screen``,
``rating``, ``expected_rating`` (a trap's asked-for or a gold sample's known score) and ``correct``
(whether that was given), ``media_id``; never ``image_id``/``label``/``frames`` (before 2026-12 they held
the sample id, nothing and 0; `analysis.ratings` still reads such files).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from kernel.errors import BadExperiment
from kernel.export import LEAD_COLUMNS, TAIL_COLUMNS
from kernel.ids import ID_CHARS, is_id
from stimuli.ratings_input import REF
from studies.base import LinkData, StudyKind, checked_links, checked_strings

MEDIA_RE = re.compile(r"^[0-9a-f]{16}\.(m4a|png|mp4)$")
MEDIA_TYPES = {"m4a": "audio", "png": "image", "mp4": "video"}
LABELS = {
    "acr": ["Excellent", "Good", "Fair", "Poor", "Bad"],
    "dcr": ["Imperceptible", "Perceptible but not annoying", "Slightly annoying", "Annoying", "Very annoying"],
    "mushra": ["Excellent", "Good", "Fair", "Poor", "Bad"],
}
"""What the worker reads, best first: P.800 ACR (5..1), P.800 DCR / BT.500 DSIS impairment
scale (5..1), and the five BS.1534 bands of the 0–100 MUSHRA scale (100–80 Excellent, ...)."""


def item_key(scale: str, screen: int, media: str, reference: str | None = None) -> str:
    """The list item of one trial (see the module docstring)."""
    return "~".join([scale, str(screen), media, *([reference] if reference else [])])


def _url(media_url: Callable[..., str], name: str) -> str:
    """The URL of a rating medium ``<id>.<ext>`` (``media_url(id, ext)``; MVT's default is ``mp4``)."""
    media_id, ext = name.split(".")
    return media_url(media_id, ext)


def _check_gold(trial: dict, gold: dict, options: list[str], link_id: str) -> None:
    """A gold trial must be the one stimuli.json's ``gold`` lists under its media id, scored on the scale."""
    known = gold.get(trial.get("media_id"))
    if (known is None or trial.get("sample_id") != f"gold/{known['name']}" or trial["gold"] != known["score"]
            or str(trial["gold"]) not in options):
        raise BadExperiment(f"gold trial {trial.get('sample_id')!r} (media {trial.get('media_id')!r}) of link "
                            f"{link_id} must be a gold sample of stimuli.json with its score on the scale")


class RatingsKind(StudyKind):
    """Mean Opinion Score studies: rate each sample on an ACR, DCR or MUSHRA scale."""

    name = "ratings"
    title = "Ratings (crowdMOS)"
    listing = ("Rate the quality of short samples",
               "Listen to or look at short samples and rate the quality of each one. Needs a desktop browser.")
    control_trial_columns = (("rating", "response"), ("trap or gold agreed", "correct"), ("timing ok", "timing_ok"),
                             ("answer time (ms)", "response_time_ms"), ("replays", "replays"),
                             ("played to the end", "playback_completed"), ("headphone check", "headphone_check"))
    page_template = "ratings.html"
    preview_template = "ratings_preview.html"
    page_module = "/static/ratings/kind.js"
    media_types = {"m4a": "audio/mp4", "png": "image/png", "mp4": "video/mp4"}
    simulation_options = frozenset({"careless", "mu"})
    export_columns = (*LEAD_COLUMNS, "screen", "sample_id", "source", "algorithm", "trial_type", "reference",
                      "design", "rating_scale", "rating", "expected_rating", "correct", "media_id", *TAIL_COLUMNS)

    def export_fields(self, link_meta: dict) -> Callable[[dict, list, str], dict]:
        """A rating's own columns (the module docstring) from its hidden record ``[known score, 0, sample_id,
        media_id, 0]``, its list item (scale, screen, reference, trap marker) and the link's ``design``."""
        design = link_meta.get("design") or None

        def fields(response: dict, answer: list, item: str) -> dict:
            parts = item.split("~")  # scale~screen~media[~reference][~a=score] (module docstring)
            scale, screen, rest = parts[0], parts[1] if len(parts) > 1 else "", parts[3:]
            known, sample_id = answer[0], answer[2]
            trap = any(part.startswith("a=") for part in rest)
            trial_type = "trap" if trap else "sample" if known is None else "gold"
            source, algorithm = (sample_id.rsplit("/", 1) if trial_type == "sample" and "/" in sample_id
                                 else (None, None))
            shows_reference = source is not None and any(not part.startswith("a=") for part in rest)
            return {"screen": int(screen) if screen.isdigit() else None, "sample_id": sample_id, "source": source,
                    "algorithm": algorithm, "trial_type": trial_type, "reference": f"{source}/{REF}" if shows_reference
                    else None, "design": design, "rating_scale": scale or None, "rating": response["response"],
                    "expected_rating": known, "correct": None if known is None else response.get("correct"),
                    "media_id": answer[3]}

        return fields

    def simulated_answers(self, exp_dir: Path, *, model, rng, options: dict):
        """Raters of a population with known MOS (`simulation.raters.RatingAnswers.draw`):
        ``mu`` (latent mean per algorithm), ``careless`` (share of careless raters)."""
        from simulation.raters import RatingAnswers

        return RatingAnswers.draw(exp_dir, rng=rng, mu=options.get("mu"), p_careless=options.get("careless", 0.0))

    def analyze(self, request) -> list[str]:
        """MOS per algorithm and sample, rater screening, report (`analysis.ratings_commands`)."""
        from analysis.ratings_commands import run_ratings

        return run_ratings(request)

    def register_commands(self, cli) -> None:
        """``mvt build-ratings``."""
        from stimuli import ratings_commands

        ratings_commands.register(cli)

    def link_data(self, design: dict, stimuli: dict, exp_dir: Path) -> list[LinkData]:
        """Each link's lists of items and hidden answers ``[None, 0, sample_id, media_id, 0]`` (the asked-for
        or known score first for traps and gold); checks every sample and gold trial is in ``stimuli.json``
        and every file (references too) is in ``EXP_DIR/videos``."""
        scale = design.get("scale")
        if scale not in LABELS:
            raise BadExperiment(f"scale ({scale!r}) in design.json must be one of {', '.join(LABELS)}")
        options = checked_strings(design, "options", "scale points")
        links = checked_links(design, exp_dir)
        samples = stimuli.get("samples", {})
        ext = stimuli.get("ext")
        checked: set[str] = set()
        out = []
        for link in links:
            link_id = link.get("link_id") if isinstance(link, dict) else None
            if not is_id(link_id):
                raise BadExperiment(f"link_id {link_id!r} must match {ID_CHARS}")
            lists = link.get("lists")
            if not isinstance(lists, list) or not lists or not all(isinstance(t, list) and t for t in lists):
                raise BadExperiment(f"link {link_id} has no lists, or an empty one")
            items, answers = [], {}
            for i, trials in enumerate(lists):
                row = []
                for j, trial in enumerate(trials):
                    sample_id = trial.get("sample_id") if isinstance(trial, dict) else None
                    trap = trial.get("trap") if isinstance(trial, dict) else None
                    gold = trial.get("gold") if isinstance(trial, dict) else None
                    if trap is not None and (sample_id != f"trap/{trap}" or str(trap) not in options):
                        raise BadExperiment(f"trap {sample_id!r} of link {link_id} must be trap/<scale point>")
                    if gold is not None:
                        _check_gold(trial, stimuli.get("gold", {}), options, link_id)
                    elif trap is None and sample_id not in samples:
                        raise BadExperiment(f"sample {sample_id!r} of link {link_id} is not in stimuli.json")
                    names = [f"{trial.get('media_id')}.{ext}"]
                    if trial.get("reference_id") is not None:
                        names.append(f"{trial['reference_id']}.{ext}")
                    for name in names:
                        if not MEDIA_RE.fullmatch(name):
                            raise BadExperiment(f"media {name!r} of link {link_id} must be 16 lowercase hex "
                                                f"characters and .m4a, .png or .mp4")
                        if name not in checked:
                            if not (exp_dir / "videos" / name).is_file():
                                raise BadExperiment(f"media file {exp_dir / 'videos' / name} is missing")
                            checked.add(name)
                    if not isinstance(trial.get("screen"), int) or trial["screen"] < 0:
                        raise BadExperiment(f"screen {trial.get('screen')!r} of link {link_id} must be an integer >= 0")
                    key = item_key(scale, trial["screen"], *names)
                    row.append(f"{key}~a={trap}" if trap is not None else key)
                    known = trap if trap is not None else gold
                    answers[i, j] = [None if known is None else str(known), 0, sample_id, trial["media_id"], 0]
                items.append(row)
            out.append(LinkData(link_id, items, answers, list(options),
                                {"fps": 60, "fixation_frames": 0, "design": design.get("design", "")}))
        return out

    def trials(self, item_ids: list[str], options: list[str], media_url: Callable[..., str]) -> list[dict]:
        """Per trial ``{"trial", "screen", "media_url", "media_type", "scale", "labels", "options"}`` and
        ``"reference_url"`` when the design shows a reference (MUSHRA, DSIS), ``"attention"`` (the score
        to choose) on a trapping trial."""
        out = []
        for i, item in enumerate(item_ids):
            scale, screen, media, *rest = item.split("~")
            trial = {"trial": i, "screen": int(screen), "media_url": _url(media_url, media),
                     "media_type": MEDIA_TYPES[media.rsplit(".", 1)[1]], "scale": scale,
                     "labels": LABELS[scale], "options": options}
            for part in rest:
                if part.startswith("a="):
                    trial["attention"] = part[2:]
                else:
                    trial["reference_url"] = _url(media_url, part)
            out.append(trial)
        return out

    def control_quality(self, counts: dict[str, int]) -> dict[str, str]:
        """Counted as answers are recorded (`kernel.quality.add_kind_counts`), exact: trap trials answered
        with the score asked for (distance 0), gold trials within `analysis.ratings.GOLD_TOLERANCE` of
        the known score (the analysis's rule), and, where the page ran the headphone screening, the
        share of tasks whose outcome passes (`analysis.ratings.HEADPHONE_PASS`). A figure with no trial
        is left out."""
        from analysis.ratings import GOLD_TOLERANCE, HEADPHONE_PASS

        def share(prefix: str, ok) -> tuple[int, int]:
            rows = [(name[len(prefix):], n) for name, n in counts.items() if name.startswith(prefix)]
            return sum(n for value, n in rows if ok(value)), sum(n for _, n in rows)

        def within(tolerance: float):
            return lambda distance: distance != "x" and float(distance) <= tolerance + 1e-9

        def passed(outcome: str) -> bool:
            got, _, of = outcome.partition("/")
            return got.isdigit() and of.isdigit() and int(of) > 0 and int(got) >= HEADPHONE_PASS * int(of) - 1e-9

        out: dict[str, str] = {}
        for label, prefix, ok in (("trap trials answered as asked", "trap|", within(0)),
                                  (f"gold trials within {GOLD_TOLERANCE} point", "gold|", within(GOLD_TOLERANCE)),
                                  ("headphone check passed (tasks)", "headphone|", passed)):
            good, n = share(prefix, ok)
            if n:
                out[label] = f"{100 * good / n:.0f} % of {n}"
        return out

    def page_study(self, design: dict) -> dict:
        """``{"kind": "ratings", "media_kind", "headphone_check", "title", "instructions"}``: the page
        runs the headphone screening (``static/ratings/headphone_check.js``) before consent when the
        study file's ``[ratings] headphone_check`` is true and the media are audio; ``title`` heads
        the consent screen and ``instructions`` replace the page's own (None: the page's words); the
        study file's shared words (``description``, ``minutes``, ``pay``, ``contact``, ``consent``),
        ``panel`` and ``device`` as `stimuli.study` reads them for every kind (None: the page's own;
        ``device``: only the rules the file gives are checked, ``static/common/device.js``)."""
        media = design.get("media_kind")
        settings = design.get("study") or {}
        wanted = settings.get("headphone_check") is True
        shared = {key: settings.get(key)
                  for key in ("description", "minutes", "pay", "contact", "consent", "panel", "device")}
        return {"kind": self.name, "media_kind": media, "headphone_check": wanted and media == "audio",
                "title": settings.get("title"), "instructions": settings.get("instructions"), **shared}
