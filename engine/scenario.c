/*
 * Running a workflow test scenario (scenario_parse.c reads it): a fresh
 * store in memory with a test clock, the scenario's users, the workflow
 * deployed with the real plugins, then each step through the public API
 * exactly as the command would run it (refer, act, tick at the step's
 * time), and the expectations checked against what the engine reports.
 * The first expectation that does not hold ends the scenario with one
 * line naming the step and the field. Nothing here touches a store on
 * disk: everything, audit chain included, lives and dies in memory.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseflow/caseflow.h"
#include "scenario.h"

#define SC_REASON "workflow test scenario"

typedef struct sc_run {
    cf_engine *e;
    const json_t *sc;
    const char *file;
    json_t *cases;  /* case name -> id */
    json_t *fired;  /* events of the last tick */
    int64_t step;   /* the step running (0: the referral) */
    char line[700]; /* the failure, "" while all holds */
    char field[96];
} sc_run;

/* Record the scenario's failure (the first one only). Returns 1. */
static int failed(sc_run *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failed(sc_run *r, const char *field, const char *fmt, ...)
{
    if (r->line[0])
        return 1;
    int n = r->step > 0 ? snprintf(r->line, sizeof r->line, "step %lld: ", (long long)r->step)
                        : snprintf(r->line, sizeof r->line, "referral: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->line + n, sizeof r->line - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(r->field, sizeof r->field, "%s", field);
    return 1;
}

/* A JSON value as short text for a message: strings quoted '...'. */
static void show(const json_t *v, char *out, size_t size)
{
    if (v == NULL) {
        snprintf(out, size, "(none)");
    } else if (json_is_string(v)) {
        snprintf(out, size, "'%s'", json_string_value(v));
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        snprintf(out, size, "%s", s ? s : "?");
        free(s);
    }
}

static void show_time(int64_t t, char out[32])
{
    cf_time_format(t, out);
}

/* s, or dflt for NULL. */
static const char *str_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

/* ---- the store ------------------------------------------------------------ */

static int as_actor(sc_run *r, const char *who)
{
    return cf_engine_set_actor(r->e, who, SC_REASON);
}

static int open_store(sc_run *r, const cf_scenario_options *o, cf_error *err)
{
    cf_open_options oo;
    memset(&oo, 0, sizeof oo);
    oo.create = 1;
    oo.plugin_path = o ? o->plugin_path : NULL;
    int rc = cf_engine_open(":memory:", &oo, &r->e, err);
    if (rc)
        return rc;
    int64_t start = json_integer_value(json_object_get(r->sc, "start"));
    cf_init_options io;
    memset(&io, 0, sizeof io);
    io.test_clock = 1;
    as_actor(r, CF_SCENARIO_ADMIN);
    if ((rc = cf_engine_set_clock(r->e, start)) || (rc = cf_store_init_with(r->e, &io, err)))
        return rc;
    const char *name;
    const json_t *roles;
    json_object_foreach((json_t *)json_object_get(r->sc, "users"), name, roles) {
        const char *list[8] = {0};
        size_t i;
        const json_t *role;
        json_array_foreach(roles, i, role) if (i < 7) list[i] = json_string_value(role);
        if ((rc = cf_user_add(r->e, name, list, err))) {
            char m[sizeof err->message];
            snprintf(m, sizeof m, "%s", err->message);
            return cf_err_set(err, rc, "users", "%s: users.%s: %s", r->file, name, m);
        }
    }
    return 0;
}

static int deploy(sc_run *r, const cf_scenario_options *o, cf_error *err)
{
    const char *wf = o && o->workflow ? o->workflow
                                      : json_string_value(json_object_get(r->sc, "workflow"));
    if (wf == NULL)
        return cf_err_set(err, CF_EINVALID, "workflow",
                          "%s: workflow: none named (set workflow = \"FILE\" in the scenario, "
                          "or give --workflow FILE)", r->file);
    int rc = cf_workflow_deploy(r->e, wf, NULL, err);
    if (rc) {
        char m[sizeof err->message];
        snprintf(m, sizeof m, "%s", err->message);
        cf_err_set(err, rc, "workflow", "%s: workflow %s: %s", r->file, wf, m);
    }
    return rc;
}

/* ---- reading what the engine says about a case ----------------------------- */

/* The case's document (new reference), or NULL after a failure. */
static json_t *read_case(sc_run *r, const char *id)
{
    json_t *c = NULL;
    cf_error err;
    cf_err_clear(&err);
    as_actor(r, CF_SCENARIO_ADMIN);
    if (cf_case_get(r->e, id, &c, &err) != 0)
        failed(r, "case", "cannot read case %s: %s", id, err.message);
    return c;
}

/* The grade the workflow's report.grade path gives (borrowed into *q). */
static const json_t *read_grade(sc_run *r, const char *id, json_t **q)
{
    cf_case_query cq;
    memset(&cq, 0, sizeof cq);
    cq.limit = 1000;
    cf_error err;
    cf_err_clear(&err);
    char after[128];
    *q = NULL;
    for (;;) {
        json_t *page = NULL;
        if (cf_case_query_run(r->e, &cq, &page, &err) != 0) {
            failed(r, "grade", "cannot read the grade: %s", err.message);
            return NULL;
        }
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(page, "items"), i, it) {
            if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0) {
                *q = page;
                return json_object_get(it, "grade");
            }
        }
        json_t *next = json_object_get(page, "next");
        if (!json_is_string(next)) {
            json_decref(page);
            return NULL;
        }
        snprintf(after, sizeof after, "%s", json_string_value(next));
        cq.after = after;
        json_decref(page);
    }
}

/* The value at a dotted path of o ("warrant_lapses.1.issued_at": a list's
 * items from 1), borrowed, or NULL. */
static const json_t *at_path(const json_t *o, const char *path)
{
    char key[160];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        if (json_is_array(o)) { /* a list's items count from 1, as Lua's do */
            char *end;
            long i = strtol(key, &end, 10);
            o = *end == '\0' && i >= 1 ? json_array_get(o, (size_t)i - 1) : NULL;
        } else {
            o = json_is_object(o) ? json_object_get(o, key) : NULL;
        }
        path += n + (path[n] == '.');
    }
    return o;
}

/* ---- expectations ---------------------------------------------------------- */

/* Compare a string expectation (or false: none) with got (borrowed, may be NULL). */
static int expect_text(sc_run *r, const char *field, const json_t *want, const json_t *got)
{
    char g[300], w[300];
    if (json_is_false(want)) {
        if (got == NULL || json_is_null(got))
            return 0;
        show(got, g, sizeof g);
        return failed(r, field, "expected no %s, got %s", field, g);
    }
    if (json_is_string(got) && strcmp(json_string_value(got), json_string_value(want)) == 0)
        return 0;
    show(want, w, sizeof w);
    show(got && !json_is_null(got) ? got : NULL, g, sizeof g);
    return failed(r, field, "expected %s %s, got %s", field, w, g);
}

static void timers_text(const json_t *list, bool got, char *out, size_t size)
{
    size_t i, n = 0;
    const json_t *t;
    out[n++] = '[';
    out[n] = '\0';
    json_array_foreach(list, i, t) {
        char due[32] = "";
        const json_t *d = json_object_get(t, got ? "due_at" : "due");
        if (got && json_is_string(d))
            snprintf(due, sizeof due, "%s", json_string_value(d));
        else if (!got && d)
            show_time(json_integer_value(d), due);
        n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s%s%s", i ? ", " : "",
                              json_string_value(json_object_get(t, "event")),
                              due[0] ? " due " : "", due);
        if (n >= size)
            break;
    }
    if (n + 2 <= size)
        snprintf(out + n, size - n, "]");
}

static int expect_timers(sc_run *r, const json_t *want, const json_t *got)
{
    bool same = json_array_size(want) == json_array_size(got);
    for (size_t i = 0; same && i < json_array_size(want); i++) {
        const json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
        same = strcmp(json_string_value(json_object_get(w, "event")),
                      str_or(json_string_value(json_object_get(g, "event")), "")) == 0;
        if (same && json_object_get(w, "due")) {
            char due[32];
            show_time(json_integer_value(json_object_get(w, "due")), due);
            same = strcmp(due, str_or(json_string_value(json_object_get(g, "due_at")), "")) == 0;
        }
    }
    if (same)
        return 0;
    char w[300], g[300];
    timers_text(want, false, w, sizeof w);
    timers_text(got, true, g, sizeof g);
    return failed(r, "timers", "expected timers %s, got %s", w, g);
}

static void tasks_text(const json_t *list, char *out, size_t size)
{
    size_t i, n = 0;
    const json_t *t;
    out[n++] = '[';
    out[n] = '\0';
    json_array_foreach(list, i, t) {
        const char *role = json_string_value(json_object_get(t, "role"));
        const char *status = json_string_value(json_object_get(t, "status"));
        n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s%s%s%s%s", i ? ", " : "",
                              json_string_value(json_object_get(t, "kind")),
                              role ? " for " : "", role ? role : "", status ? " " : "",
                              status ? status : "");
        if (n >= size)
            break;
    }
    if (n + 2 <= size)
        snprintf(out + n, size - n, "]");
}

static int expect_tasks(sc_run *r, const json_t *want, const json_t *got)
{
    bool same = json_array_size(want) == json_array_size(got);
    static const char *const keys[] = {"kind", "role", "status"};
    for (size_t i = 0; same && i < json_array_size(want); i++)
        for (size_t k = 0; same && k < 3; k++) {
            const json_t *w = json_object_get(json_array_get(want, i), keys[k]);
            const json_t *g = json_object_get(json_array_get(got, i), keys[k]);
            same = !w || (json_is_string(g) &&
                          strcmp(json_string_value(w), json_string_value(g)) == 0);
        }
    if (same)
        return 0;
    char w[300], g[300];
    tasks_text(want, w, sizeof w);
    tasks_text(got, g, sizeof g);
    return failed(r, "tasks", "expected tasks %s, got %s", w, g);
}

static int check_expect(sc_run *r, const json_t *ex, const char *default_case)
{
    const char *name = json_string_value(json_object_get(ex, "case"));
    if (name == NULL)
        name = default_case;
    const json_t *v;
    if ((v = json_object_get(ex, "fired"))) {
        if (!json_equal((json_t *)v, r->fired) &&
            !(json_array_size(v) == 0 && json_array_size(r->fired) == 0)) {
            char w[300], g[300];
            show(v, w, sizeof w);
            show(r->fired, g, sizeof g);
            return failed(r, "fired", "expected the tick to fire %s, got %s", w, g);
        }
        if (json_object_size(ex) == 1)
            return 0;
    }
    const char *id = json_string_value(json_object_get(r->cases, name));
    if (id == NULL)
        return failed(r, "case", "no case named '%s' (the referral makes '%s'; a refer step "
                                 "names its case)", name, CF_SCENARIO_MAIN);
    json_t *c = read_case(r, id);
    if (c == NULL)
        return 1;
    const json_t *data = json_object_get(c, "data");
    int bad = 0;
    if (!bad && (v = json_object_get(ex, "state")))
        bad = expect_text(r, "state", v, json_object_get(c, "state"));
    if (!bad && (v = json_object_get(ex, "outcome")))
        bad = expect_text(r, "outcome", v, json_object_get(data, "outcome"));
    if (!bad && (v = json_object_get(ex, "route")))
        bad = expect_text(r, "route", v, at_path(data, "route.decision"));
    if (!bad && (v = json_object_get(ex, "grade"))) {
        json_t *page = NULL;
        const json_t *g = read_grade(r, id, &page);
        bad = r->line[0] ? 1 : expect_text(r, "grade", v, g);
        json_decref(page);
    }
    if (!bad && (v = json_object_get(ex, "deadline"))) {
        const json_t *got = json_object_get(c, "deadline_at");
        if (json_is_false(v)) {
            bad = expect_text(r, "deadline", v, got);
        } else {
            char want[32];
            show_time(json_integer_value(v), want);
            json_t *w = json_string(want);
            bad = expect_text(r, "deadline", w, got);
            json_decref(w);
        }
    }
    if (!bad && (v = json_object_get(ex, "timers")))
        bad = expect_timers(r, v, json_object_get(c, "timers"));
    if (!bad && (v = json_object_get(ex, "tasks")))
        bad = expect_tasks(r, v, json_object_get(c, "tasks"));
    if (!bad && (v = json_object_get(ex, "data"))) {
        const char *k;
        const json_t *want;
        json_object_foreach((json_t *)v, k, want) {
            const json_t *got = at_path(data, k);
            if (got && json_equal((json_t *)want, (json_t *)got))
                continue;
            char w[300], g[300], f[200];
            show(want, w, sizeof w);
            show(got, g, sizeof g);
            snprintf(f, sizeof f, "data.%s", k);
            bad = failed(r, f, "expected data.%s %s, got %s", k, w, g);
            break;
        }
    }
    json_decref(c);
    return bad;
}

/* ---- steps ------------------------------------------------------------------ */

/* A refusal that was expected (or not): 0 when it went as the step says. */
static int check_refusal(sc_run *r, const char *what, const json_t *want, int rc,
                         const cf_error *err, const json_t *out)
{
    if (want == NULL && rc == 0)
        return 0;
    if (want == NULL)
        return failed(r, "refused", "%s was refused (exit %d): %s", what, cf_exit_code(rc),
                      err->message);
    const json_t *code = json_object_get(want, "exit");
    const char *msg = json_string_value(json_object_get(want, "message"));
    if (rc == 0) {
        char with[40] = "";
        if (code)
            snprintf(with, sizeof with, " with exit %lld", (long long)json_integer_value(code));
        return failed(r, "refused", "expected %s to be refused%s, but it was taken (state '%s')",
                      what, with, str_or(json_string_value(json_object_get(out, "state")), "?"));
    }
    if (code && cf_exit_code(rc) != json_integer_value(code))
        return failed(r, "refused.exit", "expected %s refused with exit %lld, got exit %d: %s",
                      what, (long long)json_integer_value(code), cf_exit_code(rc),
                      err->message);
    if (msg && strstr(err->message, msg) == NULL)
        return failed(r, "refused.message", "expected the refusal of %s to say '%s', got: %s",
                      what, msg, err->message);
    return 0;
}

static int run_refer(sc_run *r, const json_t *referral, const char *as, const char *name,
                     const json_t *refused)
{
    json_t *out = NULL;
    cf_error err;
    cf_err_clear(&err);
    as_actor(r, as);
    int rc = cf_refer(r->e, NULL, referral, &out, &err);
    char what[200];
    snprintf(what, sizeof what, "the referral by %s", as);
    int bad = check_refusal(r, what, refused, rc, &err, out);
    if (!bad && rc == 0)
        json_object_set(r->cases, name, json_object_get(out, "id"));
    json_decref(out);
    return bad;
}

static int run_act(sc_run *r, const json_t *st)
{
    const char *name = json_string_value(json_object_get(st, "case"));
    const char *id = json_string_value(json_object_get(r->cases, name));
    const char *event = json_string_value(json_object_get(st, "act"));
    const char *as = json_string_value(json_object_get(st, "as"));
    if (id == NULL)
        return failed(r, "case", "no case named '%s' (the referral makes '%s'; a refer step "
                                 "names its case)", name, CF_SCENARIO_MAIN);
    json_t *out = NULL;
    cf_error err;
    cf_err_clear(&err);
    as_actor(r, as);
    int64_t rev = -1;
    json_t *before = NULL;
    const json_t *refused = json_object_get(st, "refused");
    if (refused) {
        before = read_case(r, id);
        if (before == NULL)
            return 1;
        rev = json_integer_value(json_object_get(before, "revision"));
        json_decref(before);
        as_actor(r, as);
    }
    int rc = cf_act(r->e, id, event, json_object_get(st, "data"), -1, &out, &err);
    char what[300];
    snprintf(what, sizeof what, "%s by %s", event, as);
    int bad = check_refusal(r, what, refused, rc, &err, out);
    json_decref(out);
    if (!bad && refused) { /* a refusal changes nothing */
        json_t *after = read_case(r, id);
        if (after == NULL)
            return 1;
        if (json_integer_value(json_object_get(after, "revision")) != rev)
            bad = failed(r, "revision", "the refused %s changed the case (revision %lld -> "
                                        "%lld)", what, (long long)rev,
                         (long long)json_integer_value(json_object_get(after, "revision")));
        json_decref(after);
    }
    return bad;
}

static int run_tick(sc_run *r)
{
    json_t *out = NULL;
    cf_error err;
    cf_err_clear(&err);
    cf_engine_set_actor(r->e, NULL, NULL); /* the engine's own clock */
    int rc = cf_tick(r->e, &out, &err);
    json_array_clear(r->fired);
    size_t i;
    json_t *t;
    json_array_foreach(out, i, t) if (!json_object_get(t, "error"))
        json_array_append(r->fired, json_object_get(t, "event"));
    json_decref(out);
    if (rc)
        return failed(r, "tick", "the tick failed (exit %d): %s", cf_exit_code(rc),
                      err.message);
    return 0;
}

static int run_step(sc_run *r, const json_t *st, cf_error *err)
{
    int64_t at = json_integer_value(json_object_get(st, "at"));
    int rc = cf_engine_set_clock(r->e, at);
    if (rc)
        return cf_err_set(err, rc, "clock", "%s: step %lld: cannot set the clock", r->file,
                          (long long)r->step);
    const char *kind = json_string_value(json_object_get(st, "kind"));
    const char *name = json_string_value(json_object_get(st, "case"));
    int bad = 0;
    if (strcmp(kind, "act") == 0)
        bad = run_act(r, st);
    else if (strcmp(kind, "tick") == 0)
        bad = run_tick(r);
    else if (strcmp(kind, "refer") == 0)
        bad = run_refer(r, json_object_get(st, "refer"),
                        json_string_value(json_object_get(st, "as")), name,
                        json_object_get(st, "refused"));
    const json_t *ex = json_object_get(st, "expect");
    if (!bad && ex)
        bad = check_expect(r, ex, name);
    return 0;
}

int cf_scenario_run(const json_t *scenario, const cf_scenario_options *opts, json_t **out,
                    cf_error *err)
{
    if (out == NULL || !json_is_object(scenario) ||
        !json_is_array(json_object_get(scenario, "steps")))
        return cf_err_set(err, CF_EUSAGE, NULL, "cf_scenario_run: not a loaded scenario");
    *out = NULL;
    sc_run r;
    memset(&r, 0, sizeof r);
    r.sc = scenario;
    r.file = json_string_value(json_object_get(scenario, "file"));
    if (r.file == NULL)
        r.file = json_string_value(json_object_get(scenario, "name"));
    r.cases = json_object();
    r.fired = json_array();
    if (r.cases == NULL || r.fired == NULL) {
        json_decref(r.cases);
        json_decref(r.fired);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    int rc = open_store(&r, opts, err);
    if (!rc)
        rc = deploy(&r, opts, err);
    size_t steps = 0;
    if (!rc && json_object_get(scenario, "referral"))
        run_refer(&r, json_object_get(scenario, "referral"),
                  json_string_value(json_object_get(scenario, "referred_by")), CF_SCENARIO_MAIN,
                  NULL);
    const json_t *list = json_object_get(scenario, "steps");
    for (size_t i = 0; !rc && !r.line[0] && i < json_array_size(list); i++) {
        const json_t *st = json_array_get(list, i);
        r.step = json_integer_value(json_object_get(st, "n"));
        rc = run_step(&r, st, err);
        steps++;
    }
    if (!rc) {
        *out = json_pack("{s:O, s:s?, s:b, s:I, s:I}", "name", json_object_get(scenario, "name"),
                         "file", json_string_value(json_object_get(scenario, "file")), "ok",
                         r.line[0] == '\0', "steps", (json_int_t)steps, "of",
                         (json_int_t)json_array_size(list));
        if (*out && r.line[0])
            json_object_set_new(*out, "failure",
                                json_pack("{s:I, s:s, s:s}", "step", (json_int_t)r.step,
                                          "field", r.field, "message", r.line));
        if (*out == NULL)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    json_decref(r.cases);
    json_decref(r.fired);
    cf_engine_close(r.e);
    return rc;
}
