/*
 * The progress line of a long command on a terminal: "caseflow: audit
 * verify 12,000/40,000  3,120/s  ETA 9s", redrawn in place on stderr with
 * \r at most PROGRESS_HZ times a second and erased at the end. When stderr
 * is not a terminal every call does nothing, so pipes, logs, tests and
 * --json output see no byte of it. One line at a time per process: the
 * state is this module's. Whatever else the command prints (output.c)
 * erases the line first; the next update draws it again.
 */
#ifndef CASEFLOW_CLI_PROGRESS_H
#define CASEFLOW_CLI_PROGRESS_H

#include <stdint.h>

#define PROGRESS_HZ 5

/* Start a line for `what` (a static string, borrowed). */
void progress_begin(const char *what);
/* done of total items (total < 0: not known); drawn when due. */
void progress_update(int64_t done, int64_t total);
/* Erase the line (if drawn) and stop. */
void progress_end(void);
/* Erase the line, if drawn, before other output (output.c). */
void progress_hide(void);
/* A cf_progress_fn for cf_engine_set_progress (ctx unused): begins the
 * line at the first call, updates it after. */
void progress_engine(void *ctx, const char *what, int64_t done, int64_t total);

#endif
