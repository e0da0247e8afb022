"""The plan of a run: which tasks (an input file, or a line-aligned byte range of a large one) and which stages
(a recipe's steps cut at each global step), and where a task's intermediate files and markers live.

A recipe's steps are cut into *stages* at each global step (deduplication). Stage 0 reads the input files;
every stage runs its local steps on each task's documents. A global step's keys are computed at the end of the
stage before it, decided on once over every task's keys in corpus order, and the next stage applies the
decisions. A row's corpus position is ``task << ORD_SHIFT | row``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dataprep.io.readers import detect_format, line_aligned_ranges, split_compression
from dataprep.io.readers.safety import unit_problem
from dataprep.recipe import Recipe, StepConfig

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
    the ranges' first line numbers are left to the run, which learns them reading the ranges in order (one
    pass over the file fewer)."""
    tasks = []
    split_bytes = recipe.executor.split_bytes
    for si, src in enumerate(recipe.sources):
        for path, rel in src.files:
            fmt = src.format or detect_format(path)
            ranges = None
            # a unit that must not be read (a link leaving its source) is not even opened to be split: its one
            # task quarantines it
            if (fmt == "jsonl" and split_compression(path)[1] is None and split_bytes > 0
                    and unit_problem(path, rel) is None):
                ranges = line_aligned_ranges(path, split_bytes, count=count_lines)
            if not ranges or len(ranges) == 1:
                tasks.append(Task(len(tasks), si, src.name, path, rel))
                continue
            for start, end, first in ranges:
                tasks.append(Task(len(tasks), si, src.name, path, rel, (start, end), first))
    return tasks


def intermediate(work: Path, stage_index: int, task: Task) -> Path:
    """The one shard a task passes from stage ``stage_index`` to the next (a ShardWriter name)."""
    return work / f"s{stage_index}" / f"{task.index:05d}-0000.arrow"


def marker(work: Path, stage_index: int, task: Task) -> Path:
    """The JSON file whose presence says the task finished the stage (its counters)."""
    return work / f"s{stage_index}" / f"{task.index:05d}.json"


def decisions_path(work: Path, stage_index: int) -> Path:
    """The decisions of the global step whose keys stage ``stage_index`` computed."""
    return work / f"g{stage_index}.arrow"
