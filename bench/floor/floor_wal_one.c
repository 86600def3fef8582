/*
 * floor_wal_one DB [keep-wal|libs]: the smallest durable writing command
 * (bench/floor/process_floor.c starts it). Linked against the libraries
 * caseflow is (lua5.4, jansson, sqlite3, sodium, ltdl) and touching each so
 * the loader maps and relocates them all; opens the SQLite file DB with
 * store/sqlite.c's pragmas (WAL, synchronous=FULL), inserts one row in one
 * transaction, closes and exits. Closing the last connection checkpoints
 * the WAL, as `caseflow` does on exit; with "keep-wal" the connection is
 * told not to (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): the commit is as durable,
 * but the .db file alone then lacks the newest commits. With "libs" it
 * exits once the libraries are touched (the cost of loading them).
 * Exit 0, or 1 with a one-line error.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <ltdl.h>
#include <lua.h>
#include <sodium.h>
#include <sqlite3.h>

static int fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "floor_wal_one: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fail(NULL, "usage: floor_wal_one DB [keep-wal]");
    /* touch each library as caseflow does at start */
    if (sodium_init() < 0 || lt_dlinit() != 0)
        return fail(NULL, "libsodium or ltdl");
    (void)jansson_version_str();
    (void)lua_version(NULL);
    if (argc > 2 && !strcmp(argv[2], "libs"))
        return lt_dlexit() == 0 ? 0 : 1;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return fail(db, "open");
    if (argc > 2 && !strcmp(argv[2], "keep-wal"))
        sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "PRAGMA foreign_keys=OFF; PRAGMA trusted_schema=OFF;"
                         "PRAGMA cache_size=-16000; PRAGMA temp_store=MEMORY;"
                         "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT)",
                     NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, "pragmas");
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t(x) VALUES (?)", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, "one referral", -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE || sqlite3_finalize(st) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, "insert");
    lt_dlexit();
    return sqlite3_close(db) == SQLITE_OK ? 0 : fail(db, "close");
}
