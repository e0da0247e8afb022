# %% [markdown]
# # Choosing filter thresholds in a notebook
#
# Load the sample data with polars, annotate it with dataprep's filters, look at the score distributions and
# pick thresholds. Run it cell by cell in VS Code or Jupyter (``# %%`` cells), or as a script:
# ``python examples/notebook_filters.py`` (plots go to ``out/examples/`` when matplotlib is installed).

# %%
from pathlib import Path

import polars as pl

from dataprep.io import read_frame  # noqa: E402
from filters import (  # noqa: E402
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    LanguageFilter,
    PerplexityFilter,
)

ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
docs = read_frame([str(ROOT / "sample_data" / "web")])
print(docs.height, "documents")

# %% Annotate: every filter adds its score columns and keeps every row
annotated = docs
for step in (LanguageFilter(), PerplexityFilter(), GopherQuality(), GopherRepetition(), FineWebQuality()):
    annotated = step.annotate(annotated)
print(annotated.select("lang", "lang_score", "perplexity", "ppl_bucket", "gopher_words", "fineweb_line_punct").head())

# %% Language mix and score distribution
print(annotated.group_by("lang").agg(pl.len(), pl.col("lang_score").median()).sort("len", descending=True).head(10))
print(annotated.select(pl.col("lang_score").quantile(q).alias(f"q{int(q * 100)}") for q in (0.1, 0.25, 0.5, 0.75)))

# %% Pick a language-score threshold: how many documents each candidate keeps
for t in (0.3, 0.5, 0.65, 0.8):
    kept = annotated.filter(pl.col("lang_score") >= t).height
    print(f"min_score {t:.2f}: keeps {kept:,} of {annotated.height:,} ({kept / annotated.height:.0%})")

# %% Perplexity per language, with the shipped head/middle/tail cutoffs
print(annotated.group_by("lang", "ppl_bucket").len().sort("lang", "ppl_bucket").filter(pl.col("lang").is_in(
    ["en", "zh", "de"])))

# %% Plots (optional: needs matplotlib)
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - plotting is optional
    plt = None
if plt is not None:
    out = ROOT / "out" / "examples"
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
    axes[0].hist(annotated["lang_score"].to_numpy(), bins=40)
    axes[0].axvline(0.65, color="red")
    axes[0].set_title("lang_score (FineWeb keeps > 0.65)")
    for lang in ("en", "de", "zh"):
        ppl = annotated.filter(pl.col("lang") == lang)["perplexity"].drop_nulls().log10().to_numpy()
        axes[1].hist(ppl, bins=30, alpha=0.5, label=lang)
    axes[1].legend()
    axes[1].set_title("log10 perplexity")
    axes[2].hist(annotated["fineweb_line_punct"].to_numpy(), bins=40)
    axes[2].axvline(0.12, color="red")
    axes[2].set_title("fraction of lines ending in punctuation (FineWeb: 0.12)")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=80)
    print("plot:", out / "scores.png")

# %% Apply the chosen thresholds: kept rows, and rejected rows with their reason
kept, rejected = LanguageFilter(languages=["en", "de", "zh"], min_score=0.5).split(docs)
print(kept.height, "kept;", rejected.group_by("reason").len().rows())
