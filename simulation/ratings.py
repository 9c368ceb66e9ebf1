"""A simulated rating population with known MOS per algorithm (for the analysis' coverage checks).

Worker ``i`` rating sample ``j`` of algorithm ``a`` gives ``clip(round(mu_a + w_i + s_j + u))``
with ``w ~ N(0, sd_worker^2)``, ``s ~ N(0, sd_item^2)``, ``u ~ N(0, sd_noise^2)``: the crowdMOS
model, rounded to the scale's points. The true MOS of an algorithm is the expected rating of a
random worker on a random sample of it, `true_mos`, computed exactly from the normal CDF.
Spammers rate uniformly at random. An honest worker rates a gold trial (``"gold"`` in the
design's trial: its known score k) as ``clip(round(k + w_i + u))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from kernel.scales import options_for, scale_bounds
from stimuli.ratings_build import SCALE_OF, design_links
from stimuli.ratings_design import plan_tasks


@dataclass(frozen=True)
class Population:
    """Latent means per algorithm and the spread of workers, samples and noise (scale units)."""

    mu: dict[str, float]
    sd_worker: float = 0.4
    sd_item: float = 0.3
    sd_noise: float = 0.6
    n_workers: int = 40
    n_spammers: int = 0

    def true_mos(self, scale: str) -> dict[str, float]:
        """Expected rounded, clipped rating per algorithm: ``sum_k k P(round(X) = k)``, X ~ N(mu_a, total var)."""
        lo, hi = scale_bounds(scale)
        sd = np.sqrt(self.sd_worker**2 + self.sd_item**2 + self.sd_noise**2)
        points = np.arange(lo, hi + 1)
        out = {}
        for algorithm, mu in self.mu.items():
            upper = stats.norm.cdf((points + 0.5 - mu) / sd)
            lower = stats.norm.cdf((points - 0.5 - mu) / sd)
            upper[-1], lower[0] = 1.0, 0.0
            out[algorithm] = float(np.sum(points * (upper - lower)))
        return out


def careful_score(population: Population, scale: str, rng: np.random.Generator, bias: float, *,
                  algorithm: str | None = None, item_effect: float = 0.0, known: int | None = None) -> int:
    """One honest rating: ``clip(round(mu_a + w_i + s_j + u))`` on the scale's points, or for a gold
    trial (``known``: its score) ``clip(round(known + w_i + u))``, with ``u ~ N(0, sd_noise^2)``."""
    lo, hi = scale_bounds(scale)
    centre = known if known is not None else population.mu[algorithm] + item_effect
    return int(np.clip(np.round(centre + bias + rng.normal(0, population.sd_noise)), lo, hi))


def synthetic_design(n_sources: int, algorithms: list[str], design: str, samples_per_task: int,
                     ratings_per_sample: int, seed: int = 0, experiment_id: str = "sim") -> dict:
    """A ``design.json`` for ``n_sources`` x ``algorithms`` without media (fake media ids)."""
    samples = [(f"src{i:02d}", a) for i in range(n_sources) for a in algorithms]
    tasks = plan_tasks(samples, design, samples_per_task, ratings_per_sample, seed)
    ids = {s: f"{k:016x}" for k, s in enumerate(samples)}
    refs = {f"src{i:02d}": f"{len(samples) + i:016x}" for i in range(n_sources)}
    scale = SCALE_OF[design]
    return {"version": 1, "kind": "ratings", "experiment_id": experiment_id, "design": design, "scale": scale,
            "options": options_for(scale), "samples_per_task": samples_per_task,
            "ratings_per_sample": ratings_per_sample, "seed": seed, "study": {},
            "links": design_links(tasks, experiment_id, ids, refs if design in ("mushra", "dsis") else {}, design)}


def simulate_ratings(design: dict, population: Population, rng=None) -> pd.DataFrame:
    """One simulated study: every list of every link taken by a different worker of the pool.

    Returns a responses table (the columns `analysis.ratings.analyze_ratings` reads) with an extra
    ``spammer`` column. Raises ValueError when the pool is smaller than the lists of a link.
    """
    rng = np.random.default_rng(rng)
    lo, hi = scale_bounds(design["scale"])
    n_lists = max(len(link["lists"]) for link in design["links"])
    if population.n_workers < n_lists:
        raise ValueError(f"n_workers ({population.n_workers}) must be at least the {n_lists} lists of a link")
    bias = rng.normal(0, population.sd_worker, population.n_workers)
    spammer = np.zeros(population.n_workers, bool)
    spammer[rng.choice(population.n_workers, population.n_spammers, replace=False)] = True
    samples = sorted({t["sample_id"] for link in design["links"] for trials in link["lists"] for t in trials})
    item = dict(zip(samples, rng.normal(0, population.sd_item, len(samples))))
    rows = []
    for link in design["links"]:
        takers = rng.choice(population.n_workers, len(link["lists"]), replace=False)
        for list_index, (worker, trials) in enumerate(zip(takers, link["lists"])):
            for trial, t in enumerate(trials):
                algorithm = t["sample_id"].rsplit("/", 1)[1]
                if spammer[worker]:
                    score = rng.integers(lo, hi + 1)
                elif "gold" in t:  # a gold sample's true score is known: no item effect
                    score = careful_score(population, design["scale"], rng, bias[worker], known=t["gold"])
                else:
                    score = careful_score(population, design["scale"], rng, bias[worker], algorithm=algorithm,
                                          item_effect=item[t["sample_id"]])
                rows.append({"link_id": link["link_id"], "assignment_id": f"{link['link_id']}-a{list_index}",
                             "worker_id": f"W{worker:03d}", "hit_id": link["link_id"], "trial": trial,
                             "sample_id": t["sample_id"], "rating": str(score), "assignment_status": "complete",
                             "response_time_ms": float(rng.uniform(2500, 6000)), "spammer": bool(spammer[worker])})
    return pd.DataFrame(rows)
