"""Out-of-core key partitions for the hash-keyed global steps (exact and line/paragraph dedup): memory bounded
by ``memory_mb``, not by corpus size.

A fit reads the key columns of every task's intermediate Arrow file one record batch at a time (memory-mapped,
only the key columns are touched, one file mapped at a time), spills them to Arrow files partitioned by the top
bits of a 64-bit hash, then decides partition by partition. Every copy of a key lands in the same partition,
and each partition is decided in corpus position order, so the decisions are those of an in-memory fit over all
keys, whatever the number of partitions (and so whatever ``memory_mb``) and whatever the number of workers that
wrote the files. MinHash's band keys are spilled the same way (:mod:`dataprep.dedup.minhash.cluster`).

A partition is decided with numpy sorts (:func:`first_of_runs`): about three times its size in working memory,
predictable, where a hash group-by's tables are not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

#: most partitions a fit opens at once (one spill file each; :class:`Spill` raises the open-file limit to fit)
MAX_PARTITIONS = 4096
#: default ``memory_mb`` of the exact and paragraph fits: the same bound as ``minhash_dedup``'s, which
#: ``benchmarks/dedup_scale.py`` runs, with the workers, under the 4 GB a 2-core machine gives a run (issue 18)
DEFAULT_MEMORY_MB = 1024.0
#: share of ``memory_mb`` one partition's rows may take: sorting it needs about three times its size more
PARTITION_SHARE = 0.2

Columns = dict[str, np.ndarray]


def partition_count(total_bytes: float, memory_mb: float) -> int:
    """Partitions (a power of two, at most :data:`MAX_PARTITIONS`) so that one partition's rows take at most
    :data:`PARTITION_SHARE` of ``memory_mb``: deciding a partition needs working space around its rows (sorted
    copies and an order), and the decisions kept so far need room too."""
    budget = max(memory_mb * (1 << 20) * PARTITION_SHARE, 1.0)
    return min(1 << max(0, math.ceil(math.log2(max(total_bytes / budget, 1.0)))), MAX_PARTITIONS)


def buffer_bytes(memory_mb: float) -> int:
    """Bytes of key rows gathered before they are split into partitions and written (a sixteenth of the
    budget, at least 1 MB, so that writes stay large whatever the partition count)."""
    return max(int(memory_mb * (1 << 20) / 16), 1 << 20)


def key_batches(files: list[tuple[int, Path]], ord_shift: int, columns: list[str]
                ) -> Iterator[pl.DataFrame]:
    """``columns`` of every task's key file, one record batch at a time in corpus order, with ``_ord`` (the
    row's corpus position ``task << ord_shift | row``); rows of sources the step is restricted away from
    (``_kskip``) are left out."""
    for task, path in files:
        with pa.memory_map(str(path)) as source:
            reader = ipc.open_file(source)
            skip = "_kskip" in reader.schema.names
            cols = [*columns, "_kskip"] if skip else columns
            row = 0
            for b in range(reader.num_record_batches):
                batch = reader.get_batch(b)
                n = batch.num_rows
                if n:
                    df = pl.from_arrow(pa.Table.from_batches([batch.select(cols)]), rechunk=False)
                    assert isinstance(df, pl.DataFrame)
                    df = df.with_columns(
                        (pl.int_range(row, row + n, dtype=pl.Int64) + (task << ord_shift)).alias("_ord"))
                    if skip:
                        df = df.filter(~pl.col("_kskip")).drop("_kskip")
                    yield df
                    del df
                row += n
                del batch


def count_rows(files: list[tuple[int, Path]], list_column: str | None = None) -> int:
    """Rows of every key file (or, with ``list_column``, the list elements in that column: the units a
    paragraph fit explodes), read from the files' metadata and list offsets only."""
    total = 0
    for _, path in files:
        with pa.memory_map(str(path)) as source:
            reader = ipc.open_file(source)
            for b in range(reader.num_record_batches):
                batch = reader.get_batch(b)
                if list_column is None:
                    total += batch.num_rows
                elif len(batch):
                    col = batch.column(list_column)
                    total += int(col.offsets[-1].as_py() - col.offsets[0].as_py()) + col.null_count
                del batch
    return total


class Spill:
    """Rows (named numpy columns) partitioned by the top bits of the ``uint64`` column ``key`` into Arrow files
    under ``tmp``, in the order they were written."""

    def __init__(self, tmp: Path, n_parts: int, key: str, flush_bytes: int) -> None:
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.bits = int(math.log2(n_parts))
        self.key = key
        self.flush_bytes = flush_bytes
        self._pending: list[Columns] = []
        self._pending_bytes = 0
        self._writers: dict[int, ipc.RecordBatchFileWriter] = {}
        self._rows: dict[int, int] = {}
        self._dtypes: dict[str, np.dtype] = {}
        _allow_open_files(n_parts + 256)

    def path(self, part: int) -> Path:
        return self.tmp / f"part-{part:05d}.arrow"

    def write(self, rows: Columns) -> None:
        n = len(rows[self.key])
        if not n:
            return
        self._pending.append(rows)
        self._pending_bytes += sum(a.nbytes for a in rows.values())
        if self._pending_bytes >= self.flush_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        names = list(self._pending[0])
        self._dtypes = {c: self._pending[0][c].dtype for c in names}
        cols = {c: np.concatenate([p[c] for p in self._pending]) for c in names}
        self._pending, self._pending_bytes = [], 0
        if self.bits:
            part = cols[self.key] >> np.uint64(64 - self.bits)
            order = np.argsort(part, kind="stable")  # rows of a partition stay in written order
            part = part[order]
            cols = {c: a[order] for c, a in cols.items()}
            del order
            bounds = np.flatnonzero(np.r_[True, part[1:] != part[:-1], True])
            parts = part[bounds[:-1]].astype(np.int64).tolist()
        else:
            bounds = np.array([0, len(cols[self.key])])
            parts = [0]
        for p, lo, hi in zip(parts, bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            batch = pa.record_batch([pa.array(cols[c][lo:hi]) for c in names], names=names)
            writer = self._writers.get(p)
            if writer is None:
                writer = self._writers[p] = ipc.new_file(str(self.path(p)), batch.schema)
            writer.write_batch(batch)
            self._rows[p] = self._rows.get(p, 0) + hi - lo

    def partitions(self) -> Iterator[tuple[int, Columns]]:
        """Close the spill and yield each non-empty partition's rows in partition order (its rows in the
        order they were written), deleting each file once read."""
        self._flush()
        for w in self._writers.values():
            w.close()
        for p in sorted(self._writers):
            yield p, _read_columns(self.path(p), self._rows[p], self._dtypes)
            self.path(p).unlink(missing_ok=True)
        self._writers = {}


def _read_columns(path: Path, rows: int, dtypes: dict[str, np.dtype]) -> Columns:
    """Every column of a spill file (``rows`` rows) as one numpy array each, filled batch by batch (read, not
    mapped: the file's pages are not resident next to the copy)."""
    out = {c: np.empty(rows, dtype=t) for c, t in dtypes.items()}
    with pa.OSFile(str(path)) as source:
        reader = ipc.open_file(source)
        at = 0
        for b in range(reader.num_record_batches):
            batch = reader.get_batch(b)
            n = batch.num_rows
            for c in out:
                out[c][at:at + n] = batch.column(c).to_numpy()
            at += n
            del batch
    assert at == rows, (path, at, rows)
    return out


def first_of_runs(keys: list[np.ndarray], order_keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sort rows by ``keys`` then ``order_keys`` (each list most significant first) and return ``(order,
    start)``: the sorting permutation, and for each sorted row whether it is the first of its run of equal
    ``keys`` (the earliest by ``order_keys``)."""
    order = np.lexsort([*reversed(order_keys), *reversed(keys)])
    n = len(order)
    start = np.ones(n, dtype=bool)
    for k in keys:
        ks = k[order]
        start[1:] &= ks[1:] == ks[:-1]
        del ks
    np.logical_not(start[1:], out=start[1:])
    return order, start


def _allow_open_files(n: int) -> None:
    """Raise this process's soft limit on open files to ``n`` where it is lower (up to the hard limit)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < n:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n if hard == resource.RLIM_INFINITY else min(n, hard), hard))
    except (ImportError, OSError, ValueError):  # not POSIX, or not allowed: the writers may still fit
        pass


def spill_keys(files: list[tuple[int, Path]], ord_shift: int, columns: list[str], key: str, n_parts: int,
               tmp: Path, flush_bytes: int, rows: Callable[[pl.DataFrame], Columns]) -> Spill:
    """Spill every key file's batches, turned by ``rows`` into the numpy columns to spill (``key`` among
    them), partitioned by ``key``."""
    spill = Spill(tmp, n_parts, key, flush_bytes)
    for batch in key_batches(files, ord_shift, columns):
        spill.write(rows(batch))
    return spill


def gather_ids(files: list[tuple[int, Path]], ord_shift: int, ords: np.ndarray) -> pl.DataFrame:
    """``_ord`` and ``id`` (as strings) of the rows at corpus positions ``ords``, one key file at a time."""
    ords = np.unique(np.asarray(ords, dtype=np.int64))
    tasks = ords >> ord_shift
    frames = []
    for task, path in files:
        lo, hi = np.searchsorted(tasks, [task, task + 1])
        if lo == hi:
            continue
        want = ords[lo:hi]
        with pa.memory_map(str(path)) as source:
            ids = ipc.open_file(source).read_all().column("id").take(pa.array(want - (task << ord_shift)))
        id_series = pl.from_arrow(ids)
        assert isinstance(id_series, pl.Series)
        frames.append(pl.DataFrame({"_ord": want, "id": id_series.cast(pl.String)}))
        del ids
    if not frames:
        return pl.DataFrame(schema={"_ord": pl.Int64, "id": pl.String})
    return pl.concat(frames, how="vertical")
