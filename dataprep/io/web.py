"""Web pages as documents: WARC files (``format: warc``) and raw HTML files (``format: html``).

Main text is extracted from each HTML page with trafilatura (``extractor: trafilatura``, the default) or
Resiliparse (``extractor: resiliparse``). ``benchmarks/html_extract.py`` measured both on the 48 sample pages
(word-level precision/recall against the text each page was built from): trafilatura F1 1.000, no page lost;
Resiliparse's main-content mode F1 0.898, dropping the lists of the main text so that 17% of pages lose over
half of it, but 15x faster (13,900 against 920 pages/s on one core). Quality decides the default; choose
``resiliparse`` where speed matters more (or ``main_content: false``: all visible text, F1 0.907). The
page's URL, fetch date, HTTP status and content type are kept in ``meta``.

Which WARC records are documents: ``response`` and ``resource`` records. ``warcinfo``, ``request``,
``metadata`` and ``revisit`` records carry no page and are skipped (counted in no total: they are not
documents). A response that is not an HTML page (an image, a PDF, a redirect, an error status) is quarantined
with kind ``not_html`` or ``http_status`` and its details, so a user sees what a crawl held; a page whose
extraction leaves no text is rejected by the ``read`` step as ``empty``. A record the file ends inside (a cut
download) is quarantined as ``truncated_record``; a damaged stream (bad gzip, bad record header) quarantines
the rest of the file as ``corrupt_stream``.

Both libraries are an optional extra: ``pip install -e '.[html]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from dataprep.errors import DataprepError
from dataprep.io.readers import DocBatch, read_all_bytes

#: how many pages one chunk holds before it is passed on (bounded memory whatever the WARC size)
BATCH_PAGES = 2000
HTML_TYPES = ("text/html", "application/xhtml+xml")
EXTRACTORS = ("resiliparse", "trafilatura")


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DataprepError(f"reading WARC/HTML needs {module.split('.')[0]}: pip install -e '.[html]'") from exc


def extractor(name: str = "trafilatura", main_content: bool = True) -> Callable[[str], str]:
    """A function from an HTML string to its main text, by ``name`` (trafilatura or resiliparse)."""
    if name == "resiliparse":
        html2text = _need("resiliparse.extract.html2text")

        def run(html: str) -> str:
            return html2text.extract_plain_text(html, main_content=main_content, alt_texts=False,
                                                comments=False, list_bullets=True).strip()
        return run
    if name == "trafilatura":
        traf = _need("trafilatura")
        import logging

        # an empty or broken page is an empty document (rejected by the read step), not a log line per page
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

        def run(html: str) -> str:
            out = traf.extract(html, include_comments=False, include_tables=True, deduplicate=False,
                               favor_recall=not main_content)
            return (out or "").strip()
        return run
    raise DataprepError(f"unknown extractor {name!r}: use one of {', '.join(EXTRACTORS)}")


def decode_html(raw: bytes, charset: str | None = None) -> str:
    """Bytes of a page as text: the HTTP charset when it decodes cleanly, else Resiliparse's detection
    (WHATWG encoding labels, ``<meta charset>`` included), else UTF-8 with replacement characters."""
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        enc = _need("resiliparse.parse.encoding")
        return enc.bytes_to_str(raw, enc.detect_encoding(raw))
    except DataprepError:
        return raw.decode("utf-8", errors="replace")


def read_warc(path: Path, rel: str, opts: Any, quarantine: Any, chunk: Callable[[pa.Table], Any]) -> Iterator[Any]:
    """Documents from one WARC file (plain or gzip, one member per record or not), ``BATCH_PAGES`` at a time."""
    warc = _need("fastwarc.warc")
    options = dict(opts.options)
    extract = extractor(options.get("extractor", "trafilatura"), options.get("main_content", True))
    pages = DocBatch(opts.source)
    types = warc.WarcRecordType.response | warc.WarcRecordType.resource
    index = 0
    with open(path, "rb") as fh:
        try:
            for record in warc.ArchiveIterator(fh, record_types=types, parse_http=True):
                index += 1
                _warc_record(record, index, rel, extract, pages, quarantine)
                if len(pages) >= BATCH_PAGES:
                    yield chunk(pages.take())
        except Exception as exc:  # noqa: BLE001 - fastwarc raises its own types on damaged streams
            quarantine.add("corrupt_stream", f"damaged WARC stream after record {index}: {exc}", None, row=index)
    yield chunk(pages.take())


def _warc_record(record: Any, index: int, rel: str, extract: Callable[[str], str], pages: DocBatch,
                 quarantine: Any) -> None:
    headers = record.headers
    url = headers.get("WARC-Target-URI")
    rid = (record.record_id or "").strip("<>") or f"{rel}#{index}"
    date = headers.get("WARC-Date")
    body = record.reader.read()
    if record.is_http:
        status = record.http_headers.status_code
        ctype = (record.http_content_type or "").lower()
        charset = record.http_charset
    else:  # a resource record: the block is the file itself
        status = None
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        charset = None
    meta = {"url": url, "date": date, "content_type": ctype or None, "status": status, "warc_record": index}
    where = f"record {index} ({url})"
    if len(body) < record.content_length:  # the file ends inside this record (a cut download)
        quarantine.add("truncated_record", f"{where}: {len(body):,} of {record.content_length:,} bytes; the file "
                                           "ends inside the record", body, row=index)
        return
    if status is not None and status != 200:
        quarantine.add("http_status", f"{where}: HTTP status {status}, not a page", body, row=index)
        return
    if ctype and ctype not in HTML_TYPES:
        quarantine.add("not_html", f"{where}: content type {ctype}, not HTML", body, row=index)
        return
    try:
        text = extract(decode_html(body, charset))
    except Exception as exc:  # noqa: BLE001 - a parser failure on one page must not end the run
        quarantine.add("html_error", f"{where}: extraction failed: {exc}", body, row=index)
        return
    pages.add(rid, text, meta)


def read_html(path: Path, rel: str, opts: Any, quarantine: Any, chunk: Callable[[pa.Table], Any]) -> Iterator[Any]:
    """One document per HTML file: its main text; ``meta.path`` is the file's name within the source."""
    options = dict(opts.options)
    extract = extractor(options.get("extractor", "trafilatura"), options.get("main_content", True))
    pages = DocBatch(opts.source)
    raw, error = read_all_bytes(path)
    if error:
        quarantine.add("corrupt_stream", error, raw)
    else:
        try:
            pages.add(f"{opts.source}/{rel}", extract(decode_html(raw)), {"path": rel})
        except Exception as exc:  # noqa: BLE001
            quarantine.add("html_error", f"extraction failed: {exc}", raw)
    yield chunk(pages.take())
