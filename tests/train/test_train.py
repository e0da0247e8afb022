"""The training entrypoint on CPU with the tiny preset: exact resume, falling loss, evaluation, imports."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, run_cli  # noqa: E402

from dataprep.train import ModelConfig, TrainConfig, Transformer, load_config, lr_at, train  # noqa: E402
from dataprep.train.loop import build_optimizer  # noqa: E402


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
