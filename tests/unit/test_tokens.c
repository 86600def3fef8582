/*
 * Tests of service identities (engine/tokens.c) through the public API, on
 * a real store file: bearer tokens created, listed and revoked by an
 * administrator; authentication of good, unknown, malformed, revoked and
 * expired tokens and of disabled or missing users, with the refusals in
 * the audit chain; only the hash on disk; rows edited with SQLite refused
 * and reported by verify; local peers mapped through the OS-account
 * bindings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "caseflow/caseflow.h"
#include "chain.h"
#include "internal.h"
#include "machine.h"
#include "tokens.h"

#define T0 1793000000

static char dir[64], path[128];
static cf_engine *e;

static void as(const char *actor)
{
    assert_int_equal(cf_engine_set_actor(e, actor, actor ? "unit test" : NULL), 0);
}

static int setup(void **state)
{
    (void)state;
    cf_error err;
    snprintf(dir, sizeof dir, "/tmp/cf-tokens-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/t.db", dir);
    cf_open_options o = {.create = 1};
    if (cf_engine_open(path, &o, &e, &err)) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    cf_engine_set_clock(e, T0);
    cf_engine_set_actor(e, "admin", NULL);
    if (cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, &err))
        return -1;
    static const char *const officer[] = {"officer", NULL};
    static const char *const analyst[] = {"analyst", NULL};
    if (cf_user_add(e, "rms", officer, &err) || cf_user_add(e, "gateway", analyst, &err) ||
        cf_user_add(e, "officer1", officer, &err)) {
        fprintf(stderr, "user add: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cf_engine_close(e);
    e = NULL;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---------------------------------------------------------------------- */

/* SHA-256 over every row of every table, through a separate connection. */
static void snapshot(char out[65])
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *tables;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_schema WHERE type='table'"
                                        " ORDER BY name",
                                        -1, &tables, NULL),
                     SQLITE_OK);
    cf_sha256 h;
    cf_sha256_init(&h);
    while (sqlite3_step(tables) == SQLITE_ROW) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY 1",
                 (const char *)sqlite3_column_text(tables, 0));
        sqlite3_stmt *rows;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
        while (sqlite3_step(rows) == SQLITE_ROW)
            for (int i = 0; i < sqlite3_column_count(rows); i++) {
                const char *v = (const char *)sqlite3_column_text(rows, i);
                cf_sha256_update(&h, v ? v : "NULL", v ? strlen(v) : 4);
                cf_sha256_update(&h, "|", 1);
            }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(tables);
    sqlite3_close(db);
    unsigned char d[32];
    cf_sha256_final(&h, d);
    sodium_bin2hex(out, 65, d, sizeof d);
}

/* Run SQL on the store through a connection of its own (an editor). */
static void edit(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "edit: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

/* One integer the query returns (0 when none). */
static int64_t query_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Text the query returns (new string, "" when none). */
static char *query_text(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    const char *v = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
                                                   : NULL;
    char *copy = strdup(v ? v : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return copy;
}

static int64_t audit_count(const char *action)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE action='%s'", action);
    return query_int(sql);
}

/* Create a token for user as the administrator; *id and the token into
 * the buffers. */
static void make_token(const char *user, int64_t expires, char id[16], char token[64])
{
    cf_error err;
    json_t *out = NULL;
    as("admin");
    int rc = cf_token_create(e, user, expires, "for tests", &out, &err);
    if (rc)
        fprintf(stderr, "token create: %s\n", err.message);
    assert_int_equal(rc, 0);
    snprintf(id, 16, "%s", json_string_value(json_object_get(out, "id")));
    snprintf(token, 64, "%s", json_string_value(json_object_get(out, "token")));
    json_decref(out);
}

static void verify_ok(void)
{
    cf_error err;
    json_t *v = NULL;
    int rc = cf_audit_verify(e, &v, &err);
    if (rc)
        fprintf(stderr, "verify: %s\n", err.message);
    assert_int_equal(rc, 0);
    json_decref(v);
}

/* The newest auth.refused record is the engine's, about token id for
 * reason. */
static void refusal_recorded(const char *id, const char *user, const char *reason)
{
    json_t *p = json_pack("{s:s, s:s, s:s}", "id", id, "user", user, "reason", reason);
    char *text = cf_json_canonical(p), want[65];
    cf_sha256_hex(text, strlen(text), want);
    free(text);
    json_decref(p);
    char *got = query_text("SELECT digest FROM audit WHERE action='auth.refused'"
                           " ORDER BY seq DESC LIMIT 1");
    assert_string_equal(got, want);
    free(got);
    char *who = query_text("SELECT actor || '/' || role FROM audit WHERE"
                           " action='auth.refused' ORDER BY seq DESC LIMIT 1");
    assert_string_equal(who, "engine/system");
    free(who);
}

/* Authenticate without an actor, as the service does. */
static int auth(const char *token, char user[64], cf_error *err)
{
    as(NULL);
    return cf_token_authenticate(e, token, user, err);
}

static void denied(const char *token)
{
    char user[64] = "x";
    cf_error err;
    assert_int_equal(auth(token, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "token");
    assert_string_equal(user, "");
}

/* ---- create, list, revoke ----------------------------------------------------------- */

static void create_list_revoke(void **state)
{
    (void)state;
    cf_error err;
    json_t *out = NULL, *list = NULL;
    as("admin");
    assert_int_equal(cf_token_create(e, "rms", T0 + 86400, "RMS link — Köln", &out, &err), 0);
    const char *id = json_string_value(json_object_get(out, "id"));
    const char *token = json_string_value(json_object_get(out, "token"));
    assert_int_equal(strlen(id), 12);
    assert_int_equal(strspn(id, "0123456789abcdef"), 12);
    assert_int_equal(strlen(token), 47);
    assert_memory_equal(token, "cft_", 4);
    assert_string_equal(json_string_value(json_object_get(out, "user")), "rms");
    assert_string_equal(json_string_value(json_object_get(out, "note")), "RMS link — Köln");
    assert_string_equal(json_string_value(json_object_get(out, "created_at")),
                        "2026-10-26T07:33:20Z");
    assert_string_equal(json_string_value(json_object_get(out, "expires_at")),
                        "2026-10-27T07:33:20Z");
    char id_copy[16];
    snprintf(id_copy, sizeof id_copy, "%s", id);
    json_decref(out);

    assert_int_equal(cf_token_create(e, "gateway", 0, NULL, &out, &err), 0);
    assert_true(json_is_null(json_object_get(out, "expires_at")));
    assert_string_equal(json_string_value(json_object_get(out, "note")), "");
    json_decref(out);

    assert_int_equal(cf_token_list(e, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_t *first = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        assert_null(json_object_get(t, "token"));
        assert_null(json_object_get(t, "hash"));
        assert_null(json_object_get(t, "last_used_at"));
        assert_true(json_is_null(json_object_get(t, "revoked_at")));
        assert_string_equal(json_string_value(json_object_get(t, "created_by")), "admin");
        if (strcmp(json_string_value(json_object_get(t, "id")), id_copy) == 0)
            first = t;
    }
    assert_non_null(first);
    assert_string_equal(json_string_value(json_object_get(first, "user")), "rms");
    json_decref(list);

    /* The row points at its record, whose digest is the row's state. */
    assert_int_equal(audit_count("token.create"), 2);
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT a.seq = t.audit_seq FROM tokens t, audit a WHERE t.id='%s' AND"
             " a.action='token.create' AND a.actor='admin' AND a.role='administrator'"
             " AND a.seq = t.audit_seq",
             id_copy);
    assert_int_equal(query_int(sql), 1);

    cf_engine_set_clock(e, T0 + 10);
    assert_int_equal(cf_token_revoke(e, id_copy, &err), 0);
    assert_int_equal(audit_count("token.revoke"), 1);
    snprintf(sql, sizeof sql,
             "SELECT a.seq FROM tokens t JOIN audit a ON a.seq = t.audit_seq WHERE"
             " t.id='%s' AND a.action='token.revoke' AND t.revoked_at=%d",
             id_copy, T0 + 10);
    assert_true(query_int(sql) > 0);
    assert_int_equal(cf_token_list(e, &list, &err), 0);
    json_array_foreach(list, i, t) if (strcmp(json_string_value(json_object_get(t, "id")),
                                              id_copy) == 0)
        assert_string_equal(json_string_value(json_object_get(t, "revoked_at")),
                            "2026-10-26T07:33:30Z");
    json_decref(list);

    char before[65], after[65];
    snapshot(before);
    assert_int_equal(cf_token_revoke(e, id_copy, &err), CF_EINVALID);
    assert_string_equal(err.field, "id");
    assert_int_equal(cf_token_revoke(e, "0123456789ab", &err), CF_ENOTFOUND);
    assert_string_equal(err.field, "id");
    assert_int_equal(cf_token_revoke(e, "../../x", &err), CF_EINVALID);
    assert_string_equal(err.field, "id");
    assert_int_equal(cf_token_revoke(e, NULL, &err), CF_EINVALID);
    snapshot(after);
    assert_string_equal(before, after);
    verify_ok();
}

static void non_admin_refused(void **state)
{
    (void)state;
    char id[16], token[64], before[65], after[65];
    make_token("rms", 0, id, token);
    snapshot(before);
    cf_error err;
    json_t *out = NULL;
    as("officer1");
    assert_int_equal(cf_token_create(e, "officer1", 0, NULL, &out, &err), CF_EDENIED);
    assert_string_equal(err.field, "role");
    assert_null(out);
    assert_int_equal(cf_token_list(e, &out, &err), CF_EDENIED);
    assert_null(out);
    assert_int_equal(cf_token_revoke(e, id, &err), CF_EDENIED);
    assert_string_equal(err.field, "role");
    as(NULL);
    assert_int_equal(cf_token_list(e, &out, &err), CF_EUSAGE);
    snapshot(after);
    assert_string_equal(before, after);
}

static void bad_input_refused(void **state)
{
    (void)state;
    char before[65], after[65];
    cf_error err;
    json_t *out = NULL;
    as("admin");
    assert_int_equal(cf_user_disable(e, "officer1", &err), 0);
    snapshot(before);
    char long_name[80], long_note[260], wide_note[620];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    memset(long_note, 'n', 201);
    long_note[201] = '\0';
    wide_note[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(wide_note, "é");
    static const struct {
        const char *user, *note;
        int64_t expires;
        int code;
        const char *field;
    } cases[] = {
        {NULL, "", 0, CF_EINVALID, "user"},
        {"", "", 0, CF_EINVALID, "user"},
        {"bad\nname", "", 0, CF_EINVALID, "user"},
        {"bad\xff", "", 0, CF_EINVALID, "user"},
        {"nosuch", "", 0, CF_ENOTFOUND, "user"},
        {"engine", "", 0, CF_ENOTFOUND, "user"},
        {"officer1", "", 0, CF_EINVALID, "user"}, /* disabled */
        {"rms", "line\nbreak", 0, CF_EINVALID, "note"},
        {"rms", "\x1b[31mred", 0, CF_EINVALID, "note"},
        {"rms", "c1 \xc2\x9b control", 0, CF_EINVALID, "note"},
        {"rms", "del \x7f", 0, CF_EINVALID, "note"},
        {"rms", "bad \xc3(", 0, CF_EINVALID, "note"},
        {"rms", "", -1, CF_EINVALID, "expires_at"},
        {"rms", "", INT64_MAX, CF_EINVALID, "expires_at"},
        {"rms", "", T0, CF_EINVALID, "expires_at"},
        {"rms", "", T0 - 3600, CF_EINVALID, "expires_at"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cf_token_create(e, cases[i].user, cases[i].expires, cases[i].note, &out, &err);
        if (rc != cases[i].code || strcmp(err.field, cases[i].field) != 0)
            fprintf(stderr, "case %zu: %d %s: %s\n", i, rc, err.field, err.message);
        assert_int_equal(rc, cases[i].code);
        assert_string_equal(err.field, cases[i].field);
        assert_null(out);
        assert_null(strchr(err.message, '\n'));
    }
    assert_int_equal(cf_token_create(e, long_name, 0, NULL, &out, &err), CF_EINVALID);
    assert_string_equal(err.field, "user");
    assert_int_equal(cf_token_create(e, "rms", 0, long_note, &out, &err), CF_EINVALID);
    assert_string_equal(err.field, "note");
    snapshot(after);
    assert_string_equal(before, after);
    /* 200 characters are 400 bytes here, and allowed. */
    assert_int_equal(cf_token_create(e, "rms", 0, wide_note, &out, &err), 0);
    json_decref(out);
    verify_ok();
}

/* ---- authenticate ------------------------------------------------------------------ */

static void authenticate_ok_and_last_use(void **state)
{
    (void)state;
    char id[16], token[64], user[64];
    cf_error err;
    make_token("rms", 0, id, token);
    int64_t records = query_int("SELECT count(*) FROM audit");
    assert_int_equal(auth(token, user, &err), 0);
    assert_string_equal(user, "rms");
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT last_used_at FROM tokens WHERE id='%s'", id);
    assert_int_equal(query_int(sql), T0);
    /* Within the minute nothing is written; after it, once. */
    cf_engine_set_clock(e, T0 + 59);
    assert_int_equal(auth(token, user, &err), 0);
    assert_int_equal(query_int(sql), T0);
    cf_engine_set_clock(e, T0 + 61);
    assert_int_equal(auth(token, user, &err), 0);
    assert_int_equal(query_int(sql), T0 + 61);
    /* Success is not audited. */
    assert_int_equal(query_int("SELECT count(*) FROM audit"), records);
    /* The actor set does not matter. */
    as("officer1");
    assert_int_equal(cf_token_authenticate(e, token, user, &err), 0);
    assert_string_equal(user, "rms");
    as("admin");
    json_t *list;
    assert_int_equal(cf_token_list(e, &list, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 0), "last_used_at")),
        "2026-10-26T07:34:21Z");
    json_decref(list);
    verify_ok();
}

static int statements;

static int count_statements(unsigned type, void *ctx, void *p, void *x)
{
    (void)type, (void)ctx, (void)p, (void)x;
    statements++;
    return 0;
}

static void authenticate_unknown_and_malformed(void **state)
{
    (void)state;
    char id[16], token[64], before[65], after[65];
    make_token("rms", 0, id, token);
    snapshot(before);
    char other[64];
    snprintf(other, sizeof other, "%s", token);
    other[10] = other[10] == 'A' ? 'B' : 'A'; /* well formed, unknown */
    sqlite3_trace_v2(cf_store_db(e->store), SQLITE_TRACE_STMT, count_statements, NULL);
    statements = 0;
    denied(other);
    assert_true(statements > 0);
    char longer[80], bad_alpha[64], bad_bits[64], upper[64];
    snprintf(longer, sizeof longer, "%sA", token);
    snprintf(bad_alpha, sizeof bad_alpha, "%s", token);
    bad_alpha[20] = '+';
    snprintf(upper, sizeof upper, "CFT_%s", token + 4);
    snprintf(bad_bits, sizeof bad_bits, "%s", token);
    /* The last character carries 4 bits and 2 zero bits: 'B' sets one. */
    bad_bits[46] = 'B';
    const char *malformed[] = {NULL, "", "cft_", "Bearer x", "cft_abc", longer, bad_alpha,
                               upper, bad_bits};
    statements = 0;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        denied(malformed[i]);
    /* Without a single statement run on the store. */
    assert_int_equal(statements, 0);
    sqlite3_trace_v2(cf_store_db(e->store), 0, NULL, NULL);
    snapshot(after);
    assert_string_equal(before, after);
}

static void refusals_are_audited(void **state)
{
    (void)state;
    char revoked[16], tr[64], expiring[16], te[64], dis[16], td[64], user[64];
    cf_error err;
    make_token("rms", 0, revoked, tr);
    make_token("rms", T0 + 100, expiring, te);
    make_token("gateway", 0, dis, td);
    as("admin");
    assert_int_equal(cf_token_revoke(e, revoked, &err), 0);

    denied(tr);
    refusal_recorded(revoked, "rms", "revoked");
    assert_int_equal(audit_count("auth.refused"), 1);

    cf_engine_set_clock(e, T0 + 99);
    assert_int_equal(auth(te, user, &err), 0);
    cf_engine_set_clock(e, T0 + 100);
    assert_int_equal(auth(te, user, &err), CF_EDENIED);
    assert_non_null(strstr(err.message, "expired"));
    refusal_recorded(expiring, "rms", "expired");

    as("admin");
    assert_int_equal(cf_user_disable(e, "gateway", &err), 0);
    assert_int_equal(auth(td, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "token");
    assert_non_null(strstr(err.message, "disabled"));
    refusal_recorded(dis, "gateway", "user disabled");
    assert_int_equal(audit_count("auth.refused"), 3);
    /* The refusals keep the chain's rules. */
    verify_ok();
}

static void missing_user_refused(void **state)
{
    (void)state;
    char id[16], token[64], user[64];
    cf_error err;
    make_token("gateway", 0, id, token);
    edit("DELETE FROM users WHERE name='gateway'");
    assert_int_equal(auth(token, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "token");
    refusal_recorded(id, "gateway", "no such user");
}

static void altered_user_refused(void **state)
{
    (void)state;
    char id[16], token[64], user[64];
    cf_error err;
    make_token("rms", 0, id, token);
    int64_t alarms = audit_count("integrity.alarm");
    edit("UPDATE users SET roles='administrator' WHERE name='rms'");
    assert_int_equal(auth(token, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "token");
    assert_string_equal(user, "");
    refusal_recorded(id, "rms", "altered");
    assert_int_equal(audit_count("integrity.alarm"), alarms + 1);
}

/* ---- what is on disk ---------------------------------------------------------------- */

static bool file_has(const char *file, const char *needle)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return false;
    size_t n = strlen(needle), cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    bool found = false;
    for (size_t i = 0; !found && i + n <= len; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static void only_the_hash_is_stored(void **state)
{
    (void)state;
    char id[16], token[64], user[64], hash[65];
    cf_error err;
    make_token("rms", 0, id, token);
    assert_int_equal(auth(token, user, &err), 0);
    cf_sha256_hex(token, strlen(token), hash);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    /* Neither the token nor its random part, in the file or its log. */
    assert_false(file_has(path, token + 4));
    assert_false(file_has(wal, token + 4));
    assert_true(file_has(path, hash) || file_has(wal, hash));
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tokens WHERE hash='%s' AND id='%s'", hash,
             id);
    assert_int_equal(query_int(sql), 1);
}

/* ---- rows edited behind the engine's back -------------------------------------------- */

static void verify_fails_on_tokens(void)
{
    cf_error err;
    json_t *v = NULL;
    as("admin");
    assert_int_equal(cf_audit_verify(e, &v, &err), CF_EINVALID);
    assert_string_equal(err.field, "tokens");
    json_decref(v);
}

static void edited_rows_are_refused(void **state)
{
    (void)state;
    char a[16], ta[64], b[16], tb[64], user[64], sql[400];
    cf_error err;
    make_token("rms", 0, a, ta);
    make_token("rms", 0, b, tb);
    as("admin");
    assert_int_equal(cf_token_revoke(e, a, &err), 0);
    verify_ok();

    /* A revocation undone by hand. */
    snprintf(sql, sizeof sql, "UPDATE tokens SET revoked_at=0 WHERE id='%s'", a);
    edit(sql);
    int64_t alarms = audit_count("integrity.alarm");
    assert_int_equal(auth(ta, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "token");
    assert_string_equal(user, "");
    refusal_recorded(a, "rms", "altered");
    assert_int_equal(audit_count("integrity.alarm"), alarms + 1);
    verify_fails_on_tokens();
    /* Revoking it again is refused too: the row is not what the chain says. */
    as("admin");
    assert_int_equal(cf_token_revoke(e, a, &err), CF_EINVALID);
    assert_string_equal(err.field, "token");
    snprintf(sql, sizeof sql, "UPDATE tokens SET revoked_at=%d WHERE id='%s'", T0, a);
    edit(sql);
    verify_ok();

    /* A token moved to the administrator. */
    snprintf(sql, sizeof sql, "UPDATE tokens SET user='admin' WHERE id='%s'", b);
    edit(sql);
    assert_int_equal(auth(tb, user, &err), CF_EDENIED);
    assert_string_equal(user, "");
    refusal_recorded(b, "admin", "altered");
    verify_fails_on_tokens();
    snprintf(sql, sizeof sql, "UPDATE tokens SET user='rms' WHERE id='%s'", b);
    edit(sql);
    assert_int_equal(auth(tb, user, &err), 0);
    assert_string_equal(user, "rms");
    verify_ok();

    /* A later expiry, a note. */
    snprintf(sql, sizeof sql, "UPDATE tokens SET note='x' WHERE id='%s'", b);
    edit(sql);
    verify_fails_on_tokens();
    snprintf(sql, sizeof sql, "UPDATE tokens SET note='for tests' WHERE id='%s'", b);
    edit(sql);

    /* The revoked row put back to its created state, pointer and all. */
    snprintf(sql, sizeof sql,
             "UPDATE tokens SET revoked_at=0, audit_seq=(SELECT min(seq) FROM audit WHERE"
             " action='token.create') WHERE id='%s'",
             a);
    edit(sql);
    verify_fails_on_tokens();
    int rc = auth(ta, user, &err);
    if (cf_chain_keeps_payload("token.create"))
        assert_int_equal(rc, CF_EDENIED); /* the newest record about it is the revocation */
    else
        assert_true(rc == 0 || rc == CF_EDENIED); /* found by verify only */

    /* A row added, a row deleted. */
    snprintf(sql, sizeof sql, "DELETE FROM tokens WHERE id='%s'", a);
    edit(sql);
    verify_fails_on_tokens();
    snprintf(sql, sizeof sql,
             "INSERT INTO tokens SELECT '0000000000aa', user, CASE substr(hash, 1, 1) WHEN 'f'"
             " THEN 'e' ELSE 'f' END || substr(hash, 2), note,"
             " created_at, created_by, expires_at, revoked_at, 0, audit_seq FROM tokens"
             " WHERE id='%s'",
             b);
    edit(sql);
    verify_fails_on_tokens();
}

/* ---- local peers -------------------------------------------------------------------- */

static void peers_map_through_bindings(void **state)
{
    (void)state;
    char user[64];
    cf_error err;
    as("admin");
    /* This process's own account by its login name, another by number. */
    struct passwd *pw = getpwuid(getuid());
    const char *login = pw ? pw->pw_name : NULL;
    char me[32];
    snprintf(me, sizeof me, "%lu", (unsigned long)getuid());
    assert_int_equal(cf_user_bind(e, "gateway", login ? login : me, &err), 0);
    assert_int_equal(cf_user_bind(e, "rms", "4242", &err), 0);
    assert_int_equal(cf_user_for_uid(e, (long)getuid(), user, &err), 0);
    assert_string_equal(user, "gateway");
    assert_int_equal(cf_user_for_uid(e, 4242, user, &err), 0);
    assert_string_equal(user, "rms");

    assert_int_equal(cf_user_for_uid(e, 4343, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "peer");
    assert_string_equal(user, "");
    assert_int_equal(cf_user_for_uid(e, -1, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "peer");

    as("admin");
    assert_int_equal(cf_user_bind(e, "officer1", "4242", &err), 0);
    assert_int_equal(cf_user_for_uid(e, 4242, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "peer");
    assert_non_null(strstr(err.message, "several"));

    as("admin");
    assert_int_equal(cf_user_disable(e, "gateway", &err), 0);
    assert_int_equal(cf_user_for_uid(e, (long)getuid(), user, &err), CF_EDENIED);
    assert_string_equal(err.field, "peer");
    assert_non_null(strstr(err.message, "disabled"));

    /* A binding added by hand is not believed. */
    edit("UPDATE users SET os_users='4545' WHERE name='admin'");
    assert_int_equal(cf_user_for_uid(e, 4545, user, &err), CF_EDENIED);
    assert_string_equal(err.field, "peer");
    assert_string_equal(user, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_list_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(non_admin_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_input_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(authenticate_ok_and_last_use, setup, teardown),
        cmocka_unit_test_setup_teardown(authenticate_unknown_and_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_are_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_user_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(altered_user_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(only_the_hash_is_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(edited_rows_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(peers_map_through_bindings, setup, teardown),
    };
    return cmocka_run_group_tests_name("tokens", tests, NULL, NULL);
}
