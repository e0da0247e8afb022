"""The whole pipeline behind one call: ``run_recipe(recipe)`` cleans, then runs the recipe's tokenizer,
mixture, pack and train sections on the result, and returns what each produced.

The CLI (``dataprep run``) and the Python API make the same call; the CLI only prints. Each section is reported
as it ends through ``on_section(name, result)``, so that a caller can show progress while the next one works.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataprep.errors import DataprepError
from dataprep.execution.lock import hold_output
from dataprep.execution.run import RunResult, clean, rewrite_report
from dataprep.execution.runner import Runner
from dataprep.mixing import MixSource, Mixture, run_mixture
from dataprep.pack import pack
from dataprep.recipe import Recipe
from dataprep.tokenizer import train_bpe

#: the sections in the order they run; ``on_section`` is called with these names
SECTIONS = ("clean", "tokenizer", "mixture", "pack", "train")


@dataclass
class TokenizerResult:
    path: Path
    #: what training reported (vocabulary, documents); None when an existing tokenizer was used
    trained: dict[str, Any] | None = None


@dataclass
class MixtureResult:
    path: Path
    report: dict[str, Any]


@dataclass
class PackResult:
    path: Path
    manifest: dict[str, Any]
    seq_len: int


@dataclass
class TrainResult:
    path: Path
    #: the log records of this invocation (empty when the run already held every step)
    records: list[dict[str, Any]]
    max_steps: int
    #: why training did not run (torch missing); None when it ran
    skipped: str | None = None


@dataclass
class PipelineResult:
    clean: RunResult
    tokenizer: TokenizerResult | None = None
    mixture: MixtureResult | None = None
    pack: PackResult | None = None
    train: TrainResult | None = None
    sections: list[str] = field(default_factory=list)


def run_recipe(recipe: Recipe, workers: int | None = None, overwrite: bool = False, quiet: bool = False,
               runner: Runner | None = None, on_section: Callable[[str, Any], None] | None = None,
               log: Callable[[str], None] | None = None) -> PipelineResult:
    """Run every section ``recipe`` has: clean, then tokenizer, mixture, pack and train. Each is resumable
    (rerun the same call after an interruption). ``log`` receives the training log lines.

    The output folder is held for the whole call (:func:`dataprep.execution.lock.hold_output`): another run
    into it meanwhile is refused with a :class:`DataprepError` naming this one."""
    with hold_output(recipe.output.path):
        return _run_sections(recipe, workers, overwrite, quiet, runner, on_section or (lambda name, result: None),
                             log)


def _run_sections(recipe: Recipe, workers: int | None, overwrite: bool, quiet: bool, runner: Runner | None,
                  report: Callable[[str, Any], None], log: Callable[[str], None] | None) -> PipelineResult:
    result = PipelineResult(clean(recipe, workers=workers, overwrite=overwrite, quiet=quiet, runner=runner))
    result.sections.append("clean")
    report("clean", result.clean)
    if recipe.tokenizer is None:
        return result
    out = result.clean.output
    result.tokenizer = _tokenizer(recipe, out)
    result.sections.append("tokenizer")
    report("tokenizer", result.tokenizer)
    inputs = [str(out / "kept")]
    if recipe.mixture is not None:
        result.mixture = _mixture(recipe, out, result.tokenizer.path)
        result.sections.append("mixture")
        report("mixture", result.mixture)
        inputs = [str(result.mixture.path)]
    if recipe.pack is None:
        return result
    result.pack = _pack(recipe, out, inputs, result.tokenizer.path, quiet, overwrite)
    result.sections.append("pack")
    report("pack", result.pack)
    if recipe.train is not None:
        result.train = _train(recipe, result.pack.path, out / "train", quiet, log)
        result.sections.append("train")
        report("train", result.train)
    return result


def _tokenizer(recipe: Recipe, out: Path) -> TokenizerResult:
    """The recipe's tokenizer: the one at ``path``, or one trained on the kept shards when it does not exist."""
    tok = recipe.tokenizer
    path = tok.path or out / "tokenizer" / "tokenizer.json"
    if path.exists():
        return TokenizerResult(path)
    if tok.vocab_size is None:
        raise DataprepError(f"tokenizer {path} does not exist and the recipe gives no vocab_size to train it")
    info = train_bpe([str(out / "kept")], tok.vocab_size, path, tok.special_tokens)
    return TokenizerResult(path, info)


def _mixture(recipe: Recipe, out: Path, tokenizer: Path) -> MixtureResult:
    """The recipe's mixture section: the kept documents of each source drawn to their token share."""
    cfg = recipe.mixture
    mix_out = cfg.output or out / "mixed"
    ext = recipe.output.format
    sources = []
    for name, weight in cfg.weights.items():
        shards = sorted((out / "kept").glob(f"{name}-[0-9][0-9][0-9][0-9][0-9]-*.{ext}"))
        if not shards:
            raise DataprepError(f"mixture: source '{name}' has no kept documents to mix (weight {weight})")
        sources.append(MixSource(name, weight, [str(p) for p in shards]))
    mix = Mixture(recipe.path, recipe.name, recipe.seed, cfg.total_tokens, str(tokenizer), cfg.max_epochs, sources)
    report = run_mixture(mix, mix_out)
    rewrite_report(recipe, out)  # the report's mixture table
    return MixtureResult(mix_out, report)


def _pack(recipe: Recipe, out: Path, inputs: list[str], tokenizer: Path, quiet: bool, overwrite: bool
          ) -> PackResult:
    cfg = recipe.pack
    path = cfg.output or out / "packed"
    eos = (recipe.tokenizer.special_tokens or ["<|endoftext|>"])[0]
    manifest = pack(inputs, tokenizer, path, seq_len=cfg.seq_len, val_fraction=cfg.val_fraction, eos=eos,
                    quiet=quiet, overwrite=overwrite)
    return PackResult(path, manifest, cfg.seq_len)


def _train(recipe: Recipe, packed: Path, out: Path, quiet: bool, log: Callable[[str], None] | None
           ) -> TrainResult:
    """The recipe's train section on the packed shards (its settings were checked when the recipe loaded);
    skipped, with the reason, where torch is not installed."""
    max_steps = int(recipe.train.get("max_steps", 0) or 0)
    if importlib.util.find_spec("torch") is None:
        return TrainResult(out, [], max_steps, skipped="torch is not installed (pip install -e '.[train]', or "
                                                       "torch==2.13.0 for the CPU build, then run again)")
    from dataprep.train import TrainConfig, train

    cfg = TrainConfig(**{**recipe.train, "data": str(packed), "out": str(out)})
    records = train(cfg, log=(lambda m: None) if quiet or log is None else log)
    return TrainResult(out, records, cfg.max_steps)
