"""Where the report's numbers come from: data hash, package version, git commit, whether the
data are synthetic, every setting and parameter."""
from __future__ import annotations

import subprocess
from importlib.metadata import version as _package_version
from pathlib import Path

import pandas as pd

from ..display import HtmlTable, heading
from .base import Section


def git_commit(cwd: str | Path | None = None) -> str:
    """The checked-out commit of the project, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=cwd or Path(__file__).parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(params, shared) -> pd.DataFrame:
    """Where the report's numbers come from: ``item, value`` rows (data hash, package version,
    git commit, whether the data are synthetic, every setting and parameter)."""
    rows = [("data_hash", shared.data_hash),
            ("sipas_analysis", _package_version("sipas-analysis")),
            ("git_commit", git_commit()), ("synthetic", str(shared.synthetic))]
    rows += [(f"setting.{k}", str(v)) for k, v in shared.settings.as_dict().items()]
    shown = params.as_dict()
    shown["tables_path"] = Path(shown["tables_path"]).name  # where the batch put it is noise
    rows += [(f"param.{k}", str(v)) for k, v in shown.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def _settings_sheet(shared, params) -> pd.DataFrame:
    settings = shared.settings.as_dict()
    return pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]})


def _cell(shared, params):
    return [heading("section_provenance", params), HtmlTable(provenance(params, shared))]


SECTION = Section(name="provenance", title="section_provenance", cells=(("", _cell),),
                  text_keys=("section_provenance",), sheets=(("settings", _settings_sheet),))
