"""MinHash speed per core: signatures/s of ours against datasketch and rensa on the same documents, and the
whole dedup (shingles, signatures, LSH, clustering) docs/s.

    python benchmarks/dedup_speed.py [--docs 5000] [--num-perm 128] [--rounds 7]

Documents: the sample's web pages, reference excerpts and forum pages, cycled to ``--docs``. One core for
everyone: POLARS_MAX_THREADS=1 and RAYON_NUM_THREADS=1 (rensa) are set before the libraries load. Three
comparisons, each on identical input:

- *signatures from shingle hashes*: ours (``signatures``) vs datasketch ``MinHash.update_batch`` given the same
  32-bit hashes (identity hash function) vs rensa ``RMinHash.digest_matrix_from_flat_token_hashes``;
- *signatures from text*, shingling included, each library as its users call it: ours (``shingles``:
  NFKC, lower case, Unicode words, CJK characters; then ``signatures``) vs datasketch ``update_batch`` on
  shingle strings from ``str.lower().split()`` (SHA-1 per shingle) vs rensa
  ``RMinHash.digests_from_token_sets`` on the same Python shingle strings;
- *whole dedup*: ``MinHashDedup.split`` on the batch.

Timing: CPU seconds of this process (``time.process_time``), so that other work on a shared machine moves
the figures less than wall time; ours and rensa run interleaved for ``--rounds`` rounds (the order swapped
every round), and the ratio is given as the median and the range of the per-round ratios. datasketch runs
once (it is 100x slower). Goals (issues 4 and 18): at least 20x datasketch; at least 1.5x rensa per core
from text. rensa is not a dependency: where it cannot be imported it is installed once into
``benchmarks/_data/rensa`` (``pip install --target``), never into the package's environment.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from dataprep.dedup.minhash import MinHashDedup  # noqa: E402
from dataprep.dedup.minhash.sketch import shingles, signatures  # noqa: E402
from dataprep.io import read_frame  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def corpus(n_docs: int) -> pl.DataFrame:
    docs = read_frame([str(ROOT / "sample_data" / s) for s in ("web", "reference", "contacts")])
    docs = pl.concat([docs] * -(-n_docs // docs.height)).head(n_docs)
    return docs.with_columns(pl.format("{}-{}", pl.col("id"), pl.int_range(pl.len())).alias("id"))


def cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def paired(fns: dict[str, object], rounds: int) -> dict[str, list[float]]:
    """CPU seconds of each function per round, interleaved (the order reversed every other round)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            times[name].append(cpu(fns[name]))
    return times


def import_rensa():
    try:
        import rensa
    except ImportError:
        target = ROOT / "benchmarks" / "_data" / "rensa"
        if not (target / "rensa").exists():
            print(f"installing rensa into {target} (once; not a dependency)", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                            "rensa"], check=True)
        sys.path.insert(0, str(target))
        import rensa
    return rensa


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    rensa = import_rensa()
    from datasketch import MinHash

    df = corpus(args.docs)
    n, p, seed = df.height, args.num_perm, 1
    doc, hashes = shingles(df, args.ngram)
    offsets = np.r_[0, np.cumsum(np.bincount(doc, minlength=n))].astype(np.uint64)
    texts = df.get_column("text").to_list()

    def python_shingles() -> list[list[str]]:
        """How datasketch and rensa users shingle: lower-case, split on white space, join n words."""
        out = []
        for text in texts:
            w = text.lower().split()
            k = args.ngram
            out.append([" ".join(w[i:i + k]) for i in range(len(w) - k + 1)] if len(w) >= k else [" ".join(w)])
        return out

    per_doc_hashes = np.split(hashes.astype(np.uint64), offsets[1:-1].astype(np.int64))
    print(f"{n:,} documents, {len(hashes):,} distinct shingles ({args.ngram}-word), num_perm {p}, one core")

    def ds_prehashed():
        for hv in per_doc_hashes:
            m = MinHash(num_perm=p, seed=seed, hashfunc=int)
            m.update_batch(hv.tolist())

    def ds_text():
        for g in python_shingles():
            m = MinHash(num_perm=p, seed=seed)
            m.update_batch([x.encode("utf-8") for x in g])

    flat = hashes.astype(np.uint64)
    rows = [
        ("signatures from shingle hashes",
         paired({"dataprep": lambda: signatures(doc, hashes, n, p, seed),
                 "rensa": lambda: rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, p, seed)},
                args.rounds), cpu(ds_prehashed)),
        ("signatures from text",
         paired({"dataprep": lambda: signatures(*shingles(df, args.ngram), n, p, seed),
                 "rensa": lambda: rensa.RMinHash.digests_from_token_sets(python_shingles(), p, seed)},
                args.rounds), cpu(ds_text)),
    ]
    print(f"\n{'':<32}{'dataprep':>12}{'datasketch':>12}{'rensa':>12}{'vs datasketch':>15}"
          f"{'vs rensa: median':>18}{'range':>14}")
    for label, t, ds in rows:
        ours, other = statistics.median(t["dataprep"]), statistics.median(t["rensa"])
        ratios = sorted(r / o for o, r in zip(t["dataprep"], t["rensa"], strict=True))
        print(f"{label:<32}{n / ours:>12,.0f}{n / ds:>12,.0f}{n / other:>12,.0f}{ds / ours:>14.1f}x"
              f"{statistics.median(ratios):>17.2f}x{ratios[0]:>8.2f}-{ratios[-1]:.2f}x")
    print(f"(documents per CPU second, medians of {args.rounds} interleaved rounds; ratios are dataprep's speed "
          "over the other's, the range over rounds)")
    step = MinHashDedup()
    seconds = min(cpu(lambda: step.split(df)) for _ in range(2))
    removed = step.split(df)[1].height
    print(f"\nwhole dedup (shingles, signatures, {step.bands} x {step.rows} LSH, verification, clusters): "
          f"{n / seconds:,.0f} docs per CPU second ({removed:,} near duplicates removed)")


if __name__ == "__main__":
    main()
