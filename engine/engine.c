/*
 * The embedding API (include/caseflow/caseflow.h). Each public function is
 * one command: it checks who is asking, runs the work through the state
 * machine or the store, and writes its audit record in the same transaction
 * as its effect. Reads of case data are audited as consultations, with the
 * justification the actor gave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "integrity.h"
#include "machine.h"
#include "sign.h"

static const char *const known_roles[] = {"analyst", "officer", "supervisor", "authoriser",
                                          "administrator"};
#define NROLES (sizeof known_roles / sizeof known_roles[0])

static bool valid_name(const char *s);

static const char *const admin[] = {"administrator"};
static const char *const intake[] = {"analyst", "officer"};

/* ---- signed checkpoints ------------------------------------------------------------ */

#define CHECKPOINT_EVERY 1000

/* Sign the chain's head every CHECKPOINT_EVERY records (or the store's
 * policy.checkpoint_interval), inside whichever commit crosses the mark. A
 * process that cannot read the signing key writes no checkpoint; the next
 * one that can does. */
static int checkpoint_hook(void *ctx, cf_error *err)
{
    static const char last_sql[] = "SELECT coalesce(max(signed_seq), 0) FROM checkpoints";
    cf_engine *e = ctx;
    if (!e->store_id || e->sk_state < 0)
        return 0;
    int64_t head;
    char hash[65];
    int rc = cf_audit_head(e->store, &head, hash, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = cf_store_stmt(e->store, last_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int64_t last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    char *every_text = NULL;
    if ((rc = cf_store_meta_get(e->store, "policy.checkpoint_interval", &every_text, err)))
        return rc;
    int64_t every = every_text ? atoll(every_text) : CHECKPOINT_EVERY;
    free(every_text);
    if (every <= 0 || head - last < every)
        return 0;
    if (e->sk_state == 0) {
        cf_error kerr;
        e->sk_state = cf_sign_load_secret(e->key_path, e->sk, &kerr) == 0 ? 1 : -1;
        if (e->sk_state < 0)
            return 0;
    }
    return cf_audit_checkpoint(e->store, e->sk, e->store_id, cf_engine_now(e), "engine",
                               "system", NULL, err);
}

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
    if (!path)
        path = "caseflow.db";
    const char *kp = opts->key_path ? opts->key_path : getenv("CASEFLOW_KEY");
    char defkey[4096];
    snprintf(defkey, sizeof defkey, "%s.key", path);
    int rc = cf_loader_new(pp, &e->loader, err);
    if (!rc)
        rc = cf_store_open(path, opts->create, opts->readonly, &e->store, err);
    if (!rc && !(e->key_path = strdup(kp && *kp ? kp : defkey)))
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    if (!rc)
        rc = cf_store_meta_get(e->store, "store_id", &e->store_id, err);
    if (!rc)
        rc = cf_store_meta_get(e->store, "public_key", &e->public_key, err);
    if (rc) {
        cf_engine_close(e);
        return rc;
    }
    cf_store_set_commit_hook(e->store, checkpoint_hook, e);
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
    sodium_memzero(e->sk, sizeof e->sk);
    free(e->key_path);
    free(e->store_id);
    free(e->public_key);
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
    /* Both go into the audit chain and its exports: text, never raw bytes. */
    if (!cf_utf8_valid(e->actor))
        return cf_err_set(err, CF_EINVALID, "actor", "actor: not valid UTF-8");
    if (e->reason && !cf_utf8_valid(e->reason))
        return cf_err_set(err, CF_EINVALID, "reason", "reason: not valid UTF-8");
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
    if (e->batch) /* a batch holds referrals only: nothing else may ride on it */
        return cf_err_set(err, CF_EUSAGE, "batch", "this command cannot run inside a batch");
    return cf_store_begin(e->store, err);
}

static int finish(cf_engine *e, int rc, cf_error *err)
{
    if (rc) {
        cf_store_rollback(e->store);
        return rc;
    }
    return cf_store_commit(e->store, err);
}

static int audit_text(cf_engine *e, const char *role, const char *action,
                      const char *case_id, char *text, int64_t *seq, cf_error *err)
{
    if (!text)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int rc = cf_audit_append(e->store, cf_engine_now(e), e->actor, role, action, case_id,
                             e->reason, text, seq, err);
    free(text);
    return rc;
}

static int audit(cf_engine *e, const char *role, const char *action, const char *case_id,
                 const json_t *payload, cf_error *err)
{
    return audit_text(e, role, action, case_id, cf_json_canonical(payload), NULL, err);
}

/* A user row and the audit record it is tied to (integrity.h). */
static int add_user(cf_engine *e, const char *role, const char *name, const char *roles,
                    cf_error *err)
{
    int64_t at = cf_engine_now(e), seq;
    bool exists;
    int rc = cf_store_user_exists(e->store, name, &exists, err);
    if (rc)
        return rc;
    if (exists)
        return cf_err_set(err, CF_EINVALID, "name", "user \"%s\" already exists", name);
    rc = audit_text(e, role, "user.add", NULL,
                    cf_integrity_user_payload(name, roles, at, e->actor), &seq, err);
    return rc ? rc : cf_store_user_add(e->store, name, roles, at, e->actor, seq, err);
}

/* ---- store and users --------------------------------------------------------------- */

int cf_store_init(cf_engine *e, cf_error *err)
{
    cf_err_clear(err);
    if (!e->actor || !*e->actor)
        return cf_err_set(err, CF_EUSAGE, "actor",
                          "init needs the first administrator: give --actor NAME");
    if (!valid_name(e->actor))
        return cf_err_set(err, CF_EINVALID, "actor",
                          "user name must be 1-64 characters of A-Z a-z 0-9 . _ - @");
    if (e->reason && !cf_utf8_valid(e->reason))
        return cf_err_set(err, CF_EINVALID, "reason", "reason: not valid UTF-8");
    int rc = cf_store_begin(e->store, err);
    if (rc)
        return rc;
    int64_t n = 0;
    rc = cf_store_user_count(e->store, &n, err);
    if (rc || n > 0) { /* already initialised: nothing to do */
        cf_store_rollback(e->store);
        return rc;
    }
    unsigned char raw[16];
    char id[33], created[32], pk[65];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(id, sizeof id, raw, sizeof raw);
    cf_time_format(cf_engine_now(e), created);
    bool memory = strcmp(e->key_path, ":memory:.key") == 0;
    /* The key pair is made before anything is committed; if the commit fails
     * the new key files are removed again. */
    if (!memory && (rc = cf_sign_keygen(e->key_path, pk, err))) {
        cf_store_rollback(e->store);
        return rc;
    }
    rc = cf_store_meta_set(e->store, "store_id", id, err);
    if (!rc)
        rc = cf_store_meta_set(e->store, "created_at", created, err);
    if (!rc && !memory)
        rc = cf_store_meta_set(e->store, "public_key", pk, err);
    if (!rc)
        rc = audit_text(e, "administrator", "store.init", NULL,
                        cf_integrity_init_payload(id, memory ? NULL : pk, created), NULL, err);
    if (!rc)
        rc = add_user(e, "administrator", e->actor, "administrator", err);
    if (!rc) {
        free(e->store_id);
        free(e->public_key);
        e->store_id = strdup(id);
        e->public_key = memory ? NULL : strdup(pk);
        rc = cf_store_commit(e->store, err);
    } else {
        cf_store_rollback(e->store);
    }
    if (rc && !memory) {
        char pub[4200];
        snprintf(pub, sizeof pub, "%s.pub", e->key_path);
        unlink(e->key_path);
        unlink(pub);
    }
    return rc;
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
    rc = add_user(e, role, name, list, err);
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
    if (!rc)
        rc = audit_text(e, role, "user.disable", NULL, cf_integrity_disable_payload(name),
                        NULL, err);
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
    if ((rc = in_tx(e, err)))
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
        rc = audit_text(e, role, "workflow.deploy", NULL,
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

/* A timer is stale when its case is gone or no longer takes its event (it
 * left the state in a way that did not clear it). */
static int timer_stale(cf_engine *e, const char *id, const char *ev, bool *stale,
                       cf_error *err)
{
    char *state = NULL, *wfname = NULL;
    int64_t version = 0;
    cf_error lerr;
    int rc = cf_store_case_state(e->store, id, &state, &wfname, &version, &lerr);
    if (rc == CF_ENOTFOUND) {
        *stale = true;
        return 0;
    }
    cf_wf *wf;
    if (!rc)
        rc = cf_engine_workflow(e, wfname, version, &wf, &lerr);
    if (!rc) {
        cf_wf_state *st = cf_wf_find_state(wf, state);
        *stale = !st || st->final || !cf_wf_find_transition(st, ev);
    } else {
        cf_err_set(err, rc, lerr.field, "tick: %s %s: %s", id, ev, lerr.message);
    }
    free(state);
    free(wfname);
    return rc;
}

int cf_tick(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    json_t *fired = json_array();
    int failed = 0;
    size_t kept = 0; /* due timers left in place (refused, or raced): skipped */
    for (;;) {
        json_t *due;
        if ((rc = cf_store_timer_due(e->store, cf_engine_now(e), kept, 256, &due, err)))
            break;
        size_t n = json_array_size(due), i;
        json_t *t;
        json_array_foreach(due, i, t)
        {
            const char *id = json_string_value(json_object_get(t, "case"));
            const char *ev = json_string_value(json_object_get(t, "event"));
            bool stale = false;
            if ((rc = timer_stale(e, id, ev, &stale, err)))
                break;
            if (stale) {
                if (!(rc = cf_store_begin(e->store, err))) {
                    rc = cf_store_timer_delete(e->store, id, ev, err);
                    rc = rc ? rc : cf_store_commit(e->store, err);
                    if (rc)
                        cf_store_rollback(e->store);
                }
                if (rc)
                    break;
                continue;
            }
            json_t *res = NULL;
            cf_error terr;
            cf_err_clear(&terr);
            int trc = cf_machine_act(e, id, ev, NULL, -1, true, ev, &res, &terr);
            if (trc) {
                /* Refused by a step, or a concurrent change: the timer stays
                 * for the next tick, and a refusal is said, never lost. */
                kept++;
                if (trc != CF_ECONFLICT) {
                    json_array_append_new(fired, json_pack("{s:s, s:s, s:s}", "id", id, "event",
                                                           ev, "error", terr.message));
                    if (!failed)
                        failed = cf_err_set(err, trc, terr.field, "tick: %s %s: %s", id, ev,
                                            terr.message);
                }
                continue;
            }
            json_array_append_new(fired, json_pack("{s:s, s:s, s:O?}", "id", id, "event", ev,
                                                   "state", json_object_get(res, "state")));
            json_decref(res);
        }
        json_decref(due);
        if (rc || n < 256)
            break;
    }
    if (rc) {
        json_decref(fired);
        return rc;
    }
    *out = fired;
    return failed;
}

/* ---- policy ------------------------------------------------------------------------- */

static const struct {
    const char *key;
    const char *fallback;
    bool boolean;
} policies[] = {
    {"require_reason", "true", true},
    {"checkpoint_interval", "1000", false},
};

static int policy_index(const char *key)
{
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
        if (strcmp(policies[i].key, key) == 0)
            return (int)i;
    return -1;
}

int cf_policy_set(cf_engine *e, const char *key, const char *value, cf_error *err)
{
    cf_err_clear(err);
    int i = key ? policy_index(key) : -1;
    if (i < 0)
        return cf_err_set(err, CF_EINVALID, "policy",
                          "unknown policy \"%s\" (require_reason, checkpoint_interval)",
                          key ? key : "");
    if (!value || (policies[i].boolean && strcmp(value, "true") && strcmp(value, "false")))
        return cf_err_set(err, CF_EINVALID, key, "%s must be true or false", key);
    if (!policies[i].boolean) {
        char *end;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || v < 0 || v > 1000000000)
            return cf_err_set(err, CF_EINVALID, key, "%s must be a whole number >= 0", key);
    }
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "set store policy", &role, err);
    if (rc || (rc = in_tx(e, err)))
        return rc;
    char mk[64];
    snprintf(mk, sizeof mk, "policy.%s", key);
    rc = cf_store_meta_set(e->store, mk, value, err);
    json_t *p = json_pack("{s:s, s:s}", "key", key, "value", value);
    char action[64];
    snprintf(action, sizeof action, "policy.set:%s", key); /* verify finds a key's latest */
    if (!rc)
        rc = audit(e, role, action, NULL, p, err);
    json_decref(p);
    return finish(e, rc, err);
}

int cf_policy_get(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof policies / sizeof policies[0] && !rc; i++) {
        char mk[64], *v = NULL;
        snprintf(mk, sizeof mk, "policy.%s", policies[i].key);
        if (!(rc = cf_store_meta_get(e->store, mk, &v, err)))
            json_object_set_new(o, policies[i].key, json_string(v ? v : policies[i].fallback));
        free(v);
    }
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int cf_engine_require_reason(cf_engine *e, cf_error *err)
{
    if (e->reason && *e->reason)
        return 0;
    char *v = NULL;
    int rc = cf_store_meta_get(e->store, "policy.require_reason", &v, err);
    bool required = !v || strcmp(v, "false") != 0;
    free(v);
    if (rc || !required)
        return rc;
    return cf_err_set(err, CF_EUSAGE, "reason",
                      "reading case data needs a justification: give --reason TEXT or set "
                      "CASEFLOW_REASON (DPA 2018 s.62 logs it with the read)");
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
    if (rc || (rc = cf_engine_require_reason(e, err)))
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
    if (rc || (rc = cf_engine_require_reason(e, err)) ||
        (rc = cf_store_case_list(e->store, state, limit, out, err)))
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
    if (rc || (rc = cf_engine_require_reason(e, err)))
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
    return cf_audit_verify_with(e, NULL, 0, out, err);
}

int cf_audit_verify_with(cf_engine *e, const char *public_key_file, int flags, json_t **out,
                         cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    char pinned[65];
    const char *pk = e->public_key;
    int rc = 0;
    if (public_key_file) {
        if ((rc = cf_sign_load_public(public_key_file, pinned, err)))
            return rc;
        if (e->public_key && strcmp(pinned, e->public_key) != 0) {
            *out = json_pack("{s:b, s:s}", "ok", 0, "reason", "public key differs");
            return cf_err_set(err, CF_EINVALID, "key",
                              "audit verify: the store's public key is not %s",
                              public_key_file);
        }
        pk = pinned;
    }
    /* One read transaction: the chain and the tables are checked as of one
     * moment, even while other processes write, and without a write lock
     * (a store on read-only media verifies too). */
    if ((rc = cf_store_begin_read(e->store, err)))
        return rc;
    rc = cf_audit_verify_store(e->store, out, err);
    if (!rc)
        rc = cf_audit_verify_checkpoints(e->store, pk, e->store_id, *out, err);
    if (!rc && !(flags & CF_VERIFY_CHAIN_ONLY))
        rc = cf_integrity_verify(e->store, *out, err);
    cf_store_rollback(e->store);
    if (*out) {
        int64_t records = json_integer_value(json_object_get(*out, "records"));
        int64_t last = json_integer_value(json_object_get(*out, "last_signed_seq"));
        json_object_set_new(*out, "unsigned_tail", json_integer(records - last));
        if (pk)
            json_object_set_new(*out, "public_key", json_string(pk));
        if (rc) {
            json_object_set_new(*out, "ok", json_false());
            if (!json_object_get(*out, "reason"))
                json_object_set_new(*out, "reason", json_string(err ? err->message : ""));
        }
    }
    return rc;
}

int cf_audit_export(cf_engine *e, int64_t since, const char *path, json_t **out,
                    cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "export the audit trail", &role, err);
    if (rc)
        return rc;
    if (since < 1)
        since = 1;
    bool to_stdout = !path || strcmp(path, "-") == 0;
    FILE *f = stdout;
    if (!to_stdout) {
        /* Exports hold who read what about whom: private, and never over
         * an existing file. */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return cf_err_set(err, errno == EEXIST ? CF_EINVALID : CF_EIO, "file",
                              "cannot create %s: %s", path, strerror(errno));
        }
    }
    char at[32], head[65];
    cf_time_format(cf_engine_now(e), at);
    json_t *header = json_pack("{s:s, s:i, s:s?, s:s?, s:s, s:s, s:I}", "format",
                               "caseflow-audit-export", "version", 1, "store_id", e->store_id,
                               "public_key", e->public_key, "exported_at", at, "exported_by",
                               e->actor, "since", (json_int_t)since);
    int64_t count = 0, last = 0;
    /* The disclosure is recorded before anything is disclosed, and the
     * export, taken from a read snapshot afterwards, ends with that record. */
    if (!(rc = cf_store_begin(e->store, err))) {
        rc = cf_audit_head(e->store, &last, head, err);
        json_t *p = json_pack("{s:I, s:I, s:s}", "since", (json_int_t)since, "through",
                              (json_int_t)(last + 1), "to", to_stdout ? "-" : path);
        if (!rc)
            rc = audit(e, role, "disclosure", NULL, p, err);
        json_decref(p);
        rc = finish(e, rc, err);
    }
    if (!rc && !(rc = cf_store_begin_read(e->store, err))) {
        rc = cf_audit_export_to(e->store, f, since, header, &count, head, err);
        if (!rc && fflush(f) != 0)
            rc = cf_err_set(err, CF_EIO, "file", "cannot write the export: %s", strerror(errno));
        cf_store_rollback(e->store);
    }
    json_decref(header);
    if (!to_stdout && fclose(f) != 0 && !rc)
        rc = cf_err_set(err, CF_EIO, "file", "cannot write %s: %s", path, strerror(errno));
    if (rc && !to_stdout)
        unlink(path);
    if (!rc)
        *out = json_pack("{s:I, s:I, s:s}", "since", (json_int_t)since, "records",
                         (json_int_t)count, "head", head);
    return rc;
}

int cf_audit_verify_file(const char *path, const char *public_key_file, json_t **out,
                         cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    char pk[65];
    int rc = public_key_file ? cf_sign_load_public(public_key_file, pk, err) : 0;
    if (rc)
        return rc;
    return cf_audit_verify_export(path, public_key_file ? pk : NULL, out, err);
}

int cf_audit_checkpoint_now(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "write audit checkpoints", &role, err);
    if (rc)
        return rc;
    if (!e->store_id)
        return cf_err_set(err, CF_EUSAGE, "store", "the store is not initialised");
    if (e->sk_state <= 0) {
        if ((rc = cf_sign_load_secret(e->key_path, e->sk, err)))
            return rc;
        e->sk_state = 1;
    }
    if ((rc = cf_store_begin(e->store, err)))
        return rc;
    rc = cf_audit_checkpoint(e->store, e->sk, e->store_id, cf_engine_now(e), e->actor, role,
                             out, err);
    if (!rc && (rc = cf_store_commit(e->store, err))) {
        json_decref(*out);
        *out = NULL;
    }
    if (rc)
        cf_store_rollback(e->store);
    return rc;
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
