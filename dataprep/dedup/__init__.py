"""Deduplication steps: exact (normalized-text hash) and MinHash-LSH near duplicates, both global."""

from dataprep.dedup.exact import ExactDedup, hash_texts, normalize_expr
from dataprep.dedup.minhash import MinHashDedup, MinHashDeduplicator, optimal_bands, shingle_hash32

__all__ = ["ExactDedup", "MinHashDedup", "MinHashDeduplicator", "hash_texts", "normalize_expr", "optimal_bands",
           "shingle_hash32"]
