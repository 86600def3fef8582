/*
 * Reads that are not of one case: the change feed (a page of domain events
 * after a cursor; waiting for more is the service's business), the
 * management report, and the deployed workflow versions.
 */
#include "ops_internal.h"

int cf_op_feed_read(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    int64_t after, limit;
    int rc;
    (void)status;
    *out = NULL;
    if ((rc = cf_op_arg_int(ctx->args, "after", 0, &after, err)) < 0 ||
        (rc = cf_op_arg_limit(ctx->args, &limit, err)) < 0)
        return rc;
    if (after < 0)
        return cf_op_fail(err, CF_EINVALID, "after", "after: must not be negative");
    return cf_feed_read(ctx->engine, after, (size_t)limit, out, err);
}

int cf_op_report_get(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *workflow;
    int64_t since;
    int rc;
    (void)status;
    *out = NULL;
    if ((rc = cf_op_arg_str(ctx->args, "workflow", NULL, &workflow, err)) < 0 ||
        (rc = cf_op_arg_time(ctx->args, "since", 0, &since, err)) < 0)
        return rc;
    return cf_report(ctx->engine, workflow, since, out, err);
}

int cf_op_workflow_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    (void)status;
    *out = NULL;
    return cf_workflow_list(ctx->engine, out, err);
}
