"""The table of formats: detection, folder units, option checks and the known formats all come from it."""

from __future__ import annotations

import pytest

from dataprep.io.readers import FORMATS, KNOWN_FORMATS, Format, check_options, detect_format, register
from dataprep.io.readers.base import EXTENSIONS, folder_units


def test_known_formats_are_the_table_in_registration_order():
    assert KNOWN_FORMATS == ("jsonl", "parquet", "arrow", "text", "warc", "html", "latex", "stackexchange",
                             "mediawiki")
    assert tuple(FORMATS) == KNOWN_FORMATS


@pytest.mark.parametrize("name,fmt", [
    ("a.jsonl", "jsonl"), ("a.NDJSON", "jsonl"), ("a.json.gz", "jsonl"), ("a.jsonl.zst", "jsonl"),
    ("a.parquet", "parquet"), ("a.pq", "parquet"), ("a.feather", "arrow"), ("a.ipc", "arrow"),
    ("a.md", "text"), ("a.txt.bz2", "text"), ("a.warc.gz", "warc"), ("a.htm", "html"), ("a.tex", "latex"),
    ("Posts.xml", None), ("a.7z", None), ("a", None), ("a.gz", None),
])
def test_detect_format_from_the_extensions_formats_registered(name, fmt):
    assert detect_format(name) == fmt
    if fmt is not None:
        assert any(name.lower().split(".")[1] == ext[1:] for ext in FORMATS[fmt].extensions)


def test_only_latex_takes_a_folder_as_one_unit():
    assert [f.name for f in FORMATS.values() if f.folder_units is not None] == ["latex"]
    assert folder_units(None) is None and folder_units("nope") is None


def test_check_options_from_the_table():
    assert check_options("jsonl", {}) is None
    assert check_options("warc", {"extractor": "resiliparse", "main_content": False}) is None
    assert check_options("stackexchange", {"site": "x", "memory_mb": 64}) is None
    assert "takes no 'options'" in check_options("jsonl", {"a": 1})
    assert "takes no 'options'" in check_options(None, {"a": 1})
    assert check_options("warc", {"nope": 1}) == ("format warc has no option 'nope'; it takes: extractor, "
                                                  "main_content, max_page_bytes, max_depth, fallback")
    assert check_options("stackexchange", {"memory_mb": True}).startswith("option 'memory_mb' must be int")
    assert check_options("html", {"extractor": "bad"}) == (
        "option 'extractor' must be resiliparse or trafilatura, got 'bad'")
    # a type error is reported before a value outside the choices
    assert check_options("html", {"extractor": "bad", "main_content": 1}).startswith("option 'main_content'")


def test_a_format_or_an_extension_registers_once():
    with pytest.raises(ValueError, match="registered twice"):
        register(Format("jsonl", FORMATS["jsonl"].read))
    with pytest.raises(ValueError, match="already format 'jsonl'"):
        register(Format("other", FORMATS["jsonl"].read, extensions=(".ndjson",)))
    assert "other" not in FORMATS and EXTENSIONS[".ndjson"] == "jsonl"
