/*
 * Tests of the referral step (intake): the referral contract of DESIGN.md as
 * the engine applies it through workflows/polit.lua — what is accepted and
 * normalised, what is refused with which field and rule, and that a refused
 * referral leaves no case behind.
 */
#include "polit_fixture.h"

#include <string.h>

/* Refer r and require a refusal naming field and rule, with no case made. */
static void refused(pf *f, json_t *r, const char *field, const char *rule)
{
    cf_error err;
    json_t *list = NULL;
    int rc = pf_refer(f, r, NULL, &err);

    json_decref(r);
    pf_refused(rc, &err, CF_EINVALID, field, rule);
    assert_int_equal(cf_case_list(f->engine, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

static json_t *first_event(json_t *r)
{
    return json_array_get(json_object_get(r, "ip_events"), 0);
}

static void test_accepts_and_normalises(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *r = pf_referral("REF-1"), *c;

    pf_refer_ok(f, r, id);
    json_decref(r);
    c = pf_case(f, id);
    assert_string_equal(json_string_value(json_object_get(c, "state")),
                        "authorisation");
    /* Kept as sent, normalised beside it. */
    assert_string_equal(json_string_value(pf_data(c, "ip_events.0.at")),
                        "2026-10-30T21:14:05+01:00");
    assert_string_equal(json_string_value(pf_data(c, "ip_events.0.at_utc")),
                        "2026-10-30T20:14:05Z");
    assert_int_equal(json_integer_value(pf_data(c, "ip_events.0.offset_minutes")),
                     60);
    assert_int_equal(json_integer_value(pf_data(c, "ip_events.0.port")), 51812);
    assert_true(json_is_false(pf_data(c, "ip_events.0.proxy")));
    assert_string_equal(json_string_value(pf_data(c, "referral.reference")),
                        "REF-1");
    assert_int_equal(json_integer_value(pf_data(c, "intake.categories.C")), 1);
    assert_int_equal(json_integer_value(pf_data(c, "intake.categories.A")), 0);
    assert_string_equal(json_string_value(pf_data(c, "intake.highest_category")),
                        "C");
    assert_string_equal(json_string_value(pf_data(c, "intake.frequency")),
                        "once");
    json_decref(c);
}

static void test_ipv6_canonical(void **state)
{
    pf *f = *state;
    char id[64];
    json_t *r = pf_referral("REF-V6");

    json_object_set_new(first_event(r), "ip",
                        json_string("2001:DB8:0:0:0:0:0:1"));
    json_object_set_new(first_event(r), "at",
                        json_string("2026-10-30T16:14:05.250-05:00"));
    pf_refer_ok(f, r, id);
    json_decref(r);
    pf_assert_data_str(f, id, "ip_events.0.ip", "2001:db8::1");
    pf_assert_data_str(f, id, "ip_events.0.at_utc", "2026-10-30T21:14:05Z");
}

static void test_idempotent(void **state)
{
    pf *f = *state;
    char id1[64], id2[64];
    json_t *r = pf_referral("REF-TWICE"), *list = NULL;
    cf_error err;

    pf_refer_ok(f, r, id1);
    pf_refer_ok(f, r, id2);
    json_decref(r);
    assert_string_equal(id1, id2);
    assert_int_equal(cf_case_list(f->engine, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
}

static void test_no_time_zone(void **state)
{
    json_t *r = pf_referral("REF-TZ");

    json_object_set_new(first_event(r), "at", json_string("2026-10-30T21:14:05"));
    refused(*state, r, "ip_events[0].at", "no time zone");
}

static void test_unknown_offset(void **state)
{
    json_t *r = pf_referral("REF-TZ2");

    json_object_set_new(first_event(r), "at",
                        json_string("2026-10-30T21:14:05-00:00"));
    refused(*state, r, "ip_events[0].at", "no time zone");
}

static void test_not_a_time(void **state)
{
    json_t *r = pf_referral("REF-T");

    json_object_set_new(first_event(r), "at", json_string("yesterday"));
    refused(*state, r, "ip_events[0].at", "RFC 3339");
}

static void test_event_after_received(void **state)
{
    json_t *r = pf_referral("REF-LATE");

    /* A wrong year: the event is dated after the referral arrived. */
    json_object_set_new(first_event(r), "at",
                        json_string("2027-10-30T21:14:05+01:00"));
    refused(*state, r, "ip_events[0].at", "after received_at");
}

static void test_bad_ip(void **state)
{
    json_t *r = pf_referral("REF-IP");

    json_object_set_new(first_event(r), "ip", json_string("203.0.113.300"));
    refused(*state, r, "ip_events[0].ip", "not an IPv4 or IPv6 address");
}

static void test_bad_port(void **state)
{
    json_t *r = pf_referral("REF-PORT");

    json_object_set_new(first_event(r), "port", json_integer(70000));
    refused(*state, r, "ip_events[0].port", "between 0 and 65535");
}

static void test_proxy_not_boolean(void **state)
{
    json_t *r = pf_referral("REF-PROXY");

    json_object_set_new(first_event(r), "proxy", json_string("no"));
    refused(*state, r, "ip_events[0].proxy", "true or false");
}

static void test_required_fields(void **state)
{
    json_t *r = pf_referral("REF-REQ");

    json_object_del(r, "received_at");
    refused(*state, r, "received_at", "required");
    r = pf_referral("REF-REQ2");
    json_object_set_new(r, "ip_events", json_array());
    refused(*state, r, "ip_events", "must not be empty");
    r = pf_referral("REF-REQ3");
    json_object_del(first_event(r), "ip");
    refused(*state, r, "ip_events[0].ip", "required");
}

static void test_files(void **state)
{
    json_t *r = pf_referral("REF-F1");
    json_t *file = json_array_get(json_object_get(r, "files"), 0);

    json_object_set_new(file, "hash", json_string("9e107d9d"));
    refused(*state, r, "files[0].hash", "32 hex digits");
    r = pf_referral("REF-F2");
    file = json_array_get(json_object_get(r, "files"), 0);
    json_object_set_new(file, "category", json_string("D"));
    refused(*state, r, "files[0].category", "must be A, B or C");
    r = pf_referral("REF-F3");
    file = json_array_get(json_object_get(r, "files"), 0);
    json_object_set_new(file, "hash_type", json_string("crc32"));
    refused(*state, r, "files[0].hash_type", "md5");
}

static void test_accounts(void **state)
{
    json_t *r = pf_referral("REF-A1");
    json_t *acc = json_array_get(json_object_get(r, "accounts"), 0);

    json_object_set_new(acc, "id", json_string("   "));
    refused(*state, r, "accounts[0].id", "must not be empty");
}

static void test_unknown_field(void **state)
{
    json_t *r = pf_referral("REF-U");

    json_object_set_new(r, "recieved_at", json_string("2026-11-02T09:15:00Z"));
    refused(*state, r, "recieved_at", "unknown field");
}

static void test_frequency(void **state)
{
    json_t *r = pf_referral("REF-FREQ");

    json_object_set_new(r, "frequency", json_string("daily"));
    refused(*state, r, "frequency", "once, occasional or frequent");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_accepts_and_normalises),
        PF_TEST(test_ipv6_canonical),
        PF_TEST(test_idempotent),
        PF_TEST(test_no_time_zone),
        PF_TEST(test_unknown_offset),
        PF_TEST(test_not_a_time),
        PF_TEST(test_event_after_received),
        PF_TEST(test_bad_ip),
        PF_TEST(test_bad_port),
        PF_TEST(test_proxy_not_boolean),
        PF_TEST(test_required_fields),
        PF_TEST(test_files),
        PF_TEST(test_accounts),
        PF_TEST(test_unknown_field),
        PF_TEST(test_frequency),
    };

    return cmocka_run_group_tests_name("plugin_referral", tests, NULL, NULL);
}
