"""arXiv LaTeX sources as training text, as LLaMA prepared them: no preamble, no bibliography, no comments,
user macros expanded inline, math kept as LaTeX.

Comments, the preamble cut and the bibliography cut are polars expressions over the whole column. Macro
expansion needs a brace-matching parser and each paper has its own macros, so it runs per paper in Python,
and only on papers that define a macro (``benchmarks/cleaners.py`` measures the rate).
"""

from __future__ import annotations

import dataclasses
import re

import polars as pl

from dataprep.registry import register
from dataprep.step import Step
from filters.markup import tidy_whitespace
from filters.text import first_reason

#: Where the body starts: the first sectioning command (RedPajama's arXiv cleaner drops what precedes the first
#: ``\section``; a thesis starts with ``\chapter``).
FIRST_SECTION = r"\\(?:chapter|section)\*?\s*[\[{]"
#: Where the tail starts: the bibliography (and anything after it, appendices included, as LLaMA's recipe).
BIBLIOGRAPHY = (r"\\begin\s*\{thebibliography\}|\\bibliographystyle\s*\{|\\bibliography\s*\{|\\printbibliography"
                r"|\\end\s*\{document\}")
DEFINITION = re.compile(
    r"\\(?P<cmd>newcommand|renewcommand|providecommand)\*?\s*(?:\{\s*\\(?P<n1>[A-Za-z@]+)\s*\}|\\(?P<n2>[A-Za-z@]+))"
    r"\s*(?:\[(?P<nargs>\d)\])?\s*(?:\[(?P<opt>[^\]]*)\])?\s*\{"
    r"|\\(?:def|gdef|edef)\s*\\(?P<n3>[A-Za-z@]+)\s*(?P<params>(?:#\d)*)\s*\{"
    r"|\\DeclareMathOperator(?P<star>\*?)\s*\{\s*\\(?P<n4>[A-Za-z@]+)\s*\}\s*\{")
#: Commands a paper may redefine for layout but that must stay commands (the section cut and the structure
#: depend on them).
PROTECTED = frozenset("section subsection subsubsection chapter paragraph part begin end item label ref cite "
                      "caption title author emph textbf textit footnote url href includegraphics input include "
                      "bibliography documentclass usepackage maketitle".split())
MAX_EXPANSION_ROUNDS = 5


def _group(text: str, start: int) -> int:
    """Index just past the brace group opening at ``text[start] == '{'`` (escaped braces skipped), or -1."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def parse_macros(text: str) -> tuple[str, dict[str, tuple[int, str | None, str]]]:
    """Take the macro definitions out of ``text``: (text without them, name -> (arguments, default of an
    optional first argument, body))."""
    macros: dict[str, tuple[int, str | None, str]] = {}
    out: list[str] = []
    pos = 0
    for m in DEFINITION.finditer(text):
        if m.start() < pos:
            continue
        end = _group(text, m.end() - 1)
        if end < 0:
            continue
        body = text[m.end():end - 1]
        name = m.group("n1") or m.group("n2") or m.group("n3") or m.group("n4")
        if m.group("n4"):
            nargs, opt = 0, None
            body = f"\\operatorname{'*' if m.group('star') else ''}{{{body}}}"
        elif m.group("n3"):
            nargs, opt = len(m.group("params") or "") // 2, None
        else:
            nargs, opt = int(m.group("nargs") or 0), m.group("opt")
        out.append(text[pos:m.start()])
        pos = end
        if name in PROTECTED or m.group("cmd") == "providecommand" and name in macros:
            continue
        macros[name] = (nargs, opt, body)
    out.append(text[pos:])
    return "".join(out), macros


def _arguments(text: str, i: int, nargs: int, opt: str | None) -> tuple[list[str], int] | None:
    """The ``nargs`` arguments of a macro used at ``text[i:]`` (brace groups or single tokens)."""
    args: list[str] = []
    if opt is not None:
        j = i
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "[":
            k = text.find("]", j)
            if k < 0:
                return None
            args.append(text[j + 1:k])
            i = k + 1
        else:
            args.append(opt)
    while len(args) < nargs:
        while i < len(text) and text[i] in " \t\n":
            i += 1
        if i >= len(text):
            return None
        if text[i] == "{":
            end = _group(text, i)
            if end < 0:
                return None
            args.append(text[i + 1:end - 1])
            i = end
        elif text[i] == "\\":
            m = re.match(r"\\(?:[A-Za-z@]+|.)", text[i:])
            args.append(m.group(0) if m else text[i])
            i += len(args[-1])
        else:
            args.append(text[i])
            i += 1
    return args, i


def expand_macros(text: str, macros: dict[str, tuple[int, str | None, str]]) -> str:
    """Replace every use of a user macro by its body with the arguments substituted (macros inside bodies are
    expanded too, up to MAX_EXPANSION_ROUNDS deep)."""
    if not macros:
        return text
    use = re.compile(r"\\(" + "|".join(sorted(map(re.escape, macros), key=len, reverse=True)) + r")(?![A-Za-z@])")
    for _ in range(MAX_EXPANSION_ROUNDS):
        out: list[str] = []
        pos = 0
        changed = False
        for m in use.finditer(text):
            if m.start() < pos:
                continue
            nargs, opt, body = macros[m.group(1)]
            end = m.end()
            if nargs:
                parsed = _arguments(text, end, nargs, opt)
                if parsed is None:
                    continue
                args, end = parsed
                body = re.sub(r"#([1-9])", lambda g, a=args: a[int(g.group(1)) - 1] if int(g.group(1)) <= len(a)
                              else g.group(0), body)
            elif end < len(text) and text[end] == " " and body[-1:].isalpha():
                end += 1  # "\name text": TeX eats the space after a control word
                body += " "
            out.append(text[pos:m.start()])
            out.append(body)
            pos = end
            changed = True
        out.append(text[pos:])
        text = "".join(out)
        if not changed:
            break
    return text


@register
@dataclasses.dataclass
class LatexClean(Step):
    """Clean arXiv LaTeX: drop the preamble (everything before the first ``\\section``), the bibliography and
    what follows it, and comments; expand user macros (``\\newcommand``, ``\\renewcommand``, ``\\def``,
    ``\\DeclareMathOperator``, with arguments and optional defaults) inline; keep math.

    Source: LLaMA (Touvron et al. 2023, section 2.1, "ArXiv"): "We removed everything before the first section,
    as well as the bibliography. We also removed the comments from the .tex files, and inline-expanded
    definitions and macros written by users to increase consistency across papers"; the patterns follow
    RedPajama's reproduction (which expands macros without arguments only; this step also expands those with
    arguments). Papers come from ``format: latex`` (a folder, a ``.tex`` or an arXiv archive per paper).
    Rejects ``no_section`` (LLaMA's rule keeps nothing of a paper without one) and ``empty_after_cleanup``.
    Adds ``latex_macros`` (how many the paper defined); counters of papers and macros expanded.
    """

    name = "latex_clean"
    expand: bool = True

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        text = (pl.col("text").str.replace_all("\r\n?", "\n")
                .str.replace_all(r"(?s)\\begin\s*\{comment\}.*?\\end\s*\{comment\}", "")
                .str.replace_all(r"(?m)^[ \t]*%.*\n", "")          # whole-line comments, line and all
                .str.replace_all(r"(?m)(^|[^\\])%.*$", "$1"))       # end-of-line comments (not \%)
        out = df.with_columns(text.alias("text"), pl.lit(0, pl.Int64).alias("latex_macros"))
        if self.expand:
            has = out.get_column("text").str.contains(r"\\(?:newcommand|renewcommand|providecommand|def|gdef|edef|"
                                                      r"DeclareMathOperator)\b").fill_null(False)
            if has.any():
                rows = out.filter(has)
                texts, counts = [], []
                for t in rows.get_column("text").to_list():
                    stripped, macros = parse_macros(t)
                    texts.append(expand_macros(stripped, macros))
                    counts.append(len(macros))
                idx = has.arg_true()
                out = out.with_columns(out.get_column("text").scatter(idx, pl.Series(texts, dtype=pl.String)),
                                       out.get_column("latex_macros").scatter(idx, pl.Series(counts, dtype=pl.Int64)))
        body = pl.col("text").str.extract(rf"(?s)((?:{FIRST_SECTION}).*)", 1)
        out = out.with_columns(body.is_null().alias("_no_section"), body.fill_null("").alias("text"))
        body = pl.col("text").str.replace(rf"(?s)(?:{BIBLIOGRAPHY}).*", "")
        return out.with_columns(tidy_whitespace(body).alias("text"))

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return first_reason([
            (pl.col("_no_section"), "no_section"),
            (pl.col("text").str.strip_chars() == "", "empty_after_cleanup"),
        ])

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        return {"papers_with_macros": int((annotated.get_column("latex_macros") > 0).sum()),
                "macros_defined": int(annotated.get_column("latex_macros").sum() or 0)}
