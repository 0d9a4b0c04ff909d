"""One simulation of a declaration: draw a sample from the truth and fit every estimator to it.

Simulation ``sim`` of a run seeded ``seed`` draws its sample from
``SeedSequence(seed, spawn_key=(sim,))`` and fits its estimators with seeds spawned from that
(``spawn_key=(sim, position + 1)``), so a simulation gives the same rows in whichever process,
chunk or run it is computed. A run in several processes ships the resolved declaration (the
calibrated truth) to each worker once, and each worker runs chunks of simulations with it.

A simulation's rows are ESTIMATE_COLUMNS without the targets: one row per estimator x inquiry x
unit. A fit that fails is a row with ``error`` set, not a crash (except in strict mode, used on
the first simulation to stop a mistaken declaration at once).
"""
from __future__ import annotations

import contextlib
import importlib
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sipas_analysis import simulate
from sipas_analysis.evaluate.declaration import Declaration
from sipas_analysis.evaluate.estimators import _Designs, _estimate, _from_tidy

# The table of estimates of a diagnosis (and of its store); a simulation gives every column but
# target and target_se, which the run attaches
ESTIMATE_COLUMNS = ["sim", "estimator", "inquiry", "unit", "term", "kind", "estimate",
                    "std_error", "ci_low", "ci_high", "p_value", "target", "target_se", "error",
                    "seconds"]


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
