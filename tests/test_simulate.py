"""Simulated workers: a whole study through the real server, and the analysis recovers the truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.accuracy import accuracy_table
from analysis.analyze import analyze
from analysis.responses import read_responses_redis
from simulation.audit import audit
from simulation.workers import GroundTruth, WorkerModel, draw_truth, offline_responses, simulate
from simulation.stack import RedisProcess, ServerProcess, kill_and_restart, wait_for_stored
from tests.fixtures.experiment import SAMPLES

FRAME_COUNTS = [1, 3, 6, 30]
W = 10


@pytest.fixture(scope="module")
def study_experiment(tmp_path_factory):
    """All 16 sample images in one link; 10 workers per image per duration (40 lists of 16 trials)."""
    from stimuli.build import build_experiment

    exp_dir = tmp_path_factory.mktemp("sim") / "study"
    build_experiment(SAMPLES, exp_dir, frame_counts=FRAME_COUNTS, images_per_task=16, workers=W,
                     base_url="https://127.0.0.1:1", size=64, name="study", jobs=1)
    return exp_dir


def step_truth(exp_dir) -> GroundTruth:
    """Clearly separated images: accuracy 0.15 below their MVT, 0.95 from it on (or never)."""
    images = json.loads((exp_dir / "stimuli.json").read_text())["images"]
    labels = {image_id: info["label"] for image_id, info in sorted(images.items())}
    choices = [1, 3, 6, 30, None]
    p_correct, thresholds = {}, {}
    for i, image_id in enumerate(labels):
        mvt = choices[i % len(choices)]
        p_correct[image_id] = tuple(0.95 if mvt is not None and n >= mvt else 0.15 for n in FRAME_COUNTS)
        thresholds[image_id] = float("inf") if mvt is None else mvt * 1000 / 60
    return GroundTruth(tuple(FRAME_COUNTS), labels, thresholds, p_correct)


def test_a_simulated_study_keeps_every_promise_and_recovers_the_mvts(live_server, study_experiment):
    live_server.load(study_experiment)
    truth = step_truth(study_experiment)
    model = WorkerModel(p_reload=0.1, p_retry=0.1)
    result = simulate(live_server.base_url, study_experiment, n_workers=4 * W, concurrency=12,
                      model=model, truth=truth, rng=7, worker_prefix="STUDY")

    assert result.errors == {}
    assert result.completed == 4 * W and result.resume_mismatches == 0
    assert result.reloads > 0 and result.duplicates_acknowledged > 0
    report = audit(live_server.redis, max_tasks_per_worker=4, acked_keys=result.acked_keys)
    assert report.ok, report.violations
    responses = read_responses_redis(live_server.redis)
    study = responses[responses["link_id"].str.startswith("study-")]
    assert len(study) == len(result.acked_keys) == 4 * W * 16

    estimate = analyze(study, frame_counts=FRAME_COUNTS, n_bootstrap=200, rng=0).mvt.table
    estimate = estimate.set_index("image_id")
    agree = 0
    for image_id in truth.labels:
        true_mvt = truth.true_mvt_frames(image_id)
        row = estimate.loc[image_id]
        if true_mvt is None:
            agree += row["status"] == "unrecognised"
        else:
            agree += row["status"] == "ok" and int(row["mvt_frames"]) == true_mvt
    # Each cell has 10 answers at p = 0.15 or 0.95, so a wrong cell has probability < 0.2 %.
    assert agree >= 15, estimate[["status", "mvt_frames"]]


def test_accuracy_intervals_cover_the_truth_at_about_their_nominal_rate(study_experiment):
    truth = draw_truth(study_experiment, rng=1, median_threshold_ms=60, spread_log10=0.4)
    true_accuracy = {n: np.mean([p[i] for p in truth.p_correct.values()]) for i, n in enumerate(FRAME_COUNTS)}
    rng = np.random.default_rng(2)
    covered = total = 0
    for _ in range(150):
        table = accuracy_table(pd.DataFrame(offline_responses(study_experiment, truth, rng)),
                               frame_counts=FRAME_COUNTS)
        overall = table[table["scope"] == "overall"]
        for row in overall.itertuples():
            total += 1
            covered += row.ci_low <= true_accuracy[row.frames] <= row.ci_high
    # 600 intervals at 95 %: a binomial 95 % range is about 0.93-0.97; allow for the t approximation.
    assert 0.90 <= covered / total <= 0.99, covered / total


def test_responses_survive_kill_9_of_the_server_and_of_redis(tmp_path, study_experiment):
    """A study runs while the server and then Redis are killed and restarted; nothing acknowledged is lost."""
    import asyncio
    import threading

    import redis as redis_py

    from studies.loader import load_experiment
    from simulation.workers import simulate_async

    redis_proc = RedisProcess(tmp_path / "redis").start()
    r = redis_py.Redis.from_url(redis_proc.url, decode_responses=True)
    load_experiment(r, study_experiment)
    server = ServerProcess(tmp_path / "data", redis_proc.url, workers=1).start()
    killed = []

    def faults():
        for target in (server, redis_proc):
            wait_for_stored(r, 150 * (len(killed) + 1), timeout_s=60)
            kill_and_restart(target, pause_s=0.3)
            killed.append("server" if target is server else "redis")

    thread = threading.Thread(target=faults, daemon=True)
    try:
        thread.start()
        model = WorkerModel(p_reload=0.05, p_retry=0.05, think_ms=5, retry_budget_s=60)
        result = asyncio.run(simulate_async(server.base_url, study_experiment, n_workers=40, concurrency=10,
                                            model=model, rng=3))
        thread.join(timeout=60)
        assert killed == ["server", "redis"]
        assert result.completed == 40
        report = audit(r, max_tasks_per_worker=4, acked_keys=result.acked_keys)
        assert report.ok, report.violations
        assert report.stored_responses == len(result.acked_keys) == 640
    finally:
        server.stop()
        redis_proc.stop()


def test_abandoned_tasks_are_excluded_then_replaced_by_new_simulated_workers(live_server, study_experiment):
    from kernel.store import keys
    from kernel.admin import mark_for_replacement

    live_server.load(study_experiment)
    truth = step_truth(study_experiment)
    first = simulate(live_server.base_url, study_experiment, n_workers=4 * W, concurrency=10,
                     model=WorkerModel(p_abandon=0.5, p_reload=0.05), truth=truth, rng=11, worker_prefix="FIRST")
    assert first.abandoned > 0 and first.abandoned + first.completed == 4 * W

    statuses = {a: json.loads(v)["status"] for a, v in live_server.redis.hgetall(keys.link_assignments("study-001")).items()}
    unfinished = sorted(a for a, status in statuses.items() if status == "in_progress")
    assert len(unfinished) == first.abandoned
    responses = read_responses_redis(live_server.redis)
    study = responses[responses["link_id"] == "study-001"]
    analysis = analyze(study, frame_counts=FRAME_COUNTS, n_bootstrap=50, rng=0)
    partial = int(study["assignment_id"].isin(unfinished).sum())
    assert analysis.screening.summary()["incomplete_excluded"] == partial
    assert not set(analysis.screening.used["assignment_id"]) & set(unfinished)

    assert mark_for_replacement(live_server.redis, unfinished) == unfinished
    second = simulate(live_server.base_url, study_experiment, n_workers=first.abandoned, concurrency=10,
                      model=WorkerModel(p_abandon=0.0), truth=truth, rng=12, worker_prefix="SECOND")
    assert second.completed == first.abandoned and not second.refusals and not second.errors
    statuses = {a: json.loads(v)["status"] for a, v in live_server.redis.hgetall(keys.link_assignments("study-001")).items()}
    assert sorted(statuses.values()).count("complete") == 4 * W
    assert sorted(a for a, s in statuses.items() if s == "replaced") == unfinished
    report = audit(live_server.redis, max_tasks_per_worker=4, acked_keys=first.acked_keys | second.acked_keys)
    assert report.ok, report.violations


def test_simulate_exits_1_and_says_why_when_the_server_throttles_its_workers(redis, redis_url, synthetic_experiment,
                                                                             tmp_path):
    from typer.testing import CliRunner

    from app.main import create_app
    from cli import cli
    from kernel.settings import Settings
    from studies.loader import load_experiment
    from tests.fixtures.redis import free_port
    from tests.fixtures.server import ADMIN_TOKEN, NO_LIMITS, SECRET_KEY, _ThreadServer, make_certificate

    load_experiment(redis, synthetic_experiment)
    certfile, keyfile = make_certificate(tmp_path)
    throttled = {**NO_LIMITS, "limit_assignments_per_minute": 1}  # a bucket of 2 starts, then 429 for ~60 s
    settings = Settings(_env_file=None, data_dir=tmp_path, redis_url=redis_url, admin_token=ADMIN_TOKEN,
                        secret_key=SECRET_KEY, allotted_minutes=60, max_tasks_per_worker=4, **throttled)
    port = free_port()
    server = _ThreadServer(create_app(settings), port, certfile, keyfile)
    server.start()
    try:
        run = CliRunner().invoke(cli, ["simulate", str(synthetic_experiment), "--workers", "5", "--concurrency", "5",
                                       "--base-url", f"https://127.0.0.1:{port}", "--p-reload", "0",
                                       "--p-retry", "0"])
    finally:
        server.stop()
    assert run.exit_code == 1, run.output
    summary = json.loads(run.stdout)
    assert (summary["completed_assignments"], summary["unfinished_workers"], summary["rate_limited"]) == (2, 3, 6)
    limits = ("MVT_LIMIT_ASSIGNMENTS_PER_MINUTE=0 MVT_LIMIT_ASSIGNMENTS_PER_WORKER_PER_MINUTE=0 "
              "MVT_LIMIT_HELD_PER_CLIENT=0 MVT_LIMIT_ELIGIBILITY_PER_MINUTE=0 "
              "MVT_LIMIT_ELIGIBILITY_PER_WORKER_PER_MINUTE=0 MVT_LIMIT_ARRIVALS_PER_MIN=0")
    assert run.stderr == (
        "error: 3 of 5 simulated workers could not finish (0 lists left in progress; /api/assignments: HTTP 429 ×6); "
        "the server answered 6 requests with 429 (rate_limited): its per-client limits count every simulated worker "
        "as one client at this address. Simulate against a scratch server started with the limits off "
        f"({limits}), never the study's own\n")


def test_simulate_exits_0_when_every_simulated_worker_finished(synthetic_server):
    from typer.testing import CliRunner

    from cli import cli

    run = CliRunner().invoke(cli, ["simulate", str(synthetic_server.exp_dir), "--workers", "4",
                                   "--base-url", synthetic_server.base_url])
    assert (run.exit_code, run.stderr) == (0, ""), run.output
    summary = json.loads(run.stdout)
    assert (summary["completed_assignments"], summary["unfinished_workers"], summary["left_in_progress"],
            summary["rate_limited"]) == (4, 0, 0, 0)
