/*
 * `workflow check`: lint a workflow file without a store. It runs like a
 * deploy (collect, build) but turns every error and structural problem into
 * a finding with file, line and rule, then adds what only a whole-graph
 * view shows (unreachable states, timers no transition takes, what the
 * source of each transition function returns and reads, functions without
 * targets) and, given a loader, what the step plugins accept and emit.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

/* Path of a file named in a message, relative to the main file's dir. */
static void finding_path(const wf_collected *k, const char *path,
                         const char *file, char *out, size_t size)
{
    if (file == NULL || strcmp(file, k->file) == 0)
        snprintf(out, size, "%s", path);
    else if (strchr(path, '/') == NULL)
        snprintf(out, size, "%s", file);
    else
        snprintf(out, size, "%s/%s", k->dir, file);
}

static int add_finding(json_t *diags, const char *file, int line,
                       const char *rule, const char *msg)
{
    json_t *f = json_pack("{s:s, s:i, s:s, s:s}", "file", file, "line", line,
                          "rule", rule, "message", msg);
    if (f == NULL || json_array_append_new(diags, f) != 0)
        return CF_ENOMEM;
    return 0;
}

/* A Lua error "file:line: message" into a finding. */
static int syntax_finding(const wf_collected *k, const char *path,
                          const char *msg, json_t *diags)
{
    char file[256] = "", where[300];
    int line = 0;
    const char *p = msg;
    /* The first ":<digits>:" splits file from line. */
    for (const char *q = strchr(p, ':'); q; q = strchr(q + 1, ':')) {
        const char *d = q + 1;
        while (isdigit((unsigned char)*d))
            d++;
        if (d > q + 1 && *d == ':' && (size_t)(q - p) < sizeof file) {
            memcpy(file, p, (size_t)(q - p));
            file[q - p] = '\0';
            line = atoi(q + 1);
            msg = d + 1;
            while (*msg == ' ')
                msg++;
            break;
        }
    }
    finding_path(k, path, file[0] ? file : NULL, where, sizeof where);
    /* A file that runs but returns no workflow is a structural problem. */
    return add_finding(diags, where, line,
                       strstr(msg, "must return workflow") ? "structure"
                                                           : "syntax", msg);
}

/* Every state reachable from initial through named targets; a function
 * without declared targets may reach any state. */
static int reachability(const cf_wf *wf, const char *path, json_t *diags)
{
    size_t n = wf->nstates, head = 0, tail = 0;
    int rc = 0;
    bool *seen = calloc(n ? n : 1, sizeof *seen);
    size_t *queue = calloc(n ? n : 1, sizeof *queue);
    const cf_wf_state *ini = cf_wf_find_state(wf, wf->initial);
    if (seen == NULL || queue == NULL) {
        rc = CF_ENOMEM;
        goto out;
    }
    if (ini != NULL) {
        seen[ini - wf->states] = true;
        queue[tail++] = (size_t)(ini - wf->states);
    }
    while (head < tail) {
        const cf_wf_state *st = &wf->states[queue[head++]];
        for (size_t j = 0; j < st->non; j++) {
            const cf_wf_transition *t = &st->on[j];
            bool any = t->fnref != LUA_NOREF && t->ntargets == 0;
            for (size_t s = 0; s < n; s++) {
                bool hit = any || (t->target && strcmp(t->target,
                                                       wf->states[s].name) == 0);
                for (size_t x = 0; x < t->ntargets && !hit; x++)
                    hit = strcmp(t->targets[x], wf->states[s].name) == 0;
                if (hit && !seen[s]) {
                    seen[s] = true;
                    queue[tail++] = s;
                }
            }
        }
    }
    for (size_t s = 0; s < n && rc == 0 && ini != NULL; s++) {
        char msg[300];
        if (seen[s])
            continue;
        snprintf(msg, sizeof msg, "state '%s' cannot be reached from '%s'",
                 wf->states[s].name, wf->initial);
        rc = add_finding(diags, path, wf->states[s].line, "unreachable", msg);
    }
out:
    free(seen);
    free(queue);
    return rc;
}

/* Timer events no transition of their state takes: tick could never fire
 * them, and the case would wait in the state for ever. */
static int timer_findings(const cf_wf *wf, const char *path, json_t *diags)
{
    int rc = 0;
    for (size_t i = 0; i < wf->nstates && rc == 0; i++) {
        const cf_wf_state *st = &wf->states[i];
        char msg[600];
        if (st->timer_event == NULL ||
            (!st->final && cf_wf_find_transition(st, st->timer_event) != NULL))
            continue;
        snprintf(msg, sizeof msg, "state '%s': its timer raises '%s', which no transition "
                 "of the state takes (tick would keep the timer and the case would wait "
                 "there for ever)", st->name, st->timer_event);
        rc = add_finding(diags, path, st->line, "timer-event", msg);
    }
    return rc;
}

/* "a, b, c" of a transition's targets. */
static void targets_text(const cf_wf_transition *t, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; k < t->ntargets && used < size; k++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", k ? ", " : "",
                                 t->targets[k]);
}

static bool declares_data(const cf_wf *wf)
{
    for (size_t s = 0; s < wf->nstates; s++)
        for (size_t j = 0; j < wf->states[s].non; j++)
            if (wf->states[s].on[j].has_data)
                return true;
    return false;
}

/* What the source of one transition function says: literal results outside
 * its targets, no result at all, event data read but not declared; and
 * the no-targets finding, with the targets its literals suggest. */
static int guard_findings(const cf_wf *wf, const cf_wf_state *st, const cf_wf_transition *t,
                          lua_State *L, const wf_collected *k, const char *path,
                          bool any_data, json_t *diags)
{
    json_t *scan = wf_guard_scan(L, t);
    char file[300], msg[600], tl[300];
    int rc = 0;
    size_t i;
    json_t *r;
    bool all_literal = scan != NULL, some_state = false;
    char suggest[300] = "";
    size_t used = 0;
    if (scan)
        finding_path(k, path, json_string_value(json_object_get(scan, "file")), file,
                     sizeof file);
    targets_text(t, tl, sizeof tl);
    json_array_foreach(json_object_get(scan, "returns"), i, r) {
        const char *v = json_string_value(json_object_get(r, "value"));
        int line = (int)json_integer_value(json_object_get(r, "line"));
        if (!json_is_true(json_object_get(r, "literal"))) {
            all_literal = false;
            some_state = true; /* it may */
            continue;
        }
        if (v == NULL)
            continue;
        some_state = true;
        char quoted[WF_NAME_MAX + 3];
        snprintf(quoted, sizeof quoted, "\"%s\"", v);
        if (strstr(suggest, quoted) == NULL && used < sizeof suggest)
            used += (size_t)snprintf(suggest + used, sizeof suggest - used, "%s\"%s\"",
                                     used ? ", " : "", v);
        bool in = false;
        for (size_t x = 0; x < t->ntargets && !in; x++)
            in = strcmp(t->targets[x], v) == 0;
        if (cf_wf_find_state(wf, v) == NULL)
            snprintf(msg, sizeof msg, "state '%s': transition '%s' returns '%s', which is "
                     "not a state", st->name, t->event, v);
        else if (t->ntargets > 0 && !in)
            snprintf(msg, sizeof msg, "state '%s': transition '%s' returns '%s', which is "
                     "not among its targets (%s)", st->name, t->event, v, tl);
        else
            continue;
        if ((rc = add_finding(diags, file, line, "guard-target", msg)))
            goto out;
    }
    if (scan && !some_state) {
        snprintf(msg, sizeof msg, "state '%s': transition '%s' never returns a state (the "
                 "case would always stay in '%s')", st->name, t->event, st->name);
        if ((rc = add_finding(diags, file, t->line, "no-result", msg)))
            goto out;
    }
    json_array_foreach(json_object_get(scan, "reads"), i, r) {
        const char *f = json_string_value(json_object_get(r, "field"));
        int line = (int)json_integer_value(json_object_get(r, "line"));
        if (t->has_data && wf_find_field(t, f) != NULL)
            continue;
        if (t->has_data)
            snprintf(msg, sizeof msg, "state '%s': transition '%s' reads event.data.%s, "
                     "which its data does not declare", st->name, t->event, f);
        else if (any_data)
            snprintf(msg, sizeof msg, "state '%s': transition '%s' reads event.data.%s but "
                     "declares no data (add data = { %s = \"TYPE\" })", st->name, t->event,
                     f, f);
        else
            continue;
        if ((rc = add_finding(diags, file, line, "undeclared-data", msg)))
            goto out;
    }
    if (t->ntargets == 0) {
        char where[200];
        wf_function_where(L, t, where, sizeof where);
        char *colon = strrchr(where, ':');
        if (colon)
            *colon = '\0';
        finding_path(k, path, where[0] ? where : NULL, file, sizeof file);
        if (all_literal && suggest[0])
            snprintf(msg, sizeof msg, "state '%s': transition '%s' is a function without "
                     "declared targets (add targets = { %s })", st->name, t->event, suggest);
        else
            snprintf(msg, sizeof msg, "state '%s': transition '%s' is a function without "
                     "declared targets (add targets = {...})", st->name, t->event);
        rc = add_finding(diags, file, t->line, "no-targets", msg);
    }
out:
    json_decref(scan);
    return rc;
}

static int function_findings(const cf_wf *wf, lua_State *L, const wf_collected *k,
                             const char *path, json_t *diags)
{
    bool any_data = declares_data(wf);
    int rc = 0;
    for (size_t s = 0; s < wf->nstates && rc == 0; s++)
        for (size_t j = 0; j < wf->states[s].non && rc == 0; j++) {
            const cf_wf_transition *t = &wf->states[s].on[j];
            if (t->fnref != LUA_NOREF)
                rc = guard_findings(wf, &wf->states[s], t, L, k, path, any_data, diags);
        }
    return rc;
}

/* "a, b, c" of a list of names. */
static void names_text(char *const *v, size_t n, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; k < n && used < size; k++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", k ? ", " : "", v[k]);
}

/*
 * A plugin's outcomes (events it emits and does not accept) in state st:
 * each must have a transition there ("unmapped-outcome": a typo in emits or
 * on would otherwise surface only when a case meets it); a transition on
 * one that people may send by hand is shown to the reviewer
 * ("manual-outcome", a warning); `manual` on any other event means nothing
 * and is a mistake ("manual-not-outcome").
 */
static int outcome_findings(const cf_wf_state *st, const cf_plugin *p, const char *path,
                            json_t *diags)
{
    char msg[600], roles[200];
    int rc = 0;
    for (const char *const *ev = p->emits; ev && *ev && rc == 0; ev++) {
        /* The engine raises repeat_referral itself, as the system, when a
         * new referral meets the case: as an outcome it would let any
         * referral with a matching key take the plugin's route. */
        if (strcmp(*ev, "repeat_referral") == 0 && !cf_plugin_accepts(p, *ev)) {
            snprintf(msg, sizeof msg, "state '%s': plugin '%s' emits 'repeat_referral', "
                     "which the engine raises itself when a new referral meets the case (a "
                     "referral would take the plugin's route; accept it instead)",
                     st->name, p->name);
            rc = add_finding(diags, path, st->line, "engine-event-outcome", msg);
            continue;
        }
        if (cf_plugin_accepts(p, *ev) || cf_wf_find_transition(st, *ev) != NULL)
            continue;
        snprintf(msg, sizeof msg, "state '%s': plugin '%s' emits '%s', which no transition "
                 "of the state takes (a case would fail there when the plugin sends it)",
                 st->name, p->name, *ev);
        rc = add_finding(diags, path, st->line, "unmapped-outcome", msg);
    }
    for (size_t j = 0; j < st->non && rc == 0; j++) {
        const cf_wf_transition *t = &st->on[j];
        if (t->nmanual == 0)
            continue;
        names_text(t->manual, t->nmanual, roles, sizeof roles);
        if (cf_plugin_emits(p, t->event) && !cf_plugin_accepts(p, t->event)) {
            snprintf(msg, sizeof msg, "state '%s': outcome '%s' of plugin '%s' may be sent "
                     "by hand (manual: %s), bypassing the plugin", st->name, t->event,
                     p->name, roles);
            rc = add_finding(diags, path, t->line, "manual-outcome", msg);
            json_object_set_new(json_array_get(diags, json_array_size(diags) - 1),
                                "severity", json_string("warning"));
        } else {
            snprintf(msg, sizeof msg, "state '%s': transition '%s' has manual, but '%s' is "
                     "not an outcome of plugin '%s' (manual is only for events the state's "
                     "plugin emits; use roles)", st->name, t->event, t->event, p->name);
            rc = add_finding(diags, path, t->line, "manual-not-outcome", msg);
        }
    }
    return rc;
}

/* `manual` in a state without a plugin: there is no outcome to send. */
static int manual_without_plugin(const cf_wf *wf, const char *path, json_t *diags)
{
    int rc = 0;
    for (size_t i = 0; i < wf->nstates && rc == 0; i++)
        for (size_t j = 0; j < wf->states[i].non && rc == 0; j++) {
            const cf_wf_state *st = &wf->states[i];
            char msg[600];
            if (st->step != NULL || st->on[j].nmanual == 0)
                continue;
            snprintf(msg, sizeof msg, "state '%s': transition '%s' has manual, but the state "
                     "has no step plugin (manual is only for events the state's plugin "
                     "emits; use roles)", st->name, st->on[j].event);
            rc = add_finding(diags, path, st->on[j].line, "manual-not-outcome", msg);
        }
    return rc;
}

static int plugin_findings(const cf_wf *wf, cf_loader *loader,
                           const char *path, json_t *diags)
{
    int rc = 0;
    for (size_t i = 0; i < wf->nstates && rc == 0; i++) {
        const cf_wf_state *st = &wf->states[i];
        const cf_module *m = NULL;
        cf_error e = {0};
        char msg[600];
        if (st->step == NULL)
            continue;
        if (cf_loader_get(loader, st->step, &m, &e) != 0 || m == NULL) {
            snprintf(msg, sizeof msg, "state '%s': step plugin '%s': %s",
                     st->name, st->step, e.message[0] ? e.message : "missing");
            rc = add_finding(diags, path, st->line, "missing-plugin", msg);
            continue;
        }
        for (size_t j = 0; j < st->non && rc == 0; j++) {
            const cf_wf_transition *t = &st->on[j];
            if (cf_plugin_accepts(m->desc, t->event) ||
                cf_plugin_emits(m->desc, t->event) || t->system ||
                strcmp(t->event, "repeat_referral") == 0 ||
                (st->timer_event && strcmp(st->timer_event, t->event) == 0))
                continue;
            snprintf(msg, sizeof msg, "state '%s': plugin '%s' neither "
                     "accepts nor emits event '%s'", st->name, st->step,
                     t->event);
            rc = add_finding(diags, path, t->line, "unaccepted-event", msg);
        }
        if (rc == 0)
            rc = outcome_findings(st, m->desc, path, diags);
        /* An event a plugin both emits and accepts is one it sets a timer
         * (a deadline) for, as the warrant's expiry: the state must take
         * it. Its outcomes (emitted only) are outcome_findings'. */
        for (const char *const *ev = m->desc->emits; ev && *ev && rc == 0 && !st->final;
             ev++) {
            if (!cf_plugin_accepts(m->desc, *ev) || cf_wf_find_transition(st, *ev) != NULL)
                continue;
            snprintf(msg, sizeof msg, "state '%s': plugin '%s' sets a timer for event '%s', "
                     "which no transition of the state takes", st->name, st->step, *ev);
            rc = add_finding(diags, path, st->line, "timer-event", msg);
        }
    }
    return rc;
}

int cf_wf_check(const char *path, cf_loader *loader, json_t *diags,
                cf_error *err)
{
    wf_collected k;
    if (!json_is_array(diags))
        return cf_err_set(err, CF_EINVALID, NULL, "check: no findings array");
    cf_error e = {0};
    int rc = wf_collect(path, &k, &e);
    if (rc != 0 && k.L == NULL) {
        wf_collected_free(&k);
        if (err)
            *err = e;
        return rc;
    }
    if (rc != 0) {
        rc = syntax_finding(&k, path, e.message, diags);
        wf_collected_free(&k);
        return rc ? cf_err_set(err, rc, NULL, "out of memory") : 0;
    }
    wf_ctx *c = wf_ctx_of(k.L);
    wf_assets_args a = {0};
    cf_wf *wf = calloc(1, sizeof *wf);
    a.assets = json_object();
    if (wf == NULL || a.assets == NULL || (wf->config = json_object()) == NULL)
        rc = CF_ENOMEM;
    if (rc == 0) {
        c->wf = wf;
        rc = wf_protected(k.L, wf_build_body, NULL, CF_EINVALID, &e);
        c->wf = NULL;
        if (rc == CF_ENOMEM)
            goto out;
        if (rc != 0)
            rc = syntax_finding(&k, path, e.message, diags);
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(c->problems); i++) {
        json_t *p = json_array_get(c->problems, i);
        char file[300];
        finding_path(&k, path, json_string_value(json_object_get(p, "file")),
                     file, sizeof file);
        rc = add_finding(diags, file,
                         (int)json_integer_value(json_object_get(p, "line")),
                         json_string_value(json_object_get(p, "rule")),
                         json_string_value(json_object_get(p, "message")));
    }
    if (rc == 0) {
        rc = wf_protected(k.L, wf_assets_body, &a, CF_EINVALID, &e);
        if (rc == 0 && a.rc != 0)
            rc = add_finding(diags, path, 0, "structure", a.why);
        else if (rc != 0 && rc != CF_ENOMEM)
            rc = add_finding(diags, path, 0, "structure", e.message);
    }
    if (rc == 0 && wf->nstates > 0)
        rc = reachability(wf, path, diags);
    if (rc == 0 && wf->nstates > 0)
        rc = timer_findings(wf, path, diags);
    if (rc == 0 && wf->nstates > 0)
        rc = function_findings(wf, k.L, &k, path, diags);
    if (rc == 0 && wf->nstates > 0)
        rc = manual_without_plugin(wf, path, diags);
    if (rc == 0 && loader != NULL)
        rc = plugin_findings(wf, loader, path, diags);
out:
    json_decref(a.assets);
    if (wf != NULL)
        wf->lua = NULL; /* the state belongs to k */
    cf_wf_free(wf);
    wf_collected_free(&k);
    if (rc != 0)
        return cf_err_set(err, rc, NULL, "out of memory");
    return 0;
}
