/*
 * Calls into a loaded workflow. After loading, everything the script can
 * reach is frozen (tables behind read-only proxies, upvalues recorded and
 * put back after each call) so that a transition function sees the same
 * world on every call; cf_wf_resolve calls one transition function on a
 * case and checks what it returned.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

#define WF_FREEZE_DEPTH 200

static const char KEY_SNAP = 'u'; /* upvalue snapshot */
static const char KEY_NIL = 'n';  /* sentinel: nil in the snapshot */

/* ---- freezing ------------------------------------------------------------- */

/* Frozen tables: an empty proxy whose metatable reads through to the
 * original and refuses writes, hides the original and iterates it without
 * handing it out. */
static int ro_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to modify a read-only table (key '%s')",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2)
                                                    : luaL_typename(L, 2));
}

/* The original behind proxy idx, or 0 when idx is not one of ours. */
static int ro_original(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return 0;
    lua_getfield(L, -1, "__newindex");
    bool ours = lua_tocfunction(L, -1) == ro_newindex;
    lua_pop(L, 1);
    if (!ours) {
        lua_pop(L, 1);
        return 0;
    }
    lua_getfield(L, -1, "__index");
    lua_remove(L, -2);
    return lua_gettop(L);
}

static int ro_len(lua_State *L)
{
    int o = ro_original(L, 1);
    if (o == 0)
        return luaL_error(L, "not a read-only table");
    lua_pushinteger(L, luaL_len(L, o));
    return 1;
}

static int ro_next(lua_State *L)
{
    int o = ro_original(L, 1);
    if (o == 0)
        return luaL_error(L, "not a read-only table");
    lua_pushvalue(L, 2);
    if (lua_next(L, o) == 0)
        return 0;
    return 2;
}

static int ro_pairs(lua_State *L)
{
    lua_pushcfunction(L, ro_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static void freeze(lua_State *L, int memo, int funcs, int depth);

/* Freeze the contents of table idx in place (values and keys). */
static void freeze_contents(lua_State *L, int idx, int memo, int funcs,
                            int depth)
{
    luaL_checkstack(L, 8, "freeze");
    lua_newtable(L); /* table keys to re-insert as proxies */
    int keys = lua_gettop(L);
    lua_Integer nkeys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int vt = lua_type(L, -1);
        if (vt == LUA_TTABLE || vt == LUA_TFUNCTION) {
            lua_pushvalue(L, -1);
            freeze(L, memo, funcs, depth + 1);
            if (!lua_rawequal(L, -1, -2)) {
                lua_pushvalue(L, -3);
                lua_insert(L, -2);
                lua_rawset(L, idx); /* an existing key: next stays valid */
            } else {
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TTABLE || lua_type(L, -1) == LUA_TFUNCTION) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, keys, ++nkeys);
        }
    }
    for (lua_Integer i = 1; i <= nkeys; i++) {
        lua_rawgeti(L, keys, i);
        lua_pushvalue(L, -1);
        freeze(L, memo, funcs, depth + 1);
        if (!lua_rawequal(L, -1, -2)) {
            lua_pushvalue(L, -2);
            lua_rawget(L, idx);  /* k pk v */
            lua_pushvalue(L, -3);
            lua_pushnil(L);
            lua_rawset(L, idx);
            lua_rawset(L, idx);  /* t[pk] = v */
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/*
 * Replace the value on top by its frozen form: a table by a read-only proxy
 * (its contents frozen in place first), a Lua function stays itself with
 * its upvalues frozen. memo maps originals to proxies (and proxies to
 * themselves), so shared and cyclic structures freeze once.
 */
static void freeze(lua_State *L, int memo, int funcs, int depth)
{
    int v = lua_gettop(L);
    int type = lua_type(L, v);
    if (type != LUA_TTABLE && type != LUA_TFUNCTION)
        return;
    if (depth > WF_FREEZE_DEPTH)
        luaL_error(L, "workflow data nested too deeply");
    luaL_checkstack(L, 8, "freeze");
    lua_pushvalue(L, v);
    if (lua_rawget(L, memo) != LUA_TNIL) {
        lua_replace(L, v);
        return;
    }
    lua_pop(L, 1);
    if (type == LUA_TFUNCTION) {
        lua_pushvalue(L, v);
        lua_pushvalue(L, v);
        lua_rawset(L, memo);
        if (lua_iscfunction(L, v))
            return;
        lua_pushvalue(L, v);
        lua_rawseti(L, funcs, (lua_Integer)lua_rawlen(L, funcs) + 1);
        for (int i = 1; lua_getupvalue(L, v, i) != NULL; i++) {
            lua_pushvalue(L, -1);
            freeze(L, memo, funcs, depth + 1);
            if (!lua_rawequal(L, -1, -2))
                lua_setupvalue(L, v, i);
            else
                lua_pop(L, 1);
            lua_pop(L, 1);
        }
        return;
    }
    lua_newtable(L); /* the proxy */
    int p = lua_gettop(L);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, v);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, p);
    lua_pushvalue(L, v);
    lua_pushvalue(L, p);
    lua_rawset(L, memo);
    lua_pushvalue(L, p);
    lua_pushvalue(L, p);
    lua_rawset(L, memo);
    freeze_contents(L, v, memo, funcs, depth);
    /* Metatables stay real tables (metamethods are read raw) but their
     * contents freeze too. */
    if (lua_getmetatable(L, v)) {
        int mt = lua_gettop(L);
        lua_pushvalue(L, mt);
        if (lua_rawget(L, memo) == LUA_TNIL) {
            lua_pushvalue(L, mt);
            lua_pushvalue(L, mt);
            lua_rawset(L, memo);
            freeze_contents(L, mt, memo, funcs, depth + 1);
        }
        lua_settop(L, p);
    }
    lua_replace(L, v);
}

/* Record every upvalue of every reachable Lua function (once per shared
 * cell): scalars cannot be frozen, so they are put back after each call. */
static void snapshot(lua_State *L, int funcs)
{
    wf_ctx *c = wf_ctx_of(L);
    lua_newtable(L);
    int seen = lua_gettop(L);
    lua_newtable(L);
    int snap = lua_gettop(L);
    size_t nf = lua_rawlen(L, funcs), cap = 0;
    lua_Integer slot = 0;
    for (size_t f = 1; f <= nf; f++) {
        lua_rawgeti(L, funcs, (lua_Integer)f);
        int fi = lua_gettop(L);
        for (int i = 1; lua_getupvalue(L, fi, i) != NULL; i++) {
            lua_pushlightuserdata(L, lua_upvalueid(L, fi, i));
            if (lua_rawget(L, seen) != LUA_TNIL) {
                lua_pop(L, 2);
                continue;
            }
            lua_pop(L, 1);
            lua_pushlightuserdata(L, lua_upvalueid(L, fi, i));
            lua_pushboolean(L, 1);
            lua_rawset(L, seen);
            if (c->nsnap == cap) {
                cap = cap ? cap * 2 : 16;
                int *up = realloc(c->snap_up, cap * sizeof *up);
                if (up == NULL)
                    wf_oom(L);
                c->snap_up = up;
            }
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushlightuserdata(L, (void *)&KEY_NIL);
            }
            lua_pushvalue(L, fi);
            lua_rawseti(L, snap, ++slot);
            lua_rawseti(L, snap, ++slot);
            c->snap_up[c->nsnap++] = i;
        }
        lua_settop(L, fi - 1);
    }
    lua_pushvalue(L, snap);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_SNAP);
    lua_settop(L, seen - 1);
}

static int restore_body(lua_State *L)
{
    wf_ctx *c = wf_ctx_of(L);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SNAP) != LUA_TTABLE)
        return 0;
    int snap = lua_gettop(L);
    for (size_t j = 0; j < c->nsnap; j++) {
        lua_rawgeti(L, snap, (lua_Integer)(2 * j + 1));
        int f = lua_gettop(L);
        if (lua_getupvalue(L, f, c->snap_up[j]) == NULL) {
            lua_settop(L, f - 1);
            continue;
        }
        lua_rawgeti(L, snap, (lua_Integer)(2 * j + 2));
        if (lua_touserdata(L, -1) == (void *)&KEY_NIL) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        if (!lua_rawequal(L, -1, -2))
            lua_setupvalue(L, f, c->snap_up[j]);
        lua_settop(L, f - 1);
    }
    return 0;
}

int wf_freeze_body(lua_State *L)
{
    wf_ctx *c = wf_ctx_of(L);
    lua_newtable(L);
    int memo = lua_gettop(L);
    lua_newtable(L);
    int funcs = lua_gettop(L);
    lua_pushglobaltable(L);
    freeze(L, memo, funcs, 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &wf_key_env);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_loaded);
    freeze_contents(L, lua_gettop(L), memo, funcs, 0);
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_workflow);
    freeze(L, memo, funcs, 0);
    lua_pop(L, 1);
    /* The transition functions are reachable from the workflow table, but
     * a script could have swapped that table's contents behind metatables:
     * freeze what the registry refs hold too. */
    for (size_t i = 0; i < c->wf->nstates; i++)
        for (size_t j = 0; j < c->wf->states[i].non; j++) {
            int ref = c->wf->states[i].on[j].fnref;
            if (ref == LUA_NOREF)
                continue;
            lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
            freeze(L, memo, funcs, 0);
            lua_pop(L, 1);
        }
    snapshot(L, funcs);
    c->frozen = true;
    return 0;
}

/* ---- resolve ---------------------------------------------------------------- */

enum { RES_NIL, RES_STATE, RES_UNDEFINED, RES_BADTYPE };

typedef struct resolve_args {
    const cf_wf_transition *t;
    const json_t *case_doc, *event_doc;
    int kind;
    size_t state;       /* RES_STATE: index */
    char got[64];       /* RES_UNDEFINED: the name; RES_BADTYPE: the type */
} resolve_args;

static int resolve_body(lua_State *L)
{
    resolve_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->t->fnref);
    if (a->case_doc)
        wf_view_push(L, a->case_doc, "case");
    else
        lua_pushnil(L);
    if (a->event_doc)
        wf_view_push(L, a->event_doc, "event");
    else
        lua_pushnil(L);
    lua_call(L, 2, 1);
    int type = lua_type(L, -1);
    if (type == LUA_TNIL) {
        a->kind = RES_NIL;
    } else if (type == LUA_TSTRING) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_states);
        lua_pushvalue(L, -2);
        lua_Integer i = lua_tointeger(L, (lua_rawget(L, -2), -1));
        if (i > 0) {
            a->kind = RES_STATE;
            a->state = (size_t)i - 1;
        } else {
            a->kind = RES_UNDEFINED;
            snprintf(a->got, sizeof a->got, "%s", lua_tostring(L, -3));
        }
    } else {
        a->kind = RES_BADTYPE;
        snprintf(a->got, sizeof a->got, "%s", lua_typename(L, type));
    }
    return 0;
}

/* The state that owns transition t (for messages). */
static const char *owner_of(const cf_wf *wf, const cf_wf_transition *t)
{
    for (size_t i = 0; i < wf->nstates; i++)
        if (t >= wf->states[i].on && t < wf->states[i].on + wf->states[i].non)
            return wf->states[i].name;
    return "?";
}

/* "file:line" of the function of t, for messages. */
void wf_function_where(lua_State *L, const cf_wf_transition *t,
                       char *out, size_t size)
{
    lua_Debug ar;
    out[0] = '\0';
    if (!lua_checkstack(L, 1))
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->fnref);
    if (lua_type(L, -1) == LUA_TFUNCTION && lua_getinfo(L, ">S", &ar))
        snprintf(out, size, "%s:%d", ar.short_src, ar.linedefined);
    else
        lua_pop(L, 1);
}

/* What the call is, for budget messages and the watchdog. */
static wf_label call_label(const cf_wf *wf, const cf_wf_transition *t,
                           const json_t *case_doc)
{
    int64_t v = wf->version > 0 ? wf->version : wf->declared_version;
    return (wf_label){
        .workflow = wf->name,
        .version = v > 0 ? (long long)v : 1,
        .state = owner_of(wf, t),
        .case_id = json_string_value(json_object_get(case_doc, "id")),
    };
}

/* Call the function of t, then put back what the call changed. */
static int call_transition(cf_wf *wf, const cf_wf_transition *t,
                           resolve_args *a, int64_t now,
                           const cf_wf_limits *lim, cf_error *err)
{
    lua_State *L = wf->lua;
    wf_ctx *c = wf_ctx_of(L);
    json_incref((json_t *)a->case_doc);
    json_incref((json_t *)a->event_doc);
    wf_set_limits(L, lim);
    c->label = call_label(wf, t, a->case_doc);
    c->in_call = true;
    c->now = now;
    int rc = wf_protected(L, resolve_body, a, CF_ESCRIPT, err);
    c->in_call = false;
    c->label = (wf_label){0}; /* the case id goes with case_doc */
    c->gen++;
    json_decref((json_t *)a->case_doc);
    json_decref((json_t *)a->event_doc);
    /* Restoring runs no script code, and must run even past the
     * deadline. */
    wf_clear_limits(L);
    if (wf_protected(L, restore_body, NULL, CF_EINTERNAL, NULL) != 0)
        c->broken = true;
    return rc;
}

/* What the function returned, checked against the states and t's
 * targets. */
static int check_result(cf_wf *wf, const cf_wf_transition *t,
                        const resolve_args *a, const char **target,
                        cf_error *err)
{
    lua_State *L = wf->lua;
    char where[200];
    switch (a->kind) {
    case RES_NIL:
        return 0;
    case RES_STATE:
        break;
    case RES_UNDEFINED:
        wf_function_where(L, t, where, sizeof where);
        return cf_err_set(err, CF_EINVALID, t->event,
                          "%s: state '%s': transition '%s' returned undefined "
                          "state '%s'", where, owner_of(wf, t), t->event, a->got);
    default:
        wf_function_where(L, t, where, sizeof where);
        return cf_err_set(err, CF_EINVALID, t->event,
                          "%s: state '%s': transition '%s' returned a %s, not "
                          "a state name or nil", where, owner_of(wf, t),
                          t->event, a->got);
    }
    const char *name = wf->states[a->state].name;
    if (t->ntargets > 0) {
        bool in = false;
        for (size_t k = 0; k < t->ntargets && !in; k++)
            in = t->targets[k] == name || strcmp(t->targets[k], name) == 0;
        if (!in) {
            wf_function_where(L, t, where, sizeof where);
            return cf_err_set(err, CF_EINVALID, t->event,
                              "%s: state '%s': transition '%s' returned '%s', "
                              "which is not among its targets", where,
                              owner_of(wf, t), t->event, name);
        }
    }
    *target = name;
    return 0;
}

int cf_wf_resolve_limited(cf_wf *wf, const cf_wf_transition *t,
                          const json_t *case_doc, const json_t *event_doc,
                          int64_t now, const cf_wf_limits *lim,
                          const char **target, cf_error *err)
{
    if (target == NULL || wf == NULL || t == NULL)
        return cf_err_set(err, CF_EINVALID, NULL, "resolve: missing argument");
    *target = NULL;
    if (t->fnref == LUA_NOREF) {
        *target = t->target;
        return 0;
    }
    if (wf_ctx_of(wf->lua)->broken)
        return cf_err_set(err, CF_ESCRIPT, NULL,
                          "workflow %s: its Lua state is unusable after an "
                          "earlier failure", wf->name);
    resolve_args a = {.t = t, .case_doc = case_doc, .event_doc = event_doc};
    int rc = call_transition(wf, t, &a, now, lim, err);
    if (rc != 0)
        return rc;
    return check_result(wf, t, &a, target, err);
}

const char *cf_wf_error_trace(const cf_wf *wf)
{
    return wf && wf->lua ? wf_ctx_of(wf->lua)->trace : NULL;
}

int cf_wf_resolve(cf_wf *wf, const cf_wf_transition *t, const json_t *case_doc,
                  const json_t *event_doc, int64_t now, const char **target,
                  cf_error *err)
{
    return cf_wf_resolve_limited(wf, t, case_doc, event_doc, now, NULL,
                                 target, err);
}
