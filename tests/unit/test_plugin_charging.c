/*
 * Tests of the charging step: only a supervisor records the outcome, only
 * one of the five the force reports, and the case closes carrying it.
 */
#include "polit_fixture.h"

#include <string.h>

static const char *const PRIOR_HISTORY =
    "{\"occupants\": [], \"prior_history\": true,"
    " \"registered_sex_offender\": false, \"children_in_household\": false,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": true}";

static void in_charging(pf *f, const char *reference, char id[64])
{
    pf_new_routed_case(f, reference, PRIOR_HISTORY, NULL, id);
    pf_act_ok(f, id, PF_OFFICER, "warrant.issued",
              "{\"court\": \"Exampletown Magistrates' Court\","
              " \"issued_at\": \"2026-11-02T15:30:00Z\"}");
    pf_act_ok(f, id, PF_OFFICER, "warrant.executed",
              "{\"arrested\": true, \"voluntary_interview\": false,"
              " \"devices\": []}");
    pf_act_ok(f, id, PF_OFFICER, "forensics.completed",
              "{\"counts\": {\"A\": 0, \"B\": 0, \"C\": 12}}");
    pf_assert_state(f, id, "charging");
}

static void test_outcome_closes(void **state)
{
    pf *f = *state;
    char id[64];

    in_charging(f, "CHG-1", id);
    pf_act_ok(f, id, PF_SUPERVISOR, "outcome.recorded",
              "{\"outcome\": \"charged\", \"notes\": \"CPS authorised.\"}");
    pf_assert_state(f, id, "closed");
    pf_assert_data_str(f, id, "outcome", "charged");
    pf_assert_data_str(f, id, "charging.by", PF_SUPERVISOR);
}

static void test_outcome_rules(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    in_charging(f, "CHG-2", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "outcome.recorded",
                      "{\"outcome\": \"nfa\"}", &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "outcome.recorded",
                      "{\"outcome\": \"acquitted\"}", &err),
               &err, CF_EINVALID, "outcome", "nfa");
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "outcome.recorded", "{}", &err),
               &err, CF_EINVALID, "outcome", "required");
    pf_assert_state(f, id, "charging");
    pf_act_ok(f, id, PF_SUPERVISOR, "outcome.recorded",
              "{\"outcome\": \"outcome_21\"}");
    pf_assert_data_str(f, id, "outcome", "outcome_21");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_outcome_closes),
        PF_TEST(test_outcome_rules),
    };

    return cmocka_run_group_tests_name("plugin_charging", tests, NULL, NULL);
}
