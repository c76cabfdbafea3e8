/* Bounds-checked rANS decoder for CompressAI's bitstreams (mmdicm.codec.rans), and an
 * encoder writing the same bytes as CompressAI's from NumPy buffers (at the end).
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
                              const int64_t *starts,
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
        const int32_t *cdf = cdfs + (starts ? (Py_ssize_t)starts[idx]
                                            : (Py_ssize_t)idx * cdf_stride);
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

static int get_int64_buffer(PyObject *obj, Py_buffer *view, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return 0;
    if (view->itemsize != 8 || view->ndim != 1 ||
        (view->format && strcmp(view->format, "q") && strcmp(view->format, "<q") &&
         strcmp(view->format, "=q") && strcmp(view->format, "l"))) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous 1-D int64 buffer", name);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* The tables come from the model, not the file; check them once, cheaply. Row k starts at
 * starts[k] of a flat array of `total` entries, or at k * stride when starts is NULL. */
static int check_tables(const int32_t *c, Py_ssize_t n_cdfs, Py_ssize_t stride,
                        const int64_t *starts, Py_ssize_t total, const int32_t *sz) {
    for (Py_ssize_t k = 0; k < n_cdfs; ++k) {
        const Py_ssize_t begin = starts ? (Py_ssize_t)starts[k] : k * stride;
        const Py_ssize_t room = starts ? total - begin : stride;
        if (begin < 0 || room < 0 || sz[k] < 2 || sz[k] > room) {
            PyErr_Format(PyExc_ValueError, "CDF table %zd is out of bounds", k);
            return 0;
        }
        const int32_t *cdf = c + begin;
        if (cdf[0] != 0 || cdf[sz[k] - 1] != (1 << PRECISION)) {
            PyErr_Format(PyExc_ValueError, "CDF table %zd is invalid (call update(force=True))", k);
            return 0;
        }
        for (int32_t j = 0; j + 1 < sz[k]; ++j)
            if (cdf[j + 1] <= cdf[j]) {
                PyErr_Format(PyExc_ValueError, "CDF table %zd is not increasing", k);
                return 0;
            }
    }
    return 1;
}

/* decode(data, indexes, cdfs, cdf_sizes, offsets, out[, starts]): with `starts` (int64, one
 * per table), `cdfs` is a flat 1-D array of variable-length tables (row k at starts[k]);
 * without it, a 2-D array of equal-stride rows. */
static PyObject *rans_decode(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_idx, *o_cdfs, *o_sizes, *o_offsets, *o_out, *o_starts = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOOO|O:decode", &o_data, &o_idx, &o_cdfs, &o_sizes,
                          &o_offsets, &o_out, &o_starts))
        return NULL;
    const int flat = o_starts != Py_None;
    Py_buffer data, idx, cdfs, sizes, offsets, out, starts;
    int got = 0;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(o_data, &data, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    got = 1;
    if (!get_int32_buffer(o_idx, &idx, 0, 1, "indexes")) goto done;
    got = 2;
    if (!get_int32_buffer(o_cdfs, &cdfs, 0, flat ? 1 : 2, "cdfs")) goto done;
    got = 3;
    if (!get_int32_buffer(o_sizes, &sizes, 0, 1, "cdf_sizes")) goto done;
    got = 4;
    if (!get_int32_buffer(o_offsets, &offsets, 0, 1, "offsets")) goto done;
    got = 5;
    if (!get_int32_buffer(o_out, &out, 1, 1, "out")) goto done;
    got = 6;
    if (flat && !get_int64_buffer(o_starts, &starts, "starts")) goto done;
    got = 7;

    const Py_ssize_t n = idx.shape[0], n_cdfs = sizes.shape[0];
    const Py_ssize_t stride = flat ? 0 : cdfs.shape[1];
    const int64_t *st = flat ? (const int64_t *)starts.buf : NULL;
    if (out.shape[0] != n || (!flat && cdfs.shape[0] != n_cdfs) ||
        offsets.shape[0] != n_cdfs || (flat && starts.shape[0] != n_cdfs)) {
        PyErr_SetString(PyExc_ValueError, "indexes/out and cdfs/cdf_sizes/offsets lengths differ");
        goto done;
    }
    const int32_t *c = (const int32_t *)cdfs.buf, *sz = (const int32_t *)sizes.buf;
    if (!check_tables(c, n_cdfs, stride, st, cdfs.shape[0], sz)) goto done;
    if (data.len % 4) {
        PyErr_Format(PyExc_ValueError, "length %zd is not a whole number of 4-byte rANS words",
                     data.len);
        goto done;
    }
    Reader r = {(const unsigned char *)data.buf, data.len / 4, 0, 0};
    Py_ssize_t where = 0;
    const char *err;
    Py_BEGIN_ALLOW_THREADS
    err = decode_all(&r, (const int32_t *)idx.buf, n, c, n_cdfs, stride, st, sz,
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
    if (got >= 7 && flat) PyBuffer_Release(&starts);
    if (got >= 6) PyBuffer_Release(&out);
    if (got >= 5) PyBuffer_Release(&offsets);
    if (got >= 4) PyBuffer_Release(&sizes);
    if (got >= 3) PyBuffer_Release(&cdfs);
    if (got >= 2) PyBuffer_Release(&idx);
    if (got >= 1) PyBuffer_Release(&data);
    return result;
}

/* ------------------------------------------------------------------------------------------
 * Encoder: byte-identical to CompressAI's RansEncoder.encode_with_indexes (ryg_rans' rans64:
 * symbols are pushed in order, then coded backwards; escape values as 4-bit bypass chunks),
 * but reading NumPy buffers instead of Python lists of lists, and sizing its output exactly.
 */
typedef struct {
    uint32_t start, freq; /* freq == 0: a bypass chunk of BYPASS_BITS holding `start` */
} EncSym;

static void enc_put(uint64_t *x, uint32_t **ptr, uint32_t start, uint32_t freq) {
    const uint64_t x_max = ((RANS_L >> PRECISION) << 32) * freq;
    if (*x >= x_max) {
        *--(*ptr) = (uint32_t)*x;
        *x >>= 32;
    }
    *x = ((*x / freq) << PRECISION) + (*x % freq) + start;
}

static void enc_put_bits(uint64_t *x, uint32_t **ptr, uint32_t val) {
    const uint64_t x_max = ((RANS_L >> PRECISION) << 32) * (1u << (PRECISION - BYPASS_BITS));
    if (*x >= x_max) {
        *--(*ptr) = (uint32_t)*x;
        *x >>= 32;
    }
    *x = (*x << BYPASS_BITS) | val;
}

/* Symbols -> EncSym list (out may be NULL to count). Returns the count, or -1 on a value
 * that cannot be coded (*where = its index). */
static Py_ssize_t enc_symbols(const int32_t *symbols, const int32_t *indexes, Py_ssize_t n,
                              const int32_t *cdfs, Py_ssize_t stride, const int64_t *starts,
                              const int32_t *sizes, const int32_t *offsets, EncSym *out,
                              Py_ssize_t *where) {
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; ++i) {
        const int32_t idx = indexes[i];
        const int32_t *cdf = cdfs + (starts ? (Py_ssize_t)starts[idx] : (Py_ssize_t)idx * stride);
        const int64_t max_value = sizes[idx] - 2;
        int64_t value = (int64_t)symbols[i] - offsets[idx];
        uint64_t raw = 0;
        if (value < 0) {
            raw = (uint64_t)(-2 * value - 1);
            value = max_value;
        } else if (value >= max_value) {
            raw = (uint64_t)(2 * (value - max_value));
            value = max_value;
        }
        if (raw >> 31) {
            *where = i;
            return -1;
        }
        if (out) out[m] = (EncSym){(uint32_t)cdf[value], (uint32_t)(cdf[value + 1] - cdf[value])};
        ++m;
        if (value == max_value) {
            uint32_t nb = 0;
            while (nb < MAX_BYPASS_CHUNKS && (raw >> (nb * BYPASS_BITS)) != 0) ++nb;
            if (out) out[m] = (EncSym){nb, 0};
            ++m;
            for (uint32_t j = 0; j < nb; ++j) {
                if (out) out[m] = (EncSym){(uint32_t)(raw >> (j * BYPASS_BITS)) & MAX_BYPASS_VAL, 0};
                ++m;
            }
        }
    }
    return m;
}

/* Code validated arrays into a new bytes object (NULL with an exception set on failure). */
static PyObject *encode_to_bytes(const int32_t *sym, const int32_t *ix, Py_ssize_t n,
                                 const int32_t *c, Py_ssize_t stride, const int64_t *st,
                                 const int32_t *sz, const int32_t *off) {
    Py_ssize_t where = 0;
    const Py_ssize_t m = enc_symbols(sym, ix, n, c, stride, st, sz, off, NULL, &where);
    if (m < 0) {
        PyErr_Format(PyExc_ValueError, "value out of the coder's range (symbol %zd)", where);
        return NULL;
    }
    EncSym *syms = (EncSym *)PyMem_Malloc((size_t)(m ? m : 1) * sizeof(EncSym));
    uint32_t *buf = (uint32_t *)PyMem_Malloc((size_t)(m + 2) * sizeof(uint32_t));
    PyObject *result = NULL;
    if (!syms || !buf) {
        PyErr_NoMemory();
        goto done;
    }
    enc_symbols(sym, ix, n, c, stride, st, sz, off, syms, &where);
    uint32_t *end = buf + m + 2, *ptr = end;
    uint64_t x = RANS_L;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = m - 1; j >= 0; --j) {
        if (syms[j].freq) enc_put(&x, &ptr, syms[j].start, syms[j].freq);
        else enc_put_bits(&x, &ptr, syms[j].start);
    }
    ptr -= 2;
    ptr[0] = (uint32_t)x;
    ptr[1] = (uint32_t)(x >> 32);
    Py_END_ALLOW_THREADS
    /* little-endian words, as CompressAI writes them on x86 */
    const Py_ssize_t nwords = end - ptr;
    result = PyBytes_FromStringAndSize(NULL, nwords * 4);
    if (result) {
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(result);
        for (Py_ssize_t k = 0; k < nwords; ++k)
            for (int b = 0; b < 4; ++b) o[4 * k + b] = (unsigned char)(ptr[k] >> (8 * b));
    }
done:
    PyMem_Free(syms);
    PyMem_Free(buf);
    return result;
}

/* encode(symbols, indexes, cdfs, cdf_sizes, offsets[, starts]) -> bytes */
static PyObject *rans_encode(PyObject *self, PyObject *args) {
    PyObject *o_sym, *o_idx, *o_cdfs, *o_sizes, *o_offsets, *o_starts = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOO|O:encode", &o_sym, &o_idx, &o_cdfs, &o_sizes,
                          &o_offsets, &o_starts))
        return NULL;
    const int flat = o_starts != Py_None;
    Py_buffer sym, idx, cdfs, sizes, offsets, starts;
    int got = 0;
    PyObject *result = NULL;
    if (!get_int32_buffer(o_sym, &sym, 0, 1, "symbols")) return NULL;
    got = 1;
    if (!get_int32_buffer(o_idx, &idx, 0, 1, "indexes")) goto done;
    got = 2;
    if (!get_int32_buffer(o_cdfs, &cdfs, 0, flat ? 1 : 2, "cdfs")) goto done;
    got = 3;
    if (!get_int32_buffer(o_sizes, &sizes, 0, 1, "cdf_sizes")) goto done;
    got = 4;
    if (!get_int32_buffer(o_offsets, &offsets, 0, 1, "offsets")) goto done;
    got = 5;
    if (flat && !get_int64_buffer(o_starts, &starts, "starts")) goto done;
    got = 6;
    const Py_ssize_t n = sym.shape[0], n_cdfs = sizes.shape[0];
    const Py_ssize_t stride = flat ? 0 : cdfs.shape[1];
    const int64_t *st = flat ? (const int64_t *)starts.buf : NULL;
    const int32_t *c = (const int32_t *)cdfs.buf, *sz = (const int32_t *)sizes.buf;
    const int32_t *ix = (const int32_t *)idx.buf;
    if (idx.shape[0] != n || (!flat && cdfs.shape[0] != n_cdfs) ||
        offsets.shape[0] != n_cdfs || (flat && starts.shape[0] != n_cdfs)) {
        PyErr_SetString(PyExc_ValueError, "symbols/indexes and cdfs/cdf_sizes/offsets lengths differ");
        goto done;
    }
    if (!check_tables(c, n_cdfs, stride, st, cdfs.shape[0], sz)) goto done;
    for (Py_ssize_t i = 0; i < n; ++i)
        if (ix[i] < 0 || ix[i] >= n_cdfs) {
            PyErr_Format(PyExc_ValueError, "CDF index out of range (symbol %zd)", i);
            goto done;
        }
    result = encode_to_bytes((const int32_t *)sym.buf, ix, n, c, stride, st, sz,
                             (const int32_t *)offsets.buf);
done:
    if (got >= 6 && flat) PyBuffer_Release(&starts);
    if (got >= 5) PyBuffer_Release(&offsets);
    if (got >= 4) PyBuffer_Release(&sizes);
    if (got >= 3) PyBuffer_Release(&cdfs);
    if (got >= 2) PyBuffer_Release(&idx);
    if (got >= 1) PyBuffer_Release(&sym);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", rans_decode, METH_VARARGS,
     "decode(data, indexes, cdfs, cdf_sizes, offsets, out[, starts]): decode one rANS string "
     "into out (int32), raising ValueError for a malformed string. With starts (int64), cdfs "
     "is a flat array of variable-length tables, table k at starts[k]."},
    {"encode", rans_encode, METH_VARARGS,
     "encode(symbols, indexes, cdfs, cdf_sizes, offsets[, starts]) -> bytes: CompressAI's "
     "RansEncoder.encode_with_indexes on int32 buffers (same bytes)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rans",
                                    "Bounds-checked rANS decoder and a buffer-based encoder (see mmdicm.codec.rans).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__rans(void) { return PyModule_Create(&module); }
