"""Scoring simulated estimates: the diagnosands of every estimator x inquiry, and per-unit recovery.

Everything here reads a table of estimates (ESTIMATE_COLUMNS: the ``estimates`` of a diagnosis,
or a store read back), so that a new diagnosand needs no new simulation.

Diagnosands (:func:`diagnosands`), per estimator x inquiry, over simulations and units
--------------------------------------------------------------------------------------
``bias`` mean(estimate - target); ``rmse``; ``sd_estimate`` the empirical SD over simulations
(pooled over units: sqrt of the mean per-unit variance); ``mean_se``; ``se_calibration`` =
mean reported SE / sd_estimate (1 is right, below 1 over-confident); ``coverage`` share of
intervals containing the target (rank sets for ranks); ``mean_ci_width``; ``power`` share of
p < ``alpha``; ``type_s`` share of significant estimates with the wrong sign and ``type_m`` mean
``|estimate| / |target|`` among significant ones (Gelman & Carlin 2014); for inquiries with several
units ``spearman`` (mean over simulations of the rank correlation of estimates and targets) and
``spread_ratio`` (SD of the estimates across units / SD of the targets: below 1 is shrinkage);
for rank inquiries ``top1_recovered`` (true first ranked first), ``top10_recovered`` (share of
the true top 10 in the estimated top 10; more than 10 units only) and ``order_recovered`` (every
rank right). Each has a ``*_mc_se``: the standard deviation over ``n_reps`` bootstrap resamples
of whole simulations (simulations are independent, so resampling them keeps any dependence
between the units of one simulation); ``bias_mc_se`` also includes the target's own error.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sipas_analysis._deprecation import renamed_keyword
from sipas_analysis.evaluate.simulation import ESTIMATE_COLUMNS
from sipas_analysis.rng import as_generator
from sipas_analysis.schema import MissingColumnError

DIAGNOSANDS = ["bias", "rmse", "sd_estimate", "mean_se", "se_calibration", "coverage",
               "mean_ci_width", "power", "type_s", "type_m", "spearman", "spread_ratio",
               "top1_recovered", "top10_recovered", "order_recovered"]


def _per_sim_statistics(part: pd.DataFrame, alpha: float):
    """Sums per simulation (rows: simulations) and the estimate matrix [sims, units]."""
    sims, sim_code = np.unique(part["sim"].to_numpy(), return_inverse=True)
    units, unit_code = np.unique(part["unit"].astype(str).to_numpy(), return_inverse=True)
    S, U = len(sims), len(units)
    e = part["estimate"].to_numpy(float)
    t = part["target"].to_numpy(float)
    se = part["std_error"].to_numpy(float)
    lo, hi = part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float)
    p = part["p_value"].to_numpy(float)
    is_rank = (part["kind"] == "rank").to_numpy()

    def total(values, mask=None):
        values = np.where(np.isnan(values), 0.0, values) if mask is None else \
            np.where(mask, values, 0.0)
        return np.bincount(sim_code, values, S)

    err = e - t
    has_ci = np.isfinite(lo) & np.isfinite(hi)
    has_se = np.isfinite(se)
    has_p = np.isfinite(p)
    significant = has_p & (p < alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        wrong_sign = significant & (np.sign(e) != np.sign(t)) & (t != 0)
        ratio = np.abs(e) / np.abs(t)
    sums = {
        "n": total(np.ones_like(e)),
        "err": total(err), "err2": total(err ** 2),
        "n_ci": total(has_ci.astype(float)),
        "covered": total(((lo <= t) & (t <= hi)).astype(float), has_ci),
        "width": total(hi - lo, has_ci),
        "n_se": total(has_se.astype(float)), "se": total(se, has_se),
        "n_p": total(has_p.astype(float)), "sig": total(significant.astype(float)),
        "sig_nonzero": total((significant & (t != 0)).astype(float)),
        "wrong_sign": total(wrong_sign.astype(float)),
        "ratio": total(ratio, significant & (t != 0)),
    }
    # correlations across units within a simulation (Spearman: Pearson of within-sim ranks)
    frame = pd.DataFrame({"sim": sim_code, "e": e, "t": t})
    re = frame.groupby("sim")["e"].rank().to_numpy()
    rt = frame.groupby("sim")["t"].rank().to_numpy()
    per_sim = {}

    def correlation(a, b):
        n = sums["n"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ma, mb = np.bincount(sim_code, a, S) / n, np.bincount(sim_code, b, S) / n
            da, db = a - ma[sim_code], b - mb[sim_code]
            saa = np.bincount(sim_code, da * da, S)
            sbb = np.bincount(sim_code, db * db, S)
            sab = np.bincount(sim_code, da * db, S)
            return sab / np.sqrt(saa * sbb), np.sqrt(saa / sbb)

    if U >= 3:
        per_sim["spearman"], _ = correlation(re, rt)
        _, per_sim["spread_ratio"] = correlation(e, t)
    if is_rank.any():
        true_top1 = t == 1
        per_sim["top1_recovered"] = (np.bincount(sim_code, true_top1 & (e == 1), S)
                                     / np.bincount(sim_code, true_top1, S))
        if U > 10:
            true_top10 = t <= 10
            per_sim["top10_recovered"] = (np.bincount(sim_code, true_top10 & (e <= 10), S)
                                          / np.bincount(sim_code, true_top10, S))
        per_sim["order_recovered"] = (np.bincount(sim_code, e != t, S) == 0).astype(float)
    matrix = np.full((S, U), np.nan)
    matrix[sim_code, unit_code] = e
    return sums, per_sim, matrix


def _diagnosand_values(weights: np.ndarray, sums, per_sim, matrix):
    """Diagnosands for simulation weights [B, S] (1 for the estimate; bootstrap counts)."""
    def ratio(num, den):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (weights @ sums[num]) / (weights @ sums[den])

    out = {"bias": ratio("err", "n")}
    out["rmse"] = np.sqrt(ratio("err2", "n"))
    present = np.isfinite(matrix)
    values = np.where(present, matrix, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        count = weights @ present
        m1 = weights @ values
        m2 = weights @ values ** 2
        variance = (m2 - m1 ** 2 / count) / (count - 1)
        variance = np.where(count >= 2, np.clip(variance, 0, None), np.nan)
        out["sd_estimate"] = np.sqrt(np.nanmean(variance, axis=1)) \
            if np.isfinite(variance).any() else np.full(len(weights), np.nan)
    out["mean_se"] = ratio("se", "n_se")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["se_calibration"] = out["mean_se"] / out["sd_estimate"]
    out["coverage"] = ratio("covered", "n_ci")
    out["mean_ci_width"] = ratio("width", "n_ci")
    out["power"] = ratio("sig", "n_p")
    out["type_s"] = ratio("wrong_sign", "sig_nonzero")
    out["type_m"] = ratio("ratio", "sig_nonzero")
    for name in ("spearman", "spread_ratio", "top1_recovered", "top10_recovered",
                 "order_recovered"):
        if name in per_sim:
            values = per_sim[name]
            ok = np.isfinite(values)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[name] = (weights @ np.where(ok, values, 0.0)) / (weights @ ok)
        else:
            out[name] = np.full(len(weights), np.nan)
    return out


def diagnosands(estimates: pd.DataFrame, *, n_reps: int = 500, alpha: float = 0.05,
                seed: int = 0, n_boot: int | None = None) -> pd.DataFrame:
    """Diagnosands per estimator x inquiry from a table of simulated estimates (the
    ``estimates`` of a :class:`Diagnosis`, or :func:`read_estimates` of a store), without
    simulating again. Definitions in the module docstring.

    Rows without a finite estimate and target are left out (failed fits: ``n_failed``).
    ``*_mc_se``: standard deviation over ``n_reps`` bootstrap resamples of whole simulations
    (seeded by ``seed``, so the same table gives the same numbers); ``bias_mc_se`` adds the
    target's own error in quadrature.

    Returns columns: estimator, inquiry, kind ("value" | "rank"), n_sims (simulations with an
    estimate), n_failed, n_units, target (mean over units), target_se (a unit's target error:
    root mean square over units), mean_estimate, then each of DIAGNOSANDS followed by its
    ``_mc_se``. ``bias_mc_se`` includes the error of the mean target, target_se / sqrt(units)
    (units' target errors taken as independent).
    """
    n_reps = renamed_keyword(n_reps, n_boot, new="n_reps", old="n_boot", function="diagnosands",
                             default=500)
    missing = sorted(set(ESTIMATE_COLUMNS) - {"seconds", "error"} - set(estimates.columns))
    if missing:
        raise MissingColumnError(f"diagnosands: the estimates lack column(s) {missing}", missing)
    rng = as_generator(seed)   # None is refused: the same call must give the same draws
    rows = []
    keys = estimates[["estimator", "inquiry"]].drop_duplicates()
    for estimator, inquiry in keys.itertuples(index=False):
        part = estimates[(estimates["estimator"] == estimator)
                         & (estimates["inquiry"] == inquiry)]
        failed = part["error"].astype(str).str.len() > 0 if "error" in part else \
            pd.Series(False, index=part.index)
        n_failed = int(part.loc[failed.to_numpy(), "sim"].nunique())
        ok = np.isfinite(part["estimate"].to_numpy(float)) & \
            np.isfinite(part["target"].to_numpy(float))
        part = part[ok]
        row = {"estimator": estimator, "inquiry": inquiry,
               "kind": "rank" if (part["kind"] == "rank").any() else "value",
               "n_sims": int(part["sim"].nunique()), "n_failed": n_failed,
               "n_units": int(part["unit"].nunique())}
        if part.empty:
            rows.append(row)
            continue
        by_unit = part.drop_duplicates("unit")
        target_se = by_unit["target_se"].to_numpy(float)
        known = np.isfinite(target_se).any()
        # a unit's typical target error, and the error of the mean target (for the bias)
        row.update(target=float(by_unit["target"].mean()),
                   target_se=float(np.sqrt(np.nanmean(target_se ** 2))) if known else np.nan,
                   mean_estimate=float(part["estimate"].mean()))
        mean_target_se = (float(np.sqrt(np.nanmean(target_se ** 2) / len(by_unit))) if known
                          else np.nan)
        sums, per_sim, matrix = _per_sim_statistics(part, alpha)
        n_sims = matrix.shape[0]
        point = _diagnosand_values(np.ones((1, n_sims)), sums, per_sim, matrix)
        if n_reps and n_sims > 1:
            counts = rng.multinomial(n_sims, np.full(n_sims, 1 / n_sims), size=n_reps)
            boot = _diagnosand_values(counts.astype(float), sums, per_sim, matrix)
        else:
            boot = None
        for name in DIAGNOSANDS:
            row[name] = float(point[name][0])
            if boot is None:
                row[f"{name}_mc_se"] = np.nan
            else:
                values = boot[name][np.isfinite(boot[name])]
                row[f"{name}_mc_se"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        if np.isfinite(mean_target_se):
            row["bias_mc_se"] = float(np.hypot(row["bias_mc_se"], mean_target_se))
        rows.append(row)
    columns = ["estimator", "inquiry", "kind", "n_sims", "n_failed", "n_units", "target",
               "target_se", "mean_estimate"] + [c for name in DIAGNOSANDS
                                                 for c in (name, f"{name}_mc_se")]
    return pd.DataFrame(rows).reindex(columns=columns)


def diagnosands_long(table: pd.DataFrame) -> pd.DataFrame:
    """The diagnosands table in long form: estimator, inquiry, diagnosand, estimate, mc_se
    (rows with no value left out), for plotting and filtering."""
    parts = []
    for name in DIAGNOSANDS:
        part = table[["estimator", "inquiry", name, f"{name}_mc_se"]].rename(
            columns={name: "estimate", f"{name}_mc_se": "mc_se"})
        parts.append(part.assign(diagnosand=name))
    out = pd.concat(parts, ignore_index=True)
    out = out[np.isfinite(out["estimate"].to_numpy(float))]
    return out[["estimator", "inquiry", "diagnosand", "estimate", "mc_se"]].reset_index(drop=True)


def unit_recovery(estimates: pd.DataFrame, *, estimator: str, inquiry: str) -> pd.DataFrame:
    """Per unit, what the simulations say about one estimator x inquiry: unit, target,
    mean_estimate, sd_estimate, mean_se, coverage (over simulations), n_sims. With a multilevel
    estimator's province effects, ``mean_estimate`` against ``target`` shows the shrinkage."""
    part = estimates[(estimates["estimator"] == estimator) & (estimates["inquiry"] == inquiry)]
    part = part[np.isfinite(part["estimate"].to_numpy(float))]
    if part.empty:
        raise ValueError(f"no estimates of estimator {estimator!r} for inquiry {inquiry!r}")
    covered = (part["ci_low"] <= part["target"]) & (part["target"] <= part["ci_high"])
    part = part.assign(covered=covered.astype(float))
    out = part.groupby("unit", sort=True).agg(
        target=("target", "first"), mean_estimate=("estimate", "mean"),
        sd_estimate=("estimate", "std"), mean_se=("std_error", "mean"),
        coverage=("covered", "mean"), n_sims=("sim", "nunique")).reset_index()
    return out


def shrinkage(recovery: pd.DataFrame) -> float:
    """Slope of the mean estimates on the targets across units (from :func:`unit_recovery`):
    1 = the estimates spread as the truth does, below 1 = pulled toward the centre (a slope of
    0.6 means 40 % shrinkage)."""
    x = recovery["target"].to_numpy(float)
    y = recovery["mean_estimate"].to_numpy(float)
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())
