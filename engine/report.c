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

/* What every query of the report is bound with. */
typedef struct scope {
    const char *wf;   /* :wf, the workflow */
    int64_t ver;      /* :ver, its version, 0 for all */
    int64_t since;    /* :since */
    int64_t now;      /* :now */
} scope;

/* A case's own version's entry in a {"name@version": ...} text bound as
 * :keyed, and the version filter. */
#define KEYED(c) "json_each(:keyed, " CF_VERSION_KEY(c) ")"
#define IN_VERSION(c) " AND (:ver = 0 OR " c ".version = :ver)"

/*
 * The same on PostgreSQL (issue 12): the entry is looked up by the key
 * itself, its list read as a set of texts; :ver typed bigint (PostgreSQL
 * would type it integer from the 0). Case data is read as json, which keeps
 * the text as written; a data path "$.a.b" becomes the key list {a,b}.
 * SQLite's json_extract gives a JSON string, object or array as TEXT and a
 * number or boolean as INTEGER (or REAL): PG_JSON_TEXT is the TEXT ones,
 * PG_SQLITE_TEXT what cf_stmt_text reads of any of them.
 */
#define PG_VERSION_KEY(c) "(" c ".workflow || '@' || " c ".version)"
#define PG_KEYED(c) \
    "json_array_elements_text(CAST(:keyed AS json) -> " PG_VERSION_KEY(c) ") AS k(value)"
#define PG_IN_VERSION(c) " AND (CAST(:ver AS bigint) = 0 OR " c ".version = :ver)"
#define PG_PATH(text) "string_to_array(substr(" text ", 3), '.')"
#define PG_JSON_TEXT(x) \
    "(CASE WHEN json_typeof(" x ") IN ('string', 'object', 'array') THEN " x " #>> '{}' END)"
#define PG_SQLITE_TEXT(x)                                                                \
    "(CASE json_typeof(" x ") WHEN 'boolean' THEN CASE WHEN " x "::text = 'true' THEN '1'" \
    " ELSE '0' END ELSE " x " #>> '{}' END)"

/* Run sql (bound with the scope, text and keyed), returning its rows as arrays. */
static int rows(cf_store *s, const char *sql, const char *pg_sql, const scope *sc,
                const char *text, const char *keyed, json_t **out, cf_error *err)
{
    cf_stmt *st = cf_store_stmt_for(s, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    for (int i = 1; i <= cf_stmt_param_count(st); i++) {
        const char *name = cf_stmt_param_name(st, i);
        if (name && strcmp(name, ":since") == 0)
            cf_stmt_bind_int64(st, i, sc->since);
        else if (name && strcmp(name, ":now") == 0)
            cf_stmt_bind_int64(st, i, sc->now);
        else if (name && strcmp(name, ":ver") == 0)
            cf_stmt_bind_int64(st, i, sc->ver);
        else if (name && strcmp(name, ":text") == 0)
            cf_stmt_bind_text(st, i, text);
        else if (name && strcmp(name, ":keyed") == 0)
            cf_stmt_bind_text(st, i, keyed ? keyed : "{}");
        else if (name && strcmp(name, ":wf") == 0)
            cf_stmt_bind_text(st, i, sc->wf);
    }
    json_t *a = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        json_t *r = json_array();
        for (int i = 0; i < cf_stmt_columns(st); i++) {
            switch (cf_stmt_type(st, i)) {
            case CF_DB_INTEGER:
                json_array_append_new(r, json_integer(cf_stmt_int64(st, i)));
                break;
            case CF_DB_NULL:
                json_array_append_new(r, json_null());
                break;
            default:
                json_array_append_new(r,
                                      json_string(cf_stmt_text(st, i)));
            }
        }
        json_array_append_new(a, r);
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
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

/* {"YYYY-MM": {cases, by_version{"N": count}}} from (month, version, count)
 * rows. */
static json_t *month_counts(json_t *a)
{
    json_t *o = json_object(), *row;
    size_t i;
    json_array_foreach(a, i, row)
    {
        const char *m = json_string_value(json_array_get(row, 0));
        char vk[24];
        snprintf(vk, sizeof vk, "%lld", (long long)json_integer_value(json_array_get(row, 1)));
        json_t *b = json_object_get(o, m ? m : "none");
        if (!b) {
            b = json_pack("{s:i, s:{}}", "cases", 0, "by_version");
            json_object_set_new(o, m ? m : "none", b);
        }
        json_int_t n = json_integer_value(json_array_get(row, 2));
        json_object_set_new(b, "cases",
                            json_integer(json_integer_value(json_object_get(b, "cases")) + n));
        json_object_set(json_object_get(b, "by_version"), vk, json_array_get(row, 2));
    }
    return o;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* o (taken) with its keys in byte order, as a new object: the flags come
 * from Lua tables, whose order changes from run to run. */
static json_t *sorted_keys(json_t *o)
{
    size_t n = json_object_size(o), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *v;
    if (!keys)
        return o;
    json_object_foreach(o, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_str);
    json_t *s = json_object();
    for (i = 0; i < n; i++)
        json_object_set(s, keys[i], json_object_get(o, keys[i]));
    free(keys);
    json_decref(o);
    return s;
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

/* Median days from referral to entering `state`, over the cases whose own
 * version counts it a milestone (keyed: {"name@version": [state...]}). */
static int milestone(cf_store *s, const scope *sc, const char *state, const char *keyed,
                     json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT min(e.at) - c.created_at FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.to_state = :text AND e.from_state IS NOT e.to_state"
        " AND e.at >= :since" IN_VERSION("c")
        " AND EXISTS (SELECT 1 FROM " KEYED("c") " WHERE value = :text) GROUP BY e.case_id";
    /* min(c.created_at): PostgreSQL wants every column aggregated or
     * grouped (one case per group: the same value). */
    static const char pg_sql[] =
        "SELECT min(e.at) - min(c.created_at) FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.to_state = :text"
        " AND e.from_state IS DISTINCT FROM e.to_state"
        " AND e.at >= :since" PG_IN_VERSION("c")
        " AND EXISTS (SELECT 1 FROM " PG_KEYED("c") " WHERE value = :text) GROUP BY e.case_id";
    json_t *a;
    int rc = rows(s, sql, pg_sql, sc, state, keyed, &a, err);
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
 * deadline; missed when it did so late, or has not and the deadline passed.
 * Each case's response states and grade path are its own version's. */
static int deadlines(cf_engine *e, const scope *sc, json_t **out, cf_error *err)
{
    char *resp = NULL, *gpaths = NULL;
    int rc = cf_engine_response_states(e, &resp, &gpaths, err);
    if (rc)
        return rc;
    cf_stmt *st;
#define PG_GRADE "(c.data::json #> " \
    PG_PATH("coalesce(CAST(?1 AS json) ->> " PG_VERSION_KEY("c") ", '$.risk.grade')") ")"
    rc = cf_store_prepare(e->store, cf_store_is_pg(e->store) ?
        "SELECT " PG_SQLITE_TEXT(PG_GRADE) ", c.deadline_at,"
        " (SELECT min(e.at) FROM events e WHERE e.case_id = c.id"
        "   AND e.to_state IN (SELECT json_array_elements_text(CAST(?2 AS json) -> "
        PG_VERSION_KEY("c") ")))"
        " FROM cases c WHERE c.deadline_at IS NOT NULL AND c.created_at >= ?3"
        " AND c.workflow = ?4 AND (CAST(?5 AS bigint) = 0 OR c.version = ?5)" :
        "SELECT json_extract(c.data, coalesce(json_extract(?1, " CF_VERSION_KEY("c") "),"
        "  '$.risk.grade')), c.deadline_at,"
        " (SELECT min(e.at) FROM events e WHERE e.case_id = c.id"
        "   AND e.to_state IN (SELECT value FROM json_each(?2, " CF_VERSION_KEY("c") ")))"
        " FROM cases c WHERE c.deadline_at IS NOT NULL AND c.created_at >= ?3"
        " AND c.workflow = ?4 AND (?5 = 0 OR c.version = ?5)", &st);
#undef PG_GRADE
    if (rc != CF_DB_OK) {
        free(resp);
        free(gpaths);
        return cf_store_error(e->store, rc, "report", err);
    }
    cf_stmt_bind_text(st, 1, gpaths);
    cf_stmt_bind_text(st, 2, resp);
    cf_stmt_bind_int64(st, 3, sc->since);
    cf_stmt_bind_text(st, 4, sc->wf);
    cf_stmt_bind_int64(st, 5, sc->ver);
    json_t *o = json_object();
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *g = cf_stmt_text(st, 0);
        int64_t due = cf_stmt_int64(st, 1);
        bool responded = cf_stmt_type(st, 2) != CF_DB_NULL;
        int64_t at = cf_stmt_int64(st, 2);
        const char *k = g ? g : "ungraded";
        json_t *b = json_object_get(o, k);
        if (!b) {
            b = json_pack("{s:i, s:i, s:i}", "cases", 0, "met", 0, "missed", 0);
            json_object_set_new(o, k, b);
        }
        const char *which = responded ? (at <= due ? "met" : "missed")
                                      : (sc->now > due ? "missed" : NULL);
        json_object_set_new(b, "cases",
                            json_integer(json_integer_value(json_object_get(b, "cases")) + 1));
        if (which)
            json_object_set_new(
                b, which, json_integer(json_integer_value(json_object_get(b, which)) + 1));
    }
    cf_stmt_finalize(st);
    free(resp);
    free(gpaths);
    if (rc != CF_DB_DONE) {
        json_decref(o);
        return cf_store_error(e->store, rc, "report", err);
    }
    *out = o;
    return 0;
}

/* The config.report of every deployed version of name (only `only` when
 * > 0), as {"name@version": report} (new), newest version first. CF_EMISSING
 * when `only` is not deployed. */
static int version_configs(cf_engine *e, const char *name, int64_t only, json_t **out,
                           cf_error *err)
{
    json_t *list = NULL;
    int rc = cf_store_workflow_list(e->store, &list, err);
    if (rc)
        return rc;
    json_t *o = json_object();
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *w = json_array_get(list, i);
        json_int_t v = json_integer_value(json_object_get(w, "version"));
        if (strcmp(json_string_value(json_object_get(w, "name")), name) != 0 ||
            (only > 0 && v != only))
            continue;
        cf_wf *wf;
        cf_error ignored;
        const json_t *rep = NULL;
        if (cf_engine_workflow_lazy(e, name, v, &wf, &ignored) == 0)
            rep = json_object_get(wf->config, "report");
        char key[160];
        snprintf(key, sizeof key, "%s@%lld", name, (long long)v);
        json_object_set_new(o, key, json_is_object(rep) ? json_deep_copy(rep) : json_object());
    }
    json_decref(list);
    if (only > 0 && json_object_size(o) == 0) {
        json_decref(o);
        return cf_err_set(err, CF_EMISSING, "version", "workflow %s v%lld is not deployed",
                          name, (long long)only);
    }
    *out = o;
    return 0;
}

/* {"name@version": cfg[member]} of configs as JSON text (new malloc'd), and
 * the union of the lists (appended to all, newest version's order first). */
static char *keyed_list(const json_t *configs, const char *member, json_t *all)
{
    json_t *k = json_object(), *cfg, *v;
    const char *key;
    size_t i;
    json_object_foreach((json_t *)configs, key, cfg)
    {
        json_t *list = strings_of(cfg, member);
        json_object_set_new(k, key, list ? json_incref(list) : json_array());
        json_array_foreach(list, i, v)
        {
            bool seen = false;
            for (size_t j = 0; j < json_array_size(all) && !seen; j++)
                seen = json_equal(json_array_get(all, j), v);
            if (!seen && json_is_string(v))
                json_array_append(all, v);
        }
    }
    char *text = json_dumps(k, JSON_COMPACT);
    json_decref(k);
    return text;
}

int cf_report(cf_engine *e, const char *workflow, int64_t since, json_t **out, cf_error *err)
{
    return cf_report_version(e, workflow, 0, since, out, err);
}

int cf_report_version(cf_engine *e, const char *workflow, int64_t version, int64_t since,
                      json_t **out, cf_error *err)
{
#define BY_STATE(V)                                                                      \
    "SELECT state, count(*) FROM cases c WHERE workflow = :wf AND created_at >= :since" \
    V("c") " GROUP BY state ORDER BY state"
#define BY_VERSION(V)                                                 \
    "SELECT version, state, count(*) FROM cases c WHERE workflow = :wf" \
    " AND created_at >= :since" V("c") " GROUP BY 1, 2 ORDER BY 1, 2"
    static const char by_state[] = BY_STATE(IN_VERSION);
    static const char by_state_pg[] = BY_STATE(PG_IN_VERSION);
    static const char by_version[] = BY_VERSION(IN_VERSION);
    static const char by_version_pg[] = BY_VERSION(PG_IN_VERSION);
#undef BY_STATE
#undef BY_VERSION
    /* Monthly intake (UTC months of referral), by version. */
    static const char by_month[] =
        "SELECT strftime('%Y-%m', created_at, 'unixepoch'), version, count(*) FROM cases c"
        " WHERE workflow = :wf AND created_at >= :since" IN_VERSION("c")
        " GROUP BY 1, 2 ORDER BY 1, 2";
    static const char by_month_pg[] =
        "SELECT to_char(to_timestamp(created_at) AT TIME ZONE 'UTC', 'YYYY-MM'), version,"
        " count(*) FROM cases c WHERE workflow = :wf AND created_at >= :since"
        PG_IN_VERSION("c") " GROUP BY 1, 2 ORDER BY 1, 2";
    static const char by_outcome[] =
        "SELECT json_extract(data, '$.outcome'), count(*) FROM cases c"
        " WHERE workflow = :wf AND created_at >= :since" IN_VERSION("c")
        " AND json_extract(data, '$.outcome') IS NOT NULL"
        " GROUP BY 1 ORDER BY 1";
    /* A number or boolean outcome: SQLite gives an INTEGER, which to_counts
     * files under "none"; here NULL, filed there as well. */
    static const char by_outcome_pg[] =
        "SELECT " PG_JSON_TEXT("(c.data::json -> 'outcome')") ", count(*) FROM cases c"
        " WHERE workflow = :wf AND created_at >= :since" PG_IN_VERSION("c")
        " AND json_typeof(c.data::json -> 'outcome') <> 'null'"
        " GROUP BY 1 ORDER BY 1 NULLS FIRST";
    /* A route is one of the case's own version's routes. */
    static const char entered[] =
        "SELECT e.to_state, count(DISTINCT e.case_id),"
        " count(DISTINCT (SELECT r.case_id FROM events r WHERE r.case_id = e.case_id"
        "   AND r.event = 'repeat_referral' AND r.seq > e.seq))"
        " FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.at >= :since AND e.from_state IS NOT e.to_state"
        IN_VERSION("c") " AND e.to_state IN (SELECT value FROM " KEYED("c") ")"
        " GROUP BY e.to_state";
    static const char entered_pg[] =
        "SELECT e.to_state, count(DISTINCT e.case_id),"
        " count(DISTINCT (SELECT r.case_id FROM events r WHERE r.case_id = e.case_id"
        "   AND r.event = 'repeat_referral' AND r.seq > e.seq))"
        " FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.at >= :since AND e.from_state IS DISTINCT FROM e.to_state"
        PG_IN_VERSION("c") " AND e.to_state IN (SELECT value FROM " PG_KEYED("c") ")"
        " GROUP BY e.to_state";
    static const char escalations[] =
        "SELECT e.from_state, count(*) FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.event = 'repeat_referral' AND e.at >= :since"
        IN_VERSION("c") " GROUP BY e.from_state ORDER BY 1";
    /* NULL (the first event) first, as in SQLite. */
    static const char escalations_pg[] =
        "SELECT e.from_state, count(*) FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE c.workflow = :wf AND e.event = 'repeat_referral' AND e.at >= :since"
        PG_IN_VERSION("c") " GROUP BY e.from_state ORDER BY 1 NULLS FIRST";
    /* :keyed is {"name@version": "$.path"}: the flag's path in the case's version. */
    static const char flag[] =
        "SELECT count(*) FROM cases c WHERE workflow = :wf AND created_at >= :since"
        IN_VERSION("c") " AND json_extract(data, (SELECT value FROM json_each(:keyed)"
        "  WHERE key = c.workflow || '@' || c.version)) IS NOT NULL";
    /* #>> and not #>: a JSON null is SQL NULL, as json_extract gives it. */
    static const char flag_pg[] =
        "SELECT count(*) FROM cases c WHERE workflow = :wf AND created_at >= :since"
        PG_IN_VERSION("c") " AND (c.data::json #>> "
        PG_PATH("(CAST(:keyed AS json) ->> " PG_VERSION_KEY("c") ")") ") IS NOT NULL";
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    if (version < 0)
        return cf_err_set(err, CF_EINVALID, "version", "version must be 1 or more");
    const char *name = workflow ? workflow : "polit";
    int64_t latest;
    if ((rc = cf_store_workflow_latest(e->store, name, &latest, NULL, err)))
        return rc;
    json_t *configs = NULL;
    if ((rc = version_configs(e, name, version, &configs, err)))
        return rc;
    scope sc = {name, version, since, cf_engine_now(e)};
    json_t *a = NULL, *r = json_object(), *routes = json_array(), *mstones = json_array();
    char *rt = keyed_list(configs, "routes", routes);
    char *mt = keyed_list(configs, "milestones", mstones);
    char sincebuf[32];
    cf_time_format(since, sincebuf);
    json_object_set_new(r, "workflow", json_string(name));
    json_object_set_new(r, "version", version > 0 ? json_integer(version) : json_null());
    json_object_set_new(r, "since", since > 0 ? json_string(sincebuf) : json_null());
    char nowbuf[32];
    cf_time_format(sc.now, nowbuf);
    json_object_set_new(r, "as_of", json_string(nowbuf));
    if (!rt || !mt) {
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if ((rc = rows(e->store, by_state, by_state_pg, &sc, NULL, NULL, &a, err)))
        goto fail;
    json_object_set_new(r, "by_state", to_counts(a));
    json_decref(a);
    if ((rc = rows(e->store, by_version, by_version_pg, &sc, NULL, NULL, &a, err)))
        goto fail;
    json_t *bv = json_object(), *row, *v;
    size_t i;
    json_array_foreach(a, i, row)
    {
        char vk[24];
        snprintf(vk, sizeof vk, "%lld", (long long)json_integer_value(json_array_get(row, 0)));
        json_t *b = json_object_get(bv, vk);
        if (!b) {
            b = json_pack("{s:i, s:{}}", "cases", 0, "by_state");
            json_object_set_new(bv, vk, b);
        }
        json_int_t n = json_integer_value(json_array_get(row, 2));
        json_object_set_new(b, "cases",
                            json_integer(json_integer_value(json_object_get(b, "cases")) + n));
        json_object_set(json_object_get(b, "by_state"), json_string_value(json_array_get(row, 1)),
                        json_array_get(row, 2));
    }
    json_decref(a);
    json_object_set_new(r, "by_version", bv);
    if ((rc = rows(e->store, by_month, by_month_pg, &sc, NULL, NULL, &a, err)))
        goto fail;
    json_object_set_new(r, "by_month", month_counts(a));
    json_decref(a);
    if ((rc = rows(e->store, by_outcome, by_outcome_pg, &sc, NULL, NULL, &a, err)))
        goto fail;
    json_object_set_new(r, "by_outcome", to_counts(a));
    json_decref(a);
    if ((rc = rows(e->store, entered, entered_pg, &sc, NULL, rt, &a, err)))
        goto fail;
    json_t *ent = json_object();
    json_array_foreach(routes, i, v) json_object_set_new(
        ent, json_string_value(v), json_pack("{s:i, s:i}", "cases", 0, "came_back", 0));
    json_array_foreach(a, i, row) json_object_set_new(
        ent, json_string_value(json_array_get(row, 0)),
        json_pack("{s:O, s:O}", "cases", json_array_get(row, 1), "came_back",
                  json_array_get(row, 2)));
    json_decref(a);
    json_object_set_new(r, "routes", ent);
    if ((rc = rows(e->store, escalations, escalations_pg, &sc, NULL, NULL, &a, err)))
        goto fail;
    json_object_set_new(r, "escalations", to_counts(a));
    json_decref(a);
    /* Each flag over the versions that declare it, by their own paths. */
    json_t *fo = json_object(), *cfg;
    const char *ck;
    json_object_foreach(configs, ck, cfg)
    {
        const char *fk;
        json_object_foreach(json_object_get(cfg, "flags"), fk, v)
        {
            if (json_object_get(fo, fk))
                continue;
            json_t *paths = json_object(), *c2;
            const char *k2;
            json_object_foreach(configs, k2, c2)
            {
                json_t *fv = json_object_get(json_object_get(c2, "flags"), fk);
                char p[160];
                if (!fv)
                    continue;
                json_path(p, sizeof p, json_string_value(fv) ? json_string_value(fv) : fk);
                json_object_set_new(paths, k2, json_string(p));
            }
            char *pt = json_dumps(paths, JSON_COMPACT);
            json_decref(paths);
            rc = pt ? rows(e->store, flag, flag_pg, &sc, NULL, pt, &a, err)
                    : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
            free(pt);
            if (rc) {
                json_decref(fo);
                goto fail;
            }
            json_object_set(fo, fk, json_array_get(json_array_get(a, 0), 0));
            json_decref(a);
        }
    }
    json_object_set_new(r, "flags", sorted_keys(fo));
    json_t *ms = json_object();
    json_array_foreach(mstones, i, v)
    {
        json_t *m = NULL;
        if ((rc = milestone(e->store, &sc, json_string_value(v), mt, &m, err))) {
            json_decref(ms);
            goto fail;
        }
        json_object_set_new(ms, json_string_value(v), m);
    }
    json_object_set_new(r, "days_from_referral", ms);
    json_t *dl = NULL;
    if ((rc = deadlines(e, &sc, &dl, err)))
        goto fail;
    json_object_set_new(r, "deadlines", dl);
    /* Timers tick keeps because their case's state cannot take them. */
    json_t *kept = NULL;
    if ((rc = cf_engine_kept_timers(e, name, NULL, &kept, err)))
        goto fail;
    json_int_t nkept = 0, ndue = 0;
    for (i = json_array_size(kept); i-- > 0;) {
        v = json_array_get(kept, i);
        if (version > 0 && json_integer_value(json_object_get(v, "version")) != version) {
            json_array_remove(kept, i);
            continue;
        }
        nkept += json_integer_value(json_object_get(v, "timers"));
        ndue += json_integer_value(json_object_get(v, "due"));
    }
    json_object_set_new(r, "timers_kept",
                        json_pack("{s:I, s:I, s:o}", "timers", nkept, "due", ndue, "by", kept));
    /* Aggregates still consult case data: the report is audited too. */
    if ((rc = cf_engine_consult(e, NULL, "report", err)))
        goto fail;
    *out = r;
    r = NULL;
fail:
    json_decref(r);
    json_decref(configs);
    json_decref(routes);
    json_decref(mstones);
    free(rt);
    free(mt);
    return rc;
}
