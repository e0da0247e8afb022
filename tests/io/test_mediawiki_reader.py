"""The MediaWiki reader: one document per page of a pages-articles dump, its fields in meta; malformed XML."""

from __future__ import annotations

import json

from conftest import SAMPLE, read


def test_mediawiki_reader_on_sample():
    docs, q = read(SAMPLE / "wiki" / "sample-pages-articles.xml.bz2", "mediawiki")
    assert docs.height == 28 and q.height == 0
    assert docs["id"].head(3).to_list() == ["s/101", "s/102", "s/103"]
    assert set(json.loads(docs["meta"][0])) == {"ns", "page_id", "redirect", "timestamp", "title"}


def test_mediawiki_pages_redirects_and_malformed_xml(tmp_path):
    path = tmp_path / "dump.xml"
    path.write_bytes(b"<mediawiki><page><title>T</title><ns>0</ns><id>1</id><revision><timestamp>t</timestamp>"
                     b"<text>x y</text></revision></page><page><title>R</title><ns>x</ns><redirect title='T'/>"
                     b"<revision><text>#R</text></revision></page><page><title>B")
    docs, q = read(path, "mediawiki")
    assert docs["id"].to_list() == ["s/1", "s/dump.xml#2"]  # a page without an id is named by its position
    assert docs["text"].to_list() == ["x y", "#R"]
    assert [json.loads(m) for m in docs["meta"]] == [
        {"ns": 0, "page_id": 1, "redirect": None, "timestamp": "t", "title": "T"},
        {"ns": None, "page_id": None, "redirect": "T", "timestamp": None, "title": "R"}]
    assert q["kind"].to_list() == ["xml_error"] and q["line"].to_list() == [1]
    assert "after page 2" in q["error"][0]
