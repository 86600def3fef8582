/*
 * workflow migrate: move open cases to another deployed version of their
 * workflow, through the workflow.migrate operation (so with --server it runs
 * in caseflowd). Prints one line per case (from state and version, to state
 * and version, what changes, or why it does not move) and a summary line.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

/* "event was -> now" of each timer the plan changes, into buf. */
static void timer_text(const json_t *plan, char *buf, size_t size)
{
    size_t used = 0;
    const json_t *t;
    size_t i;
    buf[0] = '\0';
    json_array_foreach(json_object_get(plan, "timers"), i, t) {
        char b[8], was[40], now[40];
        const char *ev = jtext(t, "event", b, sizeof b);
        const json_t *w = json_object_get(t, "was"), *n = json_object_get(t, "now");
        snprintf(was, sizeof was, "%s", json_is_string(w) ? json_string_value(w) : "none");
        snprintf(now, sizeof now, "%s", json_is_string(n) ? json_string_value(n) : "dropped");
        if (used < size)
            used += (size_t)snprintf(buf + used, size - used, "; timer %s %s -> %s", ev, was,
                                     now);
    }
}

static void print_plan(const json_t *out)
{
    const json_t *p;
    size_t i;
    json_array_foreach(json_object_get(out, "cases"), i, p) {
        char b1[32], b2[32], b3[8], timers[600];
        const json_t *from = json_object_get(p, "from"), *to = json_object_get(p, "to");
        const char *id = jtext(p, "id", b3, sizeof b3), *st = jtext(p, "status", b3, sizeof b3);
        const char *fs = jtext(from, "state", b3, sizeof b3);
        const char *fv = jtext(from, "version", b1, sizeof b1);
        const char *why = jtext(p, "why", b3, sizeof b3);
        if (strcmp(st, "skipped") == 0 || !to) {
            outf("%s  %s v%s  %s: %s\n", id, fs, fv, st, why);
            continue;
        }
        const char *ts = jtext(to, "state", b3, sizeof b3);
        const char *tv = jtext(to, "version", b2, sizeof b2);
        if (strcmp(st, "refused") == 0 || strcmp(st, "failed") == 0) {
            outf("%s  %s v%s -> %s v%s  %s: %s\n", id, fs, fv, ts, tv,
                 strcmp(st, "refused") == 0 ? "cannot move" : "failed", why);
            continue;
        }
        timer_text(p, timers, sizeof timers);
        const json_t *d = json_object_get(p, "deadline");
        const char *dw = jtext(d, "was", b3, sizeof b3), *dn = jtext(d, "now", b3, sizeof b3);
        char dl[100];
        if (strcmp(dw, dn) == 0)
            snprintf(dl, sizeof dl, "deadline %s", strcmp(dw, "-") ? "kept" : "none");
        else
            snprintf(dl, sizeof dl, "deadline %s -> %s", dw, dn);
        size_t ntasks = json_array_size(json_object_get(p, "tasks"));
        outf("%s  %s v%s -> %s v%s  %s: %s%s; %zu open task%s kept\n", id, fs, fv, ts, tv,
             strcmp(st, "planned") == 0 ? "to migrate" : st, dl, timers, ntasks,
             ntasks == 1 ? "" : "s");
    }
    const json_t *counts = json_object_get(out, "counts");
    bool dry = json_is_true(json_object_get(out, "dry_run"));
    size_t planned = 0, skipped = 0, refused = 0;
    json_array_foreach(json_object_get(out, "cases"), i, p) {
        const char *s = json_string_value(json_object_get(p, "status"));
        planned += s && strcmp(s, "planned") == 0;
        skipped += s && strcmp(s, "skipped") == 0;
        refused += s && strcmp(s, "refused") == 0;
    }
    if (json_object_get(out, "request"))
        outf("migration request %lld recorded: %zu case%s to migrate; another administrator "
             "runs it with: caseflow workflow migrate --approve %lld --reason TEXT\n",
             (long long)json_integer_value(json_object_get(out, "request")), planned,
             planned == 1 ? "" : "s",
             (long long)json_integer_value(json_object_get(out, "request")));
    else if (dry)
        outf("dry run: %zu to migrate, %zu skipped, %zu cannot move; nothing changed\n",
             planned, skipped, refused);
    else
        outf("%lld migrated, %lld skipped, %lld failed\n",
             (long long)json_integer_value(json_object_get(counts, "migrated")),
             (long long)json_integer_value(json_object_get(counts, "skipped")),
             (long long)json_integer_value(json_object_get(counts, "failed")));
}

static int version_opt(const char *opt, const char *text, json_t *body, const char *key)
{
    int64_t v;
    if (!text)
        return 0;
    if (!parse_count(opt, text, &v) || v <= 0) {
        if (v <= 0)
            return usage_error("--%s: a version is a positive integer", opt);
        return EXIT_USAGE;
    }
    json_object_set_new(body, key, json_integer(v));
    return 0;
}

int cmd_workflow_migrate(struct cli *c)
{
    bool approving = c->mig.approve != NULL;
    if (!approving && c->nargs < 1)
        return usage_error("workflow migrate needs a workflow NAME (or --approve ID)");
    if (approving && (c->mig.to || c->mig.from || c->mig.nmaps || c->mig.ncases || c->mig.all ||
                      c->mig.request || c->mig.dry_run || c->nargs > 1))
        return usage_error("--approve ID runs the recorded request: give nothing else");
    if (c->nargs > 1 && !c->mig.ncases)
        return usage_error("too many arguments (case ids go after --cases)");
    json_t *body = json_object(), *cases = json_array(), *maps = json_array();
    for (size_t i = 0; i < c->mig.ncases; i++)
        json_array_append_new(cases, json_string(c->mig.cases[i]));
    for (size_t i = 1; i < c->nargs; i++)
        json_array_append_new(cases, json_string(c->args[i]));
    for (size_t i = 0; i < c->mig.nmaps; i++)
        json_array_append_new(maps, json_string(c->mig.maps[i]));
    int st = version_opt("to", c->mig.to, body, "to");
    if (!st)
        st = version_opt("from", c->mig.from, body, "from");
    if (!st)
        st = version_opt("approve", c->mig.approve, body, "approve");
    if (st) {
        json_decref(body);
        json_decref(cases);
        json_decref(maps);
        return st;
    }
    json_object_set_new(body, "cases", json_array_size(cases) ? cases : json_null());
    if (!json_array_size(cases))
        json_decref(cases);
    json_object_set_new(body, "map", maps);
    json_object_set_new(body, "all", json_boolean(c->mig.all));
    json_object_set_new(body, "dry_run", json_boolean(c->mig.dry_run));
    json_object_set_new(body, "request", json_boolean(c->mig.request));
    json_t *args = op_args("name", approving ? "-" : c->args[0], NULL);
    json_t *out = NULL;
    st = ops_open(c);
    if (!st) {
        struct op_req r = OP_REQ("workflow.migrate");
        r.args = args;
        r.body = body;
        if (c->engine) /* here, not through caseflowd */
            cf_engine_set_progress(c->engine, progress_engine, NULL);
        st = op_run(c, &r, &out);
        progress_end();
    }
    json_decref(args);
    json_decref(body);
    return st ? st : print_result(c, out, false, print_plan);
}
