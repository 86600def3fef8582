/*
 * Webhook delivery (webhook.h). Two threads: the deliverer owns a libcurl
 * multi handle and every transfer on it; the watcher waits for the feed to
 * move and wakes the deliverer (curl_multi_wakeup) so a new event goes out
 * at once. The deliverer's round: drive the transfers, record the finished
 * ones in one writer job, ask for more due deliveries when there is room
 * and a reason (a wake, a full last batch, the poll interval), then sleep
 * in curl_multi_poll. Only the bookkeeping runs on the writer; a POST never
 * does. Log lines name the webhook, the event's seq and the error, never
 * case data or the URL.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "util.h"
#include "webhook.h"

#define DEFAULT_POLL_MS 1000
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_CONNECT_MS 2000
#define DEFAULT_ATTEMPTS 10
#define DEFAULT_CONCURRENCY 32
#define WATCH_SLICE_MS 250
#define LOG_LINES_PER_SECOND 5

/* One POST under way; owned by the deliverer. */
struct delivery {
    int64_t hook, seq;
    int attempt;
    char *body;
    struct curl_slist *headers;
    CURL *easy;
    double started;
    char errbuf[CURL_ERROR_SIZE];
    struct delivery *prev, *next; /* the deliverer's list of those under way */
};

struct cfd_webhooks {
    cfd_writer *writer;
    cf_engine *own; /* PostgreSQL: the deliverer thread's engine, or NULL */
    cfd_webhook_opts o;
    CURLM *multi;
    pthread_t deliverer, watcher;
    pthread_mutex_t lock; /* stopping, kicked */
    pthread_cond_t wake;  /* stopping (for the watcher's sleeps) */
    bool stopping, kicked, watching;
    /* the deliverer's own */
    size_t inflight;
    struct delivery *under_way;
    json_t *results; /* [[hook, seq, ok, error], ...] not yet recorded */
    char agent[64]; /* User-Agent: caseflowd/VERSION */
    int fetch_rc; /* the last cf_webhook_next's failure, 0 */
    int64_t log_window;
    unsigned logged, suppressed;
};

/* ---- small things ------------------------------------------------------------------- */

static bool stopping(cfd_webhooks *h)
{
    pthread_mutex_lock(&h->lock);
    bool s = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return s;
}

static bool take_kick(cfd_webhooks *h)
{
    pthread_mutex_lock(&h->lock);
    bool k = h->kicked;
    h->kicked = false;
    pthread_mutex_unlock(&h->lock);
    return k;
}

static void say(cfd_webhooks *h, const char *fmt, ...) CFD_PRINTF(2, 3);

/* One log line, at most LOG_LINES_PER_SECOND a second (a dead receiver
 * with a backlog must not flood the journal). Deliverer thread only. */
static void say(cfd_webhooks *h, const char *fmt, ...)
{
    if (h->o.quiet)
        return;
    char now[40], msg[512];
    int64_t ms = cfd_now_ms();
    cfd_log_time(now, sizeof now);
    if (ms - h->log_window >= 1000) {
        if (h->suppressed)
            fprintf(stderr, "%s webhook: %u more lines not shown\n", now, h->suppressed);
        h->log_window = ms;
        h->logged = h->suppressed = 0;
    }
    if (h->logged >= LOG_LINES_PER_SECOND) {
        h->suppressed++;
        return;
    }
    h->logged++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s webhook %s\n", now, msg);
}

/* The signature header: t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>." body)>. */
static void sign(const char *secret, const char *body, size_t len, char *out, size_t size)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char t[32], hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    long long now = (long long)time(NULL);
    int n = snprintf(t, sizeof t, "%lld.", now);
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, size, "X-Caseflow-Signature: t=%lld,v1=%s", now, hex);
}

/* A header value from the engine, only if it is plain printable ASCII. */
static bool header_safe(const char *v)
{
    if (!v || !*v || strlen(v) > 200)
        return false;
    for (const char *p = v; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return true;
}

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * n;
}

static void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    if (d->easy)
        curl_easy_cleanup(d->easy);
    curl_slist_free_all(d->headers);
    free(d->body);
    free(d);
}

static void unlink_delivery(cfd_webhooks *h, struct delivery *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        h->under_way = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
    h->inflight--;
}

/* ---- outcomes ----------------------------------------------------------------------- */

static void note_result(cfd_webhooks *h, int64_t hook, int64_t seq, int attempt, bool ok,
                        const char *error, double seconds)
{
    json_t *r = json_pack("[I, I, b, s]", (json_int_t)hook, (json_int_t)seq, ok,
                          ok ? "" : error);
    if (r)
        json_array_append_new(h->results, r);
    int max = h->o.max_attempts;
    bool dead = !ok && attempt >= max;
    if (h->o.metrics) {
        cfd_metric_add(h->o.metrics, "caseflowd_webhook_deliveries_total", 1, "result",
                       ok ? "delivered" : dead ? "dead" : "failed", NULL);
        if (seconds >= 0)
            cfd_metric_observe(h->o.metrics, "caseflowd_webhook_delivery_seconds", seconds,
                               NULL);
    }
    if (!ok)
        say(h, "%lld event %lld attempt %d %s: %s", (long long)hook, (long long)seq, attempt,
            dead ? "failed, kept as a dead letter" : "failed", error);
}

/* A job on the deliverer's own engine (its thread only): each call is its
 * own transaction. */
static int own_run(cfd_webhooks *h, int (*fn)(cf_engine *, void *, cf_error *), void *arg,
                   cf_error *err)
{
    memset(err, 0, sizeof *err);
    return fn(h->own, arg, err);
}

struct done_job {
    const json_t *results;
    int max_attempts;
    size_t refused;
};

/* Record every outcome; one refused (say, its webhook was removed since)
 * does not stop the others. */
static int done_job(cf_engine *e, void *arg, cf_error *err)
{
    struct done_job *j = arg;
    size_t i;
    json_t *r;
    (void)err;
    json_array_foreach(j->results, i, r)
    {
        cf_error one;
        int rc = cf_webhook_done(e, json_integer_value(json_array_get(r, 0)),
                                 json_integer_value(json_array_get(r, 1)),
                                 json_is_true(json_array_get(r, 2)),
                                 json_string_value(json_array_get(r, 3)), j->max_attempts,
                                 &one);
        if (rc && rc != CF_ENOTFOUND)
            j->refused++;
    }
    return 0;
}

/* Record the finished deliveries. When this fails, their leases run out
 * and the engine hands them out again: delivered at least once. */
static void record(cfd_webhooks *h)
{
    if (!json_array_size(h->results))
        return;
    struct done_job j = {h->results, h->o.max_attempts, 0};
    cf_error err;
    int rc = h->own ? own_run(h, done_job, &j, &err)
                    : cfd_writer_run(h->writer, NULL, NULL, done_job, &j, &err);
    if (rc)
        say(h, "outcomes not recorded (%s %s): they will be posted again", cf_err_name(rc),
            err.field);
    else if (j.refused)
        say(h, "%zu outcomes not recorded: they will be posted again", j.refused);
    json_array_clear(h->results);
}

/* Collect the transfers that finished. */
static void collect(cfd_webhooks *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode res = m->data.result;
        struct delivery *d = NULL;
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&d);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        curl_multi_remove_handle(h->multi, easy);
        if (!d)
            continue;
        unlink_delivery(h, d);
        bool ok = res == CURLE_OK && code >= 200 && code < 300;
        char error[400] = "";
        if (res != CURLE_OK) /* curl's detail when it has one: it names the cause */
            snprintf(error, sizeof error, "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(res));
        else if (!ok)
            snprintf(error, sizeof error, "HTTP %ld", code);
        note_result(h, d->hook, d->seq, d->attempt, ok, error, cfd_now_s() - d->started);
        delivery_free(d);
    }
    if (h->o.metrics)
        cfd_metric_set(h->o.metrics, "caseflowd_webhook_in_flight", (double)h->inflight, NULL);
}

/* ---- starting POSTs ------------------------------------------------------------------ */

static struct curl_slist *headers_for(const json_t *d, const char *body, size_t len)
{
    char line[512];
    struct curl_slist *l = NULL, *n;
    const char *fixed[] = {"Content-Type: application/cloudevents+json", "Expect:"};
    for (size_t i = 0; i < 2; i++) {
        if (!(n = curl_slist_append(l, fixed[i])))
            goto fail;
        l = n;
    }
    const char *id = json_string_value(json_object_get(d, "event_id"));
    if (header_safe(id)) {
        snprintf(line, sizeof line, "X-Caseflow-Event-Id: %s", id);
        if (!(n = curl_slist_append(l, line)))
            goto fail;
        l = n;
    }
    snprintf(line, sizeof line, "X-Caseflow-Webhook: %lld",
             (long long)json_integer_value(json_object_get(d, "hook")));
    if (!(n = curl_slist_append(l, line)))
        goto fail;
    l = n;
    snprintf(line, sizeof line, "X-Caseflow-Delivery-Attempt: %lld",
             (long long)json_integer_value(json_object_get(d, "attempt")));
    if (!(n = curl_slist_append(l, line)))
        goto fail;
    l = n;
    const char *secret = json_string_value(json_object_get(d, "secret"));
    sign(secret ? secret : "", body, len, line, sizeof line);
    if (!(n = curl_slist_append(l, line)))
        goto fail;
    return n;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static bool configure(cfd_webhooks *h, struct delivery *x, const char *url, size_t len)
{
    CURL *c = x->easy;
    bool ok = curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                   CURLE_OK;
#endif
    ok = ok && curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->body) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->o.timeout_ms) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_USERAGENT, h->agent) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK &&
         curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)x) == CURLE_OK;
    return ok;
}

/* Start one POST of delivery d (from cf_webhook_next). A POST that cannot
 * even start is a failed attempt like any other. */
static void start(cfd_webhooks *h, const json_t *d)
{
    int64_t hook = json_integer_value(json_object_get(d, "hook"));
    int64_t seq = json_integer_value(json_object_get(d, "seq"));
    int attempt = (int)json_integer_value(json_object_get(d, "attempt"));
    const char *url = json_string_value(json_object_get(d, "url"));
    const char *body = json_string_value(json_object_get(d, "body"));
    size_t len = body ? strlen(body) : 0;
    struct delivery *x = calloc(1, sizeof *x);
    if (x) {
        x->hook = hook;
        x->seq = seq;
        x->attempt = attempt;
        x->body = body ? strdup(body) : NULL;
        x->headers = x->body ? headers_for(d, x->body, len) : NULL;
        x->easy = x->headers ? curl_easy_init() : NULL;
        x->started = cfd_now_s();
    }
    if (!x || !x->easy || !url || !configure(h, x, url, len) ||
        curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
        delivery_free(x);
        note_result(h, hook, seq, attempt, false, "the POST could not be started", -1);
        return;
    }
    x->next = h->under_way;
    if (h->under_way)
        h->under_way->prev = x;
    h->under_way = x;
    h->inflight++;
}

struct next_job {
    size_t max;
    json_t *out;
    int rc;
};

static int next_job(cf_engine *e, void *arg, cf_error *err)
{
    struct next_job *j = arg;
    return j->rc = cf_webhook_next(e, cf_engine_now(e), j->max, &j->out, err);
}

/* Ask for up to max due deliveries and start them; how many came, or -1
 * when the engine or the writer failed. */
static long fetch(cfd_webhooks *h, size_t max)
{
    struct next_job j = {max, NULL, 0};
    cf_error err;
    int rc = h->own ? own_run(h, next_job, &j, &err)
                    : cfd_writer_run(h->writer, NULL, NULL, next_job, &j, &err);
    if (rc) { /* refused, or the commit failed: nothing of it holds, leases included */
        json_decref(j.out);
        if (rc != h->fetch_rc) /* said once, not every poll */
            say(h, "cannot read due deliveries: %s %s", cf_err_name(rc), err.field);
        h->fetch_rc = rc;
        return -1;
    }
    if (h->fetch_rc)
        say(h, "%s", "due deliveries are read again");
    h->fetch_rc = 0;
    size_t i;
    json_t *d;
    json_array_foreach(j.out, i, d)
        start(h, d);
    long n = (long)json_array_size(j.out);
    json_decref(j.out);
    if (h->o.metrics)
        cfd_metric_set(h->o.metrics, "caseflowd_webhook_in_flight", (double)h->inflight, NULL);
    return n;
}

/* ---- the threads ----------------------------------------------------------------------- */

static void *deliver_main(void *arg)
{
    cfd_webhooks *h = arg;
    int64_t last_fetch = 0;
    bool want = true; /* look at once: retries may be due since the last run */
    while (!stopping(h)) {
        int running = 0;
        curl_multi_perform(h->multi, &running);
        collect(h);
        record(h);
        int64_t now = cfd_now_ms();
        bool kicked = take_kick(h);
        size_t room = h->o.concurrency - h->inflight;
        if (room && (want || kicked || now - last_fetch >= h->o.poll_ms)) {
            long got = fetch(h, room);
            last_fetch = now;
            want = got > 0 && (size_t)got == room; /* a full batch: more may be due */
            if (got > 0)
                continue; /* start them now */
        }
        long wait = h->o.poll_ms - (long)(cfd_now_ms() - last_fetch);
        if (want && h->inflight < h->o.concurrency)
            wait = 0;
        if (wait < 0)
            wait = 0;
        if (wait > h->o.poll_ms)
            wait = h->o.poll_ms;
        curl_multi_poll(h->multi, NULL, 0, (int)wait, NULL);
    }
    /* What finished is recorded; what is still under way is abandoned. */
    int running = 0;
    curl_multi_perform(h->multi, &running);
    collect(h);
    record(h);
    return NULL;
}

/* Sleep until deadline_ms (monotonic) unless stopping. Under h->lock. */
static void sleep_until(cfd_webhooks *h, int64_t deadline_ms)
{
    struct timespec until;
    until.tv_sec = (time_t)(deadline_ms / 1000);
    until.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    while (!h->stopping && cfd_now_ms() < deadline_ms &&
           pthread_cond_timedwait(&h->wake, &h->lock, &until) == 0)
        ;
}

/* Wake the deliverer whenever the feed moves. */
static void *watch_main(void *arg)
{
    cfd_webhooks *h = arg;
    int64_t seen = cfd_writer_feed_head(h->writer);
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        pthread_mutex_unlock(&h->lock);
        int64_t t0 = cfd_now_ms();
        int moved = cfd_writer_feed_wait(h->writer, seen, WATCH_SLICE_MS);
        if (moved)
            seen = cfd_writer_feed_head(h->writer);
        pthread_mutex_lock(&h->lock);
        if (moved) {
            h->kicked = true;
            curl_multi_wakeup(h->multi);
        } else if (cfd_now_ms() - t0 < WATCH_SLICE_MS) {
            sleep_until(h, t0 + WATCH_SLICE_MS); /* waiters released: do not spin */
        }
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_ready = CURLE_FAILED_INIT;

static void curl_start(void)
{
    curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void declare_metrics(cfd_metrics *m)
{
    static const double seconds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    if (!m)
        return;
    cfd_metric_declare(m, "caseflowd_webhook_deliveries_total", CFD_COUNTER,
                       "Webhook delivery attempts by result (delivered, failed, dead: the "
                       "last attempt failed and the event is kept as a dead letter)",
                       NULL, 0);
    cfd_metric_declare(m, "caseflowd_webhook_delivery_seconds", CFD_HISTOGRAM,
                       "Time from starting a webhook POST to its end", seconds,
                       sizeof seconds / sizeof seconds[0]);
    cfd_metric_declare(m, "caseflowd_webhook_in_flight", CFD_GAUGE,
                       "Webhook POSTs under way", NULL, 0);
}

static void defaults(cfd_webhook_opts *o)
{
    if (o->poll_ms <= 0)
        o->poll_ms = DEFAULT_POLL_MS;
    if (o->timeout_ms <= 0)
        o->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms =
            o->timeout_ms < DEFAULT_CONNECT_MS ? o->timeout_ms : DEFAULT_CONNECT_MS;
    if (o->max_attempts <= 0)
        o->max_attempts = DEFAULT_ATTEMPTS;
    if (o->concurrency == 0)
        o->concurrency = DEFAULT_CONCURRENCY;
}

static void release(cfd_webhooks *h)
{
    cf_engine_close(h->own);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    json_decref(h->results);
    free(h);
}

int cfd_webhooks_start(cfd_writer *w, const cfd_webhook_opts *o, cfd_webhooks **out,
                       cf_error *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_start);
    if (curl_ready != CURLE_OK || sodium_init() < 0)
        return cfd_err_set(err, CF_EINTERNAL, "webhooks", "libcurl or libsodium would not start");
    cfd_webhooks *h = calloc(1, sizeof *h);
    if (!h)
        return cfd_err_set(err, CF_ENOMEM, NULL, "out of memory");
    h->writer = w;
    if (o)
        h->o = *o;
    defaults(&h->o);
    snprintf(h->agent, sizeof h->agent, "caseflowd/%s", cf_version());
    h->results = json_array();
    h->multi = curl_multi_init();
    if (!h->results || !h->multi) {
        release(h);
        return cfd_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    if (h->o.own && h->o.own->store &&
        (strncmp(h->o.own->store, "postgresql://", 13) == 0 ||
         strncmp(h->o.own->store, "postgres://", 11) == 0)) {
        cf_open_options eo;
        memset(&eo, 0, sizeof eo);
        eo.plugin_path = h->o.own->plugin_path;
        eo.key_path = h->o.own->key_path;
        int rc = cf_engine_open(h->o.own->store, &eo, &h->own, err);
        if (!rc && h->o.own->have_clock && cf_engine_set_clock(h->own, h->o.own->clock) != 0)
            rc = cfd_err_set(err, CF_EUSAGE, "CASEFLOW_NOW",
                             "CASEFLOW_NOW is honoured only on a test-clock store");
        if (rc) {
            release(h);
            return rc;
        }
    }
    h->o.own = NULL; /* borrowed only while starting */
    declare_metrics(h->o.metrics);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int bad = pthread_mutex_init(&h->lock, NULL) || pthread_cond_init(&h->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (bad) {
        release(h);
        return cfd_err_set(err, CF_EINTERNAL, "webhooks", "no lock for the webhook deliverer");
    }
    if (pthread_create(&h->deliverer, NULL, deliver_main, h) != 0) {
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        release(h);
        return cfd_err_set(err, CF_EINTERNAL, "webhooks", "no thread for the webhook deliverer");
    }
    /* Without the watcher it still delivers, every poll interval. */
    h->watching = pthread_create(&h->watcher, NULL, watch_main, h) == 0;
    *out = h;
    return 0;
}

void cfd_webhooks_stop(cfd_webhooks *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
    curl_multi_wakeup(h->multi);
    pthread_join(h->deliverer, NULL);
    if (h->watching)
        pthread_join(h->watcher, NULL);
    /* Abandon what is under way, unrecorded: the leases run out and the
     * engine hands those events out again (at least once). */
    while (h->under_way) {
        struct delivery *d = h->under_way;
        unlink_delivery(h, d);
        curl_multi_remove_handle(h->multi, d->easy);
        delivery_free(d);
    }
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    release(h);
}
