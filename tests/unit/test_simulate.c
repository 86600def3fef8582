/*
 * Tests of cf_workflow_simulate's replay and comparison: recorded cases
 * whose histories hold every kind of input (a referral whose intake plugin
 * emits `accepted`, acts, a visit whose warning step emits `produced`, a
 * repeat referral whose escalation step emits `escalated`, a monitoring
 * timer fired by tick) come out unchanged through the very workflow that
 * recorded them: the rows a plugin emitted are told from the inputs, and
 * the replay runs the same code. A candidate with a shorter monitoring
 * period changes only the timer of the case still monitored; one whose
 * event data rules refuse a recorded act reports that act refused with the
 * live message and stops that case there.
 */
#include "polit_fixture.h"
#include "ops/ops.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const LETTER =
    "{\"advice_given\": true, \"letter_issued\": true,"
    " \"security_advice\": true, \"signposted\": true}";
static const char *const NO_LETTER =
    "{\"advice_given\": true, \"letter_issued\": false,"
    " \"security_advice\": true, \"signposted\": true}";

/* Cases in every kind of history; ids of the monitored and escalated ones. */
static void record(pf *f, char closed[64], char monitored[64], char escalated[64])
{
    char again[64];
    pf_new_visit_case(f, "SIM-CLOSED", closed);
    pf_act_ok(f, closed, PF_OFFICER, "visit.completed", LETTER);
    pf_assert_state(f, closed, "monitoring");
    pf_new_visit_case(f, "SIM-ESC", escalated);
    pf_act_ok(f, escalated, PF_OFFICER, "visit.completed", NO_LETTER);
    /* the same account again: a repeat referral escalates the case */
    json_t *r = pf_referral("SIM-ESC");
    json_object_set_new(r, "reference", json_string("SIM-ESC-AGAIN"));
    pf_refer_ok(f, r, again);
    json_decref(r);
    pf_assert_state(f, escalated, "enforcement");
    pf_clock(f, f->now + 400 * PF_DAY);
    pf_tick(f);
    pf_assert_state(f, closed, "closed");
    pf_clock(f, f->now + PF_DAY);
    pf_new_visit_case(f, "SIM-MON", monitored);
    pf_act_ok(f, monitored, PF_OFFICER, "visit.completed", NO_LETTER);
}

static json_t *simulate(pf *f, const char *path)
{
    cf_simulate_options o;
    cf_error err;
    json_t *out = NULL;
    memset(&o, 0, sizeof o);
    o.path = path;
    cf_engine_set_actor(f->engine, PF_ADMIN, "simulation test");
    int rc = cf_workflow_simulate(f->engine, &o, &out, &err);
    if (rc != 0)
        fail_msg("cf_workflow_simulate: %s", err.message);
    return out;
}

static json_int_t summary(const json_t *out, const char *what)
{
    static const json_t *shown;
    if (out != shown && json_array_size(json_object_get(out, "cases"))) {
        char *text = json_dumps(json_object_get(out, "cases"), JSON_COMPACT);
        print_message("simulate: %.1500s\n", text ? text : "?"); /* for a failure's diagnosis */
        free(text);
        shown = out;
    }
    return json_integer_value(json_object_get(json_object_get(out, "summary"), what));
}

/* The only diverging case's divergences (borrowed). */
static json_t *only_case(json_t *out, const char *id)
{
    json_t *cases = json_object_get(out, "cases");
    assert_int_equal(json_array_size(cases), 1);
    json_t *c = json_array_get(cases, 0);
    assert_string_equal(json_string_value(json_object_get(c, "id")), id);
    return json_object_get(c, "divergences");
}

static void test_same_workflow_changes_nothing(void **state)
{
    pf *f = *state;
    char closed[64], monitored[64], escalated[64], wf[512];
    record(f, closed, monitored, escalated);
    snprintf(wf, sizeof wf, "%s/workflows/polit.lua",
             getenv("CASEFLOW_SRCDIR") ? getenv("CASEFLOW_SRCDIR") : ".");
    json_t *out = simulate(f, wf);
    assert_int_equal(summary(out, "replayed"), 4);
    assert_int_equal(summary(out, "unchanged"), 4);
    assert_int_equal(json_array_size(json_object_get(out, "cases")), 0);
    json_decref(out);
}

static void test_shorter_monitoring_changes_the_timer(void **state)
{
    pf *f = *state;
    char closed[64], monitored[64], escalated[64], wf[512];
    record(f, closed, monitored, escalated);
    cf_error err;
    assert_int_equal(pf_deploy_edited(f, "local monitoring_days = 365",
                                      "local monitoring_days = 180", &err),
                     0);
    snprintf(wf, sizeof wf, "%s/wf/polit.lua", f->dir);
    json_t *out = simulate(f, wf);
    assert_int_equal(summary(out, "replayed"), 4);
    assert_int_equal(summary(out, "other"), 2);
    assert_int_equal(summary(out, "route"), 0);
    /* the closed case: the timer the tick fired was due 185 days earlier */
    json_t *cases = json_object_get(out, "cases");
    assert_int_equal(json_array_size(cases), 2);
    json_t *cd = json_array_get(cases, 0);
    assert_string_equal(json_string_value(json_object_get(cd, "id")), closed);
    json_t *ct = json_array_get(json_object_get(cd, "divergences"), 0);
    assert_string_equal(json_string_value(json_object_get(ct, "kind")), "timer");
    assert_string_equal(json_string_value(json_object_get(ct, "event")), "monitoring.expired");
    char was[32], now[32];
    time_t w = (time_t)(PF_NOW + 365 * PF_DAY), n = (time_t)(PF_NOW + 180 * PF_DAY);
    strftime(was, sizeof was, "%Y-%m-%dT%H:%M:%SZ", gmtime(&w));
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&n));
    assert_string_equal(json_string_value(json_object_get(ct, "recorded")), was);
    assert_string_equal(json_string_value(json_object_get(ct, "candidate")), now);
    json_array_remove(cases, 0);
    json_t *d = only_case(out, monitored);
    assert_int_equal(json_array_size(d), 1);
    json_t *t = json_array_get(d, 0);
    assert_string_equal(json_string_value(json_object_get(t, "kind")), "timer");
    assert_string_equal(json_string_value(json_object_get(t, "message")),
                        "timer monitoring.expired");
    /* entered on day 401 after PF_NOW: 365 days recorded, 180 now */
    char want[32];
    time_t at = (time_t)(PF_NOW + 401 * PF_DAY + 180 * PF_DAY);
    strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
    assert_string_equal(json_string_value(json_object_get(t, "candidate")), want);
    json_decref(out);
}

static void test_refused_act_stops_the_case(void **state)
{
    pf *f = *state;
    char closed[64], monitored[64], escalated[64], wf[512];
    record(f, closed, monitored, escalated);
    cf_error err;
    /* visit.completed now requires a field nobody sent */
    assert_int_equal(pf_deploy_edited(f, "            notes = optional_text,\n          },",
                                      "            notes = optional_text,\n"
                                      "            leaflet = \"string\",\n          },",
                                      &err),
                     0);
    snprintf(wf, sizeof wf, "%s/wf/polit.lua", f->dir);
    json_t *out = simulate(f, wf);
    assert_int_equal(summary(out, "replayed"), 4);
    assert_int_equal(summary(out, "refused"), 3); /* every visited case; not the new one */
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(out, "cases"), i, c) {
        json_t *d = json_object_get(c, "divergences");
        json_t *last = json_array_get(d, json_array_size(d) - 1);
        assert_string_equal(json_string_value(json_object_get(last, "kind")), "refused");
        assert_string_equal(json_string_value(json_object_get(last, "event")), "visit.completed");
        assert_non_null(strstr(json_string_value(json_object_get(last, "message")), "leaflet"));
        assert_string_equal(json_string_value(json_object_get(c, "verdict")), "refused");
    }
    json_decref(out);
}

static json_t *file_text(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/workflows/%s",
             getenv("CASEFLOW_SRCDIR") ? getenv("CASEFLOW_SRCDIR") : ".", rel);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return json_string(buf);
}

static void test_repeat_referral_not_taken(void **state)
{
    pf *f = *state;
    char closed[64], monitored[64], escalated[64], wf[512];
    record(f, closed, monitored, escalated);
    cf_error err;
    /* monitoring no longer takes repeat referrals: correlation only links */
    assert_int_equal(pf_deploy_edited(f, "        [\"monitoring.expired\"] = { to = \"closed\", "
                                         "system = true },\n        repeat_referral = { to = "
                                         "\"escalation\", system = true },\n",
                                      "        [\"monitoring.expired\"] = { to = \"closed\", "
                                      "system = true },\n",
                                      &err),
                     0);
    snprintf(wf, sizeof wf, "%s/wf/polit.lua", f->dir);
    json_t *out = simulate(f, wf);
    assert_int_equal(summary(out, "route"), 1);
    assert_int_equal(summary(out, "refused"), 0);
    json_t *d = only_case(out, escalated);
    json_t *first = json_array_get(d, 0);
    assert_string_equal(json_string_value(json_object_get(first, "kind")), "route");
    assert_string_equal(json_string_value(json_object_get(first, "event")), "repeat_referral");
    assert_string_equal(json_string_value(json_object_get(first, "recorded")),
                        "escalation>enforcement");
    assert_true(json_is_null(json_object_get(first, "candidate")));
    assert_non_null(strstr(json_string_value(json_object_get(first, "message")),
                           "not escalated: state monitoring"));
    json_decref(out);
}

/* workflow.simulate, as caseflowd runs it: the candidate in the body. */
static void test_the_operation(void **state)
{
    pf *f = *state;
    char closed[64], monitored[64], escalated[64];
    record(f, closed, monitored, escalated);
    const cf_op *op = cf_op_match("POST", "/v1/workflows/simulate", NULL, NULL);
    assert_non_null(op);
    assert_string_equal(op->name, "workflow.simulate");
    json_t *body = json_pack("{s:s, s:{s:o, s:o, s:o}, s:[s]}", "main", "polit.lua", "files",
                             "polit.lua", file_text("polit.lua"), "policy.lua",
                             file_text("policy.lua"), "letters/warning.txt",
                             file_text("letters/warning.txt"), "cases", monitored);
    json_t *args = json_object(), *out = NULL;
    cf_engine_set_actor(f->engine, PF_ADMIN, "simulation over HTTP");
    cf_op_ctx ctx = {.engine = f->engine, .args = args, .body = body, .expect_revision = -1};
    cf_error err;
    int rc = op->run(&ctx, &out, NULL, &err);
    if (rc != 0)
        fail_msg("workflow.simulate: %s", err.message);
    assert_int_equal(summary(out, "replayed"), 1);
    assert_int_equal(summary(out, "unchanged"), 1);
    assert_string_equal(json_string_value(json_object_get(out, "file")), "polit.lua");
    json_decref(out);
    /* an unknown case: CF_ENOTFOUND naming it */
    json_object_set_new(body, "cases", json_pack("[s]", "CF-999999"));
    assert_int_equal(op->run(&ctx, &out, NULL, &err), CF_ENOTFOUND);
    assert_non_null(strstr(err.message, "CF-999999"));
    json_decref(body);
    json_decref(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_same_workflow_changes_nothing),
        PF_TEST(test_shorter_monitoring_changes_the_timer),
        PF_TEST(test_refused_act_stops_the_case),
        PF_TEST(test_repeat_referral_not_taken),
        PF_TEST(test_the_operation),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("simulate", tests, NULL, NULL);
}
