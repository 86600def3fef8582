/*
 * The store: caseflow's tables in one SQLite file. Every SQL statement the
 * engine runs is written here once, prepared once per connection and reused;
 * the rest of the engine calls these functions and never sees SQL. Writes
 * happen only inside cf_store_begin/cf_store_commit (BEGIN IMMEDIATE, so two
 * processes never interleave a command), with savepoints for the units of a
 * bulk intake.
 */
#ifndef CF_STORE_H
#define CF_STORE_H

#include <sqlite3.h>

#include "internal.h"

#define CF_SCHEMA_VERSION 1
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
 * Checks that the file is a caseflow store and migrates its schema. */
int cf_store_open(const char *path, int create, int readonly, cf_store **out,
                  cf_error *err);
void cf_store_close(cf_store *s);
sqlite3 *cf_store_db(cf_store *s);
/* The prepared statement for sql, cached by the address of the (static)
 * string; reset and with bindings cleared. NULL on error (err filled). */
sqlite3_stmt *cf_store_stmt(cf_store *s, const char *sql, cf_error *err);
/* Map the connection's last SQLite error to a CF_E code and message. */
int cf_store_error(cf_store *s, int rc, const char *what, cf_error *err);

/* Called inside the transaction just before every outermost COMMIT (the
 * engine writes due audit checkpoints there). A failure rolls back. */
typedef int (*cf_store_hook)(void *ctx, cf_error *err);
void cf_store_set_commit_hook(cf_store *s, cf_store_hook fn, void *ctx);

/* Transactions. begin is BEGIN IMMEDIATE: it waits (busy timeout) for other
 * writers. savepoint/release/rollback_to nest a unit inside it. */
int cf_store_begin(cf_store *s, cf_error *err);
int cf_store_commit(cf_store *s, cf_error *err);
void cf_store_rollback(cf_store *s);
bool cf_store_in_tx(const cf_store *s);
/* A read transaction (deferred): one consistent snapshot, no write lock;
 * end it with cf_store_rollback. */
int cf_store_begin_read(cf_store *s, cf_error *err);
int cf_store_savepoint(cf_store *s, cf_error *err);
int cf_store_release(cf_store *s, cf_error *err);
void cf_store_rollback_to(cf_store *s);

/* meta */
int cf_store_meta_get(cf_store *s, const char *key, char **value, cf_error *err);
int cf_store_meta_set(cf_store *s, const char *key, const char *value, cf_error *err);

/* users: roles is a comma-separated list. *roles is new (free). */
int cf_store_user_get(cf_store *s, const char *name, char **roles, int *disabled,
                      cf_error *err);
int cf_store_user_add(cf_store *s, const char *name, const char *roles,
                      int64_t at, const char *by, int64_t audit_seq, cf_error *err);
int cf_store_user_exists(cf_store *s, const char *name, bool *exists, cf_error *err);
int cf_store_user_disable(cf_store *s, const char *name, cf_error *err);
int cf_store_user_count(cf_store *s, int64_t *n, cf_error *err);
int cf_store_user_list(cf_store *s, json_t **out, cf_error *err);

/* workflows */
int cf_store_workflow_latest(cf_store *s, const char *name, int64_t *version,
                             char hash[65], cf_error *err);
int cf_store_workflow_get(cf_store *s, const char *name, int64_t version,
                          json_t **bundle, cf_error *err);
int cf_store_workflow_put(cf_store *s, const char *name, int64_t version,
                          int64_t declared, const char *hash, const char *bundle,
                          int64_t at, const char *by, int64_t audit_seq, cf_error *err);
int cf_store_workflow_list(cf_store *s, json_t **out, cf_error *err);

/* cases */
int cf_store_case_get(cf_store *s, const char *id, cf_case_row *out, cf_error *err);
/* The state, workflow and version of a case (new strings). */
int cf_store_case_state(cf_store *s, const char *id, char **state, char **workflow,
                        int64_t *version, cf_error *err);
int cf_store_case_by_ref(cf_store *s, const char *source, const char *reference,
                         char **id, char **state, cf_error *err);
int cf_store_case_next_seq(cf_store *s, int64_t *seq, cf_error *err);
int cf_store_case_insert(cf_store *s, const cf_case_row *r, const char *data,
                         cf_error *err);
/* Update state/data/deadline and bump the revision, only if the case is still
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
/* Due timers (array of {case, event, state, due}), oldest first. */
int cf_store_timer_due(cf_store *s, int64_t now, size_t skip, size_t limit, json_t **out,
                       cf_error *err);
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
/* Case ids holding (kind, value), except `except`; array of strings. */
int cf_store_key_find(cf_store *s, const char *kind, const char *value,
                      const char *except, json_t **out, cf_error *err);
int cf_store_notify_add(cf_store *s, const char *case_id, const char *channel,
                        const char *payload, int64_t at, cf_error *err);

#endif /* CF_STORE_H */
