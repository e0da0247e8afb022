"""Global steps at corpus scale: generated documents through ``dataprep run`` on this machine, with the peak
resident memory of the whole process tree (main process and workers) sampled every 0.2 s.

    python benchmarks/dedup_scale.py [--docs 1000000] [--files 20] [--workers 2] [--memory-mb 512]
    python benchmarks/dedup_scale.py --steps all --docs 10000000 --files 40 [--memory-mb 1024]

``--steps minhash`` (the default): MinHash dedup alone. Documents are 60-140 words drawn (Zipf-like) from the
sample's vocabulary; 10% are near copies of an earlier document with one word changed (shingle Jaccard about
0.9). Written once as JSONL shards under benchmarks/_data/scale/. Goal (issue 4): peak RSS under 4 GB for
1 million documents.

``--steps all``: every global step, ``exact_dedup``, ``minhash_dedup`` and ``paragraph_dedup`` (in that order,
each with ``memory_mb``), over short documents (benchmarks/_data/scale-all/): a navigation line (one of 200), a
body of 25-40 Zipf-drawn words, and half the time a footer line (one of 50); 5% are exact copies of an earlier
document (half of them upper-cased: the normalized keys collide), 5% near copies (an earlier document with one
word appended at its end, shingle Jaccard about 0.97). Every navigation and footer line after its first occurrence is a
planted repeated line. Goal (issue 18 item 11): 10 million documents with peak RSS under 4 GB.

Prints time, docs/s, peak RSS (sum over the process tree, and the largest single process, from the samples and
from ``getrusage``) and, per step, what it removed against what was planted.

``--fit-only exact|paragraph``: the main process's part alone, at sizes a full run on this machine does not
reach in minutes: key files as the workers would write them (ids, ``exact_dedup``'s 128-bit hashes with 10%
planted copies, or ``paragraph_dedup``'s per-line hashes: a navigation line of 200, a unique body line, half the
time a footer of 50) under benchmarks/_data/fit-keys/, then the step's ``fit_files`` in a child process whose
peak RSS is sampled. ``--memory-mb`` is the step's bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a well-mixed 64-bit hash of each value (uint64 arithmetic wraps)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uniform(x: np.ndarray, salt: int) -> np.ndarray:
    return (_mix64(x * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt)) >> np.uint64(11)).astype(np.float64) / 2**53


def generate_all(folder: Path, n_docs: int, n_files: int, seed: int = 0) -> dict[str, int]:
    """Write the short-document corpus of ``--steps all`` (once); returns what was planted.

    A document is (content, near, header, footer): its body is a function of ``content`` alone (word ``k`` of
    content ``c`` is a Zipf-like rank hashed from ``(c, k)``), so a file is built without the others; ``near``
    (a document number, or -1) appends one word hashed from it. An exact copy takes the whole tuple of an
    earlier document, a near copy its content and lines with its own ``near``."""
    marker = folder / f"done-{n_docs}-{n_files}-{seed}.json"
    if marker.exists():
        return json.loads(marker.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.jsonl"):
        old.unlink()
    rng = np.random.default_rng(seed)
    vocab = vocabulary()
    v = len(vocab)
    kind = rng.random(n_docs)
    exact, near = kind < 0.05, (kind >= 0.05) & (kind < 0.10)
    exact[0] = near[0] = False
    src = (rng.random(n_docs) * np.arange(n_docs)).astype(np.int64)  # an earlier document
    content = np.arange(n_docs, dtype=np.int64)
    near_of = np.where(near, np.arange(n_docs), -1)
    header = rng.integers(0, 200, n_docs)
    footer = np.where(rng.random(n_docs) < 0.5, rng.integers(0, 50, n_docs), -1)
    upper = exact & (rng.random(n_docs) < 0.5)
    copies = np.flatnonzero(exact | near)
    # resolve copies of copies in corpus order: an exact copy is its source's tuple, a near copy its source's
    # content and lines (sources are earlier, so one ordered pass is enough, in blocks of independent rows)
    for i in copies.tolist():
        s = src[i]
        content[i], header[i], footer[i] = content[s], header[s], footer[s]
        if exact[i]:
            near_of[i] = near_of[s]
            upper[i] = upper[i] or bool(upper[s])
    words = vocab.to_numpy()

    def line(pool: int, salt: int, count: int) -> list[str]:
        ids = np.repeat(np.arange(pool), count)
        ranks = (_uniform(ids.astype(np.uint64) * np.uint64(977) + np.tile(np.arange(count), pool).astype(
            np.uint64), salt) * 2000).astype(np.int64)
        return [" ".join(words[ranks[p * count:(p + 1) * count]]) for p in range(pool)]

    headers = pl.Series([f"Home | {x.title()} | Contact" for x in line(200, 1, 5)])
    footers = pl.Series([f"Copyright {x} - all rights reserved" for x in line(50, 2, 4)])
    per_file = -(-n_docs // n_files)
    for f in range(n_files):
        lo, hi = f * per_file, min((f + 1) * per_file, n_docs)
        if lo >= hi:
            break
        c = content[lo:hi].astype(np.uint64)
        lengths = 25 + (_mix64(c) % np.uint64(16)).astype(np.int64)
        doc = np.repeat(np.arange(hi - lo), lengths)
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        k = np.arange(len(doc)) - starts[doc]
        u = _uniform(np.repeat(c, lengths) * np.uint64(64) + k.astype(np.uint64), 3)
        ranks = np.minimum(((1 - u) ** (-1 / 1.1) - 1) * 50, v - 1).astype(np.int64)  # Pareto(1.1) as above
        body = (pl.DataFrame({"d": doc, "w": vocab.gather(ranks)}).group_by("d", maintain_order=True)
                .agg(pl.col("w").str.join(" ")).get_column("w"))
        nf = near_of[lo:hi]
        extra = vocab.gather((_mix64(np.maximum(nf, 0).astype(np.uint64) + np.uint64(7)) % np.uint64(v)
                              ).astype(np.int64))
        ft = footer[lo:hi]
        frame = pl.DataFrame({"d": np.arange(lo, hi), "h": headers.gather(header[lo:hi]), "b": body,
                              "x": extra, "near": nf >= 0, "f": footers.gather(np.maximum(ft, 0)),
                              "hasf": ft >= 0, "up": upper[lo:hi]})
        text = pl.concat_str([pl.col("h"), pl.lit("\n"), pl.col("b"),
                              pl.when(pl.col("hasf")).then(pl.lit("\n") + pl.col("f")).otherwise(pl.lit("")),
                              pl.when(pl.col("near")).then(pl.lit(" ") + pl.col("x")).otherwise(pl.lit(""))])
        text = pl.when(pl.col("up")).then(text.str.to_uppercase()).otherwise(text)
        frame.select(pl.format("doc-{}", "d").alias("id"), text.alias("text")).write_ndjson(
            folder / f"part-{f:04d}.jsonl")
    # repeated lines paragraph_dedup should remove: navigation and footer lines after their first use, in
    # documents that neither exact nor MinHash dedup removes
    alive = ~(exact | near)
    nav_repeats = int(alive.sum() - len(np.unique(header[alive])))
    foot = footer[alive & (footer >= 0)]
    planted = {"exact": int(exact.sum()), "near": int(near.sum()),
               "repeated_lines": nav_repeats + int(len(foot) - len(np.unique(foot)))}
    marker.write_text(json.dumps(planted))
    return planted


def write_key_files(folder: Path, step: str, n_docs: int, n_files: int) -> tuple[list[tuple[int, Path]], int]:
    """Key files of ``n_docs`` documents for ``step`` (once); returns them and the planted removals."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    folder = folder / f"{step}-{n_docs}-{n_files}"
    marker = folder / "done.json"
    per_file = -(-n_docs // n_files)
    files = [(t, folder / f"task-{t:05d}.arrow") for t in range(n_files) if t * per_file < n_docs]
    if marker.exists():
        return files, json.loads(marker.read_text())["planted"]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    if step == "exact":
        is_copy = rng.random(n_docs) < 0.10
        is_copy[0] = False
        content = np.arange(n_docs, dtype=np.int64)
        src = (rng.random(n_docs) * np.arange(n_docs)).astype(np.int64)
        content[is_copy] = src[is_copy]
        while True:  # a copy of a copy has its source's content
            nxt = content[content]
            if np.array_equal(nxt, content):
                break
            content = nxt
        planted = int(is_copy.sum())
    else:
        header = rng.integers(0, 200, n_docs)
        footer = np.where(rng.random(n_docs) < 0.5, rng.integers(0, 50, n_docs), -1)
        planted = int(n_docs - 200 + (footer >= 0).sum() - 50)
    for t, path in files:
        lo, hi = t * per_file, min((t + 1) * per_file, n_docs)
        ids = pa.array([f"doc-{i}" for i in range(lo, hi)])
        if step == "exact":
            c = content[lo:hi].astype(np.uint64)
            cols = {"id": ids, "_k1": pa.array(_mix64(c)), "_k2": pa.array(_mix64(c ^ np.uint64(0x5EED)))}
        else:
            h = header[lo:hi].astype(np.uint64)
            f = footer[lo:hi]
            has_f = f >= 0
            lengths = 2 + has_f.astype(np.int64)
            values = np.zeros(lengths.sum(), dtype=np.uint64)
            starts = np.r_[0, np.cumsum(lengths)[:-1]]
            values[starts] = _mix64(h + np.uint64(1 << 40))
            values[starts + 1] = _mix64(np.arange(lo, hi, dtype=np.uint64) + np.uint64(1 << 50))
            values[(starts + 2)[has_f]] = _mix64(f[has_f].astype(np.uint64) + np.uint64(1 << 45))
            offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32))
            lens = rng.integers(10, 200, len(values)).astype(np.uint32)
            cols = {"id": ids, "_kpara": pa.ListArray.from_arrays(offsets, pa.array(values)),
                    "_kparalen": pa.ListArray.from_arrays(offsets, pa.array(lens))}
        table = pa.table(cols)
        with ipc.new_file(str(path), table.schema) as w:
            w.write_table(table, max_chunksize=65536)
    marker.write_text(json.dumps({"planted": planted}))
    return files, planted


def fit_only(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    files, planted = write_key_files(HERE / "_data" / "fit-keys", args.fit_only, args.docs, args.files)
    print(f"key files: {args.docs:,} documents in {len(files)} files ({time.perf_counter() - start:.0f} s to "
          f"write or find), {planted:,} planted removals")
    if args.child:
        from dataprep.dedup import ExactDedup, ParagraphDedup

        step = (ExactDedup if args.fit_only == "exact" else ParagraphDedup)(memory_mb=args.memory_mb)
        work = HERE / "_data" / "fit-work"
        t0 = time.perf_counter()
        decisions, stats = step.fit_files(files, 40, work)
        seconds = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        removed = (decisions.height if args.fit_only == "exact"
                   else int(decisions.get_column("remove").list.len().sum() or 0))
        print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "removed": removed,
                          "partitions": stats.get("partitions")}))
        return
    cmd = [sys.executable, __file__, "--fit-only", args.fit_only, "--docs", str(args.docs), "--files",
           str(args.files), "--memory-mb", str(args.memory_mb), "--child"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid)[0])
        time.sleep(0.1)
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        sys.exit(output[-3000:])
    result = json.loads(output.strip().splitlines()[-1])
    rusage_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"{args.fit_only}_dedup fit_files, memory_mb {args.memory_mb:g}: {result['seconds']:.0f} s "
          f"({args.docs / result['seconds']:,.0f} docs/s; the process used {result['cpu']:.0f} CPU-s in all), "
          f"{result['partitions']} partitions, peak RSS "
          f"{max(peak, rusage_max) / 2**30:.2f} GiB (process start included); removed {result['removed']:,} "
          f"(planted {planted:,})")


def _rss(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


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
    ap.add_argument("--steps", choices=["minhash", "all"], default="minhash")
    ap.add_argument("--fit-only", choices=["exact", "paragraph"], default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fit_only:
        fit_only(args)
        return
    start = time.perf_counter()
    if args.steps == "all":
        data, out = HERE / "_data" / "scale-all", "scale_all_out"
        planted = generate_all(data, args.docs, args.files)
        print(f"corpus: {args.docs:,} documents in {args.files} files ({time.perf_counter() - start:.0f} s to "
              f"generate or find), planted: {planted['exact']:,} exact copies, {planted['near']:,} near copies, "
              f"{planted['repeated_lines']:,} repeated lines")
        steps = [{"exact_dedup": {"memory_mb": args.memory_mb}},
                 {"minhash_dedup": {"threshold": 0.8, "memory_mb": args.memory_mb}},
                 {"paragraph_dedup": {"memory_mb": args.memory_mb}}]
    else:
        data, out = HERE / "_data" / "scale", "scale_out"
        planted = {"near": generate(data, args.docs, args.files)}
        print(f"corpus: {args.docs:,} documents in {args.files} files ({time.perf_counter() - start:.0f} s to "
              f"generate or find), {planted['near']:,} planted near copies")
        steps = [{"minhash_dedup": {"threshold": 0.8, "memory_mb": args.memory_mb}}]
    recipe = HERE / "_data" / f"{out}.yaml"
    recipe.write_text(json.dumps({
        "name": "dedup_scale", "seed": 1,
        "sources": [{"name": "gen", "paths": [f"{data.name}/"], "format": "jsonl"}],
        "steps": steps, "output": {"path": out},
    }))
    cmd = [sys.executable, "-m", "dataprep.cli", "run", str(recipe), "-w", str(args.workers), "-q", "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_sum = peak_max = peak_main = 0
    while proc.poll() is None:
        s, m = tree_rss(proc.pid)
        peak_sum, peak_max = max(peak_sum, s), max(peak_max, m)
        peak_main = max(peak_main, _rss(proc.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        sys.exit(output[-3000:])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage_max = usage.ru_maxrss * 1024  # largest process, exact peak
    stats = json.loads((HERE / "_data" / out / "stats.json").read_text())
    print(f"dataprep run, {args.workers} workers: {seconds:.0f} s, {args.docs / seconds:,.0f} docs/s; "
          f"{usage.ru_utime + usage.ru_stime:.0f} CPU-s over the process tree (load average "
          f"{os.getloadavg()[1]:.1f} over the last 5 minutes on {os.cpu_count()} cores)")
    print(f"peak RSS: {peak_sum / 2**30:.2f} GiB summed over processes (sampled every 0.2 s), "
          f"{max(peak_max, rusage_max) / 2**30:.2f} GiB largest process, {peak_main / 2**30:.2f} GiB the main "
          f"process (goal: under 4 GB)")
    by_step = stats["by_step"]
    if "exact_dedup" in by_step:
        print(f"exact_dedup: {by_step['exact_dedup']['duplicates']:,} duplicates removed (planted exact copies: "
              f"{planted['exact']:,})")
    entry = by_step["minhash_dedup"]
    print(f"minhash_dedup: {entry['duplicates']:,} near duplicates removed in {entry['clusters']:,} clusters "
          f"(planted: {planted['near']:,}; candidate pairs {entry['candidate_pairs']:,}, rejected by verification "
          f"{entry['pairs_rejected_by_verification']:,})")
    if "paragraph_dedup" in by_step:
        counters = by_step["paragraph_dedup"].get("counters", {})
        print(f"paragraph_dedup: {counters.get('units_removed', 0):,} repeated lines removed from "
              f"{counters.get('documents_edited', 0):,} documents (planted repeated lines: "
              f"{planted['repeated_lines']:,})")


if __name__ == "__main__":
    main()
