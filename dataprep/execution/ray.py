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
decide on the driver from their key files.

Plugins: a recipe's ``plugins:`` modules that live beside the recipe (``my_steps.py``, or a package folder
there) are not importable on a Ray worker, whose ``sys.path`` holds only the driver's script folder and
working directory, yet the tasks' step objects refer to them by module name. So the runner joins Ray lazily,
at the first stage, when it knows the recipe, and ships those files to every node as the job's
``runtime_env`` ``py_modules`` (:func:`plugin_paths`; Ray accepts local files there only at ``ray.init``).
When the caller started Ray itself, the job's environment is theirs: each task then appends the recipe's
folder to ``sys.path`` before it unpickles the recipe, which works where the nodes see that folder (shared
storage, as the output needs). A plugin installed as a package must be installed on every node, as dataprep.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
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

#: each Ray worker runs polars and Arrow on one thread: Ray's CPU count is the parallelism
THREADS = {"POLARS_MAX_THREADS": "1", "RAYON_NUM_THREADS": "1"}


def plugin_paths(recipe: Recipe) -> list[str]:
    """The files or package folders of ``recipe``'s plugin modules that lie in the recipe's folder (where
    :func:`dataprep.recipe.load_recipe` found them), for Ray's ``py_modules``. Plugins importable from anywhere
    else are left out: they are installed packages, to be installed on every node."""
    folder = recipe.path.resolve().parent
    paths = set()
    for name in recipe.plugins:
        spec = importlib.util.find_spec(name.split(".")[0])
        if spec is None:
            continue
        locations = list(spec.submodule_search_locations or [])
        where = Path(locations[0]) if locations else Path(spec.origin) if spec.origin else None
        if where is not None and where.resolve().parent == folder:
            paths.add(str(where.resolve()))
    return sorted(paths)


def _run_batch(batch: pa.Table, payload: bytes, plugin_dirs: list[str], out: str) -> pa.Table:
    """Ray Data batch function: run the tasks named in ``batch`` (column ``task``) and return their counters.
    ``payload`` pickles the recipe, the stage and the tasks by index; it is unpickled only once the folders in
    ``plugin_dirs`` (where the recipe's plugins are, when Ray does not ship them) are on ``sys.path``."""
    for folder in plugin_dirs:
        if folder not in sys.path and os.path.isdir(folder):
            sys.path.append(folder)
    recipe, stage, tasks = pickle.loads(payload)
    indices = batch.column("task").to_pylist()
    stats = [json.dumps(run_task(recipe, stage, tasks[i], Path(out))) for i in indices]
    return pa.table({"task": pa.array(indices, pa.int64()), "stats": pa.array(stats, pa.string())})


class RayRunner:
    """Runs a stage's tasks as Ray Data ``map_batches`` over the task list. Ray is joined (``address``) or
    started (``num_cpus``) at the first stage, with the recipe's plugins in the job's ``runtime_env``; an
    instance already initialized in this process is used as it is."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 driver_edges: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise DataprepError("the Ray executor needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')"
                                ) from exc
        self.ray = ray
        self.address = address
        self.num_cpus = num_cpus
        self.driver_edges = driver_edges
        self.started = False
        self.connected = False
        #: folders the tasks put on sys.path themselves: the recipe's, when Ray was started by someone else
        self.plugin_dirs: list[str] = []
        self.recipe: Recipe | None = None  # set by map: a resumed run may reach a fit before any task runs

    @property
    def sequential(self) -> bool:
        return False

    def connect(self, recipe: Recipe | None) -> None:
        """Join or start Ray (once), shipping ``recipe``'s plugins beside it to every node."""
        if self.connected:
            return
        ray = self.ray
        modules = plugin_paths(recipe) if recipe is not None else []
        if ray.is_initialized():
            self.plugin_dirs = [str(recipe.path.resolve().parent)] if modules and recipe is not None else []
        else:
            env: dict[str, Any] = {"env_vars": dict(THREADS)}
            if modules:
                env["py_modules"] = modules
            if self.address:
                ray.init(address=self.address, runtime_env=env, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus or os.cpu_count(), runtime_env=env, include_dashboard=False,
                         log_to_driver=False)
            self.started = True
        ray.data.DataContext.get_current().enable_progress_bars = False
        self.connected = True

    def map(self, recipe: Recipe, stage: Stage, pending: list[Task], out: Path,
            prepare: Callable[[Task], Task] | None = None) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Run ``pending`` as Ray Data tasks (never sequential: ``prepare`` is not needed)."""
        self.recipe = recipe
        if not pending:
            return
        self.connect(recipe)
        by_index = {t.index: t for t in pending}
        payload = pickle.dumps((recipe, stage, by_index), protocol=pickle.HIGHEST_PROTOCOL)
        ds = self.ray.data.from_items([{"task": t.index} for t in pending], override_num_blocks=len(pending))
        results = ds.map_batches(_run_batch, batch_size=1, batch_format="pyarrow",
                                 fn_kwargs={"payload": payload, "plugin_dirs": self.plugin_dirs, "out": str(out)}
                                 ).take_all()
        for row in sorted(results, key=lambda r: r["task"]):
            yield by_index[row["task"]], json.loads(row["stats"])

    def fit(self, step: GlobalStep, files: list[tuple[int, Path]], ord_shift: int, workdir: Path
            ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """Decide on Ray where the step distributes its fit (MinHash), on the driver otherwise."""
        self.connect(self.recipe)
        return step.fit_ray(files, ord_shift, workdir, self.driver_edges)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
