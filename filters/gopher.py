"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", appendix A, table A1), vectorized over a whole batch with polars.

The reference implementation is datatrove's ``GopherQualityFilter`` and ``GopherRepetitionFilter`` (DeepMind
released no code); the defaults below are the paper's and datatrove's, the checks run in the same order and
reject with the first failing rule, and ``tests/filters/test_heuristics.py`` pins values computed by datatrove 0.10.1.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from dataprep.dedup.minhash.sketch import arrow_string_buffers
from dataprep.registry import register
from dataprep.step import Step
from filters.text import (
    CJK_CLASS,
    CJK_RE,
    TOKEN_RE,
    WORD_RE,
    dup_elements,
    first_reason,
    list_frac,
    safe_div,
    text_col,
    threshold_rules,
)

#: Gopher's stop words (Rae et al. 2021, appendix A.1.1: "the, be, to, of, and, that, have, with").
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
#: For documents written mostly in CJK characters the English stop-word rule cannot hold; these frequent
#: Chinese and Japanese function characters stand in (chosen for this project, not taken from a paper).
CJK_STOP_WORDS = ("的", "是", "在", "了", "和", "有", "不", "这", "の", "に", "は", "を", "が", "た")
#: A document is treated as CJK when more than this fraction of its words are CJK characters.
CJK_DOC_RATIO = 0.5


def _stop_word_regex(words: tuple[str, ...] | list[str]) -> str:
    import re

    plain = [re.escape(w) for w in words if not any(0x2E80 <= ord(c) <= 0x9FFF for c in w)]
    cjk = [re.escape(w) for w in words if any(0x2E80 <= ord(c) <= 0x9FFF for c in w)]
    parts = []
    if plain:
        parts.append(rf"\b(?:{'|'.join(plain)})\b")
    if cjk:
        parts.append(f"(?:{'|'.join(cjk)})")
    return "|".join(parts) or r"[^\s\S]"


@register
@dataclasses.dataclass
class GopherQuality(Step):
    """Gopher quality rules: document length, mean word length, symbol ratios, bullet and ellipsis lines,
    alphabetic words and stop words.

    Source: Rae et al. 2021, appendix A.1.1 -- keep documents with 50 to 100,000 words, mean word length 3 to
    10 characters, a ratio of ``#`` or ellipsis to words of at most 0.1, at most 90% of lines starting with a
    bullet and at most 30% ending with an ellipsis, at least 80% of words containing an alphabetic character,
    and at least two of the stop words "the, be, to, of, and, that, have, with". Counting follows datatrove:
    length and mean length over words that are not pure punctuation, ratios over all tokens, stop words
    case-sensitive. CJK: words are characters (see ``filters.text``); for a CJK document the mean word
    length rule is skipped and ``cjk_stop_words`` replace the English list.

    Adds ``gopher_words``, ``gopher_avg_word_length``, ``gopher_hash_ratio``, ``gopher_ellipsis_ratio``,
    ``gopher_bullet_lines``, ``gopher_ellipsis_lines``, ``gopher_alpha_words``, ``gopher_stop_words``.
    """

    name = "gopher_quality"
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: list[str] = dataclasses.field(default_factory=lambda: list(GOPHER_STOP_WORDS))
    cjk_stop_words: list[str] = dataclasses.field(default_factory=lambda: list(CJK_STOP_WORDS))

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        t = text_col()
        n_tokens = t.str.count_matches(TOKEN_RE)
        n_words = t.str.count_matches(WORD_RE)
        word_chars = t.str.replace_all(r"[\s\p{P}\p{S}]", "").str.len_chars()
        is_cjk = safe_div(t.str.count_matches(CJK_RE), n_words) > CJK_DOC_RATIO
        ls = t.str.strip_suffix("\n").str.split("\n")
        other = rf"[^\s\p{{P}}\p{{S}}{CJK_CLASS}]*"
        alpha = t.str.count_matches(rf"[{CJK_CLASS}]|{other}\p{{L}}{other}")  # words with a letter
        stops = pl.when(is_cjk).then(
            t.str.extract_all(_stop_word_regex(self.cjk_stop_words)).list.n_unique()
        ).otherwise(t.str.extract_all(_stop_word_regex(self.stop_words)).list.n_unique())
        return df.with_columns(
            n_words.alias("gopher_words"),
            pl.when(is_cjk).then(None).otherwise(safe_div(word_chars, n_words)).alias("gopher_avg_word_length"),
            safe_div(t.str.count_matches("#", literal=True), n_tokens).alias("gopher_hash_ratio"),
            safe_div(t.str.count_matches("...", literal=True) + t.str.count_matches("…", literal=True),
                     n_tokens).alias("gopher_ellipsis_ratio"),
            list_frac(ls, pl.element().str.strip_chars_start().str.contains(r"^[•-]")).alias("gopher_bullet_lines"),
            list_frac(ls, pl.element().str.strip_chars_end().str.contains(r"(\.\.\.|…)$")
                      ).alias("gopher_ellipsis_lines"),
            safe_div(alpha, n_tokens).alias("gopher_alpha_words"),
            stops.cast(pl.Int64).alias("gopher_stop_words"),
        )

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        # a null measure (e.g. mean word length of a CJK document) never fails its rule
        return first_reason(threshold_rules([
            ("gopher_words", "<", self.min_doc_words, "short_doc"),
            ("gopher_words", ">", self.max_doc_words, "long_doc"),
            ("gopher_avg_word_length", "<", self.min_avg_word_length, "short_words"),
            ("gopher_avg_word_length", ">", self.max_avg_word_length, "long_words"),
            ("gopher_hash_ratio", ">", self.max_symbol_word_ratio, "hash_ratio"),
            ("gopher_ellipsis_ratio", ">", self.max_symbol_word_ratio, "ellipsis_ratio"),
            ("gopher_bullet_lines", ">", self.max_bullet_lines_ratio, "bullet_lines"),
            ("gopher_ellipsis_lines", ">", self.max_ellipsis_lines_ratio, "ellipsis_lines"),
            ("gopher_alpha_words", "<", self.min_alpha_words_ratio, "few_alpha_words"),
            ("gopher_stop_words", "<", self.min_stop_words, "few_stop_words"),
        ]))


def _greedy_duplicates(doc: np.ndarray, pos: np.ndarray, key: np.ndarray, chars: np.ndarray, n: int,
                       n_docs: int) -> np.ndarray:
    """Characters in duplicated n-grams per document, as datatrove's ``find_all_duplicate`` scans.

    The scan visits positions in order, counts an n-gram already seen at an earlier *visited* position, then
    skips the next n-1 positions. A position whose n-gram occurs once in its document can neither count nor
    make another count, so only the others are visited: a Python loop over those positions (no vectorized
    form keeps the skip order), measured in ``benchmarks/filter_speed.py``. Input is in position order.
    """
    total = np.zeros(n_docs)
    current, skip_to, seen = -1, -1, set()
    for d, p, g, c in zip(doc.tolist(), pos.tolist(), key.tolist(), chars.tolist(), strict=True):
        if d != current:
            current, skip_to, seen = d, -1, set()
        if p < skip_to:
            continue
        if g in seen:
            total[d] += c
            skip_to = p + n
        else:
            seen.add(g)
    return total


try:  # the compiled n-gram scan (setup.py, optional): the same numbers as the numpy code, much faster
    from dataprep.dedup import _kernels
except ImportError:  # pragma: no cover - no C compiler at install time
    _kernels = None

_SEP = "\U0010fffd"  # a private-use character to split paragraphs on (polars splits on literals only)


@register
@dataclasses.dataclass
class GopherRepetition(Step):
    """Gopher repetition rules: duplicate lines and paragraphs, top n-grams and duplicated n-grams.

    Source: Rae et al. 2021, appendix A.1.1 and table A1 -- remove a document when the fraction of duplicate
    lines exceeds 0.30 (paragraphs 0.30), of characters in duplicate lines 0.20 (paragraphs 0.20), when the
    most frequent 2-, 3-, 4-gram covers more than 0.20, 0.18, 0.16 of the characters, or duplicated 5- to
    10-grams cover more than 0.15, 0.14, 0.13, 0.12, 0.11, 0.10. Paragraphs split on two or more newlines,
    lines on newlines, n-grams over tokens, duplicated n-grams counted in datatrove's greedy scan order.

    CJK: the n-gram thresholds were set on English words; over CJK characters (about half a word each)
    ordinary prose repeats 5-grams often (they rejected 14-24% of the clean Chinese and Japanese sample), so
    for a CJK document (more than half of its words CJK characters) the duplicated 5- to 10-gram measures are
    null and only the line, paragraph and top n-gram rules apply, unless ``cjk_ngrams`` is on.

    Adds ``gopher_dup_para_frac``, ``gopher_dup_para_char_frac``, ``gopher_dup_line_frac``,
    ``gopher_dup_line_char_frac``, ``gopher_top_{n}_gram`` and ``gopher_dup_{n}_gram``.
    """

    name = "gopher_repetition"
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: dict[int, float] = dataclasses.field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    dup_n_grams: dict[int, float] = dataclasses.field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    cjk_ngrams: bool = False

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        t = text_col()
        length = t.str.len_chars()
        paras = t.str.strip_chars().str.replace_all(r"\n{2,}", _SEP).str.split(_SEP)
        ls = t.str.replace_all(r"\n+", "\n").str.split("\n")
        p_dup, p_chars = dup_elements(paras)
        l_dup, l_chars = dup_elements(ls)
        out = df.with_columns(
            safe_div(p_dup, paras.list.len()).alias("gopher_dup_para_frac"),
            safe_div(p_chars, length).alias("gopher_dup_para_char_frac"),
            safe_div(l_dup, ls.list.len()).alias("gopher_dup_line_frac"),
            safe_div(l_chars, length).alias("gopher_dup_line_char_frac"),
        )
        ngrams = self._ngram_scores(df)
        if not self.cjk_ngrams and ngrams.width:
            t = text_col()
            is_cjk = safe_div(t.str.count_matches(CJK_RE), t.str.count_matches(WORD_RE)) > CJK_DOC_RATIO
            cjk = df.select(is_cjk.alias("c")).to_series()
            dup = [c for c in ngrams.columns if c.startswith("gopher_dup_")]
            ngrams = ngrams.with_columns(pl.when(cjk).then(None).otherwise(pl.col(c)).alias(c) for c in dup)
        return out.with_columns(ngrams.to_dict().values())

    def _ngram_scores(self, df: pl.DataFrame) -> pl.DataFrame:
        """Per-document top and duplicated n-gram character fractions.

        The tokens of the whole batch are one flat array; an n-gram's key is a rolling 64-bit hash of its
        token hashes, so each n costs a few vectorized numpy passes. Only the duplicated n-gram scan keeps
        datatrove's greedy order, and it visits only positions whose n-gram occurs more than once.
        """
        names = [f"gopher_top_{n}_gram" for n in sorted(self.top_n_grams)] + \
            [f"gopher_dup_{n}_gram" for n in sorted(self.dup_n_grams)]
        ns = sorted(set(self.top_n_grams) | set(self.dup_n_grams))
        n_docs = df.height
        if not ns or not n_docs:
            return pl.DataFrame({name: np.zeros(n_docs) for name in names})
        text_len = np.maximum(df.select(text_col().str.len_chars()).to_series().to_numpy().astype(np.float64), 1)
        if _kernels is not None and getattr(_kernels, "gopher_ngrams", None) is not None:
            return self._ngram_scores_kernel(df, names, text_len)
        cols: dict[str, np.ndarray] = {name: np.zeros(n_docs) for name in names}
        toks = (
            df.select(text_col().str.extract_all(TOKEN_RE).alias("tok"))
            .with_row_index("doc")
            .explode("tok")
            .drop_nulls("tok")
            .select("doc", pl.col("tok").hash(7).alias("h"), pl.col("tok").str.len_chars().alias("l"))
        )
        doc = toks.get_column("doc").to_numpy().astype(np.int64)
        h = toks.get_column("h").to_numpy()
        length = toks.get_column("l").to_numpy().astype(np.int64)
        key, chars = h.copy(), length.copy()
        for n in range(2, max(ns) + 1):
            m = max(len(h) - n + 1, 0)
            with np.errstate(over="ignore"):
                key = key[:m] * np.uint64(0x9E3779B97F4A7C15) + h[n - 1:n - 1 + m]
            chars = chars[:m] + length[n - 1:n - 1 + m]
            if n not in ns or m == 0:
                continue
            pos = np.flatnonzero(doc[:m] == doc[n - 1:n - 1 + m])  # n-grams inside one document
            d, c = doc[pos], chars[pos]
            with np.errstate(over="ignore"):  # fold the document into the key: n-grams of different documents differ
                k = key[pos] ^ (d.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
            if n in self.top_n_grams:
                gid = pl.Series(k).rank("dense").to_numpy().astype(np.int64)  # one id per (document, n-gram)
                cnt = np.bincount(gid)[gid]
                # datatrove find_top_duplicate: the most frequent n-gram (the first seen on ties), its string
                # (tokens joined by spaces) times its count
                best = np.argsort((d << 32) | (np.int64(1 << 31) - cnt), kind="stable")  # doc, count desc, pos
                first = np.ones(len(best), dtype=bool)
                first[1:] = d[best][1:] != d[best][:-1]
                sel = best[first]
                cols[f"gopher_top_{n}_gram"][d[sel]] = (c[sel] + (n - 1)) * cnt[sel]
                cols[f"gopher_top_{n}_gram"] /= text_len
            if n in self.dup_n_grams:
                multi = pl.Series(k).is_duplicated().to_numpy()
                cols[f"gopher_dup_{n}_gram"] = _greedy_duplicates(
                    d[multi], pos[multi], k[multi], c[multi], n, n_docs) / text_len
        return pl.DataFrame(cols)

    def _ngram_scores_kernel(self, df: pl.DataFrame, names: list[str], text_len: np.ndarray) -> pl.DataFrame:
        """:meth:`_ngram_scores` by the compiled scan (``_kernels.gopher_ngrams``): tokens from polars, then
        per document the rolling n-gram hashes, the top n-gram count and the greedy duplicate scan in C."""
        top, dup = sorted(self.top_n_grams), sorted(self.dup_n_grams)
        lists = df.select(text_col().fill_null("").str.extract_all(TOKEN_RE)).to_series().rechunk()
        arr = lists.to_arrow(compat_level=pl.CompatLevel.oldest())
        doc_off = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
        data, tok_off = arrow_string_buffers(arr.values)  # doc_off indexes these tokens
        out = np.empty((df.height, len(top) + len(dup)), dtype=np.float64)
        _kernels.gopher_ngrams(data, tok_off, np.ascontiguousarray(doc_off), np.array(top, np.int32),
                               np.array(dup, np.int32), out)
        return pl.DataFrame({name: out[:, i] / text_len for i, name in enumerate(names)})

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return first_reason(threshold_rules([
            ("gopher_dup_para_frac", ">", self.dup_para_frac, "dup_para_frac"),
            ("gopher_dup_para_char_frac", ">", self.dup_para_char_frac, "dup_para_char_frac"),
            ("gopher_dup_line_frac", ">", self.dup_line_frac, "dup_line_frac"),
            ("gopher_dup_line_char_frac", ">", self.dup_line_char_frac, "dup_line_char_frac"),
            *[(f"gopher_top_{n}_gram", ">", f, f"top_{n}_gram") for n, f in sorted(self.top_n_grams.items())],
            *[(f"gopher_dup_{n}_gram", ">", f, f"dup_{n}_gram") for n, f in sorted(self.dup_n_grams.items())],
        ]))
