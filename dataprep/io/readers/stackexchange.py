"""StackExchange dumps (``format: stackexchange``; never guessed from a file name): a site's ``Posts.xml`` from
the public dump (plain, gzip or bz2), or the dump's ``.7z`` archive itself (``site.7z`` or ``site-Posts.7z``;
needs the ``dumps`` extra, py7zr), whose ``Posts.xml`` is extracted to a temporary folder first.

One document per question, its HTML body as text and its answers in ``meta.answers`` (id, score, body), joined
out of core: pass 1 spills the rows to Arrow files, pass 2 joins questions with answers one question-id range
at a time (``memory_mb``): threads in question-id order, then the other posts. Answers whose question is
missing and other post types (tag wikis...) are documents too, with ``meta.post_type`` saying so: the
``stackexchange_format`` step rejects them with a reason. Malformed XML quarantines the rest of the file
(``xml_error``, with the parser's line); a row without an id is quarantined (``bad_row``) with its line.
A ``Posts.xml`` member of a ``.7z`` whose name is absolute or has a ``..`` component, or that is a link, is
refused (``unsafe_path``, :mod:`.safety`): the reader reads only a regular file it extracted under its own
temporary folder.

Memory is bounded by settings, whatever the dump. The dump writes one ``<row/>`` per line: a line longer than
:func:`record_limit <dataprep.io.readers.base.record_limit>` (a few times ``max_doc_bytes``) never reaches the
XML parser (which holds a whole tag): it is read on to its end unkept and quarantined as ``too_long`` with its
line and post id, and the parser sees an empty line in its place; a post whose body is longer than
``max_doc_bytes`` characters is quarantined the same way, not spilled. A tag spread over many lines that grows
past the limit (no real dump has one) ends the file (``too_long``). Spill files are cut by bytes as well as
rows. The scratch folder is ``dataprep-se-<pid>-*`` in the system's temporary folder, removed at the end;
one left behind by a killed process (its pid no longer running) is removed by the next reader that starts.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.parsers import expat

import polars as pl
import pyarrow as pa

from dataprep.io.readers.base import (
    BATCH_DOCS,
    RAW_KEEP_BYTES,
    TOO_LONG,
    Chunk,
    Format,
    Option,
    Quarantine,
    ReadOptions,
    int_or_none,
    record_limit,
    register,
    text_limit,
    too_long_error,
)
from dataprep.io.readers.safety import UNSAFE, entry_problem, member_name_problem
from dataprep.io.readers.scan import line_bounds
from dataprep.io.readers.streams import TooLong, iter_byte_chunks
from dataprep.schema import DOC_SCHEMA

POST_TYPES = {"1": "question", "2": "answer", "3": "orphaned_tag_wiki", "4": "tag_wiki_excerpt", "5": "tag_wiki",
              "6": "moderator_nomination", "7": "wiki_placeholder", "8": "privilege_wiki"}
POST_SCHEMA = pa.schema([("id", pa.int64()), ("type", pa.string()), ("parent", pa.int64()), ("score", pa.int64()),
                         ("accepted", pa.int64()), ("date", pa.string()), ("title", pa.string()),
                         ("tags", pa.string()), ("body", pa.large_string()), ("line", pa.int64())])
SPILL_ROWS = 50_000
#: a spill file is also cut once its bodies hold this many characters (a few posts may be megabytes each)
SPILL_CHARS = 64 << 20
#: bytes of Posts.xml read (decompressed) and handed to the parser at a time (less when the record limit is)
READ_BYTES = 1 << 20
#: the prefix of the scratch folders: ``dataprep-se-<pid>-<random>``
SCRATCH_PREFIX = "dataprep-se-"
_ID_RE = re.compile(rb'\sId="(\d+)"')


class _TagTooLong(Exception):
    """The parser has gone more than the record limit without a row: one tag spread over that many lines."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _bounded_lines(path: Path, limit: int, q: Quarantine) -> Iterator[bytes]:
    """The bytes of ``path`` (decompressed) for the parser, with each line longer than ``limit`` replaced by an
    empty one (so the parser's line numbers stay right) and quarantined as ``too_long`` with its line and post
    id; a stream that cannot be read raises OSError after the bytes read before the damage."""
    for line, data, error in iter_byte_chunks(path, min(READ_BYTES, limit), max_record=limit):
        if isinstance(error, TooLong):
            _too_long_line(q, line, data, error.size, limit, error.finished)
            if error.newlines:
                yield b"\n" * error.newlines
            continue
        if error is not None:
            raise OSError(f"{error} (after line {line - 1})")
        if len(data) > limit:  # a block may still hold a line over the limit (the reads are smaller)
            starts, ends = line_bounds(data)
            long = ends - starts > limit
            if long.any():
                pieces, pos = [], 0
                for i in long.nonzero()[0].tolist():
                    s, e = int(starts[i]), int(ends[i])
                    _too_long_line(q, line + data.count(b"\n", 0, s), data[s: s + RAW_KEEP_BYTES], e - s, limit)
                    pieces.append(data[pos:s])
                    pos = e
                pieces.append(data[pos:])
                data = b"".join(pieces)
        yield data


def _too_long_line(q: Quarantine, line: int, head: bytes, size: int, limit: int, finished: bool = True) -> None:
    m = _ID_RE.search(head)
    what = f"line {line}" + (f" (post Id {m.group(1).decode()})" if m else "")
    q.add(TOO_LONG, too_long_error(what, size, limit, finished), head, line=line, size=size)


def _xml_rows(pieces: Iterator[bytes], limit: int) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, attributes) of each ``<row .../>`` element, parsed incrementally by expat from ``pieces``; the
    parser going more than ``limit`` bytes without an element raises :class:`_TagTooLong`."""
    parser = expat.ParserCreate()
    rows: list[tuple[int, dict[str, str]]] = []
    starts = [0]

    def start(name: str, attrs: dict[str, str]) -> None:
        starts[0] += 1
        if name == "row":
            rows.append((parser.CurrentLineNumber, attrs))

    parser.StartElementHandler = start
    quiet = 0
    for data in itertools.chain(pieces, [b""]):
        before = starts[0]
        try:
            parser.Parse(data, not data)
        finally:  # rows parsed before a syntax error are still documents
            yield from rows
            rows.clear()
        quiet = 0 if starts[0] != before else quiet + len(data)
        if quiet > limit:
            raise _TagTooLong(parser.CurrentLineNumber)


def _row_head(row: dict[str, str]) -> bytes:
    """A row's attributes as JSON, each value cut to ``RAW_KEEP_BYTES`` characters (never the whole body)."""
    return json.dumps({k: v[:RAW_KEEP_BYTES] for k, v in row.items()}).encode()[:RAW_KEEP_BYTES]


def _spill_posts(path: Path, tmp: Path, q: Quarantine, opts: ReadOptions) -> tuple[list[Path], int, int]:
    """Pass 1: Posts.xml rows to Arrow files of SPILL_ROWS rows (or SPILL_CHARS characters of bodies). Returns
    the files, the largest question id and the body bytes."""
    files: list[Path] = []
    cols: dict[str, list] = {f.name: [] for f in POST_SCHEMA}
    max_id, body_bytes, held = 0, 0, 0
    limit, body_limit = record_limit(opts), text_limit(opts)

    def flush() -> None:
        if cols["id"]:
            out = tmp / f"posts-{len(files):05d}.arrow"
            with pa.ipc.new_file(str(out), POST_SCHEMA) as w:
                w.write_table(pa.table(cols, schema=POST_SCHEMA))
            files.append(out)
            for v in cols.values():
                v.clear()

    try:
        for line, row in _xml_rows(_bounded_lines(path, limit, q), limit):
            pid, body = int_or_none(row.get("Id")), row.get("Body")
            if pid is None:
                q.add("bad_row", f"line {line}: a row without a numeric Id", _row_head(row), line=line)
                continue
            body = body or ""
            if len(body) > body_limit:
                size = len(body.encode("utf-8", "surrogatepass"))
                q.add(TOO_LONG, f"line {line} (post Id {pid}): a body of {size:,} bytes, over the limit of "
                                f"{body_limit:,} characters of one document (limits: max_doc_bytes); not read",
                      body[:RAW_KEEP_BYTES].encode("utf-8", "surrogatepass"), line=line, size=size)
                continue
            kind = POST_TYPES.get(row.get("PostTypeId", ""), f"type_{row.get('PostTypeId')}")
            if kind == "question":
                max_id = max(max_id, pid)
            body_bytes += len(body)
            held += len(body)
            for key, value in (("id", pid), ("type", kind), ("parent", int_or_none(row.get("ParentId"))),
                               ("score", int_or_none(row.get("Score")) or 0),
                               ("accepted", int_or_none(row.get("AcceptedAnswerId"))),
                               ("date", row.get("CreationDate")), ("title", row.get("Title")),
                               ("tags", row.get("Tags")), ("body", body), ("line", line)):
                cols[key].append(value)
            if len(cols["id"]) >= SPILL_ROWS or held >= SPILL_CHARS:
                flush()
                held = 0
    except expat.ExpatError as exc:
        q.add("xml_error", f"malformed XML at line {exc.lineno}, column {exc.offset}: {expat.errors.messages[exc.code]}"
                           "; the rest of the file is not read", None, line=exc.lineno)
    except OSError as exc:
        q.add("corrupt_stream", f"unreadable stream: {exc}", None)
    except _TagTooLong as exc:
        q.add(TOO_LONG, f"line {exc.line}: a tag spread over lines, of more than {limit:,} bytes (limits: "
                        "max_doc_bytes); the rest of the file is not read", None, line=exc.line)
    flush()
    return files, max_id, body_bytes


def scratch_folder() -> Path:
    """A new scratch folder ``dataprep-se-<pid>-*`` in the system's temporary folder, after removing those left
    by processes that are no longer running (a reader killed before it could remove its own)."""
    base = Path(tempfile.gettempdir())
    try:
        entries = list(base.glob(f"{SCRATCH_PREFIX}*"))
    except OSError:
        entries = []
    for entry in entries:
        m = re.fullmatch(rf"{SCRATCH_PREFIX}(\d+)-.*", entry.name)
        if m and int(m.group(1)) != os.getpid() and not _running(int(m.group(1))) and entry.is_dir() \
                and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts: it is never cleaned up after)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _tags(expr: pl.Expr) -> pl.Expr:
    """``<a><b>`` (older dumps) or ``|a|b|`` (newer) as a list of tag names."""
    return (expr.str.strip_chars("<>|").str.replace_all(r"><|\|", "\x00").str.split("\x00")
            .list.eval(pl.element().filter(pl.element() != "")))


def read_stackexchange(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """One document per question with its answers, then the other posts, ``BATCH_DOCS`` at a time."""
    q = Quarantine(opts.source, rel)
    options = dict(opts.options)
    archive = path.name.lower().endswith(".7z")
    default_site = re.sub(r"(?i)(-posts)?\.7z$", "", path.name) if archive else path.parent.name
    site = options.get("site") or default_site or opts.source
    budget = int(options.get("memory_mb", 512)) << 20
    tmp = scratch_folder()
    try:
        if archive:
            path = _posts_from_7z(path, tmp, q)
            if path is None:
                yield Chunk(DOC_SCHEMA.empty_table(), q.take())
                return
        files, max_id, body_bytes = _spill_posts(path, tmp, q, opts)
        if not files:
            yield Chunk(DOC_SCHEMA.empty_table(), q.take())
            return
        posts = pl.scan_ipc([str(f) for f in files])
        parts = join_parts(body_bytes, budget)
        width = max_id // parts + 1
        for k in range(parts):
            lo, hi = k * width, (k + 1) * width if k < parts - 1 else 1 << 62
            yield from _join_range(posts, lo, hi, k == parts - 1, site, opts.source, q)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _member_problem(member: object) -> str | None:
    """Why a ``.7z`` member (a py7zr ``ArchiveFile``) must not be extracted and read: a name that leaves the
    archive, or anything but a regular file (a link, a junction, a socket, a folder, a FIFO)."""
    problem = member_name_problem(str(getattr(member, "filename", "")))
    if problem is not None or getattr(member, "is_file", False):
        return problem
    for attr, what in (("is_symlink", "a symbolic link"), ("is_junction", "a junction"), ("is_socket", "a socket"),
                       ("is_directory", "a folder")):
        if getattr(member, attr, False):
            return what
    return "not a regular file"


def _posts_from_7z(archive: Path, tmp: Path, q: Quarantine) -> Path | None:
    """Extract the ``Posts.xml`` of a StackExchange ``.7z`` dump into ``tmp``; None (with a quarantine record
    saying why) when py7zr is missing, the archive is damaged, it holds no ``Posts.xml`` or none that is safe
    to read (an absolute name, a ``..`` component, a link: ``unsafe_path``, each named)."""
    try:
        import py7zr
    except ImportError:
        q.add("unsupported_archive", f"{archive.name}: reading .7z needs py7zr (pip install -e '.[dumps]'), or "
                                     "extract Posts.xml and give its path", None)
        return None
    try:
        with py7zr.SevenZipFile(archive, mode="r") as z:
            names = z.getnames()
            posts = [f for f in z.files
                     if f.filename.replace("\\", "/").rsplit("/", 1)[-1].lower() == "posts.xml"]
            if not posts:
                q.add("no_posts", f"{archive.name} holds no Posts.xml (members: {', '.join(names[:10]) or 'none'})",
                      None)
                return None
            safe = None
            for member in posts:
                problem = _member_problem(member)
                if problem is not None:
                    q.add(UNSAFE, f"{archive.name}: member {member.filename}: {problem}; not read", None)
                elif safe is None:
                    safe = member.filename
            if safe is None:
                return None
            z.extract(path=tmp / "archive", targets=[safe])
    except Exception as exc:  # noqa: BLE001 - py7zr raises its own types for damaged archives
        q.add("bad_archive", f"{archive.name}: cannot read the .7z archive: {exc}", None)
        return None
    out = tmp / "archive" / safe
    problem = entry_problem(tmp / "archive", out, "the archive's folder")
    if problem is None and not out.is_file():
        problem = "not extracted as a regular file"
    if problem is not None:
        q.add(UNSAFE, f"{archive.name}: member {safe}: {problem}; not read", None)
        return None
    return out


def join_parts(body_bytes: int, budget: int) -> int:
    """Question-id ranges joined one at a time: a range's posts take about a quarter of the budget (the join
    needs room around them)."""
    return max(1, math.ceil(body_bytes / max(budget // 4, 1 << 16)))


def _join_range(posts: pl.LazyFrame, lo: int, hi: int, last: bool, site: str, source: str,
                q: Quarantine) -> Iterator[Chunk]:
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
            docs = pa.Table.from_arrays(
                [ids.slice(start, n).to_arrow().cast(pa.large_string()),
                 frame.get_column("body").slice(start, n).to_arrow().cast(pa.large_string()),
                 pa.array([source] * n, pa.large_string()),
                 meta.slice(start, n).to_arrow().cast(pa.large_string())], schema=DOC_SCHEMA)
            yield Chunk(docs, q.take())


register(Format("stackexchange", read_stackexchange, options={
    "site": Option(str, "site name in ids and meta (default: the dump folder's name)"),
    "memory_mb": Option(int, "bound on the posts joined at once (default 512)"),
}))
