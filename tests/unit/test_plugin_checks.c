/*
 * Tests of the checks step: every fact is a required boolean, occupants need
 * a name and a real date of birth, and children at risk open a MASH
 * safeguarding task whatever the route.
 */
#include "polit_fixture.h"

#include <stdio.h>
#include <string.h>

static void at_checks(pf *f, const char *reference, char id[64])
{
    json_t *r = pf_referral(reference);

    pf_refer_ok(f, r, id);
    json_decref(r);
    pf_to_checks(f, id);
}

static void test_completed_records(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    at_checks(f, "CHK-1", id);
    pf_act_ok(f, id, PF_ANALYST, "checks.completed",
              "{\"occupants\": [{\"name\": \"Alex Example\", \"dob\": "
              "\"1980-02-29\"}], \"prior_history\": false, "
              "\"registered_sex_offender\": false, \"children_in_household\": "
              "false, \"access_to_children_at_work\": false, "
              "\"distribution_signs\": false, \"address_corroborated\": true}");
    pf_assert_state(f, id, "assessment");
    c = pf_case(f, id);
    assert_string_equal(json_string_value(pf_data(c, "checks.occupants.0.dob")),
                        "1980-02-29");
    assert_true(json_is_true(pf_data(c, "checks.address_corroborated")));
    assert_null(pf_data(c, "safeguarding"));
    json_decref(c);
    assert_false(pf_has_task(f, id, "mash_referral"));
}

static void test_facts_required(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    at_checks(f, "CHK-2", id);
    pf_refused(pf_act(f, id, PF_ANALYST, "checks.completed",
                      "{\"occupants\": [], \"prior_history\": false}", &err),
               &err, CF_EINVALID, "registered_sex_offender", "required");
    pf_refused(pf_act(f, id, PF_ANALYST, "checks.completed",
                      "{\"occupants\": [], \"prior_history\": \"no\", "
                      "\"registered_sex_offender\": false, "
                      "\"children_in_household\": false, "
                      "\"access_to_children_at_work\": false, "
                      "\"distribution_signs\": false, "
                      "\"address_corroborated\": true}", &err),
               &err, CF_EINVALID, "prior_history", "true or false");
    pf_refused(pf_act(f, id, PF_OFFICER, "checks.completed", PF_CLEAN_CHECKS,
                      &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_assert_state(f, id, "checks");
}

/* Clean checks with a second occupant as given. */
static void with_occupant(char *buf, size_t n, const char *second)
{
    snprintf(buf, n,
             "{\"occupants\": [{\"name\": \"Alex Example\", \"dob\": "
             "\"1980-01-01\"}, %s], \"prior_history\": false, "
             "\"registered_sex_offender\": false, \"children_in_household\": "
             "false, \"access_to_children_at_work\": false, "
             "\"distribution_signs\": false, \"address_corroborated\": true}",
             second);
}

static void test_occupant_rules(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;
    char buf[512];

    at_checks(f, "CHK-3", id);
    with_occupant(buf, sizeof buf, "{\"name\": \"Sam Example\", \"dob\": \"1981-02-30\"}");
    pf_refused(pf_act(f, id, PF_ANALYST, "checks.completed", buf, &err), &err,
               CF_EINVALID, "occupants[1].dob", "not a calendar date");
    with_occupant(buf, sizeof buf, "{\"name\": \"Sam Example\", \"dob\": \"30/01/1981\"}");
    pf_refused(pf_act(f, id, PF_ANALYST, "checks.completed", buf, &err), &err,
               CF_EINVALID, "occupants[1].dob", "YYYY-MM-DD");
    with_occupant(buf, sizeof buf, "{\"name\": \"Sam Example\", \"dob\": \"2030-01-01\"}");
    pf_refused(pf_act(f, id, PF_ANALYST, "checks.completed", buf, &err), &err,
               CF_EINVALID, "occupants[1].dob", "in the future");
    with_occupant(buf, sizeof buf, "{\"dob\": \"1981-01-01\"}");
    pf_refused(pf_act(f, id, PF_ANALYST, "checks.completed", buf, &err), &err,
               CF_EINVALID, "occupants[1].name", "required");
    pf_assert_state(f, id, "checks");
}

static void test_children_open_mash_task(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    at_checks(f, "CHK-4", id);
    pf_act_ok(f, id, PF_ANALYST, "checks.completed",
              "{\"occupants\": [], \"prior_history\": false, "
              "\"registered_sex_offender\": false, \"children_in_household\": "
              "true, \"access_to_children_at_work\": false, "
              "\"distribution_signs\": false, \"address_corroborated\": true}");
    pf_assert_state(f, id, "assessment");
    assert_true(pf_has_task(f, id, "mash_referral"));
    c = pf_case(f, id);
    assert_string_equal(
        json_string_value(pf_data(c, "safeguarding.reasons.0")),
        "children_in_household");
    json_decref(c);
}

static void test_work_access_opens_mash_task(void **state)
{
    pf *f = *state;
    char id[64];

    at_checks(f, "CHK-5", id);
    pf_act_ok(f, id, PF_ANALYST, "checks.completed",
              "{\"occupants\": [], \"prior_history\": false, "
              "\"registered_sex_offender\": false, \"children_in_household\": "
              "false, \"access_to_children_at_work\": true, "
              "\"distribution_signs\": false, \"address_corroborated\": true}");
    assert_true(pf_has_task(f, id, "mash_referral"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_completed_records),
        PF_TEST(test_facts_required),
        PF_TEST(test_occupant_rules),
        PF_TEST(test_children_open_mash_task),
        PF_TEST(test_work_access_opens_mash_task),
    };

    return cmocka_run_group_tests_name("plugin_checks", tests, NULL, NULL);
}
