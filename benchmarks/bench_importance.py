"""Relative-importance benchmark (run by hand, not in CI): python benchmarks/bench_importance.py [N]

N respondents (default 40,000) in a stratified cluster sample (200 strata of 2-8 PSUs), a
linear model with 8 correlated predictors, exact LMG with 200 Rao–Wu rescaled bootstrap
replicates. Prints seconds and the process's peak resident memory. Target (2 cores):
<= 20 s. Also times the logit version (McFadden pseudo-R², every subset refitted) without
bootstrap, for information (no target).
"""
from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pandas as pd

from sipas_analysis.design import SurveyDesign
from sipas_analysis.models.importance import relative_importance


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def synthetic_sample(n: int, n_predictors: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_strata = 200
    psu_per_stratum = rng.integers(2, 9, n_strata)
    psu_stratum = np.repeat(np.arange(n_strata), psu_per_stratum)
    psu_of_row = rng.integers(0, psu_stratum.size, n)
    cluster_effect = rng.normal(size=psu_stratum.size)[psu_of_row]
    common = rng.normal(size=n)
    x = rng.normal(size=(n, n_predictors)) + 0.5 * common[:, None] + 0.4 * cluster_effect[:, None]
    y = x @ np.linspace(1.0, 0.1, n_predictors) + cluster_effect + rng.normal(size=n) * 2
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(n_predictors)])
    frame["y"] = y
    frame["satisfied"] = (y > np.median(y)).astype(float)
    frame["stratum"] = psu_stratum[psu_of_row]
    frame["psu"] = psu_of_row
    frame["weight"] = rng.uniform(50, 400, n)
    return frame


def main(n: int = 40_000) -> None:
    frame = synthetic_sample(n)
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    predictors = " + ".join(f"x{i}" for i in range(8))

    start = time.perf_counter()
    result = relative_importance(f"y ~ {predictors}", design, n_reps=200, seed=1)
    linear = time.perf_counter() - start
    print(f"respondents: {n:,}; strata: {design.n_strata}; PSUs: {design.n_psu}; "
          f"R² {result.r_squared:.3f}")
    print(f"{'linear LMG, 8 predictors, 200 Rao–Wu replicates':<52} {linear:7.2f} s   "
          "(target <= 20 s)")

    start = time.perf_counter()
    relative_importance(f"satisfied ~ {predictors}", design, family="logit")
    print(f"{'logit LMG (McFadden, 256 refits), no bootstrap':<52} "
          f"{time.perf_counter() - start:7.2f} s")
    print(f"{'peak memory':<52} {peak_gb():7.2f} GB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40_000)
