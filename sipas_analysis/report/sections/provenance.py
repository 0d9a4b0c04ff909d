"""Where the report's numbers come from: data hash, package version, git commit, whether the
data are synthetic, every setting and parameter."""
from __future__ import annotations

import subprocess
from importlib.metadata import version as _package_version
from pathlib import Path

import pandas as pd

from ... import resources
from ..display import HtmlTable, heading
from .base import Section


def git_commit(cwd: str | Path | None = None) -> str:
    """The commit of the checkout the package runs from (or of ``cwd``), or 'unknown' for an
    installed package, outside a git checkout, or without git."""
    cwd = cwd or resources.checkout()
    if cwd is None:
        return "unknown"  # installed: a repository around site-packages is not our source
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=cwd, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def provenance(params, shared) -> pd.DataFrame:
    """Where the report's numbers come from: ``item, value`` rows (data hash, package version,
    git commit, whether the data are synthetic, every setting and parameter)."""
    rows = [("data_hash", shared.data_hash),
            ("sipas_analysis", _package_version("sipas-analysis")),
            ("git_commit", git_commit()), ("synthetic", str(shared.synthetic))]
    rows += [(f"setting.{k}", str(v)) for k, v in shared.settings.as_dict().items()]
    shown = params.as_dict()
    shown["tables_path"] = Path(shown["tables_path"]).name  # where the batch put it is noise
    # the data file by its name (its content is the data hash): a shared report must not
    # show the analyst's folders
    shown["data"] = Path(str(shown["data"])).name
    rows += [(f"param.{k}", str(v)) for k, v in shown.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def _settings_sheet(shared, params) -> pd.DataFrame:
    settings = shared.settings.as_dict()
    return pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]})


def _cell(shared, params):
    return [heading("section_provenance", params), HtmlTable(provenance(params, shared))]


SECTION = Section(name="provenance", title="section_provenance", cells=(("", _cell),),
                  text_keys=("section_provenance",), sheets=(("settings", _settings_sheet),))
