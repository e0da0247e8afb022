"""MinHash dedup quality: recall and precision per Jaccard bucket on real text with planted near duplicates,
next to the theoretical S-curve of the chosen bands x rows.

    python benchmarks/dedup_quality.py [--threshold 0.8] [--pairs 1200]

Base documents: distinct sample documents (web pages, reference excerpts) of at least 80 words. For each of
``--pairs`` base documents a variant is planted at a target Jaccard similarity drawn from 0.50 to 0.95: words
at seeded random positions are replaced until the exact shingle Jaccard (our 5-word shingles) falls to the
target. The corpus (bases, variants) goes through ``MinHashDedup`` with verification on and off.

- recall per bucket: planted pairs found in one cluster, over planted pairs, by exact Jaccard;
- precision: removed documents whose exact Jaccard with the kept representative is at least the threshold,
  over removed documents (a removed base matching an unrelated document counts against it);
- S-curve: 1 - (1 - J^r)^b at the bucket's mean Jaccard.

Goal at threshold 0.8: recall at least 0.95 for J >= 0.9, precision at least 0.99 with verification.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import polars as pl

from dataprep.dedup.minhash import MinHashDedup
from dataprep.dedup.minhash.cluster import jaccard
from dataprep.dedup.minhash.sketch import shingles
from dataprep.io import read_frame

ROOT = Path(__file__).resolve().parent.parent
BUCKETS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0001]


def shingle_set(text: str) -> np.ndarray:
    d, h = shingles(pl.DataFrame({"text": [text]}), 5)
    return h


def plant(text: str, target: float, rng: random.Random) -> tuple[str, float]:
    """A variant of ``text`` whose shingle Jaccard with it is just at or below ``target`` (binary search on
    the number of replaced words, positions in a fixed random order)."""
    words = text.split()
    order = list(range(len(words)))
    rng.shuffle(order)
    base = shingle_set(text)
    lo, hi, best = 0, len(words), (text, 1.0)
    while lo <= hi:
        mid = (lo + hi) // 2
        w = list(words)
        for i in order[:mid]:
            w[i] = f"x{rng.randrange(10**6)}"
        variant = " ".join(w)
        j = jaccard(base, shingle_set(variant))
        if j > target:
            lo = mid + 1
        else:
            best, hi = (variant, j), mid - 1
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--pairs", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    docs = read_frame([str(ROOT / "sample_data" / s) for s in ("reference", "web")]).select("text")
    docs = docs.filter(pl.col("text").str.split(" ").list.len() >= 80).unique(maintain_order=True)
    # drop bases that are already near copies of each other, so every planted pair is the only true pair
    step = MinHashDedup(threshold=0.5)
    docs = step(docs.with_columns(pl.format("b{}", pl.int_range(pl.len())).alias("id")))
    bases = docs.get_column("text").to_list()[: args.pairs]
    rows, truth = [], []
    for i, text in enumerate(bases):
        target = rng.uniform(0.5, 0.97)
        variant, j = plant(text, target, rng)
        rows += [{"id": f"b{i}", "text": text}, {"id": f"v{i}", "text": variant}]
        truth.append((f"b{i}", f"v{i}", j))
    corpus = pl.DataFrame(rows)
    sets = dict(zip(corpus["id"].to_list(), [shingle_set(t) for t in corpus["text"]], strict=True))
    print(f"{len(bases):,} base documents, {len(truth):,} planted pairs, threshold {args.threshold}")
    for verify in (True, False):
        step = MinHashDedup(threshold=args.threshold, verify=verify)
        _, removed = step.split(corpus)
        rep = dict(zip(removed["id"].to_list(), removed["duplicate_of"].to_list(), strict=True))
        found = [rep.get(v) == b or rep.get(b) == v for b, v, _ in truth]
        true_pos = [jaccard(sets[d], sets[r]) >= args.threshold for d, r in rep.items()]
        precision = float(np.mean(true_pos)) if true_pos else 1.0
        print(f"\nverify={verify}: bands x rows = {step.bands} x {step.rows}; removed {len(rep):,}; "
              f"precision {precision:.4f}")
        print(f"{'Jaccard':<14}{'pairs':>7}{'recall':>9}{'S-curve':>9}")
        js = np.array([j for _, _, j in truth])
        hits = np.array(found)
        for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:], strict=True):
            sel = (js >= lo) & (js < hi)
            if not sel.any():
                continue
            mean_j = js[sel].mean()
            curve = 1 - (1 - mean_j ** step.rows) ** step.bands
            print(f"[{lo:.2f}, {min(hi, 1):.2f}){'':<2}{sel.sum():>7}{hits[sel].mean():>9.3f}{curve:>9.3f}")
        high = js >= 0.9
        print(f"recall for J >= 0.9: {hits[high].mean():.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
