"""Driver models: what moves satisfaction, with standard errors that respect the design.

- ``regression``: survey-weighted linear, logit and proportional-odds models (design-based
  sandwich variance, as R's svyglm/svyolr), odds ratios, average marginal effects, the
  parallel-lines test;
- ``multilevel``: province random intercepts and slopes, unweighted REML or survey-weighted
  pseudo-maximum likelihood (said in every result);
- ``panel``: province and year fixed effects with province-clustered errors for PAPI/PCI;
- ``importance``: relative importance (LMG) with Rao-Wu bootstrap, dominance, IPA tables;
- ``results``: ``ModelResult``, ``tidy`` and ``glance``.
"""
from .multilevel import fit_multilevel
from .panel import fit_panel
from .regression import (average_marginal_effects, fit_linear, fit_logit, fit_ordinal,
                         parallel_lines_test)
from .results import ModelResult, glance, tidy

__all__ = ["ModelResult", "average_marginal_effects", "fit_linear", "fit_logit",
           "fit_multilevel", "fit_ordinal", "fit_panel", "glance", "parallel_lines_test", "tidy"]
