"""Line scans of byte blocks: how many lines and blank lines a JSONL block holds, whether it holds only plain
``{...}`` objects, its longest line, and newline counts of file ranges.

One pass in C (``_scan.c``, built by ``setup.py`` where a C compiler is available; it releases the GIL and reads
a memory map without copying), else numpy with the same results. The compiled module lives in this package of
its own so that importing it imports nothing above it.
"""

from __future__ import annotations

import numpy as np

try:  # the compiled line scans (setup.py builds them where a C compiler is available)
    from dataprep.io.readers.scan import _scan
except ImportError:  # pragma: no cover - numpy fallbacks
    _scan = None


def line_bounds(chunk: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every line in ``chunk`` (end excludes the newline)."""
    arr = np.frombuffer(chunk, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    ends = nl if (len(arr) and arr[-1] == 10) else np.append(nl, len(arr))
    starts = np.concatenate(([0], nl + 1))[: len(ends)]
    return starts, ends


def blank_lines(chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which lines are blank: empty, or a lone ``\\r``."""
    arr = np.frombuffer(chunk, dtype=np.uint8)
    lengths = ends - starts
    return (lengths == 0) | ((lengths == 1) & (arr[np.maximum(ends - 1, 0)] == 13))


def scan_lines(chunk: bytes | memoryview) -> tuple[int, int, bool, int]:
    """``(n_lines, n_blank, objects, max_len)`` of a block: its lines (a last one without a newline counts),
    the empty ones (``""`` or ``"\\r"``), whether every other line is a plain ``{...}`` object, and the
    longest line's bytes. One pass in the compiled scan when built, else numpy."""
    if _scan is not None:
        return _scan.scan_lines(chunk)
    if not len(chunk):
        return 0, 0, True, 0
    starts, ends = line_bounds(chunk)
    arr = np.frombuffer(chunk, dtype=np.uint8)
    lengths = ends - starts
    tails = np.maximum(ends - 1, 0)
    tails = tails - ((arr[tails] == 13) & (lengths > 0))
    blank = blank_lines(chunk, starts, ends)
    nonblank = ~blank
    objects = bool(np.all(arr[starts[nonblank]] == ord("{")) and np.all(arr[tails[nonblank]] == ord("}")))
    return len(ends), int(blank.sum()), objects, int(lengths.max())


def count_newlines(buf: bytes | memoryview) -> int:
    """Newline bytes in ``buf``, without copying it: the compiled scan when built, else numpy a block at a time."""
    if _scan is not None:
        return _scan.count_newlines(buf)
    arr = np.frombuffer(buf, dtype=np.uint8)
    block = 16 << 20
    return sum(int(np.count_nonzero(arr[lo:lo + block] == 10)) for lo in range(0, len(arr), block))
