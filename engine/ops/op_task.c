/*
 * Tasks: what cases ask of a role (a MASH referral, a review). The list
 * pages by task id; claiming and completing are audited changes the engine
 * checks against the task's role.
 */
#include <string.h>

#include "ops_internal.h"

int cf_op_task_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    cf_task_query q;
    int64_t limit;
    int rc;
    (void)status;
    *out = NULL;
    memset(&q, 0, sizeof q);
    if ((rc = cf_op_arg_str(ctx->args, "status", NULL, &q.status, err)) < 0 ||
        (rc = cf_op_arg_str(ctx->args, "kind", NULL, &q.kind, err)) < 0 ||
        (rc = cf_op_arg_str(ctx->args, "case", NULL, &q.case_id, err)) < 0 ||
        (rc = cf_op_arg_str(ctx->args, "assignee", NULL, &q.assignee, err)) < 0 ||
        (rc = cf_op_arg_int(ctx->args, "after", 0, &q.after, err)) < 0 ||
        (rc = cf_op_arg_limit(ctx->args, &limit, err)) < 0)
        return rc;
    if (q.status && strcmp(q.status, "open") != 0 && strcmp(q.status, "done") != 0)
        return cf_op_fail(err, CF_EINVALID, "status", "status: must be open or done");
    if (q.after < 0)
        return cf_op_fail(err, CF_EINVALID, "after", "after: must not be negative");
    q.limit = (size_t)limit;
    return cf_task_list(ctx->engine, &q, out, err);
}

int cf_op_task_claim(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    int64_t id;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_id(ctx->args, "id", &id, err);
    if (rc < 0)
        return rc;
    return cf_task_claim(ctx->engine, id, out, err);
}

/* The result of a completion: the body's "result" when the body is
 * {"result": ...} and nothing else, else the body itself; NULL for none. */
static int task_result(const json_t *body, const json_t **result, cf_error *err)
{
    *result = NULL;
    if (!body || json_is_null(body))
        return 0;
    if (!json_is_object(body))
        return cf_op_fail(err, CF_EINVALID, "body", "body: the result must be an object");
    const json_t *inner = json_object_get(body, "result");
    if (inner && json_object_size(body) == 1) {
        if (json_is_null(inner))
            return 0;
        if (!json_is_object(inner))
            return cf_op_fail(err, CF_EINVALID, "result", "result: must be an object");
        *result = inner;
        return 0;
    }
    *result = body;
    return 0;
}

int cf_op_task_complete(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    int64_t id;
    const json_t *result;
    int rc;
    (void)status;
    *out = NULL;
    if ((rc = cf_op_arg_id(ctx->args, "id", &id, err)) < 0 ||
        (rc = task_result(ctx->body, &result, err)) < 0)
        return rc;
    return cf_task_complete(ctx->engine, id, result, out, err);
}
