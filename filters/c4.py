"""The C4 cleaning rules (Raffel et al. 2020, section 2.2) as the reference code applies them: TensorFlow
Datasets ``tensorflow_datasets/text/c4_utils.py``, function ``clean_page`` and ``get_badwords_filter_fn``.

C4 both rewrites a page (keeps only its good lines) and drops pages, so this step is a mapper and a filter.
It is vectorized: every line of the batch becomes a row of one long frame, the rules are column expressions,
and the kept lines are joined back per document.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import polars as pl

from dataprep.registry import register
from dataprep.step import Step
from filters.text import CJK_CLASS, text_col

#: TFDS c4_utils constants.
C4_END_MARKS = (".", "?", "!", '"')
C4_ELLIPSIS = "..."
C4_POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                        "use cookies")
C4_CITATION_RE = r"\[\d*\]|\[edit\]|\[citation needed\]"
#: Full-width sentence ends, accepted as terminal punctuation when ``cjk_aware`` (not in TFDS, which
#: targets English; without them every Chinese or Japanese line would fail the rule).
CJK_END_MARKS = ("。", "！", "？", "」", "』", "”")
#: Words per line for the C4 rule: whitespace-separated tokens (as ``str.split`` in TFDS), except that each
#: CJK character counts as a word when ``cjk_aware``.
_CJK_WORDS_RE = rf"[{CJK_CLASS}]|[^\s{CJK_CLASS}]+"
#: Approximate sentence count of a line: sentence-final marks followed by space or the line end. TFDS uses
#: NLTK's punkt tokenizer, which also knows abbreviations; on the sample data the counts differ on lines
#: with "e.g." or "Mr.", and only the document-level "at least 3 sentences" rule reads them.
_SENTENCE_END_RE = r"[.!?]+[\x22'\u201d)]*(?:\s|$)|[。！？]+[\u201d\u300d\u300f]*"


@register
@dataclasses.dataclass
class C4Filter(Step):
    """C4's line and page rules, with the TFDS defaults (which differ from the paper's prose, and from
    datatrove, whose C4QualityFilter swaps the two numbers).

    Source: TFDS ``c4_utils.clean_page``: per line (stripped), drop it if a word is longer than 1000
    characters; remove Wikipedia citation marks; drop it unless it ends in ``. ? ! "`` (and not ``...``);
    drop it if it has fewer than 5 words (``_MIN_WORDS_PER_LINE = 5``); drop the page if the line contains
    "lorem ipsum"; drop the line if it mentions "javascript"; drop the page if the line has a ``{``; drop
    policy and cookie lines. Drop the page if the kept lines hold fewer than 3 sentences
    (``_MIN_NUM_SENTENCES = 3``). The page text becomes its kept lines joined by newlines. Optional: the
    bad-words rule (``get_badwords_filter_fn``) with a word list file such as LDNOOBW's.

    Adds ``c4_lines_removed`` and ``c4_sentences``; reports line removals per rule as counters.
    """

    name = "c4"
    min_words_per_line: int = 5
    min_sentences: int = 3
    max_word_length: int = 1000
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    cjk_aware: bool = True
    bad_words_file: str | None = dataclasses.field(
        default=None, metadata={"help": "a word list (one per line, e.g. LDNOOBW's 'en'): drop pages with any"})
    path_params = ("bad_words_file",)

    def __post_init__(self) -> None:
        self._bad_re: str | None = None
        if self.bad_words_file:
            words = [w.strip() for w in Path(self.bad_words_file).read_text(encoding="utf-8").splitlines()]
            words = [re.escape(w.lower()) for w in words if w]
            if words:
                # TFDS: words matched at word boundaries, case-insensitively, over the whole page
                self._bad_re = r"(?:^|[^\w])(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")(?:[^\w]|$)"

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        docs = df.select(text_col().alias("t")).with_row_index("doc")
        lines = (
            docs.select("doc", pl.col("t").str.split("\n").alias("line"))
            .explode("line")
            .with_row_index("ln")
            .with_columns(pl.col("line").fill_null("").str.strip_chars())
        )
        line = pl.col("line")
        too_long = line.str.contains(rf"[^\s]{{{self.max_word_length + 1},}}") if self.max_word_length > 0 \
            else pl.lit(False)
        lines = lines.with_columns(too_long.alias("r_long"))
        if self.remove_citations:
            lines = lines.with_columns(line.str.replace_all(C4_CITATION_RE, ""))
        ends = C4_END_MARKS + (CJK_END_MARKS if self.cjk_aware else ())
        ends_re = "(?:" + "|".join(re.escape(e) for e in ends) + ")$"
        no_term = (~line.str.contains(ends_re) | line.str.ends_with(C4_ELLIPSIS)) if self.filter_no_terminal_punct \
            else pl.lit(False)
        n_words = line.str.count_matches(_CJK_WORDS_RE if self.cjk_aware else r"\S+")
        low = line.str.to_lowercase()
        policy = pl.any_horizontal([low.str.contains(p, literal=True) for p in C4_POLICY_SUBSTRINGS])
        lines = lines.with_columns(
            no_term.alias("r_term"),
            (n_words < self.min_words_per_line).alias("r_words"),
            (low.str.contains("lorem ipsum", literal=True) & pl.lit(self.filter_lorem_ipsum)).alias("d_lorem"),
            (low.str.contains("javascript", literal=True) & pl.lit(self.filter_javascript)).alias("r_js"),
            (line.str.contains("{", literal=True) & pl.lit(self.filter_curly_bracket)).alias("d_curly"),
            (policy & pl.lit(self.filter_policy)).alias("r_policy"),
            line.str.count_matches(_SENTENCE_END_RE).clip(lower_bound=1).alias("sents"),
        )
        # the rules apply in TFDS order: a line dropped by an earlier rule is never seen by a later one
        c = pl.col
        passed = ~c("r_long") & ~c("r_term") & ~c("r_words")
        lines = lines.with_columns(
            (passed & c("d_lorem")).alias("doc_lorem"),
            (passed & ~c("d_lorem") & ~c("r_js") & c("d_curly")).alias("doc_curly"),
            (passed & ~c("d_lorem") & ~c("r_js") & ~c("d_curly") & ~c("r_policy")).alias("keep"),
        )
        per_doc = (
            lines.sort("ln")
            .group_by("doc", maintain_order=True)
            .agg(
                c("line").filter(c("keep")).str.join("\n").alias("new_text"),
                c("sents").filter(c("keep")).sum().alias("c4_sentences"),
                (~c("keep")).sum().alias("c4_lines_removed"),
                c("doc_lorem").any().alias("lorem"),
                # the first page-level hit decides the reason, as TFDS returns at the first one
                c("doc_curly").any().alias("curly"),
                (c("doc_lorem").arg_max().cast(pl.Int64) * c("doc_lorem").any().cast(pl.Int64)).alias("_lorem_at"),
                (c("doc_curly").arg_max().cast(pl.Int64) * c("doc_curly").any().cast(pl.Int64)).alias("_curly_at"),
                c("r_long").sum().alias("n_long"),
                (~c("r_long") & c("r_term")).sum().alias("n_term"),
                (~c("r_long") & ~c("r_term") & c("r_words")).sum().alias("n_words"),
                (passed & ~c("d_lorem") & c("r_js")).sum().alias("n_js"),
                (passed & ~c("d_lorem") & ~c("r_js") & ~c("d_curly") & c("r_policy")).sum().alias("n_policy"),
            )
        )
        reason = (
            pl.when(c("lorem") & (~c("curly") | (c("_lorem_at") < c("_curly_at")))).then(pl.lit("lorem_ipsum"))
            .when(c("curly")).then(pl.lit("curly_bracket"))
            .when(c("c4_sentences") < self.min_sentences).then(pl.lit("too_few_sentences"))
            .otherwise(pl.lit(None, pl.String))
        )
        if self._bad_re is not None:
            bad = docs.select(pl.col("t").str.to_lowercase().str.contains(self._bad_re).alias("bad"))
            per_doc = per_doc.with_columns(bad.get_column("bad"))
            reason = pl.when(c("bad")).then(pl.lit("bad_words")).otherwise(reason)
        per_doc = per_doc.with_columns(reason.alias("_c4_reason"))
        keep_cols = ["new_text", "c4_lines_removed", "c4_sentences", "_c4_reason", "n_long", "n_term", "n_words",
                     "n_js", "n_policy"]
        out = pl.concat([df, per_doc.select(keep_cols)], how="horizontal")
        rejected = c("_c4_reason").is_not_null()
        return out.with_columns(
            pl.when(rejected).then(c("text")).otherwise(c("new_text").str.strip_chars()).alias("text"),
            c("c4_lines_removed").cast(pl.Int64), c("c4_sentences").cast(pl.Int64),
        ).drop("new_text").rename({"n_long": "_c4_long_word", "n_term": "_c4_no_terminal_punct",
                                   "n_words": "_c4_too_few_words", "n_js": "_c4_javascript",
                                   "n_policy": "_c4_policy"})

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return pl.col("_c4_reason")

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        kept = annotated.filter(pl.col("_c4_reason").is_null())
        cols = ["_c4_long_word", "_c4_no_terminal_punct", "_c4_too_few_words", "_c4_javascript", "_c4_policy"]
        sums = kept.select([pl.col(k).sum() for k in cols]).row(0) if kept.height else [0] * len(cols)
        return {f"lines_removed_{k[4:]}": int(v or 0) for k, v in zip(cols, sums, strict=True)}
