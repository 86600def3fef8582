/*
 * workflow.migrate: move open cases to another deployed version of their
 * workflow (cf_workflow_migrate). The workflow is the path's {name}; the body
 * says how: {"to": N, "from"?: N, "map"?: ["OLD=NEW", ...], "cases"?: [ID,
 * ...] | "all"?: true, "dry_run"?: bool, "request"?: bool, "approve"?: ID}.
 */
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

#define MAX_ITEMS 100000

/* The strings of body member name (an array), borrowed; *n of them. */
static int strings(const json_t *body, const char *name, const char ***out, size_t *n,
                   cf_error *err)
{
    const json_t *a = json_object_get(body, name);
    *out = NULL;
    *n = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_ITEMS)
        return cf_op_fail(err, CF_EINVALID, name, "%s: must be an array of strings", name);
    *out = calloc(json_array_size(a) + 1, sizeof **out);
    if (!*out)
        return cf_op_fail(err, CF_ENOMEM, NULL, "out of memory");
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            free(*out);
            *out = NULL;
            return cf_op_fail(err, CF_EINVALID, name, "%s: must be an array of strings", name);
        }
        (*out)[(*n)++] = json_string_value(v);
    }
    return 0;
}

int cf_op_workflow_migrate(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    (void)status;
    *out = NULL;
    const json_t *body = ctx->body ? ctx->body : json_object();
    cf_migrate_options o;
    memset(&o, 0, sizeof o);
    int all = 0, dry = 0, request = 0, rc;
    const char **map = NULL, **cases = NULL;
    if (!json_is_object(body))
        return cf_op_fail(err, CF_EUSAGE, "body",
                          "body: an object {\"to\": VERSION, ...} is needed");
    if ((rc = cf_op_arg_need(ctx->args, "name", &o.name, err)) < 0 ||
        (rc = cf_op_arg_int(body, "to", 0, &o.to, err)) < 0 ||
        (rc = cf_op_arg_int(body, "from", 0, &o.from, err)) < 0 ||
        (rc = cf_op_arg_int(body, "approve", 0, &o.approve, err)) < 0 ||
        (rc = cf_op_arg_bool(body, "all", 0, &all, err)) < 0 ||
        (rc = cf_op_arg_bool(body, "dry_run", 0, &dry, err)) < 0 ||
        (rc = cf_op_arg_bool(body, "request", 0, &request, err)) < 0 ||
        (rc = strings(body, "map", &map, &o.nmap, err)) < 0 ||
        (rc = strings(body, "cases", &cases, &o.ncases, err)) < 0) {
        free(map);
        return rc;
    }
    o.map = map;
    o.cases = cases;
    o.all = all;
    o.dry_run = dry;
    o.request = request;
    rc = cf_workflow_migrate(ctx->engine, &o, out, err);
    free(map);
    free(cases);
    if (rc < 0) {
        json_decref(*out); /* a partial run's report: the error tells */
        *out = NULL;
    }
    return rc;
}
