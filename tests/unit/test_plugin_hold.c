/*
 * Tests of the hold step: an uncorroborated address holds the case until an
 * officer confirms corroboration (with the method) or a supervisor overrides
 * with a reason; the route is then decided again and an override is carried
 * into the route record as exceptional.
 */
#include "polit_fixture.h"

#include <string.h>

static void held(pf *f, const char *reference, char id[64])
{
    pf_new_routed_case(f, reference, PF_UNCORROBORATED_CHECKS, NULL, id);
    pf_assert_state(f, id, "hold");
}

static void test_hold_opens_task(void **state)
{
    pf *f = *state;
    char id[64];

    held(f, "HOLD-1", id);
    assert_true(pf_has_task(f, id, "corroborate_address"));
    pf_assert_data_str(f, id, "hold.reason", "address not corroborated");
}

static void test_corroboration_routes(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;
    json_t *c;

    held(f, "HOLD-2", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "corroboration.confirmed", "{}", &err),
               &err, CF_EINVALID, "method", "required");
    pf_refused(pf_act(f, id, PF_ANALYST, "corroboration.confirmed",
                      "{\"method\": \"electoral roll\"}", &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_act_ok(f, id, PF_OFFICER, "corroboration.confirmed",
              "{\"method\": \"Electoral roll and provider installation record\"}");
    pf_assert_state(f, id, "visit");
    c = pf_case(f, id);
    assert_string_equal(json_string_value(pf_data(c, "route.decision")), "visit");
    assert_true(json_is_true(pf_data(c, "route.held")));
    assert_null(pf_data(c, "route.exceptional"));
    assert_string_equal(json_string_value(pf_data(c, "corroboration.by")),
                        PF_OFFICER);
    json_decref(c);
}

static void test_override_is_exceptional(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;
    json_t *c;

    held(f, "HOLD-3", id);
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "hold.override", "{}", &err), &err,
               CF_EINVALID, "reason", "required");
    pf_refused(pf_act(f, id, PF_OFFICER, "hold.override",
                      "{\"reason\": \"r\"}", &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_act_ok(f, id, PF_SUPERVISOR, "hold.override",
              "{\"reason\": \"Immediate risk to a child; cannot wait.\"}");
    pf_assert_state(f, id, "visit");
    c = pf_case(f, id);
    assert_true(json_is_true(pf_data(c, "route.exceptional")));
    assert_string_equal(json_string_value(pf_data(c, "route.exceptional_reason")),
                        "Immediate risk to a child; cannot wait.");
    assert_string_equal(json_string_value(pf_data(c, "hold_override.by")),
                        PF_SUPERVISOR);
    json_decref(c);
}

static void test_held_enforcement_case(void **state)
{
    pf *f = *state;
    char id[64];
    const char *checks =
        "{\"occupants\": [], \"prior_history\": true,"
        " \"registered_sex_offender\": false, \"children_in_household\": false,"
        " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
        " \"address_corroborated\": false}";

    pf_new_routed_case(f, "HOLD-4", checks, NULL, id);
    pf_assert_state(f, id, "hold");
    pf_act_ok(f, id, PF_OFFICER, "corroboration.confirmed",
              "{\"method\": \"site visit\"}");
    pf_assert_state(f, id, "enforcement");
    pf_assert_data_str(f, id, "route.decision", "enforcement");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_hold_opens_task),
        PF_TEST(test_corroboration_routes),
        PF_TEST(test_override_is_exceptional),
        PF_TEST(test_held_enforcement_case),
    };

    return cmocka_run_group_tests_name("plugin_hold", tests, NULL, NULL);
}
