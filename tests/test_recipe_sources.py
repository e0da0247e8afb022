"""Recipes that treat sources differently: steps restricted with ``sources:``, reader ``options``, the
``mixture`` section, and the whole LLaMA-style mix (``recipes/llama_mix.yaml``) from the samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import ROOT, assert_balanced, run_cli, tree_digest, write_jsonl, write_recipe

from dataprep.errors import RecipeError
from dataprep.inspect import scan_folder
from dataprep.recipe import load_recipe


def two_sources(tmp_path: Path) -> list[dict]:
    shared = [f"Shared document {i} with several words in it for the test." for i in range(6)]
    write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": t} for i, t in enumerate(shared + ["a only one"])])
    write_jsonl(tmp_path / "b.jsonl", [{"id": f"b{i}", "text": t} for i, t in enumerate(shared + ["b", "b"])])
    return [{"name": "a", "paths": ["a.jsonl"]}, {"name": "b", "paths": ["b.jsonl"]}]


def test_steps_restricted_to_sources(tmp_path):
    sources = two_sources(tmp_path)
    steps = [{"exact_dedup": {"sources": ["b"]}},                       # dedup inside b only
             {"c4": {"sources": ["a"], "min_words_per_line": 0, "min_sentences": 1}}]
    recipe = write_recipe(tmp_path / "r.yaml", sources, steps=steps)
    run_cli("run", str(recipe), "-o", str(tmp_path / "o1"), "-w", "1", "-q")
    run_cli("run", str(recipe), "-o", str(tmp_path / "o2"), "-w", "2", "-q")
    assert tree_digest(tmp_path / "o1") == tree_digest(tmp_path / "o2")
    stats = json.loads((tmp_path / "o1" / "stats.json").read_text())
    assert_balanced(stats)
    # a's copies of b's documents stay (the dedup did not look at a); b's own repeat goes
    dups = scan_folder(tmp_path / "o1" / "duplicates").collect()
    assert dups["id"].to_list() == ["b7"] and dups["duplicate_of"].to_list() == ["b6"]
    kept = scan_folder(tmp_path / "o1" / "kept").collect()
    # c4's scores exist on a's rows only, b's rows passed through untouched and in order
    b = kept.filter(pl.col("source") == "b")
    assert b["id"].to_list() == [f"b{i}" for i in range(7)] and b["c4_lines_removed"].is_null().all()
    assert kept.filter(pl.col("source") == "a")["c4_lines_removed"].is_not_null().all()
    assert stats["by_source"]["b"]["counts"]["rejected"] == 0


def test_restricted_minhash_leaves_other_sources_out(tmp_path):
    sources = two_sources(tmp_path)
    recipe = write_recipe(tmp_path / "r.yaml", sources, steps=[{"minhash_dedup": {"sources": ["a"]}}])
    run_cli("run", str(recipe), "-o", str(tmp_path / "o"), "-q")
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["counts"]["duplicates"] == 0  # the cross-source copies are not a's business


def test_recipe_errors_for_sources_options_and_mixture(tmp_path):
    sources = two_sources(tmp_path)
    bad = write_recipe(tmp_path / "bad.yaml", sources, steps=[{"c4": {"sources": ["web"]}}])
    with pytest.raises(RecipeError, match=r"bad.yaml:\d+: step 'c4': unknown source 'web'"):
        load_recipe(bad)
    opts = write_recipe(tmp_path / "opt.yaml", [{**sources[0], "options": {"extractor": "x"}}])
    with pytest.raises(RecipeError, match="takes no 'options'"):
        load_recipe(opts)
    (tmp_path / "p.warc").write_bytes(b"")
    warc = write_recipe(tmp_path / "w.yaml", [{"name": "w", "paths": ["p.warc"], "options": {"extractor": "lynx"}}])
    with pytest.raises(RecipeError, match="extractor' must be resiliparse or trafilatura"):
        load_recipe(warc)
    mix = write_recipe(tmp_path / "m.yaml", sources, mixture={"weights": {"a": 1, "c": 1}, "total_tokens": 10})
    with pytest.raises(RecipeError, match="'mixture' needs a 'tokenizer'"):
        load_recipe(mix)
    mix = write_recipe(tmp_path / "m2.yaml", sources, tokenizer={"vocab_size": 300},
                       mixture={"weights": {"a": 1, "c": 1}, "total_tokens": 10})
    with pytest.raises(RecipeError, match="mixture: unknown source 'c'"):
        load_recipe(mix)


@pytest.mark.slow
def test_llama_mix_recipe_end_to_end(tmp_path):
    """Every source through its cleaner, the shared filters and dedup, the mixture, a tokenizer and packing;
    1 and 2 workers give the same bytes; the report shows the mixture."""
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    (tmp_path / "recipes").mkdir()
    shutil.copy(ROOT / "recipes" / "llama_mix.yaml", tmp_path / "recipes")
    recipe = tmp_path / "recipes" / "llama_mix.yaml"
    out1 = run_cli("run", str(recipe), "-o", str(tmp_path / "o1"), "-w", "1", "-q").stdout
    run_cli("run", str(recipe), "-o", str(tmp_path / "o2"), "-w", "2", "-q")
    skip = ("runs.jsonl", "report.html", "manifest.json")  # the pack manifest names its input paths
    assert tree_digest(tmp_path / "o1", exclude=skip) == tree_digest(tmp_path / "o2", exclude=skip)
    manifests = [json.loads((tmp_path / o / "packed" / "manifest.json").read_text()) for o in ("o1", "o2")]
    for m in manifests:
        m["settings"].pop("inputs")
        m.pop("tokenizer", None)
    assert manifests[0] == manifests[1]
    stats = json.loads((tmp_path / "o1" / "stats.json").read_text())
    assert_balanced(stats)
    by = stats["by_source"]
    assert set(by) == {"commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange"}
    assert all(s["counts"]["kept"] > 0 for s in by.values())
    assert by["books"]["duplicates_by_step"] == {"minhash_dedup#2": 1}
    assert stats["quarantine_errors"] == {"http_status": 2, "not_html": 2}
    for step in ("url_filter", "wiki_clean", "latex_clean", "stackexchange_format", "license_filter"):
        assert stats["by_step"][step]["rejected"] > 0, step
    mix = json.loads((tmp_path / "o1" / "mixed" / "mix.json").read_text())
    assert set(mix["sources"]) == set(by) and abs(sum(e["weight"] for e in mix["sources"].values()) - 1) < 1e-9
    assert "mixture:" in out1 and "pack:" in out1
    report = (tmp_path / "o1" / "report.html").read_text()
    assert "<h2>Mixture</h2>" in report
    for name, e in mix["sources"].items():  # the report's mixture table is mix.json's
        assert (f'<tr data-source="{name}"><td>{name}</td><td>{e["weight"]:.3f}</td>'
                f'<td>{e["realized_tokens"]:,}</td><td>{e["epochs"]:.2f}</td>') in report
    assert manifests[0]["splits"]["train"]["n_tokens"] > 0
