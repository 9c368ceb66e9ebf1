"""``mvt load``: put a built experiment (docs/contracts.md, build output) into Redis.

Everything a request needs lives in Redis afterwards, so no request reads experiment files
(except the videos themselves). Loading is idempotent: a link already loaded with the same
design is left alone, with its assignments and responses; a link whose design changed is
reloaded only while nobody has been given one of its lists.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import redis as redis_py

from kernel import tally
from kernel.store import keys
from kernel.errors import BadExperiment
from kernel.ids import ID_CHARS, is_id
from studies import kind_of


@dataclass(frozen=True)
class LoadResult:
    """What ``load_experiment`` did."""

    experiment_id: str
    n_links: int
    n_lists: int
    loaded: tuple[str, ...]
    unchanged: tuple[str, ...]

    def summary(self) -> str:
        """One line for the CLI."""
        return (f"experiment {self.experiment_id}: {self.n_links} links, {self.n_lists} lists; "
                f"{len(self.loaded)} loaded, {len(self.unchanged)} already loaded")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise BadExperiment(f"{path} is missing; build the experiment first with `mvt build`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BadExperiment(f"{path} is not valid JSON ({exc})") from None


def _kind(exp_dir: Path, design: dict):
    """The study kind of ``exp_dir``'s design (`studies.kind_of`); an unknown one is a `BadExperiment`."""
    try:
        return kind_of(design)
    except ValueError as exc:
        raise BadExperiment(f"design.json of {exp_dir}: {exc}") from None


def _study(exp_dir: Path, design: dict, kind) -> dict | None:
    # The study's words and device rules (stimuli/study.py), else what the kind's page needs
    # before allocation (a rating study's headphone check); served to the page.
    study_file = exp_dir / "study.json"
    return _read_json(study_file) if study_file.is_file() else kind.page_study(design)


@dataclass(frozen=True)
class Listing:
    """The title and description a platform lists an experiment under (a HIT, a Prolific study);
    None: the platform's default."""

    title: str | None
    description: str | None


def listing(source: Path | str) -> Listing:
    """What an experiment is listed under on a platform: the title and description its worker page
    shows (the study file's, as `load_experiment` stores them), else its kind's `StudyKind.listing`
    (None: the platform's default).

    ``source`` is the experiment folder or a file in it (``design.json``, ``links.csv``); a folder
    without ``design.json`` (a bare ``links.csv``) is an MVT experiment, listed under the platforms'
    default (`platforms.base.DEFAULT_LISTING`, worded for MVT). Raises `BadExperiment` for a malformed
    ``design.json`` or ``study.json``, or an unknown kind.
    """
    exp_dir = Path(source) if Path(source).is_dir() else Path(source).parent
    design = _read_json(exp_dir / "design.json") if (exp_dir / "design.json").is_file() else {}
    kind = _kind(exp_dir, design)
    study = (_study(exp_dir, design, kind) if design else None) or {}
    title, description = kind.listing or (None, None)

    def text(value, default: str | None) -> str | None:
        return value.strip() if isinstance(value, str) and value.strip() else default
    return Listing(text(study.get("title"), title), text(study.get("description"), description))


def load_experiment(r: redis_py.Redis, exp_dir: Path | str) -> LoadResult:
    """Load ``exp_dir`` (the output of ``mvt build``) into Redis, idempotently.

    Raises `BadExperiment` when files are missing or malformed, or when a link already loaded
    with a different design has assignments.
    """
    exp_dir = Path(exp_dir).resolve()
    design = _read_json(exp_dir / "design.json")
    stimuli = _read_json(exp_dir / "stimuli.json")
    videos_dir = exp_dir / "videos"
    experiment_id = design.get("experiment_id")
    if not is_id(experiment_id):
        raise BadExperiment(f"experiment_id {experiment_id!r} must match {ID_CHARS}")
    kind = _kind(exp_dir, design)
    link_data = kind.link_data(design, stimuli, exp_dir)

    loaded, unchanged, n_lists = [], [], 0
    tallied = tally.is_tallied(r, experiment_id)
    for raw, link in zip(design["links"], link_data):
        link_id = link.link_id
        n_lists += len(link.lists)
        canonical = json.dumps({"link": raw, "classes": link.options, **link.meta}, sort_keys=True)
        design_hash = hashlib.sha256(canonical.encode()).hexdigest()
        meta_key = keys.link_meta(link_id)
        if r.hget(meta_key, "design_hash") == design_hash:
            r.hset(meta_key, "videos_dir", str(videos_dir))
            r.sadd(keys.link_options(link_id), *link.options)  # links loaded before this key existed
            unchanged.append(link_id)
            continue
        held = r.hlen(keys.link_assignments(link_id))
        if held:
            raise BadExperiment(f"link {link_id} is already loaded with a different design and has {held} "
                                f"assignments; load a new experiment under another name instead")
        if tallied:  # the control room's counts: this link, before anyone can be given one of its lists
            tally.add_link(r, experiment_id, kind.name, link_id, len(link.lists))
        pipe = r.pipeline(transaction=True)
        pipe.delete(*(builder(link_id) for builder in keys.LINK_KEY_BUILDERS))
        pipe.hset(meta_key, mapping={
            "experiment_id": experiment_id, "kind": kind.name, "n_lists": len(link.lists),
            "n_trials": len(link.lists[0]), **link.meta, "options": json.dumps(link.options),
            "design_hash": design_hash, "videos_dir": str(videos_dir),
            # Batches regroup images into new links: the gate is "seen any image of this link".
            **({"images": json.dumps(sorted({f"{experiment_id}/{answer[2]}" for answer in link.answers.values()}))}
               if "adaptive" in design else {}),
        })
        pipe.sadd(keys.link_options(link_id), *link.options)
        pipe.hset(keys.link_lists(link_id), mapping={str(i): json.dumps(items) for i, items in enumerate(link.lists)})
        pipe.hset(keys.link_answers(link_id), mapping={f"{i}:{j}": json.dumps(answer)
                                                       for (i, j), answer in link.answers.items()})
        pipe.rpush(keys.link_free(link_id), *range(len(link.lists)))
        pipe.execute()
        loaded.append(link_id)
    r.sadd(keys.links_index(), *(link.link_id for link in link_data))
    r.sadd(keys.video_dirs(), str(videos_dir))
    if not tallied:  # the control room's counts: a first load (or a store loaded before 0.5)
        tally.recount(r, experiment_id)
    study = _study(exp_dir, design, kind)
    if study:
        r.set(keys.experiment_study(experiment_id), json.dumps(study))
    else:
        r.delete(keys.experiment_study(experiment_id))
    return LoadResult(experiment_id, len(link_data), n_lists, tuple(loaded), tuple(unchanged))
