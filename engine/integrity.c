/*
 * Tying the tables to the audit chain (see integrity.h). The verifier here
 * runs after the chain itself has verified: it recomputes each audited row's
 * canonical text and checks it against the digest the chain holds, and
 * counts rows against records so that nothing was added or removed. The
 * tables it covers are cases (with their timers, tasks, keys and
 * notifications), events, users, workflows, the store's identity in meta,
 * and signed checkpoints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "integrity.h"

static char *canon(json_t *v)
{
    char *t = v ? cf_json_canonical(v) : NULL;
    json_decref(v);
    return t;
}

char *cf_integrity_event_payload(const cf_event_fields *f)
{
    return canon(json_pack(
        "{s:s, s:I, s:s, s:s?, s:s, s:s?, s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "case",
        f->case_id, "at", (json_int_t)f->at, "actor", f->actor, "role", f->role, "event",
        f->event, "outcome", f->outcome, "from", f->from, "to", f->to, "data_sha256",
        f->data_sha256, "plugin", f->plugin, "plugin_version", f->plugin_version,
        "plugin_sha256", f->plugin_sha256, "case_sha256", f->case_sha256));
}

char *cf_integrity_user_payload(const char *name, const char *roles, int64_t created_at,
                                const char *created_by)
{
    return canon(json_pack("{s:s, s:s, s:I, s:s}", "user", name, "roles", roles,
                           "created_at", (json_int_t)created_at, "created_by", created_by));
}

char *cf_integrity_disable_payload(const char *name)
{
    return canon(json_pack("{s:s, s:s}", "user", name, "disabled", "yes"));
}

char *cf_integrity_workflow_payload(const char *name, int64_t version, int64_t declared,
                                    const char *hash, int64_t at, const char *by)
{
    return canon(json_pack("{s:s, s:I, s:I, s:s, s:I, s:s}", "workflow", name, "version",
                           (json_int_t)version, "declared_version", (json_int_t)declared,
                           "hash", hash, "deployed_at", (json_int_t)at, "deployed_by", by));
}

char *cf_integrity_checkpoint_payload(int64_t signed_seq, const char *head, int64_t at,
                                      const char *signature)
{
    return canon(json_pack("{s:I, s:s, s:I, s:s}", "signed_seq", (json_int_t)signed_seq,
                           "head", head, "at", (json_int_t)at, "signature", signature));
}

char *cf_integrity_init_payload(const char *store_id, const char *public_key,
                                const char *created_at)
{
    return canon(json_pack("{s:s, s:s?, s:s}", "store_id", store_id, "public_key",
                           public_key, "created_at", created_at));
}

/* ---- case digests ------------------------------------------------------------ */

/* The digest hashes every column of every row as a length-prefixed field:
 * "<type><length>:<bytes>" (type n: null, i: integer, t: text), rows and
 * tables separated by ';' and '|'. No escaping and no JSON on this path:
 * it runs for every case a command writes. */
static int hash_rows(cf_store *s, sqlite3_stmt *st, crypto_hash_sha256_state *h,
                     cf_error *err)
{
    int rc;
    char head[48];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            int n;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                crypto_hash_sha256_update(h, (const unsigned char *)"n0:", 3);
                break;
            case SQLITE_INTEGER:
                n = snprintf(head, sizeof head, "i%lld:",
                             (long long)sqlite3_column_int64(st, i));
                crypto_hash_sha256_update(h, (const unsigned char *)head, (size_t)n);
                break;
            default: {
                const unsigned char *t = sqlite3_column_text(st, i);
                size_t len = (size_t)sqlite3_column_bytes(st, i);
                n = snprintf(head, sizeof head, "t%zu:", len);
                crypto_hash_sha256_update(h, (const unsigned char *)head, (size_t)n);
                crypto_hash_sha256_update(h, t, len);
            }
            }
        }
        crypto_hash_sha256_update(h, (const unsigned char *)";", 1);
    }
    sqlite3_reset(st);
    crypto_hash_sha256_update(h, (const unsigned char *)"|", 1);
    return rc == SQLITE_DONE ? 0 : cf_store_error(s, rc, "digest case", err);
}

int cf_integrity_case_digest(cf_store *s, const char *case_id, char out[65], cf_error *err)
{
    static const char *const sqls[] = {
        "SELECT seq, id, source, reference, workflow, version, state, data, revision,"
        " created_at, updated_at, deadline_at, review_at, legal_hold, disposed_at"
        " FROM cases WHERE id=?",
        "SELECT event, state, due_at FROM timers WHERE case_id=? ORDER BY event",
        "SELECT seq, role, kind, detail, status, created_at FROM tasks WHERE case_id=?"
        " ORDER BY seq",
        "SELECT kind, value FROM keys WHERE case_id=? ORDER BY kind, value",
        "SELECT seq, channel, payload, created_at FROM notifications WHERE case_id=?"
        " ORDER BY seq",
    };
    crypto_hash_sha256_state h;
    unsigned char bin[crypto_hash_sha256_BYTES];
    int rc = 0;
    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < sizeof sqls / sizeof sqls[0] && !rc; i++) {
        sqlite3_stmt *st = cf_store_stmt(s, sqls[i], err);
        if (!st)
            return err ? err->code : CF_EIO;
        sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
        rc = hash_rows(s, st, &h, err);
    }
    if (rc)
        return rc;
    crypto_hash_sha256_final(&h, bin);
    sodium_bin2hex(out, 65, bin, sizeof bin);
    return 0;
}

/* ---- verification ------------------------------------------------------------------ */

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool digest_is(const char *payload, const char *digest)
{
    char h[65];
    if (!payload || !digest)
        return false;
    cf_sha256_hex(payload, strlen(payload), h);
    return strcmp(h, digest) == 0;
}

static int broken(cf_error *err, const char *table, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int broken(cf_error *err, const char *table, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cf_err_set(err, CF_EINVALID, table, "audit verify: %s: %s", table, msg);
}

static int scalar(cf_store *s, const char *sql, const char *text, int64_t *out, cf_error *err)
{
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : cf_store_error(s, rc, "verify", err);
}

static int verify_events(cf_store *s, int64_t *n, cf_error *err)
{
    static const char sql[] =
        "SELECT e.seq, e.case_id, e.at, e.actor, e.role, e.event, e.outcome, e.from_state,"
        " e.to_state, e.data, e.data_sha256, e.plugin, e.plugin_version, e.plugin_sha256,"
        " e.case_sha256, a.digest, a.case_id, a.at, a.actor, a.action,"
        " (SELECT disposed_at FROM cases c WHERE c.id = e.case_id), e.audit_seq"
        " FROM events e LEFT JOIN audit a ON a.seq = e.audit_seq ORDER BY e.seq";
    static const char count[] =
        "SELECT count(*) FROM audit WHERE action IN ('collection', 'change', 'retention',"
        " 'erasure')";
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = 0, step;
    char where[64];
    int64_t last_audit = 0;
    *n = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(where, sizeof where, "history record %lld",
                 (long long)sqlite3_column_int64(st, 0));
        /* History is written in audit order: each record's audit seq is
         * greater than the one before, so none can be moved or copied. */
        int64_t aseq = sqlite3_column_int64(st, 21);
        const char *action = col(st, 19);
        if (aseq <= last_audit) {
            rc = broken(err, "events", "%s: out of order or duplicated", where);
            break;
        }
        last_audit = aseq;
        if (!action || (strcmp(action, "collection") && strcmp(action, "change") &&
                        strcmp(action, "retention") && strcmp(action, "erasure"))) {
            rc = broken(err, "events", "%s: its audit record is not a history record", where);
            break;
        }
        const char *data = col(st, 9), *dsha = col(st, 10);
        char h[65];
        if (data) {
            cf_sha256_hex(data, strlen(data), h);
            if (!same(h, dsha)) {
                rc = broken(err, "events", "%s: data altered", where);
                break;
            }
        } else if (dsha && sqlite3_column_type(st, 20) == SQLITE_NULL) {
            rc = broken(err, "events", "%s: data erased, but the case was not disposed",
                        where);
            break;
        }
        cf_event_fields f = {
            .case_id = col(st, 1), .at = sqlite3_column_int64(st, 2), .actor = col(st, 3),
            .role = col(st, 4), .event = col(st, 5), .outcome = col(st, 6),
            .from = col(st, 7), .to = col(st, 8), .data_sha256 = dsha,
            .plugin = col(st, 11), .plugin_version = col(st, 12),
            .plugin_sha256 = col(st, 13), .case_sha256 = col(st, 14)};
        if (!f.case_id || !f.actor || !f.event || !f.to) {
            rc = broken(err, "events", "%s: required column emptied", where);
            break;
        }
        char *payload = cf_integrity_event_payload(&f);
        bool ok = digest_is(payload, col(st, 15)) && same(col(st, 16), f.case_id) &&
                  sqlite3_column_int64(st, 17) == f.at && same(col(st, 18), f.actor);
        free(payload);
        if (!ok)
            rc = broken(err, "events", "%s: does not match its audit record", where);
        (*n)++;
    }
    sqlite3_reset(st);
    if (rc)
        return rc;
    if (step != SQLITE_DONE)
        return cf_store_error(s, step, "verify events", err);
    int64_t records;
    if ((rc = scalar(s, count, NULL, &records, err)))
        return rc;
    if (records != *n)
        return broken(err, "events", "%s",
                      records > *n ? "history records missing" : "history records added");
    return 0;
}

static int verify_cases(cf_store *s, int64_t *n, cf_error *err)
{
    static const char sql[] =
        "SELECT c.id, (SELECT e.case_sha256 FROM events e WHERE e.case_id = c.id"
        "  AND e.case_sha256 IS NOT NULL ORDER BY e.seq DESC LIMIT 1) FROM cases c";
    static const char orphans[] =
        "SELECT count(*) FROM (SELECT DISTINCT case_id FROM events)"
        " WHERE case_id NOT IN (SELECT id FROM cases)";
    /* Streamed with a statement of its own (the digest queries use the
     * cache), so memory does not grow with the number of cases. */
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(cf_store_db(s), sql, -1, &st, NULL), step;
    if (rc != SQLITE_OK)
        return cf_store_error(s, rc, "verify cases", err);
    rc = 0;
    *n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = col(st, 0), *want = col(st, 1);
        char got[65], where[80];
        snprintf(where, sizeof where, "case %s", id ? id : "?");
        if (!want) {
            rc = broken(err, "cases", "%s: no audited history (row added?)", where);
            break;
        }
        if ((rc = cf_integrity_case_digest(s, id, got, err)))
            break;
        if (strcmp(got, want) != 0) {
            rc = broken(err, "cases", "%s: row, timers, tasks, keys or notifications altered",
                        where);
            break;
        }
        (*n)++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = cf_store_error(s, step, "verify cases", err);
    sqlite3_finalize(st);
    if (rc)
        return rc;
    int64_t missing;
    if ((rc = scalar(s, orphans, NULL, &missing, err)))
        return rc;
    if (missing)
        return broken(err, "cases", "%s", "case rows deleted");
    /* Rows of a case's side tables are covered by that case's digest; rows
     * that belong to no case are covered by nothing, so there must be none. */
    static const char *const side[] = {
        "SELECT count(*) FROM timers WHERE case_id IS NULL OR case_id NOT IN (SELECT id FROM cases)",
        "SELECT count(*) FROM tasks WHERE case_id IS NULL OR case_id NOT IN (SELECT id FROM cases)",
        "SELECT count(*) FROM keys WHERE case_id IS NULL OR case_id NOT IN (SELECT id FROM cases)",
        "SELECT count(*) FROM notifications WHERE case_id IS NULL OR case_id NOT IN (SELECT id FROM cases)",
    };
    static const char *const names[] = {"timers", "tasks", "keys", "notifications"};
    for (size_t t = 0; t < 4; t++) {
        if ((rc = scalar(s, side[t], NULL, &missing, err)))
            return rc;
        if (missing)
            return broken(err, names[t], "%lld row(s) of no case (added?)", (long long)missing);
    }
    return 0;
}

static int verify_users(cf_store *s, int64_t *n, cf_error *err)
{
    static const char sql[] =
        "SELECT u.name, u.roles, u.disabled, u.created_at, u.created_by, a.digest, a.action"
        " FROM users u LEFT JOIN audit a ON a.seq = u.audit_seq";
    static const char disabled[] =
        "SELECT digest FROM audit WHERE action='user.disable'";
    static const char count[] = "SELECT count(*) FROM audit WHERE action='user.add'";
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *rows = json_array();
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        char *payload = cf_integrity_user_payload(col(st, 0) ? col(st, 0) : "",
                                                  col(st, 1) ? col(st, 1) : "",
                                                  sqlite3_column_int64(st, 3),
                                                  col(st, 4) ? col(st, 4) : "");
        bool ok = digest_is(payload, col(st, 5)) && same(col(st, 6), "user.add");
        free(payload);
        char *dp = cf_integrity_disable_payload(col(st, 0) ? col(st, 0) : "");
        char h[65];
        cf_sha256_hex(dp ? dp : "", dp ? strlen(dp) : 0, h);
        free(dp);
        json_array_append_new(rows, json_pack("[s?, b, i, s]", col(st, 0), ok,
                                              sqlite3_column_int(st, 2), h));
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(rows);
        return cf_store_error(s, step, "verify users", err);
    }
    /* The digests of every user.disable record, in one pass. */
    json_t *off = json_object();
    if ((st = cf_store_stmt(s, disabled, err))) {
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            if (col(st, 0))
                json_object_set_new(off, col(st, 0), json_true());
        sqlite3_reset(st);
    } else {
        rc = err ? err->code : CF_EIO;
    }
    size_t i;
    json_t *r;
    *n = 0;
    json_array_foreach(rows, i, r)
    {
        if (rc)
            break;
        const char *name = json_string_value(json_array_get(r, 0));
        if (!json_is_true(json_array_get(r, 1))) {
            rc = broken(err, "users", "user %s: does not match its audit record",
                        name ? name : "?");
            break;
        }
        bool d = json_object_get(off, json_string_value(json_array_get(r, 3))) != NULL;
        if (d != (json_integer_value(json_array_get(r, 2)) != 0)) {
            rc = broken(err, "users", "user %s: disabled flag altered", name);
            break;
        }
        (*n)++;
    }
    json_decref(rows);
    json_decref(off);
    int64_t records;
    if (!rc && !(rc = scalar(s, count, NULL, &records, err)) && records != *n)
        rc = broken(err, "users", "%s", "user rows added or deleted");
    return rc;
}

static int verify_workflows(cf_store *s, int64_t *n, cf_error *err)
{
    static const char sql[] =
        "SELECT w.name, w.version, w.declared_version, w.hash, w.bundle, w.deployed_at,"
        " w.deployed_by, a.digest, a.action FROM workflows w"
        " LEFT JOIN audit a ON a.seq = w.audit_seq";
    static const char count[] = "SELECT count(*) FROM audit WHERE action='workflow.deploy'";
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = 0, step;
    *n = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        char where[96];
        snprintf(where, sizeof where, "workflow %s v%lld", col(st, 0) ? col(st, 0) : "?",
                 (long long)sqlite3_column_int64(st, 1));
        json_t *bundle = col(st, 4) ? json_loads(col(st, 4), 0, NULL) : NULL;
        char *text = bundle ? cf_json_canonical(bundle) : NULL;
        json_decref(bundle);
        char h[65] = "";
        if (text)
            cf_sha256_hex(text, strlen(text), h);
        free(text);
        char *payload = cf_integrity_workflow_payload(
            col(st, 0) ? col(st, 0) : "", sqlite3_column_int64(st, 1),
            sqlite3_column_int64(st, 2), col(st, 3) ? col(st, 3) : "",
            sqlite3_column_int64(st, 5), col(st, 6) ? col(st, 6) : "");
        if (!same(h, col(st, 3)))
            rc = broken(err, "workflows", "%s: source does not match its hash", where);
        else if (!digest_is(payload, col(st, 7)) || !same(col(st, 8), "workflow.deploy"))
            rc = broken(err, "workflows", "%s: does not match its audit record", where);
        free(payload);
        (*n)++;
    }
    sqlite3_reset(st);
    if (rc)
        return rc;
    if (step != SQLITE_DONE)
        return cf_store_error(s, step, "verify workflows", err);
    int64_t records;
    if ((rc = scalar(s, count, NULL, &records, err)))
        return rc;
    return records != *n ? broken(err, "workflows", "%s", "workflow versions added or deleted")
                         : 0;
}

/* Each policy row must be what its key's latest policy.set record says. */
static int verify_policies(cf_store *s, cf_error *err)
{
    static const char sql[] = "SELECT key, value FROM meta WHERE key LIKE 'policy.%'";
    static const char latest[] =
        "SELECT digest FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1";
    static const char count[] = "SELECT count(DISTINCT action) FROM audit"
                                " WHERE action LIKE 'policy.set:%'";
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *rows = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(rows, json_pack("[s?, s?]", col(st, 0), col(st, 1)));
    sqlite3_reset(st);
    int rc = step == SQLITE_DONE ? 0 : cf_store_error(s, step, "verify meta", err);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (rc)
            break;
        const char *key = json_string_value(json_array_get(r, 0));
        const char *value = json_string_value(json_array_get(r, 1));
        char action[96];
        snprintf(action, sizeof action, "policy.set:%s", key ? key + 7 : "");
        json_t *p = json_pack("{s:s, s:s}", "key", key ? key + 7 : "", "value",
                              value ? value : "");
        char *payload = p ? cf_json_canonical(p) : NULL;
        json_decref(p);
        sqlite3_stmt *l = cf_store_stmt(s, latest, err);
        if (!l) {
            free(payload);
            rc = err ? err->code : CF_EIO;
            break;
        }
        sqlite3_bind_text(l, 1, action, -1, SQLITE_TRANSIENT);
        bool ok = sqlite3_step(l) == SQLITE_ROW && digest_is(payload, col(l, 0));
        sqlite3_reset(l);
        free(payload);
        if (!ok)
            rc = broken(err, "meta", "policy %s does not match its audit record",
                        key ? key + 7 : "?");
    }
    int64_t records = 0;
    if (!rc && !(rc = scalar(s, count, NULL, &records, err)) &&
        records != (int64_t)json_array_size(rows))
        rc = broken(err, "meta", "%s", "policy rows deleted");
    json_decref(rows);
    return rc;
}

static int verify_identity(cf_store *s, cf_error *err)
{
    char *id = NULL, *pk = NULL, *created = NULL;
    int rc = cf_store_meta_get(s, "store_id", &id, err);
    if (!rc)
        rc = cf_store_meta_get(s, "public_key", &pk, err);
    if (!rc)
        rc = cf_store_meta_get(s, "created_at", &created, err);
    int64_t records = 0;
    if (!rc && !id && !(rc = scalar(s, "SELECT count(*) FROM audit", NULL, &records, err)) &&
        records > 0)
        rc = broken(err, "meta", "%s", "store identity deleted");
    if (!rc && id) {
        static const char sql[] = "SELECT digest, action FROM audit WHERE seq=1";
        sqlite3_stmt *st = cf_store_stmt(s, sql, err);
        char *payload = cf_integrity_init_payload(id, pk, created ? created : "");
        int step = st ? sqlite3_step(st) : SQLITE_ERROR;
        bool ok = step == SQLITE_ROW && same(col(st, 1), "store.init") &&
                  digest_is(payload, col(st, 0));
        if (st)
            sqlite3_reset(st);
        free(payload);
        if (!ok)
            rc = broken(err, "meta", "%s", "store identity or public key altered");
    }
    free(id);
    free(pk);
    free(created);
    return rc;
}

int cf_integrity_verify(cf_store *s, json_t *report, cf_error *err)
{
    int64_t events = 0, cases = 0, users = 0, workflows = 0;
    int rc = verify_identity(s, err);
    if (!rc)
        rc = verify_policies(s, err);
    if (!rc)
        rc = verify_events(s, &events, err);
    if (!rc)
        rc = verify_cases(s, &cases, err);
    if (!rc)
        rc = verify_users(s, &users, err);
    if (!rc)
        rc = verify_workflows(s, &workflows, err);
    json_object_set_new(report, "tables",
                        json_pack("{s:I, s:I, s:I, s:I}", "events", (json_int_t)events,
                                  "cases", (json_int_t)cases, "users", (json_int_t)users,
                                  "workflows", (json_int_t)workflows));
    return rc;
}
