/*
 * Workflows: deploy a Lua workflow file (or an installed one, by name) as a
 * new version, list the versions, lint a file without a store, and draw the
 * latest version of a workflow as Graphviz DOT.
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

static void print_deployed(const json_t *out)
{
    char b1[64], b2[32], b3[80];
    bool created = !json_is_false(json_object_get(out, "created"));
    outf("%s %s version %s (sha256 %s)\n",
         created ? "deployed" : "already deployed:",
         jtext(out, "name", b1, sizeof b1), jtext(out, "version", b2, sizeof b2),
         jtext(out, "hash", b3, sizeof b3));
}

int cmd_workflow_deploy(struct cli *c)
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
    if (!out && !c->json) {
        outf("deployed %s\n", c->args[0]);
        return 0;
    }
    return print_result(c, out ? out : json_object(), false, print_deployed);
}

static void print_workflows(const json_t *list)
{
    const json_t *w;
    size_t i;
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

/* "file:line: rule: message" for each finding of a lint. */
static void print_findings(const json_t *findings)
{
    const json_t *f;
    size_t i;
    json_array_foreach(findings, i, f) {
        char b1[512], b2[32], b3[64], b4[512];
        const json_t *line = json_object_get(f, "line");
        if (json_integer_value(line) > 0)
            outf("%s:%s: %s: %s\n", jtext(f, "file", b1, sizeof b1),
                 jtext(f, "line", b2, sizeof b2), jtext(f, "rule", b3, sizeof b3),
                 jtext(f, "message", b4, sizeof b4));
        else
            outf("%s: %s: %s\n", jtext(f, "file", b1, sizeof b1),
                 jtext(f, "rule", b3, sizeof b3), jtext(f, "message", b4, sizeof b4));
    }
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
    size_t n = json_array_size(findings);
    print_result(c, findings ? findings : json_array(), false, print_findings);
    if (n > 0) {
        say("%s: %zu finding%s", c->args[0], n, n == 1 ? "" : "s");
        return EXIT_DATAERR;
    }
    if (!c->json)
        outf("%s: ok\n", c->args[0]);
    return 0;
}

int cmd_workflow_graph(struct cli *c)
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
        out_block(dot);
    }
    free(dot);
    return 0;
}

