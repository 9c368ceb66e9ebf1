"""A simulated rating population with known MOS per algorithm (for the analysis' coverage checks).

Worker ``i`` rating sample ``j`` of algorithm ``a`` gives ``clip(round(mu_a + w_i + s_j + u))``
with ``w ~ N(0, sd_worker^2)``, ``s ~ N(0, sd_item^2)``, ``u ~ N(0, sd_noise^2)``: the crowdMOS
model, rounded to the scale's points. The true MOS of an algorithm is the expected rating of a
random worker on a random sample of it, `true_mos`, computed exactly from the normal CDF.
Spammers rate uniformly at random. An honest worker rates a gold trial (``"gold"`` in the
design's trial: its known score k) as ``clip(round(k + w_i + u))``.

The MUSHRA hidden reference (algorithm ``REF`` on the ``mushra`` scale) is not a condition like the
others: it is the open reference itself, and the page says "give it 100". An honest worker gives it
100, except that on a share ``ref_slip`` of items (`Population.ref_slip`, default 0; an assumption,
not a measured rate) they do not find it and rate it as the best other condition of the study (the
algorithm with the highest latent mean, with the sample's effect); on the page, where a screen needs a
100, they then give that condition 100 instead (`simulation.raters`). ``mu["REF"]`` is therefore not
used on the MUSHRA scale. (Before, the hidden reference was drawn like any condition, N(99, 7^2) with
worker spread, so honest workers rated it below 90 on 9.5 % of items and BS.1534's post-screening
excluded 7 of 34 honest simulated workers.)
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
    ref_slip: float = 0.0
    """MUSHRA: probability that an honest worker does not find the hidden reference on an item."""

    def __post_init__(self):
        if not 0 <= self.ref_slip <= 1:
            raise ValueError(f"ref_slip ({self.ref_slip!r}) must be a probability in [0, 1]")

    def mistaken_for(self) -> str:
        """The condition an honest worker takes the MUSHRA hidden reference for on a slip: the
        algorithm other than ``REF`` with the highest latent mean."""
        return max((a for a in self.mu if a != "REF"), key=lambda a: self.mu[a])

    def true_mos(self, scale: str) -> dict[str, float]:
        """Expected rounded, clipped rating per algorithm: ``sum_k k P(round(X) = k)``, X ~ N(mu_a, total var).

        On the MUSHRA scale ``REF`` (the hidden reference) is ``(1 - ref_slip) 100 + ref_slip m``, with
        ``m`` the expected rating of `mistaken_for` (module docstring).
        """
        lo, hi = scale_bounds(scale)
        sd = np.sqrt(self.sd_worker**2 + self.sd_item**2 + self.sd_noise**2)
        points = np.arange(lo, hi + 1)
        out = {}
        for algorithm, mu in self.mu.items():
            upper = stats.norm.cdf((points + 0.5 - mu) / sd)
            lower = stats.norm.cdf((points - 0.5 - mu) / sd)
            upper[-1], lower[0] = 1.0, 0.0
            out[algorithm] = float(np.sum(points * (upper - lower)))
        if scale == "mushra" and "REF" in out and len(out) > 1:
            out["REF"] = (1 - self.ref_slip) * hi + self.ref_slip * out[self.mistaken_for()]
        return out


def careful_score(population: Population, scale: str, rng: np.random.Generator, bias: float, *,
                  algorithm: str | None = None, item_effect: float = 0.0, known: int | None = None) -> int:
    """One honest rating: ``clip(round(mu_a + w_i + s_j + u))`` on the scale's points, or for a gold
    trial (``known``: its score) ``clip(round(known + w_i + u))``, with ``u ~ N(0, sd_noise^2)``.
    The MUSHRA hidden reference gets 100, or on a slip (probability ``ref_slip``) the rating of
    `Population.mistaken_for` (module docstring)."""
    lo, hi = scale_bounds(scale)
    if scale == "mushra" and algorithm == "REF" and known is None:
        # no draw without slips, so that seeded simulations without them are unchanged
        if not (population.ref_slip and rng.random() < population.ref_slip):
            return hi
        algorithm = population.mistaken_for()
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
