"""FineWeb's three custom quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3.5), plus the
list-ratio rule of the reference implementation (datatrove ``FineWebQualityFilter``), vectorized with polars.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from dataprep.registry import register
from dataprep.step import Step
from filters.text import (
    TERMINAL_RE,
    TOKEN_RE,
    dup_elements,
    first_reason,
    list_frac,
    safe_div,
    text_col,
    threshold_rules,
)


@register
@dataclasses.dataclass
class FineWebQuality(Step):
    """FineWeb quality rules on the non-empty lines of a page.

    Source: Penedo et al. 2024, section 3.3.5: remove documents where the fraction of lines ending with
    punctuation is at most 0.12, where the fraction of characters in duplicated lines is at least 0.1, or
    where the fraction of lines shorter than 30 characters is at least 0.67. Comparisons as datatrove
    (``<`` 0.12, ``>`` 0.67, ``>`` 0.1). datatrove's default for the duplicated-line characters is 0.01, ten
    times the paper's; we keep the paper's 0.1. ``max_newline_ratio`` (newlines per token above 0.3: a list,
    not prose) is datatrove's addition, on by default as there; set it to null to follow the paper alone.
    Terminal punctuation is any Unicode Sentence_Terminal character (covers 。！？), as datatrove's set.

    Adds ``fineweb_line_punct``, ``fineweb_short_lines``, ``fineweb_dup_line_chars``, ``fineweb_newline_ratio``.
    """

    name = "fineweb_quality"
    line_punct_thr: float | None = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float | None = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float | None = 0.1
    max_newline_ratio: float | None = 0.3

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        t = text_col()
        ls = t.str.split("\n").list.eval(pl.element().filter(pl.element().str.strip_chars() != ""))
        _, dup_chars = dup_elements(ls)
        return df.with_columns(
            list_frac(ls, pl.element().str.contains(TERMINAL_RE + "$")).alias("fineweb_line_punct"),
            list_frac(ls, pl.element().str.len_chars() <= self.short_line_length).alias("fineweb_short_lines"),
            safe_div(dup_chars, t.str.replace_all("\n", "", literal=True).str.len_chars())
            .alias("fineweb_dup_line_chars"),
            safe_div(t.str.count_matches("\n", literal=True), t.str.count_matches(TOKEN_RE))
            .alias("fineweb_newline_ratio"),
            ls.list.len().alias("_fineweb_lines"),
        )

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        rules = [(pl.col("_fineweb_lines") == 0, "empty")]
        if self.line_punct_thr is not None:
            low = pl.col("fineweb_line_punct") < self.line_punct_thr
            if self.line_punct_exclude_zero:
                low = low & (pl.col("fineweb_line_punct") > 0)
            rules.append((low, "line_punct_ratio"))
        rules += threshold_rules([
            ("fineweb_short_lines", ">", self.short_line_thr, "short_line_ratio"),
            ("fineweb_dup_line_chars", ">", self.char_duplicates_ratio, "char_dup_ratio"),
            ("fineweb_newline_ratio", ">", self.max_newline_ratio, "list_ratio"),
        ])
        return first_reason(rules)
