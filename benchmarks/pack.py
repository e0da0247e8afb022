"""Packing throughput and memory: tokens/s of ``dataprep pack`` against raw ``Tokenizer.encode_batch`` on the
same text in the same run, and peak RSS while packing a generated corpus of several GB.

    python benchmarks/pack.py [--gb 3] [--vocab 32000]

1. Throughput: the sample's web pages cycled to 50 MB, written as Arrow shards; the tokenizer is trained once
   on the sample. Raw: ``encode_batch`` over the same texts in batches of 1,024 (tokens only, nothing
   written). Ours: ``pack`` end to end (read, encode, EOS, uint16 write, document index, fsync, manifest).
   Goal: at least 0.9 of raw.
2. Memory: ``--gb`` of generated text (sample words, Zipf-like) in Arrow shards, packed in a subprocess whose
   resident memory is sampled every 0.2 s. Goal: flat, under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from dataprep.io import read_frame
from dataprep.pack import encode, load_tokenizer, pack
from dataprep.tokenizer import train_bpe

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data" / "pack"


def write_shards(folder: Path, texts: pl.Series, per_shard: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(texts), per_shard):
        chunk = texts.slice(i, per_shard)
        table = pa.table({"id": [f"d{i + j}" for j in range(len(chunk))], "text": chunk.to_arrow(),
                          "source": pa.array(["gen"] * len(chunk))})
        with pa.OSFile(str(folder / f"part-{i // per_shard:05d}.arrow"), "wb") as sink, \
                ipc.new_file(sink, table.schema) as w:
            w.write_table(table)


def throughput(tok_path: Path) -> None:
    web = read_frame([str(ROOT / "sample_data" / "web")]).get_column("text")
    reps = int(50e6 // max(web.str.len_bytes().sum(), 1)) + 1
    texts = pl.concat([web] * reps)
    folder = DATA / "tput"
    shutil.rmtree(folder, ignore_errors=True)
    write_shards(folder, texts, 5000)
    tok = load_tokenizer(tok_path)
    as_list = texts.to_list()
    start = time.perf_counter()
    raw_tokens = sum(len(ids) for i in range(0, len(as_list), 1024) for ids in encode(tok, as_list[i:i + 1024]))
    raw_s = time.perf_counter() - start
    out = DATA / "tput_out"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    m = pack([str(folder)], tok_path, out, seq_len=2048, val_fraction=0.005, quiet=True)
    ours_s = time.perf_counter() - start
    ours_tokens = m["splits"]["train"]["n_tokens"] + m["splits"]["val"]["n_tokens"] - len(as_list)  # minus EOS
    assert ours_tokens == raw_tokens, (ours_tokens, raw_tokens)
    print(f"throughput on {texts.str.len_bytes().sum() / 1e6:.0f} MB ({len(as_list):,} documents, "
          f"{raw_tokens:,} tokens): raw encode_batch {raw_tokens / raw_s:,.0f} tokens/s, dataprep pack "
          f"{raw_tokens / ours_s:,.0f} tokens/s: ratio {raw_s / ours_s:.2f} (goal >= 0.9)")


def peak_rss_of(cmd: list[str]) -> tuple[float, float, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, samples, start = 0, [], time.perf_counter()
    while proc.poll() is None:
        try:
            rss = int(Path(f"/proc/{proc.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            break
        peak = max(peak, rss)
        samples.append(rss)
        time.sleep(0.2)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        sys.exit(out[-2000:])
    return peak, time.perf_counter() - start, out


def memory(tok_path: Path, gb: float) -> None:
    folder = DATA / f"gen-{gb:g}gb"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        words = read_frame([str(ROOT / "sample_data" / "reference")]).select(
            pl.col("text").str.extract_all(r"\S+")).explode("text").get_column("text").unique().sort()
        rng = np.random.default_rng(0)
        per_doc, written, shard = 400, 0, 0
        while written < gb * 1e9:
            n_docs = 20_000
            ranks = np.minimum((rng.pareto(1.2, n_docs * per_doc) * 30).astype(np.int64), len(words) - 1)
            flat = words.gather(ranks)
            docs = pl.DataFrame({"w": flat, "d": np.repeat(np.arange(n_docs), per_doc)}).group_by(
                "d", maintain_order=True).agg(pl.col("w").str.join(" ")).get_column("w")
            write_shards(folder / f"s{shard:04d}", docs, n_docs)
            for p in (folder / f"s{shard:04d}").iterdir():
                p.rename(folder / f"part-{shard:05d}.arrow")
            (folder / f"s{shard:04d}").rmdir()
            written += int(docs.str.len_bytes().sum())
            shard += 1
        (folder / "done").write_text(str(written))
    size = int((folder / "done").read_text())
    out = DATA / "mem_out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "dataprep.cli", "pack", "--input", str(folder), "--tokenizer", str(tok_path),
           "--seq-len", "2048", "-o", str(out), "-q"]
    peak, seconds, _ = peak_rss_of(cmd)
    m = json.loads((out / "manifest.json").read_text())
    tokens = m["splits"]["train"]["n_tokens"] + m["splits"]["val"]["n_tokens"]
    print(f"memory: packed {size / 1e9:.1f} GB of text ({tokens:,} tokens) in {seconds:.0f} s "
          f"({tokens / seconds:,.0f} tokens/s); peak RSS {peak / 2**30:.2f} GiB (goal: under 2 GB)")
    shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=3.0)
    ap.add_argument("--vocab", type=int, default=32000)
    args = ap.parse_args()
    tok_path = DATA / f"tokenizer-{args.vocab}.json"
    if not tok_path.exists():
        train_bpe([str(ROOT / "sample_data" / "web"), str(ROOT / "sample_data" / "reference")], args.vocab, tok_path)
    throughput(tok_path)
    memory(tok_path, args.gb)


if __name__ == "__main__":
    main()
