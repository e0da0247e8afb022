"""The HTML reader: one document per page, its main text."""

from __future__ import annotations

import json

from conftest import SAMPLE, read


def test_html_files_one_document_each():
    page = sorted((SAMPLE / "html" / "pages").glob("*.html"))[0]
    docs, q = read(page, "html")
    assert docs.height == 1 and q.height == 0
    assert "Some quotes for new users" in docs["text"][0] and "Accept all cookies" not in docs["text"][0]
    assert json.loads(docs["meta"][0]) == {"path": page.name, "extractor": "trafilatura"}
