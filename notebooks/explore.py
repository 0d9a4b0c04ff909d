# %% [markdown]
# # Getting started with the SIPAS workbench
#
# A guided start for researchers: load data, check it against the data contract, estimate the index the way a survey statistician would, ask what drives satisfaction, and plot. Every step is one call into `sipas_analysis`; read the docstrings (`sa.sipas_index?`) for the settings.
#
# By default the notebook runs on the **synthetic demo sample** (no SIPAS microdata are public): a SIPAS-shaped survey drawn from a declared true model, so that you can check what the methods recover. Point `data` at your own survey file (CSV, Parquet, Excel or SPSS `.sav`) to run the same steps on it.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import sipas_analysis as sa

pd.set_option("display.precision", 3)
_before_parameters = set(globals())

# %% tags=["parameters"]
data = "demo"
year = 2024

# %%
sa.report.check_parameters(globals(), before=_before_parameters, types={"data": str, "year": int})

# %% [markdown]
# ## 1. Load and validate
#
# `sa.load_survey(path)` reads a file and validates it: one error lists every offending column and row. The demo sample is already valid; it carries `synthetic = True` on every row.

# %%
survey = sa.demo_survey() if data == "demo" else sa.load_survey(data)
survey = sa.validate_survey(survey)
print(f"{len(survey):,} respondents, years {sorted(survey['year'].unique())}, synthetic: {bool(survey['synthetic'].any()) if 'synthetic' in survey else False}")

# %% [markdown]
# Missing answers are allowed and counted, never dropped. Residents who used no service (2022 on) skip the service questions *by design*:

# %%
sa.missing_summary(survey).head(8)

# %% [markdown]
# ## 2. The survey design
#
# Strata are districts (urban/rural parts of a unit from 2025), PSUs are communes or villages, and the weights are unequal. `SurveyDesign` computes standard errors by Taylor linearisation, as R's `survey` package does.

# %%
one_year = survey[survey["year"] == year].reset_index(drop=True)
design = sa.SurveyDesign(one_year, weights="weight", strata="stratum", psu="psu", lonely_psu="adjust")
design

# %%
design.mean(["on_time", "applied_online"], na_rm=True)

# %% [markdown]
# ## 3. The SIPAS index
#
# Percent satisfied (answers 4–5) per criterion, factor and overall, with design-based intervals, effective sample sizes and design effects. The aggregation rule is a setting (`satisfied=`, `rule=`).

# %%
national = sa.sipas_index(design)
national[national["kind"] != "criterion"]

# %%
by_province = sa.sipas_index(design, by="province_code")
overall = by_province[by_province["kind"] == "overall"]
ranks = sa.rank_units(overall, unit="province_code", seed=0)
ranks.sort_values("rank").head(10)

# %% [markdown]
# Rank confidence sets (Mogstad, Romano, Shaikh & Wilhelm 2024) show how little a single rank says when provinces are close. Differences between years, or between a province and the nation (which contains it), are tested with their covariance:

# %%
two_years = survey[survey["year"].isin([year - 1, year])].reset_index(drop=True)
both = sa.SurveyDesign(two_years, weights="weight", strata="stratum", psu="psu", lonely_psu="adjust")
sa.compare_indices(both, between="year", values=(year - 1, year), term=["overall", "staff"])

# %% [markdown]
# ## 4. What drives satisfaction
#
# Survey-weighted proportional-odds regression of overall satisfaction (1–5) on the five factor scores and the experience facts, with design-based standard errors (as R's `svyolr`). Odds ratios and average marginal effects are how findings are told to officials.

# %%
users = one_year[one_year["used_service"].astype(bool)].reset_index(drop=True)
user_design = sa.SurveyDesign(users, weights="weight", strata="stratum", psu="psu", lonely_psu="adjust")
formula = "overall_satisfaction ~ access_score + procedure_score + staff_score + result_score + feedback_score + on_time + applied_online + n_visits + asked_extra_payment"
ordinal = sa.fit_ordinal(formula, user_design)
sa.tidy(ordinal, exponentiate=True)

# %%
sa.glance(ordinal).T

# %%
sa.parallel_lines_test(ordinal)

# %%
logit = sa.fit_logit(formula.replace("overall_satisfaction ~", "I(overall_satisfaction >= 4) ~"), user_design)
sa.average_marginal_effects(logit)

# %% [markdown]
# Relative importance (LMG, the Shapley decomposition of R²) of the five factors, with Rao–Wu bootstrap intervals, and the importance–performance table:

# %%
importance = sa.relative_importance("overall_satisfaction ~ access_score + procedure_score + staff_score + result_score + feedback_score", user_design, n_reps=100, seed=0)
importance.table

# %%
factors = national[national["kind"] == "factor"][["term", "estimate"]]
sa.ipa_table(importance.table.assign(term=importance.table["term"].str.replace("_score", "")), factors)

# %% [markdown]
# ## 5. Figures
#
# Every figure function takes data and returns Axes; nothing is shown or saved behind your back. `lang="vi"` writes labels and numbers the Vietnamese way.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
_ = sa.plots.plot_coefficients(sa.tidy(ordinal), lang="en", ax=left)
_ = sa.plots.plot_importance(importance.table, lang="vi", ax=right)

# %% [markdown]
# ## 6. Real public data
#
# PAPI (2011–2024) and PCI (2005–2016) province panels, and the published SIPAS figures with their sources. A two-way fixed-effects panel model of PAPI dimension 5 (public administrative procedures) on dimension 8 (e-governance), errors clustered by province:

# %%
papi = sa.load_papi()
panel = papi[papi["year"] >= 2018]
sa.tidy(sa.fit_panel("d5 ~ d8 + d1 + d2 + d3 + d4 + d6 + d7", panel))

# %%
sa.load_published_sipas().query("scope == 'national'")[["year", "sipas_pct", "value_type", "note"]]
