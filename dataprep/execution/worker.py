"""Initializer of the executor's worker processes, in a module that imports nothing heavy: it must run before
polars and pyarrow load in the worker, so that each of N workers uses one thread instead of N."""

import os


def init() -> None:
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    import pyarrow

    pyarrow.set_cpu_count(1)
    pyarrow.set_io_thread_count(1)


def ready() -> bool:
    """A no-op the executor submits once per worker: its completion says a worker has started."""
    return True
