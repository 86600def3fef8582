/*
 * The workflow DSL: the table `workflow { ... }` returns, read raw (no
 * metamethods) into the C state table of internal.h. Findings are recorded
 * rather than raised so that `workflow check` reports them all; the Lua API
 * gives no line for a table field, so lines are found in the source text.
 * Also the cf_wf's lifetime and its lookups.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

/* Longest duration a timer or deadline may declare: 100 years. */
#define WF_DURATION_MAX ((int64_t)100 * 366 * 86400)

static const char *const ROLES[] = {"analyst", "officer", "supervisor",
                                    "authoriser", "administrator", NULL};

static bool match_ident(const char *s, size_t len, bool lower_only,
                        const char *extra)
{
    if (len == 0 || len > WF_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (i > 0 && ch == '_') ||
                  (i > 0 && isdigit(ch)) ||
                  (!lower_only && ch >= 'A' && ch <= 'Z') ||
                  (i > 0 && extra && ch && strchr(extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

/* Is the table at idx a pure sequence 1..n (n may be 0)? */
static bool is_sequence(lua_State *L, int idx, size_t *n)
{
    size_t count = 0;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        count++;
    }
    *n = lua_rawlen(L, idx);
    return count == *n;
}

/* ---- source line numbers ------------------------------------------------ */

static bool is_ident_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

/* Does `key = ` (or ["key"] =) start at p? Sets *after past the '='. */
static bool key_at(const char *line, const char *p, const char *end,
                   const char *key, size_t klen, const char **after)
{
    const char *q = p;
    if (*q == '[') {
        q++;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q >= end || (*q != '"' && *q != '\''))
            return false;
        char quote = *q++;
        if ((size_t)(end - q) < klen + 1 || memcmp(q, key, klen) != 0 ||
            q[klen] != quote)
            return false;
        q += klen + 1;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q >= end || *q != ']')
            return false;
        q++;
    } else {
        if (p > line && (is_ident_char(p[-1]) || p[-1] == '.'))
            return false;
        if ((size_t)(end - q) < klen || memcmp(q, key, klen) != 0 ||
            (q + klen < end && is_ident_char(q[klen])))
            return false;
        q += klen;
    }
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    if (q >= end || *q != '=' || (q + 1 < end && q[1] == '='))
        return false;
    *after = q + 1;
    return true;
}

/* The first occurrence of key (klen > 0 bytes) in [s, end), or NULL. */
static const char *find_text(const char *s, const char *end, const char *key, size_t klen)
{
    while ((size_t)(end - s) >= klen) {
        const char *p = memchr(s, key[0], (size_t)(end - s) - klen + 1);
        if (p == NULL)
            return NULL;
        if (memcmp(p, key, klen) == 0)
            return p;
        s = p + 1;
    }
    return NULL;
}

/*
 * The Lua API gives no line for a table field, so find `key = ` in the
 * source text, on lines [from, to) (to 0: to the end). With brace, the value
 * must open a table; with shallowest, prefer the least indented match (a
 * state's key sits shallower than an event of the same name).
 */
static int scan_line(const wf_ctx *c, const char *key, int from, int to,
                     bool brace, bool shallowest)
{
    if (c->src == NULL || key == NULL)
        return 0;
    size_t klen = strlen(key);
    const char *s = c->src, *end = c->src + c->srclen;
    int lineno = 1, best = 0;
    size_t best_indent = SIZE_MAX;

    for (const char *nl; lineno < from && (nl = memchr(s, '\n', (size_t)(end - s))) != NULL;
         s = nl + 1)
        lineno++;
    while (s < end) {
        /* Only a line holding the key's text can match (in either form):
         * go straight to the next such line, counting the lines passed.
         * Each state's look-up would otherwise test every byte of the
         * source (a third of a megabyte for polit.lua's states, on every
         * load of a stored workflow). */
        if (klen > 0) {
            const char *hit = find_text(s, end, key, klen);
            if (hit == NULL)
                break;
            for (const char *nl; (nl = memchr(s, '\n', (size_t)(hit - s))) != NULL;
                 s = nl + 1)
                lineno++;
            if (to > 0 && lineno >= to)
                break;
        }
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (eol == NULL)
            eol = end;
        if (lineno >= from && (to <= 0 || lineno < to)) {
            const char *cmt = NULL;
            for (const char *p = s; p + 1 < eol; p++)
                if (p[0] == '-' && p[1] == '-') {
                    cmt = p;
                    break;
                }
            const char *lim = cmt ? cmt : eol;
            for (const char *p = s; p < lim; p++) {
                const char *after;
                if (!key_at(s, p, lim, key, klen, &after))
                    continue;
                if (brace) {
                    while (after < lim && (*after == ' ' || *after == '\t'))
                        after++;
                    if (after >= lim || *after != '{')
                        continue;
                }
                size_t indent = strspn(s, " \t");
                if (!shallowest)
                    return lineno;
                if (indent < best_indent) {
                    best_indent = indent;
                    best = lineno;
                }
                break;
            }
        }
        s = eol + 1;
        lineno++;
    }
    return best;
}

/* ---- problems (structural findings) ------------------------------------- */

/* Record a finding; the build goes on so `check` can report them all. */
void wf_problem(lua_State *L, const char *rule, int line, const char *field,
                const char *fmt, ...)
{
    wf_ctx *c = wf_ctx_of(L);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *p = json_pack("{s:s, s:i, s:s, s:s, s:s}", "file",
                          c->file ? c->file : "", "line", line, "rule", rule,
                          "message", msg, "field", field ? field : "");
    if (p == NULL || json_array_append_new(c->problems, p) != 0)
        wf_oom(L);
}

/* ---- building the state table ------------------------------------------ */

static char *dup_or_oom(lua_State *L, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        wf_oom(L);
    return d;
}

/* Unknown keys of the table at idx (only string keys in allowed). */
static void check_keys(lua_State *L, int idx, const char *const *allowed,
                       const char *what, const char *field, int line)
{
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                       : NULL;
        bool ok = false;
        for (const char *const *a = allowed; k && *a && !ok; a++)
            ok = strcmp(k, *a) == 0;
        if (!ok)
            wf_problem(L, "structure", line, field, "%s: unknown key '%s'", what,
                    k ? k : luaL_typename(L, -1));
    }
}

/* An array of strings at idx into a new char** (roles or targets). */
static char **string_array(lua_State *L, int idx, size_t *n, bool roles,
                           const char *what, const char *field, int line)
{
    size_t count;
    *n = 0;
    if (lua_type(L, idx) != LUA_TTABLE || !is_sequence(L, idx, &count)) {
        wf_problem(L, "structure", line, field, "%s: must be a list of strings",
                what);
        return NULL;
    }
    if (count == 0)
        return NULL;
    char **out = calloc(count, sizeof *out);
    if (out == NULL)
        wf_oom(L);
    /* *n grows as entries are filled, so a raise frees what was copied. */
    for (size_t i = 0; i < count; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                       : NULL;
        lua_pop(L, 1);
        bool ok = s != NULL && *s;
        if (ok && roles) {
            ok = false;
            for (const char *const *r = ROLES; *r && !ok; r++)
                ok = strcmp(s, *r) == 0;
        }
        if (!ok) {
            if (roles && s)
                wf_problem(L, "structure", line, field,
                        "%s: unknown role '%s' (analyst, officer, supervisor, "
                        "authoriser, administrator)", what, s);
            else
                wf_problem(L, "structure", line, field,
                        "%s: must be a list of strings", what);
            continue;
        }
        out[*n] = strdup(s);
        if (out[*n] == NULL) {
            for (size_t j = 0; j < *n; j++)
                free(out[j]);
            free(out);
            *n = 0;
            wf_oom(L);
        }
        (*n)++;
    }
    if (*n == 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* days/hours/minutes/seconds (+ event for timers) into seconds. */
static int64_t duration(lua_State *L, int idx, bool timer, char **event,
                        const char *what, const char *field, int line)
{
    static const char *const units[] = {"days", "hours", "minutes", "seconds"};
    static const int64_t secs[] = {86400, 3600, 60, 1};
    static const char *const tkeys[] = {"days", "hours", "minutes", "seconds",
                                        "event", NULL};
    if (lua_type(L, idx) != LUA_TTABLE) {
        wf_problem(L, "structure", line, field, "%s: must be a table", what);
        return 0;
    }
    check_keys(L, idx, tkeys, what, field, line);
    if (!timer) {
        wf_rawfield(L, idx, "event");
        bool has = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has)
            wf_problem(L, "structure", line, field, "%s: a deadline has no event",
                    what);
    }
    int64_t total = 0;
    for (int i = 0; i < 4; i++) {
        lua_pushstring(L, units[i]);
        lua_rawget(L, idx);
        if (!lua_isnil(L, -1)) {
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (lua_type(L, -1) != LUA_TNUMBER || !isint || v < 0 ||
                v > WF_DURATION_MAX)
                wf_problem(L, "structure", line, field,
                        "%s: %s must be a non-negative integer", what,
                        units[i]);
            else
                total += v * secs[i];
        }
        lua_pop(L, 1);
    }
    if (total <= 0 || total > WF_DURATION_MAX)
        wf_problem(L, "structure", line, field,
                "%s: the duration must be positive and at most 100 years",
                what);
    if (timer) {
        lua_pushliteral(L, "event");
        lua_rawget(L, idx);
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
            wf_problem(L, "structure", line, field, "%s: needs an event name",
                    what);
        else
            *event = dup_or_oom(L, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return total;
}

/* A function value at idx into the registry; its first line. */
static void transition_function(lua_State *L, int idx, cf_wf_transition *t)
{
    lua_Debug ar;
    lua_pushvalue(L, idx);
    lua_pushvalue(L, idx);
    t->fnref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (lua_getinfo(L, ">S", &ar))
        t->line = ar.linedefined;
}

/* The full form { to, targets, roles, manual, four_eyes, system, data }. */
static void transition_table(lua_State *L, int v, cf_wf_transition *t,
                             const char *what, const char *field, int line)
{
    static const char *const keys[] = {"to", "targets", "roles", "manual", "four_eyes",
                                       "system", "data", NULL};
    check_keys(L, v, keys, what, field, line);
    wf_rawfield(L, v, "to");
    if (lua_type(L, -1) == LUA_TSTRING)
        t->target = dup_or_oom(L, lua_tostring(L, -1));
    else if (lua_type(L, -1) == LUA_TFUNCTION)
        transition_function(L, lua_gettop(L), t);
    else
        wf_problem(L, "structure", line, field,
                "%s: 'to' must be a state name or a function", what);
    lua_pop(L, 1);
    wf_rawfield(L, v, "targets");
    if (!lua_isnil(L, -1))
        t->targets = string_array(L, lua_gettop(L), &t->ntargets, false, what,
                                  field, line);
    lua_pop(L, 1);
    wf_rawfield(L, v, "roles");
    if (!lua_isnil(L, -1))
        t->roles = string_array(L, lua_gettop(L), &t->nroles, true, what,
                                field, line);
    lua_pop(L, 1);
    wf_rawfield(L, v, "manual");
    if (!lua_isnil(L, -1))
        t->manual = string_array(L, lua_gettop(L), &t->nmanual, true, what, field, line);
    lua_pop(L, 1);
    wf_rawfield(L, v, "four_eyes");
    if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0)
        t->four_eyes = dup_or_oom(L, lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        wf_problem(L, "structure", line, field,
                "%s: four_eyes must be an event name", what);
    lua_pop(L, 1);
    wf_rawfield(L, v, "system");
    if (lua_type(L, -1) == LUA_TBOOLEAN)
        t->system = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1))
        wf_problem(L, "structure", line, field, "%s: system must be a boolean",
                what);
    lua_pop(L, 1);
    wf_rawfield(L, v, "data");
    if (!lua_isnil(L, -1))
        wf_parse_data(L, lua_gettop(L), t, what, field, line);
    lua_pop(L, 1);
    /* Whether the event is a plugin's outcome only the check knows (it has
     * the plugins): here, what contradicts itself without them. */
    if (t->nmanual && t->system)
        wf_problem(L, "structure", line, field,
                "%s: manual (people may send it) and system (only the engine) exclude "
                "each other", what);
}

/* Transitions of state st from the `on` table at idx. */
static void parse_on(lua_State *L, int idx, cf_wf_state *st)
{
    char what[300], field[300];
    size_t n = 0;
    if (lua_type(L, idx) != LUA_TTABLE) {
        wf_problem(L, "structure", st->line, st->name,
                "state '%s': 'on' must be a table", st->name);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        n++;
    }
    if (n == 0)
        return;
    st->on = calloc(n, sizeof *st->on);
    if (st->on == NULL)
        wf_oom(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int v = lua_gettop(L);
        if (lua_type(L, -2) != LUA_TSTRING || lua_rawlen(L, -2) == 0 ||
            lua_rawlen(L, -2) > WF_NAME_MAX) {
            wf_problem(L, "structure", st->line, st->name,
                    "state '%s': event names must be strings", st->name);
            lua_pop(L, 1);
            continue;
        }
        const char *ev = lua_tostring(L, -2);
        cf_wf_transition *t = &st->on[st->non++];
        t->fnref = LUA_NOREF;
        t->event = dup_or_oom(L, ev);
        snprintf(what, sizeof what, "state '%s': transition '%s'", st->name,
                 ev);
        snprintf(field, sizeof field, "states.%s.on.%s", st->name, ev);
        switch (lua_type(L, v)) {
        case LUA_TSTRING:
            t->target = dup_or_oom(L, lua_tostring(L, v));
            break;
        case LUA_TFUNCTION:
            transition_function(L, v, t);
            break;
        case LUA_TTABLE:
            transition_table(L, v, t, what, field, st->line);
            break;
        default:
            wf_problem(L, "structure", st->line, field,
                    "%s: must be a state name, a function or a table", what);
        }
        lua_settop(L, v - 1);
    }
}

static void parse_state(lua_State *L, int idx, cf_wf_state *st, int from)
{
    static const char *const keys[] = {"step", "config", "roles", "final",
                                       "timer", "deadline", "on", NULL};
    char what[200], field[200];
    wf_ctx *c = wf_ctx_of(L);
    st->line = scan_line(c, st->name, from, 0, true, true);
    snprintf(what, sizeof what, "state '%s'", st->name);
    snprintf(field, sizeof field, "states.%s", st->name);
    if (lua_type(L, idx) != LUA_TTABLE) {
        wf_problem(L, "structure", st->line, field, "%s: must be a table", what);
        return;
    }
    check_keys(L, idx, keys, what, field, st->line);

    wf_rawfield(L, idx, "step");
    if (lua_type(L, -1) == LUA_TSTRING &&
        match_ident(lua_tostring(L, -1), lua_rawlen(L, -1), true, NULL))
        st->step = dup_or_oom(L, lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        wf_problem(L, "structure", st->line, field,
                "%s: step must be a plugin module name ([a-z][a-z0-9_]*)", what);
    lua_pop(L, 1);

    wf_rawfield(L, idx, "config");
    if (lua_type(L, -1) == LUA_TTABLE) {
        char path[220];
        snprintf(path, sizeof path, "states.%s.config", st->name);
        json_t *cfg = wf_to_json(L, lua_gettop(L), 0, path, st->line);
        if (json_is_object(cfg)) {
            json_decref(st->config);
            st->config = cfg;
        } else if (cfg != NULL) {
            json_decref(cfg);
            wf_problem(L, "structure", st->line, path,
                    "%s: config must have named keys", what);
        }
    } else if (!lua_isnil(L, -1)) {
        wf_problem(L, "structure", st->line, field, "%s: config must be a table",
                what);
    }
    lua_pop(L, 1);

    wf_rawfield(L, idx, "roles");
    if (!lua_isnil(L, -1))
        st->roles = string_array(L, lua_gettop(L), &st->nroles, true, what,
                                 field, st->line);
    lua_pop(L, 1);

    wf_rawfield(L, idx, "final");
    if (lua_type(L, -1) == LUA_TBOOLEAN)
        st->final = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1))
        wf_problem(L, "structure", st->line, field, "%s: final must be a boolean",
                what);
    lua_pop(L, 1);

    wf_rawfield(L, idx, "timer");
    if (!lua_isnil(L, -1))
        st->timer_secs = duration(L, lua_gettop(L), true, &st->timer_event,
                                  what, field, st->line);
    lua_pop(L, 1);
    wf_rawfield(L, idx, "deadline");
    if (!lua_isnil(L, -1))
        st->deadline_secs = duration(L, lua_gettop(L), false, NULL, what,
                                     field, st->line);
    lua_pop(L, 1);

    wf_rawfield(L, idx, "on");
    if (!lua_isnil(L, -1))
        parse_on(L, lua_gettop(L), st);
    lua_pop(L, 1);
    if (st->final && st->non > 0)
        wf_problem(L, "structure", st->line, field,
                "%s: a final state has no transitions", what);
}

static int cmp_state(const void *a, const void *b)
{
    const cf_wf_state *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_transition(const void *a, const void *b)
{
    const cf_wf_transition *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return strcmp(x->event, y->event);
}

/* Point name at the state's own copy of it: resolve then hands out names
 * owned by the states, and cf_wf_free knows which strings are aliases. */
static bool alias_state(cf_wf *wf, char **name)
{
    cf_wf_state *st = cf_wf_find_state(wf, *name);
    if (st == NULL)
        return false;
    if (st->name != *name) {
        free(*name);
        *name = st->name;
    }
    return true;
}

/* Resolve every named target, after all states are known. */
static void link_targets(lua_State *L, cf_wf *wf)
{
    wf_ctx *c = wf_ctx_of(L);
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        int next = i + 1 < wf->nstates ? wf->states[i + 1].line : 0;
        for (size_t j = 0; j < st->non; j++) {
            cf_wf_transition *t = &st->on[j];
            if (t->fnref == LUA_NOREF && st->line > 0)
                t->line = scan_line(c, t->event, st->line,
                                    next > st->line ? next : 0, false, false);
            if (t->line == 0)
                t->line = st->line;
        }
        if (st->non > 1) /* qsort must not see the NULL of an empty array */
            qsort(st->on, st->non, sizeof *st->on, cmp_transition);
        for (size_t j = 0; j < st->non; j++) {
            cf_wf_transition *t = &st->on[j];
            char field[300];
            snprintf(field, sizeof field, "states.%s.on.%s", st->name,
                     t->event);
            if (t->target && !alias_state(wf, &t->target))
                wf_problem(L, "undefined-state", t->line, field,
                        "state '%s': transition '%s' goes to undefined state "
                        "'%s'", st->name, t->event, t->target);
            for (size_t k = 0; k < t->ntargets; k++)
                if (!alias_state(wf, &t->targets[k]))
                    wf_problem(L, "undefined-state", t->line, field,
                            "state '%s': transition '%s' declares undefined "
                            "target '%s'", st->name, t->event, t->targets[k]);
            if (t->target && t->ntargets > 0) {
                bool in = false;
                for (size_t k = 0; k < t->ntargets && !in; k++)
                    in = strcmp(t->targets[k], t->target) == 0;
                if (!in)
                    wf_problem(L, "undefined-state", t->line, field,
                            "state '%s': transition '%s' goes to '%s', which "
                            "is not among its targets", st->name, t->event,
                            t->target);
            }
        }
    }
}

static void parse_states(lua_State *L, int idx, cf_wf *wf, int top_line)
{
    wf_ctx *c = wf_ctx_of(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        n++;
    }
    if (n == 0) {
        wf_problem(L, "structure", top_line, "states",
                "workflow: states must not be empty");
        return;
    }
    wf->states = calloc(n, sizeof *wf->states);
    if (wf->states == NULL)
        wf_oom(L);
    int from = scan_line(c, "states", 1, 0, true, true);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int v = lua_gettop(L);
        if (lua_type(L, -2) != LUA_TSTRING ||
            !match_ident(lua_tostring(L, -2), lua_rawlen(L, -2), false,
                         ".-")) {
            wf_problem(L, "structure", top_line, "states",
                    "workflow: state names must be identifiers");
            lua_pop(L, 1);
            continue;
        }
        cf_wf_state *st = &wf->states[wf->nstates++];
        st->name = dup_or_oom(L, lua_tostring(L, -2));
        st->config = json_object();
        if (st->config == NULL)
            wf_oom(L);
        parse_state(L, v, st, from);
        lua_settop(L, v - 1);
    }
    qsort(wf->states, wf->nstates, sizeof *wf->states, cmp_state);
}

static void parse_top(lua_State *L, int t, cf_wf *wf, int top_line)
{
    static const char *const keys[] = {"name", "version", "initial", "config",
                                       "assets", "states", NULL};
    wf_ctx *c = wf_ctx_of(L);
    check_keys(L, t, keys, "workflow", "", top_line);

    wf_rawfield(L, t, "name");
    if (lua_type(L, -1) == LUA_TSTRING &&
        match_ident(lua_tostring(L, -1), lua_rawlen(L, -1), true, NULL))
        wf->name = dup_or_oom(L, lua_tostring(L, -1));
    else
        wf_problem(L, "structure", scan_line(c, "name", 1, 0, false, true),
                "name", "workflow: name must match [a-z][a-z0-9_]*");
    lua_pop(L, 1);

    wf_rawfield(L, t, "version");
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (lua_type(L, -1) == LUA_TNUMBER && isint && v >= 1)
        wf->declared_version = v;
    else
        wf_problem(L, "structure", scan_line(c, "version", 1, 0, false, true),
                "version", "workflow: version must be an integer >= 1");
    lua_pop(L, 1);

    wf_rawfield(L, t, "config");
    if (lua_type(L, -1) == LUA_TTABLE) {
        json_t *cfg = wf_to_json(L, lua_gettop(L), 0, "config", top_line);
        if (json_is_object(cfg)) {
            json_decref(wf->config);
            wf->config = cfg;
        } else if (cfg != NULL) {
            json_decref(cfg);
            wf_problem(L, "structure", top_line, "config",
                    "workflow: config must have named keys");
        }
    } else if (!lua_isnil(L, -1)) {
        wf_problem(L, "structure", top_line, "config",
                "workflow: config must be a table");
    }
    lua_pop(L, 1);

    wf_rawfield(L, t, "assets");
    if (!lua_isnil(L, -1)) {
        size_t n;
        char **a = string_array(L, lua_gettop(L), &n, false,
                                "workflow: assets", "assets", top_line);
        /* Loading from a bundle: every asset named must be in it. */
        json_t *have = json_object_get(wf->bundle, "assets");
        for (size_t i = 0; c->dir == NULL && i < n; i++)
            if (json_object_get(have, a[i]) == NULL)
                wf_problem(L, "structure", top_line, "assets",
                        "workflow: asset '%s' is not in the bundle", a[i]);
        free_strings(a, n);
    }
    lua_pop(L, 1);

    wf_rawfield(L, t, "states");
    if (lua_type(L, -1) == LUA_TTABLE)
        parse_states(L, lua_gettop(L), wf, top_line);
    else
        wf_problem(L, "structure", top_line, "states",
                "workflow: states must be a table of states");
    lua_pop(L, 1);
    link_targets(L, wf);

    wf_rawfield(L, t, "initial");
    if (lua_type(L, -1) != LUA_TSTRING) {
        wf_problem(L, "structure", top_line, "initial",
                "workflow: initial must name a state");
    } else {
        const char *ini = lua_tostring(L, -1);
        wf->initial = dup_or_oom(L, ini);
        if (wf->nstates > 0 && cf_wf_find_state(wf, ini) == NULL)
            wf_problem(L, "undefined-state",
                    scan_line(c, "initial", 1, 0, false, true), "initial",
                    "workflow: initial state '%s' is not defined", ini);
    }
    lua_pop(L, 1);
}

/* name -> index + 1, for resolving function results without strcmp. */
static void index_states(lua_State *L, cf_wf *wf)
{
    lua_createtable(L, 0, (int)wf->nstates);
    for (size_t i = 0; i < wf->nstates; i++) {
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_setfield(L, -2, wf->states[i].name);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, &wf_key_states);
}

int wf_build_body(lua_State *L)
{
    wf_ctx *c = wf_ctx_of(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_workflow);
    if (lua_type(L, -1) != LUA_TTABLE)
        return luaL_error(L, "%s: the file must return workflow { ... }",
                          c->file);
    parse_top(L, lua_gettop(L), c->wf, 0);
    index_states(L, c->wf);
    return 0;
}

/* ---- freeing and lookups ------------------------------------------------ */

/* Free a name unless it is an alias of a state's own name. */
static void free_target(const cf_wf *wf, char *name)
{
    if (name == NULL)
        return;
    const cf_wf_state *st = cf_wf_find_state(wf, name);
    if (st == NULL || st->name != name)
        free(name);
}

static void free_transition(const cf_wf *wf, cf_wf_transition *t)
{
    free(t->event);
    free_target(wf, t->target);
    for (size_t k = 0; k < t->ntargets; k++)
        free_target(wf, t->targets[k]);
    free(t->targets);
    free_strings(t->roles, t->nroles);
    free_strings(t->manual, t->nmanual);
    free(t->four_eyes);
    wf_free_fields(t);
}

void cf_wf_free(cf_wf *wf)
{
    if (wf == NULL)
        return;
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        for (size_t j = 0; j < st->non; j++)
            free_transition(wf, &st->on[j]);
        free(st->on);
    }
    /* Names last: free_target compares pointers with them. */
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        free(st->name);
        free(st->step);
        json_decref(st->config);
        free_strings(st->roles, st->nroles);
        free(st->timer_event);
    }
    free(wf->states);
    wf_sandbox_close(wf->lua);
    free(wf->name);
    free(wf->initial);
    json_decref(wf->config);
    json_decref(wf->bundle);
    free(wf);
}

cf_wf_state *cf_wf_find_state(const cf_wf *wf, const char *name)
{
    if (wf == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < wf->nstates; i++)
        if (wf->states[i].name && strcmp(wf->states[i].name, name) == 0)
            return &wf->states[i];
    return NULL;
}

const cf_wf_transition *cf_wf_find_transition(const cf_wf_state *st,
                                              const char *event)
{
    if (st == NULL || event == NULL)
        return NULL;
    for (size_t i = 0; i < st->non; i++)
        if (strcmp(st->on[i].event, event) == 0)
            return &st->on[i];
    return NULL;
}

