/*
 * Canonical JSON text: byte for byte what jansson's json_dumps writes with
 * JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY (the text every stored case,
 * history record and notification carries), written straight into one
 * growing buffer. jansson's dumper calls back per token, allocates a key
 * array per object and grows its own buffer: the case data alone cost ~12%
 * of an act. Reals (rare in case data) are written by jansson itself, so
 * its number formatting is never re-implemented; anything this writer would
 * not write exactly like jansson (invalid UTF-8, nesting past MAX_DEPTH, a
 * cycle) is handed to json_dumps whole. test_util compares the two.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "internal.h"

#define MAX_DEPTH 512
#define SMALL_OBJECT 32

enum { OK = 0, NOMEM = -1, JANSSON = -2 /* let json_dumps write the whole value */ };

typedef struct key {
    const char *s;
    size_t len;
} key;

/* jansson's order: bytes compared as unsigned, then the shorter first */
static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), or 0: the
 * rules jansson checks strings by (no overlongs, surrogates or > U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0], len, min;
    if (c < 0xc2 || c > 0xf4)
        return 0;
    len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (len > n)
        return 0;
    unsigned u = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    for (unsigned i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        u = (u << 6) | (p[i] & 0x3f);
    }
    if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff))
        return 0;
    return len;
}

static int put_str(cf_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (cf_buf_grow(b, len * 6 + 2))
        return NOMEM;
    char *o = b->p + b->n;
    *o++ = '"';
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t k = utf8_seq(p, (size_t)(end - p));
            if (!k)
                return JANSSON; /* json_dumps refuses it: so must we */
            memcpy(o, p, k);
            o += k;
            p += k;
            continue;
        }
        p++;
        o = cf_json_escape_ascii(o, c, hex);
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
    return OK;
}

static int put_int(cf_buf *b, json_int_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    return cf_buf_put(b, p, (size_t)(e - p)) ? NOMEM : OK;
}

static int put_value(cf_buf *b, const json_t *v, int depth);

static int put_object(cf_buf *b, const json_t *v, int depth)
{
    size_t n = json_object_size(v), i = 0;
    if (n == 0)
        return cf_buf_put(b, "{}", 2) ? NOMEM : OK;
    key small[SMALL_OBJECT], *keys = n <= SMALL_OBJECT ? small : malloc(n * sizeof *keys);
    if (!keys)
        return NOMEM;
    for (void *it = json_object_iter((json_t *)v); it && i < n;
         it = json_object_iter_next((json_t *)v, it), i++) {
        keys[i].s = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
        keys[i].len = json_object_iter_key_len(it);
#else
        keys[i].len = strlen(keys[i].s);
#endif
    }
    n = i;
    if (n > 1)
        qsort(keys, n, sizeof *keys, key_cmp);
    int rc = cf_buf_put(b, "{", 1) ? NOMEM : OK;
    for (i = 0; i < n && rc == OK; i++) {
        if (i && cf_buf_put(b, ",", 1)) {
            rc = NOMEM;
            break;
        }
        if ((rc = put_str(b, keys[i].s, keys[i].len)) != OK)
            break;
        if (cf_buf_put(b, ":", 1)) {
            rc = NOMEM;
            break;
        }
#if JANSSON_VERSION_HEX >= 0x020e00
        const json_t *m = json_object_getn(v, keys[i].s, keys[i].len);
#else
        const json_t *m = json_object_get(v, keys[i].s);
#endif
        rc = m ? put_value(b, m, depth + 1) : JANSSON;
    }
    if (keys != small)
        free(keys);
    return rc == OK && cf_buf_put(b, "}", 1) ? NOMEM : rc;
}

static int put_value(cf_buf *b, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH)
        return JANSSON;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(b, v, depth);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (cf_buf_put(b, "[", 1))
            return NOMEM;
        for (size_t i = 0; i < n; i++) {
            if (i && cf_buf_put(b, ",", 1))
                return NOMEM;
            int rc = put_value(b, json_array_get(v, i), depth + 1);
            if (rc != OK)
                return rc;
        }
        return cf_buf_put(b, "]", 1) ? NOMEM : OK;
    }
    case JSON_STRING:
        return put_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return put_int(b, json_integer_value(v));
    case JSON_TRUE:
        return cf_buf_put(b, "true", 4) ? NOMEM : OK;
    case JSON_FALSE:
        return cf_buf_put(b, "false", 5) ? NOMEM : OK;
    case JSON_NULL:
        return cf_buf_put(b, "null", 4) ? NOMEM : OK;
    case JSON_REAL: {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc = !t ? NOMEM : cf_buf_put(b, t, strlen(t)) ? NOMEM : OK;
        free(t);
        return rc;
    }
    }
    return JANSSON;
}

char *cf_json_canonical(const json_t *v)
{
    if (!v)
        return NULL;
    cf_buf b = {0};
    int rc = put_value(&b, v, 0);
    if (rc == OK && cf_buf_put(&b, "", 1) == 0) /* the NUL */
        return b.p;
    free(b.p);
    return rc == JANSSON ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                         : NULL;
}
