"""Input and output: streaming readers for JSONL, Parquet, Arrow and text; atomic shard writers."""

from dataprep.io.files import detect_format, expand_paths
from dataprep.io.readers import Chunk, ReadOptions, read_documents, read_file, read_frame
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
