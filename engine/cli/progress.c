/*
 * The progress line of long commands (see progress.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

static struct {
    bool on;           /* a line is under way on a terminal */
    bool drawn;        /* and is on the screen now */
    const char *what;
    double start, last; /* monotonic seconds: begun, last drawn */
    int64_t done, total;
} P;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n with thousands separators into buf. */
static const char *grouped(int64_t n, char *buf, size_t size)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%lld", (long long)(n < 0 ? -n : n));
    size_t o = 0;
    if (n < 0 && o + 1 < size)
        buf[o++] = '-';
    for (int i = 0; i < len && o + 2 < size; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Seconds as "9s", "3m05s", "2h07m". */
static const char *span(double s, char *buf, size_t size)
{
    long t = (long)(s + 0.5);
    if (t < 60)
        snprintf(buf, size, "%lds", t);
    else if (t < 3600)
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, size, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    return buf;
}

static void draw(double t)
{
    char line[160], d[32], n[32], r[32], eta[32];
    double elapsed = t - P.start;
    double rate = elapsed > 0 ? (double)P.done / elapsed : 0;
    int len = snprintf(line, sizeof line, "caseflow: %s %s", P.what, grouped(P.done, d, sizeof d));
    if (P.total >= 0)
        len += snprintf(line + len, sizeof line - (size_t)len, "/%s",
                        grouped(P.total, n, sizeof n));
    len += snprintf(line + len, sizeof line - (size_t)len, "  %s/s",
                    grouped((int64_t)(rate + 0.5), r, sizeof r));
    if (P.total >= 0 && rate > 0 && P.done < P.total)
        snprintf(line + len, sizeof line - (size_t)len, "  ETA %s",
                 span((double)(P.total - P.done) / rate, eta, sizeof eta));
    /* \r, the line, then erase what a longer line before left behind. */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    P.drawn = true;
    P.last = t;
}

void progress_begin(const char *what)
{
    progress_end();
    if (!isatty(STDERR_FILENO))
        return;
    P.on = true;
    P.what = what;
    P.start = now_s();
    /* The first drawing after 1/PROGRESS_HZ s: a quick run shows none.
     * CASEFLOW_PROGRESS_AFTER (seconds) moves it; the tests set 0, so that
     * what they see does not depend on the machine's speed. */
    const char *after = getenv("CASEFLOW_PROGRESS_AFTER");
    double wait = after && *after ? strtod(after, NULL) : 1.0 / PROGRESS_HZ;
    P.last = P.start - 1.0 / PROGRESS_HZ + (wait > 0 ? wait : 0);
    P.done = 0;
    P.total = -1;
}

void progress_update(int64_t done, int64_t total)
{
    if (!P.on)
        return;
    P.done = done;
    P.total = total;
    double t = now_s();
    if (t - P.last >= 1.0 / PROGRESS_HZ)
        draw(t);
}

void progress_hide(void)
{
    if (!P.drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    P.drawn = false;
}

void progress_end(void)
{
    progress_hide();
    P.on = false;
}

void progress_engine(void *ctx, const char *what, int64_t done, int64_t total)
{
    (void)ctx;
    if (!P.on) {
        progress_begin(what);
    } else if (P.what != what && strcmp(P.what, what) != 0) {
        /* The next loop of the same command: its own rate, the same line. */
        P.what = what;
        P.start = now_s();
    }
    progress_update(done, total);
}
