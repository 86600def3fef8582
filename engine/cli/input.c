/*
 * What users hand the caseflow command besides its words: JSON (the --data
 * payload of act, inline, from a file or from standard input; and the words
 * for what is wrong with JSON that does not parse, which never quote it),
 * counts (--limit, --revision, --since of an export), and dates and times
 * (--since, --until, CASEFLOW_NOW), parsed with the engine's own clock so
 * that the command and the engine agree on them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"

/* ---- the engine clock: CASEFLOW_NOW ------------------------------------- */

/* RFC 3339 with a required offset, parsed by the engine's own clock. */
bool parse_rfc3339(const char *s, int64_t *out)
{
    return cf_time_from_rfc3339(s, out) == 0;
}

/* ---- JSON from users ------------------------------------------------------ */

/*
 * What is wrong with JSON that did not parse, in words of our own: jansson's
 * text often quotes the token it stopped at ("'[' or '{' expected near
 * 'root'"), and input must never be echoed: a line of a file the user may
 * not see, or an escape sequence, would end up on the screen. A syntax error
 * is told apart by the start of jansson's text, which is one of its fixed
 * messages; only our own words are ever printed.
 */
const char *parse_problem(const json_error_t *jerr)
{
    static const struct {
        const char *jansson, *ours;
    } syntax[] = {
        {"'[' or '{' expected", "an object or array expected"},
        {"invalid token", "not a JSON value"},
        {"unexpected token", "a value expected"},
        {"':' expected", "':' expected"},
        {"string or '}' expected", "a member name or '}' expected"},
        {"'}' expected", "',' or '}' expected"},
        {"']' expected", "',' or ']' expected"},
        {"invalid escape", "an invalid escape in a string"},
        {"invalid Unicode", "an invalid \\u escape in a string"},
        {"unexpected newline", "a line break in a string"},
        {"control character", "a control character in a string"},
    };
    switch (json_error_code(jerr)) {
    case json_error_out_of_memory: return "out of memory";
    case json_error_stack_overflow: return "nested too deeply";
    case json_error_invalid_utf8: return "not valid UTF-8";
    case json_error_premature_end_of_input: return "unexpected end of input";
    case json_error_end_of_input_expected: return "more after the end of the value";
    case json_error_null_character: return "a \\u0000 in a string";
    case json_error_null_byte_in_key: return "a \\u0000 in an object key";
    case json_error_duplicate_key: return "duplicate object key";
    case json_error_numeric_overflow: return "a number out of range";
    case json_error_invalid_syntax:
        for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++)
            if (strncmp(jerr->text, syntax[i].jansson, strlen(syntax[i].jansson)) == 0)
                return syntax[i].ours;
        return "invalid syntax";
    default: return "not JSON";
    }
}

/* Where the first NUL byte of text is, as line (counted from first_line)
 * and column; false when there is none. jansson reads a NUL as the end of
 * input, whose message would not point at the real problem. */
bool find_nul(const char *text, size_t len, unsigned long first_line,
              unsigned long *line, size_t *column)
{
    const char *nul = memchr(text, '\0', len);
    if (!nul)
        return false;
    *line = first_line;
    *column = 1;
    for (const char *p = text; p < nul; p++) {
        if (*p == '\n') {
            ++*line;
            *column = 1;
        } else {
            ++*column;
        }
    }
    return true;
}

/* ---- --data ---------------------------------------------------------------- */

/* The most --data reads from a file or standard input. */
#define DATA_MAX (1024 * 1024)

/* What kind of file st is, for a refusal. */
static const char *file_kind(const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        return "a directory";
    if (S_ISFIFO(st->st_mode))
        return "a FIFO";
    if (S_ISCHR(st->st_mode))
        return "a character device";
    if (S_ISBLK(st->st_mode))
        return "a block device";
    if (S_ISSOCK(st->st_mode))
        return "a socket";
    return "not a regular file";
}

/* How a file handed to an option is read: the option's name (for
 * messages), the most it may hold, and whether it holds a secret (then it
 * must not be open to others) rather than data of the user's own (then it
 * must be the user's, so that the command never reads out a file the user
 * was not meant to see). */
struct file_rules {
    const char *opt;
    size_t max;
    bool secret;
};

static void say_size(const struct file_rules *r, const char *name)
{
    if (r->max == DATA_MAX)
        say("--%s: %s is larger than 1 MiB", r->opt, name);
    else
        say("--%s: %s is larger than %zu bytes", r->opt, name, r->max);
}

/* The rules a file must meet: a regular file, of the user's own or (a
 * secret) closed to others, no larger than the most. 0, or an exit status
 * after a message. */
static int file_ok(const struct file_rules *r, const char *path, const struct stat *st)
{
    if (!S_ISREG(st->st_mode)) {
        say("--%s: %s is not a regular file (%s)", r->opt, path, file_kind(st));
        return EXIT_DATAERR;
    }
    if (r->secret && (st->st_mode & (S_IROTH | S_IWOTH))) {
        say("--%s: %s is open to other users (chmod o-rw %s)", r->opt, path, path);
        return EXIT_DATAERR;
    }
    if (!r->secret && st->st_uid != getuid()) {
        say("--%s: %s is not yours; pipe it instead: --%s @- < %s", r->opt, path, r->opt,
            path);
        return EXIT_DATAERR;
    }
    if ((uintmax_t)st->st_size > r->max) {
        say_size(r, path);
        return EXIT_DATAERR;
    }
    return 0;
}

/* All of fd (at most r->max bytes) into a new buffer *buf of *len bytes
 * (NUL-terminated besides). 0, or an exit status after a message. */
static int read_fd(const struct file_rules *r, int fd, const char *name, char **buf,
                   size_t *len)
{
    size_t cap = r->max < 65536 ? r->max + 2 : 65536, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (b && n + 1 >= cap) {
            cap = cap * 2 > r->max + 2 ? r->max + 2 : cap * 2;
            char *more = realloc(b, cap);
            if (!more)
                free(b);
            b = more;
        }
        if (!b) {
            say("out of memory");
            return 70;
        }
        ssize_t got = read(fd, b + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            say("--%s: cannot read %s: %s", r->opt, name, strerror(errno));
            free(b);
            return EXIT_NOINPUT;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > r->max) {
            say_size(r, name);
            free(b);
            return EXIT_DATAERR;
        }
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* The open file fd of path: checked against the rules, then read (and
 * only then may a read wait). */
static int read_open_file(const struct file_rules *r, int fd, const char *path, char **buf,
                          size_t *len)
{
    struct stat st;
    int flags;
    if (fstat(fd, &st) != 0) {
        say("--%s: cannot read %s: %s", r->opt, path, strerror(errno));
        return EXIT_NOINPUT;
    }
    int status = file_ok(r, path, &st);
    if (status)
        return status;
    if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        say("--%s: cannot read %s: %s", r->opt, path, strerror(errno));
        return EXIT_NOINPUT;
    }
    return read_fd(r, fd, path, buf, len);
}

/* A file for an option: opened without blocking (on a FIFO) or becoming
 * our terminal, refused unless it meets the rules, then read. */
static int read_file(const struct file_rules *r, const char *path, char **buf, size_t *len)
{
    struct stat st;
    /* A first look, so that a device or a file of someone else's is refused
     * without even being opened; what counts is the open file's fstat. */
    if (stat(path, &st) == 0) {
        int status = file_ok(r, path, &st);
        if (status)
            return status;
    }
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        say("--%s: cannot open %s: %s", r->opt, path, strerror(errno));
        return EXIT_NOINPUT;
    }
    int status = read_open_file(r, fd, path, buf, len);
    close(fd);
    return status;
}

/* A small file handed to option opt (a secret when private_file: then
 * closed to others, else the user's own), at most max bytes, into a new
 * NUL-terminated buffer *buf (free it) of *len bytes. 0, or an exit status
 * after a message. */
int read_small_file(const char *opt, const char *path, size_t max, bool private_file,
                    char **buf, size_t *len)
{
    struct file_rules r = {opt, max, private_file};
    return read_file(&r, path, buf, len);
}

/*
 * Parse the JSON object of option opt: inline JSON, @FILE or @- (standard
 * input). *out is a new reference. No message quotes the input.
 */
int load_json_option(const char *opt, const char *text, json_t **out)
{
    struct file_rules rules = {opt, DATA_MAX, false};
    json_error_t jerr;
    json_t *v;
    *out = NULL;
    if (text[0] != '@') {
        v = json_loads(text, JSON_IN_FLAGS, &jerr);
        if (!v) {
            say("--%s: invalid JSON: %s (line %d, column %d)", opt, parse_problem(&jerr),
                jerr.line, jerr.column);
            return EXIT_DATAERR;
        }
    } else {
        bool from_stdin = strcmp(text, "@-") == 0;
        const char *name = from_stdin ? "standard input" : text + 1;
        char *buf = NULL;
        size_t len = 0;
        int st = from_stdin ? read_fd(&rules, STDIN_FILENO, name, &buf, &len)
                            : read_file(&rules, name, &buf, &len);
        if (st)
            return st;
        unsigned long line;
        size_t column;
        if (find_nul(buf, len, 1, &line, &column)) {
            free(buf);
            say("--%s: invalid JSON in %s: a NUL byte (line %lu, column %zu)", opt, name, line,
                column);
            return EXIT_DATAERR;
        }
        v = json_loadb(buf, len, JSON_IN_FLAGS, &jerr);
        free(buf);
        if (!v) {
            say("--%s: invalid JSON in %s: %s (line %d, column %d)", opt, name,
                parse_problem(&jerr), jerr.line, jerr.column);
            return EXIT_DATAERR;
        }
    }
    if (!json_is_object(v)) {
        json_decref(v);
        say("--%s: not a JSON object", opt);
        return EXIT_DATAERR;
    }
    *out = v;
    return 0;
}

/* --data of act: see load_json_option. */
int load_data(const char *text, json_t **out)
{
    return load_json_option("data", text, out);
}

/* A non-negative integer option; false (after a usage message) otherwise. */
bool parse_count(const char *opt, const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 0 || text[0] == '+' ||
        text[0] == ' ') {
        usage_error("--%s: not a non-negative integer: '%s'", opt, text);
        return false;
    }
    *out = v;
    return true;
}

/* An id argument that is a positive integer (tasks, webhooks). */
bool positive_id(const char *text)
{
    char *end;
    if (text[0] < '1' || text[0] > '9')
        return false;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    return !errno && !*end && v > 0;
}

/* --since for reports: a date (YYYY-MM-DD, UTC midnight) or an RFC 3339 time. */
bool parse_since(const char *text, int64_t *out)
{
    char buf[40];
    if (strlen(text) == 10) {
        snprintf(buf, sizeof buf, "%sT00:00:00Z", text);
        text = buf;
    }
    if (!parse_rfc3339(text, out)) {
        usage_error("--since: not a date (YYYY-MM-DD) or RFC 3339 time: '%s'", text);
        return false;
    }
    return true;
}
