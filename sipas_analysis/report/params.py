"""The report's parameters: one vocabulary (names, types, defaults), its check, and the
params files that ``papermill -f`` and ``sipas reports --params`` read.

A report notebook's cell tagged ``parameters`` holds exactly :data:`DEFAULT_PARAMETERS` plus
``province_code``; the batch, the params files and :class:`ReportParams` all check values with
:func:`check_values`, so a parameter is added in one place.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import files, reference, resources, schema
from ..language import LANGS

PARAMS_DIR = resources.params_dir()  # the checkout's params/, or an installed package's copy

# The notebook's parameters (its cell tagged "parameters") and their types (a province code
# may arrive as a number: papermill and YAML read 01 as 1; ReportParams normalises it).
PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "province_code": (str, int), "year": (int,), "unit_set": (str, type(None)), "data": (str,),
    "lang": (str,), "tables_path": (str,)}
DEFAULT_PARAMETERS = {"year": 2024, "unit_set": None, "data": "demo", "lang": "vi",
                      "tables_path": ""}
# Parameters that change one unit's report but not the national results every unit shares.
UNIT_ONLY_PARAMETERS = frozenset({"province_code", "lang", "tables_path", "data"})


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def check_values(values: dict, *, source: str = "parameters", types=None) -> dict:
    """Check a flat parameter mapping: known keys only, each of its type (``year`` an int, not
    a bool; codes strings). Returns it; raises ValueError naming every problem.

    Examples
    --------
    >>> check_values({"year": 2024, "lang": "en"})
    {'year': 2024, 'lang': 'en'}
    >>> check_values({"year": "2024", "colour": "red"})
    Traceback (most recent call last):
    ...
    ValueError: parameters: year must be int, got '2024' (str); unknown parameter 'colour' (known parameters: province_code, year, unit_set, data, lang, tables_path)
    """
    types = PARAMETER_TYPES if types is None else \
        {k: v if isinstance(v, tuple) else (v,) for k, v in types.items()}
    problems = []
    for key, value in values.items():
        if key not in types:
            problems.append(f"unknown parameter {files.short_repr(key)}")
        elif isinstance(value, bool) or not isinstance(value, types[key]):
            problems.append(f"{key} must be {_type_names(types[key])}, got "
                            f"{files.short_repr(value)} "
                            f"({type(value).__name__})")
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems)
                         + f" (known parameters: {', '.join(types)})")
    return values


def check_parameters(namespace: dict, *, before: set[str], types: dict) -> dict:
    """The parameters a notebook received: every name defined since ``before`` (its
    parameters cell and papermill's injected cell), checked with :func:`check_values`.
    Papermill only warns about an unknown parameter, so an unknown name is refused here, and so
    is a value of the wrong type.

    Examples
    --------
    >>> before = {"display"}
    >>> check_parameters({"display": print, "year": 2024}, before=before, types={"year": int})
    {'year': 2024}
    """
    new = {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}
    return check_values(new, types=types)


@dataclass(frozen=True)
class ReportParams:
    """The parameters of a province report, checked: a unit that exists in its unit set, a
    year, data "demo" or an existing file, a language.

    Examples
    --------
    >>> ReportParams(province_code="79", year=2024, lang="en").unit_set
    '63'
    >>> ReportParams(province_code="99", year=2024)
    Traceback (most recent call last):
    ...
    ValueError: report parameters: province_code '99' is not a unit of the 63-unit set (see sa.reference.provinces('63'))
    """

    province_code: str
    year: int
    unit_set: str | None = None
    data: str = "demo"
    lang: str = "vi"
    tables_path: str = ""          # where the notebook writes its Excel workbook ("" = nowhere)

    TYPES = PARAMETER_TYPES

    def __post_init__(self):
        # papermill reads `-p province_code 01` as the int 1: take it as the code "01"
        object.__setattr__(self, "province_code", reference.normalise_code(self.province_code))
        problems = [f"{name} must be {_type_names(expected)}, got "
                    f"{files.short_repr(getattr(self, name))} "
                    f"({type(getattr(self, name)).__name__})"
                    for name, expected in self.TYPES.items()
                    if isinstance(getattr(self, name), bool)
                    or not isinstance(getattr(self, name), expected)]
        if problems:
            raise ValueError("report parameters: " + "; ".join(problems))
        if self.unit_set is None:
            object.__setattr__(self, "unit_set", reference.default_unit_set(self.year))
        if self.unit_set not in schema.UNIT_SETS:
            problems.append(f"unit_set must be one of {schema.UNIT_SETS}, got {files.short_repr(self.unit_set)}")
        elif self.province_code not in set(reference.provinces(self.unit_set)["province_code"]):
            problems.append(f"province_code {self.province_code!r} is not a unit of the "
                            f"{self.unit_set}-unit set (see sa.reference.provinces("
                            f"{self.unit_set!r}))")
        if not 2017 <= self.year <= 2100:
            problems.append(f"year must be from 2017 (the first SIPAS) to 2100, got {self.year}")
        if self.lang not in LANGS:
            problems.append(f"lang must be one of {LANGS}, got {files.short_repr(self.lang)}")
        if self.data != "demo" and not Path(self.data).exists():
            problems.append(f"data must be 'demo' or an existing file, got {files.short_repr(self.data)}")
        if problems:
            raise ValueError("report parameters: " + "; ".join(problems))

    @classmethod
    def from_namespace(cls, namespace: dict, *, before: set[str]) -> "ReportParams":
        """Build from a notebook's globals (see :func:`check_parameters`)."""
        return cls(**check_parameters(namespace, before=before, types=cls.TYPES))

    def as_dict(self) -> dict:
        return asdict(self)


def national_params(*, year: int, data: str = "demo", lang: str = "vi") -> ReportParams:
    """Parameters for the national view of a year: the shared results do not depend on the
    unit, so the capital ("01", a unit of both sets) stands in for it."""
    return ReportParams(province_code="01", year=year, data=data, lang=lang)


# --------------------------------------------------------------------------------------------
# Params files
# --------------------------------------------------------------------------------------------
def load_params_file(path) -> dict:
    """Read one flat params YAML file and check it (:func:`check_values`). The file is read by
    ``files.load_yaml``: anchors, aliases and object tags are refused with the file's path."""
    path = Path(path)
    values = files.load_yaml(path) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a params file is a flat mapping of parameter: value")
    return check_values(values, source=str(path))


def _yaml_scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # always quoted: "01" stays a string


def params_files() -> dict[str, str]:
    """The content of every params file, by path relative to ``params/``: ``defaults.yaml`` and
    ``units/63/<code>.yaml``, ``units/34/<code>.yaml`` from ``reference.provinces``."""
    header = ("# Generated by `sipas params` from the reference tables: do not edit by hand.\n"
              "# Parameters of notebooks/province_report.ipynb (see its cell tagged 'parameters').\n")
    defaults = (header + "# Defaults; a unit's file (units/<set>/<code>.yaml) sets province_code and"
                " unit_set.\n# unit_set null means: \"63\" up to 2024, \"34\" from 2025.\n"
                + "".join(f"{k}: {_yaml_scalar(v)}\n" for k, v in DEFAULT_PARAMETERS.items()))
    files = {"defaults.yaml": defaults}
    # The 34-unit set starts in 2025: its example run names a year of that set.
    year_option = {"63": "", "34": " -p year 2025"}
    for unit_set in reference.UNIT_SETS:
        for row in reference.provinces(unit_set).itertuples():
            files[f"units/{unit_set}/{row.province_code}.yaml"] = (
                header + f"# {row.name_vi} ({row.name_official}), {unit_set}-unit set.\n"
                f"# papermill notebooks/province_report.ipynb out.ipynb -f params/defaults.yaml "
                f"-f params/units/{unit_set}/{row.province_code}.yaml{year_option[unit_set]}\n"
                f"province_code: {_yaml_scalar(row.province_code)}\n"
                f"unit_set: {_yaml_scalar(unit_set)}\n")
    return files


def write_params(directory=None) -> list[Path]:
    """Write :func:`params_files` under ``directory`` (default the checkout's ``params/``) and
    delete unit files the reference tables no longer name. Returns the paths written.

    An installed package has no default: its ``params/`` is part of the installation, so
    ``directory`` must be given (ValueError otherwise)."""
    if directory is None and resources.checkout() is None:
        raise ValueError("the package is installed, not run from a source checkout: name the "
                         "folder to write the params files to (sipas params --dir FOLDER)")
    directory = Path(directory) if directory is not None else PARAMS_DIR
    files = params_files()
    for stale in directory.glob("units/*/*.yaml"):
        if stale.relative_to(directory).as_posix() not in files:
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def extra_params(directory=None) -> list[str]:
    """Unit params files under ``directory`` that the reference tables do not name (relative
    paths): those :func:`write_params` deletes."""
    directory = Path(directory) if directory is not None else PARAMS_DIR
    files = params_files()
    return sorted(path.relative_to(directory).as_posix()
                  for path in directory.glob("units/*/*.yaml")
                  if path.relative_to(directory).as_posix() not in files)


def stale_params(directory=None) -> list[str]:
    """Params files that differ from the generator, are missing or are extra (relative paths)."""
    directory = Path(directory) if directory is not None else PARAMS_DIR
    files = params_files()
    present = {p.relative_to(directory).as_posix() for p in directory.glob("units/*/*.yaml")}
    if (directory / "defaults.yaml").exists():
        present.add("defaults.yaml")
    stale = sorted(present - set(files))
    for relative, text in files.items():
        path = directory / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(relative)
    return stale
