"""Clustering MinHash candidates into near-duplicate groups on one machine, out of core.

Bucket keys are spilled to Arrow files partitioned by key range and grouped one partition at a time, so memory
is bounded by ``memory_mb``, not by corpus size. Each bucket with several documents yields edges from its first
member to the others (a star: enough to connect the bucket when every candidate is accepted); connected
components (min-label propagation with pointer jumping, vectorized) are the clusters.

**Verification** (``verify``, text-dedup's option) checks each candidate edge's exact Jaccard similarity of the
two shingle sets and drops the edges below the threshold. A star alone is then not enough: in a bucket
``{A, B, C}`` whose edge A-B is a false candidate, the true pair B-C was never an edge, and B was lost from
its cluster. So a second pass, the *repair*, revisits only the buckets where verification dropped an edge
(the multi-document buckets are spilled beside the keys, one file per partition, and read back only then):
in each, every member is compared, in corpus order, with the earlier members of the bucket that are not
already in its component (union-find over the components of the first pass), and joins a component at the
first that verifies. A pair already connected is never checked, nor a pair already rejected, so a bucket of
true duplicates costs nothing more, and the result is the connected components of *every* verified pair that
shares a bucket, whatever the order. Cost bound: a member is compared with at most
``REPAIR_CHECKS_PER_MEMBER`` earlier members of one bucket; only a bucket of mostly false candidates (a band
that many unrelated documents share) reaches it, where the checks beyond would very probably fail too, and it
keeps the repair linear in the bucket's size. Buckets are repaired in key order and members in corpus order,
so the outcome (the cap included) is the same for any number of workers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

#: the most earlier members of one bucket a member is compared with in the repair pass (see the module's
#: docstring): a cost bound, not a quality threshold. 32 misses in a row mean a bucket of unrelated documents
#: (near duplicates verify against one of the first few earlier members); it bounds a bucket of n documents at
#: 32 n exact Jaccard checks instead of n (n - 1) / 2.
REPAIR_CHECKS_PER_MEMBER = 32


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
class KeyFile:
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


def open_keys(path: Path) -> pa.Table:
    return ipc.open_file(pa.memory_map(str(path))).read_all()


def cluster_files(files: list[KeyFile], bands: int, memory_mb: int, verify: bool, threshold: float, tmp: Path
                  ) -> tuple[pl.DataFrame, int, int, int]:
    """Cluster the documents of ``files`` (scratch files in ``tmp``). Returns the members of candidate edges
    (``id``, ``_krank``, ``_kshingles``, ``_ord``) with their component ``c``, the number of candidate edges,
    the number verification rejected, and the number of key partitions used."""
    band_cols = [f"_kb{i:03d}" for i in range(bands)]
    total_rows = sum(f.table.num_rows for f in files)
    key_bytes = total_rows * bands * 16
    # one partition's keys get a quarter of the budget: grouping needs working space around them
    budget = max(memory_mb * (1 << 20) / 4, 1.0)
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
    # 2. group each partition: a bucket with several documents gives edges first member -> the others; with
    # ``verify`` the multi-document buckets are spilled too, for the repair pass
    lefts, rights = [], []
    spilled: list[Path] = []
    for p in sorted(writers):
        part = pl.from_arrow(open_keys(tmp / f"part-{p:05d}.arrow"))
        buckets = part.group_by("k").agg(pl.col("o").unique().sort()).filter(pl.col("o").list.len() > 1)
        if buckets.height:
            edges = buckets.select(pl.col("o").list.first().alias("l"), pl.col("o").list.slice(1).alias("r")
                                   ).explode("r")
            lefts.append(edges.get_column("l").to_numpy())
            rights.append(edges.get_column("r").to_numpy())
            if verify:
                spilled.append(tmp / f"multi-{p:05d}.arrow")
                buckets.sort("k").write_ipc(spilled[-1])
        del part, buckets
    if lefts:
        edges = pl.DataFrame({"l": np.concatenate(lefts), "r": np.concatenate(rights)}).unique().sort("l", "r")
    else:
        edges = pl.DataFrame({"l": [], "r": []}, schema={"l": pl.Int64, "r": pl.Int64})
    candidates = int(edges.height)
    # 3. gather what the candidates need: id, rank, shingles (only for documents in some edge)
    nodes = pl.concat([edges.get_column("l"), edges.get_column("r")]).unique().sort()
    info = gather(files, nodes.to_numpy())
    verified_out = 0
    rejected = edges.head(0)
    arrays: dict[int, np.ndarray] = {}
    if verify and edges.height:
        sh = dict(zip(info.get_column("_ord").to_list(), info.get_column("_kshingles").to_list(), strict=True))
        arrays = {o: np.asarray(v, dtype=np.uint32) for o, v in sh.items()}
        keep_edge = np.array([jaccard(arrays[a], arrays[b]) >= threshold
                              for a, b in edges.select("l", "r").iter_rows()], dtype=bool)
        verified_out = int((~keep_edge).sum())
        rejected = edges.filter(pl.Series(~keep_edge))
        edges = edges.filter(pl.Series(keep_edge))
    # 4. connected components over node indices
    node_ord = info.get_column("_ord").to_numpy()
    li = np.searchsorted(node_ord, edges.get_column("l").to_numpy())
    ri = np.searchsorted(node_ord, edges.get_column("r").to_numpy())
    comp = connected_components(len(node_ord), li, ri)
    # 5. repair the buckets where verification dropped an edge (module docstring)
    labels = node_ord[comp]
    if rejected.height:
        todo = [broken_buckets(pl.from_arrow(open_keys(path)), rejected) for path in spilled]
        involved = np.unique(np.concatenate([f.get_column("o").explode().to_numpy() for f in todo]))
        label = dict(zip(involved.tolist(), labels[np.searchsorted(node_ord, involved)].tolist(), strict=True))
        merged, checked, failed = repair_buckets(
            (m for frame in todo for m in frame.get_column("o").to_list()), label, arrays,
            {(int(a), int(b)) for a, b in rejected.iter_rows()}, threshold)
        if merged:
            labels = pl.Series(labels).replace(merged).to_numpy()
        candidates += checked
        verified_out += failed
    return info.with_columns(pl.Series("c", labels)), candidates, verified_out, n_parts


def broken_buckets(buckets: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """The buckets (``k``, sorted member positions ``o``) one of whose star edges (first member, other member)
    is among the ``rejected`` pairs (``l``, ``r``), sorted by key: what the repair pass revisits."""
    stars = buckets.select("k", pl.col("o").list.first().alias("l"), pl.col("o").list.slice(1).alias("r")
                           ).explode("r")
    broken = stars.join(rejected.select("l", "r"), on=["l", "r"], how="semi").get_column("k").unique()
    return buckets.filter(pl.col("k").is_in(broken.implode())).sort("k")


def repair_buckets(buckets: Iterable[list[int]], label: dict[int, int], shingle_sets: Mapping[int, np.ndarray],
                   seen: set[tuple[int, int]], threshold: float,
                   checks_per_member: int = REPAIR_CHECKS_PER_MEMBER) -> tuple[dict[int, int], int, int]:
    """The repair pass (module docstring), shared by the local and the Ray paths.

    ``buckets``: the member positions (sorted) of each bucket to revisit, buckets in key order; ``label``: the
    component label (smallest member position) of every member after the first pass; ``shingle_sets``: each
    member's sorted shingle hashes; ``seen``: pairs ``(smaller, larger)`` known to fail (the rejected star
    edges; extended in place). Each member is compared with the earlier members of its bucket that are not in
    its component yet, at most ``checks_per_member`` of them, and components merge at every pair whose exact
    Jaccard similarity reaches ``threshold``. Returns the new label of every first-pass label that changed
    (the smallest member of the merged component), the pairs checked and the pairs that failed."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    checked = failed = 0
    for members in buckets:
        for j in range(1, len(members)):
            budget = checks_per_member
            for i in range(j):
                if budget == 0:
                    break
                ri, rj = find(label[members[i]]), find(label[members[j]])
                pair = (members[i], members[j])
                if ri == rj or pair in seen:
                    continue
                budget -= 1
                checked += 1
                seen.add(pair)
                if jaccard(shingle_sets[members[i]], shingle_sets[members[j]]) >= threshold:
                    parent[max(ri, rj)] = min(ri, rj)  # the smaller position stays the label
                else:
                    failed += 1
    merged = {x: find(x) for x in list(parent)}
    return {x: r for x, r in merged.items() if x != r}, checked, failed


def gather(files: list[KeyFile], nodes: np.ndarray) -> pl.DataFrame:
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
