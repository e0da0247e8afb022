"""Unicode classes and text normalizations shared by steps (dedup keys, boilerplate keys, shingles, word
counts), as polars expressions: one definition, so that every step folds text the same way."""

import polars as pl

#: Scripts written without spaces between words (Chinese, Japanese kana): each character counts as a word.
CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}"

#: Invisible characters: Unicode general category C (controls Cc, format characters Cf such as the zero-width
#: space U+200B, soft hyphen U+00AD, byte-order mark U+FEFF and bidi marks, private use Co, unassigned Cn)
#: except white space (tab, newline, U+0085 stay white space, folded by the normalizers).
#: Sources: cc_net's ``text_normalizer.remove_non_printing_char`` strips code points 0-31 and 127-159 (the Cc
#: controls) from every normalized line; text-dedup's ``utils/preprocess.normalize`` removes ``\p{C}`` with
#: punctuation and symbols (``[\p{P}\p{C}\p{S}]+``).
INVISIBLE_CLASS = r"[\p{C}&&\S]"


def strip_invisible(expr: pl.Expr) -> pl.Expr:
    """``expr`` without invisible characters (:data:`INVISIBLE_CLASS`), so that a copy carrying a zero-width
    space, a soft hyphen, a BOM or a NUL has the same key as the original. For keys only: text written out
    keeps them."""
    return expr.str.replace_all(INVISIBLE_CLASS, "")


def ccnet_normalize(expr: pl.Expr) -> pl.Expr:
    """CCNet's ``text_normalizer.normalize`` (Wenzek et al. 2020, section 3.3): invisible characters removed
    (its ``remove_non_printing_char``, widened to :data:`INVISIBLE_CLASS`), lower case, accents stripped,
    digits as 0, punctuation removed, white space folded."""
    return (
        strip_invisible(expr).str.normalize("NFD")
        .str.replace_all(r"\p{Mn}", "")
        .str.to_lowercase()
        .str.replace_all(r"\d", "0")
        .str.replace_all(r"[\p{P}\p{S}]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
