/*
 * caseflow-http-bench: the figures issue 8 sets targets for, measured through
 * caseflowd on 127.0.0.1 with a libcurl multi client (one thread, one
 * keep-alive connection per simulated client), one JSON line each:
 *
 *   http_refer_batch  referrals/s through POST /v1/referrals, NDJSON batches
 *                     of BENCH_HTTP_BATCH lines from BENCH_HTTP_REFER_CLIENTS
 *                     clients; this also fills the store (BENCH_HTTP_CASES)
 *   http_feed_lag     commit -> a long-poll feed reader holds the event:
 *                     "idle" (one referral every 20 ms, nothing else) and
 *                     "acts" (during http_act); p50/p99 from the writer's
 *                     acknowledgement (an upper bound of the commit) and from
 *                     the moment the request was sent
 *   http_act          acts/s and latency through POST /v1/cases/{id}/events/
 *                     {event} with BENCH_HTTP_CLIENTS clients for
 *                     BENCH_HTTP_SECONDS, each driving its own cases along
 *                     polit's visit route with an Idempotency-Key (durable:
 *                     caseflowd's group commit, synchronous=FULL)
 *   http_list         GET /v1/cases pages of 100 with a filter, on the store
 *                     of BENCH_HTTP_CASES cases: first pages, and every page
 *                     of a state in turn (deep cursors)
 *
 * Each line carries the CPU the bench itself and caseflowd used in the phase
 * (percent of one core), so a client-bound figure shows as such. Bench only:
 * never a timed assertion of a test. bench/http.md says how to run it and
 * what was measured.
 *
 * Environment: CASEFLOW_BIN, CASEFLOWD_BIN, CASEFLOW_WORKFLOW,
 * CASEFLOW_PLUGIN_PATH; BENCH_DIR (TMPDIR or /tmp; a real disk), BENCH_KEEP=1,
 * BENCH_HTTP_CASES (100000), BENCH_HTTP_CLIENTS (32), BENCH_HTTP_SECONDS (20),
 * BENCH_HTTP_BATCH (1000), BENCH_HTTP_REFER_CLIENTS (4), BENCH_HTTP_LIST_PAGES (first
 * pages per filter, 50).
 */
#include <curl/curl.h>
#include <jansson.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NOW_TEXT "2026-11-03T10:00:00Z"
#define REASON "benchmark: synthetic data"
#define STEPS 6
#define LAG_REFERRALS 200

/* ---- small helpers ---------------------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("caseflow-http-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("caseflow-http-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t env_size(const char *name, size_t def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || n == 0)
        die("%s: expected a positive number, got '%s'", name, v);
    return (size_t)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th quantile (0..1) of v[0..n) in milliseconds; sorts v. */
static double pct_ms(double *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] * 1000.0;
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        if (!(b->p = realloc(b->p, cap)))
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        die("a line does not fit");
    buf_add(b, tmp, (size_t)n);
}

/* ---- CPU of a phase: the bench's own and caseflowd's ----------------------------------- */

typedef struct cpu_mark {
    double wall, self, server;
} cpu_mark;

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double proc_cpu(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')'); /* the command may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the bench's state ------------------------------------------------------------------- */

typedef struct client client;
typedef struct bench bench;
typedef void (*done_fn)(bench *b, client *c, long status, double now);

struct client {
    CURL *h;
    struct curl_slist *hdrs;
    buf resp, body;
    double sent;
    done_fn done;
    size_t idx; /* the case (or batch, or referral) it works on */
    int step;
    char url[512];
};

struct bench {
    const char *bin, *bind, *workflow;
    char dir[4096], store[4200], log[4200];
    char tokens[4][64]; /* analyst1, officer1, authoriser1, supervisor1 */
    char base[96];
    pid_t server;
    CURLM *multi;
    int active;
    size_t ncases, nclients, batch, refer_clients, list_pages;
    double seconds;
    /* the cases: case number (CF-%06d) of each referral, and back */
    long *num_of;
    size_t *idx_of_num;
    size_t max_num;
    /* referrals */
    size_t next_batch, referred, refused;
    double *batch_lat;
    size_t nbatch_lat;
    /* acts */
    size_t next_case, act_cases, acts_ok, acts_bad, nlat;
    double *lat, *sent_t, *ack_t, *seen_t, act_until;
    int stopping;
    /* the feed follower */
    client follower;
    int64_t feed_after;
    int follow, follow_kind; /* 1: acts, 2: lag referrals */
    /* the idle lag's referrals */
    double lag_sent[LAG_REFERRALS], lag_ack[LAG_REFERRALS], lag_seen[LAG_REFERRALS];
    client lagc;
    size_t lag_next;
    double lag_due;
};

static const char *const users[4] = {"analyst1", "officer1", "authoriser1", "supervisor1"};
enum { ANALYST, OFFICER, AUTHORISER, SUPERVISOR };

/* The visit route of polit.lua (tests/e2e/cli_polit.sh): who sends which event. */
static const struct {
    int user;
    const char *event;
} route[STEPS] = {
    {OFFICER, "authorisation.applied"}, {AUTHORISER, "authorisation.granted"},
    {ANALYST, "subscriber.resolved"},   {ANALYST, "checks.completed"},
    {SUPERVISOR, "assessment.approved"}, {OFFICER, "visit.completed"},
};

/* The data of step s for case n (names and references of its own). */
static void act_body(buf *out, int s, size_t n)
{
    switch (s) {
    case 0:
        buf_printf(out, "{\"necessity\":\"identify the subscriber behind the upload\","
                        "\"proportionality\":\"no less intrusive means\"}");
        break;
    case 1:
        buf_printf(out, "{\"authority\":\"OCDA\",\"reference\":\"OCDA-2026-%zu\","
                        "\"urgent\":false}", n);
        break;
    case 2:
        buf_printf(out, "{\"name\":\"Test Subscriber %zu\",\"address\":{\"line1\":"
                        "\"%zu Example Street\",\"town\":\"Exampleton\",\"postcode\":"
                        "\"ZZ1 1ZZ\"},\"address_type\":\"installation\","
                        "\"provider_reference\":\"ISP-REF-%zu\"}", n, n, n);
        break;
    case 3:
        buf_printf(out, "{\"occupants\":[{\"name\":\"Test Occupant %zu\",\"dob\":"
                        "\"1980-01-01\"}],\"prior_history\":false,"
                        "\"registered_sex_offender\":false,\"children_in_household\":false,"
                        "\"access_to_children_at_work\":false,\"distribution_signs\":false,"
                        "\"address_corroborated\":true}", n);
        break;
    case 4:
        buf_printf(out, "{}");
        break;
    default:
        buf_printf(out, "{\"advice_given\":true,\"letter_issued\":true,"
                        "\"security_advice\":true,\"signposted\":true}");
    }
}

/* ---- running the caseflow command and caseflowd ------------------------------------------- */

static pid_t spawn(const char *prog, char *const argv[], const char *out, const char *errlog)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (errlog)
        posix_spawn_file_actions_addopen(&fa, 2, errlog, O_WRONLY | O_CREAT | O_APPEND, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        die("cannot run %s: %s", prog, strerror(rc));
    return pid;
}

static int wait_for(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* caseflow --actor admin ARGS..., stdout to out (NULL: nowhere); exits on failure. */
static void cf(bench *b, const char *out, const char *a1, const char *a2, const char *a3,
               const char *a4, const char *a5)
{
    char *argv[] = {(char *)b->bin, "--actor", "admin", (char *)a1, (char *)a2, (char *)a3,
                    (char *)a4, (char *)a5, NULL};
    int rc = wait_for(spawn(b->bin, argv, out, NULL));
    if (rc != 0)
        die("caseflow %s %s %s exited %d", a1, a2 ? a2 : "", a3 ? a3 : "", rc);
}

static void setup_store(bench *b)
{
    char out[4300], line[512];
    cf(b, NULL, "init", "--test-clock", NULL, NULL, NULL);
    static const char *const roles[4] = {"analyst", "officer", "authoriser", "supervisor"};
    for (int i = 0; i < 4; i++)
        cf(b, NULL, "user", "add", users[i], "--role", roles[i]);
    cf(b, NULL, "workflow", "deploy", b->workflow, NULL, NULL);
    snprintf(out, sizeof out, "%s/token.out", b->dir);
    for (int i = 0; i < 4; i++) {
        cf(b, out, "token", "create", users[i], NULL, NULL);
        FILE *f = fopen(out, "r");
        if (!f)
            die("%s: %s", out, strerror(errno));
        b->tokens[i][0] = '\0';
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "%63s", b->tokens[i]) != 1)
                b->tokens[i][0] = '\0';
        fclose(f);
        if (strncmp(b->tokens[i], "cft_", 4) != 0)
            die("token create %s printed no token", users[i]);
    }
    unlink(out);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("no free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

/* GET url once (blocking); the status, or 0 when there was no answer. */
static long get_once(const char *url)
{
    CURL *h = curl_easy_init();
    long status = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static void start_server(bench *b)
{
    char listen[32], url[160];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", free_port());
    snprintf(b->base, sizeof b->base, "http://%s", listen);
    char *argv[] = {(char *)b->bind, "--store", b->store, "--listen", listen,
                    "--workers", "256", "--tick-interval", "0", "--max-wait", "30", NULL};
    b->server = spawn(b->bind, argv, NULL, b->log);
    snprintf(url, sizeof url, "%s/readyz", b->base);
    for (int i = 0; i < 200; i++) {
        if (get_once(url) == 200)
            return;
        usleep(50000);
    }
    die("caseflowd did not start (see %s)", b->log);
}

static void stop_server(bench *b)
{
    kill(b->server, SIGTERM);
    int rc = wait_for(b->server);
    if (rc != 0)
        note("caseflowd exited %d on SIGTERM (see %s)", rc, b->log);
}

/* ---- requests through the multi handle -------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t n, void *u)
{
    buf_add(u, p, size * n);
    return size * n;
}

static void client_init(client *c)
{
    memset(c, 0, sizeof *c);
    if (!(c->h = curl_easy_init()))
        die("curl_easy_init failed");
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
}

static void client_free(client *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs);
    free(c->resp.p);
    free(c->body.p);
}

/*
 * Start a request on c: GET when c->body is empty and post is 0, else POST of
 * c->body with ctype; as user (index into users), with a reason; extra is one
 * more header (or NULL). done runs when it is answered.
 */
static void submit(bench *b, client *c, int post, int user, const char *ctype,
                   const char *extra, done_fn done)
{
    char auth[128];
    curl_slist_free_all(c->hdrs);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", b->tokens[user]);
    c->hdrs = curl_slist_append(NULL, auth);
    c->hdrs = curl_slist_append(c->hdrs, "X-Caseflow-Reason: " REASON);
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    if (ctype)
        c->hdrs = curl_slist_append(c->hdrs, ctype);
    if (extra)
        c->hdrs = curl_slist_append(c->hdrs, extra);
    curl_easy_setopt(c->h, CURLOPT_URL, c->url);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    if (post) {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body.p ? c->body.p : "");
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)c->body.n);
    } else {
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    }
    c->resp.n = 0;
    c->done = done;
    c->sent = now_s();
    if (curl_multi_add_handle(b->multi, c->h) != CURLM_OK)
        die("curl_multi_add_handle failed");
    b->active++;
}

/* Run until no request is under way; tick (may be NULL) runs each turn. */
static void run_loop(bench *b, void (*tick)(bench *b, double now))
{
    int running;
    while (b->active > 0) {
        curl_multi_perform(b->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(b->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *h = m->easy_handle;
            CURLcode result = m->data.result;
            client *c = NULL;
            long status = -1;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
            if (result == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            else
                note("no answer: %s", curl_easy_strerror(result));
            curl_multi_remove_handle(b->multi, h);
            b->active--;
            c->done(b, c, status, now_s());
        }
        if (tick)
            tick(b, now_s());
        if (b->active > 0)
            curl_multi_poll(b->multi, NULL, 0, 5, NULL);
    }
}

/* ---- the feed follower ---------------------------------------------------------------------- */

static long case_num(const char *id)
{
    return id && strncmp(id, "CF-", 3) == 0 ? strtol(id + 3, NULL, 10) : -1;
}

static void follow_next(bench *b);

static void follow_done(bench *b, client *c, long status, double now)
{
    if (status != 200)
        die("the feed answered %ld: %.200s", status, c->resp.p ? c->resp.p : "");
    json_t *r = json_loadb(c->resp.p, c->resp.n, 0, NULL);
    json_t *events = json_object_get(r, "events"), *ev;
    size_t i;
    json_array_foreach(events, i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        const json_t *data = json_object_get(ev, "data");
        if (b->follow_kind == 1 && type && strcmp(type, "case.state_changed") == 0) {
            long num = case_num(json_string_value(json_object_get(ev, "subject")));
            const char *event = json_string_value(json_object_get(data, "event"));
            if (num <= 0 || (size_t)num > b->max_num || !event)
                continue;
            size_t idx = b->idx_of_num[num];
            for (int s = 0; s < STEPS; s++)
                if (strcmp(route[s].event, event) == 0 && idx < b->act_cases &&
                    b->seen_t[idx * STEPS + s] == 0)
                    b->seen_t[idx * STEPS + s] = now;
        } else if (b->follow_kind == 2 && type && strcmp(type, "case.created") == 0) {
            const char *ref = json_string_value(json_object_get(data, "reference"));
            unsigned n;
            if (ref && sscanf(ref, "HTTP-LAG-%u", &n) == 1 && n < LAG_REFERRALS &&
                b->lag_seen[n] == 0)
                b->lag_seen[n] = now;
        }
    }
    json_int_t next = json_integer_value(json_object_get(r, "next"));
    if (next > b->feed_after)
        b->feed_after = next;
    json_decref(r);
    if (b->follow)
        follow_next(b);
}

static void follow_next(bench *b)
{
    client *c = &b->follower;
    snprintf(c->url, sizeof c->url, "%s/v1/feed?after=%lld&limit=1000&wait=2", b->base,
             (long long)b->feed_after);
    c->body.n = 0;
    submit(b, c, 0, SUPERVISOR, NULL, NULL, follow_done);
}

/* The feed head now: readyz says it. */
static int64_t feed_head(bench *b)
{
    char url[160];
    buf body = {0};
    snprintf(url, sizeof url, "%s/readyz", b->base);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    if (curl_easy_perform(h) != CURLE_OK)
        die("readyz: no answer");
    curl_easy_cleanup(h);
    json_t *r = json_loadb(body.p, body.n, 0, NULL);
    int64_t head = json_integer_value(json_object_get(r, "feed_head"));
    json_decref(r);
    free(body.p);
    return head;
}

/* ---- referrals in NDJSON batches ------------------------------------------------------------ */

/* Referral i (its reference PREFIX-i); key makes its account, file hash and
 * address its own, so that no two referrals of a run correlate. */
static void referral_line(buf *out, const char *prefix, size_t i, size_t key)
{
    static const char *const nets[] = {"192.0.2.", "198.51.100.", "203.0.113."};
    uint64_t h = (uint64_t)(key + 1) * UINT64_C(0x9E3779B97F4A7C15);
    buf_printf(out,
               "{\"source\":\"NCA-CEOP\",\"reference\":\"%s-%zu\","
               "\"received_at\":\"2026-11-02T09:15:00Z\",\"priority\":false,"
               "\"ip_events\":[{\"ip\":\"%s%zu\",\"port\":%zu,\"type\":\"upload\","
               "\"at\":\"2026-10-30T21:14:05+01:00\",\"proxy\":false}],"
               "\"accounts\":[{\"provider\":\"bench-provider\",\"id\":\"u-%zu\"}],"
               "\"files\":[{\"hash_type\":\"md5\",\"hash\":\"%016llx%016zx\","
               "\"category\":\"C\"}],\"frequency\":\"once\"}\n",
               prefix, i, nets[key % 3], 1 + key % 254, 1024 + key % 60000, key,
               (unsigned long long)h, key);
}

static void refer_next(bench *b, client *c);

static void refer_done(bench *b, client *c, long status, double now)
{
    if (status != 200 && status != 207)
        die("a batch answered %ld: %.300s", status, c->resp.p ? c->resp.p : "");
    b->batch_lat[b->nbatch_lat++] = now - c->sent;
    json_t *r = json_loadb(c->resp.p, c->resp.n, 0, NULL), *line;
    size_t i, first = c->idx * b->batch;
    json_array_foreach(json_object_get(r, "results"), i, line)
    {
        json_int_t lineno = json_integer_value(json_object_get(line, "line"));
        long num = case_num(json_string_value(json_object_get(line, "id")));
        if (num <= 0 || lineno < 1 || first + (size_t)lineno - 1 >= b->ncases) {
            b->refused++;
            continue;
        }
        b->num_of[first + (size_t)lineno - 1] = num;
        b->referred++;
    }
    json_decref(r);
    refer_next(b, c);
}

static void refer_next(bench *b, client *c)
{
    size_t first = b->next_batch * b->batch;
    if (first >= b->ncases)
        return;
    c->idx = b->next_batch++;
    c->body.n = 0;
    for (size_t i = first; i < first + b->batch && i < b->ncases; i++)
        referral_line(&c->body, "HTTP-BENCH", i, i);
    snprintf(c->url, sizeof c->url, "%s/v1/referrals?workflow=polit", b->base);
    submit(b, c, 1, ANALYST, "Content-Type: application/x-ndjson", NULL, refer_done);
}

static void print_cpu(const bench *b, const cpu_mark *m)
{
    double wall = now_s() - m->wall;
    printf(",\"bench_cpu_pct\":%.0f,\"server_cpu_pct\":%.0f}\n",
           100.0 * (self_cpu() - m->self) / wall,
           100.0 * (proc_cpu(b->server) - m->server) / wall);
    fflush(stdout);
}

static cpu_mark mark(const bench *b)
{
    return (cpu_mark){now_s(), self_cpu(), proc_cpu(b->server)};
}

static void bench_referrals(bench *b)
{
    size_t nbatches = (b->ncases + b->batch - 1) / b->batch;
    client *cs = calloc(b->refer_clients, sizeof *cs);
    b->batch_lat = calloc(nbatches, sizeof *b->batch_lat);
    if (!cs || !b->batch_lat)
        die("out of memory");
    note("referring %zu cases in batches of %zu from %zu clients", b->ncases, b->batch,
         b->refer_clients);
    cpu_mark m = mark(b);
    for (size_t i = 0; i < b->refer_clients; i++) {
        client_init(&cs[i]);
        refer_next(b, &cs[i]);
    }
    run_loop(b, NULL);
    double secs = now_s() - m.wall;
    printf("{\"bench\":\"http_refer_batch\",\"referrals\":%zu,\"refused\":%zu,\"batch\":%zu,"
           "\"clients\":%zu,\"seconds\":%.3f,\"per_sec\":%.0f,\"batch_p50_ms\":%.1f,"
           "\"batch_p99_ms\":%.1f,\"target_per_sec\":20000",
           b->referred, b->refused, b->batch, b->refer_clients, secs,
           (double)b->referred / secs, pct_ms(b->batch_lat, b->nbatch_lat, 0.5),
           pct_ms(b->batch_lat, b->nbatch_lat, 0.99));
    print_cpu(b, &m);
    for (size_t i = 0; i < b->refer_clients; i++)
        client_free(&cs[i]);
    free(cs);
    if (b->referred != b->ncases)
        die("%zu of %zu referrals taken in", b->referred, b->ncases);
    for (size_t i = 0; i < b->ncases; i++)
        if ((size_t)b->num_of[i] > b->max_num)
            b->max_num = (size_t)b->num_of[i];
    if (!(b->idx_of_num = calloc(b->max_num + 1, sizeof *b->idx_of_num)))
        die("out of memory");
    for (size_t i = 0; i < b->ncases; i++)
        b->idx_of_num[b->num_of[i]] = i;
}

/* ---- feed lag when idle: one referral every 20 ms ---------------------------------------------- */

static void lag_done(bench *b, client *c, long status, double now)
{
    if (status != 201)
        die("a referral answered %ld: %.200s", status, c->resp.p ? c->resp.p : "");
    b->lag_ack[c->idx] = now;
    b->lag_due = c->sent + 0.020;
}

/* The next referral when it is due (one at a time); the end once the
 * follower saw them all (or 10 s after the last answer). */
static void lag_tick(bench *b, double now)
{
    client *c = &b->lagc;
    if (b->lag_next >= LAG_REFERRALS) {
        int all = 1;
        for (size_t i = 0; i < LAG_REFERRALS; i++)
            all &= b->lag_seen[i] > 0;
        if (b->follow && (all || now > b->lag_due + 10))
            b->follow = 0; /* the follower's poll ends within its wait */
        return;
    }
    if (now < b->lag_due)
        return;
    c->idx = b->lag_next++;
    c->body.n = 0;
    buf tmp = {0};
    referral_line(&tmp, "HTTP-LAG", c->idx, b->ncases + c->idx);
    buf_add(&c->body, tmp.p, tmp.n - 1); /* without its line break */
    free(tmp.p);
    snprintf(c->url, sizeof c->url, "%s/v1/referrals?workflow=polit", b->base);
    submit(b, c, 1, ANALYST, "Content-Type: application/json", NULL, lag_done);
    b->lag_sent[c->idx] = c->sent;
    b->lag_due = 1e18; /* lag_done sets the next */
}

/* p50/p99 of seen - from over the pairs both were recorded for. */
static void lag_line(const char *load, const double *from_ack, const double *from_send,
                     const double *seen, size_t n, const cpu_mark *m, const bench *b)
{
    double *a = calloc(n ? n : 1, sizeof *a), *s = calloc(n ? n : 1, sizeof *s);
    size_t k = 0, missed = 0, early = 0;
    for (size_t i = 0; i < n; i++) {
        if (from_ack[i] == 0)
            continue;
        if (seen[i] == 0) {
            missed++;
            continue;
        }
        double d = seen[i] - from_ack[i];
        early += d < 0;
        a[k] = d < 0 ? 0 : d;
        s[k++] = seen[i] - from_send[i];
    }
    printf("{\"bench\":\"http_feed_lag\",\"load\":\"%s\",\"events\":%zu,\"not_seen\":%zu,"
           "\"seen_before_ack\":%zu,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,"
           "\"from_send_p50_ms\":%.1f,\"from_send_p99_ms\":%.1f,\"target_p99_ms\":100",
           load, k, missed, early, pct_ms(a, k, 0.5), pct_ms(a, k, 0.99), pct_ms(a, k, 1.0),
           pct_ms(s, k, 0.5), pct_ms(s, k, 0.99));
    print_cpu(b, m);
    free(a);
    free(s);
}

static void bench_lag_idle(bench *b)
{
    note("feed lag, idle: %d referrals 20 ms apart", LAG_REFERRALS);
    b->feed_after = feed_head(b);
    b->follow = 1;
    b->follow_kind = 2;
    b->lag_due = now_s() + 0.5; /* the follower's first poll is waiting */
    cpu_mark m = mark(b);
    client_init(&b->follower);
    client_init(&b->lagc);
    follow_next(b);
    run_loop(b, lag_tick);
    client_free(&b->follower);
    client_free(&b->lagc);
    lag_line("idle", b->lag_ack, b->lag_sent, b->lag_seen, LAG_REFERRALS, &m, b);
}

/* ---- acts with N clients --------------------------------------------------------------------- */

static void act_next(bench *b, client *c);

static void act_done(bench *b, client *c, long status, double now)
{
    size_t k = c->idx * STEPS + (size_t)c->step;
    b->lat[b->nlat++] = now - c->sent;
    if (status != 200) {
        if (b->acts_bad++ < 5)
            note("act %s answered %ld: %.200s", route[c->step].event, status,
                 c->resp.p ? c->resp.p : "");
        c->step = STEPS; /* leave this case */
    } else {
        b->acts_ok++;
        if (c->step > 0) /* authorisation.applied stays in its state: no feed event */
            b->ack_t[k] = now;
        c->step++;
    }
    act_next(b, c);
}

static void act_next(bench *b, client *c)
{
    if (now_s() >= b->act_until)
        return;
    if (c->step >= STEPS) {
        if (b->next_case >= b->act_cases)
            return;
        c->idx = b->next_case++;
        c->step = 0;
    }
    size_t n = c->idx;
    char key[160];
    long num = b->num_of[n];
    snprintf(c->url, sizeof c->url, "%s/v1/cases/CF-%06ld/events/%s", b->base, num,
             route[c->step].event);
    snprintf(key, sizeof key, "Idempotency-Key: bench-%ld-%s", num, route[c->step].event);
    c->body.n = 0;
    act_body(&c->body, c->step, n);
    submit(b, c, 1, route[c->step].user, "Content-Type: application/json", key, act_done);
    b->sent_t[n * STEPS + (size_t)c->step] = c->sent;
}

static void act_tick(bench *b, double now)
{
    /* Once every act client is done, the follower gets 3 s to catch up. */
    if (b->follow && b->active == 1 && now > b->act_until + 3)
        b->follow = 0;
}

/* caseflowd's group commits so far: commits and jobs. */
static void group_counts(bench *b, double *commits, double *jobs)
{
    char url[160];
    buf body = {0};
    snprintf(url, sizeof url, "%s/metrics", b->base);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    *commits = *jobs = 0;
    if (curl_easy_perform(h) == CURLE_OK && body.p) {
        const char *p;
        if ((p = strstr(body.p, "\ncaseflowd_batch_size_count ")))
            *commits = strtod(p + 28, NULL);
        if ((p = strstr(body.p, "\ncaseflowd_batch_size_sum ")))
            *jobs = strtod(p + 26, NULL);
    }
    curl_easy_cleanup(h);
    free(body.p);
}

static void bench_acts(bench *b)
{
    b->act_cases = b->ncases;
    size_t slots = b->act_cases * STEPS;
    b->lat = calloc(slots, sizeof *b->lat);
    b->sent_t = calloc(slots, sizeof *b->sent_t);
    b->ack_t = calloc(slots, sizeof *b->ack_t);
    b->seen_t = calloc(slots, sizeof *b->seen_t);
    client *cs = calloc(b->nclients, sizeof *cs);
    if (!b->lat || !b->sent_t || !b->ack_t || !b->seen_t || !cs)
        die("out of memory");
    note("acts: %zu clients for %.0f s", b->nclients, b->seconds);
    double c0, j0, c1, j1;
    group_counts(b, &c0, &j0);
    b->feed_after = feed_head(b);
    b->follow = 1;
    b->follow_kind = 1;
    client_init(&b->follower);
    follow_next(b);
    cpu_mark m = mark(b);
    b->act_until = m.wall + b->seconds;
    for (size_t i = 0; i < b->nclients; i++) {
        client_init(&cs[i]);
        cs[i].step = STEPS;
        act_next(b, &cs[i]);
    }
    run_loop(b, act_tick);
    double secs = b->act_until - m.wall;
    group_counts(b, &c1, &j1);
    /* the act line's CPU is over the acts' time plus the follower's catch-up */
    printf("{\"bench\":\"http_act\",\"clients\":%zu,\"acts\":%zu,\"refused\":%zu,"
           "\"seconds\":%.3f,\"per_sec\":%.0f,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,"
           "\"commits\":%.0f,\"jobs_per_commit\":%.1f,\"target_per_sec\":20000,"
           "\"target_p99_ms\":20",
           b->nclients, b->acts_ok, b->acts_bad, secs, (double)b->acts_ok / secs,
           pct_ms(b->lat, b->nlat, 0.5), pct_ms(b->lat, b->nlat, 0.99),
           pct_ms(b->lat, b->nlat, 1.0), c1 - c0, c1 > c0 ? (j1 - j0) / (c1 - c0) : 0);
    print_cpu(b, &m);
    lag_line("acts", b->ack_t, b->sent_t, b->seen_t, slots, &m, b);
    for (size_t i = 0; i < b->nclients; i++)
        client_free(&cs[i]);
    client_free(&b->follower);
    free(cs);
}

/* ---- GET /v1/cases pages -------------------------------------------------------------------- */

typedef struct list_run {
    const char *filter;
    size_t pages, max_pages;
    int follow_cursor; /* page on through `next` */
    double *lat;
    size_t nlat;
    char next[64];
} list_run;

static list_run *current_list;

static void list_next(bench *b, client *c);

static void list_done(bench *b, client *c, long status, double now)
{
    list_run *l = current_list;
    if (status != 200)
        die("GET /v1/cases?%s answered %ld: %.200s", l->filter, status,
            c->resp.p ? c->resp.p : "");
    l->lat[l->nlat++] = now - c->sent;
    l->next[0] = '\0';
    if (l->follow_cursor) {
        json_t *r = json_loadb(c->resp.p, c->resp.n, 0, NULL);
        const char *next = json_string_value(json_object_get(r, "next"));
        if (next)
            snprintf(l->next, sizeof l->next, "%s", next);
        json_decref(r);
        if (!next)
            return;
    }
    list_next(b, c);
}

static void list_next(bench *b, client *c)
{
    list_run *l = current_list;
    if (l->pages >= l->max_pages)
        return;
    l->pages++;
    char *q = curl_easy_escape(c->h, l->next, 0);
    snprintf(c->url, sizeof c->url, "%s/v1/cases?%s&limit=100%s%s", b->base, l->filter,
             l->next[0] ? "&after=" : "", l->next[0] ? q : "");
    curl_free(q);
    c->body.n = 0;
    submit(b, c, 0, SUPERVISOR, NULL, NULL, list_done);
}

static void bench_list(bench *b, const char *filter, size_t max_pages, int follow)
{
    list_run l = {filter, 0, max_pages, follow, calloc(max_pages, sizeof(double)), 0, ""};
    client c;
    if (!l.lat)
        die("out of memory");
    client_init(&c);
    current_list = &l;
    cpu_mark m = mark(b);
    list_next(b, &c);
    run_loop(b, NULL);
    printf("{\"bench\":\"http_list\",\"store_cases\":%zu,\"filter\":\"%s\",\"paging\":%s,"
           "\"pages\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"target_ms\":20",
           b->ncases + LAG_REFERRALS, filter, follow ? "true" : "false", l.nlat,
           pct_ms(l.lat, l.nlat, 0.5), pct_ms(l.lat, l.nlat, 0.99), pct_ms(l.lat, l.nlat, 1.0));
    print_cpu(b, &m);
    client_free(&c);
    free(l.lat);
}

/* ---- main ------------------------------------------------------------------------------------- */

/* dir (the bench's own, made by mkdtemp) and everything in it: the store,
 * its WAL, its keys' directory, caseflowd's log. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    struct stat st;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_dir(path);
        else
            unlink(path);
    }
    if (d)
        closedir(d);
    if (rmdir(dir) != 0)
        note("could not remove %s: %s", dir, strerror(errno));
}

int main(void)
{
    static bench b;
    b.bin = getenv("CASEFLOW_BIN");
    b.bind = getenv("CASEFLOWD_BIN");
    b.workflow = getenv("CASEFLOW_WORKFLOW");
    if (!b.bin || !b.bind || !b.workflow)
        die("set CASEFLOW_BIN, CASEFLOWD_BIN and CASEFLOW_WORKFLOW (make bench does)");
    const char *base = getenv("BENCH_DIR");
    if (!base || !*base)
        base = getenv("TMPDIR");
    snprintf(b.dir, sizeof b.dir, "%s/caseflow-http-bench.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(b.dir))
        die("%s: %s", b.dir, strerror(errno));
    snprintf(b.store, sizeof b.store, "%s/store.db", b.dir);
    snprintf(b.log, sizeof b.log, "%s/caseflowd.log", b.dir);
    b.ncases = env_size("BENCH_HTTP_CASES", 100000);
    b.nclients = env_size("BENCH_HTTP_CLIENTS", 32);
    b.seconds = (double)env_size("BENCH_HTTP_SECONDS", 20);
    b.batch = env_size("BENCH_HTTP_BATCH", 1000);
    b.refer_clients = env_size("BENCH_HTTP_REFER_CLIENTS", 4);
    b.list_pages = env_size("BENCH_HTTP_LIST_PAGES", 50);
    if (!(b.num_of = calloc(b.ncases, sizeof *b.num_of)))
        die("out of memory");
    setenv("CASEFLOW_STORE", b.store, 1);
    setenv("CASEFLOW_NOW", NOW_TEXT, 1);
    unsetenv("CASEFLOW_ACTOR");
    unsetenv("CASEFLOW_REASON");
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(b.multi = curl_multi_init()))
        die("libcurl does not start");
    curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, (long)b.nclients + 8);

    setup_store(&b);
    start_server(&b);
    note("caseflowd on %s, store %s", b.base, b.store);
    bench_referrals(&b);
    bench_lag_idle(&b);
    bench_acts(&b);
    static const char *const filters[] = {
        "state=authorisation", "grade=low", "state=visit&grade=low", "overdue=true",
        "task=open", "deadline_before=2026-12-01T00:00:00Z",
        "updated_since=2026-11-03T09:00:00Z"};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        bench_list(&b, filters[i], b.list_pages, 0);
    bench_list(&b, "state=authorisation", b.ncases / 100 + 10, 1); /* every page */
    stop_server(&b);

    curl_multi_cleanup(b.multi);
    curl_global_cleanup();
    if (!getenv("BENCH_KEEP") || strcmp(getenv("BENCH_KEEP"), "1") != 0) {
        remove_dir(b.dir);
    } else {
        note("kept %s", b.dir);
    }
    free(b.num_of);
    free(b.idx_of_num);
    free(b.batch_lat);
    free(b.lat);
    free(b.sent_t);
    free(b.ack_t);
    free(b.seen_t);
    return 0;
}
