"""Multiple-imputation benchmark (run by hand, not in CI): python benchmarks/bench_imputation.py [M]

The demo year: the synthetic national sample ``sipas demo`` makes (``sa.demo_survey()``),
restricted to 2024 (63 provinces, 31,959 respondents, 17,430 service users; item non-response
1.9-2.1 % of the ratings, 14.9 % of the feedback ratings). Imputes the skipped ratings M times
(default 10; chained equations with predictive mean matching, 5 donors, 5 iterations, strata
and provinces in every model, bootstrap-drawn parameters), then pools the national SIPAS
indices and the indices by province by Rubin's rules. Prints seconds per step and the
process's peak resident memory. Target (2 cores): imputation of the demo year with M = 10
<= 120 s.
"""
from __future__ import annotations

import resource
import sys
import time

import sipas_analysis as sa


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def main(m: int = 10) -> None:
    start = time.perf_counter()
    demo = sa.demo_survey()
    year = demo[demo["year"] == 2024].reset_index(drop=True)
    design = sa.SurveyDesign(year, weights="weight", strata="stratum", psu="psu")
    print(f"demo year 2024: {len(year):,} respondents, {design.n_psu} PSUs, "
          f"{design.n_strata} strata; loaded in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    mi = sa.impute_ratings(design, m=m, seed=1)
    imputed = time.perf_counter() - start
    share = mi.imputed_share()
    factors = share[share["kind"] == "factor"]
    print(f"impute_ratings(m={m}): {imputed:.1f} s ({mi!r})")
    print("share imputed: " + ", ".join(f"{r.term} {100 * r.share_imputed:.1f} %"
                                        for r in factors.itertuples()))

    start = time.perf_counter()
    national = mi.sipas_index()
    pooled = time.perf_counter() - start
    start = time.perf_counter()
    mi.sipas_index(by="province_code")
    by_province = time.perf_counter() - start
    row = national[national["term"] == "overall"].iloc[0]
    print(f"pooled national index: {pooled:.1f} s (overall {row.estimate:.2f}, SE "
          f"{row.std_error:.2f}, df {row.df:.0f}); by province: {by_province:.1f} s")
    print(f"total {imputed + pooled + by_province:.1f} s; peak memory {peak_gb():.2f} GB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
