"""Design diagnosis: declare a study, simulate it many times, and score every estimator.

This is the workbench a methodologist uses to choose a sample size or a model and to defend the
choice (issue 5; R's DeclareDesign is the model). A study is a :class:`Declaration`:

- **truth**: the true model (:class:`~sipas_analysis.simulate.Truth`, or overrides of its fields);
- **sampling**: the sampling plan (:class:`~sipas_analysis.simulate.SamplingPlan`, or overrides);
- **inquiries**: the questions, each with its true answer (the *target*);
- **estimators**: the answer strategies, including deliberately naive ones.

:func:`diagnose` draws ``n_sims`` samples, fits every estimator to each, keeps every estimate
(Parquet, so that a new diagnosand needs no new simulation: :func:`diagnosands`), and returns one
row of diagnosands per estimator x inquiry.

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

Estimators (``model``)
----------------------
``linear``, ``logit``, ``ordinal`` (``models.fit_*``; terms are the model's coefficients and
cut-points), ``multilevel`` (``models.fit_multilevel`` with ``groups`` and ``re_formula``; fixed
terms by name and province-specific effects as ``"<groups>:<term>"``, one row per province;
always unweighted), ``mean`` (``SurveyDesign.mean`` of the variables named in ``formula``, e.g.
``"overall_satisfaction"``), ``index`` (``indices.sipas_index`` by ``by``; terms are criteria,
factors and ``"overall"``), ``rank`` (``indices.rank_units`` on the index ``term``: estimate =
rank, interval = rank confidence set), ``importance`` (``relative_importance``; terms
``"share"``, ``"lmg"`` and ``"rank"``, one row per driver).

``weighted`` and ``design_based`` say how: both true (default) uses the full design (weights,
strata, PSUs); ``weighted: false, design_based: true`` equal weights with the design's strata and
PSUs; ``weighted: true, design_based: false`` the weights with independent rows (clusters
ignored); both false is the deliberately naive estimator (a plain DataFrame: unweighted, iid,
model-based standard errors).

The YAML file (``params/evaluation/*.yaml``; strings quoted)::

    name: "default"
    description: "..."
    years: [2024]
    truth: {staff_slope_sd: 0.5}                  # overrides of Truth fields (dicts merge)
    sampling: {respondents_per_province: 500}     # overrides of SamplingPlan fields; the alias
                                                  # respondents_per_province: n or [low, high]
    population: {size: 600000, seed: 20250701}    # the frame for finite-population targets
    run: {n_sims: 100, seed: 1, jobs: 2}          # defaults of `sipas evaluate` (not the study)
    inquiries:
      on_time_effect: {target: "superpopulation", parameter: "logit.satisfied.on_time"}
      province_index: {target: "finite_population", quantity: "index", term: "overall"}
      on_time_census: {target: "census", estimator: "logit_design", term: "on_time"}
    estimators:
      logit_design:
        model: "logit"
        formula: "I(overall_satisfaction >= 4) ~ on_time + applied_online"
        weighted: true
        design_based: true
        inquiries: {on_time: ["on_time_effect", "on_time_census"]}   # term -> inquiry(ies)

Keys: inquiry ``target, parameter, value, rank, quantity, term, by, estimator, description``;
estimator ``model, formula, weighted, design_based, inquiries, by, groups, re_formula, n_draws,
simultaneous, level, n_boot, description``. Unknown keys are refused, each one named.

Diagnosands (:func:`diagnosands`), per estimator x inquiry, over simulations and units
-------------------------------------------------------------------------------------
``bias`` mean(estimate - target); ``rmse``; ``sd_estimate`` the empirical SD over simulations
(pooled over units: sqrt of the mean per-unit variance); ``mean_se``; ``se_calibration`` =
mean reported SE / sd_estimate (1 is right, below 1 over-confident); ``coverage`` share of
intervals containing the target (rank sets for ranks); ``mean_ci_width``; ``power`` share of
p < ``alpha``; ``type_s`` share of significant estimates with the wrong sign and ``type_m`` mean
|estimate| / |target| among significant ones (Gelman & Carlin 2014); for inquiries with several
units ``spearman`` (mean over simulations of the rank correlation of estimates and targets) and
``spread_ratio`` (SD of the estimates across units / SD of the targets: below 1 is shrinkage);
for rank inquiries ``top1_recovered`` (true first ranked first), ``top10_recovered`` (share of
the true top 10 in the estimated top 10; more than 10 units only) and ``order_recovered`` (every
rank right). Each has a ``*_mc_se``: the standard deviation over ``n_boot`` bootstrap resamples
of whole simulations (simulations are independent, so resampling them keeps any dependence
between the units of one simulation); ``bias_mc_se`` also includes the target's own error.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import math
import multiprocessing
import os
import re
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
from scipy import special, stats

from sipas_analysis import indices, simulate
from sipas_analysis.design import SurveyDesign
from sipas_analysis.models import fit_linear, fit_logit, fit_multilevel, fit_ordinal, tidy
from sipas_analysis.models.importance import relative_importance
from sipas_analysis.models.regression import _irls_logit  # the models' Newton-Raphson logit

TARGET_KINDS = ("superpopulation", "finite_population", "census")
MODELS = ("linear", "logit", "ordinal", "multilevel", "mean", "index", "rank", "importance")
ESTIMATE_COLUMNS = ["sim", "estimator", "inquiry", "unit", "term", "kind", "estimate",
                    "std_error", "ci_low", "ci_high", "p_value", "target", "target_se", "error",
                    "seconds"]
TARGET_COLUMNS = ["inquiry", "unit", "target", "target_se", "kind"]
DIAGNOSANDS = ["bias", "rmse", "sd_estimate", "mean_se", "se_calibration", "coverage",
               "mean_ci_width", "power", "type_s", "type_m", "spearman", "spread_ratio",
               "top1_recovered", "top10_recovered", "order_recovered"]
CV_COLUMNS = ["spec", "model", "metric", "estimate", "std_error", "n_folds", "n", "difference",
              "difference_se"]

_INQUIRY_KEYS = {"target", "parameter", "value", "rank", "quantity", "term", "by", "estimator",
                 "description"}
_ESTIMATOR_KEYS = {"model", "formula", "weighted", "design_based", "inquiries", "by", "groups",
                   "re_formula", "n_draws", "simultaneous", "level", "n_boot", "description"}
_TOP_KEYS = {"name", "description", "years", "truth", "sampling", "population", "run",
             "inquiries", "estimators", "design_columns", "lonely_psu", "sampler",
             "population_sampler"}
_RUN_KEYS = {"n_sims", "seed", "jobs", "out"}
_POPULATION_KEYS = {"size", "seed"}
_STORE_VERSION = 1
# The example declarations (a source checkout; `sipas evaluate` takes any path)
EVALUATION_PARAMS = Path(__file__).resolve().parents[1] / "params" / "evaluation"


# ================================================================================================
# Declaring a study
# ================================================================================================

@dataclass(frozen=True)
class Inquiry:
    """A question and where its true answer comes from (module docstring, "Targets")."""

    name: str
    target: str
    parameter: str | None = None
    value: float | None = None
    rank: bool = False
    quantity: str = "index"
    term: str = "overall"
    by: str | tuple = "province_code"
    estimator: str | None = None
    description: str = ""

    def to_dict(self) -> dict:
        out = {"target": self.target}
        if self.target == "superpopulation":
            out.update({k: v for k, v in [("parameter", self.parameter), ("value", self.value)]
                        if v is not None})
            if self.rank:
                out["rank"] = True
            if self.parameter and self.parameter.startswith("province_effects."):
                out["by"] = _jsonable(self.by)
        elif self.target == "finite_population":
            out.update(quantity=self.quantity, term=self.term, by=_jsonable(self.by))
        else:
            out.update(estimator=self.estimator, term=self.term)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Estimator:
    """An answer strategy: a model, how it is fitted, and which of its terms answer which
    inquiries (``inquiries``: term -> tuple of inquiry names)."""

    name: str
    model: str
    formula: str | None = None
    weighted: bool | None = None
    design_based: bool | None = None
    inquiries: dict = field(default_factory=dict)
    by: str | tuple | None = "province_code"
    groups: str = "province_code"
    re_formula: str | None = "~staff_score"
    n_draws: int = 2000
    simultaneous: bool = False
    level: float = 0.95
    n_boot: int = 0
    description: str = ""

    @property
    def is_weighted(self) -> bool:
        if self.model == "multilevel":
            return False
        return True if self.weighted is None else bool(self.weighted)

    @property
    def is_design_based(self) -> bool:
        if self.model == "multilevel":
            return False
        return True if self.design_based is None else bool(self.design_based)

    def to_dict(self) -> dict:
        out = {"model": self.model}
        if self.formula is not None:
            out["formula"] = self.formula
        if self.model != "multilevel":
            out.update(weighted=self.is_weighted, design_based=self.is_design_based)
        if self.model in ("index", "rank"):
            out["by"] = _jsonable(self.by)
        if self.model == "multilevel":
            out.update(groups=self.groups, re_formula=self.re_formula)
        if self.model == "rank":
            out.update(n_draws=self.n_draws, simultaneous=self.simultaneous, level=self.level)
        if self.model == "importance":
            out["n_boot"] = self.n_boot
        out["inquiries"] = {term: list(names) for term, names in self.inquiries.items()}
        if self.description:
            out["description"] = self.description
        return out


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def _as_by(value):
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


@dataclass(frozen=True)
class Declaration:
    """A study: truth, sampling, inquiries and estimators (module docstring).

    ``truth`` and ``sampling`` are objects or dicts of overrides of their fields (a dict field
    such as ``experience_effects`` is merged key by key); ``sampling`` also takes
    ``respondents_per_province`` (n or (low, high), an alias of ``respondents_per_unit``).
    ``inquiries`` and ``estimators`` are lists of :class:`Inquiry` / :class:`Estimator` or
    mappings name -> dict of their fields. ``population_size`` and ``population_seed`` define
    the frame of finite-population and census targets. ``run`` holds defaults for the command
    line (n_sims, seed, jobs, out); it is not part of the study.

    Custom simulators (for designs other than SIPAS, e.g. the closed-form checks of the tests):
    ``sampler`` is a function ``f(rng: numpy.random.Generator) -> DataFrame`` (or its
    ``"module:function"`` name) used instead of ``simulate_survey``; ``population_sampler`` the
    same for the frame. ``design_columns`` names the weights, strata and psu columns (None
    entries are left out of the design).
    """

    name: str = "evaluation"
    description: str = ""
    years: tuple = (2024,)
    truth: object = field(default_factory=dict)
    sampling: object = field(default_factory=dict)
    inquiries: tuple = ()
    estimators: tuple = ()
    population_size: int = 600_000
    population_seed: int = 20250701
    design_columns: dict = field(default_factory=lambda: {
        "weights": "weight", "strata": "stratum", "psu": "psu"})
    lonely_psu: str = "adjust"
    sampler: object = None
    population_sampler: object = None
    run: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        problems = []

        def set_(name, value):   # the dataclass is frozen: normalise the inputs once, here
            object.__setattr__(self, name, value)

        set_("years", tuple(int(y) for y in np.atleast_1d(self.years)))
        set_("inquiries", tuple(_build_items(self.inquiries, Inquiry, _INQUIRY_KEYS, "inquiry",
                                             problems)))
        set_("estimators", tuple(_build_items(self.estimators, Estimator, _ESTIMATOR_KEYS,
                                              "estimator", problems)))
        for key, value in (("truth", self.truth), ("sampling", self.sampling)):
            if not isinstance(value, (dict, simulate.Truth, simulate.SamplingPlan)):
                problems.append(f"{key} must be a mapping of overrides or a "
                                f"{'Truth' if key == 'truth' else 'SamplingPlan'}")
        try:
            self.truth_object()
        except ValueError as error:
            problems.append(str(error))
        try:
            self.sampling_plan()
        except ValueError as error:
            problems.append(str(error))
        problems += _check_declaration(self)
        if problems:
            raise ValueError(f"declaration {self.name!r} is not valid:\n- "
                             + "\n- ".join(problems))

    # -- the parts, resolved --------------------------------------------------------------------
    def truth_object(self) -> simulate.Truth:
        """The Truth (defaults with the overrides applied; not yet calibrated)."""
        if isinstance(self.truth, simulate.Truth):
            return self.truth
        return _apply_overrides(simulate.Truth(), dict(self.truth), "truth")

    def sampling_plan(self) -> simulate.SamplingPlan:
        """The SamplingPlan (defaults with the overrides applied)."""
        if isinstance(self.sampling, simulate.SamplingPlan):
            return self.sampling
        overrides = dict(self.sampling)
        if "respondents_per_province" in overrides:
            value = overrides.pop("respondents_per_province")
            low, high = (value, value) if np.isscalar(value) else tuple(value)
            overrides["respondents_per_unit"] = (int(low), int(high))
        return _apply_overrides(simulate.SamplingPlan(), overrides, "sampling")

    def inquiry(self, name: str) -> Inquiry:
        return {i.name: i for i in self.inquiries}[name]

    def estimator(self, name: str) -> Estimator:
        return {e.name: e for e in self.estimators}[name]

    def updated(self, *, truth=None, sampling=None, **changes) -> "Declaration":
        """A copy with more overrides merged into ``truth`` / ``sampling`` and other fields
        replaced (e.g. ``updated(sampling={"respondents_per_province": 800})``)."""
        if truth is not None:
            changes["truth"] = ({**self.truth, **truth} if isinstance(self.truth, dict)
                                and isinstance(truth, dict) else truth)
        if sampling is not None:
            changes["sampling"] = ({**self.sampling, **sampling}
                                   if isinstance(self.sampling, dict)
                                   and isinstance(sampling, dict) else sampling)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The declaration as plain data (the YAML schema); a Truth or SamplingPlan object is
        written as its fingerprint (it cannot be written back as overrides)."""
        def part(value, label):
            if isinstance(value, dict):
                return {k: _jsonable(v) for k, v in value.items()}
            if isinstance(value, simulate.Truth):
                return {"fingerprint": value.fingerprint()}
            return {"object": label, "repr": repr(value)}
        out = {"name": self.name, "description": self.description, "years": list(self.years),
               "truth": part(self.truth, "Truth"), "sampling": part(self.sampling, "SamplingPlan"),
               "population": {"size": self.population_size, "seed": self.population_seed},
               "design_columns": dict(self.design_columns), "lonely_psu": self.lonely_psu,
               "inquiries": {i.name: i.to_dict() for i in self.inquiries},
               "estimators": {e.name: e.to_dict() for e in self.estimators}}
        for key in ("sampler", "population_sampler"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value if isinstance(value, str) else \
                    f"{value.__module__}:{value.__qualname__}"
        return out

    def fingerprint(self) -> str:
        """A hash of everything that changes the simulated estimates (not name, description or
        run settings)."""
        content = self.to_dict()
        for key in ("name", "description"):
            content.pop(key)
        text = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_yaml(cls, path) -> "Declaration":
        """Read a declaration from a YAML file (schema in the module docstring). Every unknown
        key and every invalid value is named in one ValueError."""
        import yaml
        path = Path(path)
        if not path.exists():
            raise ValueError(f"declaration file {str(path)!r} does not exist")
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ValueError(f"cannot read {str(path)!r} as YAML: {error}") from None
        return cls.from_dict(content, source=str(path))

    @classmethod
    def from_dict(cls, content, *, source: str = "declaration") -> "Declaration":
        if not isinstance(content, dict):
            raise ValueError(f"{source}: the file must hold a mapping of keys, got "
                             f"{type(content).__name__}")
        problems = []
        unknown = sorted(set(content) - _TOP_KEYS)
        if unknown:
            problems.append(f"unknown key(s) {unknown}; known: {sorted(_TOP_KEYS)}")
        population = content.get("population") or {}
        run = content.get("run") or {}
        for label, mapping, known in (("population", population, _POPULATION_KEYS),
                                      ("run", run, _RUN_KEYS)):
            if not isinstance(mapping, dict):
                problems.append(f"{label} must be a mapping")
                continue
            bad = sorted(set(mapping) - known)
            if bad:
                problems.append(f"unknown key(s) {bad} in {label}; known: {sorted(known)}")
        if problems:
            raise ValueError(f"{source} is not valid:\n- " + "\n- ".join(problems))
        kwargs = {k: content[k] for k in ("name", "description", "years", "truth", "sampling",
                                          "inquiries", "estimators", "design_columns",
                                          "lonely_psu", "sampler", "population_sampler")
                  if content.get(k) is not None}
        if "size" in population:
            kwargs["population_size"] = population["size"]
        if "seed" in population:
            kwargs["population_seed"] = population["seed"]
        try:
            return cls(**kwargs, run=dict(run))
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        except TypeError as error:
            raise ValueError(f"{source}: {error}") from None


def _build_items(items, cls, known, label, problems) -> list:
    """Inquiry/Estimator objects from objects or a mapping name -> dict of fields."""
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = [(getattr(item, "name", None), item) for item in items]
    out = []
    for name, spec in pairs:
        if isinstance(spec, cls):
            out.append(spec)
            continue
        if not isinstance(spec, dict):
            problems.append(f"{label} {name!r} must be a mapping of its keys")
            continue
        unknown = sorted(set(spec) - known)
        if unknown:
            problems.append(f"unknown key(s) {unknown} in {label} {name!r}; known: "
                            f"{sorted(known)}")
            continue
        spec = dict(spec)
        if "by" in spec:
            spec["by"] = _as_by(spec["by"])
        if label == "estimator":
            mapping = spec.get("inquiries") or {}
            if not isinstance(mapping, dict):
                problems.append(f"estimator {name!r}: inquiries must map a term to an inquiry "
                                "name or a list of them")
                continue
            spec["inquiries"] = {str(term): tuple([names] if isinstance(names, str) else names)
                                 for term, names in mapping.items()}
        out.append(cls(name=str(name), **spec))
    return out


def _apply_overrides(default, overrides: dict, label: str):
    """``dataclasses.replace`` with dict fields merged key by key and lists made tuples."""
    fields = {f.name for f in dataclasses.fields(default)} - {"province_effects",
                                                                "calibrated_for"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown {label} field(s) {unknown}; known: {sorted(fields)}")
    changes = {}
    for key, value in overrides.items():
        current = getattr(default, key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged = dict(current)
            for k, v in value.items():
                if isinstance(merged.get(k), dict) and isinstance(v, dict):
                    merged[k] = {**merged[k], **v}
                else:
                    merged[k] = v
            value = merged
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(default, **changes)


def _check_declaration(declaration: Declaration) -> list[str]:
    problems = []
    inquiries = {i.name: i for i in declaration.inquiries}
    estimators = {e.name: e for e in declaration.estimators}
    if len(inquiries) != len(declaration.inquiries):
        problems.append("inquiry names must be unique")
    if len(estimators) != len(declaration.estimators):
        problems.append("estimator names must be unique")
    if not declaration.estimators:
        problems.append("declare at least one estimator")
    for inquiry in declaration.inquiries:
        where = f"inquiry {inquiry.name!r}"
        if inquiry.target not in TARGET_KINDS:
            problems.append(f"{where}: target must be one of {list(TARGET_KINDS)}, got "
                            f"{inquiry.target!r}")
        elif inquiry.target == "superpopulation":
            if (inquiry.parameter is None) == (inquiry.value is None):
                problems.append(f"{where}: give either parameter (a name from "
                                "Truth.parameters() or province_effects.<column>) or value")
        elif inquiry.target == "finite_population":
            if inquiry.quantity not in ("index", "rank"):
                problems.append(f"{where}: quantity must be 'index' or 'rank', got "
                                f"{inquiry.quantity!r}")
        elif inquiry.estimator not in estimators:
            problems.append(f"{where}: census needs estimator: one of {sorted(estimators)}, "
                            f"got {inquiry.estimator!r}")
        if inquiry.target in ("finite_population", "census") and declaration.sampler is not None \
                and declaration.population_sampler is None:
            problems.append(f"{where}: a custom sampler needs a population_sampler for "
                            f"{inquiry.target} targets")
    used = set()
    for estimator in declaration.estimators:
        where = f"estimator {estimator.name!r}"
        if estimator.model not in MODELS:
            problems.append(f"{where}: model must be one of {list(MODELS)}, got "
                            f"{estimator.model!r}")
            continue
        if estimator.model in ("linear", "logit", "ordinal", "multilevel", "mean",
                               "importance") and not estimator.formula:
            problems.append(f"{where}: model {estimator.model!r} needs a formula")
        if estimator.model == "multilevel" and (estimator.weighted or estimator.design_based):
            problems.append(f"{where}: multilevel fits are unweighted and model-based "
                            "(statsmodels MixedLM); leave weighted and design_based out")
        if estimator.model == "rank" and estimator.by is None:
            problems.append(f"{where}: rank needs by (e.g. province_code)")
        if not estimator.inquiries:
            problems.append(f"{where}: map at least one term to an inquiry (inquiries:)")
        for term, names in estimator.inquiries.items():
            for name in names:
                used.add(name)
                if name not in inquiries:
                    problems.append(f"{where}: term {term!r} names inquiry {name!r}, which is "
                                    f"not declared (declared: {sorted(inquiries)})")
    unused = sorted(set(inquiries) - used)
    if unused:
        problems.append(f"inquiry(ies) {unused} answered by no estimator")
    return problems


# ================================================================================================
# Simulating and estimating
# ================================================================================================

def _resolve(function):
    """A sampler given as ``"module:function"`` or a callable."""
    if function is None or callable(function):
        return function
    module, _, name = str(function).partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot find the sampler {function!r}: {error}") from None


@dataclass
class _Context:
    """What every simulation needs, resolved once (and shipped to the worker processes)."""

    declaration: Declaration
    truth: simulate.Truth | None
    plan: simulate.SamplingPlan | None
    seed: int


def _context(declaration: Declaration, seed: int) -> _Context:
    if declaration.sampler is not None:
        return _Context(declaration, None, None, seed)
    truth = declaration.truth_object().calibrated(declaration.years)
    return _Context(declaration, truth, declaration.sampling_plan(), seed)


def _draw(context: _Context, rng: np.random.Generator) -> pd.DataFrame:
    sampler = _resolve(context.declaration.sampler)
    if sampler is not None:
        return sampler(rng)
    sample, _ = simulate.simulate_survey(truth=context.truth, sampling=context.plan, seed=rng,
                                         years=context.declaration.years)
    return sample


class _Designs:
    """The survey designs of one data set, built on first use (weighted x design_based)."""

    def __init__(self, data: pd.DataFrame, declaration: Declaration):
        self.data = data
        self.columns = {k: v for k, v in declaration.design_columns.items() if v is not None}
        self.lonely_psu = declaration.lonely_psu
        self._cache = {}

    def get(self, *, weighted: bool, design_based: bool, dataframe_ok: bool = True):
        if not weighted and not design_based and dataframe_ok:
            return self.data
        key = (weighted, design_based)
        if key not in self._cache:
            options = {}
            if weighted and "weights" in self.columns:
                options["weights"] = self.columns["weights"]
            if design_based:
                options.update({k: self.columns[k] for k in ("strata", "psu", "fpc")
                                if k in self.columns})
            self._cache[key] = SurveyDesign(self.data, lonely_psu=self.lonely_psu, **options)
        return self._cache[key]

    def index(self, *, weighted: bool, design_based: bool, by) -> pd.DataFrame:
        """``sipas_index`` by ``by``, computed once (index and rank estimators share it)."""
        key = ("index", weighted, design_based, by)
        if key not in self._cache:
            design = self.get(weighted=weighted, design_based=design_based, dataframe_ok=False)
            columns = [by] if isinstance(by, str) else (list(by) if by else None)
            self._cache[key] = indices.sipas_index(design, by=columns)
        return self._cache[key]


def _unit_keys(table: pd.DataFrame, by) -> np.ndarray:
    """One text key per row from the ``by`` column(s) ("" without by; "2024/01" for two)."""
    if by is None:
        return np.full(len(table), "", dtype=object)
    columns = [by] if isinstance(by, str) else list(by)
    keys = table[columns[0]].astype(str)
    for column in columns[1:]:
        keys = keys + "/" + table[column].astype(str)
    return keys.to_numpy(dtype=object)


def _from_tidy(table: pd.DataFrame, *, kind="value") -> pd.DataFrame:
    return pd.DataFrame({"term": table["term"].astype(str).to_numpy(), "unit": "",
                         "kind": kind, "estimate": table["estimate"].to_numpy(float),
                         "std_error": table["std_error"].to_numpy(float),
                         "ci_low": table["ci_low"].to_numpy(float),
                         "ci_high": table["ci_high"].to_numpy(float),
                         "p_value": (table["p_value"].to_numpy(float) if "p_value" in table
                                     else np.full(len(table), np.nan))})


def _normal_p(estimate, se):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * stats.norm.sf(np.abs(np.asarray(estimate) / np.asarray(se)))


def _estimate(estimator: Estimator, designs: _Designs, seed) -> pd.DataFrame:
    """Fit one estimator: columns term, unit, kind, estimate, std_error, ci_low, ci_high,
    p_value."""
    model = estimator.model
    weighted, design_based = estimator.is_weighted, estimator.is_design_based
    if model in ("linear", "logit", "ordinal"):
        fit = {"linear": fit_linear, "logit": fit_logit, "ordinal": fit_ordinal}[model]
        target = designs.get(weighted=weighted, design_based=design_based)
        return _from_tidy(tidy(fit(estimator.formula, target)))
    if model == "mean":
        design = designs.get(weighted=weighted, design_based=design_based, dataframe_ok=False)
        variables = [v.strip() for v in estimator.formula.split("+")]
        table = design.mean(variables, na_rm=True)
        out = _from_tidy(table)
        out["p_value"] = _normal_p(out["estimate"], out["std_error"])
        return out
    if model == "multilevel":
        result = fit_multilevel(estimator.formula, designs.data, groups=estimator.groups,
                                re_formula=estimator.re_formula, level=estimator.level)
        fixed = _from_tidy(tidy(result))
        effects = result.extra["group_effects"]
        groups = pd.DataFrame({
            "term": (estimator.groups + ":" + effects["term"].astype(str)).to_numpy(),
            "unit": effects[estimator.groups].astype(str).to_numpy(), "kind": "value",
            "estimate": effects["estimate"].to_numpy(float),
            "std_error": effects["std_error"].to_numpy(float),
            "ci_low": effects["ci_low"].to_numpy(float),
            "ci_high": effects["ci_high"].to_numpy(float), "p_value": np.nan})
        return pd.concat([fixed, groups], ignore_index=True)
    if model in ("index", "rank"):
        by = [estimator.by] if isinstance(estimator.by, str) else \
            (list(estimator.by) if estimator.by else None)
        table = designs.index(weighted=weighted, design_based=design_based, by=estimator.by)
        if model == "index":
            out = _from_tidy(table)
            out["unit"] = _unit_keys(table, estimator.by)
            out["p_value"] = np.nan
            return out
        out = []
        for term in estimator.inquiries:
            rows = table[table["term"] == term]
            if rows.empty:
                continue
            ranks = indices.rank_units(rows[by + ["estimate", "std_error"]], unit=by,
                                       level=estimator.level, simultaneous=estimator.simultaneous,
                                       n_draws=estimator.n_draws, seed=seed)
            out.append(pd.DataFrame({
                "term": term, "unit": _unit_keys(ranks, estimator.by), "kind": "rank",
                "estimate": ranks["rank"].to_numpy(float), "std_error": np.nan,
                "ci_low": ranks["rank_low"].to_numpy(float),
                "ci_high": ranks["rank_high"].to_numpy(float), "p_value": np.nan}))
        return pd.concat(out, ignore_index=True) if out else _from_tidy(table.iloc[:0])
    if model == "importance":
        target = designs.get(weighted=weighted, design_based=design_based)
        result = relative_importance(estimator.formula, target, n_boot=estimator.n_boot,
                                     seed=seed, level=estimator.level)
        table = result.table
        parts = []
        for term, column, low, high, kind in (("share", "share", "share_ci_low", "share_ci_high",
                                               "value"),
                                              ("lmg", "lmg", "ci_low", "ci_high", "value"),
                                              ("rank", "rank", "rank_low", "rank_high", "rank")):
            parts.append(pd.DataFrame({
                "term": term, "unit": table["term"].astype(str).to_numpy(), "kind": kind,
                "estimate": table[column].to_numpy(float), "std_error": np.nan,
                "ci_low": table[low].to_numpy(float), "ci_high": table[high].to_numpy(float),
                "p_value": np.nan}))
        return pd.concat(parts, ignore_index=True)
    raise ValueError(f"unknown model {model!r}")  # unreachable after validation


def _sim_seed(seed: int, sim: int) -> np.random.SeedSequence:
    """Simulation ``sim``'s seed: the same as ``SeedSequence(seed).spawn(n)[sim]`` for any n."""
    return np.random.SeedSequence(seed, spawn_key=(sim,))


def _run_one(context: _Context, sim: int, *, strict: bool = False) -> pd.DataFrame:
    """Every estimator on simulation ``sim``: rows of ESTIMATE_COLUMNS without the targets."""
    declaration = context.declaration
    sample = _draw(context, np.random.default_rng(_sim_seed(context.seed, sim)))
    designs = _Designs(sample, declaration)
    parts = []
    for position, estimator in enumerate(declaration.estimators):
        start = time.perf_counter()
        error = ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rng = np.random.default_rng(np.random.SeedSequence(
                    context.seed, spawn_key=(sim, position + 1)))
                table = _estimate(estimator, designs, rng)
        except Exception as exc:  # a failed fit is a result (counted in n_failed), not a crash
            if strict:
                raise ValueError(f"estimator {estimator.name!r} failed on simulation {sim}: "
                                 f"{type(exc).__name__}: {exc}") from exc
            error = f"{type(exc).__name__}: {exc}"
            table = _from_tidy(pd.DataFrame(columns=["term", "estimate", "std_error", "ci_low",
                                                     "ci_high"]))
        seconds = time.perf_counter() - start
        if strict:
            missing = sorted(set(estimator.inquiries) - set(table["term"]))
            if missing:
                raise ValueError(
                    f"estimator {estimator.name!r}: term(s) {missing} are not in its output; "
                    f"its terms are {sorted(set(table['term']))}")
        for term, names in estimator.inquiries.items():
            rows = table[table["term"] == term]
            if error or rows.empty:
                rows = pd.DataFrame({"term": [term], "unit": [""], "kind": ["value"],
                                     "estimate": [np.nan], "std_error": [np.nan],
                                     "ci_low": [np.nan], "ci_high": [np.nan],
                                     "p_value": [np.nan]})
                message = error or f"term {term!r} not in the output"
            else:
                message = ""
            for name in names:
                parts.append(rows.assign(estimator=estimator.name, inquiry=name, error=message,
                                         seconds=seconds))
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "sim", np.int64(sim))
    return out


_WORKER_CONTEXT: _Context | None = None
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _single_threaded_children():
    """Worker processes started inside get one BLAS thread each (unless the user set the
    variables): the matrices are small, and two processes with two BLAS threads each on two
    cores run no faster than one. Workers are spawned (not forked) so that the variables take
    effect when their BLAS library loads."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _init_worker(context: _Context) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = context


def _run_chunk(sims: list[int]) -> pd.DataFrame:
    return pd.concat([_run_one(_WORKER_CONTEXT, s) for s in sims], ignore_index=True)


# ================================================================================================
# Targets
# ================================================================================================

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
            raise ValueError(f"inquiry {inquiry.name!r}: province_effects has no column "
                             f"{column!r}; columns: {sorted(table.columns)}")
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
            on_frame = dataclasses.replace(estimator, design_based=True, n_boot=0,
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


def _attach_targets(rows: pd.DataFrame, target_table: pd.DataFrame) -> pd.DataFrame:
    merged = rows.merge(target_table[["inquiry", "unit", "target", "target_se"]],
                        on=["inquiry", "unit"], how="left", sort=False)
    return merged[ESTIMATE_COLUMNS]


# ================================================================================================
# Diagnosis: simulate, store, score
# ================================================================================================

@dataclass(frozen=True)
class Diagnosis:
    """The result of :func:`diagnose`.

    diagnosands: one row per estimator x inquiry (:func:`diagnosands` names the columns).
    estimates: every simulated estimate (ESTIMATE_COLUMNS), sims 0 .. n_sims - 1.
    targets: the true answers (:func:`targets`).
    costs: ``estimator, seconds_per_sim`` (mean fitting time per simulation; an index shared
        by index and rank estimators is charged to the first that needs it).
    n_sims, seed, store (directory or None), seconds (wall time of this call), n_computed
    (simulations computed by this call; the rest came from the store).
    """

    declaration: Declaration
    diagnosands: pd.DataFrame
    estimates: pd.DataFrame
    targets: pd.DataFrame
    costs: pd.DataFrame
    n_sims: int
    seed: int
    store: Path | None
    seconds: float
    n_computed: int


def _check_run(n_sims, seed, jobs):
    problems = []
    if isinstance(n_sims, bool) or not isinstance(n_sims, (int, np.integer)) or n_sims < 1:
        problems.append(f"n_sims must be a positive whole number, got {n_sims!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        problems.append(f"seed must be a non-negative whole number, got {seed!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        problems.append(f"jobs must be a positive whole number, got {jobs!r}")
    if problems:
        raise ValueError("; ".join(problems))


class _Store:
    """A directory of Parquet chunks of estimates, written atomically, with a manifest that ties
    it to one declaration and seed."""

    def __init__(self, path, declaration: Declaration, seed: int):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = {"version": _STORE_VERSION, "fingerprint": declaration.fingerprint(),
                    "seed": int(seed)}
        manifest_path = self.path / "manifest.json"
        if manifest_path.exists():
            stored = json.loads(manifest_path.read_text(encoding="utf-8"))
            if stored != manifest:
                raise ValueError(
                    f"the store {str(self.path)!r} holds a diagnosis of another declaration or "
                    f"seed (stored {stored}, now {manifest}); use another store or delete it")
        else:
            self._write_text(manifest_path, json.dumps(manifest, indent=2))

    @staticmethod
    def _write_text(path: Path, text: str):
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    @staticmethod
    def _write_parquet(path: Path, table: pd.DataFrame):
        tmp = path.with_name("." + path.name + ".tmp")
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)   # atomic: a chunk is either whole or absent

    def parts(self) -> list[Path]:
        return sorted(self.path.glob("estimates-*.parquet"))

    def done(self) -> set[int]:
        sims = set()
        for part in self.parts():
            sims.update(pd.read_parquet(part, columns=["sim"])["sim"].tolist())
        return sims

    def write(self, table: pd.DataFrame):
        first, last = int(table["sim"].min()), int(table["sim"].max())
        self._write_parquet(self.path / f"estimates-{first:07d}-{last:07d}.parquet", table)

    def read(self) -> pd.DataFrame:
        return _read_parts(self.parts())

    def targets(self) -> pd.DataFrame | None:
        path = self.path / "targets.parquet"
        return pd.read_parquet(path) if path.exists() else None

    def write_targets(self, table: pd.DataFrame):
        self._write_parquet(self.path / "targets.parquet", table)


def _sorted_estimates(table: pd.DataFrame, n_sims: int) -> pd.DataFrame:
    table = table[table["sim"] < n_sims]
    # within a simulation rows keep the order the estimators produced them
    return table.sort_values("sim", kind="stable").reset_index(drop=True)[ESTIMATE_COLUMNS]


def diagnose(declaration: Declaration, *, n_sims: int, seed: int, jobs: int = 1, store=None,
             progress: bool = False, n_boot: int = 500, alpha: float = 0.05) -> Diagnosis:
    """Simulate ``declaration`` ``n_sims`` times, fit every estimator, score them.

    Simulation ``i`` is seeded by ``numpy.random.SeedSequence(seed).spawn(n_sims)[i]``, so the
    same seed gives the same estimates whatever ``jobs`` is and however the run was split.
    ``jobs`` > 1 runs chunks of simulations in that many worker processes
    (``ProcessPoolExecutor``, started with "spawn" and one BLAS thread each, so a script calling
    this needs the usual ``if __name__ == "__main__":`` guard; notebooks need nothing).
    Interrupted (KeyboardInterrupt), the workers are stopped at once and the error re-raised.

    ``store``: a directory that keeps every estimate (Parquet chunks ``estimates-*.parquet``
    written atomically as they finish, ``targets.parquet`` and ``manifest.json``). A run into
    an existing store computes only the simulations it lacks (an interrupted run continues; a
    larger ``n_sims`` extends it); a store of another declaration or seed is refused. Without a
    store, nothing is written.

    Before anything runs in parallel, simulation 0 (unless stored) is run here with errors
    raised, so a mistake in the declaration (a bad formula, a term no estimator produces) stops
    the run with its message instead of filling the store with failures. Later failures (a fit
    that does not converge) are kept as rows with ``error`` set and counted in ``n_failed``.

    Returns a :class:`Diagnosis`; ``diagnosands`` as :func:`diagnosands` (``n_boot``, ``alpha``).
    """
    _check_run(n_sims, seed, jobs)
    start = time.perf_counter()
    context = _context(declaration, int(seed))
    box = _Store(store, declaration, seed) if store is not None else None
    target_table = box.targets() if box is not None else None
    if target_table is None:
        target_table = _targets(context)
        if box is not None:
            box.write_targets(target_table)

    done = box.done() if box is not None else set()
    todo = [s for s in range(n_sims) if s not in done]
    n_todo = len(todo)
    collected = []

    def keep(rows: pd.DataFrame):
        rows = _attach_targets(rows, target_table)
        if box is not None:
            box.write(rows)
        else:
            collected.append(rows)

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc=f"diagnosing {declaration.name}", unit="sim")
    if todo and todo[0] == 0:   # the declaration check (see the docstring)
        keep(_run_one(context, 0, strict=True))
        todo = todo[1:]
        if bar is not None:
            bar.update(1)
    chunk = max(1, min(25, math.ceil(len(todo) / (4 * jobs)))) if todo else 1
    chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    try:
        if jobs == 1:
            _init_worker(context)
            for sims in chunks:
                keep(_run_chunk(sims))
                if bar is not None:
                    bar.update(len(sims))
        elif chunks:
            with _single_threaded_children():
                pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                                           initargs=(context,),
                                           mp_context=multiprocessing.get_context("spawn"))
                try:
                    pending = {pool.submit(_run_chunk, sims): sims for sims in chunks}
                    while pending:
                        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in finished:
                            sims = pending.pop(future)
                            keep(future.result())
                            if bar is not None:
                                bar.update(len(sims))
                except BaseException:
                    # interrupted or failed: stop the workers now (the chunks already written
                    # stay); the executor has no public way to end running tasks
                    for process in list(getattr(pool, "_processes", {}).values()):
                        process.terminate()
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                pool.shutdown()
    finally:
        if bar is not None:
            bar.close()

    if box is not None:
        estimates = box.read()
    else:
        estimates = (pd.concat(collected, ignore_index=True) if collected
                     else pd.DataFrame(columns=ESTIMATE_COLUMNS))
    estimates = _sorted_estimates(estimates, n_sims)
    table = diagnosands(estimates, n_boot=n_boot, alpha=alpha)
    per_sim = estimates.drop_duplicates(["sim", "estimator"])
    costs = (per_sim.groupby("estimator", sort=False)["seconds"].mean()
             .rename("seconds_per_sim").reset_index())
    return Diagnosis(declaration=declaration, diagnosands=table, estimates=estimates,
                     targets=target_table, costs=costs, n_sims=n_sims, seed=int(seed),
                     store=box.path if box is not None else None,
                     seconds=time.perf_counter() - start, n_computed=n_todo)


def read_estimates(store) -> pd.DataFrame:
    """Every estimate kept in a store directory (ESTIMATE_COLUMNS), sorted by simulation."""
    path = Path(store)
    if not (path / "manifest.json").exists():
        raise ValueError(f"{str(path)!r} is not a diagnosis store (no manifest.json)")
    return _sorted_estimates(_read_parts(sorted(path.glob("estimates-*.parquet"))), np.inf)


def _read_parts(parts: list[Path]) -> pd.DataFrame:
    """Concatenate chunks; a simulation found in two chunks (two runs into one store at the
    same time compute the same simulations, identically) is taken from the first only."""
    if not parts:
        return pd.DataFrame(columns=ESTIMATE_COLUMNS)
    tables = [pd.read_parquet(p).assign(_part=i) for i, p in enumerate(parts)]
    table = pd.concat(tables, ignore_index=True)
    first = table.groupby("sim")["_part"].transform("min")
    return table[table["_part"] == first].drop(columns="_part").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# Diagnosands
# ------------------------------------------------------------------------------------------------

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


def diagnosands(estimates: pd.DataFrame, *, n_boot: int = 500, alpha: float = 0.05,
                seed: int = 0) -> pd.DataFrame:
    """Diagnosands per estimator x inquiry from a table of simulated estimates (the
    ``estimates`` of a :class:`Diagnosis`, or :func:`read_estimates` of a store), without
    simulating again. Definitions in the module docstring.

    Rows without a finite estimate and target are left out (failed fits: ``n_failed``).
    ``*_mc_se``: standard deviation over ``n_boot`` bootstrap resamples of whole simulations
    (seeded by ``seed``, so the same table gives the same numbers); ``bias_mc_se`` adds the
    target's own error in quadrature.

    Returns columns: estimator, inquiry, kind ("value" | "rank"), n_sims (simulations with an
    estimate), n_failed, n_units, target (mean over units), target_se (a unit's target error:
    root mean square over units), mean_estimate, then each of DIAGNOSANDS followed by its
    ``_mc_se``. ``bias_mc_se`` includes the error of the mean target, target_se / sqrt(units)
    (units' target errors taken as independent).
    """
    missing = sorted(set(ESTIMATE_COLUMNS) - {"seconds", "error"} - set(estimates.columns))
    if missing:
        raise ValueError(f"estimates lack column(s) {missing}")
    rng = np.random.default_rng(seed)
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
        if n_boot and n_sims > 1:
            counts = rng.multinomial(n_sims, np.full(n_sims, 1 / n_sims), size=n_boot)
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


# ================================================================================================
# Sample size from the simulated design effect
# ================================================================================================

@dataclass(frozen=True)
class SampleSize:
    """How precision grows with respondents per province, and the sizes that answer two
    questions (from :func:`sample_size`).

    curve: ``respondents, se_same_psus, se_more_psus, power_same_psus, power_more_psus,
        reliability_same_psus, reliability_more_psus``: the SE of a province index (pp) when
        the extra respondents go into the same PSUs (cluster size grows) or into more PSUs of
        the same size; the power of telling apart two provinces whose indices differ by
        ``difference``; the reliability of the province indices (share of their variance that
        is true differences between provinces).
    psu_variance, respondent_variance: a and b of Var(n) = a + b / n fitted to the simulated
        variances (a = between-PSU part, which more respondents in the same PSUs cannot lower).
    between_sd: SD of the true province indices.
    respondents_for_difference, respondents_for_ranking: the smallest respondents per
        province (same PSUs) reaching the requested power / reliability (inf if a alone is too
        large: then only more PSUs help), and the same with more PSUs (``*_more_psus``).
    """

    curve: pd.DataFrame
    psu_variance: float
    respondent_variance: float
    between_sd: float
    respondents_for_difference: float
    respondents_for_ranking: float
    respondents_for_difference_more_psus: float
    respondents_for_ranking_more_psus: float
    difference: float
    power: float
    reliability: float


def sample_size(sd_by_size: pd.DataFrame, *, between_sd: float, difference: float = 3.0,
                power: float = 0.8, reliability: float = 0.9, level: float = 0.95,
                reference: int | None = None, sizes=None) -> SampleSize:
    """Respondents per province needed to tell two provinces apart and to rank them reliably.

    ``sd_by_size``: columns ``respondents`` and ``sd`` (the empirical SD over simulations of a
    province's index, pp, e.g. ``sd_estimate`` of diagnoses at several sample sizes with the
    same PSUs per province). Var(n) = a + b/n is fitted by least squares to the variances (the
    one-way cluster model: a = PSU variance / PSUs per province, b = respondent variance);
    with one size only, a = 0 (no design-effect growth assumed; say so).

    Two provinces sampled independently differ by ``difference`` pp; a two-sided test at
    1 - ``level`` has power ``power`` when sqrt(2 Var(n)) <= difference / (z_{1-alpha/2} +
    z_power). Ranking is reliable when Var_true / (Var_true + Var(n)) >= ``reliability``
    (``between_sd``² = Var_true); the expected correlation of estimated and true indices is
    then sqrt(reliability). "More PSUs" keeps the cluster size of ``reference`` respondents
    (default the smallest simulated size) and adds PSUs: Var(n) = Var(ref) * ref / n.
    """
    table = sd_by_size[["respondents", "sd"]].dropna()
    n = table["respondents"].to_numpy(float)
    var = table["sd"].to_numpy(float) ** 2
    if len(table) >= 2:
        X = np.column_stack([np.ones_like(n), 1 / n])
        a, b = np.linalg.lstsq(X, var, rcond=None)[0]
        a, b = max(a, 0.0), max(b, 0.0)
    elif len(table) == 1:
        a, b = 0.0, float(var[0] * n[0])
    else:
        raise ValueError("sd_by_size has no rows with a respondents count and an sd")
    reference = float(reference or n.min())
    var_ref = a + b / reference
    z = stats.norm.ppf(0.5 + level / 2) + stats.norm.ppf(power)
    var_needed_diff = (difference / z) ** 2 / 2
    var_needed_rank = between_sd ** 2 * (1 - reliability) / reliability

    def same_psus(var_needed):
        return b / (var_needed - a) if var_needed > a else math.inf

    def more_psus(var_needed):
        return var_ref * reference / var_needed

    sizes = np.asarray(sizes if sizes is not None else
                       np.unique(np.r_[np.linspace(100, 3000, 59), n]), dtype=float)
    var_same = a + b / sizes
    var_more = var_ref * reference / sizes
    crit = stats.norm.ppf(0.5 + level / 2)

    def power_of(variance):
        shift = difference / np.sqrt(2 * variance)
        return stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift)

    curve = pd.DataFrame({
        "respondents": sizes, "se_same_psus": np.sqrt(var_same),
        "se_more_psus": np.sqrt(var_more),
        "power_same_psus": power_of(var_same), "power_more_psus": power_of(var_more),
        "reliability_same_psus": between_sd ** 2 / (between_sd ** 2 + var_same),
        "reliability_more_psus": between_sd ** 2 / (between_sd ** 2 + var_more)})
    return SampleSize(curve=curve, psu_variance=float(a), respondent_variance=float(b),
                      between_sd=float(between_sd),
                      respondents_for_difference=same_psus(var_needed_diff),
                      respondents_for_ranking=same_psus(var_needed_rank),
                      respondents_for_difference_more_psus=more_psus(var_needed_diff),
                      respondents_for_ranking_more_psus=more_psus(var_needed_rank),
                      difference=difference, power=power, reliability=reliability)


# ================================================================================================
# Predictive checks: cluster-aware cross-validation
# ================================================================================================

def cv_folds(data: pd.DataFrame, *, scheme: str = "province", k: int = 5, cluster="psu",
             group: str = "province_code", seed=0) -> np.ndarray:
    """Fold number (0 ..) of every row.

    ``scheme="province"``: leave one ``group`` out (one fold per province). ``"kfold"``: whole
    clusters (``cluster``: a column or a list of columns identifying a PSU, e.g.
    ``["stratum", "psu"]`` when PSU ids repeat across strata) are assigned at random to ``k``
    folds of nearly equal numbers of clusters, so no PSU is split between training and test.
    """
    if scheme == "province":
        if group not in data:
            raise ValueError(f"group column {group!r} is not in the data")
        return pd.factorize(data[group], sort=True)[0].astype(np.int64)
    if scheme != "kfold":
        raise ValueError(f"scheme must be 'province' or 'kfold', got {scheme!r}")
    columns = [cluster] if isinstance(cluster, str) else list(cluster)
    missing = [c for c in columns if c not in data]
    if missing:
        raise ValueError(f"cluster column(s) {missing} not in the data")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be a whole number of at least 2, got {k!r}")
    codes = pd.MultiIndex.from_frame(data[columns].astype(str)).factorize()[0] \
        if len(columns) > 1 else pd.factorize(data[columns[0]])[0]
    n_clusters = int(codes.max()) + 1
    if n_clusters < k:
        raise ValueError(f"{n_clusters} clusters cannot fill {k} folds")
    rng = np.random.default_rng(seed)
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
    if weights is not None and weights not in data:
        raise ValueError(f"weights column {weights!r} is not in the data")
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
                beta = _irls_logit(Xtr, ytr, wtr)[0]
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


# ================================================================================================
# Figures (Axes in, Axes out: nothing shown or saved)
# ================================================================================================

_REFERENCE_LINES = {"coverage": 0.95, "bias": 0.0, "se_calibration": 1.0, "spearman": 1.0,
                    "spread_ratio": 1.0}


def plot_diagnosand(table: pd.DataFrame, *, diagnosand: str = "coverage", label=None,
                    reference: float | None = None, ax=None):
    """One diagnosand per estimator x inquiry as points with +-1.96 Monte Carlo SE bars; a
    dashed line at the right value (0.95 for coverage, 0 for bias, 1 for se_calibration)."""
    import matplotlib.pyplot as plt
    if diagnosand not in DIAGNOSANDS:
        raise ValueError(f"diagnosand must be one of {DIAGNOSANDS}, got {diagnosand!r}")
    ax = ax or plt.gca()
    part = table[np.isfinite(table[diagnosand].to_numpy(float))]
    labels = (part[label] if label is not None
              else part["estimator"] + " · " + part["inquiry"]).astype(str).to_numpy()
    y = np.arange(len(part))[::-1]
    ax.errorbar(part[diagnosand], y, xerr=1.96 * part[f"{diagnosand}_mc_se"].fillna(0),
                fmt="o", color="C0", ecolor="0.5", capsize=3)
    reference = _REFERENCE_LINES.get(diagnosand) if reference is None else reference
    if reference is not None:
        ax.axvline(reference, color="C3", linestyle="--", linewidth=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel(diagnosand.replace("_", " "))
    return ax


def plot_recovery(recovery: pd.DataFrame, *, ax=None):
    """Mean estimate over simulations against the target, one point per unit, with the
    45-degree line (points flatter than it: shrinkage). ``recovery``: :func:`unit_recovery`."""
    import matplotlib.pyplot as plt
    ax = ax or plt.gca()
    ax.errorbar(recovery["target"], recovery["mean_estimate"], yerr=recovery["sd_estimate"],
                fmt="o", markersize=4, color="C0", ecolor="0.75", alpha=0.9)
    low = float(np.nanmin(recovery[["target", "mean_estimate"]].to_numpy()))
    high = float(np.nanmax(recovery[["target", "mean_estimate"]].to_numpy()))
    ax.plot([low, high], [low, high], color="C3", linestyle="--", linewidth=1)
    ax.set_xlabel("target (true value)")
    ax.set_ylabel("mean estimate over simulations (bars: SD)")
    return ax


# ================================================================================================
# Command line: `sipas evaluate CONFIG`
# ================================================================================================

SUMMARY_COLUMNS = ["estimator", "inquiry", "n_sims", "bias", "rmse", "coverage",
                   "se_calibration", "power", "spearman"]


def cli_evaluate(config_path, *, out=None, n_sims=None, jobs=None, seed=None,
                 progress=True) -> int:
    """What ``sipas evaluate CONFIG`` does: read the declaration, diagnose it into a resumable
    output folder, print a summary, return the exit status (0).

    Settings come from the arguments, else the file's ``run:`` section, else n_sims 100, seed
    0, jobs 1, out ``data/processed/evaluation/<file stem>``. The folder holds the store
    (``estimates-*.parquet``, ``targets.parquet``, ``manifest.json``), ``declaration.json`` and
    ``diagnosands.csv``. Interrupted (Ctrl-C), the chunks finished so far stay; the same command
    continues. User mistakes raise ValueError with the message to show.
    """
    declaration = Declaration.from_yaml(config_path)
    run = declaration.run
    n_sims = n_sims if n_sims is not None else run.get("n_sims", 100)
    seed = seed if seed is not None else run.get("seed", 0)
    jobs = jobs if jobs is not None else run.get("jobs", 1)
    out = Path(out if out is not None else run.get(
        "out", Path("data/processed/evaluation") / Path(config_path).stem))
    _check_run(n_sims, seed, jobs)
    print(f"Diagnosing {declaration.name!r}: {n_sims} simulations, seed {seed}, {jobs} job(s), "
          f"into {out}")
    result = diagnose(declaration, n_sims=int(n_sims), seed=int(seed), jobs=int(jobs),
                      store=out, progress=progress)
    (out / "declaration.json").write_text(json.dumps(declaration.to_dict(), indent=2,
                                                     default=str), encoding="utf-8")
    result.diagnosands.to_csv(out / "diagnosands.csv", index=False)
    summary = result.diagnosands[SUMMARY_COLUMNS].copy()
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):
        print(summary.to_string(index=False))
    failed = result.diagnosands.loc[result.diagnosands["n_failed"] > 0,
                                    ["estimator", "inquiry", "n_failed"]]
    for row in failed.itertuples(index=False):
        print(f"note: {row.estimator} failed on {row.n_failed} simulation(s) for {row.inquiry}")
    print(f"{result.n_computed} simulation(s) computed, {n_sims - result.n_computed} read from "
          f"the store, {result.seconds:.1f} s. Diagnosands: {out / 'diagnosands.csv'}")
    return 0
