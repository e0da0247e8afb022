"""The main text of an HTML page, for the WARC and HTML readers: the extractor that a source's options choose
(``extractor: trafilatura``, the default, or ``extractor: resiliparse``; ``main_content: false`` for all the
visible text instead of the main text) and the page's charset.

trafilatura keeps the main text more completely (the lists in it too); Resiliparse is much faster. Quality
decides the default; choose ``resiliparse`` where speed matters more. ``benchmarks/html_extract.py`` measures
both on the sample pages (results in ``docs/performance.md``). Both libraries are an optional extra:
``pip install -e '.[html]'``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType

from dataprep.errors import DataprepError
from dataprep.io.readers.base import Option, ReadOptions

EXTRACTORS = ("resiliparse", "trafilatura")
#: the reader options of both page formats
PAGE_OPTIONS = {"extractor": Option(str, "trafilatura (default) | resiliparse", choices=EXTRACTORS),
                "main_content": Option(bool, "main text only (default true)")}


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


def page_extractor(opts: ReadOptions) -> Callable[[str], str]:
    """The extractor a source's reader options choose."""
    options = dict(opts.options)
    return extractor(options.get("extractor", "trafilatura"), options.get("main_content", True))


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
