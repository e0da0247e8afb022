"""Recipes: YAML files naming sources, steps with parameters, output and seed; validated before any work.

Every error names the recipe file and line and says what is wrong (unknown step or key, wrong parameter
type, input that matches no file, a typo in ``train:``). Relative paths in a recipe are resolved against the
recipe's folder, so a recipe runs the same from any working directory.

```yaml
name: quickstart
seed: 42
plugins: [my_steps]          # optional: modules whose @register-ed steps the recipe uses
sources:
  - name: web
    paths: [../sample_data/web/*.jsonl.gz]
    format: jsonl            # optional: by extension otherwise
    text_field: text
    id_field: id
steps:
  - exact_dedup: {normalize: true}
  - c4: {sources: [web]}     # any step: only on these sources' documents
output:
  path: ../out/quickstart
  format: arrow             # or parquet
  shard_size: 256MB
limits:
  max_doc_bytes: 16MB
```

Each section is a dataclass below, checked by :func:`dataprep.config.validate` as each step's parameters are
(``train:`` against :class:`~dataprep.train.config.TrainConfig`); rules across sections are their loaders'.
``plugins`` are module names, importable or beside the recipe: its folder is appended to ``sys.path`` (for
good: worker processes load the steps too), so a ``my_steps.py`` there works unless another has that name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from dataprep import config
from dataprep.config import Context, Scope, check_type, line_of, setting, short_repr, validate
from dataprep.errors import InputError, RecipeError
from dataprep.io.readers import KNOWN_FORMATS, check_options, detect_format, expand_paths, input_size
from dataprep.io.readers.base import DEFAULT_MAX_DOC_BYTES as _READER_MAX_DOC_BYTES
from dataprep.registry import get_step, load_plugins, step_names
from dataprep.step import Step
from dataprep.train.config import PRESETS, TrainConfig

__all__ = ["ExecutorConfig", "LimitsConfig", "MixtureConfig", "OutputConfig", "PackConfig", "Recipe", "SourceConfig",
           "StepConfig", "TokenizerConfig", "load_recipe"]

DEFAULT_SHARD_BYTES = 256 << 20
#: Documents larger than ``limits: max_doc_bytes`` are rejected (step ``read``, reason ``too_long``); the
#: readers' default, defined and explained with the readers' bounds (:mod:`dataprep.io.readers.base`).
DEFAULT_MAX_DOC_BYTES = _READER_MAX_DOC_BYTES
#: Uncompressed JSONL files larger than this are split into line-aligned parts read by separate tasks: large
#: enough that per-task overhead is small, small enough that two workers share a 128 MB file.
DEFAULT_SPLIT_BYTES = 64 << 20
SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclasses.dataclass
class SourceConfig:
    """A ``sources:`` entry: the documents of the files that ``paths`` match."""

    name: str = setting(help="names the source in outputs and stats: letters, digits, '_', '.' or '-'")
    patterns: config.Patterns = setting(key="paths", help="files, folders or globs")
    #: (path, name relative to its pattern) of every input file, in reading order
    files: list[tuple[Path, str]] = dataclasses.field(init=False, default_factory=list)
    format: str | None = setting(None, help="the input format (default: by each file's extension)")
    text_field: str = setting("text", help="the field holding the text", expect="a string")
    id_field: str | None = setting("id", help="the field holding the id (null: none)", expect="a string or null")
    text_unit: Literal["file", "paragraph", "line"] = setting("file", help="plain text: a document per",
                                                              expect="file, paragraph or line")
    options: config.Options = setting(default_factory=dict, help="reader options (warc, html: extractor; ...)")


@dataclasses.dataclass
class StepConfig:
    type: str
    label: str
    params: dict[str, Any]
    step: Step
    line: int
    #: run the step only on documents of these sources (the recipe key ``sources:`` of a step); others pass
    sources: list[str] | None = None


@dataclasses.dataclass
class OutputConfig:
    """``output:`` (or just its path): where the shards go, and how."""

    path: config.NormPath = setting(help="the output folder")
    format: str = setting("arrow", help="arrow or parquet")
    shard_bytes: config.Size = setting(DEFAULT_SHARD_BYTES, key="shard_size", help="shards are cut at this size")


@dataclasses.dataclass
class LimitsConfig:
    """``limits:``: safety bounds on the input."""

    max_doc_bytes: config.Size = setting(DEFAULT_MAX_DOC_BYTES, help="longer documents are rejected (too_long)")


@dataclasses.dataclass
class ExecutorConfig:
    """``executor:``: how the run uses this machine."""

    workers: int = setting(0, help="worker processes", check=lambda n: n >= 0, expect="an integer >= 0 (0: all cores)")
    split_bytes: config.Size = setting(DEFAULT_SPLIT_BYTES, help="larger uncompressed JSONL files are split")


@dataclasses.dataclass
class TokenizerConfig:
    """Use the tokenizer at ``path``; when it does not exist and ``vocab_size`` is set, train it on the kept
    shards first. Without ``path``: ``OUT/tokenizer/tokenizer.json``, trained with the run."""

    path: config.AbsPath | None = setting(None, help="a tokenizer.json to use (or to train, with vocab_size)")
    vocab_size: int | None = setting(None, help="train a byte-level BPE of this vocabulary first",
                                     check=lambda n: n >= 300, expect="an integer >= 300")
    special_tokens: list[str] | None = setting(None, help="the first one ends each document")


@dataclasses.dataclass
class PackConfig:
    """Pack the kept shards into ``output`` (default ``OUT/packed``)."""

    output: config.AbsPath | None = setting(None, help="the packed folder")
    seq_len: int = setting(2048, help="tokens per window", check=lambda n: n >= 1, expect="a positive integer")
    val_fraction: float = setting(0.005, help="share held out for validation", check=lambda v: 0 <= v < 1,
                                  expect="in [0, 1)")


@dataclasses.dataclass
class MixtureConfig:
    """Mix the kept documents by source into ``output`` (default ``OUT/mixed``) for a token budget; packing
    then reads the mixture instead of ``OUT/kept`` (:func:`dataprep.mixing.run_mixture`)."""

    weights: dict[str, float] = setting(help="shares of the tokens", check=bool,
                                        expect="a mapping of source names to weights")
    total_tokens: config.Count = setting(help="the token budget", check=lambda n: n > 0, expect="a positive number")
    max_epochs: float | None = setting(None, help="warn when a source is read more often", check=lambda v: v > 0,
                                       expect="a positive number")
    output: config.AbsPath | None = setting(None, help="the mixed folder")


def _section(cls: type) -> Any:
    return setting(None, help=cls.__doc__, expect=f"a mapping ({', '.join(f.key for f in config.fields_of(cls))})")


@dataclasses.dataclass(kw_only=True)
class _Document:
    """The top level of a recipe file."""

    name: Any = setting(None, help="names the run in reports (default: the file's name)")
    description: Any = setting(None, help="free text")
    seed: int = setting(0, help="seeds every random choice of the run", expect="an integer")
    plugins: list[str] = setting(default_factory=list, help="modules to import for their steps", expect="a list "
                                 "of module names", check=lambda ms: all(MODULE_NAME.fullmatch(m) for m in ms))
    sources: list = setting(help="where documents come from", check=bool, expect="a non-empty list of sources")
    steps: list | None = setting(None, help="what runs on them, in order", expect="a list")
    output: str | dict[str, Any] | None = setting(None, expect="a path or a mapping with 'path'")
    limits: dict[str, Any] | None = _section(LimitsConfig)
    executor: dict[str, Any] | None = _section(ExecutorConfig)
    tokenizer: dict[str, Any] | None = _section(TokenizerConfig)
    pack: dict[str, Any] | None = _section(PackConfig)
    train: dict[str, Any] | None = setting(None, expect="a mapping of training settings (see dataprep.train)")
    mixture: dict[str, Any] | None = _section(MixtureConfig)


@dataclasses.dataclass
class Recipe:
    """A validated recipe: every source has files, every step is built, the output is known."""

    path: Path
    name: str
    seed: int
    sources: list[SourceConfig]
    steps: list[StepConfig]
    output: OutputConfig
    limits: LimitsConfig = dataclasses.field(default_factory=LimitsConfig)
    executor: ExecutorConfig = dataclasses.field(default_factory=ExecutorConfig)
    tokenizer: TokenizerConfig | None = None
    pack: PackConfig | None = None
    #: training settings as given, without data/out (set by the run): ``TrainConfig(**train, data=.., out=..)``
    train: dict[str, Any] | None = None
    mixture: MixtureConfig | None = None
    plugins: list[str] = dataclasses.field(default_factory=list)

    def fingerprint(self) -> str:
        """A hash of everything that determines the output: inputs (names and sizes), steps, seed, format."""
        doc = {
            "seed": self.seed, "max_doc_bytes": self.limits.max_doc_bytes, "format": self.output.format,
            "shard_bytes": self.output.shard_bytes, "split_bytes": self.executor.split_bytes,
            "sources": [{"name": s.name, "format": s.format, "text_field": s.text_field, "id_field": s.id_field,
                         "text_unit": s.text_unit, "options": _jsonable(s.options),
                         "files": [[rel, input_size(p)] for p, rel in s.files]} for s in self.sources],
            "steps": [{"type": c.type, "label": c.label, "params": _jsonable(c.params), "sources": c.sources}
                      for c in self.steps],
        }
        doc.update({"plugins": self.plugins} if self.plugins else {})  # absent when empty: fingerprints stay
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _checked(ctx: Context, doc: dict, key: str, cls: type) -> dict[str, Any] | None:
    """The recipe's section ``key`` checked against ``cls`` (None when absent)."""
    raw = doc.get(key)
    return None if raw is None else validate(ctx, cls, raw, Scope(key, line_of(doc, key, 1), f"'{key}.{{}}'"))


def load_recipe(path: str | Path, output: str | Path | None = None, fmt: str | None = None) -> Recipe:
    """Read and validate a recipe. ``output`` and ``fmt`` override the recipe's output path and format."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}")
    ctx, doc = Context(path), config.load_yaml(path)
    if not isinstance(doc, dict):
        raise RecipeError(f"{path}:1: a recipe is a mapping with 'sources', 'steps' and 'output'")
    top = validate(ctx, _Document, doc, Scope("the recipe", getattr(doc, "line", 1)))
    _load_plugins(ctx, doc.get("plugins") or [])
    sources = _load_sources(ctx, doc["sources"])
    names = [s.name for s in sources]
    steps = _load_steps(ctx, doc.get("steps") or [], names)
    out = _load_output(ctx, doc, output, fmt)
    limits = LimitsConfig(**_checked(ctx, doc, "limits", LimitsConfig) or {})
    executor = ExecutorConfig(**_checked(ctx, doc, "executor", ExecutorConfig) or {})
    tokenizer, pack = _load_tokenizer_pack(ctx, doc)
    return Recipe(path=path, name=str(doc.get("name", path.stem)), seed=top.get("seed", 0), sources=sources,
                  steps=steps, output=out, limits=limits, executor=executor, tokenizer=tokenizer, pack=pack,
                  train=_load_train(ctx, doc, pack), mixture=_load_mixture(ctx, doc, names, tokenizer),
                  plugins=list(top.get("plugins", [])))


def _load_plugins(ctx: Context, modules: list[str]) -> None:
    """Import the ``plugins`` modules, from the recipe's folder too, so that their steps are registered."""
    if modules and str(ctx.folder.resolve()) not in sys.path:
        sys.path.append(str(ctx.folder.resolve()))
    for line, module in config.with_lines(modules, 1):
        try:
            load_plugins([module])
        except Exception as exc:  # not found, or the plugin's own error (a step name taken twice)
            ctx.fail(line, str(exc) if isinstance(exc, RecipeError) else
                     f"plugin module '{module}' failed on import: {type(exc).__name__}: {exc}")


def _load_sources(ctx: Context, raw: list) -> list[SourceConfig]:
    out: list[SourceConfig] = []
    for line, src in config.with_lines(raw):
        if not isinstance(src, dict):
            ctx.fail(line, "each source is a mapping with 'name' and 'paths'")
        name = src.get("name")
        what = f"source '{name}'" if isinstance(name, str) else "a source"
        cfg = SourceConfig(**validate(ctx, SourceConfig, src, Scope(what, line, f"{what}: '{{}}'")))
        if not SOURCE_NAME.match(name):
            ctx.fail(line_of(src, "name", line), f"source name must be letters, digits, '_', '.' or '-', "
                                                f"got {short_repr(name)}")
        if name in (s.name for s in out):
            ctx.fail(line_of(src, "name", line), f"source name '{name}' is used twice")
        if cfg.format is not None and cfg.format not in KNOWN_FORMATS:
            ctx.fail(line_of(src, "format", line), f"{what}: unknown format {short_repr(cfg.format)}"
                     f"{config.suggest(cfg.format, KNOWN_FORMATS)}; use one of {', '.join(KNOWN_FORMATS)}")
        try:
            cfg.files = expand_paths(cfg.patterns, cfg.format)
        except InputError as exc:
            ctx.fail(line_of(src, "paths", line), f"{what}: {exc}")
        unknown = [rel for p, rel in cfg.files if cfg.format is None and detect_format(p) is None]
        if unknown:
            ctx.fail(line_of(src, "paths", line), f"{what}: cannot tell the format of {unknown[0]}: set 'format'")
        problem = check_options(cfg.format or detect_format(cfg.files[0][0]), dict(cfg.options))
        if problem:
            ctx.fail(line_of(src, "options", line), f"{what}: {problem}")
        out.append(cfg)
    return out


def _step_sources(ctx: Context, kind: str, params: dict, line: int, source_names: list[str]) -> list[str] | None:
    """A step's ``sources:`` key: the sources whose documents it runs on (None: all)."""
    only = params.get("sources")
    if only is None:
        return None
    only = [only] if isinstance(only, str) else only
    if not check_type(only, list[str]) or not only:
        ctx.fail(line_of(params, "sources", line), f"step '{kind}': 'sources' must be a list of source names")
    for src_name in only:
        if src_name not in source_names:
            ctx.fail(line_of(params, "sources", line),
                     f"step '{kind}': unknown source '{src_name}'{config.suggest(src_name, source_names)}; "
                     f"the recipe's sources are {', '.join(source_names)}")
    return list(only)


def _resolve_paths(ctx: Context, value: Any, kind: str, key: str, line: int) -> Any:
    """A path parameter's value with relative paths resolved against the recipe's folder: a string, or each
    string of a list or of a mapping's values (``eval_sets: {mmlu: eval/mmlu.csv}``). A plain path (no glob, no
    URL-like ``scheme:``) must exist."""
    if isinstance(value, list):
        return [_resolve_paths(ctx, v, kind, key, line) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_paths(ctx, v, kind, key, line) for k, v in value.items()}
    if not isinstance(value, str) or not value or ":" in value:
        return value
    path = value if Path(value).is_absolute() else str((ctx.folder / value).resolve())
    if not any(c in path for c in "*?[") and not Path(path).exists():
        ctx.fail(line, f"step '{kind}': {key} {path} does not exist")
    return path


def _load_steps(ctx: Context, raw: list, source_names: list[str]) -> list[StepConfig]:
    out: list[StepConfig] = []
    for line, entry in config.with_lines(raw):
        entry = {entry: None} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or len(entry) != 1:
            ctx.fail(line, "each step is a step name, or a mapping of one step name to its parameters")
        kind, params = next(iter(entry.items()))
        params = params if params is not None else {}
        try:
            cls = get_step(kind)
        except RecipeError as exc:  # an entry point that does not load
            ctx.fail(line, str(exc))
        if cls is None:
            ctx.fail(line, f"unknown step '{kind}'{config.suggest(kind, step_names())}; 'dataprep steps' lists them")
        if not isinstance(params, dict):
            ctx.fail(line, f"step '{kind}': parameters must be a mapping")
        only = _step_sources(ctx, kind, params, line, source_names)
        given = validate(ctx, cls, params, Scope(f"step '{kind}'", line, f"step '{kind}': parameter '{{}}'",
                                                 params=True, reserved=("sources",)))
        for key in cls.path_params:
            given[key] = _resolve_paths(ctx, given.get(key), kind, key, line_of(params, key, line))
        try:
            step = cls(**given)
        except (ValueError, TypeError) as exc:
            ctx.fail(line, f"step '{kind}': {exc}")
        n = 1 + sum(c.type == kind for c in out)
        out.append(StepConfig(type=kind, label=kind if n == 1 else f"{kind}#{n}", params=given, step=step, line=line,
                              sources=only))
    return out


def _load_output(ctx: Context, doc: dict, output: str | Path | None, fmt: str | None) -> OutputConfig:
    """The ``output`` section, a path or a mapping; the command line's ``output`` and ``fmt`` override it."""
    raw = doc.get("output")
    if raw is None and output is None:
        ctx.fail(1, "the recipe has no 'output' (or pass --output)")
    raw = {"path": raw} if isinstance(raw, str) else raw if raw is not None else {}
    fixed = {**({"path": Path(output)} if output is not None else {}), **({"format": fmt} if fmt else {})}
    cfg = OutputConfig(**validate(ctx, OutputConfig, raw, Scope("output", line_of(doc, "output", 1), "'output.{}'"),
                                  fixed))
    if cfg.format not in ("arrow", "parquet"):
        ctx.fail(line_of(raw, "format", 1),
                 f"output format must be arrow or parquet, got {short_repr(cfg.format)}")
    return cfg


def _load_tokenizer_pack(ctx: Context, doc: dict) -> tuple[TokenizerConfig | None, PackConfig | None]:
    """The optional ``tokenizer`` and ``pack`` sections: what runs on the kept shards after cleaning."""
    tok, pack = _checked(ctx, doc, "tokenizer", TokenizerConfig), _checked(ctx, doc, "pack", PackConfig)
    if tok is not None:
        if "path" not in doc["tokenizer"] and "vocab_size" not in doc["tokenizer"]:
            ctx.fail(line_of(doc, "tokenizer"), "'tokenizer' needs 'path' (a tokenizer.json to use) or "
                                                "'vocab_size' (to train one on the kept documents)")
        tok["special_tokens"] = list(tok["special_tokens"]) if tok.get("special_tokens") else None
    if pack is not None and tok is None:
        ctx.fail(line_of(doc, "pack"), "'pack' needs a 'tokenizer' section (path, and vocab_size to train one)")
    return (TokenizerConfig(**tok) if tok is not None else None), (PackConfig(**pack) if pack is not None else None)


def _load_train(ctx: Context, doc: dict, pack: PackConfig | None) -> dict[str, Any] | None:
    """The optional ``train`` section: :class:`TrainConfig` settings, checked now though training runs last."""
    raw, line = doc.get("train"), line_of(doc, "train")
    if raw is None:
        return None
    if pack is None:
        ctx.fail(line, "'train' needs a 'pack' section (it trains on the packed shards)")
    for key in ("data", "out"):
        if key in raw:
            ctx.fail(line_of(raw, key, line), f"'train.{key}' is set by the run (OUT/packed, OUT/train)")
    settings = _checked(ctx, doc, "train", TrainConfig)
    try:
        preset = TrainConfig(**settings).preset
    except (TypeError, ValueError) as exc:  # TrainConfig's own checks
        ctx.fail(line, f"train: {exc}")
    if preset not in PRESETS:
        ctx.fail(line_of(raw, "preset", line), f"unknown train preset {short_repr(preset)}"
                                               f"{config.suggest(preset, PRESETS)}; presets: {', '.join(PRESETS)}")
    return settings


def _load_mixture(ctx: Context, doc: dict, source_names: list[str],
                  tokenizer: TokenizerConfig | None) -> MixtureConfig | None:
    """The optional ``mixture`` section: weights per source, a token budget, and a bound on repetition."""
    kw = _checked(ctx, doc, "mixture", MixtureConfig)
    if kw is None:
        return None
    if tokenizer is None:
        ctx.fail(line_of(doc, "mixture"), "'mixture' needs a 'tokenizer' section: weights are shares of tokens")
    weights = kw["weights"]
    for name, w in weights.items():
        if name not in source_names:
            ctx.fail(line_of(weights, name), f"mixture: unknown source '{name}'{config.suggest(name, source_names)}")
        if w < 0:
            ctx.fail(line_of(weights, name),
                     f"mixture: weight of '{name}' must be a number >= 0, got {short_repr(w)}")
    kw["weights"] = {str(k): float(v) for k, v in weights.items()}
    if kw.get("max_epochs") is not None:
        kw["max_epochs"] = float(kw["max_epochs"])
    return MixtureConfig(**kw)
