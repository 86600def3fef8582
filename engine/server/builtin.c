/*
 * The routes caseflowd answers itself, outside the ops table and without
 * a caller's identity (none of them shows case data): /healthz (the
 * process is up), /readyz (the store is open and a transaction commits
 * through the writer), /metrics (Prometheus text, with the case counts of
 * cf_stats) and /v1/openapi.yaml (the API document, read at start).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#ifndef CFD_OPENAPI
#define CFD_OPENAPI ""
#endif
#ifndef CFD_OPENAPI_SRC
#define CFD_OPENAPI_SRC ""
#endif

#define OPENAPI_MAX (8u << 20)

static const char openapi_default[] = CFD_OPENAPI, openapi_src[] = CFD_OPENAPI_SRC;

static enum MHD_Result healthz(struct cfd_req *r)
{
    json_t *ok = json_pack("{s:s}", "status", "ok");
    enum MHD_Result res = cfd_respond_json(r, 200, ok);
    json_decref(ok);
    return res;
}

struct stats_job {
    json_t *out;
};

static int stats_job(cf_engine *e, void *arg, cf_error *err)
{
    struct stats_job *j = arg;
    return cf_stats(e, &j->out, err);
}

/* cf_stats through the writer: a transaction that must commit. */
static int stats(struct cfd_req *r, json_t **out, cf_error *err)
{
    struct stats_job j = {NULL};
    int rc = cfd_writer_run(r->http->writer, NULL, NULL, stats_job, &j, err);
    if (rc) {
        json_decref(j.out);
        j.out = NULL;
    }
    *out = j.out;
    return rc;
}

static enum MHD_Result readyz(struct cfd_req *r)
{
    json_t *s = NULL;
    cf_error err;
    memset(&err, 0, sizeof err);
    if (stats(r, &s, &err) != 0) {
        r->retry_after = 5;
        return cfd_respond_problem(r, 503, err.code ? err.code : CF_EINTERNAL, err.field,
                                   "not ready: %s", err.message);
    }
    /* A store whose stats count workflows must have one deployed. */
    json_t *wf = json_object_get(s, "workflows");
    if (wf && json_integer_value(wf) == 0) {
        json_decref(s);
        r->retry_after = 5;
        return cfd_respond_problem(r, 503, CF_EMISSING, "workflow",
                                   "not ready: no workflow is deployed");
    }
    json_t *ok = json_pack("{s:s, s:O?}", "status", "ready", "feed_head",
                           json_object_get(s, "feed_head"));
    enum MHD_Result res = cfd_respond_json(r, 200, ok);
    json_decref(ok);
    json_decref(s);
    return res;
}

/* Gauges from cf_stats: cases by state, open tasks, webhook queues. */
static void stats_gauges(cfd_metrics *m, const json_t *s)
{
    const char *state;
    json_t *n;
    cfd_metric_clear(m, "caseflowd_cases");
    json_object_foreach((json_t *)json_object_get(s, "cases"), state, n)
        cfd_metric_set(m, "caseflowd_cases", (double)json_integer_value(n), "state", state,
                       NULL);
    json_t *tasks = json_object_get(s, "open_tasks");
    if (json_is_integer(tasks))
        cfd_metric_set(m, "caseflowd_open_tasks", (double)json_integer_value(tasks), NULL);
    json_t *hooks = json_object_get(s, "webhooks");
    json_t *pending = json_object_get(hooks, "pending"), *dead = json_object_get(hooks, "dead");
    if (json_is_integer(pending))
        cfd_metric_set(m, "caseflowd_webhook_pending", (double)json_integer_value(pending),
                       NULL);
    if (json_is_integer(dead))
        cfd_metric_set(m, "caseflowd_webhook_dead", (double)json_integer_value(dead), NULL);
}

static enum MHD_Result metrics(struct cfd_req *r)
{
    json_t *s = NULL;
    cf_error err;
    if (stats(r, &s, &err) == 0) /* without the store: the process's own metrics */
        stats_gauges(r->http->metrics, s);
    json_decref(s);
    size_t len = 0;
    char *text = cfd_metrics_render(r->http->metrics, &len);
    if (!text)
        return MHD_NO;
    enum MHD_Result res =
        cfd_respond_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return res;
}

static enum MHD_Result openapi(struct cfd_req *r)
{
    if (!r->http->openapi)
        return cfd_respond_problem(r, 404, CF_ENOTFOUND, "openapi",
                                   "the API document is not installed");
    return cfd_respond_text(r, 200, "application/yaml", r->http->openapi,
                            r->http->openapi_len);
}

static const struct {
    const char *path;
    cfd_builtin_fn fn;
} builtins[] = {
    {"/healthz", healthz},
    {"/readyz", readyz},
    {"/metrics", metrics},
    {"/v1/openapi.yaml", openapi},
};

cfd_builtin_fn cfd_builtin_find(const char *url, const char **route)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(url, builtins[i].path) == 0) {
            *route = builtins[i].path;
            return builtins[i].fn;
        }
    return NULL;
}

void cfd_builtin_load_openapi(cfd_http *h)
{
    const char *path = h->cfg->openapi;
    h->openapi = cfd_read_file(path, OPENAPI_MAX, &h->openapi_len);
    if (!h->openapi && errno == ENOENT && openapi_src[0] &&
        strcmp(path, openapi_default) == 0) { /* the default, run from the build tree */
        path = openapi_src;
        h->openapi = cfd_read_file(path, OPENAPI_MAX, &h->openapi_len);
    }
    if (!h->openapi) {
        char now[40];
        cfd_log_time(now, sizeof now);
        fprintf(stderr, "%s openapi %s: %s; /v1/openapi.yaml answers 404\n", now,
                h->cfg->openapi, strerror(errno));
    }
}
