"""Foundation benchmark (run by hand, not in CI): python benchmarks/bench_foundation.py [N]

Simulates N respondents (default 1,000,000), validates them against the data contract, and
computes the province-level SIPAS indices with linearised standard errors. Prints seconds per
step and the process's peak resident memory. Target (2 cores): whole run <= 20 s,
peak memory <= 3 GB.
"""
from __future__ import annotations

import resource
import sys
import time

import sipas_analysis as sa


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def main(n: int = 1_000_000) -> None:
    steps = {}
    start = time.perf_counter()

    t = time.perf_counter()
    survey, _truth = sa.simulate_survey(n=n, seed=0)
    steps["simulate"] = time.perf_counter() - t

    t = time.perf_counter()
    survey = sa.validate_survey(survey)
    steps["validate"] = time.perf_counter() - t

    t = time.perf_counter()
    design = sa.SurveyDesign(survey, weights="weight", strata="stratum", psu="psu")
    table = sa.sipas_index(design, by=["year", "unit_set", "province_code"])
    steps["indices by province-year"] = time.perf_counter() - t

    total = time.perf_counter() - start
    print(f"respondents: {len(survey):,}; unit-years: "
          f"{survey.groupby(['year', 'unit_set', 'province_code'], observed=True).ngroups}; "
          f"PSUs: {design.n_psu:,}; estimates: {len(table):,}")
    for step, seconds in steps.items():
        print(f"{step:<26} {seconds:7.2f} s")
    print(f"{'total':<26} {total:7.2f} s   (target <= 20 s)")
    print(f"{'peak memory':<26} {peak_gb():7.2f} GB  (target <= 3 GB)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
