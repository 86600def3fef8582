/*
 * The caseflow command: the command-line contract of DESIGN.md on top of the
 * public embedding API (caseflow.h) and nothing else. One table lists every
 * command with its handler and usage; one option parser serves them all
 * (global options may stand before or after the command words); each handler
 * is a small function that calls the API, prints human text or --json
 * machine output on stdout, and returns a sysexits status. Errors are one
 * line on stderr, "caseflow: <message>", and the exit status of their code;
 * output that cannot be written (a closed pipe, a full disk) is an error too
 * (74), checked before exit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "caseflow/caseflow.h"

/* sysexits.h statuses the command itself produces. */
enum {
    EXIT_USAGE = 64,
    EXIT_DATAERR = 65,
    EXIT_NOINPUT = 66,
    EXIT_IOERR = 74,
};

/* Referrals committed per store transaction in bulk intake. */
#define REFER_BATCH 1000

/* Flags for json_loads of anything a user hands us. */
#define JSON_IN_FLAGS JSON_REJECT_DUPLICATES

/* ---- options ----------------------------------------------------------- */

/* Command-specific options; global ones have no bit. */
enum {
    OPT_ROLE = 1u << 0,
    OPT_STATE = 1u << 1,
    OPT_LIMIT = 1u << 2,
    OPT_DATA = 1u << 3,
    OPT_REVISION = 1u << 4,
    OPT_WORKFLOW = 1u << 5,
    OPT_SINCE = 1u << 6,
    OPT_OUTPUT = 1u << 7,
    OPT_FILE = 1u << 8,
    OPT_KEY = 1u << 9,
    OPT_CHAIN_ONLY = 1u << 10,
    OPT_UNTIL = 1u << 11,
};

enum opt_id {
    O_STORE, O_ACTOR, O_REASON, O_PLUGINS, O_JSON, O_HELP, O_VERSION,
    O_ROLE, O_STATE, O_LIMIT, O_DATA, O_REVISION, O_WORKFLOW,
    O_SIGNING_KEY, O_SINCE, O_OUTPUT, O_FILE, O_KEY, O_CHAIN_ONLY, O_UNTIL,
};

static const struct optspec {
    const char *name;
    enum opt_id id;
    bool has_arg;
    unsigned bit; /* 0 for global options */
} optspecs[] = {
    {"store", O_STORE, true, 0},
    {"actor", O_ACTOR, true, 0},
    {"reason", O_REASON, true, 0},
    {"plugins", O_PLUGINS, true, 0},
    {"json", O_JSON, false, 0},
    {"help", O_HELP, false, 0},
    {"version", O_VERSION, false, 0},
    {"role", O_ROLE, true, OPT_ROLE},
    {"state", O_STATE, true, OPT_STATE},
    {"limit", O_LIMIT, true, OPT_LIMIT},
    {"data", O_DATA, true, OPT_DATA},
    {"revision", O_REVISION, true, OPT_REVISION},
    {"workflow", O_WORKFLOW, true, OPT_WORKFLOW},
    {"signing-key", O_SIGNING_KEY, true, 0},
    {"since", O_SINCE, true, OPT_SINCE},
    {"output", O_OUTPUT, true, OPT_OUTPUT},
    {"file", O_FILE, true, OPT_FILE},
    {"key", O_KEY, true, OPT_KEY},
    {"chain-only", O_CHAIN_ONLY, false, OPT_CHAIN_ONLY},
    {"until", O_UNTIL, true, OPT_UNTIL},
};

struct command;

/* Everything one run of the command knows: options, words, the engine. */
struct cli {
    const char *store, *actor, *reason, *plugins;
    bool json, help, version;
    const char *state, *data, *workflow, *limit, *revision;
    const char *signing_key, *since, *output, *file, *key, *until;
    bool chain_only;
    const char **roles; /* --role values as given (may hold commas) */
    size_t nroles;
    unsigned used;      /* OPT_* bits seen */
    const char **words; /* positional words, command words first */
    size_t nwords;
    const struct command *cmd;
    const char **args; /* the command's own arguments (after its words) */
    size_t nargs;
    bool have_now;
    int64_t now;
    cf_engine *engine;
};

/* ---- messages ---------------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, "caseflow: ...". */
static void say(const char *fmt, ...)
{
    va_list ap;
    fputs("caseflow: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("caseflow: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try 'caseflow --help')\n", stderr);
    return EXIT_USAGE;
}

/* Report an API failure and return its exit status. */
static int fail(int rc, const cf_error *err)
{
    const char *msg = err && err->message[0] ? err->message : cf_strerror(rc);
    say("%s", msg);
    return cf_exit_code(rc);
}

/* Report an API failure for one input line of a bulk referral. */
static int fail_line(unsigned long line, int rc, const cf_error *err)
{
    const char *msg = err && err->message[0] ? err->message : cf_strerror(rc);
    say("line %lu: %s", line, msg);
    return cf_exit_code(rc);
}

/* ---- output helpers ---------------------------------------------------- */

/* Machine output: one JSON value on its own line(s). */
static void print_json(const json_t *v, bool compact)
{
    size_t flags = JSON_ENCODE_ANY | (compact ? JSON_COMPACT : JSON_INDENT(2));
    json_dumpf(v, stdout, flags);
    fputc('\n', stdout);
}

/* Text of member key of obj for human output: strings as they are, numbers
 * and booleans spelled out, null or absent as "-". buf holds what is not a
 * string already. */
static const char *jtext(const json_t *obj, const char *key, char *buf,
                         size_t size)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return "-";
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, size, "%g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "yes" : "no";
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, size, "%s", s ? s : "?");
    free(s);
    return buf;
}

/* "name vN" for a workflow member that is an object {name, version}, the
 * string itself when it is a string. */
static const char *workflow_text(const json_t *obj, char *buf, size_t size)
{
    const json_t *wf = json_object_get(obj, "workflow");
    if (json_is_object(wf)) {
        char n[32];
        snprintf(buf, size, "%s v%s",
                 json_string_value(json_object_get(wf, "name"))
                     ? json_string_value(json_object_get(wf, "name"))
                     : "?",
                 jtext(wf, "version", n, sizeof n));
        return buf;
    }
    return jtext(obj, "workflow", buf, size);
}

/* Strings of array member key joined with ", ". */
static const char *join_strings(const json_t *obj, const char *key, char *buf,
                                size_t size)
{
    const json_t *arr = json_object_get(obj, key);
    size_t i, used = 0;
    const json_t *v;
    buf[0] = '\0';
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return "-";
    json_array_foreach(arr, i, v) {
        const char *s = json_is_string(v) ? json_string_value(v) : "?";
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", s);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/*
 * A small aligned table for human output: ncols columns per row, each cell
 * a copy of its text, printed with two spaces between columns and the last
 * column unpadded.
 */
struct table {
    size_t ncols, nrows, cap;
    char **cells;
    size_t width[8];
};

static void table_init(struct table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
}

static void table_add(struct table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
        if (!cells)
            return; /* out of memory: the row is left out */
        t->cells = cells;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        char *s = strdup(row[c] ? row[c] : "-");
        size_t len = s ? strlen(s) : 0;
        t->cells[t->nrows * t->ncols + c] = s;
        if (len > t->width[c])
            t->width[c] = len;
    }
    t->nrows++;
}

static void table_print_free(struct table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                printf("%-*s  ", (int)t->width[c], s ? s : "");
            else
                printf("%s\n", s ? s : "");
            free(t->cells[r * t->ncols + c]);
        }
    }
    free(t->cells);
    t->cells = NULL;
}

/* ---- the engine clock: CASEFLOW_NOW ------------------------------------- */

/* RFC 3339 with a required offset, parsed by the engine's own clock. */
static bool parse_rfc3339(const char *s, int64_t *out)
{
    return cf_time_from_rfc3339(s, out) == 0;
}

/* ---- opening the store -------------------------------------------------- */

static int open_engine_mode(struct cli *c, bool create, bool readonly)
{
    cf_open_options opts;
    cf_error err;
    memset(&opts, 0, sizeof opts);
    opts.plugin_path = c->plugins;
    opts.key_path = c->signing_key;
    opts.create = create;
    opts.readonly = readonly;
    int rc = cf_engine_open(c->store, &opts, &c->engine, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->have_now)
        cf_engine_set_clock(c->engine, c->now);
    if (c->actor)
        cf_engine_set_actor(c->engine, c->actor, c->reason);
    return 0;
}

static int open_engine(struct cli *c, bool create)
{
    return open_engine_mode(c, create, false);
}

/* Parse --data: inline JSON or @FILE; an object. *out is a new reference. */
static int load_data(const char *text, json_t **out)
{
    json_error_t jerr;
    json_t *v;
    *out = NULL;
    if (text[0] == '@') {
        FILE *f = fopen(text + 1, "r");
        if (!f) {
            say("--data: cannot open %s: %s", text + 1, strerror(errno));
            return EXIT_NOINPUT;
        }
        v = json_loadf(f, JSON_IN_FLAGS, &jerr);
        fclose(f);
        if (!v) {
            say("--data: invalid JSON in %s: %s (line %d, column %d)",
                text + 1, jerr.text, jerr.line, jerr.column);
            return EXIT_DATAERR;
        }
    } else {
        v = json_loads(text, JSON_IN_FLAGS, &jerr);
        if (!v) {
            say("--data: invalid JSON: %s (column %d)", jerr.text, jerr.column);
            return EXIT_DATAERR;
        }
    }
    if (!json_is_object(v)) {
        json_decref(v);
        say("--data: not a JSON object");
        return EXIT_DATAERR;
    }
    *out = v;
    return 0;
}

/* A non-negative integer option; false (after a usage message) otherwise. */
static bool parse_count(const char *opt, const char *text, int64_t *out)
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

/* ---- commands ----------------------------------------------------------- */

static int cmd_init(struct cli *c)
{
    cf_error err;
    if (!c->actor)
        return usage_error("init needs --actor NAME (or CASEFLOW_ACTOR): "
                           "the store's first administrator");
    int rc = open_engine(c, true);
    if (rc)
        return rc;
    rc = cf_store_init(c->engine, &err);
    if (rc < 0)
        return fail(rc, &err);
    const char *path = c->store ? c->store : "./caseflow.db";
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s}", "store", path, "administrator",
                              c->actor);
        print_json(o, false);
        json_decref(o);
    } else {
        printf("store %s ready; administrator %s\n", path, c->actor);
    }
    return 0;
}

/* Split the --role values at commas into a NULL-terminated array of new
 * strings; NULL when there is none (or out of memory). */
static char **collect_roles(const struct cli *c)
{
    size_t n = 0, cap = 8;
    char **roles = calloc(cap, sizeof *roles);
    for (size_t i = 0; roles && i < c->nroles; i++) {
        char *copy = strdup(c->roles[i]), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            size_t len = strlen(tok);
            while (len && tok[len - 1] == ' ')
                tok[--len] = '\0';
            if (!len)
                continue;
            if (n + 1 >= cap) {
                char **more = realloc(roles, 2 * cap * sizeof *roles);
                if (!more)
                    break;
                roles = more;
                cap *= 2;
            }
            roles[n++] = strdup(tok);
            roles[n] = NULL;
        }
        free(copy);
    }
    if (roles && n == 0) {
        free(roles);
        roles = NULL;
    }
    return roles;
}

static void free_roles(char **roles)
{
    for (size_t i = 0; roles && roles[i]; i++)
        free(roles[i]);
    free(roles);
}

static int cmd_user_add(struct cli *c)
{
    cf_error err;
    char **roles = collect_roles(c);
    if (!roles)
        return usage_error("user add needs at least one --role ROLE");
    int rc = open_engine(c, false);
    if (rc) {
        free_roles(roles);
        return rc;
    }
    rc = cf_user_add(c->engine, c->args[0], (const char *const *)roles, &err);
    if (rc < 0) {
        free_roles(roles);
        return fail(rc, &err);
    }
    json_t *list = json_array();
    for (size_t i = 0; roles[i]; i++)
        json_array_append_new(list, json_string(roles[i]));
    if (c->json) {
        json_t *o = json_pack("{s:s, s:o}", "name", c->args[0], "roles", list);
        print_json(o, false);
        json_decref(o);
    } else {
        json_t *o = json_pack("{s:o}", "roles", list);
        char buf[512];
        printf("added user %s (%s)\n", c->args[0],
               join_strings(o, "roles", buf, sizeof buf));
        json_decref(o);
    }
    free_roles(roles);
    return 0;
}

static int cmd_user_list(struct cli *c)
{
    cf_error err;
    json_t *users = NULL, *u;
    size_t i;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_user_list(c->engine, &users, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(users, false);
    } else {
        struct table t;
        table_init(&t, 4);
        table_add(&t, (const char *[]){"NAME", "ROLES", "STATUS", "CREATED"});
        json_array_foreach(users, i, u) {
            char b1[64], b2[512], b3[64];
            const char *disabled = json_is_true(json_object_get(u, "disabled"))
                                       ? "disabled"
                                       : "active";
            table_add(&t, (const char *[]){jtext(u, "name", b1, sizeof b1),
                                           join_strings(u, "roles", b2, sizeof b2),
                                           disabled,
                                           jtext(u, "created_at", b3, sizeof b3)});
        }
        table_print_free(&t);
    }
    json_decref(users);
    return 0;
}

static int cmd_user_disable(struct cli *c)
{
    cf_error err;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_user_disable(c->engine, c->args[0], &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:b}", "name", c->args[0], "disabled", 1);
        print_json(o, false);
        json_decref(o);
    } else {
        printf("disabled user %s\n", c->args[0]);
    }
    return 0;
}

/* A workflow argument: a path as given, or the name of an installed
 * workflow ("polit" or "polit.lua" in the installed workflow directory), so
 * an installed caseflow finds its own workflows. */
static const char *workflow_file(const char *arg, char *buf, size_t size)
{
    if (strchr(arg, '/') || access(arg, F_OK) == 0)
        return arg;
#ifdef CF_WORKFLOWDIR
    snprintf(buf, size, "%s/%s", CF_WORKFLOWDIR, arg);
    if (access(buf, R_OK) == 0)
        return buf;
    snprintf(buf, size, "%s/%s.lua", CF_WORKFLOWDIR, arg);
    if (access(buf, R_OK) == 0)
        return buf;
#else
    (void)buf;
    (void)size;
#endif
    return arg;
}

static int cmd_workflow_deploy(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    char path[4096];
    rc = cf_workflow_deploy(c->engine, workflow_file(c->args[0], path, sizeof path), &out,
                            &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(out ? out : json_object(), false);
    } else if (out) {
        char b1[64], b2[32], b3[80];
        bool created = !json_is_false(json_object_get(out, "created"));
        printf("%s %s version %s (sha256 %s)\n",
               created ? "deployed" : "already deployed:",
               jtext(out, "name", b1, sizeof b1),
               jtext(out, "version", b2, sizeof b2),
               jtext(out, "hash", b3, sizeof b3));
    } else {
        printf("deployed %s\n", c->args[0]);
    }
    json_decref(out);
    return 0;
}

static int cmd_workflow_list(struct cli *c)
{
    cf_error err;
    json_t *list = NULL, *w;
    size_t i;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_workflow_list(c->engine, &list, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(list, false);
    } else {
        struct table t;
        table_init(&t, 5);
        table_add(&t, (const char *[]){"NAME", "VERSION", "DEPLOYED", "BY", "HASH"});
        json_array_foreach(list, i, w) {
            char b1[64], b2[32], b3[64], b4[64], b5[80];
            const char *hash = jtext(w, "hash", b5, sizeof b5);
            char short_hash[13];
            snprintf(short_hash, sizeof short_hash, "%s", hash);
            table_add(&t, (const char *[]){jtext(w, "name", b1, sizeof b1),
                                           jtext(w, "version", b2, sizeof b2),
                                           jtext(w, "deployed_at", b3, sizeof b3),
                                           jtext(w, "deployed_by", b4, sizeof b4),
                                           short_hash});
        }
        table_print_free(&t);
    }
    json_decref(list);
    return 0;
}

/* Lints without a store: the plugins are looked up on --plugins (handed to
 * the library through CASEFLOW_PLUGIN_PATH, as it has no engine options). */
static int cmd_workflow_check(struct cli *c)
{
    cf_error err;
    json_t *findings = NULL, *f;
    size_t i;
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0) {
        say("cannot set CASEFLOW_PLUGIN_PATH: %s", strerror(errno));
        return 70;
    }
    char path[4096];
    int rc = cf_workflow_check(NULL, workflow_file(c->args[0], path, sizeof path), &findings,
                               &err);
    if (rc < 0 && !(rc == CF_EINVALID && json_array_size(findings) > 0)) {
        json_decref(findings);
        return fail(rc, &err);
    }
    if (c->json) {
        print_json(findings ? findings : json_array(), false);
    } else {
        json_array_foreach(findings, i, f) {
            char b1[512], b2[32], b3[64], b4[512];
            const json_t *line = json_object_get(f, "line");
            if (json_integer_value(line) > 0)
                printf("%s:%s: %s: %s\n", jtext(f, "file", b1, sizeof b1),
                       jtext(f, "line", b2, sizeof b2),
                       jtext(f, "rule", b3, sizeof b3),
                       jtext(f, "message", b4, sizeof b4));
            else
                printf("%s: %s: %s\n", jtext(f, "file", b1, sizeof b1),
                       jtext(f, "rule", b3, sizeof b3),
                       jtext(f, "message", b4, sizeof b4));
        }
    }
    size_t n = json_array_size(findings);
    json_decref(findings);
    if (n > 0) {
        say("%s: %zu finding%s", c->args[0], n, n == 1 ? "" : "s");
        return EXIT_DATAERR;
    }
    if (!c->json)
        printf("%s: ok\n", c->args[0]);
    return 0;
}

/* One referral's result line: "CF-000001  authorisation  created". */
static void print_referral(const struct cli *c, const json_t *out)
{
    if (c->json) {
        print_json(out, true);
        return;
    }
    char b1[64], b2[64];
    printf("%s  %-13s  %s\n", jtext(out, "id", b1, sizeof b1),
           jtext(out, "state", b2, sizeof b2),
           json_is_false(json_object_get(out, "created")) ? "existing"
                                                           : "created");
}

/* Stdout must still take what we print; 74 when it does not. */
static int check_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        say("cannot write output: %s", strerror(errno ? errno : EIO));
        return EXIT_IOERR;
    }
    return 0;
}

/* Bulk intake state: results wait here until their batch commits. */
struct bulk {
    struct cli *c;
    json_t *pending; /* array of results not yet durable */
    bool open;       /* a batch is open */
    int status;      /* exit status of the first failure, 0 if none */
};

/* Where the first NUL byte of text is, as line (counted from first_line)
 * and column; false when there is none. jansson reads a NUL as the end of
 * input, whose message would not point at the real problem. */
static bool find_nul(const char *text, size_t len, unsigned long first_line,
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

static void bulk_failed(struct bulk *b, int status)
{
    if (!b->status)
        b->status = status;
}

/* Commit the open batch, then (and only then) print its results. Returns
 * 0, or an exit status when the run cannot go on. */
static int bulk_commit(struct bulk *b)
{
    cf_error err;
    size_t i;
    json_t *r;
    if (!b->open)
        return 0;
    b->open = false;
    int rc = cf_batch_commit(b->c->engine, &err);
    if (rc < 0) {
        cf_batch_rollback(b->c->engine);
        json_array_clear(b->pending);
        return fail(rc, &err);
    }
    json_array_foreach(b->pending, i, r)
        print_referral(b->c, r);
    json_array_clear(b->pending);
    return check_stdout();
}

/* One JSON line of bulk intake. Returns 0 to go on, or an exit status when
 * the run must stop (the store or the actor fails every line alike). */
static int bulk_line(struct bulk *b, const char *text, size_t len,
                     unsigned long lineno)
{
    cf_error err;
    json_error_t jerr;
    unsigned long nl;
    size_t col;
    if (find_nul(text, len, lineno, &nl, &col)) {
        say("line %lu: invalid JSON: a NUL byte (column %zu)", lineno, col);
        bulk_failed(b, EXIT_DATAERR);
        return 0;
    }
    json_t *ref = json_loadb(text, len, JSON_IN_FLAGS, &jerr), *out = NULL;
    if (!ref) {
        say("line %lu: invalid JSON: %s (column %d)", lineno, jerr.text,
            jerr.column);
        bulk_failed(b, EXIT_DATAERR);
        return 0;
    }
    if (!json_is_object(ref)) {
        json_decref(ref);
        say("line %lu: referral is not a JSON object", lineno);
        bulk_failed(b, EXIT_DATAERR);
        return 0;
    }
    if (!b->open) {
        int rc = cf_batch_begin(b->c->engine, &err);
        if (rc < 0) {
            json_decref(ref);
            return fail(rc, &err);
        }
        b->open = true;
    }
    int rc = cf_refer(b->c->engine, b->c->workflow, ref, &out, &err);
    json_decref(ref);
    if (rc < 0) {
        int status = fail_line(lineno, rc, &err);
        bulk_failed(b, status);
        /* A bad referral spoils only itself; anything else (store, actor,
         * workflow) would fail every line: keep what is in, then stop. */
        if (rc == CF_EINVALID || rc == CF_ECONFLICT)
            return 0;
        int st = bulk_commit(b);
        return st ? st : status;
    }
    json_array_append_new(b->pending, out);
    if (json_array_size(b->pending) >= REFER_BATCH)
        return bulk_commit(b);
    return 0;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* A line that is, on its own, one JSON object. */
static bool object_line(const char *s, size_t len)
{
    json_t *v = json_loadb(s, len, JSON_IN_FLAGS, NULL);
    bool ok = json_is_object(v);
    json_decref(v);
    return ok;
}

/* Input of refer: a line reader that remembers line numbers. */
struct input {
    FILE *f;
    const char *name;
    char *line;
    size_t cap;
    ssize_t len;
    unsigned long lineno;
};

/* Next non-blank line into in->line, without its line end; false at the
 * end (or on a read error). */
static bool next_line(struct input *in)
{
    while ((in->len = getline(&in->line, &in->cap, in->f)) >= 0) {
        in->lineno++;
        while (in->len > 0 && (in->line[in->len - 1] == '\n' ||
                               in->line[in->len - 1] == '\r'))
            in->line[--in->len] = '\0';
        if (!blank(in->line, (size_t)in->len))
            return true;
    }
    return false;
}

/* A single referral (the whole input is one object). */
static int refer_one(struct cli *c, const char *text, size_t len,
                     unsigned long first_line)
{
    cf_error err;
    json_error_t jerr;
    json_t *out = NULL;
    unsigned long nl;
    size_t col;
    if (find_nul(text, len, first_line, &nl, &col)) {
        say("invalid JSON: a NUL byte (line %lu, column %zu)", nl, col);
        return EXIT_DATAERR;
    }
    json_t *ref = json_loadb(text, len, JSON_IN_FLAGS, &jerr);
    if (!ref) {
        say("invalid JSON: %s (line %lu, column %d)", jerr.text,
            first_line + (unsigned long)jerr.line - 1, jerr.column);
        return EXIT_DATAERR;
    }
    if (!json_is_object(ref)) {
        json_decref(ref);
        say("referral is not a JSON object");
        return EXIT_DATAERR;
    }
    int rc = cf_refer(c->engine, c->workflow, ref, &out, &err);
    json_decref(ref);
    if (rc < 0)
        return fail(rc, &err);
    print_referral(c, out);
    json_decref(out);
    return 0;
}

/*
 * The input after a first line that is the start of a JSON value: either one
 * object over many lines (pretty-printed), read whole; or JSON lines whose
 * first line is broken, which shows when the second line is an object on
 * its own. In that case *lines_mode is set, in->line holds that second line
 * and nothing is done yet; otherwise the return value is the exit status.
 */
static int refer_document(struct cli *c, struct input *in, bool *lines_mode)
{
    char *doc = NULL;
    size_t size = 0;
    unsigned long first = in->lineno, at = in->lineno;
    FILE *mem = open_memstream(&doc, &size);
    if (!mem) {
        say("out of memory");
        return 70;
    }
    fwrite(in->line, 1, (size_t)in->len, mem);
    while (next_line(in)) {
        if (at == first && object_line(in->line, (size_t)in->len)) {
            fclose(mem);
            free(doc);
            *lines_mode = true;
            return 0;
        }
        /* blank lines kept, so that jansson's line numbers are the input's */
        for (; at < in->lineno; at++)
            fputc('\n', mem);
        fwrite(in->line, 1, (size_t)in->len, mem);
    }
    if (ferror(in->f)) {
        fclose(mem);
        free(doc);
        say("cannot read %s: %s", in->name, strerror(errno));
        return EXIT_IOERR;
    }
    if (fclose(mem) != 0 || !doc) {
        free(doc);
        say("out of memory");
        return 70;
    }
    int st = refer_one(c, doc, size, first);
    free(doc);
    return st;
}

/* JSON lines: first (line first_no) was read before the line in in->line;
 * both are taken, then the rest of the input. */
static int refer_lines(struct cli *c, struct input *in, const char *first,
                       size_t first_len, unsigned long first_no)
{
    struct bulk b = {.c = c, .pending = json_array()};
    int st = bulk_line(&b, first, first_len, first_no);
    if (!st)
        st = bulk_line(&b, in->line, (size_t)in->len, in->lineno);
    while (!st && next_line(in))
        st = bulk_line(&b, in->line, (size_t)in->len, in->lineno);
    if (!st && ferror(in->f)) {
        say("cannot read %s: %s", in->name, strerror(errno));
        st = EXIT_IOERR;
        bulk_failed(&b, st);
    }
    if (!st)
        st = bulk_commit(&b);
    else if (b.open) /* stopping on an error: keep what was accepted */
        bulk_commit(&b);
    json_decref(b.pending);
    return b.status ? b.status : st;
}

/*
 * Decide what the input is from its first lines: a first line that is the
 * start of a value but not a whole one begins a pretty-printed document;
 * a first line that stands alone is one referral when nothing follows it,
 * else the first of JSON lines.
 */
static int refer_stream(struct cli *c, struct input *in)
{
    if (!next_line(in)) {
        if (ferror(in->f)) {
            say("cannot read %s: %s", in->name, strerror(errno));
            return EXIT_IOERR;
        }
        say("no referral in %s", in->name);
        return EXIT_DATAERR;
    }
    /* A copy with its length: a line may hold NUL bytes, which JSON
     * refuses and which must not cut the line short. */
    size_t first_len = (size_t)in->len;
    unsigned long first_no = in->lineno;
    char *first = malloc(first_len + 1);
    if (!first) {
        say("out of memory");
        return 70;
    }
    memcpy(first, in->line, first_len + 1);
    json_error_t jerr;
    json_t *v = json_loadb(first, first_len, JSON_IN_FLAGS, &jerr);
    bool partial = !v && json_error_code(&jerr) ==
                             json_error_premature_end_of_input;
    json_decref(v);
    int st;
    if (partial) {
        bool lines_mode = false;
        st = refer_document(c, in, &lines_mode);
        if (lines_mode)
            st = refer_lines(c, in, first, first_len, first_no);
    } else if (next_line(in)) {
        st = refer_lines(c, in, first, first_len, first_no);
    } else if (ferror(in->f)) {
        say("cannot read %s: %s", in->name, strerror(errno));
        st = EXIT_IOERR;
    } else {
        st = refer_one(c, first, first_len, first_no);
    }
    free(first);
    return st;
}

static int cmd_refer(struct cli *c)
{
    struct input in = {.f = stdin, .name = "standard input"};
    const char *file = c->nargs ? c->args[0] : "-";
    if (strcmp(file, "-") != 0) {
        in.f = fopen(file, "r");
        in.name = file;
        if (!in.f) {
            say("cannot open %s: %s", file, strerror(errno));
            return EXIT_NOINPUT;
        }
    }
    int st = open_engine(c, false);
    if (!st)
        st = refer_stream(c, &in);
    free(in.line);
    if (in.f != stdin)
        fclose(in.f);
    return st;
}

static void print_case(const json_t *cs)
{
    char b[512];
    const json_t *v;
    size_t i;
    printf("id          %s\n", jtext(cs, "id", b, sizeof b));
    printf("workflow    %s\n", workflow_text(cs, b, sizeof b));
    printf("state       %s\n", jtext(cs, "state", b, sizeof b));
    printf("revision    %s\n", jtext(cs, "revision", b, sizeof b));
    printf("created     %s\n", jtext(cs, "created_at", b, sizeof b));
    printf("updated     %s\n", jtext(cs, "updated_at", b, sizeof b));
    if (json_object_get(cs, "deadline_at"))
        printf("deadline    %s\n", jtext(cs, "deadline_at", b, sizeof b));
    json_array_foreach(json_object_get(cs, "tasks"), i, v) {
        char *s = json_dumps(v, JSON_COMPACT);
        printf("task        %s\n", s ? s : "?");
        free(s);
    }
    json_array_foreach(json_object_get(cs, "timers"), i, v) {
        char *s = json_dumps(v, JSON_COMPACT);
        printf("timer       %s\n", s ? s : "?");
        free(s);
    }
    fputs("data        ", stdout);
    json_dumpf(json_object_get(cs, "data"), stdout,
               JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

static int cmd_show(struct cli *c)
{
    cf_error err;
    json_t *cs = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_case_get(c->engine, c->args[0], &cs, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json)
        print_json(cs, false);
    else
        print_case(cs);
    json_decref(cs);
    return 0;
}

static int cmd_list(struct cli *c)
{
    cf_error err;
    json_t *list = NULL, *cs;
    int64_t limit = 0;
    size_t i;
    if (c->limit && !parse_count("limit", c->limit, &limit))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_case_list(c->engine, c->state, (size_t)limit, &list, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(list, false);
    } else {
        struct table t;
        table_init(&t, 4);
        table_add(&t, (const char *[]){"ID", "STATE", "WORKFLOW", "UPDATED"});
        json_array_foreach(list, i, cs) {
            char b1[64], b2[64], b3[96], b4[64];
            table_add(&t, (const char *[]){jtext(cs, "id", b1, sizeof b1),
                                           jtext(cs, "state", b2, sizeof b2),
                                           workflow_text(cs, b3, sizeof b3),
                                           jtext(cs, "updated_at", b4, sizeof b4)});
        }
        table_print_free(&t);
    }
    json_decref(list);
    return 0;
}

static int cmd_history(struct cli *c)
{
    cf_error err;
    json_t *hist = NULL, *e;
    size_t i;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_case_history(c->engine, c->args[0], &hist, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(hist, false);
    } else {
        struct table t;
        table_init(&t, 6);
        table_add(&t, (const char *[]){"SEQ", "AT", "ACTOR", "EVENT", "FROM", "TO"});
        json_array_foreach(hist, i, e) {
            char b1[32], b2[64], b3[64], b4[64], b5[160], b6[64], b7[64];
            snprintf(b5, sizeof b5, "%s (%s)", jtext(e, "actor", b3, sizeof b3),
                     jtext(e, "role", b4, sizeof b4));
            table_add(&t, (const char *[]){jtext(e, "seq", b1, sizeof b1),
                                           jtext(e, "at", b2, sizeof b2), b5,
                                           jtext(e, "event", b3, sizeof b3),
                                           jtext(e, "from", b6, sizeof b6),
                                           jtext(e, "to", b7, sizeof b7)});
        }
        table_print_free(&t);
    }
    json_decref(hist);
    return 0;
}

static int cmd_act(struct cli *c)
{
    cf_error err;
    json_t *data = NULL, *out = NULL;
    int64_t revision = -1;
    if (c->revision && !parse_count("revision", c->revision, &revision))
        return EXIT_USAGE;
    if (c->data) {
        int st = load_data(c->data, &data);
        if (st)
            return st;
    }
    int rc = open_engine(c, false);
    if (rc) {
        json_decref(data);
        return rc;
    }
    rc = cf_act(c->engine, c->args[0], c->args[1], data, revision, &out, &err);
    json_decref(data);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(out ? out : json_object(), true);
    } else if (out) {
        char b1[64], b2[64], b3[64], b4[32];
        printf("%s  %s -> %s  (revision %s)\n", jtext(out, "id", b1, sizeof b1),
               jtext(out, "previous_state", b2, sizeof b2),
               jtext(out, "state", b3, sizeof b3),
               jtext(out, "revision", b4, sizeof b4));
    }
    json_decref(out);
    return 0;
}

static int cmd_tick(struct cli *c)
{
    cf_error err;
    json_t *fired = NULL, *f;
    size_t i;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_tick(c->engine, &fired, &err);
    /* A refused timer still leaves the others' results to print. */
    if (!fired) {
        if (rc < 0)
            return fail(rc, &err);
        fired = json_array();
    }
    size_t n = 0;
    if (c->json) {
        print_json(fired, false);
    } else {
        json_array_foreach(fired, i, f) {
            char b1[64], b2[64], b3[512];
            bool failed = json_object_get(f, "error") != NULL;
            n += !failed;
            printf("%s  %s  %s%s\n", jtext(f, "id", b1, sizeof b1),
                   jtext(f, "event", b2, sizeof b2), failed ? "refused: " : "",
                   failed ? jtext(f, "error", b3, sizeof b3)
                          : jtext(f, "state", b3, sizeof b3));
        }
        printf("%zu timer%s fired\n", n, n == 1 ? "" : "s");
    }
    json_decref(fired);
    return rc < 0 ? fail(rc, &err) : 0;
}

static int cmd_audit_verify(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    char b1[32], b2[80];
    int rc;
    if (c->file) {
        /* An export, on any machine: no store involved. */
        rc = cf_audit_verify_file(c->file, c->key, &out, &err);
    } else {
        /* Verifying writes nothing: read-only, so archives on read-only
         * media verify too. */
        if ((rc = open_engine_mode(c, false, true)))
            return rc;
        rc = cf_audit_verify_with(c->engine, c->key, c->chain_only ? CF_VERIFY_CHAIN_ONLY : 0,
                                  &out, &err);
    }
    if (c->json && out)
        print_json(out, false);
    if (rc < 0) {
        json_decref(out);
        return fail(rc, &err);
    }
    if (!c->json) {
        char b3[32], b4[32], b5[32];
        printf("audit %s ok: %s records, head %s\n", c->file ? "export" : "chain",
               jtext(out, "records", b1, sizeof b1), jtext(out, "head", b2, sizeof b2));
        printf("signed checkpoints: %s, last signed record %s, unsigned after it: %s\n",
               jtext(out, "checkpoints", b3, sizeof b3),
               jtext(out, "last_signed_seq", b4, sizeof b4),
               jtext(out, "unsigned_tail", b5, sizeof b5));
        json_t *tables = json_object_get(out, "tables");
        if (tables) {
            char t1[32], t2[32], t3[32], t4[32];
            printf("tables match the chain: %s cases, %s history records, %s users, "
                   "%s workflow versions\n",
                   jtext(tables, "cases", t1, sizeof t1), jtext(tables, "events", t2, sizeof t2),
                   jtext(tables, "users", t3, sizeof t3),
                   jtext(tables, "workflows", t4, sizeof t4));
        }
    }
    json_decref(out);
    return 0;
}

static int cmd_plugin_list(struct cli *c)
{
    cf_error err;
    json_t *list = NULL, *p;
    size_t i;
    /* Plugins are inspected without a store: the search path is --plugins
     * (or CASEFLOW_PLUGIN_PATH) and the installed directory. */
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0)
        return fail(CF_ENOMEM, NULL);
    int rc = cf_plugin_list(NULL, &list, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(list, false);
    } else {
        struct table t;
        table_init(&t, 5);
        table_add(&t, (const char *[]){"NAME", "VERSION", "ABI", "PATH", "SUMMARY"});
        json_array_foreach(list, i, p) {
            char b1[64], b2[32], b3[32], b4[512], b5[512];
            const char *summary = json_object_get(p, "error")
                                      ? jtext(p, "error", b5, sizeof b5)
                                      : jtext(p, "summary", b5, sizeof b5);
            table_add(&t, (const char *[]){jtext(p, "name", b1, sizeof b1),
                                           jtext(p, "version", b2, sizeof b2),
                                           jtext(p, "abi", b3, sizeof b3),
                                           jtext(p, "path", b4, sizeof b4),
                                           summary});
        }
        table_print_free(&t);
    }
    json_decref(list);
    return 0;
}

static int cmd_plugin_info(struct cli *c)
{
    cf_error err;
    json_t *d = NULL;
    char b[1024];
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0)
        return fail(CF_ENOMEM, NULL);
    int rc = cf_plugin_info(NULL, c->args[0], &d, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(d, false);
    } else {
        printf("name      %s\n", jtext(d, "name", b, sizeof b));
        printf("version   %s\n", jtext(d, "version", b, sizeof b));
        printf("summary   %s\n", jtext(d, "summary", b, sizeof b));
        printf("abi       %s\n", jtext(d, "abi", b, sizeof b));
        printf("accepts   %s\n", join_strings(d, "accepts", b, sizeof b));
        printf("emits     %s\n", join_strings(d, "emits", b, sizeof b));
        printf("path      %s\n", jtext(d, "path", b, sizeof b));
        printf("sha256    %s\n", jtext(d, "sha256", b, sizeof b));
    }
    json_decref(d);
    return 0;
}

/* Print a flat object as "key  value" lines (human output of small results). */
static void print_pairs(const json_t *o)
{
    const char *k;
    json_t *v;
    char b[1024];
    json_object_foreach((json_t *)o, k, v) printf("%-16s %s\n", k, jtext(o, k, b, sizeof b));
}

/* --since for reports: a date (YYYY-MM-DD, UTC midnight) or an RFC 3339 time. */
static bool parse_since(const char *text, int64_t *out)
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

static void print_counts(const char *title, const json_t *o)
{
    const char *k;
    json_t *v;
    printf("%s\n", title);
    if (!json_object_size(o))
        printf("  (none)\n");
    json_object_foreach((json_t *)o, k, v)
    {
        char b[64];
        printf("  %-28s %s\n", k, jtext(o, k, b, sizeof b));
    }
}

static int cmd_report(struct cli *c)
{
    cf_error err;
    json_t *r = NULL, *v;
    const char *k;
    int64_t since = 0;
    if (c->since && !parse_since(c->since, &since))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_report(c->engine, c->workflow, since, &r, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(r, false);
        json_decref(r);
        return 0;
    }
    char b1[64], b2[64];
    printf("caseflow report: workflow %s, since %s\n\n", jtext(r, "workflow", b1, sizeof b1),
           jtext(r, "since", b2, sizeof b2));
    print_counts("Cases by state", json_object_get(r, "by_state"));
    print_counts("Closed cases by outcome", json_object_get(r, "by_outcome"));
    printf("Routes entered (cases; of which came back with a repeat referral)\n");
    json_object_foreach(json_object_get(r, "routes"), k, v)
        printf("  %-28s %s  (came back: %s)\n", k, jtext(v, "cases", b1, sizeof b1),
               jtext(v, "came_back", b2, sizeof b2));
    print_counts("Escalations by the state they came from", json_object_get(r, "escalations"));
    print_counts("Flags", json_object_get(r, "flags"));
    printf("Days from referral (median)\n");
    json_object_foreach(json_object_get(r, "days_from_referral"), k, v)
        printf("  %-28s %s days over %s cases\n", k, jtext(v, "median_days", b1, sizeof b1),
               jtext(v, "cases", b2, sizeof b2));
    printf("Response deadlines by grade (met / missed / cases)\n");
    json_object_foreach(json_object_get(r, "deadlines"), k, v)
    {
        char b3[64];
        printf("  %-28s %s / %s / %s\n", k, jtext(v, "met", b1, sizeof b1),
               jtext(v, "missed", b2, sizeof b2), jtext(v, "cases", b3, sizeof b3));
    }
    json_decref(r);
    return 0;
}

static int cmd_workflow_graph(struct cli *c)
{
    cf_error err;
    char *dot = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_workflow_graph(c->engine, c->args[0], 0, &dot, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s}", "name", c->args[0], "dot", dot);
        print_json(o, false);
        json_decref(o);
    } else {
        fputs(dot, stdout);
    }
    free(dot);
    return 0;
}

static int cmd_audit_checkpoint(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_audit_checkpoint_now(c->engine, &out, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json)
        print_json(out, false);
    else
        print_pairs(out);
    json_decref(out);
    return 0;
}

static int cmd_audit_export(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int64_t since = 1;
    if (c->since && !parse_count("since", c->since, &since))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_audit_export(c->engine, since, c->output, &out, &err);
    if (rc < 0)
        return fail(rc, &err);
    /* The records went to stdout when there is no --output: say nothing more. */
    if (c->output) {
        if (c->json)
            print_json(out, false);
        else
            printf("exported %s records from %s to %s\n",
                   jtext(out, "records", (char[32]){0}, 32), jtext(out, "since", (char[32]){0}, 32),
                   c->output);
    }
    json_decref(out);
    return 0;
}

static int print_decision(struct cli *c, json_t *out, const char *what)
{
    if (c->json) {
        print_json(out, false);
    } else {
        char b1[64], b2[64];
        printf("%s  %s  (%s)\n", jtext(out, "id", b1, sizeof b1), what,
               jtext(out, "state", b2, sizeof b2));
    }
    json_decref(out);
    return 0;
}

static int cmd_retention_due(struct cli *c)
{
    cf_error err;
    json_t *list = NULL, *r;
    size_t i;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_due(c->engine, &list, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(list, false);
    } else {
        struct table t;
        table_init(&t, 5);
        table_add(&t, (const char *[]){"ID", "STATE", "OUTCOME", "REVIEW", "LEGAL HOLD"});
        json_array_foreach(list, i, r)
        {
            char b1[64], b2[64], b3[64], b4[64], b5[256];
            table_add(&t, (const char *[]){jtext(r, "id", b1, sizeof b1),
                                           jtext(r, "state", b2, sizeof b2),
                                           jtext(r, "outcome", b3, sizeof b3),
                                           jtext(r, "review_at", b4, sizeof b4),
                                           jtext(r, "legal_hold", b5, sizeof b5)});
        }
        table_print_free(&t);
    }
    json_decref(list);
    return 0;
}

static int cmd_retention_keep(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int64_t until = 0;
    if (c->until && !parse_since(c->until, &until))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_keep(c->engine, c->args[0], until, &out, &err);
    return rc < 0 ? fail(rc, &err) : print_decision(c, out, "kept");
}

static int hold_or_release(struct cli *c, int hold)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_hold(c->engine, c->args[0], hold, &out, &err);
    return rc < 0 ? fail(rc, &err) : print_decision(c, out, hold ? "held" : "released");
}

static int cmd_retention_hold(struct cli *c)
{
    return hold_or_release(c, 1);
}

static int cmd_retention_release(struct cli *c)
{
    return hold_or_release(c, 0);
}

static int cmd_retention_dispose(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_dispose(c->engine, c->args[0], &out, &err);
    return rc < 0 ? fail(rc, &err) : print_decision(c, out, "disposed of");
}

static int cmd_policy_show(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_policy_get(c->engine, &out, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json)
        print_json(out, false);
    else
        print_pairs(out);
    json_decref(out);
    return 0;
}

static int cmd_policy_set(struct cli *c)
{
    cf_error err;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_policy_set(c->engine, c->args[0], c->args[1], &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s}", "key", c->args[0], "value", c->args[1]);
        print_json(o, false);
        json_decref(o);
    } else {
        printf("policy %s = %s\n", c->args[0], c->args[1]);
    }
    return 0;
}

/* ---- the command table -------------------------------------------------- */

struct command {
    const char *name, *sub;
    int (*run)(struct cli *);
    size_t min_args, max_args; /* after the command words */
    unsigned opts;             /* OPT_* it accepts */
    const char *usage;         /* arguments, after "caseflow name [sub]" */
    const char *summary;
};

static const struct command commands[] = {
    {"init", NULL, cmd_init, 0, 0, 0, "",
     "Create the store (idempotent); --actor becomes its first administrator."},
    {"user", "add", cmd_user_add, 1, 1, OPT_ROLE, "NAME --role ROLE[,ROLE...]...",
     "Add a user with roles: analyst, officer, supervisor, authoriser, "
     "administrator."},
    {"user", "list", cmd_user_list, 0, 0, 0, "", "List users and their roles."},
    {"user", "disable", cmd_user_disable, 1, 1, 0, "NAME", "Disable a user."},
    {"workflow", "deploy", cmd_workflow_deploy, 1, 1, 0, "FILE|NAME",
     "Deploy the workflow in FILE (or the installed workflow NAME, e.g. polit) as a new "
     "version (the same source again: the existing version)."},
    {"workflow", "list", cmd_workflow_list, 0, 0, 0, "",
     "List deployed workflow versions."},
    {"workflow", "check", cmd_workflow_check, 1, 1, 0, "FILE",
     "Lint FILE without deploying it: prints file:line: rule: message for "
     "each finding; exit 65 when there are any. Needs no store."},
    {"refer", NULL, cmd_refer, 0, 1, OPT_WORKFLOW, "[--workflow NAME] [FILE|-]",
     "Take in one referral (a JSON object) or many (JSON lines) from FILE or "
     "standard input; prints each case's id, state and whether it was created. "
     "A rejected line is reported with its number and the others go on."},
    {"show", NULL, cmd_show, 1, 1, 0, "ID", "Show a case. A read of case data: audited with its --reason."},
    {"list", NULL, cmd_list, 0, 0, OPT_STATE | OPT_LIMIT,
     "[--state STATE] [--limit N]",
     "List cases, optionally in one state. Audited with its --reason."},
    {"history", NULL, cmd_history, 1, 1, 0, "ID",
     "Show a case's full history. Audited with its --reason."},
    {"act", NULL, cmd_act, 2, 2, OPT_DATA | OPT_REVISION,
     "ID EVENT [--data JSON|@FILE] [--revision N]",
     "Record an action or a result on a case; with --revision, only if the "
     "case is still at revision N (else exit 75)."},
    {"tick", NULL, cmd_tick, 0, 0, 0, "",
     "Fire every timer due by the engine clock (CASEFLOW_NOW in tests)."},
    {"workflow", "graph", cmd_workflow_graph, 1, 1, 0, "NAME",
     "Print the latest deployed version of workflow NAME as Graphviz DOT."},
    {"report", NULL, cmd_report, 0, 0, OPT_SINCE | OPT_WORKFLOW,
     "[--since DATE] [--workflow NAME]",
     "Cases by state and outcome, routes taken and how many came back, escalations, "
     "median days to visit and warrant, deadlines met and missed by grade. Audited with "
     "its --reason."},
    {"audit", "verify", cmd_audit_verify, 0, 0, OPT_KEY | OPT_FILE | OPT_CHAIN_ONLY,
     "[--key PUB] [--file EXPORT] [--chain-only]",
     "Verify the audit chain, its signed checkpoints and every audited table against it "
     "(exit 65 at the first bad record, naming it). --key pins the public key; --file "
     "verifies an export without any store."},
    {"audit", "checkpoint", cmd_audit_checkpoint, 0, 0, 0, "",
     "Sign the audit chain's head now (administrator; needs the signing key)."},
    {"audit", "export", cmd_audit_export, 0, 0, OPT_SINCE | OPT_OUTPUT,
     "[--since SEQ] [--output FILE]",
     "Write audit records (and checkpoints) as JSON lines with the public key, for an "
     "inspector (administrator; audited as a disclosure)."},
    {"retention", "due", cmd_retention_due, 0, 0, 0, "",
     "List closed cases whose retention review date has come (administrator)."},
    {"retention", "keep", cmd_retention_keep, 1, 1, OPT_UNTIL, "ID [--until DATE]",
     "Record a decision to keep a case and set its next review (needs --reason)."},
    {"retention", "hold", cmd_retention_hold, 1, 1, 0, "ID",
     "Place a legal hold on a case: it cannot be disposed of (needs --reason)."},
    {"retention", "release", cmd_retention_release, 1, 1, 0, "ID",
     "Lift a legal hold (needs --reason)."},
    {"retention", "dispose", cmd_retention_dispose, 1, 1, 0, "ID",
     "Erase a closed case's personal data and history payloads, keeping their digests "
     "(needs --reason; not under legal hold; review due)."},
    {"policy", "show", cmd_policy_show, 0, 0, 0, "", "Show the store's policies."},
    {"policy", "set", cmd_policy_set, 2, 2, 0, "KEY VALUE",
     "Set a store policy: require_reason true|false, checkpoint_interval N "
     "(administrator; audited)."},
    {"plugin", "list", cmd_plugin_list, 0, 0, 0, "",
     "List the step plugins found on the search path."},
    {"plugin", "info", cmd_plugin_info, 1, 1, 0, "FILE",
     "Show the descriptor of the plugin module in FILE."},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char global_help[] =
    "Global options (before or after the command words):\n"
    "  --store PATH    the store (env CASEFLOW_STORE; default ./caseflow.db)\n"
    "  --actor NAME    who acts (env CASEFLOW_ACTOR)\n"
    "  --reason TEXT   justification logged with reads and changes "
    "(env CASEFLOW_REASON)\n"
    "  --plugins PATH  colon-separated plugin directories searched first "
    "(env CASEFLOW_PLUGIN_PATH)\n"
    "  --signing-key PATH  the audit signing key (env CASEFLOW_KEY; default <store>.key)\n"
    "  --json          machine output\n"
    "  --help          this help; after a command, that command's help\n"
    "  --version       print the version\n"
    "Environment: CASEFLOW_NOW (RFC 3339) sets the engine clock.\n"
    "Exit status: 0 ok, 64 usage, 65 invalid input, 66 no such case or file,\n"
    "69 plugin or workflow missing, 70 internal, 74 store I/O, 75 conflict "
    "(retry),\n77 not permitted.\n";

static void print_synopsis(FILE *f, const struct command *cmd)
{
    fprintf(f, "caseflow %s%s%s%s%s\n", cmd->name, cmd->sub ? " " : "",
            cmd->sub ? cmd->sub : "", cmd->usage[0] ? " " : "", cmd->usage);
}

static void help_all(void)
{
    fputs("usage: caseflow [OPTIONS] COMMAND [ARGS]\n"
          "A case workflow engine: referrals in, decisions out, every change "
          "audited.\n\nCommands:\n",
          stdout);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fputs("  ", stdout);
        print_synopsis(stdout, &commands[i]);
    }
    fputc('\n', stdout);
    fputs(global_help, stdout);
}

static void help_command(const struct command *cmd)
{
    fputs("usage: ", stdout);
    print_synopsis(stdout, cmd);
    printf("%s\n\n", cmd->summary);
    fputs(global_help, stdout);
}

/* Help for a group ("caseflow user --help"): its subcommands. */
static void help_group(const char *name)
{
    printf("usage: caseflow %s SUBCOMMAND [ARGS]\n\nSubcommands:\n", name);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) {
            fputs("  ", stdout);
            print_synopsis(stdout, &commands[i]);
            printf("      %s\n", commands[i].summary);
        }
    fputc('\n', stdout);
    fputs(global_help, stdout);
}

static bool is_group(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].sub && strcmp(commands[i].name, name) == 0)
            return true;
    return false;
}

/* The command named by the first words; NULL after a usage message. */
static const struct command *find_command(struct cli *c, int *status)
{
    const char *name = c->words[0];
    const char *sub = c->nwords > 1 ? c->words[1] : NULL;
    *status = 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct command *cmd = &commands[i];
        if (strcmp(cmd->name, name) != 0)
            continue;
        if (!cmd->sub)
            return cmd;
        if (sub && strcmp(cmd->sub, sub) == 0)
            return cmd;
    }
    if (!is_group(name))
        *status = usage_error("unknown command '%s'", name);
    else if (c->help)
        *status = -1; /* group help, printed by the caller */
    else if (!sub)
        *status = usage_error("'%s' needs a subcommand", name);
    else
        *status = usage_error("unknown command '%s %s'", name, sub);
    return NULL;
}

/* ---- option parsing ------------------------------------------------------ */

static const struct optspec *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof optspecs / sizeof optspecs[0]; i++)
        if (strlen(optspecs[i].name) == len &&
            strncmp(optspecs[i].name, name, len) == 0)
            return &optspecs[i];
    return NULL;
}

static void set_opt(struct cli *c, const struct optspec *o, const char *val)
{
    switch (o->id) {
    case O_STORE: c->store = val; break;
    case O_ACTOR: c->actor = val; break;
    case O_REASON: c->reason = val; break;
    case O_PLUGINS: c->plugins = val; break;
    case O_JSON: c->json = true; break;
    case O_HELP: c->help = true; break;
    case O_VERSION: c->version = true; break;
    case O_ROLE: c->roles[c->nroles++] = val; break;
    case O_STATE: c->state = val; break;
    case O_LIMIT: c->limit = val; break;
    case O_DATA: c->data = val; break;
    case O_REVISION: c->revision = val; break;
    case O_WORKFLOW: c->workflow = val; break;
    case O_SIGNING_KEY: c->signing_key = val; break;
    case O_SINCE: c->since = val; break;
    case O_OUTPUT: c->output = val; break;
    case O_FILE: c->file = val; break;
    case O_KEY: c->key = val; break;
    case O_CHAIN_ONLY: c->chain_only = true; break;
    case O_UNTIL: c->until = val; break;
    }
    c->used |= o->bit;
}

/* Split argv into options and words. Returns 0 or a usage status. */
static int parse_args(struct cli *c, int argc, char **argv)
{
    bool words_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (words_only || a[0] != '-' || strcmp(a, "-") == 0) {
            c->words[c->nwords++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            words_only = true;
            continue;
        }
        if (strcmp(a, "-h") == 0) {
            c->help = true;
            continue;
        }
        if (a[1] != '-')
            return usage_error("unknown option '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct optspec *o = find_opt(name, len);
        if (!o)
            return usage_error("unknown option '--%.*s'", (int)len, name);
        const char *val = NULL;
        if (o->has_arg) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage_error("option --%s needs a value", o->name);
        } else if (eq) {
            return usage_error("option --%s takes no value", o->name);
        }
        set_opt(c, o, val);
    }
    return 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

static void apply_env(struct cli *c)
{
    if (!c->store)
        c->store = env("CASEFLOW_STORE");
    if (!c->actor)
        c->actor = env("CASEFLOW_ACTOR");
    if (!c->reason)
        c->reason = env("CASEFLOW_REASON");
    /* plugins: the library reads CASEFLOW_PLUGIN_PATH itself when NULL. */
}

/* The first command option not meant for cmd, or NULL. */
static const char *stray_option(const struct cli *c, const struct command *cmd)
{
    for (size_t i = 0; i < sizeof optspecs / sizeof optspecs[0]; i++)
        if (optspecs[i].bit && (c->used & optspecs[i].bit) &&
            !(cmd->opts & optspecs[i].bit))
            return optspecs[i].name;
    return NULL;
}

static int print_version(const struct cli *c)
{
    if (c->json) {
        json_t *o = json_pack("{s:s}", "version", cf_version());
        print_json(o, true);
        json_decref(o);
    } else {
        printf("caseflow %s\n", cf_version());
    }
    return 0;
}

/* Pick the command, check its arguments, and run it. */
static int dispatch(struct cli *c)
{
    int st;
    if (c->version && !c->help) /* "caseflow anything --version" */
        return print_version(c);
    if (c->nwords == 0) {
        if (c->help) {
            help_all();
            return 0;
        }
        return usage_error("no command given");
    }
    c->cmd = find_command(c, &st);
    if (!c->cmd) {
        if (st == -1) {
            help_group(c->words[0]);
            return 0;
        }
        return st;
    }
    if (c->help) {
        help_command(c->cmd);
        return 0;
    }
    size_t nw = c->cmd->sub ? 2 : 1;
    c->args = c->words + nw;
    c->nargs = c->nwords - nw;
    const char *stray = stray_option(c, c->cmd);
    if (stray)
        return usage_error("option --%s does not apply to '%s%s%s'", stray,
                           c->cmd->name, c->cmd->sub ? " " : "",
                           c->cmd->sub ? c->cmd->sub : "");
    if (c->nargs < c->cmd->min_args || c->nargs > c->cmd->max_args) {
        fputs(c->nargs < c->cmd->min_args
                  ? "caseflow: missing argument; usage: "
                  : "caseflow: too many arguments; usage: ",
              stderr);
        print_synopsis(stderr, c->cmd);
        return EXIT_USAGE;
    }
    const char *now = getenv("CASEFLOW_NOW");
    if (now && now[0]) {
        if (!parse_rfc3339(now, &c->now)) {
            say("CASEFLOW_NOW: not an RFC 3339 time with a zone: '%s'", now);
            return EXIT_USAGE;
        }
        c->have_now = true;
    }
    return c->cmd->run(c);
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    c.words = calloc((size_t)argc + 1, sizeof *c.words);
    c.roles = calloc((size_t)argc + 1, sizeof *c.roles);
    if (!c.words || !c.roles) {
        say("out of memory");
        return 70;
    }
    int st = parse_args(&c, argc, argv);
    if (!st) {
        apply_env(&c);
        st = dispatch(&c);
    }
    cf_engine_close(c.engine);
    free(c.words);
    free(c.roles);
    /* Output that never arrived is a failure: a command that succeeded
     * fails with 74 (one that failed has said why already). */
    if (!st)
        st = check_stdout();
    if (fclose(stdout) != 0 && !st) {
        say("cannot write output: %s", strerror(errno));
        st = EXIT_IOERR;
    }
    return st;
}
