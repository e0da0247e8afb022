"""The JSONL reader: compressions, exact line numbers, ids, metadata, and quarantine of every kind of bad line."""

from __future__ import annotations

import json

import pytest
from conftest import read_all, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataprep.schema import DOC_SCHEMA


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


def test_a_single_50mb_document_streams(tmp_path):
    big = "word " * (10 * 1024 * 1024)  # 50 MiB
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": "small"}, {"text": big}, {"text": "after"}])
    docs, q = read_all(path, chunk_bytes=1 << 20)
    assert docs.column("text").to_pylist()[0] == "small" and docs.column("text").to_pylist()[2] == "after"
    assert len(docs.column("text")[1].as_py()) == len(big) and q.num_rows == 0


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
