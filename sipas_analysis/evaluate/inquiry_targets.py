"""The target (true answer) of every inquiry of a declaration, computed once per diagnosis.

Targets (the ``target`` of an inquiry)
--------------------------------------
``superpopulation``
    a parameter of the truth by name: a row of ``Truth.parameters()`` (declared, conditional or
    population-averaged, e.g. ``logit.satisfied.on_time``; its ``mc_se`` becomes ``target_se``),
    a column of the calibrated ``Truth.province_effects`` table as ``province_effects.<column>``
    (one value per province, e.g. ``province_effects.population_index``, the model's index of
    the province, exact), or a declared number (``value:``). ``rank: true`` turns a
    per-province parameter into ranks (1 = highest).
``finite_population``
    the province indices (``quantity: "index"``) or ranks (``quantity: "rank"``) of the
    simulated population, for ``term`` (default ``"overall"``) by ``by`` (default
    ``"province_code"``).
``census``
    the estimator named by ``estimator:`` fitted to the whole simulated population, ``term`` of
    its output: what that estimator targets when its model is misspecified or marginal.

The simulated population (the approximation, stated). Finite-population and census targets are
computed ONCE per diagnosis on a large sample from the same truth (the *frame*:
``population.size`` respondents, default 600,000, seed ``population.seed``, the declaration's
sampling plan, weighted by its design weights). Samples are drawn **independently from the
truth, not from the frame**: each simulation is a fresh ``simulate_survey`` draw (new PSUs, PSU
effects and respondents), which keeps every superpopulation target exact and reproduces the full
SIPAS design (PPS of PSUs, non-response and its weights). A sample therefore estimates the
superpopulation value of a finite-population quantity, of which the frame value is an estimate
with standard error ``target_se`` (the frame's own design-based SE). With a frame 20 times the
sample, that error is about a quarter of a sample's SE; it is reported with every diagnosand and
included in ``bias_mc_se``, and it lowers coverage slightly (95 % becomes about 94 %). Where an
exact model value exists, prefer it (province indices: ``province_effects.population_index``).
Multilevel census targets are the no-pooling fit on the frame: for each province, the
design-weighted least-squares fit of the fixed formula on its rows (the province's own
coefficients), and for the fixed terms the mean over provinces of those coefficients (each
province counting once, as in the random-effects distribution).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import patsy

from sipas_analysis import simulate
from sipas_analysis.design import SurveyDesign
from sipas_analysis.evaluate.declaration import Declaration, Estimator, Inquiry
from sipas_analysis.evaluate.estimators import _Designs, _estimate, _unit_keys
from sipas_analysis.evaluate.simulation import _Context, _context, _resolve
from sipas_analysis.models import fit_linear, tidy
from sipas_analysis.schema import MissingColumnError

TARGET_COLUMNS = ["inquiry", "unit", "target", "target_se", "kind"]


def _frame(context: _Context) -> pd.DataFrame:
    """The simulated population of finite-population and census targets (seeded by
    ``population_seed``; built once per diagnosis, not kept: it is large)."""
    declaration = context.declaration
    rng = np.random.default_rng(declaration.population_seed)
    population_sampler = _resolve(declaration.population_sampler)
    if population_sampler is not None:
        return population_sampler(rng)
    frame, _ = simulate.simulate_survey(n=declaration.population_size, truth=context.truth,
                                        sampling=context.plan, seed=rng,
                                        years=declaration.years)
    return frame


def _rank_descending(values: np.ndarray) -> np.ndarray:
    """Rank 1 = highest; ties share the best rank (as rank_units)."""
    return pd.Series(values).rank(ascending=False, method="min").to_numpy(float)


def _superpopulation_target(inquiry: Inquiry, context: _Context, parameters) -> pd.DataFrame:
    if inquiry.value is not None:
        return pd.DataFrame({"unit": [""], "target": [float(inquiry.value)],
                             "target_se": [0.0]})
    name = inquiry.parameter
    if name.startswith("province_effects."):
        column = name.split(".", 1)[1]
        table = context.truth.province_effects
        table = table[table["year"].isin(context.declaration.years)]
        if column not in table:
            raise MissingColumnError(f"inquiry {inquiry.name!r}: province_effects has no "
                                     f"column {column!r}; columns: {sorted(table.columns)}",
                                     [column])
        values = table[column].to_numpy(float)
        if inquiry.rank:
            values = _rank_descending(values)
        return pd.DataFrame({"unit": _unit_keys(table, inquiry.by), "target": values,
                             "target_se": 0.0})
    row = parameters()
    row = row[row["parameter"] == name]
    if row.empty:
        import difflib
        close = difflib.get_close_matches(name, parameters()["parameter"].tolist(), n=5)
        raise ValueError(f"inquiry {inquiry.name!r}: {name!r} is not a parameter of the truth"
                         f"{'; did you mean ' + ', '.join(close) if close else ''} "
                         "(see Truth.parameters())")
    mc_se = float(row["mc_se"].iloc[0])
    return pd.DataFrame({"unit": [""], "target": [float(row["value"].iloc[0])],
                         "target_se": [0.0 if np.isnan(mc_se) else mc_se]})


def _multilevel_census(estimator: Estimator, frame: pd.DataFrame, declaration) -> pd.DataFrame:
    """No-pooling census of a multilevel estimator: each group's own weighted least squares."""
    columns = {k: v for k, v in declaration.design_columns.items() if v is not None}
    rows = []
    for label, part in frame.groupby(estimator.groups, sort=True, observed=True):
        part = part.reset_index(drop=True)
        design = SurveyDesign(part, lonely_psu=declaration.lonely_psu,
                              **{k: columns[k] for k in ("weights", "strata", "psu")
                                 if k in columns})
        table = tidy(fit_linear(estimator.formula, design))
        rows.append(pd.DataFrame({"unit": str(label), "coef": table["term"].to_numpy(),
                                  "target": table["estimate"].to_numpy(float),
                                  "target_se": table["std_error"].to_numpy(float)}))
    per_group = pd.concat(rows, ignore_index=True)
    random_terms = (list(patsy.dmatrix(estimator.re_formula or "~1", frame.head(50),
                                       return_type="dataframe").columns))
    out = []
    for coef, part in per_group.groupby("coef", sort=False):
        n = len(part)
        out.append(pd.DataFrame({"term": [coef], "unit": [""],
                                 "target": [part["target"].mean()],
                                 "target_se": [np.sqrt((part["target_se"] ** 2).sum()) / n]}))
        if coef in random_terms:
            out.append(part.assign(term=f"{estimator.groups}:{coef}").drop(columns="coef"))
    return pd.concat(out, ignore_index=True)


def _census_target(inquiry: Inquiry, context: _Context, designs: _Designs,
                   cache: dict) -> pd.DataFrame:
    declaration = context.declaration
    estimator = declaration.estimator(inquiry.estimator)
    if estimator.name not in cache:
        if estimator.model == "multilevel":
            table = _multilevel_census(estimator, designs.data, declaration)
        else:
            # the same point estimator on the frame; its error as a target is the frame's own
            # design-based SE (whatever SE the estimator itself reports)
            on_frame = dataclasses.replace(estimator, design_based=True, n_reps=0,
                                           model="index" if estimator.model == "rank"
                                           else estimator.model)
            table = _estimate(on_frame, designs, 0)
            table = table.rename(columns={"estimate": "target", "std_error": "target_se"})
            if estimator.model == "rank":
                ranked = []
                for term, part in table.groupby("term", sort=False):
                    ranked.append(part.assign(target=_rank_descending(part["target"].to_numpy()),
                                              target_se=np.nan))
                table = pd.concat(ranked, ignore_index=True)
        cache[estimator.name] = table
    table = cache[estimator.name]
    rows = table[table["term"] == inquiry.term]
    if rows.empty:
        raise ValueError(f"inquiry {inquiry.name!r}: term {inquiry.term!r} is not in the census "
                         f"fit of estimator {estimator.name!r} (terms: "
                         f"{sorted(set(table['term']))})")
    return rows[["unit", "target", "target_se"]]


def targets(declaration: Declaration) -> pd.DataFrame:
    """The true answer of every inquiry (module docstring, "Targets").

    Returns columns: inquiry, unit ("" for a single value; the province code, or the ``by``
    values joined by "/", for one value per unit), target, target_se (the target's own error:
    the Monte Carlo SE of a population-averaged parameter, the frame's design-based SE of a
    finite-population or census value; 0 when exact, NaN when unknown, e.g. ranks), kind
    ("value" | "rank").
    """
    return _targets(_context(declaration, 0))


def _targets(context: _Context) -> pd.DataFrame:
    declaration = context.declaration
    parameters_cache = {}

    def parameters():
        # population-averaged quantities cost a large simulation: only when asked for
        if "table" not in parameters_cache:
            table = context.truth.parameters(population_averaged=False)
            wanted = {i.parameter for i in declaration.inquiries
                      if i.target == "superpopulation" and i.parameter
                      and not i.parameter.startswith("province_effects.")}
            if wanted - set(table["parameter"]):
                table = context.truth.parameters(population_averaged=True)
            parameters_cache["table"] = table
        return parameters_cache["table"]

    needs_frame = any(i.target != "superpopulation" for i in declaration.inquiries)
    designs = _Designs(_frame(context), declaration) if needs_frame else None
    census_cache = {}
    out = []
    for inquiry in declaration.inquiries:
        kind = "value"
        if inquiry.target == "superpopulation":
            table = _superpopulation_target(inquiry, context, parameters)
            kind = "rank" if inquiry.rank else "value"
        elif inquiry.target == "finite_population":
            index_estimator = Estimator(name=f"_frame_{inquiry.name}", model="index",
                                        by=inquiry.by, inquiries={inquiry.term: ("x",)})
            table = _estimate(index_estimator, designs, 0)
            table = table[table["term"] == inquiry.term]
            if table.empty:
                raise ValueError(f"inquiry {inquiry.name!r}: the index has no term "
                                 f"{inquiry.term!r}")
            table = table.rename(columns={"estimate": "target", "std_error": "target_se"})
            if inquiry.quantity == "rank":
                table = table.assign(target=_rank_descending(table["target"].to_numpy()),
                                     target_se=np.nan)
                kind = "rank"
        else:
            table = _census_target(inquiry, context, designs, census_cache)
            estimator = declaration.estimator(inquiry.estimator)
            if estimator.model == "rank" or (estimator.model == "importance"
                                             and inquiry.term == "rank"):
                kind = "rank"
        out.append(pd.DataFrame({"inquiry": inquiry.name,
                                 "unit": table["unit"].astype(str).to_numpy(),
                                 "target": table["target"].to_numpy(float),
                                 "target_se": table["target_se"].to_numpy(float),
                                 "kind": kind}))
    return pd.concat(out, ignore_index=True)[TARGET_COLUMNS]
