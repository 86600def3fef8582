/*
 * The store's first administrator and its users: init (with the signing
 * key pair made apart from the store), adding, disabling, binding users to
 * operating-system accounts. Each change is a user record whose payload is
 * the user's whole state after it, and the row points at that record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "integrity.h"
#include "machine.h"
#include "sign.h"

/* "viewer": reads case data (a dashboard's service user) and never acts. */
static const char *const known_roles[] = {"analyst", "officer", "supervisor", "authoriser",
                                          "administrator", "viewer"};
#define NROLES (sizeof known_roles / sizeof known_roles[0])

static const char *const admin[] = {"administrator"};

static bool valid_name(const char *s);

/* A user record (action user.*) whose payload is the user's whole state
 * after the change, and the row pointing at it. */
static int put_user(cf_engine *e, const char *role, const char *action, cf_user_row *u,
                    bool insert, cf_error *err)
{
    cf_engine_forget_users(e);
    int rc = cf_engine_audit_text(e, role, action, NULL, cf_integrity_user_payload(u), &u->audit_seq,
                        err);
    return rc ? rc : cf_store_user_put(e->store, u, insert, err);
}

static int add_user(cf_engine *e, const char *role, const char *name, const char *roles,
                    const char *os_users, cf_error *err)
{
    bool exists;
    int rc = cf_store_user_exists(e->store, name, &exists, err);
    if (rc)
        return rc;
    if (exists)
        return cf_err_set(err, CF_EINVALID, "name", "user \"%s\" already exists", name);
    cf_user_row u = {.name = (char *)name, .roles = (char *)roles,
                     .created_by = e->actor, .os_users = (char *)(os_users ? os_users : ""),
                     .created_at = cf_engine_now(e)};
    return put_user(e, role, "user.add", &u, true, err);
}

/* ---- store and users --------------------------------------------------------------- */

/* An OS account as a binding names it: a login name or a numeric uid. */
static bool valid_account(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || (c == '$' && !s[n + 1])))
            return false;
    }
    return n > 0 && n <= 32 && s[0] != '-';
}

/* The file name of a PostgreSQL store's key: its database's name from the
 * URI (postgresql://who@host/NAME?...), anything but [A-Za-z0-9._-] as _,
 * or "caseflow" when the URI names no database. */
static const char *pg_key_name(const char *uri, char out[64])
{
    const char *p = strstr(uri, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t n = 0;
    if (p)
        for (p++; *p && *p != '?' && *p != '#' && n < 63; p++) {
            char c = *p;
            bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' || (c == '.' && n > 0);
            out[n++] = keep ? c : '_';
        }
    out[n] = 0;
    return n ? out : "caseflow";
}

/* The key pair of a new store, apart from it. */
static int make_key(cf_engine *e, const cf_init_options *o, char pk[65], cf_error *err)
{
    if (e->key_explicit)
        return cf_sign_keygen(e->key_path, pk, err);
    /* A PostgreSQL store has no directory to keep its key beside: the key
     * stays on the machine that signs, where init is told to put it. */
    bool pg = cf_store_is_pg(e->store);
    if (pg && !(o && o->key_dir))
        return cf_err_set(err, CF_EUSAGE, "key_dir",
                          "a PostgreSQL store keeps its signing key on this machine, not in "
                          "the database: give init --key-dir DIR (or --signing-key PATH)");
    /* The key is named after the store: the file's name, or the
     * database's, so one key directory serves several stores. */
    char dbname[64];
    const char *base = pg ? NULL : strrchr(e->store_path, '/');
    base = pg ? pg_key_name(e->store_path, dbname) : base ? base + 1 : e->store_path;
    char dir[4200], path[4300];
    if (o && o->key_dir)
        snprintf(dir, sizeof dir, "%s", o->key_dir);
    else
        snprintf(dir, sizeof dir, "%s.keys", e->store_path);
    snprintf(path, sizeof path, "%s/%s.key", dir, base);
    int rc = cf_sign_keydir(dir, err);
    if (rc)
        return rc;
    /* Recorded as an absolute path, so any working directory finds it. */
    char *abs = realpath(dir, NULL);
    if (abs) {
        snprintf(path, sizeof path, "%s/%s.key", abs, base);
        free(abs);
    }
    char *kp = strdup(path);
    if (!kp)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(e->key_path);
    e->key_path = kp;
    return cf_sign_keygen(e->key_path, pk, err);
}

static void unlink_key(cf_engine *e)
{
    char pub[4200];
    snprintf(pub, sizeof pub, "%s.pub", e->key_path);
    unlink(e->key_path);
    unlink(pub);
}

int cf_store_init(cf_engine *e, cf_error *err)
{
    return cf_store_init_with(e, NULL, err);
}

int cf_store_init_with(cf_engine *e, const cf_init_options *o, cf_error *err)
{
    cf_err_clear(err);
    bool test_clock = o && o->test_clock;
    if (!e->actor || !*e->actor)
        return cf_err_set(err, CF_EUSAGE, "actor",
                          "init needs the first administrator: give --actor NAME");
    if (!valid_name(e->actor))
        return cf_err_set(err, CF_EINVALID, "actor",
                          "user name must be 1-64 characters of A-Z a-z 0-9 . _ - @");
    if (!e->store_id && strcmp(e->actor, CF_ENGINE_ACTOR) == 0)
        return cf_err_set(err, CF_EINVALID, "actor",
                          "user name \"%s\" is reserved for the engine's own records",
                          e->actor);
    if (e->reason && !cf_utf8_valid(e->reason))
        return cf_err_set(err, CF_EINVALID, "reason", "reason: not valid UTF-8");
    if (o && o->os_user && !valid_account(o->os_user))
        return cf_err_set(err, CF_EINVALID, "os_user",
                          "an OS account is a login name or a uid (1-32 characters of "
                          "A-Z a-z 0-9 . _ -)");
    if (e->store_id) { /* already initialised: nothing to do, and nothing to change */
        if (o && (o->key_dir || o->test_clock || o->os_user))
            return cf_err_set(err, CF_EUSAGE, "init",
                              "the store is already initialised: a key directory, a test "
                              "clock or an OS account apply only to a new store (user bind "
                              "binds an account)");
        bool exists = false;
        int rc = cf_store_user_exists(e->store, e->actor, &exists, err);
        if (rc)
            return rc;
        if (!exists)
            return cf_err_set(err, CF_EDENIED, "actor",
                              "the store is already initialised, and \"%s\" is not one of "
                              "its users",
                              e->actor);
        return e->clock >= 0 && !e->test_clock ? cf_engine_clock_refused(err) : 0;
    }
    if (e->clock >= 0 && !test_clock)
        return cf_engine_clock_refused(err);
    int rc = cf_store_begin(e->store, err);
    if (rc)
        return rc;
    int64_t n = 0;
    rc = cf_store_user_count(e->store, &n, err);
    if (rc || n > 0) {
        cf_store_rollback(e->store);
        return rc;
    }
    unsigned char raw[16];
    char id[33], created[32], pk[65];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(id, sizeof id, raw, sizeof raw);
    cf_time_format(cf_engine_now(e), created);
    bool memory = strcmp(e->store_path, ":memory:") == 0;
    /* The key pair is made before anything is committed; if the commit fails
     * the new key files are removed again. */
    if (!memory && (rc = make_key(e, o, pk, err))) {
        cf_store_rollback(e->store);
        return rc;
    }
    rc = cf_store_meta_set(e->store, "store_id", id, err);
    if (!rc)
        rc = cf_store_meta_set(e->store, "created_at", created, err);
    if (!rc && !memory)
        rc = cf_store_meta_set(e->store, "public_key", pk, err);
    if (!rc && !memory)
        rc = cf_store_meta_set(e->store, "key_path", e->key_path, err);
    if (!rc && test_clock)
        rc = cf_store_meta_set(e->store, "test_clock", "true", err);
    if (!rc)
        rc = cf_engine_audit_text(e, "administrator", "store.init", NULL,
                        cf_integrity_init_payload(id, memory ? NULL : pk, created, test_clock,
                                                  memory ? NULL : e->key_path),
                        NULL, err);
    if (!rc)
        rc = add_user(e, "administrator", e->actor, "administrator",
                      o && o->os_user ? o->os_user : NULL, err);
    char digest[65];
    int64_t seq = 0;
    if (!rc)
        rc = cf_store_schema_digest(e->store, digest, err);
    if (!rc)
        rc = cf_engine_audit_text(e, "administrator", "store.schema", NULL,
                        cf_integrity_schema_payload(digest, cf_store_version(e->store)), &seq,
                        err);
    if (!rc) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)seq);
        rc = cf_store_meta_set(e->store, "schema_seq", num, err);
    }
    if (!rc) {
        free(e->store_id);
        free(e->public_key);
        e->store_id = strdup(id);
        e->public_key = memory ? NULL : strdup(pk);
        e->test_clock = test_clock;
        rc = cf_store_commit(e->store, err);
        if (!rc && (rc = cf_store_schema_digest(e->store, digest, err)) == 0)
            cf_store_expect_schema(e->store, digest, -1);
    } else {
        cf_store_rollback(e->store);
    }
    if (rc && !memory)
        unlink_key(e);
    if (rc) {
        free(e->store_id);
        e->store_id = NULL;
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

/* items as a sorted, de-duplicated comma-separated list into out. */
static int join_list(const char *const *items, bool (*valid)(const char *), const char *what,
                     char *out, size_t size, cf_error *err)
{
    size_t used = 0;
    out[0] = '\0';
    json_t *set = json_array();
    for (size_t i = 0; items && items[i]; i++) {
        if (!valid(items[i])) {
            json_decref(set);
            return cf_err_set(err, CF_EINVALID, what, "%s: \"%s\" is not valid", what,
                              items[i]);
        }
        json_array_append_new(set, json_string(items[i]));
    }
    /* Insertion sort: a handful of items. */
    for (size_t i = 1; i < json_array_size(set); i++)
        for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(set, j - 1)),
                                           json_string_value(json_array_get(set, j))) > 0;
             j--) {
            json_t *a = json_incref(json_array_get(set, j - 1));
            json_array_set(set, j - 1, json_array_get(set, j));
            json_array_set_new(set, j, a);
        }
    for (size_t i = 0; i < json_array_size(set); i++) {
        const char *v = json_string_value(json_array_get(set, i));
        if (cf_list_has(out, v))
            continue;
        used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "", v);
        if (used >= size) {
            json_decref(set);
            return cf_err_set(err, CF_EINVALID, what, "%s: too many", what);
        }
    }
    json_decref(set);
    return 0;
}

int cf_user_add(cf_engine *e, const char *name, const char *const *roles, cf_error *err)
{
    return cf_user_add_with(e, name, roles, NULL, err);
}

int cf_user_add_with(cf_engine *e, const char *name, const char *const *roles,
                     const char *const *os_users, cf_error *err)
{
    cf_err_clear(err);
    if (!name || !valid_name(name))
        return cf_err_set(err, CF_EINVALID, "name",
                          "user name must be 1-64 characters of A-Z a-z 0-9 . _ - @");
    if (strcmp(name, CF_ENGINE_ACTOR) == 0)
        return cf_err_set(err, CF_EINVALID, "name",
                          "user name \"%s\" is reserved for the engine's own records", name);
    char list[128] = "";
    size_t used = 0;
    for (size_t i = 0; roles && roles[i]; i++) {
        if (!known_role(roles[i]))
            return cf_err_set(err, CF_EINVALID, "role",
                              "unknown role \"%s\" (analyst, officer, supervisor, "
                              "authoriser, administrator)",
                              roles[i]);
        if (cf_list_has(list, roles[i]))
            continue;
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "",
                                 roles[i]);
    }
    if (!used)
        return cf_err_set(err, CF_EINVALID, "role", "a user needs at least one --role");
    char accounts[512];
    int rc = join_list(os_users, valid_account, "os_user", accounts, sizeof accounts, err);
    if (rc)
        return rc;
    const char *role;
    if ((rc = cf_engine_require(e, admin, 1, "add users", &role, err)) || (rc = cf_engine_begin(e, err)))
        return rc;
    rc = add_user(e, role, name, list, accounts, err);
    return cf_engine_finish(e, rc, err);
}

/* After u's change, can the store still be run? The administrator making
 * the change can still act (no disabling or binding oneself out), and some
 * enabled administrator remains. */
static int still_governed(cf_engine *e, const cf_user_row *u, const char *what,
                          cf_error *err)
{
    static const char others[] =
        "SELECT count(*) FROM users WHERE disabled = 0 AND name <> ?"
        " AND instr(',' || roles || ',', ',administrator,') > 0";
    static const char others_pg[] = /* PostgreSQL's instr is strpos */
        "SELECT count(*) FROM users WHERE disabled = 0 AND name <> ?"
        " AND strpos(',' || roles || ',', ',administrator,') > 0";
    if (strcmp(u->name, e->actor) == 0) {
        const cf_policies *pol = cf_engine_policies(e, err);
        if (!pol)
            return err ? err->code : CF_EINVALID;
        if (u->disabled ||
            (u->os_users[0] ? !cf_engine_bound_to_me(e, u->os_users) : pol->require_os_user))
            return cf_err_set(err, CF_EINVALID, "name",
                              "refused to %s: \"%s\" could no longer act from this account "
                              "(%s); let another administrator do it",
                              what, u->name, e->os_login);
    }
    if (!u->disabled || !cf_list_has(u->roles, "administrator"))
        return 0;
    cf_stmt *st = cf_store_stmt_for(e->store, others, others_pg, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, u->name);
    int step = cf_stmt_step(st);
    int64_t n = step == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    if (step != CF_DB_ROW)
        return cf_store_error(e->store, step, "read users", err);
    return n ? 0
             : cf_err_set(err, CF_EINVALID, "name",
                          "refused to %s: \"%s\" is the last enabled administrator", what,
                          u->name);
}

/* Change a user: fn edits the row; recorded as `action`. */
static int change_user(cf_engine *e, const char *name, const char *action, const char *what,
                       int (*fn)(cf_user_row *, const char *, cf_error *), const char *arg,
                       cf_error *err)
{
    cf_err_clear(err);
    const char *role;
    int rc = cf_engine_require(e, admin, 1, what, &role, err);
    if (rc || (rc = cf_engine_begin(e, err)))
        return rc;
    cf_user_row u;
    rc = cf_store_user_get(e->store, name ? name : "", &u, err);
    if (rc == CF_EDENIED)
        rc = cf_err_set(err, CF_ENOTFOUND, "name", "no such user \"%s\"", name ? name : "");
    else if (!rc && !(rc = cf_integrity_check_user(e->store, &u, err)) &&
             !(rc = fn(&u, arg, err)) && !(rc = still_governed(e, &u, what, err)))
        rc = put_user(e, role, action, &u, false, err);
    cf_user_row_clear(&u);
    return cf_engine_finish(e, rc, err);
}

static int do_disable(cf_user_row *u, const char *arg, cf_error *err)
{
    CF_UNUSED(arg);
    if (u->disabled)
        return cf_err_set(err, CF_EINVALID, "name", "user \"%s\" is disabled already", u->name);
    u->disabled = 1;
    return 0;
}

/* The user's bindings become list (copied). */
static int set_os_users(cf_user_row *u, const char *list, cf_error *err)
{
    char *nu = strdup(list);
    if (!nu)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(u->os_users);
    u->os_users = nu;
    return 0;
}

static int do_bind(cf_user_row *u, const char *arg, cf_error *err)
{
    if (!valid_account(arg))
        return cf_err_set(err, CF_EINVALID, "os_user",
                          "an OS account is a login name or a uid (1-32 characters of "
                          "A-Z a-z 0-9 . _ -)");
    if (cf_list_has(u->os_users, arg))
        return cf_err_set(err, CF_EINVALID, "os_user", "user \"%s\" is bound to %s already",
                          u->name, arg);
    const char *items[34];
    size_t n = 0;
    char *copy = strdup(u->os_users), *save = NULL;
    if (!copy)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    for (char *t = strtok_r(copy, ",", &save); t && n < 32; t = strtok_r(NULL, ",", &save))
        items[n++] = t;
    items[n++] = arg;
    items[n] = NULL;
    char out[512];
    int rc = join_list(items, valid_account, "os_user", out, sizeof out, err);
    free(copy);
    if (rc)
        return rc;
    return set_os_users(u, out, err);
}

static int do_unbind(cf_user_row *u, const char *arg, cf_error *err)
{
    if (!arg || !cf_list_has(u->os_users, arg))
        return cf_err_set(err, CF_EINVALID, "os_user", "user \"%s\" is not bound to %s",
                          u->name, arg ? arg : "");
    char out[512] = "";
    size_t used = 0;
    char *copy = strdup(u->os_users), *save = NULL;
    if (!copy)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, arg) != 0)
            used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", used ? "," : "", t);
    free(copy);
    return set_os_users(u, out, err);
}

int cf_user_disable(cf_engine *e, const char *name, cf_error *err)
{
    return change_user(e, name, "user.disable", "disable users", do_disable, NULL, err);
}

int cf_user_bind(cf_engine *e, const char *name, const char *os_user, cf_error *err)
{
    return change_user(e, name, "user.bind", "bind users to accounts", do_bind, os_user, err);
}

int cf_user_unbind(cf_engine *e, const char *name, const char *os_user, cf_error *err)
{
    return change_user(e, name, "user.unbind", "unbind users from accounts", do_unbind,
                       os_user, err);
}

int cf_user_list(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, admin, 1, "list users", NULL, err);
    return rc ? rc : cf_store_user_list(e->store, out, err);
}
