"""The reports as documents: report.pdf (headless Chromium) and report.docx (python-docx).

Read back, not looked at: the PDF's text by poppler's ``pdftotext`` (headings, a province name
with its diacritics, "Trang 1/"), its fonts by ``pdffonts`` (all embedded), its first page drawn
by ``pdftoppm`` (not blank), its bytes equal across runs; the Word document by python-docx
(headings, a table's cells, an image, Vietnamese text). The batch's rules (outputs built aside,
recorded, rebuilt when missing, a failure keeps the last good report) with the tiny notebooks
of test_batch; the text checks on one real province report (Hồ Chí Minh, demo data).
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sipas_analysis import batch, cli
from sipas_analysis.report import documents
from tests.test_batch import TINY, fake_shared

REPORT = Path(__file__).resolve().parent.parent / "notebooks" / "province_report.ipynb"
POPPLER = ("pdftotext", "pdffonts", "pdftoppm")


def _needs(found: bool, message: str) -> None:
    if not found:
        # CI installs Chromium and poppler (.ci/run): there a missing tool is a failure
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def chromium():
    try:
        documents.pdf_tools()
    except documents.DocumentError as error:
        _needs(False, str(error))
    yield
    documents.close_browsers()


@pytest.fixture(scope="module")
def poppler():
    _needs(all(shutil.which(tool) for tool in POPPLER),
           "poppler's tools are not installed: apt-get install poppler-utils")


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def first_page_pixels(path: Path, folder: Path) -> np.ndarray:
    from PIL import Image
    subprocess.run(["pdftoppm", "-r", "30", "-f", "1", "-l", "1", "-gray", "-png", str(path),
                    str(folder / "page")], check=True)
    (page,) = folder.glob("page*.png")
    pixels = np.asarray(Image.open(page), dtype=float)
    page.unlink()
    return pixels


def tiny_batch(root: Path, *, documents=(), units="01", force=False, notebook=TINY):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("SIPAS_PROCESSED_DIR", str(root / "data" / "processed"))
        return batch.run_batch(2024, units=units, data="demo", jobs=1, out="reports",
                               notebook=notebook, cache_dir=root / "cache", progress=False,
                               compute=fake_shared, documents=documents, force=force)


# --------------------------------------------------------------------------------------------
# One real province report, printed and written twice
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real(tmp_path_factory, chromium):
    root = tmp_path_factory.mktemp("documents")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("SIPAS_PROCESSED_DIR", str(root / "data" / "processed"))
        result = batch.run_batch(2024, units="79", data="demo", jobs=1, out="reports",
                                 cache_dir=root / "cache", progress=False, notebook=REPORT,
                                 documents=("pdf", "docx"))
    assert result.exit_status == 0, result.summary()
    return result.out_dir / "63-79"


def test_the_pdf_is_an_a4_report_with_page_numbers_year_and_warning(real, poppler):
    text = pdf_text(real / "report.pdf")
    assert "Báo cáo chỉ số hài lòng SIPAS 2024: Hồ Chí Minh" in text  # the title, diacritics
    assert "Vị trí trong cả nước" in text  # a section's heading
    assert re.search(r"Hồ\s+Chí\s+Minh\s+được\s+viền\s+đậm", text)  # the map's caption
    pages = int(subprocess.run(["pdfinfo", str(real / "report.pdf")], capture_output=True,
                               text=True).stdout.split("Pages:")[1].split()[0])
    assert pages > 1
    for page in range(1, pages + 1):  # every page numbered, "Trang 3/9"
        assert f"Trang {page}/{pages}" in text
    # the header and footer of every page: the year and the synthetic-data warning
    assert text.count("Dữ liệu mô phỏng, không phải SIPAS thật") >= 2 * pages
    assert text.count("SIPAS 2024") >= 2 * pages
    info = subprocess.run(["pdfinfo", str(real / "report.pdf")], capture_output=True,
                          text=True).stdout
    assert "595.92 x 841.92 pts (A4)" in info
    assert "CreationDate" not in info and "ModDate" not in info


def test_the_pdf_embeds_its_fonts(real, poppler):
    rows = subprocess.run(["pdffonts", str(real / "report.pdf")], capture_output=True,
                          text=True, check=True).stdout.splitlines()[2:]
    assert rows
    # columns: name type encoding emb sub uni object ID; "emb" is the 4th from the right
    assert all(row.split()[-5] == "yes" for row in rows), rows


def test_the_first_page_is_drawn_and_a_blank_page_is_seen(real, poppler, tmp_path):
    pixels = first_page_pixels(real / "report.pdf", tmp_path)
    assert pixels.std() > 10, pixels.std()
    # the check can fail: a page with nothing on it has (almost) no variance
    blank = tmp_path / "blank.html"
    blank.write_text('<!DOCTYPE html><html lang="vi"><meta charset="utf-8"><title></title>'
                     "<body></body></html>", encoding="utf-8")
    documents.write_pdf(blank, tmp_path / "blank.pdf", year=None)
    assert first_page_pixels(tmp_path / "blank.pdf", tmp_path).std() < 2


def test_the_same_page_gives_the_same_pdf_bytes(real, tmp_path):
    documents.write_pdf(real / "report.html", tmp_path / "again.pdf", year=2024, synthetic=True,
                        title="SIPAS 2024 · Hồ Chí Minh")
    documents.close_browsers()  # a new browser too: its node numbers start anew
    documents.write_pdf(real / "report.html", tmp_path / "new.pdf", year=2024, synthetic=True,
                        title="SIPAS 2024 · Hồ Chí Minh")
    first = (real / "report.pdf").read_bytes()
    assert (tmp_path / "again.pdf").read_bytes() == first
    assert (tmp_path / "new.pdf").read_bytes() == first


def test_the_word_document_reads_back(real):
    import docx
    document = docx.Document(str(real / "report.docx"))
    headings = [p.text for p in document.paragraphs
                if p.style.name.startswith(("Heading", "Title"))]
    assert "Báo cáo chỉ số hài lòng SIPAS 2024: Hồ Chí Minh" in headings
    assert "Vị trí trong cả nước" in headings
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Năm 2024, Hồ Chí Minh đạt chỉ số SIPAS" in text  # a sentence, Vietnamese
    assert "Hồ Chí Minh được viền đậm" in text  # the province map's caption
    assert "Dữ liệu mô phỏng".upper() in text.upper()
    # tables are Word tables: the factors' comparison has a header row and the factors' names
    cells = [[cell.text for cell in row.cells] for table in document.tables for row in table.rows]
    assert ["Yếu tố" in row[0] for row in cells].count(True) >= 1
    assert any(row[0] == "Tiếp cận dịch vụ" and any("," in value for value in row[1:])
               for row in cells), cells[:10]
    # figures are PNG pictures
    assert len(document.inline_shapes) >= 3
    pngs = [part for part in document.part.package.parts if part.content_type == "image/png"]
    assert pngs and all(part.blob.startswith(b"\x89PNG") for part in pngs)
    assert document.core_properties.title == "SIPAS 2024 · Hồ Chí Minh"
    assert document.core_properties.created == documents.FIXED_TIME


def test_the_same_notebook_gives_the_same_docx_bytes(real):
    again = documents.docx_bytes(real / "report.ipynb", title="SIPAS 2024 · Hồ Chí Minh")
    assert again == (real / "report.docx").read_bytes()


# --------------------------------------------------------------------------------------------
# The batch's rules, on the tiny notebook
# --------------------------------------------------------------------------------------------
def test_documents_are_outputs_rebuilt_when_missing_and_failures_keep_the_last_good(
        tmp_path, chromium, monkeypatch):
    first = tiny_batch(tmp_path)
    unit = first.out_dir / "63-01"
    assert not (unit / "report.pdf").exists()
    # asked for later, the documents are made: the units run again, "outputs missing"
    second = tiny_batch(tmp_path, documents=("docx", "pdf"))
    assert [r.reason for r in second.results] == ["outputs missing"]
    for result in second.results:
        assert result.status == "ok"
        assert f"63-{result.province_code}/report.pdf" in result.outputs
        assert f"63-{result.province_code}/report.docx" in result.outputs
    record = json.loads((unit / batch.UNIT_RECORD).read_text(encoding="utf-8"))
    assert "63-01/report.pdf" in record["outputs"] and "63-01/report.docx" in record["outputs"]
    assert pdf_ok(unit / "report.pdf")
    import docx
    document = docx.Document(str(unit / "report.docx"))
    assert "Báo cáo thử nghiệm" in [p.text for p in document.paragraphs]
    assert len(document.inline_shapes) == 1  # the notebook's one (PNG) figure
    assert "Chỉ số" in [cell.text for cell in document.tables[0].rows[0].cells]
    # nothing changed: nothing runs
    third = tiny_batch(tmp_path, documents=("pdf",))
    assert [r.skipped for r in third.results] == ["unchanged"]
    # a PDF that cannot be made fails its unit; the last good report, PDF included, stays
    # (the unit's export half run again on its executed notebook: no kernel needed)
    good = (unit / "report.pdf").read_bytes()

    def broken(*args, **kwargs):
        raise documents.DocumentError("Chromium could not print")

    monkeypatch.setattr(documents, "write_pdf", broken)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("report.ipynb", "tables.xlsx"):
        shutil.copy(unit / name, work / name)
    parameters = record["parameters"] | {"tables_path": str(work / "tables.xlsx")}
    task = batch.UnitTask(notebook=str(TINY), parameters=record["parameters"],
                          out_dir=str(unit), work_dir=str(work), cwd=str(tmp_path),
                          title="SIPAS 2024 · Hà Nội", documents=("pdf", "docx"))
    failed = batch.finish_unit(batch.ExecutedUnit(task=task, parameters=parameters, error=None,
                                                  started=0.0))
    assert failed.status == "failed" and failed.error["ename"] == "DocumentError"
    assert failed.shown is not None  # the older report is the one shown
    assert (unit / "report.pdf").read_bytes() == good
    assert (unit / "report.docx").exists()
    assert json.loads((unit / batch.UNIT_RECORD).read_text(encoding="utf-8")) == record
    assert not work.exists()


def pdf_ok(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")


def test_a_missing_browser_is_one_message_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv(documents.CHROMEDRIVER_ENV, str(tmp_path / "no-chromedriver"))
    with pytest.raises(documents.DocumentError, match="apt-get install chromium"):
        documents.pdf_tools()
    with pytest.raises(batch.BatchError, match="--pdf: PDF output needs"):
        tiny_batch(tmp_path, documents=("pdf",))
    assert not (tmp_path / "reports" / "2024" / "63-01").exists()
    with pytest.raises(batch.BatchError, match="unknown document"):
        tiny_batch(tmp_path, documents=("odt",))


def test_the_command_line_asks_for_the_documents(monkeypatch, capsys):
    asked = {}

    def run_batch(year, **kwargs):
        asked.update(kwargs)
        raise batch.BatchError("stop here")

    monkeypatch.setattr(batch, "run_batch", run_batch)
    assert cli.main(["reports", "--year", "2024", "--pdf", "--docx"]) == 2
    assert asked["documents"] == ["pdf", "docx"]
    assert cli.main(["reports", "--year", "2024"]) == 2
    assert asked["documents"] == []


def test_markdown_becomes_word_paragraphs():
    import docx
    import nbformat
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Tiêu đề\n\n## Phần một\n\nCâu **đậm** và *nghiêng*."),
        nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
            "display_data", data={"text/markdown": "- một\n- hai\n\n> **Cảnh báo**\n\n"
                                                   "| A | B |\n|---|---|\n| 1 | 2 |"})])])
    document = docx.Document(io.BytesIO(documents.docx_bytes(notebook, lang="vi")))
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs if p.text]
    assert paragraphs[:6] == [("Title", "Tiêu đề"), ("Heading 1", "Phần một"),
                              ("Normal", "Câu đậm và nghiêng."), ("List Bullet", "một"),
                              ("List Bullet", "hai"), ("Quote", "Cảnh báo")]
    bold = [run.text for run in document.paragraphs[2].runs if run.bold]
    assert bold == ["đậm"]
    assert [[c.text for c in row.cells] for row in document.tables[0].rows] == [["A", "B"],
                                                                                ["1", "2"]]


# --------------------------------------------------------------------------------------------
# The index page and the league table link each unit's documents
# --------------------------------------------------------------------------------------------
def _result(code, status="ok", outputs=(), shown=None, unit_set="63"):
    return batch.UnitResult(unit_set=unit_set, province_code=code, parameters={},
                            status=status, seconds=0.0, outputs=list(outputs), shown=shown)


def _row_of(page: str, marker: str) -> str:
    (row,) = [r for r in page.split("<tr>") if marker in r]
    return row.split("</tr>")[0]


def test_the_index_page_links_each_units_pdf_and_word_document_when_it_has_them():
    import pandas as pd

    from sipas_analysis.report.export import index_page
    codes = ["01", "79", "48", "31", "92"]
    table = pd.DataFrame({"province_code": codes, "estimate": ["90", "89", "88", "87", "86"]})
    results = {
        "01": _result("01", outputs=["63-01/report.html", "63-01/report.pdf",
                                     "63-01/report.docx"]),
        "79": _result("79", outputs=["63-79/report.html", "63-79/report.docx"]),
        "48": _result("48", outputs=["63-48/report.html"]),
        # today's run failed, the older report (with its PDF) is shown: its PDF is linked too
        "31": _result("31", status="failed", outputs=["63-31/report.html", "63-31/report.pdf",
                                                      "63-31/report.failed.ipynb"],
                      shown={"created": "2024-01-01", "data_hash": "h"}),
        # failed with nothing kept: no links at all
        "92": _result("92", status="failed", outputs=["63-92/report.failed.ipynb"]),
    }
    for lang, pdf, word in [("vi", "Bản PDF", "Bản Word"), ("en", "PDF", "Word")]:
        page = index_page(table, results, year=2024, unit_set="63", lang=lang,
                          synthetic=False, footer="f")
        row = _row_of(page, "<td>01</td>")
        assert f'<a href="63-01/report.pdf">{pdf}</a>' in row
        assert f'<a href="63-01/report.docx">{word}</a>' in row
        row = _row_of(page, "<td>79</td>")
        assert f'<a href="63-79/report.docx">{word}</a>' in row and ".pdf" not in row
        row = _row_of(page, "<td>48</td>")
        assert ".pdf" not in row and ".docx" not in row
        assert '<a href="63-31/report.pdf">' in _row_of(page, "<td>31</td>")
        assert "href" not in _row_of(page, "<td>92</td>")


def test_a_batch_with_word_documents_links_them_from_its_index_page(tmp_path):
    result = tiny_batch(tmp_path, documents=("docx",))
    assert result.exit_status == 0, result.summary()
    page = result.index_path.read_text(encoding="utf-8")
    row = _row_of(page, '<a href="63-01/report.html">')
    assert '<a href="63-01/report.docx">Bản Word</a>' in row and ".pdf" not in row
    assert (result.index_path.parent / "63-01" / "report.docx").is_file()
