"""Input files of a source: files, folders and globs expanded, sorted and de-duplicated."""

from __future__ import annotations

import pytest

from dataprep.io import expand_paths


def test_expand_paths_files_folders_globs(tmp_path):
    for name in ("a/1.jsonl", "a/2.jsonl.gz", "a/sub/3.parquet", "a/readme.unknown", "b/4.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    got = expand_paths([str(tmp_path / "a"), str(tmp_path / "b/*.txt"), str(tmp_path / "a/1.jsonl")])
    assert [rel for _, rel in got] == ["1.jsonl", "2.jsonl.gz", "sub/3.parquet", "4.txt"]
    from dataprep.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        expand_paths([str(tmp_path / "nope.jsonl")])
    with pytest.raises(InputError, match="no input files match"):
        expand_paths([str(tmp_path / "*.nothing")])
