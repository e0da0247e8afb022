"""The plan of a run: which tasks (a batch of small input files of one source, one file, or a line-aligned byte
range of a large one) and which stages (a recipe's steps cut at each global step), and where a task's
intermediate files and markers live.

Small uncompressed files are batched so that a corpus of many small files costs per task (a process round trip, a
few shards, fsyncs and a marker), not per file: consecutive files of one source go into one task up to
``executor.split_bytes`` in all or :data:`BATCH_FILES` files (a compressed file stays a task of its own). The
batches depend only on the files' order and sizes and on ``split_bytes`` (all in the recipe's fingerprint), never
on the number of workers, so the output is the same whatever runs it; ids and line numbers are each file's own, as
before.

A recipe's steps are cut into *stages* at each global step (deduplication). Stage 0 reads the input files;
every stage runs its local steps on each task's documents. A global step's keys are computed at the end of the
stage before it, decided on once over every task's keys in corpus order, and the next stage applies the decisions.
A row's corpus position is ``task << ORD_SHIFT | row``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dataprep.io.readers import detect_format, line_aligned_ranges, split_compression
from dataprep.io.readers.files import Stamp, input_stamp
from dataprep.io.readers.safety import unit_problem
from dataprep.recipe import Recipe, SourceConfig, StepConfig

ORD_SHIFT = 40  # _ord = task << 40 | row: up to 2^40 rows per file and 2^23 files
WORK = "_work"
FOLDERS = ("kept", "rejected", "duplicates", "quarantine")
#: most files one task batches: enough that a task's fixed cost (about 30 ms: a process round trip, fsyncs,
#: renames and a marker, measured in docs/) is small beside its files' reading (0.1-1 ms each), few enough that a
#: corpus of tiny files still makes a task for every worker of a large machine (100,000 files: 98 tasks)
BATCH_FILES = 1024


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
    #: every file of a task that batches several small files of its source, in corpus order (``path`` and
    #: ``rel`` are the first's); empty for a task of one file or range
    batch: tuple[tuple[Path, str], ...] = ()
    #: the :data:`Stamp` of each of :attr:`units` when the run was planned
    stamps: tuple[Stamp, ...] = ()

    @property
    def tag(self) -> str:
        return f"{self.source}-{self.index:05d}"

    @property
    def units(self) -> tuple[tuple[Path, str], ...]:
        """The task's input units ``(path, name in its source)``, in corpus order."""
        return self.batch or ((self.path, self.rel),)


@dataclass
class Stage:
    index: int
    apply_global: StepConfig | None  # the global step whose decisions this stage applies first
    local: list[StepConfig]
    keys_for: StepConfig | None  # the global step whose keys this stage computes at its end


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
    """The run's tasks in corpus order. An uncompressed JSONL file larger than ``executor.split_bytes`` becomes
    several tasks over line-aligned byte ranges (so one large file uses every worker); smaller files are batched
    (see the module's docstring). Corpus order and document ids are those of the files: ranges keep their file's
    line numbers. Without ``count_lines`` the ranges' first line numbers are left to the run, which learns them
    reading the ranges in order (one pass over the file fewer). Each input is stat'ed once, here: its size
    places it, and its stamp lets a resumed run see that it changed."""
    tasks: list[Task] = []
    for si, src in enumerate(recipe.sources):
        _add_source_tasks(tasks, si, src, recipe.executor.split_bytes, count_lines)
    return tasks


def _add_source_tasks(tasks: list[Task], si: int, src: SourceConfig, split_bytes: int, count_lines: bool) -> None:
    batch: list[tuple[Path, str]] = []
    stamps: list[Stamp] = []
    batch_bytes = 0

    def flush() -> None:
        nonlocal batch_bytes
        if batch:
            (path, rel), more = batch[0], tuple(batch) if len(batch) > 1 else ()
            tasks.append(Task(len(tasks), si, src.name, path, rel, batch=more, stamps=tuple(stamps)))
        batch.clear()
        stamps.clear()
        batch_bytes = 0

    for path, rel in src.files:
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        stamp = input_stamp(path, st) if st is not None else None
        size = stamp[0] if stamp is not None else 0
        if size > split_bytes > 0 and (src.format or detect_format(path)) == "jsonl" \
                and split_compression(path)[1] is None and unit_problem(path, rel) is None:
            # a unit that must not be read (a link leaving its source) is not even opened to be split: its one
            # task quarantines it; nor is one that changes while it is cut (its reader reports what it finds)
            try:
                ranges = line_aligned_ranges(path, split_bytes, count=count_lines)
            except OSError:
                ranges = None
            if ranges and len(ranges) > 1:
                flush()
                for start, end, first in ranges:
                    tasks.append(Task(len(tasks), si, src.name, path, rel, (start, end), first, stamps=(stamp,)))
                continue
        if split_compression(path)[1] is not None:
            # a compressed file is a task of its own, as it always was: compressed inputs are normally shards
            # whose decompression outweighs a task's fixed cost (and its size on disk says little of its text)
            flush()
            tasks.append(Task(len(tasks), si, src.name, path, rel, stamps=(stamp,)))
            continue
        if batch and (batch_bytes + size > split_bytes or len(batch) >= BATCH_FILES):
            flush()
        batch.append((path, rel))
        stamps.append(stamp)
        batch_bytes += size
    flush()


def intermediate(work: Path, stage_index: int, task: Task) -> Path:
    """The one shard a task passes from stage ``stage_index`` to the next (a ShardWriter name)."""
    return work / f"s{stage_index}" / f"{task.index:05d}-0000.arrow"


def marker(work: Path, stage_index: int, task: Task) -> Path:
    """The JSON file whose presence says the task finished the stage (its counters)."""
    return work / f"s{stage_index}" / f"{task.index:05d}.json"


def shard_prefix(task: Task, stage_index: int) -> str:
    """The name every output shard of ``task`` at stage ``stage_index`` starts with (then ``-NNNN.ext``)."""
    return f"{task.tag}-s{stage_index}"


def decisions_path(work: Path, stage_index: int) -> Path:
    """The decisions of the global step whose keys stage ``stage_index`` computed."""
    return work / f"g{stage_index}.arrow"
