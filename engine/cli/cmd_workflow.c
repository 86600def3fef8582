/*
 * Workflows: deploy a Lua workflow file (or an installed one, by name) as a
 * new version, list the versions, compare two of them (or one and a file),
 * choose the active one and lint a file without a store (drawing one is
 * cmd_graph.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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

/* "file:line: rule: message" for each finding of a lint. */
/* A finding for the reviewer ("severity": "warning") that blocks nothing. */
static bool is_warning(const json_t *f)
{
    const char *sev = json_string_value(json_object_get(f, "severity"));
    return sev && strcmp(sev, "warning") == 0;
}

static void print_findings(const json_t *findings)
{
    const json_t *f;
    size_t i;
    json_array_foreach(findings, i, f) {
        char b1[512], b2[32], b3[64], b4[512];
        const json_t *line = json_object_get(f, "line");
        const char *sev = is_warning(f) ? "warning: " : "";
        if (json_integer_value(line) > 0)
            outf("%s:%s: %s: %s%s\n", jtext(f, "file", b1, sizeof b1),
                 jtext(f, "line", b2, sizeof b2), jtext(f, "rule", b3, sizeof b3), sev,
                 jtext(f, "message", b4, sizeof b4));
        else
            outf("%s: %s: %s%s\n", jtext(f, "file", b1, sizeof b1),
                 jtext(f, "rule", b3, sizeof b3), sev, jtext(f, "message", b4, sizeof b4));
    }
}

/* Findings that are errors (a warning blocks nothing). */
static size_t errors_in(const json_t *findings)
{
    const json_t *f;
    size_t i, n = 0;
    json_array_foreach(findings, i, f)
        n += !is_warning(f);
    return n;
}

static void print_deployed(const json_t *out)
{
    char b1[64], b2[32], b3[80];
    bool created = !json_is_false(json_object_get(out, "created"));
    bool active = json_is_true(json_object_get(out, "active"));
    outf("%s %s version %s (sha256 %s)%s\n",
         created ? "deployed" : "already deployed:",
         jtext(out, "name", b1, sizeof b1), jtext(out, "version", b2, sizeof b2),
         jtext(out, "hash", b3, sizeof b3),
         active ? ", active: new referrals start on it" : ", not active");
    const char *name;
    const json_t *pin;
    json_object_foreach((json_t *)json_object_get(out, "plugins"), name, pin) {
        char v[128], h[80];
        if (created)
            outf("  pinned plugin %s version %s (sha256 %s)\n", name,
                 jtext(pin, "version", v, sizeof v), jtext(pin, "sha256", h, sizeof h));
    }
}

/* The structural changes of a diff, one line each. */
static void print_changes(const json_t *d)
{
    const json_t *from = json_object_get(d, "from"), *to = json_object_get(d, "to");
    const json_t *changes = json_object_get(d, "changes"), *ch;
    char b1[64], b2[32], b3[4096];
    size_t i;
    if (json_is_object(from))
        outf("from %s v%s", jtext(d, "name", b1, sizeof b1),
             jtext(from, "version", b2, sizeof b2));
    else
        outf("from nothing deployed");
    if (json_object_get(to, "file"))
        outf(" to %s: ", jtext(to, "file", b3, sizeof b3));
    else
        outf(" to v%s: ", jtext(to, "version", b2, sizeof b2));
    size_t n = json_array_size(changes);
    if (json_is_true(json_object_get(d, "identical")))
        outf("identical\n");
    else
        outf("%zu change%s\n", n, n == 1 ? "" : "s");
    json_array_foreach(changes, i, ch) outf("  %s\n", jtext(ch, "text", b3, sizeof b3));
}

static void print_diff(const json_t *d)
{
    print_changes(d);
    const char *src = json_string_value(json_object_get(d, "source"));
    if (src && src[0]) {
        outf("\n");
        out_block(src);
    }
}

/* A version number argument: 0 after a usage message. */
static int64_t version_arg(const char *what, const char *text)
{
    char *end;
    errno = 0;
    long long v = text[0] >= '0' && text[0] <= '9' ? strtoll(text, &end, 10) : 0;
    if (v < 1 || errno || *end) {
        usage_error("%s: a version is a whole number from 1: '%s'", what, text);
        return 0;
    }
    return v;
}

/* Ask on the terminal; true for y or yes. */
static bool confirm(const char *question)
{
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

/* Dry run: the check's findings, the changes against the active version and
 * what a deploy would do; nothing written. */
static int deploy_dry_run(struct cli *c, const char *path, json_t *d, unsigned flags)
{
    cf_error err, cerr;
    json_t *findings = NULL, *out = NULL;
    int crc = cf_workflow_check(c->engine, path, &findings, &cerr);
    if (crc < 0 && !(crc == CF_EINVALID && json_array_size(findings) > 0)) {
        json_decref(findings);
        json_decref(d);
        return fail(crc, &cerr);
    }
    int rc = cf_workflow_deploy_ex(c->engine, path, flags | CF_DEPLOY_DRY_RUN, &out, &err);
    /* workflow simulate (cmd_simulate.c): the recorded cases replayed
     * through it, when it loads; its summary ends the dry run. */
    json_t *sim = NULL;
    if (out) {
        int st = simulate_run(c, path, &sim);
        if (st) {
            json_decref(out);
            json_decref(findings);
            json_decref(d);
            return st;
        }
    }
    if (c->json) {
        json_t *o = out ? out : json_pack("{s:b, s:s}", "dry_run", 1, "refused", err.message);
        json_object_set_new(o, "findings", findings ? findings : json_array());
        json_object_set_new(o, "diff", d);
        if (sim) { /* the summary: the cases' detail is workflow simulate's */
            json_object_del(sim, "cases");
            json_object_set_new(o, "simulation", sim);
        }
        print_json(o, false);
        json_decref(o);
    } else {
        print_findings(findings);
        json_decref(findings);
        print_changes(d);
        json_decref(d);
        if (out) {
            char b1[64], b2[32];
            outf("dry run: would deploy %s as version %s%s%s; nothing deployed\n",
                 jtext(out, "name", b1, sizeof b1), jtext(out, "version", b2, sizeof b2),
                 json_is_false(json_object_get(out, "created")) ? " (already deployed)" : "",
                 json_is_true(json_object_get(out, "active")) ? ", active" : ", not active");
            if (sim) /* the replay of the recorded cases (cmd_simulate.c) */
                simulate_summary(sim);
            outf("(each diverging case: caseflow workflow simulate %s)\n", path);
        }
        json_decref(sim);
        json_decref(out);
    }
    return rc < 0 ? fail(rc, &err) : 0;
}

int cmd_workflow_deploy(struct cli *c)
{
    cf_error err;
    json_t *out = NULL, *d = NULL;
    if (!c->reason) {
        say("workflow deploy: --reason is required: why this version goes live (kept in "
            "the audit chain)");
        return EXIT_USAGE;
    }
    bool ask = !c->yes && !c->dry_run;
    if (ask && !(isatty(STDIN_FILENO) && isatty(fileno(stdout)))) {
        say("workflow deploy: not on a terminal, so nobody can confirm: add --yes to deploy "
            "(or --dry-run to see the changes first)");
        return EXIT_USAGE;
    }
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    char path[4096];
    const char *file = workflow_file(c->args[0], path, sizeof path);
    unsigned flags = CF_DEPLOY_NEED_REASON | (c->inactive ? CF_DEPLOY_INACTIVE : 0);
    rc = cf_workflow_diff(c->engine, NULL, 0, 0, file, &d, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->dry_run)
        return deploy_dry_run(c, file, d, flags);
    if (!c->json)
        print_changes(d);
    if (ask) {
        char q[300];
        snprintf(q, sizeof q, "Deploy %s%s?", c->args[0],
                 c->inactive ? " (the active version stays)" : " and make it active");
        if (!confirm(q)) {
            json_decref(d);
            say("not deployed");
            return 1;
        }
    }
    rc = cf_workflow_deploy_ex(c->engine, file, flags, &out, &err);
    if (rc < 0) {
        json_decref(d);
        return fail(rc, &err);
    }
    json_object_set_new(out, "diff", d);
    return print_result(c, out, false, print_deployed);
}

static void print_workflows(const json_t *list)
{
    const json_t *w;
    size_t i;
    struct table t;
    table_init(&t, 8);
    table_add(&t, (const char *[]){"NAME", "VERSION", "ACTIVE", "OPEN", "DEPLOYED", "BY",
                                   "HASH", "PINNED"});
    json_array_foreach(list, i, w) {
        char b1[64], b2[32], b3[64], b4[64], b5[80], b6[32];
        const char *hash = jtext(w, "hash", b5, sizeof b5);
        char short_hash[13];
        snprintf(short_hash, sizeof short_hash, "%s", hash);
        table_add(&t, (const char *[]){jtext(w, "name", b1, sizeof b1),
                                       jtext(w, "version", b2, sizeof b2),
                                       json_is_true(json_object_get(w, "active")) ? "*" : "",
                                       jtext(w, "open_cases", b6, sizeof b6),
                                       jtext(w, "deployed_at", b3, sizeof b3),
                                       jtext(w, "deployed_by", b4, sizeof b4),
                                       short_hash,
                                       json_is_false(json_object_get(w, "pinned")) ? "no"
                                                                                   : "yes"});
    }
    table_print_free(&t);
}

/* The workflow.list operation. */
int cmd_workflow_list(struct cli *c)
{
    json_t *list = NULL;
    int st = ops_open(c);
    if (st)
        return st;
    struct op_req r = OP_REQ("workflow.list");
    st = op_run(c, &r, &list);
    return st ? st : print_result(c, list, false, print_workflows);
}

/* diff NAME V1 V2 | diff NAME V FILE: a read of workflows (no reason). */
int cmd_workflow_diff(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int64_t v1 = version_arg("V1", c->args[1]), v2 = 0;
    if (!v1)
        return EXIT_USAGE;
    const char *file = NULL;
    char path[4096];
    const char *third = c->args[2];
    if (third[0] >= '0' && third[0] <= '9' && strspn(third, "0123456789") == strlen(third)) {
        if (!(v2 = version_arg("V2", third)))
            return EXIT_USAGE;
    } else {
        file = workflow_file(third, path, sizeof path);
    }
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_workflow_diff(c->engine, c->args[0], v1, v2, file, &out, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, out, false, print_diff);
}

static void print_activated(const json_t *out)
{
    char b1[64], b2[32], b3[32];
    if (json_is_true(json_object_get(out, "changed")))
        outf("activated %s version %s (was version %s): new referrals start on it\n",
             jtext(out, "name", b1, sizeof b1), jtext(out, "version", b2, sizeof b2),
             jtext(out, "previous", b3, sizeof b3));
    else
        outf("%s version %s is already the active version\n", jtext(out, "name", b1, sizeof b1),
             jtext(out, "version", b2, sizeof b2));
}

/* The workflow.activate operation. */
int cmd_workflow_activate(struct cli *c)
{
    json_t *out = NULL;
    if (!c->reason) {
        say("workflow activate: --reason is required: why new cases should start on this "
            "version (kept in the audit chain)");
        return EXIT_USAGE;
    }
    int64_t v = version_arg("VERSION", c->args[1]);
    if (!v)
        return EXIT_USAGE;
    int st = ops_open(c);
    if (st)
        return st;
    char version[24];
    snprintf(version, sizeof version, "%lld", (long long)v);
    struct op_req r = OP_REQ("workflow.activate");
    json_t *args = op_args("name", c->args[0], "version", version, NULL);
    r.args = args;
    st = op_run(c, &r, &out);
    json_decref(args);
    return st ? st : print_result(c, out, false, print_activated);
}

static void print_repinned(const json_t *out)
{
    char n1[64], n2[32];
    const char *b1 = jtext(out, "name", n1, sizeof n1), *b2 = jtext(out, "version", n2, sizeof n2);
    if (!json_is_true(json_object_get(out, "changed"))) {
        outf("%s version %s: its plugins are the pinned builds; nothing to change\n", b1, b2);
        return;
    }
    const json_t *ch;
    size_t i;
    json_array_foreach(json_object_get(out, "changes"), i, ch) {
        char p[80], ov[128], oh[80], nv[128], nh[80];
        if (json_is_string(json_object_get(ch, "old_sha256")))
            outf("repinned %s version %s: plugin %s version %s (sha256 %s) -> version %s "
                 "(sha256 %s)\n",
                 b1, b2, jtext(ch, "plugin", p, sizeof p), jtext(ch, "old_version", ov, sizeof ov),
                 jtext(ch, "old_sha256", oh, sizeof oh), jtext(ch, "new_version", nv, sizeof nv),
                 jtext(ch, "new_sha256", nh, sizeof nh));
        else
            outf("repinned %s version %s: plugin %s (unpinned) -> version %s (sha256 %s)\n", b1,
                 b2, jtext(ch, "plugin", p, sizeof p), jtext(ch, "new_version", nv, sizeof nv),
                 jtext(ch, "new_sha256", nh, sizeof nh));
    }
    if (json_array_size(json_object_get(out, "changes")) == 0)
        outf("repinned %s version %s: its plugins are pinned as found\n", b1, b2);
}

/* The workflow.repin operation. */
int cmd_workflow_repin(struct cli *c)
{
    json_t *out = NULL;
    if (!c->reason) {
        say("workflow repin: --reason is required: why these plugin builds are accepted "
            "(kept in the audit chain)");
        return EXIT_USAGE;
    }
    int64_t v = version_arg("VERSION", c->args[1]);
    if (!v)
        return EXIT_USAGE;
    int st = ops_open(c);
    if (st)
        return st;
    char version[24];
    snprintf(version, sizeof version, "%lld", (long long)v);
    struct op_req r = OP_REQ("workflow.repin");
    json_t *args = op_args("name", c->args[0], "version", version, NULL);
    r.args = args;
    st = op_run(c, &r, &out);
    json_decref(args);
    return st ? st : print_result(c, out, false, print_repinned);
}

/* Lints without a store: the plugins are looked up on --plugins (handed to
 * the library through CASEFLOW_PLUGIN_PATH, as it has no engine options). */
int cmd_workflow_check(struct cli *c)
{
    cf_error err;
    json_t *findings = NULL;
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0) {
        say("cannot set CASEFLOW_PLUGIN_PATH: %s", strerror(errno));
        return 70;
    }
    char path[4096];
    const char *file = workflow_file(c->args[0], path, sizeof path);
    int rc = cf_workflow_check(NULL, file, &findings, &err);
    if (rc < 0 && !(rc == CF_EINVALID && json_array_size(findings) > 0)) {
        json_decref(findings);
        return fail(rc, &err);
    }
    /* --live: and the store's timers of open cases it would not take. */
    if (c->live) {
        int st = open_engine(c, false);
        if (st) {
            json_decref(findings);
            return st;
        }
        if (!findings)
            findings = json_array();
        size_t linted = json_array_size(findings);
        rc = cf_workflow_check_live(c->engine, file, findings, &err);
        /* A file that does not load has said why in its findings. */
        if (rc < 0 && !(rc == CF_EINVALID && linted > 0)) {
            json_decref(findings);
            return fail(rc, &err);
        }
    }
    size_t n = errors_in(findings), w = json_array_size(findings) - n;
    print_result(c, findings ? findings : json_array(), false, print_findings);
    if (n > 0) {
        say("%s: %zu finding%s", c->args[0], n, n == 1 ? "" : "s");
        return EXIT_DATAERR;
    }
    if (!c->json && w > 0)
        outf("%s: ok (%zu warning%s)\n", c->args[0], w, w == 1 ? "" : "s");
    else if (!c->json)
        outf("%s: ok\n", c->args[0]);
    return 0;
}
