"""Recompute tests/golden/heuristics.json from tests/golden/texts.json with the reference implementation
(datatrove 0.10.1 with spaCy's English tokenizer; its C4 filter set to the TFDS defaults).

Run it in a separate environment (datatrove pins xxhash<4, so it never enters the package's own):

    python -m venv /tmp/dtvenv && /tmp/dtvenv/bin/pip install "datatrove[io,processing]" spacy
    /tmp/dtvenv/bin/python tests/golden/make_golden.py
"""

import json
import re
from pathlib import Path

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
)
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION, split_into_words

HERE = Path(__file__).parent


def outcome(result) -> str | None:
    return None if result is True else result[1]


def quality(text: str, words: list[str]) -> dict:
    nsw = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
    lines = text.splitlines()
    return {
        "gopher_words": len(nsw),
        "gopher_avg_word_length": float(np.mean([len(w) for w in nsw])),
        "gopher_hash_ratio": text.count("#") / len(words),
        "gopher_ellipsis_ratio": (text.count("...") + text.count("…")) / len(words),
        "gopher_bullet_lines": sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines),
        "gopher_ellipsis_lines": sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines),
        "gopher_alpha_words": sum(any(c.isalpha() for c in w) for w in words) / len(words),
        "gopher_stop_words": len(set(STOP_WORDS).intersection(set(words))),
    }


def repetition(text: str, words: list[str]) -> dict:
    paragraphs = re.split(r"\n{2,}", text.strip())
    para_dup, para_chars = find_duplicates(paragraphs)
    lines = re.split("\n+", text)
    line_dup, line_chars = find_duplicates(lines)
    out = {"gopher_dup_para_frac": para_dup / len(paragraphs), "gopher_dup_para_char_frac": para_chars / len(text),
           "gopher_dup_line_frac": line_dup / len(lines), "gopher_dup_line_char_frac": line_chars / len(text)}
    for n in (2, 3, 4):
        grams = get_n_grams(words, n)
        out[f"gopher_top_{n}_gram"] = find_top_duplicate(grams) / len(text) if grams else 0.0
    for n in range(5, 11):
        out[f"gopher_dup_{n}_gram"] = find_all_duplicate(words, n) / len(text)
    return out


def fineweb(text: str, words: list[str]) -> dict:
    lines = [line for line in text.split("\n") if line.strip() != ""]
    return {
        "fineweb_line_punct": sum(1 for line in lines if line.endswith(tuple(TERMINAL_PUNCTUATION))) / len(lines),
        "fineweb_short_lines": sum(1 for line in lines if len(line) <= 30) / len(lines),
        "fineweb_dup_line_chars": find_duplicates(lines)[1] / len(text.replace("\n", "")),
        "fineweb_newline_ratio": text.count("\n") / len(words),
    }


def main() -> None:
    texts = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))
    values = {}
    for name, text in texts.items():
        words = split_into_words(text)
        c4_doc = Document(text=text, id=name)
        c4 = C4QualityFilter(min_num_sentences=3, min_words_per_line=5).filter(c4_doc)  # TFDS defaults
        values[name] = {
            "tokens": words,
            "quality": quality(text, words),
            "repetition": repetition(text, words),
            "fineweb": fineweb(text, words),
            "gopher_quality_reason": outcome(GopherQualityFilter().filter(Document(text=text, id=name))),
            "gopher_repetition_reason": outcome(GopherRepetitionFilter().filter(Document(text=text, id=name))),
            "fineweb_reason": outcome(FineWebQualityFilter(char_duplicates_ratio=0.1).filter(
                Document(text=text, id=name))),
            "c4_reason": outcome(c4),
            "c4_text": c4_doc.text if c4 is True else None,
        }
    doc = {"generated_by": "datatrove 0.10.1 (spaCy English tokenizer), tests/golden/make_golden.py",
           "texts": texts, "values": values}
    (HERE / "heuristics.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
