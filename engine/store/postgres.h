/*
 * The PostgreSQL half of the statement layer (issue 12): a connection over
 * libpq and what the store needs beside the cf_pg_stmt_* calls that
 * store/db.h declares. Statements are written in SQLite's dialect of
 * placeholders ("?", "?NNN", ":name"); cf_pg_prepare turns them into
 * PostgreSQL's "$n" and prepares the statement on the server once. Results
 * are SQLite's codes (CF_DB_OK, CF_DB_BUSY, CF_DB_CONSTRAINT, ... and
 * SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_FULL, SQLITE_PERM), so the store
 * turns them into a cf_error the same way on both backends.
 *
 * A connection is used by one thread at a time, as libpq's.
 */
#ifndef CF_STORE_POSTGRES_H
#define CF_STORE_POSTGRES_H

#include <stdint.h>

#include "db.h"

typedef struct cf_pg_conn cf_pg_conn;

/* Connects to uri (a libpq URI or "key=value" string) with client encoding
 * UTF8. On success *out is a new connection (end it with cf_pg_close) and
 * *errmsg is NULL; on failure *out is NULL and *errmsg a new one-line
 * message (the caller frees it with free()), and the result is
 * SQLITE_CANTOPEN (server unreachable, refused, authentication failed) or
 * CF_DB_NOMEM. errmsg may be NULL. */
int cf_pg_connect(const char *uri, cf_pg_conn **out, char **errmsg);

/* Ends the connection. Statements still open stay valid to finalize (and
 * only that: any other call on them fails or reads nothing), as SQLite's
 * sqlite3_close_v2; the memory goes with the last of them. NULL is a no-op. */
void cf_pg_close(cf_pg_conn *conn);

/* Runs sql as it is (no placeholders; several statements separated by ";"
 * allowed, which PostgreSQL runs as one transaction unless they hold
 * BEGIN/COMMIT themselves). CF_DB_OK or an error code, with the message in
 * cf_pg_errmsg. */
int cf_pg_exec(cf_pg_conn *conn, const char *sql);

/* Translates one statement's placeholders and prepares it on the server.
 * On success *out is a new statement (end it with cf_pg_stmt_finalize) and
 * the result CF_DB_OK; on failure *out is NULL, the result an error code
 * and the message in cf_pg_errmsg. SQL empty but for comments gives a
 * statement whose step is CF_DB_DONE at once (SQLite gives none). */
int cf_pg_prepare(cf_pg_conn *conn, const char *sql, cf_pg_stmt **out);

/* The message of the last failed call on the connection or one of its
 * statements, one line; "not an error" after a success. Borrowed: valid
 * until the next call on the connection or its statements. */
const char *cf_pg_errmsg(cf_pg_conn *conn);

/* Rows inserted, updated or deleted by the last INSERT, UPDATE, DELETE or
 * MERGE run on the connection (other statements leave it as it was, as
 * sqlite3_changes). */
int64_t cf_pg_changes(cf_pg_conn *conn);
/* Run sql (plain statements, no parameters) now and again at the start of
 * every new session after cf_pg_revive. CF_DB_OK or an error code. */
int cf_pg_set_session(cf_pg_conn *conn, const char *sql);
/* When the server has closed conn (a restart, a failover, a killed
 * backend), connect again with the same parameters and run the session
 * setup; statements are prepared again on their next run. CF_DB_OK when
 * the connection is (again) usable; SQLITE_IOERR with the reason when the
 * server still cannot be reached. Only between transactions: whatever the
 * lost session had not committed is gone. */
int cf_pg_revive(cf_pg_conn *conn);
/* Rows changed by every INSERT, UPDATE and DELETE since conn opened. */
int64_t cf_pg_total_changes(cf_pg_conn *conn);
/* Where conn's transaction stands: CF_PG_TX_IDLE (none), CF_PG_TX_OPEN, or
 * CF_PG_TX_FAILED (a statement failed, or the connection is lost: it can
 * only be rolled back, and COMMIT would roll it back too). */
enum { CF_PG_TX_IDLE = 0, CF_PG_TX_OPEN = 1, CF_PG_TX_FAILED = 2 };
int cf_pg_tx_status(cf_pg_conn *conn);

/* The placeholder translation alone (cf_pg_prepare's first half), for the
 * tests. Each "?" becomes "$n" with n one more than the largest number so
 * far, "?NNN" becomes "$NNN", and each ":name" "$n" with the number of the
 * first ":name" of that name; not inside '...', E'...', "...", $tag$...$tag$,
 * comments (-- and nested block comments), nor "::" casts. On CF_DB_OK, *out is the
 * new translated text, *nparams the largest number and *names a new array
 * of *nparams new strings, each the name of that parameter as written
 * (":name" or "?NNN") or NULL for a "?" or a number never written (NULL
 * itself when *nparams is 0): free them with cf_pg_translate_free. On
 * failure (CF_DB_NOMEM; CF_DB_ERROR for ?0 or a number past 32766, with a
 * message in *errmsg, static) nothing is allocated. errmsg may be NULL.
 * Unlike SQLite, a name must start with a letter, "_" or a UTF-8 byte (so
 * an array slice a[1:2] stays one); "$n" written in the SQL is left as it
 * is and not counted; PostgreSQL's own "?" operators (jsonb) cannot be
 * written: use their functions (jsonb_exists, ...). */
int cf_pg_translate(const char *sql, char **out, int *nparams, char ***names,
                    const char **errmsg);
/* Frees what cf_pg_translate made (any of them may be NULL). */
void cf_pg_translate_free(char *out, int nparams, char **names);

#endif
