/*
 * The management report: what a detective inspector, an inspectorate or a
 * public answer needs in one command. It is computed from the history, not
 * from counters, so it can be recomputed for any period and always agrees
 * with the cases. What counts as a route, a milestone or a response comes
 * from the workflow's `config.report` table (see docs/workflows.md), so the
 * engine stays free of POLIT's state names:
 *
 *   report = {
 *     routes = { "visit", "warning", "enforcement", "hold" },  -- states counted as entered
 *     milestones = { "visit", "warrant" },     -- median days from referral
 *     response = { "visit", "warrant" },       -- entering one meets the deadline
 *     grade = "risk.grade",                    -- deadlines grouped by this data path
 *     flags = { override = "route_decision.override" },  -- cases where the path is set
 *   }
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Run sql (bound with since/now), returning its rows as arrays. */
static int rows(cf_store *s, const char *sql, const char *wf, int64_t since, int64_t now,
                const char *text, json_t **out, cf_error *err)
{
    sqlite3_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        if (name && strcmp(name, ":since") == 0)
            sqlite3_bind_int64(st, i, since);
        else if (name && strcmp(name, ":now") == 0)
            sqlite3_bind_int64(st, i, now);
        else if (name && strcmp(name, ":text") == 0)
            sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
        else if (name && strcmp(name, ":wf") == 0)
            sqlite3_bind_text(st, i, wf, -1, SQLITE_STATIC);
    }
    json_t *a = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = json_array();
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                json_array_append_new(r, json_integer(sqlite3_column_int64(st, i)));
                break;
            case SQLITE_NULL:
                json_array_append_new(r, json_null());
                break;
            default:
                json_array_append_new(r,
                                      json_string((const char *)sqlite3_column_text(st, i)));
            }
        }
        json_array_append_new(a, r);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(a);
        return cf_store_error(s, rc, "report", err);
    }
    *out = a;
    return 0;
}

/* {key: count} from two-column rows; NULL keys become "none". */
static json_t *to_counts(json_t *a)
{
    json_t *o = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r)
    {
        const char *k = json_string_value(json_array_get(r, 0));
        json_object_set(o, k ? k : "none", json_array_get(r, 1));
    }
    return o;
}

static json_t *strings_of(const json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_array(v) ? v : NULL;
}

/* data path "a.b" -> JSON path "$.a.b" */
static void json_path(char *out, size_t n, const char *path)
{
    snprintf(out, n, "$.%s", path);
}

static int milestone(cf_store *s, const char *wf, const char *state, int64_t since,
                     json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT min(e.at) - c.created_at FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.to_state = :text AND e.from_state IS NOT e.to_state"
        " AND e.at >= :since GROUP BY e.case_id";
    json_t *a;
    int rc = rows(s, sql, wf, since, 0, state, &a, err);
    if (rc)
        return rc;
    size_t n = json_array_size(a);
    int64_t *d = calloc(n ? n : 1, sizeof *d);
    for (size_t i = 0; d && i < n; i++)
        d[i] = json_integer_value(json_array_get(json_array_get(a, i), 0));
    json_decref(a);
    if (!d)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    qsort(d, n, sizeof *d, cmp_i64);
    double median = 0;
    if (n)
        median = n % 2 ? (double)d[n / 2] : ((double)d[n / 2 - 1] + (double)d[n / 2]) / 2;
    free(d);
    *out = json_pack("{s:I, s:o}", "cases", (json_int_t)n, "median_days",
                     n ? json_real((double)(int64_t)(median / 8640.0 + 0.5) / 10.0)
                       : json_null());
    return 0;
}

/* Deadlines by grade: met when the case entered a response state by its
 * deadline; missed when it did so late, or has not and the deadline passed. */
static int deadlines(cf_store *s, const char *wf, const json_t *cfg, int64_t since,
                     int64_t now, json_t **out, cf_error *err)
{
    /* The response states are bound as a JSON array and read with json_each. */
    json_t *resp = strings_of(cfg, "response");
    char *resp_text = resp ? json_dumps(resp, JSON_COMPACT) : strdup("[]");
    const char *grade = json_string_value(json_object_get(cfg, "grade"));
    char gpath[160];
    json_path(gpath, sizeof gpath, grade ? grade : "risk.grade");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        cf_store_db(s),
        "SELECT json_extract(c.data, ?1), c.deadline_at,"
        " (SELECT min(e.at) FROM events e WHERE e.case_id = c.id"
        "   AND e.to_state IN (SELECT value FROM json_each(?2)))"
        " FROM cases c WHERE c.deadline_at IS NOT NULL AND c.created_at >= ?3"
        " AND c.workflow = ?4",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        free(resp_text);
        return cf_store_error(s, rc, "report", err);
    }
    sqlite3_bind_text(st, 1, gpath, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, resp_text ? resp_text : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, since);
    sqlite3_bind_text(st, 4, wf, -1, SQLITE_STATIC);
    json_t *o = json_object();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        int64_t due = sqlite3_column_int64(st, 1);
        bool responded = sqlite3_column_type(st, 2) != SQLITE_NULL;
        int64_t at = sqlite3_column_int64(st, 2);
        const char *k = g ? g : "ungraded";
        json_t *b = json_object_get(o, k);
        if (!b) {
            b = json_pack("{s:i, s:i, s:i}", "cases", 0, "met", 0, "missed", 0);
            json_object_set_new(o, k, b);
        }
        const char *which = responded ? (at <= due ? "met" : "missed")
                                      : (now > due ? "missed" : NULL);
        json_object_set_new(b, "cases",
                            json_integer(json_integer_value(json_object_get(b, "cases")) + 1));
        if (which)
            json_object_set_new(
                b, which, json_integer(json_integer_value(json_object_get(b, which)) + 1));
    }
    sqlite3_finalize(st);
    free(resp_text);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return cf_store_error(s, rc, "report", err);
    }
    *out = o;
    return 0;
}

int cf_report(cf_engine *e, const char *workflow, int64_t since, json_t **out, cf_error *err)
{
    static const char by_state[] =
        "SELECT state, count(*) FROM cases WHERE workflow = :wf AND created_at >= :since"
        " GROUP BY state ORDER BY state";
    static const char by_outcome[] =
        "SELECT json_extract(data, '$.outcome'), count(*) FROM cases"
        " WHERE workflow = :wf AND created_at >= :since"
        " AND json_extract(data, '$.outcome') IS NOT NULL"
        " GROUP BY 1 ORDER BY 1";
    static const char entered[] =
        "SELECT e.to_state, count(DISTINCT e.case_id),"
        " count(DISTINCT (SELECT r.case_id FROM events r WHERE r.case_id = e.case_id"
        "   AND r.event = 'repeat_referral' AND r.seq > e.seq))"
        " FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.at >= :since AND e.from_state IS NOT e.to_state"
        " AND e.to_state IN (SELECT value FROM json_each(:text)) GROUP BY e.to_state";
    static const char escalations[] =
        "SELECT e.from_state, count(*) FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.event = 'repeat_referral' AND e.at >= :since"
        " GROUP BY e.from_state ORDER BY 1";
    static const char flag[] =
        "SELECT count(*) FROM cases WHERE workflow = :wf AND created_at >= :since"
        " AND json_extract(data, :text) IS NOT NULL";
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    const char *name = workflow ? workflow : "polit";
    int64_t version;
    cf_wf *wf;
    if ((rc = cf_store_workflow_latest(e->store, name, &version, NULL, err)) ||
        (rc = cf_engine_workflow(e, name, version, &wf, err)))
        return rc;
    const json_t *cfg = json_object_get(wf->config, "report");
    int64_t now = cf_engine_now(e);
    json_t *a = NULL, *r = json_object();
    char sincebuf[32];
    cf_time_format(since, sincebuf);
    json_object_set_new(r, "workflow", json_string(name));
    json_object_set_new(r, "since", since > 0 ? json_string(sincebuf) : json_null());
    if ((rc = rows(e->store, by_state, name, since, now, NULL, &a, err)))
        goto fail;
    json_object_set_new(r, "by_state", to_counts(a));
    json_decref(a);
    if ((rc = rows(e->store, by_outcome, name, since, now, NULL, &a, err)))
        goto fail;
    json_object_set_new(r, "by_outcome", to_counts(a));
    json_decref(a);
    json_t *routes = strings_of(cfg, "routes");
    char *rt = routes ? json_dumps(routes, JSON_COMPACT) : strdup("[]");
    rc = rt ? rows(e->store, entered, name, since, now, rt, &a, err)
            : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(rt);
    if (rc)
        goto fail;
    json_t *ent = json_object();
    size_t i;
    json_t *row, *v;
    json_array_foreach(routes, i, v) json_object_set_new(
        ent, json_string_value(v), json_pack("{s:i, s:i}", "cases", 0, "came_back", 0));
    json_array_foreach(a, i, row) json_object_set_new(
        ent, json_string_value(json_array_get(row, 0)),
        json_pack("{s:O, s:O}", "cases", json_array_get(row, 1), "came_back",
                  json_array_get(row, 2)));
    json_decref(a);
    json_object_set_new(r, "routes", ent);
    if ((rc = rows(e->store, escalations, name, since, now, NULL, &a, err)))
        goto fail;
    json_object_set_new(r, "escalations", to_counts(a));
    json_decref(a);
    json_t *flags = json_object_get(cfg, "flags"), *fo = json_object();
    const char *fk;
    json_object_foreach(flags, fk, v)
    {
        char p[160];
        json_path(p, sizeof p, json_string_value(v) ? json_string_value(v) : fk);
        if ((rc = rows(e->store, flag, name, since, now, p, &a, err))) {
            json_decref(fo);
            goto fail;
        }
        json_object_set(fo, fk, json_array_get(json_array_get(a, 0), 0));
        json_decref(a);
    }
    json_object_set_new(r, "flags", fo);
    json_t *ms = json_object();
    json_array_foreach(strings_of(cfg, "milestones"), i, v)
    {
        json_t *m = NULL;
        if ((rc = milestone(e->store, name, json_string_value(v), since, &m, err))) {
            json_decref(ms);
            goto fail;
        }
        json_object_set_new(ms, json_string_value(v), m);
    }
    json_object_set_new(r, "days_from_referral", ms);
    json_t *dl = NULL;
    if ((rc = deadlines(e->store, name, cfg ? cfg : json_object_get(wf->config, "report"), since,
                        now, &dl, err)))
        goto fail;
    json_object_set_new(r, "deadlines", dl);
    /* Timers tick keeps because their case's state cannot take them. */
    json_t *kept = NULL;
    if ((rc = cf_engine_kept_timers(e, name, NULL, &kept, err)))
        goto fail;
    json_int_t nkept = 0, ndue = 0;
    json_array_foreach(kept, i, v) {
        nkept += json_integer_value(json_object_get(v, "timers"));
        ndue += json_integer_value(json_object_get(v, "due"));
    }
    json_object_set_new(r, "timers_kept",
                        json_pack("{s:I, s:I, s:o}", "timers", nkept, "due", ndue, "by", kept));
    /* Aggregates still consult case data: the report is audited too. */
    if ((rc = cf_engine_consult(e, NULL, "report", err)))
        goto fail;
    *out = r;
    return 0;
fail:
    json_decref(r);
    return rc;
}
