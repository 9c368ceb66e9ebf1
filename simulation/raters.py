"""Simulated raters for ``mvt simulate`` on a rating study: the known-MOS population of
`simulation.ratings` answering the rating pages through the real HTTP API.

A careful rater ``i`` rating sample ``j`` of algorithm ``a`` gives
``clip(round(mu_a + w_i + s_j + u))`` on the scale's points, with ``w_i ~ N(0, sd_worker^2)``
drawn once per rater, ``s_j ~ N(0, sd_item^2)`` once per sample (shared by every rater) and
``u ~ N(0, sd_noise^2)`` per rating: the model of `simulation.ratings.Population`. Exceptions,
each what the page asks of a person:

- MUSHRA: a careful rater gives the hidden reference (algorithm ``REF``) 100, as the page's
  instructions say ("One of the samples is the reference itself: give it 100"), so every screen
  has a 100 and Next unlocks; the true mean of ``REF`` is therefore 100. With
  `Population.ref_slip` > 0 (default 0) they miss it on that share of screens and rate it as
  the best other condition (`simulation.ratings.careful_score`), giving that one 100 instead.
- Trapping trials: a careful rater chooses the score asked for.
- Gold trials (``stimuli.json``'s ``gold``): a careful rater gives ``clip(round(known + w_i + u))``,
  as in `simulation.ratings.simulate_ratings`.
- Careless raters (each rater with probability ``p_careless``) choose every score uniformly
  among the trial's options, traps included (passing one by chance); on a MUSHRA screen with
  no 100 they move their highest score to 100, because Next waits for one.

Truth (careful raters only, since screening is meant to remove the others): per algorithm
`Population.true_mos`, the expected rating of a random rater on a random sample of the
algorithm; per sample the expected rating of a random rater on that sample, i.e. the same
formula with ``mu = mu_a + s_j`` and no sample spread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kernel import csvsafe
from simulation.ratings import Population, careful_score
from kernel.scales import scale_bounds

SPREADS = {"five_point": (0.4, 0.3, 0.6), "mushra": (5.0, 4.0, 8.0)}
"""(sd_worker, sd_item, sd_noise) in scale points: 5-point scales (ACR, DCR) and MUSHRA (0-100)."""
DRAWN_MU = {"five_point": (1.5, 4.2, 4.5), "mushra": (20.0, 85.0, 100.0)}
"""Default latent means: (low, high) of the uniform draw per algorithm, and the value for ``REF``."""


@dataclass(frozen=True)
class RatingTruth:
    """True MOS per algorithm and per sample of the simulated careful raters, and the model behind them."""

    scale: str
    population: Population
    sample_effects: dict[str, float]
    by_algorithm: dict[str, float]
    by_sample: dict[str, float]
    p_careless: float
    careless_workers: set[str] = field(default_factory=set)
    """Ids of the simulated workers who answered carelessly (screening should flag them)."""

    def summary(self) -> dict:
        """True MOS per algorithm and the model's parameters, JSON-ready (``simulation.json``)."""
        p = self.population
        return {"scale": self.scale, "true_mos_by_algorithm": {a: round(v, 4) for a, v in self.by_algorithm.items()},
                "latent_mu": p.mu, "sd_worker": p.sd_worker, "sd_item": p.sd_item, "sd_noise": p.sd_noise,
                "p_careless": self.p_careless, "samples": len(self.by_sample),
                "careless_workers": sorted(self.careless_workers)}

    def write_csv(self, path: Path) -> None:
        """``scope,algorithm,sample_id,latent_mu,true_mos``: a row per algorithm, then one per sample."""
        with open(path, "w", newline="") as f:
            writer = csvsafe.writer(f)
            writer.writerow(["scope", "algorithm", "sample_id", "latent_mu", "true_mos"])
            for algorithm, mos in sorted(self.by_algorithm.items()):
                writer.writerow(["algorithm", algorithm, "", f"{self.population.mu[algorithm]:.4f}",
                                          f"{mos:.6f}"])
            for sample_id, mos in sorted(self.by_sample.items()):
                algorithm = sample_id.rsplit("/", 1)[1]
                latent = self.population.mu[algorithm] + self.sample_effects[sample_id]
                writer.writerow(["sample", algorithm, sample_id, f"{latent:.4f}", f"{mos:.6f}"])


@dataclass(frozen=True)
class Rater:
    """One simulated rater: their bias ``w_i`` (scale points) and whether they answer carelessly."""

    bias: float
    careless: bool
    headphones: str = "6/6"


def _media_id(url: str) -> str:
    """The 16-hex media id of ``/videos/<id>.<ext>[?query]``."""
    return url.split("?", 1)[0].rsplit("/", 1)[-1].split(".", 1)[0]


def rating_truth(design: dict, population: Population, sample_effects: dict[str, float],
                 p_careless: float = 0.0) -> RatingTruth:
    """The true MOS per algorithm and per sample of ``population`` (module docstring); MUSHRA ``REF`` is 100."""
    scale = design["scale"]
    by_algorithm = population.true_mos(scale)
    mushra = scale == "mushra" and len(population.mu) > 1
    # a slip rates the hidden reference as the best other condition (simulation.ratings.careful_score)
    latent = {s: population.mu[population.mistaken_for() if mushra and s.endswith("/REF") else s.rsplit("/", 1)[1]]
              + e for s, e in sample_effects.items()}
    per_sample = Population(latent, sd_worker=population.sd_worker, sd_item=0.0, sd_noise=population.sd_noise)
    by_sample = per_sample.true_mos(scale)
    if mushra:
        slip = population.ref_slip
        by_sample.update({s: (1 - slip) * 100.0 + slip * m for s, m in by_sample.items() if s.endswith("/REF")})
    return RatingTruth(scale, population, dict(sample_effects), by_algorithm, by_sample, p_careless)


class RatingAnswers:
    """The `simulation.workers.Answers` strategy of rating studies: screens as the page groups them
    (consecutive trials of one ``screen``), scores from the population model."""

    def __init__(self, design: dict, stimuli: dict, population: Population, sample_effects: dict[str, float],
                 p_careless: float = 0.0):
        if not 0 <= p_careless <= 1:
            raise ValueError(f"p_careless ({p_careless!r}) must be a probability in [0, 1]")
        self.scale = design["scale"]
        self.population, self.sample_effects, self.p_careless = population, sample_effects, p_careless
        self.sample_of = {info["media_id"]: sample_id for sample_id, info in stimuli["samples"].items()}
        self.gold_of = {media_id: info["score"] for media_id, info in stimuli.get("gold", {}).items()}
        study = design.get("study") or {}
        self.headphone_check = study.get("headphone_check") is True and stimuli.get("media_kind") == "audio"
        self.truth = rating_truth(design, population, sample_effects, p_careless)

    @classmethod
    def draw(cls, exp_dir: Path, *, rng=None, mu: dict[str, float] | None = None,
             p_careless: float = 0.0) -> "RatingAnswers":
        """A population for the built study in ``exp_dir``: latent means ``mu`` (default drawn, see
        `DRAWN_MU`), the scale's `SPREADS`, and one effect per sample.

        Raises
        ------
        ValueError
            If ``mu`` names an algorithm the study does not have, or leaves one out.
        """
        rng = np.random.default_rng(rng)
        design = json.loads((Path(exp_dir) / "design.json").read_text())
        stimuli = json.loads((Path(exp_dir) / "stimuli.json").read_text())
        samples = sorted(stimuli["samples"])
        algorithms = sorted({s.rsplit("/", 1)[1] for s in samples})
        family = "mushra" if design["scale"] == "mushra" else "five_point"
        low, high, ref = DRAWN_MU[family]
        drawn = {a: ref if a == "REF" else float(rng.uniform(low, high)) for a in algorithms}
        if mu is not None and set(mu) != set(algorithms):
            raise ValueError(f"latent means for {sorted(mu)} must name exactly the study's algorithms {algorithms}")
        sd_worker, sd_item, sd_noise = SPREADS[family]
        population = Population(mu or drawn, sd_worker=sd_worker, sd_item=sd_item, sd_noise=sd_noise)
        effects = dict(zip(samples, (float(e) for e in rng.normal(0, sd_item, len(samples)))))
        return cls(design, stimuli, population, effects, p_careless)

    def new_worker(self, rng: np.random.Generator, worker_id: str = "") -> Rater:
        """A rater with a drawn bias, careless with probability ``p_careless``, and the headphone
        screening's outcome they passed with (5 or 6 of 6; only sent when the study runs it)."""
        rater = Rater(float(rng.normal(0, self.population.sd_worker)), bool(rng.random() < self.p_careless),
                      f"{int(rng.integers(5, 7))}/6" if self.headphone_check else "6/6")
        if rater.careless and worker_id:
            self.truth.careless_workers.add(worker_id)
        return rater

    def screens(self, trials: list[dict]) -> list[range]:
        """Runs of consecutive trials with the same ``screen`` (the page's ``groupScreens``)."""
        out: list[range] = []
        for i, trial in enumerate(trials):
            if out and trials[out[-1][0]]["screen"] == trial["screen"]:
                out[-1] = range(out[-1].start, i + 1)
            else:
                out.append(range(i, i + 1))
        return out

    def answer(self, trials: list[dict], options: list[str], worker: Rater, rng: np.random.Generator) -> list[dict]:
        """Scores for one screen and the fields the rating page sends with each (its ``Playback.report``)."""
        hi = scale_bounds(self.scale)[1]
        scores = []
        for trial in trials:
            choices = trial.get("options") or options
            if worker.careless:
                scores.append(int(rng.choice([int(o) for o in choices])))
            elif "attention" in trial:
                scores.append(int(trial["attention"]))
            elif _media_id(trial["media_url"]) in self.gold_of:
                scores.append(careful_score(self.population, self.scale, rng, worker.bias,
                                            known=self.gold_of[_media_id(trial["media_url"])]))
            else:
                sample_id = self.sample_of[_media_id(trial["media_url"])]
                scores.append(careful_score(self.population, self.scale, rng, worker.bias,
                                            algorithm=sample_id.rsplit("/", 1)[1],
                                            item_effect=self.sample_effects[sample_id]))
        if self.scale == "mushra" and hi not in scores:
            scores[int(np.argmax(scores))] = hi
        # As the page: one screen time for every sample of a screen; audio and video say whether they
        # were played to the end, images not; flip-compare images (several on a screen) add view_ms.
        screen_ms = float(rng.uniform(2500, 6000) * len(trials))
        flip = len(trials) > 1 and trials[0]["media_type"] == "image"
        out = []
        for trial, score in zip(trials, scores):
            fields = {"response": str(score), "response_time_ms": screen_ms, "replays": int(rng.random() < 0.1),
                      "playback_completed": None if trial["media_type"] == "image" else True,
                      "hidden_during_video": False, "blurred_during_video": False}
            if flip:
                fields.update(view_ms=round(screen_ms / (len(trials) + 1)), stimulus_visible=True)
            if self.headphone_check:
                fields["headphone_check"] = worker.headphones
            out.append(fields)
        return out
