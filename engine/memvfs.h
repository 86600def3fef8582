/*
 * The SQLite VFS behind a store opened as ":memory:". SQLite's own
 * ":memory:" databases keep every page in the page cache, and the cache's
 * end-of-transaction bookkeeping walks structures the size of the whole
 * database: each commit costs more as the store grows (3-4 times more per
 * act at 10^5 cases than at 10^4). Opened through this VFS instead, the
 * database is an ordinary "file" whose bytes live in private heap chunks:
 * SQLite handles it as a file (a bounded page cache, commits that touch only
 * the pages they changed), and no byte ever reaches a disk.
 */
#ifndef CF_MEMVFS_H
#define CF_MEMVFS_H

/* Register the VFS once per process (thread-safe) and return its name, for
 * sqlite3_open_v2's zVfs; NULL if SQLite refused it (then the caller keeps
 * using ":memory:"). Every database opened through it starts empty and is
 * private to its connection, whatever the file name: two opens never share
 * bytes, and closing the connection frees them. Only the main database file
 * is held in memory; anything else SQLite might open goes to the default
 * VFS (with journal_mode=MEMORY and temp_store=MEMORY nothing else is). */
const char *cf_memvfs_name(void);

#endif
