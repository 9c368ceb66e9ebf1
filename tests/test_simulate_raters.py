"""Simulated raters (simulation/raters.py): their answers match the truth they report, traps and
the MUSHRA page rule, and ``mvt simulate``'s refusals of rating options it cannot use."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from cli import cli
from simulation.raters import RatingAnswers
from simulation.ratings import Population

IDS = {"s1/A": "00000000000000a1", "s1/REF": "00000000000000f1", "s2/A": "00000000000000a2"}


def strategy(scale: str, p_careless: float = 0.0, mu=None) -> RatingAnswers:
    stimuli = {"samples": {s: {"media_id": m} for s, m in IDS.items()}}
    population = Population(mu or {"A": 3.2, "REF": 4.6}, sd_worker=0.4, sd_item=0.3, sd_noise=0.6)
    return RatingAnswers({"scale": scale}, stimuli, population, {"s1/A": 0.25, "s1/REF": 0.0, "s2/A": -0.4},
                         p_careless)


def trial(sample_id: str, scale: str = "acr", screen: int = 0, **extra) -> dict:
    points = [str(p) for p in (range(101) if scale == "mushra" else range(1, 6))]
    return {"screen": screen, "media_url": f"/videos/{IDS.get(sample_id, 'ffffffffffffffff')}.m4a?e=1&s=x",
            "media_type": "audio", "scale": scale, "options": points, **extra}


@pytest.mark.parametrize("sample_id", ["s1/A", "s2/A"])
def test_a_samples_mean_careful_rating_is_its_true_mos(sample_id):
    answers, rng = strategy("acr"), np.random.default_rng(0)
    n = 4000
    scores = np.array([int(answers.answer([trial(sample_id)], [], answers.new_worker(rng), rng)[0]["response"])
                       for _ in range(n)])
    # Each draw is a new rater, so the draws are independent: the mean is within 4 standard errors.
    assert abs(scores.mean() - answers.truth.by_sample[sample_id]) < 4 * scores.std(ddof=1) / np.sqrt(n)


def test_careful_raters_answer_traps_as_asked_and_careless_ones_by_chance():
    rng = np.random.default_rng(1)
    careful, careless = strategy("acr", 0.0), strategy("acr", 1.0)
    trap = trial("trap/2", attention="2")
    assert all(careful.answer([trap], [], careful.new_worker(rng), rng)[0]["response"] == "2" for _ in range(200))
    n = 2000
    hits = sum(careless.answer([trap], [], careless.new_worker(rng), rng)[0]["response"] == "2" for _ in range(n))
    assert stats.binomtest(hits, n, 1 / 5).pvalue > 0.001, hits


@pytest.mark.parametrize("p_careless", [0.0, 1.0])
def test_every_mushra_screen_has_a_sample_at_100_as_the_page_requires(p_careless):
    answers, rng = strategy("mushra", p_careless, mu={"A": 40.0, "REF": 100.0}), np.random.default_rng(2)
    screen = [trial(s, "mushra") for s in ("s1/A", "s1/REF", "s2/A")]
    for _ in range(300):
        scores = [int(a["response"]) for a in answers.answer(screen, [], answers.new_worker(rng), rng)]
        assert 100 in scores and all(0 <= s <= 100 for s in scores)
        if not p_careless:
            assert scores[1] == 100
    assert answers.truth.by_algorithm["REF"] == 100.0


def test_screens_are_runs_of_one_screen_number():
    answers = strategy("acr")
    trials = [trial("s1/A", screen=s) for s in (0, 0, 1, 2, 2, 2)]
    assert answers.screens(trials) == [range(0, 2), range(2, 3), range(3, 6)]


@pytest.mark.parametrize("args, message", [
    (["--mu", "REF=4.5"], "latent means for ['REF'] must name exactly the study's algorithms "
                          "['ANC', 'REF', 'lowpass', 'noise']"),
    (["--mu", "REF"], "'REF' must be ALGORITHM=NUMBER, e.g. REF=4.5"),
    (["--mu", "REF=nan"], "'REF=nan' must be ALGORITHM=NUMBER, e.g. REF=4.5"),
])
def test_simulate_refuses_latent_means_that_do_not_fit_the_study(ratings_acr, args, message):
    result = CliRunner().invoke(cli, ["simulate", str(ratings_acr), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())


def test_simulate_refuses_rating_options_for_an_mvt_study(synthetic_experiment):
    result = CliRunner().invoke(cli, ["simulate", str(synthetic_experiment), "--careless", "0.1"])
    assert result.exit_code == 2
    assert "--careless is not an option of mvt studies" in " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize("media_type, n, headphones", [("image", 3, False), ("audio", 3, True), ("image", 1, True)])
def test_answers_carry_the_fields_the_rating_page_sends(media_type, n, headphones):
    """One screen time for every sample of a screen; playback_completed null for images; view_ms and
    stimulus_visible for flip-compare images; headphone_check only for an audio study that runs it."""
    stimuli = {"samples": {s: {"media_id": m} for s, m in IDS.items()}, "media_kind": media_type}
    design = {"scale": "acr", "study": {"headphone_check": headphones}}
    answers = RatingAnswers(design, stimuli, Population({"A": 3.2, "REF": 4.6}), dict.fromkeys(IDS, 0.0))
    rng = np.random.default_rng(3)
    screen = [{**trial(s), "media_type": media_type} for s in list(IDS)[:n]]
    fields = answers.answer(screen, [], answers.new_worker(rng), rng)
    assert len({f["response_time_ms"] for f in fields}) == 1
    assert {f["playback_completed"] for f in fields} == {None if media_type == "image" else True}
    flip = media_type == "image" and n > 1
    assert all(("view_ms" in f and f["stimulus_visible"] is True) == flip for f in fields)
    sent = {f.get("headphone_check") for f in fields}
    assert sent <= {"5/6", "6/6"} if headphones and media_type == "audio" else sent == {None}


def test_the_truth_names_the_careless_raters():
    answers, rng = strategy("acr", 0.5), np.random.default_rng(4)
    raters = {f"SIM{i:03d}": answers.new_worker(rng, f"SIM{i:03d}") for i in range(200)}
    careless = {w for w, r in raters.items() if r.careless}
    assert 60 < len(careless) < 140  # p = 0.5 of 200
    assert answers.truth.careless_workers == careless
    assert answers.truth.summary()["careless_workers"] == sorted(careless)
