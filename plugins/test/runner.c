/*
 * The runner of libcaseflow-plugin-test (plugin-test.h): a real engine on an
 * in-memory store with a test clock, one user per role and one workflow
 * deployed, driven through the public API (caseflow.h) only, as
 * engine/scenario.c builds its stores.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptest-internal.h"

#define ADMIN "admin"

struct cfpt_engine {
    cf_engine *e;
    char *workflow; /* the deployed workflow's name */
};

/* Fill err; returns code. */
static int failed(cf_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failed(cf_error *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = code;
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void clear(cf_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

/* The runner's users beside the administrator init makes. */
static int add_users(cf_engine *e, cf_error *err)
{
    static const char *const roles[] = {"analyst", "officer", "supervisor", "authoriser"};

    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        const char *const list[] = {roles[i], NULL};
        int rc = cf_user_add(e, roles[i], list, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Write text as workflow.lua in a new private directory (dir, 4096 bytes). */
static int write_workflow(const char *text, char *dir, char *file, cf_error *err)
{
    const char *tmp = getenv("TMPDIR");
    FILE *fp;
    size_t n = strlen(text);

    snprintf(dir, 4096, "%s/cfpt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return failed(err, CF_EIO, "workflow_text", "cannot make a temporary directory in %s",
                      tmp && *tmp ? tmp : "/tmp");
    snprintf(file, 4096 + 16, "%s/workflow.lua", dir);
    fp = fopen(file, "wb");
    bool bad = !fp;
    if (fp) { /* closed exactly once, whether the write or the close fails */
        bad = fwrite(text, 1, n, fp) != n;
        bad = fclose(fp) != 0 || bad;
    }
    if (bad) {
        remove(file);
        rmdir(dir);
        return failed(err, CF_EIO, "workflow_text", "cannot write %s", file);
    }
    return 0;
}

static int deploy(cfpt_engine *r, const cfpt_engine_options *o, cf_error *err)
{
    char dir[4096], file[4096 + 16];
    const char *path = o->workflow_file;
    json_t *out = NULL;
    int rc;

    if (o->workflow_text && (rc = write_workflow(o->workflow_text, dir, file, err)))
        return rc;
    if (o->workflow_text)
        path = file;
    rc = cf_workflow_deploy(r->e, path, &out, err);
    if (o->workflow_text) {
        remove(file);
        rmdir(dir);
    }
    if (rc == 0) {
        const char *name = json_string_value(json_object_get(out, "name"));
        r->workflow = name ? strdup(name) : NULL;
        if (!r->workflow)
            rc = failed(err, CF_ENOMEM, NULL, "out of memory");
    }
    json_decref(out);
    return rc;
}

cfpt_engine *cfpt_engine_new(const cfpt_engine_options *opts, cf_error *err)
{
    cf_open_options oo;
    cf_init_options io;
    cfpt_engine *r;
    int rc;

    clear(err);
    if (!opts || !opts->workflow_file == !opts->workflow_text) {
        failed(err, CF_EUSAGE, "workflow",
               "give exactly one of workflow_file and workflow_text");
        return NULL;
    }
    for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++) {
        if (opts->reserved[i]) {
            failed(err, CF_EUSAGE, "reserved", "reserved options must be zero");
            return NULL;
        }
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        failed(err, CF_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    memset(&oo, 0, sizeof oo);
    oo.create = 1;
    oo.plugin_path = opts->plugin_path;
    memset(&io, 0, sizeof io);
    io.test_clock = 1;
    if ((rc = cf_engine_open(":memory:", &oo, &r->e, err)) ||
        (rc = cf_engine_set_clock(r->e, opts->now ? opts->now : CFPT_EPOCH)) ||
        (rc = cf_engine_set_actor(r->e, ADMIN, "plugin test set-up")) ||
        (rc = cf_store_init_with(r->e, &io, err)) || (rc = add_users(r->e, err)) ||
        (rc = deploy(r, opts, err))) {
        if (err && !err->code)
            failed(err, rc, NULL, "%s", cf_strerror(rc));
        cfpt_engine_free(r);
        return NULL;
    }
    return r;
}

void cfpt_engine_free(cfpt_engine *r)
{
    if (!r)
        return;
    cf_engine_close(r->e);
    free(r->workflow);
    free(r);
}

cf_engine *cfpt_engine_handle(cfpt_engine *r)
{
    return r ? r->e : NULL;
}

int cfpt_engine_user(cfpt_engine *r, const char *name, const char *const *roles,
                     cf_error *err)
{
    int rc;

    clear(err);
    if (!r || !name || !roles)
        return failed(err, CF_EUSAGE, "user", "a runner, a name and roles are needed");
    if ((rc = cf_engine_set_actor(r->e, ADMIN, "plugin test set-up")))
        return failed(err, rc, "actor", "cannot act as %s", ADMIN);
    return cf_user_add(r->e, name, roles, err);
}

void cfpt_engine_clock(cfpt_engine *r, int64_t now)
{
    if (r)
        cf_engine_set_clock(r->e, now);
}

/* Parse JSON object text (NULL: *out NULL). 0 or CF_EINVALID naming what. */
static int object_arg(const char *text, const char *what, json_t **out, cf_error *err)
{
    *out = NULL;
    if (!text)
        return 0;
    *out = cfpt_i_object(text);
    if (!*out)
        return failed(err, CF_EINVALID, what, "%s is not a JSON object", what);
    return 0;
}

int cfpt_engine_refer(cfpt_engine *r, const char *actor, const char *referral, char id[64],
                      cf_error *err)
{
    json_t *ref, *out = NULL;
    int rc;

    clear(err);
    if (!r || !referral)
        return failed(err, CF_EUSAGE, "referral", "a runner and a referral are needed");
    if ((rc = object_arg(referral, "referral", &ref, err)))
        return rc;
    if ((rc = cf_engine_set_actor(r->e, actor ? actor : "analyst", "plugin test"))) {
        json_decref(ref);
        return failed(err, rc, "actor", "cannot act as %s", actor ? actor : "analyst");
    }
    rc = cf_refer(r->e, r->workflow, ref, &out, err);
    if (rc == 0 && id)
        snprintf(id, 64, "%s", json_string_value(json_object_get(out, "id")));
    json_decref(ref);
    json_decref(out);
    return rc;
}

int cfpt_engine_act(cfpt_engine *r, const char *actor, const char *id, const char *event,
                    const char *data, cf_error *err)
{
    json_t *d;
    int rc;

    clear(err);
    if (!r || !actor || !id || !event)
        return failed(err, CF_EUSAGE, "event",
                      "a runner, an actor, a case and an event are needed");
    if ((rc = object_arg(data, "data", &d, err)))
        return rc;
    if ((rc = cf_engine_set_actor(r->e, actor, "plugin test"))) {
        json_decref(d);
        return failed(err, rc, "actor", "cannot act as %s", actor);
    }
    rc = cf_act(r->e, id, event, d, -1, NULL, err);
    json_decref(d);
    return rc;
}

int cfpt_engine_tick(cfpt_engine *r, size_t *fired, cf_error *err)
{
    json_t *out = NULL;
    int rc;

    clear(err);
    if (fired)
        *fired = 0;
    if (!r)
        return failed(err, CF_EUSAGE, NULL, "no runner");
    /* As the service's clock does: the engine itself, no person. */
    cf_engine_set_actor(r->e, NULL, NULL);
    rc = cf_tick(r->e, &out, err);
    if (fired) {
        json_t *t;
        size_t i;
        json_array_foreach(out, i, t) if (!json_object_get(t, "error"))(*fired)++;
    }
    json_decref(out);
    return rc;
}

json_t *cfpt_engine_case(cfpt_engine *r, const char *id)
{
    json_t *out = NULL;
    cf_error err;

    if (!r || !id || cf_engine_set_actor(r->e, "supervisor", "plugin test check"))
        return NULL;
    if (cf_case_get(r->e, id, &out, &err))
        return NULL;
    return out;
}

const char *cfpt_engine_state(cfpt_engine *r, const char *id, char *out, size_t size)
{
    json_t *c = cfpt_engine_case(r, id);
    const char *s = json_string_value(json_object_get(c, "state"));

    if (out && size)
        snprintf(out, size, "%s", s ? s : "");
    json_decref(c);
    return out;
}
