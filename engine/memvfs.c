/*
 * An in-memory SQLite VFS for stores opened as ":memory:" (see memvfs.h).
 * A file is an array of fixed-size chunks allocated as they are first
 * written: growing never moves the bytes already there (SQLite's memdb VFS
 * reallocates one contiguous block and stops at 2 GiB, less than a 10^6-case
 * store needs). Only the bytes before the file's size are defined: a read
 * past it gives zeros, a write past it first zeroes the gap, as a file
 * would, so new chunks need no clearing (calloc's memset was half the cost
 * of growing the store).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "memvfs.h"

#define CHUNK ((sqlite3_int64)64 * 1024) /* a multiple of every SQLite page size */

typedef struct memfile {
    sqlite3_file base;
    unsigned char **chunk; /* nchunk slots, allocated up to size; NULL past it */
    size_t nchunk;
    sqlite3_int64 size;
} memfile;

static sqlite3_vfs mem_vfs;
static sqlite3_vfs *orig; /* the default VFS: everything but the main file */
static bool registered;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- the file --------------------------------------------------------------- */

static int mf_close(sqlite3_file *f)
{
    memfile *m = (memfile *)f;
    for (size_t i = 0; i < m->nchunk; i++)
        free(m->chunk[i]);
    free(m->chunk);
    m->chunk = NULL;
    m->nchunk = 0;
    m->size = 0;
    return SQLITE_OK;
}

static int mf_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    memfile *m = (memfile *)f;
    unsigned char *out = buf;
    sqlite3_int64 avail = off < m->size ? m->size - off : 0;
    sqlite3_int64 n = amt < avail ? amt : avail;
    while (n > 0) {
        size_t c = (size_t)(off / CHUNK);
        sqlite3_int64 in = off % CHUNK, k = CHUNK - in < n ? CHUNK - in : n;
        if (m->chunk[c])
            memcpy(out, m->chunk[c] + in, (size_t)k);
        else
            memset(out, 0, (size_t)k);
        out += k;
        off += k;
        n -= k;
        amt -= (int)k;
    }
    if (amt > 0) {
        memset(out, 0, (size_t)amt);
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

/* Room for chunk slots up to (not including) n. */
static int reserve(memfile *m, size_t n)
{
    if (n <= m->nchunk)
        return 0;
    size_t cap = m->nchunk ? m->nchunk : 16;
    while (cap < n)
        cap *= 2;
    unsigned char **p = realloc(m->chunk, cap * sizeof *p);
    if (!p)
        return -1;
    memset(p + m->nchunk, 0, (cap - m->nchunk) * sizeof *p);
    m->chunk = p;
    m->nchunk = cap;
    return 0;
}

/* Copy n bytes from in (NULL: zeros) to offset off, allocating chunks. */
static int put(memfile *m, const unsigned char *in, sqlite3_int64 off, sqlite3_int64 n)
{
    while (n > 0) {
        size_t c = (size_t)(off / CHUNK);
        sqlite3_int64 at = off % CHUNK, k = CHUNK - at < n ? CHUNK - at : n;
        if (!m->chunk[c] && !(m->chunk[c] = malloc((size_t)CHUNK)))
            return -1;
        if (in) {
            memcpy(m->chunk[c] + at, in, (size_t)k);
            in += k;
        } else {
            memset(m->chunk[c] + at, 0, (size_t)k);
        }
        off += k;
        n -= k;
    }
    return 0;
}

static int mf_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    memfile *m = (memfile *)f;
    sqlite3_int64 end = off + amt;
    if (amt <= 0)
        return SQLITE_OK;
    if (reserve(m, (size_t)((end + CHUNK - 1) / CHUNK)))
        return SQLITE_IOERR_NOMEM;
    /* a gap between the end of the file and this write reads as zeros */
    if ((off > m->size && put(m, NULL, m->size, off - m->size)) || put(m, buf, off, amt))
        return SQLITE_IOERR_NOMEM;
    if (end > m->size)
        m->size = end;
    return SQLITE_OK;
}

static int mf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    memfile *m = (memfile *)f;
    if (size >= m->size)
        return SQLITE_OK; /* SQLite truncates only to shrink */
    size_t keep = (size_t)((size + CHUNK - 1) / CHUNK);
    for (size_t i = keep; i < m->nchunk; i++) {
        free(m->chunk[i]);
        m->chunk[i] = NULL;
    }
    m->size = size; /* what lies past it is read as zeros, and zeroed before use */
    return SQLITE_OK;
}

static int mf_sync(sqlite3_file *f, int flags)
{
    (void)f;
    (void)flags;
    return SQLITE_OK;
}

static int mf_size(sqlite3_file *f, sqlite3_int64 *size)
{
    *size = ((memfile *)f)->size;
    return SQLITE_OK;
}

/* One connection per file: there is nobody to lock against. */
static int mf_lock(sqlite3_file *f, int level)
{
    (void)f;
    (void)level;
    return SQLITE_OK;
}

static int mf_reserved(sqlite3_file *f, int *out)
{
    (void)f;
    *out = 0;
    return SQLITE_OK;
}

static int mf_control(sqlite3_file *f, int op, void *arg)
{
    (void)f;
    (void)op;
    (void)arg;
    return SQLITE_NOTFOUND;
}

static int mf_sector(sqlite3_file *f)
{
    (void)f;
    return 4096;
}

static int mf_device(sqlite3_file *f)
{
    (void)f;
    return SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_POWERSAFE_OVERWRITE | SQLITE_IOCAP_SAFE_APPEND |
           SQLITE_IOCAP_SEQUENTIAL;
}

/* Version 1: no shared memory (so no WAL) and no memory mapping. */
static const sqlite3_io_methods mf_methods = {
    .iVersion = 1,
    .xClose = mf_close,
    .xRead = mf_read,
    .xWrite = mf_write,
    .xTruncate = mf_truncate,
    .xSync = mf_sync,
    .xFileSize = mf_size,
    .xLock = mf_lock,
    .xUnlock = mf_lock,
    .xCheckReservedLock = mf_reserved,
    .xFileControl = mf_control,
    .xSectorSize = mf_sector,
    .xDeviceCharacteristics = mf_device,
};

/* ---- the VFS ---------------------------------------------------------------- */

static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    if (!(flags & SQLITE_OPEN_MAIN_DB))
        return orig->xOpen(orig, name, f, flags, out);
    memfile *m = (memfile *)f;
    memset(m, 0, sizeof *m);
    m->base.pMethods = &mf_methods;
    if (out)
        *out = flags | SQLITE_OPEN_MEMORY; /* SQLite keeps the journal in memory too */
    return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return orig->xDelete(orig, name, sync);
}

/* No journal, WAL or other file beside a memory store ever exists. */
static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    (void)name;
    (void)flags;
    *out = 0;
    return SQLITE_OK;
}

static int vfs_full(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    sqlite3_snprintf(n, out, "%s", name);
    return SQLITE_OK;
}

static void *vfs_dlopen(sqlite3_vfs *v, const char *path)
{
    (void)v;
    return orig->xDlOpen(orig, path);
}

static void vfs_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    orig->xDlError(orig, n, msg);
}

static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return orig->xDlSym(orig, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    orig->xDlClose(orig, h);
}

static int vfs_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return orig->xRandomness(orig, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return orig->xSleep(orig, us);
}

static int vfs_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return orig->xCurrentTime(orig, out);
}

static int vfs_lasterror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    return orig->xGetLastError ? orig->xGetLastError(orig, n, msg) : 0;
}

static int vfs_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    if (orig->iVersion >= 2 && orig->xCurrentTimeInt64)
        return orig->xCurrentTimeInt64(orig, out);
    double d = 0;
    int rc = orig->xCurrentTime(orig, &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

static void setup(void)
{
    if (sqlite3_initialize() != SQLITE_OK || !(orig = sqlite3_vfs_find(NULL)))
        return;
    mem_vfs.iVersion = 2;
    mem_vfs.szOsFile = orig->szOsFile > (int)sizeof(memfile) ? orig->szOsFile
                                                              : (int)sizeof(memfile);
    mem_vfs.mxPathname = orig->mxPathname;
    mem_vfs.zName = "caseflow-memory";
    mem_vfs.xOpen = vfs_open;
    mem_vfs.xDelete = vfs_delete;
    mem_vfs.xAccess = vfs_access;
    mem_vfs.xFullPathname = vfs_full;
    mem_vfs.xDlOpen = vfs_dlopen;
    mem_vfs.xDlError = vfs_dlerror;
    mem_vfs.xDlSym = vfs_dlsym;
    mem_vfs.xDlClose = vfs_dlclose;
    mem_vfs.xRandomness = vfs_random;
    mem_vfs.xSleep = vfs_sleep;
    mem_vfs.xCurrentTime = vfs_time;
    mem_vfs.xGetLastError = vfs_lasterror;
    mem_vfs.xCurrentTimeInt64 = vfs_time64;
    registered = sqlite3_vfs_register(&mem_vfs, 0) == SQLITE_OK;
}

const char *cf_memvfs_name(void)
{
    pthread_once(&once, setup);
    return registered ? mem_vfs.zName : NULL;
}
