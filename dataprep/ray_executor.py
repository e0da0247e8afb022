"""Running a recipe on Ray: ``dataprep run RECIPE --executor ray [--address ADDR]``.

The same recipe, the same step objects and the same task function as the local executor: each stage's tasks
go through Ray Data (``map_batches`` over the stage's task list, one task per batch), every task reads its
input, runs the stage's steps on Arrow/polars batches and publishes its shards and marker exactly as it does
locally; global steps decide on the driver between stages (MinHash from spilled, partitioned key files). So
the output, ``stats.json`` included, is the same as a local run's. The output folder must be on storage that
every Ray node sees (NFS, a mounted bucket); on one machine any folder works.

``minhash_dedup`` decides on Ray too (:mod:`dataprep.dedup.minhash_ray`): band grouping through Ray's hash
shuffle, verification as joins, and connected components on the driver only while the verified edges number
at most ``driver_edges`` (20 M), as distributed label propagation above that. Exact and paragraph dedup
decide on the driver from their (small) key columns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from dataprep.errors import DataprepError


def _run_batch(batch: pa.Table, recipe: Any, stage: Any, out: str, tasks: dict[int, Any]) -> pa.Table:
    """Ray Data batch function: run the tasks named in ``batch`` (column ``task``) and return their counters."""
    from dataprep.executor import run_task

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

    def map(self, recipe: Any, stage: Any, pending: list[Any], out: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
        if not pending:
            return
        by_index = {t.index: t for t in pending}
        ds = self.ray.data.from_items([{"task": t.index} for t in pending], override_num_blocks=len(pending))
        results = ds.map_batches(_run_batch, batch_size=1, batch_format="pyarrow",
                                 fn_kwargs={"recipe": recipe, "stage": stage, "out": str(out), "tasks": by_index}
                                 ).take_all()
        for row in sorted(results, key=lambda r: r["task"]):
            yield by_index[row["task"]], json.loads(row["stats"])

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
