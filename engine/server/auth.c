/*
 * Who is calling (auth.h): the header, the certificate and the peer's uid
 * are read on the connection's thread; tokens and uids are resolved to
 * users on the writer's engine, inside the request's job. Failed attempts
 * are counted per address in a small table: a linear scan over the
 * addresses that failed within the last window, which stays short unless
 * someone is guessing tokens, and then the table's bound keeps it cheap.
 */
#define _GNU_SOURCE /* struct ucred */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <gnutls/x509.h>

#include "auth.h"
#include "util.h"

#define MAX_CLIENTS 4096
#define MAX_TOKEN 512

struct attempts {
    char client[64];
    int64_t start; /* seconds, monotonic: the window's start */
    int count;
};

struct cfd_auth {
    pthread_mutex_t lock;
    struct attempts *slots;
    size_t n;
};

cfd_auth *cfd_auth_new(void)
{
    cfd_auth *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->slots = calloc(MAX_CLIENTS, sizeof *a->slots);
    if (!a->slots || pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a->slots);
        free(a);
        return NULL;
    }
    return a;
}

void cfd_auth_free(cfd_auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a->slots);
    free(a);
}

/* ---- failed attempts ---------------------------------------------------------------- */

static int64_t now_s(void)
{
    return cfd_now_ms() / 1000;
}

/* Drop the windows that ended (under the lock). */
static void purge(cfd_auth *a, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < a->n; i++)
        if (now - a->slots[i].start < CFD_AUTH_WINDOW)
            a->slots[kept++] = a->slots[i];
    a->n = kept;
}

static struct attempts *find(cfd_auth *a, const char *client)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->slots[i].client, client) == 0)
            return &a->slots[i];
    return NULL;
}

int cfd_auth_blocked(cfd_auth *a, const char *client)
{
    int64_t now = now_s();
    int wait = 0;
    pthread_mutex_lock(&a->lock);
    struct attempts *s = find(a, client);
    if (s && now - s->start < CFD_AUTH_WINDOW && s->count >= CFD_AUTH_MAX_FAILURES)
        wait = (int)(s->start + CFD_AUTH_WINDOW - now);
    pthread_mutex_unlock(&a->lock);
    return wait;
}

void cfd_auth_failed(cfd_auth *a, const char *client)
{
    int64_t now = now_s();
    pthread_mutex_lock(&a->lock);
    struct attempts *s = find(a, client);
    if (s && now - s->start >= CFD_AUTH_WINDOW) {
        s->start = now;
        s->count = 0;
    }
    if (!s) {
        if (a->n == MAX_CLIENTS)
            purge(a, now);
        if (a->n == MAX_CLIENTS) { /* all recent: replace the oldest window */
            size_t oldest = 0;
            for (size_t i = 1; i < a->n; i++)
                if (a->slots[i].start < a->slots[oldest].start)
                    oldest = i;
            a->slots[oldest] = a->slots[--a->n];
        }
        s = &a->slots[a->n++];
        snprintf(s->client, sizeof s->client, "%s", client);
        s->start = now;
        s->count = 0;
    }
    s->count++;
    pthread_mutex_unlock(&a->lock);
}

/* ---- bearer tokens and peers ------------------------------------------------------ */

/* RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool b64token(const char *t)
{
    size_t n = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-._~+/");
    if (n == 0)
        return false;
    n += strspn(t + n, "=");
    return t[n] == '\0' && n <= MAX_TOKEN;
}

int cfd_auth_bearer(const char *header, struct cfd_credentials *c, cf_error *err)
{
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return cfd_err_set(err, CF_EDENIED, "token", "Authorization: expected 'Bearer TOKEN'");
    const char *token = header + 7;
    token += strspn(token, " ");
    if (!b64token(token))
        return cfd_err_set(err, CF_EDENIED, "token", "Authorization: malformed bearer token");
    c->kind = CFD_CRED_TOKEN;
    c->token = token;
    c->resolved = false;
    return 0;
}

int cfd_auth_peer(int fd, struct cfd_credentials *c, cf_error *err)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return cfd_err_set(err, CF_EDENIED, "peer", "cannot read the peer's credentials");
    c->kind = CFD_CRED_PEER;
    c->uid = (long)cred.uid;
    c->resolved = false;
    return 0;
}

int cfd_auth_resolve(cf_engine *e, struct cfd_credentials *c, cf_error *err)
{
    int rc = 0;
    if (c->resolved || c->kind == CFD_CRED_NONE)
        return 0;
    if (c->kind == CFD_CRED_TOKEN)
        rc = cf_token_authenticate(e, c->token, c->user, err);
    else if (c->kind == CFD_CRED_PEER) {
        /* The user's bindings are checked against the peer's account. */
        rc = cf_user_for_uid(e, c->uid, c->user, err);
        if (!rc)
            cf_engine_set_peer(e, c->uid);
    }
    c->resolved = rc == 0;
    return rc;
}

/* ---- client certificates --------------------------------------------------------------- */

static bool printable(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

int cfd_auth_client_cert(gnutls_session_t s, struct cfd_credentials *c, cf_error *err)
{
    char *user = c->user;
    unsigned n = 0, status = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (!certs || n == 0)
        return 0;
    if (gnutls_certificate_verify_peers2(s, &status) < 0 || status != 0)
        return cfd_err_set(err, CF_EDENIED, "certificate",
                           "the client certificate does not verify");
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return cfd_err_set(err, CF_ENOMEM, "certificate", "out of memory");
    size_t size = 64;
    int rc = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
    if (rc >= 0)
        rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, user, &size);
    gnutls_x509_crt_deinit(crt);
    if (rc < 0 || !printable(user)) {
        user[0] = '\0';
        return cfd_err_set(err, CF_EDENIED, "certificate",
                           "the client certificate has no usable common name (CN)");
    }
    c->kind = CFD_CRED_CERT;
    c->resolved = true;
    return 0;
}
