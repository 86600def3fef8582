/*
 * workflow simulate: replay the recorded cases through a candidate workflow
 * file (cf_workflow_simulate) and print, per case that diverges, where and
 * how, then a summary table by state; --json prints the whole report. The
 * summary alone also ends `workflow deploy --dry-run` (cmd_workflow.c calls
 * simulate_summary). Runs here, not through caseflowd: the candidate is a
 * file of this machine (the service offers workflow.simulate with the file
 * in the body).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

/* The case's line, then one line per divergence. */
static void print_case(const json_t *c)
{
    char b1[32], b2[32];
    const json_t *d;
    size_t i;
    const char *verdict = jtext(c, "verdict", b1, sizeof b1);
    outf("%s  now %s (v%s): %s\n", jtext(c, "id", b1, sizeof b1), jtext(c, "state", b1, sizeof b1),
         jtext(c, "version", b2, sizeof b2),
         strcmp(verdict, "refused") == 0 ? "now refused"
         : strcmp(verdict, "route") == 0 ? "changes route"
                                         : "changes");
    json_array_foreach(json_object_get(c, "divergences"), i, d) {
        const char *kind = jtext(d, "kind", b1, sizeof b1);
        const json_t *r = json_object_get(d, "recorded"), *n = json_object_get(d, "candidate");
        const char *rec = json_is_string(r) ? json_string_value(r) : "none";
        const char *cand = json_is_string(n) ? json_string_value(n) : "none";
        const char *msg = json_string_value(json_object_get(d, "message"));
        char step[160];
        snprintf(step, sizeof step, "step %s %s at %s by %s", jtext(d, "step", b2, sizeof b2),
                 json_string_value(json_object_get(d, "event")),
                 json_string_value(json_object_get(d, "at")),
                 json_string_value(json_object_get(d, "actor")));
        if (strcmp(kind, "refused") == 0)
            outf("  %s: refused: %s\n", step, msg ? msg : "");
        else if (strcmp(kind, "state") == 0 || strcmp(kind, "route") == 0)
            outf("  %s: %s %s, was %s%s%s%s\n", step, kind, cand, rec, msg ? " (" : "",
                 msg ? msg : "", msg ? ")" : "");
        else if (json_is_true(json_object_get(d, "now"))) /* the case as it is now */
            outf("  now: %s %s, was %s\n", msg ? msg : kind, cand, rec);
        else
            outf("  %s: %s %s, was %s\n", step, msg ? msg : kind, cand, rec);
    }
}

/* The table by state and the totals line. */
void simulate_summary(const json_t *out)
{
    static const char *const cols[] = {"replayed", "unchanged", "route", "refused", "other"};
    struct table t;
    table_init(&t, 6);
    table_add(&t, (const char *[]){"STATE", "REPLAYED", "UNCHANGED", "CHANGE ROUTE",
                                   "NOW REFUSED", "OTHER"});
    const char *state;
    const json_t *b;
    json_object_foreach((json_t *)json_object_get(out, "by_state"), state, b) {
        char v[5][24];
        for (int k = 0; k < 5; k++)
            jtext(b, cols[k], v[k], sizeof v[k]);
        table_add(&t, (const char *[]){state, v[0], v[1], v[2], v[3], v[4]});
    }
    const json_t *s = json_object_get(out, "summary");
    char v[5][24], w[64], nr[24];
    for (int k = 0; k < 5; k++)
        jtext(s, cols[k], v[k], sizeof v[k]);
    table_add(&t, (const char *[]){"total", v[0], v[1], v[2], v[3], v[4]});
    table_print_free(&t);
    jtext(s, "not_replayed", nr, sizeof nr);
    outf("simulated %s: %s case%s replayed, %s unchanged, %s change route, %s now refused, "
         "%s other changes%s%s%s\n",
         jtext(out, "workflow", w, sizeof w), v[0], strcmp(v[0], "1") ? "s" : "", v[1], v[2],
         v[3], v[4], strcmp(nr, "0") ? " (" : "", strcmp(nr, "0") ? nr : "",
         strcmp(nr, "0") ? " without a recorded referral, not replayed)" : "");
}

static void print_simulation(const json_t *out)
{
    const json_t *c;
    size_t i;
    json_array_foreach(json_object_get(out, "cases"), i, c) print_case(c);
    if (json_array_size(json_object_get(out, "cases")))
        outf("\n");
    simulate_summary(out);
}

int simulate_run(struct cli *c, const char *file, json_t **out)
{
    cf_simulate_options o;
    cf_error err;
    memset(&o, 0, sizeof o);
    o.path = file;
    int64_t since = 0;
    if (c->since && !parse_since(c->since, &since))
        return EXIT_USAGE;
    o.since = since;
    const char **ids = calloc(c->mig.ncases + c->nargs + 1, sizeof *ids);
    if (!ids) {
        say("out of memory");
        return 70;
    }
    for (size_t i = 0; i < c->mig.ncases; i++)
        ids[o.ncases++] = c->mig.cases[i];
    for (size_t i = 1; i < c->nargs && c->mig.ncases; i++)
        ids[o.ncases++] = c->args[i];
    o.cases = ids;
    cf_engine_set_progress(c->engine, progress_engine, NULL);
    int rc = cf_workflow_simulate(c->engine, &o, out, &err);
    progress_end();
    cf_engine_set_progress(c->engine, NULL, NULL);
    free(ids);
    return rc < 0 ? fail(rc, &err) : 0;
}

int cmd_workflow_simulate(struct cli *c)
{
    if (c->mig.to || c->mig.from || c->mig.nmaps || c->mig.all || c->mig.request ||
        c->mig.approve)
        return usage_error("workflow simulate takes --cases and --since, not migrate's options");
    if (c->nargs > 1 && !c->mig.ncases)
        return usage_error("too many arguments (case ids go after --cases)");
    int64_t since;
    if (c->since && !parse_since(c->since, &since))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    json_t *out = NULL;
    if ((rc = simulate_run(c, c->args[0], &out)))
        return rc;
    return print_result(c, out, false, print_simulation);
}
