"""Per-source cleaners from LLaMA's data recipe (Touvron et al. 2023, section 2.1) that need no parser:
repository licences and generated/vendored paths for code, Project Gutenberg boilerplate for books.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from dataprep.registry import register
from dataprep.step import Step
from filters.text import first_reason

#: LLaMA, section 2.1 (GitHub): "we kept only projects that are distributed under the Apache, BSD and MIT
#: licenses". SPDX identifiers.
PERMISSIVE = ["Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "MIT"]
#: Paths of generated, vendored or bundled files (RedPajama's GitHub filter and common conventions).
GENERATED_PATHS = (r"(^|/)(vendor|vendors|node_modules|third_party|thirdparty|bower_components|dist|build|"
                   r"__generated__|\.git)/|\.min\.(js|css)$|\.pb\.(go|cc|h)$|_pb2(_grpc)?\.py$|\.designer\.cs$|"
                   r"(^|/)(package-lock\.json|yarn\.lock|Cargo\.lock|poetry\.lock|go\.sum)$")


def _spdx_key(expr: pl.Expr) -> pl.Expr:
    """Licence names compared loosely: lower case, spaces and underscores as hyphens, ``-license`` dropped."""
    return (expr.str.to_lowercase().str.strip_chars().str.replace_all(r"[\s_]+", "-")
            .str.replace(r"-licen[sc]e$", "").str.replace(r"^apache-2$", "apache-2.0")
            .str.replace(r"^apache$", "apache-2.0"))


@register
@dataclasses.dataclass
class LicenseFilter(Step):
    """Keep code files whose repository licence is allowed, and drop generated or vendored files by path.

    Source: LLaMA (Touvron et al. 2023, section 2.1): GitHub projects under the Apache, BSD and MIT
    licences; generated-file paths as RedPajama's reproduction. The licence and path come from the record's
    metadata (``license_field``, ``path_field``; the path falls back to the document id). A missing licence is
    rejected unless ``keep_unknown``. Exact file-level dedup across repositories is the ``exact_dedup`` step
    with ``normalize: false`` (see ``recipes/code.yaml``). Adds ``license``.
    """

    name = "license_filter"
    allow: list[str] = dataclasses.field(default_factory=lambda: list(PERMISSIVE))
    license_field: str = "license"
    path_field: str = "path"
    keep_unknown: bool = False
    drop_generated_paths: bool = True

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        meta = pl.col("meta").fill_null("{}")
        path = meta.str.json_path_match(f"$.{self.path_field}")
        return df.with_columns(
            meta.str.json_path_match(f"$.{self.license_field}").alias("license"),
            pl.coalesce(path, pl.col("id")).alias("_path"),
        )

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        allowed = pl.Series([a for a in self.allow]).to_frame("a").select(_spdx_key(pl.col("a"))).to_series()
        lic = pl.col("license")
        rules = [
            (pl.lit(self.drop_generated_paths) & pl.col("_path").str.contains(GENERATED_PATHS).fill_null(False),
             "generated_path"),
            (lic.is_null() & pl.lit(not self.keep_unknown), "no_license"),
            (lic.is_not_null() & ~_spdx_key(lic).is_in(allowed.implode()), "license_not_allowed"),
        ]
        return first_reason(rules)


#: Project Gutenberg's start and end markers, current and older forms ("*** START OF THE PROJECT GUTENBERG
#: EBOOK X ***", "*** START OF THIS PROJECT GUTENBERG EBOOK X ***", "*END*THE SMALL PRINT!", "*** END OF THE
#: PROJECT GUTENBERG EBOOK X ***", "End of the Project Gutenberg EBook of X", "End of Project Gutenberg's X").
#: HEADER_RE captures everything up to and including the start marker's line; FOOTER_RE from the end marker on.
HEADER_RE = (r"(?ims)\A(.*?(?:^[ \t]*\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*\n"
             r"|^[ \t]*\*END\*THE SMALL PRINT![^\n]*\n))")
FOOTER_RE = (r"(?ims)((?:^[ \t]*\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK"
             r"|^[ \t]*End of (?:the )?Project Gutenberg'?s?(?: E-?Book| Etext)?).*)\z")


@register
@dataclasses.dataclass
class GutenbergClean(Step):
    """Remove Project Gutenberg's header (everything up to the START marker) and its licence footer (from the
    END marker on), as LLaMA's books preprocessing did. Texts without markers pass unchanged.

    Source: LLaMA (Touvron et al. 2023, section 2.1, "Books"), which removes this boilerplate; the markers are
    Project Gutenberg's own (``gutenberg.org`` ebook template, current and pre-2010 forms).
    Adds ``gutenberg_header_chars`` and ``gutenberg_footer_chars``; counters of both.
    """

    name = "gutenberg_clean"

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        head = pl.col("text").str.extract(HEADER_RE, 1).str.len_chars().fill_null(0).cast(pl.Int64)
        out = df.with_columns(head.alias("gutenberg_header_chars"))
        out = out.with_columns(pl.col("text").str.slice(pl.col("gutenberg_header_chars")))
        tail = pl.col("text").str.extract(FOOTER_RE, 1).str.len_chars().fill_null(0).cast(pl.Int64)
        out = out.with_columns(tail.alias("gutenberg_footer_chars"))
        keep = pl.col("text").str.len_chars() - pl.col("gutenberg_footer_chars")
        return out.with_columns(pl.col("text").str.slice(0, keep).str.strip_chars())

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return pl.when(pl.col("text") == "").then(pl.lit("empty_after_cleanup"))

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        if not annotated.height:
            return {"headers_removed": 0, "footers_removed": 0}
        h, f = annotated.select((pl.col("gutenberg_header_chars") > 0).sum(),
                                (pl.col("gutenberg_footer_chars") > 0).sum()).row(0)
        return {"headers_removed": int(h), "footers_removed": int(f)}


