"""A real browser opens one unit's report page and the year's index page (headless Chromium
driven by selenium; Debian's ``chromium`` and ``chromium-driver``, nothing downloaded at run
time): every image loaded, the Vietnamese text is there, no console errors; a screenshot of each
page is kept in test-artifacts/.

The pages are built by the batch from the real report notebook, so this is also the end-to-end
run of one unit's report (two units, Vietnamese, the demo data); set
SIPAS_BROWSER_NOTEBOOK=tests/data/notebooks/<tiny>.ipynb for a quick check of the page
machinery alone.
"""
from __future__ import annotations

import os
import shutil
import types
from pathlib import Path

import pytest

from sipas_analysis import batch
from tests.test_batch import TINY, fake_shared

REPORT = Path(__file__).resolve().parent.parent / "notebooks" / "province_report.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--window-size=1280,1600"]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        message = ("headless Chromium is not installed; install with: "
                   "apt-get install chromium chromium-driver")
        # CI installs it (.ci/run): there a missing browser is a failure, not a skip
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed: pip install selenium")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """index.html and one unit's report.html, built by the batch (2 units, Vietnamese)."""
    root = tmp_path_factory.mktemp("browser")
    notebook = Path(os.environ.get("SIPAS_BROWSER_NOTEBOOK", REPORT)).resolve()
    real = notebook != TINY.resolve()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("SIPAS_PROCESSED_DIR", str(root / "data" / "processed"))
        result = batch.run_batch(2024, units="01,79", data="demo", jobs=2, out="reports",
                                 notebook=notebook, cache_dir=root / "cache", progress=False,
                                 compute=None if real else fake_shared)
    assert result.exit_status == 0, result.summary()
    return types.SimpleNamespace(index=result.index_path, real=real,
                                 unit=result.out_dir / "63-79" / "report.html")


def open_page(driver, path: Path, name: str):
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")  # wait until the page has loaded
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 0
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    text = driver.find_element("tag name", "body").text
    return images, errors, text


def test_unit_page_in_a_browser(driver, pages):
    images, errors, text = open_page(driver, pages.unit, "report_63-79")
    assert images, "the report has no figure"
    assert all(complete and width > 0 for complete, width, _alt in images), images
    assert "Chỉ số" in text and "Hồ Chí Minh" in text
    if pages.real:   # the province map, the unit outlined, with its caption
        assert any(alt.startswith("Bản đồ các tỉnh") and alt.endswith("Hồ Chí Minh viền đậm")
                   for _c, _w, alt in images), images
        assert "Hồ Chí Minh được viền đậm" in text
    assert errors == []
    assert driver.execute_script("return document.documentElement.lang") == "vi"
    assert driver.execute_script("return document.characterSet") == "UTF-8"


def test_index_page_in_a_browser(driver, pages):
    images, errors, text = open_page(driver, pages.index, "index_2024")
    assert all(complete and width > 0 for complete, width, _alt in images), images
    if pages.real:   # the province map, drawn from the shared results' quartile groups
        assert any(alt.startswith("Bản đồ các tỉnh") for _c, _w, alt in images), images
    assert "Chỉ số SIPAS năm 2024" in text and "DỮ LIỆU MÔ PHỎNG" in text
    assert errors == []
    # the link to a unit's page leads to that page
    driver.find_element("css selector", 'a[href="63-79/report.html"]').click()
    assert Path(driver.current_url.removeprefix("file://")).resolve() == pages.unit.resolve()


def test_console_errors_are_seen(driver, tmp_path):
    """The console check can fail: a page with a broken image and a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html lang="vi"><meta charset="utf-8"><body>'
                    '<img src="missing.png"><script>undefined_function()</script></body></html>',
                    encoding="utf-8")
    images, errors, _ = open_page(driver, page, "broken_page_check")
    assert images[0][1] == 0
    assert errors
    (ARTIFACTS / "broken_page_check.png").unlink()
    shutil.rmtree(tmp_path, ignore_errors=True)
