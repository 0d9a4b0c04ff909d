"""Incremental runs: what each unit's report depends on (:func:`unit_inputs`, from
:func:`notebook_fingerprint`, the data file's hash, the package source and the unit's
parameters), why a unit must run again (:func:`rerun_reason`), from the record in the unit's
folder (what the files there were built from; a skipped unit's result is read back from it) and
the previous manifest (how the unit's last attempt went).
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
# An in-province unit's report also depends on the codebook that reads the file (its PAR rule
# included): its hash is a fifth input, recorded only for those reports; so are the hashes of a
# previous survey file and of its own codebook, when the batch is given them.
INPUT_REASONS = (("params", "params changed"), ("data", "data changed"),
                 ("codebook", "codebook changed"), ("previous", "previous survey changed"),
                 ("previous_codebook", "previous codebook changed"),
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
                package: str, codebook_hash: str | None = None,
                previous_hash: str | None = None,
                previous_codebook_hash: str | None = None) -> dict:
    """The fingerprints a unit's report depends on: ``params`` (its parameters, without where
    the workbook goes, and the text of its params file), ``data``, ``notebook``, ``package``
    and, for a survey read through a codebook, ``codebook``; with a previous survey file,
    ``previous`` (and ``previous_codebook`` when it has its own)."""
    shown = {k: v for k, v in parameters.items() if k != "tables_path"}
    inputs = {"params": _digest([shown, params_text]), "data": data_hash,
              "notebook": notebook_hash, "package": package}
    if codebook_hash is not None:
        inputs["codebook"] = codebook_hash
    if previous_hash is not None:
        inputs["previous"] = previous_hash
    if previous_codebook_hash is not None:
        inputs["previous_codebook"] = previous_codebook_hash
    return inputs


def rerun_reason(record: dict | None, inputs: dict, *, year_dir: Path,
                 force: bool = False, last: dict | None = None) -> str | None:
    """Why a unit must run, or None when its report is up to date: "forced", "new", "previous
    failure", "params changed", "data changed", "notebook changed", "package changed" (several
    joined by ", "), "no record" or "outputs missing".

    ``record`` is the record in the unit's folder (:data:`~.unit.UNIT_RECORD`: what the files
    there were built from), ``last`` the unit's entry in the previous manifest (its last
    attempt, which may have failed while an older report was kept). A unit is up to date only
    when its folder's record is a success whose inputs are today's and whose outputs are all
    there, and its last attempt did not fail."""
    if force:
        return "forced"
    if record is None:
        return "new" if last is None else "no record"
    if record.get("status") != "ok" or (last is not None and last.get("status") != "ok"):
        return "previous failure"
    old = record.get("inputs") or {}
    changed = [label for name, label in INPUT_REASONS
               if (name in inputs or name in old) and old.get(name) != inputs.get(name)]
    if changed:
        return ", ".join(changed)
    outputs = record.get("outputs") or []
    if not outputs or not all((year_dir / output).is_file() for output in outputs):
        return "outputs missing"
    return None


def _previous_manifest(year_dir: Path) -> dict:
    try:
        return json.loads((year_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _result_from_record(record: dict) -> UnitResult:
    """The result of a unit that did not run, read back from the record in its folder."""
    names = {f.name for f in dataclasses.fields(UnitResult)}
    values = {k: v for k, v in record.items() if k in names}
    return UnitResult(**values | {"seconds": 0.0, "skipped": "unchanged", "reason": "unchanged",
                                  "shown": None})
