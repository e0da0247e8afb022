"""Byte streams: damaged and fake gzip, and ISA-L's gzip reading as pyarrow's zlib does."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import read_all


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


@pytest.mark.parametrize("damage", ["none", "truncated", "corrupt", "multi_member", "not_gzip"])
def test_gzip_through_isal_reads_as_pyarrow_does(tmp_path, monkeypatch, damage):
    """ISA-L (the 'fast' extra) and pyarrow's zlib read the same documents from a gzip file, damaged or not,
    and quarantine the same records."""
    from dataprep.io.readers import streams

    if streams._igzip is None:
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
    monkeypatch.setattr(streams, "_igzip", None)
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
