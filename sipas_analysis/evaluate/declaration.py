"""Declaring a study: the truth, the sampling, the inquiries and the estimators.

A :class:`Declaration` is checked once, when it is made: every unknown key and every invalid value
is named in one ValueError, so that a mistake stops a diagnosis before anything is simulated.
Nothing is simulated here. What an inquiry's ``target`` means is in
:mod:`sipas_analysis.evaluate.inquiry_targets`; what an estimator's ``model``, ``weighted`` and
``design_based`` mean is in :mod:`sipas_analysis.evaluate.estimators`.

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
simultaneous, level, n_reps, description`` (``n_boot``: the deprecated name of ``n_reps``,
accepted with a DeprecationWarning). Unknown keys are refused, each one named.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sipas_analysis import files, resources, simulate
from sipas_analysis._deprecation import renamed_keyword

TARGET_KINDS = ("superpopulation", "finite_population", "census")
MODELS = ("linear", "logit", "ordinal", "multilevel", "mean", "index", "rank", "importance")

_INQUIRY_KEYS = {"target", "parameter", "value", "rank", "quantity", "term", "by", "estimator",
                 "description"}
_ESTIMATOR_KEYS = {"model", "formula", "weighted", "design_based", "inquiries", "by", "groups",
                   "re_formula", "n_draws", "simultaneous", "level", "n_reps", "n_boot",
                   "description"}
_TOP_KEYS = {"name", "description", "years", "truth", "sampling", "population", "run",
             "inquiries", "estimators", "design_columns", "lonely_psu", "sampler",
             "population_sampler"}
_RUN_KEYS = {"n_sims", "seed", "jobs", "out"}
_POPULATION_KEYS = {"size", "seed"}
# The example declarations (params/evaluation, shipped with the package; `sipas evaluate`
# takes any path)
EVALUATION_PARAMS = resources.params_dir() / "evaluation"


@dataclass(frozen=True)
class Inquiry:
    """A question and where its true answer comes from (the kinds of target:
    :mod:`sipas_analysis.evaluate.inquiry_targets`)."""

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
    inquiries (``inquiries``: term -> tuple of inquiry names). The models and what each gives:
    :mod:`sipas_analysis.evaluate.estimators`."""

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
    n_reps: int = 0
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
            out["n_reps"] = self.n_reps
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
    """A study: truth, sampling, inquiries and estimators (:mod:`sipas_analysis.evaluate`).

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
        path = Path(path)
        if not path.exists():
            raise ValueError(f"declaration file {str(path)!r} does not exist")
        # plain data only: anchors, aliases and object tags are refused with the file's path
        content = files.load_yaml(path)
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
        if label == "estimator" and "n_boot" in spec:
            spec["n_reps"] = renamed_keyword(spec.get("n_reps"), spec.pop("n_boot"),
                                             new="n_reps", old="n_boot",
                                             function=f"estimator {name!r}", default=0)
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
