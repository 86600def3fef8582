/*
 * The service's clock (issue #8 item 7): a thread that every interval runs
 * cf_tick through the writer as the engine itself (no actor), so due
 * timers and missed deadlines fire without a cron job, and counts the
 * timers fired in caseflowd_timers_fired_total.
 */
#ifndef CFD_TICK_H
#define CFD_TICK_H

#include "metrics.h"
#include "writer.h"

typedef struct cfd_ticker cfd_ticker;

/* Start ticking every interval seconds on w (borrowed; metrics may be
 * NULL). *out is NULL, and 0 returned, when interval is 0 (ticking off).
 * -1 when the thread cannot start. */
int cfd_tick_start(cfd_writer *w, cfd_metrics *metrics, long long interval, cfd_ticker **out);

/* Stop the thread (after the tick under way, if any) and free t; NULL
 * does nothing. */
void cfd_tick_stop(cfd_ticker *t);

#endif
