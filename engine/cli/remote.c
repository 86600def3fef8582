/*
 * The command through caseflowd (--server SOCKET|URL, or CASEFLOW_SERVER):
 * an operation of the shared table becomes the HTTP request its route
 * describes (path parameters in the path, the others in the query, the
 * body as JSON or NDJSON, the reason, If-Match and Idempotency-Key as
 * headers), sent with libcurl over the service's Unix socket (where the
 * service knows us by our OS account) or to its http(s) URL (with a bearer
 * token from CASEFLOW_TOKEN or --token-file). The answer is the operation's
 * result, or a problem+json whose "code" names the engine error, so that a
 * refusal exits with the same status as it would here. One connection is
 * kept for the run (a list's pages, a bulk intake's requests).
 */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The functions themselves, not the type-checking macros: they are called
 * through the pointers below. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "cli.h"
#include "ops/ops.h"

/*
 * libcurl is loaded when the command first talks to caseflowd, not linked:
 * with its TLS, HTTP/2, LDAP and Kerberos libraries it is some thirty
 * shared objects, whose loading cost every command about 10 ms (two thirds
 * of a `caseflow show`), used or not. The names below are the functions of
 * libcurl's ABI 4 (libcurl.so.4, libcurl 7 and 8).
 */
static struct {
    void *so;
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    char *(*easy_escape)(CURL *, const char *, int);
    void (*free)(void *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} lc;

/* Resolve name in the loaded libcurl into *fn (a function pointer of any
 * type, by its address and size); false when it is missing. */
static bool curl_sym(const char *name, void *fn, size_t size)
{
    void *p = dlsym(lc.so, name);
    if (!p || size != sizeof p)
        return false;
    memcpy(fn, &p, size);
    return true;
}

/* Load libcurl once: 0, or exit status 69 after a message. */
static int curl_load(void)
{
    static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so"};
    if (lc.so)
        return 0;
    char why[256] = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lc.so; i++)
        if (!(lc.so = dlopen(names[i], RTLD_NOW | RTLD_LOCAL)) && !why[0]) {
            const char *d = dlerror();
            snprintf(why, sizeof why, "%s", d ? d : "not found");
        }
#define SYM(field, name) curl_sym(name, &lc.field, sizeof lc.field)
    if (lc.so && SYM(global_init, "curl_global_init") &&
        SYM(global_cleanup, "curl_global_cleanup") && SYM(easy_init, "curl_easy_init") &&
        SYM(easy_cleanup, "curl_easy_cleanup") && SYM(easy_reset, "curl_easy_reset") &&
        SYM(easy_setopt, "curl_easy_setopt") && SYM(easy_perform, "curl_easy_perform") &&
        SYM(easy_getinfo, "curl_easy_getinfo") && SYM(easy_strerror, "curl_easy_strerror") &&
        SYM(easy_escape, "curl_easy_escape") && SYM(free, "curl_free") &&
        SYM(slist_append, "curl_slist_append") && SYM(slist_free_all, "curl_slist_free_all"))
        return 0;
#undef SYM
    if (lc.so) {
        snprintf(why, sizeof why, "%s", "not a libcurl of ABI 4");
        dlclose(lc.so);
        lc.so = NULL;
    }
    say("--server needs libcurl (libcurl.so.4, Debian package libcurl4): %s", why);
    return 69;
}

#define curl_global_init lc.global_init
#define curl_global_cleanup lc.global_cleanup
#define curl_easy_init lc.easy_init
#define curl_easy_cleanup lc.easy_cleanup
#define curl_easy_reset lc.easy_reset
#undef curl_easy_setopt /* curl.h's pass-through macros */
#undef curl_easy_getinfo
#define curl_easy_setopt lc.easy_setopt
#define curl_easy_perform lc.easy_perform
#define curl_easy_getinfo lc.easy_getinfo
#define curl_easy_strerror lc.easy_strerror
#define curl_easy_escape lc.easy_escape
#define curl_free lc.free
#define curl_slist_append lc.slist_append
#define curl_slist_free_all lc.slist_free_all

/* The most an answer may hold. */
#define REPLY_MAX (256u * 1024 * 1024)
/* The most a token file may hold. */
#define TOKEN_MAX 4096

struct remote {
    CURL *curl;
    char base[2048]; /* "http://localhost" on a socket, else the URL */
    bool socket;
    char *token; /* the bearer token, or NULL */
};

/* ---- settings ------------------------------------------------------------- */

static bool is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Text fit for an HTTP header value: printable ASCII, no line breaks. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* The token from --token-file (a file closed to others: its first line)
 * or CASEFLOW_TOKEN, into r->token; none is fine. 0 or an exit status. */
static int load_token(struct cli *c, struct remote *r)
{
    const char *env = getenv("CASEFLOW_TOKEN");
    char *text = NULL;
    size_t len = 0;
    if (c->token_file) {
        int st = read_small_file("token-file", c->token_file, TOKEN_MAX, true, &text, &len);
        if (st)
            return st;
        text[strcspn(text, "\r\n")] = '\0';
    } else if (env && env[0]) {
        text = strdup(env);
        if (!text) {
            say("out of memory");
            return 70;
        }
    } else {
        return 0;
    }
    if (!text[0] || !header_safe(text) || strchr(text, ' ')) {
        say("%s: not a token (one line of printable characters)",
            c->token_file ? "--token-file" : "CASEFLOW_TOKEN");
        free(text);
        return EXIT_DATAERR;
    }
    r->token = text;
    return 0;
}

/* The settings into r: 0, or an exit status after a message. */
static int settle(struct cli *c, struct remote *r)
{
    if (!c->server[0]) {
        say("--server: empty; give caseflowd's socket path or its http(s) URL");
        return EXIT_USAGE;
    }
    r->socket = !is_url(c->server);
    if (r->socket && strlen(c->server) >= 108) {
        say("--server: a socket path is at most 107 bytes");
        return EXIT_USAGE;
    }
    const char *base = r->socket ? "http://localhost" : c->server;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n >= sizeof r->base || !header_safe(base)) {
        say("--server: not a usable URL");
        return EXIT_USAGE;
    }
    memcpy(r->base, base, n);
    r->base[n] = '\0';
    int st = load_token(c, r);
    if (!st)
        st = curl_load();
    if (st)
        return st;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        say("cannot start the HTTP client (libcurl)");
        return 70;
    }
    if (!(r->curl = curl_easy_init())) {
        curl_global_cleanup();
        say("cannot start the HTTP client (libcurl)");
        return 70;
    }
    return 0;
}

int remote_check(struct cli *c)
{
    if (c->remote)
        return 0;
    struct remote *r = calloc(1, sizeof *r);
    if (!r) {
        say("out of memory");
        return 70;
    }
    c->remote = r;
    int st = settle(c, r);
    if (st)
        remote_close(c);
    return st;
}

void remote_close(struct cli *c)
{
    struct remote *r = c->remote;
    if (!r)
        return;
    if (r->curl) {
        curl_easy_cleanup(r->curl);
        curl_global_cleanup();
    }
    if (r->token) {
        memset(r->token, 0, strlen(r->token));
        free(r->token);
    }
    free(r);
    c->remote = NULL;
}

/* ---- the request ---------------------------------------------------------- */

/* A growing text. */
struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* A parameter's value as text: strings as they are, numbers in decimal,
 * booleans as true/false. NULL for anything else. */
static const char *param_text(const json_t *v, char *num, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(num, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return num;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

/* value percent-encoded onto b. */
static void add_escaped(struct remote *r, struct buf *b, const char *value)
{
    char *e = curl_easy_escape(r->curl, value, (int)strlen(value));
    if (!e) {
        b->failed = true;
        return;
    }
    buf_str(b, e);
    curl_free(e);
}

/*
 * The URL of an operation: the route with its {name} segments filled from
 * args, then the other parameters (and the reason, when it cannot be a
 * header) as the query. CF_EUSAGE when a path parameter is missing.
 */
static int build_url(struct cli *c, const cf_op *op, const json_t *args, bool reason_in_query,
                     struct buf *url, cf_error *err)
{
    struct remote *r = c->remote;
    json_t *used = json_object();
    char num[32];
    buf_str(url, r->base);
    for (const char *p = op->route; *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_str(url, p);
            break;
        }
        buf_add(url, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(close - open - 1), open + 1);
        const char *v = param_text(json_object_get(args, name), num, sizeof num);
        if (!v) {
            json_decref(used);
            err->code = CF_EUSAGE;
            snprintf(err->field, sizeof err->field, "%s", name);
            snprintf(err->message, sizeof err->message, "%s: required", name);
            return CF_EUSAGE;
        }
        add_escaped(r, url, v);
        json_object_set_new(used, name, json_true());
        p = close + 1;
    }
    const char *key;
    json_t *v;
    char sep = '?';
    json_object_foreach((json_t *)args, key, v) {
        const char *text = param_text(v, num, sizeof num);
        if (!text || json_object_get(used, key))
            continue;
        buf_add(url, &sep, 1);
        add_escaped(r, url, key);
        buf_str(url, "=");
        add_escaped(r, url, text);
        sep = '&';
    }
    json_decref(used);
    if (reason_in_query && c->reason) {
        buf_add(url, &sep, 1);
        buf_str(url, "reason=");
        add_escaped(r, url, c->reason);
    }
    return 0;
}

/* The headers of a request; NULL when out of memory. */
static struct curl_slist *build_headers(struct cli *c, const struct op_req *q,
                                        bool reason_in_query, cf_error *err, int *rc)
{
    struct curl_slist *h = NULL, *t;
    char line[512];
    *rc = 0;
#define ADD(text)                                                                              \
    do {                                                                                       \
        if (!(t = curl_slist_append(h, (text)))) {                                             \
            curl_slist_free_all(h);                                                            \
            return NULL;                                                                       \
        }                                                                                      \
        h = t;                                                                                 \
    } while (0)
    ADD("Accept: application/json");
    ADD("Expect:"); /* no 100-continue round trip */
    if (q->body_text)
        ADD("Content-Type: application/x-ndjson");
    else if (q->body)
        ADD("Content-Type: application/json");
    if (c->reason && !reason_in_query) {
        struct buf b = {0};
        buf_str(&b, "X-Caseflow-Reason: ");
        buf_str(&b, c->reason);
        if (b.failed || !(t = curl_slist_append(h, b.p))) {
            free(b.p);
            curl_slist_free_all(h);
            return NULL;
        }
        h = t;
        free(b.p);
    }
    if (q->idempotency_key) {
        size_t n = strlen(q->idempotency_key);
        if (n == 0 || n > 128 || !header_safe(q->idempotency_key)) {
            curl_slist_free_all(h);
            err->code = *rc = CF_EINVALID;
            snprintf(err->field, sizeof err->field, "idempotency_key");
            snprintf(err->message, sizeof err->message,
                     "idempotency key: 1-128 printable ASCII characters");
            return NULL;
        }
        snprintf(line, sizeof line, "Idempotency-Key: %s", q->idempotency_key);
        ADD(line);
    }
    if (q->expect_revision >= 0) {
        snprintf(line, sizeof line, "If-Match: \"%lld\"", (long long)q->expect_revision);
        ADD(line);
    }
    if (c->remote->token) {
        struct buf b = {0};
        buf_str(&b, "Authorization: Bearer ");
        buf_str(&b, c->remote->token);
        t = b.failed ? NULL : curl_slist_append(h, b.p);
        if (b.p)
            memset(b.p, 0, b.len);
        free(b.p);
        if (!t) {
            curl_slist_free_all(h);
            return NULL;
        }
        h = t;
    }
#undef ADD
    return h;
}

/* ---- the answer ------------------------------------------------------------ */

static size_t on_data(char *data, size_t size, size_t n, void *userp)
{
    struct buf *b = userp;
    size_t len = size * n;
    if (b->len + len > REPLY_MAX)
        return 0; /* too large: the transfer fails */
    buf_add(b, data, len);
    return b->failed ? 0 : len;
}

int remote_code(const char *name, long http_status)
{
    static const int codes[] = {
#define X(name, code, exit, text) code,
        CF_ERRNO_MAP(X)
#undef X
    };
    if (name) {
        const char *bare = strncmp(name, "CF_E", 4) == 0 ? name + 4 : name;
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (strcasecmp(cf_err_name(codes[i]) + 4, bare) == 0)
                return codes[i];
    }
    switch (http_status) {
    case 400: case 405: case 415: return CF_EUSAGE;
    case 401: case 403: return CF_EDENIED;
    case 404: return CF_ENOTFOUND;
    case 409: case 412: case 429: return CF_ECONFLICT;
    case 413: case 422: return CF_EINVALID;
    case 502: case 503: case 504: return CF_EIO;
    default: return CF_EINTERNAL;
    }
}

/* A refusal from the service as the cf_error it stands for. */
static int problem(long status, const struct buf *reply, cf_error *err)
{
    json_t *p = reply->p ? json_loadb(reply->p, reply->len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(p, "code"));
    const char *detail = json_string_value(json_object_get(p, "detail"));
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *field = json_string_value(json_object_get(p, "field"));
    int rc = remote_code(code, status);
    err->code = rc;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    if (detail || title)
        snprintf(err->message, sizeof err->message, "%s", detail ? detail : title);
    else
        snprintf(err->message, sizeof err->message, "caseflowd answered HTTP %ld", status);
    if (status == 401)
        snprintf(err->message + strlen(err->message), sizeof err->message - strlen(err->message),
                 " (caseflowd wants a token: CASEFLOW_TOKEN or --token-file)");
    json_decref(p);
    return rc;
}

/* ---- one call -------------------------------------------------------------- */

/* Send the request and read the answer: the HTTP status in *status, the
 * body in reply. */
static int perform(struct cli *c, const cf_op *op, const char *url,
                   struct curl_slist *headers, struct buf *reply, long *status,
                   const char *body, size_t body_len, cf_error *err)
{
    CURL *h = c->remote->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "caseflow");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (c->remote->socket)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->server);
    const char *ca = getenv("CASEFLOW_CA_FILE");
    if (ca && ca[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (strcmp(op->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(op->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, op->method);
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        err->code = CF_EIO;
        snprintf(err->message, sizeof err->message, "cannot reach caseflowd at %s: %s",
                 c->server, curl_easy_strerror(cc));
        return CF_EIO;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

int remote_call(struct cli *c, const struct op_req *q, json_t **out, int *status,
                cf_error *err)
{
    const cf_op *op = cf_op_find(q->name);
    json_t *empty = json_object();
    const json_t *args = q->args ? q->args : empty;
    struct buf url = {0}, reply = {0};
    struct curl_slist *headers = NULL;
    char *body = NULL;
    size_t body_len = 0;
    long http = 0;
    int rc = 0;
    /* A header's value loses its outer blanks, and holds only ASCII: such
     * a reason goes as it is in the query instead. */
    bool reason_in_query = c->reason && (!header_safe(c->reason) || c->reason[0] == ' ' ||
                                         c->reason[strlen(c->reason) - 1] == ' ');
    if (!c->remote || !op) {
        rc = err->code = CF_EINTERNAL;
        snprintf(err->message, sizeof err->message, "no connection to caseflowd");
    }
    if (!rc)
        rc = build_url(c, op, args, reason_in_query, &url, err);
    if (!rc && !(headers = build_headers(c, q, reason_in_query, err, &rc)) && !rc) {
        rc = err->code = CF_ENOMEM;
        snprintf(err->message, sizeof err->message, "out of memory");
    }
    if (!rc && url.failed) {
        rc = err->code = CF_ENOMEM;
        snprintf(err->message, sizeof err->message, "out of memory");
    }
    if (!rc && q->body_text) {
        body = (char *)q->body_text;
        body_len = q->body_len;
    } else if (!rc && q->body) {
        body = json_dumps(q->body, JSON_COMPACT | JSON_ENCODE_ANY);
        body_len = body ? strlen(body) : 0;
    }
    if (!rc)
        rc = perform(c, op, url.p, headers, &reply, &http, body, body_len, err);
    if (!rc && (http < 200 || http > 299))
        rc = problem(http, &reply, err);
    if (!rc) {
        json_error_t jerr;
        *out = reply.len ? json_loadb(reply.p, reply.len, 0, &jerr) : json_object();
        if (!*out) {
            rc = err->code = CF_EINTERNAL;
            snprintf(err->message, sizeof err->message,
                     "caseflowd answered HTTP %ld with a body that is not JSON", http);
        } else if (status) {
            *status = (int)http;
        }
    }
    if (body && body != q->body_text)
        free(body);
    curl_slist_free_all(headers);
    free(url.p);
    free(reply.p);
    json_decref(empty);
    return rc;
}
