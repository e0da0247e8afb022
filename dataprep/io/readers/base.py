"""What every reader shares: how a source is read (:class:`ReadOptions`), what a reader yields (:class:`Chunk`:
documents on :data:`dataprep.schema.DOC_SCHEMA` and quarantined records), the quarantine collector, document
batches, and the **table of formats**.

The table is the one place that knows the formats: each format module registers a :class:`Format` (its name,
file extensions, whether its unit may be a folder, its reader options, its read function). Format detection,
option checks and the list of known formats all derive from it. Every format's read function is registered
behind the check of :mod:`.safety`: an input unit that would read outside its source (a link leaving the
source's folder, a FIFO, a device) is quarantined as ``unsafe_path`` and never opened, whatever the format.
This module imports no other reader module but ``safety`` (which imports none), so every one of them can
import it.

**Memory bounded by settings.** No reader holds more than :func:`record_limit` bytes of one record (a JSONL
line, a line or paragraph or file of text, a dump's page or post, a paper's sources) whatever the input: a
longer record is not buffered but skipped, streaming, to its end and quarantined as ``too_long``
(:data:`TOO_LONG`) naming its file and line (or row, member), with its first bytes and its full size; the
records around it are read as usual. Documents between ``max_doc_bytes`` and that bound are read and rejected
by the executor's ``read`` step as before (the reader of raw bytes cannot know the text's size before parsing).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.io.readers.safety import UNSAFE, unit_problem
from dataprep.schema import DOC_SCHEMA, QUARANTINE_SCHEMA

DEFAULT_CHUNK_BYTES = 16 << 20
RAW_KEEP_BYTES = 4096
#: the default ``limits: max_doc_bytes`` (a recipe's, and the readers' when called without one): not a quality
#: threshold but a safety bound: the largest English Wikipedia articles are about 1 MB, long books 5-10 MB
DEFAULT_MAX_DOC_BYTES = 16 << 20
#: a record's raw bytes may exceed ``max_doc_bytes`` this many times before the reader refuses it unread: JSON
#: writes text up to twice its UTF-8 size (``\\uXXXX`` for each 3-byte character where ``ensure_ascii`` is on,
#: Python's default; three times for 4-byte ones), XML escapes ``<`` as ``&lt;``, and records carry metadata
RECORD_SLACK = 4
#: no record is ever held larger than this: pyarrow's JSON block size is an int32 (2 GiB overflows) and polars
#: fails to allocate single strings near 1.9 GB; half of the smaller leaves room for parsing
MAX_RECORD_BYTES = 1 << 30
#: the quarantine kind of a record longer than :func:`record_limit` (or a text over ``max_doc_bytes`` where a
#: reader knows the text's size while parsing it)
TOO_LONG = "too_long"
#: documents a reader of pages or dumps gathers before it yields them as one chunk (bounded memory)
BATCH_DOCS = 2000

#: the value of a reader option (checked against its :class:`Option` type by :func:`check_options`)
OptionValue = str | int | bool


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
    #: reader options of the formats that take them, as sorted (name, value) pairs (see :attr:`Format.options`)
    options: tuple[tuple[str, OptionValue], ...] = ()
    #: the recipe's ``limits: max_doc_bytes``: what bounds the bytes a reader holds of one record
    #: (:func:`record_limit`)
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES


def record_limit(opts: ReadOptions) -> int:
    """The most raw bytes of one record a reader holds (see the module's docstring): ``RECORD_SLACK`` times
    ``max_doc_bytes``, at most ``MAX_RECORD_BYTES``, at least one byte."""
    return max(1, min(RECORD_SLACK * opts.max_doc_bytes, MAX_RECORD_BYTES))


def text_limit(opts: ReadOptions) -> int:
    """The most characters of one text a reader that sees the text itself while parsing (an XML dump) holds:
    ``max_doc_bytes`` (a longer text is longer in UTF-8 bytes too, so the executor would reject it), at most
    ``MAX_RECORD_BYTES``."""
    return max(1, min(opts.max_doc_bytes, MAX_RECORD_BYTES))


def too_long_error(what: str, size: int, limit: int, finished: bool = True) -> str:
    """The one-line error of a ``too_long`` record: ``what`` names it (``line 7``, ``page 'Foo' at line 12``)."""
    size_text = f"{size:,} bytes" if finished else f"more than {size:,} bytes"
    return f"{what}: {size_text}, over the limit of {limit:,} bytes of one record (limits: max_doc_bytes); not read"


@dataclass
class Chunk:
    """Documents read from one stretch of a file, and the records of that stretch that were quarantined."""

    docs: pa.Table
    quarantine: pa.Table
    #: lines of the file this stretch held (JSONL; 0 where not counted)
    lines: int = 0


@dataclass
class Quarantine:
    """Malformed records of one file, gathered until the reader yields them with its next chunk."""

    source: str
    file: str
    rows: list[dict] = field(default_factory=list)

    def add(self, kind: str, error: str, raw: bytes | memoryview | None, line: int | None = None,
            row: int | None = None, size: int | None = None) -> None:
        """Record one malformed record: ``kind`` is a stable label for counting, ``error`` the details, ``raw``
        its bytes (the first ``RAW_KEEP_BYTES`` are kept) and ``size`` its full size where ``raw`` is only its
        beginning (a record too long to be read whole)."""
        self.rows.append(
            {
                "source": self.source,
                "file": self.file,
                "line": line,
                "row": row,
                "kind": kind,
                "error": error,
                "raw": None if raw is None else bytes(raw[:RAW_KEEP_BYTES]),
                "raw_bytes": size if size is not None else 0 if raw is None else len(raw),
            }
        )

    def take(self) -> pa.Table:
        table = pa.Table.from_pylist(self.rows, schema=QUARANTINE_SCHEMA)
        self.rows = []
        return table


def empty_docs() -> pa.Table:
    return DOC_SCHEMA.empty_table()


# --------------------------------------------------------------------------------------------------------
# the table of formats

#: a format's reader: (file, its name within the source, options) -> chunks of documents
ReadFunction = Callable[[Path, str, ReadOptions], Iterator[Chunk]]


@dataclass(frozen=True)
class Option:
    """One reader option a source may set: its type, what it does, and the values it may take (None: any)."""

    type: type
    help: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Format:
    """One input format: ``extensions`` (lower case, after any compression suffix) are how it is told from a
    file name (none: never guessed, the source names it); ``folder_units``, for a format whose unit of input may
    be a folder (a LaTeX paper split over files), splits a folder given as a source's path into its units;
    ``options``: what a source may set (None: it takes no options)."""

    name: str
    read: ReadFunction
    extensions: tuple[str, ...] = ()
    folder_units: Callable[[Path], list[Path]] | None = None
    options: Mapping[str, Option] | None = None


#: the formats by name, in the order they registered (the order of ``KNOWN_FORMATS``)
FORMATS: dict[str, Format] = {}
#: file extension -> format name, from every format's ``extensions``
EXTENSIONS: dict[str, str] = {}


def register(fmt: Format) -> Format:
    """Add a format to the table (each format module registers its own on import), its read function behind
    the check that refuses unsafe input units (:func:`refusing_unsafe`)."""
    if fmt.name in FORMATS:
        raise ValueError(f"format {fmt.name!r} is registered twice")
    for ext in fmt.extensions:
        if ext in EXTENSIONS:
            raise ValueError(f"extension {ext} of format {fmt.name!r} is already format {EXTENSIONS[ext]!r}")
    fmt = replace(fmt, read=refusing_unsafe(fmt.read))
    EXTENSIONS.update(dict.fromkeys(fmt.extensions, fmt.name))
    FORMATS[fmt.name] = fmt
    return fmt


def refusing_unsafe(read: ReadFunction) -> ReadFunction:
    """``read``, except that an input unit that must not be read (:func:`.safety.unit_problem`: its real path
    leaves the folder its source found it in, or it is a FIFO, a device, a socket) yields one ``unsafe_path``
    quarantine record naming it instead, and is never opened."""

    @functools.wraps(read)
    def guarded(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
        problem = unit_problem(path, rel)
        if problem is None:
            yield from read(path, rel, opts)
            return
        q = Quarantine(opts.source, rel)
        q.add(UNSAFE, f"{rel}: {problem}; not read", None)
        yield Chunk(empty_docs(), q.take())

    return guarded


def folder_units(fmt: str | None) -> Callable[[Path], list[Path]] | None:
    """How a folder splits into units of format ``fmt``; None when a unit of ``fmt`` is never a folder."""
    spec = FORMATS.get(fmt or "")
    return spec.folder_units if spec is not None else None


def check_options(fmt: str | None, options: dict[str, object]) -> str | None:
    """None when ``options`` suit format ``fmt``, else what is wrong (for recipe validation)."""
    if not options:
        return None
    spec = FORMATS.get(fmt or "")
    allowed = spec.options if spec is not None else None
    if not allowed:
        with_options = ", ".join(f.name for f in FORMATS.values() if f.options is not None)
        return f"format {fmt or '(guessed)'} takes no 'options'; formats with options: {with_options}"
    for key, value in options.items():
        if key not in allowed:
            return f"format {fmt} has no option '{key}'; it takes: {', '.join(allowed) or 'none'}"
        typ, help_ = allowed[key].type, allowed[key].help
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            return f"option '{key}' must be {typ.__name__} ({help_}), got {value!r}"
    for key, value in options.items():
        choices = allowed[key].choices
        if choices is not None and value not in choices:
            return f"option '{key}' must be {' or '.join(choices)}, got {value!r}"
    return None


# --------------------------------------------------------------------------------------------------------
# documents


class DocBatch:
    """Documents gathered one at a time (id, text, metadata dict or None) and taken as a DOC_SCHEMA table:
    for readers whose records are not rows of a table (plain text, web pages, dumps)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.metas: list[str | None] = []

    def add(self, doc_id: str, text: str, meta: dict[str, object] | None = None) -> None:
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


def int_or_none(value: str | None) -> int | None:
    """An integer written as text (an XML attribute or element), None when absent or not an integer."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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
    q: Quarantine,
    raw_of: Callable[[int], bytes] | None = None,
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
