"""Unicode character classes shared by the text measures (polars' Rust regex syntax)."""

#: Scripts written without spaces between words (Chinese, Japanese kana): each character counts as a word.
CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}"
