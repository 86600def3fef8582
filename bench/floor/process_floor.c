/*
 * process_floor: the wall time of one process, started as bench/bench.c
 * starts `caseflow refer` for refer_per_process (posix_spawn, timed from the
 * spawn to wait4's return, stdout to a file), for:
 *   true         bench/floor/floor_true: libc only, does nothing;
 *   libs         bench/floor/floor_wal_one DB libs: caseflow's libraries
 *                loaded and touched, nothing else;
 *   wal_one      bench/floor/floor_wal_one DB: caseflow's libraries, one
 *                durable insert in a WAL file (synchronous=FULL), the
 *                checkpoint on close;
 *   wal_one_keep the same without the checkpoint on close
 *                (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE);
 *   and any command given after "--" (e.g. a real `caseflow --version`).
 * Prints one JSON line per program: median and p95 wall ms, median CPU ms of
 * the child (user+sys from wait4), over RUNS runs (FLOOR_RUNS, 200).
 * Usage: process_floor DIR_OF_FLOOR_PROGRAMS DB_DIR [-- COMMAND ARGS...]
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(int)(p * (n - 1) + 0.5)];
}

/* One run: spawn argv, stdout to /dev/null, wait; wall and child CPU secs. */
static int run_once(char *const *argv, double *wall, double *cpu)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = now_s();
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "process_floor: cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR)
            return -1;
    }
    *wall = now_s() - t0;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "process_floor: %s exited %d\n", argv[0],
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    return 0;
}

static int measure(const char *name, char *const *argv, int runs)
{
    double *w = calloc((size_t)runs, sizeof *w), *c = calloc((size_t)runs, sizeof *c);
    if (!w || !c)
        return -1;
    for (int i = 0; i < runs; i++)
        if (run_once(argv, &w[i], &c[i]) != 0)
            return -1;
    printf("{\"floor\":\"process\",\"program\":\"%s\",\"runs\":%d,\"median_ms\":%.3f,"
           "\"p95_ms\":%.3f,\"median_cpu_ms\":%.3f}\n",
           name, runs, 1000 * pct(w, runs, 0.5), 1000 * pct(w, runs, 0.95),
           1000 * pct(c, runs, 0.5));
    fflush(stdout);
    free(w);
    free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: process_floor DIR_OF_FLOOR_PROGRAMS DB_DIR [-- COMMAND ARGS...]\n");
        return 64;
    }
    const char *runs_env = getenv("FLOOR_RUNS");
    int runs = runs_env && *runs_env ? atoi(runs_env) : 200;
    if (runs < 1)
        runs = 1;
    char tru[4200], wal[4200], db[4200];
    snprintf(tru, sizeof tru, "%s/floor_true", argv[1]);
    snprintf(wal, sizeof wal, "%s/floor_wal_one", argv[1]);
    snprintf(db, sizeof db, "%s/process-floor-%ld.db", argv[2], (long)getpid());
    char *a_true[] = {tru, NULL};
    char *a_wal[] = {wal, db, NULL};
    char *a_keep[] = {wal, db, (char *)"keep-wal", NULL};
    char *a_libs[] = {wal, db, (char *)"libs", NULL};
    int rc = measure("true", a_true, runs) || measure("libs", a_libs, runs) ||
             measure("wal_one", a_wal, runs) ||
             measure("wal_one_keep", a_keep, runs);
    if (!rc && argc > 4 && !strcmp(argv[3], "--"))
        rc = measure(argv[4], argv + 4, runs);
    char side[4300];
    unlink(db);
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    return rc ? 1 : 0;
}
