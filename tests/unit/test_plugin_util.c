/*
 * libcaseflow-plugin-util on its own: every cfp_ function against the plugin
 * test harness's fake host (cfpt_host: the engine's rules for case data,
 * a set clock and actor, the refusals it records), for the edge cases a
 * plugin author relies on: text limits, control characters, dates and
 * times, wrong JSON types, NULL arguments and outputs, truncation. The
 * polit plugins' tests exercise the same functions through the real engine.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "caseflow/plugin-util.h"
#include "caseflow/plugin-test.h"

/* ---- the fake host ---------------------------------------------------------- */

/* The helpers are called by hand, so the plugin is a bare descriptor. */
static const cf_plugin bare = {
    .abi = CF_PLUGIN_ABI, .size = sizeof(cf_plugin), .name = "bare", .version = "1"};

/* The fake host of the current test, and the host table every test passes
 * to the cfp_ helpers (with the step, the test's *state). */
static cfpt_host *fake;
static const cf_host *host;

static int setup(void **state)
{
    char err[128];

    fake = cfpt_host_new(&bare, NULL, NULL, err, sizeof err);
    if (fake == NULL)
        fail_msg("cfpt_host_new: %s", err);
    cfpt_set_now(fake, INT64_C(1793696400)); /* 2026-11-03T09:00:00Z */
    cfpt_set_actor(fake, "ana");
    host = cfpt_host_table(fake);
    *state = cfpt_step(fake);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfpt_host_free(fake);
    fake = NULL;
    host = NULL;
    return 0;
}

/* The refusal recorded last must be field + message, and the only one since
 * the last check. */
static void refused(cf_step *s, const char *field, const char *message)
{
    const char *got = cfpt_failure_field(fake);

    (void)s;
    assert_int_equal(cfpt_failures(fake), 1);
    assert_string_equal(got != NULL ? got : "(null)", field);
    assert_string_equal(cfpt_failure(fake), message);
    cfpt_clear(fake);
}

static void accepted(cf_step *s)
{
    (void)s;
    assert_int_equal(cfpt_failures(fake), 0);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &e);

    if (j == NULL)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

/* ---- versions and field paths --------------------------------------------------- */

static void test_version(void **state)
{
    char text[32];

    (void)state;
    assert_int_equal(cfp_util_version(), CFP_UTIL_VERSION);
    assert_string_equal(cfp_util_version_string(), CFP_UTIL_VERSION_STRING);
    snprintf(text, sizeof text, "%d.%d.%d", CFP_UTIL_VERSION_MAJOR,
             CFP_UTIL_VERSION_MINOR, CFP_UTIL_VERSION_PATCH);
    assert_string_equal(text, CFP_UTIL_VERSION_STRING);
    assert_true(CFP_UTIL_VERSION_MAKE(1, 0, 9) < CFP_UTIL_VERSION_MAKE(1, 1, 0));
    assert_true(CFP_UTIL_VERSION_MAKE(1, 255, 0) < CFP_UTIL_VERSION_MAKE(2, 0, 0));
}

static void test_field_paths(void **state)
{
    char out[CFP_FIELD_MAX], prefix[200];

    (void)state;
    cfp_field(out, NULL, "a");
    assert_string_equal(out, "a");
    cfp_field(out, "", "a");
    assert_string_equal(out, "a");
    cfp_field(out, "ip_events[0]", "at");
    assert_string_equal(out, "ip_events[0].at");
    cfp_index(out, "occupants", 12);
    assert_string_equal(out, "occupants[12]");
    cfp_index(out, NULL, 0);
    assert_string_equal(out, "[0]");
    /* Truncated, always terminated. */
    memset(prefix, 'p', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';
    cfp_field(out, prefix, "key");
    assert_int_equal(strlen(out), CFP_FIELD_MAX - 1);
    cfp_index(out, prefix, SIZE_MAX);
    assert_int_equal(strlen(out), CFP_FIELD_MAX - 1);
}

/* ---- known fields ----------------------------------------------------------------- */

static void test_known_fields(void **state)
{
    cf_step *s = *state;
    static const char *const allowed[] = {"a", "b", NULL};
    static const char *const none[] = {NULL};
    json_t *obj = parse("{\"a\": 1, \"b\": null}");
    json_t *extra = parse("{\"a\": 1, \"zz\": 2}");
    json_t *arr = parse("[1]");

    assert_int_equal(cfp_known_fields(host, s, obj, "", allowed), 0);
    accepted(s);
    assert_int_equal(cfp_known_fields(host, s, extra, "", allowed), CF_PLUGIN_FAILED);
    refused(s, "zz", "unknown field");
    assert_int_equal(cfp_known_fields(host, s, extra, "sub[2]", allowed), CF_PLUGIN_FAILED);
    refused(s, "sub[2].zz", "unknown field");
    assert_int_equal(cfp_known_fields(host, s, obj, NULL, none), CF_PLUGIN_FAILED);
    refused(s, "a", "unknown field");
    /* Not an object at all. */
    assert_int_equal(cfp_known_fields(host, s, NULL, "", allowed), CF_PLUGIN_FAILED);
    refused(s, "(null)", "must be an object");
    assert_int_equal(cfp_known_fields(host, s, arr, "counts", allowed), CF_PLUGIN_FAILED);
    refused(s, "counts", "must be an object");
    json_decref(obj);
    json_decref(extra);
    json_decref(arr);
}

/* ---- strings ------------------------------------------------------------------------- */

static void test_line_limits(void **state)
{
    cf_step *s = *state;
    json_t *in = parse("{\"five\": \"abcde\", \"six\": \"abcdef\","
                       " \"utf8\": \"\\u00e9\\u00e9\\u00e9\"," /* 6 bytes */
                       " \"pad\": \"  x  \", \"blank\": \" \\t \", \"empty\": \"\"}");
    const char *out = "unchanged";

    assert_int_equal(cfp_line(host, s, in, "", "five", 5, true, &out), 0);
    assert_string_equal(out, "abcde");
    assert_int_equal(cfp_line(host, s, in, "", "six", 5, true, &out), CF_PLUGIN_FAILED);
    refused(s, "six", "longer than 5 bytes");
    assert_null(out);
    /* maxlen counts bytes, not characters. */
    assert_int_equal(cfp_line(host, s, in, "", "utf8", 6, true, &out), 0);
    assert_int_equal(cfp_line(host, s, in, "", "utf8", 5, true, &out), CF_PLUGIN_FAILED);
    refused(s, "utf8", "longer than 5 bytes");
    /* Not trimmed, but blank is empty. */
    assert_int_equal(cfp_line(host, s, in, "", "pad", 5, true, &out), 0);
    assert_string_equal(out, "  x  ");
    assert_int_equal(cfp_text(host, s, in, "", "blank", 5, true, &out), CF_PLUGIN_FAILED);
    refused(s, "blank", "must not be empty");
    assert_int_equal(cfp_line(host, s, in, "", "empty", 5, false, &out), CF_PLUGIN_FAILED);
    refused(s, "empty", "must not be empty");
    /* maxlen 0 refuses anything present. */
    assert_int_equal(cfp_line(host, s, in, "", "five", 0, false, NULL), CF_PLUGIN_FAILED);
    refused(s, "five", "longer than 0 bytes");
    json_decref(in);
}

static void test_line_and_text_characters(void **state)
{
    cf_step *s = *state;
    json_t *in = parse("{\"nl\": \"a\\nb\", \"tab\": \"a\\tb\", \"cr\": \"a\\rb\","
                       " \"bell\": \"a\\u0007b\", \"del\": \"a\\u007fb\","
                       " \"nul\": \"a\\u0000b\"}");
    const char *out;

    assert_int_equal(cfp_line(host, s, in, "", "nl", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "nl", "contains control characters");
    assert_int_equal(cfp_line(host, s, in, "", "tab", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "tab", "contains control characters");
    assert_int_equal(cfp_text(host, s, in, "", "nl", 10, true, &out), 0);
    assert_int_equal(cfp_text(host, s, in, "", "tab", 10, true, &out), 0);
    assert_int_equal(cfp_text(host, s, in, "", "cr", 10, true, &out), 0);
    accepted(s);
    assert_int_equal(cfp_text(host, s, in, "", "bell", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "bell", "contains control characters");
    assert_int_equal(cfp_text(host, s, in, "", "del", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "del", "contains control characters");
    assert_int_equal(cfp_text(host, s, in, "x", "nul", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "x.nul", "contains a NUL character");
    json_decref(in);
}

static void test_presence_and_types(void **state)
{
    cf_step *s = *state;
    json_t *in = parse("{\"n\": 1, \"z\": null, \"s\": \"x\"}");
    const char *out = "unchanged";

    /* Absent and null are the same; required says whether that is fine. */
    assert_int_equal(cfp_line(host, s, in, "", "missing", 10, false, &out), 0);
    assert_null(out);
    assert_int_equal(cfp_line(host, s, in, "", "z", 10, false, &out), 0);
    assert_null(out);
    accepted(s);
    assert_int_equal(cfp_line(host, s, in, "p", "missing", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "p.missing", "required");
    assert_int_equal(cfp_line(host, s, in, "", "z", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "z", "required");
    assert_int_equal(cfp_line(host, s, in, "", "n", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "n", "must be a string");
    /* A NULL or non-object holder has no members. */
    assert_int_equal(cfp_line(host, s, NULL, "", "s", 10, false, &out), 0);
    assert_null(out);
    assert_int_equal(cfp_line(host, s, NULL, NULL, "s", 10, true, &out), CF_PLUGIN_FAILED);
    refused(s, "s", "required");
    assert_int_equal(cfp_text(host, s, json_object_get(in, "s"), "s", "x", 10, true, NULL),
                     CF_PLUGIN_FAILED);
    refused(s, "s.x", "required");
    /* NULL output: validated only. */
    assert_int_equal(cfp_line(host, s, in, "", "s", 10, true, NULL), 0);
    accepted(s);
    json_decref(in);
}

static void test_bool(void **state)
{
    cf_step *s = *state;
    json_t *in = parse("{\"t\": true, \"f\": false, \"s\": \"true\", \"n\": 1}");
    int out = 7;

    assert_int_equal(cfp_bool(host, s, in, "", "t", true, &out), 0);
    assert_int_equal(out, 1);
    assert_int_equal(cfp_bool(host, s, in, "", "f", true, &out), 0);
    assert_int_equal(out, 0);
    assert_int_equal(cfp_bool(host, s, in, "", "absent", false, &out), 0);
    assert_int_equal(out, -1);
    assert_int_equal(cfp_bool(host, s, in, "", "t", true, NULL), 0);
    accepted(s);
    assert_int_equal(cfp_bool(host, s, in, "", "s", false, &out), CF_PLUGIN_FAILED);
    refused(s, "s", "must be true or false");
    assert_int_equal(out, -1);
    assert_int_equal(cfp_bool(host, s, in, "", "n", false, &out), CF_PLUGIN_FAILED);
    refused(s, "n", "must be true or false");
    assert_int_equal(cfp_bool(host, s, in, "", "absent", true, &out), CF_PLUGIN_FAILED);
    refused(s, "absent", "required");
    json_decref(in);
}

static void test_int(void **state)
{
    cf_step *s = *state;
    json_t *in = parse("{\"zero\": 0, \"ten\": 10, \"eleven\": 11, \"neg\": -1,"
                       " \"real\": 1.0, \"str\": \"5\", \"big\": 9223372036854775807}");
    json_int_t out = 99;
    bool present = true;

    assert_int_equal(cfp_int(host, s, in, "", "zero", 0, 10, true, &out, &present), 0);
    assert_int_equal(out, 0);
    assert_true(present);
    assert_int_equal(cfp_int(host, s, in, "", "ten", 0, 10, true, &out, &present), 0);
    assert_int_equal(out, 10);
    assert_int_equal(cfp_int(host, s, in, "", "absent", 0, 10, false, &out, &present), 0);
    assert_int_equal(out, 0);
    assert_false(present);
    assert_int_equal(cfp_int(host, s, in, "", "big", 0, LLONG_MAX, true, NULL, NULL), 0);
    accepted(s);
    assert_int_equal(cfp_int(host, s, in, "c", "eleven", 0, 10, true, &out, &present),
                     CF_PLUGIN_FAILED);
    refused(s, "c.eleven", "must be between 0 and 10");
    assert_false(present);
    assert_int_equal(cfp_int(host, s, in, "", "neg", 0, 10, true, &out, &present),
                     CF_PLUGIN_FAILED);
    refused(s, "neg", "must be between 0 and 10");
    assert_int_equal(cfp_int(host, s, in, "", "real", 0, 10, true, &out, &present),
                     CF_PLUGIN_FAILED);
    refused(s, "real", "must be an integer");
    assert_int_equal(cfp_int(host, s, in, "", "str", 0, 10, true, &out, NULL),
                     CF_PLUGIN_FAILED);
    refused(s, "str", "must be an integer");
    assert_int_equal(cfp_int(host, s, in, "", "absent", 0, 10, true, &out, &present),
                     CF_PLUGIN_FAILED);
    refused(s, "absent", "required");
    json_decref(in);
}

static void test_object_array(void **state)
{
    cf_step *s = *state;
    json_t *in = parse("{\"o\": {}, \"a\": [], \"s\": \"x\", \"z\": null}");
    const json_t *out = (const json_t *)1;

    assert_int_equal(cfp_object(host, s, in, "", "o", true, &out), 0);
    assert_ptr_equal(out, json_object_get(in, "o"));
    assert_int_equal(cfp_array(host, s, in, "", "a", true, &out), 0);
    assert_ptr_equal(out, json_object_get(in, "a"));
    assert_int_equal(cfp_object(host, s, in, "", "z", false, &out), 0);
    assert_null(out);
    assert_int_equal(cfp_array(host, s, in, "", "absent", false, NULL), 0);
    accepted(s);
    assert_int_equal(cfp_object(host, s, in, "", "a", true, &out), CF_PLUGIN_FAILED);
    refused(s, "a", "must be an object");
    assert_null(out);
    assert_int_equal(cfp_array(host, s, in, "", "o", true, &out), CF_PLUGIN_FAILED);
    refused(s, "o", "must be an array");
    assert_int_equal(cfp_array(host, s, in, "", "s", true, &out), CF_PLUGIN_FAILED);
    refused(s, "s", "must be an array");
    assert_int_equal(cfp_object(host, s, in, "", "absent", true, &out), CF_PLUGIN_FAILED);
    refused(s, "absent", "required");
    json_decref(in);
}

static void test_choice(void **state)
{
    cf_step *s = *state;
    static const char *const three[] = {"low", "medium", "high", NULL};
    static const char *const two[] = {"yes", "no", NULL};
    json_t *in = parse("{\"g\": \"medium\", \"bad\": \"Medium\", \"n\": 3}");
    const char *out;

    assert_int_equal(cfp_choice(host, s, in, "", "g", three, true, &out), 0);
    assert_string_equal(out, "medium");
    assert_int_equal(cfp_choice(host, s, in, "", "absent", three, false, &out), 0);
    assert_null(out);
    accepted(s);
    assert_int_equal(cfp_choice(host, s, in, "", "bad", three, true, &out), CF_PLUGIN_FAILED);
    refused(s, "bad", "must be low, medium or high");
    assert_null(out);
    assert_int_equal(cfp_choice(host, s, in, "r", "bad", two, true, NULL), CF_PLUGIN_FAILED);
    refused(s, "r.bad", "must be yes or no");
    assert_int_equal(cfp_choice(host, s, in, "", "n", two, true, &out), CF_PLUGIN_FAILED);
    refused(s, "n", "must be a string");
    json_decref(in);
}

/* ---- times and dates ---------------------------------------------------------------- */

static int time_of(cf_step *s, const char *text, int64_t *utc, int *off)
{
    json_t *in = json_pack("{s:s}", "at", text);
    const char *out = NULL;
    int rc = cfp_time(host, s, in, "", "at", true, &out, utc, off);

    if (rc == 0)
        assert_string_equal(out, text);
    else
        assert_null(out);
    json_decref(in);
    return rc;
}

static void test_time(void **state)
{
    cf_step *s = *state;
    int64_t utc = 0;
    int off = 99;
    char long_time[300];

    assert_int_equal(time_of(s, "2026-11-03T09:00:00Z", &utc, &off), 0);
    assert_int_equal(utc, INT64_C(1793696400));
    assert_int_equal(off, 0);
    assert_int_equal(time_of(s, "2026-11-03T10:30:00+01:30", &utc, &off), 0);
    assert_int_equal(utc, INT64_C(1793696400));
    assert_int_equal(off, 90);
    assert_int_equal(time_of(s, "2026-11-03t04:00:00.123-05:00", &utc, &off), 0);
    assert_int_equal(utc, INT64_C(1793696400));
    assert_int_equal(off, -300);
    assert_int_equal(time_of(s, "2026-11-03T09:00:00+00:00", NULL, NULL), 0);
    accepted(s);

    assert_int_equal(time_of(s, "2026-11-03T09:00", &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "no time zone");
    assert_int_equal(time_of(s, "2026-11-03 09:00:00.5", &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "no time zone");
    assert_int_equal(time_of(s, "2026-11-03T09:00:00-00:00", &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "no time zone (-00:00 means unknown)");
    assert_int_equal(time_of(s, "2026-13-03T09:00:00Z", &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "not an RFC 3339 time");
    assert_int_equal(time_of(s, "2026-02-30T09:00:00Z", &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "not an RFC 3339 time");
    assert_int_equal(time_of(s, "yesterday", &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "not an RFC 3339 time");
    assert_int_equal(time_of(s, "2026-11-03", &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "not an RFC 3339 time");
    memset(long_time, '9', sizeof long_time - 1);
    long_time[sizeof long_time - 1] = '\0';
    assert_int_equal(time_of(s, long_time, &utc, &off), CF_PLUGIN_FAILED);
    refused(s, "at", "longer than 256 bytes");
}

static void test_time_lacks_zone(void **state)
{
    (void)state;
    assert_true(cfp_time_lacks_zone("2026-11-03T09:00"));
    assert_true(cfp_time_lacks_zone("2026-11-03t09:00:59"));
    assert_true(cfp_time_lacks_zone("2026-11-03 09:00:59.000"));
    assert_false(cfp_time_lacks_zone("2026-11-03T09:00:59."));
    assert_false(cfp_time_lacks_zone("2026-11-03T09:00Z"));
    assert_false(cfp_time_lacks_zone("2026-11-03T09:00:00+01:00"));
    assert_false(cfp_time_lacks_zone("2026-11-03"));
    assert_false(cfp_time_lacks_zone("2026-11-03T9:00"));
    assert_false(cfp_time_lacks_zone(""));
    assert_false(cfp_time_lacks_zone(NULL));
}

static int date_of(cf_step *s, const char *text, int64_t *days)
{
    json_t *in = json_pack("{s:s}", "dob", text);
    const char *out = NULL;
    int rc = cfp_date(host, s, in, "occupants[1]", "dob", true, &out, days);

    if (rc == 0)
        assert_string_equal(out, text);
    json_decref(in);
    return rc;
}

static void test_date(void **state)
{
    cf_step *s = *state;
    int64_t days = 1;

    assert_int_equal(date_of(s, "1970-01-01", &days), 0);
    assert_int_equal(days, 0);
    assert_int_equal(date_of(s, "1969-12-31", &days), 0);
    assert_int_equal(days, -1);
    assert_int_equal(date_of(s, "2026-11-03", &days), 0);
    assert_int_equal(days, 1793696400 / 86400);
    assert_int_equal(date_of(s, "2028-02-29", &days), 0); /* leap year */
    assert_int_equal(date_of(s, "2000-02-29", &days), 0); /* every 400 years */
    assert_int_equal(date_of(s, "0000-01-01", NULL), 0);
    assert_int_equal(date_of(s, "9999-12-31", NULL), 0);
    accepted(s);

    assert_int_equal(date_of(s, "2026-02-29", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a calendar date");
    assert_int_equal(date_of(s, "2100-02-29", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a calendar date");
    assert_int_equal(date_of(s, "2026-11-31", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a calendar date");
    assert_int_equal(date_of(s, "2026-00-10", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a calendar date");
    assert_int_equal(date_of(s, "2026-11-00", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a calendar date");
    assert_int_equal(date_of(s, "2026-2-3", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a date (YYYY-MM-DD)");
    assert_int_equal(date_of(s, "03/11/2026", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a date (YYYY-MM-DD)");
    assert_int_equal(date_of(s, "2026-11-03T00:00:00Z", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a date (YYYY-MM-DD)");
    assert_int_equal(date_of(s, "+026-11-03", &days), CF_PLUGIN_FAILED);
    refused(s, "occupants[1].dob", "not a date (YYYY-MM-DD)");
}

/* ---- calendar arithmetic ----------------------------------------------------------- */

static int64_t at(int64_t y, unsigned m, unsigned d, int64_t secs)
{
    return cfp_days_from_civil(y, m, d) * 86400 + secs;
}

static void test_calendar(void **state)
{
    int64_t y;
    unsigned m, d;

    (void)state;
    assert_int_equal(cfp_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(cfp_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(cfp_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(cfp_days_from_civil(0, 1, 1), -719528);
    /* Round trip across leap days, centuries and the epoch. */
    for (int64_t z = -800000; z <= 800000; z += 97) {
        cfp_civil_from_days(z, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_int_equal(cfp_days_from_civil(y, m, d), z);
    }
    cfp_civil_from_days(-1, &y, &m, &d);
    assert_int_equal(y, 1969);
    assert_int_equal(m, 12);
    assert_int_equal(d, 31);
    cfp_civil_from_days(0, NULL, NULL, NULL); /* outputs optional */
}

static void test_add_months(void **state)
{
    (void)state;
    /* Clamped to the target month's length, time of day kept. */
    assert_int_equal(cfp_add_months(at(2026, 11, 30, 3600), 3), at(2027, 2, 28, 3600));
    assert_int_equal(cfp_add_months(at(2027, 11, 30, 0), 3), at(2028, 2, 29, 0));
    assert_int_equal(cfp_add_months(at(2026, 1, 31, 0), 1), at(2026, 2, 28, 0));
    assert_int_equal(cfp_add_months(at(2026, 3, 31, 86399), -1), at(2026, 2, 28, 86399));
    assert_int_equal(cfp_add_months(at(2026, 1, 15, 0), -1), at(2025, 12, 15, 0));
    assert_int_equal(cfp_add_months(at(2026, 1, 15, 0), 24), at(2028, 1, 15, 0));
    assert_int_equal(cfp_add_months(at(2026, 1, 15, 0), 0), at(2026, 1, 15, 0));
    /* Before the epoch (negative t). */
    assert_int_equal(cfp_add_months(at(1969, 12, 31, 7200), 2), at(1970, 2, 28, 7200));
}

static void test_long_date(void **state)
{
    char out[32];

    (void)state;
    cfp_long_date(INT64_C(1793696400), out);
    assert_string_equal(out, "3 November 2026");
    cfp_long_date(at(2026, 12, 31, 86399), out);
    assert_string_equal(out, "31 December 2026");
    cfp_long_date(-1, out);
    assert_string_equal(out, "31 December 1969");
    cfp_long_date(at(2028, 2, 29, 0), out);
    assert_string_equal(out, "29 February 2028");
}

/* ---- text -------------------------------------------------------------------------- */

static void test_fold(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(cfp_fold("  12, High St.  ", true, out, sizeof out), 10);
    assert_string_equal(out, "12 HIGH ST");
    assert_int_equal(cfp_fold("12 high-st", true, out, sizeof out), 10);
    assert_string_equal(out, "12 HIGH ST");
    cfp_fold("Ana\tMARIA\n", false, out, sizeof out);
    assert_string_equal(out, "ana maria");
    cfp_fold("Zo\xc3\xab  Smith", true, out, sizeof out); /* UTF-8 kept */
    assert_string_equal(out, "ZO\xc3\xab SMITH");
    assert_int_equal(cfp_fold("...", true, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(cfp_fold(NULL, true, out, sizeof out), 0);
    assert_string_equal(out, "");
    /* Full buffers: truncated, terminated, never ending on a separator. */
    assert_int_equal(cfp_fold("A B", true, out, 3), 1);
    assert_string_equal(out, "A");
    assert_int_equal(cfp_fold("A B", true, out, 4), 3);
    assert_string_equal(out, "A B");
    assert_int_equal(cfp_fold("abc", true, out, 1), 0);
    assert_string_equal(out, "");
    out[0] = 'x';
    assert_int_equal(cfp_fold("abc", true, out, 0), 0);
    assert_int_equal(out[0], 'x');
}

static void test_lower(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(cfp_lower("ABC-Def", out, sizeof out), 7);
    assert_string_equal(out, "abc-def");
    assert_int_equal(cfp_lower("\xc3\x89T\xc3\x89", out, sizeof out), 5);
    assert_string_equal(out, "\xc3\x89t\xc3\x89"); /* ASCII only */
    assert_int_equal(cfp_lower("ABCDEFGHIJ", out, sizeof out), 7);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(cfp_lower(NULL, out, sizeof out), 0);
    assert_string_equal(out, "");
    out[0] = 'x';
    assert_int_equal(cfp_lower("A", out, 0), 0);
    assert_int_equal(out[0], 'x');
}

/* ---- case data --------------------------------------------------------------------- */

static void test_now_and_stamp(void **state)
{
    cf_step *s = *state;
    json_t *now = cfp_now_string(host, s);
    json_t *rec;

    assert_string_equal(json_string_value(now), "2026-11-03T09:00:00Z");
    json_decref(now);

    rec = cfp_stamp(host, s, json_pack("{s:s}", "reason", "r"));
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "by")), "ana");
    assert_string_equal(json_string_value(json_object_get(rec, "at")), "2026-11-03T09:00:00Z");
    assert_string_equal(json_string_value(json_object_get(rec, "reason")), "r");
    json_decref(rec);

    cfpt_set_actor(fake, NULL);
    rec = cfp_stamp(host, s, json_object());
    assert_string_equal(json_string_value(json_object_get(rec, "by")), "");
    json_decref(rec);

    /* NULL in, NULL out; a non-object is freed (valgrind would see a leak). */
    assert_null(cfp_stamp(host, s, NULL));
    assert_null(cfp_stamp(host, s, json_string("not an object")));
    accepted(s);
}

static void test_set_and_get(void **state)
{
    cf_step *s = *state;

    assert_int_equal(cfp_set(host, s, "grade", json_string("high")), 0);
    assert_string_equal(cfp_get_string(host, s, "grade"), "high");
    assert_int_equal(cfp_set(host, s, "flag", json_true()), 0);
    assert_int_equal(cfp_set(host, s, "off", json_false()), 0);
    assert_int_equal(cfp_set(host, s, "n", json_integer(1)), 0);
    accepted(s);
    assert_true(cfp_get_true(host, s, "flag"));
    assert_false(cfp_get_true(host, s, "off"));
    assert_false(cfp_get_true(host, s, "n"));
    assert_false(cfp_get_true(host, s, "absent"));
    assert_null(cfp_get_string(host, s, "n"));
    assert_null(cfp_get_string(host, s, "absent"));

    /* NULL is a failed allocation, not a deletion. */
    assert_int_equal(cfp_set(host, s, "grade", NULL), CF_PLUGIN_FAILED);
    refused(s, "grade", "out of memory");
    assert_string_equal(cfp_get_string(host, s, "grade"), "high");
    /* A path through a non-object. */
    assert_int_equal(cfp_set(host, s, "n.locked", json_string("x")), CF_PLUGIN_FAILED);
    refused(s, "n.locked", "cannot be written (not an object)");
    /* The usual chain: a failed stamp is reported by cfp_set. */
    assert_int_equal(cfp_set(host, s, "rec", cfp_stamp(host, s, json_integer(3))),
                     CF_PLUGIN_FAILED);
    refused(s, "rec", "out of memory");
}

/* ---- config -------------------------------------------------------------------------- */

static void test_config(void **state)
{
    static const char *const allowed[] = {"days", "role", NULL};
    json_t *ok = parse("{\"days\": 7, \"role\": \"officer\"}");
    json_t *bad = parse("{\"days\": 7, \"rolle\": \"officer\"}");
    json_t *types = parse("{\"days\": \"7\", \"role\": \"\", \"r\": 2.5, \"n\": 3}");
    json_t *arr = parse("[]");
    char err[128] = "";
    char tiny[8];
    double num = -1;
    const char *str = "unchanged";

    (void)state;
    assert_int_equal(cfp_config_keys(ok, allowed, err, sizeof err), 0);
    assert_int_equal(cfp_config_keys(bad, allowed, err, sizeof err), -1);
    assert_string_equal(err, "unknown setting 'rolle'");
    assert_int_equal(cfp_config_keys(arr, allowed, err, sizeof err), -1);
    assert_string_equal(err, "config must be a table");
    assert_int_equal(cfp_config_keys(NULL, allowed, err, sizeof err), -1);
    assert_string_equal(err, "config must be a table");
    assert_int_equal(cfp_config_keys(bad, allowed, tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "unknown");

    assert_int_equal(cfp_config_number(ok, "days", 1, 365, &num, err, sizeof err), 0);
    assert_true(num == 7.0);
    assert_int_equal(cfp_config_number(types, "r", 0, 5, &num, err, sizeof err), 0);
    assert_true(num == 2.5);
    assert_int_equal(cfp_config_number(ok, "absent", 1, 365, &num, err, sizeof err), 0);
    assert_true(num == 2.5); /* unchanged */
    assert_int_equal(cfp_config_number(types, "days", 1, 365, &num, err, sizeof err), -1);
    assert_string_equal(err, "setting 'days' must be a number from 1 to 365");
    assert_int_equal(cfp_config_number(types, "n", 0, 2, NULL, err, sizeof err), -1);
    assert_string_equal(err, "setting 'n' must be a number from 0 to 2");
    assert_int_equal(cfp_config_number(types, "n", 0, 3, NULL, err, sizeof err), 0);

    assert_int_equal(cfp_config_string(ok, "role", &str, err, sizeof err), 0);
    assert_string_equal(str, "officer");
    assert_int_equal(cfp_config_string(ok, "absent", &str, err, sizeof err), 0);
    assert_string_equal(str, "officer");
    assert_int_equal(cfp_config_string(types, "role", &str, err, sizeof err), -1);
    assert_string_equal(err, "setting 'role' must be a non-empty string");
    assert_int_equal(cfp_config_string(types, "n", NULL, err, sizeof err), -1);
    assert_string_equal(err, "setting 'n' must be a non-empty string");
    json_decref(ok);
    json_decref(bad);
    json_decref(types);
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_field_paths),
        cmocka_unit_test_setup_teardown(test_known_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_and_text_characters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_presence_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_array, setup, teardown),
        cmocka_unit_test_setup_teardown(test_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time, setup, teardown),
        cmocka_unit_test(test_time_lacks_zone),
        cmocka_unit_test_setup_teardown(test_date, setup, teardown),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_add_months),
        cmocka_unit_test(test_long_date),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_lower),
        cmocka_unit_test_setup_teardown(test_now_and_stamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_and_get, setup, teardown),
        cmocka_unit_test(test_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
