/*
 * caseflowd's configuration: long options and a file of `key = value`
 * lines with the same keys (options override the file), checked as a
 * whole before anything starts. The listen address is resolved here, and
 * the rule that a non-loopback address needs TLS (or --insecure) enforced.
 */
#ifndef CFD_CONFIG_H
#define CFD_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

/* Exit statuses (sysexits.h) caseflowd returns besides cf_exit_code's. */
enum {
    CFD_EXIT_USAGE = 64,
    CFD_EXIT_SOFTWARE = 70, /* out of memory */
    CFD_EXIT_OSERR = 71,    /* cannot listen, no thread */
};

struct cfd_config {
    /* Strings are owned (malloc'd), NULL when unset. */
    char *store, *listen, *socket, *tls_cert, *tls_key, *tls_client_ca;
    char *plugins, *signing_key, *openapi, *config_file;
    long long workers, readers, max_body, tick_interval, max_wait, conn_timeout;
    long long webhook_attempts, webhook_timeout, webhook_poll, webhook_concurrency;
    bool insecure;
    /* What the command line asked for besides running. */
    bool help, version, check;
    /* The resolved listen address (when listen is set). */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    bool loopback;
};

/*
 * Fill c from argv and the --config file, then check it. Returns 0, or an
 * exit status after printing one line naming the option (or the file and
 * line) at fault on stderr. c must be zero-initialised; release it with
 * cfd_config_clear either way. With --help or --version set, nothing is
 * checked.
 */
int cfd_config_load(struct cfd_config *c, int argc, char **argv);

/* The effective configuration as a configuration file would say it. */
void cfd_config_print(const struct cfd_config *c, FILE *out);

/* The usage text. */
void cfd_config_usage(FILE *out);

/* Release the strings of c. */
void cfd_config_clear(struct cfd_config *c);

#endif
