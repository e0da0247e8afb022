"""The whole pipeline behind one call: the Python API runs every section the CLI runs, in the same order, and
reports each as it ends; the CLI only prints what the call returns."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import run_cli, write_jsonl, write_recipe

from dataprep import load_recipe, run_recipe
from dataprep.pipeline import SECTIONS

HAS_TORCH = importlib.util.find_spec("torch") is not None


def _recipe(tmp_path, train: bool = True):
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    rows = [{"id": f"d{i}", "text": " ".join(words[(i + k) % len(words)] for k in range(40)) + f" number {i}."}
            for i in range(60)]
    write_jsonl(tmp_path / "d" / "docs.jsonl", rows)
    extra = {"tokenizer": {"vocab_size": 300}, "pack": {"seq_len": 32, "val_fraction": 0.1}}
    if train:
        extra["train"] = {"preset": "tiny", "batch_size": 2, "max_steps": 2, "eval_every": 2, "eval_batches": 1,
                          "log_every": 1, "device": "cpu"}
    return write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}], steps=["exact_dedup"], **extra)


def test_python_api_runs_every_section_in_order(tmp_path):
    seen = []
    result = run_recipe(load_recipe(_recipe(tmp_path, train=HAS_TORCH)), workers=1, quiet=True,
                        on_section=lambda name, res: seen.append(name))
    expected = [s for s in SECTIONS if s != "mixture" and (HAS_TORCH or s != "train")]
    assert seen == result.sections == expected
    out = result.clean.output
    assert result.tokenizer.path == out / "tokenizer" / "tokenizer.json" and result.tokenizer.path.exists()
    assert result.tokenizer.trained["vocab_size"] <= 300
    manifest = json.loads((out / "packed" / "manifest.json").read_text())
    assert manifest["splits"] == result.pack.manifest["splits"]
    assert result.pack.manifest["splits"]["train"]["n_tokens"] > 0
    if HAS_TORCH:
        log = (out / "train" / "train.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in log if "loss" in json.loads(line)][-1] == 2
        assert result.train.records[-1]["step"] == 2 and result.train.skipped is None


def test_second_call_resumes_every_section(tmp_path):
    recipe = _recipe(tmp_path, train=HAS_TORCH)
    first = run_recipe(load_recipe(recipe), workers=1, quiet=True)
    again = run_recipe(load_recipe(recipe), workers=1, quiet=True)
    assert again.clean.skipped and again.tokenizer.trained is None
    assert again.pack.manifest["splits"] == first.pack.manifest["splits"]
    if HAS_TORCH:
        assert again.train.records == []  # every step is already there


@pytest.mark.skipif(not HAS_TORCH, reason="the train section needs torch")
def test_cli_prints_what_the_call_returns(tmp_path):
    proc = run_cli("run", str(_recipe(tmp_path)), "-w", "1", "-q")
    lines = proc.stdout.splitlines()
    assert any(line.startswith("tokenizer: trained ") for line in lines)
    assert any(line.startswith("pack: ") and "windows of 32" in line for line in lines)
    assert any(line.startswith("train: ") and "(step 2)" in line for line in lines)
