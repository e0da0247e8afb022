"""Running a recipe's cleaning: check the output folder against the recipe, plan tasks and stages, run each
stage's tasks through a runner with the global fits between stages, then write ``stats.json`` (counts that
balance), ``report.html`` and, last, ``manifest.json`` (the run is complete).

Each task publishes its outputs by atomic rename and then a marker with its counters; a rerun skips every task
that has its marker, so an interrupted run (even by SIGKILL) finishes with output byte-identical to an
uninterrupted run's, whatever the number of workers. A first stage's marker records the stamps (size, mtime,
inode) of the inputs its task read: a rerun whose inputs differ from them (a file deleted while the first run
read it, then restored; a file rewritten at the same size) reruns that task, and, since every global decision
depends on every task's keys, every later stage of every task (:func:`_forget_changed_inputs`). The output is
then that of a clean run on the inputs as they are now.

Layout of ``OUT``: ``kept/``, ``rejected/``, ``duplicates/``, ``quarantine/`` (shards), ``stats.json``,
``report.html``, ``manifest.json``, ``runs.jsonl`` (timings of each invocation) and, while a run is unfinished,
``_work/`` (intermediate shards and markers); ``.trash/`` while ``--overwrite`` deletes the output it replaces;
``.lock`` while a run holds the folder (:mod:`dataprep.execution.lock`: one run at a time, taken before
anything there is written or deleted; once it is held, temporary files that dead runs left are deleted).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dataprep.errors import DataprepError
from dataprep.execution.global_fit import fit_global
from dataprep.execution.local import LocalRunner
from dataprep.execution.lock import hold_output
from dataprep.execution.plan import (
    FOLDERS,
    WORK,
    Stage,
    Task,
    decisions_path,
    intermediate,
    list_tasks,
    marker,
    plan_stages,
    shard_prefix,
)
from dataprep.execution.runner import Runner
from dataprep.execution.task import marker_inputs
from dataprep.io.readers import count_range_newlines
from dataprep.io.writers import TRASH, Discard, atomic_write_bytes, atomic_write_json, remove_temp_files
from dataprep.progress import Progress
from dataprep.recipe import Recipe
from dataprep.report import write_report
from dataprep.stats import build_stats, check_balance, merge_stage, new_task_stats


@dataclass
class RunResult:
    stats: dict[str, Any]
    seconds: float
    skipped: bool
    output: Path


def _prepare_output(recipe: Recipe, out: Path, overwrite: bool) -> tuple[bool, Discard | None]:
    """Check ``out`` (held: :func:`hold_output`) against this recipe. Returns whether the run is already
    complete, and the deletion of a replaced output (``--overwrite``), which goes on in the background while the
    run works. The deletion names what it moves; ``OUT/.lock``, the hold, is never among them."""
    fp = recipe.fingerprint()
    manifest = out / "manifest.json"
    work_fp = out / WORK / "fingerprint"
    discard = None
    if out.exists() and (overwrite or (out / TRASH).exists()):
        # the recipe's tokenizer/pack/train sections write the last three
        names = [*FOLDERS, WORK, "tokenizer", "packed", "train", "stats.json", "manifest.json"] if overwrite else []
        discard = Discard(out, names)
    if manifest.exists():
        done = json.loads(manifest.read_text())
        if done.get("fingerprint") == fp:
            return True, discard
        raise DataprepError(f"{out} holds the output of a different recipe or input "
                            f"(fingerprint {done.get('fingerprint')} != {fp}); pass --overwrite to replace it")
    if work_fp.exists():
        if work_fp.read_text().strip() != fp:
            raise DataprepError(f"{out} holds an unfinished run of a different recipe or input; "
                                f"pass --overwrite to start over")
    elif out.exists() and any(out.iterdir()) and any((out / f).exists() for f in FOLDERS):
        raise DataprepError(f"{out} is not empty and holds no run of this recipe; pass --overwrite to replace it")
    (out / WORK).mkdir(parents=True, exist_ok=True)
    if not work_fp.exists():
        atomic_write_bytes(work_fp, fp.encode())
    return False, discard


def clean(recipe: Recipe, workers: int | None = None, overwrite: bool = False, quiet: bool = False,
          runner: Runner | None = None) -> RunResult:
    """Run ``recipe``'s cleaning (its sources and steps) into its output folder; resumes an interrupted run
    there. ``runner`` runs each stage's tasks: this machine's processes by default (:class:`LocalRunner`), or
    Ray (:class:`dataprep.execution.ray.RayRunner`). Every runner calls the same task function, so the output
    is the same whichever runs it. The whole pipeline (tokenizer, mixture, pack, train after cleaning) is
    :func:`dataprep.pipeline.run_recipe`, which holds the output folder for all of them; called alone, this
    holds it for the cleaning (:func:`hold_output`, re-entrant: no second lock inside ``run_recipe``)."""
    out = recipe.output.path
    start = time.monotonic()
    with hold_output(out):
        # the folder is this run's now: a temporary file below it is a leftover of a dead run, even in a
        # finished output (a run refused or killed after it finished), and goes before anything else happens
        remove_temp_files(out)
        done, discard = _prepare_output(recipe, out, overwrite)
        try:
            if done:
                stats = json.loads((out / "stats.json").read_text())
                return RunResult(stats, 0.0, True, out)
            return _run(recipe, out, workers, quiet, runner, start)
        finally:
            if discard is not None:
                discard.wait()


def _run(recipe: Recipe, out: Path, workers: int | None, quiet: bool, runner: Runner | None,
         start: float) -> RunResult:
    n_workers = workers if workers is not None else recipe.executor.workers
    n_workers = n_workers or os.cpu_count() or 1
    runner = runner or LocalRunner(n_workers)
    tasks = list_tasks(recipe, count_lines=not runner.sequential)
    stages = plan_stages(recipe.steps)
    work = out / WORK
    _forget_changed_inputs(out, tasks, len(stages))
    per_task: dict[int, dict[str, Any]] = {t.index: new_task_stats(t.source) for t in tasks}
    global_stats: dict[str, dict[str, Any]] = {}
    try:
        for stage in stages:
            if stage.apply_global is not None:
                prev = stages[stage.index - 1]
                global_stats[prev.keys_for.label] = fit_global(prev, tasks, out, runner)
            results = _run_stage(recipe, stage, tasks, out, len(stages), quiet, runner)
            for idx, st in results.items():
                merge_stage(per_task[idx], st)
    finally:
        runner.close()
    stats = build_stats([per_task[t.index] for t in tasks], [c.label for c in recipe.steps], global_stats)
    check_balance(stats)
    atomic_write_json(out / "stats.json", stats)
    write_report(out, stats, recipe.name, _step_summaries(recipe))
    atomic_write_json(out / "manifest.json", _manifest(recipe, out))
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - start
    with open(out / "runs.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"recipe": str(recipe.path), "executor": runner.name, "workers": n_workers,
                             "seconds": round(seconds, 3), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
                 + "\n")
    return RunResult(stats, seconds, False, out)


def _run_stage(recipe: Recipe, stage: Stage, tasks: list[Task], out: Path, n_stages: int, quiet: bool,
               runner: Runner) -> dict[int, dict[str, Any]]:
    work = out / WORK
    results: dict[int, dict[str, Any]] = {}
    pending = []
    for t in tasks:
        try:
            results[t.index] = json.loads(marker(work, stage.index, t).read_text())
            results[t.index].pop("inputs", None)  # checked by _forget_changed_inputs
        except FileNotFoundError:
            pending.append(t)
    label = f"stage {stage.index + 1}/{n_stages}" + (f" ({', '.join(c.label for c in stage.local)})"
                                                     if stage.local else "")
    progress = Progress(len(tasks), label, quiet)
    progress.done = len(results)
    if any(t.first_line is None for t in pending):  # a sequential runner: ranges learn their first lines
        stream = runner.map(recipe, stage, pending, out, prepare=lambda t: _with_first_line(t, tasks, results))
    else:
        stream = runner.map(recipe, stage, pending, out)
    for task, st in stream:
        results[task.index] = st
        progress.update(st.get("processed", 0))
    missing = [t for t in tasks if t.index not in results]
    if missing:  # a runner that lost a task: never finish without its counts
        raise DataprepError(f"{label}: {len(missing)} task(s) ended without a result (first: {missing[0].rel}); "
                            f"run the same command again to resume")
    return results


def _forget_changed_inputs(out: Path, tasks: list[Task], n_stages: int) -> list[Task]:
    """Make a resumed run rerun every task whose first-stage marker records inputs other than the plan's (or
    none: a marker of another version), and every later stage of every task with every global decision (each
    depends on every task's keys). Deletes what they published; the stale markers go last, so that a run
    killed meanwhile finds them and starts this again. Returns the stale tasks."""
    work = out / WORK
    stale = []
    for t in tasks:
        try:
            recorded = json.loads(marker(work, 0, t).read_text()).get("inputs")
        except FileNotFoundError:
            continue
        except (OSError, ValueError, AttributeError):
            recorded = None  # an unreadable marker: the task reruns
        if recorded != marker_inputs(t, t.stamps):
            stale.append(t)
    if not stale:
        return stale
    for k in range(n_stages):
        decisions_path(work, k).unlink(missing_ok=True)
        (work / f"g{k}.json").unlink(missing_ok=True)
    for k in range(1, n_stages):
        shutil.rmtree(work / f"s{k}", ignore_errors=True)
    prefixes = {shard_prefix(t, 0) for t in stale} | {shard_prefix(t, k) for t in tasks for k in range(1, n_stages)}
    for folder in FOLDERS:
        if (out / folder).is_dir():
            with os.scandir(out / folder) as entries:
                for entry in entries:
                    if entry.name.rsplit("-", 1)[0] in prefixes:
                        os.unlink(entry.path)
    for t in stale:
        intermediate(work, 0, t).unlink(missing_ok=True)
    for t in stale:
        marker(work, 0, t).unlink(missing_ok=True)
    return stale


def _with_first_line(task: Task, tasks: list[Task], results: dict[int, dict[str, Any]]) -> Task:
    """``task`` with its first line number, which the ranges before it (in ``results`` by then) give."""
    if task.first_line is None:
        task = replace(task, first_line=_first_line(task, tasks, results))
        tasks[task.index] = task
    return task


def _first_line(task: Task, tasks: list[Task], results: dict[int, dict[str, Any]]) -> int:
    """First line of a range: walk back to the nearest range with a known first line, then add the lines of
    the ranges in between (as their tasks counted them, or counted now for a task that has no count)."""
    chain = []
    k = task.index - 1
    while tasks[k].first_line is None:
        chain.append(tasks[k])
        k -= 1
    line = tasks[k].first_line
    for prev in [tasks[k], *reversed(chain)]:
        lines = results.get(prev.index, {}).get("lines")
        if lines is None:
            lines = count_range_newlines(prev.path, *prev.byte_range)
        line += lines
    return line


def rewrite_report(recipe: Recipe, out: Path) -> Path:
    """Write ``OUT/report.html`` again from ``stats.json`` (after the recipe's mixture, for its table)."""
    stats = json.loads((Path(out) / "stats.json").read_text())
    return write_report(Path(out), stats, recipe.name, _step_summaries(recipe))


def _step_summaries(recipe: Recipe) -> list[dict[str, Any]]:
    """The recipe's steps with their given parameters and their defaults (the report draws thresholds)."""
    out = []
    for cfg in recipe.steps:
        defaults = {p["name"]: p["default"] for p in type(cfg.step).params()}
        out.append({"type": cfg.type, "label": cfg.label, "params": dict(cfg.params), "defaults": defaults})
    return out


def _manifest(recipe: Recipe, out: Path) -> dict[str, Any]:
    files = {}
    for folder in FOLDERS:
        paths = sorted((out / folder).glob("*")) if (out / folder).exists() else []
        files[folder] = [{"name": p.name, "bytes": p.stat().st_size} for p in paths if not p.name.startswith(".")]
    return {
        "recipe": recipe.name,
        "fingerprint": recipe.fingerprint(),
        "format": recipe.output.format,
        "seed": recipe.seed,
        "sources": [s.name for s in recipe.sources],
        "steps": [c.label for c in recipe.steps],
        "files": files,
    }
