"""Raw HTML files (``format: html``; ``.html``, ``.htm``): one document per file, its main text
(:mod:`dataprep.io.readers.pages` extracts it). ``meta`` holds:

- ``path``: the file's name within the source;
- ``url`` and ``url_from`` where the page's URL is known, so that ``url_filter`` and per-host steps can act on
  HTML files as on WARC records: from the folder's **sidecar** (below) if it names the file, else from the
  page itself (:func:`.pages.page_url`: ``<link rel=canonical>``, then ``<meta property=og:url>``, then
  ``<base href>``; only absolute ``http(s)`` URLs). ``url_from`` is ``sidecar``, ``canonical``, ``og:url`` or
  ``base``. A sidecar wins over the page: it records where the file was fetched, as a WARC's target URI does,
  while a page's canonical link is what the page claims;
- ``extractor``: what produced the text (``trafilatura``, ``resiliparse``, or ``fallback`` when the extractor
  found none and the page's ``<article>``/``<p>`` text was taken, see :mod:`.pages`).

**Sidecar**: a file named ``urls.jsonl`` or ``urls.tsv`` in the same folder as the pages maps their file names
(the name alone, no folder) to URLs::

    urls.jsonl   {"file": "000-home.html", "url": "https://example.org/"}      one object per line
    urls.tsv     000-home.html<TAB>https://example.org/                         one pair per line

``urls.jsonl`` is read first, then ``urls.tsv`` (an entry of the first wins); empty lines, lines starting with
``#`` (TSV), lines that do not parse and URLs that are not absolute ``http(s)`` are skipped. The sidecar is read
once per folder and worker (the last :data:`SIDECAR_CACHE` folders are kept; each sidecar at most
:data:`MAX_SIDECAR_BYTES`, a longer one is not used). A sidecar is metadata, not a page: when a source's glob
hands one to this reader (``pages/*``), it yields no document for it. (A folder source with ``format: html``
does not list ``urls.jsonl`` at all: its extension is another format's.)

**Bounds**: the file is read at most ``max_page_bytes`` (+1) bytes far; a longer page is quarantined as
``too_long``, one nested deeper than ``max_depth`` as ``too_deep``, both before any extractor runs (see
:mod:`.pages`). A page whose extraction fails is quarantined (``html_error``); one that leaves no text even after
the fallback is rejected by the ``read`` step as ``empty``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path

from dataprep.io.readers.base import Chunk, DocBatch, Format, Quarantine, ReadOptions, register
from dataprep.io.readers.pages import PAGE_OPTIONS, absolute_http_url, decode_html, page_reader, page_url
from dataprep.io.readers.streams import open_stream

#: the sidecar files, in the order they are read (module docstring)
SIDECARS = ("urls.jsonl", "urls.tsv")
#: sidecars kept parsed per worker: pages are read folder by folder, so a few suffice
SIDECAR_CACHE = 4
#: a sidecar larger than this is not used: about two million entries, a few hundred MB parsed
MAX_SIDECAR_BYTES = 256 << 20
_BLOCK = 1 << 20


def read_html(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """One document per HTML file: its main text, with the meta described in the module's docstring."""
    quarantine = Quarantine(opts.source, rel)
    pages = DocBatch(opts.source)
    if path.name in SIDECARS:  # the folder's URL mapping, not a page
        yield Chunk(pages.take(), quarantine.take())
        return
    reader = page_reader(opts)
    raw, size, error = _read_bounded(path, reader.max_page_bytes)
    if error:
        quarantine.add("corrupt_stream", f"{rel}: {error}", raw)
    elif size > reader.max_page_bytes:
        quarantine.add("too_long", f"{rel}: {'more than ' if size == len(raw) else ''}{size:,} bytes of HTML, over "
                                   f"the limit of {reader.max_page_bytes:,} (reader option max_page_bytes); "
                                   "not extracted", raw)
        quarantine.rows[-1]["raw_bytes"] = size
    elif (problem := reader.problem(raw)) is not None:
        quarantine.add(problem[0], f"{rel}: {problem[1]}", raw)
    else:
        try:
            html = decode_html(raw)
            text, produced_by = reader.text(html)
            meta: dict[str, object] = {"path": rel, "extractor": produced_by}
            url, where = _sidecar_url(path), "sidecar"
            if url is None:
                url, where = page_url(html)
            if url is not None:
                meta.update(url=url, url_from=where)
            pages.add(f"{opts.source}/{rel}", text, meta)
        except Exception as exc:  # noqa: BLE001
            quarantine.add("html_error", f"{rel}: extraction failed: {exc}", raw)
    yield Chunk(pages.take(), quarantine.take())


def _read_bounded(path: Path, limit: int) -> tuple[bytes, int, str | None]:
    """At most ``limit + 1`` bytes of a (possibly compressed) file: ``(bytes, size, stream error)``; ``size``
    is the file's whole size where it is known without reading on (an uncompressed file), else the bytes read."""
    parts: list[bytes] = []
    got = 0
    try:
        with open_stream(path) as stream:
            while got <= limit:
                data = stream.read(min(_BLOCK, limit + 1 - got))
                if not data:
                    break
                parts.append(data)
                got += len(data)
    except OSError as exc:
        return b"".join(parts), got, str(exc)
    raw = b"".join(parts)
    if got > limit and path.suffix.lower() in (".html", ".htm"):
        try:
            return raw, max(got, os.stat(path).st_size), None
        except OSError:
            pass
    return raw, got, None


def _sidecar_url(path: Path) -> str | None:
    """The URL the sidecar of ``path``'s folder gives its file name, if any (module docstring)."""
    folder = path.parent
    stamps = []
    for name in SIDECARS:
        try:
            st = os.stat(folder / name)
            stamps.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            continue
    if not stamps:
        return None
    return _sidecar(str(folder), tuple(stamps)).get(path.name)


@functools.lru_cache(maxsize=SIDECAR_CACHE)
def _sidecar(folder: str, stamps: tuple[tuple[str, int, int], ...]) -> dict[str, str]:
    """The mapping of one folder's sidecars (``stamps``: name, size and mtime of each, so that a changed file is
    read again)."""
    mapping: dict[str, str] = {}
    for name, size, _ in stamps:
        if size > MAX_SIDECAR_BYTES:
            continue
        try:
            lines = (Path(folder) / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            key, url = _sidecar_entry(line, name.endswith(".jsonl"))
            if key and url:
                mapping.setdefault(key, url)
    return mapping


def _sidecar_entry(line: str, is_jsonl: bool) -> tuple[str | None, str | None]:
    line = line.strip()
    if not line:
        return None, None
    if is_jsonl:
        try:
            obj = json.loads(line)
        except ValueError:
            return None, None
        if not isinstance(obj, dict) or not isinstance(obj.get("file"), str) or not isinstance(obj.get("url"), str):
            return None, None
        return obj["file"], absolute_http_url(obj["url"], entities=False)
    if line.startswith("#") or "\t" not in line:
        return None, None
    key, url = line.split("\t", 1)
    return key.strip(), absolute_http_url(url, entities=False)


register(Format("html", read_html, extensions=(".html", ".htm"), options=PAGE_OPTIONS))
