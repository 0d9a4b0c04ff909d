# %% [markdown]
# # Model evaluation: how well do the SIPAS estimators recover a known truth?
#
# A design diagnosis in the sense of DeclareDesign: the data are **synthetic** samples drawn from a
# declared true model (`sipas_analysis.simulate`) with the SIPAS design (63 provinces, districts as
# strata, villages as PSUs drawn with probability proportional to size, non-response weights).
# Every estimator is fitted to every sample and scored against the truth. The defaults run a small
# diagnosis in a few minutes; larger runs go through the command line
# (`sipas evaluate params/evaluation/default.yaml`). Simulation results are written to a temporary
# folder, never committed. Parameters are in the cell tagged `parameters`.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

import sipas_analysis as sa
from sipas_analysis import evaluate as ev

_before_parameters = set(globals())

# %% tags=["parameters"]
n_sims = 40
respondents_per_province = 500
other_sizes = [250, 1000]
seed = 2025
jobs = 2
declaration_name = "default"

# %%
sa.report.check_parameters(globals(), before=_before_parameters, types={
    "n_sims": int, "respondents_per_province": int, "other_sizes": list, "seed": int,
    "jobs": int, "declaration_name": str})
declaration = ev.Declaration.from_yaml(ev.EVALUATION_PARAMS / f"{declaration_name}.yaml").updated(
    sampling={"respondents_per_province": respondents_per_province})
store = Path(tempfile.mkdtemp(prefix="sipas-evaluation-"))
display(Markdown(f"**Declaration** `{declaration.name}`: {declaration.description}  \n"
                 f"{len(declaration.inquiries)} inquiries, {len(declaration.estimators)} "
                 f"estimators, {n_sims} simulations (seed {seed}). **Synthetic data.**"))

# %%
diagnosis = ev.diagnose(declaration, n_sims=n_sims, seed=seed, jobs=jobs, store=store / "main")
table = diagnosis.diagnosands
columns = ["estimator", "inquiry", "n_sims", "target", "bias", "rmse", "sd_estimate", "mean_se",
           "se_calibration", "coverage", "coverage_mc_se", "power"]
# replace(-0.0, 0.0): a bias of rounding noise (1e-17) prints as 0.000 on every machine
sa.report.HtmlTable(table[columns].round(3).replace(-0.0, 0.0), caption="Diagnosands (MC SE: bootstrap over simulations)")

# %% [markdown]
# ## 1. Do naive standard errors under-cover under the SIPAS cluster design?
#
# Each estimator below is fitted twice: design-based (weights, strata, PSUs; Taylor linearisation)
# and naive (unweighted, independent respondents, model-based standard errors). A correct 95 %
# interval covers the truth in 95 % of samples; the bars are ±1.96 Monte Carlo SE.

# %%
pairs = table[table["estimator"].isin(["logit_design", "logit_naive", "linear_design",
                                       "linear_naive", "index_national_design",
                                       "index_national_naive", "index_design", "index_naive"])
              & (table["inquiry"] != "province_index_frame")]
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
_ = sa.plots.plot_diagnosand(pairs, diagnosand="coverage", ax=left)
_ = sa.plots.plot_diagnosand(pairs, diagnosand="se_calibration", ax=right)
left.set_title("coverage of the 95 % interval")
right.set_title("mean reported SE / empirical SD")
fig.tight_layout()

# %%
compare = pairs.assign(
    fit=np.where(pairs["estimator"].str.endswith("_naive"), "naive", "design"),
    model=pairs["estimator"].str.replace("_design", "").str.replace("_naive", "")).pivot_table(
    index=["model", "inquiry"], columns="fit", values=["coverage", "se_calibration"])
national = compare.loc[("index_national", "national_index")]
province_row = compare.loc[("index", "province_index")]
province_mc_se = table.set_index(["estimator", "inquiry"]).loc[
    ("index_design", "province_index"), "coverage_mc_se"]
coefficients = compare.drop(index=["index_national", "index"], level="model")
logit = compare.loc["logit"]
display(sa.report.HtmlTable(compare.round(2).reset_index(), caption="Design-based vs naive"))


def verdict(coverage: float) -> str:
    """How a 95 % interval's coverage reads, given the Monte Carlo error of 40-odd runs."""
    return ("about right" if coverage >= 0.93 else "somewhat short" if coverage >= 0.85
            else "far short")


naive_national = national[("coverage", "naive")]
display(Markdown(
    f"**Naive intervals of the national index: {verdict(naive_national)}.** They cover it "
    f"{naive_national:.0%} of the time (design-based {national[('coverage', 'design')]:.0%}): "
    f"their SE is {national[('se_calibration', 'naive')]:.2f} times the real sampling SD "
    f"(design-based {national[('se_calibration', 'design')]:.2f}), because ratings are "
    f"correlated within villages and weights are unequal. **Province indices** (the "
    f"Korn-Graubard interval with the province's design df that the reports print): "
    f"design-based coverage {province_row[('coverage', 'design')]:.1%} (MC SE "
    f"{province_mc_se:.3f}; {verdict(province_row[('coverage', 'design')])}) with a linearised "
    f"SE {province_row[('se_calibration', 'design')]:.2f} times the true SD; naive "
    f"{province_row[('coverage', 'naive')]:.0%} (SE ratio "
    f"{province_row[('se_calibration', 'naive')]:.2f}). **Regression coefficients of "
    f"respondent-level facts:** naive coverage {coefficients[('coverage', 'naive')].min():.0%}-"
    f"{coefficients[('coverage', 'naive')].max():.0%}, design-based "
    f"{coefficients[('coverage', 'design')].min():.0%}-"
    f"{coefficients[('coverage', 'design')].max():.0%}; the design-based logit SEs are "
    f"{logit[('se_calibration', 'design')].min():.2f}-"
    f"{logit[('se_calibration', 'design')].max():.2f} times the true SD, so its 95 % "
    f"intervals are {verdict(logit[('coverage', 'design')].min())} at worst. With {n_sims} "
    f"simulations a single coverage has a Monte Carlo SE of about "
    f"{np.sqrt(0.95 * 0.05 / n_sims):.2f}; run more from the command line to narrow it."))

# %% [markdown]
# ## 2. How many respondents per province?
#
# The same declaration, reduced to the province index and its rank
# (`params/evaluation/sample_size.yaml`), is run at other sample sizes, keeping the planned 18
# PSUs (villages) per province so that extra respondents go into the same villages. The empirical
# SD of a province's index then follows Var(n) = a + b/n (a: between-village part, b: between
# respondents); the fitted curve gives the respondents needed (i) to tell apart two provinces whose
# indices differ by 3 points (two-sided 5 % test, 80 % power) and (ii) to rank provinces reliably
# (reliability 0.9: 90 % of the variance of the estimated indices is true difference between
# provinces). "More PSUs" instead adds villages of the size of the smallest run.

# %%
size_declaration = ev.Declaration.from_yaml(ev.EVALUATION_PARAMS / "sample_size.yaml")
size_runs = {respondents_per_province: table}
for size in other_sizes:
    run = ev.diagnose(size_declaration.updated(sampling={"respondents_per_province": size}),
                      n_sims=n_sims, seed=seed, jobs=jobs, store=store / f"size-{size}")
    size_runs[size] = run.diagnosands
by_size = pd.concat([t.assign(respondents=n) for n, t in size_runs.items()], ignore_index=True)
index_rows = by_size[(by_size["estimator"] == "index_design")
                     & (by_size["inquiry"] == "province_index")].sort_values("respondents")
rank_rows = by_size[(by_size["estimator"] == "rank_design")].sort_values("respondents")
true_index = diagnosis.targets[diagnosis.targets["inquiry"] == "province_index"]["target"]
needs = ev.sample_size(index_rows.rename(columns={"sd_estimate": "sd"}),
                       between_sd=float(true_index.std()), difference=3.0, power=0.8,
                       reliability=0.9)
simulated = pd.DataFrame({"respondents": index_rows["respondents"].to_numpy(),
                          "sd_index": index_rows["sd_estimate"].to_numpy(),
                          "mean_se": index_rows["mean_se"].to_numpy(),
                          "coverage": index_rows["coverage"].to_numpy(),
                          "rank_spearman": rank_rows["spearman"].to_numpy(),
                          "rank_set_width": rank_rows["mean_ci_width"].to_numpy(),
                          "top10_recovered": rank_rows["top10_recovered"].to_numpy()})
sa.report.HtmlTable(simulated.round(3), caption="Simulated precision by respondents per province")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
curve = needs.curve
left.plot(curve["respondents"], curve["se_same_psus"], label="same 18 villages")
left.plot(curve["respondents"], curve["se_more_psus"], label="more villages", linestyle="--")
left.scatter(simulated["respondents"], simulated["sd_index"], color="C3", zorder=3,
             label="simulated SD")
left.axhline(3.0 / (1.959964 + 0.841621) / np.sqrt(2), color="0.5", linewidth=1, linestyle=":")
left.set_xlabel("respondents per province")
left.set_ylabel("SE of a province index (points)")
left.legend()
right.plot(curve["respondents"], curve["power_same_psus"], color="C0",
           label="power, 3-point difference: same villages")
right.plot(curve["respondents"], curve["power_more_psus"], color="C0", linestyle="--",
           label="... more villages")
right.plot(curve["respondents"], curve["reliability_same_psus"], color="C1",
           label="reliability of the ranking: same villages")
right.plot(curve["respondents"], curve["reliability_more_psus"], color="C1", linestyle="--",
           label="... more villages")
right.axhline(0.8, color="0.5", linewidth=1, linestyle=":")
right.axhline(0.9, color="0.5", linewidth=1, linestyle=":")
right.set_xlabel("respondents per province")
right.set_ylim(0, 1)
right.legend()
fig.tight_layout()

# %%
same_diff, same_rank = needs.respondents_for_difference, needs.respondents_for_ranking
now = simulated.loc[simulated["respondents"] == respondents_per_province, "sd_index"].iloc[0]
display(Markdown(
    f"With {respondents_per_province} respondents per province (about 55 % of them used a "
    f"service and rate it), a province index has a sampling SD of **{now:.2f} points**. Of its "
    f"variance, a = {needs.psu_variance:.2f} points² comes from the villages and does not fall "
    f"when more people are interviewed in the same villages (the SE cannot go below "
    f"{np.sqrt(needs.psu_variance):.2f} with 18 villages). Telling apart two provinces 3 "
    f"points apart (80 % power) needs an SE of "
    f"{3.0 / (1.959964 + 0.841621) / np.sqrt(2):.2f} points per province: "
    + (f"about **{same_diff:,.0f}** respondents in the same villages, "
       if np.isfinite(same_diff) else "**out of reach with 18 villages** however many are "
       "interviewed; ")
    + f"about **{needs.respondents_for_difference_more_psus:,.0f}** with more villages of "
    f"{simulated['respondents'].min() / 18:.0f} respondents each. A reliable ranking "
    f"(reliability 0.9; the true indices have an SD of {needs.between_sd:.2f} points between "
    f"provinces) needs "
    + (f"about **{same_rank:,.0f}** respondents in the same villages or "
       if np.isfinite(same_rank) else "more than 18 villages: ")
    + f"about **{needs.respondents_for_ranking_more_psus:,.0f}** respondents in more villages. "
    f"In the simulations the rank correlation between estimated and true province ranks was "
    + ", ".join(f"{r:.2f} with {n}" for n, r in zip(simulated["respondents"],
                                                    simulated["rank_spearman"]))
    + " respondents, and the 95 % rank confidence sets spanned about "
    + f"{simulated['rank_set_width'].min():.0f} of 63 places."))

# %% [markdown]
# ## 3. Does the multilevel model recover province-specific staff-attitude effects?
#
# `fit_multilevel` (random province intercepts and staff-score slopes, unweighted) against each
# province's own census slope in the simulated population (a no-pooling weighted regression per
# province on the 600,000-respondent frame). Points below the dashed line at the top and above it
# at the bottom are shrinkage toward the national slope.

# %%
recovery = ev.unit_recovery(diagnosis.estimates, estimator="multilevel",
                            inquiry="staff_slope_province")
fig, ax = plt.subplots(figsize=(6.5, 5))
_ = sa.plots.plot_recovery(recovery, ax=ax)
ax.set_title("province slope of overall satisfaction on staff_score")
slopes = table[table["estimator"] == "multilevel"].set_index("inquiry")
province = slopes.loc["staff_slope_province"]
display(Markdown(
    f"The national (fixed) slope is recovered: bias {slopes.loc['staff_slope_mean', 'bias']:.3f} "
    f"on a target of {slopes.loc['staff_slope_mean', 'target']:.3f}. Province slopes are "
    f"shrunk: regressing the mean estimates on the true slopes gives "
    f"**{ev.shrinkage(recovery):.2f}** (1 = no shrinkage), and the estimates of one sample "
    f"spread {province['spread_ratio']:.2f} times as much as the true slopes. They still order "
    f"provinces with a rank correlation of {province['spearman']:.2f} with the truth; their "
    f"intervals cover the province's slope {province['coverage']:.0%} of the time: Henderson "
    f"prediction intervals treat the variance components as known, and part of the gap is the "
    f"error of the target itself (a province's census slope is estimated on its share of the "
    f"frame, SE {province['target_se']:.3f} against a sampling SD of "
    f"{province['sd_estimate']:.3f})."))

# %% [markdown]
# ## 4. Does relative importance recover the true order of the drivers?
#
# LMG shares of R² for overall satisfaction on the five factor scores, in each sample and in the
# simulated population (the census shares are the truth).

# %%
shares = ev.unit_recovery(diagnosis.estimates, estimator="importance", inquiry="driver_share")
shares = shares.sort_values("target", ascending=False)
fig, ax = plt.subplots(figsize=(7, 3.5))
position = np.arange(len(shares))
ax.bar(position - 0.2, shares["target"], width=0.4, label="true (census)")
ax.bar(position + 0.2, shares["mean_estimate"], width=0.4, yerr=shares["sd_estimate"],
       label="mean estimate (bar: SD)")
ax.set_xticks(position, shares["unit"])
ax.set_ylabel("share of R²")
ax.legend()
order = table[(table["estimator"] == "importance") & (table["inquiry"] == "driver_rank")].iloc[0]
display(Markdown(
    f"The most important driver (true order: {', '.join(shares['unit'])}) is ranked first in "
    f"**{order['top1_recovered']:.0%}** of samples and the full order is right in "
    f"**{order['order_recovered']:.0%}** (rank correlation {order['spearman']:.2f}). Drivers "
    f"whose true shares are close (here {shares['unit'].iloc[1]} "
    f"{shares['target'].iloc[1]:.3f} and {shares['unit'].iloc[2]} "
    f"{shares['target'].iloc[2]:.3f}) swap places from sample to sample: report their order "
    f"with the bootstrap outranking probabilities (`relative_importance(..., n_reps=...)`)."))

# %% [markdown]
# ## 5. Predictive check: which specification predicts satisfaction best?
#
# Leave-one-province-out cross-validation on one simulated sample (weighted log loss and Brier
# score for being satisfied, RMSE for overall satisfaction); `difference` is the gap to the best
# specification of the same metric, with its SE from the paired folds.

# %%
sample, _ = sa.simulate_survey(years=[2024], seed=seed)
users = sample[sample["used_service"].astype(bool)].reset_index(drop=True)
facts = "on_time + applied_online + n_visits + asked_extra_payment"
scores = "access_score + procedure_score + staff_score + result_score + feedback_score"
specs = {"facts": ("logit", f"I(overall_satisfaction >= 4) ~ {facts}"),
         "facts + scores": ("logit", f"I(overall_satisfaction >= 4) ~ {facts} + {scores}"),
         "scores (linear)": ("linear", f"overall_satisfaction ~ {scores}"),
         "scores + facts (linear)": ("linear", f"overall_satisfaction ~ {scores} + {facts}")}
cv = ev.cross_validate(users, specs, scheme="province")
sa.report.HtmlTable(cv.round(4), caption="Leave-one-province-out cross-validation")

# %% [markdown]
# Larger or different studies: edit or copy `params/evaluation/default.yaml` and run
# `sipas evaluate params/evaluation/default.yaml --n-sims 500 --jobs 2`; the run can be
# interrupted and continued, and `evaluate.diagnosands(evaluate.read_estimates(folder))` computes
# new diagnosands from the stored estimates without simulating again.
