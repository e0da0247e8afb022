"""Wikipedia wikitext to plain text: links keep their anchor text; templates, tables, comments, references,
files and appendix sections go. Vectorized: nested templates, tables and links are removed innermost first,
one regex pass over the whole column per nesting level.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from dataprep.registry import register
from dataprep.step import Step
from filters.markup import strip_tags, tidy_whitespace, unescape_entities
from filters.text import first_reason

#: Headings of appendix sections, cut with everything after them (Wikipedia's Manual of Style puts them last,
#: in this order: See also, Notes, References, Further reading, External links). English and the sample
#: languages' usual names.
APPENDIX_HEADINGS = [
    "See also", "Notes", "References", "Further reading", "External links", "Bibliography", "Sources",
    "Footnotes", "Citations", "Notes and references",
    "Siehe auch", "Literatur", "Weblinks", "Einzelnachweise", "Anmerkungen",
    "Voir aussi", "Notes et références", "Références", "Liens externes", "Bibliographie",
    "Véase también", "Referencias", "Enlaces externos", "Bibliografía", "Notas",
    "См. также", "Примечания", "Литература", "Ссылки",
    "参见", "参考文献", "外部链接", "注释", "脚注", "関連項目", "外部リンク", "出典",
]
#: Link namespaces whose links are not text (media, categories), in the sample languages.
MEDIA_NAMESPACES = ["File", "Image", "Media", "Category", "Datei", "Bild", "Kategorie", "Fichier", "Catégorie",
                    "Archivo", "Imagen", "Categoría", "Файл", "Изображение", "Категория", "文件", "File", "分类",
                    "ファイル", "画像", "カテゴリ"]
#: Templates whose content is text, as WikiExtractor expands them: ``{{lang|fr|texte}}`` -> texte,
#: ``{{nowrap|x}}`` -> x, ``{{convert|5|km}}`` -> 5 km.
TEXT_TEMPLATES = r"(?i)\{\{\s*(?:lang(?:-[a-z]+)?\|[a-z-]+|nowrap|nobr|small|big|nihongo)\|([^{}|]*)(?:\|[^{}]*)?\}\}"
CONVERT_TEMPLATE = r"(?i)\{\{\s*(?:convert|cvt)\|([0-9.,]+)\|([^{}|]*)(?:\|[^{}]*)?\}\}"
DISAMBIGUATION = (r"(?i)\{\{\s*(?:disambiguation|disambig|dab|hndis|geodis|set index|begriffsklärung|"
                  r"homonymie|desambiguación|неоднозначность|消歧义|aimai)\s*[|}]")
MAX_NESTING = 12


def _innermost(col: pl.Series, pattern: str, replacement: str = "") -> pl.Series:
    """Replace ``pattern`` (which matches only innermost constructs) until no row matches, at most
    MAX_NESTING times: templates in templates, links in file captions, tables in tables."""
    for _ in range(MAX_NESTING):
        hit = col.str.contains(pattern).fill_null(False)
        if not hit.any():
            break
        col = col.str.replace_all(pattern, replacement)
    return col


def wikitext_to_text(text: pl.Series) -> pl.Series:
    """Plain text of wikitext (already-extracted text passes through unchanged but for white space)."""
    media = "|".join(MEDIA_NAMESPACES)
    appendix = "|".join(APPENDIX_HEADINGS)
    col = (pl.DataFrame({"t": text}).select(
        pl.col("t").str.replace_all("\r\n?", "\n")
        .str.replace_all(r"(?s)<!--.*?-->", "")
        .str.replace_all(r"(?is)<ref\b[^>]*/>", "")
        .str.replace_all(r"(?is)<(ref|gallery|timeline|imagemap|references|templatedata|score|syntaxhighlight)\b"
                         r"[^>]*>.*?</(?:ref|gallery|timeline|imagemap|references|templatedata|score|"
                         r"syntaxhighlight)>", "")
        .str.replace_all(r"(?i)__[A-Z]+__", "")
        .str.replace_all(rf"(?ms)^(==+)[ \t]*(?:{appendix})[ \t]*==+[ \t]*$.*", "")
        .str.replace_all(TEXT_TEMPLATES, "$1").str.replace_all(CONVERT_TEMPLATE, "$1 $2")
    ).to_series())
    col = _innermost(col, r"\{\{[^{}]*\}\}")                       # templates, innermost first
    col = _innermost(col, r"(?s)\{\|(?:[^{]|\{[^|])*?\|\}")         # tables (no nested table inside)
    plain_link = r"\[\[([^\[\]|:]*)\|([^\[\]]*)\]\]"
    col = _innermost(col, plain_link, "$2")                        # [[target|anchor]] -> anchor
    col = _innermost(col, r"\[\[([^\[\]|:]*)\]\]", "$1")           # [[target]] -> target
    col = _innermost(col, rf"(?i)\[\[\s*(?:{media})\s*:[^\[\]]*\]\]")  # files and categories, captions included
    col = _innermost(col, r"\[\[[a-z-]{2,12}:[^\[\]]*\]\]")        # interlanguage links
    col = _innermost(col, r"\[\[[^\[\]|]*\|([^\[\]]*)\]\]", "$1")   # other namespaces with an anchor
    col = _innermost(col, r"\[\[([^\[\]]*)\]\]", "$1")
    col = pl.DataFrame({"t": col}).select(strip_tags(
        pl.col("t")
        .str.replace_all(r"\[(?:https?:)?//[^\s\]]+\s+([^\]]*)\]", "$1")   # [http://x label] -> label
        .str.replace_all(r"\[(?:https?:)?//[^\s\]]+\]", "")
        .str.replace_all(r"'{2,5}", "")
        .str.replace_all(r"(?m)^(=+)[ \t]*(.*?)[ \t]*=+[ \t]*$", "$2")
        .str.replace_all(r"(?m)^[*#]+[ \t]*", "- ")
        .str.replace_all(r"(?m)^[:;]+[ \t]*", "")
        .str.replace_all(r"(?m)^-{4,}[ \t]*$", "")
        .str.replace_all(r"(?i)<br\s*/?>", "\n")
        .str.replace_all(r" ?\(\s*[,;]?\s*\)", "")                        # "()" left by a removed template
    )).to_series()
    col = unescape_entities(col)
    return pl.DataFrame({"t": col}).select(tidy_whitespace(pl.col("t").str.replace_all(r"[ \t]{2,}", " "))
                                           ).to_series()


@register
@dataclasses.dataclass
class WikiClean(Step):
    """Turn Wikipedia wikitext into plain text and drop redirects, disambiguation and non-article pages.

    Source: LLaMA (Touvron et al. 2023, section 2.1, "Wikipedia"): "We process the data to remove hyperlinks,
    comments and other formatting boilerplate". What goes and what stays follows WikiExtractor (Attardi),
    which RedPajama used: link markup goes and the anchor text stays; templates go except a few that carry
    text (``lang``, ``nowrap``, ``convert``); tables, ``<ref>`` references, comments, files, categories,
    interlanguage links and the appendix sections (See also, Notes, References, Further reading, External
    links: :data:`APPENDIX_HEADINGS`) go; headings stay as lines. Text that is already extracted passes
    through unchanged but for white space. Reads ``meta.ns`` and ``meta.redirect`` when the ``mediawiki``
    reader set them. Rejects: ``redirect``, ``not_article`` (a namespace not in ``namespaces``),
    ``disambiguation`` (with ``drop_disambiguation``), ``empty_after_cleanup``. Adds ``wiki_removed_chars``.
    """

    name = "wiki_clean"
    namespaces: list[int] = dataclasses.field(default_factory=lambda: [0])
    drop_disambiguation: bool = True

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        meta = pl.col("meta").fill_null("{}")
        before = df.select(pl.col("text").str.len_chars()).to_series()
        out = df.with_columns(
            (meta.str.json_path_match("$.redirect").is_not_null()
             | pl.col("text").str.contains(r"(?i)^\s*#(?:redirect|weiterleitung|redirection|redirección|"
                                           r"перенаправление|重定向|転送)\b")).alias("_redirect"),
            meta.str.json_path_match("$.ns").cast(pl.Int64, strict=False).alias("_ns"),
            pl.col("text").str.contains(DISAMBIGUATION).alias("_disambiguation"),
        )
        cleaned = wikitext_to_text(out.get_column("text"))
        return out.with_columns(cleaned.alias("text"), (before - cleaned.str.len_chars()).alias("wiki_removed_chars"))

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return first_reason([
            (pl.col("_redirect"), "redirect"),
            (pl.col("_ns").is_not_null() & ~pl.col("_ns").is_in(self.namespaces), "not_article"),
            (pl.lit(self.drop_disambiguation) & pl.col("_disambiguation"), "disambiguation"),
            (pl.col("text").str.strip_chars() == "", "empty_after_cleanup"),
        ])

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        return {"chars_removed": int(annotated.get_column("wiki_removed_chars").sum() or 0)}
