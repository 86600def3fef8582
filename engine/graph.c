/*
 * `caseflow workflow graph`: a deployed workflow version as Graphviz DOT, so
 * an administrator, a supervisor or an inspector can see the process that a
 * case actually ran under. Transitions decided by a function are drawn
 * dashed, to each target the function declared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

static void edge(FILE *f, const char *from, const char *to, const cf_wf_transition *t,
                 bool dashed)
{
    fprintf(f, "  \"%s\" -> \"%s\" [label=\"%s%s\"%s];\n", from, to, t->event,
            t->system ? " (engine)" : "", dashed ? ", style=dashed" : "");
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
    fprintf(f, "  \"%s\" [shape=%s%s%s, label=\"%s%s%s\"];\n", st->name, shape,
            transient ? ", style=dashed" : "", initial ? ", penwidth=2" : "", st->name,
            st->step ? "\\n" : "", st->step ? st->step : "");
}

int cf_workflow_graph(cf_engine *e, const char *name, int64_t version, char **out,
                      cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    if (version <= 0 && (rc = cf_store_workflow_latest(e->store, name, &version, NULL, err)))
        return rc;
    cf_wf *wf;
    if ((rc = cf_engine_workflow(e, name, version, &wf, err)))
        return rc;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    fprintf(f, "digraph \"%s_v%lld\" {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
            wf->name, (long long)version);
    for (size_t i = 0; i < wf->nstates; i++)
        node(f, &wf->states[i], strcmp(wf->states[i].name, wf->initial) == 0);
    for (size_t i = 0; i < wf->nstates; i++) {
        const cf_wf_state *st = &wf->states[i];
        for (size_t j = 0; j < st->non; j++) {
            const cf_wf_transition *t = &st->on[j];
            if (t->target) {
                edge(f, st->name, t->target, t, false);
                continue;
            }
            for (size_t k = 0; k < t->ntargets; k++)
                edge(f, st->name, t->targets[k], t, true);
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
