/*
 * Tests of the enforcement step: the warrant as issued by the court, with its
 * time zone required and its PACE expiry (three calendar months, clamped to
 * the month's end) computed and kept; a warrant from the future or one that
 * has already lapsed is refused.
 */
#include "polit_fixture.h"

#include <string.h>

static const char *const PRIOR_HISTORY =
    "{\"occupants\": [], \"prior_history\": true,"
    " \"registered_sex_offender\": false, \"children_in_household\": false,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": true}";

static void in_enforcement(pf *f, const char *reference, char id[64])
{
    pf_new_routed_case(f, reference, PRIOR_HISTORY, NULL, id);
    pf_assert_state(f, id, "enforcement");
}

static void test_route_recorded(void **state)
{
    pf *f = *state;
    char id[64];

    in_enforcement(f, "ENF-1", id);
    pf_assert_data_str(f, id, "route.decision", "enforcement");
    pf_assert_data_str(f, id, "enforcement.since", "2026-11-03T09:00:00Z");
}

static void test_warrant_issued(void **state)
{
    pf *f = *state;
    char id[64];

    in_enforcement(f, "ENF-2", id);
    pf_act_ok(f, id, PF_OFFICER, "warrant.issued",
              "{\"court\": \"Exampletown Magistrates' Court\","
              " \"issued_at\": \"2026-11-02T16:30:00+01:00\"}");
    pf_assert_state(f, id, "warrant");
    pf_assert_data_str(f, id, "warrant.issued_at", "2026-11-02T16:30:00+01:00");
    pf_assert_data_str(f, id, "warrant.issued_at_utc", "2026-11-02T15:30:00Z");
    pf_assert_data_str(f, id, "warrant.expires_at", "2027-02-02T15:30:00Z");
}

static void test_expiry_clamped_to_month_end(void **state)
{
    pf *f = *state;
    char id[64];

    in_enforcement(f, "ENF-3", id);
    pf_act_ok(f, id, PF_OFFICER, "warrant.issued",
              "{\"court\": \"Exampletown Magistrates' Court\","
              " \"issued_at\": \"2026-08-31T10:00:00+01:00\"}");
    pf_assert_data_str(f, id, "warrant.expires_at", "2026-11-30T09:00:00Z");
}

static void test_warrant_rules(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    in_enforcement(f, "ENF-4", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.issued",
                      "{\"issued_at\": \"2026-11-02T15:30:00Z\"}", &err),
               &err, CF_EINVALID, "court", "required");
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.issued",
                      "{\"court\": \"C\", \"issued_at\": \"2026-11-02T15:30:00\"}",
                      &err),
               &err, CF_EINVALID, "issued_at", "no time zone");
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.issued",
                      "{\"court\": \"C\", \"issued_at\": \"2026-11-04T15:30:00Z\"}",
                      &err),
               &err, CF_EINVALID, "issued_at", "in the future");
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.issued",
                      "{\"court\": \"C\", \"issued_at\": \"2026-07-02T15:30:00Z\"}",
                      &err),
               &err, CF_EINVALID, "issued_at", "expired");
    pf_refused(pf_act(f, id, PF_ANALYST, "warrant.issued",
                      "{\"court\": \"C\", \"issued_at\": \"2026-11-02T15:30:00Z\"}",
                      &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_assert_state(f, id, "enforcement");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_route_recorded),
        PF_TEST(test_warrant_issued),
        PF_TEST(test_expiry_clamped_to_month_end),
        PF_TEST(test_warrant_rules),
    };

    return cmocka_run_group_tests_name("plugin_enforcement", tests, NULL, NULL);
}
