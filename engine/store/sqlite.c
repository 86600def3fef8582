/*
 * The SQLite backend of the store (store.h): the connection, the schema and
 * its migrations, the statement cache and the transactions. One file holds workflows, cases, their history, timers,
 * tasks, correlation keys, notifications, users and the audit chain. The
 * file is created 0600, runs in WAL mode with full synchronous commits (a
 * command that said "saved" survives power loss), and is recognised by its
 * application_id so caseflow never writes into someone else's database.
 * Statements are prepared once per connection and cached by the address of
 * their SQL text.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../integrity.h"
#include "../memvfs.h"
#include "../store.h"
#include "store_int.h"

#define CF_MEMORY_CACHE_KIB "2000" /* page cache of a store in memory */


void cf_store_set_hooks(cf_store *s, const cf_store_hooks *h)
{
    if (h)
        s->hooks = *h;
    else
        memset(&s->hooks, 0, sizeof s->hooks);
}

const cf_store_hooks *cf_store_get_hooks(const cf_store *s)
{
    return &s->hooks;
}

bool cf_store_immutable(const cf_store *s)
{
    return s->immutable;
}

void cf_store_progress(cf_store *s, const char *what, int64_t done, int64_t total)
{
    if (s->hooks.progress)
        s->hooks.progress(s->hooks.ctx, what, done, total);
}

/* ---- schema ------------------------------------------------------------ */

static const char *const schema_v1 =
    "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE users(name TEXT PRIMARY KEY, roles TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL, audit_seq INTEGER);"
    "CREATE TABLE workflows(name TEXT NOT NULL, version INTEGER NOT NULL,"
    "  declared_version INTEGER NOT NULL, hash TEXT NOT NULL, bundle TEXT NOT NULL,"
    "  deployed_at INTEGER NOT NULL, deployed_by TEXT NOT NULL, audit_seq INTEGER,"
    "  PRIMARY KEY(name, version));"
    "CREATE TABLE cases(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    "  source TEXT NOT NULL, reference TEXT NOT NULL, workflow TEXT NOT NULL,"
    "  version INTEGER NOT NULL, state TEXT NOT NULL, data TEXT NOT NULL,"
    "  revision INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, deadline_at INTEGER, review_at INTEGER,"
    "  legal_hold TEXT, disposed_at INTEGER, UNIQUE(source, reference));"
    "CREATE INDEX cases_review ON cases(review_at) WHERE review_at IS NOT NULL;"
    "CREATE INDEX cases_state ON cases(state, seq);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, case_id TEXT NOT NULL,"
    "  at INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT, event TEXT NOT NULL,"
    "  outcome TEXT, from_state TEXT, to_state TEXT NOT NULL, data TEXT,"
    "  data_sha256 TEXT, plugin TEXT, plugin_version TEXT, plugin_sha256 TEXT,"
    "  case_sha256 TEXT, audit_seq INTEGER NOT NULL);"
    "CREATE INDEX events_case ON events(case_id, event, seq);"
    "CREATE TABLE timers(case_id TEXT NOT NULL, event TEXT NOT NULL,"
    "  state TEXT NOT NULL, due_at INTEGER NOT NULL, PRIMARY KEY(case_id, event));"
    "CREATE INDEX timers_due ON timers(due_at);"
    "CREATE TABLE tasks(seq INTEGER PRIMARY KEY, case_id TEXT NOT NULL,"
    "  role TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT,"
    "  status TEXT NOT NULL DEFAULT 'open', created_at INTEGER NOT NULL);"
    "CREATE INDEX tasks_case ON tasks(case_id);"
    "CREATE TABLE keys(kind TEXT NOT NULL, value TEXT NOT NULL,"
    "  case_id TEXT NOT NULL, PRIMARY KEY(kind, value, case_id)) WITHOUT ROWID;"
    "CREATE INDEX keys_case ON keys(case_id);"
    "CREATE TABLE notifications(seq INTEGER PRIMARY KEY, case_id TEXT,"
    "  channel TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE INDEX notifications_case ON notifications(case_id);"
    "CREATE TABLE audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL, role TEXT, action TEXT NOT NULL, case_id TEXT,"
    "  justification TEXT, digest TEXT NOT NULL, prev TEXT NOT NULL,"
    "  hash TEXT NOT NULL);"
    "CREATE TABLE checkpoints(seq INTEGER PRIMARY KEY, signed_seq INTEGER NOT NULL,"
    "  head TEXT NOT NULL, at INTEGER NOT NULL, signature TEXT NOT NULL);";

/*
 * Schema 2: every table STRICT (SQLite refuses a value of the wrong storage
 * type, so a TEXT column can never hold a BLOB that compares equal), users
 * with their OS-account bindings and the audit record of their latest
 * change, policies in a table of their own tied to their latest policy.set
 * record, and `records`: the payload text of the audit records whose history
 * verify replays (user and policy changes, migrations, integrity alarms).
 * Tables are rebuilt by renaming the old one, creating the new one and
 * copying; a value the STRICT table refuses stops the migration (the store
 * is left as it was).
 */
#define CF_REBUILD_AS(t, cols, sel)                                                  \
    "ALTER TABLE " #t " RENAME TO v1_" #t ";" CF_V2_##t                                 \
    "INSERT INTO " #t "(" cols ") SELECT " sel " FROM v1_" #t ";"                      \
    "DROP TABLE v1_" #t ";"
#define CF_REBUILD(t, cols) CF_REBUILD_AS(t, cols, cols)

#define CF_V2_schema_version                                                         \
    "CREATE TABLE schema_version(version INTEGER PRIMARY KEY,"                       \
    "  applied_at INTEGER NOT NULL) STRICT;"
#define CF_V2_meta "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID;"
#define CF_V2_users                                                                  \
    "CREATE TABLE users(name TEXT PRIMARY KEY, roles TEXT NOT NULL,"                 \
    "  disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"            \
    "  created_by TEXT NOT NULL, audit_seq INTEGER NOT NULL DEFAULT 0,"              \
    "  os_users TEXT NOT NULL DEFAULT '') STRICT;"
#define CF_V2_workflows                                                              \
    "CREATE TABLE workflows(name TEXT NOT NULL, version INTEGER NOT NULL,"           \
    "  declared_version INTEGER NOT NULL, hash TEXT NOT NULL, bundle TEXT NOT NULL," \
    "  deployed_at INTEGER NOT NULL, deployed_by TEXT NOT NULL,"                     \
    "  audit_seq INTEGER NOT NULL, PRIMARY KEY(name, version)) STRICT;"
#define CF_V2_cases                                                                  \
    "CREATE TABLE cases(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"           \
    "  source TEXT NOT NULL, reference TEXT NOT NULL, workflow TEXT NOT NULL,"       \
    "  version INTEGER NOT NULL, state TEXT NOT NULL, data TEXT NOT NULL,"           \
    "  revision INTEGER NOT NULL, created_at INTEGER NOT NULL,"                      \
    "  updated_at INTEGER NOT NULL, deadline_at INTEGER, review_at INTEGER,"         \
    "  legal_hold TEXT, disposed_at INTEGER, UNIQUE(source, reference)) STRICT;"
#define CF_V2_events                                                                 \
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, case_id TEXT NOT NULL,"            \
    "  at INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT, event TEXT NOT NULL,"    \
    "  outcome TEXT, from_state TEXT, to_state TEXT NOT NULL, data TEXT,"            \
    "  data_sha256 TEXT, plugin TEXT, plugin_version TEXT, plugin_sha256 TEXT,"      \
    "  case_sha256 TEXT, audit_seq INTEGER NOT NULL UNIQUE) STRICT;"
#define CF_V2_timers                                                                 \
    "CREATE TABLE timers(case_id TEXT NOT NULL, event TEXT NOT NULL,"                \
    "  state TEXT NOT NULL, due_at INTEGER NOT NULL, PRIMARY KEY(case_id, event)) STRICT;"
#define CF_V2_tasks                                                                  \
    "CREATE TABLE tasks(seq INTEGER PRIMARY KEY, case_id TEXT NOT NULL,"             \
    "  role TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT,"                         \
    "  status TEXT NOT NULL DEFAULT 'open', created_at INTEGER NOT NULL) STRICT;"
#define CF_V2_keys                                                                   \
    "CREATE TABLE keys(kind TEXT NOT NULL, value TEXT NOT NULL,"                     \
    "  case_id TEXT NOT NULL, PRIMARY KEY(kind, value, case_id)) STRICT, WITHOUT ROWID;"
#define CF_V2_notifications                                                          \
    "CREATE TABLE notifications(seq INTEGER PRIMARY KEY, case_id TEXT,"              \
    "  channel TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;"
#define CF_V2_audit                                                                  \
    "CREATE TABLE audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL,"               \
    "  actor TEXT NOT NULL, role TEXT, action TEXT NOT NULL, case_id TEXT,"          \
    "  justification TEXT, digest TEXT NOT NULL, prev TEXT NOT NULL,"                \
    "  hash TEXT NOT NULL) STRICT;"
#define CF_V2_checkpoints                                                            \
    "CREATE TABLE checkpoints(seq INTEGER PRIMARY KEY, signed_seq INTEGER NOT NULL," \
    "  head TEXT NOT NULL, at INTEGER NOT NULL, signature TEXT NOT NULL) STRICT;"

static const char *const schema_v2 =
    CF_REBUILD(schema_version, "version, applied_at")
    CF_REBUILD(meta, "key, value")
    CF_REBUILD_AS(users, "name, roles, disabled, created_at, created_by, audit_seq",
                  "name, roles, disabled, created_at, created_by, coalesce(audit_seq, 0)")
    CF_REBUILD_AS(workflows, "name, version, declared_version, hash, bundle, deployed_at,"
                             " deployed_by, audit_seq",
                  "name, version, declared_version, hash, bundle, deployed_at,"
                  " deployed_by, coalesce(audit_seq, 0)")
    CF_REBUILD(cases, "seq, id, source, reference, workflow, version, state, data,"
                        " revision, created_at, updated_at, deadline_at, review_at,"
                        " legal_hold, disposed_at")
    CF_REBUILD(events, "seq, case_id, at, actor, role, event, outcome, from_state,"
                         " to_state, data, data_sha256, plugin, plugin_version,"
                         " plugin_sha256, case_sha256, audit_seq")
    CF_REBUILD(timers, "case_id, event, state, due_at")
    CF_REBUILD(tasks, "seq, case_id, role, kind, detail, status, created_at")
    CF_REBUILD(keys, "kind, value, case_id")
    CF_REBUILD(notifications, "seq, case_id, channel, payload, created_at")
    CF_REBUILD(audit, "seq, at, actor, role, action, case_id, justification, digest,"
                        " prev, hash")
    CF_REBUILD(checkpoints, "seq, signed_seq, head, at, signature")
    "CREATE TABLE records(seq INTEGER PRIMARY KEY, subject TEXT, payload TEXT NOT NULL) STRICT;"
    "CREATE INDEX records_subject ON records(subject, seq) WHERE subject IS NOT NULL;"
    "CREATE TABLE policies(key TEXT PRIMARY KEY, value TEXT NOT NULL,"
    "  audit_seq INTEGER NOT NULL DEFAULT 0) STRICT, WITHOUT ROWID;"
    "INSERT INTO policies(key, value) SELECT substr(key, 8), value FROM meta"
    "  WHERE key LIKE 'policy.%';"
    "DELETE FROM meta WHERE key LIKE 'policy.%';"
    "CREATE INDEX cases_review ON cases(review_at) WHERE review_at IS NOT NULL;"
    "CREATE INDEX cases_state ON cases(state, seq);"
    "CREATE INDEX events_case ON events(case_id, event, seq);"
    "CREATE INDEX timers_due ON timers(due_at);"
    "CREATE INDEX tasks_case ON tasks(case_id);"
    "CREATE INDEX keys_case ON keys(case_id);"
    "CREATE INDEX notifications_case ON notifications(case_id);"
    "CREATE INDEX audit_case ON audit(case_id, seq, action) WHERE case_id IS NOT NULL;";

/*
 * Schema 3: what caseflowd needs. Bearer tokens (only their SHA-256 kept)
 * and webhooks, each tied to the audit record of its latest change;
 * idempotency keys of acts, each tied to an audit record of its own; the
 * webhook delivery queue (operational state, not audited: losing it can only
 * make caseflowd deliver an event again); tasks gain who claimed them, when
 * they closed and with what result (hashed into the case's tasks part only
 * when set, so the digests of existing cases do not change). The domain
 * events of the change feed are rows of `notifications`, part of each
 * case's digest.
 */
static const char *const schema_v3 =
    "CREATE TABLE tokens(id TEXT PRIMARY KEY, user TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE, note TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL, created_by TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER NOT NULL DEFAULT 0,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0,"
    "  audit_seq INTEGER NOT NULL) STRICT, WITHOUT ROWID;"
    "CREATE TABLE idempotency(actor TEXT NOT NULL, key TEXT NOT NULL,"
    "  case_id TEXT NOT NULL, request TEXT NOT NULL, result TEXT NOT NULL,"
    "  at INTEGER NOT NULL, audit_seq INTEGER NOT NULL,"
    "  PRIMARY KEY(actor, key)) STRICT, WITHOUT ROWID;"
    "CREATE TABLE webhooks(id INTEGER PRIMARY KEY, url TEXT NOT NULL,"
    "  events TEXT NOT NULL, secret TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL, removed_at INTEGER NOT NULL DEFAULT 0,"
    "  audit_seq INTEGER NOT NULL, cursor INTEGER NOT NULL DEFAULT 0,"
    "  failing INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE TABLE deliveries(hook INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  case_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending', last_error TEXT,"
    "  PRIMARY KEY(hook, seq)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX deliveries_due ON deliveries(state, next_at);"
    "CREATE INDEX deliveries_case ON deliveries(hook, case_id, seq, state);"
    "CREATE INDEX deliveries_next ON deliveries(hook, next_at) WHERE state <> 'dead';"
    "ALTER TABLE tasks ADD COLUMN assignee TEXT;"
    "ALTER TABLE tasks ADD COLUMN closed_at INTEGER;"
    "ALTER TABLE tasks ADD COLUMN result TEXT;"
    "CREATE INDEX tasks_open ON tasks(status, seq);"
    "CREATE INDEX notifications_channel ON notifications(channel, case_id, created_at);"
    "CREATE INDEX cases_deadline ON cases(deadline_at) WHERE deadline_at IS NOT NULL;"
    "CREATE INDEX cases_updated ON cases(updated_at, seq);";

/* Schema 4: indexes for the case list's filters and the engine clock's
 * deadline scan (query.c, cases.c), each covering what its filter reads, so
 * that neither opens a case row (whose data often spills onto overflow
 * pages) to reject it: open tasks by case; deadlines with the case id,
 * disposal, workflow and version (whose response states apply); a case's
 * events by time with the state entered. Indexes only:
 * no row, and so no digest, changes. */
static const char *const schema_v4 =
    "DROP INDEX tasks_open;"
    "CREATE INDEX tasks_open ON tasks(case_id, status) WHERE status <> 'done';"
    "DROP INDEX cases_deadline;"
    "CREATE INDEX cases_deadline ON cases(deadline_at, id, disposed_at, workflow, version)"
    "  WHERE deadline_at IS NOT NULL;"
    "CREATE INDEX events_case_at ON events(case_id, at, to_state);";

/* Migrations from version i to i+1 live at index i. */
static const char *const migrations[] = {schema_v1, schema_v2, schema_v3, schema_v4};

int cf_store_error(cf_store *s, int rc, const char *what, cf_error *err)
{
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
#if CF_WITH_POSTGRES
    if (s && s->pg)
        msg = cf_pg_store_errmsg(s);
#endif
    int prim = rc & 0xff;
    switch (prim) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return cf_err_set(err, CF_ECONFLICT, "store",
                          "store is busy (%s): %s; retry", what, msg);
    case SQLITE_NOMEM:
        return cf_err_set(err, CF_ENOMEM, "store", "out of memory (%s)", what);
    case SQLITE_NOTADB:
        return cf_err_set(err, CF_EINVALID, "store",
                          "%s is not a caseflow store: file is not a database",
                          s && s->path ? s->path : "store");
    case SQLITE_CORRUPT:
        return cf_err_set(err, CF_EIO, "store", "store is corrupt (%s): %s", what, msg);
    case SQLITE_READONLY:
        return cf_err_set(err, CF_EIO, "store", "store is read-only (%s): %s", what, msg);
    case SQLITE_FULL:
        return cf_err_set(err, CF_EIO, "store", "disk full (%s): %s", what, msg);
    case CF_DB_CONSTRAINT:
        return cf_err_set(err, CF_EINVALID, "store", "%s: %s", what, msg);
    case SQLITE_PERM: /* PostgreSQL: the login role lacks a grant */
        return cf_err_set(err, CF_EDENIED, "store", "the store refused (%s): %s", what, msg);
    default:
        return cf_err_set(err, CF_EIO, "store", "store I/O error (%s): %s", what, msg);
    }
}

static int pragma_int(cf_store *s, const char *sql, int64_t *out, cf_error *err);

/* A new statement on a SQLite connection (*out NULL on error). */
static int lite_prepare(sqlite3 *db, const char *sql, cf_stmt **out)
{
    *out = NULL;
    cf_stmt *st = calloc(1, sizeof *st);
    if (!st)
        return SQLITE_NOMEM;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st->lite, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st->lite);
        free(st);
        return rc;
    }
    *out = st;
    return CF_DB_OK;
}

void cf_stmt_finalize(cf_stmt *st)
{
    if (!st)
        return;
#if CF_WITH_POSTGRES
    if (st->pg)
        cf_pg_stmt_finalize(st->pg);
#endif
    sqlite3_finalize(st->lite);
    free(st);
}

#if CF_WITH_POSTGRES
static int pg_prepare(cf_store *s, const char *sql, cf_stmt **out)
{
    *out = NULL;
    cf_stmt *st = calloc(1, sizeof *st);
    if (!st)
        return SQLITE_NOMEM;
    int rc = cf_pg_prepare(s->pg, sql, &st->pg);
    if (rc != CF_DB_OK) {
        free(st);
        return rc;
    }
    *out = st;
    return CF_DB_OK;
}
#endif

int cf_store_prepare(cf_store *s, const char *sql, cf_stmt **out)
{
#if CF_WITH_POSTGRES
    if (s->pg)
        return pg_prepare(s, sql, out);
#endif
    return lite_prepare(s->db, sql, out);
}

bool cf_store_is_pg_uri(const char *path)
{
    return path && (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0);
}

bool cf_store_is_pg(const cf_store *s)
{
    return s->pg != NULL;
}

char *cf_pg_store_redact(const char *uri)
{
    /* postgresql://user:secret@host/db -> postgresql://user@host/db */
    const char *scheme = strstr(uri, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (!at || (slash && slash < at))
        return strdup(uri);
    const char *colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
    if (!colon)
        return strdup(uri);
    size_t head = (size_t)(colon - uri), n = strlen(at);
    char *r = malloc(head + n + 1);
    if (!r)
        return NULL;
    memcpy(r, uri, head);
    memcpy(r + head, at, n + 1);
    return r;
}



int64_t cf_store_changes(cf_store *s)
{
#if CF_WITH_POSTGRES
    if (s->pg)
        return cf_pg_changes(s->pg);
#endif
    return sqlite3_changes64(s->db);
}

int64_t cf_store_total_changes(cf_store *s)
{
#if CF_WITH_POSTGRES
    if (s->pg)
        return cf_pg_total_changes(s->pg);
#endif
    return sqlite3_total_changes64(s->db);
}

int64_t cf_store_last_insert_id(cf_store *s)
{
    return s->db ? sqlite3_last_insert_rowid(s->db) : 0;
}

int64_t cf_store_data_version(cf_store *s)
{
#if CF_WITH_POSTGRES
    /* PostgreSQL: the id of the last transaction that changed what is
     * cached against this number (pg_store.c, caseflow.changes). */
    if (s->pg)
        return cf_pg_store_data_version(s);
#endif
    if (!s->db)
        return -3 - s->pg_version++;
    static const char sql[] = "PRAGMA data_version";
    cf_stmt *st = cf_store_stmt(s, sql, NULL);
    if (!st)
        return -2;
    int64_t v = cf_stmt_step(st) == CF_DB_ROW ? cf_stmt_int64(st, 0) : -2;
    cf_stmt_reset(st);
    return v;
}

int64_t cf_store_cache_size(cf_store *s, int64_t size)
{
    int64_t was = 0;
    if (!s->db)
        return 0;
    if (!size || pragma_int(s, "PRAGMA cache_size", &was, NULL) || !was)
        return 0;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=%lld", (long long)size);
    sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return was;
}

void cf_store_checkpoint(cf_store *s)
{
    if (s->db)
        sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
}

static int exec(cf_store *s, const char *sql, cf_error *err)
{
#if CF_WITH_POSTGRES
    if (s->pg) {
        int prc = cf_pg_exec(s->pg, sql);
        return prc == CF_DB_OK ? 0 : cf_store_error(s, prc, "exec", err);
    }
#endif
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == CF_DB_OK ? 0 : cf_store_error(s, rc, "exec", err);
}

static int pragma_int(cf_store *s, const char *sql, int64_t *out, cf_error *err)
{
    cf_stmt *st;
    int rc = lite_prepare(s->db, sql, &st);
    if (rc != CF_DB_OK)
        return cf_store_error(s, rc, "read store header", err);
    rc = cf_stmt_step(st);
    *out = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_finalize(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read store header", err);
    return 0;
}

/* Is this a caseflow store, a fresh file we may initialise, or neither? */
static int check_identity(cf_store *s, int create, int64_t *user_version,
                          cf_error *err)
{
    int64_t app = 0, tables = 0;
    int rc = pragma_int(s, "PRAGMA application_id", &app, err);
    if (rc)
        return rc;
    if ((rc = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &tables, err)))
        return rc;
    if ((rc = pragma_int(s, "PRAGMA user_version", user_version, err)))
        return rc;
    if (app == CF_STORE_APPLICATION_ID)
        return 0;
    if (app == 0 && tables == 0 && *user_version == 0) {
        if (create)
            return 0;
        return cf_err_set(err, CF_EINVALID, "store",
                          "%s is not a caseflow store (empty database; run caseflow init)",
                          s->path);
    }
    return cf_err_set(err, CF_EINVALID, "store",
                      "%s is not a caseflow store (application id %#llx)", s->path,
                      (unsigned long long)app);
}

int cf_store_version(const cf_store *s)
{
    return (int)s->version;
}

int cf_store_migrate(cf_store *s, cf_store_migrate_hook hook, void *ctx, cf_error *err)
{
    const int64_t target = CF_SCHEMA_VERSION, from = s->version;
    if (from > target)
        return cf_err_set(err, CF_EINVALID, "store",
                          "%s has schema version %lld, newer than this caseflow "
                          "supports (%lld); upgrade caseflow",
                          s->path, (long long)from, (long long)target);
    if (from == target)
        return 0;
    int rc = cf_store_begin(s, err);
    if (rc)
        return rc;
#if CF_WITH_POSTGRES
    /* A PostgreSQL store is made at the current schema in one step. */
    if (s->pg) {
        if (from != 0 || (rc = cf_pg_store_create(s, err)) || (rc = cf_store_commit(s, err))) {
            if (!rc)
                rc = cf_err_set(err, CF_EINTERNAL, "schema", "no migration on PostgreSQL");
            cf_store_rollback(s);
            return rc;
        }
        s->version = target;
        return 0;
    }
#endif
    /* Each migration is recorded with when it was applied; user_version is
     * the fast check at open, the table the history. The hook records the
     * step in the audit chain inside the same transaction: a migration
     * happens with its record or not at all. */
    for (int64_t v = from; v < target; v++) {
        char rec[128];
        if (hook && v > 0 && (rc = hook(ctx, s, (int)(v + 1), true, err)))
            goto fail;
        snprintf(rec, sizeof rec,
                 "INSERT INTO schema_version(version, applied_at) VALUES(%lld, %lld)",
                 (long long)v + 1, (long long)cf_time_system());
        if ((rc = exec(s, migrations[v], err)) == CF_EINVALID) {
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err ? err->message : "");
            rc = cf_err_set(err, CF_EINVALID, "store",
                            "cannot migrate %s to schema %lld: a stored value breaks the new "
                            "schema's rules (%s); the store was left as it was",
                            s->path, (long long)v + 1, why);
        }
        if (rc || (rc = exec(s, rec, err)))
            goto fail;
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%lld;",
                 CF_STORE_APPLICATION_ID, (long long)v + 1);
        if ((rc = exec(s, sql, err)))
            goto fail;
        if (hook && v > 0 && (rc = hook(ctx, s, (int)(v + 1), false, err)))
            goto fail;
    }
    if ((rc = cf_store_commit(s, err)))
        return rc;
    s->version = target;
    return 0;
fail:
    cf_store_rollback(s);
    return rc;
}

/* "file:" URI of path, with the characters URIs reserve escaped. */
static char *file_uri(const char *path, const char *query)
{
    size_t n = strlen(path);
    char *u = malloc(n * 3 + strlen(query) + 8);
    if (!u)
        return NULL;
    char *o = u + sprintf(u, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            o += sprintf(o, "%%%02X", (unsigned char)*p);
        else
            *o++ = *p;
    }
    sprintf(o, "?%s", query);
    return u;
}

/* Open for reading only. A store on read-only media (an archive an inspector
 * verifies) cannot host WAL's shared-memory file, so when a plain read-only
 * open cannot read, the store is opened as immutable: nothing can change it
 * while we look. */
static int open_readonly(cf_store *s, const char *path, int64_t *uv, cf_error *err)
{
    static const char *const modes[] = {"mode=ro", "immutable=1"};
    int rc = CF_EIO;
    for (size_t i = 0; i < 2; i++) {
        char *uri = file_uri(path, modes[i]);
        if (!uri)
            return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        int src = sqlite3_open_v2(uri, &s->db,
                                  SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                                  NULL);
        free(uri);
        if (src == CF_DB_OK) {
            sqlite3_extended_result_codes(s->db, 1);
            sqlite3_busy_timeout(s->db, 10000);
            rc = check_identity(s, 0, uv, err);
        } else {
            rc = cf_store_error(s, src, "open", err);
        }
        if (rc == 0)
            s->immutable = i == 1;
        if (rc != CF_EIO || i == 1)
            return rc;
        sqlite3_close(s->db);
        s->db = NULL;
        /* immutable=1 reads the main file alone: commits still in a
         * write-ahead log beside it would be silently left out (and a
         * tampered log could not even be noticed). */
        char wal[4200];
        struct stat sb;
        snprintf(wal, sizeof wal, "%s-wal", path);
        if (stat(wal, &sb) == 0 && sb.st_size > 0)
            return cf_err_set(err, CF_EIO, "store",
                              "%s has a write-ahead log (%s) that cannot be applied on "
                              "read-only media: copy the store with its -wal file to "
                              "writable storage and verify the copy (archive stores after "
                              "caseflow audit checkpoint, which leaves no log behind)",
                              path, wal);
    }
    return rc;
}

/* Create the file 0600 before SQLite does, so case data is never readable by
 * other users, whatever the umask. */
static int create_private(const char *path, cf_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return cf_err_set(err, errno == ENOENT ? CF_ENOTFOUND : CF_EIO, "store",
                          "cannot create store %s: %s", path, strerror(errno));
    close(fd);
    return 0;
}

/* init on a file that already exists: case data must still end up
 * private. The file (and any -wal/-shm beside it) must be ours and not a
 * symbolic link; group and other permissions are removed. */
static int secure_existing(const char *path, cf_error *err)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        struct stat sb;
        if (lstat(p, &sb) != 0) {
            if (errno == ENOENT)
                continue;
            return cf_err_set(err, CF_EIO, "store", "store %s: %s", p, strerror(errno));
        }
        if (!S_ISREG(sb.st_mode))
            return cf_err_set(err, CF_EINVALID, "store",
                              "%s is not a regular file (a link or device); init will not "
                              "use it", p);
        if (sb.st_uid != geteuid())
            return cf_err_set(err, CF_EDENIED, "store",
                              "%s belongs to another user (uid %lu); init will not make a "
                              "store in it", p, (unsigned long)sb.st_uid);
        if ((sb.st_mode & 077) && chmod(p, sb.st_mode & 0600) != 0)
            return cf_err_set(err, CF_EIO, "store", "cannot make %s private: %s", p,
                              strerror(errno));
    }
    return 0;
}

/* A store in memory: a private database in the memory VFS (memvfs.h), whose
 * commits cost the same however large the store grows; SQLite's own
 * ":memory:" when that VFS is unavailable. Either way nothing touches a disk
 * and nobody else can open it. */
static int open_memory(cf_store *s)
{
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const char *vfs = cf_memvfs_name();
    if (!vfs)
        return sqlite3_open_v2(":memory:", &s->db, flags, NULL);
    int rc = sqlite3_open_v2("caseflow-memory-store", &s->db, flags, vfs);
    if (rc == CF_DB_OK)
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode=MEMORY", NULL, NULL, NULL);
    return rc;
}

/* A PostgreSQL store: the database named by uri (pg_store.c). */
static int open_pg(const char *uri, int create, int readonly, cf_store **out, cf_error *err)
{
#if CF_WITH_POSTGRES
    cf_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = cf_pg_store_redact(uri))) {
        free(s);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    int64_t uv = 0;
    int rc = cf_pg_store_open(s, uri, create, readonly, &uv, err);
    if (!rc && uv > CF_SCHEMA_VERSION)
        rc = cf_err_set(err, CF_EINVALID, "store",
                        "%s has schema version %lld, newer than this caseflow supports "
                        "(%lld); upgrade caseflow",
                        s->path, (long long)uv, (long long)CF_SCHEMA_VERSION);
    else if (!rc && uv && uv < CF_SCHEMA_VERSION)
        rc = cf_err_set(err, CF_EINVALID, "store",
                        "%s has schema version %lld, which no caseflow made on PostgreSQL",
                        s->path, (long long)uv);
    s->version = uv;
    if (!rc && uv == 0)
        rc = cf_store_migrate(s, NULL, NULL, err);
    if (rc) {
        cf_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
#else
    CF_UNUSED(create);
    CF_UNUSED(readonly);
    *out = NULL;
    char *shown = cf_pg_store_redact(uri);
    int rc = cf_err_set(err, CF_EMISSING, "store",
                        "%s: this caseflow was built without PostgreSQL (configure "
                        "--with-postgresql, with libpq installed)",
                        shown ? shown : "postgresql://");
    free(shown);
    return rc;
#endif
}

int cf_store_open(const char *path, int create, int readonly, cf_store **out,
                  cf_error *err)
{
    *out = NULL;
    if (cf_store_is_pg_uri(path))
        return open_pg(path, create, readonly, out, err);
    bool memory = strcmp(path, ":memory:") == 0;
    int rc;
    if (!memory) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            if (errno != ENOENT || !create)
                return cf_err_set(err, errno == ENOENT ? CF_ENOTFOUND : CF_EIO,
                                  "store", "store %s: %s%s", path, strerror(errno),
                                  errno == ENOENT ? " (run caseflow init)" : "");
            if ((rc = create_private(path, err)))
                return rc;
        } else if (!S_ISREG(sb.st_mode)) {
            return cf_err_set(err, CF_EINVALID, "store",
                              "%s is not a caseflow store (not a regular file)", path);
        } else if (create && (rc = secure_existing(path, err))) {
            return rc;
        }
    }
    cf_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    int64_t uv = 0;
    if (readonly) {
        rc = open_readonly(s, path, &uv, err);
        if (rc) {
            cf_store_close(s);
            return rc;
        }
    } else {
        rc = memory ? open_memory(s) : sqlite3_open_v2(path, &s->db,
                                                      SQLITE_OPEN_READWRITE |
                                                          SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != CF_DB_OK) {
            rc = cf_store_error(s, rc, "open", err);
            cf_store_close(s);
            return rc;
        }
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, 10000);
        if ((rc = check_identity(s, create, &uv, err)))
            goto fail;
    }
    if (!memory && !readonly) {
        if ((rc = exec(s, "PRAGMA journal_mode=WAL", err)))
            goto fail;
    }
    if ((rc = exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
                      "PRAGMA trusted_schema=OFF; PRAGMA cache_size=-16000; PRAGMA temp_store=MEMORY",
                   err)))
        goto fail;
    /* In memory a page "read" is a copy: a small cache costs little, and
     * SQLite walks the cache's whole hash table at the end of each
     * transaction. */
    if (memory && !readonly && (rc = exec(s, "PRAGMA cache_size=-" CF_MEMORY_CACHE_KIB, err)))
        goto fail;
    s->version = uv;
    if (uv > CF_SCHEMA_VERSION) {
        rc = cf_err_set(err, CF_EINVALID, "store",
                        "%s has schema version %lld, newer than this caseflow supports "
                        "(%lld); upgrade caseflow",
                        path, (long long)uv, (long long)CF_SCHEMA_VERSION);
        goto fail;
    }
    if (uv != CF_SCHEMA_VERSION && readonly) {
        rc = cf_err_set(err, CF_EIO, "store",
                        "%s has schema version %lld and needs a migration, but is opened "
                        "read-only: open a writable copy with this caseflow, or verify it "
                        "with the caseflow that wrote it",
                        path, (long long)uv);
        goto fail;
    }
    /* A new file gets the whole schema now; an older store is migrated by
     * its opener (cf_store_migrate), which records the step in the chain. */
    if (uv == 0 && (rc = cf_store_migrate(s, NULL, NULL, err)))
        goto fail;
    *out = s;
    return 0;
fail:
    cf_store_close(s);
    return rc;
}

void cf_store_close(cf_store *s)
{
    if (!s)
        return;
#if CF_WITH_POSTGRES
    /* The connection first: its end drops every prepared statement on the
     * server, where finalizing them one by one would send a DEALLOCATE
     * each (the statements are freed with the last of them). */
    if (s->pg)
        cf_pg_close(s->pg);
#endif
    for (size_t i = 0; i < STMT_SLOTS; i++) {
        sqlite3_finalize(s->stmts[i].st.lite);
#if CF_WITH_POSTGRES
        if (s->stmts[i].st.pg)
            cf_pg_stmt_finalize(s->stmts[i].st.pg);
#endif
    }
    if (s->db)
        sqlite3_close(s->db);
    cf_data_cache_free(s->dcache);
    free(s->path);
    free(s);
}

cf_data_cache *cf_store_data_cache(cf_store *s)
{
    if (!s->dcache)
        s->dcache = cf_data_cache_new();
    return s->dcache;
}

sqlite3 *cf_store_db(cf_store *s)
{
    return s->db;
}

cf_stmt *cf_store_stmt(cf_store *s, const char *sql, cf_error *err)
{
    return cf_store_stmt_for(s, sql, NULL, err);
}

cf_stmt *cf_store_stmt_for(cf_store *s, const char *sql, const char *pg_sql, cf_error *err)
{
    size_t h = ((uintptr_t)sql >> 3) % STMT_SLOTS;
    for (size_t n = 0; n < STMT_SLOTS; n++, h = (h + 1) % STMT_SLOTS) {
        if (s->stmts[h].sql == sql) {
            cf_stmt *st = &s->stmts[h].st;
            cf_stmt_reset(st);
            cf_stmt_clear(st);
            return st;
        }
        if (!s->stmts[h].sql) {
#if CF_WITH_POSTGRES
            if (s->pg) {
                cf_pg_stmt *pst;
                int prc = cf_pg_prepare(s->pg, pg_sql ? pg_sql : sql, &pst);
                if (prc != CF_DB_OK) {
                    cf_store_error(s, prc, "prepare", err);
                    return NULL;
                }
                s->stmts[h].sql = sql;
                s->stmts[h].st = (cf_stmt){.pg = pst};
                return &s->stmts[h].st;
            }
#else
            CF_UNUSED(pg_sql);
#endif
            sqlite3_stmt *lite;
            int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                        &lite, NULL);
            if (rc != SQLITE_OK) {
                cf_store_error(s, rc, "prepare", err);
                return NULL;
            }
            s->stmts[h].sql = sql;
            s->stmts[h].st = (cf_stmt){.lite = lite};
            return &s->stmts[h].st;
        }
    }
    cf_err_set(err, CF_EINTERNAL, NULL, "statement cache full");
    return NULL;
}

/* SQLite rolls a whole transaction back by itself on some errors (a full
 * disk, out of memory). Then the outer transaction is gone: nothing more
 * may be written as if it were still open. */
/* 0: no transaction open; 1: one is; 2: one is, but failed (PostgreSQL
 * aborts a whole transaction at its first failed statement: it can only be
 * rolled back). */
static int tx_state(cf_store *s)
{
#if CF_WITH_POSTGRES
    if (s->pg)
        return cf_pg_tx_status(s->pg);
#endif
    return !sqlite3_get_autocommit(s->db);
}

static bool in_tx(cf_store *s)
{
    return tx_state(s) != 0;
}

static bool tx_lost(cf_store *s)
{
    if (s->depth > 0 && tx_state(s) != 1) {
        s->depth = 0;
        s->lost = s->group;
        return true;
    }
    return false;
}

/* Do the store's schema objects (sqlite_schema) match, exactly, those a
 * fresh store of that version has? For a store about to be migrated, whose
 * own schema the chain did not record yet. */
int cf_store_schema_is(cf_store *s, int version, bool *ok, cf_error *err)
{
    static const char objects[] = "SELECT type, name, tbl_name, coalesce(sql, '')"
                                  " FROM sqlite_schema ORDER BY type, name";
    *ok = false;
    if (version < 1 || version > CF_SCHEMA_VERSION)
        return cf_err_set(err, CF_EINTERNAL, "schema", "no schema version %d", version);
    if (!s->db)
        return cf_err_set(err, CF_EINTERNAL, "schema",
                          "a PostgreSQL store starts at schema %d: there is no older one",
                          CF_SCHEMA_VERSION);
    sqlite3 *ref;
    if (sqlite3_open(":memory:", &ref) != CF_DB_OK) {
        sqlite3_close(ref);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    int rc = 0;
    for (int v = 0; v < version && !rc; v++)
        if (sqlite3_exec(ref, migrations[v], NULL, NULL, NULL) != CF_DB_OK)
            rc = cf_err_set(err, CF_EINTERNAL, "schema", "cannot build schema %d", v + 1);
    cf_stmt *a = NULL, *b = NULL;
    if (!rc && (lite_prepare(ref, objects, &a) != CF_DB_OK ||
                lite_prepare(s->db, objects, &b) != CF_DB_OK))
        rc = cf_store_error(s, SQLITE_ERROR, "read schema", err);
    bool same = !rc;
    while (same) {
        int ra = cf_stmt_step(a), rb = cf_stmt_step(b);
        if (ra != rb) {
            same = false;
            break;
        }
        if (ra != CF_DB_ROW)
            break;
        for (int i = 0; i < 4 && same; i++)
            same = strcmp(cf_stmt_text(a, i),
                          cf_stmt_text(b, i)) == 0;
    }
    cf_stmt_finalize(a);
    cf_stmt_finalize(b);
    sqlite3_close(ref);
    *ok = same;
    return rc;
}

/* ---- transactions ---------------------------------------------------------- */

/* Inside a transaction, the schema is the one the chain records: a trigger,
 * view, index or table planted by someone with write access to the file
 * would otherwise act on every command. PRAGMA schema_version changes with
 * any change to the schema, so the digest is recomputed only then. */
static int schema_guard(cf_store *s, cf_error *err)
{
    if (!s->schema[0])
        return 0;
    int64_t cookie;
    int rc;
#if CF_WITH_POSTGRES
    if (s->pg) {
        if ((rc = cf_pg_store_schema_cookie(s, &cookie, err)))
            return rc;
    } else
#endif
    {
        static const char sql[] = "PRAGMA schema_version";
        cf_stmt *st = cf_store_stmt(s, sql, err);
        if (!st)
            return err ? err->code : CF_EIO;
        int step = cf_stmt_step(st);
        cookie = step == CF_DB_ROW ? cf_stmt_int64(st, 0) : -1;
        cf_stmt_reset(st);
        if (step != CF_DB_ROW)
            return cf_store_error(s, step, "read schema version", err);
    }
    if (cookie == s->cookie)
        return 0;
    char now[65];
    if ((rc = cf_store_schema_digest(s, now, err)))
        return rc;
    char recorded[65];
    cf_error scratch;
    if (strcmp(now, s->schema) != 0 && s->recorded_schema &&
        s->recorded_schema(s, recorded, &scratch) == 0 && strcmp(recorded, now) == 0)
        snprintf(s->schema, sizeof s->schema, "%s", now); /* recorded elsewhere */
    if (strcmp(now, s->schema) != 0)
        return cf_err_set(err, CF_EINVALID, "schema",
                          "the store's schema was altered outside caseflow (a table, "
                          "index, trigger or view that caseflow did not create, or one "
                          "it did create changed); nothing was done: run caseflow audit verify");
    s->cookie = cookie;
    return 0;
}

void cf_store_expect_schema(cf_store *s, const char *digest, int64_t cookie)
{
    snprintf(s->schema, sizeof s->schema, "%s", digest ? digest : "");
    s->cookie = cookie;
}

void cf_store_recheck_schema(cf_store *s,
                             int (*recorded)(cf_store *s, char digest[65], cf_error *err))
{
    s->recorded_schema = recorded;
}

int cf_store_schema_cookie(cf_store *s, int64_t *cookie, cf_error *err)
{
#if CF_WITH_POSTGRES
    if (s->pg)
        return cf_pg_store_schema_cookie(s, cookie, err);
#endif
    return pragma_int(s, "PRAGMA schema_version", cookie, err);
}

void cf_store_set_group(cf_store *s, bool on)
{
    s->group = on;
    if (!on)
        s->lost = false;
}

static int step_sql(cf_store *s, const char *sql, cf_error *err);

static int begin_mode(cf_store *s, const char *sql, cf_error *err)
{
    /* Not a fresh transaction after the batch's was lost: it would commit
     * this command alone, while the batch reports everything in it lost. */
    if (s->group && s->lost)
        return cf_err_set(err, CF_EIO, "store",
                          "the store rolled the transaction back; nothing of it was saved");
    if (s->depth && s->group)
        return cf_store_savepoint(s, err);
    if (s->depth)
        return cf_err_set(err, CF_EINTERNAL, NULL, "nested transaction");
    int rc;
#if CF_WITH_POSTGRES
    if (s->pg)
        rc = cf_pg_store_begin(s, strcmp(sql, "BEGIN IMMEDIATE") == 0 ? 1
                                  : strcmp(sql, "BEGIN UNLOCKED") == 0  ? 2
                                                                        : 0,
                               err);
    else
#endif
        rc = step_sql(s, sql, err); /* prepared once: every command begins one */
    if (rc)
        return rc;
    s->depth = 1;
    if ((rc = schema_guard(s, err)))
        cf_store_rollback(s);
    return rc;
}

int cf_store_begin(cf_store *s, cf_error *err)
{
    static const char sql[] = "BEGIN IMMEDIATE";
    return begin_mode(s, sql, err);
}

int cf_store_begin_unlocked(cf_store *s, cf_error *err)
{
    static const char sql[] = "BEGIN UNLOCKED"; /* PostgreSQL only */
    if (!s->pg)
        return cf_store_begin(s, err);
    return begin_mode(s, sql, err);
}

int cf_store_begin_read(cf_store *s, cf_error *err)
{
    static const char sql[] = "BEGIN";
    return begin_mode(s, sql, err);
}

/* The schema as text: the header fields caseflow sets, every object in
 * sqlite_schema (type, name, table and SQL; not rootpage, which VACUUM
 * changes) and the migrations applied. Statistics tables of ANALYZE only
 * steer the query planner and are left out. */
int cf_store_schema_digest(cf_store *s, char out[65], cf_error *err)
{
    static const char objects[] =
        "SELECT type, name, tbl_name, sql FROM sqlite_schema"
        " WHERE NOT (type = 'table' AND name IN ('sqlite_stat1', 'sqlite_stat4'))"
        " ORDER BY type, name";
    static const char versions[] =
        "SELECT version, applied_at FROM schema_version ORDER BY version";
#if CF_WITH_POSTGRES
    if (s->pg)
        return cf_pg_store_schema_digest(s, out, err);
#endif
    int64_t app = 0, uv = 0;
    int rc = pragma_int(s, "PRAGMA application_id", &app, err);
    if (!rc)
        rc = pragma_int(s, "PRAGMA user_version", &uv, err);
    if (rc)
        return rc;
    cf_sha256 h;
    cf_sha256_init(&h);
    char head[96];
    int n = snprintf(head, sizeof head, "application_id=%lld;user_version=%lld;",
                     (long long)app, (long long)uv);
    cf_sha256_update(&h, (const unsigned char *)head, (size_t)n);
    const char *const sqls[] = {objects, versions};
    for (size_t q = 0; q < 2 && !rc; q++) {
        cf_stmt *st;
        int prc = lite_prepare(s->db, sqls[q], &st);
        if (prc != CF_DB_OK) {
            rc = cf_store_error(s, prc, "read schema", err);
            break;
        }
        rc = cf_store_hash_rows(s, st, &h, err);
        cf_stmt_finalize(st);
    }
    unsigned char bin[crypto_hash_sha256_BYTES];
    cf_sha256_final(&h, bin);
    if (rc)
        return rc;
    sodium_bin2hex(out, 65, bin, sizeof bin);
    return 0;
}

int cf_store_commit(cf_store *s, cf_error *err)
{
    if (s->group && s->depth > 1)
        return cf_store_release(s, err);
    if (tx_lost(s))
        return cf_err_set(err, CF_EIO, "store",
                          "the store rolled the transaction back; nothing of it was saved");
    static const char commit[] = "COMMIT";
    int rc = step_sql(s, commit, err);
    if (rc) {
        cf_store_rollback(s);
        return rc;
    }
    s->depth = 0;
    if (s->hooks.after_commit)
        s->hooks.after_commit(s->hooks.ctx);
    return 0;
}

void cf_store_rollback(cf_store *s)
{
    if (s->group && s->depth > 1) {
        cf_store_rollback_to(s);
        return;
    }
    static const char rollback[] = "ROLLBACK";
    /* The cached statement may be out of reach (the cache full, no memory
     * to prepare it: a usual reason to roll back): then parse it here, so a
     * failed command's writes never stay open for a later COMMIT. */
    if (in_tx(s) && step_sql(s, rollback, NULL) != 0 && in_tx(s))
        exec(s, rollback, NULL);
    s->depth = 0;
    if (s->hooks.after_rollback)
        s->hooks.after_rollback(s->hooks.ctx);
}

bool cf_store_in_tx(const cf_store *s)
{
    return s->depth > 0;
}

int cf_store_depth(const cf_store *s)
{
    return s->depth;
}

/* Savepoints run once per referral in a bulk intake: prepared, not parsed. */
static int step_sql(cf_store *s, const char *sql, cf_error *err)
{
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, sql, err);
}

int cf_store_savepoint(cf_store *s, cf_error *err)
{
    static const char sql[] = "SAVEPOINT unit";
    if (s->depth == 0 || tx_lost(s))
        return cf_err_set(err, CF_EIO, "store",
                          "the store rolled the transaction back; nothing of it was saved");
    int rc = step_sql(s, sql, err);
    if (rc == 0)
        s->depth++;
    return rc;
}

int cf_store_release(cf_store *s, cf_error *err)
{
    static const char sql[] = "RELEASE unit";
    int rc = step_sql(s, sql, err);
    if (rc == 0)
        s->depth--;
    else
        cf_store_rollback_to(s);
    return rc;
}

void cf_store_rollback_to(cf_store *s)
{
    static const char back[] = "ROLLBACK TO unit", release[] = "RELEASE unit";
    if (tx_lost(s))
        return;
    step_sql(s, back, NULL);
    step_sql(s, release, NULL);
    s->depth--;
    tx_lost(s);
    if (s->hooks.after_rollback_to)
        s->hooks.after_rollback_to(s->hooks.ctx, s->depth);
}
