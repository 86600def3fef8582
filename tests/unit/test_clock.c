/* Unit tests for clock.c: RFC 3339 parsing with mandatory offsets, UTC
 * normalisation and formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

static void parses_offsets_to_utc(void **state)
{
    (void)state;
    int64_t t;
    int off;
    assert_int_equal(cf_time_parse("2026-10-30T21:14:05+01:00", &t, &off), 0);
    assert_int_equal(off, 60);
    char buf[32];
    cf_time_format(t, buf);
    assert_string_equal(buf, "2026-10-30T20:14:05Z");
    assert_int_equal(cf_time_parse("2026-10-30T20:14:05Z", &t, &off), 0);
    assert_int_equal(off, 0);
    cf_time_format(t, buf);
    assert_string_equal(buf, "2026-10-30T20:14:05Z");
    assert_int_equal(cf_time_parse("2026-01-01T00:30:00-05:30", &t, &off), 0);
    assert_int_equal(off, -330);
    cf_time_format(t, buf);
    assert_string_equal(buf, "2026-01-01T06:00:00Z");
    assert_int_equal(cf_time_parse("2024-02-29T23:59:59.123456+00:00", &t, NULL), 0);
    cf_time_format(t, buf);
    assert_string_equal(buf, "2024-02-29T23:59:59Z");
}

static void refuses_times_without_zone_or_invalid(void **state)
{
    (void)state;
    int64_t t;
    const char *bad[] = {"2026-10-30T21:14:05", "2026-10-30 21:14:05Z", "2026-13-01T00:00:00Z",
                         "2025-02-29T00:00:00Z", "2026-10-30T24:00:00Z", "2026-10-30T21:14Z",
                         "2026-10-30T21:14:05+1:00", "2026-10-30T21:14:05+01:00x", "",
                         "2026-10-30T21:14:05.Z", "1/2/2026", "2026-10-30T21:60:05Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cf_time_parse(bad[i], &t, NULL) == 0)
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(cf_time_parse(NULL, &t, NULL), -1);
}

static void dates_and_epoch(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(cf_time_parse_date("2026-11-01", &t), 0);
    char buf[32];
    cf_time_format(t, buf);
    assert_string_equal(buf, "2026-11-01T00:00:00Z");
    cf_time_format(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    assert_int_equal(cf_time_parse_date("2026-11-31", &t), -1);
    assert_true(cf_time_system() > 1700000000);
    assert_int_equal(cf_time_from_rfc3339("2026-11-02T10:00:00+01:00", &t), 0);
    cf_time_format(t, buf);
    assert_string_equal(buf, "2026-11-02T09:00:00Z");
    assert_int_equal(cf_time_from_rfc3339("2026-11-02T10:00:00", &t), CF_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_offsets_to_utc),
        cmocka_unit_test(refuses_times_without_zone_or_invalid),
        cmocka_unit_test(dates_and_epoch),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
