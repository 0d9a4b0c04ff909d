"""Seeded randomness: every random function takes ``seed`` and turns it into a Generator here.

Global numpy state is never used, so the same seed gives the same bytes wherever it is called.
"""
from __future__ import annotations

import numpy as np

Seed = int | np.random.Generator | None


def as_generator(seed: Seed) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for an int seed, or the Generator itself.

    ``None`` is refused on purpose: an unseeded run could not be reproduced.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ValueError("seed must be an int or a numpy.random.Generator, not None "
                         "(unseeded randomness cannot be reproduced)")
    if isinstance(seed, (bool,)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))
