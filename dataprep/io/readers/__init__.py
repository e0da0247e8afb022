"""Streaming readers, one module per format, each registered in the table of formats (:mod:`.base`).

Every reader yields :class:`Chunk` objects: a table of documents on :data:`dataprep.schema.DOC_SCHEMA` and a
table of quarantined records (malformed lines or rows, with file, line or row, and the error). Memory stays
bounded by the chunk size whatever the file size.

Imports run one way: ``base`` <- ``streams``, ``scan`` <- the format modules, ``files`` <- ``read`` <- this
``__init__``, which imports the format modules so that they register, and exports the reader API.
"""

# isort: off
# The format modules register their formats on import, in this order: the order of KNOWN_FORMATS (recipe errors
# list it). Keep it; append a new format's module at the end.
from dataprep.io.readers import jsonl, tables, text, warc, html, latex, stackexchange, mediawiki  # noqa: F401
# isort: on
from dataprep.io.readers.base import (
    FORMATS,
    Chunk,
    DocBatch,
    Format,
    Option,
    Quarantine,
    ReadOptions,
    check_options,
    register,
)
from dataprep.io.readers.files import (
    count_range_newlines,
    detect_format,
    expand_paths,
    glob_base,
    input_size,
    line_aligned_ranges,
)
from dataprep.io.readers.read import read_documents, read_file, read_frame
from dataprep.io.readers.streams import split_compression

#: every format a source may name, in the order they registered
KNOWN_FORMATS = tuple(FORMATS)

__all__ = [
    "FORMATS",
    "KNOWN_FORMATS",
    "Chunk",
    "DocBatch",
    "Format",
    "Option",
    "Quarantine",
    "ReadOptions",
    "check_options",
    "count_range_newlines",
    "detect_format",
    "expand_paths",
    "glob_base",
    "input_size",
    "line_aligned_ranges",
    "read_documents",
    "read_file",
    "read_frame",
    "register",
    "split_compression",
]
