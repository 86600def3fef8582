/*
 * referral.create: intake of one referral (a JSON object body) or of a batch
 * (an NDJSON body, one referral per line). A batch answers line by line, so
 * a bad line spoils only itself: each result names its line number and the
 * referral's reference; the whole batch fails only for what would fail every
 * line alike (the actor, the store, the workflow). The front end holds the
 * transaction: a batch is meant to run inside cf_batch_begin/commit, where
 * each cf_refer has a savepoint of its own.
 */
#include <string.h>

#include "ops_internal.h"

/* The most lines one batch may hold. */
#define BATCH_MAX_LINES 100000

static int refer_one(const cf_op_ctx *ctx, const char *workflow, json_t **out, int *status,
                     cf_error *err)
{
    if (!ctx->body)
        return cf_op_fail(err, CF_EUSAGE, "body", "body: a referral (JSON object) is needed");
    if (!json_is_object(ctx->body))
        return cf_op_fail(err, CF_EINVALID, "body", "referral is not a JSON object");
    json_t *r = NULL;
    int rc = cf_refer(ctx->engine, workflow, ctx->body, &r, err);
    if (rc < 0)
        return rc;
    if (status)
        *status = json_is_false(json_object_get(r, "created")) ? 200 : 201;
    *out = r;
    return 0;
}

/* {code, field, message, status} of a refused line. */
static json_t *error_json(const cf_error *e)
{
    return json_pack("{s:s, s:s, s:s, s:i}", "code", cf_err_name(e->code), "field", e->field,
                     "message", e->message, "status", cf_op_http_status(e));
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", s[i]) || s[i] == '\0')
            return 0;
    return 1;
}

/*
 * One line of a batch: its result appended to results, *accepted or
 * *refused counted. Returns 0 to go on, or the error (err filled) that
 * stops the batch.
 */
static int refer_line(const cf_op_ctx *ctx, const char *workflow, const char *text,
                      size_t len, unsigned long lineno, json_t *results, size_t *accepted,
                      size_t *refused, cf_error *err)
{
    cf_error e;
    json_error_t jerr;
    json_t *ref = NULL, *r = NULL;
    memset(&e, 0, sizeof e);
    const char *nul = memchr(text, '\0', len);
    if (nul)
        cf_op_fail(&e, CF_EINVALID, "", "invalid JSON: a NUL byte (column %zu)",
                   (size_t)(nul - text) + 1);
    else if (!(ref = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)))
        cf_op_fail(&e, CF_EINVALID, "", "invalid JSON: %s (column %d)",
                   cf_op_json_problem(&jerr), jerr.column);
    else if (!json_is_object(ref))
        cf_op_fail(&e, CF_EINVALID, "", "referral is not a JSON object");
    else
        cf_refer(ctx->engine, workflow, ref, &r, &e);
    const char *reference = json_string_value(json_object_get(ref, "reference"));
    json_t *line = json_pack("{s:I, s:s?}", "line", (json_int_t)lineno, "reference", reference);
    if (!json_object_get(line, "reference"))
        json_object_set_new(line, "reference", json_null());
    json_decref(ref);
    if (r) {
        json_object_update(line, r);
        json_decref(r);
        json_array_append_new(results, line);
        ++*accepted;
        return 0;
    }
    /* A refusal of this referral; anything else would refuse every line. */
    if (e.code != CF_EINVALID && e.code != CF_ECONFLICT) {
        json_decref(line);
        *err = e;
        return e.code ? e.code : CF_EINTERNAL;
    }
    json_object_set_new(line, "error", error_json(&e));
    json_array_append_new(results, line);
    ++*refused;
    return 0;
}

static int refer_batch(const cf_op_ctx *ctx, const char *workflow, json_t **out, int *status,
                       cf_error *err)
{
    const char *p = ctx->body_text, *end = ctx->body_text + ctx->body_len;
    unsigned long lineno = 0;
    size_t accepted = 0, refused = 0;
    json_t *results = json_array();
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        if (!blank(p, len)) {
            if (accepted + refused >= BATCH_MAX_LINES) {
                json_decref(results);
                return cf_op_fail(err, CF_EINVALID, "body",
                                  "body: more than %d referrals in one batch",
                                  BATCH_MAX_LINES);
            }
            int rc = refer_line(ctx, workflow, p, len, lineno, results, &accepted, &refused,
                                err);
            if (rc < 0) {
                json_decref(results);
                return rc;
            }
        }
        p += len + (nl != NULL);
    }
    if (accepted + refused == 0) {
        json_decref(results);
        return cf_op_fail(err, CF_EINVALID, "body", "body: no referral in the batch");
    }
    *out = json_pack("{s:o, s:I, s:I}", "results", results, "accepted", (json_int_t)accepted,
                     "refused", (json_int_t)refused);
    if (status)
        *status = refused ? 207 : 200;
    return 0;
}

int cf_op_referral_create(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *workflow;
    *out = NULL;
    int rc = cf_op_arg_str(ctx->args, "workflow", NULL, &workflow, err);
    if (rc < 0)
        return rc;
    if (ctx->body_text)
        return refer_batch(ctx, workflow, out, status, err);
    return refer_one(ctx, workflow, out, status, err);
}
