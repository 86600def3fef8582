/*
 * Fuzz target: caseflowd's request handling without sockets (issue 8,
 * "Fuzz the request handlers (route + headers + body -> handler)"). The
 * input is a request as text:
 *
 *     METHOD SP TARGET [SP HTTP/1.1] LF
 *     Name: value LF        (any number of header lines)
 *     LF
 *     body                  (the rest of the input)
 *
 * and goes the way engine/server/request.c takes a request: cf_op_match
 * routes the raw path (404, 405 with the Allow list), the Authorization
 * header names the caller (a bearer token checked by cf_token_authenticate;
 * "Bearer @NAME" stands for a valid token of user NAME, since a fuzzer
 * cannot guess a real one), the body's Content-Type is checked against the
 * operation (415), the query string becomes the arguments (percent- and
 * '+'-decoded as libmicrohttpd does; a parameter twice, a NUL or bad UTF-8
 * is 400), If-Match, Idempotency-Key, X-Caseflow-Reason and the feed's wait
 * are read, the body is parsed (JSON, or NDJSON text where the operation
 * takes it), and the operation runs on an in-memory polit store inside a
 * batch (cf_batch_begin / cf_batch_commit), as caseflowd's writer runs it.
 *
 * request.c's own helpers are static and need a libmicrohttpd connection,
 * so the header, query and body steps are written again here, to the same
 * rules; see the report of the http tests for the entry point caseflowd
 * should expose so that this target can call the server's code itself.
 *
 * Oracles besides the sanitizers: a failure is a documented code with a
 * one-line message whose HTTP status is one of the documented table, never
 * an internal error (500) for any input; a failure leaves *out NULL; a
 * success is serialisable JSON with a documented status; a refused act
 * leaves its case exactly as it was; the batch always commits.
 */
#include <stdbool.h>
#include <strings.h>

#include "fuzz_common.h"
#include "ops/ops.h"

#define MAX_HEADERS 32

struct header {
    const char *name, *value;
    size_t name_len, value_len;
};

struct request {
    char method[16];
    char *path, *query; /* NUL-terminated copies; query NULL when none */
    struct header headers[MAX_HEADERS];
    size_t nheaders;
    const char *body;
    size_t body_len;
    char *storage; /* the input, NUL-terminated, which the pointers point into */
};

static cf_engine *engine;
static unsigned long runs;
static int trace; /* CF_FUZZ_TRACE=1: one line per request on stderr */

static const char *const team[] = {"analyst1",    "officer1", "officer2", "supervisor1",
                                   "authoriser1", "fuzzer",   "admin",    NULL};

/* ---- the engine ----------------------------------------------------------------------- */

static void refer_or_die(const char *ref)
{
    json_t *out = NULL;
    cf_error err;
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:b, s:[{s:s, s:i, s:s, s:s, s:b}], s:[{s:s, s:s, s:s}], s:s}",
        "source", "NCA-CEOP", "reference", ref, "received_at", "2026-11-02T09:15:00Z",
        "priority", 0, "ip_events", "ip", "203.0.113.45", "port", 51812, "type", "upload",
        "at", "2026-10-30T21:14:05+01:00", "proxy", 0, "files", "hash_type", "md5", "hash",
        "9e107d9d372bb6826bd81d3542a419d6", "category", "C", "frequency", "once");
    cf_engine_set_actor(engine, "analyst1", "fuzz set-up");
    int rc = cf_refer(engine, "polit", r, &out, &err);
    json_decref(r);
    json_decref(out);
    if (rc != 0)
        fuzz_die("cf_refer", rc, &err);
}

static void act_or_die(const char *id, const char *actor, const char *event, const char *text)
{
    cf_error err;
    json_t *d = json_loads(text, 0, NULL);
    cf_engine_set_actor(engine, actor, "fuzz set-up");
    int rc = cf_act(engine, id, event, d, -1, NULL, &err);
    json_decref(d);
    if (rc != 0)
        fuzz_die(event, rc, &err);
}

/* The polit store with three cases: CF-000001 waiting for an application,
 * CF-000002 for the authoriser, CF-000003 for the subscriber; and a task-
 * free, webhook-free, token-free rest for the requests to change. */
static void make_engine(void)
{
    engine = fuzz_polit_engine();
    refer_or_die("FUZZ-HTTP-1");
    refer_or_die("FUZZ-HTTP-2");
    refer_or_die("FUZZ-HTTP-3");
    const char *applied = "{\"necessity\":\"identify the subscriber\","
                          "\"proportionality\":\"no less intrusive means\"}";
    act_or_die("CF-000002", "officer1", "authorisation.applied", applied);
    act_or_die("CF-000003", "officer1", "authorisation.applied", applied);
    act_or_die("CF-000003", "authoriser1", "authorisation.granted",
               "{\"authority\":\"OCDA\",\"reference\":\"OCDA-1\",\"urgent\":false}");
    cf_engine_set_actor(engine, NULL, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *t = getenv("CF_FUZZ_TRACE");
    trace = t && *t == '1';
    make_engine();
    return 0;
}

/* ---- the request's text ------------------------------------------------------------------ */

/* Split data into a request; false when it has no request line. */
static bool parse_request(const uint8_t *data, size_t size, struct request *q)
{
    memset(q, 0, sizeof *q);
    if (!(q->storage = malloc(size + 1)))
        return false;
    memcpy(q->storage, data, size);
    q->storage[size] = '\0';
    char *p = q->storage, *end = q->storage + size;
    char *eol = memchr(p, '\n', size);
    if (!eol)
        return false;
    *eol = '\0';
    if (eol > p && eol[-1] == '\r')
        eol[-1] = '\0';
    char *sp = strchr(p, ' ');
    if (!sp || sp == p || (size_t)(sp - p) >= sizeof q->method)
        return false;
    memcpy(q->method, p, (size_t)(sp - p));
    char *target = sp + 1;
    char *version = strchr(target, ' ');
    if (version)
        *version = '\0';
    if (strlen(target) != (size_t)((version ? version : eol) - target))
        return false; /* a NUL in the request line: no HTTP server gets that far */
    char *qm = strchr(target, '?');
    if (qm) {
        *qm = '\0';
        q->query = qm + 1;
    }
    q->path = target;
    p = eol + 1;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        size_t len = (size_t)(line_end - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len == 0) { /* the blank line: the body follows */
            p = nl ? nl + 1 : end;
            break;
        }
        char *colon = memchr(p, ':', len);
        if (colon && q->nheaders < MAX_HEADERS) {
            struct header *h = &q->headers[q->nheaders++];
            h->name = p;
            h->name_len = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < p + len && (*v == ' ' || *v == '\t'))
                v++;
            h->value = v;
            h->value_len = (size_t)(p + len - v);
            p[len] = '\0'; /* the value ends here (a \r or \n goes) */
        }
        p = nl ? nl + 1 : end;
    }
    q->body = p;
    q->body_len = (size_t)(end - p);
    return true;
}

/* A header's value (the first of that name, case-insensitive), or NULL.
 * Like libmicrohttpd, a value holding a NUL is cut there. */
static const char *header(const struct request *q, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < q->nheaders; i++)
        if (q->headers[i].name_len == n && strncasecmp(q->headers[i].name, name, n) == 0)
            return q->headers[i].value;
    return NULL;
}

/* ---- request.c's steps, to its rules ------------------------------------------------------ */

static bool media_is(const char *value, const char *type)
{
    value += strspn(value, " \t");
    size_t n = strlen(type);
    if (strncasecmp(value, type, n) != 0)
        return false;
    value += n;
    value += strspn(value, " \t");
    return *value == '\0' || *value == ';';
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* libmicrohttpd's unescaping of a query key or value, in place: '+' is a
 * space, %XX its byte (a bad escape stays as it is). Returns the length. */
static size_t unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%' && hex(r[1]) >= 0 && hex(r[2]) >= 0) {
            *w++ = (char)(hex(r[1]) * 16 + hex(r[2]));
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* The query's parameters into args: 0, or -1 for request.c's 400 (a NUL,
 * a parameter twice, not UTF-8). */
static int query_args(char *query, json_t *args)
{
    if (!query)
        return 0;
    for (char *save = NULL, *pair = strtok_r(query, "&", &save); pair;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq)
            *eq = '\0';
        size_t klen = unescape(pair), vlen = eq ? unescape(eq + 1) : 0;
        if (strlen(pair) != klen || (eq && strlen(eq + 1) != vlen))
            return -1;
        if (json_object_get(args, pair))
            return -1;
        json_t *v = json_stringn(eq ? eq + 1 : "", vlen);
        if (!v || json_object_set_new(args, pair, v) != 0)
            return -1;
    }
    return 0;
}

/* If-Match: "<revision>" (or * or none: -1); -1 return for a 400. */
static int if_match(const char *v, int64_t *rev)
{
    *rev = -1;
    if (!v || strcmp(v, "*") == 0)
        return 0;
    size_t n = strlen(v);
    if (n < 3 || n > 21 || v[0] != '"' || v[n - 1] != '"' ||
        strspn(v + 1, "0123456789") != n - 2)
        return -1;
    *rev = strtoll(v + 1, NULL, 10);
    return 0;
}

/* RFC 6750's b64token, as auth.c takes it. */
static bool b64token(const char *t)
{
    size_t n = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-._~+/");
    if (n == 0)
        return false;
    n += strspn(t + n, "=");
    return t[n] == '\0' && n <= 512;
}

/* The caller: 0 and user, or -1 (401). "Bearer @NAME" is NAME's token. */
static int caller(const struct request *q, char user[64])
{
    const char *auth = header(q, "Authorization");
    user[0] = '\0';
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return -1;
    const char *token = auth + 7 + strspn(auth + 7, " ");
    if (token[0] == '@') {
        for (size_t i = 0; team[i]; i++)
            if (strcmp(token + 1, team[i]) == 0) {
                snprintf(user, 64, "%s", team[i]);
                return 0;
            }
        return -1;
    }
    if (!b64token(token))
        return -1;
    cf_error err;
    int rc = cf_token_authenticate(engine, token, user, &err);
    fuzz_check_error(rc, &err);
    if (rc == 0)
        return 0;
    if (rc != CF_EDENIED) {
        fprintf(stderr, "cf_token_authenticate: %s instead of CF_EDENIED: %s\n",
                cf_err_name(rc), err.message);
        abort();
    }
    return -1;
}

/* ---- oracles -------------------------------------------------------------------------------- */

static void check_failure(const cf_op *op, int rc, const cf_error *err, const json_t *out)
{
    fuzz_check_error(rc, err);
    int status = cf_op_http_status(err);
    if (status >= 500 && rc != CF_EMISSING && rc != CF_EIO && rc != CF_ENOMEM) {
        fprintf(stderr, "%s: an internal error for an input: %s (%d) field '%s': %s\n",
                op->name, cf_err_name(rc), status, err->field, err->message);
        abort();
    }
    if (out) {
        fprintf(stderr, "%s failed but left *out set\n", op->name);
        abort();
    }
}

static void check_success(const cf_op *op, int status, json_t *out)
{
    if (status != 0 && status != 200 && status != 201 && status != 207) {
        fprintf(stderr, "%s: undocumented success status %d\n", op->name, status);
        abort();
    }
    char *text = out ? json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (out && !text) {
        fprintf(stderr, "%s: a result that is not JSON text\n", op->name);
        abort();
    }
    free(text);
}

/* A case as an act leaves it (state, revision, data, tasks, timers), or
 * NULL when there is no such case. */
static json_t *picture(const char *id)
{
    json_t *cs = NULL;
    cf_error err;
    if (!id)
        return NULL;
    cf_engine_set_actor(engine, "supervisor1", "fuzz oracle");
    if (cf_case_get(engine, id, &cs, &err) != 0)
        cs = NULL;
    cf_engine_set_actor(engine, NULL, NULL);
    return cs;
}

/* ---- one request ------------------------------------------------------------------------------ */

/* Run op in a batch as the writer does; the batch must commit. */
static int run_op(const cf_op *op, cf_op_ctx *ctx, const char *user, const char *reason,
                  json_t **out, int *status, cf_error *err)
{
    cf_error berr;
    int rc = cf_batch_begin(engine, &berr);
    if (rc)
        fuzz_die("cf_batch_begin", rc, &berr);
    cf_engine_set_actor(engine, user, reason);
    ctx->engine = engine;
    memset(err, 0, sizeof *err);
    rc = op->run(ctx, out, status, err);
    cf_engine_set_actor(engine, NULL, NULL);
    int crc = cf_batch_commit(engine, &berr);
    if (crc)
        fuzz_die("cf_batch_commit", crc, &berr);
    return rc;
}

static void handle(struct request *q)
{
    int known = 0;
    json_t *params = json_object();
    const cf_op *op = cf_op_match(q->method, q->path, params, &known);
    if (!op) {
        if (known) { /* 405: the Allow list, as request.c builds it */
            static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
            for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
                json_t *scratch = json_object();
                cf_op_match(methods[i], q->path, scratch, NULL);
                json_decref(scratch);
            }
        }
        json_decref(params);
        return;
    }
    char user[64];
    if (caller(q, user) != 0 && !(op->flags & CF_OP_PUBLIC)) {
        json_decref(params);
        return; /* 401 */
    }
    const char *type = header(q, "Content-Type");
    bool ndjson = false;
    if (q->body_len) {
        if (!(op->flags & CF_OP_BODY) || !type) {
            json_decref(params);
            return; /* 415 */
        }
        ndjson = (op->flags & CF_OP_NDJSON) && media_is(type, "application/x-ndjson");
        if (!ndjson && !media_is(type, "application/json")) {
            json_decref(params);
            return; /* 415 */
        }
    }
    json_t *args = json_deep_copy(params);
    json_decref(params);
    cf_op_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.args = args;
    json_t *body = NULL;
    if (query_args(q->query, args) != 0 ||
        if_match(header(q, "If-Match"), &ctx.expect_revision) != 0)
        goto done; /* 400 */
    ctx.idempotency_key = header(q, "Idempotency-Key");
    const char *reason = header(q, "X-Caseflow-Reason");
    if (!reason)
        reason = json_string_value(json_object_get(args, "reason"));
    else if (!json_object_get(args, "reason"))
        json_object_set_new(args, "reason", json_string(reason));
    if (strcmp(op->route, "/v1/feed") == 0 && json_object_get(args, "wait")) {
        const char *s = json_string_value(json_object_get(args, "wait"));
        if (!s || !*s || strlen(s) > 6 || strspn(s, "0123456789") != strlen(s))
            goto done; /* 400 */
        json_object_del(args, "wait");
    }
    if (q->body_len && ndjson) {
        ctx.body_text = q->body;
        ctx.body_len = q->body_len;
    } else if (q->body_len) {
        json_error_t jerr;
        if (!(body = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &jerr)))
            goto done; /* 400 */
        ctx.body = body;
    }

    bool act = strcmp(op->name, "case.act") == 0;
    const char *case_id = act ? json_string_value(json_object_get(args, "id")) : NULL;
    json_t *before = act ? picture(case_id) : NULL;
    json_t *out = NULL;
    int status = 0;
    cf_error err;
    int rc = run_op(op, &ctx, user[0] ? user : NULL, reason, &out, &status, &err);
    if (trace)
        fprintf(stderr, "%s %s as %s: %d %s%s%s\n", q->method, op->name, user[0] ? user : "-",
                rc ? cf_op_http_status(&err) : status ? status : 200,
                rc ? cf_err_name(rc) : "", rc ? " " : "", rc ? err.message : "");
    if (rc) {
        check_failure(op, rc, &err, out);
        json_t *after = before ? picture(case_id) : NULL;
        if (before && !json_equal(before, after)) {
            char *b = json_dumps(before, JSON_COMPACT), *a = json_dumps(after, JSON_COMPACT);
            fprintf(stderr, "a refused %s (%s: %s) changed the case:\nbefore %s\nafter  %s\n",
                    op->name, cf_err_name(rc), err.message, b, a);
            abort();
        }
        json_decref(after);
    } else {
        check_success(op, status, out);
    }
    json_decref(out);
    json_decref(before);
done:
    json_decref(body);
    json_decref(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct request q;
    if (++runs % 2000 == 0) { /* keep the in-memory store small */
        cf_engine_close(engine);
        make_engine();
    }
    if (parse_request(data, size, &q))
        handle(&q);
    free(q.storage);
    return 0;
}
