"""HTML and WARC pages: the URL of an HTML file (canonical link, og:url, base href, or the folder's sidecar) so
that ``url_filter`` acts on it; the fallback that keeps a tiny page trafilatura leaves empty, and
``meta.extractor``; and the bounds checked before extraction: ``max_page_bytes`` (``too_long``) and
``max_depth`` (``too_deep``), tested with small limits (issue 15 item 8, issue 18 item 5)."""

from __future__ import annotations

import gzip
import json
import time

import polars as pl
import pytest
from conftest import read

from dataprep.io.readers.pages import nesting_depth, page_url
from filters.url import URLFilter


def _page(head: str = "", body: str = "<article><p>A paragraph of real text about the sea and its tides, long "
          "enough to be a main text.</p><p>A second paragraph, about boats and the people who sail them.</p>"
          "</article>") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>T</title>{head}</head><body>{body}</body></html>"


def _meta(docs: pl.DataFrame) -> list[dict]:
    return [json.loads(m) for m in docs["meta"]]


# ---- the URL of an HTML file -------------------------------------------------------------------------------------

@pytest.mark.parametrize("head,url,where", [
    ('<link rel="canonical" href="https://news.example.com/a?x=1&amp;y=2"><meta property="og:url" '
     'content="https://og.example.com/a"><base href="https://base.example.com/">',
     "https://news.example.com/a?x=1&y=2", "canonical"),
    ('<link rel="canonical" href="/relative/only"><meta property="og:url" content="https://og.example.com/a">'
     '<base href="https://base.example.com/">', "https://og.example.com/a", "og:url"),
    ("<LINK REL='alternate canonical' HREF='http://upper.example.org/p'>", "http://upper.example.org/p",
     "canonical"),
    ('<meta property="og:url" content="javascript:alert(1)"><base href=https://base.example.com/dir/>',
     "https://base.example.com/dir/", "base"),
    ('<link rel="canonical" href="ftp://files.example.com/x"><base href="//cdn.example.com/">', None, None),
])
def test_url_from_the_page(tmp_path, head, url, where):
    (tmp_path / "p.html").write_text(_page(head), encoding="utf-8")
    docs, q = read(tmp_path / "p.html", "html")
    assert q.height == 0 and docs.height == 1
    meta = _meta(docs)[0]
    assert meta.get("url") == url and meta.get("url_from") == where and meta["path"] == "p.html"


def test_url_in_the_body_is_not_the_page_url():
    assert page_url(_page(body="<link rel=canonical href='https://late.example.com/'><p>x</p>")) == (None, None)


def test_sidecar_maps_file_names_to_urls_and_wins_over_the_page(tmp_path):
    canonical = '<link rel="canonical" href="https://claimed.example.com/">'
    for name in ("a.html", "b.html", "c.html", "d.html"):
        (tmp_path / name).write_text(_page(canonical), encoding="utf-8")
    (tmp_path / "urls.jsonl").write_text("\n".join([
        json.dumps({"file": "a.html", "url": "https://fetched.example.com/a"}),
        "{broken json",
        json.dumps({"file": "c.html", "url": "mailto:someone@example.com"}),  # not http(s): skipped
        json.dumps({"file": "b.html"}),
    ]) + "\n", encoding="utf-8")
    (tmp_path / "urls.tsv").write_text("# file\turl\nb.html\thttps://fetched.example.com/b\n"
                                       "a.html\thttps://second.example.com/a\nno tab here\n", encoding="utf-8")
    got = {}
    for name in ("a.html", "b.html", "c.html", "d.html"):
        docs, q = read(tmp_path / name, "html")
        got[name] = (_meta(docs)[0].get("url"), _meta(docs)[0].get("url_from"))
    assert got == {"a.html": ("https://fetched.example.com/a", "sidecar"),  # jsonl first
                   "b.html": ("https://fetched.example.com/b", "sidecar"),
                   "c.html": ("https://claimed.example.com/", "canonical"),
                   "d.html": ("https://claimed.example.com/", "canonical")}
    # the sidecar, handed to the reader by a glob, is not a page
    for side in ("urls.jsonl", "urls.tsv"):
        docs, q = read(tmp_path / side, "html")
        assert docs.height == 0 and q.height == 0
    # a changed sidecar is read again
    (tmp_path / "urls.jsonl").write_text(json.dumps({"file": "d.html", "url": "https://new.example.com/d"}) + "\n")
    assert _meta(read(tmp_path / "d.html", "html")[0])[0]["url"] == "https://new.example.com/d"


def test_url_filter_acts_on_html_files(tmp_path):
    (tmp_path / "good.html").write_text(_page('<link rel="canonical" href="https://docs.example.org/guide">'))
    (tmp_path / "bad.html").write_text(_page('<meta property="og:url" content="https://casino.example.net/x">'))
    docs = pl.concat([read(tmp_path / n, "html")[0] for n in ("good.html", "bad.html")])
    kept, rejected = URLFilter(blocked_domains=["casino.example.net"]).split(docs)
    assert kept["id"].to_list() == ["s/good.html"] and rejected["id"].to_list() == ["s/bad.html"]


# ---- the fallback and meta.extractor ------------------------------------------------------------------------------

TINY = ("<html><head><title>Opening hours</title></head><body><div id='comments'>"
        "<p>We open at seven every weekday.</p><p>On Sundays we bake to order only.</p></div></body></html>")


def test_tiny_page_trafilatura_leaves_empty_is_kept_by_the_fallback(tmp_path):
    (tmp_path / "tiny.html").write_text(TINY)
    docs, q = read(tmp_path / "tiny.html", "html")
    assert docs["text"].to_list() == ["We open at seven every weekday.\nOn Sundays we bake to order only."]
    assert _meta(docs)[0]["extractor"] == "fallback" and q.height == 0
    off, _ = read(tmp_path / "tiny.html", "html", fallback=False)  # without it: the empty text the step rejects
    assert off["text"].to_list() == [""] and _meta(off)[0]["extractor"] == "trafilatura"


def test_extractor_named_in_meta(tmp_path):
    (tmp_path / "p.html").write_text(_page())
    for name in ("trafilatura", "resiliparse"):
        docs, _ = read(tmp_path / "p.html", "html", extractor=name)
        assert "boats" in docs["text"][0] and _meta(docs)[0]["extractor"] == name
    side = _page(body="<div class='sidebar'><p>All of it sits in a sidebar.</p><p>Still the page's text.</p></div>")
    (tmp_path / "side.html").write_text(side)
    docs, _ = read(tmp_path / "side.html", "html", extractor="resiliparse")
    assert "sidebar" in docs["text"][0] and _meta(docs)[0]["extractor"] in ("resiliparse", "fallback")


# ---- bounds before extraction -------------------------------------------------------------------------------------

def _big_page(n_bytes: int) -> str:
    para = "<p>Tides rise and fall twice a day along this coast, and the harbour follows them.</p>\n"
    return _page(body=para * (n_bytes // len(para)))


def test_page_over_max_page_bytes_is_quarantined_unread(tmp_path):
    big = _big_page(3 << 20)  # 3 MB against a 4 KB limit: refused before trafilatura could spend seconds on it
    (tmp_path / "big.html").write_text(big)
    (tmp_path / "small.html").write_text(_page())
    t = time.perf_counter()
    docs, q = read(tmp_path / "big.html", "html", max_page_bytes=4096)
    assert time.perf_counter() - t < 2
    assert docs.height == 0 and q["kind"].to_list() == ["too_long"]
    assert q["file"][0] == "big.html" and "big.html" in q["error"][0] and "max_page_bytes" in q["error"][0]
    assert q["raw_bytes"][0] == len(big.encode()) and len(q["raw"][0]) <= 4096
    docs, q = read(tmp_path / "small.html", "html", max_page_bytes=4096)
    assert docs.height == 1 and q.height == 0
    # compressed: its size is not known without reading on, so the reader stops at the limit
    (tmp_path / "big.html.gz").write_bytes(gzip.compress(big.encode(), mtime=0))
    docs, q = read(tmp_path / "big.html.gz", "html", max_page_bytes=4096)
    assert q["kind"].to_list() == ["too_long"] and "more than 4,097 bytes" in q["error"][0]


def test_default_limit_keeps_ordinary_pages(tmp_path):
    (tmp_path / "p.html").write_text(_big_page(200_000))
    docs, q = read(tmp_path / "p.html", "html", extractor="resiliparse")
    assert docs.height == 1 and q.height == 0


def _nested(depth: int, tag: str = "div") -> str:
    return _page(body=f"<{tag}>" * depth + "<p>deep text</p>" + f"</{tag}>" * depth)


def test_page_nested_too_deep_is_quarantined(tmp_path):
    # Resiliparse's extraction is super-linear in depth; here 3,000 levels against a limit of 100
    (tmp_path / "deep.html").write_text(_nested(3000))
    t = time.perf_counter()
    docs, q = read(tmp_path / "deep.html", "html", extractor="resiliparse", max_depth=100)
    assert time.perf_counter() - t < 2
    assert docs.height == 0 and q["kind"].to_list() == ["too_deep"]
    assert "deep.html" in q["error"][0] and "3,00" in q["error"][0] and "max_depth" in q["error"][0]
    (tmp_path / "ok.html").write_text(_nested(50))
    docs, q = read(tmp_path / "ok.html", "html", extractor="resiliparse", max_depth=100)
    assert docs["text"].to_list() == ["deep text"] and q.height == 0


def test_nesting_depth_counts_only_elements_that_nest():
    assert nesting_depth(_nested(700).encode()) == 700  # the divs; html, body and p have optional end tags
    flat = ("<p>a" * 2000 + "<ul>" + "<li>x" * 2000 + "</ul><table>" + "<tr><td>1<td>2" * 1000 + "</table>"
            + "<br><img src=x>" * 1000 + "<svg>" + "<path d='M0'/>" * 3000 + "</svg>"
            + "<script>" + "'<div>'+" * 3000 + "</script><!--" + "<div>" * 3000 + "-->" + "</div>" * 5000)
    assert nesting_depth(_page(body=flat).encode()) <= 3  # ul, table, svg: none of the thousands above nests


def _warc(records: list[tuple[str, bytes]]) -> bytes:
    out = []
    for i, (url, html) in enumerate(records):
        http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
                % len(html)) + html
        head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{i:012d}>\r\n"
                f"WARC-Date: 2024-03-01T12:00:00Z\r\nWARC-Target-URI: {url}\r\n"
                f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n").encode()
        out.append(head + http + b"\r\n\r\n")
    return b"".join(out)


def test_warc_bounds_and_extractor_meta(tmp_path):
    path = tmp_path / "c.warc"
    path.write_bytes(_warc([("https://a.example.com/", _page().encode()),
                            ("https://big.example.com/", _big_page(1 << 20).encode()),
                            ("https://deep.example.com/", _nested(2000).encode()),
                            ("https://tiny.example.com/", TINY.encode()),
                            ("https://b.example.com/", _page().encode())]))
    docs, q = read(path, "warc", max_page_bytes=64 << 10, max_depth=100)
    meta = _meta(docs)
    assert [m["url"] for m in meta] == ["https://a.example.com/", "https://tiny.example.com/", "https://b.example.com/"]
    assert [m["extractor"] for m in meta] == ["trafilatura", "fallback", "trafilatura"]
    assert q["kind"].to_list() == ["too_long", "too_deep"] and q["row"].to_list() == [2, 3]
    assert "big.example.com" in q["error"][0] and "deep.example.com" in q["error"][1]


def test_bad_option_values_are_refused():
    from dataprep.io.readers.base import check_options

    assert check_options("html", {"max_page_bytes": "big"}) is not None
    assert check_options("warc", {"max_depth": 100, "fallback": False}) is None
