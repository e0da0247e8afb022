"""The ``minhash_dedup`` step: MinHash-LSH near-duplicate removal, global across every shard and source,
deterministic and memory-bounded.

Workers compute each document's sketch (:mod:`.sketch`: band keys, shingles, rank) as the step's keys; the fit
clusters them out of core (:mod:`.cluster`) or on Ray (:mod:`.ray`); per cluster one document is kept, chosen
deterministically: by source priority, then ``keep`` (first in corpus order, smallest id, longest, or highest
``score_column``), then corpus order. The others record ``duplicate_of``.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from dataprep.dedup.minhash.cluster import KeyFile, cluster_files, open_keys
from dataprep.dedup.minhash.sketch import band_keys, optimal_bands, shingles, signatures
from dataprep.registry import register
from dataprep.step import GlobalStep

KEEP = ("first", "id", "longest", "score")


#: Named parameter sets. ``books``: LLaMA (Touvron et al. 2023, section 2.1, "Books") removes "books with more
#: than 90% content overlap": Jaccard similarity of 5-word shingle sets >= 0.9, with 256 permutations (a book
#: has tens of thousands of shingles; more permutations sharpen the S-curve at 0.9: 9 bands x 28 rows)
#: and the longest copy kept (the most complete edition).
PRESETS: dict[str, dict[str, Any]] = {"books": {"threshold": 0.9, "num_perm": 256, "ngram": 5, "keep": "longest"}}


@register
@dataclasses.dataclass
class MinHashDedup(GlobalStep):
    """Remove near duplicates with MinHash-LSH: clusters of documents whose shingle sets are similar above
    ``threshold`` keep one representative; the others record ``duplicate_of``.

    Sources: Broder 1997 (MinHash); Leskovec et al., "Mining of Massive Datasets", ch. 3 (banding);
    datasketch ``MinHash``/``MinHashLSH`` (permutations and the bands x rows choice, reproduced exactly);
    5-word shingles and threshold 0.8 as GPT-3/The Pile and RefinedWeb-style pipelines commonly use (FineWeb:
    5-grams, 112 permutations as 14 bands x 8 rows, about 0.75). ``verify`` checks each candidate pair's exact
    Jaccard similarity (text-dedup's option), which removes the LSH false positives.
    """

    name = "minhash_dedup"
    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 5
    bands: int | None = dataclasses.field(default=None, metadata={"help": "with rows: override the choice"})
    rows: int | None = None
    seed: int = 1
    scheme: str = dataclasses.field(default="affine32", metadata={"help": "datasketch scheme: affine32 | legacy"})
    verify: bool = True
    keep: str = dataclasses.field(default="first", metadata={"help": "first | id | longest | score"})
    score_column: str | None = None
    source_priority: list[str] = dataclasses.field(
        default_factory=list, metadata={"help": "sources whose copy is kept first, e.g. [wikipedia, web]"})
    memory_mb: float = dataclasses.field(default=1024, metadata={"help": "bound on key data grouped at once"})
    preset: str | None = dataclasses.field(default=None, metadata={"help": "books: LLaMA's book-level rule"})

    def __post_init__(self) -> None:
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise ValueError(f"unknown preset {self.preset!r}: use one of {', '.join(PRESETS)}")
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for key, value in PRESETS[self.preset].items():
                if getattr(self, key) == defaults[key]:  # parameters the recipe set itself win
                    setattr(self, key, value)
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if self.scheme not in ("affine32", "legacy"):
            raise ValueError("scheme must be affine32 or legacy")
        if self.keep not in KEEP:
            raise ValueError(f"keep must be one of {', '.join(KEEP)}")
        if self.keep == "score" and not self.score_column:
            raise ValueError("keep: score needs score_column")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is None:
            self.bands, self.rows = optimal_bands(self.threshold, self.num_perm)
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm {self.num_perm}")

    # ---- per batch (workers) ---------------------------------------------------------------------------------
    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        doc, hashes = shingles(df, self.ngram)
        sig = signatures(doc, hashes, df.height, self.num_perm, self.seed, self.scheme)
        bk = band_keys(sig, self.bands, self.rows)
        counts = np.bincount(doc, minlength=df.height)
        offsets = np.r_[0, np.cumsum(counts)]
        shingle_lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(hashes, pa.uint32()))
        cols: dict[str, Any] = {"id": df.get_column("id")}
        for i in range(self.bands):
            cols[f"_kb{i:03d}"] = bk[:, i]
        out = pl.DataFrame(cols).with_columns(
            pl.from_arrow(shingle_lists).alias("_kshingles"),
            pl.Series("_kempty", counts == 0),
            self._rank_expr(df).alias("_krank"),
        )
        return out

    def _rank_expr(self, df: pl.DataFrame) -> pl.Series:
        """Per-row priority (smaller wins) before corpus order: source priority, then the ``keep`` rule."""
        n = df.height
        src = np.full(n, len(self.source_priority), dtype=np.float64)
        if self.source_priority and "source" in df.columns:
            src = df.get_column("source").replace_strict(
                {s: i for i, s in enumerate(self.source_priority)}, default=len(self.source_priority),
                return_dtype=pl.Float64).to_numpy()
        if self.keep == "longest":
            second = -df.get_column("text").str.len_bytes().cast(pl.Float64).to_numpy()
        elif self.keep == "score":
            if self.score_column not in df.columns:
                from dataprep.errors import DataprepError

                raise DataprepError(f"minhash_dedup: score column {self.score_column!r} is not in the data "
                                    f"(columns: {', '.join(df.columns)})")
            second = -df.get_column(self.score_column).cast(pl.Float64).fill_null(-math.inf).to_numpy()
        else:
            second = np.zeros(n)
        return pl.DataFrame({"s": src, "v": second}).select(pl.struct("s", "v").alias("_krank")).to_series()

    # ---- over the corpus (main process) ----------------------------------------------------------------------
    def fit(self, keys: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        ords = keys.get_column("_ord").to_numpy()
        table = keys.drop("_ord").to_arrow()
        # in-memory keys (a notebook's split): one "file" whose rows carry their own positions
        return self._cluster([KeyFile(table, ords.astype(np.int64))])

    def fit_files(self, files: list[tuple[int, Path]], ord_shift: int, workdir: Path) -> tuple[pl.DataFrame,
                                                                                                 dict[str, Any]]:
        """The executor's entry: key columns of each task's intermediate Arrow file, read memory-mapped."""
        keyfiles = []
        for task, path in files:
            table = open_keys(path)
            keyfiles.append(KeyFile(table, (task << ord_shift) + np.arange(table.num_rows, dtype=np.int64)))
        return self._cluster(keyfiles, workdir=workdir)

    def _cluster(self, files: list[KeyFile], workdir: Path | None = None) -> tuple[pl.DataFrame, dict[str, Any]]:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="minhash-", dir=workdir))
        try:
            members, candidates, verified_out, n_parts = cluster_files(
                files, self.bands, self.memory_mb, self.verify, self.threshold, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        drop, stats = self._decide(members, candidates, verified_out)
        stats["partitions"] = n_parts
        return drop, stats

    def fit_ray(self, files: list[tuple[int, Path]], ord_shift: int, workdir: Path, driver_edges: int | None
                ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The Ray executor's entry: the same decisions, with grouping, verification and (above
        ``driver_edges`` edges) connected components distributed on Ray Data (:mod:`.ray`)."""
        from dataprep.dedup.minhash import ray as minhash_ray

        members, candidates, rejected = minhash_ray.cluster_on_ray(
            files, ord_shift, self.bands, self.verify, self.threshold,
            minhash_ray.DRIVER_EDGES if driver_edges is None else driver_edges)
        return self._decide(members, candidates, rejected)

    def _decide(self, members: pl.DataFrame, candidates: int, verified_out: int) -> tuple[pl.DataFrame,
                                                                                           dict[str, Any]]:
        """From component members (``_ord``, component ``c``, ``id``, ``_krank``): the rows to drop with the id
        they duplicate, and the statistics."""
        members = members.with_columns(pl.len().over("c").alias("size")).filter(pl.col("size") > 1)
        # 5. representative: source priority, keep rule, corpus order
        keep_expr = [pl.col("_krank").struct.field("s"), pl.col("_krank").struct.field("v")]
        if self.keep == "id":
            keep_expr.append(pl.col("id"))
        rep = (members.sort([*keep_expr, pl.col("_ord")]).group_by("c", maintain_order=True)
               .agg(pl.col("_ord").first().alias("rep_ord"), pl.col("id").first().alias("duplicate_of")))
        drop = (members.join(rep, on="c").filter(pl.col("_ord") != pl.col("rep_ord"))
                .select("_ord", "duplicate_of").sort("_ord"))
        sizes = members.group_by("c").agg(pl.len().alias("n")).get_column("n")
        hist = sizes.value_counts().sort("n")
        stats = {
            "clusters": int(sizes.len()),
            "cluster_sizes": {str(int(s)): int(c) for s, c in hist.iter_rows()},
            "candidate_pairs": candidates,
            "pairs_rejected_by_verification": verified_out,
            "bands": self.bands,
            "rows": self.rows,
        }
        return drop, stats


#: The name the issue and the notebook API use.
MinHashDeduplicator = MinHashDedup
