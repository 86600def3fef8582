/*
 * Two read transactions on one snapshot of a store file, on two
 * connections, so that two threads can read the same state of the store
 * (audit verify reads the chain and history on one, the case tables on the
 * other). The system SQLite has no sqlite3_snapshot_open; instead the twin
 * notes its PRAGMA data_version, the first connection starts its read
 * transaction, then the twin starts its own and reads data_version again:
 * unchanged means no commit happened in between (any commit changes the
 * write-ahead log's header, and the twin's next read sees that it changed),
 * so both transactions see the same commit.
 */
#ifndef CF_TWIN_H
#define CF_TWIN_H

#include "store.h"

/* Begin a read transaction on s (as cf_store_begin_read, already holding
 * its snapshot on return) and, when it can, open the store at path once
 * more, read-only, in a read transaction on the same snapshot: *twin, the
 * caller's to roll back and close (cf_store_twin_close). *twin is NULL when
 * no twin could be had (a store in memory, a SQLite built without threads,
 * an open that failed, or writers committing through three attempts): s's
 * transaction stands alone then. Errors are those of cf_store_begin_read
 * on s (then there is no transaction and no twin). */
int cf_store_begin_read_twin(cf_store *s, const char *path, cf_store **twin, cf_error *err);

/* End the twin's transaction and close it; NULL is a no-op. */
void cf_store_twin_close(cf_store *twin);

#endif
