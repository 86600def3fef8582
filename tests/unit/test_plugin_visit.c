/*
 * Tests of the visit step: unanswered attempts are counted and the case
 * stays; a completed visit without a letter goes straight to monitoring; a
 * concern sends the case to enforcement; every flag of the result is
 * required. The callbacks on their own, on the harness's fake host (the
 * module's source is compiled in): what enter records, counting from any
 * earlier attempts, and a refused result leaving the case as it was.
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

/* ---- the callbacks on the fake host ------------------------------------------ */

extern const cf_plugin visit_LTX_caseflow_plugin;

static cfpt_host *visit_host(void)
{
    char err[256];
    cfpt_host *h = cfpt_host_new(&visit_LTX_caseflow_plugin, "visit", NULL, err, sizeof err);

    if (h == NULL)
        fail_msg("cfpt_host_new: %s", err);
    return h;
}

static void test_enter_records_the_route_once(void **state)
{
    cfpt_host *h = visit_host();
    char err[256];

    (void)state;
    cfpt_set_now(h, PF_NOW);
    assert_int_equal(cfpt_enter(h), CF_PLUGIN_OK);
    assert_null(cfpt_emitted(h));
    assert_string_equal(json_string_value(cfpt_get(h, "route.decision")), "visit");
    assert_string_equal(json_string_value(cfpt_get(h, "route.at")), "2026-11-03T09:00:00Z");
    assert_int_equal(json_integer_value(cfpt_get(h, "visit.attempts")), 0);
    assert_string_equal(json_string_value(cfpt_get(h, "visit.since")), "2026-11-03T09:00:00Z");
    /* Entering again (a case back from elsewhere) keeps the count and route. */
    assert_int_equal(cfpt_set(h, "visit.attempts", "3"), 0);
    cfpt_set_now(h, PF_NOW + PF_DAY);
    assert_int_equal(cfpt_enter(h), CF_PLUGIN_OK);
    assert_int_equal(json_integer_value(cfpt_get(h, "visit.attempts")), 3);
    assert_string_equal(json_string_value(cfpt_get(h, "route.at")), "2026-11-03T09:00:00Z");
    cfpt_host_free(h);
    /* The step takes no settings. */
    assert_null(cfpt_host_new(&visit_LTX_caseflow_plugin, "visit", "{\"days\": 1}", err,
                              sizeof err));
    assert_non_null(strstr(err, "days"));
}

static void test_callbacks_count_and_refuse(void **state)
{
    cfpt_host *h = visit_host();

    (void)state;
    assert_int_equal(cfpt_set_data(h, "{\"visit\": {\"attempts\": 4}}"), 0);
    assert_int_equal(cfpt_handle(h, "visit.no_answer", "{\"notes\": \"No reply.\"}"),
                     CF_PLUGIN_OK);
    assert_int_equal(json_integer_value(cfpt_get(h, "visit.attempts")), 5);
    assert_string_equal(json_string_value(cfpt_get(h, "visit.last_attempt.by")), "officer");
    /* A refused result: nothing of it stays, not even the flags read first. */
    assert_int_equal(cfpt_handle(h, "visit.completed", "{\"advice_given\": true}"),
                     CF_PLUGIN_FAILED);
    assert_string_equal(cfpt_failure_field(h), "letter_issued");
    assert_null(cfpt_get(h, "visit.result"));
    assert_int_equal(cfpt_handle(h, "visit.no_answer", "{\"note\": \"typo\"}"),
                     CF_PLUGIN_FAILED);
    assert_string_equal(cfpt_failure_field(h), "note");
    assert_int_equal(json_integer_value(cfpt_get(h, "visit.attempts")), 5);
    /* Not the visit step's event: handle is never called with it. */
    assert_int_equal(cfpt_handle(h, "assessment.approved", NULL), CFPT_NOT_ACCEPTED);
    cfpt_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enter_records_the_route_once),
        cmocka_unit_test(test_callbacks_count_and_refuse),
        PF_TEST(test_no_answer_counts),
        PF_TEST(test_completed_without_letter),
        PF_TEST(test_result_flags_required),
        PF_TEST(test_concern_goes_to_enforcement),
    };

    return cmocka_run_group_tests_name("plugin_visit", tests, NULL, NULL);
}
