"""Deduplication steps: exact (normalized-text hash) now; MinHash-LSH and line-level dedup build on it."""

from dataprep.dedup.exact import ExactDedup, hash_texts, normalize_expr

__all__ = ["ExactDedup", "hash_texts", "normalize_expr"]
