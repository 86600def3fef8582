/*
 * Service identities (tokens.h): administrators create, list and revoke
 * bearer tokens; caseflowd asks who a token, or a local peer's account,
 * acts as. A token is shown once and only its SHA-256 is stored. Every
 * change is an audit record whose payload is the token's whole state after
 * it, and the row points at that record, so authentication refuses a row
 * edited behind the engine's back and audit verify reports it. A refused
 * known token is itself recorded (auth.refused), by the engine: the service
 * authenticates before it knows who acts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chain.h"
#include "integrity.h"
#include "machine.h"
#include "tokens.h"

static const char *const admin[] = {"administrator"};

#define NOTE_MAX 200   /* characters */
#define TOUCH_EVERY 60 /* seconds between last_used_at updates */
#define EXPIRES_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* "user" quoted: a word PostgreSQL reserves, where a bare user is
 * current_user (the login's name, not the column). */
#define ROW_COLUMNS                                                                          \
    "id, \"user\", hash, note, created_at, created_by, expires_at, revoked_at,"               \
    " last_used_at, audit_seq"

/* ---- rows and their records ------------------------------------------------------ */

void cf_token_row_clear(cf_token_row *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->user);
    free(t->hash);
    free(t->note);
    free(t->created_by);
    memset(t, 0, sizeof *t);
}

static char *col_dup(cf_stmt *st, int i, bool *oom)
{
    const char *v = cf_stmt_text(st, i);
    char *d = v ? strdup(v) : NULL;
    if (v && !d)
        *oom = true;
    return d;
}

/* The current row of st (columns ROW_COLUMNS) into *t. */
static int row_of(cf_stmt *st, cf_token_row *t, cf_error *err)
{
    bool oom = false;
    t->id = col_dup(st, 0, &oom);
    t->user = col_dup(st, 1, &oom);
    t->hash = col_dup(st, 2, &oom);
    t->note = col_dup(st, 3, &oom);
    t->created_at = cf_stmt_int64(st, 4);
    t->created_by = col_dup(st, 5, &oom);
    t->expires_at = cf_stmt_int64(st, 6);
    t->revoked_at = cf_stmt_int64(st, 7);
    t->last_used_at = cf_stmt_int64(st, 8);
    t->audit_seq = cf_stmt_int64(st, 9);
    if (!oom)
        return 0;
    cf_token_row_clear(t);
    return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

/* The row the query sql (columns ROW_COLUMNS, one text parameter) finds
 * for key into *t: 0, CF_ENOTFOUND (err untouched) when there is none, or
 * the store's error. */
static int get_row(cf_store *s, const char *sql, const char *key, cf_token_row *t,
                   cf_error *err)
{
    memset(t, 0, sizeof *t);
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, key);
    int step = cf_stmt_step(st);
    int rc = step == CF_DB_ROW ? row_of(st, t, err) : 0;
    cf_stmt_reset(st);
    if (step == CF_DB_DONE)
        return CF_ENOTFOUND;
    return step == CF_DB_ROW ? rc : cf_store_error(s, step, "read tokens", err);
}

static bool text_ok(const char *s)
{
    return s && cf_utf8_valid(s);
}

static bool row_text_ok(const cf_token_row *t)
{
    return text_ok(t->id) && text_ok(t->user) && text_ok(t->hash) && text_ok(t->note) &&
           text_ok(t->created_by);
}

char *cf_tokens_payload(const cf_token_row *t)
{
    if (!row_text_ok(t))
        return NULL;
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I}", "id", t->id, "user",
                          t->user, "hash", t->hash, "note", t->note, "created_at",
                          (json_int_t)t->created_at, "created_by", t->created_by,
                          "expires_at", (json_int_t)t->expires_at, "revoked_at",
                          (json_int_t)t->revoked_at);
    char *text = p ? cf_json_canonical(p) : NULL;
    json_decref(p);
    return text;
}

static bool id_ok(const char *id)
{
    size_t n = 0;
    for (; id && id[n]; n++)
        if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
            return false;
    return n == CF_TOKEN_ID_LEN;
}

/* A row's id for a message: an edited row's may be anything. */
static const char *shown_id(const char *id)
{
    return id_ok(id) ? id : "(malformed id)";
}

int cf_tokens_check(cf_store *s, const cf_token_row *t, cf_error *err)
{
    char *payload = cf_tokens_payload(t);
    if (!payload && row_text_ok(t))
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    char digest[65], action[96], mine[65];
    bool ok = false;
    int rc = payload && t->audit_seq > 0 ? cf_audit_record(s, t->audit_seq, digest, action, err)
                                         : CF_ENOTFOUND;
    if (rc == 0) {
        cf_sha256_hex(payload, strlen(payload), mine);
        ok = strcmp(action, t->revoked_at ? "token.revoke" : "token.create") == 0 &&
             strcmp(mine, digest) == 0;
    } else if (rc == CF_ENOTFOUND) {
        rc = 0;
    }
    free(payload);
    /* Where the chain keeps token payloads, a row put back to an earlier
     * genuine state together with its pointer is found here too, not only
     * by a full verify. */
    if (!rc && ok && cf_chain_keeps_payload("token.create")) {
        char subject[64];
        int64_t latest = 0;
        snprintf(subject, sizeof subject, "token:%s", t->id);
        rc = cf_store_record_latest(s, subject, &latest, err);
        ok = latest == t->audit_seq;
    }
    if (rc)
        return rc;
    return ok ? 0
              : cf_err_set(err, CF_EINVALID, "token",
                           "token %s was altered outside caseflow: it does not match the "
                           "audit chain; nothing was done (run caseflow audit verify)",
                           shown_id(t->id));
}

/* ---- verify ------------------------------------------------------------------------ */

static int broken(cf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int broken(cf_error *err, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cf_err_set(err, CF_EINVALID, "tokens", "audit verify: tokens: %s", msg);
}

/* The token records in the chain: how many creations and revocations. */
static int count_records(cf_store *s, int64_t *created, int64_t *revoked, cf_error *err)
{
    static const char sql[] =
        "SELECT coalesce(sum(action = 'token.create'), 0),"
        " coalesce(sum(action = 'token.revoke'), 0) FROM audit"
        " WHERE action IN ('token.create', 'token.revoke')";
    /* PostgreSQL has no sum of booleans */
    static const char pg_sql[] =
        "SELECT count(*) FILTER (WHERE action = 'token.create'),"
        " count(*) FILTER (WHERE action = 'token.revoke') FROM audit"
        " WHERE action IN ('token.create', 'token.revoke')";
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int step = cf_stmt_step(st);
    *created = step == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    *revoked = step == CF_DB_ROW ? cf_stmt_int64(st, 1) : 0;
    cf_stmt_reset(st);
    return step == CF_DB_ROW ? 0 : cf_store_error(s, step, "verify tokens", err);
}

int cf_tokens_verify(cf_store *s, json_t *report, cf_error *err)
{
    static const char sql[] = "SELECT " ROW_COLUMNS " FROM tokens ORDER BY id";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int64_t rows = 0, revoked = 0, created_recs = 0, revoked_recs = 0;
    int rc = 0, step = CF_DB_DONE;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        cf_token_row t = {0};
        cf_error cerr;
        if (!(rc = row_of(st, &t, err)) && (rc = cf_tokens_check(s, &t, &cerr))) {
            if (rc == CF_EINVALID)
                rc = broken(err, "token %s: does not match its audit record", shown_id(t.id));
            else if (err)
                *err = cerr;
        }
        rows++;
        revoked += t.revoked_at != 0;
        cf_token_row_clear(&t);
    }
    cf_stmt_reset(st);
    if (!rc && step != CF_DB_DONE)
        rc = cf_store_error(s, step, "verify tokens", err);
    if (!rc)
        rc = count_records(s, &created_recs, &revoked_recs, err);
    if (!rc && created_recs != rows)
        rc = broken(err, "%lld row(s) for %lld token.create record(s): rows added or deleted",
                    (long long)rows, (long long)created_recs);
    if (!rc && revoked_recs != revoked)
        rc = broken(err,
                    "%lld revoked row(s) for %lld token.revoke record(s): a revoked token "
                    "was put back",
                    (long long)revoked, (long long)revoked_recs);
    json_t *tables = json_object_get(report, "tables");
    if (report && !json_is_object(tables)) {
        tables = json_object();
        json_object_set_new(report, "tables", tables);
    }
    json_object_set_new(tables, "tokens", json_integer(rows));
    return rc;
}

/* ---- input ------------------------------------------------------------------------- */

/* Is the token "cft_" and the unpadded URL-safe base64 of exactly 32 bytes
 * (alphabet, length and zero padding bits all checked)? */
static bool token_shape_ok(const char *token)
{
    if (!token || strnlen(token, CF_TOKEN_LEN + 1) != CF_TOKEN_LEN ||
        strncmp(token, CF_TOKEN_PREFIX, 4) != 0)
        return false;
    const char *b = token + 4;
    for (size_t i = 0; i < CF_TOKEN_LEN - 4; i++) {
        char c = b[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    unsigned char raw[33];
    size_t n = 0;
    bool ok = sodium_base642bin(raw, sizeof raw, b, CF_TOKEN_LEN - 4, NULL, &n, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
              n == 32;
    sodium_memzero(raw, sizeof raw);
    return ok;
}

/* A note: UTF-8, at most NOTE_MAX characters, no control characters (C0,
 * DEL, C1): it is shown on terminals. */
static int note_ok(const char *note, cf_error *err)
{
    if (!cf_utf8_valid(note))
        return cf_err_set(err, CF_EINVALID, "note", "note: not valid UTF-8");
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)note; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return cf_err_set(err, CF_EINVALID, "note", "note: no control characters");
        chars += (*p & 0xc0) != 0x80;
    }
    return chars > NOTE_MAX ? cf_err_set(err, CF_EINVALID, "note",
                                         "note: at most %d characters", NOTE_MAX)
                            : 0;
}

/* A user name as a token may name it: it must also fit the 64-byte buffer
 * cf_token_authenticate fills. Whether the user exists is the store's. */
static int user_ok(const char *user, cf_error *err)
{
    size_t n = user ? strnlen(user, 64) : 0;
    bool ok = n > 0 && n < 64 && cf_utf8_valid(user);
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)user[i] >= 0x20 && user[i] != 0x7f;
    return ok ? 0
              : cf_err_set(err, CF_EINVALID, "user",
                           "user: a user name of 1-63 characters (tokens act as users)");
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];
    if (!t)
        return json_null();
    cf_time_format(t, buf);
    return json_string(buf);
}

/* ---- create, revoke, list ---------------------------------------------------------- */

/* A fresh id, none of the store's. Inside the transaction. */
static int new_id(cf_store *s, char id[CF_TOKEN_ID_LEN + 1], cf_error *err)
{
    static const char sql[] = "SELECT 1 FROM tokens WHERE id=?";
    for (int tries = 0; tries < 8; tries++) {
        unsigned char raw[CF_TOKEN_ID_LEN / 2];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(id, CF_TOKEN_ID_LEN + 1, raw, sizeof raw);
        cf_stmt *st = cf_store_stmt(s, sql, err);
        if (!st)
            return err ? err->code : CF_EIO;
        cf_stmt_bind_text(st, 1, id);
        int step = cf_stmt_step(st);
        cf_stmt_reset(st);
        if (step == CF_DB_DONE)
            return 0;
        if (step != CF_DB_ROW)
            return cf_store_error(s, step, "read tokens", err);
    }
    return cf_err_set(err, CF_EINTERNAL, "id", "no free token id after 8 tries");
}

/* The user a token is made for: existing, matching the chain, enabled. */
static int token_user(cf_engine *e, const char *name, cf_error *err)
{
    cf_user_row u;
    int rc = cf_store_user_get(e->store, name, &u, err);
    if (rc == CF_EDENIED || rc == CF_ENOTFOUND)
        return cf_err_set(err, CF_ENOTFOUND, "user", "no such user \"%s\"", name);
    if (rc)
        return rc;
    if ((rc = cf_integrity_check_user(e->store, &u, err)) == CF_EINVALID && err)
        snprintf(err->field, sizeof err->field, "user");
    else if (!rc && u.disabled)
        rc = cf_err_set(err, CF_EINVALID, "user", "user \"%s\" is disabled", name);
    cf_user_row_clear(&u);
    return rc;
}

static int insert_row(cf_store *s, const cf_token_row *t, cf_error *err)
{
    static const char sql[] = "INSERT INTO tokens(" ROW_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,0,?)";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, t->id);
    cf_stmt_bind_text(st, 2, t->user);
    cf_stmt_bind_text(st, 3, t->hash);
    cf_stmt_bind_text(st, 4, t->note);
    cf_stmt_bind_int64(st, 5, t->created_at);
    cf_stmt_bind_text(st, 6, t->created_by);
    cf_stmt_bind_int64(st, 7, t->expires_at);
    cf_stmt_bind_int64(st, 8, t->revoked_at);
    cf_stmt_bind_int64(st, 9, t->audit_seq);
    int step = cf_stmt_step(st);
    cf_stmt_reset(st);
    return step == CF_DB_DONE ? 0 : cf_store_error(s, step, "write token", err);
}

int cf_token_create(cf_engine *e, const char *user, int64_t expires_at, const char *note,
                    json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (!out) /* the token is shown once: nowhere to show it, none is made */
        return cf_err_set(err, CF_EUSAGE, "out", "token create needs somewhere to return "
                                                 "the token");
    *out = NULL;
    if (!note)
        note = "";
    int rc = user_ok(user, err);
    if (rc || (rc = note_ok(note, err)))
        return rc;
    if (expires_at < 0 || expires_at > EXPIRES_MAX)
        return cf_err_set(err, CF_EINVALID, "expires_at",
                          "expires_at: a time in the future up to 9999-12-31T23:59:59Z, or 0 "
                          "for never");
    const char *role;
    if ((rc = cf_engine_require(e, admin, 1, "create tokens", &role, err)))
        return rc;
    int64_t now = cf_engine_now(e);
    if (expires_at && expires_at <= now) {
        char at[32];
        cf_time_format(expires_at, at);
        return cf_err_set(err, CF_EINVALID, "expires_at",
                          "expires_at: %s is not in the future", at);
    }
    if ((rc = cf_engine_begin(e, err)))
        return rc;
    char id[CF_TOKEN_ID_LEN + 1], hash[65];
    char token[CF_TOKEN_LEN + 1] = CF_TOKEN_PREFIX;
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token + 4, sizeof token - 4, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    cf_sha256_hex(token, CF_TOKEN_LEN, hash);
    cf_token_row t = {.id = id, .user = (char *)user, .hash = hash, .note = (char *)note,
                      .created_at = now, .created_by = e->actor, .expires_at = expires_at};
    if (!(rc = token_user(e, user, err)) && !(rc = new_id(e->store, id, err)) &&
        !(rc = cf_engine_audit_text(e, role, "token.create", NULL, cf_tokens_payload(&t),
                                    &t.audit_seq, err)))
        rc = insert_row(e->store, &t, err);
    rc = cf_engine_finish(e, rc, err);
    if (!rc) {
        *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "id", id, "user", user, "token",
                         token, "note", note, "created_at", time_or_null(now), "expires_at",
                         time_or_null(expires_at));
        if (!*out)
            rc = cf_err_set(err, CF_ENOMEM, NULL,
                            "out of memory (token %s was created: revoke it)", id);
    }
    sodium_memzero(token, sizeof token);
    return rc;
}

int cf_token_revoke(cf_engine *e, const char *token_id, cf_error *err)
{
    static const char by_id[] = "SELECT " ROW_COLUMNS " FROM tokens WHERE id=?";
    static const char sql[] = "UPDATE tokens SET revoked_at=?, audit_seq=? WHERE id=?";
    cf_err_clear(err);
    if (!id_ok(token_id))
        return cf_err_set(err, CF_EINVALID, "id", "a token id is %d hex digits (token list)",
                          CF_TOKEN_ID_LEN);
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "revoke tokens", &role, err);
    if (rc || (rc = cf_engine_begin(e, err)))
        return rc;
    cf_token_row t;
    rc = get_row(e->store, by_id, token_id, &t, err);
    if (rc == CF_ENOTFOUND)
        rc = cf_err_set(err, CF_ENOTFOUND, "id", "no such token %s", token_id);
    else if (!rc && (rc = cf_tokens_check(e->store, &t, err)) == CF_EINVALID)
        cf_engine_note_altered(e, "token", token_id, NULL, NULL);
    else if (!rc && t.revoked_at)
        rc = cf_err_set(err, CF_EINVALID, "id", "token %s is revoked already", token_id);
    if (!rc) {
        t.revoked_at = cf_engine_now(e);
        rc = cf_engine_audit_text(e, role, "token.revoke", NULL, cf_tokens_payload(&t),
                                  &t.audit_seq, err);
    }
    cf_stmt *st = rc ? NULL : cf_store_stmt(e->store, sql, err);
    if (!rc && !st)
        rc = err ? err->code : CF_EIO;
    if (st) {
        cf_stmt_bind_int64(st, 1, t.revoked_at);
        cf_stmt_bind_int64(st, 2, t.audit_seq);
        cf_stmt_bind_text(st, 3, token_id);
        int step = cf_stmt_step(st);
        cf_stmt_reset(st);
        if (step != CF_DB_DONE)
            rc = cf_store_error(e->store, step, "revoke token", err);
    }
    cf_token_row_clear(&t);
    rc = cf_engine_finish(e, rc, err);
    if (rc == CF_EINVALID)
        cf_engine_flush_alarm(e);
    return rc;
}

/* Text of column i for JSON: an edited row's may not be UTF-8. */
static json_t *text_json(cf_stmt *st, int i)
{
    const char *s = cf_stmt_text(st, i);
    return json_string(s && cf_utf8_valid(s) ? s : "(not UTF-8)");
}

int cf_token_list(cf_engine *e, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT " ROW_COLUMNS " FROM tokens ORDER BY created_at, id";
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, admin, 1, "list tokens", NULL, err);
    if (rc)
        return rc;
    cf_stmt *st = cf_store_stmt(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *a = json_array();
    int step;
    while (a && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        json_t *o = json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", text_json(st, 0), "user",
            text_json(st, 1), "note", text_json(st, 3), "created_at",
            time_or_null(cf_stmt_int64(st, 4)), "created_by", text_json(st, 5),
            "expires_at", time_or_null(cf_stmt_int64(st, 6)), "revoked_at",
            time_or_null(cf_stmt_int64(st, 7)));
        if (o && cf_stmt_int64(st, 8))
            json_object_set_new(o, "last_used_at", time_or_null(cf_stmt_int64(st, 8)));
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    cf_stmt_reset(st);
    if (!a)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    if (step != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(e->store, step, "list tokens", err);
    }
    *out = a;
    return 0;
}

/* ---- who a request acts as -------------------------------------------------------- */

/* What every authentication needs of the engine: a store that passed its
 * checks at open, and a clock it honours. */
static int engine_usable(cf_engine *e, cf_error *err)
{
    if (e->broken.code) {
        if (err)
            *err = e->broken;
        return e->broken.code;
    }
    return e->clock >= 0 && !e->test_clock ? cf_engine_clock_refused(err) : 0;
}

/* Run fn in a write transaction of the engine's own (a savepoint inside a
 * batch), whoever the actor is: authentication happens before the service
 * knows who acts. */
static int as_engine(cf_engine *e, int (*fn)(cf_engine *, void *, cf_error *), void *ctx,
                     cf_error *err)
{
    char *actor = e->actor;
    e->actor = NULL;
    int rc = cf_engine_begin(e, err);
    if (!rc)
        rc = cf_engine_finish(e, fn(e, ctx, err), err);
    e->actor = actor;
    return rc;
}

typedef struct refusal {
    const cf_token_row *t;
    const char *reason;
} refusal;

static int write_refusal(cf_engine *e, void *ctx, cf_error *err)
{
    const refusal *r = ctx;
    /* The alarm of an altered row comes first, in the same transaction. */
    cf_engine_flush_alarm(e);
    json_t *p = json_pack("{s:s, s:s, s:s}", "id", r->t->id, "user", r->t->user, "reason",
                          r->reason);
    char *text = p ? cf_json_canonical(p) : NULL;
    json_decref(p);
    int rc = text ? cf_audit_append(e->store, cf_engine_now(e), CF_ENGINE_ACTOR, "system",
                                    "auth.refused", NULL, NULL, text, NULL, err)
                  : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(text);
    return rc;
}

/* Refuse a known token, recording why: CF_EDENIED (field "token"). The
 * refusal stands when the record cannot be written; the message says so. */
static int refuse(cf_engine *e, const cf_token_row *t, const char *reason, cf_error *err)
{
    /* An edited row's strings may be anything: the record names them only
     * when they are text. */
    cf_token_row shown = *t;
    if (!text_ok(t->id))
        shown.id = "(not UTF-8)";
    if (!text_ok(t->user))
        shown.user = "(not UTF-8)";
    refusal r = {.t = &shown, .reason = reason};
    cf_error werr;
    cf_err_clear(&werr);
    int rc = as_engine(e, write_refusal, &r, &werr);
    cf_engine_flush_alarm(e); /* still due if the transaction failed */
    const char *id = shown_id(t->id);
    char why[200], at[32];
    if (strcmp(reason, "revoked") == 0) {
        snprintf(why, sizeof why, "token %s was revoked", id);
    } else if (strcmp(reason, "expired") == 0) {
        cf_time_format(t->expires_at, at);
        snprintf(why, sizeof why, "token %s expired at %s", id, at);
    } else if (strcmp(reason, "user disabled") == 0) {
        snprintf(why, sizeof why, "token %s: its user \"%s\" is disabled", id, t->user);
    } else if (strcmp(reason, "no such user") == 0) {
        snprintf(why, sizeof why, "token %s: its user \"%s\" does not exist", id, t->user);
    } else {
        snprintf(why, sizeof why, "token %s refused: it does not match the audit chain", id);
    }
    if (rc)
        return cf_err_set(err, CF_EDENIED, "token", "%s (the refusal could not be recorded: %s)",
                          why, werr.message);
    return cf_err_set(err, CF_EDENIED, "token", "%s", why);
}

static int unknown(cf_error *err)
{
    return cf_err_set(err, CF_EDENIED, "token", "unknown token");
}

/* What to make of the token whose hash is given, read as one snapshot: 0
 * with *reason NULL to accept it (*t its row), 0 with a reason to refuse a
 * known token, CF_EDENIED for an unknown one, other codes when the store
 * cannot be read. */
static int judge(cf_engine *e, const char *hash, cf_token_row *t, const char **reason,
                 cf_error *err)
{
    static const char by_hash[] = "SELECT " ROW_COLUMNS " FROM tokens WHERE hash=?";
    *reason = NULL;
    int rc = get_row(e->store, by_hash, hash, t, err);
    if (rc == CF_ENOTFOUND)
        return unknown(err);
    if (rc)
        return rc;
    if (!t->hash || strlen(t->hash) != 64 || sodium_memcmp(t->hash, hash, 64) != 0)
        return unknown(err);
    cf_error cerr;
    if ((rc = cf_tokens_check(e->store, t, &cerr)) == CF_EINVALID) {
        cf_engine_note_altered(e, "token", shown_id(t->id), NULL, NULL);
        *reason = "altered";
        return 0;
    }
    if (rc) {
        if (err)
            *err = cerr;
        return rc;
    }
    if (t->revoked_at) {
        *reason = "revoked";
        return 0;
    }
    if (t->expires_at && cf_engine_now(e) >= t->expires_at) {
        *reason = "expired";
        return 0;
    }
    cf_user_row u;
    rc = cf_store_user_get(e->store, t->user, &u, &cerr);
    if (rc == CF_EDENIED || rc == CF_ENOTFOUND) {
        *reason = "no such user";
        return 0;
    }
    if (!rc && (rc = cf_integrity_check_user(e->store, &u, &cerr)) == CF_EINVALID) {
        cf_engine_note_altered(e, "user", t->user, NULL, NULL);
        *reason = "altered";
        rc = 0;
    } else if (!rc && u.disabled) {
        *reason = "user disabled";
    }
    cf_user_row_clear(&u);
    if (rc && err)
        *err = cerr;
    return rc;
}

typedef struct touch {
    const char *id;
    int64_t now;
} touch;

static int write_last_used(cf_engine *e, void *ctx, cf_error *err)
{
    static const char sql[] = "UPDATE tokens SET last_used_at=? WHERE id=? AND last_used_at<=?";
    const touch *t = ctx;
    cf_stmt *st = cf_store_stmt(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, t->now);
    cf_stmt_bind_text(st, 2, t->id);
    cf_stmt_bind_int64(st, 3, t->now - TOUCH_EVERY);
    int step = cf_stmt_step(st);
    cf_stmt_reset(st);
    return step == CF_DB_DONE ? 0 : cf_store_error(e->store, step, "token last use", err);
}

int cf_token_authenticate(cf_engine *e, const char *token, char user[64], cf_error *err)
{
    cf_err_clear(err);
    if (user)
        user[0] = '\0';
    if (!token_shape_ok(token))
        return cf_err_set(err, CF_EDENIED, "token",
                          "not a caseflow token (\"cft_\" and 43 characters of base64url)");
    int rc = engine_usable(e, err);
    if (rc)
        return rc;
    char hash[65];
    cf_sha256_hex(token, CF_TOKEN_LEN, hash);
    /* Inside a transaction (a batch) the reads are one snapshot already. */
    bool own = !cf_store_in_tx(e->store);
    if (own && (rc = cf_store_begin_read(e->store, err)))
        return rc;
    cf_token_row t;
    const char *reason = NULL;
    rc = judge(e, hash, &t, &reason, err);
    if (own)
        cf_store_rollback(e->store);
    if (!rc && reason)
        rc = refuse(e, &t, reason, err);
    else if (!rc && strlen(t.user) >= 64)
        rc = cf_err_set(err, CF_EINTERNAL, "user", "no room for the user's name");
    if (!rc) {
        if (user)
            snprintf(user, 64, "%s", t.user);
        /* Operational, not audited, and written at most once a minute: a
         * lost update costs nothing. */
        int64_t now = cf_engine_now(e);
        if (now - t.last_used_at >= TOUCH_EVERY) {
            cf_error ignore;
            touch tc = {.id = t.id, .now = now};
            as_engine(e, write_last_used, &tc, &ignore);
        }
    }
    cf_token_row_clear(&t);
    return rc;
}

/* ---- who a local peer is ------------------------------------------------------------ */

int cf_user_for_uid(cf_engine *e, long uid, char user[64], cf_error *err)
{
    cf_err_clear(err);
    if (user)
        user[0] = '\0';
    if (uid < 0)
        return cf_err_set(err, CF_EDENIED, "peer", "peer: no such account (uid %ld)", uid);
    int rc = engine_usable(e, err);
    if (rc)
        return rc;
    char login[64], num[24], found[80];
    cf_engine_os_account((unsigned long)uid, login, num);
    bool own = !cf_store_in_tx(e->store);
    if (own && (rc = cf_store_begin_read(e->store, err)))
        return rc;
    int n = 0;
    rc = cf_engine_bound_users(e, login, num, found, &n, err);
    if (!rc && n != 1)
        rc = cf_err_set(err, CF_EDENIED, "peer",
                        n ? "peer: several users are bound to the account %s (uid %ld); "
                            "use a token"
                          : "peer: no user is bound to the account %s (uid %ld) (caseflow "
                            "user bind)",
                        login, uid);
    cf_user_row u = {0};
    if (!rc)
        rc = cf_store_user_get(e->store, found, &u, err);
    if (!rc && (rc = cf_integrity_check_user(e->store, &u, err)) == CF_EINVALID) {
        cf_engine_note_altered(e, "user", found, NULL, NULL);
        rc = cf_err_set(err, CF_EDENIED, "peer",
                        "peer: user \"%s\" bound to the account %s does not match the audit "
                        "chain",
                        found, login);
    } else if (!rc && u.disabled) {
        rc = cf_err_set(err, CF_EDENIED, "peer",
                        "peer: user \"%s\" bound to the account %s is disabled", found, login);
    } else if (!rc && strlen(found) >= 64) {
        rc = cf_err_set(err, CF_EINTERNAL, "user", "no room for the user's name");
    }
    cf_user_row_clear(&u);
    if (own)
        cf_store_rollback(e->store);
    cf_engine_flush_alarm(e);
    if (!rc && user)
        snprintf(user, 64, "%s", found);
    return rc;
}
