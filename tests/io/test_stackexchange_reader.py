"""The StackExchange reader: malformed XML and rows without an id, and the dump's .7z archive read as it comes."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import SAMPLE, read


def se_docs(**options) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read(SAMPLE / "stackexchange" / "unix.stackexchange.com" / "Posts.xml", "stackexchange", **options)


def test_stackexchange_malformed_xml_and_rows_without_id(tmp_path):
    path = tmp_path / "site" / "Posts.xml"
    path.parent.mkdir()
    path.write_text('<posts>\n<row Id="1" PostTypeId="1" Title="T" Body="&lt;p&gt;q&lt;/p&gt;" />\n'
                    '<row PostTypeId="2" Body="no id" />\n<row Id="3" PostTypeId="2" ParentId="1" Body="a" '
                    'Score="x" />\n<row Id="4" <broken\n</posts>\n')
    docs, q = read(path, "stackexchange")
    assert docs["id"].to_list() == ["site/1"]
    assert sorted(q["kind"]) == ["bad_row", "xml_error"]
    assert q.filter(pl.col("kind") == "bad_row")["line"][0] == 3
    assert q.filter(pl.col("kind") == "xml_error")["line"][0] == 5


def test_stackexchange_read_from_the_dumps_7z_archive(tmp_path):
    """The public dump's .7z is read as it comes: the same documents as its extracted Posts.xml, the site named
    from the archive (``site.7z`` or ``site-Posts.7z``); an archive without Posts.xml, or a damaged one, is
    quarantined with the reason."""
    py7zr = pytest.importorskip("py7zr")
    posts = SAMPLE / "stackexchange" / "unix.stackexchange.com" / "Posts.xml"
    docs, _ = se_docs()
    for name in ("unix.stackexchange.com.7z", "unix.stackexchange.com-Posts.7z"):
        archive = tmp_path / name
        with py7zr.SevenZipFile(archive, "w") as z:
            z.write(posts, "Posts.xml")
            z.writestr(b"<users />", "Users.xml")
        from_7z, q = read(archive, "stackexchange")
        assert q.height == 0 and from_7z.equals(docs), name
    empty = tmp_path / "other.7z"
    with py7zr.SevenZipFile(empty, "w") as z:
        z.writestr(b"<users />", "Users.xml")
    docs_empty, q = read(empty, "stackexchange")
    assert docs_empty.height == 0 and q["kind"].to_list() == ["no_posts"] and "Users.xml" in q["error"][0]
    damaged = tmp_path / "damaged.7z"
    damaged.write_bytes((tmp_path / "unix.stackexchange.com.7z").read_bytes()[:200])
    _, q = read(damaged, "stackexchange")
    assert q["kind"].to_list() == ["bad_archive"]
