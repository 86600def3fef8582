/*
 * Who is calling caseflowd. Three ways, each naming a caseflow user whose
 * roles the engine then checks at every command:
 *  - a bearer token (`Authorization: Bearer TOKEN`), checked by
 *    cf_token_authenticate;
 *  - a TLS client certificate, verified against --tls-client-ca, whose
 *    subject CN names the user;
 *  - on the Unix socket, the peer's uid (SO_PEERCRED), through the users'
 *    OS-account bindings (cf_user_for_uid).
 * What the caller presents is read before the body, on the connection's
 * thread (the header's form, the certificate, the uid); what it names is
 * resolved on the writer's engine inside the request's own job, so that a
 * request costs one trip through the writer, and a refused token's audit
 * record commits with the group. Failed attempts are counted per client
 * address in memory: after CFD_AUTH_MAX_FAILURES within CFD_AUTH_WINDOW
 * seconds the address is refused (429) until the window ends.
 */
#ifndef CFD_AUTH_H
#define CFD_AUTH_H

#include <stdbool.h>

#include <gnutls/gnutls.h>

#include <caseflow/caseflow.h>

#define CFD_AUTH_MAX_FAILURES 10
#define CFD_AUTH_WINDOW 60

/* What a request presented. Zero-initialised: nothing. */
struct cfd_credentials {
    enum { CFD_CRED_NONE, CFD_CRED_TOKEN, CFD_CRED_CERT, CFD_CRED_PEER } kind;
    const char *token; /* CFD_CRED_TOKEN: borrowed from the request's header */
    long uid;          /* CFD_CRED_PEER */
    bool resolved;     /* user holds the caller */
    char user[64];
};

/* Read the Authorization header value (borrowed): a well-formed bearer
 * token sets c (kind token, not yet resolved). CF_EDENIED (field "token")
 * for anything else. */
int cfd_auth_bearer(const char *header, struct cfd_credentials *c, cf_error *err);

/* The peer of Unix socket fd (SO_PEERCRED): kind peer, its uid, not yet
 * resolved. CF_EDENIED (field "peer") when the kernel does not say. */
int cfd_auth_peer(int fd, struct cfd_credentials *c, cf_error *err);

/* The verified client certificate of TLS session s: kind cert, resolved,
 * its CN as the user; 0 also when the client sent none (c unchanged).
 * CF_EDENIED (field "certificate") when it sent one that does not verify
 * or has no usable CN. */
int cfd_auth_client_cert(gnutls_session_t s, struct cfd_credentials *c, cf_error *err);

/* On the writer's engine, inside a job: the user a token or a peer names
 * (c->user, resolved). CF_EDENIED (field "token" or "peer") when there is
 * none (cf_token_authenticate audits the refusal of a known token), or
 * the engine's error. Nothing to do for other kinds. */
int cfd_auth_resolve(cf_engine *e, struct cfd_credentials *c, cf_error *err);

/* The failed attempts per address. Thread-safe. */
typedef struct cfd_auth cfd_auth;

/* A new, empty table; NULL when out of memory. cfd_auth_free(NULL) does
 * nothing. */
cfd_auth *cfd_auth_new(void);
void cfd_auth_free(cfd_auth *a);
/* 0 when client (an address, borrowed) may try; else the seconds until it
 * may (for Retry-After). */
int cfd_auth_blocked(cfd_auth *a, const char *client);
/* Count a failed attempt of client. */
void cfd_auth_failed(cfd_auth *a, const char *client);

#endif
