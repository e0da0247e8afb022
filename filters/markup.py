"""Markup to text, vectorized: HTML entities, tags and the HTML of forum posts (StackExchange bodies).

Shared by the StackExchange and Wikipedia cleaners. Everything is a polars expression over a whole column,
except numeric character references (``&#233;``, ``&#x1F600;``), which no regex can turn into characters:
the rows that hold one (a few percent of StackExchange posts) go through :func:`html.unescape` one by one.
Named references (all 2,125 of HTML5, ``&amp;`` to ``&zwnj;``) are replaced in one Aho-Corasick pass, so an
escaped reference such as ``&amp;lt;`` becomes ``&lt;`` and is not unescaped twice.
"""

from __future__ import annotations

import html
import html.entities

import polars as pl

_NAMED = sorted((f"&{name}", char) for name, char in html.entities.html5.items() if name.endswith(";"))
NAMED_REFS = [n for n, _ in _NAMED]
NAMED_CHARS = [c for _, c in _NAMED]
NUMERIC_REF = r"&#(?:[0-9]{1,7}|[xX][0-9a-fA-F]{1,6});"


def unescape_entities(text: pl.Series) -> pl.Series:
    """HTML character references replaced by their characters, as :func:`html.unescape` does (with ``;``)."""
    if text.is_empty():
        return text
    named = text.str.replace_many(NAMED_REFS, NAMED_CHARS)
    numeric = text.str.contains(NUMERIC_REF).fill_null(False)
    if not numeric.any():
        return named
    slow = text.filter(numeric).map_elements(html.unescape, return_dtype=pl.String)
    out = named.scatter(numeric.arg_true(), slow)
    return out


def strip_tags(expr: pl.Expr) -> pl.Expr:
    """Remove HTML tags (keeping their content) and comments."""
    return expr.str.replace_all(r"(?s)<!--.*?-->", "").str.replace_all(r"</?[A-Za-z][^<>]*>", "")


def tidy_whitespace(expr: pl.Expr) -> pl.Expr:
    """Trailing spaces off every line, at most one blank line in a row, no blank lines at either end."""
    return (expr.str.replace_all(r"[ \t\u00a0]+\n", "\n").str.replace_all(r"\n{3,}", "\n\n")
            .str.strip_chars())


#: (pattern, replacement) applied in order by :func:`post_html_to_text`. Tags are matched in lower case, as the
#: StackExchange sanitizer writes them; no pattern starts with a class or repetition (a literal first lets the
#: regex engine skip ahead: ``\s*<li`` was 4x slower than ``<li``).
POST_RULES = [
    (r"<pre[^>]*>(?:\s*<code[^>]*>)?", "\n\n```\n"),
    (r"\n?(?:</code>\s*)?</pre>", "\n```\n\n"),
    (r"</?code[^>]*>", "`"),
    (r"<br\s*/?>", "\n"),
    (r"</li>\s*", ""),
    (r"<li[^>]*>", "\n- "),
    (r"</(?:p|h[1-6]|blockquote|ul|ol|div|table|tr)>|<hr\s*/?>", "\n\n"),
]


def post_html_to_text(body: pl.Series) -> pl.Series:
    """The HTML of a forum post (StackExchange's ``Body``) as plain text that keeps code as code.

    ``<pre><code>`` blocks become fenced blocks (```` ``` ````) with their lines and indentation intact; inline
    ``<code>`` becomes backquotes; paragraphs, headings, block quotes and rules become blank-line breaks, list
    items ``- `` lines and ``<br>`` a line break; link and emphasis tags go, their text stays; character
    references are unescaped last, so ``&lt;div&gt;`` inside code is ``<div>`` in the output, never a tag.
    """
    expr = pl.col("b")
    for pattern, replacement in POST_RULES:
        expr = expr.str.replace_all(pattern, replacement)
    stripped = pl.DataFrame({"b": body}).select(strip_tags(expr).alias("b")).to_series()
    return pl.DataFrame({"b": unescape_entities(stripped)}).select(tidy_whitespace(pl.col("b"))).to_series()
