/*
 * Ed25519 keys for signed audit checkpoints (libsodium). The secret key file
 * is created 0600 in a key directory apart from the store, and never leaves
 * the machine; the public key file beside it (<key>.pub) is what an
 * inspector is given. The store records the public key in its first audit
 * record, and the engine refuses any secret key whose public half differs.
 */
#ifndef CF_SIGN_H
#define CF_SIGN_H

#include <sodium.h>

#include "internal.h"

#define CF_SIGN_SK_BYTES crypto_sign_SECRETKEYBYTES

/* Create a key pair at path (secret, 0600) and path.pub (public, hex). Fails
 * with CF_EINVALID when path already exists: keys are never overwritten. */
int cf_sign_keygen(const char *path, char pk_hex[65], cf_error *err);
/* Make dir (0700) for a key pair, or accept an existing one that only its
 * owner (us or root) may write: whoever may write it may replace the key. */
int cf_sign_keydir(const char *dir, cf_error *err);
/* Read a secret key file: a regular file of ours that others may not read
 * (checked on the descriptor that is read). CF_ENOTFOUND, CF_EDENIED,
 * CF_EINVALID. */
int cf_sign_load_secret(const char *path, unsigned char sk[CF_SIGN_SK_BYTES],
                        cf_error *err);
/* The public half of a secret key, as hex. */
void cf_sign_public_of(const unsigned char sk[CF_SIGN_SK_BYTES], char pk_hex[65]);
/* Read a public key file (64 hex characters). */
int cf_sign_load_public(const char *path, char pk_hex[65], cf_error *err);
/* The text a checkpoint signs. */
int cf_sign_checkpoint_message(char *out, size_t n, const char *store_id,
                               int64_t signed_seq, const char *head, int64_t at);
/* Detached signature of msg as hex (129 bytes with NUL). */
void cf_sign_hex(const unsigned char sk[CF_SIGN_SK_BYTES], const char *msg,
                 char sig_hex[129]);
/* Does sig_hex sign msg under pk_hex? */
bool cf_sign_verify_hex(const char *pk_hex, const char *msg, const char *sig_hex);

#endif
