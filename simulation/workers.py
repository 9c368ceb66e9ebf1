"""Simulated workers that drive the real HTTP API like MTurk workers would.

The HTTP client and its concurrency are shared by every study kind: a worker asks
``GET /api/eligibility`` (as the MTurk landing page does), takes a list with ``POST
/api/assignments``, answers trial after trial with ``POST /api/responses``, reloads and resumes,
and completes. What a worker *answers* is a kind's `Answers` strategy, chosen by the study kind
(`studies.base.StudyKind.simulated_answers`): recognition of MVT videos here
(`RecognitionAnswers`, the default), opinion scores in `simulation.raters`.

MVT: each image gets a true recognition threshold; a simulated worker answers correctly with the
psychometric probability

    p(d) = g + (1 - g - lapse) * Phi((log10 d - log10 T_image) / slope)

where ``g = 1 / n_choices`` is the guess rate and ``d`` the duration in ms. When it does not
answer correctly it picks a wrong option uniformly, so ``p(d)`` is exactly the probability of a
correct answer. Workers think, reload mid-task, abandon, and retry requests, as configured.
The ground truth (thresholds, true accuracies, true MVT under the "stable" rule) is returned
and can be written next to the analysis for comparison.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiohttp
import numpy as np
from scipy.stats import norm

from kernel import csvsafe
from kernel.responses import compact_frame_times

FPS = 60


@dataclass(frozen=True)
class WorkerModel:
    """How simulated workers behave. Probabilities are per trial, except ``p_abandon`` (per task)."""

    lapse_rate: float = 0.02
    slope_log10: float = 0.15
    think_ms: float = 0.0
    p_reload: float = 0.05
    p_abandon: float = 0.0
    p_retry: float = 0.05
    tasks_per_worker: int = 1
    retry_budget_s: float = 10.0


@dataclass(frozen=True)
class GroundTruth:
    """True thresholds and accuracies of every image at every duration."""

    frame_counts: tuple[int, ...]
    labels: dict[str, str]
    threshold_ms: dict[str, float]
    p_correct: dict[str, tuple[float, ...]]

    def true_mvt_frames(self, image_id: str, theta: float = 0.5) -> int | None:
        """Shortest duration (frames) from which the true accuracy stays above ``theta``."""
        mvt = None
        for frames, p in zip(reversed(self.frame_counts), reversed(self.p_correct[image_id])):
            if p <= theta:
                break
            mvt = frames
        return mvt

    def summary(self) -> dict:
        """The truth's size, JSON-ready (``simulation.json``)."""
        return {"images": len(self.labels), "frame_counts": list(self.frame_counts)}

    def write_csv(self, path: Path) -> None:
        """One row per image: threshold, true MVT, true accuracy at each duration."""
        with open(path, "w", newline="") as f:
            writer = csvsafe.writer(f)
            writer.writerow(["image_id", "label", "threshold_ms", "true_mvt_frames",
                             *(f"p_{n}" for n in self.frame_counts)])
            for image_id, label in sorted(self.labels.items()):
                mvt = self.true_mvt_frames(image_id)
                writer.writerow([image_id, label, f"{self.threshold_ms[image_id]:.3f}",
                                 "" if mvt is None else mvt,
                                 *(f"{p:.6f}" for p in self.p_correct[image_id])])


@dataclass
class SimulationResult:
    """What the simulated workers did and what the server answered."""

    truth: "Truth"
    acknowledged: int = 0
    duplicates_acknowledged: int = 0
    completed: int = 0
    abandoned: int = 0
    reloads: int = 0
    resume_mismatches: int = 0
    refusals: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    assignments: dict[str, tuple[str, str]] = field(default_factory=dict)
    acked_keys: set[tuple[str, int]] = field(default_factory=set)
    seconds: float = 0.0
    rate_limited: int = 0
    unfinished_workers: int = 0
    n_workers: int = 0
    ended: set[str] = field(default_factory=set)

    def left_in_progress(self) -> int:
        """Assignments a simulated worker started and neither completed nor abandoned (by the model)."""
        return len(set(self.assignments) - self.ended)

    def problem(self, limit_settings: str = "MVT_LIMIT_*=0") -> str | None:
        """Why simulated workers could not finish, as one sentence for the CLI; None when every worker
        finished its tasks (or was refused by design: a full link, the task cap, a block)."""
        if not self.unfinished_workers:
            return None
        causes = ", ".join(f"{cause} ×{n}" for cause, n in self.errors.most_common(3))
        line = (f"{self.unfinished_workers} of {self.n_workers} simulated workers could not finish "
                f"({self.left_in_progress()} lists left in progress; {causes})")
        if self.rate_limited:
            line += (f"; the server answered {self.rate_limited} requests with 429 (rate_limited): its per-client "
                     "limits count every simulated worker as one client at this address. Simulate against a "
                     f"scratch server started with the limits off ({limit_settings}), never the study's own")
        return line

    def record_latency(self, route: str, ms: float) -> None:
        self.latencies_ms.setdefault(route, []).append(ms)

    def summary(self) -> dict:
        """Counts and per-route latency percentiles, JSON-ready."""
        routes = {
            route: {"n": len(v), "p50_ms": round(float(np.percentile(v, 50)), 2),
                    "p99_ms": round(float(np.percentile(v, 99)), 2)}
            for route, v in sorted(self.latencies_ms.items()) if v
        }
        n_requests = sum(len(v) for v in self.latencies_ms.values())
        return {
            "acknowledged_responses": self.acknowledged,
            "duplicates_acknowledged": self.duplicates_acknowledged,
            "completed_assignments": self.completed,
            "abandoned_assignments": self.abandoned,
            "reloads": self.reloads,
            "resume_mismatches": self.resume_mismatches,
            "unfinished_workers": self.unfinished_workers,
            "left_in_progress": self.left_in_progress(),
            "rate_limited": self.rate_limited,
            "refusals": dict(self.refusals),
            "errors": dict(self.errors),
            "requests": n_requests,
            "seconds": round(self.seconds, 2),
            "requests_per_s": round(n_requests / self.seconds, 1) if self.seconds else None,
            "routes": routes,
            "truth": self.truth.summary(),
        }


def draw_truth(exp_dir: Path, *, model: WorkerModel = WorkerModel(), rng=None,
               median_threshold_ms: float = 60.0, spread_log10: float = 0.5) -> GroundTruth:
    """Draw a true threshold per image (log-normal) and derive true accuracies.

    Parameters
    ----------
    exp_dir : Path
        A built experiment (``design.json``, ``stimuli.json``).
    model : WorkerModel
        Lapse rate and slope of the psychometric function.
    rng : seed or numpy Generator
    median_threshold_ms : float
        Median threshold over images, in ms.
    spread_log10 : float
        Standard deviation of log10 thresholds over images.
    """
    rng = np.random.default_rng(rng)
    design = json.loads((Path(exp_dir) / "design.json").read_text())
    stimuli = json.loads((Path(exp_dir) / "stimuli.json").read_text())
    frame_counts = tuple(sorted(design["frame_counts"]))
    guess = 1.0 / len(design["classes"])
    labels = {image_id: info["label"] for image_id, info in sorted(stimuli["images"].items())}
    log_t = rng.normal(math.log10(median_threshold_ms), spread_log10, size=len(labels))
    thresholds = dict(zip(labels, 10.0 ** log_t))
    durations = np.log10(np.array(frame_counts) * 1000.0 / FPS)
    p_correct = {
        image_id: tuple(float(p) for p in guess + (1 - guess - model.lapse_rate)
                        * norm.cdf((durations - math.log10(t)) / model.slope_log10))
        for image_id, t in thresholds.items()
    }
    return GroundTruth(frame_counts, labels, thresholds, p_correct)


def draw_answer(truth: GroundTruth, video: dict, options, rng: np.random.Generator) -> str:
    """The option a simulated worker picks for ``video`` (a ``stimuli.json`` entry)."""
    p = truth.p_correct[video["image_id"]][truth.frame_counts.index(video["frames"])]
    if rng.random() < p:
        return video["label"]
    wrong = [option for option in options if option != video["label"]]
    return str(rng.choice(wrong)) if wrong else video["label"]


def offline_responses(exp_dir: Path, truth: GroundTruth, rng=None) -> list[dict]:
    """Every list of the design answered once by its own simulated worker, without a server.

    The same answer model as the HTTP simulation, for studies of the analysis itself (e.g. the
    coverage of its intervals over many seeded runs) where going through HTTP adds nothing.
    """
    rng = np.random.default_rng(rng)
    design = json.loads((Path(exp_dir) / "design.json").read_text())
    rows = []
    for link in design["links"]:
        for list_index, trials in enumerate(link["lists"]):
            worker = f"W{link['link_id']}_{list_index}"
            for trial_index, trial in enumerate(trials):
                response = draw_answer(truth, trial, design["classes"], rng)
                rows.append({"link_id": link["link_id"], "assignment_id": f"A{worker}", "worker_id": worker,
                             "trial": trial_index, "image_id": trial["image_id"], "label": trial["label"],
                             "frames": trial["frames"], "response": response,
                             "correct": response == trial["label"]})
    return rows


class Truth(Protocol):
    """What a simulation knew: written next to the analysis to compare with it."""

    def summary(self) -> dict:
        """JSON-ready headline figures (``simulation.json``)."""

    def write_csv(self, path: Path) -> None:
        """The whole truth as one CSV (``truth.csv``)."""


class Answers(Protocol):
    """A study kind's answering strategy: how a simulated worker answers the trials of a task.

    ``screens`` says which trials a page shows together (answered at once, and restarted as a
    whole after a reload, as the page does); ``answer`` gives, per trial of one screen, the
    fields of ``POST /api/responses`` other than ``assignment_token`` and ``trial``.
    """

    truth: Truth

    def new_worker(self, rng: np.random.Generator, worker_id: str = "") -> object:
        """The per-worker state (e.g. a rater's bias), drawn once per simulated worker."""

    def screens(self, trials: list[dict]) -> list[range]:
        """The trial indices of each screen, in order, covering every trial once."""

    def answer(self, trials: list[dict], options: list[str], worker: object,
               rng: np.random.Generator) -> list[dict]:
        """The response fields of each trial of one screen."""


class RecognitionAnswers:
    """MVT: one video per screen, an option drawn from the psychometric model (`draw_answer`),
    and the measurements of a browser that showed every frame on time (a frame log of the whole
    video and three frame times, the server interpolating between them): the server counts a
    simulated trial as measured."""

    def __init__(self, truth: GroundTruth, videos: dict, fixation_frames: int = 30):
        self.truth, self.videos, self.fixation_frames = truth, videos, fixation_frames

    def new_worker(self, rng: np.random.Generator, worker_id: str = "") -> None:
        """MVT workers differ only through the draws (the model has no worker effect)."""
        return None

    def screens(self, trials: list[dict]) -> list[range]:
        """Each trial is its own screen."""
        return [range(i, i + 1) for i in range(len(trials))]

    def answer(self, trials: list[dict], options: list[str], worker: None, rng: np.random.Generator) -> list[dict]:
        """A drawn answer among the trial's own options, else the task's (named once per task)."""
        out = []
        for trial in trials:
            video_id = trial["video_url"].rsplit("/", 1)[-1].split(".", 1)[0]
            response = draw_answer(self.truth, self.videos[video_id], trial.get("options") or options, rng)
            video = self.videos[video_id]
            last = video.get("total_frames", 2 * self.fixation_frames + video["frames"]) - 1
            first_mask = self.fixation_frames + video["frames"]
            # the compact form the runner page sends (kernel.responses.frame_times_text)
            times = compact_frame_times(",".join(f"{i}:{i * 1000.0 / FPS:.1f}" for i in sorted({0, first_mask, last})))
            out.append({"response": response, "response_time_ms": 800.0, "presented_frames": None,
                        "dropped_frames": 0, "refresh_interval_ms": 1000.0 / FPS, "hidden_during_video": False,
                        "blurred_during_video": False, "timing_source": "rvfc", "frame_log": f"0-{last}",
                        "frame_times": times})
        return out


def recognition_answers(exp_dir: Path, *, model: WorkerModel = WorkerModel(), rng=None,
                        truth: GroundTruth | None = None) -> RecognitionAnswers:
    """MVT answers for the experiment in ``exp_dir``: ``truth``, else thresholds drawn by `draw_truth`."""
    stimuli = json.loads((Path(exp_dir) / "stimuli.json").read_text())
    return RecognitionAnswers(truth or draw_truth(exp_dir, model=model, rng=rng), stimuli["videos"],
                              stimuli.get("fixation_frames", 30))


@dataclass(frozen=True)
class _Reply:
    """Status and decoded JSON body of one answered request."""

    status_code: int
    body: object

    def json(self):
        return self.body


class _Worker:
    """One simulated worker doing up to ``model.tasks_per_worker`` tasks."""

    def __init__(self, sim: "_Simulation", worker_id: str, rng: np.random.Generator):
        self.sim, self.worker_id, self.rng = sim, worker_id, rng
        self.state = sim.answers.new_worker(rng, worker_id)

    async def request(self, route: str, payload: dict, method: str = "POST") -> _Reply | None:
        """POST ``payload`` (GET: as the query) with retries on network errors and 5xx (as the
        browser runner does).

        Retries with doubling waits until ``model.retry_budget_s`` has passed, so a client
        rides out a server or Redis restart shorter than that.
        """
        deadline = time.monotonic() + self.sim.model.retry_budget_s
        attempt = 0
        url = self.sim.base_url + route
        while True:
            t0 = time.perf_counter()
            try:
                sent = (self.sim.client.get(url, params=payload) if method == "GET"
                        else self.sim.client.post(url, json=payload))
                async with sent as answer:
                    body = await answer.json(content_type=None) if answer.status < 500 else None
                    response = _Reply(answer.status, body)
                    retry_after = answer.headers.get("Retry-After")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.sim.result.errors[f"{route}: {type(exc).__name__}"] += 1
            else:
                self.sim.result.record_latency(route, (time.perf_counter() - t0) * 1000)
                if response.status_code == 429:  # as the browser does: wait as told, while the budget lasts
                    self.sim.result.rate_limited += 1
                    wait = _seconds(retry_after)
                    if time.monotonic() + wait >= deadline:
                        return response  # the caller counts it among the errors
                    await asyncio.sleep(wait)
                    continue
                if response.status_code < 500:
                    return response
                self.sim.result.errors[f"{route}: HTTP {response.status_code}"] += 1
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(0.05 * 2 ** attempt, 1.0))
            attempt += 1

    async def post(self, route: str, payload: dict) -> _Reply | None:
        """`request` with POST."""
        return await self.request(route, payload)

    async def run(self, links: list[str]) -> None:
        """Up to ``tasks_per_worker`` tasks on the links in random order; a worker whose tasks ended
        in errors (not refusals by design) is counted in ``unfinished_workers``."""
        tasks_done, failed = 0, False
        for link in self.rng.permutation(links):
            if tasks_done >= self.sim.model.tasks_per_worker:
                return
            outcome = await self.do_task(str(link))
            if outcome == "cap_reached" or outcome == "blocked":
                return
            if outcome in ("complete", "abandoned"):
                tasks_done += 1
            failed = failed or outcome == "error"
        if failed and tasks_done < self.sim.model.tasks_per_worker:
            self.sim.result.unfinished_workers += 1

    async def eligible(self, link: str, assignment_id: str) -> str | None:
        """The landing page's check before Accept: None when eligible, else the refusal reason."""
        response = await self.request("/api/eligibility", {"link": link, "worker_id": self.worker_id,
                                                           "assignment_id": assignment_id}, method="GET")
        if response is None or response.status_code != 200:
            self.sim.result.errors["/api/eligibility: not answered"] += 1
            return "error"
        answer = response.json()
        if answer.get("eligible"):
            return None
        reason = answer.get("reason") or "unknown"
        self.sim.result.refusals[reason] += 1
        return reason

    async def start(self, link: str, assignment_id: str) -> dict | str:
        response = await self.post("/api/assignments", {
            "link": link, "worker_id": self.worker_id,
            "assignment_id": assignment_id, "hit_id": f"HIT{link}"[:64].replace("-", "_")})
        if response is None:
            return "error"
        if response.status_code == 409:
            reason = response.json().get("reason", "unknown")
            self.sim.result.refusals[reason] += 1
            return reason
        if response.status_code != 200:
            self.sim.result.errors[f"/api/assignments: HTTP {response.status_code}"] += 1
            return "error"
        return response.json()

    async def do_task(self, link: str) -> str:
        """Check, take, answer and complete one task; returns "complete", "abandoned", "error" or a refusal reason.

        Trials go out one by one in order; a screen's answers are drawn when its first trial is
        reached. A reload (before any trial, probability ``p_reload``) asks for the assignment
        again and restarts the screen holding ``resume_from``, as the pages do, so a screen's
        trials sent before the reload are sent again and acknowledged as duplicates.
        """
        sim, model = self.sim, self.sim.model
        assignment_id = f"A{self.worker_id}{link}".replace("-", "")[:64]
        refused = await self.eligible(link, assignment_id)
        if refused is not None:
            return refused
        task = await self.start(link, assignment_id)
        if isinstance(task, str):
            return task
        sim.result.assignments[assignment_id] = (self.worker_id, link)
        trials = task["trials"]
        screens = sim.answers.screens(trials)
        screen_of = {i: screen for screen in screens for i in screen}
        abandon_at = (int(self.rng.integers(0, len(trials)))
                      if self.rng.random() < model.p_abandon else None)
        trial = acked_upto = task["resume_from"]
        trial = screen_of[trial][0] if trial < len(trials) else trial
        drawn: dict[int, dict] = {}
        while trial < len(trials):
            if abandon_at is not None and trial >= abandon_at:
                sim.result.abandoned += 1
                sim.result.ended.add(assignment_id)
                return "abandoned"
            if self.rng.random() < model.p_reload:
                sim.result.reloads += 1
                again = await self.start(link, assignment_id)
                if isinstance(again, str):
                    return again
                if again["resume_from"] != acked_upto:
                    sim.result.resume_mismatches += 1
                task, trials = again, again["trials"]
                resume = again["resume_from"]
                trial = screen_of[resume][0] if resume < len(trials) else resume
                drawn = {}
                continue
            if trial not in drawn:
                if model.think_ms:
                    await asyncio.sleep(self.rng.exponential(model.think_ms) / 1000.0)
                screen = screen_of[trial]
                fields = sim.answers.answer([trials[i] for i in screen], task["options"], self.state, self.rng)
                drawn = dict(zip(screen, fields))
            payload = {"assignment_token": task["assignment_token"], "trial": trial, **drawn[trial]}
            sends = 2 if self.rng.random() < model.p_retry else 1
            for _ in range(sends):
                response = await self.post("/api/responses", payload)
                if response is None or response.status_code != 200:
                    sim.result.errors["/api/responses: not recorded"] += 1
                    return "error"
                body = response.json()
                if body.get("duplicate"):
                    sim.result.duplicates_acknowledged += 1
                else:
                    sim.result.acknowledged += 1
                sim.result.acked_keys.add((assignment_id, trial))
            acked_upto = max(acked_upto, trial + 1)
            trial += 1
        response = await self.post("/api/complete", {"assignment_token": task["assignment_token"]})
        if response is not None and response.status_code == 200:
            sim.result.completed += 1
            sim.result.ended.add(assignment_id)
            return "complete"
        sim.result.errors["/api/complete: refused"] += 1
        return "error"


def _seconds(retry_after: str | None) -> float:
    """A 429's ``Retry-After`` in seconds (1 when missing or not a number)."""
    try:
        return max(float(retry_after), 0.0)
    except (TypeError, ValueError):
        return 1.0


class _Simulation:
    def __init__(self, client, base_url, model, result, answers):
        self.client, self.base_url = client, base_url.rstrip("/")
        self.model, self.result, self.answers = model, result, answers


async def simulate_async(base_url: str, exp_dir: Path, *, n_workers: int, concurrency: int,
                         model: WorkerModel = WorkerModel(), rng=None,
                         truth: GroundTruth | None = None, answers: Answers | None = None,
                         verify: bool = False, worker_prefix: str = "SIM") -> SimulationResult:
    """Run ``n_workers`` simulated workers, at most ``concurrency`` at a time, against a server.

    ``answers`` is the answering strategy (the study kind's, `studies.base.StudyKind.simulated_answers`);
    default: MVT recognition (`RecognitionAnswers`, with ``truth`` or thresholds drawn by
    `draw_truth`). The result's ``truth`` is the strategy's.
    """
    if n_workers < 1 or concurrency < 1:
        raise ValueError(f"n_workers ({n_workers}) and concurrency ({concurrency}) must be >= 1")
    rng = np.random.default_rng(rng)
    exp_dir = Path(exp_dir)
    answers = answers or recognition_answers(exp_dir, model=model, rng=rng, truth=truth)
    design = json.loads((exp_dir / "design.json").read_text())
    links = [link["link_id"] for link in design["links"]]
    result = SimulationResult(truth=answers.truth, n_workers=n_workers)
    # aiohttp, not httpx: on this 2-core machine httpx's client costs 10-20x more CPU per
    # request than aiohttp's (162 vs 3,383 req/s at 200 connections), which would make the
    # simulator, not the server, the bottleneck of a load run.
    ssl_context = None if verify else False
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl_context)
    seeds = rng.spawn(n_workers)
    semaphore = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        sim = _Simulation(client, base_url, model, result, answers)

        async def one(i: int) -> None:
            async with semaphore:
                await _Worker(sim, f"{worker_prefix}{i:05d}", seeds[i]).run(links)

        await asyncio.gather(*(one(i) for i in range(n_workers)))
    result.seconds = time.perf_counter() - t0
    return result


def simulate(base_url: str, exp_dir: Path, **kwargs) -> SimulationResult:
    """Synchronous wrapper of `simulate_async`."""
    return asyncio.run(simulate_async(base_url, exp_dir, **kwargs))
