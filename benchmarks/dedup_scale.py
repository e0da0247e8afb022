"""MinHash dedup at corpus scale: one million generated documents through ``dataprep run`` on this machine,
with the peak resident memory of the whole process tree (main process and workers) sampled every 0.2 s.

    python benchmarks/dedup_scale.py [--docs 1000000] [--files 20] [--workers 2] [--memory-mb 512]

Documents are 60-140 words drawn (Zipf-like) from the sample's vocabulary; 10% are near copies of an earlier
document with one word changed (shingle Jaccard about 0.9). Written once as JSONL shards under
benchmarks/_data/scale/. Prints time, docs/s, peak RSS (sum over processes, and the largest single process)
and the duplicates found against the planted ones. Goal (issue 4): peak RSS under 4 GB for 1 million documents.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def vocabulary() -> pl.Series:
    from dataprep.io import read_frame

    words = read_frame([str(ROOT / "sample_data" / "reference")])
    return (words.select(pl.col("text").str.to_lowercase().str.extract_all(r"[a-z]{2,}")).explode("text")
            .get_column("text").value_counts(sort=True).get_column("text").head(20000))


def generate(folder: Path, n_docs: int, n_files: int, seed: int = 0) -> int:
    """Write the corpus (once); returns the number of planted near copies."""
    marker = folder / f"done-{n_docs}-{n_files}.json"
    if marker.exists():
        return json.loads(marker.read_text())["planted"]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.jsonl"):
        old.unlink()
    rng = np.random.default_rng(seed)
    vocab = vocabulary()
    v = len(vocab)
    lengths = rng.integers(60, 141, n_docs)
    is_copy = rng.random(n_docs) < 0.10
    is_copy[0] = False
    copies = np.flatnonzero(is_copy)
    sources = (rng.random(len(copies)) * copies).astype(np.int64)  # an earlier document
    for i, src in zip(copies.tolist(), sources.tolist(), strict=True):
        lengths[i] = lengths[src]
    offsets = np.r_[0, np.cumsum(lengths)]
    ranks = np.minimum((rng.pareto(1.1, offsets[-1]) * 50).astype(np.int64), v - 1)  # Zipf-like word ranks
    for i, src in zip(copies.tolist(), sources.tolist(), strict=True):  # in order: a copy of a copy is fine
        ranks[offsets[i]:offsets[i + 1]] = ranks[offsets[src]:offsets[src + 1]]
        ranks[offsets[i] + rng.integers(0, lengths[i])] = rng.integers(0, v)  # one word changed: J about 0.9
    planted = len(copies)
    words = vocab.gather(ranks)
    per_file = -(-n_docs // n_files)
    for f in range(n_files):
        lo, hi = f * per_file, min((f + 1) * per_file, n_docs)
        if lo >= hi:
            break
        seg = words.slice(int(offsets[lo]), int(offsets[hi] - offsets[lo]))
        docs = pl.DataFrame({"w": seg}).with_columns(
            pl.Series("d", np.repeat(np.arange(lo, hi), lengths[lo:hi]))).group_by("d", maintain_order=True).agg(
            pl.col("w").str.join(" ").alias("text"))
        docs.select(pl.format("doc-{}", "d").alias("id"), "text").write_ndjson(folder / f"part-{f:04d}.jsonl")
    marker.write_text(json.dumps({"planted": planted}))
    return planted


def tree_rss(pid: int) -> tuple[int, int]:
    """(sum, max) resident set size in bytes over ``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = pages * os.sysconf("SC_PAGE_SIZE")
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children.get(p, []))
    values = [rss.get(p, 0) for p in seen]
    return sum(values), max(values, default=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-mb", type=float, default=512)
    args = ap.parse_args()
    data = HERE / "_data" / "scale"
    start = time.perf_counter()
    planted = generate(data, args.docs, args.files)
    print(f"corpus: {args.docs:,} documents in {args.files} files ({time.perf_counter() - start:.0f} s to "
          f"generate or find), {planted:,} planted near copies")
    recipe = HERE / "_data" / "scale.yaml"
    recipe.write_text(json.dumps({
        "name": "dedup_scale", "seed": 1,
        "sources": [{"name": "gen", "paths": ["scale/"], "format": "jsonl"}],
        "steps": [{"minhash_dedup": {"threshold": 0.8, "memory_mb": args.memory_mb}}],
        "output": {"path": "scale_out"},
    }))
    cmd = [sys.executable, "-m", "dataprep.cli", "run", str(recipe), "-w", str(args.workers), "-q", "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_sum = peak_max = 0
    while proc.poll() is None:
        s, m = tree_rss(proc.pid)
        peak_sum, peak_max = max(peak_sum, s), max(peak_max, m)
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        sys.exit(output[-3000:])
    stats = json.loads((HERE / "_data" / "scale_out" / "stats.json").read_text())
    entry = stats["by_step"]["minhash_dedup"]
    print(f"dataprep run, {args.workers} workers: {seconds:.0f} s, {args.docs / seconds:,.0f} docs/s")
    print(f"peak RSS: {peak_sum / 2**30:.2f} GiB summed over processes, {peak_max / 2**30:.2f} GiB largest "
          f"process (goal: under 4 GB)")
    print(f"near duplicates removed: {entry['duplicates']:,} in {entry['clusters']:,} clusters "
          f"(planted: {planted:,}; candidate pairs {entry['candidate_pairs']:,}, rejected by verification "
          f"{entry['pairs_rejected_by_verification']:,})")


if __name__ == "__main__":
    main()
