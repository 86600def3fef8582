/*
 * The plugin guard: what a step plugin call is running, kept where a crash,
 * an exit() or a hang can still read it, so the process ends with one line
 * that names the culprit instead of a bare "Segmentation fault".
 *
 * One door: the engine brackets every plugin call (init, enter, handle,
 * fini) with cf_guard_begin and cf_guard_end. Between them, in this thread:
 *  - a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), a stack
 *    overflow included (the handler runs on an alternate stack), writes
 *        caseflow: plugin "NAME" VERSION crashed (SIGSEGV) in state "S"
 *        handling "E" on case ID; nothing was committed
 *    to stderr with write(2) and ends the process with _exit(70);
 *  - exit(N) writes the same line with "called exit(N)" and _exit(70)s
 *    (stdio is not flushed: half-written output stays unwritten);
 *  - a call still running after the budget (store policy plugin_call_ms)
 *    gets the line with "did not return within N ms" and _exit(70)s.
 * The process ends before its store transaction commits, so SQLite rolls
 * it back and the write lock is free for the next process.
 *
 * Outside a plugin call the guard stays out of the way: a fatal signal gets
 * the action that was in place before the guard's (the default, or a
 * sanitizer's), so engine crashes are not hidden. The handlers are
 * installed once per process, at the first guarded call.
 *
 * The record is a fixed slot of fixed-size buffers, taken by the call
 * (CF_GUARD_SLOTS calls may run at once in a process; one more would run
 * unguarded), written before the call and let go after: no allocation,
 * and safe to read from a signal handler. Each calling thread gets an
 * alternate signal stack at its first call (unless it has one).
 */
#ifndef CF_GUARD_H
#define CF_GUARD_H

#include <stdint.h>

#define CF_GUARD_SLOTS 64
/* Store policy plugin_call_ms: its default and range. */
#define CF_GUARD_DEFAULT_MS 5000
#define CF_GUARD_MIN_MS 10
#define CF_GUARD_MAX_MS 600000

typedef enum cf_guard_call {
    CF_GUARD_INIT,   /* state names the state the instance is for; no case */
    CF_GUARD_ENTER,  /* event: what led into the state (may be NULL) */
    CF_GUARD_HANDLE, /* event: the event handled */
    CF_GUARD_FINI,   /* at unbind (engine close): nothing pending to commit */
} cf_guard_call;

/* Record the call about to run in this thread and start its clock. Every
 * string is borrowed and copied (truncated to the buffer); any may be
 * NULL. Calls do not nest: a second begin replaces the first. */
void cf_guard_begin(cf_guard_call call, const char *plugin, const char *version,
                    const char *state, const char *event, const char *case_id);
/* The call returned: clear this thread's record. */
void cf_guard_end(void);
/* The per-call wall-time budget for calls begun from now on, in ms
 * (clamped to CF_GUARD_MIN_MS..CF_GUARD_MAX_MS; process-wide). */
void cf_guard_set_budget_ms(int64_t ms);

#endif
