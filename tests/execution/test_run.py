"""End-to-end runs through the CLI: accounting, dedup, determinism across workers, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import ROOT, assert_balanced, run_cli, tree_digest, write_jsonl, write_recipe

from dataprep.io import read_folder


def _recipe(tmp: Path, **kw) -> Path:
    sources = [{"name": "a", "paths": ["data/a"], "format": "jsonl"},
               {"name": "b", "paths": ["data/b/*.jsonl.zst"]}]
    return write_recipe(tmp / "r.yaml", sources, steps=[{"exact_dedup": {"normalize": True}}], **kw)


def test_quickstart_on_sample_data(tmp_path):
    out = tmp_path / "qs"
    proc = run_cli("run", "recipes/quickstart.yaml", "--output", str(out), "--workers", "2")
    assert "kept" in proc.stdout and "docs/s" in proc.stdout and "quarantined" in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert_balanced(stats)
    c = stats["counts"]
    assert c["input"] > 1500 and c["duplicates"] > 100 and c["quarantined"] == 6 and c["rejected"] >= 2
    assert set(stats["by_source"]) == {"reference", "web", "forum", "notes", "crawl"}
    by_step = stats["by_step"]
    assert {"language", "gopher_repetition", "fineweb_quality", "perplexity", "pii"} <= set(by_step)
    assert by_step["pii"]["counters"]["email"] > 0 and by_step["boilerplate_lines"]["counters"]["lines_removed"] > 0
    assert stats["by_step"]["exact_dedup"]["clusters"] > 50
    kept = read_folder(out / "kept")
    assert kept.num_rows == c["kept"] and len(set(kept.column("id").to_pylist())) == kept.num_rows
    dups = read_folder(out / "duplicates")
    # the reference source is listed first, so a reference document only ever duplicates another one
    ref = pl.from_arrow(dups).filter(pl.col("source") == "reference")
    assert ref.height == stats["by_source"]["reference"]["counts"]["duplicates"]
    assert all(d.startswith("ref-") for d in ref.get_column("duplicate_of").to_list())
    assert pl.from_arrow(dups).filter(pl.col("duplicate_of").str.starts_with("ref-")).height > ref.height
    # the first copy is kept by a dedup step; a later step may still reject it (rejected/) or find it a near
    # duplicate of another document (duplicates/, a chain that ends at a kept or rejected document)
    rejected = read_folder(out / "rejected")
    survivors = set(kept.column("id").to_pylist()) | set(rejected.column("id").to_pylist()) | set(
        dups.column("id").to_pylist())
    assert set(dups.column("duplicate_of").to_pylist()) <= survivors
    # the recipe's tokenizer and pack sections ran on the kept documents
    from dataprep.shards import PackedDataset

    packed = PackedDataset(out / "packed")
    assert (out / "tokenizer" / "tokenizer.json").exists() and len(packed) > 100 and packed.seq_len == 256
    assert "pack: " in proc.stdout and "tokenizer: trained" in proc.stdout
    q = read_folder(out / "quarantine")
    assert {"malformed_json", "invalid_utf8", "missing_text", "text_not_string", "not_an_object",
            "corrupt_stream"} == set(q.column("kind").to_pylist())


def test_counts_dedup_and_duplicate_of(corpus):
    recipe = _recipe(corpus)
    run_cli("run", str(recipe), "--workers", "1", "-q")
    out = corpus / "out"
    stats = json.loads((out / "stats.json").read_text())
    assert_balanced(stats)
    # 52 + 21 + 1 lines in; 1 malformed, 1 empty; duplicates: a-dup, 10 overlap of part-1 with part-0, b's copy
    assert stats["counts"] == {"input": 74, "kept": 60, "rejected": 1, "duplicates": 12, "quarantined": 1}
    dups = pl.from_arrow(read_folder(out / "duplicates"))
    row = dups.filter(pl.col("id") == "a-dup").row(0, named=True)
    assert row["duplicate_of"] == "a3" and row["step"] == "exact_dedup"
    assert dups.filter(pl.col("source") == "b").get_column("duplicate_of").to_list() == ["a0"]
    assert dups.filter(pl.col("id") == "a/part-1.jsonl:1").get_column("duplicate_of").to_list() == ["a40"]
    rejected = pl.from_arrow(read_folder(out / "rejected"))
    assert rejected.select("id", "step", "reason").rows() == [("a-empty", "read", "empty")]
    assert stats["by_source"]["b"]["counts"]["duplicates"] == 1


def test_workers_do_not_change_output(corpus, tmp_path):
    recipe = _recipe(corpus)
    run_cli("run", str(recipe), "--workers", "1", "-q", "--output", str(tmp_path / "w1"))
    run_cli("run", str(recipe), "--workers", "2", "-q", "--output", str(tmp_path / "w2"))
    d1, d2 = tree_digest(tmp_path / "w1"), tree_digest(tmp_path / "w2")
    assert d1 == d2 and any(k.startswith("kept/") for k in d1)


def test_parquet_output(corpus):
    recipe = _recipe(corpus)
    run_cli("run", str(recipe), "--format", "parquet", "-q")
    files = sorted((corpus / "out/kept").iterdir())
    assert files and all(f.suffix == ".parquet" for f in files)
    assert pl.read_parquet(files[0]).columns[:4] == ["id", "text", "source", "meta"]


def test_rerun_is_skipped_and_other_recipe_refused(corpus):
    recipe = _recipe(corpus)
    run_cli("run", str(recipe), "-q")
    before = tree_digest(corpus / "out")
    again = run_cli("run", str(recipe), "-q")
    assert "already holds" in again.stdout and tree_digest(corpus / "out") == before
    other = write_recipe(corpus / "other.yaml", [{"name": "a", "paths": ["data/a"], "format": "jsonl"}])
    proc = run_cli("run", str(other), check=False)
    assert proc.returncode == 2 and "different recipe" in proc.stderr and "Traceback" not in proc.stderr
    run_cli("run", str(other), "--overwrite", "-q")
    # the replaced output went to OUT/.trash and was deleted there; trash a killed run left goes too
    out = corpus / "out"
    assert not (out / ".trash").exists()
    assert json.loads((out / "manifest.json").read_text())["sources"] == ["a"]
    left = out / ".trash" / "123-456" / "kept"
    left.mkdir(parents=True)
    (left / "a-00000-s0-0000.arrow").write_bytes(b"x" * 1000)
    run_cli("run", str(recipe), "--overwrite", "-q")
    assert not (out / ".trash").exists()
    assert tree_digest(out, exclude=("runs.jsonl",)) == before


def test_strict_fails_on_quarantine(corpus):
    proc = run_cli("run", str(_recipe(corpus)), "--strict", "-q", check=False)
    assert proc.returncode == 1 and "quarantined" in proc.stderr


def test_too_long_document_is_rejected(tmp_path):
    write_jsonl(tmp_path / "data/x.jsonl", [{"text": "short"}, {"text": "y" * 5000}])
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "x", "paths": ["data/x.jsonl"]}],
                          limits={"max_doc_bytes": "4KB"})
    run_cli("run", str(recipe), "-q")
    stats = json.loads((tmp_path / "out/stats.json").read_text())
    assert stats["by_reason"] == {"read/too_long": 1} and stats["counts"]["kept"] == 1


@pytest.mark.slow
def test_fifty_megabyte_document_does_not_stop_the_run(tmp_path):
    big = "word " * (10 * 1024 * 1024)
    write_jsonl(tmp_path / "data/x.jsonl", [{"text": "short doc"}, {"text": big}, {"text": "after it"}])
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "x", "paths": ["data/x.jsonl"]}])
    run_cli("run", str(recipe), "-q")
    stats = json.loads((tmp_path / "out/stats.json").read_text())
    assert stats["by_reason"] == {"read/too_long": 1} and stats["counts"]["kept"] == 2


def _big_corpus(tmp: Path, files: int = 24, rows: int = 4000) -> Path:
    for f in range(files):
        recs = [{"text": f"file {f % 12} row {i} " + "lorem ipsum dolor sit amet " * 8} for i in range(rows)]
        write_jsonl(tmp / "data" / f"part-{f:03d}.jsonl.gz", recs, "gzip")
    return write_recipe(tmp / "r.yaml", [{"name": "web", "paths": ["data/*.jsonl.gz"]}],
                        steps=["exact_dedup"], output={"path": "out", "shard_size": "1MB"})


@pytest.mark.slow
def test_sigkill_and_resume_gives_identical_output(tmp_path):
    recipe = _big_corpus(tmp_path)
    clean = tmp_path / "clean"
    run_cli("run", str(recipe), "-w", "1", "-q", "--output", str(clean))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "dataprep.cli", "run", str(recipe), "-w", "2", "-q",
                             "--output", str(killed)], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    markers = killed / "_work" / "s0"
    while time.time() < deadline:
        if markers.exists() and len(list(markers.glob("*.json"))) >= 4:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "manifest.json").exists(), "the run finished before it could be killed"
    done_before = len(list(markers.glob("*.json")))
    assert 0 < done_before < 24
    run_cli("run", str(recipe), "-w", "2", "-q", "--output", str(killed))
    assert tree_digest(killed) == tree_digest(clean)
    stats = json.loads((killed / "stats.json").read_text())
    assert stats["counts"]["input"] == 24 * 4000 and stats["counts"]["duplicates"] == 12 * 4000
    assert_balanced(stats)
    assert not list(killed.rglob(".tmp-*"))


def test_missing_input_fails_at_once_with_one_line(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "x", "paths": ["nowhere/*.jsonl"]}])
    proc = run_cli("run", str(recipe), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "r.yaml:5" in proc.stderr and "nowhere" in proc.stderr
    debug = run_cli("--debug", "run", str(recipe), check=False)
    assert "Traceback" in debug.stderr


def test_inspect(corpus):
    run_cli("run", str(_recipe(corpus)), "-q")
    out = str(corpus / "out")
    assert "--step read --reason empty: 1" in run_cli("inspect", out).stdout
    assert "a-empty" in run_cli("inspect", out, "--step", "read", "--reason", "empty", "-n", "5").stdout
    shown = run_cli("inspect", out, "--duplicates", "-n", "20").stdout
    assert "kept a3 " in shown and "removed a-dup" in shown
    assert "part-1.jsonl line 21: malformed_json" in run_cli("inspect", out, "--quarantine").stdout
    bad = run_cli("inspect", out, "--step", "nope", check=False)
    assert bad.returncode == 2 and "read/empty" in bad.stderr


def test_large_jsonl_split_into_line_aligned_tasks(tmp_path):
    """A JSONL file over executor.split_bytes is read by several tasks: same documents, ids, order, line
    numbers and dedup decisions as reading it whole, whatever the number of workers."""
    rows = [{"text": f"document {i} " + "word " * (i % 50), "n": i} for i in range(3000)]
    rows[1234] = '{"text": broken'  # a malformed line deep in the file keeps its true line number
    rows[2500] = {"text": "document 7 " + "word " * 7, "n": 7}  # an exact duplicate across the split
    write_jsonl(tmp_path / "d" / "big.jsonl", rows)
    outs = {}
    for name, split, workers in (("whole", "1GB", 1), ("split1", "20KB", 1), ("split2", "20KB", 2)):
        recipe = write_recipe(tmp_path / f"{name}.yaml", [{"name": "d", "paths": ["d/big.jsonl"]}],
                              steps=["exact_dedup"], output=f"out-{name}", executor={"split_bytes": split})
        run_cli("run", str(recipe), "-w", str(workers), "-q")
        out = tmp_path / f"out-{name}"
        outs[name] = (pl.from_arrow(read_folder(out / "kept")), json.loads((out / "stats.json").read_text()),
                      pl.from_arrow(read_folder(out / "quarantine")), pl.from_arrow(read_folder(out / "duplicates")))
    assert len(list((tmp_path / "out-split1" / "kept").glob("*.arrow"))) > 5  # it was split
    whole = outs["whole"]
    for name in ("split1", "split2"):
        kept, stats, quarantine, dups = outs[name]
        assert kept.select("id", "text", "meta").equals(whole[0].select("id", "text", "meta"))
        assert stats["counts"] == whole[1]["counts"]
        assert quarantine["line"].to_list() == [1235]
        assert dups.select("id", "duplicate_of").rows() == [("d/big.jsonl:2501", "d/big.jsonl:8")]
    skip = ("runs.jsonl", "manifest.json", "report.html")  # these name each recipe and its output folder
    assert tree_digest(tmp_path / "out-split1", exclude=skip) == tree_digest(tmp_path / "out-split2", exclude=skip)


def test_split_file_interrupted_in_one_worker_resumes_with_true_line_numbers(tmp_path, monkeypatch):
    """One worker learns each range's first line from the ranges before it (no counting pass). A run that
    stops after some ranges resumes from their markers, and one whose markers lack the line count (written by
    a parallel run, say) counts those ranges instead: output identical to a clean run either way."""
    from dataprep.execution import local
    from dataprep.execution.run import clean
    from dataprep.recipe import load_recipe

    rows = [{"text": f"document {i} " + "word " * (i % 40)} for i in range(2000)]
    rows[1700] = '{"text": broken'
    write_jsonl(tmp_path / "d" / "big.jsonl", rows)
    recipe_path = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/big.jsonl"]}], steps=["exact_dedup"],
                               output="clean", executor={"split_bytes": "15KB"})
    clean_out = clean(load_recipe(recipe_path), workers=1, quiet=True).output
    for drop_counts in (False, True):
        recipe = load_recipe(recipe_path)
        out = tmp_path / f"resumed-{drop_counts}"
        recipe.output.path = out
        real, calls = local.run_task, []

        def stop_after_three(recipe, stage, task, out_, real=real, calls=calls, **kw):
            if len(calls) == 3:
                raise KeyboardInterrupt
            calls.append(task.index)
            return real(recipe, stage, task, out_, **kw)

        monkeypatch.setattr(local, "run_task", stop_after_three)
        with pytest.raises(KeyboardInterrupt):
            clean(recipe, workers=1, quiet=True)
        monkeypatch.setattr(local, "run_task", real)
        markers = sorted((out / "_work" / "s0").glob("*.json"))
        assert len(markers) == 3
        if drop_counts:
            for m in markers:
                m.write_text(json.dumps({k: v for k, v in json.loads(m.read_text()).items() if k != "lines"}))
        clean(recipe, workers=1, quiet=True)
        assert pl.from_arrow(read_folder(out / "quarantine"))["line"].to_list() == [1701]
        skip = ("runs.jsonl", "manifest.json", "report.html")
        assert tree_digest(out, exclude=skip) == tree_digest(clean_out, exclude=skip)


def test_batch_level_step_sees_whole_chunks_after_a_global_step(tmp_path):
    """pyarrow parses a JSONL block in 1 MB pieces; a step that compares the documents of a batch
    (boilerplate_lines) must see the reader's whole chunk in a later stage too, not one piece at a time: a
    footer shared by the first and the last page of a 3 MB file is removed with or without a global step
    (exact_dedup, which removes nothing here) running first."""
    from dataprep.execution.run import clean
    from dataprep.recipe import load_recipe

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [{"text": "\n".join(" ".join("".join(rng.choices(letters, k=6)) for _ in range(60)) for _ in range(6))}
            for _ in range(1400)]  # digits would normalize alike (CCNet): letters keep every line distinct
    footer = "Copyright 2024 Example Corporation, all rights reserved."
    rows[0]["text"] += "\n" + footer
    rows[-1]["text"] += "\n" + footer
    write_jsonl(tmp_path / "d" / "pages.jsonl", rows)
    assert (tmp_path / "d" / "pages.jsonl").stat().st_size > 3 << 20
    kept = {}
    for name, steps in (("alone", ["boilerplate_lines"]), ("after_global", ["exact_dedup", "boilerplate_lines"])):
        recipe = write_recipe(tmp_path / f"{name}.yaml", [{"name": "d", "paths": ["d/pages.jsonl"]}], steps=steps,
                              output=f"out-{name}")
        result = clean(load_recipe(recipe), workers=1, quiet=True)
        kept[name] = pl.from_arrow(read_folder(result.output / "kept")).select("id", "text")
    assert footer not in kept["alone"]["text"][0] and footer not in kept["alone"]["text"][-1]
    assert kept["after_global"].equals(kept["alone"])
