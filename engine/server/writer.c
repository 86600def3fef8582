/*
 * The one writer (writer.h): a queue of jobs, one thread that owns the
 * engine, and group commit. A job lives on its caller's stack; the caller
 * sleeps on the writer's `done` condition until the thread marks the job
 * done, which it does only after the group's commit (or its failure), and
 * never touches the job afterwards. After each transaction the thread
 * reads the feed head and, when it moved, wakes the long polls waiting on
 * the `feed` condition.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "writer.h"

struct job {
    cfd_job_fn fn;
    void *arg;
    const char *actor, *reason;
    bool done;
    int rc;
    cf_error err;
    struct job *next;
};

struct cfd_writer {
    cf_engine *engine;
    cfd_metrics *metrics;
    size_t max_group;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or closing */
    pthread_cond_t done; /* jobs were marked done */
    pthread_cond_t feed; /* the feed head moved, or waiters released */
    struct job *head, *tail;
    bool closing, released;
    int64_t feed_head;
};

/* ---- the thread ---------------------------------------------------------------------- */

/* Read the feed head after a transaction; wake the long polls if it moved. */
static void note_feed_head(cfd_writer *w)
{
    int64_t seq = 0;
    if (cf_feed_head(w->engine, &seq, NULL) != 0)
        return;
    pthread_mutex_lock(&w->lock);
    bool moved = seq != w->feed_head;
    w->feed_head = seq;
    if (moved)
        pthread_cond_broadcast(&w->feed);
    pthread_mutex_unlock(&w->lock);
    if (w->metrics && moved)
        cfd_metric_set(w->metrics, "caseflowd_feed_head", (double)seq, NULL);
}

static void run_job(cfd_writer *w, struct job *j)
{
    memset(&j->err, 0, sizeof j->err);
    /* The service authenticated the caller (a token, a certificate) or is
     * the engine itself: the process's own OS bindings say nothing of who
     * acts. A Unix peer's job names its uid (cfd_auth_resolve). */
    cf_engine_set_peer(w->engine, CF_PEER_TOKEN);
    cf_engine_set_actor(w->engine, j->actor, j->reason);
    j->rc = j->fn(w->engine, j->arg, &j->err);
    if (j->rc && !j->err.code) /* a job that failed without saying why */
        cfd_err_set(&j->err, j->rc, NULL, "%s", cf_strerror(j->rc));
}

/* Every job of the group fails with the transaction's error: not saved. */
static void fail_group(struct job *group, const cf_error *why)
{
    for (struct job *j = group; j; j = j->next)
        j->rc = cfd_err_set(&j->err, CF_EIO, "store", "not saved: %s", why->message);
}

static void count_commit(cfd_writer *w, size_t n)
{
    if (!w->metrics)
        return;
    cfd_metric_add(w->metrics, "caseflowd_commits_total", 1, NULL);
    cfd_metric_observe(w->metrics, "caseflowd_batch_size", (double)n, NULL);
}

/* Run the jobs of group in one batch: one transaction, one commit. */
static void run_group(cfd_writer *w, struct job *group)
{
    size_t n = 0;
    cf_error err;
    memset(&err, 0, sizeof err);
    if (cf_batch_begin(w->engine, &err) != 0) {
        fail_group(group, &err);
    } else {
        for (struct job *j = group; j; j = j->next, n++)
            run_job(w, j);
        cf_engine_set_actor(w->engine, NULL, NULL);
        if (cf_batch_commit(w->engine, &err) != 0)
            fail_group(group, &err);
        else
            count_commit(w, n);
    }
    cf_engine_set_actor(w->engine, NULL, NULL);
    note_feed_head(w);
}

/* Detach up to max_group jobs from the queue (under the lock). */
static struct job *take_group(cfd_writer *w)
{
    struct job *group = w->head, *last = group;
    for (size_t n = 1; n < w->max_group && last->next; n++)
        last = last->next;
    w->head = last->next;
    if (!w->head)
        w->tail = NULL;
    last->next = NULL;
    return group;
}

static void *writer_main(void *arg)
{
    cfd_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->closing)
            pthread_cond_wait(&w->work, &w->lock);
        if (!w->head)
            break; /* closing, and nothing left */
        struct job *group = take_group(w);
        pthread_mutex_unlock(&w->lock);
        run_group(w, group);
        pthread_mutex_lock(&w->lock);
        for (struct job *j = group, *next; j; j = next) {
            next = j->next; /* j is the caller's: read before marking it done */
            j->done = true;
        }
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- the callers -------------------------------------------------------------------- */

int cfd_writer_run(cfd_writer *w, const char *actor, const char *reason, cfd_job_fn fn,
                   void *arg, cf_error *err)
{
    struct job j;
    memset(&j, 0, sizeof j);
    j.fn = fn;
    j.arg = arg;
    j.actor = actor;
    j.reason = reason;
    pthread_mutex_lock(&w->lock);
    if (w->closing) {
        pthread_mutex_unlock(&w->lock);
        return cfd_err_set(err, CF_EIO, "service", "shutting down; retry later");
    }
    if (w->tail)
        w->tail->next = &j;
    else
        w->head = &j;
    w->tail = &j;
    pthread_cond_signal(&w->work);
    while (!j.done)
        pthread_cond_wait(&w->done, &w->lock);
    pthread_mutex_unlock(&w->lock);
    if (err)
        *err = j.err;
    return j.rc;
}

int64_t cfd_writer_feed_head(cfd_writer *w)
{
    pthread_mutex_lock(&w->lock);
    int64_t seq = w->feed_head;
    pthread_mutex_unlock(&w->lock);
    return seq;
}

int cfd_writer_feed_wait(cfd_writer *w, int64_t after, long timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (w->feed_head <= after && !w->released)
        if (pthread_cond_timedwait(&w->feed, &w->lock, &until) == ETIMEDOUT)
            break;
    int moved = w->feed_head > after;
    pthread_mutex_unlock(&w->lock);
    return moved;
}

void cfd_writer_release_waiters(cfd_writer *w)
{
    pthread_mutex_lock(&w->lock);
    w->released = true;
    pthread_cond_broadcast(&w->feed);
    pthread_mutex_unlock(&w->lock);
}

/* ---- opening and closing ------------------------------------------------------------- */

static int open_engine(cfd_writer *w, const struct cfd_writer_options *o, cf_error *err)
{
    cf_open_options opts;
    memset(&opts, 0, sizeof opts);
    opts.plugin_path = o->plugin_path;
    opts.key_path = o->key_path;
    int rc = cf_engine_open(o->store, &opts, &w->engine, err);
    if (rc)
        return rc;
    if (o->have_clock && cf_engine_set_clock(w->engine, o->clock) != 0)
        return cfd_err_set(err, CF_EUSAGE, "CASEFLOW_NOW",
                           "CASEFLOW_NOW is honoured only on a store made with caseflow init "
                           "--test-clock; this store runs on the system clock (unset "
                           "CASEFLOW_NOW)");
    if ((rc = cf_feed_head(w->engine, &w->feed_head, err)))
        return rc;
    if (w->metrics)
        cfd_metric_set(w->metrics, "caseflowd_feed_head", (double)w->feed_head, NULL);
    return 0;
}

static int init_sync(cfd_writer *w)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&w->lock, NULL) || pthread_cond_init(&w->work, NULL) ||
             pthread_cond_init(&w->done, NULL) || pthread_cond_init(&w->feed, &attr);
    pthread_condattr_destroy(&attr);
    return rc ? -1 : 0;
}

int cfd_writer_open(const struct cfd_writer_options *o, cfd_writer **out, cf_error *err)
{
    *out = NULL;
    cfd_writer *w = calloc(1, sizeof *w);
    if (!w)
        return cfd_err_set(err, CF_ENOMEM, NULL, "out of memory");
    w->metrics = o->metrics;
    w->max_group = o->max_group ? o->max_group : 256;
    if (init_sync(w) != 0) {
        free(w);
        return cfd_err_set(err, CF_EINTERNAL, NULL, "cannot make the writer's locks");
    }
    int rc = open_engine(w, o, err);
    if (!rc && pthread_create(&w->thread, NULL, writer_main, w) != 0)
        rc = cfd_err_set(err, CF_EINTERNAL, NULL, "cannot start the writer thread");
    if (rc) {
        cf_engine_close(w->engine);
        pthread_cond_destroy(&w->feed);
        pthread_cond_destroy(&w->done);
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void cfd_writer_close(cfd_writer *w)
{
    if (!w)
        return;
    cfd_writer_release_waiters(w);
    pthread_mutex_lock(&w->lock);
    w->closing = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    cf_engine_close(w->engine);
    pthread_cond_destroy(&w->feed);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
