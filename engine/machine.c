/*
 * The state machine. A command runs as one "unit": the cases it touches are
 * loaded into memory, the step plugins and workflow functions run against
 * those copies, and every effect they ask for (history, timers, tasks, keys,
 * notifications, audit) is queued as an op. Only when everything has
 * succeeded are the cases and ops written, in one store transaction, with a
 * revision check on every case that already existed. Anything that fails
 * before that point leaves the store untouched by construction; anything
 * that fails while writing is rolled back by SQLite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "integrity.h"
#include "machine.h"

#define MAX_HOPS 32
/* Cases one command may load: the case acted on and those a new referral's
 * keys escalate (common keys, above the policy's limit, load none). */
#define MAX_CASES_PER_UNIT 256

typedef struct mcase {
    cf_case_row row;      /* row.revision: the revision read */
    bool is_new;
    bool touched;         /* changed by this unit: written back */
    cf_wf *wf;            /* borrowed from the engine's cache */
    cf_case_parts parts;  /* its digest's parts as read, then as written */
    int64_t deadline0;    /* deadline_at as read (domain events tell a change) */
    char grade0[32];      /* the grade as read ("" for none) */
    bool emitted;         /* this unit appended domain events to it */
    char *text;           /* the data text written (row.data is not changed after) */
    struct mcase *next;
} mcase;

typedef enum op_kind {
    OP_EVENT,
    OP_TIMER_SET,
    OP_TIMER_CLEAR_STATE,
    OP_TIMER_DEL,
    OP_KEY,
    OP_TASK,
    OP_NOTIFY,
    OP_ERASE,
    OP_TASK_SET, /* n task id, a status, b assignee, j result */
} op_kind;

typedef struct op {
    op_kind kind;
    mcase *c;
    char *a, *b, *d, *f; /* meaning depends on kind */
    int64_t n;
    json_t *j;           /* owned */
    const cf_module *mod;
    const char *action;  /* audit action of an event, when not the unit's */
    const char *actor;   /* who caused it (borrowed; lives as long as the unit) */
    const char *role;
} op;

typedef struct unit {
    cf_engine *e;
    const char *actor;
    const char *role;
    const char *action; /* audit action for this unit's events */
    const char *what;   /* what a refusal names: "referral" or the event */
    int64_t now;
    mcase *cases;
    size_t ncases;
    op *ops;
    size_t nops, capops;
    cf_error *err;
    cf_wf_limits lim;   /* the one wall-time budget of this command's workflow calls */
    const char *timer;  /* the timer this unit fires (tick), or NULL */
    struct cf_sim_case *sim; /* a simulated case (workflow simulate), or NULL */
    const char *sim_roles;   /* with sim: the actor's roles (else e->roles) */
} unit;

struct cf_step {
    unit *u;
    mcase *c;
    cf_wf_state *st;
    char emitted[128];
    bool failed;
    char field[96];
    char msg[320];
};

/* ---- ops -------------------------------------------------------------------- */

static op *push(unit *u, op_kind k, mcase *c)
{
    if (u->nops == u->capops) {
        size_t cap = u->capops ? u->capops * 2 : 16;
        op *n = realloc(u->ops, cap * sizeof *n);
        if (!n)
            return NULL;
        u->ops = n;
        u->capops = cap;
    }
    op *o = &u->ops[u->nops++];
    memset(o, 0, sizeof *o);
    o->kind = k;
    o->c = c;
    o->actor = u->actor;
    o->role = u->role;
    if (k == OP_EVENT)
        c->touched = true; /* every written case carries a history record */
    return o;
}

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void unit_free(unit *u)
{
    for (size_t i = 0; i < u->nops; i++) {
        free(u->ops[i].a);
        free(u->ops[i].b);
        free(u->ops[i].d);
        free(u->ops[i].f);
        json_decref(u->ops[i].j);
    }
    free(u->ops);
    mcase *c = u->cases;
    while (c) {
        mcase *n = c->next;
        if (c->text && !u->sim) {
            /* After the ops: their references into the data are gone. The
             * next read of these bytes, if any, takes the parse from here. */
            cf_data_cache_put(cf_store_data_cache(u->e->store), c->text, c->row.data);
            c->row.data = NULL;
            c->text = NULL;
        }
        free(c->text);
        cf_case_row_clear(&c->row);
        free(c);
        c = n;
    }
    u->ops = NULL;
    u->cases = NULL;
}

static int nomem(unit *u)
{
    return cf_err_set(u->err, CF_ENOMEM, NULL, "out of memory");
}

/* Take back the op just pushed, whose strings could not all be copied: an
 * op with a NULL where a name belongs must never reach the store. For the
 * host functions, whose plugin sees CF_PLUGIN_FAILED. */
static int unpush(unit *u)
{
    op *o = &u->ops[--u->nops];
    free(o->a);
    free(o->b);
    free(o->d);
    free(o->f);
    json_decref(o->j);
    memset(o, 0, sizeof *o);
    return CF_PLUGIN_FAILED;
}

/* ---- the host function table -------------------------------------------------- */

static const json_t *h_get(cf_step *s, const char *path)
{
    return cf_json_path_get(s->c->row.data, path ? path : "");
}

static int h_set(cf_step *s, const char *path, json_t *value)
{
    if (!path || !*path) {
        json_decref(value);
        return CF_PLUGIN_FAILED;
    }
    return cf_json_path_set(s->c->row.data, path, value) == 0 ? 0 : CF_PLUGIN_FAILED;
}

static int h_emit(cf_step *s, const char *event)
{
    snprintf(s->emitted, sizeof s->emitted, "%s", event ? event : "");
    return 0;
}

static int h_task(cf_step *s, const char *role, const char *kind, json_t *detail)
{
    op *o = role && kind ? push(s->u, OP_TASK, s->c) : NULL;
    if (!o) {
        json_decref(detail);
        return CF_PLUGIN_FAILED;
    }
    o->j = detail;
    if (!(o->a = dup0(role)) || !(o->b = dup0(kind)))
        return unpush(s->u);
    return 0;
}

static int h_timer(cf_step *s, const char *event, int64_t due)
{
    op *o = event ? push(s->u, OP_TIMER_SET, s->c) : NULL;
    if (!o)
        return CF_PLUGIN_FAILED;
    o->n = due;
    if (!(o->a = dup0(event)) || !(o->b = dup0(s->st->name)))
        return unpush(s->u);
    return 0;
}

static int h_deadline(cf_step *s, int64_t due)
{
    s->c->row.deadline_at = due > 0 ? due : 0;
    return 0;
}

static int h_key(cf_step *s, const char *kind, const char *value)
{
    if (!kind || !*kind || !value || !*value || strcmp(kind, "ip") == 0)
        return CF_PLUGIN_FAILED; /* a bare IP never identifies anyone */
    op *o = push(s->u, OP_KEY, s->c);
    if (!o)
        return CF_PLUGIN_FAILED;
    if (!(o->a = dup0(kind)) || !(o->b = dup0(value)))
        return unpush(s->u);
    return 0;
}

static int h_notify(cf_step *s, const char *channel, json_t *message)
{
    op *o = channel ? push(s->u, OP_NOTIFY, s->c) : NULL;
    if (!o) {
        json_decref(message);
        return CF_PLUGIN_FAILED;
    }
    o->j = message ? message : json_object();
    if (!o->j || !(o->a = dup0(channel)))
        return unpush(s->u);
    return 0;
}

static void h_log(cf_step *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int h_fail(cf_step *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void h_log(cf_step *s, int level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn"};
    const char *env = getenv("CASEFLOW_LOG");
    if (!env || (level < CF_LOG_WARN && strcmp(env, "debug") != 0))
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* One write per line, naming its plugin: a service's log interleaves
     * many, and the simulator's threads log side by side. */
    fprintf(stderr, "caseflow: %s: plugin \"%s\" on case %s in state \"%s\": %s\n",
            names[level < 0 || level > 2 ? 2 : level], s->st->step ? s->st->step : "?",
            s->c->row.id, s->st->name, text);
}

static int h_fail(cf_step *s, const char *field, const char *fmt, ...)
{
    va_list ap;
    s->failed = true;
    snprintf(s->field, sizeof s->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    return CF_PLUGIN_FAILED;
}

static int64_t h_now(cf_step *s)
{
    return s->u->now;
}

static const char *h_case_id(cf_step *s)
{
    return s->c->row.id;
}

static const char *h_state(cf_step *s)
{
    return s->st->name;
}

static const char *h_actor(cf_step *s)
{
    return s->u->actor;
}

static int h_asset(cf_step *s, const char *name, const char **text, size_t *len)
{
    json_t *assets = json_object_get(s->c->wf->bundle, "assets");
    json_t *v = name ? json_object_get(assets, name) : NULL;
    if (!json_is_string(v))
        return CF_PLUGIN_FAILED;
    *text = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 0;
}

static int h_sha256_hex(const void *data, size_t len, char out[65])
{
    cf_sha256_hex(data, len, out);
    return 0;
}

static int h_time_parse(const char *text, int64_t *utc, int *off)
{
    return cf_time_parse(text, utc, off) == 0 ? 0 : CF_PLUGIN_FAILED;
}

static const cf_host host = {
    .abi = CF_PLUGIN_ABI,
    .size = sizeof(cf_host),
    .get = h_get,
    .set = h_set,
    .emit = h_emit,
    .task = h_task,
    .timer = h_timer,
    .deadline = h_deadline,
    .key = h_key,
    .notify = h_notify,
    .log = h_log,
    .fail = h_fail,
    .now = h_now,
    .case_id = h_case_id,
    .state = h_state,
    .actor = h_actor,
    .asset = h_asset,
    .sha256_hex = h_sha256_hex,
    .time_parse = h_time_parse,
    .time_format = cf_time_format,
};

/* ---- plugin calls, each inside the guard (guard.h) ------------------------------------ */

int cf_machine_plugin_init(const cf_module *m, const cf_wf_state *st, void **ps, char *msg,
                           size_t cap)
{
    cf_guard_begin(CF_GUARD_INIT, m->name, m->desc->version, st->name, NULL, NULL);
    int rc = m->desc->init(&host, st->config, ps, msg, cap);
    cf_guard_end();
    return rc;
}

void cf_machine_plugin_fini(const cf_module *m, const cf_wf_state *st, void *ps)
{
    cf_guard_begin(CF_GUARD_FINI, m->name, m->desc->version, st->name, NULL, NULL);
    m->desc->fini(ps);
    cf_guard_end();
}

static int call_enter(cf_step *s, const char *why)
{
    const cf_module *m = s->st->module;
    cf_guard_begin(CF_GUARD_ENTER, m->name, m->desc->version, s->st->name, why,
                   s->c->row.id);
    int rc = m->desc->enter(&host, s->st->plugin_state, s);
    cf_guard_end();
    return rc;
}

static int call_handle(cf_step *s, const char *event, const json_t *data)
{
    const cf_module *m = s->st->module;
    cf_guard_begin(CF_GUARD_HANDLE, m->name, m->desc->version, s->st->name, event,
                   s->c->row.id);
    int rc = m->desc->handle(&host, s->st->plugin_state, s, event, data);
    cf_guard_end();
    return rc;
}

/* ---- workflow versions and their plugins ----------------------------------------- */

int cf_engine_bind(cf_engine *e, cf_wf *wf, cf_error *err)
{
    cf_loader *l;
    int rc = cf_engine_loader(e, &l, err);
    return rc ? rc : cf_wf_bind_plugins(l, wf, err);
}

int cf_wf_bind_plugins(cf_loader *loader, cf_wf *wf, cf_error *err)
{
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        if (!st->step)
            continue;
        const cf_module *m;
        cf_error lerr;
        cf_err_clear(&lerr);
        if (cf_loader_get(loader, st->step, &m, &lerr))
            return cf_err_set(err, CF_EMISSING, "step",
                              "workflow %s: state \"%s\" needs plugin \"%s\": %s",
                              wf->name, st->name, st->step, lerr.message);
        char msg[256] = "";
        void *ps = NULL;
        if (m->desc->init && cf_machine_plugin_init(m, st, &ps, msg, sizeof msg) < 0) {
            if (m->desc->fini)
                cf_machine_plugin_fini(m, st, ps);
            return cf_err_set(err, CF_EMISSING, "step",
                              "plugin \"%s\" failed to initialise for state \"%s\": %s",
                              st->step, st->name, msg[0] ? msg : "init failed");
        }
        st->module = m;
        st->plugin_state = ps;
    }
    return 0;
}

void cf_engine_unbind_free(cf_wf *wf)
{
    if (!wf)
        return;
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        if (st->module && st->module->desc->fini)
            cf_machine_plugin_fini(st->module, st, st->plugin_state);
        st->module = NULL;
        st->plugin_state = NULL;
        free(st->unbound);
        st->unbound = NULL;
    }
    cf_wf_free(wf);
}

void cf_engine_forget_workflow(cf_engine *e, const char *name, int64_t version)
{
    for (size_t i = 0; i < e->nwfs; i++)
        if (e->wfs[i]->version == version && strcmp(e->wfs[i]->name, name) == 0) {
            cf_engine_unbind_free(e->wfs[i]);
            e->wfs[i] = e->wfs[--e->nwfs];
            return;
        }
}

/* name@version from the engine's cache or the store; with bind, every
 * state bound to its plugin (cf_engine_bind_pinned), else none here. */
static int workflow_get(cf_engine *e, const char *name, int64_t version, bool bind,
                        cf_wf **out, cf_error *err)
{
    for (size_t i = 0; i < e->nwfs; i++)
        if (e->wfs[i]->version == version && strcmp(e->wfs[i]->name, name) == 0) {
            /* A state left unbound is tried again (a long-lived engine sees a
             * plugin installed or repinned since); bound states stay as they
             * are, so nothing in use moves. */
            int rc = bind ? cf_engine_bind_pinned(e, e->wfs[i], err) : 0;
            if (rc)
                return rc;
            *out = e->wfs[i];
            return 0;
        }
    /* The version's row is what its deploy record says: a workflow swapped
     * in the table (with a matching hash) would otherwise run. */
    int rc = cf_integrity_check_workflow(e->store, name, version, err);
    if (rc == CF_EINVALID) {
        char id[160];
        snprintf(id, sizeof id, "%s v%lld", name, (long long)version);
        cf_engine_note_altered(e, "workflow", id, NULL, NULL);
    }
    json_t *bundle;
    char hash[65];
    if (rc || (rc = cf_store_workflow_get_hashed(e->store, name, version, &bundle, hash, err)))
        return rc;
    cf_wf *wf;
    rc = cf_wf_load_hashed(bundle, hash, &wf, err);
    json_decref(bundle);
    if (rc)
        return rc;
    wf->version = version;
    /* Each state's plugin checked against its pin; one that cannot run
     * blocks only its own states (cf_engine_state_ready). */
    if (bind && (rc = cf_engine_bind_pinned(e, wf, err))) {
        cf_engine_unbind_free(wf);
        return rc;
    }
    if (e->nwfs == e->capwfs) {
        size_t cap = e->capwfs ? e->capwfs * 2 : 4;
        cf_wf **n = realloc(e->wfs, cap * sizeof *n);
        if (!n) {
            cf_engine_unbind_free(wf);
            return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        }
        e->wfs = n;
        e->capwfs = cap;
    }
    e->wfs[e->nwfs++] = wf;
    *out = wf;
    return 0;
}

int cf_engine_workflow(cf_engine *e, const char *name, int64_t version, cf_wf **out,
                       cf_error *err)
{
    return workflow_get(e, name, version, true, out, err);
}

int cf_engine_workflow_lazy(cf_engine *e, const char *name, int64_t version, cf_wf **out,
                            cf_error *err)
{
    return workflow_get(e, name, version, false, out, err);
}

/* ---- transitions -------------------------------------------------------------------- */

static int enter(unit *u, mcase *c, cf_wf_state *st, int depth);

/* Can st run now? Its plugin is bound here, on the first command that
 * enters the state or delivers an event there (cf_engine_bind_state: found,
 * hashed against its pin, loaded); a failure refuses as
 * cf_engine_state_ready says. A simulation's workflow is bound in full
 * beforehand, and its threads must not touch the engine's loader. */
static int state_ready(unit *u, mcase *c, cf_wf_state *st)
{
    if (st->step && !st->module && !u->sim) {
        int rc = cf_engine_bind_state(u->e, c->wf, st, u->err);
        if (rc)
            return rc;
    }
    return cf_engine_state_ready(st, u->err);
}

static cf_wf_state *current(mcase *c)
{
    return cf_wf_find_state(c->wf, c->row.state);
}

static int step_failed(unit *u, cf_step *s, const char *what, int rc)
{
    if (s->failed) {
        if (s->field[0])
            return cf_err_set(u->err, CF_EINVALID, s->field, "%s rejected: %s: %s", what,
                              s->field, s->msg);
        return cf_err_set(u->err, CF_EINVALID, NULL, "%s rejected: %s", what, s->msg);
    }
    return cf_err_set(u->err, CF_EINTERNAL, s->st->step,
                      "plugin \"%s\" failed in state \"%s\" (code %d) without a reason",
                      s->st->step, s->st->name, rc);
}

/* A plugin may emit only what it declares: its outcomes (`emits`, which
 * `workflow check` maps and people are kept from sending) or an event it
 * accepts (one a person could have sent anyway). Anything else, say a
 * person's event guarded by roles or four eyes in another state's table,
 * would slip past both: a plugin bug, CF_EINTERNAL, and nothing is kept. */
static int undeclared_emit(unit *u, const cf_step *s)
{
    const cf_plugin *d = s->st->module->desc;
    if (!s->emitted[0] || cf_plugin_emits(d, s->emitted) || cf_plugin_accepts(d, s->emitted))
        return 0;
    return cf_err_set(u->err, CF_EINTERNAL, s->st->step,
                      "plugin \"%s\" emitted \"%s\" in state \"%s\", which it neither emits "
                      "nor accepts by its descriptor", s->st->step, s->emitted, s->st->name);
}

/* The case view a workflow function sees. */
static json_t *case_doc(mcase *c)
{
    char created[32];
    cf_time_format(c->row.created_at, created);
    return json_pack("{s:s, s:s, s:I, s:s, s:O}", "id", c->row.id, "state", c->row.state,
                     "revision", (json_int_t)c->row.revision, "created_at", created,
                     "data", c->row.data);
}

/* Follow the transition for `event` (or the plugin's `outcome`) out of the
 * case's current state, recording it. */
static int take(unit *u, mcase *c, const char *event, const char *outcome,
                const json_t *data, const cf_module *mod, int depth)
{
    cf_wf_state *st = current(c);
    const char *eff = outcome && *outcome ? outcome : event;
    const cf_wf_transition *t = cf_wf_find_transition(st, eff);
    if (!t)
        return cf_err_set(u->err, CF_ESCRIPT, eff,
                          "workflow %s: state \"%s\" has no transition for \"%s\"",
                          c->wf->name, st->name, eff);
    const char *target = t->target;
    if (!target) {
        json_t *cd = case_doc(c);
        json_t *ed = json_pack("{s:s, s:O, s:s, s:s?}", "name", eff, "data",
                               data ? data : json_null(), "actor", u->actor, "role",
                               u->role);
        if (!u->lim.deadline_ms) {
            /* The budget runs from the command's first workflow call: all
             * of its calls share it (store policy workflow_budget_ms). */
            const cf_policies *p = cf_engine_policies(u->e, NULL);
            u->lim.budget_ms = p ? p->workflow_budget_ms : CF_WF_DEFAULT_BUDGET_MS;
            u->lim.deadline_ms = cf_time_monotonic_ms() + u->lim.budget_ms;
        }
        int rc = cd && ed ? cf_wf_resolve_limited(c->wf, t, cd, ed, u->now, &u->lim, &target,
                                                  u->err)
                          : nomem(u);
        json_decref(cd);
        json_decref(ed);
        if (rc) {
            /* The traceback stays out of the one-line message: for --verbose
             * and a service's log (cf_engine_error_detail). */
            const char *tb = rc == CF_ESCRIPT ? cf_wf_error_trace(c->wf) : NULL;
            if (u->sim) /* simulations run on threads of their own: the engine is not theirs */
                return rc;
            free(u->e->trace);
            u->e->trace = tb ? strdup(tb) : NULL;
            return rc;
        }
    }
    op *o = push(u, OP_EVENT, c);
    if (!o)
        return nomem(u);
    bool other = outcome && *outcome && strcmp(outcome, event) != 0;
    if (!(o->a = dup0(event)) || (other && !(o->b = dup0(outcome))) ||
        !(o->d = dup0(st->name)) || !(o->f = dup0(target ? target : st->name)))
        return nomem(u);
    o->j = data && !u->sim ? json_deep_copy(data) : NULL; /* a simulation writes no history */
    o->mod = mod;
    if (!target || strcmp(target, st->name) == 0)
        return 0;
    op *clear = push(u, OP_TIMER_CLEAR_STATE, c);
    if (!clear)
        return nomem(u);
    if (!(clear->b = dup0(st->name)))
        return nomem(u);
    cf_wf_state *next = cf_wf_find_state(c->wf, target);
    if (!next)
        return cf_err_set(u->err, CF_ESCRIPT, target, "workflow %s: no state \"%s\"",
                          c->wf->name, target);
    return enter(u, c, next, depth + 1);
}

static int set_state(mcase *c, const char *name)
{
    char *n = strdup(name);
    if (!n)
        return -1;
    free(c->row.state);
    c->row.state = n;
    return 0;
}

/* MoPI: a case that closes gets its first review date from the retention
 * class of its outcome (workflow config.retention[outcome].review_years, or
 * config.retention.default). */
static void set_review(unit *u, mcase *c)
{
    json_t *classes = json_object_get(c->wf->config, "retention");
    const char *outcome = json_string_value(json_object_get(c->row.data, "outcome"));
    json_t *cls = json_object_get(classes, outcome ? outcome : "default");
    if (!cls)
        cls = json_object_get(classes, "default");
    json_t *years = json_object_get(cls, "review_years");
    if (json_is_number(years) && json_number_value(years) > 0)
        c->row.review_at = u->now + (int64_t)(json_number_value(years) * 365.25 * 86400);
}

static int enter(unit *u, mcase *c, cf_wf_state *st, int depth)
{
    if (depth > MAX_HOPS)
        return cf_err_set(u->err, CF_ESCRIPT, st->name,
                          "workflow %s: more than %d automatic transitions (a loop?)",
                          c->wf->name, MAX_HOPS);
    if (set_state(c, st->name))
        return nomem(u);
    if (st->timer_secs > 0) {
        op *o = push(u, OP_TIMER_SET, c);
        if (!o)
            return nomem(u);
        o->n = u->now + st->timer_secs;
        if (!(o->a = dup0(st->timer_event)) || !(o->b = dup0(st->name)))
            return nomem(u);
    }
    if (st->deadline_secs > 0)
        c->row.deadline_at = u->now + st->deadline_secs;
    if (st->final)
        set_review(u, c);
    int brc = state_ready(u, c, st);
    if (brc)
        return brc;
    if (!st->module || !st->module->desc->enter)
        return 0;
    cf_step s = {.u = u, .c = c, .st = st};
    int rc = call_enter(&s, u->what);
    if (rc < 0 || s.failed)
        return step_failed(u, &s, u->what, rc);
    if ((rc = undeclared_emit(u, &s)))
        return rc;
    if (!s.emitted[0])
        return 0;
    return take(u, c, s.emitted, NULL, NULL, st->module, depth);
}

/* ---- roles ---------------------------------------------------------------------------- */

static const char *pick_role(const char *roles, char **allowed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cf_list_has(roles, allowed[i]))
            return allowed[i];
    return NULL;
}

static void join(char *out, size_t cap, char **items, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", items[i]);
}

static int sim_last_actor(struct cf_sim_case *sc, const char *event, char **actor,
                          cf_error *err);

/* May this person send this event now? Fills u->role. */
static int authorise(unit *u, mcase *c, cf_wf_state *st, const cf_wf_transition *t,
                     const char *event)
{
    if (t->system)
        return cf_err_set(u->err, CF_EDENIED, event,
                          "%s: only the engine raises this event", event);
    char **roles = t->nroles ? t->roles : st->roles;
    size_t n = t->nroles ? t->nroles : st->nroles;
    u->role = pick_role(u->sim ? u->sim_roles : u->e->roles, roles, n);
    if (!u->role) {
        char list[160];
        join(list, sizeof list, roles, n);
        return cf_err_set(u->err, CF_EDENIED, "role",
                          "%s may not send %s on case %s (needs role: %s)", u->actor,
                          event, c->row.id, n ? list : "none may");
    }
    if (!t->four_eyes)
        return 0;
    char *prior = NULL;
    int rc = u->sim ? sim_last_actor(u->sim, t->four_eyes, &prior, u->err)
                    : cf_store_event_last_actor(u->e->store, c->row.id, t->four_eyes, &prior,
                                                u->err);
    if (rc)
        return rc;
    if (!prior || strcmp(prior, u->actor) == 0)
        rc = cf_err_set(u->err, CF_EDENIED, "four_eyes",
                        "four-eyes rule: %s on case %s must follow %s sent by someone else",
                        event, c->row.id, t->four_eyes);
    free(prior);
    return rc;
}

/* ---- outcomes: the plugin's alone --------------------------------------------------------- */

/*
 * A person's (or caller's) event that the state's plugin emits and does not
 * accept is the plugin's outcome: only the plugin sends it, or someone
 * holding a role the transition's `manual` names. An event the plugin also
 * accepts is one it sets a timer for (the warrant's expiry), not a decision.
 * *by_hand: a permitted hand-sent outcome (its history then names no plugin,
 * for the plugin decided nothing). CF_EDENIED otherwise, nothing changed.
 */
static int outcome_by_hand(unit *u, const cf_wf_state *st, const cf_wf_transition *t,
                           const char *event, bool *by_hand)
{
    *by_hand = false;
    const cf_module *mod = st->module;
    if (!mod || !cf_plugin_emits(mod->desc, event) || cf_plugin_accepts(mod->desc, event))
        return 0;
    const char *held = u->sim ? u->sim_roles : u->e->roles, *role = NULL;
    char **allowed = t->nroles ? t->roles : st->roles;
    size_t nallowed = t->nroles ? t->nroles : st->nroles;
    /* The record names the role that allows it by hand: one the role
     * check allows as well when the sender has such. */
    for (size_t i = 0; i < t->nmanual; i++) {
        if (!cf_list_has(held, t->manual[i]))
            continue;
        if (!role)
            role = t->manual[i];
        bool also = false;
        for (size_t j = 0; j < nallowed && !also; j++)
            also = strcmp(allowed[j], t->manual[i]) == 0;
        if (also) {
            role = t->manual[i];
            break;
        }
    }
    if (role) {
        u->role = role;
        *by_hand = true;
        return 0;
    }
    if (!t->nmanual)
        return cf_err_set(u->err, CF_EDENIED, "event",
                          "event \"%s\" is an outcome of plugin \"%s\" in state \"%s\": only "
                          "the plugin sends it", event, mod->desc->name, st->name);
    char list[160];
    join(list, sizeof list, t->manual, t->nmanual);
    return cf_err_set(u->err, CF_EDENIED, "role",
                      "event \"%s\" is an outcome of plugin \"%s\" in state \"%s\": only the "
                      "plugin sends it, or by hand a person with role: %s", event,
                      mod->desc->name, st->name, list);
}

/* ---- delivering events ------------------------------------------------------------------- */

static int deliver(unit *u, mcase *c, const char *event, const json_t *data, bool system)
{
    cf_wf_state *st = current(c);
    if (!st)
        return cf_err_set(u->err, CF_ESCRIPT, "state",
                          "case %s is in state \"%s\", which workflow %s v%lld lacks",
                          c->row.id, c->row.state, c->wf->name, (long long)c->wf->version);
    /* A state whose plugin is missing or not the pinned build takes no
     * event (other states of the workflow are not held up by it). */
    int brc = state_ready(u, c, st);
    if (brc)
        return brc;
    /* A refusal names the rule, not the case's state: the state is case
     * data, which a person reads (with a reason, audited) through show. */
    const cf_wf_transition *t = st->final ? NULL : cf_wf_find_transition(st, event);
    if (!t)
        return cf_err_set(u->err, CF_EINVALID, "event",
                          "case %s does not take event %s now (caseflow show %s tells what "
                          "it takes)",
                          c->row.id, event, c->row.id);
    bool by_hand = false;
    if (!system) {
        int rc = authorise(u, c, st, t, event);
        if (!rc)
            rc = outcome_by_hand(u, st, t, event, &by_hand);
        if (rc)
            return rc;
    }
    /* Declared event data is checked before any plugin or guard sees it. */
    int drc = cf_wf_event_data_check(t, event, data, u->err);
    if (drc)
        return drc;
    json_t *none = NULL;
    if (!data) {
        data = none = json_object();
        if (!none)
            return nomem(u);
    }
    const cf_module *mod = by_hand ? NULL : st->module;
    cf_step s = {.u = u, .c = c, .st = st};
    if (mod && mod->desc->handle && cf_plugin_accepts(mod->desc, event)) {
        int rc = call_handle(&s, event, data);
        if (rc < 0 || s.failed) {
            json_decref(none);
            return step_failed(u, &s, event, rc);
        }
        if ((rc = undeclared_emit(u, &s))) {
            json_decref(none);
            return rc;
        }
    }
    int rc = take(u, c, event, s.emitted, none ? NULL : data, mod, 0);
    json_decref(none);
    return rc;
}

/* ---- cases in a unit ----------------------------------------------------------------------- */

/* The case's grade: the string at the workflow's config.report.grade data
 * path (default "risk.grade"), or "" (borrowed). */
static const char *grade_of(const mcase *c)
{
    const json_t *rep = c->wf ? json_object_get(c->wf->config, "report") : NULL;
    const char *path = json_string_value(json_object_get(rep, "grade"));
    const char *g = json_string_value(cf_json_path_get(c->row.data, path ? path : "risk.grade"));
    return g ? g : "";
}

static int load_case(unit *u, const char *id, mcase **out)
{
    for (mcase *c = u->cases; c; c = c->next)
        if (strcmp(c->row.id, id) == 0) {
            *out = c;
            return 0;
        }
    if (u->ncases >= MAX_CASES_PER_UNIT)
        return cf_err_set(u->err, CF_EINVALID, "links",
                          "one command may touch at most %d cases", MAX_CASES_PER_UNIT);
    mcase *c = calloc(1, sizeof *c);
    if (!c)
        return nomem(u);
    /* Nothing is built on a case whose rows are not what the chain holds:
     * otherwise this command's digest would launder the edit. */
    cf_engine *e = u->e;
    int rc = cf_store_case_get_hashed(e->store, id, &c->row, c->parts.part[0], u->err);
    char found[65], recorded[65];
    if (!rc && (rc = cf_integrity_check_case_parts(e->store, id, &c->parts, true, found,
                                                   recorded, u->err)) == CF_EINVALID)
        cf_engine_note_altered(e, "case", id, found, recorded);
    if (!rc)
        rc = cf_engine_workflow_lazy(u->e, c->row.workflow, c->row.version, &c->wf, u->err);
    if (rc) {
        cf_case_row_clear(&c->row);
        free(c);
        return rc;
    }
    c->deadline0 = c->row.deadline_at;
    snprintf(c->grade0, sizeof c->grade0, "%s", grade_of(c));
    c->next = u->cases;
    u->cases = c;
    u->ncases++;
    *out = c;
    return 0;
}

/* Append id to data.links once. */
static int add_link(mcase *c, const char *id)
{
    json_t *links = json_object_get(c->row.data, "links");
    if (!json_is_array(links)) {
        links = json_array();
        if (json_object_set_new(c->row.data, "links", links))
            return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(links, i, v) if (json_is_string(v) &&
                                        strcmp(json_string_value(v), id) == 0) return 0;
    return json_array_append_new(links, json_string(id));
}

/* Record in the case that key (kind, value) is common: held by `held`
 * other cases, so it links none of them. */
static int note_common(mcase *c, const char *kind, const char *value, int64_t held)
{
    json_t *common = json_object_get(c->row.data, "common_keys");
    if (!json_is_array(common)) {
        common = json_array();
        if (json_object_set_new(c->row.data, "common_keys", common))
            return -1;
    }
    return json_array_append_new(common, json_pack("{s:s, s:s, s:I}", "kind", kind, "value",
                                                   value, "cases", (json_int_t)held));
}

/* Does case id's current state take repeat_referral? A light look-up: most
 * cases sharing a key are closed or elsewhere and need not be loaded. */
static int takes_repeat(unit *u, const char *id, bool *takes)
{
    for (mcase *c = u->cases; c; c = c->next)
        if (strcmp(c->row.id, id) == 0) {
            cf_wf_state *st = current(c);
            *takes = st && !st->final && cf_wf_find_transition(st, "repeat_referral");
            return 0;
        }
    /* Whether the other case escalates is decided from its state: a state
     * edited to "closed" behind the engine's back must not quietly stop it. */
    char found[65], recorded[65];
    int rc = cf_integrity_check_case(u->e->store, id, found, recorded, u->err);
    if (rc == CF_EINVALID)
        cf_engine_note_altered(u->e, "case", id, found, recorded);
    char *state = NULL, *wfname = NULL;
    int64_t version = 0;
    if (!rc)
        rc = cf_store_case_state(u->e->store, id, &state, &wfname, &version, u->err);
    cf_wf *wf;
    if (!rc)
        rc = cf_engine_workflow_lazy(u->e, wfname, version, &wf, u->err);
    if (!rc) {
        cf_wf_state *st = cf_wf_find_state(wf, state);
        *takes = st && !st->final && cf_wf_find_transition(st, "repeat_referral");
    }
    free(state);
    free(wfname);
    return rc;
}

/* Keys this unit added that another case already holds: link the cases and
 * hand `repeat_referral` to every one whose state takes it. Runs until no new
 * keys appear (delivery may add more). */
static int correlate(unit *u)
{
    for (size_t i = 0; i < u->nops; i++) {
        if (u->ops[i].kind != OP_KEY)
            continue;
        mcase *c = u->ops[i].c;
        char *kind = u->ops[i].a, *value = u->ops[i].b;
        const cf_policies *pol = cf_engine_policies(u->e, u->err);
        if (!pol)
            return u->err ? u->err->code : CF_EINVALID;
        /* A key most cases share (a widely circulated image) tells nothing
         * about a person: it is noted, with its count, and links nothing.
         * Intake never fails because a key is common. */
        int64_t held = 0;
        json_t *ids = NULL;
        /* One look-up for the usual key, held by few or no other cases. */
        int rc = cf_store_key_peers(u->e->store, kind, value, c->row.id,
                                    pol->common_key_limit, &held, &ids, u->err);
        if (rc)
            return rc;
        if (held > pol->common_key_limit) {
            json_decref(ids);
            if (note_common(c, kind, value, held))
                return nomem(u);
            continue;
        }
        /* The same file hash is the same material, not the same person:
         * it links for intelligence and never escalates. */
        bool escalates = strcmp(kind, "hash") != 0;
        size_t j;
        json_t *idv;
        json_array_foreach(ids, j, idv)
        {
            const char *oid = json_string_value(idv);
            bool takes = false;
            if (escalates && (rc = takes_repeat(u, oid, &takes)))
                break;
            if (!takes) {
                /* Intelligence only: the other case is not touched (nor
                 * loaded, nor counted), whatever its number. */
                if (add_link(c, oid))
                    rc = nomem(u);
                if (rc)
                    break;
                continue;
            }
            mcase *o;
            if ((rc = load_case(u, oid, &o)))
                break;
            json_t *linked = cf_json_path_get(o->row.data, "links");
            bool already = false;
            size_t k;
            json_t *lv;
            json_array_foreach(linked, k, lv) if (json_is_string(lv) &&
                                                  strcmp(json_string_value(lv),
                                                         c->row.id) == 0) already = true;
            if (already)
                continue;
            if (add_link(c, o->row.id) || add_link(o, c->row.id)) {
                rc = nomem(u);
                break;
            }
            json_t *d = json_pack("{s:s, s:{s:s, s:s}}", "case", c->row.id, "key", "kind",
                                  kind, "value", value);
            /* The engine, not the person who referred, raises it. */
            const char *saved_actor = u->actor, *saved_role = u->role;
            u->actor = "engine";
            u->role = "system";
            rc = d ? deliver(u, o, "repeat_referral", d, true) : nomem(u);
            u->actor = saved_actor;
            u->role = saved_role;
            json_decref(d);
            if (rc)
                break;
        }
        json_decref(ids);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- writing a unit ----------------------------------------------------------------------- */

/* Order matters: case rows first (their revision check decides whether
 * anything is written), then the side effects (timers, tasks, keys,
 * notifications, erasures), then each case's digest over what is now
 * stored, then the history records with their audit records, the last one
 * of each case carrying that digest (integrity.h). */

/* The seq of the task just opened on PostgreSQL, which has no last insert
 * rowid: the writer gave it max(seq) + 1 under the store's write lock, so it
 * is max(seq) now. On an error *rc is set and 0 returned. */
static int64_t last_task_seq(cf_store *s, int *rc, cf_error *err)
{
    static const char sql[] = "SELECT max(seq) FROM tasks";
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st) {
        *rc = err ? err->code : CF_EIO;
        return 0;
    }
    int src = cf_stmt_step(st);
    int64_t seq = src == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    if (src != CF_DB_ROW) {
        *rc = cf_store_error(s, src, "read task", err);
        return 0;
    }
    return seq;
}

static int write_side_op(unit *u, op *o)
{
    cf_store *s = u->e->store;
    const char *id = o->c->row.id;
    char *text = NULL;
    int rc = 0;
    switch (o->kind) {
    case OP_EVENT:
        break;
    case OP_TIMER_SET:
        rc = cf_store_timer_set(s, id, o->a, o->b, o->n, u->err);
        break;
    case OP_TIMER_CLEAR_STATE:
        rc = cf_store_timer_clear_state(s, id, o->b, u->err);
        break;
    case OP_TIMER_DEL:
        rc = cf_store_timer_delete(s, id, o->a, u->err);
        break;
    case OP_KEY:
        rc = cf_store_key_add(s, o->a, o->b, id, u->err);
        break;
    case OP_TASK:
        text = o->j ? cf_json_canonical(o->j) : NULL;
        rc = cf_store_task_add(s, id, o->a, o->b, text, u->now, u->err);
        o->n = rc ? 0 : cf_store_is_pg(s) ? last_task_seq(s, &rc, u->err)
                                          : cf_store_last_insert_id(s);
        break;
    case OP_NOTIFY:
        text = cf_json_canonical(o->j);
        rc = text ? cf_store_notify_add(s, id, o->a, text, u->now, u->err) : nomem(u);
        break;
    case OP_ERASE:
        rc = cf_store_case_erase(s, id, u->err);
        break;
    case OP_TASK_SET:
        text = o->j ? cf_json_canonical(o->j) : NULL;
        rc = cf_store_task_set(s, o->n, o->a, o->b, strcmp(o->a, "done") == 0 ? u->now : 0,
                               text, u->err);
        break;
    }
    free(text);
    return rc;
}

/* The audit action of a history record: the unit's, except that what a
 * referral's correlation does to another, existing case is a change to it,
 * not a collection. */
static const char *event_action(const unit *u, const op *o)
{
    if (o->action)
        return o->action;
    if (strcmp(u->action, "collection") == 0 && !o->c->is_new)
        return "change";
    return u->action;
}

static int write_event(unit *u, op *o, const char *case_sha)
{
    char *data = o->j ? cf_json_canonical(o->j) : NULL;
    char dsha[65];
    if (data)
        cf_sha256_hex(data, strlen(data), dsha);
    cf_event_fields f = {
        .case_id = o->c->row.id, .at = u->now, .actor = o->actor, .role = o->role,
        .event = o->a, .outcome = o->b, .from = o->d, .to = o->f,
        .data_sha256 = data ? dsha : NULL,
        .plugin = o->mod ? o->mod->desc->name : NULL,
        .plugin_version = o->mod ? o->mod->desc->version : NULL,
        .plugin_sha256 = o->mod ? o->mod->sha256 : NULL, .case_sha256 = case_sha};
    char *payload = cf_integrity_event_payload(&f);
    int64_t seq = 0;
    int rc = payload ? cf_audit_append(u->e->store, u->now, o->actor, o->role,
                                       event_action(u, o), o->c->row.id,
                                       u->e->reason, payload, &seq, u->err)
                     : nomem(u);
    if (!rc)
        rc = cf_store_event_add(u->e->store, &f, data, seq, u->err);
    free(payload);
    free(data);
    return rc;
}

static bool last_event_of(unit *u, size_t i)
{
    for (size_t k = i + 1; k < u->nops; k++)
        if (u->ops[k].kind == OP_EVENT && u->ops[k].c == u->ops[i].c)
            return false;
    return true;
}

/* The side tables of case c that this unit's ops change (CF_PART_*). */
static unsigned touched_parts(const unit *u, const mcase *c)
{
    unsigned m = c->is_new ? CF_PART_ALL & ~CF_PART_ROW : 0;
    if (c->emitted)
        m |= CF_PART_NOTES;
    for (size_t k = 0; k < u->nops; k++) {
        const op *o = &u->ops[k];
        if (o->c != c)
            continue;
        switch (o->kind) {
        case OP_TIMER_SET:
        case OP_TIMER_CLEAR_STATE:
        case OP_TIMER_DEL:
            m |= CF_PART_TIMERS;
            break;
        case OP_TASK:
        case OP_TASK_SET:
            m |= CF_PART_TASKS;
            break;
        case OP_KEY:
            m |= CF_PART_KEYS;
            break;
        case OP_NOTIFY:
            m |= CF_PART_NOTES;
            break;
        case OP_ERASE:
            m |= CF_PART_ALL & ~CF_PART_ROW;
            break;
        case OP_EVENT:
            break;
        }
    }
    return m;
}

/* The digest of case c as this unit leaves it: the row part from what was
 * written, the side tables it touched read again, the rest as read. */
static int case_digest_after(unit *u, mcase *c, char out[65])
{
    unsigned m = touched_parts(u, c);
    int rc = 0;
    bool erased = false;
    for (size_t k = 0; k < u->nops; k++)
        erased |= u->ops[k].kind == OP_ERASE && u->ops[k].c == c;
    /* Notifications are only ever added by a unit (an erasure aside): the
     * rows read when the case was loaded, in this transaction, are hashed
     * already; hash on from there over the new ones. */
    if ((m & CF_PART_NOTES) && !c->is_new && !erased) {
        rc = cf_integrity_case_notes_added(u->e->store, c->row.id, &c->parts, u->err);
        m &= ~(unsigned)CF_PART_NOTES;
    }
    if (!rc)
        rc = cf_integrity_case_parts(u->e->store, c->row.id, m, &c->parts, u->err);
    if (!rc)
        cf_integrity_case_combine(&c->parts, out);
    return rc;
}

/* ---- domain events ------------------------------------------------------------------------ */

/* Domain events are rows of `notifications` (type in `channel`, data in
 * `payload`), written with the change in its transaction and covered by the
 * case's digest; the change feed (feed.c) reads them in commit order. */
static int emit(unit *u, mcase *c, const char *type, json_t *data)
{
    if (!data)
        return nomem(u);
    char *text = cf_json_canonical(data);
    json_decref(data);
    int rc = text ? cf_store_notify_add(u->e->store, c->row.id, type, text, u->now, u->err)
                  : nomem(u);
    free(text);
    c->emitted = true;
    return rc;
}

static bool is_final(const mcase *c, const char *state)
{
    const cf_wf_state *st = state ? cf_wf_find_state(c->wf, state) : NULL;
    return st && st->final;
}

/* What this unit did to each case, as domain events, in the order it did it. */
static int emit_events(unit *u)
{
    int rc = 0;
    for (size_t k = 0; k < u->nops && !rc; k++) {
        op *o = &u->ops[k];
        mcase *c = o->c;
        switch (o->kind) {
        case OP_EVENT:
            if (!o->d)
                rc = emit(u, c, "case.created",
                          json_pack("{s:s, s:I, s:s, s:s, s:s}", "workflow", c->row.workflow,
                                    "version", (json_int_t)c->row.version, "state", o->f,
                                    "source", c->row.source, "reference", c->row.reference));
            else if (strcmp(o->d, o->f) != 0)
                rc = emit(u, c, "case.state_changed",
                          json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "event", o->a, "from", o->d,
                                    "to", o->f, "outcome", o->b, "role", o->role));
            if (!rc && strcmp(o->a, "deadline.missed") == 0 && o->j)
                rc = emit(u, c, "deadline.missed", json_deep_copy(o->j));
            if (!rc && u->timer && strcmp(o->a, u->timer) == 0)
                rc = emit(u, c, "timer.fired",
                          json_pack("{s:s, s:s?}", "timer", o->a, "state", o->d));
            if (!rc && strcmp(o->a, "workflow.migrated") == 0)
                rc = emit(u, c, "case.migrated",
                          json_pack("{s:s, s:s, s:O?, s:I}", "from", o->d, "to", o->f,
                                    "from_version", json_object_get(o->j, "from_version"),
                                    "to_version", (json_int_t)c->row.version));
            if (!rc && strcmp(o->a, "repeat_referral") == 0 && o->d)
                rc = emit(u, c, "case.escalated",
                          json_pack("{s:s, s:s, s:O?}", "from", o->d, "to", o->f, "by",
                                    json_object_get(o->j, "case")));
            if (!rc && is_final(c, o->f) && !(o->d && is_final(c, o->d)))
                rc = emit(u, c, "case.closed",
                          json_pack("{s:s, s:s?}", "state", o->f, "outcome", o->b));
            break;
        case OP_TASK:
            rc = emit(u, c, "task.opened",
                      json_pack("{s:I, s:s, s:s}", "task", (json_int_t)o->n, "kind", o->b,
                                "role", o->a));
            break;
        case OP_ERASE:
            rc = emit(u, c, "retention.disposed", json_object());
            break;
        case OP_TASK_SET:
            rc = emit(u, c, strcmp(o->a, "done") == 0 ? "task.closed" : "task.claimed",
                      json_pack("{s:I, s:s, s:s, s:O?}", "task", (json_int_t)o->n, "status",
                                o->a, "by", o->b, "result", o->j));
            break;
        default:
            break;
        }
    }
    for (mcase *c = u->cases; c && !rc; c = c->next) {
        if (!c->touched)
            continue;
        const char *g = grade_of(c);
        if (*g && strcmp(g, c->grade0) != 0)
            rc = emit(u, c, "case.graded",
                      json_pack("{s:s, s:s?}", "grade", g, "previous",
                                c->grade0[0] ? c->grade0 : NULL));
        if (!rc && c->row.deadline_at > 0 && c->row.deadline_at != c->deadline0) {
            char when[32];
            cf_time_format(c->row.deadline_at, when);
            rc = emit(u, c, "case.deadline_set",
                      json_pack("{s:s, s:I, s:s?}", "deadline", when, "deadline_at",
                                (json_int_t)c->row.deadline_at, "grade", *g ? g : NULL));
        }
    }
    return rc;
}

static int write_unit(unit *u)
{
    int rc = 0;
    for (mcase *c = u->cases; c && !rc; c = c->next) {
        if (!c->touched)
            continue;
        char *data = cf_json_canonical(c->row.data);
        if (!data)
            return nomem(u);
        c->row.updated_at = u->now;
        rc = c->is_new ? cf_store_case_insert(u->e->store, &c->row, data, u->err)
                       : cf_store_case_update(u->e->store, &c->row, data, u->err);
        if (!rc)
            cf_integrity_row_part(&c->row, c->is_new ? c->row.revision : c->row.revision + 1,
                                  data, c->parts.part[0]);
        /* kept with the data for the cache (unit_free): nothing changes
         * row.data once it is written */
        free(c->text);
        c->text = data;
    }
    for (size_t k = 0; k < u->nops && !rc; k++)
        rc = write_side_op(u, &u->ops[k]);
    if (!rc)
        rc = emit_events(u);
    for (size_t k = 0; k < u->nops && !rc; k++) {
        op *o = &u->ops[k];
        if (o->kind != OP_EVENT)
            continue;
        char sha[65];
        bool last = last_event_of(u, k);
        if (last && (rc = case_digest_after(u, o->c, sha)))
            break;
        rc = write_event(u, o, last ? sha : NULL);
    }
    return rc;
}

/* The result object of a command on case c. */
static json_t *result_of(mcase *c, const char *previous)
{
    return json_pack("{s:s, s:s, s:I, s:s?}", "id", c->row.id, "state", c->row.state,
                     "revision", (json_int_t)(c->is_new ? 1 : c->row.revision + 1),
                     "previous_state", previous);
}

/* ---- refer ------------------------------------------------------------------------------- */

static int required_string(const json_t *r, const char *name, const char **out,
                           cf_error *err)
{
    json_t *v = json_object_get(r, name);
    if (!v)
        return cf_err_set(err, CF_EINVALID, name, "referral rejected: %s: required", name);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return cf_err_set(err, CF_EINVALID, name,
                          "referral rejected: %s: must be a non-empty string", name);
    if (json_string_length(v) > 200)
        return cf_err_set(err, CF_EINVALID, name,
                          "referral rejected: %s: longer than 200 characters", name);
    *out = json_string_value(v);
    return 0;
}

int cf_machine_refer(cf_engine *e, cf_wf *wf, const json_t *referral, const char *role,
                     json_t **out, cf_error *err)
{
    const char *source, *reference;
    *out = NULL;
    if (!json_is_object(referral))
        return cf_err_set(err, CF_EINVALID, "referral",
                          "referral rejected: not a JSON object");
    int rc = required_string(referral, "source", &source, err);
    if (!rc)
        rc = required_string(referral, "reference", &reference, err);
    if (rc)
        return rc;
    char *id = NULL, *state = NULL;
    if ((rc = cf_store_case_by_ref(e->store, source, reference, &id, &state, err)))
        return rc;
    if (id) {
        /* Already known: the same case again. Its state is case data: told
         * (and recorded as read) only to a caller who may read it. */
        cf_error rerr;
        bool may_read = cf_engine_require_reason(e, &rerr) == 0;
        json_t *p = may_read ? json_pack("{s:s, s:s}", "read", "repeated referral", "case", id)
                             : NULL;
        char *text = p ? cf_json_canonical(p) : NULL;
        json_decref(p);
        if (may_read)
            rc = text ? cf_audit_append(e->store, cf_engine_now(e), e->actor, role,
                                        "consultation", id, e->reason, text, NULL, err)
                      : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        free(text);
        if (!rc)
            *out = json_pack("{s:s, s:s?, s:b}", "id", id, "state", may_read ? state : NULL,
                             "created", 0);
        free(id);
        free(state);
        return rc ? rc : *out ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    unit u = {.e = e, .actor = e->actor, .role = role, .action = "collection",
              .what = "referral", .now = cf_engine_now(e), .err = err};
    mcase *c = calloc(1, sizeof *c);
    if (!c)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    u.cases = c;
    u.ncases = 1;
    c->is_new = true;
    c->wf = wf;
    char idbuf[32];
    rc = cf_store_case_next_seq(e->store, &c->row.seq, err);
    if (rc)
        goto out;
    snprintf(idbuf, sizeof idbuf, "CF-%06lld", (long long)c->row.seq);
    c->row.id = strdup(idbuf);
    c->row.source = strdup(source);
    c->row.reference = strdup(reference);
    c->row.workflow = strdup(wf->name);
    c->row.version = wf->version;
    c->row.revision = 1;
    c->row.created_at = u.now;
    c->row.data = json_pack("{s:O}", "referral", referral);
    cf_wf_state *init = cf_wf_find_state(wf, wf->initial);
    if (!c->row.id || !c->row.source || !c->row.reference || !c->row.workflow ||
        !c->row.data || set_state(c, wf->initial)) {
        rc = nomem(&u);
        goto out;
    }
    if (!init) {
        rc = cf_err_set(err, CF_ESCRIPT, "initial", "workflow %s: no initial state",
                        wf->name);
        goto out;
    }
    /* The receipt itself is the case's first history record. */
    op *o = push(&u, OP_EVENT, c);
    if (!o || !(o->a = strdup("referral.received")) || !(o->f = strdup(wf->initial))) {
        rc = nomem(&u);
        goto out;
    }
    if ((rc = enter(&u, c, init, 0)) || (rc = correlate(&u)) || (rc = write_unit(&u)))
        goto out;
    *out = json_pack("{s:s, s:s, s:b}", "id", c->row.id, "state", c->row.state,
                     "created", 1);
    if (!*out)
        rc = nomem(&u);
out:
    unit_free(&u);
    return rc;
}

/* ---- act and tick ------------------------------------------------------------------------ */

int cf_machine_act(cf_engine *e, const char *case_id, const char *event,
                   const json_t *data, int64_t expect_revision, bool system,
                   const char *timer_event, json_t **out, cf_error *err)
{
    if (out)
        *out = NULL;
    free(e->trace); /* the detail of this command's failure only */
    e->trace = NULL;
    /* The whole act runs inside the write transaction: what correlation
     * reads of other cases' keys cannot change under it. A concurrent
     * writer waits (busy timeout); --revision still detects a stale read.
     * The clock is read once the lock is held, so records follow each other
     * in time. The actor is rechecked under the lock. */
    const int depth0 = cf_store_depth(e->store);
    int rc = system ? cf_store_begin(e->store, err) : cf_engine_begin_checked(e, err);
    if (rc)
        return rc;
    unit u = {.e = e, .actor = system ? "engine" : e->actor, .role = system ? "system" : NULL,
              .action = "change", .what = event, .now = cf_engine_now(e), .err = err,
              .timer = timer_event};
    mcase *c = NULL;
    if ((rc = load_case(&u, case_id, &c)))
        goto out;
    if (expect_revision >= 0 && c->row.revision != expect_revision) {
        /* Which revision it is at is case data: read with show (audited). */
        rc = cf_err_set(err, CF_ECONFLICT, "revision",
                        "case %s is not at revision %lld; re-read it and retry", case_id,
                        (long long)expect_revision);
        goto out;
    }
    char *previous = strdup(c->row.state);
    if (!previous) {
        rc = nomem(&u);
        goto out;
    }
    if (timer_event) {
        /* Another tick may have fired it while this one waited for the
         * lock: then there is nothing to do. */
        int64_t due = 0;
        int trc = cf_store_timer_get(e->store, case_id, timer_event, &due, err);
        if (trc == CF_ENOTFOUND || (!trc && due > u.now))
            trc = cf_err_set(err, CF_ENOTFOUND, "timer", "timer %s of case %s fired already",
                             timer_event, case_id);
        op *o = trc ? NULL : push(&u, OP_TIMER_DEL, c);
        if (!trc && (!o || !(o->a = strdup(timer_event))))
            trc = nomem(&u);
        if (trc) {
            free(previous);
            rc = trc;
            goto out;
        }
    }
    rc = deliver(&u, c, event, data, system);
    if (!rc)
        rc = correlate(&u);
    if (!rc)
        rc = write_unit(&u);
    if (!rc)
        rc = cf_store_commit(e->store, err);
    if (!rc && out && !(*out = result_of(c, previous)))
        rc = nomem(&u);
    free(previous);
out:
    if (cf_store_depth(e->store) > depth0) /* not committed: undo it (a batch's savepoint) */
        cf_store_rollback(e->store);
    unit_free(&u);
    if (rc)
        cf_engine_flush_alarm(e);
    return rc;
}

int cf_machine_drop_timer(cf_engine *e, const char *case_id, const char *event,
                          cf_error *err)
{
    const int depth0 = cf_store_depth(e->store);
    int rc = cf_store_begin(e->store, err);
    if (rc)
        return rc;
    unit u = {.e = e, .actor = "engine", .role = "system", .action = "change",
              .what = "timer.dropped", .now = cf_engine_now(e), .err = err};
    mcase *c;
    int64_t due;
    if ((rc = cf_store_timer_get(e->store, case_id, event, &due, err)) == CF_ENOTFOUND) {
        rc = 0; /* gone already */
        goto out;
    }
    if (rc || (rc = load_case(&u, case_id, &c)))
        goto out;
    /* Timers are part of the case: dropping one is a change in its history. */
    op *x = push(&u, OP_TIMER_DEL, c), *o = x ? push(&u, OP_EVENT, c) : NULL;
    if (!o || !(x->a = strdup(event)) || !(o->a = strdup("timer.dropped")) ||
        !(o->d = strdup(c->row.state)) || !(o->f = strdup(c->row.state)) ||
        !(o->j = json_pack("{s:s, s:s}", "timer", event, "why",
                           "the case's state no longer takes it"))) {
        rc = nomem(&u);
        goto out;
    }
    if (!(rc = write_unit(&u)))
        rc = cf_store_commit(e->store, err);
out:
    if (cf_store_depth(e->store) > depth0) /* not committed: undo it (a batch's savepoint) */
        cf_store_rollback(e->store);
    unit_free(&u);
    if (rc)
        cf_engine_flush_alarm(e);
    return rc;
}

/* ---- deadlines ---------------------------------------------------------------------------- */

int cf_machine_deadline_missed(cf_engine *e, const char *case_id, json_t **out, cf_error *err)
{
    if (out)
        *out = NULL;
    const int depth0 = cf_store_depth(e->store);
    int rc = cf_store_begin(e->store, err);
    if (rc)
        return rc;
    unit u = {.e = e, .actor = "engine", .role = "system", .action = "change",
              .what = "deadline.missed", .now = cf_engine_now(e), .err = err};
    mcase *c;
    char when[32];
    if ((rc = load_case(&u, case_id, &c)))
        goto out;
    cf_time_format(c->row.deadline_at, when);
    op *o = push(&u, OP_EVENT, c);
    if (!o || !(o->a = strdup("deadline.missed")) || !(o->d = strdup(c->row.state)) ||
        !(o->f = strdup(c->row.state)) ||
        !(o->j = json_pack("{s:s, s:I}", "deadline", when, "deadline_at",
                           (json_int_t)c->row.deadline_at))) {
        rc = nomem(&u);
        goto out;
    }
    if (!(rc = write_unit(&u)))
        rc = cf_store_commit(e->store, err);
    if (!rc && out && !(*out = result_of(c, NULL)))
        rc = nomem(&u);
out:
    if (cf_store_depth(e->store) > depth0)
        cf_store_rollback(e->store);
    unit_free(&u);
    if (rc)
        cf_engine_flush_alarm(e);
    return rc;
}

/* ---- tasks ------------------------------------------------------------------------------ */

int cf_machine_task(cf_engine *e, const char *case_id, int64_t task_id, const char *status,
                    const json_t *result, const char *role, json_t **out, cf_error *err)
{
    const int depth0 = cf_store_depth(e->store);
    int rc = cf_engine_begin_checked(e, err);
    if (rc)
        return rc;
    const bool done = strcmp(status, "done") == 0;
    unit u = {.e = e, .actor = e->actor, .role = role, .action = "change",
              .what = done ? "task.completed" : "task.claimed", .now = cf_engine_now(e),
              .err = err};
    mcase *c;
    char *cur = NULL, *holder = NULL;
    /* Under the write lock: the task as it is now, not as it was listed. */
    if ((rc = load_case(&u, case_id, &c)) ||
        (rc = cf_store_task_status(e->store, task_id, &cur, &holder, err)))
        goto out;
    if (strcmp(cur, "done") == 0) {
        rc = cf_err_set(err, CF_EINVALID, "task", "task %lld is closed already",
                        (long long)task_id);
        goto out;
    }
    if (holder && strcmp(holder, e->actor) != 0) {
        rc = cf_err_set(err, CF_ECONFLICT, "assignee", "task %lld is claimed by %s",
                        (long long)task_id, holder);
        goto out;
    }
    if (!done && holder) { /* one's own claim again: nothing to do */
        rc = 0;
        goto out;
    }
    op *t = push(&u, OP_TASK_SET, c), *o = t ? push(&u, OP_EVENT, c) : NULL;
    if (!o || !(t->a = strdup(status)) || !(t->b = strdup(e->actor)) ||
        (result && !(t->j = json_deep_copy(result))) || !(o->a = strdup(u.what)) ||
        !(o->d = strdup(c->row.state)) || !(o->f = strdup(c->row.state)) ||
        !(o->j = json_pack("{s:I, s:O?}", "task", (json_int_t)task_id, "result", result))) {
        rc = nomem(&u);
        goto out;
    }
    t->n = task_id;
    c->touched = true;
    o->actor = e->actor;
    o->role = role;
    if (!(rc = write_unit(&u)))
        rc = cf_store_commit(e->store, err);
out:
    if (!rc && out && !(*out = result_of(c, NULL)))
        rc = nomem(&u);
    free(cur);
    free(holder);
    if (cf_store_depth(e->store) > depth0)
        cf_store_rollback(e->store);
    unit_free(&u);
    if (rc)
        cf_engine_flush_alarm(e);
    return rc;
}

/* ---- administrative records ------------------------------------------------------------- */

int cf_machine_record(cf_engine *e, const char *case_id, const char *event,
                      const json_t *data, const char *action, const char *role, bool erase,
                      cf_case_mutator fn, void *ctx, json_t **out, cf_error *err)
{
    if (out)
        *out = NULL;
    const int depth0 = cf_store_depth(e->store);
    int rc = cf_engine_begin_checked(e, err);
    if (rc)
        return rc;
    unit u = {.e = e, .actor = e->actor, .role = role, .action = action, .what = event,
              .now = cf_engine_now(e), .err = err};
    mcase *c;
    if ((rc = load_case(&u, case_id, &c)))
        goto out;
    if (fn && (rc = fn(&c->row, ctx, err)))
        goto out;
    if (erase) {
        op *x = push(&u, OP_ERASE, c);
        if (!x) {
            rc = nomem(&u);
            goto out;
        }
    }
    op *o = push(&u, OP_EVENT, c);
    if (!o || !(o->a = strdup(event)) || !(o->d = strdup(c->row.state)) ||
        !(o->f = strdup(c->row.state)) || (data && !(o->j = json_deep_copy(data)))) {
        rc = nomem(&u);
        goto out;
    }
    rc = write_unit(&u);
    if (!rc)
        rc = cf_store_commit(e->store, err);
    if (!rc && out && !(*out = result_of(c, NULL)))
        rc = nomem(&u);
out:
    if (cf_store_depth(e->store) > depth0) /* not committed: undo it (a batch's savepoint) */
        cf_store_rollback(e->store);
    unit_free(&u);
    if (rc)
        cf_engine_flush_alarm(e);
    return rc;
}

/* ---- migration to another version ---------------------------------------------------- */

int cf_machine_migrate(cf_engine *e, const char *case_id, const cf_migration *m, json_t **out,
                       cf_error *err)
{
    if (out)
        *out = NULL;
    const int depth0 = cf_store_depth(e->store);
    int rc = cf_engine_begin_checked(e, err);
    if (rc)
        return rc;
    unit u = {.e = e, .actor = e->actor, .role = m->role, .action = "workflow.migrate",
              .what = "workflow.migrated", .now = cf_engine_now(e), .err = err};
    mcase *c;
    json_t *timers = NULL;
    char *previous = NULL;
    /* No guard, step or timer of either version runs: the case is moved as
     * the plan says, checked against the chain like any other write. */
    if ((rc = load_case(&u, case_id, &c)))
        goto out;
    if (c->row.revision != m->revision) {
        rc = cf_err_set(err, CF_ECONFLICT, "revision",
                        "case %s changed since the migration was planned; run it again",
                        case_id);
        goto out;
    }
    if ((rc = cf_store_timer_list(e->store, case_id, &timers, err)))
        goto out;
    size_t i;
    json_t *t;
    json_array_foreach(timers, i, t)
    {
        op *x = push(&u, OP_TIMER_DEL, c);
        if (!x || !(x->a = dup0(json_string_value(json_object_get(t, "event"))))) {
            rc = nomem(&u);
            goto out;
        }
    }
    json_array_foreach(m->timers, i, t)
    {
        op *x = push(&u, OP_TIMER_SET, c);
        if (!x || !(x->a = dup0(json_string_value(json_object_get(t, "event")))) ||
            !(x->b = dup0(m->state))) {
            rc = nomem(&u);
            goto out;
        }
        x->n = json_integer_value(json_object_get(t, "due_at"));
    }
    previous = strdup(c->row.state);
    op *o = previous ? push(&u, OP_EVENT, c) : NULL;
    if (!o || !(o->a = strdup("workflow.migrated")) || !(o->d = strdup(c->row.state)) ||
        !(o->f = strdup(m->state)) || (m->data && !(o->j = json_deep_copy(m->data))) ||
        set_state(c, m->state)) {
        rc = nomem(&u);
        goto out;
    }
    c->wf = m->to;
    c->row.version = m->to->version;
    c->row.deadline_at = m->deadline_at;
    if (!(rc = write_unit(&u)))
        rc = cf_store_commit(e->store, err);
    if (!rc && out && !(*out = result_of(c, previous)))
        rc = nomem(&u);
out:
    json_decref(timers);
    free(previous);
    if (cf_store_depth(e->store) > depth0)
        cf_store_rollback(e->store);
    unit_free(&u);
    if (rc)
        cf_engine_flush_alarm(e);
    return rc;
}

/* ---- simulation (workflow simulate) ------------------------------------------------------ */

/*
 * A simulated case runs the very functions a live command runs (deliver,
 * take, enter, authorise, the plugins through the same host table, the
 * guards under the same budget) on an mcase that lives in memory for the
 * whole replay. Only the two ends of a unit differ: the case is not loaded
 * from the store (it is the one the previous step left), and instead of
 * write_unit the unit's ops are applied to the case's own timers and
 * history here. What write_unit adds on top (the row, digests, audit
 * records, notifications, tasks and keys rows) is bookkeeping of the store
 * that no guard, step or timer reads back, except two things handled here:
 * the timers table (replaced by sc->timers, with the store's semantics:
 * INSERT OR REPLACE by event, DELETE by state or by event) and the four-eyes
 * rule's look-up of who sent an event last (sim_last_actor over the
 * simulated history). Correlation between cases (repeat_referral) is not
 * run: the caller replays a recorded repeat_referral as the engine's input.
 * Skipping the store is what makes a replay of 10^6 cases affordable: a
 * live step costs a write transaction, two digests and an audit record.
 */

typedef struct sim_timer {
    char *event, *state;
    int64_t due;
} sim_timer;

typedef struct sim_event {
    char *event, *actor;
} sim_event;

struct cf_sim_case {
    cf_engine *e;
    int64_t budget_ms;
    mcase c;
    sim_timer *timers;
    size_t ntimers, captimers;
    sim_event *hist;
    size_t nhist, caphist;
    char route[512]; /* the states the last step entered, "a>b" */
};

static int sim_last_actor(struct cf_sim_case *sc, const char *event, char **actor,
                          cf_error *err)
{
    *actor = NULL;
    for (size_t i = sc->nhist; i-- > 0;)
        if (strcmp(sc->hist[i].event, event) == 0) {
            if (!(*actor = strdup(sc->hist[i].actor)))
                return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
            break;
        }
    return 0;
}

static void sim_timer_drop(cf_sim_case *sc, size_t i)
{
    free(sc->timers[i].event);
    free(sc->timers[i].state);
    sc->timers[i] = sc->timers[--sc->ntimers];
}

static int sim_timer_set(cf_sim_case *sc, const char *event, const char *state, int64_t due)
{
    for (size_t i = 0; i < sc->ntimers; i++)
        if (strcmp(sc->timers[i].event, event) == 0) {
            char *s = strdup(state);
            if (!s)
                return -1;
            free(sc->timers[i].state);
            sc->timers[i].state = s;
            sc->timers[i].due = due;
            return 0;
        }
    if (sc->ntimers == sc->captimers) {
        size_t cap = sc->captimers ? sc->captimers * 2 : 4;
        sim_timer *n = realloc(sc->timers, cap * sizeof *n);
        if (!n)
            return -1;
        sc->timers = n;
        sc->captimers = cap;
    }
    sim_timer *t = &sc->timers[sc->ntimers];
    t->event = strdup(event);
    t->state = strdup(state);
    t->due = due;
    if (!t->event || !t->state) {
        free(t->event);
        free(t->state);
        return -1;
    }
    sc->ntimers++;
    return 0;
}

static int sim_hist_add(cf_sim_case *sc, const char *event, const char *actor)
{
    if (sc->nhist == sc->caphist) {
        size_t cap = sc->caphist ? sc->caphist * 2 : 16;
        sim_event *n = realloc(sc->hist, cap * sizeof *n);
        if (!n)
            return -1;
        sc->hist = n;
        sc->caphist = cap;
    }
    sim_event *h = &sc->hist[sc->nhist];
    h->event = strdup(event);
    h->actor = strdup(actor ? actor : "");
    if (!h->event || !h->actor) {
        free(h->event);
        free(h->actor);
        return -1;
    }
    sc->nhist++;
    return 0;
}

/* In place of write_unit: the unit's effects on the simulated case. */
static int sim_apply(unit *u, cf_sim_case *sc)
{
    size_t used = 0;
    sc->route[0] = '\0';
    for (size_t k = 0; k < u->nops; k++) {
        op *o = &u->ops[k];
        int bad = 0;
        switch (o->kind) {
        case OP_EVENT:
            bad = sim_hist_add(sc, o->a, o->actor);
            if (!bad && o->f && (!o->d || strcmp(o->d, o->f) != 0) && used < sizeof sc->route)
                used += (size_t)snprintf(sc->route + used, sizeof sc->route - used, "%s%s",
                                         used ? ">" : "", o->f);
            break;
        case OP_TIMER_SET:
            bad = sim_timer_set(sc, o->a, o->b, o->n);
            break;
        case OP_TIMER_CLEAR_STATE:
            for (size_t i = sc->ntimers; i-- > 0;)
                if (strcmp(sc->timers[i].state, o->b) == 0)
                    sim_timer_drop(sc, i);
            break;
        case OP_TIMER_DEL:
            for (size_t i = sc->ntimers; i-- > 0;)
                if (strcmp(sc->timers[i].event, o->a) == 0)
                    sim_timer_drop(sc, i);
            break;
        default: /* keys, tasks, notifications: rows nothing in a replay reads */
            break;
        }
        if (bad)
            return nomem(u);
    }
    mcase *c = &sc->c;
    if (c->touched) {
        if (!c->is_new)
            c->row.revision++;
        c->row.updated_at = u->now;
    }
    c->is_new = false;
    c->touched = false;
    return 0;
}

/* The unit of one simulated step. */
static void sim_unit(unit *u, cf_sim_case *sc, const char *actor, const char *role,
                     const char *roles, int64_t at, const char *what, cf_error *err)
{
    memset(u, 0, sizeof *u);
    u->e = sc->e;
    u->actor = actor;
    u->role = role;
    u->action = "change";
    u->what = what;
    u->now = at;
    u->err = err;
    u->sim = sc;
    u->sim_roles = roles ? roles : "";
    u->lim.budget_ms = sc->budget_ms;
    u->lim.deadline_ms = cf_time_monotonic_ms() + sc->budget_ms;
}

/* unit_free without the case: it belongs to the simulation. */
static void sim_unit_free(unit *u)
{
    u->cases = NULL;
    unit_free(u);
}

void cf_machine_sim_free(cf_sim_case *sc)
{
    if (!sc)
        return;
    cf_case_row_clear(&sc->c.row);
    for (size_t i = 0; i < sc->ntimers; i++) {
        free(sc->timers[i].event);
        free(sc->timers[i].state);
    }
    for (size_t i = 0; i < sc->nhist; i++) {
        free(sc->hist[i].event);
        free(sc->hist[i].actor);
    }
    free(sc->timers);
    free(sc->hist);
    free(sc);
}

int cf_machine_sim_refer(cf_engine *e, cf_wf *wf, int64_t budget_ms, const char *id,
                         const json_t *referral, int64_t at, const char *actor,
                         const char *role, cf_sim_case **out, cf_error *err)
{
    *out = NULL;
    const char *source, *reference;
    if (!json_is_object(referral))
        return cf_err_set(err, CF_EINVALID, "referral", "referral rejected: not a JSON object");
    int rc = required_string(referral, "source", &source, err);
    if (!rc)
        rc = required_string(referral, "reference", &reference, err);
    if (rc)
        return rc;
    cf_sim_case *sc = calloc(1, sizeof *sc);
    if (!sc)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    sc->e = e;
    sc->budget_ms = budget_ms > 0 ? budget_ms : CF_WF_DEFAULT_BUDGET_MS;
    mcase *c = &sc->c;
    unit u;
    sim_unit(&u, sc, actor, role, NULL, at, "referral", err);
    u.action = "collection";
    u.cases = c;
    u.ncases = 1;
    c->is_new = true;
    c->wf = wf;
    c->row.id = strdup(id);
    c->row.source = strdup(source);
    c->row.reference = strdup(reference);
    c->row.workflow = strdup(wf->name);
    c->row.version = wf->version;
    c->row.revision = 1;
    c->row.created_at = at;
    c->row.data = json_pack("{s:O}", "referral", referral);
    cf_wf_state *init = cf_wf_find_state(wf, wf->initial);
    if (!c->row.id || !c->row.source || !c->row.reference || !c->row.workflow ||
        !c->row.data || set_state(c, wf->initial)) {
        rc = nomem(&u);
        goto out;
    }
    if (!init) {
        rc = cf_err_set(err, CF_ESCRIPT, "initial", "workflow %s: no initial state", wf->name);
        goto out;
    }
    op *o = push(&u, OP_EVENT, c);
    if (!o || !(o->a = strdup("referral.received")) || !(o->f = strdup(wf->initial))) {
        rc = nomem(&u);
        goto out;
    }
    if ((rc = enter(&u, c, init, 0)) || (rc = sim_apply(&u, sc)))
        goto out;
out:
    sim_unit_free(&u);
    if (rc)
        cf_machine_sim_free(sc);
    else
        *out = sc;
    return rc;
}

int cf_machine_sim_act(cf_sim_case *sc, const char *event, const json_t *data, int64_t at,
                       const char *actor, const char *role, const char *roles, bool system,
                       const char *timer_event, cf_error *err)
{
    unit u;
    mcase *c = &sc->c;
    sim_unit(&u, sc, system ? "engine" : actor, system ? "system" : role, roles, at, event,
             err);
    u.timer = timer_event;
    u.cases = c;
    u.ncases = 1;
    int rc = 0;
    if (timer_event) {
        /* cf_machine_act's rule: the timer must be set and due. */
        size_t i = 0;
        while (i < sc->ntimers && strcmp(sc->timers[i].event, timer_event) != 0)
            i++;
        char when[32];
        if (i == sc->ntimers) {
            rc = cf_err_set(err, CF_ENOTFOUND, "timer", "timer %s is not set on case %s",
                            timer_event, c->row.id);
        } else if (sc->timers[i].due > at) {
            cf_time_format(sc->timers[i].due, when);
            rc = cf_err_set(err, CF_ENOTFOUND, "timer", "timer %s of case %s is not due until %s",
                            timer_event, c->row.id, when);
        } else {
            op *o = push(&u, OP_TIMER_DEL, c);
            if (!o || !(o->a = strdup(timer_event)))
                rc = nomem(&u);
        }
    }
    if (!rc)
        rc = deliver(&u, c, event, data, system);
    if (!rc)
        rc = sim_apply(&u, sc);
    sim_unit_free(&u);
    return rc;
}

const char *cf_machine_sim_state(const cf_sim_case *sc)
{
    return sc->c.row.state;
}

const char *cf_machine_sim_route(const cf_sim_case *sc)
{
    return sc->route;
}

const json_t *cf_machine_sim_data(const cf_sim_case *sc)
{
    return sc->c.row.data;
}

int64_t cf_machine_sim_deadline(const cf_sim_case *sc)
{
    return sc->c.row.deadline_at;
}

const char *cf_machine_sim_grade(const cf_sim_case *sc)
{
    return grade_of(&sc->c);
}

bool cf_machine_sim_timer(const cf_sim_case *sc, size_t i, const char **event, int64_t *due)
{
    if (i >= sc->ntimers)
        return false;
    *event = sc->timers[i].event;
    *due = sc->timers[i].due;
    return true;
}
