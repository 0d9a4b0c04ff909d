"""Driver models: what moves satisfaction, with standard errors that respect the design."""
from .regression import (average_marginal_effects, fit_linear, fit_logit, fit_ordinal,
                         parallel_lines_test)
from .results import ModelResult, glance, tidy

__all__ = ["ModelResult", "average_marginal_effects", "fit_linear", "fit_logit", "fit_ordinal",
           "glance", "parallel_lines_test", "tidy"]
