"""What a report needs beyond numbers: wording in Vietnamese and English, number formatting,
small-sample suppression, parameter checks and provenance.

Computations never round or format; this module does, at the very end. Numbers are written as
each language writes them: 85,15 % and 1.250 người in Vietnamese, 85.15 % and 1,250 in English.
"""
from __future__ import annotations

import hashlib
import subprocess
from dataclasses import asdict, dataclass
from importlib.metadata import version as _package_version
from pathlib import Path

import numpy as np
import pandas as pd

from . import reference, schema
from .language import (LANGS, TEXT, check_lang, format_count, format_interval,  # noqa: F401
                       format_number, format_percent, term_label, text, tick_formatter)

# A unit's estimate is suppressed (shown as "—" with a note) when its effective sample size is
# below this: a 95 % interval of a proportion near 85 % is then wider than about ±7 points.
MIN_N_EFF = 100


def unit_name(unit_set: str, province_code: str, lang: str) -> str:
    """'Hà Nội' in both languages for names (Vietnamese names keep their diacritics in English
    reports too, as the government's English pages write them)."""
    check_lang(lang)
    table = reference.provinces(unit_set).set_index("province_code")
    if province_code not in table.index:
        raise ValueError(f"no unit {province_code!r} in the {unit_set}-unit set")
    return str(table.loc[province_code, "name_vi"])


# --------------------------------------------------------------------------------------------
# Tables for display
# --------------------------------------------------------------------------------------------
def suppress_small(table: pd.DataFrame, *, min_n_eff: float = MIN_N_EFF) -> pd.DataFrame:
    """Blank the estimate and interval of rows whose effective sample size is below
    ``min_n_eff`` and add a boolean ``suppressed`` column. Rows are kept, never dropped."""
    out = table.copy()
    small = out["n_eff"].to_numpy(dtype=float) < min_n_eff
    for column in ["estimate", "std_error", "ci_low", "ci_high"]:
        if column in out:
            out.loc[small, column] = np.nan
    out["suppressed"] = small
    return out


def display_index_table(index: pd.DataFrame, lang: str, *, extra_columns=None) -> pd.DataFrame:
    """A SIPAS index table ready to show: localised labels and numbers as strings."""
    check_lang(lang)
    shown = pd.DataFrame({
        text("criterion", lang) if (index["kind"] == "criterion").all() else
        text("factor", lang): [term_label(t, lang) for t in index["term"]],
        text("estimate", lang): [format_number(v, lang) for v in index["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang)
                           for lo, hi in zip(index["ci_low"], index["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in index["n"]],
    })
    for name, values in (extra_columns or {}).items():
        shown[name] = list(values)
    return shown


# --------------------------------------------------------------------------------------------
# Parameters and provenance
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportParams:
    """The parameters of a province report, checked: a unit that exists in its unit set, a
    year, data "demo" or an existing file, a language."""

    province_code: str
    year: int
    unit_set: str | None = None
    data: str = "demo"
    lang: str = "vi"

    TYPES = {"province_code": str, "year": int, "unit_set": (str, type(None)), "data": str,
             "lang": str}

    def __post_init__(self):
        problems = []
        for name, expected in self.TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, expected):
                names = expected.__name__ if isinstance(expected, type) else \
                    " or ".join(t.__name__ for t in expected)
                problems.append(f"{name} must be {names}, got {value!r} "
                                f"({type(value).__name__})")
        if problems:
            raise ValueError("report parameters: " + "; ".join(problems))
        if self.unit_set is None:
            object.__setattr__(self, "unit_set", reference.default_unit_set(self.year))
        if self.unit_set not in schema.UNIT_SETS:
            problems.append(f"unit_set must be one of {schema.UNIT_SETS}, got {self.unit_set!r}")
        elif self.province_code not in set(reference.provinces(self.unit_set)["province_code"]):
            problems.append(f"province_code {self.province_code!r} is not a unit of the "
                            f"{self.unit_set}-unit set (see sa.reference.provinces("
                            f"{self.unit_set!r}))")
        if not 2017 <= self.year <= 2100:
            problems.append(f"year must be 2017 (the first SIPAS) or later, got {self.year}")
        if self.lang not in LANGS:
            problems.append(f"lang must be one of {LANGS}, got {self.lang!r}")
        if self.data != "demo" and not Path(self.data).exists():
            problems.append(f"data must be 'demo' or an existing file, got {self.data!r}")
        if problems:
            raise ValueError("report parameters: " + "; ".join(problems))

    @classmethod
    def from_namespace(cls, namespace: dict, *, before: set[str]) -> "ReportParams":
        """Build from a notebook's globals: every name defined since ``before`` (the parameters
        cell and papermill's injected cell) must be a known parameter — papermill only warns about
        an unknown one, so the report refuses it here."""
        new = {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}
        unknown = sorted(set(new) - set(cls.TYPES))
        if unknown:
            raise ValueError(f"unknown report parameter(s) {unknown}; known: {sorted(cls.TYPES)}")
        return cls(**new)

    def as_dict(self) -> dict:
        return asdict(self)


def data_hash(frame: pd.DataFrame) -> str:
    """A short, stable fingerprint of a data frame's content (row order and values)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def git_commit(cwd: str | Path | None = None) -> str:
    """The checked-out commit of the project, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=cwd or Path(__file__).parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(params: ReportParams, frame: pd.DataFrame) -> pd.DataFrame:
    """Where the report's numbers come from: ``item, value`` rows (data hash, package version,
    git commit, every parameter)."""
    rows = [("data_hash", data_hash(frame)), ("sipas_analysis", _package_version("sipas-analysis")),
            ("git_commit", git_commit()), ("synthetic", bool(frame.get("synthetic",
                                                                       pd.Series([False])).any()))]
    rows += [(f"param.{k}", v) for k, v in params.as_dict().items()]
    return pd.DataFrame(rows, columns=["item", "value"])
