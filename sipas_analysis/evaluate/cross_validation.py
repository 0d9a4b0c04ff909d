"""Predictive checks: cluster-aware cross-validation of model specifications on one sample.

Folds are whole provinces or whole PSUs, never split between training and test, so that the
held-out loss is that of predicting respondents of unseen clusters, as the survey's clustering
requires.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import patsy
from scipy import special

from sipas_analysis.models.regression import _irls_logit
from sipas_analysis.rng import as_generator  # the models' Newton-Raphson logit
from sipas_analysis.schema import require_columns

CV_COLUMNS = ["spec", "model", "metric", "estimate", "std_error", "n_folds", "n", "difference",
              "difference_se"]


def cv_folds(data: pd.DataFrame, *, scheme: str = "province", k: int = 5, cluster="psu",
             group: str = "province_code", seed=0) -> np.ndarray:
    """Fold number (0 ..) of every row.

    ``scheme="province"``: leave one ``group`` out (one fold per province). ``"kfold"``: whole
    clusters (``cluster``: a column or a list of columns identifying a PSU, e.g.
    ``["stratum", "psu"]`` when PSU ids repeat across strata) are assigned at random to ``k``
    folds of nearly equal numbers of clusters, so no PSU is split between training and test.
    """
    if scheme == "province":
        require_columns(data, [group], "cv_folds", roles={group: "group"})
        return pd.factorize(data[group], sort=True)[0].astype(np.int64)
    if scheme != "kfold":
        raise ValueError(f"scheme must be 'province' or 'kfold', got {scheme!r}")
    columns = [cluster] if isinstance(cluster, str) else list(cluster)
    require_columns(data, columns, "cv_folds", roles={c: "cluster" for c in columns})
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be a whole number of at least 2, got {k!r}")
    codes = pd.MultiIndex.from_frame(data[columns].astype(str)).factorize()[0] \
        if len(columns) > 1 else pd.factorize(data[columns[0]])[0]
    n_clusters = int(codes.max()) + 1
    if n_clusters < k:
        raise ValueError(f"{n_clusters} clusters cannot fill {k} folds")
    rng = as_generator(seed)   # None is refused: the same call must give the same draws
    fold_of_cluster = rng.permutation(np.arange(n_clusters) % k)
    return fold_of_cluster[codes].astype(np.int64)


def _spec_table(specs) -> list[tuple[str, str, str]]:
    out, problems = [], []
    items = specs.items() if isinstance(specs, dict) else [(s.get("name"), s) for s in specs]
    for name, spec in items:
        if isinstance(spec, (tuple, list)) and len(spec) == 2:
            model, formula = spec
        elif isinstance(spec, dict):
            model, formula = spec.get("model"), spec.get("formula")
        else:
            problems.append(f"spec {name!r} must be (model, formula) or a mapping")
            continue
        if model not in ("linear", "logit"):
            problems.append(f"spec {name!r}: model must be 'linear' or 'logit', got {model!r}")
            continue
        if not isinstance(formula, str) or "~" not in formula:
            problems.append(f"spec {name!r}: formula must look like 'y ~ x', got {formula!r}")
            continue
        out.append((str(name), model, formula))
    if problems or not out:
        raise ValueError("cross-validation specs: " + ("; ".join(problems) or "none given"))
    return out


def _patsy_env():
    return patsy.EvalEnvironment([{"np": np}])


def cross_validate(data: pd.DataFrame, specs, *, scheme: str = "province", k: int = 5,
                   cluster="psu", group: str = "province_code", weights: str | None = "weight",
                   seed=0) -> pd.DataFrame:
    """Out-of-sample comparison of model specifications.

    ``specs``: mapping name -> (model, formula) or {"model":, "formula":}, model "logit" (the
    outcome 0/1, e.g. ``I(overall_satisfaction >= 4)``: log loss and Brier score) or "linear"
    (RMSE, e.g. of ``overall_satisfaction`` or a factor score). Each fold's model is fitted on
    the other folds (weighted by ``weights`` when given: the population's predictive loss) and
    scored on the fold's rows (weighted the same way). Folds: :func:`cv_folds` (leave one
    province out, or k folds of whole PSUs). A province-level predictor (e.g.
    ``C(province_code)``) cannot predict a left-out province: such a spec is refused.

    Returns columns: spec, model, metric ("log_loss" | "brier" | "rmse"), estimate (over all
    held-out rows; for RMSE the root of the pooled mean squared error), std_error (SD of the
    fold values / sqrt(folds)), n_folds, n (held-out rows scored), difference (estimate minus
    the best spec's with the same metric and outcome; 0 for the best) and difference_se (its
    SE from the paired fold differences).
    """
    table = _spec_table(specs)
    folds = cv_folds(data, scheme=scheme, k=k, cluster=cluster, group=group, seed=seed)
    if weights is not None:
        require_columns(data, [weights], "cross_validate", roles={weights: "weights"})
    w_all = (data[weights].to_numpy(float) if weights is not None else np.ones(len(data)))
    fold_ids = np.unique(folds)
    rows, fold_values = [], {}
    for name, model, formula in table:
        # rows missing a formula variable are left out first: patsy would turn NaN >= 4
        # into False inside I(...)
        tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula))
        mentioned = [c for c in data.columns if c in tokens]
        complete = data[mentioned].notna().all(axis=1) if mentioned else \
            pd.Series(True, index=data.index)
        try:
            y_all, X_all = patsy.dmatrices(formula, data[complete], return_type="dataframe",
                                           eval_env=_patsy_env(), NA_action="drop")
        except patsy.PatsyError as error:
            raise ValueError(f"spec {name!r}: cannot build {formula!r}: {error}") from None
        keep = data.index.get_indexer(y_all.index)
        y_all_v = y_all.iloc[:, -1].to_numpy(float)
        X_all_v = X_all.to_numpy(float)
        f_all, w_rows = folds[keep], w_all[keep]
        per_fold = {m: [] for m in (("log_loss", "brier") if model == "logit" else ("mse",))}
        weight_per_fold = []
        for f in fold_ids:
            train, test = f_all != f, f_all == f
            if not test.any():
                continue
            Xtr, ytr, wtr = X_all_v[train], y_all_v[train], w_rows[train]
            constant = np.flatnonzero(np.ptp(Xtr, axis=0) == 0)
            dropped = [c for c in constant if X_all.columns[c] != "Intercept"]
            if dropped:
                raise ValueError(
                    f"spec {name!r}: column(s) {[X_all.columns[c] for c in dropped]} are "
                    f"constant without fold {f} (a province-level predictor cannot predict a "
                    f"left-out province)")
            if model == "linear":
                beta = np.linalg.lstsq(Xtr * np.sqrt(wtr)[:, None], ytr * np.sqrt(wtr),
                                       rcond=None)[0]
            else:
                beta = _irls_logit(Xtr, ytr, wtr, names=list(X_all.columns))[0]
            pred = X_all_v[test] @ beta
            wt, yt = w_rows[test], y_all_v[test]
            if model == "linear":
                per_fold["mse"].append(np.average((yt - pred) ** 2, weights=wt))
            else:
                prob = special.expit(pred)
                prob_c = np.clip(prob, 1e-15, 1 - 1e-15)
                per_fold["log_loss"].append(np.average(
                    -(yt * np.log(prob_c) + (1 - yt) * np.log1p(-prob_c)), weights=wt))
                per_fold["brier"].append(np.average((yt - prob) ** 2, weights=wt))
            weight_per_fold.append(wt.sum())
        share = np.asarray(weight_per_fold) / np.sum(weight_per_fold)
        outcome = formula.split("~", 1)[0].strip()
        for metric, values in per_fold.items():
            values = np.asarray(values)
            if metric == "mse":
                metric, pooled, values = "rmse", np.sqrt(share @ values), np.sqrt(values)
            else:
                pooled = share @ values
            fold_values[(name, metric)] = values
            rows.append({"spec": name, "model": model, "metric": metric,
                         "estimate": float(pooled),
                         "std_error": float(values.std(ddof=1) / np.sqrt(len(values)))
                         if len(values) > 1 else np.nan,
                         "n_folds": len(values), "n": int(len(y_all_v)), "outcome": outcome})
    out = pd.DataFrame(rows)
    out["difference"] = np.nan
    out["difference_se"] = np.nan
    for (metric, outcome), part in out.groupby(["metric", "outcome"], sort=False):
        best = part.loc[part["estimate"].idxmin(), "spec"]
        for i in part.index:
            diff = fold_values[(out.at[i, "spec"], metric)] - fold_values[(best, metric)]
            out.at[i, "difference"] = out.at[i, "estimate"] - part.loc[
                part["spec"] == best, "estimate"].iloc[0]
            out.at[i, "difference_se"] = (diff.std(ddof=1) / np.sqrt(len(diff))
                                          if len(diff) > 1 else np.nan)
    return out[CV_COLUMNS]
