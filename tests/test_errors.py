"""Errors for people: a full disk, an exceeded quota, an unwritable or read-only output folder, a full disk at the
training checkpoint and Ctrl-C each print one line saying what and where (a traceback only with ``--debug``),
exit non-zero and leave no temporary file behind. Also: pack reads no input outside its folders, and every
temporary file of the package is found by the stale-temp cleanup.

The disk refuses writes through a fault hook (``sitecustomize`` on PYTHONPATH, read by the CLI and its spawned
workers), so that these run anywhere, as root too (where chmod does not stop a write); the real conditions
(a full tmpfs, a read-only mount, the file size limit inside ``torch.save``, a chmod-ed folder) run where the
machine allows them.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import ROOT, assert_balanced, run_cli, write_jsonl, write_recipe

from dataprep.errors import (
    DataprepError,
    OutputError,
    describe,
    exit_code,
    free_space,
    size_text,
    write_error,
)
from dataprep.io.writers import TMP_PREFIX, ShardWriter, atomic_write_bytes, remove_temp_files, write_arrow_file

HOOK = '''# Fault injection for tests/test_errors.py: the operating system refuses chosen writes.
#
# Loaded by every Python process started with this folder on PYTHONPATH (the CLI and its spawned workers);
# inert unless DATAPREP_FAULT holds a JSON spec: {"errno": "ENOSPC", "match": "/kept/", "ops": ["fsync"],
# "after": 0}. ops: "fsync" (fsync/fdatasync of a file whose path contains match: a full disk found at flush),
# "open" (opening a file for writing, or creating a folder, whose path contains match: an unwritable or read-only
# folder), "write" (a file opened for writing whose path contains match refuses bytes past "after": a full disk
# found mid-write), "stall" (the first fsync/fdatasync of such a file creates the file "marker" and takes
# "seconds": a slow disk, for an interrupt to land while a temporary file is open).

import builtins
import errno
import io
import json
import os
import time

_SPEC = json.loads(os.environ.get("DATAPREP_FAULT") or "null")


def _install(spec):
    code = getattr(errno, spec["errno"])
    match = spec["match"]
    ops = set(spec["ops"])
    after = int(spec.get("after", 0))

    def refuse(path=None):
        if path is None:
            raise OSError(code, os.strerror(code))
        raise OSError(code, os.strerror(code), path)

    def fd_path(fd):
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    if ops & {"fsync", "stall"}:
        real_fsync, real_fdatasync = os.fsync, os.fdatasync
        stalled = []

        def check(fd):
            if match not in fd_path(fd if isinstance(fd, int) else fd.fileno()):
                return
            if "fsync" in ops:
                refuse()
            if not stalled:
                stalled.append(True)
                with open(spec["marker"], "w"):
                    pass
                time.sleep(float(spec["seconds"]))

        def fsync(fd):
            check(fd)
            return real_fsync(fd)

        def fdatasync(fd):
            check(fd)
            return real_fdatasync(fd)

        os.fsync, os.fdatasync = fsync, fdatasync

    writing = ("w", "a", "x", "+")
    real_open = builtins.open

    class Limited:
        # a file that takes ``after`` bytes, then refuses more, as a disk that fills up

        def __init__(self, fh):
            self._fh = fh
            self._n = 0

        def write(self, data):
            if self._n + len(data) > after:
                refuse()
            self._n += len(data)
            return self._fh.write(data)

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._fh.close()

    def hit(path):
        try:
            return match in os.fsdecode(path)
        except TypeError:
            return False

    def open_(file, mode="r", *args, **kwargs):
        if not isinstance(file, int) and hit(file) and any(c in mode for c in writing):
            if "open" in ops:
                refuse(os.fsdecode(file))
            if "write" in ops:
                return Limited(real_open(file, mode, *args, **kwargs))
        return real_open(file, mode, *args, **kwargs)

    if ops & {"open", "write"}:
        builtins.open = io.open = open_

    if "open" in ops:
        real_os_open, real_mkdir = os.open, os.mkdir

        def os_open(path, flags, mode=0o777, *, dir_fd=None):
            if hit(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                refuse(os.fsdecode(path))
            return real_os_open(path, flags, mode, dir_fd=dir_fd)

        def mkdir(path, mode=0o777, *, dir_fd=None):
            if hit(path) and not os.path.isdir(path):
                refuse(os.fsdecode(path))
            return real_mkdir(path, mode, dir_fd=dir_fd)

        os.open, os.mkdir = os_open, mkdir


if _SPEC:
    _install(_SPEC)
'''

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho".split()


def _temps(folder: Path) -> list[str]:
    """Temporary files below ``folder``: today's ``.tmp-*`` names and the ``.NAME.tmp`` of earlier versions."""
    return sorted(str(p) for p in Path(folder).rglob(".*")
                  if p.name.startswith(TMP_PREFIX) or (p.name.endswith(".tmp") and p.is_file()))


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture
def fault(tmp_path, monkeypatch):
    """``fault(errno, match, *ops, **more)``: the next CLI runs (``run_cli``) see the operating system refuse
    the chosen writes (see HOOK); ``fault(None)`` lifts it."""
    hook = tmp_path / "_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]))

    def set_fault(code: str | None, match: str = "", *ops: str, **more) -> None:
        if code is None:
            monkeypatch.delenv("DATAPREP_FAULT", raising=False)
        else:
            monkeypatch.setenv("DATAPREP_FAULT", json.dumps({"errno": code, "match": match, "ops": ops, **more}))

    return set_fault


@pytest.fixture
def recipe(tmp_path) -> Path:
    """Three JSONL files of 500 documents each (a few exact duplicates) and a recipe with exact dedup."""
    rng = np.random.default_rng(0)
    for f in range(3):
        rows = [{"id": f"{f}-{i}", "text": " ".join(rng.choice(WORDS, 40))} for i in range(500)]
        rows += [{"id": f"{f}-dup", "text": "one and the same text"}]
        write_jsonl(tmp_path / "d" / f"p{f}.jsonl", rows)
    return write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}], steps=["exact_dedup"])


def test_lines_say_what_where_and_how_much():
    e = write_error(OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left"),
                    "/data/out/kept/d-0000.arrow", needs=3 << 20)
    assert isinstance(e, OutputError) and isinstance(e, OSError) and isinstance(e, DataprepError)
    free, mount = free_space("/data/out/kept/d-0000.arrow")  # the nearest existing folder's file system
    assert str(e) == (f"no space left on device writing /data/out/kept/d-0000.arrow (needs ~3.0 MB, "
                      f"{size_text(free)} free on {mount}); free space there or choose another output folder")
    assert (e.errno, e.filename, exit_code(e)) == (errno.ENOSPC, "/data/out/kept/d-0000.arrow", 1)
    back = pickle.loads(pickle.dumps(e))  # crosses from a worker process as it is
    assert (type(back), str(back), back.errno, back.filename) == (OutputError, str(e), e.errno, e.filename)
    assert write_error(e, "elsewhere") is e
    ro = write_error(PermissionError(errno.EROFS, "Read-only file system"), "/o/x", action="creating")
    assert str(ro) == "read-only file system creating /o/x; choose an output folder on a writable file system"
    assert describe(PermissionError(errno.EACCES, "Permission denied", "/o/.lock")) == \
        "permission denied: /o/.lock; this user may not write there: fix the folder's permissions or choose " \
        "another output folder"
    assert describe(OSError(errno.EBUSY, "Device or resource busy", "/o")) == \
        "device or resource busy: /o (--debug shows where)"
    assert describe(DataprepError("bad recipe")) == "bad recipe" and exit_code(DataprepError("x")) == 2
    assert describe(KeyboardInterrupt()) == "interrupted" and exit_code(KeyboardInterrupt()) == 130
    assert describe(ValueError("a bug")) is None  # a bug keeps its traceback
    assert [size_text(n) for n in (5, 2048, 15 << 20, 3 << 30)] == ["5 bytes", "2.0 KB", "15 MB", "3.0 GB"]


def test_a_refused_shard_write_raises_one_line_and_leaves_no_temp(tmp_path, monkeypatch):
    real = os.fsync

    def full(fd: int) -> None:
        if "/kept/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full)
    table = pa.table({"id": ["a", "b"], "text": ["x" * 1000, "y"]})
    w = ShardWriter(tmp_path / "kept", "s", table.schema)
    w.write(table)
    with pytest.raises(OutputError, match=r"^no space left on device writing .*/kept/s-0000\.arrow \(needs ~1"):
        w.close()
    w.abort()  # the caller's abort after the error: nothing left to do, no error
    assert list((tmp_path / "kept").iterdir()) == []
    with pytest.raises(OutputError, match=r"writing .*/kept/m\.json \(needs ~3 bytes"):
        atomic_write_bytes(tmp_path / "kept" / "m.json", b"{}\n")
    assert list((tmp_path / "kept").iterdir()) == []


def test_disk_full_in_a_worker_one_line_no_temps_and_the_rerun_finishes(tmp_path, recipe, fault):
    out = tmp_path / "out"
    fault("ENOSPC", "/kept/", "fsync")
    proc = run_cli("run", str(recipe), "-o", str(out), "-w", "2", "-q", check=False)
    line = _one_line(proc)
    assert proc.returncode == 1
    assert line.startswith(f"error: no space left on device writing {out}/kept/d-0000") and ".arrow (needs ~" in line
    assert _temps(out) == []
    debug = run_cli("--debug", "run", str(recipe), "-o", str(out), "-w", "1", "-q", check=False)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "OutputError: no space left" in debug.stderr
    assert _temps(out) == []
    fault(None)  # room again: the same command finishes the run
    run_cli("run", str(recipe), "-o", str(out), "-w", "2", "-q")
    stats = json.loads((out / "stats.json").read_text())
    assert_balanced(stats)
    assert stats["counts"]["input"] == 1503 and stats["counts"]["duplicates"] == 2


def test_unwritable_kept_folder_and_read_only_output(tmp_path, recipe, fault):
    out = tmp_path / "out"
    fault("EACCES", "/kept/", "open")
    proc = run_cli("run", str(recipe), "-o", str(out), "-w", "1", "-q", check=False)
    assert proc.returncode == 1 and _temps(out) == []
    assert _one_line(proc).startswith(f"error: permission denied writing {out}/kept/d-0000")
    fault("EROFS", str(tmp_path / "ro"), "open")
    proc = run_cli("run", str(recipe), "-o", str(tmp_path / "ro"), "-q", check=False)
    assert proc.returncode == 1
    assert _one_line(proc) == f"error: read-only file system: {tmp_path / 'ro'}; choose an output folder on a " \
                              "writable file system"


def _tokenizer(tmp_path: Path, docs: Path) -> Path:
    from dataprep.tokenizer import train_bpe

    return Path(train_bpe([str(docs)], 300, tmp_path / "tok.json")["tokenizer"])


def test_pack_quota_and_read_only_output_one_line_no_temps(tmp_path, recipe, fault):
    tok = _tokenizer(tmp_path, tmp_path / "d")
    packed = tmp_path / "packed"
    args = ("pack", "--input", str(tmp_path / "d"), "--tokenizer", str(tok), "--seq-len", "16", "-o", str(packed),
            "-q")
    fault("EDQUOT", "tokens-00001", "fsync")
    proc = run_cli(*args, check=False)
    assert proc.returncode == 1 and _temps(packed) == []
    line = _one_line(proc)
    assert line.startswith(f"error: disk quota exceeded writing {packed}/train/tokens-00001.bin (needs ~"), line
    assert line.endswith("free space in your quota or choose another output folder")
    assert (packed / "train" / "tokens-00000.bin").exists()  # the part before it is done: a rerun resumes
    fault(None)
    run_cli(*args)
    assert json.loads((packed / "manifest.json").read_text())["splits"]["train"]["n_docs"] > 1400
    fault("EROFS", str(tmp_path / "ro"), "open")
    proc = run_cli(*args[:-3], "-o", str(tmp_path / "ro"), check=False)
    assert proc.returncode == 1
    assert _one_line(proc).startswith(f"error: read-only file system creating {tmp_path / 'ro'}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway (the fault hook tests "
                                              "run everywhere instead)")
def test_a_chmod_read_only_output_folder(tmp_path, recipe):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        proc = run_cli("run", str(recipe), "-o", str(parent / "out"), "-q", check=False)
    finally:
        parent.chmod(0o755)
    assert proc.returncode != 0 and "permission denied" in _one_line(proc)
    assert _temps(parent) == []


def test_checkpoint_on_a_full_disk_raises_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from dataprep.train import loop

    path = tmp_path / "checkpoint.pt"
    loop._save_checkpoint(path, {"model": {"w": torch.zeros(10)}, "step": 1})
    real_open = open

    class Full:
        """A file on a disk with 64 KB left."""

        def __init__(self, fh):
            self.fh, self.n = fh, 0

        def write(self, data):
            self.n += len(data)
            if self.n > 64 << 10:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(loop, "open", lambda *a, **k: Full(real_open(*a, **k)), raising=False)
    state = {"model": {"w": torch.zeros(1 << 18)}, "step": 2}  # 1 MB of weights
    with pytest.raises(OutputError) as info:
        loop._save_checkpoint(path, state)
    # torch says "unexpected pos"; the user reads what and where
    assert "unexpected pos" in str(info.value.__cause__) or "write failed" in str(info.value.__cause__)
    assert str(info.value).startswith(f"no space left on device writing {path} (needs ~1.0 MB, ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary file
    monkeypatch.undo()
    assert torch.load(path, weights_only=False)["step"] == 1  # the last good checkpoint is intact


def test_every_temporary_name_is_found_by_the_stale_temp_cleanup(tmp_path):
    """A kill leaves a pack part's or a checkpoint's temporary file; the next run's cleanup must find it."""
    from dataprep.pack import _PartWriter

    out = tmp_path / "out"
    part = _PartWriter(out / "packed" / "train", 3, np.dtype(np.uint16))
    part.write([[1, 2, 3]], 0)
    part.tok_fh.flush()
    leftovers = [part.tmp_tokens, part.tmp_docs]
    try:
        from dataprep.train.loop import TMP_PREFIX as TRAIN_PREFIX
        from dataprep.train.loop import _temp_path
    except ImportError:  # no torch
        TRAIN_PREFIX, _temp_path = TMP_PREFIX, None
    assert TRAIN_PREFIX == TMP_PREFIX
    if _temp_path is not None:
        (out / "train").mkdir(parents=True)
        ckpt_tmp = _temp_path(out / "train" / "checkpoint.pt")
        ckpt_tmp.write_bytes(b"torn")
        leftovers.append(ckpt_tmp)
    assert all(p.exists() for p in leftovers) and len(_temps(out)) == len(leftovers)
    remove_temp_files(out)  # what a run does first, holding the output folder
    assert _temps(out) == []
    part.abort()


def test_pack_reads_nothing_outside_its_input_folders(tmp_path):
    """A link leaving the input folder (to a JSONL or an Arrow file of the host) and a FIFO are refused, listed in
    the manifest and never opened (a FIFO would block); every other document is packed."""
    from dataprep.pack import iter_batches, pack
    from dataprep.shards import PackedDataset

    rng = np.random.default_rng(1)
    good = [{"id": f"g{i}", "text": " ".join(rng.choice(WORDS, 30))} for i in range(40)]
    inputs = tmp_path / "kept"
    write_jsonl(inputs / "good.jsonl", good)
    host = tmp_path / "host"
    write_jsonl(host / "secret.jsonl", [{"id": "s", "text": "SECRET " * 50}])
    write_arrow_file(host / "secret.arrow", pa.table({"id": ["t"], "text": ["SECRET " * 50]}))
    (inputs / "leak.jsonl").symlink_to(host / "secret.jsonl")
    (inputs / "leak.arrow").symlink_to(host / "secret.arrow")
    os.mkfifo(inputs / "pipe.jsonl")
    signal.alarm(60)  # a FIFO opened would block forever: fail instead
    try:
        with pytest.warns(RuntimeWarning) as warned:  # the tokenizer reads the kept shards as pack does
            tok = _tokenizer(tmp_path, inputs)
        assert sorted(str(w.message).split(":")[0] for w in warned) == ["leak.arrow", "leak.jsonl", "pipe.jsonl"]
        with pytest.warns(RuntimeWarning) as warned:
            assert [rel for rel, _ in iter_batches([str(inputs)], 16)] == ["good.jsonl"]
        assert len(warned) == 3 and "leak.arrow: a symbolic link to" in str(warned[0].message)
        m = pack([str(inputs)], tok, tmp_path / "packed", seq_len=16, val_fraction=0.0, quiet=True)
    finally:
        signal.alarm(0)
    refused = {r["input"]: r["reason"] for r in m["refused"]}
    assert sorted(refused) == ["leak.arrow", "leak.jsonl", "pipe.jsonl"]
    assert "leaves the source folder" in refused["leak.jsonl"] and "FIFO" in refused["pipe.jsonl"]
    assert m["splits"]["train"]["n_docs"] == 40 and [p for p, _ in m["settings"]["inputs"]] == \
        [str(inputs / "good.jsonl")]
    from tokenizers import Tokenizer

    ds = PackedDataset(tmp_path / "packed")
    text = Tokenizer.from_file(str(tok)).decode(ds._slice(0, ds.n_tokens).tolist())
    assert "SECRET" not in text and good[0]["text"] in text


@pytest.mark.slow
def test_ctrl_c_prints_one_line_exits_130_leaves_no_temps_and_resumes(tmp_path, recipe, fault):
    out = tmp_path / "out"
    marker = tmp_path / "stalled"
    fault("EIO", "/kept/", "stall", marker=str(marker), seconds=2)  # a slow disk, with a shard half written
    cmd = [sys.executable, "-m", "dataprep.cli", "run", str(recipe), "-o", str(out), "-w", "1", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _temps(out), "no shard was being written"
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
    _, stderr = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(cmd, proc.returncode, "", stderr)
    assert proc.returncode == 130
    assert _one_line(done) == "error: interrupted; run the same command again to resume"
    assert _temps(out) == []
    fault(None)
    run_cli(*cmd[3:])
    stats = json.loads((out / "stats.json").read_text())
    assert_balanced(stats)
    assert stats["counts"]["input"] == 1503


@pytest.mark.slow
def test_checkpoint_write_refused_by_the_kernel_inside_torch_save(tmp_path, recipe):
    """A real write failure inside ``torch.save`` (the file size limit, which binds root too): one line naming
    the checkpoint, exit 1, no temporary file; the log holds the steps done."""
    pytest.importorskip("torch")
    from dataprep.pack import pack

    tok = _tokenizer(tmp_path, tmp_path / "d")
    pack([str(tmp_path / "d")], tok, tmp_path / "packed", seq_len=16, val_fraction=0.1, quiet=True)
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"data: {tmp_path / 'packed'}\nout: run\npreset: tiny\nbatch_size: 2\nmax_steps: 2\n"
                   "eval_every: 0\n")
    limit = 512 << 10  # the checkpoint of the tiny model is about 1.6 MB

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "dataprep.cli", "train", str(cfg)], cwd=ROOT, capture_output=True,
                          text=True, preexec_fn=small_files, env=env)
    assert proc.returncode == 1
    assert _one_line(proc).startswith(f"error: file too large (over the file size limit, ulimit -f, or the file "
                                      f"system's) writing {tmp_path / 'run' / 'checkpoint.pt'} (needs ~")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["train.jsonl"]
    assert [json.loads(r)["step"] for r in (tmp_path / "run" / "train.jsonl").read_text().splitlines()] == [1, 2]


def _tmpfs(path: Path, *options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_a_real_full_disk_and_a_real_read_only_mount(tmp_path, recipe):
    """Where this machine lets the test mount a tmpfs (root, and mounts allowed): the disk really fills inside
    pyarrow's writer, and a read-only mount really refuses."""
    full, ro = tmp_path / "full", tmp_path / "ro"
    if not _tmpfs(full, "size=256k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        proc = run_cli("run", str(recipe), "-o", str(full / "out"), "-w", "1", "-q", check=False)
        assert proc.returncode == 1 and _temps(full) == []
        line = _one_line(proc)
        assert line.startswith(f"error: no space left on device writing {full}/out/") and f"free on {full})" in line
        assert _tmpfs(ro, "size=64k", "ro")
        proc = run_cli("run", str(recipe), "-o", str(ro / "out"), "-q", check=False)
        assert proc.returncode == 1 and _one_line(proc).startswith(f"error: read-only file system: {ro / 'out'}")
    finally:
        for m in (full, ro):
            subprocess.run(["umount", "-l", str(m)], capture_output=True)
