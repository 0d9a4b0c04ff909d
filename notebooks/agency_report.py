# %% [markdown]
# <!-- The report of one unit inside a province (a department, a district or commune committee, a one-stop desk) from the province's own survey, read through its codebook. Parameters are in the cell tagged `parameters`; every number and sentence comes from `sipas_analysis`. For every unit at once: `sipas reports --data FILE --codebook C --year Y --units all`. The defaults run on a small synthetic example. -->

# %%
from IPython.display import Markdown, display

import sipas_analysis as sa

_before_parameters = set(globals())

# %% tags=["parameters"]
unit = "Sở Tư pháp"
year = 2024
data = "example"
codebook = "example"
lang = "vi"
par_max = None
previous = ""
previous_codebook = ""
tables_path = ""

# %%
params = sa.report.AgencyParams.from_namespace(globals(), before=_before_parameters)
shared = sa.report.agency_shared_results(params)

# %%
sa.report.show("headline", shared, params)

# %%
sa.report.show("factors", shared, params)

# %%
sa.report.show("criteria", shared, params)

# %%
sa.report.show("change", shared, params)

# %%
sa.report.show("drivers", shared, params)

# %%
sa.report.show("importance", shared, params)

# %%
sa.report.show("tracking", shared, params)

# %%
sa.report.show("par", shared, params)

# %%
sa.report.show("actions", shared, params)

# %%
sa.report.show("caveats", shared, params)

# %%
sa.report.show("provenance", shared, params)

# %%
sa.report.write_workbook(shared, params)
