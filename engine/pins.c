/*
 * Pinned plugins. A deploy records, per plugin a workflow version uses, the
 * plugin's version string and the SHA-256 of the module it was checked
 * against, as the store policy "workflow.pins:NAME@VERSION" (value: the
 * canonical JSON {"PLUGIN": {"sha256": HEX, "version": TEXT}, ...}). A policy
 * row is tied to its policy.set record like every policy, so an edit of a
 * pin behind the engine's back is found by audit verify and refused at use.
 *
 * Binding a stored version's states to their plugins (cf_engine_bind_pinned)
 * compares each module found with its pin, and keeps a failure per state
 * instead of failing the workflow: a plugin missing, refusing its config or
 * not the pinned build blocks only the states that use it
 * (cf_engine_state_ready), never a case elsewhere in the workflow.
 *
 * Commands on cases bind lazily (cf_engine_bind_state): a plugin is found,
 * hashed against its pin and loaded only when a command enters a state that
 * uses it or delivers an event there, so a one-shot `act` or `refer` loads
 * the one or two plugins it runs, not every plugin of the workflow. The pin
 * is read from the store (checked against the chain) at that moment, the
 * same check cf_engine_bind_pinned makes; deploy, activate, repin and
 * simulate still bind every state.
 *
 * Versions deployed before pins existed have no pins row. They stay
 * unpinned (their plugins bound as before this build) until an
 * administrator runs `workflow repin`; `workflow list` shows them as not
 * pinned (PINNED no, "pinned": false). Not a warning on every command's
 * stderr: a success says nothing there (the command-line contract), and the
 * officers acting on cases cannot repin. Not pinned at the migration from
 * the plugin_sha256 last recorded in case histories either: that would make
 * the engine choose what to trust (a plugin no case reached has no hash, and
 * the last one recorded may be the very build nobody chose).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integrity.h"
#include "machine.h"

static const char *const admin[] = {"administrator"};

#define PINS_PREFIX "workflow.pins:"

/* The policy key of the pins of name@version: "workflow.pins:NAME@VERSION",
 * or, for a name too long for the chain's action names, its SHA-256. */
static void pins_key(const char *name, int64_t version, char key[96])
{
    char v[24];
    snprintf(v, sizeof v, "@%lld", (long long)version);
    /* "policy.set:" + key must fit the 96 bytes of an action name */
    size_t n = strlen(name), nv = strlen(v);
    if (strlen(PINS_PREFIX) + n + nv + 11 < 96) {
        memcpy(key, PINS_PREFIX, strlen(PINS_PREFIX));
        memcpy(key + strlen(PINS_PREFIX), name, n);
        memcpy(key + strlen(PINS_PREFIX) + n, v, nv + 1);
        return;
    }
    char h[65];
    cf_sha256_hex(name, strlen(name), h);
    snprintf(key, 96, PINS_PREFIX "sha256:%.40s%s", h, v);
}

int cf_engine_pins_get(cf_engine *e, const char *name, int64_t version, json_t **pins,
                       cf_error *err)
{
    char key[96], *v = NULL;
    int64_t seq = 0;
    *pins = NULL;
    pins_key(name, version, key);
    int rc = cf_store_policy_get(e->store, key, &v, &seq, err);
    if (!rc && (rc = cf_integrity_check_policy(e->store, key, v, seq, err)) == CF_EINVALID)
        cf_engine_note_altered(e, "policy", key, NULL, NULL);
    if (!rc && v) {
        *pins = json_loads(v, 0, NULL);
        if (!json_is_object(*pins)) {
            json_decref(*pins);
            *pins = NULL;
            rc = cf_err_set(err, CF_EINVALID, "policy", "store policy %s is not a JSON object",
                            key);
        }
    }
    free(v);
    return rc;
}

json_t *cf_pins_of(const cf_wf *wf)
{
    json_t *pins = json_object();
    for (size_t i = 0; pins && i < wf->nstates; i++) {
        const cf_module *m = wf->states[i].module;
        if (m && json_object_set_new(pins, m->name,
                                     json_pack("{s:s, s:s}", "version", m->desc->version,
                                               "sha256", m->sha256)) != 0) {
            json_decref(pins);
            return NULL;
        }
    }
    return pins;
}

int cf_engine_pins_record(cf_engine *e, const char *role, const char *name, int64_t version,
                          const json_t *pins, cf_error *err)
{
    char key[96];
    pins_key(name, version, key);
    char *text = cf_json_canonical(pins);
    int rc = text ? cf_engine_policy_record(e, role, key, text, err)
                  : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(text);
    return rc;
}

/* ---- binding a stored version's states ---------------------------------------------- */

/* Keep why st cannot run (its plugin is not bound) for cf_engine_state_ready. */
static int unbound(cf_wf_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unbound(cf_wf_state *st, const char *fmt, ...)
{
    char msg[sizeof ((cf_error *)0)->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(st->unbound);
    st->unbound = strdup(msg);
    return st->unbound ? 0 : CF_ENOMEM;
}

/* The pinned version and hash of plugin name ("(none)" when not pinned). */
static void pin_of(const json_t *pins, const char *name, const char **want_version,
                   const char **want_sha)
{
    const json_t *p = json_object_get(pins, name);
    *want_version = json_string_value(json_object_get(p, "version"));
    *want_sha = json_string_value(json_object_get(p, "sha256"));
    if (!*want_version)
        *want_version = "(none)";
    if (!*want_sha)
        *want_sha = "(none)";
}

/* Keep why st's plugin (the build found at path) is refused. */
static int not_pinned(cf_wf_state *st, const cf_wf *wf, const char *plugin, const char *want_v,
                      const char *want_sha, const char *found_v, const char *found_sha,
                      const char *path)
{
    return unbound(st,
                   "plugin \"%s\" is not the build pinned for workflow %s v%lld: expected "
                   "version %s sha256 %s, found version %s sha256 %s (%s); to accept it: "
                   "caseflow workflow repin %s %lld --reason R",
                   plugin, wf->name, (long long)wf->version, want_v, want_sha, found_v,
                   found_sha, path, wf->name, (long long)wf->version);
}

static int bind_state(cf_engine *e, cf_loader *l, cf_wf *wf, cf_wf_state *st,
                      const json_t *pins)
{
    const cf_module *m;
    cf_error lerr;
    cf_loader_found found;
    const char *want_v, *want_sha;
    cf_err_clear(&lerr);
    pin_of(pins, st->step, &want_v, &want_sha);
    /* With a pin, another build is refused by its hash before it is loaded:
     * none of its code runs in this process. */
    if (cf_loader_get_expect(l, st->step, pins ? want_sha : NULL, &m, &found, &lerr))
        return found.refused
                   ? not_pinned(st, wf, st->step, want_v, want_sha, found.version, found.sha256,
                                found.path)
                   : unbound(st, "workflow %s v%lld: state \"%s\" needs plugin \"%s\": %s",
                             wf->name, (long long)wf->version, st->name, st->step, lerr.message);
    /* A module this engine had loaded already (say, by a deploy). */
    if (pins && strcmp(want_sha, m->sha256) != 0)
        return not_pinned(st, wf, m->name, want_v, want_sha, m->desc->version, m->sha256,
                          m->path);
    (void)e;
    char msg[256] = "";
    void *ps = NULL;
    if (m->desc->init && cf_machine_plugin_init(m, st, &ps, msg, sizeof msg) < 0) {
        if (m->desc->fini)
            cf_machine_plugin_fini(m, st, ps);
        return unbound(st, "plugin \"%s\" failed to initialise for state \"%s\" of workflow %s "
                           "v%lld: %s",
                       st->step, st->name, wf->name, (long long)wf->version,
                       msg[0] ? msg : "init failed");
    }
    st->module = m;
    st->plugin_state = ps;
    free(st->unbound);
    st->unbound = NULL;
    return 0;
}

int cf_engine_bind_pinned(cf_engine *e, cf_wf *wf, cf_error *err)
{
    json_t *pins = NULL;
    cf_loader *l;
    bool any = false;
    for (size_t i = 0; i < wf->nstates && !any; i++)
        any = wf->states[i].step && !wf->states[i].module;
    if (!any)
        return 0;
    int rc = cf_engine_pins_get(e, wf->name, wf->version, &pins, err);
    if (rc || (rc = cf_engine_loader(e, &l, err)))
        return rc;
    for (size_t i = 0; i < wf->nstates && !rc; i++)
        if (wf->states[i].step && !wf->states[i].module)
            rc = bind_state(e, l, wf, &wf->states[i], pins);
    json_decref(pins);
    return rc ? cf_err_set(err, CF_ENOMEM, NULL, "out of memory") : 0;
}

int cf_engine_bind_state(cf_engine *e, cf_wf *wf, cf_wf_state *st, cf_error *err)
{
    if (!st->step || st->module)
        return 0;
    json_t *pins = NULL;
    cf_loader *l;
    int rc = cf_engine_pins_get(e, wf->name, wf->version, &pins, err);
    if (rc || (rc = cf_engine_loader(e, &l, err)))
        return rc;
    rc = bind_state(e, l, wf, st, pins);
    json_decref(pins);
    return rc ? cf_err_set(err, CF_ENOMEM, NULL, "out of memory") : 0;
}

int cf_engine_state_ready(const cf_wf_state *st, cf_error *err)
{
    if (!st->step || st->module)
        return 0;
    return cf_err_set(err, CF_EMISSING, "step", "%s",
                      st->unbound ? st->unbound : "plugin not bound");
}

int cf_engine_workflow_ready(const cf_wf *wf, cf_error *err)
{
    for (size_t i = 0; i < wf->nstates; i++) {
        int rc = cf_engine_state_ready(&wf->states[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- repin ------------------------------------------------------------------------------ */

/* The changes from old pins (may be NULL) to new: an array of {plugin,
 * old_version, old_sha256, new_version, new_sha256} (olds null when
 * unpinned), in plugin-name order. */
static json_t *pin_changes(const json_t *old, const json_t *now)
{
    json_t *changes = json_array();
    const char *name;
    json_t *n;
    void *tmp;
    json_object_foreach_safe((json_t *)now, tmp, name, n)
    {
        const json_t *o = json_object_get(old, name);
        const char *osha = json_string_value(json_object_get(o, "sha256"));
        const char *nsha = json_string_value(json_object_get(n, "sha256"));
        if (o && osha && nsha && strcmp(osha, nsha) == 0)
            continue;
        json_array_append_new(
            changes, json_pack("{s:s, s:O?, s:O?, s:O, s:O}", "plugin", name, "old_version",
                               json_object_get(o, "version"), "old_sha256",
                               json_object_get(o, "sha256"), "new_version",
                               json_object_get(n, "version"), "new_sha256",
                               json_object_get(n, "sha256")));
    }
    return changes;
}

/* The version's source, checked against its deploy record, bound afresh to
 * the plugins found now (every one must load and accept its config, as at
 * deploy). *out new (cf_engine_unbind_free). */
static int load_current(cf_engine *e, const char *name, int64_t version, cf_wf **out,
                        cf_error *err)
{
    int64_t latest = 0;
    *out = NULL;
    int rc = cf_store_workflow_latest(e->store, name, &latest, NULL, err);
    if (rc == CF_EMISSING || (!rc && (version < 1 || version > latest)))
        return cf_err_set(err, CF_EMISSING, "version", "workflow %s v%lld is not deployed",
                          name, (long long)version);
    if (rc || (rc = cf_integrity_check_workflow(e->store, name, version, err)))
        return rc;
    json_t *bundle;
    if ((rc = cf_store_workflow_get(e->store, name, version, &bundle, err)))
        return rc;
    cf_wf *wf;
    rc = cf_wf_load(bundle, &wf, err);
    json_decref(bundle);
    if (rc)
        return rc;
    wf->version = version;
    if ((rc = cf_engine_bind(e, wf, err))) {
        cf_engine_unbind_free(wf);
        return rc;
    }
    *out = wf;
    return 0;
}

int cf_workflow_repin(cf_engine *e, const char *name, int64_t version, json_t **out,
                      cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "repin workflow plugins", &role, err);
    if (rc)
        return rc;
    if (!e->reason || !e->reason[0])
        return cf_err_set(err, CF_EUSAGE, "reason",
                          e->served ? "repin needs a reason: send it in the X-Caseflow-Reason "
                                      "header or the reason parameter"
                                    : "repin needs --reason (why these plugin builds are "
                                      "accepted)");
    if (!name || !*name || !cf_utf8_valid(name))
        return cf_err_set(err, CF_EUSAGE, "workflow", "repin needs a workflow name");
    cf_wf *wf = NULL;
    json_t *old = NULL, *now = NULL, *changes = NULL;
    if ((rc = load_current(e, name, version, &wf, err)))
        return rc;
    if (!(rc = cf_engine_begin(e, err))) {
        rc = cf_engine_pins_get(e, name, version, &old, err);
        now = rc ? NULL : cf_pins_of(wf);
        changes = now ? pin_changes(old, now) : NULL;
        if (!rc && !changes)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        /* Unpinned before: pinned now even when no plugin is used, so the
         * version no longer warns. */
        bool write = !rc && (json_array_size(changes) > 0 || !old);
        if (write) {
            json_t *p = json_pack("{s:s, s:I, s:O}", "workflow", name, "version",
                                  (json_int_t)version, "changes", changes);
            rc = p ? cf_engine_audit(e, role, "workflow.repin", NULL, p, err)
                   : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
            json_decref(p);
            if (!rc)
                rc = cf_engine_pins_record(e, role, name, version, now, err);
        }
        rc = cf_engine_finish(e, rc, err);
        if (!rc && out)
            *out = json_pack("{s:s, s:I, s:b, s:O, s:O}", "name", name, "version",
                             (json_int_t)version, "changed", write, "changes", changes,
                             "plugins", now);
    }
    /* Loaded by this engine before the change: bound again on next use. */
    if (!rc)
        cf_engine_forget_workflow(e, name, version);
    json_decref(old);
    json_decref(now);
    json_decref(changes);
    cf_engine_unbind_free(wf);
    return rc;
}
