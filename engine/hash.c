/*
 * SHA-256 (FIPS 180-4) with the x86 SHA extensions when the processor has
 * them, libsodium's portable code otherwise (see hash.h).
 *
 * The accelerated path keeps the eight state words as the instructions
 * want them, in two registers (A B E F and C D G H); each sha256rnds2 does
 * two rounds, sha256msg1/msg2 extend the message schedule four words at a
 * time. Only the block function differs from the portable code: buffering
 * and padding are the standard's.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "hash.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CF_SHA_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static bool have_sha;
static pthread_once_t probed = PTHREAD_ONCE_INIT;
static bool forced_portable;

#ifdef CF_SHA_X86
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

/* SHA (CPUID.7.0:EBX[29]) with SSSE3 and SSE4.1 (CPUID.1:ECX[9], [19]). */
static bool cpu_has_sha(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19)))
        return false;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) != 0;
}

/* Compress n 64-byte blocks into h. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
blocks_x86(uint32_t h[8], const unsigned char *p, size_t n)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    /* h[0..3] = A B C D, h[4..7] = E F G H, into ABEF and CDGH */
    __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    for (; n; n--, p += 64) {
        __m128i save_abef = abef, save_cdgh = cdgh, w[4];
        for (int g = 0; g < 16; g++) {
            __m128i *x = &w[g & 3];
            if (g < 4) {
                *x = _mm_shuffle_epi8(
                    _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)), swap);
            } else {
                /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at a time */
                __m128i t = _mm_sha256msg1_epu32(*x, w[(g + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                *x = _mm_sha256msg2_epu32(t, w[(g + 3) & 3]);
            }
            __m128i wk = _mm_add_epi32(
                *x, _mm_loadu_si128((const __m128i *)(const void *)&K[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, save_abef);
        cdgh = _mm_add_epi32(cdgh, save_cdgh);
    }
    /* back to A B C D, E F G H */
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    hgfe = _mm_alignr_epi8(dchg, feba, 8);
    _mm_storeu_si128((__m128i *)(void *)&h[0], dcba);
    _mm_storeu_si128((__m128i *)(void *)&h[4], hgfe);
}
#endif

static void probe(void)
{
#ifdef CF_SHA_X86
    have_sha = cpu_has_sha();
#endif
}

bool cf_sha256_accelerated(void)
{
    pthread_once(&probed, probe);
    return have_sha && !forced_portable;
}

void cf_sha256_force_portable(bool on)
{
    forced_portable = on;
}

void cf_sha256_init(cf_sha256 *h)
{
    h->fast = cf_sha256_accelerated();
    if (!h->fast) {
        crypto_hash_sha256_init(&h->u.sodium);
        return;
    }
    memcpy(h->u.x.h, iv, sizeof iv);
    h->u.x.bytes = 0;
    h->u.x.used = 0;
}

#ifdef CF_SHA_X86
static void absorb(cf_sha256 *h, const unsigned char *p, size_t len)
{
    h->u.x.bytes += len;
    if (h->u.x.used) {
        size_t take = 64 - h->u.x.used < len ? 64 - h->u.x.used : len;
        memcpy(h->u.x.buf + h->u.x.used, p, take);
        h->u.x.used += take;
        p += take;
        len -= take;
        if (h->u.x.used < 64)
            return;
        blocks_x86(h->u.x.h, h->u.x.buf, 1);
        h->u.x.used = 0;
    }
    if (len >= 64) {
        blocks_x86(h->u.x.h, p, len / 64);
        p += len - len % 64;
        len %= 64;
    }
    memcpy(h->u.x.buf, p, len);
    h->u.x.used = len;
}
#endif

void cf_sha256_update(cf_sha256 *h, const void *data, size_t len)
{
    if (!len)
        return;
#ifdef CF_SHA_X86
    if (h->fast) {
        absorb(h, data, len);
        return;
    }
#endif
    crypto_hash_sha256_update(&h->u.sodium, data, len);
}

void cf_sha256_final(cf_sha256 *h, unsigned char out[32])
{
#ifdef CF_SHA_X86
    if (h->fast) {
        /* 0x80, zeros to 56 mod 64, the length in bits, big-endian */
        uint64_t bits = h->u.x.bytes * 8;
        unsigned char pad[72] = {0x80};
        size_t n = (h->u.x.used < 56 ? 56 : 120) - h->u.x.used;
        for (int i = 0; i < 8; i++)
            pad[n + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
        absorb(h, pad, n + 8);
        for (int i = 0; i < 8; i++) {
            out[4 * i] = (unsigned char)(h->u.x.h[i] >> 24);
            out[4 * i + 1] = (unsigned char)(h->u.x.h[i] >> 16);
            out[4 * i + 2] = (unsigned char)(h->u.x.h[i] >> 8);
            out[4 * i + 3] = (unsigned char)h->u.x.h[i];
        }
        return;
    }
#endif
    crypto_hash_sha256_final(&h->u.sodium, out);
}

size_t cf_hash_field_head(char out[24], char type, int64_t v)
{
    char digits[20];
    size_t n = 0, o = 0;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    out[o++] = type;
    if (v < 0)
        out[o++] = '-';
    while (n)
        out[o++] = digits[--n];
    out[o++] = ':';
    return o;
}

void cf_sha256_bytes(const void *data, size_t len, unsigned char out[32])
{
    cf_sha256 h;
    cf_sha256_init(&h);
    cf_sha256_update(&h, data, len);
    cf_sha256_final(&h, out);
}
