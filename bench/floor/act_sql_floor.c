/*
 * act_sql_floor: the floor of an act, a referral and a fired timer for this
 * schema and contract, measured apart from the engine's own code.
 *
 * 1. Capture. The program drives the real engine through caseflow.h as
 *    `make bench` does (workflows/polit.lua, store in memory, the bench's
 *    synthetic referrals): intake of N referrals in the command's batches
 *    (1,000, then up to 10,000 per transaction), the six-act lifecycle of
 *    the first K eligible cases (one transaction per act, as `caseflow act`)
 *    and a tick a year later (the engine's pages of 256 timers). While it
 *    does, it records every SQL statement the engine's connection runs
 *    (sqlite3_trace_v2: SQLITE_TRACE_STMT|ROW|PROFILE), with the values
 *    bound to it (the engine's sqlite3_bind_* calls, wrapped at link time
 *    with -Wl,--wrap) and the rows it read, and every SHA-256 the engine
 *    computes (its cf_sha256_*, wrapped the same way: the byte count of
 *    each digest), every Ed25519 signature (crypto_sign_detached) and
 *    keyed short hash (crypto_shorthash). Before each phase the store is
 *    copied (sqlite3_backup).
 * 2. Replay. Each phase's statements are prepared once on a copy of the
 *    store as it was before the phase, then run again in the recorded order
 *    with the recorded values (so the same ids, the same rows, the same
 *    BEGIN/SAVEPOINT/COMMIT and the same number of rows read), timed:
 *      - sql:        the statements alone;
 *      - sql+sha:    with every recorded SHA-256, signature and short hash
 *                    computed at its place over a buffer of the recorded size
 *                    (libsodium's crypto_hash_sha256; and the engine's own
 *                    SHA-NI code, cf_sha256_bytes, as sql+sha_ni);
 *      - +lua:       plus one Lua call of a decision's size per act
 *                    (a function reading a table of the case's fields and
 *                    returning a new state and a small table).
 *    Stores: the act and the tick in the engine's memory VFS (engine/memvfs.c
 *    with the engine's pragmas); the intake and the tick also on a file in
 *    WAL mode with the engine's pragmas (synchronous=FULL): durable.
 *
 * What the floor leaves out on purpose: the engine's C work between the
 * statements (JSON parse and canonical JSON, the workflow's Lua run, the
 * plugin call, checks), statement preparation (the engine keeps its
 * statements prepared too; the few it runs through sqlite3_exec are
 * prepared once here) and the process. What it keeps: every statement,
 * value, row read, commit and digest the engine does now. So it is the
 * floor of this engine's statement stream; a leaner stream (fewer
 * statements or indexes) would be lower.
 *
 * Output: one JSON line per figure on stdout. Environment: CASEFLOW_WORKFLOW
 * (polit.lua), CASEFLOW_PLUGIN_PATH, FLOOR_CASES (N, 10000), FLOOR_ACT_CASES
 * (K, 2000), FLOOR_REPEAT (replays per figure, the fastest is printed; 3),
 * BENCH_DIR (where the durable replay's file goes; $TMPDIR or /tmp),
 * FLOOR_DUMP=FILE (write the captured statements of the first act, the first
 * referral and the tick's first page with their values, for reading).
 */
#include <caseflow/caseflow.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <sodium.h>
#include <sqlite3.h>

#include "hash.h"
#include "../synth.h"
#include "memvfs.h"

#define EPOCH INT64_C(1793611800) /* the bench's engine clock */
#define ADMIN "bench.admin"
#define MAXP 128                 /* bound parameters kept per statement */

/* ---- small helpers ------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("act_sql_floor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die("out of memory");
    return q;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void check(int rc, const cf_error *err, const char *what)
{
    if (rc != 0)
        die("%s: %s (%s)", what, err->message[0] ? err->message : cf_strerror(rc),
            cf_err_name(rc));
}

/* ---- the record ------------------------------------------------------------ */

typedef struct val {
    int type; /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL; 0 unset */
    int64_t i;
    double d;
    char *s;
    int n;
} val;

enum { R_STMT, R_SHA, R_SIGN, R_SHORT, R_UNIT };

typedef struct rec {
    int kind;
    int tmpl;     /* R_STMT: the statement's SQL (templates[]) */
    int nv;       /* R_STMT: values bound, v[0] is parameter 1 */
    val *v;
    int rows;     /* R_STMT: rows the engine read */
    int64_t ns;   /* R_STMT: SQLite's own time (SQLITE_TRACE_PROFILE) */
    size_t size;  /* R_SHA, R_SIGN, R_SHORT: bytes hashed or signed */
} rec;

typedef struct phase {
    const char *name;
    rec *r;
    size_t n, cap;
    size_t units;       /* acts, referrals or timers */
    sqlite3 *before;    /* a copy of the store before the phase */
    sqlite3 *after;     /* and after it (borrowed: the next phase's before) */
    double engine_wall; /* the engine's own time for the phase (with the capture's cost) */
    double engine_cpu;
} phase;

static char **templates;
static size_t ntemplates;
static phase *cur;        /* the phase being recorded, NULL: not recording */
static sqlite3 *engine_db; /* the engine's connection */

/* Bindings per live statement, as SQLite keeps them (across resets). */
typedef struct bound {
    sqlite3_stmt *st;
    int tmpl;
    int nv;
    val v[MAXP];
    long last; /* its latest record in cur, -1 none */
} bound;
static bound *bounds;
static size_t nbounds;

static bound *bound_of(sqlite3_stmt *st, bool make)
{
    for (size_t i = 0; i < nbounds; i++)
        if (bounds[i].st == st)
            return &bounds[i];
    if (!make)
        return NULL;
    bounds = xrealloc(bounds, (nbounds + 1) * sizeof *bounds);
    bound *b = &bounds[nbounds++];
    memset(b, 0, sizeof *b);
    b->st = st;
    b->tmpl = -1;
    b->last = -1;
    return b;
}

static void val_clear(val *v)
{
    free(v->s);
    memset(v, 0, sizeof *v);
}

static val *slot(sqlite3_stmt *st, int i)
{
    if (!cur || i < 1 || i > MAXP)
        return NULL;
    bound *b = bound_of(st, true);
    if (i > b->nv)
        b->nv = i;
    val_clear(&b->v[i - 1]);
    return &b->v[i - 1];
}

static int intern(const char *sql)
{
    for (size_t i = 0; i < ntemplates; i++)
        if (!strcmp(templates[i], sql))
            return (int)i;
    templates = xrealloc(templates, (ntemplates + 1) * sizeof *templates);
    templates[ntemplates] = xrealloc(NULL, strlen(sql) + 1);
    strcpy(templates[ntemplates], sql);
    return (int)ntemplates++;
}

static rec *push(phase *p, int kind)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 4096;
        p->r = xrealloc(p->r, p->cap * sizeof *p->r);
    }
    rec *r = &p->r[p->n++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    return r;
}

static int on_trace(unsigned type, void *ctx, void *p, void *x)
{
    (void)ctx;
    if (!cur)
        return 0;
    sqlite3_stmt *st = p;
    if (sqlite3_db_handle(st) != engine_db)
        return 0;
    if (type == SQLITE_TRACE_STMT) {
        if (((const char *)x)[0] == '-' && ((const char *)x)[1] == '-')
            return 0; /* a trigger's body: it runs again on its own */
        bound *b = bound_of(st, true);
        if (b->tmpl < 0)
            b->tmpl = intern(sqlite3_sql(st));
        rec *r = push(cur, R_STMT);
        r->tmpl = b->tmpl;
        r->nv = b->nv;
        r->v = calloc((size_t)(b->nv ? b->nv : 1), sizeof *r->v);
        if (!r->v)
            die("out of memory");
        for (int i = 0; i < b->nv; i++) {
            r->v[i] = b->v[i];
            if (b->v[i].s) {
                r->v[i].s = xrealloc(NULL, (size_t)b->v[i].n + 1);
                memcpy(r->v[i].s, b->v[i].s, (size_t)b->v[i].n + 1);
            }
        }
        b->last = (long)(cur->n - 1);
    } else if (type == SQLITE_TRACE_ROW || type == SQLITE_TRACE_PROFILE) {
        bound *b = bound_of(st, false);
        if (b && b->last >= 0 && (size_t)b->last < cur->n) {
            if (type == SQLITE_TRACE_ROW)
                cur->r[b->last].rows++;
            else
                cur->r[b->last].ns += *(int64_t *)x;
        }
    }
    return 0;
}

/* ---- the wrapped calls (-Wl,--wrap=...) ------------------------------------ */

int __real_sqlite3_open_v2(const char *, sqlite3 **, int, const char *);
int __wrap_sqlite3_open_v2(const char *, sqlite3 **, int, const char *);
int __real_sqlite3_bind_int(sqlite3_stmt *, int, int);
int __wrap_sqlite3_bind_int(sqlite3_stmt *, int, int);
int __real_sqlite3_bind_int64(sqlite3_stmt *, int, sqlite3_int64);
int __wrap_sqlite3_bind_int64(sqlite3_stmt *, int, sqlite3_int64);
int __real_sqlite3_bind_double(sqlite3_stmt *, int, double);
int __wrap_sqlite3_bind_double(sqlite3_stmt *, int, double);
int __real_sqlite3_bind_null(sqlite3_stmt *, int);
int __wrap_sqlite3_bind_null(sqlite3_stmt *, int);
int __real_sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
int __wrap_sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
int __real_sqlite3_bind_blob(sqlite3_stmt *, int, const void *, int, void (*)(void *));
int __wrap_sqlite3_bind_blob(sqlite3_stmt *, int, const void *, int, void (*)(void *));
int __real_sqlite3_clear_bindings(sqlite3_stmt *);
int __wrap_sqlite3_clear_bindings(sqlite3_stmt *);
int __real_sqlite3_finalize(sqlite3_stmt *);
int __wrap_sqlite3_finalize(sqlite3_stmt *);
void __real_cf_sha256_init(cf_sha256 *);
void __wrap_cf_sha256_init(cf_sha256 *);
void __real_cf_sha256_update(cf_sha256 *, const void *, size_t);
void __wrap_cf_sha256_update(cf_sha256 *, const void *, size_t);
void __real_cf_sha256_final(cf_sha256 *, unsigned char *);
void __wrap_cf_sha256_final(cf_sha256 *, unsigned char *);
void __real_cf_sha256_bytes(const void *, size_t, unsigned char *);
void __wrap_cf_sha256_bytes(const void *, size_t, unsigned char *);
int __real_crypto_sign_detached(unsigned char *, unsigned long long *, const unsigned char *,
                                unsigned long long, const unsigned char *);
int __wrap_crypto_sign_detached(unsigned char *, unsigned long long *, const unsigned char *,
                                unsigned long long, const unsigned char *);
int __real_crypto_shorthash(unsigned char *, const unsigned char *, unsigned long long,
                            const unsigned char *);
int __wrap_crypto_shorthash(unsigned char *, const unsigned char *, unsigned long long,
                            const unsigned char *);

int __wrap_sqlite3_open_v2(const char *name, sqlite3 **db, int flags, const char *vfs)
{
    int rc = __real_sqlite3_open_v2(name, db, flags, vfs);
    if (rc == SQLITE_OK && *db && !engine_db && !strcmp(name, "caseflow-memory-store")) {
        engine_db = *db;
        sqlite3_trace_v2(*db, SQLITE_TRACE_STMT | SQLITE_TRACE_ROW | SQLITE_TRACE_PROFILE,
                         on_trace, NULL);
    }
    return rc;
}

int __wrap_sqlite3_bind_int(sqlite3_stmt *st, int i, int v)
{
    val *s = slot(st, i);
    if (s) {
        s->type = SQLITE_INTEGER;
        s->i = v;
    }
    return __real_sqlite3_bind_int(st, i, v);
}

int __wrap_sqlite3_bind_int64(sqlite3_stmt *st, int i, sqlite3_int64 v)
{
    val *s = slot(st, i);
    if (s) {
        s->type = SQLITE_INTEGER;
        s->i = v;
    }
    return __real_sqlite3_bind_int64(st, i, v);
}

int __wrap_sqlite3_bind_double(sqlite3_stmt *st, int i, double v)
{
    val *s = slot(st, i);
    if (s) {
        s->type = SQLITE_FLOAT;
        s->d = v;
    }
    return __real_sqlite3_bind_double(st, i, v);
}

int __wrap_sqlite3_bind_null(sqlite3_stmt *st, int i)
{
    val *s = slot(st, i);
    if (s)
        s->type = SQLITE_NULL;
    return __real_sqlite3_bind_null(st, i);
}

static void keep_bytes(val *s, int type, const void *p, int n)
{
    if (!p) {
        s->type = SQLITE_NULL;
        return;
    }
    if (n < 0)
        n = (int)strlen(p);
    s->type = type;
    s->n = n;
    s->s = xrealloc(NULL, (size_t)n + 1);
    memcpy(s->s, p, (size_t)n);
    s->s[n] = '\0';
}

int __wrap_sqlite3_bind_text(sqlite3_stmt *st, int i, const char *p, int n, void (*d)(void *))
{
    val *s = slot(st, i);
    if (s)
        keep_bytes(s, SQLITE_TEXT, p, n);
    return __real_sqlite3_bind_text(st, i, p, n, d);
}

int __wrap_sqlite3_bind_blob(sqlite3_stmt *st, int i, const void *p, int n, void (*d)(void *))
{
    val *s = slot(st, i);
    if (s)
        keep_bytes(s, SQLITE_BLOB, p, n);
    return __real_sqlite3_bind_blob(st, i, p, n, d);
}

int __wrap_sqlite3_clear_bindings(sqlite3_stmt *st)
{
    bound *b = bound_of(st, false);
    if (b) {
        for (int i = 0; i < b->nv; i++)
            val_clear(&b->v[i]);
        b->nv = 0;
    }
    return __real_sqlite3_clear_bindings(st);
}

int __wrap_sqlite3_finalize(sqlite3_stmt *st)
{
    bound *b = bound_of(st, false);
    if (b) {
        for (int i = 0; i < b->nv; i++)
            val_clear(&b->v[i]);
        *b = bounds[--nbounds];
    }
    return __real_sqlite3_finalize(st);
}

/* Digests in progress: their state's address and the bytes so far. */
static struct {
    const void *h;
    size_t bytes;
} digests[64];

void __wrap_cf_sha256_init(cf_sha256 *h)
{
    for (int i = 0; i < 64; i++)
        if (!digests[i].h || digests[i].h == h) {
            digests[i].h = h;
            digests[i].bytes = 0;
            break;
        }
    __real_cf_sha256_init(h);
}

void __wrap_cf_sha256_update(cf_sha256 *h, const void *p, size_t n)
{
    for (int i = 0; i < 64; i++)
        if (digests[i].h == h) {
            digests[i].bytes += n;
            break;
        }
    __real_cf_sha256_update(h, p, n);
}

void __wrap_cf_sha256_final(cf_sha256 *h, unsigned char *out)
{
    for (int i = 0; i < 64; i++)
        if (digests[i].h == h) {
            if (cur)
                push(cur, R_SHA)->size = digests[i].bytes;
            digests[i].h = NULL;
            break;
        }
    __real_cf_sha256_final(h, out);
}

void __wrap_cf_sha256_bytes(const void *p, size_t n, unsigned char *out)
{
    if (cur)
        push(cur, R_SHA)->size = n;
    __real_cf_sha256_bytes(p, n, out);
}

int __wrap_crypto_sign_detached(unsigned char *sig, unsigned long long *siglen,
                                const unsigned char *m, unsigned long long mlen,
                                const unsigned char *sk)
{
    if (cur)
        push(cur, R_SIGN)->size = (size_t)mlen;
    return __real_crypto_sign_detached(sig, siglen, m, mlen, sk);
}

int __wrap_crypto_shorthash(unsigned char *out, const unsigned char *in, unsigned long long n,
                            const unsigned char *k)
{
    if (cur)
        push(cur, R_SHORT)->size = (size_t)n;
    return __real_crypto_shorthash(out, in, n, k);
}

/* ---- driving the engine (as bench/bench.c does) ----------------------------- */

/* bench.c's referrals, the same bytes (bench/synth.c). */
static void make_referral(char *buf, size_t cap, const char *prefix, uint64_t i)
{
    if (bench_make_referral(buf, cap, prefix, i) != 0)
        die("referral %" PRIu64 " does not fit", i);
}

static int act_as(cf_engine *e, const char *actor, const char *id, const char *event,
                  json_t *data, cf_error *err)
{
    cf_engine_set_actor(e, actor, "benchmark: synthetic data");
    if (cur) {
        push(cur, R_UNIT);
        cur->units++;
    }
    int rc = cf_act(e, id, event, data, -1, NULL, err);
    json_decref(data);
    return rc;
}

/* bench.c's lifecycle, the same six acts and data (bench/synth.c). */
static int lifecycle(cf_engine *e, const char *id, uint64_t i, cf_error *err)
{
    return bench_lifecycle(e, id, i, act_as, err);
}

static sqlite3 *copy_of(sqlite3 *src)
{
    sqlite3 *d = NULL;
    if (sqlite3_open(":memory:", &d) != SQLITE_OK)
        die("cannot open a copy");
    sqlite3_backup *b = sqlite3_backup_init(d, "main", src, "main");
    if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK)
        die("cannot copy the store: %s", sqlite3_errmsg(d));
    return d;
}

static void begin_phase(phase *p, const char *name)
{
    memset(p, 0, sizeof *p);
    p->name = name;
    p->before = copy_of(engine_db);
    p->engine_wall = now_s();
    p->engine_cpu = cpu_s();
    cur = p;
}

static void end_phase(phase *p)
{
    cur = NULL;
    p->engine_wall = now_s() - p->engine_wall;
    p->engine_cpu = cpu_s() - p->engine_cpu;
    for (size_t i = 0; i < nbounds; i++)
        bounds[i].last = -1;
}

static void capture(phase *intake, phase *acts, phase *tick, size_t n, size_t k)
{
    const char *wf = getenv("CASEFLOW_WORKFLOW");
    if (!wf)
        die("set CASEFLOW_WORKFLOW (workflows/polit.lua) and CASEFLOW_PLUGIN_PATH");
    cf_error err;
    memset(&err, 0, sizeof err);
    cf_open_options o;
    memset(&o, 0, sizeof o);
    o.create = 1;
    cf_engine *e = NULL;
    check(cf_engine_open(":memory:", &o, &e, &err), &err, "open");
    if (!engine_db)
        die("the engine did not open its store in the memory VFS: nothing traced");
    cf_engine_set_clock(e, EPOCH);
    cf_engine_set_actor(e, ADMIN, "benchmark: synthetic data");
    check(cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, &err), &err, "init");
    static const char *const users[][2] = {{"bench.analyst", "analyst"},
                                           {"bench.officer", "officer"},
                                           {"bench.supervisor", "supervisor"},
                                           {"bench.authoriser", "authoriser"}};
    for (size_t i = 0; i < 4; i++) {
        const char *roles[] = {users[i][1], NULL};
        check(cf_user_add(e, users[i][0], roles, &err), &err, "user add");
    }
    check(cf_workflow_deploy(e, wf, NULL, &err), &err, wf);

    /* intake as `caseflow refer FILE` batches it: 1,000, then up to 10,000 */
    char **ids = calloc(k, sizeof *ids);
    char buf[1024];
    cf_engine_set_actor(e, "bench.analyst", "benchmark: synthetic data");
    begin_phase(intake, "intake");
    for (size_t i = 0, batch = 1000; i < n; i += batch, batch = 10000) {
        check(cf_batch_begin(e, &err), &err, "batch begin");
        for (size_t j = i; j < i + batch && j < n; j++) {
            make_referral(buf, sizeof buf, "MEM", j);
            json_t *r = json_loads(buf, 0, NULL), *out = NULL;
            push(cur, R_UNIT);
            cur->units++;
            check(cf_refer(e, NULL, r, &out, &err), &err, "refer");
            if (j % 2 == 0 && j / 2 < k)
                ids[j / 2] = strdup(json_string_value(json_object_get(out, "id")));
            json_decref(out);
            json_decref(r);
        }
        check(cf_batch_commit(e, &err), &err, "batch commit");
    }
    end_phase(intake);

    begin_phase(acts, "act");
    for (size_t i = 0; i < k && ids[i]; i++)
        check(lifecycle(e, ids[i], i, &err), &err, ids[i]);
    end_phase(acts);

    cf_engine_set_clock(e, EPOCH + 400 * 86400);
    cf_engine_set_actor(e, ADMIN, "benchmark: synthetic data");
    json_t *fired = NULL;
    begin_phase(tick, "tick");
    check(cf_tick(e, &fired, &err), &err, "tick");
    end_phase(tick);
    intake->after = acts->before;
    acts->after = tick->before;
    tick->after = copy_of(engine_db);
    tick->units = json_array_size(fired);
    json_decref(fired);
    for (size_t i = 0; i < k; i++)
        free(ids[i]);
    free(ids);
    cf_engine_close(e);
}

/* ---- replay ------------------------------------------------------------------- */

enum { H_NONE, H_SODIUM, H_SHANI };

/* Which of a phase's statements a replay runs:
 *   V_ALL   every statement the engine ran (this engine's stream);
 *   V_LEAN  without a read (SELECT, PRAGMA) that repeats, with the same
 *           values, one made earlier in the same unit (act, referral, or
 *           timer under its savepoint): what an engine that kept what it
 *           read (the actor's row, the audit head, a case part it wrote
 *           itself) would not ask again. Digests are all kept.
 *   V_MIN   only the transaction control, the writes and the first read
 *           per unit of the case row, the audit head and the due timers:
 *           BELOW the contract (no actor check, no check of the case
 *           against its chained digest, no correlation look-up), a bound
 *           no implementation of this schema can beat. */
enum { V_ALL, V_LEAN, V_MIN, V_GROUP, V_BROKEN };
/* V_BROKEN: every statement but one write (the phase's first INSERT): the
 * self-test that the comparison with the engine's store can fail. */
#define GROUP_UNITS 60 /* V_GROUP: every statement, but 60 units per transaction
                        * (bench's lifecycle_group: 10 cases of 6 acts) */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    return s;
}

static bool is_read(const char *sql)
{
    sql = skip_ws(sql);
    return !strncasecmp(sql, "SELECT", 6) || !strncasecmp(sql, "PRAGMA", 6) ||
           !strncasecmp(sql, "WITH", 4);
}

static bool is_write_or_tx(const char *sql)
{
    static const char *const kw[] = {"INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN",
                                     "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK", "END"};
    sql = skip_ws(sql);
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (!strncasecmp(sql, kw[i], strlen(kw[i])))
            return true;
    return false;
}

static bool unit_start(const rec *r)
{
    return r->kind == R_UNIT ||
           (r->kind == R_STMT && !strncasecmp(skip_ws(templates[r->tmpl]), "SAVEPOINT", 9));
}

static bool same_values(const rec *a, const rec *b)
{
    if (a->tmpl != b->tmpl || a->nv != b->nv)
        return false;
    for (int i = 0; i < a->nv; i++) {
        const val *x = &a->v[i], *y = &b->v[i];
        if (x->type != y->type || x->i != y->i || x->d != y->d || x->n != y->n ||
            (x->s && memcmp(x->s, y->s, (size_t)x->n)))
            return false;
    }
    return true;
}

/* skip[i]: record i is left out of variant v. */
static bool *skips(const phase *p, int v)
{
    bool *skip = calloc(p->n ? p->n : 1, sizeof *skip);
    size_t start = 0;
    for (size_t i = 0; i < p->n; i++) {
        const rec *r = &p->r[i];
        if (unit_start(r))
            start = i;
        if (v == V_ALL || r->kind != R_STMT)
            continue;
        const char *sql = templates[r->tmpl];
        if (v == V_BROKEN) {
            static const phase *done;
            if (done != p && !strncasecmp(skip_ws(sql), "INSERT", 6)) {
                skip[i] = true;
                done = p;
            }
            continue;
        }
        if (v == V_GROUP) {
            const char *t = skip_ws(sql);
            skip[i] = !strncasecmp(t, "BEGIN", 5) || !strncasecmp(t, "COMMIT", 6);
            continue;
        }
        if (v == V_LEAN) {
            if (!is_read(sql))
                continue;
            for (size_t j = start; j < i && !skip[i]; j++)
                if (!skip[j] && p->r[j].kind == R_STMT && same_values(&p->r[j], r))
                    skip[i] = true;
        } else if (!is_write_or_tx(sql)) {
            bool key = strstr(sql, "FROM cases WHERE id=?") || strstr(sql, "FROM audit ORDER BY seq DESC") ||
                       strstr(sql, "due_at <=");
            skip[i] = !key;
            for (size_t j = start; j < i && !skip[i]; j++)
                if (!skip[j] && p->r[j].kind == R_STMT && p->r[j].tmpl == r->tmpl)
                    skip[i] = true;
        }
    }
    return skip;
}

static void exec_or_die(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        die("%s: %s", sql, msg ? msg : "?");
}

/* A copy of p->before as the engine opens a store: in the memory VFS, or
 * a file in WAL mode. Both with store/sqlite.c's pragmas. */
static sqlite3 *open_target(const phase *p, const char *file)
{
    sqlite3 *db = NULL;
    int rc;
    if (file) {
        unlink(file);
        char side[4200];
        snprintf(side, sizeof side, "%s-wal", file);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", file);
        unlink(side);
        rc = __real_sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                   SQLITE_OPEN_NOMUTEX, NULL);
    } else {
        rc = __real_sqlite3_open_v2("floor-replay", &db, SQLITE_OPEN_READWRITE |
                                    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, cf_memvfs_name());
    }
    if (rc != SQLITE_OK)
        die("cannot open the replay store");
    sqlite3_backup *b = sqlite3_backup_init(db, "main", p->before, "main");
    if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK)
        die("cannot copy the store for replay: %s", sqlite3_errmsg(db));
    exec_or_die(db, file ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=MEMORY");
    exec_or_die(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
                    "PRAGMA trusted_schema=OFF; PRAGMA cache_size=-16000; PRAGMA temp_store=MEMORY");
    if (!file)
        exec_or_die(db, "PRAGMA cache_size=-2000");
    if (file)
        exec_or_die(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    return db;
}

/* Lua: one call of a decision's size. */
static lua_State *lua_decider(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    static const char src[] =
        "return function(case, event, data)\n"
        "  local d = case.data\n"
        "  if event == 'visit.completed' and d.category == 'C' and data.advice_given then\n"
        "    return {state = 'monitoring', data = {outcome = 'advised', letter = data.letter_issued}}\n"
        "  end\n"
        "  return {state = case.state .. '.next', data = {seen = d.reference}}\n"
        "end\n";
    if (luaL_dostring(L, src) != LUA_OK)
        die("lua: %s", lua_tostring(L, -1));
    lua_setglobal(L, "decide");
    return L;
}

/* The case (a table of 12 fields and a nested one), the event, its data
 * (4 fields): what the engine hands a transition function. */
static void lua_call_once(lua_State *L, uint64_t i)
{
    lua_getglobal(L, "decide");
    lua_createtable(L, 0, 3);
    lua_pushstring(L, "visit.planned");
    lua_setfield(L, -2, "state");
    lua_pushstring(L, "CF-000001");
    lua_setfield(L, -2, "id");
    lua_createtable(L, 0, 12);
    static const char *keys[] = {"source", "reference", "received_at", "category", "frequency",
                                 "name", "postcode", "authority", "ip", "account", "md5"};
    for (int k = 0; k < 11; k++) {
        lua_pushstring(L, k == 3 ? "C" : "some value of a case field");
        lua_setfield(L, -2, keys[k]);
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "priority");
    lua_setfield(L, -2, "data");
    lua_pushstring(L, "visit.completed");
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "advice_given");
    lua_pushboolean(L, (int)(i & 1));
    lua_setfield(L, -2, "letter_issued");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "security_advice");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "signposted");
    if (lua_pcall(L, 3, 1, 0) != LUA_OK)
        die("lua: %s", lua_tostring(L, -1));
    lua_getfield(L, -1, "state");
    if (!lua_isstring(L, -1))
        die("lua: no state");
    lua_pop(L, 2);
}

/* The digest of every row of every table of db, table by table in name
 * order, rows in their key order: two stores with the same rows give the
 * same digest, however their pages are laid out. */
static void store_digest(sqlite3 *db, unsigned char out[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    sqlite3_stmt *t = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name",
                           -1, &t, NULL) != SQLITE_OK)
        die("schema: %s", sqlite3_errmsg(db));
    while (sqlite3_step(t) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(t, 0);
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", name);
        sqlite3_stmt *r = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &r, NULL) != SQLITE_OK)
            die("%s: %s", sql, sqlite3_errmsg(db));
        crypto_hash_sha256_update(&h, (const unsigned char *)name, strlen(name) + 1);
        while (sqlite3_step(r) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(r); c++) {
                unsigned char type = (unsigned char)sqlite3_column_type(r, c);
                const void *b = sqlite3_column_blob(r, c);
                int n = sqlite3_column_bytes(r, c);
                crypto_hash_sha256_update(&h, &type, 1);
                crypto_hash_sha256_update(&h, (const unsigned char *)&n, sizeof n);
                if (b && n > 0)
                    crypto_hash_sha256_update(&h, b, (unsigned long long)n);
            }
        }
        __real_sqlite3_finalize(r);
    }
    __real_sqlite3_finalize(t);
    crypto_hash_sha256_final(&h, out);
}

/* 1: db holds exactly the rows p->after holds; 0: not; -1: not checked. */
static int same_as_engine(sqlite3 *db, const phase *p)
{
    if (!p->after)
        return -1;
    unsigned char a[crypto_hash_sha256_BYTES], b[crypto_hash_sha256_BYTES];
    store_digest(db, a);
    store_digest(p->after, b);
    return memcmp(a, b, sizeof a) == 0;
}

typedef struct result {
    int same; /* same_as_engine after the replay */
    double wall, cpu;
    size_t failed; /* statements that failed (as they did in the engine) */
} result;

static result replay(const phase *p, const char *file, int hash, bool lua, int variant)
{
    bool *skip = skips(p, variant);
    sqlite3 *db = open_target(p, file);
    sqlite3_stmt **st = calloc(ntemplates, sizeof *st);
    for (size_t i = 0; i < p->n; i++) {
        const rec *r = &p->r[i];
        if (r->kind != R_STMT || st[r->tmpl])
            continue;
        const char *tail = NULL;
        if (sqlite3_prepare_v3(db, templates[r->tmpl], -1, SQLITE_PREPARE_PERSISTENT,
                               &st[r->tmpl], &tail) != SQLITE_OK || !st[r->tmpl])
            die("prepare %s: %s", templates[r->tmpl], sqlite3_errmsg(db));
    }
    static unsigned char buf[1 << 20], out[64], sk[crypto_sign_SECRETKEYBYTES],
        pk[crypto_sign_PUBLICKEYBYTES], skey[crypto_shorthash_KEYBYTES];
    randombytes_buf(buf, sizeof buf);
    crypto_sign_keypair(pk, sk);
    randombytes_buf(skey, sizeof skey);
    lua_State *L = lua ? lua_decider() : NULL;
    sqlite3_stmt *begin = NULL, *commit = NULL;
    if (variant == V_GROUP &&
        (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK))
        die("prepare: %s", sqlite3_errmsg(db));
    result res = {-1, 0, 0, 0};
    uint64_t units = 0;
    double t0 = now_s(), c0 = cpu_s();
    for (size_t i = 0; i < p->n; i++) {
        const rec *r = &p->r[i];
        if (skip[i])
            continue;
        switch (r->kind) {
        case R_STMT: {
            sqlite3_stmt *s = st[r->tmpl];
            for (int k = 0; k < r->nv; k++) {
                const val *v = &r->v[k];
                switch (v->type) {
                case SQLITE_INTEGER: __real_sqlite3_bind_int64(s, k + 1, v->i); break;
                case SQLITE_FLOAT: __real_sqlite3_bind_double(s, k + 1, v->d); break;
                case SQLITE_TEXT:
                    __real_sqlite3_bind_text(s, k + 1, v->s, v->n, SQLITE_STATIC);
                    break;
                case SQLITE_BLOB:
                    __real_sqlite3_bind_blob(s, k + 1, v->s, v->n, SQLITE_STATIC);
                    break;
                default: __real_sqlite3_bind_null(s, k + 1); break;
                }
            }
            int rc = SQLITE_ROW;
            for (int k = 0; k <= r->rows && rc == SQLITE_ROW; k++)
                rc = sqlite3_step(s);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                if ((rc & 0xff) != SQLITE_CONSTRAINT)
                    die("replay of %s: %s", templates[r->tmpl], sqlite3_errmsg(db));
                res.failed++;
            }
            sqlite3_reset(s);
            break;
        }
        case R_SHA:
            if (hash == H_SODIUM)
                crypto_hash_sha256(out, buf, r->size < sizeof buf ? r->size : sizeof buf);
            else if (hash == H_SHANI)
                __real_cf_sha256_bytes(buf, r->size < sizeof buf ? r->size : sizeof buf, out);
            break;
        case R_SIGN:
            if (hash != H_NONE)
                __real_crypto_sign_detached(out, NULL, buf, r->size, sk);
            break;
        case R_SHORT:
            if (hash != H_NONE)
                __real_crypto_shorthash(out, buf, r->size, skey);
            break;
        case R_UNIT:
            if (variant == V_GROUP && units % GROUP_UNITS == 0) {
                if (units && (sqlite3_step(commit) != SQLITE_DONE || sqlite3_reset(commit)))
                    die("group commit: %s", sqlite3_errmsg(db));
                if (sqlite3_step(begin) != SQLITE_DONE || sqlite3_reset(begin))
                    die("group begin: %s", sqlite3_errmsg(db));
            }
            if (L)
                lua_call_once(L, units);
            units++;
            break;
        }
    }
    if (variant == V_GROUP && units && (sqlite3_step(commit) != SQLITE_DONE))
        die("group commit: %s", sqlite3_errmsg(db));
    res.wall = now_s() - t0;
    res.cpu = cpu_s() - c0;
    for (size_t i = 0; i < ntemplates; i++)
        sqlite3_finalize(st[i]);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    free(st);
    free(skip);
    if (L)
        lua_close(L);
    /* every variant runs all the writes: each must leave the engine's rows */
    res.same = same_as_engine(db, p);
    /* closing a WAL file checkpoints it, as the command does on exit: timed
     * apart (once per command, not per unit) */
    double t1 = now_s();
    sqlite3_close(db);
    if (file) {
        fprintf(stderr, "act_sql_floor: %s on a file: close (checkpoint) %.1f ms\n", p->name,
                1000 * (now_s() - t1));
        unlink(file);
    }
    return res;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The fastest of `repeat` replays, as one JSON line. */
static void figure(const phase *p, const char *store, const char *file, int hash, bool lua,
                   int variant, const char *what, int repeat)
{
    double w[16], c[16];
    size_t failed = 0;
    int same = -1;
    if (repeat > 16)
        repeat = 16;
    for (int i = 0; i < repeat; i++) {
        result r = replay(p, file, hash, lua, variant);
        w[i] = r.wall;
        c[i] = r.cpu;
        failed = r.failed;
        if (r.same == 0 && variant != V_BROKEN)
            die("the replay of %s (%s) left the store unlike the engine did", p->name, what);
        same = r.same;
    }
    qsort(w, (size_t)repeat, sizeof *w, cmp_double);
    qsort(c, (size_t)repeat, sizeof *c, cmp_double);
    /* the fastest run: on a shared machine the others' load only ever adds */
    double wall = w[0], cpu = c[0], u = (double)p->units;
    static const char *const vn[] = {"all", "lean", "min", "all_60_per_tx"};
    bool *skip = skips(p, variant);
    size_t kept = 0;
    for (size_t i = 0; i < p->n; i++)
        kept += p->r[i].kind == R_STMT && !skip[i];
    free(skip);
    printf("{\"floor\":\"%s\",\"store\":\"%s\",\"statements\":\"%s\","
           "\"statements_per_unit\":%.2f,\"work\":\"%s\",\"units\":%zu,"
           "\"us_per_unit\":%.2f,\"cpu_us_per_unit\":%.2f,\"per_sec\":%.0f,"
           "\"cpu_per_sec\":%.0f,\"repeat\":%d,\"failed_as_captured\":%zu,"
           "\"store_as_engine_left_it\":%s}\n",
           p->name, store, vn[variant], (double)kept / u, what, p->units, 1e6 * wall / u, 1e6 * cpu / u, u / wall, u / cpu,
           repeat, failed, same < 0 ? "null" : "true");
    fflush(stdout);
}

/* What one unit of a phase is made of, as one JSON line. */
static void describe(const phase *p)
{
    size_t stmts = 0, sha = 0, sign = 0, shorth = 0, shabytes = 0, rows = 0, writes = 0;
    for (size_t i = 0; i < p->n; i++) {
        const rec *r = &p->r[i];
        if (r->kind == R_STMT) {
            stmts++;
            rows += (size_t)r->rows;
            const char *s = templates[r->tmpl];
            while (*s == ' ' || *s == '\n')
                s++;
            if (!strncasecmp(s, "INSERT", 6) || !strncasecmp(s, "UPDATE", 6) ||
                !strncasecmp(s, "DELETE", 6) || !strncasecmp(s, "REPLACE", 7))
                writes++;
        } else if (r->kind == R_SHA) {
            sha++;
            shabytes += r->size;
        } else if (r->kind == R_SIGN) {
            sign++;
        } else if (r->kind == R_SHORT) {
            shorth++;
        }
    }
    double u = (double)p->units;
    printf("{\"floor\":\"%s\",\"shape\":true,\"units\":%zu,\"statements_per_unit\":%.2f,"
           "\"writes_per_unit\":%.2f,\"rows_read_per_unit\":%.2f,\"sha256_per_unit\":%.2f,"
           "\"sha256_bytes_per_unit\":%.0f,\"signatures\":%zu,\"short_hashes_per_unit\":%.2f,"
           "\"engine_us_per_unit_traced\":%.2f,"
           "\"engine_cpu_us_per_unit_traced\":%.2f}\n",
           p->name, p->units, stmts / u, writes / u, rows / u, sha / u, shabytes / u, sign,
           shorth / u, 1e6 * p->engine_wall / u, 1e6 * p->engine_cpu / u);
    fflush(stdout);
}

/* The records of one unit (the first from `from`), readable. */
static void dump_unit(FILE *f, const phase *p, size_t from, size_t limit)
{
    fprintf(f, "== %s\n", p->name);
    size_t i = from, shown = 0;
    if (p->r[i].kind == R_UNIT)
        i++;
    for (; i < p->n && p->r[i].kind != R_UNIT && shown < limit; i++, shown++) {
        const rec *r = &p->r[i];
        if (r->kind == R_SHA) {
            fprintf(f, "  [sha256 %zu bytes]\n", r->size);
            continue;
        }
        if (r->kind == R_SIGN || r->kind == R_SHORT) {
            fprintf(f, "  [%s %zu bytes]\n", r->kind == R_SIGN ? "ed25519 sign" : "shorthash",
                    r->size);
            continue;
        }
        fprintf(f, "  %s\n", templates[r->tmpl]);
        if (r->nv) {
            fputs("      values:", f);
            for (int k = 0; k < r->nv; k++) {
                const val *v = &r->v[k];
                if (v->type == SQLITE_INTEGER)
                    fprintf(f, " %" PRId64, v->i);
                else if (v->type == SQLITE_TEXT)
                    fprintf(f, " '%.*s%s'", v->n > 80 ? 80 : v->n, v->s,
                            v->n > 80 ? "...(" : "");
                else if (v->type == SQLITE_BLOB)
                    fprintf(f, " x'..%d bytes'", v->n);
                else if (v->type == SQLITE_FLOAT)
                    fprintf(f, " %g", v->d);
                else
                    fputs(" NULL", f);
                if (v->type == SQLITE_TEXT && v->n > 80)
                    fprintf(f, "%d bytes)'", v->n);
            }
            fputc('\n', f);
        }
        fprintf(f, "      rows read: %d\n", r->rows);
    }
}

static void free_phase(phase *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (int k = 0; k < p->r[i].nv; k++)
            free(p->r[i].v[k].s);
        free(p->r[i].v);
    }
    free(p->r);
    sqlite3_close(p->before);
}

int main(void)
{
    if (sodium_init() < 0)
        die("libsodium");
    size_t n = (size_t)env_long("FLOOR_CASES", 10000);
    size_t k = (size_t)env_long("FLOOR_ACT_CASES", 2000);
    int repeat = (int)env_long("FLOOR_REPEAT", 3);
    if (k > n / 2)
        k = n / 2;
    const char *dir = getenv("BENCH_DIR");
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char file[4200];
    snprintf(file, sizeof file, "%s/act-sql-floor-%ld.db", dir, (long)getpid());

    static phase intake, acts, tick;
    fprintf(stderr, "act_sql_floor: capturing %zu referrals, %zu lifecycles, a tick\n", n, k);
    capture(&intake, &acts, &tick, n, k);
    describe(&acts);
    describe(&intake);
    describe(&tick);
    const char *dump = getenv("FLOOR_DUMP");
    if (dump && *dump) {
        FILE *f = fopen(dump, "w");
        if (!f)
            die("%s: %s", dump, strerror(errno));
        /* the 2nd act of the 100th lifecycle: authorisation.granted, a steady-state act */
        size_t u = 0, i = 0;
        for (; i < acts.n; i++)
            if (acts.r[i].kind == R_UNIT && u++ == 6 * 99 + 1)
                break;
        dump_unit(f, &acts, i, 200);
        for (u = 0, i = 0; i < intake.n; i++)
            if (intake.r[i].kind == R_UNIT && u++ == 2000)
                break;
        dump_unit(f, &intake, i, 200);
        dump_unit(f, &tick, 0, 60);
        fclose(f);
    }
    fprintf(stderr, "act_sql_floor: replaying (fastest of %d)\n", repeat);
    {
        /* the check that each replay left the engine's rows must be able to fail */
        result r = replay(&acts, NULL, H_NONE, false, V_BROKEN);
        if (r.same != 0)
            die("self-test: a replay without one INSERT was not told apart from the engine's");
        printf("{\"floor\":\"self_test\",\"one_write_dropped_detected\":true}\n");
    }
    figure(&acts, "memory", NULL, H_NONE, false, V_ALL, "sql", repeat);
    figure(&acts, "memory", NULL, H_SODIUM, false, V_ALL, "sql+sha", repeat);
    figure(&acts, "memory", NULL, H_SHANI, false, V_ALL, "sql+sha_ni", repeat);
    figure(&acts, "memory", NULL, H_SODIUM, true, V_ALL, "sql+sha+lua", repeat);
    figure(&acts, "memory", NULL, H_NONE, false, V_LEAN, "sql", repeat);
    figure(&acts, "memory", NULL, H_SHANI, false, V_LEAN, "sql+sha_ni", repeat);
    figure(&acts, "memory", NULL, H_NONE, false, V_MIN, "sql", repeat);
    figure(&acts, "memory", NULL, H_NONE, false, V_GROUP, "sql", repeat);
    figure(&tick, "memory", NULL, H_NONE, false, V_ALL, "sql", repeat);
    figure(&tick, "memory", NULL, H_SODIUM, false, V_ALL, "sql+sha", repeat);
    figure(&tick, "memory", NULL, H_SHANI, false, V_LEAN, "sql+sha_ni", repeat);
    figure(&tick, "memory", NULL, H_NONE, false, V_MIN, "sql", repeat);
    figure(&tick, "file_wal", file, H_SODIUM, false, V_ALL, "sql+sha", repeat);
    figure(&intake, "memory", NULL, H_SODIUM, false, V_ALL, "sql+sha", repeat);
    figure(&intake, "file_wal", file, H_NONE, false, V_ALL, "sql", repeat);
    figure(&intake, "file_wal", file, H_SODIUM, false, V_ALL, "sql+sha", repeat);
    figure(&intake, "file_wal", file, H_SHANI, false, V_LEAN, "sql+sha_ni", repeat);
    figure(&intake, "file_wal", file, H_NONE, false, V_MIN, "sql", repeat);
    free_phase(&intake);
    free_phase(&acts);
    free_phase(&tick);
    sqlite3_close(tick.after);
    for (size_t i = 0; i < ntemplates; i++)
        free(templates[i]);
    free(templates);
    for (size_t i = 0; i < nbounds; i++)
        for (int j = 0; j < bounds[i].nv; j++)
            free(bounds[i].v[j].s);
    free(bounds);
    return 0;
}
