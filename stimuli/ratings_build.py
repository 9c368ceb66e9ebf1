"""`build_ratings`: media, design and links of one rating study (``mvt build-ratings``).

The output has the layout of an MVT build (docs/contracts.md, "Rating build output"):
``EXP_DIR/videos/<media_id>.<ext>``, ``stimuli.json``, ``links.csv`` and ``design.json``
(with ``"kind": "ratings"``, written last, so it exists only for a finished build). Converted
files are kept between runs: a media id hashes the input file's bytes and the conversion
settings, so an existing ``<media_id>.<ext>`` is already the right file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernel.scales import options_for, scale_bounds  # noqa: F401 (scale_bounds: for the build's callers)
from stimuli.build import OUTPUT_FILES
from stimuli.files import checked_base_url, file_digest, links_csv, write_atomic
from stimuli.files import experiment_id as checked_experiment_id
from stimuli.ratings_design import SINGLE_STIMULUS, plan_tasks
from stimuli.ratings_gold import add_gold, convert_gold, read_gold
from stimuli.ratings_input import REF, RatingsInputError, read_ratings_input
from stimuli.study import read_study_file
from stimuli.ratings_media import OUTPUT_EXT, MediaFile, converted, copied, fetch, media_kind

SCALE_OF = {"random": "acr", "diff-source": "acr", "same-source": "acr", "mushra": "mushra", "dsis": "dcr"}
STUDY_KEYS = {"title": str, "instructions": str, "min_sample_ms": int, "loudnorm": bool, "headphone_check": bool,
              "traps_per_task": int, "gold_per_task": int, "max_gold_miss_share": float, "gold": list}
"""Keys a ``--study`` file may set under ``[ratings]``, with their types (``gold``: the
``[[ratings.gold]]`` entries, checked by `stimuli.ratings_gold.read_gold`)."""


@dataclass(frozen=True)
class RatingsBuildResult:
    """What `build_ratings` made: counts, total media bytes and seconds, build time."""

    exp_dir: Path
    experiment_id: str
    design: str
    media_kind: str
    n_samples: int
    n_files: int
    n_converted: int
    n_links: int
    n_lists: int
    samples_per_task: int
    last_link_samples: int | None
    media_bytes: int
    media_seconds: float
    seconds: float
    n_gold: int = 0
    gold_per_task: int = 0

    def summary(self) -> str:
        """Lines the CLI prints."""
        lines = [f"{self.n_samples} {self.media_kind} samples ({self.n_files} files, {self.n_converted} converted, "
                 f"{self.media_bytes / 1e6:.1f} MB" + (f", {self.media_seconds:.1f} s of media" if self.media_seconds
                                                      else "") + f") in {self.seconds:.1f} s; "
                 f"{self.n_links} links x {self.n_lists // max(self.n_links, 1)} lists "
                 f"in {self.exp_dir / 'links.csv'} (design {self.design})"]
        if self.last_link_samples is not None:
            lines.append(f"note: the last link has {self.last_link_samples} samples "
                         f"(fewer than --samples-per-task {self.samples_per_task})")
        if self.gold_per_task:
            lines.append(f"gold: {self.gold_per_task} of the {self.n_gold} gold sample(s) in every list")
        return "\n".join(lines)


def media_id(seed: int, source: str, algorithm: str, role: str, digest: str, settings: str) -> str:
    """Opaque 16-hex name of one served file (``role``: ``sample`` or ``reference``)."""
    return hashlib.sha256(f"{seed}|{source}|{algorithm}|{role}|{digest}|{settings}".encode()).hexdigest()[:16]


def read_study(path: str | os.PathLike | None) -> dict:
    """A rating study's settings: the study file's shared keys (title, description, minutes, pay,
    contact, consent, ``[panel]``; read by `stimuli.study.read_study_file`, as ``mvt build`` reads
    them) and its ``[ratings]`` table, checked against `STUDY_KEYS`, in one dict (empty without a file)."""
    data = read_study_file(path, kind="ratings")
    table = data.get("ratings", {})
    if not isinstance(table, dict):
        raise RatingsInputError(f"{path}: ratings must be a table ([ratings])")
    if "title" in table and "title" in data:
        raise RatingsInputError(f"{path}: title is given twice (at the top and under [ratings]); keep one")
    for key, value in table.items():
        expected = STUDY_KEYS.get(key)
        if expected is None:
            raise RatingsInputError(f"{path}: [ratings] key {key!r} is not one of {', '.join(STUDY_KEYS)}")
        if expected is float:  # a share: TOML writes 0 and 1 as integers
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise RatingsInputError(f"{path}: [ratings] {key} ({value!r}) must be a share from 0 to 1")
        elif not isinstance(value, expected) or (expected is int and (isinstance(value, bool) or value < 0)):
            raise RatingsInputError(f"{path}: [ratings] {key} ({value!r}) must be a {expected.__name__}"
                                    + (" >= 0" if expected is int else ""))
    return {**{key: value for key, value in data.items() if key != "ratings"}, **table}


def build_ratings(input_tsv: str | os.PathLike, exp_dir: str | os.PathLike, *, design: str,
                  samples_per_task: int, ratings_per_sample: int, base_url: str,
                  study: str | os.PathLike | None = None, seed: int = 0, name: str | None = None,
                  loudnorm: bool | None = None, progress=None) -> RatingsBuildResult:
    """Convert the media, plan the design and write a rating study's files.

    Parameters
    ----------
    input_tsv : path
        crowdMOS input, ``source TAB algorithm TAB file-or-URL`` per line.
    exp_dir : path
        Output folder (created; a re-run keeps converted files).
    design : str
        ``random``, ``diff-source``, ``same-source``, ``mushra`` or ``dsis``
        (`stimuli.ratings_design.plan_tasks`).
    samples_per_task : int
        K, samples rated in one task (one link).
    ratings_per_sample : int
        R, ratings of every sample (lists per link).
    base_url : str
        ``http(s)://host[:port]`` of the server, for ``links.csv``.
    study : path, optional
        TOML file with a ``[ratings]`` table (`STUDY_KEYS`), and its gold samples
        (`stimuli.ratings_gold`).
    seed : int
        Seeds the design and the opaque names.
    name : str, optional
        Experiment id; default the name of ``exp_dir``.
    loudnorm : bool, optional
        Loudness-normalise audio (EBU R128); default the study file's ``loudnorm``, else off.
    progress : callable, optional
        ``progress(done, total)`` after each sample and reference file is converted or found.

    Returns
    -------
    RatingsBuildResult

    Raises
    ------
    RatingsInputError
        Bad input lines (named), mixed media kinds, undecodable files, bad options, bad gold
        entries (named).
    """
    started = time.perf_counter()
    base_url = checked_base_url(base_url)
    exp_dir = Path(exp_dir)
    experiment_id = checked_experiment_id(exp_dir, name)
    lines = read_ratings_input(input_tsv, design)
    settings = read_study(study)
    golds = read_gold(settings, study, design)
    loudnorm = settings.get("loudnorm", False) if loudnorm is None else loudnorm
    samples = [(item.source, item.algorithm) for item in lines]
    try:
        tasks = plan_tasks(samples, design, samples_per_task, ratings_per_sample, np.random.default_rng(seed))
    except ValueError as exc:
        raise RatingsInputError(str(exc)) from None

    videos_dir = exp_dir / "videos"
    videos_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*(exp_dir / f for f in OUTPUT_FILES), *videos_dir.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)
    locals_ = {(item.source, item.algorithm): fetch(item, exp_dir / ".downloads") for item in lines}
    kinds = {}
    for item in lines:
        kinds[item.source, item.algorithm] = media_kind(item, locals_[item.source, item.algorithm])
        if kinds[item.source, item.algorithm] != kinds[samples[0]]:
            raise RatingsInputError(f"line {item.line_no} ({item.location}) is {kinds[item.source, item.algorithm]} "
                                    f"but line {lines[0].line_no} is {kinds[samples[0]]}; one study rates one "
                                    f"kind of media")
    kind = kinds[samples[0]]
    ext = OUTPUT_EXT[kind]
    normalise = bool(loudnorm) and kind == "audio"
    conv = f"{kind}|loudnorm={normalise}"  # part of every media id: other settings, other files
    by_sample = {(item.source, item.algorithm): item for item in lines}
    digests = {sample: file_digest(local) for sample, local in locals_.items()}  # each input read once
    files: dict[str, MediaFile] = {}
    n_converted = 0

    n_sources = len({s for s, _ in samples}) if design in ("mushra", "dsis") else 0
    total, done = len(samples) + n_sources, 0

    def make(sample, role: str) -> str:
        nonlocal n_converted, done
        item = by_sample[sample]
        local = locals_[sample]
        mid = media_id(seed, sample[0], sample[1], role, digests[sample], conv)
        dest = videos_dir / f"{mid}.{ext}"
        if mid not in files:
            files[mid], now = converted(item, local, kind, dest, loudnorm=normalise)
            n_converted += now
        done += 1
        if progress is not None:
            progress(done, total)
        return mid

    sample_ids = {s: make(s, "sample") for s in samples}
    reference_ids = ({s: make((s, REF), "reference") for s in sorted({s for s, _ in samples})}
                     if design in ("mushra", "dsis") else {})
    scale = SCALE_OF[design]
    links = design_links(tasks, experiment_id, sample_ids, reference_ids, design)
    traps = {}
    if settings.get("traps_per_task"):
        if design not in SINGLE_STIMULUS:
            raise RatingsInputError(f"{study}: [ratings] traps_per_task works with the single-stimulus designs "
                                    f"({', '.join(SINGLE_STIMULUS)}), not {design}")
        traps = add_traps(links, settings["traps_per_task"], files, ext, np.random.default_rng([seed, 7]),
                          lambda sample, role: media_id(seed, *sample, role, digests[sample], conv))
    gold = {}
    if golds:  # after the traps: a trap repeats one of the link's samples, never a gold file
        gold_media, n_gold_converted = convert_gold(
            golds, kind, ext, exp_dir, normalise,
            lambda name, role, digest: media_id(seed, "gold", name, role, digest, conv))
        n_converted += n_gold_converted
        gold = add_gold(links, gold_media, settings["gold_per_task"], files, videos_dir, ext,
                        np.random.default_rng([seed, 8]),
                        lambda g, role, link_id, t: media_id(seed, "gold", g.gold.name, f"{role}|{link_id}|{t}",
                                                             g.digest, conv))
    stimuli = {
        "version": 1, "kind": "ratings", "media_kind": kind, "ext": ext, "seed": seed, "loudnorm": bool(loudnorm),
        "samples": {f"{s}/{a}": {"source": s, "algorithm": a, "media_id": sample_ids[s, a],
                                  "input": by_sample[s, a].location, "file": f"videos/{sample_ids[s, a]}.{ext}",
                                  "bytes": files[sample_ids[s, a]].n_bytes,
                                  "duration_s": round(files[sample_ids[s, a]].duration_s, 3)}
                    for s, a in samples},
        "references": {source: {"media_id": mid, "file": f"videos/{mid}.{ext}"}
                       for source, mid in reference_ids.items()},
        "traps": traps,
        "gold": gold,
    }
    design_doc = {
        "version": 1, "kind": "ratings", "experiment_id": experiment_id, "base_url": base_url,
        "design": design, "scale": scale, "options": options_for(scale),
        "media_kind": kind, "samples_per_task": samples_per_task, "ratings_per_sample": ratings_per_sample,
        "seed": seed, "study": settings,
        "sources": sorted({s for s, _ in samples}), "algorithms": sorted({a for _, a in samples}),
        "links": links,
    }
    write_atomic(exp_dir / "stimuli.json", json.dumps(stimuli, indent=1) + "\n")
    write_atomic(exp_dir / "links.csv", links_csv(base_url, [link["link_id"] for link in links]))
    write_atomic(exp_dir / "design.json", json.dumps(design_doc, indent=1) + "\n")
    last = len(tasks[-1].samples)
    return RatingsBuildResult(
        exp_dir=exp_dir, experiment_id=experiment_id, design=design, media_kind=kind, n_samples=len(samples),
        n_files=len(files), n_converted=n_converted, n_links=len(links),
        n_lists=sum(len(link["lists"]) for link in links), samples_per_task=samples_per_task,
        last_link_samples=last if last < samples_per_task else None,
        media_bytes=sum(f.n_bytes for f in files.values()),
        media_seconds=sum(f.duration_s for f in files.values()), seconds=time.perf_counter() - started,
        n_gold=len(golds), gold_per_task=settings.get("gold_per_task", 0) if golds else 0)


SAMPLES_DIR = Path(__file__).resolve().parent / "samples_ratings"
"""The bundled CC0 rating samples: ``audio.tsv`` (4 sources x REF, lowpass, noise, ANC), ``images.tsv``."""


DEMO_MEDIA = ("audio", "images")
"""The bundled sets ``mvt demo --ratings --media`` can serve (``SAMPLES_DIR/<media>.tsv``)."""


def build_ratings_demo(data_dir: Path, base_url: str, design: str = "random", media: str = "audio") -> Path:
    """The ``mvt demo --ratings`` study of the bundled ``media`` in ``design`` (built once), R = 2.

    K is 4 for the single-stimulus designs and one screen of all algorithms for ``same-source``
    and ``mushra``. The experiment is ``demo-ratings`` (ACR of the speech, the default) or
    ``demo-ratings-<design>-<media>``, in ``data_dir`` under that name. The build's own
    refusals apply (the bundled images have no ``ANC``, so MUSHRA needs the audio).
    """
    if media not in DEMO_MEDIA:
        raise RatingsInputError(f"--media ({media!r}) must be one of {', '.join(DEMO_MEDIA)}")
    if design not in SCALE_OF:
        raise RatingsInputError(f"--design ({design!r}) must be one of {', '.join(SCALE_OF)}")
    name = "demo-ratings" if (design, media) == ("random", "audio") else f"demo-ratings-{design}-{media}"
    exp_dir = Path(data_dir) / name
    if not (exp_dir / "design.json").exists():
        tsv = SAMPLES_DIR / f"{media}.tsv"
        n_algorithms = len({line.algorithm for line in read_ratings_input(tsv, design)})
        build_ratings(tsv, exp_dir, design=design, ratings_per_sample=2, base_url=base_url, name=name,
                      samples_per_task=n_algorithms if design in ("same-source", "mushra") else 4)
    return exp_dir


def add_traps(links: list[dict], per_task: int, files: dict, ext: str, rng, trap_id) -> dict:
    """Put ``per_task`` trapping trials (P.808: "please choose N for this sample") into every list.

    A trap shows one of the task's samples again under a new opaque name, at a random position
    of each list (the same trap in every list of the link), with a random score 1..5 to choose.
    Its sample id is ``trap/<score>``; `analysis.ratings` checks the answers and leaves traps
    out of every estimate. Returns stimuli.json's ``traps``: media id -> shown sample and score.
    """
    out = {}
    for link in links:
        for t in range(per_task):
            shown = link["lists"][0][int(rng.integers(len(link["lists"][0])))]
            source, algorithm = shown["sample_id"].rsplit("/", 1)
            mid = trap_id((source, algorithm), f"trap|{link['link_id']}|{t}")
            shown_file = files[shown["media_id"]]
            files[mid] = copied(shown_file, shown_file.path.with_name(f"{mid}.{ext}"))
            score = int(rng.integers(1, 6))
            trap = {"sample_id": f"trap/{score}", "media_id": mid, "screen": 10_000 + t, "trap": score,
                    **({"reference_id": shown["reference_id"]} if "reference_id" in shown else {})}
            for trials in link["lists"]:
                trials.insert(int(rng.integers(len(trials) + 1)), dict(trap))
            out[mid] = {"shows": shown["sample_id"], "score": score, "file": f"videos/{mid}.{ext}"}
    return out


def design_links(tasks, experiment_id: str, sample_ids: dict, reference_ids: dict, design: str) -> list[dict]:
    """The ``links`` of design.json: per task its link id, sample ids and lists of trials.

    ``sample_ids`` maps (source, algorithm) to the sample's media id, ``reference_ids`` a source
    to its reference's media id (MUSHRA and DSIS).
    """
    return [{"link_id": f"{experiment_id}-{k:03d}", "sample_ids": [f"{s}/{a}" for s, a in task.samples],
             "lists": [[_trial(sample, screen, sample_ids, reference_ids, design) for screen, sample in trials]
                       for trials in task.lists]}
            for k, task in enumerate(tasks, start=1)]


def _trial(sample, screen: int, sample_ids: dict, reference_ids: dict, design: str) -> dict:
    """One trial of design.json: the sample's ids, its screen, and the reference shown with it."""
    trial = {"sample_id": f"{sample[0]}/{sample[1]}", "media_id": sample_ids[sample], "screen": screen}
    if design in ("mushra", "dsis"):
        trial["reference_id"] = reference_ids[sample[0]]
    return trial
