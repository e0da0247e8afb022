"""Helper of benchmarks/pipeline.py, run inside a separate environment that has datatrove (never dataprep's own).
Runs the filtering and MinHash part of datatrove's FineWeb example with its own ``LocalPipelineExecutor``
(``tasks=1, workers=1``: one core) on JSONL files, and prints ``{"kept": N}``.

    python _datatrove_pipeline.py INPUT_DIR WORK_DIR LID_MODEL

The language filter's fastText model is the local lid.176.ftz instead of a download, and the URL filter's
tldextract is given no suffix-list URLs (its bundled snapshot), so nothing reaches the network.
"""

import json
import sys
from pathlib import Path

import tldextract
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def run(pipeline: list, logs: Path) -> None:
    LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1, logging_dir=str(logs), skip_completed=False).run()


def main() -> None:
    input_dir, work, lid_model = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    import datatrove.utils.lid as lid

    lid.cached_asset_path_or_download = lambda *args, **kwargs: lid_model  # the executor deep-copies the steps
    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    url_filter = URLFilter()
    url_filter.tldextractor = tldextract.TLDExtract(suffix_list_urls=())
    filtered = work / "filtered"
    run([
        JsonlReader(str(input_dir), glob_pattern="*.jsonl", id_key="id",
                    adapter=lambda self, data, path, idx: {"text": data["text"], "id": data["id"],
                                                           "metadata": {"url": data["url"]}}),
        url_filter,
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(str(filtered)),
    ], work / "logs" / "filter")
    sigs, buckets, clusters = work / "signatures", work / "buckets", work / "clusters"
    run([JsonlReader(str(filtered)), MinhashDedupSignature(output_folder=str(sigs))], work / "logs" / "sigs")
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=str(sigs), output_folder=str(buckets))],
                          tasks=14, workers=1, logging_dir=str(work / "logs" / "buckets"),
                          skip_completed=False).run()  # one task per bucket, as datatrove's example runs it
    run([MinhashDedupCluster(input_folder=str(buckets), output_folder=str(clusters))], work / "logs" / "clusters")
    final = work / "final"
    run([JsonlReader(str(filtered)), MinhashDedupFilter(input_folder=str(clusters)), JsonlWriter(str(final))],
        work / "logs" / "final")
    kept = sum(1 for f in final.glob("*.jsonl*") for _ in __import__("gzip").open(f, "rt"))
    print(json.dumps({"kept": kept}))


if __name__ == "__main__":
    main()
