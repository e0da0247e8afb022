"""Input and output: streaming readers of every input format (:mod:`dataprep.io.readers`); atomic shard
writers (:mod:`dataprep.io.writers`)."""

from dataprep.io.readers import (
    Chunk,
    ReadOptions,
    detect_format,
    expand_paths,
    read_documents,
    read_file,
    read_frame,
)
from dataprep.io.writers import ShardWriter, atomic_write_json, read_folder, read_table

__all__ = [
    "Chunk",
    "ReadOptions",
    "ShardWriter",
    "atomic_write_json",
    "detect_format",
    "expand_paths",
    "read_documents",
    "read_file",
    "read_frame",
    "read_folder",
    "read_table",
]
