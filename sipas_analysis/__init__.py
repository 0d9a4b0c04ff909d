"""SIPAS research workbench: survey statistics for Vietnam's index of citizens' satisfaction
with public administrative services.

``import sipas_analysis as sa`` gives the whole workflow, in the order of the flow in docs/architecture.md:

- reference data: ``sa.normalise_province``, ``sa.to_2025_units``, ``sa.reference.provinces``
- the data contract: ``sa.validate_survey``, ``sa.missing_summary``; a table that lacks
  columns a function needs raises ``sa.MissingColumnError``
- real files: ``sa.load_papi``, ``sa.load_pci``, ``sa.load_published_sipas``, ``sa.load_survey``;
  a province's own survey through its codebook: ``sa.Codebook``, ``sa.load_survey(path,
  codebook=...)``
- synthetic data with a known truth: ``sa.simulate_survey``, ``sa.demo_survey``
- design-based estimation: ``sa.SurveyDesign``; proportion intervals as R's ``svyciprop``:
  ``sa.proportion_interval``
- the index rule (which answers count as satisfied): ``sa.IndexRule``, ``sa.index_rule``
- the index: ``sa.sipas_index``, ``sa.compare_indices``, ``sa.rank_units``, ``sa.tau_best``,
  ``sa.rank_group_probabilities``
- skipped ratings: ``sa.impute_ratings`` (multiple imputation, ``sa.MultipleImputation``),
  Rubin's rules ``sa.pool_imputations`` (``sa.imputation.pool_scalar``)
- design diagnosis: ``sa.evaluate.Declaration``, ``sa.evaluate.diagnose``
- driver models: ``sa.fit_linear``, ``sa.fit_logit``, ``sa.fit_ordinal``,
  ``sa.fit_multilevel``, ``sa.fit_panel``, ``sa.tidy``, ``sa.glance``,
  ``sa.relative_importance``, ``sa.ipa_table``
- data quality: ``sa.quality_flags``, ``sa.quality_summary``, ``sa.exclude_flagged``,
  ``sa.write_quality_report``
"""
from importlib.metadata import PackageNotFoundError, version

from . import (batch, codebook, design, evaluate, imputation, index_rule, indices, intervals, io,
               language, models, plots, reference, report, schema, simulate)
from .codebook import Codebook, CodebookError
from .index_rule import IndexRule
from .design import ReplicateDesign, SurveyDesign
from .indices import (compare_indices, rank_group_probabilities, rank_units,  # noqa: F401
                      sipas_index, tau_best)
from .imputation import MultipleImputation, impute_ratings
from .imputation import pool as pool_imputations
from .intervals import proportion_interval
from .io import load_papi, load_pci, load_published_sipas, load_survey
from .models import (average_marginal_effects, fit_linear, fit_logit, fit_multilevel,
                     fit_ordinal, fit_panel, glance, parallel_lines_test, tidy)
from .models.importance import ipa_table, relative_importance
from .reference import normalise_province, normalise_provinces, to_2025_units
from .schema import (MissingColumnError, SurveyValidationError, missing_summary,
                     validate_survey)
from .simulate import Truth, SamplingPlan, demo_survey, simulate_survey
from . import quality
from .quality import exclude_flagged, quality_flags, quality_summary, write_quality_report
from .small_area import fay_herriot, small_area_index
from .design_tests import Estimates, SurveyTest, domain_estimates, svychisq, svycontrast, svytable, svyttest  # noqa: F401,E501

try:
    __version__ = version("sipas-analysis")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "Codebook", "CodebookError", "IndexRule", "MissingColumnError", "ReplicateDesign", "SamplingPlan", "SurveyDesign", "SurveyValidationError",
    "Truth",
    "average_marginal_effects", "batch", "codebook", "compare_indices", "demo_survey", "design", "evaluate", "fit_linear",
    "fay_herriot", "fit_logit", "fit_multilevel", "fit_ordinal", "fit_panel", "glance", "indices", "intervals", "io",
    "index_rule", "ipa_table", "language", "load_papi", "load_pci", "load_published_sipas", "load_survey",
    "missing_summary", "models", "normalise_province", "normalise_provinces",
    "parallel_lines_test", "plots", "proportion_interval", "rank_group_probabilities", "rank_units", "reference",
    "relative_importance", "report", "schema", "simulate", "simulate_survey", "sipas_index", "small_area_index", "tau_best",
    "tidy", "to_2025_units", "validate_survey",
]
__all__ += ["Estimates", "SurveyTest", "domain_estimates", "svychisq", "svycontrast", "svytable", "svyttest"]
__all__ += ["MultipleImputation", "imputation", "impute_ratings", "pool_imputations"]
__all__ += ["exclude_flagged", "quality", "quality_flags", "quality_summary",
            "write_quality_report"]
