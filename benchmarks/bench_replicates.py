"""Replicate-design benchmark (run by hand, not in CI): python benchmarks/bench_replicates.py [N]

1. The SIPAS index by province on a 500-replicate Rao–Wu bootstrap design of N simulated
   respondents (default 1,000,000; ``simulate.simulate_survey``, strata and PSUs as
   simulated). Target (2 cores): <= 30 s.
2. A JK1 design of one province's own survey: 30 units (PSUs), 6,000 respondents, the index
   by unit type and overall. Target: <= 2 s.
3. On the bootstrap design of step 1: every province against the nation
   (``compare_indices(reference="all")``, overall index) and the rank sets of the provinces
   from the replicate covariance (``rank_units(design=...)``). Target: <= 30 s.
4. The proportional-odds driver model of one province's service users (810 respondents in
   91 PSUs of 20 strata, the largest province of a 60,000-respondent simulated sample)
   refitted in each of 500 bootstrap replicates of its PSUs. Target: <= 10 s.
Prints seconds per step and the process's peak resident memory.
"""
from __future__ import annotations

import resource
import sys
import time

import numpy as np

import sipas_analysis as sa


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def main(n: int = 1_000_000) -> None:
    start = time.perf_counter()
    survey, _ = sa.simulate_survey(n=n, seed=0)
    design = sa.SurveyDesign(survey, weights="weight", strata="stratum", psu="psu",
                             lonely_psu="remove")
    print(f"simulate {len(survey):,} respondents and the design: "
          f"{time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    replicate = design.as_replicate("bootstrap", n_reps=500, seed=1)
    made = time.perf_counter() - start
    table = sa.sipas_index(replicate, by=["unit_set", "province_code"])
    total = time.perf_counter() - start
    print(f"bootstrap design ({replicate.n_reps} replicates of {design.n_psu:,} PSUs): "
          f"{made:.1f} s; SIPAS index by province (unit set x province) ({len(table):,} rows): "
          f"{total:.1f} s in all (target <= 30 s); peak memory {peak_gb():.2f} GB")

    start = time.perf_counter()
    sets = replicate.subset((survey["unit_set"] == "34").to_numpy())
    versus = sa.compare_indices(sets, between="province_code", reference="all")
    overall_34 = sa.sipas_index(sets, by="province_code")
    overall_34 = overall_34[overall_34["term"] == "overall"]
    ranks = sa.rank_units(overall_34, unit="province_code", design=sets, seed=1)
    print(f"each of {len(versus)} units against the nation and their rank sets from the "
          f"replicate covariance: {time.perf_counter() - start:.1f} s (target <= 30 s; "
          f"widest rank set {int((ranks['rank_high'] - ranks['rank_low']).max()) + 1})")

    # the driver model of one province's service users (a province-sized sample: the
    # largest province of a 60,000-respondent national sample), refitted in 500 replicates
    national, _ = sa.simulate_survey(n=60_000, seed=7)
    code = national["province_code"].value_counts().index[0]
    users = national[(national["province_code"] == code)
                     & national["used_service"].astype(bool)].reset_index(drop=True)
    province = sa.SurveyDesign(users, weights="weight", strata="stratum", psu="psu",
                               lonely_psu="adjust")
    boot = province.as_replicate("bootstrap", n_reps=500, seed=2)
    formula = sa.report.ReportSettings().driver_formula
    start = time.perf_counter()
    sa.fit_ordinal(formula, boot)
    print(f"ordinal driver model of one province ({len(users):,} service users, "
          f"{province.n_psu} PSUs) refitted in 500 bootstrap replicates: "
          f"{time.perf_counter() - start:.2f} s (target <= 10 s)")

    # a province's own survey: 30 units of 200 respondents, a JK1 design of the units
    rng = np.random.default_rng(2)
    one = survey[survey["province_code"] == survey["province_code"].iloc[0]]
    own = one.sample(n=6000, replace=len(one) < 6000, random_state=3).reset_index(drop=True)
    own["unit_id"] = np.repeat(np.arange(30), 200)
    own["weight"] = rng.uniform(0.5, 2.0, 6000)
    start = time.perf_counter()
    jk1 = sa.SurveyDesign(own, weights="weight", psu="unit_id").as_replicate("JK1")
    overall = sa.sipas_index(jk1)
    by_type = sa.sipas_index(jk1, by="sex")
    seconds = time.perf_counter() - start
    print(f"JK1 design of a province's own survey (30 units, 6,000 respondents), the index "
          f"overall and by sex ({len(overall) + len(by_type)} rows): {seconds:.2f} s "
          f"(target <= 2 s); peak memory {peak_gb():.2f} GB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
