/*
 * The PostgreSQL backend of the store (store.h): what differs from SQLite
 * at the level of the store, over the statement layer of postgres.c.
 *
 * A store is a PostgreSQL database named by a postgresql:// URI; its tables
 * live in the schema "caseflow" (search_path = caseflow, pg_catalog,
 * pg_temp, so no temporary table can shadow one). The store's identity,
 * which SQLite keeps in the file header (application_id, user_version), is
 * the one row of caseflow.store_identity.
 *
 * Writers are serialised as SQLite's BEGIN IMMEDIATE serialises them: a
 * write transaction runs at READ COMMITTED and takes the store's advisory
 * lock before anything else, so everything it reads afterwards is the latest
 * commit, and every number it hands out (audit seq, case seq, feed seq) is
 * the next one with no gap and in commit order, however many caseflow
 * processes or hosts share the database. Read transactions are REPEATABLE
 * READ: one snapshot, as a SQLite read transaction is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../store.h"
#include "postgres.h"
#include "store_int.h"

/* The advisory lock key of a store's writers: "CFLW". */
#define CF_PG_WRITE_LOCK "1128680535"

/*
 * Schema 4 on PostgreSQL. Every SQLite INTEGER is bigint and every TEXT is
 * text COLLATE "C", so each value keeps its storage class (rows hash alike
 * on both backends) and text sorts by bytes, as SQLite's BINARY collation
 * does (the digests hash rows in ORDER BY order). Numbers that SQLite's
 * INTEGER PRIMARY KEY hands out (max + 1) are assigned by the writers under
 * the write lock, never by a sequence: a sequence leaves gaps on rollback
 * and can commit out of order. timers.rid stands in for SQLite's hidden
 * rowid of timers (the due-timer cursor's tie-breaker; never hashed).
 */
#define T " COLLATE \"C\""
static const char pg_schema_v4[] =
    "CREATE TABLE store_identity(application_id bigint NOT NULL, user_version bigint NOT NULL);"
    "CREATE TABLE schema_version(version bigint PRIMARY KEY, applied_at bigint NOT NULL);"
    "CREATE TABLE meta(key text" T " PRIMARY KEY, value text" T " NOT NULL);"
    "CREATE TABLE users(name text" T " PRIMARY KEY, roles text" T " NOT NULL,"
    "  disabled bigint NOT NULL DEFAULT 0, created_at bigint NOT NULL,"
    "  created_by text" T " NOT NULL, audit_seq bigint NOT NULL DEFAULT 0,"
    "  os_users text" T " NOT NULL DEFAULT '');"
    "CREATE TABLE workflows(name text" T " NOT NULL, version bigint NOT NULL,"
    "  declared_version bigint NOT NULL, hash text" T " NOT NULL, bundle text" T " NOT NULL,"
    "  deployed_at bigint NOT NULL, deployed_by text" T " NOT NULL, audit_seq bigint NOT NULL,"
    "  PRIMARY KEY(name, version));"
    "CREATE TABLE cases(seq bigint PRIMARY KEY, id text" T " NOT NULL UNIQUE,"
    "  source text" T " NOT NULL, reference text" T " NOT NULL, workflow text" T " NOT NULL,"
    "  version bigint NOT NULL, state text" T " NOT NULL, data text" T " NOT NULL,"
    "  revision bigint NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL,"
    "  deadline_at bigint, review_at bigint, legal_hold text" T ", disposed_at bigint,"
    "  UNIQUE(source, reference));"
    "CREATE TABLE events(seq bigint PRIMARY KEY, case_id text" T " NOT NULL,"
    "  at bigint NOT NULL, actor text" T " NOT NULL, role text" T ", event text" T " NOT NULL,"
    "  outcome text" T ", from_state text" T ", to_state text" T " NOT NULL, data text" T ","
    "  data_sha256 text" T ", plugin text" T ", plugin_version text" T ","
    "  plugin_sha256 text" T ", case_sha256 text" T ", audit_seq bigint NOT NULL UNIQUE);"
    "CREATE TABLE timers(case_id text" T " NOT NULL, event text" T " NOT NULL,"
    "  state text" T " NOT NULL, due_at bigint NOT NULL,"
    "  rid bigint GENERATED ALWAYS AS IDENTITY UNIQUE, PRIMARY KEY(case_id, event));"
    "CREATE TABLE tasks(seq bigint PRIMARY KEY, case_id text" T " NOT NULL,"
    "  role text" T " NOT NULL, kind text" T " NOT NULL, detail text" T ","
    "  status text" T " NOT NULL DEFAULT 'open', created_at bigint NOT NULL,"
    "  assignee text" T ", closed_at bigint, result text" T ");"
    "CREATE TABLE keys(kind text" T " NOT NULL, value text" T " NOT NULL,"
    "  case_id text" T " NOT NULL, PRIMARY KEY(kind, value, case_id));"
    "CREATE TABLE notifications(seq bigint PRIMARY KEY, case_id text" T ","
    "  channel text" T " NOT NULL, payload text" T " NOT NULL, created_at bigint NOT NULL);"
    "CREATE TABLE audit(seq bigint PRIMARY KEY, at bigint NOT NULL,"
    "  actor text" T " NOT NULL, role text" T ", action text" T " NOT NULL, case_id text" T ","
    "  justification text" T ", digest text" T " NOT NULL, prev text" T " NOT NULL,"
    "  hash text" T " NOT NULL);"
    "CREATE TABLE checkpoints(seq bigint PRIMARY KEY, signed_seq bigint NOT NULL,"
    "  head text" T " NOT NULL, at bigint NOT NULL, signature text" T " NOT NULL);"
    "CREATE TABLE records(seq bigint PRIMARY KEY, subject text" T ", payload text" T " NOT NULL);"
    "CREATE TABLE policies(key text" T " PRIMARY KEY, value text" T " NOT NULL,"
    "  audit_seq bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE tokens(id text" T " PRIMARY KEY, \"user\" text" T " NOT NULL,"
    "  hash text" T " NOT NULL UNIQUE, note text" T " NOT NULL DEFAULT '',"
    "  created_at bigint NOT NULL, created_by text" T " NOT NULL,"
    "  expires_at bigint NOT NULL DEFAULT 0, revoked_at bigint NOT NULL DEFAULT 0,"
    "  last_used_at bigint NOT NULL DEFAULT 0, audit_seq bigint NOT NULL);"
    "CREATE TABLE idempotency(actor text" T " NOT NULL, key text" T " NOT NULL,"
    "  case_id text" T " NOT NULL, request text" T " NOT NULL, result text" T " NOT NULL,"
    "  at bigint NOT NULL, audit_seq bigint NOT NULL, PRIMARY KEY(actor, key));"
    "CREATE TABLE webhooks(id bigint PRIMARY KEY, url text" T " NOT NULL,"
    "  events text" T " NOT NULL, secret text" T " NOT NULL, created_at bigint NOT NULL,"
    "  created_by text" T " NOT NULL, removed_at bigint NOT NULL DEFAULT 0,"
    "  audit_seq bigint NOT NULL, cursor bigint NOT NULL DEFAULT 0,"
    "  failing bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE deliveries(hook bigint NOT NULL, seq bigint NOT NULL,"
    "  case_id text" T ", attempts bigint NOT NULL DEFAULT 0, next_at bigint NOT NULL,"
    "  state text" T " NOT NULL DEFAULT 'pending', last_error text" T ","
    "  PRIMARY KEY(hook, seq));"
    "CREATE INDEX cases_review ON cases(review_at) WHERE review_at IS NOT NULL;"
    "CREATE INDEX cases_state ON cases(state, seq);"
    "CREATE INDEX events_case ON events(case_id, event, seq);"
    "CREATE INDEX timers_due ON timers(due_at, rid);"
    "CREATE INDEX tasks_case ON tasks(case_id);"
    "CREATE INDEX keys_case ON keys(case_id);"
    "CREATE INDEX notifications_case ON notifications(case_id NULLS FIRST, seq);"
    "CREATE INDEX audit_case ON audit(case_id, seq, action) WHERE case_id IS NOT NULL;"
    "CREATE INDEX records_subject ON records(subject, seq) WHERE subject IS NOT NULL;"
    "CREATE INDEX deliveries_due ON deliveries(state, next_at);"
    "CREATE INDEX deliveries_case ON deliveries(hook, case_id, seq, state);"
    "CREATE INDEX deliveries_next ON deliveries(hook, next_at) WHERE state <> 'dead';"
    "CREATE INDEX notifications_channel ON notifications(channel, case_id, created_at);"
    "CREATE INDEX cases_updated ON cases(updated_at, seq);"
    "CREATE INDEX tasks_open ON tasks(case_id, status) WHERE status <> 'done';"
    "CREATE INDEX cases_deadline ON cases(deadline_at, id, disposed_at, workflow, version)"
    "  WHERE deadline_at IS NOT NULL;"
    "CREATE INDEX events_case_at ON events(case_id, at, to_state);"
    /* What the record holds is never rewritten: the chain and its
     * signatures, the payloads verify replays, the schema's history, the
     * deployed workflows and the idempotency records refuse UPDATE, DELETE
     * and TRUNCATE from anyone, owner included (who would have to drop or
     * disable the trigger, a change to the schema that the schema digest
     * then refuses). Events and notifications may only be erased, the one
     * column retention empties. */
    "CREATE FUNCTION forbid() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'caseflow: % on % is not allowed: the record is append-only',"
    "  TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation'; END $$;"
    "CREATE FUNCTION erase_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - TG_ARGV[0]) = (to_jsonb(OLD) - TG_ARGV[0])"
    "  AND (to_jsonb(NEW) ->> TG_ARGV[0]) IS NOT DISTINCT FROM"
    "   (CASE WHEN TG_NARGS > 1 THEN TG_ARGV[1] END) THEN RETURN NEW; END IF;"
    " RAISE EXCEPTION 'caseflow: % on % is not allowed: only erasure', TG_OP, TG_TABLE_NAME"
    "  USING ERRCODE = 'integrity_constraint_violation'; END $$;"
#define CF_PG_APPEND_ONLY(t)                                                               \
    "CREATE TRIGGER " #t "_append_only BEFORE UPDATE OR DELETE ON " #t                     \
    " FOR EACH ROW EXECUTE FUNCTION forbid();"                                             \
    "CREATE TRIGGER " #t "_no_truncate BEFORE TRUNCATE ON " #t                             \
    " FOR EACH STATEMENT EXECUTE FUNCTION forbid();"
    CF_PG_APPEND_ONLY(audit) CF_PG_APPEND_ONLY(checkpoints) CF_PG_APPEND_ONLY(records)
    CF_PG_APPEND_ONLY(schema_version) CF_PG_APPEND_ONLY(workflows)
    CF_PG_APPEND_ONLY(idempotency)
#undef CF_PG_APPEND_ONLY
    "CREATE TRIGGER events_erase_only BEFORE UPDATE OR DELETE ON events"
    " FOR EACH ROW EXECUTE FUNCTION erase_only('data');"
    "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events"
    " FOR EACH STATEMENT EXECUTE FUNCTION forbid();"
    "CREATE TRIGGER notifications_erase_only BEFORE UPDATE OR DELETE ON notifications"
    " FOR EACH ROW EXECUTE FUNCTION erase_only('payload', '{\"erased\":true}');"
    "CREATE TRIGGER notifications_no_truncate BEFORE TRUNCATE ON notifications"
    " FOR EACH STATEMENT EXECUTE FUNCTION forbid();";
#undef T

/* The store's last error on the connection (borrowed; never NULL). */
const char *cf_pg_store_errmsg(cf_store *s)
{
    const char *m = s->pg ? cf_pg_errmsg(s->pg) : NULL;
    return m && *m ? m : "PostgreSQL error";
}

static int pg_exec(cf_store *s, const char *sql, const char *what, cf_error *err)
{
    int rc = cf_pg_exec(s->pg, sql);
    return rc == CF_DB_OK ? 0 : cf_store_error(s, rc, what, err);
}

/* One integer from a one-row query (0 when it gives no row). */
static int pg_int(cf_store *s, const char *sql, int64_t *out, cf_error *err)
{
    cf_stmt *st;
    *out = 0;
    int rc = cf_store_prepare(s, sql, &st);
    if (rc != CF_DB_OK)
        return cf_store_error(s, rc, "read store identity", err);
    rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW)
        *out = cf_stmt_int64(st, 0);
    cf_stmt_finalize(st);
    return rc == CF_DB_ROW || rc == CF_DB_DONE ? 0
                                               : cf_store_error(s, rc, "read store identity", err);
}

/* Why a connection failed, as the documented exit statuses tell it: no such
 * database 66, a server that cannot be reached 69, a login refused 77. */
static int connect_error(const char *where, const char *msg, cf_error *err)
{
    int code = CF_EMISSING;
    if (strstr(msg, "does not exist"))
        code = CF_ENOTFOUND;
    else if (strstr(msg, "authentication failed") || strstr(msg, "permission denied") ||
             strstr(msg, "no pg_hba.conf entry") || strstr(msg, "password"))
        code = CF_EDENIED;
    return cf_err_set(err, code, "store", "cannot connect to the PostgreSQL store %s: %s", where,
                      msg);
}

int cf_pg_store_open(cf_store *s, const char *uri, int create, int readonly, int64_t *uv,
                     cf_error *err)
{
    char *msg = NULL;
    int rc = cf_pg_connect(uri, &s->pg, &msg);
    if (rc != CF_DB_OK) {
        rc = connect_error(s->path, msg ? msg : "unknown error", err);
        free(msg);
        return rc;
    }
    free(msg);
    /* No temporary table can shadow a caseflow table (pg_temp last), a
     * writer waits for the lock as long as SQLite's busy timeout, and the
     * server's clock and locale play no part in what is stored. */
    /* synchronous_commit on whatever the server's default: a command that
     * said "saved" has its commit in the server's write-ahead log, and a
     * crash of the server cannot take it back (tests/pg/pg_instances.sh
     * restarts a server whose default is off, and checks). */
#define CF_PG_SESSION                                                                      \
    "SET search_path = caseflow, pg_catalog, pg_temp;"                                     \
    "SET lock_timeout = '10s'; SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8';"         \
    "SET synchronous_commit = on"
    static const char setup[] = CF_PG_SESSION;
    static const char setup_ro[] = CF_PG_SESSION "; SET default_transaction_read_only = on";
#undef CF_PG_SESSION
    if ((rc = cf_pg_set_session(s->pg, readonly ? setup_ro : setup)) != CF_DB_OK)
        return cf_store_error(s, rc, "set up the session", err);
    int64_t ns = 0, ident = 0, app = 0;
    if ((rc = pg_int(s, "SELECT count(*) FROM pg_namespace WHERE nspname = 'caseflow'", &ns,
                     err)))
        return rc;
    if (!ns) {
        if (create && !readonly) {
            *uv = 0;
            return 0;
        }
        return cf_err_set(err, CF_EINVALID, "store",
                          "%s is not a caseflow store (no caseflow schema in the database; run "
                          "caseflow init)",
                          s->path);
    }
    if ((rc = pg_int(s,
                     "SELECT count(*) FROM pg_class WHERE relname = 'store_identity'"
                     " AND relnamespace = 'caseflow'::regnamespace",
                     &ident, err)))
        return rc;
    if (!ident)
        return cf_err_set(err, CF_EINVALID, "store",
                          "%s is not a caseflow store (its caseflow schema has no "
                          "store_identity)",
                          s->path);
    if ((rc = pg_int(s, "SELECT application_id FROM store_identity", &app, err)) ||
        (rc = pg_int(s, "SELECT user_version FROM store_identity", uv, err)))
        return rc;
    if (app != CF_STORE_APPLICATION_ID)
        return cf_err_set(err, CF_EINVALID, "store",
                          "%s is not a caseflow store (application id %#llx)", s->path,
                          (unsigned long long)app);
    return 0;
}

int cf_pg_store_create(cf_store *s, cf_error *err)
{
    char sql[256];
    int rc = pg_exec(s, "CREATE SCHEMA caseflow", "create the schema", err);
    if (!rc)
        rc = pg_exec(s, pg_schema_v4, "create the schema", err);
    snprintf(sql, sizeof sql,
             "INSERT INTO store_identity(application_id, user_version) VALUES(%d, %d);"
             "INSERT INTO schema_version(version, applied_at) VALUES(%d, %lld)",
             CF_STORE_APPLICATION_ID, CF_SCHEMA_VERSION, CF_SCHEMA_VERSION,
             (long long)cf_time_system());
    if (!rc)
        rc = pg_exec(s, sql, "create the schema", err);
    return rc;
}

int cf_pg_store_begin(cf_store *s, bool write, cf_error *err)
{
    /* A server restarted or failed over since the last command: connect
     * again (nothing was open, so nothing is lost) rather than fail every
     * command until the process is restarted. */
    int rc0 = cf_pg_revive(s->pg);
    if (rc0 != CF_DB_OK)
        return cf_store_error(s, rc0, "reconnect", err);
    if (!write)
        return pg_exec(s, "BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN", err);
    int rc = pg_exec(s, "BEGIN ISOLATION LEVEL READ COMMITTED", "BEGIN", err);
    if (rc)
        return rc;
    /* Taken first: what this transaction reads from here on is the latest
     * commit, and no other writer of the store runs until it ends. */
    if ((rc = pg_exec(s, "SELECT pg_advisory_xact_lock(" CF_PG_WRITE_LOCK ")",
                      "take the store's write lock", err)))
        cf_pg_exec(s->pg, "ROLLBACK");
    return rc;
}

/*
 * The schema as text: every object of the caseflow schema as the catalog
 * describes it (tables and their columns with type, collation, nullability
 * and default; constraints; indexes; triggers; functions; views,
 * sequences and other relations; row-level policies; owners and grants),
 * then the store's identity and the migrations applied. Statistics steer
 * only the planner and are left out.
 */
static const char *const pg_schema_sql[] = {
    "SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, ''),"
    " c.relrowsecurity::int, c.relforcerowsecurity::int"
    " FROM pg_class c WHERE c.relnamespace = 'caseflow'::regnamespace ORDER BY 1",
    "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),"
    " coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation), ''),"
    " a.attnotnull::int, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text,"
    " a.attgenerated::text, coalesce(a.attacl::text, '')"
    " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    " WHERE c.relnamespace = 'caseflow'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY 1, 2",
    "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = 'caseflow'::regnamespace ORDER BY 2, 1",
    "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
    " WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'caseflow'::regnamespace)"
    " ORDER BY 1",
    "SELECT tgname, tgrelid::regclass::text, pg_get_triggerdef(oid), tgenabled::text"
    " FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN"
    " (SELECT oid FROM pg_class WHERE relnamespace = 'caseflow'::regnamespace) ORDER BY 2, 1",
    "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid),"
    " pg_get_userbyid(p.proowner), coalesce(p.proacl::text, '')"
    " FROM pg_proc p WHERE p.pronamespace = 'caseflow'::regnamespace AND p.prokind <> 'a'"
    " ORDER BY 1",
    "SELECT polname, polrelid::regclass::text, polcmd::text, polpermissive::int,"
    " coalesce(pg_get_expr(polqual, polrelid), ''), coalesce(pg_get_expr(polwithcheck, polrelid), '')"
    " FROM pg_policy WHERE polrelid IN"
    " (SELECT oid FROM pg_class WHERE relnamespace = 'caseflow'::regnamespace) ORDER BY 2, 1",
    "SELECT rulename, tablename, definition FROM pg_rules WHERE schemaname = 'caseflow'"
    " ORDER BY 2, 1",
    /* every object in the schema by name, whatever its kind: an operator,
     * aggregate or type planted there shadows pg_catalog's for caseflow's
     * own SQL (the search_path puts caseflow first) */
    "SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend"
    " WHERE refclassid = 'pg_namespace'::regclass AND refobjid = 'caseflow'::regnamespace"
    " ORDER BY 1",
    "SELECT pg_get_userbyid(nspowner), coalesce(nspacl::text, '') FROM pg_namespace"
    " WHERE nspname = 'caseflow'",
    "SELECT application_id, user_version FROM store_identity",
    "SELECT version, applied_at FROM schema_version ORDER BY version",
};

int cf_pg_store_schema_digest(cf_store *s, char out[65], cf_error *err)
{
    cf_sha256 h;
    cf_sha256_init(&h);
    static const char head[] = "postgresql;";
    cf_sha256_update(&h, (const unsigned char *)head, sizeof head - 1);
    int rc = 0;
    for (size_t q = 0; q < sizeof pg_schema_sql / sizeof *pg_schema_sql && !rc; q++) {
        cf_stmt *st = cf_store_stmt(s, pg_schema_sql[q], err);
        if (!st)
            return err ? err->code : CF_EIO;
        rc = cf_store_hash_rows(s, st, &h, err);
    }
    unsigned char bin[32];
    cf_sha256_final(&h, bin);
    if (rc)
        return rc;
    sodium_bin2hex(out, 65, bin, sizeof bin);
    return 0;
}

/* A number that moves with any change to the caseflow schema's catalog
 * rows: every DDL statement writes catalog rows, each with the id of the
 * transaction that wrote it (xmin), so the sum of the ids and the count of
 * the rows change. Cheap enough to read at every BEGIN; a match lets the
 * digest be trusted without recomputing it. */
int cf_pg_store_schema_cookie(cf_store *s, int64_t *cookie, cf_error *err)
{
    static const char sql[] =
        "SELECT ((SELECT coalesce(sum(xmin::text::bigint), 0) + 7 * count(*) FROM pg_class"
        "  WHERE relnamespace = 'caseflow'::regnamespace)"
        " + (SELECT coalesce(sum(a.xmin::text::bigint), 0) + 11 * count(*) FROM pg_attribute a"
        "  JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = 'caseflow'::regnamespace)"
        " + (SELECT coalesce(sum(xmin::text::bigint), 0) + 13 * count(*) FROM pg_trigger)"
        " + (SELECT coalesce(sum(xmin::text::bigint), 0) + 17 * count(*) FROM pg_proc"
        "  WHERE pronamespace = 'caseflow'::regnamespace)"
        " + (SELECT coalesce(sum(xmin::text::bigint), 0) + 19 * count(*) FROM pg_policy)"
        " + (SELECT coalesce(sum(xmin::text::bigint), 0) + 23 * count(*) FROM pg_rewrite)"
        " + (SELECT coalesce(sum(xmin::text::bigint), 0) + 29 * count(*) FROM pg_namespace)"
        " + (SELECT coalesce(sum(xmin::text::bigint), 0) + 31 * count(*) FROM pg_depend"
        "  WHERE refclassid = 'pg_namespace'::regclass AND refobjid = 'caseflow'::regnamespace))::bigint";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    *cookie = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : -1;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "read schema version", err);
}
