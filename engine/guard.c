/*
 * The plugin guard (guard.h): a record of the plugin call each thread is
 * running, a signal handler and an exit hook that read it, and a watchdog
 * thread that ends a call running past its budget.
 *
 * The cost of a guarded call is what a plugin call must not notice: a few
 * short string copies, one read of the monotonic clock (vDSO, no system
 * call) and a few atomic stores; no lock, no system call, no allocation.
 * The watchdog is one thread per process that, while calls come, looks
 * at the earliest deadline and every half budget (at most a second), and
 * after a quiet spell sleeps on a condition variable: a call that begins
 * while it sleeps wakes it (the only time a call takes the lock). Like the
 * workflow watchdog it is joined at exit and started again in a fork child.
 *
 * Unlike the workflow watchdog (workflow/watchdog.c) it ends the process on
 * the wall clock alone: a plugin that blocks (on a lock, a socket, sleep)
 * holds the store's write lock just as surely as one that spins, and the
 * budget (seconds by default) is far beyond any scheduling delay.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "internal.h"

/* EX_SOFTWARE: the process ended because of a plugin. */
#define GUARD_EXIT 70
#define ALT_STACK_SIZE (64 * 1024)

typedef struct slot {
    atomic_bool owned;        /* a call holds it */
    atomic_int active;        /* the call kind + 1 while a call runs, GUARD_DYING once the
                                 watchdog claimed it, else 0 */
    atomic_uint seq;          /* odd while the record is being written */
    _Atomic int64_t deadline; /* monotonic ms */
    int64_t budget;
    int call;
    char plugin[64], version[32], state[64], event[96], case_id[64];
} slot;

static slot slots[CF_GUARD_SLOTS];
/* The calling thread's slot while its call runs; where it looks first. */
static _Thread_local slot *mine __attribute__((tls_model("initial-exec")));
static _Thread_local unsigned hint __attribute__((tls_model("initial-exec")));
/* The thread's alternate signal stack: 0 not looked at, 1 set (or it had
 * one), -1 none could be set. The first thread gets the static one. */
static _Thread_local signed char alt_state __attribute__((tls_model("initial-exec")));
static _Alignas(16) char first_altstack[ALT_STACK_SIZE];
static atomic_bool first_altstack_taken;

static _Atomic int64_t budget_ms = CF_GUARD_DEFAULT_MS;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static pthread_t thread;
static atomic_bool running;  /* the watchdog thread runs in this process */
static atomic_bool sleeping; /* it waits for a call to begin */
static atomic_bool gave_up;  /* it could not be started */
static bool quitting;

/* cf_protect_stdout: the stream on descriptor 1 (now standard error) that
 * plugins get as stdout during their calls, the program's own, and how many
 * calls run (the first swaps, the last swaps back). */
static FILE *plugin_stdout;
static FILE *own_stdout;
static atomic_int in_calls;

static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static const char *const fatal_names[] = {"SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT"};
#define NFATAL (sizeof fatal / sizeof fatal[0])
static struct sigaction before[NFATAL]; /* the actions the guard replaced */

/* ---- the line (async-signal-safe: no stdio, no allocation) --------------------------- */

typedef struct line {
    char b[512];
    size_t n;
} line;

static void put(line *l, const char *s)
{
    while (s && *s && l->n < sizeof l->b - 2)
        l->b[l->n++] = *s++;
}

static void put_num(line *l, long long v)
{
    char d[24];
    size_t i = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        d[i++] = (char)('0' + u % 10);
    while ((u /= 10) && i < sizeof d);
    if (v < 0)
        put(l, "-");
    while (i && l->n < sizeof l->b - 2)
        l->b[l->n++] = d[--i];
}

static void quoted(line *l, const char *s)
{
    put(l, "\"");
    put(l, s);
    put(l, "\"");
}

/* Write "caseflow: plugin "P" V <what...> <where>; nothing was committed"
 * for record r, what being written by the caller between the two halves. */
static void head(line *l, const slot *r)
{
    put(l, "caseflow: plugin ");
    quoted(l, r->plugin);
    if (r->version[0]) {
        put(l, " ");
        put(l, r->version);
    }
    put(l, " ");
}

static void tail_and_exit(line *l, const slot *r)
{
    switch (r->call) {
    case CF_GUARD_INIT:
        put(l, " initialising for state ");
        quoted(l, r->state);
        break;
    case CF_GUARD_ENTER:
        put(l, " entering state ");
        quoted(l, r->state);
        if (r->event[0]) {
            put(l, " after ");
            quoted(l, r->event);
        }
        break;
    case CF_GUARD_FINI:
        put(l, " finishing for state ");
        quoted(l, r->state);
        break;
    default:
        put(l, " in state ");
        quoted(l, r->state);
        put(l, " handling ");
        quoted(l, r->event);
        break;
    }
    if (r->case_id[0]) {
        put(l, " on case ");
        put(l, r->case_id);
    }
    /* fini runs when the engine closes, after whatever it committed. */
    if (r->call != CF_GUARD_FINI)
        put(l, "; nothing was committed");
    l->b[l->n++] = '\n';
    size_t off = 0;
    while (off < l->n) {
        ssize_t w = write(STDERR_FILENO, l->b + off, l->n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    _exit(GUARD_EXIT);
}

/* ---- fatal signals ------------------------------------------------------------------ */

static void on_fatal(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    size_t i = 0;
    while (i < NFATAL - 1 && fatal[i] != sig)
        i++;
    slot *r = mine;
    if (r && atomic_load(&r->active)) {
        line l = {.n = 0};
        head(&l, r);
        put(&l, "crashed (");
        put(&l, fatal_names[i]);
        put(&l, ")");
        tail_and_exit(&l, r);
    }
    /* Not a plugin's: the action that was there before (the default, or a
     * sanitizer's) takes it. A fault returns to the faulting instruction,
     * which faults again; a sent signal is sent again. */
    int saved = errno;
    sigaction(sig, &before[i], NULL);
    if (!info || info->si_code <= 0 || sig == SIGABRT)
        raise(sig);
    errno = saved;
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFATAL; i++)
        sigaction(fatal[i], &sa, &before[i]);
}

/* ---- exit() inside a call ----------------------------------------------------------- */

#ifdef __GLIBC__
static void on_exit_seen(int status, void *arg)
{
    (void)arg;
    slot *r = mine;
    if (r && atomic_load(&r->active)) {
        line l = {.n = 0};
        head(&l, r);
        put(&l, "called exit(");
        put_num(&l, status);
        put(&l, ")");
        tail_and_exit(&l, r);
    }
}
#else
static void on_exit_seen(void)
{
    slot *r = mine;
    if (r && atomic_load(&r->active)) {
        line l = {.n = 0};
        head(&l, r);
        put(&l, "called exit()");
        tail_and_exit(&l, r);
    }
}
#endif

/* quick_exit() inside a call: the same, without its status (at_quick_exit
 * handlers are not given it). _exit() cannot be seen: it is documented. */
static void on_quick_exit_seen(void)
{
    slot *r = mine;
    if (r && atomic_load(&r->active)) {
        line l = {.n = 0};
        head(&l, r);
        put(&l, "called quick_exit()");
        tail_and_exit(&l, r);
    }
}

/* ---- the watchdog --------------------------------------------------------------------- */

/* A slot's `active` once the watchdog has claimed its overrun call. */
#define GUARD_DYING (-1)

/* Under the lock, the call in s past its deadline at now: end the process,
 * unless the record changed under us (the call ended meanwhile). */
static void overrun(slot *s, int64_t now)
{
    unsigned seq = atomic_load(&s->seq);
    if (seq & 1)
        return;
    slot copy;
    memcpy(copy.plugin, s->plugin, sizeof copy.plugin);
    memcpy(copy.version, s->version, sizeof copy.version);
    memcpy(copy.state, s->state, sizeof copy.state);
    memcpy(copy.event, s->event, sizeof copy.event);
    memcpy(copy.case_id, s->case_id, sizeof copy.case_id);
    copy.call = s->call;
    copy.budget = s->budget;
    if (!atomic_load(&s->active) || atomic_load(&s->seq) != seq ||
        now < atomic_load(&s->deadline))
        return;
    /* Claim the call before saying "nothing was committed": if it ended in
     * the meantime the claim fails and the process goes on; once claimed,
     * cf_guard_end sees it and the calling thread never reaches a commit. */
    int expect = copy.call + 1;
    if (!atomic_compare_exchange_strong(&s->active, &expect, GUARD_DYING))
        return;
    line l = {.n = 0};
    head(&l, &copy);
    put(&l, "did not return within ");
    put_num(&l, copy.budget);
    put(&l, " ms");
    tail_and_exit(&l, &copy);
}

/* How many calls have begun: the sum of the slots' sequence numbers. */
static unsigned calls_begun(void)
{
    unsigned sum = 0;
    for (size_t i = 0; i < CF_GUARD_SLOTS; i++)
        sum += atomic_load_explicit(&slots[i].seq, memory_order_relaxed);
    return sum;
}

static void wait_until(int64_t at)
{
    struct timespec ts = {(time_t)(at / 1000), (long)(at % 1000) * 1000000L};
    pthread_cond_timedwait(&wake, &lock, &ts);
}

/* While calls come, the watchdog looks every poll ms (half the budget, at
 * most a second) and at the earliest deadline; waking it for each call
 * would cost a context switch per call. Only after a whole poll without a
 * call does it sleep until one begins. */
static void *watch(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    unsigned seen = calls_begun();
    while (!quitting) {
        int64_t now = cf_time_monotonic_ms(), next = 0;
        int64_t poll = atomic_load_explicit(&budget_ms, memory_order_relaxed) / 2;
        poll = poll > 1000 ? 1000 : poll < 5 ? 5 : poll;
        for (size_t i = 0; i < CF_GUARD_SLOTS; i++) {
            slot *s = &slots[i];
            if (!atomic_load(&s->owned) || !atomic_load(&s->active))
                continue;
            int64_t d = atomic_load(&s->deadline);
            if (now >= d)
                overrun(s, now);
            else if (!next || d < next)
                next = d;
        }
        unsigned begun = calls_begun();
        if (next || begun != seen) {
            seen = begun;
            wait_until(next && next < now + poll ? next : now + poll);
            continue;
        }
        /* Nothing ran for a whole poll: sleep until a call begins. A call
         * that begins after this store sees it and wakes us; one that began
         * before is seen by the look below. */
        atomic_store(&sleeping, true);
        bool any = false;
        for (size_t i = 0; i < CF_GUARD_SLOTS && !any; i++)
            any = atomic_load(&slots[i].owned) && atomic_load(&slots[i].active);
        if (!any && !quitting)
            pthread_cond_wait(&wake, &lock);
        atomic_store(&sleeping, false);
        seen = calls_begun();
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* A call began while the watchdog sleeps or before it was started. */
static void poke(void)
{
    pthread_mutex_lock(&lock);
    if (!atomic_load(&running) && !quitting) {
        atomic_store(&sleeping, false);
        if (pthread_create(&thread, NULL, watch, NULL) == 0)
            atomic_store(&running, true);
        else
            atomic_store(&gave_up, true);
    }
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

/* A thread still running at exit looks like a leak to valgrind: stop it. */
static void stop_at_exit(void)
{
    pthread_mutex_lock(&lock);
    bool was = atomic_load(&running);
    quitting = true;
    atomic_store(&running, false);
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    if (was)
        pthread_join(thread, NULL);
}

static void init_wake(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &attr);
    pthread_condattr_destroy(&attr);
}

/* fork(2) copies the lock as it is but no thread but the caller: hold the
 * lock across it, and let the child start a watchdog of its own. */
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
    atomic_store(&running, false);
    atomic_store(&sleeping, false);
    for (size_t i = 0; i < CF_GUARD_SLOTS; i++)
        if (&slots[i] != mine) { /* the calls of threads that are not in the child */
            atomic_store(&slots[i].active, 0);
            atomic_store(&slots[i].owned, false);
        }
    pthread_mutex_unlock(&lock);
}

/* ---- slots ---------------------------------------------------------------------------- */

/* The thread ends: its alternate stack goes (p: the stack, NULL for the
 * static one, which another thread may take then). */
static void drop_altstack(void *p)
{
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    if (p != first_altstack)
        free(p);
    else
        atomic_store(&first_altstack_taken, false);
}

/* A stack overflow leaves no stack to run the handler on: the thread gets
 * an alternate one, unless it has one already (a sanitizer's). Once per
 * thread, before its first guarded call. */
static void give_altstack(void)
{
    stack_t cur;
    alt_state = -1;
    if (sigaltstack(NULL, &cur) != 0)
        return;
    if (!(cur.ss_flags & SS_DISABLE)) {
        alt_state = 1;
        return;
    }
    bool taken = false;
    void *mem = atomic_compare_exchange_strong(&first_altstack_taken, &taken, true)
                    ? first_altstack
                    : malloc(ALT_STACK_SIZE);
    if (!mem)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0 || pthread_setspecific(key, mem) != 0) {
        drop_altstack(mem);
        return;
    }
    alt_state = 1;
}

/* A free slot for this call, or NULL when CF_GUARD_SLOTS calls run at once
 * (the call then runs unguarded). */
static slot *claim(void)
{
    for (unsigned k = 0; k < CF_GUARD_SLOTS; k++) {
        unsigned i = (hint + k) % CF_GUARD_SLOTS;
        bool free_ = false;
        if (atomic_compare_exchange_strong(&slots[i].owned, &free_, true)) {
            hint = i;
            return &slots[i];
        }
    }
    return NULL;
}

static void setup(void)
{
    init_wake();
    pthread_key_create(&key, drop_altstack);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    install_handlers();
    /* Exit handlers run last registered first: the exit hook before the
     * watchdog's join. */
    atexit(stop_at_exit);
#ifdef __GLIBC__
    on_exit(on_exit_seen, NULL);
#else
    atexit(on_exit_seen);
#endif
    at_quick_exit(on_quick_exit_seen);
}

/* ---- the door ------------------------------------------------------------------------- */

static void copy(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    if (src)
        for (; src[i] && i < cap - 1; i++)
            dst[i] = src[i];
    dst[i] = '\0';
}

void cf_guard_begin(cf_guard_call call, const char *plugin, const char *version,
                    const char *state, const char *event, const char *case_id)
{
    pthread_once(&once, setup);
    if (!alt_state)
        give_altstack();
    bool nested = mine != NULL; /* calls do not nest; if one did, it replaces */
    slot *s = nested ? mine : claim();
    if (!s)
        return;
    mine = s;
    /* Only the store of active needs the full fence (against the
     * watchdog's sleeping flag); the seqlock's stores need release. */
    unsigned seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    s->call = (int)call;
    copy(s->plugin, sizeof s->plugin, plugin);
    copy(s->version, sizeof s->version, version);
    copy(s->state, sizeof s->state, state);
    copy(s->event, sizeof s->event, event);
    copy(s->case_id, sizeof s->case_id, case_id);
    s->budget = atomic_load_explicit(&budget_ms, memory_order_relaxed);
    atomic_store_explicit(&s->deadline, cf_time_monotonic_ms() + s->budget,
                          memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
    atomic_store(&s->active, (int)call + 1);
    if (plugin_stdout && !nested && atomic_fetch_add(&in_calls, 1) == 0)
        stdout = plugin_stdout;
    if ((atomic_load(&sleeping) || !atomic_load(&running)) && !atomic_load(&gave_up))
        poke();
}

void cf_guard_end(void)
{
    slot *s = mine;
    if (!s)
        return;
    int cur = atomic_load(&s->active);
    if (cur == GUARD_DYING || !atomic_compare_exchange_strong(&s->active, &cur, 0))
        for (;;) /* the watchdog claimed this call and is ending the process */
            pause();
    mine = NULL;
    atomic_store_explicit(&s->owned, false, memory_order_release);
    /* Concurrent calls (the simulator's threads) may swap in either order;
     * the last call to end always leaves the program's own stream. */
    if (plugin_stdout && atomic_fetch_sub(&in_calls, 1) == 1)
        stdout = own_stdout;
}

int cf_protect_stdout(cf_error *err)
{
    if (plugin_stdout)
        return 0;
    fflush(stdout);
    int fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        int e = errno;
        if (f)
            fclose(f);
        else if (fd >= 0)
            close(fd);
        return cf_err_set(err, CF_EIO, NULL, "standard output: %s", strerror(e));
    }
    plugin_stdout = stdout;
    own_stdout = stdout = f;
    return 0;
}

void cf_guard_set_budget_ms(int64_t ms)
{
    if (ms < CF_GUARD_MIN_MS)
        ms = CF_GUARD_MIN_MS;
    if (ms > CF_GUARD_MAX_MS)
        ms = CF_GUARD_MAX_MS;
    atomic_store(&budget_ms, ms);
}
