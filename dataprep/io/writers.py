"""Atomic, size-bounded shard writers for Arrow IPC (``.arrow``) and Parquet.

A shard is written under a temporary name in the same folder and renamed into place only when complete,
so a reader never sees half a shard and a crash leaves at most a ``.tmp-*`` file that the next run removes.
Shards roll over once they pass ``max_bytes``; names are ``{prefix}-{seq:04d}.{ext}`` and depend only on the
data, never on timing or worker count.

A write the machine refuses (a full disk, a quota, a folder that is not writable, a read-only file system)
deletes its temporary file and raises :class:`~dataprep.errors.OutputError`: one line naming the file's final
name, the room it needed and the room left, which the CLI prints instead of a traceback. Every temporary file
of the package is named by :func:`temp_path` (``.tmp-NAME.PID``), so that :func:`remove_temp_files` finds the
leftovers of a killed writer whoever wrote them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.errors import write_error
from dataprep.schema import conform

EXTENSIONS = {"arrow": "arrow", "parquet": "parquet"}
#: the start of every temporary file's name (:func:`temp_path`), which :func:`remove_temp_files` matches
TMP_PREFIX = ".tmp-"


def temp_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before its rename into place: ``.tmp-NAME.PID`` in the same
    folder (the pid keeps two processes' writes of one name apart)."""
    path = Path(path)
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")


def discard_temp(tmp: Path | None) -> None:
    """Delete a failed write's temporary file; never raises (the folder may have become unwritable)."""
    if tmp is None:
        return
    try:
        Path(tmp).unlink(missing_ok=True)
    except OSError:
        pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename (fsynced). A refused write
    leaves no temporary file and raises :class:`~dataprep.errors.OutputError`."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        discard_temp(tmp)
        if isinstance(exc, OSError):
            raise write_error(exc, path, len(data)) from exc
        raise


def atomic_write_json(path: Path, obj: object) -> None:
    """Write ``obj`` as stable, sorted, indented JSON, atomically."""
    data = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, data.encode("utf-8"))


def write_arrow_file(path: Path, table: pa.Table) -> None:
    """Write one table as an Arrow IPC file (even with no rows), atomically."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        os.replace(tmp, path)
    except BaseException as exc:
        discard_temp(tmp)
        if isinstance(exc, OSError):
            raise write_error(exc, path, table.nbytes) from exc
        raise


def remove_temp_files(folder: Path) -> None:
    """Delete leftovers of interrupted writes below ``folder`` (not inside a :data:`TRASH` folder, which a
    :class:`Discard` may be deleting meanwhile)."""
    folder = Path(folder)
    if not folder.exists():
        return
    for entry in folder.iterdir():
        if entry.name == TRASH:
            continue
        if entry.name.startswith(TMP_PREFIX):
            entry.unlink(missing_ok=True)
        elif entry.is_dir() and not entry.is_symlink():  # never into a folder a link points at
            for p in entry.rglob(f"{TMP_PREFIX}*"):
                p.unlink(missing_ok=True)


#: where :class:`Discard` moves what it deletes, inside the folder it cleans
TRASH = ".trash"


class Discard:
    """Delete ``names`` below ``folder`` without making the caller wait: each is first renamed into
    ``folder/.trash`` (one atomic rename, so the name is free at once), then the trash is deleted by a
    background thread while the caller works. :meth:`wait` joins it. Trash left by a killed process is
    deleted by the next ``Discard`` of the same folder."""

    def __init__(self, folder: Path, names: list[str]) -> None:
        import threading

        folder = Path(folder)
        trash = folder / TRASH
        batch = trash / f"{os.getpid()}-{time.time_ns()}"
        for name in names:
            path = folder / name
            if path.is_dir() and not path.is_symlink():
                batch.mkdir(parents=True, exist_ok=True)
                os.replace(path, batch / name)
            elif path.exists() or path.is_symlink():
                path.unlink()
        self._thread = None
        if trash.exists():
            self._thread = threading.Thread(target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True},
                                            name="discard", daemon=True)
            self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class ShardWriter:
    """Write tables of one schema into size-bounded shards, each published by an atomic rename.

    Use as a context manager; :attr:`paths` lists the published shards. Nothing is written for an empty
    stream. ``fmt`` is ``"arrow"`` (IPC file format, memory-mappable) or ``"parquet"`` (zstd-compressed).
    """

    def __init__(self, folder: Path, prefix: str, schema: pa.Schema, fmt: str = "arrow",
                 max_bytes: int = 256 << 20) -> None:
        if fmt not in EXTENSIONS:
            raise ValueError(f"unknown output format {fmt!r}: use arrow or parquet")
        self.folder = Path(folder)
        self.prefix = prefix
        self.schema = schema
        self.fmt = fmt
        self.max_bytes = max_bytes
        self.paths: list[Path] = []
        self.rows = 0
        self._seq = 0
        self._writer = None
        self._sink = None
        self._tmp: Path | None = None  # the open shard's temporary file; None when no shard is open
        self._final: Path | None = None
        self._bytes = 0
        self._synced = 0
        self.sync_bytes = 0  # with a BackgroundWriter: flush to disk every this many bytes (0: at publish only)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self) -> None:
        name = f"{self.prefix}-{self._seq:04d}.{EXTENSIONS[self.fmt]}"
        self._seq += 1
        self._final = self.folder / name
        self._tmp = temp_path(self._final)
        self._sink = None
        self._writer = None
        self._bytes = 0
        self._synced = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.fmt == "arrow":
            self._sink = pa.OSFile(str(self._tmp), "wb")
            self._writer = pa.ipc.new_file(self._sink, self.schema)
        else:
            self._writer = pq.ParquetWriter(str(self._tmp), self.schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (cast to the writer's schema); rolls to a new shard past ``max_bytes``. A refused
        write deletes the shard's temporary file and raises :class:`~dataprep.errors.OutputError`."""
        if table.num_rows == 0:
            return
        table = conform(table, self.schema)
        try:
            if self._tmp is None:
                self._open()
            self._writer.write_table(table)
            self.rows += table.num_rows
            self._bytes += table.nbytes
            if self._bytes >= self.max_bytes:
                self._publish()
            elif self.sync_bytes and self._bytes - self._synced >= self.sync_bytes:
                # flush what is written so far: the fsync at publish then waits for the tail only (run from a
                # BackgroundWriter's thread, this overlaps the disk with the work on the next batch)
                os.fdatasync(self._sink.fileno()) if self._sink is not None else None
                self._synced = self._bytes
        except OSError as exc:
            raise self._failed(exc, table.nbytes) from exc

    def _failed(self, exc: OSError, extra: int = 0) -> OSError:
        """Abort the open shard (its temporary file goes) and return the one-line error naming it."""
        final, needs = self._final, self._bytes + extra
        self.abort()
        return write_error(exc, final if final is not None else self.folder, needs or None)

    def _publish(self) -> None:
        if self._tmp is None:
            return
        self._writer.close()
        self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        with open(self._tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self._final)
        self._tmp = None
        self.paths.append(self._final)

    def close(self) -> None:
        try:
            self._publish()
        except OSError as exc:
            raise self._failed(exc) from exc

    def abort(self) -> None:
        """Drop the shard being written: close it (errors ignored: the disk may be full) and delete its
        temporary file. Published shards stay."""
        writer, sink, tmp = self._writer, self._sink, self._tmp
        self._writer = self._sink = self._tmp = None
        for handle in (writer, sink):
            if handle is not None:
                try:
                    handle.close()
                except Exception:  # noqa: BLE001 - closing a shard that is dropped anyway
                    pass
        discard_temp(tmp)


#: a BackgroundWriter's shards are flushed to disk every this many bytes, from its thread
SYNC_BYTES = 32 << 20


class BackgroundWriter:
    """A :class:`ShardWriter` fed from one background thread, so that writing a batch overlaps reading and
    parsing the next (pyarrow's writers release the GIL). Batches are written in order; at most ``depth``
    wait, which bounds the memory held. An error in the thread is raised by the next call."""

    def __init__(self, writer: ShardWriter, depth: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.writer = writer
        writer.sync_bytes = SYNC_BYTES
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer")
        self._pending: list = []

    @property
    def paths(self) -> list[Path]:
        return self.writer.paths

    def write(self, table: pa.Table) -> None:
        while len(self._pending) >= self.depth:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self.writer.write, table))

    def _drain(self) -> None:
        try:
            for fut in self._pending:
                fut.result()
        finally:
            self._pending = []
            self._pool.shutdown(wait=True)

    def close(self) -> None:
        self._drain()
        self.writer.close()

    def abort(self) -> None:
        try:
            self._drain()
        except Exception:  # noqa: BLE001 - aborting anyway
            pass
        self.writer.abort()


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a whole shard written by :class:`ShardWriter` (Arrow IPC or Parquet, by extension)."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pq.read_table(str(path), columns=columns)
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    return table.select(columns) if columns else table


def read_folder(folder: Path, columns: list[str] | None = None) -> pa.Table | None:
    """Concatenate every shard in ``folder`` in name order; None when it holds none."""
    paths = sorted(p for p in Path(folder).glob("*") if p.suffix in (".arrow", ".parquet"))
    if not paths:
        return None
    return pa.concat_tables([read_table(p, columns) for p in paths], promote_options="default")
