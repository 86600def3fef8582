/*
 * The routes caseflowd answers itself, outside the ops table and without
 * a caller's identity (none of them shows case data): /healthz (the
 * process is up), /readyz (the store is open and a transaction commits
 * through the writer; it names the store's backend and database and says
 * whether it is connected), /metrics (Prometheus text, with the case counts
 * of cf_stats) and /v1/openapi.yaml (the API document, read at start).
 */
#include <errno.h>
#include <pthread.h>
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
    json_t *db; /* cf_store_describe of the writer's store, or NULL */
};

static int stats_job(cf_engine *e, void *arg, cf_error *err)
{
    struct stats_job *j = arg;
    cf_error ignored;
    if (!j->db && cf_store_describe(e, &j->db, &ignored) != 0)
        j->db = NULL;
    return cf_stats(e, &j->out, err);
}

/* cf_stats through the writer: a transaction that must commit. *db (may be
 * NULL; new, even on failure when the job ran): the store it ran on. */
static int stats_db(struct cfd_req *r, json_t **out, json_t **db, cf_error *err)
{
    struct stats_job j = {NULL, NULL};
    int rc = cfd_writer_run(r->http->writer, NULL, NULL, stats_job, &j, err);
    if (rc) {
        json_decref(j.out);
        j.out = NULL;
    }
    *out = j.out;
    if (db)
        *db = j.db;
    else
        json_decref(j.db);
    return rc;
}

static int stats(struct cfd_req *r, json_t **out, cf_error *err)
{
    return stats_db(r, out, NULL, err);
}

/* The store caseflowd serves, as the writer's engine described it at the
 * first transaction that committed (it does not change while the process
 * runs): what /readyz names when the database stops answering, since a
 * transaction that cannot begin runs no job. Before any has committed, the
 * configured store with any password cut out. */
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *db_known;

static void db_remember(const json_t *db)
{
    pthread_mutex_lock(&db_lock);
    if (!db_known && db)
        db_known = json_deep_copy(db);
    pthread_mutex_unlock(&db_lock);
}

/* A new {backend, store} for the store caseflowd serves (NULL: no memory). */
static json_t *db_describe(struct cfd_req *r)
{
    pthread_mutex_lock(&db_lock);
    json_t *d = db_known ? json_deep_copy(db_known) : NULL;
    pthread_mutex_unlock(&db_lock);
    if (d)
        return d;
    const char *store = r->http->cfg->store ? r->http->cfg->store : "";
    bool pg = strncmp(store, "postgresql://", 13) == 0 || strncmp(store, "postgres://", 11) == 0;
    /* user:password@host: keep the user, drop the password */
    const char *auth = pg ? strstr(store, "://") + 3 : NULL;
    size_t authlen = auth ? strcspn(auth, "/?#") : 0;
    const char *at = auth ? memchr(auth, '@', authlen) : NULL;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    char *shown = NULL;
    if (colon && (shown = malloc(strlen(store) + 1)))
        snprintf(shown, strlen(store) + 1, "%.*s%s", (int)(colon - store), store, at);
    d = json_pack("{s:s, s:s}", "backend", pg ? "postgresql" : "sqlite", "store",
                  colon ? (shown ? shown : "(a PostgreSQL URI)") : store);
    free(shown);
    return d;
}

/* Ready: a transaction commits through the writer and a workflow is
 * deployed. The answer names the store's backend and the store (a URI
 * without its password) and whether its database answered: a database
 * that is down or unreachable is a 503 saying so, with the reason. */
static enum MHD_Result readyz(struct cfd_req *r)
{
    json_t *s = NULL, *db = NULL;
    cf_error err;
    memset(&err, 0, sizeof err);
    if (stats_db(r, &s, &db, &err) != 0) {
        r->retry_after = 5;
        if (!db)
            db = db_describe(r);
        const char *backend = json_string_value(json_object_get(db, "backend"));
        const char *store = json_string_value(json_object_get(db, "store"));
        /* an I/O error or an unreachable server: the connection is gone */
        bool down = err.code == CF_EIO || err.code == CF_EMISSING;
        enum MHD_Result res;
        if (backend && store && down)
            res = cfd_respond_problem(r, 503, err.code, err.field,
                                      "not ready: the %s database %s is not connected: %s",
                                      backend, store, err.message);
        else if (backend && store)
            res = cfd_respond_problem(r, 503, err.code ? err.code : CF_EINTERNAL, err.field,
                                      "not ready (%s store %s): %s", backend, store,
                                      err.message);
        else
            res = cfd_respond_problem(r, 503, err.code ? err.code : CF_EINTERNAL, err.field,
                                      "not ready: %s", err.message);
        json_decref(db);
        return res;
    }
    db_remember(db);
    if (db)
        json_object_set_new(db, "connected", json_true());
    /* A store whose stats count workflows must have one deployed. */
    json_t *wf = json_object_get(s, "workflows");
    if (wf && json_integer_value(wf) == 0) {
        json_decref(s);
        json_decref(db);
        r->retry_after = 5;
        return cfd_respond_problem(r, 503, CF_EMISSING, "workflow",
                                   "not ready: no workflow is deployed");
    }
    json_t *ok = json_pack("{s:s, s:O?, s:o?}", "status", "ready", "feed_head",
                           json_object_get(s, "feed_head"), "database", db);
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
