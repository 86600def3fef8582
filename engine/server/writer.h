/*
 * The one writer (issue #8 item 8). SQLite has one writer at a time, so
 * caseflowd funnels every write — and the audit records of reads, which
 * run on the readers (readers.h) — through one thread that owns the one
 * writing engine. The thread
 * takes every job queued (up to a group's maximum), runs them all in one
 * store transaction (cf_batch_begin: each command under a savepoint of its
 * own, so a refused one leaves no trace and touches no other), commits, and
 * only then wakes the callers: nothing is ever reported saved before the
 * commit that made it durable. When the commit fails, every job of the
 * group gets that failure (CF_EIO: 503) and nothing of theirs was saved.
 */
#ifndef CFD_WRITER_H
#define CFD_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <caseflow/caseflow.h>

#include "metrics.h"

typedef struct cfd_writer cfd_writer;

typedef int (*cfd_job_fn)(cf_engine *e, void *arg, cf_error *err);

/* How to open the writer's engine. Zero-initialise, then set. */
struct cfd_writer_options {
    const char *store;       /* the store's path (required) */
    const char *plugin_path; /* NULL: CASEFLOW_PLUGIN_PATH */
    const char *key_path;    /* the audit signing key; NULL: the engine's default */
    int have_clock;          /* set the engine clock to `clock` (CASEFLOW_NOW) */
    int64_t clock;
    size_t max_group;        /* jobs per transaction; 0: 256 */
    cfd_metrics *metrics;    /* borrowed, may be NULL: commits, batch sizes, feed head */
};

/*
 * Open the engine on the store and start the writer thread. *out is a new
 * writer released with cfd_writer_close. Errors: those of cf_engine_open;
 * CF_EUSAGE (field "CASEFLOW_NOW") when a clock is asked of a store that
 * runs on the system clock; CF_ENOMEM, CF_EINTERNAL (no thread).
 */
int cfd_writer_open(const struct cfd_writer_options *o, cfd_writer **out, cf_error *err);

/* Run fn on the writer's engine inside its next group transaction, under a
 * savepoint of its own, with the actor set to actor (NULL: none, i.e. the
 * engine itself) and reason; block until the group committed; returns fn's
 * result, or the commit's error (then fn's work was not saved). Thread-safe.
 * Whatever fn hands back through arg (e.g. a result to send) must be
 * discarded by the caller when the return is the commit's error: it was
 * never saved. After cfd_writer_close began: CF_EIO, "shutting down". */
int cfd_writer_run(cfd_writer *w, const char *actor, const char *reason, cfd_job_fn fn,
                   void *arg, cf_error *err);

/* The newest feed seq the writer has seen committed (cf_feed_head after
 * its last transaction). */
int64_t cfd_writer_feed_head(cfd_writer *w);

/* Wait, without holding the writer, until the feed head passes after,
 * timeout_ms elapse or cfd_writer_release_waiters was called. 1 when the
 * head passed after, else 0. Thread-safe. */
int cfd_writer_feed_wait(cfd_writer *w, int64_t after, long timeout_ms);

/* Wake every feed waiter now and make later waits return at once (the
 * service is stopping: long polls answer with what they have). */
void cfd_writer_release_waiters(cfd_writer *w);

/* Refuse new jobs, run and commit every job already queued, stop the
 * thread and close the engine. NULL does nothing. */
void cfd_writer_close(cfd_writer *w);

#endif
