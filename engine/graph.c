/*
 * `caseflow workflow graph`: a workflow version as Graphviz DOT, so an
 * administrator, a supervisor or an inspector can see the process that a
 * case actually ran under, or one before it is deployed. States show their
 * step, roles, timer and deadline; transitions their event and the roles
 * that may send it. Transitions decided by a function are drawn dashed, to
 * each target the function declared. The text depends only on the
 * workflow: the same version always gives the same DOT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

/* s in a DOT string, quotes and backslashes escaped. */
static void text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* A duration as days, hours, minutes or seconds, whichever is whole. */
static void duration(FILE *f, int64_t secs)
{
    if (secs % 86400 == 0)
        fprintf(f, "%lldd", (long long)(secs / 86400));
    else if (secs % 3600 == 0)
        fprintf(f, "%lldh", (long long)(secs / 3600));
    else if (secs % 60 == 0)
        fprintf(f, "%lldm", (long long)(secs / 60));
    else
        fprintf(f, "%llds", (long long)secs);
}

static void roles(FILE *f, char **r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", f);
        text(f, r[i]);
    }
}

static void edge(FILE *f, const cf_wf_state *st, const char *to, const cf_wf_transition *t,
                 bool dashed)
{
    fputs("  \"", f);
    text(f, st->name);
    fputs("\" -> \"", f);
    text(f, to);
    fputs("\" [label=\"", f);
    text(f, t->event);
    if (st->timer_secs > 0 && st->timer_event && strcmp(st->timer_event, t->event) == 0) {
        fputs("\\nafter ", f);
        duration(f, st->timer_secs);
    }
    if (t->system)
        fputs(" (engine)", f);
    else if (t->nroles) {
        fputs("\\n[", f);
        roles(f, t->roles, t->nroles);
        fputs("]", f);
    }
    if (t->nmanual) { /* a plugin's outcome people may also send */
        fputs("\\nby hand: ", f);
        roles(f, t->manual, t->nmanual);
    }
    if (t->four_eyes) {
        fputs("\\nnot who sent ", f);
        text(f, t->four_eyes);
    }
    fprintf(f, "\"%s];\n", dashed ? ", style=dashed" : "");
}

/* A step's response deadlines by grade (its config.deadline_days, as the
 * assessment step sets them), shortest first, in key order on ties. */
static void grade_deadlines(FILE *f, const json_t *days)
{
    if (!json_is_object(days) || json_object_size(days) == 0)
        return;
    fputs("\\ndeadlines:", f);
    const char *last = NULL;
    double last_d = -1;
    for (size_t n = 0; n < json_object_size(days); n++) {
        const char *best = NULL, *k;
        double best_d = 0;
        json_t *v;
        json_object_foreach((json_t *)days, k, v)
        {
            double d = json_number_value(v);
            bool after_last = !last || d > last_d || (d == last_d && strcmp(k, last) > 0);
            if (after_last && (!best || d < best_d || (d == best_d && strcmp(k, best) < 0))) {
                best = k;
                best_d = d;
            }
        }
        if (!best)
            break;
        fputs(n ? ", " : " ", f);
        text(f, best);
        fprintf(f, " %gd", best_d);
        last = best;
        last_d = best_d;
    }
}

static void node(FILE *f, const cf_wf_state *st, bool initial)
{
    const char *shape = st->final ? "doublecircle" : "box";
    /* Transient: nobody acts there and nothing waits there (no timer, no
     * engine-raised event), so a case only passes through. */
    bool waits = st->timer_secs > 0;
    for (size_t i = 0; i < st->non && !waits; i++)
        waits = st->on[i].system;
    bool transient = !st->final && st->nroles == 0 && !waits;
    fputs("  \"", f);
    text(f, st->name);
    fprintf(f, "\" [shape=%s%s%s, label=\"", shape, transient ? ", style=dashed" : "",
            initial ? ", penwidth=2" : "");
    text(f, st->name);
    if (st->step) {
        fputs("\\nstep: ", f);
        text(f, st->step);
    }
    if (st->nroles) {
        fputs("\\nroles: ", f);
        roles(f, st->roles, st->nroles);
    }
    if (st->timer_secs > 0) {
        fputs("\\ntimer: ", f);
        duration(f, st->timer_secs);
        fputs(" -> ", f);
        text(f, st->timer_event);
    }
    if (st->deadline_secs > 0) {
        fputs("\\ndeadline: ", f);
        duration(f, st->deadline_secs);
    }
    grade_deadlines(f, json_object_get(st->config, "deadline_days"));
    fputs("\"];\n", f);
}

/* The DOT text of wf, its graph named after name and version (0: a file). */
static int render(const cf_wf *wf, int64_t version, char **out, cf_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    fputs("digraph \"", f);
    text(f, wf->name);
    if (version > 0)
        fprintf(f, "_v%lld", (long long)version);
    fputs("\" {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n"
          "  edge [fontname=\"Helvetica\", fontsize=10];\n",
          f);
    for (size_t i = 0; i < wf->nstates; i++)
        node(f, &wf->states[i], strcmp(wf->states[i].name, wf->initial) == 0);
    for (size_t i = 0; i < wf->nstates; i++) {
        const cf_wf_state *st = &wf->states[i];
        for (size_t j = 0; j < st->non; j++) {
            const cf_wf_transition *t = &st->on[j];
            if (t->target) {
                edge(f, st, t->target, t, false);
                continue;
            }
            for (size_t k = 0; k < t->ntargets; k++)
                edge(f, st, t->targets[k], t, true);
        }
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    *out = buf;
    return 0;
}

int cf_workflow_graph(cf_engine *e, const char *name, int64_t version, char **out,
                      cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    if (version <= 0 && (rc = cf_engine_workflow_active(e, name, &version, err)) == CF_EMISSING)
        return cf_err_set(err, CF_EMISSING, "workflow", "workflow %s is not deployed", name);
    if (rc)
        return rc;
    json_t *bundle = NULL;
    rc = cf_store_workflow_get(e->store, name, version, &bundle, err);
    if (rc == CF_EMISSING) {
        int64_t latest;
        cf_error ignored;
        if (cf_store_workflow_latest(e->store, name, &latest, NULL, &ignored) == CF_EMISSING)
            return cf_err_set(err, CF_EMISSING, "workflow", "workflow %s is not deployed",
                              name);
        return cf_err_set(err, CF_EMISSING, "version", "workflow %s v%lld is not deployed",
                          name, (long long)version);
    }
    /* Loaded without its plugins: an old version whose plugin is gone still draws. */
    cf_wf *wf = NULL;
    if (!rc)
        rc = cf_wf_load(bundle, &wf, err);
    json_decref(bundle);
    if (!rc)
        rc = render(wf, version, out, err);
    if (wf)
        cf_wf_free(wf);
    return rc;
}

int cf_workflow_graph_file(const char *path, char **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    json_t *bundle = NULL;
    cf_wf *wf = NULL;
    int rc = cf_wf_bundle_from_file(path, &bundle, err);
    if (!rc)
        rc = cf_wf_load(bundle, &wf, err);
    json_decref(bundle);
    if (!rc)
        rc = render(wf, 0, out, err);
    if (wf)
        cf_wf_free(wf);
    return rc;
}
