/*
 * Tests of the monitoring step: the state timer from polit.lua (365 days)
 * closes a quiet case with an outcome that says whether a warning letter was
 * issued, and not a second earlier.
 */
#include "polit_fixture.h"

#include <string.h>

static void monitored(pf *f, const char *reference, bool letter, char id[64])
{
    pf_new_visit_case(f, reference, id);
    pf_act_ok(f, id, PF_OFFICER, "visit.completed",
              letter ? "{\"advice_given\": true, \"letter_issued\": true,"
                       " \"security_advice\": true, \"signposted\": true}"
                     : "{\"advice_given\": true, \"letter_issued\": false,"
                       " \"security_advice\": false, \"signposted\": true}");
    pf_assert_state(f, id, "monitoring");
}

static void test_period_ends_warned(void **state)
{
    pf *f = *state;
    char id[64];

    monitored(f, "MON-1", true, id);
    pf_assert_data_str(f, id, "monitoring.since", "2026-11-03T09:00:00Z");
    pf_clock(f, PF_NOW + 365 * PF_DAY - 1);
    pf_tick(f);
    pf_assert_state(f, id, "monitoring");
    pf_clock(f, PF_NOW + 365 * PF_DAY);
    pf_tick(f);
    pf_assert_state(f, id, "closed");
    pf_assert_data_str(f, id, "outcome", "warned_no_further_reports");
}

static void test_period_ends_advised(void **state)
{
    pf *f = *state;
    char id[64];

    monitored(f, "MON-2", false, id);
    pf_clock(f, PF_NOW + 400 * PF_DAY);
    pf_tick(f);
    pf_assert_state(f, id, "closed");
    pf_assert_data_str(f, id, "outcome", "advised_no_further_reports");
}

static void test_expiry_is_engine_only(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    monitored(f, "MON-3", true, id);
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "monitoring.expired", NULL, &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_assert_state(f, id, "monitoring");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_period_ends_warned),
        PF_TEST(test_period_ends_advised),
        PF_TEST(test_expiry_is_engine_only),
    };

    return cmocka_run_group_tests_name("plugin_monitoring", tests, NULL, NULL);
}
