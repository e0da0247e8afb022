"""The training entrypoint on CPU with the tiny preset: exact resume (after a stop or a SIGKILL, with the log cut
back to the checkpoint), falling loss, evaluation, imports."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, run_cli  # noqa: E402

from dataprep.train import ModelConfig, TrainConfig, Transformer, load_config, lr_at, train  # noqa: E402
from dataprep.train.loop import _cut_log, _save_checkpoint, build_optimizer  # noqa: E402


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("train")
    run_cli("tokenizer", "train", "--input", str(ROOT / "sample_data" / "reference"), "--vocab-size", "600",
            "--out", str(base / "tok.json"))
    run_cli("pack", "--input", str(ROOT / "sample_data" / "reference"), "--tokenizer", str(base / "tok.json"),
            "--seq-len", "32", "--val-fraction", "0.1", "-o", str(base / "packed"), "-q")
    return base / "packed"


def _cfg(packed: Path, out: Path, **kw) -> TrainConfig:
    base = {"data": str(packed), "out": str(out), "preset": "tiny", "batch_size": 4, "max_steps": 8, "lr": 3e-3,
            "eval_every": 0, "checkpoint_every": 100, "log_every": 100, "seed": 7}
    base.update(kw)
    return TrainConfig(**base)


def test_resume_gives_identical_losses(packed, tmp_path):
    straight = [r["loss"] for r in train(_cfg(packed, tmp_path / "a"), log=lambda m: None)]
    first = train(_cfg(packed, tmp_path / "b", stop_at=4), log=lambda m: None)
    second = train(_cfg(packed, tmp_path / "b"), log=lambda m: None)
    assert [r["step"] for r in second] == [5, 6, 7, 8]
    assert [r["loss"] for r in first + second] == straight  # bit for bit: model, optimizer, data position, RNG


#: what a log record measures about time, not training: differs between any two runs
TIMING = {"tokens_per_s", "step_s", "data_wait_frac", "mfu"}


@pytest.fixture
def one_thread():
    """One intra-op thread, as the subprocesses below get (OMP_NUM_THREADS=1): the same kernels, so the same
    bits, in and out of process; and no two threads fighting over a busy CI machine's cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _log(out: Path) -> list[dict]:
    lines = (out / "train.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _same(a, b, where: str = "") -> None:
    """Two checkpoint states hold the same values: tensors bit for bit, RNG states, counters."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            _same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    else:
        assert a == b, where


def _same_checkpoint(a: Path, b: Path) -> None:
    sa, sb = (torch.load(p / "checkpoint.pt", weights_only=False) for p in (a, b))
    sa.pop("config"), sb.pop("config")  # the settings of the invocation (stop_at) may differ, not the state
    _same(sa, sb)


def _cli(cfg: TrainConfig, path: Path) -> list[str]:
    path.write_text(json.dumps({f: getattr(cfg, f) for f in ("data", "out", "preset", "batch_size", "max_steps",
                                                             "lr", "eval_every", "eval_batches",
                                                             "checkpoint_every", "log_every", "seed")}))
    return [sys.executable, "-m", "dataprep.train", str(path)]


def _kill_when(cmd: list[str], ready, timeout: float = 60) -> None:
    """Start ``cmd``, SIGKILL it once ``ready()`` holds (polled); fail if it ends first."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, f"finished (exit {proc.returncode}) before it could be killed"
            assert time.monotonic() < deadline, "not ready in time"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None and not ready():
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _logged(out: Path) -> int:
    try:
        return (out / "train.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_checkpoints_at_evals_and_every_n_into_one_file(packed, tmp_path, monkeypatch, one_thread):
    saved: list[int] = []
    monkeypatch.setattr("dataprep.train.loop._save_checkpoint",
                        lambda path, state: (saved.append(state["step"]), _save_checkpoint(path, state)))
    train(_cfg(packed, tmp_path / "a", max_steps=12, checkpoint_every=4, eval_every=6, eval_batches=1),
          log=lambda m: None)
    assert saved == [4, 6, 8, 12]  # every 4, at each evaluation, at the end
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["checkpoint.pt", "train.jsonl"]
    saved.clear()
    train(_cfg(packed, tmp_path / "b", max_steps=5, checkpoint_every=0), log=lambda m: None)
    assert saved == [5]  # 0: none between, only the last step's


def test_resume_after_stop_and_after_a_kill_past_the_checkpoint_logs_each_step_once(packed, tmp_path,
                                                                                    one_thread):
    quiet = lambda m: None  # noqa: E731
    kw = {"max_steps": 12, "checkpoint_every": 4, "eval_every": 6, "eval_batches": 1}
    train(_cfg(packed, tmp_path / "a", **kw), log=quiet)
    b = tmp_path / "b"
    train(_cfg(packed, b, stop_at=8, **kw), log=quiet)  # a time-boxed job: checkpointed at its stop
    shutil.copy(b / "checkpoint.pt", tmp_path / "at8.pt")
    train(_cfg(packed, b, stop_at=10, **kw), log=quiet)
    # as if killed at step 10 before its checkpoint was written, mid-way through a log line
    shutil.copy(tmp_path / "at8.pt", b / "checkpoint.pt")
    with open(b / "train.jsonl", "a") as fh:
        fh.write('{"step": 11, "loss": 4.')
    lines: list[str] = []
    train(_cfg(packed, b, **kw), log=lines.append)
    assert any("cut back to step 8 (3 line(s)" in m for m in lines), lines
    log = _log(b)
    assert [r["step"] for r in log] == list(range(1, 13))
    assert log == _log(tmp_path / "a")  # loss, lr, grad_norm, eval: every record as the uninterrupted run's
    _same_checkpoint(tmp_path / "a", b)
    assert not list(b.glob(".*.tmp")) and not list(b.glob(".tmp-*"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_sigkill_mid_run_then_the_same_run_resumes_exactly(packed, tmp_path, one_thread):
    kw = {"max_steps": 60, "checkpoint_every": 5, "eval_every": 25, "eval_batches": 1, "log_every": 1000}
    train(_cfg(packed, tmp_path / "a", **kw), log=lambda m: None)
    b = tmp_path / "b"
    _kill_when(_cli(_cfg(packed, b, **kw), tmp_path / "b.json"),
               lambda: _logged(b) >= 12 and (b / "checkpoint.pt").exists())
    killed_at = _logged(b)
    resumed_from = int(torch.load(b / "checkpoint.pt", weights_only=False)["step"])
    assert 5 <= resumed_from <= killed_at < 60
    lines: list[str] = []
    train(_cfg(packed, b, **kw), log=lines.append)  # the same run again (in process: one torch import less)
    assert f"train: resumed from {b / 'checkpoint.pt'} at step {resumed_from}" in lines
    log = _log(b)
    assert [r["step"] for r in log] == list(range(1, 61))  # each step once, in order: nothing appended twice
    assert log == _log(tmp_path / "a")
    _same_checkpoint(tmp_path / "a", b)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_a_kill_before_the_first_checkpoint_restarts_the_log(packed, tmp_path, one_thread):
    kw = {"max_steps": 30, "checkpoint_every": 0, "log_every": 1000}  # no checkpoint before the last step
    train(_cfg(packed, tmp_path / "a", **kw), log=lambda m: None)
    b = tmp_path / "b"
    cmd = _cli(_cfg(packed, b, **kw), tmp_path / "b.json")
    _kill_when(cmd, lambda: _logged(b) >= 3)
    assert not (b / "checkpoint.pt").exists() and 3 <= _logged(b) < 30
    lines: list[str] = []
    train(_cfg(packed, b, **kw), log=lines.append)  # the same run again, here in process
    assert not any("resumed" in m for m in lines) and any("cut back to step 0" in m for m in lines)
    log = _log(b)
    assert [r["step"] for r in log] == list(range(1, 31))  # afresh: not the killed run's lines, then these
    assert log == _log(tmp_path / "a")
    # resume: false over a finished run starts afresh too: its log, and without the other run's checkpoint
    lines.clear()
    train(_cfg(packed, b, max_steps=3, resume=False), log=lines.append)
    assert [r["step"] for r in _log(b)] == [1, 2, 3] and any("removed" in m for m in lines)


def test_cut_log_keeps_the_checkpointed_history(tmp_path):
    path = tmp_path / "train.jsonl"
    recs = [{"step": s, "loss": float(s)} for s in [1, 2, 3, 1, 2, 3, 4, 5, 6]]  # appended by a restarted run
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + "not json\n" + '{"step": 7, "lo')
    assert _cut_log(path, 4) == (4, 7)
    assert path.read_text().splitlines() == [json.dumps(r) for r in recs[3:7]]
    assert _cut_log(path, 4) == (4, 0)  # already exact: left alone
    assert _cut_log(path, 0) == (0, 4) and path.read_text() == ""
    assert _cut_log(tmp_path / "none.jsonl", 5) == (0, 0)
    assert not list(tmp_path.glob(".*"))


def test_loss_falls_and_eval_reports_ppl_and_bpb(packed, tmp_path):
    recs = train(_cfg(packed, tmp_path / "c", max_steps=60, eval_every=30, eval_batches=3, document_mask=True),
                 log=lambda m: None)
    first = sum(r["loss"] for r in recs[:5]) / 5
    last = sum(r["loss"] for r in recs[-5:]) / 5
    assert last < first - 0.5, (first, last)
    final = recs[-1]
    assert final["val_ppl"] == pytest.approx(math.exp(final["val_loss"]), rel=1e-6)
    assert 0 < final["val_bpb"] < 10 and final["data_wait_frac"] < 0.5
    lines = (tmp_path / "c" / "train.jsonl").read_text().splitlines()
    assert len(lines) == 60 and {"loss", "lr", "grad_norm", "tokens_per_s"} <= set(json.loads(lines[0]))


def test_schedule_and_weight_decay_groups():
    cfg = TrainConfig(max_steps=1000, warmup_steps=100, lr=1e-3)
    assert lr_at(0, cfg) == pytest.approx(1e-5) and lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(1000, cfg) == pytest.approx(1e-4)  # cosine to 10% of the peak
    assert TrainConfig(max_steps=50).warmup == 5  # 2000 by default, capped for short runs
    model = Transformer(ModelConfig(vocab_size=100, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, multiple_of=16))
    groups = build_optimizer(model, cfg, fused=False).param_groups
    decayed = {id(p) for p in groups[0]["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() == 2 and "tok_embeddings" not in name), name
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert model.cfg.hidden_dim == 96  # 2/3 of 4d = 85.3, rounded up to a multiple of 16


def test_document_mask_blocks_attention_across_documents():
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=50, dim=32, n_layers=1, n_heads=4, multiple_of=16, max_seq_len=8))
    tokens = torch.randint(0, 50, (1, 8))
    docs = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]])
    changed = tokens.clone()
    changed[0, :3] = (changed[0, :3] + 1) % 50  # edit the first document only
    a, _ = model(tokens, doc_ids=docs)
    b, _ = model(changed, doc_ids=docs)
    assert torch.allclose(a[0, 3:], b[0, 3:], atol=1e-6)  # the second document cannot see the first
    c, _ = model(tokens)
    d, _ = model(changed)
    assert not torch.allclose(c[0, 3:], d[0, 3:])  # without the mask it does


def test_imports_only_torch_numpy_stdlib():
    code = ("import sys, dataprep.train, dataprep.shards; bad = [m for m in ('polars', 'pyarrow', 'tokenizers', "
            "'fasttext', 'kenlm', 'yaml', 'click', 'xxhash', 'datasketch') if m in sys.modules]; print(bad); "
            "sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_and_config_file(packed, tmp_path):
    cfg_file = tmp_path / "t.yaml"
    cfg_file.write_text(f"# a flat config\ndata: {packed}\nout: run  # relative to this file\npreset: tiny\n"
                        "batch_size: 4\nmax_steps: 3\neval_every: 3\neval_batches: 2\n")
    cfg = load_config(cfg_file, {"max_steps": 3})
    assert cfg.out == str(tmp_path / "run") and cfg.batch_size == 4
    out = run_cli("train", str(cfg_file), "lr=1e-3").stdout
    assert "step      3" in out and "val loss" in out and (tmp_path / "run" / "checkpoint.pt").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: x\nlearning_rate: 3\n")
    with pytest.raises(ValueError, match="unknown setting"):
        load_config(bad)


@pytest.mark.slow
def test_compiled_bf16_path_matches_eager(packed, tmp_path):
    """The GPU code path (bf16 autocast and torch.compile) run on the CPU: same losses as eager fp32 within
    bf16's precision. No GPU is lent to CI, so this is what checks that path runs at all."""
    eager = [r["loss"] for r in train(_cfg(packed, tmp_path / "e", max_steps=4), log=lambda m: None)]
    lines: list[str] = []
    fast = [r["loss"] for r in train(_cfg(packed, tmp_path / "f", max_steps=4, compile=True, dtype="bf16"),
                                     log=lines.append)]
    assert "bf16 compiled" in lines[0]
    assert fast == pytest.approx(eager, abs=0.05)


def test_compile_setting_from_a_config_file_is_a_switch():
    assert TrainConfig(compile=True).compile == "true" and TrainConfig(compile=False).compile == "false"
    with pytest.raises(ValueError, match="compile must be auto, true or false"):
        TrainConfig(compile="sometimes")
