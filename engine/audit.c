/*
 * The audit chain. Each record is hashed over a canonical line that includes
 * the previous record's hash, so editing, deleting or reordering any record
 * breaks every hash after it. The canonical line is a compact JSON array
 *
 *   [seq,at,"actor","role","action","case","justification","digest","prev"]
 *
 * (null for absent role/case/justification; strings escaped as JSON with
 * only '"', '\\' and control characters escaped), and the record's hash is
 * the hex SHA-256 of that line's bytes. The first record's prev is 64 zeros.
 * Anyone can recompute a chain with jq and sha256sum; docs/audit.md shows how.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "integrity.h"
#include "sign.h"

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static int buf_grow(buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->n + more)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np)
        return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

static int buf_put(buf *b, const char *s, size_t n)
{
    if (buf_grow(b, n))
        return -1;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

static int put_str(buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (!s)
        return buf_put(b, "null", 4);
    size_t len = strlen(s);
    if (buf_grow(b, len * 6 + 2))
        return -1;
    char *o = b->p + b->n;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
    return 0;
}

/* The canonical line of a record, hashed into out. */
static int record_hash(buf *b, int64_t seq, int64_t at, const char *actor,
                       const char *role, const char *action, const char *case_id,
                       const char *just, const char *digest, const char *prev,
                       char out[65])
{
    char num[48];
    b->n = 0;
    int n = snprintf(num, sizeof num, "[%lld,%lld,", (long long)seq, (long long)at);
    if (buf_put(b, num, (size_t)n) || put_str(b, actor) || buf_put(b, ",", 1) ||
        put_str(b, role) || buf_put(b, ",", 1) || put_str(b, action) ||
        buf_put(b, ",", 1) || put_str(b, case_id) || buf_put(b, ",", 1) ||
        put_str(b, just) || buf_put(b, ",", 1) || put_str(b, digest) ||
        buf_put(b, ",", 1) || put_str(b, prev) || buf_put(b, "]", 1))
        return -1;
    cf_sha256_hex(b->p, b->n, out);
    return 0;
}

int cf_audit_head(cf_store *s, int64_t *seq, char hash[65], cf_error *err)
{
    static const char sql[] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = sqlite3_step(st);
    *seq = 0;
    memcpy(hash, CF_AUDIT_GENESIS, 65);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        const unsigned char *h = sqlite3_column_text(st, 1);
        snprintf(hash, 65, "%s", h ? (const char *)h : "");
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return cf_store_error(s, rc, "read audit head", err);
    return 0;
}

int cf_audit_append(cf_store *s, int64_t at, const char *actor, const char *role,
                    const char *action, const char *case_id,
                    const char *justification, const char *payload, int64_t *seq_out,
                    cf_error *err)
{
    static const char sql[] =
        "INSERT INTO audit(seq, at, actor, role, action, case_id, justification,"
        " digest, prev, hash) VALUES(?,?,?,?,?,?,?,?,?,?)";
    if (!cf_store_in_tx(s))
        return cf_err_set(err, CF_EINTERNAL, "audit", "audit append outside a transaction");
    int64_t seq;
    char prev[65], digest[65], hash[65];
    int rc = cf_audit_head(s, &seq, prev, err);
    if (rc)
        return rc;
    seq++;
    if (justification && !*justification)
        justification = NULL;
    cf_sha256_hex(payload ? payload : "", payload ? strlen(payload) : 0, digest);
    buf b = {0};
    rc = record_hash(&b, seq, at, actor, role, action, case_id, justification, digest,
                     prev, hash);
    free(b.p);
    if (rc)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, case_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, justification, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return cf_store_error(s, rc, "append audit", err);
    if (seq_out)
        *seq_out = seq;
    return 0;
}

static const char *text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int cf_audit_verify_store(cf_store *s, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT seq, at, actor, role, action, case_id,"
                              " justification, digest, prev, hash FROM audit ORDER BY seq";
    *out = NULL;
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    char prev[65], hash[65];
    memcpy(prev, CF_AUDIT_GENESIS, 65);
    int64_t expect = 1, count = 0, bad = 0;
    const char *reason = NULL;
    buf b = {0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *stored_prev = text(st, 8), *stored_hash = text(st, 9);
        if (seq != expect) {
            bad = expect;
            reason = seq > expect ? "record missing (sequence gap)"
                                  : "records out of order";
            break;
        }
        if (!stored_prev || strcmp(stored_prev, prev) != 0) {
            bad = seq;
            reason = "previous-hash link broken";
            break;
        }
        if (sqlite3_column_type(st, 1) != SQLITE_INTEGER || !text(st, 2) ||
            !text(st, 4) || !text(st, 7) ||
            record_hash(&b, seq, sqlite3_column_int64(st, 1), text(st, 2), text(st, 3),
                        text(st, 4), text(st, 5), text(st, 6), text(st, 7), prev,
                        hash) != 0 ||
            !stored_hash || strcmp(stored_hash, hash) != 0) {
            bad = seq;
            reason = "record altered (hash mismatch)";
            break;
        }
        memcpy(prev, hash, 65);
        expect++;
        count++;
    }
    sqlite3_reset(st);
    free(b.p);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return cf_store_error(s, rc, "read audit", err);
    json_t *o = json_pack("{s:b, s:I, s:s}", "ok", !bad, "records", (json_int_t)count,
                          "head", prev);
    if (bad) {
        json_object_set_new(o, "first_bad", json_integer(bad));
        json_object_set_new(o, "reason", json_string(reason));
        *out = o;
        return cf_err_set(err, CF_EINVALID, "audit",
                          "audit chain broken at record %lld: %s", (long long)bad, reason);
    }
    *out = o;
    return 0;
}

int cf_audit_hash_at(cf_store *s, int64_t seq, char out[65], cf_error *err)
{
    static const char sql[] = "SELECT hash FROM audit WHERE seq=?";
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    out[0] = '\0';
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, 65, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return cf_err_set(err, CF_EINVALID, "audit", "audit record %lld is missing",
                          (long long)seq);
    return rc == SQLITE_ROW ? 0 : cf_store_error(s, rc, "read audit", err);
}

int cf_audit_checkpoint(cf_store *s, const unsigned char *sk, const char *store_id,
                        int64_t at, const char *actor, const char *role, json_t **out,
                        cf_error *err)
{
    static const char sql[] =
        "INSERT INTO checkpoints(seq, signed_seq, head, at, signature) VALUES(?,?,?,?,?)";
    int64_t signed_seq, seq;
    char hash[65], msg[256], sig[129];
    int rc = cf_audit_head(s, &signed_seq, hash, err);
    if (rc)
        return rc;
    if (cf_sign_checkpoint_message(msg, sizeof msg, store_id, signed_seq, hash, at))
        return cf_err_set(err, CF_EINTERNAL, "checkpoint", "checkpoint message too long");
    cf_sign_hex(sk, msg, sig);
    char *payload = cf_integrity_checkpoint_payload(signed_seq, hash, at, sig);
    if (!payload)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    rc = cf_audit_append(s, at, actor, role, "checkpoint", NULL, NULL, payload, &seq, err);
    free(payload);
    if (rc)
        return rc;
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, signed_seq);
    sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, at);
    sqlite3_bind_text(st, 5, sig, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return cf_store_error(s, rc, "write checkpoint", err);
    if (out)
        *out = json_pack("{s:I, s:I, s:s, s:I}", "seq", (json_int_t)seq, "signed_seq",
                         (json_int_t)signed_seq, "head", hash, "at", (json_int_t)at);
    return 0;
}

int cf_audit_verify_checkpoints(cf_store *s, const char *pk_hex, const char *store_id,
                                json_t *report, cf_error *err)
{
    static const char sql[] =
        "SELECT c.seq, c.signed_seq, c.head, c.at, c.signature, a.digest, a.action,"
        " (SELECT hash FROM audit h WHERE h.seq = c.signed_seq)"
        " FROM checkpoints c LEFT JOIN audit a ON a.seq = c.seq ORDER BY c.seq";
    static const char count[] = "SELECT count(*) FROM audit WHERE action='checkpoint'";
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int64_t n = 0, last = 0, bad = 0;
    const char *why = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0), signed_seq = sqlite3_column_int64(st, 1);
        const char *head = text(st, 2), *sig = text(st, 4);
        int64_t at = sqlite3_column_int64(st, 3);
        char *payload = cf_integrity_checkpoint_payload(signed_seq, head ? head : "", at,
                                                        sig ? sig : "");
        char h[65] = "", msg[256];
        if (payload)
            cf_sha256_hex(payload, strlen(payload), h);
        free(payload);
        if (!text(st, 6) || strcmp(text(st, 6), "checkpoint") != 0 || !text(st, 5) ||
            strcmp(h, text(st, 5)) != 0)
            why = "checkpoint does not match its audit record";
        else if (!text(st, 7) || strcmp(text(st, 7), head) != 0)
            why = "checkpoint names a head the chain does not have";
        else if (!pk_hex)
            why = "no public key to check checkpoint signatures";
        else if (cf_sign_checkpoint_message(msg, sizeof msg, store_id ? store_id : "",
                                            signed_seq, head, at) != 0 ||
                 !cf_sign_verify_hex(pk_hex, msg, sig))
            why = "checkpoint signature invalid";
        if (why) {
            bad = seq;
            break;
        }
        last = signed_seq;
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return cf_store_error(s, rc, "read checkpoints", err);
    json_object_set_new(report, "checkpoints", json_integer(n));
    json_object_set_new(report, "last_signed_seq", json_integer(last));
    if (bad)
        return cf_err_set(err, CF_EINVALID, "checkpoints",
                          "audit verify: checkpoint at record %lld: %s", (long long)bad, why);
    sqlite3_stmt *c = cf_store_stmt(s, count, err);
    if (!c)
        return err ? err->code : CF_EIO;
    rc = sqlite3_step(c);
    int64_t records = rc == SQLITE_ROW ? sqlite3_column_int64(c, 0) : -1;
    sqlite3_reset(c);
    if (records != n)
        return cf_err_set(err, CF_EINVALID, "checkpoints",
                          "audit verify: checkpoints: rows added or deleted");
    return 0;
}

/* ---- export and offline verification --------------------------------------------- */

static int put_line(FILE *f, json_t *v)
{
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(v);
    int bad = !t || fputs(t, f) == EOF || fputc('\n', f) == EOF;
    free(t);
    return bad ? -1 : 0;
}

int cf_audit_export_to(cf_store *s, FILE *f, int64_t since, const json_t *header,
                       int64_t *count, char head[65], cf_error *err)
{
    static const char sql[] =
        "SELECT seq, at, actor, role, action, case_id, justification, digest, prev, hash"
        " FROM audit WHERE seq >= ? ORDER BY seq";
    static const char cps[] = "SELECT seq, signed_seq, head, at, signature FROM checkpoints"
                              " WHERE seq >= ? ORDER BY seq";
    *count = 0;
    memcpy(head, CF_AUDIT_GENESIS, 65);
    if (put_line(f, json_deep_copy(header)))
        return cf_err_set(err, CF_EIO, "export", "cannot write the export");
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    sqlite3_bind_int64(st, 1, since);
    int rc, bad = 0;
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        bad = put_line(f, json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}",
                                    "seq", (json_int_t)sqlite3_column_int64(st, 0), "at",
                                    (json_int_t)sqlite3_column_int64(st, 1), "actor",
                                    text(st, 2), "role", text(st, 3), "action", text(st, 4),
                                    "case", text(st, 5), "justification", text(st, 6),
                                    "digest", text(st, 7), "prev", text(st, 8), "hash",
                                    text(st, 9)));
        if (text(st, 9))
            snprintf(head, 65, "%s", text(st, 9));
        (*count)++;
    }
    sqlite3_reset(st);
    if (bad)
        return cf_err_set(err, CF_EIO, "export", "cannot write the export");
    if (rc != SQLITE_DONE)
        return cf_store_error(s, rc, "export", err);
    if (!(st = cf_store_stmt(s, cps, err)))
        return err ? err->code : CF_EIO;
    sqlite3_bind_int64(st, 1, since);
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW)
        bad = put_line(f, json_pack("{s:{s:I, s:I, s:s?, s:I, s:s?}}", "checkpoint", "seq",
                                    (json_int_t)sqlite3_column_int64(st, 0), "signed_seq",
                                    (json_int_t)sqlite3_column_int64(st, 1), "head",
                                    text(st, 2), "at", (json_int_t)sqlite3_column_int64(st, 3),
                                    "signature", text(st, 4)));
    sqlite3_reset(st);
    if (bad)
        return cf_err_set(err, CF_EIO, "export", "cannot write the export");
    return rc == SQLITE_DONE ? 0 : cf_store_error(s, rc, "export", err);
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Check one exported record against the running chain state. */
static const char *check_record(buf *b, const json_t *r, int64_t *expect, char prev[65],
                                json_t *hashes)
{
    int64_t seq = json_integer_value(json_object_get(r, "seq"));
    char hash[65];
    if (*expect && seq != *expect)
        return "sequence gap";
    if (!*expect) /* an export may start anywhere: trust its first prev */
        snprintf(prev, 65, "%s", jstr(r, "prev") ? jstr(r, "prev") : "");
    if (!jstr(r, "prev") || strcmp(jstr(r, "prev"), prev) != 0)
        return "previous-hash link broken";
    if (!jstr(r, "actor") || !jstr(r, "action") || !jstr(r, "digest") ||
        !json_is_integer(json_object_get(r, "at")) ||
        record_hash(b, seq, json_integer_value(json_object_get(r, "at")), jstr(r, "actor"),
                    jstr(r, "role"), jstr(r, "action"), jstr(r, "case"),
                    jstr(r, "justification"), jstr(r, "digest"), prev, hash) != 0 ||
        !jstr(r, "hash") || strcmp(hash, jstr(r, "hash")) != 0)
        return "record altered (hash mismatch)";
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)seq);
    json_object_set_new(hashes, key, json_string(hash));
    memcpy(prev, hash, 65);
    *expect = seq + 1;
    return NULL;
}

int cf_audit_verify_export(const char *path, const char *pk_hex, json_t **out, cf_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return cf_err_set(err, CF_ENOTFOUND, "file", "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t lineno = 0, expect = 0, records = 0, first = 0, cps = 0, last_signed = 0;
    char prev[65] = "", msg[256];
    const char *why = NULL, *store_id = NULL;
    json_t *header = NULL, *hashes = json_object(), *pending = json_array();
    buf b = {0};
    while (!why && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(v)) {
            why = "line is not a JSON object";
        } else if (lineno == 1) {
            if (!jstr(v, "format") || strcmp(jstr(v, "format"), "caseflow-audit-export") != 0)
                why = "not a caseflow audit export (header)";
            header = json_incref(v);
            store_id = jstr(v, "store_id");
            if (!why && pk_hex && jstr(v, "public_key") &&
                strcmp(jstr(v, "public_key"), pk_hex) != 0)
                why = "the export names another public key";
        } else if (json_object_get(v, "checkpoint")) {
            json_array_append(pending, json_object_get(v, "checkpoint"));
        } else {
            if (!first)
                first = json_integer_value(json_object_get(v, "seq"));
            why = check_record(&b, v, &expect, prev, hashes);
            records++;
        }
        json_decref(v);
    }
    free(line);
    fclose(f);
    free(b.p);
    size_t i;
    json_t *c;
    json_array_foreach(pending, i, c)
    {
        if (why)
            break;
        char key[32];
        int64_t ss = json_integer_value(json_object_get(c, "signed_seq"));
        snprintf(key, sizeof key, "%lld", (long long)ss);
        const char *h = jstr(hashes, key);
        if (!h || !jstr(c, "head") || strcmp(h, jstr(c, "head")) != 0)
            why = "checkpoint names a head the export does not have";
        else if (!pk_hex)
            why = "no public key to check checkpoint signatures (give --key)";
        else if (cf_sign_checkpoint_message(msg, sizeof msg, store_id ? store_id : "", ss, h,
                                            json_integer_value(json_object_get(c, "at"))) ||
                 !cf_sign_verify_hex(pk_hex, msg, jstr(c, "signature")))
            why = "checkpoint signature invalid";
        else {
            cps++;
            if (ss > last_signed)
                last_signed = ss;
        }
    }
    if (!why && !header)
        why = "empty export";
    *out = json_pack("{s:b, s:I, s:I, s:I, s:s, s:I, s:I, s:I}", "ok", !why, "records",
                     (json_int_t)records, "first_seq", (json_int_t)first, "last_seq",
                     (json_int_t)(expect ? expect - 1 : 0), "head", prev, "checkpoints",
                     (json_int_t)cps, "last_signed_seq", (json_int_t)last_signed,
                     "unsigned_tail",
                     (json_int_t)(expect ? expect - 1 - (last_signed ? last_signed : first - 1)
                                         : 0));
    json_decref(header);
    json_decref(hashes);
    json_decref(pending);
    if (why) {
        json_object_set_new(*out, "reason", json_string(why));
        return cf_err_set(err, CF_EINVALID, "file", "audit verify: %s: line %lld: %s", path,
                          (long long)lineno, why);
    }
    return 0;
}
