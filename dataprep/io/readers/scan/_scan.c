/* Compiled line scans of JSONL blocks, for dataprep.io.readers.scan (the JSONL reader and the file ranges).
 *
 * scan_lines(buf) -> (n_lines, n_blank, objects, max_len) walks the lines of a block once with memchr:
 *   n_lines  lines in the block (a last line without a newline counts);
 *   n_blank  empty lines ("" or "\r");
 *   objects  1 when every non-blank line starts with '{' and ends with '}' (before an optional '\r'): only such
 *            blocks go to pyarrow's parser, which crashes the process on a top-level scalar line;
 *   max_len  the longest line in bytes (pyarrow's block size must exceed it).
 * count_newlines(buf) -> int counts '\n' bytes (a loop compilers vectorize).
 *
 * Both read any buffer (bytes, a memoryview of a memory map) without copying and release the GIL, so the shard
 * writer's thread runs meanwhile. The package falls back to numpy when this module is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DISPATCH __attribute__((target_clones("avx2", "default")))
#else
#define DISPATCH
#endif

static PyObject *scan_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const char *p = (const char *)view.buf, *end = p + view.len;
    Py_ssize_t n_lines = 0, n_blank = 0, max_len = 0;
    int objects = 1;
    Py_BEGIN_ALLOW_THREADS
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        Py_ssize_t len = stop - p;
        if (len > max_len) max_len = len;
        const char *last = stop;
        if (last > p && last[-1] == '\r') last--;
        if (last == p) {
            n_blank++;
        } else if (objects && (p[0] != '{' || last[-1] != '}')) {
            objects = 0;
        }
        n_lines++;
        p = nl ? nl + 1 : end;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("nnOn", n_lines, n_blank, objects ? Py_True : Py_False, max_len);
}

DISPATCH
static int64_t count_byte(const unsigned char *p, Py_ssize_t n, unsigned char c) {
    /* per block of 255 x 32 bytes, 32 byte-wide counters (one SIMD register) that cannot overflow */
    int64_t total = 0;
    while (n >= 32) {
        Py_ssize_t rounds = n / 32 < 255 ? n / 32 : 255;
        unsigned char acc[32] = {0};
        for (Py_ssize_t r = 0; r < rounds; r++, p += 32)
            for (int k = 0; k < 32; k++) acc[k] += (p[k] == c);
        for (int k = 0; k < 32; k++) total += acc[k];
        n -= rounds * 32;
    }
    for (Py_ssize_t i = 0; i < n; i++) total += (p[i] == c);
    return total;
}

static PyObject *count_newlines(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    int64_t n;
    Py_BEGIN_ALLOW_THREADS
    n = count_byte((const unsigned char *)view.buf, view.len, '\n');
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromLongLong((long long)n);
}

static PyMethodDef methods[] = {
    {"scan_lines", scan_lines, METH_VARARGS,
     "scan_lines(buf) -> (n_lines, n_blank, objects, max_len) of a block of JSON lines"},
    {"count_newlines", count_newlines, METH_VARARGS, "count_newlines(buf) -> number of '\\n' bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "Compiled line scans of JSONL blocks.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
