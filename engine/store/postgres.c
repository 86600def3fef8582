/*
 * The PostgreSQL half of the statement layer (store/db.h) over libpq: the
 * cf_pg_stmt_* calls with the meaning SQLite gives its own, so a module runs
 * the same code on both backends. A statement's SQL is written with SQLite's
 * placeholders; cf_pg_prepare translates them to "$n" and prepares it on the
 * server once; the first step after a reset runs it with the bound values
 * (text, but blobs binary) and keeps the whole result, so several statements
 * may be stepped in turn as on SQLite; the next steps walk its rows. Values
 * are read as SQLite would read the storage class the column's type maps to
 * (integers, floats, text, blobs); errors are SQLite's codes, from the
 * SQLSTATE, with the server's message kept on the connection.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/postgres.h"

/* SQLite's default SQLITE_MAX_VARIABLE_NUMBER. */
#define PG_MAX_PARAM 32766

/* Type OIDs (catalog/pg_type.h, a server header: fixed since forever). */
enum {
    PG_BOOL = 16,
    PG_BYTEA = 17,
    PG_INT8 = 20,
    PG_INT2 = 21,
    PG_INT4 = 23,
    PG_TEXT = 25,
    PG_OID = 26,
    PG_FLOAT4 = 700,
    PG_FLOAT8 = 701,
    PG_NUMERIC = 1700,
};

struct cf_pg_conn {
    PGconn *pg;         /* NULL once closed */
    char *errmsg;       /* the last error, one line; NULL: none */
    int64_t changes;    /* rows changed by the last INSERT/UPDATE/DELETE */
    int64_t total;      /* rows changed since the connection opened */
    uint64_t session;   /* bumped by each reconnection: statements of an
                         * older session are prepared again */
    char *setup;        /* run again on a new session (cf_pg_set_session) */
    uint64_t seq;       /* names the server-side statements */
    int nstmts;         /* statements not yet finalized */
    int closed;         /* cf_pg_close was called: free with the last stmt */
    char *deferred;     /* DEALLOCATEs refused in a failed transaction */
};

/* One bound parameter. */
typedef struct pg_param {
    const char *value;  /* NULL: SQL NULL */
    char *owned;        /* value when it is ours */
    int length;         /* blobs only */
    int format;         /* 0 text, 1 binary (blobs) */
    int bad;            /* binding failed for memory: step says NOMEM */
    char num[32];       /* the text of a bound integer or double */
} pg_param;

enum { ST_READY, ST_ROWS, ST_DONE };

struct cf_pg_stmt {
    cf_pg_conn *conn;
    char name[32];      /* on the server */
    int nparams;
    char **names;       /* nparams names, NULL for "?" */
    pg_param *params;   /* nparams */
    const char **values; /* for PQexecPrepared, filled at each run */
    int *lengths;
    int *formats;
    int ncols;          /* from the statement's description */
    int state;
    PGresult *res;      /* the rows of the current run (ST_ROWS) */
    int row, nrows;
    char **dec;         /* decoded bytea of the current row, per column */
    int *declen;
    int64_t changes;    /* of this statement's last run */
    char *text;         /* the translated SQL, to prepare it again */
    Oid *types;         /* its parameter types (NULL: all inferred) */
    uint64_t session;   /* the session it is prepared in */
};

/* ---- errors ------------------------------------------------------------ */

/* Sets the connection's message to the first line of msg, trimmed, and
 * returns code. An allocation failure leaves no message: cf_pg_errmsg then
 * says "out of memory". */
static int set_error(cf_pg_conn *c, int code, const char *msg)
{
    free(c->errmsg);
    c->errmsg = NULL;
    if (!msg)
        msg = "";
    while (*msg == ' ' || *msg == '\t' || *msg == '\n' || *msg == '\r')
        msg++;
    size_t n = strcspn(msg, "\r\n");
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t'))
        n--;
    if (n == 0) {
        msg = code == CF_DB_NOMEM ? "out of memory" : "unknown error";
        n = strlen(msg);
    }
    c->errmsg = strndup(msg, n);
    if (!c->errmsg)
        code = CF_DB_NOMEM;
    return code;
}

static void clear_error(cf_pg_conn *c)
{
    free(c->errmsg);
    c->errmsg = NULL;
}

/* SQLSTATE to SQLite's primary result codes. */
static int map_sqlstate(const char *s, int connection_bad)
{
    if (s && strlen(s) == 5) {
        if (strncmp(s, "23", 2) == 0)
            return SQLITE_CONSTRAINT;
        if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strcmp(s, "55P03") == 0)
            return SQLITE_BUSY;
        if (strcmp(s, "53100") == 0)
            return SQLITE_FULL;
        if (strcmp(s, "53200") == 0)
            return SQLITE_NOMEM;
        if (strcmp(s, "42501") == 0)
            return SQLITE_PERM;
        if (strcmp(s, "25006") == 0) /* a write on a standby (hot_standby) */
            return SQLITE_READONLY;
        if (strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
            strcmp(s, "57P03") == 0)
            return SQLITE_IOERR;
    }
    return connection_bad ? SQLITE_IOERR : SQLITE_ERROR;
}

/* The code of a result (CF_DB_OK when it is one), the message kept when it
 * is not. r may be NULL (libpq's answer to a lost connection or no memory).
 * The caller still owns r. */
static int result_code(cf_pg_conn *c, const PGresult *r)
{
    int bad = PQstatus(c->pg) == CONNECTION_BAD;
    if (!r)
        return bad ? set_error(c, SQLITE_IOERR, PQerrorMessage(c->pg))
                   : set_error(c, CF_DB_NOMEM, NULL);
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        clear_error(c);
        return CF_DB_OK;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        return set_error(c, CF_DB_ERROR, "COPY is not supported by the statement layer");
    default:
        break;
    }
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg || !*msg)
        msg = PQresultErrorMessage(r);
    if (!msg || !*msg)
        msg = PQerrorMessage(c->pg);
    return set_error(c, map_sqlstate(PQresultErrorField(r, PG_DIAG_SQLSTATE), bad), msg);
}

static int closed_error(cf_pg_conn *c)
{
    return set_error(c, SQLITE_MISUSE, "the connection is closed");
}

/* ---- placeholders ------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_param(sbuf *b, int n)
{
    char buf[16];
    int k = snprintf(buf, sizeof buf, "$%d", n);
    sb_put(b, buf, (size_t)k);
}

/* SQLite's identifier characters (and PostgreSQL's): letters, digits, "_",
 * "$" and every byte of a UTF-8 sequence. */
static int ident_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '$' || ch >= 0x80;
}

static int ident_start(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch >= 0x80;
}

/* The end of the quoted run that starts at s[i] (a quote q), past the
 * closing quote, or n when it is not closed (the server will say so).
 * Doubled quotes stay inside; so do backslash escapes when bs. */
static size_t skip_quoted(const char *s, size_t i, size_t n, char q, int bs)
{
    for (size_t j = i + 1; j < n; j++) {
        if (bs && s[j] == '\\' && j + 1 < n)
            j++;
        else if (s[j] == q) {
            if (j + 1 < n && s[j + 1] == q)
                j++;
            else
                return j + 1;
        }
    }
    return n;
}

/* A block comment, nested as PostgreSQL nests them. */
static size_t skip_block_comment(const char *s, size_t i, size_t n)
{
    int depth = 0;
    for (size_t j = i; j + 1 < n; j++) {
        if (s[j] == '/' && s[j + 1] == '*') {
            depth++;
            j++;
        } else if (s[j] == '*' && s[j + 1] == '/') {
            j++;
            if (--depth == 0)
                return j + 1;
        }
    }
    return n;
}

/* A $tag$...$tag$ string at s[i], or 0 when s[i] starts none ($1 say). */
static size_t skip_dollar_quoted(const char *s, size_t i, size_t n)
{
    if (i > 0 && ident_char((unsigned char)s[i - 1]))
        return 0;
    size_t k = i + 1;
    if (k < n && ident_start((unsigned char)s[k]))
        while (k < n && ident_char((unsigned char)s[k]) && s[k] != '$')
            k++;
    if (k >= n || s[k] != '$')
        return 0;
    size_t taglen = k - i + 1;
    for (size_t j = k + 1; j + taglen <= n; j++)
        if (s[j] == '$' && memcmp(s + j, s + i, taglen) == 0)
            return j + taglen;
    return n;
}

typedef struct xlate {
    sbuf out;
    int nparams;
    char **names;
    unsigned char *used; /* written in the SQL, per number */
    int cap;
    const char *error;
} xlate;

/* Makes numbers up to n exist. */
static int x_grow(xlate *x, int n)
{
    if (n > x->cap) {
        int cap = x->cap ? x->cap : 8;
        while (cap < n)
            cap *= 2;
        char **names = realloc(x->names, (size_t)cap * sizeof *names);
        if (!names)
            return -1;
        x->names = names;
        unsigned char *used = realloc(x->used, (size_t)cap);
        if (!used)
            return -1;
        x->used = used;
        for (int k = x->cap; k < cap; k++) {
            x->names[k] = NULL;
            x->used[k] = 0;
        }
        x->cap = cap;
    }
    if (n > x->nparams)
        x->nparams = n;
    return 0;
}

static void x_free(xlate *x)
{
    free(x->out.p);
    for (int k = 0; k < x->cap; k++)
        free(x->names[k]);
    free(x->names);
    free(x->used);
}

/* "?NNN" at s[i]: the number is written after it. Returns the end, 0 on
 * error (x->error or no memory). */
static size_t x_numbered(xlate *x, const char *s, size_t i, size_t n)
{
    size_t j = i + 1;
    long v = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9') {
        if (v <= PG_MAX_PARAM)
            v = v * 10 + (s[j] - '0');
        j++;
    }
    if (v < 1 || v > PG_MAX_PARAM) {
        x->error = "variable number must be between ?1 and ?32766";
        return 0;
    }
    if (x_grow(x, (int)v) < 0)
        return 0;
    if (!x->names[v - 1] && !(x->names[v - 1] = strndup(s + i, j - i)))
        return 0;
    x->used[v - 1] = 1;
    sb_param(&x->out, (int)v);
    return j;
}

/* ":name" at s[i]: one number per name. */
static size_t x_named(xlate *x, const char *s, size_t i, size_t n)
{
    size_t j = i + 1;
    while (j < n && ident_char((unsigned char)s[j]))
        j++;
    size_t len = j - i;
    int v = 0;
    for (int k = 0; k < x->nparams && !v; k++)
        if (x->names[k] && strlen(x->names[k]) == len && memcmp(x->names[k], s + i, len) == 0)
            v = k + 1;
    if (!v) {
        v = x->nparams + 1;
        if (v > PG_MAX_PARAM) {
            x->error = "too many SQL variables";
            return 0;
        }
        if (x_grow(x, v) < 0 || !(x->names[v - 1] = strndup(s + i, len)))
            return 0;
    }
    x->used[v - 1] = 1;
    sb_param(&x->out, v);
    return j;
}

static int translate(const char *s, xlate *x)
{
    memset(x, 0, sizeof *x);
    size_t n = strlen(s), i = 0;
    sb_put(&x->out, "", 0);
    while (i < n && !x->out.oom) {
        char ch = s[i];
        size_t end = i + 1;
        if (ch == '\'') {
            /* E'...' knows backslash escapes; 'x' after an identifier
             * ending in E is no such string. */
            int esc = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                      (i < 2 || !ident_char((unsigned char)s[i - 2]));
            end = skip_quoted(s, i, n, '\'', esc);
        } else if (ch == '"') {
            end = skip_quoted(s, i, n, '"', 0);
        } else if (ch == '-' && i + 1 < n && s[i + 1] == '-') {
            end = i + strcspn(s + i, "\n");
        } else if (ch == '/' && i + 1 < n && s[i + 1] == '*') {
            end = skip_block_comment(s, i, n);
        } else if (ch == '$') {
            size_t k = skip_dollar_quoted(s, i, n);
            if (k)
                end = k;
        } else if (ch == ':' && i + 1 < n && s[i + 1] == ':') {
            end = i + 2; /* a cast: the type name follows */
        } else if (ch == ':' && i + 1 < n && ident_start((unsigned char)s[i + 1])) {
            if (!(i = x_named(x, s, i, n)))
                goto fail;
            continue;
        } else if (ch == '?' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') {
            if (!(i = x_numbered(x, s, i, n)))
                goto fail;
            continue;
        } else if (ch == '?') {
            int v = x->nparams + 1;
            if (v > PG_MAX_PARAM) {
                x->error = "too many SQL variables";
                goto fail;
            }
            if (x_grow(x, v) < 0)
                goto fail;
            x->used[v - 1] = 1;
            sb_param(&x->out, v);
            i++;
            continue;
        }
        sb_put(&x->out, s + i, end - i);
        i = end;
    }
    if (x->out.oom)
        goto fail;
    return CF_DB_OK;
fail:
    x_free(x);
    int code = x->error ? CF_DB_ERROR : CF_DB_NOMEM;
    const char *e = x->error;
    memset(x, 0, sizeof *x);
    x->error = e;
    return code;
}

int cf_pg_translate(const char *sql, char **out, int *nparams, char ***names,
                    const char **errmsg)
{
    xlate x;
    *out = NULL;
    *nparams = 0;
    *names = NULL;
    if (errmsg)
        *errmsg = NULL;
    int rc = translate(sql, &x);
    if (rc != CF_DB_OK) {
        if (errmsg)
            *errmsg = x.error ? x.error : "out of memory";
        return rc;
    }
    free(x.used);
    *out = x.out.p;
    *nparams = x.nparams;
    if (x.nparams == 0) {
        free(x.names);
        x.names = NULL;
    }
    *names = x.names;
    return CF_DB_OK;
}

void cf_pg_translate_free(char *out, int nparams, char **names)
{
    free(out);
    if (names)
        for (int k = 0; k < nparams; k++)
            free(names[k]);
    free(names);
}

/* ---- connections ------------------------------------------------------- */

/* libpq prints notices (DROP ... IF EXISTS, say) on stderr by default. */
static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static char *first_line(const char *msg)
{
    msg = msg ? msg : "";
    while (*msg == ' ' || *msg == '\t' || *msg == '\n')
        msg++;
    size_t n = strcspn(msg, "\r\n");
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t'))
        n--;
    return n ? strndup(msg, n) : strdup("cannot connect");
}

int cf_pg_connect(const char *uri, cf_pg_conn **out, char **errmsg)
{
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    cf_pg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return CF_DB_NOMEM;
    /* The URI is expanded in place of dbname; the keywords after it win, so
     * text always travels as UTF-8. */
    const char *const keys[] = {"dbname", "client_encoding", "fallback_application_name", NULL};
    const char *const vals[] = {uri ? uri : "", "UTF8", "caseflow", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        free(c);
        return CF_DB_NOMEM;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        if (errmsg)
            *errmsg = first_line(PQerrorMessage(c->pg));
        PQfinish(c->pg);
        free(c);
        return SQLITE_CANTOPEN;
    }
    PQsetNoticeProcessor(c->pg, quiet_notices, NULL);
    *out = c;
    return CF_DB_OK;
}

static void conn_free(cf_pg_conn *c)
{
    free(c->setup);
    free(c->errmsg);
    free(c->deferred);
    free(c);
}

void cf_pg_close(cf_pg_conn *c)
{
    if (!c)
        return;
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->closed = 1;
    if (c->nstmts == 0)
        conn_free(c);
}

/* The number of rows an INSERT, UPDATE, DELETE or MERGE changed; -1 for
 * other statements, which leave the count alone. */
static int64_t result_changes(PGresult *r)
{
    const char *status = PQcmdStatus(r);
    if (!status || !(strncmp(status, "INSERT ", 7) == 0 || strncmp(status, "UPDATE ", 7) == 0 ||
                     strncmp(status, "DELETE ", 7) == 0 || strncmp(status, "MERGE ", 6) == 0))
        return -1;
    return strtoll(PQcmdTuples(r), NULL, 10);
}


const char *cf_pg_errmsg(cf_pg_conn *c)
{
    return c->errmsg ? c->errmsg : "not an error";
}

int64_t cf_pg_changes(cf_pg_conn *c)
{
    return c->changes;
}

int cf_pg_set_session(cf_pg_conn *c, const char *sql)
{
    char *copy = strdup(sql);
    if (!copy)
        return set_error(c, CF_DB_NOMEM, NULL);
    free(c->setup);
    c->setup = copy;
    return cf_pg_exec(c, sql);
}

int cf_pg_revive(cf_pg_conn *c)
{
    if (!c->pg)
        return closed_error(c);
    if (PQstatus(c->pg) == CONNECTION_OK)
        return CF_DB_OK;
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK)
        return set_error(c, SQLITE_IOERR, PQerrorMessage(c->pg));
    PQsetNoticeProcessor(c->pg, quiet_notices, NULL);
    /* The old session's statements and deferred DEALLOCATEs died with it. */
    c->session++;
    free(c->deferred);
    c->deferred = NULL;
    return c->setup ? cf_pg_exec(c, c->setup) : CF_DB_OK;
}

int64_t cf_pg_total_changes(cf_pg_conn *c)
{
    return c->total;
}

int cf_pg_tx_status(cf_pg_conn *c)
{
    if (!c->pg)
        return CF_PG_TX_IDLE;
    switch (PQtransactionStatus(c->pg)) {
    case PQTRANS_INTRANS:
    case PQTRANS_ACTIVE:
        return CF_PG_TX_OPEN;
    case PQTRANS_INERROR:
        return CF_PG_TX_FAILED;
    case PQTRANS_UNKNOWN: /* the connection is bad: nothing will commit */
        return CF_PG_TX_FAILED;
    default:
        return CF_PG_TX_IDLE;
    }
}

/* DEALLOCATE name now when no transaction is open, else once it is over: a
 * failed transaction refuses everything but ROLLBACK, and in a live one a
 * DEALLOCATE that failed (say after someone's DEALLOCATE ALL) would abort
 * the caller's transaction. Failures are ignored: a statement left behind
 * dies with the connection. */
static void deallocate(cf_pg_conn *c, const char *name)
{
    char sql[64];
    snprintf(sql, sizeof sql, "DEALLOCATE %s;", name);
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        size_t have = c->deferred ? strlen(c->deferred) : 0;
        char *d = realloc(c->deferred, have + strlen(sql) + 1);
        if (!d)
            return;
        strcpy(d + have, sql);
        c->deferred = d;
        return;
    }
    PQclear(PQexec(c->pg, sql));
}

static void flush_deferred(cf_pg_conn *c)
{
    if (!c->deferred || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return;
    PQclear(PQexec(c->pg, c->deferred));
    free(c->deferred);
    c->deferred = NULL;
}

/* The statements finalized during a transaction are deallocated once it
 * is over (a COMMIT or ROLLBACK run here, most likely). */
int cf_pg_exec(cf_pg_conn *c, const char *sql)
{
    if (!c->pg)
        return closed_error(c);
    PGresult *r = PQexec(c->pg, sql);
    int rc = result_code(c, r);
    if (rc == CF_DB_OK) {
        int64_t n = result_changes(r);
        if (n >= 0) {
            c->changes = n;
            c->total += n;
        }
    }
    PQclear(r);
    flush_deferred(c);
    return rc;
}

/* ---- statements -------------------------------------------------------- */

static void drop_row(cf_pg_stmt *st)
{
    if (!st->dec)
        return;
    int n = st->res ? PQnfields(st->res) : 0;
    for (int k = 0; k < n; k++) {
        free(st->dec[k]);
        st->dec[k] = NULL;
    }
}

/* Back to ST_READY: the result goes, the bindings stay. */
static void stmt_rewind(cf_pg_stmt *st)
{
    drop_row(st);
    free(st->dec);
    free(st->declen);
    st->dec = NULL;
    st->declen = NULL;
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = 0;
    st->state = ST_READY;
}

static void stmt_free(cf_pg_stmt *st)
{
    stmt_rewind(st);
    for (int k = 0; k < st->nparams; k++) {
        free(st->names[k]);
        free(st->params[k].owned);
    }
    free(st->names);
    free(st->params);
    free(st->values);
    free(st->lengths);
    free(st->formats);
    free(st->text);
    free(st->types);
    free(st);
}

int cf_pg_prepare(cf_pg_conn *c, const char *sql, cf_pg_stmt **out)
{
    *out = NULL;
    if (!c->pg)
        return closed_error(c);
    flush_deferred(c);
    xlate x;
    int rc = translate(sql, &x);
    if (rc != CF_DB_OK)
        return set_error(c, rc, x.error);
    cf_pg_stmt *st = calloc(1, sizeof *st);
    size_t np = (size_t)x.nparams;
    Oid *types = NULL;
    if (!st)
        goto nomem;
    st->conn = c;
    if (np) {
        st->params = calloc(np, sizeof *st->params);
        st->values = calloc(np, sizeof *st->values);
        st->lengths = calloc(np, sizeof *st->lengths);
        st->formats = calloc(np, sizeof *st->formats);
        st->names = calloc(np, sizeof *st->names);
        if (!st->params || !st->values || !st->lengths || !st->formats || !st->names)
            goto nomem;
        /* A number skipped by ?NNN is in no expression to say its type:
         * make it text, PostgreSQL would refuse the statement otherwise. */
        for (size_t k = 0; k < np; k++)
            if (!x.used[k]) {
                if (!types && !(types = calloc(np, sizeof *types)))
                    goto nomem;
                types[k] = PG_TEXT;
            }
    }
    st->nparams = x.nparams;
    for (size_t k = 0; k < np; k++) {
        st->names[k] = x.names[k];
        x.names[k] = NULL;
    }
    snprintf(st->name, sizeof st->name, "cf_%" PRIu64, ++c->seq);
    PGresult *r = PQprepare(c->pg, st->name, x.out.p, x.nparams, types);
    rc = result_code(c, r);
    PQclear(r);
    st->text = strdup(x.out.p);
    st->types = types;
    st->session = c->session;
    types = NULL;
    x_free(&x);
    if (rc == CF_DB_OK && !st->text)
        rc = set_error(c, CF_DB_NOMEM, NULL);
    if (rc != CF_DB_OK) {
        stmt_free(st);
        return rc;
    }
    r = PQdescribePrepared(c->pg, st->name);
    rc = result_code(c, r);
    if (rc == CF_DB_OK)
        st->ncols = PQnfields(r);
    PQclear(r);
    if (rc != CF_DB_OK) {
        deallocate(c, st->name);
        stmt_free(st);
        return rc;
    }
    c->nstmts++;
    *out = st;
    return CF_DB_OK;
nomem:
    free(types);
    x_free(&x);
    if (st)
        stmt_free(st);
    return set_error(c, CF_DB_NOMEM, NULL);
}

/* Runs the statement: the first step after a reset (or after the last one
 * ended, as sqlite3_step resets by itself then). */
static int stmt_run(cf_pg_stmt *st)
{
    cf_pg_conn *c = st->conn;
    stmt_rewind(st);
    if (!c->pg)
        return closed_error(c);
    if (st->session != c->session) {
        /* the connection was made again since: a new session knows none of
         * the old one's statements */
        PGresult *p = PQprepare(c->pg, st->name, st->text, st->nparams, st->types);
        int prc = result_code(c, p);
        PQclear(p);
        if (prc != CF_DB_OK) {
            st->state = ST_DONE;
            return prc;
        }
        st->session = c->session;
    }
    for (int k = 0; k < st->nparams; k++) {
        const pg_param *p = &st->params[k];
        if (p->bad) {
            st->state = ST_DONE;
            return set_error(c, CF_DB_NOMEM, "out of memory binding a parameter");
        }
        st->values[k] = p->value;
        st->lengths[k] = p->length;
        st->formats[k] = p->format;
    }
    PGresult *r = PQexecPrepared(c->pg, st->name, st->nparams, st->values, st->lengths,
                                 st->formats, 0);
    int rc = result_code(c, r);
    if (rc != CF_DB_OK) {
        PQclear(r);
        st->state = ST_DONE;
        return rc;
    }
    int64_t n = result_changes(r);
    st->changes = n >= 0 ? n : 0;
    if (n >= 0) {
        c->changes = n;
        c->total += n;
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0) {
        PQclear(r);
        st->state = ST_DONE;
        return CF_DB_DONE;
    }
    int nf = PQnfields(r);
    st->dec = calloc(nf ? (size_t)nf : 1, sizeof *st->dec);
    st->declen = calloc(nf ? (size_t)nf : 1, sizeof *st->declen);
    if (!st->dec || !st->declen) {
        PQclear(r);
        stmt_rewind(st);
        st->state = ST_DONE;
        return set_error(c, CF_DB_NOMEM, NULL);
    }
    st->res = r;
    st->nrows = PQntuples(r);
    st->row = 0;
    st->state = ST_ROWS;
    return CF_DB_ROW;
}

/* CF_DB_ROW for each row, then CF_DB_DONE; or an error code with the
 * message in cf_pg_errmsg. The next step after CF_DB_DONE or an error runs
 * the statement again. Values read from the previous row go. */
int cf_pg_stmt_step(cf_pg_stmt *st)
{
    if (st->state != ST_ROWS)
        return stmt_run(st);
    drop_row(st);
    if (++st->row < st->nrows)
        return CF_DB_ROW;
    stmt_rewind(st);
    st->state = ST_DONE;
    return CF_DB_DONE;
}

/* Forgets the result (values read from it go); the bindings stay. */
void cf_pg_stmt_reset(cf_pg_stmt *st)
{
    stmt_rewind(st);
}

/* NULL is a no-op. Deallocates the statement on the server and frees it;
 * after cf_pg_close it only frees it (the last one frees the connection). */
void cf_pg_stmt_finalize(cf_pg_stmt *st)
{
    if (!st)
        return;
    cf_pg_conn *c = st->conn;
    if (c->pg) {
        deallocate(c, st->name);
        flush_deferred(c);
    }
    stmt_free(st);
    if (--c->nstmts == 0 && c->closed)
        conn_free(c);
}

/* ---- binding ----------------------------------------------------------- */

/* Parameter i (from 1), NULL when out of range (ignored, as the wrappers
 * return nothing; SQLite would say SQLITE_RANGE). Its old value goes. */
static pg_param *param(cf_pg_stmt *st, int i)
{
    if (i < 1 || i > st->nparams)
        return NULL;
    pg_param *p = &st->params[i - 1];
    free(p->owned);
    p->owned = NULL;
    p->value = NULL;
    p->length = 0;
    p->format = 0;
    p->bad = 0;
    return p;
}

void cf_pg_stmt_clear(cf_pg_stmt *st)
{
    for (int i = 1; i <= st->nparams; i++)
        param(st, i);
}

void cf_pg_stmt_bind_null(cf_pg_stmt *st, int i)
{
    param(st, i);
}

void cf_pg_stmt_bind_int64(cf_pg_stmt *st, int i, int64_t v)
{
    pg_param *p = param(st, i);
    if (!p)
        return;
    snprintf(p->num, sizeof p->num, "%" PRId64, v);
    p->value = p->num;
}

/* %.17g reads back as the same double. NaN binds NULL, as in SQLite. */
void cf_pg_stmt_bind_double(cf_pg_stmt *st, int i, double v)
{
    pg_param *p = param(st, i);
    if (!p || isnan(v))
        return;
    if (isinf(v))
        snprintf(p->num, sizeof p->num, "%s", v > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(p->num, sizeof p->num, "%.17g", v);
    p->value = p->num;
}

/* v NULL binds NULL. n < 0: up to the NUL; else the first n bytes (copied
 * with a NUL, which libpq needs). copy 0 borrows v until the statement is
 * next run (first step after a reset); copy 1 copies it. */
void cf_pg_stmt_bind_text(cf_pg_stmt *st, int i, const char *v, int n, int copy)
{
    pg_param *p = param(st, i);
    if (!p || !v)
        return;
    if (n < 0 && !copy) {
        p->value = v;
        return;
    }
    p->owned = n < 0 ? strdup(v) : strndup(v, (size_t)n);
    if (!p->owned)
        p->bad = 1;
    p->value = p->owned;
}

/* n bytes of v, copied and sent in binary (bytea). v NULL (or n < 0) binds
 * NULL. */
void cf_pg_stmt_bind_blob(cf_pg_stmt *st, int i, const void *v, int n)
{
    pg_param *p = param(st, i);
    if (!p || !v || n < 0)
        return;
    p->owned = malloc(n ? (size_t)n : 1);
    if (!p->owned) {
        p->bad = 1;
        return;
    }
    memcpy(p->owned, v, (size_t)n);
    p->value = p->owned;
    p->length = n;
    p->format = 1;
}

int cf_pg_stmt_param_count(cf_pg_stmt *st)
{
    return st->nparams;
}

/* name as written (":name" or "?NNN"); 0 when there is none. */
int cf_pg_stmt_param_index(cf_pg_stmt *st, const char *name)
{
    if (!name)
        return 0;
    for (int k = 0; k < st->nparams; k++)
        if (st->names[k] && strcmp(st->names[k], name) == 0)
            return k + 1;
    return 0;
}

/* Borrowed, valid until finalize; NULL for "?" or out of range. */
const char *cf_pg_stmt_param_name(cf_pg_stmt *st, int i)
{
    return i >= 1 && i <= st->nparams ? st->names[i - 1] : NULL;
}

/* rows changed by the statement's last run when it was an INSERT, UPDATE,
 * DELETE or MERGE; 0 otherwise. */
int64_t cf_pg_stmt_changes(cf_pg_stmt *st)
{
    return st->changes;
}

/* ---- columns ----------------------------------------------------------- */

int cf_pg_stmt_columns(cf_pg_stmt *st)
{
    return st->res ? PQnfields(st->res) : st->ncols;
}

/* Is there a non-NULL value at column c of the current row? */
static int has_value(const cf_pg_stmt *st, int c)
{
    return st->state == ST_ROWS && c >= 0 && c < PQnfields(st->res) &&
           !PQgetisnull(st->res, st->row, c);
}

int cf_pg_stmt_type(cf_pg_stmt *st, int c)
{
    if (!has_value(st, c))
        return CF_DB_NULL;
    switch (PQftype(st->res, c)) {
    case PG_INT2:
    case PG_INT4:
    case PG_INT8:
    case PG_OID:
    case PG_BOOL:
        return CF_DB_INTEGER;
    case PG_FLOAT4:
    case PG_FLOAT8:
    case PG_NUMERIC:
        return CF_DB_FLOAT;
    case PG_BYTEA:
        return CF_DB_BLOB;
    default:
        return CF_DB_TEXT;
    }
}

static unsigned hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return (unsigned)(ch - '0');
    if (ch >= 'a' && ch <= 'f')
        return (unsigned)(ch - 'a' + 10);
    if (ch >= 'A' && ch <= 'F')
        return (unsigned)(ch - 'A' + 10);
    return 0;
}

/* A bytea value of the current row, decoded once (NUL-terminated, so it can
 * be read as text too). NULL when out of memory. */
static const char *decoded(cf_pg_stmt *st, int c)
{
    if (st->dec[c])
        return st->dec[c];
    const char *v = PQgetvalue(st->res, st->row, c);
    size_t len = (size_t)PQgetlength(st->res, st->row, c);
    char *out;
    size_t n = 0;
    if (len >= 2 && v[0] == '\\' && v[1] == 'x') {
        out = malloc((len - 2) / 2 + 1);
        if (!out)
            return NULL;
        for (size_t k = 2; k + 1 < len; k += 2)
            out[n++] = (char)(hex_digit(v[k]) << 4 | hex_digit(v[k + 1]));
    } else {
        /* bytea_output = escape: libpq knows that form. */
        unsigned char *u = PQunescapeBytea((const unsigned char *)v, &n);
        if (!u)
            return NULL;
        out = malloc(n + 1);
        if (out)
            memcpy(out, u, n);
        PQfreemem(u);
        if (!out)
            return NULL;
    }
    out[n] = '\0';
    st->dec[c] = out;
    st->declen[c] = (int)n;
    return out;
}

/* SQLite's reading of an integer from text: blanks, a sign, the digits
 * that follow (clamped to the int64 range); 0 when there are none. */
static int64_t leading_int(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
        s++;
    int neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    uint64_t v = 0;
    int over = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    if (neg)
        return over || v >= (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    return over || v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* SQLite's reading of a real from text: a number that leads, else 0. */
static double leading_double(const char *s)
{
    const char *t = s;
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r' || *t == '\f' || *t == '\v')
        t++;
    if (*t == '-' || *t == '+')
        t++;
    if (!((*t >= '0' && *t <= '9') || *t == '.'))
        return 0.0;
    return strtod(s, NULL);
}

static int64_t double_to_int64(double d)
{
    if (isnan(d))
        return 0;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    if (d >= 9223372036854775808.0)
        return INT64_MAX;
    return (int64_t)d;
}

int64_t cf_pg_stmt_int64(cf_pg_stmt *st, int c)
{
    if (!has_value(st, c))
        return 0;
    const char *v = PQgetvalue(st->res, st->row, c);
    switch (PQftype(st->res, c)) {
    case PG_BOOL:
        return v[0] == 't';
    case PG_FLOAT4:
    case PG_FLOAT8:
        return double_to_int64(strtod(v, NULL));
    case PG_NUMERIC:
        /* Integral numerics keep every digit; others go through a double. */
        if (v[strspn(v, "-0123456789")] == '\0')
            return leading_int(v);
        return double_to_int64(strtod(v, NULL));
    case PG_BYTEA: {
        const char *d = decoded(st, c);
        return d ? leading_int(d) : 0;
    }
    default:
        return leading_int(v);
    }
}

double cf_pg_stmt_double(cf_pg_stmt *st, int c)
{
    if (!has_value(st, c))
        return 0.0;
    const char *v = PQgetvalue(st->res, st->row, c);
    switch (PQftype(st->res, c)) {
    case PG_BOOL:
        return v[0] == 't' ? 1.0 : 0.0;
    case PG_INT2:
    case PG_INT4:
    case PG_INT8:
    case PG_OID:
        return (double)leading_int(v);
    case PG_FLOAT4:
    case PG_FLOAT8:
    case PG_NUMERIC:
        return strtod(v, NULL); /* also NaN, Infinity */
    case PG_BYTEA: {
        const char *d = decoded(st, c);
        return d ? leading_double(d) : 0.0;
    }
    default:
        return leading_double(v);
    }
}

/* NULL for NULL. Booleans read "1" and "0", bytea its bytes (with a NUL
 * after them). Valid until the next step, reset or finalize. */
const char *cf_pg_stmt_text(cf_pg_stmt *st, int c)
{
    if (!has_value(st, c))
        return NULL;
    switch (PQftype(st->res, c)) {
    case PG_BOOL:
        return PQgetvalue(st->res, st->row, c)[0] == 't' ? "1" : "0";
    case PG_BYTEA:
        return decoded(st, c);
    default:
        return PQgetvalue(st->res, st->row, c);
    }
}

/* The bytes of the value (bytea decoded); NULL for NULL and, as in SQLite,
 * for an empty value. Valid until the next step, reset or finalize. */
const void *cf_pg_stmt_blob(cf_pg_stmt *st, int c)
{
    if (!has_value(st, c) || cf_pg_stmt_bytes(st, c) == 0)
        return NULL;
    return cf_pg_stmt_text(st, c);
}

/* The length of what cf_pg_stmt_text or cf_pg_stmt_blob returns. */
int cf_pg_stmt_bytes(cf_pg_stmt *st, int c)
{
    if (!has_value(st, c))
        return 0;
    switch (PQftype(st->res, c)) {
    case PG_BOOL:
        return 1;
    case PG_BYTEA:
        return decoded(st, c) ? st->declen[c] : 0;
    default:
        return PQgetlength(st->res, st->row, c);
    }
}
