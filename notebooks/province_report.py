# %% [markdown]
# <!-- Provincial SIPAS report. Parameters are in the cell tagged `parameters`; every number and sentence below comes from `sipas_analysis` (the notebook only orders the steps). Run for one unit with: `papermill notebooks/province_report.ipynb out.ipynb -f params/units/63/79.yaml -p year 2024 -r lang en`, or for all units with `sipas reports --year 2024`. -->

# %%
from IPython.display import Markdown, display

import sipas_analysis as sa

_before_parameters = set(globals())

# %% tags=["parameters"]
province_code = "01"
year = 2024
unit_set = None
data = "demo"
lang = "vi"
tables_path = ""

# %%
params = sa.report.ReportParams.from_namespace(globals(), before=_before_parameters)
shared = sa.report.shared_results(params)

# %%
sa.report.show("headline", shared, params)

# %%
sa.report.show("ranking", shared, params)

# %%
sa.report.show("factors", shared, params)

# %%
sa.report.show("factors.figure", shared, params)

# %%
sa.report.show("criteria", shared, params)

# %%
sa.report.show("former", shared, params)

# %%
sa.report.show("breakdowns", shared, params)

# %%
sa.report.show("drivers", shared, params)

# %%
sa.report.show("importance", shared, params)

# %%
sa.report.show("local", shared, params)

# %%
sa.report.show("local.regression", shared, params)

# %%
sa.report.show("experience", shared, params)

# %%
sa.report.show("context", shared, params)

# %%
sa.report.show("published", shared, params)

# %%
sa.report.show("actions", shared, params)

# %%
sa.report.show("caveats", shared, params)

# %%
sa.report.show("provenance", shared, params)

# %%
sa.report.write_workbook(shared, params)
