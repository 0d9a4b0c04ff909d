"""Evaluation benchmark (run by hand): python benchmarks/bench_evaluate.py [SIMS] [SIMS_ONE_JOB]

Diagnoses params/evaluation/benchmark.yaml (63 provinces in 2024, about 500 respondents a
province, ~31,500 rows a simulation) with three estimators: a design-based logit, the same
logit unweighted with iid standard errors, and a design-based linear model of overall
satisfaction on the five factor scores. Prints the cost of one simulated sample alone, seconds
per simulation and in total with 1 job (SIMS_ONE_JOB simulations, default 100) and 2 jobs (SIMS,
default 500), and the speed-up. Then the multilevel estimator's cost per simulation (random
province slopes of staff_score; no target). Target (2 cores): 500 simulations in at
most 5 minutes.
"""
from __future__ import annotations

import os

# One BLAS thread in this process too (diagnose gives its worker processes one each): the
# matrices are small, and a multi-threaded BLAS only adds overhead; without this the 1-job run
# would be slowed by thread contention and the speed-up overstated or understated.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402 (after the thread settings, before numpy loads)
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from sipas_analysis import evaluate as ev  # noqa: E402
from sipas_analysis import simulate  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "params" / "evaluation" / "benchmark.yaml"


def main(n_sims: int = 500, n_sims_one_job: int = 100) -> None:
    declaration = ev.Declaration.from_yaml(CONFIG)
    start = time.perf_counter()
    ev.targets(declaration)        # calibration and the population-averaged targets (cached)
    print(f"setup (calibration, targets; once per diagnosis){time.perf_counter() - start:9.2f} s")

    truth = declaration.truth_object().calibrated(declaration.years)
    plan = declaration.sampling_plan()
    start = time.perf_counter()
    for seed in range(20):
        sample, _ = simulate.simulate_survey(truth=truth, sampling=plan, seed=seed,
                                             years=declaration.years)
    print(f"simulate_survey alone ({len(sample):,} rows)              "
          f"{(time.perf_counter() - start) / 20:9.3f} s per sample")

    runs = {}
    for jobs, sims in ((1, n_sims_one_job), (2, n_sims)):
        start = time.perf_counter()
        result = ev.diagnose(declaration, n_sims=sims, seed=2025, jobs=jobs)
        seconds = time.perf_counter() - start
        runs[jobs] = seconds / sims
        print(f"{sims:4d} simulations, {jobs} job(s): {seconds:8.1f} s total, "
              f"{seconds / sims:6.3f} s per simulation")
    print(f"speed-up from 1 to 2 jobs: {runs[1] / runs[2]:.2f}x; 500 simulations on 2 jobs: "
          f"{runs[2] * 500 / 60:.1f} min (target <= 5)")
    print("fitting cost per simulation, by estimator (from the 2-job run):")
    for row in result.costs.itertuples(index=False):
        print(f"  {row.estimator:<16} {row.seconds_per_sim:7.3f} s")
    print(result.diagnosands[["estimator", "inquiry", "bias", "rmse", "coverage",
                              "coverage_mc_se", "se_calibration"]].round(3).to_string(index=False))

    multilevel = ev.Declaration(
        name="multilevel cost", years=declaration.years, sampling=declaration.sampling,
        inquiries={"slope": {"target": "superpopulation", "value": 0.0}},
        estimators={"multilevel": {
            "model": "multilevel",
            "formula": "overall_satisfaction ~ staff_score + on_time + asked_extra_payment",
            "groups": "province_code", "re_formula": "~staff_score",
            "inquiries": {"staff_score": "slope"}}})
    start = time.perf_counter()
    result = ev.diagnose(multilevel, n_sims=10, seed=1, jobs=1)
    print(f"multilevel (random province slopes), 10 simulations, 1 job: "
          f"{(time.perf_counter() - start) / 10:.2f} s per simulation, of which fitting "
          f"{result.costs['seconds_per_sim'].iloc[0]:.2f} s (no target)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
