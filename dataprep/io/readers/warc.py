"""WARC files (``format: warc``; ``.warc``, plain or gzip, one member per record or not): one document per
HTML page of a crawl, its main text (:mod:`dataprep.io.readers.pages` extracts it), its URL, fetch date, HTTP
status and content type in ``meta``.

Which WARC records are documents: ``response`` and ``resource`` records. ``warcinfo``, ``request``,
``metadata`` and ``revisit`` records carry no page and are skipped (counted in no total: they are not
documents). A response that is not an HTML page (an image, a PDF, a redirect, an error status) is quarantined
with kind ``not_html`` or ``http_status`` and its details, so a user sees what a crawl held; a page whose
extraction leaves no text is rejected by the ``read`` step as ``empty``. A record the file ends inside (a cut
download) is quarantined as ``truncated_record``; a damaged stream (bad gzip, bad record header) quarantines
the rest of the file as ``corrupt_stream``. Needs fastwarc (the ``html`` extra).

Bounds (:mod:`dataprep.io.readers.pages`): a record's payload is read at most ``max_page_bytes`` (+1) bytes far;
an HTML page over it is quarantined as ``too_long``, one nested deeper than ``max_depth`` as ``too_deep``, each
naming the record's number and URL, before any extractor runs. ``meta.extractor`` says what produced the text
(``trafilatura``, ``resiliparse`` or ``fallback``: the page's ``<article>``/``<p>`` text when the extractor found
none).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dataprep.io.readers.base import Chunk, DocBatch, Format, Quarantine, ReadOptions, register
from dataprep.io.readers.pages import PAGE_OPTIONS, PageReader, decode_html, need_module, page_reader

if TYPE_CHECKING:
    from fastwarc.warc import WarcRecord

#: how many pages one chunk holds before it is passed on (bounded memory whatever the WARC size)
BATCH_PAGES = 2000
HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_warc(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """Documents from one WARC file (plain or gzip, one member per record or not), ``BATCH_PAGES`` at a time."""
    quarantine = Quarantine(opts.source, rel)
    warc = need_module("fastwarc.warc")
    reader = page_reader(opts)
    pages = DocBatch(opts.source)
    types = warc.WarcRecordType.response | warc.WarcRecordType.resource
    index = 0
    with open(path, "rb") as fh:
        try:
            for record in warc.ArchiveIterator(fh, record_types=types, parse_http=True):
                index += 1
                _warc_record(record, index, rel, reader, pages, quarantine)
                if len(pages) >= BATCH_PAGES:
                    yield Chunk(pages.take(), quarantine.take())
        except Exception as exc:  # noqa: BLE001 - fastwarc raises its own types on damaged streams
            quarantine.add("corrupt_stream", f"damaged WARC stream after record {index}: {exc}", None, row=index)
    yield Chunk(pages.take(), quarantine.take())


def _warc_record(record: WarcRecord, index: int, rel: str, reader: PageReader, pages: DocBatch,
                 quarantine: Quarantine) -> None:
    headers = record.headers
    url = headers.get("WARC-Target-URI")
    rid = (record.record_id or "").strip("<>") or f"{rel}#{index}"
    date = headers.get("WARC-Date")
    body = record.reader.read(reader.max_page_bytes + 1)  # the iterator skips what is left unread
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
    too_long = len(body) > reader.max_page_bytes
    if not too_long and len(body) < record.content_length:  # the file ends inside this record (a cut download)
        quarantine.add("truncated_record", f"{where}: {len(body):,} of {record.content_length:,} bytes; the file "
                                           "ends inside the record", body, row=index)
        return
    if status is not None and status != 200:
        quarantine.add("http_status", f"{where}: HTTP status {status}, not a page", body, row=index)
        return
    if ctype and ctype not in HTML_TYPES:
        quarantine.add("not_html", f"{where}: content type {ctype}, not HTML", body, row=index)
        return
    if too_long:
        quarantine.add("too_long", f"{where}: more than {reader.max_page_bytes:,} bytes of HTML (record of "
                                   f"{record.content_length:,} bytes), over the limit of {reader.max_page_bytes:,} "
                                   "(reader option max_page_bytes); not extracted", body, row=index)
        return
    problem = reader.problem(body)
    if problem is not None:
        quarantine.add(problem[0], f"{where}: {problem[1]}", body, row=index)
        return
    try:
        text, produced_by = reader.text(decode_html(body, charset))
    except Exception as exc:  # noqa: BLE001 - a parser failure on one page must not end the run
        quarantine.add("html_error", f"{where}: extraction failed: {exc}", body, row=index)
        return
    meta["extractor"] = produced_by
    pages.add(rid, text, meta)


register(Format("warc", read_warc, extensions=(".warc",), options=PAGE_OPTIONS))
