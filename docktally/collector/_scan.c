/* The import's per-line loop (docktally/collector/importer.py, parse_chunk), in C.
 *
 * Why C: after orjson has parsed a line (~2.6 us here), reading a dozen fields out of it,
 * checking their types and appending them to columns took ~8 us a line in Python, two thirds of
 * the import's parsing time. This file does exactly what the Python loop's fast path does, in
 * the same order, with the same Python objects; everything that is not the engine's usual
 * shape, and every decision that is not plain (new containers, odd exit codes and signals,
 * actions with an argument that may be lifecycle events, bad lines), is handed back to the
 * Python callables the caller passes, so the rules live in one place. tests/test_import_fast.py
 * checks that the C loop and the Python loop give the same columns.
 *
 * scan(lines, first_line_no, ctx, out) -> lines read (non-blank)
 *   lines: list of bytes (anything else goes through ctx.to_bytes)
 *   ctx:   tuple (loads, decode_error, known, desc_of, ref_of, kind_codes, int_or_none,
 *                 parse_signal, kind_health, pack, frame, slow, to_bytes,
 *                 compose_project_key, compose_service_key)
 *   out:   tuple of 9 lists (refs, times, actions, kinds, exits, signals, healths, packed, raws)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define N_CTX 15
#define N_OUT 9
#define ODD (-1)
#define OTHER (-2)
#define EXIT_MIN (-1)
#define EXIT_MAX 65533
#define SIGNAL_MIN 0
#define SIGNAL_MAX 254
/* packed's fields (store/packing.py): kind | exit + 2 << 7 | signal + 1 << 23 */
#define EXIT_SHIFT 7
#define SIGNAL_SHIFT 23

static PyObject *s_type, *s_action, *s_actor, *s_id, *s_time_nano, *s_attributes, *s_name,
    *s_image, *s_from, *s_exit_code, *s_signal, *s_container;

typedef struct {
    PyObject *loads, *decode_error, *known, *desc_of, *ref_of, *kind_codes, *int_or_none,
        *parse_signal, *kind_health, *pack, *frame, *slow, *to_bytes, *project_key,
        *service_key;
    PyObject *out[N_OUT];
} Ctx;

enum { REFS, TIMES, ACTIONS, KINDS, EXITS, SIGNALS, HEALTHS, PACKED, RAWS };

/* bytes.strip() == b"": every byte ASCII whitespace. */
static int
blank(const char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = p[i];
        if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c'))
            return 0;
    }
    return 1;
}

/* A str, NULL if missing (no error set), or -1 on error via *err. */
static PyObject *
get(PyObject *dict, PyObject *key, int *err)
{
    PyObject *v = PyDict_GetItemWithError(dict, key);
    if (v == NULL && PyErr_Occurred())
        *err = 1;
    return v; /* borrowed */
}

/* The exit code as int or None (new reference); normalize._int_or_none's rules: plain ASCII
 * digits here, anything else through the Python function. */
static PyObject *
exit_code_of(Ctx *c, PyObject *v)
{
    if (v == NULL || v == Py_None)
        Py_RETURN_NONE;
    if (PyUnicode_CheckExact(v) && PyUnicode_IS_ASCII(v)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(v);
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(v);
        if (n >= 1 && n <= 9) {
            long x = 0;
            Py_ssize_t i;
            for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                x = x * 10 + (s[i] - '0');
            if (i == n)
                return PyLong_FromLong(x);
        }
    }
    return PyObject_CallOneArg(c->int_or_none, v);
}

/* packed of a lifecycle row whose action is its kind and that has no health (pack()'s plain
 * case); ODD when a code is out of range. */
static long long
pack_plain(long long code, PyObject *exit_code, PyObject *signal)
{
    long long packed = code;
    int overflow = 0;
    if (exit_code != Py_None) {
        long long e = PyLong_AsLongLongAndOverflow(exit_code, &overflow);
        if (overflow || e < EXIT_MIN || e > EXIT_MAX)
            return ODD;
        packed += (e + 2) << EXIT_SHIFT;
    }
    if (signal != Py_None) {
        long long s = PyLong_AsLongLongAndOverflow(signal, &overflow);
        if (overflow || s < SIGNAL_MIN || s > SIGNAL_MAX)
            return ODD;
        packed += (s + 1) << SIGNAL_SHIFT;
    }
    return packed;
}

/* The engine's usual shape -> the row's columns appended; 0 when the line is not of that shape
 * (nothing appended), 1 when appended, -1 on error. */
static int
usual(Ctx *c, PyObject *payload, PyObject *raw)
{
    int err = 0;
    if (!PyDict_CheckExact(payload))
        return 0;
    PyObject *type = get(payload, s_type, &err);
    PyObject *action = get(payload, s_action, &err);
    PyObject *actor = get(payload, s_actor, &err);
    PyObject *time_ns = get(payload, s_time_nano, &err);
    if (err)
        return -1;
    if (type == NULL || action == NULL || actor == NULL || time_ns == NULL)
        return 0;
    if (!PyDict_CheckExact(actor))
        return 0;
    PyObject *cid = get(actor, s_id, &err);
    PyObject *attrs = get(actor, s_attributes, &err);
    if (err)
        return -1;
    if (cid == NULL || attrs == NULL)
        return 0;
    /* payload["Type"] == "container", by value (a str subclass cannot come out of orjson) */
    if (!PyUnicode_CheckExact(type) || PyUnicode_Compare(type, s_container) != 0) {
        if (PyErr_Occurred())
            return -1;
        return 0;
    }
    if (!PyUnicode_CheckExact(action) || PyUnicode_GET_LENGTH(action) < 1 ||
        PyUnicode_GET_LENGTH(action) > 128)
        return 0;
    if (!PyUnicode_CheckExact(cid) || PyUnicode_GET_LENGTH(cid) < 1 ||
        PyUnicode_GET_LENGTH(cid) > 64)
        return 0;
    if (!PyLong_CheckExact(time_ns))
        return 0;
    int overflow = 0;
    long long t = PyLong_AsLongLongAndOverflow(time_ns, &overflow);
    if (t == -1 && PyErr_Occurred())
        return -1;
    if (overflow || t < 0)
        return 0;
    if (!PyDict_CheckExact(attrs))
        return 0;

    PyObject *name = get(attrs, s_name, &err);
    PyObject *image = get(attrs, s_image, &err);
    PyObject *project = get(attrs, c->project_key, &err);
    PyObject *service = get(attrs, c->service_key, &err);
    if (err)
        return -1;
    if (image == NULL || !PyObject_IsTrue(image)) { /* get("image") or payload.get("from") */
        if (PyErr_Occurred())
            return -1;
        image = get(payload, s_from, &err);
        if (err)
            return -1;
    }
    PyObject *desc = PyTuple_Pack(4, name ? name : Py_None, image ? image : Py_None,
                                  project ? project : Py_None, service ? service : Py_None);
    if (desc == NULL)
        return -1;
    PyObject *ref = PyDict_GetItemWithError(c->known, cid); /* borrowed */
    int same = 0;
    if (ref != NULL) {
        PyObject *entry = PyDict_GetItemWithError(c->desc_of, ref); /* (desc, seen_ns) */
        if (entry == NULL || !PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 1) {
            Py_DECREF(desc);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "container refs out of step");
            return -1;
        }
        same = PyObject_RichCompareBool(PyTuple_GET_ITEM(entry, 0), desc, Py_EQ);
        if (same < 0) {
            Py_DECREF(desc);
            return -1;
        }
    }
    else if (PyErr_Occurred()) {
        Py_DECREF(desc);
        return -1;
    }
    if (ref != NULL && same) {
        Py_INCREF(ref);
    }
    else {
        ref = PyObject_CallFunctionObjArgs(c->ref_of, cid, desc, time_ns, NULL);
        if (ref == NULL) {
            Py_DECREF(desc);
            return -1;
        }
    }
    Py_DECREF(desc);

    PyObject *exit_code = exit_code_of(c, get(attrs, s_exit_code, &err));
    if (exit_code == NULL || err) {
        Py_XDECREF(exit_code);
        Py_DECREF(ref);
        return -1;
    }
    PyObject *signal_v = get(attrs, s_signal, &err);
    PyObject *signal;
    if (err) {
        signal = NULL;
    }
    else if (signal_v == NULL || signal_v == Py_None) {
        signal = Py_NewRef(Py_None);
    }
    else {
        signal = PyObject_CallOneArg(c->parse_signal, signal_v);
    }
    if (signal == NULL) {
        Py_DECREF(exit_code);
        Py_DECREF(ref);
        return -1;
    }

    /* kind and health: plain unless the action has an argument or stray spaces */
    PyObject *kind = Py_NewRef(Py_None), *health = Py_NewRef(Py_None);
    Py_ssize_t n = PyUnicode_GET_LENGTH(action);
    int kind_of_action = 1;
    if (PyUnicode_FindChar(action, ':', 0, n, 1) >= 0 ||
        Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(action, 0)) ||
        Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(action, n - 1))) {
        PyObject *kh = PyObject_CallOneArg(c->kind_health, action);
        if (kh == NULL || !PyTuple_Check(kh) || PyTuple_GET_SIZE(kh) != 2) {
            if (kh != NULL)
                PyErr_SetString(PyExc_TypeError, "kind_health must return a pair");
            Py_XDECREF(kh);
            goto fail;
        }
        Py_SETREF(kind, Py_NewRef(PyTuple_GET_ITEM(kh, 0)));
        Py_SETREF(health, Py_NewRef(PyTuple_GET_ITEM(kh, 1)));
        Py_DECREF(kh);
        kind_of_action = kind == Py_None;
    }
    long long packed;
    PyObject *code = PyDict_GetItemWithError(c->kind_codes, kind_of_action ? action : kind);
    if (code == NULL) {
        if (PyErr_Occurred())
            goto fail;
        packed = OTHER;
    }
    else if (kind_of_action && health == Py_None) {
        packed = pack_plain(PyLong_AsLongLong(code), exit_code, signal);
    }
    else {
        PyObject *p = PyObject_CallFunctionObjArgs(c->pack, action, kind, exit_code, signal,
                                                   health, NULL);
        if (p == NULL)
            goto fail;
        packed = PyLong_AsLongLong(p);
        Py_DECREF(p);
    }
    if (packed == -1 && PyErr_Occurred())
        goto fail;
    PyObject *packed_o = PyLong_FromLongLong(packed);
    if (packed_o == NULL)
        goto fail;
    PyObject *row[N_OUT] = {ref, time_ns, action, kind, exit_code, signal, health, packed_o, raw};
    for (int i = 0; i < N_OUT; i++) {
        if (PyList_Append(c->out[i], row[i]) < 0) {
            Py_DECREF(packed_o);
            goto fail;
        }
    }
    Py_DECREF(packed_o);
    Py_DECREF(ref);
    Py_DECREF(exit_code);
    Py_DECREF(signal);
    Py_DECREF(kind);
    Py_DECREF(health);
    return 1;
fail:
    Py_DECREF(ref);
    Py_DECREF(exit_code);
    Py_DECREF(signal);
    Py_DECREF(kind);
    Py_DECREF(health);
    return -1;
}

/* The raw line for the raw chunk: ending in one "\n" and holding no other. The line itself
 * when it already is (every line of a file but maybe the last), else ctx.frame(line). */
static PyObject *
framed(Ctx *c, PyObject *line)
{
    const char *p = PyBytes_AS_STRING(line);
    Py_ssize_t n = PyBytes_GET_SIZE(line);
    const char *nl = n ? memchr(p, '\n', (size_t)n) : NULL;
    if (nl == p + n - 1 && (n < 2 || p[n - 2] != '\r'))
        return Py_NewRef(line);
    return PyObject_CallOneArg(c->frame, line);
}

static PyObject *
scan(PyObject *self, PyObject *args)
{
    PyObject *lines, *ctx_t, *out_t;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "O!nO!O!", &PyList_Type, &lines, &first, &PyTuple_Type, &ctx_t,
                          &PyTuple_Type, &out_t))
        return NULL;
    if (PyTuple_GET_SIZE(ctx_t) != N_CTX || PyTuple_GET_SIZE(out_t) != N_OUT) {
        PyErr_SetString(PyExc_TypeError, "scan: ctx or out of the wrong size");
        return NULL;
    }
    Ctx c;
    PyObject **slots[N_CTX] = {&c.loads, &c.decode_error, &c.known, &c.desc_of, &c.ref_of,
                               &c.kind_codes, &c.int_or_none, &c.parse_signal, &c.kind_health,
                               &c.pack, &c.frame, &c.slow, &c.to_bytes, &c.project_key,
                               &c.service_key};
    for (int i = 0; i < N_CTX; i++)
        *slots[i] = PyTuple_GET_ITEM(ctx_t, i);
    if (!PyDict_CheckExact(c.known) || !PyDict_CheckExact(c.desc_of) ||
        !PyDict_CheckExact(c.kind_codes)) {
        PyErr_SetString(PyExc_TypeError, "scan: known, desc_of and kind_codes must be dicts");
        return NULL;
    }
    for (int i = 0; i < N_OUT; i++) {
        c.out[i] = PyTuple_GET_ITEM(out_t, i);
        if (!PyList_CheckExact(c.out[i])) {
            PyErr_SetString(PyExc_TypeError, "scan: out must hold lists");
            return NULL;
        }
    }

    Py_ssize_t read = 0;
    /* The list may not change under us: callbacks only ever see the one line. */
    Py_ssize_t count = PyList_GET_SIZE(lines);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (PyBytes_CheckExact(line))
            Py_INCREF(line);
        else if ((line = PyObject_CallOneArg(c.to_bytes, line)) == NULL)
            return NULL;
        else if (!PyBytes_CheckExact(line)) {
            Py_DECREF(line);
            PyErr_SetString(PyExc_TypeError, "scan: to_bytes must return bytes");
            return NULL;
        }
        PyObject *payload = PyObject_CallOneArg(c.loads, line);
        if (payload == NULL) {
            if (!PyErr_ExceptionMatches(c.decode_error)) {
                Py_DECREF(line);
                return NULL;
            }
            PyErr_Clear();
            if (blank(PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line))) {
                Py_DECREF(line);
                continue;
            }
        }
        read++;
        PyObject *raw = framed(&c, line);
        int done = 0;
        if (raw != NULL && payload != NULL)
            done = usual(&c, payload, raw);
        Py_XDECREF(payload);
        if (raw == NULL || done < 0) {
            Py_XDECREF(raw);
            Py_DECREF(line);
            return NULL;
        }
        if (!done) { /* the shared way: normalize_event, with its errors */
            PyObject *r = PyObject_CallFunction(c.slow, "OnO", line, first + i, raw);
            if (r == NULL) {
                Py_DECREF(raw);
                Py_DECREF(line);
                return NULL;
            }
            Py_DECREF(r);
        }
        Py_DECREF(raw);
        Py_DECREF(line);
    }
    return PyLong_FromSsize_t(read);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "The import's line loop; see docktally/collector/_scan.c."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_type, "Type"},         {&s_action, "Action"},         {&s_actor, "Actor"},
        {&s_id, "ID"},             {&s_time_nano, "timeNano"},    {&s_attributes, "Attributes"},
        {&s_name, "name"},         {&s_image, "image"},           {&s_from, "from"},
        {&s_exit_code, "exitCode"}, {&s_signal, "signal"},        {&s_container, "container"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL)
            return NULL;
    }
    return PyModule_Create(&module);
}
