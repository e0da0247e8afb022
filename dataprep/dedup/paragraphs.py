"""Line (or paragraph) deduplication across the whole corpus, as CCNet: normalized lines are hashed, and every
repeat of a line seen earlier in corpus order is removed from its document; the first occurrence stays.

Source: Wenzek et al. 2020, "CCNet", section 3.3 ("we remove duplicated paragraphs ... lines are normalized:
lower case, numbers replaced by a placeholder, Unicode punctuation and accents removed"). CCNet compares
within shards of about 5 GB; this step compares across the whole corpus, deterministically. Unlike the
``boilerplate_lines`` filter (all copies of lines that recur within a batch), it keeps the first copy.

A global *edit* step: workers hash each document's lines (:meth:`ParagraphDedup.keys`), the main process
finds the repeats over all hashes in corpus order (:meth:`ParagraphDedup.fit`), and the next stage removes
them (:meth:`ParagraphDedup.apply_edits`). A document left empty is rejected (``empty_after_dedup``). On a
run the fit is out of core (:mod:`dataprep.dedup.partition`): unit hashes are spilled by hash range and
decided one partition at a time within ``memory_mb``, with the same decisions as the in-memory fit.
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

from dataprep.dedup.partition import (
    DEFAULT_MEMORY_MB,
    buffer_bytes,
    count_rows,
    first_of_runs,
    partition_count,
    spill_keys,
)
from dataprep.normalize import ccnet_normalize
from dataprep.registry import register
from dataprep.step import GlobalStep

_SEP = "\U0010fffd"
#: bytes a unit takes in a spill partition: 64-bit hash, 64-bit document position, 32-bit index and length
_ROW_BYTES = 24


@register
@dataclasses.dataclass
class ParagraphDedup(GlobalStep):
    """Remove lines (``unit: line``, CCNet) or blank-line separated paragraphs (``unit: paragraph``) that
    repeat one seen earlier anywhere in the corpus; the first occurrence is kept. Normalized lines shorter
    than ``min_chars`` are never removed. Counters: units removed, characters removed, documents edited.

    Keys are CCNet-normalized units without invisible characters (:func:`dataprep.normalize.ccnet_normalize`).
    ``memory_mb`` bounds the fit: unit hashes are spilled by hash range so that one partition's take at most a
    fifth of it (:func:`dataprep.dedup.partition.partition_count`); default 1024, the bound ``minhash_dedup``
    uses (:data:`dataprep.dedup.partition.DEFAULT_MEMORY_MB`). Decisions do not depend on it."""

    name = "paragraph_dedup"
    decides = "edit"
    unit: str = dataclasses.field(default="line", metadata={"help": "line | paragraph"})
    min_chars: int = 0
    memory_mb: float = dataclasses.field(
        default=DEFAULT_MEMORY_MB, metadata={"help": "bound on the unit hashes decided at once (spilled by hash "
                                                     "range)"})

    def __post_init__(self) -> None:
        if self.unit not in ("line", "paragraph"):
            raise ValueError("unit must be line or paragraph")

    def _units(self, text: pl.Expr) -> pl.Expr:
        if self.unit == "line":
            return text.str.split("\n")
        return text.str.replace_all(r"\n[ \t]*\n\s*", _SEP).str.split(_SEP)

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        units = df.select(self._units(pl.col("text")).alias("u")).with_row_index("doc").explode("u")
        norm = ccnet_normalize(pl.col("u").fill_null(""))
        hashed = units.with_columns(
            pl.when((norm != "") & (norm.str.len_chars() >= max(self.min_chars, 1)))
            .then(norm.hash(0x5EED)).otherwise(None).alias("h"),
            pl.col("u").fill_null("").str.len_chars().alias("n"),
        )
        per_doc = hashed.group_by("doc", maintain_order=True).agg(pl.col("h"), pl.col("n"))
        return pl.DataFrame({"id": df.get_column("id")}).with_columns(
            per_doc.get_column("h").alias("_kpara"), per_doc.get_column("n").alias("_kparalen"))

    def fit(self, keys: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        units = (keys.select("_ord", "_kpara", "_kparalen")
                 .explode("_kpara", "_kparalen")
                 .with_columns(pl.int_range(pl.len()).over("_ord").alias("i"))
                 .filter(pl.col("_kpara").is_not_null()))
        # corpus order: documents by position, units by index; a repeat is any occurrence after the first
        units = units.sort("_ord", "i").with_columns(pl.col("_kpara").is_first_distinct().alias("first"))
        repeats = units.filter(~pl.col("first"))
        edits = (repeats.group_by("_ord").agg(pl.col("i").cast(pl.UInt32).sort().alias("remove"))
                 .sort("_ord"))
        stats = {"unit": self.unit, "counters": {
            "units_removed": int(repeats.height),
            "chars_removed": int(repeats.get_column("_kparalen").sum() or 0),
            "documents_edited": int(edits.height),
        }}
        return edits, stats

    def fit_files(self, files: list[tuple[int, Path]], ord_shift: int, workdir: Path
                  ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The executor's entry, out of core: one ``(hash, position, unit index, length)`` row per hashed unit,
        spilled by hash range; in each partition (every copy of a hash is in it) the first occurrence in corpus
        order (position, then index) stays and the others are repeats. The same edits as :meth:`fit` for any
        ``memory_mb``."""
        if not files:  # as the in-memory fit: no statistics without keys
            return pl.DataFrame(schema=self.decision_schema()), {}
        n_parts = partition_count(count_rows(files, "_kpara") * _ROW_BYTES, self.memory_mb)
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="paragraph-", dir=workdir))
        repeat_ords: list[np.ndarray] = []
        repeat_idx: list[np.ndarray] = []
        removed = chars = 0
        try:
            spill = spill_keys(files, ord_shift, ["_kpara", "_kparalen"], "h", n_parts, tmp,
                               buffer_bytes(self.memory_mb), rows=_unit_rows)
            for _, cols in spill.partitions():
                # sorted by hash, then position and index: a run of equal hashes starts with its first
                # occurrence in corpus order; the rest of the run are repeats
                order, start = first_of_runs([cols["h"]], [cols["o"], cols["i"]])
                repeats = order[~start]
                del order, start
                removed += len(repeats)
                chars += int(cols["n"][repeats].sum(dtype=np.int64))
                repeat_ords.append(cols["o"][repeats])
                repeat_idx.append(cols["i"][repeats])
                del cols, repeats
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        edits = _edits(np.concatenate(repeat_ords) if repeat_ords else np.zeros(0, np.int64),
                       np.concatenate(repeat_idx) if repeat_idx else np.zeros(0, np.uint32))
        del repeat_ords, repeat_idx
        stats = {"unit": self.unit, "counters": {
            "units_removed": removed, "chars_removed": chars, "documents_edited": int(edits.height)},
            "partitions": n_parts}  # describes the execution: not written to stats.json
        return edits, stats

    def apply_edits(self, df: pl.DataFrame, remove: pl.Series) -> pl.DataFrame:
        """Remove units by index: ``remove`` holds, per row of ``df``, the indices to drop (null: none)."""
        joiner = "\n" if self.unit == "line" else "\n\n"
        units = df.select(self._units(pl.col("text")).alias("u"), remove.alias("r")).with_row_index("doc")
        exploded = units.explode("u").with_columns(pl.int_range(pl.len()).over("doc").cast(pl.UInt32).alias("i"))
        drops = units.select("doc", "r").explode("r").drop_nulls("r").rename({"r": "i"})
        kept = exploded.join(drops, on=["doc", "i"], how="anti", maintain_order="left")
        texts = kept.group_by("doc", maintain_order=True).agg(pl.col("u").str.join(joiner).alias("t"))
        full = pl.DataFrame({"doc": np.arange(df.height, dtype=np.uint32)}).join(
            texts, on="doc", how="left", maintain_order="left").get_column("t").fill_null("")
        # a removed line between blank lines would leave two blank lines: keep one
        full = full.str.replace_all(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n").str.strip_chars()
        return df.with_columns(pl.when(remove.is_null()).then(pl.col("text")).otherwise(full).alias("text"))

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        """The text with repeated lines removed (documents left empty stay, with empty text)."""
        return self._edited(df)

    def _edited(self, df: pl.DataFrame) -> pl.DataFrame:
        keys = self.keys(df).with_row_index("_ord").with_columns(pl.col("_ord").cast(pl.Int64))
        edits, _ = self.fit(keys)
        remove = (pl.DataFrame({"_ord": np.arange(df.height, dtype=np.int64)})
                  .join(edits, on="_ord", how="left", maintain_order="left").get_column("remove"))
        return self.apply_edits(df, remove)

    def split_polars(self, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        edited = self._edited(df)
        empty = edited.get_column("text").str.strip_chars() == ""
        rejected = edited.filter(empty).with_columns(pl.lit(self.name).alias("step"),
                                                     pl.lit("empty_after_dedup").alias("reason"))
        return edited.filter(~empty), rejected


def _unit_rows(batch: pl.DataFrame) -> dict[str, np.ndarray]:
    """One row per hashed unit of a batch of keys: hash ``h``, document ``o``, index ``i`` in the document
    (counting every unit, hashed or not, as :meth:`ParagraphDedup.fit` does) and length ``n``."""
    units = (batch.select("_ord", pl.col("_kpara").alias("h"), pl.col("_kparalen").alias("n"))
             .explode("h", "n")
             .with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over("_ord").alias("i"))
             .filter(pl.col("h").is_not_null()))
    return {"h": units.get_column("h").cast(pl.UInt64).to_numpy(),
            "o": units.get_column("_ord").cast(pl.Int64).to_numpy(),
            "i": units.get_column("i").to_numpy(),
            "n": units.get_column("n").cast(pl.UInt32).to_numpy()}


def _edits(ords: np.ndarray, idx: np.ndarray) -> pl.DataFrame:
    """Per document position (sorted), the sorted indices of its units to remove."""
    order = np.lexsort((idx, ords))
    ords, idx = ords[order], idx[order]
    del order
    docs, counts = np.unique(ords, return_counts=True)
    offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int64))
    remove = pl.from_arrow(pa.LargeListArray.from_arrays(offsets, pa.array(idx.astype(np.uint32, copy=False))))
    assert isinstance(remove, pl.Series)
    return pl.DataFrame({"_ord": docs.astype(np.int64), "remove": remove.cast(pl.List(pl.UInt32))})
