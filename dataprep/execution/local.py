"""Running a stage's tasks on this machine: ``workers`` processes in all, this one included.

With one worker, tasks run in order in this process: a range of a split file learns its first line number from
the ranges before it, and each task's commit (fsync, rename, marker) overlaps the next task in a background
thread. With N workers this process takes tasks too, beside N - 1 spawned ones, each of which gets a task only
once it has started, one at a time.

A spawned worker that dies (killed, out of memory, a crash in native code) breaks the pool: the task it ran,
and any the pool held, fail the run with one message naming the task (a :class:`DataprepError`); every task
finished before is kept, so the same command resumes. A task that could not be handed to a broken pool goes
back to the queue, never lost.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from dataprep.errors import DataprepError
from dataprep.execution import worker
from dataprep.execution.plan import Stage, Task
from dataprep.execution.task import run_task
from dataprep.recipe import Recipe
from dataprep.step import GlobalStep


class Committer:
    """Runs the commits of tasks (:func:`run_task`'s ``defer``) one at a time, in order, in a background thread,
    so that a sequential run starts reading the next task while the last one's shards are flushed to disk.
    :meth:`check` raises a failed commit's error; leaving the ``with`` block waits for every commit."""

    def __init__(self) -> None:
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
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.workers - 1, mp_context=get_context("spawn"),
                                            initializer=worker.init)
            self._ready = [self.pool.submit(worker.ready) for _ in range(self.workers - 1)]
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
                try:
                    fut = pool.submit(run_task, recipe, stage, task, out)
                except (BrokenProcessPool, RuntimeError):  # a worker died (or the pool shut down): not lost
                    queue.appendleft(task)
                    return
                futures[fut] = task
            fut.add_done_callback(feed)

        def finished() -> list[Any]:
            with lock:
                return [f for f in futures if f.done()]

        def collect(fut: Any) -> tuple[Task, dict[str, Any]]:
            with lock:
                task = futures.pop(fut)
            try:
                return task, fut.result()
            except BrokenProcessPool as exc:
                self.pool = None  # broken: a later stage would start a new one
                pool.shutdown(wait=False, cancel_futures=True)
                raise DataprepError(f"a worker process died while running task {task.tag} ({task.rel}"
                                    f"{'' if len(task.units) == 1 else f' and {len(task.units) - 1} more files'})"
                                    f": {exc}. Tasks finished so far are kept: run the same command again to "
                                    f"resume") from exc

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
                        rest = list(futures)
                    if task is not None:
                        committer.check()
                        yield task, run_task(recipe, stage, task, out, defer=committer.submit)
                        for fut in finished():
                            yield collect(fut)
                    elif not rest:  # nothing queued, nothing running: every task has been yielded
                        break
                    else:  # a completing task may hand its queue slot back (a broken pool): look again
                        for fut in wait(rest, return_when=FIRST_COMPLETED).done:
                            yield collect(fut)
        finally:
            pa.set_cpu_count(threads)
            with lock:
                stopped = True
                for fut in futures:
                    fut.cancel()

    def fit(self, step: GlobalStep, files: list[tuple[int, Path]], ord_shift: int, workdir: Path
            ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """Decide in this process (out of core where the step's fit spills)."""
        return step.fit_files(files, ord_shift, workdir)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
