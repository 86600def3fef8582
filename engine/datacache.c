/*
 * The parsed case data a command just wrote, kept for the next command of
 * this process that reads the same bytes back (a service or batch acting on
 * one case several times). Parsing the data with jansson was ~19% of an act.
 *
 * The cache is keyed by the exact bytes of the data column, compared in full
 * (memcmp) with what the store returned for this very read: a row edited
 * behind the engine's back has other bytes and is parsed afresh, and its
 * row hash (computed from the bytes read, never from this cache) is what
 * the chain check judges. An entry is only ever handed out as what
 * json_loadb of its bytes gives: the same values, every object's keys in the
 * order of the text (canonical text sorts them), a tree nobody else holds.
 * So a value is only kept when that can be made true cheaply: every real
 * read back from its 17 significant digits (jansson's text) as the same
 * double, no NUL in a string or key (the parser refuses those; the text
 * then holds "\u0000"), no value another reference holds, bounded depth.
 * Those are checked when it is kept (reading only: most entries are never
 * taken); the keys are put in the text's order when it is taken. An entry is
 * taken, not copied: the command owns and may change it, and the cache
 * forgets it.
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define SLOTS 4
#define MAX_DEPTH 64
#define SMALL_OBJECT 32

struct cf_data_cache {
    struct {
        char *text; /* the canonical text as written (owned), or NULL */
        size_t len;
        json_t *data; /* owned, in the text's key order */
    } slot[SLOTS];
    unsigned next;
};

typedef struct key {
    const char *s;
    size_t len;
    json_t *v;
} key;

/* canon.c's order (and so the text's): bytes as unsigned, then shorter first */
static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static size_t key_len(void *it, const char *k)
{
#if JANSSON_VERSION_HEX >= 0x020e00
    (void)k;
    return json_object_iter_key_len(it);
#else
    (void)it;
    return strlen(k);
#endif
}

static int set_key(json_t *o, const char *k, size_t len, json_t *v)
{
#if JANSSON_VERSION_HEX >= 0x020e00
    return json_object_setn_new_nocheck(o, k, len, v);
#else
    (void)len; /* keys with a NUL are never kept */
    return json_object_set_new_nocheck(o, k, v);
#endif
}

static json_t *ordered(json_t *v);

/* An object in its keys' order: itself when already so, else a new object
 * holding the same values (a new reference: the caller puts it in v's place,
 * which releases v). NULL: out of memory. */
static json_t *ordered_object(json_t *v)
{
    size_t n = json_object_size(v), i = 0;
    key small[SMALL_OBJECT], *keys = n <= SMALL_OBJECT ? small : malloc(n * sizeof *keys);
    if (!keys)
        return NULL;
    bool sorted = true, ok = true;
    for (void *it = json_object_iter(v); it && i < n; it = json_object_iter_next(v, it), i++) {
        keys[i].s = json_object_iter_key(it);
        keys[i].len = key_len(it, keys[i].s);
        keys[i].v = json_object_iter_value(it);
        if (i && key_cmp(&keys[i - 1], &keys[i]) >= 0)
            sorted = false;
    }
    if (i != n)
        ok = false;
    /* the values first: each may come back as a new object */
    for (i = 0; i < n && ok; i++) {
        json_t *k = ordered(keys[i].v);
        if (!k)
            ok = false;
        else if (k != keys[i].v) {
            /* replacing a value keeps its key's place */
            if (set_key(v, keys[i].s, keys[i].len, k)) /* releases the old; k on failure */
                ok = false;
            else
                keys[i].v = k;
        }
    }
    json_t *out = v;
    if (ok && !sorted) {
        qsort(keys, n, sizeof *keys, key_cmp);
        out = json_object();
        for (i = 0; out && i < n; i++)
            if (set_key(out, keys[i].s, keys[i].len, json_incref(keys[i].v))) {
                json_decref(out);
                out = NULL;
            }
        if (!out)
            ok = false;
    }
    if (keys != small)
        free(keys);
    return ok ? out : NULL;
}

/* v, whose values keepable() accepted, with every object's keys in order:
 * v itself, or a new object to put in its place (which releases v), or NULL
 * when out of memory. */
static json_t *ordered(json_t *v)
{
    if (json_is_object(v))
        return ordered_object(v);
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i), *k = ordered(e);
            if (!k || (k != e && json_array_set_new(v, i, k))) /* releases e */
                return NULL;
        }
    }
    return v;
}

/* Can v (held once, by the caller) be handed out as the parse of its
 * canonical text? Nothing else holds any of it, its reals read back, it is
 * not too deep. Reads only. */
static bool keepable(json_t *v, int depth)
{
    if (depth > MAX_DEPTH)
        return false;
    switch (json_typeof(v)) {
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        return true; /* shared constants, never changed */
    case JSON_INTEGER:
    case JSON_STRING:
        return v->refcount == 1;
    case JSON_ARRAY: {
        if (v->refcount != 1)
            return false;
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++)
            if (!keepable(json_array_get(v, i), depth + 1))
                return false;
        return true;
    }
    case JSON_OBJECT: {
        if (v->refcount != 1)
            return false;
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
            if (!keepable(json_object_iter_value(it), depth + 1))
                return false;
        return true;
    }
    case JSON_REAL: {
        /* jansson writes a real with "%.17g" and reads it with strtod */
        double d = json_real_value(v), back;
        char text[40];
        if (v->refcount != 1 || !isfinite(d) ||
            snprintf(text, sizeof text, "%.17g", d) >= (int)sizeof text)
            return false;
        back = strtod(text, NULL);
        return memcmp(&back, &d, sizeof d) == 0;
    }
    default:
        return false;
    }
}

cf_data_cache *cf_data_cache_new(void)
{
    return calloc(1, sizeof(cf_data_cache));
}

static void slot_clear(cf_data_cache *c, unsigned i)
{
    free(c->slot[i].text);
    json_decref(c->slot[i].data);
    c->slot[i].text = NULL;
    c->slot[i].data = NULL;
    c->slot[i].len = 0;
}

void cf_data_cache_free(cf_data_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < SLOTS; i++)
        slot_clear(c, i);
    free(c);
}

void cf_data_cache_put(cf_data_cache *c, char *text, json_t *data)
{
    if (!c || !text || !json_is_object(data)) {
        free(text);
        json_decref(data);
        return;
    }
    size_t len = strlen(text);
    /* the same bytes kept twice would only waste a slot */
    for (unsigned i = 0; i < SLOTS; i++)
        if (c->slot[i].text && c->slot[i].len == len && !memcmp(c->slot[i].text, text, len))
            slot_clear(c, i);
    if (memmem(text, len, "\\u0000", 6) || !keepable(data, 0)) {
        free(text);
        json_decref(data);
        return;
    }
    unsigned i = c->next;
    c->next = (c->next + 1) % SLOTS;
    slot_clear(c, i);
    c->slot[i].text = text;
    c->slot[i].len = len;
    c->slot[i].data = data;
}

json_t *cf_data_cache_take(cf_data_cache *c, const void *bytes, size_t len)
{
    if (!c || !bytes)
        return NULL;
    for (unsigned i = 0; i < SLOTS; i++) {
        if (!c->slot[i].text || c->slot[i].len != len || memcmp(c->slot[i].text, bytes, len))
            continue;
        json_t *d = c->slot[i].data, *k;
        c->slot[i].data = NULL;
        slot_clear(c, i);
        if (!(k = ordered(d))) { /* out of memory: the caller parses */
            json_decref(d);
            return NULL;
        }
        if (k != d)
            json_decref(d); /* rebuilt in the text's key order as k */
        return k;
    }
    return NULL;
}
