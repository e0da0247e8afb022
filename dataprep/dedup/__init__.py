"""Deduplication steps, all global: exact (normalized-text hash), MinHash-LSH near duplicates, and CCNet's
line/paragraph dedup. Names load on first use (:mod:`dataprep.lazy`)."""

from dataprep.lazy import exports

_EXPORTS = {
    "ExactDedup": "dataprep.dedup.exact",
    "MinHashDedup": "dataprep.dedup.minhash.step",
    "MinHashDeduplicator": "dataprep.dedup.minhash.step",
    "ParagraphDedup": "dataprep.dedup.paragraphs",
    "hash_texts": "dataprep.dedup.exact",
    "normalize_expr": "dataprep.dedup.exact",
    "optimal_bands": "dataprep.dedup.minhash.sketch",
    "shingle_hash32": "dataprep.dedup.minhash.sketch",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
