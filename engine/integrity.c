/*
 * Tying the tables to the audit chain (see integrity.h). The verifier here
 * runs after the chain itself has verified: it recomputes each audited row's
 * canonical text and checks it against the digest the chain holds, and
 * counts rows against records so that nothing was added or removed. The
 * tables it covers are cases (with their timers, tasks, keys and
 * notifications), events, users, workflows, the store's identity in meta,
 * and signed checkpoints.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "chain.h"
#include "integrity.h"
#include "machine.h"
#include "tokens.h"
#include "webhook.h"

static char *canon(json_t *v)
{
    char *t = v ? cf_json_canonical(v) : NULL;
    json_decref(v);
    return t;
}

/* A string as jansson's canonical text writes it (compact, no slash or
 * non-ASCII escapes, \u00XX in upper case for other controls); NULL as
 * null. false when s is not UTF-8 (jansson refuses those too). */
static bool cj_str(cf_buf *b, const char *s)
{
    return (!s || cf_utf8_valid(s)) && cf_buf_put_json_str(b, s, true) == 0;
}

/* The history record's payload, written straight into its canonical text
 * (it is built twice per record: when written and when checked): the same
 * bytes as cf_json_canonical of the object {actor, at, case, case_sha256,
 * data_sha256, event, from, outcome, plugin, plugin_sha256, plugin_version,
 * role, to}, keys sorted, absent ones null. test_audit compares the two. */
/* The payload into b (from b->n on; NUL-terminated, the NUL not counted):
 * false on OOM or when f lacks a required field or is not UTF-8. */
static bool event_payload_into(cf_buf *b, const cf_event_fields *f)
{
    if (!f->case_id || !f->actor || !f->event || !f->to)
        return false;
    char at[32];
    snprintf(at, sizeof at, "%lld", (long long)f->at);
    bool ok = cf_buf_put(b, "{\"actor\":", 9) == 0 && cj_str(b, f->actor) &&
              cf_buf_put(b, ",\"at\":", 6) == 0 && cf_buf_put(b, at, strlen(at)) == 0 &&
              cf_buf_put(b, ",\"case\":", 8) == 0 && cj_str(b, f->case_id) &&
              cf_buf_put(b, ",\"case_sha256\":", 15) == 0 && cj_str(b, f->case_sha256) &&
              cf_buf_put(b, ",\"data_sha256\":", 15) == 0 && cj_str(b, f->data_sha256) &&
              cf_buf_put(b, ",\"event\":", 9) == 0 && cj_str(b, f->event) &&
              cf_buf_put(b, ",\"from\":", 8) == 0 && cj_str(b, f->from) &&
              cf_buf_put(b, ",\"outcome\":", 11) == 0 && cj_str(b, f->outcome) &&
              cf_buf_put(b, ",\"plugin\":", 10) == 0 && cj_str(b, f->plugin) &&
              cf_buf_put(b, ",\"plugin_sha256\":", 17) == 0 && cj_str(b, f->plugin_sha256) &&
              cf_buf_put(b, ",\"plugin_version\":", 18) == 0 && cj_str(b, f->plugin_version) &&
              cf_buf_put(b, ",\"role\":", 8) == 0 && cj_str(b, f->role) &&
              cf_buf_put(b, ",\"to\":", 6) == 0 && cj_str(b, f->to) && cf_buf_put(b, "}", 2) == 0;
    b->n -= ok ? 1 : 0; /* the NUL */
    return ok;
}

char *cf_integrity_event_payload(const cf_event_fields *f)
{
    cf_buf b = {0};
    if (!event_payload_into(&b, f)) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *cf_integrity_user_payload(const cf_user_row *u)
{
    return canon(json_pack("{s:s, s:s, s:i, s:s, s:I, s:s}", "user", u->name, "roles",
                           u->roles, "disabled", u->disabled ? 1 : 0, "os_users",
                           u->os_users ? u->os_users : "", "created_at",
                           (json_int_t)u->created_at, "created_by", u->created_by));
}

char *cf_integrity_policy_payload(const char *key, const char *value)
{
    return canon(json_pack("{s:s, s:s}", "key", key, "value", value));
}

char *cf_integrity_export_payload(const char *store_id, int64_t since, const char *exported_at,
                                  const char *exported_by)
{
    return canon(json_pack("{s:{s:s, s:I, s:s, s:s}}", "export", "store_id",
                           store_id ? store_id : "", "since", (json_int_t)since, "exported_at",
                           exported_at ? exported_at : "", "exported_by",
                           exported_by ? exported_by : ""));
}

char *cf_integrity_schema_payload(const char *digest, int64_t version)
{
    return canon(json_pack("{s:s, s:I}", "schema", digest, "version", (json_int_t)version));
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
                                const char *created_at, bool test_clock,
                                const char *key_path)
{
    /* test_clock and key_path only when set: the stores of schema 1 signed
     * the same text without them. */
    json_t *p = json_pack("{s:s, s:s?, s:s}", "store_id", store_id, "public_key", public_key,
                          "created_at", created_at);
    if (p && test_clock)
        json_object_set_new(p, "test_clock", json_true());
    if (p && key_path)
        json_object_set_new(p, "key_path", json_string(key_path));
    return canon(p);
}

/* ---- case digests ------------------------------------------------------------ */

/* A case's digest is the SHA-256 of a tag and one hash per part: the case
 * row, and its timers, tasks, keys and notifications. Each part hashes every
 * column of its rows with its storage type (cf_store_hash_rows): no escaping
 * and no JSON on this path, which runs for every case a command reads to
 * write and again after writing it. Parts let a command recompute only what
 * it changed: the row from the values it wrote, the side tables it touched.
 * Stores of schema 1 recorded one hash over all five instead (checked as a
 * fallback, until the case is next written). */
static const char *const part_sql[CF_CASE_PARTS] = {
    "SELECT seq, id, source, reference, workflow, version, state, data, revision,"
    " created_at, updated_at, deadline_at, review_at, legal_hold, disposed_at"
    " FROM cases WHERE id=?",
    "SELECT event, state, due_at FROM timers WHERE case_id=? ORDER BY event",
    /* Schema 3's claim and closure fold into the status only when set, so a
     * task that never had them hashes as it did under schema 2. */
    ("SELECT seq, role, kind, detail, CASE WHEN assignee IS NULL AND closed_at IS NULL"
     " AND result IS NULL THEN status ELSE json_array(status, assignee, closed_at, result)"
     " END, created_at FROM tasks WHERE case_id=? ORDER BY seq"),
    "SELECT kind, value FROM keys WHERE case_id=? ORDER BY kind, value",
    /* Through the index the hash-on below reads too (INDEXED BY): the two
     * reads of one case's notifications must see the same rows, whatever
     * plan a forged sqlite_stat1 suggests (a row kept out of the index is
     * verify's to find, by its unindexed read). */
    "SELECT seq, channel, payload, created_at FROM notifications"
    " INDEXED BY notifications_case WHERE case_id=? ORDER BY seq",
};

/* The tasks part's status column on PostgreSQL: SQLite's json_array
 * rebuilt by concatenation, byte for byte (json_build_array writes a space
 * after each comma, and the digest hashes these bytes). to_json(text)
 * escapes as SQLite 3.40's json_array does: \" \\ \b \f \n \r \t, other
 * control characters as \u00xx (lower-case hex), everything else (DEL,
 * non-ASCII, U+2028) raw; closed_at (bigint) is a JSON number as its
 * decimal text. A PostgreSQL text cannot hold NUL or invalid UTF-8, where
 * SQLite's could differ. tests/unit/test_audit.c pins SQLite's bytes for
 * the strings this was checked with on PostgreSQL 15. */
#define TASK_STATUS_PG                                                                   \
    "CASE WHEN assignee IS NULL AND closed_at IS NULL AND result IS NULL THEN status"   \
    " ELSE '[' || to_json(status)::text || ',' || coalesce(to_json(assignee)::text, 'null')" \
    " || ',' || coalesce(closed_at::text, 'null') || ','"                                \
    " || coalesce(to_json(result)::text, 'null') || ']' END"

/* On PostgreSQL: the tasks part with TASK_STATUS_PG, and the notifications
 * part without INDEXED BY (PostgreSQL takes no plan hints; its statistics
 * live in pg_statistic, which only a superuser can write and ANALYZE fills
 * from the rows, and whatever plan they suggest, the server keeps every
 * index consistent with its table, so both reads see the same rows).
 * NULL: the same text. */
static const char *const part_pg[CF_CASE_PARTS] = {
    NULL,
    NULL,
    ("SELECT seq, role, kind, detail, " TASK_STATUS_PG ", created_at FROM tasks"
     " WHERE case_id=? ORDER BY seq"),
    NULL,
    "SELECT seq, channel, payload, created_at FROM notifications WHERE case_id=? ORDER BY seq",
};

/* The tasks part before schema 3 (no claim or closure columns): the same
 * hash for every task that has neither. */
static const char tasks_v2_sql[] =
    "SELECT seq, role, kind, detail, status, created_at FROM tasks WHERE case_id=?"
    " ORDER BY seq";

static const char *part_query(cf_store *s, int i)
{
    return i == 2 && cf_store_version(s) < 3 ? tasks_v2_sql : part_sql[i];
}

/* The cached statement of part i (part_query), in the store's dialect. */
static cf_stmt *part_stmt(cf_store *s, int i, cf_error *err)
{
    const char *sql = part_query(s, i);
    return cf_store_stmt_for(s, sql, sql == part_sql[i] ? part_pg[i] : NULL, err);
}

/* The notifications' rows of st (seq first) hashed into h from where it
 * is, ended, into out; p keeps the state before the end and the last seq. */
static int notes_rows(cf_store *s, cf_stmt *st, cf_sha256 *h, cf_case_parts *p,
                      unsigned char out[32], cf_error *err)
{
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        p->notes_last = cf_stmt_int64(st, 0);
        cf_store_hash_row(st, 0, cf_stmt_columns(st), h);
    }
    cf_stmt_reset(st);
    p->notes_open = rc == CF_DB_DONE;
    p->notes = *h;
    cf_sha256_update(h, (const unsigned char *)"|", 1);
    cf_sha256_final(h, out);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "hash rows", err);
}

int cf_integrity_case_notes_added(cf_store *s, const char *case_id, cf_case_parts *p,
                                  cf_error *err)
{
    static const char more[] =
        "SELECT seq, channel, payload, created_at FROM notifications"
        " INDEXED BY notifications_case WHERE case_id=? AND seq>? ORDER BY seq";
    static const char more_pg[] = "SELECT seq, channel, payload, created_at FROM notifications"
                                  " WHERE case_id=? AND seq>? ORDER BY seq";
    if (!p->notes_open)
        return cf_integrity_case_parts(s, case_id, CF_PART_NOTES, p, err);
    cf_stmt *st = cf_store_stmt_for(s, more, more_pg, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, case_id);
    cf_stmt_bind_int64(st, 2, p->notes_last);
    cf_sha256 h = p->notes;
    return notes_rows(s, st, &h, p, p->part[4], err);
}

int cf_integrity_case_parts(cf_store *s, const char *case_id, unsigned which,
                            cf_case_parts *p, cf_error *err)
{
    if (which & CF_PART_NOTES)
        p->notes_open = false;
    for (int i = 0; i < CF_CASE_PARTS; i++) {
        if (!(which & (1u << i)))
            continue;
        cf_stmt *st = part_stmt(s, i, err);
        if (!st)
            return err ? err->code : CF_EIO;
        cf_stmt_bind_text(st, 1, case_id);
        cf_sha256 h;
        cf_sha256_init(&h);
        int rc;
        if (i == 4) {
            p->notes_last = 0;
            rc = notes_rows(s, st, &h, p, p->part[i], err);
        } else {
            rc = cf_store_hash_rows(s, st, &h, err);
            cf_sha256_final(&h, p->part[i]);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static void put_field(cf_sha256 *h, char type, int64_t i, const char *t,
                      size_t len)
{
    char head[24];
    size_t n = cf_hash_field_head(head, type, type == 'i' ? i : type == 't' ? (int64_t)len : 0);
    cf_sha256_update(h, (const unsigned char *)head, n);
    if (type == 't' && len)
        cf_sha256_update(h, (const unsigned char *)t, len);
}

static void put_text(cf_sha256 *h, const char *t)
{
    if (t)
        put_field(h, 't', 0, t, strlen(t));
    else
        put_field(h, 'n', 0, NULL, 0);
}

/* 0 is stored as NULL (store/tables.c bind_deadline). */
static void put_time(cf_sha256 *h, int64_t v)
{
    put_field(h, v ? 'i' : 'n', v, NULL, 0);
}

void cf_integrity_row_part(const cf_case_row *r, int64_t revision, const char *data,
                           unsigned char out[32])
{
    cf_sha256 h;
    cf_sha256_init(&h);
    put_field(&h, 'i', r->seq, NULL, 0);
    put_text(&h, r->id);
    put_text(&h, r->source);
    put_text(&h, r->reference);
    put_text(&h, r->workflow);
    put_field(&h, 'i', r->version, NULL, 0);
    put_text(&h, r->state);
    put_text(&h, data);
    put_field(&h, 'i', revision, NULL, 0);
    put_field(&h, 'i', r->created_at, NULL, 0);
    put_field(&h, 'i', r->updated_at, NULL, 0);
    put_time(&h, r->deadline_at);
    put_time(&h, r->review_at);
    put_text(&h, r->legal_hold);
    put_time(&h, r->disposed_at);
    cf_sha256_update(&h, (const unsigned char *)";|", 2);
    cf_sha256_final(&h, out);
}

void cf_integrity_case_combine(const cf_case_parts *p, char out[65])
{
    static const char tag[] = "caseflow-case-v2";
    unsigned char bin[crypto_hash_sha256_BYTES];
    cf_sha256 h;
    cf_sha256_init(&h);
    cf_sha256_update(&h, (const unsigned char *)tag, sizeof tag - 1);
    for (int i = 0; i < CF_CASE_PARTS; i++)
        cf_sha256_update(&h, p->part[i], sizeof p->part[i]);
    cf_sha256_final(&h, bin);
    sodium_bin2hex(out, 65, bin, sizeof bin);
}

int cf_integrity_case_digest(cf_store *s, const char *case_id, char out[65], cf_error *err)
{
    cf_case_parts p;
    int rc = cf_integrity_case_parts(s, case_id, CF_PART_ALL, &p, err);
    if (!rc)
        cf_integrity_case_combine(&p, out);
    return rc;
}

/* Schema 1's digest: one hash over the five parts' rows in a row. */
static int case_digest_v1(cf_store *s, const char *case_id, char out[65], cf_error *err)
{
    cf_sha256 h;
    unsigned char bin[crypto_hash_sha256_BYTES];
    int rc = 0;
    cf_sha256_init(&h);
    for (int i = 0; i < CF_CASE_PARTS && !rc; i++) {
        cf_stmt *st = part_stmt(s, i, err);
        if (!st)
            rc = err ? err->code : CF_EIO;
        else {
            cf_stmt_bind_text(st, 1, case_id);
            rc = cf_store_hash_rows(s, st, &h, err);
        }
    }
    cf_sha256_final(&h, bin);
    if (rc)
        return rc;
    sodium_bin2hex(out, 65, bin, sizeof bin);
    return 0;
}

/* Does the case, as stored, have the digest `want`? found receives the
 * current digest. parts (may be NULL): the parts, with the row part
 * already in it when have_row. */
static int case_matches(cf_store *s, const char *case_id, cf_case_parts *parts, bool have_row,
                        const char *want, char found[65], bool *ok, cf_error *err)
{
    cf_case_parts local;
    cf_case_parts *p = parts ? parts : &local;
    int rc = cf_integrity_case_parts(s, case_id, have_row ? CF_PART_ALL & ~CF_PART_ROW
                                                          : CF_PART_ALL,
                                     p, err);
    if (rc)
        return rc;
    cf_integrity_case_combine(p, found);
    *ok = want && strcmp(found, want) == 0;
    if (*ok || !want)
        return 0;
    char old[65];
    if ((rc = case_digest_v1(s, case_id, old, err)))
        return rc;
    *ok = strcmp(old, want) == 0;
    return 0;
}

/* ---- verification ------------------------------------------------------------------ */

static const char *col(cf_stmt *st, int i)
{
    return cf_stmt_text(st, i);
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Is digest (may be NULL) the SHA-256 of the n bytes at p, in hex? */
static bool digest_is_n(const char *p, size_t n, const char *digest)
{
    char h[65];
    if (!p || !digest)
        return false;
    cf_sha256_hex(p, n, h);
    return strcmp(h, digest) == 0;
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    if (text)
        cf_stmt_bind_text(st, 1, text);
    int rc = cf_stmt_step(st);
    *out = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "verify", err);
}

/* Every case at once: one statement per table, each ordered by case id, read
 * side by side (a merge), instead of six lookups per case. Each side table's
 * statement puts case_id in front of the columns of its part query and
 * orders a case's rows as that query does (a total order: the part's key is
 * unique within a case), so the rows of one case hash exactly as the
 * per-case query hashes them (cf_store_hash_row). Memory stays flat: each
 * statement streams. */
enum { SCAN_EVENTS = CF_CASE_PARTS, SCANS };

static const char *const scan_sql[SCANS] = {
    "SELECT seq, id, source, reference, workflow, version, state, data, revision,"
    " created_at, updated_at, deadline_at, review_at, legal_hold, disposed_at, rowid"
    " FROM cases ORDER BY id",
    "SELECT case_id, event, state, due_at, rowid FROM timers ORDER BY case_id, event",
    ("SELECT case_id, seq, role, kind, detail, CASE WHEN assignee IS NULL AND closed_at IS NULL"
     " AND result IS NULL THEN status ELSE json_array(status, assignee, closed_at, result)"
     " END, created_at, rowid FROM tasks ORDER BY case_id, seq"),
    "SELECT case_id, kind, value FROM keys ORDER BY case_id, kind, value",
    "SELECT case_id, seq, channel, payload, created_at, rowid FROM notifications"
    " ORDER BY case_id, seq",
    /* the case digest each case's newest history record carries */
    "SELECT case_id, seq, case_sha256, rowid FROM events ORDER BY case_id",
};

/* On PostgreSQL the row identity is the column SQLite's rowid stands for:
 * seq (cases, tasks, notifications, events: their INTEGER PRIMARY KEY on
 * SQLite, so the same numbers), and timers.rid (pg_store.c). Text columns
 * are COLLATE "C", so ORDER BY case_id is key_cmp's memcmp order;
 * notifications.case_id may be NULL, which SQLite sorts first and
 * PostgreSQL last unless told (rows of no case are drained as orphans
 * either way; NULLS FIRST keeps the two reads alike). */
static const char *const scan_pg[SCANS] = {
    "SELECT seq, id, source, reference, workflow, version, state, data, revision,"
    " created_at, updated_at, deadline_at, review_at, legal_hold, disposed_at, seq"
    " FROM cases ORDER BY id",
    "SELECT case_id, event, state, due_at, rid FROM timers ORDER BY case_id, event",
    ("SELECT case_id, seq, role, kind, detail, " TASK_STATUS_PG ", created_at, seq FROM tasks"
     " ORDER BY case_id, seq"),
    NULL,
    "SELECT case_id, seq, channel, payload, created_at, seq FROM notifications"
    " ORDER BY case_id NULLS FIRST, seq",
    "SELECT case_id, seq, case_sha256, seq FROM events ORDER BY case_id",
};

static const char tasks_v2_scan[] =
    "SELECT case_id, seq, role, kind, detail, status, created_at, rowid FROM tasks"
    " ORDER BY case_id, seq";

/* Each scan reads its table through an index (the order by case id is an
 * index's order). An index is not covered by any digest: an intruder can
 * rebuild one without some rows of its table (or with an entry twice in
 * place of another), and those rows would go unread and unchecked. So each
 * table is read once more without any index, and the two reads must see the
 * same rows: as many, and the same set of row identities (a sum of a keyed
 * hash of each, keyed at random per run so that no set can be made to
 * collide in advance). The identity is the rowid, or for keys (WITHOUT
 * ROWID) its primary key: the columns the scan ends with, from the table's
 * ident column on. */
static const char *const table_sql[SCANS] = {
    "SELECT rowid FROM cases NOT INDEXED",
    "SELECT rowid FROM timers NOT INDEXED",
    "SELECT rowid FROM tasks NOT INDEXED",
    /* keys has no rowid: its table is its primary key's b-tree. NOT
     * INDEXED would still let SQLite (3.40) read keys_case, which covers
     * every column; this names the table's own b-tree. */
    "SELECT case_id, kind, value FROM keys INDEXED BY sqlite_autoindex_keys_1",
    "SELECT rowid FROM notifications NOT INDEXED",
    "SELECT rowid FROM events NOT INDEXED",
};

/* PostgreSQL has no NOT INDEXED, and needs none for this. The threat the
 * second read answers, an index edited so that rows go unread, needs on
 * PostgreSQL write access to the server's data directory (the heap and
 * index files): a superuser or the server's OS account, who could as well
 * rewrite anything else. Through SQL an index is only what the server
 * keeps consistent with its table, in the same transaction, and its
 * statistics (pg_statistic) only a superuser can write. So here the second
 * read is the table's rows by their identity (primary key, or timers.rid),
 * however the planner reads them: it still proves the merge read every
 * row once, on the same snapshot. For index files corrupted on disk, the
 * server's own tool is amcheck (bt_index_check(index, heapallindexed)). */
static const char *const table_pg[SCANS] = {
    "SELECT seq FROM cases",
    "SELECT rid FROM timers",
    "SELECT seq FROM tasks",
    "SELECT case_id, kind, value FROM keys",
    "SELECT seq FROM notifications",
    "SELECT seq FROM events",
};

static const char *const scan_table[SCANS] = {"cases", "timers", "tasks", "keys",
                                              "notifications", "events"};

typedef struct scan {
    cf_stmt *st;
    int step;        /* of the row in hand: CF_DB_ROW, or where it ended */
    int64_t orphans; /* rows passed over: of no case */
    int ident;       /* the first column of the row's identity (the last are the rest) */
    int64_t rows;    /* rows read */
    uint64_t set;    /* the sum of the keyed hashes of their identities */
    const unsigned char *key; /* of those hashes: this run's, random */
    atomic_bool *stop;        /* (may be NULL) set: end the scan as if interrupted */
} scan;

/* The keyed hash of the identity in columns [from, to) of the row in hand:
 * one integer as 8 bytes, otherwise each column's type and text, length
 * first. */
static uint64_t ident_hash(cf_stmt *st, int from, int to,
                           const unsigned char key[crypto_shorthash_KEYBYTES])
{
    unsigned char out[crypto_shorthash_BYTES], small[512], *buf = small;
    size_t len = 0;
    if (to - from == 1 && cf_stmt_type(st, from) == CF_DB_INTEGER) {
        uint64_t v = (uint64_t)cf_stmt_int64(st, from);
        for (int i = 0; i < 8; i++)
            small[i] = (unsigned char)(v >> (8 * i));
        len = 8;
    } else {
        size_t need = 0;
        for (int c = from; c < to; c++) {
            cf_stmt_text(st, c);
            need += 5 + (size_t)cf_stmt_bytes(st, c);
        }
        if (need > sizeof small && !(buf = malloc(need)))
            return 0; /* hashes as a 0: the two reads then disagree, or both failed alike */
        for (int c = from; c < to; c++) {
            const char *t = cf_stmt_text(st, c);
            uint32_t n = (uint32_t)cf_stmt_bytes(st, c);
            buf[len++] = (unsigned char)cf_stmt_type(st, c);
            for (int i = 0; i < 4; i++)
                buf[len++] = (unsigned char)(n >> (8 * i));
            if (n)
                memcpy(buf + len, t, n);
            len += n;
        }
    }
    crypto_shorthash(out, buf, len, key);
    if (buf != small)
        free(buf);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h |= (uint64_t)out[i] << (8 * i);
    return h;
}

/* The next row of the scan, its identity counted in. */
static int scan_next(scan *sc)
{
    if (sc->stop && atomic_load_explicit(sc->stop, memory_order_relaxed))
        return sc->step = CF_DB_INTERRUPT;
    sc->step = cf_stmt_step(sc->st);
    if (sc->step == CF_DB_ROW) {
        sc->rows++;
        sc->set += ident_hash(sc->st, sc->ident, cf_stmt_columns(sc->st), sc->key);
    }
    return sc->step;
}

/* The columns of the scan's row that its part hashes: all but the rowid. */
static int scan_end(const scan *sc)
{
    int n = cf_stmt_columns(sc->st);
    return sc->ident ? sc->ident : n;
}

/* Table i read without an index: its rows and the set of their identities
 * must be those the scan saw through its index. */
static int same_rows(int i, const scan *sc, const scan *t, bool pg, cf_error *err)
{
    /* On PostgreSQL only the server's files edited (or corrupted) on disk
     * can part an index from its table (see table_pg). */
    const char *how = pg ? "the server's data files were edited or are corrupt: check the "
                           "indexes with amcheck"
                         : "the file was edited behind SQLite";
    if (t->rows != sc->rows)
        return broken(err, scan_table[i], "%lld row(s) not reachable through its index (%s)",
                      (long long)(t->rows - sc->rows), how);
    if (t->set != sc->set)
        return broken(err, scan_table[i], "row(s) not reachable through its index (an "
                      "index entry altered or duplicated: %s)", how);
    return 0;
}

/* Table i read without an index: *t, its rows and the keyed hashes of their
 * identities under key. */
static int table_read(cf_store *s, int i, const unsigned char *key, atomic_bool *stop,
                      scan *t, cf_error *err)
{
    cf_stmt *st = NULL;
    int prc = cf_store_prepare(s, cf_store_is_pg(s) ? table_pg[i] : table_sql[i], &st);
    if (prc != CF_DB_OK)
        return cf_store_error(s, prc, "verify cases", err);
    *t = (scan){.st = st, .ident = 0, .key = key, .stop = stop};
    while (scan_next(t) == CF_DB_ROW)
        ;
    cf_stmt_finalize(st);
    t->st = NULL;
    if (t->step != CF_DB_DONE)
        return cf_store_error(s, t->step, "verify cases", err);
    return 0;
}

/* Column 0 of the scan's row against the key (len bytes), in the order of
 * SQLite's BINARY collation (NULL first): memcmp, then the length. */
static int key_cmp(scan *sc, const void *key, int len)
{
    if (cf_stmt_type(sc->st, 0) == CF_DB_NULL)
        return -1;
    const void *t = cf_stmt_text(sc->st, 0);
    int n = cf_stmt_bytes(sc->st, 0);
    int c = n && len ? memcmp(t, key, (size_t)(n < len ? n : len)) : 0;
    return c ? c : (n > len) - (n < len);
}

/* Pass over the rows before the key (of no case), then hand each row of
 * the key to the caller through the return value: true while the scan is on
 * one. */
static bool scan_at(scan *sc, const void *key, int len)
{
    int c = 1;
    while (sc->step == CF_DB_ROW && (c = key_cmp(sc, key, len)) < 0) {
        sc->orphans++;
        scan_next(sc);
    }
    return sc->step == CF_DB_ROW && c == 0;
}

/* The hash of the key's rows of a side table, as cf_integrity_case_parts
 * computes it. */
static void scan_part(scan *sc, const void *key, int len, unsigned char out[32])
{
    cf_sha256 h;
    cf_sha256_init(&h);
    int end = scan_end(sc);
    while (scan_at(sc, key, len)) {
        cf_store_hash_row(sc->st, 1, end, &h);
        scan_next(sc);
    }
    cf_sha256_update(&h, (const unsigned char *)"|", 1);
    cf_sha256_final(&h, out);
}

/* The case_sha256 of the key's newest history record that has one, into
 * want (one that cannot be a digest when too long to copy); false when
 * there is none. */
static bool scan_want(scan *sc, const void *key, int len, char want[72])
{
    int64_t best = 0;
    bool have = false;
    want[0] = '\0';
    while (scan_at(sc, key, len)) {
        int64_t seq = cf_stmt_int64(sc->st, 1);
        if (cf_stmt_type(sc->st, 2) != CF_DB_NULL && (!have || seq > best)) {
            const char *t = col(sc->st, 2);
            int n = cf_stmt_bytes(sc->st, 2);
            best = seq;
            have = true;
            if (n < 72) {
                memcpy(want, t ? t : "", (size_t)n);
                want[n] = '\0';
            } else {
                snprintf(want, 72, "%s", "(not a digest)");
            }
        }
        scan_next(sc);
    }
    return have;
}

/* "history record N" of the row in hand, into where (written only for a
 * message: formatting it for every row cost 3% of a verify). */
static const char *history_at(char where[64], cf_stmt *st)
{
    snprintf(where, 64, "history record %lld", (long long)cf_stmt_int64(st, 0));
    return where;
}

/* w (may be NULL: then the records are counted here): the walk that has
 * just verified the chain, which counted the records that write history.
 * The history is read from the events table itself (NOT INDEXED, in rowid
 * order: seq is the rowid), every row of it; tab (may be NULL) receives
 * their number and the keyed hash of their rowids (tab->key), which stand
 * for verify_cases' second read of events without an index. */
static int verify_events(cf_store *s, const cf_chain *w, scan *tab, int64_t *n, cf_error *err)
{
    static const char sql[] =
        "SELECT e.seq, e.case_id, e.at, e.actor, e.role, e.event, e.outcome, e.from_state,"
        " e.to_state, e.data, e.data_sha256, e.plugin, e.plugin_version, e.plugin_sha256,"
        " e.case_sha256, a.digest, a.case_id, a.at, a.actor, a.action, e.audit_seq, a.role"
        " FROM events e NOT INDEXED LEFT JOIN audit a ON a.seq = e.audit_seq ORDER BY e.seq";
    /* PostgreSQL: by seq, its primary key (see table_pg) */
    static const char sql_pg[] =
        "SELECT e.seq, e.case_id, e.at, e.actor, e.role, e.event, e.outcome, e.from_state,"
        " e.to_state, e.data, e.data_sha256, e.plugin, e.plugin_version, e.plugin_sha256,"
        " e.case_sha256, a.digest, a.case_id, a.at, a.actor, a.action, e.audit_seq, a.role"
        " FROM events e LEFT JOIN audit a ON a.seq = e.audit_seq ORDER BY e.seq";
    /* Asked only of history whose data is gone (a lookup per record cost a
     * third of the walk). */
    static const char disposed[] = "SELECT count(*) FROM cases WHERE id = ?"
                                   " AND disposed_at IS NOT NULL";
    static const char count[] =
        "SELECT count(*) FROM audit WHERE action IN ('collection', 'change', 'retention',"
        " 'erasure', 'workflow.migrate')";
    cf_stmt *st = cf_store_stmt_for(s, sql, sql_pg, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = 0, step;
    char where[64];
    int64_t last_audit = 0, total = -1;
    cf_buf pb = {0};
    *n = 0;
    cf_error ignore;
    if (scalar(s, "SELECT coalesce(max(seq), 0) FROM events", NULL, &total, &ignore))
        total = -1;
    cf_store_progress(s, "audit verify: history", 0, total);
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        cf_store_progress(s, "audit verify: history", *n, total);
        if (tab) {
            tab->rows++;
            tab->set += ident_hash(st, 0, 1, tab->key);
        }
        /* History is written in audit order: each record's audit seq is
         * greater than the one before, so none can be moved or copied. */
        int64_t aseq = cf_stmt_int64(st, 20);
        const char *action = col(st, 19);
        /* seq is shown to users (history): numbered 1, 2, 3... in chain
         * order, so no number can be changed without a gap or a swap. */
        if (cf_stmt_int64(st, 0) != *n + 1) {
            rc = broken(err, "events", "%s: history renumbered (expected %lld)", history_at(where, st),
                        (long long)(*n + 1));
            break;
        }
        if (aseq <= last_audit) {
            rc = broken(err, "events", "%s: out of order or duplicated", history_at(where, st));
            break;
        }
        last_audit = aseq;
        if (!action || (strcmp(action, "collection") && strcmp(action, "change") &&
                        strcmp(action, "retention") && strcmp(action, "erasure") &&
                        strcmp(action, "workflow.migrate"))) {
            rc = broken(err, "events", "%s: its audit record is not a history record", history_at(where, st));
            break;
        }
        const char *data = col(st, 9), *dsha = col(st, 10);
        char h[65];
        if (data) {
            cf_sha256_hex(data, strlen(data), h);
            if (!same(h, dsha)) {
                rc = broken(err, "events", "%s: data altered", history_at(where, st));
                break;
            }
        } else if (dsha) {
            cf_stmt *d = cf_store_stmt(s, disposed, err);
            if (!d) {
                rc = err ? err->code : CF_EIO;
                break;
            }
            cf_stmt_bind_textn(d, 1, col(st, 1), cf_stmt_bytes(st, 1));
            int dstep = cf_stmt_step(d);
            int64_t gone = dstep == CF_DB_ROW ? cf_stmt_int64(d, 0) : 0;
            cf_stmt_reset(d);
            if (dstep != CF_DB_ROW) {
                rc = cf_store_error(s, dstep, "verify events", err);
                break;
            }
            if (!gone) {
                rc = broken(err, "events", "%s: data erased, but the case was not disposed",
                            history_at(where, st));
                break;
            }
        }
        cf_event_fields f = {
            .case_id = col(st, 1), .at = cf_stmt_int64(st, 2), .actor = col(st, 3),
            .role = col(st, 4), .event = col(st, 5), .outcome = col(st, 6),
            .from = col(st, 7), .to = col(st, 8), .data_sha256 = dsha,
            .plugin = col(st, 11), .plugin_version = col(st, 12),
            .plugin_sha256 = col(st, 13), .case_sha256 = col(st, 14)};
        if (!f.case_id || !f.actor || !f.event || !f.to) {
            rc = broken(err, "events", "%s: required column emptied", history_at(where, st));
            break;
        }
        pb.n = 0;
        bool ok = event_payload_into(&pb, &f) && digest_is_n(pb.p, pb.n, col(st, 15)) &&
                  same(col(st, 16), f.case_id) &&
                  cf_stmt_int64(st, 17) == f.at && same(col(st, 18), f.actor) &&
                  same(col(st, 21), f.role);
        if (!ok)
            rc = broken(err, "events", "%s: does not match its audit record", history_at(where, st));
        (*n)++;
    }
    cf_stmt_reset(st);
    free(pb.p);
    if (rc)
        return rc;
    if (step != CF_DB_DONE)
        return cf_store_error(s, step, "verify events", err);
    int64_t records = w ? cf_chain_history(w) : 0;
    if (!w && (rc = scalar(s, count, NULL, &records, err)))
        return rc;
    if (records != *n)
        return broken(err, "events", "%s",
                      records > *n ? "history records missing" : "history records added");
    return 0;
}

/* What reading the case tables leaves for cases_finish: the events scan
 * (its rows and identities, st NULL) and the rows of no case per table. */
typedef struct cases_read {
    int64_t n;          /* cases checked */
    scan sums[SCANS];   /* each scan's rows, identities and orphans (st NULL) */
} cases_read;

/* Read every case with its side tables (the merge), through their
 * indexes. key: of the identity hashes (random per run); stop (may be
 * NULL): see scan. */
static int cases_read_all(cf_store *s, const unsigned char *key, atomic_bool *stop,
                          cases_read *out, cf_error *err)
{
    scan sc[SCANS] = {{0}};
    int rc = 0;
    int64_t *n = &out->n;
    for (int i = 0; i < SCANS && !rc; i++) {
        sc[i].key = key;
        sc[i].stop = stop;
        const char *sql = i == 2 && cf_store_version(s) < 3 ? tasks_v2_scan : scan_sql[i];
        if (cf_store_is_pg(s) && scan_pg[i])
            sql = scan_pg[i]; /* schema 4 from the start: never tasks_v2 */
        int prc = cf_store_prepare(s, sql, &sc[i].st);
        if (prc != CF_DB_OK) {
            rc = cf_store_error(s, prc, "verify cases", err);
            break;
        }
        /* keys has no rowid: its identity is all its columns */
        sc[i].ident = i == 3 ? 0 : cf_stmt_columns(sc[i].st) - 1;
        if (i)
            scan_next(&sc[i]);
    }
    *n = 0;
    /* The cases are read in the order of their id index; the rows of the
     * table itself must be as many (table_check below), or a row kept out
     * of the index would go unread. The progress shows the highest seq (a
     * look-up, where counting read the whole table once more). */
    int64_t total = -1;
    if (!rc)
        rc = scalar(s, "SELECT coalesce(max(seq), 0) FROM cases", NULL, &total, err);
    if (!rc)
        cf_store_progress(s, "audit verify: cases", 0, total);
    int step = CF_DB_DONE;
    while (!rc && (step = scan_next(&sc[0])) == CF_DB_ROW) {
        cf_store_progress(s, "audit verify: cases", *n, total);
        cf_stmt *cs = sc[0].st;
        const char *id = col(cs, 1);
        int len = cf_stmt_bytes(cs, 1);
        char want[72], found[65], where[80];
        snprintf(where, sizeof where, "case %s", id ? id : "?");
        if (!scan_want(&sc[SCAN_EVENTS], id, len, want)) {
            rc = broken(err, "cases", "%s: no audited history (row added?)", where);
            break;
        }
        cf_case_parts p;
        cf_sha256 h;
        cf_sha256_init(&h);
        cf_store_hash_row(cs, 0, scan_end(&sc[0]), &h);
        cf_sha256_update(&h, (const unsigned char *)"|", 1);
        cf_sha256_final(&h, p.part[0]);
        for (int i = 1; i < CF_CASE_PARTS; i++)
            scan_part(&sc[i], id, len, p.part[i]);
        cf_integrity_case_combine(&p, found);
        bool ok = strcmp(found, want) == 0;
        /* Not the current digest: perhaps one recorded by schema 1, which
         * the per-case check knows (its queries, as a command runs them). */
        if (!ok && (rc = case_matches(s, id, NULL, false, want, found, &ok, err)))
            break;
        if (!ok) {
            rc = broken(err, "cases", "%s: row, timers, tasks, keys or notifications altered",
                        where);
            break;
        }
        (*n)++;
    }
    if (!rc && step != CF_DB_DONE)
        rc = cf_store_error(s, step, "verify cases", err);
    /* What is left after the last case belongs to none. */
    for (int i = 1; i < SCANS && !rc; i++) {
        while (sc[i].step == CF_DB_ROW) {
            sc[i].orphans++;
            scan_next(&sc[i]);
        }
        if (sc[i].step != CF_DB_DONE)
            rc = cf_store_error(s, sc[i].step, "verify cases", err);
    }
    for (int i = 0; i < SCANS; i++) {
        cf_stmt_finalize(sc[i].st);
        sc[i].st = NULL;
        out->sums[i] = sc[i];
    }
    return rc;
}

/* The checks after the reads, in the order verify has always made them:
 * each table read through its index (r) and without one (tables; failed:
 * the first table whose read failed, with rc and e, or SCANS) saw the same
 * rows (for cases: as many as were checked, r->sums[0].rows == r->n); no
 * row of a side table belongs to no case. */
static int cases_finish(const cases_read *r, const scan tables[SCANS], int failed, int rc,
                        const cf_error *e, bool pg, cf_error *err)
{
    for (int i = 0; i < SCANS; i++) {
        if (i == failed) {
            if (err)
                *err = *e;
            return rc;
        }
        if ((rc = same_rows(i, &r->sums[i], &tables[i], pg, err)))
            return rc;
    }
    if (r->sums[SCAN_EVENTS].orphans)
        return broken(err, "cases", "%s", "case rows deleted");
    /* Rows of a case's side tables are covered by that case's digest; rows
     * that belong to no case are covered by nothing, so there must be none. */
    static const char *const names[] = {"timers", "tasks", "keys", "notifications"};
    for (size_t t = 0; t < 4; t++)
        if (r->sums[t + 1].orphans)
            return broken(err, names[t], "%lld row(s) of no case (added?)",
                          (long long)r->sums[t + 1].orphans);
    return 0;
}

/* Each case table read without an index (table_read) into tables, but
 * events when skip_events (verify_events reads it so); failed: the first
 * whose read failed (rc, e), or SCANS. */
static void tables_read(cf_store *s, const unsigned char *key, atomic_bool *stop,
                        bool skip_events, scan tables[SCANS], int *failed, int *rc,
                        cf_error *e)
{
    *failed = SCANS;
    *rc = 0;
    cf_err_clear(e);
    for (int i = 0; i < SCANS; i++) {
        if (i == SCAN_EVENTS && skip_events) {
            tables[i] = (scan){0};
        } else if ((*rc = table_read(s, i, key, stop, &tables[i], e))) {
            *failed = i;
            return;
        }
    }
}

/* ---- the case tables on a second core ---------------------------------------------- */

struct cf_integrity_bg {
    cf_store *s;
    pthread_t thread;
    bool joined;
    atomic_bool stop;
    unsigned char key[crypto_shorthash_KEYBYTES];
    cases_read read;
    int rc;
    cf_error err;
    scan tables[SCANS]; /* but events: tables_read */
    int failed, trc;
    cf_error terr;
    /* The thread's progress, shown by the caller's thread (the callback is
     * the caller's and need not be thread-safe): under mu, the cases done
     * and the end, each signalled on cv. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t done;
    bool finished;
};

/* The twin's progress hook (on the thread): noted every 512 cases. */
static void bg_progress(void *ctx, const char *what, int64_t done, int64_t total)
{
    (void)what;
    (void)total;
    cf_integrity_bg *bg = ctx;
    if (done % 512 || !done)
        return;
    pthread_mutex_lock(&bg->mu);
    bg->done = done;
    pthread_cond_signal(&bg->cv);
    pthread_mutex_unlock(&bg->mu);
}

static void *bg_main(void *arg)
{
    cf_integrity_bg *bg = arg;
    cf_err_clear(&bg->err);
    bg->rc = cases_read_all(bg->s, bg->key, &bg->stop, &bg->read, &bg->err);
    if (!bg->rc)
        tables_read(bg->s, bg->key, &bg->stop, true, bg->tables, &bg->failed, &bg->trc,
                    &bg->terr);
    pthread_mutex_lock(&bg->mu);
    bg->finished = true;
    pthread_cond_signal(&bg->cv);
    pthread_mutex_unlock(&bg->mu);
    return NULL;
}

int cf_integrity_bg_start(cf_store *s2, cf_integrity_bg **out)
{
    *out = NULL;
    cf_integrity_bg *bg = calloc(1, sizeof *bg);
    if (!bg)
        return -1;
    bg->s = s2;
    atomic_init(&bg->stop, false);
    randombytes_buf(bg->key, sizeof bg->key);
    cf_store_set_hooks(s2, &(cf_store_hooks){.progress = bg_progress, .ctx = bg});
    /* The SHA-256 implementation is chosen once (pthread_once); both
     * threads would, but choosing it here keeps the start simple. */
    cf_sha256_accelerated();
    if (pthread_mutex_init(&bg->mu, NULL) != 0) {
        free(bg);
        return -1;
    }
    if (pthread_cond_init(&bg->cv, NULL) != 0 ||
        pthread_create(&bg->thread, NULL, bg_main, bg) != 0) {
        pthread_mutex_destroy(&bg->mu);
        free(bg);
        return -1;
    }
    *out = bg;
    return 0;
}

/* Wait for the thread; s (may be NULL): show its progress on s's hook
 * meanwhile, from 0 of total. */
static void bg_join(cf_integrity_bg *bg, cf_store *s, int64_t total)
{
    if (bg->joined)
        return;
    int64_t shown = 0;
    if (s)
        cf_store_progress(s, "audit verify: cases", 0, total);
    pthread_mutex_lock(&bg->mu);
    while (!bg->finished) {
        if (s && bg->done != shown) {
            shown = bg->done;
            pthread_mutex_unlock(&bg->mu); /* the callback may take its time */
            cf_store_progress(s, "audit verify: cases", shown, total);
            pthread_mutex_lock(&bg->mu);
            continue;
        }
        pthread_cond_wait(&bg->cv, &bg->mu);
    }
    pthread_mutex_unlock(&bg->mu);
    pthread_join(bg->thread, NULL);
    bg->joined = true;
    if (s && !bg->rc)
        cf_store_progress(s, "audit verify: cases", bg->read.n, total);
}

void cf_integrity_bg_free(cf_integrity_bg *bg)
{
    if (!bg)
        return;
    atomic_store(&bg->stop, true);
    bg_join(bg, NULL, 0);
    cf_store_set_hooks(bg->s, NULL); /* they pointed here */
    pthread_cond_destroy(&bg->cv);
    pthread_mutex_destroy(&bg->mu);
    free(bg);
}

/* The case tables: each read through its indexes and again without one,
 * here (bg NULL) or by the thread, all on one snapshot; events without an
 * index by verify_events (history; NULL: here too). */
static int verify_cases(cf_store *s, cf_integrity_bg *bg, const unsigned char *key,
                        const scan *history, int64_t *n, cf_error *err)
{
    int rc;
    if (bg) {
        /* the progress counts to the highest seq, as the serial read's */
        int64_t total = -1;
        if ((rc = scalar(s, "SELECT coalesce(max(seq), 0) FROM cases", NULL, &total, err)))
            return rc;
        bg_join(bg, s, total);
        if ((rc = bg->rc)) {
            if (err)
                *err = bg->err;
            return rc;
        }
        bg->tables[SCAN_EVENTS] = *history;
        *n = bg->read.n;
        return cases_finish(&bg->read, bg->tables, bg->failed, bg->trc, &bg->terr,
                            cf_store_is_pg(s), err);
    }
    cases_read r;
    scan tables[SCANS];
    int failed, trc;
    cf_error e;
    if ((rc = cases_read_all(s, key, NULL, &r, err)))
        return rc;
    tables_read(s, key, NULL, history != NULL, tables, &failed, &trc, &e);
    if (history)
        tables[SCAN_EVENTS] = *history;
    *n = r.n;
    return cases_finish(&r, tables, failed, trc, &e, cf_store_is_pg(s), err);
}

/* Each user row is the state its latest user record left (replayed by the
 * chain walk), and there is a row for every user the chain knows. */
static int verify_users(cf_store *s, const cf_chain *w, int64_t *n, cf_error *err)
{
    static const char sql[] = "SELECT name, roles, disabled, created_at, created_by,"
                              " os_users, audit_seq FROM users ORDER BY name";
    const json_t *users = cf_chain_users(w);
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = 0, step;
    *n = 0;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *name = col(st, 0);
        json_t *u = json_object_get(users, name ? name : "");
        if (!u) {
            rc = broken(err, "users", "user %s: no user record in the chain (row added?)",
                        name ? name : "?");
            break;
        }
        bool ok = same(col(st, 1), json_string_value(json_object_get(u, "roles"))) &&
                  cf_stmt_int64(st, 2) ==
                      json_integer_value(json_object_get(u, "disabled")) &&
                  cf_stmt_int64(st, 3) ==
                      json_integer_value(json_object_get(u, "created_at")) &&
                  same(col(st, 4), json_string_value(json_object_get(u, "created_by"))) &&
                  same(col(st, 5), json_string_value(json_object_get(u, "os_users"))) &&
                  cf_stmt_int64(st, 6) == json_integer_value(json_object_get(u, "seq"));
        if (!ok)
            rc = broken(err, "users", "user %s: not what its latest user record says",
                        name);
        (*n)++;
    }
    cf_stmt_reset(st);
    if (rc)
        return rc;
    if (step != CF_DB_DONE)
        return cf_store_error(s, step, "verify users", err);
    if ((size_t)*n != json_object_size(users))
        return broken(err, "users", "%s", "user rows deleted");
    return 0;
}

static int verify_workflows(cf_store *s, int64_t *n, cf_error *err)
{
    static const char sql[] =
        "SELECT w.name, w.version, w.declared_version, w.hash, w.bundle, w.deployed_at,"
        " w.deployed_by, a.digest, a.action FROM workflows w"
        " LEFT JOIN audit a ON a.seq = w.audit_seq";
    static const char count[] = "SELECT count(*) FROM audit WHERE action='workflow.deploy'";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = 0, step;
    *n = 0;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        char where[96];
        snprintf(where, sizeof where, "workflow %s v%lld", col(st, 0) ? col(st, 0) : "?",
                 (long long)cf_stmt_int64(st, 1));
        json_t *bundle = col(st, 4) ? json_loads(col(st, 4), 0, NULL) : NULL;
        char *text = bundle ? cf_json_canonical(bundle) : NULL;
        json_decref(bundle);
        char h[65] = "";
        if (text)
            cf_sha256_hex(text, strlen(text), h);
        free(text);
        char *payload = cf_integrity_workflow_payload(
            col(st, 0) ? col(st, 0) : "", cf_stmt_int64(st, 1),
            cf_stmt_int64(st, 2), col(st, 3) ? col(st, 3) : "",
            cf_stmt_int64(st, 5), col(st, 6) ? col(st, 6) : "");
        if (!same(h, col(st, 3)))
            rc = broken(err, "workflows", "%s: source does not match its hash", where);
        else if (!digest_is(payload, col(st, 7)) || !same(col(st, 8), "workflow.deploy"))
            rc = broken(err, "workflows", "%s: does not match its audit record", where);
        free(payload);
        (*n)++;
    }
    cf_stmt_reset(st);
    if (rc)
        return rc;
    if (step != CF_DB_DONE)
        return cf_store_error(s, step, "verify workflows", err);
    int64_t records;
    if ((rc = scalar(s, count, NULL, &records, err)))
        return rc;
    return records != *n ? broken(err, "workflows", "%s", "workflow versions added or deleted")
                         : 0;
}

/* Each policy row is what its key's latest policy record says. */
static int verify_policies(cf_store *s, const cf_chain *w, cf_error *err)
{
    const json_t *pols = cf_chain_policies(w);
    json_t *rows;
    int rc = cf_store_policy_list(s, &rows, err);
    if (rc)
        return rc;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *key = json_string_value(json_array_get(r, 0));
        json_t *p = json_object_get(pols, key ? key : "");
        if (!p || !same(json_string_value(json_array_get(r, 1)),
                        json_string_value(json_object_get(p, "value"))) ||
            json_integer_value(json_array_get(r, 2)) !=
                json_integer_value(json_object_get(p, "seq"))) {
            rc = broken(err, "policies", "policy %s does not match its audit record",
                        key ? key : "?");
            break;
        }
    }
    if (!rc && json_array_size(rows) != json_object_size(pols))
        rc = broken(err, "policies", "%s", "policy rows deleted");
    json_decref(rows);
    return rc;
}

/* meta holds the store's identity, tied to record 1, the pointer to the
 * schema's record and where init put the key: nothing else. */
static int verify_meta(cf_store *s, const cf_chain *w, cf_error *err)
{
    static const char sql[] = "SELECT key FROM meta WHERE key NOT IN ('store_id',"
                              " 'created_at', 'public_key', 'test_clock', 'schema_seq',"
                              " 'key_path')";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int step = cf_stmt_step(st);
    char extra[64] = "";
    if (step == CF_DB_ROW)
        snprintf(extra, sizeof extra, "%s", col(st, 0) ? col(st, 0) : "?");
    cf_stmt_reset(st);
    if (step == CF_DB_ROW)
        return broken(err, "meta", "a row caseflow did not write (%s)", extra);
    if (step != CF_DB_DONE)
        return cf_store_error(s, step, "verify meta", err);
    int rc = cf_integrity_check_identity(s, NULL, err);
    if (rc)
        return rc;
    char digest[65];
    if ((rc = cf_integrity_check_schema(s, digest, err)))
        return rc;
    char *seq = NULL;
    if ((rc = cf_store_meta_get(s, "schema_seq", &seq, err)))
        return rc;
    bool latest = seq && atoll(seq) == cf_chain_schema_seq(w);
    free(seq);
    return latest ? 0 : broken(err, "meta", "%s", "the schema record named is not the latest");
}

int cf_integrity_verify(cf_store *s, const cf_chain *w, json_t *report, cf_error *err)
{
    return cf_integrity_verify_bg(s, w, NULL, report, err);
}

int cf_integrity_verify_bg(cf_store *s, const cf_chain *w, cf_integrity_bg *bg,
                           json_t *report, cf_error *err)
{
    int64_t events = 0, cases = 0, users = 0, workflows = 0;
    unsigned char key[crypto_shorthash_KEYBYTES];
    if (bg)
        memcpy(key, bg->key, sizeof key);
    else
        randombytes_buf(key, sizeof key);
    scan history = {.key = key};
    int rc = verify_meta(s, w, err);
    if (!rc)
        rc = verify_policies(s, w, err);
    if (!rc)
        rc = verify_events(s, w, &history, &events, err);
    if (!rc)
        rc = verify_cases(s, bg, key, &history, &cases, err);
    if (!rc)
        rc = verify_users(s, w, &users, err);
    if (!rc)
        rc = verify_workflows(s, &workflows, err);
    json_object_set_new(report, "tables",
                        json_pack("{s:I, s:I, s:I, s:I}", "events", (json_int_t)events,
                                  "cases", (json_int_t)cases, "users", (json_int_t)users,
                                  "workflows", (json_int_t)workflows));
    /* Schema 3's tables tied to their records: tokens, webhooks, keys. */
    if (!rc)
        rc = cf_tokens_verify(s, report, err);
    if (!rc)
        rc = cf_webhook_verify(s, report, err);
    if (!rc)
        rc = cf_idempotency_verify(s, json_object_get(report, "tables"), err);
    return rc;
}

/* ---- the rows one command relies on ----------------------------------------------- */

static int altered(cf_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int altered(cf_error *err, const char *field, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cf_err_set(err, CF_EINVALID, field, "%s was altered outside caseflow: it does "
                      "not match the audit chain; nothing was done (run caseflow audit "
                      "verify)", msg);
}

/* Is payload the digest of audit record seq, whose action is `action` (or
 * starts with it when prefix)? */
static int tied(cf_store *s, int64_t seq, const char *payload, const char *action,
                bool prefix, bool *ok, cf_error *err)
{
    char digest[65], act[96];
    *ok = false;
    if (!payload)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int rc = seq > 0 ? cf_audit_record(s, seq, digest, act, err) : CF_ENOTFOUND;
    if (rc == CF_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    bool action_ok = prefix ? strncmp(act, action, strlen(action)) == 0
                            : strcmp(act, action) == 0;
    *ok = action_ok && digest_is(payload, digest);
    return 0;
}

int cf_integrity_tied(cf_store *s, int64_t seq, const char *payload, const char *action,
                      bool prefix, bool *ok, cf_error *err)
{
    return tied(s, seq, payload, action, prefix, ok, err);
}

/* Is seq the newest kept record about subject? A row put back to an
 * earlier genuine state, with its pointer, points at an older one. */
static int newest(cf_store *s, const char *subject, int64_t seq, bool *ok, cf_error *err)
{
    int64_t latest = 0;
    int rc = cf_store_record_latest(s, subject, &latest, err);
    *ok = !rc && latest == seq;
    return rc;
}

int cf_integrity_check_user(cf_store *s, const cf_user_row *u, cf_error *err)
{
    char *payload = cf_integrity_user_payload(u), subject[200];
    bool ok, last = false;
    int rc = tied(s, u->audit_seq, payload, "user.", true, &ok, err);
    free(payload);
    snprintf(subject, sizeof subject, "user:%s", u->name);
    if (!rc && ok)
        rc = newest(s, subject, u->audit_seq, &last, err);
    if (rc)
        return rc;
    return ok && last ? 0 : altered(err, "actor", "user %s", u->name);
}

int cf_integrity_check_policy(cf_store *s, const char *key, const char *value,
                              int64_t audit_seq, cf_error *err)
{
    char action[96], subject[200];
    snprintf(action, sizeof action, "policy.set:%s", key);
    snprintf(subject, sizeof subject, "policy:%s", key);
    bool ok = false, last = false;
    int rc = 0;
    if (value) {
        char *payload = cf_integrity_policy_payload(key, value);
        rc = tied(s, audit_seq, payload, action, false, &ok, err);
        free(payload);
    } else {
        ok = true; /* never set: then no record may say otherwise */
    }
    if (!rc && ok)
        rc = newest(s, subject, audit_seq, &last, err);
    /* An interval is in force only when signed at once (chain.c). */
    if (!rc && ok && last && value && strcmp(key, "checkpoint_interval") == 0) {
        char d[65], next[96];
        rc = cf_audit_record(s, audit_seq + 1, d, next, err);
        last = !rc && strcmp(next, "checkpoint") == 0;
        if (rc == CF_ENOTFOUND)
            rc = 0;
    }
    if (rc)
        return rc;
    return ok && last ? 0 : altered(err, "policy", "store policy %s", key);
}

int cf_integrity_check_workflow(cf_store *s, const char *name, int64_t version,
                                cf_error *err)
{
    static const char sql[] =
        "SELECT declared_version, hash, deployed_at, deployed_by, audit_seq FROM workflows"
        " WHERE name=? AND version=?";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text_copy(st, 1, name);
    cf_stmt_bind_int64(st, 2, version);
    int step = cf_stmt_step(st);
    char *payload = NULL;
    int64_t seq = 0;
    if (step == CF_DB_ROW) {
        payload = cf_integrity_workflow_payload(name, version, cf_stmt_int64(st, 0),
                                                col(st, 1) ? col(st, 1) : "",
                                                cf_stmt_int64(st, 2),
                                                col(st, 3) ? col(st, 3) : "");
        seq = cf_stmt_int64(st, 4);
    }
    cf_stmt_reset(st);
    if (step == CF_DB_DONE)
        return cf_err_set(err, CF_EMISSING, "workflow", "workflow %s v%lld is not deployed",
                          name, (long long)version);
    if (step != CF_DB_ROW)
        return cf_store_error(s, step, "read workflow", err);
    bool ok;
    int rc = tied(s, seq, payload, "workflow.deploy", false, &ok, err);
    free(payload);
    if (rc)
        return rc;
    return ok ? 0 : altered(err, "workflow", "workflow %s v%lld", name, (long long)version);
}

/* The kept payload of record seq, tied to that record's digest and action
 * (*payload new, NULL when there is none or it is not the record's). */
static int kept_payload(cf_store *s, int64_t seq, const char *action, char **payload,
                        cf_error *err)
{
    static const char sql[] = "SELECT payload FROM records WHERE seq=?";
    *payload = NULL;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    int step = cf_stmt_step(st);
    char *p = step == CF_DB_ROW && col(st, 0) ? strdup(col(st, 0)) : NULL;
    cf_stmt_reset(st);
    if (step != CF_DB_ROW && step != CF_DB_DONE)
        return cf_store_error(s, step, "read records", err);
    if (step == CF_DB_ROW && !p)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    bool ok = false;
    int rc = p ? tied(s, seq, p, action, false, &ok, err) : 0;
    if (rc || !ok) {
        free(p);
        return rc;
    }
    *payload = p;
    return 0;
}

/* The latest store.copy record (store/copy.c) as a parsed payload (*copy new,
 * NULL when the store was never copied); CF_EINVALID when its kept payload is
 * not the record's. */
static int latest_copy(cf_store *s, json_t **copy, int64_t *seq, cf_error *err)
{
    *copy = NULL;
    *seq = 0;
    if (cf_store_version(s) < 2) /* no kept payloads before schema 2, and no copies */
        return 0;
    int rc = cf_store_record_latest(s, "store:copy", seq, err);
    if (rc || !*seq)
        return rc;
    char *text = NULL;
    if ((rc = kept_payload(s, *seq, "store.copy", &text, err)))
        return rc;
    *copy = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return json_is_object(*copy) ? 0 : altered(err, "store", "%s", "the store's copy record");
}

int cf_integrity_init_key_path(cf_store *s, char **key_path, cf_error *err)
{
    *key_path = NULL;
    json_t *copy;
    int64_t seq;
    int rc = latest_copy(s, &copy, &seq, err);
    if (rc)
        return rc;
    if (!copy)
        return cf_store_meta_get(s, "key_path", key_path, err);
    const char *kp = json_string_value(json_object_get(copy, "init_key_path"));
    if (kp && !(*key_path = strdup(kp)))
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    json_decref(copy);
    return rc;
}

int cf_integrity_check_identity(cf_store *s, bool *test_clock, cf_error *err)
{
    char *id = NULL, *pk = NULL, *created = NULL, *tc = NULL, *kp = NULL;
    int rc = cf_store_meta_get(s, "store_id", &id, err);
    if (!rc)
        rc = cf_store_meta_get(s, "public_key", &pk, err);
    if (!rc)
        rc = cf_store_meta_get(s, "created_at", &created, err);
    if (!rc)
        rc = cf_store_meta_get(s, "test_clock", &tc, err);
    if (!rc)
        rc = cf_store_meta_get(s, "key_path", &kp, err);
    bool testing = tc && strcmp(tc, "true") == 0;
    /* A copy (store/copy.c) may have moved the key: meta then names the
     * place the latest store.copy record names, and record 1 the place
     * init chose, which that record carries over. */
    json_t *copy = NULL;
    int64_t copy_seq = 0;
    if (!rc && id)
        rc = latest_copy(s, &copy, &copy_seq, err);
    if (!rc && copy) {
        const char *moved = json_string_value(json_object_get(copy, "key_path"));
        const char *init = json_string_value(json_object_get(copy, "init_key_path"));
        if (!((!moved && !kp) || (moved && kp && strcmp(moved, kp) == 0)))
            rc = altered(err, "store", "%s", "the store's key path");
        free(kp);
        kp = NULL;
        if (!rc && init && !(kp = strdup(init)))
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    json_decref(copy);
    if (!rc && !id) {
        int64_t records = 0;
        if (!(rc = scalar(s, "SELECT count(*) FROM audit", NULL, &records, err)) && records)
            rc = altered(err, "store", "%s", "the store's identity");
    } else if (!rc) {
        bool ok;
        char *payload = cf_integrity_init_payload(id, pk, created ? created : "", testing, kp);
        rc = tied(s, 1, payload, "store.init", false, &ok, err);
        free(payload);
        if (!rc && (!ok || (tc && !testing)))
            rc = altered(err, "store", "%s",
                         "the store's identity, public key or clock setting");
    }
    if (test_clock)
        *test_clock = testing;
    free(id);
    free(pk);
    free(created);
    free(tc);
    free(kp);
    return rc;
}

int cf_integrity_check_schema(cf_store *s, char digest[65], cf_error *err)
{
    char *seq = NULL;
    int rc = cf_store_schema_digest(s, digest, err);
    if (!rc)
        rc = cf_store_meta_get(s, "schema_seq", &seq, err);
    if (rc)
        return rc;
    if (!seq) { /* a store not initialised yet: nothing to hold it to */
        int64_t records = 0;
        if ((rc = scalar(s, "SELECT count(*) FROM audit", NULL, &records, err)))
            return rc;
        return records ? altered(err, "schema", "%s", "the store's schema record") : 0;
    }
    char *payload = cf_integrity_schema_payload(digest, cf_store_version(s));
    bool ok;
    rc = tied(s, atoll(seq), payload, "store.schema", false, &ok, err);
    free(payload);
    if (!rc && !ok) {
        /* A copy onto another backend (store/copy.c) records the digest of
         * the schema it made in its store.copy record. */
        char *text = NULL;
        rc = kept_payload(s, atoll(seq), "store.copy", &text, err);
        json_t *p = text ? json_loads(text, 0, NULL) : NULL;
        const char *d = json_string_value(json_object_get(p, "schema"));
        ok = d && strcmp(d, digest) == 0 &&
             json_integer_value(json_object_get(p, "version")) == cf_store_version(s);
        json_decref(p);
        free(text);
    }
    free(seq);
    if (rc)
        return rc;
    return ok ? 0
              : cf_err_set(err, CF_EINVALID, "schema",
                           "the store's schema was altered outside caseflow (a table, index, "
                           "trigger or view that caseflow did not create, or one it did "
                           "create changed); nothing was done (run caseflow audit verify)");
}

int cf_integrity_check_case(cf_store *s, const char *case_id, char found[65],
                            char recorded[65], cf_error *err)
{
    return cf_integrity_check_case_parts(s, case_id, NULL, false, found, recorded, err);
}

int cf_integrity_check_case_parts(cf_store *s, const char *case_id, cf_case_parts *parts,
                                  bool have_row, char found[65], char recorded[65],
                                  cf_error *err)
{
    /* The case's newest history record in the chain (from the newest
     * record about the case back past its reads, in the audit_case index;
     * the action is tested here, as an IN list costs SQLite a table per
     * run), and the history row written with it, which carries the case
     * digest. */
    static const char latest[] =
        "SELECT seq, action, digest FROM audit WHERE case_id=? ORDER BY seq DESC";
    static const char sql[] =
        "SELECT e.case_id, e.at, e.actor, e.role, e.event, e.outcome, e.from_state,"
        " e.to_state, e.data_sha256, e.plugin, e.plugin_version, e.plugin_sha256,"
        " e.case_sha256 FROM events e WHERE e.audit_seq=?";
    recorded[0] = found[0] = '\0';
    int64_t seq = 0;
    char digest[65] = "";
    cf_stmt *st = cf_store_stmt(s, latest, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, case_id);
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *a = col(st, 1);
        if (a && (!strcmp(a, "change") || !strcmp(a, "collection") || !strcmp(a, "retention") ||
                  !strcmp(a, "erasure") || !strcmp(a, "workflow.migrate"))) {
            seq = cf_stmt_int64(st, 0);
            snprintf(digest, sizeof digest, "%s", col(st, 2) ? col(st, 2) : "");
            break;
        }
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read audit", err);
    rc = 0;
    st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    int step = cf_stmt_step(st);
    char *payload = NULL;
    if (step == CF_DB_ROW) {
        cf_event_fields f = {
            .case_id = col(st, 0), .at = cf_stmt_int64(st, 1), .actor = col(st, 2),
            .role = col(st, 3), .event = col(st, 4), .outcome = col(st, 5),
            .from = col(st, 6), .to = col(st, 7), .data_sha256 = col(st, 8),
            .plugin = col(st, 9), .plugin_version = col(st, 10),
            .plugin_sha256 = col(st, 11), .case_sha256 = col(st, 12)};
        if (same(f.case_id, case_id) && f.actor && f.event && f.to)
            payload = cf_integrity_event_payload(&f);
        snprintf(recorded, 65, "%s", f.case_sha256 ? f.case_sha256 : "");
    }
    cf_stmt_reset(st);
    if (step != CF_DB_ROW && step != CF_DB_DONE) {
        free(payload);
        return cf_store_error(s, step, "read history", err);
    }
    /* The digest counts only when the history record carrying it is the
     * one the chain holds; otherwise both could have been edited to agree. */
    bool ok = false;
    if (payload && digest_is(payload, digest))
        rc = case_matches(s, case_id, parts, have_row, recorded, found, &ok, err);
    free(payload);
    if (rc)
        return rc;
    if (!ok)
        return cf_err_set(err, CF_EINVALID, "case",
                          "case %s was altered outside caseflow: its rows do not match the "
                          "digest the audit chain holds; nothing was written to it",
                          case_id);
    return 0;
}

/* What a checkpoint is about to sign, beyond the records themselves: the
 * history records written since record `after` match theirs, every case
 * they touched matches its digest, and the users, policies, workflows, the
 * identity and the schema match the chain. */
int cf_integrity_verify_tail(cf_store *s, int64_t after, int64_t history, bool cases_too,
                             cf_error *err)
{
    /* The history rows of records after `after`, in seq order: read from
     * the first of them on (found in the audit_seq index, over those rows
     * alone: seq + 0 keeps SQLite from looking for the least seq by walking
     * the table from its start), not by testing every row of the table, so
     * a checkpoint's cost is that of the records it signs, not of the
     * store. The rows are the same: all with audit_seq > ?1, whatever their
     * order. Where the walk starts comes from an index, which an intruder
     * editing the file could doctor to start past a forged row; so the rows
     * read must be exactly as many as the chain's history records after the
     * checkpoint, each with a record later than the one before (audit_seq is
     * read from the row itself): a row skipped, or a copy of another,
     * cannot make up the number. */
    static const char events[] =
        "SELECT e.seq, e.case_id, e.at, e.actor, e.role, e.event, e.outcome, e.from_state,"
        " e.to_state, e.data, e.data_sha256, e.plugin, e.plugin_version, e.plugin_sha256,"
        " e.case_sha256, a.digest, a.case_id, a.at, a.actor, a.role, e.audit_seq FROM events e"
        " JOIN audit a ON a.seq = e.audit_seq"
        " WHERE e.seq >= (SELECT min(seq + 0) FROM events WHERE audit_seq > ?1)"
        " AND e.audit_seq > ?1 ORDER BY e.seq";
    static const char workflows[] = "SELECT name, version FROM workflows";
    cf_stmt *st = cf_store_stmt(s, events, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, after);
    json_t *cases = json_object();
    int rc = 0, step;
    int64_t nrows = 0, last = after;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *data = col(st, 9), *dsha = col(st, 10);
        int64_t aseq = cf_stmt_int64(st, 20);
        if (aseq <= last) {
            rc = broken(err, "events", "history record %lld: out of the order of its audit "
                        "record (%lld after %lld)", (long long)cf_stmt_int64(st, 0),
                        (long long)aseq, (long long)last);
            break;
        }
        last = aseq;
        nrows++;
        char h[65];
        if (data)
            cf_sha256_hex(data, strlen(data), h);
        cf_event_fields f = {
            .case_id = col(st, 1), .at = cf_stmt_int64(st, 2), .actor = col(st, 3),
            .role = col(st, 4), .event = col(st, 5), .outcome = col(st, 6),
            .from = col(st, 7), .to = col(st, 8), .data_sha256 = dsha,
            .plugin = col(st, 11), .plugin_version = col(st, 12),
            .plugin_sha256 = col(st, 13), .case_sha256 = col(st, 14)};
        char *payload = f.case_id && f.actor && f.event && f.to
                            ? cf_integrity_event_payload(&f)
                            : NULL;
        /* The history row says what its audit record says: the chain's
         * rules judged the record's actor and role, so the row's must be
         * those. */
        if ((data && !same(h, dsha)) || !digest_is(payload, col(st, 15)) ||
            !same(col(st, 16), f.case_id) || cf_stmt_int64(st, 17) != f.at ||
            !same(col(st, 18), f.actor) || !same(col(st, 19), f.role))
            rc = broken(err, "events", "history record %lld: does not match its audit record",
                        (long long)cf_stmt_int64(st, 0));
        else
            json_object_set_new(cases, f.case_id, json_true());
        free(payload);
    }
    cf_stmt_reset(st);
    if (!rc && step != CF_DB_DONE && step != CF_DB_ROW)
        rc = cf_store_error(s, step, "verify history", err);
    if (!rc && nrows != history)
        rc = broken(err, "events", "%lld history row(s) after checkpoint %lld, but the chain "
                    "records %lld", (long long)nrows, (long long)after, (long long)history);
    const char *id;
    json_t *v;
    json_object_foreach(cases, id, v)
    {
        char found[65], recorded[65];
        if (rc || !cases_too || (rc = cf_integrity_check_case(s, id, found, recorded, err)))
            break;
    }
    json_decref(cases);
    json_t *rows = NULL;
    size_t i;
    if (!rc && !(rc = cf_store_user_names(s, &rows, err))) {
        json_array_foreach(rows, i, v)
        {
            cf_user_row u;
            if ((rc = cf_store_user_get(s, json_string_value(v), &u, err)))
                break;
            rc = cf_integrity_check_user(s, &u, err);
            cf_user_row_clear(&u);
            if (rc)
                break;
        }
        json_decref(rows);
        rows = NULL;
    }
    if (!rc && !(rc = cf_store_policy_list(s, &rows, err))) {
        json_array_foreach(rows, i, v)
        if (!rc)
            rc = cf_integrity_check_policy(s, json_string_value(json_array_get(v, 0)),
                                           json_string_value(json_array_get(v, 1)),
                                           json_integer_value(json_array_get(v, 2)), err);
        json_decref(rows);
    }
    if (!rc && (st = cf_store_stmt(s, workflows, err))) {
        json_t *wfs = json_array();
        while ((step = cf_stmt_step(st)) == CF_DB_ROW)
            json_array_append_new(wfs, json_pack("[s?, I]", col(st, 0),
                                                 (json_int_t)cf_stmt_int64(st, 1)));
        cf_stmt_reset(st);
        json_array_foreach(wfs, i, v)
        if (!rc)
            rc = cf_integrity_check_workflow(s, json_string_value(json_array_get(v, 0))
                                                    ? json_string_value(json_array_get(v, 0))
                                                    : "",
                                             json_integer_value(json_array_get(v, 1)), err);
        json_decref(wfs);
    } else if (!rc) {
        rc = err ? err->code : CF_EIO;
    }
    char digest[65];
    if (!rc)
        rc = cf_integrity_check_identity(s, NULL, err);
    if (!rc)
        rc = cf_integrity_check_schema(s, digest, err);
    return rc;
}

/* ---- a store of schema 1, before it is migrated ---------------------------------- */

/* Users as schema 1 tied them: the add record's digest over {user, roles,
 * created_at, created_by}, and a disable record {user, disabled:"yes"} for
 * each disabled user. */
static int verify_users_v1(cf_store *s, cf_error *err)
{
    static const char sql[] = "SELECT name, roles, disabled, created_at, created_by, audit_seq"
                              " FROM users";
    static const char disabled[] =
        "SELECT count(*) FROM audit WHERE action='user.disable' AND digest=?";
    static const char count[] = "SELECT count(*) FROM audit WHERE action='user.add'";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *rows = json_array();
    int step;
    while ((step = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(rows, json_pack("[s?, s?, i, I, s?, I]", col(st, 0), col(st, 1),
                                              (int)cf_stmt_int64(st, 2),
                                              (json_int_t)cf_stmt_int64(st, 3),
                                              col(st, 4),
                                              (json_int_t)cf_stmt_int64(st, 5)));
    cf_stmt_reset(st);
    int rc = step == CF_DB_DONE ? 0 : cf_store_error(s, step, "verify users", err);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (rc)
            break;
        const char *name = json_string_value(json_array_get(r, 0));
        json_t *p = json_pack("{s:s, s:s, s:I, s:s}", "user", name ? name : "", "roles",
                              json_string_value(json_array_get(r, 1))
                                  ? json_string_value(json_array_get(r, 1))
                                  : "",
                              "created_at", json_integer_value(json_array_get(r, 3)),
                              "created_by",
                              json_string_value(json_array_get(r, 4))
                                  ? json_string_value(json_array_get(r, 4))
                                  : "");
        bool ok;
        char *payload = canon(p);
        rc = tied(s, json_integer_value(json_array_get(r, 5)), payload, "user.add", false, &ok,
                  err);
        free(payload);
        if (!rc && !ok)
            rc = broken(err, "users", "user %s: does not match its audit record",
                        name ? name : "?");
        char *dp = canon(json_pack("{s:s, s:s}", "user", name ? name : "", "disabled", "yes"));
        char h[65];
        cf_sha256_hex(dp ? dp : "", dp ? strlen(dp) : 0, h);
        free(dp);
        int64_t n = 0;
        if (!rc && !(rc = scalar(s, disabled, h, &n, err)) &&
            (n > 0) != (json_integer_value(json_array_get(r, 2)) != 0))
            rc = broken(err, "users", "user %s: disabled flag altered", name ? name : "?");
    }
    int64_t records = 0;
    if (!rc && !(rc = scalar(s, count, NULL, &records, err)) &&
        records != (int64_t)json_array_size(rows))
        rc = broken(err, "users", "%s", "user rows added or deleted");
    json_decref(rows);
    return rc;
}

/* Policies as schema 1 kept them: meta rows "policy.KEY", each the latest
 * policy.set:KEY record; meta holds nothing else but the identity. */
static int verify_meta_v1(cf_store *s, cf_error *err)
{
    static const char other[] = "SELECT count(*) FROM meta WHERE key NOT IN ('store_id',"
                                " 'created_at', 'public_key') AND key NOT LIKE 'policy.%'";
    static const char sql[] = "SELECT key, value FROM meta WHERE key LIKE 'policy.%'";
    static const char latest[] =
        "SELECT digest FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1";
    static const char count[] = "SELECT count(DISTINCT action) FROM audit"
                                " WHERE action LIKE 'policy.set:%'";
    int64_t n = 0;
    int rc = scalar(s, other, NULL, &n, err);
    if (!rc && n)
        rc = broken(err, "meta", "%s", "a row caseflow did not write");
    cf_stmt *st = rc ? NULL : cf_store_stmt(s, sql, err);
    if (!rc && !st)
        rc = err ? err->code : CF_EIO;
    json_t *rows = json_array();
    int step;
    while (st && (step = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(rows, json_pack("[s?, s?]", col(st, 0), col(st, 1)));
    if (st)
        cf_stmt_reset(st);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (rc)
            break;
        const char *key = json_string_value(json_array_get(r, 0)) + 7;
        char action[96], *payload = cf_integrity_policy_payload(
                             key, json_string_value(json_array_get(r, 1)));
        snprintf(action, sizeof action, "policy.set:%s", key);
        cf_stmt *l = cf_store_stmt(s, latest, err);
        if (!l) {
            free(payload);
            rc = err ? err->code : CF_EIO;
            break;
        }
        cf_stmt_bind_text_copy(l, 1, action);
        bool ok = cf_stmt_step(l) == CF_DB_ROW && digest_is(payload, col(l, 0));
        cf_stmt_reset(l);
        free(payload);
        if (!ok)
            rc = broken(err, "meta", "policy %s does not match its audit record", key);
    }
    int64_t records = 0;
    if (!rc && !(rc = scalar(s, count, NULL, &records, err)) &&
        records != (int64_t)json_array_size(rows))
        rc = broken(err, "meta", "%s", "policy rows deleted");
    json_decref(rows);
    return rc;
}

int cf_integrity_verify_v1(cf_store *s, const char *pk_hex, const char *store_id,
                           cf_error *err)
{
    bool pristine = false;
    int rc = cf_store_schema_is(s, 1, &pristine, err);
    if (!rc && !pristine)
        rc = broken(err, "schema", "%s",
                    "objects caseflow did not create (a trigger, index, view or table), or "
                    "one it did create changed");
    json_t *report = NULL;
    if (!rc)
        rc = cf_chain_verify_store(s, CF_CHAIN_LEGACY, &report, NULL, err);
    if (!rc)
        rc = cf_audit_verify_checkpoints(s, pk_hex, store_id, report, err);
    if (!rc)
        rc = cf_integrity_check_identity(s, NULL, err);
    int64_t n = 0;
    if (!rc)
        rc = verify_meta_v1(s, err);
    if (!rc)
        rc = verify_events(s, NULL, NULL, &n, err);
    unsigned char key[crypto_shorthash_KEYBYTES];
    randombytes_buf(key, sizeof key);
    if (!rc)
        rc = verify_cases(s, NULL, key, NULL, &n, err);
    if (!rc)
        rc = verify_users_v1(s, err);
    if (!rc)
        rc = verify_workflows(s, &n, err);
    json_decref(report);
    return rc;
}
