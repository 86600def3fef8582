/*
 * The tick loop (tick.h). The thread sleeps on a condition with a timeout,
 * so that stopping wakes it at once; each round is one writer job. Errors
 * are logged by code and field only: their messages may name case data.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tick.h"
#include "util.h"

struct cfd_ticker {
    cfd_writer *writer;
    cfd_metrics *metrics;
    long long interval;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

struct tick_job {
    json_t *out;
    int rc; /* cf_tick's own result: the writer's differs when the commit failed */
};

static int tick_job(cf_engine *e, void *arg, cf_error *err)
{
    struct tick_job *j = arg;
    return j->rc = cf_tick(e, &j->out, err);
}

/* Timers that fired: the entries of cf_tick's result without an error. */
static size_t fired(const json_t *out)
{
    size_t i, n = 0;
    json_t *t;
    json_array_foreach(out, i, t)
        if (!json_object_get(t, "error"))
            n++;
    return n;
}

static void tick_once(cfd_ticker *t)
{
    struct tick_job j = {NULL, 0};
    cf_error err;
    int rc = cfd_writer_run(t->writer, NULL, NULL, tick_job, &j, &err);
    if (j.out && rc == j.rc && t->metrics)
        cfd_metric_add(t->metrics, "caseflowd_timers_fired_total", (double)fired(j.out), NULL);
    if (rc) {
        char now[40];
        cfd_log_time(now, sizeof now);
        fprintf(stderr, "%s tick %s%s%s\n", now, cf_err_name(rc), err.field[0] ? " " : "",
                err.field);
    }
    json_decref(j.out);
}

static void *tick_main(void *arg)
{
    cfd_ticker *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)t->interval;
        while (!t->stopping &&
               pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
            ;
        if (t->stopping)
            break;
        pthread_mutex_unlock(&t->lock);
        tick_once(t);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int cfd_tick_start(cfd_writer *w, cfd_metrics *metrics, long long interval, cfd_ticker **out)
{
    *out = NULL;
    if (interval <= 0)
        return 0;
    cfd_ticker *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->writer = w;
    t->metrics = metrics;
    t->interval = interval;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&t->lock, NULL) || pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc || pthread_create(&t->thread, NULL, tick_main, t) != 0) {
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void cfd_tick_stop(cfd_ticker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
