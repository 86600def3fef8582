/*
 * Tests of escalation: a new case whose account, resolved address or
 * occupant meets a case in monitoring (or awaiting a visit) sends that case
 * to enforcement through the escalation step, which records the link, opens
 * an officer task and sets a short deadline. The same IP address alone
 * never links two cases; the same file hash alone links them for
 * intelligence and never escalates (the same image, not the same person).
 */
#include "polit_fixture.h"

#include <string.h>

static const char *const LETTER =
    "{\"advice_given\": true, \"letter_issued\": true,"
    " \"security_advice\": true, \"signposted\": true}";

static void monitored(pf *f, const char *reference, char id[64])
{
    pf_new_visit_case(f, reference, id);
    pf_act_ok(f, id, PF_OFFICER, "visit.completed", LETTER);
    pf_assert_state(f, id, "monitoring");
}

static bool linked(json_t *c, const char *other)
{
    json_t *links = pf_data(c, "links"), *v;
    size_t i;

    json_array_foreach(links, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), other) == 0)
            return true;
    return false;
}

/* The monitored case `a` was escalated by case `b` through key kind. */
static void escalated(pf *f, const char *a, const char *b, const char *from,
                      const char *kind)
{
    json_t *ca = pf_case(f, a), *cb = pf_case(f, b);

    assert_string_equal(json_string_value(json_object_get(ca, "state")),
                        "enforcement");
    assert_string_equal(json_string_value(pf_data(ca, "escalation.from")), from);
    assert_string_equal(json_string_value(pf_data(ca, "escalation.case")), b);
    assert_string_equal(json_string_value(pf_data(ca, "escalation.key.kind")),
                        kind);
    /* The route the case took is still the visit it was given. */
    assert_string_equal(json_string_value(pf_data(ca, "route.decision")),
                        "visit");
    assert_true(linked(ca, b));
    assert_true(linked(cb, a));
    assert_non_null(json_object_get(ca, "deadline_at"));
    json_decref(ca);
    json_decref(cb);
    assert_true(pf_has_task(f, a, "escalation"));
    /* What the engine wrote to the other case keeps every rule of the chain. */
    json_t *v = NULL;
    cf_error err;
    if (cf_audit_verify(f->engine, &v, &err) != 0)
        fail_msg("audit verify after an escalation: %s", err.message);
    json_decref(v);
}

static void test_account_escalates(void **state)
{
    pf *f = *state;
    char a[64], b[64];
    json_t *r = pf_referral("ESC-B1");
    json_t *acc = json_array_get(json_object_get(r, "accounts"), 0);

    monitored(f, "ESC-A1", a);
    /* The same account spelt with other capitals. */
    json_object_set_new(acc, "provider", json_string("Example-Provider"));
    json_object_set_new(acc, "id", json_string("USER-ESC-A1"));
    pf_refer_ok(f, r, b);
    json_decref(r);
    pf_assert_state(f, b, "authorisation");
    escalated(f, a, b, "monitoring", "account");
}

/* Two unrelated low-risk referrals carrying one widely seen image: the
 * second links the first for intelligence, and the warned case stays in
 * monitoring (it escalated to enforcement before issue 7). */
static void test_hash_links_but_never_escalates(void **state)
{
    pf *f = *state;
    char a[64], b[64];
    json_t *ra = pf_referral("ESC-A2"), *rb = pf_referral("ESC-B2");
    json_t *fa = json_array_get(json_object_get(ra, "files"), 0);
    json_t *fb = json_array_get(json_object_get(rb, "files"), 0);

    json_object_set(fb, "hash", json_object_get(fa, "hash"));
    json_decref(ra);
    monitored(f, "ESC-A2", a);
    pf_refer_ok(f, rb, b);
    json_decref(rb);
    pf_assert_state(f, a, "monitoring");
    pf_assert_state(f, b, "authorisation");
    json_t *cb = pf_case(f, b);
    assert_true(linked(cb, a));
    json_decref(cb);
    assert_false(pf_has_task(f, a, "escalation"));
}

static void test_address_escalates(void **state)
{
    pf *f = *state;
    char a[64], b[64], line1[128], resolved[512];
    json_t *ca, *r = pf_referral("ESC-B3");

    monitored(f, "ESC-A3", a);
    ca = pf_case(f, a);
    /* Same door, written differently. */
    snprintf(line1, sizeof line1, "%s",
             json_string_value(pf_data(ca, "subscriber.address.line1")));
    json_decref(ca);
    line1[strcspn(line1, " ")] = '\0';
    snprintf(resolved, sizeof resolved,
             "{\"name\": \"Jo Example\", \"address\": {\"line1\": \"%s, "
             "EXAMPLE ROAD\", \"town\": \"Exampletown\", \"postcode\": "
             "\"zz11aa\"}, \"address_type\": \"installation\", "
             "\"provider_reference\": \"EXP-B3\"}",
             line1);
    pf_refer_ok(f, r, b);
    json_decref(r);
    pf_assert_state(f, a, "monitoring");
    pf_to_subscriber(f, b);
    pf_act_ok(f, b, PF_OFFICER, "subscriber.resolved", resolved);
    escalated(f, a, b, "monitoring", "address");
}

static void test_occupant_escalates_visit(void **state)
{
    pf *f = *state;
    char a[64], b[64];
    json_t *r = pf_referral("ESC-B4");

    pf_new_routed_case(f, "ESC-A4",
                       "{\"occupants\": [{\"name\": \"Sam Example\", \"dob\": "
                       "\"1990-05-05\"}], \"prior_history\": false, "
                       "\"registered_sex_offender\": false, "
                       "\"children_in_household\": false, "
                       "\"access_to_children_at_work\": false, "
                       "\"distribution_signs\": false, "
                       "\"address_corroborated\": true}",
                       NULL, a);
    pf_assert_state(f, a, "visit");
    pf_refer_ok(f, r, b);
    json_decref(r);
    pf_to_checks(f, b);
    pf_act_ok(f, b, PF_ANALYST, "checks.completed",
              "{\"occupants\": [{\"name\": \"  sam   EXAMPLE\", \"dob\": "
              "\"1990-05-05\"}], \"prior_history\": true, "
              "\"registered_sex_offender\": false, "
              "\"children_in_household\": false, "
              "\"access_to_children_at_work\": false, "
              "\"distribution_signs\": false, \"address_corroborated\": true}");
    escalated(f, a, b, "visit", "occupant");
}

static void test_same_ip_alone_never_links(void **state)
{
    pf *f = *state;
    char a[64], b[64];
    json_t *r = pf_referral("ESC-B5"), *cb;

    monitored(f, "ESC-A5", a);
    /* Same IP, port and time as case A; different account and hash. */
    pf_refer_ok(f, r, b);
    json_decref(r);
    pf_assert_state(f, a, "monitoring");
    cb = pf_case(f, b);
    assert_false(linked(cb, a));
    json_decref(cb);
}

static void test_repeat_referral_is_engine_only(void **state)
{
    pf *f = *state;
    char a[64];
    cf_error err;

    monitored(f, "ESC-A6", a);
    pf_refused(pf_act(f, a, PF_SUPERVISOR, "repeat_referral",
                      "{\"case\": \"x\"}", &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_assert_state(f, a, "monitoring");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_account_escalates),
        PF_TEST(test_hash_links_but_never_escalates),
        PF_TEST(test_address_escalates),
        PF_TEST(test_occupant_escalates_visit),
        PF_TEST(test_same_ip_alone_never_links),
        PF_TEST(test_repeat_referral_is_engine_only),
    };

    return cmocka_run_group_tests_name("plugin_escalation", tests, NULL, NULL);
}
