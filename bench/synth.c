/* The benchmarks' synthetic referrals: see synth.h. */
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>

#include "synth.h"

/* xorshift64*: the synthetic data is the same on every run. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

static void hex(char *out, size_t nhex, uint64_t *s)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < nhex; i++)
        out[i] = digits[rng_next(s) & 15];
    out[nhex] = '\0';
}

/* One synthetic referral as a JSON object text (synth.h). */
int bench_make_referral(char *buf, size_t cap, const char *prefix, uint64_t i)
{
    static const char *offsets[] = {"+01:00", "+00:00", "Z", "-05:00"};
    static const char *types[] = {"upload", "download", "login"};
    static const char *freq[] = {"once", "occasional", "frequent"};
    uint64_t s = (i + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ UINT64_C(0xC0FFEE);
    char md5[33], acct[13];
    char ip[64];
    hex(md5, 32, &s);
    hex(acct, 12, &s);
    switch (i % 7) {
    case 0: snprintf(ip, sizeof ip, "192.0.2.%u", (unsigned)(1 + i % 254)); break;
    case 1:
    case 2: snprintf(ip, sizeof ip, "198.51.100.%u", (unsigned)(1 + i % 254)); break;
    case 3: snprintf(ip, sizeof ip, "2001:db8:%x::%x", (unsigned)(i & 0xffff), (unsigned)(i % 97 + 1)); break;
    default: snprintf(ip, sizeof ip, "203.0.113.%u", (unsigned)(1 + i % 254)); break;
    }
    const int eligible = (i % 2) == 0;
    const char *off = offsets[i % 4];
    unsigned day = (unsigned)(1 + i % 28), hh = (unsigned)(i % 24), mm = (unsigned)(i % 60);
    int n = snprintf(buf, cap,
        "{\"source\":\"NCA-CEOP\",\"reference\":\"%s-%010" PRIu64 "\","
        "\"received_at\":\"2026-11-02T09:15:00Z\",\"priority\":false,"
        "\"ip_events\":[{\"ip\":\"%s\",\"port\":%u,\"type\":\"%s\","
        "\"at\":\"2026-10-%02uT%02u:%02u:05%s\",\"proxy\":false}],"
        "\"accounts\":[{\"provider\":\"bench-provider\",\"id\":\"u-%s\"}],"
        "\"files\":[{\"hash_type\":\"md5\",\"hash\":\"%s\",\"category\":\"%s\"}],"
        "\"frequency\":\"%s\"}",
        prefix, i, ip, (unsigned)(1024 + i % 60000), types[i % 3], day, hh, mm, off,
        acct, md5, eligible ? "C" : (i % 3 ? "B" : "A"), eligible ? "once" : freq[1 + i % 2]);
    return (n > 0 && (size_t)n < cap) ? 0 : -1;
}

/* One case's life on the visit route (synth.h). */
int bench_lifecycle(cf_engine *e, const char *id, uint64_t i, bench_act_fn act_as,
                    cf_error *err)
{
    char name[64], line1[64], postcode[16], ref[32];
    snprintf(name, sizeof name, "Bench Person %" PRIu64, i);
    snprintf(line1, sizeof line1, "%" PRIu64 " Bench Road", i);
    snprintf(postcode, sizeof postcode, "ZZ%u %u%c%c", (unsigned)(1 + i % 99), (unsigned)(i / 99 % 10),
             'A' + (int)(i / 990 % 26), 'A' + (int)(i / 25740 % 26));
    snprintf(ref, sizeof ref, "OCDA-B-%" PRIu64, i);
    int rc;
    if ((rc = act_as(e, "bench.officer", id, "authorisation.applied",
                     json_pack("{s:s,s:s}", "necessity", "benchmark", "proportionality",
                               "subscriber details only"), err)))
        return rc;
    if ((rc = act_as(e, "bench.authoriser", id, "authorisation.granted",
                     json_pack("{s:s,s:s,s:b}", "authority", "OCDA", "reference", ref, "urgent", 0),
                     err)))
        return rc;
    if ((rc = act_as(e, "bench.officer", id, "subscriber.resolved",
                     json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s}", "name", name, "address", "line1",
                               line1, "town", "Benchtown", "postcode", postcode, "address_type",
                               "installation", "provider_reference", ref),
                     err)))
        return rc;
    if ((rc = act_as(e, "bench.analyst", id, "checks.completed",
                     json_pack("{s:[{s:s,s:s}],s:b,s:b,s:b,s:b,s:b,s:b}", "occupants", "name", name,
                               "dob", "1980-01-01", "prior_history", 0, "registered_sex_offender", 0,
                               "children_in_household", 0, "access_to_children_at_work", 0,
                               "distribution_signs", 0, "address_corroborated", 1),
                     err)))
        return rc;
    if ((rc = act_as(e, "bench.supervisor", id, "assessment.approved", json_object(), err)))
        return rc;
    return act_as(e, "bench.officer", id, "visit.completed",
                  json_pack("{s:b,s:b,s:b,s:b}", "advice_given", 1, "letter_issued", (int)(i % 2),
                            "security_advice", 1, "signposted", 1),
                  err);
}
