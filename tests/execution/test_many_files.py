"""Many small files (issue 18, item 10): they are batched into tasks by size, with output equal (document for
document, ids and line numbers included) to one task per file and the same whatever the worker count; the
global fit never holds a memory map per task; a spawned worker that dies fails the run with one clear line,
and the same command then resumes to the output of an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from conftest import assert_balanced, run_cli, tree_digest, write_jsonl, write_recipe

from dataprep.execution.plan import BATCH_FILES, WORK, intermediate, list_tasks, plan_stages
from dataprep.execution.task import run_task
from dataprep.io import read_folder
from dataprep.recipe import load_recipe
from dataprep.step import GlobalStep

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards judge".split()


def _text(k: int) -> str:
    return " ".join(WORDS[(k * 7 + j) % len(WORDS)] for j in range(2 + k % 9))


def _many(tmp: Path, n: int, split: str | None = None, out: str = "out") -> Path:
    """``n`` one-line files (every 10th repeats an earlier text; short ones are filtered), one larger file in the
    middle, and a second source."""
    for i in range(n):
        write_jsonl(tmp / "d" / f"{i // 100:02d}" / f"f{i:05d}.jsonl", [{"text": _text(i if i % 10 else i // 3)}])
    write_jsonl(tmp / "d/00/m-big.jsonl", [{"text": _text(k)} for k in range(20)])
    write_jsonl(tmp / "e/only.jsonl", [{"text": _text(k)} for k in range(0, 25, 5)])
    extra = {"executor": {"split_bytes": split}} if split else {}
    return write_recipe(tmp / f"r-{out}.yaml", [{"name": "d", "paths": ["d/"]}, {"name": "e", "paths": ["e/"]}],
                        steps=[{"gopher_quality": {"min_doc_words": 4, "min_stop_words": 0}}, "exact_dedup"],
                        output=out, **extra)


def _documents(out: Path) -> dict[str, list]:
    return {folder: pl.from_arrow(read_folder(out / folder)).select("id", "text").rows()
            for folder in ("kept", "rejected", "duplicates")}


@pytest.mark.slow
def test_small_files_are_batched_and_the_output_is_that_of_one_task_per_file(tmp_path):
    batched = _many(tmp_path, 80)
    tasks = list_tasks(load_recipe(batched))
    assert len(tasks) == 2 and len(tasks[0].units) == 81  # every file of source d in one task, e's in its own
    assert [rel for _, rel in tasks[0].units][:2] == ["00/f00000.jsonl", "00/f00001.jsonl"]
    per_file = _many(tmp_path, 80, split="1B", out="per_file")  # no file batched; a one-line file not split
    assert len(list_tasks(load_recipe(per_file))) == 80 + 20 + 5  # the others cut at every line
    run_cli("run", str(batched), "-o", str(tmp_path / "w1"), "-w", "1", "-q")
    run_cli("run", str(batched), "-o", str(tmp_path / "w2"), "-w", "2", "-q")
    run_cli("run", str(per_file), "-w", "1", "-q")
    assert tree_digest(tmp_path / "w1") == tree_digest(tmp_path / "w2")
    got, want = _documents(tmp_path / "w1"), _documents(tmp_path / "per_file")
    assert got == want and len(got["kept"]) > 50 and len(got["duplicates"]) > 5 and len(got["rejected"]) > 5
    assert ("d/00/f00002.jsonl:1", _text(2)) in got["kept"]  # ids are each file's own
    assert ("d/00/m-big.jsonl:7", _text(6)) in got["kept"] + got["duplicates"]  # and so are line numbers
    stats = json.loads((tmp_path / "w1/stats.json").read_text())
    assert_balanced(stats)
    assert stats["counts"] == json.loads((tmp_path / "per_file/stats.json").read_text())["counts"]
    assert len(list((tmp_path / "w1/kept").iterdir())) < 5  # a shard per task, not per file


def test_batches_are_bounded_by_files_and_bytes(tmp_path):
    for i in range(BATCH_FILES + 10):
        (tmp_path / "d").mkdir(exist_ok=True)
        (tmp_path / "d" / f"{i:05d}.jsonl").write_text('{"text": "x"}\n')
    write_jsonl(tmp_path / "s/a.jsonl", [{"text": "y" * 300}])
    write_jsonl(tmp_path / "s/b.jsonl", [{"text": "y" * 300}])
    write_jsonl(tmp_path / "s/c.jsonl.gz", [{"text": "y" * 300}], "gzip")
    write_jsonl(tmp_path / "s/d.jsonl", [{"text": "y" * 300}])
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}, {"name": "s", "paths": ["s/"]}],
                          executor={"split_bytes": "700B"})
    tasks = list_tasks(load_recipe(recipe))
    sizes = [len(t.units) for t in tasks]
    # 1,034 files of 14 bytes: 50 per task (700 bytes); then a and b (626 bytes), the compressed c alone, d
    assert sizes[:-3] == [50] * 20 + [34] and sizes[-3:] == [2, 1, 1]
    assert [rel for t in tasks[-3:] for _, rel in t.units] == ["a.jsonl", "b.jsonl", "c.jsonl.gz", "d.jsonl"]
    big = write_recipe(tmp_path / "r2.yaml", [{"name": "d", "paths": ["d/"]}])
    assert [len(t.units) for t in list_tasks(load_recipe(big))] == [BATCH_FILES, 10]


class CountMaps(GlobalStep):
    """A global step with the default :meth:`GlobalStep.fit_files`; its fit records how many of the key files
    are still memory-mapped once all of them have been read."""

    name = "count_maps_test"
    seen: list[int] = []  # noqa: RUF012 - a record for the test

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        return df.select("id", pl.col("text").str.len_bytes().alias("_klen"))

    def fit(self, keys: pl.DataFrame):
        with open("/proc/self/maps") as fh:
            self.seen.append(sum(1 for line in fh if f"/{WORK}/s0/" in line))
        return pl.DataFrame(schema=self.decision_schema()), {"rows": keys.height}


def test_default_fit_reads_key_files_one_at_a_time(tmp_path):
    recipe = _many(tmp_path, 30, split="200B")
    rec = load_recipe(recipe)
    tasks = list_tasks(rec)
    stage = plan_stages(rec.steps)[0]
    out = tmp_path / "out"
    for t in tasks:
        run_task(rec, stage, t, out)
    files = [(t.index, intermediate(out / WORK, 0, t)) for t in tasks]
    files = [(i, p) for i, p in files if p.exists()]  # a task whose every row was filtered out has none
    assert len(files) > 10
    decisions, stats = CountMaps().fit_files(files, 40, tmp_path / "scratch")
    rows = sum(pa.ipc.open_file(str(p)).read_all().num_rows for _, p in files)
    assert stats == {"rows": rows} and CountMaps.seen == [0]  # each file's map closed once its keys are copied


PLUGIN = '''
import dataclasses, multiprocessing, os, time
from pathlib import Path

from dataprep.registry import register
from dataprep.step import Step


@register
@dataclasses.dataclass
class DiesInWorker(Step):
    """While ``flag`` exists: a spawned worker that runs this dies at once; the main process waits until one has."""

    name = "plugin_dies_in_worker"
    flag: str = ""

    def annotate_polars(self, df):
        flag = Path(self.flag)
        if flag.exists():
            died = flag.with_suffix(".died")
            if multiprocessing.current_process().name != "MainProcess":
                died.write_text("dead")
                os._exit(9)
            deadline = time.time() + 120
            while not died.exists() and time.time() < deadline:
                time.sleep(0.05)
        return df
'''


@pytest.mark.slow
def test_a_dead_worker_fails_the_run_with_one_line_and_the_rerun_resumes(tmp_path):
    (tmp_path / "plugin_dies.py").write_text(PLUGIN)
    for i in range(6):
        write_jsonl(tmp_path / "d" / f"{i}.jsonl", [{"text": f"file {i} line {j} " * 3} for j in range(10)])
    flag = tmp_path / "die.flag"
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}],
                          steps=[{"plugin_dies_in_worker": {"flag": str(flag)}}, "exact_dedup"],
                          plugins=["plugin_dies"], executor={"split_bytes": "1KB"})
    run_cli("run", str(recipe), "-o", str(tmp_path / "clean"), "-w", "1", "-q")
    flag.write_text("")
    proc = run_cli("run", str(recipe), "-w", "2", "-q", check=False)
    assert proc.returncode != 0 and flag.with_suffix(".died").exists()
    assert "a worker process died while running task d-0000" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out/manifest.json").exists()
    flag.unlink()
    run_cli("run", str(recipe), "-w", "2", "-q")
    assert tree_digest(tmp_path / "out") == tree_digest(tmp_path / "clean")
    assert_balanced(json.loads((tmp_path / "out/stats.json").read_text()))
