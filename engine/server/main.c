/*
 * caseflowd, the HTTP service (DESIGN.md "Service contract (caseflowd)"):
 * a client of the public API and the shared operations table only. main
 * reads the configuration, opens the one writer on the store (with the
 * CASEFLOW_NOW clock on a test-clock store), starts the HTTP daemons and
 * the tick, tells systemd it is ready, and waits for SIGTERM or SIGINT.
 * Then it stops accepting, lets the requests under way finish, has the
 * writer commit what it was given, and exits 0. Every signal is blocked in
 * every thread and taken here by sigwait, so no handler runs anywhere.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "notify.h"
#include "tick.h"
#include "util.h"
#include "webhook.h"
#include "writer.h"

#define DRAIN_MS 30000

/* Everything running, torn down in the reverse order. */
struct service {
    struct cfd_config cfg;
    cfd_metrics *metrics;
    cfd_writer *writer;
    cfd_readers *readers;
    cfd_auth *auth;
    cfd_http *http;
    cfd_ticker *ticker;
    cfd_webhooks *webhooks;
};

static void log_line(const char *what)
{
    char now[40];
    cfd_log_time(now, sizeof now);
    fprintf(stderr, "%s %s\n", now, what);
}

/* CASEFLOW_NOW, when set: 0 and *have; or 64 after a message. */
static int clock_from_env(int *have, int64_t *now)
{
    const char *text = getenv("CASEFLOW_NOW");
    *have = 0;
    if (!text || !*text)
        return 0;
    if (cf_time_from_rfc3339(text, now) != 0) {
        fprintf(stderr, "caseflowd: CASEFLOW_NOW: '%s' is not an RFC 3339 time with an "
                        "offset or Z\n", text);
        return CFD_EXIT_USAGE;
    }
    *have = 1;
    return 0;
}

static const double request_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5, 10, 30};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

/* The service's metric families, declared before anything counts. */
static void declare_metrics(cfd_metrics *m)
{
    cfd_metric_declare(m, "caseflowd_requests_total", CFD_COUNTER,
                       "HTTP requests by method, route template and status", NULL, 0);
    cfd_metric_declare(m, "caseflowd_request_seconds", CFD_HISTOGRAM,
                       "HTTP request latency by route template", request_bounds,
                       sizeof request_bounds / sizeof request_bounds[0]);
    cfd_metric_declare(m, "caseflowd_commits_total", CFD_COUNTER,
                       "store transactions committed by the writer", NULL, 0);
    cfd_metric_declare(m, "caseflowd_batch_size", CFD_HISTOGRAM,
                       "jobs per committed transaction (group commit)", batch_bounds,
                       sizeof batch_bounds / sizeof batch_bounds[0]);
    cfd_metric_declare(m, "caseflowd_feed_head", CFD_GAUGE,
                       "seq of the newest domain event committed", NULL, 0);
    cfd_metric_declare(m, "caseflowd_timers_fired_total", CFD_COUNTER,
                       "timers fired by the service's tick", NULL, 0);
    cfd_metric_declare(m, "caseflowd_cases", CFD_GAUGE, "cases by state", NULL, 0);
    cfd_metric_declare(m, "caseflowd_open_tasks", CFD_GAUGE, "open tasks", NULL, 0);
    cfd_metric_declare(m, "caseflowd_webhook_pending", CFD_GAUGE,
                       "webhook deliveries waiting", NULL, 0);
    cfd_metric_declare(m, "caseflowd_webhook_dead", CFD_GAUGE,
                       "webhook deliveries given up (dead letters)", NULL, 0);
    cfd_metric_add(m, "caseflowd_commits_total", 0, NULL);
    cfd_metric_add(m, "caseflowd_timers_fired_total", 0, NULL);
}

static int open_writer(struct service *s)
{
    struct cfd_writer_options o;
    memset(&o, 0, sizeof o);
    o.store = s->cfg.store;
    o.plugin_path = s->cfg.plugins;
    o.key_path = s->cfg.signing_key;
    o.metrics = s->metrics;
    int rc = clock_from_env(&o.have_clock, &o.clock);
    if (rc)
        return rc;
    cf_error err;
    memset(&err, 0, sizeof err);
    if ((rc = cfd_writer_open(&o, &s->writer, &err)) != 0 ||
        /* After the writer: the store is initialised and migrated. */
        (rc = cfd_readers_open(&o, (size_t)s->cfg.readers, &s->readers, &err)) != 0) {
        fprintf(stderr, "caseflowd: %s\n", err.message[0] ? err.message : cf_strerror(rc));
        return cf_exit_code(rc);
    }
    return 0;
}

static int start_webhooks(struct service *s)
{
    cfd_webhook_opts o;
    memset(&o, 0, sizeof o);
    o.max_attempts = (int)s->cfg.webhook_attempts;
    o.timeout_ms = (long)s->cfg.webhook_timeout;
    o.poll_ms = (long)s->cfg.webhook_poll;
    o.concurrency = (size_t)s->cfg.webhook_concurrency;
    o.metrics = s->metrics;
    struct cfd_writer_options store;
    memset(&store, 0, sizeof store);
    store.store = s->cfg.store;
    store.plugin_path = s->cfg.plugins;
    store.key_path = s->cfg.signing_key;
    int rc = clock_from_env(&store.have_clock, &store.clock);
    if (rc)
        return rc;
    o.own = &store;
    cf_error err;
    memset(&err, 0, sizeof err);
    rc = cfd_webhooks_start(s->writer, &o, &s->webhooks, &err);
    if (rc) {
        fprintf(stderr, "caseflowd: %s\n", err.message);
        return cf_exit_code(rc);
    }
    return 0;
}

static int start(struct service *s)
{
    int rc;
    if (!(s->metrics = cfd_metrics_new())) {
        fprintf(stderr, "caseflowd: out of memory\n");
        return CFD_EXIT_SOFTWARE;
    }
    declare_metrics(s->metrics);
    if ((rc = open_writer(s)))
        return rc;
    if (!(s->auth = cfd_auth_new())) {
        fprintf(stderr, "caseflowd: out of memory\n");
        return CFD_EXIT_SOFTWARE;
    }
    if ((rc = cfd_http_start(&s->cfg, s->writer, s->readers, s->auth, s->metrics, &s->http)))
        return rc;
    if (cfd_tick_start(s->writer, s->metrics, s->cfg.tick_interval, &s->ticker) != 0) {
        fprintf(stderr, "caseflowd: cannot start the tick thread\n");
        return CFD_EXIT_OSERR;
    }
    return start_webhooks(s);
}

/* Stop in order: no new connections, no more ticks or deliveries, long
 * polls answered, requests under way finished, the writer's queue
 * committed. */
static void stop(struct service *s)
{
    if (s->http)
        cfd_http_quiesce(s->http);
    cfd_tick_stop(s->ticker);
    cfd_webhooks_stop(s->webhooks);
    if (s->writer)
        cfd_writer_release_waiters(s->writer);
    if (s->http && cfd_http_drain(s->http, DRAIN_MS) != 0)
        log_line("stopping with requests still under way");
    cfd_http_stop(s->http);
    cfd_auth_free(s->auth);
    cfd_readers_close(s->readers);
    cfd_writer_close(s->writer);
    cfd_metrics_free(s->metrics);
    cfd_config_clear(&s->cfg);
}

/* Block the signals in this thread and every thread it starts. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void wait_for_stop(const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_line("SIGHUP ignored: restart caseflowd to read its configuration again");
            continue;
        }
        log_line(sig == SIGTERM ? "SIGTERM: stopping" : "SIGINT: stopping");
        return;
    }
}

int main(int argc, char **argv)
{
    struct service s;
    memset(&s, 0, sizeof s);
    int rc = cfd_config_load(&s.cfg, argc, argv);
    if (rc || s.cfg.help || s.cfg.version) {
        if (!rc && s.cfg.help)
            cfd_config_usage(stdout);
        else if (!rc)
            printf("caseflowd %s\n", cf_version());
        cfd_config_clear(&s.cfg);
        return rc;
    }
    if (s.cfg.check) {
        int have;
        int64_t now;
        if (!(rc = clock_from_env(&have, &now)))
            cfd_config_print(&s.cfg, stdout);
        cfd_config_clear(&s.cfg);
        return rc;
    }
    sigset_t set;
    block_signals(&set);
    if ((rc = start(&s)) == 0) {
        cfd_notify("READY=1");
        wait_for_stop(&set);
        cfd_notify("STOPPING=1");
    }
    stop(&s);
    if (!rc)
        log_line("stopped");
    return rc;
}
