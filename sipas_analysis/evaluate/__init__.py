"""Design diagnosis: declare a study, simulate it many times, and score every estimator.

This is the workbench a methodologist uses to choose a sample size or a model and to defend the
choice (R's DeclareDesign is the model). A study is a :class:`Declaration`:

- **truth**: the true model (:class:`~sipas_analysis.simulate.Truth`, or overrides of its fields);
- **sampling**: the sampling plan (:class:`~sipas_analysis.simulate.SamplingPlan`, or overrides);
- **inquiries**: the questions, each with its true answer (the *target*);
- **estimators**: the answer strategies, including deliberately naive ones.

:func:`diagnose` draws ``n_sims`` samples, fits every estimator to each, keeps every estimate
(Parquet, so that a new diagnosand needs no new simulation: :func:`diagnosands`), and returns one
row of diagnosands per estimator x inquiry.

The modules, each importing only those listed below it (import-linter checks it):

- ``run``: :func:`diagnose` and :class:`Diagnosis`, the store of estimates, :func:`read_estimates`;
- ``inquiry_targets``: :func:`targets`, the true answer of every inquiry (what each kind of
  target means, and the simulated population that finite-population targets are computed on);
- ``scoring``: :func:`diagnosands` (the definition of every diagnosand), :func:`diagnosands_long`,
  :func:`unit_recovery`, :func:`shrinkage`;
- ``simulation``: one simulation (draw a sample, fit every estimator) and the worker processes;
- ``estimators``: fitting one estimator to one data set (every ``model``, and what ``weighted``
  and ``design_based`` mean);
- ``declaration``: :class:`Declaration`, :class:`Inquiry`, :class:`Estimator` and the YAML file;
- ``sizing``: :func:`sample_size` from the SDs that diagnoses at a few sizes measured;
- ``cross_validation``: :func:`cv_folds` and :func:`cross_validate`, out-of-sample comparison of
  model specifications with whole provinces or PSUs held out.

The figures of a diagnosis are :func:`sipas_analysis.plots.plot_diagnosand` and
:func:`sipas_analysis.plots.plot_recovery`; ``sipas evaluate CONFIG`` is
:func:`sipas_analysis.cli.cli_evaluate`.
"""
from sipas_analysis.evaluate.cross_validation import CV_COLUMNS, cross_validate, cv_folds
from sipas_analysis.evaluate.declaration import (EVALUATION_PARAMS, MODELS, TARGET_KINDS,
                                                 Declaration, Estimator, Inquiry)
from sipas_analysis.evaluate.inquiry_targets import TARGET_COLUMNS, targets
from sipas_analysis.evaluate.run import Diagnosis, diagnose, read_estimates
from sipas_analysis.evaluate.scoring import (DIAGNOSANDS, diagnosands, diagnosands_long,
                                             shrinkage, unit_recovery)
from sipas_analysis.evaluate.simulation import ESTIMATE_COLUMNS
from sipas_analysis.evaluate.sizing import SampleSize, sample_size

__all__ = [
    "CV_COLUMNS", "DIAGNOSANDS", "ESTIMATE_COLUMNS", "EVALUATION_PARAMS", "MODELS",
    "TARGET_COLUMNS", "TARGET_KINDS", "Declaration", "Diagnosis", "Estimator", "Inquiry",
    "SampleSize", "cross_validate", "cv_folds", "diagnosands", "diagnosands_long", "diagnose",
    "read_estimates", "sample_size", "shrinkage", "targets", "unit_recovery",
]
