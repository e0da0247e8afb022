"""MinHash on Ray repairs the buckets whose star edge failed verification exactly as the local path does
(issue 15, item 7): with keys where verification rejects star edges, ``fit_ray`` (driver-side and fully
distributed components) gives the same decisions and statistics as ``fit_files``."""

from __future__ import annotations

import random

import polars as pl
import pytest
from test_minhash_verify import _families, _keys

from dataprep.dedup import MinHashDedup
from dataprep.io.writers import write_arrow_file
from dataprep.schema import normalize_table

ORD_SHIFT = 40


def _key_files(step: MinHashDedup, df: pl.DataFrame, folder, parts: int = 3) -> list:
    keys = _keys(step, df).drop("_ord")
    files = []
    for task in range(parts):
        part = keys.gather(list(range(task, keys.height, parts)))
        path = folder / f"keys-{task}.arrow"
        write_arrow_file(path, normalize_table(part.to_arrow()))  # as the executor writes key files
        files.append((task, path))
    return files


@pytest.mark.slow
@pytest.mark.parametrize("driver_edges", [0])  # 0: components on Ray too (the driver path shares _repair)
def test_ray_repair_equals_local(tmp_path, driver_edges):
    ray = pytest.importorskip("ray")
    rng = random.Random(12)
    df = pl.DataFrame({"text": _families(rng, 6, 5)}).with_row_index("id").with_columns(pl.col("id").cast(pl.String))
    step = MinHashDedup(threshold=0.8, bands=20, rows=3, num_perm=60)
    files = _key_files(step, df, tmp_path)
    local, local_stats = step.fit_files(files, ORD_SHIFT, tmp_path / "scratch")
    assert local_stats["pairs_rejected_by_verification"] > 0 and local.height > 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        remote, remote_stats = step.fit_ray(files, ORD_SHIFT, tmp_path / "scratch-ray", driver_edges)
    finally:
        ray.shutdown()
    assert remote.sort("_ord").equals(local.sort("_ord"))
    local_stats.pop("partitions", None)
    assert remote_stats == local_stats
