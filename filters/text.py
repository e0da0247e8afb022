"""Text measures shared by the heuristic filters, as polars expressions (vectorized, no Python per document).

Words are counted CJK-aware: each Han, Hiragana or Katakana character is one word (those scripts put no
spaces between words, and a character is the unit CCNet and the Chinese filtering literature count), every
other run of letters and digits is one word, and punctuation and symbols are *symbol tokens*, one per
character (an ellipsis or a rule such as ``-----`` is one). This mirrors the tokens datatrove's filters get
from spaCy on English (the golden tests compare them) closely enough that the thresholds of the papers keep
their meaning (``benchmarks/filter_speed.py`` prints the agreement), without a
tokenizer model and at the speed of a regex.
"""

from __future__ import annotations

import polars as pl

from dataprep.normalize import CJK_CLASS

_PLAIN = rf"[^\s\p{{P}}\p{{S}}{CJK_CLASS}]"
#: A word: one CJK character; a URL, an abbreviation (``e.g.``, ``U.S.A.``) or a number with separators
#: (``3.14``, ``1,000``), which tokenizers keep whole; or a run of characters that are neither space,
#: punctuation, symbol nor CJK, with an apostrophe suffix (``don't``, ``l'eau``) kept on.
WORD_RE = (rf"[{CJK_CLASS}]|https?://[^\s<>\x22]+[^\s<>\x22.,;:!?)]|(?:\p{{L}}\.){{2,}}|\d+(?:[.,]\d+)+"
           rf"|{_PLAIN}+(?:['’]{_PLAIN}+)*")
#: A token: a word, a run of one repeated rule character (``...``, ``----``, ``====``: table and section rules
#: stay one token, as spaCy keeps them), or one other punctuation or symbol character (as spaCy splits them).
TOKEN_RE = rf"{WORD_RE}|\.{{2,}}|-{{2,}}|={{2,}}|_{{2,}}|\*{{2,}}|~{{2,}}|\+{{2,}}|[\p{{P}}\p{{S}}]"
CJK_RE = rf"[{CJK_CLASS}]"
#: Sentence-final punctuation in any script (Unicode property Sentence_Terminal: . ! ? 。 ！ ？ ...), plus the
#: closing quote C4 accepts after it.
TERMINAL_RE = r"[\p{Sentence_Terminal}\x22\u201d\u300d\u300f]"


def text_col(column: str = "text") -> pl.Expr:
    """The text column with Windows and old-Mac line ends made ``\\n``."""
    return pl.col(column).str.replace_all("\r\n?", "\n")


def word_count(expr: pl.Expr) -> pl.Expr:
    """CJK-aware number of words (see module docstring)."""
    return expr.str.count_matches(WORD_RE)


def cjk_ratio(expr: pl.Expr) -> pl.Expr:
    """Fraction of a text's words that are CJK characters (0 for an empty text)."""
    words = word_count(expr)
    return pl.when(words > 0).then(expr.str.count_matches(CJK_RE) / words).otherwise(0.0)


def lines(expr: pl.Expr) -> pl.Expr:
    """The text as a list of lines (split on ``\\n``)."""
    return expr.str.split("\n")


def list_frac(lst: pl.Expr, predicate: pl.Expr, nonempty_only: bool = False) -> pl.Expr:
    """Fraction of list elements satisfying ``predicate`` (an expression over ``pl.element()``)."""
    if nonempty_only:
        lst = lst.list.eval(pl.element().filter(pl.element().str.strip_chars() != ""))
    n = lst.list.len()
    hits = lst.list.eval(predicate.cast(pl.UInt32)).list.sum()
    return pl.when(n > 0).then(hits / n).otherwise(0.0)


def dup_elements(lst: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(number of elements that repeat an earlier one, their characters) for a list column.

    As Gopher's repetition measure (Rae et al. 2021, appendix A; datatrove ``find_duplicates``): the first
    occurrence is not a duplicate, every later one counts with its full length.
    """
    n_dup = lst.list.len() - lst.list.n_unique()
    chars = lst.list.eval(
        pl.when(pl.element().is_first_distinct()).then(0).otherwise(pl.element().str.len_chars())
    ).list.sum()
    return n_dup, chars


def safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den`` as float, 0 where ``den`` is 0."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(0.0)


def threshold_rules(specs: list[tuple[str, str, float | None, str]]) -> list[tuple[pl.Expr, str]]:
    """Rules from ``(column, "<" or ">", threshold, reason)``; a null or zero threshold turns its rule off, as
    the reference implementations do. A null measure never fails its rule."""
    rules = []
    for column, op, threshold, reason in specs:
        if not threshold:
            continue
        cond = pl.col(column) < threshold if op == "<" else pl.col(column) > threshold
        rules.append((cond.fill_null(False), reason))
    return rules


def first_reason(rules: list[tuple[pl.Expr, str]]) -> pl.Expr | None:
    """The reason of the first rule whose condition holds (null when none does): rules are checked in order,
    as the reference implementations return at the first failing rule."""
    if not rules:
        return None
    cond, reason = rules[0]
    expr = pl.when(cond).then(pl.lit(reason))
    for cond, reason in rules[1:]:
        expr = expr.when(cond).then(pl.lit(reason))
    return expr.otherwise(pl.lit(None, pl.String))
