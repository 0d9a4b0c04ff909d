# %% [markdown]
# <!-- National SIPAS overview: all units ranked with intervals, regions, the national driver model, province heterogeneity and the 34-unit view. Parameters in the cell tagged `parameters`. -->

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

import sipas_analysis as sa

_before_parameters = set(globals())

# %% tags=["parameters"]
year = 2024
year_34 = 2025
data = "demo"
lang = "vi"

# %%
sa.report.check_parameters(globals(), before=_before_parameters, types={"year": int, "year_34": int, "data": str, "lang": str})
params = sa.report.national_params(year=year, data=data, lang=lang)
shared = sa.report.shared_results(params)

# %%
display(Markdown(f"# {sa.report.text('overview_title', lang, year=year)}"))
if shared.synthetic:
    display(Markdown(f"> **{sa.report.text('synthetic_banner', lang)}**"))
display(Markdown(sa.report.national_headline(shared, lang)))

# %%
display(Markdown(sa.report.heading("section_ranking", params)))
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.21 * len(shared.ranks) + 1.5))
_ = sa.plots.plot_unit_ranking(shared.units, lang=lang, ax=left)
_ = sa.plots.plot_rank_sets(shared.ranks, lang=lang, ax=right)

# %%
display(sa.report.HtmlTable(sa.report.index_page_table(shared, lang)))

# %%
display(Markdown(sa.report.heading("section_regions", params)))
display(sa.report.HtmlTable(sa.report.region_table(shared, lang)))

# %%
display(Markdown(sa.report.heading("section_drivers", params)))
display(Markdown(shared.settings.describe(lang)["drivers_intro"]))
fig, ax = plt.subplots(figsize=(7.5, 4.5))
_ = sa.plots.plot_coefficients(shared.ame, lang=lang, ax=ax)

# %%
display(sa.report.HtmlTable(shared.drivers.round(3)))

# %%
display(Markdown(sa.report.heading("section_importance", params)))
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
_ = sa.plots.plot_importance(shared.importance, lang=lang, ax=left)
_ = sa.plots.plot_ipa(shared.ipa, lang=lang, ax=right)

# %%
display(Markdown(sa.report.heading("section_heterogeneity", params)))
fig, ax = plt.subplots(figsize=(7.5, 0.21 * len(shared.ranks) + 1.5))
_ = sa.plots.plot_group_effects(shared.multilevel_effects, term="staff_score", national=sa.report.national_effect(shared), lang=lang, ax=ax)
display(Markdown(sa.report.markdown_list(shared.multilevel_notes)))

# %%
display(Markdown(sa.report.heading("section_34", params)))
survey = sa.report.load_report_data(params)
has_34 = bool(((survey["year"] == year_34) & (survey["unit_set"] == "34")).any())
shared_34 = sa.report.shared_results(sa.report.national_params(year=year_34, data=data, lang=lang)) if has_34 else None
display(Markdown(sa.report.national_headline(shared_34, lang) if has_34 else sa.report.text("no_34", lang, year=year_34)))

# %%
if has_34:
    fig, ax = plt.subplots(figsize=(7.5, 0.21 * len(shared_34.ranks) + 1.5))
    _ = sa.plots.plot_unit_ranking(shared_34.units, ranks=shared_34.ranks, lang=lang, ax=ax)

# %%
display(Markdown(sa.report.heading("section_caveats", params)))
display(Markdown(sa.report.markdown_list(sa.report.caveats(shared, params, unit=False))))
display(Markdown(sa.report.heading("section_provenance", params)))
display(sa.report.HtmlTable(sa.report.provenance(params, shared)))
