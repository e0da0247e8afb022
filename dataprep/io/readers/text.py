"""Plain text (``format: text``; ``.txt``, ``.text``, ``.md``; plain or compressed): one document per file,
paragraph (blank-line separated) or line, as the source's ``text_unit`` says. Ids are ``source/file`` for a
whole file, else ``source/file:line`` of the paragraph's or line's first line; text that is not UTF-8 is
quarantined with its line. A file, paragraph or line longer than :func:`record_limit
<dataprep.io.readers.base.record_limit>` is not held: it is read on to its end unkept and quarantined as
``too_long`` with its line and size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from dataprep.io.readers.base import (
    RAW_KEEP_BYTES,
    TOO_LONG,
    Chunk,
    DocBatch,
    Format,
    Quarantine,
    ReadOptions,
    empty_docs,
    record_limit,
    register,
    too_long_error,
)
from dataprep.io.readers.streams import TooLong, iter_byte_chunks, open_stream


def read_text(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Documents of a text file: the whole file, or its paragraphs or lines a block at a time."""
    q = Quarantine(opts.source, rel)
    unit = opts.text_unit
    limit = record_limit(opts)
    if unit == "file":
        raw, error, size = _file_bytes(path, min(opts.chunk_bytes, limit + 1), limit)
        if size is not None:
            q.add(TOO_LONG, too_long_error(f"{rel} (the whole file)", size, limit, error is None), raw, line=1,
                  size=size)
            yield Chunk(empty_docs(), q.take())
            return
        if error:
            q.add("corrupt_stream", error, raw, line=None)
            yield Chunk(empty_docs(), q.take())
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            q.add("invalid_utf8", f"invalid UTF-8 at byte {exc.start} (line {line})", raw, line=line)
            yield Chunk(empty_docs(), q.take())
            return
        yield Chunk(_text_docs([text], [f"{opts.source}/{rel}"], opts), q.take())
        return
    delim = b"\n\n" if unit == "paragraph" else b"\n"
    what = "paragraph at line" if unit == "paragraph" else "line"
    for first_line, chunk, err in iter_byte_chunks(path, opts.chunk_bytes, delimiter=delim, max_record=limit):
        if isinstance(err, TooLong):
            start = first_line + (len(chunk) - len(chunk.lstrip(b"\n")))
            q.add(TOO_LONG, too_long_error(f"{what} {start}", err.size, limit, err.finished), chunk, line=start,
                  size=err.size)
            yield Chunk(empty_docs(), q.take())
            continue
        if err:
            q.add("corrupt_stream", f"{err} (after line {first_line - 1})", None, line=first_line)
            yield Chunk(empty_docs(), q.take())
            continue
        texts, ids = [], []
        line = first_line
        for piece in chunk.split(delim):
            n_lines = piece.count(b"\n") + (delim.count(b"\n"))
            stripped = piece.strip(b"\r\n")
            if len(piece) > limit:
                start = line + (len(piece) - len(piece.lstrip(b"\n")))
                q.add(TOO_LONG, too_long_error(f"{what} {start}", len(piece), limit), piece, line=start)
            elif stripped.strip():
                start = line + (len(piece) - len(piece.lstrip(b"\n")))
                try:
                    texts.append(stripped.decode("utf-8"))
                    ids.append(f"{opts.source}/{rel}:{start}")
                except UnicodeDecodeError as exc:
                    q.add("invalid_utf8", f"invalid UTF-8 at byte {exc.start}", stripped, line=start)
            line += n_lines
        yield Chunk(_text_docs(texts, ids, opts), q.take())


def _file_bytes(path: Path, chunk_bytes: int, limit: int) -> tuple[bytes, str | None, int | None]:
    """A whole (possibly compressed) file's bytes, the stream error that cut it short (if any), and None; or,
    when it is longer than ``limit``, its first ``RAW_KEEP_BYTES``, the error, and its size (the rest is read
    to its end unkept)."""
    parts: list[bytes] = []
    held = 0
    try:
        stream = open_stream(path)
    except OSError as exc:
        return b"", f"cannot open: {exc}", None
    with stream:
        while True:
            try:
                data = stream.read(chunk_bytes)
            except OSError as exc:
                raw = b"".join(parts)
                return raw[:RAW_KEEP_BYTES] if held > limit else raw, f"corrupt or truncated stream: {exc}", \
                    held if held > limit else None
            if not data:
                break
            if held <= limit:
                parts.append(data)
            held += len(data)
    raw = b"".join(parts)
    if held > limit:
        return raw[:RAW_KEEP_BYTES], None, held
    return raw, None, None


def _text_docs(texts: list[str], ids: list[str], opts: ReadOptions) -> pa.Table:
    batch = DocBatch(opts.source)
    for doc_id, text in zip(ids, texts, strict=True):
        batch.add(doc_id, text)
    return batch.take()


register(Format("text", read_text, extensions=(".txt", ".text", ".md")))
