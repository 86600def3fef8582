/*
 * caseflow-bench: the figures issue 2 sets targets for, one JSON line each.
 *
 * For each store size N (10^4, 10^5 and 10^6 by default; see bench/README.md)
 * it generates N synthetic referrals and measures:
 *   bulk_refer          one `caseflow refer FILE` of N JSON lines into a
 *                       fresh file store (durable), referrals/s, child RSS
 *   refer_per_process   one `caseflow refer` process per referral on that
 *                       store, referrals/s and median ms
 *   show                `caseflow show ID` latency on that store (median, p95)
 *   list_page           `caseflow list --limit 100`: the first page, and one
 *                       deep in the store (--after), median and p95
 *   audit_verify        `caseflow audit verify` over the whole chain, records/s
 *   audit_verify_chain  the same with --chain-only (no table checks), records/s
 *   refer_memory        cf_refer in batches through the API, store in memory
 *   lifecycle           cf_act through workflows/polit.lua (authorise,
 *                       resolve, check, approve, visit), store in memory,
 *                       events/s; half of the cases one transaction per act
 *   lifecycle_group     the other half in group commit (10 cases, 60 acts
 *                       per transaction, a savepoint per act: caseflowd's
 *                       writer), events/s
 *   tick_expire         cf_tick firing the monitoring timers of those cases
 *   simulate            cf_workflow_simulate: every case of that store replayed
 *                       through polit.lua itself (all must come out unchanged),
 *                       cases/s
 * The spawned figures run the real command, so they include process start,
 * opening the store and loading the workflow, as a user would see them; each
 * reports the command's own peak RSS (peak_rss_mib, see run_cf). The
 * in-memory figures report the bench's own (peak_rss_self_mib): it holds the
 * store, so that one grows with N.
 *
 * Environment: CASEFLOW_BIN (the caseflow program), CASEFLOW_WORKFLOW
 * (polit.lua), CASEFLOW_PLUGIN_PATH, BENCH_SCALE (small | full), BENCH_SIZES
 * ("10000 100000 1000000"), BENCH_SPAWN (processes for refer_per_process,
 * 200), BENCH_SHOW_RUNS (51; list_page's runs too), BENCH_LIST_LIMIT (100),
 * BENCH_LIFECYCLE (cases driven through the lifecycle per size, at most;
 * 100000), BENCH_DIR (where stores go; TMPDIR or /tmp),
 * BENCH_KEEP=1 (keep the stores), BENCH_ONLY (store | memory: one half).
 */
#include <caseflow/caseflow.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "synth.h"

extern char **environ;

#define BENCH_ADMIN "bench.admin"
#define BENCH_MAX_SIZES 8
/* 2026-11-02T09:30:00Z: the engine clock for the in-memory runs. */
#define BENCH_EPOCH INT64_C(1793611800)

typedef struct bench_cfg {
    const char *bin;
    const char *workflow;
    char self[4096]; /* this program, which spawns each command (run_cf) */
    char dir[4096];
    size_t sizes[BENCH_MAX_SIZES];
    int nsizes;
    int spawn;
    int show_runs;
    int list_limit;
    size_t lifecycle_max;
    int keep;
} bench_cfg;

/* ---- small helpers ---------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("caseflow-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mib(long kib) { return (double)kib / 1024.0; }

/* CPU time of this process (every thread), seconds. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static long self_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Start this process's peak RSS again from its current RSS (Linux: "5" to
 * /proc/self/clear_refs), so each size's in-memory figures show that size's
 * peak, not the largest so far. Where that cannot be done the figures are
 * the peak so far: sizes run in the order given, so smallest first. */
static void self_rss_reset(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "5", 1) != 1)
            fprintf(stderr, "caseflow-bench: cannot reset the peak RSS: %s\n", strerror(errno));
        close(fd);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void write_referrals(const char *path, const char *prefix, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die("%s: %s", path, strerror(errno));
    char buf[1024];
    for (size_t i = 0; i < n; i++) {
        if (bench_make_referral(buf, sizeof buf, prefix, i) != 0)
            die("referral %zu does not fit", i);
        fputs(buf, f);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
}

/* ---- running the caseflow command -------------------------------------- */

/*
 * The child's peak RSS: wait4 reports the largest of the child's own and of
 * the address space it was started from. posix_spawn (vfork) and fork both
 * start it from the bench's, which holds a whole store in memory after the
 * first size's in-memory figures: every command would then seem as large as
 * the bench. So the bench starts a copy of itself (`--spawn`), small, which
 * starts the command, times it from spawn to exit, and writes
 * "status seconds rss_kib" on its descriptor 3. The figure's floor is that
 * copy's own RSS (2.4 MiB here).
 */
static int spawn_child(int argc, char **argv)
{
    /* argv: self --spawn OUT PROGRAM ARGS... */
    if (argc < 4 || fcntl(3, F_SETFD, FD_CLOEXEC) != 0)
        return 70;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = now_s();
    int rc = posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "caseflow-bench: cannot run %s: %s\n", argv[3], strerror(rc));
        return 70;
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR)
            return 70;
    }
    double secs = now_s() - t0;
    dprintf(3, "%d %.9f %ld\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1, secs,
            (long)ru.ru_maxrss);
    return 0;
}

/*
 * Run the caseflow command with args (NULL-terminated, without argv[0]),
 * stdout to out_path (NULL: /dev/null). Returns the exit status (-1 when it
 * did not exit), the wall time and the child's peak RSS (see spawn_child).
 */
static int run_cf(const bench_cfg *cfg, const char *const *args, const char *out_path,
                  double *secs, long *rss_kib)
{
    char *argv[20];
    int argc = 0;
    argv[argc++] = (char *)cfg->self;
    argv[argc++] = (char *)"--spawn";
    argv[argc++] = (char *)(out_path ? out_path : "/dev/null");
    argv[argc++] = (char *)cfg->bin;
    for (; *args && argc < 19; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;

    int p[2];
    if (pipe(p) != 0 || fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 3);
    pid_t pid;
    int rc = posix_spawn(&pid, cfg->self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0)
        die("cannot run %s: %s", cfg->self, strerror(rc));
    char line[128];
    ssize_t got = 0, k;
    while ((size_t)got < sizeof line - 1 &&
           ((k = read(p[0], line + got, sizeof line - 1 - (size_t)got)) > 0 ||
            (k < 0 && errno == EINTR)))
        got += k > 0 ? k : 0;
    line[got] = '\0';
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    }
    int code;
    long rss;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(line, "%d %lf %ld", &code, secs, &rss) != 3)
        die("%s --spawn %s failed", cfg->self, cfg->bin);
    if (rss_kib)
        *rss_kib = rss;
    return code;
}

/* ---- stores through the API --------------------------------------------- */

static void check(int rc, const cf_error *err, const char *what)
{
    if (rc != 0)
        die("%s: %s (%s%s%s)", what, err->message[0] ? err->message : cf_strerror(rc),
            cf_err_name(rc), err->field[0] ? ", " : "", err->field);
}

static const char *const role_names[][2] = {
    {"bench.analyst", "analyst"},       {"bench.officer", "officer"},
    {"bench.supervisor", "supervisor"}, {"bench.authoriser", "authoriser"},
};

/* Open (creating) the store at path, make it ready: users and polit. */
static cf_engine *open_store(const bench_cfg *cfg, const char *path, cf_error *err)
{
    cf_open_options o;
    memset(&o, 0, sizeof o);
    o.create = 1;
    cf_engine *e = NULL;
    int rc = cf_engine_open(path, &o, &e, err);
    if (rc != 0)
        return NULL;
    cf_engine_set_clock(e, BENCH_EPOCH);
    cf_engine_set_actor(e, BENCH_ADMIN, "benchmark: synthetic data");
    check(cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, err), err, "init");
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        const char *roles[] = {role_names[i][1], NULL};
        check(cf_user_add(e, role_names[i][0], roles, err), err, "user add");
    }
    check(cf_workflow_deploy(e, cfg->workflow, NULL, err), err, cfg->workflow);
    return e;
}

/* ---- the figures --------------------------------------------------------- */

/* list latency: `caseflow list --limit L` (the first page) and the same
 * from a cursor deep in the store (`--after`, the `next` of the page before
 * it: a case's intake seq; the bench takes the one at 9/10 of the store), runs
 * times each, as a dashboard pages through the store. */
static void bench_list_page(const bench_cfg *cfg, size_t n)
{
    char limit[24], after[24];
    snprintf(limit, sizeof limit, "%d", cfg->list_limit);
    snprintf(after, sizeof after, "%zu", n - n / 10);
    const char *first[] = {"--json", "list", "--limit", limit, NULL};
    const char *deep[] = {"--json", "list", "--limit", limit, "--after", after, NULL};
    const char *const *pages[] = {first, deep};
    size_t runs = (size_t)cfg->show_runs;
    double *t = calloc(runs, sizeof *t);
    if (!t)
        die("out of memory");
    for (int k = 0; k < 2; k++) {
        long rss = 0, max_rss = 0;
        for (size_t i = 0; i < runs; i++) {
            int rc = run_cf(cfg, pages[k], NULL, &t[i], &rss);
            if (rc != 0)
                die("caseflow list --limit %s%s%s exited %d", limit, k ? " --after " : "",
                    k ? after : "", rc);
            if (rss > max_rss)
                max_rss = rss;
        }
        printf("{\"bench\":\"list_page\",\"cases\":%zu,\"page\":\"%s\",\"after\":%s,"
               "\"limit\":%d,\"runs\":%zu,\"median_ms\":%.2f,\"p95_ms\":%.2f,"
               "\"peak_rss_mib\":%.1f}\n",
               n, k ? "deep" : "first", k ? after : "null", cfg->list_limit, runs,
               1000 * percentile(t, runs, 0.5), 1000 * percentile(t, runs, 0.95), mib(max_rss));
        fflush(stdout);
    }
    free(t);
}

static void bench_store(const bench_cfg *cfg, size_t n)
{
    char db[4400], lines[4400], out[4400], single[4400];
    snprintf(db, sizeof db, "%s/store-%zu.db", cfg->dir, n);
    snprintf(lines, sizeof lines, "%s/referrals-%zu.jsonl", cfg->dir, n);
    snprintf(out, sizeof out, "%s/refer-%zu.out", cfg->dir, n);
    cf_error err;
    memset(&err, 0, sizeof err);

    write_referrals(lines, "BULK", n);
    cf_engine *e = open_store(cfg, db, &err);
    if (!e)
        check(err.code ? err.code : CF_EINTERNAL, &err, db);
    cf_engine_close(e);
    setenv("CASEFLOW_STORE", db, 1);
    setenv("CASEFLOW_ACTOR", "bench.analyst", 1);
    setenv("CASEFLOW_REASON", "benchmark: synthetic data", 1);

    /* bulk intake: one process, N JSON lines */
    double secs;
    long rss;
    const char *bulk[] = {"--json", "refer", lines, NULL};
    int rc = run_cf(cfg, bulk, out, &secs, &rss);
    if (rc != 0)
        die("caseflow refer %s exited %d", lines, rc);
    printf("{\"bench\":\"bulk_refer\",\"cases\":%zu,\"seconds\":%.3f,\"per_sec\":%.0f,"
           "\"peak_rss_mib\":%.1f,\"target_per_sec\":20000}\n",
           n, secs, (double)n / secs, mib(rss));
    fflush(stdout);

    /* the case ids, for show */
    size_t nids = 0, cap = (size_t)cfg->show_runs;
    char **ids = calloc(cap, sizeof *ids);
    FILE *f = fopen(out, "r");
    if (!ids || !f)
        die("%s: cannot read the refer output", out);
    char line[2048];
    size_t seen = 0, stride = n / cap ? n / cap : 1;
    while (fgets(line, sizeof line, f)) {
        if (seen++ % stride != 0 || nids == cap)
            continue;
        json_t *j = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id)
            ids[nids++] = strdup(id);
        json_decref(j);
    }
    fclose(f);
    if (seen != n)
        fprintf(stderr, "caseflow-bench: refer printed %zu lines for %zu referrals\n", seen, n);

    /* one process per referral */
    double *t = calloc((size_t)cfg->spawn, sizeof *t);
    double total = 0;
    long max_rss = 0;
    for (int i = 0; i < cfg->spawn; i++) {
        char buf[1024];
        snprintf(single, sizeof single, "%s/single.json", cfg->dir);
        bench_make_referral(buf, sizeof buf, "SINGLE", (uint64_t)n * 10 + (uint64_t)i);
        FILE *sf = fopen(single, "w");
        if (!sf)
            die("%s: %s", single, strerror(errno));
        fputs(buf, sf);
        fclose(sf);
        const char *one[] = {"--json", "refer", single, NULL};
        rc = run_cf(cfg, one, NULL, &t[i], &rss);
        if (rc != 0)
            die("caseflow refer %s exited %d", single, rc);
        total += t[i];
        if (rss > max_rss)
            max_rss = rss;
    }
    printf("{\"bench\":\"refer_per_process\",\"cases\":%zu,\"processes\":%d,\"per_sec\":%.0f,"
           "\"median_ms\":%.2f,\"peak_rss_mib\":%.1f}\n",
           n, cfg->spawn, cfg->spawn / total, 1000 * percentile(t, (size_t)cfg->spawn, 0.5),
           mib(max_rss));
    fflush(stdout);
    free(t);

    /* show latency on the big store */
    t = calloc(nids ? nids : 1, sizeof *t);
    max_rss = 0;
    for (size_t i = 0; i < nids; i++) {
        const char *show[] = {"--json", "show", ids[i], NULL};
        rc = run_cf(cfg, show, NULL, &t[i], &rss);
        if (rc != 0)
            die("caseflow show %s exited %d", ids[i], rc);
        if (rss > max_rss)
            max_rss = rss;
    }
    double med = percentile(t, nids, 0.5), p95 = percentile(t, nids, 0.95);
    printf("{\"bench\":\"show\",\"cases\":%zu,\"runs\":%zu,\"median_ms\":%.2f,\"p95_ms\":%.2f,"
           "\"peak_rss_mib\":%.1f,\"target_ms\":20}\n",
           n, nids, 1000 * med, 1000 * p95, mib(max_rss));
    fflush(stdout);
    free(t);
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    bench_list_page(cfg, n);

    /* audit verify over the whole chain */
    setenv("CASEFLOW_ACTOR", BENCH_ADMIN, 1);
    const char *verify[] = {"--json", "audit", "verify", NULL};
    char vout[4400];
    snprintf(vout, sizeof vout, "%s/verify-%zu.out", cfg->dir, n);
    rc = run_cf(cfg, verify, vout, &secs, &rss);
    if (rc != 0)
        die("caseflow audit verify exited %d", rc);
    json_t *v = json_load_file(vout, 0, NULL);
    json_int_t records = json_integer_value(json_object_get(v, "records"));
    json_decref(v);
    printf("{\"bench\":\"audit_verify\",\"cases\":%zu,\"records\":%" JSON_INTEGER_FORMAT
           ",\"seconds\":%.3f,\"per_sec\":%.0f,\"peak_rss_mib\":%.1f,\"target_per_sec\":200000}\n",
           n, records, secs, (double)records / secs, mib(rss));
    fflush(stdout);
    /* the chain alone: links, record hashes, kept payloads, signed checkpoints */
    const char *chain[] = {"--json", "audit", "verify", "--chain-only", NULL};
    rc = run_cf(cfg, chain, vout, &secs, &rss);
    if (rc != 0)
        die("caseflow audit verify --chain-only exited %d", rc);
    printf("{\"bench\":\"audit_verify_chain\",\"cases\":%zu,\"records\":%" JSON_INTEGER_FORMAT
           ",\"seconds\":%.3f,\"per_sec\":%.0f,\"peak_rss_mib\":%.1f,\"target_per_sec\":500000}\n",
           n, records, secs, (double)records / secs, mib(rss));
    fflush(stdout);

    if (!cfg->keep) {
        unlink(lines);
        unlink(out);
        unlink(vout);
        unlink(single);
    }
}

/* One case's life on the visit route, as (role user, event, data). */
static int act_as(cf_engine *e, const char *actor, const char *id, const char *event,
                  json_t *data, cf_error *err)
{
    cf_engine_set_actor(e, actor, "benchmark: synthetic data");
    int rc = cf_act(e, id, event, data, -1, NULL, err);
    json_decref(data);
    return rc;
}

static int lifecycle(cf_engine *e, const char *id, uint64_t i, cf_error *err)
{
    return bench_lifecycle(e, id, i, act_as, err);
}
#define LIFECYCLE_EVENTS 6
#define LIFECYCLE_GROUP 10 /* cases per transaction in lifecycle_group */

/* workflow simulate: every case of the store just built (referred, half of
 * them through their lifecycle and their monitoring ended) replayed through
 * polit.lua itself, so every case must come out unchanged. Target (issue
 * 9): 10^6 cases in under 60 s. */
static void bench_simulate(const bench_cfg *cfg, cf_engine *e, size_t n)
{
    cf_error err;
    memset(&err, 0, sizeof err);
    cf_engine_set_actor(e, BENCH_ADMIN, "benchmark: synthetic data");
    cf_simulate_options o;
    memset(&o, 0, sizeof o);
    o.path = cfg->workflow;
    json_t *out = NULL;
    double t0 = now_s(), c0 = cpu_s();
    check(cf_workflow_simulate(e, &o, &out, &err), &err, "simulate");
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    json_t *sum = json_object_get(out, "summary");
    json_int_t replayed = json_integer_value(json_object_get(sum, "replayed"));
    json_int_t unchanged = json_integer_value(json_object_get(sum, "unchanged"));
    if (replayed != (json_int_t)n || unchanged != replayed)
        die("simulate: %" JSON_INTEGER_FORMAT " of %zu cases replayed, %" JSON_INTEGER_FORMAT
            " unchanged: the same workflow must change nothing",
            replayed, n, unchanged);
    printf("{\"bench\":\"simulate\",\"cases\":%zu,\"replayed\":%" JSON_INTEGER_FORMAT
           ",\"unchanged\":%" JSON_INTEGER_FORMAT ",\"seconds\":%.3f,\"per_sec\":%.0f,"
           "\"cpu_seconds\":%.3f,\"target_per_sec\":16667,\"peak_rss_self_mib\":%.1f}\n",
           n, replayed, unchanged, secs, (double)n / secs, cpu, mib(self_rss_kib()));
    fflush(stdout);
    json_decref(out);
}

static void bench_memory(const bench_cfg *cfg, size_t n)
{
    cf_error err;
    memset(&err, 0, sizeof err);
    const char *where = "memory";
    char shm[128] = "";
    cf_engine *e = open_store(cfg, ":memory:", &err);
    if (!e) {
        /* The store cannot be opened in memory: the closest is a file on tmpfs. */
        snprintf(shm, sizeof shm, "/dev/shm/caseflow-bench-%ld-%zu.db", (long)getpid(), n);
        where = "dev_shm_file";
        fprintf(stderr, "caseflow-bench: the store refused \":memory:\" (%s); using %s\n",
                err.message, shm);
        memset(&err, 0, sizeof err);
        e = open_store(cfg, shm, &err);
        if (!e)
            check(err.code ? err.code : CF_EINTERNAL, &err, shm);
    }

    /* intake through the API, in batches */
    self_rss_reset();
    const size_t batch = 10000;
    size_t nl = n < cfg->lifecycle_max ? n : cfg->lifecycle_max;
    char **ids = calloc(nl, sizeof *ids);
    char buf[1024];
    double t0 = now_s();
    cf_engine_set_actor(e, "bench.analyst", "benchmark: synthetic data");
    for (size_t i = 0; i < n; i += batch) {
        check(cf_batch_begin(e, &err), &err, "batch begin");
        for (size_t k = i; k < i + batch && k < n; k++) {
            bench_make_referral(buf, sizeof buf, "MEM", k);
            json_t *r = json_loads(buf, 0, NULL), *out = NULL;
            check(cf_refer(e, NULL, r, &out, &err), &err, "refer");
            /* every other referral is visit-eligible: those get a lifecycle */
            if (k % 2 == 0 && k / 2 < nl)
                ids[k / 2] = strdup(json_string_value(json_object_get(out, "id")));
            json_decref(out);
            json_decref(r);
        }
        check(cf_batch_commit(e, &err), &err, "batch commit");
    }
    double secs = now_s() - t0;
    printf("{\"bench\":\"refer_memory\",\"cases\":%zu,\"store\":\"%s\",\"seconds\":%.3f,"
           "\"per_sec\":%.0f,\"peak_rss_self_mib\":%.1f}\n",
           n, where, secs, (double)n / secs, mib(self_rss_kib()));
    fflush(stdout);

    /* lifecycles: the eligible half of the cases, at most lifecycle_max.
     * The first half one transaction per act (as `caseflow act`), the
     * second half in group commit (as caseflowd's writer). */
    size_t have = 0;
    while (have < nl && ids[have])
        have++;
    size_t cases = 0, first = (have + 1) / 2;
    t0 = now_s();
    double c0 = cpu_s();
    for (size_t i = 0; i < first && ids[i]; i++, cases++) {
        int rc = lifecycle(e, ids[i], i, &err);
        if (rc != 0)
            check(rc, &err, ids[i]);
    }
    secs = now_s() - t0;
    double cpu = cpu_s() - c0;
    double events = (double)(cases * LIFECYCLE_EVENTS);
    printf("{\"bench\":\"lifecycle\",\"cases\":%zu,\"lifecycle_cases\":%zu,\"store\":\"%s\","
           "\"events\":%.0f,\"seconds\":%.3f,\"per_sec\":%.0f,\"cpu_seconds\":%.3f,"
           "\"cpu_per_sec\":%.0f,\"target_per_sec\":200000,\"peak_rss_self_mib\":%.1f}\n",
           n, cases, where, events, secs, events / secs, cpu, events / cpu,
           mib(self_rss_kib()));
    fflush(stdout);

    /* the same lifecycles in group commit: LIFECYCLE_GROUP cases (6 acts
     * each) per store transaction, every act under its own savepoint, as
     * caseflowd's writer commits the jobs it has queued (cf_batch_begin) */
    size_t grouped = 0;
    t0 = now_s();
    c0 = cpu_s();
    for (size_t i = first; i < have;) {
        check(cf_batch_begin(e, &err), &err, "batch begin");
        for (size_t k = 0; k < LIFECYCLE_GROUP && i < have; k++, i++, grouped++) {
            int rc = lifecycle(e, ids[i], i, &err);
            if (rc != 0)
                check(rc, &err, ids[i]);
        }
        check(cf_batch_commit(e, &err), &err, "batch commit");
    }
    secs = now_s() - t0;
    cpu = cpu_s() - c0;
    events = (double)(grouped * LIFECYCLE_EVENTS);
    printf("{\"bench\":\"lifecycle_group\",\"cases\":%zu,\"lifecycle_cases\":%zu,"
           "\"acts_per_commit\":%d,\"store\":\"%s\",\"events\":%.0f,\"seconds\":%.3f,"
           "\"per_sec\":%.0f,\"cpu_seconds\":%.3f,\"cpu_per_sec\":%.0f}\n",
           n, grouped, LIFECYCLE_GROUP * LIFECYCLE_EVENTS, where, events, secs,
           events / secs, cpu, events / cpu);
    fflush(stdout);

    /* a year later every monitoring period ends */
    cf_engine_set_clock(e, BENCH_EPOCH + 400 * 86400);
    cf_engine_set_actor(e, BENCH_ADMIN, "benchmark: synthetic data");
    json_t *fired = NULL;
    t0 = now_s();
    check(cf_tick(e, &fired, &err), &err, "tick");
    secs = now_s() - t0;
    size_t nf = json_array_size(fired);
    json_decref(fired);
    printf("{\"bench\":\"tick_expire\",\"cases\":%zu,\"timers\":%zu,\"seconds\":%.3f,"
           "\"per_sec\":%.0f,\"peak_rss_self_mib\":%.1f}\n",
           n, nf, secs, (double)nf / secs, mib(self_rss_kib()));
    fflush(stdout);

    bench_simulate(cfg, e, n);

    for (size_t i = 0; i < nl; i++)
        free(ids[i]);
    free(ids);
    cf_engine_close(e);
    if (shm[0]) {
        unlink(shm);
        char side[160];
        snprintf(side, sizeof side, "%s-wal", shm);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", shm);
        unlink(side);
    }
}

/* ---- configuration --------------------------------------------------------- */

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x <= 0)
        die("%s=%s: expected a positive number", name, v);
    return x;
}

static void configure(bench_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bin = getenv("CASEFLOW_BIN");
    if (!cfg->bin || !*cfg->bin)
        cfg->bin = "./caseflow";
    cfg->workflow = getenv("CASEFLOW_WORKFLOW");
    if (!cfg->workflow || !*cfg->workflow)
        cfg->workflow = "workflows/polit.lua";
    if (access(cfg->bin, X_OK) != 0)
        die("%s: not an executable (set CASEFLOW_BIN)", cfg->bin);
    if (access(cfg->workflow, R_OK) != 0)
        die("%s: not readable (set CASEFLOW_WORKFLOW)", cfg->workflow);
    ssize_t k = readlink("/proc/self/exe", cfg->self, sizeof cfg->self - 1);
    if (k <= 0 || (size_t)k >= sizeof cfg->self - 1)
        die("/proc/self/exe: cannot find this program (%s)", strerror(errno));
    cfg->self[k] = '\0';

    const char *sizes = getenv("BENCH_SIZES");
    const char *scale = getenv("BENCH_SCALE");
    if (!sizes || !*sizes) {
        if (scale && !strcmp(scale, "small"))
            sizes = "1000 10000";
        else if (!scale || !*scale || !strcmp(scale, "full"))
            sizes = "10000 100000 1000000";
        else
            die("BENCH_SCALE=%s: expected small or full", scale);
    }
    for (const char *p = sizes; *p && cfg->nsizes < BENCH_MAX_SIZES;) {
        char *end;
        unsigned long long x = strtoull(p, &end, 10);
        if (end == p || x == 0)
            die("BENCH_SIZES=%s: expected numbers", sizes);
        cfg->sizes[cfg->nsizes++] = (size_t)x;
        p = end + strspn(end, " ,");
    }
    cfg->spawn = (int)env_long("BENCH_SPAWN", 200);
    cfg->show_runs = (int)env_long("BENCH_SHOW_RUNS", 51);
    cfg->list_limit = (int)env_long("BENCH_LIST_LIMIT", 100);
    cfg->lifecycle_max = (size_t)env_long("BENCH_LIFECYCLE", 100000);
    cfg->keep = getenv("BENCH_KEEP") && !strcmp(getenv("BENCH_KEEP"), "1");

    const char *base = getenv("BENCH_DIR");
    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(cfg->dir, sizeof cfg->dir, "%s/caseflow-bench.XXXXXX", base);
    if (!mkdtemp(cfg->dir))
        die("%s: %s", cfg->dir, strerror(errno));
}

/* Remove dir and everything in it, one level of directories deep (the
 * stores' signing key directories); false when something stayed. */
static bool remove_dir(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
            continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, ent->d_name);
        struct stat sb;
        if (depth > 0 && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_dir(p, depth - 1);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    return rmdir(dir) == 0;
}

/* Remove the bench's own directory and everything the stores left in it
 * (the database, its WAL, signing keys...). */
static void cleanup(const bench_cfg *cfg)
{
    if (cfg->keep) {
        fprintf(stderr, "caseflow-bench: stores kept in %s\n", cfg->dir);
        return;
    }
    if (!remove_dir(cfg->dir, 1))
        fprintf(stderr, "caseflow-bench: left %s (%s)\n", cfg->dir, strerror(errno));
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    if (argc > 1 && !strcmp(argv[1], "--spawn"))
        return spawn_child(argc, argv);
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        puts("usage: caseflow-bench   (configured by environment; see bench/README.md)");
        return 0;
    }
    configure(&cfg);
    fprintf(stderr, "caseflow-bench: caseflow %s, %s, stores in %s\n", cf_version(), cfg.bin,
            cfg.dir);
    /* BENCH_ONLY=store or memory: one half (to measure one change). */
    const char *only = getenv("BENCH_ONLY");
    for (int i = 0; i < cfg.nsizes; i++) {
        if (!only || strcmp(only, "memory") != 0)
            bench_store(&cfg, cfg.sizes[i]);
        if (!only || strcmp(only, "store") != 0)
            bench_memory(&cfg, cfg.sizes[i]);
    }
    cleanup(&cfg);
    return 0;
}
