"""``mvt load``: put a built experiment (docs/contracts.md, build output) into Redis.

Everything a request needs lives in Redis afterwards, so no request reads experiment files
(except the videos themselves). Loading is idempotent: a link already loaded with the same
design is left alone, with its assignments and responses; a link whose design changed is
reloaded only while nobody has been given one of its lists.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import redis as redis_py

from app import keys
from app.errors import BadExperiment

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
VIDEO_ID_RE = re.compile(r"^[0-9a-f]{16}$")


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


def _check_link(link: dict, videos: dict, videos_dir: Path, checked: set) -> tuple[str, int]:
    """Validate one link of design.json; return its id and number of trials per list."""
    link_id = link.get("link_id")
    if not isinstance(link_id, str) or not ID_RE.fullmatch(link_id):
        raise BadExperiment(f"link_id {link_id!r} must match [A-Za-z0-9_-]{{1,64}}")
    lists = link.get("lists")
    if not isinstance(lists, list) or not lists:
        raise BadExperiment(f"link {link_id} has no lists")
    n_trials = len(lists[0])
    for i, trials in enumerate(lists):
        if not isinstance(trials, list) or len(trials) != n_trials or n_trials == 0:
            raise BadExperiment(f"list {i} of link {link_id} has {len(trials) if isinstance(trials, list) else 0} "
                                f"trials, expected {n_trials} like list 0")
        for trial in trials:
            video_id = trial.get("video_id") if isinstance(trial, dict) else None
            if not isinstance(video_id, str) or not VIDEO_ID_RE.fullmatch(video_id):
                raise BadExperiment(f"video_id {video_id!r} in link {link_id} must be 16 lowercase hex characters")
            if video_id not in videos:
                raise BadExperiment(f"video {video_id} of link {link_id} is not in stimuli.json")
            if video_id not in checked:
                if not (videos_dir / f"{video_id}.mp4").is_file():
                    raise BadExperiment(f"video file {videos_dir / f'{video_id}.mp4'} is missing")
                checked.add(video_id)
            if not isinstance(trial.get("frames"), int) or trial["frames"] < 1:
                raise BadExperiment(f"frames {trial.get('frames')!r} of video {video_id} must be a positive integer")
    return link_id, n_trials


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
    if not isinstance(experiment_id, str) or not ID_RE.fullmatch(experiment_id):
        raise BadExperiment(f"experiment_id {experiment_id!r} must match [A-Za-z0-9_-]{{1,64}}")
    fps = design.get("fps", stimuli.get("fps", 60))
    classes = design.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
        raise BadExperiment(f"classes ({classes!r}) in design.json must be a non-empty list of class names")
    links = design.get("links")
    if not isinstance(links, list) or not links:
        raise BadExperiment(f"design.json of {exp_dir} has no links")
    videos = stimuli.get("videos", {})
    fixation_frames = stimuli.get("fixation_frames", 30)

    loaded, unchanged, n_lists, checked = [], [], 0, set()
    for link in links:
        link_id, n_trials = _check_link(link, videos, videos_dir, checked)
        n_lists += len(link["lists"])
        canonical = json.dumps({"link": link, "fps": fps, "classes": classes, "fixation_frames": fixation_frames}, sort_keys=True)
        design_hash = hashlib.sha256(canonical.encode()).hexdigest()
        meta_key = keys.link_meta(link_id)
        if r.hget(meta_key, "design_hash") == design_hash:
            r.hset(meta_key, "videos_dir", str(videos_dir))
            r.sadd(keys.link_options(link_id), *classes)  # links loaded before this key existed
            unchanged.append(link_id)
            continue
        held = r.hlen(keys.link_assignments(link_id))
        if held:
            raise BadExperiment(f"link {link_id} is already loaded with a different design and has {held} "
                                f"assignments; load a new experiment under another name instead")
        pipe = r.pipeline(transaction=True)
        pipe.delete(*(builder(link_id) for builder in keys.LINK_KEY_BUILDERS))
        pipe.hset(meta_key, mapping={
            "experiment_id": experiment_id, "n_lists": len(link["lists"]), "n_trials": n_trials,
            "fps": fps, "fixation_frames": fixation_frames, "options": json.dumps(classes), "design_hash": design_hash,
            "videos_dir": str(videos_dir),
        })
        pipe.sadd(keys.link_options(link_id), *classes)
        pipe.hset(keys.link_lists(link_id), mapping={
            str(i): json.dumps([t["video_id"] for t in trials]) for i, trials in enumerate(link["lists"])
        })
        pipe.hset(keys.link_answers(link_id), mapping={
            f"{i}:{j}": json.dumps([t.get("label", videos[t["video_id"]].get("label")), t["frames"],
                                    t.get("image_id", videos[t["video_id"]].get("image_id")), t["video_id"],
                                    fixation_frames])
            for i, trials in enumerate(link["lists"]) for j, t in enumerate(trials)
        })
        pipe.rpush(keys.link_free(link_id), *range(len(link["lists"])))
        pipe.execute()
        loaded.append(link_id)
    r.sadd(keys.links_index(), *(link["link_id"] for link in links))
    r.sadd(keys.video_dirs(), str(videos_dir))
    return LoadResult(experiment_id, len(links), n_lists, tuple(loaded), tuple(unchanged))
