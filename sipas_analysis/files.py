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


def write_workbook(tables: dict, path) -> Path:
    """Write ``tables`` (sheet name -> DataFrame) to one Excel workbook, atomically, every text
    cell neutralised (:func:`neutralise_formulas`); sheet names are cut to Excel's 31
    characters."""
    import pandas as pd

    path = Path(path)

    def write(tmp):
        # xlsxwriter: half the time of openpyxl for a dozen small sheets. It is also told
        # never to turn a string into a formula or a link.
        options = {"strings_to_formulas": False, "strings_to_urls": False}
        with open(tmp, "wb") as handle, pd.ExcelWriter(
                handle, engine="xlsxwriter", engine_kwargs={"options": options}) as writer:
            # a fixed creation date (it is also each zip entry's date): the same tables give
            # the same bytes
            writer.book.set_properties({"created": _FIXED_DATE})
            for name, table in tables.items():
                neutralise_formulas(table).to_excel(writer, sheet_name=str(name)[:31],
                                                    index=False)

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
