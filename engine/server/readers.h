/*
 * The readers (issue #8 item 8: reads run concurrently on their own
 * connections). A pool of read-only engines on the store, one per read
 * running at once: a read's queries (filters, histories, POLE) run there,
 * beside the writer and each other, and the consultation records the read
 * makes are kept (cf_engine_defer_consultations) for the writer to commit
 * before the answer goes. A thread takes an engine, runs one read and
 * gives it back.
 */
#ifndef CFD_READERS_H
#define CFD_READERS_H

#include <stddef.h>

#include <caseflow/caseflow.h>

#include "writer.h"

typedef struct cfd_readers cfd_readers;

/*
 * Open n read-only engines on o->store (with o's plugin path and, when
 * o->have_clock, its clock). *out is a new pool released with
 * cfd_readers_close; n == 0 gives *out NULL (reads go to the writer).
 * Errors: those of cf_engine_open; CF_ENOMEM.
 */
int cfd_readers_open(const struct cfd_writer_options *o, size_t n, cfd_readers **out,
                     cf_error *err);

/* An engine of the pool, for this thread alone until given back (waits
 * while all are taken). Its actor is none, its peer CF_PEER_TOKEN,
 * deferral on. */
cf_engine *cfd_readers_take(cfd_readers *p);

/* Give e back (its actor, peer and kept consultations dropped). */
void cfd_readers_give(cfd_readers *p, cf_engine *e);

/* Close every engine; none may be taken. NULL does nothing. */
void cfd_readers_close(cfd_readers *p);

#endif
