/*
 * Times and dates: RFC 3339 times that must carry their zone, calendar dates,
 * and the calendar arithmetic deadlines and letters need (month steps that
 * clamp to the month's length, dates in words). All arithmetic is on the
 * proleptic Gregorian calendar in UTC.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util-internal.h"

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool cfp_time_lacks_zone(const char *t)
{
    size_t n;

    if (t == NULL)
        return false;
    n = strlen(t);
    /* YYYY-MM-DDTHH:MM, optionally :SS and a fraction, and nothing more. */
    if (n < 16 || !digits(t, 4) || t[4] != '-' || !digits(t + 5, 2) ||
        t[7] != '-' || !digits(t + 8, 2) ||
        (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !digits(t + 11, 2) ||
        t[13] != ':' || !digits(t + 14, 2))
        return false;
    if (n == 16)
        return true;
    if (t[16] != ':' || n < 19 || !digits(t + 17, 2))
        return false;
    if (n == 19)
        return true;
    return t[19] == '.' && n > 20 && digits(t + 20, n - 20);
}

int cfp_time(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *utc, int *offset_minutes)
{
    char field[CFP_FIELD_MAX];
    const char *s;
    size_t n;
    int64_t t;
    int off;

    if (text != NULL)
        *text = NULL;
    if (cfp_line(host, step, obj, prefix, key, CFP_LINE_MAX, required, &s) < 0)
        return CF_PLUGIN_FAILED;
    if (s == NULL)
        return 0;
    cfp_field(field, prefix, key);
    if (cfp_time_lacks_zone(s))
        return host->fail(step, field, "no time zone");
    n = strlen(s);
    /* RFC 3339 section 4.3: -00:00 says the local offset is unknown, which
     * is exactly the ambiguity that has sent officers to the wrong door. */
    if (n >= 6 && strcmp(s + n - 6, "-00:00") == 0)
        return host->fail(step, field, "no time zone (-00:00 means unknown)");
    if (host->time_parse(s, &t, &off) != 0)
        return host->fail(step, field, "not an RFC 3339 time");
    if (text != NULL)
        *text = s;
    if (utc != NULL)
        *utc = t;
    if (offset_minutes != NULL)
        *offset_minutes = off;
    return 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned len[12] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : len[m - 1];
}

int cfp_date(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *days)
{
    char field[CFP_FIELD_MAX];
    const char *s;
    int64_t y;
    unsigned m, d;

    if (text != NULL)
        *text = NULL;
    if (cfp_line(host, step, obj, prefix, key, CFP_LINE_MAX, required, &s) < 0)
        return CF_PLUGIN_FAILED;
    if (s == NULL)
        return 0;
    cfp_field(field, prefix, key);
    if (strlen(s) != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
        s[7] != '-' || !digits(s + 8, 2))
        return host->fail(step, field, "not a date (YYYY-MM-DD)");
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
        (s[3] - '0');
    m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
    d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return host->fail(step, field, "not a calendar date");
    if (text != NULL)
        *text = s;
    if (days != NULL)
        *days = cfp_days_from_civil(y, m, d);
    return 0;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t cfp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

void cfp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    unsigned mm = mp < 10 ? mp + 3 : mp - 9;

    if (d != NULL)
        *d = dd;
    if (m != NULL)
        *m = mm;
    if (y != NULL)
        *y = (int64_t)yoe + era * 400 + (mm <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t cfp_add_months(int64_t t, int months)
{
    int64_t days = floor_div(t, 86400), secs = t - days * 86400;
    int64_t y, total;
    unsigned m, d, dim;

    cfp_civil_from_days(days, &y, &m, &d);
    total = y * 12 + (m - 1) + months;
    y = floor_div(total, 12);
    m = (unsigned)(total - y * 12) + 1;
    dim = month_days(y, m);
    if (d > dim)
        d = dim;
    return cfp_days_from_civil(y, m, d) * 86400 + secs;
}

void cfp_long_date(int64_t t, char out[32])
{
    static const char *const names[12] = {
        "January", "February", "March", "April", "May", "June", "July",
        "August", "September", "October", "November", "December"};
    int64_t y;
    unsigned m, d;

    cfp_civil_from_days(floor_div(t, 86400), &y, &m, &d);
    snprintf(out, 32, "%u %s %lld", d, names[m - 1], (long long)y);
}
