/*
 * caseflowd's metrics: counters, gauges and histograms by name and labels,
 * rendered in the Prometheus text format for GET /metrics. A family is
 * declared once (its type, help and, for a histogram, its bucket bounds);
 * series come into being at their first update. Every function is
 * thread-safe. Label values are free text (escaped when rendered) but must
 * never carry case data: routes are templates, statuses numbers, results
 * words. Each family keeps at most CFD_METRICS_MAX_SERIES series; updates
 * of new series beyond that are dropped.
 */
#ifndef CFD_METRICS_H
#define CFD_METRICS_H

#include <stddef.h>

#define CFD_METRICS_MAX_SERIES 1024

typedef struct cfd_metrics cfd_metrics;

enum cfd_metric_type { CFD_COUNTER, CFD_GAUGE, CFD_HISTOGRAM };

/* A new empty registry, or NULL when out of memory. */
cfd_metrics *cfd_metrics_new(void);
/* Release a registry; NULL does nothing. */
void cfd_metrics_free(cfd_metrics *m);

/* Declare family name (a valid Prometheus metric name) of type with its
 * help text (both copied). bounds (copied; ascending upper bounds, without
 * +Inf) are a histogram's buckets. Declaring a name again changes nothing.
 * 0, or -1 when the name is invalid, the registry full or out of memory. */
int cfd_metric_declare(cfd_metrics *m, const char *name, enum cfd_metric_type type,
                       const char *help, const double *bounds, size_t nbounds);

/*
 * Updates. The variadic part is the labels: NULL-terminated pairs of
 * name and value strings (borrowed), e.g.
 *   cfd_metric_add(m, "caseflowd_requests_total", 1, "route", r, "status", "200", NULL);
 * A name not declared is declared on the spot: a counter for add, a gauge
 * for set, a histogram with default bounds for observe. Failures (no
 * memory, too many series) are silent: metrics never fail a request.
 */
void cfd_metric_add(cfd_metrics *m, const char *name, double by, ...);
void cfd_metric_set(cfd_metrics *m, const char *name, double value, ...);
void cfd_metric_observe(cfd_metrics *m, const char *name, double value, ...);
/* Forget every series of family name (a gauge about to be set afresh). */
void cfd_metric_clear(cfd_metrics *m, const char *name);

/* The whole registry as Prometheus text (version 0.0.4): a new malloc'd
 * string (free it) with its length in *len, or NULL when out of memory. */
char *cfd_metrics_render(cfd_metrics *m, size_t *len);

#endif
