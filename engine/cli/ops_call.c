/*
 * Operations of the shared table (engine/ops/ops.h) as the command runs
 * them: here, on the store the options name, or in caseflowd when --server
 * (or CASEFLOW_SERVER) says so. Either way the handler gets the same JSON
 * result, or the same cf_error, and prints it with the same code.
 */
#include <stdarg.h>
#include <string.h>

#include "cli.h"
#include "ops/ops.h"

bool is_remote(const struct cli *c)
{
    return c->server != NULL;
}

int ops_open(struct cli *c)
{
    if (is_remote(c))
        return remote_check(c);
    return open_engine(c, false);
}

int op_call(struct cli *c, const struct op_req *r, json_t **out, int *status, cf_error *err)
{
    *out = NULL;
    if (status)
        *status = 200;
    memset(err, 0, sizeof *err);
    const cf_op *op = cf_op_find(r->name);
    if (!op) {
        err->code = CF_EINTERNAL;
        snprintf(err->message, sizeof err->message, "no operation %s", r->name);
        return CF_EINTERNAL;
    }
    if (is_remote(c))
        return remote_call(c, r, out, status, err);
    json_t *empty = r->args ? NULL : json_object();
    cf_op_ctx ctx = {
        .engine = c->engine,
        .args = r->args ? r->args : empty,
        .body = r->body,
        .body_text = r->body_text,
        .body_len = r->body_len,
        .idempotency_key = r->idempotency_key,
        .expect_revision = r->expect_revision,
    };
    int rc = op->run(&ctx, out, status, err);
    json_decref(empty);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
        if (!err->code)
            err->code = rc;
    }
    return rc;
}

int op_run(struct cli *c, const struct op_req *r, json_t **out)
{
    cf_error err;
    int rc = op_call(c, r, out, NULL, &err);
    return rc < 0 ? fail(rc, &err) : 0;
}

json_t *op_args(const char *name, ...)
{
    json_t *args = json_object();
    va_list ap;
    va_start(ap, name);
    for (const char *k = name; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        if (v)
            json_object_set_new(args, k, json_string_nocheck(v)); /* bytes as given */
    }
    va_end(ap);
    return args;
}
