"""MediaWiki dumps (``format: mediawiki``; never guessed from a file name): a ``pages-articles`` XML dump,
plain or bz2. One document per page: its wikitext as text; title, namespace, page id, timestamp and redirect
target in ``meta``. Malformed XML quarantines the rest of the file (``xml_error``, with the parser's line).
Cleaning is the ``wiki_clean`` step.

Memory is constant per page, whatever the dump: the dump is parsed by expat's event handlers (no element tree
whose cleared elements would stay attached to the root, about 85 bytes a page), which keep only the fields of
the page being read. A page whose fields grow past :func:`text_limit <dataprep.io.readers.base.text_limit>`
characters (the recipe's ``max_doc_bytes``) is not held: it is read on to its end unkept and quarantined as
``too_long`` with its line, title and size. A single piece of markup that expat must hold whole (a start tag,
a comment) longer than :func:`record_limit <dataprep.io.readers.base.record_limit>` ends the file
(``too_long``): no real dump has one. Entities are expat's: no external entity or DTD is ever fetched, and
expat (2.4 and later) refuses entity expansion bombs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.parsers import expat

from dataprep.io.readers.base import (
    BATCH_DOCS,
    RAW_KEEP_BYTES,
    TOO_LONG,
    Chunk,
    DocBatch,
    Format,
    Quarantine,
    ReadOptions,
    int_or_none,
    record_limit,
    register,
    text_limit,
)
from dataprep.io.readers.streams import open_stream

#: the page fields kept (the first of each name in the page, as its text before any child element)
FIELDS = ("title", "ns", "id", "text", "timestamp")
#: bytes of the dump read (decompressed) and handed to expat at a time: pages are taken out between two reads,
#: so this bounds how far a batch may run past ``BATCH_DOCS`` (a few hundred small pages)
READ_BYTES = 64 << 10
#: characters expat gathers before it hands text to the handler (fewer, larger calls)
TEXT_BUFFER = 1 << 16


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Page:
    """The page being read: its fields' text pieces, how many characters they hold, whether it went over."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.fields: dict[str, list[str]] = {}
        self.redirect: str | None = None
        self.held = 0
        self.over = False
        self.head = b""
        self.size = 0  # UTF-8 bytes of the fields' text, counted once over

    def text(self, name: str) -> str | None:
        pieces = self.fields.get(name)
        return None if pieces is None else "".join(pieces)


class _TokenTooLong(Exception):
    """expat has gone more than the record limit of input without reporting anything: one token that long."""


def read_mediawiki(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """One document per page of the dump, ``BATCH_DOCS`` at a time."""
    q = Quarantine(opts.source, rel)
    batch = DocBatch(opts.source)
    limit, token_limit = text_limit(opts), record_limit(opts)
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.buffer_size = TEXT_BUFFER
    pages = done = 0  # pages begun (a page's index), pages read to their end
    page: _Page | None = None
    collecting: str | None = None  # the field whose text is being gathered
    events = [0]  # handler calls: a token as long as the record limit reports none

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal page, pages, collecting
        events[0] += 1
        local = _local(name)
        collecting = None  # a field's text is its text before any child element (as ElementTree's .text)
        if local == "page":
            pages += 1
            page = _Page(parser.CurrentLineNumber)
        elif page is not None:
            if local in FIELDS and local not in page.fields:
                page.fields[local] = []
                collecting = local
            elif local == "redirect":
                page.redirect = attrs.get("title")

    def end(name: str) -> None:
        nonlocal page, collecting, done
        events[0] += 1
        collecting = None
        if page is None or _local(name) != "page":
            return
        _finish(page, pages, rel, opts, batch, q, limit)
        page = None
        done += 1

    def chars(data: str) -> None:
        events[0] += 1
        if collecting is None or page is None:
            return
        if page.over:
            page.size += len(data.encode("utf-8", "surrogatepass"))
            return
        page.fields[collecting].append(data)
        page.held += len(data)
        if page.held > limit:  # stop holding the page: count the rest of it
            page.over = True
            held = "".join("".join(p) for p in page.fields.values())
            page.head = held.encode("utf-8", "surrogatepass")[:RAW_KEEP_BYTES]
            page.size = len(held.encode("utf-8", "surrogatepass"))
            page.fields = {k: (v if k in ("title", "ns", "id") else []) for k, v in page.fields.items()}

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        with open_stream(path) as stream:
            quiet = 0  # bytes fed since expat last reported anything
            while True:
                data = stream.read(READ_BYTES)
                before = events[0]
                parser.Parse(data, not data)
                quiet = 0 if events[0] != before else quiet + len(data)
                if quiet > token_limit:
                    raise _TokenTooLong
                if len(batch) >= BATCH_DOCS:
                    yield Chunk(batch.take(), q.take())
                if not data:
                    break
    except expat.ExpatError as exc:
        q.add("xml_error", f"malformed XML at line {exc.lineno}, column {exc.offset} after page {done}: "
                           f"{expat.errors.messages[exc.code]}; the rest of the file is not read", None,
              line=exc.lineno)
    except _TokenTooLong:
        line = parser.CurrentLineNumber
        q.add(TOO_LONG, f"line {line} after page {done}: a single piece of markup (a tag, a comment) of more "
                        f"than {token_limit:,} bytes (limits: max_doc_bytes); the rest of the file is not read",
              None, line=line)
    except OSError as exc:
        q.add("corrupt_stream", f"unreadable stream after page {done}: {exc}", None)
    yield Chunk(batch.take(), q.take())


def _finish(page: _Page, index: int, rel: str, opts: ReadOptions, batch: DocBatch, q: Quarantine,
            limit: int) -> None:
    """Make a document of a page read to its end, or quarantine it when it went over ``limit``."""
    page_id = page.text("id") or f"{rel}#{index}"
    title = page.text("title")
    if page.over:
        name = f"page {index} (id {page_id}, title {title[:200]!r})" if title is not None else f"page {index}"
        q.add(TOO_LONG, f"{name} at line {page.line}: {page.size:,} bytes of text and fields, over the limit of "
                        f"{limit:,} characters of one document (limits: max_doc_bytes); not read", page.head,
              line=page.line, size=page.size)
        return
    ns, pid = page.text("ns"), page.text("id")
    batch.add(f"{opts.source}/{page_id}", page.text("text") or "",
              {"title": title, "ns": int_or_none(ns), "page_id": int_or_none(pid),
               "timestamp": page.text("timestamp"), "redirect": page.redirect})


#: ``options={}``: the format is among those that take reader options, none so far
register(Format("mediawiki", read_mediawiki, options={}))
