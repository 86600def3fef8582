/*
 * The audit chain walked in order (chain.h). audit.c owns the record format
 * and its hash; this file owns the rules that hold between records: what a
 * verify, a checkpoint about to sign and an export check all apply the same
 * way. The walker keeps the state a point of the chain implies: the users
 * (from the payloads of user records), the policies (from policy records),
 * the schema version, whether the schema-2 rules are on, the time, the
 * records since the last checkpoint and the checkpoint interval in force.
 *
 * Who may write what: a person acts in a role they hold, and the
 * administration of the store (users, policies, workflows, disclosures,
 * retention, checkpoints, the schema) is the administrator's; the engine
 * (actor "engine", role "system") writes only checkpoints, integrity alarms,
 * the changes timers and correlation make, and the records of a migration
 * (between a store.migrate record and the store.schema record that ends it,
 * whose schema version must be newer than the last). A new checkpoint
 * interval counts only from the checkpoint that signs it: a writer without
 * the key cannot turn checkpoints off by forging a policy record.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "chain.h"

struct cf_chain {
    unsigned flags;
    int64_t expect;        /* seq of the next record */
    char prev[65];
    int64_t last_at;
    bool rules;            /* schema-2 rules in force */
    int64_t rules_from;
    int64_t since_cp;      /* counted records since the last checkpoint record */
    int64_t interval;      /* in force */
    int64_t pending;       /* set by a policy record, in force if a checkpoint follows it; -1 */
    int64_t pending_seq;   /* that policy record */
    bool migrating;        /* between store.migrate and store.schema */
    bool copy_unsigned;    /* the last record was a store.copy: a checkpoint must follow */
    int64_t schema_version;
    int64_t payloads;
    int64_t history;       /* records that write a history row */
    int64_t checkpoints;   /* checkpoint records */
    int64_t schema_seq;
    json_t *users;         /* name -> state */
    json_t *policies;      /* key -> {value, seq} */
    char why[320];
    cf_buf b;
};

cf_chain *cf_chain_new(unsigned flags)
{
    cf_chain *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->flags = flags;
    w->expect = 1;
    memcpy(w->prev, CF_AUDIT_GENESIS, 65);
    w->interval = CF_CHECKPOINT_EVERY;
    w->pending = -1;
    w->users = json_object();
    w->policies = json_object();
    if (!w->users || !w->policies) {
        cf_chain_free(w);
        return NULL;
    }
    return w;
}

void cf_chain_free(cf_chain *w)
{
    if (!w)
        return;
    json_decref(w->users);
    json_decref(w->policies);
    free(w->b.p);
    free(w);
}

void cf_chain_start(cf_chain *w, int64_t seq, const char *prev, int64_t at, bool rules_on)
{
    w->expect = seq + 1;
    snprintf(w->prev, sizeof w->prev, "%s", prev ? prev : "");
    w->last_at = at;
    w->rules = rules_on;
    w->since_cp = 0;
    /* A start is a signed checkpoint: what was pending just before it is
     * in force. */
    if (w->pending >= 0 && w->pending_seq == seq - 1)
        w->interval = w->pending;
    w->pending = -1;
}

bool cf_chain_keeps_payload(const char *action)
{
    return strncmp(action, "user.", 5) == 0 || strncmp(action, "policy.set:", 11) == 0 ||
           strncmp(action, "token.", 6) == 0 || strncmp(action, "webhook.", 8) == 0 ||
           strcmp(action, "store.migrate") == 0 || strcmp(action, "refused") == 0 ||
           strcmp(action, "store.schema") == 0 || strcmp(action, "integrity.alarm") == 0 ||
           strcmp(action, "store.copy") == 0 ||
           strncmp(action, "workflow.migrate.", 17) == 0 || /* four-eyes requests, approvals */
           strcmp(action, "workflow.repin") == 0;       /* what changed per plugin */
}

const char *cf_chain_subject(const char *action, const char *payload, char *buf, size_t n)
{
    if (strncmp(action, "policy.set:", 11) == 0) {
        snprintf(buf, n, "policy:%s", action + 11);
        return buf;
    }
    if (strcmp(action, "store.copy") == 0) { /* the latest copy names the key's place */
        snprintf(buf, n, "store:copy");
        return buf;
    }
    if (strncmp(action, "webhook.", 8) == 0) { /* a webhook's id is a number */
        json_t *p = payload ? json_loads(payload, 0, NULL) : NULL;
        json_int_t id = json_integer_value(json_object_get(p, "id"));
        json_decref(p);
        if (id <= 0)
            return NULL;
        snprintf(buf, n, "webhook:%lld", (long long)id);
        return buf;
    }
    if (strcmp(action, "workflow.migrate.approve") == 0) { /* the request it answers */
        json_t *p = payload ? json_loads(payload, 0, NULL) : NULL;
        json_int_t id = json_integer_value(json_object_get(p, "request"));
        json_decref(p);
        if (id <= 0)
            return NULL;
        snprintf(buf, n, "migration:%lld", (long long)id);
        return buf;
    }
    bool user = strncmp(action, "user.", 5) == 0;
    if ((!user && strncmp(action, "token.", 6) != 0) || !payload)
        return NULL;
    json_t *p = json_loads(payload, 0, NULL);
    const char *name = json_string_value(json_object_get(p, user ? "user" : "id"));
    if (name)
        snprintf(buf, n, "%s:%s", user ? "user" : "token", name);
    json_decref(p);
    return name ? buf : NULL;
}

/* The user, policy and schema state a kept payload sets. */
int cf_chain_replay(cf_chain *w, int64_t seq, const char *action, const char *payload)
{
    if (!payload)
        return 0;
    bool user = strncmp(action, "user.", 5) == 0;
    bool policy = strncmp(action, "policy.set:", 11) == 0;
    bool schema = strcmp(action, "store.schema") == 0;
    if (!user && !policy && !schema)
        return 0;
    json_t *p = json_loads(payload, 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return -1;
    }
    int rc = 0;
    if (user) {
        const char *name = json_string_value(json_object_get(p, "user"));
        if (!name || !json_is_string(json_object_get(p, "roles"))) {
            rc = -1;
        } else {
            json_object_set_new(p, "seq", json_integer(seq));
            rc = json_object_set(w->users, name, p);
        }
    } else if (policy) {
        const char *key = json_string_value(json_object_get(p, "key"));
        const char *value = json_string_value(json_object_get(p, "value"));
        if (!key || !value || strcmp(key, action + 11) != 0) {
            rc = -1;
        } else {
            rc = json_object_set_new(w->policies, key,
                                     json_pack("{s:s, s:I}", "value", value, "seq",
                                               (json_int_t)seq));
            if (!rc && strcmp(key, "checkpoint_interval") == 0) {
                w->pending = atoll(value);
                w->pending_seq = seq;
            }
        }
    } else {
        json_t *v = json_object_get(p, "version");
        if (!json_is_integer(v))
            rc = -1;
        else
            w->schema_version = json_integer_value(v);
    }
    json_decref(p);
    return rc;
}

bool cf_chain_writes_history(const char *action)
{
    return !strcmp(action, "collection") || !strcmp(action, "change") ||
           !strcmp(action, "retention") || !strcmp(action, "erasure") ||
           !strcmp(action, "workflow.migrate");
}

static const char *bad(cf_chain *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *bad(cf_chain *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
    return w->why;
}

static bool prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Actions only an administrator records. */
static bool administrative(const char *action)
{
    return (prefix(action, "user.") && strcmp(action, "user.migrate") != 0) ||
           prefix(action, "policy.set:") || strcmp(action, "workflow.deploy") == 0 ||
           strcmp(action, "workflow.repin") == 0 ||
           prefix(action, "workflow.migrate") || /* a move, a request, an approval */
           strcmp(action, "disclosure") == 0 || strcmp(action, "retention") == 0 ||
           strcmp(action, "erasure") == 0 || strcmp(action, "checkpoint") == 0 ||
           prefix(action, "store.") || prefix(action, "token.") ||
           prefix(action, "webhook.");
}

/* What the engine may record, and when. */
static const char *engine_may(cf_chain *w, const cf_chain_rec *r)
{
    if (!r->role || strcmp(r->role, "system") != 0)
        return bad(w, "the engine acts only in the role system, not %s",
                   r->role ? r->role : "none");
    const char *a = r->action;
    if (strcmp(a, "checkpoint") == 0 || strcmp(a, "integrity.alarm") == 0 ||
        strcmp(a, "change") == 0 || strcmp(a, "store.migrate") == 0 ||
        strcmp(a, "auth.refused") == 0)
        return NULL;
    if (w->migrating && (strcmp(a, "user.migrate") == 0 || prefix(a, "policy.set:") ||
                         strcmp(a, "store.schema") == 0))
        return NULL;
    return bad(w, "the engine records no %s%s", a, w->migrating ? "" : " outside a migration");
}

/* Who may have written r at this point of the chain. */
static const char *check_actor(cf_chain *w, const cf_chain_rec *r)
{
    if (strcmp(r->actor, "engine") == 0)
        return engine_may(w, r);
    if (strcmp(r->action, "user.migrate") == 0 || strcmp(r->action, "store.migrate") == 0)
        return bad(w, "only the engine records %s", r->action);
    if (w->migrating)
        return bad(w, "a record by %s inside a migration (a migration is the engine's alone)",
                   r->actor);
    json_t *u = json_object_get(w->users, r->actor);
    if (!u)
        return bad(w, "actor %s is not a user at this point of the chain", r->actor);
    if (json_integer_value(json_object_get(u, "disabled")))
        return bad(w, "actor %s was disabled at this point of the chain", r->actor);
    if (!r->role && strcmp(r->action, "consultation") != 0 && strcmp(r->action, "refused") != 0)
        return bad(w, "a %s record names no role", r->action);
    if (r->role && !cf_list_has(json_string_value(json_object_get(u, "roles")), r->role))
        return bad(w, "actor %s did not hold the role %s at this point of the chain",
                   r->actor, r->role);
    if (administrative(r->action) && (!r->role || strcmp(r->role, "administrator") != 0))
        return bad(w, "a %s record by %s in the role %s: only administrators record it",
                   r->action, r->actor, r->role ? r->role : "none");
    return NULL;
}

/* The record's place among records: links, hash and kept payload. */
static const char *check_link(cf_chain *w, const cf_chain_rec *r, char hash[65])
{
    if (r->seq != w->expect)
        return bad(w, "%s", r->seq > w->expect ? "record missing (sequence gap)"
                                               : "records out of order");
    if (!r->prev || strcmp(r->prev, w->prev) != 0)
        return bad(w, "previous-hash link broken");
    if (!r->actor || !r->action || !r->digest ||
        cf_audit_record_hash(&w->b, r->seq, r->at, r->actor, r->role, r->action, r->case_id,
                             r->justification, r->digest, w->prev, hash) != 0 ||
        !r->hash || strcmp(r->hash, hash) != 0)
        return bad(w, "record altered (hash mismatch)");
    if (r->payload) {
        char h[65], sub[200];
        cf_sha256_hex(r->payload, strlen(r->payload), h);
        if (strcmp(h, r->digest) != 0)
            return bad(w, "the kept payload of this %s record does not match it", r->action);
        const char *want = cf_chain_subject(r->action, r->payload, sub, sizeof sub);
        if (r->has_subject && !((!want && !r->subject) ||
                                (want && r->subject && strcmp(want, r->subject) == 0)))
            return bad(w, "the kept payload of this %s record names another subject",
                       r->action);
    } else if (w->rules && (w->flags & CF_CHAIN_PAYLOADS) && cf_chain_keeps_payload(r->action)) {
        return bad(w, "the payload of this %s record is missing", r->action);
    }
    if (strcmp(r->action, "store.init") == 0 && r->seq != 1)
        return bad(w, "a second store.init record");
    return NULL;
}

/*
 * A store.copy record (store/copy.c): the copy of a store onto another
 * backend, whose schema digest differs from the source's. It moves the
 * schema digest in force, as store.schema does, but only as the record
 * right after the head it copied: its payload names that head (seq and
 * hash), which must be the record before it, and a schema version no older
 * than the chain's; and a checkpoint must follow it at once (the copy signs
 * it with the store's key). A copy is made when no migration is under way.
 */
static const char *copy_step(cf_chain *w, const cf_chain_rec *r)
{
    if (w->migrating)
        return bad(w, "a store.copy record inside a migration");
    if (!r->payload)
        return NULL; /* check_link refused it if the payload must be kept */
    json_t *p = json_loads(r->payload, 0, NULL);
    json_t *from = json_object_get(p, "from");
    json_t *hs = json_object_get(from, "head_seq"), *v = json_object_get(p, "version");
    const char *head = json_string_value(json_object_get(from, "head"));
    const char *why = NULL;
    if (!json_is_integer(hs) || !head || !json_is_integer(v) ||
        !json_is_string(json_object_get(p, "schema")))
        why = bad(w, "the kept payload of this store.copy record is malformed");
    else if (json_integer_value(hs) != r->seq - 1 || strcmp(head, w->prev) != 0)
        why = bad(w, "a store.copy record that does not follow the head it copied (it names "
                     "record %lld)",
                  (long long)json_integer_value(hs));
    else if (json_integer_value(v) < w->schema_version)
        why = bad(w, "a store.copy record with an older schema version");
    else
        w->schema_version = json_integer_value(v);
    json_decref(p);
    return why;
}

const char *cf_chain_step(cf_chain *w, const cf_chain_rec *r)
{
    char hash[65];
    const char *why = check_link(w, r, hash);
    if (why)
        return why;
    if (r->payload)
        w->payloads++;
    if (cf_chain_writes_history(r->action))
        w->history++;
    bool checkpoint = strcmp(r->action, "checkpoint") == 0;
    bool alarm = strcmp(r->action, "integrity.alarm") == 0;
    bool copy = strcmp(r->action, "store.copy") == 0;
    /* The copy signs its record at once, with the store's key: a store.copy
     * that no checkpoint follows was not written by a copy. */
    if (w->copy_unsigned && !checkpoint)
        return bad(w, "a store.copy record not signed at once (no checkpoint follows it)");
    w->copy_unsigned = copy;
    if (copy && (why = copy_step(w, r)))
        return why;
    if (w->rules && (w->flags & CF_CHAIN_RULES)) {
        if (r->at < w->last_at)
            return bad(w, "time goes backwards (%lld after %lld)", (long long)r->at,
                       (long long)w->last_at);
        if ((why = check_actor(w, r)))
            return why;
        /* A copy's record may be the one past the interval: the copy
         * signs it at once, with the checkpoint that must follow. */
        if ((w->flags & CF_CHAIN_CHECKPOINTS) && !alarm && !checkpoint && !copy &&
            w->interval > 0 &&
            w->since_cp + 1 > w->interval)
            return bad(w, "signed checkpoint missing: more than %lld records after the last "
                          "one (policy checkpoint_interval)",
                       (long long)w->interval);
    }
    /* A new interval counts only if the checkpoint signing its record comes
     * right after it, as the engine writes them: a forged policy record
     * left pending for a later routine checkpoint to sign never does. */
    if (checkpoint) {
        w->checkpoints++;
        w->since_cp = 0;
        if (w->pending >= 0 && w->pending_seq == r->seq - 1)
            w->interval = w->pending;
        w->pending = -1;
    } else {
        w->pending = -1;
        if (!alarm)
            w->since_cp++;
    }
    int64_t version = w->schema_version;
    if (r->payload && cf_chain_replay(w, r->seq, r->action, r->payload) != 0)
        return bad(w, "the kept payload of this %s record is malformed", r->action);
    if (strcmp(r->action, "store.migrate") == 0) {
        w->migrating = true;
    } else if (strcmp(r->action, "store.schema") == 0) {
        /* A migration moves the schema forward; an administrator's record
         * of the same version is a change of grants (caseflow store grant,
         * PostgreSQL), which the schema's digest covers. */
        if (w->rules && r->payload &&
            (w->schema_version < version ||
             (w->schema_version == version && strcmp(r->actor, "engine") == 0)))
            return bad(w, "a store.schema record that does not move the schema forward");
        if (!w->rules_from)
            w->rules_from = r->seq;
        w->rules = true;
        w->migrating = false;
        w->schema_seq = r->seq;
    } else if (copy && r->payload) {
        w->schema_seq = r->seq; /* the copy's schema digest is the one in force */
    }
    if (r->at > w->last_at)
        w->last_at = r->at;
    memcpy(w->prev, hash, 65);
    w->expect = r->seq + 1;
    return NULL;
}

const char *cf_chain_head(const cf_chain *w)
{
    return w->prev;
}

int64_t cf_chain_last_seq(const cf_chain *w)
{
    return w->expect - 1;
}

int64_t cf_chain_payloads(const cf_chain *w)
{
    return w->payloads;
}

int64_t cf_chain_history(const cf_chain *w)
{
    return w->history;
}

int64_t cf_chain_checkpoints(const cf_chain *w)
{
    return w->checkpoints;
}

int64_t cf_chain_rules_from(const cf_chain *w)
{
    return w->rules_from;
}

const json_t *cf_chain_users(const cf_chain *w)
{
    return w->users;
}

const json_t *cf_chain_policies(const cf_chain *w)
{
    return w->policies;
}

int64_t cf_chain_schema_seq(const cf_chain *w)
{
    return w->schema_seq;
}

/* ---- walking a store ---------------------------------------------------------- */

static const char *col(cf_stmt *st, int i)
{
    return cf_stmt_text(st, i);
}

static void rec_of(cf_stmt *st, cf_chain_rec *r)
{
    r->seq = cf_stmt_int64(st, 0);
    r->at = cf_stmt_int64(st, 1);
    r->actor = col(st, 2);
    r->role = col(st, 3);
    r->action = col(st, 4);
    r->case_id = col(st, 5);
    r->justification = col(st, 6);
    r->digest = col(st, 7);
    r->prev = col(st, 8);
    r->hash = col(st, 9);
    r->payload = col(st, 10);
    r->has_subject = cf_stmt_columns(st) > 11;
    r->subject = r->has_subject ? col(st, 11) : NULL;
}

#define REC_COLUMNS                                                                       \
    "a.seq, a.at, a.actor, a.role, a.action, a.case_id, a.justification, a.digest,"      \
    " a.prev, a.hash"

int cf_chain_verify_store(cf_store *s, unsigned flags, json_t **out, cf_chain **walker,
                          cf_error *err)
{
    static const char sql[] = "SELECT " REC_COLUMNS ", r.payload, r.subject FROM audit a"
                              " LEFT JOIN records r ON r.seq = a.seq ORDER BY a.seq";
    /* Schema 1 kept no payloads (its migration checks it with this). */
    static const char legacy[] = "SELECT " REC_COLUMNS ", NULL FROM audit a ORDER BY a.seq";
    static const char rows[] = "SELECT count(*) FROM records";
    static const char last_seq[] = "SELECT coalesce(max(seq), 0) FROM audit";
    *out = NULL;
    if (walker)
        *walker = NULL;
    cf_chain *w = cf_chain_new(flags);
    if (!w)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    /* A statement of its own, stepped through a million records while the
     * cached ones serve the table checks. */
    cf_stmt *st;
    int rc = cf_store_prepare(s, (flags & CF_CHAIN_LEGACY) ? legacy : sql, &st);
    if (rc != CF_DB_OK) {
        cf_chain_free(w);
        return cf_store_error(s, rc, "read audit", err);
    }
    int64_t count = 0, bad_seq = 0, total = -1;
    const char *why = NULL;
    cf_stmt *last = cf_store_stmt(s, last_seq, NULL);
    if (last && cf_stmt_step(last) == CF_DB_ROW)
        total = cf_stmt_int64(last, 0);
    if (last)
        cf_stmt_reset(last);
    cf_store_progress(s, "audit verify: records", 0, total);
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        cf_chain_rec r;
        rec_of(st, &r);
        if ((why = cf_chain_step(w, &r))) {
            bad_seq = r.seq > w->expect ? w->expect : r.seq;
            break;
        }
        count++;
        cf_store_progress(s, "audit verify: records", count, total < count ? count : total);
    }
    cf_stmt_finalize(st);
    if (!why && rc != CF_DB_DONE) {
        cf_chain_free(w);
        return cf_store_error(s, rc, "read audit", err);
    }
    if (!why && w->migrating && (flags & CF_CHAIN_RULES)) {
        why = "a migration that never finished (no store.schema record ends it)";
        bad_seq = count;
    }
    if (!why && w->copy_unsigned && (flags & CF_CHAIN_RULES)) {
        why = "a store.copy record that no checkpoint signs";
        bad_seq = count;
    }
    if (!why && !(flags & CF_CHAIN_LEGACY)) {
        /* Payload rows that belong to no record were added. */
        cf_stmt *c = cf_store_stmt(s, rows, err);
        if (!c) {
            cf_chain_free(w);
            return err ? err->code : CF_EIO;
        }
        int64_t n = cf_stmt_step(c) == CF_DB_ROW ? cf_stmt_int64(c, 0) : -1;
        cf_stmt_reset(c);
        if (n != w->payloads) {
            why = "kept payloads added that belong to no record";
            bad_seq = count + 1;
        }
    }
    json_t *o = json_pack("{s:b, s:I, s:s}", "ok", !why, "records", (json_int_t)count,
                          "head", w->prev);
    if (why) {
        json_object_set_new(o, "first_bad", json_integer(bad_seq));
        json_object_set_new(o, "reason", json_string(why));
        rc = cf_err_set(err, CF_EINVALID, "audit", "audit chain broken at record %lld: %s",
                        (long long)bad_seq, why);
    } else {
        rc = 0;
    }
    *out = o;
    if (walker && !rc)
        *walker = w;
    else
        cf_chain_free(w);
    return rc;
}

int cf_chain_verify_tail(cf_store *s, const char *pk_hex, const char *store_id,
                         int64_t *after, int64_t *history, cf_error *err)
{
    static const char last_cp[] = "SELECT coalesce(max(seq), 0) FROM checkpoints";
    static const char replay[] =
        "SELECT r.seq, a.action, r.payload, a.digest, n.action FROM records r"
        " JOIN audit a ON a.seq = r.seq LEFT JOIN audit n ON n.seq = r.seq + 1"
        " WHERE r.seq <= ? AND (a.action LIKE 'user.%' OR a.action LIKE 'policy.set:%'"
        " OR a.action = 'store.schema') ORDER BY r.seq";
    /* PostgreSQL's LIKE tells case apart; SQLite's folds ASCII letters. This
     * reads a store that may have been tampered with, so both must pick the
     * same records (a forged "User.add" included): ILIKE folds as SQLite's
     * LIKE does on these C-collated columns (ASCII only). */
    static const char replay_pg[] =
        "SELECT r.seq, a.action, r.payload, a.digest, n.action FROM records r"
        " JOIN audit a ON a.seq = r.seq LEFT JOIN audit n ON n.seq = r.seq + 1"
        " WHERE r.seq <= ? AND (a.action ILIKE 'user.%' OR a.action ILIKE 'policy.set:%'"
        " OR a.action = 'store.schema') ORDER BY r.seq";
    static const char tail[] = "SELECT " REC_COLUMNS ", r.payload, r.subject FROM audit a"
                               " LEFT JOIN records r ON r.seq = a.seq WHERE a.seq > ?"
                               " ORDER BY a.seq";
    static const char at_of[] = "SELECT hash, at FROM audit WHERE seq = ?";
    cf_stmt *st = cf_store_stmt(s, last_cp, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int64_t from = cf_stmt_step(st) == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    if (after)
        *after = from;
    /* The walk starts from the last checkpoint: it must be a real one, or a
     * planted row would let the tail before it go unchecked. */
    int rc = from ? cf_audit_checkpoint_valid(s, from, pk_hex, store_id, err) : 0;
    if (rc)
        return rc;
    cf_chain *w = cf_chain_new(CF_CHAIN_RULES | CF_CHAIN_PAYLOADS | CF_CHAIN_CHECKPOINTS);
    if (!w)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    /* The state at the last checkpoint, from the payloads kept before it
     * (each checked against its record). */
    if (!(st = cf_store_stmt_for(s, replay, replay_pg, err))) {
        cf_chain_free(w);
        return err ? err->code : CF_EIO;
    }
    cf_stmt_bind_int64(st, 1, from);
    int step;
    bool rules_on = false;
    while ((step = cf_stmt_step(st)) == CF_DB_ROW) {
        int64_t seq = cf_stmt_int64(st, 0);
        const char *payload = col(st, 2), *digest = col(st, 3);
        char h[65] = "";
        if (payload)
            cf_sha256_hex(payload, strlen(payload), h);
        if (!digest || strcmp(h, digest) != 0 ||
            cf_chain_replay(w, seq, col(st, 1), payload) != 0) {
            rc = -1;
        } else if (w->pending >= 0) {
            /* an interval change signed at once is in force from there */
            const char *next = col(st, 4);
            if (next && strcmp(next, "checkpoint") == 0 && seq + 1 <= from)
                w->interval = w->pending;
            w->pending = -1;
        }
        if (rc) {
            rc = cf_err_set(err, CF_EINVALID, "audit",
                            "audit record %lld: its kept payload is not the one it records; a "
                            "checkpoint will not sign it",
                            (long long)seq);
            break;
        }
        if (strcmp(col(st, 1), "store.schema") == 0)
            rules_on = true;
    }
    cf_stmt_reset(st);
    if (!rc && step != CF_DB_DONE && step != CF_DB_ROW)
        rc = cf_store_error(s, step, "read records", err);
    if (!rc && from > 0) {
        if (!(st = cf_store_stmt(s, at_of, err))) {
            rc = err ? err->code : CF_EIO;
        } else {
            cf_stmt_bind_int64(st, 1, from);
            if (cf_stmt_step(st) == CF_DB_ROW)
                cf_chain_start(w, from, col(st, 0), cf_stmt_int64(st, 1), rules_on);
            else
                rc = cf_err_set(err, CF_EINVALID, "audit",
                                "the record of the last checkpoint (%lld) is missing",
                                (long long)from);
            cf_stmt_reset(st);
        }
    }
    if (!rc && !(st = cf_store_stmt(s, tail, err)))
        rc = err ? err->code : CF_EIO;
    if (!rc) {
        cf_stmt_bind_int64(st, 1, from);
        while ((step = cf_stmt_step(st)) == CF_DB_ROW) {
            cf_chain_rec r;
            rec_of(st, &r);
            const char *why = cf_chain_step(w, &r);
            if (why) {
                rc = cf_err_set(err, CF_EINVALID, "audit",
                                "audit record %lld: %s; a checkpoint will not sign it",
                                (long long)r.seq, why);
                break;
            }
        }
        cf_stmt_reset(st);
        if (!rc && step != CF_DB_DONE)
            rc = cf_store_error(s, step, "read audit", err);
    }
    if (!rc && history)
        *history = cf_chain_history(w);
    cf_chain_free(w);
    return rc;
}
