"""CCNet-style boilerplate line removal: lines that recur across many documents (navigation, share buttons,
copyright footers, cookie notices) are removed from every document they appear in.

Source: Wenzek et al. 2020, "CCNet", section 3.3: paragraphs (lines) are normalized (lower case, digits
replaced by 0, accents, punctuation and invisible characters removed,
:func:`dataprep.normalize.ccnet_normalize`: a copy carrying a zero-width space, soft hyphen, BOM or NUL is the
same line), hashed, and every line whose hash occurs more than once in the shard is removed, which strips the
boilerplate a site repeats on each page. CCNet's shard is the unit of comparison; ours is the batch a step
sees (in a recipe: up to 16 MB of one input file, fixed by the file, so the result is deterministic and
independent of the number of workers). For corpus-wide repeated paragraphs use the global ``paragraph_dedup``
step.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from dataprep.normalize import ccnet_normalize
from dataprep.registry import register
from dataprep.step import Step
from filters.text import text_col


@register
@dataclasses.dataclass
class BoilerplateLines(Step):
    """Remove lines whose normalized form occurs in at least ``min_docs`` documents of the batch (CCNet: more
    than once, i.e. 2); reject documents left empty. Blank lines are kept (they separate paragraphs).

    Adds ``boilerplate_lines_removed``; counters ``lines_removed`` and ``chars_removed``.
    """

    name = "boilerplate_lines"
    min_docs: int = 2
    min_line_chars: int = dataclasses.field(
        default=0, metadata={"help": "only lines at least this long (normalized) may be removed"})

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        lines = (
            df.select(text_col().str.split("\n").alias("line"))
            .with_row_index("doc")
            .explode("line")
            .with_row_index("ln")
            .with_columns(pl.col("line").fill_null(""))
            .with_columns(ccnet_normalize(pl.col("line")).alias("norm"))
        )
        docs_per_line = lines.filter(pl.col("norm") != "").group_by("norm").agg(pl.col("doc").n_unique().alias("nd"))
        lines = lines.join(docs_per_line, on="norm", how="left", maintain_order="left").with_columns(
            ((pl.col("nd").fill_null(0) >= self.min_docs) & (pl.col("norm").str.len_chars() >= self.min_line_chars))
            .alias("boiler"))
        per_doc = lines.group_by("doc", maintain_order=True).agg(
            pl.col("line").filter(~pl.col("boiler")).str.join("\n").alias("new_text"),
            pl.col("boiler").sum().cast(pl.Int64).alias("boilerplate_lines_removed"),
            (pl.col("line").str.len_chars() + 1).filter(pl.col("boiler")).sum().cast(pl.Int64).alias("_chars"),
        )
        out = pl.concat([df, per_doc.drop("doc")], how="horizontal")
        return out.with_columns(
            pl.when(pl.col("boilerplate_lines_removed") > 0).then(pl.col("new_text").str.strip_chars())
            .otherwise(pl.col("text")).alias("text")).drop("new_text")

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return pl.when(pl.col("text").str.strip_chars() == "").then(pl.lit("empty_after_cleanup"))

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        if not annotated.height:
            return {"lines_removed": 0, "chars_removed": 0}
        lines, chars = annotated.select(pl.col("boilerplate_lines_removed").sum(), pl.col("_chars").sum()).row(0)
        return {"lines_removed": int(lines or 0), "chars_removed": int(chars or 0)}
