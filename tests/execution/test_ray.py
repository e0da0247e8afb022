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


@pytest.mark.slow
def test_ray_minhash_components_distributed_equal_local(tmp_path):
    """With driver_edges=0 no edge is gathered on the driver: grouping, verification and connected components
    all run as Ray joins and aggregations, and the output still equals the local executor's."""
    pytest.importorskip("ray")
    from dataprep.execution.ray import RayRunner
    from dataprep.execution.run import clean
    from dataprep.recipe import load_recipe

    local = clean(load_recipe("recipes/web_en.yaml", output=tmp_path / "local"), workers=2, quiet=True)
    ray_run = clean(load_recipe("recipes/web_en.yaml", output=tmp_path / "ray"), workers=2, quiet=True,
                         runner=RayRunner(num_cpus=2, driver_edges=0))
    assert tree_digest(tmp_path / "local") == tree_digest(tmp_path / "ray")
    assert local.stats["by_step"]["minhash_dedup"]["clusters"] == ray_run.stats["by_step"]["minhash_dedup"]["clusters"]
    assert "partitions" not in ray_run.stats["by_step"]["minhash_dedup"]  # execution details stay out of stats


def test_ray_missing_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    from dataprep.execution.ray import RayRunner

    with pytest.raises(DataprepError, match=r"pip install -e '\.\[ray\]'"):
        RayRunner()
