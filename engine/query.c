/*
 * Case queries for dashboards and other systems: filters, a stable order
 * (intake order, cases.seq) and a cursor, so paging while others write
 * never skips or repeats a case. A page is one read of case data: the
 * actor's reason and one audit record naming the cases returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

#define PAGE 100
#define PAGE_MAX 1000

/* The report settings of workflow `name` version `version` (borrowed from
 * the engine's cache), or NULL when it is not deployed. */
static const json_t *report_config(cf_engine *e, const char *name, int64_t version)
{
    cf_wf *wf;
    cf_error ignored;
    if (cf_engine_workflow_lazy(e, name, version, &wf, &ignored))
        return NULL;
    return json_object_get(wf->config, "report");
}

/* A data path of letters, digits, '_' and '.' as an SQLite JSON path. */
static int data_path(const char *path, char out[128], cf_error *err)
{
    size_t n = strlen(path);
    if (n == 0 || n > 100 || strspn(path, "abcdefghijklmnopqrstuvwxyz"
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") != n)
        return cf_err_set(err, CF_EINVALID, "grade", "the workflow's report.grade path is not a data path");
    snprintf(out, 128, "$.%s", path);
    return 0;
}

/* The response states of every deployed workflow version, each case judged
 * by the version it runs on: {"name@version": [state, ...]} (JSON text, new
 * malloc'd), and each version's grade path as an SQLite JSON path
 * ({"name@version": "$.risk.grade"} text, new malloc'd; gpaths may be NULL).
 * SQL looks a case's entry up with VERSION_KEY. */
int cf_engine_response_states(cf_engine *e, char **states, char **gpaths, cf_error *err)
{
    json_t *list = NULL, *resp = json_object(), *paths = json_object();
    int rc = cf_store_workflow_list(e->store, &list, err);
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w)
    {
        const char *name = json_string_value(json_object_get(w, "name"));
        json_int_t version = json_integer_value(json_object_get(w, "version"));
        if (rc || !name)
            continue;
        const json_t *rep = report_config(e, name, version);
        char key[160];
        snprintf(key, sizeof key, "%s@%lld", name, (long long)version);
        json_t *r = json_object_get(rep, "response");
        json_object_set_new(resp, key, json_is_array(r) ? json_copy(r) : json_array());
        const char *g = json_string_value(json_object_get(rep, "grade"));
        char path[128];
        if ((rc = data_path(g ? g : "risk.grade", path, err)) == 0)
            json_object_set_new(paths, key, json_string(path));
    }
    json_decref(list);
    *states = rc ? NULL : json_dumps(resp, JSON_COMPACT);
    if (gpaths)
        *gpaths = rc ? NULL : json_dumps(paths, JSON_COMPACT);
    json_decref(resp);
    json_decref(paths);
    if (!rc && (!*states || (gpaths && !*gpaths))) {
        free(*states);
        *states = NULL;
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    return rc;
}

/* The grade of case c, by its workflow's grade path. */
#define GRADE_SQL                                                                        \
    "json_extract(c.data, coalesce(json_extract(:gpaths, " CF_VERSION_KEY("c") "),"        \
    " '$.risk.grade'))"

/* Case `c` entered a response state since its deadline was last set (its
 * case.deadline_set event; before schema 3, ever). Two seeks, each in a
 * covering index: notifications_channel, then events_case_at. */
#define RESPONDED(c)                                                                     \
    "EXISTS (SELECT 1 FROM events e WHERE e.case_id = " c ".id"                          \
    " AND e.at >= (SELECT coalesce(max(n.created_at), 0) FROM notifications n"           \
    "  WHERE n.channel = 'case.deadline_set' AND n.case_id = " c ".id)"                  \
    " AND e.to_state IN (SELECT value FROM json_each(:resp, " CF_VERSION_KEY(c) ")))"

/*
 * The same on PostgreSQL (issue 12): a case's entry in a {"name@version": ...}
 * map is looked up by the key itself, and case data is read as json (not
 * jsonb: json keeps the text as written, and accepts what SQLite's JSON
 * functions accept). The grade path "$.a.b" becomes the key list {a,b}
 * (data_path allows only letters, digits, '_' and '.'). SQLite's
 * json_extract gives a JSON string as TEXT, a number as INTEGER or REAL, a
 * boolean as INTEGER 1 or 0 and an object or array as JSON TEXT; the C code
 * reads the grade with cf_stmt_text (PG_SQLITE_TEXT: those same texts) and
 * `= :grade` compares it as SQLite does, where text never equals a number
 * (PG_JSON_TEXT: text only for what SQLite gives as TEXT).
 */
#define PG_VERSION_KEY(c) "(" c ".workflow || '@' || " c ".version)"
#define PG_GRADE_JSON(c, gpaths)                                                         \
    "(" c ".data::json #> string_to_array(substr(coalesce(CAST(" gpaths " AS json) ->> " \
    PG_VERSION_KEY(c) ", '$.risk.grade'), 3), '.'))"
#define PG_JSON_TEXT(x) \
    "(CASE WHEN json_typeof(" x ") IN ('string', 'object', 'array') THEN " x " #>> '{}' END)"
#define PG_SQLITE_TEXT(x)                                                                \
    "(CASE json_typeof(" x ") WHEN 'boolean' THEN CASE WHEN " x "::text = 'true' THEN '1'" \
    " ELSE '0' END ELSE " x " #>> '{}' END)"
#define PG_RESPONDED(c)                                                                  \
    "EXISTS (SELECT 1 FROM events e WHERE e.case_id = " c ".id"                          \
    " AND e.at >= (SELECT coalesce(max(n.created_at), 0) FROM notifications n"           \
    "  WHERE n.channel = 'case.deadline_set' AND n.case_id = " c ".id)"                  \
    " AND e.to_state IN (SELECT json_array_elements_text(CAST(:resp AS json) -> "        \
    PG_VERSION_KEY(c) ")))"
#define PG_OVERDUE_SQL \
    "(c.deadline_at IS NOT NULL AND c.deadline_at <= :now AND NOT " PG_RESPONDED("c") ")"
#define PG_OVERDUE_WHERE "+c.deadline_at <= :now AND NOT " PG_RESPONDED("c")

/* Overdue: the deadline passed and no response since it was set. */
#define OVERDUE_SQL \
    "(c.deadline_at IS NOT NULL AND c.deadline_at <= :now AND NOT " RESPONDED("c") ")"

/* The same as a filter. The unary + keeps the planner from reading the
 * page's cases in deadline order (see pick_driver): they come in seq order. */
#define OVERDUE_WHERE "+c.deadline_at <= :now AND NOT " RESPONDED("c")

#define OPEN_TASK_SQL "FROM tasks t WHERE t.case_id = c.id AND t.status <> 'done'"

/*
 * Paging is in seq order, so a page reads cases from the cursor on until it
 * has enough: quick when many cases match, a walk over the whole store when
 * few do. A filter that few cases can pass has an index that lists those
 * few in another order: the page then reads only them (their seqs after the
 * cursor, gathered and sorted by SQLite), however large the store. Which
 * way a page goes is told by counting candidates in those indexes, each up
 * to the number worth reading that way (some tens of milliseconds of work):
 * the fewest (by their cost) drive the page, unless the state filter names
 * fewer cases still (cases_state is in seq order); with none within reach,
 * the page reads in seq order, where that many candidates make matches
 * likely to come soon.
 */
typedef struct driver {
    const char *probe; /* candidates, ?1 the bound, counted up to ?2 (a cached statement) */
    const char *seqs;  /* the seqs of the candidates after :after (a subquery) */
    const char *pg_seqs; /* the same on PostgreSQL (NULL: seqs) */
    int64_t ns;        /* the work one candidate costs, in nanoseconds */
    int64_t most;      /* the most candidates worth reading this way */
} driver;

/* Deadline filters: cases with a deadline up to :dmax, from cases_deadline,
 * which holds the id and disposal too: no case row is read. */
static const driver by_deadline = {
    "SELECT count(*) FROM (SELECT 1 FROM cases WHERE deadline_at <= ?1"
    " AND disposed_at IS NULL LIMIT ?2) AS p",
    "SELECT d.seq FROM cases d WHERE d.deadline_at <= :dmax AND d.disposed_at IS NULL"
    " AND +d.seq > :after",
    NULL, 700, 20000};
/* Overdue checks each candidate's response there as well: a few seeks. In
 * seq order that check is made on every case with a past deadline read
 * before the page fills, so this is worth more candidates. */
static const driver by_overdue = {
    "SELECT count(*) FROM (SELECT 1 FROM cases WHERE deadline_at <= ?1"
    " AND disposed_at IS NULL LIMIT ?2) AS p",
    "SELECT d.seq FROM cases d WHERE d.deadline_at <= :dmax AND d.disposed_at IS NULL"
    " AND +d.seq > :after AND NOT " RESPONDED("d"),
    "SELECT d.seq FROM cases d WHERE d.deadline_at <= :dmax AND d.disposed_at IS NULL"
    " AND +d.seq > :after AND NOT " PG_RESPONDED("d"),
    5000, 40000};
/* Open tasks (tasks_open holds only those), and their cases by id. */
static const driver by_task = {
    "SELECT count(*) FROM (SELECT 1 FROM tasks WHERE status <> 'done' LIMIT ?2) AS p",
    "SELECT k.seq FROM tasks t JOIN cases k ON k.id = t.case_id WHERE t.status <> 'done'"
    " AND +k.seq > :after",
    NULL, 3000, 10000};
/* Cases updated since :since (cases_updated). */
static const driver by_update = {
    "SELECT count(*) FROM (SELECT 1 FROM cases WHERE updated_at >= ?1 LIMIT ?2) AS p",
    "SELECT u.seq FROM cases u WHERE u.updated_at >= :since AND +u.seq > :after", NULL, 700,
    20000};

/* The cases in a state (cases_state), read in seq order; a case row costs
 * about this much, with the filters' checks on top. */
static const char state_probe[] =
    "SELECT count(*) FROM (SELECT 1 FROM cases WHERE state = ?1 LIMIT ?2) AS p";
#define ROW_NS 2000

/* *n: how many rows sql (a probe) counts with ?1 bound to text, or else to
 * bound, up to most + 1. */
static int probe(cf_engine *e, const char *sql, const char *text, int64_t bound, int64_t most,
                 int64_t *n, cf_error *err)
{
    cf_stmt *st = cf_store_stmt(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    if (text)
        cf_stmt_bind_text(st, 1, text);
    else
        cf_stmt_bind_int64(st, 1, bound);
    cf_stmt_bind_int64(st, 2, most + 1);
    int prc = cf_stmt_step(st);
    *n = prc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    return prc == CF_DB_ROW ? 0 : cf_store_error(e->store, prc, "query cases", err);
}

static bool use_drivers = true;

void cf_case_query_use_drivers(bool on)
{
    use_drivers = on;
}

/* The driver for q's page (*out NULL: none, the page reads in seq order).
 * *dmax: the latest deadline q admits. */
static int pick_driver(cf_engine *e, const cf_case_query *q, int64_t *dmax, const driver **out,
                       cf_error *err)
{
    *out = NULL;
    *dmax = INT64_MAX;
    if (q->overdue)
        *dmax = cf_engine_now(e);
    if (q->deadline_before > 0 && q->deadline_before - 1 < *dmax)
        *dmax = q->deadline_before - 1;
    const driver *cand[3];
    int64_t bound[3];
    size_t k = 0;
    if (q->overdue || q->deadline_before > 0) {
        cand[k] = q->overdue ? &by_overdue : &by_deadline;
        bound[k++] = *dmax;
    }
    if (q->task_open) {
        cand[k] = &by_task;
        bound[k++] = 0;
    }
    if (q->updated_since > 0) {
        cand[k] = &by_update;
        bound[k++] = q->updated_since;
    }
    if (!use_drivers)
        k = 0;
    int64_t best = INT64_MAX, n;
    for (size_t i = 0; i < k; i++) {
        int rc = probe(e, cand[i]->probe, NULL, bound[i], cand[i]->most, &n, err);
        if (rc)
            return rc;
        if (n <= cand[i]->most && n * cand[i]->ns < best) {
            best = n * cand[i]->ns;
            *out = cand[i];
        }
    }
    if (!*out || !q->state)
        return 0;
    int64_t per = ROW_NS + (q->overdue ? by_overdue.ns : 0) + (q->task_open ? by_task.ns : 0);
    int rc = probe(e, state_probe, q->state, 0, best / per, &n, err);
    if (!rc && n <= best / per)
        *out = NULL;
    return rc;
}

static int parse_cursor(const char *after, int64_t *seq, cf_error *err)
{
    *seq = 0;
    if (!after || !*after)
        return 0;
    char *end;
    long long v = strtoll(after, &end, 10);
    if (*end || v < 0 || after[0] == '+' || after[0] == '-' || after[0] == ' ' ||
        strlen(after) > 19)
        return cf_err_set(err, CF_EINVALID, "after", "after must be the `next` cursor of a page");
    *seq = v;
    return 0;
}

static json_t *time_or_null(int64_t t, bool present)
{
    if (!present)
        return json_null();
    char when[32];
    cf_time_format(t, when);
    return json_string(when);
}

/* Append a then b to the text of length *len in buf (cap bytes); false
 * when it does not fit. */
static bool append(char *buf, size_t cap, size_t *len, const char *a, const char *b)
{
    int k = snprintf(buf + *len, cap - *len, "%s%s", a, b);
    if (k < 0 || (size_t)k >= cap - *len)
        return false;
    *len += (size_t)k;
    return true;
}

/* The page's statement for q into sql (cap bytes): its cases from the
 * candidates of drv, or (drv NULL) in seq order from the cursor; false when
 * it does not fit. */
static bool query_sql(const cf_case_query *q, const driver *drv, bool pg, char *sql, size_t cap)
{
    size_t n = 0;
    bool ok = append(sql, cap, &n,
                     pg ? "SELECT c.seq, c.id, c.state, c.workflow, c.version, "
                          PG_SQLITE_TEXT(PG_GRADE_JSON("c", ":gpaths")) ","
                          " c.deadline_at, c.revision, c.created_at, c.updated_at,"
                          " (SELECT count(*) " OPEN_TASK_SQL "), " PG_OVERDUE_SQL
                          " FROM cases c WHERE "
                        : "SELECT c.seq, c.id, c.state, c.workflow, c.version, " GRADE_SQL ","
                          " c.deadline_at, c.revision, c.created_at, c.updated_at,"
                          " (SELECT count(*) " OPEN_TASK_SQL "), " OVERDUE_SQL
                          " FROM cases c WHERE ",
                     "");
    if (drv)
        ok = ok &&
             append(sql, cap, &n, "c.seq IN (", pg && drv->pg_seqs ? drv->pg_seqs : drv->seqs) &&
             append(sql, cap, &n, ") AND +c.seq > :after", "");
    else
        ok = ok && append(sql, cap, &n, "c.seq > :after", "");
    /* Filters on the columns before the case data first: the others are
     * read from overflow pages when the data is large. */
#define AND(cond, text) \
    ok = ok && (!(cond) || append(sql, cap, &n, " AND ", text))
    AND(q->state, "c.state = :state");
    AND(q->workflow, "c.workflow = :workflow");
    AND(q->version > 0, "c.version = :version");
    AND(true, "c.disposed_at IS NULL");
    AND(q->grade, pg ? PG_JSON_TEXT(PG_GRADE_JSON("c", ":gpaths")) " = :grade"
                     : GRADE_SQL " = :grade");
    AND(q->deadline_before > 0, "+c.deadline_at < :before");
    AND(q->updated_since > 0, "+c.updated_at >= :since");
    AND(q->task_open, "EXISTS (SELECT 1 " OPEN_TASK_SQL ")");
    AND(q->overdue, pg ? PG_OVERDUE_WHERE : OVERDUE_WHERE);
#undef AND
    return ok && append(sql, cap, &n, " ORDER BY c.seq LIMIT :limit", "");
}

int cf_case_query_run(cf_engine *e, const cf_case_query *q, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    static const cf_case_query none = {0};
    if (!q)
        q = &none;
    if (q->reserved[0] || q->reserved[1] || q->reserved[2] || q->reserved[3])
        return cf_err_set(err, CF_EUSAGE, "reserved", "reserved query fields must be zero");
    if (q->limit > PAGE_MAX)
        return cf_err_set(err, CF_EINVALID, "limit", "limit must be 1-%d", PAGE_MAX);
    if (q->version < 0)
        return cf_err_set(err, CF_EINVALID, "version", "version must be 1 or more");
    int64_t after;
    int rc = parse_cursor(q->after, &after, err);
    if (rc || (rc = cf_engine_require(e, NULL, 0, NULL, NULL, err)) ||
        (rc = cf_engine_require_reason(e, err)))
        return rc;
    char *resp = NULL, *gpaths = NULL;
    if ((rc = cf_engine_response_states(e, &resp, &gpaths, err)))
        return rc;
    const driver *drv;
    int64_t dmax;
    if ((rc = pick_driver(e, q, &dmax, &drv, err))) {
        free(resp);
        free(gpaths);
        return rc;
    }
    char sql[8192];
    if (!query_sql(q, drv, cf_store_is_pg(e->store), sql, sizeof sql)) {
        free(resp);
        free(gpaths);
        return cf_err_set(err, CF_EINTERNAL, NULL, "case query too long");
    }
    cf_stmt *st;
    int prc = cf_store_prepare(e->store, sql, &st);
    if (prc != CF_DB_OK) {
        free(resp);
        free(gpaths);
        return cf_store_error(e->store, prc, "query cases", err);
    }
#define BIND_TEXT(name, v) \
    if (v)                 \
        cf_stmt_bind_text(st, cf_stmt_param_index(st, name), v)
#define BIND_INT(name, v) cf_stmt_bind_int64(st, cf_stmt_param_index(st, name), v)
    BIND_TEXT(":gpaths", gpaths);
    BIND_TEXT(":resp", resp);
    BIND_TEXT(":state", q->state);
    BIND_TEXT(":workflow", q->workflow);
    BIND_TEXT(":grade", q->grade);
    BIND_INT(":now", cf_engine_now(e));
    BIND_INT(":after", after);
    BIND_INT(":version", q->version);
    BIND_INT(":before", q->deadline_before);
    BIND_INT(":dmax", dmax);
    BIND_INT(":since", q->updated_since);
    size_t limit = q->limit ? q->limit : PAGE;
    BIND_INT(":limit", (int64_t)limit + 1); /* one more tells whether a next page exists */
#undef BIND_TEXT
#undef BIND_INT
    json_t *items = json_array();
    int64_t last = after;
    bool more = false;
    while ((prc = cf_stmt_step(st)) == CF_DB_ROW) {
        if (json_array_size(items) == limit) {
            more = true;
            break;
        }
        last = cf_stmt_int64(st, 0);
        const char *grade = cf_stmt_text(st, 5);
        json_t *it = json_pack(
            "{s:s, s:s, s:{s:s, s:I}, s:s?, s:o, s:b, s:I, s:I, s:o, s:o}", "id",
            cf_stmt_text(st, 1), "state",
            cf_stmt_text(st, 2), "workflow", "name",
            cf_stmt_text(st, 3), "version",
            (json_int_t)cf_stmt_int64(st, 4), "grade", grade, "deadline_at",
            time_or_null(cf_stmt_int64(st, 6), cf_stmt_type(st, 6) != CF_DB_NULL),
            "overdue", (int)cf_stmt_int64(st, 11), "open_tasks",
            (json_int_t)cf_stmt_int64(st, 10), "revision",
            (json_int_t)cf_stmt_int64(st, 7), "created_at",
            time_or_null(cf_stmt_int64(st, 8), true), "updated_at",
            time_or_null(cf_stmt_int64(st, 9), true));
        if (!it || json_array_append_new(items, it)) {
            prc = CF_DB_NOMEM;
            break;
        }
    }
    if (prc == CF_DB_ROW)
        prc = CF_DB_DONE;
    cf_stmt_finalize(st);
    free(resp);
    free(gpaths);
    if (prc != CF_DB_DONE) {
        json_decref(items);
        return cf_store_error(e->store, prc, "query cases", err);
    }
    char next[24];
    snprintf(next, sizeof next, "%lld", (long long)last);
    if ((rc = cf_engine_consult_many(e, "list", items, "id", err))) {
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o, s:s?}", "items", items, "next", more ? next : NULL);
    if (*out && !more)
        json_object_set_new(*out, "next", json_null());
    return *out ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}
