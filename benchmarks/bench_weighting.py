"""Weighting benchmark (run by hand, not in CI): python benchmarks/bench_weighting.py [N]

Builds N respondents (default 1,000,000) in the 63 provinces, each with sex, age group (6
groups) and urban/rural, answered with non-response that depends on age and urban area,
and rakes their weights to the census-style margins sex, age group and urban *within each
province* (three joint margins of 126, 378 and 126 cells). Then estimates the national mean of
an item on the raked design (its linearised SE uses the raking residuals). Prints seconds
per step and the process's peak resident memory. Target (2 cores): raking <= 5 s.
"""
from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pandas as pd

import sipas_analysis as sa

N_PROVINCES = 63
AGE_GROUPS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def respondents(n: int, seed: int = 0):
    """A frame of respondents and the population margins of their provinces."""
    rng = np.random.default_rng(seed)
    provinces = np.array([f"{code:02d}" for code in range(1, N_PROVINCES + 1)])
    population = rng.integers(300_000, 8_000_000, N_PROVINCES).astype(float)
    age_share = np.array([0.14, 0.22, 0.21, 0.18, 0.14, 0.11])
    urban_share = rng.uniform(0.2, 0.8, N_PROVINCES)
    # non-response: the young and the urban answer less often
    age_response = np.array([0.35, 0.5, 0.6, 0.7, 0.8, 0.85])
    province = rng.integers(0, N_PROVINCES, n)
    sex = rng.integers(0, 2, n)
    age = rng.choice(6, n, p=age_share * age_response / (age_share * age_response).sum())
    urban = (rng.random(n) < urban_share[province] * 0.7).astype(int)
    frame = pd.DataFrame({
        "province_code": provinces[province],
        "sex": np.where(sex == 1, "female", "male"),
        "age_group": np.array(AGE_GROUPS)[age],
        "urban": np.where(urban == 1, "urban", "rural"),
        "psu": province * 100 + rng.integers(0, 40, n),
        "satisfied": (rng.random(n) < 0.6 + 0.05 * age / 5 - 0.05 * urban).astype(float),
    })
    counts = np.bincount(province, minlength=N_PROVINCES)
    frame["weight"] = (population / np.maximum(counts, 1))[province]
    margins = {
        ("province_code", "sex"): {(p, s): population[i] * share for i, p in enumerate(provinces)
                                   for s, share in (("female", 0.51), ("male", 0.49))},
        ("province_code", "age_group"): {(p, a): population[i] * age_share[j]
                                         for i, p in enumerate(provinces)
                                         for j, a in enumerate(AGE_GROUPS)},
        ("province_code", "urban"): {(p, u): population[i] * share
                                     for i, p in enumerate(provinces)
                                     for u, share in (("urban", urban_share[i]),
                                                      ("rural", 1 - urban_share[i]))},
    }
    return frame, margins


def main(n: int = 1_000_000) -> None:
    steps = {}
    t = time.perf_counter()
    frame, margins = respondents(n)
    steps["build respondents"] = time.perf_counter() - t

    t = time.perf_counter()
    design = sa.SurveyDesign(frame, weights="weight", strata="province_code", psu="psu")
    steps["design"] = time.perf_counter() - t

    t = time.perf_counter()
    raked = design.rake(margins)
    steps["rake (3 margins x 63 provinces)"] = time.perf_counter() - t

    t = time.perf_counter()
    before = design.mean("satisfied")
    after = raked.mean("satisfied")
    steps["mean and SE, raked"] = time.perf_counter() - t

    step = raked.weighting_steps[-1]
    print(f"respondents: {len(frame):,}; provinces: {frame.province_code.nunique()}; "
          f"sweeps: {step.iterations}; g in [{step.g_min:.3f}, {step.g_max:.3f}]; "
          f"weighting deff {design.weighting_deff():.3f} -> {step.weighting_deff:.3f}")
    print(f"satisfied: {before.estimate.iloc[0]:.4f} ({before.std_error.iloc[0]:.4f}) unraked, "
          f"{after.estimate.iloc[0]:.4f} ({after.std_error.iloc[0]:.4f}) raked")
    for name, seconds in steps.items():
        print(f"{name:<34} {seconds:7.2f} s")
    print(f"{'peak memory':<34} {peak_gb():7.2f} GB  (raking target <= 5 s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
