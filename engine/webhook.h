/*
 * Webhooks inside the engine: the webhooks table (administrators' audited
 * changes) and the delivery queue caseflowd works through (operational
 * state, not audited). The public calls are cf_webhook_* in caseflow.h;
 * this header holds what the rest of the engine and the tests need.
 */
#ifndef CF_WEBHOOK_H
#define CF_WEBHOOK_H

#include "store.h"

/* Limits of a webhook's settings (CF_EINVALID beyond them). */
#define CF_WEBHOOK_URL_MAX 2048
#define CF_WEBHOOK_EVENTS_MAX 1024
#define CF_WEBHOOK_TYPE_MAX 128
#define CF_WEBHOOK_SECRET_MIN 16
#define CF_WEBHOOK_SECRET_MAX 1024

/* Domain events one cf_webhook_next call scans per webhook: a backlog is
 * worked off over several calls, so no call holds the writer long. */
#define CF_WEBHOOK_SCAN 2000
/* Deliveries one call returns at most (max 0 means CF_WEBHOOK_BATCH). */
#define CF_WEBHOOK_BATCH 64
#define CF_WEBHOOK_BATCH_MAX 1000
/* A delivery cf_webhook_next hands out is leased (state 'sending') for
 * this many seconds: it is not handed out again unless cf_webhook_done
 * records it first or the lease runs out (a deliverer that died without
 * saying), so two polls never post the same event at once. Longer than
 * any HTTP timeout. A leased delivery counts as pending. */
#define CF_WEBHOOK_LEASE 60
/* next_at of a delivery waiting behind an earlier one of its case (never
 * due; 9999-12-31T23:59:59Z). */
#define CF_WEBHOOK_PARKED INT64_C(253402300799)
/* Leased deliveries per webhook at most: a receiver that hangs holds no
 * more than this many of the deliverer's connections, whatever its
 * backlog. */
#define CF_WEBHOOK_INFLIGHT 8
/* The retry delay after the n-th failure is min(2^n, this) seconds times a
 * random factor in [0.5, 1.0]. */
#define CF_WEBHOOK_BACKOFF_MAX 3600
/* max_attempts < 1 given to cf_webhook_done means this. */
#define CF_WEBHOOK_ATTEMPTS 10
/* last_error is kept to one line of at most this many bytes. */
#define CF_WEBHOOK_ERROR_MAX 200

/* Does the event type match the webhook's events list (a comma-separated
 * list of exact types, prefixes ending in '*', or "*")? */
bool cf_webhook_matches(const char *events, const char *type);

/* The retry delay in seconds after the attempts-th failed attempt (>= 1),
 * with jitter from libsodium's randombytes_uniform. */
int64_t cf_webhook_backoff(int64_t attempts);

/*
 * Check the webhooks table against the audit chain (inside the caller's
 * read transaction, after the chain itself was walked): every webhook.*
 * record is an administrator's and keeps its payload (the webhook's state
 * after the change, with the SHA-256 of its secret, never the secret); each
 * row is the state its newest record says, points at that record, and has
 * the secret whose digest it names; no row was added or deleted. Adds
 * tables.webhooks (the rows checked) to report (borrowed object). 0, or
 * CF_EINVALID (field "webhooks") naming the first problem.
 */
int cf_webhook_verify(cf_store *s, json_t *report, cf_error *err);

#endif
