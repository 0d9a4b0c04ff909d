"""Scale-out: `sipas reports --scheduler tcp://HOST:PORT` runs the units on an existing Dask
distributed cluster with the same outputs, progress and failure handling as a local batch.

The test starts its own cluster (``distributed.LocalCluster``: 2 worker processes of one thread
each, no dashboard), runs three units of the tiny report notebook on it (one of them fails), and
closes it at the end, and one unit of an in-province batch (``--codebook``, the synthetic
example survey) on the same cluster. Kernels run inside the worker processes; none is left when
the batch ends.
"""
from __future__ import annotations

import json

import pytest

from sipas_analysis import batch, cli, report
from tests.conftest import contract_frame
from tests.test_batch import TINY, TINY_FAILING, fake_shared
from tests.test_batch_fast import cell_outputs, gone, kernel_processes

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as local:
        yield local


@pytest.fixture
def setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIPAS_PROCESSED_DIR", str(tmp_path / "processed"))
    monkeypatch.setenv(batch.CACHE_DIR_ENV, str(tmp_path / "cache"))
    survey = tmp_path / "survey.parquet"
    contract_frame(60).to_parquet(survey, index=False)
    return tmp_path, survey


def _run(survey, **options):
    return batch.run_batch(2024, units="01,02,04", data=str(survey), jobs=2, progress=False,
                           notebook=TINY_FAILING, compute=fake_shared, **options)


def test_units_run_on_a_dask_cluster_with_the_same_outputs(cluster, setting):
    root, survey = setting
    before = {p.pid for p in kernel_processes()}
    remote = _run(survey, out="remote", scheduler=cluster.scheduler_address)
    local = _run(survey, out="local")
    # the same statuses, errors and files
    assert [r.status for r in remote.results] == ["ok", "failed", "ok"]
    assert remote.summary() == local.summary()
    assert remote.results[1].error["ename"] == "ValueError"
    assert remote.results[1].error["notebook_cell"] == local.results[1].error["notebook_cell"]
    for code in ["01", "04"]:
        unit = f"63-{code}"
        assert sorted(p.name for p in (remote.out_dir / unit).iterdir()) == \
            sorted(batch.UNIT_OUTPUTS + (batch.UNIT_RECORD,))
        assert cell_outputs(remote.out_dir / unit / "report.ipynb") == \
            cell_outputs(local.out_dir / unit / "report.ipynb")
    manifest = json.loads(remote.manifest_path.read_text(encoding="utf-8"))
    assert manifest["scheduler"] == cluster.scheduler_address
    assert "shared from cache: True" in (remote.out_dir / "63-01" / "report.html").read_text(
        encoding="utf-8")  # the workers read the shared results by path, from the cache
    # the kernels lived in the workers (children of this process's cluster) and are gone
    assert gone({p.pid for p in kernel_processes()} - before)
    # incremental on the cluster too: only the failed unit runs again
    again = _run(survey, out="remote", scheduler=cluster.scheduler_address)
    assert [(r.reason, r.skipped) for r in again.results] == [
        ("unchanged", "unchanged"), ("previous failure", None), ("unchanged", "unchanged")]


def test_cli_scheduler_option(cluster, setting, capsys):
    root, survey = setting
    batch.shared_results(report.ReportParams(province_code="01", year=2024, data=str(survey)),
                         compute=fake_shared)
    status = cli.main(["reports", "--year", "2024", "--units", "01", "--data", str(survey),
                       "--notebook", str(TINY), "--scheduler", cluster.scheduler_address,
                       "--no-progress"])
    assert status == 0, capsys.readouterr()
    assert "1 ok, 0 failed" in capsys.readouterr().out


def test_an_unreachable_scheduler_is_a_usage_error(setting, capsys, monkeypatch):
    root, survey = setting
    monkeypatch.setattr(batch.executors, "SCHEDULER_TIMEOUT", "2s")
    batch.shared_results(report.ReportParams(province_code="01", year=2024, data=str(survey)),
                         compute=fake_shared)
    status = cli.main(["reports", "--year", "2024", "--units", "01", "--data", str(survey),
                       "--notebook", str(TINY), "--scheduler", "tcp://127.0.0.1:9",
                       "--no-progress"])
    assert status == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_agency_units_run_on_a_dask_cluster(cluster, setting, capsys):
    # the in-province reports (--codebook) share the units' machinery: the same cluster runs
    # them, from the command line
    root, _ = setting
    from sipas_analysis.report.agency_shared import example_files
    data, book = example_files(root / "example")
    before = {p.pid for p in kernel_processes()}
    status = cli.main(["reports", "--year", "2024", "--data", str(data), "--codebook", str(book),
                       "--units", "Sở Tư pháp", "--out", "remote", "--lang", "en",
                       "--scheduler", cluster.scheduler_address, "--no-progress"])
    assert status == 0, capsys.readouterr().err
    year_dir = root / "remote" / "2024"
    manifest = json.loads((year_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "agency" and manifest["scheduler"] == cluster.scheduler_address
    assert [u["status"] for u in manifest["units"]] == ["ok"]
    assert "Satisfaction index 2024: Sở Tư pháp" in (year_dir / "so-tu-phap" /
                                                     "report.html").read_text(encoding="utf-8")
    assert gone({p.pid for p in kernel_processes()} - before)
