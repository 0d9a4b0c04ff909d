"""Incremental runs: what each unit's report depends on (:func:`unit_inputs`, from
:func:`notebook_fingerprint`, the data file's hash, the package source and the unit's
parameters), why a unit must run again (:func:`rerun_reason`), and the previous manifest that
holds what the last run recorded (a skipped unit's result is read back from it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from .errors import BatchError
from .unit import UnitResult

# A unit's report is a function of its parameters (and its params file), the data, the notebook
# and the package; each is fingerprinted and the four fingerprints are the unit's inputs. Every
# report shows national ranks, so a change of data, notebook or package re-runs all units.
INPUT_REASONS = (("params", "params changed"), ("data", "data changed"),
                 ("notebook", "notebook changed"), ("package", "package changed"))


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str,
                                     ensure_ascii=False).encode()).hexdigest()[:16]


def notebook_fingerprint(path) -> str:
    """sha256 (16 hex digits) of what a notebook runs: each cell's type, source and tags, and
    its kernel. Outputs are left out, so re-executing the notebook in place (new outputs) is
    not a change, while any edit of a cell is."""
    # Plain JSON (nbformat 4): importing nbformat costs 1-2 s (its schema validator), which a
    # batch with nothing to do should not pay.
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    if nb.get("nbformat") != 4:
        raise BatchError(f"{path}: not a version 4 notebook (nbformat {nb.get('nbformat')!r})")

    def joined(source) -> str:
        return "".join(source) if isinstance(source, list) else source

    cells = [(c["cell_type"], joined(c["source"]), sorted(c.get("metadata", {}).get("tags", [])))
             for c in nb["cells"]]
    return _digest([nb.get("metadata", {}).get("kernelspec", {}).get("name"), cells])


def unit_inputs(parameters: dict, *, params_text: str, data_hash: str, notebook_hash: str,
                package: str) -> dict:
    """The fingerprints a unit's report depends on: ``params`` (its parameters, without where
    the workbook goes, and the text of its params file), ``data``, ``notebook``, ``package``."""
    shown = {k: v for k, v in parameters.items() if k != "tables_path"}
    return {"params": _digest([shown, params_text]), "data": data_hash,
            "notebook": notebook_hash, "package": package}


def rerun_reason(previous: dict | None, inputs: dict, *, year_dir: Path,
                 force: bool = False) -> str | None:
    """Why a unit must run, given its record in the previous manifest, or None when its report
    is up to date: "forced", "new", "previous failure", "params changed", "data changed",
    "notebook changed", "package changed" (several joined by ", ") or "outputs missing"."""
    if force:
        return "forced"
    if not previous:
        return "new"
    if previous.get("status") != "ok":
        return "previous failure"
    old = previous.get("inputs") or {}
    changed = [label for name, label in INPUT_REASONS if old.get(name) != inputs[name]]
    if changed:
        return ", ".join(changed)
    outputs = previous.get("outputs") or []
    if not outputs or not all((year_dir / output).is_file() for output in outputs):
        return "outputs missing"
    return None


def _previous_manifest(year_dir: Path) -> dict:
    try:
        return json.loads((year_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}



def _result_from_manifest(record: dict) -> UnitResult:
    names = {f.name for f in dataclasses.fields(UnitResult)}
    values = {k: v for k, v in record.items() if k in names}
    return UnitResult(**values | {"seconds": 0.0, "skipped": "unchanged", "reason": "unchanged"})
