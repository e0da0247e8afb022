"""The step contract shared by filters, mappers and global steps: what every step offers, and what the
executor may call on a global one (nothing else is probed). The registry is :mod:`dataprep.registry`.

Every step has three faces, on a polars DataFrame or an Arrow table (the result is the same kind):

- ``step.annotate(df)`` adds the step's score columns;
- ``step(df)`` returns the rows that pass;
- ``kept, rejected = step.split(df)`` where ``rejected`` carries ``step`` and ``reason`` columns.

A *local* step looks at one batch at a time; the executor runs it inside worker processes. A *global* step
(deduplication) needs the whole corpus: it computes per-row keys locally (:meth:`GlobalStep.keys`), decides
once over the keys of every shard in a fixed order (:meth:`GlobalStep.fit_files`), then drops or edits the
decided rows (:attr:`GlobalStep.decides`). The same objects serve a notebook, a CLI recipe and Ray.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import polars as pl
import pyarrow as pa

Frame = TypeVar("Frame", pl.DataFrame, pa.Table)

def to_polars(data: pl.DataFrame | pa.Table) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pa.Table | pa.RecordBatch):
        out = pl.from_arrow(data, rechunk=False)
        return out if isinstance(out, pl.DataFrame) else out.to_frame()
    raise TypeError(f"expected a polars DataFrame or an Arrow table, got {type(data).__name__}")


def like(result: pl.DataFrame, original: pl.DataFrame | pa.Table) -> pl.DataFrame | pa.Table:
    """Return ``result`` as the same kind as ``original``."""
    if isinstance(original, pl.DataFrame):
        return result
    from dataprep.schema import normalize_table

    return normalize_table(result.to_arrow())


def _public(df: pl.DataFrame) -> pl.DataFrame:
    """Drop a step's private working columns (names starting with ``_``)."""
    private = [c for c in df.columns if c.startswith("_")]
    return df.drop(private) if private else df


@dataclasses.dataclass
class Step:
    """Base class of every step. Subclasses are dataclasses whose fields are the recipe parameters."""

    name: ClassVar[str] = ""
    is_global: ClassVar[bool] = False
    #: parameters holding file paths: a recipe resolves them against its own folder
    path_params: ClassVar[tuple[str, ...]] = ()

    # ---- to override -------------------------------------------------------------------------------------
    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        """Add score columns (or rewrite ``text`` for a mapper). Default: unchanged."""
        return df

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        """An expression over the annotated frame giving a rejection reason, null to keep. None keeps all."""
        return None

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        """Totals this step reports in ``stats.json`` under ``by_step.<step>.counters`` (e.g. lines removed,
        redactions per type), computed from the annotated batch. Default: none."""
        return {}

    # ---- the three faces ---------------------------------------------------------------------------------
    def run_polars(self, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
        """What the executor calls: (kept, rejected, counters) of one batch."""
        annotated = self.annotate_polars(df)
        kept, rejected = self._split_annotated(annotated)
        return kept, rejected, self.counters(annotated)

    def split_polars(self, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        return self._split_annotated(self.annotate_polars(df))

    def _split_annotated(self, annotated: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        expr = self.reason_expr(annotated)
        if expr is None:
            annotated = _public(annotated)
            return annotated, annotated.clear().with_columns(
                pl.lit(self.name, pl.String).alias("step"), pl.lit(None, pl.String).alias("reason"))
        with_reason = annotated.with_columns(expr.cast(pl.String).alias("_reason"))
        keep = pl.col("_reason").is_null()
        kept = with_reason.filter(keep)
        rejected = with_reason.filter(~keep).with_columns(
            pl.lit(self.name, pl.String).alias("step"), pl.col("_reason").alias("reason"))
        return _public(kept), _public(rejected)

    def annotate(self, data: Frame) -> Frame:
        """Add this step's score columns to ``data``."""
        return like(_public(self.annotate_polars(to_polars(data))), data)

    def split(self, data: Frame) -> tuple[Frame, Frame]:
        """Return (rows that pass, rows that do not, with ``step`` and ``reason`` columns)."""
        kept, rejected = self.split_polars(to_polars(data))
        return like(kept, data), like(rejected, data)

    def __call__(self, data: Frame) -> Frame:
        """Return the rows of ``data`` that pass this step."""
        return self.split(data)[0]

    # ---- introspection -----------------------------------------------------------------------------------
    @classmethod
    def params(cls) -> list[dict[str, Any]]:
        """The step's parameters: name, type, default and help, for ``dataprep steps`` and validation."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            out.append({"name": f.name, "type": hints.get(f.name, Any), "default": default,
                        "help": f.metadata.get("help", "")})
        return out

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return " ".join(doc.split("\n\n")[0].split()) if doc else ""


@dataclasses.dataclass
class GlobalStep(Step):
    """A step that decides over the whole corpus (e.g. deduplication) rather than one batch at a time.

    The executor calls :meth:`keys` on each batch inside workers and stores the key columns with the batch;
    then, once, :meth:`fit_files` (or :meth:`fit_ray` on the Ray executor) over every task's key file in corpus
    order (a row's ``_ord`` is its global position); then the next stage applies the decisions as
    :attr:`decides` says. These four, with :meth:`apply_edits` for edit steps, are all the executor calls.
    """

    is_global: ClassVar[bool] = True
    #: what a decision does to its row: ``drop`` moves it to ``OUT/duplicates`` with the id it duplicates
    #: (decision column ``duplicate_of``); ``edit`` rewrites its text with :meth:`apply_edits` (decision column
    #: ``remove``: the indices of the units to remove), rejecting it as ``empty_after_dedup`` if none is left
    decides: ClassVar[Literal["drop", "edit"]] = "drop"

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        """Per-row key columns (names starting with ``_k``) computed from one batch, with ``id``."""
        raise NotImplementedError

    def fit(self, keys: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        """From ``keys`` (columns ``_ord``, ``id`` and the key columns, in corpus order) return the decisions as
        a frame (``_ord`` and :meth:`decision_schema`'s payload column) and a dict of step statistics."""
        raise NotImplementedError

    def fit_files(self, files: list[tuple[int, Path]], ord_shift: int, workdir: Path
                  ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """Decide from the key files of the tasks: ``(task index, Arrow file)`` in corpus order, whose rows
        have positions ``task << ord_shift | row``. ``workdir`` is scratch space for out-of-core steps. Default:
        every file's key columns in memory, handed to :meth:`fit`; a step whose keys may not fit in memory
        overrides it (MinHash spills by key range). The files are read one at a time and their key columns
        copied out of the memory map, which is closed before the next is opened: a run of many tasks never
        holds more maps than the kernel allows (``vm.max_map_count``, 65,530 by default)."""
        frames = []
        for task, path in files:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
                key_cols = ["id"] + [c for c in table.column_names if c.startswith("_k")]
                table = pa.table({c: pa.concat_arrays(table.column(c).chunks) if table.column(c).num_chunks
                                  else pa.array([], table.schema.field(c).type) for c in key_cols})
            df = pl.from_arrow(table)
            df = df.with_columns((pl.int_range(0, df.height, dtype=pl.Int64) + (task << ord_shift)).alias("_ord"))
            if "_kskip" in df.columns:  # rows of sources the step is not restricted to
                df = df.filter(~pl.col("_kskip")).drop("_kskip")
            frames.append(df)
        if frames:
            return self.fit(pl.concat(frames, how="vertical"))
        return pl.DataFrame(schema=self.decision_schema()), {}

    def fit_ray(self, files: list[tuple[int, Path]], ord_shift: int, workdir: Path, driver_edges: int | None
                ) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The same decisions on the Ray executor (files on storage every node sees). Default: decided on the
        driver by :meth:`fit_files`; a step whose fit distributes (MinHash) overrides it. ``driver_edges``
        bounds what a graph step may gather on the driver (None: the step's default)."""
        return self.fit_files(files, ord_shift, workdir)

    def apply_edits(self, df: pl.DataFrame, remove: pl.Series) -> pl.DataFrame:
        """Edit steps (``decides = "edit"``): ``df`` with the units ``remove`` names (per row, null: none)
        removed from its text."""
        raise NotImplementedError(f"{type(self).__name__} decides {self.decides!r}: it has no edits")

    @classmethod
    def decision_schema(cls) -> dict[str, pl.DataType]:
        """Columns of the decisions :meth:`fit` returns."""
        if cls.decides == "edit":
            return {"_ord": pl.Int64, "remove": pl.List(pl.UInt32)}
        return {"_ord": pl.Int64, "duplicate_of": pl.String}

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        """Adds ``duplicate_of``: the id of the document each row duplicates (null for rows that stay)."""
        return self._marked(df).drop("_ord")

    def _marked(self, df: pl.DataFrame) -> pl.DataFrame:
        keys = self.keys(df).with_columns(pl.col("id").cast(pl.String))
        keys = keys.with_row_index("_ord")
        drop, _ = self.fit(keys)
        drop = drop.with_columns(pl.col("_ord").cast(pl.UInt32))
        return df.with_row_index("_ord").join(drop, on="_ord", how="left", maintain_order="left")

    def split_polars(self, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        marked = self._marked(df)
        is_dup = pl.col("duplicate_of").is_not_null()
        kept = marked.filter(~is_dup).drop("_ord", "duplicate_of")
        rejected = marked.filter(is_dup).drop("_ord").with_columns(
            pl.lit(self.name, pl.String).alias("step"), pl.lit("duplicate", pl.String).alias("reason"))
        return kept, rejected
