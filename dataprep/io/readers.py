"""Streaming readers: JSONL (plain, gzip, zstd, bz2), Parquet, Arrow IPC/Feather and plain text; WARC and HTML
pages (:mod:`dataprep.io.web`); LaTeX papers, StackExchange and MediaWiki dumps (:mod:`dataprep.io.dumps`).

Every reader yields :class:`Chunk` objects: a table of documents on :data:`dataprep.schema.DOC_SCHEMA` and a
table of quarantined records (malformed lines or rows, with file, line or row, and the error). Memory stays
bounded by the chunk size whatever the file size. JSONL is parsed vectorized by ``pyarrow.json`` a block at
a time; only a block that holds a bad line is re-read line by line to find and quarantine exactly that line.
Reading, scanning (:func:`scan_lines`, compiled in ``_scan.c``), parsing and building documents run as a
pipeline of threads, a few blocks deep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from dataprep.io.files import _scan, detect_format, expand_paths, split_compression
from dataprep.schema import DOC_SCHEMA, QUARANTINE_SCHEMA

try:  # ISA-L's gzip (the 'fast' extra); pyarrow's zlib reads gzip otherwise
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - optional
    _igzip = None

DEFAULT_CHUNK_BYTES = 16 << 20
PARQUET_BATCH_ROWS = 8192
RAW_KEEP_BYTES = 4096
#: bytes of a JSONL block's first lines parsed to learn which fields to keep as text (not timestamps)
SAMPLE_BYTES = 256 << 10


@dataclass(frozen=True)
class ReadOptions:
    """How one source's files are read. ``text_unit`` applies to plain text: file, paragraph or line."""

    source: str
    format: str | None = None
    text_field: str = "text"
    id_field: str | None = "id"
    text_unit: str = "file"
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    #: read only bytes [start, end) of an uncompressed JSONL file (line-aligned), whose first line is
    #: ``first_line``: the executor splits large files into several tasks this way
    byte_range: tuple[int, int] | None = None
    first_line: int = 1
    #: reader options of the formats that take them, as sorted (name, value) pairs (see FORMAT_OPTIONS)
    options: tuple[tuple[str, Any], ...] = ()


#: options a source may give its reader, per format: name -> (type, help)
FORMAT_OPTIONS: dict[str, dict[str, tuple[type, str]]] = {
    "warc": {"extractor": (str, "trafilatura (default) | resiliparse"),
             "main_content": (bool, "main text only (default true)")},
    "html": {"extractor": (str, "trafilatura (default) | resiliparse"),
             "main_content": (bool, "main text only (default true)")},
    "stackexchange": {"site": (str, "site name in ids and meta (default: the dump folder's name)"),
                      "memory_mb": (int, "bound on the posts joined at once (default 512)")},
    "mediawiki": {},
    "latex": {},
}


def check_options(fmt: str | None, options: dict[str, Any]) -> str | None:
    """None when ``options`` suit format ``fmt``, else what is wrong (for recipe validation)."""
    if not options:
        return None
    allowed = FORMAT_OPTIONS.get(fmt or "")
    if not allowed:
        return f"format {fmt or '(guessed)'} takes no 'options'; formats with options: {', '.join(FORMAT_OPTIONS)}"
    for key, value in options.items():
        if key not in allowed:
            return f"format {fmt} has no option '{key}'; it takes: {', '.join(allowed) or 'none'}"
        typ, help_ = allowed[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            return f"option '{key}' must be {typ.__name__} ({help_}), got {value!r}"
    if options.get("extractor") not in (None, "resiliparse", "trafilatura"):
        return f"option 'extractor' must be resiliparse or trafilatura, got {options['extractor']!r}"
    return None


@dataclass
class Chunk:
    """Documents read from one stretch of a file, and the records of that stretch that were quarantined."""

    docs: pa.Table
    quarantine: pa.Table
    #: lines of the file this stretch held (JSONL; 0 where not counted)
    lines: int = 0


@dataclass
class _Quarantine:
    source: str
    file: str
    rows: list[dict] = field(default_factory=list)

    def add(self, kind: str, error: str, raw: bytes | None, line: int | None = None,
            row: int | None = None) -> None:
        """Record one malformed record: ``kind`` is a stable label for counting, ``error`` the details."""
        self.rows.append(
            {
                "source": self.source,
                "file": self.file,
                "line": line,
                "row": row,
                "kind": kind,
                "error": error,
                "raw": None if raw is None else bytes(raw[:RAW_KEEP_BYTES]),
                "raw_bytes": 0 if raw is None else len(raw),
            }
        )

    def take(self) -> pa.Table:
        table = pa.Table.from_pylist(self.rows, schema=QUARANTINE_SCHEMA)
        self.rows = []
        return table


def empty_docs() -> pa.Table:
    return DOC_SCHEMA.empty_table()


def read_file(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Yield chunks of documents from one file. ``rel`` names the file in ids and quarantine records."""
    fmt = opts.format or detect_format(path)
    if fmt == "jsonl":
        yield from _read_jsonl(path, rel, opts)
    elif fmt == "parquet":
        yield from _read_parquet(path, rel, opts)
    elif fmt == "arrow":
        yield from _read_arrow(path, rel, opts)
    elif fmt == "text":
        yield from _read_text(path, rel, opts)
    elif fmt in ("warc", "html", "latex", "stackexchange", "mediawiki"):
        yield from _read_structured(fmt, path, rel, opts)
    else:
        q = _Quarantine(opts.source, rel)
        q.add("unknown_format", f"unknown format for {path.name}: set 'format' on the source", None)
        yield Chunk(empty_docs(), q.take())


# --------------------------------------------------------------------------------------------------------
# byte streams


def _open_stream(path: Path) -> Any:
    """A binary stream of ``path``, decompressed. Damage raises OSError whichever library reads it."""
    _, codec = split_compression(path)
    if codec == "gzip" and _igzip is not None:
        return _GzipStream(path)
    return pa.input_stream(str(path), compression=codec)


class _GzipStream:
    """gzip through ISA-L (the ``fast`` extra: 2.6x zlib's decompression speed, measured in README), with
    pyarrow's error contract: a truncated or corrupt stream raises OSError, as pyarrow's own gzip reader does."""

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

    def __enter__(self) -> _GzipStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        stream = _open_stream(path)
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


# --------------------------------------------------------------------------------------------------------
# JSONL


def _line_bounds(chunk: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every line in ``chunk`` (end excludes the newline)."""
    arr = np.frombuffer(chunk, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    ends = nl if (len(arr) and arr[-1] == 10) else np.append(nl, len(arr))
    starts = np.concatenate(([0], nl + 1))[: len(ends)]
    return starts, ends


def _untimestamp(t: pa.DataType) -> pa.DataType:
    """Replace inferred timestamp types with strings: metadata keeps the text as written."""
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _untimestamp(f.type)) for f in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_untimestamp(t.value_type))
    return t


def _parse_block_fast(chunk: bytes, max_line: int, text_fields: dict[str, pa.DataType]) -> pa.Table:
    """Parse a block of JSON objects with pyarrow. ``text_fields`` (updated here) are fields pyarrow would
    infer as timestamps or dates: they are read as strings so metadata keeps the text as written. Once a
    file has shown such a field, later blocks name it up front and are parsed once, not twice."""
    block = max(1 << 20, max_line + 2)
    # in a worker pyarrow has one CPU: its threaded parser then runs at half the speed of the plain one
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


def _read_jsonl(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    q = _Quarantine(opts.source, rel)
    text_fields: dict[str, pa.DataType] = {}
    first_line = opts.first_line
    compressed = split_compression(path)[1] is not None
    if not compressed:
        chunks = _mapped_chunks(path, opts.chunk_bytes, opts.byte_range)
    else:
        chunks = iter_byte_chunks(path, opts.chunk_bytes, count_lines=False, byte_range=opts.byte_range)
    # a pipeline of threads (all of this releases the GIL): one reads blocks (decompressing, or paging them in
    # from the map), scans them and checks their UTF-8; one parses them; this one makes documents of them. A
    # file of one block has nothing to overlap: it is read in this thread (starting threads costs more).
    stream = _parsed(_scanned(chunks), text_fields)
    try:
        size = (opts.byte_range[1] - opts.byte_range[0]) if opts.byte_range else path.stat().st_size
    except OSError:
        size = 0  # the reader reports it
    if size * (4 if compressed else 1) > opts.chunk_bytes:
        stream = _prefetch(_parsed(_prefetch(_scanned(chunks)), text_fields))
    for _, chunk, error, parsed in stream:
        if error is not None:
            q.add("corrupt_stream", f"{error} (after line {first_line - 1})", None, line=first_line)
            yield Chunk(empty_docs(), q.take())
            continue
        result, n_lines = _parse_jsonl_chunk(chunk, first_line, rel, opts, q, parsed)
        first_line += n_lines
        result.lines = n_lines
        yield result


def _mapped_chunks(path: Path, chunk_bytes: int, byte_range: tuple[int, int] | None
                   ) -> Iterator[tuple[int, memoryview, str | None]]:
    """Blocks of an uncompressed file cut after a newline, as views of a memory map: no copy out of the page
    cache (the kernel reads ahead). Same items as :func:`iter_byte_chunks`. Blocks are of about equal size,
    at most ``chunk_bytes`` (no small last block that would leave the parser's threads waiting). The map is
    released when the last view of it is (a consumer may still hold the last block)."""
    import mmap

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


def _prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Produce ``items`` in a background thread, ``depth`` ahead, so reading and decompressing the next block
    overlaps parsing this one (both release the GIL). Exceptions are re-raised in the consumer."""
    import queue
    import threading

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


def scan_lines(chunk: bytes | memoryview) -> tuple[int, int, bool, int]:
    """``(n_lines, n_blank, objects, max_len)`` of a block: its lines (a last one without a newline counts),
    the empty ones (``""`` or ``"\\r"``), whether every other line is a plain ``{...}`` object, and the
    longest line's bytes. One pass in the compiled scan when built (``dataprep/io/_scan.c``), else numpy."""
    if _scan is not None:
        return _scan.scan_lines(chunk)
    if not len(chunk):
        return 0, 0, True, 0
    starts, ends = _line_bounds(chunk)
    arr = np.frombuffer(chunk, dtype=np.uint8)
    lengths = ends - starts
    tails = np.maximum(ends - 1, 0)
    tails = tails - ((arr[tails] == 13) & (lengths > 0))
    blank = _blank(chunk, starts, ends)
    nonblank = ~blank
    objects = bool(np.all(arr[starts[nonblank]] == ord("{")) and np.all(arr[tails[nonblank]] == ord("}")))
    return len(ends), int(blank.sum()), objects, int(lengths.max())


def _blank(chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which lines are blank: empty, or a lone ``\\r``."""
    arr = np.frombuffer(chunk, dtype=np.uint8)
    lengths = ends - starts
    return (lengths == 0) | ((lengths == 1) & (arr[np.maximum(ends - 1, 0)] == 13))


#: what :func:`_parsed` learns of a block: its :func:`scan_lines` result and pyarrow's table (None when the
#: block must be read line by line)
Parsed = tuple[tuple[int, int, bool, int], "pa.Table | None"]


def _scanned(chunks: Iterator[tuple[int, Any, str | None]]
             ) -> Iterator[tuple[int, Any, str | None, tuple[int, int, bool, int] | None]]:
    """Blocks with their :func:`scan_lines` result; ``objects`` is cleared where the block is not valid UTF-8,
    so that only blocks pyarrow may parse keep it. pyarrow.json crashes the process on a top-level scalar line
    such as ``null`` (pyarrow 26): only blocks of ``{...}`` lines reach it."""
    for line, chunk, error in chunks:
        if error is not None:
            yield line, chunk, error, None
            continue
        n_lines, n_blank, objects, max_len = scan_lines(chunk)
        objects = objects and n_blank < n_lines
        if objects:
            try:
                _validate_utf8(chunk)
            except pa.ArrowInvalid:
                objects = False
        yield line, chunk, None, (n_lines, n_blank, objects, max_len)


def _parsed(scanned: Iterator[tuple[int, Any, str | None, tuple[int, int, bool, int] | None]],
            text_fields: dict[str, pa.DataType]) -> Iterator[tuple[int, Any, str | None, Parsed | None]]:
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


def _parse_jsonl_chunk(chunk: bytes, first_line: int, rel: str, opts: ReadOptions, q: _Quarantine,
                       parsed: Parsed) -> tuple[Chunk, int]:
    """Turn one block of lines into documents, given its :func:`_parsed` result; returns the chunk and the
    number of lines it held."""
    (n_lines, n_blank, _, _), table = parsed
    if n_blank == n_lines:
        return Chunk(empty_docs(), q.take()), n_lines
    bounds: list[tuple[np.ndarray, np.ndarray]] = []  # line offsets, computed only when needed

    def line_bounds() -> tuple[np.ndarray, np.ndarray]:
        if not bounds:
            bounds.append(_line_bounds(chunk))
        return bounds[0]

    def nonblank_lines() -> np.ndarray:
        if not n_blank:
            return np.arange(n_lines)
        return np.flatnonzero(~_blank(chunk, *line_bounds()))

    if table is not None and table.num_rows == n_lines - n_blank:
        nonblank = nonblank_lines()

        def raw_of(i: int) -> bytes:
            starts, ends = line_bounds()
            return bytes(chunk[starts[nonblank[i]]: ends[nonblank[i]]])

        docs = docs_from_table(table, nonblank + first_line, "line", rel, opts, q, raw_of)
        if docs is not None:
            return Chunk(docs, q.take()), n_lines
    starts, ends = line_bounds()
    return _parse_jsonl_slow(chunk, starts, ends, nonblank_lines(), first_line, rel, opts, q), n_lines


def _validate_utf8(chunk: bytes | memoryview) -> None:
    """Raise ArrowInvalid unless ``chunk`` is valid UTF-8 (checked in C, without copying it)."""
    offsets = pa.py_buffer(np.array([0, len(chunk)], dtype=np.int64))
    pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(chunk)]).validate(full=True)


def _parse_jsonl_slow(
    chunk: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    nonblank: np.ndarray,
    first_line: int,
    rel: str,
    opts: ReadOptions,
    q: _Quarantine,
) -> Chunk:
    """Line-by-line parse of a block known to hold at least one bad line: quarantine exactly the bad ones."""
    chunk = bytes(chunk)  # a memory-mapped block: bytes methods below
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


# --------------------------------------------------------------------------------------------------------
# tables (JSONL fast path, Parquet, Arrow)


def _arrow_type_name(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "a number"
    if pa.types.is_boolean(t):
        return "a boolean"
    if pa.types.is_struct(t):
        return "an object"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "an array"
    return str(t)


def _is_stringy(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def docs_from_table(
    table: pa.Table,
    positions: np.ndarray,
    pos_kind: str,
    rel: str,
    opts: ReadOptions,
    q: _Quarantine,
    raw_of=None,
) -> pa.Table | None:
    """Turn a parsed table into documents, quarantining rows whose text is missing or null.

    ``positions`` are the rows' line (JSONL) or row (Parquet/Arrow) numbers, used in ids and quarantine
    records. Returns None when the text column has a type that needs the line-by-line path (JSONL only).
    """
    tf, idf = opts.text_field, opts.id_field
    names = table.column_names
    n = table.num_rows
    where = {"line": "line", "row": "row"}[pos_kind]
    if tf not in names or pa.types.is_null(table.schema.field(tf).type):
        if raw_of is None:
            msg = f"missing text field '{tf}' (columns: {', '.join(names) or 'none'})"
        else:
            msg = f"missing text field '{tf}'"
        for i in range(n):
            q.add("missing_text", msg, raw_of(i) if raw_of else None, **{where: int(positions[i])})
        return empty_docs()
    ttype = table.schema.field(tf).type
    if not _is_stringy(ttype):
        if raw_of is not None:
            return None
        msg = f"text field '{tf}' is {_arrow_type_name(ttype)}, expected a string"
        for i in range(n):
            q.add("text_not_string", msg, None, row=int(positions[i]))
        return empty_docs()
    text = table.column(tf).cast(pa.large_string())
    if text.null_count:
        valid = np.asarray(text.is_valid())
        for i in np.flatnonzero(~valid).tolist():
            msg = f"missing text field '{tf}'" if raw_of else f"text field '{tf}' is null"
            q.add("missing_text", msg, raw_of(i) if raw_of else None, **{where: int(positions[i])})
        mask = pa.array(valid)
        table = table.filter(mask)
        text = text.filter(mask)
        positions = positions[valid]
    # ids: the id field where it is a string or an integer, else (and where it is null) source/file:position
    ids = pc.binary_join_element_wise(pa.scalar(f"{opts.source}/{rel}:", pa.large_string()),
                                      pa.array(positions, pa.int64()).cast(pa.large_string()),
                                      pa.scalar("", pa.large_string()))
    others = [c for c in table.column_names if c != tf]
    if idf and idf in others and _is_id_type(table.schema.field(idf).type):
        ids = pc.coalesce(table.column(idf).cast(pa.large_string()), ids)
        others.remove(idf)
    meta = _meta_json(table.select(others)) if others else pa.nulls(len(ids), pa.large_string())
    src = pa.repeat(pa.scalar(opts.source, pa.large_string()), len(ids))
    return pa.Table.from_arrays([ids, text, src, meta], schema=DOC_SCHEMA)


def _is_id_type(t: pa.DataType) -> bool:
    return _is_stringy(t) or t in (pa.int64(), pa.int32(), pa.uint64(), pa.uint32())


def _meta_json(table: pa.Table) -> pa.Array | pa.ChunkedArray:
    """Each row's non-null fields as one compact JSON object, null when it has none (polars' vectorized
    encoder, a field at a time); exotic types that it cannot encode are written as their string form. A field
    that is null or missing in a record is left out, as the line-by-line reader leaves it out: pyarrow fills
    a block's fields into every row, so writing nulls would make a record's metadata depend on its block."""
    df = pl.from_arrow(table, rechunk=False)
    if not isinstance(df, pl.DataFrame):  # pragma: no cover - from_arrow of a table is a frame
        df = df.to_frame()

    def encoded(value: Callable[[str], pl.Expr]) -> pl.DataFrame:
        if not any(df.get_column(c).null_count() for c in df.columns):  # one encoder call for the whole row
            return df.select(pl.struct([value(c) for c in df.columns]).struct.json_encode().alias("meta"))
        fields = [pl.when(pl.col(c).is_not_null())
                  .then(pl.struct(value(c)).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}"))
                  for c in df.columns]
        body = pl.concat_str(fields, separator=",", ignore_nulls=True)
        return df.select(pl.when(body != "").then(pl.lit("{") + body + pl.lit("}")).alias("meta"))

    try:
        out = encoded(pl.col)
    except Exception:  # noqa: BLE001 - exotic types: encode them as strings instead
        out = encoded(lambda c: pl.col(c).cast(pl.String))
    return out.to_series().to_arrow().cast(pa.large_string())


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(str(path)).iter_batches(batch_size=PARQUET_BATCH_ROWS)


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
    except pa.ArrowInvalid:
        yield from pa.ipc.open_stream(pa.OSFile(str(path)))
        return
    for i in range(reader.num_record_batches):
        yield reader.get_batch(i)


def _read_batches(batches: Iterator[pa.RecordBatch], what: str, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Documents from a stream of record batches; a read error quarantines the rest of the file."""
    q = _Quarantine(opts.source, rel)
    row = 0
    try:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            positions = np.arange(row, row + table.num_rows, dtype=np.int64)
            row += table.num_rows
            yield Chunk(docs_from_table(table, positions, "row", rel, opts, q), q.take())
    except (OSError, pa.ArrowException) as exc:
        q.add("unreadable_file", f"unreadable {what} after row {row}: {exc}", None, row=row)
        yield Chunk(empty_docs(), q.take())


def _read_parquet(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    return _read_batches(_parquet_batches(path), "Parquet", rel, opts)


def _read_arrow(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    return _read_batches(_arrow_batches(path), "Arrow IPC", rel, opts)


# --------------------------------------------------------------------------------------------------------
# plain text


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


def _read_structured(fmt: str, path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """WARC/HTML pages and dumps (LaTeX papers, StackExchange posts, MediaWiki pages): each module yields
    document tables; what it quarantines goes with the next chunk."""
    q = _Quarantine(opts.source, rel)

    def chunk(docs: pa.Table) -> Chunk:
        return Chunk(docs, q.take())

    if fmt in ("warc", "html"):
        from dataprep.io import web

        yield from (web.read_warc if fmt == "warc" else web.read_html)(path, rel, opts, q, chunk)
    else:
        from dataprep.io import dumps

        yield from getattr(dumps, f"read_{fmt}")(path, rel, opts, q, chunk)


def _read_text(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    q = _Quarantine(opts.source, rel)
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


class DocBatch:
    """Documents gathered one at a time (id, text, metadata dict or None) and taken as a DOC_SCHEMA table:
    for readers whose records are not rows of a table (plain text, web pages, dumps)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.metas: list[str | None] = []

    def add(self, doc_id: str, text: str, meta: dict[str, Any] | None = None) -> None:
        self.ids.append(doc_id)
        self.texts.append(text)
        self.metas.append(None if meta is None else json.dumps(meta, ensure_ascii=False, sort_keys=True))

    def __len__(self) -> int:
        return len(self.ids)

    def take(self) -> pa.Table:
        """The documents gathered so far, as a table; the batch starts empty again."""
        table = pa.Table.from_arrays(
            [pa.array(self.ids, pa.large_string()), pa.array(self.texts, pa.large_string()),
             pa.array([self.source] * len(self.ids), pa.large_string()), pa.array(self.metas, pa.large_string())],
            schema=DOC_SCHEMA)
        self.ids, self.texts, self.metas = [], [], []
        return table


def _text_docs(texts: list[str], ids: list[str], opts: ReadOptions) -> pa.Table:
    batch = DocBatch(opts.source)
    for doc_id, text in zip(ids, texts, strict=True):
        batch.add(doc_id, text)
    return batch.take()


def read_documents(patterns: list[str], text_field: str = "text", fmt: str | None = None,
                   text_unit: str = "paragraph", where: str | None = None) -> Iterator[pa.Table]:
    """Documents (``id``, ``text``, ``source``, ``meta``) from files, folders or globs, one table per chunk.

    For tools that read text outside a recipe (language-model and classifier training): malformed records are
    skipped here, not quarantined. ``where`` keeps only rows whose ``meta`` has ``key=value`` (for instance
    ``lang=en``).
    """
    opts = ReadOptions(source="input", format=fmt, text_field=text_field, text_unit=text_unit)
    key, _, value = (where or "").partition("=")
    for path, rel in expand_paths(patterns, fmt):
        for chunk in read_file(path, rel, opts):
            docs = chunk.docs
            if where and docs.num_rows:
                df = pl.from_arrow(docs)
                df = df.filter(pl.col("meta").str.json_path_match(f"$.{key}") == value)
                docs = df.to_arrow()
            if docs.num_rows:
                yield docs


def read_frame(patterns: list[str], text_field: str = "text", fmt: str | None = None) -> pl.DataFrame:
    """All documents of ``patterns`` in one polars DataFrame (``id``, ``text``, ``source``, ``meta``): for
    notebooks and benchmarks on small data; recipes stream instead."""
    tables = [pl.from_arrow(t) for t in read_documents(patterns, text_field=text_field, fmt=fmt)]
    if not tables:
        return pl.DataFrame(schema={"id": pl.String, "text": pl.String, "source": pl.String, "meta": pl.String})
    return pl.concat(tables, how="vertical_relaxed")
