"""No input reads outside itself: the checks every reader makes on a folder entry or an archive member before it
opens or uses it. A refused entry is quarantined as ``unsafe_path`` (with its name and why) and never read.

The rules (pure functions; they import nothing of the package, so every reader module can use them):

- **On disk** (:func:`entry_problem`, :func:`unit_problem`): an entry may be read when its real path (every
  symbolic link followed) stays inside the folder it was found in: the source's base folder for an input file,
  the paper's folder for a file of a LaTeX paper. A link leaving it, a path reached through a linked folder that
  leaves it, a dangling link pointing outside it, a FIFO, a device file and a socket are refused, and never
  opened (opening a FIFO blocks forever). A link whose target stays inside may be read. A file named literally
  in a recipe is the user's choice and is read where it points (:func:`expand_paths
  <dataprep.io.readers.files.expand_paths>`). **Limitation:** a hard link is an ordinary file on disk (the
  same inode under two names), so a hard link to a host file placed inside a source folder cannot be told
  from a file and is read; only the one who can write in the source folder can make one, and only to a file
  on the same file system.
- **In archives** (:func:`member_name_problem`, :func:`tar_member_problem`): a member whose name is absolute,
  carries a drive letter or a ``..`` component is refused, and so is a tar member that is a symbolic or hard
  link (``tarfile`` would resolve it to another member), a device, a FIFO or of any type other than a
  regular file or a folder. Members are read into memory by name, never extracted where they point.

The checks read the file system at the moment they are made; a file swapped for a link between the check and
the read (a race by someone who can write in the source folder as it is read) is not guarded against.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
from pathlib import Path

#: the quarantine kind of a refused entry or member
UNSAFE = "unsafe_path"

_DRIVE = re.compile(r"^[A-Za-z]:")


def inside(base: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether the real path of ``path`` is ``base``'s real path or below it (symbolic links followed)."""
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    return real == real_base or real.startswith(real_base.rstrip(os.sep) + os.sep)


def _special(mode: int) -> str | None:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def entry_problem(base: str | os.PathLike, path: str | os.PathLike, where: str = "the source folder") -> str | None:
    """Why the file or folder ``path``, found in folder ``base``, must not be read (``where`` names ``base`` in
    the reason); None when it may be (and when it does not exist: its reader says so as it always did)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if not inside(base, path):
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(path)
            except OSError:  # pragma: no cover - it was a link a moment ago
                target = "?"
            return f"a symbolic link to {target}, which leaves {where}"
        return f"reached through a symbolic link that leaves {where} (its real path is {os.path.realpath(path)})"
    try:
        mode = os.stat(path).st_mode
    except OSError:  # a dangling link pointing inside, a link loop: nothing to read
        return None
    special = _special(mode)
    return f"{special}, never opened" if special else None


def unit_base(path: Path, rel: str) -> Path:
    """The folder an input unit was found in: ``path`` less the components of ``rel`` (its name relative to its
    source's base folder, as :func:`expand_paths <dataprep.io.readers.files.expand_paths>` gives it), or its
    parent folder when ``rel`` is not the end of ``path``."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or len(parts) > len(path.parts) or \
            tuple(path.parts[-len(parts):]) != tuple(parts):
        return path.parent
    return path.parents[len(parts) - 1]


def unit_problem(path: Path, rel: str) -> str | None:
    """Why the input unit ``path`` (named ``rel`` in its source) must not be read, None when it may."""
    return entry_problem(unit_base(path, rel), path)


def member_name_problem(name: str) -> str | None:
    """Why an archive member's name must not be used (it would leave the archive), None when it may."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")):
        return "an absolute name"
    if _DRIVE.match(name):
        return "a name with a drive letter"
    if ".." in parts:
        return "a name with a '..' component"
    if "\x00" in name:
        return "a name with a NUL character"
    return None


def tar_member_problem(member: tarfile.TarInfo) -> str | None:
    """Why a tar member must not be read (a link, a device, a FIFO, a name that leaves the archive), None for a
    regular file or folder with a safe name."""
    if member.issym():
        return f"a symbolic link (to {member.linkname})"
    if member.islnk():
        return f"a hard link (to {member.linkname})"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO (named pipe)"
    if not (member.isreg() or member.isdir()):
        return f"a member of tar type {member.type!r}"
    return member_name_problem(member.name)
