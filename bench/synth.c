/* The benchmarks' synthetic referrals: see synth.h. */
#include <inttypes.h>
#include <stdio.h>

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
