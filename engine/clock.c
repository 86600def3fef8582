/*
 * The engine clock and RFC 3339 time. Workflows and plugins never read the
 * operating system's clock: every time they see comes from the engine, which
 * tests, demos and replays set explicitly (CASEFLOW_NOW). Referral times must
 * carry an explicit offset: a local time without a zone is exactly the error
 * that has sent officers to the wrong address, so the parser refuses it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Read exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_date(const char **p, int *y, int *mo, int *d)
{
    if (digits(p, 4, y) || **p != '-')
        return -1;
    (*p)++;
    if (digits(p, 2, mo) || **p != '-')
        return -1;
    (*p)++;
    if (digits(p, 2, d))
        return -1;
    if (*y < 1900 || *mo < 1 || *mo > 12 || *d < 1 ||
        (unsigned)*d > month_days(*y, (unsigned)*mo))
        return -1;
    return 0;
}

int cf_time_parse(const char *text, int64_t *utc, int *offset_minutes)
{
    const char *p = text;
    int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
    if (!p || parse_date(&p, &y, &mo, &d))
        return -1;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &s))
        return -1;
    if (h > 23 || mi > 59 || s > 60)
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
    } else {
        return -1; /* no time zone */
    }
    if (*p != '\0')
        return -1;
    if (s == 60) /* a leap second is the last second of its minute */
        s = 59;
    int off = sign * (oh * 60 + om);
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                (int64_t)h * 3600 + mi * 60 + s - (int64_t)off * 60;
    if (utc)
        *utc = t;
    if (offset_minutes)
        *offset_minutes = off;
    return 0;
}

int cf_time_from_rfc3339(const char *text, int64_t *utc)
{
    return cf_time_parse(text, utc, NULL) == 0 ? 0 : CF_EINVALID;
}

int cf_time_parse_date(const char *text, int64_t *utc)
{
    const char *p = text;
    int y, mo, d;
    if (text && strlen(text) == 10) {
        if (parse_date(&p, &y, &mo, &d) || *p)
            return -1;
        *utc = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400;
        return 0;
    }
    return cf_time_parse(text, utc, NULL);
}

void cf_time_format(int64_t t, char out[32])
{
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

int64_t cf_time_system(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t cf_time_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
