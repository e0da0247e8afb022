"""KenLM perplexity in the manner of CCNet (Wenzek et al. 2020, section 3.3 and ``cc_net/perplexity.py``):
each paragraph (line) is normalized and tokenized, scored by the document language's model, and the document's
perplexity is ``10 ** (-sum of log10 scores / sum of (tokens + 1))`` over its paragraphs. Documents then fall
in a *head*, *middle* or *tail* bucket by the language's 30th and 60th percentile perplexities.

Normalization and tokenization are vectorized (:func:`dataprep.lm.lm_normalize_lines`: the Unicode folds in
polars, only for lines that are not pure ASCII, then the token steps in one compiled pass); KenLM has no batch
API, so scoring is one ``model.score`` call per line (measured in ``benchmarks/filter_speed.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataprep.errors import DataprepError
from dataprep.lm import lm_normalize_lines
from dataprep.registry import register
from dataprep.step import Step

KENLM_DIR = Path(__file__).resolve().parent / "models" / "kenlm"
BUCKETS = ("head", "middle", "tail")


@functools.lru_cache(maxsize=32)
def load_kenlm(path: str) -> Any:
    import kenlm

    if not Path(path).exists():
        raise DataprepError(f"KenLM model {path} does not exist")
    return kenlm.Model(path)


def builtin_models() -> dict[str, str]:
    """The small models shipped for the sample languages: ``{lang: path}``."""
    return {p.name.split(".")[0]: str(p) for p in sorted(KENLM_DIR.glob("*.binary"))}


def builtin_cutoffs() -> dict[str, list[float]]:
    path = KENLM_DIR / "cutoffs.json"
    return json.loads(path.read_text()) if path.exists() else {}


def doc_perplexity(lines: pl.DataFrame, models: dict[str, str]) -> pl.DataFrame:
    """From a frame (doc, lang, tok) of normalized lines, the perplexity per doc (null without a model)."""
    scores = np.full(lines.height, np.nan)
    lengths = lines.get_column("tok").str.count_matches(" ").to_numpy().astype(np.float64) + 2.0  # tokens + </s>
    langs = lines.get_column("lang").to_numpy()
    toks = lines.get_column("tok").to_list()
    for lang in set(langs.tolist()):
        path = models.get(lang)
        if path is None:
            continue
        score = load_kenlm(path).score
        idx = np.flatnonzero(langs == lang)
        scores[idx] = [score(toks[i]) for i in idx.tolist()]
    return (
        lines.select("doc").with_columns(pl.Series("s", scores), pl.Series("n", lengths))
        .filter(pl.col("s").is_not_nan())
        .group_by("doc").agg(pl.col("s").sum(), pl.col("n").sum())
        .select("doc", (10.0 ** (-pl.col("s") / pl.col("n"))).alias("perplexity"))
    )


@register
@dataclasses.dataclass
class PerplexityFilter(Step):
    """KenLM perplexity per document and CCNet's head/middle/tail bucket; optionally drop buckets or high
    perplexities.

    Source: CCNet (Wenzek et al. 2020): perplexity of a Wikipedia-trained 5-gram model, aggregated over a
    document's paragraphs, buckets split at the 30th and 60th percentiles of each language. The language
    comes from the ``lang`` column (run ``language`` first) or the ``language`` parameter. Models default to
    the small ones shipped for the sample languages (``filters/models/kenlm``) and cutoffs to theirs; pass
    ``models: {en: path/to/en.arpa.bin}`` and ``cutoffs: {en: [p30, p60]}`` for real ones (CCNet publishes
    its Wikipedia models). Documents with no model for their language get null perplexity and bucket and
    are kept. Adds ``perplexity`` and ``ppl_bucket``.
    """

    name = "perplexity"
    models: dict[str, str] = dataclasses.field(default_factory=dict)
    cutoffs: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    language: str | None = dataclasses.field(
        default=None, metadata={"help": "score every document with this language's model (else the lang column)"})
    keep_buckets: list[str] = dataclasses.field(default_factory=lambda: list(BUCKETS))
    max_perplexity: float | None = None

    def __post_init__(self) -> None:
        for b in self.keep_buckets:
            if b not in BUCKETS:
                raise ValueError(f"unknown bucket {b!r}: buckets are {', '.join(BUCKETS)}")
        for lang, cut in self.cutoffs.items():
            if len(cut) != 2 or cut[0] > cut[1]:
                raise ValueError(f"cutoffs for {lang} must be [p30, p60] with p30 <= p60")

    def resolved_models(self) -> dict[str, str]:
        return {**builtin_models(), **self.models}

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        if self.language is None and "lang" not in df.columns:
            raise DataprepError("perplexity needs a 'lang' column (put the 'language' step first) or 'language'")
        lang = pl.lit(self.language) if self.language else pl.col("lang")
        lines = (
            df.select(pl.col("text").str.split("\n").alias("tok"), lang.alias("lang"))
            .with_row_index("doc")
            .explode("tok")
        )
        lines = lines.with_columns(lm_normalize_lines(lines.get_column("tok"))).filter(pl.col("tok") != "")
        ppl = doc_perplexity(lines, self.resolved_models())
        out = df.with_row_index("_doc").join(ppl, left_on="_doc", right_on="doc", how="left",
                                             maintain_order="left").drop("_doc")
        cut = {**builtin_cutoffs(), **self.cutoffs}
        p30 = lang.replace_strict({k: v[0] for k, v in cut.items()}, default=None, return_dtype=pl.Float64)
        p60 = lang.replace_strict({k: v[1] for k, v in cut.items()}, default=None, return_dtype=pl.Float64)
        ppl_col = pl.col("perplexity")
        bucket = (pl.when(ppl_col.is_null() | p30.is_null()).then(pl.lit(None, pl.String))
                  .when(ppl_col < p30).then(pl.lit("head"))
                  .when(ppl_col < p60).then(pl.lit("middle"))
                  .otherwise(pl.lit("tail")))
        return out.with_columns(bucket.alias("ppl_bucket"))

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        rules = pl.when(pl.col("ppl_bucket").is_not_null() & ~pl.col("ppl_bucket").is_in(self.keep_buckets)) \
            .then(pl.concat_str(pl.lit("bucket_"), pl.col("ppl_bucket")))
        if self.max_perplexity is not None:
            rules = rules.when(pl.col("perplexity") > self.max_perplexity).then(pl.lit("high_perplexity"))
        return rules.otherwise(pl.lit(None, pl.String))
