/*
 * The HTTP service's frame (http.h): the listening sockets (bound here, so
 * that an address in use or a Unix socket's mode is ours to handle), the
 * libmicrohttpd daemons on them, each request's life from its first call
 * to its completion, and the one log line per request: time, method,
 * route template (never the path itself: it carries ids), status,
 * milliseconds, user. Nothing of a request's content is ever logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"

#define TLS_FILE_MAX (1u << 20)

/* ---- a request's life ----------------------------------------------------------------- */

static void copy_method(char *dst, size_t size, const char *method)
{
    size_t i = 0;
    for (; method[i] && i + 1 < size; i++)
        dst[i] = method[i] > 0x20 && method[i] < 0x7f ? method[i] : '?';
    dst[i] = '\0';
}

/*
 * A request starts here, with its raw URI: libmicrohttpd hands the access
 * handler a percent-decoded path, in which "%2F" would be a '/', so the
 * route is matched on the raw path (cf_op_match decodes each segment).
 * The request object made here comes back as the handler's con_cls.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    const struct cfd_side *side = cls;
    struct cfd_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t n = strcspn(uri, "?");
    if (!(r->path = strndup(uri, n))) {
        free(r);
        return NULL;
    }
    r->http = side->http;
    r->side = side;
    r->conn = conn;
    r->start = cfd_now_s();
    r->route = "unmatched";
    snprintf(r->method, sizeof r->method, "-"); /* until the handler hears it */
    atomic_fetch_add(&side->http->inflight, 1);
    return r;
}

/* Keep up to --max-body bytes of the body; past that, only note it. */
static void req_append(struct cfd_req *r, const char *data, size_t n)
{
    size_t max = (size_t)r->http->cfg->max_body;
    if (r->too_large || r->len + n > max) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *grown = realloc(r->body, cap);
        if (!grown) { /* treat as too large: the answer is the same to the client */
            r->too_large = true;
            return;
        }
        r->body = grown;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
}

static bool body_announced(struct cfd_req *r)
{
    const char *length =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (length && strspn(length, "0") != strlen(length)) ||
           MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* Route the request and check what can be checked before the body. */
static enum MHD_Result begin(struct cfd_req *r)
{
    const char *url = r->path;
    r->checked = true;
    if (atomic_load(&r->http->stopping)) {
        r->retry_after = 5;
        return cfd_respond_problem(r, 503, CF_EIO, "service", "shutting down; retry later");
    }
    const char *route;
    cfd_builtin_fn fn = cfd_builtin_find(url, &route);
    if (!fn)
        return cfd_req_begin(r, url);
    r->route = route;
    r->builtin = fn;
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        snprintf(r->allow, sizeof r->allow, "GET, HEAD");
        return cfd_respond_problem(r, 405, CF_EUSAGE, "method", "%s is not allowed here; "
                                   "allowed: GET, HEAD", r->method);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    struct cfd_req *r = *con_cls;
    (void)cls;
    (void)conn;
    (void)url;
    (void)version;
    if (!r) /* no memory when it began */
        return MHD_NO;
    if (!r->begun) {
        /* Checked now only when a body is coming, to refuse it unread: an
         * answer queued this early makes libmicrohttpd close the
         * connection, which a request without a body need not cost. */
        r->begun = true;
        copy_method(r->method, sizeof r->method, method);
        return body_announced(r) ? begin(r) : MHD_YES;
    }
    if (r->status) { /* answered already: let the rest of the body go */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        req_append(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r->checked) {
        enum MHD_Result res = begin(r);
        if (res != MHD_YES || r->status)
            return res;
    }
    return cfd_req_finish(r);
}

/* The method as a metric label: the few there are, so that a client
 * making up methods cannot make up series. */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

/* The log line and the request metrics, then the request goes. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct cfd_req *r = *con_cls;
    (void)cls;
    (void)conn;
    (void)why;
    if (!r)
        return;
    cfd_req_done(r);
    double secs = cfd_now_s() - r->start;
    int status = r->status ? r->status : 499; /* the client went before an answer */
    char now[40], code[8];
    cfd_log_time(now, sizeof now);
    snprintf(code, sizeof code, "%d", status);
    fprintf(stderr, "%s %s %s %d %.1fms user=%s%s%s\n", now, r->method, r->route, status,
            secs * 1000, r->cred.resolved ? r->cred.user : "-", r->code ? " code=" : "",
            r->code ? r->code : "");
    cfd_metrics *m = r->http->metrics;
    cfd_metric_add(m, "caseflowd_requests_total", 1, "method", method_label(r->method),
                   "route", r->route, "status", code, NULL);
    cfd_metric_observe(m, "caseflowd_request_seconds", secs, "route", r->route, NULL);
    json_decref(r->params);
    free(r->path);
    free(r->body);
    atomic_fetch_sub(&r->http->inflight, 1);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) CFD_PRINTF(2, 0);

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char now[40], msg[300];
    (void)cls;
    cfd_log_time(now, sizeof now);
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    fprintf(stderr, "%s mhd %s\n", now, msg);
}

/* ---- listening ------------------------------------------------------------------------ */

static int fail(int status, const char *what, const char *detail)
{
    fprintf(stderr, "caseflowd: %s: %s\n", what, detail);
    return status;
}

static int listen_tcp(cfd_http *h, int *fd)
{
    const struct cfd_config *c = h->cfg;
    *fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (*fd < 0)
        return fail(CFD_EXIT_OSERR, "--listen", strerror(errno));
    setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (c->addr.ss_family == AF_INET6)
        setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(*fd, (const struct sockaddr *)&c->addr, c->addr_len) != 0 ||
        listen(*fd, 128) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", c->listen, strerror(errno));
        return fail(CFD_EXIT_OSERR, "--listen", msg);
    }
    return 0;
}

/* A socket file left by a killed caseflowd answers no one: remove it.
 * One that answers belongs to a running service: leave it. */
static int clear_stale_socket(const char *path, const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
    close(fd);
    return live ? -1 : unlink(path);
}

static int listen_unix(cfd_http *h, int *fd)
{
    const char *path = h->cfg->socket;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    char msg[300];
    if (clear_stale_socket(path, &sa) != 0) {
        snprintf(msg, sizeof msg, "%s: exists and is not a dead socket (another caseflowd?)",
                 path);
        return fail(CFD_EXIT_OSERR, "--socket", msg);
    }
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        return fail(CFD_EXIT_OSERR, "--socket", strerror(errno));
    mode_t old = umask(0117); /* made 0660 from the start, never wider */
    int rc = bind(*fd, (const struct sockaddr *)&sa, sizeof sa);
    umask(old);
    h->unix_bound = rc == 0;
    if (rc != 0 || chmod(path, 0660) != 0 || listen(*fd, 128) != 0) {
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        return fail(CFD_EXIT_OSERR, "--socket", msg);
    }
    return 0;
}

static int load_tls(cfd_http *h)
{
    const struct cfd_config *c = h->cfg;
    struct {
        const char *opt, *path;
        char **out;
    } files[] = {{"--tls-cert", c->tls_cert, &h->tls_cert},
                 {"--tls-key", c->tls_key, &h->tls_key},
                 {"--tls-client-ca", c->tls_client_ca, &h->tls_ca}};
    for (size_t i = 0; i < 3; i++) {
        if (!files[i].path)
            continue;
        if (!(*files[i].out = cfd_read_file(files[i].path, TLS_FILE_MAX, NULL))) {
            char msg[300];
            snprintf(msg, sizeof msg, "%s: %s", files[i].path, strerror(errno));
            return fail(CFD_EXIT_USAGE, files[i].opt, msg);
        }
    }
    if (c->tls_cert && !MHD_is_feature_supported(MHD_FEATURE_TLS))
        return fail(CFD_EXIT_USAGE, "--tls-cert", "this libmicrohttpd was built without TLS");
    return 0;
}

static struct MHD_Daemon *start_daemon(cfd_http *h, struct cfd_side *side, int fd)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opts[14];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_error,
                                        NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                        (intptr_t)h->cfg->workers, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)h->cfg->conn_timeout, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                        (intptr_t)on_completed, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, side};
    /* Refuse malformed requests (a NUL or bare CR in a header, spaces in a
     * header name) instead of repairing them. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
    if (side->tls) {
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
        if (h->tls_ca)
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_ca};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, side, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
}

/* Say where the service listens (the port, when 0 was asked for). */
static void log_listening(cfd_http *h)
{
    char now[40];
    cfd_log_time(now, sizeof now);
    if (h->tcp) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (getsockname(h->tcp_fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
                inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
                port = ntohs(a->sin_port);
            } else {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
                inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
                port = ntohs(a->sin6_port);
            }
        }
        fprintf(stderr, "%s caseflowd %s listening on %s://%s%s%s:%d\n", now, cf_version(),
                h->tcp_side.tls ? "https" : "http", ss.ss_family == AF_INET6 ? "[" : "",
                host, ss.ss_family == AF_INET6 ? "]" : "", port);
    }
    if (h->unix_daemon)
        fprintf(stderr, "%s caseflowd %s listening on unix:%s\n", now, cf_version(),
                h->cfg->socket);
}

/* ---- the service ---------------------------------------------------------------------- */

int cfd_http_start(const struct cfd_config *cfg, cfd_writer *w, cfd_readers *rd, cfd_auth *a,
                   cfd_metrics *m, cfd_http **out)
{
    *out = NULL;
    cfd_http *h = calloc(1, sizeof *h);
    if (!h)
        return fail(CFD_EXIT_SOFTWARE, "start", "out of memory");
    h->cfg = cfg;
    h->writer = w;
    h->readers = rd;
    h->auth = a;
    h->metrics = m;
    h->tcp_fd = h->unix_fd = -1;
    h->tcp_side = (struct cfd_side){h, false, cfg->tls_cert != NULL};
    h->unix_side = (struct cfd_side){h, true, false};
    atomic_init(&h->inflight, 0);
    atomic_init(&h->stopping, false);
    cfd_builtin_load_openapi(h);
    int rc = load_tls(h);
    if (!rc && cfg->listen && !(rc = listen_tcp(h, &h->tcp_fd)) &&
        !(h->tcp = start_daemon(h, &h->tcp_side, h->tcp_fd)))
        rc = fail(CFD_EXIT_OSERR, "--listen", "libmicrohttpd could not start");
    if (!rc && cfg->socket && !(rc = listen_unix(h, &h->unix_fd)) &&
        !(h->unix_daemon = start_daemon(h, &h->unix_side, h->unix_fd)))
        rc = fail(CFD_EXIT_OSERR, "--socket", "libmicrohttpd could not start");
    if (rc) {
        cfd_http_stop(h);
        return rc;
    }
    log_listening(h);
    *out = h;
    return 0;
}

void cfd_http_quiesce(cfd_http *h)
{
    atomic_store(&h->stopping, true);
    if (h->tcp)
        MHD_quiesce_daemon(h->tcp);
    if (h->unix_daemon)
        MHD_quiesce_daemon(h->unix_daemon);
}

int cfd_http_drain(cfd_http *h, long timeout_ms)
{
    int64_t until = cfd_now_ms() + timeout_ms;
    while (atomic_load(&h->inflight) > 0) {
        if (cfd_now_ms() >= until)
            return -1;
        usleep(10000);
    }
    return 0;
}

void cfd_http_stop(cfd_http *h)
{
    if (!h)
        return;
    /* Quiesced, a daemon leaves its listening socket to us: close each once. */
    cfd_http_quiesce(h);
    if (h->tcp)
        MHD_stop_daemon(h->tcp);
    if (h->unix_daemon)
        MHD_stop_daemon(h->unix_daemon);
    if (h->tcp_fd >= 0)
        close(h->tcp_fd);
    if (h->unix_fd >= 0)
        close(h->unix_fd);
    if (h->unix_bound)
        unlink(h->cfg->socket);
    free(h->tls_cert);
    free(h->tls_key);
    free(h->tls_ca);
    free(h->openapi);
    free(h);
}
