/*
 * The pool of read-only engines: a stack of free engines under a mutex,
 * and a condition for a thread waiting for one.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "readers.h"
#include "util.h"

struct cfd_readers {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    cf_engine **all, **free;
    size_t n, nfree;
};

static void reset(cf_engine *e)
{
    cf_engine_set_actor(e, NULL, NULL);
    cf_engine_set_peer(e, CF_PEER_TOKEN);
    cf_engine_defer_consultations(e, 1);
}

int cfd_readers_open(const struct cfd_writer_options *o, size_t n, cfd_readers **out,
                     cf_error *err)
{
    *out = NULL;
    if (n == 0)
        return 0;
    cfd_readers *p = calloc(1, sizeof *p);
    if (!p || !(p->all = calloc(n, sizeof *p->all)) || !(p->free = calloc(n, sizeof *p->free))) {
        if (p)
            free(p->all);
        free(p);
        return cfd_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    cf_open_options opts;
    memset(&opts, 0, sizeof opts);
    opts.plugin_path = o->plugin_path;
    opts.key_path = o->key_path;
    opts.readonly = 1;
    for (; p->n < n; p->n++) {
        cf_engine *e = NULL;
        int rc = cf_engine_open(o->store, &opts, &e, err);
        if (!rc && o->have_clock && cf_engine_set_clock(e, o->clock) != 0)
            rc = cfd_err_set(err, CF_EUSAGE, "CASEFLOW_NOW",
                             "CASEFLOW_NOW is honoured only on a test-clock store");
        if (!rc && cf_engine_defer_consultations(e, 1) != 0)
            rc = cfd_err_set(err, CF_ENOMEM, NULL, "out of memory");
        if (rc) {
            cf_engine_close(e);
            cfd_readers_close(p);
            return rc;
        }
        reset(e);
        p->all[p->n] = p->free[p->nfree++] = e;
    }
    *out = p;
    return 0;
}

cf_engine *cfd_readers_take(cfd_readers *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->nfree == 0)
        pthread_cond_wait(&p->freed, &p->lock);
    cf_engine *e = p->free[--p->nfree];
    pthread_mutex_unlock(&p->lock);
    return e;
}

void cfd_readers_give(cfd_readers *p, cf_engine *e)
{
    reset(e);
    pthread_mutex_lock(&p->lock);
    p->free[p->nfree++] = e;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

void cfd_readers_close(cfd_readers *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        cf_engine_close(p->all[i]);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->all);
    free(p->free);
    free(p);
}
