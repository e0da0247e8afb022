"""Bytes of input files, for every reader: compression told from the file name, decompressing streams (gzip
through ISA-L when the ``fast`` extra is installed, else pyarrow's zlib; zstd and bz2 through pyarrow), blocks
cut at a delimiter, blocks of uncompressed files by positional reads (a file truncated meanwhile is an error
item, never a SIGBUS), and a thread that reads ahead.

A damaged stream never raises out of these blocks: the bytes read before the damage come first, then one item
carries the error, for the reader to quarantine.

Memory is bounded by settings, not by the input: given ``max_record``, a record (the bytes between two
delimiters) that grows past it is not buffered but read on, unkept, to its end, and comes as one item whose
error is a :class:`TooLong` (its first bytes and its size) for the reader to quarantine; the blocks around it
are as usual. A record shorter than the block size may still come inside a block: readers check those (the
scan that finds a block's lines finds its longest).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa

from dataprep.io.readers.base import DEFAULT_CHUNK_BYTES, RAW_KEEP_BYTES

#: bytes read at a time while searching for the end of a record too long to keep: what was searched is let go
#: as the search goes, so memory stays bounded whatever the record's length
FIND_WINDOW = 64 << 20

try:  # ISA-L's gzip (the 'fast' extra); pyarrow's zlib reads gzip otherwise
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - optional
    _igzip = None

COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}

T = TypeVar("T")


def split_compression(path: str | os.PathLike) -> tuple[str, str | None]:
    """Return (name without compression suffix, compression codec or None)."""
    name = os.fspath(path)
    for suffix, codec in COMPRESSIONS.items():
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


class GzipStream:
    """gzip through ISA-L (the ``fast`` extra; faster than zlib), with pyarrow's error contract: a truncated or
    corrupt stream raises OSError, as pyarrow's own gzip reader does."""

    def __init__(self, path: Path) -> None:
        self._file = _igzip.open(str(path), "rb")

    def read(self, n: int = -1) -> bytes:
        try:
            return self._file.read(n)
        except OSError:
            raise
        except EOFError as exc:
            raise OSError(f"truncated compressed stream: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - ISA-L's IsalError: corrupt deflate data
            raise OSError(f"corrupt compressed stream: {exc}") from exc

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> GzipStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class TooLong:
    """In the error place of a block item: the record that starts here was longer than ``max_record`` and was
    read to its end without being kept. The item's bytes are its first ``RAW_KEEP_BYTES``; ``size`` is its
    length (delimiter excluded; with ``finished`` false the stream ended, or broke, inside it); ``newlines`` the
    newline bytes it and its delimiter held (for readers that count lines)."""

    size: int
    newlines: int = 0
    finished: bool = True


#: an item of :func:`iter_byte_chunks` and :func:`mapped_chunks`: (first line, bytes, error or TooLong)
BlockItem = tuple[int, bytes | memoryview, "str | TooLong | None"]


#: a decompressed binary stream of a file (``read``, ``close``, a context manager)
ByteStream = GzipStream | pa.NativeFile


def open_stream(path: Path) -> ByteStream:
    """A binary stream of ``path``, decompressed. Damage raises OSError whichever library reads it."""
    _, codec = split_compression(path)
    if codec == "gzip" and _igzip is not None:
        return GzipStream(path)
    return pa.input_stream(str(path), compression=codec)


def iter_byte_chunks(
    path: Path, chunk_bytes: int, delimiter: bytes = b"\n", count_lines: bool = True,
    byte_range: tuple[int, int] | None = None, max_record: int | None = None,
) -> Iterator[BlockItem]:
    """Yield (first line number, bytes, error) cut at ``delimiter``; a stream error ends with its message.

    On a truncated or corrupt compressed stream the bytes read so far are still yielded (their last line is
    usually cut short and gets quarantined as malformed), then a final item carries the error. With
    ``count_lines`` off the line numbers are 0: a caller that scans newlines anyway counts them itself.
    With ``max_record``, a record that grows past it while waiting for its delimiter comes as a
    :class:`TooLong` item instead (module docstring); memory stays below ``chunk_bytes + max_record``.
    """
    line_no = 1
    pending: list[bytes] = []
    pending_len = 0
    error = None
    skip: list[int] | None = None  # [size, newlines] of a too-long record being read past
    skip_head = b""
    overlap = b""  # the last bytes of a skipped record: its delimiter may begin there
    dlen = len(delimiter)
    try:
        stream = open_stream(path)
        remaining = None
        if byte_range is not None:
            stream.seek(byte_range[0])
            remaining = byte_range[1] - byte_range[0]
    except OSError as exc:
        yield line_no, b"", f"cannot open: {exc}"
        return
    with stream:
        while True:
            try:
                if remaining is not None:
                    data = stream.read(min(chunk_bytes, remaining)) if remaining > 0 else b""
                    remaining -= len(data)
                else:
                    data = stream.read(chunk_bytes)
            except OSError as exc:
                error = f"corrupt or truncated stream: {exc}"
                break
            if not data:
                break
            if skip is not None:  # inside a record too long to keep: look for its end
                buf = overlap + data if overlap else data
                idx = buf.find(delimiter)
                if idx < 0:
                    skip[0] += len(data)
                    skip[1] += data.count(b"\n") if count_lines else 0
                    overlap = buf[-(dlen - 1):] if dlen > 1 else b""
                    continue
                end = idx - len(overlap) + dlen  # the record's delimiter ends here in ``data``
                skip[0] += idx - len(overlap)
                skip[1] += data.count(b"\n", 0, end) if count_lines else 0
                yield line_no, skip_head, TooLong(skip[0], skip[1])
                line_no += skip[1]
                skip, overlap = None, b""
                data = data[end:]
                if not data:
                    continue
            cut = data.rfind(delimiter)
            if cut < 0:
                pending.append(data)
                pending_len += len(data)
                if max_record is not None and pending_len > max_record:
                    held = b"".join(pending)
                    pending, pending_len = [], 0
                    idx = held.rfind(delimiter)  # a delimiter cut in two by the reads
                    if idx >= 0:
                        head, held = held[: idx + dlen], held[idx + dlen:]
                        yield line_no, head, None
                        if count_lines:
                            line_no += head.count(b"\n")
                        if len(held) <= max_record:
                            pending, pending_len = [held], len(held)
                            continue
                    skip = [len(held), held.count(b"\n") if count_lines else 0]
                    skip_head = held[:RAW_KEEP_BYTES]
                    overlap = held[-(dlen - 1):] if dlen > 1 else b""
                continue
            head = b"".join([*pending, data[: cut + dlen]])
            rest = data[cut + dlen:]
            pending, pending_len = ([rest], len(rest)) if rest else ([], 0)
            yield line_no, head, None
            if count_lines:
                line_no += head.count(b"\n")
    if skip is not None:
        yield line_no, skip_head, TooLong(skip[0], skip[1], finished=error is None)
        line_no += skip[1] + 1
    tail = b"".join(pending)
    if tail:
        yield line_no, tail, None
        line_no += tail.count(b"\n") + (0 if tail.endswith(b"\n") else 1)
    if error:
        yield line_no, b"", error


class InputChanged(OSError):
    """An input file changed (was truncated or replaced) while it was being read, counted or cut."""

    def __init__(self, message: str, at: int) -> None:
        super().__init__(message)
        self.at = at  # the offset where the file ended


#: the first window a newline search reads; it doubles up to FIND_WINDOW, so a cut near a line end reads little
FIRST_WINDOW = 64 << 10


def pread_exact(fd: int, offset: int, n: int, what: str | os.PathLike) -> bytes:
    """Exactly ``n`` bytes at ``offset``; :class:`InputChanged` (naming ``what``) when the file ends first."""
    parts, got = [], 0
    while got < n:
        data = os.pread(fd, n - got, offset + got)
        if not data:
            raise InputChanged(f"{what} changed while being read: it ended at byte {offset + got:,} where "
                               f"{offset + n:,} were expected (truncated?)", offset + got)
        parts.append(data)
        got += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def line_end(fd: int, start: int, end: int, what: str | os.PathLike, keep_until: int | None = None
             ) -> tuple[int, bytes | None]:
    """The offset of the first newline at or after ``start`` (``end`` when none) and the bytes from ``start`` up
    to and including it, read in windows that grow from ``FIRST_WINDOW`` to ``FIND_WINDOW``; with
    ``keep_until``, the bytes are dropped (None) once the search passes that offset, so a line longer than a
    record's limit is never held."""
    pos, kept, window = start, [], FIRST_WINDOW
    while pos < end:
        block = pread_exact(fd, pos, min(end, pos + window) - pos, what)
        nl = block.find(b"\n")
        if kept is not None:
            kept.append(block if nl < 0 else block[:nl + 1])
        if nl >= 0:
            return pos + nl, b"".join(kept) if kept is not None else None
        pos += len(block)
        window = min(window * 2, FIND_WINDOW)
        if keep_until is not None and pos > keep_until:
            kept = None
    return end, b"".join(kept) if kept is not None else None


def mapped_chunks(path: Path, chunk_bytes: int, byte_range: tuple[int, int] | None,
                  max_record: int | None = None) -> Iterator[BlockItem]:
    """Blocks of an uncompressed file cut after a newline, read with positional reads (``pread``: one copy out
    of the page cache; not a memory map, whose pages kill the process with SIGBUS when the file is truncated
    while they are read). Same items as :func:`iter_byte_chunks`. Blocks are of about equal size, at most
    ``chunk_bytes`` (no small last block that would leave the parser's threads waiting), except that a line
    running over a cut lengthens its block; with ``max_record``, such a line longer than it comes as a
    :class:`TooLong` item instead, searched for its end a window at a time and never held whole. A file that
    shrinks while it is read ends with an error item naming the sizes (the reader quarantines it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        yield 0, memoryview(b""), f"cannot open: {exc}"
        return
    try:
        size = os.fstat(fd).st_size
        start, end = byte_range if byte_range is not None else (0, size)
        end = min(end, size)
        if end <= start:
            return
        try:
            yield from _blocks(fd, start, end, chunk_bytes, max_record, path)
        except InputChanged as exc:
            now = os.fstat(fd).st_size
            yield 0, b"", (f"file changed while being read: it ended at byte {exc.at:,} ({now:,} bytes now, "
                           f"{size:,} when the read began)")
    finally:
        os.close(fd)


def _blocks(fd: int, start: int, end: int, chunk_bytes: int, max_record: int | None, path: Path
            ) -> Iterator[BlockItem]:
    n_blocks = -(-(end - start) // chunk_bytes)
    pos = start
    for k in range(1, n_blocks + 1):
        if pos >= end:
            break
        if k == n_blocks:
            yield 0, pread_exact(fd, pos, end - pos, path), None
            return
        cut = start + (end - start) * k // n_blocks - 1
        if cut < pos:
            continue  # a long line already took this block's cut
        # the block ends after the first newline at or past the k-th equal cut (a long line runs over it)
        head = pread_exact(fd, pos, cut - pos, path)
        first = pos + head.rfind(b"\n") + 1  # the line running over the cut starts here (pos when none)
        limit = first + max_record if max_record is not None else None
        nl, tail = line_end(fd, cut, end, path, limit)
        if max_record is not None and nl - first > max_record:
            if first > pos:
                yield 0, head[:first - pos], None
            rest = tail or pread_exact(fd, cut, min(RAW_KEEP_BYTES, end - cut), path)
            raw = (head[first - pos:] + rest)[:RAW_KEEP_BYTES]
            yield 0, raw, TooLong(nl - first, 1, finished=nl < end)
            pos = min(nl + 1, end)
            continue
        assert tail is not None
        yield 0, head + tail, None
        pos = nl + 1 if nl < end else end


def read_all_bytes(path: Path) -> tuple[bytes, str | None]:
    """A whole (possibly compressed) file's bytes, and the stream error that cut it short, if any."""
    parts: list[bytes] = []
    error = None
    for _, data, err in iter_byte_chunks(path, DEFAULT_CHUNK_BYTES):
        if err:
            error = err
        else:
            parts.append(data)
    return b"".join(parts), error


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Produce ``items`` in a background thread, ``depth`` ahead, so reading and decompressing the next block
    overlaps parsing this one (both release the GIL). Exceptions are re-raised in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", done))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(("error", exc))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
