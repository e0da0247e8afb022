"""Which files and byte ranges a source has: files, folders and globs expanded into input units, a unit's
format told from its name, its size, and an uncompressed line-oriented file cut into line-aligned ranges
(the executor reads large JSONL files as several tasks).

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
import mmap
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dataprep.errors import InputError
from dataprep.io.readers.base import EXTENSIONS, folder_units
from dataprep.io.readers.safety import entry_problem, unit_problem
from dataprep.io.readers.scan import count_newlines
from dataprep.io.readers.streams import split_compression


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


def expand_paths(patterns: list[str], fmt: str | None = None) -> list[tuple[Path, str]]:
    """Expand files, folders and globs into a sorted, de-duplicated list of (file, name relative to its base).

    Folders are searched recursively for files of a known format (or of ``fmt`` when given). A pattern that
    matches nothing raises :class:`InputError` naming it. An entry that must not be read (:mod:`.safety`) is
    listed all the same, for its reader to quarantine; a file or folder named literally that is a link is
    listed at its real path, under the name it was given.
    """
    seen: set[Path] = set()
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
            matches = [
                m for m in Path(pattern).rglob("*")
                if _is_entry(m) and not m.name.startswith(".")
                and (detect_format(m) is not None if fmt is None else detect_format(m) in (fmt, None))
            ]
        elif os.path.isfile(pattern):
            matches = [Path(pattern)]
        else:
            raise InputError(f"input path does not exist: {pattern}")
        if not matches:
            raise InputError(f"no input files match {pattern}")
        for m in sorted(matches):
            key = m.resolve()
            if key in seen:
                continue
            seen.add(key)
            rel = (os.path.relpath(m, base) if base != m else m.name).replace(os.sep, "/")
            if not _has_magic(pattern) and m == Path(pattern) and unit_problem(m, rel) is not None:
                m = Path(os.path.realpath(m))  # named literally: read where it points
            out.append((m, rel))
    return out


def input_size(path: Path) -> int:
    """Bytes of an input unit: a file's size, or the total of a folder's files (a paper's sources) that may be
    read (not those behind a link leaving the folder); 0 for a dangling link."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and entry_problem(path, p) is None)
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def count_range_newlines(path: Path, start: int, end: int) -> int:
    """Newlines in bytes ``[start, end)`` of an uncompressed file, counted in a memory map."""
    if end <= start:
        return 0
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm, \
            memoryview(mm) as view, view[start:end] as part:
        return count_newlines(part)


def line_aligned_ranges(path: Path, split_bytes: int, count: bool = True) -> list[tuple[int, int, int | None]]:
    """Cut an uncompressed line-oriented file into equal ranges of at most about ``split_bytes``, each starting
    at a line start: ``(start, end, first line number)``. The file is memory-mapped and its newlines counted in
    place (no copy out of the page cache). With ``count`` off, the first line of every range but the first is
    None: a caller that reads the ranges in order learns them as it goes, and skips this pass over the file."""
    size = path.stat().st_size
    if split_bytes <= 0 or size <= split_bytes:
        return [(0, size, 1)]
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        cuts: list[int] = []
        n = -(-size // split_bytes)  # equal ranges of at most about split_bytes (no small tail task)
        for target in (size * k // n for k in range(1, n)):
            i = mm.find(b"\n", target - 1)  # the cut goes after the first newline at or past target - 1
            pos = size if i < 0 else i + 1
            if pos < size and (not cuts or pos > cuts[-1]):
                cuts.append(pos)
        bounds = [0, *cuts, size]
        if not count:
            return [(bounds[i], bounds[i + 1], None if i else 1) for i in range(len(bounds) - 1)]
        lines = [1]
        with memoryview(mm) as view:

            def newlines_before(k: int) -> int:  # in range k - 1
                with view[bounds[k - 1]:bounds[k]] as part:
                    return count_newlines(part)

            # the ranges are counted in parallel threads (the count releases the GIL): mapping in the pages costs
            # more than the count itself, and every core can take its share
            with ThreadPoolExecutor(max_workers=min(len(bounds) - 2, os.cpu_count() or 1)) as pool:
                for n_lines in pool.map(newlines_before, range(1, len(bounds) - 1)):
                    lines.append(lines[-1] + n_lines)
    return [(bounds[i], bounds[i + 1], lines[i]) for i in range(len(bounds) - 1)]
