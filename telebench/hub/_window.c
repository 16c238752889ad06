/* The duplicate window's key sets in C: generations of open-addressing tables of int64.
 *
 * The same window as telebench/hub/window.py's GenerationSets (which stays as the
 * reference and the fallback): keys go into the newest generation; once it holds `size`
 * keys a new one starts, and beyond `full` full ones the oldest is dropped whole. Here a
 * generation is a flat table of 8-byte keys (0 marks a free slot; key 0 itself is a flag),
 * so a lookup reads one cache line per generation, where a Python set reads its table and
 * then the int object, and adding a key allocates nothing. A dropped table is cleared with
 * one memset and reused. A table grows (doubles) only if a batch overfills it past 3/4.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_GENERATIONS 8

typedef struct {
    uint64_t *slots;
    uint64_t mask; /* slots - 1 (a power of two minus one) */
    int shift;     /* 64 - log2(slots): a slot is the top bits of a multiplicative hash */
    Py_ssize_t count;
    int has_zero;
} Table;

typedef struct {
    PyObject_HEAD
    Py_ssize_t capacity, size;
    int full;            /* full generations kept besides the filling one */
    int live;            /* generations in use, oldest first from `first` */
    int first;           /* ring index of the oldest */
    Table tables[MAX_GENERATIONS];
} Window;

static inline uint64_t slot_of(uint64_t key, int shift) {
    return key * 0x9E3779B97F4A7C15ULL >> shift;
}

static int table_has(const Table *t, uint64_t key) {
    if (key == 0) return t->has_zero;
    for (uint64_t i = slot_of(key, t->shift);; i = (i + 1) & t->mask) {
        uint64_t k = t->slots[i];
        if (k == key) return 1;
        if (k == 0) return 0;
    }
}

static void table_put(Table *t, uint64_t key) { /* key known absent, room known */
    if (key == 0) {
        t->has_zero = 1;
    } else {
        uint64_t i = slot_of(key, t->shift);
        while (t->slots[i]) i = (i + 1) & t->mask;
        t->slots[i] = key;
    }
    t->count++;
}

static int table_init(Table *t, uint64_t nslots) {
    t->slots = PyMem_Calloc(nslots, sizeof(uint64_t));
    if (t->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->mask = nslots - 1;
    t->shift = 64;
    for (uint64_t n = nslots; n > 1; n >>= 1) t->shift--;
    t->count = 0;
    t->has_zero = 0;
    return 0;
}

static int table_grow(Table *t) {
    Table bigger;
    if (table_init(&bigger, 2 * (t->mask + 1)) < 0) return -1;
    for (uint64_t i = 0; i <= t->mask; i++)
        if (t->slots[i]) table_put(&bigger, t->slots[i]);
    bigger.has_zero = t->has_zero;
    bigger.count = t->count;
    PyMem_Free(t->slots);
    *t = bigger;
    return 0;
}

static Table *gen(Window *w, int age) { return &w->tables[(w->first + age) % MAX_GENERATIONS]; }

static int window_has(Window *w, uint64_t key) {
    for (int g = w->live - 1; g >= 0; g--) /* newest first: a resend is recent */
        if (table_has(gen(w, g), key)) return 1;
    return 0;
}

/* Put one new key in the newest generation (growing it if a batch overfills it). */
static int window_put(Window *w, uint64_t key) {
    Table *t = gen(w, w->live - 1);
    if ((uint64_t)(t->count + 1) * 4 > (t->mask + 1) * 3 && table_grow(t) < 0) return -1;
    table_put(t, key);
    return 0;
}

/* After a call: start a generation when the newest is full, drop the oldest beyond `full`. */
static int window_rotate(Window *w) {
    if (gen(w, w->live - 1)->count < w->size) return 0;
    if (w->live == w->full + 1) { /* the oldest leaves; its table is cleared and reused */
        Table *oldest = gen(w, 0), old = *oldest;
        memset(oldest, 0, sizeof *oldest); /* one owner per table */
        w->first = (w->first + 1) % MAX_GENERATIONS;
        w->live--;
        memset(old.slots, 0, (old.mask + 1) * sizeof(uint64_t));
        old.count = 0;
        old.has_zero = 0;
        *gen(w, w->live) = old;
    } else {
        uint64_t nslots = 16;
        while (nslots < 2 * (uint64_t)w->size) nslots *= 2;
        if (table_init(gen(w, w->live), nslots) < 0) return -1;
    }
    w->live++;
    return 0;
}

static int key_of(PyObject *obj, uint64_t *key) {
    long long v = PyLong_AsLongLong(obj);
    if (v == -1 && PyErr_Occurred()) return -1;
    *key = (uint64_t)v;
    return 0;
}

static PyObject *Window_add(Window *w, PyObject *obj) {
    uint64_t key;
    if (key_of(obj, &key) < 0) return NULL;
    if (window_has(w, key)) Py_RETURN_FALSE;
    if (window_put(w, key) < 0 || window_rotate(w) < 0) return NULL;
    Py_RETURN_TRUE;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Whether keys[0..n) are all distinct and none is in the window (GenerationSets' test). */
static int all_new(Window *w, const uint64_t *ks, Py_ssize_t n, uint64_t *scratch) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (window_has(w, ks[i])) return 0;
    memcpy(scratch, ks, n * sizeof(uint64_t));
    qsort(scratch, n, sizeof(uint64_t), cmp_u64);
    for (Py_ssize_t i = 1; i < n; i++)
        if (scratch[i] == scratch[i - 1]) return 0;
    return 1;
}

/* As GenerationSets.add_many: all new and distinct, one insert and one rotation (a
 * packet may overfill the newest generation); otherwise add() key by key. */
static PyObject *Window_add_many(Window *w, PyObject *keys) {
    PyObject *seq = PySequence_Fast(keys, "add_many() takes a sequence of ints");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = NULL;
    uint64_t *ks = PyMem_Malloc((2 * n + 1) * sizeof(uint64_t));
    if (ks == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) /* every key read before any is added */
        if (key_of(items[i], &ks[i]) < 0) goto fail;
    out = PyList_New(n);
    if (out == NULL) goto fail;
    int bulk = all_new(w, ks, n, ks + n);
    for (Py_ssize_t i = 0; i < n; i++) {
        int fresh = bulk || !window_has(w, ks[i]);
        if (fresh && window_put(w, ks[i]) < 0) goto fail;
        if (!bulk && fresh && window_rotate(w) < 0) goto fail;
        PyObject *answer = fresh ? Py_True : Py_False;
        Py_INCREF(answer);
        PyList_SET_ITEM(out, i, answer);
    }
    if (bulk && window_rotate(w) < 0) goto fail;
    PyMem_Free(ks);
    Py_DECREF(seq);
    return out;
fail:
    Py_XDECREF(out);
    PyMem_Free(ks);
    Py_DECREF(seq);
    return NULL;
}

static int Window_contains(Window *w, PyObject *obj) {
    uint64_t key;
    if (key_of(obj, &key) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError) &&
            !PyErr_ExceptionMatches(PyExc_TypeError))
            return -1;
        PyErr_Clear(); /* not an int64: never a key */
        return 0;
    }
    return window_has(w, key);
}

static Py_ssize_t Window_len(Window *w) {
    Py_ssize_t n = 0;
    for (int g = 0; g < w->live; g++) n += gen(w, g)->count;
    return n;
}

static int Window_init(Window *w, PyObject *args, PyObject *kwds) {
    static char *names[] = {"capacity", "generations", NULL};
    Py_ssize_t capacity;
    int generations = 2;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|i", names, &capacity, &generations))
        return -1;
    if (capacity < 1 || generations < 1 || generations >= MAX_GENERATIONS) {
        PyErr_SetString(PyExc_ValueError, "capacity >= 1 and 1 <= generations < 8");
        return -1;
    }
    for (int g = 0; g < MAX_GENERATIONS; g++) {
        PyMem_Free(w->tables[g].slots);
        w->tables[g].slots = NULL;
    }
    w->capacity = capacity;
    w->full = generations < capacity ? generations : (int)capacity;
    w->size = (capacity + w->full - 1) / w->full;
    w->first = 0;
    w->live = 0;
    uint64_t nslots = 16;
    while (nslots < 2 * (uint64_t)w->size) nslots *= 2;
    if (table_init(&w->tables[0], nslots) < 0) return -1;
    w->live = 1;
    return 0;
}

static void Window_dealloc(Window *w) {
    for (int g = 0; g < MAX_GENERATIONS; g++) PyMem_Free(w->tables[g].slots);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

static PyObject *Window_get_capacity(Window *w, void *closure) {
    return PyLong_FromSsize_t(w->capacity);
}

static PyMethodDef Window_methods[] = {
    {"add", (PyCFunction)Window_add, METH_O, "add(key) -> bool: False if already known."},
    {"add_many", (PyCFunction)Window_add_many, METH_O,
     "add_many(keys) -> list[bool]: add() each key in order."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Window_getset[] = {
    {"capacity", (getter)Window_get_capacity, NULL, "keys the window always knows", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Window_as_sequence = {
    .sq_length = (lenfunc)Window_len,
    .sq_contains = (objobjproc)Window_contains,
};

static PyTypeObject WindowType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "telebench.hub._window.Window",
    .tp_basicsize = sizeof(Window),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Window(capacity, generations=2): the latest keys, in generations.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Window_init,
    .tp_dealloc = (destructor)Window_dealloc,
    .tp_methods = Window_methods,
    .tp_getset = Window_getset,
    .tp_as_sequence = &Window_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_window", "The duplicate window's key sets (see window.py).", -1,
    NULL,
};

PyMODINIT_FUNC PyInit__window(void) {
    if (PyType_Ready(&WindowType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&WindowType);
    if (PyModule_AddObject(m, "Window", (PyObject *)&WindowType) < 0) {
        Py_DECREF(&WindowType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
