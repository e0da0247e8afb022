"""Deduplication steps, all global: exact (normalized-text hash), MinHash-LSH near duplicates, and CCNet's
line/paragraph dedup."""

from dataprep.dedup.exact import ExactDedup, hash_texts, normalize_expr
from dataprep.dedup.minhash import MinHashDedup, MinHashDeduplicator, optimal_bands, shingle_hash32
from dataprep.dedup.paragraphs import ParagraphDedup, ccnet_normalize

__all__ = ["ExactDedup", "MinHashDedup", "MinHashDeduplicator", "ParagraphDedup", "ccnet_normalize", "hash_texts",
           "normalize_expr", "optimal_bands", "shingle_hash32"]
