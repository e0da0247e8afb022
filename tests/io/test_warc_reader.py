"""The WARC reader on the sample crawl: which records are documents, what is quarantined, truncated files."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from conftest import SAMPLE, read


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_warc_reader_pages_and_records_that_are_not_pages(extractor):
    docs, q = read(SAMPLE / "warc" / "crawl-00000.warc.gz", "warc", extractor=extractor)
    truth = [json.loads(x) for x in (SAMPLE / "html" / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    # every response that is an HTML page is a document; warcinfo, request and metadata records are not
    assert docs.height == len(truth) + 4
    meta = pl.DataFrame([json.loads(m) for m in docs["meta"]])
    assert set(meta["status"]) == {200} and meta["date"].unique().to_list() == ["2024-03-01T12:00:00Z"]
    assert meta["url"].head(len(truth)).to_list() == [t["url"] for t in truth]
    assert docs["id"].str.starts_with("urn:uuid:").all()
    assert sorted(q["kind"]) == ["http_status", "http_status", "not_html", "not_html"]
    assert any("application/pdf" in e for e in q["error"]) and any("status 301" in e for e in q["error"])
    # windows-1252 (German) and Shift_JIS (declared only in <meta>) pages decode to the right characters
    texts = dict(zip(meta["url"], docs["text"], strict=True))
    for t in truth:
        if t["lang"] in ("de", "ja"):
            first = t["text"].split("\n")[2][:12]
            assert first in texts[t["url"]], (t["url"], first)
    assert "Copyright 2024 Example Media" not in texts[truth[1]["url"]]  # footer boilerplate left out


def test_warc_truncated_stream_keeps_records_before_the_damage(tmp_path):
    raw = (SAMPLE / "warc" / "crawl-00000.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    docs, q = read(cut, "warc")
    full, _ = read(SAMPLE / "warc" / "crawl-00000.warc.gz", "warc")
    assert 5 < docs.height < 40
    assert docs["text"].to_list() == full["text"].head(docs.height).to_list()  # whole pages only
    assert q["kind"].to_list() == ["truncated_record"] and "the file ends inside the record" in q["error"][0]
    plain = tmp_path / "cut.warc"
    plain.write_bytes(gzip.decompress(raw)[: len(gzip.decompress(raw)) // 2])
    docs, q = read(plain, "warc")
    assert q["kind"].to_list() == ["truncated_record"]
