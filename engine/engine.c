/*
 * The embedding API (include/caseflow/caseflow.h). Each public function is
 * one command: it checks who is asking, runs the work through the state
 * machine or the store, and writes its audit record in the same transaction
 * as its effect. Reads of case data are audited as consultations, with the
 * justification the actor gave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "machine.h"

static const char *const known_roles[] = {"analyst", "officer", "supervisor", "authoriser",
                                          "administrator"};
#define NROLES (sizeof known_roles / sizeof known_roles[0])

static const char *const admin[] = {"administrator"};
static const char *const intake[] = {"analyst", "officer"};

/* ---- engine ---------------------------------------------------------------------- */

int cf_engine_open(const char *path, const cf_open_options *opts, cf_engine **out,
                   cf_error *err)
{
    cf_open_options none = {0};
    if (!opts)
        opts = &none;
    *out = NULL;
    cf_err_clear(err);
    if (sodium_init() < 0)
        return cf_err_set(err, CF_EINTERNAL, NULL, "libsodium failed to initialise");
    cf_engine *e = calloc(1, sizeof *e);
    if (!e)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    e->clock = -1;
    const char *pp = opts->plugin_path ? opts->plugin_path : getenv("CASEFLOW_PLUGIN_PATH");
    int rc = cf_loader_new(pp, &e->loader, err);
    if (!rc)
        rc = cf_store_open(path ? path : "caseflow.db", opts->create, opts->readonly,
                           &e->store, err);
    if (rc) {
        cf_engine_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

void cf_engine_close(cf_engine *e)
{
    if (!e)
        return;
    if (e->store && cf_store_in_tx(e->store))
        cf_store_rollback(e->store);
    for (size_t i = 0; i < e->nwfs; i++)
        cf_engine_unbind_free(e->wfs[i]);
    free(e->wfs);
    cf_store_close(e->store);
    cf_loader_free(e->loader);
    free(e->actor);
    free(e->reason);
    free(e->roles);
    free(e);
}

int cf_engine_set_actor(cf_engine *e, const char *actor, const char *reason)
{
    char *a = actor ? strdup(actor) : NULL, *r = reason ? strdup(reason) : NULL;
    if ((actor && !a) || (reason && !r)) {
        free(a);
        free(r);
        return CF_ENOMEM;
    }
    free(e->actor);
    free(e->reason);
    e->actor = a;
    e->reason = r;
    return 0;
}

void cf_engine_set_clock(cf_engine *e, int64_t now)
{
    e->clock = now;
}

int64_t cf_engine_now(const cf_engine *e)
{
    return e->clock >= 0 ? e->clock : cf_time_system();
}

int cf_engine_require(cf_engine *e, const char *const *any, size_t nany,
                      const char *what, const char **role, cf_error *err)
{
    if (!e->actor || !*e->actor)
        return cf_err_set(err, CF_EUSAGE, "actor",
                          "no actor: give --actor NAME or set CASEFLOW_ACTOR");
    char *roles = NULL;
    int disabled = 0;
    int rc = cf_store_user_get(e->store, e->actor, &roles, &disabled, err);
    if (rc)
        return rc;
    free(e->roles);
    e->roles = roles;
    if (disabled)
        return cf_err_set(err, CF_EDENIED, "actor", "user \"%s\" is disabled", e->actor);
    if (role)
        *role = NULL;
    if (!nany)
        return 0;
    for (size_t i = 0; i < nany; i++) {
        const char *p = roles;
        size_t n = strlen(any[i]);
        while (p && *p) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            if (len == n && strncmp(p, any[i], n) == 0) {
                if (role)
                    *role = any[i];
                return 0;
            }
            p = c ? c + 1 : NULL;
        }
    }
    char need[96] = "";
    for (size_t i = 0, used = 0; i < nany; i++)
        used += (size_t)snprintf(need + used, sizeof need - used, "%s%s", i ? " or " : "",
                                 any[i]);
    return cf_err_set(err, CF_EDENIED, "role", "%s (roles: %s) may not %s; needs %s",
                      e->actor, roles, what, need);
}

/* Run fn inside one transaction with its audit record. */
static int in_tx(cf_engine *e, cf_error *err)
{
    return e->batch ? 0 : cf_store_begin(e->store, err);
}

static int finish(cf_engine *e, int rc, cf_error *err)
{
    if (e->batch)
        return rc;
    if (rc) {
        cf_store_rollback(e->store);
        return rc;
    }
    return cf_store_commit(e->store, err);
}

static int audit(cf_engine *e, const char *role, const char *action, const char *case_id,
                 const json_t *payload, cf_error *err)
{
    char *text = payload ? cf_json_canonical(payload) : NULL;
    if (payload && !text)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int rc = cf_audit_append(e->store, cf_engine_now(e), e->actor, role, action, case_id,
                             e->reason, text, err);
    free(text);
    return rc;
}

/* ---- store and users --------------------------------------------------------------- */

int cf_store_init(cf_engine *e, cf_error *err)
{
    cf_err_clear(err);
    if (!e->actor || !*e->actor)
        return cf_err_set(err, CF_EUSAGE, "actor",
                          "init needs the first administrator: give --actor NAME");
    int rc = cf_store_begin(e->store, err);
    if (rc)
        return rc;
    int64_t n = 0;
    rc = cf_store_user_count(e->store, &n, err);
    if (!rc && n == 0) {
        unsigned char raw[16];
        char id[33];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(id, sizeof id, raw, sizeof raw);
        char created[32];
        cf_time_format(cf_engine_now(e), created);
        json_t *p = json_pack("{s:s, s:s}", "store_id", id, "administrator", e->actor);
        rc = cf_store_meta_set(e->store, "store_id", id, err);
        if (!rc)
            rc = cf_store_meta_set(e->store, "created_at", created, err);
        if (!rc)
            rc = cf_store_user_add(e->store, e->actor, "administrator", cf_engine_now(e),
                                   e->actor, err);
        if (!rc)
            rc = audit(e, "administrator", "store.init", NULL, p, err);
        json_decref(p);
    }
    if (rc) {
        cf_store_rollback(e->store);
        return rc;
    }
    return cf_store_commit(e->store, err);
}

static bool known_role(const char *r)
{
    for (size_t i = 0; i < NROLES; i++)
        if (strcmp(r, known_roles[i]) == 0)
            return true;
    return false;
}

static bool valid_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return false;
    }
    return n > 0 && n <= 64;
}

int cf_user_add(cf_engine *e, const char *name, const char *const *roles, cf_error *err)
{
    cf_err_clear(err);
    if (!name || !valid_name(name))
        return cf_err_set(err, CF_EINVALID, "name",
                          "user name must be 1-64 characters of A-Z a-z 0-9 . _ - @");
    char list[128] = "";
    size_t used = 0;
    for (size_t i = 0; roles && roles[i]; i++) {
        if (!known_role(roles[i]))
            return cf_err_set(err, CF_EINVALID, "role",
                              "unknown role \"%s\" (analyst, officer, supervisor, "
                              "authoriser, administrator)",
                              roles[i]);
        if (strstr(list, roles[i]))
            continue;
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "",
                                 roles[i]);
    }
    if (!used)
        return cf_err_set(err, CF_EINVALID, "role", "a user needs at least one --role");
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "add users", &role, err);
    if (rc || (rc = in_tx(e, err)))
        return rc;
    rc = cf_store_user_add(e->store, name, list, cf_engine_now(e), e->actor, err);
    json_t *p = json_pack("{s:s, s:s}", "user", name, "roles", list);
    if (!rc)
        rc = audit(e, role, "user.add", NULL, p, err);
    json_decref(p);
    return finish(e, rc, err);
}

int cf_user_disable(cf_engine *e, const char *name, cf_error *err)
{
    cf_err_clear(err);
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "disable users", &role, err);
    if (rc || (rc = in_tx(e, err)))
        return rc;
    rc = cf_store_user_disable(e->store, name, err);
    json_t *p = json_pack("{s:s}", "user", name);
    if (!rc)
        rc = audit(e, role, "user.disable", NULL, p, err);
    json_decref(p);
    return finish(e, rc, err);
}

int cf_user_list(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, admin, 1, "list users", NULL, err);
    return rc ? rc : cf_store_user_list(e->store, out, err);
}

/* ---- workflows ------------------------------------------------------------------- */

/* Findings that make a workflow unfit to deploy (warnings do not). */
static const json_t *first_error(const json_t *diags)
{
    size_t i;
    json_t *d;
    json_array_foreach(diags, i, d)
    {
        const char *rule = json_string_value(json_object_get(d, "rule"));
        if (rule && strcmp(rule, "no-targets") != 0)
            return d;
    }
    return NULL;
}

int cf_workflow_check(cf_engine *e, const char *path, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_loader *own = NULL;
    cf_loader *l = e ? e->loader : NULL;
    int rc = 0;
    if (!l && (rc = cf_loader_new(getenv("CASEFLOW_PLUGIN_PATH"), &own, err)))
        return rc;
    json_t *diags = json_array();
    rc = cf_wf_check(path, l ? l : own, diags, err);
    cf_loader_free(own);
    if (rc) {
        json_decref(diags);
        return rc;
    }
    *out = diags;
    if (json_array_size(diags))
        return cf_err_set(err, CF_EINVALID, "workflow", "%s: %zu finding(s)", path,
                          json_array_size(diags));
    return 0;
}

int cf_workflow_deploy(cf_engine *e, const char *path, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "deploy workflows", &role, err);
    if (rc)
        return rc;
    json_t *bundle = NULL;
    cf_wf *wf = NULL;
    if ((rc = cf_wf_bundle_from_file(path, &bundle, err)) ||
        (rc = cf_wf_load(bundle, &wf, err))) {
        json_decref(bundle);
        return rc;
    }
    json_decref(bundle);
    /* Instantiate every plugin now: a state whose plugin is missing or
     * refuses its config must stop the deploy, not the first case that
     * reaches it. */
    if ((rc = cf_engine_bind(e, wf, err))) {
        cf_engine_unbind_free(wf);
        return rc;
    }
    json_t *diags = json_array();
    if ((rc = cf_wf_check(path, e->loader, diags, err))) {
        json_decref(diags);
        cf_engine_unbind_free(wf);
        return rc;
    }
    const json_t *bad = first_error(diags);
    if (bad) {
        rc = cf_err_set(err, CF_EINVALID, json_string_value(json_object_get(bad, "rule")),
                        "workflow rejected: %s:%lld: %s: %s",
                        json_string_value(json_object_get(bad, "file")),
                        (long long)json_integer_value(json_object_get(bad, "line")),
                        json_string_value(json_object_get(bad, "rule")),
                        json_string_value(json_object_get(bad, "message")));
        json_decref(diags);
        cf_engine_unbind_free(wf);
        return rc;
    }
    json_decref(diags);
    int64_t latest = 0;
    char hash[65] = "";
    bool created = false;
    cf_error tmp;
    if ((rc = in_tx(e, err)))
        goto out;
    if (cf_store_workflow_latest(e->store, wf->name, &latest, hash, &tmp) &&
        tmp.code != CF_EMISSING) {
        rc = cf_err_set(err, tmp.code, tmp.field, "%s", tmp.message);
    } else if (latest && strcmp(hash, wf->hash) == 0) {
        created = false; /* the same source again: the same version */
    } else {
        char *text = cf_json_canonical(wf->bundle);
        rc = text ? cf_store_workflow_put(e->store, wf->name, latest + 1,
                                          wf->declared_version, wf->hash, text,
                                          cf_engine_now(e), e->actor, err)
                  : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        free(text);
        latest++;
        created = true;
        json_t *p = json_pack("{s:s, s:I, s:s}", "workflow", wf->name, "version",
                              (json_int_t)latest, "hash", wf->hash);
        if (!rc)
            rc = audit(e, role, "workflow.deploy", NULL, p, err);
        json_decref(p);
    }
    rc = finish(e, rc, err);
    if (!rc && out)
        *out = json_pack("{s:s, s:I, s:I, s:s, s:b}", "name", wf->name, "version",
                         (json_int_t)latest, "declared_version",
                         (json_int_t)wf->declared_version, "hash", wf->hash, "created",
                         created);
out:
    cf_engine_unbind_free(wf);
    return rc;
}

int cf_workflow_list(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    return rc ? rc : cf_store_workflow_list(e->store, out, err);
}

/* ---- referrals ----------------------------------------------------------------------- */

int cf_batch_begin(cf_engine *e, cf_error *err)
{
    cf_err_clear(err);
    if (e->batch)
        return cf_err_set(err, CF_EUSAGE, "batch", "a batch is already open");
    int rc = cf_store_begin(e->store, err);
    if (!rc)
        e->batch = true;
    return rc;
}

int cf_batch_commit(cf_engine *e, cf_error *err)
{
    cf_err_clear(err);
    if (!e->batch)
        return cf_err_set(err, CF_EUSAGE, "batch", "no batch is open");
    e->batch = false;
    return cf_store_commit(e->store, err);
}

void cf_batch_rollback(cf_engine *e)
{
    if (!e || !e->batch)
        return;
    e->batch = false;
    cf_store_rollback(e->store);
}

int cf_refer(cf_engine *e, const char *workflow, const json_t *referral, json_t **out,
             cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, intake, 2, "take in referrals", &role, err);
    if (rc)
        return rc;
    const char *name = workflow ? workflow : "polit";
    int64_t version;
    cf_wf *wf;
    if ((rc = cf_store_workflow_latest(e->store, name, &version, NULL, err)) ||
        (rc = cf_engine_workflow(e, name, version, &wf, err)))
        return rc;
    rc = e->batch ? cf_store_savepoint(e->store, err) : cf_store_begin(e->store, err);
    if (rc)
        return rc;
    rc = cf_machine_refer(e, wf, referral, role, out, err);
    if (e->batch) {
        if (rc)
            cf_store_rollback_to(e->store);
        else
            rc = cf_store_release(e->store, err);
    } else {
        rc = finish(e, rc, err);
    }
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- acting ------------------------------------------------------------------------- */

static bool valid_event(const char *ev)
{
    size_t n = 0;
    for (; ev[n]; n++) {
        char c = ev[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return n > 0 && n <= 64;
}

int cf_act(cf_engine *e, const char *case_id, const char *event, const json_t *data,
           int64_t expect_revision, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    if (!event || !valid_event(event))
        return cf_err_set(err, CF_EINVALID, "event",
                          "event names are 1-64 characters of a-z 0-9 _ .");
    if (data && !json_is_object(data))
        return cf_err_set(err, CF_EINVALID, "data", "%s rejected: data must be a JSON object",
                          event);
    if (e->batch)
        return cf_err_set(err, CF_EUSAGE, "batch", "cf_act cannot run inside a batch");
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    return cf_machine_act(e, case_id, event, data, expect_revision, false, NULL, out, err);
}

int cf_tick(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    json_t *fired = json_array();
    for (;;) {
        json_t *due;
        if ((rc = cf_store_timer_due(e->store, cf_engine_now(e), 256, &due, err)))
            break;
        size_t n = json_array_size(due), i, done = 0;
        json_t *t;
        json_array_foreach(due, i, t)
        {
            const char *id = json_string_value(json_object_get(t, "case"));
            const char *ev = json_string_value(json_object_get(t, "event"));
            json_t *res = NULL;
            cf_error terr;
            cf_err_clear(&terr);
            int trc = cf_machine_act(e, id, ev, NULL, -1, true, ev, &res, &terr);
            if (trc == CF_EINVALID || trc == CF_ENOTFOUND) {
                /* The case no longer takes this event: the timer is stale. */
                if (!(trc = cf_store_begin(e->store, &terr))) {
                    trc = cf_store_timer_delete(e->store, id, ev, &terr);
                    trc = trc ? trc : cf_store_commit(e->store, &terr);
                    if (trc)
                        cf_store_rollback(e->store);
                }
                done++;
                continue;
            }
            if (trc == CF_ECONFLICT)
                continue; /* someone else moved the case; the next tick retries */
            if (trc) {
                rc = cf_err_set(err, trc, terr.field, "tick: %s %s: %s", id, ev,
                                terr.message);
                break;
            }
            json_array_append_new(fired, json_pack("{s:s, s:s, s:o}", "id", id, "event", ev,
                                                   "state", json_object_get(res, "state")
                                                       ? json_incref(json_object_get(res, "state"))
                                                       : json_null()));
            json_decref(res);
            done++;
        }
        json_decref(due);
        if (rc || n < 256 || done == 0)
            break;
    }
    if (rc) {
        json_decref(fired);
        return rc;
    }
    *out = fired;
    return 0;
}

/* ---- reads ---------------------------------------------------------------------------- */

/* A read of case data: audited as a consultation in its own transaction. */
int cf_engine_consult(cf_engine *e, const char *case_id, const char *what, cf_error *err)
{
    int rc = cf_store_begin(e->store, err);
    if (rc)
        return rc;
    json_t *p = json_pack("{s:s, s:s?}", "read", what, "case", case_id);
    rc = audit(e, NULL, "consultation", case_id, p, err);
    json_decref(p);
    if (rc) {
        cf_store_rollback(e->store);
        return rc;
    }
    return cf_store_commit(e->store, err);
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];
    if (!t)
        return json_null();
    cf_time_format(t, buf);
    return json_string(buf);
}

int cf_case_get(cf_engine *e, const char *case_id, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    cf_case_row r;
    if ((rc = cf_store_case_get(e->store, case_id, &r, err)))
        return rc;
    json_t *tasks = NULL, *timers = NULL;
    if (!(rc = cf_store_task_list(e->store, case_id, &tasks, err)) &&
        !(rc = cf_store_timer_list(e->store, case_id, &timers, err)))
        rc = cf_engine_consult(e, case_id, "case", err);
    if (!rc) {
        *out = json_pack("{s:s, s:{s:s, s:I}, s:s, s:I, s:s, s:s, s:O, s:o, s:o, s:o, "
                         "s:o, s:o}",
                         "id", r.id, "workflow", "name", r.workflow, "version",
                         (json_int_t)r.version, "state", r.state, "revision",
                         (json_int_t)r.revision, "source", r.source, "reference",
                         r.reference, "data", r.data, "created_at",
                         time_or_null(r.created_at), "updated_at",
                         time_or_null(r.updated_at), "deadline_at",
                         time_or_null(r.deadline_at), "tasks", tasks, "timers", timers);
        tasks = timers = NULL;
        if (!*out)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    json_decref(tasks);
    json_decref(timers);
    cf_case_row_clear(&r);
    return rc;
}

int cf_case_list(cf_engine *e, const char *state, size_t limit, json_t **out,
                 cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_store_case_list(e->store, state, limit, out, err)))
        return rc;
    if ((rc = cf_engine_consult(e, NULL, state ? state : "list", err))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int cf_case_history(cf_engine *e, const char *case_id, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    cf_case_row r;
    if ((rc = cf_store_case_get(e->store, case_id, &r, err)))
        return rc;
    cf_case_row_clear(&r);
    if ((rc = cf_store_event_list(e->store, case_id, out, err)))
        return rc;
    if ((rc = cf_engine_consult(e, case_id, "history", err))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- audit and plugins ------------------------------------------------------------------ */

int cf_audit_verify(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    return cf_audit_verify_store(e->store, out, err);
}

/* Plugin inspection needs no store: without an engine, a loader on
 * CASEFLOW_PLUGIN_PATH serves the one call. */
int cf_plugin_list(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_loader *own = NULL;
    int rc = e ? 0 : cf_loader_new(getenv("CASEFLOW_PLUGIN_PATH"), &own, err);
    if (!rc)
        rc = cf_loader_list(e ? e->loader : own, out, err);
    cf_loader_free(own);
    return rc;
}

int cf_plugin_info(cf_engine *e, const char *file, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_loader *own = NULL;
    const cf_module *m;
    int rc = e ? 0 : cf_loader_new(getenv("CASEFLOW_PLUGIN_PATH"), &own, err);
    if (!rc && !(rc = cf_loader_open_file(e ? e->loader : own, file, &m, err)) &&
        !(*out = cf_loader_describe(m)))
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    cf_loader_free(own);
    return rc;
}
