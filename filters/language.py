"""Language identification with fastText's lid.176 model (shipped in ``filters/models``; no download).

fastText predicts a whole batch in one call (its C++ ``multilinePredict``); the only per-row work in Python is
reading the labels back. fastText treats a newline as the end of an input, so newlines become spaces first.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataprep.errors import DataprepError
from dataprep.registry import register
from dataprep.step import Step

MODELS_DIR = Path(__file__).resolve().parent / "models"
LID_MODEL = MODELS_DIR / "lid.176.ftz"


@functools.lru_cache(maxsize=8)
def load_fasttext(path: str) -> Any:
    """Load a fastText model once per process (quietly: fastText warns on every load of a .ftz)."""
    import fasttext

    if not Path(path).exists():
        raise DataprepError(f"fastText model {path} does not exist")
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(str(path))


def predict_labels(model: Any, texts: list[str], k: int = 1) -> tuple[list[str], np.ndarray]:
    """Top label (without ``__label__``) and its probability for each text, in one batched call."""
    if not texts:
        return [], np.zeros(0)
    labels, probs = model.predict(texts, k=k)
    codes = [lab[0][9:] if lab else "" for lab in labels]
    scores = np.array([p[0] if len(p) else 0.0 for p in probs], dtype=np.float64)
    return codes, np.minimum(scores, 1.0)


def fasttext_input(expr: pl.Expr, max_chars: int | None = None) -> pl.Expr:
    """Text as fastText wants it: one line. fastText's ``predict`` refuses ``\n`` (it reads one line per
    input) and treats the other breaks (``\r \v \f``) as white space, so only ``\n`` becomes a space."""
    if max_chars:
        expr = expr.str.slice(0, max_chars)
    return expr.str.replace_all("\n", " ", literal=True)


@register
@dataclasses.dataclass
class LanguageFilter(Step):
    """Identify each document's language with fastText and keep the languages asked for.

    Model: fastText lid.176 (Joulin et al. 2016; CC BY-SA 3.0), or any fastText LID model given by path
    (lid.176.bin, GlotLID's ``model.bin``: its labels such as ``eng_Latn`` are kept as they are). Default
    minimum score 0.65, as FineWeb (Penedo et al. 2024, section 3.3.1: "language score > 0.65"); per
    language if ``min_scores`` names it (FineWeb-2 uses per-language thresholds). With ``languages`` empty,
    every language passes the score check. Adds ``lang`` and ``lang_score``.
    """

    name = "language"
    languages: list[str] = dataclasses.field(
        default_factory=list, metadata={"help": "codes to keep (e.g. [en, zh]); empty keeps any language"})
    min_score: float = 0.65
    min_scores: dict[str, float] = dataclasses.field(default_factory=dict)
    model: str | None = dataclasses.field(default=None, metadata={"help": "path to a fastText LID model"})
    max_chars: int | None = dataclasses.field(
        default=None, metadata={"help": "classify only the first N characters (faster on long documents)"})
    path_params = ("model",)

    @property
    def model_path(self) -> str:
        return str(self.model or LID_MODEL)

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        texts = df.select(fasttext_input(pl.col("text"), self.max_chars)).to_series().to_list()
        codes, scores = predict_labels(load_fasttext(self.model_path), texts)
        return df.with_columns(pl.Series("lang", codes, pl.String), pl.Series("lang_score", scores, pl.Float64))

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        lang, score = pl.col("lang"), pl.col("lang_score")
        threshold = lang.replace_strict(self.min_scores, default=self.min_score, return_dtype=pl.Float64) \
            if self.min_scores else pl.lit(self.min_score)
        low = pl.when(score < threshold).then(pl.lit("low_score")).otherwise(pl.lit(None, pl.String))
        if self.languages:
            return pl.when(~lang.is_in(self.languages)).then(pl.lit("other_language")).otherwise(low)
        return low
