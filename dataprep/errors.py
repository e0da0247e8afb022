"""Error types that the CLI turns into one clear line (a traceback only with ``--debug``), and the one line that
says what went wrong, and where, when the machine refuses a write: a full disk, an exceeded quota, a folder
that is not writable, a read-only file system.

Why here: every layer raises these, the training loop included, which imports only torch, numpy and the
standard library; so this module imports only the standard library. Exit statuses (:func:`exit_code`): 2 for
a :class:`DataprepError` (a mistake in the recipe, the input or the command), 1 for an :class:`OutputError` or
another ``OSError`` (the machine refused), 130 for an interrupt (128 + SIGINT, the shells' convention).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class DataprepError(Exception):
    """A user-facing error: the message names the file, line or field and what to do next."""

    #: the command's exit status for this error
    exit_code = 2


class RecipeError(DataprepError):
    """A recipe is invalid: unknown step, wrong parameter type, missing input, bad output settings."""


class InputError(DataprepError):
    """An input path is missing or cannot be read at all (malformed records are quarantined instead)."""


class OutputError(DataprepError, OSError):
    """Writing the output failed because of the machine, not the data: the disk is full, the quota exceeded, the
    folder not writable, the file system read-only. ``str()`` is the one line for the user (what, which file,
    how much room it needed and had, what to do); it is an ``OSError`` too, with the original ``errno`` and the
    file's name, so that code catching ``OSError`` still does. Made by :func:`write_error`."""

    exit_code = 1

    def __init__(self, code: int | None, message: str, filename: str | None = None) -> None:
        OSError.__init__(self, code, message, filename)

    def __str__(self) -> str:
        return str(self.strerror)


#: what the user reads for the errors of a write the machine refused
REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (over the file size limit, ulimit -f, or the file system's)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error (a failing disk or a lost network mount)",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
}

#: what to do about them
HINTS = {
    errno.ENOSPC: "free space there or choose another output folder",
    errno.EDQUOT: "free space in your quota or choose another output folder",
    errno.EFBIG: "raise the limit or choose smaller shards (output.shard_bytes)",
    errno.EACCES: "this user may not write there: fix the folder's permissions or choose another output folder",
    errno.EPERM: "this user may not write there: fix the folder's permissions or choose another output folder",
    errno.EROFS: "choose an output folder on a writable file system",
}

#: errors of a full disk: the message says how much room the write needed and how much there is
FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

#: the exit status of an interrupted command (Ctrl-C): 128 + SIGINT
INTERRUPTED = 130


def size_text(n: int) -> str:
    """``n`` bytes for a person: ``'12 KB'``, ``'340 MB'``, ``'1.2 GB'`` (powers of 1024)."""
    for unit, shift in (("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10)):
        if n >= 1 << shift:
            value = n / (1 << shift)
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n} bytes"


def free_space(path: str | os.PathLike) -> tuple[int, str] | None:
    """Bytes this user may still write on the file system of ``path`` (its nearest existing folder), and that
    file system's mount point; None where it cannot be asked."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return None
    mount = p if p.is_dir() else p.parent
    try:
        while not os.path.ismount(mount) and mount != mount.parent:
            mount = mount.parent
    except OSError:  # pragma: no cover - a folder above vanished meanwhile
        pass
    return st.f_bavail * st.f_frsize, str(mount)


def reason(exc: OSError) -> str:
    """What the operating system said, in words (the errno's, not a library's wrapping of it)."""
    if exc.errno in REASONS:
        return REASONS[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _room(code: int | None, path: str | os.PathLike, needs: int | None) -> str:
    if code not in FULL:
        return ""
    parts = [f"needs ~{size_text(needs)}"] if needs else []
    free = free_space(path)
    if free is not None:
        parts.append(f"{size_text(free[0])} free on {free[1]}")
    return f" ({', '.join(parts)})" if parts else ""


def write_error(exc: OSError, path: str | os.PathLike, needs: int | None = None,
                action: str = "writing") -> OutputError:
    """The :class:`OutputError` for ``exc``, raised while ``action`` (writing, creating, ...) ``path`` (the
    file's final name, not its temporary one); ``needs``: the bytes the file takes (or had taken when the write
    failed), said for a full disk. An ``OutputError`` is returned as it is (one write wrapping another)."""
    if isinstance(exc, OutputError):
        return exc
    hint = HINTS.get(exc.errno)  # type: ignore[arg-type]
    message = f"{reason(exc)} {action} {path}{_room(exc.errno, path, needs)}" + (f"; {hint}" if hint else "")
    return OutputError(exc.errno, message, str(path))


def describe(exc: BaseException) -> str | None:
    """The one line the CLI prints instead of a traceback for ``exc``; None for an error that is a bug (its
    traceback is what to report)."""
    if isinstance(exc, DataprepError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, OSError):
        line = reason(exc)
        if exc.filename is not None:
            where = _name(exc.filename)
            line += f": {where}"
            if exc.filename2 is not None:
                line += f" -> {_name(exc.filename2)}"
            line += _room(exc.errno, where, None)
        hint = HINTS.get(exc.errno)  # type: ignore[arg-type]
        return line + (f"; {hint}" if hint else "") + ("" if exc.errno in REASONS else " (--debug shows where)")
    return None


def _name(filename: object) -> str:
    """A file name as ``OSError`` holds it (str, bytes, a path, or a descriptor's number), as text."""
    return os.fsdecode(filename) if isinstance(filename, (str, bytes, os.PathLike)) else str(filename)


def exit_code(exc: BaseException) -> int:
    """The exit status for an error :func:`describe` reports."""
    if isinstance(exc, DataprepError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return 1
