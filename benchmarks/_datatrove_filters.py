"""Helper of benchmarks/filter_speed.py, run inside a separate environment that has datatrove (never dataprep's own:
datatrove pins xxhash<4). Reads documents from a JSONL file, times each datatrove filter on them, one thread,
and prints JSON: wall and CPU seconds (``time.process_time``) and the keep/drop decision (with reason) per
document and filter.

    python _datatrove_filters.py DOCS.jsonl LID_MODEL [FILTER,FILTER...]
"""

import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
)


def main() -> None:
    docs_path, lid_model = sys.argv[1], sys.argv[2]
    texts = [json.loads(line)["text"] for line in open(docs_path, encoding="utf-8")]
    language = LanguageFilter(languages=None, language_threshold=0.65)
    from fasttext.FastText import _FastText

    language.model._model = _FastText(lid_model)  # the local lid.176.ftz instead of a download
    filters = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),  # datatrove defaults: min 5 sentences, 3 words per line (swapped vs TFDS)
        "c4_tfds": C4QualityFilter(min_num_sentences=3, min_words_per_line=5),
        "fineweb_quality": FineWebQualityFilter(char_duplicates_ratio=0.1),
        "fineweb_quality_dt_default": FineWebQualityFilter(),
        "language": language,
    }
    if len(sys.argv) > 3:
        filters = {k: v for k, v in filters.items() if k in sys.argv[3].split(",")}
    for f in filters.values():  # warm up: load tokenizers and models outside the timed loop
        f.filter(Document(text="Warm up the tokenizer. It is loaded lazily.", id="w"))
    out = {}
    for name, f in filters.items():
        decisions = []
        start, start_cpu = time.perf_counter(), time.process_time()
        for i, text in enumerate(texts):
            res = f.filter(Document(text=text, id=str(i)))
            decisions.append(None if res is True else (res[1] if isinstance(res, tuple) else "dropped"))
        out[name] = {"seconds": time.perf_counter() - start, "cpu": time.process_time() - start_cpu,
                     "decisions": decisions}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
