/*
 * libcaseflow-plugin-test: its version, cfpt_path, and the engine's rules
 * for dotted paths, times and digests as the fake host applies them (see
 * ptest-internal.h).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ptest-internal.h"

#define PATH_SEG_MAX 512

const char *cfpt_version(void)
{
    return CFPT_VERSION_STRING;
}

/* ---- dotted paths (engine/util.c) ------------------------------------------ */

/* The next segment of path into seg; the rest, or NULL at the end. */
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
    size_t v = 0;

    if (!*seg)
        return -1;
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

json_t *cfpt_i_path_get(json_t *doc, const char *path)
{
    char seg[PATH_SEG_MAX];
    json_t *v = doc;
    const char *rest = path;

    if (!doc || !path)
        return NULL;
    if (!*path)
        return doc;
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

int cfpt_i_path_set(json_t *doc, const char *path, json_t *value)
{
    char seg[PATH_SEG_MAX];
    json_t *v = doc;
    const char *rest;

    if (!doc || !path || !*path) {
        json_decref(value);
        return -1;
    }
    rest = next_segment(path, seg, sizeof seg);
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

const json_t *cfpt_path(const json_t *doc, const char *path)
{
    if (!path || !*path)
        return doc;
    return cfpt_i_path_get((json_t *)doc, path);
}

/* ---- RFC 3339 (engine/clock.c) ------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static unsigned month_days(int y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* Exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_date(const char **p, int *y, int *mo, int *d)
{
    if (digits(p, 4, y) || **p != '-')
        return -1;
    (*p)++;
    if (digits(p, 2, mo) || **p != '-')
        return -1;
    (*p)++;
    if (digits(p, 2, d))
        return -1;
    if (*y < 1900 || *mo < 1 || *mo > 12 || *d < 1 ||
        (unsigned)*d > month_days(*y, (unsigned)*mo))
        return -1;
    return 0;
}

int cfpt_i_time_parse(const char *text, int64_t *utc, int *offset_minutes)
{
    const char *p = text;
    int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;

    if (!p || parse_date(&p, &y, &mo, &d))
        return -1;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &s))
        return -1;
    if (h > 23 || mi > 59 || s > 60)
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
    } else {
        return -1; /* no time zone */
    }
    if (*p != '\0')
        return -1;
    if (s == 60) /* a leap second is the last second of its minute */
        s = 59;
    int off = sign * (oh * 60 + om);
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + (int64_t)h * 3600 +
                mi * 60 + s - (int64_t)off * 60;
    if (utc)
        *utc = t;
    if (offset_minutes)
        *offset_minutes = off;
    return 0;
}

void cfpt_i_time_format(int64_t t, char out[32])
{
    int64_t days = t / 86400, rem = t % 86400;
    int y;
    unsigned m, d;

    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

int cfpt_i_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, 65, h, sizeof h);
    return 0;
}

json_t *cfpt_i_object(const char *text)
{
    json_t *j;

    if (!text)
        return json_object();
    j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}
