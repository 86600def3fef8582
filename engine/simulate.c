/*
 * workflow simulate: replay every recorded case through a candidate
 * workflow before it goes live. Each case's history is cut into the inputs
 * that drove it (the referral, each act, each timer the engine fired, each
 * repeat referral correlation raised); the rows a step plugin's `emit` added
 * within the same command are the recorded route of that input. Each input
 * runs, at its recorded time and as its recorded actor, through the
 * engine's own step code on a case in memory (cf_machine_sim_*, machine.c)
 * and what the candidate does is compared with what was recorded: the state
 * and the states passed through after each input; then, once every input
 * has replayed, the outcome, grade, response deadline and timers against
 * the case as it is now. The first input the candidate refuses ends that
 * case's replay (what followed answered a state the candidate never
 * reaches). Nothing is written but one consultation record naming the
 * cases whose divergences are reported. The main thread reads the store;
 * the replays may run on worker threads (CASEFLOW_SIMULATE_THREADS, "the
 * workers" below), each with its own candidate.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"

static const char *const admin[] = {"administrator"};

/* History rows the engine records that are no input of the workflow:
 * tasks, deadlines passed, dropped timers, migrations, retention. */
static bool administrative(const char *event)
{
    return strncmp(event, "task.", 5) == 0 || strncmp(event, "retention.", 10) == 0 ||
           strcmp(event, "deadline.missed") == 0 || strcmp(event, "timer.dropped") == 0 ||
           strcmp(event, "workflow.migrated") == 0;
}

/* ---- the recorded history of one case -------------------------------------------------- */

typedef struct row {
    int64_t seq, at;
    char *actor, *role, *event, *outcome, *from, *to; /* in buf; role, outcome, from may be NULL */
    char *buf;
    json_t *data;  /* NULL: none */
    bool emitted;  /* recorded by the command of the row before (emitted()) */
    char *roles;   /* a person's input: their roles (roles_of), else NULL */
    int64_t due;   /* a fired state timer: when the recorded version set it due (0: unknown) */
} row;

typedef struct history {
    row *rows;
    size_t n, cap;
} history;

static void history_clear(history *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->rows[i].buf);
        free(h->rows[i].roles);
        json_decref(h->rows[i].data);
    }
    h->n = 0;
}

static char *col(cf_stmt *st, int i)
{
    const char *t = cf_stmt_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* The row's six text columns (1-6) copied into one buffer. */
static int row_texts(cf_stmt *st, row *r)
{
    char **dst[6] = {&r->actor, &r->role, &r->event, &r->outcome, &r->from, &r->to};
    size_t len[6], total = 0;
    for (int k = 0; k < 6; k++) {
        len[k] = cf_stmt_text(st, k + 2) ? (size_t)cf_stmt_bytes(st, k + 2) : 0;
        total += len[k] + 1;
    }
    char *p = r->buf = malloc(total);
    if (!p)
        return -1;
    for (int k = 0; k < 6; k++) {
        const char *t = cf_stmt_text(st, k + 2);
        *dst[k] = t ? p : NULL;
        if (t)
            memcpy(p, t, len[k]);
        p[len[k]] = '\0';
        p += len[k] + 1;
    }
    return 0;
}

/* The case's history in the order it was recorded. The rows come by the
 * events_case index, unsorted (an ORDER BY would cost a sorter per case),
 * and are put in seq order here: a case has few. */
static int history_load(cf_store *s, const char *id, history *h, cf_error *err)
{
    static const char sql[] = "SELECT seq, at, actor, role, event, outcome, from_state,"
                              " to_state, data FROM events WHERE case_id=?";
    history_clear(h);
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, id);
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            row *n = realloc(h->rows, cap * sizeof *n);
            if (!n) {
                cf_stmt_reset(st);
                return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
            }
            h->rows = n;
            h->cap = cap;
        }
        row *r = &h->rows[h->n];
        memset(r, 0, sizeof *r);
        r->seq = cf_stmt_int64(st, 0);
        r->at = cf_stmt_int64(st, 1);
        if (row_texts(st, r) || !r->actor || !r->event || !r->to) {
            free(r->buf);
            cf_stmt_reset(st);
            return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        }
        const char *d = cf_stmt_text(st, 8);
        r->data = d ? json_loadb(d, (size_t)cf_stmt_bytes(st, 8), 0, NULL) : NULL;
        h->n++;
        for (size_t k = h->n - 1; k > 0 && h->rows[k - 1].seq > h->rows[k].seq; k--) {
            row t = h->rows[k];
            h->rows[k] = h->rows[k - 1];
            h->rows[k - 1] = t;
        }
    }
    cf_stmt_reset(st);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "read history", err);
}

static bool same(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Did the command that recorded rows[i-1] also record rows[i], because the
 * step plugin of the state rows[i-1] entered emitted it on entering? Its
 * time and actor are the command's, it leaves that state, it carries no
 * data or outcome, and the state's plugin (in the version the case runs
 * on) declares it among what it emits. */
static bool emitted(const history *h, size_t i, const cf_wf *rec, const cf_wf *cand)
{
    const row *p = &h->rows[i - 1], *r = &h->rows[i];
    if (r->at != p->at || !same(r->actor, p->actor) || !same(r->from, p->to) || r->data ||
        r->outcome || (p->from && strcmp(p->from, p->to) == 0))
        return false;
    const cf_wf_state *st = rec ? cf_wf_find_state(rec, p->to) : NULL;
    if (st && st->module)
        return cf_plugin_emits(st->module->desc, r->event);
    /* The recorded version's plugin is not bound (missing, another build:
     * exactly when an administrator simulates a replacement): ask the
     * candidate's plugin of the same name, which is what will run. */
    const cf_wf_state *cs = cand ? cf_wf_find_state(cand, p->to) : NULL;
    if (cs && cs->module && (!st || same(st->step, cs->step)))
        return cf_plugin_emits(cs->module->desc, r->event);
    return false;
}

/* ---- the recorded case ------------------------------------------------------------------ */

/* What a replay needs of a case row: the data is not parsed whole (most of a
 * replay's reading time otherwise), only its referral, outcome and grade
 * (the case's own version's grade path) are extracted by SQLite. */
typedef struct case_in {
    char *id, *workflow, *state, *outcome, *grade;
    int64_t version, created_at, deadline_at, disposed_at;
    json_t *referral; /* NULL: none */
} case_in;

#define CASE_COLUMNS                                                                      \
    "SELECT c.id, c.workflow, c.state, json_extract(c.data, '$.outcome'),"                \
    " json_extract(c.data, coalesce(json_extract(:gpaths, " CF_VERSION_KEY("c") "),"      \
    " '$.risk.grade')), c.version, c.created_at, coalesce(c.deadline_at, 0),"            \
    " coalesce(c.disposed_at, 0), json_extract(c.data, '$.referral') FROM cases c"

/*
 * The same on PostgreSQL (issue 12). case_read keeps the outcome and grade
 * only when SQLite's json_extract gives them as TEXT (a JSON string, object
 * or array: PG_JSON_TEXT), and parses the referral from that text (an
 * object or array, as written; a string's content). Case data is read as
 * json, which keeps the text as written; the grade path "$.a.b" becomes the
 * key list {a,b}, looked up by the case's own "name@version".
 */
#define PG_JSON_TEXT(x) \
    "(CASE WHEN json_typeof(" x ") IN ('string', 'object', 'array') THEN " x " #>> '{}' END)"
#define PG_GRADE_JSON                                                                       \
    "(c.data::json #> string_to_array(substr(coalesce(CAST(:gpaths AS json) ->>"            \
    " (c.workflow || '@' || c.version), '$.risk.grade'), 3), '.'))"
#define PG_CASE_COLUMNS                                                                     \
    "SELECT c.id, c.workflow, c.state, " PG_JSON_TEXT("(c.data::json -> 'outcome')") ","    \
    " " PG_JSON_TEXT(PG_GRADE_JSON) ", c.version, c.created_at, coalesce(c.deadline_at, 0),"  \
    " coalesce(c.disposed_at, 0), " PG_JSON_TEXT("(c.data::json -> 'referral')")            \
    " FROM cases c"

static void case_clear(case_in *c)
{
    free(c->id);
    free(c->workflow);
    free(c->state);
    free(c->outcome);
    free(c->grade);
    json_decref(c->referral);
    memset(c, 0, sizeof *c);
}

/* The row st is on. */
static int case_read(cf_stmt *st, case_in *c, cf_error *err)
{
    memset(c, 0, sizeof *c);
    c->id = col(st, 0);
    c->workflow = col(st, 1);
    c->state = col(st, 2);
    c->outcome = cf_stmt_type(st, 3) == CF_DB_TEXT ? col(st, 3) : NULL;
    c->grade = cf_stmt_type(st, 4) == CF_DB_TEXT ? col(st, 4) : NULL;
    c->version = cf_stmt_int64(st, 5);
    c->created_at = cf_stmt_int64(st, 6);
    c->deadline_at = cf_stmt_int64(st, 7);
    c->disposed_at = cf_stmt_int64(st, 8);
    const char *ref = cf_stmt_text(st, 9);
    if (ref)
        c->referral = json_loadb(ref, (size_t)cf_stmt_bytes(st, 9), 0, NULL);
    if (!c->id || !c->workflow || !c->state)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    return 0;
}

/* ---- comparing ------------------------------------------------------------------------------ */

typedef struct sim {
    cf_engine *e;
    cf_wf *cand;     /* the main thread's candidate (names, hash) */
    json_t *roles;   /* {user: "their,roles"} */
    json_t *cases;   /* the divergent cases' reports */
    json_t *by_state;
    int64_t replayed, unchanged, route, refused, other, skipped;
} sim;

/* One case's replay: read and prepared by the main thread (the store is
 * its alone), replayed by a worker, counted by the main thread again in
 * the cases' order. */
typedef struct job {
    case_in r;
    history h;
    json_t *timers; /* the case's timers now */
    bool skip;      /* nothing recorded to replay */
    json_t *list;   /* the worker's answer: the divergences, */
    bool route_changed, refused;
    int rc;         /* and its own failure (out of memory) */
    cf_error err;
} job;

/* What a worker replays with: a candidate of its own (Lua state, plugin
 * instances). */
typedef struct worker {
    cf_engine *e;
    cf_wf *cand;
    int64_t budget_ms;
    struct pool *pool;
} worker;

static int nomem(cf_error *err)
{
    return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

static json_t *time_json(int64_t t)
{
    char buf[32];
    if (!t)
        return json_null();
    cf_time_format(t, buf);
    return json_string(buf);
}

/* The roles of user name as they are now, with the role the record shows
 * they acted in then (new malloc'd). */
static char *roles_of(sim *s, const char *name, const char *recorded)
{
    json_t *v = json_object_get(s->roles, name);
    if (!v) {
        cf_user_row u;
        cf_error ignored;
        memset(&u, 0, sizeof u);
        v = json_string(cf_store_user_get(s->e->store, name, &u, &ignored) == 0 && u.roles
                            ? u.roles
                            : "");
        cf_user_row_clear(&u);
        json_object_set_new(s->roles, name, v);
    }
    const char *now = json_string_value(v);
    size_t n = strlen(now ? now : "") + strlen(recorded ? recorded : "") + 2;
    char *all = malloc(n);
    if (all)
        snprintf(all, n, "%s%s%s", now ? now : "", now && *now && recorded ? "," : "",
                 recorded ? recorded : "");
    return all;
}

/* Append a divergence {step, event, at, actor, kind, recorded, candidate,
 * message?} to list. */
static void diverge(json_t *list, size_t step, const row *r, const char *kind,
                    json_t *recorded, json_t *candidate, const char *message)
{
    json_t *d = json_pack("{s:I, s:s?, s:o, s:s?, s:s, s:o, s:o}", "step", (json_int_t)step,
                          "event", r ? r->event : NULL, "at", time_json(r ? r->at : 0),
                          "actor", r ? r->actor : NULL, "kind", kind,
                          "recorded", recorded ? recorded : json_null(), "candidate",
                          candidate ? candidate : json_null());
    if (d && message) {
        /* A message cut short by a fixed buffer may end inside a character:
         * keep the whole characters before it rather than lose the message. */
        size_t n = strlen(message);
        json_t *m = json_stringn(message, n);
        while (!m && n > 0 && n + 4 > strlen(message))
            m = json_stringn(message, --n);
        json_object_set_new(d, "message", m ? m : json_string("(not UTF-8)"));
    }
    json_array_append_new(list, d);
}

static json_t *text_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* After step `step` (rows first..last of the history): the candidate's
 * state and route against the recorded ones. */
static void compare_step(const history *h, const cf_sim_case *sc, size_t step, size_t first,
                         size_t last, json_t *list, bool *route_changed)
{
    char rec[512];
    size_t used = 0;
    rec[0] = '\0';
    for (size_t i = first; i <= last; i++) {
        const row *r = &h->rows[i];
        if ((!r->from || strcmp(r->from, r->to) != 0) && used < sizeof rec)
            used += (size_t)snprintf(rec + used, sizeof rec - used, "%s%s", used ? ">" : "",
                                     r->to);
    }
    const char *cand = cf_machine_sim_state(sc), *recorded = h->rows[last].to;
    const char *croute = cf_machine_sim_route(sc);
    if (strcmp(cand, recorded) != 0) {
        diverge(list, step, &h->rows[first], "state", json_string(recorded),
                json_string(cand), NULL);
        *route_changed = true;
    } else if (strcmp(rec, croute) != 0) {
        diverge(list, step, &h->rows[first], "route", text_or_null(rec),
                text_or_null(croute), NULL);
        *route_changed = true;
    }
}

/* Once every input replayed: outcome, grade, deadline and timers against
 * the case row and its timers now. */
static void compare_end(const job *j, const cf_sim_case *sc, size_t step, json_t *list)
{
    const case_in *r = &j->r;
    const row *last = &j->h.rows[j->h.n - 1];
    size_t from = json_array_size(list);
    const json_t *cd = cf_machine_sim_data(sc);
    const char *ro = r->outcome;
    const char *co = json_string_value(json_object_get(cd, "outcome"));
    if (!same(ro, co))
        diverge(list, step, last, "outcome", text_or_null(ro), text_or_null(co), NULL);
    const char *rg = r->grade ? r->grade : "", *cg = cf_machine_sim_grade(sc);
    if (strcmp(rg, cg) != 0)
        diverge(list, step, last, "grade", text_or_null(rg), text_or_null(cg), NULL);
    if (r->deadline_at != cf_machine_sim_deadline(sc))
        diverge(list, step, last, "deadline", time_json(r->deadline_at),
                time_json(cf_machine_sim_deadline(sc)), NULL);
    /* Each recorded timer against the candidate's of the same event... */
    size_t i;
    json_t *t;
    json_array_foreach(j->timers, i, t)
    {
        const char *ev = json_string_value(json_object_get(t, "event"));
        int64_t was = json_integer_value(json_object_get(t, "due"));
        const char *cev;
        int64_t due = 0;
        bool found = false;
        for (size_t k = 0; ev && cf_machine_sim_timer(sc, k, &cev, &due); k++)
            if (strcmp(cev, ev) == 0) {
                found = true;
                break;
            }
        char msg[160];
        snprintf(msg, sizeof msg, "timer %s", ev ? ev : "");
        if (!found)
            diverge(list, step, last, "timer", time_json(was), NULL, msg);
        else if (due != was)
            diverge(list, step, last, "timer", time_json(was), time_json(due), msg);
    }
    /* ...and the candidate's timers the case does not hold. */
    const char *cev;
    int64_t due;
    for (size_t k = 0; cf_machine_sim_timer(sc, k, &cev, &due); k++) {
        bool held = false;
        json_array_foreach(j->timers, i, t) if (same(json_string_value(json_object_get(t, "event")),
                                                     cev)) held = true;
        char msg[160];
        snprintf(msg, sizeof msg, "timer %s", cev);
        if (!held)
            diverge(list, step, last, "timer", NULL, time_json(due), msg);
    }
    /* These compare the case as it is now, not a step. */
    for (size_t k = from; k < json_array_size(list); k++)
        json_object_set_new(json_array_get(list, k), "now", json_true());
}

static void count_state(sim *s, const char *state, const char *what)
{
    json_t *b = json_object_get(s->by_state, state);
    if (!b) {
        b = json_pack("{s:i, s:i, s:i, s:i, s:i}", "replayed", 0, "unchanged", 0, "route", 0,
                      "refused", 0, "other", 0);
        json_object_set_new(s->by_state, state, b);
    }
    json_object_set_new(b, what, json_integer(json_integer_value(json_object_get(b, what)) + 1));
}

/* Row i fired its state's own timer (the recorded version's `timer` of the
 * state it left): when that timer was due, from the time the case last
 * entered the state. 0 when it is not such a timer (a plugin's). */
static int64_t state_timer_due(const history *h, size_t i, const cf_wf *rec)
{
    const row *r = &h->rows[i];
    const cf_wf_state *st = rec && r->from ? cf_wf_find_state(rec, r->from) : NULL;
    if (!st || st->timer_secs <= 0 || !st->timer_event || strcmp(st->timer_event, r->event))
        return 0;
    for (size_t k = i; k-- > 0;)
        if (strcmp(h->rows[k].to, r->from) == 0 &&
            (!h->rows[k].from || strcmp(h->rows[k].from, r->from) != 0))
            return h->rows[k].at + st->timer_secs;
    return 0;
}

/* Main thread: what job j's worker needs, read from the store. */
static int prepare(sim *s, job *j, cf_error *err)
{
    cf_wf *rec = NULL;
    cf_error ignored;
    /* The recorded version tells which rows a plugin emitted; a version
     * that no longer loads only makes every row an input. */
    if (cf_engine_workflow(s->e, j->r.workflow, j->r.version, &rec, &ignored))
        rec = NULL;
    int rc = history_load(s->e->store, j->r.id, &j->h, err);
    if (rc)
        return rc;
    history *h = &j->h;
    j->skip = !h->n || strcmp(h->rows[0].event, "referral.received") != 0 || !j->r.referral;
    for (size_t i = 1; i < h->n; i++) {
        row *in = &h->rows[i];
        in->emitted = emitted(h, i, rec, s->cand);
        if (!in->emitted && strcmp(in->actor, CF_ENGINE_ACTOR) == 0)
            in->due = state_timer_due(h, i, rec);
        if (in->emitted || administrative(in->event) || strcmp(in->actor, CF_ENGINE_ACTOR) == 0)
            continue;
        if (!(in->roles = roles_of(s, in->actor, in->role)))
            return nomem(err);
    }
    return j->skip ? 0 : cf_store_timer_list(s->e->store, j->r.id, &j->timers, err);
}

/* A worker: replay job j through w's candidate into j->list. */
static void run(const worker *w, job *j)
{
    if (j->skip)
        return;
    const history *h = &j->h;
    json_t *list = j->list = json_array();
    if (!list) {
        j->rc = nomem(&j->err);
        return;
    }
    cf_sim_case *sc = NULL;
    cf_error serr;
    cf_err_clear(&serr);
    size_t i, step = 0, last = 0;
    /* The referral and what its intake emitted. */
    while (last + 1 < h->n && h->rows[last + 1].emitted)
        last++;
    int rc = cf_machine_sim_refer(w->e, w->cand, w->budget_ms, j->r.id, j->r.referral,
                                  h->rows[0].at, h->rows[0].actor, h->rows[0].role, &sc, &serr);
    if (rc == CF_ENOMEM) {
        j->rc = nomem(&j->err);
        return;
    }
    if (rc) {
        diverge(list, 0, &h->rows[0], "refused", NULL, NULL, serr.message);
        j->refused = true;
    } else {
        compare_step(h, sc, 0, 0, last, list, &j->route_changed);
    }
    for (i = last + 1; !j->refused && i < h->n; i = last + 1) {
        const row *in = &h->rows[i];
        last = i;
        if (administrative(in->event))
            continue;
        while (last + 1 < h->n && h->rows[last + 1].emitted)
            last++;
        step++;
        bool engine = strcmp(in->actor, CF_ENGINE_ACTOR) == 0;
        bool repeat = engine && strcmp(in->event, "repeat_referral") == 0;
        if (repeat) {
            /* Correlation hands a repeat referral only to a case whose
             * state takes it; otherwise it only links the cases. */
            const cf_wf_state *st = cf_wf_find_state(w->cand, cf_machine_sim_state(sc));
            if (!st || st->final || !cf_wf_find_transition(st, "repeat_referral")) {
                char msg[200];
                snprintf(msg, sizeof msg, "not escalated: state %s does not take repeat_referral",
                         cf_machine_sim_state(sc));
                char rec_route[256] = "";
                for (size_t k = i, used = 0; k <= last; k++)
                    if (strcmp(h->rows[k].from ? h->rows[k].from : "", h->rows[k].to) != 0 &&
                        used < sizeof rec_route)
                        used += (size_t)snprintf(rec_route + used, sizeof rec_route - used,
                                                 "%s%s", used ? ">" : "", h->rows[k].to);
                diverge(list, step, in, "route", text_or_null(rec_route), NULL, msg);
                j->route_changed = true;
                continue;
            }
        }
        if (in->due) {
            /* A state timer fired: when the candidate had it due. */
            const char *ev;
            int64_t due;
            for (size_t k = 0; cf_machine_sim_timer(sc, k, &ev, &due); k++)
                if (strcmp(ev, in->event) == 0 && due != in->due) {
                    char msg[160];
                    snprintf(msg, sizeof msg, "timer %s", in->event);
                    diverge(list, step, in, "timer", time_json(in->due), time_json(due), msg);
                }
        }
        cf_err_clear(&serr);
        rc = cf_machine_sim_act(sc, in->event, in->data, in->at, in->actor, in->role,
                                in->roles, engine, engine && !repeat ? in->event : NULL, &serr);
        if (rc == CF_ENOMEM) {
            j->rc = nomem(&j->err);
            break;
        }
        if (rc) {
            diverge(list, step, in, "refused", NULL, NULL, serr.message);
            j->refused = true;
            break;
        }
        compare_step(h, sc, step, i, last, list, &j->route_changed);
    }
    if (!j->rc && !j->refused && sc)
        compare_end(j, sc, step, list);
    cf_machine_sim_free(sc);
}

/* Main thread, in the cases' order: count job j, keep its report when it
 * diverges. */
static int account(sim *s, job *j, cf_error *err)
{
    if (j->skip) {
        s->skipped++;
        return 0; /* nothing recorded to replay (an erased or foreign case) */
    }
    if (j->rc) {
        if (err)
            *err = j->err;
        return j->rc;
    }
    const case_in *r = &j->r;
    size_t n = json_array_size(j->list);
    /* A case may both change route and then be refused: it counts in both. */
    s->replayed++;
    count_state(s, r->state, "replayed");
    const char *verdict = j->refused ? "refused" : j->route_changed ? "route" : "other";
    if (j->refused) {
        s->refused++;
        count_state(s, r->state, "refused");
    }
    if (j->route_changed) {
        s->route++;
        count_state(s, r->state, "route");
    }
    if (!j->refused && !j->route_changed && n) {
        s->other++;
        count_state(s, r->state, "other");
    }
    if (!n) {
        s->unchanged++;
        count_state(s, r->state, "unchanged");
        return 0;
    }
    json_t *c = json_pack("{s:s, s:I, s:s, s:s, s:O}", "id", r->id, "version",
                          (json_int_t)r->version, "state", r->state, "verdict", verdict,
                          "divergences", j->list);
    return c && !json_array_append_new(s->cases, c) ? 0 : nomem(err);
}

static void job_clear(job *j)
{
    case_clear(&j->r);
    history_clear(&j->h);
    json_decref(j->timers);
    json_decref(j->list);
    j->timers = j->list = NULL;
    j->skip = j->route_changed = j->refused = false;
    j->rc = 0;
}

static void job_free(job *j)
{
    job_clear(j);
    free(j->h.rows);
}

/* ---- the workers ---------------------------------------------------------------------------- */

/*
 * The replays run on worker threads while the main thread reads the next
 * cases (SQLite is its alone): a ring of RING jobs, each EMPTY (the main
 * thread fills it), READY (a worker takes it), DONE (the main thread
 * counts it, in order, and empties it). Each worker has its own candidate
 * (Lua state, plugin instances), so nothing a replay touches is shared.
 * The report is the same whatever the number of workers.
 */
#define RING 256
#define MAX_WORKERS 4
#define BATCH 32

enum { EMPTY, READY, RUNNING, DONE };

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    job jobs[RING];
    int status[RING];
    int64_t produced, taken, counted;
    bool finished;
    worker w[MAX_WORKERS];
    pthread_t t[MAX_WORKERS];
    int nw;
} pool;

static void *work(void *arg)
{
    worker *w = arg;
    pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* A batch of BATCH jobs at a time (fewer at the end): one lock and
         * one wake-up per batch, not per case. */
        while (p->produced - p->taken < BATCH && !p->finished)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->taken == p->produced)
            break;
        int64_t first = p->taken, n = p->produced - p->taken;
        if (n > BATCH)
            n = BATCH;
        p->taken += n;
        pthread_mutex_unlock(&p->mu);
        for (int64_t i = first; i < first + n; i++)
            run(w, &p->jobs[i % RING]);
        pthread_mutex_lock(&p->mu);
        for (int64_t i = first; i < first + n; i++)
            p->status[i % RING] = DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Count the next job in order, waiting for it; 0 or its error. */
static int count_next(pool *p, sim *s, cf_error *err)
{
    size_t k = (size_t)(p->counted % RING);
    pthread_mutex_lock(&p->mu);
    while (p->status[k] != DONE)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    int rc = account(s, &p->jobs[k], err);
    job_clear(&p->jobs[k]);
    pthread_mutex_lock(&p->mu);
    p->status[k] = EMPTY;
    p->counted++;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Hand the job just filled to the workers, or replay it here when there
 * are none. */
static int submit(pool *p, sim *s, cf_error *err)
{
    size_t k = (size_t)(p->produced % RING);
    if (!p->nw) {
        run(&p->w[0], &p->jobs[k]);
        p->status[k] = DONE;
        p->produced++;
        return count_next(p, s, err);
    }
    pthread_mutex_lock(&p->mu);
    p->status[k] = READY;
    p->produced++;
    if (p->produced % BATCH == 0)
        pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* The number of worker threads: CASEFLOW_SIMULATE_THREADS (0: replay on the
 * calling thread; at most MAX_WORKERS), else one per processor. On the
 * 2-core machine of issue 9 (bench `simulate`, 10^4 cases, machine idle):
 * about 9,500 cases/s on the calling thread, 17,500/s with one worker,
 * 21,000/s with two; when the machine is busy with other work the threads
 * gain little or nothing. The report is the same either way
 * (tests/e2e/cli_simulate.sh compares them). */
static int workers_wanted(void)
{
    const char *env = getenv("CASEFLOW_SIMULATE_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 0 ? 0 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

/* ---- choosing the cases ---------------------------------------------------------------- */

static int count_cases(cf_store *st, const char *name, int64_t since, int64_t *n, cf_error *err)
{
    static const char sql[] = "SELECT count(*) FROM cases WHERE workflow=? AND created_at>=?"
                              " AND disposed_at IS NULL";
    cf_stmt *q = cf_store_stmt(st, sql, err);
    if (!q)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(q, 1, name);
    cf_stmt_bind_int64(q, 2, since);
    int rc = cf_stmt_step(q);
    *n = rc == CF_DB_ROW ? cf_stmt_int64(q, 0) : 0;
    cf_stmt_reset(q);
    return rc == CF_DB_ROW ? 0 : cf_store_error(st, rc, "count cases", err);
}

/* The candidate in path, its plugins bound through the engine's loader. */
/* The candidate read once (*bundle new): the main thread's copy and every
 * worker's are loaded from these same bytes, so the report describes what
 * was replayed even if the file changes while the simulation starts. */
static int read_candidate(const char *path, json_t **bundle, cf_error *err)
{
    *bundle = NULL;
    int rc = cf_wf_bundle_from_file(path, bundle, err);
    if (rc == CF_ENOTFOUND)
        return cf_err_set(err, CF_ENOTFOUND, "file", "%s: no such workflow file", path);
    return rc;
}

/* One copy of the candidate (*out new), its plugins bound. */
static int load_candidate(cf_engine *e, json_t *bundle, cf_wf **out, cf_error *err)
{
    int rc = cf_wf_load(bundle, out, err);
    if (!rc && (rc = cf_engine_bind(e, *out, err))) {
        cf_engine_unbind_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The report's summary and by_state, and the cases that diverge. */
static json_t *result_of(const sim *s, const char *path, int64_t since)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:O, s:O}",
                     "workflow", s->cand->name, "file", path, "hash", s->cand->hash, "since",
                     time_json(since), "summary", "replayed", (json_int_t)s->replayed,
                     "unchanged", (json_int_t)s->unchanged, "route", (json_int_t)s->route,
                     "refused", (json_int_t)s->refused, "other", (json_int_t)s->other,
                     "not_replayed", (json_int_t)s->skipped, "by_state", s->by_state, "cases",
                     s->cases);
}

int cf_workflow_simulate(cf_engine *e, const cf_simulate_options *o, json_t **out,
                         cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    if (!o || !o->path)
        return cf_err_set(err, CF_EUSAGE, "file", "workflow simulate needs a workflow FILE");
    if (!cf_utf8_valid(o->path)) /* the report names it: refuse before any replay */
        return cf_err_set(err, CF_EINVALID, "file", "the workflow's file name must be UTF-8");
    int rc = cf_engine_require(e, admin, 1, "simulate workflows", NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    if (o->since < 0)
        return cf_err_set(err, CF_EUSAGE, "since", "--since: a time after 1970");
    const cf_policies *pol = cf_engine_policies(e, err);
    if (!pol)
        return err ? err->code : CF_EINVALID;
    sim s;
    memset(&s, 0, sizeof s);
    s.e = e;
    json_t *bundle = NULL;
    if ((rc = read_candidate(o->path, &bundle, err)) ||
        (rc = load_candidate(e, bundle, &s.cand, err))) {
        json_decref(bundle);
        return rc;
    }
    pool *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(bundle);
        cf_engine_unbind_free(s.cand);
        return nomem(err);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    /* Each worker its own candidate, loaded (and its plugins bound) here,
     * before any thread starts: the loader's cache is not theirs. */
    int want = workers_wanted();
    p->w[0] = (worker){e, s.cand, pol->workflow_budget_ms, p};
    for (int i = 0; !rc && i < want; i++) {
        p->w[i] = (worker){e, NULL, pol->workflow_budget_ms, p};
        if ((rc = load_candidate(e, bundle, &p->w[i].cand, err)))
            break;
        if (pthread_create(&p->t[i], NULL, work, &p->w[i]) != 0) {
            cf_engine_unbind_free(p->w[i].cand);
            p->w[i].cand = NULL;
            break; /* fewer workers: the same report */
        }
        p->nw++;
    }
    json_decref(bundle); /* each copy keeps its own reference */
    if (!p->nw)
        p->w[0] = (worker){e, s.cand, pol->workflow_budget_ms, p};
    s.roles = json_object();
    s.cases = json_array();
    s.by_state = json_object();
    int64_t total = 0;
    char *states = NULL, *gpaths = NULL;
    if (!rc && (!s.roles || !s.cases || !s.by_state))
        rc = nomem(err);
    if (!rc)
        rc = cf_engine_response_states(e, &states, &gpaths, err);
    free(states);
    if (!rc && o->ncases)
        total = (int64_t)o->ncases;
    else if (!rc)
        rc = count_cases(e->store, s.cand->name, o->since, &total, err);
    cf_engine_progress(e, "workflow simulate", 0, total);
    /* The cases named, one look-up each; else every case of the workflow
     * in intake order, one statement stepping through them. */
    static const char by_id[] = CASE_COLUMNS " WHERE c.id = :id";
    static const char every[] = CASE_COLUMNS " WHERE c.workflow = :wf AND c.created_at >= :since"
                                " AND c.disposed_at IS NULL ORDER BY c.seq";
    static const char by_id_pg[] = PG_CASE_COLUMNS " WHERE c.id = :id";
    static const char every_pg[] = PG_CASE_COLUMNS " WHERE c.workflow = :wf"
                                   " AND c.created_at >= :since AND c.disposed_at IS NULL"
                                   " ORDER BY c.seq";
    cf_stmt *st = rc ? NULL
                     : o->ncases ? cf_store_stmt_for(e->store, by_id, by_id_pg, err)
                                 : cf_store_stmt_for(e->store, every, every_pg, err);
    if (!rc && !st)
        rc = err ? err->code : CF_EIO;
    if (st) {
        cf_stmt_bind_text_copy(st, cf_stmt_param_index(st, ":gpaths"), gpaths);
        if (!o->ncases) {
            cf_stmt_bind_text_copy(st, cf_stmt_param_index(st, ":wf"), s.cand->name);
            cf_stmt_bind_int64(st, cf_stmt_param_index(st, ":since"), o->since);
        }
    }
    for (int64_t done = 0; st && !rc && (!o->ncases || done < (int64_t)o->ncases); done++) {
        const char *id = o->ncases ? o->cases[done] : NULL;
        if (id)
            cf_stmt_bind_text_copy(st, cf_stmt_param_index(st, ":id"), id);
        int step = cf_stmt_step(st);
        if (step == CF_DB_DONE && id) {
            rc = cf_err_set(err, CF_ENOTFOUND, "cases", "no case %s", id);
            break;
        }
        if (step == CF_DB_DONE)
            break;
        if (step != CF_DB_ROW) {
            rc = cf_store_error(e->store, step, "read cases", err);
            break;
        }
        /* A free slot of the ring: count the oldest job when it is full. */
        while (!rc && p->counted + RING <= p->produced)
            rc = count_next(p, &s, err);
        if (rc)
            break;
        job *j = &p->jobs[p->produced % RING];
        rc = case_read(st, &j->r, err);
        if (id)
            cf_stmt_reset(st);
        if (!rc && id && strcmp(j->r.workflow, s.cand->name) != 0)
            rc = cf_err_set(err, CF_EINVALID, "cases", "case %s runs workflow %s, not %s", id,
                            j->r.workflow, s.cand->name);
        else if (!rc && id && j->r.disposed_at)
            rc = cf_err_set(err, CF_EINVALID, "cases",
                            "case %s was disposed of: its history is erased", id);
        if (!rc && j->r.created_at >= o->since && !(rc = prepare(&s, j, err)))
            rc = submit(p, &s, err);
        else
            job_clear(j);
        cf_engine_progress(e, "workflow simulate", done + 1, total);
    }
    if (st)
        cf_stmt_reset(st);
    free(gpaths);
    /* The rest of the jobs, then the workers' end. */
    pthread_mutex_lock(&p->mu);
    p->finished = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    while (p->counted < p->produced) {
        int crc = count_next(p, &s, rc ? NULL : err); /* the first error is the one told */
        if (!rc)
            rc = crc;
    }
    for (int i = 0; i < p->nw; i++) {
        pthread_join(p->t[i], NULL);
        cf_engine_unbind_free(p->w[i].cand);
    }
    for (size_t k = 0; k < RING; k++)
        job_free(&p->jobs[k]);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
    /* The one audited read: the cases whose divergences the report shows. */
    if (!rc)
        rc = cf_engine_consult_many(e, "workflow simulate", s.cases, "id", err);
    if (!rc && !(*out = result_of(&s, o->path, o->since)))
        rc = nomem(err);
    json_decref(s.roles);
    json_decref(s.cases);
    json_decref(s.by_state);
    cf_engine_unbind_free(s.cand);
    return rc;
}
