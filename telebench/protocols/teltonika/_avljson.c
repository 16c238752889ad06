/* Teltonika AVL data straight to JSON: the decoder process's hot path, in C.
 *
 * bodies(data, ident_json) turns the AVL data field of one packet (codec id .. number of
 * data 2; Codec 8, 8 Extended or 16) into one bytes object per record: the record's JSON
 * object without its braces, byte for byte what the Python decoder's dict gives through
 * orjson (same keys, same order, same number formatting). It returns None for anything it
 * does not reproduce exactly -- a malformed packet, a repeated AVL id, text that needs
 * escaping, an id whose name clashes with a header key -- and the caller then runs the
 * Python decoder, which is the reference (it also names the byte of any error). So this
 * file never decides a value on its own: tests compare it with the Python path on every
 * vector and on random records.
 *
 * The AVL id table comes from the parameter registry through configure(), called once by
 * telebench/protocols/teltonika/avl_json.py; no IO parameter name is written here. The
 * record header's keys are (put_header), in the order avl.py's _record and compiled.py's
 * _header write them; the vector and random-packet tests catch any drift.
 * Byte layouts: protocols.md section 3.2 (see plans.py for the same in Python).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    KIND_INT = 0,
    KIND_BOOL = 1,
    KIND_SCALED = 2,
    KIND_SIGNED = 3,
    KIND_BIT = 4,
    KIND_TEXT = 5,
    KIND_HEX = 6,
    KIND_CUSTOM = 7,   /* not in the registry: custom.param.<id> */
    KIND_REFUSE = 8,   /* left to the Python decoder (its name clashes with another key) */
};

#define MAX_MASKS 8
#define MAX_ELEMENTS 512 /* elements of one record handled here (more: Python) */
#define EXACT_INT ((uint64_t)1 << 53) /* below it an integer converts to double exactly */

typedef struct {
    char *key; /* "name": as JSON */
    Py_ssize_t key_len;
    unsigned char kind;
    signed char mask; /* KIND_BIT: which bitmask parameter */
    unsigned char bit;
    signed char places; /* divisor = 10**places, or -1 */
    int64_t divisor;
} Spec;

static Spec specs[65536];
static char *mask_keys[MAX_MASKS];
static Py_ssize_t mask_key_lens[MAX_MASKS];
static int n_masks = 0;
static int configured = 0;

/* A growable output buffer. */
typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t more) {
    if (b->len + more <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int put(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static int put_u64(Buf *b, uint64_t v) {
    char tmp[24];
    int i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put(b, tmp + i, 24 - i);
}

static int put_i64(Buf *b, int64_t v) {
    if (v < 0) {
        if (put(b, "-", 1) < 0) return -1;
        return put_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(b, (uint64_t)v);
}

static int put_bool(Buf *b, int v) { return v ? put(b, "true", 4) : put(b, "false", 5); }

/* A float as orjson writes it: Python's shortest repr, whose digits orjson's are, with
 * orjson's exponents (1e-7, not 1e-07) and plain notation from 1e-5 on (0.000025, not
 * 2.5e-05); checked against orjson over millions of random doubles. 1 written, -1 error. */
static int put_repr(Buf *b, const char *s) {
    if (strpbrk(s, "ni") != NULL) return 0; /* inf, nan: never a ratio of integers */
    const char *e = strchr(s, 'e');
    if (e == NULL) return put(b, s, (Py_ssize_t)strlen(s)) < 0 ? -1 : 1;
    int exp = atoi(e + 1);
    if (exp == -5) { /* "-7.41e-05" -> "-0.0000741" */
        char tmp[40];
        int n = 0;
        if (s[0] == '-') tmp[n++] = '-';
        memcpy(tmp + n, "0.0000", 6);
        n += 6;
        for (const char *c = s; c < e && n < (int)sizeof tmp; c++)
            if (*c != '-' && *c != '.') tmp[n++] = *c;
        return put(b, tmp, n) < 0 ? -1 : 1;
    }
    /* "1e-07" -> "1e-7"; "1e+16" stays */
    if (put(b, s, e - s) < 0 || put(b, exp < 0 ? "e-" : "e+", 2) < 0 ||
        put_u64(b, (uint64_t)(exp < 0 ? -exp : exp)) < 0)
        return -1;
    return 1;
}

static int put_float(Buf *b, double v) {
    char *s = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (s == NULL) return -1;
    int rc = put_repr(b, s);
    PyMem_Free(s);
    return rc;
}

/* num / divisor as Python's int / int gives it (num: a new reference, or NULL). */
static int put_long_ratio(Buf *b, PyObject *num, int64_t divisor) {
    if (num == NULL) return -1;
    PyObject *den = PyLong_FromLongLong(divisor);
    PyObject *q = den ? PyNumber_TrueDivide(num, den) : NULL;
    Py_DECREF(num);
    Py_XDECREF(den);
    if (q == NULL) return -1;
    double v = PyFloat_AsDouble(q);
    Py_DECREF(q);
    return put_float(b, v);
}

#define DECIMAL_LIMIT 1000000000000000ULL /* 10**15: at most 15 significant digits */

/* mag / 10**places (negated if negative) as orjson writes the double nearest to it, without
 * computing that double: for at most 15 significant digits the decimal itself is the
 * shortest string that reads back as that double (two strings of <= 15 digits both within
 * half an ulp, 1.1e-16 relative, of one double would be closer than 15 digits can be), so
 * the digits are mag's, the point goes `places` from the right and trailing zeros go.
 * 1 written, 0 not this case (the caller formats the double), -1 error. */
static int put_decimal(Buf *b, int negative, uint64_t mag, int places) {
    if (places < 0 || mag >= DECIMAL_LIMIT) return 0;
    if (mag == 0) return put(b, "0.0", 3) < 0 ? -1 : 1;
    char digits[24];
    int n = 0;
    for (uint64_t v = mag; v; v /= 10) digits[23 - n++] = (char)('0' + v % 10);
    const char *d = digits + 24 - n;
    if (places >= n && places - n > 4) return 0; /* under 1e-5: exponent notation */
    char out[48];
    int o = 0, last = n;
    while (last > 0 && d[last - 1] == '0' && last > n - places) last--; /* fraction's zeros */
    if (negative) out[o++] = '-';
    if (n > places) {
        memcpy(out + o, d, n - places);
        o += n - places;
        out[o++] = '.';
        if (last > n - places) {
            memcpy(out + o, d + n - places, last - (n - places));
            o += last - (n - places);
        } else {
            out[o++] = '0';
        }
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int z = 0; z < places - n; z++) out[o++] = '0';
        memcpy(out + o, d, last);
        o += last;
    }
    return put(b, out, o) < 0 ? -1 : 1;
}

/* raw / divisor (= 10**places, or places -1), correctly rounded: as a decimal where that is
 * exact, else one float division while both convert to double exactly (what CPython itself
 * does), else Python's exact division. */
static int put_ratio(Buf *b, int64_t raw, int64_t divisor, int places) {
    uint64_t mag = raw < 0 ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;
    int rc = put_decimal(b, raw < 0, mag, places);
    if (rc != 0) return rc;
    if (mag < EXACT_INT && (uint64_t)divisor < EXACT_INT)
        return put_float(b, (double)raw / (double)divisor);
    return put_long_ratio(b, PyLong_FromLongLong(raw), divisor);
}

static int put_uratio(Buf *b, uint64_t raw, int64_t divisor, int places) {
    if (raw < EXACT_INT) return put_ratio(b, (int64_t)raw, divisor, places);
    return put_long_ratio(b, PyLong_FromUnsignedLongLong(raw), divisor);
}

static const char HEX[] = "0123456789ABCDEF";

static int put_hex(Buf *b, const unsigned char *s, Py_ssize_t n) {
    if (buf_reserve(b, 2 * n + 2) < 0) return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        *o++ = HEX[s[i] >> 4];
        *o++ = HEX[s[i] & 15];
    }
    *o++ = '"';
    b->len = o - b->p;
    return 1;
}

/* ASCII text with NULs dropped; 0 (give up) for bytes JSON would escape or not ASCII. */
static int put_text(Buf *b, const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c && (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')) return 0;
    }
    if (buf_reserve(b, n + 2) < 0) return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i]) *o++ = (char)s[i];
    *o++ = '"';
    b->len = o - b->p;
    return 1;
}

static int put_key(Buf *b, const char *key, Py_ssize_t len) {
    if (put(b, ",", 1) < 0) return -1;
    return put(b, key, len);
}

static int put_custom_key(Buf *b, unsigned id) {
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, ",\"custom.param.%u\":", id);
    return put(b, tmp, n);
}

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* One IO element as read off the wire. */
typedef struct {
    unsigned id;
    int width;                 /* bytes of the value */
    int variable;              /* an NX element */
    const unsigned char *at;   /* its value bytes */
} Element;

/* The value of one element under its spec (put_io / put_variable in io_elements.py).
 * 1 written, 0 give up, -1 error. */
static int put_value(Buf *b, const Spec *s, const Element *e) {
    int kind = s->key ? s->kind : KIND_CUSTOM;
    if (e->variable) {
        if (kind == KIND_TEXT) return put_text(b, e->at, e->width);
        if (kind == KIND_HEX || kind == KIND_CUSTOM || e->width < 1 || e->width > 8)
            return put_hex(b, e->at, e->width);
    } else if (kind == KIND_TEXT) {
        return put_text(b, e->at, e->width);
    } else if (kind == KIND_HEX) {
        return put_hex(b, e->at, e->width);
    }
    uint64_t raw = be(e->at, e->width);
    switch (kind) {
    case KIND_INT:
    case KIND_CUSTOM:
        return put_u64(b, raw) < 0 ? -1 : 1;
    case KIND_BOOL:
    case KIND_BIT:
        return put_bool(b, raw != 0) < 0 ? -1 : 1;
    case KIND_SCALED:
        return put_uratio(b, raw, s->divisor, s->places);
    case KIND_SIGNED: {
        int bits = 8 * e->width;
        int64_t v = bits == 64 ? (int64_t)raw
                               : (int64_t)(raw ^ ((uint64_t)1 << (bits - 1))) -
                                     (int64_t)((uint64_t)1 << (bits - 1));
        if (s->divisor == 1) return put_i64(b, v) < 0 ? -1 : 1;
        return put_ratio(b, v, s->divisor, s->places);
    }
    default:
        return 0;
    }
}

/* Whether an element keeps a registry name (and so the spec's kind) or falls to
 * custom.param.<id>: an NX element of a numeric parameter outside 1..8 bytes does. */
static const Spec *spec_of(const Element *e) {
    static const Spec custom = {NULL, 0, KIND_CUSTOM, -1, 0, 0, 1};
    const Spec *s = &specs[e->id];
    if (s->key == NULL) return &custom;
    if (e->variable && s->kind != KIND_TEXT && s->kind != KIND_HEX &&
        (e->width < 1 || e->width > 8))
        return &custom;
    return s;
}

/* The IO part of one record: elements in wire order, each bitmask after its first bit. */
static int put_elements(Buf *b, const Element *els, int n) {
    int mask_value[MAX_MASKS] = {0}, mask_done[MAX_MASKS] = {0};
    for (int i = 0; i < n; i++) { /* a repeated id: dict semantics, left to Python */
        for (int j = 0; j < i; j++)
            if (els[j].id == els[i].id) return 0;
        if (specs[els[i].id].key && specs[els[i].id].kind == KIND_REFUSE) return 0;
        const Spec *s = spec_of(&els[i]);
        if (s->kind == KIND_BIT && be(els[i].at, els[i].width) != 0)
            mask_value[(int)s->mask] |= s->bit;
    }
    for (int i = 0; i < n; i++) {
        const Spec *s = spec_of(&els[i]);
        int rc = s->key ? put_key(b, s->key, s->key_len) : put_custom_key(b, els[i].id);
        if (rc < 0) return -1;
        if ((rc = put_value(b, s, &els[i])) <= 0) return rc;
        if (s->kind == KIND_BIT && !mask_done[(int)s->mask]) {
            int m = s->mask;
            mask_done[m] = 1;
            if (put_key(b, mask_keys[m], mask_key_lens[m]) < 0) return -1;
            if (put_u64(b, (uint64_t)mask_value[m]) < 0) return -1;
        }
    }
    return 1;
}

#define KEY(b, lit) put(b, lit, sizeof(lit) - 1)

/* The header fields, in the Python decoder's order. 1 written, 0 give up, -1 error. */
static int put_header(Buf *b, const unsigned char *r, int codec, const char *ident,
                      Py_ssize_t ident_len) {
    uint64_t ts = be(r, 8);
    int32_t lon = (int32_t)be(r + 9, 4), lat = (int32_t)be(r + 13, 4);
    int16_t alt = (int16_t)be(r + 17, 2);
    unsigned sats = r[21];
    int rc;
    if (ident && (KEY(b, "\"ident\":") < 0 || put(b, ident, ident_len) < 0 || KEY(b, ",") < 0))
        return -1;
    if (KEY(b, "\"timestamp\":") < 0) return -1;
    if ((rc = put_uratio(b, ts, 1000, 3)) <= 0) return rc;
    if (KEY(b, ",\"event.priority.enum\":") < 0 || put_u64(b, r[8]) < 0) return -1;
    if (KEY(b, ",\"position.longitude\":") < 0) return -1;
    if ((rc = put_ratio(b, lon, 10000000, 7)) <= 0) return rc;
    if (KEY(b, ",\"position.latitude\":") < 0) return -1;
    if ((rc = put_ratio(b, lat, 10000000, 7)) <= 0) return rc;
    if (KEY(b, ",\"position.altitude\":") < 0 || put_i64(b, alt) < 0) return -1;
    if (KEY(b, ",\"position.direction\":") < 0 || put_u64(b, be(r + 19, 2)) < 0) return -1;
    if (KEY(b, ",\"position.satellites\":") < 0 || put_u64(b, sats) < 0) return -1;
    if (KEY(b, ",\"position.speed\":") < 0 || put_u64(b, be(r + 22, 2)) < 0) return -1;
    if (KEY(b, ",\"position.valid\":") < 0 || put_bool(b, sats > 0) < 0) return -1;
    if (KEY(b, ",\"event.enum\":") < 0) return -1;
    if (put_u64(b, codec == 0x08 ? r[24] : be(r + 24, 2)) < 0) return -1;
    if (codec == 0x10 && (KEY(b, ",\"event.generation.enum\":") < 0 || put_u64(b, r[26]) < 0))
        return -1;
    return 1;
}

/* Read the elements of the record at d[*pos] (its header already checked in range).
 * Returns the count, -2 when the record is malformed or too big for this path. */
static int read_elements(const unsigned char *d, Py_ssize_t end, Py_ssize_t *pos, int codec,
                         Element *els) {
    int id_size = codec == 0x08 ? 1 : 2, count_size = codec == 0x8E ? 2 : 1;
    Py_ssize_t p = *pos + 24 + (codec == 0x08 ? 1 : 2) + (codec == 0x10 ? 1 : 0);
    if (p + count_size > end) return -2;
    uint64_t total = be(d + p, count_size);
    p += count_size;
    int n = 0;
    static const int widths[4] = {1, 2, 4, 8};
    for (int g = 0; g < 5; g++) {
        if (g == 4 && codec != 0x8E) break;
        if (p + count_size > end) return -2;
        unsigned count = (unsigned)be(d + p, count_size);
        p += count_size;
        for (unsigned k = 0; k < count; k++) {
            if (n >= MAX_ELEMENTS) return -2;
            Element *e = &els[n++];
            if (p + id_size > end) return -2;
            e->id = (unsigned)be(d + p, id_size);
            p += id_size;
            if (g < 4) {
                e->width = widths[g];
                e->variable = 0;
            } else {
                if (p + 2 > end) return -2;
                e->width = (int)be(d + p, 2);
                e->variable = 1;
                p += 2;
            }
            if (p + e->width > end) return -2;
            e->at = d + p;
            p += e->width;
        }
    }
    if (total != (uint64_t)n) return -2;
    *pos = p;
    return n;
}

static PyObject *bodies(PyObject *self, PyObject *args) {
    Py_buffer data;
    PyObject *ident_obj;
    if (!PyArg_ParseTuple(args, "y*O", &data, &ident_obj)) return NULL;
    const char *ident = NULL;
    Py_ssize_t ident_len = 0;
    PyObject *out = NULL;
    Buf b = {NULL, 0, 0};
    Element *els = NULL;
    if (ident_obj != Py_None) {
        if (!PyBytes_Check(ident_obj)) {
            PyErr_SetString(PyExc_TypeError, "ident_json must be bytes or None");
            goto fail;
        }
        ident = PyBytes_AS_STRING(ident_obj);
        ident_len = PyBytes_GET_SIZE(ident_obj);
    }
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure() the AVL id table first");
        goto fail;
    }
    const unsigned char *d = data.buf;
    Py_ssize_t len = data.len, end = len - 1;
    if (len < 3 || (d[0] != 0x08 && d[0] != 0x8E && d[0] != 0x10) || d[1] == 0) goto decline;
    int codec = d[0], count = d[1];
    Py_ssize_t head = 24 + (codec == 0x08 ? 1 : 2) + (codec == 0x10 ? 1 : 0);
    els = PyMem_Malloc(sizeof(Element) * MAX_ELEMENTS);
    out = PyList_New(count);
    if (els == NULL || out == NULL) goto fail;
    Py_ssize_t pos = 2;
    for (int i = 0; i < count; i++) {
        if (pos + head > end) goto decline;
        const unsigned char *r = d + pos;
        int n = read_elements(d, end, &pos, codec, els);
        if (n < 0) goto decline;
        b.len = 0;
        int rc = put_header(&b, r, codec, ident, ident_len);
        if (rc > 0 && n) rc = put_elements(&b, els, n);
        if (rc < 0) goto fail;
        if (rc == 0) goto decline;
        PyObject *body = PyBytes_FromStringAndSize(b.p, b.len);
        if (body == NULL) goto fail;
        PyList_SET_ITEM(out, i, body);
    }
    if (pos != end || d[end] != count) goto decline;
    PyMem_Free(els);
    PyMem_Free(b.p);
    PyBuffer_Release(&data);
    return out;
decline:
    Py_CLEAR(out);
    PyMem_Free(els);
    PyMem_Free(b.p);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(out);
    PyMem_Free(els);
    PyMem_Free(b.p);
    PyBuffer_Release(&data);
    return NULL;
}

static char *copy_bytes(PyObject *obj, Py_ssize_t *len) {
    char *src;
    if (PyBytes_AsStringAndSize(obj, &src, len) < 0) return NULL;
    char *p = PyMem_Malloc(*len ? *len : 1);
    if (p == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(p, src, *len);
    return p;
}

static void clear_table(void) {
    for (int i = 0; i < 65536; i++) {
        PyMem_Free(specs[i].key);
        specs[i].key = NULL;
    }
    for (int m = 0; m < n_masks; m++) {
        PyMem_Free(mask_keys[m]);
        mask_keys[m] = NULL;
    }
    n_masks = 0;
    configured = 0;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *table, *masks;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &table, &PyTuple_Type, &masks))
        return NULL;
    if (PyTuple_GET_SIZE(masks) > MAX_MASKS) {
        PyErr_SetString(PyExc_ValueError, "too many bitmask parameters");
        return NULL;
    }
    clear_table();
    for (Py_ssize_t m = 0; m < PyTuple_GET_SIZE(masks); m++) {
        mask_keys[m] = copy_bytes(PyTuple_GET_ITEM(masks, m), &mask_key_lens[m]);
        n_masks = (int)m + 1;
        if (mask_keys[m] == NULL) goto fail;
    }
    PyObject *key, *value;
    Py_ssize_t at = 0;
    while (PyDict_Next(table, &at, &key, &value)) {
        long id = PyLong_AsLong(key);
        PyObject *name;
        int kind, mask, bit;
        long long divisor;
        if (id == -1 && PyErr_Occurred()) goto fail;
        if (!PyArg_ParseTuple(value, "SiLii", &name, &kind, &divisor, &mask, &bit)) goto fail;
        if (id < 0 || id > 65535 || kind < 0 || kind > KIND_REFUSE || divisor < 1 ||
            (kind == KIND_BIT && (mask < 0 || mask >= n_masks))) {
            PyErr_Format(PyExc_ValueError, "bad spec for AVL id %ld", id);
            goto fail;
        }
        Spec *s = &specs[id];
        PyMem_Free(s->key);
        s->key = copy_bytes(name, &s->key_len);
        if (s->key == NULL) goto fail;
        s->kind = (unsigned char)kind;
        s->divisor = divisor;
        s->mask = (signed char)(kind == KIND_BIT ? mask : -1);
        s->bit = (unsigned char)bit;
        s->places = -1;
        for (long long p = 1, k = 0; k <= 18 && p <= divisor; p *= 10, k++)
            if (p == divisor) s->places = (signed char)k;
    }
    configured = 1;
    Py_RETURN_NONE;
fail:
    clear_table();
    return NULL;
}

static PyMethodDef methods[] = {
    {"bodies", bodies, METH_VARARGS,
     "bodies(data, ident_json) -> list[bytes] | None: each record's JSON without braces."},
    {"configure", configure, METH_VARARGS,
     "configure(table, masks): the AVL id table, {id: (key, kind, divisor, mask, bit)}."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_avljson",
    "Teltonika AVL data straight to JSON bodies (see avl_json.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__avljson(void) { return PyModule_Create(&module); }
