"""One run at a time per output folder: a second run is refused naming the holder, a SIGKILLed holder blocks
nothing, and temporary files that dead runs left are gone after the next run."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT, assert_balanced, run_cli, tree_digest, write_jsonl, write_recipe

from dataprep.errors import DataprepError
from dataprep.execution.lock import LOCK_NAME, hold_output


def _recipe(tmp: Path) -> Path:
    rows = [{"text": f"document {i} about topic {i % 5}"} for i in range(60)] + [{"text": "document 3 about topic 3"}]
    write_jsonl(tmp / "data/a.jsonl", rows)
    write_jsonl(tmp / "data/b.jsonl", [{"text": f"other {i}"} for i in range(20)])
    return write_recipe(tmp / "r.yaml", [{"name": "d", "paths": ["data/"]}], steps=["exact_dedup"])


def _refused(proc: subprocess.CompletedProcess, out: Path, pid: int) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: {out} is in use by pid {pid} on host {socket.gethostname()} since ")
    assert proc.stderr.rstrip().endswith("(another dataprep run); wait for it or use another --output")


def test_second_run_is_refused_naming_the_holder(tmp_path):
    recipe, out = _recipe(tmp_path), tmp_path / "out"
    with hold_output(out):
        proc = run_cli("run", str(recipe), "-o", str(out), "-q", check=False)
        _refused(proc, out, os.getpid())
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # the refused run wrote nothing
    assert not out.joinpath(LOCK_NAME).exists()  # the release deletes the lock file
    run_cli("run", str(recipe), "-o", str(out), "-q")
    assert not out.joinpath(LOCK_NAME).exists()  # so does a finished run


def test_overwrite_is_refused_too_and_moves_nothing(tmp_path):
    recipe, out = _recipe(tmp_path), tmp_path / "out"
    run_cli("run", str(recipe), "-o", str(out), "-q")
    before = tree_digest(out, exclude=())
    with hold_output(out):
        proc = run_cli("run", str(recipe), "-o", str(out), "--overwrite", "-q", check=False)
        _refused(proc, out, os.getpid())
        assert tree_digest(out, exclude=(LOCK_NAME,)) == before and not (out / ".trash").exists()


def test_sigkilled_holder_does_not_block_the_next_run(tmp_path):
    recipe, out, clean = _recipe(tmp_path), tmp_path / "out", tmp_path / "clean"
    run_cli("run", str(recipe), "-o", str(clean), "-q")
    code = ("import sys, time\nfrom dataprep.execution.lock import hold_output\n"
            f"with hold_output({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        _refused(run_cli("run", str(recipe), "-o", str(out), "-q", check=False), out, holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK_NAME).exists()  # the dead holder's file stays, but the kernel released its lock
    run_cli("run", str(recipe), "-o", str(out), "-q")
    assert tree_digest(out) == tree_digest(clean)


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "unfinished"])
def test_stale_temp_files_of_a_dead_run_are_removed(tmp_path, finished):
    recipe, out, clean = _recipe(tmp_path), tmp_path / "out", tmp_path / "clean"
    run_cli("run", str(recipe), "-o", str(clean), "-q")
    if finished:  # a run that died after another one finished the output (a rerun skips its work)
        run_cli("run", str(recipe), "-o", str(out), "-q")
    else:  # a run of this recipe that died before any task published
        from dataprep.recipe import load_recipe

        fp = load_recipe(recipe, output=out).fingerprint()
        (out / "_work").mkdir(parents=True)
        (out / "_work" / "fingerprint").write_text(fp)
    stale = [out / "kept" / ".tmp-d-00000-s0-0000.arrow.99999", out / "_work" / "s0" / ".tmp-marker.json.99999",
             out / ".tmp-stats.json.99999"]
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"half a shard")
    (out / LOCK_NAME).write_text('{"pid": 99999, "host": "gone", "started": "2026-01-01T00:00:00"}\n')
    run_cli("run", str(recipe), "-o", str(out), "-q")
    assert not list(out.rglob(".tmp-*")) and not (out / LOCK_NAME).exists()
    assert tree_digest(out) == tree_digest(clean)
    assert_balanced(json.loads((out / "stats.json").read_text()))


def test_hold_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path):
    out = tmp_path / "out"
    errors = []

    def other_thread():
        try:
            with hold_output(out):
                pass
        except DataprepError as exc:
            errors.append(str(exc))

    with hold_output(out) as outer:
        with hold_output(out / ".." / "out") as inner:  # the same folder by another path: the same hold
            assert inner is outer and outer.depth == 2
        assert outer.depth == 1 and (out / LOCK_NAME).exists()
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert len(errors) == 1 and f"pid {os.getpid()}" in errors[0]
    assert not (out / LOCK_NAME).exists()
    with hold_output(out):  # free again
        pass


def test_run_recipe_inside_a_hold_does_not_deadlock(tmp_path):
    from dataprep.pipeline import run_recipe
    from dataprep.recipe import load_recipe

    recipe = load_recipe(_recipe(tmp_path), output=tmp_path / "out")
    with hold_output(tmp_path / "out"):
        result = run_recipe(recipe, workers=1, quiet=True)
        assert (tmp_path / "out" / LOCK_NAME).exists()  # the outer hold still holds it
    assert_balanced(result.clean.stats)
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_a_file_system_without_locks_runs_unlocked_with_a_warning(tmp_path, monkeypatch):
    import fcntl

    def refuse(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refuse)
    with pytest.warns(RuntimeWarning, match="refuses locks"):
        with hold_output(tmp_path / "out") as hold:
            assert hold.fd is None
