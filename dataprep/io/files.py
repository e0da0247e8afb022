"""Finding input files (files, folders, globs) and telling their format from their names."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from dataprep.errors import InputError

try:  # the compiled line scans (setup.py builds them where a C compiler is available)
    from dataprep.io import _scan
except ImportError:  # pragma: no cover - numpy fallbacks
    _scan = None

COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".warc": "warc",
    ".html": "html",
    ".htm": "html",
    ".tex": "latex",
}
#: ``stackexchange`` (a dump's Posts.xml) and ``mediawiki`` (a pages-articles XML dump) are never guessed
KNOWN_FORMATS = ("jsonl", "parquet", "arrow", "text", "warc", "html", "latex", "stackexchange", "mediawiki")
#: formats whose unit may be a folder (a LaTeX paper split over several files)
FOLDER_FORMATS = ("latex",)


def split_compression(path: str | os.PathLike) -> tuple[str, str | None]:
    """Return (name without compression suffix, compression codec or None)."""
    name = os.fspath(path)
    for suffix, codec in COMPRESSIONS.items():
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


def detect_format(path: str | os.PathLike) -> str | None:
    """Format of a file from its extension (after any compression suffix), or None if unknown."""
    base, _ = split_compression(path)
    return FORMATS.get(Path(base).suffix.lower())


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


def expand_paths(patterns: list[str], fmt: str | None = None) -> list[tuple[Path, str]]:
    """Expand files, folders and globs into a sorted, de-duplicated list of (file, name relative to its base).

    Folders are searched recursively for files of a known format (or of ``fmt`` when given). A pattern that
    matches nothing raises :class:`InputError` naming it.
    """
    seen: set[Path] = set()
    out: list[tuple[Path, str]] = []
    for pattern in patterns:
        base = glob_base(pattern)
        if _has_magic(pattern):
            matches = [Path(m) for m in glob.glob(pattern, recursive=True)]
            matches = [m for m in matches if m.is_file() or (fmt in FOLDER_FORMATS and m.is_dir())]
        elif os.path.isdir(pattern) and fmt in FOLDER_FORMATS:
            matches = _paper_units(Path(pattern))
        elif os.path.isdir(pattern):
            matches = [
                m for m in Path(pattern).rglob("*")
                if m.is_file() and not m.name.startswith(".")
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
            rel = os.path.relpath(m, base) if base != m else m.name
            out.append((m, rel.replace(os.sep, "/")))
    return out


def _paper_units(folder: Path) -> list[Path]:
    """A folder given to a folder format: itself when it holds ``.tex`` files directly (one paper), else each
    entry in it (a paper's folder, a ``.tex`` file, or an archive of sources)."""
    if any(p.suffix.lower() == ".tex" and p.is_file() for p in folder.iterdir()):
        return [folder]
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


def input_size(path: Path) -> int:
    """Bytes of an input unit: a file's size, or the total of a folder's files (a paper's sources)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def count_newlines(buf: bytes | memoryview) -> int:
    """Newline bytes in ``buf``, without copying it: the compiled scan when built, else numpy a block at a time."""
    if _scan is not None:
        return _scan.count_newlines(buf)
    import numpy as np

    arr = np.frombuffer(buf, dtype=np.uint8)
    block = 16 << 20
    return sum(int(np.count_nonzero(arr[lo:lo + block] == 10)) for lo in range(0, len(arr), block))


def count_range_newlines(path: Path, start: int, end: int) -> int:
    """Newlines in bytes ``[start, end)`` of an uncompressed file, counted in a memory map."""
    import mmap

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
    import mmap

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

            # the ranges are counted in parallel threads (the count releases the GIL): on a VM, mapping in the
            # pages costs 4x the count itself, and every core can take its share
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(len(bounds) - 2, os.cpu_count() or 1)) as pool:
                for n_lines in pool.map(newlines_before, range(1, len(bounds) - 1)):
                    lines.append(lines[-1] + n_lines)
    return [(bounds[i], bounds[i + 1], lines[i]) for i in range(len(bounds) - 1)]
