"""The local executor: worker processes over input files, global steps as barriers, resumable and exact.

A recipe's steps are cut into *stages* at each global step (deduplication). Stage 0 reads the input files;
every stage runs its local steps on each file's documents as one *task* in a worker process. A global step
computes per-row keys at the end of the stage before it, decides once over all keys in corpus order, and the
next stage drops the rows it decided on. Each task publishes its outputs by atomic rename and then a small
JSON marker with its counters; a rerun skips every task that has its marker, so an interrupted run (even by
SIGKILL) finishes with output byte-identical to an uninterrupted run's, whatever the number of workers.

Layout of ``OUT``: ``kept/``, ``rejected/``, ``duplicates/``, ``quarantine/`` (shards), ``stats.json``,
``report.html`` (the run for people: funnel, reasons, languages, score histograms, clusters, samples),
``manifest.json`` (written last: the run is complete), ``runs.jsonl`` (timings of each invocation) and,
while a run is unfinished, ``_work/`` (intermediate shards and markers); ``.trash/`` while ``--overwrite``
deletes the output it replaces.

With one worker, tasks run in order in this process: a range of a split file learns its first line number
from the ranges before it, and each task's commit (fsync, rename, marker) overlaps the next task. With N
workers this process takes tasks too, beside N - 1 spawned ones.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from dataprep import _worker
from dataprep.errors import DataprepError
from dataprep.io.files import count_range_newlines, detect_format, line_aligned_ranges, split_compression
from dataprep.io.readers import Chunk, ReadOptions, read_file
from dataprep.io.writers import (
    TRASH,
    BackgroundWriter,
    Discard,
    ShardWriter,
    atomic_write_bytes,
    atomic_write_json,
    read_table,
    remove_temp_files,
    write_arrow_file,
)
from dataprep.progress import Progress
from dataprep.recipe import Recipe, StepConfig
from dataprep.report import write_report
from dataprep.schema import (
    DOC_SCHEMA,
    DUPLICATE_SCHEMA,
    QUARANTINE_SCHEMA,
    REJECTED_SCHEMA,
    normalize_table,
    text_bytes,
)
from dataprep.stats import add, build_stats, check_balance, merge_stage, new_task_stats

ORD_SHIFT = 40  # _ord = task << 40 | row: up to 2^40 rows per file and 2^23 files
WORK = "_work"
FOLDERS = ("kept", "rejected", "duplicates", "quarantine")


@dataclass(frozen=True)
class Task:
    index: int
    source_index: int
    source: str
    path: Path
    rel: str
    byte_range: tuple[int, int] | None = None  # a line-aligned part of a large uncompressed JSONL file
    #: line number of the range's first line; None until the ranges before it are read (a sequential run)
    first_line: int | None = 1

    @property
    def tag(self) -> str:
        return f"{self.source}-{self.index:05d}"


@dataclass
class Stage:
    index: int
    apply_global: StepConfig | None  # the global step whose decisions this stage applies first
    local: list[StepConfig]
    keys_for: StepConfig | None  # the global step whose keys this stage computes at its end


@dataclass
class RunResult:
    stats: dict[str, Any]
    seconds: float
    skipped: bool
    output: Path


def plan_stages(steps: list[StepConfig]) -> list[Stage]:
    """Cut the step list at each global step."""
    stages: list[Stage] = []
    current: list[StepConfig] = []
    applying: StepConfig | None = None
    for cfg in steps:
        if cfg.step.is_global:
            stages.append(Stage(len(stages), applying, current, cfg))
            applying, current = cfg, []
        else:
            current.append(cfg)
    stages.append(Stage(len(stages), applying, current, None))
    return stages


def list_tasks(recipe: Recipe, count_lines: bool = True) -> list[Task]:
    """One task per input file, except that an uncompressed JSONL file larger than ``executor.split_bytes``
    becomes several tasks over line-aligned byte ranges (so one large file uses every worker). Corpus order and
    document ids are those of the whole file: ranges keep their file's line numbers. Without ``count_lines``
    the ranges' first line numbers are left to :func:`_run_stage`, which learns them reading the ranges in
    order (one pass over the file fewer)."""
    tasks = []
    for si, src in enumerate(recipe.sources):
        for path, rel in src.files:
            fmt = src.format or detect_format(path)
            ranges = None
            if fmt == "jsonl" and split_compression(path)[1] is None and recipe.split_bytes > 0:
                ranges = line_aligned_ranges(path, recipe.split_bytes, count=count_lines)
            if not ranges or len(ranges) == 1:
                tasks.append(Task(len(tasks), si, src.name, path, rel))
                continue
            for start, end, first in ranges:
                tasks.append(Task(len(tasks), si, src.name, path, rel, (start, end), first))
    return tasks


# ------------------------------------------------------------------------------------------------------------
# one task of one stage (runs in a worker process)


def _stage_input(recipe: Recipe, stage: Stage, task: Task, work: Path) -> Iterator[Chunk]:
    if stage.index == 0:
        src = recipe.sources[task.source_index]
        opts = ReadOptions(source=src.name, format=src.format, text_field=src.text_field,
                           id_field=src.id_field, text_unit=src.text_unit, byte_range=task.byte_range,
                           first_line=task.first_line, options=tuple(sorted(src.options.items())))
        yield from read_file(task.path, task.rel, opts)
        return
    path = _intermediate(work, stage.index - 1, task)
    if not path.exists():
        return
    reader = pa.ipc.open_file(pa.memory_map(str(path)))
    for i in range(reader.num_record_batches):
        yield Chunk(pa.Table.from_batches([reader.get_batch(i)]), QUARANTINE_SCHEMA.empty_table())


def _intermediate(work: Path, stage_index: int, task: Task) -> Path:
    """The one shard a task passes from stage ``stage_index`` to the next (a ShardWriter name)."""
    return work / f"s{stage_index}" / f"{task.index:05d}-0000.arrow"


def _decisions_for(work: Path, stage: Stage, task: Task) -> pa.Table | None:
    if stage.apply_global is None:
        return None
    table = read_table(work / f"g{stage.index - 1}.arrow")
    ords = table.column("_ord").to_numpy()
    lo = np.searchsorted(ords, task.index << ORD_SHIFT)
    hi = np.searchsorted(ords, (task.index + 1) << ORD_SHIFT)
    return table.slice(lo, hi - lo)


def run_task(recipe: Recipe, stage: Stage, task: Task, out: Path,
             defer: Callable[[Callable[[], None]], None] | None = None) -> dict[str, Any]:
    """Run one stage of one input file; publish its shards, then its marker. Returns its counters. With
    ``defer`` the publishing is handed to it (a :class:`Committer`) instead of done before returning."""
    work = out / WORK
    marker = work / f"s{stage.index}" / f"{task.index:05d}.json"
    stats = new_task_stats(task.source)
    fmt, shard = recipe.output.format, recipe.output.shard_bytes
    final = stage.keys_for is None
    decisions = _decisions_for(work, stage, task)
    row = 0  # position of the next row among this stage's input rows of this task
    writers: dict[str, ShardWriter] = {}

    def writer(kind: str, schema: pa.Schema | None) -> ShardWriter:
        if kind not in writers:
            if kind == "next":
                w = ShardWriter(work / f"s{stage.index}", f"{task.index:05d}", schema, "arrow", max_bytes=1 << 62)
            else:
                w = ShardWriter(out / kind, f"{task.tag}-s{stage.index}", schema, fmt, shard)
            # the bulk of the output is written while the next batch is read and processed
            writers[kind] = BackgroundWriter(w) if kind in ("kept", "next") else w
        return writers[kind]

    def abort() -> None:
        for w in writers.values():
            w.abort()

    try:
        for chunk in _stage_input(recipe, stage, task, work):
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
                table = _read_checks(table, recipe.max_doc_bytes, stats, writer)
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
        atomic_write_json(marker, stats)

    if defer is None:
        commit()
    else:
        defer(commit)
    return stats


class Committer:
    """Runs the commits of tasks (:func:`run_task`'s ``defer``) one at a time, in order, in a background thread,
    so that a sequential run starts reading the next task while the last one's shards are flushed to disk.
    :meth:`check` raises a failed commit's error; leaving the ``with`` block waits for every commit."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        self._futures: list[Any] = []

    def submit(self, commit: Callable[[], None]) -> None:
        self._futures.append(self._pool.submit(commit))

    def check(self) -> None:
        for fut in self._futures:
            if fut.done():
                fut.result()
        self._futures = [f for f in self._futures if not f.done()]

    def __enter__(self) -> Committer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for fut in self._futures:
                fut.result()
        finally:
            self._pool.shutdown(wait=True)


def _stage_keys(cfg: StepConfig, df: pl.DataFrame) -> pl.DataFrame:
    """A global step's key columns for one batch. For a step restricted by ``sources:`` the keys of the other
    rows are zeros and ``_kskip`` is true: :func:`fit_global` (and ``fit_files``) leave those rows out."""
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


def _read_checks(table: pa.Table, max_doc_bytes: int, stats: dict, writer: Callable) -> pa.Table:
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


def _record_rejected(rejected: pl.DataFrame, step: str, stats: dict, writer: Callable) -> None:
    table = normalize_table(rejected.select(REJECTED_SCHEMA.names).to_arrow())
    writer("rejected", REJECTED_SCHEMA).write(table)
    counts = rejected.group_by("reason").agg(pl.len().alias("n"), pl.col("text").str.len_bytes().sum().alias("b"))
    for reason, n, b in counts.sort("reason").iter_rows():
        add(stats["rejected"].setdefault(step, {}).setdefault(reason, {}), n, b or 0)


#: a working column that carries a row's position through a step restricted to some sources (a name without a
#: leading underscore, which steps drop as private)
ROW_COL = "dataprep_row__"


def _selected(cfg: StepConfig, df: pl.DataFrame) -> pl.Series | None:
    """Rows a step restricted by ``sources:`` applies to; None when it applies to every row."""
    if cfg.sources is None:
        return None
    return df.get_column("source").is_in(cfg.sources)


def _run_local(cfg: StepConfig, df: pl.DataFrame, stats: dict, writer: Callable) -> pl.DataFrame:
    sel = _selected(cfg, df)
    if sel is not None and not sel.all():
        if not sel.any():
            return df
        indexed = df.with_row_index(ROW_COL)
        kept = _run_local_all(cfg, indexed.filter(sel), stats, writer)
        merged = pl.concat([indexed.filter(~sel), kept], how="diagonal_relaxed").sort(ROW_COL)
        return merged.drop(ROW_COL)
    return _run_local_all(cfg, df, stats, writer)


def _run_local_all(cfg: StepConfig, df: pl.DataFrame, stats: dict, writer: Callable) -> pl.DataFrame:
    kept, rejected, counters = cfg.step.run_polars(df)
    if counters:
        into = stats["counters"].setdefault(cfg.label, {})
        for key, n in counters.items():
            into[key] = into.get(key, 0) + int(n)
    if rejected.height:
        _record_rejected(rejected.with_columns(pl.lit(cfg.label).alias("step")), cfg.label, stats, writer)
    return kept


def _apply_decisions(table: pa.Table, ords: np.ndarray, decisions: pa.Table | None, cfg: StepConfig,
                     stats: dict, writer: Callable) -> pa.Table:
    """Apply a global step's decisions to rows by their corpus position ``ords``: drop rows into
    ``duplicates`` (dedup), or edit their text (``remove`` decisions of an edit step such as paragraph dedup;
    a document left empty is rejected)."""
    label = cfg.label
    table = table.drop_columns([c for c in table.column_names if c.startswith("_k")])
    if decisions is None or decisions.num_rows == 0:
        return table
    drop_ords = decisions.column("_ord").to_numpy()
    idx = np.minimum(np.searchsorted(drop_ords, ords), len(drop_ords) - 1)
    hit = drop_ords[idx] == ords
    if not hit.any():
        return table
    if "remove" in decisions.column_names:
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


# ------------------------------------------------------------------------------------------------------------
# global steps (run in the main process between stages)


#: statistics a global step may return that describe the execution, not the data: left out of stats.json, so
#: that it is the same whatever the executor
EXECUTION_STATS = ("partitions",)


def fit_global(recipe: Recipe, stage: Stage, tasks: list[Task], out: Path, runner: Any = None) -> dict[str, Any]:
    """Read the keys every task wrote at the end of ``stage`` and decide which rows the global step drops.
    On Ray, a step with ``fit_ray`` (MinHash) decides there (grouping, verification and components distributed)."""
    work = out / WORK
    decision_path = work / f"g{stage.index}.arrow"
    stats_path = work / f"g{stage.index}.json"
    if decision_path.exists() and stats_path.exists():
        return json.loads(stats_path.read_text())
    step = stage.keys_for.step
    files = [(t.index, _intermediate(work, stage.index, t)) for t in tasks]
    files = [(i, p) for i, p in files if p.exists()]
    if getattr(runner, "name", "") == "ray" and hasattr(step, "fit_ray"):
        drop, gstats = step.fit_ray(files, ORD_SHIFT, getattr(runner, "driver_edges", None))
    elif hasattr(step, "fit_files"):  # the step reads the key files itself, out of core
        drop, gstats = step.fit_files(files, ORD_SHIFT, work / f"g{stage.index}.tmp")
        shutil.rmtree(work / f"g{stage.index}.tmp", ignore_errors=True)
    else:
        drop, gstats = _fit_in_memory(step, work, stage, tasks)
    payload = pl.col("remove") if getattr(step, "edits", False) else pl.col("duplicate_of").cast(pl.String)
    drop = drop.select(pl.col("_ord").cast(pl.Int64), payload).sort("_ord")
    write_arrow_file(decision_path, normalize_table(drop.to_arrow()))
    gstats = {k: v for k, v in gstats.items() if k not in EXECUTION_STATS}
    atomic_write_json(stats_path, gstats)
    return gstats


def _fit_in_memory(step: Any, work: Path, stage: Stage, tasks: list[Task]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Concatenate every task's key columns (with corpus positions) and let the step decide."""
    frames = []
    for task in tasks:
        path = _intermediate(work, stage.index, task)
        if not path.exists():
            continue
        table = read_table(path)
        key_cols = ["id"] + [c for c in table.column_names if c.startswith("_k")]
        df = pl.from_arrow(table.select(key_cols))
        df = df.with_columns((pl.int_range(0, df.height, dtype=pl.Int64) + (task.index << ORD_SHIFT)).alias("_ord"))
        if "_kskip" in df.columns:  # rows of sources the step is not restricted to
            df = df.filter(~pl.col("_kskip")).drop("_kskip")
        frames.append(df)
    if frames:
        return step.fit(pl.concat(frames, how="vertical"))
    payload = ("remove", pl.List(pl.UInt32)) if getattr(step, "edits", False) else ("duplicate_of", pl.String)
    return pl.DataFrame(schema={"_ord": pl.Int64, payload[0]: payload[1]}), {}


# ------------------------------------------------------------------------------------------------------------
# the run


def _prepare_output(recipe: Recipe, out: Path, overwrite: bool) -> tuple[bool, Discard | None]:
    """Check ``out`` against this recipe. Returns whether the run is already complete, and the deletion of a
    replaced output (``--overwrite``), which goes on in the background while the run works."""
    fp = recipe.fingerprint()
    manifest = out / "manifest.json"
    work_fp = out / WORK / "fingerprint"
    discard = None
    if out.exists() and (overwrite or (out / TRASH).exists()):
        # the recipe's tokenizer/pack/train sections write the last three
        names = [*FOLDERS, WORK, "tokenizer", "packed", "train", "stats.json", "manifest.json"] if overwrite else []
        discard = Discard(out, names)
    if manifest.exists():
        done = json.loads(manifest.read_text())
        if done.get("fingerprint") == fp:
            return True, discard
        raise DataprepError(f"{out} holds the output of a different recipe or input "
                            f"(fingerprint {done.get('fingerprint')} != {fp}); pass --overwrite to replace it")
    if work_fp.exists():
        if work_fp.read_text().strip() != fp:
            raise DataprepError(f"{out} holds an unfinished run of a different recipe or input; "
                                f"pass --overwrite to start over")
    elif out.exists() and any(out.iterdir()) and any((out / f).exists() for f in FOLDERS):
        raise DataprepError(f"{out} is not empty and holds no run of this recipe; pass --overwrite to replace it")
    (out / WORK).mkdir(parents=True, exist_ok=True)
    if not work_fp.exists():
        atomic_write_bytes(work_fp, fp.encode())
    remove_temp_files(out)
    return False, discard


class LocalRunner:
    """Runs a stage's tasks on this machine: ``workers`` processes in all, this one included (inline with one
    worker or one task). The main process takes tasks too, so work starts at once instead of after the
    spawned workers have imported their libraries (a third of a second each), and no core waits on it."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self._ready: list[Any] = []

    @property
    def sequential(self) -> bool:
        """Whether tasks run one at a time in order (then ranges learn their first line from the one before)."""
        return self.workers <= 1

    def map(self, recipe: Recipe, stage: Stage, pending: list[Task], out: Path,
            prepare: Callable[[Task], Task] | None = None) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Run ``pending``, yielding each task with its counters as it ends. ``prepare`` (sequential runs only)
        completes a task just before it runs, from the results yielded so far."""
        if self.workers <= 1 or len(pending) <= 1:
            with Committer() as committer:
                for t in pending:
                    committer.check()
                    t = prepare(t) if prepare is not None else t
                    yield t, run_task(recipe, stage, t, out, defer=committer.submit)
            return
        import threading
        from collections import deque

        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.workers - 1, mp_context=get_context("spawn"),
                                            initializer=_worker.init)
            self._ready = [self.pool.submit(_worker.ready) for _ in range(self.workers - 1)]
        pool = self.pool
        queue = deque(pending)
        futures: dict[Any, Task] = {}
        lock = threading.Lock()
        stopped = False

        def feed(_done: Any = None) -> None:
            """Hand the pool the next task; runs again as each of its tasks completes (pool thread)."""
            with lock:
                if stopped or not queue:
                    return
                task = queue.popleft()
                fut = pool.submit(run_task, recipe, stage, task, out)
                futures[fut] = task
            fut.add_done_callback(feed)

        def finished() -> list[Any]:
            with lock:
                return [f for f in futures if f.done()]

        def collect(fut: Any) -> tuple[Task, dict[str, Any]]:
            with lock:
                task = futures.pop(fut)
            return task, fut.result()

        threads = pa.cpu_count()
        pa.set_cpu_count(max(1, threads // self.workers))  # this process's share of the cores, as each worker's
        try:
            with Committer() as committer:
                # a worker gets its first task once it has started (until then this process takes them all),
                # then one at a time, the next as each completes: no task waits in a busy worker's queue
                for ready in self._ready:
                    ready.add_done_callback(feed)
                while True:
                    with lock:
                        task = queue.popleft() if queue else None
                    if task is None:
                        break
                    committer.check()
                    yield task, run_task(recipe, stage, task, out, defer=committer.submit)
                    for fut in finished():
                        yield collect(fut)
                with lock:  # the queue is empty: nothing more is submitted
                    rest = list(futures)
                for fut in as_completed(rest):
                    yield collect(fut)
        finally:
            pa.set_cpu_count(threads)
            with lock:
                stopped = True
                for fut in futures:
                    fut.cancel()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def run_recipe(recipe: Recipe, workers: int | None = None, overwrite: bool = False,
               quiet: bool = False, runner: Any = None) -> RunResult:
    """Run ``recipe``; resumes an interrupted run in the same output folder. ``runner`` runs each stage's
    tasks: this machine's processes by default (:class:`LocalRunner`), or Ray
    (:class:`dataprep.ray_executor.RayRunner`). Every runner calls the same :func:`run_task`, so the output
    is the same whichever runs it."""
    out = recipe.output.path
    start = time.monotonic()
    done, discard = _prepare_output(recipe, out, overwrite)
    try:
        if done:
            stats = json.loads((out / "stats.json").read_text())
            return RunResult(stats, 0.0, True, out)
        return _run(recipe, out, workers, quiet, runner, start)
    finally:
        if discard is not None:
            discard.wait()


def _run(recipe: Recipe, out: Path, workers: int | None, quiet: bool, runner: Any, start: float) -> RunResult:
    n_workers = workers if workers is not None else recipe.workers
    n_workers = n_workers or os.cpu_count() or 1
    runner = runner or LocalRunner(n_workers)
    tasks = list_tasks(recipe, count_lines=not getattr(runner, "sequential", False))
    stages = plan_stages(recipe.steps)
    work = out / WORK
    per_task: dict[int, dict[str, Any]] = {t.index: new_task_stats(t.source) for t in tasks}
    global_stats: dict[str, dict[str, Any]] = {}
    try:
        for stage in stages:
            if stage.apply_global is not None:
                prev = stages[stage.index - 1]
                global_stats[prev.keys_for.label] = fit_global(recipe, prev, tasks, out, runner)
            results = _run_stage(recipe, stage, tasks, out, len(stages), quiet, runner)
            for idx, st in results.items():
                merge_stage(per_task[idx], st)
    finally:
        runner.close()
    stats = build_stats([per_task[t.index] for t in tasks], [c.label for c in recipe.steps], global_stats)
    check_balance(stats)
    atomic_write_json(out / "stats.json", stats)
    write_report(out, stats, recipe.name, _step_summaries(recipe))
    atomic_write_json(out / "manifest.json", _manifest(recipe, out))
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - start
    with open(out / "runs.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"recipe": str(recipe.path), "executor": runner.name, "workers": n_workers,
                             "seconds": round(seconds, 3), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
                 + "\n")
    return RunResult(stats, seconds, False, out)


def _run_stage(recipe: Recipe, stage: Stage, tasks: list[Task], out: Path, n_stages: int, quiet: bool,
               runner: Any) -> dict[int, dict[str, Any]]:
    work = out / WORK
    results: dict[int, dict[str, Any]] = {}
    pending = []
    for t in tasks:
        marker = work / f"s{stage.index}" / f"{t.index:05d}.json"
        if marker.exists():
            results[t.index] = json.loads(marker.read_text())
        else:
            pending.append(t)
    label = f"stage {stage.index + 1}/{n_stages}" + (f" ({', '.join(c.label for c in stage.local)})"
                                                     if stage.local else "")
    progress = Progress(len(tasks), label, quiet)
    progress.done = len(results)
    if any(t.first_line is None for t in pending):  # a sequential runner: ranges learn their first lines
        stream = runner.map(recipe, stage, pending, out, prepare=lambda t: _with_first_line(t, tasks, results))
    else:
        stream = runner.map(recipe, stage, pending, out)
    for task, st in stream:
        results[task.index] = st
        progress.update(st.get("processed", 0))
    return results


def _with_first_line(task: Task, tasks: list[Task], results: dict[int, dict[str, Any]]) -> Task:
    """``task`` with its first line number, which the ranges before it (in ``results`` by then) give."""
    if task.first_line is None:
        task = replace(task, first_line=_first_line(task, tasks, results))
        tasks[task.index] = task
    return task


def _first_line(task: Task, tasks: list[Task], results: dict[int, dict[str, Any]]) -> int:
    """First line of a range: walk back to the nearest range with a known first line, then add the lines of
    the ranges in between (as their tasks counted them, or counted now for a task that has no count)."""
    chain = []
    k = task.index - 1
    while tasks[k].first_line is None:
        chain.append(tasks[k])
        k -= 1
    line = tasks[k].first_line
    for prev in [tasks[k], *reversed(chain)]:
        lines = results.get(prev.index, {}).get("lines")
        if lines is None:
            lines = count_range_newlines(prev.path, *prev.byte_range)
        line += lines
    return line


def rewrite_report(recipe: Recipe, out: Path) -> Path:
    """Write ``OUT/report.html`` again from ``stats.json`` (after the recipe's mixture, for its table)."""
    stats = json.loads((Path(out) / "stats.json").read_text())
    return write_report(Path(out), stats, recipe.name, _step_summaries(recipe))


def _step_summaries(recipe: Recipe) -> list[dict[str, Any]]:
    """The recipe's steps with their given parameters and their defaults (the report draws thresholds)."""
    out = []
    for cfg in recipe.steps:
        defaults = {p["name"]: p["default"] for p in type(cfg.step).params()}
        out.append({"type": cfg.type, "label": cfg.label, "params": dict(cfg.params), "defaults": defaults})
    return out


def _manifest(recipe: Recipe, out: Path) -> dict[str, Any]:
    files = {}
    for folder in FOLDERS:
        paths = sorted((out / folder).glob("*")) if (out / folder).exists() else []
        files[folder] = [{"name": p.name, "bytes": p.stat().st_size} for p in paths if not p.name.startswith(".")]
    return {
        "recipe": recipe.name,
        "fingerprint": recipe.fingerprint(),
        "format": recipe.output.format,
        "seed": recipe.seed,
        "sources": [s.name for s in recipe.sources],
        "steps": [c.label for c in recipe.steps],
        "files": files,
    }
