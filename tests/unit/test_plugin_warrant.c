/*
 * Tests of the warrant step: the expiry timer takes a lapsed warrant back to
 * enforcement with the lapse recorded, and cannot fire once the warrant is
 * executed; execution records arrest or voluntary interview and the seized
 * devices by unique exhibit number.
 */
#include "polit_fixture.h"

#include <string.h>

static const char *const PRIOR_HISTORY =
    "{\"occupants\": [], \"prior_history\": true,"
    " \"registered_sex_offender\": false, \"children_in_household\": false,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": true}";
static const char *const ISSUED =
    "{\"court\": \"Exampletown Magistrates' Court\","
    " \"issued_at\": \"2026-11-02T15:30:00Z\"}";
/* 2027-02-02T15:30:00Z, three months after ISSUED. */
#define EXPIRY INT64_C(1801582200)

static void with_warrant(pf *f, const char *reference, char id[64])
{
    pf_new_routed_case(f, reference, PRIOR_HISTORY, NULL, id);
    pf_act_ok(f, id, PF_OFFICER, "warrant.issued", ISSUED);
    pf_assert_state(f, id, "warrant");
}

static void test_lapse(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    with_warrant(f, "WAR-1", id);
    pf_clock(f, EXPIRY - 1);
    pf_tick(f);
    pf_assert_state(f, id, "warrant");
    pf_clock(f, EXPIRY);
    pf_tick(f);
    pf_assert_state(f, id, "enforcement");
    c = pf_case(f, id);
    assert_null(pf_data(c, "warrant"));
    assert_string_equal(json_string_value(pf_data(c, "warrant_lapses.0.court")),
                        "Exampletown Magistrates' Court");
    assert_string_equal(json_string_value(pf_data(c, "warrant_lapses.0.lapsed_at")),
                        "2027-02-02T15:30:00Z");
    json_decref(c);
    /* A fresh warrant can be sought. */
    pf_act_ok(f, id, PF_OFFICER, "warrant.issued",
              "{\"court\": \"Exampletown Magistrates' Court\","
              " \"issued_at\": \"2027-02-02T10:00:00Z\"}");
    pf_assert_state(f, id, "warrant");
}

static void test_executed(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *c;

    with_warrant(f, "WAR-2", id);
    pf_act_ok(f, id, PF_OFFICER, "warrant.executed",
              "{\"arrested\": true, \"voluntary_interview\": false,"
              " \"devices\": [{\"exhibit\": \"EX/1\", \"type\": \"laptop\"},"
              " {\"exhibit\": \"EX/2\", \"type\": \"phone\"}]}");
    pf_assert_state(f, id, "forensics");
    c = pf_case(f, id);
    assert_true(json_is_true(pf_data(c, "execution.arrested")));
    assert_string_equal(json_string_value(pf_data(c, "execution.devices.1.exhibit")),
                        "EX/2");
    json_decref(c);
    /* The expiry timer went with the warrant state. */
    pf_clock(f, EXPIRY + PF_DAY);
    pf_tick(f);
    pf_assert_state(f, id, "forensics");
}

static void test_execution_rules(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    with_warrant(f, "WAR-3", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.executed",
                      "{\"arrested\": true, \"voluntary_interview\": true,"
                      " \"devices\": []}", &err),
               &err, CF_EINVALID, "voluntary_interview", "arrest");
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.executed",
                      "{\"arrested\": true, \"voluntary_interview\": false}", &err),
               &err, CF_EINVALID, "devices", "required");
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.executed",
                      "{\"arrested\": true, \"voluntary_interview\": false,"
                      " \"devices\": [{\"exhibit\": \"EX/1\", \"type\": \"laptop\"},"
                      " {\"exhibit\": \"EX/1\", \"type\": \"phone\"}]}", &err),
               &err, CF_EINVALID, "devices[1].exhibit", "duplicate");
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.executed",
                      "{\"arrested\": false, \"voluntary_interview\": true,"
                      " \"devices\": [{\"exhibit\": \"EX/1\"}]}", &err),
               &err, CF_EINVALID, "devices[0].type", "required");
    pf_refused(pf_act(f, id, PF_OFFICER, "warrant.expired", NULL, &err), &err,
               CF_EDENIED, NULL, NULL);
    pf_assert_state(f, id, "warrant");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_lapse),
        PF_TEST(test_executed),
        PF_TEST(test_execution_rules),
    };

    return cmocka_run_group_tests_name("plugin_warrant", tests, NULL, NULL);
}
