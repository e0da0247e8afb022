"""Training and model settings, and the config-file reader: the standard library only (no torch), so that a
recipe's ``train:`` section is checked against :class:`TrainConfig` before any work starts, on machines
without torch too.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class ModelConfig:
    vocab_size: int = 32000
    dim: int = 768
    n_layers: int = 12
    n_heads: int = 12
    n_kv_heads: int | None = None  # grouped-query attention: fewer key/value heads (None: as n_heads)
    multiple_of: int = 256
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_seq_len: int = 2048

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def hidden_dim(self) -> int:
        hidden = int(2 * (4 * self.dim) / 3)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)


PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "multiple_of": 32},  # CPU tests
    "124M": {"dim": 768, "n_layers": 12, "n_heads": 12, "n_kv_heads": 12},  # GPT-2 small scale
    "350M": {"dim": 1024, "n_layers": 24, "n_heads": 16, "n_kv_heads": 16},  # GPT-2 medium scale
}


@dataclasses.dataclass
class TrainConfig:
    """Training settings; a config file sets any of them (flat ``key: value`` lines, YAML-style, or JSON)."""

    data: str = ""  # a packed folder ('dataprep pack')
    out: str = "out/train"  # checkpoints, train.jsonl
    preset: str = "tiny"  # tiny | 124M | 350M
    dim: int | None = None  # overrides of the preset
    n_layers: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    batch_size: int = 8  # windows per device per micro-step
    grad_accum: int = 1
    max_steps: int = 100
    lr: float = 3e-4  # peak learning rate
    min_lr_ratio: float = 0.1  # cosine decay to 10% of the peak (LLaMA)
    warmup_steps: int = 2000  # linear warmup (LLaMA); capped at a tenth of max_steps for short runs
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 50
    eval_batches: int = 10
    # Checkpoints (one file, out/checkpoint.pt, overwritten atomically) are written every checkpoint_every
    # steps (Megatron-LM's --save-interval; 0: none between), at every evaluation (every eval_every steps, as
    # nanoGPT's train.py saves ckpt.pt in its eval block) and at the last step, so a kill loses at most
    # min(checkpoint_every, eval_every) steps. A resumed run cuts train.jsonl back to the checkpoint's step.
    checkpoint_every: int = 100
    log_every: int = 1
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    compile: str | bool = "auto"  # auto (on GPU) | true | false (a boolean reads as true | false)
    document_mask: bool = False  # attend only within the document (from the packed boundaries)
    num_workers: int = -1  # data loader workers; -1: 2 on GPU, 0 on CPU
    peak_flops: float | None = None  # per device, for MFU; None: from the GPU's name
    resume: bool = True  # continue from the checkpoint in ``out`` when there is one
    stop_at: int | None = None  # end this invocation after this step (checkpointed), as a time-boxed job would

    def __post_init__(self) -> None:
        # "compile: true" in a config file or on the command line arrives as a boolean
        if isinstance(self.compile, bool):
            self.compile = "true" if self.compile else "false"
        if self.compile not in ("auto", "true", "false"):
            raise ValueError(f"compile must be auto, true or false, got {self.compile!r}")

    @property
    def warmup(self) -> int:
        return max(0, min(self.warmup_steps, self.max_steps // 10))


def parse_scalar(value: str) -> Any:
    v = value.strip()
    if v.lower() in ("true", "yes", "on"):
        return True
    if v.lower() in ("false", "no", "off"):
        return False
    if v.lower() in ("null", "none", "~", ""):
        return None
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    for cast in (int, float):
        try:
            return cast(v.replace("_", ""))
        except ValueError:
            pass
    return v


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a config: JSON, or flat ``key: value`` lines with ``#`` comments (a YAML subset that needs no
    YAML library on the GPU box). Relative ``data`` and ``out`` paths are resolved against the file's folder."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        raw = json.loads(text)
    else:
        raw = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split(" #", 1)[0].rstrip() if not line.lstrip().startswith("#") else ""
            if not line.strip():
                continue
            if ":" not in line or line.startswith((" ", "\t", "-")):
                raise ValueError(f"{path}:{n}: expected 'key: value' (flat settings only), got {line.strip()!r}")
            key, value = line.split(":", 1)
            raw[key.strip()] = parse_scalar(value)
    raw.update(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    cfg = TrainConfig(**raw)
    for key in ("data", "out"):
        value = getattr(cfg, key)
        if value and not Path(value).is_absolute():
            setattr(cfg, key, str((path.parent / value).resolve()))
    if cfg.preset not in PRESETS:
        raise ValueError(f"{path}: unknown preset {cfg.preset!r}; presets: {', '.join(PRESETS)}")
    return cfg
