"""Which files and byte ranges a source has: files, folders and globs expanded into input units, a unit's
format told from its name, its size, and an uncompressed line-oriented file cut into line-aligned ranges
(the executor reads large JSONL files as several tasks), and a unit's *stamp* (size, modification time,
inode), which tells a resumed run whether an input changed since a task read it.

Counting and cutting read the file with ``pread`` into a buffer rather than through a memory map: a file
truncated while mapped raises SIGBUS on the next page touched, which kills the process; a read just comes back
short, and the caller learns the file changed (:class:`InputChanged`).

An entry found in a folder or by a glob is untrusted (:mod:`.safety`): a link whose real path stays inside the
source's base folder (the folder named, or the part of a glob before its first wildcard) is read where it
points; a link leaving it, a FIFO, a device or a socket stays in the list, so that its reader quarantines it
(``unsafe_path``) without opening it, and the run counts it. A file or folder named literally is the user's
choice and is read where it points. A dangling link is left out, as before.

It lives in the readers package, below the package's ``__init__``, because it needs the table of formats
(extensions, how a folder splits into units of a folder format) and ``read_documents`` needs it: outside the
package the two would import each other.
"""

from __future__ import annotations

import glob
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dataprep.errors import InputError
from dataprep.io.readers.base import EXTENSIONS, folder_units
from dataprep.io.readers.safety import entry_problem, unit_problem
from dataprep.io.readers.scan import count_newlines
from dataprep.io.readers.streams import InputChanged as InputChanged  # raised here too: callers catch it from here
from dataprep.io.readers.streams import line_end, pread_exact, split_compression


def detect_format(path: str | os.PathLike) -> str | None:
    """Format of a file from its extension (after any compression suffix), or None if unknown."""
    base, _ = split_compression(path)
    return EXTENSIONS.get(Path(base).suffix.lower())


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def glob_base(pattern: str) -> Path:
    """The folder a pattern's relative names are taken from: the part before the first glob character."""
    p = Path(pattern)
    if not _has_magic(pattern):
        return p if p.is_dir() else p.parent
    parts = []
    for part in p.parts:
        if _has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _is_entry(path: Path) -> bool:
    """A file found in a folder or by a glob that goes in the list: a regular file, or one that exists but must
    not be read (a FIFO, a device, a socket, a link leaving the source: its reader quarantines it). Folders,
    dangling links and link loops are not entries."""
    try:
        return not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _walk(folder: str, fmt: str | None) -> list[tuple[str, str]]:
    """``(name relative to folder, real path)`` of the entries of ``folder`` and its subfolders, as
    ``Path(folder).rglob("*")`` filtered by :func:`_is_entry`, hidden names and format would list them, sorted
    as paths sort (component by component). One ``scandir`` per folder: no ``stat`` per file (the entry's type
    comes with its name) and no ``realpath`` per file (a file's real path is its folder's, which is resolved once
    per folder, plus its name), except for links, which are stat'ed and resolved as before. Linked folders are
    not entered, as ``rglob`` does not enter them."""
    found: list[tuple[tuple[str, ...], str, str]] = []

    def visit(path: str, parts: tuple[str, ...], real: str) -> None:
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for entry in entries:
            try:
                link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            name = entry.name
            if is_dir:
                visit(entry.path, (*parts, name), os.path.join(real, name))
                continue
            if link and not _is_entry(Path(entry.path)):  # a link to a folder, a dangling link or a loop
                continue
            if name.startswith("."):
                continue
            kind = detect_format(name)
            if (kind is None) if fmt is None else kind not in (fmt, None):
                continue
            rel = (*parts, name)
            found.append((rel, "/".join(rel), os.path.realpath(entry.path) if link else os.path.join(real, name)))

    visit(folder, (), os.path.realpath(folder))
    found.sort(key=lambda item: item[0])
    return [(rel, real) for _, rel, real in found]


def expand_paths(patterns: list[str], fmt: str | None = None) -> list[tuple[Path, str]]:
    """Expand files, folders and globs into a sorted, de-duplicated list of (file, name relative to its base).

    Folders are searched recursively for files of a known format (or of ``fmt`` when given). A pattern that
    matches nothing raises :class:`InputError` naming it. An entry that must not be read (:mod:`.safety`) is
    listed all the same, for its reader to quarantine; a file or folder named literally that is a link is
    listed at its real path, under the name it was given.
    """
    seen: set[str] = set()
    out: list[tuple[Path, str]] = []
    units_of = folder_units(fmt)  # a format whose unit may be a folder (a LaTeX paper)
    for pattern in patterns:
        base = glob_base(pattern)
        if _has_magic(pattern):
            matches = [Path(m) for m in glob.glob(pattern, recursive=True)]
            matches = [m for m in matches if _is_entry(m) or (units_of is not None and m.is_dir())]
        elif os.path.isdir(pattern) and units_of is not None:
            matches = units_of(Path(pattern))
        elif os.path.isdir(pattern):
            found = _walk(pattern, fmt)
            if not found:
                raise InputError(f"no input files match {pattern}")
            for rel, real in found:  # in Path order already; real paths known without a resolve per file
                if real in seen:
                    continue
                seen.add(real)
                out.append((Path(pattern, rel), rel))
            continue
        elif os.path.isfile(pattern):
            matches = [Path(pattern)]
        else:
            raise InputError(f"input path does not exist: {pattern}")
        if not matches:
            raise InputError(f"no input files match {pattern}")
        for m in sorted(matches):
            key = str(m.resolve())
            if key in seen:
                continue
            seen.add(key)
            rel = (os.path.relpath(m, base) if base != m else m.name).replace(os.sep, "/")
            if not _has_magic(pattern) and m == Path(pattern) and unit_problem(m, rel) is not None:
                m = Path(os.path.realpath(m))  # named literally: read where it points
            out.append((m, rel))
    return out


#: bytes read at a time when counting newlines or looking for a cut: large enough that the read's cost per call
#: vanishes, small enough to stay in the L2/L3 cache while it is scanned
READ_BLOCK = 4 << 20

#: what identifies the content of an input unit cheaply: ``(size, mtime_ns, inode)`` of a file; for a folder
#: unit (a paper's sources) the total size, the newest mtime and the number of its readable files; None when
#: the unit does not exist
Stamp = tuple[int, int, int] | None


def _folder_files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and entry_problem(path, p) is None]


def input_size(path: Path) -> int:
    """Bytes of an input unit: a file's size, or the total of a folder's files (a paper's sources) that may be
    read (not those behind a link leaving the folder); 0 for a unit that does not exist (or vanishes while it
    is measured)."""
    stamp = input_stamp(path)
    return 0 if stamp is None else stamp[0]


def input_stamp(path: Path, st: os.stat_result | None = None) -> Stamp:
    """The :data:`Stamp` of an input unit (``st``: its ``os.stat`` result when the caller has it). A task's
    marker records the stamps of the units it read; a resumed run reruns a task whose inputs' stamps differ."""
    try:
        st = st or os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            return (st.st_size, st.st_mtime_ns, st.st_ino)
        size = mtime = n = 0
        for p in _folder_files(path):
            pst = p.stat()
            size, mtime, n = size + pst.st_size, max(mtime, pst.st_mtime_ns), n + 1
        return (size, max(mtime, st.st_mtime_ns), n)
    except OSError:
        return None


def _count_fd(fd: int, start: int, end: int, what: Path) -> int:
    count = 0
    for lo in range(start, end, READ_BLOCK):
        count += count_newlines(pread_exact(fd, lo, min(READ_BLOCK, end - lo), what))
    return count


def count_range_newlines(path: Path, start: int, end: int) -> int:
    """Newlines in bytes ``[start, end)`` of an uncompressed file, read a block at a time (never mapped: see
    the module's docstring). Raises :class:`InputChanged` if the file no longer holds the range."""
    if end <= start:
        return 0
    with open(path, "rb") as fh:
        return _count_fd(fh.fileno(), start, end, path)


def line_aligned_ranges(path: Path, split_bytes: int, count: bool = True) -> list[tuple[int, int, int | None]]:
    """Cut an uncompressed line-oriented file into equal ranges of at most about ``split_bytes``, each starting
    at a line start: ``(start, end, first line number)``. The file is read with ``pread`` (never mapped: a file
    truncated meanwhile raises :class:`InputChanged` instead of killing the process with SIGBUS), its newlines
    counted a block at a time in parallel threads (the read and the count release the GIL). With ``count`` off,
    the first line of every range but the first is None: a caller that reads the ranges in order learns them as
    it goes, and skips this pass over the file."""
    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        if split_bytes <= 0 or size <= split_bytes:
            return [(0, size, 1)]
        cuts: list[int] = []
        n = -(-size // split_bytes)  # equal ranges of at most about split_bytes (no small tail task)
        for target in (size * k // n for k in range(1, n)):
            # the cut goes after the first newline at or past target - 1 (size when there is none)
            i, _ = line_end(fd, target - 1, size, path, keep_until=target - 1)
            pos = min(i + 1, size)
            if pos < size and (not cuts or pos > cuts[-1]):
                cuts.append(pos)
        bounds = [0, *cuts, size]
        if len(bounds) == 2:  # one line, or lines all longer than the ranges: nothing to cut
            return [(0, size, 1)]
        if not count:
            return [(bounds[i], bounds[i + 1], None if i else 1) for i in range(len(bounds) - 1)]
        lines = [1]

        def newlines_before(k: int) -> int:  # in range k - 1
            return _count_fd(fd, bounds[k - 1], bounds[k], path)

        with ThreadPoolExecutor(max_workers=min(len(bounds) - 2, os.cpu_count() or 1)) as pool:
            for n_lines in pool.map(newlines_before, range(1, len(bounds) - 1)):
                lines.append(lines[-1] + n_lines)
    return [(bounds[i], bounds[i + 1], lines[i]) for i in range(len(bounds) - 1)]
