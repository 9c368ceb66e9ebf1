"""A synthetic built experiment (placeholder videos) for benchmarks and tests of the server alone.

It follows the build contract (docs/contracts.md) exactly, so ``mvt load`` takes it; its videos
are the smallest files that start like an MP4, enough to test serving, not playing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# The smallest file that starts like an MP4 (an ftyp box); enough to test serving.
PLACEHOLDER_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 4


def write_experiment(exp_dir: Path, *, experiment_id: str = "synth", n_links: int = 2, n_lists: int = 4,
                     n_trials: int = 3, classes=("cat", "dog"), frame_counts=(1, 6), fixation_frames: int = 30,
                     base_url: str = "https://127.0.0.1:8443") -> Path:
    """Write a built experiment per docs/contracts.md, with tiny placeholder videos.

    Link ``k`` shows ``n_trials`` images; its ``n_lists`` lists cycle through ``frame_counts``.
    """
    exp_dir = Path(exp_dir)
    (exp_dir / "videos").mkdir(parents=True, exist_ok=True)
    images, videos, links = {}, {}, []
    for k in range(1, n_links + 1):
        link_id = f"{experiment_id}-{k:03d}"
        image_ids = [f"img{k}_{j}" for j in range(n_trials)]
        lists = []
        for i in range(n_lists):
            trials = []
            for j, image_id in enumerate(image_ids):
                label = classes[j % len(classes)]
                frames = frame_counts[(i + j) % len(frame_counts)]
                images[image_id] = {"label": label, "source": f"{label}/{image_id}.png"}
                video_id = hashlib.sha256(f"0|{image_id}|{frames}|128|{fixation_frames}|30".encode()).hexdigest()[:16]
                if video_id not in videos:
                    videos[video_id] = {"image_id": image_id, "label": label, "frames": frames,
                                        "file": f"videos/{video_id}.mp4", "total_frames": 2 * fixation_frames + frames}
                    (exp_dir / "videos" / f"{video_id}.mp4").write_bytes(PLACEHOLDER_MP4)
                trials.append({"video_id": video_id, "image_id": image_id, "label": label, "frames": frames})
            lists.append(trials)
        links.append({"link_id": link_id, "image_ids": image_ids, "lists": lists})
    (exp_dir / "stimuli.json").write_text(json.dumps({
        "version": 1, "fps": 60, "size": 128, "fixation_frames": fixation_frames, "mask_frames": 30,
        "frame_counts": list(frame_counts), "seed": 0, "images": images, "videos": videos}))
    (exp_dir / "design.json").write_text(json.dumps({
        "version": 1, "experiment_id": experiment_id, "base_url": base_url, "fps": 60,
        "frame_counts": list(frame_counts), "classes": sorted(classes), "workers": 1, "seed": 0,
        "images_per_task": n_trials, "links": links}))
    (exp_dir / "links.csv").write_text("HIT_Link\n" + "".join(
        f"{base_url}/experiment.html?link={link['link_id']}\n" for link in links))
    return exp_dir
