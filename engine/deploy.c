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
static const json_t *first_error(const json_t *diags)
{
    size_t i;
    json_t *d;
    json_array_foreach(diags, i, d)
    {
        const char *rule = json_string_value(json_object_get(d, "rule"));
        if (rule && strcmp(rule, "no-result") != 0)
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
    if ((rc = cf_engine_begin(e, err)))
        goto out;
    if (cf_store_workflow_latest(e->store, wf->name, &latest, hash, &tmp) &&
        tmp.code != CF_EMISSING) {
        rc = cf_err_set(err, tmp.code, tmp.field, "%s", tmp.message);
    } else if (latest && strcmp(hash, wf->hash) == 0) {
        created = false; /* the same source again: the same version */
    } else {
        latest++;
        created = true;
        int64_t at = cf_engine_now(e), seq = 0;
        rc = cf_engine_audit_text(e, role, "workflow.deploy", NULL,
                        cf_integrity_workflow_payload(wf->name, latest, wf->declared_version,
                                                      wf->hash, at, e->actor),
                        &seq, err);
        char *text = rc ? NULL : cf_json_canonical(wf->bundle);
        if (!rc)
            rc = text ? cf_store_workflow_put(e->store, wf->name, latest,
                                              wf->declared_version, wf->hash, text, at,
                                              e->actor, seq, err)
                      : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        free(text);
    }
    rc = cf_engine_finish(e, rc, err);
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
