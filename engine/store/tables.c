/*
 * The store's tables (store.h): the rows caseflow reads and writes, through
 * the statement layer (store/db.h) only, so the same functions serve every
 * backend; and the hashing of rows with their storage types, which the
 * audit chain's digests are made of.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../integrity.h"
#include "../store.h"

/* The rows of st, hashed with their storage types: every column as a
 * length-prefixed field "<type><length>:<bytes>" (n null, i integer, r real,
 * t text, b blob), rows ended by ';' and the set by '|'. A value that
 * changes type but not bytes changes the digest. st is reset, not
 * finalized. */
/* The current row of st, as cf_store_hash_rows hashes each row. */
static void hash_row(cf_stmt *st, cf_sha256 *h)
{
    cf_store_hash_row(st, 0, cf_stmt_columns(st), h);
}

void cf_store_hash_row(cf_stmt *st, int first, int end, cf_sha256 *h)
{
    char head[48];
    {
        for (int i = first; i < end; i++) {
            int n, type = cf_stmt_type(st, i);
            switch (type) {
            case CF_DB_NULL:
                cf_sha256_update(h, (const unsigned char *)"n0:", 3);
                break;
            case CF_DB_INTEGER:
                n = (int)cf_hash_field_head(head, 'i', cf_stmt_int64(st, i));
                cf_sha256_update(h, (const unsigned char *)head, (size_t)n);
                break;
            case CF_DB_FLOAT:
                n = snprintf(head, sizeof head, "r%.17g:", cf_stmt_double(st, i));
                cf_sha256_update(h, (const unsigned char *)head, (size_t)n);
                break;
            default: {
                const unsigned char *t = type == CF_DB_BLOB
                                             ? cf_stmt_blob(st, i)
                                             : cf_stmt_text(st, i);
                size_t len = (size_t)cf_stmt_bytes(st, i);
                n = (int)cf_hash_field_head(head, type == CF_DB_BLOB ? 'b' : 't',
                                            (int64_t)len);
                cf_sha256_update(h, (const unsigned char *)head, (size_t)n);
                if (len)
                    cf_sha256_update(h, t, len);
            }
            }
        }
        cf_sha256_update(h, (const unsigned char *)";", 1);
    }
}

int cf_store_hash_rows(cf_store *s, cf_stmt *st, cf_sha256 *h,
                       cf_error *err)
{
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        hash_row(st, h);
    cf_stmt_reset(st);
    cf_sha256_update(h, (const unsigned char *)"|", 1);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "hash rows", err);
}

/* ---- small helpers ------------------------------------------------------------ */

static int done(cf_store *s, cf_stmt *st, const char *what, cf_error *err)
{
    int rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE)
        return cf_store_error(s, rc, what, err);
    return 0;
}

static char *col_dup(cf_stmt *st, int i)
{
    const char *t = cf_stmt_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static json_t *col_json_str(cf_stmt *st, int i)
{
    const char *t = cf_stmt_text(st, i);
    return t ? json_string((const char *)t) : json_null();
}

static json_t *col_time(cf_stmt *st, int i)
{
    if (cf_stmt_type(st, i) == CF_DB_NULL)
        return json_null();
    char buf[32];
    cf_time_format(cf_stmt_int64(st, i), buf);
    return json_string(buf);
}

static void bind_text(cf_stmt *st, int i, const char *v)
{
    if (v)
        cf_stmt_bind_text(st, i, v);
    else
        cf_stmt_bind_null(st, i);
}

/* ---- meta ------------------------------------------------------------------------ */

int cf_store_meta_get(cf_store *s, const char *key, char **value, cf_error *err)
{
    static const char sql[] = "SELECT value FROM meta WHERE key=?";
    *value = NULL;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, key);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW)
        *value = col_dup(st, 0);
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read meta", err);
    return 0;
}

int cf_store_meta_set(cf_store *s, const char *key, const char *value, cf_error *err)
{
    static const char sql[] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)";
    static const char pg_sql[] = "INSERT INTO meta(key, value) VALUES(?, ?)"
                                 " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    return done(s, st, "write meta", err);
}

/* ---- policies and record payloads ------------------------------------------ */

int cf_store_policy_get(cf_store *s, const char *key, char **value, int64_t *audit_seq,
                        cf_error *err)
{
    static const char sql[] = "SELECT value, audit_seq FROM policies WHERE key=?";
    *value = NULL;
    if (audit_seq)
        *audit_seq = 0;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, key);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        *value = col_dup(st, 0);
        if (audit_seq)
            *audit_seq = cf_stmt_int64(st, 1);
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read policy", err);
    return 0;
}

int cf_store_policy_set(cf_store *s, const char *key, const char *value, int64_t audit_seq,
                        cf_error *err)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO policies(key, value, audit_seq) VALUES(?,?,?)";
    static const char pg_sql[] =
        "INSERT INTO policies(key, value, audit_seq) VALUES(?,?,?) ON CONFLICT (key)"
        " DO UPDATE SET value = EXCLUDED.value, audit_seq = EXCLUDED.audit_seq";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    cf_stmt_bind_int64(st, 3, audit_seq);
    return done(s, st, "write policy", err);
}

int cf_store_policy_list(cf_store *s, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT key, value, audit_seq FROM policies ORDER BY key";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(a, json_pack("[o, o, I]", col_json_str(st, 0),
                                           col_json_str(st, 1),
                                           (json_int_t)cf_stmt_int64(st, 2)));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "read policies", err);
    }
    *out = a;
    return 0;
}

int cf_store_record_put(cf_store *s, int64_t seq, const char *subject, const char *payload,
                        cf_error *err)
{
    static const char sql[] = "INSERT INTO records(seq, subject, payload) VALUES(?,?,?)";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    bind_text(st, 2, subject);
    bind_text(st, 3, payload);
    return done(s, st, "write record payload", err);
}

int cf_store_record_latest(cf_store *s, const char *subject, int64_t *seq, cf_error *err)
{
    static const char sql[] = "SELECT max(seq) FROM records WHERE subject=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, subject);
    int rc = cf_stmt_step(st);
    *seq = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "read record payloads", err);
}

/* ---- users ------------------------------------------------------------------------ */

void cf_user_row_clear(cf_user_row *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->roles);
    free(u->created_by);
    free(u->os_users);
    memset(u, 0, sizeof *u);
}

int cf_store_user_get(cf_store *s, const char *name, cf_user_row *out, cf_error *err)
{
    static const char sql[] = "SELECT name, roles, disabled, created_at, created_by,"
                              " os_users, audit_seq FROM users WHERE name=?";
    memset(out, 0, sizeof *out);
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, name);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        out->name = col_dup(st, 0);
        out->roles = col_dup(st, 1);
        out->disabled = (int)cf_stmt_int64(st, 2);
        out->created_at = cf_stmt_int64(st, 3);
        out->created_by = col_dup(st, 4);
        out->os_users = col_dup(st, 5);
        out->audit_seq = cf_stmt_int64(st, 6);
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_EDENIED, "actor", "unknown user \"%s\"", name);
    if (rc != CF_DB_ROW)
        return cf_store_error(s, rc, "read user", err);
    if (!out->name || !out->roles || !out->created_by || !out->os_users) {
        cf_user_row_clear(out);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    return 0;
}

int cf_store_user_exists(cf_store *s, const char *name, bool *exists, cf_error *err)
{
    static const char sql[] = "SELECT 1 FROM users WHERE name=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, name);
    int rc = cf_stmt_step(st);
    *exists = rc == CF_DB_ROW;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW || rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "read user", err);
}

int cf_store_user_put(cf_store *s, const cf_user_row *u, bool insert, cf_error *err)
{
    static const char ins[] =
        "INSERT INTO users(roles, disabled, created_at, created_by, os_users, audit_seq,"
        " name) VALUES(?,?,?,?,?,?,?)";
    static const char upd[] =
        "UPDATE users SET roles=?, disabled=?, created_at=?, created_by=?, os_users=?,"
        " audit_seq=? WHERE name=?";
    cf_stmt *st = cf_store_stmt(s, insert ? ins : upd, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, u->roles);
    cf_stmt_bind_int64(st, 2, u->disabled ? 1 : 0);
    cf_stmt_bind_int64(st, 3, u->created_at);
    bind_text(st, 4, u->created_by);
    bind_text(st, 5, u->os_users ? u->os_users : "");
    cf_stmt_bind_int64(st, 6, u->audit_seq);
    bind_text(st, 7, u->name);
    int rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    if (insert && (rc & 0xff) == CF_DB_CONSTRAINT)
        return cf_err_set(err, CF_EINVALID, "name", "user \"%s\" already exists", u->name);
    if (rc != CF_DB_DONE)
        return cf_store_error(s, rc, insert ? "add user" : "change user", err);
    if (!insert && cf_store_changes(s) != 1)
        return cf_err_set(err, CF_ENOTFOUND, "name", "no such user \"%s\"", u->name);
    return 0;
}

int cf_store_user_names(cf_store *s, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT name FROM users ORDER BY name";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(a, col_json_str(st, 0));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "list users", err);
    }
    *out = a;
    return 0;
}

int cf_store_user_count(cf_store *s, int64_t *n, cf_error *err)
{
    static const char sql[] = "SELECT count(*) FROM users";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    *n = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "count users", err);
}

static json_t *split_roles(const char *roles)
{
    json_t *a = json_array();
    const char *p = roles;
    while (p && *p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        p = c ? c + 1 : NULL;
    }
    return a;
}

int cf_store_user_list(cf_store *s, json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT name, roles, disabled, created_at, created_by, os_users FROM users"
        " ORDER BY name";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        json_array_append_new(
            a, json_pack("{s:o, s:o, s:b, s:o, s:o, s:o}", "name", col_json_str(st, 0),
                         "roles", split_roles(cf_stmt_text(st, 1)),
                         "disabled", (int)cf_stmt_int64(st, 2), "created_at",
                         col_time(st, 3), "created_by", col_json_str(st, 4), "os_users",
                         split_roles(cf_stmt_text(st, 5))));
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "list users", err);
    }
    *out = a;
    return 0;
}

/* ---- workflows ---------------------------------------------------------------------- */

int cf_store_workflow_latest(cf_store *s, const char *name, int64_t *version,
                             char hash[65], cf_error *err)
{
    static const char sql[] =
        "SELECT version, hash FROM workflows WHERE name=? ORDER BY version DESC LIMIT 1";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, name);
    int rc = cf_stmt_step(st);
    *version = 0;
    if (rc == CF_DB_ROW) {
        *version = cf_stmt_int64(st, 0);
        if (hash)
            snprintf(hash, 65, "%s", cf_stmt_text(st, 1));
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_EMISSING, "workflow",
                          "workflow \"%s\" is not deployed (caseflow workflow deploy FILE)",
                          name);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "read workflow", err);
}

int cf_store_workflow_get_hashed(cf_store *s, const char *name, int64_t version,
                                 json_t **bundle, char hash[65], cf_error *err)
{
    static const char sql[] =
        "SELECT bundle, hash FROM workflows WHERE name=? AND version=?";
    *bundle = NULL;
    hash[0] = '\0';
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, name);
    cf_stmt_bind_int64(st, 2, version);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        json_error_t je;
        const char *text = cf_stmt_text(st, 0);
        const char *want = cf_stmt_text(st, 1);
        *bundle = text ? json_loads(text, 0, &je) : NULL;
        if (*bundle) {
            /* The stored hash must still match what we are about to run.
             * Deploy stores the canonical text the hash is of, so the text's
             * own hash matching is proof enough (no re-serialising); a text
             * that does not match (an older layout, or an edit) is judged by
             * its canonical form, as always. */
            char got[65];
            cf_sha256_hex(text, strlen(text), got);
            if (!want || strcmp(got, want) != 0) {
                char *canon = cf_json_canonical(*bundle);
                cf_sha256_hex(canon, canon ? strlen(canon) : 0, got);
                free(canon);
            }
            if (!want || strcmp(got, want) != 0) {
                json_decref(*bundle);
                *bundle = NULL;
                cf_stmt_reset(st);
                return cf_err_set(err, CF_EIO, "workflow",
                                  "workflow %s v%lld: stored source does not match its hash",
                                  name, (long long)version);
            }
            memcpy(hash, got, 65);
        }
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_EMISSING, "workflow", "workflow %s v%lld is not deployed",
                          name, (long long)version);
    if (rc != CF_DB_ROW)
        return cf_store_error(s, rc, "read workflow", err);
    if (!*bundle)
        return cf_err_set(err, CF_EIO, "workflow", "workflow %s v%lld: stored bundle unreadable",
                          name, (long long)version);
    return 0;
}

int cf_store_workflow_get(cf_store *s, const char *name, int64_t version,
                          json_t **bundle, cf_error *err)
{
    char hash[65];
    return cf_store_workflow_get_hashed(s, name, version, bundle, hash, err);
}

int cf_store_workflow_put(cf_store *s, const char *name, int64_t version,
                          int64_t declared, const char *hash, const char *bundle,
                          int64_t at, const char *by, int64_t audit_seq, cf_error *err)
{
    static const char sql[] =
        "INSERT INTO workflows(name, version, declared_version, hash, bundle,"
        " deployed_at, deployed_by, audit_seq) VALUES(?,?,?,?,?,?,?,?)";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, name);
    cf_stmt_bind_int64(st, 2, version);
    cf_stmt_bind_int64(st, 3, declared);
    bind_text(st, 4, hash);
    bind_text(st, 5, bundle);
    cf_stmt_bind_int64(st, 6, at);
    bind_text(st, 7, by);
    cf_stmt_bind_int64(st, 8, audit_seq);
    return done(s, st, "store workflow", err);
}

int cf_store_workflow_list(cf_store *s, json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT name, version, declared_version, hash, deployed_at, deployed_by"
        " FROM workflows ORDER BY name, version";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(
            a, json_pack("{s:o, s:I, s:I, s:o, s:o, s:o}", "name", col_json_str(st, 0),
                         "version", (json_int_t)cf_stmt_int64(st, 1),
                         "declared_version", (json_int_t)cf_stmt_int64(st, 2),
                         "hash", col_json_str(st, 3), "deployed_at", col_time(st, 4),
                         "deployed_by", col_json_str(st, 5)));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "list workflows", err);
    }
    *out = a;
    return 0;
}

int cf_store_case_version_counts(cf_store *s, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT workflow, version, state, count(*) FROM cases"
                              " WHERE disposed_at IS NULL GROUP BY 1, 2, 3";
    *out = NULL;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(a, json_pack("[o, I, o, I]", col_json_str(st, 0),
                                           (json_int_t)cf_stmt_int64(st, 1),
                                           col_json_str(st, 2),
                                           (json_int_t)cf_stmt_int64(st, 3)));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "count cases", err);
    }
    *out = a;
    return 0;
}

/* ---- cases ------------------------------------------------------------------------------ */

void cf_case_row_clear(cf_case_row *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->source);
    free(r->reference);
    free(r->workflow);
    free(r->state);
    free(r->legal_hold);
    json_decref(r->data);
    memset(r, 0, sizeof *r);
}

int cf_store_case_get(cf_store *s, const char *id, cf_case_row *out, cf_error *err)
{
    return cf_store_case_get_hashed(s, id, out, NULL, err);
}

int cf_store_case_get_hashed(cf_store *s, const char *id, cf_case_row *out,
                             unsigned char row_part[32], cf_error *err)
{
    static const char sql[] =
        "SELECT seq, id, source, reference, workflow, version, state, data, revision,"
        " created_at, updated_at, deadline_at, review_at, legal_hold, disposed_at"
        " FROM cases WHERE id=?";
    memset(out, 0, sizeof *out);
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, id);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW && row_part) {
        /* The same columns in the same order as the digest's row part
         * (integrity.c), hashed from the row as stored, before any read
         * could convert a value. */
        cf_sha256 h;
        cf_sha256_init(&h);
        hash_row(st, &h);
        cf_sha256_update(&h, (const unsigned char *)"|", 1);
        cf_sha256_final(&h, row_part);
    }
    if (rc == CF_DB_ROW) {
        json_error_t je;
        out->seq = cf_stmt_int64(st, 0);
        out->id = col_dup(st, 1);
        out->source = col_dup(st, 2);
        out->reference = col_dup(st, 3);
        out->workflow = col_dup(st, 4);
        out->version = cf_stmt_int64(st, 5);
        out->state = col_dup(st, 6);
        /* the bytes just read, whole: a row changed by anyone else is
         * parsed afresh (the row part above hashed the same bytes) */
        const void *text = cf_stmt_blob(st, 7);
        size_t len = (size_t)cf_stmt_bytes(st, 7);
        out->data = cf_data_cache_take(cf_store_data_cache(s), text, len);
        if (!out->data)
            out->data = json_loadb(text, len, 0, &je);
        out->revision = cf_stmt_int64(st, 8);
        out->created_at = cf_stmt_int64(st, 9);
        out->updated_at = cf_stmt_int64(st, 10);
        out->deadline_at = cf_stmt_int64(st, 11);
        out->review_at = cf_stmt_int64(st, 12);
        out->legal_hold = col_dup(st, 13);
        out->disposed_at = cf_stmt_int64(st, 14);
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_ENOTFOUND, "id", "no such case \"%s\"", id);
    if (rc != CF_DB_ROW)
        return cf_store_error(s, rc, "read case", err);
    if (!out->data || !json_is_object(out->data) || !out->id || !out->state) {
        cf_case_row_clear(out);
        return cf_err_set(err, CF_EIO, "data", "case %s: stored data is unreadable", id);
    }
    return 0;
}

int cf_store_case_state(cf_store *s, const char *id, char **state, char **workflow,
                        int64_t *version, cf_error *err)
{
    static const char sql[] = "SELECT state, workflow, version FROM cases WHERE id=?";
    *state = *workflow = NULL;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, id);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        *state = col_dup(st, 0);
        *workflow = col_dup(st, 1);
        *version = cf_stmt_int64(st, 2);
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_ENOTFOUND, "id", "no such case \"%s\"", id);
    if (rc != CF_DB_ROW)
        return cf_store_error(s, rc, "read case", err);
    return *state && *workflow ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

int cf_store_case_by_ref(cf_store *s, const char *source, const char *reference,
                         char **id, char **state, cf_error *err)
{
    static const char sql[] = "SELECT id, state FROM cases WHERE source=? AND reference=?";
    *id = NULL;
    *state = NULL;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, source);
    bind_text(st, 2, reference);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        *id = col_dup(st, 0);
        *state = col_dup(st, 1);
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "find referral", err);
    return 0;
}

int cf_store_case_next_seq(cf_store *s, int64_t *seq, cf_error *err)
{
    static const char sql[] = "SELECT coalesce(max(seq), 0) + 1 FROM cases";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    *seq = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "allocate case id", err);
}

static void bind_deadline(cf_stmt *st, int i, int64_t d)
{
    if (d)
        cf_stmt_bind_int64(st, i, d);
    else
        cf_stmt_bind_null(st, i);
}

int cf_store_case_insert(cf_store *s, const cf_case_row *r, const char *data,
                         cf_error *err)
{
    static const char sql[] =
        "INSERT INTO cases(seq, id, source, reference, workflow, version, state,"
        " data, revision, created_at, updated_at, deadline_at, review_at, legal_hold,"
        " disposed_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, r->seq);
    bind_text(st, 2, r->id);
    bind_text(st, 3, r->source);
    bind_text(st, 4, r->reference);
    bind_text(st, 5, r->workflow);
    cf_stmt_bind_int64(st, 6, r->version);
    bind_text(st, 7, r->state);
    bind_text(st, 8, data);
    cf_stmt_bind_int64(st, 9, r->revision);
    cf_stmt_bind_int64(st, 10, r->created_at);
    cf_stmt_bind_int64(st, 11, r->updated_at);
    bind_deadline(st, 12, r->deadline_at);
    bind_deadline(st, 13, r->review_at);
    bind_text(st, 14, r->legal_hold);
    bind_deadline(st, 15, r->disposed_at);
    int rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    if ((rc & 0xff) == CF_DB_CONSTRAINT)
        return cf_err_set(err, CF_ECONFLICT, "reference",
                          "referral %s/%s was taken in concurrently; retry", r->source,
                          r->reference);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "insert case", err);
}

int cf_store_case_update(cf_store *s, const cf_case_row *r, const char *data,
                         cf_error *err)
{
    static const char sql[] =
        "UPDATE cases SET state=?, data=?, revision=revision+1, updated_at=?,"
        " deadline_at=?, review_at=?, legal_hold=?, disposed_at=?, version=?"
        " WHERE id=? AND revision=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, r->state);
    bind_text(st, 2, data);
    cf_stmt_bind_int64(st, 3, r->updated_at);
    bind_deadline(st, 4, r->deadline_at);
    bind_deadline(st, 5, r->review_at);
    bind_text(st, 6, r->legal_hold);
    bind_deadline(st, 7, r->disposed_at);
    cf_stmt_bind_int64(st, 8, r->version); /* changed only by a migration */
    bind_text(st, 9, r->id);
    cf_stmt_bind_int64(st, 10, r->revision);
    int rc = done(s, st, "update case", err);
    if (rc)
        return rc;
    if (cf_store_changes(s) != 1)
        return cf_err_set(err, CF_ECONFLICT, "revision",
                          "case %s changed since it was read (revision %lld); retry",
                          r->id, (long long)r->revision);
    return 0;
}

int cf_store_case_list(cf_store *s, const char *state, size_t limit, json_t **out,
                       cf_error *err)
{
    static const char sql_all[] =
        "SELECT id, state, workflow, version, revision, updated_at, deadline_at"
        " FROM cases ORDER BY seq LIMIT ?";
    static const char sql_state[] =
        "SELECT id, state, workflow, version, revision, updated_at, deadline_at"
        " FROM cases WHERE state=? ORDER BY seq LIMIT ?";
    /* PostgreSQL refuses LIMIT -1 (SQLite's "no limit"); LIMIT NULL is its
     * "no limit". */
    static const char pg_all[] =
        "SELECT id, state, workflow, version, revision, updated_at, deadline_at"
        " FROM cases ORDER BY seq LIMIT nullif(CAST(? AS bigint), -1)";
    static const char pg_state[] =
        "SELECT id, state, workflow, version, revision, updated_at, deadline_at"
        " FROM cases WHERE state=? ORDER BY seq LIMIT nullif(CAST(? AS bigint), -1)";
    cf_stmt *st = cf_store_stmt_for(s, state ? sql_state : sql_all, state ? pg_state : pg_all,
                                    err);
    if (!st)
        return err ? err->code : CF_EIO;
    int i = 1;
    if (state)
        bind_text(st, i++, state);
    cf_stmt_bind_int64(st, i, limit ? (int64_t)limit : -1);
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(
            a, json_pack("{s:o, s:o, s:{s:o, s:I}, s:I, s:o, s:o}", "id",
                         col_json_str(st, 0), "state", col_json_str(st, 1), "workflow",
                         "name", col_json_str(st, 2), "version",
                         (json_int_t)cf_stmt_int64(st, 3), "revision",
                         (json_int_t)cf_stmt_int64(st, 4), "updated_at",
                         col_time(st, 5), "deadline_at", col_time(st, 6)));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "list cases", err);
    }
    *out = a;
    return 0;
}

/* ---- history ------------------------------------------------------------------------------ */

int cf_store_event_add(cf_store *s, const cf_event_fields *f, const char *data,
                       int64_t audit_seq, cf_error *err)
{
    static const char sql[] =
        "INSERT INTO events(case_id, at, actor, role, event, outcome, from_state,"
        " to_state, data, data_sha256, plugin, plugin_version, plugin_sha256,"
        " case_sha256, audit_seq) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    /* SQLite's INTEGER PRIMARY KEY hands out max(seq) + 1; PostgreSQL is told
     * the same number (the write lock is held: no gap, commit order). */
    static const char pg_sql[] =
        "INSERT INTO events(seq, case_id, at, actor, role, event, outcome, from_state,"
        " to_state, data, data_sha256, plugin, plugin_version, plugin_sha256,"
        " case_sha256, audit_seq) VALUES((SELECT coalesce(max(seq), 0) + 1 FROM events),"
        " ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, f->case_id);
    cf_stmt_bind_int64(st, 2, f->at);
    bind_text(st, 3, f->actor);
    bind_text(st, 4, f->role);
    bind_text(st, 5, f->event);
    bind_text(st, 6, f->outcome);
    bind_text(st, 7, f->from);
    bind_text(st, 8, f->to);
    bind_text(st, 9, data);
    bind_text(st, 10, f->data_sha256);
    bind_text(st, 11, f->plugin);
    bind_text(st, 12, f->plugin_version);
    bind_text(st, 13, f->plugin_sha256);
    bind_text(st, 14, f->case_sha256);
    cf_stmt_bind_int64(st, 15, audit_seq);
    return done(s, st, "append history", err);
}

int cf_store_event_last_actor(cf_store *s, const char *case_id, const char *event,
                              char **actor, cf_error *err)
{
    static const char sql[] = "SELECT actor FROM events WHERE case_id=? AND event=?"
                              " ORDER BY seq DESC LIMIT 1";
    *actor = NULL;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    bind_text(st, 2, event);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW)
        *actor = col_dup(st, 0);
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read history", err);
    return 0;
}

int cf_store_event_list(cf_store *s, const char *case_id, json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT seq, at, actor, role, event, outcome, from_state, to_state, data,"
        " plugin, plugin_version, plugin_sha256 FROM events WHERE case_id=? ORDER BY seq";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        json_t *data = NULL;
        if (cf_stmt_type(st, 8) != CF_DB_NULL)
            data = json_loads(cf_stmt_text(st, 8), 0, NULL);
        json_t *plugin = cf_stmt_type(st, 9) == CF_DB_NULL
                             ? json_null()
                             : json_pack("{s:o, s:o, s:o}", "name", col_json_str(st, 9),
                                         "version", col_json_str(st, 10), "sha256",
                                         col_json_str(st, 11));
        json_array_append_new(
            a, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
                         (json_int_t)cf_stmt_int64(st, 0), "at", col_time(st, 1),
                         "actor", col_json_str(st, 2), "role", col_json_str(st, 3),
                         "event", col_json_str(st, 4), "outcome", col_json_str(st, 5),
                         "from", col_json_str(st, 6), "to", col_json_str(st, 7), "data",
                         data ? data : json_null(), "plugin", plugin));
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "read history", err);
    }
    *out = a;
    return 0;
}

/* ---- timers ---------------------------------------------------------------------------- */

int cf_store_timer_set(cf_store *s, const char *case_id, const char *event,
                       const char *state, int64_t due, cf_error *err)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO timers(case_id, event, state, due_at) VALUES(?,?,?,?)";
    /* REPLACE deletes and inserts, so a timer set again gets a new rowid and
     * goes behind the others of its due second; rid = DEFAULT does the same
     * with PostgreSQL's stand-in for the rowid. */
    static const char pg_sql[] =
        "INSERT INTO timers(case_id, event, state, due_at) VALUES(?,?,?,?)"
        " ON CONFLICT (case_id, event) DO UPDATE SET state = EXCLUDED.state,"
        " due_at = EXCLUDED.due_at, rid = DEFAULT";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    bind_text(st, 2, event);
    bind_text(st, 3, state);
    cf_stmt_bind_int64(st, 4, due);
    return done(s, st, "set timer", err);
}

int cf_store_timer_clear_state(cf_store *s, const char *case_id, const char *state,
                               cf_error *err)
{
    static const char sql[] = "DELETE FROM timers WHERE case_id=? AND state=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    bind_text(st, 2, state);
    return done(s, st, "clear timers", err);
}

int cf_store_timer_delete(cf_store *s, const char *case_id, const char *event,
                          cf_error *err)
{
    static const char sql[] = "DELETE FROM timers WHERE case_id=? AND event=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    bind_text(st, 2, event);
    return done(s, st, "delete timer", err);
}

int cf_store_timer_get(cf_store *s, const char *case_id, const char *event, int64_t *due,
                       cf_error *err)
{
    static const char sql[] = "SELECT due_at FROM timers WHERE case_id=? AND event=?";
    *due = 0;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    bind_text(st, 2, event);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW)
        *due = cf_stmt_int64(st, 0);
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return CF_ENOTFOUND;
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "read timer", err);
}

static int timer_rows(cf_store *s, cf_stmt *st, json_t **out, cf_error *err)
{
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:I}", "case",
                                           col_json_str(st, 0), "event",
                                           col_json_str(st, 1), "state",
                                           col_json_str(st, 2), "due_at",
                                           col_time(st, 3), "due",
                                           (json_int_t)cf_stmt_int64(st, 3)));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "read timers", err);
    }
    *out = a;
    return 0;
}

int cf_store_timer_due(cf_store *s, int64_t now, size_t skip, size_t limit, json_t **out,
                       cf_error *err)
{
    static const char sql[] = "SELECT case_id, event, state, due_at FROM timers"
                              " WHERE due_at <= ? ORDER BY due_at, case_id, event"
                              " LIMIT ? OFFSET ?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, now);
    cf_stmt_bind_int64(st, 2, (int64_t)limit);
    cf_stmt_bind_int64(st, 3, (int64_t)skip);
    return timer_rows(s, st, out, err);
}

int cf_store_timer_due_after(cf_store *s, int64_t now, cf_timer_cursor *after, size_t limit,
                             json_t **out, cf_error *err)
{
    /* (due_at, rowid) is the order of the index timers_due itself: each page
     * seeks to where the last one ended (the rest of its due second, then
     * the later ones), and neither sorts nor steps over the timers before
     * it, however many fall due at the same second. At most 2 * limit rows
     * are sorted. */
    static const char sql[] =
        "SELECT * FROM ("
        " SELECT * FROM (SELECT case_id, event, state, due_at, rowid FROM timers"
        "  WHERE due_at = ?2 AND rowid > ?3 AND due_at <= ?1 ORDER BY rowid LIMIT ?4)"
        " UNION ALL"
        " SELECT * FROM (SELECT case_id, event, state, due_at, rowid FROM timers"
        "  WHERE due_at > ?2 AND due_at <= ?1 ORDER BY due_at, rowid LIMIT ?4))"
        " ORDER BY 4, 5 LIMIT ?4";
    /* The same on PostgreSQL, with timers.rid for the rowid (the index is
     * timers_due(due_at, rid)) and the aliases it wants on subqueries. */
    static const char pg_sql[] =
        "SELECT * FROM ("
        " SELECT * FROM (SELECT case_id, event, state, due_at, rid FROM timers"
        "  WHERE due_at = ?2 AND rid > ?3 AND due_at <= ?1 ORDER BY rid LIMIT ?4) AS a"
        " UNION ALL"
        " SELECT * FROM (SELECT case_id, event, state, due_at, rid FROM timers"
        "  WHERE due_at > ?2 AND due_at <= ?1 ORDER BY due_at, rid LIMIT ?4) AS b) AS u"
        " ORDER BY 4, 5 LIMIT ?4";
    /* PostgreSQL: the page is also claimed, each timer skipped when another
     * tick holds it: a session advisory lock on -rid (never the store's
     * lock key, which is positive), tried once for each row of the page
     * (the outer query has no LIMIT of its own), held until
     * cf_store_timer_unclaim. Only a skip: the timer is fired under the
     * store's lock after reading it again, so a claim is never what makes
     * it fire once (docs/postgres.md, Claims). */
    static const char pg_claim[] =
        "SELECT case_id, event, state, due_at, rid, pg_try_advisory_lock(-rid)::int FROM ("
        " SELECT * FROM (SELECT case_id, event, state, due_at, rid FROM timers"
        "  WHERE due_at = ?2 AND rid > ?3 AND due_at <= ?1 ORDER BY rid LIMIT ?4) AS a"
        " UNION ALL"
        " SELECT * FROM (SELECT case_id, event, state, due_at, rid FROM timers"
        "  WHERE due_at > ?2 AND due_at <= ?1 ORDER BY due_at, rid LIMIT ?4) AS b"
        " ORDER BY 4, 5 LIMIT ?4) AS u ORDER BY 4, 5";
    (void)pg_sql; /* what pg_claim reads, without the claim: kept to compare */
    bool claims = cf_store_is_pg(s);
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_claim, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, now);
    cf_stmt_bind_int64(st, 2, after->due);
    cf_stmt_bind_int64(st, 3, after->rowid);
    cf_stmt_bind_int64(st, 4, (int64_t)limit);
    json_t *a = json_array();
    int rc = CF_DB_DONE;
    while (a && (rc = cf_stmt_step(st)) == CF_DB_ROW) {
        after->due = cf_stmt_int64(st, 3);
        after->rowid = cf_stmt_int64(st, 4);
        json_t *t = json_pack("{s:o, s:o, s:o, s:o, s:I}", "case", col_json_str(st, 0), "event",
                              col_json_str(st, 1), "state", col_json_str(st, 2), "due_at",
                              col_time(st, 3), "due", (json_int_t)after->due);
        if (t && claims && !cf_stmt_int64(st, 5) &&
            json_object_set_new(t, "claimed_elsewhere", json_true())) {
            json_decref(t);
            t = NULL;
        }
        if (!t || json_array_append_new(a, t)) {
            json_decref(a);
            a = NULL;
        }
    }
    cf_stmt_reset(st);
    if (!a)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "read timers", err);
    }
    *out = a;
    return 0;
}

int cf_store_timer_unclaim(cf_store *s)
{
    if (!cf_store_is_pg(s))
        return 0;
    static const char sql[] = "SELECT pg_advisory_unlock_all()";
    cf_stmt *st = cf_store_stmt(s, sql, NULL);
    if (!st)
        return CF_EIO;
    int rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    return rc == CF_DB_ROW || rc == CF_DB_DONE ? 0 : CF_EIO;
}

int cf_store_timer_list(cf_store *s, const char *case_id, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT case_id, event, state, due_at FROM timers"
                              " WHERE case_id=? ORDER BY due_at";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    return timer_rows(s, st, out, err);
}

/* ---- tasks, keys, notifications ------------------------------------------------------- */

int cf_store_task_add(cf_store *s, const char *case_id, const char *role,
                      const char *kind, const char *detail, int64_t at, cf_error *err)
{
    static const char sql[] =
        "INSERT INTO tasks(case_id, role, kind, detail, created_at) VALUES(?,?,?,?,?)";
    /* The new task's seq is max(seq) after this, under the write lock (the
     * caller reads it back as such on PostgreSQL). */
    static const char pg_sql[] =
        "INSERT INTO tasks(seq, case_id, role, kind, detail, created_at)"
        " VALUES((SELECT coalesce(max(seq), 0) + 1 FROM tasks), ?,?,?,?,?)";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    bind_text(st, 2, role);
    bind_text(st, 3, kind);
    bind_text(st, 4, detail);
    cf_stmt_bind_int64(st, 5, at);
    return done(s, st, "open task", err);
}

int cf_store_task_list(cf_store *s, const char *case_id, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT seq, role, kind, detail, status, created_at"
                              " FROM tasks WHERE case_id=? ORDER BY seq";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        json_t *detail = NULL;
        if (cf_stmt_type(st, 3) != CF_DB_NULL)
            detail = json_loads(cf_stmt_text(st, 3), 0, NULL);
        json_array_append_new(
            a, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "seq",
                         (json_int_t)cf_stmt_int64(st, 0), "role",
                         col_json_str(st, 1), "kind", col_json_str(st, 2), "detail",
                         detail ? detail : json_null(), "status", col_json_str(st, 4),
                         "created_at", col_time(st, 5)));
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "read tasks", err);
    }
    *out = a;
    return 0;
}

int cf_store_key_add(cf_store *s, const char *kind, const char *value,
                     const char *case_id, cf_error *err)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO keys(kind, value, case_id) VALUES(?,?,?)";
    /* No other constraint of keys can fail: only the duplicate is skipped. */
    static const char pg_sql[] =
        "INSERT INTO keys(kind, value, case_id) VALUES(?,?,?) ON CONFLICT DO NOTHING";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, kind);
    bind_text(st, 2, value);
    bind_text(st, 3, case_id);
    return done(s, st, "add key", err);
}

int cf_store_key_count(cf_store *s, const char *kind, const char *value,
                       const char *except, int64_t *n, cf_error *err)
{
    /* Counted up to a cap: a key shared by a hundred thousand cases must
     * not cost a hundred thousand steps on every referral that carries it. */
    static const char sql[] = "SELECT count(*) FROM (SELECT 1 FROM keys WHERE kind=? AND"
                              " value=? AND case_id<>? LIMIT 10001) AS k";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, kind);
    bind_text(st, 2, value);
    bind_text(st, 3, except);
    int rc = cf_stmt_step(st);
    *n = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "count keys", err);
}

int cf_store_key_find(cf_store *s, const char *kind, const char *value,
                      const char *except, json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT case_id FROM keys WHERE kind=? AND value=? AND case_id<>? LIMIT 1000";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, kind);
    bind_text(st, 2, value);
    bind_text(st, 3, except);
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(a, col_json_str(st, 0));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "find keys", err);
    }
    *out = a;
    return 0;
}

int cf_store_key_peers(cf_store *s, const char *kind, const char *value,
                       const char *except, int64_t limit, int64_t *held, json_t **ids,
                       cf_error *err)
{
    /* The same rows, in the same order, as cf_store_key_find's; one more
     * than limit tells that the key is common, and only then are they
     * counted (up to cf_store_key_count's cap). */
    static const char sql[] =
        "SELECT case_id FROM keys WHERE kind=? AND value=? AND case_id<>? LIMIT ?";
    *held = 0;
    *ids = NULL;
    if (limit < 0 || limit > 1000) { /* (the policy allows 1..200) counted, then found */
        int rc = cf_store_key_count(s, kind, value, except, held, err);
        return rc || *held > limit ? rc : cf_store_key_find(s, kind, value, except, ids, err);
    }
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, kind);
    bind_text(st, 2, value);
    bind_text(st, 3, except);
    cf_stmt_bind_int64(st, 4, limit + 1);
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(a, col_json_str(st, 0));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE || !a) {
        json_decref(a);
        return a ? cf_store_error(s, rc, "find keys", err)
                 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    if ((int64_t)json_array_size(a) <= limit) {
        *held = (int64_t)json_array_size(a);
        *ids = a;
        return 0;
    }
    json_decref(a);
    return cf_store_key_count(s, kind, value, except, held, err);
}

int cf_store_task_set(cf_store *s, int64_t id, const char *status, const char *assignee,
                      int64_t closed_at, const char *result, cf_error *err)
{
    static const char sql[] =
        "UPDATE tasks SET status=?, assignee=?, closed_at=?, result=? WHERE seq=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, status);
    bind_text(st, 2, assignee);
    if (closed_at)
        cf_stmt_bind_int64(st, 3, closed_at);
    else
        cf_stmt_bind_null(st, 3);
    bind_text(st, 4, result);
    cf_stmt_bind_int64(st, 5, id);
    return done(s, st, "update task", err);
}

int cf_store_task_status(cf_store *s, int64_t id, char **status, char **assignee,
                         cf_error *err)
{
    *status = *assignee = NULL;
    cf_stmt *st = cf_store_stmt(s, "SELECT status, assignee FROM tasks WHERE seq=?", err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, id);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        *status = strdup(cf_stmt_text(st, 0));
        const char *a = cf_stmt_text(st, 1);
        *assignee = a ? strdup((const char *)a) : NULL;
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_ENOTFOUND, "task", "no task %lld", (long long)id);
    if (rc != CF_DB_ROW)
        return cf_store_error(s, rc, "read task", err);
    return *status ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

int cf_store_notify_add(cf_store *s, const char *case_id, const char *channel,
                        const char *payload, int64_t at, cf_error *err)
{
    static const char sql[] = "INSERT INTO notifications(case_id, channel, payload,"
                              " created_at) VALUES(?,?,?,?)";
    static const char pg_sql[] =
        "INSERT INTO notifications(seq, case_id, channel, payload, created_at)"
        " VALUES((SELECT coalesce(max(seq), 0) + 1 FROM notifications), ?,?,?,?)";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    bind_text(st, 1, case_id);
    bind_text(st, 2, channel);
    bind_text(st, 3, payload);
    cf_stmt_bind_int64(st, 4, at);
    return done(s, st, "queue notification", err);
}

/* ---- retention ------------------------------------------------------------------------- */

int cf_store_case_erase(cf_store *s, const char *id, cf_error *err)
{
    static const char *const sqls[] = {
        "UPDATE events SET data=NULL WHERE case_id=?",
        "UPDATE tasks SET detail=NULL, result=NULL WHERE case_id=?",
        "UPDATE notifications SET payload='{\"erased\":true}' WHERE case_id=?",
        "DELETE FROM keys WHERE case_id=?",
        "DELETE FROM timers WHERE case_id=?",
    };
    for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
        cf_stmt *st = cf_store_stmt(s, sqls[i], err);
        if (!st)
            return err ? err->code : CF_EIO;
        bind_text(st, 1, id);
        int rc = done(s, st, "erase case", err);
        if (rc)
            return rc;
    }
    return 0;
}

int cf_store_retention_due(cf_store *s, int64_t now, json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT id, state, json_extract(data, '$.outcome'), review_at, legal_hold"
        " FROM cases WHERE review_at IS NOT NULL AND review_at <= ? AND disposed_at IS NULL"
        " ORDER BY review_at, seq";
    /* json_extract gives a JSON number or boolean as an integer, which reads
     * back as its digits (true 1, false 0); a string unquoted. */
    static const char pg_sql[] =
        "SELECT id, state, CASE json_typeof(data::json -> 'outcome')"
        " WHEN 'boolean' THEN CASE WHEN (data::json ->> 'outcome')::boolean THEN '1' ELSE '0' END"
        " WHEN 'null' THEN NULL ELSE data::json ->> 'outcome' END, review_at, legal_hold"
        " FROM cases WHERE review_at IS NOT NULL AND review_at <= ? AND disposed_at IS NULL"
        " ORDER BY review_at, seq";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, now);
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:o}", "id",
                                           col_json_str(st, 0), "state", col_json_str(st, 1),
                                           "outcome", col_json_str(st, 2), "review_at",
                                           col_time(st, 3), "legal_hold",
                                           col_json_str(st, 4)));
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "retention due", err);
    }
    *out = a;
    return 0;
}
