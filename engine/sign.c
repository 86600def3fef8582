/*
 * Ed25519 signing for audit checkpoints. A checkpoint signs the text
 *
 *   caseflow-checkpoint-v1\n<store_id>\n<signed_seq>\n<head>\n<at>\n
 *
 * where head is the audit chain's hash at record signed_seq, so anyone with
 * the public key can check with any Ed25519 tool that the chain up to that
 * record is the one the engine wrote (docs/audit.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sign.h"

#define SK_TAG "caseflow-ed25519-secret-v1 "

static int write_file(const char *path, const char *text, mode_t mode, cf_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return cf_err_set(err, errno == EEXIST ? CF_EINVALID : CF_EIO, "key",
                          "cannot create key file %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int bad = w < 0 || (size_t)w != n || fsync(fd) != 0;
    int e = errno;
    close(fd);
    if (bad) {
        unlink(path);
        return cf_err_set(err, CF_EIO, "key", "cannot write key file %s: %s", path,
                          strerror(e));
    }
    return 0;
}

int cf_sign_keygen(const char *path, char pk_hex[65], cf_error *err)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char skhex[2 * sizeof sk + 1], text[sizeof SK_TAG + sizeof skhex + 2], pub[512];
    crypto_sign_keypair(pk, sk);
    sodium_bin2hex(skhex, sizeof skhex, sk, sizeof sk);
    sodium_bin2hex(pk_hex, 65, pk, sizeof pk);
    snprintf(text, sizeof text, "%s%s\n", SK_TAG, skhex);
    int rc = write_file(path, text, 0600, err);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(skhex, sizeof skhex);
    sodium_memzero(text, sizeof text);
    if (rc)
        return rc;
    snprintf(pub, sizeof pub, "%s.pub", path);
    char line[80];
    snprintf(line, sizeof line, "%s\n", pk_hex);
    unlink(pub); /* a stale public key must never stand beside a new secret */
    if ((rc = write_file(pub, line, 0644, err)))
        unlink(path);
    return rc;
}

int cf_sign_keydir(const char *dir, cf_error *err)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return cf_err_set(err, errno == ENOENT ? CF_ENOTFOUND : CF_EIO, "key",
                          "cannot create the key directory %s: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cf_err_set(err, CF_EINVALID, "key", "%s is not a directory", dir);
    /* Whoever may write the directory may replace the key in it. */
    if ((sb.st_mode & 022) || (sb.st_uid != geteuid() && sb.st_uid != 0))
        return cf_err_set(err, CF_EDENIED, "key",
                          "the key directory %s may be written by others (it must belong to "
                          "you or root and not be group- or world-writable)",
                          dir);
    return 0;
}

int cf_sign_load_secret(const char *path, unsigned char sk[CF_SIGN_SK_BYTES], cf_error *err)
{
    /* Checked on the open descriptor, so the file checked is the file read. */
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cf_err_set(err, errno == ENOENT ? CF_ENOTFOUND : CF_EDENIED, "key",
                          "audit signing key %s: %s", path, strerror(errno));
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0)
        rc = cf_err_set(err, CF_EIO, "key", "audit signing key %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        rc = cf_err_set(err, CF_EINVALID, "key", "audit signing key %s is not a regular file",
                        path);
    else if (sb.st_uid != geteuid())
        rc = cf_err_set(err, CF_EDENIED, "key",
                        "audit signing key %s belongs to another user (uid %lu)", path,
                        (unsigned long)sb.st_uid);
    else if (sb.st_mode & 077)
        rc = cf_err_set(err, CF_EDENIED, "key",
                        "audit signing key %s is readable by others (chmod 600 it)", path);
    else if (sb.st_size > 4096)
        rc = cf_err_set(err, CF_EINVALID, "key", "%s is not a caseflow signing key", path);
    char text[4097];
    ssize_t len = 0;
    if (!rc) {
        len = read(fd, text, sizeof text - 1);
        if (len < 0)
            rc = cf_err_set(err, CF_EIO, "key", "cannot read %s: %s", path, strerror(errno));
    }
    close(fd);
    if (rc)
        return rc;
    size_t tag = strlen(SK_TAG);
    size_t got = 0;
    if ((size_t)len < tag + 2 * CF_SIGN_SK_BYTES || strncmp(text, SK_TAG, tag) != 0 ||
        sodium_hex2bin(sk, CF_SIGN_SK_BYTES, text + tag, 2 * CF_SIGN_SK_BYTES, NULL, &got,
                       NULL) != 0 ||
        got != CF_SIGN_SK_BYTES)
        rc = cf_err_set(err, CF_EINVALID, "key", "%s is not a caseflow signing key", path);
    sodium_memzero(text, sizeof text);
    return rc;
}

void cf_sign_public_of(const unsigned char sk[CF_SIGN_SK_BYTES], char pk_hex[65])
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    sodium_bin2hex(pk_hex, 65, pk, sizeof pk);
}

int cf_sign_load_public(const char *path, char pk_hex[65], cf_error *err)
{
    char *text;
    size_t len;
    int rc = cf_read_file(path, &text, &len, err);
    if (rc)
        return rc;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    size_t got = 0;
    if (len < 64 || sodium_hex2bin(pk, sizeof pk, text, 64, NULL, &got, NULL) != 0 ||
        got != sizeof pk) {
        free(text);
        return cf_err_set(err, CF_EINVALID, "key", "%s is not a caseflow public key", path);
    }
    sodium_bin2hex(pk_hex, 65, pk, sizeof pk);
    free(text);
    return 0;
}

int cf_sign_checkpoint_message(char *out, size_t n, const char *store_id,
                               int64_t signed_seq, const char *head, int64_t at)
{
    int w = snprintf(out, n, "caseflow-checkpoint-v1\n%s\n%lld\n%s\n%lld\n", store_id,
                     (long long)signed_seq, head, (long long)at);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

void cf_sign_hex(const unsigned char sk[CF_SIGN_SK_BYTES], const char *msg, char sig_hex[129])
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), sk);
    sodium_bin2hex(sig_hex, 129, sig, sizeof sig);
}

bool cf_sign_verify_hex(const char *pk_hex, const char *msg, const char *sig_hex)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
    size_t a = 0, b = 0;
    if (!pk_hex || !sig_hex || !msg ||
        sodium_hex2bin(pk, sizeof pk, pk_hex, strlen(pk_hex), NULL, &a, NULL) != 0 ||
        a != sizeof pk ||
        sodium_hex2bin(sig, sizeof sig, sig_hex, strlen(sig_hex), NULL, &b, NULL) != 0 ||
        b != sizeof sig)
        return false;
    return crypto_sign_verify_detached(sig, (const unsigned char *)msg, strlen(msg), pk) == 0;
}
