"""MinHash-LSH near-duplicate removal: sketches (:mod:`.sketch`), clustering out of core (:mod:`.cluster`) or on
Ray (:mod:`.ray`), and the ``minhash_dedup`` step (:mod:`.step`). Names load on first use (:mod:`dataprep.lazy`)."""

from dataprep.lazy import exports

_EXPORTS = {
    "MinHashDedup": "dataprep.dedup.minhash.step",
    "MinHashDeduplicator": "dataprep.dedup.minhash.step",
    "optimal_bands": "dataprep.dedup.minhash.sketch",
    "shingle_hash32": "dataprep.dedup.minhash.sketch",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
