"""Throughput of the per-source cleaners on the samples, one core, with a per-document baseline where one exists.

    python benchmarks/cleaners.py [--copies 200]

Each sample (``sample_data/build_llama.py``) is read once and repeated ``--copies`` times, so that per-batch
costs are amortized as on a real dump. Prints documents/s and MB/s of input text per cleaner, and:

- ``wiki_clean`` against mwparserfromhell's ``strip_code()`` (the per-document parser many pipelines use;
  ``pip install mwparserfromhell``; skipped without it), same pages, as a ratio;
- ``latex_clean``: the share of its time spent in the per-paper Python macro expansion (the one part with no
  vectorized form);
- ``post_html_to_text`` (StackExchange bodies) against the same rules applied one post at a time with Python's
  ``re`` and ``html.unescape`` (outputs checked equal).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse  # noqa: E402
import html  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

from dataprep.io.readers import ReadOptions, read_file  # noqa: E402
from filters import LatexClean, StackExchangeFormat, URLFilter, WikiClean  # noqa: E402
from filters.latex import expand_macros, parse_macros  # noqa: E402
from filters.markup import POST_RULES, post_html_to_text  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def read(path: Path, fmt: str) -> pl.DataFrame:
    chunks = list(read_file(path, path.name, ReadOptions(source="s", format=fmt)))
    return pl.from_arrow(pa.concat_tables([c.docs for c in chunks]))


def timed(fn, *args) -> float:
    fn(*args)  # warm-up
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def line(name: str, df: pl.DataFrame, seconds: float, extra: str = "") -> None:
    mb = df.get_column("text").str.len_bytes().sum() / 1e6
    print(f"{name:<22}{df.height / seconds:>12,.0f}{mb / seconds:>9.1f}  {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=200)
    args = ap.parse_args()
    k = args.copies
    wiki = pl.concat([read(SAMPLE / "wiki" / "sample-pages-articles.xml.bz2", "mediawiki")] * k)
    arxiv = pl.concat([read(p, "latex") for p in sorted((SAMPLE / "arxiv").iterdir())] * k)
    se = pl.concat([read(SAMPLE / "stackexchange" / "unix.stackexchange.com" / "Posts.xml", "stackexchange")] * k)
    web = pl.concat([read(SAMPLE / "warc" / "crawl-00000.warc.gz", "warc")] * k)
    print(f"one core, samples x{k}\n{'cleaner':<22}{'docs/s':>12}{'MB/s':>9}")

    t = timed(WikiClean().split, wiki)
    try:
        import mwparserfromhell as mw

        texts = wiki.get_column("text").to_list()
        base = timed(lambda: [mw.parse(x).strip_code() for x in texts])
        line("wiki_clean", wiki, t, f"mwparserfromhell strip_code: {wiki.height / base:,.0f} docs/s; "
                                    f"ratio {base / t:.1f}x")
    except ImportError:
        line("wiki_clean", wiki, t, "(mwparserfromhell not installed: no baseline)")

    t = timed(LatexClean().split, arxiv)
    texts = arxiv.get_column("text").to_list()
    macro = timed(lambda: [expand_macros(*parse_macros(x)) for x in texts])
    line("latex_clean", arxiv, t, f"per-paper macro expansion: {macro / t:.0%} of the time")

    t = timed(StackExchangeFormat().split, se)
    line("stackexchange_format", se, t)
    bodies = se.get_column("text")
    ours = timed(post_html_to_text, bodies)
    ours_out = post_html_to_text(bodies)
    rules = [(re.compile(p), r.replace("\\", "\\\\")) for p, r in POST_RULES]
    rules += [(re.compile(r"(?s)<!--.*?-->"), ""), (re.compile(r"</?[A-Za-z][^<>]*>"), "")]
    trailing, blank = re.compile(r"[ \t\u00a0]+\n"), re.compile(r"\n{3,}")

    def one(b: str) -> str:  # the same rules, one post at a time with Python's re and html.unescape
        for rx, rep in rules:
            b = rx.sub(rep, b)
        return blank.sub("\n\n", trailing.sub("\n", html.unescape(b))).strip()

    plain = bodies.to_list()
    assert [one(b) for b in plain[:200]] == ours_out.head(200).to_list()
    base = timed(lambda: [one(b) for b in plain])
    print(f"{'  post_html_to_text':<22}{len(plain) / ours:>12,.0f}{'':>9}  the same rules per post (re, "
          f"html.unescape): {len(plain) / base:,.0f} posts/s; ratio {base / ours:.1f}x")

    t = timed(URLFilter().split, web)
    line("url_filter", web, t)


if __name__ == "__main__":
    main()
