/*
 * Tests of the visit step: unanswered attempts are counted and the case
 * stays; a completed visit without a letter goes straight to monitoring; a
 * concern sends the case to enforcement; every flag of the result is
 * required.
 */
#include "polit_fixture.h"

#include <string.h>

static const char *const NO_LETTER =
    "{\"advice_given\": true, \"letter_issued\": false,"
    " \"security_advice\": true, \"signposted\": true}";

static void test_no_answer_counts(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    pf_new_visit_case(f, "VIS-1", id);
    pf_act_ok(f, id, PF_OFFICER, "visit.no_answer", NULL);
    pf_act_ok(f, id, PF_OFFICER, "visit.no_answer", "{\"notes\": \"No reply.\"}");
    pf_assert_state(f, id, "visit");
    c = pf_case(f, id);
    assert_int_equal(json_integer_value(pf_data(c, "visit.attempts")), 2);
    assert_string_equal(json_string_value(pf_data(c, "visit.last_attempt.by")),
                        PF_OFFICER);
    json_decref(c);
}

static void test_completed_without_letter(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    pf_new_visit_case(f, "VIS-2", id);
    pf_act_ok(f, id, PF_OFFICER, "visit.completed", NO_LETTER);
    pf_assert_state(f, id, "monitoring");
    c = pf_case(f, id);
    assert_null(pf_data(c, "letter"));
    assert_true(json_is_false(pf_data(c, "visit.result.letter_issued")));
    assert_true(json_is_true(pf_data(c, "visit.result.signposted")));
    assert_true(json_is_false(pf_data(c, "monitoring.letter")));
    json_decref(c);
}

static void test_result_flags_required(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    pf_new_visit_case(f, "VIS-3", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "visit.completed",
                      "{\"advice_given\": true, \"letter_issued\": false,"
                      " \"security_advice\": true}", &err),
               &err, CF_EINVALID, "signposted", "required");
    pf_refused(pf_act(f, id, PF_OFFICER, "visit.completed",
                      "{\"advice_given\": 1, \"letter_issued\": false,"
                      " \"security_advice\": true, \"signposted\": true}", &err),
               &err, CF_EINVALID, "advice_given", "true or false");
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "visit.completed", NO_LETTER, &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_assert_state(f, id, "visit");
}

static void test_concern_goes_to_enforcement(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    pf_new_visit_case(f, "VIS-4", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "visit.concern", "{}", &err), &err,
               CF_EINVALID, "reason", "required");
    pf_act_ok(f, id, PF_OFFICER, "visit.concern",
              "{\"reason\": \"Child's belongings seen; occupant evasive.\"}");
    pf_assert_state(f, id, "enforcement");
    pf_assert_data_str(f, id, "visit.concern.by", PF_OFFICER);
    /* The route taken stays the visit; enforcement followed from it. */
    pf_assert_data_str(f, id, "route.decision", "visit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_no_answer_counts),
        PF_TEST(test_completed_without_letter),
        PF_TEST(test_result_flags_required),
        PF_TEST(test_concern_goes_to_enforcement),
    };

    return cmocka_run_group_tests_name("plugin_visit", tests, NULL, NULL);
}
