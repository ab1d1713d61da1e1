/* The import's line loop (docktally/collector/importer.py, parse_chunk), in C.
 *
 * Why C: per line, orjson alone took ~3-5 us here, and reading a dozen fields out of its dict,
 * checking their types and appending them to columns took ~8 us more in Python: the import's
 * parsing was two thirds of its time. This file reads the usual line's values straight from its
 * bytes (the plain-JSON scanner below; orjson only for lines outside its subset), and then does
 * what importer.scan_py, the same loop in Python, does, with the same Python objects. The
 * decisions that are not plain (new containers, odd exit codes and signals, health events'
 * packing, lines off the usual shape and bad lines) are handed to the Python callables the
 * caller passes, so those rules live in one place. tests/test_import_fast.py checks that the
 * two loops give the same chunks, on odd, recorded, generated and randomly mangled lines.
 *
 * scan(lines, first_line_no, ctx, out) -> (lines read (not blank), lines seen, raw lines)
 *   lines: a list of lines (bytes; anything else goes through ctx.to_bytes), or one bytes
 *          block of whole lines, split at "\n" as a file is read
 *   ctx:   (loads, decode_error, known, desc_of, ref_of, kind_codes, code_or_none, parse_signal,
 *           kind_health (scan_py's: this file has its own), pack, slow, to_bytes,
 *           compose_project_key, compose_service_key)
 *   out:   8 lists, the row columns (refs, times, actions, kinds, exits, signals, healths,
 *          packed); the raw lines of the rows come back framed, in one bytes
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <string.h>

#define N_CTX 14
#define N_ACTIONS 16
#define NONE LLONG_MIN /* a missing exit code or signal in its int64 column */
#define ODD (-1)
#define OTHER (-2)
#define EXIT_MIN (-1)
#define EXIT_MAX 65533
#define SIGNAL_MIN 0
#define SIGNAL_MAX 254
/* packed's fields (store/packing.py): kind | health << 5 | exit + 2 << 7 | signal + 1 << 23 */
#define HEALTH_SHIFT 5 /* 1 healthy, 2 unhealthy */
#define EXIT_SHIFT 7
#define SIGNAL_SHIFT 23

static PyObject *s_type, *s_action, *s_actor, *s_id, *s_time_nano, *s_attributes, *s_name,
    *s_image, *s_from, *s_exit_code, *s_signal, *s_container;

typedef struct {
    PyObject *loads, *decode_error, *known, *desc_of, *ref_of, *kind_codes, *code_or_none,
        *parse_signal, *kind_health, *pack, *slow, *to_bytes, *project_key, *service_key;
    struct Cols *out;
    const char *project_key_s, *service_key_s; /* the label keys' UTF-8, for the scanner */
    size_t project_len, service_len;
    PyObject *actions[N_ACTIONS]; /* recent action strs (owned), see action_str */
    int next_action;
} Ctx;


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

/* A str of 1 to 9 ASCII digits (so within int32) -> 1 and its value; else 0. */
static int
small_digits(PyObject *v, long *out)
{
    if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_ASCII(v))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(v);
    if (n < 1 || n > 9)
        return 0;
    long x = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *out = x;
    return 1;
}

/* An exit code or a signal as int or None (new reference): plain ASCII digits here, anything
 * else ("SIGTERM", " 3 ", 1.5) through `parse`, normalize.code_or_none or .parse_signal, whose
 * rules these are. */
static PyObject *
code_of(PyObject *v, PyObject *parse)
{
    if (v == NULL || v == Py_None)
        Py_RETURN_NONE;
    long x;
    if (small_digits(v, &x))
        return PyLong_FromLong(x);
    return PyObject_CallOneArg(parse, v);
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

/* What the usual path needs of a line: owned references, NULL where the line has no such
 * field. `image` is already `Attributes.image or from`. */
typedef struct {
    PyObject *action, *cid, *time_ns, *name, *image, *project, *service, *exit_raw, *signal_raw;
} Row;

static void
row_clear(Row *r)
{
    Py_CLEAR(r->action);
    Py_CLEAR(r->cid);
    Py_CLEAR(r->time_ns);
    Py_CLEAR(r->name);
    Py_CLEAR(r->image);
    Py_CLEAR(r->project);
    Py_CLEAR(r->service);
    Py_CLEAR(r->exit_raw);
    Py_CLEAR(r->signal_raw);
}

/* The usual shape's checks on a row (as importer.scan_py's): 1 if it passes. */
static int
row_usual(Row *r)
{
    if (r->action == NULL || r->cid == NULL || r->time_ns == NULL)
        return 0;
    if (!PyUnicode_CheckExact(r->action) || PyUnicode_GET_LENGTH(r->action) < 1 ||
        PyUnicode_GET_LENGTH(r->action) > 128)
        return 0;
    if (!PyUnicode_CheckExact(r->cid) || PyUnicode_GET_LENGTH(r->cid) < 1 ||
        PyUnicode_GET_LENGTH(r->cid) > 64)
        return 0;
    if (!PyLong_CheckExact(r->time_ns))
        return 0;
    int overflow = 0;
    long long t = PyLong_AsLongLongAndOverflow(r->time_ns, &overflow);
    if (t == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return !overflow && t >= 0;
}

/* orjson's dict -> a row; 0 when the payload is not of the usual shape (the row is left
 * empty), 1 when filled, -1 on error. */
static int
row_from_dict(Ctx *c, PyObject *payload, Row *r)
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
    if (cid == NULL || attrs == NULL || !PyDict_CheckExact(attrs))
        return 0;
    /* payload["Type"] == "container", by value (a str subclass cannot come out of orjson) */
    if (!PyUnicode_CheckExact(type) || PyUnicode_Compare(type, s_container) != 0) {
        if (PyErr_Occurred())
            return -1;
        return 0;
    }
    PyObject *name = get(attrs, s_name, &err);
    PyObject *image = get(attrs, s_image, &err);
    PyObject *project = get(attrs, c->project_key, &err);
    PyObject *service = get(attrs, c->service_key, &err);
    PyObject *exit_raw = get(attrs, s_exit_code, &err);
    PyObject *signal_raw = get(attrs, s_signal, &err);
    if (err)
        return -1;
    if (image == NULL || !PyObject_IsTrue(image)) { /* get("image") or payload.get("from") */
        if (PyErr_Occurred())
            return -1;
        image = get(payload, s_from, &err);
        if (err)
            return -1;
    }
    r->action = Py_NewRef(action);
    r->cid = Py_NewRef(cid);
    r->time_ns = Py_NewRef(time_ns);
    r->name = Py_XNewRef(name);
    r->image = Py_XNewRef(image);
    r->project = Py_XNewRef(project);
    r->service = Py_XNewRef(service);
    r->exit_raw = Py_XNewRef(exit_raw);
    r->signal_raw = Py_XNewRef(signal_raw);
    if (!row_usual(r)) {
        row_clear(r);
        return 0;
    }
    return 1;
}

/* ---- the plain-JSON scanner ---------------------------------------------------------------
 * orjson builds a dict of every line (~5 us here) of which the import reads a dozen values. The
 * scanner reads those values straight from the bytes, and only for lines inside a plain subset
 * of JSON where that is safe to do without a full parser: printable ASCII strings with no
 * escapes, integers of at most 18 digits, and no repeated key among those it reads. Anything
 * else (an escape, a byte above 0x7f, a fraction, a deeper nesting, a malformed line) makes it
 * give up, and the line goes to orjson as before, which also gives bad lines their error. Within
 * the subset, JSON and Python agree on every value, so a line the scanner accepts is one orjson
 * accepts with the same values (tests/test_import_fast.py fuzzes this against orjson). */

typedef struct {
    const char *p, *end;
} Cursor;

typedef struct {
    const char *p;
    Py_ssize_t n;
} Slice; /* p == NULL: absent */

#define MAX_DEPTH 32

static void
ws(Cursor *k)
{
    while (k->p < k->end && (*k->p == ' ' || *k->p == '\t' || *k->p == '\n' || *k->p == '\r'))
        k->p++;
}

/* A plain string at the cursor (just past its closing quote after) -> its contents. The quote
 * is found with memchr, and the bytes before it checked in one pass without early exits,
 * which the compiler vectorises: strings are most of a line's bytes. */
static int
plain_string(Cursor *k, Slice *out)
{
    if (k->p >= k->end || *k->p != '"')
        return 0;
    const char *start = k->p + 1;
    const char *quote = memchr(start, '"', (size_t)(k->end - start));
    if (quote == NULL)
        return 0;
    unsigned char bad = 0;
    for (const unsigned char *q = (const unsigned char *)start; q < (const unsigned char *)quote;
         q++)
        bad |= (unsigned char)((*q < 0x20) | (*q > 0x7e) | (*q == '\\'));
    if (bad)
        return 0; /* an escape (so the quote found may be escaped), a control or non-ASCII byte */
    out->p = start;
    out->n = quote - start;
    k->p = quote + 1;
    return 1;
}

/* A non-negative integer up to 2**63 - 1, or a negative one of at most 18 digits (no fraction,
 * no exponent, no leading zero): the range in which orjson surely takes it as an int. */
static int
plain_int(Cursor *k, long long *out)
{
    int neg = 0;
    if (k->p < k->end && *k->p == '-') {
        neg = 1;
        k->p++;
    }
    const char *start = k->p;
    unsigned long long v = 0; /* 19 digits stay below 2**64 */
    while (k->p < k->end && *k->p >= '0' && *k->p <= '9') {
        v = v * 10 + (unsigned long long)(*k->p - '0');
        k->p++;
        if (k->p - start > 19)
            return 0;
    }
    Py_ssize_t digits = k->p - start;
    if (digits == 0 || (digits > 1 && *start == '0'))
        return 0;
    if (k->p < k->end && (*k->p == '.' || *k->p == 'e' || *k->p == 'E'))
        return 0;
    if (v > (unsigned long long)LLONG_MAX || (neg && digits > 18))
        return 0;
    *out = neg ? -(long long)v : (long long)v;
    return 1;
}

static int
literal(Cursor *k, const char *word, Py_ssize_t n)
{
    if (k->end - k->p < n || memcmp(k->p, word, (size_t)n) != 0)
        return 0;
    k->p += n;
    return 1;
}

typedef struct Plain Plain;

/* Called for each member of an object the scanner reads, at its value: 1 when it read the
 * value, 0 to have it skipped, -1 to give up. */
typedef int (*MemberFn)(Cursor *k, const Slice *key, Plain *f, const Ctx *c, int depth);

static int skip_value(Cursor *k, int depth);

/* An object's members (close '}') or an array's elements (close ']'), after the opening
 * bracket: each value handed to `member` (objects only; NULL: every value skipped). */
static int
items(Cursor *k, int depth, char close, MemberFn member, Plain *f, const Ctx *c)
{
    ws(k);
    if (k->p < k->end && *k->p == close) {
        k->p++;
        return 1;
    }
    for (;;) {
        ws(k);
        int r = 0;
        if (close == '}') {
            Slice key;
            if (!plain_string(k, &key))
                return 0;
            ws(k);
            if (k->p >= k->end || *k->p != ':')
                return 0;
            k->p++;
            ws(k);
            if (member != NULL && (r = member(k, &key, f, c, depth)) < 0)
                return 0;
        }
        if (r == 0 && !skip_value(k, depth + 1))
            return 0;
        ws(k);
        if (k->p >= k->end)
            return 0;
        if (*k->p == ',') {
            k->p++;
            continue;
        }
        if (*k->p == close) {
            k->p++;
            return 1;
        }
        return 0;
    }
}

/* Any value of the subset, checked and passed over. */
static int
skip_value(Cursor *k, int depth)
{
    Slice s;
    long long v;
    if (depth > MAX_DEPTH || k->p >= k->end)
        return 0;
    switch (*k->p) {
    case '"':
        return plain_string(k, &s);
    case '{':
        k->p++;
        return items(k, depth, '}', NULL, NULL, NULL);
    case '[':
        k->p++;
        return items(k, depth, ']', NULL, NULL, NULL);
    case 't':
        return literal(k, "true", 4);
    case 'f':
        return literal(k, "false", 5);
    case 'n':
        return literal(k, "null", 4);
    default:
        return plain_int(k, &v);
    }
}

static int
key_is(const Slice *key, const char *word)
{
    size_t n = strlen(word);
    return (size_t)key->n == n && memcmp(key->p, word, n) == 0;
}

/* The value of a key the scanner reads: a plain string, seen once. */
static int
take_string(Cursor *k, Slice *slot)
{
    if (slot->p != NULL)
        return 0; /* repeated: orjson keeps the last, leave it to orjson */
    return plain_string(k, slot);
}

/* What the scanner read of a line. */
struct Plain {
    Slice type, action, from, cid, name, image, project, service, exit_code, signal;
    long long time_ns;
    int has_time, has_actor, has_attrs;
};

/* An object at the cursor, its members handed to `member`. */
static int
members(Cursor *k, MemberFn member, Plain *f, const Ctx *c, int depth)
{
    if (k->p >= k->end || *k->p != '{')
        return 0;
    k->p++;
    return items(k, depth, '}', member, f, c);
}

/* The members the scanner reads, at each level (see MemberFn). */
static int
attrs_member(Cursor *k, const Slice *key, Plain *f, const Ctx *c, int depth)
{
    Slice *slot = NULL;
    if (key_is(key, "name"))
        slot = &f->name;
    else if (key_is(key, "image"))
        slot = &f->image;
    else if (key_is(key, "exitCode"))
        slot = &f->exit_code;
    else if (key_is(key, "signal"))
        slot = &f->signal;
    else if ((size_t)key->n == c->project_len && memcmp(key->p, c->project_key_s, key->n) == 0)
        slot = &f->project;
    else if ((size_t)key->n == c->service_len && memcmp(key->p, c->service_key_s, key->n) == 0)
        slot = &f->service;
    if (slot == NULL)
        return 0;
    return take_string(k, slot) ? 1 : -1;
}

static int
actor_member(Cursor *k, const Slice *key, Plain *f, const Ctx *c, int depth)
{
    if (key_is(key, "ID"))
        return take_string(k, &f->cid) ? 1 : -1;
    if (key_is(key, "Attributes")) {
        if (f->has_attrs)
            return -1;
        f->has_attrs = 1;
        return members(k, attrs_member, f, c, depth + 1) ? 1 : -1;
    }
    return 0;
}

static int
top_member(Cursor *k, const Slice *key, Plain *f, const Ctx *c, int depth)
{
    if (key_is(key, "Type"))
        return take_string(k, &f->type) ? 1 : -1;
    if (key_is(key, "Action"))
        return take_string(k, &f->action) ? 1 : -1;
    if (key_is(key, "from"))
        return take_string(k, &f->from) ? 1 : -1;
    if (key_is(key, "timeNano")) {
        if (f->has_time)
            return -1;
        f->has_time = 1;
        /* a negative time is not the usual shape: orjson's path says what it is */
        return (k->p < k->end && *k->p != '-' && plain_int(k, &f->time_ns)) ? 1 : -1;
    }
    if (key_is(key, "Actor")) {
        if (f->has_actor)
            return -1;
        f->has_actor = 1;
        return members(k, actor_member, f, c, depth + 1) ? 1 : -1;
    }
    return 0;
}

static PyObject *
slice_str(const Slice *s)
{
    if (s->p == NULL)
        return NULL;
    return PyUnicode_DecodeASCII(s->p, s->n, NULL);
}

/* `like` itself (a new reference) when it is the str the slice spells, else a new str: most
 * lines repeat what the container's last line said, and a shared object also compares by
 * identity in the descriptor check that follows. */
static PyObject *
slice_str_like(const Slice *s, PyObject *like)
{
    if (like != NULL && PyUnicode_CheckExact(like) && PyUnicode_IS_COMPACT_ASCII(like) &&
        PyUnicode_GET_LENGTH(like) == s->n && memcmp(PyUnicode_1BYTE_DATA(like), s->p, s->n) == 0)
        return Py_NewRef(like);
    return slice_str(s);
}

/* The action's str from the scan's few recent ones (an event log has a dozen actions). */
static PyObject *
action_str(Ctx *c, const Slice *s)
{
    for (int i = 0; i < N_ACTIONS; i++) {
        PyObject *seen = c->actions[i];
        if (seen == NULL)
            break;
        if (PyUnicode_GET_LENGTH(seen) == s->n &&
            memcmp(PyUnicode_1BYTE_DATA(seen), s->p, s->n) == 0)
            return Py_NewRef(seen);
    }
    PyObject *made = slice_str(s);
    if (made != NULL) {
        Py_XSETREF(c->actions[c->next_action], Py_NewRef(made));
        c->next_action = (c->next_action + 1) % N_ACTIONS;
    }
    return made;
}

/* The line's bytes -> a row, when the line is plain JSON of the usual shape: 1 filled, 0 not
 * (the row is left empty), -1 on error. */
static int
row_from_plain(Ctx *c, const char *p, Py_ssize_t n, Row *r)
{
    Plain f;
    memset(&f, 0, sizeof f);
    Cursor k = {p, p + n};
    ws(&k);
    if (!members(&k, top_member, &f, c, 0))
        return 0;
    ws(&k);
    if (k.p != k.end)
        return 0;
    if (f.type.p == NULL || !key_is(&f.type, "container") || f.action.p == NULL ||
        !f.has_time || !f.has_actor || f.cid.p == NULL || !f.has_attrs)
        return 0;
    /* `Attributes.image or from`: an empty image is falsy */
    const Slice *image = (f.image.p != NULL && f.image.n > 0) ? &f.image : &f.from;
    if ((r->action = action_str(c, &f.action)) == NULL || (r->cid = slice_str(&f.cid)) == NULL) {
        row_clear(r);
        return -1;
    }
    /* the container's descriptor as last seen: (name, image, project, service) */
    PyObject *desc = NULL;
    PyObject *ref = PyDict_GetItemWithError(c->known, r->cid);
    PyObject *entry = ref ? PyDict_GetItemWithError(c->desc_of, ref) : NULL;
    if (PyErr_Occurred()) {
        row_clear(r);
        return -1;
    }
    if (entry != NULL && PyTuple_Check(entry) && PyTuple_GET_SIZE(entry) >= 1 &&
        PyTuple_Check(PyTuple_GET_ITEM(entry, 0)) && PyTuple_GET_SIZE(PyTuple_GET_ITEM(entry, 0)) == 4)
        desc = PyTuple_GET_ITEM(entry, 0);
    const Slice *strs[] = {&f.name, image, &f.project, &f.service, &f.exit_code, &f.signal};
    PyObject **slots[] = {&r->name, &r->image, &r->project, &r->service, &r->exit_raw,
                          &r->signal_raw};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        PyObject *like = (desc != NULL && i < 4) ? PyTuple_GET_ITEM(desc, i) : NULL;
        if (strs[i]->p != NULL && (*slots[i] = slice_str_like(strs[i], like)) == NULL) {
            row_clear(r);
            return -1;
        }
    }
    if ((r->time_ns = PyLong_FromLongLong(f.time_ns)) == NULL) {
        row_clear(r);
        return -1;
    }
    if (!row_usual(r)) {
        row_clear(r);
        return 0;
    }
    return 1;
}

/* str.strip() of action[start:stop]: a new reference. */
static PyObject *
strip(PyObject *action, Py_ssize_t start, Py_ssize_t stop)
{
    while (start < stop && Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(action, start)))
        start++;
    while (stop > start && Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(action, stop - 1)))
        stop--;
    return PyUnicode_Substring(action, start, stop);
}

/* importer._kind_health (normalize.split_action): (kind, or None where it is the action
 * itself; health). "health_status: healthy" -> ("health_status", "healthy"). */
static PyObject *
kind_health(PyObject *action)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(action);
    Py_ssize_t colon = PyUnicode_FindChar(action, ':', 0, n, 1);
    if (colon == -2)
        return NULL;
    PyObject *kind = strip(action, 0, colon < 0 ? n : colon);
    if (kind == NULL)
        return NULL;
    PyObject *health = Py_NewRef(Py_None);
    int hs = PyUnicode_CompareWithASCIIString(kind, "health_status") == 0;
    if (hs && colon >= 0) {
        PyObject *arg = strip(action, colon + 1, n);
        if (arg == NULL) {
            Py_DECREF(kind);
            Py_DECREF(health);
            return NULL;
        }
        if (PyUnicode_GET_LENGTH(arg) > 0)
            Py_SETREF(health, arg);
        else
            Py_DECREF(arg);
    }
    int cmp = PyUnicode_Compare(kind, action);
    if (cmp == -1 && PyErr_Occurred()) {
        Py_DECREF(kind);
        Py_DECREF(health);
        return NULL;
    }
    if (cmp == 0)
        Py_SETREF(kind, Py_NewRef(Py_None));
    PyObject *pair = PyTuple_Pack(2, kind, health);
    Py_DECREF(kind);
    Py_DECREF(health);
    return pair;
}

/* The chunk's raw lines, one after the other, each ending in one "\n" and holding no other.
 * While a block's lines are all stored and already framed (the usual file), nothing is copied:
 * the raw lines are the block's bytes [base, vend), and the block itself is the result when
 * they are all of it. The first line that breaks the run has the run copied into `buf`. */
typedef struct {
    char *buf;
    Py_ssize_t len, cap;
    const char *base, *vend; /* the verbatim run, while `verbatim` */
    int verbatim;
} Sink;

static int sink_append(Sink *s, const char *p, Py_ssize_t n);

/* The line as the raw chunk frames it (importer.scan_py's rule): trailing "\r" and "\n" off,
 * any other "\n" made a space, one "\n" added. */
static int
frame_into(Sink *s, const char *p, Py_ssize_t n)
{
    if (s->verbatim) {
        /* in a block a line holds no "\n" but its last byte */
        if (p == s->vend && n > 0 && p[n - 1] == '\n' && (n < 2 || p[n - 2] != '\r')) {
            s->vend = p + n;
            return 0;
        }
        s->verbatim = 0;
        if (s->vend > s->base && sink_append(s, s->base, s->vend - s->base) < 0)
            return -1;
    }
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    if (sink_append(s, p, n) < 0)
        return -1;
    char *out = s->buf + s->len - n;
    for (char *nl = memchr(out, '\n', (size_t)n); nl != NULL;
         nl = memchr(nl, '\n', (size_t)(out + n - nl)))
        *nl = ' ';
    return sink_append(s, "\n", 1);
}

static int
sink_append(Sink *s, const char *p, Py_ssize_t n)
{
    if (s->len + n > s->cap) {
        Py_ssize_t cap = (s->cap ? s->cap * 2 : 1 << 20);
        while (cap < s->len + n)
            cap *= 2;
        char *buf = PyMem_Realloc(s->buf, (size_t)cap);
        if (buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->buf = buf;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, (size_t)n);
    s->len += n;
    return 0;
}

/* The row columns, typed: int64 values, and strings as codes into per-chunk lists. */
typedef struct {
    long long *v;
    Py_ssize_t n, cap;
} I64;

#define N_RECENT 16

typedef struct {
    int *v;
    Py_ssize_t n, cap;
    PyObject *index;  /* str -> code */
    PyObject *values; /* code -> str */
    /* recent strs by identity (borrowed: `values` holds them) and their codes: the line loop
     * hands the same str objects over and over (see action_str) */
    PyObject *recent[N_RECENT];
    int recent_code[N_RECENT], next_recent;
} Codes;

struct Cols {
    I64 ref, time, exit, signal, packed;
    Codes action, kind, health;
};

static int
grow(void **v, Py_ssize_t *cap, Py_ssize_t need, size_t item)
{
    if (need <= *cap)
        return 0;
    Py_ssize_t cap2 = *cap ? *cap * 2 : 32768;
    while (cap2 < need)
        cap2 *= 2;
    void *v2 = PyMem_Realloc(*v, (size_t)cap2 * item);
    if (v2 == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *v = v2;
    *cap = cap2;
    return 0;
}

static int
i64_push(I64 *col, long long x)
{
    if (grow((void **)&col->v, &col->cap, col->n + 1, sizeof *col->v) < 0)
        return -1;
    col->v[col->n++] = x;
    return 0;
}

/* An int or None -> its value, NONE for None. The columns are int64: the values here come
 * from normalize's parsers, which keep codes within int32. */
static int
i64_of(PyObject *o, long long *x)
{
    if (o == Py_None) {
        *x = NONE;
        return 0;
    }
    int overflow = 0;
    *x = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (*x == -1 && PyErr_Occurred())
        return -1;
    if (overflow || *x == NONE) {
        PyErr_SetString(PyExc_OverflowError, "a value out of the int64 column's range");
        return -1;
    }
    return 0;
}

static int
code_push(Codes *col, PyObject *text)
{
    long code = -1;
    for (int i = 0; text != Py_None && i < N_RECENT && col->recent[i] != NULL; i++) {
        if (col->recent[i] == text) {
            code = col->recent_code[i];
            break;
        }
    }
    if (code < 0 && text != Py_None) {
        PyObject *found = PyDict_GetItemWithError(col->index, text);
        if (found != NULL) {
            code = PyLong_AsLong(found);
        }
        else {
            if (PyErr_Occurred())
                return -1;
            code = (long)PyList_GET_SIZE(col->values);
            PyObject *code_o = PyLong_FromLong(code);
            if (code_o == NULL)
                return -1;
            int rc = PyDict_SetItem(col->index, text, code_o);
            Py_DECREF(code_o);
            if (rc < 0 || PyList_Append(col->values, text) < 0)
                return -1;
        }
        if (code < 0)
            return -1;
        /* remembered while `values` holds the str (the dict keeps its own reference) */
        PyObject *held = PyList_GET_ITEM(col->values, code);
        if (held == text) {
            col->recent[col->next_recent] = held;
            col->recent_code[col->next_recent] = (int)code;
            col->next_recent = (col->next_recent + 1) % N_RECENT;
        }
    }
    if (grow((void **)&col->v, &col->cap, col->n + 1, sizeof *col->v) < 0)
        return -1;
    col->v[col->n++] = (int)code;
    return 0;
}

static int
append_row(struct Cols *out, PyObject *ref, PyObject *time_ns, PyObject *action, PyObject *kind,
           PyObject *exit_code, PyObject *signal, PyObject *health, PyObject *packed)
{
    long long v[5];
    PyObject *ints[5] = {ref, time_ns, exit_code, signal, packed};
    I64 *cols[5] = {&out->ref, &out->time, &out->exit, &out->signal, &out->packed};
    for (int i = 0; i < 5; i++) {
        if (i64_of(ints[i], &v[i]) < 0)
            return -1;
    }
    if ((ref == Py_None || time_ns == Py_None || packed == Py_None) &&
        !PyErr_Occurred()) {
        PyErr_SetString(PyExc_TypeError, "a row without its ref, time or packed value");
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        if (i64_push(cols[i], v[i]) < 0)
            return -1;
    }
    if (code_push(&out->action, action) < 0 || code_push(&out->kind, kind) < 0 ||
        code_push(&out->health, health) < 0)
        return -1;
    return 0;
}

/* A row of the usual shape -> its columns appended; 0 on success, -1 on error. */
static int
emit(Ctx *c, Row *r, const char *line, Py_ssize_t line_len, Sink *sink)
{
    PyObject *desc = PyTuple_Pack(4, r->name ? r->name : Py_None, r->image ? r->image : Py_None,
                                  r->project ? r->project : Py_None,
                                  r->service ? r->service : Py_None);
    if (desc == NULL)
        return -1;
    PyObject *ref = PyDict_GetItemWithError(c->known, r->cid); /* borrowed */
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
        ref = PyObject_CallFunctionObjArgs(c->ref_of, r->cid, desc, r->time_ns, NULL);
        if (ref == NULL) {
            Py_DECREF(desc);
            return -1;
        }
    }
    Py_DECREF(desc);

    PyObject *exit_code = code_of(r->exit_raw, c->code_or_none);
    if (exit_code == NULL) {
        Py_DECREF(ref);
        return -1;
    }
    PyObject *signal = code_of(r->signal_raw, c->parse_signal);
    if (signal == NULL) {
        Py_DECREF(exit_code);
        Py_DECREF(ref);
        return -1;
    }

    /* kind and health: plain unless the action has an argument or stray spaces */
    PyObject *action = r->action;
    PyObject *kind = Py_NewRef(Py_None), *health = Py_NewRef(Py_None);
    Py_ssize_t n = PyUnicode_GET_LENGTH(action);
    int kind_of_action = 1;
    if (PyUnicode_FindChar(action, ':', 0, n, 1) >= 0 ||
        Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(action, 0)) ||
        Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(action, n - 1))) {
        PyObject *kh = kind_health(action);
        if (kh == NULL)
            goto fail;
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
    else if (health == Py_None) { /* an action with an argument is not said by `packed` */
        packed = ODD;
    }
    else if (PyUnicode_CompareWithASCIIString(kind, "health_status") == 0 &&
             (PyUnicode_CompareWithASCIIString(health, "healthy") == 0 ||
              PyUnicode_CompareWithASCIIString(health, "unhealthy") == 0)) {
        /* said exactly only when the action is spelled "health_status: <health>" */
        long long h = PyUnicode_CompareWithASCIIString(health, "healthy") == 0 ? 1 : 2;
        PyObject *spelled = PyUnicode_FromFormat("health_status: %U", health);
        if (spelled == NULL)
            goto fail;
        int same = PyUnicode_Compare(spelled, action);
        Py_DECREF(spelled);
        if (same == -1 && PyErr_Occurred())
            goto fail;
        packed = same != 0 ? ODD : pack_plain(PyLong_AsLongLong(code), exit_code, signal);
        if (packed >= 0)
            packed += h << HEALTH_SHIFT;
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
    int rc = append_row(c->out, ref, r->time_ns, action, kind, exit_code, signal, health,
                        packed_o);
    Py_DECREF(packed_o);
    if (rc < 0)
        goto fail;
    if (frame_into(sink, line, line_len) < 0)
        goto fail;
    Py_DECREF(ref);
    Py_DECREF(exit_code);
    Py_DECREF(signal);
    Py_DECREF(kind);
    Py_DECREF(health);
    return 0;
fail:
    Py_DECREF(ref);
    Py_DECREF(exit_code);
    Py_DECREF(signal);
    Py_DECREF(kind);
    Py_DECREF(health);
    return -1;
}

/* One line: its row appended to the columns and its raw line to the sink when it is a
 * container event, else the shared way (ctx.slow). `line` is the line as bytes when the caller
 * has it, else NULL (made here only if the line needs orjson or ctx.slow). 1: read, 0: blank,
 * -1: error. */
static int
one_line(Ctx *c, const char *p, Py_ssize_t n, PyObject *line, Py_ssize_t line_no, Sink *sink)
{
    Row r = {0};
    int done = row_from_plain(c, p, n, &r);
    if (done < 0)
        return -1;
    if (done) {
        done = emit(c, &r, p, n, sink);
        row_clear(&r);
        return done < 0 ? -1 : 1;
    }
    int rc = -1;
    if (line == NULL) {
        if ((line = PyBytes_FromStringAndSize(p, n)) == NULL)
            return -1;
    }
    else {
        Py_INCREF(line);
    }
    PyObject *payload = PyObject_CallOneArg(c->loads, line);
    if (payload == NULL) {
        if (!PyErr_ExceptionMatches(c->decode_error))
            goto out;
        PyErr_Clear();
        if (blank(p, n)) {
            rc = 0;
            goto out;
        }
    }
    else {
        done = row_from_dict(c, payload, &r);
        Py_DECREF(payload);
        if (done < 0)
            goto out;
        if (done) {
            done = emit(c, &r, p, n, sink);
            row_clear(&r);
            rc = done < 0 ? -1 : 1;
            goto out;
        }
    }
    /* the shared way: normalize_event, with its errors; the row's 8 values, or None */
    PyObject *res = PyObject_CallFunction(c->slow, "On", line, line_no);
    if (res == NULL)
        goto out;
    if (res != Py_None) {
        if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 8) {
            PyErr_SetString(PyExc_TypeError, "slow must return None or a row of 8 values");
            Py_DECREF(res);
            goto out;
        }
        PyObject **v = &PyTuple_GET_ITEM(res, 0);
        if (append_row(c->out, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]) < 0 ||
            frame_into(sink, p, n) < 0) {
            Py_DECREF(res);
            goto out;
        }
    }
    Py_DECREF(res);
    rc = 1;
out:
    Py_DECREF(line);
    return rc;
}

static void
cols_free(struct Cols *o)
{
    I64 *ints[5] = {&o->ref, &o->time, &o->exit, &o->signal, &o->packed};
    Codes *codes[3] = {&o->action, &o->kind, &o->health};
    for (int i = 0; i < 5; i++)
        PyMem_Free(ints[i]->v);
    for (int i = 0; i < 3; i++) {
        PyMem_Free(codes[i]->v);
        Py_XDECREF(codes[i]->index);
        Py_XDECREF(codes[i]->values);
    }
}

/* The columns as (5 int64 buffers, 3 (int32 code buffer, strings) pairs). */
static PyObject *
cols_result(struct Cols *o)
{
    I64 *ints[5] = {&o->ref, &o->time, &o->exit, &o->signal, &o->packed};
    Codes *codes[3] = {&o->action, &o->kind, &o->health};
    PyObject *i_t = PyTuple_New(5), *c_t = PyTuple_New(3);
    if (i_t == NULL || c_t == NULL)
        goto fail;
    for (int i = 0; i < 5; i++) {
        PyObject *b = PyBytes_FromStringAndSize(ints[i]->v ? (char *)ints[i]->v : "",
                                                ints[i]->n * (Py_ssize_t)sizeof(long long));
        if (b == NULL)
            goto fail;
        PyTuple_SET_ITEM(i_t, i, b);
    }
    for (int i = 0; i < 3; i++) {
        PyObject *pair = Py_BuildValue(
            "(y#O)", codes[i]->v ? (char *)codes[i]->v : "",
            codes[i]->n * (Py_ssize_t)sizeof(int), codes[i]->values);
        if (pair == NULL)
            goto fail;
        PyTuple_SET_ITEM(c_t, i, pair);
    }
    PyObject *r = PyTuple_Pack(2, i_t, c_t);
    Py_DECREF(i_t);
    Py_DECREF(c_t);
    return r;
fail:
    Py_XDECREF(i_t);
    Py_XDECREF(c_t);
    return NULL;
}

static PyObject *
scan(PyObject *self, PyObject *args)
{
    PyObject *lines, *ctx_t;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "OnO!", &lines, &first, &PyTuple_Type, &ctx_t))
        return NULL;
    if (!PyList_CheckExact(lines) && !PyBytes_CheckExact(lines)) {
        PyErr_SetString(PyExc_TypeError, "scan: lines must be a list or a bytes block");
        return NULL;
    }
    if (PyTuple_GET_SIZE(ctx_t) != N_CTX) {
        PyErr_SetString(PyExc_TypeError, "scan: ctx of the wrong size");
        return NULL;
    }
    Ctx c;
    memset(&c, 0, sizeof c);
    PyObject **slots[N_CTX] = {&c.loads, &c.decode_error, &c.known, &c.desc_of, &c.ref_of,
                               &c.kind_codes, &c.code_or_none, &c.parse_signal, &c.kind_health,
                               &c.pack, &c.slow, &c.to_bytes, &c.project_key, &c.service_key};
    for (int i = 0; i < N_CTX; i++)
        *slots[i] = PyTuple_GET_ITEM(ctx_t, i);
    if (!PyDict_CheckExact(c.known) || !PyDict_CheckExact(c.desc_of) ||
        !PyDict_CheckExact(c.kind_codes)) {
        PyErr_SetString(PyExc_TypeError, "scan: known, desc_of and kind_codes must be dicts");
        return NULL;
    }
    Py_ssize_t plen, slen;
    if ((c.project_key_s = PyUnicode_AsUTF8AndSize(c.project_key, &plen)) == NULL ||
        (c.service_key_s = PyUnicode_AsUTF8AndSize(c.service_key, &slen)) == NULL)
        return NULL;
    c.project_len = (size_t)plen;
    c.service_len = (size_t)slen;
    struct Cols cols;
    memset(&cols, 0, sizeof cols);
    c.out = &cols;
    Codes *codes[3] = {&cols.action, &cols.kind, &cols.health};
    for (int i = 0; i < 3; i++) {
        if ((codes[i]->index = PyDict_New()) == NULL || (codes[i]->values = PyList_New(0)) == NULL) {
            cols_free(&cols);
            return NULL;
        }
    }

    Sink sink = {NULL, 0, 0, NULL, NULL, 0};
    Py_ssize_t read = 0, count = 0;
    int rc = 0;
    if (PyBytes_CheckExact(lines)) { /* a block of whole lines, split at "\n" as a file is */
        const char *p = PyBytes_AS_STRING(lines), *end = p + PyBytes_GET_SIZE(lines);
        sink.base = sink.vend = p;
        sink.verbatim = 1;
        while (p < end && rc >= 0) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl + 1 : end;
            rc = one_line(&c, p, stop - p, NULL, first + count, &sink);
            read += rc > 0;
            count++;
            p = stop;
        }
    }
    else { /* a list of lines; it may not change under us: callbacks see one line only */
        Py_ssize_t size = PyList_GET_SIZE(lines);
        for (Py_ssize_t i = 0; i < size && rc >= 0; i++) {
            PyObject *line = PyList_GET_ITEM(lines, i);
            if (PyBytes_CheckExact(line)) {
                Py_INCREF(line);
            }
            else if ((line = PyObject_CallOneArg(c.to_bytes, line)) == NULL) {
                rc = -1;
                break;
            }
            else if (!PyBytes_CheckExact(line)) {
                Py_DECREF(line);
                PyErr_SetString(PyExc_TypeError, "scan: to_bytes must return bytes");
                rc = -1;
                break;
            }
            rc = one_line(&c, PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), line,
                          first + i, &sink);
            Py_DECREF(line);
            read += rc > 0;
            count++;
        }
    }
    PyObject *result = NULL;
    if (rc >= 0) {
        PyObject *columns = cols_result(&cols);
        PyObject *raw = NULL;
        if (sink.verbatim && sink.base == PyBytes_AS_STRING(lines) &&
            sink.vend == sink.base + PyBytes_GET_SIZE(lines))
            raw = Py_NewRef(lines); /* every line stored as it was: the block is the raw */
        else if (sink.verbatim)
            raw = PyBytes_FromStringAndSize(sink.base, sink.vend - sink.base);
        else
            raw = PyBytes_FromStringAndSize(sink.buf ? sink.buf : "", sink.len);
        if (columns != NULL && raw != NULL)
            result = Py_BuildValue("nnOO", read, count, raw, columns);
        Py_XDECREF(raw);
        Py_XDECREF(columns);
    }
    PyMem_Free(sink.buf);
    cols_free(&cols);
    for (int i = 0; i < N_ACTIONS; i++)
        Py_XDECREF(c.actions[i]);
    return result;
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
