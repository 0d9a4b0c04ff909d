"""The demo batch's outputs against a committed snapshot: two units in each language (the
HTML page, the executed notebook's outputs, the Excel workbook).

A change to the code's arrangement must leave every output as it was; a change that alters
outputs on purpose rewrites the snapshot in the same commit:

    SIPAS_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/test_output_snapshot.py

The snapshot keeps a digest of every normalised output (a notebook cell's outputs, a page, a
sheet), so a failure names what changed. Normalised away: cell ids and execution metadata,
the batch's timestamps, and the provenance rows that depend on the checkout (git commit,
package version), nothing else.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import nbformat
import openpyxl
import pytest

from sipas_analysis import batch

SNAPSHOT = Path(__file__).parent / "data" / "demo_outputs_snapshot.json"
UNITS = ["01", "79"]
LANGS = ["vi", "en"]
YEAR = 2024

# Provenance rows whose values depend on the checkout, not on the inputs.
_CHECKOUT_ROWS = ("git_commit", "sipas_analysis")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _normalise_text(text: str) -> str:
    text = re.sub(r'id="cell-id=[^"]*"', 'id="cell-id"', text)  # papermill's injected cell
    for item in _CHECKOUT_ROWS:
        # the provenance table as HTML (<td>item</td><td>value</td>) and as text
        text = re.sub(rf"(<td>{item}</td>\s*<td>)[^<]*(</td>)", r"\1…\2", text)
        text = re.sub(rf"(^\s*{item}\s+)\S+", r"\1…", text, flags=re.M)
    return text


def _cell_outputs(notebook: Path) -> list[str]:
    """One digest per code cell: its outputs' data, in order, normalised."""
    nb = nbformat.read(notebook, as_version=4)
    digests = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []) \
                or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        parts = []
        for output in cell.outputs:
            if output.get("output_type") == "stream":
                parts.append(f"{output['name']}:{output['text']}")
            else:
                data = output.get("data", {})
                parts += [f"{mime}:{_normalise_text(''.join(data[mime]) if isinstance(data[mime], list) else str(data[mime]))}"
                          for mime in sorted(data)]
        if parts:
            digests.append(_digest("\n".join(parts)))
    return digests


def _workbook(path: Path) -> dict[str, str]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheets = {}
    for sheet in book.worksheets:
        rows = [[_normalise_text(str(v)) if isinstance(v, str) else v for v in row]
                for row in sheet.iter_rows(values_only=True)]
        sheets[sheet.title] = _digest(json.dumps(rows, default=str, ensure_ascii=False))
    book.close()
    return sheets


def demo_outputs(out: Path) -> dict:
    """The normalised digests of the demo batch's outputs (UNITS x LANGS) written under out."""
    result = {}
    for lang in LANGS:
        run = batch.run_batch(YEAR, units=",".join(UNITS), lang=lang, data="demo", jobs=2,
                              out=out / lang, progress=False, cache_dir=out / "cache")
        assert run.exit_status == 0, run.summary()
        for unit in run.results:
            folder = run.out_dir / f"{run.unit_set}-{unit.province_code}"
            page = _normalise_text((folder / "report.html").read_text(encoding="utf-8"))
            result[f"{lang}/{unit.province_code}"] = {
                "page": _digest(page),
                "cells": _cell_outputs(folder / "report.ipynb"),
                "workbook": _workbook(folder / "tables.xlsx"),
            }
        index = (run.index_path).read_text(encoding="utf-8")
        index = re.sub(r"<footer>.*?</footer>", "<footer/>", index, flags=re.S)
        result[f"{lang}/index"] = {"page": _digest(index)}
    return result


@pytest.mark.slow
def test_demo_outputs_match_the_snapshot(tmp_path):
    outputs = demo_outputs(tmp_path)
    if os.environ.get("SIPAS_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(outputs, indent=1, sort_keys=True) + "\n",
                            encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(outputs) == sorted(expected)
    differences = []
    for key, parts in expected.items():
        for part, value in parts.items():
            if part == "cells":
                got = outputs[key]["cells"]
                if len(got) != len(value):
                    differences.append(f"{key}: {len(got)} cells with output, "
                                       f"snapshot {len(value)}")
                differences += [f"{key}: output of code cell #{i} differs"
                                for i, (a, b) in enumerate(zip(got, value)) if a != b]
            elif part == "workbook":
                got = outputs[key]["workbook"]
                differences += [f"{key}: sheet {s!r} differs" for s in sorted(set(got) | set(value))
                                if got.get(s) != value.get(s)]
            elif outputs[key][part] != value:
                differences.append(f"{key}: {part} differs")
    assert not differences, "\n".join(differences)
