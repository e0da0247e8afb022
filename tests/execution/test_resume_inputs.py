"""A resumed run re-plans inputs that changed since its tasks read them (issue 18, item 8): a file deleted while
the first run read it and then restored, or rewritten at the same size, is read again, with everything that
depended on it (global decisions, later stages), and the output equals a clean run's on the final inputs.
Counting and cutting a file that is truncated meanwhile raise a clear error instead of SIGBUS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import assert_balanced, tree_digest, write_jsonl, write_recipe

from dataprep.execution.local import LocalRunner
from dataprep.execution.run import clean
from dataprep.io.readers.files import InputChanged, count_range_newlines, line_aligned_ranges
from dataprep.recipe import load_recipe


class Interrupt(Exception):
    """Stands for a crash of the run (SIGKILL, a full disk) before its manifest."""


class Meddling(LocalRunner):
    """A local runner that, as stage ``at`` starts, calls ``action`` (deletes or rewrites an input), and that
    dies as stage ``die_at`` starts."""

    def __init__(self, workers: int, at: int | None, action, die_at: int | None) -> None:
        super().__init__(workers)
        self.at, self.action, self.die_at = at, action, die_at

    def map(self, recipe, stage, pending, out, prepare=None):
        if stage.index == self.die_at:
            raise Interrupt(f"killed at stage {stage.index}")
        if stage.index == self.at:
            self.action()
        yield from super().map(recipe, stage, pending, out, prepare)


def _corpus(tmp: Path, name: str) -> Path:
    d = tmp / name
    write_jsonl(d / "d/a.jsonl", [{"text": f"document {i} of a"} for i in range(5)])
    # b's first 10 documents repeat a's: once b is read again, they are duplicates of a's
    write_jsonl(d / "d/b.jsonl", [{"text": f"document {i % 5} of a" if i < 10 else f"b says {i}"}
                                  for i in range(1000)])
    write_jsonl(d / "d/c.jsonl", [{"text": f"document {i} of a" if i < 3 else f"c says {i}"} for i in range(20)])
    return write_recipe(d / "r.yaml", [{"name": "d", "paths": ["d/"]}],
                        steps=[{"exact_dedup": {}}, {"gopher_quality": {"min_doc_words": 3}}])


def _clean(recipe: Path, runner: LocalRunner | None = None, workers: int = 1):
    return clean(load_recipe(recipe), workers=workers, quiet=True, runner=runner)


def _reference(tmp: Path) -> dict[str, str]:
    """The output of a clean run on the final inputs."""
    recipe = _corpus(tmp, "ref")
    _clean(recipe)
    return tree_digest(recipe.parent / "out")


@pytest.mark.parametrize("workers", [1, 2])
def test_input_deleted_during_run_then_restored_is_read_again(tmp_path, workers):
    recipe = _corpus(tmp_path, "run")
    b, away = recipe.parent / "d/b.jsonl", tmp_path / "b.away"
    runner = Meddling(workers, 0, lambda: b.rename(away), die_at=1)
    with pytest.raises(Interrupt):  # b vanished as stage 1 began; the run dies after its global fit
        _clean(recipe, runner, workers)
    markers = list((recipe.parent / "out/_work/s0").glob("*.json"))
    recorded = [json.loads(m.read_text())["inputs"] for m in markers]
    assert ["b.jsonl", None] in [u for units in recorded for u in units]  # the task saw b missing
    away.rename(b)
    result = _clean(recipe, workers=workers)
    assert_balanced(result.stats)
    assert result.stats["counts"]["input"] == 1025 and result.stats["counts"]["quarantined"] == 0
    assert result.stats["by_step"]["exact_dedup"]["clusters"] == 5  # a's five documents, each copied in b and c
    assert tree_digest(recipe.parent / "out") == _reference(tmp_path)


def test_input_rewritten_at_same_size_reruns_its_task_and_later_stages(tmp_path):
    recipe = _corpus(tmp_path, "run")
    b = recipe.parent / "d/b.jsonl"
    with pytest.raises(Interrupt):  # stage 0 and the global fit done with b's first content, then killed
        _clean(recipe, Meddling(1, None, None, die_at=1))
    # the same size (the recipe's fingerprint is the same), other content: b's lines in reverse order, so that
    # its documents' ids, and which of b's copies of a's documents comes first, change
    lines = b.read_text().splitlines()
    rewritten = "\n".join(reversed(lines)) + "\n"
    assert len(rewritten) == b.stat().st_size
    b.write_text(rewritten)
    result = _clean(recipe)
    assert_balanced(result.stats)
    ref = _corpus(tmp_path, "ref")
    (ref.parent / "d/b.jsonl").write_text(rewritten)
    _clean(ref)
    assert tree_digest(recipe.parent / "out") == tree_digest(ref.parent / "out")


def test_unchanged_inputs_keep_their_markers(tmp_path):
    """A resume with nothing changed reruns nothing: the first stage's markers stay as they were."""
    recipe = _corpus(tmp_path, "run")
    with pytest.raises(Interrupt):
        _clean(recipe, Meddling(1, None, None, die_at=1))
    work = recipe.parent / "out/_work"
    before = {m.name: m.stat().st_mtime_ns for m in (work / "s0").glob("*.json")}
    seen = []

    class Watching(LocalRunner):
        def map(self, recipe, stage, pending, out, prepare=None):
            seen.append((stage.index, len(pending)))
            yield from super().map(recipe, stage, pending, out, prepare)

    _clean(recipe, Watching(1))
    assert before and seen[0] == (0, 0)  # no first-stage task ran again; the later stages did
    assert tree_digest(recipe.parent / "out") == _reference(tmp_path)


def test_input_still_missing_at_the_end_is_quarantined_and_the_run_finishes(tmp_path):
    recipe = _corpus(tmp_path, "run")
    b = recipe.parent / "d/b.jsonl"
    result = _clean(recipe, Meddling(1, 0, b.unlink, die_at=None))
    assert_balanced(result.stats)
    assert result.stats["counts"]["quarantined"] == 1 and result.stats["counts"]["input"] == 26
    assert (recipe.parent / "out/manifest.json").exists()


_TRUNCATING = """
import os, sys
from pathlib import Path
import dataprep.io.readers.files as files
path = Path(sys.argv[1])
files.READ_BLOCK = 1 << 16
real = files.count_newlines
def count_then_truncate(buf):
    os.truncate(path, 1000)  # the file shrinks under the count
    return real(buf)
files.count_newlines = count_then_truncate
try:
    files.{call}
except files.InputChanged as exc:
    print("InputChanged:", exc)
"""


@pytest.mark.parametrize("call", ["count_range_newlines(path, 0, path.stat().st_size)",
                                  "line_aligned_ranges(path, 1 << 18)"])
def test_a_file_truncated_while_counted_raises_input_changed_not_sigbus(tmp_path, call):
    """Counting reads rather than maps: a file truncated meanwhile is an error the planner handles (a memory
    map would kill the process with SIGBUS on the first page past the new end)."""
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": "x" * 90} for _ in range(10_000)])
    code = textwrap.dedent(_TRUNCATING).replace("{call}", call)
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "InputChanged:" in proc.stdout and "big.jsonl changed while being read" in proc.stdout


def test_count_and_cut_agree_with_the_file(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [{"text": "y" * (i % 300)} for i in range(20_000)])
    size = path.stat().st_size
    ranges = line_aligned_ranges(path, -(-size // 7))
    assert ranges[0][0] == 0 and ranges[-1][1] == size and len(ranges) == 7
    data = path.read_bytes()
    line = 1
    for start, end, first in ranges:
        assert first == line and (start == 0 or data[start - 1:start] == b"\n")
        assert count_range_newlines(path, start, end) == data[start:end].count(b"\n")
        line += data[start:end].count(b"\n")
    with pytest.raises(InputChanged):
        count_range_newlines(path, size - 10, size + 10)
