/*
 * Webhooks (administrators): add one with its URL, the event types it wants
 * and its secret; list them with their delivery state; remove one; queue a
 * webhook's dead letters again. The engine checks every field and the role.
 */
#include <string.h>

#include "ops_internal.h"

/* events as the engine takes them: a string, or an array of strings
 * joined with commas into buf. */
static int events_arg(const json_t *body, char *buf, size_t size, const char **out,
                      cf_error *err)
{
    const json_t *v = json_object_get(body, "events");
    if (!json_is_array(v))
        return cf_op_arg_need(body, "events", out, err);
    size_t used = 0, i;
    const json_t *t;
    buf[0] = '\0';
    json_array_foreach(v, i, t)
    {
        const char *s = json_string_value(t);
        if (!s || strlen(s) != json_string_length(t) || !*s || strchr(s, ','))
            return cf_op_fail(err, CF_EINVALID, "events",
                              "events: item %zu must be an event type (a non-empty string)",
                              i + 1);
        size_t n = strlen(s);
        if (used + n + 2 > size)
            return cf_op_fail(err, CF_EINVALID, "events", "events: too long");
        if (used)
            buf[used++] = ',';
        memcpy(buf + used, s, n + 1);
        used += n;
    }
    if (!used)
        return cf_op_fail(err, CF_EUSAGE, "events", "events: required");
    *out = buf;
    return 0;
}

int cf_op_webhook_add(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *url, *events, *secret;
    char joined[2048];
    int rc;
    *out = NULL;
    if (!json_is_object(ctx->body))
        return cf_op_fail(err, CF_EUSAGE, "body",
                          "body: an object {url, events, secret} is needed");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ctx->body, key, v)
        if (strcmp(key, "url") != 0 && strcmp(key, "events") != 0 &&
            strcmp(key, "secret") != 0)
            return cf_op_fail(err, CF_EINVALID, "body",
                              "body: only url, events and secret are fields of a webhook");
    if ((rc = cf_op_arg_need(ctx->body, "url", &url, err)) < 0 ||
        (rc = events_arg(ctx->body, joined, sizeof joined, &events, err)) < 0 ||
        (rc = cf_op_arg_need(ctx->body, "secret", &secret, err)) < 0)
        return rc;
    rc = cf_webhook_add(ctx->engine, url, events, secret, out, err);
    if (rc == 0 && status)
        *status = 201;
    return rc;
}

int cf_op_webhook_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    (void)status;
    *out = NULL;
    return cf_webhook_list(ctx->engine, out, err);
}

int cf_op_webhook_remove(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    int64_t id;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_id(ctx->args, "id", &id, err);
    if (rc < 0 || (rc = cf_webhook_remove(ctx->engine, id, err)) < 0)
        return rc;
    *out = json_pack("{s:I, s:b}", "id", (json_int_t)id, "removed", 1);
    return *out ? 0 : cf_op_fail(err, CF_ENOMEM, NULL, "out of memory");
}

int cf_op_webhook_redeliver(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    int64_t id;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_id(ctx->args, "id", &id, err);
    return rc < 0 ? rc : cf_webhook_redeliver(ctx->engine, id, out, err);
}
