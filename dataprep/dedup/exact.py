"""Exact deduplication: a 128-bit xxHash of normalized text, global across every shard and source.

The first occurrence in corpus order (sources in recipe order, files in name order, rows in file order) is
kept; every later copy is removed and records ``duplicate_of``, the id of the kept copy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from dataprep.registry import register
from dataprep.step import GlobalStep


def normalize_expr(col: str = "text") -> pl.Expr:
    """Unicode NFKC, lower case, runs of white space folded to one space, ends stripped.

    This is the normalization CCNet applies before hashing (Wenzek et al. 2020, section 3.3), less its digit
    and punctuation rewriting, so that only copies differing in case, Unicode form or spacing collide.
    """
    return (
        pl.col(col)
        .str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def hash_texts(texts: pa.Array | pa.ChunkedArray | pl.Series) -> np.ndarray:
    """xxh3-128 of each string, as an (n, 2) uint64 array.

    A per-document loop over the Arrow buffers (no Python strings are built): xxHash has no vectorized
    batch API. ``benchmarks/io.py`` measures it with the rest of the spine.
    """
    if isinstance(texts, pl.Series):
        texts = texts.to_arrow()
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks else pa.array([], pa.large_string())
    arr = texts.cast(pa.large_string())
    n = len(arr)
    if n == 0:
        return np.zeros((0, 2), dtype=np.uint64)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8).tolist()
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    digest = xxhash.xxh3_128_digest
    out = b"".join([digest(data[offsets[i]: offsets[i + 1]]) for i in range(n)])
    return np.frombuffer(out, dtype=">u8").astype(np.uint64).reshape(n, 2)


@register
@dataclasses.dataclass
class ExactDedup(GlobalStep):
    """Remove documents whose normalized text is identical to an earlier document's (xxh3-128 hash).

    Global across all shards and sources; the first copy in corpus order is kept and later copies record
    ``duplicate_of``. With ``normalize`` off, the raw text bytes are hashed (as NeMo Curator's exact dedup).
    """

    name = "exact_dedup"
    normalize: bool = dataclasses.field(
        default=True, metadata={"help": "hash NFKC-lowercased, whitespace-folded text instead of raw text"})

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        text = df.select(normalize_expr() if self.normalize else pl.col("text")).to_series()
        h = hash_texts(text)
        return pl.DataFrame({"id": df.get_column("id"), "_k1": h[:, 0], "_k2": h[:, 1]})

    def fit(self, keys: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        firsts = keys.group_by("_k1", "_k2").agg(
            pl.col("_ord").min().alias("_first"), pl.len().alias("_size"))
        firsts = firsts.join(keys.select("_ord", pl.col("id").alias("duplicate_of")),
                             left_on="_first", right_on="_ord")
        marked = keys.select("_ord", "_k1", "_k2").join(firsts, on=["_k1", "_k2"])
        drop = marked.filter(pl.col("_ord") != pl.col("_first")).select("_ord", "duplicate_of").sort("_ord")
        sizes = firsts.filter(pl.col("_size") > 1).get_column("_size")
        hist = sizes.value_counts().sort("_size")
        stats = {
            "clusters": int(len(sizes)),
            "cluster_sizes": {str(int(s)): int(c) for s, c in hist.iter_rows()},
        }
        return drop, stats
