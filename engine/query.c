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

/* The report settings of workflow `name`'s latest version (borrowed from the
 * engine's cache), or NULL when it is not deployed. */
static const json_t *report_config(cf_engine *e, const char *name)
{
    int64_t version;
    cf_wf *wf;
    cf_error ignored;
    if (cf_store_workflow_latest(e->store, name, &version, NULL, &ignored) ||
        cf_engine_workflow(e, name, version, &wf, &ignored))
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

/* The response states of every deployed workflow's latest version (a JSON
 * array text, new malloc'd) and each one's grade path as SQLite JSON paths
 * ({workflow: "$.risk.grade"} text, new malloc'd; gpaths may be NULL). */
int cf_engine_response_states(cf_engine *e, char **states, char **gpaths, cf_error *err)
{
    json_t *list = NULL, *resp = json_array(), *paths = json_object();
    int rc = cf_store_workflow_list(e->store, &list, err);
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w)
    {
        const char *name = json_string_value(json_object_get(w, "name"));
        const json_t *rep = name ? report_config(e, name) : NULL;
        size_t k;
        json_t *s;
        json_array_foreach(json_object_get(rep, "response"), k, s) json_array_append(resp, s);
        const char *g = json_string_value(json_object_get(rep, "grade"));
        char path[128];
        if (!rc && name && (rc = data_path(g ? g : "risk.grade", path, err)) == 0)
            json_object_set_new(paths, name, json_string(path));
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
    "json_extract(c.data, coalesce(json_extract(:gpaths, '$.\"' || c.workflow || '\"'),"  \
    " '$.risk.grade'))"

/* Overdue: the deadline passed and no event entered a response state since
 * the deadline was set (its case.deadline_set event; before schema 3, ever). */
#define OVERDUE_SQL                                                                      \
    "(c.deadline_at IS NOT NULL AND c.deadline_at <= :now AND NOT EXISTS ("            \
    "SELECT 1 FROM events e WHERE e.case_id = c.id"                                     \
    " AND e.to_state IN (SELECT value FROM json_each(:resp))"                            \
    " AND e.at >= (SELECT coalesce(max(n.created_at), 0) FROM notifications n"           \
    "  WHERE n.case_id = c.id AND n.channel = 'case.deadline_set')))"

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
    char sql[2048];
    int n = snprintf(sql, sizeof sql,
                     "SELECT c.seq, c.id, c.state, c.workflow, c.version,"
                     " " GRADE_SQL ", c.deadline_at, c.revision, c.created_at,"
                     " c.updated_at, (SELECT count(*) FROM tasks t WHERE t.case_id = c.id"
                     " AND t.status <> 'done'), " OVERDUE_SQL
                     " FROM cases c WHERE c.seq > :after AND c.disposed_at IS NULL");
#define AND(cond, text) \
    if (cond)           \
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND %s", text)
    AND(q->state, "c.state = :state");
    AND(q->workflow, "c.workflow = :workflow");
    AND(q->version > 0, "c.version = :version");
    AND(q->grade, GRADE_SQL " = :grade");
    AND(q->overdue, OVERDUE_SQL);
    AND(q->deadline_before > 0, "c.deadline_at < :before");
    AND(q->updated_since > 0, "c.updated_at >= :since");
    AND(q->task_open, "EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = c.id AND t.status <> 'done')");
#undef AND
    snprintf(sql + n, sizeof sql - (size_t)n, " ORDER BY c.seq LIMIT :limit");
    sqlite3_stmt *st;
    int prc = sqlite3_prepare_v2(cf_store_db(e->store), sql, -1, &st, NULL);
    if (prc != SQLITE_OK) {
        free(resp);
        free(gpaths);
        return cf_store_error(e->store, prc, "query cases", err);
    }
#define BIND_TEXT(name, v) \
    if (v)                 \
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, name), v, -1, SQLITE_STATIC)
#define BIND_INT(name, v) sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, name), v)
    BIND_TEXT(":gpaths", gpaths);
    BIND_TEXT(":resp", resp);
    BIND_TEXT(":state", q->state);
    BIND_TEXT(":workflow", q->workflow);
    BIND_TEXT(":grade", q->grade);
    BIND_INT(":now", cf_engine_now(e));
    BIND_INT(":after", after);
    BIND_INT(":version", q->version);
    BIND_INT(":before", q->deadline_before);
    BIND_INT(":since", q->updated_since);
    size_t limit = q->limit ? q->limit : PAGE;
    BIND_INT(":limit", (int64_t)limit + 1); /* one more tells whether a next page exists */
#undef BIND_TEXT
#undef BIND_INT
    json_t *items = json_array();
    int64_t last = after;
    bool more = false;
    while ((prc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_size(items) == limit) {
            more = true;
            break;
        }
        last = sqlite3_column_int64(st, 0);
        const char *grade = (const char *)sqlite3_column_text(st, 5);
        json_t *it = json_pack(
            "{s:s, s:s, s:{s:s, s:I}, s:s?, s:o, s:b, s:I, s:I, s:o, s:o}", "id",
            (const char *)sqlite3_column_text(st, 1), "state",
            (const char *)sqlite3_column_text(st, 2), "workflow", "name",
            (const char *)sqlite3_column_text(st, 3), "version",
            (json_int_t)sqlite3_column_int64(st, 4), "grade", grade, "deadline_at",
            time_or_null(sqlite3_column_int64(st, 6), sqlite3_column_type(st, 6) != SQLITE_NULL),
            "overdue", sqlite3_column_int(st, 11), "open_tasks",
            (json_int_t)sqlite3_column_int64(st, 10), "revision",
            (json_int_t)sqlite3_column_int64(st, 7), "created_at",
            time_or_null(sqlite3_column_int64(st, 8), true), "updated_at",
            time_or_null(sqlite3_column_int64(st, 9), true));
        if (!it || json_array_append_new(items, it)) {
            prc = SQLITE_NOMEM;
            break;
        }
    }
    if (prc == SQLITE_ROW)
        prc = SQLITE_DONE;
    sqlite3_finalize(st);
    free(resp);
    free(gpaths);
    if (prc != SQLITE_DONE) {
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
