"""URL filtering of web pages as RefinedWeb does it (Penedo et al. 2023, appendix G.1): a domain block-list,
scoring of the words in the URL, and the exclusion of domains that curated sources of the mix already cover.

All rules are polars expressions over the batch's URLs (host suffixes looked up in hash sets; URL words
matched as list elements; sub-words found with one Aho-Corasick pass).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl

from dataprep.registry import register
from dataprep.step import Step
from filters.text import first_reason

#: Hard words: a URL with one of them as a whole word is rejected. A short starter list written for this
#: project (RefinedWeb's curated list is not public); give ``banned_words_file`` for a full one.
BANNED_WORDS = ["porn", "porno", "xxx", "sex", "nude", "nudes", "hentai", "milf", "escort", "escorts",
                "camgirl", "camgirls", "nsfw", "erotic", "fetish", "bdsm", "casino", "viagra"]
#: Sub-words: rejected wherever they occur in the URL with punctuation removed (``freepornvideos``).
BANNED_SUBWORDS = ["porn", "xxx", "hentai", "camgirl", "xvideo", "onlyfans"]
#: Soft words: harmless alone, rejected when ``soft_word_threshold`` of them occur together.
SOFT_WORDS = ["adult", "hot", "sexy", "girls", "babes", "teen", "teens", "dating", "cam", "cams", "live", "chat",
              "naked", "strip", "bet", "betting", "poker", "slots", "webcam", "singles", "hookup", "lingerie"]
#: Domains of curated sources in a LLaMA-style mix, so web pages do not duplicate them (RefinedWeb G.1.3
#: excludes the domains of its curated corpora the same way).
CURATED_DOMAINS = ["wikipedia.org", "wikimedia.org", "arxiv.org", "github.com", "stackexchange.com",
                   "stackoverflow.com", "gutenberg.org"]
MAX_LABELS = 8
HOST_RE = r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^@/?#]*@)?([^/:?#]+)"


def _read_list(path: str | None) -> list[str]:
    """One entry per line; ``#`` comments and blank lines skipped (the UT1 ``domains`` files read as-is)."""
    return _read_column(path).to_list()


def _read_column(path: str | None) -> pl.Series:
    """:func:`_read_list` as a polars Series, read without a per-line Python loop (UT1's list has 4.6M lines)."""
    if not path or Path(path).stat().st_size == 0:
        return pl.Series([], dtype=pl.String)
    lines = pl.read_csv(path, has_header=False, new_columns=["line"], separator="\x1f", quote_char=None,
                        encoding="utf8-lossy", schema_overrides={"line": pl.String}).get_column("line")
    lines = lines.str.strip_chars()
    return lines.filter((lines != "") & ~lines.str.starts_with("#")).str.to_lowercase()


def host_expr(url: pl.Expr) -> pl.Expr:
    """The URL's host name, lower case, without a trailing dot."""
    return url.str.extract(HOST_RE, 1).str.to_lowercase().str.strip_chars_end(".")


def _domain_set(domains: pl.Series) -> pl.Series:
    """A list of domains as :func:`_on_list` searches it: distinct, sorted once."""
    domains = domains.str.strip_chars(".").sort()
    return domains.filter((domains != domains.shift(1)).fill_null(True))  # sorted, so copies are adjacent


def _on_list(hosts: pl.Series, domains: pl.Series) -> pl.Series:
    """True where the host or one of its parent domains is in ``domains`` (sorted, from :func:`_domain_set`).

    A binary search of the sorted list per candidate suffix (vectorized ``search_sorted``), so a 4.6M-domain
    list costs a lookup per row, not a hash table per batch."""
    hit = pl.Series(np.zeros(len(hosts), dtype=bool))
    if domains.is_empty() or hosts.is_empty():
        return hit
    last = len(domains) - 1
    for k in range(MAX_LABELS):
        suffix = hosts.str.extract(rf"((?:[^.]+\.){{{k}}}[^.]+)$", 1)
        if suffix.null_count() == len(suffix):
            break
        at = domains.search_sorted(suffix.fill_null(""), side="left").clip(0, last)
        hit = hit | (domains.gather(at) == suffix).fill_null(False)
    return hit


@register
@dataclasses.dataclass
class URLFilter(Step):
    """Reject web pages by URL: blocked domains, banned words and sub-words, co-occurring soft words, and
    domains of the mix's curated sources.

    Source: RefinedWeb (Penedo et al. 2023), appendix G.1: G.1.1 a block-list of 4.6M domains (the UT1
    lists; give one as ``blocklist_file``, one domain per line); G.1.2 URL scoring by words of graded severity:
    a hard word rejects, soft words reject only in numbers (``soft_word_threshold`` 2, as datatrove's
    implementation of RefinedWeb's rule), banned sub-words reject wherever they occur; G.1.3 exclusion of the
    curated sources' domains (:data:`CURATED_DOMAINS`: Wikipedia, arXiv, GitHub, StackExchange, Gutenberg).
    The word lists here are short starter lists written for this project; ``*_file`` parameters add full
    ones. The URL comes from ``meta.<url_field>`` (the WARC reader's ``url``); a page without one passes and
    is counted (``no_url``). Adds ``url_domain``.
    """

    name = "url_filter"
    path_params = ("blocklist_file", "banned_words_file", "soft_words_file")
    url_field: str = "url"
    blocklist_file: str | None = None
    blocked_domains: list[str] = dataclasses.field(default_factory=list)
    exclude_domains: list[str] = dataclasses.field(default_factory=lambda: list(CURATED_DOMAINS))
    banned_words: list[str] = dataclasses.field(default_factory=lambda: list(BANNED_WORDS))
    banned_words_file: str | None = None
    banned_subwords: list[str] = dataclasses.field(default_factory=lambda: list(BANNED_SUBWORDS))
    soft_words: list[str] = dataclasses.field(default_factory=lambda: list(SOFT_WORDS))
    soft_words_file: str | None = None
    soft_word_threshold: int = 2

    def __post_init__(self) -> None:
        self._blocked = _domain_set(pl.concat([pl.Series([d.lower() for d in self.blocked_domains], dtype=pl.String),
                                               _read_column(self.blocklist_file)]))
        self._curated = _domain_set(pl.Series([d.lower() for d in self.exclude_domains], dtype=pl.String))
        self._hard = pl.Series(sorted({w.lower() for w in self.banned_words} | set(_read_list(self.banned_words_file))),
                               dtype=pl.String)
        self._soft = pl.Series(sorted({w.lower() for w in self.soft_words} | set(_read_list(self.soft_words_file))),
                               dtype=pl.String)

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        url = pl.col("meta").fill_null("{}").str.json_path_match(f"$.{self.url_field}")
        out = df.with_columns(url.alias("_url"))
        out = out.with_columns(host_expr(pl.col("_url")).alias("url_domain"))
        hosts = out.get_column("url_domain")
        words = pl.col("_url").str.to_lowercase().str.extract_all(r"[a-z0-9]+").list.unique()
        flat = pl.col("_url").str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "")
        subwords = [w.lower() for w in self.banned_subwords]
        return out.with_columns(
            _on_list(hosts, self._blocked).alias("_blocked"),
            _on_list(hosts, self._curated).alias("_curated"),
            words.list.eval(pl.element().is_in(self._hard.implode())).list.any().fill_null(False).alias("_hard"),
            (flat.str.contains_any(subwords).fill_null(False) if subwords else pl.lit(False)).alias("_subword"),
            words.list.eval(pl.element().is_in(self._soft.implode())).list.sum().fill_null(0).alias("_soft"),
        )

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return first_reason([
            (pl.col("_blocked"), "blocked_domain"),
            (pl.col("_curated"), "curated_source"),
            (pl.col("_hard"), "banned_word"),
            (pl.col("_subword"), "banned_subword"),
            (pl.col("_soft") >= self.soft_word_threshold, "soft_words"),
        ])

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        return {"no_url": int(annotated.get_column("_url").is_null().sum())}
