/*
 * The metrics registry (metrics.h). Families live in a small array and
 * their series in a growing array each, found by their rendered label text
 * ("route=\"/v1/cases\",status=\"200\""): a linear search under one mutex,
 * which is cheap for the few dozen series a service has and keeps the
 * registry simple. Rendering copies nothing out: it writes the text under
 * the same mutex.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define MAX_FAMILIES 64
#define MAX_BOUNDS 32
#define LABELS_MAX 512

struct series {
    char *labels;     /* rendered label pairs, "" for none */
    double value;     /* counter or gauge; a histogram's sum */
    unsigned long long count;
    unsigned long long *buckets; /* histogram: one per bound (not cumulative) */
};

struct family {
    char *name, *help;
    enum cfd_metric_type type;
    double bounds[MAX_BOUNDS];
    size_t nbounds;
    struct series *series;
    size_t nseries, cap;
};

struct cfd_metrics {
    pthread_mutex_t lock;
    struct family families[MAX_FAMILIES];
    size_t nfamilies;
};

static const double default_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

cfd_metrics *cfd_metrics_new(void)
{
    cfd_metrics *m = calloc(1, sizeof *m);
    if (m && pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void family_clear_series(struct family *f)
{
    for (size_t i = 0; i < f->nseries; i++) {
        free(f->series[i].labels);
        free(f->series[i].buckets);
    }
    f->nseries = 0;
}

void cfd_metrics_free(cfd_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfamilies; i++) {
        family_clear_series(&m->families[i]);
        free(m->families[i].series);
        free(m->families[i].name);
        free(m->families[i].help);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool valid_name(const char *name)
{
    if (!name || !*name || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
            return false;
    return true;
}

static struct family *find_family(cfd_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nfamilies; i++)
        if (strcmp(m->families[i].name, name) == 0)
            return &m->families[i];
    return NULL;
}

/* Declare under the lock. The family, or NULL. */
static struct family *declare_locked(cfd_metrics *m, const char *name,
                                     enum cfd_metric_type type, const char *help,
                                     const double *bounds, size_t nbounds)
{
    struct family *f = find_family(m, name);
    if (f)
        return f;
    if (!valid_name(name) || m->nfamilies == MAX_FAMILIES || nbounds > MAX_BOUNDS)
        return NULL;
    f = &m->families[m->nfamilies];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    f->help = strdup(help ? help : name);
    if (!f->name || !f->help) {
        free(f->name);
        free(f->help);
        return NULL;
    }
    f->type = type;
    if (type == CFD_HISTOGRAM) {
        if (!bounds) {
            bounds = default_bounds;
            nbounds = sizeof default_bounds / sizeof default_bounds[0];
        }
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = nbounds;
    }
    m->nfamilies++;
    return f;
}

int cfd_metric_declare(cfd_metrics *m, const char *name, enum cfd_metric_type type,
                       const char *help, const double *bounds, size_t nbounds)
{
    pthread_mutex_lock(&m->lock);
    struct family *f = declare_locked(m, name, type, help, bounds, nbounds);
    pthread_mutex_unlock(&m->lock);
    return f ? 0 : -1;
}

/* Append text to buf (of LABELS_MAX) at *n, escaping a label value's
 * backslashes, quotes and newlines. false when it does not fit. */
static bool put(char *buf, size_t *n, const char *text, bool escape)
{
    for (const char *p = text; *p; p++) {
        const char *s = NULL;
        if (escape && *p == '\\')
            s = "\\\\";
        else if (escape && *p == '"')
            s = "\\\"";
        else if (escape && *p == '\n')
            s = "\\n";
        size_t len = s ? 2 : 1;
        if (*n + len >= LABELS_MAX)
            return false;
        memcpy(buf + *n, s ? s : p, len);
        *n += len;
    }
    buf[*n] = '\0';
    return true;
}

/* The label pairs of ap as text in buf. false when they do not fit. */
static bool render_labels(char *buf, va_list ap)
{
    size_t n = 0;
    buf[0] = '\0';
    const char *key;
    while ((key = va_arg(ap, const char *))) {
        const char *val = va_arg(ap, const char *);
        if (!val)
            val = "";
        if ((n && !put(buf, &n, ",", false)) || !put(buf, &n, key, false) ||
            !put(buf, &n, "=\"", false) || !put(buf, &n, val, true) ||
            !put(buf, &n, "\"", false))
            return false;
    }
    return true;
}

/* The series of f with labels, made when missing; NULL when it cannot be. */
static struct series *find_series(struct family *f, const char *labels)
{
    for (size_t i = 0; i < f->nseries; i++)
        if (strcmp(f->series[i].labels, labels) == 0)
            return &f->series[i];
    if (f->nseries == CFD_METRICS_MAX_SERIES)
        return NULL;
    if (f->nseries == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct series *grown = realloc(f->series, cap * sizeof *grown);
        if (!grown)
            return NULL;
        f->series = grown;
        f->cap = cap;
    }
    struct series *s = &f->series[f->nseries];
    memset(s, 0, sizeof *s);
    s->labels = strdup(labels);
    if (f->type == CFD_HISTOGRAM)
        s->buckets = calloc(f->nbounds ? f->nbounds : 1, sizeof *s->buckets);
    if (!s->labels || (f->type == CFD_HISTOGRAM && !s->buckets)) {
        free(s->labels);
        free(s->buckets);
        return NULL;
    }
    f->nseries++;
    return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(cfd_metrics *m, const char *name, enum op op, double v, va_list ap)
{
    char labels[LABELS_MAX];
    if (!render_labels(labels, ap))
        return;
    static const enum cfd_metric_type implied[] = {CFD_COUNTER, CFD_GAUGE, CFD_HISTOGRAM};
    pthread_mutex_lock(&m->lock);
    struct family *f = declare_locked(m, name, implied[op], NULL, NULL, 0);
    struct series *s = f ? find_series(f, labels) : NULL;
    if (s) {
        if (f->type == CFD_HISTOGRAM) {
            size_t i = 0;
            while (i < f->nbounds && v > f->bounds[i])
                i++;
            if (i < f->nbounds)
                s->buckets[i]++;
            s->count++;
            s->value += v;
        } else if (op == OP_SET) {
            s->value = v;
        } else {
            s->value += v;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

void cfd_metric_add(cfd_metrics *m, const char *name, double by, ...)
{
    va_list ap;
    va_start(ap, by);
    update(m, name, OP_ADD, by, ap);
    va_end(ap);
}

void cfd_metric_set(cfd_metrics *m, const char *name, double value, ...)
{
    va_list ap;
    va_start(ap, value);
    update(m, name, OP_SET, value, ap);
    va_end(ap);
}

void cfd_metric_observe(cfd_metrics *m, const char *name, double value, ...)
{
    va_list ap;
    va_start(ap, value);
    update(m, name, OP_OBSERVE, value, ap);
    va_end(ap);
}

void cfd_metric_clear(cfd_metrics *m, const char *name)
{
    pthread_mutex_lock(&m->lock);
    struct family *f = find_family(m, name);
    if (f)
        family_clear_series(f);
    pthread_mutex_unlock(&m->lock);
}

/* ---- rendering -------------------------------------------------------------------- */

/* A number as Prometheus reads it: integers without a fraction. */
static void fmt_num(char *buf, size_t size, double v)
{
    if (v == (double)(long long)v && v < 1e15 && v > -1e15)
        snprintf(buf, size, "%lld", (long long)v);
    else
        snprintf(buf, size, "%.9g", v);
}

/* One sample line: name+suffix{labels[,extra]} value. */
static void sample(FILE *out, const char *name, const char *suffix, const char *labels,
                   const char *extra, double v)
{
    char num[64];
    fmt_num(num, sizeof num, v);
    bool any = labels[0] || (extra && extra[0]);
    fprintf(out, "%s%s%s%s%s%s%s %s\n", name, suffix, any ? "{" : "", labels,
            labels[0] && extra && extra[0] ? "," : "", extra ? extra : "", any ? "}" : "",
            num);
}

static void render_family(FILE *out, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
    for (size_t i = 0; i < f->nseries; i++) {
        const struct series *s = &f->series[i];
        if (f->type != CFD_HISTOGRAM) {
            sample(out, f->name, "", s->labels, NULL, s->value);
            continue;
        }
        unsigned long long cum = 0;
        char le[80], num[64];
        for (size_t b = 0; b < f->nbounds; b++) {
            cum += s->buckets[b];
            fmt_num(num, sizeof num, f->bounds[b]);
            snprintf(le, sizeof le, "le=\"%s\"", num);
            sample(out, f->name, "_bucket", s->labels, le, (double)cum);
        }
        sample(out, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
        sample(out, f->name, "_sum", s->labels, NULL, s->value);
        sample(out, f->name, "_count", s->labels, NULL, (double)s->count);
    }
}

char *cfd_metrics_render(cfd_metrics *m, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfamilies; i++)
        render_family(out, &m->families[i]);
    pthread_mutex_unlock(&m->lock);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}
