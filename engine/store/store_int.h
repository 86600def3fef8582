/*
 * The store's handle, shared by its backends (sqlite.c, pg_store.c) and
 * nothing else: the rest of the engine sees cf_store through store.h.
 */
#ifndef CF_STORE_INT_H
#define CF_STORE_INT_H

#include "../store.h"
#if CF_WITH_POSTGRES
#include "postgres.h"
#endif

typedef struct cf_pg_conn cf_pg_conn;

#define STMT_SLOTS 256 /* distinct statements: about 120 today, BEGIN/COMMIT among them */

struct cf_store {
    sqlite3 *db;    /* the SQLite backend's connection, or NULL */
    cf_pg_conn *pg; /* the PostgreSQL backend's connection, or NULL */
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
    /* cf_store_recheck_schema's function: another digest the store may now
     * rightly have (NULL: none) */
    int (*recorded_schema)(cf_store *s, char digest[65], cf_error *err);
    char *path;
    cf_store_hooks hooks;
    cf_data_cache *dcache; /* case data this process wrote, parsed (or NULL) */
    bool immutable;        /* opened immutable=1: SQLite takes no locks */
    int64_t pg_version;    /* PostgreSQL: cf_store_data_version's last answer */
};

/* pg_store.c: the PostgreSQL backend's part of the store functions. */
#if CF_WITH_POSTGRES
/* Connect s (s->path set) to the database of uri and read its identity:
 * *uv 0 for a database without a caseflow schema that may be made one
 * (create). Errors: CF_ENOTFOUND no such database, CF_EMISSING no server,
 * CF_EDENIED login refused, CF_EINVALID not a caseflow store. */
int cf_pg_store_open(cf_store *s, const char *uri, int create, int readonly, int64_t *uv,
                     cf_error *err);
/* Create the current schema and the store's identity (inside the caller's
 * transaction). */
int cf_pg_store_create(cf_store *s, cf_error *err);
/* BEGIN a read transaction (mode 0: one snapshot), a write transaction
 * (1: holding the store's write lock) or a write transaction without it
 * (2: READ COMMITTED, for work that appends nothing to the chain and locks
 * the rows it claims: cf_store_begin_unlocked). */
int cf_pg_store_begin(cf_store *s, int mode, cf_error *err);
int cf_pg_store_schema_digest(cf_store *s, char out[65], cf_error *err);
int cf_pg_store_schema_cookie(cf_store *s, int64_t *cookie, cf_error *err);
/* The store's data_version: moves with every change to what the engine
 * caches against it (users, policies, ...); -2 when unreadable. */
int64_t cf_pg_store_data_version(cf_store *s);
/* The last error's text (borrowed; never NULL). */
const char *cf_pg_store_errmsg(cf_store *s);
#endif

#endif
