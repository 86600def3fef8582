/*
 * referral.create: intake of one referral (a JSON object body) or of a batch
 * (an NDJSON body, one referral per line). A batch answers line by line, so
 * a bad line spoils only itself: each result names its line number and the
 * referral's reference. The front end holds the transaction: a batch is
 * meant to run inside cf_batch_begin/commit, where each cf_refer has a
 * savepoint of its own, and the lines taken in become durable (or not)
 * together at the commit.
 *
 * The rule a batch keeps: it answers either with per-line results that are
 * all true once the front end's commit succeeded, or with an error, and
 * then nothing of it is in the transaction. The operation cannot undo a
 * line once its savepoint was released, so it never answers with an error
 * after a line was taken in:
 *  - what refuses the whole batch (too many lines, no line at all) is found
 *    before the first line runs;
 *  - a line refused for its data (CF_EINVALID, CF_ECONFLICT) is reported
 *    and the others go on;
 *  - any other failure (the store: CF_EIO; CF_ENOMEM, CF_EINTERNAL,
 *    CF_ESCRIPT; the actor or the workflow, which fail the first line
 *    alike) stops the batch. Before any line was taken in, the batch
 *    answers with that error. After, it answers with the results so far,
 *    that line's error, and every later line reported not taken in with the
 *    same code: the lines reported taken in are those the transaction
 *    holds, and when the failure cost the transaction itself, the front
 *    end's commit fails and the whole request answers with that error.
 */
#include <stdio.h>
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

/* {code, field, message, status} of a line not taken in: new reference. */
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

/* The body's lines one by one: the next non-blank line from *p (before
 * end) as text and len, its number (counting blank lines) in *lineno. 1 for
 * a line, 0 at the end. */
static int next_line(const char **p, const char *end, const char **text, size_t *len,
                     unsigned long *lineno)
{
    while (*p < end) {
        const char *nl = memchr(*p, '\n', (size_t)(end - *p));
        size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
        const char *t = *p;
        *p += n + (nl != NULL);
        ++*lineno;
        if (!blank(t, n)) {
            *text = t;
            *len = n;
            return 1;
        }
    }
    return 0;
}

/* A result line: {line, reference} (reference null when ref has none):
 * new reference, or NULL when out of memory. */
static json_t *result_line(unsigned long lineno, const json_t *ref)
{
    json_t *ref_text = json_object_get(ref, "reference");
    return json_pack("{s:I, s:O}", "line", (json_int_t)lineno, "reference",
                     json_is_string(ref_text) ? ref_text : json_null());
}

/* Append line to results with the error e. 0, or CF_ENOMEM. */
static int append_refused(json_t *results, json_t *line, const cf_error *e)
{
    json_t *ej = error_json(e);
    if (!line || !ej || json_object_set_new(line, "error", ej) != 0 ||
        json_array_append_new(results, line) != 0) {
        json_decref(line);
        return CF_ENOMEM;
    }
    return 0;
}

/*
 * One line of a batch: its result appended to results, *accepted or
 * *refused counted. Returns 0 to go on, or the error (*failure filled, the
 * line's result not appended) that stops the batch.
 */
static int refer_line(const cf_op_ctx *ctx, const char *workflow, const char *text,
                      size_t len, unsigned long lineno, json_t *results, size_t *accepted,
                      size_t *refused, cf_error *failure)
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
    else if (cf_refer(ctx->engine, workflow, ref, &r, &e) == 0 && !r)
        cf_op_fail(&e, CF_EINTERNAL, NULL, "the referral was taken in without a result");
    json_t *line = result_line(lineno, ref);
    json_decref(ref);
    if (r) {
        /* Taken in: from here on, only the commit decides. */
        if (!line || json_object_update(line, r) != 0 ||
            json_array_append_new(results, line) != 0) {
            json_decref(r);
            cf_op_fail(failure, CF_ENOMEM, NULL, "out of memory");
            return CF_ENOMEM;
        }
        json_decref(r);
        ++*accepted;
        return 0;
    }
    if (e.code != CF_EINVALID && e.code != CF_ECONFLICT) {
        /* Not this referral's fault: the batch stops here. */
        json_decref(line);
        *failure = e;
        if (!failure->code)
            cf_op_fail(failure, CF_EINTERNAL, NULL, "the referral failed without a reason");
        return failure->code;
    }
    if (append_refused(results, line, &e) != 0) {
        cf_op_fail(failure, CF_ENOMEM, NULL, "out of memory");
        return CF_ENOMEM;
    }
    ++*refused;
    return 0;
}

/*
 * The batch stopped at line lineno (text, len) for why, after lines were
 * taken in: that line reported with why, and every later one (from p) as
 * not taken in, with why's code. 0, or CF_ENOMEM.
 */
static int report_stopped(const char *p, const char *end, unsigned long lineno,
                          const char *text, size_t len, json_t *results, size_t *refused,
                          const cf_error *why)
{
    unsigned long at = lineno;
    cf_error rest;
    memset(&rest, 0, sizeof rest);
    rest.code = why->code;
    snprintf(rest.field, sizeof rest.field, "batch");
    snprintf(rest.message, sizeof rest.message,
             "not taken in: the batch stopped at line %lu (%s)", at, cf_strerror(why->code));
    do {
        json_t *ref = memchr(text, '\0', len)
                          ? NULL
                          : json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *line = result_line(lineno, ref);
        json_decref(ref);
        if (append_refused(results, line, lineno == at ? why : &rest) != 0)
            return CF_ENOMEM;
        ++*refused;
    } while (next_line(&p, end, &text, &len, &lineno));
    return 0;
}

static int refer_batch(const cf_op_ctx *ctx, const char *workflow, json_t **out, int *status,
                       cf_error *err)
{
    const char *end = ctx->body_text + ctx->body_len, *p = ctx->body_text, *text;
    size_t len, n = 0, accepted = 0, refused = 0;
    unsigned long lineno = 0;
    /* What refuses the whole batch, before any line runs. */
    while (next_line(&p, end, &text, &len, &lineno))
        if (++n > BATCH_MAX_LINES)
            return cf_op_fail(err, CF_EINVALID, "body", "body: more than %d referrals in one batch",
                              BATCH_MAX_LINES);
    if (n == 0)
        return cf_op_fail(err, CF_EINVALID, "body", "body: no referral in the batch");
    json_t *results = json_array();
    if (!results)
        return cf_op_fail(err, CF_ENOMEM, NULL, "out of memory");
    p = ctx->body_text;
    lineno = 0;
    while (next_line(&p, end, &text, &len, &lineno)) {
        cf_error why;
        memset(&why, 0, sizeof why);
        int rc = refer_line(ctx, workflow, text, len, lineno, results, &accepted, &refused, &why);
        if (rc == 0)
            continue;
        /* Nothing taken in yet: the batch fails as a whole, and nothing of
         * it is in the transaction. Else the lines taken in stay, and are
         * reported as such. */
        if (accepted == 0 ||
            report_stopped(p, end, lineno, text, len, results, &refused, &why) != 0) {
            json_decref(results);
            *err = why;
            return why.code;
        }
        break;
    }
    *out = json_pack("{s:o, s:I, s:I}", "results", results, "accepted", (json_int_t)accepted,
                     "refused", (json_int_t)refused);
    if (!*out)
        return cf_op_fail(err, CF_ENOMEM, NULL, "out of memory");
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
