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
    " FOR EACH STATEMENT EXECUTE FUNCTION forbid();"
    /* The store's data_version (cf_pg_store_data_version): the id of the
     * last transaction that changed what the engine caches (users,
     * policies, meta, workflows), set by statement triggers that fire
     * whoever writes, from whatever search_path (the names are qualified),
     * in any session_replication_role (ENABLE ALWAYS).
     * A transaction id is never handed out twice, so the number can never
     * come back to a value a cache was filled at: not after a rollback, not
     * by anyone writing the row (only the triggers may), not by a sequence
     * rewound. Switching a trigger off is DDL, which the schema check
     * catches at the next transaction. */
    "CREATE TABLE changes(xact bigint NOT NULL);"
    "INSERT INTO changes VALUES(0);"
    "CREATE FUNCTION changed() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE caseflow.changes SET xact = pg_catalog.txid_current(); RETURN NULL; END $$;"
    "CREATE FUNCTION changes_guard() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN RETURN NEW; END IF;"
    " RAISE EXCEPTION 'caseflow: % on changes is not allowed: only its triggers write it', TG_OP"
    "  USING ERRCODE = 'integrity_constraint_violation'; END $$;"
    "CREATE TRIGGER changes_guard BEFORE INSERT OR UPDATE OR DELETE ON changes"
    " FOR EACH ROW EXECUTE FUNCTION changes_guard();"
    "CREATE TRIGGER changes_no_truncate BEFORE TRUNCATE ON changes"
    " FOR EACH STATEMENT EXECUTE FUNCTION forbid();"
    "ALTER TABLE changes ENABLE ALWAYS TRIGGER changes_guard;"
    "ALTER TABLE changes ENABLE ALWAYS TRIGGER changes_no_truncate;"
#define CF_PG_CHANGES(t)                                                                   \
    "CREATE TRIGGER " #t "_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON " #t    \
    " FOR EACH STATEMENT EXECUTE FUNCTION changed();"                                      \
    "ALTER TABLE " #t " ENABLE ALWAYS TRIGGER " #t "_changed;"
    CF_PG_CHANGES(users) CF_PG_CHANGES(policies) CF_PG_CHANGES(meta) CF_PG_CHANGES(workflows);
#undef CF_PG_CHANGES
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

/* Roles and grants (below): whether the session's role may open the store
 * as asked (schema: the caseflow schema exists; *owner: the role owns it,
 * is a member of its owner or a superuser), CF_EDENIED naming what it lacks;
 * and the refusal of a migration to a role that does not own the store. */
static int cf_pg_store_access(cf_store *s, int create, int readonly, bool schema,
                              bool *owner, cf_error *err);
static int cf_pg_store_migrate_denied(cf_store *s, int64_t uv, cf_error *err);

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
    bool owner = false;
    if (!ns) {
        if (create && !readonly) {
            *uv = 0;
            return cf_pg_store_access(s, create, readonly, false, &owner, err);
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
    if ((rc = cf_pg_store_access(s, create, readonly, true, &owner, err)))
        return rc;
    if ((rc = pg_int(s, "SELECT application_id FROM store_identity", &app, err)) ||
        (rc = pg_int(s, "SELECT user_version FROM store_identity", uv, err)))
        return rc;
    if (app != CF_STORE_APPLICATION_ID)
        return cf_err_set(err, CF_EINVALID, "store",
                          "%s is not a caseflow store (application id %#llx)", s->path,
                          (unsigned long long)app);
    if (!owner && *uv && *uv < CF_SCHEMA_VERSION)
        return cf_pg_store_migrate_denied(s, *uv, err);
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

int cf_pg_store_begin(cf_store *s, int mode, cf_error *err)
{
    bool write = mode == 1;
    /* A server restarted or failed over since the last command: connect
     * again (nothing was open, so nothing is lost) rather than fail every
     * command until the process is restarted. */
    int rc0 = cf_pg_revive(s->pg);
    if (rc0 != CF_DB_OK)
        return cf_store_error(s, rc0, "reconnect", err);
    if (mode == 2) /* claims: rows locked one by one, never the store's lock */
        return pg_exec(s, "BEGIN ISOLATION LEVEL READ COMMITTED", "BEGIN", err);
    if (!write)
        return pg_exec(s, "BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN", err);
    /* The lock taken first: what this transaction reads from here on is
     * the latest commit, and no other writer of the store runs until it
     * ends. One round trip for both. */
    int rc = pg_exec(s,
                     "BEGIN ISOLATION LEVEL READ COMMITTED;"
                     " SELECT pg_advisory_xact_lock(" CF_PG_WRITE_LOCK ")",
                     "take the store's write lock", err);
    if (rc)
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

/*
 * A number that moves with any change to the caseflow schema's catalog
 * rows: every DDL statement writes catalog rows, each with the id of the
 * transaction that wrote it (xmin), so the sum of the ids and the count of
 * the rows change (a row rewritten gets a newer id; one dropped lowers the
 * count). Read at every BEGIN; a match lets the digest be trusted without
 * recomputing it.
 *
 * It covers every catalog row the schema digest reads and nothing else:
 * the schema's namespace row and relations (tables, indexes, sequences,
 * views), their columns and column defaults, their constraints, triggers,
 * rules and row-level policies, and the schema's functions. Each part is
 * an index scan on the rows' owner (the schema's relations, read once into
 * an array, or the schema), where the first version summed whole catalogs
 * (every trigger, rule and policy of the database) and joined
 * pg_attribute by hash: about 0.4 ms warm instead of 1 ms.
 */
int cf_pg_store_schema_cookie(cf_store *s, int64_t *cookie, cf_error *err)
{
    static const char sql[] =
        "WITH n AS MATERIALIZED (SELECT oid, xmin FROM pg_namespace WHERE nspname = 'caseflow'),"
        " r AS MATERIALIZED (SELECT array_agg(c.oid) AS oids,"
        "  coalesce(sum(c.xmin::text::bigint), 0) + 7 * count(*) AS v FROM pg_class c"
        "  WHERE c.relnamespace = (SELECT oid FROM n))"
        " SELECT ((SELECT coalesce(sum(xmin::text::bigint), 0) + 29 * count(*) FROM n)"
        " + (SELECT v FROM r)"
        " + (SELECT coalesce(sum(a.xmin::text::bigint), 0) + 11 * count(*) FROM pg_attribute a"
        "  WHERE a.attrelid = ANY((SELECT oids FROM r)::oid[]))"
        " + (SELECT coalesce(sum(d.xmin::text::bigint), 0) + 31 * count(*) FROM pg_attrdef d"
        "  WHERE d.adrelid = ANY((SELECT oids FROM r)::oid[]))"
        " + (SELECT coalesce(sum(k.xmin::text::bigint), 0) + 37 * count(*) FROM pg_constraint k"
        "  WHERE k.connamespace = (SELECT oid FROM n))"
        " + (SELECT coalesce(sum(t.xmin::text::bigint), 0) + 13 * count(*) FROM pg_trigger t"
        "  WHERE t.tgrelid = ANY((SELECT oids FROM r)::oid[]))"
        " + (SELECT coalesce(sum(p.xmin::text::bigint), 0) + 17 * count(*) FROM pg_proc p"
        "  WHERE p.pronamespace = (SELECT oid FROM n))"
        " + (SELECT coalesce(sum(o.xmin::text::bigint), 0) + 19 * count(*) FROM pg_policy o"
        "  WHERE o.polrelid = ANY((SELECT oids FROM r)::oid[]))"
        " + (SELECT coalesce(sum(w.xmin::text::bigint), 0) + 23 * count(*) FROM pg_rewrite w"
        "  WHERE w.ev_class = ANY((SELECT oids FROM r)::oid[]))"
        /* every object of the schema (operators, aggregates, types too) */
        " + (SELECT coalesce(sum(x.xmin::text::bigint), 0) + 41 * count(*) FROM pg_depend x"
        "  WHERE x.refclassid = 'pg_namespace'::regclass AND x.refobjid = (SELECT oid FROM n)))::bigint";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    *cookie = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : -1;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "read schema version", err);
}

/* ---- roles and grants ----------------------------------------------------
 *
 * Two roles share a store. The OWNER owns schema caseflow and every object
 * in it: it runs caseflow init, migrations and `caseflow store grant`. The
 * LOGIN role the commands and caseflowd run as day to day gets exactly what
 * the engine's statements need (pg_grants), so that, whatever it sends,
 * nothing it can do rewrites or removes a record: no UPDATE or DELETE on the
 * chain, its signatures, the kept payloads, the schema's history, the
 * deployed workflows and the idempotency records; column-level UPDATE only
 * on the columns the engine updates (never an id, a seq, a digest or a time
 * of creation); DELETE only on the working tables the engine empties; no
 * TRUNCATE, REFERENCES or TRIGGER anywhere; no CREATE on the schema. A
 * table the engine never writes as the login role (store_identity,
 * schema_version, meta: init and migrations write them, as the owner) is
 * SELECT only.
 */
static const struct pg_grant {
    const char *table;
    bool insert;
    const char *update; /* the columns it may UPDATE, comma-separated; NULL: none */
    bool del;
} pg_grants[] = {
    {"store_identity", false, NULL, false},
    {"schema_version", false, NULL, false},
    {"meta", false, NULL, false},
    {"audit", true, NULL, false},
    {"checkpoints", true, NULL, false},
    {"records", true, NULL, false},
    {"workflows", true, NULL, false},
    {"idempotency", true, NULL, false},
    {"events", true, "data", false},           /* erasure (and the erase_only trigger) */
    {"notifications", true, "payload", false}, /* erasure (and the erase_only trigger) */
    {"cases", true,
     "state,data,revision,updated_at,deadline_at,review_at,legal_hold,disposed_at,version",
     false},
    {"users", true, "roles,disabled,created_at,created_by,os_users,audit_seq", false},
    {"tasks", true, "status,assignee,closed_at,result,detail", false},
    {"tokens", true, "revoked_at,audit_seq,last_used_at", false},
    {"webhooks", true, "removed_at,secret,audit_seq,cursor,failing", false},
    {"policies", true, "value,audit_seq", false},
    {"timers", true, "state,due_at,rid", true},
    {"keys", true, NULL, true},
    {"deliveries", true, "attempts,next_at,state,last_error", true},
    /* the change signal: written only by the triggers on users, policies,
     * meta and workflows (as the role whose statement fired them; its
     * guard refuses any other write) */
    {"changes", false, "xact", false},
};

/* One text from a one-row query, new in *out (NULL when no row or NULL). */
static int pg_text(cf_store *s, const char *sql, char **out, cf_error *err)
{
    cf_stmt *st;
    *out = NULL;
    int rc = cf_store_prepare(s, sql, &st);
    if (rc != CF_DB_OK)
        return cf_store_error(s, rc, "read the store's roles", err);
    rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW && cf_stmt_text(st, 0) && !(*out = strdup(cf_stmt_text(st, 0))))
        rc = CF_DB_NOMEM;
    cf_stmt_finalize(st);
    if (rc == CF_DB_NOMEM)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    return rc == CF_DB_ROW || rc == CF_DB_DONE ? 0
                                               : cf_store_error(s, rc, "read the store's roles",
                                                                err);
}

/* The first privilege of pg_grants the session's role lacks, as
 * "INSERT on caseflow.audit" or "UPDATE (state) on caseflow.cases" in
 * missing (new; NULL when it lacks none). reads_only: SELECT and USAGE only. */
static int pg_missing_grant(cf_store *s, bool reads_only, char **missing, cf_error *err)
{
    size_t cap = 8192, used = 0;
    char *sql = malloc(cap);
    if (!sql)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
#define ADD(...) (used += (size_t)snprintf(sql + used, used < cap ? cap - used : 0, __VA_ARGS__))
    /* By the tables' oids: a name such as 'caseflow.audit' cannot even be
     * looked up by a role without USAGE on the schema. */
    ADD("SELECT w FROM (VALUES (0, 'USAGE on schema caseflow', NULL, 'USAGE', NULL)");
    int n = 1;
    for (size_t i = 0; i < sizeof pg_grants / sizeof *pg_grants; i++) {
        const struct pg_grant *g = &pg_grants[i];
#define TABLE_PRIV(p)                                                                      \
    ADD(", (%d, '" p " on caseflow.%s', '%s', '" p "', NULL)", n++, g->table, g->table)
        TABLE_PRIV("SELECT");
        if (reads_only)
            continue;
        if (g->insert)
            TABLE_PRIV("INSERT");
        if (g->del)
            TABLE_PRIV("DELETE");
#undef TABLE_PRIV
        for (const char *c = g->update; c && *c;) {
            size_t len = strcspn(c, ",");
            ADD(", (%d, 'UPDATE (%.*s) on caseflow.%s', '%s', 'UPDATE', '%.*s')", n++,
                (int)len, c, g->table, g->table, (int)len, c);
            c += len + (c[len] == ',');
        }
    }
    ADD(") v(n, w, t, p, c) LEFT JOIN pg_class r ON r.relname = v.t"
        " AND r.relnamespace = 'caseflow'::regnamespace"
        " WHERE NOT coalesce(CASE WHEN v.t IS NULL THEN has_schema_privilege("
        "'caseflow'::regnamespace, v.p) WHEN v.c IS NULL THEN has_table_privilege(r.oid, v.p)"
        " ELSE has_column_privilege(r.oid, v.c, v.p) END, false) ORDER BY v.n LIMIT 1");
#undef ADD
    int rc = used < cap ? pg_text(s, sql, missing, err)
                        : cf_err_set(err, CF_EINTERNAL, NULL, "the grant check is too long");
    free(sql);
    return rc;
}

static int cf_pg_store_access(cf_store *s, int create, int readonly, bool schema,
                              bool *owner_out, cf_error *err)
{
    *owner_out = false;
    char *who = NULL, *owner = NULL, *db = NULL, *missing = NULL;
    int64_t owns = 0, can_create = 0;
    int rc = pg_text(s, "SELECT current_user::text", &who, err);
    if (!rc)
        rc = pg_text(s, "SELECT current_database()::text", &db, err);
    if (!rc && schema)
        rc = pg_text(s, "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace"
                        " WHERE nspname = 'caseflow'", &owner, err);
    if (!rc && schema)
        rc = pg_int(s, "SELECT pg_has_role(nspowner, 'USAGE')::int FROM pg_namespace"
                       " WHERE nspname = 'caseflow'", &owns, err);
    if (!rc && !schema)
        rc = pg_int(s, "SELECT (has_database_privilege(current_database(), 'CREATE')"
                       " OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))::int",
                    &can_create, err);
    const char *me = who ? who : "?", *own = owner ? owner : "?";
    if (rc) {
    } else if (!schema) {
        if (create && !readonly && !can_create)
            rc = cf_err_set(err, CF_EDENIED, "store",
                            "role %s may not create schema caseflow in database %s (no CREATE "
                            "on the database): run caseflow init as the role that is to own the "
                            "store",
                            me, db ? db : "?");
    } else if (owns) {
        /* the owner, a member of it or a superuser: no grant holds it back */
        *owner_out = true;
    } else if (create && !readonly) {
        rc = cf_err_set(err, CF_EDENIED, "store",
                        "role %s does not own the store %s (role %s does): caseflow init runs "
                        "as the owner",
                        me, s->path, own);
    } else if (!(rc = pg_missing_grant(s, readonly, &missing, err)) && missing) {
        rc = cf_err_set(err, CF_EDENIED, "store",
                        "role %s lacks %s in the store %s: the owner (role %s) runs caseflow "
                        "store grant %s",
                        me, missing, s->path, own, me);
    }
    free(who);
    free(owner);
    free(db);
    free(missing);
    return rc;
}

static int cf_pg_store_migrate_denied(cf_store *s, int64_t uv, cf_error *err)
{
    char *who = NULL, *owner = NULL;
    int rc = pg_text(s, "SELECT current_user::text", &who, err);
    if (!rc)
        rc = pg_text(s, "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace"
                        " WHERE nspname = 'caseflow'", &owner, err);
    if (!rc)
        rc = cf_err_set(err, CF_EDENIED, "store",
                        "role %s may not migrate the store %s from schema %lld: a migration "
                        "runs as the owner, role %s",
                        who ? who : "?", s->path, (long long)uv, owner ? owner : "?");
    free(who);
    free(owner);
    return rc;
}

/* Whether name is a role name caseflow writes into its statements (quoted,
 * so that a keyword such as "user" names the role, not CURRENT_USER):
 * lower-case letters, digits and _, not starting with a digit, at most 63
 * bytes, the names an unquoted CREATE ROLE makes. */
static bool pg_plain_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int cf_store_pg_grant(cf_store *s, const char *role, bool *temp_revoked, cf_error *err)
{
    *temp_revoked = false;
    if (!pg_plain_name(role))
        return cf_err_set(err, CF_EINVALID, "role",
                          "role: \"%s\" is not a role name caseflow grants to (1 to 63 of "
                          "a-z, 0-9 and _, not starting with a digit)",
                          role);
    char sql[8192], *owner = NULL, *who = NULL;
    int64_t exists = 0, super = 0, owns = 0, is_owner = 0, db_owner = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_roles WHERE rolname = '%s'", role);
    int rc = pg_int(s, sql, &exists, err);
    if (!rc && !exists)
        return cf_err_set(err, CF_ENOTFOUND, "role",
                          "no role %s in the database (CREATE ROLE %s LOGIN first)", role, role);
    snprintf(sql, sizeof sql,
             "SELECT rolsuper::int FROM pg_roles WHERE rolname = '%s'", role);
    if (!rc)
        rc = pg_int(s, sql, &super, err);
    snprintf(sql, sizeof sql,
             "SELECT pg_has_role('%s', nspowner, 'USAGE')::int FROM pg_namespace"
             " WHERE nspname = 'caseflow'", role);
    if (!rc)
        rc = pg_int(s, sql, &is_owner, err);
    if (!rc)
        rc = pg_int(s, "SELECT (nspowner = (SELECT oid FROM pg_roles WHERE rolname ="
                       " current_user))::int FROM pg_namespace WHERE nspname = 'caseflow'",
                    &owns, err);
    if (!rc)
        rc = pg_text(s, "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace"
                        " WHERE nspname = 'caseflow'", &owner, err);
    if (!rc)
        rc = pg_text(s, "SELECT current_user::text", &who, err);
    if (!rc && !owns)
        rc = cf_err_set(err, CF_EDENIED, "store",
                        "store grant runs as the owner of schema caseflow (role %s), not as "
                        "role %s",
                        owner ? owner : "?", who ? who : "?");
    else if (!rc && (super || is_owner))
        rc = cf_err_set(err, CF_EINVALID, "role",
                        "role %s is %s: no grant can hold it back; grant to a plain login role",
                        role, super ? "a superuser" : "the store's owner (or a member of it)");
    free(owner);
    free(who);
    if (rc)
        return rc;
    /* Exactly the list, whatever the role held before: everything on the
     * schema's tables and functions is revoked first (a table-level REVOKE
     * takes the column privileges with it), in the same transaction. */
    int used = snprintf(sql, sizeof sql,
                        "REVOKE ALL ON ALL TABLES IN SCHEMA caseflow FROM \"%s\";"
                        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA caseflow FROM \"%s\";"
                        "REVOKE ALL ON SCHEMA caseflow FROM \"%s\";"
                        "GRANT USAGE ON SCHEMA caseflow TO \"%s\";"
                        "GRANT SELECT ON ALL TABLES IN SCHEMA caseflow TO \"%s\";",
                        role, role, role, role, role);
    for (size_t i = 0; i < sizeof pg_grants / sizeof *pg_grants && used < (int)sizeof sql;
         i++) {
        const struct pg_grant *g = &pg_grants[i];
        if (!g->insert && !g->update && !g->del)
            continue;
        used += snprintf(sql + used, sizeof sql - (size_t)used,
                         "GRANT %s%s%s%s%s%s ON %s TO \"%s\";",
                         g->insert ? "INSERT" : "", g->insert && g->update ? ", " : "",
                         g->update ? "UPDATE (" : "", g->update ? g->update : "",
                         g->update ? ")" : "",
                         g->del ? (g->insert || g->update ? ", DELETE" : "DELETE") : "",
                         g->table, role);
    }
    if (used >= (int)sizeof sql)
        return cf_err_set(err, CF_EINTERNAL, NULL, "the grant statements are too long");
    if ((rc = pg_exec(s, sql, "grant", err)))
        return rc;
    /* Temporary tables cannot shadow caseflow's (pg_temp is last on the
     * search path), but the login role has no use for them either: take
     * TEMPORARY from PUBLIC when the owner owns the database. */
    if ((rc = pg_int(s, "SELECT (datdba = (SELECT oid FROM pg_roles WHERE rolname ="
                        " current_user))::int FROM pg_database WHERE datname ="
                        " current_database()", &db_owner, err)))
        return rc;
    if (db_owner) {
        char *db = NULL;
        if ((rc = pg_text(s, "SELECT quote_ident(current_database())", &db, err)))
            return rc;
        snprintf(sql, sizeof sql, "REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC", db ? db : "");
        free(db);
        if ((rc = pg_exec(s, sql, "revoke TEMPORARY", err)))
            return rc;
    }
    snprintf(sql, sizeof sql,
             "SELECT has_database_privilege('%s', current_database(), 'TEMPORARY')::int",
             role);
    int64_t temp = 1;
    if ((rc = pg_int(s, sql, &temp, err)))
        return rc;
    *temp_revoked = !temp;
    return 0;
}

/* The id of the last transaction that changed users, policies, meta or
 * workflows (the one row of caseflow.changes, kept by triggers), or -2 when
 * it cannot be read. In a transaction, as of its snapshot (its own changes
 * included: a cache filled from them is keyed to its own id, which no
 * other transaction ever writes, and after a rollback the row is back to
 * an older id). */
int64_t cf_pg_store_data_version(cf_store *s)
{
    static const char sql[] = "SELECT xact FROM changes";
    cf_stmt *st = cf_store_stmt(s, sql, NULL);
    if (!st)
        return -2;
    int64_t v = cf_stmt_step(st) == CF_DB_ROW ? cf_stmt_int64(st, 0) : -2;
    cf_stmt_reset(st);
    return v;
}
