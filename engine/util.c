/*
 * Small shared helpers: dotted paths into JSON documents (the way plugins
 * and the engine address case data), canonical JSON text (what the audit
 * chain and workflow hashes are computed over), SHA-256, and whole-file
 * reads with errors a person can act on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hash.h"
#include "internal.h"

#define CF_PATH_MAX 512

/* Split the next segment of a dotted path into seg; returns the rest or NULL
 * at the end. */
static const char *next_segment(const char *path, char *seg, size_t segsz)
{
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if (n >= segsz)
        n = segsz - 1;
    memcpy(seg, path, n);
    seg[n] = '\0';
    return dot ? dot + 1 : NULL;
}

static int parse_index(const char *seg, size_t *out)
{
    if (!*seg)
        return -1;
    size_t v = 0;
    for (const char *p = seg; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return 0;
}

static json_t *child(json_t *v, const char *seg)
{
    size_t i;
    if (json_is_object(v))
        return json_object_get(v, seg);
    if (json_is_array(v) && parse_index(seg, &i) == 0)
        return json_array_get(v, i);
    return NULL;
}

json_t *cf_json_path_get(json_t *doc, const char *path)
{
    char seg[CF_PATH_MAX];
    if (!doc || !path)
        return NULL;
    if (!*path)
        return doc;
    json_t *v = doc;
    const char *rest = path;
    while (v && rest) {
        rest = next_segment(rest, seg, sizeof seg);
        v = child(v, seg);
    }
    return v;
}

static int set_in(json_t *parent, const char *seg, json_t *value)
{
    size_t i;
    if (json_is_object(parent)) {
        if (!value) {
            json_object_del(parent, seg); /* absent already is fine */
            return 0;
        }
        return json_object_set_new(parent, seg, value);
    }
    if (json_is_array(parent) && parse_index(seg, &i) == 0) {
        if (!value)
            return i < json_array_size(parent) ? json_array_remove(parent, i) : 0;
        if (i < json_array_size(parent))
            return json_array_set_new(parent, i, value);
        if (i == json_array_size(parent))
            return json_array_append_new(parent, value);
    }
    json_decref(value);
    return -1;
}

int cf_json_path_set(json_t *doc, const char *path, json_t *value)
{
    char seg[CF_PATH_MAX];
    if (!doc || !path || !*path) {
        json_decref(value);
        return -1;
    }
    json_t *v = doc;
    const char *rest = next_segment(path, seg, sizeof seg);
    while (rest) {
        json_t *c = child(v, seg);
        if (!c) {
            if (!value) /* deleting below a missing member: nothing to do */
                return 0;
            if (!json_is_object(v)) {
                json_decref(value);
                return -1;
            }
            c = json_object();
            if (json_object_set_new(v, seg, c)) {
                json_decref(value);
                return -1;
            }
        } else if (!json_is_object(c) && !json_is_array(c)) {
            json_decref(value);
            return -1;
        }
        v = c;
        rest = next_segment(rest, seg, sizeof seg);
    }
    return set_in(v, seg, value);
}

/* cf_json_canonical: canon.c */

void cf_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    cf_sha256_bytes(data, len, h);
    sodium_bin2hex(out, 65, h, sizeof h);
}

int cf_sha256_file(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    cf_sha256 st;
    unsigned char buf[65536], h[crypto_hash_sha256_BYTES];
    size_t n;
    cf_sha256_init(&st);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        cf_sha256_update(&st, buf, n);
    int bad = ferror(f);
    fclose(f);
    cf_sha256_final(&st, h);
    if (bad)
        return -1;
    sodium_bin2hex(out, 65, h, sizeof h);
    return 0;
}

int cf_read_file(const char *path, char **out, size_t *len, cf_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cf_err_set(err, errno == ENOENT ? CF_ENOTFOUND : CF_EIO, path,
                          "%s: %s", path, strerror(errno));
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (n + 1 < cap)
            break;
        if (cap > (64u << 20)) { /* workflows, letters and payloads are small */
            free(buf);
            fclose(f);
            return cf_err_set(err, CF_EINVALID, path, "%s: file too large", path);
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        fclose(f);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory reading %s", path);
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        return cf_err_set(err, CF_EIO, path, "%s: %s", path, strerror(e));
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

bool cf_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, min;
        if (c < 0x80) {
            p++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        p++;
        for (unsigned i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (*p & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
    }
    return true;
}

bool cf_list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, item, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}
