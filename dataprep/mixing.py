"""Source mixing planned in tokens, with epochs per source: ``plan_mixture`` (and ``dataprep mix plan``) turns
weights and a token budget into tokens to draw and effective epochs per source; ``run_mixture`` (``dataprep mix
run``) draws documents accordingly, deterministically: whole repetitions of a source, then a seeded random
subset for the fractional epoch.

Weights that do not sum to 1 are normalized, with a warning. Example, GPT-3 (Brown et al. 2020, table 2.2):
the printed weights sum to 1.01 and the printed epochs of WebText2 (2.9) and Wikipedia (3.4) do not follow
from them; from the weights, normalized, with a 300B budget: Common Crawl 0.435 epochs (the paper: 0.44),
WebText2 3.44, Books1 1.98, Books2 0.43, Wikipedia 2.97 (``tests/test_mixing.py`` pins these).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from dataprep.config import load_yaml
from dataprep.errors import DataprepError, RecipeError
from dataprep.io.writers import ShardWriter, atomic_write_json
from dataprep.schema import normalize_table

#: Columns of mixed shards: what packing reads, plus which pass over the source a row belongs to.
MIX_SCHEMA = pa.schema([("id", pa.large_string()), ("text", pa.large_string()), ("source", pa.large_string()),
                        ("epoch", pa.int32())])


@dataclasses.dataclass(frozen=True)
class SourcePlan:
    """What the plan draws from one source."""

    name: str
    tokens_available: int
    weight: float  # normalized
    tokens: int  # to draw
    epochs: float

    def __getitem__(self, key: str) -> Any:  # plan["cc"]["epochs"] works as well as plan["cc"].epochs
        return getattr(self, key)


def plan_mixture(source_tokens: dict[str, int], weights: dict[str, float], total_tokens: int,
                 max_epochs: float | None = None) -> dict[str, SourcePlan]:
    """Tokens to draw and effective epochs per source for a token budget.

    ``weights`` are normalized to sum to 1 (a warning says so when they did not); ``max_epochs`` warns for
    every source that would be repeated more often than that.
    """
    missing = sorted(set(weights) - set(source_tokens)) + sorted(set(source_tokens) - set(weights))
    if missing:
        raise DataprepError(f"sources without both a token count and a weight: {', '.join(missing)}")
    if total_tokens <= 0:
        raise DataprepError("total_tokens must be positive")
    bad = [n for n, w in weights.items() if not (w >= 0 and math.isfinite(w))]
    if bad or sum(weights.values()) <= 0:
        raise DataprepError(f"weights must be non-negative and not all zero (check {', '.join(bad) or 'all'})")
    total_w = sum(weights.values())
    if abs(total_w - 1) > 1e-9:
        warnings.warn(f"mixture weights sum to {total_w:g}, not 1: normalized", stacklevel=2)
    plan = {}
    for name, w in weights.items():
        avail = int(source_tokens[name])
        share = w / total_w
        tokens = int(round(share * total_tokens))
        if avail <= 0 and tokens > 0:
            raise DataprepError(f"source {name!r} has no tokens but weight {w}")
        epochs = tokens / avail if avail else 0.0
        if max_epochs is not None and epochs > max_epochs:
            warnings.warn(f"source {name!r} would be repeated {epochs:.2f} times (more than max_epochs "
                          f"{max_epochs:g})", stacklevel=2)
        plan[name] = SourcePlan(name, avail, share, tokens, epochs)
    return plan


def format_plan(plan: dict[str, SourcePlan]) -> str:
    rows = [("source", "available", "weight", "tokens to draw", "epochs")]
    for p in plan.values():
        rows.append((p.name, f"{p.tokens_available:,}", f"{p.weight:.4f}", f"{p.tokens:,}", f"{p.epochs:.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


# ---- mixture files -------------------------------------------------------------------------------------------


@dataclasses.dataclass
class MixSource:
    name: str
    weight: float
    paths: list[str]
    tokens: int | None = None


@dataclasses.dataclass
class Mixture:
    path: Path
    name: str
    seed: int
    total_tokens: int
    tokenizer: str | None
    max_epochs: float | None
    sources: list[MixSource]


def load_mixture(path: str | Path) -> Mixture:
    """Read a mixture file::

        name: sample_mix
        seed: 0
        total_tokens: 2_000_000
        tokenizer: ../out/tokenizer/tokenizer.json   # counts tokens of sources given by paths
        max_epochs: 4                                # warn above
        sources:
          reference: {paths: [../out/quickstart/kept/reference-*.arrow], weight: 0.3}
          web:       {paths: [../out/quickstart/kept/web-*.arrow], weight: 0.7}
          books:     {tokens: 55e9, weight: 0.08}    # a given count (plan only)
    """
    path = Path(path)
    try:
        doc = load_yaml(path) or {}  # the recipes' loader: safe tags, alias-bomb and nesting limits
    except OSError as exc:
        raise RecipeError(f"{path}: {exc}") from exc
    base = path.parent

    def rel(p: str) -> str:
        return p if Path(p).is_absolute() else str(base / p)

    sources = []
    for name, spec in (doc.get("sources") or {}).items():
        if not isinstance(spec, dict) or "weight" not in spec:
            raise RecipeError(f"{path}: source {name!r} needs a weight and paths or tokens")
        if "paths" not in spec and "tokens" not in spec:
            raise RecipeError(f"{path}: source {name!r} needs paths (cleaned shards) or tokens (a count)")
        paths = spec.get("paths") or []
        sources.append(MixSource(str(name), float(spec["weight"]), [rel(p) for p in paths],
                                 int(float(spec["tokens"])) if "tokens" in spec else None))
    if not sources:
        raise RecipeError(f"{path}: no sources")
    if "total_tokens" not in doc:
        raise RecipeError(f"{path}: total_tokens is required")
    tok = doc.get("tokenizer")
    return Mixture(path, str(doc.get("name", path.stem)), int(doc.get("seed", 0)), int(float(doc["total_tokens"])),
                   rel(tok) if tok else None, float(doc["max_epochs"]) if "max_epochs" in doc else None, sources)


def _doc_tokens(mix: Mixture, src: MixSource) -> tuple[list[pa.Table], np.ndarray]:
    """The source's documents (tables, in order) and the tokens of each (+1 for the EOS packing appends)."""
    from dataprep.pack import encode, iter_batches, load_tokenizer

    if mix.tokenizer is None:
        raise DataprepError(f"{mix.path}: a tokenizer is needed to count the tokens of source {src.name!r}")
    tok = load_tokenizer(mix.tokenizer)
    tables, counts = [], []
    for _, batches in iter_batches(src.paths, 1024):
        for table in batches:
            tables.append(table)
            counts.append(np.fromiter((len(ids) + 1 for ids in encode(tok, table.column("text").to_pylist())),
                                      dtype=np.int64, count=table.num_rows))
    return tables, (np.concatenate(counts) if counts else np.zeros(0, np.int64))


def count_tokens(mix: Mixture) -> dict[str, int]:
    out = {}
    for src in mix.sources:
        out[src.name] = src.tokens if src.tokens is not None else int(_doc_tokens(mix, src)[1].sum())
    return out


def run_mixture(mix: Mixture, output: str | Path) -> dict[str, Any]:
    """Write the mixed documents to ``output`` (Arrow shards per source) and ``mix.json``; return the report.

    A source drawn for e epochs contributes floor(e) full passes plus documents in a seeded random order
    until the fractional epoch's tokens are reached (document level: the last document may overshoot).
    """
    out = Path(output)
    counts_docs: dict[str, tuple[list[pa.Table], np.ndarray]] = {}
    for src in mix.sources:
        if src.tokens is not None and not src.paths:
            raise DataprepError(f"source {src.name!r} has only a token count: 'mix run' needs its paths")
        counts_docs[src.name] = _doc_tokens(mix, src)
    plan = plan_mixture({n: int(c.sum()) for n, (_, c) in counts_docs.items()},
                        {s.name: s.weight for s in mix.sources}, mix.total_tokens, mix.max_epochs)
    report: dict[str, Any] = {"name": mix.name, "seed": mix.seed, "total_tokens": mix.total_tokens, "sources": {}}
    realized_total = 0
    for src in mix.sources:
        tables, tokens = counts_docs[src.name]
        p = plan[src.name]
        whole = int(math.floor(p.epochs))
        remaining = p.tokens - whole * p.tokens_available
        rng = np.random.default_rng([mix.seed, xxhash.xxh32_intdigest(src.name.encode())])
        order = rng.permutation(len(tokens))
        cum = np.cumsum(tokens[order])
        take = int(np.searchsorted(cum, remaining, side="left")) + 1 if remaining > 0 else 0
        take = min(take, len(order))
        chosen = np.zeros(len(tokens), dtype=bool)
        chosen[order[:take]] = True
        writer = ShardWriter(out, f"{src.name}", MIX_SCHEMA, "arrow", 256 << 20)
        try:
            for rep in range(whole + (1 if take else 0)):
                start = 0
                for table in tables:
                    n = table.num_rows
                    mask = np.ones(n, bool) if rep < whole else chosen[start:start + n]
                    start += n
                    if mask.any():
                        part = table.filter(pa.array(mask))
                        writer.write(normalize_table(part.append_column(
                            "epoch", pa.array(np.full(part.num_rows, rep, dtype=np.int32)))))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        realized = whole * p.tokens_available + int(tokens[chosen].sum())
        realized_total += realized
        report["sources"][src.name] = {"tokens_available": p.tokens_available, "weight": p.weight,
                                       "planned_tokens": p.tokens, "epochs": p.epochs, "realized_tokens": realized}
    for entry in report["sources"].values():
        entry["planned_share"] = entry["weight"]
        entry["realized_share"] = entry["realized_tokens"] / max(realized_total, 1)
    report["realized_total_tokens"] = realized_total
    atomic_write_json(out / "mix.json", report)
    return report
