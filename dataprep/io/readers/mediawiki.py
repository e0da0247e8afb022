"""MediaWiki dumps (``format: mediawiki``; never guessed from a file name): a ``pages-articles`` XML dump,
plain or bz2. One document per page: its wikitext as text; title, namespace, page id, timestamp and redirect
target in ``meta``. Malformed XML quarantines the rest of the file (``xml_error``, with the parser's line).
Cleaning is the ``wiki_clean`` step.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from dataprep.io.readers.base import (
    BATCH_DOCS,
    Chunk,
    DocBatch,
    Format,
    Quarantine,
    ReadOptions,
    int_or_none,
    register,
)
from dataprep.io.readers.streams import open_stream


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_mediawiki(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """One document per page of the dump, ``BATCH_DOCS`` at a time."""
    q = Quarantine(opts.source, rel)
    batch = DocBatch(opts.source)
    pages = 0
    stream = open_stream(path)
    try:
        for _event, elem in ET.iterparse(stream, events=("end",)):
            if _local(elem.tag) != "page":
                continue
            pages += 1
            fields: dict[str, str | None] = {}
            for child in elem.iter():
                name = _local(child.tag)
                if name in ("title", "ns", "id", "text", "timestamp") and name not in fields:
                    fields[name] = child.text or ""
                elif name == "redirect":
                    fields["redirect"] = child.get("title")
            page_id = fields.get("id") or f"{rel}#{pages}"
            batch.add(f"{opts.source}/{page_id}", fields.get("text", ""),
                      {"title": fields.get("title"), "ns": int_or_none(fields.get("ns")),
                       "page_id": int_or_none(fields.get("id")), "timestamp": fields.get("timestamp"),
                       "redirect": fields.get("redirect")})
            elem.clear()
            if len(batch) >= BATCH_DOCS:
                yield Chunk(batch.take(), q.take())
    except ET.ParseError as exc:
        q.add("xml_error", f"malformed XML at line {exc.position[0]}, column {exc.position[1]} after page {pages}: "
                           f"{exc}; the rest of the file is not read", None, line=exc.position[0])
    except OSError as exc:
        q.add("corrupt_stream", f"unreadable stream after page {pages}: {exc}", None)
    yield Chunk(batch.take(), q.take())


#: ``options={}``: the format is among those that take reader options, none so far
register(Format("mediawiki", read_mediawiki, options={}))
