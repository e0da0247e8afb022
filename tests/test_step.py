"""The three faces of a step on polars and Arrow, exact-dedup hashing, and the shard writer."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from dataprep import ExactDedup, ShardWriter
from dataprep.dedup import hash_texts
from dataprep.io import read_folder
from dataprep.schema import DOC_SCHEMA


def _docs() -> pl.DataFrame:
    return pl.DataFrame({"id": ["a", "b", "c", "d"], "text": ["Hello  World", "hello world", "x", "Ｈello world "],
                         "source": ["s"] * 4, "meta": [None] * 4}, schema_overrides={"meta": pl.String})


def test_exact_dedup_faces_polars_and_arrow():
    step = ExactDedup()
    kept, rejected = step.split(_docs())
    assert kept.get_column("id").to_list() == ["a", "c"]
    assert rejected.select("id", "duplicate_of", "reason").rows() == [("b", "a", "duplicate"), ("d", "a", "duplicate")]
    table = _docs().to_arrow()
    out = step(table)
    assert isinstance(out, pa.Table) and out.column("id").to_pylist() == ["a", "c"]
    assert ExactDedup(normalize=False)(_docs()).height == 4


def test_hash_is_xxh3_128_of_utf8():
    import xxhash

    h = hash_texts(pa.array(["héllo", "", "x" * 1000]))
    for i, t in enumerate(["héllo", "", "x" * 1000]):
        d = xxhash.xxh3_128_intdigest(t.encode())
        assert (int(h[i, 0]) << 64 | int(h[i, 1])) == d
    sliced = pa.array(["a", "b", "c"]).slice(1)
    assert (hash_texts(sliced) == hash_texts(pa.array(["b", "c"]))).all()


def test_shard_writer_rolls_over_and_is_atomic(tmp_path):
    table = pa.table({"id": [str(i) for i in range(1000)], "text": ["x" * 100] * 1000, "source": ["s"] * 1000,
                      "meta": pa.nulls(1000, pa.string())})
    with ShardWriter(tmp_path, "p", DOC_SCHEMA, max_bytes=20_000) as w:
        for i in range(0, 1000, 100):
            w.write(table.slice(i, 100))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) > 3 and all(n.startswith("p-") and n.endswith(".arrow") for n in names)
    assert read_folder(tmp_path).column("id").to_pylist() == table.column("id").to_pylist()
    try:
        with ShardWriter(tmp_path / "x", "p", DOC_SCHEMA) as w:
            w.write(table)
            raise RuntimeError("crash")
    except RuntimeError:
        pass
    assert not list((tmp_path / "x").iterdir())
