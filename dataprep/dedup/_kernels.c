/* Compiled inner loops of dataprep, in one module (each has a numpy/polars fallback that gives the same
 * numbers where this module is not built):
 *
 * - affine32: MinHash signatures (datasketch scheme "affine32"). For every document (a run of shingle hashes
 *   given by offsets) and every permutation k: sig[k] = min over shingles h of (a[k] * fmix32(h) + b[k]) mod
 *   2^32, exactly as datasketch computes it. The loop over permutations is written so that compilers
 *   vectorize it (SIMD multiply, add, unsigned min).
 * - shingles32: the distinct 32-bit word n-gram hashes of each document straight from its text (Arrow string
 *   buffers), in one pass: words by a code point class table (built by the caller from the same regex the
 *   polars path uses), xxh3-64 of each word, the FNV-style fold of n word hashes, a radix sort per document.
 * - gopher_ngrams: Gopher's top and duplicated n-gram character counts per document from its tokens
 *   (datatrove's find_top_duplicate and greedy find_all_duplicate), with open-addressing tables per document.
 * - gopher_dups: duplicate lines and paragraphs (count and characters), compared byte for byte.
 * - lm_tokens: the token steps of CCNet's line normalization (dataprep.lm.lm_normalize: digits, punctuation
 *   split off, white space) after its Unicode folds, which polars does (only for lines that are not pure ASCII).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* x86-64 with GCC: AVX-512 or AVX2 clones chosen at run time where the CPU has them, the baseline otherwise */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DISPATCH __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DISPATCH
#endif

#define BLOCK 64 /* permutations kept in registers while a document's shingles stream past */

DISPATCH
static void affine32_loop(const uint32_t *x, const int64_t *off, Py_ssize_t n_docs, const uint32_t *pa,
                          const uint32_t *pb, Py_ssize_t n_perm, uint32_t *sig) {
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        uint32_t *s = sig + d * n_perm;
        int64_t lo = off[d], hi = off[d + 1];
        Py_ssize_t kb = 0;
        for (; kb + BLOCK <= n_perm; kb += BLOCK) {
            uint32_t acc[BLOCK], a[BLOCK], b[BLOCK];
            for (int k = 0; k < BLOCK; k++) { acc[k] = 0xFFFFFFFFu; a[k] = pa[kb + k]; b[k] = pb[kb + k]; }
            for (int64_t i = lo; i < hi; i++) {
                uint32_t v = x[i];
                for (int k = 0; k < BLOCK; k++) {
                    uint32_t t = a[k] * v + b[k];
                    acc[k] = t < acc[k] ? t : acc[k];
                }
            }
            memcpy(s + kb, acc, sizeof(acc));
        }
        for (Py_ssize_t k = kb; k < n_perm; k++) {  /* the remainder when num_perm is not a multiple */
            uint32_t m = 0xFFFFFFFFu;
            for (int64_t i = lo; i < hi; i++) {
                uint32_t t = pa[k] * x[i] + pb[k];
                m = t < m ? t : m;
            }
            s[k] = m;
        }
    }
}

static PyObject *affine32(PyObject *self, PyObject *args) {
    Py_buffer hashes, offsets, a, b, out;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &hashes, &offsets, &a, &b, &out)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_perm = a.len / 4;
    Py_ssize_t n_docs = offsets.len / 8 - 1;
    if (b.len != a.len || out.len != n_docs * n_perm * 4 || n_docs < 0) {
        PyErr_SetString(PyExc_ValueError, "affine32: inconsistent buffer sizes");
        goto done;
    }
    const uint32_t *h = (const uint32_t *)hashes.buf;
    const int64_t *off = (const int64_t *)offsets.buf;
    const uint32_t *pa = (const uint32_t *)a.buf, *pb = (const uint32_t *)b.buf;
    uint32_t *sig = (uint32_t *)out.buf;
    Py_ssize_t n_hashes = hashes.len / 4;
    /* validate the offsets, then pre-mix every hash once (datasketch applies fmix32 before permuting) */
    for (Py_ssize_t d = 0; d <= n_docs; d++) {
        if (off[d] < 0 || off[d] > n_hashes || (d > 0 && off[d] < off[d - 1])) {
            PyErr_SetString(PyExc_ValueError, "affine32: offsets must rise from 0 to len(hashes)");
            goto done;
        }
    }
    uint32_t *x = (uint32_t *)PyMem_RawMalloc((size_t)(n_hashes > 0 ? n_hashes : 1) * sizeof(uint32_t));
    if (x == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_hashes; i++) x[i] = fmix32(h[i]);
    affine32_loop(x, off, n_docs, pa, pb, n_perm, sig);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(x);
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&hashes);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyBuffer_Release(&out);
    return result;
}

/* ---- xxh3-64 (seed 0, default secret), scalar: the same numbers as xxhash's XXH3_64bits -------------------- */

static const uint8_t XXH3_SECRET[192] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};
#define XP32_1 0x9E3779B1u
#define XP32_2 0x85EBCA77u
#define XP32_3 0xC2B2AE3Du
#define XP64_1 0x9E3779B185EBCA87ull
#define XP64_2 0xC2B2AE3D27D4EB4Full
#define XP64_3 0x165667B19E3779F9ull
#define XP64_4 0x85EBCA77C2B2AE63ull
#define XP64_5 0x27D4EB2F165667C5ull

static inline uint64_t bswap64_(uint64_t x) {
    x = ((x & 0x00000000FFFFFFFFull) << 32) | (x >> 32);
    x = ((x & 0x0000FFFF0000FFFFull) << 16) | ((x >> 16) & 0x0000FFFF0000FFFFull);
    return ((x & 0x00FF00FF00FF00FFull) << 8) | ((x >> 8) & 0x00FF00FF00FF00FFull);
}
static inline uint32_t bswap32_(uint32_t x) {
    return (x >> 24) | ((x >> 8) & 0xFF00u) | ((x << 8) & 0xFF0000u) | (x << 24);
}
static inline uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = bswap64_(v);
#endif
    return v;
}
static inline uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = bswap32_(v);
#endif
    return v;
}
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t mul128_fold64(uint64_t a, uint64_t b) {
#if defined(__SIZEOF_INT128__)
    __uint128_t p = (__uint128_t)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
#else
    uint64_t lo_lo = (a & 0xFFFFFFFFu) * (b & 0xFFFFFFFFu), hi_lo = (a >> 32) * (b & 0xFFFFFFFFu);
    uint64_t lo_hi = (a & 0xFFFFFFFFu) * (b >> 32), hi_hi = (a >> 32) * (b >> 32);
    uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFu) + lo_hi;
    uint64_t upper = (hi_lo >> 32) + (cross >> 32) + hi_hi;
    uint64_t lower = (cross << 32) | (lo_lo & 0xFFFFFFFFu);
    return lower ^ upper;
#endif
}
static inline uint64_t xxh64_avalanche(uint64_t h) {
    h ^= h >> 33; h *= XP64_2; h ^= h >> 29; h *= XP64_3; return h ^ (h >> 32);
}
static inline uint64_t xxh3_avalanche(uint64_t h) {
    h ^= h >> 37; h *= 0x165667919E3779F9ull; return h ^ (h >> 32);
}
static inline uint64_t xxh3_rrmxmx(uint64_t h, uint64_t len) {
    h ^= rotl64(h, 49) ^ rotl64(h, 24);
    h *= 0x9FB21C651E98DF25ull;
    h ^= (h >> 35) + len;
    h *= 0x9FB21C651E98DF25ull;
    return h ^ (h >> 28);
}
static inline uint64_t xxh3_mix16(const uint8_t *in, const uint8_t *sec) {
    return mul128_fold64(rd64(in) ^ rd64(sec), rd64(in + 8) ^ rd64(sec + 8));
}
static inline void xxh3_acc512(uint64_t *acc, const uint8_t *in, const uint8_t *sec) {
    for (int i = 0; i < 8; i++) {
        uint64_t v = rd64(in + 8 * i), k = v ^ rd64(sec + 8 * i);
        acc[i ^ 1] += v;
        acc[i] += (uint64_t)(uint32_t)k * (k >> 32);
    }
}
static uint64_t xxh3_long(const uint8_t *in, size_t len) {
    uint64_t acc[8] = {XP32_3, XP64_1, XP64_2, XP64_3, XP64_4, XP32_2, XP64_5, XP32_1};
    const size_t stripes_per_block = (192 - 64) / 8, block_len = 64 * stripes_per_block;
    size_t nb_blocks = (len - 1) / block_len;
    for (size_t n = 0; n < nb_blocks; n++) {
        for (size_t s = 0; s < stripes_per_block; s++) xxh3_acc512(acc, in + n * block_len + 64 * s, XXH3_SECRET + 8 * s);
        for (int i = 0; i < 8; i++) {  /* scramble */
            uint64_t a = acc[i];
            a ^= a >> 47;
            a ^= rd64(XXH3_SECRET + 192 - 64 + 8 * i);
            acc[i] = a * XP32_1;
        }
    }
    size_t nb_stripes = ((len - 1) - block_len * nb_blocks) / 64;
    for (size_t s = 0; s < nb_stripes; s++) xxh3_acc512(acc, in + nb_blocks * block_len + 64 * s, XXH3_SECRET + 8 * s);
    xxh3_acc512(acc, in + len - 64, XXH3_SECRET + 192 - 64 - 7);
    uint64_t r = (uint64_t)len * XP64_1;
    for (int i = 0; i < 4; i++)
        r += mul128_fold64(acc[2 * i] ^ rd64(XXH3_SECRET + 11 + 16 * i), acc[2 * i + 1] ^ rd64(XXH3_SECRET + 11 + 16 * i + 8));
    return xxh3_avalanche(r);
}
static uint64_t xxh3_64(const uint8_t *in, size_t len) {
    const uint8_t *s = XXH3_SECRET;
    if (len <= 16) {
        if (len > 8) {
            uint64_t lo = rd64(in) ^ (rd64(s + 24) ^ rd64(s + 32));
            uint64_t hi = rd64(in + len - 8) ^ (rd64(s + 40) ^ rd64(s + 48));
            return xxh3_avalanche(len + bswap64_(lo) + hi + mul128_fold64(lo, hi));
        }
        if (len >= 4) {
            uint64_t in64 = rd32(in + len - 4) + ((uint64_t)rd32(in) << 32);
            return xxh3_rrmxmx(in64 ^ (rd64(s + 8) ^ rd64(s + 16)), len);
        }
        if (len) {
            uint32_t c = ((uint32_t)in[0] << 16) | ((uint32_t)in[len >> 1] << 24) | (uint32_t)in[len - 1] | ((uint32_t)len << 8);
            return xxh64_avalanche((uint64_t)c ^ (uint64_t)(rd32(s) ^ rd32(s + 4)));
        }
        return xxh64_avalanche(rd64(s + 56) ^ rd64(s + 64));
    }
    if (len <= 128) {
        uint64_t acc = len * XP64_1;
        if (len > 32) {
            if (len > 64) {
                if (len > 96) { acc += xxh3_mix16(in + 48, s + 96); acc += xxh3_mix16(in + len - 64, s + 112); }
                acc += xxh3_mix16(in + 32, s + 64); acc += xxh3_mix16(in + len - 48, s + 80);
            }
            acc += xxh3_mix16(in + 16, s + 32); acc += xxh3_mix16(in + len - 32, s + 48);
        }
        acc += xxh3_mix16(in, s); acc += xxh3_mix16(in + len - 16, s + 16);
        return xxh3_avalanche(acc);
    }
    if (len <= 240) {
        uint64_t acc = len * XP64_1, acc_end;
        unsigned rounds = (unsigned)len / 16;
        for (unsigned i = 0; i < 8; i++) acc += xxh3_mix16(in + 16 * i, s + 16 * i);
        acc_end = xxh3_mix16(in + len - 16, s + 136 - 17);
        acc = xxh3_avalanche(acc);
        for (unsigned i = 8; i < rounds; i++) acc_end += xxh3_mix16(in + 16 * i, s + 16 * (i - 8) + 3);
        return xxh3_avalanche(acc + acc_end);
    }
    return xxh3_long(in, len);
}

static PyObject *py_xxh3_64(PyObject *self, PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    uint64_t h = xxh3_64((const uint8_t *)b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    return PyLong_FromUnsignedLongLong(h);
}

/* ---- shared helpers --------------------------------------------------------------------------------------- */

/* Decode one UTF-8 code point at p (< end); returns its length. Input is valid UTF-8 (Arrow strings); a
 * truncated sequence at the end decodes as one byte so that nothing reads past the buffer. */
static inline int utf8_next(const uint8_t *p, const uint8_t *end, uint32_t *cp) {
    uint8_t b = p[0];
    if (b < 0x80) { *cp = b; return 1; }
    if (b >= 0xF0 && end - p >= 4) { *cp = ((uint32_t)(b & 7) << 18) | ((uint32_t)(p[1] & 63) << 12) | ((uint32_t)(p[2] & 63) << 6) | (p[3] & 63); return 4; }
    if (b >= 0xE0 && b < 0xF0 && end - p >= 3) { *cp = ((uint32_t)(b & 15) << 12) | ((uint32_t)(p[1] & 63) << 6) | (p[2] & 63); return 3; }
    if (b >= 0xC0 && b < 0xE0 && end - p >= 2) { *cp = ((uint32_t)(b & 31) << 6) | (p[1] & 63); return 2; }
    *cp = b;
    return 1;
}

/* A growable array of fixed-size items (PyMem_Raw*: usable without the GIL). */
typedef struct { void *p; size_t n, cap, item; } vec_t;
static int vec_reserve(vec_t *v, size_t need) {
    if (need <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 1024;
    while (cap < need) cap *= 2;
    void *q = PyMem_RawRealloc(v->p, cap * v->item);
    if (q == NULL) return -1;
    v->p = q;
    v->cap = cap;
    return 0;
}

/* Offsets of n items into a data buffer: n+1 non-decreasing int64 within [0, data_len]. */
static int check_offsets(const int64_t *off, Py_ssize_t n, Py_ssize_t data_len, const char *who) {
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (off[i] < 0 || off[i] > data_len || (i > 0 && off[i] < off[i - 1])) {
            PyErr_Format(PyExc_ValueError, "%s: offsets must rise within the data buffer", who);
            return -1;
        }
    }
    return 0;
}

/* LSD radix sort of n uint32 (tmp: n more), then unique; returns the number kept (sorted, in a). */
static size_t sort_unique_u32(uint32_t *a, uint32_t *tmp, size_t n) {
    if (n <= 48) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1] > v) { a[j] = a[j - 1]; j--; }
            a[j] = v;
        }
    } else {
        uint32_t *src = a, *dst = tmp;
        for (int shift = 0; shift < 32; shift += 8) {
            size_t cnt[257] = {0};
            for (size_t i = 0; i < n; i++) cnt[((src[i] >> shift) & 255) + 1]++;
            if (cnt[((src[0] >> shift) & 255) + 1] == n) continue;  /* every key has this byte: nothing moves */
            for (int k = 0; k < 256; k++) cnt[k + 1] += cnt[k];
            for (size_t i = 0; i < n; i++) dst[cnt[(src[i] >> shift) & 255]++] = src[i];
            uint32_t *t = src; src = dst; dst = t;
        }
        if (src != a) memcpy(a, src, n * sizeof(uint32_t));
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || a[i] != a[m - 1]) a[m++] = a[i];
    return m;
}

/* ---- shingles32 ------------------------------------------------------------------------------------------- */

#define FOLD_FNV 0x100000001B3ull

/* shingles32(data, offsets i64[n+1], classes u8[T], ngram) -> (hashes u32 bytes, counts i64 bytes)
 * classes[cp] for code points below T: 0 separator (white space, punctuation, symbol), 1 CJK (a word of its
 * own), 2 word character; code points from T up are word characters. ASCII A-Z are lowered on the fly (the
 * caller lowers everything else). */
static PyObject *shingles32(PyObject *self, PyObject *args) {
    Py_buffer data, offsets, classes;
    int ngram;
    if (!PyArg_ParseTuple(args, "y*y*y*i", &data, &offsets, &classes, &ngram)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_docs = offsets.len / 8 - 1;
    vec_t words = {NULL, 0, 0, sizeof(uint64_t)}, sh = {NULL, 0, 0, sizeof(uint32_t)};
    vec_t tmp = {NULL, 0, 0, sizeof(uint32_t)}, out = {NULL, 0, 0, sizeof(uint32_t)}, low = {NULL, 0, 0, 1};
    int64_t *counts = NULL;
    if (ngram < 1 || n_docs < 0 || classes.len < 128) {
        PyErr_SetString(PyExc_ValueError, "shingles32: ngram >= 1, offsets and a class table of >= 128 entries");
        goto done;
    }
    const int64_t *off = (const int64_t *)offsets.buf;
    if (check_offsets(off, n_docs, data.len, "shingles32") < 0) goto done;
    counts = (int64_t *)PyMem_RawMalloc((size_t)(n_docs > 0 ? n_docs : 1) * sizeof(int64_t));
    if (counts == NULL) { PyErr_NoMemory(); goto done; }
    const uint8_t *txt = (const uint8_t *)data.buf, *cls = (const uint8_t *)classes.buf;
    const uint32_t n_cls = (uint32_t)classes.len;
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; d < n_docs && !oom; d++) {
        const uint8_t *p = txt + off[d], *end = txt + off[d + 1];
        words.n = 0;
        const uint8_t *ws = NULL;
        int upper = 0;
        while (1) {
            uint32_t cp = 0;
            int len = 0, c = 0;
            if (p < end) {
                len = utf8_next(p, end, &cp);
                c = cp < n_cls ? cls[cp] : 2;
            }
            if (p < end && c == 2) {
                if (ws == NULL) { ws = p; upper = 0; }
                upper |= (cp >= 'A' && cp <= 'Z');
                p += len;
                continue;
            }
            if (vec_reserve(&words, words.n + 2) < 0) { oom = 1; break; }
            if (ws != NULL) {  /* a word ends here */
                size_t wl = (size_t)(p - ws);
                const uint8_t *w = ws;
                if (upper) {
                    if (vec_reserve(&low, wl) < 0) { oom = 1; break; }
                    uint8_t *q = (uint8_t *)low.p;
                    for (size_t i = 0; i < wl; i++) q[i] = (ws[i] >= 'A' && ws[i] <= 'Z') ? ws[i] + 32 : ws[i];
                    w = q;
                }
                ((uint64_t *)words.p)[words.n++] = xxh3_64(w, wl);
                ws = NULL;
            }
            if (p >= end) break;
            if (c == 1) ((uint64_t *)words.p)[words.n++] = xxh3_64(p, (size_t)len);
            p += len;
        }
        if (oom) break;
        size_t nw = words.n, m = nw == 0 ? 0 : (nw < (size_t)ngram ? 1 : nw - (size_t)ngram + 1);
        if (vec_reserve(&sh, m + 1) < 0 || vec_reserve(&tmp, m + 1) < 0) { oom = 1; break; }
        const uint64_t *wh = (const uint64_t *)words.p;
        uint32_t *s = (uint32_t *)sh.p;
        size_t span = nw < (size_t)ngram ? nw : (size_t)ngram;
        for (size_t i = 0; i < m; i++) {
            uint64_t k = wh[i];
            for (size_t j = 1; j < span; j++) k = k * FOLD_FNV + wh[i + j];
            s[i] = (uint32_t)(k ^ (k >> 32));
        }
        size_t u = sort_unique_u32(s, (uint32_t *)tmp.p, m);
        if (vec_reserve(&out, out.n + u + 1) < 0) { oom = 1; break; }
        memcpy((uint32_t *)out.p + out.n, s, u * sizeof(uint32_t));
        out.n += u;
        counts[d] = (int64_t)u;
    }
    Py_END_ALLOW_THREADS
    if (oom) { PyErr_NoMemory(); goto done; }
    result = Py_BuildValue("(y#y#)", (const char *)(out.p ? out.p : ""), (Py_ssize_t)(out.n * sizeof(uint32_t)),
                           (const char *)counts, (Py_ssize_t)(n_docs * sizeof(int64_t)));
done:
    PyMem_RawFree(words.p); PyMem_RawFree(sh.p); PyMem_RawFree(tmp.p); PyMem_RawFree(out.p); PyMem_RawFree(low.p);
    PyMem_RawFree(counts);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&classes);
    return result;
}

/* ---- Gopher n-grams ---------------------------------------------------------------------------------------- */

typedef struct { uint64_t key; int64_t count, first; } slot_t;

/* gopher_ngrams(tok_data, tok_off i64[T+1], doc_off i64[D+1], top i32[], dup i32[], out f64[D*(len(top)+len(dup))])
 * For each document (a run of tokens) and each n of top: the characters of its most frequent n-gram (tokens
 * joined by single spaces; the first seen wins ties) times its count; for each n of dup: the characters
 * (tokens joined without spaces) of n-grams met again in datatrove's greedy scan (a repeat skips the next
 * n-1 positions). n-grams are compared by a 64-bit rolling hash of xxh3 token hashes. */
static PyObject *gopher_ngrams(PyObject *self, PyObject *args) {
    Py_buffer data, toff_b, doff_b, top_b, dup_b, out_b;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*", &data, &toff_b, &doff_b, &top_b, &dup_b, &out_b)) return NULL;
    PyObject *result = NULL;
    uint64_t *th = NULL, *key = NULL;
    int64_t *tl = NULL, *chars = NULL;
    slot_t *table = NULL;
    Py_ssize_t n_tok = toff_b.len / 8 - 1, n_docs = doff_b.len / 8 - 1;
    Py_ssize_t n_top = top_b.len / 4, n_dup = dup_b.len / 4, width = n_top + n_dup;
    const int32_t *top = (const int32_t *)top_b.buf, *dup = (const int32_t *)dup_b.buf;
    if (n_tok < 0 || n_docs < 0 || out_b.len != n_docs * width * 8) {
        PyErr_SetString(PyExc_ValueError, "gopher_ngrams: inconsistent buffer sizes");
        goto done;
    }
    const int64_t *toff = (const int64_t *)toff_b.buf, *doff = (const int64_t *)doff_b.buf;
    if (check_offsets(toff, n_tok, data.len, "gopher_ngrams") < 0 || check_offsets(doff, n_docs, n_tok, "gopher_ngrams") < 0)
        goto done;
    int max_n = 1;
    for (Py_ssize_t i = 0; i < n_top; i++) if (top[i] > max_n) max_n = top[i];
    for (Py_ssize_t i = 0; i < n_dup; i++) if (dup[i] > max_n) max_n = dup[i];
    for (Py_ssize_t i = 0; i < width; i++) {
        int v = i < n_top ? top[i] : dup[i - n_top];
        if (v < 2) { PyErr_SetString(PyExc_ValueError, "gopher_ngrams: n must be >= 2"); goto done; }
    }
    size_t nt = (size_t)(n_tok > 0 ? n_tok : 1);
    th = PyMem_RawMalloc(nt * 8); tl = PyMem_RawMalloc(nt * 8); key = PyMem_RawMalloc(nt * 8); chars = PyMem_RawMalloc(nt * 8);
    size_t max_doc = 1;
    for (Py_ssize_t d = 0; d < n_docs; d++) if ((size_t)(doff[d + 1] - doff[d]) > max_doc) max_doc = (size_t)(doff[d + 1] - doff[d]);
    size_t cap = 16;
    while (cap < 2 * max_doc) cap *= 2;
    table = PyMem_RawMalloc(cap * sizeof(slot_t));
    if (!th || !tl || !key || !chars || !table) { PyErr_NoMemory(); goto done; }
    const uint8_t *txt = (const uint8_t *)data.buf;
    double *out = (double *)out_b.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < n_tok; t++) {
        const uint8_t *p = txt + toff[t];
        size_t len = (size_t)(toff[t + 1] - toff[t]);
        int64_t c = 0;
        for (size_t i = 0; i < len; i++) c += (p[i] & 0xC0) != 0x80;
        th[t] = xxh3_64(p, len);
        tl[t] = c;
    }
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        int64_t lo = doff[d], m0 = doff[d + 1] - lo;
        double *row = out + d * width;
        for (Py_ssize_t i = 0; i < width; i++) row[i] = 0.0;
        uint64_t *k = key + lo;
        int64_t *ch = chars + lo;
        memcpy(k, th + lo, (size_t)m0 * 8);
        memcpy(ch, tl + lo, (size_t)m0 * 8);
        for (int n = 2; n <= max_n; n++) {
            int64_t m = m0 - n + 1;
            if (m <= 0) break;
            for (int64_t i = 0; i < m; i++) {
                k[i] = k[i] * 0x9E3779B97F4A7C15ull + th[lo + i + n - 1];
                ch[i] += tl[lo + i + n - 1];
            }
            size_t tcap = 16;
            while (tcap < 2 * (size_t)m) tcap *= 2;
            size_t mask = tcap - 1;
            for (Py_ssize_t w = 0; w < width; w++) {
                int is_top = w < n_top;
                if ((is_top ? top[w] : dup[w - n_top]) != n) continue;
                for (size_t i = 0; i < tcap; i++) table[i].count = 0;
                if (is_top) {
                    int64_t best = -1, best_count = 0;
                    for (int64_t i = 0; i < m; i++) {
                        size_t h = (size_t)(k[i] ^ (k[i] >> 29)) & mask;
                        while (table[h].count && table[h].key != k[i]) h = (h + 1) & mask;
                        if (!table[h].count) { table[h].key = k[i]; table[h].first = i; }
                        int64_t c = ++table[h].count;
                        int64_t f = table[h].first;
                        if (c > best_count || (c == best_count && f < best)) { best_count = c; best = f; }
                    }
                    row[w] = (double)((ch[best] + (n - 1)) * best_count);
                } else {
                    int64_t total = 0, skip_to = -1;
                    for (int64_t i = 0; i < m; i++) {
                        if (i < skip_to) continue;
                        size_t h = (size_t)(k[i] ^ (k[i] >> 29)) & mask;
                        while (table[h].count && table[h].key != k[i]) h = (h + 1) & mask;
                        if (table[h].count) { total += ch[i]; skip_to = i + n; }
                        else { table[h].key = k[i]; table[h].count = 1; }
                    }
                    row[w] = (double)total;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(th); PyMem_RawFree(tl); PyMem_RawFree(key); PyMem_RawFree(chars); PyMem_RawFree(table);
    PyBuffer_Release(&data); PyBuffer_Release(&toff_b); PyBuffer_Release(&doff_b);
    PyBuffer_Release(&top_b); PyBuffer_Release(&dup_b); PyBuffer_Release(&out_b);
    return result;
}

/* ---- CCNet line normalization, after NFD, accent strip, NFC and lower case ------------------------------------ */

/* lm_tokens(data, offsets i64[n+1], classes u8[T]) -> (out data bytes, out offsets i64 bytes)
 * The steps of dataprep.lm.lm_normalize that follow its Unicode folds, exactly: digits (\d) become 0, each
 * punctuation, symbol or CJK character is a token of its own, runs of white space (\s) one space, no space at
 * either end; ASCII A-Z are lowered (the caller folds every line that is not pure ASCII first, for which NFD,
 * NFC and the accent strip are the identity). classes[cp] below T: 0 other, 1 white space, 2 spaced (\p{P},
 * \p{S}, CJK), 3 digit; code points from T up are "other". */
static PyObject *lm_tokens(PyObject *self, PyObject *args) {
    Py_buffer data, offsets, classes;
    if (!PyArg_ParseTuple(args, "y*y*y*", &data, &offsets, &classes)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = offsets.len / 8 - 1;
    vec_t out = {NULL, 0, 0, 1};
    int64_t *ooff = NULL;
    if (n < 0 || classes.len < 128) { PyErr_SetString(PyExc_ValueError, "lm_tokens: offsets, class table"); goto done; }
    const int64_t *off = (const int64_t *)offsets.buf;
    if (check_offsets(off, n, data.len, "lm_tokens") < 0) goto done;
    ooff = PyMem_RawMalloc((size_t)(n + 1) * 8);
    /* each input code point gives at most its bytes plus one space before it */
    if (!ooff || vec_reserve(&out, (size_t)data.len * 2 + 1) < 0) { PyErr_NoMemory(); goto done; }
    const uint8_t *txt = (const uint8_t *)data.buf, *cls = (const uint8_t *)classes.buf;
    const uint32_t n_cls = (uint32_t)classes.len;
    uint8_t *o = (uint8_t *)out.p;
    size_t w = 0;
    Py_BEGIN_ALLOW_THREADS
    ooff[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *p = txt + off[i], *end = txt + off[i + 1];
        size_t start = w;
        int pending = 0;  /* a space is owed before the next token character */
        while (p < end) {
            uint32_t cp;
            int len = utf8_next(p, end, &cp);
            int k = cp < n_cls ? cls[cp] : 0;
            if (k == 1) { pending = 1; p += len; continue; }
            if (k == 2) pending = 1;
            if (pending && w > start) o[w++] = ' ';
            pending = (k == 2);
            if (k == 3) o[w++] = '0';
            else if (cp >= 'A' && cp <= 'Z') o[w++] = (uint8_t)(cp + 32);
            else { memcpy(o + w, p, (size_t)len); w += (size_t)len; }
            p += len;
        }
        ooff[i + 1] = (int64_t)w;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(y#y#)", (const char *)o, (Py_ssize_t)w, (const char *)ooff, (Py_ssize_t)((n + 1) * 8));
done:
    PyMem_RawFree(out.p); PyMem_RawFree(ooff);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&classes);
    return result;
}

static PyMethodDef methods[] = {
    {"affine32", affine32, METH_VARARGS,
     "affine32(hashes u32, offsets i64[n_docs+1], a u32[P], b u32[P], out u32[n_docs*P]): MinHash signatures"},
    {"shingles32", shingles32, METH_VARARGS,
     "shingles32(data, offsets i64[n+1], classes u8[T], ngram) -> (hashes u32, counts i64): distinct word n-grams"},
    {"gopher_ngrams", gopher_ngrams, METH_VARARGS,
     "gopher_ngrams(tok_data, tok_off i64, doc_off i64, top i32, dup i32, out f64[D*W]): Gopher n-gram characters"},
    {"lm_tokens", lm_tokens, METH_VARARGS,
     "lm_tokens(data, offsets i64[n+1], classes u8[T]) -> (data, offsets i64): CCNet tokens of folded lines"},
    {"xxh3_64", py_xxh3_64, METH_VARARGS, "xxh3_64(bytes) -> int: XXH3 64-bit hash, seed 0"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Compiled kernels: MinHash, Gopher n-grams, CCNet normalization.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
