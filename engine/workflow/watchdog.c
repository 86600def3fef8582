/*
 * The watchdog: the last resort when a workflow call runs on past its
 * deadline where nothing else can stop it. The hook, the charges of the
 * library functions and the allocator stop a call within a few milliseconds
 * of its deadline, but a single VM instruction can take longer (comparing
 * two long strings of NULs costs one strcoll per byte), and all that time
 * the engine holds the store's write lock. So every call with a deadline
 * arms the watchdog for its deadline plus a grace; if the call is still
 * running then, the process writes one line to stderr and ends with exit
 * status 70 (EX_SOFTWARE). The engine runs workflow calls inside its write
 * transaction, so ending the process before the commit rolls everything
 * back and releases the lock.
 *
 * It is one thread per process, waiting on a condition variable on
 * CLOCK_MONOTONIC: no signal is needed to stop a runaway Lua call (the
 * library's only signal handlers are engine/guard.c's, for plugin calls that
 * crash, and they stand aside outside one), and a POSIX timer would cost two system calls per call (thousands of calls a second
 * go through here) and leave the C library's helper thread running at
 * exit. Arming and disarming only take a mutex; the thread is woken only
 * when a call's deadline is earlier than the one it sleeps towards, and
 * otherwise finds the new deadline when it wakes. It is joined at exit, and
 * a fork child starts its own. One call is watched at a time; a call that
 * finds the watchdog in use by another thread's call runs without it.
 *
 * Late on the wall clock is not enough to end a process: on a busy machine
 * (a load spike, a noisy neighbour) a call that was simply not scheduled
 * would take the whole service down with it. So at its deadline the
 * watchdog reads the call's thread's CPU clock too, and ends the process
 * only when the call has itself used at least as much CPU time as it was
 * allowed on the wall clock; a call that was starved is looked at again
 * when it could have used up the rest. A runaway instruction burns CPU and
 * meets both conditions.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "wf.h"

/* EX_SOFTWARE, the exit status of a workflow script error. */
#define WF_WATCHDOG_EXIT 70

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_cond_t wake;
static pthread_t thread;
static bool running;          /* the thread runs in this process */
static bool quitting;
static bool in_use;           /* a call is armed */
static int64_t fire_at;       /* when the armed call is late; 0: none */
static int64_t sleeping_until; /* what the thread waits for; 0: a wake-up */
static int64_t late_ms;
static const wf_label *label; /* the armed call's, valid while armed */
static clockid_t cpu_clock;   /* the armed call's thread's CPU clock */
static bool have_cpu_clock;
static int64_t cpu_start_ms;  /* that clock when armed */
static int64_t cpu_allowed_ms; /* from arming to fire_at, on the wall clock */

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under the lock, at or past fire_at: true when the call has used its
 * allowance of CPU time (or its CPU time cannot be read); otherwise moves
 * fire_at to when it could have. */
static bool really_late(int64_t now)
{
    if (!have_cpu_clock)
        return true;
    int64_t used = clock_ms(cpu_clock);
    if (used < 0)
        return true;
    used -= cpu_start_ms;
    if (used >= cpu_allowed_ms)
        return true;
    int64_t rest = cpu_allowed_ms - used;
    fire_at = now + (rest < 1 ? 1 : rest);
    return false;
}

/* Under the lock, so the call cannot end (and its label go) meanwhile. */
static void fire(void)
{
    char what[300], line[400];
    wf_label_format(label, what, sizeof what);
    int n = snprintf(line, sizeof line,
                     "caseflow: %s: still running %lld ms past its time "
                     "budget; stopped (nothing was written)\n",
                     what, (long long)late_ms);
    if (n > 0 && (size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n);
        (void)w;
    }
    _exit(WF_WATCHDOG_EXIT);
}

static void *watch(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!quitting) {
        int64_t now = cf_time_monotonic_ms();
        if (fire_at != 0 && now >= fire_at && really_late(now))
            fire();
        sleeping_until = fire_at;
        if (fire_at == 0) {
            pthread_cond_wait(&wake, &lock);
            continue;
        }
        struct timespec ts = {(time_t)(fire_at / 1000),
                              (long)(fire_at % 1000) * 1000000L};
        pthread_cond_timedwait(&wake, &lock, &ts);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void init_wake(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &attr);
    pthread_condattr_destroy(&attr);
}

/* A thread that still runs at exit looks like a leak to valgrind, and
 * exit must not wait for a call: stop it and join it. */
static void stop_at_exit(void)
{
    pthread_mutex_lock(&lock);
    bool mine = running;
    quitting = true;
    running = false;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    if (mine)
        pthread_join(thread, NULL);
}

/* fork(2) copies the lock as it is, and the condition variable with the
 * thread's wait, but not the thread: hold the lock across the fork, and
 * let the child start a thread of its own. */
static void before_fork(void)
{
    pthread_mutex_lock(&lock);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

static void after_fork_child(void)
{
    init_wake();
    running = in_use = false;
    fire_at = sleeping_until = 0;
    pthread_mutex_unlock(&lock);
}

static void setup(void)
{
    init_wake();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    atexit(stop_at_exit);
}

/* Under the lock. */
static bool have_thread(void)
{
    if (running)
        return true;
    sleeping_until = 0;
    running = pthread_create(&thread, NULL, watch, NULL) == 0;
    return running;
}

bool wf_watchdog_arm(int64_t at_ms, int64_t late, const wf_label *what)
{
    pthread_once(&once, setup);
    pthread_mutex_lock(&lock);
    if (in_use || quitting || !have_thread()) {
        pthread_mutex_unlock(&lock);
        return false;
    }
    in_use = true;
    have_cpu_clock =
        pthread_getcpuclockid(pthread_self(), &cpu_clock) == 0 &&
        (cpu_start_ms = clock_ms(cpu_clock)) >= 0;
    int64_t now = cf_time_monotonic_ms();
    cpu_allowed_ms = at_ms > now ? at_ms - now : 0;
    fire_at = at_ms;
    late_ms = late;
    label = what;
    if (sleeping_until == 0 || at_ms < sleeping_until)
        pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    return true;
}

void wf_watchdog_disarm(void)
{
    pthread_mutex_lock(&lock);
    in_use = false;
    fire_at = 0;
    label = NULL;
    pthread_mutex_unlock(&lock);
}
