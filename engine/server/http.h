/*
 * caseflowd's HTTP side, on libmicrohttpd: one daemon on the TCP address
 * (TLS when configured) and one on the Unix socket, each serving every
 * connection on its own thread (a handler may block on the writer). A
 * request goes through three steps, all on its connection's thread:
 *  - begin (http.c → request.c): route it, know the caller, check the
 *    body's announced type and size — before reading any of it;
 *  - the body arrives (kept up to --max-body);
 *  - finish: the operation runs on the writer, the answer is sent.
 * When it completes, one log line and the request metrics are written.
 * The files: http.c (listeners, daemons, the request's life, the log),
 * request.c (operations of the ops table), builtin.c (/healthz, /readyz,
 * /metrics, /v1/openapi.yaml) and respond.c (every response).
 */
#ifndef CFD_HTTP_H
#define CFD_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "auth.h"
#include "config.h"
#include "metrics.h"
#include "ops/ops.h"
#include "util.h"
#include "readers.h"
#include "writer.h"

typedef struct cfd_http cfd_http;

/*
 * Listen as cfg says and start serving, with the writer, authenticator and
 * metrics given (all borrowed; they must outlive the service). Returns 0
 * and *out, or an exit status after a one-line message on stderr.
 */
int cfd_http_start(const struct cfd_config *cfg, cfd_writer *w, cfd_readers *rd, cfd_auth *a,
                   cfd_metrics *m, cfd_http **out);
/* Stop accepting connections; requests that arrive on open connections
 * from now on are answered 503 (shutting down). */
void cfd_http_quiesce(cfd_http *h);
/* Wait until no request is in progress, or timeout_ms elapsed. 0, or -1
 * on timeout. */
int cfd_http_drain(cfd_http *h, long timeout_ms);
/* Close every connection and listener, remove the Unix socket, free h.
 * NULL does nothing. */
void cfd_http_stop(cfd_http *h);

/* ---- shared by http.c, request.c, builtin.c and respond.c ---------------------------- */

/* A listener: which daemon a request came through. */
struct cfd_side {
    cfd_http *http;
    bool is_unix, tls;
};

struct cfd_http {
    const struct cfd_config *cfg;
    cfd_writer *writer;
    cfd_readers *readers; /* or NULL: reads run on the writer */
    cfd_auth *auth;
    cfd_metrics *metrics;
    struct cfd_side tcp_side, unix_side;
    struct MHD_Daemon *tcp, *unix_daemon;
    int tcp_fd, unix_fd;
    bool unix_bound; /* the socket file is ours to remove */
    char *tls_cert, *tls_key, *tls_ca; /* PEM text */
    char *openapi;                     /* the API document, or NULL */
    size_t openapi_len;
    atomic_int inflight;
    atomic_bool stopping;
};

struct cfd_req;
typedef enum MHD_Result (*cfd_builtin_fn)(struct cfd_req *r);

/* One request, from its first call to its completion. */
struct cfd_req {
    cfd_http *http;
    const struct cfd_side *side;
    struct MHD_Connection *conn;
    char method[16];
    char *path;               /* the raw path (percent-encoded, no query) */
    bool begun;               /* the handler's first call came */
    bool checked;             /* routed, caller known, body announced checked */
    const char *route;        /* the template, for logs and metrics (static) */
    const cf_op *op;          /* or NULL */
    cfd_builtin_fn builtin;   /* or NULL */
    json_t *params;           /* path parameters (new reference) */
    double start;             /* cfd_now_s() at the first call */
    char *body;               /* up to --max-body bytes */
    size_t len, cap;
    bool too_large;
    struct cfd_credentials cred; /* what the caller presented; its user once resolved */
    char client[64];          /* the address failed attempts count against */
    /* The response: its status once queued, and extra headers. */
    int status;
    const char *code;         /* the error's engine name, for the log */
    char allow[64];           /* 405 */
    int retry_after;          /* 429, 503 */
    bool www_authenticate;    /* 401 */
    /* A refusal before the operation, of a caller with credentials: its
     * audit record is written when the request completes. */
    cf_error refusal;
    bool refusal_due;
    bool body_unread; /* refused before the body was read: record after answering */
};

/* request.c */
enum MHD_Result cfd_req_begin(struct cfd_req *r, const char *url);
enum MHD_Result cfd_req_finish(struct cfd_req *r);
/* The request completed (answered, or its client gone): write the record
 * of a refusal that is due. Blocks on the writer. */
void cfd_req_done(struct cfd_req *r);

/* builtin.c: the handler of a built-in route, or NULL. */
cfd_builtin_fn cfd_builtin_find(const char *url, const char **route);
/* Load the API document cfg names (or the source tree's, for the build
 * tree) into h->openapi; a missing file only makes the route answer 404. */
void cfd_builtin_load_openapi(cfd_http *h);

/* respond.c: queue a response on r's connection (status, headers, body). */
enum MHD_Result cfd_respond_json(struct cfd_req *r, int status, const json_t *body);
enum MHD_Result cfd_respond_text(struct cfd_req *r, int status, const char *type,
                                 const char *text, size_t len);
/* A web page (text/html, taken: freed here) that may load nothing and run
 * nothing (Content-Security-Policy). */
enum MHD_Result cfd_respond_html(struct cfd_req *r, int status, char *html);
/* An RFC 9457 problem: {type, title, status, detail, code, field}. */
enum MHD_Result cfd_respond_problem(struct cfd_req *r, int status, int code, const char *field,
                                    const char *fmt, ...) CFD_PRINTF(5, 6);
/* The problem for an engine error, with cf_op_http_status's status. */
enum MHD_Result cfd_respond_error(struct cfd_req *r, const cf_error *err);

#endif
