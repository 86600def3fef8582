/*
 * One description of each operation, shared by the caseflow command and
 * caseflowd. An operation is a named call over the public API (caseflow.h
 * only): its arguments come as one JSON object of named parameters, which
 * the command builds from its options and the service from the request's
 * path, query and headers; the body (an HTTP request body, or the file or
 * standard input the command reads) comes apart. Its result is one JSON
 * value, which the command prints and the service sends. Neither front end
 * knows what an operation does; both know only this table.
 */
#ifndef CF_OPS_H
#define CF_OPS_H

#include <caseflow/caseflow.h>

/* What a front end must arrange before running an operation. */
enum {
    CF_OP_READ = 1,     /* reads case data: needs the actor's reason */
    CF_OP_WRITE = 2,    /* changes the store: caseflowd runs it on its writer */
    CF_OP_ADMIN = 4,    /* administrators only (the engine checks; this is for docs) */
    CF_OP_PUBLIC = 8,   /* needs no authenticated user (health, the API document) */
    CF_OP_BODY = 16,    /* takes a body (JSON object, array or NDJSON text) */
    CF_OP_NDJSON = 32,  /* the body may be application/x-ndjson: ctx->body_text */
    CF_OP_HTML = 64,    /* format=html: the result is sent as a web page (cf_op_html) */
};

typedef struct cf_op_ctx {
    cf_engine *engine;           /* actor, reason and clock already set */
    const json_t *args;          /* borrowed object of named parameters (strings,
                                  * integers, booleans), never NULL */
    const json_t *body;          /* borrowed: the parsed JSON body, or NULL */
    const char *body_text;       /* the raw body of an NDJSON batch, or NULL */
    size_t body_len;
    const char *idempotency_key; /* or NULL */
    int64_t expect_revision;     /* -1: none (HTTP If-Match, --revision) */
} cf_op_ctx;

typedef struct cf_op {
    const char *name;    /* "case.get": the command's and the metrics' name */
    const char *method;  /* "GET", "POST", "DELETE" */
    const char *route;   /* "/v1/cases/{id}": {name} binds a path segment */
    unsigned flags;      /* CF_OP_* */
    const char *summary; /* one line, for --help and docs/openapi.yaml */
    /* Run it. *out (new reference) on success; on failure a CF_E* code with
     * err filled (its field names the parameter at fault) and *out NULL.
     * *status (may be NULL) receives an HTTP status for a success other than
     * 200 (201 created, 207 a batch with some lines refused). */
    int (*run)(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
} cf_op;

/* The whole table (static, never NULL); *n its length. */
const cf_op *cf_ops(size_t *n);
/* The operation named name, or NULL. */
const cf_op *cf_op_find(const char *name);
/*
 * The operation for method and path (no query string). On a match the path
 * parameters are set in params (a borrowed object, as strings, percent-
 * decoded; a segment that decodes to a '/' or NUL never matches). Returns
 * NULL when nothing matches; *path_known (may be NULL) tells whether the
 * path matched with another method (405 rather than 404).
 */
const cf_op *cf_op_match(const char *method, const char *path, json_t *params,
                         int *path_known);

/* Parameter helpers for operations (and their front ends): a missing
 * parameter yields def; a present one of the wrong form is CF_EINVALID
 * naming it. Strings are borrowed from args. */
int cf_op_arg_str(const json_t *args, const char *name, const char *def, const char **out,
                  cf_error *err);
int cf_op_arg_int(const json_t *args, const char *name, int64_t def, int64_t *out,
                  cf_error *err);
int cf_op_arg_bool(const json_t *args, const char *name, int def, int *out, cf_error *err);
/* An RFC 3339 time with offset, or Unix seconds, as Unix seconds. */
int cf_op_arg_time(const json_t *args, const char *name, int64_t def, int64_t *out,
                   cf_error *err);

/* The result `out` (borrowed) of operation op, one flagged CF_OP_HTML, as
 * an HTML page: *html new malloc'd text. CF_EUSAGE for another operation. */
int cf_op_html(const cf_op *op, const json_t *out, char **html, cf_error *err);
/* Whether args (borrowed) ask op for format=html. */
int cf_op_wants_html(const cf_op *op, const json_t *args);

/* HTTP status for an engine error (the one table): CF_EUSAGE 400,
 * CF_EDENIED 403, CF_ENOTFOUND 404, CF_ECONFLICT 409 (412 when field is
 * "revision"), CF_EINVALID 422, CF_EMISSING 503, CF_EIO 503, others 500. */
int cf_op_http_status(const cf_error *err);

#endif
