"""A global step's decision between two stages: read where every task left its keys, let the runner have the
step decide, and store the decisions (sorted by corpus position) and the step's statistics, once; a resumed run
finds them and does not decide again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from dataprep.execution.plan import ORD_SHIFT, WORK, Stage, Task, decisions_path, intermediate
from dataprep.execution.runner import Runner
from dataprep.io.writers import atomic_write_json, write_arrow_file
from dataprep.schema import normalize_table
from dataprep.step import GlobalStep

#: statistics a global step may return that describe the execution, not the data: left out of stats.json, so
#: that it is the same whatever the executor
EXECUTION_STATS = ("partitions",)


def fit_global(stage: Stage, tasks: list[Task], out: Path, runner: Runner) -> dict[str, Any]:
    """Read the keys every task wrote at the end of ``stage`` and decide which rows the global step drops or
    edits. Returns the step's statistics."""
    work = out / WORK
    decision_path = decisions_path(work, stage.index)
    stats_path = work / f"g{stage.index}.json"
    if decision_path.exists() and stats_path.exists():
        return json.loads(stats_path.read_text())
    step = stage.keys_for.step
    assert isinstance(step, GlobalStep)
    files = [(t.index, intermediate(work, stage.index, t)) for t in tasks]
    files = [(i, p) for i, p in files if p.exists()]
    scratch = work / f"g{stage.index}.tmp"
    try:
        decisions, gstats = runner.fit(step, files, ORD_SHIFT, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    payload = [c for c in step.decision_schema() if c != "_ord"][0]
    payload_expr = pl.col(payload) if step.decides == "edit" else pl.col(payload).cast(pl.String)
    decisions = decisions.select(pl.col("_ord").cast(pl.Int64), payload_expr).sort("_ord")
    write_arrow_file(decision_path, normalize_table(decisions.to_arrow()))
    gstats = {k: v for k, v in gstats.items() if k not in EXECUTION_STATS}
    atomic_write_json(stats_path, gstats)
    return gstats
