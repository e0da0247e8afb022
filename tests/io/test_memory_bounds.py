"""Every reader's memory is bounded by settings, whatever the input: a record longer than the reader's limit
(a JSONL line, a text line or file, a dump's page or post, a paper's sources) is never held whole; it is
quarantined as ``too_long`` naming its file and line (or member), and every other record is read with its own
line number. Decompression bombs in LaTeX sources are quarantined, not a crash. Tested with small limits
(``max_doc_bytes`` of a few KB) against inputs of a few MB; the GiB-size runs are measured by hand (docs)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest

from dataprep.io import ReadOptions, read_file
from dataprep.io.readers import mediawiki, stackexchange
from dataprep.io.readers.base import RECORD_SLACK, record_limit
from dataprep.schema import DOC_SCHEMA, QUARANTINE_SCHEMA

MAX_DOC = 1000  # max_doc_bytes of these tests: records past RECORD_SLACK times it are refused unread
LIMIT = RECORD_SLACK * MAX_DOC


def _read(path: Path, peak: bool = False, **kw) -> tuple[pa.Table, pa.Table, int, int]:
    """(documents, quarantine, lines counted, traced peak bytes) of one file read with ``max_doc_bytes`` MAX_DOC;
    chunks are consumed as they come (as the executor does), only their tables kept."""
    opts = ReadOptions(source="s", max_doc_bytes=kw.pop("max_doc_bytes", MAX_DOC), **kw)
    docs, quarantine, lines = [DOC_SCHEMA.empty_table()], [QUARANTINE_SCHEMA.empty_table()], 0
    if peak:
        tracemalloc.start()
    try:
        for chunk in read_file(path, path.name, opts):
            docs.append(chunk.docs)
            quarantine.append(chunk.quarantine)
            lines += chunk.lines
        top = tracemalloc.get_traced_memory()[1] if peak else 0
    finally:
        if peak:
            tracemalloc.stop()
    return pa.concat_tables(docs), pa.concat_tables(quarantine), lines, top


def _write(path: Path, data: bytes, codec: str | None) -> Path:
    if codec == "gzip":
        path.write_bytes(gzip.compress(data, compresslevel=1, mtime=0))
    elif codec == "zstd":
        with pa.output_stream(str(path), compression="zstd") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------------------------
# JSONL: plain (memory-mapped) and compressed (streamed)

LONG_AT = {1: 3 << 20, 7: 5000, 500: 2 << 20, 1200: LIMIT + 1}  # line -> text length of the long lines
N_LINES = 1201


def _jsonl_lines(crlf: bool = False) -> list[bytes]:
    out = []
    for i in range(1, N_LINES + 1):
        text = "y" * LONG_AT[i] if i in LONG_AT else f"doc {i}"
        out.append(json.dumps({"text": text, "n": i}).encode())
    return out


@pytest.mark.parametrize("codec,suffix", [(None, ".jsonl"), ("gzip", ".jsonl.gz"), ("zstd", ".jsonl.zst")])
@pytest.mark.parametrize("chunk_bytes", [1 << 12, 16 << 20])
def test_jsonl_long_lines_are_quarantined_and_every_other_line_is_read(tmp_path, codec, suffix, chunk_bytes):
    lines = _jsonl_lines()
    # the last line is long and has no newline: it ends the file
    data = b"\n".join(lines) + b"\n" + json.dumps({"text": "z" * 100_000}).encode()
    path = _write(tmp_path / f"x{suffix}", data, codec)
    docs, q, n_lines, _ = _read(path, chunk_bytes=chunk_bytes)
    long_lines = sorted(i for i in LONG_AT if len(lines[i - 1]) > LIMIT) + [N_LINES + 1]
    assert long_lines == [1, 7, 500, 1200, 1202]
    expect = [i for i in range(1, N_LINES + 1) if i not in long_lines]
    assert docs.column("id").to_pylist() == [f"s/{path.name}:{i}" for i in expect]
    assert [json.loads(m)["n"] for m in docs.column("meta").to_pylist()] == expect
    assert q.column("kind").to_pylist() == ["too_long"] * len(long_lines)
    assert q.column("line").to_pylist() == long_lines
    sizes = [len(lines[i - 1]) for i in long_lines[:-1]] + [len(data) - data.rfind(b"\n") - 1]
    assert q.column("raw_bytes").to_pylist() == sizes  # the full size, though only the head is kept
    assert all(len(r) <= 4096 and r.startswith(b'{"text": "') for r in q.column("raw").to_pylist())
    assert set(q.column("file").to_pylist()) == {path.name}
    assert f"line 500: {len(lines[499]):,} bytes, over the limit of 4,000 bytes" in q.column("error").to_pylist()[2]
    assert n_lines == N_LINES + 1  # every line counted once: the next range's first line builds on this


@pytest.mark.parametrize("codec,suffix", [(None, ".jsonl"), ("gzip", ".jsonl.gz")])
def test_jsonl_crlf_blank_lines_and_a_line_just_at_the_limit(tmp_path, codec, suffix):
    at_limit = b'{"text": "' + b"a" * (LIMIT - 13) + b'"}'  # the \r before the newline counts
    over = b'{"text": "' + b"a" * (LIMIT - 12) + b'"}'
    assert len(at_limit + b"\r") == LIMIT and len(over + b"\r") == LIMIT + 1
    data = b"\r\n".join([b'{"text": "one"}', b"", at_limit, over, b'{"text": "five"}', b""])
    path = _write(tmp_path / f"x{suffix}", data, codec)
    docs, q, _, _ = _read(path, chunk_bytes=1 << 10)
    assert docs.column("id").to_pylist() == [f"s/{path.name}:{i}" for i in (1, 3, 5)]
    assert q.column("line").to_pylist() == [4]


def test_jsonl_byte_range_keeps_the_files_line_numbers(tmp_path):
    lines = [b'{"text": "a"}', b'{"text": "' + b"b" * 50_000 + b'"}', b'{"text": "c"}', b'{"text": "d"}']
    data = b"\n".join(lines) + b"\n"
    path = _write(tmp_path / "x.jsonl", data, None)
    start = len(lines[0]) + 1
    docs, q, n, _ = _read(path, byte_range=(start, len(data)), first_line=2, chunk_bytes=1 << 12)
    assert docs.column("id").to_pylist() == ["s/x.jsonl:3", "s/x.jsonl:4"]
    assert q.column("line").to_pylist() == [2] and n == 3


def test_compressed_jsonl_with_a_long_line_is_read_in_bounded_memory(tmp_path):
    """A 24 MB line of a gzip file read with a 4 KB record limit: the reader's own allocations stay near the
    block size (before, the line was buffered whole: 24 MB and more)."""
    big = b'{"text": "' + b"w" * (24 << 20) + b'"}'
    data = b'{"text": "before"}\n' + big + b'\n{"text": "after"}\n'
    path = _write(tmp_path / "x.jsonl.gz", data, "gzip")
    docs, q, _, peak = _read(path, peak=True, chunk_bytes=256 << 10)
    assert docs.column("text").to_pylist() == ["before", "after"]
    assert q.column("raw_bytes").to_pylist() == [len(big)] and q.column("line").to_pylist() == [2]
    assert peak < 4 << 20, peak


def test_record_limit_follows_max_doc_bytes_and_has_a_ceiling():
    assert record_limit(ReadOptions(source="s", max_doc_bytes=1000)) == RECORD_SLACK * 1000
    assert record_limit(ReadOptions(source="s")) == RECORD_SLACK * (16 << 20)  # the recipe's default
    assert record_limit(ReadOptions(source="s", max_doc_bytes=1 << 40)) == 1 << 30  # pyarrow/polars ceilings


# ------------------------------------------------------------------------------------------------------------
# plain text


@pytest.mark.parametrize("suffix,codec", [(".txt", None), (".txt.gz", "gzip")])
def test_text_lines_paragraphs_and_files_past_the_limit(tmp_path, suffix, codec):
    data = b"first line\n" + b"x" * (1 << 20) + b"\nthird line\n\n" + b"p " * 3000 + b"\nlast\n"
    path = _write(tmp_path / f"t{suffix}", data, codec)
    docs, q, _, _ = _read(path, text_unit="line", chunk_bytes=1 << 12)
    assert docs.column("id").to_pylist() == [f"s/{path.name}:{i}" for i in (1, 3, 6)]
    assert q.column("line").to_pylist() == [2, 5] and q.column("raw_bytes").to_pylist() == [1 << 20, 6000]
    docs, q, _, _ = _read(path, text_unit="paragraph", chunk_bytes=1 << 12)
    assert q.column("kind").to_pylist() == ["too_long", "too_long"]
    assert q.column("line").to_pylist() == [1, 5]
    docs, q, _, _ = _read(path, text_unit="file")
    assert docs.num_rows == 0 and q.column("raw_bytes").to_pylist() == [len(data)]
    docs, _, _, _ = _read(path, text_unit="file", max_doc_bytes=1 << 20)
    assert docs.column("text").to_pylist() == [data.decode()]


# ------------------------------------------------------------------------------------------------------------
# MediaWiki dumps


def _page(i: int, text: str) -> str:
    return (f"  <page>\n    <title>Page {i}</title>\n    <ns>0</ns>\n    <id>{i}</id>\n    <revision>\n"
            f"      <id>{1000 + i}</id>\n      <timestamp>t</timestamp>\n"
            f'      <text xml:space="preserve">{text}</text>\n    </revision>\n  </page>\n')


def _dump(pages: list[str]) -> bytes:
    head = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">\n'
    return (head + "".join(pages) + "</mediawiki>\n").encode()


def test_mediawiki_page_past_the_limit_is_quarantined_in_bounded_memory(tmp_path):
    huge = ("wiki &amp; text\n" * 120_000)  # 1.7 MB of text over many lines
    one_line = "x" * 200_000  # a page of one long line
    pages = [_page(1, "a"), _page(2, huge), _page(3, "c"), _page(4, one_line), _page(5, "e" * 900)]
    path = tmp_path / "dump.xml.bz2"
    data = _dump(pages)
    path.write_bytes(bz2.compress(data, 1))
    page_lines = []
    pos = data.find(b"<page>")
    while pos >= 0:
        page_lines.append(data.count(b"\n", 0, pos) + 1)
        pos = data.find(b"<page>", pos + 1)
    docs, q, _, peak = _read(path, peak=True, format="mediawiki")
    assert docs.column("id").to_pylist() == ["s/1", "s/3", "s/5"]
    assert docs.column("text").to_pylist()[2] == "e" * 900
    assert q.column("kind").to_pylist() == ["too_long", "too_long"]
    assert q.column("line").to_pylist() == [page_lines[1], page_lines[3]]  # each page's <page> line
    assert page_lines[1] == 12 and page_lines[3] > 120_000
    fields = len("Page 2") + len("0") + len("2") + len("t")  # title, ns, id, timestamp: held with the text
    assert q.column("raw_bytes").to_pylist() == [len(huge.replace("&amp;", "&")) + fields, len(one_line) + fields]
    assert "page 2 (id 2, title 'Page 2') at line 12" in q.column("error").to_pylist()[0]
    assert peak < 1 << 20, peak  # the 1.7 MB page is not held


def test_mediawiki_memory_is_constant_per_page(tmp_path, monkeypatch):
    """Many small pages: memory does not grow with the number of pages read (no tree kept below a root).
    Batches and reads are made small so that a few thousand pages make many batches."""
    monkeypatch.setattr(mediawiki, "BATCH_DOCS", 50)
    monkeypatch.setattr(mediawiki, "READ_BYTES", 4096)
    peaks = []
    for n in (500, 2500):
        path = tmp_path / f"d{n}.xml"
        path.write_bytes(_dump([_page(i, f"text {i}") for i in range(n)]))
        opts = ReadOptions(source="s", format="mediawiki")
        tracemalloc.start()
        count = 0
        for chunk in read_file(path, path.name, opts):
            count += chunk.docs.num_rows
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == n
    assert peaks[1] < peaks[0] * 1.5, peaks


def test_mediawiki_markup_token_past_the_record_limit_ends_the_file(tmp_path):
    path = tmp_path / "dump.xml"
    path.write_bytes(_dump([_page(1, "a"), "<!-- " + "c" * (2 << 20) + " -->", _page(2, "b")]))
    docs, q, _, _ = _read(path, format="mediawiki")
    assert docs.column("id").to_pylist() == ["s/1"]
    assert q.column("kind").to_pylist() == ["too_long"] and "rest of the file is not read" in q["error"][0].as_py()


# ------------------------------------------------------------------------------------------------------------
# StackExchange Posts.xml


def _posts(rows: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(f"  {r}\n" for r in rows)
            + "</posts>\n").encode()


def _row(pid: int, body: str, kind: int = 1, parent: int | None = None) -> str:
    par = f' ParentId="{parent}"' if parent else ""
    return f'<row Id="{pid}" PostTypeId="{kind}"{par} Score="1" Title="T{pid}" Body="{body}" />'


@pytest.mark.parametrize("codec,name", [(None, "Posts.xml"), ("gzip", "Posts.xml.gz")])
def test_stackexchange_long_rows_and_bodies_are_quarantined(tmp_path, codec, name, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rows = [_row(1, "q1"), _row(2, "a" * (3 << 20), 2, 1), _row(3, "&lt;p&gt;" * 1000, 2, 1),
            _row(4, "b" * (MAX_DOC + 1)), _row(5, "a5", 2, 4), _row(6, "q6"), '<row PostTypeId="1" Body="x" />']
    site = tmp_path / "site"
    site.mkdir()
    path = _write(site / name, _posts(rows), codec)
    docs, q, _, peak = _read(path, peak=True, format="stackexchange")
    assert docs.column("id").to_pylist() == ["site/1", "site/6", "site/5"]  # 5's question is quarantined
    assert [json.loads(m)["answers"] for m in docs.column("meta").to_pylist()][:2] == [None, None]
    by_line = {r["line"]: r for r in q.to_pylist()}
    assert sorted(by_line) == [4, 5, 6, 9]  # rows are at lines 3..9
    assert by_line[4]["kind"] == "too_long" and "post Id 2" in by_line[4]["error"]
    assert by_line[4]["raw_bytes"] == len(rows[1]) + 2  # the line (indented by two), never held
    assert by_line[5]["kind"] == "too_long" and "post Id 3" in by_line[5]["error"]  # 4 KB escaped, 3 KB text
    assert by_line[6]["kind"] == "too_long" and "a body of 1,001 bytes" in by_line[6]["error"]
    assert by_line[9]["kind"] == "bad_row"
    assert peak < 4 << 20, peak
    assert not list(tmp_path.glob("dataprep-se-*"))  # its scratch folder is gone


def test_stackexchange_scratch_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f"dataprep-se-{dead_pid}-abc"  # what a SIGKILLed reader leaves
    (left / "archive").mkdir(parents=True)
    (left / "posts-00000.arrow").write_bytes(b"x" * 100)
    alive = tmp_path / f"dataprep-se-{os.getppid()}-def"  # a running process's: kept
    alive.mkdir()
    other = tmp_path / "dataprep-se-notapid"
    other.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "Posts.xml").write_bytes(_posts([_row(1, "q")]))
    docs, q, _, _ = _read(site / "Posts.xml", format="stackexchange")
    assert docs.num_rows == 1 and q.num_rows == 0
    assert not left.exists() and alive.exists() and other.exists()
    assert not list(tmp_path.glob(f"dataprep-se-{os.getpid()}-*"))
    scratch = stackexchange.scratch_folder()
    assert scratch.name.startswith(f"dataprep-se-{os.getpid()}-") and scratch.parent == tmp_path


# ------------------------------------------------------------------------------------------------------------
# LaTeX: decompression bombs and sources past the limit

MAIN = b"\\documentclass{article}\\begin{document}\\input{part}\\end{document}"


class _Zeros(io.RawIOBase):
    """``n`` zero bytes, streamed (a bomb is built without holding it)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001
        k = min(len(buf), self.n)
        buf[:k] = bytes(k)
        self.n -= k
        return k


def _tar_gz(members: dict[str, bytes | int]) -> bytes:
    """A .tar.gz of ``members``: bytes, or a number of zero bytes (streamed)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = data if isinstance(data, int) else len(data)
            tar.addfile(info, _Zeros(data) if isinstance(data, int) else io.BytesIO(data))
    return out.getvalue()


def test_latex_tar_bomb_is_quarantined_with_its_member_and_the_bulk_archive_read_on(tmp_path):
    bomb = _tar_gz({"main.tex": MAIN, "part.tex": b"PART", "fig.bmp": 64 << 20})  # 64 MB of zeros, ~60 KB
    assert len(bomb) < 100_000
    (tmp_path / "2401.00001.tar.gz").write_bytes(bomb)
    docs, q, _, peak = _read(tmp_path / "2401.00001.tar.gz", peak=True, format="latex")
    assert docs.num_rows == 0 and q.column("kind").to_pylist() == ["archive_limit"]
    error = q.column("error").to_pylist()[0]
    assert "member fig.bmp" in error and "100:1" in error and "decompression bomb" in error
    assert peak < 8 << 20, peak
    good = gzip.compress(MAIN.replace(b"\\input{part}", b"GOOD"), mtime=0)
    bulk = tmp_path / "arXiv_src_2401_001.tar"
    with tarfile.open(bulk, "w") as tar:
        for name, data in (("2401/2401.00001.gz", bomb), ("2401/2401.00002.gz", good),
                           ("2401/2401.00003.gz", gzip.compress(bytes(8 << 20), mtime=0))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    docs, q, _, _ = _read(bulk, format="latex")
    assert docs.column("id").to_pylist() == ["s/2401.00002"] and "GOOD" in docs.column("text").to_pylist()[0]
    # a gzipped single .tex of zeros: refused at the record limit, before the ratio's grace is unpacked
    assert q.column("kind").to_pylist() == ["archive_limit", "too_long"]
    assert q.column("row").to_pylist() == [1, 3]
    assert "paper 2401.00003: 2401/2401.00003.gz: more than 4,000 bytes" in q.column("error").to_pylist()[1]
    docs, q, _, _ = _read(bulk, format="latex", max_doc_bytes=16 << 20)  # with room: the ratio refuses it
    assert q.column("kind").to_pylist() == ["archive_limit", "archive_limit"]
    assert "paper 2401.00003: 2401/2401.00003.gz: unpacks at more than 100:1" in q.column("error").to_pylist()[1]


def test_latex_sources_past_the_record_limit(tmp_path):
    big = b"%" + b"t" * (2 * LIMIT)
    (tmp_path / "p1.tar.gz").write_bytes(_tar_gz({"main.tex": MAIN, "part.tex": big}))
    figure = b"\x89" * LIMIT * 4
    (tmp_path / "p2.tar.gz").write_bytes(_tar_gz({"main.tex": MAIN, "part.tex": b"small", "fig.png": figure}))
    (tmp_path / "p3.tex").write_bytes(big)
    folder = tmp_path / "p4"
    folder.mkdir()
    (folder / "main.tex").write_bytes(MAIN)
    (folder / "part.tex").write_bytes(big)
    (tmp_path / "p5.gz").write_bytes(gzip.compress(big, mtime=0))
    for name in ("p1.tar.gz", "p3.tex", "p4", "p5.gz"):
        docs, q, _, _ = _read(tmp_path / name, format="latex")
        assert docs.num_rows == 0 and q.column("kind").to_pylist() == ["too_long"], name
        assert "over the limit" in q.column("error").to_pylist()[0] or "more than" in q["error"][0].as_py()
    _, q, _, _ = _read(tmp_path / "p1.tar.gz", format="latex")
    assert "member part.tex" in q.column("error").to_pylist()[0]
    docs, q, _, _ = _read(tmp_path / "p2.tar.gz", format="latex")  # a large figure is not held, nor refused
    assert q.num_rows == 0 and "small" in docs.column("text").to_pylist()[0]
    docs, _, _, _ = _read(tmp_path / "p1.tar.gz", format="latex", max_doc_bytes=1 << 20)
    assert docs.num_rows == 1 and big.decode() in docs.column("text").to_pylist()[0]
