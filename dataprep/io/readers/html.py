"""Raw HTML files (``format: html``; ``.html``, ``.htm``): one document per file, its main text
(:mod:`dataprep.io.readers.pages` extracts it); ``meta.path`` is the file's name within the source. A page
whose extraction fails is quarantined (``html_error``); one that leaves no text is rejected by the ``read``
step as ``empty``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dataprep.io.readers.base import Chunk, DocBatch, Format, Quarantine, ReadOptions, register
from dataprep.io.readers.pages import PAGE_OPTIONS, decode_html, page_extractor
from dataprep.io.readers.streams import read_all_bytes


def read_html(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """One document per HTML file: its main text; ``meta.path`` is the file's name within the source."""
    quarantine = Quarantine(opts.source, rel)
    extract = page_extractor(opts)
    pages = DocBatch(opts.source)
    raw, error = read_all_bytes(path)
    if error:
        quarantine.add("corrupt_stream", error, raw)
    else:
        try:
            pages.add(f"{opts.source}/{rel}", extract(decode_html(raw)), {"path": rel})
        except Exception as exc:  # noqa: BLE001
            quarantine.add("html_error", f"extraction failed: {exc}", raw)
    yield Chunk(pages.take(), quarantine.take())


register(Format("html", read_html, extensions=(".html", ".htm"), options=PAGE_OPTIONS))
