/*
 * The store: caseflow's tables, behind one interface whatever holds them.
 * store/sqlite.c is the SQLite backend (one file: the connection, schema,
 * migrations, statement cache and transactions); store/tables.c reads and
 * writes the rows through the statement layer (store/db.h), as do the
 * engine's other modules for their own tables; nothing else calls SQLite.
 * Statements are prepared once per connection and reused. Writes happen
 * only inside cf_store_begin/cf_store_commit (BEGIN IMMEDIATE, so two
 * processes never interleave a command), with savepoints for the units of
 * a bulk intake.
 */
#ifndef CF_STORE_H
#define CF_STORE_H

#include <sqlite3.h>
#include <sodium.h>

#include "hash.h"
#include "internal.h"
#include "store/db.h"

#define CF_SCHEMA_VERSION 4
#define CF_STORE_APPLICATION_ID 0x43464c57 /* "CFLW" */

typedef struct cf_store cf_store;

/* A case row. Strings are owned by the struct (cf_case_row_clear). */
typedef struct cf_case_row {
    int64_t seq;
    char *id;
    char *source;
    char *reference;
    char *workflow;
    int64_t version;
    char *state;
    json_t *data; /* owned reference */
    int64_t revision;
    int64_t created_at;
    int64_t updated_at;
    int64_t deadline_at; /* 0: none */
    int64_t review_at;   /* retention review date, 0: none */
    char *legal_hold;    /* reason of a legal hold, or NULL */
    int64_t disposed_at; /* 0: not disposed */
} cf_case_row;

void cf_case_row_clear(cf_case_row *r);

/* Open (and with create, make) the store at path; ":memory:" is allowed.
 * Checks that the file is a caseflow store. A new file gets the whole
 * current schema; a store of an older schema is left for its opener to
 * migrate with cf_store_migrate (readonly: CF_EIO). With create, an existing
 * file must be ours and loses group and other permissions. */
int cf_store_open(const char *path, int create, int readonly, cf_store **out,
                  cf_error *err);
void cf_store_close(cf_store *s);
/* The store's schema version (PRAGMA user_version). */
int cf_store_version(const cf_store *s);
/* Migrate an older store to CF_SCHEMA_VERSION in one transaction; hook (may
 * be NULL) runs inside it before (before=true: check what is there) and
 * after each step to version `to` (> 1), so the step's audit record commits
 * with it or not at all. */
typedef int (*cf_store_migrate_hook)(void *ctx, cf_store *s, int to, bool before,
                                     cf_error *err);
int cf_store_migrate(cf_store *s, cf_store_migrate_hook hook, void *ctx, cf_error *err);
/* *ok: the schema objects are exactly those of a fresh store of version. */
int cf_store_schema_is(cf_store *s, int version, bool *ok, cf_error *err);
/* SHA-256 of the schema as text (integrity.h: tied to the chain). */
int cf_store_schema_digest(cf_store *s, char out[65], cf_error *err);
/* From now on, every transaction begins by checking that the schema still
 * has this digest (recomputed only when PRAGMA schema_version moves from
 * cookie, its value when the digest was taken; -1 to recompute at the next
 * begin); a mismatch fails the begin with CF_EINVALID. NULL or "": no
 * check. */
void cf_store_expect_schema(cf_store *s, const char *digest, int64_t cookie);
/* When the schema's digest is no longer the expected one, ask `recorded`
 * (inside the transaction being begun) for the digest the store's record
 * now holds: if it returns 0 with the digest the schema has, that change
 * was recorded by another process (a store grant, say) and becomes the
 * expected digest; otherwise the begin fails as altered. NULL: no second
 * look. A long-running process (caseflowd) so follows a recorded change as
 * a fresh process would, without a restart. */
void cf_store_recheck_schema(cf_store *s,
                             int (*recorded)(cf_store *s, char digest[65], cf_error *err));
/* PRAGMA schema_version: it changes with any change to the schema. */
int cf_store_schema_cookie(cf_store *s, int64_t *cookie, cf_error *err);
/* Hash the rows of st into h with their storage types (see store/tables.c); st
 * is reset. */
int cf_store_hash_rows(cf_store *s, cf_stmt *st, cf_sha256 *h,
                       cf_error *err);
/* Columns [first, end) of st's current row, hashed into h as
 * cf_store_hash_rows hashes a row (ended by ';'): lets one statement over a
 * whole table, with a key column in front, hash each case's rows as the
 * per-case query would. */
void cf_store_hash_row(cf_stmt *st, int first, int end, cf_sha256 *h);
/* The SQLite connection of a SQLite store (NULL on another backend): only
 * for what is SQLite's own (the verify twin, memvfs). */
sqlite3 *cf_store_db(cf_store *s);
/* Whether path names a PostgreSQL store (a postgresql:// or postgres://
 * URI) rather than a SQLite file. */
bool cf_store_is_pg_uri(const char *path);
/* A store's name as messages show it: a URI without its password (new;
 * NULL when out of memory). */
char *cf_pg_store_redact(const char *uri);
/* Whether s is a PostgreSQL store. */
bool cf_store_is_pg(const cf_store *s);
/* A number that changes whenever another connection commits (PRAGMA
 * data_version; on PostgreSQL a new number at every call). */
int64_t cf_store_data_version(cf_store *s);
/* As cf_store_stmt, with the text PostgreSQL runs instead where the
 * dialects differ (pg_sql NULL: the same text on both). Cached by the
 * address of sql. */
cf_stmt *cf_store_stmt_for(cf_store *s, const char *sql, const char *pg_sql, cf_error *err);
/* The prepared statement for sql, cached by the address of the (static)
 * string; reset and with bindings cleared. Owned by the store: never
 * finalized by the caller. NULL on error (err filled). */
cf_stmt *cf_store_stmt(cf_store *s, const char *sql, cf_error *err);
/* A statement for sql built at run time, new in *out (end it with
 * cf_stmt_finalize). Returns CF_DB_OK, or a backend code for
 * cf_store_error (then *out is NULL). */
int cf_store_prepare(cf_store *s, const char *sql, cf_stmt **out);
/* Rows changed by the last INSERT, UPDATE or DELETE on the connection. */
int64_t cf_store_changes(cf_store *s);
/* Rows changed since the connection opened: a cheap "did anything write"
 * between two points of one transaction. */
int64_t cf_store_total_changes(cf_store *s);
/* The row id of the last INSERT into a rowid table. */
int64_t cf_store_last_insert_id(cf_store *s);
/* Set the page cache (KiB when negative, as PRAGMA cache_size) and return
 * the size it had; 0 when it could not be read (then it is left alone), and
 * always 0 on a backend without a per-connection cache. */
int64_t cf_store_cache_size(cf_store *s, int64_t size);
/* Fold a write-ahead log back into the store after a long read (best
 * effort, nothing on a backend without one). */
void cf_store_checkpoint(cf_store *s);
/* Map the connection's last SQLite error to a CF_E code and message. */
int cf_store_error(cf_store *s, int rc, const char *what, cf_error *err);

/* What the engine hangs on its store. before_append runs inside the
 * transaction before audit record `seq` is appended (the engine writes due
 * checkpoints there; a failure fails the append); after_commit and
 * after_rollback run when an outermost transaction ends. Any may be NULL. */
typedef struct cf_store_hooks {
    int (*before_append)(void *ctx, int64_t seq, int64_t at, const char *action,
                         cf_error *err);
    void (*after_commit)(void *ctx);
    void (*after_rollback)(void *ctx);
    /* after a savepoint was rolled back, leaving `depth` (cf_store_depth) */
    void (*after_rollback_to)(void *ctx, int depth);
    /* a long loop over the store (the chain's verify) has done `done` of
     * `total` items (-1: not known); see cf_engine_set_progress */
    void (*progress)(void *ctx, const char *what, int64_t done, int64_t total);
    void *ctx;
} cf_store_hooks;
void cf_store_set_hooks(cf_store *s, const cf_store_hooks *h);
/* Borrowed. */
const cf_store_hooks *cf_store_get_hooks(const cf_store *s);

/* Whether s was opened immutable (a read-only open on media that cannot
 * hold WAL's shared memory): SQLite then takes no locks and sees no
 * commits, so nothing can be learnt from PRAGMA data_version. */
bool cf_store_immutable(const cf_store *s);

/* Report progress through the progress hook, if any. */
void cf_store_progress(cf_store *s, const char *what, int64_t done, int64_t total);

/* Transactions. begin is BEGIN IMMEDIATE: it waits (busy timeout) for other
 * writers. savepoint/release/rollback_to nest a unit inside it. */
int cf_store_begin(cf_store *s, cf_error *err);
int cf_store_commit(cf_store *s, cf_error *err);
void cf_store_rollback(cf_store *s);
bool cf_store_in_tx(const cf_store *s);
/* 0: no transaction; 1: a transaction; more: savepoints inside it. */
int cf_store_depth(const cf_store *s);
/* A read transaction (deferred): one consistent snapshot, no write lock;
 * end it with cf_store_rollback. */
int cf_store_begin_read(cf_store *s, cf_error *err);
/* A write transaction that does not take the store's write lock on
 * PostgreSQL (READ COMMITTED; what it writes must lock its rows itself and
 * append nothing to the chain: webhook delivery bookkeeping); on SQLite, or
 * inside a batch, the same as cf_store_begin. */
int cf_store_begin_unlocked(cf_store *s, cf_error *err);
/* Group mode (a batch): while on and a transaction is open, cf_store_begin
 * and cf_store_begin_read open a savepoint, cf_store_commit releases it and
 * cf_store_rollback rolls back to it; only the outermost commit is durable. */
void cf_store_set_group(cf_store *s, bool on);
int cf_store_savepoint(cf_store *s, cf_error *err);
int cf_store_release(cf_store *s, cf_error *err);
void cf_store_rollback_to(cf_store *s);

/* meta */
int cf_store_meta_get(cf_store *s, const char *key, char **value, cf_error *err);
int cf_store_meta_set(cf_store *s, const char *key, const char *value, cf_error *err);

/* A user row. roles and os_users are comma-separated lists (os_users ""
 * when unbound); audit_seq is the audit record of the user's latest change,
 * whose digest is that of cf_integrity_user_payload(row). Strings owned by
 * the struct (cf_user_row_clear). */
typedef struct cf_user_row {
    char *name, *roles, *created_by, *os_users;
    int disabled;
    int64_t created_at, audit_seq;
} cf_user_row;
void cf_user_row_clear(cf_user_row *u);

/* CF_EDENIED (field "actor") for an unknown user. */
int cf_store_user_get(cf_store *s, const char *name, cf_user_row *out, cf_error *err);
/* Insert (insert=true; CF_EINVALID when the name exists) or update a row. */
int cf_store_user_put(cf_store *s, const cf_user_row *u, bool insert, cf_error *err);
int cf_store_user_exists(cf_store *s, const char *name, bool *exists, cf_error *err);
int cf_store_user_count(cf_store *s, int64_t *n, cf_error *err);
int cf_store_user_list(cf_store *s, json_t **out, cf_error *err);
/* Every user name (array of strings, new). */
int cf_store_user_names(cf_store *s, json_t **out, cf_error *err);

/* policies: one row per key set, tied to its latest policy.set record.
 * *value NULL when the key was never set. */
int cf_store_policy_get(cf_store *s, const char *key, char **value, int64_t *audit_seq,
                        cf_error *err);
int cf_store_policy_set(cf_store *s, const char *key, const char *value, int64_t audit_seq,
                        cf_error *err);
/* Array of [key, value, audit_seq] (new). */
int cf_store_policy_list(cf_store *s, json_t **out, cf_error *err);

/* The payload text of audit record seq, kept for records whose history
 * verify replays (user and policy changes, migrations, alarms), with the
 * subject it is about ("user:NAME", "policy:KEY"; NULL for none). */
int cf_store_record_put(cf_store *s, int64_t seq, const char *subject, const char *payload,
                        cf_error *err);
/* The newest record about subject (0: none). */
int cf_store_record_latest(cf_store *s, const char *subject, int64_t *seq, cf_error *err);

/* workflows */
int cf_store_workflow_latest(cf_store *s, const char *name, int64_t *version,
                             char hash[65], cf_error *err);
/* The bundle of name@version (*bundle new), checked against the hash stored
 * beside it (CF_EIO when it does not match), and that hash in hash. */
int cf_store_workflow_get_hashed(cf_store *s, const char *name, int64_t version,
                                 json_t **bundle, char hash[65], cf_error *err);
int cf_store_workflow_get(cf_store *s, const char *name, int64_t version,
                          json_t **bundle, cf_error *err);
int cf_store_workflow_put(cf_store *s, const char *name, int64_t version,
                          int64_t declared, const char *hash, const char *bundle,
                          int64_t at, const char *by, int64_t audit_seq, cf_error *err);
int cf_store_workflow_list(cf_store *s, json_t **out, cf_error *err);
/* The cases not disposed of, counted by workflow, version and state: a new
 * array of [workflow, version, state, count]. */
int cf_store_case_version_counts(cf_store *s, json_t **out, cf_error *err);

/* The parsed data of cases this process wrote (datacache.c), for the next
 * read of the same bytes. Keyed by the exact bytes of the data column: a row
 * changed by anyone else is parsed afresh. */
typedef struct cf_data_cache cf_data_cache;
/* A new, empty cache; NULL when out of memory (then nothing is kept). */
cf_data_cache *cf_data_cache_new(void);
/* Free c and all it holds (NULL: nothing). */
void cf_data_cache_free(cf_data_cache *c);
/* Keep data (the caller's only reference, taken) as the parse of text (its
 * canonical text, cf_json_canonical of data as it is now; malloc'd, taken).
 * Kept only when it can be handed out exactly as json_loadb(text) would give
 * it (datacache.c); else both are freed. c may be NULL. */
void cf_data_cache_put(cf_data_cache *c, char *text, json_t *data);
/* The data kept for exactly these bytes (a new reference the caller owns and
 * may change; the cache forgets it), or NULL. */
json_t *cf_data_cache_take(cf_data_cache *c, const void *bytes, size_t len);
/* The store's cache (NULL when it has none), for cf_data_cache_put after a
 * case's data was written; cf_store_case_get* take from it. */
cf_data_cache *cf_store_data_cache(cf_store *s);

/* cases */
int cf_store_case_get(cf_store *s, const char *id, cf_case_row *out, cf_error *err);
/* The same, and the SHA-256 of the row as stored (the row part of the case
 * digest, integrity.h) into row_part. */
int cf_store_case_get_hashed(cf_store *s, const char *id, cf_case_row *out,
                             unsigned char row_part[32], cf_error *err);
/* The state, workflow and version of a case (new strings). */
int cf_store_case_state(cf_store *s, const char *id, char **state, char **workflow,
                        int64_t *version, cf_error *err);
int cf_store_case_by_ref(cf_store *s, const char *source, const char *reference,
                         char **id, char **state, cf_error *err);
int cf_store_case_next_seq(cf_store *s, int64_t *seq, cf_error *err);
int cf_store_case_insert(cf_store *s, const cf_case_row *r, const char *data,
                         cf_error *err);
/* Update state/data/deadline/version and bump the revision, only if the case is still
 * at `revision`: CF_ECONFLICT otherwise. */
int cf_store_case_update(cf_store *s, const cf_case_row *r, const char *data,
                         cf_error *err);
/* Iterate cases (optionally in one state) ordered by seq. */
int cf_store_case_list(cf_store *s, const char *state, size_t limit,
                       json_t **out, cf_error *err);

/* Lawful disposal: erase a case's history payloads, task details,
 * notification payloads, keys and timers (their digests stay in the chain). */
int cf_store_case_erase(cf_store *s, const char *id, cf_error *err);
/* Cases whose retention review is due by now: array of {id, state, outcome,
 * review_at, legal_hold}. */
int cf_store_retention_due(cf_store *s, int64_t now, json_t **out, cf_error *err);

/* history */
/* A history record; f->case_sha256 and the audit record's seq tie it to the
 * chain (integrity.h). */
struct cf_event_fields;
int cf_store_event_add(cf_store *s, const struct cf_event_fields *f, const char *data,
                       int64_t audit_seq, cf_error *err);
int cf_store_event_last_actor(cf_store *s, const char *case_id,
                              const char *event, char **actor, cf_error *err);
int cf_store_event_list(cf_store *s, const char *case_id, json_t **out,
                        cf_error *err);

/* timers */
int cf_store_timer_set(cf_store *s, const char *case_id, const char *event,
                       const char *state, int64_t due, cf_error *err);
int cf_store_timer_clear_state(cf_store *s, const char *case_id,
                               const char *state, cf_error *err);
int cf_store_timer_delete(cf_store *s, const char *case_id, const char *event,
                          cf_error *err);
/* The due time of a case's timer; CF_ENOTFOUND (err untouched) when it is
 * not set. */
int cf_store_timer_get(cf_store *s, const char *case_id, const char *event, int64_t *due,
                       cf_error *err);
/* Due timers (array of {case, event, state, due}), oldest first. */
int cf_store_timer_due(cf_store *s, int64_t now, size_t skip, size_t limit, json_t **out,
                       cf_error *err);
/* Where a walk over the due timers stands: the last timer read (due time,
 * rowid). Start at {INT64_MIN, INT64_MIN}. */
typedef struct cf_timer_cursor {
    int64_t due;
    int64_t rowid;
} cf_timer_cursor;
/* The next `limit` timers due by `now` after *after (array of {case, event,
 * state, due_at, due}, in the order of the due-time index: due time, then
 * the order they were set in); *after moves to the last one returned. One
 * page costs the same wherever it starts and however many timers share a
 * due time. *out is new; CF_ENOMEM or CF_EIO. */
/* On PostgreSQL cf_store_timer_due_after also claims each timer it returns
 * (a session advisory lock), marking one another tick holds with
 * "claimed_elsewhere": true; cf_store_timer_unclaim releases this
 * session's claims (0, or CF_EIO; nothing on SQLite). */
int cf_store_timer_unclaim(cf_store *s);
int cf_store_timer_due_after(cf_store *s, int64_t now, cf_timer_cursor *after, size_t limit,
                             json_t **out, cf_error *err);
int cf_store_timer_list(cf_store *s, const char *case_id, json_t **out,
                        cf_error *err);

/* tasks, keys, notifications */
int cf_store_task_add(cf_store *s, const char *case_id, const char *role,
                      const char *kind, const char *detail, int64_t at,
                      cf_error *err);
int cf_store_task_list(cf_store *s, const char *case_id, json_t **out,
                       cf_error *err);
int cf_store_key_add(cf_store *s, const char *kind, const char *value,
                     const char *case_id, cf_error *err);
/* How many cases other than `except` hold (kind, value), up to 10001. */
int cf_store_key_count(cf_store *s, const char *kind, const char *value,
                       const char *except, int64_t *n, cf_error *err);
/* Case ids holding (kind, value), except `except` (at most 1000); array of
 * strings. */
int cf_store_key_find(cf_store *s, const char *kind, const char *value,
                      const char *except, json_t **out, cf_error *err);
/* The cases other than `except` holding (kind, value), in one look-up when
 * they are few: when at most `limit` do, *held is their number (as
 * cf_store_key_count gives it) and *ids (new reference) the array of their
 * ids, as cf_store_key_find gives them; else *held is cf_store_key_count's
 * count (more than limit) and *ids NULL. */
int cf_store_key_peers(cf_store *s, const char *kind, const char *value,
                       const char *except, int64_t limit, int64_t *held, json_t **ids,
                       cf_error *err);
/* Set a task's status ("claimed", "done"), assignee, closing time (0: none)
 * and result text (may be NULL). */
int cf_store_task_set(cf_store *s, int64_t id, const char *status, const char *assignee,
                      int64_t closed_at, const char *result, cf_error *err);
/* A task's status and assignee (new malloc'd strings; assignee NULL when
 * none); CF_ENOTFOUND (field "task"). */
int cf_store_task_status(cf_store *s, int64_t id, char **status, char **assignee,
                         cf_error *err);
int cf_store_notify_add(cf_store *s, const char *case_id, const char *channel,
                        const char *payload, int64_t at, cf_error *err);

/* Moving a store (store/copy.c). Copy every table of `from` into a new store
 * at `to` (a file that must not exist, or a postgresql:// URI of a database
 * without a caseflow schema), each value with its storage class and bytes,
 * in one transaction on the target (a SQLite target is written beside `to`
 * and takes its name only when complete), reading `from` in one snapshot
 * (the caller holds no transaction on it). ready (may be NULL) runs once
 * `to` was found free and before anything is made; finish (may be NULL)
 * runs inside the target's transaction after the rows, with their counts
 * per table (borrowed {table: n}), to add what the copy records. Progress
 * goes through from's progress hook, per table ("store copy: audit").
 * *rows (new) the counts. Errors: CF_EINVALID `to` exists or has a caseflow
 * schema; CF_ENOTFOUND, CF_EMISSING, CF_EDENIED connecting to `to` (as at
 * open); the hooks' errors; CF_EIO. Nothing is left at `to` on failure. */
typedef struct cf_store_copy_hooks {
    int (*ready)(void *ctx, cf_error *err);
    int (*finish)(void *ctx, cf_store *to, const json_t *rows, cf_error *err);
    void *ctx;
} cf_store_copy_hooks;
int cf_store_copy_tables(cf_store *from, const char *to, const cf_store_copy_hooks *h,
                         json_t **rows, cf_error *err);

/* PostgreSQL roles (store/pg_store.c; docs/postgres.md "Roles and grants"):
 * give the login role `role` exactly the privileges caseflow's commands
 * need on schema caseflow (USAGE; SELECT; INSERT, column UPDATE and DELETE
 * only where the engine writes), revoking whatever else it held there, and
 * take TEMPORARY on the database from PUBLIC when the session's role owns
 * the database (*temp_revoked: the role can no longer make temporary
 * tables). Runs inside the caller's write transaction, as the owner of the
 * schema. Errors: CF_EINVALID a name that is not a plain role name, or a
 * superuser or the owner (no grant holds them back); CF_ENOTFOUND no such
 * role; CF_EDENIED the session's role does not own the schema; else the
 * store's. Only with PostgreSQL built in (CF_WITH_POSTGRES). */
int cf_store_pg_grant(cf_store *s, const char *role, bool *temp_revoked, cf_error *err);

#endif /* CF_STORE_H */
