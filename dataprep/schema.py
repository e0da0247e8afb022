"""The document schema every batch carries, and helpers to keep batches on it.

A document is one row with ``id``, ``text``, ``source`` and ``meta`` (the input record's other fields as a
compact JSON object, so that one schema serves every source). Steps may add annotation columns after these.
"""

from __future__ import annotations

import pyarrow as pa

ID, TEXT, SOURCE, META = "id", "text", "source", "meta"
BASE_COLUMNS = (ID, TEXT, SOURCE, META)

DOC_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.large_string(), nullable=False),
        pa.field(TEXT, pa.large_string(), nullable=False),
        pa.field(SOURCE, pa.large_string(), nullable=False),
        pa.field(META, pa.large_string(), nullable=True),
    ]
)

REJECTED_SCHEMA = DOC_SCHEMA.append(pa.field("step", pa.large_string(), nullable=False)).append(
    pa.field("reason", pa.large_string(), nullable=False)
)

DUPLICATE_SCHEMA = DOC_SCHEMA.append(pa.field("step", pa.large_string(), nullable=False)).append(
    pa.field("duplicate_of", pa.large_string(), nullable=False)
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field(SOURCE, pa.large_string(), nullable=False),
        pa.field("file", pa.large_string(), nullable=False),
        pa.field("line", pa.int64(), nullable=True),
        pa.field("row", pa.int64(), nullable=True),
        pa.field("kind", pa.large_string(), nullable=False),
        pa.field("error", pa.large_string(), nullable=False),
        pa.field("raw", pa.large_binary(), nullable=True),
        pa.field("raw_bytes", pa.int64(), nullable=False),
    ]
)


def _to_large(t: pa.DataType) -> pa.DataType:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary(t) or pa.types.is_binary_view(t):
        return pa.large_binary()
    return t


def normalize_table(table: pa.Table) -> pa.Table:
    """Cast every string-like column to ``large_string`` so batches from polars and readers concatenate."""
    fields = [pa.field(f.name, _to_large(f.type), f.nullable) for f in table.schema]
    target = pa.schema(fields)
    if target == table.schema:
        return table
    return table.cast(target)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast ``table`` to exactly ``schema`` (columns in schema order)."""
    cols = [table.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def text_bytes(table: pa.Table, column: str = TEXT) -> int:
    """UTF-8 bytes of the text column (sum of value lengths, computed from offsets)."""
    if table.num_rows == 0:
        return 0
    import pyarrow.compute as pc

    return int(pc.sum(pc.binary_length(table.column(column))).as_py() or 0)
