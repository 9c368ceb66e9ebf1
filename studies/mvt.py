"""The MVT study kind: recognise a picture shown for N frames, then masked.

Build: `stimuli.build` (``mvt build``). Load: each trial's hidden record carries the correct
label and the image's frame count, so ``record.lua`` computes ``correct`` and
``presented_frames``. Trials: an opaque video URL and the answer options. Analysis:
`analysis.analyze`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from kernel.errors import BadExperiment
from kernel.ids import ID_CHARS, is_id
from kernel.responses import PRESENTATION_FIELDS
from studies.base import LinkData, StudyKind, checked_links, checked_strings

VIDEO_ID_RE = re.compile(r"^[0-9a-f]{16}$")


class MVTKind(StudyKind):
    """Minimum Viewing Time: fixation, the image for N frames, a mask; name what you saw."""

    name = "mvt"
    title = "MVT recognition"
    #: docs/interfaces.md's responses-CSV columns, then docs/contracts.md's, then the later additions
    #: (a promise to analysts' scripts: never reordered, only added to at the end)
    export_columns = (
        "link_id", "assignment_id", "worker_id", "hit_id", "trial", "image_id", "label", "frames", "duration_ms",
        "response", "correct", "response_time_ms", "presented_frames", "submitted_at", "dropped_frames",
        "refresh_interval_ms", "hidden_during_video", "blurred_during_video", "timing_ok", "assignment_status",
        "video_id", "list_index", "timing_source", "frames_presented_total", "frame_log", "experiment",
        *PRESENTATION_FIELDS, "comment", "image_ms_measured", "mask_frames_presented", "timing_reason",
    )

    def export_fields(self, link_meta: dict) -> Callable[[dict, list, str], dict]:
        """``image_id``, ``label``, ``frames`` and ``video_id`` from the hidden answer, ``duration_ms`` from
        them and the link's ``fps``; ``response``, ``correct``, ``presented_frames``, ``image_ms_measured``,
        ``mask_frames_presented`` as record.lua stored them."""
        fps = float(link_meta.get("fps") or 60)

        def fields(response: dict, answer: list, item: str) -> dict:
            label, frames, image_id, video_id = answer[:4]
            return {"image_id": image_id, "label": label, "frames": frames,
                    "duration_ms": round(frames * 1000.0 / fps, 3), "response": response["response"],
                    "correct": response["correct"], "presented_frames": response.get("presented_frames"),
                    "video_id": video_id, "image_ms_measured": response.get("image_ms_measured"),
                    "mask_frames_presented": response.get("mask_frames_presented")}

        return fields

    def register_commands(self, cli) -> None:
        """``mvt build`` (``--adaptive``: the first batch of an adaptive study, `studies.adaptive`)."""
        from stimuli import commands

        commands.register(cli)

    def link_data(self, design: dict, stimuli: dict, exp_dir: Path) -> list[LinkData]:
        """Each link's lists of video ids and hidden answers ``[label, frames, image_id, video_id,
        fixation_frames, mask_frames, display px, max_rescale]``; checks every video id is in ``stimuli.json`` and on disk."""
        classes = checked_strings(design, "classes", "class names")
        links = checked_links(design, exp_dir)
        videos = stimuli.get("videos", {})
        fixation_frames = stimuli.get("fixation_frames", 30)
        mask_frames = stimuli.get("mask_frames", 30)
        shown_px, max_rescale = _display_rule(exp_dir, stimuli)
        fps = design.get("fps", stimuli.get("fps", 60))
        checked: set[str] = set()
        out = []
        for link in links:
            link_id = _check_link(link, videos, exp_dir / "videos", checked)
            answers = {
                (i, j): [t.get("label", videos[t["video_id"]].get("label")), t["frames"],
                         t.get("image_id", videos[t["video_id"]].get("image_id")), t["video_id"], fixation_frames,
                         mask_frames, shown_px, max_rescale]
                for i, trials in enumerate(link["lists"]) for j, t in enumerate(trials)
            }
            out.append(LinkData(link_id, [[t["video_id"] for t in trials] for trials in link["lists"]], answers,
                                list(classes), {"fps": fps, "fixation_frames": fixation_frames}))
        return out

    def simulated_answers(self, exp_dir: Path, *, model, rng, options: dict):
        """Recognition from a psychometric model (`simulation.workers.recognition_answers`)."""
        from simulation.workers import recognition_answers

        return recognition_answers(exp_dir, model=model, rng=rng)

    def analyze(self, request) -> list[str]:
        """MVT per image, accuracy, screening, report (`analysis.commands.run_mvt`)."""
        from analysis.commands import run_mvt

        return run_mvt(request)

    def trials(self, item_ids: list[str], options: list[str], media_url: Callable[..., str]) -> list[dict]:
        """``{"trial", "video_url"}`` per trial: the options are named once, in the assignment's
        ``options`` (the runner reads a trial's own ``options`` only when a kind sends them)."""
        return [{"trial": i, "video_url": media_url(v)} for i, v in enumerate(item_ids)]


def _check_link(link: dict, videos: dict, videos_dir: Path, checked: set) -> str:
    """Validate one link of design.json; return its id."""
    link_id = link.get("link_id")
    if not is_id(link_id):
        raise BadExperiment(f"link_id {link_id!r} must match {ID_CHARS}")
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
    return link_id


def _display_rule(exp_dir: Path, stimuli: dict) -> tuple[int | None, float]:
    """The video's side on screen in device px (the study file's ``display_px``, else the built size;
    None when neither is known) and ``max_rescale`` (`stimuli.study.DEFAULT_DEVICE`)."""
    import json

    try:
        study = json.loads((Path(exp_dir) / "study.json").read_text())
    except (OSError, ValueError):
        study = {}
    device = study.get("device") or {}
    shown = study.get("display_px") or stimuli.get("size")
    return (int(shown) if shown else None), float(device.get("max_rescale") or 1.5)
