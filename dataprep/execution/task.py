"""Running one task of one stage: read its input (the files, or the previous stage's shard), apply the last
global step's decisions, run the stage's local steps, and write kept, rejected, duplicate and quarantined rows
plus the next stage's shard with the keys of the coming global step; then publish everything by atomic rename
and write the task's marker last, so that a task counts as done only when all of its output is. A first stage's
marker also records the stamp (size, mtime, inode) of every input the task read, as it was when read: a
resumed run whose inputs changed since reruns the task (:func:`marker_inputs`).

A task that batches several small files reads them one after the other and joins their documents into
batches of up to the reader's block size (``ReadOptions.chunk_bytes``), so that the steps run on a few large
frames instead of one per file; a task of one file or range keeps its reader's blocks as they are.

Every runner (local processes, Ray) calls :func:`run_task`, so the output is the same whichever runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from dataprep.execution.plan import (
    ORD_SHIFT,
    WORK,
    Stage,
    Task,
    decisions_path,
    intermediate,
    marker,
    shard_prefix,
)
from dataprep.io.readers import Chunk, ReadOptions, read_file
from dataprep.io.readers.files import Stamp, input_stamp
from dataprep.io.writers import BackgroundWriter, ShardWriter, atomic_write_json, read_table
from dataprep.recipe import Recipe, StepConfig
from dataprep.schema import (
    DOC_SCHEMA,
    DUPLICATE_SCHEMA,
    QUARANTINE_SCHEMA,
    REJECTED_SCHEMA,
    normalize_table,
    text_bytes,
)
from dataprep.stats import add, new_task_stats

#: a working column that carries a row's position through a step restricted to some sources (a name without a
#: leading underscore, which steps drop as private)
ROW_COL = "dataprep_row__"

Writer = Callable[[str, "pa.Schema | None"], ShardWriter]


def marker_inputs(task: Task, stamps: list[Stamp] | tuple[Stamp, ...]) -> list[list[Any]]:
    """What a first stage's marker records of the task's inputs: ``[name, size, mtime_ns, inode]`` per unit
    (``[name, None]`` for one that did not exist), comparable with the plan's stamps after a JSON round trip."""
    return [[rel, *stamp] if stamp is not None else [rel, None]
            for (_, rel), stamp in zip(task.units, stamps, strict=True)]


def _stage_input(recipe: Recipe, stage: Stage, task: Task, work: Path, stamps: list[Stamp]) -> Iterator[Chunk]:
    """The task's input chunks: its files (each one's stamp appended to ``stamps`` as it is opened), or the
    previous stage's shard a record batch at a time."""
    if stage.index == 0:
        src = recipe.sources[task.source_index]
        opts = ReadOptions(source=src.name, format=src.format, text_field=src.text_field,
                           id_field=src.id_field, text_unit=src.text_unit, byte_range=task.byte_range,
                           first_line=task.first_line, options=tuple(sorted(src.options.items())),
                           max_doc_bytes=recipe.limits.max_doc_bytes)
        for path, rel in task.units:
            stamps.append(input_stamp(path))
            yield from read_file(path, rel, opts)
        return
    path = intermediate(work, stage.index - 1, task)
    if not path.exists():
        return
    reader = pa.ipc.open_file(pa.memory_map(str(path)))
    for i in range(reader.num_record_batches):
        yield Chunk(pa.Table.from_batches([reader.get_batch(i)]), QUARANTINE_SCHEMA.empty_table())


def _joined(chunks: Iterator[Chunk], target_bytes: int) -> Iterator[Chunk]:
    """Chunks of a batching task's files with their documents joined into batches of up to ``target_bytes``
    (Arrow bytes), in order: a batch is cut before a chunk that would take it past the target, or whose columns
    differ. Quarantined records and line counts pass at once (their shards do not interleave with documents)."""
    held: list[pa.Table] = []
    held_bytes = 0
    for chunk in chunks:
        if chunk.quarantine.num_rows or chunk.lines:
            yield Chunk(DOC_SCHEMA.empty_table(), chunk.quarantine, chunk.lines)
        docs = chunk.docs
        if not docs.num_rows:
            continue
        size = docs.nbytes
        if held and (held_bytes + size > target_bytes or docs.schema != held[0].schema):
            yield Chunk(pa.concat_tables(held), QUARANTINE_SCHEMA.empty_table())
            held, held_bytes = [], 0
        held.append(docs)
        held_bytes += size
    if held:
        yield Chunk(pa.concat_tables(held), QUARANTINE_SCHEMA.empty_table())


def _decisions_for(work: Path, stage: Stage, task: Task) -> pa.Table | None:
    if stage.apply_global is None:
        return None
    table = read_table(decisions_path(work, stage.index - 1))
    ords = table.column("_ord").to_numpy()
    lo = np.searchsorted(ords, task.index << ORD_SHIFT)
    hi = np.searchsorted(ords, (task.index + 1) << ORD_SHIFT)
    return table.slice(lo, hi - lo)


def run_task(recipe: Recipe, stage: Stage, task: Task, out: Path,
             defer: Callable[[Callable[[], None]], None] | None = None) -> dict[str, Any]:
    """Run one stage of one task; publish its shards, then its marker. Returns its counters. With ``defer``
    the publishing is handed to it (a :class:`dataprep.execution.local.Committer`) instead of done before
    returning."""
    work = out / WORK
    done_marker = marker(work, stage.index, task)
    stats = new_task_stats(task.source)
    fmt, shard = recipe.output.format, recipe.output.shard_bytes
    final = stage.keys_for is None
    decisions = _decisions_for(work, stage, task)
    row = 0  # position of the next row among this stage's input rows of this task
    writers: dict[str, ShardWriter] = {}
    stamps: list[Stamp] = []
    chunks = _stage_input(recipe, stage, task, work, stamps)
    if len(task.units) > 1:
        chunks = _joined(chunks, ReadOptions.chunk_bytes)

    def writer(kind: str, schema: pa.Schema | None) -> ShardWriter:
        if kind not in writers:
            if kind == "next":
                w = ShardWriter(work / f"s{stage.index}", f"{task.index:05d}", schema, "arrow", max_bytes=1 << 62)
            else:
                w = ShardWriter(out / kind, shard_prefix(task, stage.index), schema, fmt, shard)
            # the bulk of the output is written while the next batch is read and processed
            writers[kind] = BackgroundWriter(w) if kind in ("kept", "next") else w
        return writers[kind]

    def abort() -> None:
        for w in writers.values():
            w.abort()

    try:
        for chunk in chunks:
            stats["lines"] = stats.get("lines", 0) + chunk.lines  # what the next range's first line builds on
            q = chunk.quarantine
            if q.num_rows:
                writer("quarantine", QUARANTINE_SCHEMA).write(q)
                add(stats["quarantined"], q.num_rows, int(np.sum(q.column("raw_bytes").to_numpy())))
                add(stats["input"], q.num_rows, int(np.sum(q.column("raw_bytes").to_numpy())))
                for kind in q.column("kind").to_pylist():
                    stats["quarantine_errors"][kind] = stats["quarantine_errors"].get(kind, 0) + 1
            docs = chunk.docs
            if docs.num_rows == 0:
                continue
            stats["processed"] = stats.get("processed", 0) + docs.num_rows
            table = docs
            if stage.index == 0:
                add(stats["input"], table.num_rows, text_bytes(table))
                table = _read_checks(table, recipe.limits.max_doc_bytes, stats, writer)
            else:
                ords = np.arange(row, row + table.num_rows, dtype=np.int64) + (task.index << ORD_SHIFT)
                row += table.num_rows
                table = _apply_decisions(table, ords, decisions, stage.apply_global, stats, writer)
            if stage.local:
                df = pl.from_arrow(table, rechunk=False)
                for cfg in stage.local:
                    df = _run_local(cfg, df, stats, writer)
                table = normalize_table(df.to_arrow())
            if table.num_rows == 0:
                continue
            if final:
                writer("kept", _kept_schema(table)).write(table)
                add(stats["kept"], table.num_rows, text_bytes(table))
            else:
                keys = _stage_keys(stage.keys_for, pl.from_arrow(table, rechunk=False))
                for name in keys.columns:
                    if name != "id":
                        table = table.append_column(name, keys.get_column(name).to_arrow())
                # one record batch per chunk: the next stage reads the shard back a batch at a time, and a step
                # that looks across a batch (boilerplate_lines) must see the whole chunk, however the reader
                # happened to split its columns (pyarrow's JSON parser gives a piece per 1 MB block)
                if any(col.num_chunks > 1 for col in table.columns):
                    table = table.combine_chunks()
                writer("next", table.schema).write(table)
    except BaseException:
        abort()
        raise

    def commit() -> None:
        """Publish the task's shards (drain, fsync, rename), then its marker: a task counts as done only then."""
        try:
            for w in writers.values():
                w.close()
        except BaseException:
            abort()
            raise
        atomic_write_json(done_marker, {**stats, "inputs": marker_inputs(task, stamps)} if stage.index == 0
                          else stats)

    if defer is None:
        commit()
    else:
        defer(commit)
    return stats


def _stage_keys(cfg: StepConfig, df: pl.DataFrame) -> pl.DataFrame:
    """A global step's key columns for one batch. For a step restricted by ``sources:`` the keys of the other
    rows are zeros and ``_kskip`` is true: the fit leaves those rows out."""
    sel = _selected(cfg, df)
    if sel is None:
        return cfg.step.keys(df)
    if sel.all():
        return cfg.step.keys(df).with_columns(pl.lit(False).alias("_kskip"))
    sub = cfg.step.keys(df.filter(sel)) if sel.any() else cfg.step.keys(df.head(0))
    sub = sub.drop("id").with_columns(pl.Series(ROW_COL, np.flatnonzero(sel.to_numpy()), dtype=pl.UInt32))
    full = df.select("id").with_row_index(ROW_COL).join(sub, on=ROW_COL, how="left", maintain_order="left")
    fills = []
    for name, dtype in sub.schema.items():
        if name == ROW_COL:
            continue
        if dtype.is_numeric():
            fills.append(pl.col(name).fill_null(0))
        elif dtype == pl.Boolean:
            fills.append(pl.col(name).fill_null(False))
    return full.with_columns(*fills, (~pl.Series(sel)).alias("_kskip")).drop(ROW_COL)


def _kept_schema(table: pa.Table) -> pa.Schema:
    base = [f for f in DOC_SCHEMA]
    extra = [f for f in table.schema if f.name not in DOC_SCHEMA.names and not f.name.startswith("_")]
    return pa.schema(base + extra)


def _read_checks(table: pa.Table, max_doc_bytes: int, stats: dict, writer: Writer) -> pa.Table:
    """Reject empty (or white-space only) and over-long documents as step ``read``; vectorized in Arrow."""
    text = table.column("text")
    lengths = pc.binary_length(text)
    empty = pc.or_(pc.equal(lengths, 0), pc.utf8_is_space(text))
    too_long = pc.greater(lengths, max_doc_bytes)
    bad = pc.or_(empty, too_long)
    if not pc.any(bad).as_py():
        return table
    reason = pc.if_else(empty, "empty", "too_long")
    rejected = table.filter(bad).append_column("step", pa.repeat(pa.scalar("read", pa.large_string()),
                                                                   int(pc.sum(bad).as_py())))
    rejected = rejected.append_column("reason", reason.filter(bad))
    _record_rejected(pl.from_arrow(rejected), "read", stats, writer)
    return table.filter(pc.invert(bad))


def _record_rejected(rejected: pl.DataFrame, step: str, stats: dict, writer: Writer) -> None:
    table = normalize_table(rejected.select(REJECTED_SCHEMA.names).to_arrow())
    writer("rejected", REJECTED_SCHEMA).write(table)
    counts = rejected.group_by("reason").agg(pl.len().alias("n"), pl.col("text").str.len_bytes().sum().alias("b"))
    for reason, n, b in counts.sort("reason").iter_rows():
        add(stats["rejected"].setdefault(step, {}).setdefault(reason, {}), n, b or 0)


def _selected(cfg: StepConfig, df: pl.DataFrame) -> pl.Series | None:
    """Rows a step restricted by ``sources:`` applies to; None when it applies to every row."""
    if cfg.sources is None:
        return None
    return df.get_column("source").is_in(cfg.sources)


def _run_local(cfg: StepConfig, df: pl.DataFrame, stats: dict, writer: Writer) -> pl.DataFrame:
    sel = _selected(cfg, df)
    if sel is not None and not sel.all():
        if not sel.any():
            return df
        indexed = df.with_row_index(ROW_COL)
        kept = _run_local_all(cfg, indexed.filter(sel), stats, writer)
        merged = pl.concat([indexed.filter(~sel), kept], how="diagonal_relaxed").sort(ROW_COL)
        return merged.drop(ROW_COL)
    return _run_local_all(cfg, df, stats, writer)


def _run_local_all(cfg: StepConfig, df: pl.DataFrame, stats: dict, writer: Writer) -> pl.DataFrame:
    kept, rejected, counters = cfg.step.run_polars(df)
    if counters:
        into = stats["counters"].setdefault(cfg.label, {})
        for key, n in counters.items():
            into[key] = into.get(key, 0) + int(n)
    if rejected.height:
        _record_rejected(rejected.with_columns(pl.lit(cfg.label).alias("step")), cfg.label, stats, writer)
    return kept


def _apply_decisions(table: pa.Table, ords: np.ndarray, decisions: pa.Table | None, cfg: StepConfig,
                     stats: dict, writer: Writer) -> pa.Table:
    """Apply a global step's decisions to rows by their corpus position ``ords``, as the step
    :attr:`~dataprep.step.GlobalStep.decides`: drop rows into ``duplicates`` with the id they duplicate, or
    edit their text (a document left empty is rejected)."""
    label = cfg.label
    table = table.drop_columns([c for c in table.column_names if c.startswith("_k")])
    if decisions is None or decisions.num_rows == 0:
        return table
    drop_ords = decisions.column("_ord").to_numpy()
    idx = np.minimum(np.searchsorted(drop_ords, ords), len(drop_ords) - 1)
    hit = drop_ords[idx] == ords
    if not hit.any():
        return table
    if cfg.step.decides == "edit":
        rows = pa.array(np.where(hit, idx, 0))
        remove = pl.from_arrow(decisions.column("remove").take(rows)).alias("r")
        remove = pl.select(pl.when(pl.Series(hit)).then(remove).otherwise(None)).to_series()
        edited = cfg.step.apply_edits(pl.from_arrow(table, rechunk=False), remove)
        empty = edited.get_column("text").str.strip_chars() == ""
        if empty.any():
            gone = edited.filter(empty).with_columns(pl.lit(label).alias("step"),
                                                     pl.lit("empty_after_dedup").alias("reason"))
            _record_rejected(gone, label, stats, writer)
        return normalize_table(edited.filter(~empty).to_arrow())
    mask = pa.array(hit)
    dup = table.filter(mask)
    dup = dup.append_column("step", pa.repeat(pa.scalar(label, pa.large_string()), dup.num_rows))
    dup = dup.append_column("duplicate_of", decisions.column("duplicate_of").take(pa.array(idx[hit])))
    dup = normalize_table(dup.select(DUPLICATE_SCHEMA.names))
    writer("duplicates", DUPLICATE_SCHEMA).write(dup)
    add(stats["duplicates"].setdefault(label, {}), dup.num_rows, text_bytes(dup))
    return table.filter(pc.invert(mask))
