"""`build_experiment`: stimulus videos, design and links for one MVT experiment.

The layout of the output is in docs/contracts.md ("Build output"). Videos are written under
a temporary name and renamed when complete, so an existing ``<video_id>.mp4`` is a finished
video and a re-run only builds what is missing. ``stimuli.json``, ``links.csv`` and
``design.json`` (in that order) are written at the end, each atomically; an interrupted or
failed build leaves none of them behind.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import numbers
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from kernel.errors import BuildOptionError, EncodeError
from stimuli import design, mp4
from stimuli.encode import EncoderSettings, SkipFrames, splice
from stimuli.files import checked_base_url, links_csv, write_atomic
from stimuli.files import experiment_id as checked_experiment_id
from stimuli.images import fixation_frame, load_padded, scan_image_folder
from stimuli.mask import mask_rng, phase_scramble
from stimuli.practice import example_strip, practice_frames, practice_images
from stimuli.study import DEFAULT_STUDY, read_study_file, study_config

FPS = 60

OUTPUT_FILES = ("design.json", "links.csv", "stimuli.json", "study.json", "example.png")

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class BuildResult:
    """What `build_experiment` made.

    ``n_encoded`` videos were made by this run, ``n_skipped`` were already finished.
    ``last_link_images`` is the size of a last, smaller image set (None when every set is full).
    """

    exp_dir: Path
    experiment_id: str
    n_images: int
    n_videos: int
    n_encoded: int
    n_skipped: int
    n_links: int
    images_per_task: int
    last_link_images: int | None
    video_bytes: int
    seconds: float

    @property
    def seconds_per_video(self) -> float:
        """Wall-clock seconds per video made by this run (0 when none was made)."""
        return self.seconds / self.n_encoded if self.n_encoded else 0.0


def frames_from_ms(duration_ms: float, fps: int = FPS, *, what: str = "duration") -> int:
    """Whole frames closest to ``duration_ms`` at ``fps``; at least one.

    Examples
    --------
    >>> frames_from_ms(500)
    30
    """
    n_frames = round(duration_ms * fps / 1000)
    if n_frames < 1:
        raise BuildOptionError(
            f"{what} ({duration_ms!r} ms) must last at least one frame ({1000 / fps:.2f} ms at {fps} fps)")
    return n_frames


def video_id(seed: int, image_id: str, frames: int, size: int, fixation_frames: int,
             mask_frames: int) -> str:
    """The opaque file id of one video (docs/contracts.md): 16 hex digits of a SHA-256."""
    key = f"{seed}|{image_id}|{frames}|{size}|{fixation_frames}|{mask_frames}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _check_options(frame_counts: Sequence[int], images_per_task: int, workers: int,
                   base_url: str, size: int, jobs: int | None) -> tuple[list[int], str]:
    counts = [int(n) if isinstance(n, numbers.Integral) else n for n in frame_counts]
    if not counts:
        raise BuildOptionError("--frame-counts is empty: give one or more frame counts, e.g. 1 3 6")
    bad = [n for n in counts if isinstance(n, bool) or not isinstance(n, int) or n <= 0]
    if bad:
        raise BuildOptionError(f"frame counts ({counts!r}) must be positive whole numbers; {bad[0]!r} is not")
    repeated = sorted({n for n in counts if counts.count(n) > 1})
    if repeated:
        raise BuildOptionError(f"frame counts ({counts!r}) must be distinct; {repeated[0]} is repeated")
    if images_per_task < 1:
        raise BuildOptionError(f"--images-per-task ({images_per_task}) must be at least 1")
    if workers < 1:
        raise BuildOptionError(f"--workers ({workers}) must be at least 1")
    if size < 16 or size % 2:
        raise BuildOptionError(f"--size ({size}) must be an even number of pixels, at least 16")
    if jobs is not None and jobs < 1:
        raise BuildOptionError(f"--jobs ({jobs}) must be at least 1")
    return sorted(counts), checked_base_url(base_url)


@dataclass(frozen=True)
class _Job:
    image_id: str
    path: Path
    todo: tuple[tuple[int, Path], ...]  # (frames, destination)


@dataclass(frozen=True)
class _Plan:
    """Everything a worker process needs besides its jobs (sent once per process)."""

    skips: SkipFrames
    fixation_idr: list[bytes]
    fixation_frames: int
    mask_frames: int
    size: int
    seed: int


_PLAN: _Plan | None = None


def _init_worker(plan: _Plan) -> None:
    global _PLAN
    _PLAN = plan


def _make_videos(job: _Job, plan: _Plan | None = None) -> int:
    """Encode one image's missing videos; returns the bytes written."""
    plan = plan or _PLAN
    frame = load_padded(job.path, plan.size)
    mask = phase_scramble(frame, mask_rng(plan.seed, job.image_id))
    # Image then mask in one x264 run: idr_pic_id 0 and 1; the fixation IDR has 1.
    image_idr, mask_idr = plan.skips.encode_stills([frame, mask])
    written = 0
    for frames, dest in job.todo:
        units = splice(plan.skips, [(plan.fixation_idr, plan.fixation_frames), (image_idr, frames),
                                    (mask_idr, plan.mask_frames)])
        data = mp4.mp4_bytes(units, FPS)
        write_atomic(dest, data)
        written += len(data)
    return written


def decoded_frame_count(path: str | os.PathLike) -> int:
    """Decode a video completely with ffmpeg and count its frames; `EncodeError` on decode errors."""
    proc = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-xerror", "-nostdin", "-i", str(path),
         "-map", "0:v:0", "-f", "framecrc", "-"], capture_output=True)
    if proc.returncode or proc.stderr.strip():
        message = proc.stderr.decode(errors="replace").strip().splitlines()[:1] or ["exit status"]
        raise EncodeError(f"{path}: does not decode ({message[0]})")
    return sum(1 for line in proc.stdout.splitlines() if line and not line.startswith(b"#"))


def _keep_later_batches(exp_dir: Path) -> None:
    """Refuse to build over an adaptive study that has later batches (`stimuli.batches`).

    A build writes ``design.json`` with batch 1 only, so the later batches' links (posted, loaded,
    maybe answered) would vanish from the experiment folder. A study with batch 1 only may be
    built again: the same options give the same design (``mvt load`` leaves it alone), other
    options a changed one that ``mvt load`` refuses once its links have assignments.
    """
    try:
        doc = json.loads((exp_dir / "design.json").read_text())
    except (OSError, ValueError):
        return
    if not isinstance(doc, dict) or "adaptive" not in doc:
        return
    later = sorted({int(link.get("batch", 1)) for link in doc.get("links", [])} - {1})
    if later:
        raise BuildOptionError(
            f"{exp_dir} holds the adaptive study {doc.get('experiment_id')!r} with batches 1 to {later[-1]}; building "
            f"it again would rewrite design.json with batch 1 only and lose batch(es) {' '.join(map(str, later))}. "
            f"Continue it with `mvt next-batch {exp_dir} …`, or build a new study into another folder")


def build_experiment(
    image_dir: str | os.PathLike,
    exp_dir: str | os.PathLike,
    *,
    frame_counts: Sequence[int],
    images_per_task: int,
    workers: int,
    base_url: str,
    size: int = 512,
    fixation_ms: float = 500,
    mask_ms: float = 500,
    seed: int = 0,
    jobs: int | None = None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    verify: bool = False,
    study: str | os.PathLike | None = None,
    practice_dir: str | os.PathLike | None = None,
    adaptive: bool = False,
) -> BuildResult:
    """Build the stimulus videos, the balanced design and the MTurk links of an experiment.

    Each video is the fixation screen for ``fixation_ms``, the image for N frames (N from
    ``frame_counts``) and the image's phase-scrambled mask for ``mask_ms``, at 60 fps. The mask
    is one still picture, scrambled from the padded frame so that it covers the whole square
    (a dynamic mask would need one encode per frame and would differ between durations). Finished videos in ``exp_dir/videos`` are kept (quick check: the MP4
    boxes are complete; with ``verify``, also a full decode with the right frame count).

    Parameters
    ----------
    image_dir : path
        ImageFolder, ``<class>/<image>``.
    exp_dir : path
        Output folder (created).
    frame_counts : sequence of int
        Image durations in frames at 60 fps, distinct and positive.
    images_per_task : int
        Images per link (the last link may have fewer).
    workers : int
        Workers per link; each (image, duration) pair is seen by this many workers.
    base_url : str
        ``http(s)://host[:port]`` of the server, for ``links.csv``.
    size : int
        Side of the square frames in pixels (even).
    fixation_ms, mask_ms : float
        Durations of the fixation cross and of the mask in milliseconds (at least one frame).
    study : path, optional
        ``study.toml``: the study's words, practice trial count and device rules
        (`stimuli.study`); written with the derived defaults to ``exp_dir/study.json``.
    practice_dir : path, optional
        ImageFolder of practice images (default: the bundled samples); images also in the
        study set are skipped (`stimuli.practice`).
    seed : int
        Seeds the masks and the design; equal seeds give bit-identical output.
    jobs : int, optional
        Encoding processes; default: CPU count. ``jobs=1`` encodes in this process.
    name : str, optional
        Experiment id; default: the name of ``exp_dir``.
    progress : callable, optional
        Called as ``progress(videos_done, videos_total)`` as videos are finished.
    verify : bool
        Fully decode already finished videos before keeping them.
    adaptive : bool
        The first batch of an adaptive study (`stimuli.batches`): ``design.json`` gets
        ``"adaptive": {"batches": 1}`` and every link ``"batch": 1``; ``links-batch-1.csv``
        repeats ``links.csv``. ``mvt next-batch`` adds the later batches.

    Returns
    -------
    result : BuildResult

    Raises
    ------
    BuildOptionError, ImageFolderError
        Bad options or input, before anything is written.
    EncodeError
        ffmpeg/x264 failed.
    """
    started = time.perf_counter()
    counts, base_url = _check_options(frame_counts, images_per_task, workers, base_url, size, jobs)
    study_raw = read_study_file(study)
    fixation_frames = frames_from_ms(fixation_ms, what="--fixation-ms")
    mask_frames = frames_from_ms(mask_ms, what="--mask-ms")
    exp_dir = Path(exp_dir)
    experiment_id = checked_experiment_id(exp_dir, name)
    _keep_later_batches(exp_dir)
    images = scan_image_folder(image_dir)
    labels = {im.image_id: im.label for im in images}

    rng = np.random.default_rng(seed)
    sets = design.image_sets(labels, images_per_task, rng)
    links = [(f"{experiment_id}-{k:03d}", ids,
              design.latin_square_lists(ids, labels, counts, workers, rng))
             for k, ids in enumerate(sets, start=1)]

    videos_dir = exp_dir / "videos"
    videos_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*(exp_dir / f for f in OUTPUT_FILES), *videos_dir.glob(".*.tmp-*")]:
        stale.unlink(missing_ok=True)

    def vid(image_id: str, frames: int) -> str:
        return video_id(seed, image_id, frames, size, fixation_frames, mask_frames)

    jobs_todo: list[_Job] = []
    n_skipped = 0
    video_bytes = 0
    for im in images:
        todo = []
        for frames in counts:
            dest = videos_dir / f"{vid(im.image_id, frames)}.mp4"
            if _finished(dest, fixation_frames + frames + mask_frames, verify):
                n_skipped += 1
                video_bytes += dest.stat().st_size
            else:
                dest.unlink(missing_ok=True)
                todo.append((frames, dest))
        if todo:
            jobs_todo.append(_Job(im.image_id, im.path, tuple(todo)))

    n_videos = len(images) * len(counts)
    n_encoded = sum(len(j.todo) for j in jobs_todo)
    if progress:
        progress(n_skipped, n_videos)
    if jobs_todo:
        video_bytes += _encode_all(jobs_todo, size, seed, fixation_frames, mask_frames,
                                   jobs or _cpu_count(), progress, n_skipped, n_videos)

    practice = practice_images(practice_dir, images, study_raw.get("practice_trials", DEFAULT_STUDY["practice_trials"]),
                               rng=seed)
    practice_doc, practice_jobs = [], []
    for im, frames in zip(practice, practice_frames(counts, len(practice))):
        key = f"practice-{im.image_id}"
        dest = videos_dir / f"{vid(key, frames)}.mp4"
        if not _finished(dest, fixation_frames + frames + mask_frames, verify):
            practice_jobs.append(_Job(key, im.path, ((frames, dest),)))
        practice_doc.append({"video_id": vid(key, frames), "label": im.label, "frames": frames})
    if practice_jobs:
        video_bytes += _encode_all(practice_jobs, size, seed, fixation_frames, mask_frames, 1, None, 0, 0)
    for trial in practice_doc:
        trial["options"] = sorted({t["label"] for t in practice_doc})
    shown = practice[0] if practice else images[0]
    example_strip(shown, size, seed, f"practice-{shown.image_id}" if practice else shown.image_id).save(
        exp_dir / "example.png")
    mean_video_s = (fixation_frames + float(np.mean(counts)) + mask_frames) / FPS
    study_doc = study_config(study_raw, n_trials=min(images_per_task, len(images)), mean_video_s=mean_video_s,
                             example="example.png", practice=practice_doc)
    study_doc.update(fixation_ms=round(fixation_frames * 1000 / FPS), mask_ms=round(mask_frames * 1000 / FPS),
                     size_px=size)

    stimuli = {
        "version": 1, "fps": FPS, "size": size, "fixation_frames": fixation_frames,
        "mask_frames": mask_frames, "frame_counts": counts, "seed": seed,
        "images": {im.image_id: {"label": im.label, "source": im.source} for im in images},
        "videos": {
            vid(im.image_id, frames): {
                "image_id": im.image_id, "label": im.label, "frames": frames,
                "file": f"videos/{vid(im.image_id, frames)}.mp4",
                "total_frames": fixation_frames + frames + mask_frames,
            }
            for im in images for frames in counts
        },
    }
    design_doc = {
        "version": 1, "experiment_id": experiment_id, "base_url": base_url, "fps": FPS,
        "frame_counts": counts, "classes": sorted(set(labels.values())), "workers": workers,
        "seed": seed, "images_per_task": images_per_task,
        "links": [
            {"link_id": link_id, **({"batch": 1} if adaptive else {}), "image_ids": ids,
             "lists": [[{"video_id": vid(t.image_id, t.frames), "image_id": t.image_id,
                         "label": t.label, "frames": t.frames} for t in trials]
                       for trials in lists]}
            for link_id, ids, lists in links
        ],
    }
    if adaptive:
        design_doc["adaptive"] = {"batches": 1}
    write_atomic(exp_dir / "stimuli.json", json.dumps(stimuli, indent=1) + "\n")
    write_atomic(exp_dir / "links.csv", links_csv(base_url, [link_id for link_id, _, _ in links]))
    if adaptive:
        write_atomic(exp_dir / "links-batch-1.csv", links_csv(base_url, [link_id for link_id, _, _ in links]))
    write_atomic(exp_dir / "study.json", json.dumps(study_doc, indent=1, ensure_ascii=False) + "\n")
    write_atomic(exp_dir / "design.json", json.dumps(design_doc, indent=1) + "\n")

    last = len(sets[-1])
    return BuildResult(
        exp_dir=exp_dir, experiment_id=experiment_id, n_images=len(images), n_videos=n_videos,
        n_encoded=n_encoded, n_skipped=n_skipped, n_links=len(links),
        images_per_task=images_per_task,
        last_link_images=last if last < images_per_task else None,
        video_bytes=video_bytes, seconds=time.perf_counter() - started)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _finished(path: Path, total_frames: int, verify: bool) -> bool:
    if not mp4.looks_complete(path):
        return False
    if verify:
        try:
            return decoded_frame_count(path) == total_frames
        except EncodeError:
            return False
    return True


def _encode_all(jobs_todo: list[_Job], size: int, seed: int, fixation_frames: int,
                mask_frames: int, n_procs: int, progress: ProgressCallback | None,
                done: int, total: int) -> int:
    skips = SkipFrames(EncoderSettings(size=size, fps=FPS))
    fixation = fixation_frame(size)
    # Second of two IDRs: idr_pic_id 1, unlike the image's 0 that follows it.
    fixation_idr = skips.encode_stills([fixation, fixation])[1]
    plan = _Plan(skips, fixation_idr, fixation_frames, mask_frames, size, seed)
    written = 0
    n_procs = min(n_procs, len(jobs_todo))
    if n_procs == 1:
        for job in jobs_todo:
            written += _make_videos(job, plan)
            done += len(job.todo)
            if progress:
                progress(done, total)
        return written
    # Forking is fastest (no re-imports) but unsafe once the caller runs threads.
    forkable = sys.platform.startswith("linux") and threading.active_count() == 1
    method = "fork" if forkable else "spawn"
    with ProcessPoolExecutor(n_procs, mp_context=multiprocessing.get_context(method),
                             initializer=_init_worker, initargs=(plan,)) as pool:
        pending = {pool.submit(_make_videos, job): job for job in jobs_todo}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = pending.pop(future)
                    written += future.result()
                    done += len(job.todo)
                    if progress:
                        progress(done, total)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return written


DEMO_FRAME_COUNTS = (2, 4, 8, 30, 60)
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
"""The bundled sample images (CC0) that ``mvt demo`` builds its experiment from."""


def build_demo(data_dir: Path, base_url: str) -> Path:
    """Build the demo experiment from the bundled samples into ``data_dir/demo-exp`` (once)."""
    exp_dir = Path(data_dir).resolve() / "demo-exp"
    if not (exp_dir / "design.json").exists():
        build_experiment(SAMPLES_DIR, exp_dir, frame_counts=list(DEMO_FRAME_COUNTS), images_per_task=8,
                         workers=1, base_url=base_url, size=384, name="demo")
    return exp_dir

