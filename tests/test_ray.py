"""The Ray executor: same recipe, same step objects, same output as the local executor (a local Ray instance)."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, tree_digest

from dataprep.errors import DataprepError


@pytest.mark.slow
def test_ray_output_equals_local(tmp_path):
    pytest.importorskip("ray")
    run_cli("run", "recipes/web_en.yaml", "-o", str(tmp_path / "local"), "-w", "2", "-q")
    proc = run_cli("run", "recipes/web_en.yaml", "-o", str(tmp_path / "ray"), "-w", "2", "--executor", "ray", "-q")
    assert "kept" in proc.stdout
    local, ray = tree_digest(tmp_path / "local"), tree_digest(tmp_path / "ray")
    assert local == ray  # every shard, stats.json, report.html and the manifest, byte for byte
    stats = json.loads((tmp_path / "ray" / "stats.json").read_text())
    assert stats["by_step"]["minhash_dedup"]["clusters"] > 0
    runs = [json.loads(line) for line in (tmp_path / "ray" / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["executor"] == "ray"


def test_ray_missing_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    from dataprep.ray_executor import RayRunner

    with pytest.raises(DataprepError, match=r"pip install -e '\.\[ray\]'"):
        RayRunner()
