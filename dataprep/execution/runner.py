"""The Runner protocol: what the run asks of whatever executes a stage's tasks (this machine's processes, or
Ray), so that the run never probes a runner for optional attributes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from dataprep.execution.plan import Stage, Task
from dataprep.recipe import Recipe
from dataprep.step import GlobalStep


class Runner(Protocol):
    #: recorded in ``OUT/runs.jsonl``
    name: str

    @property
    def sequential(self) -> bool:
        """Whether tasks run one at a time in order (a split file's ranges then learn their first line from
        the range before them, which saves a counting pass)."""
        ...

    def map(self, recipe: Recipe, stage: Stage, pending: list[Task], out: Path,
            prepare: Callable[[Task], Task] | None = None) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Run ``pending`` tasks of ``stage`` (each with :func:`dataprep.execution.task.run_task`), yielding each
        with its counters as it ends. ``prepare`` (sequential runners) completes a task just before it runs."""
        ...

    def fit(self, step: GlobalStep, files: list[tuple[int, Path]], ord_shift: int, workdir: Path
            ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """A global step's decisions over the key files of every task (see :class:`dataprep.step.GlobalStep`)."""
        ...

    def close(self) -> None:
        """Release workers (a pool, a Ray instance this runner started)."""
        ...
