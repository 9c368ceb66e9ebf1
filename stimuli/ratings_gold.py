"""Gold samples of a rating study: files with a known score, hidden among the samples (ITU-T P.808).

A study file lists them and says how many each task shows::

    [ratings]
    gold_per_task = 1
    [[ratings.gold]]
    file = "gold/clean.wav"        # path relative to the study file, or an http(s) URL
    score = 5                      # the known score on the design's 5-point scale
    [[ratings.gold]]
    file = "gold/very_noisy.wav"
    score = 1

Unlike a trapping trial ("please choose 2"), a gold trial looks exactly like a sample to the
browser: its file is converted like the samples and copied under a new opaque name in every
link (so no file name recurs from task to task), its item key carries no marker and its screen
number is drawn like the samples' own. Its bytes do recur: a worker who takes several tasks and
compares sizes or durations can tell that a file came back under a new name, which no sample
does (each sample is in one link). `analysis.ratings` counts a gold answer as missed when
it is more than ``GOLD_TOLERANCE`` (1) from the known score, the rule of the P.808 reference
implementation (microsoft/P.808, ``Scripts/acr_result_parser.py``: ``[gold_question]
variance: 1``, an answer in ``known - 1 .. known + 1`` is correct).

Only single-stimulus designs take gold: on a MUSHRA or same-source screen every sample of one
source is rated side by side, where a lone gold file would stand out; MUSHRA's hidden reference
and anchor are its built-in checks (ITU-R BS.1534-3 post-screening). DSIS shows every sample
beside its reference, so a DSIS gold entry names its ``reference`` file too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stimuli.ratings_design import SINGLE_STIMULUS
from stimuli.ratings_input import InputLine, RatingsInputError
from stimuli.files import file_digest
from stimuli.ratings_media import MediaFile, converted, copied, fetch, media_kind

GOLD_KEYS = {"file": str, "score": int, "name": str, "reference": str}
"""Keys of one ``[[ratings.gold]]`` entry, with their types (``file`` and ``score`` required)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class GoldSample:
    """One gold entry: its ``name`` (sample id ``gold/<name>``), known ``score``, file and DSIS reference."""

    name: str
    score: int
    item: InputLine
    reference: InputLine | None = None


def read_gold(settings: dict, study: str | Path | None, design: str) -> list[GoldSample]:
    """The gold entries of a study file's ``[ratings]`` table, checked for ``design``.

    Parameters
    ----------
    settings : dict
        The ``[ratings]`` table (`stimuli.ratings_build.read_study`).
    study : path or None
        The study file; local gold files are resolved against its folder.
    design : str
        The build's ``--design``.

    Returns
    -------
    list of GoldSample
        In file order; empty when the study has no gold.

    Raises
    ------
    RatingsInputError
        Naming the entry: a multiple-stimulus design, ``gold_per_task`` without entries (or the
        reverse, or more than there are entries), an unknown key, a missing ``file``, a score
        that is not a whole number 1..5, a repeated or unusable name, a missing local file, a
        ``reference`` missing for DSIS or given for another design.
    """
    entries = settings.get("gold", [])
    per_task = settings.get("gold_per_task", 0)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RatingsInputError(f"{study}: [ratings] gold ({entries!r}) must be a list of [[ratings.gold]] tables "
                                f"with file and score")
    if not entries and not per_task:
        return []
    if design not in SINGLE_STIMULUS:
        why = ("; MUSHRA's hidden reference and anchor are its built-in checks (ITU-R BS.1534 post-screening)"
               if design == "mushra" else "; a screen of one source's samples side by side has no place for one")
        raise RatingsInputError(f"{study}: gold samples work with the single-stimulus designs "
                                f"({', '.join(SINGLE_STIMULUS)}), not {design}{why}")
    if not entries:
        raise RatingsInputError(f"{study}: [ratings] gold_per_task is {per_task} but there is no [[ratings.gold]] "
                                f"entry (a file and its known score)")
    if not per_task:
        raise RatingsInputError(f"{study}: {len(entries)} [[ratings.gold]] entries but gold_per_task is 0; "
                                f"set gold_per_task to the number of gold samples each task shows")
    if per_task > len(entries):
        raise RatingsInputError(f"{study}: [ratings] gold_per_task ({per_task}) must be at most the {len(entries)} "
                                f"[[ratings.gold]] entries: a task never shows one gold sample twice")
    folder = Path(study).parent if study is not None else Path.cwd()
    golds: list[GoldSample] = []
    seen: dict[str, int] = {}
    for k, entry in enumerate(entries, start=1):
        where = f"{study}: [[ratings.gold]] entry {k}"
        for key, value in entry.items():
            expected = GOLD_KEYS.get(key)
            if expected is None:
                raise RatingsInputError(f"{where}: key {key!r} is not one of {', '.join(GOLD_KEYS)}")
            if not isinstance(value, expected) or isinstance(value, bool) or (expected is str and not value.strip()):
                raise RatingsInputError(f"{where}: {key} ({value!r}) must be a "
                                        + ("whole number" if expected is int else "non-empty string"))
        if "file" not in entry or "score" not in entry:
            raise RatingsInputError(f"{where} needs file = \"<path or URL>\" and score = <known score 1..5>")
        if not 1 <= entry["score"] <= 5:
            raise RatingsInputError(f"{where} ({entry['file']}): score ({entry['score']}) must be a point of the "
                                    f"5-point scale, 1..5")
        if (design == "dsis") != ("reference" in entry):
            raise RatingsInputError(f"{where} ({entry['file']}): " + (
                "--design dsis shows every sample beside its reference; add reference = \"<file>\""
                if design == "dsis" else f"reference is only for --design dsis, not {design}"))
        name = entry.get("name", Path(urlsplit(entry["file"]).path).stem)
        if not _NAME_RE.fullmatch(name):
            raise RatingsInputError(f"{where}: name ({name!r}) must be letters, digits, '_', '.' or '-'; "
                                    f"set name = \"...\"")
        if name in seen:
            raise RatingsInputError(f"{where}: name {name!r} is repeated (entry {seen[name]}); set name = \"...\"")
        seen[name] = k
        reference = _locate(entry["reference"], name, k, f"{where} reference", folder) if "reference" in entry else None
        golds.append(GoldSample(name, entry["score"], _locate(entry["file"], name, k, where, folder), reference))
    return golds


def _locate(location: str, name: str, k: int, where: str, folder: Path) -> InputLine:
    """A gold entry's file as an `InputLine` whose messages name the entry (``where``)."""
    item = InputLine("gold", name, location, k, label=where)
    if item.is_url:
        return item
    local = (folder / location).resolve()
    if not local.is_file():
        raise RatingsInputError(f"{item.where}: file {location!r} does not exist (looked at {local})")
    return InputLine("gold", name, str(local), k, label=item.label)


@dataclass(frozen=True)
class ConvertedGold:
    """A gold entry's converted file (and reference), kept under ``EXP_DIR/.gold`` between builds."""

    gold: GoldSample
    media: MediaFile
    reference: MediaFile | None
    digest: str


def convert_gold(golds: list[GoldSample], kind: str, ext: str, exp_dir: Path, loudnorm: bool,
                 media_id) -> tuple[list[ConvertedGold], int]:
    """Convert every gold file like the samples (``loudnorm``: as theirs); returns them and how
    many were converted now. ``media_id(name, role, digest)`` names a cached file."""
    cache = exp_dir / ".gold"
    cache.mkdir(parents=True, exist_ok=True)
    out, n_converted = [], 0
    for gold in golds:
        made = []
        for role, item in (("gold", gold.item), ("gold-reference", gold.reference)):
            if item is None:
                made.append((None, ""))
                continue
            local = fetch(item, exp_dir / ".downloads")
            found = media_kind(item, local)
            if found != kind:
                raise RatingsInputError(f"{item.where} ({item.location}) is {found} but the study's samples are "
                                        f"{kind}; gold samples must be the same kind of media")
            digest = file_digest(local)
            dest = cache / f"{media_id(gold.name, role, digest)}.{ext}"
            media, now = converted(item, local, kind, dest, loudnorm=loudnorm)
            made.append((media, digest))
            n_converted += now
        out.append(ConvertedGold(gold, made[0][0], made[1][0], made[0][1]))
    return out, n_converted


def add_gold(links: list[dict], converted: list[ConvertedGold], per_task: int, files: dict, videos_dir: Path,
             ext: str, rng, copy_id) -> dict:
    """Put ``per_task`` gold trials into every list of every link; returns stimuli.json's ``gold``.

    Each link shows ``per_task`` different gold entries, taken in turn from one shuffled order
    (so every entry is used equally often, give or take one), as copies under new
    opaque names (``copy_id(converted, role, link_id, t)``), at a random position of each list
    (the same gold in every list of the link, like its samples). The link's screen numbers are
    drawn again, samples and gold together, so no screen number marks a gold trial. Trapping
    trials (screen 10000 and up) keep theirs. A gold trial of design.json is ``{"sample_id":
    "gold/<name>", "media_id", "screen", "gold": <known score>[, "reference_id"]}``.
    """
    out = {}
    order = rng.permutation(len(converted))
    for k, link in enumerate(links):
        chosen = [converted[order[(k * per_task + t) % len(order)]] for t in range(per_task)]
        n_screens = len({t["screen"] for t in link["lists"][0] if "trap" not in t})
        screens = rng.permutation(n_screens + per_task)
        for trials in link["lists"]:
            for trial in trials:
                if "trap" not in trial:
                    trial["screen"] = int(screens[trial["screen"]])
        for t, gold in enumerate(chosen):
            mid = _copy(gold.media, copy_id(gold, "gold", link["link_id"], t), files, videos_dir, ext)
            trial = {"sample_id": f"gold/{gold.gold.name}", "media_id": mid, "screen": int(screens[n_screens + t]),
                     "gold": gold.gold.score}
            if gold.reference is not None:
                trial["reference_id"] = _copy(gold.reference, copy_id(gold, "gold-reference", link["link_id"], t),
                                              files, videos_dir, ext)
            for trials in link["lists"]:
                trials.insert(int(rng.integers(len(trials) + 1)), dict(trial))
            out[mid] = {"name": gold.gold.name, "score": gold.gold.score, "input": gold.gold.item.location,
                        "file": f"videos/{mid}.{ext}",
                        **({"reference_id": trial["reference_id"]} if "reference_id" in trial else {})}
    return out


def _copy(media: MediaFile, mid: str, files: dict, videos_dir: Path, ext: str) -> str:
    files[mid] = copied(media, videos_dir / f"{mid}.{ext}")
    return mid
