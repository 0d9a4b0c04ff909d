"""A report as documents to print and to edit: an A4 PDF of its HTML page (:func:`write_pdf`)
and a Word document of what its notebook shows (:func:`write_docx`).

PDF: the page is printed by headless Chromium (the DevTools protocol's ``Page.printToPDF``,
driven through selenium and Debian's chromedriver, offline), the same engine that shows the page
on screen, so the PDF is what an official sees in a browser: SVG figures stay vector, the
fonts are embedded (subsets), and Chromium's header and footer templates give every page the
survey's year, the synthetic-data warning when the data are synthetic, and "Trang 3/5". The
creation and modification dates Chromium writes are blanked, so the same page gives the same
bytes.

Word: the executed notebook's outputs in order (the sentences and headings the sections yield
as Markdown, their tables as Word tables, their SVG figures as PNG images drawn by CairoSVG,
since Word documents made by python-docx cannot hold SVG), with fixed core properties and zip
times, so the same notebook gives the same bytes. The Department of Home Affairs edits it into
its own analysis report.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html.parser
import io
import os
import re
import shutil
import threading
import zipfile
from pathlib import Path

from .. import files, language

DOCUMENTS = ("pdf", "docx")  # what ``sipas reports --pdf --docx`` may add to each unit
DOCUMENT_FILES = {"pdf": "report.pdf", "docx": "report.docx"}

# A4 in inches (what printToPDF takes); the margins hold the header and footer.
A4 = (8.27, 11.69)
MARGINS = {"marginTop": 0.7, "marginBottom": 0.7, "marginLeft": 0.6, "marginRight": 0.6}
# The screen page's layout (a centred 60rem column) made for paper; figures and table rows are
# not cut across pages (a figure taller than a page is shrunk to fit one), headings stay with
# what follows them.
PRINT_CSS = """
@page { size: A4; }
body { max-width: none; margin: 0; padding: 0; font-size: 10.5pt; }
h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
img, figure, tr, blockquote, .banner { break-inside: avoid; page-break-inside: avoid; }
img { max-height: 8.8in; width: auto; max-width: 100%; }
"""
_HEADER_FOOTER = ('font-family: "Noto Sans", "Liberation Sans", "DejaVu Sans", Arial, sans-serif;'
                  " font-size: 8pt; color: #5f6b76; width: 100%; margin: 0 0.6in;"
                  " display: flex; justify-content: space-between;")
# Chromium's Skia writes "/CreationDate (D:20261203115501+00'00')" and a /ModDate: when the
# file was made, not what it shows.
_PDF_DATES = re.compile(rb"/(?:CreationDate|ModDate)\s*\(D:[^)]*\)")
# The tagged PDF's structure elements are named after the page's DOM nodes, "(node00001138)",
# whose numbers grow with every page a browser has loaded.
_PDF_NODE_IDS = re.compile(rb"\(node(\d+)\)")

CHROMIUM_ENV = "SIPAS_CHROMIUM"      # another Chromium (or Chrome) binary
CHROMEDRIVER_ENV = "SIPAS_CHROMEDRIVER"
_CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--disable-extensions",
                   "--font-render-hinting=none")


class DocumentError(RuntimeError):
    """A document cannot be made (a missing tool, or Chromium failed)."""


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------
def _tool(env: str, names: tuple[str, ...]) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if Path(os.environ[env]).is_file() else None
    return next((found for name in names if (found := shutil.which(name))), None)


def pdf_tools() -> tuple[str, str]:
    """The Chromium and chromedriver binaries ``--pdf`` uses (``$SIPAS_CHROMIUM``,
    ``$SIPAS_CHROMEDRIVER`` or the PATH's); DocumentError saying what to install otherwise."""
    chromium = _tool(CHROMIUM_ENV, ("chromium", "chromium-browser", "google-chrome"))
    driver = _tool(CHROMEDRIVER_ENV, ("chromedriver",))
    missing = []
    if chromium is None or driver is None:
        missing.append("headless Chromium and its driver (Debian/Ubuntu: apt-get install "
                       "chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install selenium)")
    if missing:
        raise DocumentError("PDF output needs " + " and ".join(missing))
    return chromium, driver


_BROWSERS: dict[int, object] = {}  # thread id -> its Chromium (a thread prints one page at once)
_BROWSERS_LOCK = threading.Lock()


def _browser():
    """This thread's headless Chromium, started at its first page and kept for the next ones
    (starting one costs about a second); :func:`close_browsers` ends them all."""
    key = threading.get_ident()
    with _BROWSERS_LOCK:
        browser = _BROWSERS.get(key)
    if browser is not None:
        return browser
    chromium, driver = pdf_tools()
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in _CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="sipas-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    try:
        browser = webdriver.Chrome(service=Service(driver), options=options)
    except Exception as error:  # noqa: BLE001 - selenium raises several kinds
        shutil.rmtree(profile, ignore_errors=True)
        raise DocumentError(f"headless Chromium did not start: {error}".splitlines()[0]) \
            from error
    browser._sipas_profile = profile
    with _BROWSERS_LOCK:
        _BROWSERS[key] = browser
    return browser


def close_browsers() -> None:
    """End every Chromium :func:`write_pdf` started (the batch calls this when it ends)."""
    with _BROWSERS_LOCK:
        browsers = list(_BROWSERS.values())
        _BROWSERS.clear()
    for browser in browsers:
        try:
            browser.quit()
        except Exception:  # noqa: BLE001, S110 - a browser that already died is ended
            pass
        shutil.rmtree(getattr(browser, "_sipas_profile", ""), ignore_errors=True)


import atexit  # noqa: E402 - beside what it cleans up

atexit.register(close_browsers)


def _templates(*, year: int | None, lang: str, synthetic: bool, title: str) -> dict:
    """Chromium's header and footer templates: the title and year, the synthetic-data warning,
    the page number. Chromium fills the spans of class pageNumber and totalPages."""
    escape = html.escape
    left = escape(title or (f"SIPAS {year}" if year is not None else "SIPAS"))
    warning = escape(language.text("synthetic_mark", lang)) if synthetic else ""
    page = {"vi": 'Trang <span class="pageNumber"></span>/<span class="totalPages"></span>',
            "en": 'Page <span class="pageNumber"></span> of <span class="totalPages"></span>'}[lang]
    year_text = escape(f"SIPAS {year}") if year is not None else ""
    header = (f'<div style=\'{_HEADER_FOOTER}\'><span>{left}</span>'
              f'<span style="color:#8a6d00;font-weight:bold">{warning}</span></div>')
    footer = (f'<div style=\'{_HEADER_FOOTER}\'><span>{year_text}</span>'
              f'<span style="color:#8a6d00">{warning}</span><span>{page}</span></div>')
    return {"headerTemplate": header, "footerTemplate": footer}


def pdf_bytes(html_path, *, year: int | None = None, synthetic: bool = False,
              lang: str | None = None, title: str | None = None) -> bytes:
    """The HTML page at ``html_path`` printed to an A4 PDF by headless Chromium (see the
    module's docstring); ``lang`` and ``title`` default to the page's own."""
    browser = _browser()
    browser.get(Path(html_path).resolve().as_uri())
    found = browser.execute_script(
        "const s = document.createElement('style'); s.textContent = arguments[0];"
        "document.head.appendChild(s);"
        "return [document.documentElement.lang, document.title];", PRINT_CSS)
    lang = language.check_lang(lang or (found[0] if found[0] in language.LANGS else "vi"))
    options = {"paperWidth": A4[0], "paperHeight": A4[1], **MARGINS, "printBackground": True,
               "displayHeaderFooter": True, "preferCSSPageSize": False,
               **_templates(year=year, lang=lang, synthetic=synthetic,
                            title=title if title is not None else found[1])}
    try:
        printed = browser.execute_cdp_cmd("Page.printToPDF", options)
    except Exception as error:  # noqa: BLE001 - a dead browser is replaced at the next page
        close_browsers()
        raise DocumentError(f"Chromium could not print {html_path}: {error}".splitlines()[0]) \
            from error
    return without_dates(base64.b64decode(printed["data"]))


def without_dates(pdf: bytes) -> bytes:
    """``pdf`` with what says when or in which browser session it was made taken out, each
    replaced by bytes of the same length (so every offset in the file's cross-reference table
    stays right): the creation and modification dates blanked, the structure elements' node
    ids numbered in the order they appear.

    Examples
    --------
    >>> made = b"<</Producer (Skia) /CreationDate (D:20261203115501+00'00')>>"
    >>> without_dates(made).split()
    [b'<</Producer', b'(Skia)', b'>>']
    >>> len(without_dates(made)) == len(made)
    True
    >>> without_dates(b"/ID (node00001138) /ID (node00001140) /Headers [(node00001138)]")
    b'/ID (node00000001) /ID (node00000002) /Headers [(node00000001)]'
    """
    pdf = _PDF_DATES.sub(lambda found: b" " * len(found.group(0)), pdf)
    numbers: dict[bytes, int] = {}

    def renumbered(found) -> bytes:
        digits = found.group(1)
        number = numbers.setdefault(digits, len(numbers) + 1)
        return b"(node" + str(number).zfill(len(digits)).encode() + b")"

    return _PDF_NODE_IDS.sub(renumbered, pdf)


def write_pdf(html_path, pdf_path, *, year: int | None = None, synthetic: bool = False,
              lang: str | None = None, title: str | None = None) -> Path:
    """Print the report page ``html_path`` to the A4 PDF ``pdf_path`` (written whole or not at
    all): page numbers, the survey's year and, when ``synthetic``, the synthetic-data warning in
    the header and footer of every page; no run-time date, so the same page gives the same
    bytes. Needs Chromium, chromedriver and selenium (:func:`pdf_tools`)."""
    data = pdf_bytes(html_path, year=year, synthetic=synthetic, lang=lang, title=title)
    pdf_path = Path(pdf_path)
    files.atomic_write(pdf_path, lambda tmp: Path(tmp).write_bytes(data))
    return pdf_path


# --------------------------------------------------------------------------------------------
# Word
# --------------------------------------------------------------------------------------------
# A fixed time for the document's core properties and zip entries: the same notebook, the same
# bytes (python-docx would write today's date and zip times).
FIXED_TIME = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)
FIGURE_WIDTH_CM = 16.0   # A4's 21 cm less 2.5 cm margins
FIGURE_HEIGHT_CM = 22.0  # at most: a figure and its heading on one page
FIGURE_SCALE = 1.5  # PNG pixels per SVG point: about 200 dpi at 16 cm wide, sharp when printed


class _TableParser(html.parser.HTMLParser):
    """The tables of an HTML fragment (rows of cell texts, a header flag per row) and the
    caption written before each (``<p><em>…</em></p>``, as :class:`~.display.HtmlTable` does)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.captions: list[str] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None
        self._header = False
        self._paragraph: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            caption = " ".join(self.captions).strip()
            self.captions = []
            self.tables.append({"caption": caption, "rows": [], "header": []})
        elif tag == "tr" and self.tables:
            self._row, self._header = [], True
        elif tag in ("td", "th") and self._row is not None:
            self._text = []
            self._header &= tag == "th"
        elif tag == "p" and self._row is None:
            self._paragraph = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._text is not None and self._row is not None:
            self._row.append(" ".join("".join(self._text).split()))
            self._text = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self.tables[-1]["header"].append(self._header)
            self._row = None
        elif tag == "p" and self._paragraph is not None:
            self.captions.append(" ".join("".join(self._paragraph).split()))
            self._paragraph = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)
        elif self._paragraph is not None:
            self._paragraph.append(data)


class _Writer:
    """Appends a notebook's outputs to a python-docx Document."""

    def __init__(self, document, lang: str):
        from markdown_it import MarkdownIt
        self.document, self.lang = document, lang
        self.markdown = MarkdownIt("commonmark").enable("table")

    # Markdown: headings, paragraphs, bullet and numbered lists, block quotes, tables
    def markdown_text(self, source: str) -> None:
        tokens = self.markdown.parse(source)
        lists: list[str] = []
        quote = 0
        table: list[list[str]] | None = None
        header_rows = 0
        for position, token in enumerate(tokens):
            kind = token.type
            if kind == "bullet_list_open":
                lists.append("List Bullet")
            elif kind == "ordered_list_open":
                lists.append("List Number")
            elif kind in ("bullet_list_close", "ordered_list_close"):
                lists.pop()
            elif kind == "blockquote_open":
                quote += 1
            elif kind == "blockquote_close":
                quote -= 1
            elif kind == "table_open":
                table, header_rows = [], 0
            elif kind == "tr_open" and table is not None:
                table.append([])
            elif kind == "th_open":
                header_rows = len(table)
            elif kind == "inline" and table is not None and tokens[position - 1].type in (
                    "th_open", "td_open"):
                table[-1].append(_plain(token))
            elif kind == "table_close":
                self.table(table, header=[i < header_rows for i in range(len(table))])
                table = None
            elif kind == "inline" and tokens[position - 1].type == "heading_open":
                level = int(tokens[position - 1].tag[1])
                self.document.add_heading(_plain(token), level=0 if level == 1 else
                                          min(level - 1, 9))
            elif kind == "inline" and tokens[position - 1].type == "paragraph_open" and \
                    table is None:
                style = lists[-1] if lists else ("Quote" if quote else None)
                self.runs(self.document.add_paragraph(style=style), token)

    @staticmethod
    def runs(paragraph, token) -> None:
        bold = italic = False
        for child in token.children or []:
            if child.type == "strong_open":
                bold = True
            elif child.type == "strong_close":
                bold = False
            elif child.type == "em_open":
                italic = True
            elif child.type == "em_close":
                italic = False
            elif child.type in ("text", "code_inline"):
                run = paragraph.add_run(child.content)
                run.bold, run.italic = bold or None, italic or None
            elif child.type in ("softbreak", "hardbreak"):
                paragraph.add_run(" " if child.type == "softbreak" else "\n")

    def table(self, rows: list[list[str]], *, header: list[bool], caption: str = "") -> None:
        if not rows:
            return
        if caption:
            self.document.add_paragraph().add_run(caption).italic = True
        width = max(len(row) for row in rows)
        table = self.document.add_table(rows=len(rows), cols=width)
        table.style = "Table Grid"
        for cells, row, is_header in zip(rows, table.rows, header):
            for value, cell in zip(cells, row.cells):
                cell.text = value
                if is_header:
                    for run in cell.paragraphs[0].runs:
                        run.bold = True
        self.document.add_paragraph()

    def html_tables(self, source: str) -> bool:
        parser = _TableParser()
        parser.feed(source)
        for found in parser.tables:
            self.table(found["rows"], header=found["header"], caption=found["caption"])
        return bool(parser.tables)

    def image(self, png: bytes) -> None:
        from docx.shared import Cm
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        if height * FIGURE_WIDTH_CM > FIGURE_HEIGHT_CM * width:  # a tall figure fits the page
            self.document.add_picture(io.BytesIO(png), height=Cm(FIGURE_HEIGHT_CM))
        else:
            self.document.add_picture(io.BytesIO(png), width=Cm(FIGURE_WIDTH_CM))

    def plain(self, text: str) -> None:
        for line in text.rstrip("\n").split("\n"):
            self.document.add_paragraph(line)


def _plain(token) -> str:
    return "".join(child.content for child in token.children or []
                   if child.type in ("text", "code_inline")) or token.content


def svg_to_png(svg: str) -> bytes:
    """An SVG figure as PNG (CairoSVG, at :data:`FIGURE_SCALE` times its size)."""
    import cairosvg
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=FIGURE_SCALE)


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def docx_bytes(notebook, *, lang: str | None = None, title: str = "") -> bytes:
    """The executed notebook (a path or NotebookNode) as a Word document (see the module's
    docstring): its Markdown cells and outputs in order, code left out, warnings (stderr) left
    out."""
    import docx
    import nbformat
    from docx.oxml.ns import qn
    from docx.shared import Pt
    nb = nbformat.read(notebook, as_version=4) if isinstance(notebook, (str, Path)) else notebook
    lang = language.check_lang(lang or nb.metadata.get("papermill", {}).get(
        "parameters", {}).get("lang", "vi"))
    document = docx.Document()
    from docx.shared import Cm
    for section in document.sections:  # A4, as Vietnamese administrative documents are
        section.page_width, section.page_height = Cm(21), Cm(29.7)
        section.left_margin = section.right_margin = Cm(2.5)
        section.top_margin = section.bottom_margin = Cm(2)
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = "Times New Roman", Pt(12)
    # the language Word's spelling checker uses, and the font for Vietnamese (complex) text
    properties = normal.element.get_or_add_rPr()
    for tag, value in (("w:lang", "vi-VN" if lang == "vi" else "en-GB"),):
        element = properties.find(qn(tag))
        if element is None:
            element = properties.makeelement(qn(tag), {})
            properties.append(element)
        element.set(qn("w:val"), value)
        element.set(qn("w:eastAsia"), value)
    writer = _Writer(document, lang)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            writer.markdown_text(_joined(cell.source))
            continue
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                if output.get("name") == "stdout":
                    writer.plain(_joined(output.get("text")))
                continue
            if kind == "error":
                continue
            data = output.get("data", {})
            if "text/markdown" in data:
                writer.markdown_text(_joined(data["text/markdown"]))
            elif "image/svg+xml" in data:
                writer.image(svg_to_png(_joined(data["image/svg+xml"])))
            elif "image/png" in data:
                writer.image(base64.b64decode(_joined(data["image/png"])))
            elif "text/html" in data and writer.html_tables(_joined(data["text/html"])):
                pass
            elif "text/plain" in data and "text/html" not in data:
                writer.plain(_joined(data["text/plain"]))
    properties = document.core_properties
    properties.title = title or "SIPAS"
    properties.author = properties.last_modified_by = "SIPAS"
    properties.language = "vi-VN" if lang == "vi" else "en-GB"
    properties.created = properties.modified = properties.last_printed = \
        FIXED_TIME.replace(tzinfo=None)
    properties.revision = 1
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip_times(buffer.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """The .docx (a zip) with every entry stamped :data:`FIXED_TIME` (zipfile stamps the time
    of writing)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(entry.filename))
    return out.getvalue()


def write_docx(notebook, docx_path, *, lang: str | None = None, title: str = "") -> Path:
    """Write the executed report notebook ``notebook`` as the Word document ``docx_path``
    (whole or not at all): headings, sentences, tables as Word tables, figures as PNG images,
    in the report's language; the same notebook gives the same bytes."""
    data = docx_bytes(notebook, lang=lang, title=title)
    docx_path = Path(docx_path)
    files.atomic_write(docx_path, lambda tmp: Path(tmp).write_bytes(data))
    return docx_path


def write_documents(folder, documents, *, year: int | None, lang: str, synthetic: bool,
                    title: str = "") -> list[str]:
    """Make the ``documents`` ("pdf", "docx") of the unit whose report.html and report.ipynb
    are in ``folder``, beside them; returns their file names."""
    folder = Path(folder)
    made = []
    for name in documents:
        if name == "pdf":
            write_pdf(folder / "report.html", folder / DOCUMENT_FILES["pdf"], year=year,
                      synthetic=synthetic, lang=lang, title=title or None)
        elif name == "docx":
            write_docx(folder / "report.ipynb", folder / DOCUMENT_FILES["docx"], lang=lang,
                       title=title)
        else:
            raise ValueError(f"unknown document {name!r}; choose from {', '.join(DOCUMENTS)}")
        made.append(DOCUMENT_FILES[name])
    return made


def is_synthetic(page_html: str, lang: str) -> bool:
    """Whether a report page shows the synthetic-data banner (the headline section writes it
    when the shared results say the data are synthetic)."""
    return language.text("synthetic_banner", lang) in html.unescape(page_html)
