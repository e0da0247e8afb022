"""The Parquet and Arrow readers: columns as text, id and metadata; rows without text and unreadable files."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import read_all


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
