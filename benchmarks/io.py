"""Spine throughput: read + write MB/s of `dataprep run` (no steps) against plain pyarrow on the same files.

    python benchmarks/io.py [--mb 200] [--workers 1] [--gzip]

Generates a JSONL file and a Parquet file of web-like documents (text about 1-3 KB, with url and date
metadata) under benchmarks/_data, then times, in this one process and run:

- baseline: ``pyarrow.json.read_json`` (or ``pyarrow.parquet.read_table``) and an Arrow IPC file write;
  with ``--gzip`` also the JSONL file gzip-compressed (pyarrow decompresses it with zlib, dataprep with ISA-L
  where the ``fast`` extra is installed);
- dataprep: cleaning (``dataprep.execution.run.clean``) on a one-source recipe with no steps (readers, id/meta
  handling, read checks, accounting, atomic shard writes, stats), same worker count.

Prints MB/s of input text for each (best run) and two ratios dataprep / pyarrow (goal: at least 0.8): of the
best runs, and the median over interleaved pairs. This VM's disk and page cache make single runs vary by up to
2x; the two ratios disagreeing says a run was noisy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from dataprep.recipe import load_recipe

HERE = Path(__file__).resolve().parent
WORDS = ("the of and to in is was for on that with as by at from his her an were are which this be "
         "data model training corpus token language document filter quality web page text").split()


def generate(folder: Path, mb: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    jsonl, parquet = folder / f"docs-{mb}mb.jsonl", folder / f"docs-{mb}mb.parquet"
    if jsonl.exists() and parquet.exists():
        return jsonl, parquet
    rng = random.Random(0)
    rows, size = [], 0
    while size < mb * 1_000_000:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(150, 500)))
        rec = {"url": f"https://example.com/{len(rows)}", "date": "2024-05-01", "text": text}
        rows.append(rec)
        size += len(text) + 60
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    return jsonl, parquet


def gzipped(jsonl: Path) -> Path:
    """The JSONL file gzip-compressed (level 6, as gzip's default), made once."""
    path = jsonl.with_name(jsonl.name + ".gz")
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        with open(jsonl, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 16 << 20)
        tmp.rename(path)
    return path


def baseline(path: Path, out: Path) -> float:
    t = time.perf_counter()
    table = pq.read_table(path) if path.suffix == ".parquet" else pajson.read_json(path)  # .gz: decompressed
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    return time.perf_counter() - t


def ours(path: Path, out: Path, workers: int) -> tuple[float, int]:
    from dataprep.execution.run import clean

    path, out = path.resolve(), out.resolve()
    recipe_path = out.parent / f"bench-{path.name.split('.', 1)[1].replace('.', '-')}.yaml"
    recipe_path.write_text(f"sources:\n  - name: bench\n    paths: [{path}]\noutput:\n  path: {out}\n")
    recipe = load_recipe(recipe_path)
    t = time.perf_counter()
    result = clean(recipe, workers=workers, overwrite=True, quiet=True)
    return time.perf_counter() - t, result.stats["bytes"]["input"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gzip", action="store_true", help="also time the JSONL file gzip-compressed")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="where both sides write (default benchmarks/_data; /dev/shm takes the disk out)")
    args = ap.parse_args()
    data = HERE / "_data"
    out_dir = args.out_dir or data
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl, parquet = generate(data, args.mb)
    inputs = [jsonl, parquet] + ([gzipped(jsonl)] if args.gzip else [])
    print(f"{'input':<10} {'pyarrow MB/s':>13} {'dataprep MB/s':>14} {'best/best':>10} {'paired':>7}   (MB/s of the "
          f"best run of each; paired: median ratio of interleaved runs; {args.workers} worker(s); output in "
          f"{out_dir})")
    for path in inputs:
        pairs = []
        for _ in range(args.repeat):  # interleaved, so both sides see the same disk and page-cache weather
            base_t = baseline(path, out_dir / "baseline.arrow")
            our_t, nbytes = ours(path, out_dir / "out", args.workers)
            pairs.append((base_t, our_t, nbytes))
        base_t = min(p[0] for p in pairs)
        our_t = min(p[1] for p in pairs)
        nbytes = pairs[0][2]
        ratio = sorted(p[0] / p[1] for p in pairs)[len(pairs) // 2]
        print(f"{path.name.split('.', 1)[1]:<10} {nbytes / base_t / 1e6:>13.1f} {nbytes / our_t / 1e6:>14.1f} "
              f"{base_t / our_t:>10.2f} {ratio:>7.2f}")
    shutil.rmtree(out_dir / "out", ignore_errors=True)
    (out_dir / "baseline.arrow").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
