/*
 * Reads that are not of one case: the change feed (a page of domain events
 * after a cursor; waiting for more is the service's business), the
 * management report, and the deployed workflow versions.
 */
#include <stdlib.h>
#include <string.h>

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
    const char *workflow, *format;
    int64_t since, version;
    int rc;
    (void)status;
    *out = NULL;
    if ((rc = cf_op_arg_str(ctx->args, "format", "json", &format, err)) < 0)
        return rc;
    if (strcmp(format, "json") != 0 && strcmp(format, "html") != 0)
        return cf_op_fail(err, CF_EUSAGE, "format", "format: json or html");
    if ((rc = cf_op_arg_str(ctx->args, "workflow", NULL, &workflow, err)) < 0 ||
        (rc = cf_op_arg_int(ctx->args, "version", 0, &version, err)) < 0 ||
        (rc = cf_op_arg_time(ctx->args, "since", 0, &since, err)) < 0)
        return rc;
    if (version < 0)
        return cf_op_fail(err, CF_EINVALID, "version", "version: must be a positive integer");
    /* workflow=NAME@VERSION, as case.list takes it */
    char name[128];
    const char *at = workflow ? strchr(workflow, '@') : NULL;
    if (at) {
        size_t n = (size_t)(at - workflow);
        char *end = NULL;
        long long v = at[1] >= '0' && at[1] <= '9' ? strtoll(at + 1, &end, 10) : 0;
        if (n == 0 || n >= sizeof name || v < 1 || !end || *end)
            return cf_op_fail(err, CF_EUSAGE, "workflow",
                              "workflow: NAME@VERSION needs a name and a version number from "
                              "1 after the @");
        if (version > 0 && version != v)
            return cf_op_fail(err, CF_EUSAGE, "version",
                              "version: %lld disagrees with workflow %s", (long long)version,
                              workflow);
        memcpy(name, workflow, n);
        name[n] = '\0';
        workflow = name;
        version = v;
    }
    return cf_report_version(ctx->engine, workflow, version, since, out, err);
}

int cf_op_workflow_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    (void)status;
    *out = NULL;
    return cf_workflow_list(ctx->engine, out, err);
}

/* format=html (report.get): the front end renders the result it got. */
int cf_op_wants_html(const cf_op *op, const json_t *args)
{
    const char *f = json_string_value(json_object_get(args, "format"));
    return op && (op->flags & CF_OP_HTML) && f && strcmp(f, "html") == 0;
}

int cf_op_html(const cf_op *op, const json_t *out, char **html, cf_error *err)
{
    *html = NULL;
    if (!op || strcmp(op->name, "report.get") != 0)
        return cf_op_fail(err, CF_EUSAGE, "format", "format: html is for the report only");
    return cf_report_html(out, html, err);
}
