/*
 * JSON and Lua: workflow config tables become JSON (plain data only, read
 * without running script code), and a transition function sees the case and
 * event documents as read-only views that read the JSON in place and refuse
 * use after their call.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "wf.h"

#define WF_JSON_DEPTH 32

static const char KEY_VIEW_MT = 'v'; /* metatable of case/event views */

/* Text we store in a bundle: valid UTF-8 (jansson checks) without NUL. */
json_t *wf_text_json(const char *buf, size_t len)
{
    if (memchr(buf, '\0', len) != NULL)
        return NULL;
    return json_stringn(buf, len);
}

/* ---- Lua values to JSON --------------------------------------------------- */

/* Is the table at idx a sequence 1..n (n > 0)? */
static bool is_array(lua_State *L, int idx, size_t *n)
{
    size_t count = 0;
    lua_Integer max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        count++;
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return false;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1) {
            lua_pop(L, 1);
            return false;
        }
        if (k > max)
            max = k;
    }
    *n = count;
    return count > 0 && (lua_Integer)count == max;
}

static json_t *table_to_json(lua_State *L, int idx, int depth,
                             const char *path, int line)
{
    char sub[256];
    size_t n;
    if (depth > WF_JSON_DEPTH) {
        wf_problem(L, "structure", line, path, "%s: nested too deeply", path);
        return NULL;
    }
    luaL_checkstack(L, 4, "config");
    if (is_array(L, idx, &n)) {
        json_t *a = json_array();
        for (size_t i = 1; a && i <= n; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            lua_rawgeti(L, idx, (lua_Integer)i);
            json_t *v = wf_to_json(L, lua_gettop(L), depth + 1, sub, line);
            lua_pop(L, 1);
            if (v == NULL || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    lua_pushnil(L);
    while (o && lua_next(L, idx) != 0) {
        char key[128];
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t kl;
            const char *k = lua_tolstring(L, -2, &kl);
            if (kl >= sizeof key || strlen(k) != kl) {
                lua_pop(L, 2);
                wf_problem(L, "structure", line, path, "%s: bad key", path);
                json_decref(o);
                return NULL;
            }
            memcpy(key, k, kl + 1);
        } else if (lua_isinteger(L, -2)) {
            snprintf(key, sizeof key, "%lld", (long long)lua_tointeger(L, -2));
        } else {
            lua_pop(L, 2);
            wf_problem(L, "structure", line, path,
                    "%s: keys must be strings or integers", path);
            json_decref(o);
            return NULL;
        }
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        json_t *v = wf_to_json(L, lua_gettop(L), depth + 1, sub, line);
        lua_pop(L, 1);
        if (v == NULL || json_object_set_new(o, key, v) != 0) {
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/*
 * Plain data only. Returns a new reference or NULL after recording a
 * problem. The JSON under construction is only reachable from C locals, so
 * nothing here may raise: no metamethods, no string conversion of numbers.
 * (luaL_checkstack can raise on OOM; that leaks a partial config, which only
 * happens when the process is out of memory anyway.)
 */
json_t *wf_to_json(lua_State *L, int idx, int depth, const char *path,
                   int line)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            wf_problem(L, "structure", line, path, "%s: not a finite number",
                    path);
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *v = wf_text_json(s, len);
        if (v == NULL)
            wf_problem(L, "structure", line, path, "%s: not valid UTF-8 text",
                    path);
        return v;
    }
    case LUA_TTABLE:
        return table_to_json(L, idx, depth, path, line);
    default:
        wf_problem(L, "structure", line, path, "%s: a %s is not plain data",
                path, luaL_typename(L, idx));
        return NULL;
    }
}

/* ---- read-only views of case and event documents ----------------------- */

typedef struct wf_view {
    const json_t *j;
    unsigned gen;
    const char *what; /* "case" or "event" */
} wf_view;

static wf_view *view_check(lua_State *L, int idx)
{
    wf_view *v = lua_touserdata(L, idx);
    if (v == NULL || !lua_getmetatable(L, idx))
        luaL_error(L, "not a case or event view");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_VIEW_MT);
    bool ours = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!ours)
        luaL_error(L, "not a case or event view");
    /* A view that escaped its call points into a document that may be
     * gone: refuse it, like a closed file in liolib. */
    if (v->gen != wf_ctx_of(L)->gen)
        luaL_error(L, "%s view used outside its call", v->what);
    return v;
}

void wf_view_push(lua_State *L, const json_t *j, const char *what)
{
    wf_view *v = lua_newuserdatauv(L, sizeof *v, 0);
    v->j = j;
    v->gen = wf_ctx_of(L)->gen;
    v->what = what;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_VIEW_MT);
    lua_setmetatable(L, -2);
}

static void json_push(lua_State *L, const json_t *j, const char *what)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_OBJECT:
    case JSON_ARRAY:
        wf_view_push(L, j, what);
        break;
    default:
        lua_pushnil(L);
    }
}

/* Array index from a Lua key: 1-based integer (or integral float). */
static bool view_index(lua_State *L, int idx, size_t n, size_t *out)
{
    int isint;
    lua_Integer k = lua_tointegerx(L, idx, &isint);
    if (!isint || k < 1 || (lua_Unsigned)k > n)
        return false;
    *out = (size_t)(k - 1);
    return true;
}

/* Looking a key up hashes it in C: a script can make keys long. */
static void charge_key(lua_State *L, size_t len)
{
    if (len > WF_NAME_MAX)
        wf_charge(L, len / WF_SCAN_BYTES);
}

static int view_get(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    const json_t *r = NULL;
    if (json_is_object(v->j) && lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        const char *k = lua_tolstring(L, 2, &len);
        charge_key(L, len);
        if (strlen(k) == len)
            r = json_object_get(v->j, k);
    } else if (json_is_array(v->j)) {
        size_t i;
        if (view_index(L, 2, json_array_size(v->j), &i))
            r = json_array_get(v->j, i);
    }
    if (r == NULL)
        lua_pushnil(L);
    else
        json_push(L, r, v->what);
    return 1;
}

static int view_set(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    return luaL_error(L, "%s is read-only", v->what);
}

static int view_len(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    lua_pushinteger(L, json_is_array(v->j)
                           ? (lua_Integer)json_array_size(v->j) : 0);
    return 1;
}

/* Stateless iterator: the next key after arg 2 (jansson keeps insertion
 * order, so the order is the document's). */
static int view_next(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    if (json_is_array(v->j)) {
        size_t n = json_array_size(v->j), i = 0;
        if (!lua_isnil(L, 2)) {
            if (!view_index(L, 2, n, &i))
                return luaL_error(L, "invalid key to 'next'");
            i++;
        }
        if (i >= n)
            return 0;
        lua_pushinteger(L, (lua_Integer)i + 1);
        json_push(L, json_array_get(v->j, i), v->what);
        return 2;
    }
    if (!json_is_object(v->j))
        return 0;
    json_t *o = (json_t *)v->j;
    void *it;
    if (lua_isnil(L, 2)) {
        it = json_object_iter(o);
    } else {
        size_t len = 0;
        const char *k = lua_tolstring(L, 2, &len);
        charge_key(L, len);
        it = k ? json_object_iter_at(o, k) : NULL;
        if (it == NULL)
            return luaL_error(L, "invalid key to 'next'");
        it = json_object_iter_next(o, it);
    }
    if (it == NULL)
        return 0;
    lua_pushstring(L, json_object_iter_key(it));
    json_push(L, json_object_iter_value(it), v->what);
    return 2;
}

static int view_pairs(lua_State *L)
{
    view_check(L, 1);
    lua_pushcfunction(L, view_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int view_eq(lua_State *L)
{
    wf_view *a = lua_touserdata(L, 1), *b = lua_touserdata(L, 2);
    lua_pushboolean(L, a && b && view_check(L, 1) && view_check(L, 2) &&
                           a->j == b->j);
    return 1;
}

static int view_tostring(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    lua_pushfstring(L, "%s view", v->what);
    return 1;
}

void wf_view_metatable(lua_State *L)
{
    static const luaL_Reg mt[] = {
        {"__index", view_get},     {"__newindex", view_set},
        {"__len", view_len},       {"__pairs", view_pairs},
        {"__eq", view_eq},         {"__tostring", view_tostring},
        {NULL, NULL}};
    lua_createtable(L, 0, 7);
    luaL_setfuncs(L, mt, 0);
    lua_pushliteral(L, "read-only view");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_VIEW_MT);
}

