"""End to end against datatrove: a FineWeb-like chain run by ``dataprep run`` and by datatrove's own executor on
the same documents, one core each, from JSONL on disk to deduplicated documents on disk (datatrove writes
JSONL, ours Parquet).

    python benchmarks/pipeline.py [--docs 20000] [--datatrove-python PATH] [--repeat 2]

The chain is the filtering and deduplication part of datatrove's FineWeb example (examples/fineweb.py):
URL filter, fastText language ID (English, score >= 0.65), Gopher repetition, Gopher quality, C4 with
``filter_no_terminal_punct=False`` (FineWeb's choice), FineWeb's quality rules, then MinHash near-duplicate
removal (datatrove: its four MinHash stages, signatures, buckets, clusters, filter; ours: ``minhash_dedup``).
Each side uses its own defaults for everything not named here (datatrove's MinHash: 14 bands x 8 rows,
5-grams; ours: 128 permutations, J >= 0.8, verified), so the kept counts differ a little; both are printed.

Documents: the distinct paragraphs of the bundled web-like samples (web pages, reference excerpts, forum pages,
notes, crawl), split by fastText into English prose (score >= 0.8, 8 words or more) and
other languages, shuffled with a fixed seed and regrouped into
``--docs`` pages of 3 to 12 consecutive paragraphs on made-up hosts: 70% English pages, 30% in other languages,
10% near copies of earlier pages, 1% URLs on blocked words; written as four JSONL files. Extraction from HTML
is left out on both sides (trafilatura dominates both equally; benchmarks/html_extract.py measures it).

Both sides run as separate processes (start-up included) on one core: ``dataprep run --workers 1`` with
``POLARS_MAX_THREADS=1``; datatrove's ``LocalPipelineExecutor(tasks=1, workers=1)`` in its own environment
(``--datatrove-python``, by default benchmarks/_data/dtvenv, created as benchmarks/filter_speed.py does) through
``benchmarks/_datatrove_pipeline.py``, its language model pointed at the shipped lid.176.ftz and its URL
filter's public-suffix list kept offline. Both URL filters use datatrove's lists (the UT1 domain block-list
and its word lists). Wall time is the best of ``--repeat`` runs of each, interleaved.
Prints docs/s per side and the ratio (goal of issue 18: at least 10x).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLES = ["web", "reference", "contacts", "notes", "crawl"]
BLOCKED_WORDS = ["casino", "porn", "xxx"]


def build_corpus(n_docs: int, folder: Path, seed: int = 0) -> int:
    """Write ``n_docs`` pages as four JSONL files under ``folder``; returns the bytes of text written."""
    sys.path.insert(0, str(ROOT))
    import polars as pl

    from dataprep.io import read_frame
    from filters import LanguageFilter

    docs = read_frame([str(ROOT / "sample_data" / s) for s in SAMPLES])
    paras = pl.DataFrame({"text": sorted({p.strip() for t in docs.get_column("text").to_list()
                                          for p in t.split("\n\n") if p.strip()})})
    paras = LanguageFilter().annotate(paras).with_columns(words=pl.col("text").str.count_matches(r"\s+") + 1)
    prose = (pl.col("lang") == "en") & (pl.col("lang_score") >= 0.8) & (pl.col("words") >= 8)
    other = (pl.col("lang") != "en") & (pl.col("lang_score") >= 0.5)
    pools = [paras.filter(prose).get_column("text").to_list(), paras.filter(other).get_column("text").to_list()]
    rng = random.Random(seed)
    for pool in pools:
        rng.shuffle(pool)
    folder.mkdir(parents=True, exist_ok=True)
    pages: list[dict] = []
    total = 0
    for i in range(n_docs):
        if pages and rng.random() < 0.10:  # a near copy: an earlier page with one paragraph replaced
            base = rng.choice(pages)["text"].split("\n\n")
            base[rng.randrange(len(base))] = rng.choice(pools[0])
            text = "\n\n".join(base)
        else:
            paragraphs = pools[rng.random() < 0.3]  # 70% English pages, 30% in the samples' other languages
            start = rng.randrange(len(paragraphs))
            text = "\n\n".join(paragraphs[(start + k) % len(paragraphs)] for k in range(rng.randint(3, 12)))
        host = f"site{rng.randrange(500)}.example.{rng.choice(['com', 'org', 'net', 'info'])}"
        word = rng.choice(BLOCKED_WORDS) if rng.random() < 0.01 else "page"
        pages.append({"id": f"doc-{i}", "text": text, "url": f"https://{host}/{word}/{i}"})
        total += len(text.encode())
    for part in range(4):
        with open(folder / f"part-{part}.jsonl", "w", encoding="utf-8") as fh:
            for page in pages[part::4]:
                fh.write(json.dumps(page, ensure_ascii=False) + "\n")
    return total


RECIPE = """\
name: pipeline_bench
seed: 1
sources:
  - name: web
    paths: [{input}]
    format: jsonl
steps:
  - url_filter:                    # datatrove's lists (UT1 domains, its word lists), so both block the same
      blocklist_file: {blocklist}
      banned_words_file: {assets}/banned_words.txt
      soft_words_file: {assets}/soft_banned_words.txt
  - language: {{languages: [en], min_score: 0.65}}
  - gopher_repetition
  - gopher_quality
  - c4: {{filter_no_terminal_punct: false}}
  - fineweb_quality
  - minhash_dedup
output:
  path: {output}
  format: parquet
"""


def datatrove_lists(python: str, folder: Path) -> tuple[Path, Path]:
    """datatrove's URL lists, so that our ``url_filter`` checks the same: its assets folder, and the UT1
    ``domains`` member of its block-list archive extracted as a file."""
    assets = Path(subprocess.run([python, "-c", "import datatrove, os; print(os.path.join("
                                  "os.path.dirname(datatrove.__file__), 'assets'))"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    blocklist = folder / "ut1_domains.txt"
    if not blocklist.exists():
        with tarfile.open(assets / "url_filterblacklistsv0_3_0.tar.gz") as tar:
            member = tar.getmember("domains")  # the one member read, by name: nothing else is extracted
            blocklist.write_bytes(tar.extractfile(member).read())
    return assets, blocklist


def run_ours(input_dir: Path, work: Path, assets: Path, blocklist: Path) -> tuple[float, int]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    recipe = work / "recipe.yaml"
    out = work / "out"
    recipe.write_text(RECIPE.format(input=input_dir, output=out, assets=assets, blocklist=blocklist))
    env = {**os.environ, "POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dataprep.cli", "run", str(recipe), "--workers", "1", "--quiet"],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"dataprep run failed:\n{proc.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    return seconds, int(stats["counts"]["kept"])


def run_datatrove(python: str, input_dir: Path, work: Path) -> tuple[float, int]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    from filters.language import LID_MODEL

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TLDEXTRACT_CACHE": str(work / "tld")}
    start = time.perf_counter()
    proc = subprocess.run([python, str(HERE / "_datatrove_pipeline.py"), str(input_dir), str(work), str(LID_MODEL)],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"datatrove side failed:\n{proc.stderr[-3000:]}")
    return seconds, int(json.loads(proc.stdout.strip().splitlines()[-1])["kept"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--datatrove-python", default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from filter_speed import datatrove_env

    data = HERE / "_data" / "pipeline"
    input_dir = data / "input"
    shutil.rmtree(input_dir, ignore_errors=True)
    size = build_corpus(args.docs, input_dir)
    python = datatrove_env(args.datatrove_python)
    assets, blocklist = datatrove_lists(python, data)
    print(f"{args.docs:,} documents, {size / 1e6:.1f} MB of text; one core each, best of {args.repeat}")
    ours_s = dt_s = float("inf")
    ours_kept = dt_kept = 0
    for _ in range(args.repeat):
        seconds, ours_kept = run_ours(input_dir, data / "ours", assets, blocklist)
        ours_s = min(ours_s, seconds)
        seconds, dt_kept = run_datatrove(python, input_dir, data / "datatrove")
        dt_s = min(dt_s, seconds)
    print(f"\n{'':<12}{'seconds':>10}{'docs/s':>10}{'kept':>8}")
    print(f"{'dataprep':<12}{ours_s:>10.1f}{args.docs / ours_s:>10,.0f}{ours_kept:>8,}")
    print(f"{'datatrove':<12}{dt_s:>10.1f}{args.docs / dt_s:>10,.0f}{dt_kept:>8,}")
    print(f"\nratio (dataprep / datatrove docs/s): {dt_s / ours_s:.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
