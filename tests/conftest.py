"""Shared helpers: write recipes and corpora into tmp folders, run the CLI, compare output trees, read one file
through the readers."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import yaml

from dataprep.io import ReadOptions, read_file
from dataprep.schema import DOC_SCHEMA, QUARANTINE_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def write_jsonl(path: Path, records: list, compress: str | None = None) -> Path:
    data = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress == "gzip":
        data = gzip.compress(data, mtime=0)
    elif compress == "zstd":
        with pa.output_stream(str(path), compression="zstd") as fh:
            fh.write(data)
        return path
    path.write_bytes(data)
    return path


def write_recipe(path: Path, sources: list[dict], steps: list | None = None, output: str = "out", **extra) -> Path:
    doc = {"name": path.stem, "seed": 1, "sources": sources, "steps": steps or [], "output": {"path": output}}
    doc.update(extra)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_cli(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "dataprep.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"dataprep {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def tree_digest(folder: Path, exclude: tuple[str, ...] = ("runs.jsonl",)) -> dict[str, str]:
    """sha256 of every file below ``folder`` by relative path (timings excluded)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name not in exclude:
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_balanced(stats: dict) -> None:
    c = stats["counts"]
    assert c["input"] == c["kept"] + c["rejected"] + c["duplicates"] + c["quarantined"], c
    for name, s in stats["by_source"].items():
        sc = s["counts"]
        assert sc["input"] == sc["kept"] + sc["rejected"] + sc["duplicates"] + sc["quarantined"], (name, sc)
    assert sum(s["counts"]["input"] for s in stats["by_source"].values()) == c["input"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small corpus with duplicates across files and sources, an empty doc and a malformed line."""
    a = [{"id": f"a{i}", "text": f"document number {i} about topic {i % 7}", "url": f"u{i}"} for i in range(50)]
    a.append({"id": "a-dup", "text": "DOCUMENT NUMBER 3 about   topic 3"})
    a.append({"id": "a-empty", "text": "   "})
    write_jsonl(tmp_path / "data/a/part-0.jsonl.gz", a, "gzip")
    b = [{"text": f"document number {i} about topic {i % 7}"} for i in range(40, 60)]
    b.append('{"text": broken')
    write_jsonl(tmp_path / "data/a/part-1.jsonl", b)
    c = [{"text": "document number 0 about topic 0", "title": "t"}]
    write_jsonl(tmp_path / "data/b/x.jsonl.zst", c, "zstd")
    return tmp_path


def run_with_1_and_2_workers(tmp_path: Path, files: dict[str, list], steps: list) -> dict:
    """Write JSONL ``files`` under tmp_path/d, run ``steps`` with 1 and with 2 workers, assert the two outputs
    are byte-identical and the counts balance; return stats.json of the run."""
    for name, rows in files.items():
        write_jsonl(tmp_path / "d" / name, rows)
    # small files are batched into one task up to split_bytes: a small limit gives several tasks, so that the
    # second worker has work and the comparison means something
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}], steps=steps,
                          executor={"split_bytes": 64})
    run_cli("run", str(recipe), "-o", str(tmp_path / "o1"), "-w", "1", "-q")
    run_cli("run", str(recipe), "-o", str(tmp_path / "o2"), "-w", "2", "-q")
    assert tree_digest(tmp_path / "o1") == tree_digest(tmp_path / "o2")
    stats = json.loads((tmp_path / "o1" / "stats.json").read_text())
    assert_balanced(stats)
    return stats


def read_all(path: Path, **kw) -> tuple[pa.Table, pa.Table]:
    """Documents and quarantine of one file, as Arrow tables; ``kw`` are :class:`ReadOptions` fields."""
    opts = ReadOptions(source=kw.pop("source", "s"), **kw)
    chunks = list(read_file(path, path.name, opts))
    docs = pa.concat_tables([DOC_SCHEMA.empty_table()] + [c.docs for c in chunks])
    quarantine = pa.concat_tables([QUARANTINE_SCHEMA.empty_table()] + [c.quarantine for c in chunks])
    return docs, quarantine


def read(path: Path, fmt: str, **options) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Documents and quarantine of one file of format ``fmt`` read with reader ``options``, as DataFrames."""
    opts = ReadOptions(source="s", format=fmt, options=tuple(sorted(options.items())))
    chunks = list(read_file(path, path.name, opts))
    docs = pl.from_arrow(pa.concat_tables([c.docs for c in chunks]))
    quarantine = pl.from_arrow(pa.concat_tables([c.quarantine for c in chunks]))
    return docs, quarantine


def arxiv_docs() -> pl.DataFrame:
    """Every paper of sample_data/arxiv read as ``format: latex``."""
    return pl.concat([read(unit, "latex")[0] for unit in sorted((SAMPLE / "arxiv").iterdir())])


@pytest.fixture
def isolated(monkeypatch, request):
    """Plugins loaded in this process leave no module, step or sys.path entry behind: the modules whose names
    start with the test module's ``PLUGIN_PREFIXES`` (default ``plugin_``) are forgotten afterwards."""
    from dataprep import registry

    prefixes = tuple(getattr(request.module, "PLUGIN_PREFIXES", ("plugin_",)))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(prefixes):
            del sys.modules[name]
