"""Exact and line/paragraph dedup decided out of core (issue 18 item 11): the partitioned ``fit_files`` gives the
same decisions as the in-memory fit (same first copy kept, same ``duplicate_of``, same removed units, same
statistics) for any ``memory_mb`` (many partitions, one partition) and any split of the corpus into task files
and record batches; and a run with 1 and 2 workers at a tiny ``memory_mb`` writes what a run with the default
writes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pyarrow.ipc as ipc
import pytest
from conftest import assert_balanced, run_cli, tree_digest, write_jsonl, write_recipe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataprep.dedup import ExactDedup, ParagraphDedup
from dataprep.dedup.partition import partition_count
from dataprep.step import GlobalStep

ORD_SHIFT = 40

#: lines that recur (navigation, footers) with variants the keys fold (case, digits, punctuation, spacing,
#: invisible characters), short lines, blank lines
LINES = ["Home | About | Contact", "home  about contact!", "HOME | ABOUT | CONTACT\u200b", "Copyright 2021 Example",
         "copyright 1999 example.", "Share this article", "ok", "", "   ", "The quick brown fox jumps.",
         "Le café est très bon", "le cafe est tres bon", "\ufeffShare this article", "Read more\u00ad"]


def make_docs(rng: random.Random, n: int) -> pl.DataFrame:
    """``n`` documents of a few lines from :data:`LINES` plus unique lines; about a third copy an earlier
    document (exactly, or in another case, spacing or with an invisible character)."""
    texts: list[str] = []
    for i in range(n):
        if texts and rng.random() < 0.35:
            t = rng.choice(texts)
            t = rng.choice([t, t.upper(), t.replace(" ", "  "), t + "\u200b", "\x00" + t])
        else:
            lines = [rng.choice(LINES) if rng.random() < 0.6 else f"unique line {i} {rng.random():.6f}"
                     for _ in range(rng.randint(1, 6))]
            t = rng.choice(["\n", "\n\n"]).join(lines)
        texts.append(t)
    return pl.DataFrame({"id": [f"d{i}" for i in range(n)], "text": texts,
                         "source": [rng.choice(["a", "b"]) for _ in range(n)]})


def key_files(step: GlobalStep, docs: pl.DataFrame, tmp: Path, rng: random.Random, skip_source: str | None = None
              ) -> list[tuple[int, Path]]:
    """Write ``docs`` as task key files the way the executor does (documents with their key columns), cut into
    tasks of random sizes (task indices with gaps, as after empty inputs) and record batches of random sizes;
    with ``skip_source``, its rows carry ``_kskip`` (a step restricted to the other sources)."""
    files, start, task = [], 0, 0
    while start < docs.height:
        n = rng.randint(0, 40)
        part = docs.slice(start, n)
        start += n
        task += rng.randint(1, 3)
        keys = step.keys(part).drop("id")
        table = pl.concat([part, keys], how="horizontal")
        if skip_source is not None:
            table = table.with_columns((pl.col("source") == skip_source).alias("_kskip"))
        arrow = table.to_arrow()
        path = tmp / f"task-{task:05d}.arrow"
        with ipc.new_file(str(path), arrow.schema) as w:
            w.write_table(arrow, max_chunksize=rng.randint(1, 16))
        files.append((task, path))
    return files


def in_memory(step: GlobalStep, files: list[tuple[int, Path]], tmp: Path) -> tuple[pl.DataFrame, dict]:
    """The reference: every key in memory, decided by ``step.fit`` (the base class's ``fit_files``)."""
    return GlobalStep.fit_files(step, files, ORD_SHIFT, tmp)


def assert_same(step: GlobalStep, files: list[tuple[int, Path]], tmp: Path, memory_mb: float) -> int:
    expected, expected_stats = in_memory(step, files, tmp)
    step.memory_mb = memory_mb
    got, stats = step.fit_files(files, ORD_SHIFT, tmp / "work")
    parts = stats.pop("partitions", 0)
    payload = "duplicate_of" if step.decides == "drop" else "remove"
    assert got.columns == ["_ord", payload]
    assert got.select(pl.col("_ord").cast(pl.Int64), payload).equals(
        expected.select(pl.col("_ord").cast(pl.Int64), payload)), (memory_mb, got, expected)
    assert stats == expected_stats
    assert not (tmp / "work").exists() or not any((tmp / "work").iterdir()), "spill files left behind"
    return parts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), memory_mb=st.sampled_from([1e-4, 3e-3, 1024.0]),
       normalize=st.booleans(), skip=st.booleans())
def test_exact_fit_files_equals_in_memory_fit(tmp_path_factory, seed, n, memory_mb, normalize, skip):
    tmp = tmp_path_factory.mktemp("exact")
    rng = random.Random(seed)
    step = ExactDedup(normalize=normalize)
    files = key_files(step, make_docs(rng, n), tmp, rng, skip_source="b" if skip else None)
    parts = assert_same(step, files, tmp, memory_mb)
    if memory_mb < 1 and n > 50:
        assert parts > 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), memory_mb=st.sampled_from([1e-4, 3e-3, 1024.0]),
       unit=st.sampled_from(["line", "paragraph"]), min_chars=st.sampled_from([0, 12]), skip=st.booleans())
def test_paragraph_fit_files_equals_in_memory_fit(tmp_path_factory, seed, n, memory_mb, unit, min_chars, skip):
    tmp = tmp_path_factory.mktemp("para")
    rng = random.Random(seed)
    step = ParagraphDedup(unit=unit, min_chars=min_chars)
    files = key_files(step, make_docs(rng, n), tmp, rng, skip_source="a" if skip else None)
    parts = assert_same(step, files, tmp, memory_mb)
    if memory_mb < 1 and n > 50:
        assert parts > 1


def test_many_partitions_are_forced_and_decisions_are_real(tmp_path):
    """At a tiny bound the keys are cut into hundreds of partitions, and the decisions are not trivial."""
    rng = random.Random(7)
    docs = make_docs(rng, 400)
    exact, para = ExactDedup(), ParagraphDedup()
    for step in (exact, para):
        files = key_files(step, docs, tmp_path, rng)
        expected, _ = in_memory(step, files, tmp_path)
        assert expected.height > 50
        assert assert_same(step, files, tmp_path, 1e-4) >= 256
    assert partition_count(10**9 * 24, 1024) == 128  # a billion documents' exact keys: 24 GB in 128 parts


def test_no_key_files(tmp_path):
    for step in (ExactDedup(), ParagraphDedup()):
        got, stats = step.fit_files([], ORD_SHIFT, tmp_path / "w")
        assert got.height == 0 and set(got.columns) == set(step.decision_schema())


@pytest.mark.slow
def test_run_with_tiny_memory_and_two_workers_writes_what_the_default_writes(tmp_path):
    """Through ``dataprep run``: ``memory_mb`` tiny (many partitions) with 2 workers and the default with 1
    worker write the same kept, duplicates and rejected shards and the same statistics."""
    rng = random.Random(3)
    docs = make_docs(rng, 600)
    rows = docs.to_dicts()
    for f in range(4):
        write_jsonl(tmp_path / "d" / f"part-{f}.jsonl", rows[f * 150:(f + 1) * 150])
    outputs = {}
    for name, memory_mb, workers in (("default", None, 1), ("tiny", 1e-4, 2)):
        extra = {} if memory_mb is None else {"memory_mb": memory_mb}
        steps = [{"exact_dedup": dict(extra)}, {"paragraph_dedup": dict(extra)},
                 {"paragraph_dedup": {"unit": "paragraph", **extra}}]
        recipe = write_recipe(tmp_path / f"{name}.yaml", [{"name": "d", "paths": ["d/"]}], steps=steps)
        out = tmp_path / name
        run_cli("run", str(recipe), "-o", str(out), "-w", str(workers), "-q")
        stats = json.loads((out / "stats.json").read_text())
        assert_balanced(stats)
        outputs[name] = (out, stats)
    (a, sa), (b, sb) = outputs["default"], outputs["tiny"]
    for folder in ("kept", "duplicates", "rejected"):
        assert tree_digest(a / folder) == tree_digest(b / folder), folder
    assert sa["counts"] == sb["counts"] and sa["counts"]["duplicates"] > 50
    assert sa["by_step"] == sb["by_step"]

