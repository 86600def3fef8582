/*
 * Two read transactions on one snapshot (twin.h).
 */
#include <string.h>

#include "twin.h"

/* The connection's data_version, starting its read transaction if it is
 * inside BEGIN; false if it could not be read. */
static bool data_version(cf_store *s, int64_t *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cf_store_db(s), "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
        return false;
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ok;
}

void cf_store_twin_close(cf_store *twin)
{
    if (!twin)
        return;
    cf_store_rollback(twin);
    cf_store_close(twin);
}

int cf_store_begin_read_twin(cf_store *s, const char *path, cf_store **twin, cf_error *err)
{
    *twin = NULL;
    cf_store *t = NULL;
    cf_error ignore;
    if (path && strcmp(path, ":memory:") != 0 && !cf_store_is_pg(s) && sqlite3_threadsafe() &&
        cf_store_open(path, 0, 1, &t, &ignore) == 0)
        /* the case tables side by side and their look-ups: 512 KiB holds
         * the cursors' paths (the same pages are read as with 2 MiB, and
         * filling 2 MiB cost more CPU than it saved) */
        sqlite3_exec(cf_store_db(t), "PRAGMA cache_size=-512", NULL, NULL, NULL);
    /* An immutable open takes no locks and its data_version never moves:
     * the two reads below would prove nothing. One connection then. */
    if (t && (cf_store_immutable(s) || cf_store_immutable(t))) {
        cf_store_close(t);
        t = NULL;
    }
    for (int tries = 0; t && tries < 3; tries++) {
        int64_t before, after, mine;
        if (!data_version(t, &before))
            break;
        int rc = cf_store_begin_read(s, err);
        if (rc) {
            cf_store_close(t);
            return rc;
        }
        /* s's snapshot is taken here, between the twin's two reads */
        bool same = data_version(s, &mine) && cf_store_begin_read(t, &ignore) == 0;
        same = same && data_version(t, &after) && after == before;
        if (same) {
            *twin = t;
            return 0;
        }
        cf_store_rollback(t);
        cf_store_rollback(s);
    }
    cf_store_close(t);
    return cf_store_begin_read(s, err);
}
