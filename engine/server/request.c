/*
 * Requests for the operations of the ops table (http.h). begin routes the
 * request (404, 405 with Allow), knows its caller (429, 401) and checks
 * what the headers say of the body (415, 413) before any of it is read;
 * finish builds the operation's arguments (path parameters, query
 * parameters as strings, the reason), reads If-Match and Idempotency-Key,
 * parses the body (400 naming the position), runs the operation on the
 * writer and sends its result or its problem. The feed's long poll waits
 * here, on the writer's feed condition, never holding the writer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include "http.h"

#define FEED_ROUTE "/v1/feed"

/* ---- begin: route, caller, body announced ------------------------------------------- */

static const char *header(struct cfd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* Is header `name` one line of text? libmicrohttpd keeps a bare CR in a
 * value and a NUL cuts it short: both are refused (RFC 9110 5.5). */
static bool one_line(struct cfd_req *r, const char *name)
{
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, name, strlen(name), &v, &n) !=
            MHD_YES ||
        !v || strlen(v) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return false;
    return true;
}

/* The methods path answers to, for Allow. */
static void allowed_methods(struct cfd_req *r, const char *path)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        json_t *scratch = json_object();
        if (scratch && cf_op_match(methods[i], path, scratch, NULL))
            n += (size_t)snprintf(r->allow + n, sizeof r->allow - n, "%s%s", n ? ", " : "",
                                  methods[i]);
        json_decref(scratch);
        if (n >= sizeof r->allow)
            break;
    }
}

/* The address failed attempts are counted against. */
static void client_key(struct cfd_req *r, char *buf, size_t size)
{
    snprintf(buf, size, "unix");
    if (r->side->is_unix)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
                  (socklen_t)size);
}

/* What the caller presents: a bearer token, else a client certificate,
 * else the Unix peer. 0 (r->cred may still be none), or CF_EDENIED. */
static int credentials(struct cfd_req *r, cf_error *err)
{
    const char *auth = header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth)
        return cfd_auth_bearer(auth, &r->cred, err);
    if (r->side->tls && r->http->tls_ca) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        int rc = ci ? cfd_auth_client_cert(ci->tls_session, &r->cred, err) : 0;
        if (rc || r->cred.kind != CFD_CRED_NONE)
            return rc;
    }
    if (r->side->is_unix) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return cfd_err_set(err, CF_EDENIED, "peer", "cannot read the peer's credentials");
        return cfd_auth_peer(ci->connect_fd, &r->cred, err);
    }
    return 0;
}

/* ---- refusals of a known caller ------------------------------------------------------ */

/* Is a failure with this code the caller's request refused (recorded when
 * the caller is known), rather than the service failing it? */
static bool is_refusal(int code)
{
    return code == CF_EUSAGE || code == CF_EINVALID || code == CF_ENOTFOUND ||
           code == CF_ECONFLICT || code == CF_EDENIED;
}

/* The case a request names, for its refusal's record: the {id} of the case
 * routes. Borrowed from r->params, or NULL. */
static const char *case_named(const struct cfd_req *r)
{
    if (!r->op || strncmp(r->op->route, "/v1/cases/", 10) != 0)
        return NULL;
    return json_string_value(json_object_get(r->params, "id"));
}

/* A refusal whose record could not be written: one log line (the error
 * of the store, never case data). */
static void log_unrecorded(const struct cfd_req *r, const cf_error *err)
{
    char now[40];
    cfd_log_time(now, sizeof now);
    fprintf(stderr, "%s caseflowd: the refusal of a %s request was not recorded: %s %s\n", now,
            r->op->name, cf_err_name(err->code), err->field);
}

struct refusal_job {
    struct cfd_req *r;
    const char *reason;
    const cf_error *why;
};

/* Resolve the caller if still needed, then record the refusal as them. A
 * caller whose credentials are themselves refused is recorded by the token
 * check (auth.refused) and not again here. */
static int refusal_job(cf_engine *e, void *arg, cf_error *err)
{
    struct refusal_job *j = arg;
    if (!j->r->cred.resolved) {
        int rc = cfd_auth_resolve(e, &j->r->cred, err);
        if (rc)
            return rc;
        cf_engine_set_actor(e, j->r->cred.user, j->reason);
    }
    return cf_engine_record_refusal(e, j->r->op->name, case_named(j->r), j->why, err);
}

/* Answer with the problem of a request refused before it reached its
 * operation, after writing its record when the caller presented
 * credentials; a body refused unread (413, 415: r->body_unread) is
 * answered first and recorded when the request completes (cfd_req_done),
 * before the client has sent much more of it. */
static enum MHD_Result refuse_request(struct cfd_req *r, int status, int code,
                                      const char *field, const char *fmt, ...)
    CFD_PRINTF(5, 6);
static enum MHD_Result refuse_request(struct cfd_req *r, int status, int code,
                                      const char *field, const char *fmt, ...)
{
    cf_error why;
    memset(&why, 0, sizeof why);
    why.code = code;
    snprintf(why.field, sizeof why.field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why.message, sizeof why.message, fmt, ap);
    va_end(ap);
    if (r->op && r->cred.kind != CFD_CRED_NONE) {
        r->refusal = why;
        r->refusal_due = true;
        if (!r->body_unread)
            cfd_req_done(r);
    }
    return cfd_respond_problem(r, status, code, field, "%s", why.message);
}

void cfd_req_done(struct cfd_req *r)
{
    if (!r->refusal_due)
        return;
    r->refusal_due = false;
    const char *reason = header(r, "X-Caseflow-Reason");
    struct refusal_job j = {r, reason && one_line(r, "X-Caseflow-Reason") ? reason : NULL,
                            &r->refusal};
    cf_error err;
    memset(&err, 0, sizeof err);
    if (cfd_writer_run(r->http->writer, r->cred.resolved ? r->cred.user : NULL, j.reason,
                       refusal_job, &j, &err) != 0 &&
        !(err.code == CF_EDENIED && strcmp(err.field, "token") == 0))
        log_unrecorded(r, &err);
}

/* A refused caller: 401, counted against its address. */
static enum MHD_Result refuse(struct cfd_req *r, const cf_error *err)
{
    cfd_auth_failed(r->http->auth, r->client);
    r->www_authenticate = true;
    return cfd_respond_problem(r, 401, CF_EDENIED, err->field, "%s", err->message);
}

/* 0 when the caller may go on: an address not blocked, and credentials of
 * the right form (resolved to a user later, in the request's job) or an
 * operation open to all. Else the response was queued (429, 401). */
static int authenticate(struct cfd_req *r, enum MHD_Result *res)
{
    client_key(r, r->client, sizeof r->client);
    int wait = cfd_auth_blocked(r->http->auth, r->client);
    if (wait) {
        r->retry_after = wait;
        *res = cfd_respond_problem(r, 429, CF_EDENIED, "token",
                                   "too many failed authentications; retry in %d s", wait);
        return -1;
    }
    cf_error err;
    memset(&err, 0, sizeof err);
    if (credentials(r, &err) != 0) {
        *res = refuse(r, &err);
        return -1;
    }
    if (r->cred.kind != CFD_CRED_NONE || (r->op->flags & CF_OP_PUBLIC))
        return 0;
    r->www_authenticate = true;
    *res = cfd_respond_problem(r, 401, CF_EDENIED, "token",
                               "authentication required: Authorization: Bearer TOKEN");
    return -1;
}

/* The media type of a Content-Type value, without parameters, is type. */
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

/* Check the announced body: size (413) and type (415). 0, or -1 queued. */
static int check_body_headers(struct cfd_req *r, enum MHD_Result *res)
{
    r->body_unread = true; /* a refusal here is recorded after its answer */
    const char *length = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *chunked = header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long len = length ? strtoull(length, NULL, 10) : 0;
    if (len == 0 && !chunked)
        return 0;
    if (len > (unsigned long long)r->http->cfg->max_body) {
        *res = refuse_request(r, 413, CF_EINVALID, "body",
                              "body of %llu bytes; at most %lld are accepted", len,
                                   r->http->cfg->max_body);
        return -1;
    }
    const char *type = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    unsigned flags = r->op->flags;
    if (!(flags & CF_OP_BODY)) {
        *res = refuse_request(r, 415, CF_EINVALID, "body", "%s %s takes no body",
                                   r->method, r->route);
        return -1;
    }
    if (type && (media_is(type, "application/json") ||
                 ((flags & CF_OP_NDJSON) && media_is(type, "application/x-ndjson"))))
        return 0;
    *res = refuse_request(r, 415, CF_EINVALID, "Content-Type",
                               "Content-Type must be application/json%s",
                               (flags & CF_OP_NDJSON) ? " or application/x-ndjson" : "");
    return -1;
}

enum MHD_Result cfd_req_begin(struct cfd_req *r, const char *url)
{
    int known = 0;
    enum MHD_Result res = MHD_YES;
    r->params = json_object();
    if (!r->params)
        return MHD_NO;
    r->op = cf_op_match(r->method, url, r->params, &known);
    if (!r->op) {
        if (!known)
            return cfd_respond_problem(r, 404, CF_ENOTFOUND, "path", "no such route");
        allowed_methods(r, url);
        return cfd_respond_problem(r, 405, CF_EUSAGE, "method", "%s is not allowed here; "
                                   "allowed: %s", r->method, r->allow);
    }
    r->route = r->op->route;
    if (authenticate(r, &res) || check_body_headers(r, &res))
        return res;
    r->body_unread = false;
    return MHD_YES;
}

/* ---- finish: arguments, body, the run, the answer ------------------------------------- */

struct args_ctx {
    json_t *args;
    char bad[200];
};

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    struct args_ctx *a = cls;
    (void)kind;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        snprintf(a->bad, sizeof a->bad, "a query parameter holds a NUL byte");
        return MHD_NO;
    }
    if (json_object_get(a->args, key)) {
        snprintf(a->bad, sizeof a->bad, "parameter '%.64s' given more than once", key);
        return MHD_NO;
    }
    json_t *v = json_stringn(value ? value : "", value ? value_size : 0);
    if (!v || json_object_set_new(a->args, key, v) != 0) {
        snprintf(a->bad, sizeof a->bad, "a query parameter is not valid UTF-8");
        return MHD_NO;
    }
    return MHD_YES;
}

/* The operation's arguments: path parameters, then the query's. NULL after
 * a 400 was queued (*res). */
static json_t *build_args(struct cfd_req *r, enum MHD_Result *res)
{
    struct args_ctx a = {json_deep_copy(r->params), ""};
    if (!a.args) {
        *res = MHD_NO;
        return NULL;
    }
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, add_query_arg, &a);
    if (a.bad[0]) {
        json_decref(a.args);
        *res = refuse_request(r, 400, CF_EUSAGE, "query", "%s", a.bad);
        return NULL;
    }
    return a.args;
}

/* If-Match: "<revision>" → expect_revision; "*" or none → -1. */
static int if_match(struct cfd_req *r, int64_t *rev)
{
    const char *v = header(r, MHD_HTTP_HEADER_IF_MATCH);
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

/* wait= of the feed (removed from args): seconds, at most --max-wait. */
static int feed_wait(struct cfd_req *r, json_t *args, long *wait)
{
    json_t *v = json_object_get(args, "wait");
    *wait = 0;
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 6 || strspn(s, "0123456789") != strlen(s))
        return -1;
    *wait = strtol(s, NULL, 10);
    if (*wait > r->http->cfg->max_wait)
        *wait = (long)r->http->cfg->max_wait;
    json_object_del(args, "wait");
    return 0;
}

/* One request's trip through the writer: who calls (when a token or a
 * peer still has to be looked up), then the operation as that user. */
struct op_job {
    const cf_op *op;
    cf_op_ctx ctx;
    struct cfd_credentials *cred;
    const char *reason;
    bool refused; /* the credentials named no user */
    const char *case_id; /* the case the request names, or NULL */
    cf_error unrecorded; /* why a refusal was not recorded (code 0: it was) */
    json_t *out;
    int status;
};

/* On the writer: who the job's caller is, when a token or a peer still
 * has to be looked up; the engine then acts as them. */
static int resolve_caller(cf_engine *e, struct op_job *j, cf_error *err)
{
    if (j->cred->resolved || j->cred->kind == CFD_CRED_NONE)
        return 0;
    int rc = cfd_auth_resolve(e, j->cred, err);
    if (rc) {
        j->refused = rc == CF_EDENIED;
        return rc;
    }
    cf_engine_set_actor(e, j->cred->user, j->reason);
    return 0;
}

/* A workflow function's traceback, on one line of the log: it names
 * workflow code only (the message, which may quote case data, is not
 * logged; the caller has it). */
static void log_trace(const char *op, const char *trace)
{
    char now[40], line[1024];
    size_t o = 0;
    if (!trace)
        return;
    for (const char *p = trace; *p && o + 2 < sizeof line; p++) {
        if (*p == '\n')
            line[o++] = ';';
        else if (*p != '\t' && (unsigned char)*p >= 0x20)
            line[o++] = *p;
    }
    line[o] = '\0';
    cfd_log_time(now, sizeof now);
    fprintf(stderr, "%s caseflowd: %s: workflow error, %s\n", now, op, line);
}

static int op_job(cf_engine *e, void *arg, cf_error *err)
{
    struct op_job *j = arg;
    int rc = resolve_caller(e, j, err);
    if (rc)
        return rc;
    j->ctx.engine = e;
    j->status = 0;
    rc = j->op->run(&j->ctx, &j->out, &j->status, err);
    if (rc == CF_ESCRIPT)
        log_trace(j->op->name, cf_engine_error_detail(e));
    if (rc && is_refusal(rc) && j->cred->resolved) {
        /* Each engine command the operation ran has its own savepoint: the
         * refused one is gone with whatever it did. The refusal itself is
         * recorded, in the same group. */
        cf_error rerr;
        memset(&rerr, 0, sizeof rerr);
        if (cf_engine_record_refusal(e, j->op->name, j->case_id, err, &rerr) != 0)
            j->unrecorded = rerr;
    }
    return rc;
}

/* The consultations a read made on a reader, written on the writer as the
 * caller (resolved there again: a token revoked meanwhile is refused, and
 * its last use noted), before anything of the read is sent. */
struct record_job {
    struct op_job *j;
    const json_t *reads;
};

static int record_job(cf_engine *e, void *arg, cf_error *err)
{
    struct record_job *rj = arg;
    int rc = resolve_caller(e, rj->j, err);
    return rc ? rc : cf_engine_record_consultations(e, rj->reads, err);
}

/* A read on a reader of the pool: 0 with j->out and its consultations
 * committed; 1 when the reader did not answer it (it failed there: the
 * writer runs it again, and records a refusal or an alarm as only it can);
 * else the error of writing its record (j->out dropped). */
static int run_read(struct cfd_req *r, struct op_job *j, cf_error *err)
{
    cf_engine *e = cfd_readers_take(r->http->readers);
    struct cfd_credentials cred = *j->cred; /* resolved on the writer again */
    int rc = 0;
    if (cred.kind != CFD_CRED_NONE && !cred.resolved)
        rc = cfd_auth_resolve(e, &cred, err);
    if (!rc) {
        cf_engine_set_actor(e, cred.resolved ? cred.user : NULL, j->reason);
        cf_op_ctx ctx = j->ctx;
        ctx.engine = e;
        j->status = 0;
        rc = j->op->run(&ctx, &j->out, &j->status, err);
    }
    json_t *reads = cf_engine_take_consultations(e);
    cfd_readers_give(r->http->readers, e);
    if (rc || !reads) {
        json_decref(j->out);
        j->out = NULL;
        json_decref(reads);
        return 1;
    }
    struct record_job rj = {j, reads};
    rc = cfd_writer_run(r->http->writer, j->cred->resolved ? j->cred->user : NULL, j->reason,
                        record_job, &rj, err);
    json_decref(reads);
    if (rc) {
        json_decref(j->out);
        j->out = NULL;
    }
    return rc;
}

/* Run the job: a read on a reader when there are readers, else (or when
 * the reader could not answer) on the writer. On failure *out is dropped
 * (never saved, never sent). */
static int run(struct cfd_req *r, struct op_job *j, cf_error *err)
{
    json_decref(j->out);
    j->out = NULL;
    if (r->http->readers && (j->op->flags & CF_OP_READ) && !(j->op->flags & CF_OP_WRITE)) {
        int rc = run_read(r, j, err);
        if (rc != 1)
            return rc;
        memset(err, 0, sizeof *err);
    }
    const char *actor = r->cred.resolved ? r->cred.user : NULL;
    int rc = cfd_writer_run(r->http->writer, actor, j->reason, op_job, j, err);
    if (rc) {
        json_decref(j->out);
        j->out = NULL;
    }
    return rc;
}

/* The feed's long poll: no events yet and wait > 0 → wait for the head to
 * pass the cursor (without holding the writer), then read once more. */
static int long_poll(struct cfd_req *r, struct op_job *j, long wait, cf_error *err)
{
    json_t *events = json_object_get(j->out, "events");
    json_int_t next = json_integer_value(json_object_get(j->out, "next"));
    if (wait <= 0 || !json_is_array(events) || json_array_size(events) > 0)
        return 0;
    if (!cfd_writer_feed_wait(r->http->writer, next, wait * 1000))
        return 0;
    return run(r, j, err);
}

/* Parse the body for the operation. 0, or -1 after a 400 was queued. */
static int parse_body(struct cfd_req *r, struct op_job *j, enum MHD_Result *res)
{
    if (!r->len)
        return 0;
    const char *type = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if ((r->op->flags & CF_OP_NDJSON) && type && media_is(type, "application/x-ndjson")) {
        j->ctx.body_text = r->body;
        j->ctx.body_len = r->len;
        return 0;
    }
    json_error_t jerr;
    json_t *body = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        *res = refuse_request(r, 400, CF_EINVALID, "body",
                              "malformed JSON at line %d, column %d (byte %d): %s",
                                   jerr.line, jerr.column, jerr.position, jerr.text);
        return -1;
    }
    j->ctx.body = body;
    return 0;
}

static enum MHD_Result finish_op(struct cfd_req *r, json_t *args)
{
    enum MHD_Result res = MHD_YES;
    struct op_job j;
    memset(&j, 0, sizeof j);
    j.op = r->op;
    j.cred = &r->cred;
    j.case_id = case_named(r);
    j.ctx.args = args;
    if (if_match(r, &j.ctx.expect_revision) != 0)
        return refuse_request(r, 400, CF_EUSAGE, "If-Match",
                                   "If-Match: expected \"<revision>\" (a quoted number)");
    j.ctx.idempotency_key = header(r, "Idempotency-Key");
    j.reason = header(r, "X-Caseflow-Reason");
    if (j.reason && !one_line(r, "X-Caseflow-Reason"))
        return refuse_request(r, 400, CF_EUSAGE, "X-Caseflow-Reason",
                                   "X-Caseflow-Reason: one line of text, without control "
                                   "characters (RFC 9110 5.5)");
    if (!j.reason)
        j.reason = json_string_value(json_object_get(args, "reason"));
    else if (!json_object_get(args, "reason"))
        json_object_set_new(args, "reason", json_string(j.reason));
    long wait = 0;
    if (strcmp(r->route, FEED_ROUTE) == 0 && feed_wait(r, args, &wait) != 0)
        return refuse_request(r, 400, CF_EUSAGE, "wait",
                                   "wait: a whole number of seconds (up to %lld are waited)",
                                   r->http->cfg->max_wait);
    if (parse_body(r, &j, &res) != 0)
        return res;
    cf_error err;
    memset(&err, 0, sizeof err);
    int rc = run(r, &j, &err);
    if (!rc && wait > 0)
        rc = long_poll(r, &j, wait, &err);
    json_decref((json_t *)j.ctx.body);
    if (rc && j.refused)
        return refuse(r, &err);
    if (j.unrecorded.code)
        log_unrecorded(r, &j.unrecorded);
    if (rc)
        return cfd_respond_error(r, &err);
    if (cf_op_wants_html(r->op, args)) { /* format=html: the result as a web page */
        char *html = NULL;
        rc = cf_op_html(r->op, j.out, &html, &err);
        json_decref(j.out);
        return rc ? cfd_respond_error(r, &err) : cfd_respond_html(r, 200, html);
    }
    res = cfd_respond_json(r, j.status ? j.status : 200, j.out);
    json_decref(j.out);
    return res;
}

enum MHD_Result cfd_req_finish(struct cfd_req *r)
{
    if (r->builtin)
        return r->builtin(r);
    if (r->too_large)
        return refuse_request(r, 413, CF_EINVALID, "body", "body larger than %lld bytes",
                              r->http->cfg->max_body);
    enum MHD_Result res = MHD_YES;
    json_t *args = build_args(r, &res);
    if (!args)
        return res;
    res = finish_op(r, args);
    json_decref(args);
    return res;
}
