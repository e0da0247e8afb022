"""Parquet (``format: parquet``; ``.parquet``, ``.pq``) and Arrow IPC files or streams (``format: arrow``;
``.arrow``, ``.feather``, ``.ipc``): one document per row, read a record batch at a time.

The text column becomes the text, the id column the id (else ``source/file:row``), the other columns ``meta``;
rows without text are quarantined with their row number, and a file that cannot be read quarantines its rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.io.readers.base import Chunk, Format, Quarantine, ReadOptions, docs_from_table, empty_docs, register

PARQUET_BATCH_ROWS = 8192


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
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
    q = Quarantine(opts.source, rel)
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


def read_parquet(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Documents of a Parquet file, ``PARQUET_BATCH_ROWS`` rows at a time."""
    return _read_batches(_parquet_batches(path), "Parquet", rel, opts)


def read_arrow(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Documents of an Arrow IPC file or stream, a record batch at a time."""
    return _read_batches(_arrow_batches(path), "Arrow IPC", rel, opts)


register(Format("parquet", read_parquet, extensions=(".parquet", ".pq")))
register(Format("arrow", read_arrow, extensions=(".arrow", ".feather", ".ipc")))
