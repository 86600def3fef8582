/*
 * `caseflow workflow graph`: a deployed version (the active one by default)
 * or a workflow file as Graphviz DOT, or drawn as SVG or PNG by Graphviz's
 * `dot`, run as a child process (no shell) with the DOT on its standard
 * input and its output going straight to --output or standard output.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

enum { EXIT_UNAVAILABLE = 69, EXIT_SOFTWARE = 70 };

/* True when `prog` is an executable file in a directory of $PATH. */
static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return false;
    char dir[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n + strlen(prog) + 2 <= sizeof dir) {
            snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, prog);
            struct stat sb;
            if (stat(dir, &sb) == 0 && S_ISREG(sb.st_mode) && access(dir, X_OK) == 0)
                return true;
        }
        path += n + (path[n] == ':');
    }
    return false;
}

/* Write all of buf to fd; false on error. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

/* Run `dot -T<format>` with the DOT text on its standard input and its
 * standard output on out_fd: 0, or an exit status after a message. */
static int run_dot(const char *format, const char *dot, int out_fd)
{
    if (!in_path("dot")) {
        say("Graphviz's dot is not installed (not found in PATH): install graphviz for "
            "--format %s, or use --format dot",
            format);
        return EXIT_UNAVAILABLE;
    }
    int p[2];
    if (pipe(p) != 0) {
        say("cannot run dot: %s", strerror(errno));
        return EXIT_SOFTWARE;
    }
    char type[16];
    snprintf(type, sizeof type, "-T%s", format);
    char *argv[] = {"dot", type, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], STDIN_FILENO);
    if (out_fd != STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, p[1]);
    pid_t pid;
    fflush(stdout);
    int src = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (src != 0) {
        close(p[1]);
        say("cannot run dot: %s", strerror(src));
        return src == ENOENT ? EXIT_UNAVAILABLE : EXIT_SOFTWARE;
    }
    /* dot may quit early: a broken pipe is its error to report, not our death. */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    bool wrote = write_all(p[1], dot, strlen(dot));
    close(p[1]);
    signal(SIGPIPE, old);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            say("cannot run dot: %s", strerror(errno));
            return EXIT_SOFTWARE;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !wrote) {
        say("dot -T%s failed (%s %d)", format, WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return EXIT_SOFTWARE;
    }
    return 0;
}

/* A FILE argument rather than a deployed workflow's NAME: a path, or a
 * name ending in .lua. */
static bool is_file_arg(const char *arg)
{
    size_t n = strlen(arg);
    return strchr(arg, '/') || (n > 4 && strcmp(arg + n - 4, ".lua") == 0);
}

/* The DOT text of the workflow argument (new malloc'd): 0 or an exit status. */
static int graph_dot(struct cli *c, const char *arg, char **dot)
{
    cf_error err;
    int64_t version = 0;
    if (c->wf_version) {
        if (is_file_arg(arg))
            return usage_error("--version: a file has no versions: '%s'", arg);
        char *end;
        errno = 0;
        long long v = strtoll(c->wf_version, &end, 10);
        if (v < 1 || errno || *end)
            return usage_error("--version: a version is a whole number from 1: '%s'",
                               c->wf_version);
        version = v;
    }
    int rc;
    if (is_file_arg(arg)) {
        rc = cf_workflow_graph_file(arg, dot, &err);
    } else {
        if ((rc = open_engine(c, false)))
            return rc;
        rc = cf_workflow_graph(c->engine, arg, version, dot, &err);
    }
    return rc ? fail(rc, &err) : 0;
}

int cmd_workflow_graph(struct cli *c)
{
    const char *format = c->format ? c->format : "dot";
    if (strcmp(format, "dot") != 0 && strcmp(format, "svg") != 0 && strcmp(format, "png") != 0)
        return usage_error("--format: dot, svg or png, not '%s'", format);
    if (c->json && strcmp(format, "dot") != 0)
        return usage_error("--json: only with --format dot");
    char *dot = NULL;
    int rc = graph_dot(c, c->args[0], &dot);
    if (rc)
        return rc;
    /* Our output is stdout's descriptor, not 1 (cf_protect_stdout). */
    fflush(stdout);
    const int out = fileno(stdout);
    int fd = out;
    if (c->output) {
        fd = open(c->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            say("--output: cannot write %s: %s", c->output, strerror(errno));
            free(dot);
            return EXIT_IOERR;
        }
    }
    if (strcmp(format, "dot") != 0) {
        rc = run_dot(format, dot, fd);
    } else if (c->json) {
        json_t *o = json_pack("{s:s, s:s}", "name", c->args[0], "dot", dot);
        if (fd == out) {
            print_json(o, false);
        } else {
            char *s = json_dumps(o, JSON_INDENT(2));
            if (!s || !write_all(fd, s, strlen(s)) || !write_all(fd, "\n", 1))
                rc = EXIT_IOERR;
            free(s);
        }
        json_decref(o);
    } else if (fd == out) {
        out_block(dot);
    } else if (!write_all(fd, dot, strlen(dot))) {
        rc = EXIT_IOERR;
    }
    if (rc == EXIT_IOERR)
        say("--output: cannot write %s: %s", c->output, strerror(errno));
    if (fd != out && close(fd) != 0 && !rc) {
        say("--output: cannot write %s: %s", c->output, strerror(errno));
        rc = EXIT_IOERR;
    }
    free(dot);
    return rc;
}
