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
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "chain.h"
#include "integrity.h"
#include "sign.h"

typedef cf_buf buf;

int cf_buf_grow(cf_buf *b, size_t more)
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

int cf_buf_put(cf_buf *b, const char *s, size_t n)
{
    if (n == 0) /* an empty buffer has no memory yet: b->p + 0 would be NULL + 0 */
        return 0;
    if (cf_buf_grow(b, n))
        return -1;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

int cf_buf_put_json_str(cf_buf *b, const char *s, bool upper)
{
    const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    if (!s)
        return cf_buf_put(b, "null", 4);
    size_t len = strlen(s);
    if (cf_buf_grow(b, len * 6 + 2))
        return -1;
    char *o = b->p + b->n;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        o = cf_json_escape_ascii(o, *p, hex);
    *o++ = '"';
    b->n = (size_t)(o - b->p);
    return 0;
}

/* The chain's canonical line writes \u00XX in lower case (docs/audit.md). */
static int put_str(buf *b, const char *s)
{
    return cf_buf_put_json_str(b, s, false);
}

/* The canonical line of a record, hashed into out. */
int cf_audit_record_hash(cf_buf *b, int64_t seq, int64_t at, const char *actor,
                         const char *role, const char *action, const char *case_id,
                         const char *just, const char *digest, const char *prev,
                         char out[65])
{
    char num[48];
    b->n = 0;
    int n = snprintf(num, sizeof num, "[%lld,%lld,", (long long)seq, (long long)at);
    if (cf_buf_put(b, num, (size_t)n) || put_str(b, actor) || cf_buf_put(b, ",", 1) ||
        put_str(b, role) || cf_buf_put(b, ",", 1) || put_str(b, action) ||
        cf_buf_put(b, ",", 1) || put_str(b, case_id) || cf_buf_put(b, ",", 1) ||
        put_str(b, just) || cf_buf_put(b, ",", 1) || put_str(b, digest) ||
        cf_buf_put(b, ",", 1) || put_str(b, prev) || cf_buf_put(b, "]", 1))
        return -1;
    cf_sha256_hex(b->p, b->n, out);
    return 0;
}

int cf_audit_head(cf_store *s, int64_t *seq, char hash[65], cf_error *err)
{
    return cf_audit_head_at(s, seq, hash, NULL, err);
}

int cf_audit_head_at(cf_store *s, int64_t *seq, char hash[65], int64_t *at, cf_error *err)
{
    static const char sql[] = "SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    *seq = 0;
    memcpy(hash, CF_AUDIT_GENESIS, 65);
    if (at)
        *at = 0;
    if (rc == CF_DB_ROW) {
        *seq = cf_stmt_int64(st, 0);
        const char *h = cf_stmt_text(st, 1);
        snprintf(hash, 65, "%s", h ? (const char *)h : "");
        if (at)
            *at = cf_stmt_int64(st, 2);
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
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
    int64_t seq, head_at;
    char prev[65], digest[65], hash[65];
    int rc = cf_audit_head_at(s, &seq, prev, &head_at, err);
    if (rc)
        return rc;
    if (at < head_at) {
        char a[32], h[32];
        cf_time_format(at, a);
        cf_time_format(head_at, h);
        return cf_err_set(err, CF_EINVALID, "clock",
                          "the clock says %s, before the last audit record (%s): time in the "
                          "audit chain never goes backwards",
                          a, h);
    }
    /* The engine signs a due checkpoint first; it becomes record seq + 1
     * and this record follows it. */
    const cf_store_hooks *hooks = cf_store_get_hooks(s);
    if (hooks->before_append) {
        /* Read the head again only when the hook wrote (a checkpoint): in
         * this write transaction nothing else can. */
        int changes = cf_store_total_changes(s);
        if ((rc = hooks->before_append(hooks->ctx, seq + 1, at, action, err)))
            return rc;
        if (cf_store_total_changes(s) != changes &&
            (rc = cf_audit_head(s, &seq, prev, err)))
            return rc;
    }
    seq++;
    if (justification && !*justification)
        justification = NULL;
    cf_sha256_hex(payload ? payload : "", payload ? strlen(payload) : 0, digest);
    buf b = {0};
    rc = cf_audit_record_hash(&b, seq, at, actor, role, action, case_id, justification, digest,
                     prev, hash);
    free(b.p);
    if (rc)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    cf_stmt_bind_int64(st, 2, at);
    cf_stmt_bind_text(st, 3, actor);
    cf_stmt_bind_text(st, 4, role);
    cf_stmt_bind_text(st, 5, action);
    cf_stmt_bind_text(st, 6, case_id);
    cf_stmt_bind_text(st, 7, justification);
    cf_stmt_bind_text(st, 8, digest);
    cf_stmt_bind_text(st, 9, prev);
    cf_stmt_bind_text(st, 10, hash);
    rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE)
        return cf_store_error(s, rc, "append audit", err);
    /* The records whose history verify replays keep their payload, with the
     * subject they are about, so the newest one for it is found at once. */
    if (payload && cf_chain_keeps_payload(action)) {
        char subject[200];
        if ((rc = cf_store_record_put(s, seq,
                                      cf_chain_subject(action, payload, subject, sizeof subject),
                                      payload, err)))
            return rc;
    }
    if (seq_out)
        *seq_out = seq;
    return 0;
}

static const char *text(cf_stmt *st, int i)
{
    return cf_stmt_text(st, i);
}

int cf_audit_verify_store(cf_store *s, json_t **out, cf_error *err)
{
    return cf_chain_verify_store(s, 0, out, NULL, err);
}

int cf_audit_record(cf_store *s, int64_t seq, char digest[65], char action[96], cf_error *err)
{
    static const char sql[] = "SELECT digest, action FROM audit WHERE seq=?";
    digest[0] = action[0] = '\0';
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        snprintf(digest, 65, "%s", text(st, 0) ? text(st, 0) : "");
        snprintf(action, 96, "%s", text(st, 1) ? text(st, 1) : "");
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return CF_ENOTFOUND;
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "read audit", err);
}

int cf_audit_hash_at(cf_store *s, int64_t seq, char out[65], cf_error *err)
{
    static const char sql[] = "SELECT hash FROM audit WHERE seq=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    int rc = cf_stmt_step(st);
    out[0] = '\0';
    if (rc == CF_DB_ROW && cf_stmt_text(st, 0))
        snprintf(out, 65, "%s", cf_stmt_text(st, 0));
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_EINVALID, "audit", "audit record %lld is missing",
                          (long long)seq);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "read audit", err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    cf_stmt_bind_int64(st, 2, signed_seq);
    cf_stmt_bind_text(st, 3, hash);
    cf_stmt_bind_int64(st, 4, at);
    cf_stmt_bind_text(st, 5, sig);
    rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE)
        return cf_store_error(s, rc, "write checkpoint", err);
    if (out)
        *out = json_pack("{s:I, s:I, s:s, s:I, s:s}", "seq", (json_int_t)seq, "signed_seq",
                         (json_int_t)signed_seq, "head", hash, "at", (json_int_t)at,
                         "signature", sig);
    return 0;
}

/* What is wrong with the checkpoint row in st's columns (seq, signed_seq,
 * head, at, signature, its record's digest and action, the hash of the
 * record it signs), or NULL. A checkpoint signs the record just before its
 * own. */
static const char *checkpoint_problem(cf_stmt *st, const char *pk_hex,
                                      const char *store_id)
{
    int64_t seq = cf_stmt_int64(st, 0), signed_seq = cf_stmt_int64(st, 1);
    const char *head = text(st, 2), *sig = text(st, 4);
    int64_t at = cf_stmt_int64(st, 3);
    char *payload = cf_integrity_checkpoint_payload(signed_seq, head ? head : "", at,
                                                    sig ? sig : "");
    char h[65] = "", msg[256];
    if (payload)
        cf_sha256_hex(payload, strlen(payload), h);
    free(payload);
    if (!text(st, 6) || strcmp(text(st, 6), "checkpoint") != 0 || !text(st, 5) ||
        strcmp(h, text(st, 5)) != 0)
        return "checkpoint does not match its audit record";
    if (signed_seq != seq - 1)
        return "checkpoint does not sign the record before it";
    if (!head || !text(st, 7) || strcmp(text(st, 7), head) != 0)
        return "checkpoint names a head the chain does not have";
    if (!pk_hex)
        return "no public key to check checkpoint signatures";
    if (cf_sign_checkpoint_message(msg, sizeof msg, store_id ? store_id : "", signed_seq, head,
                                   at) != 0 ||
        !cf_sign_verify_hex(pk_hex, msg, sig))
        return "checkpoint signature invalid";
    return NULL;
}

#define CHECKPOINT_COLUMNS                                                                  \
    "SELECT c.seq, c.signed_seq, c.head, c.at, c.signature, a.digest, a.action,"           \
    " (SELECT hash FROM audit h WHERE h.seq = c.signed_seq)"                               \
    " FROM checkpoints c LEFT JOIN audit a ON a.seq = c.seq"

int cf_audit_checkpoint_valid(cf_store *s, int64_t seq, const char *pk_hex,
                              const char *store_id, cf_error *err)
{
    static const char sql[] = CHECKPOINT_COLUMNS " WHERE c.seq = ?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    int rc = cf_stmt_step(st);
    const char *why = rc == CF_DB_ROW ? checkpoint_problem(st, pk_hex, store_id)
                                       : "no such checkpoint";
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read checkpoints", err);
    return why ? cf_err_set(err, CF_EINVALID, "checkpoints", "checkpoint at record %lld: %s",
                            (long long)seq, why)
               : 0;
}

int cf_audit_verify_checkpoints(cf_store *s, const char *pk_hex, const char *store_id,
                                json_t *report, cf_error *err)
{
    return cf_audit_verify_checkpoints_n(s, pk_hex, store_id, -1, report, err);
}

int cf_audit_verify_checkpoints_n(cf_store *s, const char *pk_hex, const char *store_id,
                                  int64_t records, json_t *report, cf_error *err)
{
    static const char sql[] = CHECKPOINT_COLUMNS " ORDER BY c.seq";
    static const char count[] = "SELECT count(*) FROM audit WHERE action='checkpoint'";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int64_t n = 0, last = 0, bad = 0;
    const char *why = NULL;
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        if ((why = checkpoint_problem(st, pk_hex, store_id))) {
            bad = cf_stmt_int64(st, 0);
            break;
        }
        last = cf_stmt_int64(st, 1);
        n++;
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read checkpoints", err);
    json_object_set_new(report, "checkpoints", json_integer(n));
    json_object_set_new(report, "last_signed_seq", json_integer(last));
    if (bad)
        return cf_err_set(err, CF_EINVALID, "checkpoints",
                          "audit verify: checkpoint at record %lld: %s", (long long)bad, why);
    if (records < 0) {
        cf_stmt *c = cf_store_stmt(s, count, err);
        if (!c)
            return err ? err->code : CF_EIO;
        rc = cf_stmt_step(c);
        records = rc == CF_DB_ROW ? cf_stmt_int64(c, 0) : -1;
        cf_stmt_reset(c);
    }
    if (records != n)
        return cf_err_set(err, CF_EINVALID, "checkpoints",
                          "audit verify: checkpoints: rows added or deleted");
    return 0;
}

/* ---- export and offline verification --------------------------------------------- */

/* One line of an export. To a terminal, all ASCII: no control character
 * from a record (a justification, a payload) reaches it raw; the escapes
 * are the same JSON strings, so the export verifies either way. */
static int put_line(FILE *f, json_t *v)
{
    size_t flags = JSON_COMPACT | JSON_SORT_KEYS | (isatty(fileno(f)) ? JSON_ENSURE_ASCII : 0);
    char *t = v ? json_dumps(v, flags) : NULL;
    json_decref(v);
    int bad = !t || fputs(t, f) == EOF || fputc('\n', f) == EOF;
    free(t);
    return bad ? -1 : 0;
}

int cf_audit_export_to(cf_store *s, FILE *f, int64_t since, int64_t until,
                       const json_t *header, int64_t *count, char head[65], cf_error *err)
{
    static const char sql[] =
        "SELECT a.seq, a.at, a.actor, a.role, a.action, a.case_id, a.justification,"
        " a.digest, a.prev, a.hash, r.payload FROM audit a LEFT JOIN records r"
        " ON r.seq = a.seq WHERE a.seq >= ? AND a.seq <= ? ORDER BY a.seq";
    static const char cps[] = "SELECT seq, signed_seq, head, at, signature FROM checkpoints"
                              " WHERE seq >= ? AND seq <= ? ORDER BY seq";
    *count = 0;
    memcpy(head, CF_AUDIT_GENESIS, 65);
    if (put_line(f, json_deep_copy(header)))
        return cf_err_set(err, CF_EIO, "export", "cannot write the export");
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    if (until <= 0)
        until = INT64_MAX;
    cf_stmt_bind_int64(st, 1, since);
    cf_stmt_bind_int64(st, 2, until);
    int rc, bad = 0;
    while (!bad && (rc = cf_stmt_step(st)) == CF_DB_ROW) {
        /* Kept payloads (user and policy changes) go with their records, so
         * that the rules on actors and checkpoints can be checked offline. */
        bad = put_line(f, json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?,"
                                    " s:s?, s:s*}",
                                    "seq", (json_int_t)cf_stmt_int64(st, 0), "at",
                                    (json_int_t)cf_stmt_int64(st, 1), "actor",
                                    text(st, 2), "role", text(st, 3), "action", text(st, 4),
                                    "case", text(st, 5), "justification", text(st, 6),
                                    "digest", text(st, 7), "prev", text(st, 8), "hash",
                                    text(st, 9), "payload", text(st, 10)));
        if (text(st, 9))
            snprintf(head, 65, "%s", text(st, 9));
        (*count)++;
    }
    cf_stmt_reset(st);
    if (bad)
        return cf_err_set(err, CF_EIO, "export", "cannot write the export");
    if (rc != CF_DB_DONE)
        return cf_store_error(s, rc, "export", err);
    if (!(st = cf_store_stmt(s, cps, err)))
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, since);
    cf_stmt_bind_int64(st, 2, until);
    while (!bad && (rc = cf_stmt_step(st)) == CF_DB_ROW)
        bad = put_line(f, json_pack("{s:{s:I, s:I, s:s?, s:I, s:s?}}", "checkpoint", "seq",
                                    (json_int_t)cf_stmt_int64(st, 0), "signed_seq",
                                    (json_int_t)cf_stmt_int64(st, 1), "head",
                                    text(st, 2), "at", (json_int_t)cf_stmt_int64(st, 3),
                                    "signature", text(st, 4)));
    cf_stmt_reset(st);
    if (bad)
        return cf_err_set(err, CF_EIO, "export", "cannot write the export");
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "export", err);
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* What an export must be to verify: see cf_audit_verify_export. */
typedef struct export_check {
    const char *pk;          /* pinned key (hex) */
    json_t *header;
    cf_chain *walk;
    json_t *signed_heads;    /* seq -> hash of records a checkpoint names */
    json_t *checkpoints;     /* the checkpoint lines */
    json_t *cp_records;      /* seq -> true of every checkpoint record */
    int64_t records, first, last, cps, last_signed, covered;
    char prev_action[96], prev_digest[65]; /* of the record before the last */
    char last_action[96], last_digest[65];
    const char *last_action_checkpoint;
} export_check;

static const char *export_header(export_check *x, json_t *v)
{
    if (!jstr(v, "format") || strcmp(jstr(v, "format"), "caseflow-audit-export") != 0)
        return "not a caseflow audit export (header)";
    x->header = json_incref(v);
    if (!jstr(v, "public_key"))
        return "the export's header names no public key";
    if (!x->pk)
        return "no public key to check the export's signatures (give --key)";
    if (strcmp(jstr(v, "public_key"), x->pk) != 0)
        return "the export names another public key than the one pinned";
    if (!jstr(v, "store_id"))
        return "the export's header names no store";
    return NULL;
}

static const char *export_record(export_check *x, json_t *v)
{
    json_t *seqv = json_object_get(v, "seq"), *atv = json_object_get(v, "at");
    if (!json_is_integer(seqv) || !json_is_integer(atv))
        return "record without seq or at";
    cf_chain_rec r = {
        .seq = json_integer_value(seqv), .at = json_integer_value(atv),
        .actor = jstr(v, "actor"), .role = jstr(v, "role"), .action = jstr(v, "action"),
        .case_id = jstr(v, "case"), .justification = jstr(v, "justification"),
        .digest = jstr(v, "digest"), .prev = jstr(v, "prev"), .hash = jstr(v, "hash"),
        .payload = jstr(v, "payload")};
    if (!x->walk) {
        /* A whole export is checked with every rule and must keep every
         * payload; one that starts later trusts its first link (the
         * checkpoints in it vouch for what follows) and cannot know the
         * users of that time. */
        bool whole = r.seq == 1;
        x->walk = cf_chain_new(whole ? CF_CHAIN_RULES | CF_CHAIN_PAYLOADS | CF_CHAIN_CHECKPOINTS
                                     : 0);
        if (!x->walk)
            return "out of memory";
        if (!whole)
            cf_chain_start(x->walk, r.seq - 1, r.prev, r.at, false);
        x->first = r.seq;
        if (whole) {
            /* The first record fixes the store's identity and key. */
            char *init = cf_integrity_init_payload(
                jstr(x->header, "store_id"), jstr(x->header, "public_key"),
                jstr(x->header, "created_at") ? jstr(x->header, "created_at") : "",
                json_is_true(json_object_get(x->header, "test_clock")),
                jstr(x->header, "key_path"));
            char h[65] = "";
            if (init)
                cf_sha256_hex(init, strlen(init), h);
            free(init);
            if (!r.digest || strcmp(h, r.digest) != 0 || !r.action ||
                strcmp(r.action, "store.init") != 0)
                return "the header's store identity or public key is not the one the "
                       "chain's first record holds";
        }
    }
    const char *why = cf_chain_step(x->walk, &r);
    if (why)
        return why;
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)r.seq);
    json_object_set_new(x->signed_heads, key, json_string(r.hash));
    x->records++;
    x->last = r.seq;
    snprintf(x->prev_action, sizeof x->prev_action, "%s", x->last_action);
    snprintf(x->prev_digest, sizeof x->prev_digest, "%s", x->last_digest);
    snprintf(x->last_action, sizeof x->last_action, "%s", r.action);
    snprintf(x->last_digest, sizeof x->last_digest, "%s", r.digest);
    x->last_action_checkpoint = strcmp(r.action, "checkpoint") == 0 ? "yes" : NULL;
    if (x->last_action_checkpoint)
        json_object_set_new(x->cp_records, key, json_true());
    return NULL;
}

static const char *export_checkpoints(export_check *x)
{
    size_t i;
    json_t *c;
    char msg[256];
    const char *store_id = jstr(x->header, "store_id");
    json_array_foreach(x->checkpoints, i, c)
    {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(c, "seq")));
        if (json_object_del(x->cp_records, key) != 0)
            return "a checkpoint line without its checkpoint record";
        int64_t ss = json_integer_value(json_object_get(c, "signed_seq"));
        snprintf(key, sizeof key, "%lld", (long long)ss);
        const char *h = jstr(x->signed_heads, key);
        if (!h || !jstr(c, "head") || strcmp(h, jstr(c, "head")) != 0)
            return "checkpoint names a head the export does not have";
        if (cf_sign_checkpoint_message(msg, sizeof msg, store_id, ss, h,
                                       json_integer_value(json_object_get(c, "at"))) ||
            !cf_sign_verify_hex(x->pk, msg, jstr(c, "signature")))
            return "checkpoint signature invalid";
        x->cps++;
        if (ss > x->last_signed)
            x->last_signed = ss;
    }
    if (json_object_size(x->cp_records))
        return "checkpoint records whose checkpoint lines were removed";
    /* Every record is signed: the last checkpoint signs the record before
     * it, and the export ends with that checkpoint's record. */
    if (!x->records)
        return "the export holds no records";
    x->covered = x->last_signed + (x->last_signed == x->last - 1 &&
                                   x->last_action_checkpoint ? 1 : 0);
    if (x->covered < x->last)
        return "records after the last signed checkpoint: the export is not covered by "
               "signatures (export again: it ends with a fresh checkpoint)";
    /* It ends where the export was made: its own disclosure record, which
     * holds the header, signed by the checkpoint after it. An export cut
     * back to an earlier checkpoint ends elsewhere. */
    char *d = cf_integrity_export_payload(jstr(x->header, "store_id"),
                                          json_integer_value(json_object_get(x->header, "since")),
                                          jstr(x->header, "exported_at"),
                                          jstr(x->header, "exported_by"));
    char h[65] = "";
    if (d)
        cf_sha256_hex(d, strlen(d), h);
    free(d);
    if (strcmp(x->last_action, "checkpoint") != 0 || strcmp(x->prev_action, "disclosure") != 0 ||
        strcmp(x->prev_digest, h) != 0)
        return "the export does not end with the disclosure its header describes, signed: "
               "records were cut off its end, or the header was changed";
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
    int64_t lineno = 0;
    const char *why = NULL;
    export_check x = {.pk = pk_hex, .signed_heads = json_object(),
                      .checkpoints = json_array(), .cp_records = json_object()};
    while (!why && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(v))
            why = "line is not a JSON object";
        else if (lineno == 1)
            why = export_header(&x, v);
        else if (json_object_get(v, "checkpoint"))
            json_array_append(x.checkpoints, json_object_get(v, "checkpoint"));
        else
            why = export_record(&x, v);
        json_decref(v);
    }
    free(line);
    fclose(f);
    if (!why && !x.header)
        why = "empty export";
    if (!why) {
        lineno = 0;
        why = export_checkpoints(&x);
    }
    /* why may live in the walker, freed below. */
    char whybuf[320];
    if (why) {
        snprintf(whybuf, sizeof whybuf, "%s", why);
        why = whybuf;
    }
    *out = json_pack("{s:b, s:I, s:I, s:I, s:s, s:I, s:I, s:I}", "ok", !why, "records",
                     (json_int_t)x.records, "first_seq", (json_int_t)x.first, "last_seq",
                     (json_int_t)x.last, "head", x.walk ? cf_chain_head(x.walk) : "",
                     "checkpoints", (json_int_t)x.cps, "last_signed_seq",
                     (json_int_t)x.last_signed, "unsigned_tail",
                     (json_int_t)(x.last > x.covered ? x.last - x.covered : 0));
    json_decref(x.header);
    json_decref(x.signed_heads);
    json_decref(x.checkpoints);
    json_decref(x.cp_records);
    cf_chain_free(x.walk);
    if (why) {
        json_object_set_new(*out, "reason", json_string(why));
        if (lineno)
            return cf_err_set(err, CF_EINVALID, "file", "audit verify: %s: line %lld: %s",
                              path, (long long)lineno, why);
        return cf_err_set(err, CF_EINVALID, "file", "audit verify: %s: %s", path, why);
    }
    return 0;
}
