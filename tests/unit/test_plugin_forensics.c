/*
 * Tests of the forensics step: the examination's counts per category are all
 * required, non-negative integers, and record the case's move to charging.
 */
#include "polit_fixture.h"

#include <string.h>

static const char *const PRIOR_HISTORY =
    "{\"occupants\": [], \"prior_history\": true,"
    " \"registered_sex_offender\": false, \"children_in_household\": false,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": true}";

static void in_forensics(pf *f, const char *reference, char id[64])
{
    pf_new_routed_case(f, reference, PRIOR_HISTORY, NULL, id);
    pf_act_ok(f, id, PF_OFFICER, "warrant.issued",
              "{\"court\": \"Exampletown Magistrates' Court\","
              " \"issued_at\": \"2026-11-02T15:30:00Z\"}");
    pf_act_ok(f, id, PF_OFFICER, "warrant.executed",
              "{\"arrested\": false, \"voluntary_interview\": true,"
              " \"devices\": [{\"exhibit\": \"EX/1\", \"type\": \"laptop\"}]}");
    pf_assert_state(f, id, "forensics");
}

static void test_completed(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    in_forensics(f, "FOR-1", id);
    pf_act_ok(f, id, PF_OFFICER, "forensics.completed",
              "{\"counts\": {\"A\": 0, \"B\": 3, \"C\": 41}}");
    pf_assert_state(f, id, "charging");
    c = pf_case(f, id);
    assert_int_equal(json_integer_value(pf_data(c, "forensics.counts.C")), 41);
    assert_int_equal(json_integer_value(pf_data(c, "forensics.counts.A")), 0);
    assert_string_equal(json_string_value(pf_data(c, "forensics.by")), PF_OFFICER);
    json_decref(c);
}

static void test_count_rules(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    in_forensics(f, "FOR-2", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "forensics.completed",
                      "{\"counts\": {\"A\": 0, \"B\": 3}}", &err),
               &err, CF_EINVALID, "counts.C", "required");
    pf_refused(pf_act(f, id, PF_OFFICER, "forensics.completed",
                      "{\"counts\": {\"A\": -1, \"B\": 3, \"C\": 1}}", &err),
               &err, CF_EINVALID, "counts.A", "between 0 and");
    pf_refused(pf_act(f, id, PF_OFFICER, "forensics.completed",
                      "{\"counts\": {\"A\": 1.5, \"B\": 3, \"C\": 1}}", &err),
               &err, CF_EINVALID, "counts.A", "integer");
    pf_refused(pf_act(f, id, PF_OFFICER, "forensics.completed",
                      "{\"counts\": {\"A\": 0, \"B\": 0, \"C\": 0, \"D\": 1}}",
                      &err),
               &err, CF_EINVALID, "counts.D", "unknown field");
    pf_refused(pf_act(f, id, PF_OFFICER, "forensics.completed", "{}", &err),
               &err, CF_EINVALID, "counts", "required");
    pf_assert_state(f, id, "forensics");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_completed),
        PF_TEST(test_count_rules),
    };

    return cmocka_run_group_tests_name("plugin_forensics", tests, NULL, NULL);
}
