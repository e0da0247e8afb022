"""A fastText quality classifier: the CCNet/LLaMA idea ("does this look like a page Wikipedia cites?") and
DCLM's fastText filter (Li et al. 2024, "DataComp-LM", section 4.4: a bigram fastText classifier trained on
high-quality positives against random web text), trained by ``dataprep classifier train``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataprep.errors import DataprepError
from dataprep.io.writers import atomic_write_bytes
from dataprep.registry import register
from dataprep.step import Step
from filters.language import fasttext_input, load_fasttext

POSITIVE, NEGATIVE = "__label__hq", "__label__lq"


def _one_line(texts: list[str]) -> list[str]:
    return pl.DataFrame({"t": texts}).select(fasttext_input(pl.col("t")).str.to_lowercase()).to_series().to_list()


def train_classifier(positive: Iterable[str], negative: Iterable[str], out: str | Path, epoch: int = 5,
                     lr: float = 0.1, word_ngrams: int = 2, dim: int = 64, seed: int = 0,
                     retries: int = 3) -> dict[str, Any]:
    """Train a fastText supervised model (labels hq / lq) and save it to ``out`` atomically.

    fastText's SGD can diverge and raise "Encountered NaN" on small or very uneven data; the training is
    retried with half the learning rate up to ``retries`` times, then fails with an explanation.
    """
    import fasttext

    pos, neg = list(positive), list(negative)
    if not pos or not neg:
        raise DataprepError(f"need positive and negative examples (got {len(pos)} and {len(neg)})")
    rng = np.random.default_rng(seed)
    rows = [f"{POSITIVE} {t}" for t in _one_line(pos)] + [f"{NEGATIVE} {t}" for t in _one_line(neg)]
    order = rng.permutation(len(rows))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dataprep-clf-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(rows[i] for i in order) + "\n", encoding="utf-8")
        attempt_lr, last_error = lr, ""
        for _attempt in range(retries + 1):
            try:
                model = fasttext.train_supervised(str(train_file), epoch=epoch, lr=attempt_lr, wordNgrams=word_ngrams,
                                                  dim=dim, seed=seed, thread=1, verbose=0, minCount=1)
                break
            except RuntimeError as exc:  # "Encountered NaN."
                last_error = str(exc)
                attempt_lr /= 2
        else:
            raise DataprepError(f"fastText training failed {retries + 1} times ({last_error}); this happens on tiny "
                                "or one-sided data: give it more text (hundreds of documents per class) or a "
                                "lower --lr")
        tmp_out = Path(tmp) / "model.bin"
        model.save_model(str(tmp_out))
        atomic_write_bytes(out, tmp_out.read_bytes())
    return {"model": str(out), "positive": len(pos), "negative": len(neg), "lr": attempt_lr, "epoch": epoch}


@register
@dataclasses.dataclass
class QualityClassifier(Step):
    """Score documents with a fastText quality classifier and keep those scoring at least ``min_score``.

    Source: DCLM (Li et al. 2024): fastText bigram classifier, positives from curated high-quality text, keep
    the highest-scoring documents; CCNet/LLaMA: a linear classifier of "references of Wikipedia" against
    random pages. ``quality_score`` is the probability of the high-quality label; 0.5 is the classifier's own
    decision boundary (DCLM instead keeps a top fraction: pick the threshold from the score histogram, see
    ``examples/notebook_filters.py``). Adds ``quality_score``.
    """

    name = "quality_classifier"
    model: str = dataclasses.field(default="", metadata={"help": "fastText model from 'dataprep classifier train'"})
    min_score: float = 0.5
    path_params = ("model",)

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("needs 'model': a fastText classifier trained by 'dataprep classifier train'")

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        model = load_fasttext(self.model)
        texts = df.select(fasttext_input(pl.col("text")).str.to_lowercase()).to_series().to_list()
        if not texts:
            return df.with_columns(pl.lit(None, pl.Float64).alias("quality_score"))
        labels, probs = model.predict(texts, k=2)
        score = np.array([dict(zip(lab, p, strict=False)).get(POSITIVE, 0.0) for lab, p in zip(labels, probs,
                                                                                                strict=True)])
        return df.with_columns(pl.Series("quality_score", np.minimum(score, 1.0), pl.Float64))

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return pl.when(pl.col("quality_score") < self.min_score).then(pl.lit("low_quality"))
