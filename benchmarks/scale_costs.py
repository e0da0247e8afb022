"""Per-core rates behind the cost model of docs/scale.md: what one core does per second in each phase of a run
with every global step, and how many key bytes each global step moves per document (the shuffle volume).

    python benchmarks/scale_costs.py [--docs 20000] [--out /tmp/scale-costs]

One process, one thread (``POLARS_MAX_THREADS=1``, Arrow's pools at 1), as each worker of the local and Ray
executors runs. Documents: web-like JSONL built from the ASCII lines of sample_data/web (English prose lines, so
that the quality filters keep most documents): a navigation line (one of 200 sample lines) first, 8-20 sample
lines drawn at random, half the time a footer (one of 50); 5% are exact and 5% near copies (one word changed)
of an earlier document. Phases:

- ``read``: the JSONL reader alone (``dataprep.io.read_file``);
- ``read+filters``: the reader, then ``gopher_repetition``, ``gopher_quality``, ``c4`` and ``fineweb_quality``;
- ``keys <step>``: the step's ``keys`` on the documents (what workers compute before a global fit);
- ``fit <step>``: the step's ``fit_files`` over key files as tasks write them (8 files), in this process.

Prints docs/s and MB/s (of document text) per phase, and the key bytes per document of each global step's key
files (Arrow IPC, as the executor writes them).
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

pa.set_cpu_count(1)
pa.set_io_thread_count(1)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataprep.execution.plan import ORD_SHIFT  # noqa: E402
from dataprep.io import ReadOptions, read_file  # noqa: E402
from dataprep.registry import get_step  # noqa: E402

FILTERS = ["gopher_repetition", "gopher_quality", "c4", "fineweb_quality"]
GLOBAL = ["exact_dedup", "paragraph_dedup", "minhash_dedup"]
KEY_FILES = 8
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "web"


def _prose(line: str) -> bool:
    """An English prose line: ASCII, five words or more, nine in ten with a letter (no tables, no code)."""
    words = line.split()
    return line.isascii() and len(words) >= 5 and sum(any(c.isalpha() for c in w) for w in words) >= 0.9 * len(words)


def corpus(path: Path, n: int, seed: int = 0) -> int:
    """Write ``n`` web-like documents made of sample_data/web's lines to ``path`` (JSONL); returns the text
    bytes."""
    rng = np.random.default_rng(seed)
    pool = [line for f in sorted(SAMPLE.iterdir()) for text in read_all(f)["text"].to_list()
            for line in text.split("\n") if _prose(line)]
    nav = [pool[i] for i in rng.integers(len(pool), size=200)]
    foot = [pool[i] for i in rng.integers(len(pool), size=50)]
    texts: list[str] = []
    total = 0
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            r = rng.random()
            if texts and r < 0.05:
                text = texts[rng.integers(len(texts))]
            elif texts and r < 0.10:
                words = texts[rng.integers(len(texts))].split(" ")
                words[rng.integers(len(words))] = "changed"
                text = " ".join(words)
            else:
                lines = [nav[rng.integers(200)]] + [pool[j] for j in rng.integers(len(pool), size=rng.integers(8, 21))]
                if rng.random() < 0.5:
                    lines.append(foot[rng.integers(50)])
                text = "\n".join(lines)
                if len(texts) < 20_000:
                    texts.append(text)
            total += len(text.encode())
            fh.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    return total


def read_all(path: Path) -> pl.DataFrame:
    chunks = list(read_file(path, path.name, ReadOptions(source="web")))
    return pl.from_arrow(pa.concat_tables([c.docs for c in chunks]))


def timed(fn):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/scale-costs"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    src = args.out / "docs.jsonl"
    text_bytes = corpus(src, args.docs)
    n = args.docs
    rows = []

    def report(phase: str, seconds: float) -> None:
        rows.append((phase, n / seconds, text_bytes / seconds / 1e6, seconds))

    read_all(src)  # warm the page cache and the imports
    df, s = timed(lambda: read_all(src))
    report("read", s)
    filters = [get_step(name)() for name in FILTERS]

    def read_and_filter() -> pl.DataFrame:
        out = read_all(src)
        for step in filters:
            out, _rejected, _counters = step.run_polars(out)
        return out

    read_and_filter()
    kept, s = timed(read_and_filter)
    report("read+filters (" + ", ".join(FILTERS) + ")", s)

    key_bytes = {}
    for name in GLOBAL:
        step = get_step(name)()
        keys, s = timed(lambda step=step: step.keys(df))
        report(f"keys {name}", s)
        table = keys if "id" in keys.columns else pl.concat([df.select("id"), keys], how="horizontal")
        folder = args.out / name
        folder.mkdir()
        files = []
        bounds = np.linspace(0, table.height, KEY_FILES + 1).astype(int)
        for i in range(KEY_FILES):
            path = folder / f"{i:05d}.arrow"
            with pa.ipc.new_file(str(path), table.to_arrow().schema) as writer:
                writer.write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]).to_arrow())
            files.append((i, path))
        key_cols = [c for c in table.columns if c.startswith("_k")]
        key_bytes[name] = table.select(key_cols).estimated_size() / n
        work = args.out / f"{name}.tmp"
        (decisions, stats), s = timed(lambda step=step, files=files, work=work: step.fit_files(files, ORD_SHIFT, work))
        report(f"fit {name} ({decisions.height:,} decisions)", s)

    print(f"{n:,} documents, {text_bytes / 1e6:.1f} MB of text ({text_bytes / n:,.0f} bytes a document), "
          f"{kept.height:,} kept by the filters; one thread")
    print(f"{'phase':<78} {'docs/s':>10} {'MB/s':>8} {'s':>7}")
    for phase, dps, mbps, s in rows:
        print(f"{phase:<78} {dps:>10,.0f} {mbps:>8.2f} {s:>7.2f}")
    print("key bytes a document (Arrow key columns, what a global step's key files hold besides the id):")
    for name, b in key_bytes.items():
        print(f"  {name:<16} {b:,.0f}")


if __name__ == "__main__":
    main()
