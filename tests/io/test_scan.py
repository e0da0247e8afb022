"""The compiled line scans and their numpy fallback: the same scans, the same documents."""

from __future__ import annotations

import pytest
from conftest import read_all, write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st

from dataprep.io.readers import scan

LINE_PIECES = st.lists(st.one_of(
    st.sampled_from([b"", b"\r", b"{}", b"{}\r", b'{"text": "a"}', b" {}", b"{} ", b"null", b"{", b"}", b"{\r",
                     b"\r}", b"x"]),
    st.binary(max_size=12),
), max_size=25)


@settings(max_examples=200, deadline=None)
@given(lines=LINE_PIECES, newline_at_end=st.booleans())
def test_compiled_line_scan_equals_numpy(lines, newline_at_end):
    """The compiled scan (``dataprep/io/readers/scan/_scan.c``) and the numpy fallback agree on lines, blank
    lines, the plain-object check and the longest line; the newline counts agree too."""
    if scan._scan is None:
        pytest.skip("the compiled scan is not built here")
    raw = b"\n".join(line.replace(b"\n", b"") for line in lines) + (b"\n" if newline_at_end and lines else b"")
    compiled = scan.scan_lines(raw), scan.count_newlines(raw)
    compiled_module, scan._scan = scan._scan, None
    try:
        fallback = scan.scan_lines(raw), scan.count_newlines(raw)
    finally:
        scan._scan = compiled_module
    assert compiled == fallback
    assert compiled[1] == raw.count(b"\n")


def test_jsonl_read_is_the_same_without_the_compiled_scan(tmp_path, monkeypatch):
    """Where no C compiler built the scan, the numpy fallback reads the same documents and quarantine."""
    rows = [{"text": f"doc {i}", "n": i} for i in range(50)]
    rows[7] = "null"
    rows[20] = '{"text": broken'
    path = tmp_path / "d.jsonl"
    write_jsonl(path, rows)
    path.write_bytes(path.read_bytes().replace(b'"doc 30"', b'"doc 30"}\n\n\r\n{"text": "extra"'))
    docs, q = read_all(path, chunk_bytes=256)
    monkeypatch.setattr(scan, "_scan", None)
    docs2, q2 = read_all(path, chunk_bytes=256)
    assert docs.equals(docs2) and q.equals(q2)
    assert q.column("line").to_pylist() == [8, 21]
    assert docs.num_rows == 49
