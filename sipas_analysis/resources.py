"""Where the project's files are: the ``data/``, ``notebooks/`` and ``params/`` folders the
package reads, and the folder it writes derived data to.

Run from a source checkout (an editable install, or the checkout on ``sys.path``), the package
reads the checkout's own folders. A wheel carries copies of the files :data:`PACKAGED` lists,
inside the package as ``sipas_analysis/_resources/{data,notebooks,params}`` (``setup.py``
copies them when the wheel is built); an installed package reads those and never writes next
to them: derived data go to :func:`processed_dir`.

Only the standard library is imported here: ``setup.py`` reads :data:`PACKAGED` from this file.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "DATA_DIR_ENV", "PACKAGED", "PACKAGED_DIR", "PACKAGE_DIR", "PROCESSED_DIR_ENV", "checkout",
    "data_dir", "notebooks_dir", "packaged_files", "params_dir", "processed_dir",
]

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_DIR = PACKAGE_DIR / "_resources"   # only in an installed wheel
DATA_DIR_ENV = "SIPAS_DATA_DIR"
PROCESSED_DIR_ENV = "SIPAS_PROCESSED_DIR"

# What the package reads at run time, by folder of the checkout (glob patterns): the files a
# wheel carries. Licences travel with their data; the data's README says where each file is
# from. Not packaged: data/processed (derived), the PCI import layout and the R panels (read by
# the tests only), the notebooks the package does not run.
PACKAGED: dict[str, tuple[str, ...]] = {
    "data": (
        "README.md",
        "reference/*.csv", "reference/LICENSE*",
        "papi/LICENSE", "papi/codebook/*.csv", "papi/csv/*.csv",
        "pci/DESCRIPTION_CC0.txt", "pci/PCI/PCI_2*.xls*",
        "sipas_published/*.csv",
        "boundaries/*.geojson", "boundaries/*.json", "boundaries/SOURCES.md",
    ),
    "notebooks": ("province_report.ipynb",),
    "params": ("defaults.yaml", "units/*/*.yaml", "evaluation/*.yaml"),
}


def checkout() -> Path | None:
    """The root of the source checkout the package runs from, or None when it is an installed
    copy (a wheel: its files are in :data:`PACKAGED_DIR`).

    Examples
    --------
    >>> root = checkout()
    >>> root is None or (root / "pyproject.toml").is_file()
    True
    """
    root = PACKAGE_DIR.parent
    if PACKAGED_DIR.is_dir() or not (root / "pyproject.toml").is_file():
        return None
    return root


def _folder(name: str) -> Path:
    root = checkout()
    return (root if root is not None else PACKAGED_DIR) / name


def data_dir() -> Path:
    """The ``data/`` folder: the one named by ``$SIPAS_DATA_DIR``, else the checkout's, else the
    installed package's copy."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return _folder("data")


def notebooks_dir() -> Path:
    """The ``notebooks/`` folder: the checkout's, else the installed package's copy."""
    return _folder("notebooks")


def params_dir() -> Path:
    """The ``params/`` folder: the checkout's, else the installed package's (read-only) copy."""
    return _folder("params")


def processed_dir() -> Path:
    """Where derived data (the demo sample, the shared-results cache) go:
    ``$SIPAS_PROCESSED_DIR``; else ``processed/`` in the folder ``$SIPAS_DATA_DIR`` names; else
    the checkout's ``data/processed/`` (never committed); else, for an installed package,
    ``$XDG_CACHE_HOME/sipas`` (default ``~/.cache/sipas``). Never inside the installed package,
    and whatever the current directory (notebooks run in ``notebooks/``)."""
    if os.environ.get(PROCESSED_DIR_ENV):
        return Path(os.environ[PROCESSED_DIR_ENV]).expanduser()
    if os.environ.get(DATA_DIR_ENV) or checkout() is not None:
        return data_dir() / "processed"
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "sipas"


def packaged_files(root) -> Iterator[tuple[Path, Path]]:
    """The files of the checkout at ``root`` that a wheel carries: (source, path relative to
    :data:`PACKAGED_DIR`) pairs, sorted. Raises FileNotFoundError for a pattern of
    :data:`PACKAGED` that matches no file (a file renamed without updating the list)."""
    root = Path(root)
    for folder, patterns in PACKAGED.items():
        for pattern in patterns:
            matches = sorted(p for p in (root / folder).glob(pattern) if p.is_file())
            if not matches:
                raise FileNotFoundError(f"no file matches {folder}/{pattern} under {root}")
            for path in matches:
                yield path, path.relative_to(root)
