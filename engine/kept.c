/*
 * Timers a case cannot take: a timer of the state the case is in whose
 * event no transition of that state takes (a misspelt timer event, a
 * plugin's deadline the workflow forgot). tick keeps them and says so each
 * time; here they are counted for `report` (against each case's own
 * version) and for `workflow check --live` (against a candidate workflow
 * file, before it is deployed or cases are migrated to it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

/* Does wf take event ev in state? */
static bool takes(const cf_wf *wf, const char *state, const char *ev)
{
    const cf_wf_state *st = cf_wf_find_state(wf, state);
    return st && !st->final && cf_wf_find_transition(st, ev) != NULL;
}

int cf_engine_kept_timers(cf_engine *e, const char *workflow, const cf_wf *candidate,
                          json_t **out, cf_error *err)
{
    *out = NULL;
    /* One row per (workflow, version, state, event): the store may hold a
     * million monitoring timers, all of a few kinds. */
    static const char sql[] =
        "SELECT c.workflow, c.version, c.state, t.event, count(*),"
        " sum(t.due_at <= ?2), min(t.due_at), min(c.id)"
        " FROM timers t JOIN cases c ON c.id = t.case_id"
        " WHERE c.disposed_at IS NULL AND (t.state IS NULL OR t.state = c.state)"
        " AND (?1 IS NULL OR c.workflow = ?1)"
        " GROUP BY c.workflow, c.version, c.state, t.event"
        " ORDER BY c.workflow, c.version, c.state, t.event";
    /* PostgreSQL sums no booleans, and cannot type a parameter that is
     * first met alone in ?1 IS NULL. */
    static const char pg_sql[] =
        "SELECT c.workflow, c.version, c.state, t.event, count(*),"
        " count(*) FILTER (WHERE t.due_at <= ?2), min(t.due_at), min(c.id)"
        " FROM timers t JOIN cases c ON c.id = t.case_id"
        " WHERE c.disposed_at IS NULL AND (t.state IS NULL OR t.state = c.state)"
        " AND (CAST(?1 AS text) IS NULL OR c.workflow = ?1)"
        " GROUP BY c.workflow, c.version, c.state, t.event"
        " ORDER BY c.workflow, c.version, c.state, t.event";
    cf_stmt *st = cf_store_stmt_for(e->store, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    if (workflow)
        cf_stmt_bind_text(st, 1, workflow);
    else
        cf_stmt_bind_null(st, 1);
    cf_stmt_bind_int64(st, 2, cf_engine_now(e));
    json_t *groups = json_array();
    int rc = 0, prc;
    while (!rc && (prc = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *name = cf_stmt_text(st, 0);
        int64_t version = cf_stmt_int64(st, 1);
        const char *state = cf_stmt_text(st, 2);
        const char *ev = cf_stmt_text(st, 3);
        const cf_wf *wf = candidate;
        if (!wf) {
            cf_wf *own;
            if ((rc = cf_engine_workflow_lazy(e, name, version, &own, err)))
                break;
            wf = own;
        }
        if (takes(wf, state, ev))
            continue;
        char due[32];
        cf_time_format(cf_stmt_int64(st, 6), due);
        json_t *g = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:s}", "workflow", name,
                              "version", (json_int_t)version, "state", state, "event", ev,
                              "timers", (json_int_t)cf_stmt_int64(st, 4), "due",
                              (json_int_t)cf_stmt_int64(st, 5), "first_due", due,
                              "first_case", cf_stmt_text(st, 7));
        if (!g || json_array_append_new(groups, g))
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    if (!rc && prc != CF_DB_DONE)
        rc = cf_store_error(e->store, prc, "read timers", err);
    cf_stmt_reset(st);
    if (rc) {
        json_decref(groups);
        return rc;
    }
    *out = groups;
    return 0;
}

int cf_workflow_check_live(cf_engine *e, const char *path, json_t *findings, cf_error *err)
{
    cf_err_clear(err);
    if (!json_is_array(findings))
        return cf_err_set(err, CF_EINVALID, NULL, "check: no findings array");
    /* Which cases wait on which timers is case data: an audited read. */
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    json_t *bundle = NULL, *groups = NULL;
    cf_wf *wf = NULL;
    if ((rc = cf_wf_bundle_from_file(path, &bundle, err)) ||
        (rc = cf_wf_load(bundle, &wf, err))) {
        json_decref(bundle);
        return rc;
    }
    json_decref(bundle);
    if (!(rc = cf_engine_kept_timers(e, wf->name, wf, &groups, err)))
        rc = cf_engine_consult(e, NULL, "workflow check: live timers", err);
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        if (rc)
            break;
        const char *state = json_string_value(json_object_get(g, "state"));
        const cf_wf_state *st = cf_wf_find_state(wf, state);
        char msg[600];
        json_int_t n = json_integer_value(json_object_get(g, "timers"));
        snprintf(msg, sizeof msg,
                 "%lld timer%s of open cases on v%lld in state '%s' wait%s for '%s', which %s "
                 "(%lld due; the first %s, case %s)",
                 (long long)n, n == 1 ? "" : "s",
                 (long long)json_integer_value(json_object_get(g, "version")), state,
                 n == 1 ? "s" : "", json_string_value(json_object_get(g, "event")),
                 st ? (st->final ? "is final here" : "no transition of that state takes here")
                    : "is not a state here",
                 (long long)json_integer_value(json_object_get(g, "due")),
                 json_string_value(json_object_get(g, "first_due")),
                 json_string_value(json_object_get(g, "first_case")));
        json_t *f = json_pack("{s:s, s:i, s:s, s:s, s:O}", "file", path, "line",
                              st ? st->line : 0, "rule", "live-timer", "message", msg,
                              "timers", g);
        if (!f || json_array_append_new(findings, f))
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    json_decref(groups);
    cf_wf_free(wf);
    return rc;
}
