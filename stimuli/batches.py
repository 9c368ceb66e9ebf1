"""Later batches of an adaptive MVT study: new links for the answers still wanted.

``mvt build … --adaptive`` writes batch 1 (the balanced design, every link marked
``"batch": 1``). `append_batch` adds batch N: it takes how many answers each image still needs
at each duration (the decision is `analysis.adaptive`), builds links balanced as the fixed
design's (`batch_links`), appends them to ``design.json`` (earlier links unchanged, so
``mvt load EXP_DIR`` again loads only the new ones into the same experiment) and writes their
``links-batch-N.csv`` (and ``links.csv``: the links to post now). Videos are the build's: a
batch uses only (image, duration) videos that ``mvt build`` made.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernel.errors import BadExperiment, BuildOptionError
from stimuli import design
from stimuli.build import video_id
from stimuli.files import links_csv, write_atomic


@dataclass(frozen=True)
class BatchResult:
    """What `append_batch` wrote: batch number, its links and lists, answers and images asked."""

    batch: int
    link_ids: tuple[str, ...]
    n_lists: int
    n_answers: int
    n_images: int
    links_csv: Path


def batch_links(wanted: dict[str, dict[int, int]], labels: dict[str, str], images_per_task: int,
                rng=None) -> list[list[list[design.Trial]]]:
    """Links (each a list of trial lists) asking every image its wanted answers.

    Images are grouped by how many answers they want (R), since every list of a link has the
    same trials count; each group is cut into class-balanced sets (`design.image_sets`). A set
    becomes one link of R lists: the set's images in a random order ``i``, each image's R
    wanted durations (ascending) ``w_0 .. w_{R-1}``, and list ``j`` shows image ``i`` at
    ``w_{(i + j) mod R}``. So every list shows each image of the set exactly once, every image
    gets exactly its wanted answers, and the durations rotate over the lists.

    Parameters
    ----------
    wanted : dict
        ``image_id -> {frames: answers}``; images wanting nothing are left out.
    labels : dict
        ``image_id -> class label``.
    images_per_task : int
        Images per link (the last link of a group may have fewer).
    rng : int, np.random.Generator or None

    Returns
    -------
    list of links, each a list of lists of `stimuli.design.Trial`.

    Examples
    --------
    >>> links = batch_links({"a": {1: 2}, "b": {1: 1, 600: 1}}, {"a": "x", "b": "y"}, 10, rng=0)
    >>> [[sorted((t.image_id, t.frames) for t in trials) for trials in lists] for lists in links]
    [[[('a', 1), ('b', 1)], [('a', 1), ('b', 600)]]]
    """
    rng = np.random.default_rng(rng)
    groups: dict[int, list[str]] = defaultdict(list)
    for image_id in sorted(wanted):
        total = sum(wanted[image_id].values())
        if total:
            groups[total].append(image_id)
    links = []
    for r in sorted(groups):
        group = groups[r]
        for ids in design.image_sets({i: labels[i] for i in group}, images_per_task, rng):
            order = [ids[i] for i in rng.permutation(len(ids))]
            durations = {i: sorted(f for f, c in wanted[i].items() for _ in range(c)) for i in order}
            lists = []
            for j in range(r):
                trials = [design.Trial(i, labels[i], durations[i][(pos + j) % r]) for pos, i in enumerate(order)]
                lists.append([trials[t] for t in rng.permutation(len(trials))])
            links.append(lists)
    return links


def read_design(exp_dir: Path) -> tuple[dict, dict]:
    """``design.json`` and ``stimuli.json`` of an adaptive experiment; `BadExperiment` otherwise."""
    docs = []
    for name in ("design.json", "stimuli.json"):
        path = Path(exp_dir) / name
        if not path.is_file():
            raise BadExperiment(f"{path} is missing; build the first batch with `mvt build … --adaptive`")
        docs.append(json.loads(path.read_text()))
    design_doc, stimuli = docs
    if "adaptive" not in design_doc:
        raise BadExperiment(f"{Path(exp_dir) / 'design.json'} is not an adaptive MVT study; "
                            "build one with `mvt build … --adaptive`")
    return design_doc, stimuli


def append_batch(exp_dir, wanted: dict[str, dict[int, int]], *, images_per_task: int | None = None,
                 rng=None) -> BatchResult:
    """Add the next batch's links to an adaptive experiment (module docstring).

    Parameters
    ----------
    exp_dir : path
        The experiment folder written by ``mvt build … --adaptive``.
    wanted : dict
        ``image_id -> {frames: answers}`` still to ask.
    images_per_task : int, optional
        Images per link, default the build's.
    rng : int, np.random.Generator or None
        Default: seeded from the build's seed and the batch number.

    Returns
    -------
    BatchResult

    Raises
    ------
    BadExperiment
        Not an adaptive experiment, or a wanted video the build did not make.
    BuildOptionError
        An image or duration the design does not have, or nothing is wanted.
    """
    exp_dir = Path(exp_dir)
    design_doc, stimuli = read_design(exp_dir)
    batch = max(int(link.get("batch", 1)) for link in design_doc["links"]) + 1
    labels = {i: v["label"] for i, v in stimuli["images"].items()}
    counts = set(design_doc["frame_counts"])
    for image_id, per in wanted.items():
        if image_id not in labels:
            raise BuildOptionError(f"image {image_id!r} is not in {exp_dir / 'stimuli.json'}")
        bad = sorted(set(per) - counts)
        if bad:
            raise BuildOptionError(f"frame count {bad[0]} for image {image_id!r} is not one of the design's "
                                   f"{sorted(counts)}")
    n_answers = sum(c for per in wanted.values() for c in per.values())
    if n_answers == 0:
        raise BuildOptionError("no image needs more answers: the study is finished")
    rng = np.random.default_rng(rng if rng is not None else [int(design_doc.get("seed", 0)), batch])
    per_task = images_per_task or int(design_doc["images_per_task"])
    links = batch_links(wanted, labels, per_task, rng)

    def vid(image_id: str, frames: int) -> str:
        return video_id(stimuli["seed"], image_id, frames, stimuli["size"], stimuli["fixation_frames"],
                        stimuli["mask_frames"])

    experiment_id = design_doc["experiment_id"]
    new_links = []
    for k, lists in enumerate(links, start=1):
        doc_lists = []
        for trials in lists:
            doc_trials = []
            for t in trials:
                v = vid(t.image_id, t.frames)
                if v not in stimuli["videos"] or not (exp_dir / "videos" / f"{v}.mp4").is_file():
                    raise BadExperiment(f"the video of image {t.image_id!r} at {t.frames} frames is missing; "
                                        "run the same `mvt build` again to make it")
                doc_trials.append({"video_id": v, "image_id": t.image_id, "label": t.label, "frames": t.frames})
            doc_lists.append(doc_trials)
        new_links.append({"link_id": f"{experiment_id}-b{batch}-{k:03d}", "batch": batch,
                          "image_ids": sorted({t.image_id for t in lists[0]}), "lists": doc_lists})
    design_doc["links"].extend(new_links)
    design_doc["adaptive"]["batches"] = batch
    link_ids = [link["link_id"] for link in new_links]
    csv_text = links_csv(design_doc["base_url"], link_ids)
    batch_csv = exp_dir / f"links-batch-{batch}.csv"
    write_atomic(batch_csv, csv_text)
    write_atomic(exp_dir / "links.csv", csv_text)
    write_atomic(exp_dir / "design.json", json.dumps(design_doc, indent=1) + "\n")
    return BatchResult(batch=batch, link_ids=tuple(link_ids), n_lists=sum(len(link["lists"]) for link in new_links),
                       n_answers=n_answers, n_images=sum(1 for per in wanted.values() if sum(per.values())),
                       links_csv=batch_csv)
