"""MinHash sketches of documents, vectorized per batch: shingles, signatures and LSH band keys.

1. **Shingles**: text NFKC-lowercased, split into words (each CJK character is a word, so CJK text gets
   character n-grams), word n-grams (5 by default; a document shorter than n words is one shingle). A
   shingle's 32-bit hash folds xxh3-64 hashes of its words (:func:`shingle_hash32`). Where the compiled
   kernel is built, everything after NFKC and lower case (which polars does, and only for documents that are
   not pure ASCII, where both are the identity but for A-Z) runs in one C pass per document: words by a code
   point class table taken from the same regex, word hashes, n-gram folds, sort and unique
   (``_kernels.shingles32``); the polars/numpy code below computes the same numbers without it.
2. **Signatures**: datasketch's ``MinHash`` permutations, scheme ``affine32`` (its default since 2.0) or
   ``legacy``, from the same seed: for the same hash function the signature is bit-identical to datasketch's
   (the MinHash tests check it). All shingles of a batch are permuted at once with numpy, in blocks, or by the
   compiled kernel (``_kernels.c``, same numbers) where it was built.
3. **LSH**: ``bands x rows`` of the signature (chosen from the threshold as datasketch's ``MinHashLSH`` does,
   or given, e.g. FineWeb's 14 x 8); each band's rows hash to a 64-bit bucket key.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from dataprep.normalize import CJK_CLASS

try:  # the compiled kernel (setup.py, optional): same numbers as the numpy code below, much faster
    from dataprep.dedup import _kernels
except ImportError:  # pragma: no cover - no C compiler at install time
    _kernels = None

#: Words for shingling: a CJK character, or a run of letters and digits (punctuation and symbols dropped).
SHINGLE_WORD_RE = rf"[{CJK_CLASS}]|[^\s\p{{P}}\p{{S}}{CJK_CLASS}]+"
_FOLD = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: folds word hashes into an n-gram hash
_MASK64 = (1 << 64) - 1
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_SEP = "\x1f"  # joins the words of a shingle for datasketch's hashfunc (never inside a word)


def shingle_hash32(shingle: bytes) -> int:
    """The 32-bit hash of one shingle (its words joined by ``\\x1f``): what the vectorized code computes.

    Pass it as ``hashfunc`` to ``datasketch.MinHash`` to get the same signatures.
    """
    key = 0
    for word in shingle.decode("utf-8").split(_SEP):
        key = (key * int(_FOLD) + xxhash.xxh3_64_intdigest(word.encode("utf-8"))) & _MASK64
    return (key ^ (key >> 32)) & 0xFFFFFFFF


def words_expr(column: str = "text") -> pl.Expr:
    """The words a document is shingled on (NFKC, lower case)."""
    return pl.col(column).str.normalize("NFKC").str.to_lowercase().str.extract_all(SHINGLE_WORD_RE)


def shingles(df: pl.DataFrame, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(document index, 32-bit shingle hash) of every distinct shingle of every document, by document."""
    if _kernels is not None:
        return _shingles_kernel(df, ngram)
    return _shingles_polars(df, ngram)


@functools.lru_cache(maxsize=1)
def _class_table() -> bytes:
    """What :data:`SHINGLE_WORD_RE` makes of each code point below U+40000, by polars' own regex engine: 0
    separator (white space, punctuation, symbol), 1 CJK (a word by itself), 2 word character. Code points
    from U+40000 up (unassigned, private use, tags, variation selectors) are word characters; the tests check
    that against the regex. About 40 ms, once per process."""
    cps = np.r_[np.arange(0, 0xD800), np.arange(0xE000, _CLASS_LIMIT)].astype("<u4")
    chars = pl.Series([cps.tobytes().decode("utf-32-le")]).str.split("").explode()
    cjk = chars.str.contains(rf"^[{CJK_CLASS}]$").to_numpy()
    sep = chars.str.contains(r"^[\s\p{P}\p{S}]$").to_numpy()
    table = np.full(_CLASS_LIMIT, 2, dtype=np.uint8)  # surrogates never occur in text
    table[cps] = np.where(cjk, 1, np.where(sep, 0, 2)).astype(np.uint8)
    return table.tobytes()


_CLASS_LIMIT = 0x40000


def _string_buffers(s: pl.Series) -> tuple[memoryview, np.ndarray]:
    """(data, int64 offsets[n+1]) of a string Series as Arrow lays it out (no copy where one chunk)."""
    return arrow_string_buffers(s.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest()))


def arrow_string_buffers(arr: pa.Array) -> tuple[memoryview, np.ndarray]:
    """(data, int64 offsets[n+1]) of an Arrow string array, for the compiled kernels: offsets index ``data``."""
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - a rechunked Series gives one chunk
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    return memoryview(data if data is not None else b""), np.ascontiguousarray(offsets)


def _shingles_kernel(df: pl.DataFrame, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    text = df.get_column("text").fill_null("")
    # NFKC and lower case change nothing in a pure-ASCII document but A-Z, which the kernel lowers: only the
    # other documents go through polars (the same expressions as :func:`words_expr`)
    non_ascii = np.flatnonzero(text.str.len_bytes().to_numpy() != text.str.len_chars().to_numpy())
    if len(non_ascii):
        folded = text.gather(non_ascii).str.normalize("NFKC").str.to_lowercase()
        text = text.scatter(non_ascii, folded)
    data, offsets = _string_buffers(text)
    raw, raw_counts = _kernels.shingles32(data, offsets, _class_table(), ngram)
    counts = np.frombuffer(raw_counts, dtype=np.int64)
    return np.repeat(np.arange(df.height, dtype=np.int64), counts), np.frombuffer(raw, dtype=np.uint32).copy()


def _shingles_polars(df: pl.DataFrame, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`shingles` without the compiled kernel (polars and numpy; the same numbers)."""
    words = df.select(words_expr().alias("w")).with_row_index("doc").explode("w").drop_nulls("w")
    if words.height == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint32)
    vocab = words.get_column("w").unique()
    # xxHash has no vectorized API: hash each distinct word once (a batch's vocabulary is small)
    vocab_hash = pl.Series("h", [xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in vocab.to_list()], pl.UInt64)
    words = words.join(pl.DataFrame([vocab.alias("w"), vocab_hash]), on="w", how="left", maintain_order="left")
    doc = words.get_column("doc").to_numpy().astype(np.int64)
    h = words.get_column("h").to_numpy()
    n = len(h)
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    lengths = np.diff(np.r_[starts, n])
    key = h.copy()
    short_key = np.zeros(len(starts), dtype=np.uint64)  # documents shorter than ngram: one shingle of all
    short = lengths < ngram
    short_key[short & (lengths == 1)] = h[starts[short & (lengths == 1)]]
    with np.errstate(over="ignore"):
        for k in range(1, ngram):
            m = n - k
            key = key[:m] * _FOLD + h[k:k + m]
            done = short & (lengths == k + 1)
            if done.any():
                short_key[done] = key[starts[done]]
    m = max(n - ngram + 1, 0)
    pos = np.flatnonzero(doc[:m] == doc[ngram - 1:ngram - 1 + m])
    d = np.concatenate([doc[pos], doc[starts[short]]])
    k64 = np.concatenate([key[pos], short_key[short]])
    k32 = (k64 ^ (k64 >> np.uint64(32))) & _MAX32
    both = np.sort((d.astype(np.uint64) << np.uint64(32)) | k32)  # by document, then hash
    both = both[np.r_[True, both[1:] != both[:-1]]]  # distinct shingles of each document
    return (both >> np.uint64(32)).astype(np.int64), (both & _MAX32).astype(np.uint32)


def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """datasketch ``MinHash._init_permutations`` for ``scheme`` (same seed, same numbers)."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array([(gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                       for _ in range(num_perm)], dtype=np.uint64).T
        return ab[0], ab[1]
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(doc: np.ndarray, hashes: np.ndarray, n_docs: int, num_perm: int, seed: int,
               scheme: str = "affine32", block: int = 1 << 15) -> np.ndarray:
    """MinHash signatures (n_docs, num_perm) from (document, shingle hash) pairs sorted by document.

    A document without shingles keeps the empty value (all bits set), as datasketch's fresh ``MinHash``.
    ``affine32`` runs in the compiled kernel when it is built (``dataprep/dedup/_kernels.c``), else in numpy.
    """
    a, b = permutations(num_perm, seed, scheme)
    if scheme == "affine32" and _kernels is not None:
        offsets = np.r_[0, np.cumsum(np.bincount(doc, minlength=n_docs))].astype(np.int64)
        out = np.empty((n_docs, num_perm), dtype=np.uint32)
        _kernels.affine32(np.ascontiguousarray(hashes, dtype=np.uint32), offsets, a, b, out)
        return out
    empty = np.uint32(0xFFFFFFFF)
    sig = np.full((n_docs, num_perm), empty, dtype=np.uint32)
    if scheme == "affine32":
        hv = _fmix32(hashes.astype(np.uint32))
    else:
        hv = hashes.astype(np.uint64)
    for s in range(0, len(hv), block):
        e = min(s + block, len(hv))
        x = hv[s:e, None]
        with np.errstate(over="ignore"):
            if scheme == "affine32":
                phv = x * a[None, :] + b[None, :]
            else:  # (a*h + b) mod (2^61 - 1), truncated to 32 bits; a*h wraps in uint64 as in datasketch
                t = x * a[None, :] + b[None, :]
                t = (t & _MERSENNE) + (t >> np.uint64(61))
                t = np.where(t >= _MERSENNE, t - _MERSENNE, t)
                phv = (t & _MAX32).astype(np.uint32)
        seg_doc = doc[s:e]
        seg = np.flatnonzero(np.r_[True, seg_doc[1:] != seg_doc[:-1]])
        mins = np.minimum.reduceat(phv, seg, axis=0)
        rows = seg_doc[seg]
        sig[rows] = np.minimum(sig[rows], mins)
    return sig


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
                  ) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted false positive and negative areas under the S-curve, as
    datasketch ``MinHashLSH._optimal_param`` (numerical integration on a 1,001-point grid)."""
    best, opt = math.inf, (1, num_perm)
    s_lo = np.linspace(0.0, threshold, 1001)
    s_hi = np.linspace(threshold, 1.0, 1001)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - s_lo ** r) ** b, s_lo)
            fn = np.trapezoid((1 - s_hi ** r) ** b, s_hi)
            err = fp * fp_weight + fn * fn_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) uint64 bucket keys: each band's rows folded into 64 bits, the band number mixed in."""
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(bands):
            key = np.full(sig.shape[0], np.uint64(0xCBF29CE484222325) ^ np.uint64(i), dtype=np.uint64)
            for j in range(i * rows, (i + 1) * rows):
                key = (key ^ sig[:, j].astype(np.uint64)) * _FOLD
            out[:, i] = key ^ (key >> np.uint64(29))
    return out


# ---- clustering ----------------------------------------------------------------------------------------------
