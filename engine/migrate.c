/*
 * Moving open cases to another version of their workflow (workflow
 * migrate). A plan is made per case first: its state mapped (the same name,
 * or --map OLD=NEW), the timers of its new state recomputed under the new
 * version's settings from the time the case entered its state, its response
 * deadline moved with the new version's deadline_days, its tasks kept. A
 * dry run prints the plan and writes only its consultation record. Applying
 * it moves each case in its own transaction (cf_machine_migrate): a
 * workflow.migrated history event, audited as "workflow.migrate" (an
 * administrator's record). No guard, step or timer of either version runs,
 * so a case stuck on a broken version can be moved to a fixed one.
 *
 * Four eyes (store policy migrate_four_eyes=true): the first administrator
 * records a request (audit record "workflow.migrate.request", its payload
 * kept: the request id is its seq); a different administrator approves it
 * ("workflow.migrate.approve", subject "migration:ID": a request is
 * approved at most once), which runs it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integrity.h"
#include "machine.h"

static const char *const admin[] = {"administrator"};

#define DAY 86400

/* ---- small helpers -------------------------------------------------------------- */

static json_t *time_json(int64_t t)
{
    char buf[32];
    if (!t)
        return json_null();
    cf_time_format(t, buf);
    return json_string(buf);
}

/* NEW for OLD in map ({old: new}), else OLD itself (borrowed). */
static const char *mapped(const json_t *map, const char *state, bool *was_mapped)
{
    const char *to = json_string_value(json_object_get(map, state));
    *was_mapped = to != NULL;
    return to ? to : state;
}

/* The grade at the workflow's config.report.grade path (default risk.grade). */
static const char *grade_of_row(const cf_wf *wf, const cf_case_row *r)
{
    const json_t *rep = json_object_get(wf->config, "report");
    const char *path = json_string_value(json_object_get(rep, "grade"));
    return json_string_value(cf_json_path_get(r->data, path ? path : "risk.grade"));
}

static int64_t days_of(const cf_wf *wf, const char *grade)
{
    json_t *d = json_object_get(json_object_get(wf->config, "deadline_days"), grade);
    return json_is_number(d) ? (int64_t)(json_number_value(d) * DAY) : -1;
}

/* When the case entered the state it is in: its newest history event into
 * that state from another (a migration's rename followed back to the old
 * name); the case's creation when none is found. */
static int entered_at(cf_store *s, const cf_case_row *r, int64_t *at, cf_error *err)
{
    static const char sql[] = "SELECT at, event, from_state, to_state FROM events"
                              " WHERE case_id=? ORDER BY seq DESC";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, r->id);
    char name[128];
    snprintf(name, sizeof name, "%s", r->state);
    *at = r->created_at;
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *ev = cf_stmt_text(st, 1);
        const char *from = cf_stmt_text(st, 2);
        const char *to = cf_stmt_text(st, 3);
        if (!to || strcmp(to, name) != 0)
            continue;
        if (ev && strcmp(ev, "workflow.migrated") == 0 && from) {
            snprintf(name, sizeof name, "%s", from);
            continue;
        }
        if (!from || strcmp(from, to) != 0) {
            *at = cf_stmt_int64(st, 0);
            break;
        }
    }
    cf_stmt_reset(st);
    return rc == CF_DB_ROW || rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "read history", err);
}

/* Is there a history event of the case at time t (the deadline was set
 * then)? */
static int event_at(cf_store *s, const char *id, int64_t t, bool *yes, cf_error *err)
{
    static const char sql[] = "SELECT 1 FROM events WHERE case_id=? AND at=? LIMIT 1";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, id);
    cf_stmt_bind_int64(st, 2, t);
    int rc = cf_stmt_step(st);
    *yes = rc == CF_DB_ROW;
    cf_stmt_reset(st);
    return rc == CF_DB_ROW || rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "read history", err);
}

static int open_tasks(cf_store *s, const char *id, json_t **out, cf_error *err)
{
    static const char sql[] = "SELECT seq, kind, role FROM tasks WHERE case_id=?"
                              " AND status<>'done' ORDER BY seq";
    *out = NULL;
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, id);
    *out = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(*out, json_pack("{s:I, s:s?, s:s?}", "id",
                                              (json_int_t)cf_stmt_int64(st, 0), "kind",
                                              cf_stmt_text(st, 1), "role",
                                              cf_stmt_text(st, 2)));
    cf_stmt_reset(st);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "read tasks", err);
}

/* ---- the plan of one case --------------------------------------------------------- */

typedef struct req {
    const char *name;
    int64_t to, from;
    json_t *map;   /* {old: new} */
    cf_wf *target;
} req;

/* Set status and why on plan p; returns 0. */
static int verdict(json_t *p, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int verdict(json_t *p, const char *status, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    json_object_set_new(p, "status", json_string(status));
    json_object_set_new(p, "why", json_string(why));
    return 0;
}

/*
 * The plan of case r: {id, revision, from: {version, state}, to: {version,
 * state, mapped}, entered_at, timers: [{event, was, now, due_at?}],
 * deadline: {was, now}, tasks, status: "planned" | "skipped" | "refused",
 * why?}. A case named on the command that is closed, disposed or on another
 * workflow refuses the whole command (named: true).
 */
static int plan_case(cf_engine *e, const req *q, const cf_case_row *r, bool named, json_t **out,
                     cf_error *err)
{
    json_t *p = json_pack("{s:s, s:I, s:{s:I, s:s}}", "id", r->id, "revision",
                          (json_int_t)r->revision, "from", "version", (json_int_t)r->version,
                          "state", r->state);
    if (!p)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    *out = p;
    if (strcmp(r->workflow, q->name) != 0)
        return cf_err_set(err, CF_EINVALID, "cases", "case %s runs workflow %s, not %s", r->id,
                          r->workflow, q->name);
    if (r->disposed_at)
        return cf_err_set(err, CF_EINVALID, "cases",
                          "case %s was disposed of: only open cases are migrated", r->id);
    cf_wf *old;
    int rc = cf_engine_workflow(e, r->workflow, r->version, &old, err);
    if (rc)
        return rc;
    const cf_wf_state *os = cf_wf_find_state(old, r->state);
    if ((os && os->final) || r->review_at) {
        if (named)
            return cf_err_set(err, CF_EINVALID, "cases",
                              "case %s is closed: only open cases are migrated", r->id);
        return verdict(p, "skipped", "closed");
    }
    if (r->version == q->to)
        return verdict(p, "skipped", "already on version %lld", (long long)q->to);
    if (q->from && r->version != q->from)
        return verdict(p, "skipped", "on version %lld, not %lld (--from)",
                       (long long)r->version, (long long)q->from);
    bool by_map;
    const char *target = mapped(q->map, r->state, &by_map);
    const cf_wf_state *ts = cf_wf_find_state(q->target, target);
    json_object_set_new(p, "to", json_pack("{s:I, s:s, s:b}", "version", (json_int_t)q->to,
                                           "state", target, "mapped", by_map));
    if (!ts)
        return verdict(p, "refused",
                       "state %s: version %lld has no such state (give --map %s=STATE)",
                       r->state, (long long)q->to, r->state);
    if (ts->final)
        return verdict(p, "refused",
                       "state %s is final in version %lld: a migration closes no case",
                       target, (long long)q->to);
    const char *grade = grade_of_row(old, r);
    json_t *dd = json_object_get(q->target->config, "deadline_days");
    if (grade && json_is_object(dd) && !json_object_get(dd, grade))
        return verdict(p, "refused", "grade %s: version %lld's deadline_days has no such grade",
                       grade, (long long)q->to);
    int64_t entered = 0;
    if ((rc = entered_at(e->store, r, &entered, err)))
        return rc;
    json_object_set_new(p, "entered_at", time_json(entered));
    /* Timers: the new state's own timer from the time the case entered its
     * state; others the case holds are kept if the new state takes them. */
    json_t *timers, *plan_timers = json_array();
    if ((rc = cf_store_timer_list(e->store, r->id, &timers, err))) {
        json_decref(plan_timers);
        return rc;
    }
    json_object_set_new(p, "timers", plan_timers);
    bool own_set = false;
    size_t i;
    json_t *t;
    json_array_foreach(timers, i, t)
    {
        const char *ev = json_string_value(json_object_get(t, "event"));
        json_t *was = json_object_get(t, "due_at");
        if (!ev)
            continue;
        if (ts->timer_secs > 0 && ts->timer_event && strcmp(ev, ts->timer_event) == 0) {
            own_set = true;
            json_array_append_new(plan_timers,
                                  json_pack("{s:s, s:O, s:o, s:I}", "event", ev, "was", was,
                                            "now", time_json(entered + ts->timer_secs),
                                            "due_at", (json_int_t)(entered + ts->timer_secs)));
        } else if ((!os || !os->timer_event || strcmp(ev, os->timer_event) != 0) &&
                   cf_wf_find_transition(ts, ev)) {
            int64_t due = 0;
            cf_time_parse(json_string_value(was), &due, NULL);
            json_array_append_new(plan_timers, json_pack("{s:s, s:O, s:O, s:I}", "event", ev,
                                                         "was", was, "now", was, "due_at",
                                                         (json_int_t)due));
        } else {
            json_array_append_new(plan_timers, json_pack("{s:s, s:O, s:n}", "event", ev,
                                                         "was", was, "now"));
        }
    }
    json_decref(timers);
    if (!own_set && ts->timer_secs > 0 && ts->timer_event)
        json_array_append_new(plan_timers,
                              json_pack("{s:s, s:n, s:o, s:I}", "event", ts->timer_event,
                                        "was", "now", time_json(entered + ts->timer_secs),
                                        "due_at", (json_int_t)(entered + ts->timer_secs)));
    /* The response deadline: the new state's own, from its entry; or one
     * set by grading (an event at deadline - old days) moved to the new
     * version's days for the grade; else as it is. */
    int64_t deadline = r->deadline_at;
    if (ts->deadline_secs > 0) {
        deadline = entered + ts->deadline_secs;
    } else if (deadline && grade) {
        int64_t od = days_of(old, grade), nd = days_of(q->target, grade);
        bool graded = false;
        if (od >= 0 && nd >= 0 && (rc = event_at(e->store, r->id, deadline - od, &graded, err)))
            return rc;
        if (graded)
            deadline = deadline - od + nd;
    }
    json_object_set_new(p, "deadline", json_pack("{s:o, s:o}", "was", time_json(r->deadline_at),
                                                 "now", time_json(deadline)));
    json_object_set_new(p, "deadline_at", json_integer(deadline));
    json_t *tasks = NULL;
    if ((rc = open_tasks(e->store, r->id, &tasks, err)))
        return rc;
    json_object_set_new(p, "tasks", tasks);
    json_object_set_new(p, "status", json_string("planned"));
    return 0;
}

/* ---- selecting cases ------------------------------------------------------------------ */

static int all_cases(cf_store *s, const char *name, json_t **ids, cf_error *err)
{
    static const char sql[] = "SELECT id FROM cases WHERE workflow=? AND disposed_at IS NULL"
                              " ORDER BY seq";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, name);
    *ids = json_array();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_array_append_new(*ids, json_string(cf_stmt_text(st, 0)));
    cf_stmt_reset(st);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "read cases", err);
}

/* Plans for every selected case (ids: array of strings, or NULL for all). */
static int make_plans(cf_engine *e, const req *q, const json_t *ids, json_t **plans,
                      cf_error *err)
{
    json_t *own = NULL;
    int rc = 0;
    if (!ids && (rc = all_cases(e->store, q->name, &own, err)))
        return rc;
    *plans = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids ? ids : own, i, v)
    {
        const char *id = json_string_value(v);
        cf_case_row r;
        memset(&r, 0, sizeof r);
        if ((rc = cf_store_case_get(e->store, id, &r, err))) {
            if (rc == CF_ENOTFOUND)
                rc = cf_err_set(err, CF_ENOTFOUND, "cases", "no case %s", id);
            break;
        }
        /* A plan is made from rows the chain holds, not from an edit. */
        char found[65], recorded[65];
        if ((rc = cf_integrity_check_case(e->store, id, found, recorded, err))) {
            if (rc == CF_EINVALID)
                cf_engine_note_altered(e, "case", id, found, recorded);
            cf_case_row_clear(&r);
            break;
        }
        json_t *p = NULL;
        rc = plan_case(e, q, &r, ids != NULL, &p, err);
        cf_case_row_clear(&r);
        if (rc) {
            json_decref(p);
            break;
        }
        json_array_append_new(*plans, p);
    }
    json_decref(own);
    if (rc) {
        json_decref(*plans);
        *plans = NULL;
    }
    return rc;
}

/* ---- the request ------------------------------------------------------------------------- */

static int need_reason(cf_engine *e, cf_error *err)
{
    if (e->reason && *e->reason)
        return 0;
    return cf_err_set(err, CF_EUSAGE, "reason",
                      "workflow migrate needs a reason: give --reason TEXT");
}

/* q from the options: the target loaded, the map checked against it. */
static int make_req(cf_engine *e, const char *name, int64_t to, int64_t from,
                    const json_t *map_list, req *q, cf_error *err)
{
    memset(q, 0, sizeof *q);
    q->name = name;
    q->to = to;
    q->from = from;
    if (!name || !*name)
        return cf_err_set(err, CF_EUSAGE, "name", "workflow migrate needs a workflow NAME");
    if (to <= 0)
        return cf_err_set(err, CF_EUSAGE, "to", "workflow migrate needs --to VERSION");
    int rc = cf_engine_workflow(e, name, to, &q->target, err);
    if (rc == CF_EMISSING || rc == CF_ENOTFOUND)
        return cf_err_set(err, CF_EMISSING, "to", "workflow %s has no version %lld", name,
                          (long long)to);
    if (rc)
        return rc;
    cf_wf *f;
    if (from > 0 && (rc = cf_engine_workflow(e, name, from, &f, err)))
        return rc == CF_EMISSING || rc == CF_ENOTFOUND
                   ? cf_err_set(err, CF_EMISSING, "from", "workflow %s has no version %lld",
                                name, (long long)from)
                   : rc;
    if (!(q->map = json_object()))
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(map_list, i, v)
    {
        const char *m = json_string_value(v), *eq = m ? strchr(m, '=') : NULL;
        if (!eq || eq == m || !eq[1] || strlen(m) > 200)
            return cf_err_set(err, CF_EUSAGE, "map", "--map %s: give OLD=NEW", m ? m : "");
        char old[201];
        snprintf(old, sizeof old, "%.*s", (int)(eq - m), m);
        if (!cf_wf_find_state(q->target, eq + 1))
            return cf_err_set(err, CF_EINVALID, "map",
                              "--map %s: version %lld of %s has no state %s", m,
                              (long long)to, name, eq + 1);
        if (json_object_get(q->map, old))
            return cf_err_set(err, CF_EUSAGE, "map", "--map: %s mapped twice", old);
        json_object_set_new(q->map, old, json_string(eq + 1));
    }
    return 0;
}

/* Record a pending request (its payload kept); *id its seq. */
static int record_request(cf_engine *e, const char *role, const json_t *payload, int64_t *id,
                          cf_error *err)
{
    int rc = cf_engine_begin(e, err);
    if (rc)
        return rc;
    rc = cf_engine_audit_text(e, role, "workflow.migrate.request", NULL,
                              cf_json_canonical(payload), id, err);
    return cf_engine_finish(e, rc, err);
}

/* The request with id seq, pending and not the approver's own: *payload new. */
static int load_request(cf_engine *e, int64_t seq, json_t **payload, cf_error *err)
{
    char digest[65], action[96];
    *payload = NULL;
    int rc = cf_audit_record(e->store, seq, digest, action, err);
    if (rc == CF_ENOTFOUND || (!rc && strcmp(action, "workflow.migrate.request") != 0))
        return cf_err_set(err, CF_ENOTFOUND, "approve", "no migration request %lld",
                          (long long)seq);
    if (rc)
        return rc;
    static const char sql[] = "SELECT payload FROM records WHERE seq=?";
    cf_stmt *st = cf_store_stmt(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, seq);
    char *text = NULL;
    if (cf_stmt_step(st) == CF_DB_ROW && cf_stmt_text(st, 0))
        text = strdup(cf_stmt_text(st, 0));
    cf_stmt_reset(st);
    char h[65] = "";
    if (text)
        cf_sha256_hex(text, strlen(text), h);
    if (!text || strcmp(h, digest) != 0) {
        free(text);
        cf_engine_note_altered(e, "record", "migration request", h, digest);
        return cf_err_set(err, CF_EINVALID, "approve",
                          "migration request %lld was altered outside caseflow", (long long)seq);
    }
    *payload = json_loads(text, 0, NULL);
    free(text);
    char subject[48];
    snprintf(subject, sizeof subject, "migration:%lld", (long long)seq);
    int64_t done = 0;
    if ((rc = cf_store_record_latest(e->store, subject, &done, err)))
        return rc;
    if (done)
        rc = cf_err_set(err, CF_ECONFLICT, "approve",
                        "migration request %lld was approved already (record %lld)",
                        (long long)seq, (long long)done);
    else if (json_string_value(json_object_get(*payload, "requested_by")) &&
             strcmp(json_string_value(json_object_get(*payload, "requested_by")), e->actor) == 0)
        rc = cf_err_set(err, CF_EDENIED, "four_eyes",
                        "four-eyes rule: migration request %lld needs another administrator's "
                        "approval",
                        (long long)seq);
    if (rc) {
        json_decref(*payload);
        *payload = NULL;
    }
    return rc;
}

/* ---- running it ------------------------------------------------------------------------------ */

static json_t *map_list_of(const cf_migrate_options *o)
{
    json_t *a = json_array();
    for (size_t i = 0; i < o->nmap; i++)
        json_array_append_new(a, json_string(o->map[i] ? o->map[i] : ""));
    return a;
}

static json_t *ids_of(const cf_migrate_options *o)
{
    if (o->all)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < o->ncases; i++)
        json_array_append_new(a, json_string(o->cases[i] ? o->cases[i] : ""));
    return a;
}

static void count(json_t *counts, const char *status)
{
    json_int_t n = json_integer_value(json_object_get(counts, status));
    json_object_set_new(counts, status, json_integer(n + 1));
}

/* Move every planned case; count what happened into the result. */
static int apply(cf_engine *e, const req *q, const char *role, json_t *plans, const json_t *data,
                 json_t *counts, cf_error *err)
{
    int first = 0;
    size_t i;
    json_t *p;
    int64_t total = 0, done = 0;
    json_array_foreach(plans, i, p)
        total += strcmp(json_string_value(json_object_get(p, "status")), "planned") == 0;
    cf_engine_progress(e, "workflow migrate", 0, total);
    json_array_foreach(plans, i, p)
    {
        const char *status = json_string_value(json_object_get(p, "status"));
        if (strcmp(status, "planned") != 0) {
            count(counts, status);
            continue;
        }
        json_t *set = json_array();
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(p, "timers"), k, t)
        {
            if (json_is_integer(json_object_get(t, "due_at")))
                json_array_append_new(set, json_pack("{s:O, s:O}", "event",
                                                     json_object_get(t, "event"), "due_at",
                                                     json_object_get(t, "due_at")));
        }
        json_t *from = json_object_get(p, "from");
        json_t *hist = json_deep_copy(data);
        json_object_set(hist, "from_version", json_object_get(from, "version"));
        json_object_set(hist, "from_state", json_object_get(from, "state"));
        cf_migration m = {
            .revision = json_integer_value(json_object_get(p, "revision")),
            .to = q->target,
            .state = json_string_value(json_object_get(json_object_get(p, "to"), "state")),
            .deadline_at = json_integer_value(json_object_get(p, "deadline_at")),
            .timers = set, .data = hist, .role = role};
        cf_error cerr;
        cf_err_clear(&cerr);
        int rc = cf_machine_migrate(e, json_string_value(json_object_get(p, "id")), &m, NULL,
                                    &cerr);
        json_decref(set);
        json_decref(hist);
        if (rc) {
            json_object_set_new(p, "status", json_string("failed"));
            json_object_set_new(p, "why", json_string(cerr.message));
            if (!first) {
                first = rc;
                if (err)
                    *err = cerr;
            }
        } else {
            json_object_set_new(p, "status", json_string("migrated"));
        }
        count(counts, json_string_value(json_object_get(p, "status")));
        cf_engine_progress(e, "workflow migrate", ++done, total);
    }
    return first;
}

int cf_workflow_migrate(cf_engine *e, const cf_migrate_options *o, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "migrate cases", &role, err);
    if (rc || (rc = need_reason(e, err)))
        return rc;
    if (!o)
        return cf_err_set(err, CF_EUSAGE, NULL, "workflow migrate: no options");
    const cf_policies *pol = cf_engine_policies(e, err);
    if (!pol)
        return err ? err->code : CF_EINVALID;
    json_t *request = NULL, *map_list, *ids;
    const char *name = o->name;
    int64_t to = o->to, from = o->from;
    bool all = o->all;
    if (o->approve > 0) {
        if ((rc = load_request(e, o->approve, &request, err)))
            return rc;
        name = json_string_value(json_object_get(request, "workflow"));
        to = json_integer_value(json_object_get(request, "to"));
        from = json_integer_value(json_object_get(request, "from"));
        map_list = json_incref(json_object_get(request, "map"));
        json_t *c = json_object_get(request, "cases");
        all = !json_is_array(c);
        ids = all ? NULL : json_incref(c);
    } else {
        if (!o->all == !o->ncases) {
            return cf_err_set(err, CF_EUSAGE, "cases",
                              "workflow migrate needs --cases ID... or --all (one of them)");
        }
        if (pol->migrate_four_eyes && !o->dry_run && !o->request)
            return cf_err_set(err, CF_EDENIED, "four_eyes",
                              "store policy migrate_four_eyes: record the migration with "
                              "--request; another administrator approves it with --approve ID");
        map_list = map_list_of(o);
        ids = ids_of(o);
    }
    req q;
    json_t *plans = NULL;
    rc = make_req(e, name, to, from, map_list, &q, err);
    if (!rc)
        rc = make_plans(e, &q, ids, &plans, err);
    json_t *result = NULL, *counts = json_object();
    if (!rc)
        result = json_pack("{s:s, s:I, s:I, s:b, s:O, s:O}", "workflow", name, "to",
                           (json_int_t)to, "from", (json_int_t)from, "dry_run", o->dry_run,
                           "map", q.map, "cases", plans);
    /* A case that cannot move stops a migration before anything moves: the
     * dry run tells which and why. */
    size_t i, refused = 0;
    json_t *p = NULL;
    json_array_foreach(plans, i, p)
        refused += strcmp(json_string_value(json_object_get(p, "status")), "refused") == 0;
    if (!rc && o->dry_run) {
        rc = cf_engine_consult_many(e, "workflow migrate --dry-run", plans, "id", err);
    } else if (!rc && refused) {
        json_array_foreach(plans, i, p)
            if (strcmp(json_string_value(json_object_get(p, "status")), "refused") == 0)
                break;
        rc = cf_err_set(err, CF_EINVALID, "map", "case %s cannot move: %s (%zu case%s cannot; "
                        "see --dry-run)",
                        json_string_value(json_object_get(p, "id")),
                        json_string_value(json_object_get(p, "why")), refused,
                        refused == 1 ? "" : "s");
    } else if (!rc && o->request && !o->approve) {
        int64_t id = 0;
        json_t *payload = json_pack("{s:s, s:I, s:I, s:O, s:O?, s:s, s:s}", "workflow", name,
                                    "to", (json_int_t)to, "from", (json_int_t)from, "map",
                                    map_list, "cases", ids, "reason", e->reason,
                                    "requested_by", e->actor);
        rc = payload ? record_request(e, role, payload, &id, err)
                     : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        json_decref(payload);
        if (!rc)
            json_object_set_new(result, "request", json_integer(id));
    } else if (!rc) {
        json_t *data = json_pack("{s:I, s:O, s:s}", "to_version", (json_int_t)to, "map", q.map,
                                 "reason",
                                 request ? json_string_value(json_object_get(request, "reason"))
                                         : e->reason);
        if (request) {
            json_object_set_new(data, "request", json_integer(o->approve));
            json_object_set(data, "requested_by", json_object_get(request, "requested_by"));
            json_t *ap = json_pack("{s:I, s:s}", "request", (json_int_t)o->approve,
                                   "approved_by", e->actor);
            if (!(rc = cf_engine_begin(e, err))) {
                rc = cf_engine_audit(e, role, "workflow.migrate.approve", NULL, ap, err);
                rc = cf_engine_finish(e, rc, err);
            }
            json_decref(ap);
            if (!rc)
                json_object_set_new(result, "approved", json_integer(o->approve));
        }
        if (!rc)
            rc = apply(e, &q, role, plans, data, counts, err);
        json_decref(data);
    }
    if (result)
        json_object_set(result, "counts", counts);
    json_decref(counts);
    json_decref(plans);
    json_decref(q.map);
    json_decref(map_list);
    json_decref(ids);
    json_decref(request);
    /* Some cases failed (each left as it was): the report goes with the
     * first failure's code. */
    if (rc && !json_object_get(json_object_get(result, "counts"), "failed")) {
        json_decref(result);
        result = NULL;
    }
    if (rc)
        cf_engine_flush_alarm(e); /* a row found altered while planning */
    *out = result;
    return rc;
}
