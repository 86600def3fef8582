/*
 * The statement layer: the one way the engine's modules run SQL, whichever
 * backend holds the store. A module gets a statement from its store
 * (cf_store_stmt for the fixed statements, prepared once per connection and
 * reused; cf_store_prepare for one built at run time), binds parameters,
 * steps through the rows and reads columns; it never calls a backend's own
 * library. The calls are those of SQLite's C interface, on purpose: that is
 * the embedded default and the reference, so on SQLite each one is a single
 * call; the PostgreSQL backend (store/postgres.c) gives the same calls the same
 * meaning over libpq.
 *
 * What the calls promise on every backend:
 * - parameters are numbered from 1 (written "?" or ":name" in the SQL);
 *   columns from 0;
 * - cf_stmt_step returns CF_DB_ROW while there is a row, CF_DB_DONE at the
 *   end, or an error code in SQLite's numbering (CF_DB_BUSY, CF_DB_CONSTRAINT,
 *   ...) that cf_store_error turns into a cf_error;
 * - a column's type is one of CF_DB_INTEGER, CF_DB_FLOAT, CF_DB_TEXT,
 *   CF_DB_BLOB, CF_DB_NULL, the storage classes the row hashes of the audit
 *   chain are written in (cf_store_hash_rows), so a row hashes alike on both;
 * - text and blob pointers read from a row stay valid until the next step,
 *   reset or finalize of the statement (SQLite's rule, the strictest).
 *
 * Ownership: a statement from cf_store_stmt belongs to the store and is
 * never finalized by its user; one from cf_store_prepare belongs to the
 * caller, who ends it with cf_stmt_finalize. cf_stmt_bind_text keeps only the
 * pointer (the text must outlive the step); cf_stmt_bind_text_copy copies.
 */
#ifndef CF_STORE_DB_H
#define CF_STORE_DB_H

#include "config.h" /* CF_WITH_POSTGRES, which must be seen wherever this is */

#include <stdint.h>

#include <sqlite3.h>

/* Results and column types, in SQLite's numbering. */
enum {
    CF_DB_OK = SQLITE_OK,
    CF_DB_ERROR = SQLITE_ERROR,
    CF_DB_BUSY = SQLITE_BUSY,
    CF_DB_NOMEM = SQLITE_NOMEM,
    CF_DB_CONSTRAINT = SQLITE_CONSTRAINT,
    CF_DB_INTERRUPT = SQLITE_INTERRUPT,
    CF_DB_ROW = SQLITE_ROW,
    CF_DB_DONE = SQLITE_DONE,
};
enum {
    CF_DB_INTEGER = SQLITE_INTEGER,
    CF_DB_FLOAT = SQLITE_FLOAT,
    CF_DB_TEXT = SQLITE_TEXT,
    CF_DB_BLOB = SQLITE_BLOB,
    CF_DB_NULL = SQLITE_NULL,
};

/* A statement of the PostgreSQL backend (store/postgres.c). */
typedef struct cf_pg_stmt cf_pg_stmt;

/* A prepared statement: exactly one of the two is set. */
typedef struct cf_stmt {
    sqlite3_stmt *lite;
    cf_pg_stmt *pg;
} cf_stmt;

#if CF_WITH_POSTGRES
/* store/postgres.c: the same calls on a PostgreSQL statement. */
int cf_pg_stmt_step(cf_pg_stmt *st);
void cf_pg_stmt_reset(cf_pg_stmt *st);
void cf_pg_stmt_clear(cf_pg_stmt *st);
void cf_pg_stmt_finalize(cf_pg_stmt *st);
void cf_pg_stmt_bind_int64(cf_pg_stmt *st, int i, int64_t v);
void cf_pg_stmt_bind_double(cf_pg_stmt *st, int i, double v);
void cf_pg_stmt_bind_text(cf_pg_stmt *st, int i, const char *v, int n, int copy);
void cf_pg_stmt_bind_blob(cf_pg_stmt *st, int i, const void *v, int n);
void cf_pg_stmt_bind_null(cf_pg_stmt *st, int i);
int cf_pg_stmt_param_count(cf_pg_stmt *st);
int cf_pg_stmt_param_index(cf_pg_stmt *st, const char *name);
const char *cf_pg_stmt_param_name(cf_pg_stmt *st, int i);
int cf_pg_stmt_columns(cf_pg_stmt *st);
int cf_pg_stmt_type(cf_pg_stmt *st, int c);
int64_t cf_pg_stmt_int64(cf_pg_stmt *st, int c);
double cf_pg_stmt_double(cf_pg_stmt *st, int c);
const char *cf_pg_stmt_text(cf_pg_stmt *st, int c);
const void *cf_pg_stmt_blob(cf_pg_stmt *st, int c);
int cf_pg_stmt_bytes(cf_pg_stmt *st, int c);
int64_t cf_pg_stmt_changes(cf_pg_stmt *st);
#define CF_DB_PG(st, pgcall, litecall) ((st)->pg ? (pgcall) : (litecall))
#else
#define CF_DB_PG(st, pgcall, litecall) (litecall)
#endif

/* End a statement from cf_store_prepare (NULL: nothing). Never one from
 * cf_store_stmt, which the store keeps. */
void cf_stmt_finalize(cf_stmt *st);

/* Step: CF_DB_ROW, CF_DB_DONE or an error code. */
static inline int cf_stmt_step(cf_stmt *st)
{
    return CF_DB_PG(st, cf_pg_stmt_step(st->pg), sqlite3_step(st->lite));
}
/* Back to before the first step; bindings are kept. */
static inline void cf_stmt_reset(cf_stmt *st)
{
    CF_DB_PG(st, cf_pg_stmt_reset(st->pg), (void)sqlite3_reset(st->lite));
}
/* Every parameter back to NULL. */
static inline void cf_stmt_clear(cf_stmt *st)
{
    CF_DB_PG(st, cf_pg_stmt_clear(st->pg), (void)sqlite3_clear_bindings(st->lite));
}

static inline void cf_stmt_bind_int64(cf_stmt *st, int i, int64_t v)
{
    CF_DB_PG(st, cf_pg_stmt_bind_int64(st->pg, i, v),
             (void)sqlite3_bind_int64(st->lite, i, v));
}
static inline void cf_stmt_bind_double(cf_stmt *st, int i, double v)
{
    CF_DB_PG(st, cf_pg_stmt_bind_double(st->pg, i, v), (void)sqlite3_bind_double(st->lite, i, v));
}
/* v (NULL binds NULL) is borrowed until the statement is stepped to its end
 * or reset. */
static inline void cf_stmt_bind_text(cf_stmt *st, int i, const char *v)
{
    CF_DB_PG(st, cf_pg_stmt_bind_text(st->pg, i, v, -1, 0),
             (void)sqlite3_bind_text(st->lite, i, v, -1, SQLITE_STATIC));
}
/* The first n bytes of v, borrowed as above. */
static inline void cf_stmt_bind_textn(cf_stmt *st, int i, const char *v, int n)
{
    CF_DB_PG(st, cf_pg_stmt_bind_text(st->pg, i, v, n, 0),
             (void)sqlite3_bind_text(st->lite, i, v, n, SQLITE_STATIC));
}
/* v copied: the caller may free it at once. */
static inline void cf_stmt_bind_text_copy(cf_stmt *st, int i, const char *v)
{
    CF_DB_PG(st, cf_pg_stmt_bind_text(st->pg, i, v, -1, 1),
             (void)sqlite3_bind_text(st->lite, i, v, -1, SQLITE_TRANSIENT));
}
/* n bytes of v, copied. */
static inline void cf_stmt_bind_blob(cf_stmt *st, int i, const void *v, int n)
{
    CF_DB_PG(st, cf_pg_stmt_bind_blob(st->pg, i, v, n),
             (void)sqlite3_bind_blob(st->lite, i, v, n, SQLITE_TRANSIENT));
}
static inline void cf_stmt_bind_null(cf_stmt *st, int i)
{
    CF_DB_PG(st, cf_pg_stmt_bind_null(st->pg, i), (void)sqlite3_bind_null(st->lite, i));
}
static inline int cf_stmt_param_count(cf_stmt *st)
{
    return CF_DB_PG(st, cf_pg_stmt_param_count(st->pg), sqlite3_bind_parameter_count(st->lite));
}
/* The number of parameter ":name" (name with its colon), 0 if none. */
static inline int cf_stmt_param_index(cf_stmt *st, const char *name)
{
    return CF_DB_PG(st, cf_pg_stmt_param_index(st->pg, name),
                    sqlite3_bind_parameter_index(st->lite, name));
}
/* The name of parameter i (with its colon), NULL for a "?". Borrowed. */
static inline const char *cf_stmt_param_name(cf_stmt *st, int i)
{
    return CF_DB_PG(st, cf_pg_stmt_param_name(st->pg, i),
                    sqlite3_bind_parameter_name(st->lite, i));
}

static inline int cf_stmt_columns(cf_stmt *st)
{
    return CF_DB_PG(st, cf_pg_stmt_columns(st->pg), sqlite3_column_count(st->lite));
}
static inline int cf_stmt_type(cf_stmt *st, int c)
{
    return CF_DB_PG(st, cf_pg_stmt_type(st->pg, c), sqlite3_column_type(st->lite, c));
}
static inline int64_t cf_stmt_int64(cf_stmt *st, int c)
{
    return CF_DB_PG(st, cf_pg_stmt_int64(st->pg, c), sqlite3_column_int64(st->lite, c));
}
static inline double cf_stmt_double(cf_stmt *st, int c)
{
    return CF_DB_PG(st, cf_pg_stmt_double(st->pg, c), sqlite3_column_double(st->lite, c));
}
/* NULL for a NULL column. Valid until the next step, reset or finalize. */
static inline const char *cf_stmt_text(cf_stmt *st, int c)
{
    return CF_DB_PG(st, cf_pg_stmt_text(st->pg, c),
                    (const char *)sqlite3_column_text(st->lite, c));
}
static inline const void *cf_stmt_blob(cf_stmt *st, int c)
{
    return CF_DB_PG(st, cf_pg_stmt_blob(st->pg, c), sqlite3_column_blob(st->lite, c));
}
/* Bytes of the text or blob last read from column c (read it first). */
static inline int cf_stmt_bytes(cf_stmt *st, int c)
{
    return CF_DB_PG(st, cf_pg_stmt_bytes(st->pg, c), sqlite3_column_bytes(st->lite, c));
}

#endif
