"""Running a diagnosis: every simulation, here or in worker processes, into a resumable store.

:func:`diagnose` computes the targets, runs the simulations (in chunks; in this process or in
``jobs`` spawned worker processes), attaches the targets to every estimate, keeps the estimates
(in memory, or in a store directory of Parquet chunks written atomically) and scores them
(:mod:`sipas_analysis.evaluate.scoring`). A store is tied to one declaration and seed by its
manifest, so a run into it computes only the simulations it lacks.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sipas_analysis._deprecation import renamed_keyword
from sipas_analysis.evaluate.declaration import Declaration
from sipas_analysis.evaluate.inquiry_targets import _targets
from sipas_analysis.evaluate.scoring import diagnosands
from sipas_analysis.evaluate.simulation import (ESTIMATE_COLUMNS, _context, _init_worker,
                                                _run_chunk, _run_one, _single_threaded_children)

_STORE_VERSION = 1


def _attach_targets(rows: pd.DataFrame, target_table: pd.DataFrame) -> pd.DataFrame:
    merged = rows.merge(target_table[["inquiry", "unit", "target", "target_se"]],
                        on=["inquiry", "unit"], how="left", sort=False)
    return merged[ESTIMATE_COLUMNS]


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
             progress: bool = False, n_reps: int = 500, alpha: float = 0.05,
             n_boot: int | None = None) -> Diagnosis:
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

    Returns a :class:`Diagnosis`; ``diagnosands`` as :func:`diagnosands` (``n_reps``, ``alpha``;
    ``n_boot`` is the deprecated name of ``n_reps``).
    """
    n_reps = renamed_keyword(n_reps, n_boot, new="n_reps", old="n_boot", function="diagnose",
                             default=500)
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
    table = diagnosands(estimates, n_reps=n_reps, alpha=alpha)
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
