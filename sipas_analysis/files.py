"""Files written so that a reader never sees half of one: atomic replacement, an exclusive
lock between processes, and a content hash; and the guards against hostile input that
every reader and writer shares: YAML without aliases or object tags, tables for people with
spreadsheet formulas neutralised, bounded reprs and escaped control characters in messages.

Every derived file (the demo parquet, the shared-results cache, pages, manifests) is written
to a temporary name in its own folder and renamed onto its path: a concurrent reader sees the
old file or the new one, and a failure leaves the old one in place.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import reprlib
import tempfile
from pathlib import Path

_UMASK = os.umask(0o022)  # read once: files made by mkstemp are 0600, ours follow the umask
os.umask(_UMASK)


def atomic_write(path, write) -> None:
    """Call ``write(temp_path)`` then rename the temp file onto ``path``.

    The temp file is in the same folder, so the rename is atomic: readers see the old file or
    the new one, never a part; if ``write`` raises, the temp file is removed and ``path`` is
    left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> atomic_write(target, lambda tmp: pathlib.Path(tmp).write_text("done"))
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def file_lock(path, *, blocking: bool = True, remove: bool = False):
    """An exclusive lock on ``path`` (fcntl.flock) between processes and threads; yields
    whether it was taken (always True when ``blocking``). ``remove``: delete the lock file when
    the lock is released (an output folder is left without a 0-byte ``.lock``). Where fcntl
    does not exist (Windows) there is no lock: writers race, and the atomic rename keeps files
    whole.

    Removal is safe because a lock counts only while ``path`` still names the locked file: the
    holder deletes the file before it unlocks, and a process that had opened the old file and
    is granted the lock after that sees the path gone (or naming another file), lets go and
    opens the path again, so two processes never hold locks on two files of one name.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.close()
            yield False
            return
        except BaseException:
            handle.close()
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        held = os.fstat(handle.fileno())
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev,
                                                                        held.st_ino):
            break
        handle.close()  # the holder before us removed this file: lock the path's new one
    try:
        yield True
    finally:
        try:
            if remove:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()


def file_hash(path) -> str:
    """sha256 of a file's bytes (16 hex digits): fast, and the same on every machine.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = target.write_bytes(b"")
    >>> file_hash(target)
    'e3b0c44298fc1c14'
    """
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Hostile input: values shown in messages, YAML read from files, tables written for people
# --------------------------------------------------------------------------------------------

_REPR = reprlib.Repr()
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxlevel = 3


def short_repr(value, limit: int = 200) -> str:
    """``repr(value)`` cut to a bounded length (nested containers and long strings elided with
    ``...``), for error messages that show a value taken from a file.

    Examples
    --------
    >>> short_repr(["ha"] * 10**6)
    "['ha', 'ha', 'ha', 'ha', 'ha', 'ha', 'ha', 'ha', ...]"
    >>> len(short_repr("x" * 10**6)) <= 200
    True
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def printable(text) -> str:
    """``text`` with terminal control characters escaped (ESC, the other C0 and C1 controls,
    DEL), so that a value printed to a terminal cannot move the cursor, recolour or retitle
    it; newlines and tabs are kept.

    Examples
    --------
    >>> printable("Hà Nội\\x1b[2J\\x07")
    'Hà Nội\\\\x1b[2J\\\\x07'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def load_yaml(path):
    """Read a YAML file safely: plain data only (``yaml.SafeLoader``), with no anchors or
    aliases (``&a``/``*a``, which let a small file expand to gigabytes) and no language tags
    (``!!python/object``). Any such file, and any syntax error, raises one ValueError that
    starts with the file's path."""
    import yaml

    path = Path(path)

    class _NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                raise ValueError(f"{path}: line {mark.line + 1}: YAML anchors and aliases "
                                 "(&name, *name) are not accepted; write the values out")
            return super().compose_node(parent, index)

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not a YAML file") from None
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.constructor.ConstructorError as error:
        tag = getattr(error, "problem", "") or ""
        line = f"line {error.problem_mark.line + 1}: " if error.problem_mark else ""
        raise ValueError(f"{path}: {line}YAML tags that build objects are not accepted "
                         f"({short_repr(tag)}); write plain values") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: cannot read as YAML: {short_repr(str(error), 400)}") from None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutral(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralise_formulas(frame):
    """A copy of ``frame`` in which every text cell (and text column name) that a spreadsheet
    would read as a formula, i.e. starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return, starts with a single quote ``'`` instead (OWASP, "CSV injection"). Numbers,
    negative ones included, stay numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"note": ["=1+1", "ok", -3], "x": [-1.5, 2.0, 3.0]})
    >>> neutralise_formulas(table).to_dict("list")
    {'note': ["'=1+1", 'ok', -3], 'x': [-1.5, 2.0, 3.0]}
    """
    import pandas as pd

    out = frame.copy()
    out.columns = [_neutral(c) for c in out.columns]
    for position in range(out.shape[1]):
        series = out.iloc[:, position]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = [_neutral(c) for c in series.cat.categories]
            if len(set(categories)) == len(categories):
                out.isetitem(position, series.cat.rename_categories(categories))
                continue
            series = series.astype(object)
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(position, series.map(_neutral, na_action="ignore"))
    return out


TABLE_SUFFIXES = (".csv", ".xlsx")


_FIXED_DATE = datetime.datetime(2000, 1, 1)

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
SHEET_NAME_LENGTH = 31          # Excel's limit
NUMBER_FORMAT = "0.00"          # two decimals shown; the cell keeps every digit
INTEGER_FORMAT = "0"
_WIDTH = (8, 60)                # a column's width in characters: at least, at most


def sheet_names(names) -> list[str]:
    """Valid, distinct Excel sheet names for ``names``, in order: characters Excel refuses
    (``[ ] : * ? / \\`` and control characters) become a space, a leading or trailing
    apostrophe is dropped, a name is cut to 31 characters, and a name already taken (Excel
    compares them ignoring case) ends in " (2)", " (3)", ... within the 31.

    Examples
    --------
    >>> sheet_names(["Chỉ số: tỉnh/thành", "a" * 40, "A" * 31, "Giới thiệu"])
    ['Chỉ số  tỉnh thành', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA (2)', 'Giới thiệu']
    """
    out, taken = [], set()
    for name in names:
        clean = _SHEET_FORBIDDEN.sub(" ", str(name)).strip().strip("'").strip() or "Sheet"
        candidate, count = clean[:SHEET_NAME_LENGTH], 1
        while candidate.casefold() in taken:
            count += 1
            suffix = f" ({count})"
            candidate = clean[:SHEET_NAME_LENGTH - len(suffix)] + suffix
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


def _shown_width(series, number_format) -> int:
    """The characters the widest cell of ``series`` takes as Excel shows it."""
    import pandas as pd

    values = series.dropna()
    if values.empty:
        return 0
    if pd.api.types.is_bool_dtype(series.dtype):
        return 5
    if number_format is not None:
        decimals = len(number_format.partition(".")[2])
        return max(len(f"{float(v):.{decimals}f}") for v in values)
    return max(max((len(line) for line in str(v).splitlines()), default=0) for v in values)


def _number_format(series):
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype):
        return None
    if pd.api.types.is_integer_dtype(series.dtype):
        return INTEGER_FORMAT
    if pd.api.types.is_float_dtype(series.dtype):
        return NUMBER_FORMAT
    return None


def _full_precision_sheet():
    """An xlsxwriter worksheet that writes each number with every digit it has (Python's
    shortest round-trip form, 17 significant digits where needed); xlsxwriter's own writes
    16, so a value read back would differ from the table's in its last digit."""
    from xlsxwriter.worksheet import Worksheet

    class FullPrecisionWorksheet(Worksheet):
        def _xml_number_element(self, number, attributes=[]):  # noqa: B006 - the parent's
            value = float(number)
            shown = str(int(value)) if value.is_integer() and abs(value) < 2**53 \
                else repr(value)
            attr = "".join(f' {key}="{self._escape_attributes(item)}"'
                           for key, item in attributes)
            self.fh.write(f"<c{attr}><v>{shown}</v></c>")

    return FullPrecisionWorksheet if hasattr(Worksheet, "_xml_number_element") else None


def write_workbook(tables: dict, path, *, number_formats: dict | None = None) -> Path:
    """Write ``tables`` (sheet name -> DataFrame) to one Excel workbook, atomically, every text
    cell neutralised (:func:`neutralise_formulas`), sheet names made valid and distinct
    (:func:`sheet_names`).

    Made for reading: the header row is frozen, each column is as wide as its widest cell
    (within 8-60 characters; longer text wraps), numbers stay numbers at full precision, a
    float column shown with two decimals (``"0.00"``: Excel writes the reader's own decimal
    mark) and an integer column as a whole number. ``number_formats``: {sheet: {column:
    Excel number format}} for columns shown otherwise (p-values with three decimals).
    Every number keeps all its digits (read back, it equals the table's); the same tables
    give the same bytes (a fixed creation date).
    """
    import pandas as pd

    path = Path(path)
    number_formats = number_formats or {}

    def write(tmp):
        # xlsxwriter: half the time of openpyxl for a dozen small sheets. It is also told
        # never to turn a string into a formula or a link.
        options = {"strings_to_formulas": False, "strings_to_urls": False}
        with open(tmp, "wb") as handle, pd.ExcelWriter(
                handle, engine="xlsxwriter", engine_kwargs={"options": options}) as writer:
            # a fixed creation date (it is also each zip entry's date): the same tables give
            # the same bytes
            book = writer.book
            book.set_properties({"created": _FIXED_DATE})
            cell_formats = {}

            def cell_format(number_format, wrap):
                key = (number_format, wrap)
                if key not in cell_formats:
                    spec = {"num_format": number_format} if number_format else {}
                    cell_formats[key] = book.add_format(spec | ({"text_wrap": True,
                                                                 "valign": "top"} if wrap else {}))
                return cell_formats[key]

            sheet_class = _full_precision_sheet()
            for (name, table), sheet_name in zip(tables.items(), sheet_names(tables)):
                shown = neutralise_formulas(table)
                book.add_worksheet(sheet_name, worksheet_class=sheet_class)  # pandas fills it
                shown.to_excel(writer, sheet_name=sheet_name, index=False,
                               freeze_panes=(1, 0) if len(shown.columns) else None)
                sheet = writer.sheets[sheet_name]
                given = number_formats.get(name, {})
                for position, column in enumerate(shown.columns):
                    series = shown.iloc[:, position]
                    number_format = given.get(column, _number_format(series))
                    widest = max(_shown_width(series, number_format),
                                 len(str(column)) + 2)   # the header's filter-free margin
                    width = min(max(widest + 1, _WIDTH[0]), _WIDTH[1])
                    wrap = widest + 1 > _WIDTH[1]
                    if number_format or wrap:
                        sheet.set_column(position, position, width,
                                         cell_format(number_format, wrap))
                    else:
                        sheet.set_column(position, position, width)

    atomic_write(path, write)
    return path


def write_table(frame, path) -> Path:
    """Write one table for people to ``path``: CSV or Excel (``.xlsx``) by the suffix, written
    atomically, text cells neutralised (:func:`neutralise_formulas`). Another suffix raises
    ValueError naming the allowed ones. Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: a table is written as {' or '.join(TABLE_SUFFIXES)}, "
                         f"not {path.suffix or 'a file without a suffix'!r}")
    if suffix == ".xlsx":
        return write_workbook({"Sheet1": frame}, path)
    # CRLF line ends (RFC 4180): a text cell holding a lone carriage return is then quoted,
    # not split into a row of its own
    atomic_write(path, lambda tmp: neutralise_formulas(frame).to_csv(tmp, index=False,
                                                                      lineterminator="\r\n"))
    return path
