/*
 * Small helpers the parts of caseflowd share: filling a cf_error, clocks
 * for timeouts and logs, and reading a whole file.
 */
#ifndef CFD_UTIL_H
#define CFD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <caseflow/caseflow.h>

#if defined(__GNUC__)
#define CFD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CFD_PRINTF(f, a)
#endif

/* Fill err (may be NULL) with code, field (may be NULL) and a formatted
 * one-line message; returns code. */
int cfd_err_set(cf_error *err, int code, const char *field, const char *fmt, ...)
    CFD_PRINTF(4, 5);

/* Monotonic time in milliseconds (for durations and timeouts). */
int64_t cfd_now_ms(void);
/* Monotonic time in seconds, with a fraction. */
double cfd_now_s(void);

/* The wall clock as RFC 3339 UTC with milliseconds, in buf (at least 32
 * bytes), for log lines. */
void cfd_log_time(char *buf, size_t size);

/* The whole of file path, NUL-terminated, as a new malloc'd buffer (free
 * it), its length in *len (may be NULL). NULL with errno set on failure,
 * or EFBIG when it is larger than max bytes. */
char *cfd_read_file(const char *path, size_t max, size_t *len);

#endif
