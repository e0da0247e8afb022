"""The plain-text reader: files, paragraphs and lines as documents, with their line numbers; invalid UTF-8."""

from __future__ import annotations

import pytest
from conftest import read_all


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
