"""MinHash-LSH near-duplicate removal: global across every shard and source, deterministic, memory-bounded.

1. **Shingles** (in workers, vectorized per batch): text NFKC-lowercased, split into words (each CJK character
   is a word, so CJK text gets character n-grams), word n-grams (5 by default; a document shorter than n
   words is one shingle). A shingle's 32-bit hash folds xxh3-64 hashes of its words (:func:`shingle_hash32`).
2. **Signatures**: datasketch's ``MinHash`` permutations, scheme ``affine32`` (its default since 2.0) or
   ``legacy``, from the same seed: for the same hash function the signature is bit-identical to datasketch's
   (``tests/test_minhash.py``). All shingles of a batch are permuted at once with numpy, in blocks.
3. **LSH**: ``bands x rows`` of the signature (chosen from the threshold as datasketch's ``MinHashLSH`` does,
   or given, e.g. FineWeb's 14 x 8); each band's rows hash to a 64-bit bucket key.
4. **Clustering** (main process, out of core): bucket keys are spilled to Arrow files partitioned by key
   range and grouped one partition at a time, so memory is bounded by ``memory_mb``, not by corpus size.
   Each bucket with several documents yields edges from its first member to the others; optionally each
   edge is verified by the exact Jaccard similarity of the two shingle sets (on by default); connected
   components (union-find by pointer jumping, vectorized) are the clusters.
5. **Representative**: per cluster one document is kept, chosen deterministically: by source priority, then
   ``keep`` (first in corpus order, smallest id, longest, or highest ``score_column``), then corpus order.
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
import pyarrow.ipc as ipc
import xxhash

from dataprep.step import GlobalStep, register
from dataprep.unicode import CJK_CLASS

try:  # the compiled kernel (setup.py, optional): same numbers as the numpy code below, much faster
    from dataprep.dedup import _kernels
except ImportError:  # pragma: no cover - no C compiler at install time
    _kernels = None

#: Words for shingling: a CJK character, or a run of letters and digits (punctuation and symbols dropped).
SHINGLE_WORD_RE = rf"[{CJK_CLASS}]|[^\s\p{{P}}\p{{S}}{CJK_CLASS}]+"
_FOLD = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: folds word hashes into an n-gram hash
_MASK64 = (1 << 64) - 1
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_SEP = "\x1f"  # joins the words of a shingle for datasketch's hashfunc (never inside a word)
KEEP = ("first", "id", "longest", "score")


# ---- shingles and signatures -------------------------------------------------------------------------------


def shingle_hash32(shingle: bytes) -> int:
    """The 32-bit hash of one shingle (its words joined by ``\\x1f``): what the vectorized code computes.

    Pass it as ``hashfunc`` to ``datasketch.MinHash`` to get the same signatures.
    """
    key = 0
    for word in shingle.decode("utf-8").split(_SEP):
        key = (key * int(_FOLD) + xxhash.xxh3_64_intdigest(word.encode("utf-8"))) & _MASK64
    return (key ^ (key >> 32)) & 0xFFFFFFFF


def words_expr(column: str = "text") -> pl.Expr:
    """The words a document is shingled on (NFKC, lower case)."""
    return pl.col(column).str.normalize("NFKC").str.to_lowercase().str.extract_all(SHINGLE_WORD_RE)


def shingles(df: pl.DataFrame, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(document index, 32-bit shingle hash) of every distinct shingle of every document, by document."""
    words = df.select(words_expr().alias("w")).with_row_index("doc").explode("w").drop_nulls("w")
    if words.height == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint32)
    vocab = words.get_column("w").unique()
    # xxHash has no vectorized API: hash each distinct word once (a batch's vocabulary is small)
    vocab_hash = pl.Series("h", [xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in vocab.to_list()], pl.UInt64)
    words = words.join(pl.DataFrame([vocab.alias("w"), vocab_hash]), on="w", how="left", maintain_order="left")
    doc = words.get_column("doc").to_numpy().astype(np.int64)
    h = words.get_column("h").to_numpy()
    n = len(h)
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    lengths = np.diff(np.r_[starts, n])
    key = h.copy()
    short_key = np.zeros(len(starts), dtype=np.uint64)  # documents shorter than ngram: one shingle of all
    short = lengths < ngram
    short_key[short & (lengths == 1)] = h[starts[short & (lengths == 1)]]
    with np.errstate(over="ignore"):
        for k in range(1, ngram):
            m = n - k
            key = key[:m] * _FOLD + h[k:k + m]
            done = short & (lengths == k + 1)
            if done.any():
                short_key[done] = key[starts[done]]
    m = max(n - ngram + 1, 0)
    pos = np.flatnonzero(doc[:m] == doc[ngram - 1:ngram - 1 + m])
    d = np.concatenate([doc[pos], doc[starts[short]]])
    k64 = np.concatenate([key[pos], short_key[short]])
    k32 = (k64 ^ (k64 >> np.uint64(32))) & _MAX32
    both = np.sort((d.astype(np.uint64) << np.uint64(32)) | k32)  # by document, then hash
    both = both[np.r_[True, both[1:] != both[:-1]]]  # distinct shingles of each document
    return (both >> np.uint64(32)).astype(np.int64), (both & _MAX32).astype(np.uint32)


def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """datasketch ``MinHash._init_permutations`` for ``scheme`` (same seed, same numbers)."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array([(gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                       for _ in range(num_perm)], dtype=np.uint64).T
        return ab[0], ab[1]
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(doc: np.ndarray, hashes: np.ndarray, n_docs: int, num_perm: int, seed: int,
               scheme: str = "affine32", block: int = 1 << 15) -> np.ndarray:
    """MinHash signatures (n_docs, num_perm) from (document, shingle hash) pairs sorted by document.

    A document without shingles keeps the empty value (all bits set), as datasketch's fresh ``MinHash``.
    ``affine32`` runs in the compiled kernel when it is built (``dataprep/dedup/_kernels.c``), else in numpy.
    """
    a, b = permutations(num_perm, seed, scheme)
    if scheme == "affine32" and _kernels is not None:
        offsets = np.r_[0, np.cumsum(np.bincount(doc, minlength=n_docs))].astype(np.int64)
        out = np.empty((n_docs, num_perm), dtype=np.uint32)
        _kernels.affine32(np.ascontiguousarray(hashes, dtype=np.uint32), offsets, a, b, out)
        return out
    empty = np.uint32(0xFFFFFFFF)
    sig = np.full((n_docs, num_perm), empty, dtype=np.uint32)
    if scheme == "affine32":
        hv = _fmix32(hashes.astype(np.uint32))
    else:
        hv = hashes.astype(np.uint64)
    for s in range(0, len(hv), block):
        e = min(s + block, len(hv))
        x = hv[s:e, None]
        with np.errstate(over="ignore"):
            if scheme == "affine32":
                phv = x * a[None, :] + b[None, :]
            else:  # (a*h + b) mod (2^61 - 1), truncated to 32 bits; a*h wraps in uint64 as in datasketch
                t = x * a[None, :] + b[None, :]
                t = (t & _MERSENNE) + (t >> np.uint64(61))
                t = np.where(t >= _MERSENNE, t - _MERSENNE, t)
                phv = (t & _MAX32).astype(np.uint32)
        seg_doc = doc[s:e]
        seg = np.flatnonzero(np.r_[True, seg_doc[1:] != seg_doc[:-1]])
        mins = np.minimum.reduceat(phv, seg, axis=0)
        rows = seg_doc[seg]
        sig[rows] = np.minimum(sig[rows], mins)
    return sig


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
                  ) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted false positive and negative areas under the S-curve, as
    datasketch ``MinHashLSH._optimal_param`` (numerical integration on a 1,001-point grid)."""
    best, opt = math.inf, (1, num_perm)
    s_lo = np.linspace(0.0, threshold, 1001)
    s_hi = np.linspace(threshold, 1.0, 1001)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - s_lo ** r) ** b, s_lo)
            fn = np.trapezoid((1 - s_hi ** r) ** b, s_hi)
            err = fp * fp_weight + fn * fn_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) uint64 bucket keys: each band's rows folded into 64 bits, the band number mixed in."""
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(bands):
            key = np.full(sig.shape[0], np.uint64(0xCBF29CE484222325) ^ np.uint64(i), dtype=np.uint64)
            for j in range(i * rows, (i + 1) * rows):
                key = (key ^ sig[:, j].astype(np.uint64)) * _FOLD
            out[:, i] = key ^ (key >> np.uint64(29))
    return out


# ---- clustering ----------------------------------------------------------------------------------------------


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component label (the smallest member) of each of ``n`` nodes given undirected edges; vectorized
    min-label propagation with pointer jumping (deterministic, no Python loop per edge)."""
    label = np.arange(n, dtype=np.int64)
    if len(left) == 0:
        return label
    while True:
        lo = np.minimum(label[left], label[right])
        new = label.copy()
        np.minimum.at(new, left, lo)
        np.minimum.at(new, right, lo)
        while True:  # pointer jumping: follow labels to their root
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            return label
        label = new


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted arrays of distinct shingle hashes."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


@dataclasses.dataclass
class _KeyFile:
    """One task's key columns on disk (or in memory), with the corpus position of each row."""

    table: pa.Table
    ords: np.ndarray


def indexed_rows(keys: pa.Table) -> np.ndarray:
    """Rows of a key table that enter the LSH index: not empty documents, nor rows of sources a
    ``sources:``-restricted step leaves alone (``_kskip``)."""
    keep = ~keys.column("_kempty").to_numpy(zero_copy_only=False)
    if "_kskip" in keys.column_names:
        keep &= ~keys.column("_kskip").to_numpy(zero_copy_only=False)
    return keep


def _open_keys(path: Path) -> pa.Table:
    return ipc.open_file(pa.memory_map(str(path))).read_all()


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
        return self._cluster([_KeyFile(table, ords.astype(np.int64))])

    def fit_files(self, files: list[tuple[int, Path]], ord_shift: int, workdir: Path) -> tuple[pl.DataFrame,
                                                                                                 dict[str, Any]]:
        """The executor's entry: key columns of each task's intermediate Arrow file, read memory-mapped."""
        keyfiles = []
        for task, path in files:
            table = _open_keys(path)
            keyfiles.append(_KeyFile(table, (task << ord_shift) + np.arange(table.num_rows, dtype=np.int64)))
        return self._cluster(keyfiles, workdir=workdir)

    def _cluster(self, files: list[_KeyFile], workdir: Path | None = None) -> tuple[pl.DataFrame, dict[str, Any]]:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="minhash-", dir=workdir))
        try:
            return self._cluster_in(files, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _cluster_in(self, files: list[_KeyFile], tmp: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
        band_cols = [f"_kb{i:03d}" for i in range(self.bands)]
        total_rows = sum(f.table.num_rows for f in files)
        key_bytes = total_rows * self.bands * 16
        # one partition's keys get a quarter of the budget: grouping needs working space around them
        budget = max(self.memory_mb * (1 << 20) / 4, 1.0)
        n_parts = min(1 << max(0, math.ceil(math.log2(max(key_bytes / budget, 1)))), 4096)
        shift = np.uint64(64 - int(math.log2(n_parts))) if n_parts > 1 else None
        # 1. spill (bucket key, position) by key range; empty documents never enter the index
        writers: dict[int, ipc.RecordBatchFileWriter] = {}
        schema = pa.schema([("k", pa.uint64()), ("o", pa.int64())])
        for f in files:
            ords = f.ords
            nonempty = indexed_rows(f.table)
            for col in band_cols:
                k = f.table.column(col).to_numpy()[nonempty]
                o = ords[nonempty]
                part = (k >> shift).astype(np.int64) if shift is not None else np.zeros(len(k), np.int64)
                for p in np.unique(part).tolist():
                    sel = part == p
                    if p not in writers:
                        writers[p] = ipc.new_file(str(tmp / f"part-{p:05d}.arrow"), schema)
                    writers[p].write_batch(pa.record_batch([pa.array(k[sel]), pa.array(o[sel])], schema=schema))
        for w in writers.values():
            w.close()
        # 2. group each partition: a bucket with several documents gives edges first member -> the others
        lefts, rights = [], []
        for p in sorted(writers):
            part = pl.from_arrow(_open_keys(tmp / f"part-{p:05d}.arrow"))
            buckets = part.group_by("k").agg(pl.col("o").unique().sort()).filter(pl.col("o").list.len() > 1)
            if buckets.height:
                edges = buckets.select(pl.col("o").list.first().alias("l"), pl.col("o").list.slice(1).alias("r")
                                       ).explode("r")
                lefts.append(edges.get_column("l").to_numpy())
                rights.append(edges.get_column("r").to_numpy())
            del part, buckets
        if lefts:
            edges = pl.DataFrame({"l": np.concatenate(lefts), "r": np.concatenate(rights)}).unique().sort("l", "r")
        else:
            edges = pl.DataFrame({"l": [], "r": []}, schema={"l": pl.Int64, "r": pl.Int64})
        candidates = int(edges.height)
        # 3. gather what the candidates need: id, rank, shingles (only for documents in some edge)
        nodes = pl.concat([edges.get_column("l"), edges.get_column("r")]).unique().sort()
        info = self._gather(files, nodes.to_numpy())
        verified_out = 0
        if self.verify and edges.height:
            sh = dict(zip(info.get_column("_ord").to_list(), info.get_column("_kshingles").to_list(), strict=True))
            arrays = {o: np.asarray(v, dtype=np.uint32) for o, v in sh.items()}
            keep_edge = np.array([jaccard(arrays[a], arrays[b]) >= self.threshold
                                  for a, b in edges.select("l", "r").iter_rows()], dtype=bool)
            verified_out = int((~keep_edge).sum())
            edges = edges.filter(pl.Series(keep_edge))
        # 4. connected components over node indices
        node_ord = info.get_column("_ord").to_numpy()
        li = np.searchsorted(node_ord, edges.get_column("l").to_numpy())
        ri = np.searchsorted(node_ord, edges.get_column("r").to_numpy())
        comp = connected_components(len(node_ord), li, ri)
        drop, stats = self._decide(info.with_columns(pl.Series("c", node_ord[comp])), candidates, verified_out)
        stats["partitions"] = n_parts
        return drop, stats

    def fit_ray(self, files: list[tuple[int, Path]], ord_shift: int, driver_edges: int | None = None,
                log: Any = None) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The Ray executor's entry: the same decisions, with grouping, verification and (above
        ``driver_edges`` edges) connected components distributed on Ray Data (:mod:`.minhash_ray`)."""
        from dataprep.dedup import minhash_ray

        members, candidates, rejected = minhash_ray.cluster_on_ray(
            files, ord_shift, self.bands, self.verify, self.threshold,
            minhash_ray.DRIVER_EDGES if driver_edges is None else driver_edges, log)
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

    def _gather(self, files: list[_KeyFile], nodes: np.ndarray) -> pl.DataFrame:
        """id, rank and shingles of the documents at positions ``nodes`` (sorted), one file at a time."""
        frames = []
        for f in files:
            ords = f.ords
            hit = np.isin(ords, nodes, assume_unique=False)
            if not hit.any():
                continue
            idx = pa.array(np.flatnonzero(hit))
            sub = f.table.select(["id", "_krank", "_kshingles"]).take(idx)
            frames.append(pl.from_arrow(sub).with_columns(pl.Series("_ord", ords[hit]),
                                                         pl.col("id").cast(pl.String)))
        if not frames:
            return pl.DataFrame({"id": [], "_krank": [], "_kshingles": [], "_ord": []},
                                schema={"id": pl.String, "_krank": pl.Struct({"s": pl.Float64, "v": pl.Float64}),
                                        "_kshingles": pl.List(pl.UInt32), "_ord": pl.Int64})
        return pl.concat(frames, how="vertical_relaxed").sort("_ord")


#: The name the issue and the notebook API use.
MinHashDeduplicator = MinHashDedup

