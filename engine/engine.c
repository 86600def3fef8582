/*
 * The engine handle of the embedding API (include/caseflow/caseflow.h):
 * opening a store (and migrating an older one), who acts and with what
 * clock, the store's policies, integrity alarms, and the helpers every
 * command uses to run in one transaction with its audit record. The
 * commands themselves live beside it: users.c (init, users), cases.c
 * (referrals, acts, timers, reads), deploy.c (workflows, plugins) and
 * trail.c (the signing key, checkpoints, anchors, verify and export).
 * Before a command relies on a row (its actor, a policy, the store's
 * identity and schema, a workflow, a case) the row is checked against the
 * audit record it is tied to, so an edit made behind the engine's back is
 * refused, never built upon.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "chain.h"
#include "guard.h"
#include "integrity.h"
#include "machine.h"
#include "sign.h"

static const char *const admin[] = {"administrator"};

/* ---- engine ---------------------------------------------------------------------- */

/* The alarm record: written by the engine, whatever the clock says (never
 * before the head), never waiting for a checkpoint. Inside a transaction. */
static int64_t append_alarm(cf_engine *e, const char *case_id, const char *what,
                            json_t *detail)
{
    cf_error aerr;
    int64_t seq = 0, head, at = 0, now = cf_engine_now(e);
    char hash[65];
    json_t *p = json_pack("{s:s, s:s?, s:s?, s:O?}", "alarm", what, "case", case_id,
                          "noticed_by", e->actor, "detail", detail);
    char *text = p ? cf_json_canonical(p) : NULL;
    json_decref(p);
    int rc = text ? cf_audit_head_at(e->store, &head, hash, &at, &aerr) : CF_ENOMEM;
    if (!rc)
        rc = cf_audit_append(e->store, now > at ? now : at, "engine", "system",
                             "integrity.alarm", case_id, NULL, text, &seq, &aerr);
    free(text);
    return rc ? 0 : seq;
}

int64_t cf_engine_alarm(cf_engine *e, const char *case_id, const char *what, json_t *detail)
{
    cf_error aerr;
    /* Never into a store whose schema is not caseflow's: a planted trigger
     * would run on the alarm too. */
    if (!e->store_id || e->broken.code || cf_store_in_tx(e->store) ||
        cf_store_begin(e->store, &aerr))
        return 0;
    int64_t seq = append_alarm(e, case_id, what, detail);
    if (!seq || cf_store_commit(e->store, &aerr) != 0) {
        cf_store_rollback(e->store);
        return 0;
    }
    return seq;
}

void cf_engine_note_altered(cf_engine *e, const char *kind, const char *id, const char *found,
                            const char *recorded)
{
    snprintf(e->altered.kind, sizeof e->altered.kind, "%s", kind);
    snprintf(e->altered.id, sizeof e->altered.id, "%s", id ? id : "");
    snprintf(e->altered.found, sizeof e->altered.found, "%s", found ? found : "");
    snprintf(e->altered.recorded, sizeof e->altered.recorded, "%s", recorded ? recorded : "");
}

void cf_engine_flush_alarm(cf_engine *e)
{
    if (!e->altered.kind[0])
        return;
    bool is_case = strcmp(e->altered.kind, "case") == 0;
    char what[64];
    snprintf(what, sizeof what, "%s altered outside caseflow", e->altered.kind);
    json_t *d = json_pack("{s:s, s:s}", "table", e->altered.kind, "row", e->altered.id);
    if (e->altered.found[0])
        json_object_set_new(d, "found", json_string(e->altered.found));
    if (e->altered.recorded[0])
        json_object_set_new(d, "recorded", json_string(e->altered.recorded));
    const char *case_id = is_case ? e->altered.id : NULL;
    if (!cf_store_in_tx(e->store))
        cf_engine_alarm(e, case_id, what, d);
    else if (!e->broken.code)
        append_alarm(e, case_id, what, d); /* commits with the batch around it */
    json_decref(d);
    memset(&e->altered, 0, sizeof e->altered);
}

/* Default key locations: the one init recorded, else (none recorded, or
 * nothing there: a store restored or copied to another directory with its
 * keys beside it) "<store>.keys/<name>.key", else the 0.1 layout
 * "<store>.key". Whichever is found signs only if it is the store's own key
 * (cf_engine_ensure_key compares it with the recorded public key). */
static char *default_key_path(cf_engine *e)
{
    char *recorded = NULL;
    cf_error ignore;
    if (e->store && cf_store_meta_get(e->store, "key_path", &recorded, &ignore) == 0 &&
        recorded) {
        if (access(recorded, F_OK) == 0 || errno != ENOENT)
            return recorded;
    }
    const char *base = strrchr(e->store_path, '/');
    base = base ? base + 1 : e->store_path;
    size_t n = strlen(e->store_path) * 2 + 32;
    char *p = malloc(n);
    if (!p) {
        free(recorded);
        return NULL;
    }
    snprintf(p, n, "%s.keys/%s.key", e->store_path, base);
    char legacy[4200];
    snprintf(legacy, sizeof legacy, "%s.key", e->store_path);
    if (access(p, F_OK) != 0 && access(legacy, F_OK) == 0)
        snprintf(p, n, "%s", legacy);
    if (recorded && access(p, F_OK) != 0) {
        /* nothing beside the store either: name the recorded place */
        free(p);
        return recorded;
    }
    free(recorded);
    return p;
}

/* Schema 1 to 2: the chain learns the whole state the new rules start
 * from. Every user and policy gets a record of its current state (their
 * payloads are kept from now on), then the schema is recorded. */
static int record_schema(cf_engine *e, cf_store *s, int to, int64_t at, cf_error *err);

/* Schema 2 to 3 adds tables and columns that hold nothing yet; 3 to 4 only
 * indexes. Neither changes a row: the chain records the step and the new
 * schema; the store must be the previous schema as caseflow made it. */
static int migrate_schema_only(cf_engine *e, cf_store *s, int to, bool before, cf_error *err)
{
    if (before) {
        bool ok = false;
        int rc = cf_store_schema_is(s, to - 1, &ok, err);
        if (!rc && !ok)
            rc = cf_err_set(err, CF_EINVALID, "store",
                            "cannot migrate %s to schema %d: its schema is not caseflow's "
                            "schema %d; the store was left as it was",
                            e->store_path, to, to - 1);
        return rc;
    }
    if (e->public_key && cf_engine_ensure_key(e, NULL) != 0)
        return cf_err_set(err, CF_EDENIED, "key",
                          "this store must move to schema %d, which its signing key signs: "
                          "%s; run it as the key's owner",
                          to, e->sk_err.message);
    int64_t head, at = 0;
    char hash[65];
    int rc = cf_audit_head_at(s, &head, hash, &at, err);
    int64_t now = cf_time_system();
    if (now > at)
        at = now;
    char step[48];
    snprintf(step, sizeof step, "{\"from\":%d,\"to\":%d}", to - 1, to);
    if (!rc)
        rc = cf_audit_append(s, at, "engine", "system", "store.migrate", NULL, NULL, step,
                             NULL, err);
    return rc ? rc : record_schema(e, s, to, at, err);
}

static int migrate_hook(void *ctx, cf_store *s, int to, bool before, cf_error *err)
{
    cf_engine *e = ctx;
    if (!e->store_id)
        return 0;
    if (to >= 3)
        return migrate_schema_only(e, s, to, before, err);
    if (to != 2)
        return 0;
    if (before) {
        /* What is about to be recorded as the starting state must be what
         * the old chain holds. */
        cf_error verr;
        int rc = cf_integrity_verify_v1(s, e->public_key, e->store_id, &verr);
        if (rc)
            return cf_err_set(err, rc, "store",
                              "cannot migrate %s to schema %d: it does not verify as it is (%s); "
                              "the store was left as it was",
                              e->store_path, to, verr.message);
        return 0;
    }
    /* The migration is signed as it goes: only the key's owner moves it. */
    if (e->public_key && cf_engine_ensure_key(e, NULL) != 0)
        return cf_err_set(err, CF_EDENIED, "key",
                          "this store must move to schema %d, which its signing key signs: "
                          "%s; run it as the key's owner",
                          to, e->sk_err.message);
    int64_t head, at = 0, seq;
    char hash[65];
    int rc = cf_audit_head_at(s, &head, hash, &at, err);
    int64_t now = cf_time_system();
    if (now > at)
        at = now;
    json_t *p = json_pack("{s:i, s:i}", "from", to - 1, "to", to);
    char *text = p ? cf_json_canonical(p) : NULL;
    json_decref(p);
    if (!rc)
        rc = text ? cf_audit_append(s, at, "engine", "system", "store.migrate", NULL, NULL,
                                    text, NULL, err)
                  : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(text);
    json_t *names = NULL, *pols = NULL;
    if (!rc)
        rc = cf_store_user_names(s, &names, err);
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        cf_user_row u;
        if (rc || (rc = cf_store_user_get(s, json_string_value(v), &u, err)))
            break;
        char *payload = cf_integrity_user_payload(&u);
        rc = payload ? cf_audit_append(s, at, "engine", "system", "user.migrate", NULL, NULL,
                                       payload, &seq, err)
                     : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        free(payload);
        u.audit_seq = seq;
        if (!rc)
            rc = cf_store_user_put(s, &u, false, err);
        cf_user_row_clear(&u);
    }
    if (!rc)
        rc = cf_store_policy_list(s, &pols, err);
    /* The checkpoint interval last, signed at once (it counts only so,
     * chain.c): one record, the schema's, follows it before the next. */
    for (size_t n = json_array_size(pols), j = 0; j + 1 < n; j++) {
        json_t *k = json_array_get(json_array_get(pols, j), 0);
        if (strcmp(json_string_value(k), "checkpoint_interval") == 0) {
            json_array_append(pols, json_array_get(pols, j));
            json_array_remove(pols, j);
            break;
        }
    }
    json_array_foreach(pols, i, v)
    {
        if (rc)
            break;
        const char *key = json_string_value(json_array_get(v, 0));
        const char *value = json_string_value(json_array_get(v, 1));
        char action[96];
        snprintf(action, sizeof action, "policy.set:%s", key);
        char *payload = cf_integrity_policy_payload(key, value);
        rc = payload ? cf_audit_append(s, at, "engine", "system", action, NULL, NULL, payload,
                                       &seq, err)
                     : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        free(payload);
        if (!rc)
            rc = cf_store_policy_set(s, key, value, seq, err);
        if (!rc && e->public_key && strcmp(key, "checkpoint_interval") == 0)
            rc = cf_engine_sign_head(e, at, "engine", "system", NULL, NULL, err);
    }
    json_decref(names);
    json_decref(pols);
    return rc ? rc : record_schema(e, s, to, at, err);
}

/* The schema the store now has, recorded in the chain (store.schema, its
 * seq in meta) and signed at once. */
static int record_schema(cf_engine *e, cf_store *s, int to, int64_t at, cf_error *err)
{
    int64_t seq = 0;
    char digest[65];
    int rc = cf_store_schema_digest(s, digest, err);
    if (!rc) {
        char *payload = cf_integrity_schema_payload(digest, to);
        rc = payload ? cf_audit_append(s, at, "engine", "system", "store.schema", NULL, NULL,
                                       payload, &seq, err)
                     : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        free(payload);
    }
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)seq);
    if (!rc)
        rc = cf_store_meta_set(s, "schema_seq", num, err);
    /* Signed at once: the migration's records (and the checkpoint interval
     * it carries over) count from this signature. */
    if (!rc && e->public_key)
        rc = cf_engine_sign_head(e, at, "engine", "system", NULL, NULL, err);
    return rc;
}

void cf_engine_os_account(unsigned long uid, char login[64], char num[24])
{
    snprintf(num, 24, "%lu", uid);
    struct passwd pw, *found = NULL;
    char buf[2048];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &found) == 0 && found && found->pw_name)
        snprintf(login, 64, "%s", found->pw_name);
    else
        snprintf(login, 64, "%s", num);
}

/* The account the process runs as (its real uid), as bindings name it. */
static void who_am_i(cf_engine *e)
{
    cf_engine_os_account((unsigned long)getuid(), e->os_login, e->os_uid);
}

void cf_engine_set_progress(cf_engine *e, cf_progress_fn fn, void *ctx)
{
    e->progress = fn;
    e->progress_ctx = fn ? ctx : NULL;
}

void cf_engine_progress(cf_engine *e, const char *what, int64_t done, int64_t total)
{
    if (e->progress && (done == 0 || done == total || done % CF_PROGRESS_STEP == 0))
        e->progress(e->progress_ctx, what, done, total);
}

int cf_engine_set_peer(cf_engine *e, long uid)
{
    e->peer_token = false;
    e->served = uid != -1;
    if (uid == CF_PEER_TOKEN)
        e->peer_token = true;
    else if (uid >= 0)
        cf_engine_os_account((unsigned long)uid, e->os_login, e->os_uid);
    else if (uid == -1)
        who_am_i(e);
    else
        return CF_EUSAGE;
    return 0;
}

/* What a command may rely on: the store's identity (with its public key
 * and clock setting) and its schema, as the chain recorded them. A store
 * that fails stays open for audit verify, which reports the detail; every
 * other command is refused. */
void cf_engine_check_store(cf_engine *e)
{
    cf_error cerr;
    cf_err_clear(&cerr);
    char digest[65];
    int64_t cookie = -1;
    int rc = cf_store_schema_cookie(e->store, &cookie, &cerr);
    if (!rc)
        rc = cf_integrity_check_identity(e->store, &e->test_clock, &cerr);
    if (!rc)
        rc = cf_integrity_check_schema(e->store, digest, &cerr);
    if (rc) {
        e->broken = cerr;
    } else if (e->store_id) {
        cf_store_expect_schema(e->store, digest, cookie);
        cf_store_recheck_schema(e->store, cf_integrity_check_schema);
    }
}

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
    e->pol.data_version = -1;
    cf_engine_forget_users(e);
    who_am_i(e);
    /* The plugin path is only noted here: the loader is made when a plugin
     * is first needed (cf_engine_loader), once the store's plugin_path
     * policy can be read and checked against the chain. */
    const char *pp = opts->plugin_path ? opts->plugin_path : getenv("CASEFLOW_PLUGIN_PATH");
    if (!path)
        path = "caseflow.db";
    const char *kp = opts->key_path ? opts->key_path : getenv("CASEFLOW_KEY");
    int rc = 0;
    e->plugin_path_given = pp != NULL;
    if ((pp && !(e->plugin_path = strdup(pp))) || !(e->store_path = strdup(path)))
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    if (!rc)
        rc = cf_store_open(path, opts->create, opts->readonly, &e->store, err);
    if (!rc && cf_store_is_pg(e->store)) {
        /* the password stays with the connection, out of every message */
        free(e->store_path);
        if (!(e->store_path = cf_pg_store_redact(path)))
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    if (!rc)
        rc = cf_store_meta_get(e->store, "store_id", &e->store_id, err);
    if (!rc)
        rc = cf_store_meta_get(e->store, "public_key", &e->public_key, err);
    if (!rc) {
        e->key_explicit = kp && *kp;
        e->key_path = e->key_explicit ? strdup(kp) : default_key_path(e);
        if (!e->key_path)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    if (rc) {
        cf_engine_close(e);
        return rc;
    }
    cf_engine_trail_hooks(e);
    if (cf_store_version(e->store) < CF_SCHEMA_VERSION) {
        e->migrating = true;
        rc = cf_store_migrate(e->store, migrate_hook, e, err);
        e->migrating = false;
        if (rc) {
            cf_engine_close(e);
            return rc;
        }
    }
    cf_engine_check_store(e);
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
    free(e->plugin_path);
    sodium_memzero(e->sk, sizeof e->sk);
    json_decref(e->anchors);
    json_decref(e->deferred);
    free(e->store_path);
    free(e->key_path);
    free(e->store_id);
    free(e->public_key);
    free(e->actor);
    free(e->reason);
    free(e->roles);
    free(e->trace);
    free(e);
}

int cf_engine_loader(cf_engine *e, cf_loader **out, cf_error *err)
{
    *out = e->loader;
    if (e->loader)
        return 0;
    /* --plugins and CASEFLOW_PLUGIN_PATH override the store's policy (tests,
     * a plugin author trying a build); else the policy, checked against
     * the chain like every policy; then the installed directory. */
    const char *path = e->plugin_path;
    if (!e->plugin_path_given && e->store && e->store_id && !e->broken.code) {
        const cf_policies *pol = cf_engine_policies(e, err);
        if (!pol) {
            cf_engine_flush_alarm(e);
            return err && err->code ? err->code : CF_EINVALID;
        }
        path = pol->plugin_path;
    }
    int rc = cf_loader_new(path, &e->loader, err);
    *out = e->loader;
    return rc;
}

const char *cf_engine_error_detail(const cf_engine *e)
{
    return e ? e->trace : NULL;
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

int cf_engine_clock_refused(cf_error *err)
{
    return cf_err_set(err, CF_EUSAGE, "clock",
                      "the engine clock can be set (CASEFLOW_NOW) only on a store made with "
                      "caseflow init --test-clock; this store runs on the system clock");
}

int cf_engine_set_clock(cf_engine *e, int64_t now)
{
    if (now >= 0 && e->store_id && !e->test_clock)
        return CF_EUSAGE;
    e->clock = now;
    return 0;
}

int64_t cf_engine_now(const cf_engine *e)
{
    return e->clock >= 0 ? e->clock : cf_time_system();
}

/* ---- policies ----------------------------------------------------------------------- */

static const struct {
    const char *key;
    const char *fallback;
    enum { P_BOOL, P_COUNT, P_PATH, P_DIRS } kind;
    long long min, max;
} policies[] = {
    {"require_reason", "true", P_BOOL, 0, 0},
    {"checkpoint_interval", "1000", P_COUNT, 0, 1000000000},
    {"anchor", "", P_PATH, 0, 0},
    {"require_os_user", "false", P_BOOL, 0, 0},
    {"workflow_budget_ms", "1000", P_COUNT, 10, 60000},
    {"common_key_limit", "25", P_COUNT, 1, 200},
    {"migrate_four_eyes", "false", P_BOOL, 0, 0},
    {"plugin_path", "", P_DIRS, 0, 0},
    {"plugin_call_ms", "5000", P_COUNT, CF_GUARD_MIN_MS, CF_GUARD_MAX_MS},
};
#define NPOLICIES (sizeof policies / sizeof policies[0])

static int policy_index(const char *key)
{
    for (size_t i = 0; i < NPOLICIES; i++)
        if (strcmp(policies[i].key, key) == 0)
            return (int)i;
    return -1;
}

static void policy_apply(cf_policies *p, const char *key, const char *v)
{
    if (strcmp(key, "require_reason") == 0)
        p->require_reason = strcmp(v, "false") != 0;
    else if (strcmp(key, "checkpoint_interval") == 0)
        p->checkpoint_interval = atoll(v);
    else if (strcmp(key, "anchor") == 0)
        snprintf(p->anchor, sizeof p->anchor, "%s", v);
    else if (strcmp(key, "require_os_user") == 0)
        p->require_os_user = strcmp(v, "true") == 0;
    else if (strcmp(key, "workflow_budget_ms") == 0)
        p->workflow_budget_ms = atoll(v);
    else if (strcmp(key, "common_key_limit") == 0)
        p->common_key_limit = atoll(v);
    else if (strcmp(key, "migrate_four_eyes") == 0)
        p->migrate_four_eyes = strcmp(v, "true") == 0;
    else if (strcmp(key, "plugin_path") == 0)
        snprintf(p->plugin_path, sizeof p->plugin_path, "%s", v);
    else if (strcmp(key, "plugin_call_ms") == 0)
        p->plugin_call_ms = atoll(v);
}

const cf_policies *cf_engine_policies(cf_engine *e, cf_error *err)
{
    int64_t dv = cf_store_data_version(e->store);
    if (dv == e->pol.data_version && !e->migrating)
        return &e->pol;
    cf_policies p = {.data_version = dv};
    for (size_t i = 0; i < NPOLICIES; i++)
        policy_apply(&p, policies[i].key, policies[i].fallback);
    json_t *rows;
    if (cf_store_policy_list(e->store, &rows, err))
        return NULL;
    size_t i;
    json_t *r;
    int rc = 0;
    json_array_foreach(rows, i, r)
    {
        const char *key = json_string_value(json_array_get(r, 0));
        const char *value = json_string_value(json_array_get(r, 1));
        /* During a migration the rows are tied to their records only at
         * its end. */
        if (!e->migrating &&
            (rc = cf_integrity_check_policy(e->store, key, value,
                                            json_integer_value(json_array_get(r, 2)), err))) {
            if (rc == CF_EINVALID)
                cf_engine_note_altered(e, "policy", key, NULL, NULL);
            break;
        }
        policy_apply(&p, key, value);
    }
    json_decref(rows);
    /* A policy row deleted behind the engine's back must not fall back to
     * the default: a key set in the chain has a row. */
    for (size_t k = 0; k < NPOLICIES && !rc && !e->migrating; k++) {
        char *v = NULL;
        int64_t seq = 0;
        if (!(rc = cf_store_policy_get(e->store, policies[k].key, &v, &seq, err)) && !v &&
            (rc = cf_integrity_check_policy(e->store, policies[k].key, NULL, 0, err)) ==
                CF_EINVALID)
            cf_engine_note_altered(e, "policy", policies[k].key, NULL, NULL);
        free(v);
    }
    if (rc)
        return NULL;
    e->pol = p;
    cf_guard_set_budget_ms(p.plugin_call_ms); /* one budget per process: guard.h */
    if (e->migrating)
        e->pol.data_version = -1;
    return &e->pol;
}

/* ---- who acts ------------------------------------------------------------------------ */

static bool blank_text(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
            return false;
    return true;
}

/* Is the calling account among the comma-separated bindings? */
bool cf_engine_bound_to_me(const cf_engine *e, const char *os_users)
{
    return e->peer_token || cf_list_has(os_users, e->os_login) ||
           cf_list_has(os_users, e->os_uid);
}

int cf_engine_bound_users(cf_engine *e, const char *login, const char *num, char found[80],
                          int *n, cf_error *err)
{
    static const char sql[] = "SELECT name, os_users FROM users WHERE os_users <> ''";
    cf_stmt *st = cf_store_stmt(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int step;
    *n = 0;
    found[0] = '\0';
    while ((step = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *b = cf_stmt_text(st, 1);
        if ((cf_list_has(b, login) || cf_list_has(b, num)) && (*n)++ == 0)
            snprintf(found, 80, "%s", cf_stmt_text(st, 0));
    }
    cf_stmt_reset(st);
    return step == CF_DB_DONE ? 0 : cf_store_error(e->store, step, "read users", err);
}

/* No actor named: on a store of bound users, the one user bound to the
 * calling account. */
static int actor_by_binding(cf_engine *e, cf_error *err)
{
    char found[80];
    int n = 0;
    int rc = cf_engine_bound_users(e, e->os_login, e->os_uid, found, &n, err);
    if (rc)
        return rc;
    if (n != 1)
        return cf_err_set(err, CF_EUSAGE, "actor",
                          n ? "no actor: several users are bound to your account %s; give "
                              "--actor NAME or set CASEFLOW_ACTOR"
                            : "no actor: give --actor NAME or set CASEFLOW_ACTOR",
                          e->os_login);
    return cf_engine_set_actor(e, found, e->reason) ? cf_err_set(err, CF_ENOMEM, NULL,
                                                                 "out of memory")
                                                    : 0;
}

/* May the user of row u act at all, under the policies pol? */
static int may_act(const cf_engine *e, const cf_user_row *u, const cf_policies *pol,
                   cf_error *err)
{
    if (u->disabled)
        return cf_err_set(err, CF_EDENIED, "actor", "user \"%s\" is disabled", e->actor);
    if (u->os_users[0] && !cf_engine_bound_to_me(e, u->os_users))
        return cf_err_set(err, CF_EDENIED, "actor",
                          "user \"%s\" is bound to other operating-system accounts; this "
                          "process runs as %s",
                          e->actor, e->os_login);
    if (!u->os_users[0] && pol->require_os_user)
        return cf_err_set(err, CF_EDENIED, "actor",
                          "store policy require_os_user: user \"%s\" is bound to no "
                          "operating-system account (caseflow user bind)",
                          e->actor);
    return 0;
}

void cf_engine_forget_users(cf_engine *e)
{
    for (size_t i = 0; i < CF_USER_OK_SLOTS; i++) {
        e->user_ok[i].name[0] = '\0';
        e->user_ok[i].data_version = -1;
    }
}

/* The slot of the actor's last check, or NULL. */
static struct cf_user_ok *user_ok_of(cf_engine *e, const char *name)
{
    for (size_t i = 0; i < CF_USER_OK_SLOTS; i++)
        if (e->user_ok[i].data_version >= 0 && strcmp(e->user_ok[i].name, name) == 0)
            return &e->user_ok[i];
    return NULL;
}

int cf_engine_recheck(cf_engine *e, cf_error *err)
{
    struct cf_user_ok *ok = e->actor && *e->actor ? user_ok_of(e, e->actor) : NULL;
    if (!ok || !e->store_id)
        return 0;
    /* Nothing committed by anyone since the check: it still holds. */
    const cf_policies *pol = cf_engine_policies(e, err);
    if (!pol)
        return err ? err->code : CF_EINVALID;
    if (pol->data_version == ok->data_version)
        return 0;
    cf_user_row u;
    int rc = cf_store_user_get(e->store, e->actor, &u, err);
    if (rc == CF_ENOTFOUND)
        return cf_err_set(err, CF_EDENIED, "actor",
                          "user \"%s\" was removed while this command ran", e->actor);
    if (rc)
        return rc;
    if ((rc = cf_integrity_check_user(e->store, &u, err)) == 0 &&
        (rc = may_act(e, &u, pol, err)) == 0 && strcmp(u.roles ? u.roles : "", e->roles ? e->roles : "") != 0)
        rc = cf_err_set(err, CF_ECONFLICT, "actor",
                        "the roles of user \"%s\" changed while this command ran; nothing "
                        "was written; retry",
                        e->actor);
    cf_user_row_clear(&u);
    if (!rc)
        ok->data_version = pol->data_version;
    return rc;
}

int cf_engine_require(cf_engine *e, const char *const *any, size_t nany,
                      const char *what, const char **role, cf_error *err)
{
    if (e->broken.code) {
        if (err)
            *err = e->broken;
        return e->broken.code;
    }
    if (e->clock >= 0 && !e->test_clock)
        return cf_engine_clock_refused(err);
    if (role)
        *role = NULL;
    if ((!e->actor || !*e->actor) && e->store_id && !e->peer_token) {
        int rc = actor_by_binding(e, err);
        if (rc)
            return rc;
    }
    if (!e->actor || !*e->actor)
        return cf_err_set(err, CF_EUSAGE, "actor",
                          "no actor: give --actor NAME or set CASEFLOW_ACTOR");
    /* Both go into the audit chain and its exports: text, never raw bytes. */
    if (!cf_utf8_valid(e->actor))
        return cf_err_set(err, CF_EINVALID, "actor", "actor: not valid UTF-8");
    if (e->reason && !cf_utf8_valid(e->reason))
        return cf_err_set(err, CF_EINVALID, "reason", "reason: not valid UTF-8");
    if (e->reason && blank_text(e->reason))
        return cf_err_set(err, CF_EUSAGE, "reason",
                          "reason: must say why (it is empty or only spaces)");
    const cf_policies *pol = cf_engine_policies(e, err);
    if (!pol) {
        cf_engine_flush_alarm(e);
        return err ? err->code : CF_EINVALID;
    }
    cf_user_row u;
    int rc = cf_store_user_get(e->store, e->actor, &u, err);
    if (rc)
        return rc;
    /* Checked once while no other process has committed: a long-lived
     * engine (a service, a benchmark) does not re-hash its actor per call. */
    struct cf_user_ok *ok = user_ok_of(e, e->actor);
    bool known = ok && ok->data_version == pol->data_version;
    if (!known && (rc = cf_integrity_check_user(e->store, &u, err))) {
        cf_user_row_clear(&u);
        if (rc == CF_EINVALID) {
            cf_engine_note_altered(e, "user", e->actor, NULL, NULL);
            cf_engine_flush_alarm(e);
        }
        return rc;
    }
    if (!ok) {
        ok = &e->user_ok[e->user_ok_next++ % CF_USER_OK_SLOTS];
        snprintf(ok->name, sizeof ok->name, "%s", e->actor);
    }
    ok->data_version = pol->data_version;
    free(e->roles);
    e->roles = u.roles;
    u.roles = NULL;
    rc = may_act(e, &u, pol, err);
    cf_user_row_clear(&u);
    if (rc || !nany)
        return rc;
    for (size_t i = 0; i < nany; i++)
        if (cf_list_has(e->roles, any[i])) {
            if (role)
                *role = any[i];
            return 0;
        }
    char need[96] = "";
    for (size_t i = 0, used = 0; i < nany; i++)
        used += (size_t)snprintf(need + used, sizeof need - used, "%s%s", i ? " or " : "",
                                 any[i]);
    return cf_err_set(err, CF_EDENIED, "role", "%s (roles: %s) may not %s; needs %s",
                      e->actor, e->roles, what, need);
}

/* Run fn inside one transaction with its audit record. */
int cf_engine_begin(cf_engine *e, cf_error *err)
{
    return cf_engine_begin_checked(e, err);
}

int cf_engine_begin_checked(cf_engine *e, cf_error *err)
{
    int rc = cf_store_begin(e->store, err);
    if (!rc && (rc = cf_engine_recheck(e, err)))
        cf_store_rollback(e->store);
    return rc;
}

int cf_engine_finish(cf_engine *e, int rc, cf_error *err)
{
    if (rc) {
        cf_store_rollback(e->store);
        return rc;
    }
    return cf_store_commit(e->store, err);
}

int cf_engine_audit_text(cf_engine *e, const char *role, const char *action,
                         const char *case_id, char *text, int64_t *seq, cf_error *err)
{
    if (!text)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int rc = cf_audit_append(e->store, cf_engine_now(e), e->actor, role, action, case_id,
                             e->reason, text, seq, err);
    free(text);
    return rc;
}

int cf_engine_audit(cf_engine *e, const char *role, const char *action, const char *case_id,
                    const json_t *payload, cf_error *err)
{
    return cf_engine_audit_text(e, role, action, case_id, cf_json_canonical(payload), NULL, err);
}

/* A refused request's message as text the audit chain may keep: at most
 * 300 bytes, cut on a character boundary; "(not UTF-8)" when it is not. */
static void refusal_text(const char *msg, char *buf, size_t size)
{
    if (!msg || !*msg)
        msg = "refused";
    size_t n = strlen(msg);
    if (n >= size) {
        n = size - 1;
        /* Cut before the character that does not fit whole. */
        while (n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(buf, msg, n);
    buf[n] = '\0';
    if (!cf_utf8_valid(buf))
        snprintf(buf, size, "(not UTF-8)");
}

int cf_engine_record_refusal(cf_engine *e, const char *operation, const char *case_id,
                             const cf_error *why, cf_error *err)
{
    cf_err_clear(err);
    if (!operation || !why || !why->code)
        return cf_err_set(err, CF_EUSAGE, "refusal", "a refusal names its operation and error");
    char *reason = e->reason;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc && err && strcmp(err->field, "reason") == 0) {
        /* The refusal may be of the reason itself: recorded without it. */
        e->reason = NULL;
        rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    }
    char message[301], field[64];
    refusal_text(why->message, message, sizeof message);
    refusal_text(why->field, field, sizeof field);
    json_t *p = NULL;
    cf_case_row row;
    bool a_case = false;
    if (!rc && (rc = cf_engine_begin_checked(e, err)) == 0) {
        a_case = case_id && cf_utf8_valid(case_id) &&
                 cf_store_case_get(e->store, case_id, &row, NULL) == 0;
        if (a_case)
            cf_case_row_clear(&row);
        p = json_pack("{s:s, s:s, s:i, s:s?, s:s, s:s?}", "refused", operation, "error",
                      cf_strerror(why->code), "code", why->code, "field",
                      why->field[0] ? field : NULL, "message", message, "case",
                      case_id && !a_case && cf_utf8_valid(case_id) && strlen(case_id) <= 128
                          ? case_id
                          : NULL);
        rc = p ? cf_engine_audit(e, NULL, "refused", a_case ? case_id : NULL, p, err)
               : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        rc = cf_engine_finish(e, rc, err);
    }
    json_decref(p);
    e->reason = reason;
    if (!rc)
        cf_err_clear(err);
    return rc;
}

/* ---- policy ------------------------------------------------------------------------- */

/* plugin_path: directories separated by ':', each an absolute path (a
 * relative one would depend on where each command happens to run: the
 * working directory must never become a plugin source); "" for none. */
static int plugin_dirs_ok(const char *key, const char *value, size_t cap, cf_error *err)
{
    if (strlen(value) >= cap || !cf_utf8_valid(value) || strpbrk(value, "\n\r\t"))
        return cf_err_set(err, CF_EINVALID, key,
                          "%s must be at most %zu bytes of text on one line", key, cap - 1);
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ":");
        if (p[0] != '/')
            return cf_err_set(err, CF_EINVALID, key,
                              "%s: every directory must be an absolute path (\"%.*s\" is not; "
                              "separate directories with ':')",
                              key, (int)(len > 200 ? 200 : len), p);
        p += len;
        if (*p == ':')
            p++;
    }
    return 0;
}

int cf_policy_set(cf_engine *e, const char *key, const char *value, cf_error *err)
{
    cf_err_clear(err);
    int rc = 0;
    int i = key ? policy_index(key) : -1;
    if (i < 0)
        return cf_err_set(err, CF_EINVALID, "policy",
                          "unknown policy \"%s\" (require_reason, checkpoint_interval, anchor, "
                          "require_os_user, workflow_budget_ms, common_key_limit, "
                          "migrate_four_eyes, plugin_path, plugin_call_ms)",
                          key ? key : "");
    if (!value)
        return cf_err_set(err, CF_EINVALID, key, "%s needs a value", key);
    switch (policies[i].kind) {
    case P_BOOL:
        if (strcmp(value, "true") && strcmp(value, "false"))
            return cf_err_set(err, CF_EINVALID, key, "%s must be true or false", key);
        break;
    case P_COUNT: {
        char *end;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || v < policies[i].min || v > policies[i].max ||
            (v == 0 && value[0] != '0') || value[0] == '+' || value[0] == ' ')
            return cf_err_set(err, CF_EINVALID, key, "%s must be a whole number from %lld to %lld",
                              key, policies[i].min, policies[i].max);
        break;
    }
    case P_PATH:
        if (strlen(value) >= sizeof e->pol.anchor || !cf_utf8_valid(value) ||
            (value[0] && value[0] != '/') || strchr(value, '\n'))
            return cf_err_set(err, CF_EINVALID, key,
                              "%s must be an absolute path to a file (or \"\" for none)", key);
        break;
    case P_DIRS:
        if ((rc = plugin_dirs_ok(key, value, sizeof e->pol.plugin_path, err)))
            return rc;
        break;
    }
    const char *role;
    rc = cf_engine_require(e, admin, 1, "set store policy", &role, err);
    if (rc || (rc = cf_engine_begin(e, err)))
        return rc;
    /* Every user must then be bound: the one setting it first, or no one
     * could act from here on (they would need to unset it). */
    if (strcmp(key, "require_os_user") == 0 && strcmp(value, "true") == 0) {
        cf_user_row u;
        if (!(rc = cf_store_user_get(e->store, e->actor, &u, err))) {
            if (!u.os_users[0] || !cf_engine_bound_to_me(e, u.os_users))
                rc = cf_err_set(err, CF_EINVALID, key,
                                "refused: %s would lock out \"%s\", who is not bound to this "
                                "account (%s); caseflow user bind %s %s first",
                                key, e->actor, e->os_login, e->actor, e->os_login);
            cf_user_row_clear(&u);
        }
        if (rc)
            return cf_engine_finish(e, rc, err);
    }
    /* A new checkpoint interval is signed at once (below): what that
     * signature covers is walked first, as for any checkpoint. */
    bool signs = e->public_key && strcmp(key, "checkpoint_interval") == 0;
    if (signs && !(rc = cf_engine_ensure_key(e, err)) &&
        (rc = cf_engine_walk_tail(e, true, err))) {
        cf_error why = *err;
        cf_engine_finish(e, rc, NULL);
        json_t *d = json_pack("{s:s}", "refused", why.message);
        cf_engine_alarm(e, NULL, "policy refused: the chain since the last checkpoint does not verify", d);
        json_decref(d);
        *err = why;
        return rc;
    }
    if (!rc)
        rc = cf_engine_policy_record(e, role, key, value, err);
    /* A new checkpoint interval counts from the checkpoint that signs it
     * (chain.c): signed at once, so it is in force at once. */
    if (!rc && signs)
        rc = cf_engine_sign_head(e, cf_engine_now(e), e->actor, role, NULL, NULL, err);
    e->pol.data_version = -1; /* our own commit: reload */
    return cf_engine_finish(e, rc, err);
}

int cf_engine_policy_record(cf_engine *e, const char *role, const char *key,
                            const char *value, cf_error *err)
{
    char action[96];
    int64_t seq = 0;
    if ((size_t)snprintf(action, sizeof action, "policy.set:%s", key) >= sizeof action)
        return cf_err_set(err, CF_EINVALID, "policy", "policy key too long: %s", key);
    int rc = cf_engine_audit_text(e, role, action, NULL, cf_integrity_policy_payload(key, value),
                                  &seq, err);
    if (!rc)
        rc = cf_store_policy_set(e->store, key, value, seq, err);
    e->pol.data_version = -1; /* our own commit: reload */
    return rc;
}

int cf_policy_get(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    json_t *o = json_object();
    for (size_t i = 0; i < NPOLICIES && !rc; i++) {
        char *v = NULL;
        if (!(rc = cf_store_policy_get(e->store, policies[i].key, &v, NULL, err)))
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
    const cf_policies *p = cf_engine_policies(e, err);
    if (!p)
        return err ? err->code : CF_EINVALID;
    if (!p->require_reason)
        return 0;
    if (e->served)
        return cf_err_set(err, CF_EUSAGE, "reason",
                          "reading case data needs a justification: send it in the "
                          "X-Caseflow-Reason header or the reason parameter (DPA 2018 s.62 "
                          "logs it with the read)");
    return cf_err_set(err, CF_EUSAGE, "reason",
                      "reading case data needs a justification: give --reason TEXT or set "
                      "CASEFLOW_REASON (DPA 2018 s.62 logs it with the read)");
}

int cf_store_describe(const cf_engine *e, json_t **out, cf_error *err)
{
    *out = json_pack("{s:s, s:s}", "backend", cf_store_is_pg(e->store) ? "postgresql" : "sqlite",
                     "store", e->store_path ? e->store_path : "");
    return *out ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

/* store grant (caseflow.h): the grants, and the schema they make recorded
 * in the chain as a schema change by the administrator, in one
 * transaction; the engine holds the store to the new digest from then on. */
int cf_store_grant(cf_engine *e, const char *role, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    if (!cf_store_is_pg(e->store))
        return cf_err_set(err, CF_EUSAGE, "store",
                          "store grant: %s is a SQLite store; grants are PostgreSQL's (a SQLite "
                          "store is guarded by its file's permissions)",
                          e->store_path);
#if CF_WITH_POSTGRES
    const char *as;
    int rc = cf_engine_require(e, admin, 1, "grant the store's roles", &as, err);
    if (rc || (rc = cf_engine_begin(e, err)))
        return rc;
    char before[65], after[65];
    bool temp = false;
    int64_t seq = 0;
    rc = cf_store_schema_digest(e->store, before, err);
    if (!rc)
        rc = cf_store_pg_grant(e->store, role, &temp, err);
    if (!rc)
        rc = cf_store_schema_digest(e->store, after, err);
    bool changed = !rc && strcmp(before, after) != 0;
    if (changed)
        rc = cf_engine_audit_text(e, as, "store.schema", NULL,
                                  cf_integrity_schema_payload(after, cf_store_version(e->store)),
                                  &seq, err);
    if (changed && !rc) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)seq);
        rc = cf_store_meta_set(e->store, "schema_seq", num, err);
    }
    rc = cf_engine_finish(e, rc, err);
    if (rc)
        return rc;
    cf_store_expect_schema(e->store, after, -1);
    if (out && !(*out = json_pack("{s:s, s:b, s:b, s:s}", "role", role, "changed", changed,
                                  "temp_revoked", temp, "schema", after)))
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory (the grants were made)");
    return 0;
#else
    CF_UNUSED(role);
    CF_UNUSED(out);
    return cf_err_set(err, CF_EUSAGE, "store", "this caseflow was built without PostgreSQL");
#endif
}
