"""The batch's one exception for usage mistakes, below every other module of the package
(kernels, units, incremental runs, executors and the batch itself all raise it)."""
from __future__ import annotations


class BatchError(ValueError):
    """A mistake the user can fix (unknown unit, missing notebook, busy output folder)."""
