"""MinHash-LSH clustering on Ray Data: band grouping through Ray's hash shuffle, candidate verification and
connected components as distributed joins, so no edge list larger than a bound reaches the driver.

The local executor clusters on one machine, out of core (:meth:`MinHashDedup._cluster_in`). With
``--executor ray`` the same decisions come from Ray Data:

1. every task's key file becomes rows ``(k, o)``: one per band of each document (``k`` the band's bucket key,
   ``o`` the document's corpus position); empty documents and rows a ``sources:`` restriction skips stay out;
2. ``groupby(k).aggregate(Count, Min(o))`` (a hash shuffle) finds the buckets with several documents, and a
   hash join of the rows with those buckets gives the candidate edges ``(min o of the bucket, o)``, made
   unique by a second aggregation: the edges the local path finds (first member of a bucket to the others);
3. with ``verify``, two joins bring each edge's shingle sets together and a map computes exact Jaccard; the
   buckets whose star edge failed are then repaired as locally (:func:`_repair`: only those buckets reach the
   driver);
4. connected components: when at most ``driver_edges`` edges remain they are gathered and labelled on the
   driver (vectorized, as locally); above that, min-label propagation with pointer jumping runs as rounds of
   joins and ``Min`` aggregations on Ray until no label changes;
5. the component members (``o``, label, id, rank: one row per document in a cluster, never the edges) are
   gathered and the representative chosen exactly as locally.

The output (dropped positions and ``duplicate_of``, the statistics) equals the local executor's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.dedup.minhash.cluster import indexed_rows

#: Verified edges gathered on the driver for the vectorized connected components: 16 bytes each, so the
#: default is 320 MB. Above it the components are computed on Ray.
DRIVER_EDGES = 20_000_000


def _open(path: str) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(path)).read_all()


def _ords(task: int, n: int, ord_shift: int) -> np.ndarray:
    return (task << ord_shift) + np.arange(n, dtype=np.int64)


def _bucket_rows(batch: pa.Table, band_cols: list[str], ord_shift: int) -> pa.Table:
    """(k, o) for every band of every selected document of the key files named in ``batch``."""
    ks, os_ = [], []
    for task, path in zip(batch.column("task").to_pylist(), batch.column("path").to_pylist(), strict=True):
        table = _open(path)
        keep = indexed_rows(table)
        ords = _ords(task, table.num_rows, ord_shift)[keep]
        for col in band_cols:
            ks.append(table.column(col).to_numpy()[keep])
            os_.append(ords)
    if not ks:
        return pa.table({"k": pa.array([], pa.uint64()), "o": pa.array([], pa.int64())})
    return pa.table({"k": np.concatenate(ks), "o": np.concatenate(os_)})


def _doc_rows(batch: pa.Table, columns: list[str], ord_shift: int) -> pa.Table:
    """``o`` plus ``columns`` of every selected document of the key files named in ``batch``."""
    parts = []
    for task, path in zip(batch.column("task").to_pylist(), batch.column("path").to_pylist(), strict=True):
        table = _open(path)
        keep = indexed_rows(table)
        sub = table.select(columns).filter(pa.array(keep))
        parts.append(sub.append_column("o", pa.array(_ords(task, table.num_rows, ord_shift)[keep])))
    return pa.concat_tables(parts) if parts else pa.table({})


def _pairs(batch: pa.Table) -> pa.Table:
    o, lo = batch.column("o"), batch.column("min(o)")
    keep = pc.not_equal(o, lo)
    return pa.table({"k": batch.column("k").filter(keep), "l": lo.filter(keep), "r": o.filter(keep)})


def _multi(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.greater(batch.column("count()"), 1)).select(["k", "min(o)"])


def _jaccard_edges(batch: pa.Table, threshold: float) -> pa.Table:
    from dataprep.dedup.minhash.cluster import jaccard

    left, right = batch.column("sl").to_pylist(), batch.column("sr").to_pylist()
    keep = np.array([jaccard(np.asarray(a, np.uint32), np.asarray(b, np.uint32)) >= threshold
                     for a, b in zip(left, right, strict=True)], dtype=bool)
    return pa.table({"l": batch.column("l"), "r": batch.column("r"), "ok": pa.array(keep)})


def _min_label(batch: pa.Table) -> pa.Table:
    m = pc.min_element_wise(batch.column("cl"), batch.column("cr"))
    return pa.table({"o": pa.concat_arrays([batch.column("l").combine_chunks(), batch.column("r").combine_chunks()]),
                     "c": pa.concat_arrays([m.combine_chunks() if isinstance(m, pa.ChunkedArray) else m] * 2)})


def cluster_on_ray(files: list[tuple[int, Path]], ord_shift: int, bands: int, verify: bool, threshold: float,
                   driver_edges: int = DRIVER_EDGES, log: Callable[[str], None] | None = None,
                   ) -> tuple[pl.DataFrame, int, int]:
    """Cluster the documents of ``files`` (task index, key file) on Ray. Returns the component members
    ``(_ord, c, id, _krank)`` of every cluster of two or more, the candidate pairs and the pairs verification
    rejected."""
    import ray

    parts = max(2, int(ray.cluster_resources().get("CPU", 2)))
    ctx = ray.data.DataContext.get_current()
    saved = ctx.default_hash_shuffle_parallelism
    ctx.default_hash_shuffle_parallelism = parts  # aggregations: one partition per CPU, not Ray's default 200
    try:
        return _cluster(files, ord_shift, bands, verify, threshold, driver_edges, log, parts)
    finally:
        ctx.default_hash_shuffle_parallelism = saved


def _cluster(files: list[tuple[int, Path]], ord_shift: int, bands: int, verify: bool, threshold: float,
             driver_edges: int, log: Callable[[str], None] | None, parts: int) -> tuple[pl.DataFrame, int, int]:
    import ray
    from ray.data.aggregate import Count, Min

    band_cols = [f"_kb{i:03d}" for i in range(bands)]
    src = ray.data.from_items([{"task": t, "path": str(p)} for t, p in files],
                              override_num_blocks=max(1, len(files)))
    rows = src.map_batches(_bucket_rows, batch_size=1, batch_format="pyarrow",
                           fn_kwargs={"band_cols": band_cols, "ord_shift": ord_shift})
    multi = rows.groupby("k").aggregate(Count(), Min("o")).map_batches(_multi, batch_format="pyarrow")
    pairs = rows.join(multi, join_type="inner", num_partitions=parts, on=("k",)).map_batches(
        _pairs, batch_format="pyarrow").materialize()
    edges = pairs.groupby(["l", "r"]).count().select_columns(["l", "r"]).materialize()
    candidates = edges.count()
    rejected = 0
    if verify and candidates:
        shingles = src.map_batches(_doc_rows, batch_size=1, batch_format="pyarrow",
                                   fn_kwargs={"columns": ["_kshingles"], "ord_shift": ord_shift})
        left = shingles.rename_columns({"o": "l", "_kshingles": "sl"})
        right = shingles.rename_columns({"o": "r", "_kshingles": "sr"})
        checked = (edges.join(left, join_type="inner", num_partitions=parts, on=("l",))
                   .join(right, join_type="inner", num_partitions=parts, on=("r",))
                   .map_batches(_jaccard_edges, batch_format="pyarrow", fn_kwargs={"threshold": threshold})
                   .materialize())
        edges = checked.map_batches(lambda b: b.filter(b.column("ok")).select(["l", "r"]),
                                    batch_format="pyarrow").materialize()
        rejected = candidates - edges.count()
    n_edges = edges.count()
    if n_edges == 0:
        labels = None
    elif n_edges <= driver_edges:
        labels = _labels_on_driver(edges)
    else:
        labels = _labels_on_ray(edges, parts, log)
    if rejected:
        failed_edges = checked.map_batches(lambda b: b.filter(pc.invert(b.column("ok"))).select(["l", "r"]),
                                           batch_format="pyarrow")
        labels, n_checked, n_failed = _repair(rows, pairs, failed_edges, labels, shingles, threshold, parts)
        candidates += n_checked
        rejected += n_failed
    if labels is None:
        empty = pl.DataFrame(schema={"_ord": pl.Int64, "c": pl.Int64, "id": pl.String,
                                     "_krank": pl.Struct({"s": pl.Float64, "v": pl.Float64})})
        return empty, candidates, rejected
    info = src.map_batches(_doc_rows, batch_size=1, batch_format="pyarrow",
                           fn_kwargs={"columns": ["id", "_krank"], "ord_shift": ord_shift})
    members = labels.join(info, join_type="inner", num_partitions=parts, on=("o",))
    table = pa.concat_tables(ray.get(members.to_arrow_refs()))
    out = pl.from_arrow(table).select(pl.col("o").alias("_ord"), pl.col("c").cast(pl.Int64),
                                      pl.col("id").cast(pl.String), "_krank").sort("_ord")
    return out, candidates, rejected


def _gathered(ds: Any) -> pl.DataFrame:
    import ray

    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pl.from_arrow(pa.concat_tables(tables)) if tables else pl.DataFrame()


def _repair(rows: Any, pairs: Any, failed_edges: Any, labels: Any, shingles: Any, threshold: float, parts: int
            ) -> tuple[Any, int, int]:
    """The local path's repair pass (:func:`.cluster.repair_buckets`) on Ray: the buckets one of whose star
    edges failed verification are found by joins, and only they (members, first-pass labels, shingles) are
    gathered on the driver; the merged labels go back as a dataset. Same buckets, same key order, same result
    as locally. Returns the labels, the pairs checked and the pairs that failed."""
    import ray
    from ray.data.aggregate import Min

    from dataprep.dedup.minhash.cluster import repair_buckets

    failed = _gathered(failed_edges)
    broken = _gathered(pairs.join(ray.data.from_arrow(failed.to_arrow()), join_type="inner", num_partitions=parts,
                                  on=("l", "r")).select_columns(["k"]))
    keys = broken.get_column("k").unique()
    members = _gathered(rows.join(ray.data.from_arrow(pa.table({"k": keys.to_numpy()})), join_type="inner",
                                  num_partitions=parts, on=("k",)))
    buckets = members.group_by("k").agg(pl.col("o").unique().sort()).sort("k")
    involved = np.unique(members.get_column("o").to_numpy())
    wanted = ray.data.from_arrow(pa.table({"o": involved}))
    first = (_gathered(labels.join(wanted, join_type="inner", num_partitions=parts, on=("o",)))
             if labels is not None else pl.DataFrame())
    label = {int(o): int(o) for o in involved.tolist()}
    if first.height:
        label.update(zip(first.get_column("o").to_list(), first.get_column("c").to_list(), strict=True))
    sh = _gathered(shingles.join(wanted, join_type="inner", num_partitions=parts, on=("o",)))
    arrays = {int(o): np.asarray(v, dtype=np.uint32)
              for o, v in zip(sh.get_column("o").to_list(), sh.get_column("_kshingles").to_list(), strict=True)}
    merged, n_checked, n_failed = repair_buckets(
        buckets.get_column("o").to_list(), label, arrays,
        {(int(a), int(b)) for a, b in failed.select("l", "r").iter_rows()}, threshold)
    if not merged:
        return labels, n_checked, n_failed
    extra = pa.table({"o": pa.array(list(label), pa.int64()),
                      "c": pa.array([merged.get(c, c) for c in label.values()], pa.int64())})
    old, new = pa.array(list(merged), pa.int64()), pa.array(list(merged.values()), pa.int64())

    def relabel(batch: pa.Table) -> pa.Table:
        c = batch.column("c")
        at = pc.index_in(c, value_set=old)
        return pa.table({"o": batch.column("o").cast(pa.int64()),
                         "c": pc.if_else(pc.is_null(at), c, pc.take(new, at)).cast(pa.int64())})

    out = ray.data.from_arrow(extra)
    if labels is not None:
        out = labels.map_batches(relabel, batch_format="pyarrow").union(out)
    # an involved member already labelled appears twice, with the same label: one row per member
    out = out.groupby("o").aggregate(Min("c")).rename_columns({"min(c)": "c"})
    return out.materialize(), n_checked, n_failed


def _labels_on_driver(edges: Any) -> Any:
    """Gather the (bounded) edges, label components with the vectorized local algorithm, hand the labels back
    to Ray as a dataset (for the join with ids and ranks)."""
    import ray

    from dataprep.dedup.minhash.cluster import connected_components

    table = pa.concat_tables(ray.get(edges.to_arrow_refs()))
    left, right = table.column("l").to_numpy(), table.column("r").to_numpy()
    nodes = np.unique(np.concatenate([left, right]))
    comp = connected_components(len(nodes), np.searchsorted(nodes, left), np.searchsorted(nodes, right))
    return ray.data.from_arrow(pa.table({"o": nodes, "c": nodes[comp]}))


def _labels_on_ray(edges: Any, parts: int, log: Callable[[str], None] | None) -> Any:
    """Min-label propagation with pointer jumping, as rounds of Ray joins and aggregations, until stable."""
    from ray.data.aggregate import Min

    nodes = (edges.select_columns(["l"]).rename_columns({"l": "o"})
             .union(edges.select_columns(["r"]).rename_columns({"r": "o"})).groupby("o").count()
             .select_columns(["o"]))
    labels = nodes.map_batches(lambda b: pa.table({"o": b.column("o"), "c": b.column("o")}),
                               batch_format="pyarrow").materialize()
    rounds = 0
    while True:
        rounds += 1
        lab_l = labels.rename_columns({"o": "l", "c": "cl"})
        lab_r = labels.rename_columns({"o": "r", "c": "cr"})
        proposals = (edges.join(lab_l, join_type="inner", num_partitions=parts, on=("l",))
                     .join(lab_r, join_type="inner", num_partitions=parts, on=("r",))
                     .map_batches(_min_label, batch_format="pyarrow"))
        new = (proposals.union(labels).groupby("o").aggregate(Min("c"))
               .rename_columns({"min(c)": "c"}))
        # pointer jumping: a node takes its label's label (never larger, same component)
        hop = new.rename_columns({"o": "c", "c": "cc"})
        new = (new.join(hop, join_type="inner", num_partitions=parts, on=("c",))
               .map_batches(lambda b: pa.table({"o": b.column("o"), "c": b.column("cc")}), batch_format="pyarrow")
               .materialize())
        changed = (new.join(labels.rename_columns({"c": "old"}), join_type="inner", num_partitions=parts, on=("o",))
                   .map_batches(lambda b: b.filter(pc.not_equal(b.column("c"), b.column("old"))),
                                batch_format="pyarrow").count())
        labels = new
        if log:
            log(f"minhash components on ray: round {rounds}, {changed:,} labels changed")
        if changed == 0:
            return labels
