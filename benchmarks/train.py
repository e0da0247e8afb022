"""Training throughput: tokens/s and MFU of a preset on this machine's device, on synthetic packed shards.

    python benchmarks/train.py [--preset 124M] [--seq-len 1024] [--batch-size 16] [--steps 30] [--peak-flops F]

Writes random tokens (vocabulary 32,000) as a packed folder under benchmarks/_data/train, trains ``--steps``
steps (bf16 + torch.compile on GPU, fp32 on CPU) and reports the median of the steps after the first five
(compilation and warm-up): tokens/s, MFU (model FLOPs per token, 6N + 12 L d T, times tokens/s over the
device's peak bf16 FLOP/s: H100 989 TFLOP/s dense) and the share of step time spent waiting for data.
Goal (issue 6): at least 40% MFU for the 124M preset at seq_len 1024 on one H100.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def synthetic_pack(folder: Path, seq_len: int, n_tokens: int, vocab: int = 32000) -> None:
    if (folder / "manifest.json").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_tokens), ("val", n_tokens // 50)):
        (folder / split).mkdir(parents=True)
        rng.integers(0, vocab, n, dtype=np.uint16).tofile(folder / split / "tokens-00000.bin")
        np.arange(0, n, 1000, dtype="<i8").tofile(folder / split / "docs-00000.idx")
    parts = {s: {"parts": [{"tokens": f"{s}/tokens-00000.bin", "docs": f"{s}/docs-00000.idx", "n_tokens": n,
                            "n_docs": len(range(0, n, 1000)), "n_bytes": 4 * n}],
                 "n_tokens": n, "n_docs": len(range(0, n, 1000)), "n_bytes": 4 * n, "n_windows": (n - 1) // seq_len}
             for s, n in (("train", n_tokens), ("val", n_tokens // 50))}
    (folder / "manifest.json").write_text(json.dumps({
        "format": "dataprep-packed/1", "dtype": "uint16", "seq_len": seq_len, "eos_id": 0, "vocab_size": vocab,
        "tokenizer": {"path": "synthetic", "sha256": "synthetic"}, "splits": parts, "tokens_per_source": {}}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="124M")
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--peak-flops", type=float, default=None, help="per device; default: from the GPU's name")
    ap.add_argument("--compile", default="auto")
    args = ap.parse_args()
    import torch

    from dataprep.train import TrainConfig, train

    data = HERE / "_data" / "train" / f"synthetic-{args.seq_len}"
    synthetic_pack(data, args.seq_len, max(args.batch_size * (args.steps + 2) * args.seq_len + 1, 2_000_000))
    out = HERE / "_data" / "train" / "run"
    shutil.rmtree(out, ignore_errors=True)
    cfg = TrainConfig(data=str(data), out=str(out), preset=args.preset, batch_size=args.batch_size,
                      max_steps=args.steps, eval_every=0, checkpoint_every=10**9, log_every=10**9, resume=False,
                      peak_flops=args.peak_flops, compile=args.compile)
    records = train(cfg, log=print)
    steady = records[5:] or records
    tps = statistics.median(r["tokens_per_s"] for r in steady)
    wait = statistics.median(r["data_wait_frac"] for r in steady)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    mfu = statistics.median(r["mfu"] for r in steady) if "mfu" in steady[0] else None
    print(f"\n{args.preset} at seq_len {args.seq_len}, batch {args.batch_size}, on {device}: {tps:,.0f} tokens/s, "
          f"MFU {f'{mfu:.1%}' if mfu is not None else 'n/a (no peak FLOP/s known for this device)'}, "
          f"data wait {wait:.2%} of step time")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
