"""Where the package finds its files and writes derived data, in a checkout and installed
(tests/test_wheel.py runs a real installed wheel)."""
from __future__ import annotations

from pathlib import Path

import pytest

from sipas_analysis import batch, cli, report, resources

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def installed(monkeypatch):
    """The package as if installed: no checkout around it."""
    monkeypatch.setattr(resources, "checkout", lambda: None)


@pytest.fixture
def clean_env(monkeypatch):
    for name in (resources.DATA_DIR_ENV, resources.PROCESSED_DIR_ENV, "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)


def test_a_checkout_reads_its_own_folders(clean_env):
    assert resources.checkout() == ROOT
    assert resources.data_dir() == ROOT / "data"
    assert resources.notebooks_dir() == ROOT / "notebooks"
    assert resources.params_dir() == ROOT / "params" == batch.PARAMS_DIR
    assert report.kinds.DEFAULT_NOTEBOOK == ROOT / "notebooks" / "province_report.ipynb"
    assert resources.processed_dir() == ROOT / "data" / "processed"


def test_an_installed_package_reads_its_copies(clean_env, installed):
    assert resources.data_dir() == resources.PACKAGED_DIR / "data"
    assert resources.params_dir() == resources.PACKAGED_DIR / "params"
    assert resources.notebooks_dir() == resources.PACKAGED_DIR / "notebooks"


def test_derived_data_go_to_the_env_var_then_the_data_folder_then_the_user_cache(
        tmp_path, monkeypatch, clean_env, installed):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resources.processed_dir() == tmp_path / "home" / ".cache" / "sipas"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resources.processed_dir() == tmp_path / "xdg" / "sipas"
    assert report.shared.cache_folder() == tmp_path / "xdg" / "sipas" / "cache"
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(tmp_path / "my_data"))
    assert resources.processed_dir() == (tmp_path / "my_data").resolve() / "processed"
    monkeypatch.setenv(resources.PROCESSED_DIR_ENV, str(tmp_path / "processed"))
    assert resources.processed_dir() == tmp_path / "processed"


def test_the_packaged_files_exist_and_leave_derived_data_out(monkeypatch, tmp_path):
    files = [relative.as_posix() for _, relative in resources.packaged_files(ROOT)]
    assert len(files) == len(set(files))
    assert "notebooks/province_report.ipynb" in files and "params/defaults.yaml" in files
    assert "data/reference/provinces_63_gso_regions_2025merger.csv" in files
    assert not [f for f in files if f.startswith("data/processed")]
    # every data licence travels with its data
    assert {"data/papi/LICENSE", "data/pci/DESCRIPTION_CC0.txt",
            "data/reference/LICENSE_dvhcvn_20250701_MIT.txt"} <= set(files)
    monkeypatch.setitem(resources.PACKAGED, "data", ("renamed/*.csv",))
    with pytest.raises(FileNotFoundError, match="renamed"):
        list(resources.packaged_files(ROOT))


def test_the_git_commit_is_unknown_outside_a_checkout(tmp_path, installed):
    assert report.git_commit() == "unknown"
    assert report.git_commit(tmp_path) == "unknown"   # a folder that is no repository


def test_writing_params_when_installed_needs_a_folder(tmp_path, monkeypatch, installed, capsys):
    with pytest.raises(ValueError, match="--dir"):
        batch.write_params()
    assert cli.main(["params"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "sipas params: the package is installed" in err and "Traceback" not in err
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(ROOT / "data"))  # this checkout: no copies
    assert cli.main(["params", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "defaults.yaml").is_file()
