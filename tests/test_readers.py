"""Readers: every format, every compression, exact line numbers, and quarantine of every kind of bad record."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataprep.io import ReadOptions, expand_paths, read_file
from dataprep.schema import DOC_SCHEMA, QUARANTINE_SCHEMA


def read_all(path: Path, **kw) -> tuple[pa.Table, pa.Table]:
    opts = ReadOptions(source=kw.pop("source", "s"), **kw)
    chunks = list(read_file(path, path.name, opts))
    docs = pa.concat_tables([DOC_SCHEMA.empty_table()] + [c.docs for c in chunks])
    quarantine = pa.concat_tables([QUARANTINE_SCHEMA.empty_table()] + [c.quarantine for c in chunks])
    return docs, quarantine


@pytest.mark.parametrize("compress,suffix", [(None, ".jsonl"), ("gzip", ".jsonl.gz"), ("zstd", ".jsonl.zst")])
def test_jsonl_compressions(tmp_path, compress, suffix):
    recs = [{"id": i, "text": f"doc {i}", "url": f"https://x/{i}", "n": {"a": i}} for i in range(100)]
    path = write_jsonl(tmp_path / f"f{suffix}", recs, compress)
    docs, q = read_all(path)
    assert docs.schema == DOC_SCHEMA
    assert docs.num_rows == 100 and q.num_rows == 0
    assert docs.column("id").to_pylist()[:3] == ["0", "1", "2"]
    assert json.loads(docs.column("meta")[5].as_py()) == {"url": "https://x/5", "n": {"a": 5}}
    assert set(docs.column("source").to_pylist()) == {"s"}


def test_jsonl_position_ids_and_blank_lines(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\r\n\n\n{"text": "c"}')  # no final newline
    docs, q = read_all(path)
    assert docs.column("id").to_pylist() == ["s/f.jsonl:1", "s/f.jsonl:3", "s/f.jsonl:6"]
    assert docs.column("text").to_pylist() == ["a", "b", "c"]


def test_jsonl_timestamps_stay_text_in_meta(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [{"text": "a", "date": "2020-01-01 10:00:00"},
                                              {"text": "b", "date": "2021-02-03"}])
    docs, _ = read_all(path)
    metas = [json.loads(m) for m in docs.column("meta").to_pylist()]
    assert metas == [{"date": "2020-01-01 10:00:00"}, {"date": "2021-02-03"}]


def test_jsonl_malformed_lines_are_quarantined_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        b'{"text": "good one"}',
        b'{"text": "unterminated',
        b'{"text": "caf\xe9"}',
        b'{"other": 1}',
        b'{"text": 5}',
        b'{"text": null}',
        b"[1, 2]",
        b'{"text": "lone \\ud800 surrogate"}',
        b'{"text": "good two", "id": {"nested": true}}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    docs, q = read_all(path)
    assert docs.column("text").to_pylist() == ["good one", "good two"]
    assert docs.column("id").to_pylist()[1] == "s/bad.jsonl:9"  # unusable id falls back to the position
    got = dict(zip(q.column("line").to_pylist(), q.column("kind").to_pylist(), strict=True))
    assert got == {2: "malformed_json", 3: "invalid_utf8", 4: "missing_text", 5: "text_not_string",
                   6: "text_not_string", 7: "not_an_object", 8: "invalid_unicode"}
    assert q.column("raw")[1].as_py() == lines[2]
    assert all(q.column("file").to_pylist()[i] == "bad.jsonl" for i in range(q.num_rows))


def test_truncated_gzip_keeps_what_was_read_and_quarantines_the_rest(tmp_path):
    recs = [{"text": f"line {i} " + "x" * 200} for i in range(5000)]
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in recs).encode(), mtime=0)
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    docs, q = read_all(path, chunk_bytes=1 << 16)
    kinds = q.column("kind").to_pylist()
    assert "corrupt_stream" in kinds
    assert 0 < docs.num_rows < 5000
    assert docs.column("text").to_pylist() == [r["text"] for r in recs[: docs.num_rows]]


def test_not_gzip_at_all(tmp_path):
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(b'{"text": "plain text posing as gzip"}\n')
    docs, q = read_all(path)
    assert docs.num_rows == 0 and q.column("kind").to_pylist() == ["corrupt_stream"]


def test_parquet_and_arrow(tmp_path):
    table = pa.table({"doc_id": ["x", "y", None], "content": ["one", None, "three"], "score": [1.0, 2.0, 3.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    with pa.OSFile(str(tmp_path / "s.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    for name in ("t.parquet", "t.arrow", "s.arrow"):
        docs, q = read_all(tmp_path / name, text_field="content", id_field="doc_id")
        assert docs.column("text").to_pylist() == ["one", "three"], name
        assert docs.column("id").to_pylist() == ["x", f"s/{name}:2"], name
        assert json.loads(docs.column("meta")[0].as_py()) == {"score": 1.0}
        assert q.column("row").to_pylist() == [1] and q.column("kind").to_pylist() == ["missing_text"]


def test_parquet_wrong_text_column(tmp_path):
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "n.parquet")
    docs, q = read_all(tmp_path / "n.parquet")
    assert docs.num_rows == 0 and q.column("kind").to_pylist() == ["text_not_string"] * 2
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "m.parquet")
    docs, q = read_all(tmp_path / "m.parquet")
    assert "columns: body" in q.column("error")[0].as_py()


def test_corrupt_parquet_is_quarantined(tmp_path):
    (tmp_path / "c.parquet").write_bytes(b"PAR1 not really parquet")
    docs, q = read_all(tmp_path / "c.parquet")
    assert docs.num_rows == 0 and q.column("kind").to_pylist() == ["unreadable_file"]


@pytest.mark.parametrize("unit,expected", [
    ("file", ["first para\nstill first\n\nsecond para\n\n\nthird"]),
    ("paragraph", ["first para\nstill first", "second para", "third"]),
    ("line", ["first para", "still first", "second para", "third"]),
])
def test_text_units(tmp_path, unit, expected):
    path = tmp_path / "t.txt"
    path.write_text("first para\nstill first\n\nsecond para\n\n\nthird\n")
    docs, q = read_all(path, text_unit=unit)
    got = docs.column("text").to_pylist()
    assert [g.strip("\n") for g in got] == expected
    if unit == "line":
        assert docs.column("id").to_pylist() == ["s/t.txt:1", "s/t.txt:2", "s/t.txt:4", "s/t.txt:7"]


def test_text_invalid_utf8(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"ok\n\xff\xfe bad\n")
    docs, q = read_all(tmp_path / "b.txt")
    assert docs.num_rows == 0 and q.column("kind").to_pylist() == ["invalid_utf8"]
    assert q.column("line").to_pylist() == [2]


def test_a_single_50mb_document_streams(tmp_path):
    big = "word " * (10 * 1024 * 1024)  # 50 MiB
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": "small"}, {"text": big}, {"text": "after"}])
    docs, q = read_all(path, chunk_bytes=1 << 20)
    assert docs.column("text").to_pylist()[0] == "small" and docs.column("text").to_pylist()[2] == "after"
    assert len(docs.column("text")[1].as_py()) == len(big) and q.num_rows == 0


def test_expand_paths_files_folders_globs(tmp_path):
    for name in ("a/1.jsonl", "a/2.jsonl.gz", "a/sub/3.parquet", "a/readme.unknown", "b/4.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    got = expand_paths([str(tmp_path / "a"), str(tmp_path / "b/*.txt"), str(tmp_path / "a/1.jsonl")])
    assert [rel for _, rel in got] == ["1.jsonl", "2.jsonl.gz", "sub/3.parquet", "4.txt"]
    from dataprep.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        expand_paths([str(tmp_path / "nope.jsonl")])
    with pytest.raises(InputError, match="no input files match"):
        expand_paths([str(tmp_path / "*.nothing")])


def _meaningful_lines(data: bytes) -> int:
    """Lines that must end as a document or a quarantine record: all but blank or white-space-only ones."""
    n = 0
    for line in data.split(b"\n"):
        try:
            blank = line.decode("utf-8").strip() == ""
        except UnicodeDecodeError:
            blank = False
        n += not blank
    return n


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.one_of(
    st.binary(max_size=60),
    st.builds(lambda t: json.dumps({"text": t}).encode(), st.text(max_size=40)),
    st.builds(lambda t: json.dumps({"text": t}, ensure_ascii=False).encode(), st.text(max_size=40)),
    st.sampled_from([b"{}", b"null", b'{"text": 1}', b'{"text": ["a"]}', b"   ", b"\r", b'{"text":"\\ud800"}']),
), max_size=30))
def test_jsonl_reader_never_crashes_and_accounts_for_every_line(tmp_path, data):
    raw = b"\n".join(d.replace(b"\n", b" ") for d in data)
    path = tmp_path / "h.jsonl"
    path.write_bytes(raw)
    docs, q = read_all(path, chunk_bytes=64)
    assert docs.num_rows + q.num_rows == _meaningful_lines(raw)
    docs.validate(full=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".jsonl.gz", ".jsonl.zst", ".txt", ".parquet",
                                                           ".arrow"]))
def test_any_bytes_in_any_format_never_crash(tmp_path, raw, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(raw)
    docs, q = read_all(path)
    docs.validate(full=True)
    assert docs.num_rows + q.num_rows >= (1 if raw.strip() else 0) or suffix in (".jsonl.gz", ".jsonl.zst")


DUMP_PREFIXES = [b"", b'<posts>\n<row Id="1" PostTypeId="1" Title="t" Body="&lt;p&gt;x&lt;/p&gt;" />\n',
                 b"<mediawiki><page><title>T</title><ns>0</ns><id>1</id><revision><text>x",
                 b"WARC/1.1\r\nWARC-Type: response\r\nContent-Type: application/http\r\nContent-Length: 40\r\n\r\n",
                 b"\x1f\x8b\x08\x00\x00\x00\x00\x00", b"\\documentclass{a}\\begin{document}\\section{S}"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(DUMP_PREFIXES), raw=st.binary(max_size=300),
       fmt=st.sampled_from([("stackexchange", "Posts.xml"), ("mediawiki", "dump.xml"), ("warc", "c.warc"),
                            ("warc", "c.warc.gz"), ("latex", "p.tex"), ("latex", "p.tar"), ("latex", "p.tar.gz"),
                            ("html", "p.html")]))
def test_dump_and_page_readers_never_crash_on_any_bytes(tmp_path, prefix, raw, fmt):
    """Damaged dumps, WARCs and archives end in quarantine (or as documents a cleaner rejects), never in an
    exception that would stop a long run."""
    kind, name = fmt
    path = tmp_path / name
    path.write_bytes(prefix + raw)
    chunks = list(read_file(path, name, ReadOptions(source="s", format=kind)))
    for c in chunks:
        c.docs.validate(full=True)
        c.quarantine.validate(full=True)


LINE_PIECES = st.lists(st.one_of(
    st.sampled_from([b"", b"\r", b"{}", b"{}\r", b'{"text": "a"}', b" {}", b"{} ", b"null", b"{", b"}", b"{\r",
                     b"\r}", b"x"]),
    st.binary(max_size=12),
), max_size=25)


@settings(max_examples=200, deadline=None)
@given(lines=LINE_PIECES, newline_at_end=st.booleans())
def test_compiled_line_scan_equals_numpy(lines, newline_at_end):
    """The compiled scan (``dataprep/io/_scan.c``) and the numpy fallback agree on lines, blank lines, the
    plain-object check and the longest line; the newline counts agree too."""
    from dataprep.io import files, readers

    if readers._scan is None:
        pytest.skip("the compiled scan is not built here")
    raw = b"\n".join(line.replace(b"\n", b"") for line in lines) + (b"\n" if newline_at_end and lines else b"")
    compiled = readers.scan_lines(raw)
    scan, readers._scan = readers._scan, None
    try:
        fallback = readers.scan_lines(raw)
    finally:
        readers._scan = scan
    assert compiled == fallback
    assert files.count_newlines(raw) == raw.count(b"\n")


def test_jsonl_read_is_the_same_without_the_compiled_scan(tmp_path, monkeypatch):
    """Where no C compiler built the scan, the numpy fallback reads the same documents and quarantine."""
    from dataprep.io import readers

    rows = [{"text": f"doc {i}", "n": i} for i in range(50)]
    rows[7] = "null"
    rows[20] = '{"text": broken'
    path = tmp_path / "d.jsonl"
    write_jsonl(path, rows)
    path.write_bytes(path.read_bytes().replace(b'"doc 30"', b'"doc 30"}\n\n\r\n{"text": "extra"'))
    docs, q = read_all(path, chunk_bytes=256)
    monkeypatch.setattr(readers, "_scan", None)
    docs2, q2 = read_all(path, chunk_bytes=256)
    assert docs.equals(docs2) and q.equals(q2)
    assert q.column("line").to_pylist() == [8, 21]
    assert docs.num_rows == 49


def test_meta_leaves_out_null_and_missing_fields_on_both_paths(tmp_path):
    """pyarrow fills every field of a block into every row; the metadata must still be the record's own: a
    field missing (or null) in a record is left out, whether its block parsed vectorized or line by line."""
    lines = ['{"text": "a", "url": "u1", "lang": "en"}', '{"text": "b", "url": "u2"}',
             '{"text": "c", "url": null, "lang": "de", "tags": ["x", null]}', '{"text": "d"}']
    clean, broken = tmp_path / "clean.jsonl", tmp_path / "broken.jsonl"
    clean.write_text("\n".join(lines) + "\n")
    broken.write_text("\n".join(lines) + "\nnull\n")  # one bad line sends the block down the line-by-line path
    expected = ['{"url":"u1","lang":"en"}', '{"url":"u2"}', '{"lang":"de","tags":["x",null]}', None]
    for path in (clean, broken):
        docs, _ = read_all(path)
        assert docs.column("meta").to_pylist() == expected, path.name


@pytest.mark.parametrize("damage", ["none", "truncated", "corrupt", "multi_member", "not_gzip"])
def test_gzip_through_isal_reads_as_pyarrow_does(tmp_path, monkeypatch, damage):
    """ISA-L (the 'fast' extra) and pyarrow's zlib read the same documents from a gzip file, damaged or not,
    and quarantine the same records."""
    from dataprep.io import readers

    if readers._igzip is None:
        pytest.skip("isal is not installed here")
    recs = [{"text": f"line {i} " + "x" * (i % 300)} for i in range(6000)]
    raw = "".join(json.dumps(r) + "\n" for r in recs).encode()
    data = gzip.compress(raw, mtime=0)
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "corrupt":
        data = data[:len(data) // 2] + bytes(64) + data[len(data) // 2 + 64:]
    elif damage == "multi_member":
        data = gzip.compress(raw[:100_000], mtime=0) + gzip.compress(raw[100_000:], mtime=0)
    elif damage == "not_gzip":
        data = raw[:5000]
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(data)
    docs, q = read_all(path, chunk_bytes=1 << 16)
    monkeypatch.setattr(readers, "_igzip", None)
    docs2, q2 = read_all(path, chunk_bytes=1 << 16)
    if damage in ("none", "multi_member"):
        assert docs.equals(docs2) and docs.num_rows == 6000 and q.num_rows == q2.num_rows == 0
        return
    assert q.column("kind").to_pylist()[-1] == q2.column("kind").to_pylist()[-1] == "corrupt_stream"
    if damage == "corrupt":
        # gzip checks a member's CRC only at its end: what a library decodes from damaged deflate data before
        # that depends on where it notices (ISA-L at the CRC, zlib earlier); the damaged lines are quarantined
        return
    # documents read before the damage: the same text; each library stops at its own buffer boundary
    n = min(docs.num_rows, docs2.num_rows)
    assert docs.column("text").to_pylist()[:n] == docs2.column("text").to_pylist()[:n]
    assert set(q.column("kind").to_pylist()) == set(q2.column("kind").to_pylist())
