/*
 * Tests of the subscriber step: an installation address is recorded and
 * normalised (and becomes the case's address key); a billing address is
 * refused because it does not locate the equipment; no trace closes.
 */
#include "polit_fixture.h"

#include <string.h>

static void at_subscriber(pf *f, const char *reference, char id[64])
{
    json_t *r = pf_referral(reference);

    pf_refer_ok(f, r, id);
    json_decref(r);
    pf_to_subscriber(f, id);
}

static void test_resolved_normalises(void **state)
{
    pf *f = *state;
    char id[64];

    at_subscriber(f, "SUB-1", id);
    pf_act_ok(f, id, PF_ANALYST, "subscriber.resolved",
              "{\"name\": \"Alex Example\", \"address\": {\"line1\": \"  12, "
              "example  road \", \"town\": \"Exampletown\", \"postcode\": "
              "\"zz11aa\"}, \"address_type\": \"installation\", "
              "\"provider_reference\": \"EXP-1\"}");
    pf_assert_state(f, id, "checks");
    pf_assert_data_str(f, id, "subscriber.address.postcode", "ZZ1 1AA");
    pf_assert_data_str(f, id, "subscriber.address.key", "ZZ11AA|12 EXAMPLE ROAD");
    pf_assert_data_str(f, id, "subscriber.by", PF_ANALYST);
}

static void test_billing_refused(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    at_subscriber(f, "SUB-2", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "subscriber.resolved",
                      "{\"name\": \"Alex Example\", \"address\": {\"line1\": "
                      "\"1 Example Road\", \"town\": \"Exampletown\", "
                      "\"postcode\": \"ZZ1 1AA\"}, \"address_type\": \"billing\", "
                      "\"provider_reference\": \"EXP-2\"}", &err),
               &err, CF_EINVALID, "address_type", "billing address");
    pf_assert_state(f, id, "subscriber");
}

static void test_address_rules(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    at_subscriber(f, "SUB-3", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "subscriber.resolved",
                      "{\"name\": \"Alex Example\", \"address\": {\"line1\": "
                      "\"1 Example Road\", \"town\": \"Exampletown\", "
                      "\"postcode\": \"12345\"}, \"address_type\": "
                      "\"installation\", \"provider_reference\": \"P\"}", &err),
               &err, CF_EINVALID, "address.postcode", "not a UK postcode");
    pf_refused(pf_act(f, id, PF_OFFICER, "subscriber.resolved",
                      "{\"name\": \"Alex Example\", \"address\": {\"line1\": "
                      "\"1 Example Road\", \"postcode\": \"ZZ1 1AA\"}, "
                      "\"address_type\": \"installation\", "
                      "\"provider_reference\": \"P\"}", &err),
               &err, CF_EINVALID, "address.town", "required");
    pf_refused(pf_act(f, id, PF_OFFICER, "subscriber.resolved",
                      "{\"name\": \"Alex Example\", \"address\": {\"line1\": "
                      "\"1 Example Road\", \"town\": \"T\", \"postcode\": "
                      "\"ZZ1 1AA\"}, \"address_type\": \"installation\"}", &err),
               &err, CF_EINVALID, "provider_reference", "required");
    pf_refused(pf_act(f, id, PF_SUPERVISOR, "subscriber.no_trace",
                      "{\"reason\": \"r\"}", &err),
               &err, CF_EDENIED, NULL, NULL);
    pf_assert_state(f, id, "subscriber");
}

static void test_no_trace_closes(void **state)
{
    pf *f = *state;
    char id[64];

    at_subscriber(f, "SUB-4", id);
    pf_act_ok(f, id, PF_OFFICER, "subscriber.no_trace",
              "{\"reason\": \"Provider holds no record for that time.\"}");
    pf_assert_state(f, id, "closed");
    pf_assert_data_str(f, id, "outcome", "no_trace");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_resolved_normalises),
        PF_TEST(test_billing_refused),
        PF_TEST(test_address_rules),
        PF_TEST(test_no_trace_closes),
    };

    return cmocka_run_group_tests_name("plugin_subscriber", tests, NULL, NULL);
}
