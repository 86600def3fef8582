/*
 * SHA-256 for the engine: the chain's record hashes, payload digests, case
 * digests and the schema digest. On x86-64 processors with the SHA
 * extensions the blocks are compressed with them (several times faster
 * than portable code on the case rows every act hashes, and nothing to
 * load at start); elsewhere, and under tools that do not emulate them,
 * libsodium computes it. The digest is SHA-256 either way
 * (tests/unit/test_util.c compares the two on every length to 1 KiB and
 * on every split of a buffer).
 */
#ifndef CF_HASH_H
#define CF_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

typedef struct cf_sha256 {
    int fast; /* the processor's SHA extensions, or libsodium */
    union {
        struct {
            uint32_t h[8];
            uint64_t bytes;     /* hashed so far */
            unsigned char buf[64];
            size_t used;        /* bytes waiting in buf */
        } x;
        crypto_hash_sha256_state sodium;
    } u;
} cf_sha256;

/* Start a digest. Nothing to release. */
void cf_sha256_init(cf_sha256 *h);
void cf_sha256_update(cf_sha256 *h, const void *data, size_t len);
/* The digest into out (32 bytes). */
void cf_sha256_final(cf_sha256 *h, unsigned char out[32]);
/* One buffer's digest. */
void cf_sha256_bytes(const void *data, size_t len, unsigned char out[32]);
/* The head of one field as the row digests write it (store/tables.c, integrity.c):
 * type, then v in decimal, then ':' ("i-42:", "t5:", "n0:"). Returns its
 * length (at most 22). */
size_t cf_hash_field_head(char out[24], char type, int64_t v);
/* Does this process use the processor's SHA extensions? (For tests and
 * benchmarks.) cf_sha256_force_portable(true) makes it use libsodium from
 * the next cf_sha256_init on. */
bool cf_sha256_accelerated(void);
void cf_sha256_force_portable(bool on);

#endif
