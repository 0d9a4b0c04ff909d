"""A report's outputs as files: the self-contained HTML page made from its executed notebook,
the year's index page, and the Excel workbook.

Pages are UTF-8, carry their language, inline their CSS and figures (SVG as data URIs) and run
no script: they open offline, from a USB stick or an e-mail attachment.
"""
from __future__ import annotations

import base64
import copy
import html
import re
import threading
from pathlib import Path

import pandas as pd

from .. import files, language, reference
from .display import unit_name
from .sections.ranking import index_page_table
from .shared import SharedResults

_THREAD = threading.local()


def write_tables(tables: dict[str, pd.DataFrame], path, *, lang: str | None = None,
                 kind: str = "province", about: dict | None = None) -> Path:
    """Write a report's tables to one Excel workbook, a sheet per table; written to a
    temporary name first, so a failure leaves nothing behind. Text cells that a spreadsheet
    would run as formulas are neutralised (``files.neutralise_formulas``); numbers stay
    numbers. Given ``lang``, the workbook is the reader's (:func:`reader_workbook`: a first
    sheet saying what each holds, sheets, headers and labels in the language); without it
    the tables are written as they are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if lang is None:
        return files.write_workbook(tables, path)
    shown, formats = reader_workbook(tables, lang=lang, kind=kind, about=about or {})
    return files.write_workbook(shown, path, number_formats=formats)


# Per sheet: the columns whose header says more there than the general one.
SHEET_HEADERS = {
    "index": {"estimate": "estimate_percent"},
    "national": {"estimate": "estimate_percent"},
    "ranks": {"estimate": "estimate_percent"},
    "versus_nation": {"estimate": "difference", "estimate_group": "estimate_unit",
                      "estimate_versus": "estimate_nation"},
    "drivers_ame": {"estimate": "marginal_effect"},
    "drivers_ordinal": {"estimate": "coefficient"},
    "multilevel": {"estimate": "coefficient"},
    "experience": {"estimate": "share_percent"},
    "versus_province": {"estimate": "estimate_unit", "province": "estimate_province"},
    "change": {"estimate": "difference", "estimate_group": "estimate_this_year",
               "estimate_versus": "estimate_previous_year"},
}
P_VALUE_FORMAT = "0.000"


def reader_workbook(tables: dict[str, pd.DataFrame], *, lang: str, kind: str = "province",
                    about: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    """A report's tables as its reader opens them: a first sheet (“Giới thiệu” / “About”)
    with the report's title, the synthetic-data warning when it applies, the data and year,
    how to read the numbers, one row per sheet saying what it holds, and the method as the
    page states it; then each table under its name in ``lang`` (Excel-valid, distinct), with
    headers and code labels in the language (``language.reader_table``; ``about["labels"]``
    adds label functions, the codes stay in their own columns). The synthetic-data sheet of
    :meth:`~.sections.base.ReportKind.workbook_tables` becomes the first sheet's warning.

    ``about``: ``title, data, data_hash, year, synthetic, method`` (sentences), ``labels``.
    Returns (sheet name -> table, the number formats of p-value columns for
    ``files.write_workbook``).
    """
    language.check_lang(lang)
    text = language.text
    sheets = [name for name in tables if name != "synthetic_data"]
    names = files.sheet_names([text("sheet.about", lang)] + [
        text(f"sheet.{name}", lang) if f"sheet.{name}" in language.TEXT else name
        for name in sheets])
    rows = [(text("about_report", lang), about.get("title", ""))]
    if about.get("synthetic") or "synthetic_data" in tables:
        rows.append((text("about_warning", lang), text("synthetic_banner", lang)))
    if about.get("data"):
        rows.append((text("about_data", lang), text("about_data_value", lang,
                                                    data=about["data"],
                                                    hash=about.get("data_hash", "?"))))
    if about.get("year") is not None:
        rows.append((text("about_year", lang), str(about["year"])))
    rows.append((text("about_numbers", lang), text("about_numbers_value", lang)))
    for name, shown in zip(sheets, names[1:]):
        key = f"about.{kind}.{name}"
        rows.append((text("about_sheet", lang, sheet=shown),
                     text(key, lang) if key in language.TEXT else ""))
    rows += [(text("about_method", lang), sentence) for sentence in about.get("method", ())]
    out = {names[0]: pd.DataFrame(rows, columns=[language.column_header("item", lang),
                                                 language.column_header("content", lang)])}
    formats = {}
    for name, shown in zip(sheets, names[1:]):
        headers = SHEET_HEADERS.get(name, {})
        out[shown] = language.reader_table(tables[name], lang, labels=about.get("labels"),
                                           headers=headers)
        formats[shown] = {language.column_header(c, lang, headers): P_VALUE_FORMAT
                          for c in tables[name].columns if c in language.P_VALUE_COLUMNS}
    return out, formats


PAGE_CSS = """
body { font-family: "Noto Sans", "Segoe UI", Roboto, Arial, sans-serif; line-height: 1.5;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d2327; }
h1, h2, h3 { line-height: 1.25; color: #12355b; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #d5d9dd; padding: 0.3rem 0.6rem; text-align: left; }
thead th { border-bottom: 2px solid #12355b; }
td.num, .dataframe td { text-align: right; }
img { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; background: #f6f8fa; padding: 0.5rem;
      font-family: "Noto Sans Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace; }
blockquote { background: #fff3cd; border-left: 4px solid #e0b100; margin: 1rem 0;
             padding: 0.2rem 1rem; }
a.anchor-link { display: none; }
.banner { background: #fff3cd; border: 1px solid #e0b100; padding: 0.6rem 1rem; font-weight: 600; }
.failed { color: #a4262c; }
footer { margin-top: 2rem; font-size: 0.8rem; color: #5f6b76; }
"""


def _page(body: str, *, lang: str, title: str) -> str:
    """A complete, self-contained HTML page (UTF-8, ``lang``, inline CSS, no scripts)."""
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


# Anything that would fetch from the network or run code when the page opens.
_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.I | re.S)
_LINK = re.compile(r"<link\b[^>]*>", re.I)


def _html_exporter():
    """This thread's nbconvert exporter: its templates are compiled at the first page only
    (a new exporter compiles them again, 0.15 s a page)."""
    exporter = getattr(_THREAD, "html_exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter
        exporter = HTMLExporter(template_name="basic", exclude_input=True,
                                exclude_input_prompt=True, exclude_output_prompt=True)
        _THREAD.html_exporter = exporter
    return exporter


def notebook_to_html(notebook, *, lang: str, title: str = "") -> str:
    """A notebook as a self-contained HTML page without code: nbconvert's ``basic`` template
    with ``exclude_input=True`` (outputs and markdown only; figures stay embedded as data URIs),
    stderr output (warnings) left out, wrapped in :func:`_page`. ``notebook`` is a path or a
    NotebookNode."""
    import nbformat
    nb = nbformat.read(notebook, as_version=4) if isinstance(notebook, (str, Path)) else \
        copy.deepcopy(notebook)
    heading = {"vi": "Hình", "en": "Figure"}[language.check_lang(lang)]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heading = _last_heading(cell.source) or heading
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.outputs
                        if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        for output in cell.outputs:
            data = output.get("data", {})
            heading = _last_heading(data.get("text/markdown", "")) or heading
            # An image's alt text: its own, the cell's, else the section it is in (nbconvert
            # would otherwise write an English placeholder into a Vietnamese page).
            for mime in ("image/png", "image/jpeg"):
                if mime in data and not cell.metadata.get("alt"):
                    output.setdefault("metadata", {}).setdefault(mime, {}).setdefault("alt",
                                                                                      heading)
            if "image/svg+xml" in data:
                # nbconvert's template writes an SVG's <img> without alt text: write it here
                alt = output.get("metadata", {}).get("image/svg+xml", {}).get("alt") or \
                    cell.metadata.get("alt") or heading
                svg = base64.b64encode(data["image/svg+xml"].encode("utf-8")).decode("ascii")
                output["data"] = {"text/html": f'<img src="data:image/svg+xml;base64,{svg}" '
                                               f'alt="{html.escape(alt)}">'}
    body, _ = _html_exporter().from_notebook_node(nb)
    body = _LINK.sub("", _SCRIPT.sub("", body))
    if not title:
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
        title = re.sub(r"<[^>]+>|¶", "", heading.group(1)).strip() if heading else "SIPAS"
    return _page(f"<main>\n{body}\n</main>", lang=lang, title=title)


def _last_heading(markdown) -> str | None:
    if isinstance(markdown, list):
        markdown = "".join(markdown)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown or "", re.M)
    return headings[-1] if headings else None


def index_table(shared, lang: str, *, unit_set: str) -> pd.DataFrame:
    """The index page's table: the ranking section's ``index_page_table(shared, lang)`` for
    shared results, else one built from ``shared.ranks`` (columns province_code, estimate, ci_low,
    ci_high, rank, rank_low, rank_high). Values are display strings; the first column whose
    values are unit codes links each row to its report."""
    if isinstance(shared, SharedResults):
        return index_page_table(shared, lang)
    ranks = shared.ranks.sort_values("rank")
    return pd.DataFrame({
        language.text("unit", lang): [str(c) for c in ranks["province_code"]],
        "": [unit_name(unit_set, c, lang) for c in ranks["province_code"]],
        language.text("estimate", lang): [language.format_number(v, lang)
                                          for v in ranks["estimate"]],
        language.text("ci", lang): [language.format_interval(lo, hi, lang)
                                    for lo, hi in zip(ranks["ci_low"], ranks["ci_high"])],
        language.text("rank", lang): [str(int(r)) for r in ranks["rank"]],
        language.text("rank_set", lang): [f"{int(lo)}–{int(hi)}" for lo, hi in
                                          zip(ranks["rank_low"], ranks["rank_high"])],
    })


def _code_column(table: pd.DataFrame, codes: set[str]) -> str | None:
    for column in table.columns:
        values = set(table[column].astype(str))
        if values and values <= codes:
            return column
    return None


# The documents a unit's row links to beside its page, when its folder holds them.
_DOCUMENT_LINKS = (("report.pdf", "index_pdf"), ("report.docx", "index_docx"))


def _document_links(result, lang: str) -> str:
    """Links to the unit's report.pdf and report.docx (``sipas reports --pdf``, ``--docx``), as
    its record lists them among its outputs (paths relative to the year folder, where the
    index page is); "" when it has neither."""
    outputs = [str(o) for o in (getattr(result, "outputs", None) or [])]
    links = []
    for name, key in _DOCUMENT_LINKS:
        for output in outputs:
            if Path(output).name == name:
                links.append(f'<a href="{html.escape(output)}">'
                             f"{html.escape(language.text(key, lang))}</a>")
                break
    return "".join(f" · {link}" for link in links)


def index_page(table: pd.DataFrame, results: dict, *, year: int, unit_set: str,
               lang: str, synthetic: bool, footer: str, map_svg: str | None = None) -> str:
    """The year's index page: the banner when the data are synthetic, the province map
    (``map_svg``, when given), the ranking table with a link to each unit's page (or why there
    is none) and to its PDF and Word documents when it has them, and, after it, one line per
    unit whose page is an older report kept because today's run failed (``result.shown``),
    saying why."""
    codes = set(reference.provinces(unit_set)["province_code"])
    code_column = _code_column(table, codes)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    head += f"<th>{html.escape(language.text('index_report', lang))}</th>"
    rows = []
    for _, row in table.iterrows():
        code = str(row[code_column]) if code_column is not None else None
        result = results.get(code)
        if result is not None and result.status == "ok":
            link = (f'<a href="{unit_set}-{code}/report.html">'
                    f"{html.escape(language.text('index_open', lang))}</a>")
        elif result is not None and getattr(result, "shown", None):
            link = (f'<a href="{unit_set}-{code}/report.html">'
                    f"{html.escape(language.text('index_older_link', lang))}</a> "
                    f'<span class="failed">({html.escape(language.text("index_failed", lang))})'
                    "</span>")
        elif result is not None:
            failed = html.escape(language.text("index_failed", lang))
            link = f'<span class="failed">{failed}</span>'
        else:
            link = html.escape(language.text("index_not_run", lang))
        if result is not None and (result.status == "ok" or getattr(result, "shown", None)):
            link += _document_links(result, lang)
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        rows.append(f"<tr>{cells}<td>{link}</td></tr>")
    older = [language.text(
        "index_older", lang,
        unit=f"{r.unit_set}-{r.province_code} {unit_name(r.unit_set, r.province_code, lang)}",
        created=r.shown.get("created") or "?", hash=r.shown.get("data_hash") or "?",
        error=r.short_error()) for r in results.values() if getattr(r, "shown", None)]
    notes = (f'<section class="older" role="note"><h2>'
             f'{html.escape(language.text("index_older_title", lang))}</h2>\n<ul>\n'
             + "\n".join(f"<li>{html.escape(line)}</li>" for line in older)
             + "\n</ul>\n</section>\n") if older else ""
    banner = (f'<p class="banner" role="note">{html.escape(language.text("synthetic_banner", lang))}'
              "</p>\n") if synthetic else ""
    title = language.text("index_title", lang, year=year, n=len(table))
    figure = ""
    if map_svg:
        encoded = base64.b64encode(map_svg.encode("utf-8")).decode("ascii")
        alt = html.escape(language.text("index_map_alt", lang, year=year))
        figure = (f'<figure class="map"><img src="data:image/svg+xml;base64,{encoded}" '
                  f'alt="{alt}"></figure>\n')
    body = (f"<main>\n<h1>{html.escape(title)}</h1>\n{banner}"
            f"<p>{html.escape(language.text('index_intro', lang))}</p>\n{figure}"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows)
            + f"\n</tbody>\n</table>\n{notes}</main>\n<footer>{html.escape(footer)}</footer>")
    return _page(body, lang=lang, title=title)


def league_page(shared, results: dict, *, lang: str, footer: str) -> str:
    """The province's league table (an agency batch's index page): one table per unit type,
    units ranked within their type with index, interval, rank set, PAR points, change from the
    previous survey and the above/below-the-province marks, each unit's name linking to its
    report in ``<unit_slug>/report.html`` (or saying why there is none), then its PDF and Word
    documents when it has them. ``results``: unit slug -> UnitResult."""
    from ..codebook import unit_slug
    from .sections.agency import league_display, league_notes
    types = sorted(shared.units["unit_type"].dropna().unique())
    parts = []
    for unit_type in types:
        table = league_display(shared, lang, unit_type)
        name_column = table.columns[0]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
        rows = []
        for _, row in table.iterrows():
            slug = unit_slug(row[name_column])
            result = results.get(slug)
            name = html.escape(str(row[name_column]))
            if result is not None and (result.status == "ok" or getattr(result, "shown", None)):
                name = f'<a href="{slug}/report.html">{name}</a>'
                if result.status != "ok":
                    name += (f' <span class="failed">('
                             f'{html.escape(language.text("index_failed", lang))})</span>')
                name += _document_links(result, lang)
            elif result is not None:
                name += (f' <span class="failed">'
                         f'({html.escape(language.text("index_failed", lang))})</span>')
            cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row.iloc[1:])
            rows.append(f"<tr><td>{name}</td>{cells}</tr>")
        title = language.text("agency_league_title", lang, year=shared.year,
                              kind=unit_type or "—")
        parts.append(f"<h2>{html.escape(title)}</h2>\n<table>\n<thead><tr>{head}</tr></thead>"
                     "\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")
    banner = (f'<p class="banner" role="note">{html.escape(language.text("synthetic_banner", lang))}'
              "</p>\n") if shared.synthetic else ""
    province = getattr(shared, "province_name", "")
    title = language.text("agency_league_province", lang, year=shared.year, province=province) \
        if province else language.text("agency_league_title", lang, year=shared.year,
                                       kind=shared.data_name)
    notes = league_notes(shared, lang)
    body = (f"<main>\n<h1>{html.escape(title)}</h1>\n{banner}"
            + "".join(f"<p>{html.escape(n)}</p>\n" for n in notes)
            + "\n".join(parts) + f"\n</main>\n<footer>{html.escape(footer)}</footer>")
    return _page(body, lang=lang, title=title)
