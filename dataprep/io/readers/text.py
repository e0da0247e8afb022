"""Plain text (``format: text``; ``.txt``, ``.text``, ``.md``; plain or compressed): one document per file,
paragraph (blank-line separated) or line, as the source's ``text_unit`` says. Ids are ``source/file`` for a
whole file, else ``source/file:line`` of the paragraph's or line's first line; text that is not UTF-8 is
quarantined with its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from dataprep.io.readers.base import Chunk, DocBatch, Format, Quarantine, ReadOptions, empty_docs, register
from dataprep.io.readers.streams import iter_byte_chunks, read_all_bytes


def read_text(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Documents of a text file: the whole file, or its paragraphs or lines a block at a time."""
    q = Quarantine(opts.source, rel)
    unit = opts.text_unit
    if unit == "file":
        raw, error = read_all_bytes(path)
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
    for first_line, chunk, err in iter_byte_chunks(path, opts.chunk_bytes, delimiter=delim):
        if err:
            q.add("corrupt_stream", f"{err} (after line {first_line - 1})", None, line=first_line)
            yield Chunk(empty_docs(), q.take())
            continue
        texts, ids = [], []
        line = first_line
        for piece in chunk.split(delim):
            n_lines = piece.count(b"\n") + (delim.count(b"\n"))
            stripped = piece.strip(b"\r\n")
            if stripped.strip():
                start = line + (len(piece) - len(piece.lstrip(b"\n")))
                try:
                    texts.append(stripped.decode("utf-8"))
                    ids.append(f"{opts.source}/{rel}:{start}")
                except UnicodeDecodeError as exc:
                    q.add("invalid_utf8", f"invalid UTF-8 at byte {exc.start}", stripped, line=start)
            line += n_lines
        yield Chunk(_text_docs(texts, ids, opts), q.take())


def _text_docs(texts: list[str], ids: list[str], opts: ReadOptions) -> pa.Table:
    batch = DocBatch(opts.source)
    for doc_id, text in zip(ids, texts, strict=True):
        batch.add(doc_id, text)
    return batch.take()


register(Format("text", read_text, extensions=(".txt", ".text", ".md")))
