/* Bounds-checked rANS decoder for CompressAI's bitstreams (mmdicm.codec.rans).
 *
 * Decodes exactly what CompressAI's RansEncoder.encode_with_indexes writes (ryg_rans' 64-bit
 * rANS with 32-bit renormalisation words, 16-bit CDF precision, 4-bit bypass chunks for
 * values outside a CDF's range), but never trusts the string:
 *   - every word is read through a bounds check (a short string is an error, not a read past
 *     the end of the buffer);
 *   - a bypass length is at most 8 chunks (the encoder writes raw values below 2^31, so more
 *     is never valid), so no shift overflows and no loop runs on;
 *   - after the last symbol the state must be the encoder's initial state and every word must
 *     have been read: truncated, extended or altered strings are errors, not silent garbage.
 * Errors raise ValueError with a one-line reason; mmdicm turns them into BitstreamError.
 * The GIL is released while decoding.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define PRECISION 16
#define BYPASS_BITS 4
#define MAX_BYPASS_VAL ((1u << BYPASS_BITS) - 1u)
#define MAX_BYPASS_CHUNKS 8 /* raw values < 2^31 */
#define RANS_L (1ull << 31)

typedef struct {
    const unsigned char *data;
    Py_ssize_t nwords, pos;
    uint64_t x;
} Reader;

static int read_word(Reader *r, uint32_t *word) {
    if (r->pos >= r->nwords) return 0;
    const unsigned char *p = r->data + 4 * r->pos++;
    *word = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
            ((uint32_t)p[3] << 24);
    return 1;
}

/* Renormalise after a state update; 0 if the string has no word left. */
static int renorm(Reader *r) {
    if (r->x < RANS_L) {
        uint32_t w;
        if (!read_word(r, &w)) return 0;
        r->x = (r->x << 32) | w;
    }
    return 1;
}

static int get_bits(Reader *r, uint32_t *val) {
    *val = (uint32_t)(r->x & MAX_BYPASS_VAL);
    r->x >>= BYPASS_BITS;
    return renorm(r);
}

/* Returns NULL on success, else a static message; *where gets the failing symbol index. */
static const char *decode_all(Reader *r, const int32_t *indexes, Py_ssize_t n,
                              const int32_t *cdfs, Py_ssize_t n_cdfs, Py_ssize_t cdf_stride,
                              const int32_t *cdf_sizes, const int32_t *offsets, int32_t *out,
                              Py_ssize_t *where) {
    const uint64_t mask = (1u << PRECISION) - 1u;
    uint32_t lo, hi;
    if (!read_word(r, &lo) || !read_word(r, &hi)) {
        *where = 0;
        return "shorter than the 8-byte rANS state";
    }
    r->x = (uint64_t)lo | ((uint64_t)hi << 32);
    for (Py_ssize_t i = 0; i < n; ++i) {
        *where = i;
        const int32_t idx = indexes[i];
        if (idx < 0 || idx >= n_cdfs) return "CDF index out of range";
        const int32_t *cdf = cdfs + (Py_ssize_t)idx * cdf_stride;
        const int32_t size = cdf_sizes[idx];
        const int32_t max_value = size - 2;
        const uint32_t cum = (uint32_t)(r->x & mask);
        int32_t s = 0;
        while (s + 1 < size && (uint32_t)cdf[s + 1] <= cum) ++s;
        const uint32_t start = (uint32_t)cdf[s], freq = (uint32_t)(cdf[s + 1] - cdf[s]);
        r->x = freq * (r->x >> PRECISION) + (r->x & mask) - start;
        if (!renorm(r)) return "string ends before all symbols are decoded";
        int64_t value = s;
        if (s == max_value) { /* bypass: a 4-bit chunk count, then the chunks */
            uint32_t count, chunk;
            if (!get_bits(r, &count)) return "string ends inside a bypass value";
            if (count > MAX_BYPASS_CHUNKS) return "invalid bypass length";
            uint32_t raw = 0;
            for (uint32_t j = 0; j < count; ++j) {
                if (!get_bits(r, &chunk)) return "string ends inside a bypass value";
                raw |= chunk << (j * BYPASS_BITS);
            }
            if (raw >> 31) return "bypass value out of range";
            value = (int64_t)(raw >> 1);
            value = (raw & 1u) ? -value - 1 : value + max_value;
        }
        value += offsets[idx];
        if (value < INT32_MIN || value > INT32_MAX) return "decoded value out of range";
        out[i] = (int32_t)value;
    }
    *where = n;
    if (r->pos != r->nwords) return "bytes left over after the last symbol";
    if (r->x != RANS_L) return "final rANS state is not the encoder's (altered data)";
    return NULL;
}

static int get_int32_buffer(PyObject *obj, Py_buffer *view, int writable, int ndim,
                            const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return 0;
    if (view->itemsize != 4 || view->ndim != ndim ||
        (view->format && strcmp(view->format, "i") && strcmp(view->format, "<i") &&
         strcmp(view->format, "=i") && strcmp(view->format, "l"))) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous %d-D int32 buffer", name,
                     ndim);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

static PyObject *rans_decode(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_idx, *o_cdfs, *o_sizes, *o_offsets, *o_out;
    if (!PyArg_ParseTuple(args, "OOOOOO:decode", &o_data, &o_idx, &o_cdfs, &o_sizes,
                          &o_offsets, &o_out))
        return NULL;
    Py_buffer data, idx, cdfs, sizes, offsets, out;
    int got = 0;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(o_data, &data, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    got = 1;
    if (!get_int32_buffer(o_idx, &idx, 0, 1, "indexes")) goto done;
    got = 2;
    if (!get_int32_buffer(o_cdfs, &cdfs, 0, 2, "cdfs")) goto done;
    got = 3;
    if (!get_int32_buffer(o_sizes, &sizes, 0, 1, "cdf_sizes")) goto done;
    got = 4;
    if (!get_int32_buffer(o_offsets, &offsets, 0, 1, "offsets")) goto done;
    got = 5;
    if (!get_int32_buffer(o_out, &out, 1, 1, "out")) goto done;
    got = 6;

    const Py_ssize_t n = idx.shape[0], n_cdfs = cdfs.shape[0], stride = cdfs.shape[1];
    if (out.shape[0] != n || sizes.shape[0] != n_cdfs || offsets.shape[0] != n_cdfs) {
        PyErr_SetString(PyExc_ValueError, "indexes/out and cdfs/cdf_sizes/offsets lengths differ");
        goto done;
    }
    /* The tables come from the model, not the file; check them once, cheaply. */
    const int32_t *c = (const int32_t *)cdfs.buf, *sz = (const int32_t *)sizes.buf;
    for (Py_ssize_t k = 0; k < n_cdfs; ++k) {
        const int32_t *cdf = c + k * stride;
        if (sz[k] < 2 || sz[k] > stride || cdf[0] != 0 || cdf[sz[k] - 1] != (1 << PRECISION)) {
            PyErr_Format(PyExc_ValueError, "CDF table %zd is invalid (call update(force=True))", k);
            goto done;
        }
        for (int32_t j = 0; j + 1 < sz[k]; ++j)
            if (cdf[j + 1] <= cdf[j]) {
                PyErr_Format(PyExc_ValueError, "CDF table %zd is not increasing", k);
                goto done;
            }
    }
    if (data.len % 4) {
        PyErr_Format(PyExc_ValueError, "length %zd is not a whole number of 4-byte rANS words",
                     data.len);
        goto done;
    }
    Reader r = {(const unsigned char *)data.buf, data.len / 4, 0, 0};
    Py_ssize_t where = 0;
    const char *err;
    Py_BEGIN_ALLOW_THREADS
    err = decode_all(&r, (const int32_t *)idx.buf, n, c, n_cdfs, stride, sz,
                     (const int32_t *)offsets.buf, (int32_t *)out.buf, &where);
    Py_END_ALLOW_THREADS
    if (err) {
        PyErr_Format(PyExc_ValueError, "%s (symbol %zd of %zd, %zd bytes)", err, where, n,
                     data.len);
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    if (got >= 6) PyBuffer_Release(&out);
    if (got >= 5) PyBuffer_Release(&offsets);
    if (got >= 4) PyBuffer_Release(&sizes);
    if (got >= 3) PyBuffer_Release(&cdfs);
    if (got >= 2) PyBuffer_Release(&idx);
    if (got >= 1) PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", rans_decode, METH_VARARGS,
     "decode(data, indexes, cdfs, cdf_sizes, offsets, out): decode one rANS string into out "
     "(int32), raising ValueError for a malformed string."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rans",
                                    "Bounds-checked rANS decoder (see mmdicm.codec.rans).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__rans(void) { return PyModule_Create(&module); }
