"""The report batch: units, shared-results cache, papermill runs, failures, HTML, index, manifest.

The end-to-end tests run tiny notebooks (tests/data/notebooks/) that have the real report's
parameters, read the shared results through ``batch.shared_results``, print, draw one small
matplotlib figure and write tables to ``tables_path``; ``tiny_report_failing.ipynb`` raises
ValueError("boom") for unit 02. The shared national results are a stand-in (``fake_shared``)
so that a 3-unit batch takes seconds.
"""
from __future__ import annotations

import html.parser
import json
import re
import sys
import threading
import time
import types
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from sipas_analysis import batch, cli, reference, report

NOTEBOOKS = Path(__file__).parent / "data" / "notebooks"
TINY = NOTEBOOKS / "tiny_report.ipynb"
TINY_FAILING = NOTEBOOKS / "tiny_report_failing.ipynb"


def fake_shared(survey, params, *, data_hash=None, calls=None):
    """Stand-in for report.compute_shared: a ranking of every unit of the set (estimates fall
    linearly with the code order). Uses only stdlib types, so a kernel can unpickle it."""
    if calls is not None:
        calls.append(params.province_code)
    codes = reference.provinces(params.unit_set)["province_code"].to_numpy()
    rank = np.arange(1, len(codes) + 1)
    estimate = np.linspace(90, 70, len(codes))
    ranks = pd.DataFrame({"province_code": codes, "estimate": estimate, "ci_low": estimate - 3,
                          "ci_high": estimate + 3, "rank": rank,
                          "rank_low": np.maximum(1, rank - 3), "rank_high": rank + 3})
    return types.SimpleNamespace(ranks=ranks, synthetic=True, n_respondents=len(survey))


# --------------------------------------------------------------------------------------------
# HTML checks shared with test_browser
# --------------------------------------------------------------------------------------------
class _Page(html.parser.HTMLParser):
    """Collects what a self-containment check needs from a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def network_fetches(text: str) -> list[str]:
    """Everything in a page that the browser would fetch over the network when opening it:
    script src, stylesheet links, img/iframe/source src, CSS @import and url(), inline or not.
    Plain <a href> links are not fetched and are allowed (e.g. a source's web page)."""
    page = parse_page(text)
    found = []
    for tag, attrs in page.tags:
        if tag == "script":
            found.append(f"<script {attrs}>")  # no script at all, inline or not
        if tag == "link":
            found.append(f"<link {attrs}>")
        if tag in {"img", "iframe", "source", "embed", "video", "audio"}:
            src = attrs.get("src") or ""
            if not src.startswith("data:"):
                found.append(f"<{tag} src={src[:80]}>")
        style = attrs.get("style") or ""
        if re.search(r"url\(\s*['\"]?(?!data:)", style):
            found.append(f"style={style[:80]}")
    for css in page.styles:
        found += re.findall(r"@import[^;]*|url\(\s*['\"]?(?!data:)[^)]*\)", css)
    return found


def check_self_contained(text: str, *, lang: str) -> _Page:
    page = parse_page(text)
    assert text.startswith("<!DOCTYPE html>")
    assert ("html", {"lang": lang}) in [(t, a) for t, a in page.tags if t == "html"]
    assert ("meta", {"charset": "utf-8"}) in page.tags
    assert network_fetches(text) == []
    return page


# --------------------------------------------------------------------------------------------
# One 3-unit batch with a failure, shared by the tests below
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def failing_batch(tmp_path_factory):
    """Units 01, 02, 04 of 2024 with the notebook that fails for 02, demo data, 2 jobs; run
    from a fresh directory (the demo parquet and the cache are written there)."""
    root = tmp_path_factory.mktemp("batch")
    calls: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("SIPAS_PROCESSED_DIR", str(root / "data" / "processed"))
        mp.delenv(batch.CACHE_DIR_ENV, raising=False)
        mp.setenv("MPLBACKEND", "Agg")  # as CI often sets: figures must still be embedded
        result = batch.run_batch(
            2024, units="01,02,04", data="demo", jobs=2, out="reports", notebook=TINY_FAILING,
            cache_dir=root / "cache", progress=False,
            compute=lambda survey, params, **kw: fake_shared(survey, params, calls=calls, **kw))
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    return types.SimpleNamespace(root=root, result=result, manifest=manifest, calls=calls,
                                 year_dir=root / "reports" / "2024")


def test_failure_is_recorded_and_the_others_go_on(failing_batch):
    result = failing_batch.result
    assert [r.province_code for r in result.results] == ["01", "02", "04"]
    assert [r.status for r in result.results] == ["ok", "failed", "ok"]
    assert result.exit_status == 1
    failed = result.results[1]
    # the failing cell, by its index in the notebook file and papermill's in the executed one
    source = nbformat.read(TINY_FAILING, 4)
    assert 'raise ValueError("boom")' in source.cells[failed.error["notebook_cell"]].source
    assert failed.error["cell_index"] == failed.error["notebook_cell"] + 1  # + injected cell
    executed = nbformat.read(failing_batch.year_dir / "63-02" / "report.failed.ipynb", 4)
    assert [c.source for c in executed.cells if c.get("execution_count")
            == failed.error["execution_count"]] == [source.cells[failed.error["notebook_cell"]].source]
    assert failed.error["ename"] == "ValueError"
    assert failed.error["evalue"] == "boom"
    assert "boom" in failed.error["traceback"] and "\x1b[" not in failed.error["traceback"]
    assert result.summary() == (f"2 ok, 1 failed: 02 (ValueError: boom, cell "
                                f"{failed.error['notebook_cell']} of the notebook)")


def test_shared_results_are_computed_once_and_read_by_every_kernel(failing_batch):
    assert len(failing_batch.calls) == 1
    for code in ["01", "04"]:
        executed = nbformat.read(failing_batch.year_dir / f"63-{code}" / "report.ipynb", 4)
        printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code"
                          for o in c.outputs)
        assert f"(63-{code}), năm 2024; shared from cache: True" in printed


def test_outputs_of_each_unit(failing_batch):
    year_dir = failing_batch.year_dir
    for code, rank in [("01", 1), ("04", 3)]:
        unit_dir = year_dir / f"63-{code}"
        assert sorted(p.name for p in unit_dir.iterdir()) == \
            sorted(batch.UNIT_OUTPUTS + (batch.UNIT_RECORD,))
        tables = pd.read_excel(unit_dir / "tables.xlsx")
        assert tables["Hạng"].tolist() == [rank]
    # the failed unit keeps only its executed notebook, clearly named, and the record of the
    # failure; nothing half-made
    assert sorted(p.name for p in (year_dir / "63-02").iterdir()) == \
        sorted([batch.FAILED_NOTEBOOK, batch.UNIT_RECORD])
    leftovers = [p.name for p in year_dir.iterdir()
                 if p.name not in {"63-01", "63-02", "63-04", "index.html", "manifest.json"}]
    assert leftovers == []


def test_manifest_is_complete(failing_batch):
    manifest = failing_batch.manifest
    demo = pd.read_parquet(failing_batch.root / "data" / "processed" / "demo_survey.parquet")
    data_hash = report.data_hash(demo)    # the demo sample's content, not its file's bytes
    assert manifest["summary"] == {"ok": 2, "failed": 1}
    assert manifest["data_hash"] == data_hash and manifest["synthetic"] is True
    assert [u["province_code"] for u in manifest["units"]] == ["01", "02", "04"]
    for unit in manifest["units"]:
        assert unit["parameters"] == {"province_code": unit["province_code"], "year": 2024,
                                      "unit_set": "63", "data": "demo", "lang": "vi",
                                      "tables_path": "tables.xlsx"}
        assert unit["seconds"] > 0
        assert unit["data_hash"] == data_hash
        assert set(unit["versions"]) >= {"python", "sipas_analysis", "pandas", "statsmodels",
                                         "papermill"}
        for output in unit["outputs"]:
            assert (failing_batch.year_dir / output).is_file()
    ok, failed, _ = manifest["units"]
    assert ok["status"] == "ok" and ok["error"] is None
    assert ok["outputs"] == ["63-01/report.html", "63-01/report.ipynb", "63-01/tables.xlsx"]
    assert failed["status"] == "failed" and failed["outputs"] == ["63-02/report.failed.ipynb"]
    assert {"cell_index", "notebook_cell", "execution_count", "ename", "evalue",
            "traceback"} <= set(failed["error"])


def test_unit_page_has_no_code_an_embedded_figure_and_no_network(failing_batch):
    text = (failing_batch.year_dir / "63-01" / "report.html").read_text(encoding="utf-8")
    page = check_self_contained(text, lang="vi")
    assert "data:image/png;base64," in text
    assert [a["src"][:22] for t, a in page.tags if t == "img"] == ["data:image/png;base64,"]
    for code in ["plt.subplots", "shared_results", "import pandas", "tables_path"]:
        assert code not in text  # no input cells
    assert "Chỉ số hài lòng — Hà Nội (63-01), năm 2024" in text
    assert "<title>SIPAS 2024 · Hà Nội</title>" in text


def test_index_ranks_all_units_and_links_to_each_page(failing_batch):
    year_dir = failing_batch.year_dir
    text = (year_dir / "index.html").read_text(encoding="utf-8")
    page = check_self_contained(text, lang="vi")
    links = [a["href"] for t, a in page.tags if t == "a"]
    assert links == ["63-01/report.html", "63-04/report.html"]  # 02 failed: no link
    for link in links:
        assert (year_dir / link).is_file()
    assert text.count("<tr>") == 63 + 1  # every unit ranked, plus the header
    assert language_banner("vi") in text
    assert "lỗi khi tạo báo cáo" in text  # the failed unit says so


def language_banner(lang):
    import html as _html
    return _html.escape(report.text("synthetic_banner", lang))


def test_rerun_replaces_a_failed_unit(failing_batch, monkeypatch, tmp_path):
    import shutil
    root = tmp_path / "copy"
    shutil.copytree(failing_batch.root, root)  # keep the shared batch as it was for other tests
    monkeypatch.chdir(root)
    result = batch.run_batch(2024, units="02", data="demo", jobs=1, out="reports", notebook=TINY,
                             cache_dir=root / "cache", progress=False,
                             compute=pytest.fail)  # the cache is warm: compute is not called
    assert result.exit_status == 0 and result.summary() == "1 ok, 0 failed"
    unit_dir = root / "reports" / "2024" / "63-02"
    assert sorted(p.name for p in unit_dir.iterdir()) == \
        sorted(batch.UNIT_OUTPUTS + (batch.UNIT_RECORD,))


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------
def test_resolve_units():
    unit_set, codes = batch.resolve_units(2024)
    assert unit_set == "63" and codes == list(reference.provinces("63")["province_code"])
    assert batch.resolve_units(2025, "all") == ("34", list(reference.provinces("34")["province_code"]))
    assert batch.resolve_units(2024, "79, 01,79") == ("63", ["79", "01"])
    assert batch.resolve_units(2024, ["Hà Nội"]) == ("63", ["01"])


def test_unknown_units_are_all_named_with_the_valid_codes():
    with pytest.raises(reference.UnknownProvinceError) as error:
        batch.resolve_units(2024, "01,99,xx")
    message = str(error.value)
    assert "'99'" in message and "'xx'" in message and "'01'" not in message
    assert "01 Hà Nội" in message and "96 Cà Mau" in message


def test_cli_unknown_unit_exits_2_with_the_valid_codes(capsys):
    status = cli.main(["reports", "--year", "2024", "--units", "01,99", "--notebook", str(TINY)])
    err = capsys.readouterr().err
    assert status == 2
    assert "'99'" in err and "79 Hồ Chí Minh" in err and "Traceback" not in err


def test_cli_missing_notebook_exits_2(capsys, tmp_path):
    status = cli.main(["reports", "--year", "2024", "--units", "01",
                       "--notebook", str(tmp_path / "nope.ipynb")])
    assert status == 2 and "no such notebook" in capsys.readouterr().err


def test_a_second_batch_on_the_same_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    year_dir = tmp_path / "reports" / "2024"
    year_dir.mkdir(parents=True)
    with batch._file_lock(year_dir / ".batch.lock"):
        with pytest.raises(batch.BatchError, match="another batch"):
            batch.run_batch(2024, units="01", out="reports", notebook=TINY, progress=False,
                            cache_dir=tmp_path / "cache", compute=fake_shared)


def test_the_kernel_is_this_environment():
    import os
    executable = batch.check_kernel(batch.KERNEL_NAME)
    assert os.path.realpath(executable) == os.path.realpath(sys.executable)


def test_a_kernel_of_another_python_is_refused(tmp_path, monkeypatch):
    other = Path("/usr/bin/python3")
    if not other.exists() or Path(sys.prefix).resolve() == Path("/usr"):
        pytest.skip("needs a system Python outside this environment")
    spec = tmp_path / "kernels" / "otherpy"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(other), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "other", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    with pytest.raises(batch.BatchError, match="not this environment's Python"):
        batch.check_kernel("otherpy")


# --------------------------------------------------------------------------------------------
# The shared-results cache
# --------------------------------------------------------------------------------------------
@pytest.fixture
def survey_file(tmp_path):
    from tests.conftest import contract_frame
    path = tmp_path / "survey.parquet"
    contract_frame(60).to_parquet(path, index=False)
    return path


def test_shared_results_cache_hits_and_keys(survey_file, tmp_path):
    calls = []
    compute = lambda survey, params, **kw: fake_shared(survey, params, calls=calls, **kw)  # noqa
    params = report.ReportParams(province_code="01", year=2024, data=str(survey_file))
    first = batch.shared_results(params, cache_dir=tmp_path / "c", compute=compute)
    # another unit and language of the same year and data: same shared results, from the cache
    again = batch.shared_results(report.ReportParams(province_code="79", year=2024, lang="en",
                                                     data=str(survey_file)),
                                 cache_dir=tmp_path / "c", compute=compute)
    assert calls == ["01"]
    pd.testing.assert_frame_equal(first.ranks, again.ranks)
    assert first.n_respondents == 60
    # another year, or other data bytes, is another key
    other_year = report.ReportParams(province_code="01", year=2023, data=str(survey_file))
    assert batch.shared_cache_path(other_year, cache_dir=tmp_path / "c") != \
        batch.shared_cache_path(params, cache_dir=tmp_path / "c")
    before = batch.shared_cache_path(params, cache_dir=tmp_path / "c")
    from tests.conftest import contract_frame
    contract_frame(61).to_parquet(survey_file, index=False)
    assert batch.shared_cache_path(params, cache_dir=tmp_path / "c") != before
    batch.shared_results(params, cache_dir=tmp_path / "c", compute=compute)
    assert calls == ["01", "01"]
    # nothing half-written left in the cache folder
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.endswith(".tmp")]


def test_shared_results_cache_dir_from_the_environment(survey_file, tmp_path, monkeypatch):
    monkeypatch.setenv(batch.CACHE_DIR_ENV, str(tmp_path / "env_cache"))
    params = report.ReportParams(province_code="01", year=2024, data=str(survey_file))
    batch.shared_results(params, compute=fake_shared)
    assert batch.shared_cache_path(params).parent == tmp_path / "env_cache"
    assert batch.shared_cache_path(params).exists()


def test_parallel_callers_compute_once(survey_file, tmp_path):
    calls = []

    def slow(survey, params, **kw):
        time.sleep(0.5)  # long enough for every thread to miss the cache first
        return fake_shared(survey, params, calls=calls, **kw)

    params = report.ReportParams(province_code="01", year=2024, data=str(survey_file))
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        batch.shared_results(params, cache_dir=tmp_path / "c", compute=slow))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 4


def test_a_corrupt_cache_file_is_recomputed(survey_file, tmp_path):
    params = report.ReportParams(province_code="01", year=2024, data=str(survey_file))
    path = batch.shared_cache_path(params, cache_dir=tmp_path)
    path.write_bytes(b"half a pickle")
    calls = []
    batch.shared_results(params, cache_dir=tmp_path,
                         compute=lambda s, p, **kw: fake_shared(s, p, calls=calls, **kw))
    assert calls == ["01"]


def test_demo_data_are_written_once_and_read_by_path(tmp_path):
    path = batch.demo_data_path(directory=tmp_path)
    stamp = path.stat().st_mtime_ns
    assert batch.demo_data_path(directory=tmp_path) == path
    assert path.stat().st_mtime_ns == stamp  # not rewritten
    from sipas_analysis import simulate
    pd.testing.assert_frame_equal(pd.read_parquet(path), simulate.demo_survey())


def test_load_report_data_reads_a_survey_file(survey_file):
    params = report.ReportParams(province_code="01", year=2024, data=str(survey_file))
    assert len(batch.load_report_data(params)) == 60


# --------------------------------------------------------------------------------------------
# HTML export and errors
# --------------------------------------------------------------------------------------------
def test_notebook_to_html_drops_code_scripts_and_warnings():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    nb = new_notebook(cells=[
        new_markdown_cell("# Báo cáo Hà Nội"),
        new_code_cell("secret_code = 1 + 1", outputs=[
            new_output("stream", name="stdout", text="Chỉ số 85,15 %\n"),
            new_output("stream", name="stderr", text="FutureWarning: noisy\n"),
            new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            new_output("display_data", data={
                "text/html": '<script src="https://cdn.example.org/x.js"></script>'
                             '<link rel="stylesheet" href="https://cdn.example.org/x.css">'
                             "<b>bảng</b>"})]),
    ])
    text = batch.notebook_to_html(nb, lang="en")
    check_self_contained(text, lang="en")
    assert "secret_code" not in text and "FutureWarning" not in text
    assert "Chỉ số 85,15 %" in text and "<b>bảng</b>" in text
    assert f"data:image/png;base64,{png}" in text
    assert "<title>Báo cáo Hà Nội</title>" in text


def test_network_check_catches_what_it_should():
    # the checker itself must be able to fail
    assert network_fetches('<script src="https://x/y.js"></script>')
    assert network_fetches('<link rel="stylesheet" href="http://x/y.css">')
    assert network_fetches('<img src="https://x/y.png">')
    assert network_fetches("<style>@import url(https://fonts.x/css);</style>")
    assert network_fetches('<div style="background: url(http://x/y.png)"></div>')
    assert not network_fetches('<img src="data:image/png;base64,AAA"><a href="https://x">x</a>')


def test_describe_error_of_a_plain_exception():
    try:
        raise FileNotFoundError("the notebook did not write its tables")
    except FileNotFoundError as exc:
        error = batch.describe_error(exc)
    assert error["cell_index"] is None and error["ename"] == "FileNotFoundError"
    assert "did not write" in error["evalue"] and "test_batch.py" in error["traceback"]


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
def test_cli_reports_from_params_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(batch.CACHE_DIR_ENV, str(tmp_path / "cache"))
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    batch.shared_results(params, compute=fake_shared)  # warm the cache with the stand-in
    unit_file = tmp_path / "79.yaml"
    unit_file.write_text('province_code: "79"\nunit_set: "63"\n', encoding="utf-8")
    status = cli.main(["reports", "--year", "2024", "--params", str(unit_file), "--lang", "en",
                       "--notebook", str(TINY), "--out", "out", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 ok, 0 failed" in out and "out/2024/index.html" in out
    text = (tmp_path / "out" / "2024" / "63-79" / "report.html").read_text(encoding="utf-8")
    check_self_contained(text, lang="en")
    index = (tmp_path / "out" / "2024" / "index.html").read_text(encoding="utf-8")
    assert 'href="63-79/report.html"' in index and "Open report" in index
