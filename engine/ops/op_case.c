/*
 * Cases: the query a dashboard pages through (case.list), one case, its
 * history, and an event recorded on it (case.act, with the caller's
 * expected revision and idempotency key from the context).
 */
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

/* workflow=NAME@VERSION: the name into wf (q->workflow then points there)
 * and the version into q->version, which a version parameter must agree
 * with. */
static int workflow_at(cf_case_query *q, char *wf, size_t size, cf_error *err)
{
    const char *at = q->workflow ? strchr(q->workflow, '@') : NULL;
    if (!at)
        return 0;
    size_t n = (size_t)(at - q->workflow);
    const char *v = at + 1;
    char *end = NULL;
    long long version = *v >= '0' && *v <= '9' ? strtoll(v, &end, 10) : 0;
    if (n == 0 || n >= size || version < 1 || !end || *end)
        return cf_op_fail(err, CF_EUSAGE, "workflow",
                          "workflow: NAME@VERSION needs a name and a version number from 1 "
                          "after the @");
    if (q->version > 0 && q->version != version)
        return cf_op_fail(err, CF_EUSAGE, "version",
                          "version: %lld disagrees with workflow %s", (long long)q->version,
                          q->workflow);
    memcpy(wf, q->workflow, n);
    wf[n] = '\0';
    q->workflow = wf;
    q->version = version;
    return 0;
}

/* The filters of case.list into q; strings borrowed from args (or wf). */
static int case_query(const json_t *args, cf_case_query *q, char *wf, size_t size,
                      cf_error *err)
{
    const char *task;
    int64_t limit;
    int rc;
    memset(q, 0, sizeof *q);
    if ((rc = cf_op_arg_str(args, "state", NULL, &q->state, err)) < 0 ||
        (rc = cf_op_arg_str(args, "workflow", NULL, &q->workflow, err)) < 0 ||
        (rc = cf_op_arg_int(args, "version", 0, &q->version, err)) < 0 ||
        (rc = cf_op_arg_str(args, "grade", NULL, &q->grade, err)) < 0 ||
        (rc = cf_op_arg_bool(args, "overdue", 0, &q->overdue, err)) < 0 ||
        (rc = cf_op_arg_time(args, "deadline_before", 0, &q->deadline_before, err)) < 0 ||
        (rc = cf_op_arg_time(args, "updated_since", 0, &q->updated_since, err)) < 0 ||
        (rc = cf_op_arg_str(args, "task", NULL, &task, err)) < 0 ||
        (rc = cf_op_arg_limit(args, &limit, err)) < 0 ||
        (rc = cf_op_arg_str(args, "after", NULL, &q->after, err)) < 0)
        return rc;
    if (q->version < 0) /* 0: any version */
        return cf_op_fail(err, CF_EINVALID, "version", "version: must be a positive integer");
    if ((rc = workflow_at(q, wf, size, err)) < 0)
        return rc;
    if (task && strcmp(task, "open") != 0)
        return cf_op_fail(err, CF_EINVALID, "task", "task: the only filter is task=open");
    q->task_open = task != NULL;
    if (q->after && !q->after[0])
        q->after = NULL; /* an empty cursor: the first page */
    q->limit = (size_t)limit;
    return 0;
}

int cf_op_case_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    cf_case_query q;
    (void)status;
    *out = NULL;
    char wf[256];
    int rc = case_query(ctx->args, &q, wf, sizeof wf, err);
    if (rc < 0)
        return rc;
    return cf_case_query_run(ctx->engine, &q, out, err);
}

int cf_op_case_get(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *id;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_need(ctx->args, "id", &id, err);
    if (rc < 0)
        return rc;
    return cf_case_get(ctx->engine, id, out, err);
}

int cf_op_case_history(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *id;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_need(ctx->args, "id", &id, err);
    if (rc < 0)
        return rc;
    return cf_case_history(ctx->engine, id, out, err);
}

int cf_op_case_act(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *id, *event;
    cf_act_options opts;
    (void)status;
    *out = NULL;
    int rc;
    if ((rc = cf_op_arg_need(ctx->args, "id", &id, err)) < 0 ||
        (rc = cf_op_arg_need(ctx->args, "event", &event, err)) < 0)
        return rc;
    const json_t *data = json_is_null(ctx->body) ? NULL : ctx->body;
    if (data && !json_is_object(data))
        return cf_op_fail(err, CF_EINVALID, "body", "body: the event data must be an object");
    if (ctx->expect_revision < -1)
        return cf_op_fail(err, CF_EINVALID, "revision", "revision: must not be negative");
    memset(&opts, 0, sizeof opts);
    opts.expect_revision = ctx->expect_revision;
    opts.idempotency_key = ctx->idempotency_key;
    json_t *r = NULL;
    rc = cf_act_with(ctx->engine, id, event, data, &opts, &r, err);
    if (rc < 0)
        return rc;
    *out = r ? r : json_object();
    return 0;
}
