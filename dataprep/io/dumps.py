"""Readers of source dumps whose unit is not a line: LaTeX papers, StackExchange posts, MediaWiki pages.

- ``format: latex``: one document per paper. A paper is a ``.tex`` file, a folder of sources, a ``.tar.gz``
  of sources, or one member of an arXiv bulk ``.tar`` (whose members are per-paper ``.gz`` files, each a
  gzipped tar or a gzipped single ``.tex``). The main file is the one with ``\\documentclass`` and
  ``\\begin{document}``; ``\\input``, ``\\include`` and ``\\subfile`` are inlined from the paper's files
  (10 levels deep); a paper without a main file is its ``.tex`` files concatenated in name order. Text is
  UTF-8, or Latin-1 when it is not valid UTF-8 (``meta.encoding``). Cleaning is the ``latex_clean`` step.
- ``format: stackexchange``: a site's ``Posts.xml`` from the public dump (plain, gzip or bz2), or the dump's
  ``.7z`` archive itself (``site.7z`` or ``site-Posts.7z``; needs the ``dumps`` extra, py7zr), whose
  ``Posts.xml`` is extracted to a temporary folder first. One document per question, its HTML body as text
  and its answers in ``meta.answers`` (id, score, body), joined out of core: pass 1 spills the rows to Arrow
  files, pass 2 joins questions with answers one question-id range at a time (``memory_mb``): threads in
  question-id order, then the other posts.
  Answers whose question is missing and other post types (tag wikis...) are documents too, with
  ``meta.post_type`` saying so: the ``stackexchange_format`` step rejects them with a reason.
- ``format: mediawiki``: a ``pages-articles`` XML dump (plain or bz2). One document per page: wikitext as
  text; title, namespace, page id, timestamp and redirect target in ``meta``. Cleaning is ``wiki_clean``.

Malformed XML quarantines the rest of the file (``xml_error``, with the parser's line); a row without an id
or body is quarantined (``bad_row``) with its line.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import shutil
import tarfile
import tempfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.parsers import expat

import polars as pl
import pyarrow as pa

from dataprep.io.readers import DocBatch, _open_stream
from dataprep.schema import DOC_SCHEMA

BATCH_DOCS = 2000
INCLUDE_RE = re.compile(rb"\\(?:input|include|subfile)\s*\{([^}]+)\}")
MAX_INCLUDE_DEPTH = 10


def _open(path: Path) -> Any:
    return _open_stream(path)


# ------------------------------------------------------------------------------------------------------------
# LaTeX papers


def _decode_tex(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def assemble_paper(files: dict[str, bytes]) -> tuple[str, dict[str, Any]] | None:
    """One paper's text from its files (name -> bytes): the main file with its inputs inlined, or every
    ``.tex`` file in name order when none is a main file. None when the paper has no ``.tex`` file."""
    tex = {n: b for n, b in files.items() if n.lower().endswith(".tex")}
    if not tex:
        return None
    mains = sorted(n for n, b in tex.items() if b"\\documentclass" in b and b"\\begin{document}" in b)
    if not mains:
        body = b"\n".join(tex[n] for n in sorted(tex))
        text, enc = _decode_tex(body)
        return text, {"main": None, "files": sorted(tex), "encoding": enc}
    used: list[str] = []

    def inline(name: str, depth: int) -> bytes:
        used.append(name)
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""

        def repl(m: re.Match[bytes]) -> bytes:
            target = m.group(1).decode("utf-8", "replace").strip()
            for cand in (target, target + ".tex", folder + target, folder + target + ".tex"):
                if cand in tex and depth < MAX_INCLUDE_DEPTH and cand not in used:
                    return inline(cand, depth + 1)
            return m.group(0)

        return INCLUDE_RE.sub(repl, tex[name])

    text, enc = _decode_tex(inline(mains[0], 0))
    return text, {"main": mains[0], "files": sorted(set(used)), "encoding": enc}


def _tar_files(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                fh = tar.extractfile(member)
                if fh is not None:
                    out[member.name.lstrip("./")] = fh.read()
    return out


def _paper_files(name: str, data: bytes) -> dict[str, bytes]:
    """Files of one paper given as bytes: a (gzipped) tar of sources or a (gzipped) single ``.tex``."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) > 262 and data[257:262] == b"ustar":
        return _tar_files(data)
    base = re.sub(r"(\.gz|\.tgz|\.tar)+$", "", name.rsplit("/", 1)[-1])
    return {base if base.endswith(".tex") else base + ".tex": data}


def _latex_units(path: Path) -> Iterator[tuple[str, dict[str, bytes] | Exception]]:
    """(paper name, files) for each paper in ``path``."""
    if path.is_dir():
        files = {str(p.relative_to(path)).replace("\\", "/"): p.read_bytes() for p in sorted(path.rglob("*"))
                 if p.is_file()}
        yield path.name, files
        return
    name = path.name
    lower = name.lower()
    if lower.endswith(".tex"):
        yield name[:-4], {name: path.read_bytes()}
    elif lower.endswith(".tar"):  # an arXiv bulk archive: one paper per member
        with tarfile.open(str(path)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    fh = tar.extractfile(member)
                    if fh is not None:
                        stem = re.sub(r"(\.gz|\.tgz|\.tar|\.pdf)+$", "", member.name.rsplit("/", 1)[-1])
                        if member.name.lower().endswith(".pdf"):
                            continue  # arXiv ships a PDF when no source exists
                        yield stem, _guarded(member.name, fh.read())
    else:  # .tar.gz / .tgz / .gz of one paper
        yield re.sub(r"(\.gz|\.tgz|\.tar)+$", "", name), _guarded(name, path.read_bytes())


ARCHIVE_ERRORS = (OSError, EOFError, tarfile.TarError, zlib.error, ValueError)


def _guarded(name: str, data: bytes) -> dict[str, bytes] | Exception:
    """A paper's files, or the error that unpacking its archive raised (one bad paper of a bulk archive is
    quarantined, the others are read)."""
    try:
        return _paper_files(name, data)
    except ARCHIVE_ERRORS as exc:
        return exc


def read_latex(path: Path, rel: str, opts: Any, q: Any, chunk: Callable[[pa.Table], Any]) -> Iterator[Any]:
    batch = DocBatch(opts.source)
    index = 0
    try:
        for name, files in _latex_units(path):
            index += 1
            if isinstance(files, Exception):
                q.add("bad_archive", f"paper {name}: cannot unpack its sources: {files}", None, row=index)
                continue
            paper = assemble_paper(files)
            if paper is None:
                q.add("no_tex", f"paper {name}: no .tex file among {len(files)} file(s)", None, row=index)
                continue
            text, meta = paper
            batch.add(f"{opts.source}/{name}", text, {"paper": name, **meta})
            if len(batch) >= BATCH_DOCS:
                yield chunk(batch.take())
    except ARCHIVE_ERRORS as exc:
        q.add("corrupt_stream", f"unreadable LaTeX sources after paper {index}: {exc}", None, row=index)
    yield chunk(batch.take())


# ------------------------------------------------------------------------------------------------------------
# StackExchange


POST_TYPES = {"1": "question", "2": "answer", "3": "orphaned_tag_wiki", "4": "tag_wiki_excerpt", "5": "tag_wiki",
              "6": "moderator_nomination", "7": "wiki_placeholder", "8": "privilege_wiki"}
POST_SCHEMA = pa.schema([("id", pa.int64()), ("type", pa.string()), ("parent", pa.int64()), ("score", pa.int64()),
                         ("accepted", pa.int64()), ("date", pa.string()), ("title", pa.string()),
                         ("tags", pa.string()), ("body", pa.large_string()), ("line", pa.int64())])
SPILL_ROWS = 50_000


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _xml_rows(stream: Any) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, attributes) of each ``<row .../>`` element, parsed incrementally by expat."""
    parser = expat.ParserCreate()
    rows: list[tuple[int, dict[str, str]]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if name == "row":
            rows.append((parser.CurrentLineNumber, attrs))

    parser.StartElementHandler = start
    while True:
        data = stream.read(1 << 20)
        try:
            parser.Parse(data, not data)
        finally:  # rows parsed before a syntax error are still documents
            yield from rows
            rows.clear()
        if not data:
            break


def _spill_posts(path: Path, tmp: Path, q: Any) -> tuple[list[Path], int, int]:
    """Pass 1: Posts.xml rows to Arrow files of SPILL_ROWS rows. Returns the files, the largest question id and
    the body bytes."""
    files: list[Path] = []
    cols: dict[str, list] = {f.name: [] for f in POST_SCHEMA}
    max_id, body_bytes = 0, 0

    def flush() -> None:
        if cols["id"]:
            out = tmp / f"posts-{len(files):05d}.arrow"
            with pa.ipc.new_file(str(out), POST_SCHEMA) as w:
                w.write_table(pa.table(cols, schema=POST_SCHEMA))
            files.append(out)
            for v in cols.values():
                v.clear()

    try:
        for line, row in _xml_rows(_open(path)):
            pid, body = _int(row.get("Id")), row.get("Body")
            if pid is None:
                q.add("bad_row", f"line {line}: a row without a numeric Id", json.dumps(row).encode()[:4096],
                      line=line)
                continue
            kind = POST_TYPES.get(row.get("PostTypeId", ""), f"type_{row.get('PostTypeId')}")
            if kind == "question":
                max_id = max(max_id, pid)
            body = body or ""
            body_bytes += len(body)
            for key, value in (("id", pid), ("type", kind), ("parent", _int(row.get("ParentId"))),
                               ("score", _int(row.get("Score")) or 0), ("accepted", _int(row.get("AcceptedAnswerId"))),
                               ("date", row.get("CreationDate")), ("title", row.get("Title")),
                               ("tags", row.get("Tags")), ("body", body), ("line", line)):
                cols[key].append(value)
            if len(cols["id"]) >= SPILL_ROWS:
                flush()
    except expat.ExpatError as exc:
        q.add("xml_error", f"malformed XML at line {exc.lineno}, column {exc.offset}: {expat.errors.messages[exc.code]}"
                           "; the rest of the file is not read", None, line=exc.lineno)
    except OSError as exc:
        q.add("corrupt_stream", f"unreadable stream: {exc}", None)
    flush()
    return files, max_id, body_bytes


def _tags(expr: pl.Expr) -> pl.Expr:
    """``<a><b>`` (older dumps) or ``|a|b|`` (newer) as a list of tag names."""
    return (expr.str.strip_chars("<>|").str.replace_all(r"><|\|", "\x00").str.split("\x00")
            .list.eval(pl.element().filter(pl.element() != "")))


def read_stackexchange(path: Path, rel: str, opts: Any, q: Any, chunk: Callable[[pa.Table], Any]) -> Iterator[Any]:
    options = dict(opts.options)
    archive = path.name.lower().endswith(".7z")
    default_site = re.sub(r"(?i)(-posts)?\.7z$", "", path.name) if archive else path.parent.name
    site = options.get("site") or default_site or opts.source
    budget = int(options.get("memory_mb", 512)) << 20
    tmp = Path(tempfile.mkdtemp(prefix="dataprep-se-"))
    try:
        if archive:
            path = _posts_from_7z(path, tmp, q)
            if path is None:
                yield chunk(DOC_SCHEMA.empty_table())
                return
        files, max_id, body_bytes = _spill_posts(path, tmp, q)
        if not files:
            yield chunk(DOC_SCHEMA.empty_table())
            return
        posts = pl.scan_ipc([str(f) for f in files])
        parts = _parts(body_bytes, budget)
        width = max_id // parts + 1
        for k in range(parts):
            lo, hi = k * width, (k + 1) * width if k < parts - 1 else 1 << 62
            yield from _join_range(posts, lo, hi, k == parts - 1, site, opts.source, chunk)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _posts_from_7z(archive: Path, tmp: Path, q: Any) -> Path | None:
    """Extract the ``Posts.xml`` of a StackExchange ``.7z`` dump into ``tmp``; None (with a quarantine record
    saying why) when py7zr is missing, the archive is damaged or it holds no ``Posts.xml``."""
    try:
        import py7zr
    except ImportError:
        q.add("unsupported_archive", f"{archive.name}: reading .7z needs py7zr (pip install -e '.[dumps]'), or "
                                     "extract Posts.xml and give its path", None)
        return None
    try:
        with py7zr.SevenZipFile(archive, mode="r") as z:
            names = z.getnames()
            posts = [n for n in names if n.replace("\\", "/").rsplit("/", 1)[-1].lower() == "posts.xml"]
            if not posts:
                q.add("no_posts", f"{archive.name} holds no Posts.xml (members: {', '.join(names[:10]) or 'none'})",
                      None)
                return None
            z.extract(path=tmp / "archive", targets=[posts[0]])
    except Exception as exc:  # noqa: BLE001 - py7zr raises its own types for damaged archives
        q.add("bad_archive", f"{archive.name}: cannot read the .7z archive: {exc}", None)
        return None
    return tmp / "archive" / posts[0]


def _parts(body_bytes: int, budget: int) -> int:
    """Question-id ranges joined one at a time: a range's posts take about a quarter of the budget (the join
    needs room around them)."""
    return max(1, math.ceil(body_bytes / max(budget // 4, 1 << 16)))


def _join_range(posts: pl.LazyFrame, lo: int, hi: int, last: bool, site: str, source: str,
                chunk: Callable[[pa.Table], Any]) -> Iterator[Any]:
    """Questions with ids in [lo, hi) with their answers; with ``last``, then orphaned answers and other posts
    (so the order is the same whatever the number of ranges)."""
    q_rows = posts.filter((pl.col("type") == "question") & pl.col("id").is_between(lo, hi, closed="left"))
    a_rows = posts.filter((pl.col("type") == "answer") & pl.col("parent").is_between(lo, hi, closed="left"))
    answers = (a_rows.sort("id").group_by("parent", maintain_order=True)
               .agg(pl.struct(pl.col("id"), pl.col("score"), pl.col("body")).alias("answers")))
    threads = q_rows.join(answers, left_on="id", right_on="parent", how="left").sort("id").collect()
    frames = [threads]
    if last:
        question_ids = posts.filter(pl.col("type") == "question").select("id")
        orphans = (posts.filter(pl.col("type") == "answer").join(question_ids, left_on="parent", right_on="id",
                                                                 how="anti"))
        others = posts.filter(~pl.col("type").is_in(["question", "answer"]))
        frames.append(pl.concat([orphans, others]).sort("id").collect())
    for frame in frames:
        if not frame.height:
            continue
        if "answers" not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias("answers"))
        meta = frame.select(pl.struct(
            pl.col("id").alias("post_id"), pl.lit(site).alias("site"), pl.col("type").alias("post_type"),
            pl.col("parent").alias("parent_id"), pl.col("title"), _tags(pl.col("tags")).alias("tags"),
            pl.col("score"), pl.col("accepted").alias("accepted_answer_id"), pl.col("date"), pl.col("answers"),
        ).struct.json_encode().alias("meta")).get_column("meta")
        ids = frame.select(pl.lit(f"{site}/") + pl.col("id").cast(pl.String)).to_series()
        for start in range(0, frame.height, BATCH_DOCS):
            n = min(BATCH_DOCS, frame.height - start)
            yield chunk(pa.Table.from_arrays(
                [ids.slice(start, n).to_arrow().cast(pa.large_string()),
                 frame.get_column("body").slice(start, n).to_arrow().cast(pa.large_string()),
                 pa.array([source] * n, pa.large_string()),
                 meta.slice(start, n).to_arrow().cast(pa.large_string())], schema=DOC_SCHEMA))


# ------------------------------------------------------------------------------------------------------------
# MediaWiki


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_mediawiki(path: Path, rel: str, opts: Any, q: Any, chunk: Callable[[pa.Table], Any]) -> Iterator[Any]:
    batch = DocBatch(opts.source)
    pages = 0
    stream = _open(path)
    try:
        for _event, elem in ET.iterparse(stream, events=("end",)):
            if _local(elem.tag) != "page":
                continue
            pages += 1
            fields: dict[str, Any] = {}
            for child in elem.iter():
                name = _local(child.tag)
                if name in ("title", "ns", "id", "text", "timestamp") and name not in fields:
                    fields[name] = child.text or ""
                elif name == "redirect":
                    fields["redirect"] = child.get("title")
            page_id = fields.get("id") or f"{rel}#{pages}"
            batch.add(f"{opts.source}/{page_id}", fields.get("text", ""),
                      {"title": fields.get("title"), "ns": _int(fields.get("ns")), "page_id": _int(fields.get("id")),
                       "timestamp": fields.get("timestamp"), "redirect": fields.get("redirect")})
            elem.clear()
            if len(batch) >= BATCH_DOCS:
                yield chunk(batch.take())
    except ET.ParseError as exc:
        q.add("xml_error", f"malformed XML at line {exc.position[0]}, column {exc.position[1]} after page {pages}: "
                           f"{exc}; the rest of the file is not read", None, line=exc.position[0])
    except OSError as exc:
        q.add("corrupt_stream", f"unreadable stream after page {pages}: {exc}", None)
    yield chunk(batch.take())
