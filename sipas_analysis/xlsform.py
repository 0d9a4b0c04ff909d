"""A codebook drafted from an ODK/KoboToolbox XLSForm, the form a survey was collected with.

The form says what the export will hold: each question's ``name`` (the export's header, under
its groups: ``danh_gia/q1_thai_do``), its label (matched to the contract's columns and
criteria as :mod:`.codebook_draft` matches headers) and, for a ``select_one`` question, its
choice list: the choice names the export holds, and the labels from which the answer scale is
recognised. The draft is the same YAML as ``sipas codebook draft`` writes, every guess commented.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import files
from .codebook_draft import Column, assemble, fold

__all__ = ["from_xlsform", "XLSFormError"]

_SKIPPED_TYPES = {"note", "end_group", "end group", "end_repeat", "end repeat", "calculate",
                  "hidden", "acknowledge"}
_METADATA = {"start": "start", "end": "end", "today": "date"}
_VIETNAMESE = ("vietnamese", "tieng viet", "(vi)", "::vi")


class XLSFormError(ValueError):
    """The file is not an XLSForm this can read; the message names the file and what lacks."""


def _label_column(header: list[str]) -> int | None:
    """The label column to read: the Vietnamese one, else plain ``label``, else the first
    ``label::<language>``."""
    keys = [fold(h).strip() if h is not None else "" for h in header]
    for position, key in enumerate(keys):
        if key.startswith("label::") and any(word in key for word in _VIETNAMESE):
            return position
    if "label" in keys:
        return keys.index("label")
    for position, key in enumerate(keys):
        if key.startswith("label"):
            return position
    return None


def _sheet_rows(workbook, name: str, path: Path) -> tuple[list[str], list[list]] | None:
    sheets = {fold(s).strip(): s for s in workbook.sheetnames}
    if name not in sheets:
        return None
    rows = [list(r) for r in workbook[sheets[name]].iter_rows(values_only=True)]
    while rows and all(v is None or str(v).strip() == "" for v in rows[0]):
        rows.pop(0)
    if not rows:
        return [], []
    header = [str(v).strip() if v is not None else None for v in rows[0]]
    return header, rows[1:]


def _cell(row: list, position: int | None):
    if position is None or position >= len(row) or row[position] is None:
        return None
    text = str(row[position]).strip()
    return text or None


def _read_form(path: Path) -> dict:
    import openpyxl

    from . import io as survey_io
    try:
        # the survey reader's guard: no zip bomb, no XML document type or entities (XXE)
        survey_io._check_workbook(path)
    except survey_io._Unreadable as error:
        raise XLSFormError(f"{files.printable(path)}: {error}") from None
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:   # a zip that is not a workbook, a damaged file
        raise XLSFormError(f"{files.printable(path)}: cannot read as an Excel workbook "
                           f"({type(error).__name__}: {files.short_repr(str(error))})") from None
    try:
        survey = _sheet_rows(workbook, "survey", path)
        choices = _sheet_rows(workbook, "choices", path)
        settings = _sheet_rows(workbook, "settings", path)
    finally:
        workbook.close()
    if survey is None:
        raise XLSFormError(f"{files.printable(path)}: not an XLSForm: it has no 'survey' sheet "
                           f"(sheets: {', '.join(map(str, workbook.sheetnames))})")
    return {"survey": survey, "choices": choices, "settings": settings}


def _choice_lists(choices) -> dict[str, list[tuple[str, str]]]:
    if not choices:
        return {}
    header, rows = choices
    keys = [fold(h).strip() if h else "" for h in header]
    list_at = keys.index("list_name") if "list_name" in keys else (
        keys.index("list name") if "list name" in keys else None)
    name_at = keys.index("name") if "name" in keys else None
    label_at = _label_column(header)
    out: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        list_name, name = _cell(row, list_at), _cell(row, name_at)
        if list_name is None or name is None:
            continue
        if re.fullmatch(r"-?\d+\.0", name):
            name = name[:-2]                       # a number cell: 1.0 is the choice "1"
        out.setdefault(list_name, []).append((name, _cell(row, label_at) or name))
    return out


def _settings_text(settings) -> str:
    if not settings or not settings[1]:
        return ""
    header, rows = settings
    keys = [fold(h).strip() if h else "" for h in header]
    said = []
    for key in ("form_title", "form_id", "version"):
        if key in keys:
            value = _cell(rows[0], keys.index(key))
            if value:
                said.append(f"{key}: {value}")
    return "; ".join(said)


def from_xlsform(path, *, separator: str = "/") -> str:
    """The draft codebook (YAML text) of an XLSForm's export.

    ``survey`` sheet: ``type``, ``name``, a label column (the Vietnamese one when the form has
    several languages); ``begin_group``/``end_group`` rows give the group path of the export's
    headers, joined by ``separator`` ("/" as KoboToolbox writes them; ODK Central writes "-").
    ``choices`` sheet: ``list_name``, ``name``, label: the scale of a ``select_one`` question
    is recognised from its labels, and both the names (what an export holds by default) and
    the labels (an export "with labels") are mapped to numbers. ``settings``: the form's title
    and version go into the first comment. KoboToolbox's own ``_uuid`` and ``_submission_time``
    columns are proposed for the id and the date when the form has none.

    Raises :class:`XLSFormError` (a ValueError) for a file without a survey sheet, a survey
    sheet without ``type``/``name`` columns, or unbalanced groups, naming the rows.
    """
    path = Path(path)
    form = _read_form(path)
    header, rows = form["survey"]
    keys = [fold(h).strip() if h else "" for h in header]
    missing = [k for k in ("type", "name") if k not in keys]
    if missing:
        raise XLSFormError(f"{files.printable(path)}: the survey sheet lacks the column(s) "
                           f"{missing} (it has {[h for h in header if h]})")
    type_at, name_at = keys.index("type"), keys.index("name")
    label_at = _label_column(header)
    lists = _choice_lists(form["choices"])
    groups: list[str] = []
    columns: list[Column] = []
    problems = []
    meta_present = set()
    for offset, row in enumerate(rows):
        row_number = offset + 2                       # the sheet's own row numbers
        kind = (_cell(row, type_at) or "").strip()
        name = _cell(row, name_at)
        base = fold(kind).split(" ")[0] if kind else ""
        if base in ("begin_group", "begin_repeat") or fold(kind) in ("begin group",
                                                                      "begin repeat"):
            groups.append(name or f"group{row_number}")
            continue
        if base in ("end_group", "end_repeat") or fold(kind) in ("end group", "end repeat"):
            if not groups:
                problems.append(f"row {row_number}: {kind} without a begin_group")
            else:
                groups.pop()
            continue
        if not kind or name is None or base in _SKIPPED_TYPES:
            continue
        label = _cell(row, label_at)
        headers = separator.join([*groups, name])
        column = Column(headers, texts=[t for t in (label, name) if t])
        if base in _METADATA:
            meta_present.add(_METADATA[base])
            column.kind = "dates"
            column.texts = [name]
        elif base in ("select_one", "select1") or kind.startswith("select_one"):
            # "select_one list" or "select_one list or_other"
            list_name = kind.split()[1] if len(kind.split()) > 1 else ""
            choices = lists.get(list_name)
            if choices is None:
                problems.append(f"row {row_number}: {name} uses the choice list "
                                f"{list_name!r}, which the choices sheet lacks")
                continue
            column.answers = [n for n, _ in choices]
            column.labels = {n: lab for n, lab in choices}
            column.kind = "labels"
            column.note = f"select_one {list_name}"
        elif base in ("integer", "decimal", "range"):
            column.kind = "numbers"
        elif base in ("date", "datetime", "time"):
            column.kind = "dates"
        else:
            column.kind = "text"
            column.note = base
        columns.append(column)
    if groups:
        problems.append(f"groups {groups} are not closed by end_group")
    if problems:
        raise XLSFormError(f"{files.printable(path)}: " + "; ".join(problems))
    defaults = {"respondent_id": ("_uuid", "KoboToolbox exports carry _uuid (ODK Central: "
                                  "meta-instanceID)"),
                "date": ("_submission_time", "KoboToolbox exports carry _submission_time, "
                         "the time the form was sent")}
    settings = _settings_text(form["settings"])
    heading = [f"XLSForm {path.name}" + (f" ({settings})" if settings else ""),
               f"Headers as the export writes them: question names under their groups, "
               f"joined by {separator!r}. For an export 'with labels', replace them by the "
               "labels; scales map both choice names and labels."]
    file_options = {"sheet": 0, "header_row": "auto", "separator": "auto", "encoding": "auto",
                    "sheet_why": "the export's first sheet",
                    "header_row_why": "an export has its header in row 1",
                    "separator_why": "KoboToolbox CSV exports use ';'",
                    "encoding_why": "found in the file"}
    return assemble(columns, file_options=file_options, title=f"the XLSForm {path.name}",
                    heading=heading, defaults=defaults, notes=[settings] if settings else ())
