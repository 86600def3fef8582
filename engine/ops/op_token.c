/*
 * Service identities: bearer tokens for caseflowd (administrators). The
 * token itself is in create's result only, shown that once.
 */
#include <string.h>

#include "ops_internal.h"

int cf_op_token_create(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *user, *note;
    int64_t expires;
    int rc;
    *out = NULL;
    if (!json_is_object(ctx->body))
        return cf_op_fail(err, CF_EUSAGE, "body",
                          "body: an object {user, expires_at?, note?} is needed");
    if ((rc = cf_op_arg_need(ctx->body, "user", &user, err)) < 0 ||
        (rc = cf_op_arg_time(ctx->body, "expires_at", 0, &expires, err)) < 0 ||
        (rc = cf_op_arg_str(ctx->body, "note", NULL, &note, err)) < 0)
        return rc;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ctx->body, key, v)
        if (strcmp(key, "user") != 0 && strcmp(key, "expires_at") != 0 &&
            strcmp(key, "note") != 0)
            return cf_op_fail(err, CF_EINVALID, key, "%s: not a field of a token", key);
    if (expires > 0 && expires <= cf_engine_now(ctx->engine))
        return cf_op_fail(err, CF_EINVALID, "expires_at", "expires_at: must be in the future");
    rc = cf_token_create(ctx->engine, user, expires, note, out, err);
    if (rc == 0 && status)
        *status = 201;
    return rc;
}

int cf_op_token_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    (void)status;
    *out = NULL;
    return cf_token_list(ctx->engine, out, err);
}

int cf_op_token_revoke(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *id;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_need(ctx->args, "id", &id, err);
    if (rc < 0)
        return rc;
    rc = cf_token_revoke(ctx->engine, id, err);
    if (rc < 0)
        return rc;
    *out = json_pack("{s:s, s:b}", "id", id, "revoked", 1);
    return 0;
}
