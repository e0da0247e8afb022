"""One run at a time per output folder: an exclusive lock on ``OUT/.lock`` held for the whole run.

Two runs into the same folder would delete each other's temporary shards and overwrite each other's markers.
:func:`hold_output` takes an exclusive ``fcntl.flock`` on ``OUT/.lock`` before the run writes or deletes
anything there (``--overwrite``'s move to ``OUT/.trash`` included) and writes the holder's pid, host name and
start time into it; a second run is refused at once with a :class:`~dataprep.errors.DataprepError` naming the
holder. Why flock: the lock belongs to the open file, so the kernel releases it when the holder dies, even by
SIGKILL -- a stale ``.lock`` file left by a killed run never blocks the next one, and no pid has to be checked
for liveness (which a pid file would need, and cannot do for a pid on another host).

Re-entrant per thread: a nested :func:`hold_output` of the same folder in the same thread (``run_recipe``
holds the folder and calls ``clean``, which holds it too) shares the outer hold instead of taking a second
flock, which would conflict with the first on Linux even within one process. Another thread, or a forked
child, is a different holder and is refused like another process. The last release deletes ``OUT/.lock``
(unlinked while still locked, then closed), so a finished run leaves no lock file behind; a run that takes the
lock checks that the file it locked is still the one at ``OUT/.lock``, and retries if a releasing holder
unlinked it meanwhile.

The lock is advisory: it keeps dataprep runs apart, not other programs. On NFS, Linux implements flock with
the protocol's byte-range locks, so it excludes runs on other hosts too (a crashed client's lock is released
when its lease expires, about 90 seconds on NFSv4); where the file system refuses locks (ENOLCK, EOPNOTSUPP:
NFS without a lock daemon, some FUSE mounts) the run goes on unlocked after a warning, as it did before the
lock existed. A mount with ``nolock`` keeps locks local to each host, which no program can detect: put the
output of concurrent hosts' runs in different folders there.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dataprep.errors import DataprepError, write_error

#: the lock file, inside the output folder it guards
LOCK_NAME = ".lock"
#: file systems that refuse locks say so with these; the run then goes on unlocked
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}


@dataclass
class OutputLock:
    """This thread's hold on an output folder (:func:`hold_output`): ``fd`` is None where the file system
    refused the lock and the run goes on unlocked."""

    folder: Path
    path: Path
    fd: int | None
    pid: int = field(default_factory=os.getpid)
    depth: int = 1


_held = threading.local()


def _holds() -> dict[str, OutputLock]:
    if not hasattr(_held, "locks"):
        _held.locks = {}
    return _held.locks


@contextmanager
def hold_output(folder: Path | str) -> Iterator[OutputLock]:
    """Hold ``folder`` (created if missing) exclusively for the ``with`` block; raises
    :class:`DataprepError` at once, naming the holder, when another run holds it. Re-entrant in one thread."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    holds = _holds()
    hold = holds.get(key)
    if hold is not None and hold.pid == os.getpid():
        hold.depth += 1
        try:
            yield hold
        finally:
            hold.depth -= 1
        return
    hold = OutputLock(folder, folder / LOCK_NAME, _acquire(folder, folder / LOCK_NAME))
    holds[key] = hold
    try:
        yield hold
    finally:
        del holds[key]
        _release(hold)


def _acquire(folder: Path, path: Path) -> int | None:
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise write_error(exc, path, action="creating the lock file") from exc  # exit 1: the machine refused
        try:
            if not _lock(fd, folder, path):
                os.close(fd)
                return None
            if _same_file(fd, path):
                _write_holder(fd)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # a holder unlinked the file between our open and our lock: lock the new one
    raise DataprepError(f"{folder}: could not lock {path} (it is replaced as fast as it is opened)")


def _lock(fd: int, folder: Path, path: Path) -> bool:
    """Lock ``fd``: True when locked, False where the file system refuses locks; raises naming the holder
    when another run holds it. A holder that has locked the file but not yet written itself in it is given a
    moment to do so."""
    holder = None
    for _ in range(20):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            holder = _read_holder(fd)
            if holder is not None:
                break
            time.sleep(0.05)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            warnings.warn(f"{folder}: the file system refuses locks ({exc.strerror}); running without the lock "
                          f"{path}, so another run into it at the same time is not detected", RuntimeWarning,
                          stacklevel=2)
            return False
    who = (f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')}"
           if holder else "a process that has not written its name in it yet")
    raise DataprepError(f"{folder} is in use by {who} (another dataprep run); wait for it or use another --output")


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _write_holder(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    data = (json.dumps(info) + "\n").encode()
    # in place: replacing the file (an atomic rename) would give it a new inode, which the lock is not on
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)  # for a reader on another NFS client


def _read_holder(fd: int) -> dict | None:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "pid" in info else None


def _release(hold: OutputLock) -> None:
    if hold.fd is None:
        return
    try:
        if _same_file(hold.fd, hold.path):
            hold.path.unlink(missing_ok=True)  # while still locked: a waiting opener then retries on a new file
    finally:
        os.close(hold.fd)
