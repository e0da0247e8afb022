"""Main-text extraction from HTML: Resiliparse against trafilatura on the sample pages, in one run.

    python benchmarks/html_extract.py [--repeat 5]

Pages: ``sample_data/html/pages/*.html`` (48 pages in 7 languages over three site templates with navigation,
sidebars, cookie banners, comments and scripts; UTF-8, windows-1252 and Shift_JIS), built by
``sample_data/build_llama.py`` together with ``truth.jsonl``, the main text each page was built from.

For each extractor, through the same code the WARC/HTML reader runs (:func:`dataprep.io.readers.pages.extractor`, after
:func:`dataprep.io.readers.pages.decode_html`): pages/s and MB/s of HTML on one core, and word-level precision, recall
and F1 against the truth (multisets of lower-cased words: precision = the share of extracted words that
belong to the main text, recall = the share of the main text that was extracted), micro-averaged over pages,
with the share of pages whose recall is under 0.5 (main text lost). Resiliparse runs twice: with its
main-content heuristics and without (all visible text). Prints the ratio of the two speeds.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

from dataprep.io.readers.pages import decode_html, extractor

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "sample_data" / "html"
WORD = re.compile(r"\w+", re.UNICODE)
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def words(text: str) -> Counter:
    """Lower-cased words; CJK characters count one each (those scripts have no spaces)."""
    out: Counter = Counter()
    for w in WORD.findall(text.lower()):
        if CJK.search(w):
            out.update(CJK.findall(w))
            rest = CJK.sub(" ", w).split()
            out.update(rest)
        else:
            out[w] += 1
    return out


def score(name: str, pages: list[tuple[bytes, str]], repeat: int, main_content: bool = True) -> dict[str, float]:
    run = extractor(name, main_content)
    texts = [decode_html(raw) for raw, _ in pages]
    outputs = [run(t) for t in texts]  # warm-up, and the outputs scored below
    start = time.perf_counter()
    for _ in range(repeat):
        for t in texts:
            run(t)
    seconds = (time.perf_counter() - start) / repeat
    tp = fp = fn = 0
    lost = 0
    for out, (_, truth) in zip(outputs, pages, strict=True):
        got, want = words(out), words(truth)
        inter = sum((got & want).values())
        tp += inter
        fp += sum(got.values()) - inter
        fn += sum(want.values()) - inter
        lost += inter < 0.5 * sum(want.values())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    mb = sum(len(raw) for raw, _ in pages) / 1e6
    return {"pages_s": len(pages) / seconds, "mb_s": mb / seconds, "precision": p, "recall": r,
            "f1": 2 * p * r / max(p + r, 1e-9), "lost": lost / len(pages)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    truth = [json.loads(line) for line in (PAGES / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    pages = [((PAGES / "pages" / t["file"]).read_bytes(), t["text"]) for t in truth]
    print(f"{len(pages)} pages, {sum(len(r) for r, _ in pages) / 1e6:.2f} MB of HTML, one core, "
          f"{args.repeat} timed passes\n")
    print(f"{'extractor':<13}{'pages/s':>9}{'MB/s':>8}{'precision':>11}{'recall':>8}{'F1':>7}{'lost':>7}")
    results = {}
    for label, name, main in (("resiliparse", "resiliparse", True), ("resiliparse*", "resiliparse", False),
                              ("trafilatura", "trafilatura", True)):
        r = results[label] = score(name, pages, args.repeat, main)
        print(f"{label:<13}{r['pages_s']:>9.0f}{r['mb_s']:>8.2f}{r['precision']:>11.3f}{r['recall']:>8.3f}"
              f"{r['f1']:>7.3f}{r['lost']:>7.2f}")
    ratio = results["resiliparse"]["pages_s"] / results["trafilatura"]["pages_s"]
    print("\nresiliparse*: main_content false (all visible text). lost: share of pages with recall under 0.5")
    print(f"resiliparse (main content) is {ratio:.1f}x trafilatura's speed")


if __name__ == "__main__":
    main()
