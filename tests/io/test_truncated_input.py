"""A plain file truncated while it is being read: the reader reports it (an error item the JSONL reader
quarantines) instead of the process dying of SIGBUS, as it did when blocks were views of a memory map
(issue 18, item 8). Run in a subprocess, so that a regression fails the test instead of killing pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT


def test_truncated_while_read_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "big.jsonl"
    line = b'{"text": "' + b"x" * 200 + b'"}\n'
    path.write_bytes(line * 20_000)  # about 4 MB: several blocks of 256 KB
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from dataprep.io.readers.streams import mapped_chunks
        path = Path({str(path)!r})
        items = []
        for i, (_, data, err) in enumerate(mapped_chunks(path, 256 << 10, None, max_record=1 << 20)):
            items.append((len(data), err))
            if i == 1:
                os.truncate(path, 100_000)  # another process cuts the file short mid-read
        print(items[-1][1])
        print(sum(n for n, e in items if e is None))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr  # -7 (SIGBUS) before
    last, good = proc.stdout.split("\n")[:2]
    assert last.startswith("file changed while being read") and "100,000 bytes now" in last
    assert int(good) % len(line) == 0  # the blocks before the cut were whole lines


def test_positional_reads_cut_blocks_at_line_ends(tmp_path):
    from conftest import read_all

    path = tmp_path / "lines.jsonl"
    rows = [b'{"text": "' + b"y" * (i % 300) + b'"}\n' for i in range(1000)]
    path.write_bytes(b"".join(rows))
    docs, quarantine = read_all(path, chunk_bytes=4096)  # about 50 blocks, most cuts inside a line
    assert quarantine.num_rows == 0
    assert [len(t) for t in docs.column("text").to_pylist()] == [i % 300 for i in range(1000)]
