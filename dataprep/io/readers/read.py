"""Reading files through the table of formats: :func:`read_file` (one file, as the executor reads it, with
quarantine) and, for tools outside a recipe, :func:`read_documents` and :func:`read_frame` (files, folders or
globs; malformed records skipped).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from dataprep.io.readers.base import FORMATS, Chunk, Quarantine, ReadOptions, empty_docs
from dataprep.io.readers.files import detect_format, expand_paths


def read_file(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Yield chunks of documents from one file. ``rel`` names the file in ids and quarantine records."""
    fmt = opts.format or detect_format(path)
    spec = FORMATS.get(fmt or "")
    if spec is None:
        q = Quarantine(opts.source, rel)
        q.add("unknown_format", f"unknown format for {path.name}: set 'format' on the source", None)
        yield Chunk(empty_docs(), q.take())
        return
    yield from spec.read(path, rel, opts)


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
