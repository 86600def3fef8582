/*
 * Workflows and plugins: linting a workflow file, deploying it as a new
 * version (every plugin instantiated first), listing versions; and the
 * plugins found on the search path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integrity.h"
#include "machine.h"

static const char *const admin[] = {"administrator"};

/* ---- workflows ------------------------------------------------------------------- */

/* Findings that make a workflow unfit to deploy: all but the warning
 * no-result (a guard that never returns a state may stay on purpose; a
 * function without declared targets is an error since issue 9). */
/* A finding for the reviewer ("severity": "warning") that blocks nothing. */
static bool cf_finding_is_warning(const json_t *finding)
{
    const char *sev = json_string_value(json_object_get(finding, "severity"));
    return sev && strcmp(sev, "warning") == 0;
}

static const json_t *first_error(const json_t *diags)
{
    size_t i;
    json_t *d;
    json_array_foreach(diags, i, d)
    {
        const char *rule = json_string_value(json_object_get(d, "rule"));
        if (rule && strcmp(rule, "no-result") != 0 && !cf_finding_is_warning(d))
            return d;
    }
    return NULL;
}

int cf_workflow_check(cf_engine *e, const char *path, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_loader *own = NULL;
    cf_loader *l = NULL;
    int rc = e ? cf_engine_loader(e, &l, err) : 0;
    if (rc || (!l && (rc = cf_loader_new(getenv("CASEFLOW_PLUGIN_PATH"), &own, err))))
        return rc;
    json_t *diags = json_array();
    rc = cf_wf_check(path, l ? l : own, diags, err);
    /* A clean lint still has to survive its plugins' init(): a bad grading
     * table is found here, not at deploy. */
    if (!rc && !first_error(diags)) {
        json_t *bundle = NULL;
        cf_wf *wf = NULL;
        cf_error berr;
        cf_err_clear(&berr);
        if (cf_wf_bundle_from_file(path, &bundle, &berr) == 0 &&
            cf_wf_load(bundle, &wf, &berr) == 0 &&
            cf_wf_bind_plugins(l ? l : own, wf, &berr) != 0)
            json_array_append_new(diags, json_pack("{s:s, s:i, s:s, s:s}", "file", path,
                                                   "line", 0, "rule", "plugin-init",
                                                   "message", berr.message));
        json_decref(bundle);
        cf_engine_unbind_free(wf);
    }
    cf_loader_free(own);
    if (rc) {
        json_decref(diags);
        return rc;
    }
    *out = diags;
    size_t errors = 0, i;
    json_t *d;
    json_array_foreach(diags, i, d)
        errors += !cf_finding_is_warning(d);
    if (errors)
        return cf_err_set(err, CF_EINVALID, "workflow", "%s: %zu finding(s)", path, errors);
    return 0;
}


/* ---- the active version ---------------------------------------------------- */

/* The policy key naming the active version of name: "workflow.active:NAME".
 * Names of more than ACTIVE_NAME_MAX characters have no such key (the key
 * must fit the chain's action names): they cannot be pinned. */
#define ACTIVE_PREFIX "workflow.active:"
#define ACTIVE_NAME_MAX 48

static bool active_key(const char *name, char key[80])
{
    if (strlen(name) > ACTIVE_NAME_MAX)
        return false;
    snprintf(key, 80, ACTIVE_PREFIX "%s", name);
    return true;
}

/* The pinned version of name (0: none pinned). */
static int pinned(cf_engine *e, const char *name, int64_t *version, cf_error *err)
{
    char key[80], *v = NULL;
    *version = 0;
    if (!active_key(name, key))
        return 0;
    int rc = cf_store_policy_get(e->store, key, &v, NULL, err);
    if (!rc && v)
        *version = atoll(v);
    free(v);
    return rc;
}

int cf_engine_workflow_active(cf_engine *e, const char *name, int64_t *version, cf_error *err)
{
    int rc = pinned(e, name, version, err);
    if (rc || *version > 0)
        return rc;
    return cf_store_workflow_latest(e->store, name, version, NULL, err);
}

/* Pin version of name as the active one (an audited policy row). */
static int pin(cf_engine *e, const char *role, const char *name, int64_t version,
               cf_error *err)
{
    char key[80], value[24];
    if (!active_key(name, key))
        return cf_err_set(err, CF_EINVALID, "workflow",
                          "workflow %s: only names of at most %d characters can have an "
                          "active version other than the latest",
                          name, ACTIVE_NAME_MAX);
    snprintf(value, sizeof value, "%lld", (long long)version);
    return cf_engine_policy_record(e, role, key, value, err);
}

/* A change to what new cases start on says why: the command's --reason,
 * or over HTTP the X-Caseflow-Reason header. */
static int need_reason(cf_engine *e, const char *what, cf_error *err)
{
    if (e->reason && e->reason[0])
        return 0;
    if (e->served)
        return cf_err_set(err, CF_EUSAGE, "reason",
                          "%s needs a reason: send it in the X-Caseflow-Reason header or the "
                          "reason parameter",
                          what);
    return cf_err_set(err, CF_EUSAGE, "reason",
                      "%s needs --reason (why this changes what new cases run on)", what);
}

/* The existing version of name whose source hashes to hash (0: none). */
static int version_by_hash(cf_engine *e, const char *name, const char *hash, int64_t *version,
                           cf_error *err)
{
    json_t *list = NULL, *w;
    size_t i;
    *version = 0;
    int rc = cf_store_workflow_list(e->store, &list, err);
    json_array_foreach(list, i, w)
    {
        if (strcmp(json_string_value(json_object_get(w, "name")), name) == 0 &&
            strcmp(json_string_value(json_object_get(w, "hash")), hash) == 0)
            *version = json_integer_value(json_object_get(w, "version"));
    }
    json_decref(list);
    return rc;
}

/* ---- deploy ------------------------------------------------------------------ */

/* The workflow in path, loaded, bound to its plugins and checked: *wf new
 * (cf_engine_unbind_free). */
static int load_checked(cf_engine *e, const char *path, cf_wf **out, cf_error *err)
{
    json_t *bundle = NULL;
    cf_wf *wf = NULL;
    int rc;
    *out = NULL;
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
    cf_loader *l;
    if ((rc = cf_engine_loader(e, &l, err)) || (rc = cf_wf_check(path, l, diags, err))) {
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
    *out = wf;
    return 0;
}

/* What a deploy of wf does: the version it is (or becomes), whether it is
 * new, and the pin to write (0: none) so that the active version ends as
 * flags ask. */
struct plan {
    int64_t version, latest, was_active, pin;
    bool created, active;
};

static int plan_deploy(cf_engine *e, const cf_wf *wf, unsigned flags, struct plan *p,
                       cf_error *err)
{
    int64_t pinv = 0;
    cf_error tmp;
    memset(p, 0, sizeof *p);
    int rc = cf_store_workflow_latest(e->store, wf->name, &p->latest, NULL, &tmp);
    if (rc && tmp.code != CF_EMISSING)
        return cf_err_set(err, tmp.code, tmp.field, "%s", tmp.message);
    if ((rc = version_by_hash(e, wf->name, wf->hash, &p->version, err)) ||
        (rc = pinned(e, wf->name, &pinv, err)))
        return rc;
    p->was_active = pinv ? pinv : p->latest;
    p->created = p->version == 0; /* the same source again: the same version */
    if (p->created)
        p->version = p->latest + 1;
    int64_t latest_after = p->created ? p->version : p->latest;
    if (flags & CF_DEPLOY_INACTIVE) {
        if (!p->was_active)
            return cf_err_set(err, CF_EINVALID, "inactive",
                              "--inactive: %s has no version yet to stay active; its first "
                              "version is active",
                              wf->name);
        /* the active one stays; pinned when it is no longer the latest */
        p->pin = !pinv && p->was_active != latest_after ? p->was_active : 0;
        p->active = p->version == p->was_active;
    } else {
        p->active = true;
        /* pinned (or not the latest): pin it; else the latest is active */
        p->pin = (pinv || p->version != latest_after) && pinv != p->version ? p->version : 0;
    }
    return 0;
}

int cf_workflow_deploy_ex(cf_engine *e, const char *path, unsigned flags, json_t **out,
                          cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "deploy workflows", &role, err);
    if (rc)
        return rc;
    if ((flags & CF_DEPLOY_NEED_REASON) && (rc = need_reason(e, "deploy", err)))
        return rc;
    cf_wf *wf = NULL;
    if ((rc = load_checked(e, path, &wf, err)))
        return rc;
    struct plan p;
    bool dry = flags & CF_DEPLOY_DRY_RUN;
    if (dry) {
        rc = plan_deploy(e, wf, flags, &p, err);
    } else if (!(rc = cf_engine_begin(e, err))) {
        rc = plan_deploy(e, wf, flags, &p, err);
        if (!rc && p.created) {
            int64_t at = cf_engine_now(e), seq = 0;
            rc = cf_engine_audit_text(e, role, "workflow.deploy", NULL,
                                      cf_integrity_workflow_payload(wf->name, p.version,
                                                                    wf->declared_version,
                                                                    wf->hash, at, e->actor),
                                      &seq, err);
            char *text = rc ? NULL : cf_json_canonical(wf->bundle);
            if (!rc)
                rc = text ? cf_store_workflow_put(e->store, wf->name, p.version,
                                                  wf->declared_version, wf->hash, text, at,
                                                  e->actor, seq, err)
                          : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
            free(text);
            /* The builds just bound and checked are the ones this version
             * runs: a command that finds another refuses (pins.c). */
            json_t *pins = rc ? NULL : cf_pins_of(wf);
            if (!rc)
                rc = pins ? cf_engine_pins_record(e, role, wf->name, p.version, pins, err)
                          : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
            json_decref(pins);
        }
        if (!rc && p.pin)
            rc = pin(e, role, wf->name, p.pin, err);
        rc = cf_engine_finish(e, rc, err);
    }
    /* The pins the version runs on: the builds just checked for a new one,
     * the recorded ones for a version deployed before (null: unpinned). */
    json_t *pins = NULL;
    if (!rc && out && p.created)
        pins = cf_pins_of(wf);
    else if (!rc && out)
        rc = cf_engine_pins_get(e, wf->name, p.version, &pins, err);
    if (!rc && out)
        *out = json_pack("{s:s, s:I, s:I, s:s, s:b, s:b, s:I, s:b, s:o?}", "name", wf->name,
                         "version", (json_int_t)p.version, "declared_version",
                         (json_int_t)wf->declared_version, "hash", wf->hash, "created",
                         p.created, "active", p.active, "previous_active",
                         (json_int_t)p.was_active, "dry_run", dry, "plugins", pins);
    cf_engine_unbind_free(wf);
    return rc;
}

int cf_workflow_deploy(cf_engine *e, const char *path, json_t **out, cf_error *err)
{
    return cf_workflow_deploy_ex(e, path, 0, out, err);
}

int cf_workflow_activate(cf_engine *e, const char *name, int64_t version, json_t **out,
                         cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "activate workflow versions", &role, err);
    if (rc || (rc = need_reason(e, "activate", err)))
        return rc;
    if (!name || !cf_utf8_valid(name))
        return cf_err_set(err, CF_EUSAGE, "workflow", "activate needs a workflow name");
    int64_t latest = 0, was = 0, pinv = 0;
    if ((rc = cf_store_workflow_latest(e->store, name, &latest, NULL, err)) == CF_EMISSING)
        return cf_err_set(err, CF_EMISSING, "workflow", "workflow %s is not deployed", name);
    if (rc)
        return rc;
    if (version < 1 || version > latest) /* versions are 1..latest, none ever removed */
        return cf_err_set(err, CF_EMISSING, "version",
                          "workflow %s v%lld is not deployed (versions 1 to %lld)", name,
                          (long long)version, (long long)latest);
    /* New referrals must be able to start on it: loaded, plugins bound. */
    cf_wf *wf;
    if ((rc = cf_engine_workflow(e, name, version, &wf, err)) ||
        (rc = cf_engine_workflow_ready(wf, err)))
        return rc;
    if ((rc = cf_engine_begin(e, err)))
        return rc;
    rc = pinned(e, name, &pinv, err);
    was = pinv ? pinv : latest;
    bool change = !rc && was != version;
    if (change)
        rc = pin(e, role, name, version, err);
    if ((rc = cf_engine_finish(e, rc, err)))
        return rc;
    if (out)
        *out = json_pack("{s:s, s:I, s:I, s:b}", "name", name, "version", (json_int_t)version,
                         "previous", (json_int_t)was, "changed", change);
    return 0;
}

/* Each deployed version with whether new referrals start on it and how
 * many of its cases are open (not in a final state, not disposed of). */
int cf_workflow_list(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    json_t *list = NULL, *counts = NULL, *w, *c;
    size_t i, j;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_store_workflow_list(e->store, &list, err)) ||
        (rc = cf_store_case_version_counts(e->store, &counts, err))) {
        json_decref(list);
        return rc;
    }
    json_array_foreach(list, i, w)
    {
        const char *name = json_string_value(json_object_get(w, "name"));
        json_int_t version = json_integer_value(json_object_get(w, "version"));
        int64_t active = 0;
        if (!rc)
            rc = cf_engine_workflow_active(e, name, &active, err);
        json_int_t open = 0;
        cf_wf *wf = NULL;
        json_array_foreach(counts, j, c)
        {
            if (rc || strcmp(json_string_value(json_array_get(c, 0)), name) != 0 ||
                json_integer_value(json_array_get(c, 1)) != version)
                continue;
            if (!wf) { /* its final states: loaded without its plugins */
                json_t *bundle = NULL;
                cf_error ignored;
                if (cf_store_workflow_get(e->store, name, version, &bundle, &ignored) == 0)
                    cf_wf_load(bundle, &wf, &ignored);
                json_decref(bundle);
            }
            const cf_wf_state *st =
                wf ? cf_wf_find_state(wf, json_string_value(json_array_get(c, 2))) : NULL;
            if (!st || !st->final)
                open += json_integer_value(json_array_get(c, 3));
        }
        cf_wf_free(wf);
        json_object_set_new(w, "active", json_boolean(active == version));
        json_object_set_new(w, "open_cases", json_integer(open));
        /* Deployed before pins existed: its plugins are not checked until
         * an administrator repins it (pins.c). */
        json_t *pins = NULL;
        if (!rc)
            rc = cf_engine_pins_get(e, name, version, &pins, err);
        json_object_set_new(w, "pinned", json_boolean(pins != NULL));
        json_decref(pins);
    }
    json_decref(counts);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* Plugin inspection needs no store: without an engine, a loader on
 * CASEFLOW_PLUGIN_PATH serves the one call. */
int cf_plugin_list(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_loader *own = NULL;
    cf_loader *l = NULL;
    int rc = e ? cf_engine_loader(e, &l, err)
               : cf_loader_new(getenv("CASEFLOW_PLUGIN_PATH"), &own, err);
    if (!rc)
        rc = cf_loader_list(e ? l : own, out, err);
    cf_loader_free(own);
    return rc;
}

int cf_plugin_info(cf_engine *e, const char *file, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_loader *own = NULL;
    const cf_module *m;
    cf_loader *l = NULL;
    int rc = e ? cf_engine_loader(e, &l, err)
               : cf_loader_new(getenv("CASEFLOW_PLUGIN_PATH"), &own, err);
    if (!rc && !(rc = cf_loader_open_file(e ? l : own, file, &m, err)) &&
        !(*out = cf_loader_describe(m)))
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    cf_loader_free(own);
    return rc;
}
