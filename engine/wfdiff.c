/*
 * `caseflow workflow diff`: what changes between two deployed versions of a
 * workflow, or between a version and a file not yet deployed (bundled as
 * deploy bundles it; nothing is written). First the structure, as a flat
 * list of changes (states, transitions with their targets, roles, four
 * eyes and system flag, timers, deadlines, plugins, state settings and the
 * workflow's settings), each with a line of text; then the unified diff of
 * every bundled source (linediff.c). A read of workflows, not of case data:
 * like `workflow list`, it needs a user but no reason and is not audited.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

/* ---- describing ---------------------------------------------------------- */

static json_t *strv(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* A transition as compared: {target} or {targets, guard}, roles, manual
 * (when it has one), four_eyes, system. */
static json_t *transition_json(const cf_wf_transition *t)
{
    json_t *o = json_object();
    if (t->target)
        json_object_set_new(o, "target", json_string(t->target));
    else
        json_object_set_new(o, "targets", strv(t->targets, t->ntargets));
    json_object_set_new(o, "roles", strv(t->roles, t->nroles));
    if (t->nmanual) /* who may send a plugin's outcome by hand: a change to review */
        json_object_set_new(o, "manual", strv(t->manual, t->nmanual));
    json_object_set_new(o, "four_eyes", t->four_eyes ? json_string(t->four_eyes) : json_null());
    json_object_set_new(o, "system", json_boolean(t->system));
    return o;
}

/* Compact text of a JSON value into buf. */
static const char *vtext(const json_t *v, char *buf, size_t n)
{
    if (!v) {
        snprintf(buf, n, "(none)");
        return buf;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    snprintf(buf, n, "%s", s ? s : "?");
    if (s && strlen(s) >= n && n > 4)
        memcpy(buf + n - 4, "...", 4);
    free(s);
    return buf;
}

/* Comma-joined strings of an array into buf ("" when empty). */
static const char *joined(const json_t *a, char *buf, size_t n)
{
    size_t i, k = 0;
    const json_t *v;
    buf[0] = '\0';
    json_array_foreach(a, i, v)
    {
        int w = snprintf(buf + k, n - k, "%s%s", i ? "," : "", json_string_value(v));
        if (w < 0 || (size_t)w >= n - k)
            break;
        k += (size_t)w;
    }
    return buf;
}

/* "-> x", "-> guard [a, b]", with its roles, manual, four eyes and system flag. */
static void transition_text(const json_t *t, char *buf, size_t n)
{
    char tg[256], roles[256];
    const json_t *target = json_object_get(t, "target");
    if (target)
        snprintf(tg, sizeof tg, "%s", json_string_value(target));
    else
        snprintf(tg, sizeof tg, "guard(%s)", joined(json_object_get(t, "targets"), roles,
                                                    sizeof roles));
    joined(json_object_get(t, "roles"), roles, sizeof roles);
    char manual[256];
    joined(json_object_get(t, "manual"), manual, sizeof manual);
    const char *fe = json_string_value(json_object_get(t, "four_eyes"));
    snprintf(buf, n, "-> %s%s%s%s%s%s", tg, roles[0] ? " roles " : "", roles,
             fe ? " four-eyes " : "", fe ? fe : "",
             json_is_true(json_object_get(t, "system")) ? " system" : "");
    size_t k = strlen(buf);
    if (manual[0] && k + 1 < n)
        snprintf(buf + k, n - k, " manual %s", manual);
}

static json_t *timer_json(const cf_wf_state *st)
{
    return st->timer_secs > 0 ? json_pack("{s:I, s:s?}", "seconds", (json_int_t)st->timer_secs,
                                          "event", st->timer_event)
                              : NULL;
}

/* "365d" / "3h" / "90s": durations as a person reads them. */
static void duration(int64_t s, char *buf, size_t n)
{
    if (s % 86400 == 0)
        snprintf(buf, n, "%lldd", (long long)(s / 86400));
    else if (s % 3600 == 0)
        snprintf(buf, n, "%lldh", (long long)(s / 3600));
    else
        snprintf(buf, n, "%llds", (long long)s);
}

/* ---- the list of changes --------------------------------------------------- */

typedef struct diff {
    json_t *changes;
} diff;

/* Append one change; from/to stolen (may be NULL); text printf-style. */
static void add(diff *d, const char *kind, const char *change, const char *state,
                const char *event, const char *key, json_t *from, json_t *to, const char *fmt,
                ...) __attribute__((format(printf, 9, 10)));

static void add(diff *d, const char *kind, const char *change, const char *state,
                const char *event, const char *key, json_t *from, json_t *to, const char *fmt,
                ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *c = json_pack("{s:s, s:s, s:s}", "kind", kind, "change", change, "text", text);
    if (state)
        json_object_set_new(c, "state", json_string(state));
    if (event)
        json_object_set_new(c, "event", json_string(event));
    if (key)
        json_object_set_new(c, "key", json_string(key));
    if (from)
        json_object_set_new(c, "from", from);
    if (to)
        json_object_set_new(c, "to", to);
    json_array_append_new(d->changes, c);
}

static const char *mark(const char *change)
{
    return strcmp(change, "added") == 0 ? "+" : strcmp(change, "removed") == 0 ? "-" : "~";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The union of two objects' keys, sorted (borrowed strings). */
static const char **key_union(const json_t *a, const json_t *b, size_t *n)
{
    size_t cap = json_object_size(a) + json_object_size(b) + 1, k = 0;
    const char **v = malloc(cap * sizeof *v);
    const char *key;
    json_t *val;
    if (!v)
        return NULL;
    json_object_foreach((json_t *)a, key, val) v[k++] = key;
    json_object_foreach((json_t *)b, key, val) if (!json_object_get(a, key)) v[k++] = key;
    qsort(v, k, sizeof *v, cmp_str);
    *n = k;
    return v;
}

/* Settings a and b (objects) compared key by key, into nested objects;
 * arrays and other values compare whole. kind "setting" (the workflow's
 * config) or "config" (a state's). */
static void diff_config(diff *d, const char *kind, const char *state, const char *prefix,
                        const json_t *a, const json_t *b)
{
    size_t n = 0;
    const char **keys = key_union(a, b, &n);
    for (size_t i = 0; keys && i < n; i++) {
        char path[512], t1[300], t2[300];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", keys[i]);
        const json_t *va = json_object_get(a, keys[i]), *vb = json_object_get(b, keys[i]);
        const char *where = state ? state : "", *sep = state ? " " : "";
        if (json_is_object(va) && json_is_object(vb)) {
            diff_config(d, kind, state, path, va, vb);
        } else if (!va) {
            add(d, kind, "added", state, NULL, path, NULL, json_deep_copy(vb), "+ %s%s%s %s = %s",
                kind, sep, where, path, vtext(vb, t2, sizeof t2));
        } else if (!vb) {
            add(d, kind, "removed", state, NULL, path, json_deep_copy(va), NULL,
                "- %s%s%s %s (was %s)", kind, sep, where, path, vtext(va, t1, sizeof t1));
        } else if (!json_equal((json_t *)va, (json_t *)vb)) {
            add(d, kind, "changed", state, NULL, path, json_deep_copy(va), json_deep_copy(vb),
                "~ %s%s%s %s: %s -> %s", kind, sep, where, path, vtext(va, t1, sizeof t1),
                vtext(vb, t2, sizeof t2));
        }
    }
    free(keys);
}

static void diff_transitions(diff *d, const cf_wf_state *a, const cf_wf_state *b)
{
    char t1[600], t2[600];
    for (size_t i = 0; i < a->non; i++) {
        const cf_wf_transition *ta = &a->on[i];
        const cf_wf_transition *tb = cf_wf_find_transition(b, ta->event);
        json_t *ja = transition_json(ta);
        transition_text(ja, t1, sizeof t1);
        if (!tb) {
            add(d, "transition", "removed", a->name, ta->event, NULL, ja, NULL,
                "- transition %s on %s %s", a->name, ta->event, t1);
            continue;
        }
        json_t *jb = transition_json(tb);
        if (json_equal(ja, jb)) {
            json_decref(ja);
            json_decref(jb);
            continue;
        }
        transition_text(jb, t2, sizeof t2);
        add(d, "transition", "changed", a->name, ta->event, NULL, ja, jb,
            "~ transition %s on %s %s  =>  %s", a->name, ta->event, t1, t2);
    }
    for (size_t i = 0; i < b->non; i++) {
        const cf_wf_transition *tb = &b->on[i];
        if (cf_wf_find_transition(a, tb->event))
            continue;
        json_t *jb = transition_json(tb);
        transition_text(jb, t2, sizeof t2);
        add(d, "transition", "added", b->name, tb->event, NULL, NULL, jb,
            "+ transition %s on %s %s", b->name, tb->event, t2);
    }
}

static void diff_state(diff *d, const cf_wf_state *a, const cf_wf_state *b)
{
    char t1[300], t2[300];
    const char *s = a->name;
    if (!!a->step != !!b->step || (a->step && strcmp(a->step, b->step) != 0))
        add(d, "plugin", a->step ? b->step ? "changed" : "removed" : "added", s, NULL, NULL,
            a->step ? json_string(a->step) : NULL, b->step ? json_string(b->step) : NULL,
            "%s plugin %s: %s -> %s", mark(a->step ? b->step ? "changed" : "removed" : "added"),
            s, a->step ? a->step : "(none)", b->step ? b->step : "(none)");
    json_t *ra = strv(a->roles, a->nroles), *rb = strv(b->roles, b->nroles);
    if (!json_equal(ra, rb))
        add(d, "roles", "changed", s, NULL, NULL, json_incref(ra), json_incref(rb),
            "~ roles %s: %s -> %s", s, vtext(ra, t1, sizeof t1), vtext(rb, t2, sizeof t2));
    json_decref(ra);
    json_decref(rb);
    if (a->final != b->final)
        add(d, "final", "changed", s, NULL, NULL, json_boolean(a->final), json_boolean(b->final),
            "~ state %s: %s -> %s", s, a->final ? "final" : "not final",
            b->final ? "final" : "not final");
    json_t *ta = timer_json(a), *tb = timer_json(b);
    if (!(ta == NULL && tb == NULL) && !(ta && tb && json_equal(ta, tb))) {
        const char *change = !ta ? "added" : !tb ? "removed" : "changed";
        char d1[32] = "(none)", d2[32] = "(none)";
        if (ta)
            duration(a->timer_secs, d1, sizeof d1);
        if (tb)
            duration(b->timer_secs, d2, sizeof d2);
        add(d, "timer", change, s, NULL, NULL, ta, tb, "%s timer %s: %s %s -> %s %s",
            mark(change), s, d1, ta && a->timer_event ? a->timer_event : "", d2,
            tb && b->timer_event ? b->timer_event : "");
    } else {
        json_decref(ta);
        json_decref(tb);
    }
    if (a->deadline_secs != b->deadline_secs) {
        const char *change = !a->deadline_secs   ? "added"
                             : !b->deadline_secs ? "removed"
                                                 : "changed";
        char d1[32] = "(none)", d2[32] = "(none)";
        if (a->deadline_secs)
            duration(a->deadline_secs, d1, sizeof d1);
        if (b->deadline_secs)
            duration(b->deadline_secs, d2, sizeof d2);
        add(d, "deadline", change, s, NULL, NULL,
            a->deadline_secs ? json_integer(a->deadline_secs) : NULL,
            b->deadline_secs ? json_integer(b->deadline_secs) : NULL,
            "%s deadline %s: %s -> %s", mark(change), s, d1, d2);
    }
    diff_config(d, "config", s, "", a->config, b->config);
    diff_transitions(d, a, b);
}

/* printf at buf + *n, *n clamped to the buffer. */
static void appendf(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
    if (*n >= size - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *n, size - *n, fmt, ap);
    va_end(ap);
    *n = w < 0 ? size - 1 : *n + (size_t)w >= size ? size - 1 : *n + (size_t)w;
}

/* A state shown whole when added or removed: its plugin, timer, deadline
 * and transitions go with it in the same line. */
static void whole_state(diff *d, const cf_wf_state *st, const char *change)
{
    char t[600], line[2048];
    size_t n = 0;
    appendf(line, sizeof line, &n, "%s state %s", mark(change), st->name);
    if (st->step)
        appendf(line, sizeof line, &n, " (plugin %s)", st->step);
    if (st->final)
        appendf(line, sizeof line, &n, " final");
    char dur[32];
    if (st->timer_secs > 0) {
        duration(st->timer_secs, dur, sizeof dur);
        appendf(line, sizeof line, &n, " timer %s %s", dur,
                              st->timer_event ? st->timer_event : "");
    }
    if (st->deadline_secs > 0) {
        duration(st->deadline_secs, dur, sizeof dur);
        appendf(line, sizeof line, &n, " deadline %s", dur);
    }
    json_t *on = json_object();
    for (size_t i = 0; i < st->non; i++)
        json_object_set_new(on, st->on[i].event, transition_json(&st->on[i]));
    for (size_t i = 0; i < st->non && n < sizeof line - 1; i++) {
        transition_text(json_object_get(on, st->on[i].event), t, sizeof t);
        appendf(line, sizeof line, &n, "; %s %s", st->on[i].event, t);
    }
    json_t *o = json_pack("{s:s?, s:b, s:o, s:O, s:o?, s:I}", "plugin", st->step, "final",
                          st->final, "roles", strv(st->roles, st->nroles), "config", st->config,
                          "timer", timer_json(st), "deadline", (json_int_t)st->deadline_secs);
    json_object_set_new(o, "on", on);
    bool added = strcmp(change, "added") == 0;
    add(d, "state", change, st->name, NULL, NULL, added ? NULL : o, added ? o : NULL, "%s",
        line);
}

/* The structural changes from a to b (a may be NULL: nothing deployed). */
static json_t *structure(const cf_wf *a, const cf_wf *b)
{
    diff d = {json_array()};
    char t1[300], t2[300];
    if (a && strcmp(a->name, b->name) != 0)
        add(&d, "name", "changed", NULL, NULL, NULL, json_string(a->name), json_string(b->name),
            "~ name: %s -> %s", a->name, b->name);
    if (a && strcmp(a->initial, b->initial) != 0)
        add(&d, "initial", "changed", NULL, NULL, NULL, json_string(a->initial),
            json_string(b->initial), "~ initial state: %s -> %s", a->initial, b->initial);
    for (size_t i = 0; a && i < a->nstates; i++)
        if (!cf_wf_find_state(b, a->states[i].name))
            whole_state(&d, &a->states[i], "removed");
    for (size_t i = 0; i < b->nstates; i++) {
        const cf_wf_state *sa = a ? cf_wf_find_state(a, b->states[i].name) : NULL;
        if (!sa)
            whole_state(&d, &b->states[i], "added");
        else
            diff_state(&d, sa, &b->states[i]);
    }
    json_t *empty = json_object();
    diff_config(&d, "setting", NULL, "", a ? a->config : empty, b->config);
    json_decref(empty);
    (void)t1;
    (void)t2;
    return d.changes;
}

/* The unified diffs of every bundled file, modules then assets. */
static int sources(const json_t *a, const json_t *b, const char *la, const char *lb,
                   char **out)
{
    static const char *const parts[] = {"modules", "assets"};
    cf_buf buf = {0};
    for (size_t p = 0; p < 2; p++) {
        const json_t *ma = json_object_get(a, parts[p]), *mb = json_object_get(b, parts[p]);
        size_t n = 0;
        const char **keys = key_union(ma, mb, &n);
        if (!keys) {
            free(buf.p);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            char l1[600], l2[600];
            const json_t *fa = json_object_get(ma, keys[i]), *fb = json_object_get(mb, keys[i]);
            snprintf(l1, sizeof l1, "%s/%s (%s)", fa ? "a" : "/dev/null", keys[i], la);
            snprintf(l2, sizeof l2, "%s/%s (%s)", fb ? "b" : "/dev/null", keys[i], lb);
            char *u = cf_line_diff(json_string_value(fa), json_string_value(fb),
                                   fa ? l1 : "/dev/null", fb ? l2 : "/dev/null");
            if (!u || cf_buf_put(&buf, u, strlen(u))) {
                free(u);
                free(keys);
                free(buf.p);
                return -1;
            }
            free(u);
        }
        free(keys);
    }
    if (cf_buf_put(&buf, "", 1)) {
        free(buf.p);
        return -1;
    }
    *out = buf.p;
    return 0;
}

/* ---- loading the two sides ------------------------------------------------ */

/* Deployed version `version` of name, loaded without its plugins (an old
 * version whose plugin is gone still compares). CF_EMISSING when it is
 * not deployed. */
static int load_version(cf_engine *e, const char *name, int64_t version, cf_wf **out,
                        cf_error *err)
{
    json_t *bundle = NULL;
    int64_t latest = 0;
    cf_error ignored;
    if (cf_store_workflow_latest(e->store, name, &latest, NULL, &ignored) == CF_EMISSING)
        return cf_err_set(err, CF_EMISSING, "workflow", "workflow %s is not deployed", name);
    int rc = cf_store_workflow_get(e->store, name, version, &bundle, err);
    if (rc == CF_EMISSING)
        return cf_err_set(err, CF_EMISSING, "version", "workflow %s v%lld is not deployed",
                          name, (long long)version);
    if (!rc)
        rc = cf_wf_load(bundle, out, err);
    json_decref(bundle);
    return rc;
}

int cf_workflow_diff(cf_engine *e, const char *name, int64_t v1, int64_t v2, const char *file,
                     json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    if ((!name && !file) || (!file && (v1 <= 0 || v2 <= 0)))
        return cf_err_set(err, CF_EUSAGE, "version",
                          "a diff compares two versions, or a version and a file");
    cf_wf *a = NULL, *b = NULL;
    json_t *bundle = NULL;
    if (file) {
        if ((rc = cf_wf_bundle_from_file(file, &bundle, err)) ||
            (rc = cf_wf_load(bundle, &b, err))) {
            json_decref(bundle);
            return rc;
        }
        json_decref(bundle);
        if (!name)
            name = b->name;
    } else if ((rc = load_version(e, name, v2, &b, err))) {
        return rc;
    }
    int64_t from = v1;
    if (from <= 0) { /* the active version; none when never deployed */
        rc = cf_engine_workflow_active(e, name, &from, err);
        if (rc == CF_EMISSING && file) {
            from = 0;
            rc = 0;
            cf_err_clear(err);
        } else if (rc == CF_EMISSING) {
            rc = cf_err_set(err, CF_EMISSING, "workflow", "workflow %s is not deployed", name);
        }
    }
    if (!rc && from > 0)
        rc = load_version(e, name, from, &a, err);
    char *src = NULL, la[300], lb[300];
    snprintf(la, sizeof la, "%s v%lld", name, (long long)from);
    if (file)
        snprintf(lb, sizeof lb, "%s", file);
    else
        snprintf(lb, sizeof lb, "%s v%lld", name, (long long)v2);
    json_t *empty = json_object();
    if (!rc && sources(a ? a->bundle : empty, b->bundle, la, lb, &src))
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    json_decref(empty);
    if (!rc) {
        json_t *changes = structure(a, b);
        json_t *to = file ? json_pack("{s:s, s:s}", "file", file, "hash", b->hash)
                          : json_pack("{s:I, s:s}", "version", (json_int_t)v2, "hash", b->hash);
        json_t *fromj = a ? json_pack("{s:I, s:s}", "version", (json_int_t)from, "hash", a->hash)
                          : json_null();
        *out = json_pack("{s:s, s:o, s:o, s:b, s:o, s:s}", "name", name, "from", fromj, "to",
                         to, "identical", a && strcmp(a->hash, b->hash) == 0, "changes",
                         changes, "source", src);
        if (!*out)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    free(src);
    cf_wf_free(a);
    cf_wf_free(b);
    return rc;
}
