"""The lock a batch holds on its output folder (``files.file_lock``): exclusive between
threads and processes, and, with ``remove=True``, gone from the folder once released without
ever letting two holders in (a waiter granted the lock on the deleted file opens the path's
new file instead)."""
from __future__ import annotations

import threading
import time

from sipas_analysis.files import file_lock


def test_a_removed_lock_leaves_no_file(tmp_path):
    path = tmp_path / ".batch.lock"
    with file_lock(path, blocking=False, remove=True) as locked:
        assert locked and path.exists()
        with file_lock(path, blocking=False) as second:
            assert not second
    assert not path.exists()
    with file_lock(path) as locked:   # without remove the file stays, as before
        assert locked
    assert path.exists()


def test_a_waiter_on_a_removed_lock_file_does_not_share_the_lock(tmp_path):
    path = tmp_path / ".batch.lock"
    taken, release, holding, done = (threading.Event() for _ in range(4))
    seen = {}

    def first():
        with file_lock(path, remove=True):
            taken.set()
            release.wait(10)

    def waiter():
        taken.wait(10)
        # opens the first holder's file now, and blocks on it until that holder deletes and
        # unlocks it
        with file_lock(path, remove=True) as locked:
            seen["waiter"] = locked
            holding.set()
            done.wait(10)

    threads = [threading.Thread(target=first), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    taken.wait(10)
    time.sleep(0.3)          # the waiter is blocked in flock on the first holder's file
    release.set()
    assert holding.wait(10) and seen["waiter"]
    # the waiter holds the lock of the file the path names now: a newcomer is refused
    assert path.exists()
    with file_lock(path, blocking=False) as newcomer:
        assert not newcomer
    done.set()
    for thread in threads:
        thread.join(10)
    assert not path.exists()
