"""read_file over every format: any bytes, damaged dumps, WARCs and archives end in documents or quarantine,
never in an exception."""

from __future__ import annotations

from conftest import read_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataprep.io import ReadOptions, read_file


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".jsonl.gz", ".jsonl.zst", ".txt", ".parquet",
                                                           ".arrow"]))
def test_any_bytes_in_any_format_never_crash(tmp_path, raw, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(raw)
    docs, q = read_all(path)
    docs.validate(full=True)
    assert docs.num_rows + q.num_rows >= (1 if raw.strip() else 0) or suffix in (".jsonl.gz", ".jsonl.zst")


DUMP_PREFIXES = [b"", b'<posts>\n<row Id="1" PostTypeId="1" Title="t" Body="&lt;p&gt;x&lt;/p&gt;" />\n',
                 b"<mediawiki><page><title>T</title><ns>0</ns><id>1</id><revision><text>x",
                 b"WARC/1.1\r\nWARC-Type: response\r\nContent-Type: application/http\r\nContent-Length: 40\r\n\r\n",
                 b"\x1f\x8b\x08\x00\x00\x00\x00\x00", b"\\documentclass{a}\\begin{document}\\section{S}"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(DUMP_PREFIXES), raw=st.binary(max_size=300),
       fmt=st.sampled_from([("stackexchange", "Posts.xml"), ("mediawiki", "dump.xml"), ("warc", "c.warc"),
                            ("warc", "c.warc.gz"), ("latex", "p.tex"), ("latex", "p.tar"), ("latex", "p.tar.gz"),
                            ("html", "p.html")]))
def test_dump_and_page_readers_never_crash_on_any_bytes(tmp_path, prefix, raw, fmt):
    """Damaged dumps, WARCs and archives end in quarantine (or as documents a cleaner rejects), never in an
    exception that would stop a long run."""
    kind, name = fmt
    path = tmp_path / name
    path.write_bytes(prefix + raw)
    chunks = list(read_file(path, name, ReadOptions(source="s", format=kind)))
    for c in chunks:
        c.docs.validate(full=True)
        c.quarantine.validate(full=True)
