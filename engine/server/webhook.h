/*
 * Webhook delivery (issue #8 item 6): a thread that asks the engine for
 * due deliveries (cf_webhook_next, on the writer, as the engine itself),
 * POSTs each with libcurl's multi interface outside the writer, and records
 * each outcome (cf_webhook_done, on the writer). It looks when the feed
 * moves (a commit appended domain events), when a POST finishes, and every
 * poll interval (retries falling due). A receiver that hangs, fails or
 * drops the connection costs one of its own leased deliveries' slots until
 * the timeout, never the writer's time: intake and acts never wait for it.
 *
 * What a receiver gets: POST URL with the CloudEvent JSON as the body and
 *   Content-Type: application/cloudevents+json
 *   X-Caseflow-Event-Id: <the CloudEvent id; the same on every retry>
 *   X-Caseflow-Webhook: <webhook id>
 *   X-Caseflow-Delivery-Attempt: <1, 2, ...>
 *   X-Caseflow-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256>
 * where v1 = HMAC-SHA256(key = the webhook's secret, message = "<t>." +
 * the body's exact bytes), lower-case hex. A receiver recomputes it over
 * the raw body, compares in constant time, refuses a t too far from its
 * clock (e.g. 5 minutes: replay), and deduplicates by the event id (at
 * least once: an event can come again). Any 2xx is delivered; anything
 * else, a redirect, a timeout or a transport error is a failed attempt,
 * retried by the engine's backoff until max_attempts, then a dead letter
 * (`caseflow webhook redeliver`).
 */
#ifndef CFD_WEBHOOK_H
#define CFD_WEBHOOK_H

#include <stddef.h>

#include "metrics.h"
#include "writer.h"

typedef struct cfd_webhooks cfd_webhooks;

/* Zero-initialise, then set what you need. */
typedef struct cfd_webhook_opts {
    long poll_ms;            /* look for due retries this often; 0: 1000 */
    long timeout_ms;         /* one POST, all of it; 0: 5000 */
    long connect_timeout_ms; /* connecting; 0: the lesser of 2000 and timeout_ms */
    int max_attempts;        /* attempts before a dead letter; 0: 10 */
    size_t concurrency;      /* POSTs at once, all webhooks together; 0: 32 */
    cfd_metrics *metrics;    /* borrowed, may be NULL: caseflowd_webhook_* */
    int quiet;               /* no log lines for failed deliveries */
    /* A PostgreSQL store (borrowed, may be NULL): the deliverer opens an
     * engine of its own on it and records its work there, in transactions
     * that do not take the store's write lock, not on the writer
     * (engine/webhook.c, claims). */
    const struct cfd_writer_options *own;
} cfd_webhook_opts;

/*
 * Start delivering on w (borrowed: stop the deliverer before closing the
 * writer). o may be NULL (defaults); it is copied. *out is a new
 * deliverer released with cfd_webhooks_stop. 0, or CF_ENOMEM /
 * CF_EINTERNAL (libcurl or a thread would not start) with err filled.
 */
int cfd_webhooks_start(cfd_writer *w, const cfd_webhook_opts *o, cfd_webhooks **out,
                       cf_error *err);

/* Stop: POSTs under way are abandoned (their deliveries' leases run out
 * and they are posted again later: at least once), the threads joined and
 * everything freed. NULL does nothing. */
void cfd_webhooks_stop(cfd_webhooks *h);

#endif
