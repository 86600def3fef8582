/*
 * The SQLite store. One file holds workflows, cases, their history, timers,
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

#include "integrity.h"
#include "memvfs.h"
#include "store.h"

#define STMT_SLOTS 256 /* distinct statements: about 120 today, BEGIN/COMMIT among them */
#define CF_MEMORY_CACHE_KIB "2000" /* page cache of a store in memory */

struct cf_store {
    sqlite3 *db;
    struct {
        const char *sql;
        cf_stmt st;
    } stmts[STMT_SLOTS];
    int depth; /* 0: no transaction; 1: BEGIN; >1: savepoints */
    bool group; /* a batch: begin/commit/rollback inside it are savepoints */
    bool lost;  /* SQLite rolled the batch's transaction back: until the
                 * batch ends, every command in it fails */
    int64_t version;   /* schema version (user_version) */
    char schema[65];   /* expected schema digest ("" : not checked) */
    int64_t cookie;    /* PRAGMA schema_version when schema last matched */
    char *path;
    cf_store_hooks hooks;
    cf_data_cache *dcache; /* case data this process wrote, parsed (or NULL) */
    bool immutable;        /* opened immutable=1: SQLite takes no locks */
};

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

int cf_store_prepare(cf_store *s, const char *sql, cf_stmt **out)
{
    return lite_prepare(s->db, sql, out);
}

int64_t cf_store_changes(cf_store *s)
{
    return sqlite3_changes64(s->db);
}

int64_t cf_store_total_changes(cf_store *s)
{
    return sqlite3_total_changes64(s->db);
}

int64_t cf_store_last_insert_id(cf_store *s)
{
    return sqlite3_last_insert_rowid(s->db);
}

int64_t cf_store_cache_size(cf_store *s, int64_t size)
{
    int64_t was = 0;
    if (!size || pragma_int(s, "PRAGMA cache_size", &was, NULL) || !was)
        return 0;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=%lld", (long long)size);
    sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return was;
}

void cf_store_checkpoint(cf_store *s)
{
    sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
}

static int exec(cf_store *s, const char *sql, cf_error *err)
{
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

int cf_store_open(const char *path, int create, int readonly, cf_store **out,
                  cf_error *err)
{
    *out = NULL;
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
    for (size_t i = 0; i < STMT_SLOTS; i++)
        sqlite3_finalize(s->stmts[i].st.lite);
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
    size_t h = ((uintptr_t)sql >> 3) % STMT_SLOTS;
    for (size_t n = 0; n < STMT_SLOTS; n++, h = (h + 1) % STMT_SLOTS) {
        if (s->stmts[h].sql == sql) {
            cf_stmt *st = &s->stmts[h].st;
            cf_stmt_reset(st);
            cf_stmt_clear(st);
            return st;
        }
        if (!s->stmts[h].sql) {
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
static bool tx_lost(cf_store *s)
{
    if (s->depth > 0 && sqlite3_get_autocommit(s->db)) {
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
    static const char sql[] = "PRAGMA schema_version";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int step = cf_stmt_step(st);
    int64_t cookie = step == CF_DB_ROW ? cf_stmt_int64(st, 0) : -1;
    cf_stmt_reset(st);
    if (step != CF_DB_ROW)
        return cf_store_error(s, step, "read schema version", err);
    if (cookie == s->cookie)
        return 0;
    int rc;
    char now[65];
    if ((rc = cf_store_schema_digest(s, now, err)))
        return rc;
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

int cf_store_schema_cookie(cf_store *s, int64_t *cookie, cf_error *err)
{
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
    int rc = step_sql(s, sql, err); /* prepared once: every command begins one */
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
    if (!sqlite3_get_autocommit(s->db) && step_sql(s, rollback, NULL) != 0 &&
        !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, rollback, NULL, NULL, NULL);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
    if (!insert && sqlite3_changes64(s->db) != 1)
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
        out->data = cf_data_cache_take(s->dcache, text, len);
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
    if (sqlite3_changes64(s->db) != 1)
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
    cf_stmt *st = cf_store_stmt(s, state ? sql_state : sql_all, err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
                              " value=? AND case_id<>? LIMIT 10001)";
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
    cf_stmt *st = cf_store_stmt(s, sql, err);
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
