"""Per-source cleaners: repository licences and generated paths for code, Project Gutenberg boilerplate."""

from __future__ import annotations

import json

import polars as pl
from conftest import ROOT, run_cli

from filters import GutenbergClean, LicenseFilter


def _code() -> pl.DataFrame:
    df = pl.read_ndjson(ROOT / "sample_data" / "code" / "files.jsonl")
    return df.select(pl.col("path").alias("id"), "text",
                     pl.struct("path", "repo", "license").struct.json_encode().alias("meta"))


def test_license_filter_allow_list_and_generated_paths():
    kept, rejected = LicenseFilter().split(_code())
    assert dict(zip(rejected["id"], rejected["reason"], strict=True)) == {
        "api/v1/service.pb.go": "generated_path", "static/app.min.js": "generated_path",
        "data/table.csv.py": "license_not_allowed"}  # GPL-3.0 is not in LLaMA's Apache/BSD/MIT list
    assert set(kept["license"]) == {"MIT", "Apache-2.0"}
    loose = pl.DataFrame({"id": ["a", "b", "c", "d"], "text": ["x"] * 4, "meta": [
        json.dumps({"license": "apache 2.0"}), json.dumps({"license": "bsd_3_clause"}),
        json.dumps({"license": "MIT License"}), json.dumps({})]})
    kept, rejected = LicenseFilter().split(loose)
    assert kept["id"].to_list() == ["a", "b", "c"] and rejected["reason"].to_list() == ["no_license"]
    assert LicenseFilter(keep_unknown=True)(loose).height == 4
    assert LicenseFilter(allow=["GPL-3.0"])(_code())["id"].to_list() == ["data/table.csv.py"]


BOOK = """The Project Gutenberg eBook of Tiny Tales

This ebook is for the use of anyone anywhere in the United States and most other parts of the world.

*** START OF THE PROJECT GUTENBERG EBOOK TINY TALES ***

CHAPTER I

Once upon a time there was a small cat.

*** END OF THE PROJECT GUTENBERG EBOOK TINY TALES ***

Updated editions will replace the previous one--the old editions will be renamed.
"""
OLD_BOOK = """The Project Gutenberg EBook of Old Tales, by Anonymous

*END*THE SMALL PRINT! FOR PUBLIC DOMAIN EBOOKS*Ver.02/11/02*END*

It was a dark night.

End of the Project Gutenberg EBook of Old Tales, by Anonymous
"""


def test_gutenberg_header_and_footer_removed():
    mention = "A text that only mentions Project Gutenberg in passing."
    only_markers = "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n*** END OF THE PROJECT GUTENBERG EBOOK X ***"
    df = pl.DataFrame({"text": [BOOK, OLD_BOOK, mention, only_markers]})
    kept, rejected, counters = GutenbergClean().run_polars(df)
    assert kept["text"].to_list() == ["CHAPTER I\n\nOnce upon a time there was a small cat.", "It was a dark night.",
                                      mention]
    assert rejected["reason"].to_list() == ["empty_after_cleanup"]
    assert counters == {"headers_removed": 3, "footers_removed": 3}


def test_code_recipe_uses_the_license_filter(tmp_path):
    run_cli("run", "recipes/code.yaml", "-o", str(tmp_path / "o"), "-q")
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["by_reason"]["license_filter/license_not_allowed"] == 1
    assert stats["by_reason"]["license_filter/generated_path"] == 2
