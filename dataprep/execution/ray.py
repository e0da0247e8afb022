"""Running a recipe on Ray: ``dataprep run RECIPE --executor ray [--address ADDR]``.

The same recipe, the same step objects and the same task function as the local executor: each stage's tasks
go through Ray Data (``map_batches`` over the stage's task list, one task per batch), every task reads its
input, runs the stage's steps on Arrow/polars batches and publishes its shards and marker exactly as it does
locally; global steps decide on the driver between stages (MinHash from spilled, partitioned key files). So
the output, ``stats.json`` included, is the same as a local run's. The output folder must be on storage that
every Ray node sees (NFS, a mounted bucket); on one machine any folder works.

``minhash_dedup`` decides on Ray too (:mod:`dataprep.dedup.minhash.ray`): band grouping through Ray's hash
shuffle, verification as joins, and connected components on the driver only while the verified edges number
at most ``driver_edges`` (20 M), as distributed label propagation above that. Exact and paragraph dedup
decide on the driver from their (small) key columns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from dataprep.errors import DataprepError
from dataprep.execution.plan import Stage, Task
from dataprep.execution.task import run_task
from dataprep.recipe import Recipe
from dataprep.step import GlobalStep


def _run_batch(batch: pa.Table, recipe: Recipe, stage: Stage, out: str, tasks: dict[int, Task]) -> pa.Table:
    """Ray Data batch function: run the tasks named in ``batch`` (column ``task``) and return their counters."""
    indices = batch.column("task").to_pylist()
    stats = [json.dumps(run_task(recipe, stage, tasks[i], Path(out))) for i in indices]
    return pa.table({"task": pa.array(indices, pa.int64()), "stats": pa.array(stats, pa.string())})


class RayRunner:
    """Runs a stage's tasks as Ray Data ``map_batches`` over the task list."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 driver_edges: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise DataprepError("the Ray executor needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')"
                                ) from exc
        self.ray = ray
        self.started = False
        self.driver_edges = driver_edges
        if not ray.is_initialized():
            env = {"env_vars": {"POLARS_MAX_THREADS": "1", "RAYON_NUM_THREADS": "1"}}
            if address:
                ray.init(address=address, runtime_env=env, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count(), runtime_env=env, include_dashboard=False,
                         log_to_driver=False)
            self.started = True
        ray.data.DataContext.get_current().enable_progress_bars = False

    @property
    def sequential(self) -> bool:
        return False

    def map(self, recipe: Recipe, stage: Stage, pending: list[Task], out: Path,
            prepare: Callable[[Task], Task] | None = None) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Run ``pending`` as Ray Data tasks (never sequential: ``prepare`` is not needed)."""
        if not pending:
            return
        by_index = {t.index: t for t in pending}
        ds = self.ray.data.from_items([{"task": t.index} for t in pending], override_num_blocks=len(pending))
        results = ds.map_batches(_run_batch, batch_size=1, batch_format="pyarrow",
                                 fn_kwargs={"recipe": recipe, "stage": stage, "out": str(out), "tasks": by_index}
                                 ).take_all()
        for row in sorted(results, key=lambda r: r["task"]):
            yield by_index[row["task"]], json.loads(row["stats"])

    def fit(self, step: GlobalStep, files: list[tuple[int, Path]], ord_shift: int, workdir: Path
            ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """Decide on Ray where the step distributes its fit (MinHash), on the driver otherwise."""
        return step.fit_ray(files, ord_shift, workdir, self.driver_edges)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
