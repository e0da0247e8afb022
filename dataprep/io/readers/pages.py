"""The main text of an HTML page, for the WARC and HTML readers: the extractor that a source's options choose
(``extractor: trafilatura``, the default, or ``extractor: resiliparse``; ``main_content: false`` for all the
visible text instead of the main text), the page's charset, the bounds checked before any extractor runs, the
fallback for a page the extractor leaves empty, and the URL a page names for itself.

trafilatura keeps the main text more completely (the lists in it too); Resiliparse is much faster. Quality
decides the default; choose ``resiliparse`` where speed matters more. ``benchmarks/html_extract.py`` measures
both on the sample pages (results in ``docs/performance.md``). Both libraries are an optional extra:
``pip install -e '.[html]'``.

**Bounds before extraction** (:func:`page_problem`), so that one hostile or freak page costs a bounded time
and memory and is quarantined, naming its file (and record), instead of stalling a worker:

- ``max_page_bytes`` (reader option, default :data:`MAX_PAGE_BYTES`, 2 MiB): a longer page is quarantined as
  ``too_long`` unread by any extractor. Common Crawl truncates every capture at 1 MiB since 2013 (its notebook
  "Truncated Records in WARC Files"; a raise to 5 MiB is planned), so no crawled page is lost at 2 MiB, while
  trafilatura's time and memory grow faster than the page (a 200 MB page ran for minutes at 5 GB; measurements
  in ``docs/performance.md``). Raise it for local pages known to be large (single-page manuals).
- ``max_depth`` (reader option, default :data:`MAX_DEPTH`, 512): a page whose elements nest deeper is
  quarantined as ``too_deep``. 512 is the depth at which Chromium's HTML parser stops nesting
  (``HTMLConstructionSite::kMaximumHTMLParserDOMTreeDepth``, past which Chromium stops nesting elements);
  Resiliparse's extraction time grows super-linearly with depth (negligible at 512, minutes at 100,000 nested
  tags; ``docs/performance.md``). The depth is estimated by :func:`nesting_depth`, a scan of the tags
  (comments, scripts and styles blanked) that counts only elements whose end tag is required (void elements
  and elements with optional end tags, such as ``p``, ``li``, ``td``, WHATWG HTML section 13.1.2.4, cannot
  nest without bound in a parsed tree).

Both are deterministic: a per-document *time* limit (datatrove runs each extraction in a sandbox process with
a 1 s timeout) would keep or drop the same page depending on the machine's load, and so on the number of
workers; bytes and depth do not.

**Fallback** (reader option ``fallback``, default true): when the extractor returns no text (trafilatura
discards a page whose only paragraphs sit in an element it classifies as comments or page chrome, Resiliparse
one whose text is all in a sidebar), the text of the page's ``<article>`` elements, else of its ``<p>``
elements, one per line, is taken instead (:func:`simple_text`), so a tiny real page is not lost as ``empty``.
``meta.extractor`` says which produced the text: ``trafilatura``, ``resiliparse`` or ``fallback``.

**URL** (:func:`page_url`): the first absolute ``http(s)`` URL of ``<link rel=canonical>``, ``<meta
property=og:url>`` and ``<base href>``, in that order (the HTML reader's ``meta.url`` where no sidecar names
the file's URL; see :mod:`.html`).
"""

from __future__ import annotations

import dataclasses
import html as htmllib
import importlib
import logging
import re
from collections.abc import Callable
from types import ModuleType
from urllib.parse import urlsplit

import numpy as np

from dataprep.errors import DataprepError
from dataprep.io.readers.base import Option, ReadOptions

EXTRACTORS = ("resiliparse", "trafilatura")
#: see the module docstring: Common Crawl's 1 MiB capture limit, with room; trafilatura's super-linear cost
MAX_PAGE_BYTES = 2 << 20
#: see the module docstring: Chromium's kMaximumHTMLParserDOMTreeDepth
MAX_DEPTH = 512
#: the name of the text that no extractor but the fallback produced, in ``meta.extractor``
FALLBACK = "fallback"
#: the reader options of both page formats
PAGE_OPTIONS = {"extractor": Option(str, "trafilatura (default) | resiliparse", choices=EXTRACTORS),
                "main_content": Option(bool, "main text only (default true)"),
                "max_page_bytes": Option(int, f"longer pages are quarantined as too_long (default {MAX_PAGE_BYTES})"),
                "max_depth": Option(int, f"pages nested deeper are quarantined as too_deep (default {MAX_DEPTH})"),
                "fallback": Option(bool, "<article>/<p> text when the extractor finds none (default true)")}


def need_module(module: str) -> ModuleType:
    """Import ``module`` of the optional ``html`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DataprepError(f"reading WARC/HTML needs {module.split('.')[0]}: pip install -e '.[html]'") from exc


def extractor(name: str = "trafilatura", main_content: bool = True) -> Callable[[str], str]:
    """A function from an HTML string to its main text, by ``name`` (trafilatura or resiliparse)."""
    if name == "resiliparse":
        html2text = need_module("resiliparse.extract.html2text")

        def run(html: str) -> str:
            return html2text.extract_plain_text(html, main_content=main_content, alt_texts=False,
                                                comments=False, list_bullets=True).strip()
        return run
    if name == "trafilatura":
        traf = need_module("trafilatura")

        # an empty or broken page is an empty document (rejected by the read step), not a log line per page
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

        def run(html: str) -> str:
            out = traf.extract(html, include_comments=False, include_tables=True, deduplicate=False,
                               favor_recall=not main_content)
            return (out or "").strip()
        return run
    raise DataprepError(f"unknown extractor {name!r}: use one of {', '.join(EXTRACTORS)}")


@dataclasses.dataclass(frozen=True)
class PageReader:
    """What a source's reader options make of a page: the bounds checked on its bytes, then its text and the
    name of what produced it (see the module docstring)."""

    extract: Callable[[str], str]
    name: str
    max_page_bytes: int = MAX_PAGE_BYTES
    max_depth: int = MAX_DEPTH
    fallback: bool = True

    def problem(self, raw: bytes) -> tuple[str, str] | None:
        """``(quarantine kind, error)`` when the page's bytes must not reach the extractor, else None."""
        return page_problem(raw, self.max_page_bytes, self.max_depth)

    def text(self, html: str) -> tuple[str, str]:
        """The page's text and the extractor that produced it (``FALLBACK`` when the extractor found none)."""
        text = self.extract(html)
        if not text and self.fallback:
            simple = simple_text(html)
            if simple:
                return simple, FALLBACK
        return text, self.name


def page_reader(opts: ReadOptions) -> PageReader:
    """The :class:`PageReader` a source's reader options choose."""
    options = dict(opts.options)
    name = str(options.get("extractor", "trafilatura"))
    return PageReader(extractor(name, bool(options.get("main_content", True))), name,
                      int(options.get("max_page_bytes", MAX_PAGE_BYTES)), int(options.get("max_depth", MAX_DEPTH)),
                      bool(options.get("fallback", True)))


def page_extractor(opts: ReadOptions) -> Callable[[str], str]:
    """The extractor a source's reader options choose (text only: no bounds, no fallback)."""
    options = dict(opts.options)
    return extractor(options.get("extractor", "trafilatura"), options.get("main_content", True))


# ---- bounds ----------------------------------------------------------------------------------------------------

#: void elements and elements whose end tag may be omitted (WHATWG HTML 13.1.2 and 13.1.2.4): they never nest
#: without bound in a parsed tree, so the depth estimate does not count them
_NOT_NESTING = frozenset(
    "area base br col embed hr img input link meta source track wbr param keygen command basefont bgsound frame "
    "isindex image html head body p li dt dd option optgroup rb rt rtc rp tr td th thead tbody tfoot colgroup "
    "caption".split())
_OPAQUE_RE = re.compile(rb"<!--.*?(?:-->|\Z)|<(script|style|textarea|title)\b.*?(?:</\1\s*>|\Z)", re.S | re.I)
_TAG_RE = re.compile(rb"<(/?)([A-Za-z][A-Za-z0-9:-]*)(?:\s[^>]*?)?(/?)>")


def nesting_depth(raw: bytes) -> int:
    """An estimate of how deep a page's elements nest, from its bytes: the most elements with a required end
    tag open at once (each start tag opens one, each end tag closes one, never below zero; self-closed,
    void and optional-end elements are not counted; comments, scripts and styles are skipped). One regex pass
    plus a vectorized running sum."""
    body = _OPAQUE_RE.sub(b"", raw)
    steps = [0 if (name.lower().decode("ascii", "replace") in _NOT_NESTING or selfclose) else (-1 if close else 1)
             for close, name, selfclose in _TAG_RE.findall(body)]
    if not steps:
        return 0
    total = np.cumsum(np.asarray(steps, dtype=np.int64))
    # depth never goes below zero (a stray end tag closes nothing): d_i = S_i - min(0, min_{j<=i} S_j)
    depth = total - np.minimum.accumulate(np.minimum(total, 0))
    return int(depth.max())


def page_problem(raw: bytes, max_page_bytes: int = MAX_PAGE_BYTES, max_depth: int = MAX_DEPTH
                 ) -> tuple[str, str] | None:
    """``("too_long", error)`` for a page over ``max_page_bytes``, ``("too_deep", error)`` for one nested deeper
    than ``max_depth`` (:func:`nesting_depth`), else None; checked before any extractor sees the page."""
    if len(raw) > max_page_bytes:
        return "too_long", (f"{len(raw):,} bytes of HTML, over the limit of {max_page_bytes:,} "
                            "(reader option max_page_bytes); not extracted")
    if raw.count(b"<") > max_depth:  # fewer tags than the limit cannot nest deeper than it
        depth = nesting_depth(raw)
        if depth > max_depth:
            return "too_deep", (f"elements nested {depth:,} deep, over the limit of {max_depth:,} "
                                "(reader option max_depth); not extracted")
    return None


# ---- fallback ----------------------------------------------------------------------------------------------------

_SPACE_RE = re.compile(r"\s+")


def simple_text(html: str) -> str:
    """The text of a page's ``<article>`` elements, else of its ``<p>`` elements (inner white space collapsed,
    one element per line, empty ones left out): the fallback for a page its extractor leaves empty."""
    tree = need_module("resiliparse.parse.html").HTMLTree.parse(html)
    root = tree.body if tree.body is not None else tree.document
    for selector in ("article", "p"):
        lines = [_SPACE_RE.sub(" ", el.text).strip() for el in root.query_selector_all(selector)]
        lines = [line for line in lines if line]
        if lines:
            return "\n".join(lines)
    return ""


# ---- the URL a page names for itself ------------------------------------------------------------------------------

_HEAD_BYTES = 256 << 10  # the <link>, <meta> and <base> of a page's head are looked for in its first 256 KiB
_HEAD_TAG_RE = re.compile(r"<(link|meta|base)\b([^>]*)>", re.I)
_ATTR_RE = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""")


def absolute_http_url(value: str | None, entities: bool = True) -> str | None:
    """``value`` (spaces trimmed; character references decoded when ``entities``, as in an HTML attribute) when
    it is an absolute http or https URL with a host, else None."""
    if not value:
        return None
    url = (htmllib.unescape(value) if entities else value).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return None
    return url


def page_url(html: str) -> tuple[str | None, str | None]:
    """``(url, where)``: the first absolute http(s) URL among the page's ``<link rel=canonical href>``
    (``where`` = ``canonical``), ``<meta property=og:url content>`` (``og:url``) and ``<base href>``
    (``base``), in that order of preference; ``(None, None)`` when it names none."""
    head = html[:_HEAD_BYTES]
    end = head.lower().find("</head")
    if end >= 0:
        head = head[:end]
    found: dict[str, str] = {}
    for tag, attrs in _HEAD_TAG_RE.findall(head):
        values: dict[str, str] = {}
        for name, dq, sq, bare in _ATTR_RE.findall(attrs):
            values.setdefault(name.lower(), dq or sq or bare)
        tag = tag.lower()
        if tag == "link" and "canonical" in values.get("rel", "").lower().split():
            kind, url = "canonical", absolute_http_url(values.get("href"))
        elif tag == "meta" and values.get("property", values.get("name", "")).strip().lower() == "og:url":
            kind, url = "og:url", absolute_http_url(values.get("content"))
        elif tag == "base":
            kind, url = "base", absolute_http_url(values.get("href"))
        else:
            continue
        if url is not None:
            found.setdefault(kind, url)
    for kind in ("canonical", "og:url", "base"):
        if kind in found:
            return found[kind], kind
    return None, None


def decode_html(raw: bytes, charset: str | None = None) -> str:
    """Bytes of a page as text: the HTTP charset when it decodes cleanly, else Resiliparse's detection
    (WHATWG encoding labels, ``<meta charset>`` included), else UTF-8 with replacement characters."""
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        enc = need_module("resiliparse.parse.encoding")
        return enc.bytes_to_str(raw, enc.detect_encoding(raw))
    except DataprepError:
        return raw.decode("utf-8", errors="replace")
