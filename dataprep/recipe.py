"""Recipes: YAML files naming sources, steps with parameters, output and seed; validated before any work.

Every error names the recipe file and line and says what is wrong (unknown step or key, wrong parameter
type, input that matches no file). Relative paths in a recipe are resolved against the recipe's folder, so
a recipe runs the same from any working directory.

```yaml
name: quickstart
seed: 42
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
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from dataprep.errors import InputError, RecipeError
from dataprep.io.files import KNOWN_FORMATS, expand_paths, input_size
from dataprep.step import Step, load_builtin_steps

DEFAULT_SHARD_BYTES = 256 << 20
#: Documents larger than this are rejected (step ``read``, reason ``too_long``). Not a quality threshold but
#: a safety bound: the largest English Wikipedia articles are about 1 MB and long books 5-10 MB of text.
DEFAULT_MAX_DOC_BYTES = 16 << 20
#: Uncompressed JSONL files larger than this are split into line-aligned parts read by separate tasks: large
#: enough that per-task overhead is small, small enough that two workers share a 128 MB file.
DEFAULT_SPLIT_BYTES = 64 << 20
SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class _LineDict(dict):
    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


class _LineList(list):
    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList()
    out.line = node.start_mark.line + 1
    for child in node.value:
        out.append(loader.construct_object(child, deep=True))
        out.lines.append(child.start_mark.line + 1)
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


@dataclasses.dataclass
class SourceConfig:
    name: str
    patterns: list[str]
    files: list[tuple[Path, str]]
    format: str | None = None
    text_field: str = "text"
    id_field: str | None = "id"
    text_unit: str = "file"
    #: reader options of formats that take them (``warc``/``html``: extractor; ``stackexchange``: site)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


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
    path: Path
    format: str = "arrow"
    shard_bytes: int = DEFAULT_SHARD_BYTES


@dataclasses.dataclass
class TokenizerConfig:
    """Use the tokenizer at ``path``; when it does not exist and ``vocab_size`` is set, train it on the kept
    shards first. Without ``path``: ``OUT/tokenizer/tokenizer.json``, trained with the run."""

    path: Path | None
    vocab_size: int | None = None
    special_tokens: list[str] | None = None


@dataclasses.dataclass
class PackConfig:
    """Pack the kept shards into ``output`` (default ``OUT/packed``)."""

    output: Path | None
    seq_len: int = 2048
    val_fraction: float = 0.005


@dataclasses.dataclass
class MixtureConfig:
    """Mix the kept documents by source into ``output`` (default ``OUT/mixed``) for a token budget; packing
    then reads the mixture instead of ``OUT/kept`` (:func:`dataprep.mixing.run_mixture`)."""

    weights: dict[str, float]
    total_tokens: int
    max_epochs: float | None = None
    output: Path | None = None


@dataclasses.dataclass
class Recipe:
    """A validated recipe: every source has files, every step is built, the output is known."""

    path: Path
    name: str
    seed: int
    sources: list[SourceConfig]
    steps: list[StepConfig]
    output: OutputConfig
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    workers: int = 0
    tokenizer: TokenizerConfig | None = None
    pack: PackConfig | None = None
    train: dict[str, Any] | None = None  # training settings run on OUT/packed after packing (needs torch)
    mixture: MixtureConfig | None = None
    split_bytes: int = 64 << 20  # uncompressed JSONL files larger than this are read as several tasks

    def fingerprint(self) -> str:
        """A hash of everything that determines the output: inputs (names and sizes), steps, seed, format."""
        doc = {
            "seed": self.seed,
            "max_doc_bytes": self.max_doc_bytes,
            "format": self.output.format,
            "shard_bytes": self.output.shard_bytes,
            "split_bytes": self.split_bytes,
            "sources": [
                {
                    "name": s.name, "format": s.format, "text_field": s.text_field, "id_field": s.id_field,
                    "text_unit": s.text_unit, "options": _jsonable(s.options),
                    "files": [[rel, input_size(p)] for p, rel in s.files],
                }
                for s in self.sources
            ],
            "steps": [{"type": c.type, "label": c.label, "params": _jsonable(c.params), "sources": c.sources}
                      for c in self.steps],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def parse_size(value: Any, where: str) -> int:
    """Parse ``256MB``, ``1.5GiB``, ``4096`` into bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?i?B?)\s*", str(value), re.IGNORECASE)
    if not m:
        raise RecipeError(f"{where}: cannot read size {value!r}: write e.g. 256MB or 1GiB")
    number, unit = float(m.group(1)), m.group(2).upper().rstrip("B").rstrip("I")
    return int(number * (1 << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]))


def _suggest(word: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


def check_type(value: Any, hint: Any) -> bool:
    """Does a YAML value fit a parameter's type hint? (int is accepted for float; bool never for int.)"""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(check_type(value, a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return isinstance(value, list) and (not args or all(check_type(v, args[0]) for v in value))
    if origin is dict:
        args = typing.get_args(hint)
        return isinstance(value, dict) and (
            not args or all(check_type(k, args[0]) and check_type(v, args[1]) for k, v in value.items()))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _line_of(mapping: Any, key: Any, default: int = 0) -> int:
    lines = getattr(mapping, "lines", None)
    if isinstance(lines, dict):
        return lines.get(key, getattr(mapping, "line", default))
    return getattr(mapping, "line", default)


class _Ctx:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> typing.NoReturn:
        raise RecipeError(f"{self.path}:{line}: {message}")

    def check_keys(self, mapping: dict, allowed: typing.Iterable[str], what: str) -> None:
        allowed = list(allowed)
        for key in mapping:
            if key not in allowed:
                self.fail(_line_of(mapping, key),
                          f"unknown key '{key}' in {what}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}")


def load_recipe(path: str | Path, output: str | Path | None = None, fmt: str | None = None) -> Recipe:
    """Read and validate a recipe. ``output`` and ``fmt`` override the recipe's output path and format."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}")
    ctx = _Ctx(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise RecipeError(f"{path}:{mark.line + 1 if mark else '?'}: invalid YAML: {exc.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise RecipeError(f"{path}:1: a recipe is a mapping with 'sources', 'steps' and 'output'")
    ctx.check_keys(doc, ["name", "description", "seed", "sources", "steps", "output", "limits", "executor",
                         "tokenizer", "pack", "train", "mixture"], "the recipe")
    base = path.parent
    seed = doc.get("seed", 0)
    if not check_type(seed, int):
        ctx.fail(_line_of(doc, "seed"), f"'seed' must be an integer, got {seed!r}")

    sources = _load_sources(ctx, doc, base)
    steps = _load_steps(ctx, doc, [s.name for s in sources])
    out = _load_output(ctx, doc, base, output, fmt)
    limits = doc.get("limits") or _LineDict()
    if not isinstance(limits, dict):
        ctx.fail(_line_of(doc, "limits"), "'limits' must be a mapping")
    ctx.check_keys(limits, ["max_doc_bytes"], "limits")
    max_doc = parse_size(limits.get("max_doc_bytes", DEFAULT_MAX_DOC_BYTES),
                         f"{path}:{_line_of(limits, 'max_doc_bytes')}")
    executor = doc.get("executor") or _LineDict()
    if not isinstance(executor, dict):
        ctx.fail(_line_of(doc, "executor"), "'executor' must be a mapping")
    ctx.check_keys(executor, ["workers", "split_bytes"], "executor")
    split_bytes = parse_size(executor.get("split_bytes", DEFAULT_SPLIT_BYTES),
                             f"{path}:{_line_of(executor, 'split_bytes')}")
    workers = executor.get("workers", 0)
    if not check_type(workers, int) or workers < 0:
        ctx.fail(_line_of(executor, "workers"), f"'workers' must be an integer >= 0 (0: all cores), got {workers!r}")
    tokenizer, pack = _load_after(ctx, doc, base)
    train = doc.get("train")
    if train is not None:
        if pack is None:
            ctx.fail(_line_of(doc, "train"), "'train' needs a 'pack' section (it trains on the packed shards)")
        if not isinstance(train, dict):
            ctx.fail(_line_of(doc, "train"), "'train' is a mapping of training settings (see dataprep.train)")
        train = {k: v for k, v in train.items()}
        for key in ("data", "out"):
            if key in train:
                ctx.fail(_line_of(train, key), f"'train.{key}' is set by the run (OUT/packed, OUT/train)")
    mixture = _load_mixture(ctx, doc, base, [s.name for s in sources], tokenizer)
    return Recipe(path=path, name=str(doc.get("name", path.stem)), seed=seed, sources=sources, steps=steps,
                  output=out, max_doc_bytes=max_doc, workers=workers, tokenizer=tokenizer, pack=pack, train=train,
                  split_bytes=split_bytes, mixture=mixture)


def _load_mixture(ctx: _Ctx, doc: dict, base: Path, source_names: list[str],
                  tokenizer: TokenizerConfig | None) -> MixtureConfig | None:
    """The optional ``mixture`` section: weights per source, a token budget, and a bound on repetition."""
    raw = doc.get("mixture")
    if raw is None:
        return None
    line = _line_of(doc, "mixture")
    if not isinstance(raw, dict):
        ctx.fail(line, "'mixture' must be a mapping (weights, total_tokens, max_epochs, output)")
    ctx.check_keys(raw, ["weights", "total_tokens", "max_epochs", "output"], "mixture")
    if tokenizer is None:
        ctx.fail(line, "'mixture' needs a 'tokenizer' section: weights are shares of tokens")
    weights = raw.get("weights")
    if not isinstance(weights, dict) or not weights:
        ctx.fail(_line_of(raw, "weights", line), "'mixture.weights' must map source names to weights")
    for name, w in weights.items():
        if name not in source_names:
            ctx.fail(_line_of(weights, name, line),
                     f"mixture: unknown source '{name}'{_suggest(str(name), source_names)}")
        if not check_type(w, float) or w < 0:
            ctx.fail(_line_of(weights, name, line), f"mixture: weight of '{name}' must be a number >= 0, got {w!r}")
    total = raw.get("total_tokens")
    try:
        total = int(float(total))
    except (TypeError, ValueError):
        ctx.fail(_line_of(raw, "total_tokens", line), f"'mixture.total_tokens' must be a number, got {total!r}")
    if total <= 0:
        ctx.fail(_line_of(raw, "total_tokens", line), "'mixture.total_tokens' must be positive")
    max_epochs = raw.get("max_epochs")
    if max_epochs is not None and (not check_type(max_epochs, float) or max_epochs <= 0):
        ctx.fail(_line_of(raw, "max_epochs", line),
                 f"'mixture.max_epochs' must be a positive number, got {max_epochs!r}")
    out = (base / str(raw["output"])).resolve() if "output" in raw else None
    return MixtureConfig({str(k): float(v) for k, v in weights.items()}, total,
                         float(max_epochs) if max_epochs is not None else None, out)


def _load_after(ctx: _Ctx, doc: dict, base: Path) -> tuple[TokenizerConfig | None, PackConfig | None]:
    """The optional ``tokenizer`` and ``pack`` sections: what runs on the kept shards after cleaning."""
    tok_doc, pack_doc = doc.get("tokenizer"), doc.get("pack")
    tokenizer = pack = None
    if tok_doc is not None:
        if not isinstance(tok_doc, dict) or ("path" not in tok_doc and "vocab_size" not in tok_doc):
            ctx.fail(_line_of(doc, "tokenizer"), "'tokenizer' needs 'path' (a tokenizer.json to use) or 'vocab_size' "
                                                 "(to train one on the kept documents)")
        ctx.check_keys(tok_doc, ["path", "vocab_size", "special_tokens"], "tokenizer")
        vocab = tok_doc.get("vocab_size")
        if vocab is not None and (not check_type(vocab, int) or vocab < 300):
            ctx.fail(_line_of(tok_doc, "vocab_size"), f"'vocab_size' must be an integer >= 300, got {vocab!r}")
        special = tok_doc.get("special_tokens")
        if special is not None and not check_type(special, list[str]):
            ctx.fail(_line_of(tok_doc, "special_tokens"), "'special_tokens' must be a list of strings")
        tok_path = (base / str(tok_doc["path"])).resolve() if "path" in tok_doc else None
        tokenizer = TokenizerConfig(path=tok_path, vocab_size=vocab,
                                    special_tokens=list(special) if special else None)
    if pack_doc is not None:
        if not isinstance(pack_doc, dict):
            ctx.fail(_line_of(doc, "pack"), "'pack' must be a mapping (output, seq_len, val_fraction)")
        if tokenizer is None:
            ctx.fail(_line_of(doc, "pack"), "'pack' needs a 'tokenizer' section (path, and vocab_size to train one)")
        ctx.check_keys(pack_doc, ["output", "seq_len", "val_fraction"], "pack")
        seq_len = pack_doc.get("seq_len", 2048)
        val = pack_doc.get("val_fraction", 0.005)
        if not check_type(seq_len, int) or seq_len < 1:
            ctx.fail(_line_of(pack_doc, "seq_len"), f"'seq_len' must be a positive integer, got {seq_len!r}")
        if not check_type(val, float) or not 0 <= val < 1:
            ctx.fail(_line_of(pack_doc, "val_fraction"), f"'val_fraction' must be in [0, 1), got {val!r}")
        pack_out = (base / str(pack_doc["output"])).resolve() if "output" in pack_doc else None
        pack = PackConfig(output=pack_out, seq_len=seq_len, val_fraction=val)
    return tokenizer, pack


def _load_sources(ctx: _Ctx, doc: dict, base: Path) -> list[SourceConfig]:
    raw = doc.get("sources")
    if not isinstance(raw, list) or not raw:
        ctx.fail(_line_of(doc, "sources", 1), "'sources' must be a non-empty list of sources")
    out: list[SourceConfig] = []
    names: set[str] = set()
    for i, src in enumerate(raw):
        line = raw.lines[i] if isinstance(raw, _LineList) else 0
        if not isinstance(src, dict):
            ctx.fail(line, "each source is a mapping with 'name' and 'paths'")
        ctx.check_keys(src, ["name", "paths", "format", "text_field", "id_field", "text_unit", "options"], "a source")
        name = src.get("name")
        if not isinstance(name, str) or not SOURCE_NAME.match(name):
            ctx.fail(_line_of(src, "name", line), f"source name must be letters, digits, '_', '.' or '-', got {name!r}")
        if name in names:
            ctx.fail(_line_of(src, "name", line), f"source name '{name}' is used twice")
        names.add(name)
        paths = src.get("paths")
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            ctx.fail(_line_of(src, "paths", line), f"source '{name}': 'paths' must be a path or a list of paths")
        fmt = src.get("format")
        if fmt is not None and fmt not in KNOWN_FORMATS:
            ctx.fail(_line_of(src, "format", line),
                     f"source '{name}': unknown format {fmt!r}{_suggest(fmt, KNOWN_FORMATS)}; "
                     f"use one of {', '.join(KNOWN_FORMATS)}")
        for key in ("text_field",):
            if key in src and not isinstance(src[key], str):
                ctx.fail(_line_of(src, key, line), f"source '{name}': '{key}' must be a string")
        if "id_field" in src and src["id_field"] is not None and not isinstance(src["id_field"], str):
            ctx.fail(_line_of(src, "id_field", line), f"source '{name}': 'id_field' must be a string or null")
        unit = src.get("text_unit", "file")
        if unit not in ("file", "paragraph", "line"):
            ctx.fail(_line_of(src, "text_unit", line), f"source '{name}': text_unit must be file, paragraph or line")
        patterns = [os.path.normpath(p if Path(p).is_absolute() else base / p) for p in paths]
        try:
            files = expand_paths(patterns, fmt)
        except InputError as exc:
            ctx.fail(_line_of(src, "paths", line), f"source '{name}': {exc}")
        if fmt is None:
            from dataprep.io.files import detect_format

            unknown = [rel for p, rel in files if detect_format(p) is None]
            if unknown:
                ctx.fail(_line_of(src, "paths", line),
                         f"source '{name}': cannot tell the format of {unknown[0]}: set 'format'")
        options = src.get("options") or {}
        if not isinstance(options, dict):
            ctx.fail(_line_of(src, "options", line), f"source '{name}': 'options' must be a mapping")
        from dataprep.io.files import detect_format
        from dataprep.io.readers import check_options

        problem = check_options(fmt or detect_format(files[0][0]), dict(options))
        if problem:
            ctx.fail(_line_of(src, "options", line), f"source '{name}': {problem}")
        out.append(SourceConfig(name=name, patterns=patterns, files=files, format=fmt,
                                text_field=src.get("text_field", "text"), id_field=src.get("id_field", "id"),
                                text_unit=unit, options=dict(options)))
    return out


def _load_steps(ctx: _Ctx, doc: dict, source_names: list[str]) -> list[StepConfig]:
    registry = load_builtin_steps()
    raw = doc.get("steps") or []
    if not isinstance(raw, list):
        ctx.fail(_line_of(doc, "steps"), "'steps' must be a list")
    out: list[StepConfig] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        line = raw.lines[i] if isinstance(raw, _LineList) else 0
        if isinstance(entry, str):
            kind, params = entry, _LineDict()
        elif isinstance(entry, dict) and len(entry) == 1:
            kind, params = next(iter(entry.items()))
            params = params if params is not None else _LineDict()
        else:
            ctx.fail(line, "each step is a step name, or a mapping of one step name to its parameters")
        if kind not in registry:
            ctx.fail(line, f"unknown step '{kind}'{_suggest(kind, registry)}; 'dataprep steps' lists them")
        if not isinstance(params, dict):
            ctx.fail(line, f"step '{kind}': parameters must be a mapping")
        cls = registry[kind]
        spec = {p["name"]: p for p in cls.params()}
        only = params.get("sources")
        if only is not None:
            if isinstance(only, str):
                only = [only]
            if not check_type(only, list[str]) or not only:
                ctx.fail(_line_of(params, "sources", line), f"step '{kind}': 'sources' must be a list of source names")
            for src_name in only:
                if src_name not in source_names:
                    ctx.fail(_line_of(params, "sources", line),
                             f"step '{kind}': unknown source '{src_name}'{_suggest(src_name, source_names)}; "
                             f"the recipe's sources are {', '.join(source_names)}")
            only = list(only)
        for key, value in params.items():
            if key == "sources":
                continue
            pline = _line_of(params, key, line)
            if key not in spec:
                ctx.fail(pline, f"step '{kind}' has no parameter '{key}'{_suggest(key, spec)}; "
                                f"it takes: {', '.join(spec) or 'none'}")
            if not check_type(value, spec[key]["type"]):
                ctx.fail(pline, f"step '{kind}': parameter '{key}' must be {type_name(spec[key]['type'])}, "
                                f"got {value!r}")
        missing = [n for n, p in spec.items() if p["default"] is dataclasses.MISSING and n not in params]
        if missing:
            ctx.fail(line, f"step '{kind}' needs parameter(s): {', '.join(missing)}")
        lines_of = params
        params = {k: v for k, v in params.items() if k != "sources"}
        for key in cls.path_params:
            value = params.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute() and ":" not in value:
                params[key] = str((ctx.path.parent / value).resolve())
            if isinstance(params.get(key), str) and ":" not in params[key] and not Path(params[key]).exists():
                ctx.fail(_line_of(lines_of, key, line), f"step '{kind}': {key} {params[key]} does not exist")
        try:
            step = cls(**params)
        except (ValueError, TypeError) as exc:
            ctx.fail(line, f"step '{kind}': {exc}")
        seen[kind] = seen.get(kind, 0) + 1
        label = kind if seen[kind] == 1 else f"{kind}#{seen[kind]}"
        out.append(StepConfig(type=kind, label=label, params=params, step=step, line=line, sources=only))
    return out


def _load_output(ctx: _Ctx, doc: dict, base: Path, output: str | Path | None, fmt: str | None) -> OutputConfig:
    raw = doc.get("output")
    if raw is None and output is None:
        ctx.fail(1, "the recipe has no 'output' (or pass --output)")
    raw = raw if raw is not None else _LineDict()
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        ctx.fail(_line_of(doc, "output"), "'output' must be a path or a mapping with 'path'")
    ctx.check_keys(raw, ["path", "format", "shard_size"], "output")
    if output is not None:
        out_path = Path(output)
    else:
        if not isinstance(raw.get("path"), str):
            ctx.fail(_line_of(raw, "path", _line_of(doc, "output")), "output needs a 'path'")
        out_path = Path(raw["path"])
        if not out_path.is_absolute():
            out_path = Path(os.path.normpath(base / out_path))
    out_fmt = fmt or raw.get("format", "arrow")
    if out_fmt not in ("arrow", "parquet"):
        ctx.fail(_line_of(raw, "format", 1), f"output format must be arrow or parquet, got {out_fmt!r}")
    shard = parse_size(raw.get("shard_size", DEFAULT_SHARD_BYTES), f"{ctx.path}:{_line_of(raw, 'shard_size', 1)}")
    return OutputConfig(path=out_path, format=out_fmt, shard_bytes=shard)
