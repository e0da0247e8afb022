"""The training loop: config, optimizer and schedule as LLaMA, bf16 + torch.compile on GPU, exact resume,
evaluation (loss, perplexity, bits per byte), logs with tokens/s, MFU and data-wait time; DDP under torchrun.

Imports only torch, numpy and the standard library (and ``dataprep.shards``, which imports only numpy, and
``dataprep.errors``, which imports only the standard library).

A write the machine refuses (a full disk at the checkpoint, which torch reports as ``unexpected pos``; a
quota; an unwritable folder) deletes its temporary file and raises :class:`~dataprep.errors.OutputError`: one
line naming the file, the room it needed and the room left. Temporary files are named as
:func:`dataprep.io.writers.temp_path` names them (``.tmp-NAME.PID``), so that the run's stale-temp cleanup
(:func:`dataprep.io.writers.remove_temp_files`) matches them too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.distributed as dist

from dataprep.errors import describe, exit_code, write_error
from dataprep.shards import PackedDataset
from dataprep.train.config import PRESETS, ModelConfig, TrainConfig, load_config, parse_scalar
from dataprep.train.model import Transformer

#: Peak dense bf16 FLOP/s per GPU, for MFU (vendor data sheets).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "4090": 165e12}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr_ratio * lr`` at ``max_steps`` (LLaMA)."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.max_steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, fused: bool) -> torch.optim.AdamW:
    """AdamW, weight decay on matrices only (not on norms or embeddings), as LLaMA."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "tok_embeddings" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def _peak_flops(cfg: TrainConfig, device: torch.device) -> float | None:
    if cfg.peak_flops:
        return cfg.peak_flops
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


class _Batches:
    """Micro-batches in the dataset's seeded order, across epochs, from a given position (exact resume)."""

    def __init__(self, ds: PackedDataset, cfg: TrainConfig, rank: int, world: int, position: int,
                 num_workers: int) -> None:
        self.ds, self.cfg, self.rank, self.world, self.num_workers = ds, cfg, rank, world, num_workers
        self.per_epoch = len(ds) // (cfg.batch_size * world)
        if self.per_epoch == 0:
            raise ValueError(f"{ds.path}: {len(ds)} windows are fewer than one batch of {cfg.batch_size} x "
                             f"{world} devices")
        self.position = position
        self._open()

    def _open(self) -> None:
        epoch, start = divmod(self.position, self.per_epoch)
        self.epoch = epoch
        # Starting a DataLoader draws its base seed from torch's global generator. A run opens one at each
        # epoch's start; a run resumed mid-epoch opens one more, which must not draw, or the RNG state (so the
        # next checkpoint, and dropout or anything else random) would differ from an uninterrupted run's.
        rng = torch.get_rng_state() if start else None
        self.it = iter(self.ds.torch_loader(self.cfg.batch_size, seed=self.cfg.seed, epoch=epoch, start_batch=start,
                                            rank=self.rank, world_size=self.world,
                                            document_mask=self.cfg.document_mask, num_workers=self.num_workers))
        if rng is not None:
            torch.set_rng_state(rng)
        self.left = self.per_epoch - start

    def next(self) -> tuple[torch.Tensor, ...]:
        if self.left == 0:
            self._open()
        self.left -= 1
        self.position += 1
        return next(self.it)


def _data_sha(ds: PackedDataset) -> str:
    """What a checkpoint must match to resume: the tokenizer and the packed token counts."""
    info = ds.manifest
    return f"{info['tokenizer']['sha256']}:{info['seq_len']}:{info['splits']['train']['n_tokens']}"


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: the start of a temporary file's name: :data:`dataprep.io.writers.TMP_PREFIX` (not imported: that module
#: needs pyarrow), which the stale-temp cleanup matches
TMP_PREFIX = ".tmp-"


def _temp_path(path: Path) -> Path:
    """``.tmp-NAME.PID`` beside ``path``, as :func:`dataprep.io.writers.temp_path`."""
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")


def _remove_stale_temps(path: Path) -> None:
    """Delete the temporary files of earlier writes of ``path`` cut short by a kill (whatever their pid, and the
    ``.NAME.tmp`` of earlier versions)."""
    for stale in [*path.parent.glob(f"{TMP_PREFIX}{path.name}.*"), path.with_name(f".{path.name}.tmp")]:
        stale.unlink(missing_ok=True)


class _Sink:
    """A file's ``write`` that remembers the ``OSError`` it raised: torch's writer replaces it with a
    ``RuntimeError`` ("unexpected pos N vs M", "file write failed"), which says neither why nor where."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def _atomic_write(path: Path, write: Callable[[BinaryIO], None], needs: int | None = None) -> None:
    """Write ``path`` through ``write`` into a temporary file, fsync, rename: a kill (or a power cut) leaves
    the previous file or this one, never a torn one. A failure leaves no temporary file; one the machine
    refuses (``needs``: about the bytes the file takes) raises :class:`~dataprep.errors.OutputError`."""
    tmp = _temp_path(path)
    sink = None
    try:
        with open(tmp, "wb") as fh:
            sink = _Sink(fh)
            write(sink)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        cause = exc if isinstance(exc, OSError) else sink.error if sink is not None else None
        if cause is not None and not isinstance(exc, KeyboardInterrupt):
            raise write_error(cause, path, needs) from exc
        raise


def _state_bytes(obj: Any) -> int:
    """Bytes of the tensors in a (nested) state dict: about the size of its checkpoint."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_state_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_state_bytes(v) for v in obj)
    return 0


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """One path, overwritten atomically: no numbered checkpoints pile up."""
    _atomic_write(path, lambda fh: torch.save(state, fh), needs=_state_bytes(state))


def _cut_log(path: Path, upto: int) -> tuple[int, int]:
    """Cut ``train.jsonl`` back to the records of steps ``1..upto`` (the checkpoint's step; 0: an empty log)
    before a run appends to it, so that a killed run's steps past its last checkpoint, which the resumed run
    does again, are not logged twice. Where steps go back (a log appended to by a run that restarted), the
    later records win: what is kept is the history of the run that wrote the checkpoint. Torn or foreign lines
    are dropped. Atomic: a temporary file, fsync, rename. Returns (records kept, lines dropped)."""
    if not path.exists():
        return 0, 0
    data = path.read_bytes()
    kept: list[tuple[int, bytes]] = []
    dropped = 0
    for line in data.splitlines(keepends=True):
        try:
            step = int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError, IndexError):
            dropped += 1  # a line torn by the kill, or not a step record
            continue
        if step > upto or step < 1:
            dropped += 1
            continue
        while kept and kept[-1][0] >= step:  # a restart: the earlier attempt's records go
            kept.pop()
            dropped += 1
        kept.append((step, line if line.endswith(b"\n") else line + b"\n"))
    text = b"".join(line for _, line in kept)
    if text == data:
        return len(kept), 0  # already exact: nothing to rewrite
    _atomic_write(path, lambda fh: fh.write(text), needs=len(text))
    return len(kept), dropped


@torch.no_grad()
def evaluate(model: torch.nn.Module, ds: PackedDataset, cfg: TrainConfig, device: torch.device,
             autocast: Any) -> dict[str, float]:
    """Mean loss over the first ``eval_batches`` batches of the validation split (fixed order), perplexity,
    and bits per byte (loss in bits times the split's tokens per UTF-8 byte)."""
    model.eval()
    losses = []
    batch = min(cfg.batch_size, len(ds))
    if batch == 0:
        return {}
    loader = ds.torch_loader(batch, seed=1234, epoch=0, document_mask=cfg.document_mask)
    for i, items in enumerate(loader):
        if i >= cfg.eval_batches:
            break
        items = [t.to(device, non_blocking=True) for t in items]
        with autocast:
            _, loss = model(items[0], items[1], items[2] if cfg.document_mask else None)
        losses.append(float(loss))
    model.train()
    loss = float(np.mean(losses))
    info = ds.manifest["splits"][ds.split]
    tokens_per_byte = info["n_tokens"] / max(info.get("n_bytes", 0), 1) if info.get("n_bytes") else float("nan")
    return {"val_loss": loss, "val_ppl": math.exp(min(loss, 50)), "val_bpb": loss / math.log(2) * tokens_per_byte}


def train(cfg: TrainConfig, log: Any = print) -> list[dict[str, Any]]:
    """Run (or resume) training; returns the per-step log records of this invocation."""
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world, local = 0, 1, 0
    if distributed:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(f"cuda:{local}" if cfg.device == "cuda" else cfg.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    train_ds = PackedDataset(cfg.data, "train")
    val_ds = PackedDataset(cfg.data, "val")
    mcfg = ModelConfig(vocab_size=int(train_ds.manifest["vocab_size"]), max_seq_len=train_ds.seq_len,
                       **PRESETS[cfg.preset])
    for key in ("dim", "n_layers", "n_heads", "n_kv_heads"):
        if getattr(cfg, key) is not None:
            setattr(mcfg, key, getattr(cfg, key))
    model = Transformer(mcfg).to(device)
    optimizer = build_optimizer(model, cfg, fused=device.type == "cuda")
    out = Path(cfg.out)
    if rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, out, action="creating") from exc
    ckpt_path = out / "checkpoint.pt"
    step = 0
    if cfg.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        saved_model = state.get("model_config")
        if saved_model != dataclasses.asdict(mcfg) or state.get("data_sha") != _data_sha(train_ds):
            raise ValueError(f"{ckpt_path} was trained with another model or data ({saved_model}); use another "
                             f"'out', or resume: false to start over there")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        _set_rng_state(state["rng"])
        log(f"train: resumed from {ckpt_path} at step {step}")
    compiled = cfg.compile == "true" or (cfg.compile == "auto" and device.type == "cuda")
    fwd = torch.compile(model) if compiled else model
    if distributed:
        fwd = torch.nn.parallel.DistributedDataParallel(fwd, device_ids=[local] if device.type == "cuda" else None)
    workers = cfg.num_workers if cfg.num_workers >= 0 else (2 if device.type == "cuda" else 0)
    batches = _Batches(train_ds, cfg, rank, world, step * cfg.grad_accum, workers)
    flops_tok = model.flops_per_token(train_ds.seq_len)
    peak = _peak_flops(cfg, device)
    log_path = out / "train.jsonl"
    log_file = None
    if rank == 0:
        for path in (ckpt_path, log_path):
            _remove_stale_temps(path)  # a save (or a cut of the log) cut short by a kill
        if not cfg.resume and ckpt_path.exists():
            # starting over: the earlier run's checkpoint goes now, not at this run's first save, so that a kill
            # before that cannot leave this run's log beside another run's checkpoint to resume from
            ckpt_path.unlink()
            log(f"train: resume is false: removed {ckpt_path} of an earlier run")
        kept, dropped = _cut_log(log_path, step)  # step 0 (no checkpoint, or resume: false): a fresh log
        if dropped:
            log(f"train: {log_path} cut back to step {step} ({dropped} line(s) that no checkpoint covers "
                f"dropped)")
        if kept != step:
            log(f"train: warning: {log_path} holds {kept} record(s) for steps 1-{step}")
        try:
            log_file = open(log_path, "a", encoding="utf-8")
        except OSError as exc:
            raise write_error(exc, log_path) from exc
    if rank == 0:
        log(f"train: {model.num_params():,} parameters (+{model.tok_embeddings.weight.numel():,} embedding), "
            f"{len(train_ds):,} windows of {train_ds.seq_len}, device {device}{' bf16' if use_bf16 else ''}"
            f"{' compiled' if compiled else ''}, {world} process(es)")
    records: list[dict[str, Any]] = []
    tokens_per_step = cfg.batch_size * cfg.grad_accum * train_ds.seq_len * world
    try:
        last = min(cfg.max_steps, cfg.stop_at) if cfg.stop_at else cfg.max_steps
        run_start, first_step = time.perf_counter(), step
        while step < last:
            t0 = time.perf_counter()
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            wait = 0.0
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                tw = time.perf_counter()
                items = batches.next()
                items = [t.to(device, non_blocking=True) for t in items]
                wait += time.perf_counter() - tw
                sync = nullcontext() if not distributed or micro == cfg.grad_accum - 1 else fwd.no_sync()
                with sync, autocast:
                    _, loss = fwd(items[0], items[1], items[2] if cfg.document_mask else None)
                    loss = loss / cfg.grad_accum
                loss.backward()
                loss_sum += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if distributed:
                dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
            loss_value = float(loss_sum)  # synchronizes: the step's time below is real
            dt = time.perf_counter() - t0
            step += 1
            rec = {"step": step, "loss": loss_value, "lr": lr, "grad_norm": float(grad_norm),
                   "tokens_per_s": tokens_per_step / dt, "data_wait_frac": wait / dt, "step_s": dt}
            if peak:
                rec["mfu"] = flops_tok * tokens_per_step / dt / (peak * world)
            if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.max_steps) and len(val_ds):
                rec.update(evaluate(model, val_ds, cfg, device, autocast))
            if rank == 0:
                records.append(rec)
                try:
                    log_file.write(json.dumps(rec) + "\n")
                    log_file.flush()
                except OSError as exc:
                    raise write_error(exc, log_path) from exc
                if step % cfg.log_every == 0 or "val_loss" in rec:
                    extra = f" mfu {rec['mfu']:.1%}" if "mfu" in rec else ""
                    val = f" | val loss {rec['val_loss']:.4f} ppl {rec['val_ppl']:.1f} bpb {rec['val_bpb']:.3f}" \
                        if "val_loss" in rec else ""
                    eta = (time.perf_counter() - run_start) / max(step - first_step, 1) * (last - step)
                    log(f"step {step:>6} loss {loss_value:.4f} lr {lr:.2e} grad {rec['grad_norm']:.2f} "
                        f"{rec['tokens_per_s']:,.0f} tok/s{extra} data-wait {rec['data_wait_frac']:.1%} "
                        f"ETA {eta:.0f}s{val}")
            # checkpoint every checkpoint_every steps, at every evaluation (nanoGPT's rule) and at the last step
            # (see TrainConfig.checkpoint_every); each overwrites the one checkpoint file
            evaluated = cfg.eval_every and step % cfg.eval_every == 0
            periodic = cfg.checkpoint_every > 0 and step % cfg.checkpoint_every == 0
            if rank == 0 and (periodic or evaluated or step == last):
                try:
                    log_file.flush()
                    os.fsync(log_file.fileno())  # the log is never behind the checkpoint, even after a power cut
                except OSError as exc:
                    raise write_error(exc, log_path) from exc
                _save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                             "step": step, "rng": _rng_state(), "config": dataclasses.asdict(cfg),
                                             "model_config": dataclasses.asdict(mcfg),
                                             "data_sha": _data_sha(train_ds)})
    finally:
        if log_file:
            try:
                log_file.close()
            except OSError:  # a full disk: the write above has said so
                pass
        if distributed:
            dist.destroy_process_group()
    return records


def main(argv: list[str] | None = None, debug: bool | None = None) -> int:
    """``python -m dataprep.train CONFIG [key=value ...]`` (also under torchrun).

    Errors print one line and exit non-zero: 2 for a mistake in the config, 1 where the machine refused a
    write (a full disk, an unwritable folder), 130 on Ctrl-C. ``debug`` (default: the ``DATAPREP_DEBUG``
    environment variable; ``dataprep --debug train``) shows the traceback instead."""
    args = sys.argv[1:] if argv is None else argv
    if debug is None:
        debug = bool(os.environ.get("DATAPREP_DEBUG"))
    if not args or args[0] in ("-h", "--help"):
        print(main.__doc__)
        print("\nsettings:", ", ".join(f.name for f in dataclasses.fields(TrainConfig)))
        return 0 if args else 2
    overrides = {}
    for item in args[1:]:
        key, _, value = item.partition("=")
        overrides[key] = parse_scalar(value)
    try:
        cfg = load_config(args[0], overrides)
        records = train(cfg, log=lambda m: print(m, flush=True))
    except (ValueError, KeyError, TypeError, OSError, KeyboardInterrupt) as exc:
        if debug:
            raise
        if isinstance(exc, (ValueError, KeyError, TypeError)) or \
                (isinstance(exc, FileNotFoundError) and exc.errno is None):
            print(f"error: {exc}", file=sys.stderr)  # a mistake in the config (no data at 'data'): exit 2
            return 2
        resume = "; run the same command again to resume" if isinstance(exc, KeyboardInterrupt) else ""
        print(f"error: {describe(exc)}{resume}", file=sys.stderr)  # the machine refused (OutputError), or Ctrl-C
        return exit_code(exc)
    if records:
        first, last = records[0], records[-1]
        print(f"train: loss {first['loss']:.4f} -> {last['loss']:.4f} over steps {first['step']}-{last['step']}")
    return 0
