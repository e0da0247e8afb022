"""JSONL (``format: jsonl``; ``.jsonl``, ``.ndjson``, ``.json``; plain, gzip, zstd or bz2): one document per
line, its text field as text, its id field as id (else ``source/file:line``), the other fields as ``meta``.

Blocks are parsed vectorized by ``pyarrow.json``; only a block that holds a bad line is re-read line by line to
find and quarantine exactly that line, so memory stays bounded by the block size whatever the file size.
Reading (decompressing, or positional reads of a plain file), scanning and parsing run as a pipeline of threads.

A line longer than :func:`record_limit <dataprep.io.readers.base.record_limit>` (a few times the recipe's
``max_doc_bytes``) is never held whole nor parsed: the blocks stop at it, it is read on to its newline without
being kept (streaming, plain or compressed), and it is quarantined as ``too_long`` with its line number, first
bytes and size; every other line is read with its own line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from dataprep.io.readers.base import (
    RAW_KEEP_BYTES,
    TOO_LONG,
    Chunk,
    Format,
    Quarantine,
    ReadOptions,
    docs_from_table,
    empty_docs,
    record_limit,
    register,
    too_long_error,
)
from dataprep.io.readers.scan import blank_lines, line_bounds, scan_lines
from dataprep.io.readers.streams import TooLong, iter_byte_chunks, mapped_chunks, prefetch, split_compression
from dataprep.schema import DOC_SCHEMA

#: bytes of a JSONL block's first lines parsed to learn which fields to keep as text (not timestamps)
SAMPLE_BYTES = 256 << 10
#: a block's :func:`scan_lines` result: (lines, blank lines, only plain objects, longest line)
Scan = tuple[int, int, bool, int]
#: what :func:`_parsed` learns of a block: its scan and pyarrow's table (None when the block must be read line
#: by line)
Parsed = tuple[Scan, "pa.Table | None"]
#: a block as the pipeline passes it on: (first line, bytes, stream error or too-long line) as
#: :func:`iter_byte_chunks` yields it
Block = tuple[int, bytes | memoryview, "str | TooLong | None"]


def _untimestamp(t: pa.DataType) -> pa.DataType:
    """Replace inferred timestamp types with strings: metadata keeps the text as written."""
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _untimestamp(f.type)) for f in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_untimestamp(t.value_type))
    return t


def _parse_block_fast(chunk: bytes | memoryview, max_line: int, text_fields: dict[str, pa.DataType]) -> pa.Table:
    """Parse a block of JSON objects with pyarrow. ``text_fields`` (updated here) are fields pyarrow would
    infer as timestamps or dates: they are read as strings so metadata keeps the text as written. Once a
    file has shown such a field, later blocks name it up front and are parsed once, not twice."""
    block = max(1 << 20, max_line + 2)
    # in a worker pyarrow has one CPU: its threaded parser then runs slower than the plain one
    ropts = pajson.ReadOptions(block_size=block, use_threads=pa.cpu_count() > 1)
    if not text_fields and len(chunk) > SAMPLE_BYTES:
        # learn the fields pyarrow would read as timestamps from the first lines, not from a second full parse
        cut = bytes(chunk[:SAMPLE_BYTES]).rfind(b"\n") + 1
        if cut > 0:
            sample = pajson.read_json(pa.BufferReader(pa.py_buffer(chunk[:cut])), read_options=ropts)
            text_fields.update({f.name: _untimestamp(f.type) for f in sample.schema
                                if _untimestamp(f.type) != f.type})
    hint = pajson.ParseOptions(explicit_schema=pa.schema(list(text_fields.items())),
                               unexpected_field_behavior="infer") if text_fields else None
    source = pa.BufferReader(pa.py_buffer(chunk))
    table = pajson.read_json(source, read_options=ropts, parse_options=hint)
    fixed = pa.schema([pa.field(f.name, _untimestamp(f.type)) for f in table.schema])
    if fixed != table.schema:
        text_fields.update({f.name: f.type for f in fixed if f.type != table.schema.field(f.name).type})
        popts = pajson.ParseOptions(explicit_schema=fixed, unexpected_field_behavior="infer")
        table = pajson.read_json(pa.BufferReader(pa.py_buffer(chunk)), read_options=ropts, parse_options=popts)
    return table


def read_jsonl(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Documents of a JSONL file (or of its ``opts.byte_range``), a block of about ``opts.chunk_bytes`` at a time."""
    q = Quarantine(opts.source, rel)
    text_fields: dict[str, pa.DataType] = {}
    first_line = opts.first_line
    compressed = split_compression(path)[1] is not None
    limit = record_limit(opts)
    if not compressed:
        chunks = mapped_chunks(path, opts.chunk_bytes, opts.byte_range, max_record=limit)
    else:
        chunks = iter_byte_chunks(path, opts.chunk_bytes, count_lines=False, byte_range=opts.byte_range,
                                  max_record=limit)
    # a pipeline of threads (all of this releases the GIL): one reads blocks (decompressing, or paging them in
    # from the map), scans them and checks their UTF-8; one parses them; this one makes documents of them. A
    # file of one block has nothing to overlap: it is read in this thread (starting threads costs more).
    stream = _parsed(_scanned(chunks, limit), text_fields)
    try:
        size = (opts.byte_range[1] - opts.byte_range[0]) if opts.byte_range else path.stat().st_size
    except OSError:
        size = 0  # the reader reports it
    if size * (4 if compressed else 1) > opts.chunk_bytes:
        stream = prefetch(_parsed(prefetch(_scanned(chunks, limit)), text_fields))
    for _, chunk, error, parsed in stream:
        if isinstance(error, TooLong):
            q.add(TOO_LONG, too_long_error(f"line {first_line}", error.size, limit, error.finished), chunk,
                  line=first_line, size=error.size)
            first_line += 1
            yield Chunk(empty_docs(), q.take(), lines=1)
            continue
        if error is not None:
            q.add("corrupt_stream", f"{error} (after line {first_line - 1})", None, line=first_line)
            yield Chunk(empty_docs(), q.take())
            continue
        result, n_lines = _parse_jsonl_chunk(chunk, first_line, rel, opts, q, parsed)
        first_line += n_lines
        result.lines = n_lines
        yield result


def _long_lines_cut(item: Block, limit: int) -> Iterator[Block]:
    """A block whose longest line is over ``limit`` bytes, as the pieces around each such line (views, not
    copies) and a :class:`TooLong` item for each. The streams already give a line that runs past a block that
    way; this cuts out those within one."""
    line, chunk, _ = item
    starts, ends = line_bounds(chunk)
    view = memoryview(chunk)
    pos = 0
    for i in np.flatnonzero(ends - starts > limit).tolist():
        s, e = int(starts[i]), int(ends[i])
        if s > pos:
            yield line, view[pos:s], None
        yield line, bytes(view[s: s + RAW_KEEP_BYTES]), TooLong(e - s, 1)
        pos = e + 1
    if pos < len(chunk):
        yield line, view[pos:], None


def _scanned(chunks: Iterator[Block], limit: int
             ) -> Iterator[tuple[int, bytes | memoryview, str | TooLong | None, Scan | None]]:
    """Blocks with their :func:`scan_lines` result; ``objects`` is cleared where the block is not valid UTF-8,
    so that only blocks pyarrow may parse keep it. pyarrow.json crashes the process on a top-level scalar line
    such as ``null`` (pyarrow 26): only blocks of ``{...}`` lines reach it. A line longer than ``limit`` is cut
    out of its block as a :class:`TooLong` item (:func:`_long_lines_cut`)."""
    for item in chunks:
        line, chunk, error = item
        if error is not None:
            yield line, chunk, error, None
            continue
        scan = scan_lines(chunk)
        if scan[3] > limit:
            for piece in _long_lines_cut(item, limit):
                if piece[2] is not None:
                    yield *piece, None
                else:
                    yield piece[0], piece[1], None, _checked(piece[1], scan_lines(piece[1]))
            continue
        yield line, chunk, None, _checked(chunk, scan)


def _checked(chunk: bytes | memoryview, scan: Scan) -> Scan:
    """``scan`` with ``objects`` cleared unless every line is an object and the block is valid UTF-8."""
    n_lines, n_blank, objects, max_len = scan
    objects = objects and n_blank < n_lines
    if objects:
        try:
            _validate_utf8(chunk)
        except pa.ArrowInvalid:
            objects = False
    return n_lines, n_blank, objects, max_len


def _parsed(scanned: Iterator[tuple[int, bytes | memoryview, str | TooLong | None, Scan | None]],
            text_fields: dict[str, pa.DataType]
            ) -> Iterator[tuple[int, bytes | memoryview, str | TooLong | None, Parsed | None]]:
    """Scanned blocks with pyarrow's parse of those that may take it (None: read the block line by line)."""
    for line, chunk, error, scan in scanned:
        if error is not None:
            yield line, chunk, error, None
            continue
        table = None
        if scan[2]:
            try:
                table = _parse_block_fast(chunk, scan[3], text_fields)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                table = None
        yield line, chunk, None, (scan, table)


def _parse_jsonl_chunk(chunk: bytes | memoryview, first_line: int, rel: str, opts: ReadOptions, q: Quarantine,
                       parsed: Parsed) -> tuple[Chunk, int]:
    """Turn one block of lines into documents, given its :func:`_parsed` result; returns the chunk and the
    number of lines it held."""
    (n_lines, n_blank, _, _), table = parsed
    if n_blank == n_lines:
        return Chunk(empty_docs(), q.take()), n_lines
    bounds: list[tuple[np.ndarray, np.ndarray]] = []  # line offsets, computed only when needed

    def bounds_of_lines() -> tuple[np.ndarray, np.ndarray]:
        if not bounds:
            bounds.append(line_bounds(chunk))
        return bounds[0]

    def nonblank_lines() -> np.ndarray:
        if not n_blank:
            return np.arange(n_lines)
        return np.flatnonzero(~blank_lines(chunk, *bounds_of_lines()))

    if table is not None and table.num_rows == n_lines - n_blank:
        nonblank = nonblank_lines()

        def raw_of(i: int) -> bytes:
            starts, ends = bounds_of_lines()
            return bytes(chunk[starts[nonblank[i]]: ends[nonblank[i]]])

        docs = docs_from_table(table, nonblank + first_line, "line", rel, opts, q, raw_of)
        if docs is not None:
            return Chunk(docs, q.take()), n_lines
    starts, ends = bounds_of_lines()
    return _parse_jsonl_slow(chunk, starts, ends, nonblank_lines(), first_line, rel, opts, q), n_lines


def _validate_utf8(chunk: bytes | memoryview) -> None:
    """Raise ArrowInvalid unless ``chunk`` is valid UTF-8 (checked in C, without copying it)."""
    offsets = pa.py_buffer(np.array([0, len(chunk)], dtype=np.int64))
    pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(chunk)]).validate(full=True)


def _parse_jsonl_slow(
    chunk: bytes | memoryview,
    starts: np.ndarray,
    ends: np.ndarray,
    nonblank: np.ndarray,
    first_line: int,
    rel: str,
    opts: ReadOptions,
    q: Quarantine,
) -> Chunk:
    """Line-by-line parse of a block known to hold at least one bad line: quarantine exactly the bad ones."""
    chunk = bytes(chunk)  # a block may be a memoryview: bytes methods below
    ids, texts, metas = [], [], []
    tf, idf = opts.text_field, opts.id_field
    for i in nonblank.tolist():
        raw = chunk[starts[i]: ends[i]]
        line = first_line + i
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            q.add("invalid_utf8", f"invalid UTF-8 at byte {exc.start}", raw, line=line)
            continue
        if not s.strip():
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as exc:
            q.add("malformed_json", f"malformed JSON: {exc.msg} at column {exc.colno}", raw, line=line)
            continue
        except RecursionError:
            q.add("malformed_json", "malformed JSON: nesting too deep", raw, line=line)
            continue
        if not isinstance(obj, dict):
            q.add("not_an_object", f"JSON value is {_json_type(obj)}, expected an object", raw, line=line)
            continue
        if tf not in obj:
            q.add("missing_text", f"missing text field '{tf}'", raw, line=line)
            continue
        text = obj.pop(tf)
        if not isinstance(text, str):
            q.add("text_not_string", f"text field '{tf}' is {_json_type(text)}, expected a string", raw, line=line)
            continue
        doc_id = obj.pop(idf, None) if idf else None
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
            if doc_id is not None and idf:
                obj[idf] = doc_id  # keep an unusable id value as metadata
            doc_id = f"{opts.source}/{rel}:{line}"
        obj = {k: v for k, v in obj.items() if v is not None}  # as the vectorized path: no null fields
        meta = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if obj else None
        try:
            text.encode("utf-8")
            if meta is not None:
                meta.encode("utf-8")
        except UnicodeEncodeError:
            q.add("invalid_unicode", "text contains an unpaired surrogate escape", raw, line=line)
            continue
        ids.append(str(doc_id))
        texts.append(text)
        metas.append(meta)
    docs = pa.Table.from_arrays(
        [
            pa.array(ids, pa.large_string()),
            pa.array(texts, pa.large_string()),
            pa.array([opts.source] * len(ids), pa.large_string()),
            pa.array(metas, pa.large_string()),
        ],
        schema=DOC_SCHEMA,
    )
    return Chunk(docs, q.take())


def _json_type(value: object) -> str:
    return {type(None): "null", bool: "a boolean", int: "a number", float: "a number", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


register(Format("jsonl", read_jsonl, extensions=(".jsonl", ".ndjson", ".json")))
