"""Bytes of input files, for every reader: compression told from the file name, decompressing streams (gzip
through ISA-L when the ``fast`` extra is installed, else pyarrow's zlib; zstd and bz2 through pyarrow), blocks
cut at a delimiter, blocks of uncompressed files as views of a memory map, and a thread that reads ahead.

A damaged stream never raises out of these blocks: the bytes read before the damage come first, then one item
carries the error, for the reader to quarantine.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pyarrow as pa

from dataprep.io.readers.base import DEFAULT_CHUNK_BYTES

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
    byte_range: tuple[int, int] | None = None,
) -> Iterator[tuple[int, bytes, str | None]]:
    """Yield (first line number, bytes, error) cut at ``delimiter``; a stream error ends with its message.

    On a truncated or corrupt compressed stream the bytes read so far are still yielded (their last line is
    usually cut short and gets quarantined as malformed), then a final item carries the error. With
    ``count_lines`` off the line numbers are 0: a caller that scans newlines anyway counts them itself.
    """
    line_no = 1
    pending: list[bytes] = []
    pending_len = 0
    error = None
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
            cut = data.rfind(delimiter)
            if cut < 0:
                pending.append(data)
                pending_len += len(data)
                continue
            head = b"".join([*pending, data[: cut + len(delimiter)]])
            rest = data[cut + len(delimiter):]
            pending, pending_len = ([rest], len(rest)) if rest else ([], 0)
            yield line_no, head, None
            if count_lines:
                line_no += head.count(b"\n")
    tail = b"".join(pending)
    if tail:
        yield line_no, tail, None
        line_no += tail.count(b"\n") + (0 if tail.endswith(b"\n") else 1)
    if error:
        yield line_no, b"", error


def mapped_chunks(path: Path, chunk_bytes: int, byte_range: tuple[int, int] | None
                  ) -> Iterator[tuple[int, memoryview, str | None]]:
    """Blocks of an uncompressed file cut after a newline, as views of a memory map: no copy out of the page
    cache (the kernel reads ahead). Same items as :func:`iter_byte_chunks`. Blocks are of about equal size,
    at most ``chunk_bytes`` (no small last block that would leave the parser's threads waiting). The map is
    released when the last view of it is (a consumer may still hold the last block)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    except OSError as exc:
        yield 0, memoryview(b""), f"cannot open: {exc}"
        return
    start, end = byte_range if byte_range is not None else (0, size)
    end = min(end, size)
    if mm is None or end <= start:
        return
    view = memoryview(mm)
    n_blocks = -(-(end - start) // chunk_bytes)
    pos = start
    for k in range(1, n_blocks + 1):
        stop = end
        if k < n_blocks:  # after the first newline at or past the k-th equal cut (a long line runs over)
            nl = mm.find(b"\n", max(pos, start + (end - start) * k // n_blocks - 1), end)
            stop = nl + 1 if nl >= 0 else end
        if stop > pos:
            yield 0, view[pos:stop], None
        pos = stop


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
