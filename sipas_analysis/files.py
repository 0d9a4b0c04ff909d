"""Files written so that a reader never sees half of one: atomic replacement, an exclusive
lock between processes, and a content hash.

Every derived file (the demo parquet, the shared-results cache, pages, manifests) is written
to a temporary name in its own folder and renamed onto its path: a concurrent reader sees the
old file or the new one, and a failure leaves the old one in place.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
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
def file_lock(path, *, blocking: bool = True):
    """An exclusive lock on ``path`` (fcntl.flock) between processes and threads; yields
    whether it was taken (always True when ``blocking``). Where fcntl does not exist (Windows)
    there is no lock: writers race, and the atomic rename keeps files whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
