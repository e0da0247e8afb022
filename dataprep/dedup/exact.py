"""Exact deduplication: a 128-bit xxHash of normalized text, global across every shard and source.

The first occurrence in corpus order (sources in recipe order, files in name order, rows in file order) is
kept; every later copy is removed and records ``duplicate_of``, the id of the kept copy. On a run the fit is
out of core (:mod:`dataprep.dedup.partition`): hashes are spilled by hash range and decided one partition at a
time within ``memory_mb``, with the same decisions as the in-memory :meth:`ExactDedup.fit`.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from dataprep.dedup import partition
from dataprep.normalize import strip_invisible
from dataprep.registry import register
from dataprep.step import GlobalStep

#: bytes a document's key takes in a spill partition: two 64-bit hash halves and the 64-bit corpus position
_ROW_BYTES = 24


def normalize_expr(col: str = "text") -> pl.Expr:
    """Invisible characters removed, Unicode NFKC, lower case, runs of white space folded to one space, ends
    stripped.

    This is the normalization CCNet applies before hashing (Wenzek et al. 2020, section 3.3; its
    ``remove_non_printing_char`` included, widened to Unicode category C as text-dedup's: see
    :data:`dataprep.normalize.INVISIBLE_CLASS`), less its digit and punctuation rewriting, so that only copies
    differing in case, Unicode form, spacing or invisible characters (a zero-width space, soft hyphen, BOM or
    NUL) collide.
    """
    return (
        strip_invisible(pl.col(col))
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

    ``memory_mb`` bounds the fit: hashes are spilled by hash range so that one partition's keys take at most a
    fifth of it (:func:`dataprep.dedup.partition.partition_count`); default 1024, the bound
    ``minhash_dedup`` uses (:data:`dataprep.dedup.partition.DEFAULT_MEMORY_MB`). Decisions do not depend on it.
    """

    name = "exact_dedup"
    normalize: bool = dataclasses.field(
        default=True, metadata={"help": "hash NFKC-lowercased, whitespace-folded text without invisible "
                                        "characters instead of raw text"})
    memory_mb: float = dataclasses.field(
        default=partition.DEFAULT_MEMORY_MB,
        metadata={"help": "bound on the hashes decided at once (spilled by hash range)"})

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
        hist = {int(s): int(c) for s, c in sizes.value_counts().iter_rows()}
        return drop, _stats(hist)

    def fit_files(self, files: list[tuple[int, Path]], ord_shift: int, workdir: Path
                  ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The executor's entry, out of core: ``(hash, position)`` rows spilled by hash range, each partition
        grouped on its own (every copy of a hash is in its partition), then the ids of the kept copies gathered
        from the key files. The same decisions as :meth:`fit` for any ``memory_mb``."""
        if not files:  # as the in-memory fit: no statistics without keys
            return pl.DataFrame(schema=self.decision_schema()), {}
        n_parts = partition.partition_count(partition.count_rows(files) * _ROW_BYTES, self.memory_mb)
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="exact-", dir=workdir))
        dup_ords: list[np.ndarray] = []
        first_ords: list[np.ndarray] = []
        hist: dict[int, int] = {}
        try:
            spill = partition.spill_keys(files, ord_shift, ["_k1", "_k2"], "k1", n_parts, tmp,
                                         partition.buffer_bytes(self.memory_mb), rows=_hash_rows)
            for _, cols in spill.partitions():
                # sorted by hash then position: a run of equal hashes starts with its first copy
                order, start = partition.first_of_runs([cols["k1"], cols["k2"]], [cols["o"]])
                o = cols["o"][order]
                del cols, order
                starts = np.flatnonzero(start)
                sizes = np.diff(np.r_[starts, len(o)])
                for size, count in zip(*np.unique(sizes[sizes > 1], return_counts=True), strict=True):
                    hist[int(size)] = hist.get(int(size), 0) + int(count)
                first = np.repeat(o[starts], sizes)
                dup = ~start
                dup_ords.append(o[dup])
                first_ords.append(first[dup])
                del o, start, starts, sizes, first, dup
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        stats = {**_stats(hist), "partitions": n_parts}  # describes the execution: not written to stats.json
        if not dup_ords:
            return pl.DataFrame(schema=self.decision_schema()), stats
        drop = pl.DataFrame({"_ord": np.concatenate(dup_ords), "_first": np.concatenate(first_ords)})
        del dup_ords, first_ords
        ids = partition.gather_ids(files, ord_shift, drop.get_column("_first").to_numpy())
        drop = (drop.join(ids.rename({"_ord": "_first", "id": "duplicate_of"}), on="_first")
                .select("_ord", "duplicate_of").sort("_ord"))
        return drop, stats


def _hash_rows(batch: pl.DataFrame) -> dict[str, np.ndarray]:
    """The spilled columns of a batch of keys: the two hash halves and the corpus position."""
    return {"k1": batch.get_column("_k1").to_numpy().astype(np.uint64, copy=False),
            "k2": batch.get_column("_k2").to_numpy().astype(np.uint64, copy=False),
            "o": batch.get_column("_ord").to_numpy().astype(np.int64, copy=False)}


def _stats(hist: dict[int, int]) -> dict[str, Any]:
    """Clusters (hashes with several documents) and their size histogram, sizes in increasing order."""
    return {"clusters": sum(hist.values()), "cluster_sizes": {str(s): hist[s] for s in sorted(hist)}}
