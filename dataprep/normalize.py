"""Unicode classes and text normalizations shared by steps (dedup keys, boilerplate keys, shingles, word
counts), as polars expressions: one definition, so that every step folds text the same way."""

import polars as pl

#: Scripts written without spaces between words (Chinese, Japanese kana): each character counts as a word.
CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}"


def ccnet_normalize(expr: pl.Expr) -> pl.Expr:
    """CCNet's ``text_normalizer.normalize`` (Wenzek et al. 2020, section 3.3): lower case, accents stripped,
    digits as 0, punctuation removed, white space folded."""
    return (
        expr.str.normalize("NFD")
        .str.replace_all(r"\p{Mn}", "")
        .str.to_lowercase()
        .str.replace_all(r"\d", "0")
        .str.replace_all(r"[\p{P}\p{S}]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
