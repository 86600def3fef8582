/*
 * caseflowd's configuration (config.h). One table names every key with its
 * kind, bounds and help; the command line and the file both go through it,
 * the file first and the options after, so that an option overrides the
 * file. Every error is one line naming the option (or the file and line)
 * and the rule, and exits 64.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <caseflow/caseflow.h>

#include "config.h"
#include "util.h"

#ifndef CFD_OPENAPI
#define CFD_OPENAPI "/usr/local/share/caseflow/openapi.yaml"
#endif

enum kind { K_STR, K_NUM, K_BOOL, K_FLAG };

static const struct key {
    const char *name;
    enum kind kind;
    size_t off;
    long long min, max, def;
    const char *arg, *help;
} keys[] = {
#define S(f) offsetof(struct cfd_config, f)
    {"store", K_STR, S(store), 0, 0, 0, "PATH", "the store to serve (required)"},
    {"listen", K_STR, S(listen), 0, 0, 0, "ADDR:PORT",
     "TCP address, e.g. 127.0.0.1:8080 or [::1]:8080"},
    {"socket", K_STR, S(socket), 0, 0, 0, "PATH",
     "also listen on a Unix socket (0660); clients are known by their uid"},
    {"tls-cert", K_STR, S(tls_cert), 0, 0, 0, "FILE", "TLS certificate chain (PEM)"},
    {"tls-key", K_STR, S(tls_key), 0, 0, 0, "FILE", "TLS private key (PEM)"},
    {"tls-client-ca", K_STR, S(tls_client_ca), 0, 0, 0, "FILE",
     "accept client certificates from this CA (PEM); the CN names the user"},
    {"plugins", K_STR, S(plugins), 0, 0, 0, "PATH",
     "colon-separated plugin directories searched first"},
    {"signing-key", K_STR, S(signing_key), 0, 0, 0, "FILE", "the audit signing key"},
    {"openapi", K_STR, S(openapi), 0, 0, 0, "FILE",
     "the API document served at /v1/openapi.yaml"},
    {"workers", K_NUM, S(workers), 1, 10000, 64, "N",
     "connections served at once, each on its own thread"},
    {"readers", K_NUM, S(readers), 0, 256, 4, "N",
     "read-only store connections for reads at once (0: reads on the writer)"},
    {"max-body", K_NUM, S(max_body), 1, 1LL << 30, 4LL << 20, "BYTES",
     "largest request body (K, M, G suffixes)"},
    {"tick-interval", K_NUM, S(tick_interval), 0, 86400, 5, "SECONDS",
     "fire due timers this often (0: never)"},
    {"max-wait", K_NUM, S(max_wait), 0, 3600, 30, "SECONDS",
     "longest long poll of the feed (wait=)"},
    {"connection-timeout", K_NUM, S(conn_timeout), 1, 3600, 30, "SECONDS",
     "close a connection idle this long"},
    {"webhook-attempts", K_NUM, S(webhook_attempts), 1, 1000, 10, "N",
     "webhook delivery attempts before a dead letter"},
    {"webhook-timeout", K_NUM, S(webhook_timeout), 100, 600000, 5000, "MS",
     "longest webhook POST, in milliseconds"},
    {"webhook-poll", K_NUM, S(webhook_poll), 10, 600000, 1000, "MS",
     "look for webhook retries falling due this often, in milliseconds"},
    {"webhook-concurrency", K_NUM, S(webhook_concurrency), 1, 1024, 32, "N",
     "webhook POSTs at once"},
    {"insecure", K_BOOL, S(insecure), 0, 0, 0, NULL,
     "allow a non-loopback address without TLS"},
    {"config", K_FLAG, S(config_file), 0, 0, 0, "FILE", "read these keys from FILE first"},
    {"check-config", K_FLAG, S(check), 0, 0, 0, NULL,
     "check the configuration, print it and exit"},
    {"help", K_FLAG, S(help), 0, 0, 0, NULL, "this help"},
    {"version", K_FLAG, S(version), 0, 0, 0, NULL, "print the version"},
#undef S
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int bad(const char *where, const char *fmt, ...) CFD_PRINTF(2, 3);

/* Print "caseflowd: WHERE: message" and return the usage status. */
static int bad(const char *where, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "caseflowd: %s: %s\n", where, msg);
    return CFD_EXIT_USAGE;
}

static const struct key *find_key(const char *name, size_t len)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0)
            return &keys[i];
    return NULL;
}

/* ---- values ------------------------------------------------------------------------- */

static int parse_num(const struct key *k, const char *v, long long *out, const char *where)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    long long unit = 1;
    if (strcmp(k->name, "max-body") == 0 && end != v && end[0] && !end[1]) {
        const char *units = "KMG";
        const char *u = strchr(units, end[0] & ~0x20);
        if (u) {
            unit = 1LL << (10 * (u - units + 1));
            end++;
        }
    }
    if (errno || end == v || *end || v[0] == '+' || v[0] == ' ' || n > k->max / unit ||
        n * unit < k->min)
        return bad(where, "must be a whole number from %lld to %lld", k->min, k->max);
    *out = n * unit;
    return 0;
}

static int parse_bool(const char *v, bool *out, const char *where)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0)
            return (*out = true), 0;
        if (strcmp(v, no[i]) == 0)
            return (*out = false), 0;
    }
    return bad(where, "must be true or false");
}

/* Set key k to v (NULL: a flag given without a value). */
static int set(struct cfd_config *c, const struct key *k, const char *v, const char *where)
{
    void *field = (char *)c + k->off;
    switch (k->kind) {
    case K_NUM:
        return parse_num(k, v, field, where);
    case K_BOOL:
        if (!v)
            return (*(bool *)field = true), 0;
        return parse_bool(v, field, where);
    case K_FLAG:
        if (strcmp(k->name, "config") == 0)
            break;
        *(bool *)field = true;
        return 0;
    case K_STR:
        break;
    }
    if (!*v)
        return bad(where, "must not be empty");
    char **s = field;
    free(*s);
    if (!(*s = strdup(v)))
        return bad(where, "out of memory");
    return 0;
}

/* ---- the file ----------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* One line of the file; seen[] marks the keys given so far. */
static int file_line(struct cfd_config *c, char *line, const char *where, bool *seen)
{
    char *text = trim(line);
    if (!*text || *text == '#')
        return 0;
    char *eq = strchr(text, '=');
    if (!eq)
        return bad(where, "expected 'key = value'");
    *eq = '\0';
    char *name = trim(text), *value = trim(eq + 1);
    const struct key *k = find_key(name, strlen(name));
    if (!k || k->kind == K_FLAG)
        return bad(where, "unknown key '%s'", name);
    if (seen[k - keys])
        return bad(where, "key '%s' given twice", name);
    seen[k - keys] = true;
    char at[600];
    snprintf(at, sizeof at, "%s: %s", where, k->name);
    return set(c, k, value, at);
}

static int load_file(struct cfd_config *c, const char *path)
{
    size_t len;
    char *text = cfd_read_file(path, 1 << 20, &len);
    if (!text)
        return bad("--config", "%s: %s", path, strerror(errno));
    if (strlen(text) != len) {
        free(text);
        return bad("--config", "%s: not a text file", path);
    }
    bool seen[NKEYS] = {false};
    int rc = 0, lineno = 0;
    for (char *line = text, *next; line && !rc; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char where[512];
        snprintf(where, sizeof where, "%s:%d", path, ++lineno);
        rc = file_line(c, line, where, seen);
    }
    free(text);
    return rc;
}

/* ---- the command line --------------------------------------------------------------- */

struct given {
    const struct key *key;
    const char *value;
};

/* Split argv into keys and values (given[], *n), picking out --config. */
static int read_argv(struct cfd_config *c, int argc, char **argv, struct given *given, int *n)
{
    *n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0)
            a = "--help";
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return bad("usage", "unexpected argument '%s' (see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct key *k = find_key(name, len);
        if (!k)
            return bad("usage", "unknown option '--%.*s' (see --help)", (int)len, name);
        const char *v = NULL;
        bool takes = k->kind == K_STR || k->kind == K_NUM || strcmp(k->name, "config") == 0;
        if (takes && eq)
            v = eq + 1;
        else if (takes && i + 1 < argc)
            v = argv[++i];
        else if (takes)
            return bad("usage", "option --%s needs a value", k->name);
        else if (eq && k->kind != K_BOOL)
            return bad("usage", "option --%s takes no value", k->name);
        else if (eq)
            v = eq + 1;
        if (strcmp(k->name, "config") == 0) {
            free(c->config_file);
            if (!(c->config_file = strdup(v)))
                return bad("--config", "out of memory");
            continue;
        }
        given[(*n)++] = (struct given){k, v};
    }
    return 0;
}

/* ---- checks ------------------------------------------------------------------------- */

static bool v4_loopback(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

/* Resolve c->listen: "ADDR:PORT", "[V6]:PORT" or "localhost:PORT". */
static int resolve_listen(struct cfd_config *c)
{
    char host[64];
    const char *text = c->listen, *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            return bad("--listen", "expected ADDR:PORT or [IPV6]:PORT, got '%s'", text);
        snprintf(host, sizeof host, "%.*s", (int)(close - text - 1), text + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host || strchr(text, ':') != colon)
            return bad("--listen", "expected ADDR:PORT or [IPV6]:PORT, got '%s'", text);
        snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535 || port[0] == '-' || port[0] == '+')
        return bad("--listen", "port must be a number from 0 to 65535, got '%s'", port);
    memset(&c->addr, 0, sizeof c->addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&c->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->addr;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        c->addr_len = sizeof *v4;
        c->loopback = v4_loopback(&v4->sin_addr);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        c->addr_len = sizeof *v6;
        struct in_addr mapped;
        memcpy(&mapped, &v6->sin6_addr.s6_addr[12], 4);
        c->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
                      (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v4_loopback(&mapped));
    } else {
        return bad("--listen", "'%s' is not a numeric IPv4 or IPv6 address (or localhost)",
                   host);
    }
    return 0;
}

static int readable(const char *opt, const char *path)
{
    if (path && access(path, R_OK) != 0)
        return bad(opt, "%s: %s", path, strerror(errno));
    return 0;
}

static int check(struct cfd_config *c)
{
    int rc;
    if (!c->store)
        return bad("--store", "required (the store to serve)");
    if (!c->listen && !c->socket)
        return bad("--listen", "required (or --socket)");
    if (c->listen && (rc = resolve_listen(c)))
        return rc;
    if (c->socket && strlen(c->socket) >= sizeof ((struct sockaddr_un *)0)->sun_path)
        return bad("--socket", "path longer than %zu bytes",
                   sizeof ((struct sockaddr_un *)0)->sun_path - 1);
    if (!c->tls_cert != !c->tls_key)
        return bad(c->tls_cert ? "--tls-key" : "--tls-cert", "required with --%s",
                   c->tls_cert ? "tls-cert" : "tls-key");
    if (c->tls_cert && !c->listen)
        return bad("--tls-cert", "TLS is for --listen, which is not set");
    if (c->tls_client_ca && !c->tls_cert)
        return bad("--tls-client-ca", "needs --tls-cert and --tls-key");
    /* A signing key named but not there would be found missing only when
     * the first checkpoint falls due, refusing every request from then on. */
    if ((rc = readable("--signing-key", c->signing_key)))
        return rc;
    if ((rc = readable("--tls-cert", c->tls_cert)) || (rc = readable("--tls-key", c->tls_key)) ||
        (rc = readable("--tls-client-ca", c->tls_client_ca)))
        return rc;
    if (c->listen && !c->loopback && !c->tls_cert && !c->insecure)
        return bad("--listen", "refusing to listen on %s, not a loopback address, without TLS "
                   "(give --tls-cert and --tls-key, or --insecure)", c->listen);
    return 0;
}

int cfd_config_load(struct cfd_config *c, int argc, char **argv)
{
    struct given *given = calloc((size_t)argc + 1, sizeof *given);
    if (!given)
        return bad("usage", "out of memory");
    int n, rc = read_argv(c, argc, argv, given, &n);
    for (int i = 0; !rc && i < n; i++) /* --help and --version first: they check nothing */
        if (given[i].key->kind == K_FLAG)
            rc = set(c, given[i].key, NULL, "usage");
    if (rc || c->help || c->version) {
        free(given);
        return rc;
    }
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind == K_NUM)
            *(long long *)((char *)c + keys[i].off) = keys[i].def;
    if (c->config_file)
        rc = load_file(c, c->config_file);
    for (int i = 0; !rc && i < n; i++) {
        char where[80];
        snprintf(where, sizeof where, "--%s", given[i].key->name);
        if (given[i].key->kind != K_FLAG)
            rc = set(c, given[i].key, given[i].value, where);
    }
    free(given);
    if (!rc && !c->openapi && !(c->openapi = strdup(CFD_OPENAPI)))
        rc = bad("--openapi", "out of memory");
    return rc ? rc : check(c);
}

void cfd_config_print(const struct cfd_config *c, FILE *out)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        const void *field = (const char *)c + k->off;
        switch (k->kind) {
        case K_STR: {
            const char *s = *(char *const *)field;
            fprintf(out, s ? "%s = %s\n" : "# %s =\n", k->name, s);
            break;
        }
        case K_NUM:
            fprintf(out, "%s = %lld\n", k->name, *(const long long *)field);
            break;
        case K_BOOL:
            fprintf(out, "%s = %s\n", k->name, *(const bool *)field ? "true" : "false");
            break;
        case K_FLAG:
            break;
        }
    }
}

void cfd_config_usage(FILE *out)
{
    fputs("usage: caseflowd --store PATH --listen ADDR:PORT [OPTIONS]\n"
          "caseflow's HTTP service: the API of docs/openapi.yaml over one store.\n\n"
          "Options (each also a key of the --config file, as 'key = value'):\n",
          out);
    for (size_t i = 0; i < NKEYS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", keys[i].name, keys[i].arg ? " " : "",
                 keys[i].arg ? keys[i].arg : "");
        fprintf(out, "  %-30s %s\n", left, keys[i].help);
    }
    fputs("\nEnvironment: CASEFLOW_NOW (RFC 3339) sets the engine clock, on a store made\n"
          "with caseflow init --test-clock only (exit 64 elsewhere); NOTIFY_SOCKET (systemd).\n"
          "Signals: SIGTERM or SIGINT stops accepting, finishes what was accepted, exits 0.\n"
          "Exit status: 0 ok, 64 usage or configuration, 66 no such store, 69 plugin or\n"
          "workflow missing, 70 internal, 71 cannot listen, 74 store I/O, 77 not permitted.\n",
          out);
}

void cfd_config_clear(struct cfd_config *c)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind == K_STR) {
            char **s = (char **)((char *)c + keys[i].off);
            free(*s);
            *s = NULL;
        }
    free(c->config_file);
    c->config_file = NULL;
}
