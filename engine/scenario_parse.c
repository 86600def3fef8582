/*
 * Reading workflow test scenarios: a Lua data file (evaluated in the
 * workflow sandbox) or a JSON file, one format with two syntaxes, checked
 * field by field before anything runs. Every problem is one line naming
 * the file and the path of the bad field ("steps[3].expect.state"; steps
 * are numbered from 1, as the runner's "step N" lines are), or, for JSON
 * syntax and Lua errors, FILE:LINE. docs/workflows.md describes the format.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseflow/caseflow.h"
#include "scenario.h"

#define SC_MAX_STEPS 10000
#define SC_NAME_MAX 128
#define SC_PATH 512 /* a field path: "steps[12].expect.timers[2].due" */

typedef struct sc_parse {
    const char *file;
    cf_error *err;
    int64_t start, last; /* times seen so far, for +offsets and order */
    const json_t *users; /* the normalised users */
    json_t *cases;       /* names of the cases made so far: name -> true */
} sc_parse;

static int bad(sc_parse *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(sc_parse *p, const char *path, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cf_err_set(p->err, CF_EINVALID, path, "%s: %s: %s", p->file, path, msg);
}

/* Unknown keys of o: the first one not in allowed (NULL-terminated). */
static int check_keys(sc_parse *p, const json_t *o, const char *path,
                      const char *const *allowed)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (!ok) {
            char list[300] = "", sub[SC_PATH];
            for (size_t i = 0; allowed[i]; i++) {
                size_t n = strlen(list);
                snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
            }
            snprintf(sub, sizeof sub, "%.300s%s%.100s", path, *path ? "." : "", k);
            return bad(p, sub, "unknown key (known: %s)", list);
        }
    }
    return 0;
}

static void sub_path(char *out, size_t size, const char *path, const char *key)
{
    size_t n = 0;
    for (const char *s = path; *s && n + 1 < size; s++)
        out[n++] = *s;
    if (*path && n + 1 < size)
        out[n++] = '.';
    for (const char *s = key; *s && n + 1 < size; s++)
        out[n++] = *s;
    out[n] = '\0';
}

/* A short, printable name: letters, digits and . _ - @ / : + */
static bool plain_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SC_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-@/:+", *s))
            return false;
    return true;
}

static int want_string(sc_parse *p, const json_t *v, const char *path, bool name)
{
    if (!json_is_string(v))
        return bad(p, path, "must be a string");
    if (name && !plain_name(json_string_value(v)))
        return bad(p, path, "must be 1-%d characters of A-Z a-z 0-9 . _ - @ / : +",
                   SC_NAME_MAX);
    return 0;
}

/* "+1d12h30m", relative to the scenario's start: seconds into *secs. */
static bool parse_offset(const char *s, int64_t *secs)
{
    if (*s++ != '+' || *s == '\0')
        return false;
    int64_t total = 0;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return false;
        errno = 0;
        char *end;
        long long n = strtoll(s, &end, 10);
        if (errno || n > 100000000LL)
            return false;
        int64_t unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60
                                           : *end == 's' ? 1 : 0;
        if (unit == 0)
            return false;
        total += (int64_t)n * unit;
        if (total > INT64_C(100) * 366 * 86400)
            return false;
        s = end + 1;
    }
    *secs = total;
    return true;
}

/* A time: RFC 3339 with a zone, or +offset from the start (when allowed). */
static int want_time(sc_parse *p, const json_t *v, const char *path, bool offsets,
                     int64_t *t)
{
    const char *s = json_string_value(v);
    int off;
    int64_t d;
    if (s && cf_time_parse(s, t, &off) == 0 && *t > 0 && *t < INT64_C(253402300799))
        return 0;
    if (s && offsets && parse_offset(s, &d)) {
        *t = p->start + d;
        return 0;
    }
    return bad(p, path, offsets ? "must be a time: RFC 3339 with a zone "
                                  "(2026-11-03T10:00:00Z) or an offset from start (+30d, +1d12h)"
                                : "must be an RFC 3339 time with a zone (2026-11-03T10:00:00Z)");
}

static int set_int(json_t *o, const char *k, int64_t v)
{
    return json_object_set_new(o, k, json_integer((json_int_t)v)) ? CF_ENOMEM : 0;
}

/* ---- users -------------------------------------------------------------- */

static const char *const known_roles[] = {"analyst", "officer", "supervisor", "authoriser",
                                          "administrator", "viewer", NULL};

static int check_role(sc_parse *p, const json_t *r, const char *path)
{
    int rc = want_string(p, r, path, false);
    if (rc)
        return rc;
    for (size_t i = 0; known_roles[i]; i++)
        if (strcmp(json_string_value(r), known_roles[i]) == 0)
            return 0;
    return bad(p, path, "unknown role '%.60s' (analyst, officer, supervisor, authoriser, "
                        "administrator, viewer)", json_string_value(r));
}

/* users: {name: role | [roles]} into {name: [roles]}. */
static int norm_users(sc_parse *p, const json_t *in, json_t *out)
{
    if (in == NULL) { /* one user per role, named after it */
        static const char *const dflt[][2] = {
            {"analyst", "analyst"}, {"officer", "officer"}, {"supervisor", "supervisor"},
            {"authoriser", "authoriser"}};
        for (size_t i = 0; i < sizeof dflt / sizeof dflt[0]; i++)
            if (json_object_set_new(out, dflt[i][0], json_pack("[s]", dflt[i][1])))
                return CF_ENOMEM;
        return 0;
    }
    if (!json_is_object(in))
        return bad(p, "users", "must be a table of user = role or {roles}");
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)in, name, v) {
        char path[SC_PATH];
        sub_path(path, sizeof path, "users", name);
        if (!plain_name(name) || strlen(name) > 64 || strchr("/:+", name[0]))
            return bad(p, path, "a user name is 1-64 characters of A-Z a-z 0-9 . _ - @");
        if (strcmp(name, CF_SCENARIO_ADMIN) == 0)
            return bad(p, path, "'%s' is the test runner's own administrator", name);
        json_t *roles = json_array();
        if (roles == NULL || json_object_set_new(out, name, roles))
            return CF_ENOMEM;
        if (json_is_string(v)) {
            int rc = check_role(p, v, path);
            if (rc)
                return rc;
            json_array_append(roles, (json_t *)v);
            continue;
        }
        if (!json_is_array(v) || json_array_size(v) == 0)
            return bad(p, path, "must be a role or a list of roles");
        size_t i;
        const json_t *r;
        json_array_foreach(v, i, r) {
            char rp[SC_PATH];
            snprintf(rp, sizeof rp, "%.300s[%zu]", path, i + 1);
            int rc = check_role(p, r, rp);
            if (rc)
                return rc;
            json_array_append(roles, (json_t *)r);
        }
    }
    if (json_object_size(out) == 0)
        return bad(p, "users", "names no user");
    return 0;
}

/* referred_by: who refers the top-level referral; by default the first
 * user (by name) who is an analyst, else the first officer. */
static int norm_referrer(sc_parse *p, const json_t *in, json_t *sc)
{
    const json_t *v = json_object_get(in, "referred_by");
    const json_t *users = json_object_get(sc, "users");
    if (v && !json_object_get(in, "referral"))
        return bad(p, "referred_by", "there is no referral to refer");
    if (v) {
        int rc = want_string(p, v, "referred_by", true);
        if (rc)
            return rc;
        if (!json_object_get(users, json_string_value(v)))
            return bad(p, "referred_by", "'%s' is not one of the users",
                       json_string_value(v));
        return json_object_set(sc, "referred_by", (json_t *)v) ? CF_ENOMEM : 0;
    }
    if (!json_object_get(in, "referral"))
        return 0;
    static const char *const roles[] = {"analyst", "officer"};
    for (size_t r = 0; r < 2; r++) {
        const char *best = NULL, *name;
        const json_t *list;
        json_object_foreach((json_t *)users, name, list) {
            size_t i;
            const json_t *role;
            json_array_foreach(list, i, role) {
                if (strcmp(json_string_value(role), roles[r]) == 0 &&
                    (best == NULL || strcmp(name, best) < 0))
                    best = name;
            }
        }
        if (best)
            return json_object_set_new(sc, "referred_by", json_string(best)) ? CF_ENOMEM : 0;
    }
    return bad(p, "referred_by", "no user may refer (an analyst or an officer)");
}

/* ---- expectations ------------------------------------------------------- */

/* A string, or false for "none". */
static int want_string_or_false(sc_parse *p, const json_t *v, const char *path)
{
    if (json_is_false(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200)
        return bad(p, path, "must be a string (1-200 characters), or false for none");
    return 0;
}

/* A list: an array, or an empty table (Lua's {} reads as an object). */
static bool is_list(const json_t *v)
{
    return json_is_array(v) || (json_is_object(v) && json_object_size(v) == 0);
}

static int norm_timers(sc_parse *p, json_t *ex, const json_t *v, const char *path)
{
    if (!is_list(v))
        return bad(p, path, "must be a list of {event = ..., due = ...}");
    json_t *list = json_array();
    if (list == NULL || json_object_set_new(ex, "timers", list))
        return CF_ENOMEM;
    static const char *const keys[] = {"event", "due", NULL};
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        const json_t *t = json_array_get(v, i);
        char tp[SC_PATH], fp[SC_PATH];
        snprintf(tp, sizeof tp, "%.300s[%zu]", path, i + 1);
        if (!json_is_object(t))
            return bad(p, tp, "must be {event = ..., due = ...}");
        int rc = check_keys(p, t, tp, keys);
        if (rc)
            return rc;
        sub_path(fp, sizeof fp, tp, "event");
        if ((rc = want_string(p, json_object_get(t, "event"), fp, true)))
            return rc;
        json_t *nt = json_pack("{s:O}", "event", json_object_get(t, "event"));
        if (nt == NULL || json_array_append_new(list, nt))
            return CF_ENOMEM;
        const json_t *due = json_object_get(t, "due");
        if (due) {
            int64_t d;
            sub_path(fp, sizeof fp, tp, "due");
            if ((rc = want_time(p, due, fp, true, &d)) || (rc = set_int(nt, "due", d)))
                return rc;
        }
    }
    return 0;
}

static int norm_tasks(sc_parse *p, const json_t *v, const char *path)
{
    if (!is_list(v))
        return bad(p, path, "must be a list of {kind = ..., role = ..., status = ...}");
    static const char *const keys[] = {"kind", "role", "status", NULL};
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        const json_t *t = json_array_get(v, i);
        char tp[SC_PATH], fp[SC_PATH];
        snprintf(tp, sizeof tp, "%.300s[%zu]", path, i + 1);
        if (!json_is_object(t))
            return bad(p, tp, "must be {kind = ..., role = ..., status = ...}");
        int rc = check_keys(p, t, tp, keys);
        if (rc)
            return rc;
        if (!json_object_get(t, "kind")) {
            sub_path(fp, sizeof fp, tp, "kind");
            return bad(p, fp, "is required");
        }
        for (size_t k = 0; keys[k]; k++) {
            const json_t *f = json_object_get(t, keys[k]);
            sub_path(fp, sizeof fp, tp, keys[k]);
            if (f && (rc = want_string(p, f, fp, true)))
                return rc;
        }
        const char *st = json_string_value(json_object_get(t, "status"));
        if (st && strcmp(st, "open") && strcmp(st, "claimed") && strcmp(st, "done"))
            return bad(p, fp, "must be open, claimed or done");
    }
    return 0;
}

static int norm_expect(sc_parse *p, const json_t *in, const char *path, bool tick,
                       json_t **out)
{
    static const char *const keys[] = {"case", "state", "outcome", "route", "grade",
                                       "deadline", "timers", "tasks", "data", "fired", NULL};
    char fp[SC_PATH];
    if (!json_is_object(in))
        return bad(p, path, "must be a table of expectations");
    int rc = check_keys(p, in, path, keys);
    if (rc)
        return rc;
    json_t *ex = *out = json_deep_copy(in);
    if (ex == NULL)
        return CF_ENOMEM;
    const json_t *v;
    if ((v = json_object_get(in, "case"))) {
        sub_path(fp, sizeof fp, path, "case");
        if ((rc = want_string(p, v, fp, true)))
            return rc;
        if (!json_object_get(p->cases, json_string_value(v)))
            return bad(p, fp, "no case named '%s'", json_string_value(v));
    }
    if ((v = json_object_get(in, "state"))) {
        sub_path(fp, sizeof fp, path, "state");
        if ((rc = want_string(p, v, fp, true)))
            return rc;
    }
    static const char *const optional[] = {"outcome", "route", "grade"};
    for (size_t i = 0; i < 3; i++)
        if ((v = json_object_get(in, optional[i]))) {
            sub_path(fp, sizeof fp, path, optional[i]);
            if ((rc = want_string_or_false(p, v, fp)))
                return rc;
        }
    if ((v = json_object_get(in, "deadline"))) {
        sub_path(fp, sizeof fp, path, "deadline");
        int64_t d;
        if (!json_is_false(v) &&
            ((rc = want_time(p, v, fp, true, &d)) || (rc = set_int(ex, "deadline", d))))
            return rc;
    }
    if ((v = json_object_get(in, "timers"))) {
        sub_path(fp, sizeof fp, path, "timers");
        if ((rc = norm_timers(p, ex, v, fp)))
            return rc;
    }
    if ((v = json_object_get(in, "tasks"))) {
        sub_path(fp, sizeof fp, path, "tasks");
        if ((rc = norm_tasks(p, v, fp)))
            return rc;
        if (json_is_object(v) && json_object_set_new(ex, "tasks", json_array()))
            return CF_ENOMEM;
    }
    if ((v = json_object_get(in, "data"))) {
        sub_path(fp, sizeof fp, path, "data");
        if (!json_is_object(v) || json_object_size(v) == 0)
            return bad(p, fp, "must be a table of [\"dotted.path\"] = value");
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            char kp[SC_PATH];
            snprintf(kp, sizeof kp, "%.300s[\"%.100s\"]", fp, k);
            if (!plain_name(k) || k[0] == '.' || strstr(k, ".."))
                return bad(p, kp, "must be a dotted path into the case data (risk.grade)");
        }
    }
    if ((v = json_object_get(in, "fired"))) {
        sub_path(fp, sizeof fp, path, "fired");
        if (!tick)
            return bad(p, fp, "only a tick step fires timers");
        if (!is_list(v))
            return bad(p, fp, "must be a list of event names");
        for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
            char ep[SC_PATH];
            snprintf(ep, sizeof ep, "%.300s[%zu]", fp, i + 1);
            if ((rc = want_string(p, json_array_get(v, i), ep, true)))
                return rc;
        }
        if (json_is_object(v) && json_object_set_new(ex, "fired", json_array()))
            return CF_ENOMEM;
    }
    if (json_object_size(in) == 0 ||
        (json_object_size(in) == 1 && json_object_get(in, "case")))
        return bad(p, path, "expects nothing");
    return 0;
}

/* ---- steps -------------------------------------------------------------- */

static int norm_refused(sc_parse *p, const json_t *v, const char *path)
{
    static const char *const keys[] = {"exit", "message", NULL};
    char fp[SC_PATH];
    if (!json_is_object(v))
        return bad(p, path, "must be {exit = 77, message = \"...\"}");
    int rc = check_keys(p, v, path, keys);
    if (rc)
        return rc;
    const json_t *e = json_object_get(v, "exit"), *m = json_object_get(v, "message");
    sub_path(fp, sizeof fp, path, "exit");
    if (e && (!json_is_integer(e) || json_integer_value(e) < 64 || json_integer_value(e) > 78))
        return bad(p, fp, "must be an exit status from 64 to 78 (65 data, 77 not permitted)");
    sub_path(fp, sizeof fp, path, "message");
    if (m && (!json_is_string(m) || json_string_length(m) == 0 || json_string_length(m) > 300))
        return bad(p, fp, "must be text the refusal's message contains");
    if (!e && !m)
        return bad(p, path, "must say the exit status, the message or both");
    return 0;
}

static int norm_step(sc_parse *p, const json_t *in, size_t n, json_t **out)
{
    static const char *const keys[] = {"at", "case", "as", "act", "data", "refused",
                                       "tick", "refer", "expect", "note", NULL};
    char path[SC_PATH], fp[SC_PATH];
    snprintf(path, sizeof path, "steps[%zu]", n);
    if (!json_is_object(in))
        return bad(p, path, "must be a table (a step)");
    int rc = check_keys(p, in, path, keys);
    if (rc)
        return rc;
    json_t *st = *out = json_object();
    if (st == NULL || set_int(st, "n", (int64_t)n))
        return CF_ENOMEM;

    const json_t *v;
    int64_t at = p->last;
    if ((v = json_object_get(in, "at"))) {
        sub_path(fp, sizeof fp, path, "at");
        if ((rc = want_time(p, v, fp, true, &at)))
            return rc;
        if (at < p->last)
            return bad(p, fp, "goes back in time (before the step or start before it)");
    }
    p->last = at;
    if ((rc = set_int(st, "at", at)))
        return rc;

    const json_t *act = json_object_get(in, "act"), *tick = json_object_get(in, "tick");
    const json_t *refer = json_object_get(in, "refer");
    int kinds = (act != NULL) + (tick != NULL) + (refer != NULL);
    if (kinds > 1)
        return bad(p, path, "does one thing: act, tick or refer");
    const char *kind = act ? "act" : tick ? "tick" : refer ? "refer" : "check";
    if (json_object_set_new(st, "kind", json_string(kind)))
        return CF_ENOMEM;
    if (act) {
        sub_path(fp, sizeof fp, path, "act");
        if ((rc = want_string(p, act, fp, true)))
            return rc;
        json_object_set(st, "act", (json_t *)act);
    }
    if (tick && !json_is_true(tick)) {
        sub_path(fp, sizeof fp, path, "tick");
        return bad(p, fp, "must be true");
    }
    if (refer) {
        sub_path(fp, sizeof fp, path, "refer");
        if (!json_is_object(refer))
            return bad(p, fp, "must be a referral (a table; DESIGN.md's referral format)");
        json_object_set(st, "refer", (json_t *)refer);
    }
    v = json_object_get(in, "as");
    sub_path(fp, sizeof fp, path, "as");
    if (v && (tick || (!act && !refer)))
        return bad(p, fp, "only an act or a refer has an actor (ticks run as the engine)");
    if ((act || refer) && !v)
        return bad(p, fp, "is required: the user who %s", act ? "acts" : "refers");
    if (v) {
        if ((rc = want_string(p, v, fp, true)))
            return rc;
        if (!json_object_get(p->users, json_string_value(v)))
            return bad(p, fp, "'%s' is not one of the users", json_string_value(v));
        json_object_set(st, "as", (json_t *)v);
    }
    v = json_object_get(in, "data");
    sub_path(fp, sizeof fp, path, "data");
    if (v && !act)
        return bad(p, fp, "only an act sends event data");
    if (v && !json_is_object(v) && !(json_is_array(v) && json_array_size(v) == 0))
        return bad(p, fp, "must be a table (the event's data)");
    if (act && json_object_set_new(st, "data", v && json_is_object(v) ? json_deep_copy(v)
                                                                     : json_object()))
        return CF_ENOMEM;
    v = json_object_get(in, "refused");
    if (v) {
        sub_path(fp, sizeof fp, path, "refused");
        if (!act && !refer)
            return bad(p, fp, "only an act or a refer can be refused");
        if ((rc = norm_refused(p, v, fp)))
            return rc;
        json_object_set(st, "refused", (json_t *)v);
    }
    v = json_object_get(in, "case");
    sub_path(fp, sizeof fp, path, "case");
    if (v && tick)
        return bad(p, fp, "a tick fires the timers of every case (name the case in expect)");
    if (v && (rc = want_string(p, v, fp, true)))
        return rc;
    const char *cname = v ? json_string_value(v) : CF_SCENARIO_MAIN;
    /* A step that only checks names its case in expect.case (checked there). */
    const json_t *exc = json_object_get(json_object_get(in, "expect"), "case");
    if (!v && !act && !tick && !refer && json_is_string(exc))
        cname = json_string_value(exc);
    if (refer) {
        if (json_object_get(p->cases, cname))
            return bad(p, fp, "a case named '%s' exists already", cname);
        if (json_object_set_new(p->cases, cname, json_true()))
            return CF_ENOMEM;
    } else if (!tick && !json_object_get(p->cases, cname)) {
        return bad(p, fp, "no case named '%s' (the referral makes '%s'; a refer step names "
                          "its case)", cname, CF_SCENARIO_MAIN);
    }
    if (json_object_set_new(st, "case", json_string(cname)))
        return CF_ENOMEM;
    v = json_object_get(in, "note");
    if (v) {
        sub_path(fp, sizeof fp, path, "note");
        if (!json_is_string(v))
            return bad(p, fp, "must be a string");
    }
    v = json_object_get(in, "expect");
    if (v) {
        sub_path(fp, sizeof fp, path, "expect");
        json_t *ex = NULL;
        rc = norm_expect(p, v, fp, tick != NULL, &ex);
        if (!rc && json_object_set_new(st, "expect", ex))
            rc = CF_ENOMEM;
        else if (rc)
            json_decref(ex);
        if (rc)
            return rc;
    } else if (!act && !tick && !refer) {
        return bad(p, path, "does nothing: give act, tick, refer or expect");
    }
    return 0;
}

int cf_scenario_normalise(const char *file, const char *dir, const json_t *in, json_t **out,
                          cf_error *err)
{
    static const char *const keys[] = {"name", "description", "workflow", "start", "users",
                                       "referral", "referred_by", "steps", NULL};
    sc_parse p = {.file = file, .err = err};
    *out = NULL;
    if (!json_is_object(in))
        return bad(&p, "(top)", "a scenario is a table {name = ..., start = ..., steps = ...}");
    int rc = check_keys(&p, in, "", keys);
    if (rc)
        return rc;
    json_t *sc = json_object(), *users = json_object(), *steps = json_array();
    if (!sc || !users || !steps || json_object_set_new(sc, "users", users) ||
        json_object_set_new(sc, "steps", steps)) {
        json_decref(sc);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    const json_t *v;
    char name[SC_NAME_MAX + 1];
    const char *base = strrchr(file, '/');
    snprintf(name, sizeof name, "%s", base ? base + 1 : file);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    size_t cut = strlen(name); /* snprintf may have cut a character short: drop it */
    if (cut == SC_NAME_MAX) {
        size_t lead = cut - 1;
        while (lead > 0 && ((unsigned char)name[lead] & 0xC0) == 0x80)
            lead--;
        unsigned char c = (unsigned char)name[lead];
        size_t need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (lead + need > cut)
            name[lead] = '\0';
    }
    if ((v = json_object_get(in, "name"))) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200 ||
            strchr(json_string_value(v), '\n')) {
            rc = bad(&p, "name", "must be one line of text (1-200 characters)");
            goto out;
        }
        json_object_set(sc, "name", (json_t *)v);
    } else if (json_object_set_new(sc, "name", json_string(name))) {
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if ((v = json_object_get(in, "description")) && !json_is_string(v)) {
        rc = bad(&p, "description", "must be a string");
        goto out;
    }
    if ((v = json_object_get(in, "workflow"))) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1000) {
            rc = bad(&p, "workflow", "must be the workflow file's path (relative to the "
                                     "scenario's directory)");
            goto out;
        }
        const char *w = json_string_value(v);
        size_t flen = strlen(w) + (dir ? strlen(dir) : 0) + 2;
        char *full = malloc(flen);
        if (full != NULL)
            snprintf(full, flen, "%s%s%s", w[0] == '/' || dir == NULL ? "" : dir,
                     w[0] == '/' || dir == NULL ? "" : "/", w);
        if (full == NULL || json_object_set_new(sc, "workflow", json_string(full))) {
            free(full);
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
            goto out;
        }
        free(full);
    }
    v = json_object_get(in, "start");
    if (v == NULL) {
        rc = bad(&p, "start", "is required: the time the scenario starts (RFC 3339)");
        goto out;
    }
    if ((rc = want_time(&p, v, "start", false, &p.start)) || (rc = set_int(sc, "start", p.start)))
        goto out;
    p.last = p.start;
    if ((rc = norm_users(&p, json_object_get(in, "users"), users)))
        goto out;
    p.users = users;
    p.cases = json_object();
    if (p.cases == NULL) {
        rc = CF_ENOMEM;
        goto out;
    }
    if ((v = json_object_get(in, "referral"))) {
        if (!json_is_object(v)) {
            rc = bad(&p, "referral", "must be a referral (a table; DESIGN.md's referral format)");
            goto out;
        }
        json_object_set(sc, "referral", (json_t *)v);
        if (json_object_set_new(p.cases, CF_SCENARIO_MAIN, json_true())) {
            rc = CF_ENOMEM;
            goto out;
        }
    }
    if ((rc = norm_referrer(&p, in, sc)))
        goto out;
    v = json_object_get(in, "steps");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        rc = bad(&p, "steps", "is required: a list of steps");
        goto out;
    }
    if (json_array_size(v) > SC_MAX_STEPS) {
        rc = bad(&p, "steps", "more than %d steps", SC_MAX_STEPS);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *st = NULL;
        rc = norm_step(&p, json_array_get(v, i), i + 1, &st);
        if (rc == 0 && json_array_append_new(steps, st))
            rc = CF_ENOMEM;
        else if (rc)
            json_decref(st);
        if (rc)
            goto out;
    }
out:
    json_decref(p.cases);
    if (rc == CF_ENOMEM)
        cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    if (rc) {
        json_decref(sc);
        return rc;
    }
    *out = sc;
    return 0;
}

/* ---- the two syntaxes ----------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Lua has one empty table for both: in a Lua scenario an empty table is an
 * empty list ([]), below the top level (step data `{}` is read as no data). */
static int empty_lists(json_t *v, int depth)
{
    const char *k;
    json_t *x;
    size_t i;
    if (depth > 64)
        return 0;
    if (json_is_object(v)) {
        json_object_foreach(v, k, x) {
            if (json_is_object(x) && json_object_size(x) == 0) {
                if (json_object_set_new(v, k, json_array()))
                    return CF_ENOMEM;
            } else if (empty_lists(x, depth + 1)) {
                return CF_ENOMEM;
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (json_is_object(x) && json_object_size(x) == 0) {
                if (json_array_set_new(v, i, json_array()))
                    return CF_ENOMEM;
            } else if (empty_lists(x, depth + 1)) {
                return CF_ENOMEM;
            }
        }
    }
    return 0;
}

static int parse_in(const char *file, const char *dir, const char *text, size_t len,
                    json_t **out, cf_error *err)
{
    json_t *raw = NULL;
    if (out == NULL || file == NULL || (text == NULL && len > 0))
        return cf_err_set(err, CF_EUSAGE, NULL, "cf_scenario_parse: no file or out-parameter");
    *out = NULL;
    if (text == NULL)
        text = "";
    if (ends_with(file, ".json")) {
        json_error_t je;
        raw = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (raw == NULL)
            return cf_err_set(err, CF_EINVALID, "file", "%s:%d:%d: %s", file, je.line,
                              je.column, je.text);
    } else if (ends_with(file, ".lua")) {
        int rc = cf_wf_eval_data(file, dir, text, len, &raw, err);
        if (rc == CF_ESCRIPT) { /* a limit hit: the file is at fault, not the engine */
            rc = CF_EINVALID;
            if (err)
                err->code = rc;
        }
        if (rc == CF_EINVALID && err) { /* a Lua error or limit: the file, at its line */
            snprintf(err->field, sizeof err->field, "file");
            if (strncmp(err->message, file, strlen(file)) != 0) { /* a limit hit in C */
                char m[sizeof err->message];
                snprintf(m, sizeof m, "%s", err->message);
                cf_err_set(err, rc, "file", "%s: %s", file, m);
            }
        }
        if (rc != 0)
            return rc;
        if (empty_lists(raw, 0)) {
            json_decref(raw);
            return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        }
    } else {
        return cf_err_set(err, CF_EINVALID, "file", "%s: a scenario file is .lua or .json",
                          file);
    }
    int rc = cf_scenario_normalise(file, dir, raw, out, err);
    json_decref(raw);
    return rc;
}

int cf_scenario_parse(const char *file, const char *text, size_t len, json_t **out,
                      cf_error *err)
{
    return parse_in(file, NULL, text, len, out, err);
}

int cf_scenario_load(const char *path, json_t **out, cf_error *err)
{
    if (out)
        *out = NULL;
    if (path == NULL)
        return cf_err_set(err, CF_EUSAGE, NULL, "cf_scenario_load: no path");
    if (!cf_utf8_valid(path)) /* it is named in the result and every message */
        return cf_err_set(err, CF_EINVALID, "file", "a scenario's file name must be UTF-8");
    char *text = NULL;
    size_t len = 0;
    int rc = cf_read_file(path, &text, &len, err);
    if (rc != 0)
        return rc;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (dir == NULL) {
        free(text);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    rc = parse_in(path, dir, text, len, out, err);
    if (rc == 0 && json_object_set_new(*out, "file", json_string(path))) {
        json_decref(*out);
        *out = NULL;
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    free(dir);
    free(text);
    return rc;
}
