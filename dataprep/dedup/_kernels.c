/* Compiled inner loop of MinHash signatures (datasketch scheme "affine32"), for dataprep.dedup.minhash.
 *
 * For every document (a run of shingle hashes given by offsets) and every permutation k:
 *     sig[k] = min over shingles h of (a[k] * fmix32(h) + b[k]) mod 2^32
 * exactly as datasketch computes it. The loop over permutations is written so that compilers vectorize it
 * (SIMD multiply, add, unsigned min). The package falls back to numpy when this module is not built.
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

/* x86-64 with GCC: an AVX2 clone chosen at run time where the CPU has it, the baseline otherwise */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DISPATCH __attribute__((target_clones("avx2", "default")))
#else
#define DISPATCH
#endif

DISPATCH
static void affine32_loop(const uint32_t *h, Py_ssize_t n_hashes, const int64_t *off, Py_ssize_t n_docs,
                          const uint32_t *pa, const uint32_t *pb, Py_ssize_t n_perm, uint32_t *sig) {
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        uint32_t *s = sig + d * n_perm;
        for (Py_ssize_t k = 0; k < n_perm; k++) s[k] = 0xFFFFFFFFu;
        int64_t lo = off[d], hi = off[d + 1];
        if (lo < 0) lo = 0;
        if (hi > n_hashes) hi = n_hashes;
        for (int64_t i = lo; i < hi; i++) {
            uint32_t x = fmix32(h[i]);
            for (Py_ssize_t k = 0; k < n_perm; k++) {
                uint32_t v = pa[k] * x + pb[k];
                s[k] = v < s[k] ? v : s[k];
            }
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
    Py_BEGIN_ALLOW_THREADS
    affine32_loop(h, n_hashes, off, n_docs, pa, pb, n_perm, sig);
    Py_END_ALLOW_THREADS
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

static PyMethodDef methods[] = {
    {"affine32", affine32, METH_VARARGS,
     "affine32(hashes u32, offsets i64[n_docs+1], a u32[P], b u32[P], out u32[n_docs*P]): MinHash signatures"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Compiled MinHash kernels.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
