/*
 * Tasks: what a case asks of a role (a MASH referral when children are at
 * risk, a supervisor's review). Listing them is a read of case data;
 * claiming and completing are changes to the case, made by a user holding
 * the task's role or a supervisor, recorded in its history and the chain
 * (machine.c, cf_machine_task).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

#define PAGE 100
#define PAGE_MAX 1000

static json_t *json_text_or_null(cf_stmt *st, int col)
{
    const char *t = cf_stmt_text(st, col);
    json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *time_or_null(cf_stmt *st, int col)
{
    if (cf_stmt_type(st, col) == CF_DB_NULL)
        return json_null();
    char when[32];
    cf_time_format(cf_stmt_int64(st, col), when);
    return json_string(when);
}

#define TASK_COLUMNS                                                                    \
    "SELECT seq, case_id, kind, role, CASE status WHEN 'done' THEN 'done' ELSE"         \
    " CASE WHEN assignee IS NULL THEN 'open' ELSE 'claimed' END END, assignee, detail," \
    " result, created_at, closed_at FROM tasks"

static json_t *task_of(cf_stmt *st)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)cf_stmt_int64(st, 0), "case",
                     cf_stmt_text(st, 1), "kind",
                     cf_stmt_text(st, 2), "role",
                     cf_stmt_text(st, 3), "status",
                     cf_stmt_text(st, 4), "assignee",
                     cf_stmt_text(st, 5), "detail",
                     json_text_or_null(st, 6), "result", json_text_or_null(st, 7),
                     "created_at", time_or_null(st, 8), "closed_at", time_or_null(st, 9));
}

int cf_task_list(cf_engine *e, const cf_task_query *q, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    static const cf_task_query none = {0};
    if (!q)
        q = &none;
    if (q->reserved[0] || q->reserved[1] || q->reserved[2] || q->reserved[3])
        return cf_err_set(err, CF_EUSAGE, "reserved", "reserved query fields must be zero");
    if (q->status && strcmp(q->status, "open") && strcmp(q->status, "done"))
        return cf_err_set(err, CF_EINVALID, "status", "status must be open or done");
    if (q->limit > PAGE_MAX)
        return cf_err_set(err, CF_EINVALID, "limit", "limit must be 1-%d", PAGE_MAX);
    if (q->after < 0)
        return cf_err_set(err, CF_EINVALID, "after", "after must be a task id");
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    char sql[768];
    int n = snprintf(sql, sizeof sql, TASK_COLUMNS " WHERE seq > :after");
#define AND(cond, text) \
    if (cond)           \
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND %s", text)
    AND(q->status && strcmp(q->status, "open") == 0, "status <> 'done'");
    AND(q->status && strcmp(q->status, "done") == 0, "status = 'done'");
    AND(q->kind, "kind = :kind");
    AND(q->case_id, "case_id = :case");
    AND(q->assignee, "assignee = :assignee");
#undef AND
    snprintf(sql + n, sizeof sql - (size_t)n, " ORDER BY seq LIMIT :limit");
    cf_stmt *st;
    int prc = cf_store_prepare(e->store, sql, &st);
    if (prc != CF_DB_OK)
        return cf_store_error(e->store, prc, "list tasks", err);
#define BIND_TEXT(name, v) \
    if (v)                 \
        cf_stmt_bind_text(st, cf_stmt_param_index(st, name), v)
    BIND_TEXT(":kind", q->kind);
    BIND_TEXT(":case", q->case_id);
    BIND_TEXT(":assignee", q->assignee);
#undef BIND_TEXT
    size_t limit = q->limit ? q->limit : PAGE;
    cf_stmt_bind_int64(st, cf_stmt_param_index(st, ":after"), q->after);
    cf_stmt_bind_int64(st, cf_stmt_param_index(st, ":limit"), (int64_t)limit + 1);
    json_t *items = json_array();
    int64_t last = q->after;
    bool more = false;
    while ((prc = cf_stmt_step(st)) == CF_DB_ROW) {
        if (json_array_size(items) == limit) {
            more = true;
            break;
        }
        last = cf_stmt_int64(st, 0);
        json_t *t = task_of(st);
        if (!t || json_array_append_new(items, t)) {
            prc = CF_DB_NOMEM;
            break;
        }
    }
    if (prc == CF_DB_ROW)
        prc = CF_DB_DONE;
    cf_stmt_finalize(st);
    if (prc != CF_DB_DONE) {
        json_decref(items);
        return cf_store_error(e->store, prc, "list tasks", err);
    }
    if ((rc = cf_engine_consult_many(e, "tasks", items, "case", err))) {
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o, s:o}", "items", items, "next",
                     more ? json_integer(last) : json_null());
    return *out ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

/* The task's case and role (new malloc'd), or CF_ENOTFOUND. */
static int task_owner(cf_engine *e, int64_t id, char **case_id, char **role, cf_error *err)
{
    *case_id = *role = NULL;
    cf_stmt *st = cf_store_stmt(e->store, "SELECT case_id, role FROM tasks WHERE seq=?",
                                     err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, id);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        *case_id = strdup(cf_stmt_text(st, 0));
        *role = strdup(cf_stmt_text(st, 1));
    }
    cf_stmt_reset(st);
    if (rc == CF_DB_DONE)
        return cf_err_set(err, CF_ENOTFOUND, "task", "no task %lld", (long long)id);
    if (rc != CF_DB_ROW)
        return cf_store_error(e->store, rc, "read task", err);
    return *case_id && *role ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

static int task_get(cf_engine *e, int64_t id, json_t **out, cf_error *err)
{
    cf_stmt *st = cf_store_stmt(e->store, TASK_COLUMNS " WHERE seq=?", err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, id);
    int rc = cf_stmt_step(st);
    *out = rc == CF_DB_ROW ? task_of(st) : NULL;
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW)
        return cf_store_error(e->store, rc, "read task", err);
    return *out ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

static int task_change(cf_engine *e, int64_t id, const char *status, const json_t *result,
                       json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    if (id <= 0)
        return cf_err_set(err, CF_EINVALID, "task", "a task id is a whole number from 1");
    if (result && !json_is_object(result))
        return cf_err_set(err, CF_EINVALID, "result", "a task's result must be a JSON object");
    char *case_id, *role;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = task_owner(e, id, &case_id, &role, err)))
        return rc;
    const char *may[] = {role, "supervisor"};
    char what[96];
    snprintf(what, sizeof what, "%s a task for the %s role",
             strcmp(status, "done") == 0 ? "complete" : "claim", role);
    const char *used;
    if (!(rc = cf_engine_require(e, may, 2, what, &used, err)))
        rc = cf_machine_task(e, case_id, id, status, result, used, NULL, err);
    free(case_id);
    free(role);
    if (!rc && out)
        rc = task_get(e, id, out, err);
    return rc;
}

int cf_task_claim(cf_engine *e, int64_t task_id, json_t **out, cf_error *err)
{
    return task_change(e, task_id, "claimed", NULL, out, err);
}

int cf_task_complete(cf_engine *e, int64_t task_id, const json_t *result, json_t **out,
                     cf_error *err)
{
    return task_change(e, task_id, "done", result, out, err);
}
