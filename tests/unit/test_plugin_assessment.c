/*
 * Tests of the assessment step and the route decision it leads to: the
 * KIRAT-style grade and its factors, weights and thresholds taken from
 * polit.lua (an edited copy deploys a different grading; a broken one does
 * not deploy), the deadline by grade, and the supervisor's approval with the
 * route rules of policy.lua and recorded overrides.
 */
#include "polit_fixture.h"

#include <string.h>

static const char *const RSO_CHILDREN =
    "{\"occupants\": [], \"prior_history\": false,"
    " \"registered_sex_offender\": true, \"children_in_household\": true,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": true}";
static const char *const RSO_ONLY =
    "{\"occupants\": [], \"prior_history\": false,"
    " \"registered_sex_offender\": true, \"children_in_household\": false,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": true}";

/* A case from referral r (stolen), graded after checks_json. */
static void graded(pf *f, json_t *r, const char *checks_json, char id[64])
{
    pf_refer_ok(f, r, id);
    json_decref(r);
    pf_to_assessment(f, id, checks_json);
}

static void set_file_category(json_t *r, const char *category)
{
    json_t *file = json_array_get(json_object_get(r, "files"), 0);

    if (category == NULL)
        json_object_del(file, "category");
    else
        json_object_set_new(file, "category", json_string(category));
}

static void test_low_grade_and_deadline(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    graded(f, pf_referral("AS-1"), NULL, id);
    c = pf_case(f, id);
    assert_string_equal(json_string_value(pf_data(c, "risk.grade")), "low");
    assert_int_equal(json_array_size(pf_data(c, "risk.factors")), 0);
    assert_string_equal(json_string_value(pf_data(c, "risk.deadline_at")),
                        "2026-12-03T09:00:00Z");
    json_decref(c);
}

static void test_very_high_grade(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    graded(f, pf_referral("AS-2"), RSO_CHILDREN, id);
    c = pf_case(f, id);
    assert_string_equal(json_string_value(pf_data(c, "risk.grade")), "very_high");
    assert_int_equal(json_array_size(pf_data(c, "risk.factors")), 2);
    assert_string_equal(json_string_value(pf_data(c, "risk.factors.0.factor")),
                        "registered_sex_offender");
    assert_true(json_number_value(pf_data(c, "risk.factors.0.weight")) == 5.0);
    assert_string_equal(json_string_value(pf_data(c, "risk.deadline_at")),
                        "2026-11-04T09:00:00Z");
    json_decref(c);
}

static void test_high_and_medium_grades(void **state)
{
    pf *f = *state;
    char id1[64], id2[64];
    json_t *r = pf_referral("AS-3");

    graded(f, pf_referral("AS-3H"), RSO_ONLY, id1);
    pf_assert_data_str(f, id1, "risk.grade", "high");
    pf_assert_data_str(f, id1, "risk.deadline_at", "2026-11-10T09:00:00Z");
    set_file_category(r, "B");
    graded(f, r, NULL, id2);
    pf_assert_data_str(f, id2, "risk.grade", "medium");
    pf_assert_data_str(f, id2, "risk.factors.0.factor", "category_b");
    pf_assert_data_str(f, id2, "risk.deadline_at", "2026-11-17T09:00:00Z");
}

static void test_clean_case_goes_to_visit(void **state)
{
    pf *f = *state;
    char id[64];

    pf_new_routed_case(f, "AS-4", NULL, NULL, id);
    pf_assert_state(f, id, "visit");
    pf_assert_data_str(f, id, "route.decision", "visit");
    pf_assert_data_str(f, id, "route_decision.approved_by", PF_SUPERVISOR);
}

static void test_uncorroborated_goes_to_hold(void **state)
{
    pf *f = *state;
    char id[64];

    pf_new_routed_case(f, "AS-5", PF_UNCORROBORATED_CHECKS, NULL, id);
    pf_assert_state(f, id, "hold");
    pf_assert_data_str(f, id, "route.decision", "hold");
}

static void test_each_condition_blocks_visit(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *r;

    /* Not category C only. */
    r = pf_referral("AS-6A");
    set_file_category(r, "B");
    graded(f, r, NULL, id);
    pf_act_ok(f, id, PF_SUPERVISOR, "assessment.approved", "{}");
    pf_assert_state(f, id, "enforcement");
    /* Ungraded material: category C only is not established. */
    r = pf_referral("AS-6U");
    set_file_category(r, NULL);
    graded(f, r, NULL, id);
    pf_act_ok(f, id, PF_SUPERVISOR, "assessment.approved", "{}");
    pf_assert_state(f, id, "enforcement");
    /* Frequency unknown: still graded low, but not shown infrequent. */
    r = pf_referral("AS-6F");
    json_object_del(r, "frequency");
    graded(f, r, NULL, id);
    pf_assert_data_str(f, id, "risk.grade", "low");
    pf_act_ok(f, id, PF_SUPERVISOR, "assessment.approved", "{}");
    pf_assert_state(f, id, "enforcement");
    /* Registered sex offender. */
    pf_new_routed_case(f, "AS-6R", RSO_ONLY, NULL, id);
    pf_assert_state(f, id, "enforcement");
    pf_assert_data_str(f, id, "route.decision", "enforcement");
}

static void test_override_needs_reason(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    graded(f, pf_referral("AS-7"), RSO_ONLY, id);
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "assessment.approved",
                      "{\"override\": \"visit\"}", &err),
               &err, CF_EINVALID, "reason", "required");
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "assessment.approved",
                      "{\"override\": \"caution\", \"reason\": \"r\"}", &err),
               &err, CF_EINVALID, "override", "visit or enforcement");
    pf_refused(pf_act(f, id, PF_OFFICER, "assessment.approved", "{}", &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_assert_state(f, id, "assessment");
}

static void test_override_recorded(void **state)
{
    pf *f = *state;
    char id1[64], id2[64];

    pf_new_routed_case(f, "AS-8", RSO_ONLY,
                       "{\"override\": \"visit\", \"reason\": \"Conviction "
                       "spent; exceptional circumstances documented.\"}", id1);
    pf_assert_state(f, id1, "visit");
    pf_assert_data_str(f, id1, "route.override", "visit");
    pf_assert_data_str(f, id1, "route.override_reason",
                       "Conviction spent; exceptional circumstances documented.");
    pf_new_routed_case(f, "AS-9", NULL,
                       "{\"override\": \"enforcement\", \"reason\": \"r\"}", id2);
    pf_assert_state(f, id2, "enforcement");
    pf_assert_data_str(f, id2, "route.override", "enforcement");
}

static void test_weights_come_from_lua(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;
    int rc;

    rc = pf_deploy_edited(f, "registered_sex_offender = 5",
                          "registered_sex_offender = 0", &err);
    if (rc != 0)
        print_error("deploy: %s\n", err.message);
    assert_int_equal(rc, 0);
    graded(f, pf_referral("AS-10"), RSO_ONLY, id);
    pf_assert_data_str(f, id, "risk.grade", "low");
}

static void test_bad_grading_config_refuses_deploy(void **state)
{
    pf *f = *state;
    cf_error err;

    assert_int_not_equal(
        pf_deploy_edited(f, "thresholds = { medium = 2, high = 5, very_high = 8 }",
                         "thresholds = { medium = 6, high = 5, very_high = 8 }",
                         &err),
        0);
    assert_non_null(strstr(err.message, "thresholds must rise"));
    assert_int_not_equal(pf_deploy_edited(f, "priority = 2,",
                                          "priority = 2, typo = 1,", &err),
                         0);
    assert_non_null(strstr(err.message, "unknown entry 'typo'"));
    assert_int_not_equal(pf_deploy_edited(f, "    priority = 2,\n", "", &err), 0);
    assert_non_null(strstr(err.message, "missing entry 'priority'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_low_grade_and_deadline),
        PF_TEST(test_very_high_grade),
        PF_TEST(test_high_and_medium_grades),
        PF_TEST(test_clean_case_goes_to_visit),
        PF_TEST(test_uncorroborated_goes_to_hold),
        PF_TEST(test_each_condition_blocks_visit),
        PF_TEST(test_override_needs_reason),
        PF_TEST(test_override_recorded),
        PF_TEST(test_weights_come_from_lua),
        PF_TEST(test_bad_grading_config_refuses_deploy),
    };

    return cmocka_run_group_tests_name("plugin_assessment", tests, NULL, NULL);
}
