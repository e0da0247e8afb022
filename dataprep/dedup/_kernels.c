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

static PyMethodDef methods[] = {
    {"affine32", affine32, METH_VARARGS,
     "affine32(hashes u32, offsets i64[n_docs+1], a u32[P], b u32[P], out u32[n_docs*P]): MinHash signatures"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Compiled MinHash kernels.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
