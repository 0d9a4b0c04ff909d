"""Coverage of proportion intervals in small clustered samples (run by hand, not in CI):

    python benchmarks/bench_intervals.py [REPLICATIONS]

The setting of a SIPAS unit's criterion: 15 PSUs (villages) of 10 respondents, equal weights,
satisfaction clustered within PSU (beta-binomial, intra-cluster correlation 1/9, so the design
effect of the mean is 1 + 9/9 = 2), 14 design degrees of freedom. For every true proportion
and method it prints the share of 95 % intervals that cover the truth, the share that reach
above 100 % (below 0 % never happens at these values), and the mean width. Each sample is
estimated with ``SurveyDesign(psu=...).mean`` (linearised SE, df = 14), then
``intervals.proportion_interval``. "wald_z" is estimate ± 1.96 SE: the normal interval
``sipas_index`` and ``SurveyDesign.mean`` give by default. Default 20,000 replications per true
value (Monte Carlo SE of a coverage near 0.95: 0.0015); about a minute on one core.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from sipas_analysis.design import SurveyDesign
from sipas_analysis.intervals import METHODS, proportion_interval

N_PSU, PSU_SIZE, ICC = 15, 10, 1 / 9
TRUE_VALUES = (0.85, 0.90, 0.95, 0.98)
BATCH = 1_000          # replications estimated together, as columns of one design


def clustered_samples(p: float, n_reps: int, rng: np.random.Generator) -> np.ndarray:
    """(N_PSU * PSU_SIZE, n_reps) 0/1 answers: PSU rates ~ Beta with mean p and ICC."""
    concentration = 1 / ICC - 1
    rates = rng.beta(p * concentration, (1 - p) * concentration, size=(N_PSU, n_reps))
    return (rng.random((N_PSU, PSU_SIZE, n_reps)) < rates[:, None, :]).reshape(-1, n_reps)


def estimate(answers: np.ndarray) -> pd.DataFrame:
    """Design-based mean, SE, df and deff of every column (one replication each)."""
    columns = [f"y{j}" for j in range(answers.shape[1])]
    data = pd.DataFrame(answers.astype(float), columns=columns)
    data["psu"] = np.repeat(np.arange(N_PSU), PSU_SIZE)
    return SurveyDesign(data, psu="psu").mean(columns, df=True, deff=True)


def simulate(n_reps: int, seed: int = 20241) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in TRUE_VALUES:
        tables = [estimate(clustered_samples(p, min(BATCH, n_reps - done), rng))
                  for done in range(0, n_reps, BATCH)]
        table = pd.concat(tables, ignore_index=True)
        est, se = table["estimate"].to_numpy(), table["std_error"].to_numpy()
        n, df = table["n"].to_numpy(float), table["df"].to_numpy(float)
        intervals = {"wald_z": (est - 1.959964 * se, est + 1.959964 * se)}
        for method in METHODS:
            intervals[method] = proportion_interval(est, se, n=n, df=df, method=method)
        for method, (low, high) in intervals.items():
            covered = (low <= p) & (p <= high)       # NaN bounds count as not covering
            rows.append({"method": method, "p": p, "coverage": covered.mean(),
                         "above_100": (high > 1).mean(), "below_0": (low < 0).mean(),
                         "undefined": np.isnan(low).mean(), "width": np.nanmean(high - low),
                         # the design effect the samples really have: Monte Carlo variance of
                         # the estimate over the binomial variance of as many respondents
                         "deff": est.var() / (p * (1 - p) / (N_PSU * PSU_SIZE)),
                         "deff_estimated": np.nanmean(table["deff"]),
                         "all_satisfied": (est == 1).mean()})
    return pd.DataFrame(rows)


def main(n_reps: int = 20_000) -> None:
    start = time.perf_counter()
    result = simulate(n_reps)
    order = ["wald_z"] + list(METHODS)
    mc_se = np.sqrt(0.95 * 0.05 / n_reps)

    def table(value, digits):
        wide = result.pivot(index="method", columns="p", values=value).loc[order]
        wide.columns = [f"p={p:.2f}" for p in wide.columns]
        return wide.round(digits).to_string()

    print(f"{N_PSU} PSUs x {PSU_SIZE} respondents, ICC {ICC:.3f}, df = {N_PSU - 1}, "
          f"{n_reps:,} replications per true value (Monte Carlo SE of a coverage of 0.95: "
          f"{mc_se:.4f})")
    first = result.groupby("p").first()
    share_one = first["all_satisfied"]
    print("design effect (Monte Carlo variance / binomial variance): "
          + ", ".join(f"p={p:.2f}: {d:.2f}" for p, d in first["deff"].items()))
    print("mean estimated design effect (SurveyDesign.mean deff): "
          + ", ".join(f"p={p:.2f}: {d:.2f}" for p, d in first["deff_estimated"].items()))
    print("samples with every respondent satisfied: "
          + ", ".join(f"p={p:.2f}: {s:.3f}" for p, s in share_one.items()))
    print("\ncoverage of the 95 % interval")
    print(table("coverage", 3))
    print("\nshare of intervals reaching above 100 %")
    print(table("above_100", 3))
    print("\nshare of undefined (NaN) intervals (estimate exactly 100 %)")
    print(table("undefined", 3))
    print("\nmean width (percentage points)")
    print((result.pivot(index="method", columns="p", values="width").loc[order] * 100)
          .rename(columns=lambda p: f"p={p:.2f}").round(1).to_string())
    print(f"\n{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
