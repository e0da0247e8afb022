"""The step contract shared by filters, mappers and global steps, and the registry recipes look steps up in.

Every step has three faces, on a polars DataFrame or an Arrow table (the result is the same kind):

- ``step.annotate(df)`` adds the step's score columns;
- ``step(df)`` returns the rows that pass;
- ``kept, rejected = step.split(df)`` where ``rejected`` carries ``step`` and ``reason`` columns.

A *local* step looks at one batch at a time; the executor runs it inside worker processes. A *global* step
(deduplication) needs the whole corpus: it computes per-row keys locally (:meth:`GlobalStep.keys`), decides
once over the keys of every shard in a fixed order (:meth:`GlobalStep.fit`), then drops the decided rows.
The same objects serve a notebook, a CLI recipe and (later) a Ray ``map_batches``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, TypeVar

import polars as pl
import pyarrow as pa

Frame = TypeVar("Frame", pl.DataFrame, pa.Table)

REGISTRY: dict[str, type[Step]] = {}


def register(cls: type[Step]) -> type[Step]:
    """Class decorator: make a step available to recipes under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty 'name' to be registered")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"step name {cls.name!r} is taken by {REGISTRY[cls.name].__qualname__}")
    REGISTRY[cls.name] = cls
    return cls


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

    The executor calls :meth:`keys` on each batch inside workers, then :meth:`fit` once over the key frames of
    every shard in corpus order (a ``_ord`` column gives each row's global position), then drops the rows
    that :meth:`fit` returned. Dropped rows go to ``OUT/duplicates`` with ``duplicate_of``.
    """

    is_global: ClassVar[bool] = True

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        """Per-row key columns (names starting with ``_k``) computed from one batch."""
        raise NotImplementedError

    def fit(self, keys: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        """From ``keys`` (columns ``_ord``, ``id`` and the key columns, in corpus order) return the rows to
        drop as a frame ``(_ord, duplicate_of)`` and a dict of step statistics."""
        raise NotImplementedError

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


def get_step(name: str) -> type[Step]:
    load_builtin_steps()
    return REGISTRY[name]


def load_builtin_steps() -> dict[str, type[Step]]:
    """Import the modules that register steps (the engine's own and the ``filters`` package)."""
    import dataprep.dedup  # noqa: F401
    try:
        import filters  # noqa: F401
    except ImportError:  # pragma: no cover - filters ships with the package
        pass
    return REGISTRY
